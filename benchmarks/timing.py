"""The learning step in nanoseconds: post-route Fmax of the bare KAN learner, and what its D costs.

For each model (the [1, 1] and [2, 4, 1] 16-bit KANs and 12-bit variants, G = 8, S = 3; and a
[1, 2, 1], to try a change on two layers in minutes) and
pipeline (deep, deeper, shallow): cycles (latency, learning step), D per layer, post-route Fmax out of
context on each device (yowasp yosys + nextpnr, :mod:`quantkan.rtl.fmax`), the step in ns,
samples/s at II = 1, LUT/FF/DSP as nextpnr counts them, the critical stage, and the golden
learner's MSE on a drifting task at the hardware's D next to D = 0 (the clock must not be bought
with learning).  [1, 1] and [1, 2, 1] learn ``drift`` (one input), [2, 4, 1] ``drift2d``.

    .venv/bin/python benchmarks/timing.py [--devices ecp5-85f-8 ecp5-85f-6 up5k] [--pipelines deep deeper shallow]
        [--models 11 241 11-12 241-12 121] [--seeds 1] [--out build/bench_timing]

Place and route of a [2, 4, 1] takes several minutes per device on two cores.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from quantkan.models import KAN
from quantkan.options import positive_float
from quantkan.rtl import PIPELINES
from quantkan.rtl.fmax import DEVICES, RouteTimeout, place_route
from quantkan.rtl.kan import timing_of
from quantkan.tasks import make_task
from quantkan.train import train

MODELS = {
    "11": ("[1, 1] 16-bit", [1, 1], 16, "drift"),
    "241": ("[2, 4, 1] 16-bit", [2, 4, 1], 16, "drift2d"),
    "121": ("[1, 2, 1] 16-bit", [1, 2, 1], 16, "drift"),  # a two-layer learner that places in minutes
    "11-12": ("[1, 1] 12-bit", [1, 1], 12, "drift"),
    "241-12": ("[2, 4, 1] 12-bit", [2, 4, 1], 12, "drift2d"),
}
DEFAULT_MODELS = ["11", "241", "11-12"]  # a [2, 4, 1] place and route takes about 25 minutes per device here
LR = 2.0 ** -4


def make(layers: list[int], bits: int) -> KAN:
    return KAN(layers, grid=(-1.0, 1.0, 8), order=3, bits=bits)


def mse(layers: list[int], bits: int, task: str, delays: list[int]) -> float:
    """The golden learner's online MSE (prediction before learning, every sample) on ``task``."""
    stream = make_task(task, n=6000, seed=0)
    result = train(make(layers, bits), stream, lr=LR, delay=delays, twin=False, show_progress=False)
    return float(np.mean((result.fixed - stream.target) ** 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=DEFAULT_MODELS)
    parser.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument("--devices", nargs="+", choices=tuple(DEVICES), default=["ecp5-85f-8", "ecp5-85f-6", "up5k"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--out", default="build/bench_timing")
    parser.add_argument("--nextpnr-opts", type=shlex.split, default=[],
                        help="more nextpnr options (quantkan timing --nextpnr-opts)")
    parser.add_argument("--timeout", type=positive_float, metavar="MINUTES",
                        help="stop a seed's place and route after this long (quantkan timing --timeout)")
    args = parser.parse_args()

    rows = []
    for key in args.models:
        title, layers, bits, task = MODELS[key]
        for pipeline in args.pipelines:
            t = timing_of(make(layers, bits), pipeline=pipeline, lr=LR)
            cost = (mse(layers, bits, task, t.delays), mse(layers, bits, task, [0] * len(t.delays)))
            for device in args.devices:
                print(f"== {title}, {pipeline}, {device}", file=sys.stderr, flush=True)
                folder = Path(args.out) / f"{key}-{pipeline}-{DEVICES[device].family}"
                try:
                    r = place_route(make(layers, bits), device, folder, seeds=tuple(args.seeds), pipeline=pipeline,
                                    lr=LR, nextpnr_opts=tuple(args.nextpnr_opts),
                                    timeout=None if args.timeout is None else args.timeout * 60)
                except ValueError as err:  # does not fit
                    rows.append((title, pipeline, device, t, cost, None, str(err).split(":")[0]))
                    continue
                except RouteTimeout:
                    rows.append((title, pipeline, device, t, cost, None, f"not routed in {args.timeout:g} min"))
                    continue
                rows.append((title, pipeline, device, t, cost, r, ""))

    print(f"KAN G = 8, S = 3, pipelined (II = 1); post-route Fmax (min over seeds {args.seeds}) out of context, "
          f"yowasp nextpnr; golden MSE over 6000 samples, lr {LR}")
    head = (f"| model | pipeline | device | latency / step (cycles) | D | Fmax (MHz) | step (ns) | samples/s | "
            f"LUT / FF / DSP | critical stage | MSE at D | MSE at D = 0 |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for title, pipeline, device, t, (at_d, at_0), r, why in rows:
        common = f"| {title} | {pipeline} | {device} | {t.latency} / {t.step} | {t.delays} "
        if r is None:
            print(common + f"| {why} | | | | | | {at_d:.3e} | {at_0:.3e} |")
            continue
        u = r.utilization
        lut = u.get("TRELLIS_COMB", u.get("ICESTORM_LC", 0))
        ff = u.get("TRELLIS_FF", 0)
        dsp = u.get("MULT18X18D", u.get("ICESTORM_DSP", 0))
        print(common + f"| {r.fmax_min:.1f} | {r.ns(t.step):.0f} | {r.fmax_min * 1e6 / t.ii:.3g} | "
              f"{lut} / {ff or 'in LC'} / {dsp} | {r.worst.source_stage} -> {r.worst.sink_stage} | "
              f"{at_d:.3e} | {at_0:.3e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
