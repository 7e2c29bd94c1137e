"""The ``quantkan`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import numpy as np

from quantkan.fixed import FixedType, Rounding, add, cast

# Subsystems that bring their own commands: each module has ``add_commands(sub, export)``
# (``sub`` the top-level subparsers, ``export`` those of ``quantkan export``) and imports
# nothing heavy until a command runs.
_COMMAND_MODULES: tuple[str, ...] = ("quantkan.rtl.commands", "quantkan.keras.commands", "quantkan.boards.commands")


def _quantize(args: argparse.Namespace) -> int:
    t = FixedType.parse(args.type)
    values = np.array(args.values, dtype=np.float64)
    raw = t.quantize(values)
    print(f"{t}: lsb {t.lsb:g}, range [{t.min:g}, {t.max:g}]")
    for v, r, q in zip(values, raw, t.to_float(raw)):
        print(f"  {v!r:>24} -> raw {int(r):>12}  = {q!r}")
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
    from quantkan.train import build_run, train

    config = load_config(args.config) if args.config else {}
    overrides = {"kind": args.model, "bits": args.bits,
                 "task": {"name": args.task, "n": args.n},
                 "learning": {"lr": args.lr, "delay": args.delay, "rounding": args.rounding, "seed": args.seed}}
    if args.task and config.get("task", {}).get("name") not in (None, args.task):
        config = {**config, "task": {}}  # another task: the file's task settings do not apply
    model, stream, learning = build_run(config, overrides)
    print(f"quantkan train: {model!r}\n  task {stream.name} ({stream.n} samples, {stream.n_regimes} regimes), "
          f"lr {learning['lr']}, delay {learning['delay']}, update rounding {learning['rounding']}")
    result = train(model, stream, lr=learning["lr"], delay=learning["delay"], rounding=learning["rounding"],
                   seed=learning["seed"], twin=not args.no_twin, show_progress=not args.quiet)
    print(result.table())
    if args.out:
        from quantkan import persist
        path = persist.save(model, args.out, metadata={"task": stream.name, "samples": stream.n, **learning})
        print(f"wrote model {path}")
    if args.plot:
        from quantkan.plot import learning_curve
        print(f"wrote plot {learning_curve(result, args.plot)}")
    return 0


def _export_hls(args: argparse.Namespace) -> int:
    from quantkan import hls
    from quantkan.config import load_config
    from quantkan.persist import load
    from quantkan.train import build_run

    config = load_config(args.config)
    model, stream, learning = build_run(config, {})
    if args.model:
        model = load(args.model)
    n = min(args.samples, stream.n)
    tb_stream = (model.types.input.quantize(stream.x[:n]), model.types.output.quantize(stream.target[:n]),
                 np.ones(n, dtype=bool)) if n > 0 else None
    out = hls.export(model, args.output, part=args.part, clock_ns=args.clock, lr=learning["lr"],
                     rounding=learning["rounding"], seed=learning["seed"], stream=tb_stream)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    print(f"wrote Vitis HLS project {out} for {model!r} (part {args.part}, {args.clock:g} ns):")
    for f in files:
        print(f"  {f}")
    print(f"synthesize with Vitis: cd {out} && vitis_hls -f build.tcl")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quantkan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("quantize", help="show how values quantize to an ap_fixed type")
    p.add_argument("type", help="e.g. 'ap_fixed<8,3,AP_RND_CONV,AP_SAT>'")
    p.add_argument("values", nargs="+", type=float)
    p.set_defaults(run=_quantize)
    p = sub.add_parser("numbers", help="show what each rounding mode costs (a fixed-point tour)")
    p.set_defaults(run=_demo)
    p = sub.add_parser("train", help="stream a task through the golden learner and its float twin")
    p.add_argument("config", nargs="?", help="an example file (TOML), e.g. examples/drift_kan.toml")
    p.add_argument("--task", help="drift, drift2d or qubit (overrides the file)")
    p.add_argument("--model", choices=("kan", "mlp"), help="model kind (a default model of that kind)")
    p.add_argument("--bits", type=int, help="width of the default types (replaces the file's types)")
    p.add_argument("--n", type=int, help="samples in the stream")
    p.add_argument("--lr", type=float, help="learning rate (a power of two is a shift)")
    p.add_argument("--delay", type=int, help="update delay D of the pipelined schedule")
    p.add_argument("--rounding", choices=("type", "stochastic"), help="rounding of the update delta")
    p.add_argument("--seed", type=int, help="seed of the initial parameters and the LFSRs")
    p.add_argument("--out", help="write the trained model here (.qkan)")
    p.add_argument("--plot", help="write a PNG learning curve here")
    p.add_argument("--no-twin", action="store_true", help="skip the float64 twin")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_train)
    export = sub.add_parser("export", help="write a backend project for a model").add_subparsers(
        dest="backend", required=True)
    from quantkan.hls.emit import DEFAULT_CLOCK_NS, DEFAULT_PART
    p = export.add_parser("hls", help="a Vitis HLS project of the whole learning step")
    p.add_argument("config", help="an example file (TOML): model, learning settings, task for the testbench")
    p.add_argument("-o", "--output", required=True, help="project folder to write")
    p.add_argument("--model", help="a trained model file (.qkan) to start from instead of the config's")
    p.add_argument("--part", default=DEFAULT_PART, help=f"Xilinx part (default {DEFAULT_PART})")
    p.add_argument("--clock", type=float, default=DEFAULT_CLOCK_NS, help="clock period in ns")
    p.add_argument("--samples", type=int, default=1000, help="task samples replayed by the C++ testbench")
    p.set_defaults(run=_export_hls)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub, export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as err:
        print(f"quantkan: error: {err}", file=sys.stderr)
        return 2
