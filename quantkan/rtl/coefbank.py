"""The coefficients of one KAN edge in S+1 memory banks, read and updated S+1 at a time.

Coefficient ``c`` lives in bank ``c mod (S+1)`` at address ``c div (S+1)``, so the
window ``k..k+S`` of a sample touches every bank exactly once: bank ``b`` holds
window position ``(b - k) mod (S+1)`` at address ``(k + S - b) div (S+1)``.  A
sync read port feeds the forward pass; the update is read-modify-write on the
*current* value (an asynchronous read port, then one write), so no update is lost
whatever the pipeline depth.  The memories map to LUTRAM, not flip-flops.
"""

from __future__ import annotations

import math

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from quantkan.fixed import FixedType, sub_type
from quantkan.rtl.arith import cast_expr, fixed_shape

__all__ = ["CoefficientBank", "bank_address", "pack_fields"]


def bank_address(c: int, order: int) -> tuple[int, int]:
    """(bank, address) of coefficient ``c``: how the parameter port names a coefficient."""
    return c % (order + 1), c // (order + 1)


def pack_fields(fields: list[tuple[str, int]], values: dict[str, int]) -> int:
    """Bit fields (name, width), lowest first, packed into one word: a parameter port address."""
    word, shift = 0, 0
    for name, width in fields:
        v = int(values[name])
        if not 0 <= v < (1 << width):
            raise ValueError(f"address field {name} = {v} does not fit in {width} bits")
        word |= v << shift
        shift += width
    return word


def _divmod_const(v, d: int):
    if d & (d - 1) == 0:
        s = d.bit_length() - 1
        return v >> s, v[:s]
    return v // d, v % d


class CoefficientBank(wiring.Component):
    """One edge: forward window read (valid one cycle after ``rd_k``) and RMW update."""

    def __init__(self, coef_t: FixedType, update_t: FixedType, n_coef: int, order: int,
                 init: list[int]) -> None:
        self.coef_t, self.update_t, self.order = coef_t, update_t, order
        self.n_banks = order + 1
        self.depth = math.ceil(n_coef / self.n_banks)
        self.n_coef = n_coef
        if len(init) != n_coef:
            raise ValueError(f"expected {n_coef} initial coefficients, got {len(init)}")
        self.init = [int(v) for v in init]
        k_shape = unsigned(max(1, (n_coef - order - 1).bit_length()))
        c_shape = fixed_shape(coef_t)
        super().__init__({
            "rd_k": In(k_shape),
            "rd_window": Out(ArrayLayout(c_shape, self.n_banks)),
            "wr_k": In(k_shape),
            "wr_delta": In(ArrayLayout(fixed_shape(update_t), self.n_banks)),
            "wr_en": In(1),
            "p_sel": In(1),
            "p_bank": In(range(self.n_banks)),
            "p_addr": In(range(max(2, self.depth))),
            "p_we": In(1),
            "p_wdata": In(c_shape),
            "p_rdata": Out(c_shape),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        S, nb = self.order, self.n_banks
        diff_t = sub_type(self.coef_t, self.update_t)
        rot_rd = Signal(range(nb), name="rot_rd")
        _, r_now = _divmod_const(self.rd_k, nb)
        m.d.sync += rot_rd.eq(r_now)
        _, r_wr = _divmod_const(self.wr_k, nb)
        data = []
        for b in range(nb):
            init = [self.init[a * nb + b] if a * nb + b < self.n_coef else 0 for a in range(self.depth)]
            mem = Memory(shape=fixed_shape(self.coef_t), depth=self.depth, init=init)
            m.submodules[f"bank{b}"] = mem
            rd = mem.read_port()
            rmw = mem.read_port(domain="comb")
            wr = mem.write_port()
            m.d.comb += rd.addr.eq(_divmod_const(self.rd_k + (S - b), nb)[0])
            data.append(rd.data)
            # the delta for this bank is window position (b - r) mod (S+1)
            delta = Signal(fixed_shape(self.update_t), name=f"delta{b}")
            with m.Switch(r_wr):
                for r in range(nb):
                    with (m.Case(r) if r < nb - 1 else m.Default()):
                        m.d.comb += delta.eq(self.wr_delta[(b - r) % nb])
            upd_addr = _divmod_const(self.wr_k + (S - b), nb)[0]
            mine = self.p_sel & (self.p_bank == b)
            m.d.comb += rmw.addr.eq(Mux(self.p_sel, self.p_addr, upd_addr))
            current = rmw.data.as_signed() << (diff_t.frac - self.coef_t.frac)
            step = delta.as_signed() << (diff_t.frac - self.update_t.frac)
            updated = cast_expr(None, current - step, diff_t, self.coef_t)
            m.d.comb += [
                wr.addr.eq(rmw.addr),
                wr.data.eq(Mux(self.p_sel, self.p_wdata, updated)),
                wr.en.eq(Mux(self.p_sel, mine & self.p_we, self.wr_en)),
            ]
            with m.If(mine):
                m.d.comb += self.p_rdata.eq(rmw.data)
        with m.Switch(rot_rd):
            for r in range(nb):
                with (m.Case(r) if r < nb - 1 else m.Default()):
                    m.d.comb += [self.rd_window[k].eq(data[(k + r) % nb]) for k in range(nb)]
        return m
