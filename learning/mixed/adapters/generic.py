"""Datasets without an adapter of their own.

- ``csv``: a CSV (or TSV) with a header: path (relative to the file's folder, or to option images=DIR),
  score, and optionally group (what a split must not cut; each image alone otherwise). Column names are
  options path_column, score_column, group_column; option lower_is_better=true flips the score (max - s).
- ``list``: an IQA list file as the MIMI authors publish them, tab-separated, no header, any line ends:
  path, score[, std[, tag]] (the CLIP variant's extra columns are ignored); root is the image folder, option
  file=LIST, option tag=N keeps the rows of one dataset of a combined list. Each image is its own group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learning.mixed.adapters import DatasetSpec, register
from learning.mixed.adapters.tables import number, read_records
from learning.mixed.annotations import AnnotatedSet, DatasetError


@register("csv", "any dataset as a CSV of path, score[, group]: root is the CSV file")
def load_csv(spec: DatasetSpec) -> AnnotatedSet:
    table = Path(spec.root)
    if not table.is_file():
        raise DatasetError(f"{spec.name}: the csv adapter takes the CSV file itself as root, got {table}")
    path_column = spec.option("path_column", "path")
    score_column = spec.option("score_column", "score")
    group_column = spec.option("group_column", "group")
    records = read_records(table, (path_column, score_column))
    files = [str(r[path_column]) for r in records]
    scores = np.array([number(r[score_column], f"{table.name}, {score_column}") for r in records])
    if spec.flag("lower_is_better"):
        scores = scores.max() - scores
    groups = tuple(str(r.get(group_column) or f) for r, f in zip(records, files))
    root = Path(spec.option("images") or table.parent)
    return AnnotatedSet(root=root, files=tuple(files), scores=scores, groups=groups)


@register("list", "an IQA list file (path, score[, std, tag]): root is the image folder, option file=LIST")
def load_list(spec: DatasetSpec) -> AnnotatedSet:
    root = Path(spec.root)
    listing = spec.option("file")
    if listing is None or not Path(listing).is_file():
        raise DatasetError(f"{spec.name}: the list adapter needs option file=LIST naming an existing list file")
    tag = spec.option("tag")
    files, scores = [], []
    text = Path(listing).read_text(encoding="utf-8-sig")
    for number_, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        cells = line.split("\t") if "\t" in line else line.split()
        if len(cells) < 2:
            raise DatasetError(f"{listing}, line {number_}: expected path and score separated by a tab")
        if tag is not None and (len(cells) < 4 or cells[3].strip() != tag):
            continue
        files.append(cells[0].strip())
        scores.append(number(cells[1], f"{listing}, line {number_}"))
    if not files:
        raise DatasetError(f"{spec.name}: no row of {listing} " + (f"has tag {tag}" if tag else "was read"))
    return AnnotatedSet(root=root, files=tuple(files), scores=np.array(scores), groups=tuple(files))
