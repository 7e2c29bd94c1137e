"""Stream a task through the golden learner (and its float twin) and score it per regime."""

from __future__ import annotations

import copy
import math
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
from quantkan.options import warn
from quantkan.progress import progress
from quantkan.rtl import PIPELINES, SCHEDULES
from quantkan.tasks import Stream, bayes_accuracy, make_task, windowed_metric
from quantkan.twin import FloatLearner

__all__ = ["TrainResult", "train", "check_task_fits", "default_model_config", "build_run", "load_run",
           "model_from_file", "hardware_delays", "resolve_delay", "learner_settings",
           "DELAY_COST_LIMIT", "LEARNING_DEFAULTS", "coef_range_for", "COEF_HEADROOM"]


#: ``train`` says so when the delay's metric (MSE, or error rate = 1 - accuracy) is more than
#: this many times the same run's at D = 0.
DELAY_COST_LIMIT = 1.5


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
    schedule: str | None = None  # the hardware schedule whose D was used (None: an explicit delay)
    pipeline: str = "deep"  # ... and the RTL pipeline
    delays: list[int] | None = None  # D per layer the learner used
    delay_source: str = ""  # where D came from, for people: "the RTL generator's (pipelined, deep)", ...
    undelayed: np.ndarray | None = None  # the fixed-point predictions of the same run at D = 0 (None: D = 0 already)

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
        undelayed = (windowed_metric(self.stream, self.undelayed, fraction)
                     if self.undelayed is not None and self.stream.n else {})
        bayes = self.bayes(fraction)
        return {"metric": self.stream.metric, "window": f"last {fraction:.0%} of each regime",
                "samples": self.stream.n, "interrupted": self.interrupted,
                "seconds": round(self.seconds, 3), "samples_per_second": round(self.samples_per_second, 1),
                "schedule": self.schedule, "pipeline": self.pipeline, "delay": self.delays,
                "delay_source": self.delay_source,
                "delay_cost": self.delay_cost(fraction),
                "regimes": [{"regime": r, "samples": int(counts[r]), "fixed": fx, "float": fl,
                             **({"fixed_at_d0": undelayed[r]} if r in undelayed else {}),
                             **({"bayes": bayes[r]} if r in bayes else {})}
                            for r, fx, fl in self.per_regime(fraction)],
                **({"diagnostics": {**self.diagnostics.to_json(self.window),
                                    "window_samples": self.window.samples if self.window is not None else None},
                    "warnings": self.warnings()} if self.diagnostics is not None else {})}

    def delay_cost(self, fraction: float = 0.2) -> float | None:
        """The run's loss at its D over the same run's at D = 0 (None when D = 0 or not measured).

        The loss is the MSE, or the error rate (1 - accuracy), averaged over the last ``fraction``
        of each regime: 2.0 means the pipeline's delay doubles the error the learner ends with."""
        if self.undelayed is None or not self.stream.n:
            return None
        delayed, undelayed = (_loss(self.stream, p, fraction) for p in (self.fixed, self.undelayed))
        if undelayed == 0.0:
            return 1.0 if delayed == 0.0 else float("inf")
        return delayed / undelayed

    def delay_summary(self, fraction: float = 0.2) -> str:
        """One line for people: D, where it came from, and what it costs against D = 0."""
        text = f"update delay D = {self.delays} per layer ({self.delay_source})"
        cost = self.delay_cost(fraction)
        if cost is not None:
            loss = "MSE" if self.stream.metric == "mse" else "error rate"
            text += (f"; {loss} {_loss(self.stream, self.fixed, fraction):.3e} vs "
                     f"{_loss(self.stream, self.undelayed, fraction):.3e} at D = 0 ({cost:.2f}x)")
        return text

    def bayes(self, fraction: float = 0.2) -> dict[int, float]:
        """The task's Bayes-optimal accuracy per regime over the scored windows ({} when the task
        does not know it): the limit the fixed and float metrics read against."""
        if not self.stream.n:
            return {}
        return bayes_accuracy(self.stream, fraction) or {}

    def per_regime(self, fraction: float = 0.2) -> list[tuple[int, float, float | None]]:
        """(regime, fixed metric, float metric) over the last ``fraction`` of each regime."""
        fx = windowed_metric(self.stream, self.fixed, fraction)
        fl = windowed_metric(self.stream, self.floating, fraction) if self.floating is not None else {}
        return [(r, fx[r], fl.get(r)) for r in sorted(fx)]

    def table(self, fraction: float = 0.2) -> str:
        metric = self.stream.metric
        number = "{:16.4f}".format if metric == "accuracy" else "{:16.3e}".format
        bayes = self.bayes(fraction)
        lines = [f"{'regime':<8}{'samples':>8}{'fixed ' + metric:>16}{'float ' + metric:>16}{'ratio':>8}"
                 + (f"{'Bayes limit':>16}" if bayes else "") + f"   (last {fraction:.0%} of each regime)"]
        counts = np.bincount(self.stream.regime)
        for r, fx, fl in self.per_regime(fraction):
            ratio = f"{fx / fl:8.2f}" if fl else f"{'-':>8}"
            fl_text = number(fl) if fl is not None else f"{'-':>16}"
            lines.append(f"{r:<8}{counts[r]:>8}{number(fx)}{fl_text}{ratio}" + (number(bayes[r]) if bayes else ""))
        if bayes:
            lines.append(f"Bayes-optimal accuracy (the task's limit, its true parameters known): "
                         f"{np.mean(list(bayes.values())):.4f} over these windows")
        return "\n".join(lines)


#: Samples per compiled-engine call when training (progress and Ctrl-C act between calls).
ENGINE_CHUNK = 2048
#: The frozen warning judges the last this-many samples (or more: whole chunks of ENGINE_CHUNK).
DIAGNOSTICS_WINDOW = 2048


def _loss(stream: Stream, predictions: np.ndarray, fraction: float) -> float:
    """The loss a delay is judged by: MSE, or error rate for accuracy, over the regimes' tails."""
    values = list(windowed_metric(stream, predictions, fraction).values())
    mean = float(np.mean(values))
    return mean if stream.metric == "mse" else 1.0 - mean


def hardware_delays(model: Model, schedule: str = "pipelined", lr: Any = 2.0 ** -3,
                    rounding: str = "type", pipeline: str = "deep") -> list[int]:
    """D per layer of the learner the RTL generator builds for ``model`` (``pipeline``: deep,
    deeper or shallow) under ``schedule``: the delay the hardware learns with.  Needs Amaranth
    (an ImportError otherwise) for the pipelined schedule; sequential is D = 0 by definition."""
    _check_choice("schedule", schedule, SCHEDULES)
    _check_choice("pipeline", pipeline, PIPELINES)
    if schedule == "sequential":
        return [0] * (len(model.layers) - 1)
    from quantkan.rtl.export import learner_timing  # Amaranth: loaded only when asked for

    return list(learner_timing(model, schedule, lr=lr, rounding=rounding, pipeline=pipeline).delays)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """A ValueError that names the setting and its choices when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def resolve_delay(model: Model, schedule: str | None = "pipelined", delay: int | list[int] | None = None,
                  lr: Any = 2.0 ** -3, rounding: str = "type", pipeline: str = "deep") -> tuple[int | list[int], str]:
    """(D, where it came from): an explicit ``delay`` wins; else the RTL generator's D for
    ``schedule`` and ``pipeline``; without Amaranth, D = 0 and a warning that says so."""
    if delay is not None:
        return delay, "given"
    if schedule is None:
        return 0, "no schedule: plain SGD"
    try:
        return (hardware_delays(model, schedule, lr, rounding, pipeline),
                f"the RTL generator's, {schedule} schedule, {pipeline} pipeline")
    except ImportError as err:
        warn(f"cannot ask the RTL generator for the {schedule} schedule's update delay ({err}; Amaranth "
             "comes with pip install quantkan): learning with D = 0, which the pipelined hardware does not do")
        return 0, "D = 0: Amaranth is not installed"


def learner_settings(model: Model, learning: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a learner (lr, delay, rounding, seed) for a ``build_run``
    learning table, its delay resolved (:func:`resolve_delay`)."""
    delay, _ = resolve_delay(model, learning.get("schedule"), learning.get("delay"), learning["lr"],
                             learning["rounding"], learning.get("pipeline", "deep"))
    return {"lr": learning["lr"], "delay": delay, "rounding": learning["rounding"], "seed": learning["seed"]}


def train(model: Model, stream: Stream, lr: LearningRates = 2.0 ** -3, delay: int | list[int] | None = None,
          rounding: str = "type", seed: int = 0, twin: bool = True,
          show_progress: bool = True, engine: str = "auto", schedule: str | None = "pipelined",
          pipeline: str = "deep", check_delay: bool = True) -> TrainResult:
    """Predict-then-learn on every sample, as an online learner on chip does.

    The update delay is the hardware's: an explicit ``delay`` (one D or one per layer) wins,
    else the D the RTL generator reports for ``schedule`` ("pipelined", the default: a sample
    every cycle; "sequential": D = 0; None: D = 0 without asking the generator) and ``pipeline``
    ("deep", the default; "deeper": more cycles, a larger D; "shallow": fewer).  With
    ``check_delay`` and D > 0 the same run is repeated at D = 0 (on the compiled engine where
    numba is installed: cheap) so :meth:`TrainResult.delay_cost` tells what the delay costs.
    ``engine``: "numpy" (the golden learner), "compiled" (quantkan.engine, bit-exact with it)
    or "auto" (compiled where numba is installed and the model fits it).
    Ctrl-C stops the stream between two samples (two chunks of ENGINE_CHUNK on the engine):
    the result then covers the samples learned so far (``interrupted``) and the model holds
    what it learned, ready to be saved.
    """
    check_task_fits(model, stream)
    if schedule is not None:
        _check_choice("schedule", schedule, SCHEDULES)
    _check_choice("pipeline", pipeline, PIPELINES)
    delay, source = resolve_delay(model, schedule, delay, lr, rounding, pipeline)
    undelayed_model = copy.deepcopy(model) if check_delay and np.any(np.asarray(delay) > 0) else None
    learner = make_learner(model, engine, lr=lr, delay=delay, rounding=rounding, seed=seed)
    floater = _Twin(FloatLearner(model, lr=learner.lr, delay=delay)) if twin else None  # the rates as rounded
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
    how = dict(schedule=None if source == "given" else schedule, pipeline=pipeline, delays=list(learner.delays),
               delay_source=source, diagnostics=final, window=window)
    if done < stream.n:
        return TrainResult(stream.head(done), learner, fixed_out[:done],
                           None if float_out is None else float_out[:done], seconds, interrupted=True, **how)
    undelayed = None
    if undelayed_model is not None:
        undelayed = _predictions(make_learner(undelayed_model, "auto", lr=lr, delay=0, rounding=rounding, seed=seed),
                                 undelayed_model, stream)
    return TrainResult(stream, learner, fixed_out, float_out, seconds, undelayed=undelayed, **how)


def _predictions(learner: OnlineLearner | EngineLearner, model: Model, stream: Stream) -> np.ndarray:
    """Every prediction of a learner over a whole stream (made before it learned each sample)."""
    if isinstance(learner, EngineLearner):
        x, t = model.types.input.quantize(stream.x), model.types.output.quantize(stream.target)
        out = model.types.output.to_float(learner.run_raw(x, t))
    else:
        out = np.array([learner.step(x, target) for x, target in stream])
    learner.flush()
    return out


class _Twin:
    """The float64 twin, until it diverges: once its parameters are no longer finite (too large
    a learning rate or delay, where fixed point saturates instead) it predicts NaN, and its
    metric reads nan rather than the run failing on the first NaN that reaches a grid."""

    def __init__(self, learner: FloatLearner) -> None:
        self.learner, self.diverged = learner, False

    def step(self, x: np.ndarray, target: np.ndarray) -> np.ndarray:
        if not self.diverged:
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    y = self.learner.step(x, target)
                if np.all(np.isfinite(y)):
                    return y
            except ValueError:
                if all(np.all(np.isfinite(p)) for p in self.learner.params):
                    raise  # not a divergence: a real error
            self.diverged = True
        return np.full(np.shape(target), np.nan)


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


#: Headroom of the coefficient range over the largest |target|: a spline's coefficients
#: overshoot the function they fit near its extremes (measured: a [1, 1] KAN on ``drift``, whose
#: targets reach 1, loses 2x MSE at 10-16 bits with coefficients in [-1, 1)).
COEF_HEADROOM = 1.25


def coef_range_for(stream: Stream) -> float:
    """The KAN coefficient range a task needs: the smallest power of two that holds
    COEF_HEADROOM times its largest |target| (2 for targets within [-1.6, 1.6]).

    The model does not know the task, so :func:`build_run` (a config turned into a model for
    a task) asks this.  Without it coefficients get ``models.DEFAULT_COEF_RANGE`` (4): one
    integer bit more than the tasks here need, one fractional bit less.  Measured
    (``benchmarks/learning_quality.py coef``: best lr, pipelined D, type rounding): range 2
    against 4 cuts the MSE 5.9x / 5.6x on ``drift`` ([1, 1]) and 2.4x / 3.0x on ``drift2d``
    ([2, 5, 1]) at 6 / 8 bits, lifts ``qubit_trace`` ([6, 2, 1]) from 0.656 / 0.839 to
    0.836 / 0.914 accuracy, and at 10-16 bits stays within 1.16x of it either way.  Range 1
    (no headroom) is better still at 6-8 bits for two-layer models but doubles the MSE of
    ``drift`` at 10-16 bits (its targets reach 1: the coefficients saturate at the peaks)."""
    reach = float(np.max(np.abs(stream.target))) if stream.n else 1.0
    return 2.0 ** math.ceil(math.log2(COEF_HEADROOM * max(reach, 2.0 ** -8)))


def default_model_config(kind: str, n_inputs: int, n_outputs: int) -> dict[str, Any]:
    if kind == "kan":
        hidden = [] if n_inputs == 1 else [2 * n_inputs + 1]
        return {"kind": "kan", "layers": [n_inputs, *hidden, n_outputs], "grid": [-1.0, 1.0, 8],
                "order": 3, "lut_bits": 8}
    if kind == "mlp":
        return {"kind": "mlp", "layers": [n_inputs, 8, n_outputs]}
    raise ValueError(f"model kind must be 'kan' or 'mlp', got {kind!r}")


#: A config's [learning] settings when it gives none.  Every config describes a learner the RTL
#: generator builds (the same file feeds export, sim, boards), so it targets hardware: unless it
#: sets ``delay`` (which wins) or ``schedule = "sequential"``, it learns with the pipelined
#: hardware's D (``delay = None``: the schedule's and pipeline's, see :func:`resolve_delay`); the
#: RTL commands build ``pipeline`` unless told otherwise.
LEARNING_DEFAULTS: dict[str, Any] = {"lr": 2.0 ** -3, "delay": None, "schedule": "pipelined", "pipeline": "deep",
                                     "rounding": "type", "seed": 0}


def build_run(config: dict[str, Any], overrides: dict[str, Any]) -> tuple[Model, Stream, dict[str, Any]]:
    """Model, task stream and learning settings from a config plus command-line overrides.

    ``learning["delay"]`` is the config's (or the command line's) explicit delay, None when it
    gives none: :func:`train` then takes the D of ``learning["schedule"]`` and ``learning["pipeline"]``."""
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
    if model_cfg.get("kind") == "kan" and "coef_range" not in model_cfg and "coef" not in (model_cfg.get("types") or {}):
        model_cfg["coef_range"] = coef_range_for(stream)  # the task's targets size the coefficients
    learning = {**LEARNING_DEFAULTS, **config.get("learning", {})}
    learning.update({k: v for k, v in overrides.get("learning", {}).items() if v is not None})
    seed = learning["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"[learning] seed must be an integer >= 0, got {seed!r}")
    _check_choice("[learning] schedule", learning["schedule"], SCHEDULES)
    _check_choice("[learning] pipeline", learning["pipeline"], PIPELINES)
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
