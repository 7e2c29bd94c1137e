"""The golden model: the bit-exact online learning step every backend must reproduce.

One step: forward pass, on-chip MSE error e = y - target, backward pass through
hidden layers (with the coefficients the forward pass read) and sparse updates
c <- cast(c - cast(lr * e * B, update)) of exactly S+1 coefficients per KAN edge
(every weight for an MLP).  Update delay D per layer models a pipeline: the
update computed from sample n is applied (read-modify-write on the current value)
just before the forward pass of sample n + 1 + D.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from quantkan import fixed
from quantkan.diagnostics import Diagnostics, LayerCounts
from quantkan.fixed import FixedType, Overflow, Rounding
from quantkan.lfsr import LFSRBank
from quantkan.models import KAN, MLP, Model

__all__ = ["LearningRate", "GridMap", "OnlineLearner", "UPDATE_ROUNDINGS", "check_learning_rate",
           "per_layer_learning_rates", "learning_rates", "learning_rate_setting", "LearningRates"]

UPDATE_ROUNDINGS = ("type", "stochastic")
#: A learning-rate setting: one rate for every layer, or one per layer.
LearningRates = float | Sequence[float]
LFSR_BITS = 32


class Layer(Protocol):
    """What the learner needs of a layer, fixed-point or float."""

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]: ...

    def backward(self, ctx: Any, err: np.ndarray, need_grad: bool) -> tuple[np.ndarray | None, Any]: ...

    def apply(self, update: Any) -> None: ...


def check_learning_rate(lr: Any, what: str = "learning rate") -> float:
    """``lr`` as a float if it is a number in (0, 1), the range both learners accept, else ValueError."""
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and 0 < lr < 1):
        raise ValueError(f"{what} must be a number in (0, 1), got {lr!r}")
    return float(lr)


def per_layer_learning_rates(lr: LearningRates, n_layers: int) -> list[float]:
    """One checked learning rate per layer from one number (every layer) or a sequence of one
    per layer: deeper KANs want a smaller rate on hidden layers, whose derivative table
    grows with 1/h.  ValueError naming the layer on a bad value or a wrong count."""
    if isinstance(lr, (list, tuple, np.ndarray)):
        if len(lr) != n_layers:
            raise ValueError(f"learning rate must be one number or one per layer ({n_layers}), "
                             f"got {len(lr)} values {list(lr)!r}")
        return [check_learning_rate(v, f"learning rate of layer {l}") for l, v in enumerate(lr)]
    return [check_learning_rate(lr)] * n_layers


def learning_rates(lr: LearningRates, n_layers: int) -> tuple[LearningRate, ...]:
    """:func:`per_layer_learning_rates` as the LearningRate each layer's updater uses."""
    named = isinstance(lr, (list, tuple, np.ndarray))
    return tuple(LearningRate.of(r, f"learning rate of layer {l}" if named else "learning rate")
                 for l, r in enumerate(per_layer_learning_rates(lr, n_layers)))


def learning_rate_setting(rates: Sequence[LearningRate]) -> float | list[float]:
    """The rates as a plain setting (one float when all layers share it, else a list): what
    metadata records and what, given back as ``lr``, rebuilds the same learner."""
    values = [r.value for r in rates]
    return values[0] if len(set(values)) == 1 else values


@dataclass(frozen=True)
class LearningRate:
    """A power of two (a shift: exact, no multiplier) or a fixed-point constant."""

    value: float
    shift: int | None  # lr = 2**-shift when set
    constant: FixedType | None
    raw: int

    @classmethod
    def of(cls, lr: float, what: str = "learning rate") -> LearningRate:
        lr = check_learning_rate(lr, what)
        mantissa, exponent = math.frexp(lr)
        if mantissa == 0.5:
            return cls(float(lr), 1 - exponent, None, 1)
        t = FixedType(18, 0, False, Rounding.RND_CONV, Overflow.SAT)
        raw = int(t.quantize(lr))
        if raw == 0:
            raise ValueError(f"{what} {lr!r} rounds to zero in {t}")
        return cls(float(t.to_float(raw)), None, t, raw)

    def scale_type(self, t: FixedType) -> FixedType:
        """The exact type of lr * (a value of type ``t``): a moved binary point for a shift."""
        return t.scaled(-self.shift) if self.shift is not None else fixed.mul_type(t, self.constant)

    def scale(self, raw: np.ndarray, t: FixedType) -> tuple[np.ndarray, FixedType]:
        """lr * value, exact."""
        if self.shift is not None:
            return raw, self.scale_type(t)
        return fixed.mul(raw, t, self.raw, self.constant)


class _Updater:
    """delta = cast(lr * g, update) and param <- cast(param - delta, param type)."""

    def __init__(self, lr: LearningRate, update_t: FixedType, param_t: FixedType,
                 rounding: str, lfsr: LFSRBank | None) -> None:
        self.lr, self.update_t, self.param_t = lr, update_t, param_t
        self.rounding, self.lfsr = rounding, lfsr
        self.counts = LayerCounts()  # the layer's diagnostics; a layer hands its own in

    def check(self, g_t: FixedType, params: str) -> None:
        """Refuse, at construction, an update of ``params`` (named in the error) whose exact
        intermediate widths raw int64 values cannot hold."""
        scaled_t = self.lr.scale_type(g_t)
        scaled_t.require_int64(f"lr * the gradient of {params} (learning rate {self.lr.value:g})")
        if self.rounding == "stochastic":
            for t in stochastic_types(scaled_t, self.update_t)[:2]:
                t.require_int64(f"stochastic rounding of the update of {params}")
        fixed.sub_type(self.param_t, self.update_t).require_int64(f"the update of {params}")

    def delta(self, g: np.ndarray, g_t: FixedType) -> np.ndarray:
        scaled, t = self.lr.scale(g, g_t)
        d = self._delta(scaled, t)
        self.counts.add_deltas(scaled, d)
        return d

    def _delta(self, scaled: np.ndarray, t: FixedType) -> np.ndarray:
        if self.rounding == "stochastic":
            pre_t, sum_t, drop = stochastic_types(t, self.update_t)
            if drop > 0:  # the lanes leap ``drop`` steps and hand out ``drop`` bits (quantkan.lfsr)
                scaled = fixed.cast(scaled, t, pre_t) + self.lfsr.bits(drop)
                return fixed.cast(scaled, sum_t, self.update_t.with_modes(rounding=Rounding.TRN))
        return fixed.cast(scaled, t, self.update_t)

    def apply(self, param: np.ndarray, delta: np.ndarray) -> np.ndarray:
        value, over = fixed.cast_flagged(*fixed.sub(param, self.param_t, delta, self.update_t), self.param_t)
        self.counts.param_sat += int(over.sum())
        return value


def stochastic_types(t: FixedType, update_t: FixedType) -> tuple[FixedType, FixedType, int]:
    """Stochastic rounding of a ``t`` value to ``update_t``: (pre-truncated type, sum type, random bits).

    One LFSR word has 32 bits, so at most 32 bits below the update LSB are randomized;
    any lower bits are truncated first (pre_t).  The random bits are added in sum_t
    (wide enough for both addends and the carry), then truncated to ``update_t``.
    """
    drop = t.frac - update_t.frac
    cut = max(0, drop - LFSR_BITS)
    pre_t = FixedType(t.width - cut, t.integer, t.signed)
    sum_width = max(pre_t.width + (not pre_t.signed), drop - cut + 1) + 1  # as signed, plus carry
    return pre_t, FixedType(sum_width, sum_width - pre_t.frac, True), drop - cut


@dataclass(frozen=True)
class GridMap:
    """Input raw -> (cell k, table row) by exact integer arithmetic.

    t = (x - lo) * (1/h): with h a power of two the product is a bit slice; else
    1/h is a constant ``inv_h`` (ap_ufixed<18,..>, round to nearest) that the
    hardware multiplies by.  Cells clamp to [0, G-1]; below the grid the row is 0,
    at or above it the last row.  The product is exact for every input width: when
    it may not fit int64 (wide inputs), it is computed on Python integers.
    """

    lo_raw: int
    inv_h_type: FixedType | None  # None: h = 2**-log2_inv_h exactly
    inv_h_raw: int
    t_frac: int  # fractional bits of the exact t
    cells: int
    lut_bits: int
    exact_int64: bool = True  # every intermediate of locate() fits int64

    @classmethod
    def of(cls, model: KAN) -> GridMap:
        x_t, grid = model.types.input, model.grid
        lo_raw = int(x_t.quantize(grid.lo))
        inv_h = grid.cells / (grid.hi - grid.lo)
        mantissa, exponent = math.frexp(inv_h)
        if mantissa == 0.5:  # 1/h = 2**(exponent-1)
            inv_t, inv_raw, t_frac = None, 1, x_t.frac - (exponent - 1)
        else:
            inv_t = FixedType(18, max(1, exponent), False, Rounding.RND_CONV, Overflow.SAT)
            inv_raw, t_frac = int(inv_t.quantize(inv_h)), x_t.frac + inv_t.frac
        reach = max(abs(x_t.min_raw - lo_raw), abs(x_t.max_raw - lo_raw)) * inv_raw
        reach <<= max(0, model.lut_bits - t_frac)  # rows are t shifted left when t has few bits
        return cls(lo_raw, inv_t, inv_raw, t_frac, grid.cells, model.lut_bits, reach < 1 << 62)

    def locate(self, x_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x_raw, dtype=np.int64)
        if not self.exact_int64:
            x = x.astype(object)  # Python integers: exact at any width
        t = (x - self.lo_raw) * self.inv_h_raw
        shift = self.t_frac - self.lut_bits  # t in units of one table row
        rows = t >> shift if shift >= 0 else t << -shift
        last = (self.cells << self.lut_bits) - 1
        rows = np.clip(rows, 0, last).astype(np.int64)
        return rows >> self.lut_bits, rows & ((1 << self.lut_bits) - 1)


class KANLayerFixed:
    """One KAN layer on raw integers (a view of the model's coefficient array)."""

    def __init__(self, model: KAN, index: int, out_t: FixedType, updater: _Updater) -> None:
        ty = model.types
        self.coef = model.coefficients[index]
        self.n_out, self.n_in, _ = self.coef.shape
        self.S = model.order
        self.types, self.out_t, self.updater = ty, out_t, updater
        self.map = GridMap.of(model)
        self.basis, self.deriv = model.tables.basis_raw, model.tables.deriv_raw
        self.window = np.arange(self.S + 1)
        lt = model.layer_types[index]
        self.acc_t, self.slope_t, self.back_t, self.g_t = lt.acc, lt.slope, lt.back, lt.g
        updater.check(self.g_t, f"KAN layer {index}'s coefficients")
        self.counts = updater.counts
        self.below: LayerCounts | None = None  # the layer below's counts: its error casts are made here

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        k, row = self.map.locate(x)
        idx = k[:, None] + self.window  # (in, S+1) active coefficient indices
        b = self.basis[row]  # (in, S+1)
        c = self.coef[:, np.arange(self.n_in)[:, None], idx]  # (out, in, S+1), as read
        acc = (c * b).sum(axis=(1, 2))
        y = _output_cast(acc, self.acc_t, self.types.acc, self.out_t, self.counts)
        return y, (idx, row, b, c)

    def backward(self, ctx: Any, err: np.ndarray, need_grad: bool):
        idx, row, b, c = ctx
        grad = None
        if need_grad:
            slope = fixed.cast((c * self.deriv[row]).sum(axis=2), self.slope_t, self.types.grad)
            grad = _error_cast((err[:, None] * slope).sum(axis=0), self.back_t, self.types.error, self.below)
        delta = self.updater.delta(err[:, None, None] * b[None], self.g_t)  # (out, in, S+1)
        return grad, (idx, delta)

    def apply(self, update: Any) -> None:
        idx, delta = update
        sel = (slice(None), np.arange(self.n_in)[:, None], idx)
        self.coef[sel] = self.updater.apply(self.coef[sel], delta)


class DenseLayerFixed:
    """One MLP layer on raw integers; ReLU on hidden layers."""

    def __init__(self, model: MLP, index: int, in_t: FixedType, out_t: FixedType,
                 relu: bool, w_updater: _Updater, b_updater: _Updater) -> None:
        ty = model.types
        self.w, self.b = model.weights[index], model.biases[index]
        self.n_out, self.n_in = self.w.shape
        self.types, self.in_t, self.out_t, self.relu = ty, in_t, out_t, relu
        self.w_updater, self.b_updater = w_updater, b_updater
        lt = model.layer_types[index]
        self.prod_t, self.acc_t, self.back_t, self.gw_t = lt.prod, lt.acc, lt.back, lt.gw
        w_updater.check(self.gw_t, f"MLP layer {index}'s weights")
        b_updater.check(ty.error, f"MLP layer {index}'s biases")
        self.counts = b_updater.counts = w_updater.counts  # weights and biases count together
        self.below: LayerCounts | None = None  # the layer below's counts: its error casts are made here

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        w = self.w.copy()  # as read: backprop uses pre-update weights
        frac = self.acc_t.frac
        acc = ((w @ x) << (frac - self.prod_t.frac)) + (self.b << (frac - self.types.bias.frac))
        if self.relu:
            acc = np.maximum(acc, 0)
        active = acc > 0  # the ReLU slope, decided on the exact sum
        return _output_cast(acc, self.acc_t, self.types.acc, self.out_t, self.counts), (x, w, active)

    def backward(self, ctx: Any, err: np.ndarray, need_grad: bool):
        x, w, active = ctx
        if self.relu:
            err = np.where(active, err, 0)
        grad = _error_cast(err @ w, self.back_t, self.types.error, self.below) if need_grad else None
        dw = self.w_updater.delta(np.outer(err, x), self.gw_t)
        db = self.b_updater.delta(err, self.types.error)
        return grad, (dw, db)

    def apply(self, update: Any) -> None:
        dw, db = update
        self.w[...] = self.w_updater.apply(self.w, dw)
        self.b[...] = self.b_updater.apply(self.b, db)


def _output_cast(acc: np.ndarray, acc_t: FixedType, acc_type: FixedType | None, out_t: FixedType,
                 counts: LayerCounts) -> np.ndarray:
    """A layer's outputs: the exact sum cast to the accumulator type (if set), then to ``out_t``;
    an output overflowed (``counts.out_sat``) when either cast did."""
    over = np.zeros(acc.shape, dtype=bool)
    if acc_type is not None:
        acc, over = fixed.cast_flagged(acc, acc_t, acc_type)
        acc_t = acc_type
    y, over_out = fixed.cast_flagged(acc, acc_t, out_t)
    counts.out_sat += int((over | over_out).sum())
    return y


def _error_cast(raw: np.ndarray, src: FixedType, error_t: FixedType, counts: LayerCounts | None) -> np.ndarray:
    """An error cast to ``error_t``; its overflows go to the counts of the layer that learns from it."""
    err, over = fixed.cast_flagged(raw, src, error_t)
    if counts is not None:
        counts.err_sat += int(over.sum())
    return err


def _delays(delay: int | Sequence[int], n_layers: int) -> list[int]:
    if isinstance(delay, (int, np.integer)) and not isinstance(delay, bool):
        ds = [delay] * n_layers
    elif isinstance(delay, (list, tuple)):
        ds = list(delay)
    else:
        raise ValueError(f"delay must be an integer >= 0 or one per layer ({n_layers}), got {delay!r}")
    if len(ds) != n_layers or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0
                                  for d in ds):
        raise ValueError(f"delay must be an integer >= 0 or one per layer ({n_layers}), got {delay!r}")
    return [int(d) for d in ds]


class Pipeline:
    """The delayed-update schedule shared by the golden learner and its float twin."""

    def __init__(self, layers: list[Layer], delays: list[int]) -> None:
        self.layers, self.delays = layers, delays
        self.pending: list[deque] = [deque() for _ in layers]
        self.n = 0
        self.last_cycle = -1

    def run_step(self, x: np.ndarray, error_of: Callable[[np.ndarray], np.ndarray],
                 learn: bool, cycle: int | None = None) -> np.ndarray:
        """One sample. ``cycle``: its arrival time in clock cycles when samples do not come
        every cycle (default: the sample index). The update of a sample that arrived at
        cycle a lands before the forward pass of any sample arriving after cycle a + D."""
        now = self.n if cycle is None else int(cycle)
        if now < self.last_cycle + 1:
            raise ValueError(f"sample arrival cycles must increase, got {now} after {self.last_cycle}")
        self.last_cycle = now
        for layer, queue in zip(self.layers, self.pending):
            while queue and queue[0][0] <= now:
                layer.apply(queue.popleft()[1])
        ctxs = []
        for layer in self.layers:
            x, ctx = layer.forward(x)
            ctxs.append(ctx)
        if learn:
            err = error_of(x)
            for l in reversed(range(len(self.layers))):
                err_in, update = self.layers[l].backward(ctxs[l], err, need_grad=l > 0)
                self.pending[l].append((now + 1 + self.delays[l], update))
                err = err_in
        self.n += 1
        return x

    def flush(self) -> None:
        """Apply every pending update (the pipeline drains), e.g. before reading parameters."""
        for layer, queue in zip(self.layers, self.pending):
            while queue:
                layer.apply(queue.popleft()[1])


class OnlineLearner:
    """The golden fixed-point learner: ``step(x, target, learn) -> y``.

    ``lr``: one learning rate for every layer, or a sequence of one per layer (each a power
    of two, a shift, or an 18-bit constant; see :class:`LearningRate`); ``lrs`` holds them.
    ``rounding`` of the update delta: "type" uses the update type's own mode,
    "stochastic" adds LFSR bits below the update LSB and truncates (see
    :mod:`quantkan.lfsr`).  The learner updates the model's parameter arrays in place.
    """

    def __init__(self, model: Model, lr: LearningRates = 2.0 ** -4, delay: int | Sequence[int] = 0,
                 rounding: str = "type", seed: int = 0) -> None:
        if rounding not in UPDATE_ROUNDINGS:
            raise ValueError(f"update rounding must be one of {UPDATE_ROUNDINGS}, got {rounding!r}")
        n_layers = len(model.layers) - 1
        self.model, self.rounding = model, rounding
        self.lrs = learning_rates(lr, n_layers)
        self.delays = _delays(delay, n_layers)
        ty = model.types
        layers: list[Layer] = []
        for l in range(n_layers):
            last = l == n_layers - 1
            hidden_t = ty.activation if isinstance(model, MLP) else ty.input
            in_t = ty.input if l == 0 else hidden_t
            out_t = ty.output if last else hidden_t

            def updater(param_t: FixedType, lane_shape: tuple[int, ...], lane_layer: int) -> _Updater:
                bank = LFSRBank(seed, lane_layer, lane_shape) if rounding == "stochastic" else None
                return _Updater(self.lrs[l], ty.update, param_t, rounding, bank)

            n_in, n_out = model.layers[l], model.layers[l + 1]
            if isinstance(model, KAN):
                layers.append(KANLayerFixed(model, l, out_t, updater(
                    ty.coef, (n_out, n_in, model.order + 1), l)))
            else:
                layers.append(DenseLayerFixed(
                    model, l, in_t, out_t, relu=not last,
                    w_updater=updater(ty.weight, (n_out, n_in), 2 * l),
                    b_updater=updater(ty.bias, (n_out,), 2 * l + 1)))
        for lower, upper in zip(layers, layers[1:]):
            upper.below = lower.counts
        self.pipeline = Pipeline(layers, self.delays)
        self.learned = 0  # learning samples (diagnostics)
        self.samples_counted = 0  # samples since the counters were last cleared

    @property
    def lr(self) -> float | list[float]:
        """The learning rate(s) really used (constants rounded to 18 bits), as a setting:
        one float when every layer shares it, else one per layer."""
        return learning_rate_setting(self.lrs)

    @property
    def samples_seen(self) -> int:
        return self.pipeline.n

    def diagnostics(self) -> Diagnostics:
        """A snapshot of the diagnostics counters (:mod:`quantkan.diagnostics`) and the largest
        |parameter| per layer.  Updates still pending (D > 0) are counted when they land."""
        layers = self.pipeline.layers
        if isinstance(self.model, KAN):
            lanes = [layer.n_out * layer.n_in * (layer.S + 1) for layer in layers]
            peaks = [[layer.coef] for layer in layers]
            peak_t = [[self.model.types.coef] for _ in layers]
        else:
            lanes = [layer.w.size + layer.b.size for layer in layers]
            peaks = [[layer.w, layer.b] for layer in layers]
            peak_t = [[self.model.types.weight, self.model.types.bias] for _ in layers]
        max_abs = [max(float(np.abs(t.to_float(a)).max()) for a, t in zip(arrays, ts))
                   for arrays, ts in zip(peaks, peak_t)]
        return Diagnostics(self.samples_counted, self.learned, [LayerCounts(**vars(layer.counts)) for layer in layers],
                           lanes, [layer.n_out for layer in layers], max_abs)

    def clear_counters(self) -> None:
        """Zero every diagnostics counter, as a write to the hardware's counter space does."""
        self.learned = self.samples_counted = 0
        for layer in self.pipeline.layers:
            layer.counts.clear()

    def step_raw(self, x_raw: np.ndarray, target_raw: np.ndarray, learn: bool = True,
                 cycle: int | None = None) -> np.ndarray:
        """One sample on raw integers (input type in, output type out): what hardware sees.

        ``cycle`` is the sample's arrival clock cycle for streams with gaps (see Pipeline)."""
        ty = self.model.types
        x = ty.input.check_raw(np.asarray(x_raw).reshape(-1), "input")
        tgt = ty.output.check_raw(np.asarray(target_raw).reshape(-1), "target")
        if x.shape[0] != self.model.layers[0] or tgt.shape[0] != self.model.layers[-1]:
            raise ValueError(f"expected {self.model.layers[0]} inputs and {self.model.layers[-1]} targets, "
                             f"got {x.shape[0]} and {tgt.shape[0]}")
        self.samples_counted += 1
        self.learned += bool(learn)
        last = self.pipeline.layers[-1].counts
        return self.pipeline.run_step(
            x, lambda y: _error_cast(*fixed.sub(y, ty.output, tgt, ty.output), ty.error, last), learn, cycle)

    def step(self, x: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray,
             learn: bool = True) -> np.ndarray:
        """One sample from real values (quantized to the input / output types)."""
        ty = self.model.types
        y = self.step_raw(ty.input.quantize(x), ty.output.quantize(target), learn)
        return ty.output.to_float(y)

    def flush(self) -> None:
        self.pipeline.flush()
