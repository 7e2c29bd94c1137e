"""Vivado projects for every Xilinx board: complete, self-consistent, with the real part and pins.

No Vivado here: the checks are that each Tcl script reads only files that exist, names the
board's real part, that the XDC pins and I/O standards are the board's (amaranth-boards'
where it has the board), and that the clock constraint is the board's oscillator.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quantkan.boards.registry import board_names, load_board
from quantkan.boards.vivado import referenced_files, write_project
from quantkan.models import KAN
from quantkan.rtl.commands import load_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
XILINX = [n for n in board_names() if load_board(n).vendor == "xilinx"]
PARTS = {"vcu118": "xcvu9p-flga2104-2L-e", "zcu104": "xczu7ev-ffvc1156-2-e", "arty_a7_100t": "xc7a100tcsg324-1",
         "pynq_z2": "xc7z020clg400-1", "xcvu13p": "xcvu13p-flga2577-2-e"}


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    model, _, learning = load_model(str(EXAMPLES / "drift_kan.toml"), None)
    root = tmp_path_factory.mktemp("vivado")
    return {n: write_project(load_board(n), model, root / n, lr=learning["lr"], rounding=learning["rounding"],
                             seed=learning["seed"]) for n in XILINX}


def test_every_xilinx_board_gets_a_project():
    assert set(PARTS) == set(XILINX)


@pytest.mark.parametrize("name", sorted(PARTS))
def test_scripts_reference_only_existing_files_and_the_real_part(projects, name):
    project = projects[name]
    board = load_board(name)
    assert project.part == PARTS[name]
    want = {"ooc.tcl"} | ({"build.tcl", "program.tcl"} if board.kind == "board" else set())
    assert set(project.scripts) == want
    for script in project.scripts:
        tcl = (project.path / script).read_text()
        if script != "program.tcl":
            assert f"set part {PARTS[name]}\n" in tcl
            refs = referenced_files(tcl)
            assert refs, script
            missing = [r for r in refs if not (project.path / r).is_file()]
            assert not missing, (script, missing)
    ooc = (project.path / "ooc.tcl").read_text()
    assert "-mode out_of_context" in ooc and "learner/quantkan_kan.v" in ooc
    assert (project.path / "constraints" / "ooc.xdc").read_text().count("create_clock") == 1
    if board.kind == "board":
        build = (project.path / "build.tcl").read_text()
        for step in ("synth_design", "opt_design", "place_design", "route_design", "report_utilization",
                     "report_timing_summary", "write_bitstream"):
            assert step in build, step
        assert "create_project" not in build  # non-project mode
        device = board.platform().device
        assert f"get_hw_devices {device}*" in (project.path / "program.tcl").read_text()
    readme = (project.path / "README.md").read_text()
    assert "vivado -mode batch -source ooc.tcl" in readme


@pytest.mark.parametrize("name", [n for n in sorted(PARTS) if n != "xcvu13p"])
def test_constraints_carry_the_boards_pins_and_clock(projects, name):
    xdc = (projects[name].path / "constraints" / "quantkan_top.xdc").read_text()
    pins = load_board(name).describe()
    locs = dict(re.findall(r'set_property LOC (\S+) \[get_ports "([^"]+)"\]', xdc))
    standards = {port: std for std, port in re.findall(r'set_property IOSTANDARD "(\S+)" \[get_ports "([^"]+)"\]', xdc)}
    by_port = {port: loc for loc, port in locs.items()}
    rx = next(p for p in by_port if "uart" in p and "rx" in p)
    tx = next(p for p in by_port if "uart" in p and "tx" in p)
    assert (by_port[rx], by_port[tx]) == (pins["uart"]["rx"], pins["uart"]["tx"])
    assert standards[rx] == pins["uart"]["attrs"]["IOSTANDARD"]
    assert set(pins["clock"]["pins"]) <= set(locs)
    clock_ports = [p for p, loc in by_port.items() if loc in pins["clock"]["pins"]]
    assert all(standards[p] == pins["clock"]["attrs"]["IOSTANDARD"] for p in clock_ports)
    period = float(re.search(r"create_clock .*-period (\S+)", xdc).group(1))
    assert period == pytest.approx(1000.0 / pins["clock_mhz"])
    leds = [loc for port, loc in by_port.items() if port.startswith("led")]
    assert leds == pins["leds"][:4]


def test_the_board_top_contains_the_learner_and_the_bridge(projects):
    verilog = (projects["vcu118"].path / "src" / "quantkan_top.v").read_text()
    assert "module quantkan_top(" in verilog and "IBUFDS" in verilog  # the differential 125 MHz clock
    for part in ("core.kan", "core.bridge", "core.uart_rx", "core.uart_tx"):
        assert f"\\quantkan_top.{part} " in verilog, part


def test_refusals(tmp_path):
    model = KAN([1, 1], grid=(-1.0, 1.0, 8), order=3, bits=16)
    with pytest.raises(ValueError, match="not a Vivado project"):
        write_project(load_board("ulx3s"), model, tmp_path / "a")
    with pytest.raises(ValueError, match="must be positive"):
        write_project(load_board("xcvu13p"), model, tmp_path / "b", ooc_mhz=0)
    with pytest.raises(ValueError, match="too fast"):
        write_project(load_board("arty_a7_100t"), model, tmp_path / "c", baud=50_000_000)
