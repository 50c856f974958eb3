"""The labelled images of a database as one table: one row per degraded image whose label is defined.

Two layouts are read, and give the same table:

- ours: ``OUT/miqa_<subset>/manifests`` (the ``images`` table of generation, joined on ``image_id`` with the
  ``mmos`` label table of the task; ``labels.json`` beside it gives the composite weight);
- the release's (the official MIQD-2.5M download, or ``python -m pipeline.export`` of ours): cls
  ``miqa_cls/labels/<source>_mmos.csv`` (``dist_images`` under ``images/``, ``weighted_consistency``,
  ``weighted_accuracy``, optional ``mean_*``); det and ins ``miqa_{det,ins}/labels/<source>_accuracy.csv`` and
  ``_consistency.csv`` (row-aligned; ``filename`` under ``miqa_det/images/<source>/``, ``AP_weighted_avg``).
  Distortion, severity pair and region come from the file names.

Labels: ``consistency`` or ``accuracy`` aggregated over the oracles by their ``weighted`` or ``mean`` value,
or ``composite`` = w * consistency + (1 - w) * accuracy of that aggregation (w = 0.5 in the release; ours
records it). Rows whose label is undefined (NaN / empty), whose image failed, or (release) whose file is
missing are left out and counted in ``skipped``.

    table = read_database("out", "cls", label="composite")
    table.rows   # image_id, source_id, path (absolute), distortion, region, roi_level, bg_level, label, psnr
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from manifests.layout import SubsetLayout

SUBSETS = ("cls", "det", "ins")
LABELS = ("consistency", "accuracy", "composite")
AGGREGATIONS = ("weighted", "mean")
FORMATS = ("auto", "manifests", "release")
COLUMNS = ("image_id", "source_id", "path", "distortion", "region", "roi_level", "bg_level", "label", "psnr")
RELEASE_COMPOSITE_WEIGHT = 0.5  # the release's training code: 0.5 consistency + 0.5 accuracy


class DatabaseError(ValueError):
    """A database folder that cannot be read as asked (one line: what is wrong, what to do)."""


@dataclass(frozen=True)
class SampleTable:
    rows: pd.DataFrame  # COLUMNS, sorted by image_id
    format: str  # "manifests" | "release"
    label: str  # e.g. "weighted composite"
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows left out
    untrained: bool = False  # labels made with random-weight oracles (plumbing runs)

    @property
    def source_ids(self) -> list[str]:
        return sorted(self.rows["source_id"].unique())

    def of_sources(self, sources) -> pd.DataFrame:
        """The rows of these sources, in table order."""
        return self.rows[self.rows["source_id"].isin(set(sources))].reset_index(drop=True)


def image_subset(subset: str) -> str:
    """The folder the images of a task live in: ins labels describe miqa_det's images."""
    return "det" if subset == "ins" else subset


def label_folder(db: Path, subset: str) -> Path:
    """Where the release's label CSVs of ``subset`` are."""
    return Path(db) / f"miqa_{subset}" / "labels"


def detect_format(db: str | Path, subset: str) -> str:
    layout = SubsetLayout.of(Path(db), image_subset(subset))
    if (layout.manifests / "labels" / subset / "mmos").is_dir():
        return "manifests"
    folder = label_folder(Path(db), subset)
    if folder.is_dir() and any(folder.glob("*.csv")):
        return "release"
    raise DatabaseError(f"{db}: no {subset} labels found (neither {layout.manifests / 'labels' / subset} nor "
                        f"{folder}/*.csv); label the database with python -m pipeline.score, or point --db at the "
                        "folder that holds miqa_cls/ or miqa_det/")


def read_database(db: str | Path, subset: str, label: str = "composite", aggregation: str = "weighted",
                  format: str = "auto") -> SampleTable:
    """Every labelled image of ``subset`` in ``db`` (ours or the release's layout)."""
    if subset not in SUBSETS:
        raise DatabaseError(f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    if label not in LABELS:
        raise DatabaseError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    if aggregation not in AGGREGATIONS:
        raise DatabaseError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    if format not in FORMATS:
        raise DatabaseError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    db = Path(db)
    if not db.is_dir():
        raise DatabaseError(f"{db}: no such folder")
    chosen = detect_format(db, subset) if format == "auto" else format
    reader = read_manifests if chosen == "manifests" else read_release
    return reader(db, subset, label, aggregation)


def _finish(frame: pd.DataFrame, fmt: str, label: str, aggregation: str, skipped: Counter, untrained: bool
            ) -> SampleTable:
    undefined = ~np.isfinite(frame["label"].to_numpy(np.float64))
    if undefined.any():
        skipped["label undefined"] += int(undefined.sum())
    frame = frame[~undefined]
    frame = frame.astype({"roi_level": np.int8, "bg_level": np.int8, "label": np.float64, "psnr": np.float64})
    frame = frame.sort_values("image_id", kind="stable").reset_index(drop=True)[list(COLUMNS)]
    if frame.empty:
        raise DatabaseError(f"no image has a defined {aggregation} {label} label"
                            + (f" ({dict(skipped)} left out)" if skipped else ""))
    return SampleTable(frame, fmt, f"{aggregation} {label}", dict(skipped), untrained)


# --- ours -----------------------------------------------------------------------------------------------


def composite_weight(layout: SubsetLayout, subset: str) -> float:
    """The weight of consistency in the composite label, as recorded with the labels (0.5 unless changed)."""
    recorded = layout.label_store(subset).root / "labels.json"
    if recorded.exists():
        options = json.loads(recorded.read_text()).get("options", {})
        return float(options.get("composite_weight", RELEASE_COMPOSITE_WEIGHT))
    return RELEASE_COMPOSITE_WEIGHT


def read_manifests(db: Path, subset: str, label: str, aggregation: str) -> SampleTable:
    layout = SubsetLayout.of(db, image_subset(subset))
    images = layout.generation_store().read(
        "images", columns=["image_id", "source_id", "distortion", "region", "roi_level", "bg_level", "path",
                           "psnr", "status"]).to_pandas()
    mmos = layout.label_store(subset).read(
        "mmos", columns=["image_id", "mean_consistency", "weighted_consistency", "mean_accuracy",
                         "weighted_accuracy", "composite", "untrained"]).to_pandas()
    if mmos.empty:
        raise DatabaseError(f"{layout.manifests / 'labels' / subset}: no committed labels; run python -m "
                            "pipeline.score first")
    skipped: Counter[str] = Counter()
    failed = images["status"] != "ok"
    skipped["image failed"] += int(failed.sum())
    frame = images[~failed].merge(mmos, on="image_id", how="inner")
    skipped["image not labelled"] += int((~failed).sum()) - len(frame)
    if label == "composite" and aggregation == "weighted":
        values = frame["composite"]  # the stage's own definition, with its recorded weight
    elif label == "composite":
        w = composite_weight(layout, subset)
        values = w * frame["mean_consistency"] + (1 - w) * frame["mean_accuracy"]
    else:
        values = frame[f"{aggregation}_{label}"]
    frame = frame.assign(label=values.astype(np.float64),
                         path=[str(layout.root / p) for p in frame["path"]])
    return _finish(frame, "manifests", label, aggregation, +skipped, bool(frame["untrained"].any()))


# --- the release's CSVs ---------------------------------------------------------------------------------


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except OSError as error:
        raise DatabaseError(f"cannot read {path}: {error.strerror or error}") from None


def _column(rows: list[dict[str, str]], name: str, path: Path) -> list[str]:
    if rows and name not in rows[0]:
        raise DatabaseError(f"{path}: no column {name!r} (found {', '.join(rows[0])})")
    return [row[name] for row in rows]


def _cls_release_rows(db: Path, label: str, aggregation: str) -> tuple[list[tuple[str, str, float]], bool]:
    """(source, path under images/, label) per CSV row of miqa_cls/labels/*_mmos.csv."""
    out, untrained = [], False
    for path in sorted(label_folder(db, "cls").glob("*_mmos.csv")):
        source = path.name[: -len("_mmos.csv")]
        rows = _read_csv(path)
        names = _column(rows, "dist_images", path)
        if label == "composite":
            cons = _column(rows, f"{aggregation}_consistency", path)
            accs = _column(rows, f"{aggregation}_accuracy", path)
            values = [RELEASE_COMPOSITE_WEIGHT * _number(c) + (1 - RELEASE_COMPOSITE_WEIGHT) * _number(a)
                      for c, a in zip(cons, accs)]
        else:
            values = [_number(v) for v in _column(rows, f"{aggregation}_{label}", path)]
        untrained |= any(row.get("untrained") == "True" for row in rows)
        out += [(source, name, value) for name, value in zip(names, values)]
    return out, untrained


def _det_release_rows(db: Path, subset: str, label: str, aggregation: str
                      ) -> tuple[list[tuple[str, str, float]], bool]:
    """(source, path under miqa_det/images/, label) per row of the row-aligned accuracy/consistency CSVs."""
    if aggregation != "weighted":
        raise DatabaseError("the release's det/ins label files hold only the weighted mean (AP_weighted_avg); "
                            "use --aggregation weighted")
    out, untrained = [], False
    folder = label_folder(db, subset)
    for path in sorted(folder.glob("*_accuracy.csv")):
        source = path.name[: -len("_accuracy.csv")]
        tables = {}
        for kind in ("accuracy", "consistency"):
            file = folder / f"{source}_{kind}.csv"
            if label in (kind, "composite"):
                rows = _read_csv(file) if file.exists() else None
                if rows is None:
                    raise DatabaseError(f"{file} is missing (it goes with {path.name})")
                tables[kind] = (_column(rows, "filename", file), [_number(v) for v in
                                                                   _column(rows, "AP_weighted_avg", file)])
                untrained |= any(row.get("untrained") == "True" for row in rows)
        if label == "composite":
            (names, accs), (other, cons) = tables["accuracy"], tables["consistency"]
            if names != other:
                raise DatabaseError(f"{source}: the accuracy and consistency files do not list the same images "
                                    "in the same order")
            values = [RELEASE_COMPOSITE_WEIGHT * c + (1 - RELEASE_COMPOSITE_WEIGHT) * a for c, a in zip(cons, accs)]
        else:
            names, values = tables[label]
        out += [(source, f"{source}/{name}", value) for name, value in zip(names, values)]
    return out, untrained


def read_release(db: Path, subset: str, label: str, aggregation: str) -> SampleTable:
    from degradations import names as distortion_names, parse_output_name

    if subset == "cls":
        entries, untrained = _cls_release_rows(db, label, aggregation)
    else:
        entries, untrained = _det_release_rows(db, subset, label, aggregation)
    if not entries:
        raise DatabaseError(f"{label_folder(db, subset)}: no label files of the release's format")
    images = db / f"miqa_{image_subset(subset)}" / "images"
    known = distortion_names()
    skipped: Counter[str] = Counter()
    records = []
    for source, relative, value in entries:
        path = images / relative
        try:
            parsed_source, distortion, config = parse_output_name(path.name, known)
        except ValueError as error:
            raise DatabaseError(f"{path}: {error}") from None
        if parsed_source != source:
            raise DatabaseError(f"{path.name} is listed in the labels of {source}, but names source {parsed_source}")
        if not path.is_file():
            skipped["file missing"] += 1
            continue
        records.append((path.stem, source, str(path), distortion, config.region, config.roi_level,
                        config.bg_level, value, math.nan))
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    return _finish(frame, "release", label, aggregation, skipped, untrained)
