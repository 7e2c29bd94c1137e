"""An MLP that learns on chip: the golden dense step as an Amaranth pipeline.

Per layer: every weight and bias lives in a register (every one is read and updated
every sample, so a memory port would serialise them), one multiplier per weight, an
adder tree with the bias as one more term, then ReLU and the cast (hidden layers) in a
stage of their own.  After the error against the target, per layer: the ReLU slope
masks the error, one multiplier per weight forms ``e_j * x_i`` and its delta, and every
parameter is rewritten in place (read-modify-write of the current value, so no update
is lost); hidden layers get their error from the weights the forward pass read.

The ports, the two schedules (``pipelined``: II = 1 and D per layer; ``sequential``:
D = 0) and :class:`~quantkan.rtl.kan.Timing` are the KAN learner's
(:class:`~quantkan.rtl.kan.Learner`).  Multipliers: 3 * n_in * n_out per layer (forward,
update, backprop), without the backprop of the first layer; a learning rate that is not
a power of two adds one constant multiply per parameter.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned

from quantkan.golden import DenseLayerFixed, LearningRates
from quantkan.models import MLP
from quantkan.rtl.arith import fit, fixed_shape
from quantkan.rtl.coefbank import pack_fields
from quantkan.rtl.kan import Learner, ReadSource
from quantkan.rtl.pipeline import Builder, Timed
from quantkan.rtl.update import applied, applied_overflow, delta, scaled

__all__ = ["MLPLearner", "mlp_param_fields", "mlp_param_address"]


def mlp_param_fields(model: MLP) -> list[tuple[str, int]]:
    """The ``p_addr`` fields of an MLP learner, lowest first: the flat index inside a parameter
    array, then the array (``model.parameters()``: weights 0, biases 0, weights 1, ...)."""
    largest = max(a.size for a in model.parameters())
    return [("index", max(1, (largest - 1).bit_length())),
            ("param", max(1, (len(model.parameters()) - 1).bit_length()))]


def mlp_param_address(fields: list[tuple[str, int]], shape: tuple[int, ...], p: int, index: tuple[int, ...]) -> int:
    """``p_addr`` of element ``index`` of parameter array ``p`` (of ``shape``)."""
    return pack_fields(fields, {"index": int(np.ravel_multi_index(tuple(index), tuple(shape))), "param": p})


def _port_shape(model: MLP) -> Shape:
    """One parameter port word that holds a weight or a bias raw value, whatever their types."""
    types = model.parameter_types()
    if any(t.signed for t in types):
        return signed(max(t.width + (not t.signed) for t in types))
    return unsigned(max(t.width for t in types))


class MLPLearner(Learner):
    """The MLP learner: the golden :class:`~quantkan.golden.DenseLayerFixed` step, bit for bit.

    Parameter ``p`` of :meth:`param_address` indexes ``model.parameters()`` (weights of
    layer l at 2l, shape (n_out, n_in); its biases at 2l + 1, shape (n_out,)).
    """

    def __init__(self, model: MLP, schedule: str = "pipelined", lr: LearningRates = 2.0 ** -4,
                 rounding: str = "type", seed: int = 0, pipeline: str = "deep") -> None:
        self._MustUse__silence = True  # a refused configuration is not an unused elaboratable
        if not isinstance(model, MLP):
            raise TypeError(f"MLPLearner needs an MLP model, not {type(model).__name__}")
        self._fields = mlp_param_fields(model)
        self._shapes = [a.shape for a in model.parameters()]
        super().__init__(model, schedule, lr, rounding, seed, _port_shape(model), pipeline)

    def param_address(self, p: int, *index: int) -> int:
        """``p_addr`` of ``model.parameters()[p][index]``."""
        return mlp_param_address(self._fields, self._shapes[p], p, index)

    def _param(self, m: Module, p: int, index: tuple[int, ...], value: int, name: str,
               p_rdata: list) -> tuple[Signal, Signal]:
        """One parameter register and its parameter port select (read here, written in ``_backward``)."""
        t = self.model.parameter_types()[p]
        reg = Signal(fixed_shape(t), init=int(value), name=name, reset_less=True)
        sel = Signal(name=f"{name}_sel")
        m.d.comb += sel.eq(self._port.sel & (self._port.addr == self.param_address(p, *index)))
        p_rdata.append(ReadSource(sel, reg))
        return reg, sel

    def _forward(self, m: Module, bld: Builder, l: int, layer: DenseLayerFixed, h: list[Timed], p_rdata: list):
        ty = self.model.types
        read = max(x.t for x in h)
        h = [bld.at(x, read, f"h{l}_in") for x in h]
        w = [[self._param(m, 2 * l, (j, i), layer.w[j, i], f"w{l}_{j}_{i}", p_rdata) for i in range(layer.n_in)]
             for j in range(layer.n_out)]
        b = [self._param(m, 2 * l + 1, (j,), layer.b[j], f"b{l}_{j}", p_rdata) for j in range(layer.n_out)]
        outs, active = [], []
        for j in range(layer.n_out):
            terms = [bld.product(Timed(w[j][i][0], ty.weight, read), h[i], f"wx{l}") for i in range(layer.n_in)]
            terms.append(bld.at(Timed(b[j][0], ty.bias, read), read + 1, f"bias{l}"))
            flags: list[Timed] = []
            if not layer.relu:
                if ty.acc is not None:
                    outs.append(bld.cast(bld.tree(terms, ty.acc, f"acc{l}", flags=flags), layer.out_t, f"h{l}",
                                         flags=flags))
                else:
                    outs.append(bld.tree(terms, layer.out_t, f"h{l}", flags=flags))
                self._count(bld, f"l{l}.out_sat", [self._any(bld, flags)], self._valid0)
                continue
            s = bld.tree(terms, layer.acc_t, f"sum{l}")  # exact: ReLU and its slope see the whole sum
            on = Signal(name=bld.name(f"active{l}"))
            m.d.comb += on.eq(s.value > 0)
            active.append((on, s.t))
            relu = Timed(Mux(on, s.value, 0), layer.acc_t, s.t)
            if ty.acc is not None:
                outs.append(bld.cast(bld.cast(relu, ty.acc, f"acc{l}", flags=flags), layer.out_t, f"h{l}",
                                     flags=flags))
            else:
                outs.append(bld.cast(relu, layer.out_t, f"h{l}", flags=flags))
            self._count(bld, f"l{l}.out_sat", [self._any(bld, flags)], self._valid0)
        return outs, {"read": read, "x": h, "w": w, "b": b, "active": active}

    def _backward(self, m: Module, bld: Builder, l: int, layer: DenseLayerFixed, err: list[Timed], ctx, learn0):
        """Deltas and in-place updates of layer l; the error for layer l-1 (None for the first)."""
        ty = self.model.types
        t_err = err[0].t
        if layer.relu:  # the ReLU slope, decided in the forward pass on the exact sum
            err = [Timed(Mux(bld.delay(on, t_err - t, f"active{l}"), e.value, 0), e.type, t_err)
                   for (on, t), e in zip(ctx["active"], err)]
        lr = layer.w_updater.lr
        writes: set[int] = set()

        def update(param: tuple[Signal, Signal], g: Timed, up, lane: int | None, param_t, name: str) -> None:
            """The parameter port writes; else a learning sample rewrites the current value, the
            cycle after its delta is made (the cycle ``lr * g`` is valid in)."""
            reg, sel = param
            src = scaled(bld, g, lr, f"g{name}")
            writes.add(src.t + 1)
            learn_d = bld.delay(learn0, src.t, "learn", control=True)  # the delta's cycle (and its random bits)
            learn_w = bld.delay(learn0, src.t + 1, "learn", control=True)
            d = delta(m, bld, src, up.update_t, up.rounding == "stochastic", lane, learn_d, f"delta{name}")
            self._count_delta(bld, l, src, d, 1)
            port = self._port
            self._count_gated(bld, f"l{l}.param_sat", [learn_w & ~port.sel & applied_overflow(reg, param_t, d,
                                                                                             up.update_t)])
            with m.If(port.sel):
                with m.If(sel & port.we):
                    m.d.sync += reg.eq(fit(port.wdata, param_t.width))
            with m.Elif(learn_w):
                m.d.sync += reg.eq(applied(reg, param_t, d, up.update_t))

        x = [bld.at(v, t_err, f"x{l}") for v in ctx["x"]]
        for j in range(layer.n_out):
            for i in range(layer.n_in):
                lane = int(layer.w_updater.lfsr.state[j, i]) if layer.w_updater.lfsr is not None else None
                update(ctx["w"][j][i], Timed(err[j].value * x[i].value, layer.gw_t, t_err), layer.w_updater, lane,
                       ty.weight, f"w{l}")
            lane = int(layer.b_updater.lfsr.state[j]) if layer.b_updater.lfsr is not None else None
            update(ctx["b"][j], Timed(err[j].value, ty.error, t_err), layer.b_updater, lane, ty.bias, f"b{l}")
        (t_write,) = writes  # every weight and bias of a layer is written in one cycle
        if l == 0:
            return None, t_write
        read_w = [[Timed(w, ty.weight, ctx["read"]) for w, _ in row] for row in ctx["w"]]
        flags = []
        grads = [bld.dot([(err[j], read_w[j][i]) for j in range(layer.n_out)], ty.error, f"grad{l}", flags=flags)
                 for i in range(layer.n_in)]
        self._count(bld, f"l{l - 1}.err_sat", flags, self._learn0)
        return grads, t_write
