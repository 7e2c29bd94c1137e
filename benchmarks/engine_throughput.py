"""Online-step throughput of the [2, 4, 1] KAN: golden, compiled engine, engine population, HLS C++ loop.

All four in one run on the 2-input drifting regression (G = 8, S = 3, 16-bit, lr 2**-4,
stochastic rounding): samples/s (learner-steps/s for the population) as the median of
``--rounds`` wall-clock timings, the CPU time of the same rounds (the machine may be
shared), and each rate's ratio to the golden model.  Every engine's outputs are checked
bit for bit against the golden model on the golden's samples before timing counts.

    .venv/bin/python benchmarks/engine_throughput.py [--n 20000] [--population 1024]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np

from quantkan import hls
from quantkan.engine import EngineLearner, Population
from quantkan.golden import OnlineLearner
from quantkan.models import KAN
from quantkan.tasks import make_task

LR, ROUNDING = 2.0 ** -4, "stochastic"


def make(seed: int = 0) -> KAN:
    return KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=16, seed=seed)


def timed(setup: Callable[[], object], run: Callable[[object], object], rounds: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``rounds`` calls of ``run`` on a fresh ``setup()`` (not timed)."""
    wall, cpu = [], []
    for _ in range(rounds):
        learner = setup()
        w, c = time.perf_counter(), time.process_time()
        run(learner)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="samples per engine / C++ round")
    parser.add_argument("--golden-n", type=int, default=1500, help="samples per golden round")
    parser.add_argument("--population", type=int, default=1024, help="learners in the population")
    parser.add_argument("--population-n", type=int, default=2000, help="samples per population round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stream = make_task("drift2d", n=args.n, seed=0)
    ty = make().types
    x, t = ty.input.quantize(stream.x), ty.output.quantize(stream.target)
    g = args.golden_n

    def golden() -> OnlineLearner:
        return OnlineLearner(make(), lr=LR, rounding=ROUNDING)

    def engine() -> EngineLearner:
        return EngineLearner(make(), lr=LR, rounding=ROUNDING)

    def golden_run(learner: OnlineLearner) -> np.ndarray:
        return np.array([learner.step_raw(a, b) for a, b in zip(x[:g], t[:g])])

    golden_y = golden_run(golden())
    start = time.perf_counter()
    engine().run_raw(x[:2], t[:2])  # compile, or load numba's cache
    load_s = time.perf_counter() - start
    assert np.array_equal(engine().run_raw(x[:g], t[:g]), golden_y), "engine differs from golden"

    rows: list[tuple[str, int, float, float]] = []
    wall, cpu = timed(golden, golden_run, max(1, args.rounds // 2))
    rows.append(("golden (NumPy step_raw)", g, wall, cpu))
    wall, cpu = timed(engine, lambda e: e.run_raw(x, t), args.rounds)
    rows.append(("engine (numba, one stream)", args.n, wall, cpu))

    pn, size = args.population_n, args.population
    models = [make(seed) for seed in range(size)]

    def population() -> Population:
        return Population([OnlineLearner(m, lr=LR, rounding=ROUNDING, seed=s) for s, m in enumerate(models)])

    start = time.perf_counter()
    population()
    build_s = time.perf_counter() - start
    wall, cpu = timed(population, lambda pop: pop.run_raw(x[:pn], t[:pn]), max(1, args.rounds // 2))
    rows.append((f"engine population ({size} learners)", size * pn, wall, cpu))

    with tempfile.TemporaryDirectory() as tmp:
        project = hls.export(make(), tmp, lr=LR, rounding=ROUNDING)
        start = time.perf_counter()
        hls.compile(project)
        gxx_s = time.perf_counter() - start
        cpp_y = hls.compile(project).run_raw(x[:g], t[:g], True)
        assert np.array_equal(cpp_y, golden_y), "HLS C++ differs from golden"
        wall, cpu = timed(lambda: hls.compile(project), lambda c: c.run_raw(x, t, True), args.rounds)
        rows.append(("HLS C++ loop (g++ -O2, run_raw)", args.n, wall, cpu))

    print(f"[2,4,1] KAN G=8 S=3 16-bit, drift2d, lr {LR}, {ROUNDING} rounding; median of rounds")
    print(f"numba load/compile {load_s:.1f} s, population of {size} built in {build_s:.1f} s, "
          f"g++ build {gxx_s:.1f} s (a cached build is a copy); construction is not timed")
    print(f"{'':<36}{'steps':>10}{'steps/s wall':>15}{'steps/s CPU':>14}{'x golden':>10}{'x C++':>8}")
    rates = {name: (n / wall, n / cpu) for name, n, wall, cpu in rows}
    base, cxx = rates[rows[0][0]][0], rates[rows[-1][0]][0]
    for name, n, wall, cpu in rows:
        w, c = rates[name]
        print(f"{name:<36}{n:>10,}{w:>15,.0f}{c:>14,.0f}{w / base:>10,.0f}{w / cxx:>8.2f}")


if __name__ == "__main__":
    main()
