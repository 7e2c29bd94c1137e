"""A Keras model of KANLayers converts with hls4ml (quantkan's extension) and its compiled C
simulation equals the golden forward pass of to_quantkan(model), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import hls4ml
from quantkan.keras import KANLayer, convert, hls4ml_config, register_kan, to_quantkan
from quantkan.keras.hls4ml_convert import PROJECT, golden_predict_raw, predict_raw
from test_hls4ml_oracle import mismatches

N = 4000
CONFIGS = {
    # 16-bit defaults, h = 1/4 (a bit slice); large coefficients saturate the hidden layer.
    "kan16": dict(sizes=[2, 4, 1], init_scale=1.5, settings=dict(grid=(-1.0, 1.0, 8), order=3)),
    # h = 1/3 (a 1/h multiplier), order 2, 6-bit table, two outputs, a narrowing accumulator.
    "kan12": dict(sizes=[3, 3, 2], init_scale=0.8, settings=dict(
        grid=(-1.0, 1.0, 6), order=2, lut_bits=6, bits=12, types={"acc": "ap_fixed<14,4,AP_TRN,AP_WRAP>"})),
}


def keras_kan(sizes, init_scale, settings, seed: int = 0) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([tf.keras.layers.Input((sizes[0],)), *(
        KANLayer(n, init_scale=init_scale, name=f"kan{l}", **settings) for l, n in enumerate(sizes[1:]))])


def kan_inputs(kan, n: int = N, seed: int = 0) -> np.ndarray:
    """Raw inputs across the grid, outside it (clamped cells) and at the extreme raw values."""
    t = kan.types.input
    x = t.quantize(np.random.default_rng(seed).uniform(t.min, t.max, (n, kan.layers[0])))
    x[:4] = [[t.min_raw], [t.quantize(kan.grid.lo)], [0], [t.max_raw]]
    return x


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def converted(request, tmp_path_factory):
    model = keras_kan(**CONFIGS[request.param])
    kan = to_quantkan(model)
    hls_model = convert(model, kan, tmp_path_factory.mktemp(request.param) / "prj")
    hls_model.compile()
    return model, kan, hls_model


def test_hls4ml_kan_equals_golden_forward(converted, hls4ml_count):
    _, kan, hls_model = converted
    x = kan_inputs(kan)
    y_hls, y_golden = predict_raw(hls_model, kan, x), golden_predict_raw(kan, x)
    assert np.array_equal(y_hls, y_golden), f"{int(np.sum(y_hls != y_golden))} of {y_hls.size} outputs differ"
    hls4ml_count("KAN", N)
    assert len(np.unique(y_golden)) > N // 4


def test_the_project_runs_quantkans_layer_code(converted):
    model, kan, hls_model = converted
    firmware = hls_model.config.get_output_dir() + "/firmware"
    top = open(f"{firmware}/{PROJECT}.cpp").read()
    assert top.count("nnet::quantkan_kan<") == len(kan.coefficients)
    assert "quantkan::kan_forward<CONFIG_T>" in open(f"{firmware}/nnet_utils/nnet_quantkan_kan.h").read()


def test_without_quantkans_result_precision_hls4ml_differs(tmp_path):
    """Why hls4ml_config sets each KAN layer's result type: hls4ml's default fixed<16,6> is not it."""
    model = keras_kan(**CONFIGS["kan16"])
    kan = to_quantkan(model)
    register_kan()
    config = hls4ml_config(model, kan)
    for name in ("kan0", "kan1"):
        del config["LayerName"][name]["Precision"]["result"]
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, output_dir=str(tmp_path / "prj"), backend="Vitis", io_type="io_parallel")
    hls_model.compile()
    assert mismatches(hls_model, kan, kan_inputs(kan, 500)) > 0
