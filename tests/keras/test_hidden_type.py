"""The MLP's optional unsigned hidden type (what QKeras' quantized_relu gives): the HLS
backend must still reproduce the golden model bit for bit with it."""

from __future__ import annotations

import numpy as np

from quantkan.golden import OnlineLearner
from quantkan.models import MLP
from test_hls import compare, task_samples

HIDDEN = "ap_ufixed<8,2,AP_RND_CONV,AP_SAT>"


def test_default_hidden_is_the_input_type():
    model = MLP([2, 4, 1], bits=10)
    assert model.types.hidden is None and model.types.activation == model.types.input


def test_hidden_type_types_the_relu_outputs():
    model = MLP([2, 6, 1], bits=12, types={"hidden": HIDDEN})
    learner = OnlineLearner(model)
    first, last = learner.pipeline.layers
    assert str(first.out_t) == HIDDEN and str(last.in_t) == HIDDEN
    assert first.in_t == model.types.input


def test_hls_matches_golden_with_unsigned_hidden(tmp_path):
    model = MLP([2, 6, 3, 1], bits=12, seed=3, types={"hidden": HIDDEN})
    x, t = task_samples("drift2d", 400, seed=1)
    result = compare(model, 2.0 ** -4, "stochastic", tmp_path / "prj", x, t, seed=2)
    assert result.ok and result.samples == 400, result.summary()
    assert result.parameters_compared > 0 and result.changed > 0  # the comparison saw a learner that learned
    assert "qk_hidden_t h0[6]" in (tmp_path / "prj" / "firmware" / "quantkan_top.cpp").read_text()


def test_hidden_type_changes_the_result():
    """Guards the test above: an unsigned 8-bit hidden type really is a different model."""
    x, t = task_samples("drift2d", 200, seed=1)
    ys = []
    for types in (None, {"hidden": HIDDEN}):
        model = MLP([2, 6, 3, 1], bits=12, seed=3, types=types)
        learner = OnlineLearner(model, lr=2.0 ** -4)
        ys.append(np.array([learner.step(a, b) for a, b in zip(x, t)]))
    assert not np.array_equal(*ys)
