"""Train / val / test splits of one dataset: random by group (never cutting a reference image or a source
across splits), or the lists a paper published.

    random_split(groups, (0.6, 0.2, 0.2), seed=0, index=3, name="kadid10k")   # array of "train"/"val"/"test"
    list_split(files, {"train": Path("train.txt"), "test": Path("test.txt")})    # "" for unlisted items
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from learning.mixed.annotations import DatasetError
from learning.mixed.seeds import stable_rng

SPLITS = ("train", "val", "test")


def random_split(groups: Sequence[str], fractions: Sequence[float], seed: int, index: int, name: str) -> np.ndarray:
    """Split number ``index`` of a dataset: its groups shuffled by a generator seeded from (seed, name,
    index), the first ``round(f_train * G)`` to train, the next ``round(f_val * G)`` to val, the rest to test."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    unique = sorted(set(groups))
    needed = sum(1 for f in fractions if f > 0)
    if len(unique) < needed:
        raise DatasetError(f"{name}: {len(unique)} group(s) (reference images / sources) cannot fill {needed} "
                           "splits; add data or change the split fractions")
    order = stable_rng(seed, "split", name, index).permutation(len(unique))
    counts = _group_counts(fractions, len(unique))
    bounds = np.cumsum(counts)
    split_of_group = {unique[position]: SPLITS[int(np.searchsorted(bounds, rank, side="right"))]
                      for rank, position in enumerate(order)}
    return np.array([split_of_group[g] for g in groups], dtype=object)


def _group_counts(fractions: Sequence[float], groups: int) -> list[int]:
    """Groups per split by rounding; a split asked for (fraction > 0) gets at least one, from the largest."""
    counts = [round(f * groups) for f in fractions[:2]]
    counts.append(groups - sum(counts))
    if counts[2] < 0:
        counts[1] += counts[2]
        counts[2] = 0
    for i, fraction in enumerate(fractions):
        if fraction > 0 and counts[i] == 0:
            counts[int(np.argmax(counts))] -= 1
            counts[i] = 1
    return counts


def read_list_paths(path: Path) -> list[str]:
    """First column of an IQA list file (tab or space separated, LF, CRLF or CR line ends, no header)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise DatasetError(f"cannot read the split list {path}: {error.strerror}; check the path") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.split("\t")[0].strip() if "\t" in line else line.split()[0] for line in lines if line.strip()]


def list_split(files: Sequence[str], lists: Mapping[str, Path]) -> np.ndarray:
    """Which list names each file: an entry names a file when it equals it or ends with ``/`` + it (the
    authors' combined lists prefix the dataset's folder). Unlisted files get ""."""
    unknown = set(lists) - set(SPLITS)
    if unknown:
        raise ValueError(f"split lists must be named among {SPLITS}, got {sorted(unknown)}")
    out = np.full(len(files), "", dtype=object)
    index = {f.replace("\\", "/").lstrip("./"): i for i, f in enumerate(files)}
    for split, path in lists.items():
        matched = 0
        for entry in read_list_paths(path):
            entry = entry.replace("\\", "/")
            parts = entry.split("/")
            hit = next((index[s] for s in ("/".join(parts[k:]) for k in range(len(parts))) if s in index), None)
            if hit is None:
                continue
            if out[hit] not in ("", split):
                raise DatasetError(f"{files[hit]} is in both the {out[hit]} and the {split} list; fix the lists")
            out[hit] = split
            matched += 1
        if matched == 0:
            raise DatasetError(f"no entry of the {split} list {path} names an image of the dataset; check that the "
                               "list belongs to this dataset and that its root folder is right")
    return out
