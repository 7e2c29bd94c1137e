"""QKeras MLP <-> quantkan MLP.

A QKeras MLP that quantkan can learn with on chip is a chain

    [QActivation(quantized_bits)]                      the input type (else types={"input": ...})
    QDense -> QActivation(quantized_relu) -> QDense ...  weights, biases, hidden (ReLU) type
    QDense [-> QActivation(quantized_bits)]            the output type (else types={"output": ...})

with one kernel quantizer, one bias quantizer and one ReLU quantizer for every layer
(quantkan's MLP has one type of each).  The types the quantizers imply are in
:mod:`quantkan.keras.quantizers`; the learning-only types (error, update) that QKeras
does not have get defaults and can be given in ``types``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from quantkan.fixed import FixedType, Overflow, Rounding
from quantkan.keras import quantizers
from quantkan.keras._deps import require
from quantkan.models import MLP, MLPTypes

__all__ = ["from_qkeras", "to_qkeras", "parse_chain", "QKerasChain"]

_FROM_QUANTIZERS = {"weight": "kernel quantizers", "bias": "bias quantizers", "hidden": "quantized_relu layers"}


@dataclass
class QKerasChain:
    """What an MLP-shaped QKeras model says: its layers by role and the types of each role."""

    dense: list[Any]  # QDense layers, in order
    relu: list[Any]  # the QActivation(quantized_relu) after each hidden QDense
    input_layer: Any | None  # the leading QActivation(quantized_bits), if any
    output_layer: Any | None  # the trailing QActivation(quantized_bits), if any
    types: dict[str, FixedType]  # input/weight/bias/hidden/output as far as the model gives them


def _desc(layer: Any) -> str:
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _one_type(found: dict[str, FixedType], role: str, t: FixedType, where: str) -> None:
    """Every layer must agree: quantkan's MLP has one type per role."""
    if role in found and found[role] != t:
        raise ValueError(f"{where} gives {role} type {t}, but an earlier layer gives {found[role]}; "
                         f"quantkan's MLP has one {role} type for all layers ({_FROM_QUANTIZERS[role]} must match)")
    found[role] = t


def parse_chain(model: Any) -> QKerasChain:
    """Split a QKeras model into the roles above, or raise a ValueError naming the offending layer."""
    tf = require("tensorflow")
    if not isinstance(model, tf.keras.Model):
        raise ValueError(f"from_qkeras needs a Keras model, got {type(model).__name__}")
    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
    found: dict[str, FixedType] = {}
    dense, relu = [], []
    input_layer = output_layer = None
    for pos, layer in enumerate(layers):
        kind = type(layer).__name__
        if kind == "QDense":
            activation = layer.get_config().get("activation")
            if activation not in (None, "linear"):
                raise ValueError(f"{_desc(layer)} has activation={activation!r}; put activations in their own "
                                 "QActivation(quantized_relu(...)) layer")
            if dense and len(relu) < len(dense):
                raise ValueError(f"{_desc(layer)} follows dense layer '{dense[-1].name}' without a "
                                 "QActivation(quantized_relu) between them (quantkan's MLP has a ReLU there)")
            for role, attr in (("weight", "kernel_quantizer_internal"), ("bias", "bias_quantizer_internal")):
                q = getattr(layer, attr, None)
                if q is None:
                    raise ValueError(f"{_desc(layer)} has no {attr.split('_')[0]}_quantizer; quantkan needs "
                                     "quantized_bits(...) for kernels and biases (and use_bias=True)")
                _one_type(found, role, quantizers.quantizer_type(q, f"{_desc(layer)} {role}"), _desc(layer))
            dense.append(layer)
        elif kind == "QActivation":
            q = layer.quantizer
            name, _ = quantizers.quantizer_config(q)
            t = quantizers.quantizer_type(q, _desc(layer))
            if not dense:
                if name != "quantized_bits" or input_layer is not None:
                    raise ValueError(f"{_desc(layer)}: before the first QDense only one QActivation("
                                     f"quantized_bits) is supported (it types the input), got {name}")
                input_layer, found["input"] = layer, t
            elif name == "quantized_relu":
                if len(relu) == len(dense):
                    raise ValueError(f"{_desc(layer)}: two activations after dense layer '{dense[-1].name}'")
                _one_type(found, "hidden", t, _desc(layer))
                relu.append(layer)
            elif pos == len(layers) - 1 and len(relu) < len(dense):
                output_layer, found["output"] = layer, t
            else:
                raise ValueError(f"{_desc(layer)}: {name} between dense layers is not supported; hidden "
                                 "activations must be quantized_relu (quantkan's MLP has ReLU there)")
        else:
            raise ValueError(f"{_desc(layer)} is not supported: from_qkeras imports chains of QDense and "
                             "QActivation(quantized_bits / quantized_relu) layers")
    if not dense:
        raise ValueError("the model has no QDense layer")
    if len(relu) == len(dense):
        raise ValueError(f"the model ends with an activation ('{relu[-1].name}'); quantkan's MLP output is "
                         "linear (end with a QDense, optionally QActivation(quantized_bits))")
    return QKerasChain(dense, relu, input_layer, output_layer, found)


def _mlp_types(found: dict[str, FixedType], given: dict[str, Any] | None) -> MLPTypes:
    given = dict(given or {})
    known = {f.name for f in fields(MLPTypes)}
    unknown = set(given) - known
    if unknown:
        raise ValueError(f"unknown type names {sorted(unknown)}; known: {sorted(known)}")
    clash = sorted(set(given) & set(found))
    if clash:
        raise ValueError(f"types {clash} come from the model's quantizers and cannot be overridden")
    for role, hint in (("input", "a leading QActivation(quantized_bits(...))"),
                       ("output", "a trailing QActivation(quantized_bits(...))")):
        if role not in found and role not in given:
            raise ValueError(f"the model does not quantize its {role}: add {hint} or pass "
                             f"types={{'{role}': 'ap_fixed<W,I,AP_RND_CONV,AP_SAT>'}}")
    merged: dict[str, Any] = {**found, **given}
    out = FixedType.parse(merged["output"]) if isinstance(merged["output"], str) else merged["output"]
    weight = merged["weight"]
    # Learning-only types: the error holds y - target exactly; updates have the weights' resolution.
    merged.setdefault("error", FixedType(out.width + 1, out.integer + 1, True, Rounding.RND_CONV, Overflow.SAT))
    merged.setdefault("update", weight.with_modes(Rounding.RND_CONV, Overflow.SAT))
    return MLPTypes(**merged)


def from_qkeras(model: Any, types: dict[str, Any] | None = None) -> MLP:
    """A quantkan MLP with the QKeras model's weights, quantized exactly as its quantizers do.

    ``types`` adds what the model does not say: ``input`` / ``output`` when there is no
    QActivation(quantized_bits) at that end, and the learning types ``error`` (default:
    the output type with one more integer bit) and ``update`` (default: the weight type).
    """
    chain = parse_chain(model)
    mlp_types = _mlp_types(chain.types, types)
    sizes = [int(chain.dense[0].get_weights()[0].shape[0])] + [int(d.units) for d in chain.dense]
    mlp = MLP(sizes, types=mlp_types, seed=None)
    for l, layer in enumerate(chain.dense):
        kernel, bias = layer.get_weights()
        mlp.weights[l][...] = mlp_types.weight.quantize(np.asarray(kernel, np.float64).T)
        mlp.biases[l][...] = mlp_types.bias.quantize(np.asarray(bias, np.float64))
    return mlp


def to_qkeras(mlp: MLP, name: str = "quantkan_mlp") -> Any:
    """The QKeras Sequential with ``mlp``'s weights and quantizers holding the same values.

    Layers are named ``qk_input``, ``dense{l}``, ``relu{l}``, ``qk_output``.  QKeras always
    rounds to nearest and saturates; quantkan's own modes are kept by the hls4ml
    configuration (:func:`quantkan.keras.hls4ml_config`), not by the quantizers.
    """
    if not isinstance(mlp, MLP):
        raise ValueError(f"to_qkeras needs a quantkan MLP, got {type(mlp).__name__}")
    tf, qkeras = require("tensorflow"), require("qkeras")
    ty = mlp.types
    layers: list[Any] = [tf.keras.layers.Input((mlp.layers[0],), name="x"),
                         qkeras.QActivation(quantizers.quantizer_for(ty.input, where="input type"), name="qk_input")]
    n = len(mlp.weights)
    for l in range(n):
        layers.append(qkeras.QDense(mlp.layers[l + 1], name=f"dense{l}",
                                    kernel_quantizer=quantizers.quantizer_for(ty.weight, where="weight type"),
                                    bias_quantizer=quantizers.quantizer_for(ty.bias, where="bias type")))
        if l < n - 1:
            layers.append(qkeras.QActivation(quantizers.quantizer_for(ty.activation, relu=True,
                                                                      where="hidden type"), name=f"relu{l}"))
    layers.append(qkeras.QActivation(quantizers.quantizer_for(ty.output, where="output type"), name="qk_output"))
    model = tf.keras.Sequential(layers, name=name)
    for l in range(n):
        model.get_layer(f"dense{l}").set_weights([ty.weight.to_float(mlp.weights[l]).T,
                                                   ty.bias.to_float(mlp.biases[l])])
    return model
