"""Stream a task through the golden learner (and its float twin) and score it per regime."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantkan.diagnostics import Diagnostics
from quantkan.engine import EngineLearner, make_learner
from quantkan.golden import LearningRates, OnlineLearner
from quantkan.models import Model, model_from_config
from quantkan.progress import progress
from quantkan.tasks import Stream, make_task, windowed_metric
from quantkan.twin import FloatLearner

__all__ = ["TrainResult", "train", "check_task_fits", "default_model_config", "build_run", "load_run",
           "model_from_file"]


@dataclass
class TrainResult:
    stream: Stream
    learner: OnlineLearner | EngineLearner
    fixed: np.ndarray  # (n, outputs) predictions of the fixed-point model, made before it learned each sample
    floating: np.ndarray | None  # the same for the float64 twin
    seconds: float = 0.0  # wall time of the stream
    interrupted: bool = False  # stopped by Ctrl-C: ``stream`` holds the samples learned so far
    diagnostics: Diagnostics | None = None  # the learner's counters over the run (quantkan.diagnostics)
    window: Diagnostics | None = None  # ... over the last DIAGNOSTICS_WINDOW samples or more (whole chunks)

    def warnings(self) -> list[str]:
        """Frozen layers (judged on the last window) and saturating ones (the whole run)."""
        if self.diagnostics is None:
            return []
        return self.diagnostics.warnings(self.window, f"the last {self.window.samples} samples"
                                         if self.window is not None else "the whole run")

    def diagnostics_table(self) -> str:
        """Per layer: updates, the fraction that rounded to zero (run and last window), overflows, max |p|."""
        if self.diagnostics is None:
            return ""
        last = f"zero(win): the last {self.window.samples} samples" if self.window is not None else ""
        return (f"diagnostics per layer (updates: lanes of learning samples; zero: attempted updates that "
                f"rounded to zero; {last})\n" + self.diagnostics.table(self.window))

    @property
    def samples_per_second(self) -> float:
        return self.stream.n / self.seconds if self.seconds > 0 else 0.0

    def metrics(self, fraction: float = 0.2) -> dict[str, Any]:
        """Per-regime metrics as plain JSON-able values, for a results file."""
        counts = np.bincount(self.stream.regime) if self.stream.n else []
        return {"metric": self.stream.metric, "window": f"last {fraction:.0%} of each regime",
                "samples": self.stream.n, "interrupted": self.interrupted,
                "seconds": round(self.seconds, 3), "samples_per_second": round(self.samples_per_second, 1),
                "regimes": [{"regime": r, "samples": int(counts[r]), "fixed": fx, "float": fl}
                            for r, fx, fl in self.per_regime(fraction)],
                **({"diagnostics": {**self.diagnostics.to_json(self.window),
                                    "window_samples": self.window.samples if self.window is not None else None},
                    "warnings": self.warnings()} if self.diagnostics is not None else {})}

    def per_regime(self, fraction: float = 0.2) -> list[tuple[int, float, float | None]]:
        """(regime, fixed metric, float metric) over the last ``fraction`` of each regime."""
        fx = windowed_metric(self.stream, self.fixed, fraction)
        fl = windowed_metric(self.stream, self.floating, fraction) if self.floating is not None else {}
        return [(r, fx[r], fl.get(r)) for r in sorted(fx)]

    def table(self, fraction: float = 0.2) -> str:
        metric = self.stream.metric
        number = "{:16.4f}".format if metric == "accuracy" else "{:16.3e}".format
        lines = [f"{'regime':<8}{'samples':>8}{'fixed ' + metric:>16}{'float ' + metric:>16}{'ratio':>8}"
                 f"   (last {fraction:.0%} of each regime)"]
        counts = np.bincount(self.stream.regime)
        for r, fx, fl in self.per_regime(fraction):
            ratio = f"{fx / fl:8.2f}" if fl else f"{'-':>8}"
            fl_text = number(fl) if fl is not None else f"{'-':>16}"
            lines.append(f"{r:<8}{counts[r]:>8}{number(fx)}{fl_text}{ratio}")
        return "\n".join(lines)


#: Samples per compiled-engine call when training (progress and Ctrl-C act between calls).
ENGINE_CHUNK = 2048
#: The frozen warning judges the last this-many samples (or more: whole chunks of ENGINE_CHUNK).
DIAGNOSTICS_WINDOW = 2048


def train(model: Model, stream: Stream, lr: LearningRates = 2.0 ** -3, delay: int | list[int] = 0,
          rounding: str = "type", seed: int = 0, twin: bool = True,
          show_progress: bool = True, engine: str = "auto") -> TrainResult:
    """Predict-then-learn on every sample, as an online learner on chip does.

    ``engine``: "numpy" (the golden learner), "compiled" (quantkan.engine, bit-exact with it)
    or "auto" (compiled where numba is installed and the model fits it).
    Ctrl-C stops the stream between two samples (two chunks of ENGINE_CHUNK on the engine):
    the result then covers the samples learned so far (``interrupted``) and the model holds
    what it learned, ready to be saved.
    """
    check_task_fits(model, stream)
    learner = make_learner(model, engine, lr=lr, delay=delay, rounding=rounding, seed=seed)
    floater = FloatLearner(model, lr=learner.lr, delay=delay) if twin else None  # the rates as rounded
    fixed_out = np.empty_like(stream.target)
    float_out = np.empty_like(stream.target) if twin else None
    done, started = 0, time.perf_counter()
    snapshots = [learner.diagnostics()]  # at chunk boundaries: the frozen warning's window
    with _ctrl_c_stops() as stopped:
        if isinstance(learner, EngineLearner):
            x, t = model.types.input.quantize(stream.x), model.types.output.quantize(stream.target)
            starts = range(0, stream.n, ENGINE_CHUNK)
            for start in progress(starts, len(starts), f"{stream.name} (chunks)", enabled=show_progress):
                if stopped():
                    break
                chunk = slice(start, min(start + ENGINE_CHUNK, stream.n))
                fixed_out[chunk] = model.types.output.to_float(learner.run_raw(x[chunk], t[chunk]))
                for n in range(chunk.start, chunk.stop) if floater is not None else ():
                    float_out[n] = floater.step(stream.x[n], stream.target[n])
                done = chunk.stop
                snapshots.append(learner.diagnostics())
        else:
            for x, target in progress(stream, len(stream), f"{stream.name}", enabled=show_progress):
                if stopped():
                    break
                if floater is not None:
                    float_out[done] = floater.step(x, target)
                fixed_out[done] = learner.step(x, target)
                done += 1
                if done % ENGINE_CHUNK == 0:
                    snapshots.append(learner.diagnostics())
    learner.flush()
    seconds = time.perf_counter() - started
    final = learner.diagnostics()
    window = final.since(next((s for s in reversed(snapshots) if s.samples <= final.samples - DIAGNOSTICS_WINDOW),
                              snapshots[0]))
    if done < stream.n:
        return TrainResult(stream.head(done), learner, fixed_out[:done],
                           None if float_out is None else float_out[:done], seconds, interrupted=True,
                           diagnostics=final, window=window)
    return TrainResult(stream, learner, fixed_out, float_out, seconds, diagnostics=final, window=window)


@contextmanager
def _ctrl_c_stops() -> Iterator[Any]:
    """While active, the first Ctrl-C asks the loop to stop after the current sample (so no
    sample is half learned); a second one interrupts at once."""
    requested = [False]
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signal handlers belong to the main thread
        return

    def handler(signum: int, frame: Any) -> None:
        if requested[0]:
            raise KeyboardInterrupt
        requested[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested[0]
    finally:
        signal.signal(signal.SIGINT, previous)


def check_task_fits(model: Model, stream: Stream) -> None:
    """A ValueError unless the task has as many inputs and outputs as the model: checked before
    anything is built or simulated, since a mismatch would only show as garbage much later."""
    if stream.n_inputs != model.layers[0] or stream.n_outputs != model.layers[-1]:
        raise ValueError(f"task {stream.name!r} has {stream.n_inputs} inputs and {stream.n_outputs} outputs; "
                         f"the model's layers are {model.layers} (task drift2d takes any n_inputs and "
                         f"n_outputs: name = \"drift2d\", n_inputs = {model.layers[0]}, "
                         f"n_outputs = {model.layers[-1]} in [task])")


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
    seed = learning["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"[learning] seed must be an integer >= 0, got {seed!r}")
    model = model_from_config(model_cfg, seed=seed)
    return model, stream, learning


def load_run(config_path: str, model_path: str | None = None, replaces_config: bool = False,
             overrides: dict[str, Any] | None = None) -> tuple[Model, Stream, dict[str, Any]]:
    """:func:`build_run` of a config file, the model optionally read from a saved file.

    The file must hold the config's architecture (a trained copy of it), else it is refused at
    once, naming what differs, unless ``replaces_config``: a wrong file used silently, or found
    out after a long Verilator build, is worse than an error.
    """
    from quantkan.config import load_config

    model, stream, learning = build_run(load_config(config_path), overrides or {})
    if model_path:
        model = model_from_file(model, model_path, config_path, replaces_config)
    return model, stream, learning


def model_from_file(model: Model, model_path: str, source: str, replaces_config: bool = False) -> Model:
    """The model saved in ``model_path``, if it has ``model``'s architecture (or ``replaces_config``)."""
    from quantkan.persist import differences, load

    loaded = load(model_path)
    differ = differences(model, loaded)
    if differ and not replaces_config:
        raise ValueError(f"model file {model_path} does not match the model of {source}: {'; '.join(differ)} "
                         "(config vs file); pass --model-replaces-config to use the file's model anyway")
    return loaded
