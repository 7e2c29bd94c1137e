"""quantkan.train learns with the hardware's update delay: the RTL generator's D by default,
D = 0 for the sequential schedule, an explicit delay winning, and a warning when D costs."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from quantkan.cli import main
from quantkan.models import KAN, MLP
from quantkan.rtl.export import learner_timing
from quantkan.tasks import make_task
from quantkan.train import DELAY_COST_LIMIT, build_run, hardware_delays, train


def k241() -> KAN:
    return KAN([2, 4, 1], grid=(-1.0, 1.0, 8), bits=16)


@pytest.mark.parametrize("make", [k241, lambda: MLP([2, 8, 1], bits=12)], ids=["kan", "mlp"])
def test_default_delay_is_the_generators(make):
    stream = make_task("drift2d", n=300)
    result = train(make(), stream, lr=2.0 ** -4, twin=False, show_progress=False, engine="numpy")
    assert result.delays == learner_timing(make(), "pipelined", lr=2.0 ** -4).delays
    assert result.delays[0] > result.delays[1] > 0 and result.schedule == "pipelined"
    assert result.undelayed is not None and result.delay_cost() is not None


def test_sequential_is_plain_sgd_and_an_explicit_delay_wins():
    stream = make_task("drift2d", n=200)
    seq = train(k241(), stream, schedule="sequential", twin=False, show_progress=False)
    assert seq.delays == [0, 0] and seq.undelayed is None and seq.delay_cost() is None
    given = train(k241(), stream, delay=[3, 1], twin=False, show_progress=False)
    assert given.delays == [3, 1] and given.schedule is None and given.delay_source == "given"
    with pytest.raises(ValueError, match="schedule must be one of"):
        train(k241(), stream, schedule="fast", show_progress=False)


def test_a_config_targets_the_pipelined_hardware_unless_it_says_otherwise():
    config = {"model": {"kind": "kan", "layers": [2, 4, 1]}, "task": {"name": "drift2d", "n": 50}}
    _, _, learning = build_run(config, {})
    assert learning["schedule"] == "pipelined" and learning["delay"] is None
    _, _, learning = build_run({**config, "learning": {"schedule": "sequential", "delay": 2}}, {})
    assert learning["schedule"] == "sequential" and learning["delay"] == 2
    with pytest.raises(ValueError, match=r"\[learning\] schedule must be one of 'pipelined', 'sequential'"):
        build_run({**config, "learning": {"schedule": "both"}}, {})


def test_without_amaranth_training_falls_back_to_d0_and_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "quantkan.rtl.export", None)  # import quantkan.rtl.export fails
    with pytest.raises(ImportError):
        hardware_delays(k241())
    assert hardware_delays(k241(), "sequential") == [0, 0]  # needs no generator
    result = train(k241(), make_task("drift2d", n=50), twin=False, show_progress=False)
    assert result.delays == [0, 0] and "Amaranth is not installed" in result.delay_source
    assert "learning with D = 0" in capsys.readouterr().err


def _kan241_config(tmp_path, lr: float) -> str:
    path = tmp_path / "k241.toml"
    path.write_text(f"[model]\nkind = 'kan'\nlayers = [2, 4, 1]\nbits = 16\n[model.types]\n"
                    f"coef = 'ap_fixed<16,3,AP_RND_CONV,AP_SAT>'\n"
                    f"[learning]\nlr = {lr}\nrounding = 'stochastic'\n[task]\nname = 'drift2d'\n")
    return str(path)


def test_train_warns_where_the_delay_costs_and_records_it(tmp_path, capsys):
    """The issue's case: the [2, 4, 1] KAN on drift2d, 16-bit, stochastic rounding; at lr 2^-3 its
    pipelined D costs far more than 1.5x (measured 19.6x), at 2^-6 it does not."""
    out = tmp_path / "m.qkan"
    assert main(["train", _kan241_config(tmp_path, 0.125), "--quiet", "--no-twin", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    d = learner_timing(k241(), "pipelined", lr=0.125, rounding="stochastic").delays
    assert f"update delay D = {d} per layer (the RTL generator's, pipelined schedule" in captured.out
    assert f"more than {DELAY_COST_LIMIT}x" in captured.err and "warning" in captured.err
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["learning"]["schedule"] == "pipelined" and record["learning"]["delay"] == d
    assert record["results"]["delay"] == d and record["results"]["delay_cost"] > DELAY_COST_LIMIT
    assert all("fixed_at_d0" in r for r in record["results"]["regimes"])

    assert main(["train", _kan241_config(tmp_path, 2.0 ** -6), "--quiet", "--no-twin"]) == 0
    captured = capsys.readouterr()
    assert "at D = 0 (" in captured.out and "warning" not in captured.err


def test_command_line_schedule_and_delay(capsys):
    args = ["train", "--task", "drift2d", "--n", "100", "--quiet", "--no-twin"]
    assert main([*args, "--schedule", "sequential"]) == 0
    assert "update delay D = [0, 0] per layer" in capsys.readouterr().out
    assert main([*args, "--schedule", "sequential", "--delay", "2"]) == 0
    assert "update delay D = [2, 2] per layer (given)" in capsys.readouterr().out


def test_train_prints_the_bayes_limit_of_a_task_that_knows_it(tmp_path, capsys):
    out = tmp_path / "m.qkan"
    assert main(["train", "--task", "qubit_trace", "--n", "2000", "--quiet", "--schedule", "sequential",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Bayes limit" in text and "Bayes-optimal accuracy" in text
    regimes = json.loads(out.with_suffix(".json").read_text())["results"]["regimes"]
    assert all(0.5 < r["bayes"] < 1.0 for r in regimes)
    assert main(["train", "--task", "qubit", "--n", "500", "--quiet", "--schedule", "sequential"]) == 0
    assert "Bayes" not in capsys.readouterr().out


# -- defaults chosen from the task -----------------------------------------------------------


def test_coefficient_range_follows_the_tasks_targets():
    from quantkan.tasks import Stream
    from quantkan.train import coef_range_for

    def targets(t: float) -> Stream:
        return Stream("t", x=[[0.0], [0.5]], target=[[t], [-t / 2]], regime=[0, 0], input_range=(-1.0, 1.0),
                      metric="mse")
    assert coef_range_for(make_task("drift", n=500)) == 2.0  # targets reach 1: +-2, one bit under the old +-4
    assert coef_range_for(make_task("drift", n=500, noise=1.0)) == 2.0  # clipped to 1.5
    assert [coef_range_for(targets(t)) for t in (0.3, 0.8, 3.0)] == [0.5, 1.0, 4.0]
    config = {"model": {"kind": "kan", "layers": [1, 1], "bits": 8}, "task": {"name": "drift", "n": 50}}
    model, _, _ = build_run(config, {})
    assert str(model.types.coef) == "ap_fixed<8,2,AP_RND_CONV,AP_SAT>" and model.types.update.integer == 2
    model, _, _ = build_run({**config, "model": {**config["model"], "coef_range": 4.0}}, {})
    assert model.types.coef.integer == 3  # the config's own range wins
    model, _, _ = build_run({**config, "model": {**config["model"], "types": {"coef": "ap_fixed<8,4>"}}}, {})
    assert model.types.coef.integer == 4 and model.types.update.integer == 3  # as does its own type
    model, _, _ = build_run(config, {"kind": "mlp"})
    assert model.kind == "mlp"  # an MLP has no coefficient range
    with pytest.raises(ValueError, match="coef_range must be a number in"):
        KAN([1, 1], coef_range=0.0)


def test_a_diverging_float_twin_reads_nan_instead_of_ending_the_run():
    """A twin whose parameters overflowed (too large an lr or D, where fixed point saturates)
    hands NaN to a grid, which raises: from then on it predicts NaN; a twin with finite
    parameters that raises is a real error and is not hidden."""
    from quantkan.train import _Twin

    class Overflowed:
        def __init__(self, params):
            self.params, self.calls = params, 0

        def step(self, x, target):
            self.calls += 1
            if self.calls == 1:
                return np.array([np.inf])
            raise ValueError("cannot locate NaN on the spline grid")

    twin = _Twin(Overflowed([np.array([np.nan])]))
    assert np.isnan(twin.step([0.0], [0.0])).all() and twin.diverged  # non-finite output: diverged
    assert np.isnan(twin.step([0.0], [0.0])).all() and twin.learner.calls == 1  # no longer stepped
    raising = _Twin(Overflowed([np.array([1.0])]))
    raising.learner.calls = 1
    with pytest.raises(ValueError, match="cannot locate NaN"):
        raising.step([0.0], [0.0])
    raising = _Twin(Overflowed([np.array([np.inf])]))
    raising.learner.calls = 1
    assert np.isnan(raising.step([0.0], [0.0])).all()
