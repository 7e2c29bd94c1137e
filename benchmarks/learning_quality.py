"""Learning quality at the hardware's update delay: the measurements behind quantkan's defaults
and the KAN vs MLP table on the qubit trace task.  Prints Markdown tables.

Every run is the compiled engine (bit-exact with the golden learner) at the pipelined D the RTL
generator reports (deep pipeline, printed with each table), scored over the last 20% of each
regime (MSE, or accuracy).  "Best lr" is the best power of two of LRS for that row (for the
seeds table: the best mean over the seeds).

    .venv/bin/python benchmarks/learning_quality.py qubit       # KAN vs MLP, 8-16 bits, 5 seeds, Bayes limit
    .venv/bin/python benchmarks/learning_quality.py grid        # [2,4,1] / [4,4,1] KAN MSE for G = 8, 16, 32
    .venv/bin/python benchmarks/learning_quality.py lrpairs     # why: every (hidden, output) rate pair, the float twin
    .venv/bin/python benchmarks/learning_quality.py capacity    # drift2d with 4 and 8 inputs: KANs and MLPs of 2 sizes
    .venv/bin/python benchmarks/learning_quality.py coef        # coefficient range 4 / 2 / 1, 6-16 bits
    .venv/bin/python benchmarks/learning_quality.py rounding    # type vs stochastic rounding of every example
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quantkan.models import KAN, MLP, Model  # noqa: E402
from quantkan.tasks import Stream, bayes_accuracy, make_task, windowed_metric  # noqa: E402
from quantkan.train import train  # noqa: E402

LRS = [2.0 ** -k for k in range(2, 9)]
#: The per-layer rule measured against one rate for every layer: hidden layers at this many
#: times the output layer's rate (at most 0.5).
HIDDEN_LR_FACTOR = 4.0


def hidden_faster(lr: float, model: Model) -> float | list[float]:
    """``lr`` for the output layer, HIDDEN_LR_FACTOR times it (at most 0.5) for hidden KAN layers."""
    if model.kind != "kan" or len(model.layers) < 3:
        return lr
    return [min(lr * HIDDEN_LR_FACTOR, max(lr, 0.5))] * (len(model.layers) - 2) + [lr]


def score(model: Model, stream: Stream, lr, rounding: str = "type") -> tuple[float, list[int]]:
    """(metric over the regimes' tails, D per layer) of one run at the pipelined D."""
    r = train(model, stream, lr=lr, rounding=rounding, twin=False, show_progress=False, engine="compiled",
              check_delay=False)
    value = float(np.mean(list(windowed_metric(stream, r.fixed).values())))
    return (value if np.isfinite(value) else float("inf")), r.delays


def best_lr(make: Callable[[], Model], stream: Stream, rates: Callable[[float, Model], object] = lambda lr, m: lr,
            rounding: str = "type", higher_is_better: bool = False) -> tuple[float, float, list[int]]:
    """(best metric, its lr, D) over LRS; ``rates`` turns a base lr into the learner's setting."""
    runs = []
    for lr in LRS:
        model = make()
        value, delays = score(model, stream, rates(lr, model), rounding)
        runs.append((-value if higher_is_better else value, lr, delays))
    value, lr, delays = min(runs, key=lambda r: r[0])
    return (-value if higher_is_better else value), lr, delays


def _table(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def qubit(args: argparse.Namespace) -> None:
    """KAN vs MLP at the same parameter budget on qubit_trace, per width, over seeds."""
    seeds = range(args.seeds)
    streams = [make_task("qubit_trace", seed=s) for s in seeds]
    n_in = streams[0].n_inputs
    kan_layers, mlp_hidden = [n_in, 2, 1], 19  # 14 edges x 11 coefficients = 154; 6*19 + 19 + 19 + 1 = 153
    bayes = [float(np.mean(list(bayes_accuracy(s).values()))) for s in streams]
    print(f"qubit_trace (n = {streams[0].n}, {streams[0].n_regimes} regimes, {n_in} inputs), seeds {list(seeds)} "
          f"(stream and model), accuracy over the last 20% of each regime, mean +- sd; Bayes limit "
          f"{np.mean(bayes):.4f} +- {np.std(bayes, ddof=1):.4f}")
    rows = []
    for bits in args.bits:
        row = [str(bits)]
        for kind in ("kan", "mlp"):
            def make(seed: int = 0) -> Model:
                return (KAN(kan_layers, bits=bits, seed=seed, coef_range=2.0) if kind == "kan"
                        else MLP([n_in, mlp_hidden, 1], bits=bits, seed=seed))
            results = {}
            for lr in LRS:
                runs = [score(make(s), stream, lr, args.rounding) for s, stream in zip(seeds, streams)]
                results[lr] = ([v for v, _ in runs], runs[0][1])
            lr = max(results, key=lambda k: np.mean(results[k][0]))
            values, delays = results[lr]
            row += [f"{np.mean(values):.4f} +- {np.std(values, ddof=1):.4f}", f"{lr:g}", str(delays)]
        rows.append(row)
    params = (f"KAN {kan_layers} G=8 ({sum(p.size for p in KAN(kan_layers).parameters())} coefficients), "
              f"MLP [{n_in}, {mlp_hidden}, 1] ({sum(p.size for p in MLP([n_in, mlp_hidden, 1]).parameters())} "
              f"parameters)")
    print(params + f", {args.rounding} rounding, coefficients +-2 (the default for these targets), one lr")
    print(_table(["bits", "KAN accuracy", "KAN lr", "KAN D", "MLP accuracy", "MLP lr", "MLP D"], rows))


def grid(args: argparse.Namespace) -> None:
    """A two-layer KAN's MSE for G = 8, 16, 32: old defaults vs new, on drift2d with 2 and 4 inputs."""
    for n_in, hidden in ((2, 4), (4, 4)):
        stream = make_task("drift2d", n_inputs=n_in, n=args.n)
        rows = []
        for cells in (8, 16, 32):
            def make(coef_range: float) -> Callable[[], KAN]:
                return lambda: KAN([n_in, hidden, 1], grid=(-1.0, 1.0, cells), bits=args.bits, coef_range=coef_range)
            old = best_lr(make(4.0), stream, rounding=args.rounding)
            new = best_lr(make(2.0), stream, rounding=args.rounding)
            faster = best_lr(make(2.0), stream, hidden_faster, rounding=args.rounding)
            rows.append([str(cells), f"{old[0]:.3e} ({old[1]:g})", f"{new[0]:.3e} ({new[1]:g})",
                         f"{old[0] / new[0]:.2f}x", f"{faster[0]:.3e} ({faster[1]:g})", str(new[2])])
        print(f"\nKAN [{n_in}, {hidden}, 1], {args.bits}-bit, {args.rounding} rounding, drift2d n_inputs={n_in} "
              f"(n = {stream.n}, {stream.n_regimes} regimes), MSE (best lr), at the pipelined D")
        print(_table(["G", "old: coef +-4", "new: coef +-2", "old / new",
                      f"coef +-2, hidden lr x{HIDDEN_LR_FACTOR:g}", "D"], rows))
    stream = make_task("qubit_trace")
    rows = []
    for bits in (8, 16):
        def make_kan() -> KAN:
            return KAN([6, 2, 1], bits=bits, coef_range=2.0)
        one = best_lr(make_kan, stream, rounding=args.rounding, higher_is_better=True)
        faster = best_lr(make_kan, stream, hidden_faster, rounding=args.rounding, higher_is_better=True)
        rows.append([str(bits), f"{one[0]:.4f} ({one[1]:g})", f"{faster[0]:.4f} ({faster[1]:g})", str(one[2])])
    print(f"\nthe same rule on qubit_trace, KAN [6, 2, 1], accuracy (best lr), {args.rounding} rounding")
    print(_table(["bits", "one lr", f"hidden lr x{HIDDEN_LR_FACTOR:g}", "D"], rows))


def lrpairs(args: argparse.Namespace) -> None:
    """Why the [2, 4, 1] KAN does not improve past G = 16: every (hidden, output) pair of rates,
    and the float64 twin at the best single rate (is it quantization?)."""
    stream = make_task("drift2d", n=args.n)
    rates = [2.0 ** -k for k in range(1, 9)]
    rows = []
    for cells in (8, 16, 32):
        def make() -> KAN:
            return KAN([2, 4, 1], grid=(-1.0, 1.0, cells), bits=args.bits, coef_range=2.0)
        pairs = {(a, b): score(make(), stream, [a, b], args.rounding)[0] for a in rates for b in rates}
        (hidden, output), best = min(pairs.items(), key=lambda kv: kv[1])
        lr = min(rates, key=lambda r: pairs[(r, r)])
        r = train(make(), stream, lr=lr, rounding=args.rounding, show_progress=False, engine="compiled", check_delay=False)
        twin = float(np.mean([fl for _, _, fl in r.per_regime()]))
        rows.append([str(cells), f"{best:.3e} (hidden {hidden:g}, output {output:g})", f"{pairs[(lr, lr)]:.3e} ({lr:g})",
                     f"{twin:.3e}", str(r.delays)])
    print(f"\nKAN [2, 4, 1], {args.bits}-bit, {args.rounding} rounding, coef +-2, drift2d (n = {stream.n}, "
          f"{stream.n_regimes} regimes), MSE at the pipelined D; rates: powers of two 2^-1..2^-8")
    print(_table(["G", "best (hidden, output) pair", "best single lr", "float64 twin at that lr", "D"], rows))


def capacity(args: argparse.Namespace) -> None:
    """drift2d with 4 and 8 inputs: does a larger model learn it better (is capacity what counts)?"""
    rows = []
    for n_in in (4, 8):
        stream = make_task("drift2d", n_inputs=n_in, n=args.n)
        for make in (lambda: KAN([n_in, 1], bits=args.bits, coef_range=2.0),
                     lambda: KAN([n_in, 4, 1], bits=args.bits, coef_range=2.0),
                     lambda: KAN([n_in, 2 * n_in + 1, 1], bits=args.bits, coef_range=2.0),
                     lambda: MLP([n_in, 8, 1], bits=args.bits), lambda: MLP([n_in, 32, 1], bits=args.bits)):
            model = make()
            value, lr, delays = best_lr(make, stream, rounding=args.rounding)
            rows.append([str(n_in), f"{model.kind.upper()} {model.layers}", str(sum(a.size for a in model.parameters())),
                         f"{value:.3e} ({lr:g})", str(delays)])
    print(f"\ndrift2d (n = {args.n}, 3 regimes), {args.bits}-bit, {args.rounding} rounding, MSE (best lr), "
          "at the pipelined D")
    print(_table(["inputs", "model", "parameters", "MSE", "D"], rows))


def coef(args: argparse.Namespace) -> None:
    """The coefficient range (integer bits of the coefficient type) against the width."""
    for name, kw in (("drift", {}), ("drift2d", {}), ("qubit_trace", {})):
        stream = make_task(name, **kw)
        layers = {"drift": [1, 1], "drift2d": [2, 5, 1], "qubit_trace": [6, 2, 1]}[name]
        accuracy = stream.metric == "accuracy"
        rows = []
        for bits in args.bits:
            row = [str(bits)]
            for coef_range in (4.0, 2.0, 1.0):
                v, lr, delays = best_lr(lambda: KAN(layers, bits=bits, coef_range=coef_range), stream,
                                        higher_is_better=accuracy)
                row.append(f"{v:.4f} ({lr:g})" if accuracy else f"{v:.3e} ({lr:g})")
            rows.append(row + [str(delays)])
        print(f"\n{name}, KAN {layers}, {stream.metric} (best lr), type rounding, at the pipelined D")
        print(_table(["bits", "coef +-4 (<N,3>)", "coef +-2 (<N,2>)", "coef +-1 (<N,1>)", "D"], rows))


def rounding(args: argparse.Namespace) -> None:
    """Type vs stochastic rounding of the update for every example config, each at its best lr."""
    from quantkan.config import load_config
    from quantkan.train import build_run

    rows = []
    for path, bits in ((p, b) for p in sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))
                       for b in args.bits):
        config = load_config(path)
        row = [f"{path.name}, {bits}-bit"]
        for mode in ("type", "stochastic"):
            runs = []
            for lr in LRS:
                model, stream, learning = build_run(config, {"bits": bits, "learning": {"lr": lr, "rounding": mode}})
                value, delays = score(model, stream, lr, mode)
                runs.append(((-value if stream.metric == "accuracy" else value), lr, delays))
            value, lr, delays = min(runs, key=lambda r: r[0])
            row.append(f"{abs(value):.4f} ({lr:g})" if stream.metric == "accuracy" else f"{value:.3e} ({lr:g})")
        rows.append([*row[:1], f"{model.kind.upper()} {model.layers}", stream.name, *row[1:], str(delays)])
    print("\nupdate rounding of the examples: metric (best lr), each config's model and task, at the pipelined D")
    print(_table(["example", "model", "task", "type", "stochastic", "D"], rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", choices=("qubit", "grid", "lrpairs", "capacity", "coef", "rounding"))
    p.add_argument("--bits", type=int, nargs="+", help="widths (default: per study)")
    p.add_argument("--seeds", type=int, default=5, help="seeds of the qubit table")
    p.add_argument("--n", type=int, default=20000, help="samples of the grid study's stream")
    p.add_argument("--rounding", default="type", choices=("type", "stochastic"))
    args = p.parse_args()
    if args.bits is None:
        args.bits = {"qubit": [8, 10, 12, 16], "grid": [16], "coef": [6, 8, 10, 12, 16], "rounding": [8, 16],
                     "lrpairs": [16], "capacity": [16]}[args.study]
    if args.study in ("grid", "lrpairs", "capacity"):
        args.bits = args.bits[0]
    started = time.perf_counter()
    {"qubit": qubit, "grid": grid, "lrpairs": lrpairs, "capacity": capacity, "coef": coef,
     "rounding": rounding}[args.study](args)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
