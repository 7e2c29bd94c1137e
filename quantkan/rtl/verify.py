"""The scoreboard of RTL verification: what a simulator saw, replayed through the golden model.

Any simulator (amaranth.sim, cocotb on Verilator or Icarus) drives a :class:`Drive` into a
learner and hands back an :class:`Observed`: every output with the cycle it appeared, the
cycle each sample was accepted, and the parameters read back at checkpoints.  :func:`score`
replays the same samples, at the same arrival cycles and with the update delays the
generator reported, through :class:`quantkan.golden.OnlineLearner` and counts mismatches.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quantkan.golden import LearningRates, OnlineLearner
from quantkan.models import KAN, Model

__all__ = ["Drive", "Observed", "Score", "StreamFeatures", "random_drive", "task_drive", "score", "read_cycles",
           "read_words"]


def read_cycles(n: int, latency: int) -> Iterator[tuple[int | None, int | None]]:
    """A pipelined parameter port read of ``n`` addresses, one per cycle: for each clock cycle,
    (index of the address to present before its edge, index of the address whose word is on
    ``p_rdata`` after it), ``None`` where there is none.  Every testbench reads back this way."""
    for cycle in range(n + latency - 1):
        yield (cycle if cycle < n else None), (cycle - latency + 1 if cycle >= latency - 1 else None)


async def read_words(addresses: list[int], latency: int, present: Callable[[int], None],
                     tick: Callable[[], Awaitable[None]], sample: Callable[[], int]) -> list[int]:
    """The words at ``addresses``, read as :func:`read_cycles` schedules (``p_sel`` held by the
    caller) through one simulator's calls: ``present(address)`` before an edge, ``tick()`` to
    pass it, ``sample()`` for ``p_rdata`` after it.  amaranth.sim and cocotb read alike."""
    words = [0] * len(addresses)
    for now, done in read_cycles(len(addresses), latency):
        if now is not None:
            present(addresses[now])
        await tick()
        if done is not None:
            words[done] = sample()
    return words


@dataclass
class Drive:
    """Samples for a simulator: raw inputs and targets, learn flags, ``gaps[n]`` idle cycles
    (valid low) before sample n, and the sample counts after which coefficients are read back."""

    x: np.ndarray  # (n, n_in) raw input type
    target: np.ndarray  # (n, n_out) raw output type
    learn: np.ndarray  # (n,) bool
    gaps: np.ndarray  # (n,) int
    checkpoints: list[int] = field(default_factory=list)  # read back after this many samples

    def __post_init__(self) -> None:
        n = len(self.x)
        self.x, self.target = np.asarray(self.x, np.int64), np.asarray(self.target, np.int64)
        self.learn, self.gaps = np.asarray(self.learn, bool), np.asarray(self.gaps, np.int64)
        if not (len(self.target) == len(self.learn) == len(self.gaps) == n):
            raise ValueError("a Drive needs x, target, learn and gaps of one length")
        if (self.gaps < 0).any():
            raise ValueError("gaps must be >= 0 cycles")
        marks = sorted({int(c) for c in self.checkpoints} | {n})
        if marks[0] < 1 or marks[-1] > n:
            raise ValueError(f"checkpoints must lie in 1..{n}, got {self.checkpoints}")
        self.checkpoints = marks

    @property
    def n(self) -> int:
        return len(self.x)

    def save(self, path: str | Path) -> None:
        np.savez(path, x=self.x, target=self.target, learn=self.learn, gaps=self.gaps,
                 checkpoints=np.array(self.checkpoints, np.int64))

    @classmethod
    def load(cls, path: str | Path) -> Drive:
        with np.load(path) as f:
            return cls(f["x"], f["target"], f["learn"], f["gaps"], f["checkpoints"].tolist())


@dataclass
class Observed:
    """What a simulation produced, in clock edges counted from the start of the stream."""

    y: np.ndarray  # (n, n_out) raw outputs, in order
    accept_cycles: np.ndarray  # (n,) the edge that accepted each sample
    out_cycles: np.ndarray  # (n,) the edge after which each y was valid
    params: list[list[np.ndarray]]  # per checkpoint: one array per parameter array, like model.parameters()
    counters: list[list[int]] = field(default_factory=list)  # per checkpoint: the diagnostics counters read back

    def save(self, path: str | Path) -> None:
        arrays = {"y": self.y, "accept_cycles": self.accept_cycles, "out_cycles": self.out_cycles}
        for c, layers in enumerate(self.params):
            arrays.update({f"p{c}_{l}": a for l, a in enumerate(layers)})
        if self.counters:
            arrays["counters"] = np.array(self.counters, dtype=np.uint64)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Observed:
        with np.load(path) as f:
            names = set(f.files)
            params, c = [], 0
            while f"p{c}_0" in names:
                params.append([f[f"p{c}_{l}"] for l in range(sum(1 for k in names if k.startswith(f"p{c}_")))])
                c += 1
            counters = f["counters"].astype(np.int64).tolist() if "counters" in names else []
            return cls(f["y"], f["accept_cycles"], f["out_cycles"], params, counters)


@dataclass
class Score:
    samples: int
    output_mismatches: int
    coefficient_mismatches: int
    coefficients_compared: int
    checkpoints: int
    latency: int  # measured: first output edge - its accept edge (the same for every sample)
    latency_constant: bool
    ii: int  # measured: smallest distance between accept edges
    cycles: int  # edges from the first accept to the last output
    changed: int  # coefficients that differ from the start (the learner did learn)
    counter_mismatches: int = 0  # diagnostics counters that differ from the golden hardware view
    counters_compared: int = 0
    counters_nonzero: int = 0  # of the golden counters compared, those above 0 (the comparison saw events)

    @property
    def ok(self) -> bool:
        return (self.output_mismatches == 0 and self.coefficient_mismatches == 0 and self.counter_mismatches == 0
                and self.latency_constant)


def _reach(model: Model) -> float:
    """How far inputs go: the grid of a KAN, the input type's range for an MLP."""
    if isinstance(model, KAN):
        return max(abs(model.grid.lo), abs(model.grid.hi))
    return max(abs(model.types.input.min), abs(model.types.input.max))


def _samples(model: Model, n: int, rng: np.random.Generator, beyond: float):
    x = model.types.input.quantize(rng.uniform(-beyond, beyond, (n, model.layers[0])) * _reach(model))
    t = model.types.output.quantize(rng.uniform(-4.0, 4.0, (n, model.layers[-1])))
    return x, t


def _gaps(n: int, rng: np.random.Generator, gaps: bool) -> np.ndarray:
    return (rng.integers(1, 4, n) * (rng.random(n) < 0.3)) if gaps else np.zeros(n, np.int64)


def random_drive(model: Model, n: int, seed: int = 0, gaps: bool = False, beyond: float = 1.2,
                 checkpoints: int = 1) -> Drive:
    """Inputs over and beyond the grid (the input range of an MLP), targets beyond the output range, 10% of samples without
    learning: clamping, saturation and negative values all get hit."""
    rng = np.random.default_rng(seed)
    x, t = _samples(model, n, rng, beyond)
    learn = rng.random(n) > 0.1
    return Drive(x, t, learn, _gaps(n, rng, gaps), [n * (c + 1) // checkpoints for c in range(checkpoints)])


@dataclass(frozen=True)
class StreamFeatures:
    """Edges a task stream alone never reaches, mixed in at random (fractions of the samples).

    ``learn_off``: samples that only predict (learn = 0); ``off_grid``: inputs replaced by raw
    values of the input type outside the grid (down to the type's extremes; for an MLP, anywhere
    in the type); ``saturate``: targets replaced by the output type's extremes, so the error
    y - target is as large as it gets and its cast saturates (or wraps).
    """

    learn_off: float = 0.0
    off_grid: float = 0.0
    saturate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("learn_off", "off_grid", "saturate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"stream feature {name} must be a fraction in [0, 1], got {value!r}")

    def apply(self, model: Model, x: np.ndarray, target: np.ndarray, learn: np.ndarray,
              rng: np.random.Generator) -> None:
        """Mix the features into raw ``x``, ``target`` and ``learn`` (in place)."""
        learn &= ~(rng.random(len(learn)) < self.learn_off)
        off = rng.random(x.shape) < self.off_grid
        x[off] = _off_grid_raw(model, int(off.sum()), rng)
        sat = rng.random(target.shape) < self.saturate
        out_t = model.types.output
        target[sat] = np.where(rng.random(int(sat.sum())) < 0.5, out_t.min_raw, out_t.max_raw)


def _off_grid_raw(model: Model, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` raw inputs outside a KAN's grid (either side, a fifth of them at the type's extremes)."""
    t = model.types.input
    sides = [(t.min_raw, t.max_raw)]
    if isinstance(model, KAN):
        lo = int(t.quantize(model.grid.lo))  # exact: the model checks it
        hi = math.ceil(math.ldexp(model.grid.hi, t.frac))  # the first raw value at or above hi
        below, above = (t.min_raw, lo - 1), (hi, t.max_raw)
        sides = [s for s in (below, above) if s[0] <= s[1]] or sides
    pick = rng.integers(0, len(sides), n)
    lows, highs = np.array([s[0] for s in sides])[pick], np.array([s[1] for s in sides])[pick]
    values = lows + (rng.random(n) * (highs - lows + 1).astype(np.float64)).astype(np.int64)
    extreme = rng.random(n) < 0.2
    values = np.where(extreme, np.where(rng.random(n) < 0.5, lows, highs), values)
    return np.clip(values, lows, highs)


def task_drive(model: Model, x: np.ndarray, target: np.ndarray, seed: int = 0, gaps: bool = False,
               checkpoints: int = 1, features: StreamFeatures = StreamFeatures()) -> Drive:
    """A task's real-valued stream, quantized to the model's types, every sample learning unless
    ``features`` mixes in samples without learning, inputs off the grid or saturating targets.

    Args:
        model: gives the input and output types (and a KAN's grid).
        x, target: the real-valued stream, (n, inputs) and (n, outputs).
        seed: seeds the gaps and the features (the same seed gives the same drive).
        gaps: random idle cycles before about 30% of the samples.
        checkpoints: coefficient read-backs, after equal shares of the stream.
        features: the stream features to mix in (none by default).
    """
    n = len(x)
    rng = np.random.default_rng(seed)
    x_raw, t_raw = model.types.input.quantize(x), model.types.output.quantize(target)
    learn = np.ones(n, bool)
    features.apply(model, x_raw, t_raw, learn, np.random.default_rng([seed, 13]))
    return Drive(x_raw, t_raw, learn, _gaps(n, rng, gaps), [n * (c + 1) // checkpoints for c in range(checkpoints)])


def score(start: Model, drive: Drive, observed: Observed, delays: list[int], lr: LearningRates, rounding: str,
          seed: int) -> Score:
    """Replay ``drive`` through the golden learner from the model ``start`` (left untouched), at the
    observed accept cycles and with ``delays``, and compare every output and checkpoint."""
    if len(observed.accept_cycles) != drive.n:
        raise ValueError(f"the simulation accepted {len(observed.accept_cycles)} of {drive.n} samples")
    if len(observed.params) != len(drive.checkpoints):
        raise ValueError(f"expected {len(drive.checkpoints)} checkpoints, the simulation gave {len(observed.params)}")
    if observed.counters and len(observed.counters) != len(drive.checkpoints):
        raise ValueError(f"expected counters at {len(drive.checkpoints)} checkpoints, the simulation gave "
                         f"{len(observed.counters)}")
    model = copy.deepcopy(start)
    golden = OnlineLearner(model, lr=lr, rounding=rounding, seed=seed, delay=delays)
    want = np.empty((drive.n, start.layers[-1]), np.int64)
    coef_bad = coef_total = count_bad = count_total = count_nonzero = 0
    counts = iter(observed.counters)
    marks = iter(zip(drive.checkpoints, observed.params))
    mark = next(marks, None)
    for s in range(drive.n):
        want[s] = golden.step_raw(drive.x[s], drive.target[s], bool(drive.learn[s]),
                                  cycle=int(observed.accept_cycles[s]))
        while mark is not None and mark[0] == s + 1:
            golden.flush()  # the simulator drained the pipeline before reading back
            for got, ref in zip(mark[1], model.parameters()):
                coef_bad += int(np.sum(np.asarray(got) != ref))
                coef_total += ref.size
            got_counts = next(counts, None)
            if got_counts is not None:
                want_counts = golden.diagnostics().hardware()
                count_bad += sum(int(a != b) for a, b in zip(got_counts, want_counts, strict=True))
                count_total += len(want_counts)
                count_nonzero += sum(1 for v in want_counts if v)
            mark = next(marks, None)
    y = np.asarray(observed.y, np.int64).reshape(-1, start.layers[-1])
    if len(y) != drive.n:
        raise ValueError(f"the simulation produced {len(y)} outputs for {drive.n} samples")
    lat = np.asarray(observed.out_cycles) - np.asarray(observed.accept_cycles)
    ii = np.diff(observed.accept_cycles)
    changed = sum(int(np.sum(a != b)) for a, b in zip(model.parameters(), start.parameters()))
    return Score(samples=drive.n, output_mismatches=int(np.sum(np.any(y != want, axis=1))),
                 coefficient_mismatches=coef_bad, coefficients_compared=coef_total,
                 checkpoints=len(drive.checkpoints), latency=int(lat[0]), latency_constant=bool((lat == lat[0]).all()),
                 ii=int(ii.min()) if len(ii) else 0,
                 cycles=int(observed.out_cycles[-1] - observed.accept_cycles[0]), changed=changed,
                 counter_mismatches=count_bad, counters_compared=count_total, counters_nonzero=count_nonzero)
