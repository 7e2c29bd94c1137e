"""The command line: train on an example, write model and plot, refuse bad configs clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantkan.cli import main
from quantkan.config import load_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_train_default_example_writes_model_and_plot(tmp_path, capsys):
    model_path, plot_path = tmp_path / "new" / "m.qkan", tmp_path / "other" / "curve.png"
    code = main(["train", str(EXAMPLES / "drift_kan.toml"), "--n", "600", "--quiet",
                 "-o", str(model_path), "--plot", str(plot_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "fixed mse" in out and "float mse" in out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1", "2"]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from quantkan.persist import load
    model = load(model_path)
    assert model.layers == [1, 1]


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_every_example_loads_and_runs(example, capsys):
    assert main(["train", str(EXAMPLES / example), "--n", "200", "--quiet", "--no-twin"]) == 0
    assert "fixed" in capsys.readouterr().out


def test_command_line_overrides(capsys):
    assert main(["train", "--task", "qubit", "--kind", "mlp", "--bits", "10", "--n", "300", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "MLP(layers=[2, 8, 1], weight=ap_fixed<10,2" in out and "accuracy" in out


@pytest.mark.parametrize("bits,frozen", [(6, True), (16, False)])
def test_train_reports_a_frozen_learner(bits, frozen, tmp_path, capsys):
    """The issue's case: a 6-bit qubit KAN with the update type's rounding never learns; 16 bits does."""
    import json

    out_path = tmp_path / "m.qkan"
    assert main(["train", str(EXAMPLES / "qubit_kan.toml"), "--bits", str(bits), "--rounding", "type", "--n", "3000",
                 "--quiet", "--no-twin", "-o", str(out_path)]) == 0
    captured = capsys.readouterr()
    assert "diagnostics per layer" in captured.out and "\nl1 " in captured.out
    assert ("layer 1 is frozen" in captured.err) == frozen
    record = json.loads(out_path.with_suffix(".json").read_text())["results"]
    layers = record["diagnostics"]["layers"]
    assert [entry["frozen"] for entry in layers] == [frozen, frozen]
    assert (record["warnings"] != []) == frozen
    assert record["diagnostics"]["hardware"]["learned"] == 3000
    if not frozen:
        assert all(0.0 < entry["zero_fraction"] < 0.9 for entry in layers)


def test_training_is_reproducible(capsys):
    args = ["train", str(EXAMPLES / "drift_kan.toml"), "--n", "300", "--quiet", "--no-twin"]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("text,message", [
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\ngrid = [1.0, -1.0, 8]\n", "hi must be greater than lo|hi"),
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\norder = 7\n", "spline order must be in 1..5"),
    ("[model]\nkind = 'cnn'\nlayers = [1, 1]\n", "model kind must be 'kan' or 'mlp'"),
    ("[model]\nkind = 'kan'\nlayers = [1, 0]\n", "layer sizes must be integers >= 1"),
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\nwidth = 3\n", "unknown kan model settings \\['width'\\]"),
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\n[model.types]\ncoef = 'ap_fixed<16>'\n", "type 'coef'"),
    ("[model]\nkind = 'mlp'\nlayers = [1, 4, 1]\n[learning]\nmomentum = 0.9\n", "unknown \\[learning\\] settings"),
    ("[model]\nkind = 'mlp'\nlayers = [1, 4, 1]\n[task]\nname = 'cartpole'\n", "unknown task 'cartpole'"),
    ("[model]\nkind = 'mlp'\nlayers = [2, 4, 1]\n", "has 1 inputs and 1 outputs"),
    ("[model\nkind = 'mlp'\n", "is not valid TOML"),
    ("[learning]\nlr = 0.1\n", "missing the \\[model\\] section"),
    # issue 16: these named numpy internals or a Python function before
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\ninit_scale = -1\n", "init_scale must be a positive number, got -1"),
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\n[learning]\nseed = -1\n", "seed must be an integer >= 0, got -1"),
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\n[learning]\nseed = 1.5\n", "seed must be an integer >= 0, got 1.5"),
    ("[model]\nkind = 'kan'\nlayers = [1, 3, 1]\n[learning]\nlr = [0.125]\n",
     "learning rate must be one number or one per layer \\(2\\), got 1 values"),
    ("[model]\nkind = 'kan'\nlayers = [1, 3, 1]\n[learning]\nlr = [0.125, 2.0]\n",
     "learning rate of layer 1 must be a number in \\(0, 1\\), got 2.0"),
    ("[model]\nkind = 'kan'\nlayers = [1, 1]\n[task]\nfoo = 1\n",
     "unknown settings \\['foo'\\] for task 'drift'; known: n, regimes, seed, noise"),
])
def test_bad_configs_fail_with_a_clear_message(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["train", str(path), "--n", "50", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("quantkan: error:")
    assert __import__("re").search(message, err), err


def test_missing_config_file(capsys):
    assert main(["train", "no/such/file.toml"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_quantize_command(capsys):
    assert main(["quantize", "ap_fixed<8,3,AP_RND_CONV,AP_SAT>", "0.1", "-5"]) == 0
    out = capsys.readouterr().out
    assert "raw            3" in out and "raw         -128" in out
    assert main(["quantize", "ap_fixed<8,3>", "nan"]) == 2


def test_example_configs_are_valid():
    for path in EXAMPLES.glob("*.toml"):
        config = load_config(path)
        assert config["model"]["kind"] in ("kan", "mlp")
        assert np.isfinite(config["learning"]["lr"])


def test_per_layer_learning_rates_from_the_command_line_and_the_config(tmp_path, capsys):
    """``--lr a,b`` and ``lr = [a, b]`` give each layer its rate; both run the same learner."""
    out = tmp_path / "m.qkan"
    assert main(["train", "--task", "drift2d", "--n", "300", "--quiet", "--no-twin", "--lr", "0.03125,0.125",
                 "-o", str(out)]) == 0
    import json
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["learning"]["lr"] == [0.03125, 0.125]
    from quantkan.persist import load_metadata
    assert load_metadata(out)["lr"] == [0.03125, 0.125]

    def table(out: str) -> list[str]:
        return [line for line in out.splitlines() if line[:1].isdigit()]

    first = table(capsys.readouterr().out)
    config = tmp_path / "c.toml"
    config.write_text("[model]\nkind = 'kan'\nlayers = [2, 5, 1]\ngrid = [-1.0, 1.0, 8]\n"
                      "[learning]\nlr = [0.03125, 0.125]\n[task]\nname = 'drift2d'\n")
    assert main(["train", str(config), "--n", "300", "--quiet", "--no-twin"]) == 0
    assert table(capsys.readouterr().out) == first and len(first) == 3
    assert main(["train", "--task", "drift2d", "--n", "50", "--quiet", "--lr", "0.1,0.1,0.1"]) == 2
    assert "one per layer (2), got 3 values" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--n", "50", "--lr", "0.1,x"])
    assert "expected a number or comma-separated numbers, got '0.1,x'" in capsys.readouterr().err
