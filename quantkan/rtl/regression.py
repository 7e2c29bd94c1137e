"""What ``make sim`` runs: a model's Verilog, every schedule, streamed in cocotb against the golden model.

For each schedule the learner is exported once; for each simulator it is built once; then
the task stream goes in twice: with ``valid`` high every cycle, and with random gaps.
Every output and, at checkpoints, every parameter is compared with the golden learner
run with the D the generator reported.  The summary fits on one screen.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from quantkan.golden import LearningRates
from quantkan.models import Model
from quantkan.rtl import SCHEDULES
from quantkan.rtl.cosim import Cosim, CosimRun
from quantkan.rtl.export import export_verilog
from quantkan.rtl.kan import Timing
from quantkan.rtl.verify import StreamFeatures, task_drive

__all__ = ["Case", "run_regression", "case_ok", "summary"]

PATTERNS = ("always", "gaps")


@dataclass
class Case:
    schedule: str
    simulator: str
    pattern: str
    timing: Timing
    run: CosimRun


def run_regression(model: Model, x, target, out_dir: str | Path, lr: LearningRates, rounding: str, seed: int,
                   pipeline: str = "deep", schedules: tuple[str, ...] = SCHEDULES,
                   simulators: tuple[str, ...] = ("verilator",),
                   patterns: tuple[str, ...] = PATTERNS, checkpoints: int = 4,
                   log: TextIO | None = sys.stderr, waves: bool = False,
                   features: StreamFeatures = StreamFeatures()) -> list[Case]:
    """Export, build and simulate every (schedule, simulator, pattern); return the scored cases.

    Args:
        model: the KAN to export (its coefficients are the RTL's starting values).
        x, target: the task's samples, float (quantized to the model's types here).
        out_dir: exports go to ``out_dir/<schedule>``, jobs to ``out_dir/jobs``.
        lr, rounding, seed: the learning settings both the RTL and the golden model use.
        pipeline: the RTL pipeline to export (deep, deeper or shallow); the golden model takes its D.
        schedules, simulators, patterns: what to run (every combination).
        checkpoints: coefficient read-backs during each run, besides the one at its end.
        log: progress lines go here (None: silent).
        waves: record every signal of each run (a VCD or FST in its job folder), to debug a mismatch.
        features: samples without learning, inputs off the grid and saturating targets mixed into the stream.
    """
    out = Path(out_dir)
    cases = []
    for schedule in schedules:
        export = out / schedule
        export_verilog(model, export, schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
        for simulator in simulators:
            cosim = Cosim(export, simulator, waves=waves)
            timing = _timing(cosim)
            if log:
                log.write(f"[{schedule}/{simulator}] building ...\n")
            cosim.build()
            if log and cosim.build_seconds:
                log.write(f"[{schedule}/{simulator}] built in {cosim.build_seconds:.0f} s\n")
            for pattern in patterns:
                drive = task_drive(cosim.model(), x, target, seed=seed, gaps=pattern == "gaps",
                                   checkpoints=checkpoints, features=features)
                if log:
                    log.write(f"[{schedule}/{simulator}] streaming {drive.n} samples, valid {pattern} ...\n")
                result = cosim.run(drive, out / "jobs" / f"{schedule}-{simulator}-{pattern}")
                cases.append(Case(schedule, simulator, pattern, timing, result))
                if log:
                    s = result.score
                    log.write(f"[{schedule}/{simulator}] {s.output_mismatches} output, "
                              f"{s.coefficient_mismatches} coefficient and {s.counter_mismatches} counter mismatches\n")
    return cases


def _timing(cosim: Cosim) -> Timing:
    t = cosim.meta["timing"]
    return Timing(cosim.meta["schedule"], latency=t["latency"], step=t["step"], ii=t["ii"], read=t["read"],
                  write=t["write"], pipeline_delays=t["pipeline_delays"])


def case_ok(c: Case) -> bool:
    """Bit-exact (outputs, coefficients and the diagnostics counters, which must have been read),
    constant latency as reported, and II as reported when valid is always high."""
    s = c.run.score
    return (s.ok and s.counters_compared > 0 and s.latency == c.timing.latency
            and (c.pattern == "gaps" or s.ii == c.timing.ii))


def summary(cases: list[Case]) -> str:
    """One line per case and a verdict."""
    head = (f"{'schedule':<11}{'sim':<10}{'valid':<8}{'samples':>8}{'cycles':>8}{'latency':>8}{'step':>6}"
            f"{'II':>4}  {'D':<8}{'y bad':>6}{'coef bad':>15}{'count bad':>10}{'samples/s':>11}")
    lines = [head, "-" * len(head)]
    for c in cases:
        s, r = c.run.score, c.run
        lines.append(
            f"{c.schedule:<11}{c.simulator:<10}{c.pattern:<8}{s.samples:>8}{r.sim_cycles:>8}"
            f"{s.latency:>8}{c.timing.step:>6}{s.ii:>4}  {str(c.timing.delays):<8}{s.output_mismatches:>6}"
            f"{f'{s.coefficient_mismatches}/{s.coefficients_compared}':>15}"
            f"{f'{s.counter_mismatches}/{s.counters_compared}':>10}{r.samples_per_second:>11,.0f}"
            + ("" if case_ok(c) else "  <-- FAIL"))
    failed = [c for c in cases if not case_ok(c)]
    bad = sum(c.run.score.output_mismatches + c.run.score.coefficient_mismatches + c.run.score.counter_mismatches
              for c in cases)
    lines.append(f"{'FAIL' if failed else 'PASS'}: {bad} mismatches over {sum(c.run.score.samples for c in cases)} "
                 f"samples in {len(cases)} runs (every output; every coefficient and diagnostics counter at each "
                 "checkpoint)"
                 + (f"; {len(failed)} runs failed" if failed else ""))
    return "\n".join(lines)
