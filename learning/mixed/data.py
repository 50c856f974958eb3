"""The datasets of a mix, read, split and normalised: what the trainer and the evaluation share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from learning.mixed.adapters import DatasetSpec, load_dataset
from learning.mixed.annotations import AnnotatedSet, DatasetError, ScoreScale
from learning.mixed.splits import list_split, random_split


@dataclass(frozen=True)
class SplitSettings:
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)  # train, val, test (the CNN variant's)
    index: int = 0  # which of the repeated random splits
    seed: int = 0
    # one random split of the union of the datasets' groups, so that datasets sharing groups (the same
    # sources labelled twice, one pool divided into datasets) never put a group in two splits
    shared: bool = False


@dataclass(frozen=True, eq=False)
class MixedData:
    specs: tuple[DatasetSpec, ...]
    sets: tuple[AnnotatedSet, ...]
    splits: tuple[np.ndarray, ...]  # per item: train / val / test, or "" (in no split list)
    scales: tuple[ScoreScale, ...]  # fitted on each training split

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def indices(self, k: int, split: str) -> np.ndarray:
        return np.flatnonzero(self.splits[k] == split)

    def targets(self, k: int) -> np.ndarray:
        """Every item's annotation normalised to [0, 10] by the training split's min and max."""
        return self.scales[k](self.sets[k].scores)

    def bounds(self) -> np.ndarray:
        """(K, 2): each dataset's scale bounds on its normalised scale (the range constraint's inputs)."""
        return np.array([self.scales[k](np.array(s.scale)) for k, s in enumerate(self.sets)])

    def fingerprints(self) -> dict[str, str]:
        """Per dataset, a digest of its files, annotations, groups and splits."""
        out = {}
        for spec, dataset, split in zip(self.specs, self.sets, self.splits):
            digest = hashlib.blake2b(digest_size=12)
            for part in (dataset.files, dataset.groups, tuple(split)):
                digest.update("\x1f".join(part).encode("utf-8"))
            digest.update(np.ascontiguousarray(dataset.scores).tobytes())
            out[spec.name] = digest.hexdigest()
        return out

    def sizes(self) -> list[int]:
        """Whole-dataset sizes: the weights of the size-weighted averages, as the MIMI authors use them."""
        return [len(s) for s in self.sets]


def assign_split(spec: DatasetSpec, dataset: AnnotatedSet, settings: SplitSettings,
                 shared: dict[str, str] | None = None) -> np.ndarray:
    """The split lists given as option split_lists=train:FILE,val:FILE,test:FILE, else the ``shared``
    split of every group, else a random split of the dataset's groups (split number ``settings.index``)."""
    lists = spec.option("split_lists")
    if lists:
        named = {}
        for entry in lists.split(","):
            split, sep, path = entry.partition(":")
            if not sep:
                raise DatasetError(f"{spec.name}: split_lists takes split:FILE pairs separated by commas, got "
                                   f"{entry!r}")
            named[split.strip()] = Path(path.strip())
        return list_split(dataset.files, named)
    if shared is not None:
        return np.array([shared[g] for g in dataset.groups], dtype=object)
    return random_split(dataset.groups, settings.fractions, settings.seed, settings.index, spec.name)


def load_mix(specs: Sequence[DatasetSpec], settings: SplitSettings) -> MixedData:
    names = [s.name for s in specs]
    if not specs:
        raise DatasetError("no dataset to mix; give at least one")
    if len(set(names)) != len(names):
        raise DatasetError(f"dataset names must be unique in a mix, got {', '.join(names)}")
    datasets = [load_dataset(spec) for spec in specs]
    shared = None
    if settings.shared:
        union = sorted({g for d in datasets for g in d.groups})
        shared = dict(zip(union, random_split(union, settings.fractions, settings.seed, settings.index, "shared")))
    sets, splits, scales = [], [], []
    for spec, dataset in zip(specs, datasets):
        split = assign_split(spec, dataset, settings, shared)
        train = np.flatnonzero(split == "train")
        if len(train) < 2:
            raise DatasetError(f"{spec.name}: {len(train)} training image(s); a dataset needs at least 2")
        sets.append(dataset)
        splits.append(split)
        try:
            scales.append(ScoreScale.fit(dataset.scores[train]))
        except DatasetError as error:
            raise DatasetError(f"{spec.name}: {error}") from None
    return MixedData(tuple(specs), tuple(sets), tuple(splits), tuple(scales))
