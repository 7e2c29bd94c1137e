"""A Keras KAN layer with quantkan's grid, order and coefficient layout, trainable in TensorFlow.

``KANLayer(units, grid=(lo, hi, G), order=S)`` holds ``coefficients`` of shape
``(units, inputs, G+S)``, exactly ``quantkan.models.KAN.coefficients[l]``.  Its float
forward pass is the float twin's (:mod:`quantkan.twin`): ``t = (x - lo) / h`` clamped to
``[0, G]``, cell ``k = min(floor(t), G-1)``, ``u = t - k`` and
``y_j = sum_i sum_m c[j, i, k+m] * B_m(u)``, with the B-spline pieces ``B_m`` taken as
polynomials in ``u`` whose coefficients come from :func:`quantkan.spline.basis` (so there is
one definition of the basis), evaluated by Horner's rule.

The layer also carries the quantkan settings that only matter once it is quantized
(``lut_bits``, ``bits``, ``types``): :func:`to_quantkan` turns a trained Keras model (or
layer) into a quantkan KAN with coefficients quantized to its coefficient type, and
:func:`from_quantkan` goes back.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from quantkan.keras._deps import require
from quantkan.models import KAN
from quantkan.spline import Grid, basis

tf = require("tensorflow")

__all__ = ["KANLayer", "to_quantkan", "from_quantkan", "basis_polynomials"]


def basis_polynomials(order: int) -> np.ndarray:
    """``M`` with ``B_m(u) = sum_p M[m, p] u**p`` (float64), fitted exactly from :func:`basis`.

    The pieces are degree-``order`` polynomials, so ``order + 1`` samples determine them;
    Chebyshev points on [0, 1] keep the solve well conditioned.
    """
    u = 0.5 - 0.5 * np.cos(np.pi * (np.arange(order + 1) + 0.5) / (order + 1))
    vander = np.vander(u, order + 1, increasing=True)  # (points, powers)
    return np.linalg.solve(vander, basis(u, order)).T  # (m, p)


@tf.keras.utils.register_keras_serializable(package="quantkan")
class KANLayer(tf.keras.layers.Layer):
    """Kolmogorov-Arnold layer: ``units`` outputs, each a sum of one B-spline per input.

    ``grid=(lo, hi, G)``, ``order=S``; ``lut_bits``, ``bits`` and ``types`` are the quantkan
    KAN settings used by :func:`to_quantkan` (validated here, so a bad type fails early).
    """

    def __init__(self, units: int, grid: tuple[float, float, int] = (-1.0, 1.0, 8), order: int = 3,
                 lut_bits: int = 8, bits: int = 16, types: dict[str, str] | None = None,
                 init_scale: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be an integer >= 1, got {units!r}")
        self.units = int(units)
        self.grid_spec = Grid(*grid)
        self.order, self.lut_bits, self.bits = order, lut_bits, bits
        self.types = {k: str(v) for k, v in (types or {}).items() if v is not None}
        self.init_scale = float(init_scale)
        KAN([1, 1], self.grid_spec, order, lut_bits, self.types, bits, seed=None)  # validates everything
        self._poly = basis_polynomials(order)

    @property
    def n_coef(self) -> int:
        return self.grid_spec.cells + self.order

    def build(self, input_shape: Any) -> None:
        n_in = int(input_shape[-1])
        self.coefficients = self.add_weight(
            name="coefficients", shape=(self.units, n_in, self.n_coef),
            initializer=tf.keras.initializers.RandomUniform(-self.init_scale, self.init_scale),
            trainable=True)
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        dtype = self.compute_dtype
        g = self.grid_spec
        x = tf.cast(inputs, dtype)
        t = tf.clip_by_value((x - tf.constant(g.lo, dtype)) * tf.constant(g.cells / (g.hi - g.lo), dtype),
                             0.0, float(g.cells))
        k = tf.minimum(tf.floor(t), float(g.cells - 1))
        u = t - k  # exact (Sterbenz): 0 <= u <= 1
        poly = tf.constant(self._poly, dtype)  # (S+1, S+1)
        b = tf.broadcast_to(poly[:, -1], tf.concat([tf.shape(u), [self.order + 1]], 0))
        for p in range(self.order - 1, -1, -1):  # Horner: B_m(u) for every m at once
            b = b * u[..., None] + poly[:, p]
        idx = tf.cast(k, tf.int32)[..., None] + tf.range(self.order + 1)  # (batch, in, S+1)
        phi = tf.einsum("bim,bimp->bip", b, tf.one_hot(idx, self.n_coef, dtype=dtype))
        return tf.einsum("bip,jip->bj", phi, tf.cast(self.coefficients, dtype))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        g = self.grid_spec
        return {**super().get_config(), "units": self.units, "grid": [g.lo, g.hi, g.cells],
                "order": self.order, "lut_bits": self.lut_bits, "bits": self.bits, "types": self.types,
                "init_scale": self.init_scale}

    def quantkan_settings(self) -> dict[str, Any]:
        """The KAN settings this layer shares with the other layers of one quantkan KAN."""
        g = self.grid_spec
        return {"grid": (g.lo, g.hi, g.cells), "order": self.order, "lut_bits": self.lut_bits,
                "bits": self.bits, "types": dict(self.types)}

    def to_quantkan(self) -> KAN:
        """This layer alone as a one-layer quantkan KAN (see :func:`to_quantkan`)."""
        return to_quantkan(self)


def _kan_layers(model_or_layer: Any) -> list[KANLayer]:
    if isinstance(model_or_layer, KANLayer):
        return [model_or_layer]
    if not isinstance(model_or_layer, tf.keras.Model):
        raise ValueError(f"to_quantkan needs a KANLayer or a Keras model of KANLayers, got "
                         f"{type(model_or_layer).__name__}")
    layers = []
    for layer in model_or_layer.layers:
        if isinstance(layer, KANLayer):
            layers.append(layer)
        elif type(layer).__name__ != "InputLayer":
            raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) is not supported: a quantkan KAN "
                             "is a chain of KANLayers")
    if not layers:
        raise ValueError("the model has no KANLayer")
    return layers


def to_quantkan(model_or_layer: Any) -> KAN:
    """A quantkan KAN whose coefficients are the Keras ones quantized to its coefficient type.

    All layers must share grid, order, lut_bits, bits and types (one quantkan KAN has one
    of each).  Coefficients beyond the type's range saturate, with a warning.
    """
    layers = _kan_layers(model_or_layer)
    settings = layers[0].quantkan_settings()
    for layer in layers[1:]:
        if layer.quantkan_settings() != settings:
            raise ValueError(f"KAN layer '{layer.name}' has settings {layer.quantkan_settings()}, but "
                             f"'{layers[0].name}' has {settings}; one quantkan KAN has one grid, order and types")
    if not all(layer.built for layer in layers):
        raise ValueError("build the Keras model (call it or give it an Input) before converting it")
    sizes = [int(layers[0].coefficients.shape[1])] + [layer.units for layer in layers]
    kan = KAN(sizes, seed=None, **settings)
    coef_t = kan.types.coef
    for l, layer in enumerate(layers):
        values = layer.coefficients.numpy().astype(np.float64)
        outside = int(np.sum((values < coef_t.min) | (values > coef_t.max)))
        if outside:
            warnings.warn(f"KAN layer '{layer.name}': {outside} coefficients outside {coef_t} saturate",
                          stacklevel=2)
        kan.coefficients[l][...] = coef_t.quantize(values)
    return kan


def from_quantkan(kan: KAN, name: str = "quantkan_kan", dtype: str = "float32") -> Any:
    """A Keras Sequential of KANLayers holding ``kan``'s coefficients (exact in float32 up to 24 bits)."""
    if not isinstance(kan, KAN):
        raise ValueError(f"from_quantkan needs a quantkan KAN, got {type(kan).__name__}")
    g = kan.grid
    settings = {"grid": (g.lo, g.hi, g.cells), "order": kan.order, "lut_bits": kan.lut_bits,
                "types": {k: v for k, v in kan.config()["types"].items() if v is not None}}
    layers = [tf.keras.layers.Input((kan.layers[0],), name="x", dtype=dtype)]
    layers += [KANLayer(n, name=f"kan{l}", dtype=dtype, **settings) for l, n in enumerate(kan.layers[1:])]
    model = tf.keras.Sequential(layers, name=name)
    for l, coef in enumerate(kan.coefficients):
        model.get_layer(f"kan{l}").coefficients.assign(kan.types.coef.to_float(coef))
    return model
