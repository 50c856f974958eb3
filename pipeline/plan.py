"""Planning from the manifests alone: which sources, and which of their types, are left to do.

Planning reads the sources table (one row per source) and, for --retry-failed, the failed rows of the
images table; it never lists or opens an image file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import pyarrow.compute as pc
import pyarrow.dataset as ds

from manifests import ShardStore


@dataclass(frozen=True)
class SourceTask:
    """One source and the distortion types to (re)make for it."""

    record: Any  # pipeline.sources.SourceRecord
    distortions: tuple[str, ...]


@dataclass(frozen=True)
class ShardTask:
    """A unit of work: a few sources, published together under one shard name."""

    shard: str
    sources: tuple[SourceTask, ...]
    retry: bool = False  # merge with the shard's committed rows instead of replacing them

    @property
    def image_count(self) -> int:
        return sum(25 * len(task.distortions) for task in self.sources)


@dataclass
class Plan:
    tasks: list[ShardTask] = field(default_factory=list)
    done_sources: int = 0
    failed_sources: int = 0  # committed as failed and not retried
    failed_images: int = 0  # committed as failed and not retried

    @property
    def image_count(self) -> int:
        return sum(task.image_count for task in self.tasks)

    @property
    def source_count(self) -> int:
        return sum(len(task.sources) for task in self.tasks)


def shard_name(source_ids: Sequence[str]) -> str:
    """A stable name from the shard's members: the same plan always yields the same parts."""
    digest = hashlib.sha1("\n".join(source_ids).encode("utf-8")).hexdigest()[:16]
    return f"shard-{digest}"


def plan_generation(
    records: Sequence[Any],
    store: ShardStore,
    distortions: Sequence[str],
    shard_size: int,
    retry_failed: bool = False,
) -> Plan:
    """Shards for the records not yet committed; with ``retry_failed``, shards redoing failed items."""
    if shard_size < 1:
        raise ValueError("shard size must be >= 1")
    plan = Plan()
    sources = store.read("sources", columns=["source_id", "shard", "status"])
    shard_of = dict(zip(sources.column("source_id").to_pylist(), sources.column("shard").to_pylist()))
    failed_source = set(
        pc.filter(sources.column("source_id"), pc.equal(sources.column("status"), "failed")).to_pylist()
    )
    failed_images = store.read("images", columns=["source_id", "distortion"],
                               filter=ds.field("status") == "failed")
    failed_types: dict[str, set[str]] = {}
    for source_id, name in zip(failed_images.column("source_id").to_pylist(),
                               failed_images.column("distortion").to_pylist()):
        failed_types.setdefault(source_id, set()).add(name)

    wanted = {r.source_id for r in records}
    plan.done_sources = sum(1 for s in shard_of if s in wanted and s not in failed_source)
    todo = [r for r in records if r.source_id not in shard_of]
    for start in range(0, len(todo), shard_size):
        chunk = todo[start : start + shard_size]
        plan.tasks.append(
            ShardTask(shard_name([r.source_id for r in chunk]),
                      tuple(SourceTask(r, tuple(distortions)) for r in chunk))
        )

    retry: dict[str, list[SourceTask]] = {}
    for record in records:
        source_id = record.source_id
        if source_id in failed_source:
            redo = tuple(distortions)
        elif source_id in failed_types:
            redo = tuple(d for d in distortions if d in failed_types[source_id])
        else:
            continue
        if retry_failed:
            retry.setdefault(shard_of[source_id], []).append(SourceTask(record, redo))
        elif source_id in failed_source:
            plan.failed_sources += 1
        else:
            plan.failed_images += 25 * len(redo)
    plan.tasks += [ShardTask(shard, tuple(tasks), retry=True) for shard, tasks in sorted(retry.items())]
    return plan
