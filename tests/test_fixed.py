"""quantkan.fixed: types, parsing, bad input, and exactness rules that need no oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from quantkan import fixed
from quantkan.fixed import FixedType, Overflow, Rounding


@pytest.mark.parametrize("text,expected", [
    ("ap_fixed<16,6>", FixedType(16, 6)),
    ("ap_ufixed<8, 0, AP_RND, AP_SAT>", FixedType(8, 0, False, Rounding.RND, Overflow.SAT)),
    ("ap_fixed<4,-3,AP_RND_CONV>", FixedType(4, -3, True, Rounding.RND_CONV)),
    ("ap_fixed<10,12,AP_TRN_ZERO,AP_SAT_SYM,0>", FixedType(10, 12, True, "AP_TRN_ZERO", "AP_SAT_SYM")),
    ("ap_int<12>", FixedType(12, 12)),
    ("ap_uint<3>", FixedType(3, 3, False)),
])
def test_parse(text, expected):
    assert FixedType.parse(text) == expected


@pytest.mark.parametrize("t", [FixedType(w, i, s, q, o) for (w, i), s, q, o in itertools.product(
    [(1, 1), (8, -3), (16, 20)], (True, False), Rounding, Overflow)])
def test_print_parse_roundtrip(t):
    assert FixedType.parse(str(t)) == t
    assert FixedType.parse(t.short()) == t


def test_types_are_immutable_and_hashable():
    t = FixedType(8, 3)
    with pytest.raises(AttributeError):
        t.width = 9  # type: ignore[misc]
    assert len({t, FixedType(8, 3), FixedType(8, 3, rounding="AP_RND")}) == 2


def test_range_properties():
    t = FixedType(8, 3)
    assert (t.frac, t.min_raw, t.max_raw, t.min, t.max) == (5, -128, 127, -4.0, 127 / 32)
    u = FixedType(4, 6, False)
    assert (u.frac, u.lsb, u.max) == (-2, 4.0, 60.0)


@pytest.mark.parametrize("text,message", [
    ("ap_fixed<16>", "takes 2 to 4 arguments"),
    ("ap_fixed<16,6", "malformed fixed-point type"),
    ("apfixed<16,6>", "malformed fixed-point type"),
    ("ap_fixed<a,6>", "width 'a' is not an integer"),
    ("ap_fixed<16,6,AP_ROUND>", "unknown rounding mode 'AP_ROUND'"),
    ("ap_fixed<16,6,AP_RND,AP_CLAMP>", "unknown overflow mode 'AP_CLAMP'"),
    ("ap_fixed<0,0>", "width must be >= 1, got 0"),
    ("ap_fixed<-4,2>", "width must be >= 1, got -4"),
    ("ap_int<8,2>", "takes exactly one width"),
    ("ap_fixed<8,2,AP_RND,AP_SAT,3>", "saturation bits N must be 0"),
    ("", "malformed fixed-point type"),
])
def test_malformed_types_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        FixedType.parse(text)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="width must be >= 1"):
        FixedType(0, 0)
    with pytest.raises(ValueError, match="width must be an integer"):
        FixedType(8.5, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown rounding mode"):
        FixedType(8, 2, rounding="nearest")
    with pytest.raises(ValueError, match="must be a string"):
        FixedType.parse(16)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused(bad):
    with pytest.raises(ValueError, match=f"cannot quantize {bad} .*must be finite"):
        FixedType(8, 3).quantize([0.5, bad])


def test_widths_beyond_int64_are_refused():
    wide = FixedType(40, 10)
    with pytest.raises(ValueError, match="at most 62 bits"):
        fixed.mul(1, wide, 1, FixedType(30, 2))
    with pytest.raises(ValueError, match="at most 62 bits"):
        FixedType(64, 32).quantize(1.0)
    with pytest.raises(ValueError, match="at most 62 bits"):
        fixed.add(1, FixedType(62, 10), 1, FixedType(62, 10))
    assert fixed.mul(3, FixedType(31, 1), 5, FixedType(31, 1))[1].width == 62


def test_check_raw_names_the_value():
    t = FixedType(6, 2)
    assert t.check_raw(np.array([-32, 31])).tolist() == [-32, 31]
    with pytest.raises(ValueError, match="coefficient 32 is outside ap_fixed<6,2"):
        t.check_raw(np.array([1, 32]), "coefficient")
    with pytest.raises(ValueError, match="must be raw integers"):
        t.check_raw(np.array([0.5]))


def test_nothing_is_clamped_unless_the_type_saturates():
    wrap, sat = FixedType(8, 3), FixedType(8, 3, overflow="AP_SAT")
    assert wrap.quantize(4.0) == -128 and sat.quantize(4.0) == 127
    assert wrap.quantize(-4.03125) == 127 and sat.quantize(-4.03125) == -128


def test_products_and_sums_are_exact():
    rng = np.random.default_rng(0)
    ta, tb = FixedType(16, 5), FixedType(12, -1, False)
    a = rng.integers(ta.min_raw, ta.max_raw + 1, 1000)
    b = rng.integers(tb.min_raw, tb.max_raw + 1, 1000)
    for op, ref in ((fixed.mul, np.multiply), (fixed.add, np.add), (fixed.sub, np.subtract)):
        raw, rt = op(a, ta, b, tb)
        assert rt.in_range(raw).all()
        assert np.array_equal(rt.to_float(raw), ref(ta.to_float(a), tb.to_float(b)))


def test_quantize_exact_for_doubles_far_outside_the_grid():
    t = FixedType(10, -20, rounding="AP_TRN")  # lsb 2**-30
    assert t.quantize(-1e-300) == -1  # floor of a negative sliver is -1 LSB
    assert FixedType(10, -20, rounding="AP_TRN_ZERO").quantize(-1e-300) == 0
    assert FixedType(10, 4).quantize(2.0 ** 80) == 0  # wraps: every kept bit is zero
    assert FixedType(10, 4, overflow="AP_SAT").quantize(1e300) == 511


def test_pack_and_unpack_carry_raw_values_as_a_bit_vector():
    s, u = FixedType.parse("ap_fixed<6,2>"), FixedType.parse("ap_ufixed<6,2>")
    word = fixed.pack([-1, 5, -32, 31], s)
    assert word == 0b111111 | (5 << 6) | (0b100000 << 12) | (31 << 18)  # value 0 in the low bits
    assert fixed.unpack(word, s, 4) == [-1, 5, -32, 31]
    assert fixed.unpack(fixed.pack([63, 0, 32], u), u, 3) == [63, 0, 32]  # unsigned: no sign extension
    assert fixed.unpack(word, u, 1) == [63]
