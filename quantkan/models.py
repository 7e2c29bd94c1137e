"""Model definitions: fixed-point KANs and MLPs, their types and raw parameters.

A model is structure + named FixedTypes + parameters held as raw integers.  It
computes nothing itself: the golden learner (:mod:`quantkan.golden`) defines
what a step does, and every backend reads this object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from quantkan.fixed import FixedType, Overflow, Rounding, add_type, mul_type, sub_type, sum_type
from quantkan.spline import Grid, SplineTables, build_tables

__all__ = ["KANTypes", "MLPTypes", "KANLayerTypes", "DenseLayerTypes", "KAN", "MLP", "Model", "model_from_config",
           "MODEL_KEYS"]


def _type(value: FixedType | str, name: str) -> FixedType:
    if isinstance(value, FixedType):
        return value
    if isinstance(value, str):
        try:
            return FixedType.parse(value)
        except ValueError as err:
            raise ValueError(f"type '{name}': {err}") from None
    raise ValueError(f"type '{name}' must be a FixedType or an ap_fixed string, got {value!r}")


def _check_types(obj: Any) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is not None:
            object.__setattr__(obj, f.name, _type(value, f.name))
            getattr(obj, f.name).require_int64(f"type '{f.name}'")


def _types_from(cls, given: Any, defaults: Any):
    if given is None:
        return defaults
    if isinstance(given, cls):
        return given
    if isinstance(given, dict):
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown type names {sorted(unknown)}; "
                             f"known: {[f.name for f in fields(cls)]}")
        return replace(defaults, **given)
    raise ValueError(f"types must be a {cls.__name__}, a dict of type strings or None, got {given!r}")


def _types_dict(types: Any) -> dict[str, str | None]:
    values = {f.name: getattr(types, f.name) for f in fields(types)}
    return {k: (str(v) if v is not None else None) for k, v in values.items()}


def _int_bits(magnitude: float) -> int:
    """Integer bits (with sign) that hold +-magnitude."""
    return max(1, math.ceil(math.log2(magnitude)) + 1) if magnitude > 0 else 1


#: The default KAN coefficient range without a task to size it: ap_fixed<N,3>, +-4.
DEFAULT_COEF_RANGE = 4.0


@dataclass(frozen=True)
class KANTypes:
    """A FixedType for every stored or computed quantity of a KAN.

    ``input`` also types the hidden activations (they are the next layer's input);
    ``basis`` / ``deriv`` the spline tables; ``grad`` the per-edge slope
    sum_m c*dB used by backprop; ``update`` the delta lr*e*B, whose rounding is
    where tiny updates vanish or survive; ``acc`` None means the layer sum is
    exact (full precision) until the single cast to the output type.
    """

    input: FixedType
    coef: FixedType
    basis: FixedType
    deriv: FixedType
    grad: FixedType
    output: FixedType
    error: FixedType
    update: FixedType
    acc: FixedType | None = None

    def __post_init__(self) -> None:
        _check_types(self)

    @classmethod
    def default(cls, bits: int, grid: Grid, order: int, coef_range: float = DEFAULT_COEF_RANGE) -> KANTypes:
        """Sensible types of ``bits`` width for a grid (derivative range follows 1/h).

        ``coef_range``: the coefficients (and the update delta, and the slope's integer part)
        hold +-coef_range: every integer bit above what the targets need is a fractional bit
        lost (``quantkan.train`` sets it from the task's target range)."""
        if isinstance(bits, bool) or not isinstance(bits, int) or not 4 <= bits <= 32:
            raise ValueError(f"bits must be an integer in 4..32, got {bits!r}")
        if isinstance(coef_range, bool) or not isinstance(coef_range, (int, float)) or not 0 < coef_range <= 2 ** 16:
            raise ValueError(f"coef_range must be a number in (0, 65536], got {coef_range!r}")
        nearest, sat = Rounding.RND_CONV, Overflow.SAT
        reach = max(abs(grid.lo), abs(grid.hi))
        deriv_int = _int_bits(2.0 / grid.h)  # |dB/du| <= 2 for every order
        coef = FixedType(bits, _int_bits(coef_range), True, nearest, sat)
        return cls(
            input=FixedType(bits, _int_bits(reach), True, nearest, sat),
            coef=coef,
            basis=FixedType(bits, 1, False, nearest, sat),
            deriv=FixedType(bits, deriv_int, True, nearest, sat),
            grad=FixedType(bits, coef.integer + deriv_int, True, nearest, sat),
            output=FixedType(bits, 3, True, nearest, sat),
            error=FixedType(bits, 3, True, nearest, sat),
            update=FixedType(bits, coef.integer, True, nearest, sat),
        )


@dataclass(frozen=True)
class MLPTypes:
    """A FixedType for every stored or computed quantity of an MLP (see KANTypes).

    ``hidden`` types the ReLU outputs of hidden layers; None means the input type.
    An unsigned ``ap_ufixed`` here spends no bit on a sign ReLU never produces,
    as QKeras' ``quantized_relu`` / hls4ml do.
    """

    input: FixedType
    weight: FixedType
    bias: FixedType
    output: FixedType
    error: FixedType
    update: FixedType
    acc: FixedType | None = None
    hidden: FixedType | None = None

    @property
    def activation(self) -> FixedType:
        """The type of the hidden activations (``hidden``, else ``input``)."""
        return self.hidden if self.hidden is not None else self.input

    def __post_init__(self) -> None:
        _check_types(self)

    @classmethod
    def default(cls, bits: int) -> MLPTypes:
        if isinstance(bits, bool) or not isinstance(bits, int) or not 4 <= bits <= 32:
            raise ValueError(f"bits must be an integer in 4..32, got {bits!r}")
        nearest, sat = Rounding.RND_CONV, Overflow.SAT
        weight = FixedType(bits, 2, True, nearest, sat)
        return cls(
            input=FixedType(bits, 2, True, nearest, sat),
            weight=weight,
            bias=weight,
            output=FixedType(bits, 3, True, nearest, sat),
            error=FixedType(bits, 3, True, nearest, sat),
            update=FixedType(bits, weight.integer, True, nearest, sat),
        )


def _exact(t: FixedType, what: str) -> FixedType:
    """An exact (never rounded) intermediate type, refused when raw values cannot hold it."""
    t.require_int64(what)
    return t


@dataclass(frozen=True)
class KANLayerTypes:
    """The exact types of one KAN layer's products and sums, derived from its KANTypes.

    Derived once, here, so that an impossible width is refused when the model is built
    (naming the quantity) rather than at the first step, and every backend reads the same.
    """

    acc: FixedType  # y_j before its cast: n_in * (S+1) products coef * basis
    slope: FixedType  # sum_m c * dB (S+1 products coef * deriv), cast to grad
    back: FixedType  # sum_j e_j * slope_j (n_out products error * grad), cast to error
    g: FixedType  # e * B, the gradient of one coefficient

    @classmethod
    def of(cls, ty: KANTypes, n_in: int, n_out: int, order: int, layer: int) -> KANLayerTypes:
        where = f"KAN layer {layer}"
        return cls(
            acc=_exact(sum_type(mul_type(ty.coef, ty.basis), n_in * (order + 1)),
                       f"the {where} sum of {n_in * (order + 1)} coef*basis products"),
            slope=_exact(sum_type(mul_type(ty.coef, ty.deriv), order + 1),
                         f"the {where} slope sum of {order + 1} coef*deriv products"),
            back=_exact(sum_type(mul_type(ty.error, ty.grad), n_out),
                        f"the {where} backward sum of {n_out} error*grad products"),
            g=_exact(mul_type(ty.error, ty.basis), f"the {where} gradient error*basis"))


@dataclass(frozen=True)
class DenseLayerTypes:
    """The exact types of one dense layer's products and sums (see KANLayerTypes)."""

    prod: FixedType  # weight * input
    acc: FixedType  # n_in products plus the bias
    back: FixedType  # sum_j e_j * w_ji (n_out products error * weight)
    gw: FixedType  # e_j * x_i, the gradient of one weight

    @classmethod
    def of(cls, ty: MLPTypes, in_t: FixedType, n_in: int, n_out: int, layer: int) -> DenseLayerTypes:
        where = f"MLP layer {layer}"
        prod = _exact(mul_type(ty.weight, in_t), f"the {where} product weight*input")
        return cls(
            prod=prod,
            acc=_exact(sum_type(add_type(prod, ty.bias), n_in + 1),
                       f"the {where} sum of {n_in} weight*input products and the bias"),
            back=_exact(sum_type(mul_type(ty.error, ty.weight), n_out),
                        f"the {where} backward sum of {n_out} error*weight products"),
            gw=_exact(mul_type(ty.error, in_t), f"the {where} gradient error*input"))


def _check_error(ty: KANTypes | MLPTypes) -> None:
    """The on-chip error y - target is exact in sub_type(output, output) before its cast."""
    _exact(sub_type(ty.output, ty.output), "the error y - target")


def _check_layers(layers: Any) -> list[int]:
    if not isinstance(layers, (list, tuple)) or len(layers) < 2:
        raise ValueError(f"layers must list at least 2 sizes (inputs, outputs), got {layers!r}")
    for n in layers:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"layer sizes must be integers >= 1, got {list(layers)}")
    return [int(n) for n in layers]


class KAN:
    """A fixed-point Kolmogorov-Arnold Network.

    Layer ``l`` maps ``layers[l]`` inputs to ``layers[l+1]`` outputs; edge (j, i) of
    a layer holds G+S coefficients, stored raw in ``coefficients[l][j, i, :]``.
    """

    kind = "kan"

    def __init__(self, layers: list[int], grid: tuple[float, float, int] | Grid = (-1.0, 1.0, 8),
                 order: int = 3, lut_bits: int = 8, types: KANTypes | dict | None = None,
                 bits: int = 16, seed: int | None = 0, init_scale: float = 0.1,
                 coef_range: float = DEFAULT_COEF_RANGE) -> None:
        self.layers = _check_layers(layers)
        if isinstance(grid, Grid):
            self.grid = grid
        else:
            if not isinstance(grid, (list, tuple)) or len(grid) != 3:
                raise ValueError(f"grid must be (lo, hi, G), got {grid!r}")
            lo, hi, cells = grid
            self.grid = Grid(lo, hi, cells)
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not 0 < init_scale < math.inf:
            raise ValueError(f"init_scale must be a positive number, got {init_scale!r}")
        self.order, self.lut_bits = order, lut_bits
        self.types = _types_from(KANTypes, types, KANTypes.default(bits, self.grid, order, coef_range)
                                 if not isinstance(types, KANTypes) else None)
        self.tables: SplineTables = build_tables(self.grid, order, lut_bits,
                                                 self.types.basis, self.types.deriv)
        self._check_grid_fits()
        self.layer_types = [KANLayerTypes.of(self.types, i, o, order, l)
                            for l, (i, o) in enumerate(zip(self.layers, self.layers[1:]))]
        _check_error(self.types)
        shape_per_layer = [(o, i, self.n_coef) for i, o in zip(self.layers, self.layers[1:])]
        rng = np.random.default_rng(seed)
        self.coefficients = [self.types.coef.quantize(rng.uniform(-init_scale, init_scale, s))
                             for s in shape_per_layer]

    @property
    def n_coef(self) -> int:
        """Coefficients per edge: G + S."""
        return self.grid.cells + self.order

    def _check_grid_fits(self) -> None:
        t = self.types.input
        lo, hi = self.grid.lo, self.grid.hi
        if not (t.min <= lo and hi <= t.max + t.lsb):
            raise ValueError(f"input type {t} (range [{t.min:g}, {t.max:g}]) cannot hold the grid "
                             f"range [{lo:g}, {hi:g})")
        if float(t.to_float(t.quantize(lo))) != lo:
            raise ValueError(f"grid lo = {lo!r} is not exactly representable in input type {t}")

    def parameters(self) -> list[np.ndarray]:
        return self.coefficients

    def parameter_types(self) -> list[FixedType]:
        return [self.types.coef] * len(self.coefficients)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "layers": self.layers,
                "grid": [self.grid.lo, self.grid.hi, self.grid.cells], "order": self.order,
                "lut_bits": self.lut_bits, "types": _types_dict(self.types)}

    def __repr__(self) -> str:
        return (f"KAN(layers={self.layers}, grid=({self.grid.lo:g}, {self.grid.hi:g}, "
                f"{self.grid.cells}), order={self.order}, coef={self.types.coef})")


class MLP:
    """A fixed-point MLP baseline: dense layers, ReLU between them, raw weights and biases."""

    kind = "mlp"

    def __init__(self, layers: list[int], types: MLPTypes | dict | None = None, bits: int = 16,
                 seed: int | None = 0) -> None:
        self.layers = _check_layers(layers)
        self.types = _types_from(MLPTypes, types, MLPTypes.default(bits)
                                 if not isinstance(types, MLPTypes) else None)
        self.layer_types = [DenseLayerTypes.of(self.types, self.types.input if l == 0 else self.types.activation,
                                               i, o, l)
                            for l, (i, o) in enumerate(zip(self.layers, self.layers[1:]))]
        _check_error(self.types)
        rng = np.random.default_rng(seed)
        self.weights, self.biases = [], []
        for n_in, n_out in zip(self.layers, self.layers[1:]):
            limit = math.sqrt(6.0 / (n_in + n_out))  # Glorot uniform
            self.weights.append(self.types.weight.quantize(rng.uniform(-limit, limit, (n_out, n_in))))
            self.biases.append(self.types.bias.quantize(np.zeros(n_out)))

    def parameters(self) -> list[np.ndarray]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def parameter_types(self) -> list[FixedType]:
        return [self.types.weight, self.types.bias] * len(self.weights)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "layers": self.layers, "types": _types_dict(self.types)}

    def __repr__(self) -> str:
        return f"MLP(layers={self.layers}, weight={self.types.weight})"


Model = KAN | MLP


#: The keys of a config's [model] table per kind, besides ``kind`` and ``types`` (docs/reference.md).
MODEL_KEYS = {"kan": {"layers", "grid", "order", "lut_bits", "bits", "init_scale", "coef_range"},
              "mlp": {"layers", "bits"}}


def model_from_config(config: dict[str, Any], seed: int | None = 0) -> Model:
    """Build a model from a config dict (the ``[model]`` table of an example file)."""
    if not isinstance(config, dict):
        raise ValueError(f"model config must be a table/dict, got {type(config).__name__}")
    cfg = dict(config)
    kind = cfg.pop("kind", None)
    types = cfg.pop("types", None)
    if types is not None and not isinstance(types, dict):
        raise ValueError("model 'types' must be a table of name = 'ap_fixed<...>'")
    if types is not None:
        types = {k: v for k, v in types.items() if v is not None}
    allowed = MODEL_KEYS
    if kind not in allowed:
        raise ValueError(f"model kind must be 'kan' or 'mlp', got {kind!r}")
    unknown = set(cfg) - allowed[kind]
    if unknown:
        raise ValueError(f"unknown {kind} model settings {sorted(unknown)}; known: {sorted(allowed[kind])}")
    if "layers" not in cfg:
        raise ValueError("model config needs 'layers'")
    cls = KAN if kind == "kan" else MLP
    return cls(types=types, seed=seed, **cfg)
