"""The PC side of the UART link: a client for the framing of :mod:`quantkan.boards.protocol`.

:class:`Client` talks over any :class:`Link` (``write(bytes)``, ``read(n) -> bytes``):
:class:`SerialLink` is a serial port (pyserial, imported when opened); the cocotb testbench
``sim/tb_uart.py`` passes a link into the simulated board.  :func:`run_stream` is what
``quantkan stream`` does: check the board runs the expected model, reset its learner, load
the starting coefficients, stream samples (several requests in flight, within the board's
receive FIFO) and compare every prediction and the final coefficients with the golden model.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from quantkan.boards.protocol import (
    CMD,
    Hello,
    Spec,
    decode_word,
    nbytes,
    request,
    response_length,
)
from quantkan.errors import ToolError
from quantkan.golden import LearningRates
from quantkan.models import Model

__all__ = ["Link", "SerialLink", "Client", "ProtocolError", "StreamResult", "run_stream"]


class ProtocolError(ToolError):
    """The board answered, but not as the framing says it must."""


class Link(Protocol):
    def write(self, data: bytes) -> None: ...

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes; raises TimeoutError when they do not come."""
        ...


class SerialLink:
    """A serial port (pyserial), opened here and closed with ``close()`` or ``with``."""

    def __init__(self, port: str, baud: int, timeout: float = 2.0) -> None:
        try:
            import serial
        except ImportError:
            raise ToolError("pyserial is not installed: pip install 'quantkan[fpga]'") from None
        try:
            self._port = serial.Serial(port, baudrate=baud, timeout=timeout)
        except (serial.SerialException, ValueError) as err:
            raise ValueError(f"cannot open serial port {port!r}: {err}") from None
        self.name, self.timeout = port, timeout

    def write(self, data: bytes) -> None:
        self._port.write(data)

    def read(self, n: int) -> bytes:
        data = self._port.read(n)
        if len(data) != n:
            raise TimeoutError(f"{self.name}: the board sent {len(data)} of {n} bytes within {self.timeout:g} s "
                               "(wrong port or baud rate, or no quantkan bitstream loaded?)")
        return data

    def resync(self, quiet: float = 0.2) -> None:
        """Wait out the board's frame timeout and drop stale input, so the next request starts a frame."""
        time.sleep(quiet)
        self._port.reset_input_buffer()

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client:
    """Requests and responses over a link, checked against a :class:`Spec`."""

    def __init__(self, link: Link, spec: Spec) -> None:
        self.link, self.spec = link, spec
        self.fifo = 1  # bytes the board buffers: learned from the hello

    def _answer(self, cmd: int) -> bytes:
        first = self.link.read(1)
        if first[0] == CMD["unknown"]:
            raise ProtocolError(f"the board did not understand command {chr(cmd)!r}")
        if first[0] != cmd:
            raise ProtocolError(f"expected a response to {chr(cmd)!r}, got byte 0x{first[0]:02x}: "
                                "the link is out of step (another program on the port?)")
        return self.link.read(response_length(self.spec, cmd) - 1)

    def _transact(self, command: str, **fields) -> bytes:
        self.link.write(request(self.spec, command, **fields))
        return self._answer(CMD[command])

    def hello(self) -> Hello:
        self.link.write(bytes([CMD["hello"]]))
        first = self.link.read(1)
        if first[0] != CMD["hello"]:
            raise ProtocolError(f"expected a hello response, got byte 0x{first[0]:02x}")
        hello = Hello.decode(self.link.read(response_length(self.spec, CMD["hello"]) - 1))
        self.fifo = hello.fifo
        return hello

    def check(self) -> Hello:
        """The hello, or ValueError naming every way the board differs from the expected model."""
        hello = self.hello()
        problems = hello.problems(self.spec)
        if problems:
            raise ValueError("the board runs a different learner: " + "; ".join(problems) +
                             " -- build and flash the bitstream from this config, or pass the config it was built from")
        return hello

    def _y(self, data: bytes) -> list[int]:
        b = nbytes(self.spec.w_out)
        return [decode_word(data[b * j:b * (j + 1)], self.spec.w_out, self.spec.signed_out)
                for j in range(self.spec.n_out)]

    def learn(self, x: Iterable[int], target: Iterable[int]) -> list[int]:
        return self._y(self._transact("learn", x=list(x), target=list(target)))

    def predict(self, x: Iterable[int]) -> list[int]:
        return self._y(self._transact("predict", x=list(x)))

    def read(self, addr: int) -> int:
        return decode_word(self._transact("read", addr=addr), self.spec.w_coef, self.spec.signed_coef)

    def write(self, addr: int, value: int) -> None:
        self._transact("write", addr=addr, coef=value)

    def counters(self) -> list[int]:
        """The learner's diagnostics counters (``quantkan.diagnostics``), read word by word with ``R``."""
        cm = self.spec.counters
        return cm.values([self.read(addr) for addr in cm.addresses()])

    def clear_counters(self) -> None:
        """Zero the diagnostics counters: a ``W`` anywhere in their address space."""
        self.write(self.spec.counters.base, 0)

    def reset(self) -> None:
        self._transact("reset")

    def stream(self, x: np.ndarray, target: np.ndarray, learn: np.ndarray,
               on_sample: Callable[[int], None] | None = None) -> np.ndarray:
        """Predictions for a stream of raw samples, with requests in flight up to the board's FIFO."""
        n = len(x)
        ys = np.empty((n, self.spec.n_out), np.int64)
        pending: deque[tuple[int, int]] = deque()  # (request bytes, command)
        in_flight = sent = done = 0
        while done < n:
            if sent < n:
                command = "learn" if learn[sent] else "predict"
                frame = request(self.spec, command, x=x[sent], target=target[sent])
                if in_flight + len(frame) <= self.fifo or not pending:
                    self.link.write(frame)
                    pending.append((len(frame), frame[0]))
                    in_flight += len(frame)
                    sent += 1
                    continue
            size, cmd = pending.popleft()
            ys[done] = self._y(self._answer(cmd))
            in_flight -= size
            done += 1
            if on_sample is not None:
                on_sample(done)
        return ys


@dataclass
class StreamResult:
    samples: int
    y: np.ndarray  # the board's predictions (raw output type)
    want: np.ndarray  # the golden learner's
    output_mismatches: int
    coefficient_mismatches: int
    coefficients_compared: int
    seconds: float
    hello: Hello
    counters: list[int] | None = None  # the board's diagnostics counters after the stream (with load)
    counter_mismatches: int = 0  # against the golden learner's hardware view

    @property
    def ok(self) -> bool:
        return self.output_mismatches == 0 and self.coefficient_mismatches == 0 and self.counter_mismatches == 0

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else float("nan")


def _addresses(spec: Spec, model: Model):
    from quantkan.rtl.export import param_address

    meta = spec.meta()
    for p, array in enumerate(model.parameters()):
        for idx in np.ndindex(array.shape):
            yield p, idx, param_address(meta, p, *idx)


def run_stream(client: Client, model: Model, x_raw: np.ndarray, target_raw: np.ndarray, learn: np.ndarray,
               lr: LearningRates, rounding: str, seed: int, load: bool = True, read_back: bool = True,
               on_sample: Callable[[int], None] | None = None) -> StreamResult:
    """Stream raw samples through the board and replay them through the golden learner.

    With ``load`` the board's learner is reset (its LFSRs restart from the seed) and every
    coefficient of ``model`` is written first, so the board starts where the golden model does.
    """
    hello = client.check()
    start = copy.deepcopy(model)
    if load:
        client.reset()
        for l, idx, addr in _addresses(client.spec, start):
            client.write(addr, int(start.parameters()[l][idx]))
        client.clear_counters()  # the board counts from here, as the golden learner below
    began = time.perf_counter()
    y = client.stream(np.asarray(x_raw, np.int64), np.asarray(target_raw, np.int64), np.asarray(learn, bool),
                      on_sample)
    seconds = time.perf_counter() - began

    from quantkan.golden import OnlineLearner

    golden = OnlineLearner(start, lr=lr, rounding=rounding, seed=seed, delay=0)  # one sample at a time: D = 0
    want = np.array([golden.step_raw(xs, ts, bool(ls)) for xs, ts, ls in zip(x_raw, target_raw, learn)],
                    np.int64).reshape(y.shape)
    golden.flush()
    bad = total = 0
    if read_back:
        for l, idx, addr in _addresses(client.spec, start):
            bad += int(client.read(addr) != start.parameters()[l][idx])
            total += 1
    counters, counter_bad = None, 0
    if read_back and load:  # without load the board counted samples the golden learner never saw
        counters = client.counters()
        counter_bad = sum(int(a != b) for a, b in zip(counters, golden.diagnostics().hardware(), strict=True))
    mismatches = int(np.sum(np.any(y != want, axis=1)))
    return StreamResult(len(y), y, want, mismatches, bad, total, seconds, hello, counters, counter_bad)
