"""C-simulation speed of the exported HLS learners, next to the golden model, in one run.

The [2, 4, 1] KAN (G = 8, S = 3, 16-bit) and an MLP of similar parameter count learn the
2-input drifting regression (the models of golden_throughput.py).  For each: the golden learner (Python), the compiled firmware
called once per sample (``step_raw``, a ctypes call each) and once per stream
(``run_raw``, the loop in C++), all in samples/s, plus the g++ build time (a cached
build counts as 0).

    .venv/bin/python benchmarks/hls_csim_throughput.py [--n 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from quantkan import hls
from quantkan.golden import OnlineLearner
from quantkan.models import KAN, MLP
from quantkan.tasks import make_task


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    stream = make_task("drift2d", n=args.n, seed=0)
    kan_params = 2 * 4 + 4 * 1  # edges
    hidden = round(((8 + 3) * kan_params - 1) / 4)  # [2, h, 1] has 4h + 1 parameters: as many as the KAN
    models = {"KAN [2,4,1] G=8 S=3": lambda: KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=16),
              f"MLP [2,{hidden},1]": lambda: MLP([2, hidden, 1], bits=16)}
    print(f"{stream.n} samples of {stream.name}; samples/s (higher is better)")
    print(f"{'model':<22}{'params':>7}{'golden':>10}{'csim step':>11}{'csim run':>11}{'g++ s':>7}")
    for name, make in models.items():
        model = make()
        x, t = model.types.input.quantize(stream.x), model.types.output.quantize(stream.target)
        golden = OnlineLearner(make(), lr=2 ** -4)
        g = stream.n / timed(lambda: [golden.step_raw(a, b) for a, b in zip(x, t)])
        with tempfile.TemporaryDirectory() as tmp:
            project = hls.export(model, tmp, lr=2 ** -4)
            build = timed(lambda: hls.compile(project))
            per_call = hls.compile(project)
            s = stream.n / timed(lambda: [per_call.step_raw(a, b) for a, b in zip(x, t)])
            batch = hls.compile(project)
            r = stream.n / timed(lambda: batch.run_raw(x, t, np.ones(stream.n, bool)))
        params = sum(p.size for p in model.parameters())
        print(f"{name:<22}{params:>7}{g:>10,.0f}{s:>11,.0f}{r:>11,.0f}{build:>7.1f}")


if __name__ == "__main__":
    main()
