"""The UART bridge: request frames in, the learner's ports driven, response frames out.

The framing is :mod:`quantkan.boards.protocol`.  Bytes from the receiver wait in a FIFO; the
bridge takes one request at a time, waits until the previous sample's update has committed
(``timing.step`` cycles after it was accepted) before a new sample or any parameter access,
and sends the response byte by byte.  :class:`UARTLearner` is the whole core with plain
``rx`` / ``tx`` / ``leds`` ports: what a board top level and the cocotb testbench wrap.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from quantkan.boards.protocol import CMD, STATUS_OFFSET, Hello, Spec, nbytes
from quantkan.boards.uart import UARTRx, UARTTx, divisor_for
from quantkan.golden import LearningRates
from quantkan.models import Model
from quantkan.rtl.arith import fit
from quantkan.rtl.kan import READ_LATENCY

__all__ = ["Bridge", "UARTLearner", "LEDS"]

LEDS = ("heartbeat", "sample", "receive", "error")  # what each LED output shows


class Bridge(wiring.Component):
    """Bytes in (``rx_*``, from a FIFO), bytes out (``tx_*``), the learner's ports as ``kan``."""

    def __init__(self, learner, spec: Spec, clk_hz: int, baud: int, fifo_depth: int,
                 timeout_cycles: int) -> None:
        self.spec, self.clk_hz, self.baud = spec, int(clk_hz), int(baud)
        self.fifo_depth, self.timeout_cycles = fifo_depth, max(1, int(timeout_cycles))
        self.learner_timing = learner.timing
        super().__init__({
            "rx_data": In(8), "rx_valid": In(1), "rx_ready": Out(1),
            "tx_data": Out(8), "tx_valid": Out(1), "tx_ready": In(1),
            "status_in": In(4),  # receiver flags: overflow, framing error (strobes)
            "kan": In(learner.signature),  # flipped: the bridge drives the learner's inputs
            "kan_reset": Out(1),
            "sample_done": Out(1),  # a strobe per answered sample
            "error": Out(1),  # sticky until the next hello
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        spec = self.spec
        bi, bo, bc, ba = nbytes(spec.w_in), nbytes(spec.w_out), nbytes(spec.w_coef), spec.addr_bytes
        max_payload = max(spec.payload_length(c) for c in CMD.values())
        data_bytes = max(spec.n_out * bo, bc)

        cmd = Signal(8)
        need = Signal(range(max_payload + 1))
        count = Signal(range(max_payload + 1))
        payload = Signal(8 * max_payload)
        data = Signal(8 * data_bytes)  # y words or one coefficient, sign-extended bytes
        status = Signal(4)
        flag = Signal(4)  # set this cycle: unknown command (bit 2), frame timeout (bit 3)
        idle_timer = Signal(range(self.timeout_cycles + 1))
        busy = Signal(range(max(self.learner_timing.step, 1) + 1))
        kan = self.kan

        m.d.comb += self.error.eq(status != 0)
        m.d.sync += status.eq(status | self.status_in | flag)
        with m.If(busy != 0):
            m.d.sync += busy.eq(busy - 1)

        # the learner's inputs, decoded from the payload in place
        words = [payload[8 * bi * i:8 * bi * i + spec.w_in] for i in range(spec.n_in)]
        off = spec.n_in * bi
        targets = [payload[8 * (off + bo * j):8 * (off + bo * j) + spec.w_out] for j in range(spec.n_out)]
        addr = payload[:spec.addr_bits]
        wdata = payload[8 * ba:8 * ba + spec.w_coef]
        m.d.comb += [kan.x[i].eq(words[i]) for i in range(spec.n_in)]
        m.d.comb += [kan.target[j].eq(targets[j]) for j in range(spec.n_out)]
        m.d.comb += [kan.p_addr.eq(addr), kan.p_wdata.eq(wdata)]

        # responses: byte 0 is the command; then the data bytes or the hello block
        hello = [Const(b, 8) for b in Hello.encode(spec, self.fifo_depth, self.clk_hz, self.baud)]
        hello[STATUS_OFFSET] = Cat(status, Const(0, 4))  # the only byte that changes
        hello_len = 1 + len(hello)
        resp_len = Signal(range(hello_len + 1))
        index = Signal(range(hello_len + 1))
        data_byte = Array(data[8 * k:8 * k + 8] for k in range(data_bytes))
        hello_byte = Array(hello)
        with m.If(index == 0):
            m.d.comb += self.tx_data.eq(cmd)
        with m.Elif(cmd == CMD["hello"]):
            m.d.comb += self.tx_data.eq(hello_byte[index - 1])
        with m.Else():
            m.d.comb += self.tx_data.eq(data_byte[index - 1])

        def respond(length: int) -> None:
            m.d.sync += [resp_len.eq(length), index.eq(0)]
            m.next = "respond"

        with m.FSM():
            with m.State("idle"):
                m.d.comb += self.rx_ready.eq(1)
                with m.If(self.rx_valid):
                    m.d.sync += [cmd.eq(self.rx_data), count.eq(0), idle_timer.eq(0)]
                    with m.Switch(self.rx_data):
                        for name in ("learn", "predict", "read", "write"):
                            with m.Case(CMD[name]):
                                m.d.sync += need.eq(spec.payload_length(CMD[name]))
                                m.next = "payload"
                        with m.Case(CMD["reset"]):
                            m.next = "drain"
                        with m.Case(CMD["hello"]):
                            respond(hello_len)
                        with m.Default():
                            m.d.sync += cmd.eq(CMD["unknown"])
                            m.d.comb += flag.eq(0b0100)
                            respond(1)
            with m.State("payload"):
                m.d.comb += self.rx_ready.eq(1)
                m.d.sync += idle_timer.eq(idle_timer + 1)
                with m.If(self.rx_valid):
                    m.d.sync += [payload.word_select(count, 8).eq(self.rx_data), count.eq(count + 1),
                                 idle_timer.eq(0)]
                    with m.If(count + 1 == need):
                        m.next = "drain"
                with m.Elif(idle_timer == self.timeout_cycles):
                    m.d.comb += flag.eq(0b1000)  # a stalled frame: drop it, resynchronize
                    m.next = "idle"
            # The learner's control inputs come from flip-flops: no path from the bridge's
            # decoding into the learner's (or its reset's) logic in one cycle.
            with m.State("drain"):  # the previous sample's update has committed
                with m.If(busy == 0):
                    with m.Switch(cmd):
                        with m.Case(CMD["learn"], CMD["predict"]):
                            m.d.sync += [kan.valid.eq(1), kan.learn.eq(cmd == CMD["learn"])]
                            m.next = "sample"
                        with m.Case(CMD["read"]):
                            m.d.sync += kan.p_sel.eq(1)
                            m.next = "read"
                        with m.Case(CMD["write"]):
                            m.d.sync += [kan.p_sel.eq(1), kan.p_we.eq(1)]
                            m.next = "write"
                        with m.Case(CMD["reset"]):
                            m.d.sync += self.kan_reset.eq(1)
                            m.next = "reset"
            with m.State("sample"):
                with m.If(kan.ready):  # accepted at this edge
                    # step, not settle: the counters' last COUNTER_LAG cycles pass within the next command's frame
                    m.d.sync += [kan.valid.eq(0), kan.learn.eq(0), busy.eq(self.learner_timing.step)]
                    m.next = "result"
            with m.State("result"):
                with m.If(kan.y_valid):
                    m.d.sync += data.eq(Cat(_extend(kan.y[j], bo, spec.signed_out) for j in range(spec.n_out)))
                    m.d.comb += self.sample_done.eq(1)
                    respond(1 + spec.n_out * bo)
            with m.State("read"):  # the address is taken at this edge; p_rdata follows READ_LATENCY edges on
                m.d.sync += [kan.p_sel.eq(0), busy.eq(READ_LATENCY - 1)]
                m.next = "read_data"
            with m.State("read_data"):
                with m.If(busy == 0):
                    m.d.sync += data.eq(_extend(kan.p_rdata, bc, spec.signed_coef))
                    respond(1 + bc)
            with m.State("write"):  # the port takes the write at this edge; it commits at the next
                m.d.sync += [kan.p_sel.eq(0), kan.p_we.eq(0)]
                respond(1)
            with m.State("reset"):  # the learner's registers reset at this edge
                m.d.sync += self.kan_reset.eq(0)
                respond(1)
            with m.State("respond"):
                m.d.comb += self.tx_valid.eq(1)
                with m.If(self.tx_ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index + 1 == resp_len):
                        with m.If(cmd == CMD["hello"]):
                            m.d.sync += status.eq(self.status_in | flag)  # reported: start afresh
                        m.next = "idle"
        return m


def _extend(value, n_bytes: int, is_signed: bool):
    """``value`` widened to whole bytes, sign- or zero-extended."""
    return fit(value.as_signed() if is_signed else value.as_unsigned(), 8 * n_bytes)


class UARTLearner(wiring.Component):
    """The learner behind a UART: ``rx`` in, ``tx`` out and four status ``leds`` (:data:`LEDS`).

    ``clk_hz`` is the clock the board runs the core at; the baud divisor, the frame timeout
    (100 ms, at least 64 byte times) and the heartbeat (about 1 Hz) follow from it.
    """

    def __init__(self, model: Model, clk_hz: float, baud: int, schedule: str = "pipelined",
                 lr: LearningRates = 2.0 ** -4, rounding: str = "type", seed: int = 0, fifo_depth: int = 32,
                 pipeline: str = "deep") -> None:
        from quantkan.rtl.export import learner_for

        self._MustUse__silence = True  # a refused configuration is not an unused elaboratable
        self.divisor = divisor_for(clk_hz, baud)
        self.clk_hz, self.baud = round(clk_hz), int(baud)
        self.learner = learner_for(model, schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
        self.spec = Spec.of(self.learner, seed)
        self.fifo_depth = fifo_depth
        self.timeout_cycles = max(self.clk_hz // 10, 64 * 10 * self.divisor)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(len(LEDS))})
        self._MustUse__silence = False

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.uart_rx = rx = UARTRx(self.divisor)
        m.submodules.uart_tx = tx = UARTTx(self.divisor)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self.fifo_depth)
        bridge = Bridge(self.learner, self.spec, self.clk_hz, self.clk_hz // self.divisor, self.fifo_depth,
                        self.timeout_cycles)
        m.submodules.bridge = bridge
        m.submodules.kan = ResetInserter(bridge.kan_reset)(self.learner)
        wiring.connect(m, bridge.kan, self.learner)
        m.d.comb += [
            rx.rx.eq(self.rx), self.tx.eq(tx.tx),
            fifo.w_data.eq(rx.data), fifo.w_en.eq(rx.valid),
            bridge.rx_data.eq(fifo.r_data), bridge.rx_valid.eq(fifo.r_rdy), fifo.r_en.eq(bridge.rx_ready),
            tx.data.eq(bridge.tx_data), tx.valid.eq(bridge.tx_valid), bridge.tx_ready.eq(tx.ready),
            bridge.status_in.eq(Cat(rx.valid & ~fifo.w_rdy, rx.error)),
        ]
        heartbeat = Signal(max(1, (self.clk_hz // 2).bit_length()))
        sample_led = Signal()
        activity = Signal(max(1, (self.clk_hz // 20).bit_length()))  # ~50 ms after each byte
        m.d.sync += heartbeat.eq(heartbeat + 1)
        with m.If(bridge.sample_done):
            m.d.sync += sample_led.eq(~sample_led)
        with m.If(rx.valid):
            m.d.sync += activity.eq(-1)
        with m.Elif(activity != 0):
            m.d.sync += activity.eq(activity - 1)
        m.d.comb += self.leds.eq(Cat(heartbeat[-1], sample_led, activity != 0, bridge.error))
        return m
