"""MMOS labels: per-oracle consistency and accuracy, their aggregation, the composite.

Definitions (defaults; the thresholds are options recorded with the labels):
- cls: consistency = top-1 on the degraded image equals top-1 on its pristine source; accuracy = top-1
  equals the ground-truth class.
- det / ins: consistency = per-image COCO AP@[.50:.95] of the degraded detections against the pristine
  detections scoring >= ``pseudo_gt_score`` taken as ground truth; accuracy = the same against the COCO
  annotations. Where COCOeval calls the AP undefined (no ground truth), the label is 1.0 when the image
  has no detection scoring >= ``empty_gt_score``, else 0.0.
- composite = ``composite_weight`` * consistency + (1 - ``composite_weight``) * accuracy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np

from oracles.labels.ap import APResult, Detections, GroundTruth, images_ap


@dataclass(frozen=True)
class LabelOptions:
    pseudo_gt_score: float = 0.5
    empty_gt_score: float = 0.5
    composite_weight: float = 0.5
    oracle_weights: Mapping[str, float] = field(default_factory=dict)  # missing oracles weigh 1

    def to_dict(self) -> dict:
        return asdict(self)


def cls_labels(top1: int, source_top1: int | None, ground_truth: int | None) -> tuple[float, float]:
    """(consistency, accuracy) of one classifier on one image; consistency is NaN without the pristine
    source's top-1, accuracy without ground truth."""
    consistency = math.nan if source_top1 is None else float(top1 == source_top1)
    accuracy = math.nan if ground_truth is None else float(top1 == ground_truth)
    return consistency, accuracy


def pseudo_ground_truth(source: Detections, min_score: float) -> GroundTruth:
    """The pristine image's confident detections as ground truth (areas as COCOeval's loadRes computes)."""
    keep = np.flatnonzero(source.scores >= min_score)
    boxes = None if source.boxes is None else source.boxes[keep]
    masks = None if source.masks is None else [source.masks[i] for i in keep]
    areas = None
    if masks is not None:
        from pycocotools import mask as mask_utils

        areas = np.asarray(mask_utils.area(masks), np.float64) if masks else np.zeros(0)
    return GroundTruth(category_ids=source.category_ids[keep], boxes=boxes, areas=areas, masks=masks)


def _with_empty_rule(result: APResult, detections: Detections, min_score: float) -> APResult:
    if not math.isnan(result.ap):
        return result
    value = float(not np.any(detections.scores >= min_score))
    return APResult(value, value, value)


def detection_labels(
    images: Sequence[Detections],
    source: Detections | None,
    ground_truth: GroundTruth | None,
    iou_type: str,
    options: LabelOptions = LabelOptions(),
) -> tuple[list[APResult], list[APResult]]:
    """(consistency, accuracy) AP triples for several images of one source, one detector; consistency is
    NaN without the pristine source's detections, accuracy without ground truth."""
    undefined = APResult(math.nan, math.nan, math.nan)
    if source is None:
        consistency = [undefined] * len(images)
    else:
        pseudo = pseudo_ground_truth(source, options.pseudo_gt_score)
        consistency = [
            _with_empty_rule(r, d, options.empty_gt_score)
            for r, d in zip(images_ap(pseudo, images, iou_type), images)
        ]
    if ground_truth is None:
        accuracy = [undefined] * len(images)
    else:
        accuracy = [
            _with_empty_rule(r, d, options.empty_gt_score)
            for r, d in zip(images_ap(ground_truth, images, iou_type), images)
        ]
    return consistency, accuracy


def aggregate(values: Mapping[str, float], weights: Mapping[str, float] | None = None,
              ) -> tuple[float, float, float]:
    """(mean, std, weighted mean) over oracles, NaN values left out; population std as numpy's."""
    names = [n for n, v in values.items() if not math.isnan(v)]
    if not names:
        return math.nan, math.nan, math.nan
    data = np.array([values[n] for n in names], np.float64)
    w = np.array([(weights or {}).get(n, 1.0) for n in names], np.float64)
    weighted = float(np.sum(w * data) / np.sum(w)) if np.sum(w) > 0 else math.nan
    return float(data.mean()), float(data.std()), weighted


def composite(consistency: float, accuracy: float, weight: float = 0.5) -> float:
    return weight * consistency + (1.0 - weight) * accuracy
