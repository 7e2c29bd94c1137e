"""Spline lookup in hardware: an input's cell and table row, and the basis/derivative ROMs.

The arithmetic is :class:`quantkan.golden.GridMap`'s, bit for bit: ``t = (x - lo) * (1/h)``
(a bit slice when h is a power of two, else one constant multiplier in a stage of its
own), rows clamped to the grid, cell = the high bits, table row = the low ``lut_bits``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, unsigned
from amaranth.lib.memory import Memory

from quantkan.fixed import FixedType, pack
from quantkan.golden import GridMap
from quantkan.rtl.arith import fixed_shape, greater_than, less_than, raw_value
from quantkan.rtl.pipeline import Builder, Timed

__all__ = ["locate", "table_rom"]


def locate(m: Module, bld: Builder, gm: GridMap, x: Timed, name: str) -> tuple[Value, Value, int]:
    """(cell k, table row, cycle) of one input, combinational in the returned cycle."""
    d = raw_value(x.value, x.type) - gm.lo_raw  # an unsigned input stays non-negative
    t = x.t
    if gm.inv_h_raw != 1:
        d = bld.reg(d * gm.inv_h_raw, f"t_{name}")
        t += 1
    shift = gm.t_frac - gm.lut_bits
    rows = d >> shift if shift >= 0 else d << -shift
    last = (gm.cells << gm.lut_bits) - 1
    clamped = Signal(range(last + 1), name=bld.name(f"rows_{name}"))
    m.d.comb += clamped.eq(Mux(less_than(rows, 0), 0, Mux(greater_than(rows, last), last, rows)))
    return clamped[gm.lut_bits:], clamped[:gm.lut_bits], t


def table_rom(m: Module, bld: Builder, name: str, table, t: FixedType, row: Value, at: int) -> list[Timed]:
    """A ROM of one table row (S+1 values of type ``t``) per word; the values of ``row`` one
    cycle after ``at``.  Marked ``rom_style = "block"``: one RAMB18 (or DP16KD/EBRs) instead
    of hundreds of LUTs, and the same cost whatever the grid."""
    w = t.width
    init = [pack(r, t) for r in table]
    mem = Memory(shape=unsigned(w * len(table[0])), depth=len(table), init=init, attrs={"rom_style": "block"})
    m.submodules[bld.name(name)] = mem
    port = mem.read_port()
    m.d.comb += port.addr.eq(row)
    words = [port.data[w * n:w * (n + 1)] for n in range(len(table[0]))]
    return [Timed(v.as_signed() if fixed_shape(t).signed else v, t, at + 1) for v in words]
