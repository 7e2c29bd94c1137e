"""The coefficients of one KAN edge in memory banks, read and updated S+1 at a time.

There are ``nb`` banks, the smallest power of two above S (so ``nb >= S+1`` and every
split of an index is a bit slice, never a divider).  Coefficient ``c`` lives in bank
``c mod nb`` at address ``c div nb``, so the window ``k..k+S`` of a sample touches
S+1 different banks: bank ``b`` holds window position ``m_b = (b - k) mod nb`` (active
when ``m_b <= S``) at address ``(k + nb - 1 - b) div nb``.  Updates arrive in bank order
(:func:`bank_order`): the learner rotates the basis before its error x basis multiply, so no
mux sits between a delta's rounding and the read-modify-write.  An asynchronous read, rotated into
window order and registered, feeds the
forward pass; the update is read-modify-write on the *current* value (an asynchronous
read port, then one write), so no update is lost whatever the pipeline depth.  The
memories map to LUTRAM, not flip-flops.

A ``registered`` bank splits the read-modify-write over two cycles (read and select the
delta; subtract, saturate and write), so the LUTRAM read and the subtraction are not in one
path.  An update that reads the address the previous one is writing takes the value being
written (forwarding): back-to-back updates of one coefficient stay exact, and the write
lands one cycle later (:attr:`CoefficientBank.write_latency`).
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from quantkan.fixed import FixedType
from quantkan.rtl.arith import fixed_shape
from quantkan.rtl.update import applied, applied_overflow

__all__ = ["CoefficientBank", "bank_geometry", "bank_address", "bank_order", "pack_fields"]


def bank_geometry(n_coef: int, order: int) -> tuple[int, int]:
    """(banks, depth) for an edge of ``n_coef`` = G+S coefficients.  The depth covers every
    address a window can form, so even an inactive bank never reads out of range."""
    nb = 1 << order.bit_length()
    last = n_coef - order - 1 + nb - 1  # the highest index bank b's address can name
    return nb, last // nb + 1


def bank_order(k: Value, window: list, order: int) -> list[Value]:
    """``window`` (the S+1 values of a sample whose first coefficient is ``k``) in bank order:
    bank ``b`` gets window position ``(b - k) mod nb``, and 0 where that lies beyond S."""
    nb = 1 << order.bit_length()
    if nb == 1:
        return list(window)
    r = k[:nb.bit_length() - 1]
    return [Array([window[(b - q) % nb] if (b - q) % nb <= order else Const(0) for q in range(nb)])[r]
            for b in range(nb)]


def bank_address(c: int, order: int) -> tuple[int, int]:
    """(bank, address) of coefficient ``c``: how the parameter port names a coefficient."""
    nb = 1 << order.bit_length()
    return c % nb, c // nb


def pack_fields(fields: list[tuple[str, int]], values: dict[str, int]) -> int:
    """Bit fields (name, width), lowest first, packed into one word: a parameter port address.
    Fields ``values`` does not name are 0 (the learner's padding and counter-space bit)."""
    word, shift = 0, 0
    for name, width in fields:
        v = int(values.get(name, 0))
        if not 0 <= v < (1 << width):
            raise ValueError(f"address field {name} = {v} does not fit in {width} bits")
        word |= v << shift
        shift += width
    return word


class CoefficientBank(wiring.Component):
    """One edge: forward window read (valid one cycle after ``rd_k``) and RMW update."""

    def __init__(self, coef_t: FixedType, update_t: FixedType, n_coef: int, order: int,
                 init: list[int], registered: bool = False) -> None:
        self.coef_t, self.update_t, self.order = coef_t, update_t, order
        self.registered = registered
        self.n_banks, self.depth = bank_geometry(n_coef, order)
        self.n_coef = n_coef
        if len(init) != n_coef:
            raise ValueError(f"expected {n_coef} initial coefficients, got {len(init)}")
        self.init = [int(v) for v in init]
        k_shape = unsigned(max(self.n_banks.bit_length() - 1, (n_coef - order - 1).bit_length(), 1))
        c_shape = fixed_shape(coef_t)
        super().__init__({
            "rd_k": In(k_shape),
            "rd_window": Out(ArrayLayout(c_shape, order + 1)),
            "wr_k": In(k_shape),
            "wr_delta": In(ArrayLayout(fixed_shape(update_t), self.n_banks)),  # in bank order
            "wr_en": In(1),
            "wr_sat": Out(self.n_banks),  # per bank: its update write overflowed (diagnostics)
            "p_sel": In(1),
            "p_bank": In(range(self.n_banks)),
            "p_addr": In(range(max(2, self.depth))),
            "p_we": In(1),
            "p_wdata": In(c_shape),
            "p_rdata": Out(c_shape),
        })

    @property
    def read_lag(self) -> int:
        """Cycles from ``p_sel``/``p_addr`` to ``p_rdata``: registered, the read-modify-write's read
        register serves the port as well."""
        return 1 if self.registered else 0

    @property
    def write_latency(self) -> int:
        """Cycles from ``wr_en`` (with ``wr_k``, ``wr_delta``) to the cycle whose edge commits the write."""
        return 1 if self.registered else 0

    def elaborate(self, platform) -> Module:
        m = Module()
        S, nb = self.order, self.n_banks
        s = nb.bit_length() - 1
        r_wr = self.wr_k[:s]
        data = []
        for b in range(nb):
            init = [self.init[c] if c < self.n_coef else 0 for c in range(b, nb * self.depth, nb)]
            mem = Memory(shape=fixed_shape(self.coef_t), depth=self.depth, init=init)
            m.submodules[f"bank{b}"] = mem
            rd = mem.read_port(domain="comb")  # registered after the rotation below
            rmw = mem.read_port(domain="comb")
            wr = mem.write_port()
            m.d.comb += rd.addr.eq((self.rd_k + (nb - 1 - b)) >> s)
            data.append(rd.data)
            # this bank holds window position (b - r) mod nb; beyond S it sits the sample out
            delta = self.wr_delta[b]
            active = Signal(name=f"active{b}")
            m.d.comb += active.eq(Array(Const(int((b - r) % nb <= S)) for r in range(nb))[r_wr])
            upd_addr = (self.wr_k + (nb - 1 - b)) >> s
            mine = self.p_sel & (self.p_bank == b)
            m.d.comb += rmw.addr.eq(Mux(self.p_sel, self.p_addr, upd_addr))
            if self.registered:
                # cycle 1: the current value (or the one being written to it) and the delta
                cur = Signal(fixed_shape(self.coef_t), name=f"rmw_cur{b}", reset_less=True)
                step_d = Signal(fixed_shape(self.update_t), name=f"rmw_delta{b}", reset_less=True)
                addr_d = Signal.like(rmw.addr, name=f"rmw_addr{b}", reset_less=True)
                en_d = Signal(name=f"rmw_en{b}")
                updated = applied(cur, self.coef_t, step_d, self.update_t)
                hit = en_d & (addr_d == upd_addr)  # forwarding: the previous update writes this address now
                m.d.sync += [cur.eq(Mux(hit, updated, rmw.data)), step_d.eq(delta), addr_d.eq(upd_addr),
                             en_d.eq(self.wr_en & active)]
                m.d.comb += self.wr_sat[b].eq(en_d & ~self.p_sel & applied_overflow(cur, self.coef_t, step_d, self.update_t))
                read = Signal(name=f"p_read{b}")  # no update is in flight while the port is used: cur is the word
                m.d.sync += read.eq(mine)
                with m.If(read):
                    m.d.comb += self.p_rdata.eq(cur)
                # cycle 2: subtract, saturate, write
                m.d.comb += [
                    wr.addr.eq(Mux(self.p_sel, self.p_addr, addr_d)),
                    wr.data.eq(Mux(self.p_sel, self.p_wdata, updated)),
                    wr.en.eq(Mux(self.p_sel, mine & self.p_we, en_d)),
                ]
            else:
                m.d.comb += [
                    wr.addr.eq(rmw.addr),
                    wr.data.eq(Mux(self.p_sel, self.p_wdata, applied(rmw.data, self.coef_t, delta, self.update_t))),
                    wr.en.eq(Mux(self.p_sel, mine & self.p_we, self.wr_en & active)),
                    self.wr_sat[b].eq(self.wr_en & active & applied_overflow(rmw.data, self.coef_t, delta,
                                                                             self.update_t)),
                ]
                with m.If(mine):
                    m.d.comb += self.p_rdata.eq(rmw.data)
        # rotate the banks into window order before the register, so a multiplier follows it directly
        with m.Switch(self.rd_k[:s]):
            for r in range(nb):
                with m.Case(r):
                    m.d.sync += [self.rd_window[k].eq(data[(k + r) % nb]) for k in range(S + 1)]
        return m
