"""Human IQA sets of authentic distortions, from their published files. Every image is its own group.

- ``bid``: BID (Ciancio et al.): DatabaseGrades.xlsx (first sheet; needs openpyxl) or a CSV export
  (option labels=FILE): image number, then its mean grade (0-5, higher is better); images
  ImageDatabase/DatabaseImage<NNNN>.JPG. 586 images.
- ``clive``: LIVE In the Wild (ChallengeDB_release/): Data/AllMOS_release.mat, Data/AllImages_release.mat;
  images Images/<name>. The first 7 entries, the observers' practice images (Images/trainingImages/), are
  left out, as everyone does: 1,162 images, MOS 0-100.
- ``koniq10k``: KonIQ-10k: koniq10k_scores_and_distributions.csv; images 1024x768/<image_name> (option
  images=512x384 for the smaller copy); label MOS (1-5, default) or MOS_zscore. 10,073 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learning.mixed.adapters import DatasetSpec, register
from learning.mixed.adapters.tables import (
    mat_strings,
    number,
    read_mat,
    read_records,
    read_rows,
)
from learning.mixed.annotations import AnnotatedSet, DatasetError

CLIVE_PRACTICE_IMAGES = 7


def _own_groups(files: list[str]) -> tuple[str, ...]:
    return tuple(files)


@register("bid", "BID: its folder (DatabaseGrades.xlsx or a CSV export, ImageDatabase/)")
def load_bid(spec: DatasetSpec) -> AnnotatedSet:
    root = Path(spec.root)
    labels = Path(spec.option("labels") or root / "DatabaseGrades.xlsx")
    if not labels.is_file():
        raise DatasetError(f"{spec.name}: {labels} not found; give BID's folder holding DatabaseGrades.xlsx, or the "
                           "sheet saved as CSV with option labels=FILE")
    files, scores = [], []
    for row in read_rows(labels):
        if len(row) < 2 or not _is_number(row[0]):
            continue  # the header, blank rows
        files.append(f"ImageDatabase/DatabaseImage{int(float(row[0])):04d}.JPG")
        scores.append(number(row[1], f"{labels.name}, grade of image {row[0]}"))
    if not files:
        raise DatasetError(f"{labels}: no row of (image number, grade) found; give BID's grades sheet")
    return AnnotatedSet(root=root, files=tuple(files), scores=np.array(scores), groups=_own_groups(files))


def _is_number(cell) -> bool:
    try:
        float(cell)
        return True
    except (TypeError, ValueError):
        return False


@register("clive", "LIVE In the Wild: the ChallengeDB_release folder (Data/*.mat, Images/)")
def load_clive(spec: DatasetSpec) -> AnnotatedSet:
    root = Path(spec.root)
    names = mat_strings(read_mat(root / "Data" / "AllImages_release.mat", "AllImages_release"))
    mos = np.ravel(read_mat(root / "Data" / "AllMOS_release.mat", "AllMOS_release")).astype(np.float64)
    if len(names) != len(mos):
        raise DatasetError(f"{root}/Data: {len(names)} image names for {len(mos)} MOS values; give the release's files")
    files = [f"Images/{n}" for n in names[CLIVE_PRACTICE_IMAGES:]]
    return AnnotatedSet(root=root, files=tuple(files), scores=mos[CLIVE_PRACTICE_IMAGES:], groups=_own_groups(files))


@register("koniq10k", "KonIQ-10k: its folder (koniq10k_scores_and_distributions.csv, 1024x768/)",
          ("MOS", "MOS_zscore"))
def load_koniq10k(spec: DatasetSpec) -> AnnotatedSet:
    root = Path(spec.root)
    labels = Path(spec.option("labels") or root / "koniq10k_scores_and_distributions.csv")
    if not labels.is_file():
        raise DatasetError(f"{spec.name}: {labels} not found; give KonIQ-10k's folder")
    column = spec.label or "MOS"
    images = spec.option("images") or "1024x768"
    records = read_records(labels, ("image_name", column))
    files = [f"{images}/{r['image_name']}" for r in records]
    return AnnotatedSet(root=root, files=tuple(files), groups=_own_groups(files),
                        scores=np.array([number(r[column], f"{labels.name}, {column}") for r in records]))
