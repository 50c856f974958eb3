"""A ``torch.utils.data.Dataset`` over the rows of a :class:`~learning.data.table.SampleTable`.

An item is a dict: the views (uint8 tensors: ``image``, and ``region_view`` for region-aware models), the
``label`` (float32), the row ``index``, and the row's metadata (``image_id``, ``source_id``, ``distortion``,
``region``, ``roi_level``, ``bg_level``). Keys are a row index (no randomness: evaluation) or a
:class:`Draw` (epoch, index) from :class:`~learning.data.loader.EpochSampler` (training: random crops seeded
by the draw).

The rows are held as numpy arrays (paths packed into one byte buffer, names as category codes), so that
DataLoader workers share them copy-on-write instead of copying a million Python strings each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from learning.data.views import Views, read_rgb


class Draw(NamedTuple):
    """A training draw of row ``index`` in ``epoch``: the key of its random crop."""

    epoch: int
    index: int


class PackedStrings:
    """Strings in one byte buffer with offsets: no per-string Python object to copy into every worker."""

    def __init__(self, values) -> None:
        encoded = [str(v).encode("utf-8") for v in values]
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self.offsets[1:])
        self.buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return self.buffer[self.offsets[i] : self.offsets[i + 1]].tobytes().decode("utf-8")


class Categories:
    """A column of few distinct values as integer codes."""

    def __init__(self, values: pd.Series) -> None:
        codes, self.names = pd.factorize(values, sort=True)
        self.codes = codes.astype(np.int32)
        self.names = [str(n) for n in self.names]

    def __getitem__(self, i: int) -> str:
        return self.names[self.codes[i]]


class QualityDataset(Dataset):
    """Images and labels of some rows of a database table."""

    def __init__(self, rows: pd.DataFrame, views: Views, seed: int = 0) -> None:
        self.views = views
        self.seed = int(seed)
        self.paths = PackedStrings(rows["path"])
        self.image_ids = PackedStrings(rows["image_id"])
        self.sources = Categories(rows["source_id"])
        self.distortions = Categories(rows["distortion"])
        self.regions = Categories(rows["region"])
        self.roi_levels = rows["roi_level"].to_numpy(np.int64)
        self.bg_levels = rows["bg_level"].to_numpy(np.int64)
        self.labels = rows["label"].to_numpy(np.float32)

    @classmethod
    def from_database(cls, db: str | Path, subset: str = "cls", label: str = "composite",
                      aggregation: str = "weighted", sources: Iterable[str] | None = None, train: bool = False,
                      views: Views | None = None, seed: int = 0, format: str = "auto") -> "QualityDataset":
        """The labelled images of ``sources`` (default: all) of a database, ours or the release's layout, with
        the release's test views (``train``: its training views, indexed by :class:`Draw`) unless ``views``."""
        from learning.data.table import read_database
        from learning.data.views import protocol_views

        table = read_database(db, subset, label, aggregation, format)
        rows = table.rows if sources is None else table.of_sources(sources)
        return cls(rows, views or protocol_views(train), seed)

    def __len__(self) -> int:
        return len(self.labels)

    def crop_rng(self, draw: Draw) -> np.random.Generator:
        return np.random.default_rng([self.seed, draw.epoch, draw.index])

    def __getitem__(self, key: int | Draw) -> dict[str, Any]:
        if isinstance(key, Draw):
            index, rng = key.index, self.crop_rng(key)
        else:
            index, rng = int(key), None
            if self.views.random:
                raise ValueError("a dataset with random views is indexed by Draw(epoch, index)")
        sample: dict[str, Any] = self.views(read_rgb(self.paths[index]), rng)
        sample.update(
            label=torch.tensor(self.labels[index]), index=index, image_id=self.image_ids[index],
            source_id=self.sources[index], distortion=self.distortions[index], region=self.regions[index],
            roi_level=int(self.roi_levels[index]), bg_level=int(self.bg_levels[index]),
        )
        return sample
