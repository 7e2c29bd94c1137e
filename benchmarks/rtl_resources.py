"""Resources of the pipelined KAN learner as the grid grows: yosys synth_xilinx -family xcup.

A [2, 4, 1] KAN, S = 3, 16-bit default types, G = 8, 16, 32, 64.  Spline locality says the
datapath (multipliers, adder trees, casts) does not depend on G; only coefficient storage
(LUTRAM) and the few bits of the cell index grow.  Prints LUT/FF/DSP/CARRY/LUTRAM per G,
the growth of logic (LUT + FF + SRL: everything but LUTRAM, BRAM and DSP) from the first G, and the learner's cycle counts.

    .venv/bin/python benchmarks/rtl_resources.py [--grids 8 16 32 64] [--layers 2 4 1] [--out build/bench_rtl]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quantkan.models import KAN
from quantkan.rtl.export import export_verilog
from quantkan.rtl.kan import timing_of
from quantkan.rtl.synth import synth_xilinx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 4, 1])
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--bits", type=int, default=16)
    parser.add_argument("--schedule", default="pipelined")
    parser.add_argument("--out", default="build/bench_rtl")
    args = parser.parse_args()

    rows = []
    for g in args.grids:
        model = KAN(args.layers, grid=(-1.0, 1.0, g), order=args.order, bits=args.bits)
        t = timing_of(model, args.schedule)
        path = export_verilog(model, Path(args.out) / f"G{g}", schedule=args.schedule)
        print(f"G = {g}: synthesizing {path} ...", file=sys.stderr, flush=True)
        res = synth_xilinx(path, path.stem)
        rows.append((g, t, res))

    print(f"KAN {args.layers}, S = {args.order}, {args.bits}-bit, {args.schedule}; "
          "yosys synth_xilinx -family xcup (classic abc LUT mapping)")
    print(f"{'G':>4}{'coefs':>7}{'LUT':>8}{'FF':>8}{'SRL':>6}{'DSP':>6}{'CARRY':>7}{'LUTRAM':>8}{'BRAM':>6}"
          f"{'LUT+FF+SRL vs first':>21}{'latency':>9}{'step':>6}{'II':>4}")
    base = rows[0][2].lut + rows[0][2].ff + rows[0][2].srl
    for g, t, r in rows:
        n_coef = sum(a * b for a, b in zip(args.layers, args.layers[1:])) * (g + args.order)
        growth = (r.lut + r.ff + r.srl) / base - 1
        print(f"{g:>4}{n_coef:>7}{r.lut:>8}{r.ff:>8}{r.srl:>6}{r.dsp:>6}{r.carry:>7}{r.lutram:>8}{r.bram:>6}"
              f"{growth:>+20.1%} {t.latency:>9}{t.step:>6}{t.ii:>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
