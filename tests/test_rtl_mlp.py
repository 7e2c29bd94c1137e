"""The Amaranth MLP learner against the golden model, in amaranth.sim: bit for bit.

The same scoreboard as the KAN learner's (:mod:`quantkan.rtl.verify`): every output and,
after draining, every weight and bias read back through the parameter port must equal
the golden learner run with the D the generator reports, at the samples' arrival cycles.
"""

from __future__ import annotations

import numpy as np
import pytest

from quantkan.models import MLP
from quantkan.rtl import pipeline, simulate, update, verify
from quantkan.rtl.kan import timing_of as kan_timing_of
from quantkan.rtl.mlp import MLPLearner


def compare(make, schedule: str, n: int, seed: int = 0, lr: float | list[float] = 2.0 ** -4, rounding: str = "type",
            gaps: bool = False, checkpoints: int = 2, pipeline: str = "deep") -> tuple[verify.Score, MLPLearner]:
    model = make()
    dut = MLPLearner(model, schedule=schedule, lr=lr, rounding=rounding, seed=seed, pipeline=pipeline)
    drive = verify.random_drive(model, n, seed=seed, gaps=gaps, checkpoints=checkpoints)
    observed = simulate.run(dut, drive)
    return verify.score(make(), drive, observed, dut.timing.delays, lr, rounding, seed), dut


def assert_exact(r: verify.Score, timing, *context) -> None:
    assert r.output_mismatches == 0 and r.coefficient_mismatches == 0, (*context, r)
    assert r.counter_mismatches == 0 and r.counters_compared > 0, (*context, r)  # the diagnostics counters
    assert r.latency_constant and r.latency == timing.latency, (r, timing)


def mlp_281():
    return MLP([2, 8, 1], bits=16, seed=1)


@pytest.mark.parametrize("schedule,rounding,gaps,lr,pipeline", [
    ("pipelined", "type", False, 2.0 ** -4, "deep"), ("pipelined", "stochastic", True, 2.0 ** -4, "deep"),
    ("pipelined", "type", True, 0.1, "deep"), ("sequential", "type", False, 2.0 ** -4, "deep"),
    ("pipelined", "stochastic", True, 0.1, "shallow"), ("sequential", "type", False, 2.0 ** -4, "shallow"),
    ("pipelined", "stochastic", True, [2.0 ** -5, 0.1], "deep"),
    ("sequential", "type", False, [0.1, 2.0 ** -3], "deep"), ("pipelined", "stochastic", True, 0.1, "deeper")])
def test_default_shape_bit_exact(schedule, rounding, gaps, lr, pipeline):
    r, dut = compare(mlp_281, schedule, n=100 if schedule == "sequential" else 300, rounding=rounding, gaps=gaps,
                     lr=lr, pipeline=pipeline)
    assert_exact(r, dut.timing)
    assert r.changed > 0  # the learner did learn: the comparison is not of untouched registers
    assert r.ii == dut.timing.ii


def test_timing_of_the_default_shape():
    """II = 1 pipelined, D = 0 sequential, the first layer written last; the step is no longer
    than the KAN [2, 4, 1]'s plus 2 cycles (the issue's target)."""
    pipe, seq = (MLPLearner(mlp_281(), schedule) for schedule in ("pipelined", "sequential"))
    for dut in (pipe, seq):
        dut._MustUse__silence = True  # built only to be measured
    pipe, seq = pipe.timing, seq.timing
    assert pipe.ii == 1 and seq.ii == max(pipe.pipeline_delays) + 1
    assert seq.delays == [0, 0] and pipe.delays == pipe.pipeline_delays
    assert pipe.pipeline_delays[0] > pipe.pipeline_delays[1] > 0
    from quantkan.models import KAN
    assert pipe.step <= kan_timing_of(KAN([2, 4, 1], grid=(-1.0, 1.0, 8), order=3, bits=16)).step + 2


def test_unsigned_hidden_type_and_acc():
    """ReLU outputs in an ap_ufixed, a separate accumulator type, a deeper net."""
    def make():
        return MLP([3, 4, 3, 2], bits=12, seed=3, types={
            "hidden": "ap_ufixed<10,2,AP_RND_CONV,AP_SAT>", "acc": "ap_fixed<20,6,AP_RND,AP_SAT>",
            "bias": "ap_fixed<14,3,AP_RND_CONV,AP_SAT>"})
    r, dut = compare(make, "pipelined", n=250, gaps=True)
    assert_exact(r, dut.timing)
    assert r.changed > 0


def _random_mlp(rng: np.random.Generator):
    """Shapes up to [3, 8, 8, 2], widths 6..18, mixed rounding and overflow modes."""
    bits = int(rng.integers(6, 19))
    rnd = str(rng.choice(["AP_TRN", "AP_RND", "AP_RND_CONV", "AP_RND_ZERO", "AP_TRN_ZERO", "AP_RND_INF"]))
    ovf = str(rng.choice(["AP_SAT", "AP_WRAP", "AP_SAT_SYM", "AP_SAT_ZERO"]))
    layers = [int(rng.integers(1, 4))] + [int(rng.integers(1, 9)) for _ in range(int(rng.integers(0, 3)))]
    layers.append(int(rng.integers(1, 3)))
    types = {"weight": f"ap_fixed<{bits},2,{rnd},{ovf}>", "bias": f"ap_fixed<{bits},2,{rnd},{ovf}>",
             "update": f"ap_fixed<{bits},2,{rnd},{ovf}>", "error": f"ap_fixed<{bits},3,{rnd},{ovf}>",
             "output": f"ap_fixed<{bits},3,{rnd},AP_SAT>"}
    if rng.random() < 0.3:
        types["hidden"] = f"ap_ufixed<{bits},2,{rnd},{ovf}>"
    if rng.random() < 0.3:
        types["acc"] = f"ap_fixed<{bits + 4},5,{rnd},{ovf}>"
    seed = int(rng.integers(1000))
    return (lambda: MLP(layers, bits=bits, types=types, seed=seed),
            float(rng.choice([2.0 ** -2, 2.0 ** -5, 0.1])), str(rng.choice(["type", "stochastic"])))


def check_random(seed: int, n: int = 200) -> None:
    rng = np.random.default_rng(900 + seed)
    make, lr, rounding = _random_mlp(rng)
    schedule = "sequential" if seed % 4 == 3 else "pipelined"
    r, dut = compare(make, schedule, n=n, seed=seed, lr=lr, rounding=rounding, gaps=bool(seed % 2))
    assert_exact(r, dut.timing, make(), lr, rounding, schedule)


@pytest.mark.parametrize("seed", range(6))
def test_random_configurations_bit_exact(seed):
    check_random(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6, 40))
def test_more_random_configurations_bit_exact(seed):
    check_random(seed, n=400)


def _mutant(real, broken):
    """A cast that rounds differently (truncates, or rounds a truncation) whenever ``broken(dst)``."""
    def wrong(m, value, src, dst):
        if broken(dst):
            dst = dst.with_modes(rounding="AP_TRN" if dst.rounding.value != "AP_TRN" else "AP_RND")
        return real(m, value, src, dst)
    return wrong


def test_a_wrong_rounding_in_the_weight_update_is_caught(monkeypatch):
    def make():
        return MLP([2, 3, 1], bits=10, seed=2, types={"update": "ap_fixed<14,2,AP_RND_CONV,AP_SAT>"})
    assert compare(make, "pipelined", n=150)[0].coefficient_mismatches == 0
    monkeypatch.setattr(update, "cast_expr", _mutant(update.cast_expr, lambda dst: True))
    r = compare(make, "pipelined", n=150)[0]
    assert r.coefficient_mismatches > 0


def test_a_wrong_rounding_of_the_hidden_activation_is_caught(monkeypatch):
    def make():
        return MLP([2, 3, 1], bits=10, seed=2, types={"hidden": "ap_ufixed<9,2,AP_RND_CONV,AP_SAT>"})
    hidden = make().types.hidden
    assert compare(make, "pipelined", n=150)[0].output_mismatches == 0
    monkeypatch.setattr(pipeline, "cast_expr", _mutant(pipeline.cast_expr, lambda dst: dst == hidden))
    r = compare(make, "pipelined", n=150)[0]
    assert r.output_mismatches > 0


def test_bad_arguments():
    from quantkan.models import KAN
    with pytest.raises(TypeError, match="MLPLearner needs an MLP model, not KAN"):
        MLPLearner(KAN([1, 1]))
    with pytest.raises(ValueError, match="schedule must be one of"):
        MLPLearner(mlp_281(), schedule="fast")
