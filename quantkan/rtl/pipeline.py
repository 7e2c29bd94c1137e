"""Timed values: build a fixed-latency pipeline by saying *when* each value is valid.

Every datapath value of a learner carries the cycle (relative to the sample's
arrival) at which it is valid.  Combining values aligns them with delay registers,
so stage boundaries, latency and update delay D fall out of the construction
instead of being counted by hand.  The pipeline never stalls: each register moves
every cycle, and a valid bit travels alongside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth.hdl import Module, Signal, Value

from quantkan.fixed import FixedType, add_type, mul_type
from quantkan.rtl.arith import cast_expr, fixed_shape, overflow_expr

__all__ = ["Timed", "Builder", "FLAG", "CHAINS"]

CHAINS = 2  # deep: adder levels (carry chains) in series between two registers

#: The "type" of a one-bit event flag (an overflow), so flags travel as Timed values.
FLAG = FixedType(1, 1, False)


@dataclass(frozen=True)
class Timed:
    """A raw fixed-point value of type ``type``, valid at cycle ``t``."""

    value: Value
    type: FixedType
    t: int


class Builder:
    """Registers, delay lines and adder trees inside one Module, with unique names."""

    def __init__(self, m: Module, deep: bool = False, dsp_inputs: bool = False) -> None:
        self.m = m
        self.deep = deep  # a register between every carry chain: a faster clock for more cycles
        # deep: each multiplier's operands in registers of their own, a cycle later: the route to
        # the DSP block is then a cycle of its own (the ECP5 flow makes them the DSP's input registers)
        self.dsp_inputs = deep and dsp_inputs
        self._names: dict[str, int] = {}
        self._chains: dict[int, list[Value]] = {}

    def name(self, base: str) -> str:
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return f"{base}_{n}" if n else base

    def reg(self, value: Value, name: str, shape=None, control: bool = False, keep: bool = False) -> Signal:
        """One pipeline register.  Only ``control`` registers (valid, learn) are reset: datapath
        registers without a reset map to shift-register LUTs (SRL) and cost no reset routing.
        A ``keep`` register is one consumer's own copy: synthesis would merge equal registers back
        into one, and the ``keep`` stops yosys (:data:`quantkan.boards.lattice.KEEP_REGISTERS`) and Vivado."""
        r = Signal(shape if shape is not None else Value.cast(value).shape(), name=self.name(name),
                   reset_less=not control, attrs={"keep": 1} if keep else {})
        self.m.d.sync += r.eq(value)
        return r

    def copy(self, x: Timed, name: str) -> Timed:
        """``x`` one cycle later in a ``keep`` register of its own (one per consumer).

        A value that feeds multipliers all over the die (the error, the hidden error) gets a
        cycle of pure routing to a copy next to each, instead of one long net in series with
        every multiplier."""
        return Timed(self.reg(x.value, name, fixed_shape(x.type), keep=True), x.type, x.t + 1)

    def delay(self, value: Value, cycles: int, name: str, control: bool = False) -> Value:
        """``value`` seen ``cycles`` later (a shift register; shared when asked twice)."""
        if cycles < 0:
            raise ValueError(f"cannot move {name} back in time by {-cycles} cycles")
        chain = self._chains.setdefault(id(value), [value])  # one shift register per value, tapped
        while len(chain) <= cycles:
            chain.append(self.reg(chain[-1], f"{name}_d{len(chain)}", control=control))
        return chain[cycles]

    def at(self, x: Timed, t: int, name: str = "v") -> Timed:
        return Timed(self.delay(x.value, t - x.t, name), x.type, t)

    def cast(self, x: Timed, dst: FixedType, name: str, register: bool = True,
             flags: list[Timed] | None = None) -> Timed:
        """cast(x, dst) computed in x's cycle, registered into the next (or left combinational).
        ``flags`` gets its overflow flag (valid in x's cycle), for the diagnostics counters."""
        if flags is not None:
            flags.append(Timed(overflow_expr(x.value, x.type, dst), FLAG, x.t))
        y = cast_expr(None, x.value, x.type, dst)
        if not register:
            return Timed(y, dst, x.t)
        return Timed(self.reg(y, name, fixed_shape(dst)), dst, x.t + 1)

    def operands(self, a: Timed, b: Timed, name: str) -> tuple[Timed, Timed]:
        """a and b in one cycle, for one multiplier (:attr:`dsp_inputs`: in its own registers)."""
        t = max(a.t, b.t)
        a, b = self.at(a, t, name + "_a"), self.at(b, t, name + "_b")
        if self.dsp_inputs:
            a, b = self.copy(a, name + "_op"), self.copy(b, name + "_op")
        return a, b

    def product(self, a: Timed, b: Timed, name: str) -> Timed:
        """The exact product (one multiplier), registered."""
        a, b = self.operands(a, b, name)
        rt = mul_type(a.type, b.type)
        v = a.value * b.value
        return Timed(self.reg(v, name, fixed_shape(rt)), rt, a.t + 1)

    def tree(self, terms: list[Timed], dst: FixedType, name: str, flags: list[Timed] | None = None) -> Timed:
        """Sum of ``terms`` (one exact type), cast to ``dst``.  Shallow: one adder level per cycle
        and the cast in the last level's cycle.  Deep: :data:`CHAINS` adder levels per cycle (two
        36-bit adds in series reach 222 MHz alone on an ECP5 -8, three 157 MHz) and the cast in a
        cycle of its own (a level and the cast in one: 128 MHz in a [1, 2, 1]).  A single term is
        just cast (in its own cycle).  ``flags`` gets the final cast's overflow flag (:meth:`cast`)."""
        if not terms:
            raise ValueError("an adder tree needs at least one term")
        per_cycle = CHAINS if self.deep else 1
        t = max(x.t for x in terms)
        level = [self.at(x, t, f"{name}_in") for x in terms]
        chains = 0  # carry chains in series since the last register
        while len(level) > 1:
            nxt = [_sum(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
            level = nxt + level[len(nxt) * 2:]  # an odd term passes this level
            chains += 1
            if len(level) == 1 and not self.deep:  # shallow: the last level and the cast in one stage
                x = level[0]
                if flags is not None:
                    flags.append(Timed(overflow_expr(x.value, x.type, dst), FLAG, t))
                return Timed(self.reg(cast_expr(None, x.value, x.type, dst), name, fixed_shape(dst)), dst, t + 1)
            if chains == per_cycle or len(level) == 1:
                level = [Timed(self.reg(x.value, f"{name}_l", fixed_shape(x.type)), x.type, t + 1) for x in level]
                t, chains = t + 1, 0
        return self.cast(level[0], dst, name, flags=flags)

    def dot(self, pairs: list[tuple[Timed, Timed]], dst: FixedType, name: str,
            flags: list[Timed] | None = None) -> Timed:
        """sum of a * b over ``pairs``, cast to ``dst`` (a backpropagated error): one pair is one
        multiply and its cast (in one stage; ``deep``: the product registered first); more are
        registered products into an adder tree."""
        if len(pairs) == 1 and self.deep:
            return self.cast(self.product(*pairs[0], f"{name}_p"), dst, name, flags=flags)
        if len(pairs) == 1:
            a, b = self.operands(*pairs[0], name)
            return self.cast(Timed(a.value * b.value, mul_type(a.type, b.type), a.t), dst, name, flags=flags)
        return self.tree([self.product(a, b, f"{name}_p") for a, b in pairs], dst, name, flags=flags)

def _sum(a: Timed, b: Timed) -> Timed:
    """a + b exactly (combinational, in a's cycle), both moved to the sum type's binary point."""
    st = add_type(a.type, b.type)

    def align(x: Timed) -> Value:
        v = x.value.as_signed() if x.type.signed else x.value.as_unsigned()
        return v << (st.frac - x.type.frac)
    return Timed(align(a) + align(b), st, a.t)


def tree_levels(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0
