"""The ``quantkan`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quantkan.errors import missing_module
from quantkan.fixed import FixedType, Rounding, add, cast
from quantkan.options import (Parser, add_config, add_model_file, add_output, deprecated_alias, learning_rate,
                              nonnegative_int, positive_float, positive_int, warn)
from quantkan.rtl import PIPELINES, SCHEDULES
from quantkan.tasks import TASKS

# Subsystems that bring their own commands: each module has ``add_commands(sub, export)``
# (``sub`` the top-level subparsers, ``export`` those of ``quantkan export``) and imports
# nothing heavy until a command runs.
_COMMAND_MODULES: tuple[str, ...] = ("quantkan.rtl.commands", "quantkan.keras.commands", "quantkan.boards.commands",
                                     "quantkan.sweep.commands")


def _quantize(args: argparse.Namespace) -> int:
    t = FixedType.parse(args.type)
    values = np.array(args.values, dtype=np.float64)
    raw = t.quantize(values)
    print(f"{t}: lsb {t.lsb:g}, range [{t.min:g}, {t.max:g}]")
    for v, r, q in zip(values, raw, t.to_float(raw)):
        print(f"  {float(v)!r:>24} -> raw {int(r):>12}  = {float(q)!r}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Show what each rounding mode costs on a signal and on a tiny learning update."""
    x = np.linspace(-1, 1, 4001)
    signal = np.sin(np.pi * x) * 0.9
    print("sin(pi x) * 0.9 on 4001 points, quantized by ap_fixed modes (MSE in LSB^2):")
    print(f"  {'type':<34}{'mean err/LSB':>14}{'MSE/LSB^2':>12}")
    for width in (8, 12):
        for rounding in (Rounding.TRN, Rounding.TRN_ZERO, Rounding.RND, Rounding.RND_CONV):
            t = FixedType(width, 1, True, rounding, "AP_SAT")
            err = (t.to_float(t.quantize(signal)) - signal) / t.lsb
            print(f"  {str(t):<34}{err.mean():>14.4f}{np.mean(err ** 2):>12.4f}")
    coef_t = FixedType(12, 2, True, Rounding.TRN, "AP_SAT")
    delta_t = FixedType(24, 4)  # full-precision lr * error * basis
    print("\nA coefficient updated 1000 times by -2^-12 (a quarter LSB of ap_fixed<12,2>):")
    for rounding in (Rounding.TRN, Rounding.RND_CONV):
        t = coef_t.with_modes(rounding=rounding)
        c = t.quantize(0.5)
        step = delta_t.quantize(-(2.0 ** -12))
        for _ in range(1000):
            c = cast(*add(c, t, step, delta_t), t)
        print(f"  {t.rounding.value:<12} ends at {float(t.to_float(c)):+.6f} (exact: {0.5 - 1000 * 2.0 ** -12:+.6f})")
    print("Truncation turns every tiny negative step into a whole LSB; round-to-nearest loses them all.")
    return 0


def _train(args: argparse.Namespace) -> int:
    from quantkan.config import load_config
    from quantkan.train import build_run, model_from_file, train

    kind, model_file = args.kind, args.model
    if model_file in ("kan", "mlp"):  # --model was the kind before it named a file everywhere
        warn(f"--model {model_file} is deprecated: use --kind {model_file} (--model names a .qkan file)")
        kind, model_file = model_file, None
    config = load_config(args.config) if args.config else {}
    overrides = {"kind": kind, "bits": args.bits,
                 "task": {"name": args.task, "n": args.n},
                 "learning": {"lr": args.lr, "delay": args.delay, "schedule": args.schedule, "pipeline": args.pipeline,
                              "rounding": args.rounding, "seed": args.seed}}
    if args.task and config.get("task", {}).get("name") not in (None, args.task):
        config = {**config, "task": {}}  # another task: the file's task settings do not apply
    model, stream, learning = build_run(config, overrides)
    if model_file:
        model = model_from_file(model, model_file, args.config or f"the default model for {stream.name}",
                                args.model_replaces_config)
    print(f"quantkan train: {model!r}\n  task {stream.name} ({stream.n} samples, {stream.n_regimes} regimes), "
          f"lr {learning['lr']}, update rounding {learning['rounding']}")
    result = train(model, stream, twin=not args.no_twin, show_progress=not args.quiet, engine=args.engine,
                   **learning)
    learning = {**learning, "delay": result.delays, "schedule": result.schedule}  # what the run used
    if result.stream.n:
        print(result.table())
        print(result.diagnostics_table())
        for message in result.warnings():
            warn(message)
    _report_delay(result)
    output = args.output
    if result.interrupted:
        output = output or f"{Path(args.config).stem if args.config else stream.name}.interrupted.qkan"
        print(f"interrupted after {result.stream.n} of {stream.n} samples", file=sys.stderr)
    if output:
        from quantkan import persist
        metadata = {"task": stream.name, "samples": result.stream.n, **learning}
        path = persist.save(model, output, metadata=metadata)
        metrics = path.with_suffix(".json")
        metrics.write_text(json.dumps(_train_record(args.config, model, stream, learning, result), indent=2) + "\n")
        print(f"wrote model {path} and metrics {metrics}" + (" (the model so far)" if result.interrupted else ""))
    if args.plot and result.stream.n:
        from quantkan.plot import learning_curve
        print(f"wrote plot {learning_curve(result, args.plot)}")
    return 130 if result.interrupted else 0


def _report_delay(result: Any, name: str = "") -> None:
    """Print the run's D and what it cost against D = 0; warn when that is more than DELAY_COST_LIMIT."""
    from quantkan.train import DELAY_COST_LIMIT

    print(f"{name}{result.delay_summary()}")
    cost = result.delay_cost()
    if cost is not None and cost > DELAY_COST_LIMIT:
        warn(f"{name}the update delay D = {result.delays} costs {cost:.1f}x the error of the same run at D = 0 "
             f"(more than {DELAY_COST_LIMIT}x): the pipelined hardware will learn this much worse; try a smaller "
             "lr, schedule = \"sequential\" (D = 0, one sample per learning step) or pipeline = \"shallow\"")


def _train_record(config_file: str | None, model: Any, stream: Any, learning: dict, result: Any) -> dict:
    """What a person needs to keep and compare a training run: settings, results, versions."""
    import platform

    import quantkan
    from quantkan.persist import model_config

    return {"format": "quantkan-train", "version": 1, "config_file": config_file,
            "model": model_config(model), "learning": learning,
            "task": {"name": stream.name, **stream.params}, "results": result.metrics(),
            "versions": {"quantkan": quantkan.__version__, "numpy": np.__version__,
                         "python": platform.python_version()}}


def _compare(args: argparse.Namespace) -> int:
    """Train several configs on the same stream and put them on one figure (and one table)."""
    from quantkan.config import load_config
    from quantkan.plot import compare
    from quantkan.train import build_run, train

    built = [(path, *build_run(load_config(path), {"task": {"n": args.n}})) for path in args.configs]
    first = built[0][2]
    for path, _, stream, _ in built[1:]:
        if (stream.name, stream.params) != (first.name, first.params):
            differ = f"{first.name} vs {stream.name}" if first.name != stream.name else ", ".join(
                f"{k} {first.params.get(k)} vs {v}" for k, v in stream.params.items() if first.params.get(k) != v)
            raise ValueError(f"{args.configs[0]} and {path} stream different tasks ({differ}): compare needs one "
                             "[task] for all")
    runs: list[tuple[str, Any, Any]] = []
    records = []
    for path, model, stream, learning in built:
        print(f"{Path(path).stem}: {model!r}, lr {learning['lr']}", flush=True)
        result = train(model, stream, twin=False, show_progress=not args.quiet, **learning)
        if result.interrupted:
            print(f"interrupted during {path}; nothing written", file=sys.stderr)
            return 130
        _report_delay(result, f"{Path(path).stem}: ")
        learning = {**learning, "delay": result.delays, "schedule": result.schedule}
        runs.append((Path(path).stem, result, model))
        records.append(_train_record(path, model, stream, learning, result))
    stream = runs[0][1].stream
    names = [name for name, _, _ in runs]
    width = max(12, *(len(n) + 2 for n in names))
    print(f"{stream.metric} over the last 20% of each regime:")
    print(f"{'regime':<8}" + "".join(f"{n:>{width}}" for n in names))
    per_run = [{r: fx for r, fx, _ in result.per_regime()} for _, result, _ in runs]
    number = "{:.4f}" if stream.metric == "accuracy" else "{:.3e}"
    for r in sorted(per_run[0]):
        print(f"{r:<8}" + "".join(f"{number.format(m[r]):>{width}}" for m in per_run))
    plot = compare([(f"{name} ({model.kind.upper()} {model.layers}, {model.parameter_types()[0].width}-bit)", result)
                    for name, result, model in runs], args.output)
    record = Path(args.output).with_suffix(".json")
    record.write_text(json.dumps({"format": "quantkan-compare", "version": 1, "runs": records}, indent=2) + "\n")
    print(f"wrote plot {plot} and metrics {record}")
    return 0


def _export_hls(args: argparse.Namespace) -> int:
    from quantkan import hls
    from quantkan.train import check_task_fits, load_run

    model, stream, learning = load_run(args.config, args.model, args.model_replaces_config)
    n = min(args.samples, stream.n)
    if n > 0:
        check_task_fits(model, stream)
    tb_stream = (model.types.input.quantize(stream.x[:n]), model.types.output.quantize(stream.target[:n]),
                 np.ones(n, dtype=bool))
    out = hls.export(model, args.output, part=args.part, clock_ns=args.clock, lr=learning["lr"],
                     rounding=learning["rounding"], seed=learning["seed"], stream=tb_stream,
                     delay=learning["delay"] or 0)  # the HLS pipeline is Vitis's: its D is the config's, else 0
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    print(f"wrote Vitis HLS project {out} for {model!r} (part {args.part}, {args.clock:g} ns), "
          f"testbench of {n} task samples:")
    for f in files:
        print(f"  {f}")
    print(f"synthesize with Vitis: cd {out} && vitis_hls -f build.tcl")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import quantkan

    parser = Parser(prog="quantkan", description=__doc__)
    parser.add_argument("--version", action="version", version=f"quantkan {quantkan.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("quantize", help="show how values quantize to an ap_fixed type")
    p.add_argument("type", help="e.g. 'ap_fixed<8,3,AP_RND_CONV,AP_SAT>'")
    p.add_argument("values", nargs="+", type=float, help="values to quantize")
    p.set_defaults(run=_quantize)
    p = sub.add_parser("numbers", help="show what each rounding mode costs (a fixed-point tour)")
    p.set_defaults(run=_demo)
    p = sub.add_parser("train", help="stream a task through the golden learner and its float twin")
    add_config(p, "model, learning settings and task (without one: a default KAN on --task)", required=False)
    p.add_argument("--task", choices=sorted(TASKS), help="the task (overrides the file's)")
    p.add_argument("--kind", choices=("kan", "mlp"), help="model kind: a default model of that kind")
    add_model_file(p, "continue training")
    p.add_argument("--bits", type=positive_int, help="width of the default types (replaces the file's types)")
    p.add_argument("--n", type=positive_int, help="samples in the stream (default: the task's)")
    p.add_argument("--lr", type=learning_rate,
                   help="learning rate in (0, 1), a power of two is a shift; one for every layer or a "
                        "comma-separated list of one per layer, e.g. 0.03125,0.125 (default: the config's, "
                        "else 0.125)")
    p.add_argument("--delay", type=nonnegative_int,
                   help="update delay D, every layer (default: the config's, else the D the RTL generator reports "
                        "for --schedule)")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="the hardware schedule whose D the learner uses: pipelined (a sample every cycle, D > 0) "
                        "or sequential (D = 0) (default: the config's, else pipelined)")
    p.add_argument("--pipeline", choices=PIPELINES,
                   help="the RTL pipeline whose D the learner uses: deep, deeper (a faster clock, a larger D) or "
                        "shallow (a smaller D) (default: the config's, else deep)")
    p.add_argument("--rounding", choices=("type", "stochastic"),
                   help="rounding of the update delta (default: the config's, else type)")
    p.add_argument("--seed", type=nonnegative_int,
                   help="seed of the initial parameters and the LFSRs (default: the config's, else 0)")
    add_output(p, "write the trained model here (.qkan) and its metrics beside it (.json)")
    deprecated_alias(p, "--out", "-o/--output", dest="output")
    p.add_argument("--plot", metavar="PNG", help="write a learning curve here")
    p.add_argument("--no-twin", action="store_true", help="skip the float64 twin")
    p.add_argument("--engine", choices=("auto", "numpy", "compiled"), default="auto",
                   help="numpy: the golden learner; compiled: the numba engine (bit-exact); "
                        "auto (default): compiled where available")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_train)
    p = sub.add_parser("compare", help="train several configs on one task and plot them on one figure")
    p.add_argument("configs", nargs="+", metavar="config",
                   help="config files (TOML) with the same [task], e.g. examples/drift_kan.toml examples/drift_mlp.toml")
    add_output(p, "the figure (PNG); the runs' metrics go beside it (.json)", required=True)
    p.add_argument("--n", type=positive_int, help="samples in the stream (default: the task's)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_compare)
    export = sub.add_parser("export", help="write a backend project for a model").add_subparsers(
        dest="backend", required=True, parser_class=Parser)
    from quantkan.hls.emit import DEFAULT_CLOCK_NS, DEFAULT_PART
    p = export.add_parser("hls", help="a Vitis HLS project of the whole learning step")
    add_config(p, "model, learning settings, task for the testbench")
    add_output(p, "project folder to write", required=True)
    add_model_file(p)
    p.add_argument("--part", default=DEFAULT_PART, help="Xilinx part")
    p.add_argument("--clock", type=positive_float, default=DEFAULT_CLOCK_NS, help="clock period in ns")
    p.add_argument("--samples", type=positive_int, default=1000,
                   help="task samples the C++ testbench replays and checks")
    p.set_defaults(run=_export_hls)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub, export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every user mistake or missing tool ends in one ``quantkan: error:`` line.

    TypeError and ValueError are bad input, RuntimeError (and ToolError) a tool that is
    missing or failed, ImportError an extra not installed, OSError a file, MemoryError a
    request too large: none of them is a bug report, so none prints a traceback.  Exit status: 2 bad input, 1 a failed tool or
    check, 130 interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except OSError as err:  # "No such file or directory: 'x'" reads better as "x: No such ..."
        text = f"{err.filename}: {err.strerror}" if err.filename and err.strerror else (err.strerror or str(err))
        print(f"quantkan: error: {text}", file=sys.stderr)
        return 2
    except (TypeError, ValueError) as err:
        print(f"quantkan: error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"quantkan: error: {missing_module(err)}", file=sys.stderr)
        return 2
    except MemoryError as err:
        print(f"quantkan: error: out of memory ({err or 'no details'}): ask for less", file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(f"quantkan: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("quantkan: interrupted", file=sys.stderr)
        return 130
