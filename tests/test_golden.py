"""The golden learner (quantkan.golden) against the spec in DESIGN.md.

Every expectation here is computed independently of the code under test (grid cells from
the grid spec, LFSR bits from a plain-Python LFSR, replayed update schedules, bounds
derived from the fixed-point types); nothing is a number copied from a run.  Several
tests also run a deliberately broken variant ("mutation") to show that they can fail.
"""

from __future__ import annotations

import copy
import math
from fractions import Fraction

import numpy as np
import pytest

from quantkan import fixed, lfsr, tasks
from quantkan.fixed import FixedType, Rounding
from quantkan.golden import (
    DenseLayerFixed,
    GridMap,
    KANLayerFixed,
    LearningRate,
    OnlineLearner,
)
from quantkan.models import KAN, MLP
from quantkan.spline import basis_derivative
from quantkan.twin import FloatLearner

# ---------------------------------------------------------------------------------------
# Helpers (independent re-statements of the spec)
# ---------------------------------------------------------------------------------------


def spec_cell(x: float, model: KAN) -> int:
    """Cell k of input value x by the grid spec, exactly: t = (x-lo)/h, k = floor(t) in [0, G-1]."""
    g = model.grid
    t = (Fraction(x) - Fraction(g.lo)) * g.cells / (Fraction(g.hi) - Fraction(g.lo))
    return min(max(math.floor(t), 0), g.cells - 1)


def spec_row(x_q: float, model: KAN) -> int:
    """Global table row floor(t * 2**L) of a *quantized* input, clamped to the grid."""
    g = model.grid
    t = (Fraction(x_q) - Fraction(g.lo)) * g.cells / (Fraction(g.hi) - Fraction(g.lo))
    last = (g.cells << model.lut_bits) - 1
    return min(max(math.floor(t * (1 << model.lut_bits)), 0), last)


def window_mask(ks: list[int], shape: tuple[int, int, int], S: int) -> np.ndarray:
    """Coefficients k_i .. k_i+S of every edge (j, i)."""
    mask = np.zeros(shape, dtype=bool)
    for i, k in enumerate(ks):
        mask[:, i, k:k + S + 1] = True
    return mask


class WriteLog(np.ndarray):
    """An ndarray view that records the mask of every element written through it."""

    def __setitem__(self, key, value):
        mask = np.zeros(self.shape, dtype=bool)
        mask[key] = True  # same indexing semantics as the real write
        self.__dict__.setdefault("writes", []).append(mask)
        super().__setitem__(key, value)


def logged(a: np.ndarray) -> WriteLog:
    view = a.view(WriteLog)
    view.writes = []
    return view


def raw_x(model, x) -> np.ndarray:
    return model.types.input.quantize(np.asarray(x, dtype=np.float64))


def raw_t(model, t) -> np.ndarray:
    return model.types.output.quantize(np.asarray(t, dtype=np.float64))


# ---------------------------------------------------------------------------------------
# 1. Sparse KAN update: exactly the S+1 active coefficients of every edge
# ---------------------------------------------------------------------------------------

SPARSE_CASES = [
    ((-1.0, 1.0, 8), 3),
    ((-1.0, 1.0, 8), 1),
    ((-1.0, 1.0, 8), 2),
    ((-1.0, 1.0, 5), 2),   # G = 5: h = 0.4 is not a power of two (1/h = 2.5 constant)
    ((-2.0, 2.0, 16), 1),
]


@pytest.mark.parametrize("grid,order", SPARSE_CASES)
def test_sparse_update_touches_exactly_the_active_windows(grid, order, monkeypatch):
    rng = np.random.default_rng(order * 100 + grid[2])
    recorded = []  # (layer object, update) as applied
    real_apply = KANLayerFixed.apply

    def recording_apply(self, update):
        recorded.append((self, update))
        real_apply(self, update)

    monkeypatch.setattr(KANLayerFixed, "apply", recording_apply)
    for trial in range(4):
        model = KAN([2, 4, 1], grid=grid, order=order, seed=trial, init_scale=0.3)
        S = model.order
        learner = OnlineLearner(model, lr=2.0 ** -2)
        layers = learner.pipeline.layers
        for layer in layers:
            layer.coef = logged(layer.coef)  # same memory as model.coefficients
        hidden = []
        real_forward = layers[0].forward

        def forward0(x, real_forward=real_forward):
            out = real_forward(x)
            hidden.append(out[0].copy())
            return out

        layers[0].forward = forward0

        lo, hi = grid[0], grid[1]
        x = rng.uniform(lo, hi, 2)
        before = [c.copy() for c in model.coefficients]
        recorded.clear()
        y = learner.step(x, [3.0])  # target far from the (small) output
        assert abs(float(y[0]) - 3.0) > 1.0
        learner.flush()  # D = 0: the update lands before the next sample; drain it now
        after = model.coefficients

        # the windows, from the grid spec: layer 0 sees the quantized x, layer 1 the hidden values
        x_q = model.types.input.to_float(raw_x(model, x))
        h_vals = model.types.input.to_float(hidden[-1])
        ks = [[spec_cell(v, model) for v in x_q], [spec_cell(v, model) for v in h_vals]]

        assert len(recorded) == 2
        for l, layer in enumerate(layers):
            shape = before[l].shape
            n_out, n_in, _ = shape
            W = window_mask(ks[l], shape, S)
            # the update object: S+1 values per edge, at the window positions
            (obj, (idx, delta)), = [r for r in recorded if r[0] is layer]
            assert np.asarray(delta).shape == (n_out, n_in, S + 1)
            np.testing.assert_array_equal(idx, np.array(ks[l])[:, None] + np.arange(S + 1))
            # the writes that really happened to the coefficient memory
            writes = layer.coef.writes
            assert len(writes) == 1, "one read-modify-write per layer per update"
            assert int(writes[0].sum()) == n_out * n_in * (S + 1)
            np.testing.assert_array_equal(writes[0], W)
            changed = after[l] != before[l]
            assert not (changed & ~W).any(), f"layer {l}: coefficient outside the windows changed"
            assert changed.any(), f"layer {l}: the update was not visible (choose a larger lr)"
        # the output layer's error is large: every edge of it moved
        assert ((after[1] != before[1]).any(axis=2)).all()


def test_sparse_update_count_is_independent_of_grid_size(monkeypatch):
    """The paper's point: per-sample writes stay S+1 per edge however large G is."""
    counts = {}
    real = KANLayerFixed.apply

    def counting(self, update):
        counts[G] = counts.get(G, 0) + int(np.asarray(update[1]).size)
        real(self, update)

    monkeypatch.setattr(KANLayerFixed, "apply", counting)
    for G in (4, 16, 64):
        learner = OnlineLearner(KAN([3, 2], grid=(-1, 1, G), order=3), lr=2.0 ** -3)
        for x in ([0.1, -0.5, 0.9], [-0.99, 0.0, 0.5]):
            learner.step(x, [1.0, -1.0])
        learner.flush()
    assert counts == {4: 2 * 2 * 3 * 4, 16: 2 * 2 * 3 * 4, 64: 2 * 2 * 3 * 4}


# ---------------------------------------------------------------------------------------
# 2. MLP: dense update
# ---------------------------------------------------------------------------------------


def test_mlp_updates_every_weight_and_bias_every_learning_step():
    model = MLP([3, 5, 2], seed=1)
    learner = OnlineLearner(model, lr=2.0 ** -3)
    layers = learner.pipeline.layers
    for layer in layers:
        assert isinstance(layer, DenseLayerFixed)
        layer.w, layer.b = logged(layer.w), logged(layer.b)
    rng = np.random.default_rng(5)
    n_learn = 7
    start = [p.copy() for p in model.parameters()]
    for _ in range(n_learn):
        learner.step(rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 2))
    learner.flush()
    for layer in layers:
        for arr in (layer.w, layer.b):
            assert len(arr.writes) == n_learn
            for mask in arr.writes:
                assert mask.all() and mask.size == arr.size
    assert any(not np.array_equal(a, b) for a, b in zip(start, model.parameters()))

    # learn=False: nothing written, nothing changed (pipeline drained first)
    for layer in layers:
        layer.w.writes.clear()
        layer.b.writes.clear()
    frozen = [p.copy() for p in model.parameters()]
    for _ in range(10):
        learner.step(rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 2), learn=False)
    learner.flush()
    for layer in layers:
        assert layer.w.writes == [] and layer.b.writes == []
    for a, b in zip(frozen, model.parameters()):
        np.testing.assert_array_equal(a, b)


def test_mlp_bias_with_more_fraction_bits_than_the_product():
    """The product w*x and the bias are aligned to the accumulator's binary point."""
    model = MLP([2, 1], types={"bias": "ap_fixed<32,2,AP_RND_CONV,AP_SAT>"})
    model.weights[0][...] = model.types.weight.quantize([[0.5, 0.25]])
    model.biases[0][...] = model.types.bias.quantize([0.125])
    y = OnlineLearner(model).step([0.5, 0.5], [0.0], learn=False)
    assert float(y[0]) == 0.5 * 0.5 + 0.25 * 0.5 + 0.125  # exactly representable


def test_learn_false_changes_nothing_kan():
    model = KAN([2, 3, 1], seed=4)
    learner = OnlineLearner(model, lr=2.0 ** -2, delay=[2, 1])
    frozen = [c.copy() for c in model.coefficients]
    rng = np.random.default_rng(0)
    for _ in range(20):
        learner.step(rng.uniform(-1, 1, 2), [3.0], learn=False)
    learner.flush()
    for a, b in zip(frozen, model.coefficients):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------
# 3. Delay semantics, by independent replay
# ---------------------------------------------------------------------------------------


def run_recorded(model, xs, ts, delay, rounding="type", lr=2.0 ** -2, learn=None):
    """Stream through a learner, recording every update as it is produced."""
    learner = OnlineLearner(model, lr=lr, delay=delay, rounding=rounding, seed=7)
    records = []  # (sample n, layer l, update), in production order
    for l, layer in enumerate(learner.pipeline.layers):
        def wrap(real, l=l):
            def backward(ctx, err, need_grad):
                grad, update = real(ctx, err, need_grad)
                records.append((learner.samples_seen, l, update))
                return grad, update
            return backward
        layer.backward = wrap(layer.backward)
    ys = []
    for n, (x, t) in enumerate(zip(xs, ts)):
        ys.append(learner.step_raw(x, t, learn=True if learn is None else learn[n]))
    return learner, records, ys


def replay_coefficients(initial_model, records, cutoff):
    """Initial coefficients + the recorded updates of samples <= cutoff[l], applied in order
    through a fresh learner's own layer ``apply`` (a copy: the original is untouched)."""
    fresh = copy.deepcopy(initial_model)
    learner = OnlineLearner(fresh, lr=2.0 ** -2)
    for n, l, update in records:
        if n <= cutoff[l]:
            learner.pipeline.layers[l].apply(update)
    return fresh, learner


def replay_outputs(initial_model, records, xs, delays):
    out = []
    for n, x in enumerate(xs):
        cutoff = [n - 1 - d for d in delays]
        _, learner = replay_coefficients(initial_model, records, cutoff)
        out.append(learner.step_raw(x, np.zeros(initial_model.layers[-1], np.int64), learn=False))
    return out


DELAY_CASES = [
    ([2, 3, 1], [2, 1], "type"),
    ([2, 3, 1], [2, 1], "stochastic"),
    ([2, 3, 1], [0, 3], "type"),
    ([1, 1], 3, "type"),
    ([1, 1], 3, "stochastic"),
]


@pytest.mark.parametrize("layers,delay,rounding", DELAY_CASES)
def test_delayed_forward_sees_exactly_updates_up_to_n_minus_1_minus_D(layers, delay, rounding):
    model = KAN(layers, grid=(-1, 1, 4), order=2, seed=3, init_scale=0.5)
    initial = copy.deepcopy(model)
    rng = np.random.default_rng(11)
    N = 24
    # few cells and a narrow input range: consecutive samples share coefficients, so a
    # wrong schedule shows in the outputs
    xs = [raw_x(model, rng.uniform(-0.6, 0.4, layers[0])) for _ in range(N)]
    ts = [raw_t(model, rng.uniform(-2.5, 2.5, layers[-1])) for _ in range(N)]
    learner, records, ys = run_recorded(model, xs, ts, delay, rounding)
    delays = learner.delays
    assert delays == ([delay] * (len(layers) - 1) if isinstance(delay, int) else delay)
    assert sorted({n for n, _, _ in records}) == list(range(N))

    expected = replay_outputs(initial, records, xs, delays)
    for n in range(N):
        np.testing.assert_array_equal(ys[n], expected[n], err_msg=f"sample {n}")

    # the check has power: any other schedule predicts different outputs somewhere
    others = [[d + 1 for d in delays], [max(0, d - 1) for d in delays], [0] * len(delays)]
    if len(delays) == 2:
        others += [[delays[1], delays[0]], [delays[0], delays[1] + 1]]
    for wrong in others:
        if wrong == delays:
            continue
        alt = replay_outputs(initial, records, xs, wrong)
        assert any(not np.array_equal(a, b) for a, b in zip(alt, ys)), f"delay {wrong} indistinguishable"

    # before the drain: updates of samples <= N-2-D_l are in; after flush(): all of them
    before_flush, _ = replay_coefficients(initial, records, [N - 2 - d for d in delays])
    for a, b in zip(before_flush.coefficients, model.coefficients):
        np.testing.assert_array_equal(a, b)
    learner.flush()
    drained, _ = replay_coefficients(initial, records, [N] * len(delays))
    for a, b in zip(drained.coefficients, model.coefficients):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(before_flush.coefficients, model.coefficients))


def test_delay_counts_non_learning_samples_as_pipeline_time():
    """learn=False samples still advance the pipeline: replay with the same clock."""
    model = KAN([2, 3, 1], grid=(-1, 1, 4), order=2, seed=8, init_scale=0.5)
    initial = copy.deepcopy(model)
    rng = np.random.default_rng(2)
    N = 20
    xs = [raw_x(model, rng.uniform(-0.5, 0.5, 2)) for _ in range(N)]
    ts = [raw_t(model, rng.uniform(-2, 2, 1)) for _ in range(N)]
    learn = [bool(v) for v in rng.integers(0, 2, N)]
    learner, records, ys = run_recorded(model, xs, ts, [2, 1], learn=learn)
    assert sorted({n for n, _, _ in records}) == [n for n in range(N) if learn[n]]
    for n, (y, e) in enumerate(zip(ys, replay_outputs(initial, records, xs, [2, 1]))):
        np.testing.assert_array_equal(y, e, err_msg=f"sample {n}")


def test_delay_zero_is_plain_sequential_sgd():
    model = KAN([2, 3, 1], grid=(-1, 1, 6), order=3, seed=5, init_scale=0.4)
    manual_coefs = [c.copy() for c in model.coefficients]
    rng = np.random.default_rng(9)
    N = 30
    xs = [raw_x(model, rng.uniform(-1, 1, 2)) for _ in range(N)]
    ts = [raw_t(model, rng.uniform(-2, 2, 1)) for _ in range(N)]

    manual_y = []
    for x, t in zip(xs, ts):  # one sample at a time: forward, update, drain, next
        m = copy.deepcopy(model)
        for dst, src in zip(m.coefficients, manual_coefs):
            dst[...] = src
        one = OnlineLearner(m, lr=2.0 ** -3)
        manual_y.append(one.step_raw(x, t, learn=True))
        one.flush()
        manual_coefs = [c.copy() for c in m.coefficients]

    learner = OnlineLearner(model, lr=2.0 ** -3, delay=0)
    for n, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_array_equal(learner.step_raw(x, t), manual_y[n], err_msg=f"sample {n}")
    learner.flush()
    for a, b in zip(model.coefficients, manual_coefs):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------
# 4. Backward pass uses the coefficients the forward pass read
# ---------------------------------------------------------------------------------------


def expected_hidden_error(layer, coef_read, h_raw, e_raw, model):
    """dL/dx_i = cast(sum_j e_j * cast(sum_m c_ji[k_i+m] dB_m(row_i), slope_t->grad), back_t->error)."""
    ty = model.types
    h_vals = ty.input.to_float(h_raw)
    rows = np.array([spec_row(v, model) for v in h_vals])
    ks, r = rows >> model.lut_bits, rows & ((1 << model.lut_bits) - 1)
    n_out, n_in, _ = coef_read.shape
    slope = np.zeros((n_out, n_in), dtype=np.int64)
    for j in range(n_out):
        for i in range(n_in):
            acc = sum(int(coef_read[j, i, ks[i] + m]) * int(model.tables.deriv_raw[r[i], m])
                      for m in range(model.order + 1))
            slope[j, i] = acc
    slope = fixed.cast(slope, layer.slope_t, ty.grad)
    back = np.array([sum(int(e_raw[j]) * int(slope[j, i]) for j in range(n_out)) for i in range(n_in)])
    return fixed.cast(back, layer.back_t, ty.error)


def run_backward_check(model, learner, xs, ts):
    ty = model.types
    l0, l1 = learner.pipeline.layers
    seen = []  # per sample: coef snapshot at layer-1 read time, hidden raw, error into layer 0

    f1 = l1.forward
    def forward1(x):
        seen.append({"coef": l1.coef.copy(), "h": np.array(x)})
        return f1(x)
    l1.forward = forward1
    b0 = l0.backward
    def backward0(ctx, err, need_grad):
        seen[-1]["err0"] = np.array(err)
        return b0(ctx, err, need_grad)
    l0.backward = backward0
    b1 = l1.backward
    def backward1(ctx, err, need_grad):
        grad, update = b1(ctx, err, need_grad)
        seen[-1]["update1"] = update
        return grad, update
    l1.backward = backward1

    changed_any = False
    for x, t in zip(xs, ts):
        y = learner.step(x, t)
        rec = seen[-1]
        # the output error, from the spec: e = cast(y - target, error) (both exact dyadics)
        e_raw = ty.error.quantize(y - ty.output.to_float(raw_t(model, t)))
        want = expected_hidden_error(l1, rec["coef"], rec["h"], e_raw, model)
        np.testing.assert_array_equal(rec["err0"], want)
        # what the error would be with layer 1's own update already applied
        post = copy.deepcopy(model)
        post_learner = OnlineLearner(post, lr=learner.lr)
        post.coefficients[1][...] = rec["coef"]
        post_learner.pipeline.layers[1].apply(rec["update1"])
        alt = expected_hidden_error(l1, post.coefficients[1], rec["h"], e_raw, model)
        changed_any |= not np.array_equal(alt, want)
    return changed_any


def test_backward_uses_pre_update_coefficients():
    model = KAN([2, 3, 2], grid=(-1, 1, 4), order=3, seed=2, init_scale=0.8)
    learner = OnlineLearner(model, lr=2.0 ** -1, delay=0)
    rng = np.random.default_rng(4)
    xs = [rng.uniform(-1, 1, 2) for _ in range(15)]
    ts = [rng.choice([-3.5, 3.5], 2) for _ in range(15)]
    # discriminating: post-update coefficients would give a different hidden error
    assert run_backward_check(model, learner, xs, ts)


def test_backward_check_catches_post_update_gradient():
    """Mutation: a layer that applies its own update before computing the hidden error."""
    model = KAN([2, 3, 2], grid=(-1, 1, 4), order=3, seed=2, init_scale=0.8)
    learner = OnlineLearner(model, lr=2.0 ** -1, delay=0)
    l1 = learner.pipeline.layers[1]
    real_backward = KANLayerFixed.backward

    def buggy_backward(ctx, err, need_grad):
        idx, row, b, c = ctx
        _, update = real_backward(l1, ctx, err, False)
        scratch = l1.updater.apply(c, update[1])  # the values after this sample's update
        return real_backward(l1, (idx, row, b, scratch), err, need_grad)[0], update

    l1.backward = buggy_backward
    rng = np.random.default_rng(4)
    xs = [rng.uniform(-1, 1, 2) for _ in range(15)]
    ts = [rng.choice([-3.5, 3.5], 2) for _ in range(15)]
    with pytest.raises(AssertionError):
        run_backward_check(model, learner, xs, ts)


# ---------------------------------------------------------------------------------------
# 5. Forward pass vs the float twin, within a bound derived from the types
# ---------------------------------------------------------------------------------------

#: float64 evaluation error of the twin and of this test's own bound arithmetic (~1e-15),
#: far below the smallest quantization term in the bound (2**-16 ~ 1.5e-5).
FLOAT_SLACK = 1e-12


def max_basis_slope(order: int) -> float:
    """A rigorous upper bound of max_{u in [0,1], m} |dB_m/du|.

    Sampled on N+1 points, plus N^-1 * max|B''|; |B''_m| <= 2 max|dB^{S-1}/du| <= 2
    (B'^S_m = B^{S-1}_{m-1} - B^{S-1}_m and each piece is in [0, 1]); B'' = 0 for S = 1.
    """
    N = 1 << 14
    sampled = float(np.abs(basis_derivative(np.linspace(0.0, 1.0, N + 1), order)).max())
    return sampled + (0.0 if order == 1 else 2.0 / N)


def half_or_full_lsb(t: FixedType) -> float:
    """Worst quantization error of a cast to t: 1 LSB truncating, 1/2 LSB round-to-nearest."""
    return t.lsb if t.rounding in (Rounding.TRN, Rounding.TRN_ZERO) else t.lsb / 2


def forward_bound_check(model: KAN, learner: OnlineLearner, twin: FloatLearner, xs: np.ndarray):
    """Assert |y_fixed - y_twin| <= the type-derived bound on every sample; return stats."""
    ty, g, S, L = model.types, model.grid, model.order, model.lut_bits
    c = ty.coef.to_float(model.coefficients[0])  # (out, in, G+S)
    n_out, n_in, _ = c.shape
    M1 = max_basis_slope(S)
    basis_lsb = ty.basis.lsb  # every table entry is within 1 LSB of B at its row's left edge
    out_err = half_or_full_lsb(ty.output)
    du_types = 2.0 ** -L + half_or_full_lsb(ty.input) / g.h  # worst u error, from the types
    worst_ratio, worst_global = 0.0, 0.0
    for x in xs:
        y_fix = learner.step(x, np.zeros(n_out), learn=False)
        y_flt = twin.step(x, np.zeros(n_out), learn=False)
        x_q = ty.input.to_float(ty.input.quantize(x))
        sharp = np.full(n_out, out_err + FLOAT_SLACK)
        glob = np.full(n_out, out_err + FLOAT_SLACK)
        for i in range(n_in):
            t = (x[i] - g.lo) / g.h
            row = spec_row(x_q[i], model)
            t_row = row / float(1 << L)  # the table row's left edge, in grid units
            k_row, k = row >> L, min(max(math.floor(t), 0), g.cells - 1)
            du = abs(t - t_row)
            assert du <= du_types + FLOAT_SLACK  # the premise of the types-derived bound
            lo_k, hi_k = min(k, k_row), max(k, k_row) + S
            # f_ij is continuous, with |f'| <= sum of |c| over the windows it crosses * M1
            abs_c = np.abs(c[:, i, lo_k:hi_k + 1]).sum(axis=1)
            sharp += abs_c * (basis_lsb + M1 * du)
            glob += abs_c * (basis_lsb + M1 * du_types)
        diff = np.abs(y_fix - y_flt)
        assert (diff <= sharp).all(), f"x={x}: |fixed-twin|={diff} > per-sample bound {sharp}"
        assert (diff <= glob).all(), f"x={x}: |fixed-twin|={diff} > types bound {glob}"
        worst_ratio = max(worst_ratio, float((diff / sharp).max()))
        worst_global = max(worst_global, float(glob.max()))
    return worst_ratio, worst_global


TRUNC_TYPES = {"input": "ap_fixed<16,1,AP_TRN,AP_SAT>", "output": "ap_fixed<16,3,AP_TRN,AP_SAT>"}


@pytest.mark.parametrize("order,grid,types", [
    (3, (-1.0, 1.0, 8), None),
    (3, (-1.0, 1.0, 8), TRUNC_TYPES),
    (1, (-1.0, 1.0, 8), None),
    (2, (-1.0, 1.0, 5), None),
])
def test_forward_matches_float_twin_within_type_bound(order, grid, types):
    """|y_fixed - y_twin| per output j <= sum_i sum_m |c_jim| (basis LSB + max|dB/du| du_i)
    + output cast error, with du_i <= 2**-L (table row = top L bits of u, truncated)
    + input quantization error / h (1/2 LSB nearest, 1 LSB truncation); m runs over the
    windows of the exact and of the quantized position (they may sit in adjacent cells).
    Asserted both with du_i from the types (worst case) and with the sample's own du_i."""
    model = KAN([3, 2], grid=grid, order=order, types=types, seed=12, init_scale=1.0)
    twin = FloatLearner(model, lr=2.0 ** -4)
    learner = OnlineLearner(model, lr=2.0 ** -4)
    rng = np.random.default_rng(order)
    xs = rng.uniform(grid[0], grid[1], (2000, 3))
    ratio, worst_bound = forward_bound_check(model, learner, twin, xs)
    out = model.types.output
    assert worst_bound < 0.01 * (out.max - out.min), "the bound is vacuous"
    assert ratio > 0.05, "the bound is far looser than the observed error"

    # Mutation: the basis table shifted by one row, clamped at the ends (row r reads row
    # r-1 or r+1; np.roll would also wrap the last row onto row 0, a much bigger error that
    # any bound sees).  A types-only bound (du <= 2**-L + input error / h for every sample)
    # cannot see a shift that moves u *up* by one row: t_row + 2**-L is still within 2**-L
    # of t.  The per-sample bound can: a sample whose u sits just above its row's left edge
    # has du ~ 0, so its bound is a few basis LSBs, while the shifted row puts
    # ~|f'| / 2**L (dozens of LSBs) into the output.
    table = learner.pipeline.layers[0].basis
    rows = np.arange(table.shape[0])
    for shift in (+1, -1):
        learner.pipeline.layers[0].basis = table[np.clip(rows - shift, 0, rows[-1])]
        with pytest.raises(AssertionError):
            forward_bound_check(model, learner, twin, xs[:500])
    learner.pipeline.layers[0].basis = table


@pytest.mark.parametrize("order,grid,types", [
    (3, (-1.0, 1.0, 8), None),
    (2, (-1.0, 1.0, 5), TRUNC_TYPES),
    (1, (-2.0, 2.0, 16), None),
])
def test_forward_is_the_table_lookup_bit_for_bit(order, grid, types):
    """y_j = round_out(sum_i sum_m c_ji[k_i+m] * Btable[row_i, m]), rows from the grid spec
    (top lut_bits of u, truncated), in Python integers; the one rounding is the output
    type's own (quantize of an exact dyadic, independent of fixed.cast)."""
    model = KAN([3, 2], grid=grid, order=order, types=types, seed=21, init_scale=1.0)
    ty, L, S = model.types, model.lut_bits, model.order
    learner = OnlineLearner(model)
    c = model.coefficients[0]
    rng = np.random.default_rng(order + 40)
    frac = ty.coef.frac + ty.basis.frac
    for x in rng.uniform(grid[0] - 0.2, grid[1] + 0.2, (300, 3)):  # some outside the grid
        x_raw = raw_x(model, x)
        rows = [spec_row(v, model) for v in ty.input.to_float(x_raw)]
        want = []
        for j in range(2):
            acc = sum(int(c[j, i, (r >> L) + m]) * int(model.tables.basis_raw[r & ((1 << L) - 1), m])
                      for i, r in enumerate(rows) for m in range(S + 1))
            assert abs(acc) < 2 ** 53
            want.append(int(ty.output.quantize(math.ldexp(acc, -frac))))
        got = learner.step_raw(x_raw, np.zeros(2, np.int64), learn=False)
        np.testing.assert_array_equal(got, want, err_msg=f"x={x}")


# ---------------------------------------------------------------------------------------
# 6. Stochastic rounding and the LFSR
# ---------------------------------------------------------------------------------------


def ref_lfsr_step(s: int) -> int:
    """The documented Galois step: lsb = s & 1; s >>= 1; if lsb: s ^= 0x80200003."""
    lsb = s & 1
    s >>= 1
    if lsb:
        s ^= 0x80200003
    return s


def ref_lfsr_leap(s: int, k: int) -> int:
    """The documented leap: ``k`` single steps."""
    for _ in range(k):
        s = ref_lfsr_step(s)
    return s


def test_lfsr_bank_matches_reference_and_never_hits_zero():
    for seed, layer, shape in [(0, 0, (3, 4)), (12345, 2, (7,)), (2**32 + 5, 1, (2, 2, 2))]:
        bank = lfsr.LFSRBank(seed, layer, shape)
        start = [int(v) for v in bank.state.reshape(-1)]
        lanes = np.arange(int(np.prod(shape)))
        np.testing.assert_array_equal(bank.state.reshape(-1), lfsr.seed_state(seed, layer, lanes))
        assert all(0 < s < 2**32 for s in start)
        assert len(set(start)) == len(start), "lanes must start from distinct states"
        ref = start[:]
        for step in range(300):
            d = step % 33
            got = bank.bits(d) if step % 2 else bank.step()
            ref = [ref_lfsr_leap(s, d if step % 2 else 1) for s in ref]
            assert all(s != 0 for s in ref)
            np.testing.assert_array_equal(bank.state.reshape(-1).astype(object), np.array(ref, dtype=object))
            if step % 2:
                np.testing.assert_array_equal(got.reshape(-1), [s & ((1 << d) - 1) for s in ref])
    # start states over many lanes and seeds are never zero
    for seed in range(20):
        assert (lfsr.seed_state(seed, seed % 3, np.arange(50_000)) != 0).all()


def test_stochastic_delta_is_the_documented_lfsr_rounding():
    """Replay one layer's deltas with the plain-Python LFSR: floor((lr*e*B + bits) / 2**drop)."""
    model = KAN([1, 3], grid=(-1, 1, 8), order=2, seed=1)
    seed = 99
    learner = OnlineLearner(model, lr=2.0 ** -9, rounding="stochastic", seed=seed)
    layer = learner.pipeline.layers[0]
    got = []
    real = layer.backward

    def backward(ctx, err, need_grad):
        grad, update = real(ctx, err, need_grad)
        got.append(update[1])
        return grad, update

    layer.backward = backward
    ty = model.types
    lanes = [int(s) for s in lfsr.seed_state(seed, 0, np.arange(3 * 1 * 3))]
    rng = np.random.default_rng(3)
    for _ in range(40):
        x, t = rng.uniform(-1, 1, 1), rng.uniform(-3, 3, 3)
        y = learner.step(x, t)
        e_raw = ty.error.quantize(y - ty.output.to_float(raw_t(model, t)))
        row = spec_row(float(ty.input.to_float(raw_x(model, x))[0]), model)
        b_raw = model.tables.basis_raw[row & ((1 << model.lut_bits) - 1)]
        frac = ty.error.frac + ty.basis.frac + 9  # e*B exact, then the lr shift
        drop = frac - ty.update.frac
        assert 0 < drop <= 32
        lanes = [ref_lfsr_leap(s, drop) for s in lanes]  # a lane leaps as many steps as bits it draws
        want = np.empty((3, 1, 3), dtype=np.int64)
        for n, (j, m) in enumerate(np.ndindex(3, 3)):
            v = (int(e_raw[j]) * int(b_raw[m]) + (lanes[n] & ((1 << drop) - 1))) >> drop
            want[j, 0, m] = min(max(v, ty.update.min_raw), ty.update.max_raw)
        np.testing.assert_array_equal(got[-1], want)


def lag1_autocorrelation(draws: np.ndarray) -> np.ndarray:
    """Per lane (columns), the correlation of each draw with the next."""
    a, b = draws[:-1].astype(np.float64), draws[1:].astype(np.float64)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


@pytest.mark.parametrize("d", [1, 4, 8, 16, 32])
def test_successive_draws_of_a_lane_are_uncorrelated(d):
    """Issue 14: each lane leaps d steps per draw of d bits, so successive draws are independent
    (|lag-1 autocorrelation| < 0.05 on every lane; 20000 draws put its noise near 0.007).
    The old rule, one step per draw, hands out the last draw shifted by one bit: ~0.5 from
    d = 4 up (for d < 3 the feedback taps at bits 0 and 1 scramble the shifted bits)."""
    bank = lfsr.LFSRBank(seed=7, layer=1, shape=(8,))
    draws = np.array([bank.bits(d) for _ in range(20_000)])
    assert np.all(np.abs(lag1_autocorrelation(draws)) < 0.05), lag1_autocorrelation(draws)
    if d >= 4:  # the check can fail: the one-step rule is caught
        old = lfsr.LFSRBank(seed=7, layer=1, shape=(8,))
        shifted = np.array([(old.step() & np.uint64((1 << d) - 1)).astype(np.int64) for _ in range(2000)])
        assert np.all(lag1_autocorrelation(shifted) > 0.3), lag1_autocorrelation(shifted)


def test_lfsr_leaps_for_hardware_and_engine_are_the_leap():
    """The XOR network hardware builds (``leap_masks``, applied by ``leap``) and the byte tables
    of the compiled engine (``leap_tables``) are k single steps, for every k."""
    rng = np.random.default_rng(4)
    states = [int(s) for s in rng.integers(1, 2**32, size=20)] + [1, 2**31, 2**32 - 1]
    tables = lfsr.leap_tables()
    for k in range(33):
        masks = lfsr.leap_masks(k)
        for s in states:
            looked_up = 0
            for b in range(4):
                looked_up ^= int(tables[k, b, (s >> 8 * b) & 255])
            assert lfsr.leap(s, k) == looked_up == ref_lfsr_leap(s, k), (k, s)
    with pytest.raises(ValueError, match="an LFSR leap is 0..32 steps, got 33"):
        lfsr.leap_masks(33)


def tiny_update_run(rounding: str, seed: int = 0, steps: int = 2000):
    """16 independent coefficients, each nudged `steps` times by 1/32 of a coefficient LSB."""
    model = KAN([1, 16], grid=(-1, 1, 8), order=1, seed=6)
    twin_model = copy.deepcopy(model)
    lr = 2.0 ** -16
    learner = OnlineLearner(model, lr=lr, rounding=rounding, seed=seed)
    twin = FloatLearner(twin_model, lr=lr)
    x = np.array([0.0])  # a knot: cell 4, u = 0, B = (1, 0) exactly in table and twin
    k = spec_cell(0.0, model)
    c0 = model.coefficients[0][:, 0, k].copy()
    target = model.types.coef.to_float(c0) - 0.25  # error ~ 0.25: delta = 2**-18 = LSB/32
    trajectory = []
    for _ in range(steps):
        learner.step(x, target)
        twin.step(x, target)
        trajectory.append(model.coefficients[0][:, 0, k].copy())
    learner.flush()
    twin.flush()
    return model, twin, k, c0, np.array(trajectory)


def test_stochastic_rounding_keeps_tiny_updates_that_nearest_loses():
    lsb = KAN([1, 1]).types.coef.lsb
    # round to nearest: each delta (1/32 LSB) rounds to zero, the coefficients never move
    model, twin, k, c0, _ = tiny_update_run("type")
    np.testing.assert_array_equal(model.coefficients[0][:, 0, k], c0)
    exact_change = (twin.params[0][:, 0, k] - model.types.coef.to_float(c0)) / lsb
    assert (np.abs(exact_change) > 50).all()  # ~ -2000/32 LSB in float

    # stochastic: each step rounds up with probability p ~ 1/32, independently per lane, so
    # the final error has standard deviation sigma = sqrt(sum p(1-p)) ~ sqrt(2000/32) ~ 7.8 LSB
    model, twin, k, c0, _ = tiny_update_run("stochastic")
    fixed_change = (model.types.coef.to_float(model.coefficients[0][:, 0, k])
                    - model.types.coef.to_float(c0)) / lsb
    exact_change = (twin.params[0][:, 0, k] - model.types.coef.to_float(c0)) / lsb
    p = np.abs(exact_change) / 2000
    sigma = np.sqrt(2000 * p * (1 - p))
    err = fixed_change - exact_change
    assert (np.abs(err) <= 5 * sigma).all(), (err, sigma)
    # averaged over the 16 independent lanes the error is a few LSB (sigma / 4 each)
    assert abs(err.mean()) <= 5 * sigma.mean() / 4, (err.mean(), sigma.mean())
    assert (np.abs(fixed_change) > 0.5 * np.abs(exact_change)).all()


def test_stochastic_rounding_is_reproducible_by_seed():
    _, _, _, _, a = tiny_update_run("stochastic", seed=3, steps=300)
    _, _, _, _, b = tiny_update_run("stochastic", seed=3, steps=300)
    _, _, _, _, c = tiny_update_run("stochastic", seed=4, steps=300)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ---------------------------------------------------------------------------------------
# 7. Drifting 1-D regression: fixed point within 2x of the float twin
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounding", ["type", "stochastic"])
def test_drift_regression_fixed_within_2x_of_twin(rounding):
    stream = tasks.make_task("drift", n=6000)
    model = KAN([1, 1], grid=(-1, 1, 8), order=3, bits=16)
    twin = FloatLearner(copy.deepcopy(model), lr=2.0 ** -3)
    learner = OnlineLearner(model, lr=2.0 ** -3, rounding=rounding)
    assert learner.lr == 2.0 ** -3
    y_fix = np.array([learner.step(x, t)[0] for x, t in stream])
    y_flt = np.array([twin.step(x, t)[0] for x, t in stream])
    m_fix = tasks.windowed_metric(stream, y_fix)
    m_flt = tasks.windowed_metric(stream, y_flt)
    assert set(m_fix) == set(m_flt) == {0, 1, 2}
    for r in m_fix:
        assert m_flt[r] < 0.05, f"the twin did not learn regime {r}: {m_flt[r]}"
        assert m_fix[r] <= 2 * m_flt[r], f"regime {r}: fixed {m_fix[r]:.3g} vs twin {m_flt[r]:.3g}"


# ---------------------------------------------------------------------------------------
# 8. Bad configurations
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,match", [
    (dict(grid=(1.0, 1.0, 8)), "hi must be greater than lo"),
    (dict(grid=(1.0, -1.0, 8)), "hi must be greater than lo"),
    (dict(grid=(-1.0, 1.0, 0)), "cells must be >= 1"),
    (dict(order=0), r"spline order must be in 1\.\.5"),
    (dict(order=6), r"spline order must be in 1\.\.5"),
    (dict(layers=[2, 0, 1]), "layer sizes must be integers >= 1"),
    (dict(layers=[3]), "at least 2 sizes"),
    (dict(grid=(-4.0, 4.0, 8), types={"input": "ap_fixed<8,1>"}), "cannot hold the grid range"),
    (dict(grid=(-1.0 + 2.0 ** -20, 1.0, 8)), "not exactly representable"),
    (dict(types={"coeff": "ap_fixed<16,3>"}), r"unknown type names \['coeff'\]"),
    (dict(types={"coef": "ap_fixd<16,3>"}), "type 'coef'"),
])
def test_bad_kan_configs(kwargs, match):
    args = dict(layers=[2, 1])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        KAN(args.pop("layers"), **args)


def test_bad_mlp_configs():
    with pytest.raises(ValueError, match="layer sizes must be integers >= 1"):
        MLP([2, -1])
    with pytest.raises(ValueError, match="at least 2 sizes"):
        MLP([4])
    with pytest.raises(ValueError, match=r"unknown type names \['weights'\]"):
        MLP([2, 1], types={"weights": "ap_fixed<16,2>"})


@pytest.mark.parametrize("lr", [0, 0.0, 1, 1.5, -0.25, float("nan"), float("inf"), "0.1"])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match=r"learning rate must be a number in \(0, 1\)"):
        OnlineLearner(KAN([2, 1]), lr=lr)


def test_learning_rate_too_small_for_the_constant():
    with pytest.raises(ValueError, match="rounds to zero"):
        OnlineLearner(KAN([2, 1]), lr=3e-7)  # not a power of two, below half an 18-bit LSB


@pytest.mark.parametrize("delay", [-1, [1], [1, 2, 3], [1, -1], [1, True], "2"])
def test_bad_delay(delay):
    with pytest.raises(ValueError, match="delay must be an integer >= 0 or one per layer"):
        OnlineLearner(KAN([2, 3, 1]), delay=delay)


@pytest.mark.parametrize("rounding", ["nearest", "STOCHASTIC", "", None])
def test_bad_update_rounding(rounding):
    with pytest.raises(ValueError, match="update rounding must be one of"):
        OnlineLearner(KAN([2, 1]), rounding=rounding)


def test_bad_step_inputs():
    learner = OnlineLearner(KAN([2, 1]))
    with pytest.raises(ValueError, match="expected 2 inputs and 1 targets, got 3 and 1"):
        learner.step([0.1, 0.2, 0.3], [0.0])
    with pytest.raises(ValueError, match="expected 2 inputs and 1 targets, got 2 and 2"):
        learner.step([0.1, 0.2], [0.0, 1.0])
    x_t = learner.model.types.input
    with pytest.raises(ValueError, match=f"input {x_t.max_raw + 1} is outside"):
        learner.step_raw(np.array([0, x_t.max_raw + 1]), np.array([0]))
    with pytest.raises(ValueError, match=f"input {x_t.min_raw - 1} is outside"):
        learner.step_raw(np.array([x_t.min_raw - 1, 0]), np.array([0]))
    with pytest.raises(ValueError, match="must be raw integers"):
        learner.step_raw(np.array([0.5, 0.0]), np.array([0]))
    with pytest.raises(ValueError, match="must be finite"):
        learner.step([float("nan"), 0.0], [0.0])
    assert learner.samples_seen == 0  # nothing bad reached the pipeline


# ---------------------------------------------------------------------------------------
# Bugs found by these tests, now fixed
# ---------------------------------------------------------------------------------------


def test_bug_inverse_cell_width_wraps_to_zero():
    hi = -1.0 + 8.0 / (4.0 - 2.0 ** -20)  # 1/h = 4 - 2**-20
    model = KAN([1, 1], grid=(-1.0, hi, 8), order=1)
    # c_m = m/8: the order-1 spline reproduces f(t) = t/8, so y ~ (x - lo) / h / 8
    model.coefficients[0][0, 0, :] = model.types.coef.quantize(np.arange(9) / 8.0)
    learner = OnlineLearner(model)
    x = 0.3
    t = (x - model.grid.lo) / model.grid.h
    y = float(learner.step([x], [0.0], learn=False)[0])
    # allowed error: one table row (1/2**8 in t) plus the 1/h constant's rounding and LSBs
    assert abs(y - t / 8) <= (2.0 ** -8 + 2.0 ** -14) / 8 + 2 * model.types.output.lsb


def test_bug_stochastic_rounding_with_constant_learning_rate():
    """More dropped bits than one LFSR word: the lowest are truncated, the top 32 randomized."""
    model = KAN([1, 1])
    before = model.coefficients[0].copy()
    learner = OnlineLearner(model, lr=0.3, rounding="stochastic")
    learner.step([0.1], [0.5])
    learner.flush()
    assert np.sum(model.coefficients[0] != before) > 0


def test_bug_float_delay_raises_value_error():
    with pytest.raises(ValueError, match="delay must be an integer"):
        OnlineLearner(KAN([2, 1]), delay=1.5)


def test_bug_learning_rate_just_below_one():
    lr = 1.0 - 2.0 ** -20  # a valid number in (0, 1)
    try:
        value = LearningRate.of(lr).value
    except ValueError as err:
        assert "zero" not in str(err), str(err)
        return
    assert value == 1.0 - 2.0 ** -18  # the nearest 18-bit constant, saturated


# ---------------------------------------------------------------------------------------
# Issue 13: wide inputs, impossible widths refused at construction
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("input_type,grid", [
    ("ap_fixed<48,3,AP_RND_CONV,AP_SAT>", (-1.0, 1.0, 6)),
    ("ap_ufixed<62,4,AP_TRN,AP_WRAP>", (0.0, 3.0, 7)),
    ("ap_fixed<62,40,AP_RND,AP_SAT>", (-5.0, 5.0, 10)),
    ("ap_fixed<20,3>", (-1.0, 1.0, 5)),
])
def test_grid_lookup_is_exact_for_every_input_width(input_type, grid):
    """GridMap.locate against Python-integer arithmetic (no int64 anywhere): a wrap in the
    product (x - lo) * inv_h (46+ bit inputs, non-power-of-two h) is caught."""
    model = KAN([1, 1], grid=grid, types={"input": input_type})
    gm = GridMap.of(model)
    t = model.types.input
    rng = np.random.default_rng(3)
    raws = [t.min_raw, t.max_raw, gm.lo_raw, *(int(v) for v in rng.integers(t.min_raw, t.max_raw, 300,
                                                                              endpoint=True))]
    raws += [int(t.quantize(v)) for v in np.linspace(grid[0] - 0.5, grid[1] + 0.5, 97)]
    k, row = gm.locate(np.array(raws, dtype=np.int64))
    shift = gm.t_frac - gm.lut_bits
    last = (gm.cells << gm.lut_bits) - 1
    for x, kk, rr in zip(raws, k, row):
        prod = (x - gm.lo_raw) * gm.inv_h_raw  # Python int: exact
        want = min(max(prod >> shift if shift >= 0 else prod << -shift, 0), last)
        assert (int(kk), int(rr)) == divmod(want, 1 << gm.lut_bits), (x, input_type)


def test_the_issue_example_of_a_wide_input_locates_exactly():
    model = KAN([1, 1], grid=(-1.0, 1.0, 6), types={"input": "ap_fixed<48,3,AP_RND_CONV,AP_SAT>"})
    k, row = GridMap.of(model).locate(model.types.input.quantize([0.5]))
    assert (int(k[0]), int(row[0])) == (4, 128)  # t = 1.5 * 3 = 4.5


@pytest.mark.parametrize("make,match", [
    (lambda: KAN([1, 1], bits=32), r"66 bits wide; the KAN layer 0 sum of 4 coef\*basis products"),
    (lambda: KAN([2, 1], types={"coef": "ap_fixed<40,3>", "basis": "ap_ufixed<24,1>"}),
     r"the KAN layer 0 sum of 8 coef\*basis products"),
    (lambda: KAN([1, 1], types={"error": "ap_fixed<40,3>", "grad": "ap_fixed<30,5>"}),
     r"the KAN layer 0 backward sum of 1 error\*grad products"),
    (lambda: KAN([1, 1], types={"output": "ap_fixed<62,3>"}), r"the error y - target"),
    (lambda: MLP([2, 1], types={"weight": "ap_fixed<40,2>", "input": "ap_fixed<30,2>"}),
     r"the MLP layer 0 product weight\*input"),
    (lambda: OnlineLearner(KAN([1, 1], bits=24), lr=0.1),
     r"lr \* the gradient of KAN layer 0's coefficients \(learning rate 0\.0999"),
    (lambda: OnlineLearner(MLP([2, 4, 1], bits=24), lr=0.1),
     r"lr \* the gradient of MLP layer 0's weights"),
])
def test_widths_beyond_int64_are_refused_at_construction(make, match):
    """Products and sums wider than 62 bits: a ValueError naming the quantity when the model
    (or, for the learning rate, the learner) is built, never at the first step."""
    with pytest.raises(ValueError, match=match):
        make()


def test_widest_accepted_configurations_step():
    """The limits are the real ones: just below them a model builds and learns."""
    learner = OnlineLearner(KAN([1, 1], bits=24), lr=2.0 ** -3)  # a shift adds no width
    learner.step([0.3], [0.5])
    learner = OnlineLearner(KAN([1, 1], types={"input": "ap_fixed<62,3,AP_RND_CONV,AP_SAT>"}), lr=0.1)
    learner.step([0.3], [0.5])


# ---------------------------------------------------------------------------------------
# Issue 14: per-layer learning rates
# ---------------------------------------------------------------------------------------


def _first_update(make, lr, rounding: str = "type") -> list[np.ndarray]:
    """Each parameter array's change after one learning sample (D = 0)."""
    model = make()
    before = [p.copy() for p in model.parameters()]
    learner = OnlineLearner(model, lr=lr, rounding=rounding, seed=2)
    learner.step(np.full(model.layers[0], 0.3), [0.7])
    learner.flush()
    return [p - b for p, b in zip(model.parameters(), before)]


@pytest.mark.parametrize("make", [lambda: KAN([2, 3, 1], bits=16, seed=1), lambda: MLP([2, 5, 1], bits=16, seed=1)],
                         ids=["kan", "mlp"])
@pytest.mark.parametrize("rounding", ["type", "stochastic"])
def test_each_layer_learns_at_its_own_rate(make, rounding):
    """With lr = [a, b], the first sample moves layer 0 as a uniform a would and the last layer
    as a uniform b would (both see the same forward pass and error): each rate reaches its own
    layer only, a shift on one and a constant on the other."""
    a, b = 2.0 ** -5, 0.3
    mixed, all_a, all_b = (_first_update(make, lr, rounding) for lr in ([a, b], a, b))
    per_layer = len(mixed) // 2  # parameter arrays per layer (coefficients; or weights and biases)
    for p, change in enumerate(mixed):
        want = all_a[p] if p < per_layer else all_b[p]
        np.testing.assert_array_equal(change, want)
        assert np.any(change != 0)
    assert any(np.any(m != u) for m, u in zip(mixed, all_a)) and any(np.any(m != u) for m, u in zip(mixed, all_b))


def test_one_rate_per_layer_equals_the_same_rate_for_all():
    stream = tasks.make_task("drift2d", n=300)
    outs = []
    for lr in (0.1, [0.1, 0.1]):
        learner = OnlineLearner(KAN([2, 3, 1], bits=12), lr=lr, rounding="stochastic", delay=[2, 1])
        outs.append([learner.step(x, t) for x, t in stream])
        assert learner.lr == LearningRate.of(0.1).value  # reported as one setting when uniform
    np.testing.assert_array_equal(outs[0], outs[1])
    learner = OnlineLearner(KAN([2, 3, 1]), lr=(0.1, 2.0 ** -3))
    assert learner.lr == [LearningRate.of(0.1).value, 0.125] and learner.lrs[1].shift == 3
    again = OnlineLearner(KAN([2, 3, 1]), lr=learner.lr)  # the reported setting rebuilds the same rates
    assert again.lrs == learner.lrs


def test_the_float_twin_takes_per_layer_rates():
    model = KAN([2, 3, 1], bits=16)
    x, t = [0.3, -0.2], [0.5]
    changes = []
    for lr in ([2.0 ** -5, 2.0 ** -2], 2.0 ** -5, 2.0 ** -2):
        twin = FloatLearner(model, lr=lr)
        twin.step(x, t)
        twin.flush()
        start = FloatLearner(model, lr=lr).params
        changes.append([p - s for p, s in zip(twin.params, start)])
    np.testing.assert_array_equal(changes[0][0], changes[1][0])
    np.testing.assert_array_equal(changes[0][1], changes[2][1])


@pytest.mark.parametrize("lr,match", [
    ([0.125], r"learning rate must be one number or one per layer \(2\), got 1 values \[0\.125\]"),
    ([0.125, 0.125, 0.125], r"one per layer \(2\), got 3 values"),
    ([], r"one per layer \(2\), got 0 values"),
    ([0.125, 1.5], r"learning rate of layer 1 must be a number in \(0, 1\), got 1\.5"),
    ([0, 0.125], r"learning rate of layer 0 must be a number in \(0, 1\), got 0"),
    ([0.125, "0.1"], r"learning rate of layer 1 must be a number in \(0, 1\), got '0\.1'"),
    ([0.125, 3e-7], r"learning rate of layer 1 3e-07 rounds to zero"),
])
@pytest.mark.parametrize("learner", [OnlineLearner, FloatLearner])
def test_bad_per_layer_learning_rates(learner, lr, match):
    if learner is FloatLearner and "rounds to zero" in match:
        pytest.skip("the float twin has no constant to round")
    with pytest.raises(ValueError, match=match):
        learner(KAN([2, 3, 1]), lr=lr)
