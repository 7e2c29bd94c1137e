"""quantkan.rtl.arith against the NumPy golden model, bit for bit, in amaranth.sim.

Every cast test is exhaustive over the source: each (src, dst) pair sees every raw value
of src.  Pairs that share a source width share one simulation (one input signal feeding
many Cast instances, their outputs read as one concatenated word), so hundreds of pairs
cost a few thousand simulator steps per width.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Elaboratable, Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from quantkan import fixed
from quantkan.fixed import FixedType, Overflow, Rounding
from quantkan.golden import LearningRate, _Updater
from quantkan.lfsr import LFSRBank
from quantkan.rtl.arith import (
    LFSR32,
    Cast,
    cast_expr,
    fixed_shape,
    lfsr32_leap,
    overflow_expr,
    lfsr32_next,
    stochastic_cast_expr,
)

SEED = 20260214
PAIRS_PER_MODE_COMBO = 3  # x 7 roundings x 4 overflows x 4 signedness combos

_TALLY = {"cases": 0, "pairs": 0, "seconds": 0.0}


# -- helpers -------------------------------------------------------------------
def _all_raw(t: FixedType) -> np.ndarray:
    """Every raw value of ``t``, in bit-pattern order 0 .. 2**W - 1."""
    bits = np.arange(1 << t.width, dtype=np.int64)
    if t.signed:
        bits = np.where(bits >= (1 << (t.width - 1)), bits - (1 << t.width), bits)
    return bits


def _random_type(rng: np.random.Generator, max_width: int, signed: bool,
                 rounding=None, overflow=None) -> FixedType:
    width = int(rng.integers(1, max_width + 1))
    integer = int(rng.integers(-3, width + 4))
    rounding = rounding or list(Rounding)[rng.integers(len(Rounding))]
    overflow = overflow or list(Overflow)[rng.integers(len(Overflow))]
    return FixedType(width, integer, signed, rounding, overflow)


def _edge_pairs() -> list[tuple[FixedType, FixedType]]:
    """Hand-picked corners, in every mode pair."""
    shapes = [
        ((8, 3, True), (1, 0, True)),     # 1-bit signed dst (SAT_SYM acts as SAT)
        ((8, 3, True), (1, 1, False)),    # 1-bit unsigned dst
        ((6, 2, True), (4, 8, True)),     # drop far beyond the source width
        ((5, 5, False), (6, -2, False)),  # gain more bits than the dst holds
        ((7, 3, True), (9, 1, True)),     # gain a few bits, narrower range
        ((9, 4, True), (5, 0, True)),     # equal frac, fewer integer bits
        ((9, 4, True), (5, 0, False)),    # signed -> unsigned
        ((9, 4, False), (5, 0, True)),    # unsigned -> signed
        ((8, 8, True), (8, 8, True)),     # identity
        ((10, 2, True), (6, -2, True)),   # dst integer < 0
        ((10, 12, True), (4, 9, True)),   # dst integer > width on both sides
        ((14, 7, True), (12, 6, True)),   # widest source, drop 1
        ((14, 0, False), (3, 0, False)),  # widest unsigned source, drop 11
        ((3, 1, True), (12, 5, True)),    # narrow to wide, gaining bits
        ((4, 2, True), (2, 0, True)),     # equal frac, narrower
    ]
    pairs = []
    for (ws, is_, ss), (wd, id_, sd) in shapes:
        for rnd in Rounding:
            for ovf in Overflow:
                pairs.append((FixedType(ws, is_, ss), FixedType(wd, id_, sd, rnd, ovf)))
    return pairs


def _random_pairs(seed: int) -> list[tuple[FixedType, FixedType]]:
    rng = np.random.default_rng(seed)
    pairs = []
    for rnd in Rounding:
        for ovf in Overflow:
            for src_signed in (False, True):
                for dst_signed in (False, True):
                    for _ in range(PAIRS_PER_MODE_COMBO):
                        src = _random_type(rng, 14, src_signed)
                        dst = _random_type(rng, 12, dst_signed, rnd, ovf)
                        pairs.append((src, dst))
    return pairs


class _Bench(Elaboratable):
    """Shared input signals feeding many blocks; ``out`` is all their outputs concatenated.

    ``connect(a)`` returns the (block port, bench input) pairs to wire up, given the shared
    source input ``a``.
    """

    def __init__(self, width: int, blocks, outputs, connections) -> None:
        self.a = Signal(width)
        self.blocks, self.outputs = blocks, outputs
        self.connections = connections(self.a)
        self.out = Signal(sum(len(o) for o in outputs))

    def elaborate(self, platform):
        m = Module()
        for i, b in enumerate(self.blocks):
            m.submodules[f"u{i}"] = b
        for port, source in self.connections:
            m.d.comb += port.eq(source)
        m.d.comb += self.out.eq(Cat(*self.outputs))
        return m


def _unpack(words: list[int], widths: list[int]) -> list[np.ndarray]:
    """Split concatenated output words into one array of raw bit patterns per block."""
    fields, offset = [], 0
    for w in widths:
        mask = (1 << w) - 1
        fields.append(np.array([(x >> offset) & mask for x in words], dtype=np.int64))
        offset += w
    return fields


def _run(bench: _Bench, signals: list[Signal], steps) -> list[int]:
    """Combinational simulation: for each step, set ``signals`` to its values, read ``out``."""
    words = []

    async def tb(ctx):
        for values in steps:
            for sig, val in zip(signals, values):
                ctx.set(sig, val)
            words.append(ctx.get(bench.out))

    sim = Simulator(bench)
    sim.add_testbench(tb)
    sim.run()
    return words


def _check_casts_exhaustively(pairs) -> tuple[int, list[str]]:
    """Simulate every pair over every raw value of its src; return (cases, mismatches)."""
    by_width = defaultdict(list)
    for src, dst in pairs:
        by_width[src.width].append((src, dst))
    cases, failures = 0, []
    for width, group in sorted(by_width.items()):
        casts = [Cast(src, dst) for src, dst in group]
        bench = _Bench(width, casts, [c.y for c in casts], lambda a: [(c.a, a) for c in casts])
        words = _run(bench, [bench.a], ((b,) for b in range(1 << width)))
        got_all = _unpack(words, [dst.width for _, dst in group])
        for (src, dst), got in zip(group, got_all):
            raw = _all_raw(src)
            want = fixed.cast(raw, src, dst) & ((1 << dst.width) - 1)
            bad = np.flatnonzero(got != want)
            cases += raw.size
            if bad.size:
                i = bad[0]
                failures.append(f"{src} -> {dst}: {bad.size} mismatches, e.g. raw {raw[i]}: "
                                f"rtl bits {got[i]:#x}, golden bits {want[i]:#x}")
    return cases, failures


# -- cast ----------------------------------------------------------------------
def test_fixed_shape():
    assert fixed_shape(FixedType(7, 3, True)) == fixed_shape(FixedType(7, -2, True))
    assert fixed_shape(FixedType(7, 3, True)).signed
    assert fixed_shape(FixedType(5, 9, False)) == unsigned(5)


def test_cast_matches_golden_exhaustively():
    pairs = _edge_pairs() + _random_pairs(SEED)
    start = time.perf_counter()
    cases, failures = _check_casts_exhaustively(pairs)
    _TALLY["cases"] += cases
    _TALLY["pairs"] += len(pairs)
    _TALLY["seconds"] += time.perf_counter() - start
    modes = {(d.rounding, d.overflow, s.signed, d.signed) for s, d in pairs}
    assert len(modes) == 7 * 4 * 4
    assert not failures, f"{len(failures)} of {len(pairs)} pairs differ:\n" + "\n".join(failures[:20])
    print(f"\ncast: {len(pairs)} type pairs, {cases:,} (pair, value) cases, all bit-exact "
          f"({_TALLY['seconds']:.1f} s)")


class _Flag(Elaboratable):
    """``y = overflow_expr(a, src, dst)``."""

    def __init__(self, src: FixedType, dst: FixedType) -> None:
        self.src, self.dst = src, dst
        self.a, self.y = Signal(fixed_shape(src)), Signal(1)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(overflow_expr(self.a, self.src, self.dst))
        return m


def test_overflow_flag_matches_golden_exhaustively():
    """The diagnostics' overflow flag, every raw value of src, every mode pair (WRAP included)."""
    pairs = _edge_pairs() + _random_pairs(SEED + 1)[::3]
    by_width = defaultdict(list)
    for src, dst in pairs:
        by_width[src.width].append((src, dst))
    flagged = 0
    for width, group in sorted(by_width.items()):
        flags = [_Flag(src, dst) for src, dst in group]
        bench = _Bench(width, flags, [f.y for f in flags], lambda a: [(f.a, a) for f in flags])
        got_all = _unpack(_run(bench, [bench.a], ((b,) for b in range(1 << width))), [1] * len(group))
        for (src, dst), got in zip(group, got_all):
            want = fixed.cast_flagged(_all_raw(src), src, dst)[1]
            assert np.array_equal(got.astype(bool), want), (src, dst)
            flagged += int(want.sum())
    assert flagged > 1000


def test_cast_expr_pure_expression_and_module_forms_agree():
    """``m=None`` gives a pure expression with the same bits as the Cast component."""
    src = FixedType(9, 3, True)
    dst = FixedType(5, 1, True, Rounding.RND_CONV, Overflow.SAT_SYM)
    a = Signal(fixed_shape(src))
    pure = cast_expr(None, a, src, dst)
    assert pure.shape() == fixed_shape(dst)
    cast = Cast(src, dst)
    bench = _Bench(src.width, [cast], [cast.y, pure], lambda x: [(cast.a, x), (a, x)])
    words = _run(bench, [bench.a], ((b,) for b in range(1 << src.width)))
    via_module, via_expr = _unpack(words, [dst.width, dst.width])
    want = fixed.cast(_all_raw(src), src, dst) & 31
    assert (via_module == want).all() and (via_expr == want).all()


# -- stochastic rounding -------------------------------------------------------
class _FixedBits:
    """Stands in for an LFSRBank: hands out given random bits."""

    def __init__(self, bits: np.ndarray) -> None:
        self._bits = bits

    def bits(self, d: int) -> np.ndarray:
        return self._bits & ((1 << d) - 1)


class _Stochastic(Elaboratable):
    def __init__(self, src: FixedType, dst: FixedType, random_width: int) -> None:
        self.src, self.dst = src, dst
        self.a = Signal(fixed_shape(src))
        self.r = Signal(random_width)
        self.y = Signal(fixed_shape(dst))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(stochastic_cast_expr(self.a, self.r, self.src, self.dst, m=m))
        return m


def test_stochastic_cast_matches_golden_updater():
    """Against quantkan.golden._Updater.delta (rounding="stochastic", lr = 1)."""
    rng = np.random.default_rng(SEED + 1)
    pairs = []
    for ovf in Overflow:
        for src_signed in (False, True):
            for dst_signed in (False, True):
                for _ in range(4):
                    src = _random_type(rng, 10, src_signed)
                    dst = _random_type(rng, 8, dst_signed, list(Rounding)[rng.integers(7)], ovf)
                    pairs.append((src, dst))
    # Corners: dropping more bits than the source has, a 1-bit result, no dropped bits.
    pairs += [(FixedType(4, 0, True), FixedType(6, 4, True, overflow=Overflow.SAT)),
              (FixedType(8, 2, True), FixedType(1, 0, True, overflow=Overflow.SAT_SYM)),
              (FixedType(8, 2, True), FixedType(8, 4, True, overflow=Overflow.SAT_SYM)),
              (FixedType(6, 6, False), FixedType(5, 2, False, Rounding.RND, Overflow.SAT))]
    rw = 16
    draws = 4  # random words per raw value
    by_width = defaultdict(list)
    for src, dst in pairs:
        by_width[src.width].append((src, dst))
    cases, failures = 0, []
    lr = LearningRate(1.0, 0, None, 1)
    for width, group in sorted(by_width.items()):
        blocks = [_Stochastic(src, dst, max(1, src.frac - dst.frac)) for src, dst in group]
        r = Signal(rw)
        bench = _Bench(width, blocks, [b.y for b in blocks],
                       lambda a: [(b.a, a) for b in blocks] + [(b.r, r) for b in blocks])
        patterns = np.repeat(np.arange(1 << width), draws)
        rand = rng.integers(0, 1 << rw, size=patterns.size)
        words = _run(bench, [bench.a, r], zip(patterns.tolist(), rand.tolist()))
        for (src, dst), got in zip(group, _unpack(words, [d.width for _, d in group])):
            raw = _all_raw(src)[patterns]
            updater = _Updater(lr, dst, dst, "stochastic", _FixedBits(rand.astype(np.int64)))
            want = updater.delta(raw, src) & ((1 << dst.width) - 1)
            cases += raw.size
            bad = np.flatnonzero(got != want)
            if bad.size:
                i = bad[0]
                failures.append(f"{src} -> {dst}: {bad.size} mismatches, e.g. raw {raw[i]} "
                                f"bits {rand[i]:#x}: rtl {got[i]:#x}, golden {want[i]:#x}")
    assert not failures, "\n".join(failures[:20])
    print(f"\nstochastic: {len(pairs)} type pairs, {cases:,} (pair, value, bits) cases, bit-exact")


def test_stochastic_cast_needs_enough_random_bits():
    with pytest.raises(ValueError, match="drops 3 bits"):
        stochastic_cast_expr(Signal(signed(8)), Signal(2), FixedType(8, 2), FixedType(5, 2))


# -- LFSR ----------------------------------------------------------------------
@pytest.mark.parametrize("leap", [1, 2, 5, 18, 31, 32])
def test_lfsr32_matches_lfsr_bank(leap):
    """Each enabled clock leaps as the golden bank does when it draws ``leap`` bits."""
    bank = LFSRBank(seed=12345, layer=1, shape=(1,))
    seed = int(bank.state[0])
    dut = LFSR32(seed, leap=leap)
    rng = np.random.default_rng(SEED + 2)
    enables = [1] * 500 + [int(b) for b in rng.integers(0, 2, size=100)]
    expected, seen = [], []
    for e in enables:
        if e:
            bank.bits(leap)
        expected.append(int(bank.state[0]))

    async def tb(ctx):
        seen.append(ctx.get(dut.state))
        for e in enables:
            ctx.set(dut.step, e)
            await ctx.tick()
            seen.append(ctx.get(dut.state))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen[0] == seed
    assert seen[1:] == expected
    assert sum(enables) >= 500


def test_lfsr32_rejects_zero_seed_and_bad_leaps():
    with pytest.raises(ValueError, match="non-zero"):
        LFSR32(0)
    with pytest.raises(ValueError):
        LFSR32(1 << 32)
    with pytest.raises(ValueError, match="an LFSR leap is 0..32 steps, got 33"):
        LFSR32(1, leap=33)


def test_lfsr32_next_rejects_wrong_width():
    with pytest.raises(ValueError, match="32 bits"):
        lfsr32_next(Signal(31))
    with pytest.raises(ValueError, match="32 bits"):
        lfsr32_leap(Signal(33), 4)


# -- Verilog -------------------------------------------------------------------
def test_cast_and_lfsr_convert_to_verilog():
    cast = Cast(FixedType(12, 4, True), FixedType(7, 2, True, Rounding.RND_CONV, Overflow.SAT_SYM))
    text = verilog.convert(cast, name="cast_q")
    assert "module cast_q" in text and "input [11:0] a" in text and "output [6:0] y" in text
    text = verilog.convert(LFSR32(0xACE1), name="lfsr32")
    assert "module lfsr32" in text and "output [31:0] state" in text
