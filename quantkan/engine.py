"""A compiled engine for the golden online step: one learner or a population, bit for bit.

The golden learner (:mod:`quantkan.golden`) stays the specification.  The engine is built
*from* golden learners: it reads each layer's FixedTypes (``acc_t``, ``slope_t``,
``back_t``, ``g_t``, the updater's types, :func:`~quantkan.golden.stochastic_types`), the
model's spline tables, the grid lookup (``GridMap.locate`` evaluated on every raw input
value), the LFSR states and their leaps (:func:`~quantkan.lfsr.leap_tables`), and turns
them into descriptor arrays for the loops in :mod:`quantkan.engine_kernels` (numba).  So a change to the golden types, tables or grid
map reaches the engine without a second copy of the math.

A :class:`Population` steps many learners of one shape together (different seeds,
learning rates, delays, roundings, types), each on its own stream or one shared stream;
:class:`EngineLearner` is a population of one with the golden learner's interface.
``make_learner(model, engine=...)`` picks the golden learner or the engine.

Not covered: arrival ``cycle``s with gaps (the engine counts samples) and grid lookups on
inputs wider than :data:`MAX_LOOKUP_BITS`; ``engine="auto"`` then uses the golden learner.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from quantkan import fixed
from quantkan.fixed import FixedType, Overflow, Rounding
from quantkan.diagnostics import HW_LAYER, Diagnostics, LayerCounts
from quantkan.golden import DenseLayerFixed, KANLayerFixed, LearningRates, OnlineLearner, stochastic_types
from quantkan.lfsr import LFSRBank, leap_tables
from quantkan.models import KAN, Model

if TYPE_CHECKING:
    from quantkan.golden import _Updater  # the golden updater whose types the engine reads

__all__ = ["ENGINES", "MAX_LOOKUP_BITS", "EngineUnsupported", "available", "cast_descriptor",
           "Population", "EngineLearner", "make_learner"]

ENGINES = ("auto", "numpy", "compiled")
#: Inputs up to this width get a grid lookup table of 2**width entries from GridMap.locate.
MAX_LOOKUP_BITS = 20

_ROUNDINGS = list(Rounding)
_OVERFLOWS = list(Overflow)


class EngineUnsupported(ValueError):
    """The compiled engine cannot run this learner (``engine="auto"`` falls back to golden)."""


@functools.cache
def available() -> bool:
    """True when numba imports here (``pip install 'quantkan[engine]'``); a numba that does not
    support this NumPy fails to import, and then the golden learner runs instead."""
    if importlib.util.find_spec("numba") is None:
        return False
    try:
        import numba  # noqa: F401
    except Exception:  # noqa: BLE001 - e.g. ImportError: "Numba needs NumPy x.y or less"
        return False
    return True


def cast_descriptor(src: FixedType, dst: FixedType) -> np.ndarray:
    """The int64 row that makes ``engine_kernels.cast`` do ``fixed.cast(raw, src, dst)``."""
    src.require_int64("the compiled engine")
    dst.require_int64("the compiled engine")
    return np.array([src.frac - dst.frac, _ROUNDINGS.index(dst.rounding), _OVERFLOWS.index(dst.overflow),
                     dst.width, int(dst.signed), dst.min_raw, dst.max_raw], dtype=np.int64)


def _sub_shifts(a: FixedType, b: FixedType) -> tuple[int, int]:
    """Alignment shifts of ``fixed.sub(a, b)`` into ``sub_type(a, b)``."""
    rt = fixed.sub_type(a, b)
    return rt.frac - a.frac, rt.frac - b.frac


def _updater_slots(up: _Updater, g_t: FixedType) -> tuple[list[np.ndarray], int, int, tuple[int, int]]:
    """(PRE, DELTA, APPLY descriptors, random bits, lr multiplier, apply shifts) of one updater."""
    lr_raw, scaled_t = up.lr.scale(np.ones(1, dtype=np.int64), g_t)  # lr * 1: the multiplier and type
    pre = delta = cast_descriptor(scaled_t, up.update_t)
    dbits = 0
    if up.rounding == "stochastic":
        pre_t, sum_t, dbits = stochastic_types(scaled_t, up.update_t)
        if dbits > 0:
            pre = cast_descriptor(scaled_t, pre_t)
            delta = cast_descriptor(sum_t, up.update_t.with_modes(rounding=Rounding.TRN))
    rt = fixed.sub_type(up.param_t, up.update_t)
    apply = cast_descriptor(rt, up.param_t)
    return [pre, delta, apply], max(dbits, 0), int(lr_raw[0]), _sub_shifts(up.param_t, up.update_t)


def _check_fresh(learner: OnlineLearner) -> None:
    if any(learner.pipeline.pending):
        raise ValueError("the engine starts from a learner with no pending updates: call flush() first")


def _set_lanes(dst: np.ndarray, bank: LFSRBank | None) -> None:
    """Copy a golden LFSR bank's lane states (none without stochastic rounding)."""
    if bank is not None:
        dst[...] = bank.state.reshape(-1)


class _Layout:
    """Shape of a population: what every learner must share (sizes, order, table shape)."""

    def __init__(self, learner: OnlineLearner) -> None:
        m = learner.model
        self.kind = m.kind
        self.layers = list(m.layers)
        self.key: tuple[Any, ...] = (m.kind, tuple(m.layers))
        if isinstance(m, KAN):
            self.key += (m.order, m.n_coef, m.tables.basis_raw.shape)

    def check(self, learner: OnlineLearner, index: int) -> None:
        other = _Layout(learner)
        if other.key != self.key:
            raise ValueError(f"population learners must share one shape: learner {index} is {other.key}, "
                             f"learner 0 is {self.key}")


class Population:
    """Learners of one shape stepping together in compiled code, each bit-exact with golden.

    Built from golden :class:`~quantkan.golden.OnlineLearner` objects, which it takes over
    (their models' parameter arrays are written back after every call; do not step the golden
    learners themselves afterwards).
    """

    def __init__(self, learners: Sequence[OnlineLearner]) -> None:
        if not available():
            raise EngineUnsupported("the compiled engine needs numba: pip install 'quantkan[engine]'")
        learners = list(learners)
        if not learners:
            raise ValueError("a population needs at least one learner")
        for learner in learners:
            if not isinstance(learner, OnlineLearner):
                raise TypeError(f"population members must be golden OnlineLearners, not {type(learner).__name__}")
        layout = _Layout(learners[0])
        for index, learner in enumerate(learners):
            layout.check(learner, index)
            _check_fresh(learner)
        self.learners, self.kind = learners, layout.kind
        self.n_done = 0  # the kernels' clock: samples plus flush steps
        self.samples = 0
        sizes = layout.layers
        self.n_in = np.array(sizes[:-1], dtype=np.int64)
        self.n_out = np.array(sizes[1:], dtype=np.int64)
        P, L = len(learners), len(sizes) - 1
        self.casts = np.zeros((P, L, 10, 7), dtype=np.int64)
        self.has_acc = np.zeros((P, L), dtype=np.bool_)
        self.err_cast = np.zeros((P, 7), dtype=np.int64)
        self.err_sh = np.zeros((P, 2), dtype=np.int64)
        self.lr_mul = np.ones((P, L), dtype=np.int64)  # each layer's lr (a constant's raw; 1 for a shift)
        self.stoch = np.array([lr.rounding == "stochastic" for lr in learners], dtype=np.bool_)
        self.dbits = np.zeros((P, L, 2), dtype=np.int64)
        self.app_sh = np.zeros((P, L, 2, 2), dtype=np.int64)
        self.delays = np.array([lr.delays for lr in learners], dtype=np.int64).reshape(P, L)
        slots = int(self.delays.max()) + 1
        self.valid = np.zeros((P, L, slots), dtype=np.bool_)
        self.diag = np.zeros((P, L, len(HW_LAYER)), dtype=np.int64)  # engine_kernels.ATT ... ESAT
        self.learned = 0  # learning samples (shared by every learner)
        self.counted = 0  # samples since the counters were cleared
        for p, learner in enumerate(learners):
            ty = learner.model.types
            self.err_cast[p] = cast_descriptor(fixed.sub_type(ty.output, ty.output), ty.error)
            self.err_sh[p] = _sub_shifts(ty.output, ty.output)
        if self.kind == "kan":
            self._build_kan(learners, slots)
        else:
            self._build_mlp(learners, slots)

    # -- building from the golden layers ---------------------------------------------------
    def _updaters(self, p: int, l: int, pairs: Sequence[tuple[_Updater, FixedType]]) -> None:
        for bank, (up, g_t) in enumerate(pairs):
            descs, dbits, lr_mul, shifts = _updater_slots(up, g_t)
            self.casts[p, l, 4 + 3 * bank: 7 + 3 * bank] = descs
            self.dbits[p, l, bank], self.lr_mul[p, l], self.app_sh[p, l, bank] = dbits, lr_mul, shifts

    def _build_kan(self, learners: Sequence[OnlineLearner], slots: int) -> None:
        from quantkan.engine_kernels import ACC, BACK, OUT, SLOPE

        first = learners[0].model
        self.S1, self.n_coef = first.order + 1, first.n_coef
        edges = self.n_in * self.n_out
        self.coff = np.concatenate([[0], np.cumsum(edges * self.n_coef)]).astype(np.int64)
        self.lane_off = np.concatenate([[0], np.cumsum(edges * self.S1)]).astype(np.int64)
        self.in_off = np.concatenate([[0], np.cumsum(self.n_in)]).astype(np.int64)
        P, L = len(learners), len(self.n_in)
        self.coef = np.stack([np.concatenate([c.reshape(-1) for c in lr.model.coefficients])
                              for lr in learners])
        self.lfsr = np.zeros((P, int(self.lane_off[-1])), dtype=np.uint64)
        lookups: dict[Any, int] = {}
        tables: dict[Any, int] = {}
        loc_rows, tab_rows = [], []
        self.loc_id = np.zeros((P, L), dtype=np.int64)
        self.tab_id = np.zeros(P, dtype=np.int64)
        for p, learner in enumerate(learners):
            model = learner.model
            layers: list[KANLayerFixed] = learner.pipeline.layers
            key = (model.tables.basis_raw.tobytes(), model.tables.deriv_raw.tobytes())
            if key not in tables:
                tables[key] = len(tab_rows)
                tab_rows.append((model.tables.basis_raw, model.tables.deriv_raw))
            self.tab_id[p] = tables[key]
            for l, layer in enumerate(layers):
                in_t = model.types.input if l == 0 else layers[l - 1].out_t  # what the layer reads
                key = (layer.map, in_t)
                if key not in lookups:
                    lookups[key] = len(loc_rows)
                    loc_rows.append(_grid_lookup(layer, in_t))
                self.loc_id[p, l] = lookups[key]
                ty = layer.types
                acc_src = ty.acc if ty.acc is not None else layer.acc_t
                if ty.acc is not None:
                    self.casts[p, l, ACC] = cast_descriptor(layer.acc_t, ty.acc)
                    self.has_acc[p, l] = True
                self.casts[p, l, OUT] = cast_descriptor(acc_src, layer.out_t)
                self.casts[p, l, SLOPE] = cast_descriptor(layer.slope_t, ty.grad)
                self.casts[p, l, BACK] = cast_descriptor(layer.back_t, ty.error)
                self._updaters(p, l, [(layer.updater, layer.g_t)])
                _set_lanes(self.lfsr[p, self.lane_off[l]:self.lane_off[l + 1]], layer.updater.lfsr)
        width = max(len(k) for k, _, _ in loc_rows)
        self.loc_k = np.zeros((len(loc_rows), width), dtype=np.int64)
        self.loc_row = np.zeros((len(loc_rows), width), dtype=np.int64)
        self.loc_min = np.array([lo for _, _, lo in loc_rows], dtype=np.int64)
        for g, (k, row, _) in enumerate(loc_rows):
            self.loc_k[g, :len(k)], self.loc_row[g, :len(row)] = k, row
        self.basis = np.stack([b for b, _ in tab_rows]).astype(np.int64)
        self.deriv = np.stack([d for _, d in tab_rows]).astype(np.int64)
        self.pend_idx = np.zeros((P, slots, int(self.in_off[-1])), dtype=np.int64)
        self.pend_delta = np.zeros((P, slots, int(self.lane_off[-1])), dtype=np.int64)

    def _build_mlp(self, learners: Sequence[OnlineLearner], slots: int) -> None:
        from quantkan.engine_kernels import ACC, BACK, OUT

        P, L = len(learners), len(self.n_in)
        self.woff = np.concatenate([[0], np.cumsum(self.n_in * self.n_out)]).astype(np.int64)
        self.boff = np.concatenate([[0], np.cumsum(self.n_out)]).astype(np.int64)
        per_layer = self.n_in * self.n_out + self.n_out
        starts = np.concatenate([[0], np.cumsum(per_layer)]).astype(np.int64)
        self.lane_off = np.stack([starts[:-1], starts[:-1] + self.n_in * self.n_out], axis=1)
        self.relu = np.arange(L) < L - 1
        self.wts = np.stack([np.concatenate([w.reshape(-1) for w in lr.model.weights]) for lr in learners])
        self.bias = np.stack([np.concatenate(lr.model.biases) for lr in learners])
        self.fwd_sh = np.zeros((P, L, 2), dtype=np.int64)
        self.lfsr = np.zeros((P, int(starts[-1])), dtype=np.uint64)
        for p, learner in enumerate(learners):
            layers: list[DenseLayerFixed] = learner.pipeline.layers
            for l, layer in enumerate(layers):
                if layer.relu != self.relu[l]:
                    raise ValueError(f"layer {l} of learner {p} has relu={layer.relu}; the engine puts ReLU "
                                     "on hidden layers only")
                ty = layer.types
                frac = layer.acc_t.frac
                self.fwd_sh[p, l] = frac - layer.prod_t.frac, frac - ty.bias.frac
                if ty.acc is not None:
                    self.casts[p, l, ACC] = cast_descriptor(layer.acc_t, ty.acc)
                    self.has_acc[p, l] = True
                self.casts[p, l, OUT] = cast_descriptor(ty.acc if ty.acc is not None else layer.acc_t,
                                                        layer.out_t)
                self.casts[p, l, BACK] = cast_descriptor(layer.back_t, ty.error)
                self._updaters(p, l, [(layer.w_updater, layer.gw_t), (layer.b_updater, ty.error)])
                lo = self.lane_off[l, 0]
                _set_lanes(self.lfsr[p, lo:lo + layer.w.size], layer.w_updater.lfsr)
                _set_lanes(self.lfsr[p, lo + layer.w.size:starts[l + 1]], layer.b_updater.lfsr)
        self.pend_delta = np.zeros((P, slots, int(starts[-1])), dtype=np.int64)

    # -- running -----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.learners)

    def run_raw(self, x_raw: np.ndarray, target_raw: np.ndarray, learn: np.ndarray | bool = True,
                stream_of: np.ndarray | None = None) -> np.ndarray:
        """Raw samples in, raw predictions (made before each learned sample) out: (P, n, outputs).

        ``x_raw`` is (n, inputs) for one stream shared by all, or (streams, n, inputs) with
        ``stream_of[p]`` naming learner p's stream (default: stream p).
        """
        x, t = np.asarray(x_raw), np.asarray(target_raw)
        if x.ndim == 2:
            x, t = x[None], t[None]
        if x.ndim != 3 or t.ndim != 3 or x.shape[:2] != t.shape[:2]:
            raise ValueError(f"expected x (n, inputs) and targets (n, outputs), or with a leading stream axis; "
                             f"got shapes {np.shape(x_raw)} and {np.shape(target_raw)}")
        if x.shape[2] != self.n_in[0] or t.shape[2] != self.n_out[-1]:
            raise ValueError(f"expected {self.n_in[0]} inputs and {self.n_out[-1]} targets per sample, "
                             f"got {x.shape[2]} and {t.shape[2]}")
        if stream_of is None:
            stream_of = np.zeros(self.size, np.int64) if x.shape[0] == 1 else np.arange(self.size)
        stream_of = np.array(stream_of, dtype=np.int64)  # copies below: writable C arrays, one numba signature
        if stream_of.shape != (self.size,) or stream_of.min() < 0 or stream_of.max() >= x.shape[0]:
            raise ValueError(f"stream_of must give each of the {self.size} learners a stream in "
                             f"0..{x.shape[0] - 1}, got {stream_of!r}")
        for p, learner in enumerate(self.learners):  # every learner checks its own stream's raw range
            learner.model.types.input.check_raw(x[stream_of[p]], "input")
            learner.model.types.output.check_raw(t[stream_of[p]], "target")
        lrn = np.array(np.broadcast_to(np.asarray(learn, dtype=np.bool_), (x.shape[1],)))
        y = self._run(np.array(x, dtype=np.int64, order="C"), np.array(t, dtype=np.int64, order="C"), lrn,
                      stream_of)
        self.samples += x.shape[1]
        self.counted += x.shape[1]
        self.learned += int(lrn.sum())
        self._write_back()
        return y

    def diagnostics(self, p: int = 0) -> Diagnostics:
        """Learner p's diagnostics counters, as its golden learner's ``diagnostics()`` reports them."""
        shape = self.learners[p].diagnostics()  # lanes, outputs and largest parameters (arrays written back)
        layers = [LayerCounts(*(int(v) for v in row), updates=self.learned * lanes)
                  for row, lanes in zip(self.diag[p], shape.lanes)]
        return Diagnostics(self.counted, self.learned, layers, shape.lanes, shape.outputs, shape.max_abs)

    def clear_counters(self) -> None:
        """Zero every learner's diagnostics counters (``OnlineLearner.clear_counters``)."""
        self.diag[...] = 0
        self.learned = self.counted = 0

    def _run(self, x: np.ndarray, t: np.ndarray, learn: np.ndarray, stream_of: np.ndarray) -> np.ndarray:
        from quantkan import engine_kernels as k

        n = x.shape[1]
        y = np.zeros((self.size, n, int(self.n_out[-1])), dtype=np.int64)
        common = (self.casts, self.has_acc, self.err_cast, self.err_sh, self.lr_mul, self.stoch, self.dbits,
                  leap_tables(), self.lfsr, self.app_sh, self.delays, self.valid, self.diag)
        if self.kind == "kan":
            k.run_kan(self.n_done, x, t, learn, stream_of, self.n_in, self.n_out, self.coff, self.lane_off,
                      self.in_off, self.n_coef, self.S1, self.coef, self.loc_k, self.loc_row, self.loc_min,
                      self.loc_id, self.basis, self.deriv, self.tab_id, *common, self.pend_idx,
                      self.pend_delta, y)
        else:
            k.run_mlp(self.n_done, x, t, learn, stream_of, self.n_in, self.n_out, self.woff, self.boff,
                      self.lane_off, self.relu, self.wts, self.bias, self.fwd_sh, *common, self.pend_delta, y)
        self.n_done += n
        return y

    def flush(self) -> None:
        """Apply every pending update (the pipeline drains), as ``OnlineLearner.flush``.

        The loops land due updates before each sample, so D + 1 predict-only samples land
        them all, in sample order (the clock moves on; nothing is pending to mind it)."""
        slots = self.valid.shape[2]
        outputs = self.diag[:, :, HW_LAYER.index("out_sat")].copy()  # the drain's dummy samples are no samples
        self._run(np.zeros((1, slots, int(self.n_in[0])), np.int64),
                  np.zeros((1, slots, int(self.n_out[-1])), np.int64), np.zeros(slots, np.bool_),
                  np.zeros(self.size, np.int64))
        self.diag[:, :, HW_LAYER.index("out_sat")] = outputs
        self._write_back()

    def _write_back(self) -> None:
        """Copy the flat parameters into each learner's model arrays (in place)."""
        for p, learner in enumerate(self.learners):
            model = learner.model
            if self.kind == "kan":
                for l, c in enumerate(model.coefficients):
                    c[...] = self.coef[p, self.coff[l]:self.coff[l + 1]].reshape(c.shape)
            else:
                for l, (w, b) in enumerate(zip(model.weights, model.biases)):
                    w[...] = self.wts[p, self.woff[l]:self.woff[l + 1]].reshape(w.shape)
                    b[...] = self.bias[p, self.boff[l]:self.boff[l + 1]]


def _grid_lookup(layer: KANLayerFixed, in_t: FixedType) -> tuple[np.ndarray, np.ndarray, int]:
    """The golden grid map on every raw value of ``in_t``: (cells, rows, first raw value)."""
    if in_t.width > MAX_LOOKUP_BITS:
        raise EngineUnsupported(f"input type {in_t} is {in_t.width} bits wide; the compiled engine tabulates "
                                f"the grid lookup up to {MAX_LOOKUP_BITS} bits (use engine='numpy')")
    k, row = layer.map.locate(np.arange(in_t.min_raw, in_t.max_raw + 1, dtype=np.int64))
    return k.astype(np.int64), row.astype(np.int64), in_t.min_raw


class EngineLearner:
    """One compiled learner with the golden learner's interface (``step_raw``, ``run_raw``, ``flush``)."""

    def __init__(self, model: Model, lr: LearningRates = 2.0 ** -4, delay: int | Sequence[int] = 0,
                 rounding: str = "type", seed: int = 0) -> None:
        golden = OnlineLearner(model, lr=lr, delay=delay, rounding=rounding, seed=seed)
        self.population = Population([golden])
        self.model, self.lr, self.rounding, self.delays = model, golden.lr, rounding, golden.delays

    @property
    def samples_seen(self) -> int:
        return self.population.samples

    def run_raw(self, x_raw: np.ndarray, target_raw: np.ndarray, learn: np.ndarray | bool = True) -> np.ndarray:
        """Many samples in one call: x (n, inputs), target (n, outputs) raw -> y (n, outputs) raw."""
        return self.population.run_raw(np.asarray(x_raw).reshape(-1, self.model.layers[0]),
                                       np.asarray(target_raw).reshape(-1, self.model.layers[-1]), learn)[0]

    def step_raw(self, x_raw: np.ndarray, target_raw: np.ndarray, learn: bool = True) -> np.ndarray:
        return self.run_raw(x_raw, target_raw, learn)[0]

    def step(self, x: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray,
             learn: bool = True) -> np.ndarray:
        ty = self.model.types
        return ty.output.to_float(self.step_raw(ty.input.quantize(x), ty.output.quantize(target), learn))

    def flush(self) -> None:
        self.population.flush()

    def diagnostics(self) -> Diagnostics:
        """The diagnostics counters, bit for bit the golden learner's (``OnlineLearner.diagnostics``)."""
        return self.population.diagnostics(0)

    def clear_counters(self) -> None:
        self.population.clear_counters()


def make_learner(model: Model, engine: str = "auto", **learning: Any) -> OnlineLearner | EngineLearner:
    """The golden learner (``"numpy"``), the compiled one (``"compiled"``), or compiled where it can run."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "numpy" or (engine == "auto" and not available()):
        return OnlineLearner(model, **learning)
    try:
        return EngineLearner(model, **learning)
    except EngineUnsupported:
        if engine == "compiled":
            raise
        return OnlineLearner(model, **learning)
