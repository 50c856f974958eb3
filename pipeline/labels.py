"""Labels of one generation shard from stored predictions alone (no model, no GPU)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from manifests.schemas import MMOS, ORACLE_LABELS
from oracles.labels.ap import Detections, GroundTruth
from oracles.labels.mmos import LabelOptions, aggregate, cls_labels, composite, detection_labels
from manifests.layout import SubsetLayout


@dataclass(frozen=True)
class LabelTask:
    shard: str
    task: str  # cls | det | ins
    oracles: tuple[str, ...]
    options: LabelOptions
    annotations: str | None  # COCO json of the det subset's ground truth


def _detections(row: dict[str, Any], with_masks: bool) -> Detections:
    boxes = np.asarray(row["boxes"] or [], np.float64).reshape(-1, 4)
    masks = None
    if with_masks:
        size = [row["height"], row["width"]]
        masks = [{"size": size, "counts": counts} for counts in row["masks"] or []]
    return Detections(scores=row["scores"] or [], category_ids=row["category_ids"] or [],
                      boxes=None if with_masks else boxes, masks=masks)


def _ground_truths(annotations: str | None, coco_ids: dict[str, int | None]) -> dict[str, GroundTruth | None]:
    if annotations is None:
        return {source: None for source in coco_ids}
    from pipeline.sources import load_coco

    coco = load_coco(annotations)
    truths: dict[str, GroundTruth | None] = {}
    for source, image_id in coco_ids.items():
        if image_id is None or image_id not in coco.imgs:
            truths[source] = None
            continue
        info = coco.imgs[image_id]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        truths[source] = GroundTruth.from_annotations(anns, info["height"], info["width"])
    return truths


def _oracle_rows(task: LabelTask, oracle: str, predictions: list[dict[str, Any]], images: list[dict[str, Any]],
                 sources: dict[str, dict[str, Any]], truths: dict[str, GroundTruth | None]) -> list[dict[str, Any]]:
    by_id = {row["image_id"]: row for row in predictions if row["status"] == "ok"}
    untrained = any(row["untrained"] for row in predictions)
    rows = []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for image in images:
        by_source.setdefault(image["source_id"], []).append(image)
    for source_id, members in by_source.items():
        source_prediction = by_id.get(source_id)
        scored = [m for m in members if m["image_id"] in by_id]
        if source_prediction is None or not scored:
            continue
        if task.task == "cls":
            source_top1 = source_prediction["top5_ids"][0]
            truth = sources[source_id]["label"]
            for image in scored:
                c, a = cls_labels(by_id[image["image_id"]]["top5_ids"][0], source_top1, truth)
                rows.append({"image_id": image["image_id"], "source_id": source_id, "oracle": oracle,
                             "consistency": c, "accuracy": a, "untrained": untrained})
            continue
        segm = task.task == "ins"
        iou_type = "segm" if segm else "bbox"
        dets = [_detections(by_id[m["image_id"]], segm) for m in scored]
        cons, accs = detection_labels(dets, _detections(source_prediction, segm), truths[source_id], iou_type,
                                      task.options)
        for image, c, a in zip(scored, cons, accs):
            rows.append({"image_id": image["image_id"], "source_id": source_id, "oracle": oracle,
                         "consistency": c.ap, "accuracy": a.ap, "consistency_ap50": c.ap50,
                         "consistency_ap75": c.ap75, "accuracy_ap50": a.ap50, "accuracy_ap75": a.ap75,
                         "untrained": untrained})
    for row in rows:
        acc = row["accuracy"]
        row["accuracy"] = None if math.isnan(acc) else acc
        row["composite"] = None if row["accuracy"] is None else composite(
            row["consistency"], acc, task.options.composite_weight)
    return rows


def _mmos_rows(task: LabelTask, images: Sequence[dict[str, Any]], oracle_rows: list[dict[str, Any]],
               ) -> list[dict[str, Any]]:
    per_image: dict[str, list[dict[str, Any]]] = {}
    for row in oracle_rows:
        per_image.setdefault(row["image_id"], []).append(row)
    weights = task.options.oracle_weights
    out = []
    for image in images:
        rows = per_image.get(image["image_id"])
        if not rows:
            continue
        nan = float("nan")
        cons = aggregate({r["oracle"]: r["consistency"] for r in rows}, weights)
        accs = aggregate({r["oracle"]: nan if r["accuracy"] is None else r["accuracy"] for r in rows}, weights)
        value = composite(cons[2], accs[2], task.options.composite_weight)
        out.append({
            "image_id": image["image_id"], "source_id": image["source_id"], "path": image["path"],
            "oracles": len(rows), "mean_consistency": cons[0], "std_consistency": cons[1],
            "weighted_consistency": cons[2], "mean_accuracy": accs[0], "std_accuracy": accs[1],
            "weighted_accuracy": accs[2], "composite": None if math.isnan(value) else value,
            "untrained": any(r["untrained"] for r in rows),
        })
    return out


def label_shard(task: LabelTask, root: str) -> int:
    """Compute and publish the labels of one shard; returns the number of labelled images."""
    layout = SubsetLayout(Path(root))
    generation = layout.generation_store()
    images = generation.read("images", columns=["image_id", "source_id", "path", "status"], shards=[task.shard])
    images = [r for r in images.to_pylist() if r["status"] == "ok"]
    sources = {r["source_id"]: r for r in generation.read("sources", shards=[task.shard]).to_pylist()}
    truths = _ground_truths(task.annotations, {s: r["coco_image_id"] for s, r in sources.items()}) \
        if task.task != "cls" else {}
    oracle_rows: list[dict[str, Any]] = []
    for oracle in task.oracles:
        predictions = layout.prediction_store(oracle, task.task).read(oracle, shards=[task.shard])
        oracle_rows += _oracle_rows(task, oracle, predictions.to_pylist(), images, sources, truths)
    mmos = _mmos_rows(task, images, oracle_rows)
    layout.label_store(task.task).publish(task.shard, {
        "oracle_labels": pa.Table.from_pylist(oracle_rows, schema=ORACLE_LABELS),
        "mmos": pa.Table.from_pylist(mmos, schema=MMOS),
    })
    return len(mmos)
