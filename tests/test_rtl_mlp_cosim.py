"""The MLP learner's exported Verilog in cocotb against the golden model, and `quantkan sim` on it.

The KAN's scoreboard and testbench (:mod:`quantkan.rtl.verify`, ``sim/tb_learner.py``): every
output and, at checkpoints, every weight and bias read back through the parameter port.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from quantkan.cli import main
from quantkan.rtl import pipeline
from quantkan.rtl.commands import load_model
from quantkan.rtl.cosim import _tool_path
from quantkan.rtl.export import export_verilog
from test_cosim import EXAMPLES, cosim_score, needs_icarus, needs_verilator
from test_rtl_mlp import _mutant, _random_mlp, mlp_281


@needs_verilator
def test_verilog_lints_with_only_width_warnings_waived(tmp_path):
    path = export_verilog(mlp_281(), tmp_path)
    exe = _tool_path("verilator") / "verilator"
    done = subprocess.run([str(exe), "--lint-only", "-Wno-WIDTH", str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and "%Warning" not in done.stderr and "%Error" not in done.stderr, done.stderr


@needs_verilator
def test_verilator_bit_exact_on_the_default_shape(tmp_path):
    r = cosim_score(tmp_path, mlp_281(), "verilator", "pipelined", n=1500, gaps=True)
    assert r.ok, r
    assert r.changed > 0 and r.coefficients_compared == 3 * (16 + 8 + 8 + 1)
    assert r.counters_compared == 3 * (2 + 5 * 2) and r.counters_nonzero > 0  # the diagnostics counters


@needs_icarus
@pytest.mark.parametrize("seed", [1, 2])
def test_icarus_random_configurations(tmp_path, seed):
    """Random shapes, widths and modes through the Verilog, as the amaranth.sim tests do."""
    make, lr, rounding = _random_mlp(np.random.default_rng(900 + seed))
    r = cosim_score(tmp_path, make(), "icarus", "pipelined", n=300, gaps=True, rounding=rounding, lr=lr)
    assert r.ok and r.counters_compared > 0, (make(), lr, rounding, r)


@needs_icarus
def test_quantkan_sim_fails_when_an_mlp_cast_is_broken(tmp_path, monkeypatch, capsys):
    """quantkan sim on examples/qubit_mlp.toml passes; with the hidden activations' cast
    truncating instead of rounding it reports mismatches and exits 1."""
    args = ["sim", str(EXAMPLES / "qubit_mlp.toml"), "--n", "300", "--schedule", "pipelined",
            "--simulator", "icarus", "--quiet", "-o", str(tmp_path / "out")]
    assert main(args) == 0, capsys.readouterr().out  # the same run passes with the generator intact
    capsys.readouterr()
    hidden = load_model(str(EXAMPLES / "qubit_mlp.toml"), None)[0].types.activation
    monkeypatch.setattr(pipeline, "cast_expr", _mutant(pipeline.cast_expr, lambda dst: dst == hidden))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "<-- FAIL" in out and out.splitlines()[-1].startswith("FAIL"), out


@pytest.mark.slow
@needs_verilator
def test_quantkan_sim_ten_thousand_samples_every_simulator(tmp_path, capsys):
    assert main(["sim", str(EXAMPLES / "qubit_mlp.toml"), "--n", "10000", "--quiet", "-o", str(tmp_path)]) == 0
    assert "PASS: 0 mismatches" in capsys.readouterr().out


def test_export_records_the_mlp_parameter_port(tmp_path):
    import json
    export_verilog(mlp_281(), tmp_path)
    meta = json.loads((tmp_path / "quantkan_rtl.json").read_text())
    assert meta["kind"] == "mlp" and meta["param_shapes"] == [[8, 2], [8], [1, 8], [1]]
    assert meta["timing"]["ii"] == 1 and Path(tmp_path / meta["verilog"]).is_file()
    assert meta["top"] == "quantkan_mlp" and "module quantkan_mlp(" in (tmp_path / "quantkan_mlp.v").read_text()
