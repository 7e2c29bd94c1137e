"""The random bits of stochastic rounding: Galois LFSRs that hardware replays exactly.

Every update lane (one per delta computed in the same cycle) owns a 32-bit Galois
LFSR with feedback polynomial x^32 + x^22 + x^2 + x + 1 (mask 0x80200003, maximal
length).  One step: ``lsb = s & 1; s >>= 1; if lsb: s ^= 0x80200003``.  All lanes of
a layer step once per learning sample, before their bits are used; the random bits
for a rounding that drops ``d`` bits are the low ``d`` bits of the stepped state.
Lane ``n`` of layer ``l`` starts from ``seed_state(seed, l, n)``.
"""

from __future__ import annotations

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
        s = self.state
        feedback = (s & np.uint64(1)) * np.uint64(POLY)
        self.state = (s >> np.uint64(1)) ^ feedback
        return self.state

    def bits(self, d: int) -> np.ndarray:
        """Step every lane, then take the low ``d`` bits of each as int64."""
        if not 0 <= d <= 32:
            raise ValueError(f"stochastic rounding can drop at most 32 bits, asked for {d}")
        return (self.step() & np.uint64((1 << d) - 1)).astype(np.int64)
