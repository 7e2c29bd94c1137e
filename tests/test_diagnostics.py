"""The diagnostics counters of the golden learner (quantkan.diagnostics), against the definitions.

Each expectation is derived from how the scenario is built (coefficients pinned at the type's
maximum, a learning rate too small for the update type, targets beyond the error type),
never copied from a run.
"""

from __future__ import annotations

import numpy as np
import pytest

from quantkan import fixed
from quantkan.diagnostics import COUNTER_BITS, Diagnostics, LayerCounts, hardware_names
from quantkan.fixed import FixedType, Overflow, Rounding
from quantkan.golden import OnlineLearner
from quantkan.models import KAN, MLP


@pytest.mark.parametrize("rounding", list(Rounding))
@pytest.mark.parametrize("overflow", list(Overflow))
def test_cast_flagged_is_cast_and_the_exact_range_test(rounding, overflow):
    """The flag is 'rounded value outside dst' (a SAT cast to a type with room shows it), the value is cast()."""
    rng = np.random.default_rng(1)
    for src, dst in [(FixedType(12, 4), FixedType(6, 2, True, rounding, overflow)),
                     (FixedType(10, 2, False), FixedType(5, 1, True, rounding, overflow)),
                     (FixedType(6, 3), FixedType(9, 2, False, rounding, overflow)),  # adds bits: shift up
                     (FixedType(40, 30), FixedType(8, -20, True, rounding, overflow))]:
        raw = rng.integers(src.min_raw, src.max_raw + 1, 500)
        value, over = fixed.cast_flagged(raw, src, dst)
        np.testing.assert_array_equal(value, fixed.cast(raw, src, dst))
        roomy = FixedType(62, 62 - dst.frac, True, rounding, Overflow.SAT)  # same LSB, no overflow possible
        exact = fixed.cast(raw, src, roomy)
        np.testing.assert_array_equal(over, (exact > dst.max_raw) | (exact < dst.min_raw))


def pinned_kan(**types) -> KAN:
    """A [2, 1] KAN whose coefficients all sit at the coefficient type's maximum."""
    model = KAN([2, 1], grid=(-1.0, 1.0, 4), order=2, bits=10, types=types or None, seed=0)
    model.coefficients[0][...] = model.types.coef.max_raw
    return model


def test_outputs_that_overflow_are_counted_on_every_sample():
    # every basis row sums to 1, so each edge gives c_max (~4) and y ~ 8: beyond an output of range +-2
    model = pinned_kan(coef="ap_fixed<10,3,AP_RND,AP_SAT>", output="ap_fixed<10,2,AP_RND,AP_SAT>")
    learner = OnlineLearner(model, lr=2.0 ** -20)
    rng = np.random.default_rng(0)
    learn = rng.random(40) < 0.5
    for n in range(40):
        learner.step(rng.uniform(-1, 1, 2), [0.0], learn=bool(learn[n]))
    d = learner.diagnostics()
    assert (d.samples, d.learned) == (40, int(learn.sum()))
    assert d.layers[0].out_sat == 40  # learning or not
    assert d.layers[0].updates == d.learned * 2 * 3  # 2 edges, S+1 = 3 lanes each


def test_writes_beyond_the_coefficient_type_count_as_parameter_saturation():
    # y = c_max * 2 edges is far below a target of the output type's top: e < 0, so the delta is
    # negative and c_max - delta overflows exactly for the lanes whose delta is not zero
    model = pinned_kan(coef="ap_fixed<10,3,AP_RND,AP_SAT>", output="ap_fixed<12,6,AP_RND,AP_SAT>")
    learner = OnlineLearner(model, lr=2.0 ** -2)
    rng = np.random.default_rng(1)
    for _ in range(30):
        learner.step(rng.uniform(-1, 1, 2), [31.0])
    learner.flush()
    c = learner.diagnostics().layers[0]
    assert c.attempted > 0 and c.param_sat == c.attempted - c.zero > 0
    assert (model.coefficients[0] == model.types.coef.max_raw).all()  # saturated, not wrapped


def test_a_learning_rate_below_the_update_lsb_freezes_and_is_reported():
    model = KAN([1, 1], grid=(-1.0, 1.0, 8), bits=8, seed=0)
    learner = OnlineLearner(model, lr=2.0 ** -12)  # lr * e * B far below the 8-bit update's LSB
    rng = np.random.default_rng(2)
    for _ in range(200):
        learner.step(rng.uniform(-1, 1, 1), [rng.uniform(-1, 1)])
    d = learner.diagnostics()
    c = d.layers[0]
    assert c.attempted > 100 and c.zero == c.attempted
    assert d.frozen(0) and "layer 0 is frozen" in d.warnings()[0]
    healthy = OnlineLearner(KAN([1, 1], grid=(-1.0, 1.0, 8), bits=16, seed=0), lr=2.0 ** -3)
    for _ in range(200):
        healthy.step(rng.uniform(-1, 1, 1), [rng.uniform(-1, 1)])
    assert not healthy.diagnostics().frozen(0) and healthy.diagnostics().warnings() == []


def test_error_overflow_is_counted_for_the_layer_that_learns_from_it(monkeypatch):
    """Output error: y - target beyond the error type; hidden error: the backpropagated sum, by the layer below."""
    model = KAN([1, 2, 1], bits=12, types={"error": "ap_fixed<12,1,AP_RND,AP_SAT>"}, seed=0)
    learner = OnlineLearner(model, lr=2.0 ** -8)
    back_t = learner.pipeline.layers[1].back_t
    seen = []
    real = fixed.cast_flagged

    def spy(raw, src, dst):  # watch the hidden error cast directly
        value, over = real(raw, src, dst)
        if src == back_t and dst == model.types.error:
            seen.append(int(over.sum()))
        return value, over

    monkeypatch.setattr(fixed, "cast_flagged", spy)
    rng = np.random.default_rng(3)
    targets = rng.choice([-5.0, 0.0, 5.0], 50)
    for t in targets:
        learner.step(rng.uniform(-1, 1, 1), [t])
    d = learner.diagnostics()
    # the output stays near 0 (small init, tiny lr): |y - target| ~ 5 > 1 overflows, ~0 does not
    assert d.layers[1].err_sat == int((targets != 0).sum())
    assert len(seen) == 50 and d.layers[0].err_sat == sum(seen)


def test_wrap_types_count_overflow_too():
    model = pinned_kan(coef="ap_fixed<10,3,AP_RND,AP_WRAP>", output="ap_fixed<10,2,AP_RND,AP_WRAP>")
    learner = OnlineLearner(model, lr=2.0 ** -20)
    for x in np.linspace(-1, 1, 9):
        learner.step([x, -x], [0.0], learn=False)
    assert learner.diagnostics().layers[0].out_sat == 9


def test_mlp_counts_weights_and_biases_together():
    model = MLP([2, 3, 1], bits=8, seed=0)
    learner = OnlineLearner(model, lr=2.0 ** -14)
    rng = np.random.default_rng(4)
    for _ in range(60):
        learner.step(rng.uniform(-1, 1, 2), [rng.uniform(-1, 1)])
    d = learner.diagnostics()
    assert d.lanes == [2 * 3 + 3, 3 * 1 + 1]
    assert [c.updates for c in d.layers] == [60 * 9, 60 * 4]
    assert d.layers[1].attempted > 0 and d.layers[1].zero == d.layers[1].attempted
    assert d.max_abs[0] == max(np.abs(model.types.weight.to_float(model.weights[0])).max(),
                               np.abs(model.types.bias.to_float(model.biases[0])).max())


def test_hardware_view_saturates_and_clears():
    d = Diagnostics(20, 7, [LayerCounts(attempted=40, zero=3, updates=50)], [4], [1])
    assert d.hardware(bits=5) == [20, 7, 31, 3, 0, 0, 0]
    assert d.hardware() == [20, 7, 40, 3, 0, 0, 0] and COUNTER_BITS == 32
    assert hardware_names(1) == ["samples", "learned", "l0.attempted", "l0.zero", "l0.param_sat", "l0.out_sat",
                                 "l0.err_sat"]
    learner = OnlineLearner(KAN([1, 1], seed=0))
    learner.step([0.3], [0.5])
    learner.clear_counters()
    assert learner.diagnostics().hardware() == [0] * 7
    window = Diagnostics(50, 17, [LayerCounts(attempted=140, zero=103, updates=200)], [4], [1]).since(d)
    assert (window.samples, window.layers[0].attempted, window.layers[0].zero) == (30, 100, 100)
    assert window.frozen(0)


def test_train_reports_saturation_of_a_diverging_learner():
    """The issue's case: a [2, 5, 1] KAN on drift2d at lr 2**-2 with D = 14 diverges into saturation;
    at D = 0 the same run is not reported."""
    from quantkan.train import build_run, train

    for delay, saturating in ((14, True), (0, False)):
        model, stream, learning = build_run({}, {"task": {"name": "drift2d", "n": 3000},
                                                 "learning": {"lr": 0.25, "delay": delay}})
        result = train(model, stream, lr=0.25, delay=delay, twin=False, show_progress=False)
        d = result.diagnostics
        assert d.samples == d.learned == 3000 and d.layers[0].updates == 3000 * d.lanes[0]
        assert bool(d.saturating(0)) == saturating, d.saturation(0)
        assert any("is saturating" in w for w in result.warnings()) == saturating
        assert result.metrics()["diagnostics"]["layers"][0]["param_sat"] == d.layers[0].param_sat
