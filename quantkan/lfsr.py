"""The random bits of stochastic rounding: leap-forward Galois LFSRs that hardware replays exactly.

Every update lane (one per delta computed in the same cycle) owns a 32-bit Galois LFSR
with feedback polynomial x^32 + x^22 + x^2 + x + 1 (mask 0x80200003, maximal length).
One step: ``lsb = s & 1; s >>= 1; if lsb: s ^= 0x80200003``.

A lane whose rounding drops ``d`` bits draws ``d`` random bits per learning sample: it
first *leaps* ``d`` steps, then hands out the low ``d`` bits of its new state.  Leaping as
many steps as bits drawn makes successive draws independent (one step per draw would hand
out the previous draw shifted by one bit: lag-1 autocorrelation ~0.5).  ``d`` is fixed by
the types (1..32, see :func:`quantkan.golden.stochastic_types`), so hardware does the
leap as one XOR network (:func:`leap_masks`: each new state bit is the parity of a few
old bits) at the cost of one step.  A lane that draws no bits (``d = 0``: nothing to
round) does not advance, and hardware builds no LFSR for it.
Lane ``n`` of layer ``l`` starts from ``seed_state(seed, l, n)``.
"""

from __future__ import annotations

import functools

import numpy as np

POLY = 0x80200003
MASK32 = 0xFFFFFFFF


def seed_state(seed: int, layer: int, lane: np.ndarray) -> np.ndarray:
    """Distinct non-zero 32-bit start states (a multiplicative hash of seed, layer and lane)."""
    lane = np.asarray(lane, dtype=np.uint64)
    mix = (np.uint64(seed & MASK32) * np.uint64(0x9E3779B1)
           + np.uint64(layer + 1) * np.uint64(0xC2B2AE35)
           + (lane + np.uint64(1)) * np.uint64(0x85EBCA6B)) & np.uint64(MASK32)
    mix ^= mix >> np.uint64(16)
    mix = (mix * np.uint64(0x7FEB352D)) & np.uint64(MASK32)
    mix ^= mix >> np.uint64(15)
    return np.where(mix == 0, np.uint64(1), mix).astype(np.uint64)


class LFSRBank:
    """A bank of independent lanes, stepped together."""

    def __init__(self, seed: int, layer: int, shape: tuple[int, ...]) -> None:
        self.state = seed_state(seed, layer, np.arange(int(np.prod(shape)))).reshape(shape)

    def step(self) -> np.ndarray:
        """One Galois step of every lane."""
        s = self.state
        feedback = (s & np.uint64(1)) * np.uint64(POLY)
        self.state = (s >> np.uint64(1)) ^ feedback
        return self.state

    def bits(self, d: int) -> np.ndarray:
        """Leap every lane ``d`` steps, then take the low ``d`` bits of each as int64."""
        if not 0 <= d <= 32:
            raise ValueError(f"stochastic rounding can drop at most 32 bits, asked for {d}")
        for _ in range(d):
            self.step()
        return (self.state & np.uint64((1 << d) - 1)).astype(np.int64)


@functools.cache
def _leap_columns(k: int) -> tuple[int, ...]:
    """Where each one-hot state goes in ``k`` steps (the step is linear over GF(2))."""
    if not 0 <= k <= 32:
        raise ValueError(f"an LFSR leap is 0..32 steps, got {k}")
    columns = []
    for j in range(32):
        s = 1 << j
        for _ in range(k):
            s = (s >> 1) ^ (POLY if s & 1 else 0)
        columns.append(s)
    return tuple(columns)


def leap_masks(k: int) -> tuple[int, ...]:
    """The leap of ``k`` steps as a GF(2) matrix: bit ``i`` of the state after ``k`` steps is
    the parity of ``old_state & masks[i]``.  What hardware builds instead of ``k`` chained steps."""
    columns = _leap_columns(k)
    return tuple(sum(1 << j for j in range(32) if columns[j] >> i & 1) for i in range(32))


def leap(state: int, k: int) -> int:
    """One lane's state after ``k`` steps (hardware that keeps a lane one leap ahead starts here)."""
    return sum(((state & mask).bit_count() & 1) << i for i, mask in enumerate(leap_masks(k)))


@functools.cache
def leap_tables() -> np.ndarray:
    """The same leaps for software, (33, 4, 256) uint64: the state after ``k`` steps from ``s``
    is the XOR over bytes ``b`` of ``tables[k, b, (s >> 8b) & 255]`` (4 look-ups, not k steps)."""
    tables = np.zeros((33, 4, 256), dtype=np.uint64)
    for k in range(33):
        columns = np.array(_leap_columns(k), dtype=np.uint64)
        for b in range(4):
            for bit in range(8):
                has = (np.arange(256) >> bit) & 1 == 1
                tables[k, b, has] ^= columns[8 * b + bit]
    return tables
