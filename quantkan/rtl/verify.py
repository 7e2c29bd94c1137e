"""The scoreboard of RTL verification: what a simulator saw, replayed through the golden model.

Any simulator (amaranth.sim, cocotb on Verilator or Icarus) drives a :class:`Drive` into a
learner and hands back an :class:`Observed`: every output with the cycle it appeared, the
cycle each sample was accepted, and the coefficients read back at checkpoints.  :func:`score`
replays the same samples, at the same arrival cycles and with the update delays the
generator reported, through :class:`quantkan.golden.OnlineLearner` and counts mismatches.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quantkan.golden import OnlineLearner
from quantkan.models import KAN

__all__ = ["Drive", "Observed", "Score", "random_drive", "task_drive", "score"]


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
    params: list[list[np.ndarray]]  # per checkpoint: one array per layer, like model.coefficients

    def save(self, path: str | Path) -> None:
        arrays = {"y": self.y, "accept_cycles": self.accept_cycles, "out_cycles": self.out_cycles}
        for c, layers in enumerate(self.params):
            arrays.update({f"p{c}_{l}": a for l, a in enumerate(layers)})
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Observed:
        with np.load(path) as f:
            names = set(f.files)
            params, c = [], 0
            while f"p{c}_0" in names:
                params.append([f[f"p{c}_{l}"] for l in range(sum(1 for k in names if k.startswith(f"p{c}_")))])
                c += 1
            return cls(f["y"], f["accept_cycles"], f["out_cycles"], params)


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

    @property
    def ok(self) -> bool:
        return self.output_mismatches == 0 and self.coefficient_mismatches == 0 and self.latency_constant


def _samples(model: KAN, n: int, rng: np.random.Generator, beyond: float):
    x = model.types.input.quantize(rng.uniform(-beyond, beyond, (n, model.layers[0])) *
                                   max(abs(model.grid.lo), abs(model.grid.hi)))
    t = model.types.output.quantize(rng.uniform(-4.0, 4.0, (n, model.layers[-1])))
    return x, t


def _gaps(n: int, rng: np.random.Generator, gaps: bool) -> np.ndarray:
    return (rng.integers(1, 4, n) * (rng.random(n) < 0.3)) if gaps else np.zeros(n, np.int64)


def random_drive(model: KAN, n: int, seed: int = 0, gaps: bool = False, beyond: float = 1.2,
                 checkpoints: int = 1) -> Drive:
    """Inputs over and beyond the grid, targets beyond the output range, 10% of samples without
    learning: clamping, saturation and negative values all get hit."""
    rng = np.random.default_rng(seed)
    x, t = _samples(model, n, rng, beyond)
    learn = rng.random(n) > 0.1
    return Drive(x, t, learn, _gaps(n, rng, gaps), [n * (c + 1) // checkpoints for c in range(checkpoints)])


def task_drive(model: KAN, x: np.ndarray, target: np.ndarray, seed: int = 0, gaps: bool = False,
               checkpoints: int = 1) -> Drive:
    """A task's real-valued stream, quantized to the model's types, every sample learning."""
    n = len(x)
    rng = np.random.default_rng(seed)
    return Drive(model.types.input.quantize(x), model.types.output.quantize(target), np.ones(n, bool),
                 _gaps(n, rng, gaps), [n * (c + 1) // checkpoints for c in range(checkpoints)])


def score(start: KAN, drive: Drive, observed: Observed, delays: list[int], lr: float, rounding: str,
          seed: int) -> Score:
    """Replay ``drive`` through the golden learner from the model ``start`` (left untouched), at the
    observed accept cycles and with ``delays``, and compare every output and checkpoint."""
    if len(observed.accept_cycles) != drive.n:
        raise ValueError(f"the simulation accepted {len(observed.accept_cycles)} of {drive.n} samples")
    if len(observed.params) != len(drive.checkpoints):
        raise ValueError(f"expected {len(drive.checkpoints)} checkpoints, the simulation gave {len(observed.params)}")
    model = copy.deepcopy(start)
    golden = OnlineLearner(model, lr=lr, rounding=rounding, seed=seed, delay=delays)
    want = np.empty((drive.n, start.layers[-1]), np.int64)
    coef_bad = coef_total = 0
    marks = iter(zip(drive.checkpoints, observed.params))
    mark = next(marks, None)
    for s in range(drive.n):
        want[s] = golden.step_raw(drive.x[s], drive.target[s], bool(drive.learn[s]),
                                  cycle=int(observed.accept_cycles[s]))
        while mark is not None and mark[0] == s + 1:
            golden.flush()  # the simulator drained the pipeline before reading back
            for got, ref in zip(mark[1], model.coefficients):
                coef_bad += int(np.sum(np.asarray(got) != ref))
                coef_total += ref.size
            mark = next(marks, None)
    y = np.asarray(observed.y, np.int64).reshape(-1, start.layers[-1])
    if len(y) != drive.n:
        raise ValueError(f"the simulation produced {len(y)} outputs for {drive.n} samples")
    lat = np.asarray(observed.out_cycles) - np.asarray(observed.accept_cycles)
    ii = np.diff(observed.accept_cycles)
    changed = sum(int(np.sum(a != b)) for a, b in zip(model.coefficients, start.coefficients))
    return Score(samples=drive.n, output_mismatches=int(np.sum(np.any(y != want, axis=1))),
                 coefficient_mismatches=coef_bad, coefficients_compared=coef_total,
                 checkpoints=len(drive.checkpoints), latency=int(lat[0]), latency_constant=bool((lat == lat[0]).all()),
                 ii=int(ii.min()) if len(ii) else 0,
                 cycles=int(observed.out_cycles[-1] - observed.accept_cycles[0]), changed=changed)
