"""Convert with hls4ml so that its compiled model *is* quantkan's golden forward pass.

What identity needs, beyond hls4ml's own reading of the QKeras quantizers (weights,
biases, ReLU outputs, input/output QActivations: ``ap_[u]fixed<..., AP_RND_CONV, AP_SAT>``):

* the Input layer's ``result`` precision is the model's input type (hls4ml's default
  ``fixed<16,6>`` would round the input before the first layer);
* every Dense layer's ``accum`` precision is the exact sum type (wide enough that
  bias + sum w*x never rounds or wraps) and its ``result`` is that exact sum on hidden
  layers (the ReLU casts once, on the exact sum, as the golden model does) and the
  output type on the last layer; the ``<name>_linear`` layer hls4ml adds after a Dense
  gets the same precision so it is a no-op and is removed;
* a KAN layer's ``result`` is the input type on hidden layers, the output type last;
* Vitis (or Vivado) backend, ``io_parallel``; inputs are fed as float64 values that are
  exact in the input type, and outputs read back as float64 (exact).

``from_quantizers=True`` (a model imported from QKeras) keeps hls4ml's quantizer-derived
precisions, so hls4ml is an independent check of :mod:`quantkan.keras.quantizers`;
``False`` (exporting a quantkan model) sets every precision from quantkan's types.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from quantkan.fixed import FixedType
from quantkan.golden import OnlineLearner
from quantkan.keras._deps import require
from quantkan.models import KAN, MLP, Model

__all__ = ["hls4ml_config", "convert", "predict_raw", "golden_predict_raw", "BACKENDS", "PROJECT"]

BACKENDS = ("Vitis", "Vivado")
PROJECT = "quantkan_hls4ml"


def _parsed_layers(keras_model: Any) -> list[dict[str, Any]]:
    """hls4ml's own parse of the Keras model: names and classes as its config uses them."""
    hls4ml = require("hls4ml")
    reader = hls4ml.converters.KerasModelReader(keras_model)
    layers, *_ = hls4ml.converters.parse_keras_model(json.loads(keras_model.to_json()), reader)
    return layers


def _mlp_precisions(keras_model: Any, model: MLP, from_quantizers: bool) -> dict[str, dict[str, str]]:
    from quantkan.keras.qkeras_import import parse_chain
    if model.types.acc is not None:
        raise ValueError("hls4ml conversion of an MLP needs exact accumulation (types.acc = None): hls4ml casts "
                         "a Dense sum once, where quantkan would cast to 'acc' and then to the output type")
    chain = parse_chain(keras_model)
    golden = OnlineLearner(model).pipeline.layers
    if len(chain.dense) != len(golden):
        raise ValueError(f"the Keras model has {len(chain.dense)} dense layers, the quantkan model {len(golden)}")
    out: dict[str, dict[str, str]] = {}
    for l, (dense, layer) in enumerate(zip(chain.dense, golden)):
        result = str(layer.acc_t if layer.relu else layer.out_t)
        out[dense.name] = out[f"{dense.name}_linear"] = {"accum": str(layer.acc_t), "result": result}
        if not from_quantizers and layer.relu:
            out[chain.relu[l].name] = {"result": str(layer.out_t)}
    if not from_quantizers:
        for end, t in ((chain.input_layer, model.types.input), (chain.output_layer, model.types.output)):
            if end is not None:
                out[end.name] = {"result": str(t)}
    return out


def _kan_precisions(keras_model: Any, model: KAN) -> dict[str, dict[str, str]]:
    from quantkan.keras.layer import KANLayer
    kan_layers = [l for l in keras_model.layers if isinstance(l, KANLayer)]
    if len(kan_layers) != len(model.coefficients):
        raise ValueError(f"the Keras model has {len(kan_layers)} KAN layers, the quantkan model "
                         f"{len(model.coefficients)}")
    last = len(kan_layers) - 1
    return {layer.name: {"result": str(model.types.output if l == last else model.types.input)}
            for l, layer in enumerate(kan_layers)}


def hls4ml_config(keras_model: Any, model: Model, backend: str = "Vitis", from_quantizers: bool = True) -> dict:
    """The hls4ml ``hls_config`` (granularity 'name') under which hls4ml equals ``model``'s forward pass."""
    hls4ml = require("hls4ml")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(model, KAN):
        from quantkan.keras.hls4ml_ext import register_kan
        register_kan()
        precisions = _kan_precisions(keras_model, model)
    elif isinstance(model, MLP):
        precisions = _mlp_precisions(keras_model, model, from_quantizers)
    else:
        raise ValueError(f"not a quantkan model: {model!r}")
    config = hls4ml.utils.config_from_keras_model(keras_model, granularity="name", backend=backend)
    names = config["LayerName"]
    for layer in _parsed_layers(keras_model):
        if layer["class_name"] == "InputLayer":
            precisions[layer["name"]] = {"result": str(model.types.input)}
    for name, precision in precisions.items():
        if name in names:  # hls4ml adds '<dense>_linear' only for some layers
            names[name].setdefault("Precision", {}).update(precision)
    return config


def convert(keras_model: Any, model: Model, output_dir: str | Path, backend: str = "Vitis",
            part: str | None = None, clock_period: float | None = None, from_quantizers: bool = True,
            project_name: str = PROJECT) -> Any:
    """An hls4ml ModelGraph (io_parallel) of ``keras_model`` configured to equal ``model``; call
    ``.compile()`` for the C simulation or ``.build()`` with Vitis."""
    hls4ml = require("hls4ml")
    config = hls4ml_config(keras_model, model, backend, from_quantizers)
    extra = {k: v for k, v in (("part", part), ("clock_period", clock_period)) if v is not None}
    return hls4ml.converters.convert_from_keras_model(
        keras_model, hls_config=config, output_dir=str(output_dir), project_name=project_name,
        backend=backend, io_type="io_parallel", **extra)


def _raw_exact(values: np.ndarray, t: FixedType, what: str) -> np.ndarray:
    scaled = np.ldexp(np.asarray(values, np.float64), t.frac)
    if not np.array_equal(scaled, np.round(scaled)):
        raise ValueError(f"{what} is not exactly representable in {t}")
    return t.check_raw(scaled.astype(np.int64), what)


def predict_raw(hls_model: Any, model: Model, x_raw: np.ndarray) -> np.ndarray:
    """Run the compiled hls4ml model on raw inputs (n, inputs); raw outputs (n, outputs)."""
    ty = model.types
    x = ty.input.to_float(ty.input.check_raw(np.asarray(x_raw), "input")).reshape(-1, model.layers[0])
    y = np.asarray(hls_model.predict(np.ascontiguousarray(x, np.float64)), np.float64)
    return _raw_exact(y.reshape(len(x), model.layers[-1]), ty.output, "hls4ml output")


def golden_predict_raw(model: Model, x_raw: np.ndarray) -> np.ndarray:
    """The golden model's forward pass (no learning) on raw inputs (n, inputs)."""
    learner = OnlineLearner(model)
    zero = np.zeros(model.layers[-1], dtype=np.int64)
    return np.array([learner.step_raw(x, zero, learn=False)
                     for x in np.asarray(x_raw, np.int64).reshape(-1, model.layers[0])])
