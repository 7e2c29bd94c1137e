"""The ``quantkan`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from quantkan.fixed import FixedType, Rounding, add, cast


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quantkan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("quantize", help="show how values quantize to an ap_fixed type")
    p.add_argument("type", help="e.g. 'ap_fixed<8,3,AP_RND_CONV,AP_SAT>'")
    p.add_argument("values", nargs="+", type=float)
    p.set_defaults(run=_quantize)
    p = sub.add_parser("demo", help="run the default example")
    p.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as err:
        print(f"quantkan: error: {err}", file=sys.stderr)
        return 2
