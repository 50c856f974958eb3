"""Any folder of images, with an optional labels CSV (file name, ImageNet-1k class)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.sources.classes import class_name, parse_class
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


@dataclass(frozen=True)
class LabelRow:
    """One data row of a labels CSV: a file name and its class, or why the class cannot be used."""

    line: int
    file_name: str
    label: int | None
    label_name: str | None
    error: str | None = None


def _is_header(row: list[str]) -> bool:
    """A header names its columns: its first cell is no image file name (``file,label``, ``Image Name,...``)."""
    return not row[0].lower().endswith(IMAGE_EXTENSIONS)


def read_labels_csv(path: str | os.PathLike) -> list[LabelRow]:
    """Rows ``file name, class[, class name]``; the class is an ImageNet-1k index 0..999, a WordNet id
    (n02123045) or a class name (tabby). A first row is a header when its first cell is not an image file
    name (decided by content, so ``coffee.png,espresso`` is data). A row whose class cannot be read comes
    back with ``error`` set (its source fails with that reason); an unreadable file raises SourceError."""
    path = Path(path)
    rows: list[LabelRow] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(enumerate(csv.reader(handle, skipinitialspace=True), start=1))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"labels file {path}: {exc}") from None
    data = [(n, [cell.strip() for cell in row]) for n, row in lines]
    data = [(n, row) for n, row in data if row and row[0] and not row[0].startswith("#")]
    if data and _is_header(data[0][1]):
        data = data[1:]
    for number, row in data:
        where = f"{path.name}, line {number}"
        if len(row) < 2 or not row[1]:
            rows.append(LabelRow(number, row[0], None, None, f"{where}: no class given for {row[0]}"))
            continue
        try:
            index = parse_class(row[1])
        except ValueError as exc:
            rows.append(LabelRow(number, row[0], None, None, f"{where}: {exc}"))
            continue
        name = row[2] if len(row) > 2 and row[2] else class_name(index)
        rows.append(LabelRow(number, row[0], index, name))
    return rows


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
        for row in read_labels_csv(labels):
            name = row.file_name
            key = Path(name).as_posix() if "\\" not in name else name
            if key in table:
                extra.append(error_record(root, name, f"{name} is listed twice in the labels"))
                continue
            table[key] = (row.label, row.label_name, row.error)
            if key not in present:
                record = file_record(root, name)
                if record.error is None:  # exists but not an image name, or in a skipped folder
                    record = replace(record, error=f"{name} is not an image file of the folder listing")
                extra.append(record)
    records = []
    for name in names:
        record = file_record(root, name)
        if record.error is None and name in table:
            index, label_name, reason = table[name]
            reason = reason or check_label(index, num_classes)
            record = replace(record, label=None if reason else index, label_name=label_name, error=reason)
        records.append(record)
    return mark_duplicates(records + extra)

