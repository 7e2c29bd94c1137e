"""quantkan export hls4ml / quantkan import, and the lazy, explained TensorFlow dependency."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from qkeras_models import TUTORIAL_TYPES, tutorial_style
from quantkan import persist
from quantkan.cli import main
from quantkan.keras import from_qkeras, from_quantkan
from quantkan.keras.hls4ml_convert import golden_predict_raw
from quantkan.models import KAN


@pytest.mark.parametrize("example", ["drift_kan", "drift_mlp"])
def test_export_hls4ml_writes_a_bit_exact_project(example, tmp_path, capsys, hls4ml_count):
    trained = tmp_path / "model.qkan"
    assert main(["train", f"examples/{example}.toml", "--n", "600", "--out", str(trained),
                 "--no-twin", "--quiet"]) == 0
    out = tmp_path / "prj"
    assert main(["export", "hls4ml", f"examples/{example}.toml", "-o", str(out), "--model", str(trained),
                 "--check", "1500"]) == 0
    text = capsys.readouterr().out
    assert "1500 of 1500 task inputs bit-identical" in text
    hls4ml_count("KAN" if "kan" in example else "MLP", 1500)
    assert (out / "build_prj.tcl").is_file() and (out / "firmware" / "quantkan_hls4ml.cpp").is_file()
    if "kan" in example:  # (once registered, hls4ml copies the extension's sources into every project)
        assert (out / "firmware" / "nnet_utils" / "nnet_quantkan_kan.h").is_file()


def test_import_qkeras_and_keras_kan(tmp_path, capsys):
    qmodel = tutorial_style()
    qmodel.save(tmp_path / "mlp.h5")
    type_args = [a for name, t in TUTORIAL_TYPES.items() for a in ("--type", f"{name}={t}")]
    assert main(["import", str(tmp_path / "mlp.h5"), "-o", str(tmp_path / "mlp.qkan"), *type_args]) == 0
    mlp, want = persist.load(tmp_path / "mlp.qkan"), from_qkeras(qmodel, types=TUTORIAL_TYPES)
    x = want.types.input.quantize(np.random.default_rng(0).uniform(-2, 2, (300, 4)))
    assert np.array_equal(golden_predict_raw(mlp, x), golden_predict_raw(want, x))

    kan = KAN([2, 3, 1], seed=4)
    from_quantkan(kan).save(tmp_path / "kan.keras")
    assert main(["import", str(tmp_path / "kan.keras"), "-o", str(tmp_path / "kan.qkan")]) == 0
    assert all(np.array_equal(a, b) for a, b in zip(persist.load(tmp_path / "kan.qkan").coefficients,
                                                     kan.coefficients))

    assert main(["import", str(tmp_path / "mlp.h5"), "-o", str(tmp_path / "x.qkan")]) == 2
    assert "does not quantize its input" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "none.h5"), "-o", str(tmp_path / "x.qkan")]) == 2
    assert "cannot load Keras model" in capsys.readouterr().err


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)


def test_import_quantkan_never_imports_tensorflow():
    done = _python("""
        import sys
        import quantkan, quantkan.keras, quantkan.keras.commands, quantkan.cli
        quantkan.cli.build_parser()
        print(sorted(m for m in ("tensorflow", "qkeras", "hls4ml", "keras") if m in sys.modules))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_missing_tensorflow_names_the_extra():
    done = _python("""
        import sys
        sys.modules["tensorflow"] = None  # as if it were not installed
        import quantkan.keras
        try:
            quantkan.keras.KANLayer
        except ImportError as err:
            print("ImportError:", err)
        from quantkan.cli import main
        print("rc", main(["export", "hls4ml", "examples/drift_kan.toml", "-o", "unused"]))
    """)
    assert "ImportError: quantkan.keras needs tensorflow" in done.stdout
    assert "pip install 'quantkan[keras]'" in done.stdout and "make venv-keras" in done.stdout
    assert "rc 2" in done.stdout and "pip install 'quantkan[keras]'" in done.stderr
