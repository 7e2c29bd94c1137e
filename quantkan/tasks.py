"""Seeded, reproducible task streams for online learning (pure NumPy).

A model learns *online*: it sees one ``(x, target)`` pair, predicts, updates, and moves
on.  Every task here is a finite stream of such pairs, drawn once and returned as a
:class:`Stream`.  The tasks follow the kinds used by Hoang, Gupta and Harris,
"Ultrafast On-chip Online Learning via Spline Locality in Kolmogorov-Arnold Networks"
(arXiv 2602.02056): drifting regression and non-stationary qubit readout.  The paper's
exact generators are not reproduced here; these are this project's own, documented
precisely in each function's docstring so that anyone can re-implement them.

Conventions shared by every task

- ``rng = np.random.default_rng(seed)`` is the only source of randomness; the draws are
  made in the order each docstring lists, so a stream is a pure function of its
  arguments.
- Inputs lie inside ``stream.input_range`` (a half-open interval ``[lo, hi)``), so a KAN
  grid can be set to exactly that range.  All tasks use ``[-1, 1)``.
- Targets are bounded (|target| <= 1.5 in every case, <= 1 without noise), so a 16-bit
  signed fixed-point output with two integer bits (range [-2, 2)) holds them.
- ``stream.regime[i]`` names the regime sample ``i`` belongs to.  Regimes are contiguous,
  in order 0, 1, ..., R-1, and split the stream into (nearly) equal blocks:
  ``regime[i] = (i * R) // n``.

Evaluation helpers: :func:`windowed_metric` (per-regime metric over the tail of each
regime, i.e. "how well had the learner re-adapted by the end of the regime") and
:func:`running_metric` (a trailing moving average, for learning curves).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Stream",
    "drift_1d",
    "drift_1d_target",
    "drift_multi",
    "drift_multi_target",
    "qubit_readout",
    "qubit_centres",
    "qubit_trace",
    "qubit_trace_centres",
    "qubit_trace_posterior",
    "bayes_accuracy",
    "TASKS",
    "make_task",
    "windowed_metric",
    "running_metric",
    "sample_scores",
]

METRICS = ("mse", "accuracy")

#: Every target of the regression tasks is clipped to [-TARGET_CLIP, TARGET_CLIP]
#: after noise is added (without noise the targets already lie in [-1, 1]).
TARGET_CLIP = 1.5


def _below(hi: float) -> float:
    """The largest float64 strictly below ``hi`` (inputs are clipped to [lo, _below(hi)])."""
    return float(np.nextafter(hi, -np.inf))


# ---------------------------------------------------------------------------------------
# The common structure
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Stream:
    """A finite stream of ``(x, target)`` samples, in the order a learner sees them.

    ``x`` is ``(n, n_inputs)`` float64, every value inside ``input_range`` = ``[lo, hi)``;
    ``target`` is ``(n, n_outputs)`` float64; ``regime`` is ``(n,)`` int64.  ``metric``
    is ``"mse"`` (regression) or ``"accuracy"`` (binary target 0.0 / 1.0, predictions
    thresholded at 0.5).  ``params`` records the arguments that generated the stream.
    The arrays are copied and made read-only on construction.
    """

    name: str
    x: np.ndarray
    target: np.ndarray
    regime: np.ndarray
    input_range: tuple[float, float]
    metric: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: ``(n,)`` or None: for a classification task whose generator knows its own likelihoods,
    #: the probability that the Bayes-optimal decision (the true regime's parameters, the
    #: prior) is right on sample i, ``max_s P(s | x_i)``.  Its mean over samples estimates the
    #: best accuracy any classifier can reach there (see :func:`bayes_accuracy`).
    bayes: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = np.array(self.x, dtype=np.float64)
        target = np.array(self.target, dtype=np.float64)
        regime = np.array(self.regime, dtype=np.int64)
        if x.ndim == 1:
            x = x[:, None]
        if target.ndim == 1:
            target = target[:, None]
        if x.ndim != 2 or target.ndim != 2 or regime.ndim != 1:
            raise ValueError("Stream needs x (n, n_inputs), target (n, n_outputs), regime (n,)")
        n = x.shape[0]
        if target.shape[0] != n or regime.shape[0] != n:
            raise ValueError(
                f"Stream arrays disagree on n: x {x.shape}, target {target.shape}, "
                f"regime {regime.shape}")
        lo, hi = (float(v) for v in self.input_range)
        if not lo < hi:
            raise ValueError(f"input_range must have lo < hi, got {self.input_range}")
        if n and not (np.all(x >= lo) and np.all(x < hi)):
            raise ValueError(f"inputs outside input_range [{lo}, {hi})")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        bayes = None
        if self.bayes is not None:
            bayes = np.array(self.bayes, dtype=np.float64)
            if bayes.shape != (n,):
                raise ValueError(f"Stream bayes must have shape ({n},), got {bayes.shape}")
            bayes.setflags(write=False)
        object.__setattr__(self, "bayes", bayes)
        for a in (x, target, regime):
            a.setflags(write=False)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "regime", regime)
        object.__setattr__(self, "input_range", (lo, hi))
        object.__setattr__(self, "params", dict(self.params))

    def __len__(self) -> int:
        return self.x.shape[0]

    def __iter__(self):
        """Yield ``(x_i, target_i)`` pairs, one 1-D row each, in stream order."""
        return zip(self.x, self.target)

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.x.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.target.shape[1]

    @property
    def n_regimes(self) -> int:
        return int(self.regime.max()) + 1 if self.n else 0

    def regime_bounds(self) -> list[tuple[int, int]]:
        """``[(start, stop), ...]`` of each regime, for contiguous regimes 0..R-1."""
        return [(int(np.argmax(self.regime == r)), int(len(self.regime) - np.argmax(self.regime[::-1] == r)))
                for r in range(self.n_regimes)]

    def head(self, n: int) -> Stream:
        """The first ``n`` samples (what a learner saw before it was stopped)."""
        return Stream(self.name, self.x[:n], self.target[:n], self.regime[:n], self.input_range, self.metric,
                      self.params, None if self.bayes is None else self.bayes[:n])

    def __repr__(self) -> str:
        return (f"Stream({self.name!r}, n={self.n}, n_inputs={self.n_inputs}, "
                f"n_outputs={self.n_outputs}, regimes={self.n_regimes}, "
                f"input_range={self.input_range}, metric={self.metric!r})")


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _int_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _float_arg(name: str, value: Any, minimum: float | None = None,
               maximum: float | None = None, strict_min: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if minimum is not None and (value < minimum or (strict_min and value == minimum)):
        op = ">" if strict_min else ">="
        raise ValueError(f"{name} must be {op} {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def _seed_arg(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _regime_labels(n: int, regimes: int) -> np.ndarray:
    if regimes > n:
        raise ValueError(f"regimes ({regimes}) must not exceed n ({n}): every regime needs a sample")
    return (np.arange(n, dtype=np.int64) * regimes) // n


# ---------------------------------------------------------------------------------------
# Drifting 1-D regression
# ---------------------------------------------------------------------------------------

#: Number of distinct regime functions of :func:`drift_1d`; regime r uses r mod this.
N_DRIFT_1D_FUNCTIONS = 4


def drift_1d_target(x: np.ndarray, regime: int | np.ndarray) -> np.ndarray:
    """Noise-free target of :func:`drift_1d`: ``f_{regime mod 4}(x)``, element-wise.

    - ``f_0(x) = sin(pi x)``                        range [-1, 1]
    - ``f_1(x) = 0.5 cos(2 pi x) + 0.3 x``          range within [-0.8, 0.8]
    - ``f_2(x) = 0.9 tanh(5 (x - 0.25))``           a soft step moved off centre
    - ``f_3(x) = 1.6 exp(-8 x^2) - 0.8``            a bump, range [-0.8, 0.8]

    ``x`` and ``regime`` broadcast against each other.
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(regime, dtype=np.int64) % N_DRIFT_1D_FUNCTIONS
    x, k = np.broadcast_arrays(x, k)
    return np.select(
        [k == 0, k == 1, k == 2, k == 3],
        [np.sin(np.pi * x),
         0.5 * np.cos(2 * np.pi * x) + 0.3 * x,
         0.9 * np.tanh(5.0 * (x - 0.25)),
         1.6 * np.exp(-8.0 * x * x) - 0.8])


def drift_1d(n: int = 6000, regimes: int = 3, seed: int = 0, noise: float = 0.0) -> Stream:
    """1-D drifting regression: the target function switches abruptly between regimes.

    Generator (exactly):

    1. ``rng = np.random.default_rng(seed)``.
    2. ``x = rng.uniform(-1.0, 1.0, size=(n, 1))`` (so x in [-1, 1)).
    3. ``regime[i] = (i * regimes) // n``: ``regimes`` contiguous, nearly equal blocks,
       each switch abrupt (sample i-1 is in the old regime, sample i in the new one).
    4. ``target = f_{regime mod 4}(x)`` with (see :func:`drift_1d_target`)

       - ``f_0(x) = sin(pi x)``
       - ``f_1(x) = 0.5 cos(2 pi x) + 0.3 x``
       - ``f_2(x) = 0.9 tanh(5 (x - 0.25))``
       - ``f_3(x) = 1.6 exp(-8 x^2) - 0.8``

       so with more than four regimes the functions recur (regime 4 is ``f_0`` again),
       which shows whether a learner re-learns or remembers.
    5. ``e = rng.standard_normal(size=(n, 1))`` (always drawn) and
       ``target = clip(target + noise * e, -1.5, 1.5)``.

    Noise-free targets lie in [-1, 1]; with noise they are clipped to [-1.5, 1.5].
    ``input_range = (-1.0, 1.0)``, ``metric = "mse"``.
    """
    n = _int_arg("n", n, 1)
    regimes = _int_arg("regimes", regimes, 1)
    seed = _seed_arg(seed)
    noise = _float_arg("noise", noise, minimum=0.0)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 1))
    regime = _regime_labels(n, regimes)
    target = drift_1d_target(x, regime[:, None])
    e = rng.standard_normal(size=(n, 1))
    target = np.clip(target + noise * e, -TARGET_CLIP, TARGET_CLIP)
    return Stream("drift", x, target, regime, (-1.0, 1.0), "mse",
                  dict(n=n, regimes=regimes, seed=seed, noise=noise))


# ---------------------------------------------------------------------------------------
# Drifting multi-input regression
# ---------------------------------------------------------------------------------------

#: Number of distinct regime functions of :func:`drift_multi`; regime r uses r mod this.
N_DRIFT_MULTI_FUNCTIONS = 4


def drift_multi_target(x: np.ndarray, regime: int | np.ndarray) -> np.ndarray:
    """Noise-free target of :func:`drift_multi`, shape ``(n, 1)``.

    ``x`` is ``(n, d)``; ``regime`` a scalar or an ``(n,)`` array.  With ``j = (i+1) mod d``
    (the cyclic neighbour of input i; for d = 1, j = i) and means over i = 0..d-1:

    - ``g_0(x) = mean_i sin(pi x_i)``                                 separable sum
    - ``g_1(x) = mean_i [0.6 x_i x_j + 0.4 cos(pi x_i)]``             products + sum
    - ``g_2(x) = mean_i 0.9 tanh(3 (x_i - 0.5 x_j))``                 sheared soft steps
    - ``g_3(x) = 1.6 exp(-(4/d) sum_i (x_i - c_i)^2) - 0.8``, ``c_i = 0.3 (-1)^i``  a bump

    For d = 2, ``g_1 = 0.6 x_0 x_1 + 0.2 (cos(pi x_0) + cos(pi x_1))``.  Every g lies in
    [-1, 1].
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be (n, n_inputs), got shape {x.shape}")
    n, d = x.shape
    k = np.broadcast_to(np.asarray(regime, dtype=np.int64) % N_DRIFT_MULTI_FUNCTIONS, (n,))
    xj = np.roll(x, -1, axis=1)  # xj[:, i] = x[:, (i + 1) % d]
    c = 0.3 * (-1.0) ** np.arange(d)
    g = np.select(
        [k == 0, k == 1, k == 2, k == 3],
        [np.mean(np.sin(np.pi * x), axis=1),
         np.mean(0.6 * x * xj + 0.4 * np.cos(np.pi * x), axis=1),
         np.mean(0.9 * np.tanh(3.0 * (x - 0.5 * xj)), axis=1),
         1.6 * np.exp(-(4.0 / d) * np.sum((x - c) ** 2, axis=1)) - 0.8])
    return g[:, None]


def drift_multi(n: int = 8000, n_inputs: int = 2, regimes: int = 3, seed: int = 0,
                noise: float = 0.0, n_outputs: int = 1) -> Stream:
    """Multi-input drifting regression: ``n_inputs`` inputs, ``n_outputs`` outputs, abrupt regimes.

    Generator (exactly):

    1. ``rng = np.random.default_rng(seed)``.
    2. ``x = rng.uniform(-1.0, 1.0, size=(n, n_inputs))``.
    3. ``regime[i] = (i * regimes) // n``.
    4. ``target = g_{regime mod 4}(x)`` with (see :func:`drift_multi_target`;
       ``j = (i+1) mod d``, means over the d = n_inputs inputs)

       - ``g_0(x) = mean_i sin(pi x_i)``
       - ``g_1(x) = mean_i [0.6 x_i x_j + 0.4 cos(pi x_i)]``
       - ``g_2(x) = mean_i 0.9 tanh(3 (x_i - 0.5 x_j))``
       - ``g_3(x) = 1.6 exp(-(4/d) sum_i (x_i - c_i)^2) - 0.8``, ``c_i = 0.3 (-1)^i``

       ``g_0`` is a sum of univariate functions (one KAN layer can represent it exactly);
       ``g_1`` and ``g_2`` couple neighbouring inputs; ``g_3`` is a non-separable bump.
       Output ``o`` (of ``n_outputs``, default 1) is ``g_{(regime + o) mod 4}(x)``: at every
       moment the outputs follow different functions, and all of them switch together.
    5. ``e = rng.standard_normal(size=(n, n_outputs))`` (always drawn) and
       ``target = clip(target + noise * e, -1.5, 1.5)``.

    Noise-free targets lie in [-1, 1].  ``input_range = (-1.0, 1.0)``, ``metric = "mse"``.
    """
    n = _int_arg("n", n, 1)
    n_inputs = _int_arg("n_inputs", n_inputs, 1)
    n_outputs = _int_arg("n_outputs", n_outputs, 1)
    regimes = _int_arg("regimes", regimes, 1)
    seed = _seed_arg(seed)
    noise = _float_arg("noise", noise, minimum=0.0)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, n_inputs))
    regime = _regime_labels(n, regimes)
    target = np.concatenate([drift_multi_target(x, regime + o) for o in range(n_outputs)], axis=1)
    e = rng.standard_normal(size=(n, n_outputs))
    target = np.clip(target + noise * e, -TARGET_CLIP, TARGET_CLIP)
    return Stream("drift2d", x, target, regime, (-1.0, 1.0), "mse",
                  dict(n=n, n_inputs=n_inputs, n_outputs=n_outputs, regimes=regimes, seed=seed, noise=noise))


# ---------------------------------------------------------------------------------------
# Non-stationary qubit readout
# ---------------------------------------------------------------------------------------


def qubit_centres(t: np.ndarray, separation: float = 0.6, rotation: float = np.pi / 2,
                  shift: tuple[float, float] = (0.2, 0.1)) -> tuple[np.ndarray, np.ndarray]:
    """Cluster centres ``(mu_0(t), mu_1(t))``, each ``(len(t), 2)``, at stream time t in [0, 1].

    ``theta(t) = rotation * t``, ``c(t) = shift * (t - 0.5)``,
    ``mu_0(t) = c(t) + R(theta) (-separation/2, 0)``,
    ``mu_1(t) = c(t) + R(theta) (+separation/2, 0)``, with
    ``R(theta) = [[cos, -sin], [sin, cos]]``.
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    theta = rotation * t
    half = 0.5 * separation * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    c = (t - 0.5)[:, None] * np.asarray(shift, dtype=np.float64)[None, :]
    return c - half, c + half


def qubit_readout(n: int = 10000, seed: int = 0, regimes: int = 5, sigma: float = 0.12,
                  separation: float = 0.6, rotation: float = np.pi / 2,
                  shift: tuple[float, float] = (0.2, 0.1), p_decay: float = 0.03,
                  p1: float = 0.5) -> Stream:
    """Non-stationary qubit readout: classify drifting I/Q points as |0> or |1>.

    Each sample is one integrated readout signal, a point in the (scaled) I/Q plane;
    the learner predicts the prepared state.  The two Gaussian clusters slowly rotate
    (e.g. a drifting local-oscillator phase) and translate (e.g. an amplifier offset)
    over the whole stream, so a fixed discriminator decays to chance while an online
    learner can follow.

    Generator (exactly):

    1. ``rng = np.random.default_rng(seed)``; stream time ``t_i = i / (n - 1)``
       (``t = 0`` when ``n == 1``).
    2. ``state = (rng.random(n) < p1)`` as int (1 = |1>, probability ``p1``, default 0.5).
    3. ``e = rng.standard_normal(size=(n, 2))``.
    4. ``decay = rng.random(n) < p_decay`` and ``f = rng.random(n)``.
    5. Centres (see :func:`qubit_centres`): ``theta = rotation * t`` (default pi/2 over
       the stream), ``c = shift * (t - 0.5)`` (default (0.2, 0.1)),
       ``mu_0 = c + R(theta) (-separation/2, 0)``, ``mu_1 = c + R(theta) (+separation/2, 0)``
       (default separation 0.6).
    6. Mean of each point: ``mu_state``, except that a |1> sample with ``decay`` (a T1
       relaxation during the readout window) has mean ``mu_1 + f (mu_0 - mu_1)``, a point
       uniformly along the segment towards |0>; its label stays 1.
    7. ``x = mean + sigma * e`` (default sigma 0.12), then clipped to
       ``[-1, nextafter(1, -inf)]`` so every input lies in ``[-1, 1)``.  With the
       defaults the centres stay within radius 0.41 of the origin, so clipping touches
       only outliers beyond 4.9 sigma (about one sample in a million); with larger
       ``shift``, ``separation`` or ``sigma`` it happens more often.
    8. ``target = state`` as float, shape (n, 1): 0.0 for |0>, 1.0 for |1>.  Predictions
       are scored by thresholding at 0.5.
    9. ``regime[i] = (i * regimes) // n``: the drift is continuous, so regimes here are
       just equal time blocks (default 5) that :func:`windowed_metric` reports on.

    With the defaults the local (Bayes) accuracy is about 98%: separation/2 = 2.5 sigma
    plus the decayed |1> shots that cross the midpoint.
    ``input_range = (-1.0, 1.0)``, ``metric = "accuracy"``.
    """
    n = _int_arg("n", n, 1)
    regimes = _int_arg("regimes", regimes, 1)
    seed = _seed_arg(seed)
    sigma = _float_arg("sigma", sigma, minimum=0.0, strict_min=True)
    separation = _float_arg("separation", separation, minimum=0.0)
    rotation = _float_arg("rotation", rotation)
    p_decay = _float_arg("p_decay", p_decay, minimum=0.0, maximum=1.0)
    p1 = _float_arg("p1", p1, minimum=0.0, maximum=1.0)
    try:
        shift = tuple(_float_arg("shift", float(s)) for s in shift)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"shift must be two finite numbers, got {shift!r}") from exc
    if len(shift) != 2:
        raise ValueError(f"shift must be two finite numbers, got {shift!r}")

    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64) / (n - 1) if n > 1 else np.zeros(1)
    state = (rng.random(n) < p1).astype(np.int64)
    e = rng.standard_normal(size=(n, 2))
    decay = rng.random(n) < p_decay
    f = rng.random(n)
    mu0, mu1 = qubit_centres(t, separation, rotation, shift)
    mean = np.where(state[:, None] == 1, mu1, mu0)
    decayed = (state == 1) & decay
    mean[decayed] = mu1[decayed] + f[decayed, None] * (mu0[decayed] - mu1[decayed])
    x = np.clip(mean + sigma * e, -1.0, _below(1.0))
    target = state.astype(np.float64)[:, None]
    regime = _regime_labels(n, regimes)
    return Stream("qubit", x, target, regime, (-1.0, 1.0), "accuracy",
                  dict(n=n, seed=seed, regimes=regimes, sigma=sigma, separation=separation,
                       rotation=rotation, shift=shift, p_decay=p_decay, p1=p1))


# ---------------------------------------------------------------------------------------
# Qubit readout from I/Q time traces (T1 decay, integration windows, regimes)
# ---------------------------------------------------------------------------------------

#: Gauss-Legendre nodes per integration window in :func:`qubit_trace_posterior` (measured on
#: the default stream: 24 agree with 48 and 96 to 1e-15, 16 with 24 to 3e-9).
BAYES_NODES = 24
#: Samples per block of :func:`qubit_trace_posterior` (its arrays grow with samples x nodes).
BAYES_CHUNK = 8192


def qubit_trace_centres(regimes: int, separation: float = 0.4, rotation: float = 0.6,
                        shift: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Cluster centres ``(mu_0, mu_1)`` of :func:`qubit_trace`, each ``(regimes, 2)`` (I, Q).

    Regime r: ``theta_r = rotation * r`` (a local-oscillator phase that jumps),
    ``c_r = shift * (cos(2.4 r), sin(2.4 r))`` (an amplifier offset that jumps),
    ``mu_0 = c_r + R(theta_r) (-separation/2, 0)``, ``mu_1 = c_r + R(theta_r) (+separation/2, 0)``.
    """
    r = np.arange(regimes, dtype=np.float64)
    theta = rotation * r
    half = 0.5 * separation * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    c = shift * np.stack([np.cos(2.4 * r), np.sin(2.4 * r)], axis=1)
    return c - half, c + half


def _excited_fraction(t_decay: np.ndarray, windows: int) -> np.ndarray:
    """``(..., windows)``: the fraction of each window a |1> trace that relaxes at ``t_decay``
    spends in |1> (``clip(windows * t_decay - k, 0, 1)`` for window k)."""
    return np.clip(windows * np.asarray(t_decay, dtype=np.float64)[..., None] - np.arange(windows), 0.0, 1.0)


def qubit_trace(n: int = 20000, seed: int = 0, regimes: int = 4, windows: int = 3, sigma: float = 0.08,
                separation: float = 0.4, t1: float = 2.0, rotation: float = 0.6, shift: float = 0.1,
                p1: float = 0.5) -> Stream:
    """Qubit readout from I/Q time traces: integration windows in, T1 decay, jumping centres.

    One readout lasts one time unit.  The resonator's I/Q signal sits at the centre of the
    qubit's current state; a |1> shot relaxes to |0> at a time drawn from an exponential of
    mean ``t1`` (in readout lengths: with the default 2, 39% of |1> shots relax during the
    readout, a hard case).  The trace is integrated over ``windows`` equal windows; each window's I and Q
    (its mean signal plus white noise) are the inputs, so the learner sees *when* a shot
    relaxed, which one integral over the whole readout hides.  The centres jump at every
    regime (phase and offset drift), so a fixed discriminator fails after the first.

    Generator (exactly):

    1. ``rng = np.random.default_rng(seed)``; ``W = windows``.
    2. ``state = (rng.random(n) < p1)`` as int (1 = |1>).
    3. ``t_decay = rng.exponential(t1, size=n)`` (drawn for every shot, used for |1> only).
    4. ``e = rng.standard_normal(size=(n, 2 W))``.
    5. ``regime[i] = (i * regimes) // n``; centres ``mu_0, mu_1`` of each regime from
       :func:`qubit_trace_centres` (separation, rotation, shift).
    6. Window k's mean signal: ``mu_0 + f_k (mu_1 - mu_0)`` with ``f_k = clip(W t_decay - k,
       0, 1)`` for a |1> shot (the fraction of the window before it relaxed) and ``f_k = 0``
       for |0>.
    7. ``x = clip(mean + sigma sqrt(W) e, -1, nextafter(1, -inf))``, columns
       ``(I_0, Q_0, I_1, Q_1, ...)``: ``sigma`` is the noise of the integral over the whole
       readout, so a window of 1/W of it has sqrt(W) times more.  With the defaults the
       centres stay within 0.3 of the origin and clipping (6 sigma away) is never met.
    8. ``target = state`` as float, shape (n, 1); predictions are scored at threshold 0.5.

    ``stream.bayes[i]`` is ``max_s P(s | x_i)`` under the true model (see
    :func:`qubit_trace_posterior`): its mean over a regime's samples estimates the best accuracy
    any classifier reaches there (92.2% with the defaults, seed 0).
    ``input_range = (-1.0, 1.0)``, ``metric = "accuracy"``, ``2 W`` inputs (6 by default).
    """
    n = _int_arg("n", n, 1)
    regimes = _int_arg("regimes", regimes, 1)
    windows = _int_arg("windows", windows, 1)
    seed = _seed_arg(seed)
    sigma = _float_arg("sigma", sigma, minimum=0.0, strict_min=True)
    separation = _float_arg("separation", separation, minimum=0.0)
    t1 = _float_arg("t1", t1, minimum=0.0, strict_min=True)
    rotation = _float_arg("rotation", rotation)
    shift = _float_arg("shift", shift, minimum=0.0)
    p1 = _float_arg("p1", p1, minimum=0.0, maximum=1.0)
    regime = _regime_labels(n, regimes)

    rng = np.random.default_rng(seed)
    state = (rng.random(n) < p1).astype(np.int64)
    t_decay = rng.exponential(t1, size=n)
    e = rng.standard_normal(size=(n, 2 * windows))
    mu0, mu1 = qubit_trace_centres(regimes, separation, rotation, shift)
    f = np.where(state[:, None] == 1, _excited_fraction(t_decay, windows), 0.0)  # (n, W)
    mean = mu0[regime][:, None, :] + f[:, :, None] * (mu1 - mu0)[regime][:, None, :]  # (n, W, 2)
    x = np.clip(mean.reshape(n, 2 * windows) + sigma * math.sqrt(windows) * e, -1.0, _below(1.0))
    params = dict(n=n, seed=seed, regimes=regimes, windows=windows, sigma=sigma, separation=separation, t1=t1,
                  rotation=rotation, shift=shift, p1=p1)
    return Stream("qubit_trace", x, state.astype(np.float64)[:, None], regime, (-1.0, 1.0), "accuracy", params,
                  _max_posterior(qubit_trace_posterior(x, regime, **{k: v for k, v in params.items()
                                                                     if k not in ("n", "seed")})))


def _log_normal(x: np.ndarray, mean: np.ndarray, sd: float) -> np.ndarray:
    """log density of independent N(mean, sd^2) coordinates, summed over the last axis; a
    coordinate clipped to the input range's edge counts with its whole tail (the clip's mass)."""
    z = (x - mean) / sd
    logp = -0.5 * z * z - math.log(sd * math.sqrt(2.0 * math.pi))
    lo, hi = x <= -1.0, x >= _below(1.0)
    if lo.any() or hi.any():
        tail = np.vectorize(lambda v: math.log(max(0.5 * math.erfc(v / math.sqrt(2.0)), 1e-300)))
        zb = np.broadcast_to(z, logp.shape)
        logp = np.where(lo, tail(-zb), np.where(hi, tail(zb), logp)) if zb.size else logp
    return logp.sum(axis=-1)


def _max_posterior(posterior: np.ndarray) -> np.ndarray:
    """The probability that the Bayes decision (the likelier state) is right."""
    return np.maximum(posterior, 1.0 - posterior)


def qubit_trace_posterior(x: np.ndarray, regime: np.ndarray, regimes: int, windows: int, sigma: float,
                          separation: float, t1: float, rotation: float, shift: float, p1: float) -> np.ndarray:
    """``P(1 | x_i)`` for every sample of :func:`qubit_trace`, under its true model (the
    regime's centres, the prior, T1): the Bayes-optimal decision is 1 where it exceeds 1/2.

    ``P(x | 0)`` is Gaussian around the |0> centre in every window.  ``P(x | 1)`` averages
    the Gaussian over the relaxation time: ``exp(-1/t1) N(x; all windows at mu_1) +
    int_0^1 exp(-t/t1)/t1 N(x; m(t)) dt``, where ``m(t)`` is the window means of a trace that
    relaxes at t.  Within each window m(t) is linear in t, so the integrand is smooth there and
    the integral is taken by Gauss-Legendre quadrature with :data:`BAYES_NODES` nodes per
    window (exact to rounding for these smooth Gaussians).  Clipped coordinates count with
    their tail mass.  Then ``P(1 | x) = p1 P(x|1) / (p1 P(x|1) + (1 - p1) P(x|0))``.
    """
    x = np.asarray(x, dtype=np.float64)
    regime = np.asarray(regime, dtype=np.int64)
    if x.shape[0] > BAYES_CHUNK:  # the quadrature holds (samples, nodes, windows, 2): bounded in memory
        settings = dict(regimes=regimes, windows=windows, sigma=sigma, separation=separation, t1=t1,
                        rotation=rotation, shift=shift, p1=p1)
        return np.concatenate([qubit_trace_posterior(x[i:i + BAYES_CHUNK], regime[i:i + BAYES_CHUNK], **settings)
                               for i in range(0, x.shape[0], BAYES_CHUNK)])
    n, sd = x.shape[0], sigma * math.sqrt(windows)
    mu0, mu1 = qubit_trace_centres(regimes, separation, rotation, shift)
    m0, d = mu0[regime], (mu1 - mu0)[regime]  # (n, 2)
    xw = x.reshape(n, windows, 2)

    def log_like(f: np.ndarray) -> np.ndarray:
        """log N(x; means of fractions f (..., W)) for every sample: (n, ...)."""
        f = np.asarray(f, dtype=np.float64)
        mean = m0[:, None, None, :] + f[None, ..., None] * d[:, None, None, :]  # (n, Q, W, 2)
        return _log_normal(xw[:, None, :, :], mean, sd).sum(axis=-1)

    nodes, weights = np.polynomial.legendre.leggauss(BAYES_NODES)
    t = np.concatenate([(k + 0.5 * (nodes + 1.0)) / windows for k in range(windows)])  # (W Q,)
    w = np.concatenate([0.5 * weights / windows] * windows) * np.exp(-t / t1) / t1
    log_decayed = log_like(_excited_fraction(t, windows)) + np.log(w)[None, :]  # (n, W Q)
    log_kept = log_like(np.ones((1, windows)))[:, 0] - 1.0 / t1  # no relaxation during the readout
    log1 = np.logaddexp(np.logaddexp.reduce(log_decayed, axis=1), log_kept)
    log0 = log_like(np.zeros((1, windows)))[:, 0]
    with np.errstate(divide="ignore"):
        logit = (np.log(p1) + log1) - (np.log1p(-p1) + log0)
    return 0.5 * (1.0 + np.tanh(0.5 * logit))  # P(1 | x), stable for any logit


def bayes_accuracy(stream: Stream, fraction: float = 0.2) -> dict[int, float] | None:
    """The Bayes-optimal accuracy per regime over the windows :func:`windowed_metric` scores
    (the last ``fraction`` of each regime): the mean of ``stream.bayes`` there, or None for a
    stream without it."""
    if stream.bayes is None:
        return None
    fraction = _float_arg("fraction", fraction, minimum=0.0, maximum=1.0, strict_min=True)
    out: dict[int, float] = {}
    for r in np.unique(stream.regime):
        idx = np.flatnonzero(stream.regime == r)
        k = max(1, math.ceil(fraction * len(idx) - 1e-9))
        out[int(r)] = float(np.mean(stream.bayes[idx[-k:]]))
    return out


# ---------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------

TASKS: dict[str, Callable[..., Stream]] = {
    "drift": drift_1d,
    "drift2d": drift_multi,
    "qubit": qubit_readout,
    "qubit_trace": qubit_trace,
}


def make_task(name: str, offset: float = 0.0, **kwargs: Any) -> Stream:
    """Build the task registered as ``name`` (see :data:`TASKS`) with ``kwargs``.

    ``offset`` is added to every input (and to ``input_range``) after the task is drawn, the
    targets unchanged: an ADC that delivers [0, 2) instead of [-1, 1), for unsigned inputs.
    """
    try:
        factory = TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
    known = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ValueError(f"unknown settings {unknown} for task {name!r}; known: {', '.join(known)}")
    inputs = kwargs.get("n_inputs", 2 * kwargs["windows"] if isinstance(kwargs.get("windows"), int) else 6)
    _check_fits_in_memory(kwargs.get("n"), inputs + kwargs.get("n_outputs", 1) + 1)
    offset = _float_arg("offset", offset)
    stream = factory(**kwargs)
    if offset == 0.0:
        return stream
    lo, hi = stream.input_range
    x = np.clip(stream.x + offset, lo + offset, _below(hi + offset))  # a rounded sum stays inside
    return Stream(stream.name, x, stream.target, stream.regime, (lo + offset, hi + offset),
                  stream.metric, {**stream.params, "offset": offset}, stream.bayes)


#: Bytes a training run holds per sample and per stream column: the stream and its generation
#: temporaries, the fixed-point and float predictions (float64 each), with room to spare.
BYTES_PER_SAMPLE_COLUMN = 64


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_fits_in_memory(n: Any, columns: Any) -> None:
    """Refuse a stream that cannot be held in memory at once, before trying to build it."""
    if not isinstance(n, numbers.Integral) or not isinstance(columns, numbers.Integral):
        return  # the task's own checks name the bad argument
    need, have = int(n) * int(columns) * BYTES_PER_SAMPLE_COLUMN, _available_memory()
    if have is not None and need > have:
        raise ValueError(f"n = {n} samples would need about {need / 2**30:,.1f} GiB in memory (stream and "
                         f"predictions are held whole); {have / 2**30:,.1f} GiB is available: use a smaller n")


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


def sample_scores(stream: Stream, predictions: np.ndarray) -> np.ndarray:
    """Per-sample score, shape ``(n,)``.

    ``"mse"``: the squared error averaged over the outputs.  ``"accuracy"``: the fraction
    of outputs whose prediction falls on the target's side of 0.5
    (``(pred >= 0.5) == (target >= 0.5)``), i.e. 1.0 or 0.0 for a single output.
    ``predictions`` must have the target's shape; ``(n,)`` is accepted for one output.
    """
    p = np.asarray(predictions, dtype=np.float64)
    if p.ndim == 1 and stream.n_outputs == 1:
        p = p[:, None]
    if p.shape != stream.target.shape:
        raise ValueError(f"predictions have shape {np.shape(predictions)}, "
                         f"expected {stream.target.shape}")
    if stream.metric == "mse":
        return np.mean((p - stream.target) ** 2, axis=1)
    return np.mean((p >= 0.5) == (stream.target >= 0.5), axis=1).astype(np.float64)


def windowed_metric(stream: Stream, predictions: np.ndarray, fraction: float = 0.2) -> dict[int, float]:
    """The stream's metric per regime, over the last ``fraction`` of each regime's samples.

    For regime r with ``m`` samples, the window is its last ``k = max(1, ceil(fraction m))``
    samples (in stream order); the value is the mean of :func:`sample_scores` over them:
    the MSE for regression, the accuracy (threshold 0.5) for classification.
    Returns ``{regime: value}`` for every regime present, in increasing order.
    """
    fraction = _float_arg("fraction", fraction, minimum=0.0, maximum=1.0, strict_min=True)
    scores = sample_scores(stream, predictions)
    out: dict[int, float] = {}
    for r in np.unique(stream.regime):
        idx = np.flatnonzero(stream.regime == r)
        k = max(1, math.ceil(fraction * len(idx) - 1e-9))
        out[int(r)] = float(np.mean(scores[idx[-k:]]))
    return out


def running_metric(stream: Stream, predictions: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving metric for learning curves, shape ``(n,)``.

    ``out[i]`` is the mean of :func:`sample_scores` over samples
    ``max(0, i - window + 1) .. i`` (fewer than ``window`` at the start): moving MSE for
    regression, moving accuracy for classification.  Use ``predictions[i]`` made *before*
    the learner updated on sample i to get the online (prequential) error.
    """
    window = _int_arg("window", window, 1)
    scores = sample_scores(stream, predictions)
    csum = np.concatenate([[0.0], np.cumsum(scores)])
    i = np.arange(len(scores))
    lo = np.maximum(0, i - window + 1)
    return (csum[i + 1] - csum[lo]) / (i + 1 - lo)
