"""The label stage: per-(image, oracle) consistency / accuracy and per-image MMOS of one shard, from stored
predictions alone (no model, no GPU), over an explicit set of oracles (the task's label membership).

Membership: the oracles whose labels are aggregated are one set for every shard of a task, recorded in
``manifests/labels/<task>/labels.json`` with their trained/untrained state. By default the set is every oracle of
the task whose predictions are complete on every shard, plus those already in the set: scoring more oracles
extends it, scoring a subset again never shrinks it. ``--label-oracles`` chooses a set explicitly (recorded;
later runs keep it until another is chosen). A shard where a member's predictions are missing or stale is
*pending*: it keeps no labels until they are complete, never labels from a partial set.

Each label part records in its footer ``input``, a digest of everything the labels were made from (the
members, the options, the ground-truth file, the shard's generation digest and each member's predictions
digest): a part whose input differs from today's is stale and is made again.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from manifests.layout import SubsetLayout
from pipeline.driver import SubsetStage, UnitStats

SUBSET_OF_TASK = {"cls": "cls", "det": "det", "ins": "det"}


@dataclass(frozen=True)
class LabelSpec:
    """What the labels of a task are made from, the same for every shard."""

    task: str  # cls | det | ins
    members: tuple[str, ...]  # oracles aggregated, in registry order (so sums run in one order)
    options: Any  # oracles.labels.mmos.LabelOptions
    annotations: str | None = None  # COCO instances JSON (det/ins accuracy)
    annotations_sha256: str | None = None

    def input_digest(self, generation: str, predictions: Sequence[str]) -> str:
        """Everything a shard's labels depend on, as one digest (its part is current when they match)."""
        data = {"task": self.task, "members": list(self.members), "options": self.options.to_dict(),
                "annotations": self.annotations_sha256, "generation": generation, "predictions": list(predictions)}
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class LabelUnit:
    shard: str
    input: str  # the digest the published part records
    weight: int = 1

    @property
    def key(self) -> str:
        return self.shard


@dataclass(frozen=True)
class LabelStage(SubsetStage):
    root: str
    spec: LabelSpec
    item_name = "shard"

    @property
    def name(self) -> str:
        return f"labels-{self.spec.task}"

    def run_unit(self, unit: LabelUnit) -> UnitStats:
        return label_shard(unit, self)


# --- computing one shard ---------------------------------------------------------------------------------


def _detections(row: dict[str, Any], with_masks: bool) -> Any:
    import numpy as np

    from oracles.labels.ap import Detections

    boxes = np.asarray(row["boxes"] or [], np.float64).reshape(-1, 4)
    masks = None
    if with_masks:
        size = [row["height"], row["width"]]
        masks = [{"size": size, "counts": counts} for counts in row["masks"] or []]
    return Detections(scores=row["scores"] or [], category_ids=row["category_ids"] or [],
                      boxes=None if with_masks else boxes, masks=masks)


def _ground_truths(annotations: str | None, coco_ids: dict[str, int | None]) -> dict[str, Any]:
    from oracles.labels.ap import GroundTruth

    if annotations is None:
        return {source: None for source in coco_ids}
    from pipeline.sources import load_coco

    coco = load_coco(annotations)
    truths: dict[str, Any] = {}
    for source, image_id in coco_ids.items():
        if image_id is None or image_id not in coco.imgs:
            truths[source] = None
            continue
        info = coco.imgs[image_id]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        truths[source] = GroundTruth.from_annotations(anns, info["height"], info["width"])
    return truths


def _pristine_problem(source_id: str, predictions: dict[str, dict[str, Any]], sources: dict[str, dict[str, Any]],
                      ) -> str | None:
    """Why consistency is undefined for the images of ``source_id`` (None when its prediction exists)."""
    row = predictions.get(source_id)
    if row is not None and row["status"] == "ok":
        return None
    name = sources[source_id]["file_name"]
    reason = row["error"] if row is not None else "not scored"
    return f"consistency undefined: the pristine source {name} has no prediction ({reason})"


def oracle_rows(spec: LabelSpec, oracle: str, predictions: list[dict[str, Any]], images: list[dict[str, Any]],
                sources: dict[str, dict[str, Any]], truths: dict[str, Any]) -> list[dict[str, Any]]:
    """Labels of one oracle on the images of one shard (images it has no prediction for get no row)."""
    from manifests.schemas import oracle_label_row
    from oracles.labels.mmos import cls_labels, composite, detection_labels

    by_id = {row["image_id"]: row for row in predictions}
    untrained = any(row["untrained"] for row in predictions)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for image in images:
        by_source.setdefault(image["source_id"], []).append(image)
    weight = spec.options.composite_weight
    rows = []
    for source_id, members in by_source.items():
        scored = [m for m in members if by_id.get(m["image_id"], {}).get("status") == "ok"]
        if not scored:
            continue
        problem = _pristine_problem(source_id, by_id, sources)
        source_prediction = None if problem else by_id[source_id]
        if spec.task == "cls":
            source_top1 = source_prediction["top5_ids"][0] if source_prediction else None
            for image in scored:
                c, a = cls_labels(by_id[image["image_id"]]["top5_ids"][0], source_top1, sources[source_id]["label"])
                rows.append(oracle_label_row(image["image_id"], source_id, oracle, c, a, composite(c, a, weight),
                                             untrained, problem))
            continue
        segm = spec.task == "ins"
        dets = [_detections(by_id[m["image_id"]], segm) for m in scored]
        pristine = _detections(source_prediction, segm) if source_prediction else None
        cons, accs = detection_labels(dets, pristine, truths.get(source_id), "segm" if segm else "bbox", spec.options)
        for image, c, a in zip(scored, cons, accs):
            ap = {"consistency_ap50": c.ap50, "consistency_ap75": c.ap75, "accuracy_ap50": a.ap50,
                  "accuracy_ap75": a.ap75}
            rows.append(oracle_label_row(image["image_id"], source_id, oracle, c.ap, a.ap,
                                         composite(c.ap, a.ap, weight), untrained, problem, ap))
    return rows


def mmos_rows(spec: LabelSpec, images: Sequence[dict[str, Any]], per_oracle: list[dict[str, Any]],
              ) -> list[dict[str, Any]]:
    """Per image: mean, population std and weighted mean of consistency and accuracy over the members that
    labelled it (undefined values left out), and the composite of the weighted means."""
    from manifests.schemas import mmos_row
    from oracles.labels.mmos import aggregate, composite

    per_image: dict[str, list[dict[str, Any]]] = {}
    for row in per_oracle:
        per_image.setdefault(row["image_id"], []).append(row)
    weights = spec.options.oracle_weights
    nan = math.nan
    out = []
    for image in images:
        rows = per_image.get(image["image_id"])
        if not rows:
            continue
        cons = aggregate({r["oracle"]: nan if r["consistency"] is None else r["consistency"] for r in rows}, weights)
        accs = aggregate({r["oracle"]: nan if r["accuracy"] is None else r["accuracy"] for r in rows}, weights)
        note = next((r["note"] for r in rows if r["note"]), None)
        out.append(mmos_row(image["image_id"], image["source_id"], image["path"], len(rows), cons, accs,
                            composite(cons[2], accs[2], spec.options.composite_weight),
                            any(r["untrained"] for r in rows), note))
    return out


def label_shard(unit: LabelUnit, stage: LabelStage) -> UnitStats:
    """Compute and publish the labels of one shard."""
    import pyarrow as pa

    from manifests.schemas import MMOS, ORACLE_LABELS

    spec, layout = stage.spec, stage.layout
    generation = layout.generation_store()
    images = generation.read("images", columns=["image_id", "source_id", "path", "status"], shards=[unit.shard])
    images = [r for r in images.to_pylist() if r["status"] == "ok"]
    sources = {r["source_id"]: r for r in generation.read("sources", shards=[unit.shard]).to_pylist()}
    truths = _ground_truths(spec.annotations, {s: r["coco_image_id"] for s, r in sources.items()}) \
        if spec.task != "cls" else {}
    per_oracle: list[dict[str, Any]] = []
    for oracle in spec.members:
        predictions = layout.prediction_store(oracle, spec.task).read(oracle, shards=[unit.shard]).to_pylist()
        per_oracle += oracle_rows(spec, oracle, predictions, images, sources, truths)
    mmos = mmos_rows(spec, images, per_oracle)
    layout.label_store(spec.task).publish(
        unit.shard, {"oracle_labels": pa.Table.from_pylist(per_oracle, schema=ORACLE_LABELS),
                     "mmos": pa.Table.from_pylist(mmos, schema=MMOS)},
        metadata={"mmos": {"input": unit.input}})
    undefined = {r["source_id"] for r in mmos if r["note"]}
    return UnitStats(stage.name, unit.key, items_ok=len(mmos),
                     counts={"images": len(mmos), "sources_without_pristine": len(undefined)})


def label_version(layout: SubsetLayout, task: str) -> str | None:
    """A digest of a task's current labels (their record and every part's input): what an export records,
    and what tells status that labels changed since. None when the task has no labels."""
    store = layout.label_store(task)
    record = store.root / "labels.json"
    parts = store.part_metadata()
    if not record.exists() or not parts:
        return None
    lines = [record.read_text()] + [f"{shard} {meta.get('input', '')}" for shard, meta in sorted(parts.items())]
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()
