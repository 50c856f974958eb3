"""Source records and the path checks every reader shares."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

NUM_IMAGENET_CLASSES = 1000


class SourceError(ValueError):
    """A source that cannot be used, with a one-line reason."""


class Box(NamedTuple):
    """An axis-aligned box in pixel coordinates: x0, y0 inclusive; x1, y1 exclusive."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class SourceRecord:
    """One source image as listed by a reader (nothing decoded).

    ``error`` is a one-line reason when the entry cannot be used (missing file, a name escaping the
    source root, an unknown class, ...); readers return such entries instead of dropping them. For an
    entry whose name escapes the root, ``path`` is the root itself, never the outside target.
    ``boxes`` holds object boxes for the mask builder (ImageNet val XMLs); None when there are none.
    """

    source_id: str
    path: Path
    file_name: str
    label: int | None = None
    label_name: str | None = None
    coco_image_id: int | None = None
    error: str | None = None
    boxes: tuple[Box, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def resolve_root(root: str | os.PathLike) -> Path:
    """The absolute, symlink-free path of a source root, which must be an existing directory."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise SourceError(f"source root {path} is not a directory")
    return path.resolve()


def safe_join(root: Path, name: str) -> Path:
    """``root / name`` for a relative name from a list, or SourceError if it could leave ``root``.

    ``root`` must come from resolve_root. Rejects empty names, absolute paths, ``..`` components,
    backslashes and NUL bytes, and existing paths whose real location (after symlinks) lies outside.
    The returned path is absolute and lexically inside ``root``; it may not exist.
    """
    if not name or not name.strip():
        raise SourceError("empty file name")
    if "\x00" in name:
        raise SourceError(f"file name {name!r} contains a NUL byte")
    if "\\" in name:
        raise SourceError(f"file name {name!r} contains a backslash")
    pure = Path(name)
    if pure.is_absolute() or (len(name) > 1 and name[0].isalpha() and name[1] == ":"):
        raise SourceError(f"file name {name!r} is an absolute path")
    if any(part == ".." for part in pure.parts):
        raise SourceError(f"file name {name!r} escapes the source root")
    path = root / pure
    check_inside(root, path)
    return path


def check_inside(root: Path, path: Path) -> None:
    """SourceError if ``path`` (under ``root``) exists and resolves, through symlinks, outside ``root``."""
    if path.is_symlink() or path.exists():
        real = path.resolve()
        if not real.is_relative_to(root):
            raise SourceError(f"{path.relative_to(root)} is a symlink pointing outside the source root")


def error_record(root: Path, name: str, reason: str, **fields) -> SourceRecord:
    """A record for an unusable entry; its path never leaves ``root``."""
    try:
        path = safe_join(root, name)
    except SourceError:
        path = root
    stem = Path(name.replace("\\", "/")).stem if name else ""
    fields.setdefault("source_id", stem)
    return SourceRecord(path=path, file_name=name, error=reason, **fields)


def file_record(root: Path, name: str, **fields) -> SourceRecord:
    """A record for ``name`` under ``root``: checked for escapes, existence and duplicates elsewhere."""
    try:
        path = safe_join(root, name)
    except SourceError as exc:
        return error_record(root, name, str(exc), **fields)
    fields.setdefault("source_id", path.stem)
    if not path.is_file():
        reason = "not a regular file" if path.exists() else "missing file"
        return SourceRecord(path=path, file_name=name, error=f"{reason}: {name}", **fields)
    return SourceRecord(path=path, file_name=name, **fields)


def mark_duplicates(records: list[SourceRecord]) -> list[SourceRecord]:
    """Give every record whose source_id repeats an earlier valid one an error (outputs are keyed by id)."""
    seen: dict[str, str] = {}
    out = []
    for record in records:
        if record.error is None:
            if record.source_id in seen:
                reason = f"duplicate source id {record.source_id!r} (also {seen[record.source_id]})"
                record = replace(record, error=reason)
            else:
                seen[record.source_id] = record.file_name
        out.append(record)
    return out


def check_label(label: int | None, num_classes: int = NUM_IMAGENET_CLASSES) -> str | None:
    """The reason a class index is invalid, or None."""
    if label is None:
        return None
    if not 0 <= label < num_classes:
        return f"unknown class index {label} (expected 0..{num_classes - 1})"
    return None
