"""Fixed-point arithmetic building blocks in Amaranth, bit-exact with :mod:`quantkan.fixed`.

Raw values travel as plain Amaranth values of :func:`fixed_shape` (``signed(W)`` or
``unsigned(W)``); the real value of raw ``r`` in type ``t`` is ``r * 2**-t.frac``, as in the
NumPy model.  :func:`cast_expr` is the hardware twin of :func:`quantkan.fixed.cast`: a purely
combinational expression built from the dropped bits (half bit, sticky OR, kept LSB, sign),
one carry bit and constant range comparisons.  Comparisons that cannot fire for the
source's range are left out at generation time, so a cast that cannot overflow costs only
its rounding adder (or nothing at all).

Helpers:

- :func:`fixed_shape` -- the Amaranth shape that carries a :class:`FixedType`'s raw bits;
- :func:`fit` -- a value sign- or zero-extended (or truncated) to a width;
- :func:`cast_expr` -- ``cast(raw, src, dst)`` for every rounding and overflow mode;
- :func:`overflow_expr` -- whether that cast overflows (``fixed.cast_flagged``'s flag: the
  diagnostics counters count it);
- :func:`greater_than`, :func:`less_than` -- comparisons with a constant, bit tests (no carry
  chain) at power-of-two boundaries;
- :func:`stochastic_cast_expr` -- the golden model's stochastic rounding (add random bits
  below the kept LSB, truncate, then ``dst``'s overflow mode);
- :func:`lfsr32_next` -- one step of the Galois LFSR of :mod:`quantkan.lfsr`;
- :func:`lfsr32_leap` -- ``k`` steps of it at once, one XOR network (the leap-forward of a
  lane that draws ``k`` random bits per sample);
- :class:`Cast` and :class:`LFSR32` -- tiny components around them.
"""

from __future__ import annotations

import operator
from functools import reduce

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from quantkan.fixed import FixedType, Overflow, Rounding
from quantkan.golden import stochastic_types
from quantkan.lfsr import MASK32, POLY, leap_masks

__all__ = [
    "fixed_shape",
    "fit",
    "raw_value",
    "cast_expr",
    "overflow_expr",
    "greater_than",
    "less_than",
    "stochastic_cast_expr",
    "lfsr32_next",
    "lfsr32_leap",
    "Cast",
    "LFSR32",
]


def fixed_shape(t: FixedType) -> Shape:
    """``signed(W)`` for ``ap_fixed``, ``unsigned(W)`` for ``ap_ufixed``."""
    return signed(t.width) if t.signed else unsigned(t.width)


# -- bit-level helpers ---------------------------------------------------------
def fit(x: Value, width: int) -> Value:
    """``x`` sign- or zero-extended (by its own signedness) or truncated to ``width`` bits.

    Keeps ``x``'s signedness; the value is preserved when it widens and taken modulo
    ``2**width`` when it narrows.
    """
    x = Value.cast(x)
    is_signed = x.shape().signed
    n = len(x)
    if n == width:
        return x
    if n == 0:
        bits = Const(0, width)
    elif n > width:
        bits = x[:width]
    else:
        fill = x[n - 1].replicate(width - n) if is_signed else Const(0, width - n)
        bits = Cat(x, fill)
    return bits.as_signed() if is_signed else bits.as_unsigned()


def _as_raw(value: Value, t: FixedType) -> Value:
    """``value`` read as raw bits of ``t``: its low ``t.width`` bits, with ``t``'s signedness.

    A narrower ``value`` is first extended by its own signedness (value preserving).
    """
    v = fit(Value.cast(value), t.width)
    return v.as_signed() if t.signed else v.as_unsigned()


def raw_value(value: Value, t: FixedType) -> Value:
    """The number a raw value of ``t`` stands for, as an Amaranth value of ``t``'s signedness.

    Use it wherever raw values are combined (grid lookup, error, read-modify-write): an
    ``ap_ufixed`` raw value with its top bit set is large and positive, never negative.
    """
    return _as_raw(value, t)


def _named(m: Module | None, expr: Value, name: str) -> Value:
    """Give ``expr`` a named wire when a module is at hand (readable netlists, VCDs)."""
    if m is None:
        return expr
    sig = Signal(expr.shape(), name=name)
    m.d.comb += sig.eq(expr)
    return sig


def _round_increment(mode: Rounding, half: Value, sticky: Value, lsb: Value,
                     negative: Value) -> Value | None:
    """The +1 that ``mode`` adds to the floor, from the dropped bits (None for TRN).

    ``half`` is the MSB of the dropped bits, ``sticky`` the OR of the rest: the remainder
    is above one half when ``half & sticky``, exactly one half when ``half & ~sticky``.
    """
    if mode is Rounding.TRN:
        return None
    if mode is Rounding.TRN_ZERO:
        return negative & (half | sticky)
    if mode is Rounding.RND:
        return half
    if mode is Rounding.RND_ZERO:
        return half & (sticky | negative)
    if mode is Rounding.RND_MIN_INF:
        return half & sticky
    if mode is Rounding.RND_INF:
        return half & (sticky | ~negative)
    if mode is Rounding.RND_CONV:
        return half & (sticky | lsb)
    raise ValueError(f"unknown rounding mode {mode!r}")


# -- range tests ---------------------------------------------------------------
# The overflow tests of a cast compare the rounded value p with constants.  Written as
# ``p > c`` they become a carry chain after the rounding adder's; written here they are
# bit tests where c is a power-of-two boundary (the usual saturation limits) and read the
# pre-rounding q and the increment (p = q + inc) in parallel with the adder, so a cast
# costs one carry chain, not two in series.
def greater_than(x: Value, c: int) -> Value:
    """``x > c``: a bit test when ``c + 1`` is a power of two within ``x``'s range."""
    n, is_signed = len(x), x.shape().signed
    k = (c + 1).bit_length() - 1
    if c >= 0 and c + 1 == 1 << k and k < n - is_signed:
        high = x[k:n - 1] if is_signed else x[k:]
        return (~x[n - 1] & high.any()) if is_signed and len(high) else high.any() if len(high) else ~x[n - 1]
    return x > c


def less_than(x: Value, c: int) -> Value:
    """``x < c``: a bit test when ``c`` is 0 or a negative power of two within ``x``'s range."""
    n, is_signed = len(x), x.shape().signed
    k = (-c).bit_length() - 1
    if is_signed and c == 0:
        return x[n - 1]
    if is_signed and c < 0 and -c == 1 << k and k < n - 1:
        return x[n - 1] & ~x[k:n - 1].all()
    return x < c


def _above(p: Value, pre: tuple[Value, Value] | None, c: int) -> Value:
    """``p > c``, where p = q + inc when ``pre`` = (q, inc)."""
    if pre is None:
        return greater_than(p, c)
    q, inc = pre
    return greater_than(q, c) | (inc & (q == c))


def _below(p: Value, pre: tuple[Value, Value] | None, c: int) -> Value:
    """``p < c``, where p = q + inc when ``pre`` = (q, inc)."""
    if pre is None:
        return less_than(p, c)
    q, inc = pre
    return less_than(q, c) & ~(inc & (q == c - 1))


def _equals(p: Value, pre: tuple[Value, Value] | None, c: int) -> Value:
    """``p == c``, where p = q + inc when ``pre`` = (q, inc)."""
    if pre is None:
        return p == c
    q, inc = pre
    return Mux(inc, q == c - 1, q == c)


# -- cast ----------------------------------------------------------------------
def cast_expr(m: Module | None, value: Value, src: FixedType, dst: FixedType) -> Value:
    """Combinational ``quantkan.fixed.cast(raw, src, dst)``: round by ``dst.rounding``, then
    apply ``dst.overflow``.

    ``value`` carries raw bits of ``src`` (its low ``src.width`` bits are used, read with
    ``src``'s signedness).  Returns a value of ``fixed_shape(dst)``.  With a module ``m`` the
    rounded intermediate and the result get named wires in ``m.d.comb``; with ``None`` the
    result is a pure expression.  Equal to the NumPy model for every raw value of ``src``,
    every mode pair, either signedness, and any ``src.frac - dst.frac`` (dropping bits,
    adding bits, equal), including ``dst.integer`` below 0 or above ``dst.width``.
    """
    if not isinstance(src, FixedType) or not isinstance(dst, FixedType):
        raise TypeError(f"cast_expr needs FixedType src and dst, got {src!r} and {dst!r}")
    v = _as_raw(value, src)
    w_src, w_dst = src.width, dst.width
    negative = v[w_src - 1] if src.signed else Const(0, 1)
    drop = src.frac - dst.frac
    wrap = dst.overflow is Overflow.WRAP

    # 1. Rounding.  ``p`` is the rounded value in units of 2**shift dst LSBs: the exact
    # result is p * 2**shift, with [p_min, p_max] its range over every raw value of src.
    shift = 0
    pre = None  # (q, inc) when p = q + inc is rounded up by a carry: tests read q instead of p
    if drop > 0:
        ext_w = max(w_src, drop + 1)  # room for the half bit and at least one kept bit
        ext = fit(v, ext_w)  # sign/zero extension: the dropped bits of r as NumPy sees them
        q = ext[drop:]
        q = q.as_signed() if src.signed else q.as_unsigned()
        half = ext[drop - 1]
        sticky = ext[:drop - 1].any() if drop > 1 else Const(0, 1)
        inc = _round_increment(dst.rounding, half, sticky, ext[drop], negative)
        p_min, p_max = src.min_raw >> drop, src.max_raw >> drop
        if inc is None:
            p = q
        elif wrap:
            # Only the low W bits survive a wrap: round in W bits, modulo 2**W.
            p = fit(fit(q, w_dst) + inc, w_dst)
        else:
            p = q + inc  # Amaranth widens by one bit: the carry out is kept
            p_max += 1
            pre = (q, inc)  # the overflow tests read q and inc, in parallel with the increment
        p = _named(m, p, "rounded")
    else:
        p, shift = v, -drop
        p_min, p_max = src.min_raw, src.max_raw

    # 2. Overflow.  The in-range (and WRAP) result is the low W bits of p * 2**shift.
    if shift >= w_dst:
        low = Const(0, w_dst)
    elif shift == 0:
        low = fit(p, w_dst).as_unsigned()
    else:
        low = Cat(Const(0, shift), fit(p, w_dst - shift))

    if wrap:
        y = low
    else:
        lo, hi = dst.min_raw, dst.max_raw
        mask = (1 << w_dst) - 1
        # p * 2**shift > hi  <=>  p > floor(hi / 2**shift);  < lo  <=>  p < ceil(lo / 2**shift)
        over_at, under_at = hi >> shift, -((-lo) >> shift)
        over = _above(p, pre, over_at) if p_max > over_at else None
        under = _below(p, pre, under_at) if p_min < under_at else None
        sat_lo = lo
        if dst.overflow is Overflow.SAT_SYM and dst.signed and w_dst > 1:
            # ap_fixed's AP_SAT_SYM: clamp to -max, and a negative source that lands exactly
            # on min also becomes -max.
            sat_lo = -hi
            if shift <= w_dst - 1 and p_min <= (lo >> shift) <= p_max and src.signed:
                at_min = _equals(p, pre, lo >> shift) & negative
                under = at_min if under is None else (under | at_min)
        if dst.overflow is Overflow.SAT_ZERO:
            bad = over if under is None else (under if over is None else over | under)
            y = low if bad is None else Mux(bad, Const(0, w_dst), low)
        else:  # SAT, SAT_SYM (unsigned or 1-bit signed SAT_SYM behave as SAT)
            y = low
            if under is not None:
                y = Mux(under, Const(sat_lo & mask, w_dst), y)
            if over is not None:
                y = Mux(over, Const(hi & mask, w_dst), y)
    y = y.as_signed() if dst.signed else y.as_unsigned()
    return _named(m, y, "cast")


def overflow_expr(value: Value, src: FixedType, dst: FixedType) -> Value:
    """1 when ``cast(raw, src, dst)`` overflows, as :func:`quantkan.fixed.cast_flagged` says: the
    value rounded to ``dst``'s LSB lies outside ``dst``'s range, whatever the overflow mode (WRAP
    included) then does.  Tests that cannot fire for ``src``'s range are left out (a constant 0)."""
    v = _as_raw(value, src)
    negative = v[src.width - 1] if src.signed else Const(0, 1)
    drop = src.frac - dst.frac
    pre, shift = None, 0
    if drop > 0:
        ext = fit(v, max(src.width, drop + 1))
        q = ext[drop:]
        q = q.as_signed() if src.signed else q.as_unsigned()
        sticky = ext[:drop - 1].any() if drop > 1 else Const(0, 1)
        inc = _round_increment(dst.rounding, ext[drop - 1], sticky, ext[drop], negative)
        p, p_min, p_max = q, src.min_raw >> drop, (src.max_raw >> drop) + (inc is not None)
        if inc is not None:
            pre = (q, inc)
    else:
        p, shift, p_min, p_max = v, -drop, src.min_raw, src.max_raw
    over_at, under_at = dst.max_raw >> shift, -((-dst.min_raw) >> shift)
    flags = []
    if p_max > over_at:
        flags.append(_above(p, pre, over_at))
    if p_min < under_at:
        flags.append(_below(p, pre, under_at))
    return reduce(operator.or_, flags) if flags else Const(0, 1)


def stochastic_cast_expr(value: Value, random_bits: Value, src: FixedType, dst: FixedType,
                         m: Module | None = None) -> Value:
    """The golden model's stochastic rounding (``quantkan.golden._Updater.delta``).

    When the cast drops ``d = src.frac - dst.frac > 0`` bits: ``raw + random_bits`` (the low
    ``d`` bits of ``random_bits``, unsigned, added below the kept LSB; the sum is exact) is
    truncated (AP_TRN) and then ``dst``'s overflow mode applies.  When no bits are dropped
    the random bits are unused and this is ``cast_expr(value, src, dst)``.
    """
    pre_t, sum_t, drop = stochastic_types(src, dst)
    if drop <= 0:
        return cast_expr(m, value, src, dst)
    r = Value.cast(random_bits)
    if len(r) < drop:
        raise ValueError(f"stochastic cast {src} -> {dst} drops {drop} bits but random_bits "
                         f"has only {len(r)}")
    pre = cast_expr(None, value, src, pre_t)  # bits below the 32 random ones: truncated
    total = pre + r[:drop].as_unsigned()  # exact: Amaranth widens the sum
    return cast_expr(m, total, sum_t, dst.with_modes(rounding=Rounding.TRN))


# -- LFSR ----------------------------------------------------------------------
def _lfsr_state(state: Value) -> Value:
    s = Value.cast(state).as_unsigned()
    if len(s) != 32:
        raise ValueError(f"LFSR state must be 32 bits, got {len(s)}")
    return s


def lfsr32_next(state: Value) -> Value:
    """One Galois step of :mod:`quantkan.lfsr`: ``(s >> 1) ^ (POLY if s & 1 else 0)``."""
    s = _lfsr_state(state)
    return ((s >> 1) ^ Mux(s[0], Const(POLY, 32), Const(0, 32)))[:32]


def lfsr32_leap(state: Value, k: int) -> Value:
    """``k`` Galois steps (0..32) as one XOR network: each new bit is the parity of the old
    bits :func:`quantkan.lfsr.leap_masks` names, so the leap costs no more cycles than a step."""
    s = _lfsr_state(state)
    return Cat(*((s & Const(mask, 32)).xor() for mask in leap_masks(k)))


class Cast(wiring.Component):
    """``y = cast(a, src, dst)``, combinational (see :func:`cast_expr`)."""

    def __init__(self, src: FixedType, dst: FixedType) -> None:
        self.src, self.dst = src, dst
        super().__init__({"a": In(fixed_shape(src)), "y": Out(fixed_shape(dst))})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.d.comb += self.y.eq(cast_expr(m, self.a, self.src, self.dst))
        return m


class LFSR32(wiring.Component):
    """One lane of :class:`quantkan.lfsr.LFSRBank` in hardware.

    ``state`` is the register itself: ``seed_state`` after reset, and it advances ``leap``
    Galois steps (one XOR network, :func:`lfsr32_leap`) at every ``sync`` clock edge where
    ``step`` is 1.
    """

    def __init__(self, seed_state: int, leap: int = 1) -> None:
        seed = int(seed_state)
        if not 0 < seed <= MASK32:
            self._MustUse__silence = True  # a refused object is not an unused elaboratable
            raise ValueError(f"LFSR seed state must be a non-zero 32-bit value, got {seed_state!r}"
                             " (0 is a fixed point of the LFSR)")
        if not (isinstance(leap, int) and 0 <= leap <= 32):
            self._MustUse__silence = True
            raise ValueError(f"an LFSR leap is 0..32 steps, got {leap!r}")
        self.seed_state, self.leap = seed, leap
        super().__init__({"step": In(1), "state": Out(32, init=seed)})

    def elaborate(self, platform) -> Module:
        m = Module()
        with m.If(self.step):
            m.d.sync += self.state.eq(lfsr32_leap(self.state, self.leap))
        return m
