"""The float64 twin of a model: same structure, schedule and update rule, no quantization.

It is the yardstick for what fixed point costs: the twin uses exact basis values
at the exact grid position (no table), exact products and no casts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from quantkan.golden import LearningRates, Pipeline, _delays, per_layer_learning_rates
from quantkan.models import KAN, MLP, Model
from quantkan.spline import basis, basis_derivative

__all__ = ["FloatLearner", "float_parameters"]


def float_parameters(model: Model) -> list[np.ndarray]:
    """The model's parameters as float64 values (copies)."""
    return [t.to_float(p) for p, t in zip(model.parameters(), model.parameter_types())]


class KANLayerFloat:
    def __init__(self, model: KAN, coef: np.ndarray, lr: float) -> None:
        self.coef, self.grid, self.S, self.lr = coef, model.grid, model.order, lr
        self.n_out, self.n_in, _ = coef.shape
        self.window = np.arange(self.S + 1)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        k, u = self.grid.locate(x)
        idx = k[:, None] + self.window
        b = basis(u, self.S)
        c = self.coef[:, np.arange(self.n_in)[:, None], idx]
        return (c * b).sum(axis=(1, 2)), (idx, u, b, c)

    def backward(self, ctx: Any, err: np.ndarray, need_grad: bool):
        idx, u, b, c = ctx
        grad = None
        if need_grad:
            slope = (c * basis_derivative(u, self.S) / self.grid.h).sum(axis=2)
            grad = err @ slope
        return grad, (idx, self.lr * err[:, None, None] * b[None])

    def apply(self, update: Any) -> None:
        idx, delta = update
        self.coef[:, np.arange(self.n_in)[:, None], idx] -= delta


class DenseLayerFloat:
    def __init__(self, w: np.ndarray, b: np.ndarray, relu: bool, lr: float) -> None:
        self.w, self.b, self.relu, self.lr = w, b, relu, lr

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        w = self.w.copy()
        z = w @ x + self.b
        if self.relu:
            z = np.maximum(z, 0.0)
        return z, (x, w, z > 0)

    def backward(self, ctx: Any, err: np.ndarray, need_grad: bool):
        x, w, active = ctx
        if self.relu:
            err = np.where(active, err, 0.0)
        grad = err @ w if need_grad else None
        return grad, (self.lr * np.outer(err, x), self.lr * err)

    def apply(self, update: Any) -> None:
        dw, db = update
        self.w -= dw
        self.b -= db


class FloatLearner:
    """``step(x, target, learn) -> y`` in float64, starting from the model's parameters.

    ``lr`` (one, or one per layer) should be what the fixed learner really uses
    (``OnlineLearner.lr``).
    """

    def __init__(self, model: Model, lr: LearningRates = 2.0 ** -4,
                 delay: int | Sequence[int] = 0) -> None:
        n_layers = len(model.layers) - 1
        lrs = per_layer_learning_rates(lr, n_layers)  # the fixed learner's range: a twin must not learn what it cannot
        self.model = model
        self.params = float_parameters(model)
        self.delays = _delays(delay, n_layers)
        if isinstance(model, KAN):
            layers = [KANLayerFloat(model, c, lr) for c, lr in zip(self.params, lrs)]
        elif isinstance(model, MLP):
            layers = [DenseLayerFloat(self.params[2 * l], self.params[2 * l + 1], l < n_layers - 1, lrs[l])
                      for l in range(n_layers)]
        else:
            raise ValueError(f"not a quantkan model: {model!r}")
        self.pipeline = Pipeline(layers, self.delays)

    def step(self, x: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray,
             learn: bool = True) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        tgt = np.asarray(target, dtype=np.float64).reshape(-1)
        return self.pipeline.run_step(x, lambda y: y - tgt, learn)

    def flush(self) -> None:
        self.pipeline.flush()
