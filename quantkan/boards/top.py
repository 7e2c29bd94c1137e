"""The board top level: the learner behind its UART bridge, wired to a board's pins.

The platform's default clock drives the core (and its power-on reset); the UART's rx/tx go to
the bridge; the first LEDs show heartbeat, samples, receive activity and errors
(:data:`quantkan.boards.bridge.LEDS`).  Users who feed the learner from their own data path
take the bare learner instead (``quantkan export verilog``, or ``quantkan_kan.v`` / ``quantkan_mlp.v``
in a Vivado project): its streaming and parameter ports are unchanged by any of this.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module
from amaranth.lib import io

from quantkan.boards.bridge import LEDS, UARTLearner
from quantkan.boards.registry import Board
from quantkan.golden import LearningRates
from quantkan.models import Model

__all__ = ["BoardTop", "board_core", "DEFAULT_BAUD"]

DEFAULT_BAUD = 115200


def board_core(board: Board, model: Model, baud: int = DEFAULT_BAUD, schedule: str = "pipelined",
               lr: LearningRates = 2.0 ** -4, rounding: str = "type", seed: int = 0,
               pipeline: str = "deep") -> UARTLearner:
    """The core for ``board``: its clock sets the baud divisor (ValueError if it cannot make ``baud``)."""
    if board.kind != "board":
        raise ValueError(f"{board.name} is a bare part with no pins: it gets only an out-of-context project")
    return UARTLearner(model, clk_hz=board.clock_hz, baud=baud, schedule=schedule, lr=lr, rounding=rounding,
                       seed=seed, pipeline=pipeline)


class BoardTop(Elaboratable):
    """``core`` on ``board``'s pins (requested from the platform at elaboration)."""

    def __init__(self, board: Board, core: UARTLearner) -> None:
        self.board, self.core = board, core

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.core = core = self.core
        uart = platform.request(self.board.uart_resource, 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx.i), tx.o.eq(core.tx)]
        ports = []
        for res in self.board.led_resources(platform):
            if len(ports) >= len(LEDS):
                break  # the rest stay unrequested
            pin = platform.request(res.name, res.number, dir="-")
            colours = [getattr(pin, c) for c in ("r", "g", "b") if hasattr(pin, c)]
            ports += colours or [pin]
        for k, port in enumerate(ports[:len(LEDS)]):
            m.submodules[f"led{k}"] = led = io.Buffer("o", port)
            m.d.comb += led.o.eq(core.leds[k])
        return m
