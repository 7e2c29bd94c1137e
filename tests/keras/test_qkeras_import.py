"""QKeras -> quantkan MLP: quantizer types, weights as QKeras quantizes them, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QDense, quantized_bits, quantized_po2, quantized_relu, quantized_tanh

from qkeras_models import TUTORIAL_TYPES, full_chain, qdense, tutorial_style
from quantkan.keras import from_qkeras, quantizer_type, to_qkeras
from quantkan.keras.hls4ml_convert import golden_predict_raw
from quantkan.models import MLP


@pytest.mark.parametrize("quantizer, expected", [
    (quantized_bits(8, 1, alpha=1), "ap_fixed<8,2,AP_RND_CONV,AP_SAT>"),
    (quantized_bits(6, 0), "ap_fixed<6,1,AP_RND_CONV,AP_SAT>"),  # alpha=None is a scale of 1
    (quantized_bits(16, 0, alpha=1.0), "ap_fixed<16,1,AP_RND_CONV,AP_SAT>"),
    (quantized_bits(4, 3, alpha=1), "ap_fixed<4,4,AP_RND_CONV,AP_SAT>"),
    (quantized_relu(6), "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"),
    (quantized_relu(8, 3), "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"),
])
def test_quantizer_types(quantizer, expected):
    assert str(quantizer_type(quantizer)) == expected


@pytest.mark.parametrize("quantizer", [
    quantized_bits(8, 1, alpha=1), quantized_bits(6, 0), quantized_bits(10, 3, alpha=1), quantized_bits(5, 4),
    quantized_relu(6), quantized_relu(8, 3), quantized_relu(7, 7),
])
def test_type_holds_exactly_what_qkeras_gives(quantizer):
    """QKeras itself is the reference here: its outputs, on values spanning beyond the range
    and every half-LSB tie, equal FixedType.quantize (round half to even, saturate)."""
    t = quantizer_type(quantizer)
    rng = np.random.default_rng(0)
    span = 1.5 * max(abs(t.min), t.max)
    ties = (np.arange(t.min_raw - 8, t.max_raw + 8) + 0.5) * t.lsb
    x = np.concatenate([rng.uniform(-span, span, 20000), ties]).astype(np.float32)
    want = quantizer(tf.constant(x)).numpy().astype(np.float64)
    assert np.array_equal(t.to_float(t.quantize(x.astype(np.float64))), want)


@pytest.mark.parametrize("quantizer, named", [
    (quantized_tanh(8), "quantized_tanh"),
    (quantized_po2(4), "quantized_po2"),
    (quantized_bits(8, 1, alpha="auto"), "alpha='auto'"),
    (quantized_bits(8, 1, alpha="auto_po2"), "alpha='auto_po2'"),
    (quantized_bits(8, 1, alpha=0.5), "alpha=0.5"),
    (quantized_bits(8, 1, alpha=1, use_stochastic_rounding=True), "use_stochastic_rounding"),
    (quantized_bits(8, 1, alpha=1, keep_negative=False), "keep_negative=False"),
    (quantized_bits(8, 1, alpha=1, symmetric=1), "symmetric"),
    (quantized_bits(8, 8, alpha=1), "integer=8"),
    (quantized_bits(8, -1, alpha=1), "integer=-1"),
    (quantized_relu(8, 2, negative_slope=0.25), "negative_slope"),
    (quantized_relu(8, 2, relu_upper_bound=1.0), "relu_upper_bound"),
    (quantized_relu(8, 2, use_sigmoid=1), "use_sigmoid"),
])
def test_unsupported_quantizers_are_named(quantizer, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        quantizer_type(quantizer, "layer 'q'")


def test_from_qkeras_types_and_weights():
    model = full_chain()
    mlp = from_qkeras(model)
    ty = mlp.types
    assert mlp.layers == [3, 16, 8, 2]
    assert (str(ty.input), str(ty.output)) == ("ap_fixed<12,2,AP_RND_CONV,AP_SAT>", "ap_fixed<14,4,AP_RND_CONV,AP_SAT>")
    assert (str(ty.weight), str(ty.bias)) == ("ap_fixed<8,2,AP_RND_CONV,AP_SAT>",) * 2
    assert str(ty.hidden) == "ap_ufixed<8,2,AP_RND_CONV,AP_SAT>"
    assert str(ty.error) == "ap_fixed<15,5,AP_RND_CONV,AP_SAT>" and ty.update == ty.weight
    for l, name in enumerate(("fc1", "fc2", "fc3")):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        assert np.array_equal(ty.weight.to_float(mlp.weights[l]).T, layer.kernel_quantizer_internal(kernel).numpy())
        assert np.array_equal(ty.bias.to_float(mlp.biases[l]), layer.bias_quantizer_internal(bias).numpy())
    assert any((w == ty.weight.max_raw).any() for w in mlp.weights)  # clipping was exercised


def test_missing_ends_come_from_types():
    with pytest.raises(ValueError, match="does not quantize its input.*types="):
        from_qkeras(tutorial_style())
    mlp = from_qkeras(tutorial_style(), types={**TUTORIAL_TYPES, "update": "ap_fixed<12,1,AP_RND_CONV,AP_SAT>"})
    assert str(mlp.types.output) == TUTORIAL_TYPES["output"] and mlp.types.update.width == 12
    with pytest.raises(ValueError, match=r"\['weight'\] come from the model's quantizers"):
        from_qkeras(tutorial_style(), types={**TUTORIAL_TYPES, "weight": "ap_fixed<8,2>"})
    with pytest.raises(ValueError, match="unknown type names"):
        from_qkeras(tutorial_style(), types={**TUTORIAL_TYPES, "hiden": "ap_ufixed<8,2>"})


def _seq(*layers):
    return tf.keras.Sequential([tf.keras.layers.Input((2,)), *layers])


@pytest.mark.parametrize("build, message", [
    (lambda: _seq(qdense(4, 8, 1, "a"), tf.keras.layers.Dropout(0.1, name="drop"), qdense(1, 8, 1, "b")),
     "layer 'drop' \\(Dropout\\) is not supported"),
    (lambda: _seq(tf.keras.layers.Dense(4, name="float"), QActivation(quantized_relu(8, 2)), qdense(1, 8, 1, "b")),
     "layer 'float' \\(Dense\\) is not supported"),
    (lambda: _seq(QDense(4, kernel_quantizer=quantized_bits(8, 1, alpha=1),
                         bias_quantizer=quantized_bits(8, 1, alpha=1), activation="relu", name="a"),
                  qdense(1, 8, 1, "b")),
     "layer 'a' .* has activation='relu'"),
    (lambda: _seq(qdense(4, 8, 1, "a"), qdense(1, 8, 1, "b")), "follows dense layer 'a' without a"),
    (lambda: _seq(qdense(4, 8, 1, "a"), QActivation(quantized_relu(8, 2), name="r"), qdense(1, 6, 1, "b")),
     "weight type ap_fixed<6,2.*one weight type"),
    (lambda: _seq(qdense(4, 8, 1, "a"), QActivation(quantized_relu(8, 2), name="r")), "ends with an activation"),
    (lambda: _seq(qdense(4, 8, 1, "a"), QActivation(quantized_bits(8, 2, alpha=1), name="mid"), qdense(1, 8, 1, "b")),
     "layer 'mid' .*quantized_bits between dense layers"),
    (lambda: _seq(qdense(4, 8, 1, "a"), QActivation(quantized_tanh(8), name="t"), qdense(1, 8, 1, "b")),
     "layer 't' .*quantized_tanh is not supported"),
    (lambda: _seq(qdense(4, 8, 1, "a"), QActivation("relu", name="r"), qdense(1, 8, 1, "b")),
     "layer 'r' .*quantizer relu is not supported"),
    (lambda: _seq(QDense(1, kernel_quantizer=quantized_bits(8, 1, alpha=1), name="nobias")), "no bias_quantizer"),
    (lambda: _seq(QDense(1, kernel_quantizer=quantized_bits(8, 1, alpha=0.25),
                         bias_quantizer=quantized_bits(8, 1, alpha=1), name="scaled")), "'scaled' .*alpha=0.25"),
])
def test_bad_models_are_refused_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        from_qkeras(build(), types=TUTORIAL_TYPES)


def test_not_a_model():
    with pytest.raises(ValueError, match="needs a Keras model"):
        from_qkeras("model.h5")


@pytest.mark.parametrize("types", [None, {"hidden": "ap_ufixed<10,2,AP_RND_CONV,AP_SAT>"}])
def test_to_qkeras_round_trip_keeps_the_forward_pass(types):
    mlp = MLP([2, 6, 4, 1], bits=12, seed=5, types=types)
    back = from_qkeras(to_qkeras(mlp))
    x = mlp.types.input.quantize(np.random.default_rng(0).uniform(-2.5, 2.5, (2000, 2)))
    assert np.array_equal(golden_predict_raw(back, x), golden_predict_raw(mlp, x))
    assert all(np.array_equal(a, b) for a, b in zip(back.parameters(), mlp.parameters()))
