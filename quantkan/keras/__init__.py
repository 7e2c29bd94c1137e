"""TensorFlow / QKeras / hls4ml interoperability: pre-train offline, import, learn on chip.

* :func:`from_qkeras` turns a QKeras MLP (QDense / QActivation with quantized_bits and
  quantized_relu) into a quantkan :class:`~quantkan.models.MLP`; :func:`to_qkeras` goes
  back, for users who keep their hls4ml flow.
* :class:`KANLayer` is a Keras layer with quantkan's grid, order and coefficient layout,
  trainable offline in TensorFlow; :func:`to_quantkan` quantizes a trained Keras KAN into
  a quantkan :class:`~quantkan.models.KAN` that keeps learning online on chip.
* :func:`convert` converts either with hls4ml (Vitis, io_parallel) so that its compiled C
  simulation equals quantkan's golden forward pass bit for bit; the KAN layer is
  registered through hls4ml's extension API (:mod:`quantkan.keras.hls4ml_ext`).

``import quantkan.keras`` is cheap: TensorFlow, QKeras and hls4ml are imported when a
name below is first used, and a missing one raises an ImportError that says to
``pip install 'quantkan[keras]'`` (or ``make venv-keras`` in a checkout).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["from_qkeras", "to_qkeras", "quantizer_type", "KANLayer", "to_quantkan", "from_quantkan",
           "hls4ml_config", "convert", "register_kan"]

_WHERE = {
    "from_qkeras": "qkeras_import", "to_qkeras": "qkeras_import",
    "quantizer_type": "quantizers",
    "KANLayer": "layer", "to_quantkan": "layer", "from_quantkan": "layer",
    "hls4ml_config": "hls4ml_convert", "convert": "hls4ml_convert",
    "register_kan": "hls4ml_ext",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'quantkan.keras' has no attribute {name!r}")
    return getattr(importlib.import_module(f"quantkan.keras.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
