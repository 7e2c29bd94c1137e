"""The UART, the framing and the bridge in amaranth.sim: fast checks of every command and error path.

A small host here bit-bangs ``rx`` and decodes ``tx`` at 4 clock cycles per bit; the long
end-to-end run (the real host client, hundreds of samples, cocotb on Verilator) is
tests/test_boards_uart_cosim.py.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from amaranth.sim import Simulator

from quantkan.boards import protocol
from quantkan.boards.bridge import UARTLearner
from quantkan.boards.protocol import CMD, Hello, Spec, request, response_length
from quantkan.boards.uart import divisor_for
from quantkan.golden import OnlineLearner
from quantkan.models import KAN
from quantkan.rtl.export import param_address

DIV = 4
SETTINGS = {"lr": 0.125, "rounding": "stochastic", "seed": 5}


def small_kan() -> KAN:
    return KAN([1, 1], grid=(-1.0, 1.0, 8), order=3, bits=12)


def run(script, model: KAN | None = None, **settings):
    """Run ``script(host)`` against a UARTLearner in amaranth.sim; returns what it returns."""
    model = model or small_kan()
    dut = UARTLearner(model, clk_hz=DIV * 1000, baud=1000, **{**SETTINGS, **settings})
    out = {}

    async def bench(ctx):
        host = _Host(ctx, dut)
        await ctx.tick().repeat(4)
        out["result"] = await script(host)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out["result"], dut


class _Host:
    def __init__(self, ctx, dut) -> None:
        self.ctx, self.dut, self.spec = ctx, dut, dut.spec

    async def bits(self, bits) -> None:
        for b in bits:
            self.ctx.set(self.dut.rx, b)
            await self.ctx.tick().repeat(DIV)

    async def send(self, data: bytes) -> None:
        for byte in data:
            await self.bits([0, *((byte >> k) & 1 for k in range(8)), 1])

    async def recv(self, n: int, limit: int = 20000) -> bytes:
        out = bytearray()
        for _ in range(n):
            waited = 0
            while self.ctx.get(self.dut.tx):
                await self.ctx.tick()
                waited += 1
                if waited > limit:
                    return bytes(out)
            await self.ctx.tick().repeat(DIV // 2)
            value = 0
            for k in range(8):
                await self.ctx.tick().repeat(DIV)
                value |= self.ctx.get(self.dut.tx) << k
            await self.ctx.tick().repeat(DIV)
            assert self.ctx.get(self.dut.tx) == 1
            out.append(value)
        return bytes(out)

    async def ask(self, command: str, **fields) -> bytes:
        await self.send(request(self.spec, command, **fields))
        return await self.recv(response_length(self.spec, CMD[command]))

    async def hello(self) -> Hello:
        reply = await self.ask("hello")
        assert reply[0] == CMD["hello"]
        return Hello.decode(reply[1:])


def word(data: bytes, width: int) -> int:
    return protocol.decode_word(data, width, True)


def test_samples_and_parameters_match_the_golden_learner():
    model = small_kan()
    rng = np.random.default_rng(1)
    xs = model.types.input.quantize(rng.uniform(-1.2, 1.2, 12))
    ts = model.types.output.quantize(rng.uniform(-2, 2, 12))
    learns = [True] * 9 + [False, True, True]

    async def script(host):
        hello = await host.hello()
        ys = []
        for x, t, ln in zip(xs, ts, learns):
            reply = await host.ask("learn" if ln else "predict", x=[x], target=[t])
            assert reply[0] == (CMD["learn"] if ln else CMD["predict"])
            ys.append(word(reply[1:], host.spec.w_out))
        addr = param_address(host.spec.meta(), 0, 0, 0, 5)
        before = word((await host.ask("read", addr=addr))[1:], host.spec.w_coef)
        assert (await host.ask("write", addr=addr, coef=-77)) == b"W"
        after = word((await host.ask("read", addr=addr))[1:], host.spec.w_coef)
        return hello, ys, before, after

    (hello, ys, before, after), dut = run(script, model)
    assert hello.problems(dut.spec) == [] and hello.fifo == 32 and hello.baud == 1000 and hello.status == 0
    golden = OnlineLearner(copy.deepcopy(model), delay=0, **SETTINGS)
    want = [int(golden.step_raw([x], [t], ln)[0]) for x, t, ln in zip(xs, ts, learns)]
    golden.flush()
    assert ys == want and len(set(ys)) > 3
    assert before == golden.model.coefficients[0][0, 0, 5] and after == -77


def test_reset_restarts_the_lfsrs():
    """Two identical learn requests around a reset (and a coefficient restore) give identical answers."""
    model = small_kan()
    x, t = int(model.types.input.quantize(0.3)), int(model.types.output.quantize(1.5))

    async def script(host):
        meta = host.spec.meta()
        start = [model.coefficients[0][0, 0, c] for c in range(model.n_coef)]
        runs = []
        for _ in range(2):
            assert (await host.ask("reset")) == b"Z"
            for c, v in enumerate(start):
                await host.ask("write", addr=param_address(meta, 0, 0, 0, c), coef=int(v))
            runs.append([await host.ask("learn", x=[x], target=[t]) for _ in range(3)])
        return runs

    runs, _ = run(script, model)
    assert runs[0] == runs[1] and len(set(runs[0])) > 1


def test_errors_are_answered_and_reported_in_the_status():
    async def script(host):
        unknown = await host.ask("unknown")  # '?' is not a command either
        await host.send(b"\x00")
        unknown2 = await host.recv(1)
        s1 = (await host.hello()).status
        s2 = (await host.hello()).status  # reported once, then cleared
        await host.bits([0, 1, 0, 1, 0, 1, 0, 1, 0, 0])  # a byte whose stop bit is low
        await host.bits([1] * 12)
        s3 = (await host.hello()).status
        await host.send(request(host.spec, "learn", x=[1], target=[2])[:2])  # a frame that stalls
        await host.ctx.tick().repeat(host.dut.timeout_cycles + 50)
        hello = await host.hello()  # resynchronized: the next byte starts a frame
        error_led = [host.ctx.get(host.dut.leds) >> 3]
        await host.send(b"H" * 40)  # requests far faster than 32-byte hello answers drain the FIFO
        error_led.append(host.ctx.get(host.dut.leds) >> 3)
        return unknown, unknown2, s1, s2, s3, hello.status, error_led

    (unknown, unknown2, s1, s2, s3, s4, error_led), _ = run(script)
    assert unknown == b"?" and unknown2 == b"?"
    assert s1 == 0b0100 and s2 == 0
    assert s3 == 0b0010
    assert s4 == 0b1000
    assert error_led == [0, 1]  # the receive overflow lights the error LED


def test_protocol_words_and_hello_round_trip():
    assert protocol.encode_word(-2, 12) == b"\xfe\xff"
    assert protocol.decode_word(b"\xfe\x0f", 12, True) == -2 and protocol.decode_word(b"\xfe\x0f", 12, False) == 4094
    spec = Spec.for_model(small_kan(), **SETTINGS)
    block = Hello.encode(spec, fifo=32, clk_hz=25_000_000, baud=115200, status=0b1001)
    hello = Hello.decode(block)
    assert hello.problems(spec) == [] and hello.status_text() == "receive overflow, frame timeout"
    other = Spec.for_model(small_kan(), lr=0.25, rounding="stochastic", seed=5)
    assert any("model id" in p for p in hello.problems(other))
    with pytest.raises(ValueError, match="not a quantkan board"):
        Hello.decode(b"XX" + block[2:])
    with pytest.raises(ValueError, match="does not fit in 8 bits"):  # 7 parameter bits and the counter space
        request(spec, "read", addr=1 << 10)
    with pytest.raises(ValueError, match="1 inputs"):
        request(spec, "learn", x=[1, 2], target=[0])


@pytest.mark.parametrize("clk,baud,match", [(12e6, 4_000_000, "too fast"), (25e6, 3_000_000, "off by"),
                                            (25e6, 0, "positive")])
def test_baud_rates_the_clock_cannot_make_are_refused(clk, baud, match):
    with pytest.raises(ValueError, match=match):
        divisor_for(clk, baud)
    assert divisor_for(25e6, 115200) == 217 and divisor_for(12e6, 115200) == 104


def test_an_mlp_behind_the_bridge_matches_the_golden_learner():
    """The same bridge, hello and parameter port carry an MLP: samples, then a weight and a
    bias read back and rewritten; the model id tells an MLP from a KAN."""
    from quantkan.models import MLP

    model = MLP([1, 3, 1], bits=12, seed=4)
    rng = np.random.default_rng(2)
    xs = model.types.input.quantize(rng.uniform(-1.5, 1.5, 10))
    ts = model.types.output.quantize(rng.uniform(-2, 2, 10))

    async def script(host):
        hello = await host.hello()
        ys = []
        for x, t in zip(xs, ts):
            ys.append(word((await host.ask("learn", x=[x], target=[t]))[1:], host.spec.w_out))
        meta = host.spec.meta()
        got = [word((await host.ask("read", addr=param_address(meta, p, *idx)))[1:], host.spec.w_coef)
               for p, idx in ((0, (2, 0)), (1, (1,)), (2, (0, 2)), (3, (0,)))]
        assert (await host.ask("write", addr=param_address(meta, 3, 0), coef=-77)) == b"W"
        after = word((await host.ask("read", addr=param_address(meta, 3, 0)))[1:], host.spec.w_coef)
        return hello, ys, got, after

    (hello, ys, got, after), dut = run(script, model)
    assert hello.problems(dut.spec) == [] and dut.spec.kind == "mlp"
    assert hello.model_id != Spec.for_model(small_kan(), **SETTINGS).model_id
    golden = OnlineLearner(copy.deepcopy(model), delay=0, **SETTINGS)
    want = [int(golden.step_raw([x], [t])[0]) for x, t in zip(xs, ts)]
    golden.flush()
    w0, b0, w1, b1 = golden.model.parameters()
    assert ys == want and len(set(ys)) > 3
    assert got == [w0[2, 0], b0[1], w1[0, 2], b1[0]] and after == -77
    assert b1[0] != 0  # the bias learned: its read-back is not the initial zero
