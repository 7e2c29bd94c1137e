"""Load a bitstream into a board with its programmer (openFPGALoader, or Vivado's hardware manager).

The board file's ``[programmer]`` names the tool, its arguments (``{bitstream}`` is replaced)
and an environment variable that may point at the executable (as amaranth-boards does).
A missing programmer is an error that says how to get it; nothing is installed here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from quantkan.errors import ToolError

__all__ = ["flash_command", "flash", "BITSTREAM_SUFFIX"]

BITSTREAM_SUFFIX = {"ecp5": ".bit", "ice40": ".bin", "series7": ".bit", "ultrascaleplus": ".bit"}
HINTS = {"openFPGALoader": "install openFPGALoader (apt-get install openfpgaloader, or "
                           "https://github.com/trabucayre/openFPGALoader) or set {env} to its path",
         "vivado": "source Vivado's settings64.sh so that vivado is on PATH"}
VIVADO_ARGS = ["-mode", "batch", "-nolog", "-nojournal", "-source", "{program_tcl}", "-tclargs", "{bitstream}"]


def _tool(board) -> str:
    prog = board.programmer
    if board.kind == "part":
        raise ValueError(f"{board.name} is a bare part (no board, no programmer): nothing to flash")
    if not prog.get("tool"):
        raise ValueError(f"{board.name} has no [programmer] in {board.path}: nothing to flash with")
    env = prog.get("env")
    if env and os.environ.get(env):
        return os.environ[env]
    found = shutil.which(prog["tool"])
    if found is None:
        hint = HINTS.get(prog["tool"], "install it or put it on PATH").format(env=env or "PATH")
        raise ValueError(f"the programmer {prog['tool']} for {board.name} is not installed: {hint}")
    return found


def flash_command(board, bitstream: str | Path, workdir: str | Path) -> list[str]:
    """The programmer's command line for ``bitstream`` (checked); Vivado's script goes to ``workdir``."""
    bitstream = Path(bitstream)
    want = BITSTREAM_SUFFIX[board.family]
    if not bitstream.is_file():
        raise ValueError(f"bitstream {bitstream} does not exist (build it with quantkan build CONFIG --board {board.name})")
    if bitstream.suffix != want:
        raise ValueError(f"{board.name} loads {want} files, got {bitstream.name}")
    tool = _tool(board)
    fields = {"bitstream": str(bitstream.resolve())}
    args = board.programmer.get("args")
    if board.programmer["tool"] == "vivado":
        from quantkan.boards.vivado import program_tcl

        script = Path(workdir) / "program.tcl"
        script.write_text(program_tcl(board.platform().device))
        fields["program_tcl"] = str(script)
        args = args or VIVADO_ARGS
    return [tool, *(a.format(**fields) for a in args or ["{bitstream}"])]


def flash(board, bitstream: str | Path, dry_run: bool = False) -> list[str]:
    """Run the programmer (or only return its command with ``dry_run``); RuntimeError if it fails."""
    with tempfile.TemporaryDirectory(prefix="quantkan-flash-") as work:
        argv = flash_command(board, bitstream, work)
        if dry_run:
            return argv
        done = subprocess.run(argv, check=False)
        if done.returncode:
            raise ToolError(f"{Path(argv[0]).name} failed (exit {done.returncode}) loading {bitstream} "
                               f"into {board.name}: is the board connected and powered?")
    return argv
