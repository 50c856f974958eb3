"""Batches for training and evaluation: a sampler whose order is a pure function of (seed, epoch), shardable
over distributed ranks and restartable at any step, and a DataLoader with decoding workers and pinned memory.

A resumed run asks for the same epoch from the step it stopped at and gets exactly the batches the
uninterrupted run would have seen next, whatever the number of workers.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from learning.data.dataset import Draw


class EpochSampler(Sampler):
    """Row indices of one rank: every row once per epoch, shuffled by (seed, epoch) when ``shuffle``.

    Training (``draws=True``) yields :class:`Draw` keys and pads the order so that every rank gets as many
    rows (as torch's DistributedSampler does); evaluation yields plain indices, strided over the ranks
    without padding. :meth:`set_position` chooses the epoch and how many of this rank's rows to skip.
    """

    def __init__(self, size: int, seed: int, shuffle: bool, draws: bool, rank: int = 0, world: int = 1) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.size, self.seed, self.shuffle, self.draws = size, int(seed), shuffle, draws
        self.rank, self.world = rank, world
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)

    def order(self, epoch: int) -> np.ndarray:
        """This rank's rows of ``epoch``, in order."""
        rows = np.random.default_rng([self.seed, epoch]).permutation(self.size) if self.shuffle \
            else np.arange(self.size)
        if self.draws and self.world > 1:
            padded = math.ceil(self.size / self.world) * self.world
            rows = np.concatenate([rows, rows[: padded - self.size]])
        return rows[self.rank :: self.world]

    def __iter__(self) -> Iterator[int | Draw]:
        rows = self.order(self.epoch)[self.start :]
        if self.draws:
            return (Draw(self.epoch, int(i)) for i in rows)
        return iter(rows.tolist())

    def __len__(self) -> int:
        return max(len(self.order(self.epoch)) - self.start, 0)

    def rows_per_epoch(self) -> int:
        return len(self.order(0))


def make_loader(dataset: Dataset, sampler: EpochSampler, batch_size: int, workers: int, pin_memory: bool,
                seed: int) -> DataLoader:
    """A DataLoader over ``sampler``'s order. Its own seeded generator keeps it from drawing on torch's
    global random state (which the model's dropout uses), so loaders never change a run's results."""
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin_memory,
        drop_last=False, persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator().manual_seed(int(seed)),
    )
