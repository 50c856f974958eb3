"""Train / validation / test splits by source image: every degraded image follows its source, so no source's
images are ever on both sides.

Two ways to split:

- the release's split files, by path: ``Image Name`` (cls: ``ILSVRC2012_val_00037809.JPEG``, the source
  id is the file stem) or ``Image Index`` (det / ins: a COCO id, zero-padded to 12 digits), or a
  ``source_id`` column (what this module writes);
- a hash split: a source is in the test part when a hash of (salt, source id) falls below the test fraction.
  Deterministic, independent of order and of which other sources exist: adding sources never moves one.

A validation part, when asked for, is carved out of the training sources by the same kind of hash (the
release validates on its test split; a validation fraction of 0 keeps that protocol).

    split = hash_split(source_ids, test_fraction=0.2)
    split = release_split("miqa_cls_train.csv", "miqa_cls_val.csv").restrict(source_ids)
    split.train, split.val, split.test, split.to_dict()
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

PARTS = ("train", "val", "test")
DEFAULT_SALT = "miqd"


class SplitError(ValueError):
    """A split file that cannot be read, or a split that leaves a part empty."""


def hash_unit(source_id: str, salt: str = DEFAULT_SALT) -> float:
    """A number in [0, 1) fixed by (salt, source id): SHA-256's first 8 bytes."""
    digest = hashlib.sha256(f"{salt}\0{source_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Split:
    """Source ids per part (sorted), how they were chosen, and what was left out."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    method: str  # "hash" | "files"
    details: dict[str, Any] = field(default_factory=dict)  # fractions, salt, file paths, counts left out

    def __post_init__(self) -> None:
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = set(getattr(self, a)) & set(getattr(self, b))
            if shared:
                raise SplitError(f"{len(shared)} sources are in both {a} and {b}, e.g. {sorted(shared)[0]!r}")

    def part(self, name: str) -> tuple[str, ...]:
        """``train``, ``val``, ``test`` or ``all``; ``val`` falls back to ``test`` when no validation part
        was carved out (the release's protocol)."""
        if name == "all":
            return tuple(sorted(self.train + self.val + self.test))
        if name not in PARTS:
            raise SplitError(f"unknown split part {name!r}; expected one of {', '.join(PARTS)} or all")
        if name == "val" and not self.val:
            return self.test
        return getattr(self, name)

    def restrict(self, available: Iterable[str], limit: int | None = None) -> "Split":
        """Only sources the database holds; with ``limit``, only the ``limit`` sources of lowest hash (a fixed,
        unbiased subset, the same whichever part they fall in). Counts left out go to ``details``."""
        available = set(available)
        listed = set(self.train) | set(self.val) | set(self.test)
        keep = available & listed
        if limit is not None:
            keep = set(sorted(keep, key=lambda s: (hash_unit(s, "limit"), s))[:limit])
        details = dict(self.details, listed_missing=len(listed - available), unlisted=len(available - listed),
                       limit=limit)
        return replace(self, train=tuple(s for s in self.train if s in keep),
                       val=tuple(s for s in self.val if s in keep), test=tuple(s for s in self.test if s in keep),
                       details=details)

    def check_usable(self, need_val: bool = False) -> None:
        if not self.train:
            raise SplitError("the split leaves no training sources; check the split files or the test fraction")
        if not self.test:
            raise SplitError("the split leaves no test sources; check the split files or raise the test fraction")
        if need_val and not self.val:
            raise SplitError("the validation fraction leaves no validation sources; raise it or set it to 0")

    def summary(self) -> str:
        validation = f"{len(self.val)} validation" if self.val else "validation on the test sources"
        return f"{len(self.train)} train / {len(self.test)} test sources, {validation} ({self.method} split)"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "details": self.details, "train": list(self.train), "val": list(self.val),
                "test": list(self.test)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Split":
        return cls(tuple(data["train"]), tuple(data["val"]), tuple(data["test"]), data["method"],
                   dict(data.get("details", {})))


def hash_split(source_ids: Iterable[str], test_fraction: float = 0.2, val_fraction: float = 0.0,
               salt: str = DEFAULT_SALT) -> Split:
    """test: hash < test_fraction; val: the next ``val_fraction`` of the unit interval; train: the rest."""
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 - test_fraction:
        raise SplitError(f"fractions must satisfy 0 < test ({test_fraction}) and 0 <= val ({val_fraction}) with "
                         "test + val < 1")
    parts: dict[str, list[str]] = {name: [] for name in PARTS}
    for source in sorted(set(source_ids)):
        u = hash_unit(source, salt)
        parts["test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"].append(source)
    return Split(tuple(parts["train"]), tuple(parts["val"]), tuple(parts["test"]), "hash",
                 {"test_fraction": test_fraction, "val_fraction": val_fraction, "salt": salt})


def read_split_file(path: str | Path) -> list[str]:
    """Source ids listed by a split CSV: ``Image Name`` (file stem), ``Image Index`` (12-digit COCO id) or
    ``source_id``."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise SplitError(f"cannot read split file {path}: {error.strerror or error}") from None
    columns = set(rows[0]) if rows else set()
    if "source_id" in columns:
        ids = [row["source_id"].strip() for row in rows]
    elif "Image Name" in columns:
        ids = [Path(row["Image Name"].strip()).stem for row in rows]
    elif "Image Index" in columns:
        try:
            ids = [f"{int(row['Image Index']):012d}" for row in rows]
        except ValueError:
            raise SplitError(f"{path}: 'Image Index' holds a value that is not a COCO image id") from None
    else:
        raise SplitError(f"{path}: expected a column 'Image Name' (cls), 'Image Index' (det/ins) or 'source_id'; "
                         f"found {sorted(columns) or 'no rows'}")
    if any(not source for source in ids):
        raise SplitError(f"{path}: empty source name in the list")
    return ids


def release_split(train_file: str | Path, test_file: str | Path, val_fraction: float = 0.0,
                  salt: str = DEFAULT_SALT) -> Split:
    """The split the files give; ``val_fraction`` of the training sources (by hash) held out for validation."""
    train, test = sorted(set(read_split_file(train_file))), sorted(set(read_split_file(test_file)))
    shared = set(train) & set(test)
    if shared:
        raise SplitError(f"{len(shared)} sources are listed in both {train_file} and {test_file}, "
                         f"e.g. {sorted(shared)[0]!r}")
    if not 0 <= val_fraction < 1:
        raise SplitError(f"validation fraction must be in [0, 1), got {val_fraction}")
    val = [s for s in train if hash_unit(s, salt) < val_fraction]
    held = set(val)
    return Split(tuple(s for s in train if s not in held), tuple(val), tuple(test), "files",
                 {"train_file": str(Path(train_file).resolve()), "test_file": str(Path(test_file).resolve()),
                  "val_fraction": val_fraction, "salt": salt})
