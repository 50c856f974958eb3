"""One dataset to mix, as its adapter reads it, and the min-max normalisation MIMI trains on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NORMALISED_RANGE = 10.0  # annotations are min-max normalised to [0, 10] on each training split


class DatasetError(ValueError):
    """A dataset cannot be read as given; the message says what is wrong and what to do, in one line."""


@dataclass(frozen=True, eq=False)
class AnnotatedSet:
    """Images of one dataset with their annotations, oriented so that higher means better quality.

    ``files`` are relative to ``root`` (what split lists name); ``groups`` are the unit a split never cuts
    (the reference image of a synthetic set, the source of an MIQD image, the image itself otherwise);
    ``scale`` is the annotation range of the dataset's scale, used by the range constraint (by default the
    whole dataset's minimum and maximum, as the MIMI authors take them)."""

    root: Path
    files: tuple[str, ...]
    scores: np.ndarray = field(repr=False)
    groups: tuple[str, ...] = field(repr=False)
    scale: tuple[float, float] = (math.nan, math.nan)

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, np.float64)
        object.__setattr__(self, "scores", scores)
        if not (len(self.files) == len(scores) == len(self.groups)):
            raise ValueError(f"{len(self.files)} files, {len(scores)} scores and {len(self.groups)} groups")
        if len(scores) == 0:
            raise DatasetError(f"no annotated image found under {self.root}")
        if not np.all(np.isfinite(scores)):
            bad = self.files[int(np.flatnonzero(~np.isfinite(scores))[0])]
            raise DatasetError(f"{self.root}: the annotation of {bad} is not a finite number; fix the label file")
        if math.isnan(self.scale[0]):
            object.__setattr__(self, "scale", (float(scores.min()), float(scores.max())))

    def __len__(self) -> int:
        return len(self.files)

    def paths(self) -> list[Path]:
        return [self.root / f for f in self.files]


@dataclass(frozen=True)
class ScoreScale:
    """Min-max normalisation to [0, 10] fitted on a training split."""

    low: float
    high: float

    @classmethod
    def fit(cls, scores: np.ndarray) -> "ScoreScale":
        low, high = float(np.min(scores)), float(np.max(scores))
        if high <= low:
            raise DatasetError("every training annotation of a dataset is equal: nothing to learn from; check the "
                               "label column")
        return cls(low, high)

    def __call__(self, scores: np.ndarray | float) -> np.ndarray:
        return (np.asarray(scores, np.float64) - self.low) / (self.high - self.low) * NORMALISED_RANGE
