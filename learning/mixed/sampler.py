"""Which training items of each dataset a step uses: a pure function of (seed, dataset, step).

Every step draws ``batch`` items of every dataset. A dataset is walked through a fresh permutation per
cycle (seeded by the cycle number), so a small set cycles while a large one is still in its first pass,
and a resumed run draws exactly what an uninterrupted one would, with no sampler state to save.
"""

from __future__ import annotations

import numpy as np

from learning.mixed.seeds import stable_rng


class CyclingSampler:
    def __init__(self, size: int, batch: int, seed: int, name: str) -> None:
        if size < 1 or batch < 1:
            raise ValueError(f"{name}: need at least one item and a batch of at least one, got {size} and {batch}")
        self.size, self.batch, self.seed, self.name = size, batch, seed, name
        self._cycle, self._order = -1, np.empty(0, np.int64)

    def permutation(self, cycle: int) -> np.ndarray:
        if cycle != self._cycle:  # steps ask for the same cycle many times in a row
            self._cycle, self._order = cycle, stable_rng(self.seed, "sampler", self.name, cycle).permutation(self.size)
        return self._order

    def indices(self, step: int) -> np.ndarray:
        positions = step * self.batch + np.arange(self.batch)
        cycles, offsets = np.divmod(positions, self.size)
        return np.array([self.permutation(int(c))[o] for c, o in zip(cycles, offsets)], dtype=np.int64)

    def steps_per_pass(self) -> int:
        """Steps to see every item once."""
        return -(-self.size // self.batch)
