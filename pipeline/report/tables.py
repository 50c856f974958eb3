"""Reading one subset's manifests for the report: only the columns it needs, every per-image value aligned to
the rows of the subset's images table (so later steps are array arithmetic, never joins on strings).

Every table is stored as one Parquet part per shard, and a shard's parts name the same images: a part is mapped
to image rows by a hash lookup against its own shard's few thousand ids (cache-sized; a lookup against a
million ids costs ten times more), over the distinct ids of the part (read dictionary-encoded), whatever the
number of oracles repeating them. Parts are read by a few threads, a bounded number ahead. Per-oracle labels
(one row per image and oracle: tens of millions on a full database) are never held whole; they are summed part
by part into cells (oracle, distortion, ROI level, background level).
"""

from __future__ import annotations

import json
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests.layout import SubsetLayout
from manifests.store import ShardStore

LABEL_COLUMNS = {"consistency": "weighted_consistency", "accuracy": "weighted_accuracy", "composite": "composite"}
LABEL_TYPES = tuple(LABEL_COLUMNS)
TASKS_OF_SUBSET = {"cls": ("cls",), "det": ("det", "ins")}
LEVELS = 5
CELLS = LEVELS * LEVELS  # (ROI level, background level) pairs, cell = (roi - 1) * 5 + (bg - 1)
READ_THREADS = 4
READ_AHEAD = 16  # parts in flight


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def parts(store: ShardStore, table: str, columns: list[str], dictionary: Iterable[str] = (),
          ) -> Iterator[tuple[str, pa.Table]]:
    """(shard, part) for each committed shard of ``table``, in shard order; ``dictionary`` columns arrive
    dictionary-encoded. A column a part lacks (written before the column existed) arrives as nulls."""
    shards = sorted(store.committed_shards())
    dictionary = list(dictionary)
    declared = store.schemas[table]

    def read(shard: str) -> tuple[str, pa.Table]:
        handle = pq.ParquetFile(store.part_path(table, shard), read_dictionary=dictionary)
        present = [c for c in columns if c in handle.schema_arrow.names]
        part = handle.read(columns=present, use_threads=False)
        for column in columns:
            if column not in present:
                part = part.append_column(declared.field(column), pa.nulls(part.num_rows, declared.field(column).type))
        return shard, part.select(columns)

    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        pending: deque = deque()
        for shard in shards:
            pending.append(pool.submit(read, shard))
            if len(pending) >= READ_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def equals(column: pa.ChunkedArray, value: str) -> np.ndarray:
    """Where a (dictionary-encoded) string column equals ``value``, compared once per distinct value."""
    out = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            hits = np.asarray([v == value for v in chunk.dictionary.to_pylist()], bool)
            out.append(hits[chunk.indices.to_numpy(zero_copy_only=False)] if len(hits) else np.zeros(len(chunk), bool))
        else:
            out.append(pc.fill_null(pc.equal(chunk, value), False).to_numpy(zero_copy_only=False))
    return np.concatenate(out) if out else np.zeros(0, bool)


def reasons(errors: Iterable[str | None]) -> Counter:
    """How many times each one-line reason occurs (missing reasons counted as such)."""
    return Counter(e if e else "no reason recorded" for e in errors)


def _strings(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A plain string array (casting only what is not one already: a cast allocates)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column if column.type == pa.string() else column.cast(pa.string())


class ImageRows:
    """Maps (shard, image id) to rows of a subset's images table."""

    def __init__(self) -> None:
        self._shards: dict[str, tuple[int, pa.Array]] = {}

    def add(self, shard: str, offset: int, ids: pa.Array) -> None:
        self._shards[shard] = (offset, ids)

    def positions(self, shard: str, ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Row of each id of one shard's part, -1 where the images table lacks it."""
        chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
        if shard not in self._shards:
            return np.full(sum(len(c) for c in chunks), -1, np.int64)
        offset, known = self._shards[shard]
        out = []
        for chunk in chunks:
            if not pa.types.is_dictionary(chunk.type):
                chunk = pc.dictionary_encode(chunk)
            found = pc.index_in(_strings(chunk.dictionary), value_set=known)
            rows = np.where(found.is_null().to_numpy(zero_copy_only=False), -1,
                            offset + pc.fill_null(found, 0).to_numpy().astype(np.int64))
            out.append(rows[chunk.indices.to_numpy(zero_copy_only=False)] if len(rows) else
                       np.full(len(chunk), -1, np.int64))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def row(self, shard: str, image_id: str) -> int:
        return int(self.positions(shard, pa.array([image_id]))[0])


class Vocabulary:
    """Stable integer codes for names met in dictionary-encoded columns, in order of first appearance."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        for name in names:
            self.code(name)

    def code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self.names)
            self.names.append(name)
        return self._codes[name]

    def codes(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The code of every value (one dictionary lookup per distinct value of each chunk)."""
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        out = []
        for chunk in chunks:
            if not pa.types.is_dictionary(chunk.type):
                chunk = pc.dictionary_encode(chunk)
            mapping = np.asarray([self.code(name) for name in chunk.dictionary.to_pylist()], np.int64)
            out.append(mapping[chunk.indices.to_numpy(zero_copy_only=False)] if len(mapping) else
                       np.zeros(len(chunk), np.int64))
        return np.concatenate(out) if out else np.zeros(0, np.int64)


@dataclass
class Images:
    """A subset's images table as arrays, one entry per row (failed rows included, ``ok`` False: they have no
    labels and no metric values), and the failures' reasons."""

    ids: ImageRows
    ok: np.ndarray
    source: np.ndarray  # code into ``source_ids``
    source_ids: list[str]
    distortion: np.ndarray  # code into ``distortions``
    distortions: list[str]
    roi_level: np.ndarray
    bg_level: np.ndarray
    psnr: np.ndarray  # NaN on failed rows
    bytes: int
    failed: Counter  # reason -> images

    @property
    def rows(self) -> int:
        return len(self.ok)

    @property
    def count(self) -> int:
        """Images made (ok rows)."""
        return int(self.ok.sum())

    @property
    def cell(self) -> np.ndarray:
        return (self.roi_level.astype(np.int64) - 1) * LEVELS + (self.bg_level.astype(np.int64) - 1)


IMAGE_COLUMNS = ["image_id", "source_id", "distortion", "roi_level", "bg_level", "psnr", "bytes", "status", "error"]


def read_images(layout: SubsetLayout, distortion_order: list[str]) -> Images:
    ids = ImageRows()
    distortions, sources = Vocabulary(distortion_order), Vocabulary()
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("ok", "source", "distortion", "roi", "bg", "psnr")}
    failed: Counter = Counter()
    total_bytes = offset = 0
    for shard, part in parts(layout.generation_store(), "images", IMAGE_COLUMNS,
                             dictionary=["source_id", "distortion", "status"]):
        ids.add(shard, offset, _strings(part.column("image_id")))
        ok = equals(part.column("status"), "ok")
        columns["ok"].append(ok)
        columns["source"].append(sources.codes(part.column("source_id")))
        columns["distortion"].append(distortions.codes(part.column("distortion")))
        columns["roi"].append(part.column("roi_level").to_numpy())
        columns["bg"].append(part.column("bg_level").to_numpy())
        columns["psnr"].append(part.column("psnr").to_numpy().astype(np.float64))
        total_bytes += int(pc.sum(part.column("bytes")).as_py() or 0)
        if not ok.all():
            failed.update(reasons(part.column("error").filter(pa.array(~ok)).to_pylist()))
        offset += part.num_rows

    def joined(key: str, kind: Any) -> np.ndarray:
        return np.concatenate(columns[key]).astype(kind) if columns[key] else np.zeros(0, kind)

    return Images(ids=ids, ok=joined("ok", bool), source=joined("source", np.int64), source_ids=sources.names,
                  distortion=joined("distortion", np.int64), distortions=distortions.names,
                  roi_level=joined("roi", np.int8), bg_level=joined("bg", np.int8), psnr=joined("psnr", np.float64),
                  bytes=total_bytes, failed=failed)


@dataclass
class OracleCells:
    """Per-oracle labels summed per cell (oracle, distortion, ROI level, background level)."""

    oracles: list[str]
    distortions: list[str]
    sums: dict[str, np.ndarray]  # label type -> (oracles, distortions, 25)
    counts: dict[str, np.ndarray]
    images: np.ndarray  # per oracle: images with a labels row (defined or not)

    def means(self, label: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums[label] / self.counts[label]


@dataclass
class TaskLabels:
    """One task's labels: MMOS per image (NaN where an image has none or it is undefined), the per-oracle cells,
    the undefined labels with their reasons, and the task's label record (labels.json)."""

    task: str
    record: dict[str, Any]
    values: dict[str, np.ndarray]  # label type -> aligned to image rows
    labelled: np.ndarray  # bool, image has an MMOS row
    undefined: dict[str, Counter]  # label type -> note -> images
    untrained: bool
    cells: OracleCells | None


def read_mmos(layout: SubsetLayout, task: str, images: Images) -> TaskLabels | None:
    store = layout.label_store(task)
    record = read_json(store.root / "labels.json")
    if not record or not store.committed_shards():
        return None
    values = {label: np.full(images.rows, np.nan) for label in LABEL_COLUMNS}
    undefined: dict[str, Counter] = {label: Counter() for label in LABEL_COLUMNS}
    labelled = np.zeros(images.rows, bool)
    untrained = False
    for shard, part in parts(store, "mmos", ["image_id", *LABEL_COLUMNS.values(), "untrained", "note"],
                             dictionary=["image_id", "note"]):
        rows = images.ids.positions(shard, part.column("image_id"))
        known = rows >= 0
        labelled[rows[known]] = True
        untrained |= bool(pc.any(part.column("untrained")).as_py())
        for label, column in LABEL_COLUMNS.items():
            data = part.column(column).to_numpy().astype(np.float64)
            values[label][rows[known]] = data[known]
            missing = ~np.isfinite(data)
            if missing.any():
                notes = part.column("note").cast(pa.string()).filter(pa.array(missing))
                undefined[label].update(reasons(notes.to_pylist()))
    return TaskLabels(task, record, values, labelled, undefined, untrained, read_oracle_cells(layout, task, images))


def read_oracle_cells(layout: SubsetLayout, task: str, images: Images) -> OracleCells | None:
    store = layout.label_store(task)
    oracles = Vocabulary()
    per_oracle = len(images.distortions) * CELLS
    sums = {label: np.zeros(0) for label in ("consistency", "accuracy")}
    counts = {label: np.zeros(0) for label in ("consistency", "accuracy")}
    rows_per_oracle = np.zeros(0)
    cell = images.cell
    seen = False
    for shard, part in parts(store, "oracle_labels", ["image_id", "oracle", "consistency", "accuracy"],
                             dictionary=["image_id", "oracle"]):
        seen = True
        rows = images.ids.positions(shard, part.column("image_id"))
        oracle = oracles.codes(part.column("oracle"))
        known = rows >= 0
        rows, oracle = rows[known], oracle[known]
        key = oracle * per_oracle + images.distortion[rows] * CELLS + cell[rows]
        size = len(oracles.names) * per_oracle
        rows_per_oracle = _grow(rows_per_oracle, len(oracles.names)) + np.bincount(oracle,
                                                                                    minlength=len(oracles.names))
        for label in sums:
            value = part.column(label).to_numpy().astype(np.float64)[known]
            finite = np.isfinite(value)
            sums[label] = _grow(sums[label], size) + np.bincount(key[finite], value[finite], minlength=size)
            counts[label] = _grow(counts[label], size) + np.bincount(key[finite], minlength=size)
    if not seen:
        return None
    shape = (len(oracles.names), len(images.distortions), CELLS)
    return OracleCells(oracles.names, list(images.distortions), {k: v.reshape(shape) for k, v in sums.items()},
                       {k: v.reshape(shape) for k, v in counts.items()}, rows_per_oracle.astype(np.int64))


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    return array if len(array) == size else np.concatenate([array, np.zeros(size - len(array))])


@dataclass
class MetricValues:
    """One HVS metric of the metrics stage, aligned to image rows (NaN where missing or failed)."""

    name: str
    values: np.ndarray
    computed: int
    failed: Counter
    upsampled: int


def metric_names(layout: SubsetLayout) -> list[str]:
    folder = layout.manifests / "metrics"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def read_metric(layout: SubsetLayout, name: str, images: Images) -> MetricValues | None:
    store = layout.metric_store(name)
    if not store.committed_shards():
        return None
    values = np.full(images.rows, np.nan)
    failed: Counter = Counter()
    upsampled = computed = 0
    for shard, part in parts(store, name, ["image_id", "value", "upsampled", "status", "error"],
                             dictionary=["image_id", "status"]):
        ok = equals(part.column("status"), "ok")
        if not ok.all():
            failed.update(reasons(part.column("error").filter(pa.array(~ok)).to_pylist()))
        rows = images.ids.positions(shard, part.column("image_id"))
        keep = ok & (rows >= 0)
        values[rows[keep]] = part.column("value").to_numpy().astype(np.float64)[keep]
        upsampled += int(pc.sum(pc.fill_null(part.column("upsampled"), False).filter(pa.array(keep))).as_py() or 0)
        computed += int(keep.sum())
    return MetricValues(name, values, computed, failed, upsampled)


@dataclass
class Oracle:
    """An oracle that has scored the subset: its prediction folder and its record (manifests/oracles/<name>.json).
    Its rows are not read (a full database holds one part per shard and oracle: ~100,000 files); how many images
    it labelled comes from the per-oracle labels, its failures from the score stage's stats."""

    name: str
    task: str | None
    record: dict[str, Any]


def read_oracles(layout: SubsetLayout) -> list[Oracle]:
    folder = layout.manifests / "predictions"
    found = []
    for path in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        if any(p.suffix == ".parquet" and not p.name.startswith(".") for p in path.iterdir()):
            record = read_json(layout.manifests / "oracles" / f"{path.name}.json")
            found.append(Oracle(path.name, record.get("task"), record))
    return found


@dataclass
class Subset:
    """Everything the report reads from one subset."""

    name: str
    layout: SubsetLayout
    settings: dict[str, Any]
    run: dict[str, Any]
    plan: dict[str, Any]
    sources: pd.DataFrame
    images: Images
    oracles: list[Oracle]
    labels: dict[str, TaskLabels] = field(default_factory=dict)
    metrics: dict[str, MetricValues] = field(default_factory=dict)

    @property
    def ok_sources(self) -> pd.DataFrame:
        return self.sources[self.sources.status == "ok"]


SOURCE_COLUMNS = ["source_id", "shard", "file_name", "width", "height", "label", "label_name", "coco_image_id",
                  "mask_method", "mask_coverage", "mask_flag", "mask_note", "images_ok", "status", "error"]


def read_subset(out: Path, subset: str) -> Subset | None:
    """The subset's manifests, or None when it was never generated."""
    layout = SubsetLayout.of(out, subset)
    if not layout.settings_file.is_file():
        return None
    settings = read_json(layout.settings_file)
    order = list(settings.get("distortion_order") or settings.get("distortions") or [])
    found = [part for _, part in parts(layout.generation_store(), "sources", SOURCE_COLUMNS)]
    sources = (pa.concat_tables(found, promote_options="permissive") if found else
               layout.generation_store().read("sources", columns=SOURCE_COLUMNS)).to_pandas()
    images = read_images(layout, order)
    data = Subset(subset, layout, settings, read_json(layout.run_file), read_json(layout.plan_file), sources, images,
                  read_oracles(layout))
    for task in TASKS_OF_SUBSET[subset]:
        labels = read_mmos(layout, task, images)
        if labels is not None:
            data.labels[task] = labels
    for name in metric_names(layout):
        metric = read_metric(layout, name, images)
        if metric is not None:
            data.metrics[name] = metric
    return data
