"""A database's settings: what its images depend on, recorded in ``manifests/generate.json``.

A later run may grow the database (more sources, more distortion types) but never change what existing images
were made with: seed, severity ranks, masks, class labels, the options of existing types. Such a change is
refused with the reason and what to do instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from degradations import SELECTED_RANKS
from degradations.regions import BLUR_RADIUS
from pipeline.errors import UsageError

PNG_WRITER = "up-filter isal-1"


def file_sha256(path: Path | None) -> str | None:
    """The SHA-256 of a file's content (what a database depends on, wherever the file lives)."""
    if path is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class MaskSettings:
    user_masks: bool = False  # a --mask-dir was given
    annotations_sha256: str | None = None  # COCO instances JSON the masks (and accuracy labels) come from
    bbox_xmls: bool = False  # ImageNet val box XMLs
    default: Mapping[str, Any] = field(default_factory=dict)  # masks.method_fingerprint of the default method
    resize_masks: bool = False  # user masks of another size are resized (else such a source fails)

    def to_dict(self) -> dict[str, Any]:
        return {"blur_radius": BLUR_RADIUS, "user_masks": self.user_masks, "coco_annotations": self.annotations_sha256,
                "bbox_xmls": self.bbox_xmls, "default": json.loads(json.dumps(dict(self.default))),
                "resize_masks": self.resize_masks}


@dataclass(frozen=True)
class DatabaseSettings:
    subset: str
    seed: int
    distortions: Mapping[str, Mapping[str, str]]  # type -> its options, in the database's order
    mask: MaskSettings = field(default_factory=MaskSettings)
    labels_sha256: str | None = None  # a folder's labels CSV (cls)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self.distortions)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "subset": self.subset,
            "seed": self.seed,
            "distortions": {name: dict(options) for name, options in self.distortions.items()},
            "distortion_order": list(self.distortions),
            "selected_ranks": list(SELECTED_RANKS),
            "mask": self.mask.to_dict(),
            "labels_csv": self.labels_sha256,
            "png": PNG_WRITER,
        }

    def extended(self, existing: Mapping[str, Any] | None) -> "DatabaseSettings":
        """These settings as they apply to a database recorded as ``existing`` (None: a new database):
        its types first (in their order), the new ones after. UsageError lists every change that cannot
        be made in place, each with its reason and what to do instead."""
        if existing is None:
            return self
        old = _normalise(existing)
        problems = []
        for key, reason in (
            ("subset", "a database holds one subset"),
            ("seed", "the seed decides every random draw of the existing images; use another --out for another seed"),
            ("selected_ranks", "severity ranks decide which candidates every image uses; use another --out"),
            ("png", "the PNG writer changed; use another --out or the version that made this database"),
        ):
            new = self.fingerprint()[key]
            if old[key] != new:
                problems.append(f"{key}: existing {json.dumps(old[key])}, requested {json.dumps(new)} ({reason})")
        for key, value in self.mask.to_dict().items():
            legacy = key == "coco_annotations" and old["mask"].get(key) is True and value is not None
            if old["mask"].get(key) != value and not legacy:  # a legacy record said only "yes": adopt the hash
                problems.append(
                    f"mask.{key}: existing {json.dumps(old['mask'].get(key))}, requested {json.dumps(value)} "
                    "(ROI masks shape every ROI-DD/BG-DD image; pass the mask sources the database was made with, "
                    "or build a database with other masks in another --out)")
        if old["labels_csv"] != self.labels_sha256:
            problems.append(
                f"labels_csv: existing {json.dumps(old['labels_csv'])}, requested {json.dumps(self.labels_sha256)} "
                "(class labels decide the accuracy labels; pass the --labels file the database was made with, "
                "or use another --out)")
        types = dict(old["distortions"])
        for name, options in self.distortions.items():
            if name in types and dict(types[name]) != dict(options):
                problems.append(
                    f"distortions.{name}: existing options {json.dumps(types[name])}, requested {json.dumps(options)} "
                    f"(existing {name} images were made with the former; pass the same --option values, "
                    "or use another --out)")
            types.setdefault(name, dict(options))
        if problems:
            raise UsageError(f"{self.subset} database settings differ and cannot change in place: "
                             + "; ".join(problems))
        return DatabaseSettings(self.subset, self.seed, types, self.mask, self.labels_sha256)


def _normalise(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A generate.json of any version in the current shape (a list of types + one options table earlier)."""
    data = json.loads(json.dumps(recorded))
    distortions = data.get("distortions", {})
    if isinstance(distortions, list):
        options = data.get("options", {})
        distortions = {name: options.get(name, {}) for name in distortions}
    order = data.get("distortion_order") or list(distortions)
    data["distortions"] = {name: distortions[name] for name in order}
    mask = data.get("mask", {})
    annotations = mask.get("coco_annotations")
    mask["coco_annotations"] = None if annotations is False else annotations
    if "default" not in mask:  # databases made before the default was a choice used the classical saliency
        from masks import method_fingerprint

        mask["default"] = json.loads(json.dumps(method_fingerprint(mask.pop("default_method", "saliency"))))
    mask.setdefault("resize_masks", False)
    data["mask"] = mask
    data.setdefault("labels_csv", None)
    return data


def recorded_settings(path: Path) -> dict[str, Any] | None:
    """The settings recorded at ``path`` in the current shape, or None for a new database."""
    if not path.exists():
        return None
    return _normalise(json.loads(path.read_text()))
