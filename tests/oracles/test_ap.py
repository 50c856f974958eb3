"""oracles.labels.ap against pycocotools' COCOeval on one image, on randomised cases built to match often."""

from __future__ import annotations

import collections
import contextlib
import io
import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from oracles.labels.ap import APResult, Detections, GroundTruth, image_ap, images_ap, to_rle

SEED = 20250826
N_BBOX = 400
N_SEGM = 300
CATEGORY_POOL = (1, 3, 7, 18, 44, 90)


# ----------------------------------------------------------------------------------------------- reference
def coco_stats(gt_anns: list[dict], dt_anns: list[dict], iou_type: str, height: int, width: int,
               category_ids=CATEGORY_POOL) -> np.ndarray:
    """COCOeval's stats[0:3] on one image (id 1), COCO objects built in memory, prints silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {
            "images": [{"id": 1, "height": height, "width": width}],
            "categories": [{"id": c, "name": str(c)} for c in category_ids],
            "annotations": [dict(a) for a in gt_anns],
        }
        coco_gt.createIndex()
        if dt_anns:
            coco_dt = coco_gt.loadRes([dict(a) for a in dt_anns])
        else:  # loadRes cannot take an empty list
            coco_dt = COCO()
            coco_dt.dataset = {"images": coco_gt.dataset["images"],
                               "categories": coco_gt.dataset["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.params.imgIds = [1]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:3], np.float64)


def assert_same(ours: APResult, stats: np.ndarray) -> None:
    expected = np.where(stats == -1, np.nan, stats)
    got = np.asarray(ours, np.float64)
    assert np.allclose(got, expected, rtol=0, atol=1e-9, equal_nan=True), (got, stats)


# ----------------------------------------------------------------------------------------------- cases
def _rand_box(rng, h, w):
    kind = rng.random()
    if kind < 0.2:  # small
        bw, bh = rng.uniform(1, 12, 2)
    elif kind < 0.4:  # large
        bw, bh = rng.uniform(0.5, 1.0) * w, rng.uniform(0.5, 1.0) * h
    else:
        bw, bh = rng.uniform(0.08, 0.45) * w, rng.uniform(0.08, 0.45) * h
    x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    box = np.array([x, y, bw, bh])
    if rng.random() < 0.3:  # integer boxes make exact IoU ties likelier
        box = _integer(rng, box, h, w)
    return box


def _integer(rng, box, h, w):
    """``box`` rounded to pixels, its height often a multiple of 20 (for IoUs of exactly k / 20)."""
    box = np.maximum(np.round(box), [0, 0, 1, 1])
    if rng.random() < 0.5 and box[1] + 20 <= h:
        box[3] = min(20 * max(1, round(box[3] / 20)), (h - box[1]) // 20 * 20)
    return box


def _rect(box):
    x, y, bw, bh = box
    return [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]


def _jitter(rng, box, scale):
    x, y, bw, bh = box
    dx, dy = rng.normal(0, scale, 2) * [bw, bh]
    sw, sh = np.exp(rng.normal(0, scale, 2))
    return np.array([x + dx, y + dy, max(bw * sw, 0.5), max(bh * sh, 0.5)])


def _polygon(rng, box, h, w):
    """A random star-shaped polygon inside ``box`` (clipped to the image)."""
    x, y, bw, bh = box
    n = int(rng.integers(3, 9))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.5, 1.0, n)
    px = np.clip(x + bw / 2 + np.cos(ang) * rad * bw / 2, 0, w)
    py = np.clip(y + bh / 2 + np.sin(ang) * rad * bh / 2, 0, h)
    return np.stack([px, py], 1).ravel().tolist()


def _polygons_for(rng, box, h, w):
    """The box itself as a polygon, or one or two random polygons inside it."""
    if rng.random() < 0.3:
        return _rect(box)
    return [_polygon(rng, box, h, w) for _ in range(1 if rng.random() < 0.8 else 2)]


def _mask_for(rng, box, h, w):
    return to_rle(_polygons_for(rng, box, h, w), h, w)


def _jitter_polygons(rng, polys, box, scale, h, w):
    """The gt's polygons moved, scaled and with each vertex nudged: masks that overlap the gt's well."""
    x, y, bw, bh = box
    c = np.array([x + bw / 2, y + bh / 2])
    shift = rng.normal(0, scale, 2) * [bw, bh]
    grow = np.exp(rng.normal(0, scale, 2))
    out = []
    for poly in polys:
        p = np.asarray(poly, float).reshape(-1, 2)
        p = (p - c) * grow + c + shift + rng.normal(0, scale / 2, p.shape) * [bw, bh]
        out.append(np.clip(p, 0, [w, h]).ravel().tolist())
    return to_rle(out, h, w)


def make_gts(rng, iou_type: str):
    """GT annotations (COCO dicts) of one image: several categories, crowds, duplicates, odd areas."""
    h, w = (int(v) for v in rng.integers(40, 160, 2)) if iou_type == "segm" else (480, 640)
    n_cat = int(rng.integers(1, 5))
    cats = rng.choice(CATEGORY_POOL, n_cat, replace=False).tolist()
    n_gt = 0 if rng.random() < 0.06 else int(rng.integers(1, 16))
    gts = []
    while len(gts) < n_gt:
        kind = rng.random()
        mid = None
        if gts and kind < 0.06:  # an exact duplicate gt
            box = np.array(gts[-1]["bbox"])
            cat = gts[-1]["category_id"]
            polygons = gts[-1].get("_polygons")
        elif gts and kind < 0.14 and gts[-1].get("_rect"):
            # the previous gt shifted by 2s pixels: a detection shifted by s overlaps both equally, so
            # COCOeval's tie rule (the later gt wins) decides what a second detection can match
            shift = np.zeros(4)
            shift[int(rng.integers(0, 2))] = int(rng.integers(1, 4))
            mid = np.array(gts[-1]["bbox"]) + shift
            box = mid + shift
            cat = gts[-1]["category_id"]
            polygons = _rect(box)
        else:
            box = _rand_box(rng, h, w)
            if rng.random() < 0.15:
                box = _integer(rng, box, h, w)
            cat = int(rng.choice(cats))
            polygons = _polygons_for(rng, box, h, w)
        crowd = rng.random() < 0.12
        ann = {"id": len(gts) + 1, "image_id": 1, "category_id": cat, "bbox": [float(v) for v in box],
               "iscrowd": int(crowd)}
        rect = bool(np.all(box == np.round(box))) and (iou_type == "bbox" or polygons == _rect(box))
        ann["_rect"] = rect  # an integer box (and a rectangular mask): exact IoU ties can be built on it
        if mid is not None:
            ann["_mid"] = mid
        if iou_type == "segm":
            ann["_polygons"] = polygons  # kept to draw detections from
            ann["segmentation"] = to_rle(polygons, h, w)
            ann["area"] = float(mask_utils.area(ann["segmentation"]))
        else:
            ann["area"] = float(box[2] * box[3] * rng.uniform(0.5, 1.0))
        if rng.random() < 0.03:  # outside the "all" area range: an ignored, non-crowd gt
            ann["area"] = float(rng.choice([-1.0, 2e10]))
        gts.append(ann)
    return gts, cats, h, w


def make_dets(rng, gts, cats, h, w, iou_type: str):
    """Detection results (COCO dicts) around ``gts``: jittered hits, duplicates, misses, false positives,
    wrong classes, classes without gt, tied scores, sometimes more than maxDets in a category."""
    dets = []  # (box, category, mask, false positive)
    flood = False
    clean = rng.random() < 0.06  # the gts themselves: AP 1 where some gt is not a crowd
    if rng.random() >= 0.06:  # else no detection at all
        p_hit = 1.0 if clean else rng.uniform(0.3, 1.0)
        scale = rng.choice([0.02, 0.06, 0.15])
        for g in gts:
            if rng.random() > p_hit:
                continue  # this gt gets no detection
            for _ in range(1 if clean or rng.random() < 0.6 else int(rng.integers(2, 5))):  # duplicates
                box = np.array(g["bbox"])
                jitter = not clean and rng.random() < 0.9
                if jitter:
                    box = _jitter(rng, box, scale)
                wrong = not clean and rng.random() < 0.1
                cat = int(rng.choice(CATEGORY_POOL)) if wrong else g["category_id"]
                mask = None
                if iou_type == "segm":
                    if not jitter:
                        mask = g["segmentation"]  # exact copy of the gt mask
                    elif rng.random() < 0.8:
                        mask = _jitter_polygons(rng, g["_polygons"], np.array(g["bbox"]), scale, h, w)
                    else:
                        mask = _mask_for(rng, box, h, w)
                dets.append((box, cat, mask, False))
            if g.get("_mid") is not None and rng.random() < 0.7:  # overlaps g and the gt before it equally
                box = g["_mid"]
                dets.append((box, g["category_id"], to_rle(_rect(box), h, w) if iou_type == "segm" else None, False))
            if g["_rect"] and g["bbox"][3] % 20 == 0 and rng.random() < 0.3:
                # the top k/20 of the gt: IoU exactly k/20, on or next to a threshold
                box = np.array(g["bbox"])
                box[3] = box[3] * int(rng.integers(9, 20)) // 20
                dets.append((box, g["category_id"], to_rle(_rect(box), h, w) if iou_type == "segm" else None, False))
        n_fp = 0 if clean else int(rng.integers(0, 12))
        flood = bool(cats) and rng.random() < 0.05
        if flood:  # more than maxDets in one category, outscoring the hits: the cut at 100 drops some
            n_fp = int(rng.integers(90, 160))
            fp_cats = [int(rng.choice(cats))]
        else:
            fp_cats = CATEGORY_POOL + (999,)  # including categories without gt, and one COCO does not list
        for _ in range(n_fp):
            box = _rand_box(rng, h, w)
            if iou_type == "bbox" and rng.random() < 0.03:
                box[2] = -box[2]  # a negative area: unmatched, COCOeval ignores it instead of counting an FP
            mask = _mask_for(rng, box, h, w) if iou_type == "segm" else None
            dets.append((box, int(rng.choice(fp_cats)), mask, True))
        dets = [dets[i] for i in rng.permutation(len(dets))]

    tie_scores = rng.random() < 0.4
    results = []
    for box, cat, mask, false_positive in dets:
        if tie_scores:
            score = float(rng.choice([0.3, 0.5, 0.7, 0.9]))
        else:
            score = float(rng.uniform(0.01, 1.0 if false_positive or not flood else 0.4))
        r = {"image_id": 1, "category_id": cat, "score": score}
        if iou_type == "segm":
            r["segmentation"] = mask
        else:
            r["bbox"] = [float(v) for v in box]
        results.append(r)
    return results


def make_case(index: int, iou_type: str):
    rng = np.random.default_rng([SEED, index, iou_type == "segm"])
    gts, cats, h, w = make_gts(rng, iou_type)
    return gts, make_dets(rng, gts, cats, h, w, iou_type), h, w


def ours_from(gts, results, iou_type):
    gt = GroundTruth(
        category_ids=[g["category_id"] for g in gts],
        boxes=np.array([g["bbox"] for g in gts]).reshape(-1, 4),
        iscrowd=[bool(g["iscrowd"]) for g in gts],
        areas=[g["area"] for g in gts],
        masks=[g["segmentation"] for g in gts] if iou_type == "segm" else None,
    )
    if iou_type == "segm":
        dt = Detections(scores=[r["score"] for r in results], category_ids=[r["category_id"] for r in results],
                        masks=[r["segmentation"] for r in results])
    else:
        dt = Detections(scores=[r["score"] for r in results], category_ids=[r["category_id"] for r in results],
                        boxes=np.array([r["bbox"] for r in results]).reshape(-1, 4))
    return gt, dt


# ----------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("index", range(N_BBOX))
def test_bbox_matches_cocoeval(index):
    gts, results, h, w = make_case(index, "bbox")
    gt, dt = ours_from(gts, results, "bbox")
    assert_same(image_ap(gt, dt, "bbox"), coco_stats(gts, results, "bbox", h, w))


@pytest.mark.parametrize("index", range(N_SEGM))
def test_segm_matches_cocoeval(index):
    gts, results, h, w = make_case(index, "segm")
    gt, dt = ours_from(gts, results, "segm")
    assert_same(image_ap(gt, dt, "segm"), coco_stats(gts, results, "segm", h, w))


def test_cases_exercise_the_hard_paths():
    """The generator does produce what the comparison is meant to cover."""
    seen = dict.fromkeys(["empty_gt", "empty_dt", "crowd", "odd_gt_area", "over_max_dets", "tied_scores",
                          "equal_overlap_pair", "negative_area_dt", "dt_category_without_gt", "undefined",
                          "zero", "perfect", "partial"], 0)
    for index in range(N_BBOX):
        gts, results, h, w = make_case(index, "bbox")
        gt, dt = ours_from(gts, results, "bbox")
        ap = image_ap(gt, dt).ap
        gt_cats = {g["category_id"] for g in gts}
        scores = [r["score"] for r in results]
        seen["empty_gt"] += not gts
        seen["empty_dt"] += not results
        seen["crowd"] += any(g["iscrowd"] for g in gts)
        seen["odd_gt_area"] += any(not 0 <= g["area"] <= 1e10 for g in gts)
        per_category = collections.Counter(r["category_id"] for r in results)
        seen["over_max_dets"] += max(per_category.values(), default=0) > 100
        seen["tied_scores"] += len(set(scores)) < len(scores)
        seen["equal_overlap_pair"] += any(g.get("_mid") is not None for g in gts)
        seen["negative_area_dt"] += any(r["bbox"][2] < 0 for r in results)
        seen["dt_category_without_gt"] += any(r["category_id"] not in gt_cats for r in results)
        seen["undefined"] += math.isnan(ap)
        seen["zero"] += ap == 0
        seen["perfect"] += ap > 1 - 1e-12
        seen["partial"] += 0 < ap < 1 - 1e-12
    assert all(v >= 5 for v in seen.values()), seen
    assert seen["partial"] > N_BBOX // 2, seen


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_batch_equals_single(iou_type):
    rng = np.random.default_rng([SEED, 99, iou_type == "segm"])
    gts, cats = [], []
    while not gts:
        gts, cats, h, w = make_gts(rng, iou_type)
    runs = [make_dets(rng, gts, cats, h, w, iou_type) for _ in range(60)] + [[]]
    gt = ours_from(gts, [], iou_type)[0]
    dts = [ours_from(gts, results, iou_type)[1] for results in runs]
    batch = images_ap(gt, dts, iou_type)
    single = [image_ap(gt, dt, iou_type) for dt in dts]
    assert np.array_equal(np.array(batch), np.array(single), equal_nan=True)
    for results, ours in list(zip(runs, batch))[::6]:
        assert_same(ours, coco_stats(gts, results, iou_type, h, w))


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a binary mask (column-major runs, zeros first)."""
    flat = mask.ravel(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"size": list(mask.shape), "counts": counts}


def test_from_annotations_with_polygons_matches_cocoeval():
    """COCO-style annotations (polygons, uncompressed crowd RLE) go through to_rle like COCO.annToRLE."""
    rng = np.random.default_rng(11)
    h, w = 120, 150
    gts, results = [], []
    for i in range(8):
        box = _rand_box(rng, h, w)
        crowd = i == 7
        if crowd:
            mask = np.zeros((h, w), np.uint8)
            x, y, bw, bh = np.round(box).astype(int)
            mask[y:y + bh + 1, x:x + bw + 1] = 1
            seg = _uncompressed_rle(mask)
        else:
            seg = [_polygon(rng, box, h, w)]
        gts.append({"id": i + 1, "image_id": 1, "category_id": 1 + i % 2, "bbox": box.tolist(),
                    "area": float(box[2] * box[3]), "iscrowd": int(crowd), "segmentation": seg})
        for _ in range(2):
            mask = to_rle(seg, h, w) if crowd else _jitter_polygons(rng, seg, box, 0.05, h, w)
            results.append({"image_id": 1, "category_id": 1 + i % 2, "score": float(rng.random()),
                            "segmentation": mask})
    gt = GroundTruth.from_annotations(gts, h, w)
    dt = Detections.from_results(results)
    result = image_ap(gt, dt, "segm")
    assert 0 < result.ap < 1
    assert_same(result, coco_stats(gts, results, "segm", h, w, category_ids=(1, 2)))


def test_crowded_category_matches_cocoeval():
    """More gts in a category than the precomputed recall table covers (and more than 100 detections)."""
    rng = np.random.default_rng(5)
    gts, results = [], []
    for i in range(90):
        box = _rand_box(rng, 480, 640)
        gts.append({"id": i + 1, "image_id": 1, "category_id": 3, "bbox": box.tolist(),
                    "area": float(box[2] * box[3]), "iscrowd": 0})
        for _ in range(int(rng.integers(0, 4))):
            results.append({"image_id": 1, "category_id": 3, "score": float(rng.random()),
                            "bbox": _jitter(rng, box, 0.05).tolist()})
    assert len(results) > 100
    gt, dt = ours_from(gts, results, "bbox")
    result = image_ap(gt, dt)
    assert 0 < result.ap < 1
    assert_same(result, coco_stats(gts, results, "bbox", 480, 640))


def test_simple_values():
    boxes = np.array([[10, 10, 50, 40], [100, 80, 30, 30], [200, 200, 80, 60]], float)
    gt = GroundTruth(category_ids=[1, 1, 2], boxes=boxes)
    perfect = Detections(scores=[0.9, 0.8, 0.7], category_ids=[1, 1, 2], boxes=boxes)
    # COCOeval's precision 1 / (1 + eps) is one ulp below 1
    assert image_ap(gt, perfect) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
    none = Detections(scores=[], category_ids=[], boxes=np.zeros((0, 4)))
    assert image_ap(gt, none) == (0.0, 0.0, 0.0)
    wrong_class = Detections(scores=[0.9], category_ids=[5], boxes=boxes[:1])
    assert image_ap(gt, wrong_class) == (0.0, 0.0, 0.0)
    empty_gt = GroundTruth(category_ids=[], boxes=np.zeros((0, 4)))
    assert all(math.isnan(v) for v in image_ap(empty_gt, perfect))
    assert all(math.isnan(v) for v in image_ap(empty_gt, none))
    crowd_only = GroundTruth(category_ids=[1], boxes=boxes[:1], iscrowd=[True])
    assert all(math.isnan(v) for v in image_ap(crowd_only, perfect))


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        GroundTruth(category_ids=[1, 2], boxes=np.zeros((3, 4)))
    with pytest.raises(ValueError):
        Detections(scores=[0.5], category_ids=[1, 2], boxes=np.zeros((1, 4)))
    with pytest.raises(ValueError, match="finite"):  # NaN would sort differently in numpy and numba
        Detections(scores=[0.5, float("nan")], category_ids=[1, 2], boxes=np.zeros((2, 4)))
    gt = GroundTruth(category_ids=[1], boxes=[[0, 0, 1, 1]])
    with pytest.raises(ValueError):
        image_ap(gt, Detections(scores=[0.5], category_ids=[1], boxes=[[0, 0, 1, 1]]), "segm")
    with pytest.raises(ValueError):
        image_ap(gt, Detections(scores=[0.5], category_ids=[1], boxes=[[0, 0, 1, 1]]), "keypoints")
