"""Stream a task through the golden learner (and its float twin) and score it per regime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from quantkan.golden import OnlineLearner
from quantkan.models import Model, model_from_config
from quantkan.progress import progress
from quantkan.tasks import Stream, make_task, windowed_metric
from quantkan.twin import FloatLearner

__all__ = ["TrainResult", "train", "default_model_config", "build_run"]


@dataclass
class TrainResult:
    stream: Stream
    learner: OnlineLearner
    fixed: np.ndarray  # (n, outputs) predictions of the fixed-point model, made before it learned each sample
    floating: np.ndarray | None  # the same for the float64 twin

    def per_regime(self, fraction: float = 0.2) -> list[tuple[int, float, float | None]]:
        """(regime, fixed metric, float metric) over the last ``fraction`` of each regime."""
        fx = windowed_metric(self.stream, self.fixed, fraction)
        fl = windowed_metric(self.stream, self.floating, fraction) if self.floating is not None else {}
        return [(r, fx[r], fl.get(r)) for r in sorted(fx)]

    def table(self, fraction: float = 0.2) -> str:
        metric = self.stream.metric
        lines = [f"{'regime':<8}{'samples':>8}{'fixed ' + metric:>16}{'float ' + metric:>16}{'ratio':>8}"
                 f"   (last {fraction:.0%} of each regime)"]
        counts = np.bincount(self.stream.regime)
        for r, fx, fl in self.per_regime(fraction):
            ratio = f"{fx / fl:8.2f}" if fl else f"{'-':>8}"
            fl_text = f"{fl:16.3e}" if fl is not None else f"{'-':>16}"
            lines.append(f"{r:<8}{counts[r]:>8}{fx:16.3e}{fl_text}{ratio}")
        return "\n".join(lines)


def train(model: Model, stream: Stream, lr: float = 2.0 ** -3, delay: int | list[int] = 0,
          rounding: str = "type", seed: int = 0, twin: bool = True,
          show_progress: bool = True) -> TrainResult:
    """Predict-then-learn on every sample, as an online learner on chip does."""
    if stream.n_inputs != model.layers[0] or stream.n_outputs != model.layers[-1]:
        raise ValueError(f"task {stream.name!r} has {stream.n_inputs} inputs and {stream.n_outputs} outputs; "
                         f"the model's layers are {model.layers}")
    learner = OnlineLearner(model, lr=lr, delay=delay, rounding=rounding, seed=seed)
    floater = FloatLearner(model, lr=learner.lr.value, delay=delay) if twin else None
    fixed_out = np.empty_like(stream.target)
    float_out = np.empty_like(stream.target) if twin else None
    for n, (x, target) in enumerate(progress(stream, len(stream), f"{stream.name}", enabled=show_progress)):
        if floater is not None:
            float_out[n] = floater.step(x, target)
        fixed_out[n] = learner.step(x, target)
    learner.flush()
    return TrainResult(stream, learner, fixed_out, float_out)


def default_model_config(kind: str, n_inputs: int, n_outputs: int) -> dict[str, Any]:
    if kind == "kan":
        hidden = [] if n_inputs == 1 else [2 * n_inputs + 1]
        return {"kind": "kan", "layers": [n_inputs, *hidden, n_outputs], "grid": [-1.0, 1.0, 8],
                "order": 3, "lut_bits": 8}
    if kind == "mlp":
        return {"kind": "mlp", "layers": [n_inputs, 8, n_outputs]}
    raise ValueError(f"model kind must be 'kan' or 'mlp', got {kind!r}")


def build_run(config: dict[str, Any], overrides: dict[str, Any]) -> tuple[Model, Stream, dict[str, Any]]:
    """Model, task stream and learning settings from a config plus command-line overrides."""
    task_cfg = {**config.get("task", {}), **{k: v for k, v in overrides.get("task", {}).items() if v is not None}}
    name = task_cfg.pop("name", "drift")
    stream = make_task(name, **task_cfg)
    model_cfg = dict(config.get("model") or {})
    kind = overrides.get("kind")
    if kind and kind != model_cfg.get("kind"):
        model_cfg = default_model_config(kind, stream.n_inputs, stream.n_outputs)
    if not model_cfg:
        model_cfg = default_model_config("kan", stream.n_inputs, stream.n_outputs)
    if overrides.get("bits") is not None:
        model_cfg["bits"] = overrides["bits"]
        model_cfg.pop("types", None)
    learning = {"lr": 2.0 ** -3, "delay": 0, "rounding": "type", "seed": 0, **config.get("learning", {})}
    learning.update({k: v for k, v in overrides.get("learning", {}).items() if v is not None})
    model = model_from_config(model_cfg, seed=learning["seed"])
    return model, stream, learning
