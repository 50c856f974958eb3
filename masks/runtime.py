"""Where the model-based mask methods run: device, weights, batching (shared by "lite-*" and "dino")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class ModelOptions:
    """How to run the mask models; none of it changes a trained model's masks beyond float rounding.

    ``device``: "cpu", "cuda", "cuda:1", or None for CUDA when available. Weights follow the oracles'
    rules: ``weights_dir`` first, then the framework's cache, then a download when ``allow_download``;
    offline with a file missing, one MissingWeightsError lists it. ``untrained``: random weights (seeded),
    for plumbing checks only; such masks carry the note "untrained".
    """

    device: str | None = None
    weights_dir: Path | None = None
    allow_download: bool = False
    untrained: bool = False
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


def group_by_shape(shapes: Sequence[tuple[int, ...]], batch_size: int) -> list[list[int]]:
    """Indices of equal-shaped items in batches of at most ``batch_size``, in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(index)
    return [indices[i : i + batch_size] for indices in groups.values() for i in range(0, len(indices), batch_size)]


def torch_device(device: str | None):
    """The torch.device for ``device`` (None: CUDA when available)."""
    from oracles.runtime import as_device

    return as_device(device)
