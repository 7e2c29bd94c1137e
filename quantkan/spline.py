"""B-spline basis and derivative lookup tables on a uniform grid, as hardware uses them.

The grid covers ``[lo, hi)`` with ``cells`` (G) cells of width ``h``; a spline of
order S (degree S, 1..5) has G+S coefficients per edge.  An input ``x`` has grid
coordinate ``t = (x - lo) / h``, cell ``k = floor(t)`` clamped to ``[0, G-1]`` and
local position ``u = t - k``.  In cell ``k`` exactly S+1 basis functions are
non-zero; they are the S+1 pieces ``B_0..B_S(u)`` of the cardinal (uniform)
B-spline and multiply coefficients ``c[k+0] .. c[k+S]``.  With knots at grid
coordinates ``-S .. G+S``, ``B_m(u) = N_{k+m,S}(lo + (k+u) h)``.

Hardware reads ``B_m`` from a table indexed by the top ``lut_bits`` (L) bits of
``u``: row ``r`` holds the pieces at the row's *left edge* ``u = r / 2**L`` (so
``u = 0``, a knot, is exact).  The quantized rows sum to exactly one LSB-for-LSB,
so partition of unity survives quantization.  The float twin of a model uses the
exact pieces at the exact ``u`` (:func:`basis`), not the table.

Clamping at the grid edges (:meth:`Grid.locate`), decided on the float64 ``t``:

* ``t < 0`` (below ``lo``): ``k = 0``, ``u = 0`` -- the spline's value at ``lo``.
* ``t >= G`` (at/above ``hi``): ``k = G-1`` and ``u`` = the last table row,
  ``1 - 2**-L``, when ``lut_bits`` is given (what hardware reads); otherwise the
  largest float64 below 1, so ``u`` stays in ``[0, 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from quantkan.fixed import FixedType

__all__ = [
    "MAX_ORDER",
    "MAX_LUT_BITS",
    "Grid",
    "basis",
    "basis_derivative",
    "SplineTables",
    "build_tables",
]

MAX_ORDER = 5
MAX_LUT_BITS = 16


def _check_int(value: object, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {value}")
    return int(value)


def _check_order(order: object) -> int:
    return _check_int(order, "spline order", 1, MAX_ORDER)


def _check_lut_bits(lut_bits: object) -> int:
    return _check_int(lut_bits, "lut_bits", 1, MAX_LUT_BITS)


@dataclass(frozen=True)
class Grid:
    """A uniform grid of ``cells`` cells on ``[lo, hi)``."""

    lo: float
    hi: float
    cells: int

    def __post_init__(self) -> None:
        for name in ("lo", "hi"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"grid {name} must be a real number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"grid {name} must be finite, got {value}")
            object.__setattr__(self, name, float(value))
        if isinstance(self.cells, bool) or not isinstance(self.cells, (int, np.integer)):
            raise ValueError(f"grid cells must be an integer, got {self.cells!r}")
        if self.cells < 1:
            raise ValueError(f"grid cells must be >= 1, got {self.cells}")
        object.__setattr__(self, "cells", int(self.cells))
        if not self.hi > self.lo:
            raise ValueError(f"grid hi must be greater than lo, got lo={self.lo}, hi={self.hi}")
        h = (self.hi - self.lo) / self.cells
        if not (math.isfinite(h) and h > 0):
            raise ValueError(
                f"grid cell width (hi - lo) / cells = {h} is not a positive finite number "
                f"(lo={self.lo}, hi={self.hi}, cells={self.cells})")

    @property
    def h(self) -> float:
        """Cell width."""
        return (self.hi - self.lo) / self.cells

    def num_coefficients(self, order: int) -> int:
        """Coefficients per edge: G + S."""
        return self.cells + _check_order(order)

    def locate(self, x: object, lut_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cell ``k`` (int64) and local position ``u`` (float64) of each ``x``, clamped.

        Below ``lo``: ``(0, 0.0)``.  At/above ``hi``: ``(G-1, 1 - 2**-lut_bits)``, the
        last table row, or ``(G-1, largest float below 1)`` without ``lut_bits``.
        """
        top = np.nextafter(1.0, 0.0) if lut_bits is None else 1.0 - 2.0**-_check_lut_bits(lut_bits)
        xs = np.asarray(x, dtype=np.float64)
        if np.isnan(xs).any():
            raise ValueError("cannot locate NaN on the spline grid")
        t = (xs - self.lo) / self.h
        below, above = t < 0, t >= self.cells
        cell = np.clip(np.floor(np.where(below | above, 0.0, t)), 0, self.cells - 1)
        u = t - cell  # exact for t >= 0 (Sterbenz), and in [0, 1)
        u = np.where(below, 0.0, np.where(above, top, u))
        k = np.where(above, self.cells - 1, cell).astype(np.int64)
        return k, u


# -- exact pieces ----------------------------------------------------------
def _pieces(u: np.ndarray, degree: int) -> np.ndarray:
    """Cox-de Boor on uniform knots, restricted to one cell: the degree+1 pieces.

    ``P_m^d(u) = ((u + d - m) P_{m-1}^{d-1} + (m + 1 - u) P_m^{d-1}) / d``; all
    factors are non-negative on [0, 1], so no cancellation there.
    """
    prev = [np.ones_like(u)]
    for d in range(1, degree + 1):
        cur = []
        for m in range(d + 1):
            acc = np.zeros_like(u)
            if m >= 1:
                acc = acc + (u + (d - m)) * prev[m - 1]
            if m < d:
                acc = acc + ((m + 1) - u) * prev[m]
            cur.append(acc / d)
        prev = cur
    return np.stack(prev, axis=-1)


def basis(u: object, order: int) -> np.ndarray:
    """Exact pieces ``B_0..B_S(u)``, shape ``u.shape + (S+1,)``, float64.

    Meant for ``u`` in [0, 1]; elsewhere it extends the same polynomial pieces
    (no support cut-off), which keeps finite differences at the ends smooth.
    """
    order = _check_order(order)
    return _pieces(np.asarray(u, dtype=np.float64), order)


def basis_derivative(u: object, order: int) -> np.ndarray:
    """``dB_m/du`` of :func:`basis`; divide by ``h`` for ``d/dx``.

    Uses ``B_m^S' = B_{m-1}^{S-1} - B_m^{S-1}`` (zero outside ``0..S-1``).
    """
    order = _check_order(order)
    low = _pieces(np.asarray(u, dtype=np.float64), order - 1)
    pad = [(0, 0)] * (low.ndim - 1) + [(1, 1)]
    return -np.diff(np.pad(low, pad), axis=-1)


# -- tables ----------------------------------------------------------------
def _integer_pieces(lut_bits: int, degree: int) -> tuple[np.ndarray, int]:
    """Pieces at ``u = r / 2**L`` as exact integers over a common denominator.

    Returns ``(P, D)`` with ``B_m(r / 2**L) = P[r, m] / D`` and ``D = degree! * 2**(L*degree)``
    (Python ints in an object array: D reaches ~2**87).
    """
    one = 1 << lut_bits
    r = np.array([int(i) for i in range(one)], dtype=object)
    prev = [np.full(one, 1, dtype=object)]
    for d in range(1, degree + 1):
        cur = []
        for m in range(d + 1):
            acc = np.zeros(one, dtype=object)
            if m >= 1:
                acc = acc + (r + (d - m) * one) * prev[m - 1]
            if m < d:
                acc = acc + ((m + 1) * one - r) * prev[m]
            cur.append(acc)
        prev = cur
    return np.stack(prev, axis=-1), math.factorial(degree) << (lut_bits * degree)


def _check_basis_type(t: FixedType) -> None:
    if not isinstance(t, FixedType):
        raise ValueError(f"basis_type must be a FixedType, got {t!r}")
    t.require_int64("the basis table")
    if t.frac < 0 or (1 << t.frac) > t.max_raw:
        hint = f"; try ap_ufixed<{t.width},1> or ap_fixed<{t.width + 1},2>" if t.frac >= 1 else ""
        raise ValueError(
            f"basis type {t.short()} cannot represent 1.0 (range {t.min}..{t.max}), so its rows "
            f"cannot sum to exactly one{hint}")
    if t.frac < 1:
        raise ValueError(
            f"basis type {t.short()} has too few bits: no fractional bit, every basis value "
            "would be 0 or 1")


def _quantize_rows(P: np.ndarray, D: int, frac: int) -> np.ndarray:
    """Raw basis rows summing to exactly ``2**frac``: largest-remainder rounding.

    Each entry is ``floor(B * 2**frac)``; the LSBs still missing from the row
    total go to the entries with the largest remainders (ties: lower m first).
    Remainders are exact integers, so the result does not depend on float error.
    """
    scaled = P * (1 << frac)
    q = scaled // D
    rem = scaled - q * D
    rows, width = P.shape
    deficit = np.array([(1 << frac) - int(s) for s in q.sum(axis=1)], dtype=np.int64)
    if (deficit < 0).any() or (deficit > width).any():  # impossible: exact sums are 2**frac
        raise AssertionError("basis rows do not sum to one; this is a bug")
    order = np.argsort(-rem, axis=1, kind="stable")
    rank = np.empty((rows, width), dtype=np.int64)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(width), (rows, width)), axis=1)
    return q.astype(np.int64) + (rank < deficit[:, None])


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class SplineTables:
    """Basis and derivative tables for one grid, order and ``lut_bits``.

    Row ``r`` stands for ``u = r / 2**lut_bits``.  ``basis_raw`` is in ``basis_type``
    (rows sum to exactly ``2**basis_type.frac``), ``deriv_raw`` in ``deriv_type`` and
    holds ``dB_m/du / h`` (d/dx).  ``basis_exact`` and ``deriv_exact`` are the
    float64 values the raw tables approximate.  All arrays are read-only.
    """

    grid: Grid
    order: int
    lut_bits: int
    basis_type: FixedType
    deriv_type: FixedType
    basis_raw: np.ndarray = field(repr=False)
    deriv_raw: np.ndarray = field(repr=False)
    basis_exact: np.ndarray = field(repr=False)
    deriv_exact: np.ndarray = field(repr=False)

    @property
    def rows_u(self) -> np.ndarray:
        """The ``u`` each row stands for: ``r / 2**lut_bits``."""
        return np.arange(1 << self.lut_bits) / float(1 << self.lut_bits)

    def row(self, u: object) -> np.ndarray:
        """Table row of each ``u``: its top ``lut_bits`` bits, ``floor(u * 2**L)`` clamped."""
        n = 1 << self.lut_bits
        return np.clip(np.floor(np.asarray(u, dtype=np.float64) * n), 0, n - 1).astype(np.int64)


def build_tables(grid: Grid, order: int, lut_bits: int,
                 basis_type: FixedType, deriv_type: FixedType) -> SplineTables:
    """Quantized basis and derivative tables for hardware.

    Basis: largest-remainder rounding so every row sums to exactly one (each entry
    within 1 LSB of exact; the type's own rounding mode is for run-time casts and
    is not used).  Derivative: round to nearest (ties to even); values outside
    ``deriv_type`` raise instead of saturating.
    """
    if not isinstance(grid, Grid):
        raise ValueError(f"grid must be a Grid, got {grid!r}")
    order = _check_order(order)
    lut_bits = _check_lut_bits(lut_bits)
    _check_basis_type(basis_type)
    if not isinstance(deriv_type, FixedType):
        raise ValueError(f"deriv_type must be a FixedType, got {deriv_type!r}")
    deriv_type.require_int64("the derivative table")
    if not deriv_type.signed:
        raise ValueError(
            f"derivative type {deriv_type.short()} must be signed: basis derivatives are negative")

    P, D = _integer_pieces(lut_bits, order)
    basis_raw = _quantize_rows(P, D, basis_type.frac)
    u = np.arange(1 << lut_bits) / float(1 << lut_bits)
    basis_exact = basis(u, order)
    deriv_exact = basis_derivative(u, order) / grid.h

    scaled = np.rint(np.ldexp(deriv_exact, deriv_type.frac))  # rint: nearest, ties to even
    bad = ~((scaled >= deriv_type.min_raw) & (scaled <= deriv_type.max_raw))
    if bad.any():
        worst = float(np.max(np.abs(deriv_exact)))
        raise ValueError(
            f"derivative table overflows {deriv_type.short()} (range {deriv_type.min}..{deriv_type.max}): "
            f"|dB/dx| reaches {worst:g} with h = {grid.h:g}; add integer bits")
    deriv_raw = scaled.astype(np.int64)
    if not deriv_raw.any():
        raise ValueError(
            f"derivative type {deriv_type.short()} has too few fractional bits: every entry of the "
            f"derivative table (|dB/dx| <= {float(np.max(np.abs(deriv_exact))):g}) rounds to 0")

    return SplineTables(grid, order, lut_bits, basis_type, deriv_type,
                        _readonly(basis_raw), _readonly(deriv_raw),
                        _readonly(basis_exact), _readonly(deriv_exact))
