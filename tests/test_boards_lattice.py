"""The Lattice flow: its scripts and report parsing (fast), and real bitstreams with the yowasp tools.

The ULX3S build of the default example takes under a minute on two cores and runs in every
``make test``; the iCE40 build and a design that does not fit are marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantkan.boards import lattice
from quantkan.boards.lattice import (
    BuildFailed,
    LatticeBuild,
    parse_report,
    script_steps,
    yosys_overrides,
)
from quantkan.boards.registry import load_board
from quantkan.boards.top import BoardTop, board_core
from quantkan.cli import main
from quantkan.models import KAN

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def prepared(tmp_path: Path, board_name: str):
    board = load_board(board_name)
    model = KAN([1, 1], grid=(-1.0, 1.0, 8), order=3, bits=16)
    top = BoardTop(board, board_core(board, model))
    plan = board.platform().prepare(top, name=lattice.TOP_NAME, **yosys_overrides(board.family),
                                    nextpnr_opts="--report r.json --timing-allow-fail")
    plan.extract(tmp_path)
    return board, tmp_path


@pytest.mark.parametrize("name,tools", [("ulx3s", ["YOSYS", "NEXTPNR_ECP5", "ECPPACK"]),
                                        ("icebreaker", ["YOSYS", "NEXTPNR_ICE40", "ICEPACK"])])
def test_the_platform_script_becomes_yowasp_steps_with_classic_abc(tmp_path, name, tools):
    board, out = prepared(tmp_path, name)
    steps = script_steps((out / f"build_{lattice.TOP_NAME}.sh").read_text())
    assert [s.tool for s in steps] == tools
    pnr = steps[1].argv
    assert "--report" in pnr and "--timing-allow-fail" in pnr
    assert ("--85k" in pnr and "CABGA381" in pnr) if name == "ulx3s" else ("--up5k" in pnr and "sg48" in pnr)
    ys = (out / f"{lattice.TOP_NAME}.ys").read_text()
    assert "-run begin:map_luts" in ys and "abc -dress" in ys and "-run map_cells:" in ys
    assert "abc9" not in ys
    constraints = (out / f"{lattice.TOP_NAME}.{'lpf' if name == 'ulx3s' else 'pcf'}").read_text()
    pins = board.describe()
    for pin in (*pins["clock"]["pins"], pins["uart"]["rx"], pins["uart"]["tx"]):
        assert pin in constraints


def test_nextpnr_report_gives_utilization_and_fmax():
    report = {"utilization": {"TRELLIS_COMB": {"used": 2000, "available": 83640}, "DP16KD": {"used": 2, "available": 208}},
              "fmax": {"$glbnet$clk": {"achieved": 56.6, "constraint": 25.0}}}
    util, fmax, _ = parse_report(report)
    assert util["TRELLIS_COMB"] == {"used": 2000, "available": 83640} and fmax == {"clk": 56.6}
    build = LatticeBuild("ulx3s", "LFE5U-85F-6BG381C", 25.0, None, util, fmax)
    assert "Fmax clk: 56.60 MHz post-route (meets 25 MHz)" in build.table()


def test_timing_failure_names_the_clock(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"utilization": {}, "fmax": {"clk": {"achieved": 20.5, "constraint": 25.0}}}))
    build = LatticeBuild("ulx3s", "p", 25.0, None, {}, {})
    lattice._read_nextpnr(build, path)
    assert not build.timing_met
    assert "clock clk reaches 20.50 MHz after routing, the board runs it at 25 MHz" in lattice._timing_message(build)


NEXTPNR_OVERFULL = """\
Info: Device utilisation:
Info: 	         ICESTORM_LC:  2431/ 5280    46%
Info: 	        ICESTORM_RAM:     5/   30    16%
Info: 	         ICESTORM_DSP:    16/    8   200%
ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_DSP'
"""


def test_a_design_that_does_not_fit_names_the_resource(tmp_path):
    (tmp_path / f"{lattice.TOP_NAME}.tim").write_text(NEXTPNR_OVERFULL)
    (tmp_path / "nextpnr_ice40.log").write_text("")
    step = lattice.Step("NEXTPNR_ICE40", ["--log", f"{lattice.TOP_NAME}.tim"])
    err = lattice._explain(load_board("icebreaker"), step, 1, tmp_path, tmp_path / "nextpnr_ice40.log")
    assert "does not fit the iCE40UP5K-SG48" in str(err) and "ICESTORM_DSP: needs 16, the device has 8" in str(err)
    assert "ICESTORM_LC" not in str(err)


def test_yosys_stopping_on_too_many_multipliers_is_reported_as_not_fitting(tmp_path):
    """Issue 16, finding 7: `quantkan build examples/qubit_kan.toml --board icebreaker` printed
    yosys's warnings while its error sat in the .rpt; the cause is 58 multipliers for 8 DSPs.
    The logs below are excerpts of that build's."""
    (tmp_path / "yosys.log").write_text("Warning: Driver-driver conflict for \\core.kan.slope1_l_3 [32] ...\n")
    inferred = "".join(f"Checking quantkan_top.$flatten\\core.\\kan.${n}.mul for iCE40 DSP inference.\n"
                       "  clock: \\cd_sync.clk_buf.i (posedge)\n" for n in range(58))
    (tmp_path / f"{lattice.TOP_NAME}.rpt").write_text(
        "2.29. Executing ICE40_DSP pass (map multipliers).\n" + inferred +
        "ERROR: Output port quantkan_top.core.kan.slope1_l_1_SB_MAC16_O.O (SB_MAC16) is connected to constants\n")
    step = lattice.Step("YOSYS", ["-q", "-l", f"{lattice.TOP_NAME}.rpt", f"{lattice.TOP_NAME}.ys"])
    err = str(lattice._explain(load_board("icebreaker"), step, 1, tmp_path, tmp_path / "yosys.log"))
    assert err.startswith("the design does not fit the iCE40UP5K-SG48 on icebreaker: ICESTORM_DSP: needs 58, the "
                          "device has 8"), err
    (tmp_path / f"{lattice.TOP_NAME}.rpt").write_text("ERROR: something else entirely\n")
    err = str(lattice._explain(load_board("icebreaker"), step, 1, tmp_path, tmp_path / "yosys.log"))
    assert "ERROR: something else entirely" in err and f"{lattice.TOP_NAME}.rpt" in err


def test_a_failing_tool_is_reported_with_its_log(tmp_path, monkeypatch):
    board, _ = prepared(tmp_path / "p", "ulx3s")
    monkeypatch.setattr(lattice, "YOWASP", {**lattice.YOWASP, "YOSYS": "false"})
    monkeypatch.setattr(lattice, "_executable", lambda name: "/bin/false")
    top = BoardTop(board, board_core(board, KAN([1, 1], grid=(-1.0, 1.0, 8), order=3, bits=8)))
    with pytest.raises(BuildFailed, match=r"synthesis \(false\) failed \(exit 1\)"):
        lattice.build_bitstream(board, top, tmp_path / "out")


def test_nextpnr_options_reach_nextpnr_and_the_report(tmp_path, monkeypatch):
    board = load_board("icebreaker")
    top = BoardTop(board, board_core(board, KAN([1, 1], grid=(-1.0, 1.0, 8), order=3, bits=8)))
    steps = []

    def fake(step, out_dir, log_file, out, timeout=None):
        steps.append(step)
        if step.tool.startswith("NEXTPNR"):
            raise lattice.BuildFailed("stopped by the test")
        return 0.0

    monkeypatch.setattr(lattice, "run_step", fake)
    with pytest.raises(lattice.BuildFailed, match="stopped by the test"):
        lattice.build_bitstream(board, top, tmp_path, nextpnr_opts=["--placer-heap-timingweight", "40"])
    argv = steps[-1].argv
    assert argv[argv.index("--placer-heap-timingweight") + 1] == "40" and "--timing-allow-fail" in argv
    build = lattice.LatticeBuild("icebreaker", "p", 12.0, None, {}, {}, nextpnr_opts=["--seed", "2"])
    assert "nextpnr options: --seed 2" in build.table()


def test_a_place_and_route_past_its_timeout_fails_the_build_and_says_so(tmp_path, monkeypatch):
    board = load_board("icebreaker")
    top = BoardTop(board, board_core(board, KAN([1, 1], grid=(-1.0, 1.0, 8), order=3, bits=8)))
    limits = {}

    def fake(step, out_dir, log_file, out, timeout=None):
        limits[step.tool] = timeout
        if step.tool.startswith("NEXTPNR"):
            raise lattice.StepTimeout(60.4, "routing, 1,234 arcs left")
        return 0.0

    monkeypatch.setattr(lattice, "run_step", fake)
    with pytest.raises(BuildFailed, match=r"place and route .*stopped after 60 s \(routing, 1,234 arcs left\), "
                                          r"at its time limit; try another placement"):
        lattice.build_bitstream(board, top, tmp_path, timeout=60)
    assert limits == {"YOSYS": None, "NEXTPNR_ICE40": 60}  # only place and route is limited
    with pytest.raises(ValueError, match="timeout must be positive, got 0 s"):
        lattice.build_bitstream(board, top, tmp_path, timeout=0)


def test_the_default_example_becomes_a_ulx3s_bitstream(tmp_path, capsys):
    """`quantkan build examples/drift_kan.toml --board ulx3s`: a .bit file, utilization and Fmax."""
    out = tmp_path / "ulx3s"
    assert main(["build", str(EXAMPLES / "drift_kan.toml"), "--board", "ulx3s", "-o", str(out)]) == 0
    text = capsys.readouterr()
    bit = out / "quantkan_top.bit"
    assert bit.is_file() and bit.stat().st_size > 10_000
    report = json.loads((out / "report.json").read_text())
    assert report["part"] == "LFE5U-85F-6BG381C" and report["timing_met"]
    assert min(report["fmax_mhz"].values()) >= 25.0
    assert report["utilization"]["MULT18X18D"]["used"] >= 8 and report["utilization"]["TRELLIS_COMB"]["used"] > 500
    assert "Fmax clk:" in text.out and "[2/3] place and route" in text.err
    spec = json.loads((out / "quantkan_board.json").read_text())
    assert spec["baud"] == 25_000_000 // 217


@pytest.mark.slow
def test_the_default_example_fits_the_icebreaker(tmp_path, capsys):
    out = tmp_path / "icebreaker"
    assert main(["build", str(EXAMPLES / "drift_kan.toml"), "--board", "icebreaker", "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert (out / "quantkan_top.bin").is_file() and report["timing_met"]
    assert report["utilization"]["ICESTORM_DSP"]["used"] == 8


@pytest.mark.slow
def test_the_qubit_example_on_the_icebreaker_fails_as_not_fitting(tmp_path, capsys):
    """Issue 16, finding 7, end to end (~2 min): yosys stops; the message names the DSPs."""
    assert main(["build", str(EXAMPLES / "qubit_kan.toml"), "--board", "icebreaker", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("quantkan: error: the design does not fit the iCE40UP5K-SG48") and "ICESTORM_DSP" in err


@pytest.mark.slow
def test_a_model_too_big_for_the_icebreaker_fails_clearly(tmp_path, capsys):
    board = load_board("icebreaker")
    top = BoardTop(board, board_core(board, KAN([1, 2], grid=(-1.0, 1.0, 8), order=3, bits=16)))
    with pytest.raises(BuildFailed, match="ICESTORM_DSP: needs 16, the device has 8"):
        lattice.build_bitstream(board, top, tmp_path)
