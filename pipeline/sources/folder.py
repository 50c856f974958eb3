"""Any folder of images, with an optional labels CSV (file name, class index)."""

from __future__ import annotations

import csv
import os
from dataclasses import replace
from pathlib import Path

from pipeline.sources.records import (
    NUM_IMAGENET_CLASSES,
    SourceError,
    SourceRecord,
    check_label,
    error_record,
    file_record,
    mark_duplicates,
    resolve_root,
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def read_labels_csv(path: str | os.PathLike) -> list[tuple[str, int, str | None]]:
    """Rows ``file name, class index[, class name]``; a first row whose index is not a number is a header."""
    path = Path(path)
    out = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for line_number, row in enumerate(csv.reader(handle, skipinitialspace=True), start=1):
            row = [cell.strip() for cell in row]
            if not row or not row[0] or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise SourceError(f"{path.name}, line {line_number}: expected 'file name, class index'")
            try:
                index = int(row[1])
            except ValueError:
                if line_number == 1:
                    continue  # header
                raise SourceError(f"{path.name}, line {line_number}: {row[1]!r} is not a class index") from None
            out.append((row[0], index, row[2] if len(row) > 2 and row[2] else None))
    return out


def list_images(root: Path, recursive: bool = False) -> list[str]:
    """Image files under ``root`` (POSIX relative names, sorted); hidden files and folders are skipped,
    symlinked folders are not followed."""
    names = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
            rel = Path(dirpath).relative_to(root)
            names.extend((rel / name).as_posix() for name in filenames if is_image_name(name))
    else:
        names = [entry.name for entry in os.scandir(root) if is_image_name(entry.name) and not entry.is_dir()]
    return sorted(names)


def read_folder(
    root: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    recursive: bool = False,
    num_classes: int = NUM_IMAGENET_CLASSES,
) -> list[SourceRecord]:
    """List every image (jpg/jpeg/png/bmp/tif/webp, any case) in ``root``, sorted by relative name.

    With ``labels``, each file's class index (0..num_classes-1) comes from the CSV; files it does not
    name get ``label=None``, and names it lists that are missing or escape ``root`` become records with
    an error (appended after the folder's files, in the CSV's order). Symlinks resolving outside
    ``root`` and repeated source ids (``a.jpg`` and ``a.png``) are errors too.
    """
    root = resolve_root(root)
    names = list_images(root, recursive)
    table: dict[str, tuple[int, str | None]] = {}
    extra: list[SourceRecord] = []
    if labels is not None:
        present = set(names)
        for name, index, class_name in read_labels_csv(labels):
            key = Path(name).as_posix() if "\\" not in name else name
            if key in table:
                extra.append(error_record(root, name, f"{name} is listed twice in the labels"))
                continue
            table[key] = (index, class_name)
            if key not in present:
                record = file_record(root, name)
                if record.error is None:  # exists but not an image name, or in a skipped folder
                    record = replace(record, error=f"{name} is not an image file of the folder listing")
                extra.append(record)
    records = []
    for name in names:
        record = file_record(root, name)
        if record.error is None and name in table:
            index, class_name = table[name]
            reason = check_label(index, num_classes)
            record = replace(record, label=None if reason else index, label_name=class_name, error=reason)
        records.append(record)
    return mark_duplicates(records + extra)

