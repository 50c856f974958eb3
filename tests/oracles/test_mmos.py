"""The label definitions, each against hand-computed expectations (so that a wrong definition fails)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oracles.labels.ap import Detections, GroundTruth
from oracles.labels.mmos import LabelOptions, aggregate, cls_labels, composite, detection_labels, pseudo_ground_truth
from pipeline.labels import LabelSpec, mmos_rows, oracle_rows


def test_cls_consistency_compares_with_the_source_and_accuracy_with_the_truth():
    assert cls_labels(5, 5, 7) == (1.0, 0.0)  # agrees with the pristine answer, which is wrong
    assert cls_labels(7, 5, 7) == (0.0, 1.0)  # changed its answer, to the right one
    assert cls_labels(7, 7, 7) == (1.0, 1.0)
    consistency, accuracy = cls_labels(3, 5, None)
    assert consistency == 0.0 and math.isnan(accuracy)  # no ground truth: accuracy undefined
    consistency, accuracy = cls_labels(3, None, 3)
    assert math.isnan(consistency) and accuracy == 1.0  # no pristine answer: consistency undefined


def test_aggregate_is_mean_population_std_and_weighted_mean():
    values = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 1.0}
    mean, std, weighted = aggregate(values, {"a": 3.0, "b": 1.0})  # c, d weigh 1
    assert mean == 0.5
    assert std == 0.5  # population std: sqrt(mean((x - 0.5)^2)); ddof=1 would give 0.577
    assert weighted == pytest.approx((3 * 1 + 1 * 0 + 1 * 0 + 1 * 1) / 6)
    assert aggregate(values)[2] == 0.5  # uniform weights by default


def test_aggregate_leaves_undefined_values_out():
    mean, std, weighted = aggregate({"a": 0.25, "b": math.nan, "c": 0.75}, {"b": 100.0})
    assert (mean, std, weighted) == (0.5, 0.25, 0.5)
    assert all(math.isnan(v) for v in aggregate({"a": math.nan}))


def test_composite_weights_consistency_then_accuracy():
    assert composite(1.0, 0.0) == 0.5
    assert composite(1.0, 0.0, 0.8) == pytest.approx(0.8)  # weight applies to consistency
    assert composite(0.0, 1.0, 0.8) == pytest.approx(0.2)
    assert math.isnan(composite(1.0, math.nan))


def _detections(boxes, scores, categories) -> Detections:
    return Detections(scores=scores, category_ids=categories, boxes=np.asarray(boxes, np.float64).reshape(-1, 4))


def test_pseudo_ground_truth_keeps_pristine_detections_at_or_above_the_threshold():
    source = _detections([[0, 0, 10, 10], [5, 5, 10, 10], [20, 20, 5, 5]], [0.9, 0.5, 0.49], [1, 2, 3])
    truth = pseudo_ground_truth(source, 0.5)
    assert list(truth.category_ids) == [1, 2]
    assert len(pseudo_ground_truth(source, 0.95).category_ids) == 0


def test_empty_ground_truth_rule_both_ways():
    empty_source = _detections([[0, 0, 10, 10]], [0.3], [1])  # nothing at or above 0.5: empty pseudo truth
    quiet = _detections([[0, 0, 10, 10]], [0.4], [1])  # nothing confident on the degraded image: correct
    loud = _detections([[0, 0, 10, 10]], [0.6], [1])  # a confident false positive: wrong
    consistency, accuracy = detection_labels([quiet, loud], empty_source, None, "bbox")
    assert [c.ap for c in consistency] == [1.0, 0.0]
    assert [c.ap50 for c in consistency] == [1.0, 0.0]
    assert all(math.isnan(a.ap) for a in accuracy)  # no annotations: undefined
    strict = LabelOptions(empty_gt_score=0.3)
    consistency, _ = detection_labels([quiet], empty_source, None, "bbox", strict)
    assert consistency[0].ap == 0.0  # 0.4 >= 0.3 now counts as a detection
    consistency, _ = detection_labels([quiet], None, None, "bbox")
    assert math.isnan(consistency[0].ap)  # no pristine detections at all: undefined, not 1


def test_detection_consistency_of_a_perfect_and_a_missing_answer():
    source = _detections([[10, 10, 40, 40]], [0.9], [17])
    same = _detections([[10, 10, 40, 40]], [0.8], [17])
    nothing = _detections(np.zeros((0, 4)), [], [])
    truth = GroundTruth(category_ids=np.array([17]), boxes=np.array([[10.0, 10, 40, 40]]))
    consistency, accuracy = detection_labels([same, nothing], source, truth, "bbox")
    assert [c.ap for c in consistency] == pytest.approx([1.0, 0.0])  # COCOeval's mean over IoUs: 1 - 1e-16
    assert [a.ap for a in accuracy] == pytest.approx([1.0, 0.0])


def _prediction(image_id, source_id, top1, status="ok"):
    return {"image_id": image_id, "source_id": source_id, "status": status, "error": None if status == "ok" else "x",
            "untrained": False, "top5_ids": [top1, 0, 0, 0, 0] if status == "ok" else None}


def test_several_oracles_with_undefined_values_and_weights_end_to_end():
    """Two classifiers, two images of one source; the expected values worked out by hand."""
    images = [{"image_id": "s_a_1", "source_id": "s", "path": "images/s/s_a_1.png"},
              {"image_id": "s_a_2", "source_id": "s", "path": "images/s/s_a_2.png"}]
    sources = {"s": {"source_id": "s", "file_name": "s.png", "label": 7}}
    spec = LabelSpec("cls", ("o1", "o2"), LabelOptions(composite_weight=0.5, oracle_weights={"o1": 3.0}))
    o1 = [_prediction("s", "s", 7), _prediction("s_a_1", "s", 7), _prediction("s_a_2", "s", 3)]
    o2 = [_prediction("s", "s", 4), _prediction("s_a_1", "s", 7), _prediction("s_a_2", "s", 4)]
    rows = oracle_rows(spec, "o1", o1, images, sources, {}) + oracle_rows(spec, "o2", o2, images, sources, {})
    # o1: a_1 (1 consistent, 1 accurate), a_2 (0, 0); o2: a_1 (0, 1), a_2 (1, 0)
    assert [(r["oracle"], r["consistency"], r["accuracy"]) for r in rows] == [
        ("o1", 1.0, 1.0), ("o1", 0.0, 0.0), ("o2", 0.0, 1.0), ("o2", 1.0, 0.0)]
    mmos = {r["image_id"]: r for r in mmos_rows(spec, images, rows)}
    first = mmos["s_a_1"]
    assert first["mean_consistency"] == 0.5 and first["std_consistency"] == 0.5
    assert first["weighted_consistency"] == pytest.approx(0.75)  # (3 * 1 + 0) / 4
    assert first["weighted_accuracy"] == 1.0 and first["std_accuracy"] == 0.0
    assert first["composite"] == pytest.approx(0.5 * 0.75 + 0.5 * 1.0)
    second = mmos["s_a_2"]
    assert second["weighted_consistency"] == pytest.approx(0.25) and second["weighted_accuracy"] == 0.0
    assert second["composite"] == pytest.approx(0.125)


def test_a_source_without_pristine_prediction_keeps_accuracy_and_says_why():
    images = [{"image_id": "s_a_1", "source_id": "s", "path": "images/s/s_a_1.png"}]
    sources = {"s": {"source_id": "s", "file_name": "s.png", "label": 7}}
    spec = LabelSpec("cls", ("o1",), LabelOptions())
    rows = oracle_rows(spec, "o1", [_prediction("s", "s", 0, "failed"), _prediction("s_a_1", "s", 7)], images,
                       sources, {})
    assert rows[0]["consistency"] is None and rows[0]["accuracy"] == 1.0
    assert "pristine source s.png" in rows[0]["note"]
    mmos = mmos_rows(spec, images, rows)[0]
    assert math.isnan(mmos["weighted_consistency"]) and mmos["weighted_accuracy"] == 1.0
    assert mmos["composite"] is None and mmos["note"] == rows[0]["note"]
