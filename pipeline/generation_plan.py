"""Planning a generation run from the manifests alone: which sources, and which of their types, are left.

Three kinds of work: sources never made (new shards); committed sources lacking some of the database's types
(the database grew: merged into their shard, from the source copy in src_images/ and the saved mask); and, with
``--retry-failed``, failed sources and failed types. Planning reads the sources table (and the images table
for failed rows); it never lists or opens an image file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pyarrow.dataset as ds

from manifests import ShardStore
from pipeline.sources import SourceRecord


@dataclass(frozen=True)
class SourceTask:
    """One source and the distortion types to (re)make for it."""

    record: SourceRecord
    distortions: tuple[str, ...]
    reuse_mask: bool = False  # an ok source grows: keep the mask its other images were made with


@dataclass(frozen=True)
class ShardTask:
    """A unit of work: a few sources, published together under one shard name."""

    shard: str
    sources: tuple[SourceTask, ...]
    merge: bool = False  # merge with the shard's committed rows (a retry or a new type) instead of creating it

    @property
    def key(self) -> str:
        return self.shard

    @property
    def weight(self) -> int:
        return sum(25 * len(task.distortions) for task in self.sources)


@dataclass
class Plan:
    tasks: list[ShardTask] = field(default_factory=list)
    done_sources: int = 0  # listed and committed ok with every type
    new_sources: int = 0
    grown_sources: int = 0  # committed sources given new types
    retried_sources: int = 0
    failed_sources: int = 0  # committed as failed and not retried
    failed_images: int = 0  # committed as failed and not retried

    @property
    def image_count(self) -> int:
        return sum(task.weight for task in self.tasks)


def shard_name(source_ids: Sequence[str]) -> str:
    """A stable name from the shard's members: the same plan always yields the same parts."""
    digest = hashlib.sha1("\n".join(source_ids).encode("utf-8")).hexdigest()[:16]
    return f"shard-{digest}"


def _copy_record(row: dict[str, Any], src_images: Path) -> SourceRecord:
    """A committed source, read back from its copy under src_images/ (the listing may no longer hold it)."""
    return SourceRecord(source_id=row["source_id"], path=src_images / row["file_name"], file_name=row["file_name"],
                        label=row["label"], label_name=row["label_name"], coco_image_id=row["coco_image_id"])


def _done_types(store: ShardStore, rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Types made per source; sources tables written before the ``distortions`` column are completed from
    the images table."""
    done = {r["source_id"]: set(r["distortions"] or ()) for r in rows}
    legacy = [r["source_id"] for r in rows if r["distortions"] is None and r["status"] == "ok"]
    if legacy:
        images = store.read("images", columns=["source_id", "distortion"],
                            filter=ds.field("source_id").isin(legacy))
        for source_id, name in zip(images.column("source_id").to_pylist(), images.column("distortion").to_pylist()):
            done[source_id].add(name)
    return done


def plan_generation(records: Sequence[SourceRecord], store: ShardStore, distortions: Sequence[str],
                    shard_size: int, src_images: Path, retry_failed: bool = False) -> Plan:
    """Shards for new sources, merges for grown and (with ``retry_failed``) failed ones."""
    if shard_size < 1:
        raise ValueError("shard size must be >= 1")
    plan = Plan()
    columns = ["source_id", "shard", "status", "distortions", "file_name", "label", "label_name", "coco_image_id"]
    rows = store.read("sources", columns=columns).to_pylist()
    committed = {r["source_id"]: r for r in rows}
    done = _done_types(store, rows)
    failed_images = store.read("images", columns=["source_id", "distortion"], filter=ds.field("status") == "failed")
    failed_types: dict[str, set[str]] = {}
    for source_id, name in zip(failed_images.column("source_id").to_pylist(),
                               failed_images.column("distortion").to_pylist()):
        failed_types.setdefault(source_id, set()).add(name)
    listed = {r.source_id: r for r in records}

    todo = [r for r in records if r.source_id not in committed]
    plan.new_sources = len(todo)
    for start in range(0, len(todo), shard_size):
        chunk = todo[start : start + shard_size]
        plan.tasks.append(ShardTask(shard_name([r.source_id for r in chunk]),
                                    tuple(SourceTask(r, tuple(distortions)) for r in chunk)))

    merges: dict[str, list[SourceTask]] = {}
    for row in rows:
        source_id = row["source_id"]
        if row["status"] == "failed":
            if retry_failed and source_id in listed:
                merges.setdefault(row["shard"], []).append(SourceTask(listed[source_id], tuple(distortions)))
                plan.retried_sources += 1
            elif source_id in listed:
                plan.failed_sources += 1
            continue
        missing = [d for d in distortions if d not in done[source_id]]
        failed = [d for d in distortions if d in failed_types.get(source_id, ())]
        redo = missing + (failed if retry_failed else [])
        if not retry_failed:
            plan.failed_images += 25 * len(failed)
        if redo:
            record = _copy_record(row, src_images)
            merges.setdefault(row["shard"], []).append(SourceTask(record, tuple(redo), reuse_mask=True))
            plan.grown_sources += bool(missing)
        elif source_id in listed:
            plan.done_sources += 1
    plan.tasks += [ShardTask(shard, tuple(tasks), merge=True) for shard, tasks in sorted(merges.items())]
    return plan
