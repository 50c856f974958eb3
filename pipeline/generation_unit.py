"""The generation stage's unit: make one shard (decode its sources, build masks, run the engine) and publish it.

Runs in a worker; receives paths and settings, returns a small summary, never pixel arrays. Every file is
written under the staging folder and renamed into place; the shard's manifest parts are published only after
all its files are in place and flushed, so a manifest row always names a finished file. A merge (a retry, or
new types for committed sources) rewrites the shard's parts from the committed rows plus the new ones.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from manifests.atomic import copy_atomic, write_bytes_atomic
from manifests.layout import SubsetLayout
from manifests.schemas import TABLE_SCHEMAS, candidate_row, failed_image_rows, generation_digest, image_row
from pipeline.driver import SubsetStage, UnitStats
from pipeline.errors import one_line
from pipeline.generation_plan import ShardTask, SourceTask
from pipeline.settings import DatabaseSettings


@dataclass(frozen=True)
class GenerationStage(SubsetStage):
    settings: DatabaseSettings
    root: str  # OUT/miqa_<subset>
    mask_dir: str | None = None
    annotations: str | None = None  # COCO instances JSON (det)
    mask_default: str = "lite-contrast"  # masks.DEFAULT_METHODS: what a source with nothing better gets
    mask_settings: Any = None  # masks.MaskSettings (models: device, weights dir, downloads)
    name: str = "generate"
    item_name: str = "img"

    def run_unit(self, unit: ShardTask) -> UnitStats:
        return make_shard(unit, self)


def _saved_mask(layout: SubsetLayout, source_id: str, shape: tuple[int, int]) -> np.ndarray:
    """The mask a committed source's images were made with (new types must use the same one)."""
    import cv2

    mask = cv2.imread(str(layout.mask_path(source_id)), cv2.IMREAD_GRAYSCALE)
    if mask is None or mask.shape != shape:
        raise ValueError(f"the saved mask {layout.mask_path(source_id).name} is missing or unreadable; the "
                         "source's new types need the mask its other images were made with")
    return mask


def _decode_and_mask(tasks: Sequence[SourceTask], stage: GenerationStage) -> list[Any]:
    """Per source: (image, binary mask, method, fallback, note), or the exception that failed it. The sources
    needing the default mask method share one batched call of it."""
    from pipeline.masks import build_masks
    from pipeline.sources import read_rgb

    out: list[Any] = [None] * len(tasks)
    fresh = []
    for index, task in enumerate(tasks):
        try:
            if task.record.error:
                raise ValueError(task.record.error)
            image = read_rgb(task.record.path)
            if task.reuse_mask:
                out[index] = (image, _saved_mask(stage.layout, task.record.source_id, image.shape[:2]), None, False,
                              None)
            else:
                fresh.append((index, image))
        except Exception as error:  # a bad source fails alone, with its reason
            out[index] = error
    if fresh:
        results = build_masks([(tasks[i].record, image) for i, image in fresh], mask_dir=stage.mask_dir,
                              coco=stage.annotations, default=stage.mask_default,
                              settings=stage.mask_settings or _default_mask_settings(),
                              resize=stage.settings.mask.resize_masks)
        for (index, image), result in zip(fresh, results):
            out[index] = result if isinstance(result, Exception) else (
                image, result.mask, result.method, result.fallback, result.note or None)
    return out


def _default_mask_settings() -> Any:
    from masks import MaskSettings

    return MaskSettings()


def make_source(task: SourceTask, decoded: Any, stage: GenerationStage, staging: Path,
                ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """Rows of the sources, images and candidates tables for one source, its files put in place, and the
    mask facts worth counting (method, flag, fallback)."""
    from degradations import RegionMask, encode_png, run_distortion

    record, layout, settings = task.record, stage.layout, stage.settings
    source_row: dict[str, Any] = {
        "source_id": record.source_id, "file_name": record.file_name, "label": record.label,
        "label_name": record.label_name, "coco_image_id": record.coco_image_id,
    }
    images: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    if isinstance(decoded, Exception):
        return {**source_row, "status": "failed", "error": one_line(decoded)}, images, candidates, {}
    image, binary, method, fallback, note = decoded
    height, width = image.shape[:2]
    region_mask = RegionMask.from_binary(binary)
    source_row.update(width=width, height=height, mask_method=method, mask_coverage=region_mask.coverage,
                      mask_flag=region_mask.flag, mask_fallback=fallback, mask_note=note)
    folder = staging / record.source_id
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[str] = []
    for name in task.distortions:
        try:
            run = run_distortion(image, region_mask, source_id=record.source_id, distortion=name,
                                 seed=settings.seed, options=settings.distortions.get(name))
            rows, files = [], []
            for out in run.outputs:
                (folder / out.file_name).write_bytes(out.png)
                files.append(out.file_name)
                rows.append(image_row(out))
            candidates += [candidate_row(record.source_id, c) for c in run.candidates]
            images += rows
            staged += files
        except Exception as error:  # one type failing leaves the others standing
            images += failed_image_rows(record.source_id, name, one_line(error))
    target = layout.images / record.source_id
    target.mkdir(parents=True, exist_ok=True)
    for file_name in staged:
        os.replace(folder / file_name, target / file_name)
    if not task.reuse_mask:
        write_bytes_atomic(layout.mask_path(record.source_id), encode_png(binary))
        copy_atomic(Path(record.path), layout.src_images / record.file_name)
    source_row["status"] = "ok"
    facts = {} if task.reuse_mask else {"method": method, "flag": region_mask.flag,
                                        **({"fallback": method} if fallback else {})}
    return source_row, images, candidates, facts


def _merge(task: ShardTask, stage: GenerationStage, sources: list[dict], images: list[dict],
           candidates: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """The shard's committed rows with the redone (source, type) pairs replaced by the new rows; a grown
    source keeps its row, with its types and image count brought up to date."""
    store = stage.layout.generation_store()
    old = {name: store.read(name, shards=[task.shard]).to_pylist() for name in TABLE_SCHEMAS}
    redone_types = {(t.record.source_id, d) for t in task.sources for d in t.distortions}
    new_rows = {r["source_id"]: r for r in sources}
    merged_sources = []
    for row in old["sources"]:
        new = new_rows.pop(row["source_id"], None)
        if new is None:
            merged_sources.append(row)
        elif new["status"] == "ok" and row["status"] == "ok":  # grown: the mask facts stay the old ones
            merged_sources.append({**row, "status": "ok", "error": None})
        else:
            merged_sources.append(new)
    merged_sources += new_rows.values()
    images = [r for r in old["images"] if (r["source_id"], r["distortion"]) not in redone_types] + images
    candidates = [r for r in old["candidates"] if (r["source_id"], r["distortion"]) not in redone_types] + candidates
    return merged_sources, images, candidates


def _canonical_order(sources: list[dict], images: list[dict], candidates: list[dict], types: tuple[str, ...],
                     ) -> tuple[list[dict], list[dict]]:
    """Rows by source (in the shard's order), then type (in the database's order): a grown shard's parts equal
    those of a shard made with all its types at once."""
    source_rank = {row["source_id"]: k for k, row in enumerate(sources)}
    type_rank = {name: k for k, name in enumerate(types)}

    def key(row: dict) -> tuple[int, int]:
        return source_rank.get(row["source_id"], len(source_rank)), type_rank.get(row["distortion"], len(type_rank))

    return sorted(images, key=key), sorted(candidates, key=key)


def make_shard(task: ShardTask, stage: GenerationStage) -> UnitStats:
    """Make every source of ``task`` and publish the shard; safe to run again after any crash."""
    import pyarrow as pa

    layout = stage.layout
    for folder in (layout.images, layout.src_images, layout.masks):
        folder.mkdir(parents=True, exist_ok=True)
    staging = layout.staging / task.shard
    shutil.rmtree(staging, ignore_errors=True)
    stats = UnitStats(stage.name, task.key)
    counts: dict[str, int] = {}
    sources, images, candidates = [], [], []
    if any(not t.reuse_mask for t in task.sources) and stage.mask_default != "saliency":
        import torch

        torch.set_num_threads(1)  # one worker process per core: the mask model must not oversubscribe it
    decoded = _decode_and_mask(task.sources, stage)
    for source_task, one in zip(task.sources, decoded):
        source_row, image_rows, candidate_rows, facts = make_source(source_task, one, stage, staging)
        sources.append({**source_row, "shard": task.shard})
        images += image_rows
        candidates += candidate_rows
        ok = source_row["status"] == "ok"
        key = "sources_ok" if ok else "sources_failed"
        counts[key] = counts.get(key, 0) + 1
        if not ok:
            stats.errors.append(f"{source_row['source_id']}: {source_row['error']}")
        for fact, value in facts.items():
            counts[f"mask_{fact}:{value}"] = counts.get(f"mask_{fact}:{value}", 0) + 1
        failed = [row for row in image_rows if row["status"] == "failed"]
        stats.items_ok += len(image_rows) - len(failed)
        stats.items_failed += len(failed)
        stats.errors += sorted({f"{row['source_id']} {row['distortion']}: {row['error']}" for row in failed})
    shutil.rmtree(staging, ignore_errors=True)
    if task.merge:
        sources, images, candidates = _merge(task, stage, sources, images, candidates)
    images, candidates = _canonical_order(sources, images, candidates, stage.settings.types)
    made: dict[str, set[str]] = {}
    written: dict[str, int] = {}
    for row in images:
        made.setdefault(row["source_id"], set()).add(row["distortion"])
        written[row["source_id"]] = written.get(row["source_id"], 0) + (row["status"] == "ok")
    order = list(stage.settings.types)
    for row in sources:
        row["images_ok"] = written.get(row["source_id"], 0)
        row["distortions"] = [d for d in order if d in made.get(row["source_id"], ())] if row["status"] == "ok" else []
    tables = {name: pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS[name])
              for name, rows in (("sources", sources), ("images", images), ("candidates", candidates))}
    os.sync()  # the files a manifest row names must be on disk before the row
    layout.generation_store().publish(task.shard, tables,
                                      metadata={"sources": {"content": generation_digest(sources, images)}})
    stats.counts = counts
    return stats
