"""What fixed point costs: KAN vs MLP on the drifting 1-D regression at 8, 10, 12, 16 bits.

MSE over the last 20% of each regime for the fixed-point golden learner and its
float64 twin (same initial parameters, same lr), printed side by side, at the update delay D
of each model's pipelined hardware (printed per row; ``--schedule sequential`` for D = 0).

    .venv/bin/python benchmarks/bits_sweep.py [--n 6000] [--rounding stochastic]
"""

from __future__ import annotations

import argparse

from quantkan.models import KAN, MLP
from quantkan.rtl import SCHEDULES
from quantkan.tasks import make_task
from quantkan.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--lr", type=float, default=0.125)
    parser.add_argument("--rounding", choices=("type", "stochastic"), default="stochastic")
    parser.add_argument("--schedule", choices=SCHEDULES, default="pipelined")
    args = parser.parse_args()
    stream = make_task("drift", n=args.n)
    regimes = range(stream.n_regimes)
    head = "".join(f"{f'r{r} fixed':>11}{f'r{r} float':>11}" for r in regimes)
    print(f"drift, {args.n} samples, lr {args.lr}, update rounding {args.rounding}; "
          "MSE over the last 20% of each regime")
    print(f"{'model':<10}{'bits':>5}{head}  D")
    for name, make in (("KAN[1,1]", lambda b: KAN([1, 1], grid=(-1.0, 1.0, 8), order=3, bits=b)),
                       ("MLP[1,8,1]", lambda b: MLP([1, 8, 1], bits=b))):
        for bits in (8, 10, 12, 16):
            result = train(make(bits), stream, lr=args.lr, rounding=args.rounding, show_progress=False,
                           schedule=args.schedule, check_delay=False)
            cells = "".join(f"{fx:11.2e}{fl:11.2e}" for _, fx, fl in result.per_regime())
            print(f"{name:<10}{bits:>5}{cells}  {result.delays}")


if __name__ == "__main__":
    main()
