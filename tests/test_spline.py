"""quantkan.spline: exact pieces vs an independent Cox-de Boor, quantized tables, bad input."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from quantkan.fixed import FixedType
from quantkan.spline import Grid, basis, basis_derivative, build_tables

ORDERS = [1, 2, 3, 4, 5]
BASIS_TYPES = ["ap_ufixed<10,1>", "ap_fixed<12,2>", "ap_ufixed<4,1>", "ap_ufixed<24,1>", "ap_ufixed<8,3>"]
DERIV = FixedType.parse("ap_fixed<24,8>")


def cox_de_boor(x: float, knots: np.ndarray, degree: int) -> np.ndarray:
    """All B-splines of ``degree`` on (possibly non-uniform) ``knots`` at scalar ``x``."""
    n = len(knots) - 1
    N = np.array([1.0 if knots[i] <= x < knots[i + 1] else 0.0 for i in range(n)])
    for d in range(1, degree + 1):
        nxt = np.zeros(n - d)
        for i in range(n - d):
            left = (x - knots[i]) / (knots[i + d] - knots[i]) * N[i]
            right = (knots[i + d + 1] - x) / (knots[i + d + 1] - knots[i + 1]) * N[i + 1]
            nxt[i] = left + right
        N = nxt
    return N


def cardinal_exact(x: Fraction, degree: int) -> Fraction:
    """Cardinal B-spline on [0, degree+1), closed form: sum_j (-1)^j C(n, j) (x - j)_+^d / d!."""
    total = sum((-1) ** j * math.comb(degree + 1, j) * (x - j) ** degree
                for j in range(degree + 2) if x > j)
    return Fraction(total) / math.factorial(degree)


@pytest.mark.parametrize("order", ORDERS)
def test_basis_matches_direct_cox_de_boor(order):
    grid = Grid(-1.3, 2.1, 7)
    knots = grid.lo + grid.h * np.arange(-order, grid.cells + order + 1)
    rng = np.random.default_rng(order)
    xs = np.concatenate([rng.uniform(grid.lo, grid.hi, 150), grid.lo + grid.h * np.arange(grid.cells)])
    k, u = grid.locate(xs)
    pieces = basis(u, order)
    for x, kk, row in zip(xs, k, pieces):
        full = cox_de_boor(x, knots, order)
        assert full.shape == (grid.num_coefficients(order),)
        np.testing.assert_allclose(row, full[kk:kk + order + 1], rtol=0, atol=1e-12)
        outside = np.delete(full, np.arange(kk, kk + order + 1))
        np.testing.assert_allclose(outside, 0.0, atol=1e-12)


def test_known_values():
    np.testing.assert_allclose(basis(0.0, 1), [1, 0], atol=1e-15)
    np.testing.assert_allclose(basis(0.25, 1), [0.75, 0.25], atol=1e-15)
    np.testing.assert_allclose(basis(0.0, 3), [1 / 6, 2 / 3, 1 / 6, 0], atol=1e-15)
    np.testing.assert_allclose(basis(0.5, 2), [1 / 8, 3 / 4, 1 / 8], atol=1e-15)
    np.testing.assert_allclose(basis_derivative(0.0, 3), [-0.5, 0, 0.5, 0], atol=1e-15)
    assert basis(np.zeros((2, 3)), 4).shape == (2, 3, 5)
    assert basis_derivative(np.zeros((2, 3)), 4).shape == (2, 3, 5)


@pytest.mark.parametrize("order", ORDERS)
def test_exact_basis_partition_of_unity_and_derivative(order):
    u = np.random.default_rng(7).uniform(0, 1, 500)
    b = basis(u, order)
    assert (b >= 0).all()
    np.testing.assert_allclose(b.sum(-1), 1.0, rtol=0, atol=1e-12)
    eps = 1e-5
    fd = (basis(u + eps, order) - basis(u - eps, order)) / (2 * eps)
    d = basis_derivative(u, order)
    np.testing.assert_allclose(d, fd, rtol=0, atol=1e-8)
    np.testing.assert_allclose(d.sum(-1), 0.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order,lut_bits,type_text", list(itertools.product(ORDERS, [1, 3, 8], BASIS_TYPES)))
def test_quantized_rows_sum_to_exactly_one(order, lut_bits, type_text):
    bt = FixedType.parse(type_text)
    tables = build_tables(Grid(0.0, 1.0, 4), order, lut_bits, bt, DERIV)
    raw = tables.basis_raw
    assert raw.shape == (2**lut_bits, order + 1) and raw.dtype == np.int64
    assert (raw.sum(axis=1) == 2**bt.frac).all()
    assert bt.in_range(raw).all()
    exact = basis(tables.rows_u, order)
    np.testing.assert_array_equal(tables.basis_exact, exact)
    err = np.abs(bt.to_float(raw) - exact)
    assert (err < bt.lsb).all()  # within 1 LSB: floor or ceil of the exact value
    # Exactly representable values stay exact (u = 0 for order 1: [1, 0]).
    if order == 1:
        assert raw[0].tolist() == [2**bt.frac, 0]


@pytest.mark.parametrize("order", ORDERS)
def test_quantized_rows_have_minimal_error(order):
    """Against brute force over floor/ceil choices with exact rational arithmetic."""
    bt, lut_bits = FixedType.parse("ap_ufixed<6,1>"), 3
    tables = build_tables(Grid(0.0, 1.0, 2), order, lut_bits, bt, DERIV)
    scale = 2**bt.frac
    for r in range(2**lut_bits):
        u = Fraction(r, 2**lut_bits)
        target = [cardinal_exact(u + order - m, order) * scale for m in range(order + 1)]
        np.testing.assert_allclose([float(t / scale) for t in target], tables.basis_exact[r], rtol=0, atol=1e-15)
        floors = [t.numerator // t.denominator for t in target]
        best = min(
            sum(abs(f + c - t) for f, c, t in zip(floors, choice, target))
            for choice in itertools.product((0, 1), repeat=order + 1)
            if sum(floors) + sum(choice) == scale)
        got = sum(abs(q - t) for q, t in zip(tables.basis_raw[r].tolist(), target))
        assert got == best, (r, tables.basis_raw[r], target)


@pytest.mark.parametrize("order,lut_bits", list(itertools.product(ORDERS, [2, 6])))
@pytest.mark.parametrize("deriv_text", ["ap_fixed<16,6>", "ap_fixed<10,5>"])
def test_derivative_tables(order, lut_bits, deriv_text):
    dt = FixedType.parse(deriv_text)
    grid = Grid(-2.0, 3.0, 10)  # h = 0.5, so d/dx = 2 d/du
    tables = build_tables(grid, order, lut_bits, FixedType.parse("ap_ufixed<10,1>"), dt)
    raw = tables.deriv_raw
    assert raw.shape == (2**lut_bits, order + 1) and dt.in_range(raw).all()
    u, eps = tables.rows_u, 1e-6
    fd = (basis(u + eps, order) - basis(u - eps, order)) / (2 * eps) / grid.h
    np.testing.assert_allclose(tables.deriv_exact, fd, rtol=0, atol=1e-7)
    # Round to nearest: half an LSB, plus the finite-difference error.
    assert (np.abs(dt.to_float(raw) - fd) <= dt.lsb / 2 + 1e-7).all()
    np.testing.assert_allclose(tables.deriv_exact.sum(-1), 0.0, atol=1e-12)
    assert (np.abs(raw.sum(axis=1)) <= (order + 1) / 2).all()


def test_table_rows_are_left_edges_and_read_only():
    tables = build_tables(Grid(0.0, 1.0, 4), 3, 4, FixedType.parse("ap_ufixed<10,1>"), DERIV)
    np.testing.assert_array_equal(tables.rows_u, np.arange(16) / 16)
    np.testing.assert_array_equal(tables.row(tables.rows_u), np.arange(16))
    np.testing.assert_array_equal(tables.row([-0.1, 0.0624, 0.0625, 0.99999, 1.0]), [0, 0, 1, 15, 15])
    with pytest.raises(ValueError):
        tables.basis_raw[0, 0] = 1


def test_locate_and_clamping():
    grid = Grid(-1.0, 1.0, 8)  # h = 0.25, knots exact in float
    k, u = grid.locate([-7.0, -1.0, -0.75, 0.1, 0.999, 1.0, 5.0, np.inf, -np.inf], lut_bits=4)
    assert k.dtype == np.int64
    assert k.tolist() == [0, 0, 1, 4, 7, 7, 7, 7, 0]
    np.testing.assert_allclose(u, [0, 0, 0, 0.4, 0.996, 15 / 16, 15 / 16, 15 / 16, 0], atol=1e-12)
    k, u = grid.locate([1.0, 3.0])
    assert k.tolist() == [7, 7] and (u == np.nextafter(1.0, 0.0)).all()
    xs = np.random.default_rng(3).uniform(-1, 1, 1000)
    k, u = grid.locate(xs)
    assert ((0 <= u) & (u < 1)).all()
    np.testing.assert_allclose(grid.lo + grid.h * (k + u), xs, atol=1e-14)


@pytest.mark.parametrize("call,message", [
    (lambda: basis(0.5, 0), "spline order must be in 1..5, got 0"),
    (lambda: basis(0.5, 6), "spline order must be in 1..5, got 6"),
    (lambda: basis_derivative(0.5, 6), "spline order must be in 1..5, got 6"),
    (lambda: basis(0.5, 2.0), "spline order must be an integer"),
    (lambda: build_tables(Grid(0, 1, 4), 0, 4, FixedType(10, 1, False), DERIV), "spline order"),
    (lambda: build_tables(Grid(0, 1, 4), 6, 4, FixedType(10, 1, False), DERIV), "spline order"),
    (lambda: build_tables(Grid(0, 1, 4), 3, 0, FixedType(10, 1, False), DERIV), "lut_bits must be in 1..16, got 0"),
    (lambda: build_tables(Grid(0, 1, 4), 3, 17, FixedType(10, 1, False), DERIV), "lut_bits must be in 1..16, got 17"),
    (lambda: Grid(1.0, 1.0, 4), "hi must be greater than lo"),
    (lambda: Grid(2.0, 1.0, 4), "hi must be greater than lo"),
    (lambda: Grid(0.0, 1.0, 0), "cells must be >= 1, got 0"),
    (lambda: Grid(0.0, 1.0, 2.5), "cells must be an integer"),
    (lambda: Grid(float("nan"), 1.0, 4), "lo must be finite"),
    (lambda: Grid(0.0, float("nan"), 4), "hi must be finite"),
    (lambda: Grid(0.0, float("inf"), 4), "hi must be finite"),
    (lambda: Grid(-1e308, 1e308, 4), "not a positive finite number"),
    (lambda: Grid(0, 1, 4).locate([0.5, float("nan")]), "NaN"),
    (lambda: build_tables(Grid(0, 1, 4), 3, 4, FixedType.parse("ap_ufixed<8,0>"), DERIV),
     r"cannot represent 1\.0"),
    (lambda: build_tables(Grid(0, 1, 4), 3, 4, FixedType.parse("ap_fixed<10,1>"), DERIV),
     r"cannot represent 1\.0.*ap_ufixed<10,1>"),
    (lambda: build_tables(Grid(0, 1, 4), 3, 4, FixedType.parse("ap_ufixed<4,6>"), DERIV),
     r"cannot represent 1\.0"),
    (lambda: build_tables(Grid(0, 1, 4), 3, 4, FixedType.parse("ap_ufixed<3,3>"), DERIV), "too few bits"),
    (lambda: build_tables(Grid(0, 1, 4), 3, 4, FixedType(10, 1, False), FixedType(12, 6, False)),
     "must be signed"),
    (lambda: build_tables(Grid(0, 0.01, 1), 1, 4, FixedType(10, 1, False), FixedType.parse("ap_fixed<12,4>")),
     "derivative table overflows ap_fixed<12,4>"),
    (lambda: build_tables(Grid(0, 1e6, 1), 3, 4, FixedType(10, 1, False), FixedType.parse("ap_fixed<12,4>")),
     "too few fractional bits"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_large_table_is_exact():
    """The widest supported table (L = 16, order 5) with a wide basis type still sums exactly."""
    bt = FixedType.parse("ap_ufixed<40,1>")
    tables = build_tables(Grid(0.0, 1.0, 4), 5, 16, bt, DERIV)
    assert (tables.basis_raw.sum(axis=1) == 2**bt.frac).all()
    assert (np.abs(bt.to_float(tables.basis_raw) - tables.basis_exact) < bt.lsb).all()
