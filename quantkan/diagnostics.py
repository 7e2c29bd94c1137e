"""Diagnostics: silent freezes and saturation made visible, counted alike in every backend.

The golden learner (:mod:`quantkan.golden`) keeps, per layer, exact integer counters; the
compiled engine, the RTL and the HLS C++ keep the same ones, bit for bit.  Definitions
(a *lane* is one parameter update of one learning sample: S+1 per KAN edge, one per MLP
weight and bias; an *overflow* is :func:`quantkan.fixed.cast_flagged`'s: the value rounded
to the destination's LSB lies outside its raw range, whatever the overflow mode then does
with it -- saturate, wrap or zero):

- ``attempted``: lanes of learning samples whose exact ``lr * gradient`` is non-zero;
- ``zero``: of those, lanes whose delta cast to zero -- an update lost to rounding, the mark
  of a frozen learner (a zero error or basis value is no update to lose, so not counted);
- ``param_sat``: parameter writes (the read-modify-write ``cast(param - delta)``) that
  overflowed the parameter type; counted when the write lands, D samples after its sample;
- ``out_sat``: layer outputs (one per output and accepted sample, learning or not) whose cast
  to the accumulator type (when one is set) or to the layer's output type overflowed;
- ``err_sat``: the errors the layer learns from (one per output and learning sample) whose
  cast to the error type overflowed: ``y - target`` for the last layer, the backpropagated
  sum (made by the layer above) for a hidden layer.

Software only: ``updates`` (every lane of every learning sample) and the largest
``|parameter|``.  Global: ``samples`` (accepted) and ``learned`` (accepted with learn set).

Hardware view: every counter is :data:`COUNTER_BITS` wide and saturates at
``2**COUNTER_BITS - 1`` (it never wraps); :data:`HW_GLOBAL` then :data:`HW_LAYER` per layer
is the order the parameter port reads them in (:meth:`Diagnostics.hardware`).  A write to
the counter space clears them all (:meth:`Diagnostics.cleared`, ``OnlineLearner.clear_counters``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["COUNTER_BITS", "HW_GLOBAL", "HW_LAYER", "FROZEN_FRACTION", "MIN_ATTEMPTED", "SATURATING_FRACTION",
           "LayerCounts", "Diagnostics", "CounterMap", "hardware_names"]

COUNTER_BITS = 32
HW_GLOBAL = ("samples", "learned")
HW_LAYER = ("attempted", "zero", "param_sat", "out_sat", "err_sat")
#: A layer is frozen over a window when more than this fraction of its attempted updates cast to zero ...
FROZEN_FRACTION = 0.99
#: ... among at least this many attempted updates (fewer say nothing).
MIN_ATTEMPTED = 100
#: A layer is saturating when more than this fraction of its parameter writes, outputs or errors overflow.
SATURATING_FRACTION = 0.01


@dataclass
class LayerCounts:
    """The running counters of one layer (see the module docstring for their definitions)."""

    attempted: int = 0
    zero: int = 0
    param_sat: int = 0
    out_sat: int = 0
    err_sat: int = 0
    updates: int = 0  # software only: every lane of every learning sample

    def add_deltas(self, exact: np.ndarray, delta: np.ndarray) -> None:
        """Count one batch of lanes: ``exact`` lr * gradient (raw), ``delta`` its cast."""
        nonzero = exact != 0
        self.updates += int(nonzero.size)
        self.attempted += int(nonzero.sum())
        self.zero += int((nonzero & (delta == 0)).sum())

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)


def hardware_names(n_layers: int) -> list[str]:
    """The hardware counters in parameter-port order: ``samples``, ``learned``, ``l0.attempted``, ..."""
    return [*HW_GLOBAL, *(f"l{l}.{name}" for l in range(n_layers) for name in HW_LAYER)]


@dataclass(frozen=True)
class CounterMap:
    """Where a learner's parameter port shows its counters: counter ``c`` (in :func:`hardware_names`
    order) is ``words`` port words at ``base + c * words``, least significant word first, each word
    the low ``word_bits`` of the port (the counter's bits, unsigned)."""

    names: tuple[str, ...]
    base: int
    word_bits: int
    bits: int = COUNTER_BITS

    @property
    def words(self) -> int:
        return -(-self.bits // self.word_bits)

    def address(self, counter: int, word: int = 0) -> int:
        return self.base + counter * self.words + word

    def addresses(self) -> list[int]:
        """Every word of every counter, in reading order."""
        return [self.address(c, w) for c in range(len(self.names)) for w in range(self.words)]

    def values(self, words: list[int]) -> list[int]:
        """Counter values from the port words read at :meth:`addresses` (raw, signed or not)."""
        mask = (1 << self.word_bits) - 1
        k = self.words
        return [sum((int(words[c * k + w]) & mask) << (self.word_bits * w) for w in range(k)) & ((1 << self.bits) - 1)
                for c in range(len(self.names))]

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "base": self.base, "word_bits": self.word_bits, "bits": self.bits,
                "words": self.words}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CounterMap:
        return cls(tuple(data["names"]), int(data["base"]), int(data["word_bits"]), int(data["bits"]))


@dataclass
class Diagnostics:
    """A snapshot of a learner's counters (and, software only, its largest parameters)."""

    samples: int
    learned: int
    layers: list[LayerCounts]
    lanes: list[int]  # update lanes per learning sample, per layer
    outputs: list[int]  # outputs per sample, per layer
    max_abs: list[float] = field(default_factory=list)  # largest |parameter| per layer (real value)

    def hardware(self, bits: int = COUNTER_BITS) -> list[int]:
        """The counters as hardware holds them, in :func:`hardware_names` order: saturated at 2**bits - 1."""
        top = (1 << bits) - 1
        values = [self.samples, self.learned]
        values += [getattr(c, name) for c in self.layers for name in HW_LAYER]
        return [min(int(v), top) for v in values]

    def since(self, earlier: Diagnostics) -> Diagnostics:
        """The counts between ``earlier`` and this snapshot (a window); ``max_abs`` is this one's."""
        layers = [LayerCounts(**{f.name: getattr(a, f.name) - getattr(b, f.name) for f in fields(LayerCounts)})
                  for a, b in zip(self.layers, earlier.layers)]
        return Diagnostics(self.samples - earlier.samples, self.learned - earlier.learned, layers,
                           self.lanes, self.outputs, list(self.max_abs))

    def copy(self) -> Diagnostics:
        return copy.deepcopy(self)

    def zero_fraction(self, l: int) -> float | None:
        """Of layer l's attempted updates, the fraction that cast to zero (None: none attempted)."""
        c = self.layers[l]
        return c.zero / c.attempted if c.attempted else None

    def saturation(self, l: int) -> dict[str, float]:
        """Overflow rates of layer l: parameter writes, outputs, errors (0 where there were none)."""
        c = self.layers[l]
        errors = self.learned * self.outputs[l]
        return {"param": c.param_sat / c.updates if c.updates else 0.0,
                "out": c.out_sat / (self.samples * self.outputs[l]) if self.samples else 0.0,
                "err": c.err_sat / errors if errors else 0.0}

    def frozen(self, l: int) -> bool:
        """More than FROZEN_FRACTION of at least MIN_ATTEMPTED attempted updates cast to zero, or
        (:meth:`starved`) a hidden layer whose errors all round to zero."""
        c = self.layers[l]
        return (c.attempted >= MIN_ATTEMPTED and c.zero > FROZEN_FRACTION * c.attempted) or self.starved(l)

    def starved(self, l: int) -> bool:
        """A hidden layer that attempted no update while the layer above attempted MIN_ATTEMPTED:
        the error reaching it rounds to zero, so it never learns."""
        return (l + 1 < len(self.layers) and self.layers[l].attempted == 0
                and self.layers[l + 1].attempted >= MIN_ATTEMPTED)

    def saturating(self, l: int) -> list[str]:
        """What of layer l overflows in more than SATURATING_FRACTION of its casts."""
        return [k for k, v in self.saturation(l).items() if v > SATURATING_FRACTION]

    def warnings(self, window: Diagnostics | None = None, window_name: str = "the last window") -> list[str]:
        """Frozen layers (judged on ``window``, default the whole run) and saturating ones (whole run)."""
        judged = window if window is not None else self
        where = window_name if window is not None else "the whole run"
        out = []
        for l in range(len(self.layers)):
            if judged.starved(l):
                out.append(f"layer {l} is frozen: over {where} it attempted no update while layer {l + 1} "
                           f"attempted {judged.layers[l + 1].attempted}: the error it learns from rounds to zero "
                           "(more fractional bits for the error and gradient types)")
            elif judged.frozen(l):
                c = judged.layers[l]
                out.append(f"layer {l} is frozen: {c.zero / c.attempted:.1%} of its {c.attempted} attempted updates "
                           f"over {where} rounded to zero (more bits for the update type, a larger learning "
                           "rate or rounding = \"stochastic\" revive it)")
            sat = self.saturating(l)
            if sat:
                rates = ", ".join(f"{k} {self.saturation(l)[k]:.1%}" for k in sat)
                out.append(f"layer {l} is saturating: {rates} of its casts overflow (more integer bits, or "
                           "a smaller learning rate)")
        return out

    def table(self, window: Diagnostics | None = None) -> str:
        """One line per layer: zero-update fractions (run and ``window``), overflow counts, largest |parameter|."""
        head = (f"{'layer':<6}{'updates':>10}{'zero':>8}{'zero(win)':>10}{'param sat':>10}{'out sat':>9}"
                f"{'err sat':>9}{'max |p|':>10}")
        lines = [head]
        for l, c in enumerate(self.layers):
            frac = self.zero_fraction(l)
            win = window.zero_fraction(l) if window is not None else None
            pct = (lambda v: f"{v:.1%}" if v is not None else "-")
            peak = f"{self.max_abs[l]:10.4g}" if l < len(self.max_abs) else f"{'-':>10}"
            lines.append(f"{'l' + str(l):<6}{c.updates:>10}{pct(frac):>8}{pct(win):>10}{c.param_sat:>10}{c.out_sat:>9}"
                         f"{c.err_sat:>9}{peak}")
        return "\n".join(lines)

    def to_json(self, window: Diagnostics | None = None) -> dict[str, Any]:
        """Plain JSON-able values for a metrics file."""
        layers = []
        for l, c in enumerate(self.layers):
            entry: dict[str, Any] = {"layer": l, **{f.name: getattr(c, f.name) for f in fields(c)},
                                     "zero_fraction": self.zero_fraction(l), "saturation": self.saturation(l),
                                     "max_abs": self.max_abs[l] if l < len(self.max_abs) else None}
            if window is not None:
                entry["window_zero_fraction"] = window.zero_fraction(l)
                entry["frozen"] = window.frozen(l)
            layers.append(entry)
        return {"samples": self.samples, "learned": self.learned, "layers": layers,
                "hardware": dict(zip(hardware_names(len(self.layers)), self.hardware()))}
