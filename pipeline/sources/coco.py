"""COCO: an image folder (val2017/) and its instances JSON, read with pycocotools."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from functools import lru_cache
from pathlib import Path

from pycocotools.coco import COCO

from pipeline.sources.records import (
    SourceError,
    SourceRecord,
    error_record,
    file_record,
    mark_duplicates,
    resolve_root,
)


def load_coco(path: str | os.PathLike) -> COCO:
    """A COCO object for an annotation JSON, loaded once per process (cached on path, size, mtime)."""
    path = Path(path).expanduser().resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise SourceError(f"COCO annotations {path}: {exc.strerror or exc}") from None
    return _load_coco(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _load_coco(path: str, size: int, mtime_ns: int) -> COCO:
    coco = COCO()
    try:
        with open(path, encoding="utf-8") as handle:
            dataset = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SourceError(f"COCO annotations {Path(path).name}: {exc}") from None
    if not isinstance(dataset, dict) or not isinstance(dataset.get("images"), list):
        raise SourceError(f"COCO annotations {Path(path).name}: no 'images' list")
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        try:
            coco.createIndex()
        except (KeyError, TypeError) as exc:
            raise SourceError(f"COCO annotations {Path(path).name}: malformed ({exc!r})") from None
    return coco


def read_id_list(path: str | os.PathLike) -> list[int]:
    """COCO image ids from a list: the release's split CSV (``Image Index`` column) or one id per line
    (``#`` comments allowed, zero-padded ids accepted, as in coco_gray.txt)."""
    path = Path(path)
    ids = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    for line_number, row in enumerate(rows, start=1):
        text = row[0].strip() if row else ""
        if not text or text.startswith("#") or (line_number == 1 and not text.isdigit()):
            continue  # blank, comment or header
        try:
            ids.append(int(text))
        except ValueError:
            raise SourceError(f"{path.name}, line {line_number}: {text!r} is not an image id") from None
    return ids


def read_coco(
    image_dir: str | os.PathLike,
    annotations: str | os.PathLike | COCO,
    *,
    ids: list[int] | str | os.PathLike | None = None,
) -> list[SourceRecord]:
    """List COCO sources: the JSON's images sorted by id, or ``ids`` (a list or an id-list file) in
    their order. Ids absent from the JSON, missing files and file names escaping ``image_dir`` become
    records with an error. ``source_id`` is the file stem (``000000397133``)."""
    root = resolve_root(image_dir)
    coco = annotations if isinstance(annotations, COCO) else load_coco(annotations)
    if ids is None:
        wanted = sorted(coco.imgs)
    elif isinstance(ids, (str, os.PathLike)):
        wanted = read_id_list(ids)
    else:
        wanted = [int(i) for i in ids]
    records = []
    for image_id in wanted:
        info = coco.imgs.get(image_id)
        if info is None:
            records.append(
                error_record(
                    root, "", f"image id {image_id} is not in the annotations",
                    source_id=f"{image_id:012d}", coco_image_id=image_id,
                )
            )
            continue
        name = info.get("file_name")
        if not isinstance(name, str):
            records.append(
                error_record(root, "", f"image id {image_id} has no file_name", coco_image_id=image_id,
                             source_id=f"{image_id:012d}")
            )
            continue
        records.append(file_record(root, name, coco_image_id=image_id))
    return mark_duplicates(records)
