"""quantkan.rtl.pipeline in amaranth.sim: the adder tree's cycles per pipeline and its value, bit for
bit against the NumPy cast of the exact sum, and the kept per-consumer copy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.sim import Simulator

from quantkan import fixed
from quantkan.fixed import FixedType
from quantkan.rtl.arith import fixed_shape
from quantkan.rtl.pipeline import CHAINS, Builder, Timed

TERM = FixedType(12, 4, True)
DST = FixedType(8, 3, True, "AP_RND_CONV", "AP_SAT")  # drops bits and saturates: rounding and clamping


def expected_cycles(n: int, deep: bool) -> int:
    """Shallow: one adder level per cycle, the cast with the last; deep: CHAINS levels per cycle,
    then the cast alone.  A single term is its cast."""
    levels = math.ceil(math.log2(n)) if n > 1 else 0
    if not deep:
        return max(levels, 1)
    return math.ceil(levels / CHAINS) + 1


@pytest.mark.parametrize("deep", [True, False], ids=["deep", "shallow"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 16])
def test_adder_tree_cycles_and_value(n, deep):
    m = Module()
    bld = Builder(m, deep=deep)
    inputs = [Signal(fixed_shape(TERM), name=f"x{k}") for k in range(n)]
    out = bld.tree([Timed(x, TERM, 0) for x in inputs], DST, "acc0")
    assert out.t == expected_cycles(n, deep)

    rng = np.random.default_rng(n)
    samples = rng.integers(TERM.min_raw, TERM.max_raw + 1, size=(24, n))
    wide = FixedType(TERM.width + 8, TERM.integer + 8, True)  # holds any sum of 16 terms exactly
    want = fixed.cast(samples.sum(axis=1), wide, DST)
    got = []

    async def bench(ctx):
        for k in range(len(samples) + out.t):
            if k < len(samples):
                for x, v in zip(inputs, samples[k]):
                    ctx.set(x, int(v))
            if k >= out.t:  # sample k - t, t cycles after it was presented
                got.append(ctx.get(out.value))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == want.tolist()


def test_copy_is_a_kept_register_one_cycle_later():
    m = Module()
    bld = Builder(m, deep=True)
    x = Timed(Signal(fixed_shape(TERM), name="e"), TERM, 5)
    a, b = bld.copy(x, "efan1"), bld.copy(x, "efan1")
    assert (a.t, b.t) == (6, 6) and a.value is not b.value
    assert a.value.attrs.get("keep") == 1 and a.value.name != b.value.name
    Fragment.get(m, None)  # it elaborates
