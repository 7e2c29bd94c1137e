"""Golden-model throughput in samples/s: fixed-point learners and their float twins.

A [2, 4, 1] KAN (G = 8, S = 3, 16-bit) against an MLP of similar parameter count,
each learning on the 2-input drifting regression; all four timed in one run.

    .venv/bin/python benchmarks/golden_throughput.py [--n 3000]
"""

from __future__ import annotations

import argparse
import time

from quantkan.golden import OnlineLearner
from quantkan.models import KAN, MLP
from quantkan.tasks import make_task
from quantkan.twin import FloatLearner


def n_params(model) -> int:
    return sum(p.size for p in model.parameters())


def rate(learner, stream) -> float:
    start = time.perf_counter()
    for x, target in stream:
        learner.step(x, target)
    return stream.n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="samples per measurement")
    args = parser.parse_args()
    stream = make_task("drift2d", n=args.n)
    kan = KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=16)
    hidden = max(1, round((n_params(kan) - 1) / 4))  # [2, h, 1] has 4h + 1 parameters
    mlp = MLP([2, hidden, 1], bits=16)
    print(f"{'model':<44}{'params':>8}{'fixed samples/s':>18}{'float samples/s':>18}")
    for model in (kan, mlp):
        fixed_rate = rate(OnlineLearner(model, lr=2.0 ** -4, rounding="stochastic"), stream)
        float_rate = rate(FloatLearner(model, lr=2.0 ** -4), stream)
        print(f"{model!r:<44.44}{n_params(model):>8}{fixed_rate:>18,.0f}{float_rate:>18,.0f}")


if __name__ == "__main__":
    main()
