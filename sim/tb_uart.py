"""cocotb testbench of the learner behind its UART bridge (``quantkan.boards.bridge.UARTLearner``).

The PC side is the real one: :func:`quantkan.boards.host.run_stream` runs in a thread
(``cocotb.task.bridge``) and talks through :class:`SimLink`, whose ``write`` drives bytes onto
``rx`` at the baud rate and whose ``read`` returns bytes a monitor decoded from ``tx``.  The job
folder (``QUANTKAN_JOB``) holds ``model.qkan``, ``settings.json`` and ``stream.npz``; the
testbench writes ``result.json``: the stream's score against the golden model, the hello
block, and what the host saw for a wrong model and an unknown command.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from quantkan.boards.host import Client, ProtocolError, run_stream
from quantkan.boards.protocol import Spec
from quantkan.persist import load

PERIOD_NS = 10


class SimLink:
    """A byte pipe into the simulated board: 8N1 at ``divisor`` clock cycles per bit."""

    def __init__(self, dut, divisor: int, timeout_bytes: int = 400) -> None:
        self.dut, self.bit_ns = dut, divisor * PERIOD_NS
        self.received: deque[int] = deque()
        self.timeout_ns = timeout_bytes * 10 * self.bit_ns
        self.sent = 0

    async def monitor(self) -> None:
        """Decode every byte the board transmits."""
        while True:
            await FallingEdge(self.dut.tx)
            await Timer(self.bit_ns // 2, unit="ns")
            if int(self.dut.tx.value):
                continue  # a glitch, not a start bit
            value = 0
            for k in range(8):
                await Timer(self.bit_ns, unit="ns")
                value |= int(self.dut.tx.value) << k
            await Timer(self.bit_ns, unit="ns")
            assert int(self.dut.tx.value) == 1, "the board sent a byte without its stop bit"
            self.received.append(value)

    async def _send_bits(self, data: bytes) -> None:
        await FallingEdge(self.dut.clk)
        for byte in data:
            for bit in (0, *((byte >> k) & 1 for k in range(8)), 1):
                self.dut.rx.value = bit
                await Timer(self.bit_ns, unit="ns")
        self.sent += len(data)

    async def _take(self, n: int) -> bytes:
        waited = 0
        while len(self.received) < n:
            if waited >= self.timeout_ns:
                raise TimeoutError(f"the simulated board sent {len(self.received)} of {n} bytes")
            await Timer(10 * self.bit_ns, unit="ns")
            waited += 10 * self.bit_ns
        return bytes(self.received.popleft() for _ in range(n))

    def write(self, data: bytes) -> None:
        resume(self._send_bits)(data)

    def read(self, n: int) -> bytes:
        return resume(self._take)(n)


@cocotb.test()
async def host_streams_through_the_uart(dut):
    job = Path(os.environ["QUANTKAN_JOB"])
    settings = json.loads((job / "settings.json").read_text())
    model = load(job / "model.qkan")
    with np.load(job / "stream.npz") as f:
        x, target, learn = f["x"], f["target"], f["learn"]
    lr, rounding, seed, schedule, pipeline = (settings[k] for k in ("lr", "rounding", "seed", "schedule", "pipeline"))
    spec = Spec.for_model(model, schedule, lr, rounding, seed, pipeline)
    wrong = Spec.for_model(model, schedule, lr, rounding, seed + 1, pipeline)

    dut.rx.value = 1
    dut.rst.value = 1
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    await ClockCycles(dut.clk, 4)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    link = SimLink(dut, settings["divisor"])
    cocotb.start_soon(link.monitor())

    def host() -> dict:
        out: dict = {}
        started = time.perf_counter()
        try:
            Client(link, wrong).check()
            out["wrong_model"] = "accepted"
        except ValueError as err:
            out["wrong_model"] = str(err)
        r = run_stream(Client(link, spec), model, x, target, learn, lr, rounding, seed)
        out.update(samples=r.samples, output_mismatches=r.output_mismatches,
                   coefficient_mismatches=r.coefficient_mismatches, coefficients_compared=r.coefficients_compared,
                   counters=r.counters, counter_mismatches=r.counter_mismatches,
                   hello=vars(r.hello),
                   y=r.y.tolist(), want=r.want.tolist())
        client = Client(link, spec)
        link.write(b"\x00")
        try:
            client._answer(0)
            out["unknown"] = "answered"
        except ProtocolError as err:
            out["unknown"] = str(err)
        out["status_after_unknown"] = client.hello().status_text()
        out["bytes_sent"], out["seconds"] = link.sent, time.perf_counter() - started
        return out

    result = await bridge(host)()
    (job / "result.json").write_text(json.dumps(result))
    dut._log.info("%d samples through the UART: %d output and %d coefficient mismatches",
                  result["samples"], result["output_mismatches"], result["coefficient_mismatches"])
