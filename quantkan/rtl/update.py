"""The update delta in hardware: ``cast(lr * g, update)``, by the type's rounding or stochastic.

Mirrors :class:`quantkan.golden._Updater`: a power-of-two learning rate is a re-labelled
binary point (no logic), a constant is one more multiplier stage; stochastic rounding adds
the low ``d`` bits of a 32-bit LFSR lane (:mod:`quantkan.lfsr`) that leaps ``d`` steps per
learning sample (one XOR network), exactly as the golden model's lanes do.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value

from quantkan.fixed import FixedType, sub_type
from quantkan.golden import LearningRate, stochastic_types
from quantkan.lfsr import leap
from quantkan.rtl.arith import cast_expr, fixed_shape, lfsr32_leap, overflow_expr, raw_value, stochastic_cast_expr
from quantkan.rtl.pipeline import Builder, Timed

__all__ = ["scaled", "delta", "random_drop", "lfsr_lane", "applied", "applied_overflow"]


def scaled(bld: Builder, g: Timed, lr: LearningRate, name: str) -> Timed:
    """``lr * g`` exactly: free for a shift, else the product registered and one constant multiply."""
    if lr.shift is not None:
        return Timed(g.value, lr.scale_type(g.type), g.t)
    g_reg = bld.reg(g.value, name, fixed_shape(g.type))
    return Timed(g_reg * lr.raw, lr.scale_type(g.type), g.t + 1)


def random_drop(src_t: FixedType, update_t: FixedType, stochastic: bool) -> int:
    """How many random bits (and LFSR steps per learning sample) a delta's rounding takes: 0 for
    rounding by the type, or when the cast drops no bits."""
    return max(stochastic_types(src_t, update_t)[2], 0) if stochastic else 0


def lfsr_lane(m: Module, bld: Builder, init: int, drop: int, step: Value, name: str) -> tuple[Signal, Value]:
    """One LFSR lane: its register and its next state.  ``step`` (a learning sample in this
    cycle) leaps it ``drop`` steps.  The register runs one leap ahead: it holds the state the
    sample in this cycle draws from, so no XOR network sits between it and the rounding adder."""
    state = Signal(32, init=leap(int(init), drop), name=bld.name(f"lfsr_{name}"))
    nxt = Signal(32, name=bld.name(f"lfsr_{name}_next"))
    m.d.comb += nxt.eq(Mux(step, lfsr32_leap(state, drop), state))
    m.d.sync += state.eq(nxt)
    return state, nxt


def delta(m: Module, bld: Builder, src: Timed, update_t: FixedType, stochastic: bool, lfsr_init: int | None,
          step: Value, name: str, register: bool = True, random_bits: Value | None = None) -> Value:
    """The delta, registered (valid at ``src.t + 1``) or combinational (at ``src.t``, for a
    bank that registers it).  Stochastic: ``step`` (the learning sample, in cycle ``src.t``)
    leaps the lane (from ``lfsr_init``) as many steps as the rounding drops bits, unless the
    caller brings the lane's bits for this cycle itself (``random_bits``)."""
    drop = random_drop(src.type, update_t, stochastic)
    if not drop:
        return bld.cast(src, update_t, name, register=register).value
    if random_bits is None:
        random_bits, _ = lfsr_lane(m, bld, int(lfsr_init), drop, step, name)
    value = stochastic_cast_expr(src.value, random_bits, src.type, update_t)
    return bld.reg(value, name, fixed_shape(update_t)) if register else value


def applied(param: Value, param_t: FixedType, delta: Value, update_t: FixedType) -> Value:
    """``cast(param - delta, param_t)``, combinational: the golden ``_Updater.apply`` of one
    parameter (a KAN coefficient, an MLP weight or bias), the write of its read-modify-write."""
    return cast_expr(None, *_difference(param, param_t, delta, update_t), param_t)


def applied_overflow(param: Value, param_t: FixedType, delta: Value, update_t: FixedType) -> Value:
    """1 when :func:`applied` overflows ``param_t`` (the golden ``param_sat`` count of that write)."""
    return overflow_expr(*_difference(param, param_t, delta, update_t), param_t)


def _difference(param: Value, param_t: FixedType, delta: Value, update_t: FixedType) -> tuple[Value, FixedType]:
    """``param - delta`` exactly, and its type."""
    diff_t = sub_type(param_t, update_t)

    def aligned(v: Value, t: FixedType) -> Value:
        return raw_value(v, t) << (diff_t.frac - t.frac)

    return aligned(param, param_t) - aligned(delta, update_t), diff_t
