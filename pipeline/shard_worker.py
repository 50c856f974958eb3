"""Make one shard: decode its sources, build masks, run the engine, publish files then manifests.

Runs inside a Dask worker; receives paths and settings, returns a small summary, never pixel arrays.
Every file is written under the staging folder and renamed into place; the shard's manifest parts are
published only after all its files are in place and flushed, so a manifest row always names a finished file.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import pyarrow as pa

from degradations import RegionMask, encode_png, region_configs, run_distortion
from degradations.regions import output_name
from manifests.atomic import copy_atomic, write_bytes_atomic
from manifests.schemas import TABLE_SCHEMAS
from pipeline.cluster import tune_allocator
from manifests.layout import SubsetLayout
from pipeline.masks import build_mask
from pipeline.plan import ShardTask, SourceTask
from pipeline.settings import GenerationSettings
from pipeline.sources import read_rgb


@dataclass
class ShardSummary:
    shard: str
    sources_ok: int = 0
    sources_failed: int = 0
    images_ok: int = 0
    images_failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "no message"
    return f"{type(error).__name__}: {text}"[:500]


def _failed_images(source_id: str, distortion: str, error: str) -> list[dict[str, Any]]:
    return [
        {"image_id": output_name(source_id, distortion, c)[:-4], "source_id": source_id,
         "distortion": distortion, "region": c.region, "roi_level": c.roi_level, "bg_level": c.bg_level,
         "status": "failed", "error": error}
        for c in region_configs()
    ]


def make_source(task: SourceTask, settings: GenerationSettings, layout: SubsetLayout, staging: Path,
                ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the sources, images and candidates tables for one source; its files put in place."""
    record = task.record
    source_row: dict[str, Any] = {
        "source_id": record.source_id, "file_name": record.file_name, "label": record.label,
        "label_name": record.label_name, "coco_image_id": record.coco_image_id,
    }
    images: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    try:
        if record.error:
            raise ValueError(record.error)
        image = read_rgb(record.path)
        mask = build_mask(record, image, mask_dir=settings.mask_dir, coco=settings.annotations,
                          boxes=record.boxes)
    except Exception as error:  # a bad source fails alone, with its reason
        return {**source_row, "status": "failed", "error": one_line(error)}, images, candidates
    height, width = image.shape[:2]
    region_mask = RegionMask.from_binary(mask.mask)
    source_row.update(width=width, height=height, mask_method=mask.method, mask_coverage=region_mask.coverage,
                      mask_flag=region_mask.flag, mask_note=mask.note or None)
    folder = staging / record.source_id
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[str] = []
    for name in task.distortions:
        try:
            run = run_distortion(image, region_mask, source_id=record.source_id, distortion=name,
                                 seed=settings.seed, options=settings.options.get(name))
            rows, files = [], []
            for out in run.outputs:
                (folder / out.file_name).write_bytes(out.png)
                files.append(out.file_name)
                rows.append({
                    "image_id": out.file_name[:-4], "source_id": record.source_id, "distortion": name,
                    "region": out.config.region, "roi_level": out.config.roi_level,
                    "bg_level": out.config.bg_level, "path": f"images/{record.source_id}/{out.file_name}",
                    "roi_candidate": out.roi.index, "bg_candidate": out.bg.index,
                    "roi_params": list(out.roi.params), "bg_params": list(out.bg.params),
                    "roi_seed": out.roi.seed, "bg_seed": out.bg.seed, "psnr": out.psnr,
                    "region_fallback": out.region_fallback, "bytes": len(out.png), "status": "ok",
                })
            candidates += [
                {"source_id": record.source_id, "distortion": name, "candidate": c.index,
                 "params": list(c.params), "seed": c.seed, "psnr": c.psnr, "rank": c.rank,
                 "severity": c.severity}
                for c in run.candidates
            ]
            images += rows
            staged += files
        except Exception as error:  # one type failing leaves the others standing
            images += _failed_images(record.source_id, name, one_line(error))
    target = layout.images / record.source_id
    target.mkdir(parents=True, exist_ok=True)
    for file_name in staged:
        os.replace(folder / file_name, target / file_name)
    write_bytes_atomic(layout.mask_path(record.source_id), encode_png(mask.mask))
    copy_atomic(Path(record.path), layout.src_images / record.file_name)
    source_row["status"] = "ok"
    return source_row, images, candidates


def generate_shard(task: ShardTask, settings: GenerationSettings, root: str) -> ShardSummary:
    """Make every source of ``task`` and publish the shard; safe to run again after any crash."""
    cv2.setNumThreads(1)  # one worker process per core
    tune_allocator()
    started = time.perf_counter()
    layout = SubsetLayout(Path(root))
    for folder in (layout.images, layout.src_images, layout.masks):
        folder.mkdir(parents=True, exist_ok=True)
    staging = layout.staging / task.shard
    shutil.rmtree(staging, ignore_errors=True)
    summary = ShardSummary(task.shard)
    sources, images, candidates = [], [], []
    for source_task in task.sources:
        source_row, image_rows, candidate_rows = make_source(source_task, settings, layout, staging)
        sources.append({**source_row, "shard": task.shard})
        images += image_rows
        candidates += candidate_rows
        if source_row["status"] == "ok":
            summary.sources_ok += 1
        else:
            summary.sources_failed += 1
            summary.errors.append(f"{source_row['source_id']}: {source_row['error']}")
        failed = [row for row in image_rows if row["status"] == "failed"]
        summary.images_ok += len(image_rows) - len(failed)
        summary.images_failed += len(failed)
        summary.errors += sorted({f"{row['source_id']} {row['distortion']}: {row['error']}" for row in failed})
    shutil.rmtree(staging, ignore_errors=True)
    store = layout.generation_store()
    if task.retry:
        redone_sources = {t.record.source_id for t in task.sources}
        redone_types = {(t.record.source_id, d) for t in task.sources for d in t.distortions}
        old = {name: store.read(name, shards=[task.shard]).to_pylist() for name in TABLE_SCHEMAS}
        sources = [r for r in old["sources"] if r["source_id"] not in redone_sources] + sources
        images = [r for r in old["images"] if (r["source_id"], r["distortion"]) not in redone_types] + images
        candidates = [
            r for r in old["candidates"] if (r["source_id"], r["distortion"]) not in redone_types
        ] + candidates
    written = Counter(row["source_id"] for row in images if row["status"] == "ok")
    for row in sources:
        row["images_ok"] = written[row["source_id"]]
    tables = {
        name: pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS[name])
        for name, rows in (("sources", sources), ("images", images), ("candidates", candidates))
    }
    os.sync()  # the files a manifest row names must be on disk before the row
    store.publish(task.shard, tables)
    summary.seconds = time.perf_counter() - started
    return summary
