"""A KAN that learns on chip: the golden online step as an Amaranth pipeline.

Per layer: cell and table row from the input (a bit slice when h is a power of two),
basis ROM and S+1 coefficient banks read in one cycle, one multiplier per term,
an adder tree with one level per cycle and the cast in the last.  Then the error
against the target, and per layer the delta (one multiply and its cast) and the
read-modify-write of S+1 coefficients per edge.  Hidden layers get their error
from slopes computed in the forward pass from the coefficients it read.

Two schedules: ``pipelined`` accepts a sample every cycle (II = 1), so layer l's
update lands D_l samples late; ``sequential`` accepts one every max(D)+1 cycles,
which is plain SGD (D = 0).  :attr:`KANLearner.timing` reports latency, II and D;
the golden learner takes the same D.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import reduce
from typing import NamedTuple

from amaranth.hdl import Module, Mux, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out

from quantkan.diagnostics import COUNTER_BITS, CounterMap, hardware_names
from quantkan.fixed import FixedType, sub_type
from quantkan.golden import KANLayerFixed, LearningRates, OnlineLearner
from quantkan.models import KAN, Model
from quantkan.rtl import PIPELINES, SCHEDULES
from quantkan.rtl.arith import fixed_shape, raw_value
from quantkan.rtl.coefbank import CoefficientBank, bank_address, bank_geometry, bank_order, pack_fields
from quantkan.rtl.lookup import locate, table_rom
from quantkan.rtl.pipeline import FLAG, Builder, Timed
from quantkan.rtl.update import delta, lfsr_lane, random_drop, scaled

__all__ = ["Learner", "KANLearner", "Timing", "READ_LATENCY", "ReadSource", "timing_of"]

READ_LATENCY = 4  # parameter port: cycles from p_addr to its p_rdata (port register, memory read, OR, OR)
READ_LAG = 1  # parameter port: cycles a source's word may follow the port register (a memory read's register)
READ_GROUP = 4  # parameter port: words ORed before the first read register
EVENT_GROUP = 8  # diagnostics: events added up in one cycle before a counter's increment
COUNTER_LAG = 3  # diagnostics: event register, group sum, increment; then the count holds it


class ReadSource(NamedTuple):
    """One word on the parameter port's read mux: ``word`` where ``sel``, both ``lag`` cycles after
    the port register (at most :data:`READ_LAG`).  The selects of all sources are one-hot."""

    sel: Value
    word: Value
    lag: int = 0


@dataclass
class Timing:
    """Cycle counts, all measured from the cycle a sample is accepted (valid & ready)."""

    schedule: str
    latency: int = 0  # input accepted -> y valid
    step: int = 0  # input accepted -> last coefficient write committed
    ii: int = 1  # cycles between accepted samples
    read: list[int] = field(default_factory=list)  # per layer: cycle of the forward coefficient read
    write: list[int] = field(default_factory=list)  # per layer: cycle of the update write
    pipeline_delays: list[int] = field(default_factory=list)  # D per layer when a sample comes every cycle

    @property
    def settle(self) -> int:
        """Input accepted -> every diagnostics counter includes the sample: a counter reads
        its events :data:`COUNTER_LAG` cycles after they happen (at the latest, the last write)."""
        return self.step + COUNTER_LAG

    @property
    def delays(self) -> list[int]:
        """The update delay D per layer that the golden learner must use for this schedule."""
        return [0] * len(self.pipeline_delays) if self.schedule == "sequential" else self.pipeline_delays

    def summary(self) -> str:
        return (f"{self.schedule}: latency {self.latency} cycles (input to y), learning step "
                f"{self.step} cycles (input to updated coefficients), II {self.ii}, D per layer {self.delays}")


@dataclass(frozen=True)
class PortStage:
    """The parameter port one cycle after its pins, in registers: what memories, parameter
    registers and counters act on, so a read or write commits one edge later than it is asked."""

    sel: Value  # p_sel
    hit: Value  # p_sel at the consumer's own addresses
    addr: Value  # p_addr, or the low fields the consumer decodes
    we: Value
    wdata: Value


class Learner(wiring.Component):
    """The stream learner both model kinds share: ports, schedules, the error and timing.

    Ports: ``x``, ``target``, ``learn``, ``valid`` / ``ready`` (a sample is accepted
    when both are high); ``y`` / ``y_valid``; ``p_sel``, ``p_addr``, ``p_we``,
    ``p_wdata``, ``p_rdata`` (raw parameter access, only while no sample is in flight; the
    port is registered, so a write commits at the second edge that sees it, a read's data is
    on ``p_rdata`` :data:`READ_LATENCY` cycles after its ``p_addr``, and reads pipeline: one
    address per cycle).  Use :meth:`param_address` to form ``p_addr``.
    A subclass sets ``_fields`` (the ``p_addr`` bit fields) and builds each layer's
    forward and backward pass (``_forward``, ``_backward``); everything else is here.

    Above the parameters lies the counter space (the top ``p_addr`` bit, field ``diag``): the
    diagnostics counters of :mod:`quantkan.diagnostics`, :data:`COUNTER_BITS` wide and
    saturating, read word by word at the addresses :attr:`counters` gives; a write there
    clears them all.  Subclasses report events with :meth:`_count`.
    """

    def __init__(self, model: Model, schedule: str, lr: LearningRates, rounding: str, seed: int,
                 param_shape: Shape, pipeline: str = "deep") -> None:
        self._MustUse__silence = True  # a refused configuration is not an unused elaboratable
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if pipeline not in PIPELINES:
            raise ValueError(f"pipeline must be one of {PIPELINES}, got {pipeline!r}")
        self.model, self.schedule, self.pipeline = model, schedule, pipeline
        self.golden = OnlineLearner(model, lr=lr, delay=0, rounding=rounding, seed=seed)
        self.layers = self.golden.pipeline.layers
        ty = model.types
        self.n_in, self.n_out = model.layers[0], model.layers[-1]
        port_bits = Shape.cast(param_shape).width
        names = hardware_names(len(self.layers))
        need = max(1, (len(names) * -(-COUNTER_BITS // port_bits) - 1).bit_length())
        have = sum(w for _, w in self._fields)
        self._fields = [*self._fields, *([("pad", need - have)] if need > have else []), ("diag", 1)]
        self.counters = CounterMap(tuple(names), 1 << max(need, have), port_bits)
        super().__init__({
            "x": In(ArrayLayout(fixed_shape(ty.input), self.n_in)),
            "target": In(ArrayLayout(fixed_shape(ty.output), self.n_out)),
            "learn": In(1),
            "valid": In(1),
            "ready": Out(1),
            "y": Out(ArrayLayout(fixed_shape(ty.output), self.n_out)),
            "y_valid": Out(1),
            "p_sel": In(1),
            "p_addr": In(sum(w for _, w in self._fields)),
            "p_we": In(1),
            "p_wdata": In(param_shape),
            "p_rdata": Out(param_shape),
        })
        self.timing = Timing(schedule)
        dry = Module()  # a dry build: the timing is what the real one gives
        self._build(dry, self.timing)
        for obj in [dry, *(e for e, _ in dry._named_submodules.values()), *(e for e, _ in dry._anon_submodules)]:
            obj._MustUse__silence = True  # built only to be measured
        self._MustUse__silence = False

    @property
    def param_fields(self) -> list[tuple[str, int]]:
        """The ``p_addr`` bit fields, lowest first: (name, width)."""
        return list(self._fields)

    def _field(self, name: str, addr: Value | None = None):
        """Field ``name`` of ``addr`` (``p_addr``, or a registered copy of its low fields)."""
        addr = self.p_addr if addr is None else addr
        shift = 0
        for n, w in self._fields:
            if n == name:
                return addr[shift:shift + w]
            shift += w
        raise KeyError(name)

    # -- construction ----------------------------------------------------
    def elaborate(self, platform) -> Module:
        m = Module()
        self._build(m, Timing(self.schedule))
        return m

    def _port_stage(self, bld: Builder, name: str, hit: Value | None = None, addr: Value | None = None,
                    keep: bool = False) -> PortStage:
        """The parameter port registered for one consumer (``hit``: its address decode, else
        ``p_sel``; ``addr``: the address bits it reads, else all).  ``keep`` gives the consumer
        copies of its own: a KAN edge's memories then need no port net across the die in series
        with their read."""
        sel = bld.reg(self.p_sel, f"{name}_sel", control=True, keep=keep)
        return PortStage(sel=sel, hit=sel if hit is None else bld.reg(hit, f"{name}_hit", control=True, keep=keep),
                         addr=bld.reg(self.p_addr if addr is None else addr, f"{name}_addr", keep=keep),
                         we=bld.reg(self.p_we, f"{name}_we", control=True, keep=keep),
                         wdata=bld.reg(self.p_wdata, f"{name}_wdata", keep=keep))

    def _params_selected(self) -> Value:
        """``p_sel`` at a parameter's address (not a counter's)."""
        return self.p_sel & ~self._field("diag")

    def _count(self, bld: Builder, name: str, flags: list[Timed], gate: Value) -> None:
        """Count each of ``flags`` (one-bit, valid in its own cycle) into counter ``name`` when the
        sample in that cycle had ``gate`` set (``self._valid0``: accepted, ``self._learn0``: learning).
        Each event is registered before it is counted, so no datapath flag (a delta's zero test
        after its rounding adder) runs on into the counter's adder in the same cycle."""
        self._count_gated(bld, name, [f.value & bld.delay(gate, f.t, "gate", control=True) for f in flags])

    def _count_gated(self, bld: Builder, name: str, events: list[Value]) -> None:
        """Count ``events`` (one-bit, already gated) into counter ``name``, each registered first."""
        label = f"event_{name.replace('.', '_')}"
        self._events[name] += [bld.reg(e, label, control=True) for e in events]

    @staticmethod
    def _any(bld: Builder, flags: list[Timed]) -> Timed:
        """One flag: any of ``flags`` (of one sample, valid in different cycles)."""
        t = max(f.t for f in flags)
        return Timed(reduce(operator.or_, [bld.at(f, t, "flag").value for f in flags]), FLAG, t)

    def _counter_logic(self, m: Module, p_rdata: list) -> None:
        """The counters: each adds the registered count of its events per cycle, saturating at
        2**COUNTER_BITS - 1; read through the parameter port, cleared by a write to the counter space."""
        top = (1 << COUNTER_BITS) - 1
        port = self._port
        in_space = port.sel & self._field("diag", port.addr)
        clear = in_space & port.we
        low = port.addr[:len(self.p_addr) - 1]
        cm = self.counters
        for c, name in enumerate(cm.names):
            count = Signal(COUNTER_BITS, name=f"count_{name.replace('.', '_')}")
            events = self._events[name]
            if events:
                label = f"count_{name.replace('.', '_')}"
                # many events (one per memory bank): counted in groups first, a cycle earlier
                parts = [Signal(range(min(EVENT_GROUP, len(events) - g) + 1), name=f"{label}_part")
                         for g in range(0, len(events), EVENT_GROUP)] if len(events) > EVENT_GROUP else []
                inc = Signal(range(len(events) + 1), name=f"{label}_inc")
                total = count + inc
                with m.If(clear):  # and what is still on its way
                    m.d.sync += [count.eq(0), inc.eq(0), *(p.eq(0) for p in parts)]
                with m.Else():
                    # inc < 2**COUNTER_BITS: the carry out says the sum passed the top
                    m.d.sync += [p.eq(_popcount(events[g * EVENT_GROUP:(g + 1) * EVENT_GROUP]))
                                 for g, p in enumerate(parts)]
                    m.d.sync += [inc.eq(_popcount(parts or events)),
                                 count.eq(Mux(total[COUNTER_BITS], top, total[:COUNTER_BITS]))]
            for w in range(cm.words):
                sel = Signal(name=f"count_sel_{c}_{w}")
                m.d.comb += sel.eq(in_space & (low == c * cm.words + w))
                p_rdata.append(ReadSource(sel, count[w * cm.word_bits:(w + 1) * cm.word_bits]))

    def _build(self, m: Module, timing: Timing) -> None:
        ty = self.model.types
        bld = Builder(m, deep=self.pipeline != "shallow", dsp_inputs=self.pipeline == "deeper")
        n_layers = len(self.layers)
        accept = Signal(name="accept")
        m.d.comb += accept.eq(self.valid & self.ready)
        self._events: dict[str, list[Value]] = {name: [] for name in self.counters.names}
        self._events["samples"].append(accept)
        self._events["learned"].append(accept & self.learn)
        x = [Timed(bld.reg(self.x[i], "x_in", fixed_shape(ty.input)), ty.input, 0) for i in range(self.n_in)]
        target = [Timed(bld.reg(self.target[j], "target_in", fixed_shape(ty.output)), ty.output, 0)
                  for j in range(self.n_out)]
        valid0 = bld.reg(accept, "valid_in", control=True)
        learn0 = bld.reg(accept & self.learn, "learn_in", control=True)
        self._valid0, self._learn0 = valid0, learn0
        self._port = self._port_stage(bld, "port")

        p_rdata = []
        h, ctxs = x, []
        for l, layer in enumerate(self.layers):
            h, ctx = self._forward(m, bld, l, layer, h, p_rdata)
            ctxs.append(ctx)
            timing.read.append(ctx["read"])
        y_t = h[0].t
        m.d.comb += [self.y[j].eq(h[j].value) for j in range(self.n_out)]
        m.d.comb += self.y_valid.eq(bld.delay(valid0, y_t, "valid", control=True))
        err_flags: list[Timed] = []
        err = [bld.cast(Timed(self._diff(h[j], bld.at(target[j], y_t, "target")), sub_type(ty.output, ty.output), y_t),
                        ty.error, "err", flags=err_flags) for j in range(self.n_out)]
        self._count(bld, f"l{n_layers - 1}.err_sat", err_flags, learn0)
        writes = [0] * n_layers
        for l in reversed(range(n_layers)):
            err, writes[l] = self._backward(m, bld, l, self.layers[l], err, ctxs[l], learn0)
        timing.write = writes
        self._counter_logic(m, p_rdata)
        timing.latency = y_t  # y is valid y_t clock edges after the edge that accepted the input
        timing.step = max(writes) + 1  # ... and the last write commits at this edge
        timing.pipeline_delays = [w - r for w, r in zip(writes, timing.read)]
        period = max(timing.pipeline_delays) + 1
        timing.ii = 1 if self.schedule == "pipelined" else period

        if self.schedule == "pipelined":
            m.d.comb += self.ready.eq(~self.p_sel)
        else:
            wait = Signal(range(period + 1), name="wait")
            m.d.comb += self.ready.eq((wait == 0) & ~self.p_sel)
            with m.If(accept):
                m.d.sync += wait.eq(period - 1)
            with m.Elif(wait != 0):
                m.d.sync += wait.eq(wait - 1)
        self._read_mux(m, bld, p_rdata)

    def _read_mux(self, m: Module, bld: Builder, sources: list[ReadSource]) -> None:
        """``p_rdata``, :data:`READ_LATENCY` cycles after ``p_addr``.  The selects are one-hot, so the
        mux is an OR of gated words: a few at a time into a register, then all of those.  A memory's
        read ends in a register of its own (lag 1) and the words of registers wait a cycle for it,
        so neither the memory read, nor the address mux in front of it, nor the wide OR sets the clock."""
        parts = []
        for lag in sorted({s.lag for s in sources}):
            same = [s for s in sources if s.lag == lag]
            for g in range(0, len(same), READ_GROUP):
                part = bld.reg(reduce(operator.or_, [Mux(s.sel, s.word, 0) for s in same[g:g + READ_GROUP]]),
                               "p_rdata_part", self.p_rdata.shape())
                parts.append(bld.delay(part, READ_LAG - lag, "p_rdata_part"))
        m.d.sync += self.p_rdata.eq(reduce(operator.or_, parts))

    def _count_delta(self, bld: Builder, l: int, src: Timed, d: Value, later: int) -> None:
        """Count one update lane of layer l: attempted when lr * g (``src``) is not 0, zero when its
        delta ``d`` (valid ``later`` cycles after ``src``) is 0 as well."""
        nonzero = Timed(src.value != 0, FLAG, src.t)
        zero = Timed(bld.delay(nonzero.value, later, f"nonzero{l}") & (d == 0), FLAG, src.t + later)
        self._count(bld, f"l{l}.attempted", [nonzero], self._learn0)
        self._count(bld, f"l{l}.zero", [zero], self._learn0)

    @staticmethod
    def _diff(a: Timed, b: Timed):
        return raw_value(a.value, a.type) - raw_value(b.value, b.type)


class KANLearner(Learner):
    """The KAN learner: S+1 coefficients per edge read from memory banks and updated in place.

    Parameter ``p`` of :meth:`param_address` is the layer (``model.coefficients[p]``).
    """

    def __init__(self, model: KAN, schedule: str = "pipelined", lr: LearningRates = 2.0 ** -4,
                 rounding: str = "type", seed: int = 0, pipeline: str = "deep") -> None:
        self._MustUse__silence = True  # a refused configuration is not an unused elaboratable
        if not isinstance(model, KAN):
            raise ValueError(f"KANLearner needs a KAN model, got {type(model).__name__}")
        nb, self.depth = bank_geometry(model.n_coef, model.order)
        self._fields = [("b", max(1, (nb - 1).bit_length())), ("a", max(1, (self.depth - 1).bit_length())),
                        ("i", max(1, (max(model.layers[:-1]) - 1).bit_length())),
                        ("j", max(1, (max(model.layers[1:]) - 1).bit_length())),
                        ("layer", max(1, (len(model.layers) - 2).bit_length()))]
        super().__init__(model, schedule, lr, rounding, seed, fixed_shape(model.types.coef), pipeline)

    def param_address(self, layer: int, j: int, i: int, c: int) -> int:
        """``p_addr`` of coefficient ``c`` of edge (j, i) in ``layer``."""
        b, a = bank_address(c, self.model.order)
        return pack_fields(self._fields, {"b": b, "a": a, "i": i, "j": j, "layer": layer})

    def _forward(self, m: Module, bld: Builder, l: int, layer: KANLayerFixed, h: list[Timed], p_rdata: list):
        model, ty = self.model, self.model.types
        S = model.order
        need_grad = l > 0
        ks, basis, deriv, banks, ports = [], [], [], {}, {}
        in_bank = sum(w for _, w in self._fields[:2])  # the low fields, b and a: the address inside an edge
        read = None
        for i in range(layer.n_in):
            k, row, t = locate(m, bld, layer.map, h[i], f"{l}_{i}")
            basis.append(self._rom(bld, f"basis{l}_{i}", model.tables.basis_raw, ty.basis, row, t))
            if need_grad:
                deriv.append(self._rom(bld, f"deriv{l}_{i}", model.tables.deriv_raw, ty.deriv, row, t))
            # deep: the coefficients are read a cycle later, when the block RAM's output register is
            read = t + bld.deep
            ks.append(bld.delay(k, bld.deep, f"k_rd{l}_{i}"))
        terms = {j: [] for j in range(layer.n_out)}
        slopes = {}
        for j in range(layer.n_out):
            for i in range(layer.n_in):
                bank = CoefficientBank(ty.coef, ty.update, model.n_coef, S, layer.coef[j, i].tolist(),
                                       registered=bld.deep)
                m.submodules[f"coef{l}_{j}_{i}"] = bank
                banks[j, i] = bank
                m.d.comb += bank.rd_k.eq(ks[i])
                mine = ((self._field("layer") == l) & (self._field("j") == j) & (self._field("i") == i)
                        & self._params_selected())
                port = ports[j, i] = self._port_stage(bld, f"port{l}_{j}_{i}", mine, self.p_addr[:in_bank],
                                                      keep=True)
                m.d.comb += [bank.p_sel.eq(port.hit), bank.p_bank.eq(self._field("b", port.addr)),
                             bank.p_addr.eq(self._field("a", port.addr)), bank.p_we.eq(port.we),
                             bank.p_wdata.eq(port.wdata)]
                hit = bld.delay(port.hit, bank.read_lag, f"port{l}_{j}_{i}_read", control=True)
                p_rdata.append(ReadSource(hit, bank.p_rdata, bank.read_lag))
                window = [Timed(bank.rd_window[mm], ty.coef, read + 1) for mm in range(S + 1)]
                terms[j] += [bld.product(window[mm], basis[i][mm], f"cb{l}") for mm in range(S + 1)]
                if need_grad:
                    q = [bld.product(window[mm], deriv[i][mm], f"cdb{l}") for mm in range(S + 1)]
                    slopes[j, i] = bld.tree(q, ty.grad, f"slope{l}")
        out_t = layer.out_t
        outs = []
        for j in range(layer.n_out):
            flags: list[Timed] = []
            if ty.acc is not None:
                outs.append(bld.cast(bld.tree(terms[j], ty.acc, f"acc{l}", flags=flags), out_t, f"h{l}", flags=flags))
            else:
                outs.append(bld.tree(terms[j], out_t, f"h{l}", flags=flags))
            self._count(bld, f"l{l}.out_sat", [self._any(bld, flags)], self._valid0)
        return outs, {"k": ks, "basis": basis, "slopes": slopes, "banks": banks, "ports": ports, "read": read}

    def _backward(self, m: Module, bld: Builder, l: int, layer: KANLayerFixed, err: list[Timed], ctx, learn0):
        """Deltas and RMW updates of layer l; the error for layer l-1 (None for the first)."""
        ty, S = self.model.types, self.model.order
        up = layer.updater
        # deep, when an error feeds more than one edge's S+1 multipliers (and the hidden error's):
        # each multiplier reads its own copy, a cycle of pure routing later; one register would
        # fan out across the die (the [2, 4, 1]'s clock: 7.0 of 10.5 ns routing)
        # (deeper: every multiplier has its own operand registers already)
        fan = bld.deep and not bld.dsp_inputs and layer.n_in * (S + 1 + (l > 0)) > S + 1
        E = err[0].t + fan

        def error(j: int) -> Timed:
            return bld.copy(err[j], f"efan{l}") if fan else err[j]

        def rotated(window: list[Value], t: int, shape, name: str, i: int) -> list[Value]:
            """``window`` (values of cycle t - 1) in bank order, registered into cycle t."""
            k = bld.delay(ctx["k"][i], t - 1 - ctx["read"], f"k{l}_{i}")
            return [bld.reg(v, name, shape) for v in bank_order(k, window, S)]

        # Each bank takes a delta in its own order.  When every bank holds a window position
        # (S + 1 a power of two) the basis is rotated before the error x basis multiply, so no mux
        # follows a delta's rounding; else the deltas are rotated (no multiplier for a bank that
        # sits the sample out).
        lanes_per_bank = bank_geometry(self.model.n_coef, S)[0] == S + 1
        stochastic = up.rounding == "stochastic"
        basis = [[bld.at(b, E - lanes_per_bank, "basis") for b in ctx["basis"][i]] for i in range(layer.n_in)]
        if lanes_per_bank:
            basis = [[Timed(v, ty.basis, E) for v in rotated([b.value for b in basis[i]], E, fixed_shape(ty.basis),
                                                             f"basis_bank{l}", i)] for i in range(layer.n_in)]
        products = {(j, i): [scaled(bld, self._times(bld, error(j), b, layer.g_t, f"eb{l}"), up.lr, f"g{l}")
                             for b in basis[i]] for j, i in ctx["banks"]}
        # the cycle the delta (and its random bits) is made: after error x basis and a constant
        # learning rate's multiply; the delta is registered before the bank's write cycle W (a
        # registered bank registers it itself)
        t_delta = next(iter(products.values()))[0].t
        W = t_delta + (0 if bld.deep else 1)
        learn_w = bld.delay(learn0, W, "learn", control=True)
        learn_d = bld.delay(learn0, t_delta, "learn", control=True)
        for (j, i), bank in ctx["banks"].items():
            srcs = products[j, i]
            drop = random_drop(srcs[0].type, up.update_t, stochastic)
            lanes = [int(up.lfsr.state[j, i, mm]) if drop else None for mm in range(S + 1)]
            bits = [None] * len(srcs)
            if drop and lanes_per_bank:  # a lane belongs to a window position: its next state rotates too
                bits = rotated([lfsr_lane(m, bld, lane, drop, learn_d, f"delta{l}")[1][:drop] for lane in lanes],
                               t_delta, drop, f"lfsr_bank{l}", i)
                lanes = [None] * len(srcs)
            deltas = []
            for src, lane, rnd in zip(srcs, lanes, bits):
                deltas.append(delta(m, bld, src, up.update_t, stochastic, lane, learn_d, f"delta{l}",
                                    register=not bank.registered, random_bits=rnd))
                # a registered bank takes its delta combinational: the zero test reads a registered
                # copy, so no compare follows the rounding adder
                seen = bld.reg(deltas[-1], f"delta_seen{l}", fixed_shape(up.update_t)) if bank.registered else deltas[-1]
                self._count_delta(bld, l, src, seen, 1)
            k_w = bld.delay(ctx["k"][i], W - ctx["read"], f"k{l}_{i}")
            m.d.comb += bank.wr_k.eq(k_w)
            if not lanes_per_bank:
                deltas = bank_order(k_w, deltas, S)
            m.d.comb += [bank.wr_delta[b].eq(deltas[b]) for b in range(bank.n_banks)]
            m.d.comb += bank.wr_en.eq(learn_w & ~ctx["ports"][j, i].sel)
            self._count_gated(bld, f"l{l}.param_sat", [bank.wr_sat[b] for b in range(bank.n_banks)])
        W += bank.write_latency  # the cycle whose edge commits the write
        if l == 0:
            return None, W
        flags: list[Timed] = []
        grads = [bld.dot([(error(j), bld.at(ctx["slopes"][j, i], E, "slope")) for j in range(layer.n_out)],
                         ty.error, f"grad{l}", flags=flags) for i in range(layer.n_in)]
        self._count(bld, f"l{l - 1}.err_sat", flags, self._learn0)
        return grads, W

    @staticmethod
    def _rom(bld: Builder, name: str, table, t: FixedType, row, at: int) -> list[Timed]:
        """A table ROM's row (:func:`table_rom`), behind a register when deep: a block RAM's
        clock-to-out is most of a cycle, so no multiplier follows it directly."""
        words = table_rom(bld.m, bld, name, table, t, row, at)
        return [bld.at(w, w.t + 1, f"{name}_q") for w in words] if bld.deep else words

    @staticmethod
    def _times(bld: Builder, a: Timed, b: Timed, t: FixedType, name: str) -> Timed:
        """a * b (both valid in one cycle) as type ``t``: registered when the pipeline is deep, else
        left combinational for the cast that follows in the same cycle."""
        a, b = bld.operands(a, b, name)
        p = Timed(a.value * b.value, t, a.t)
        return Timed(bld.reg(p.value, name, fixed_shape(t)), t, a.t + 1) if bld.deep else p


def _popcount(bits: list[Value]) -> Value:
    """The sum of ``bits`` (one-bit flags, or counts): a balanced adder tree."""
    level = [Value.cast(b).as_unsigned() for b in bits]
    while len(level) > 1:
        level = [level[k] + level[k + 1] if k + 1 < len(level) else level[k] for k in range(0, len(level), 2)]
    return level[0]


def timing_of(model: KAN, schedule: str = "pipelined", **settings) -> Timing:
    """The timing of the learner a model would get, without keeping (or elaborating) the learner."""
    learner = KANLearner(model, schedule=schedule, **settings)
    learner._MustUse__silence = True  # built only to be measured
    return learner.timing
