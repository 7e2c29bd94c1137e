"""`quantkan flash`: the board's programmer is called with the bitstream (a fake one on PATH here)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from quantkan.boards.flash import flash
from quantkan.boards.registry import load_board
from quantkan.cli import main


def fake_tool(folder: Path, name: str, exit_code: int = 0) -> Path:
    """A programmer that records its arguments (and a copy of any -source script) in calls.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text(f"""#!{sys.executable}
import json, shutil, sys
args = sys.argv[1:]
if "-source" in args:
    shutil.copy(args[args.index("-source") + 1], "{folder}/copied.tcl")
with open("{folder}/calls.json", "a") as f:
    f.write(json.dumps(args) + "\\n")
sys.exit({exit_code})
""")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return tool


def calls(folder: Path) -> list[list[str]]:
    return [json.loads(line) for line in (folder / "calls.json").read_text().splitlines()]


@pytest.fixture
def bitstreams(tmp_path):
    for name in ("top.bit", "top.bin"):
        (tmp_path / name).write_bytes(b"\xff" * 64)
    return tmp_path


@pytest.mark.parametrize("board,file,args", [("ulx3s", "top.bit", ["-b", "ulx3s"]),
                                             ("icebreaker", "top.bin", ["-b", "ice40_generic"]),
                                             ("orangecrab", "top.bit", ["-b", "orangeCrab"]),
                                             ("arty_a7_100t", "top.bit", ["-b", "arty_a7_100t"])])
def test_openfpgaloader_gets_the_board_and_the_bitstream(tmp_path, bitstreams, monkeypatch, capsys, board, file, args):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "openFPGALoader")
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["flash", "--board", board, str(bitstreams / file)]) == 0
    assert calls(bin_dir) == [[*args, str((bitstreams / file).resolve())]]
    assert "ran: " in capsys.readouterr().out


def test_vivado_boards_program_over_jtag(tmp_path, bitstreams, monkeypatch):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "vivado")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    flash(load_board("vcu118"), bitstreams / "top.bit")
    (argv,) = calls(bin_dir)
    assert argv[:2] == ["-mode", "batch"] and argv[-2:] == ["-tclargs", str((bitstreams / "top.bit").resolve())]
    assert "get_hw_devices xcvu9p*" in (bin_dir / "copied.tcl").read_text()


def test_the_environment_variable_names_the_programmer(tmp_path, bitstreams, monkeypatch):
    tool = fake_tool(tmp_path / "elsewhere", "my-loader")
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    flash(load_board("ulx3s"), bitstreams / "top.bit")
    assert calls(tmp_path / "elsewhere")[0][:2] == ["-b", "ulx3s"]


def test_refusals_name_the_problem(tmp_path, bitstreams, monkeypatch, capsys):
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["flash", "--board", "ulx3s", str(bitstreams / "top.bit")]) == 2
    assert "programmer openFPGALoader for ulx3s is not installed" in capsys.readouterr().err
    with pytest.raises(ValueError, match="icebreaker loads .bin files"):
        flash(load_board("icebreaker"), bitstreams / "top.bit")
    with pytest.raises(ValueError, match="does not exist"):
        flash(load_board("ulx3s"), tmp_path / "missing.bit")
    with pytest.raises(ValueError, match="bare part.*nothing to flash"):
        flash(load_board("xcvu13p"), bitstreams / "top.bit")
    fake_tool(tmp_path / "bad", "openFPGALoader", exit_code=3)
    monkeypatch.setenv("PATH", str(tmp_path / "bad"))
    assert main(["flash", "--board", "ulx3s", str(bitstreams / "top.bit")]) == 1
    assert "openFPGALoader failed (exit 3)" in capsys.readouterr().err
