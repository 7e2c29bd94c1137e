"""hls4ml as an external oracle for the MLP import: same QKeras model, hls4ml's compiled C
simulation vs quantkan's golden forward pass, bit for bit on raw integers.

hls4ml reads the QKeras quantizers itself (weights quantized by QKeras, activation types
from its own quantizer mapping), so a broken mapping in quantkan.keras.quantizers shows up
as mismatches: the last test breaks it on purpose and requires them.
"""

from __future__ import annotations

import numpy as np
import pytest

import quantkan.keras.quantizers as quantizers
from qkeras_models import TUTORIAL_TYPES, full_chain, tutorial_style
from quantkan.fixed import FixedType, Rounding
from quantkan.golden import OnlineLearner
from quantkan.keras import convert, from_qkeras
from quantkan.keras.hls4ml_convert import golden_predict_raw, predict_raw

N = 4000
MODELS = {"full_chain": (full_chain, None), "tutorial_style": (tutorial_style, TUTORIAL_TYPES)}


def inputs(mlp, n: int = N, seed: int = 0) -> np.ndarray:
    """Raw inputs over the whole input range and beyond it, plus the extreme raw values."""
    t = mlp.types.input
    x = t.quantize(np.random.default_rng(seed).uniform(1.2 * t.min, 1.2 * t.max, (n, mlp.layers[0])))
    x[:3] = [[t.min_raw], [0], [t.max_raw]]
    return x


def mismatches(hls_model, mlp, x_raw: np.ndarray) -> int:
    """Outputs that differ from the golden model's (or are not even values of its output type)."""
    t = mlp.types.output
    y = np.asarray(hls_model.predict(np.ascontiguousarray(mlp.types.input.to_float(x_raw))), np.float64)
    scaled = np.ldexp(y.reshape(len(x_raw), -1), t.frac)
    golden = golden_predict_raw(mlp, x_raw)
    return int(np.sum((scaled != np.round(scaled)) | (scaled != golden)))


@pytest.fixture(scope="module", params=sorted(MODELS))
def converted(request, tmp_path_factory):
    build, types = MODELS[request.param]
    keras_model = build()
    mlp = from_qkeras(keras_model, types=types)
    hls_model = convert(keras_model, mlp, tmp_path_factory.mktemp(request.param) / "prj")
    hls_model.compile()
    return request.param, keras_model, mlp, hls_model


def test_hls4ml_equals_golden_forward(converted, hls4ml_count):
    name, _, mlp, hls_model = converted
    x = inputs(mlp)
    y_hls, y_golden = predict_raw(hls_model, mlp, x), golden_predict_raw(mlp, x)
    assert y_hls.shape == (N, mlp.layers[-1])
    assert np.array_equal(y_hls, y_golden), f"{int(np.sum(y_hls != y_golden))} of {y_hls.size} outputs differ"
    hls4ml_count("MLP", N)
    # The comparison is only as good as what it exercises: ReLU zeros, saturated activations
    # and outputs, and many distinct values.
    first = OnlineLearner(mlp).pipeline.layers[0]
    hidden = np.array([first.forward(xi)[0] for xi in x])
    assert (hidden == 0).any() and (hidden == mlp.types.activation.max_raw).any()
    out_t = mlp.types.output
    assert ((y_golden == out_t.max_raw) | (y_golden == out_t.min_raw)).any() or name == "tutorial_style"
    assert len(np.unique(y_golden)) > N // 4


def test_config_sets_what_identity_needs(converted):
    """The precisions quantkan adds to hls4ml's own (see quantkan.keras.hls4ml_convert)."""
    _, keras_model, mlp, hls_model = converted
    layers = {layer.name: layer for layer in hls_model.get_layers()}
    golden = OnlineLearner(mlp).pipeline.layers
    dense = [l for l in keras_model.layers if type(l).__name__ == "QDense"]

    def shape(precision) -> tuple:
        return precision.width, precision.integer, precision.signed

    for layer, g in zip(dense, golden):
        node = layers[layer.name]
        exact = (g.acc_t.width, g.acc_t.integer, True)
        assert shape(node.get_attr("accum_t").precision) == exact
        out_t = g.acc_t if g.relu else g.out_t
        assert shape(node.get_output_variable().type.precision) == (out_t.width, out_t.integer, out_t.signed)
    t = mlp.types.input
    assert shape(hls_model.get_input_variables()[0].type.precision) == (t.width, t.integer, t.signed)


BREAKS = {
    "relu rounds down": lambda t: t.with_modes(rounding=Rounding.TRN) if not t.signed else t,
    "relu one integer bit more": lambda t: FixedType(t.width, t.integer + 1, False, t.rounding, t.overflow)
    if not t.signed else t,
    "quantized_bits without the sign bit": lambda t: t.scaled(-1) if t.signed else t,
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_oracle_catches_a_broken_quantizer_mapping(name, monkeypatch, tmp_path):
    original = quantizers.quantizer_type
    monkeypatch.setattr(quantizers, "quantizer_type", lambda q, where="quantizer": BREAKS[name](original(q, where)))
    keras_model = full_chain()
    mlp = from_qkeras(keras_model)
    hls_model = convert(keras_model, mlp, tmp_path / "prj")
    hls_model.compile()
    assert mismatches(hls_model, mlp, inputs(mlp, 1000)) > 0
