"""Resource counts from yosys synth_xilinx: the command works and spline locality shows in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantkan.cli import main
from quantkan.models import KAN
from quantkan.rtl.export import export_verilog
from quantkan.rtl.synth import Resources, synth_xilinx

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def resources(tmp_path: Path, cells: int) -> Resources:
    model = KAN([1, 1], grid=(-1.0, 1.0, cells), order=2, lut_bits=6, bits=10)
    return synth_xilinx(export_verilog(model, tmp_path / f"G{cells}"), "quantkan_kan")


def test_growing_the_grid_costs_storage_not_datapath(tmp_path):
    small, big = resources(tmp_path, 4), resources(tmp_path, 64)
    assert small.dsp == big.dsp > 0  # one multiplier per term: S+1 forward, S+1 for the deltas
    assert small.bram == big.bram >= 1  # the basis table is a block ROM whatever G
    logic = [r.lut + r.ff + r.srl for r in (small, big)]
    assert logic[1] < 1.2 * logic[0], logic


def test_report_command_prints_the_counts(tmp_path, capsys):
    assert main(["report", str(EXAMPLES / "drift_kan.toml"), "-o", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    counts = {line.split()[0]: int(line.split()[-1]) for line in out.splitlines()
              if line.startswith("  ") and line.split()[-1].isdigit()}
    assert counts["DSP"] == 8 and counts["LUT"] > 0 and counts["FF"] > 0, out
    assert "learning step 9 cycles" in out  # the deep pipeline (the default)
    # issue 16: progress while yosys runs, its whole log kept, a summary to keep
    assert any(line.startswith("  yosys ") and "SYNTH_XILINX" in line for line in err.splitlines()), err
    log = (tmp_path / "synth.log").read_text()
    assert "Executing SYNTH_XILINX pass" in log and "End of script" in log
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["cells"] and report["timing"]["step"] == 9 and report["config_file"].endswith("drift_kan.toml")


def test_bad_synthesis_requests(tmp_path):
    with pytest.raises(ValueError, match="family must be one of"):
        synth_xilinx(tmp_path / "x.v", "top", family="xc9")
    with pytest.raises(ValueError, match="does not exist"):
        synth_xilinx(tmp_path / "missing.v", "top")
