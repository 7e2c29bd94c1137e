"""The UART framing between a PC and the learner on a board: one definition for both sides.

8 data bits, no parity, one stop bit; the baud rate is fixed when the bitstream is built.
Every request is a command byte and a fixed-length payload; every request gets exactly one
response, which starts with the same command byte (``?`` for an unknown command).  A word
is ``ceil(width / 8)`` bytes, little-endian two's complement (the board sign-extends what it
sends and uses the low ``width`` bits of what it receives).

====  ========================  ========================  =========================================
cmd   request payload           response                  meaning
====  ========================  ========================  =========================================
``H`` (none)                    ``H`` + hello block       widths, timing, model id: who is there
``L`` x[n_in], target[n_out]    ``L`` + y[n_out]          predict, then learn from the target
``P`` x[n_in]                   ``P`` + y[n_out]          predict only (no update)
``R`` addr                      ``R`` + coef              read one parameter (coefficient, weight, bias)
``W`` addr, coef                ``W``                     write one parameter
``Z`` (none)                    ``Z``                     reset the learner's registers (LFSRs)
====  ========================  ========================  =========================================

``addr`` is the learner's parameter-port address (:func:`quantkan.rtl.export.param_address`) in
``ceil(addr_bits / 8)`` bytes.  The bridge handles one request at a time and waits, before each
sample and before touching the parameter port, until the previous sample's update has
committed (``timing.step`` cycles): over the UART the learner is plain SGD (D = 0) whatever its
schedule.  Requests may be sent ahead of their responses as long as the bytes of unanswered
requests never exceed the receive FIFO (``fifo`` in the hello block).  A request that stalls
mid-frame for longer than the frame timeout is dropped, so a host resynchronizes by pausing.

The hello block (:data:`HELLO`, little-endian) holds ``b"QK"``, the protocol version, n_in, n_out,
the input/output/coefficient widths, addr_bits, the schedule (0 pipelined, 1 sequential),
latency, step and II in cycles, the receive FIFO depth in bytes, a status byte (bit 0 receive
overflow, 1 framing error, 2 unknown command, 3 frame timeout; cleared by the hello), the model
id (:func:`model_id`: CRC-32 of the model's architecture, types and learning settings), the
clock frequency in Hz and the baud rate.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import asdict, dataclass

from quantkan.diagnostics import CounterMap
from quantkan.golden import LearningRates
from quantkan.models import Model

__all__ = ["VERSION", "HELLO", "STATUS_OFFSET", "CMD", "STATUS_BITS", "Spec", "Hello", "model_id", "nbytes",
           "encode_word", "decode_word", "request", "response_length"]

VERSION = 1
MAGIC = b"QK"
CMD = {"hello": ord("H"), "learn": ord("L"), "predict": ord("P"), "read": ord("R"), "write": ord("W"),
       "reset": ord("Z"), "unknown": ord("?")}
STATUS_BITS = ("receive overflow", "framing error", "unknown command", "frame timeout")
SCHEDULE_CODES = {"pipelined": 0, "sequential": 1}
_HELLO_HEAD = "<2s8BHHHH"  # magic ... fifo; then status, model_id, clk_hz, baud
HELLO = struct.Struct(_HELLO_HEAD + "BIII")
STATUS_OFFSET = struct.calcsize(_HELLO_HEAD)  # where the status byte sits in the hello block
HELLO_FIELDS = ("magic", "version", "n_in", "n_out", "w_in", "w_out", "w_coef", "addr_bits", "schedule",
                "latency", "step", "ii", "fifo", "status", "model_id", "clk_hz", "baud")


def nbytes(width: int) -> int:
    """Bytes of one word of ``width`` bits on the wire."""
    return (width + 7) // 8


def encode_word(value: int, width: int) -> bytes:
    """A raw value (signed or unsigned) as ``nbytes(width)`` little-endian bytes."""
    n = nbytes(width)
    return (int(value) & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def decode_word(data: bytes, width: int, signed: bool) -> int:
    """The low ``width`` bits of a little-endian word, sign-extended when ``signed``."""
    v = int.from_bytes(data, "little") & ((1 << width) - 1)
    return v - (1 << width) if signed and v >> (width - 1) else v


def model_id(model: Model, schedule: str, lr: LearningRates, rounding: str, seed: int, pipeline: str = "deep") -> int:
    """CRC-32 of what a bitstream fixes: model kind, architecture, types, learning settings and
    pipeline (not the parameters, which the host can rewrite).  ``lr`` as ``OnlineLearner.lr``
    reports it.  The deep pipeline leaves the id as it was before pipelines were named."""
    from quantkan.persist import model_config

    fixed = {"version": VERSION, "model": model_config(model), "schedule": schedule, "lr": lr, "rounding": rounding,
             "seed": int(seed), **({} if pipeline == "deep" else {"pipeline": pipeline})}
    text = json.dumps(fixed, sort_keys=True)
    return zlib.crc32(text.encode())


@dataclass(frozen=True)
class Spec:
    """What both ends of the link must agree on, derived from one learner."""

    n_in: int
    n_out: int
    w_in: int
    w_out: int
    w_coef: int
    signed_out: bool
    signed_coef: bool
    addr_bits: int
    order: int  # 0 for an MLP
    param_fields: tuple[tuple[str, int], ...]
    param_shapes: tuple[tuple[int, ...], ...]  # of model.parameters()
    kind: str  # "kan" or "mlp"
    schedule: str
    latency: int
    step: int
    ii: int
    model_id: int
    counter_base: int = 0  # the diagnostics counters' port addresses (quantkan.diagnostics.CounterMap)
    counter_names: tuple[str, ...] = ()
    pipeline: str = "deep"

    @classmethod
    def of(cls, learner, seed: int) -> Spec:
        """From a learner, KAN or MLP (its model, timing and port widths), and the seed it was
        built with (the learner keeps only the LFSR states it derived)."""
        model, ty, t = learner.model, learner.model.types, learner.timing
        golden = learner.golden
        return cls(n_in=learner.n_in, n_out=learner.n_out, w_in=ty.input.width, w_out=ty.output.width,
                   w_coef=len(learner.p_rdata), signed_out=ty.output.signed,
                   signed_coef=learner.p_rdata.shape().signed,
                   addr_bits=sum(w for _, w in learner.param_fields), order=getattr(model, "order", 0),
                   param_fields=tuple(tuple(f) for f in learner.param_fields),
                   param_shapes=tuple(tuple(a.shape) for a in model.parameters()), kind=model.kind,
                   schedule=learner.schedule,
                   latency=t.latency, step=t.step, ii=t.ii,
                   model_id=model_id(model, learner.schedule, golden.lr, golden.rounding, seed, learner.pipeline),
                   counter_base=learner.counters.base, counter_names=learner.counters.names,
                   pipeline=learner.pipeline)

    @property
    def counters(self) -> CounterMap:
        """Where the ``R`` and ``W`` commands reach the diagnostics counters (a ``W`` there clears them)."""
        return CounterMap(self.counter_names, self.counter_base, self.w_coef)

    @classmethod
    def for_model(cls, model: Model, schedule: str = "pipelined", lr: LearningRates = 2.0 ** -4,
                  rounding: str = "type", seed: int = 0, pipeline: str = "deep") -> Spec:
        """The spec of the learner a model would get (builds it once, without elaborating)."""
        from quantkan.rtl.export import learner_for

        learner = learner_for(model, schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
        learner._MustUse__silence = True  # built only to be described
        return cls.of(learner, seed)

    @property
    def addr_bytes(self) -> int:
        return nbytes(self.addr_bits)

    def payload_length(self, cmd: int) -> int:
        """Request payload bytes after the command byte (0 for unknown commands)."""
        return {CMD["learn"]: self.n_in * nbytes(self.w_in) + self.n_out * nbytes(self.w_out),
                CMD["predict"]: self.n_in * nbytes(self.w_in),
                CMD["read"]: self.addr_bytes,
                CMD["write"]: self.addr_bytes + nbytes(self.w_coef)}.get(cmd, 0)

    def meta(self) -> dict:
        """The subset of ``quantkan_rtl.json`` that :func:`quantkan.rtl.export.param_address` needs."""
        return {"kind": self.kind, "order": self.order, "param_fields": [list(f) for f in self.param_fields],
                "param_shapes": [list(s) for s in self.param_shapes]}

    def as_dict(self) -> dict:
        return asdict(self)


def response_length(spec: Spec, cmd: int) -> int:
    """Bytes of the response to ``cmd``, command byte included."""
    if cmd in (CMD["learn"], CMD["predict"]):
        return 1 + spec.n_out * nbytes(spec.w_out)
    if cmd == CMD["read"]:
        return 1 + nbytes(spec.w_coef)
    if cmd == CMD["hello"]:
        return 1 + HELLO.size
    return 1


def request(spec: Spec, command: str, x=(), target=(), addr: int = 0, coef: int = 0) -> bytes:
    """One request frame."""
    cmd = CMD[command]
    out = bytearray([cmd])
    if command in ("learn", "predict"):
        if len(x) != spec.n_in or (command == "learn" and len(target) != spec.n_out):
            raise ValueError(f"a sample has {spec.n_in} inputs and {spec.n_out} targets, got {len(x)} and {len(target)}")
        out += b"".join(encode_word(v, spec.w_in) for v in x)
        if command == "learn":
            out += b"".join(encode_word(v, spec.w_out) for v in target)
    elif command in ("read", "write"):
        if not 0 <= addr < (1 << spec.addr_bits):
            raise ValueError(f"parameter address {addr} does not fit in {spec.addr_bits} bits")
        out += int(addr).to_bytes(spec.addr_bytes, "little")
        if command == "write":
            out += encode_word(coef, spec.w_coef)
    return bytes(out)


@dataclass(frozen=True)
class Hello:
    """A decoded hello block."""

    version: int
    n_in: int
    n_out: int
    w_in: int
    w_out: int
    w_coef: int
    addr_bits: int
    schedule: str
    latency: int
    step: int
    ii: int
    fifo: int
    status: int
    model_id: int
    clk_hz: int
    baud: int

    @classmethod
    def decode(cls, block: bytes) -> Hello:
        if len(block) != HELLO.size:
            raise ValueError(f"a hello block has {HELLO.size} bytes, got {len(block)}")
        values = dict(zip(HELLO_FIELDS, HELLO.unpack(block)))
        if values.pop("magic") != MAGIC:
            raise ValueError(f"not a quantkan board: the hello block starts with {block[:2]!r}, expected {MAGIC!r}")
        names = {v: k for k, v in SCHEDULE_CODES.items()}
        values["schedule"] = names.get(values["schedule"], f"unknown ({values['schedule']})")
        return cls(**values)

    @staticmethod
    def encode(spec: Spec, fifo: int, clk_hz: int, baud: int, status: int = 0) -> bytes:
        return HELLO.pack(MAGIC, VERSION, spec.n_in, spec.n_out, spec.w_in, spec.w_out, spec.w_coef,
                          spec.addr_bits, SCHEDULE_CODES[spec.schedule], spec.latency, spec.step, spec.ii,
                          fifo, status, spec.model_id, int(clk_hz), int(baud))

    def problems(self, spec: Spec) -> list[str]:
        """Where this board differs from what the host expects (empty when it is the right model)."""
        out = []
        if self.version != VERSION:
            out.append(f"protocol version {self.version} (host speaks {VERSION})")
        for name in ("n_in", "n_out", "w_in", "w_out", "w_coef", "addr_bits", "schedule", "step"):
            if getattr(self, name) != getattr(spec, name):
                out.append(f"{name} {getattr(self, name)} (expected {getattr(spec, name)})")
        if self.model_id != spec.model_id:
            out.append(f"model id {self.model_id:08x} (expected {spec.model_id:08x}: architecture, types or "
                       "learning settings differ)")
        return out

    def status_text(self) -> str:
        flags = [name for bit, name in enumerate(STATUS_BITS) if self.status >> bit & 1]
        return ", ".join(flags) if flags else "ok"
