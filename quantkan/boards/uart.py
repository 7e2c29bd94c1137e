"""A minimal UART in Amaranth: 8N1, a fixed clock divisor, no flow control.

The receiver synchronizes ``rx``, waits half a bit after the start edge and samples every
bit in its middle; a low stop bit is a framing error (the byte is dropped and the line must
go idle first).  The transmitter sends start, eight data bits LSB first and a stop bit.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "divisor_for"]

MIN_DIVISOR = 4


def divisor_for(clk_hz: float, baud: int, tolerance: float = 0.02) -> int:
    """Clock cycles per bit; refuses a baud rate the clock cannot make within ``tolerance``."""
    if baud <= 0 or clk_hz <= 0:
        raise ValueError(f"baud rate and clock must be positive, got {baud} baud at {clk_hz} Hz")
    div = round(clk_hz / baud)
    if div < MIN_DIVISOR:
        raise ValueError(f"{baud} baud is too fast for a {clk_hz / 1e6:g} MHz clock: the UART needs "
                         f"at least {MIN_DIVISOR} cycles per bit (at most {int(clk_hz // MIN_DIVISOR)} baud)")
    error = abs(clk_hz / div - baud) / baud
    if error > tolerance:
        raise ValueError(f"{baud} baud from a {clk_hz / 1e6:g} MHz clock is off by {error:.1%} "
                         f"(divisor {div}); choose a baud rate within {tolerance:.0%}")
    return div


def _checked_divisor(divisor: int) -> int:
    if divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor must be >= {MIN_DIVISOR}, got {divisor}")
    return divisor


class UARTRx(wiring.Component):
    """``rx`` in; ``data`` with a one-cycle ``valid`` strobe, or an ``error`` strobe."""

    def __init__(self, divisor: int) -> None:
        self.divisor = _checked_divisor(divisor)
        super().__init__({"rx": In(1, init=1), "data": Out(8), "valid": Out(1), "error": Out(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        div = self.divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(div))
        bits = Signal(range(8))
        shreg = Signal(8)
        m.d.sync += [self.valid.eq(0), self.error.eq(0)]
        m.d.comb += self.data.eq(shreg)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.FSM():
            with m.State("idle"):
                with m.If(~line):
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "start"
            with m.State("start"):
                with m.If(timer == 0):
                    with m.If(line):  # a glitch, not a start bit
                        m.next = "idle"
                    with m.Else():
                        m.d.sync += [timer.eq(div - 1), bits.eq(0)]
                        m.next = "data"
            with m.State("data"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(div - 1), bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "stop"
            with m.State("stop"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += self.valid.eq(1)
                        m.next = "idle"
                    with m.Else():
                        m.d.sync += self.error.eq(1)
                        m.next = "break"
            with m.State("break"):
                with m.If(line):
                    m.next = "idle"
        return m


class UARTTx(wiring.Component):
    """``data`` / ``valid`` / ``ready`` in (a byte is taken when both are high); ``tx`` out."""

    def __init__(self, divisor: int) -> None:
        self.divisor = _checked_divisor(divisor)
        super().__init__({"data": In(8), "valid": In(1), "ready": Out(1), "tx": Out(1, init=1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        div = self.divisor
        shreg = Signal(10, init=0x3FF)  # stop, data, start: shifted out from bit 0
        left = Signal(range(11))
        timer = Signal(range(div))
        m.d.comb += [self.tx.eq(shreg[0]), self.ready.eq(left == 0)]
        with m.If(left == 0):
            with m.If(self.valid):
                m.d.sync += [shreg.eq(Cat(0, self.data, 1)), left.eq(10), timer.eq(div - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), left.eq(left - 1), timer.eq(div - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
