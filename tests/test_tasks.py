"""Task streams: reproducible, well-formed, really drifting, and scored correctly."""

from __future__ import annotations

import numpy as np
import pytest

from quantkan import tasks
from quantkan.tasks import (
    TASKS,
    Stream,
    drift_1d,
    drift_1d_target,
    drift_multi,
    drift_multi_target,
    make_task,
    qubit_readout,
    qubit_trace,
    running_metric,
    windowed_metric,
)

SMALL = {"drift": dict(n=3000), "drift2d": dict(n=3000, n_inputs=3), "qubit": dict(n=4000),
         "qubit_trace": dict(n=4000)}


def test_registry_names():
    assert set(TASKS) == {"drift", "drift2d", "qubit", "qubit_trace"}
    assert TASKS["qubit_trace"] is qubit_trace
    assert TASKS["drift"] is drift_1d
    assert TASKS["drift2d"] is drift_multi
    assert TASKS["qubit"] is qubit_readout


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_stream_other_seed_differs(name):
    a = make_task(name, seed=3, **SMALL[name])
    b = make_task(name, seed=3, **SMALL[name])
    c = make_task(name, seed=4, **SMALL[name])
    for field in ("x", "target", "regime"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x, c.x)
    assert not np.array_equal(a.target, c.target)


def test_noise_is_seeded_and_does_not_move_inputs():
    a = drift_1d(n=500, seed=1, noise=0.05)
    b = drift_1d(n=500, seed=1, noise=0.05)
    clean = drift_1d(n=500, seed=1)
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.x, clean.x)
    resid = a.target - clean.target
    assert 0.04 < resid.std() < 0.06
    assert np.abs(drift_1d(n=2000, noise=5.0).target).max() <= 1.5


@pytest.mark.parametrize("name, n_inputs, metric", [
    ("drift", 1, "mse"), ("drift2d", 3, "mse"), ("qubit", 2, "accuracy"), ("qubit_trace", 6, "accuracy")])
def test_shapes_dtypes_and_ranges(name, n_inputs, metric):
    s = make_task(name, **SMALL[name])
    n = SMALL[name]["n"]
    assert s.name == name and s.metric == metric
    assert s.x.shape == (n, n_inputs) and s.x.dtype == np.float64
    assert s.target.shape == (n, 1) and s.target.dtype == np.float64
    assert s.regime.shape == (n,) and np.issubdtype(s.regime.dtype, np.integer)
    assert len(s) == s.n == n and s.n_inputs == n_inputs and s.n_outputs == 1
    lo, hi = s.input_range
    assert (lo, hi) == (-1.0, 1.0)
    assert np.all(s.x >= lo) and np.all(s.x < hi)
    assert np.all(np.isfinite(s.target)) and np.abs(s.target).max() <= 1.0
    assert not s.x.flags.writeable
    xi, ti = next(iter(s))
    np.testing.assert_array_equal(xi, s.x[0])
    np.testing.assert_array_equal(ti, s.target[0])


def test_drift2d_default_has_two_inputs():
    assert make_task("drift2d", n=10).n_inputs == 2


def test_qubit_outliers_are_clipped_into_range():
    s = qubit_readout(n=2000, sigma=0.6)  # wide clusters: many points fall outside
    assert np.all(s.x >= -1.0) and np.all(s.x < 1.0)
    assert np.any(s.x == -1.0)


@pytest.mark.parametrize("name, regimes", [("drift", 3), ("drift2d", 5), ("qubit", 4), ("drift", 1)])
def test_regimes_cover_the_stream_in_order(name, regimes):
    s = make_task(name, regimes=regimes, **SMALL[name])
    assert s.regime[0] == 0 and s.regime[-1] == regimes - 1
    assert np.all(np.diff(s.regime) >= 0) and np.all(np.diff(s.regime) <= 1)
    counts = np.bincount(s.regime)
    assert len(counts) == regimes and counts.max() - counts.min() <= 1
    bounds = s.regime_bounds()
    assert bounds[0][0] == 0 and bounds[-1][1] == len(s)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_regime_labels_follow_the_documented_formula():
    # regime[i] = (i * regimes) // n, also when n is not a multiple of regimes
    np.testing.assert_array_equal(drift_1d(n=10, regimes=3).regime, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(qubit_readout(n=7, regimes=7).regime, np.arange(7))


def test_targets_follow_the_documented_regime_functions():
    s = drift_1d(n=2000, regimes=6)
    np.testing.assert_array_equal(s.target, drift_1d_target(s.x, s.regime[:, None]))
    x = s.x[:5, 0]
    np.testing.assert_allclose(drift_1d_target(x, 0), np.sin(np.pi * x))
    np.testing.assert_allclose(drift_1d_target(x, 1), 0.5 * np.cos(2 * np.pi * x) + 0.3 * x)
    np.testing.assert_allclose(drift_1d_target(x, 4), np.sin(np.pi * x))  # functions recur
    m = drift_multi(n=2000, n_inputs=2, regimes=4)
    np.testing.assert_array_equal(m.target, drift_multi_target(m.x, m.regime))
    x0, x1 = m.x[:5, 0], m.x[:5, 1]
    np.testing.assert_allclose(drift_multi_target(m.x[:5], 1)[:, 0],
                               0.6 * x0 * x1 + 0.2 * (np.cos(np.pi * x0) + np.cos(np.pi * x1)))


@pytest.mark.parametrize("target_fn, d", [(None, 1), (drift_multi_target, 2), (drift_multi_target, 4)])
def test_consecutive_regime_functions_really_differ(target_fn, d):
    x = np.random.default_rng(0).uniform(-1, 1, size=(4000, d))
    for r in range(5):
        if target_fn is None:
            a, b = drift_1d_target(x, r), drift_1d_target(x, r + 1)
        else:
            a, b = target_fn(x, r), target_fn(x, r + 1)
        assert np.mean((a - b) ** 2) > 0.05, (d, r)


def test_same_x_gives_different_targets_across_a_switch():
    """Data-driven: nearest x across a regime boundary has a far-off target, within does not."""
    s = drift_1d(n=3000, regimes=3)
    for r in range(2):
        a = s.regime == r
        b = s.regime == r + 1
        xa, ta = s.x[a, 0], s.target[a, 0]
        xb, tb = s.x[b, 0], s.target[b, 0]
        order = np.argsort(xa)
        j = np.clip(np.searchsorted(xa[order], xb), 0, len(xa) - 1)
        across = np.abs(tb - ta[order][j])
        assert np.mean(across) > 0.2
        # within one regime, neighbouring x give nearly the same target
        jb = np.argsort(xb)
        within = np.abs(np.diff(tb[jb]))
        assert np.mean(within) < 0.02


def _class_means(x, y):
    return x[y == 0].mean(axis=0), x[y == 1].mean(axis=0)


def test_qubit_clusters_drift_but_stay_locally_separable():
    s = qubit_readout(n=10000, seed=2)
    y = s.target[:, 0].astype(int)
    assert set(np.unique(s.target)) == {0.0, 1.0}
    assert 0.45 < y.mean() < 0.55
    k = s.n // 10
    m0_first, m1_first = _class_means(s.x[:k], y[:k])
    m0_last, m1_last = _class_means(s.x[-k:], y[-k:])
    assert np.linalg.norm(m0_first - m0_last) > 0.2
    assert np.linalg.norm(m1_first - m1_last) > 0.2

    # A nearest-centre classifier with centres estimated in each local block does well.
    correct = 0
    for lo in range(0, s.n, 500):
        xb, yb = s.x[lo:lo + 500], y[lo:lo + 500]
        c0, c1 = _class_means(xb, yb)
        pred = np.sum((xb - c1) ** 2, 1) < np.sum((xb - c0) ** 2, 1)
        correct += np.sum(pred == (yb == 1))
    assert correct / s.n > 0.85

    # ... while centres frozen from the first 10% fail on the last 10%: the task is non-stationary.
    pred = np.sum((s.x[-k:] - m1_first) ** 2, 1) < np.sum((s.x[-k:] - m0_first) ** 2, 1)
    assert np.mean(pred == (y[-k:] == 1)) < 0.75


def test_qubit_without_drift_is_stationary():
    s = qubit_readout(n=6000, rotation=0.0, shift=(0.0, 0.0))
    y = s.target[:, 0].astype(int)
    k = s.n // 10
    m0_first, _ = _class_means(s.x[:k], y[:k])
    m0_last, _ = _class_means(s.x[-k:], y[-k:])
    assert np.linalg.norm(m0_first - m0_last) < 0.05


def _tiny_stream(metric="mse"):
    target = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    return Stream("tiny", x=np.linspace(-1, 0.9, 10)[:, None], target=target[:, None],
                  regime=np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
                  input_range=(-1.0, 1.0), metric=metric)


def test_windowed_metric_mse_by_hand():
    s = _tiny_stream("mse")
    pred = np.array([9.0, 9.0, 9.0, 0.5, 0.0, 9.0, 9.0, 9.0, 0.5, 2.0])
    # fraction 0.4 of 5 samples -> the last 2 of each regime
    # regime 0: errors (0.5-1)^2 = 0.25, (0-0)^2 = 0 -> 0.125
    # regime 1: errors (0.5-0)^2 = 0.25, (2-1)^2 = 1 -> 0.625
    assert windowed_metric(s, pred, fraction=0.4) == pytest.approx({0: 0.125, 1: 0.625})
    # predictions as a column work too; fraction 0.2 -> the last sample only
    assert windowed_metric(s, pred[:, None], fraction=0.2) == pytest.approx({0: 0.0, 1: 1.0})
    # a tiny fraction still takes one sample; fraction 1 takes all
    assert windowed_metric(s, pred, fraction=0.01) == pytest.approx({0: 0.0, 1: 1.0})
    whole = windowed_metric(s, pred, fraction=1.0)
    assert whole[0] == pytest.approx((81 + 64 + 81 + 0.25 + 0) / 5)


def test_windowed_metric_accuracy_by_hand():
    s = _tiny_stream("accuracy")
    # targets:      0    1    0    1    0 | 1    1    0    0    1
    pred = np.array([0.9, 0.2, 0.1, 0.7, 0.6, 0.5, 0.49, 0.2, 0.8, 0.51])
    # last 3 of regime 0: (0.1 vs 0 ok) (0.7 vs 1 ok) (0.6 vs 0 wrong) -> 2/3
    # last 3 of regime 1: (0.2 vs 0 ok) (0.8 vs 0 wrong) (0.51 vs 1 ok) -> 2/3
    assert windowed_metric(s, pred, fraction=0.6) == pytest.approx({0: 2 / 3, 1: 2 / 3})
    # whole regimes: regime 0 -> 2/5 (0.9 and 0.2 wrong too);
    # regime 1: 0.5 >= 0.5 counts as 1 (ok), 0.49 wrong, 0.2 ok, 0.8 wrong, 0.51 ok -> 3/5
    assert windowed_metric(s, pred, fraction=1.0) == pytest.approx({0: 0.4, 1: 0.6})


def test_running_metric_by_hand():
    s = _tiny_stream("mse")
    pred = s.target[:, 0] + np.array([1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0])
    sq = np.array([1.0, 0, 4, 0, 0, 0, 0, 0, 0, 9])
    out = running_metric(s, pred, window=3)
    expect = [1.0, 0.5, 5 / 3, 4 / 3, 4 / 3, 0, 0, 0, 0, 3]
    np.testing.assert_allclose(out, expect)
    np.testing.assert_allclose(running_metric(s, pred, window=1), sq)
    np.testing.assert_allclose(running_metric(s, pred, window=100), np.cumsum(sq) / np.arange(1, 11))
    acc = running_metric(_tiny_stream("accuracy"), s.target[:, 0] * 0 + 0.9, window=2)
    # prediction always "1"; targets 0 1 0 1 0 1 1 0 0 1
    np.testing.assert_allclose(acc, [0, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 0.5, 0.0, 0.5])


def test_perfect_predictions_score_perfectly():
    s = drift_multi(n=1000, regimes=4)
    assert all(v == 0.0 for v in windowed_metric(s, s.target).values())
    q = qubit_readout(n=1000)
    assert all(v == 1.0 for v in windowed_metric(q, q.target).values())
    assert set(windowed_metric(q, q.target)) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("call, match", [
    (lambda: make_task("nope"), r"unknown task 'nope'.*drift, drift2d, qubit, qubit_trace"),
    (lambda: make_task("qubit_trace", windows=0), r"windows must be >= 1"),
    (lambda: make_task("qubit_trace", t1=0.0), r"t1 must be > 0"),
    (lambda: make_task("qubit_trace", sigma=-1.0), r"sigma must be > 0"),
    (lambda: make_task("qubit_trace", p1=1.5), r"p1 must be <= 1"),
    (lambda: make_task("qubit_trace", shift=-0.1), r"shift must be >= 0"),
    (lambda: make_task("qubit_trace", levels=3), r"unknown settings \['levels'\] for task 'qubit_trace'"),
    (lambda: make_task("drift", n=0), r"n must be >= 1"),
    (lambda: make_task("drift", n=2.5), r"n must be an integer"),
    (lambda: make_task("drift", regimes=0), r"regimes must be >= 1"),
    (lambda: make_task("drift", n=3, regimes=4), r"regimes \(4\) must not exceed n \(3\)"),
    (lambda: make_task("drift2d", n_inputs=0), r"n_inputs must be >= 1"),
    (lambda: make_task("qubit", n=-5), r"n must be >= 1"),
    (lambda: make_task("qubit", regimes=0), r"regimes must be >= 1"),
    (lambda: make_task("qubit", sigma=0.0), r"sigma must be > 0"),
    (lambda: make_task("qubit", p_decay=1.5), r"p_decay must be <= 1"),
    (lambda: make_task("drift", noise=-0.1), r"noise must be >= 0"),
    (lambda: make_task("drift", seed=-1), r"seed must be a non-negative integer"),
    (lambda: make_task("drift", n_inputs=2), r"unknown settings \['n_inputs'\] for task 'drift'"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_evaluation_arguments_raise():
    s = _tiny_stream()
    with pytest.raises(ValueError, match="predictions have shape"):
        windowed_metric(s, np.zeros(9))
    with pytest.raises(ValueError, match="fraction must be > 0"):
        windowed_metric(s, np.zeros(10), fraction=0.0)
    with pytest.raises(ValueError, match="fraction must be <= 1"):
        windowed_metric(s, np.zeros(10), fraction=1.5)
    with pytest.raises(ValueError, match="window must be >= 1"):
        running_metric(s, np.zeros(10), window=0)
    with pytest.raises(ValueError, match="inputs outside input_range"):
        Stream("bad", x=[[1.0]], target=[[0.0]], regime=[0], input_range=(-1.0, 1.0), metric="mse")
    with pytest.raises(ValueError, match="metric must be one of"):
        Stream("bad", x=[[0.0]], target=[[0.0]], regime=[0], input_range=(-1.0, 1.0), metric="mae")


def test_qubit_decay_smears_state_one_towards_state_zero():
    # no drift: mu_0 = (-0.3, 0), mu_1 = (+0.3, 0); a decayed |1> shot sits at 0.3 - 0.6 f, f ~ U(0, 1)
    kw = dict(n=6000, rotation=0.0, shift=(0.0, 0.0))
    clean = qubit_readout(p_decay=0.0, **kw)
    ones = clean.x[clean.target[:, 0] == 1]
    assert ones[:, 0].mean() == pytest.approx(0.3, abs=0.01)
    smeared = qubit_readout(p_decay=1.0, **kw)
    ones = smeared.x[smeared.target[:, 0] == 1]
    assert ones[:, 0].mean() == pytest.approx(0.0, abs=0.015)
    assert ones[:, 0].std() == pytest.approx(np.sqrt(0.12**2 + 0.6**2 / 12), abs=0.01)
    zeros = smeared.x[smeared.target[:, 0] == 0]
    assert zeros[:, 0].mean() == pytest.approx(-0.3, abs=0.01)  # |0> shots never decay


def test_drift2d_has_a_multi_output_variant():
    """Issue 13: a model with several outputs needs a task with several outputs. Output 0 is the
    single-output task, sample for sample; output o follows regime function (regime + o) mod 4."""
    one = tasks.make_task("drift2d", n=400, seed=2)
    three = tasks.make_task("drift2d", n=400, seed=2, n_outputs=3)
    assert three.n_outputs == 3 and three.target.shape == (400, 3)
    np.testing.assert_array_equal(three.x, one.x)
    np.testing.assert_array_equal(three.target[:, 0], one.target[:, 0])
    for o in range(3):
        np.testing.assert_allclose(three.target[:, o], tasks.drift_multi_target(three.x, three.regime + o)[:, 0])
    assert not np.allclose(three.target[:, 0], three.target[:, 1])
    with pytest.raises(ValueError, match="n_outputs"):
        tasks.make_task("drift2d", n_outputs=0)


def test_make_task_offset_moves_the_inputs_only():
    """offset: inputs in [lo + offset, hi + offset) (an ADC's unsigned range), targets unchanged."""
    plain, moved = tasks.make_task("qubit", n=500, seed=1), tasks.make_task("qubit", n=500, seed=1, offset=1.0)
    assert moved.input_range == (0.0, 2.0)
    np.testing.assert_array_equal(moved.target, plain.target)
    np.testing.assert_allclose(moved.x, plain.x + 1.0)
    assert moved.x.min() >= 0.0 and moved.x.max() < 2.0
    with pytest.raises(ValueError, match="offset must be a finite number"):
        tasks.make_task("drift", offset=float("inf"))


# -- qubit readout from I/Q traces ---------------------------------------------------------


def test_qubit_trace_inputs_are_windows_and_relaxed_shots_end_at_zero():
    s = qubit_trace(n=6000, windows=4, regimes=1, sigma=0.01, t1=1.0)
    assert s.x.shape == (6000, 8) and s.target.shape == (6000, 1) and s.bayes.shape == (6000,)
    mu0, mu1 = tasks.qubit_trace_centres(1)
    last = s.x[:, -2:]  # the last window's I, Q
    ones = s.target[:, 0] == 1
    at0 = np.linalg.norm(last - mu0[0], axis=1) < 0.12  # 6 noise sd of a window
    assert np.all(at0[~ones])  # |0> shots stay at |0>
    assert 0.5 < np.mean(at0[ones]) < 0.8  # P(relaxed before the last window) = 1 - exp(-3/4) = 0.53, plus part of it
    first = np.linalg.norm(s.x[:, :2] - mu1[0], axis=1) < 0.12
    assert np.mean(first[ones]) > 0.7  # most |1> shots start at |1>


def test_qubit_trace_bayes_accuracy_is_between_chance_and_one_and_matches_its_decisions():
    s = qubit_trace(n=20000, seed=1)
    assert np.all((s.bayes >= 0.5) & (s.bayes <= 1.0))
    limit = float(s.bayes.mean())
    assert 0.6 < limit < 0.99
    p = {k: v for k, v in s.params.items() if k not in ("n", "seed")}
    decision = tasks.qubit_trace_posterior(s.x, s.regime, **p) > 0.5
    hits = decision == (s.target[:, 0] == 1)
    sd = np.sqrt(limit * (1 - limit) / s.n)
    assert abs(hits.mean() - limit) < 4 * sd  # the expected accuracy is the decisions' accuracy
    per_regime = tasks.bayes_accuracy(s)
    assert set(per_regime) == {0, 1, 2, 3} and all(0.6 < v < 0.99 for v in per_regime.values())
    assert tasks.bayes_accuracy(qubit_readout(n=100)) is None


def test_qubit_trace_posterior_quadrature_against_monte_carlo():
    """The likelihood integrated over the relaxation time by quadrature equals a brute-force
    average over 400k drawn relaxation times."""
    s = qubit_trace(n=50, seed=2, regimes=2)
    p = {k: v for k, v in s.params.items() if k not in ("n", "seed")}
    posterior = tasks.qubit_trace_posterior(s.x, s.regime, **p)
    rng = np.random.default_rng(0)
    t = rng.exponential(p["t1"], size=400_000)
    f = tasks._excited_fraction(t, p["windows"])  # (T, W)
    mu0, mu1 = tasks.qubit_trace_centres(p["regimes"], p["separation"], p["rotation"], p["shift"])
    sd = p["sigma"] * np.sqrt(p["windows"])
    for i in range(0, 50, 7):
        r = s.regime[i]
        xw = s.x[i].reshape(-1, 2)
        mean1 = mu0[r] + f[:, :, None] * (mu1[r] - mu0[r])  # (T, W, 2)
        like1 = np.mean(np.exp(-0.5 * np.sum((xw - mean1) ** 2, axis=(1, 2)) / sd ** 2))
        like0 = np.exp(-0.5 * np.sum((xw - mu0[r]) ** 2) / sd ** 2)
        brute = p["p1"] * like1 / (p["p1"] * like1 + (1 - p["p1"]) * like0)
        assert abs(posterior[i] - brute) < 5e-3


def test_qubit_trace_keeps_its_limit_through_head_and_offset():
    s = make_task("qubit_trace", n=500, offset=1.0)
    np.testing.assert_array_equal(s.bayes, make_task("qubit_trace", n=500).bayes)
    assert s.head(10).bayes.shape == (10,)
    with pytest.raises(ValueError, match=r"bayes must have shape \(2,\)"):
        Stream("bad", x=[[0.0], [0.1]], target=[[0.0], [1.0]], regime=[0, 0], input_range=(-1.0, 1.0),
               metric="accuracy", bayes=[0.5])


def test_a_trained_model_stays_below_the_bayes_limit():
    from quantkan.models import KAN
    from quantkan.train import train

    s = make_task("qubit_trace", n=8000, regimes=2)
    result = train(KAN([6, 2, 1], bits=16), s, lr=2.0 ** -5, schedule="sequential", twin=False,
                   show_progress=False)
    bayes = result.bayes()
    for r, fixed, _ in result.per_regime():
        m = 0.2 * 4000
        assert 0.8 < fixed <= bayes[r] + 3 * np.sqrt(bayes[r] * (1 - bayes[r]) / m)


def test_qubit_trace_posterior_in_blocks_is_the_same(monkeypatch):
    s = qubit_trace(n=3000, seed=4)
    monkeypatch.setattr(tasks, "BAYES_CHUNK", 700)  # 5 blocks, the last one short
    np.testing.assert_array_equal(qubit_trace(n=3000, seed=4).bayes, s.bayes)
