"""Random model configurations that look for bit-exactness holes on their own (issue 13).

Every type's signedness is drawn independently, as are its width, integer bits and modes;
inputs go up to the 62-bit limit, grids are often not a power of two in 1/h, and the
streams mix in samples without learning, inputs outside the grid (down to the type's
extremes) and targets at the output type's extremes.  A configuration the model refuses at
construction (a width beyond int64, a derivative table that overflows) is drawn again:
what is accepted must be exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quantkan.fixed import MAX_WIDTH
from quantkan.models import KAN, MLP, Model
from quantkan.rtl.verify import Drive, StreamFeatures, task_drive

ROUNDINGS = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV")
OVERFLOWS = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")
FEATURES = StreamFeatures(learn_off=0.15, off_grid=0.1, saturate=0.1)


@dataclass
class Config:
    """A drawn configuration: ``make()`` builds a fresh copy of the same model."""

    make: Callable[[], Model]
    lr: float
    rounding: str
    delay: list[int]  # for the golden model and HLS (the RTL reports its own)
    summary: str

    def __repr__(self) -> str:
        return self.summary


def _type(rng: np.random.Generator, width: int, integer: int, signed: bool | None = None) -> str:
    signed = bool(rng.random() < 0.5) if signed is None else signed
    base = "ap_fixed" if signed else "ap_ufixed"
    return f"{base}<{width},{integer},{rng.choice(ROUNDINGS)},{rng.choice(OVERFLOWS)}>"


def _bits_for(magnitude: float) -> int:
    return max(1, math.ceil(math.log2(magnitude + 1e-12)) + 1) if magnitude > 0 else 1


def _input_type(rng: np.random.Generator, lo: float, hi: float, max_width: int) -> str:
    """An input type that holds the grid exactly: signed when lo < 0, else either."""
    signed = lo < 0 or bool(rng.random() < 0.5)
    integer = _bits_for(max(abs(lo), abs(hi))) + (1 if signed else 0) - (0 if signed else 1)
    integer += int(rng.integers(0, 3))
    low = max(integer + 2, 6)  # lo is a multiple of 1/4: two fractional bits at least
    width = int(rng.integers(low, max_width + 1)) if rng.random() < 0.4 else int(rng.integers(low, low + 14))
    return _type(rng, min(width, max_width), integer, signed)


def random_kan(rng: np.random.Generator, max_input_width: int = MAX_WIDTH) -> Config:
    """A random KAN, learning rate, update rounding and D per layer."""
    while True:
        layers = [int(rng.integers(1, 4))] + ([int(rng.integers(1, 4))] if rng.random() < 0.5 else [])
        layers.append(int(rng.integers(1, 3)))
        cells, order, lut = int(rng.integers(1, 25)), int(rng.integers(1, 5)), int(rng.integers(3, 9))
        lo = float(rng.choice([-1.0, -0.5, 0.0, 0.25]))
        hi = lo + float(rng.choice([0.75, 1.5, 2.0, 3.0]))
        h = (hi - lo) / cells
        bits = {k: int(rng.integers(6, 19)) for k in ("coef", "basis", "deriv", "grad", "output", "error", "update")}
        basis_signed = bool(rng.random() < 0.5)
        types = {
            "input": _input_type(rng, lo, hi, max_input_width),
            "coef": _type(rng, bits["coef"], int(rng.integers(1, 4))),
            "basis": _type(rng, bits["basis"], 2 if basis_signed else 1, basis_signed),
            "deriv": _type(rng, bits["deriv"] + 4, _bits_for(2.0 / h) + int(rng.integers(0, 2)), True),
            "grad": _type(rng, bits["grad"], _bits_for(2.0 / h) + 3),
            "output": _type(rng, bits["output"], int(rng.integers(1, 4))),
            "error": _type(rng, bits["error"], int(rng.integers(1, 4))),
            "update": _type(rng, bits["update"], int(rng.integers(0, 3))),
        }
        if rng.random() < 0.3:
            types["acc"] = _type(rng, int(rng.integers(10, 25)), int(rng.integers(2, 6)))
        seed = int(rng.integers(1000))
        init_scale = float(rng.choice([0.1, 0.5, 1.5]))

        def make(layers=layers, grid=(lo, hi, cells), order=order, lut=lut, types=types, seed=seed,
                 init_scale=init_scale) -> KAN:
            return KAN(layers, grid=grid, order=order, lut_bits=lut, types=types, seed=seed, init_scale=init_scale)

        lr, rounding = float(rng.choice([2.0 ** -2, 2.0 ** -4, 0.1, 0.3])), str(rng.choice(["type", "stochastic"]))
        delay = [int(rng.integers(0, 4)) for _ in layers[1:]]
        try:
            from quantkan.golden import OnlineLearner

            OnlineLearner(make(), lr=lr, rounding=rounding, delay=delay)
        except ValueError:
            continue  # refused at construction, as it must be: draw again
        return Config(make, lr, rounding, delay,
                      f"KAN({layers}, grid=({lo}, {hi}, {cells}), order={order}, lut_bits={lut}, types={types}, "
                      f"seed={seed}, init_scale={init_scale}) lr={lr} rounding={rounding} delay={delay}")


def random_mlp(rng: np.random.Generator) -> Config:
    """A random MLP (the HLS backend's other model kind)."""
    while True:
        layers = [int(rng.integers(1, 4)), int(rng.integers(1, 6))] + (
            [int(rng.integers(1, 4))] if rng.random() < 0.4 else []) + [int(rng.integers(1, 3))]
        types = {k: _type(rng, int(rng.integers(6, 17)), int(rng.integers(1, 4)))
                 for k in ("input", "weight", "bias", "output", "error", "update")}
        if rng.random() < 0.5:
            types["hidden"] = _type(rng, int(rng.integers(6, 17)), int(rng.integers(1, 4)))
        if rng.random() < 0.3:
            types["acc"] = _type(rng, int(rng.integers(10, 25)), int(rng.integers(2, 6)))
        seed = int(rng.integers(1000))

        def make(layers=layers, types=types, seed=seed) -> MLP:
            return MLP(layers, types=types, seed=seed)

        lr, rounding = float(rng.choice([2.0 ** -3, 2.0 ** -5, 0.07])), str(rng.choice(["type", "stochastic"]))
        delay = [int(rng.integers(0, 4)) for _ in layers[1:]]
        try:
            from quantkan.golden import OnlineLearner

            OnlineLearner(make(), lr=lr, rounding=rounding, delay=delay)
        except ValueError:
            continue
        return Config(make, lr, rounding, delay,
                      f"MLP({layers}, types={types}, seed={seed}) lr={lr} rounding={rounding} delay={delay}")


def random_stream(config: Config, n: int, seed: int, gaps: bool = False, checkpoints: int = 2) -> Drive:
    """Inputs over the grid (a KAN's) or the input range (an MLP's) and a little beyond, targets over
    the output range and beyond, with every stream feature of :data:`FEATURES` mixed in."""
    model = config.make()
    rng = np.random.default_rng(seed)
    t_in, t_out = model.types.input, model.types.output
    lo, hi = (model.grid.lo, model.grid.hi) if isinstance(model, KAN) else (t_in.min, t_in.max)
    pad = 0.2 * (hi - lo)
    x = rng.uniform(lo - pad, hi + pad, (n, model.layers[0]))
    span = t_out.max - t_out.min
    target = rng.uniform(t_out.min - 0.1 * span, t_out.max + 0.1 * span, (n, model.layers[-1]))
    return task_drive(model, x, target, seed=seed, gaps=gaps, checkpoints=checkpoints, features=FEATURES)
