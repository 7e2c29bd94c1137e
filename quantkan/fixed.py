"""Fixed-point number system with the exact semantics of Xilinx ``ap_fixed``.

Values are carried as raw integers (NumPy int64): the real value of ``raw`` in
type ``t`` is ``raw * 2**-t.frac``.  Products and sums are exact and take the
full-precision result types of ``ap_fixed``; nothing rounds until :func:`cast`,
which applies the target type's quantization mode and then its overflow mode.
The oracle for every rule here is the ``ap_fixed`` header that ships in hls4ml
(see ``tests/oracle``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

__all__ = [
    "MAX_WIDTH",
    "Rounding",
    "Overflow",
    "FixedType",
    "mul_type",
    "add_type",
    "sub_type",
    "sum_type",
    "mul",
    "add",
    "sub",
    "cast",
    "cast_flagged",
    "shift_left",
    "shift_right",
    "pack",
    "unpack",
]

# Raw values live in int64.  Rounding adds one carry and wrapping needs a
# mask, so two bits of headroom keep every operation exact.
MAX_WIDTH = 62


class Rounding(Enum):
    """Quantization modes of ``ap_fixed`` (what happens to dropped LSBs)."""

    TRN = "AP_TRN"  # toward -inf
    TRN_ZERO = "AP_TRN_ZERO"  # toward zero
    RND = "AP_RND"  # nearest, ties toward +inf
    RND_ZERO = "AP_RND_ZERO"  # nearest, ties toward zero
    RND_MIN_INF = "AP_RND_MIN_INF"  # nearest, ties toward -inf
    RND_INF = "AP_RND_INF"  # nearest, ties away from zero
    RND_CONV = "AP_RND_CONV"  # nearest, ties to even


class Overflow(Enum):
    """Overflow modes of ``ap_fixed`` (what happens beyond the range)."""

    WRAP = "AP_WRAP"  # keep the low bits
    SAT = "AP_SAT"  # clamp to min / max
    SAT_ZERO = "AP_SAT_ZERO"  # overflow gives zero
    SAT_SYM = "AP_SAT_SYM"  # clamp to -max / max (signed)


def _mode(enum: type[Enum], value: object, what: str) -> Enum:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        key = value.strip().upper()
        for member in enum:
            if key in (member.value, member.name):
                return member
    names = ", ".join(m.value for m in enum)
    raise ValueError(f"unknown {what} mode {value!r}; expected one of {names}")


@dataclass(frozen=True)
class FixedType:
    """An ``ap_fixed<W, I, Q, O>`` (or ``ap_ufixed``) type.

    ``width`` bits in all, ``integer`` of them above the binary point (may be
    negative or exceed ``width``), so the LSB weighs ``2**-(width-integer)``.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP

    def __post_init__(self) -> None:
        for name in ("width", "integer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"fixed-point {name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.width < 1:
            raise ValueError(f"fixed-point width must be >= 1, got {self.width}")
        if not isinstance(self.signed, (bool, np.bool_)):
            raise ValueError(f"fixed-point signed must be a bool, got {self.signed!r}")
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "rounding", _mode(Rounding, self.rounding, "rounding"))
        object.__setattr__(self, "overflow", _mode(Overflow, self.overflow, "overflow"))

    # -- description -----------------------------------------------------
    @property
    def frac(self) -> int:
        """Bits below the binary point (negative when ``integer > width``)."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - self.signed)) - 1

    @property
    def min(self) -> float:
        return self.min_raw * self.lsb

    @property
    def max(self) -> float:
        return self.max_raw * self.lsb

    def __str__(self) -> str:
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.integer},{self.rounding.value},{self.overflow.value}>"

    def short(self) -> str:
        """The C++ spelling with default modes left out, as a user writes it."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        args = [str(self.width), str(self.integer)]
        if self.overflow is not Overflow.WRAP:
            args += [self.rounding.value, self.overflow.value]
        elif self.rounding is not Rounding.TRN:
            args.append(self.rounding.value)
        return f"{base}<{','.join(args)}>"

    def with_modes(self, rounding: Rounding | str | None = None,
                   overflow: Overflow | str | None = None) -> FixedType:
        return replace(self, rounding=self.rounding if rounding is None else rounding,
                       overflow=self.overflow if overflow is None else overflow)

    def scaled(self, shift: int) -> FixedType:
        """The type whose value is this one's times ``2**shift`` for the same raw bits."""
        return replace(self, integer=self.integer + shift)

    _PATTERN = re.compile(
        r"^\s*(ap_fixed|ap_ufixed|ap_int|ap_uint)\s*<\s*([^<>]*?)\s*>\s*$")

    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse ``ap_fixed<W,I[,Q[,O]]>``, ``ap_ufixed<...>``, ``ap_int<W>``, ``ap_uint<W>``."""
        if not isinstance(text, str):
            raise ValueError(f"fixed-point type must be a string, got {text!r}")
        match = cls._PATTERN.match(text)
        if not match:
            raise ValueError(
                f"malformed fixed-point type {text!r}; expected e.g. 'ap_fixed<16,6>', "
                "'ap_ufixed<8,0,AP_RND,AP_SAT>' or 'ap_int<12>'")
        kind, body = match.groups()
        args = [a.strip() for a in body.split(",")] if body.strip() else []

        def integer(arg: str, what: str) -> int:
            if not re.fullmatch(r"[+-]?\d+", arg):
                raise ValueError(f"malformed fixed-point type {text!r}: {what} {arg!r} is not an integer")
            return int(arg)

        if kind in ("ap_int", "ap_uint"):
            if len(args) != 1:
                raise ValueError(f"malformed fixed-point type {text!r}: {kind} takes exactly one width")
            width = integer(args[0], "width")
            return cls(width, width, kind == "ap_int")
        if not 2 <= len(args) <= 5:
            raise ValueError(
                f"malformed fixed-point type {text!r}: {kind} takes 2 to 4 arguments (W, I, Q, O)")
        if len(args) == 5:
            # ap_fixed's fifth argument is the number of saturation bits for AP_WRAP_SM-like
            # modes; only the default 0 has the semantics implemented here.
            if integer(args[4], "saturation bits") != 0:
                raise ValueError(f"unsupported fixed-point type {text!r}: saturation bits N must be 0")
        width, integ = integer(args[0], "width"), integer(args[1], "integer bits")
        rounding = args[2] if len(args) > 2 else Rounding.TRN
        overflow = args[3] if len(args) > 3 else Overflow.WRAP
        return cls(width, integ, kind == "ap_fixed", rounding, overflow)

    # -- conversion ------------------------------------------------------
    def require_int64(self, what: str = "this operation") -> None:
        if self.width > MAX_WIDTH:
            raise ValueError(
                f"{self} is {self.width} bits wide; {what} carries raw values in int64 "
                f"and supports at most {MAX_WIDTH} bits")

    def quantize(self, x: object) -> np.ndarray:
        """Real values -> raw integers, rounded and overflowed as this type says.

        Exact for every float64 input (as ``ap_fixed(double)`` is): scaling by a
        power of two is exact, so the rounding decision sees the true remainder.
        """
        self.require_int64("quantize")
        values = np.asarray(x, dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            first = values[bad].flat[0]
            raise ValueError(f"cannot quantize {first} to {self}: input must be finite")
        # Stand-ins that round and wrap exactly like the originals but keep the
        # scaled value away from float overflow (inf) and underflow (lost bits).
        tiny = np.ldexp(1.0, -self.frac - 2)  # a quarter LSB
        huge = np.ldexp(1.0, min(self.width + 60 - self.frac, 1000))  # low bits all zero
        sign = np.where(values < 0, -1.0, 1.0)
        values_in = np.where((values != 0) & (np.abs(values) < tiny), sign * tiny, values)
        values_in = np.where(np.abs(values) > huge, sign * huge, values_in)
        scaled = np.ldexp(values_in, self.frac)
        floor = np.floor(scaled)
        rem = scaled - floor  # exact, in [0, 1)
        q = _round_up(self.rounding, floor, rem > 0.5, rem == 0.5, rem != 0, values < 0,
                      np.fmod(floor, 2.0) != 0)
        limit = float(1 << MAX_WIDTH)  # beyond every in-range raw value
        if self.overflow is Overflow.WRAP:
            # fmod is exact, so the low bits survive whatever the magnitude.
            q = np.fmod(q, float(1 << self.width))
        else:
            q = np.clip(q, -limit, limit)
        return self._overflow(q.astype(np.int64), values < 0)

    def to_float(self, raw: object) -> np.ndarray:
        """Raw integers -> float64 (exact for widths up to 53 bits)."""
        self.require_int64("to_float")
        return np.ldexp(np.asarray(raw, dtype=np.int64).astype(np.float64), -self.frac)

    def in_range(self, raw: object) -> np.ndarray:
        r = np.asarray(raw)
        return (r >= self.min_raw) & (r <= self.max_raw)

    def check_raw(self, raw: object, what: str = "value") -> np.ndarray:
        """Raw integers that must already be in this type, or a ValueError naming the culprit."""
        r = np.asarray(raw)
        if not np.issubdtype(r.dtype, np.integer):
            raise ValueError(f"{what} must be raw integers for {self}, got dtype {r.dtype}")
        bad = ~self.in_range(r)
        if bad.any():
            raise ValueError(
                f"{what} {int(r[bad].flat[0])} is outside {self} "
                f"(raw range {self.min_raw}..{self.max_raw})")
        return r.astype(np.int64)

    def _overflow(self, q: np.ndarray, negative_src: np.ndarray) -> np.ndarray:
        """Apply this type's overflow mode to rounded raw values (int64)."""
        lo, hi = self.min_raw, self.max_raw
        mode = self.overflow
        if mode is Overflow.WRAP:
            mask = np.int64((1 << self.width) - 1)
            q = q & mask
            if self.signed:
                q = np.where(q > hi, q - np.int64(1 << self.width), q)
            return q.astype(np.int64)
        over, under = q > hi, q < lo
        if mode is Overflow.SAT:
            return np.where(over, hi, np.where(under, lo, q)).astype(np.int64)
        if mode is Overflow.SAT_ZERO:
            return np.where(over | under, 0, q).astype(np.int64)
        # SAT_SYM: signed types saturate to -max (a 1-bit type has only min); ap_fixed
        # also maps an in-range result of exactly min to -max when the source was negative.
        if self.signed and self.width > 1:
            under = under | ((q == lo) & negative_src)
            lo = -hi
        return np.where(over, hi, np.where(under, lo, q)).astype(np.int64)


def _round_up(mode: Rounding, q, above_half, at_half, inexact, negative, odd):
    """Add the rounding increment to floor values ``q`` (works on ints or floats)."""
    if mode is Rounding.TRN:
        inc = np.zeros_like(above_half)
    elif mode is Rounding.TRN_ZERO:
        inc = negative & inexact
    elif mode is Rounding.RND:
        inc = above_half | at_half
    elif mode is Rounding.RND_ZERO:
        inc = above_half | (at_half & negative)
    elif mode is Rounding.RND_MIN_INF:
        inc = above_half
    elif mode is Rounding.RND_INF:
        inc = above_half | (at_half & ~negative)
    else:  # RND_CONV
        inc = above_half | (at_half & odd)
    return q + inc.astype(q.dtype)


# -- result types of ap_fixed operators ------------------------------------
def _promoted_integer(a: FixedType, b: FixedType) -> int:
    """Integer bits that hold both operands (an unsigned one gains a sign bit)."""
    return max(a.integer + (b.signed and not a.signed), b.integer + (a.signed and not b.signed))


def mul_type(a: FixedType, b: FixedType) -> FixedType:
    return FixedType(a.width + b.width, a.integer + b.integer, a.signed or b.signed)


def add_type(a: FixedType, b: FixedType) -> FixedType:
    integer = _promoted_integer(a, b) + 1
    return FixedType(integer + max(a.frac, b.frac), integer, a.signed or b.signed)


def sub_type(a: FixedType, b: FixedType) -> FixedType:
    return replace(add_type(a, b), signed=True)


def sum_type(t: FixedType, terms: int) -> FixedType:
    """The exact type of a sum of ``terms`` values of type ``t`` (an adder tree)."""
    extra = max(0, math.ceil(math.log2(terms))) if terms > 1 else 0
    return FixedType(t.width + extra, t.integer + extra, t.signed)


def _raw(raw: object, t: FixedType) -> np.ndarray:
    t.require_int64()
    return np.asarray(raw, dtype=np.int64)


def mul(a: object, ta: FixedType, b: object, tb: FixedType) -> tuple[np.ndarray, FixedType]:
    """Exact product, in the full-width type ``mul_type(ta, tb)``."""
    rt = mul_type(ta, tb)
    rt.require_int64("mul")
    return _raw(a, ta) * _raw(b, tb), rt


def _aligned(a, ta, b, tb, rt):
    return _raw(a, ta) << (rt.frac - ta.frac), _raw(b, tb) << (rt.frac - tb.frac)


def add(a: object, ta: FixedType, b: object, tb: FixedType) -> tuple[np.ndarray, FixedType]:
    """Exact sum, in the type ``add_type(ta, tb)``."""
    rt = add_type(ta, tb)
    rt.require_int64("add")
    x, y = _aligned(a, ta, b, tb, rt)
    return x + y, rt


def sub(a: object, ta: FixedType, b: object, tb: FixedType) -> tuple[np.ndarray, FixedType]:
    """Exact difference, in the type ``sub_type(ta, tb)``."""
    rt = sub_type(ta, tb)
    rt.require_int64("sub")
    x, y = _aligned(a, ta, b, tb, rt)
    return x - y, rt


def cast(raw: object, src: FixedType, dst: FixedType) -> np.ndarray:
    """Convert raw values of ``src`` to ``dst``: quantize, then handle overflow."""
    r = _raw(raw, src)
    dst.require_int64("cast")
    return dst._overflow(_rounded(r, src, dst), r < 0)


def cast_flagged(raw: object, src: FixedType, dst: FixedType) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cast` and, per value, whether it overflowed: the value rounded to ``dst``'s LSB
    lies outside ``dst``'s raw range, whatever the overflow mode then does with it (saturate,
    wrap, zero).  SAT_SYM's mapping of an in-range ``min`` to ``-max`` is not an overflow.
    The diagnostics counters (:mod:`quantkan.diagnostics`) count these flags."""
    r = _raw(raw, src)
    dst.require_int64("cast")
    q = _rounded(r, src, dst)
    drop = src.frac - dst.frac
    if drop < 0:  # judged on the source: a WRAP shift keeps only the low bits
        n = min(-drop, 63)
        out = (r > (dst.max_raw >> n)) | (r < -((-dst.min_raw) >> n))
    else:
        out = (q > dst.max_raw) | (q < dst.min_raw)
    return dst._overflow(q, r < 0), out


def _rounded(r: np.ndarray, src: FixedType, dst: FixedType) -> np.ndarray:
    """``r`` in units of ``dst``'s LSB, rounded by ``dst``'s mode, before overflow handling."""
    drop = src.frac - dst.frac
    if drop > 0:
        d = min(drop, 63)  # beyond 63 dropped bits the decision no longer changes
        q = r >> d
        rem = r & np.int64((1 << d) - 1)
        half = np.int64(1 << (d - 1))
        return _round_up(dst.rounding, q, rem > half, rem == half, rem != 0, r < 0, (q & 1) == 1)
    if drop < 0:
        return _shift_up(r, -drop, dst)
    return r


def _shift_up(r: np.ndarray, n: int, dst: FixedType) -> np.ndarray:
    """``r << n`` where the result may not fit int64: keep low bits for WRAP,
    otherwise replace values that overflow ``dst`` by a sentinel beyond its range."""
    if n < 63 - MAX_WIDTH or (r == 0).all():
        return r << n
    low = r << min(n, 63)  # low bits are right modulo 2**64 (0 when n >= 64)
    if n >= 64:
        low = np.zeros_like(r)
    if dst.overflow is Overflow.WRAP:
        return low
    big = np.int64(1 << MAX_WIDTH)
    too_high = r > (dst.max_raw >> min(n, 63))
    too_low = r < -((-dst.min_raw) >> min(n, 63))
    return np.where(too_high, big, np.where(too_low, -big, low))


def shift_left(raw: object, t: FixedType, n: int) -> np.ndarray:
    """``x << n`` on an ``ap_fixed``: same type, bits shifted out are lost (wrap)."""
    r = _raw(raw, t)
    if n < 0:
        return shift_right(r, t, -n)
    return FixedType(t.width, t.integer, t.signed)._overflow(r << min(n, 63) if n < 64 else 0 * r, r < 0)


def shift_right(raw: object, t: FixedType, n: int) -> np.ndarray:
    """``x >> n`` on an ``ap_fixed``: same type, arithmetic shift (toward -inf)."""
    r = _raw(raw, t)
    if n < 0:
        return shift_left(r, t, -n)
    return r >> min(n, 63)


def pack(raw: object, t: FixedType) -> int:
    """Raw values of ``t`` side by side in one bit vector, value 0 in the low bits: how a
    memory word or a flattened Verilog port carries them (two's complement, ``t.width`` each)."""
    mask = (1 << t.width) - 1
    return sum((int(v) & mask) << (t.width * k) for k, v in enumerate(np.asarray(raw).reshape(-1)))


def unpack(word: int, t: FixedType, count: int) -> list[int]:
    """The ``count`` raw values of ``t`` in a bit vector made by :func:`pack`."""
    mask, sign = (1 << t.width) - 1, 1 << (t.width - 1)
    values = [(int(word) >> (t.width * k)) & mask for k in range(count)]
    return [v - (1 << t.width) if t.signed and v & sign else v for v in values]
