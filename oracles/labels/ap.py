"""Per-image COCO average precision, equal to pycocotools' COCOeval run on that one image.

``image_ap(gt, dt, iou_type)`` returns the ``stats[0:3]`` (AP@[.50:.95], AP50, AP75) that
``COCOeval(cocoGt, cocoDt, iou_type)`` gives with ``params.imgIds = [that image]`` and the default
parameters (IoU thresholds .50:.05:.95, 101 recall points, maxDets 100, area range "all", useCats=1), and
NaN where COCOeval reports -1 (no category of the image has a non-crowd ground-truth object).

It replicates COCOeval step by step, in compiled loops (numba) instead of its Python ones:

- a category counts when it has at least one non-ignored ground truth (not crowd, area in [0, 1e10]);
  detections in other categories change nothing, categories with ground truth but no detection give 0;
- per category, detections are sorted by score with a stable sort (COCOeval's mergesort) and cut to 100;
- IoU is pycocotools' own: the box formula of ``maskApi.c`` re-done in numpy operation for operation (so
  bit-identical), and for masks :mod:`oracles.labels.rle`, whose exact pixel counts give
  ``pycocotools.mask.iou``'s values; a crowd gt scores intersection / detection area;
- greedy matching per IoU threshold in score order: each detection takes the unmatched regular gt of best
  IoU (last one on ties, as COCOeval's ``<`` test does), else the best ignored gt (crowd gts match any
  number of times); a detection matched to an ignored gt is ignored, an unmatched one whose area is outside
  [0, 1e10] too;
- precision and recall as COCOeval's ``accumulate`` (the same float expressions, right-to-left running
  maximum, ``searchsorted`` of the 101 recall thresholds, 0 past the last recall reached), averaged as
  ``summarize`` (to ~1e-16: the sums run in another order).

What makes it fast: no COCO objects, dicts or per-category Python loops; the ground truth's work (its
categories, order, decoded masks) is done once and shared by :func:`images_ap`; and mask pairs that cannot
reach IoU 0.5 (by their areas and boxes) are never counted, since the matching ignores them.

Areas only matter outside the "all" range [0, 1e10]: a detection's area is ``w * h`` for boxes (as
``COCO.loadRes``; a negative one makes an unmatched box ignored) and its mask area for masks (uint32 in
pycocotools: never outside); a ground truth's is the annotation ``area`` (``areas``; by default ``w * h``,
or the mask area). Ground-truth ids play no part (COCOeval needs them non-zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numba
import numpy as np
from pycocotools import mask as mask_utils

from .rle import MaskSet, mask_iou

__all__ = [
    "APResult",
    "Detections",
    "GroundTruth",
    "IOU_THRESHOLDS",
    "RECALL_THRESHOLDS",
    "image_ap",
    "images_ap",
    "to_rle",
]

# COCOeval's Params.setDetParams, expression for expression (the matching compares against these floats).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
IOU_THRESHOLDS.flags.writeable = False
RECALL_THRESHOLDS.flags.writeable = False
MAX_DETS = 100
AREA_MIN, AREA_MAX = 0.0**2, 1e5**2  # the "all" area range

_I50 = int(np.flatnonzero(IOU_THRESHOLDS == 0.5)[0])
_I75 = int(np.flatnonzero(IOU_THRESHOLDS == 0.75)[0])
_EPS = float(np.spacing(1))

Rle = Mapping[str, Any]


class APResult(NamedTuple):
    """COCOeval's stats[0], stats[1], stats[2] for one image; NaN where COCOeval reports -1."""

    ap: float
    ap50: float
    ap75: float


_UNDEFINED = APResult(float("nan"), float("nan"), float("nan"))


def to_rle(segmentation: Any, height: int, width: int) -> dict:
    """A COCO ``segmentation`` (polygons, uncompressed or compressed RLE) as a compressed RLE.

    The same conversion as ``COCO.annToRLE``: polygons are rasterised and merged into one mask.
    """
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation["counts"], list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def _boxes(boxes: Any, n: int, what: str) -> np.ndarray | None:
    if boxes is None:
        return None
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] != n:
        raise ValueError(f"{what}: boxes must have shape ({n}, 4) in COCO xywh, got {arr.shape}")
    return arr


def _vector(values: Any, dtype: Any) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(-1)


def _masks(masks: Sequence[Rle] | None, n: int, what: str) -> list | None:
    if masks is None:
        return None
    masks = list(masks)
    if len(masks) != n:
        raise ValueError(f"{what}: {len(masks)} masks for {n} objects")
    return masks


def _mask_areas(masks: list) -> np.ndarray:
    if not masks:
        return np.zeros(0)
    return np.asarray(mask_utils.area(masks), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Ground truth of one image (arrays are taken as they are, without a copy: treat them as read-only).

    category_ids: (n,); boxes: (n, 4) COCO xywh in pixels (needed for iou_type "bbox"); iscrowd: (n,) bool
    (default all False); areas: (n,) the annotations' ``area`` (default ``w * h``, or the mask area when
    there are no boxes); masks: n RLE dicts in pycocotools' compressed format (needed for iou_type "segm";
    see :func:`to_rle`).
    """

    category_ids: np.ndarray
    boxes: np.ndarray | None = None
    iscrowd: np.ndarray | None = None
    areas: np.ndarray | None = None
    masks: list | None = None

    def __post_init__(self) -> None:
        cats = _vector(self.category_ids, np.int64)
        n = cats.size
        boxes = _boxes(self.boxes, n, "ground truth")
        masks = _masks(self.masks, n, "ground truth")
        if boxes is None and masks is None:
            raise ValueError("ground truth needs boxes or masks")
        crowd = np.zeros(n, bool) if self.iscrowd is None else _vector(self.iscrowd, bool)
        if self.areas is not None:
            areas = _vector(self.areas, np.float64)
        elif boxes is not None:
            areas = boxes[:, 2] * boxes[:, 3]
        else:
            areas = _mask_areas(masks)
        if crowd.size != n or areas.size != n:
            raise ValueError(f"ground truth: iscrowd and areas must have {n} entries")
        object.__setattr__(self, "category_ids", cats)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "iscrowd", crowd)
        object.__setattr__(self, "areas", areas)
        object.__setattr__(self, "masks", masks)

    def __len__(self) -> int:
        return int(self.category_ids.size)

    @classmethod
    def from_annotations(
        cls, annotations: Sequence[Mapping[str, Any]], height: int | None = None, width: int | None = None
    ) -> "GroundTruth":
        """From COCO annotation dicts (``bbox``, ``category_id``, ``iscrowd``, ``area``, ``segmentation``).

        Masks are kept when every annotation has a ``segmentation``; polygons and uncompressed RLEs need
        ``height`` and ``width`` (the image's), as in ``COCO.annToRLE``.
        """
        anns = list(annotations)
        masks = None
        if anns and all("segmentation" in a for a in anns):
            masks = [
                a["segmentation"] if height is None else to_rle(a["segmentation"], height, width)
                for a in anns
            ]
        elif not anns:
            masks = []
        boxes = [a["bbox"] for a in anns] if all("bbox" in a for a in anns) else None
        areas = [a["area"] for a in anns] if all("area" in a for a in anns) else None
        return cls(
            category_ids=[a["category_id"] for a in anns],
            boxes=boxes,
            iscrowd=[bool(a.get("iscrowd", 0)) for a in anns],
            areas=areas,
            masks=masks,
        )


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections of one image: boxes (m, 4) xywh (for "bbox"), scores (m,), category_ids (m,), masks (m
    compressed RLE dicts, for "segm")."""

    scores: np.ndarray
    category_ids: np.ndarray
    boxes: np.ndarray | None = None
    masks: list | None = None

    def __post_init__(self) -> None:
        scores = _vector(self.scores, np.float64)
        cats = _vector(self.category_ids, np.int64)
        m = scores.size
        if cats.size != m:
            raise ValueError(f"detections: {cats.size} category ids for {m} scores")
        if not np.isfinite(scores).all():
            raise ValueError("detections: scores must be finite numbers")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "category_ids", cats)
        object.__setattr__(self, "boxes", _boxes(self.boxes, m, "detections"))
        object.__setattr__(self, "masks", _masks(self.masks, m, "detections"))
        if self.boxes is None and self.masks is None:
            raise ValueError("detections need boxes or masks")

    def __len__(self) -> int:
        return int(self.scores.size)

    @classmethod
    def from_results(cls, results: Sequence[Mapping[str, Any]]) -> "Detections":
        """From COCO result dicts (``bbox`` and/or ``segmentation``, ``score``, ``category_id``)."""
        res = list(results)
        boxes = [r["bbox"] for r in res] if all("bbox" in r for r in res) else None
        masks = [r["segmentation"] for r in res] if all("segmentation" in r for r in res) else None
        if not res:
            boxes, masks = np.zeros((0, 4)), []
        return cls(
            scores=[r["score"] for r in res],
            category_ids=[r["category_id"] for r in res],
            boxes=boxes,
            masks=masks,
        )


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What one ground truth contributes to every evaluation against it."""

    iou_type: str
    cats: np.ndarray  # (K,) sorted ids of the categories that count
    k: np.ndarray  # (G,) category index of each kept gt; kept gts in COCOeval's order (ignored last)
    ignore: np.ndarray  # (G,) bool
    crowd: np.ndarray  # (G,) bool
    any_crowd: bool
    box_terms: tuple | None  # x, y, x + w, y + h, w * h of the kept gts, each (G,)
    masks: MaskSet | None  # the kept gts' masks, decoded, for "segm"
    npig: np.ndarray  # (K,) non-ignored gts per category


@numba.njit(cache=True, nogil=True)
def _gt_order(category_ids, iscrowd, areas, area_min, area_max) -> tuple:
    """The categories that count (sorted ids with a non-ignored gt), the gts of those categories in
    COCOeval's order (non-ignored first, each group in input order), their category indices, and the
    non-ignored count per category."""
    n = category_ids.size
    ignored = iscrowd | (areas < area_min) | (areas > area_max)
    cats = np.unique(category_ids[~ignored])
    keep = np.empty(n, np.int64)
    k = np.empty(n, np.int64)
    counts = np.zeros(cats.size, np.int64)
    m = 0
    for second in (False, True):  # COCOeval's stable sort on the ignore flag
        for i in range(n):
            if ignored[i] != second:
                continue
            j = np.searchsorted(cats, category_ids[i])
            if j < cats.size and cats[j] == category_ids[i]:
                keep[m] = i
                k[m] = j
                m += 1
                if not second:
                    counts[j] += 1
    return cats, keep[:m], k[:m], counts


def _prepare(gt: GroundTruth, iou_type: str) -> _Prepared:
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', not {iou_type!r}")
    if iou_type == "bbox" and gt.boxes is None:
        raise ValueError("iou_type 'bbox' needs ground-truth boxes")
    if iou_type == "segm" and gt.masks is None:
        raise ValueError("iou_type 'segm' needs ground-truth masks")
    cats, keep, k, counts = _gt_order(gt.category_ids, gt.iscrowd, gt.areas, AREA_MIN, AREA_MAX)
    ignore = np.arange(keep.size) >= counts.sum()
    crowd = gt.iscrowd[keep]
    box_terms = None
    if iou_type == "bbox":
        x, y, w, h = gt.boxes[keep].T
        box_terms = (x, y, w + x, h + y, w * h)
    masks = None
    if iou_type == "segm" and keep.size:
        masks = MaskSet.from_rles([gt.masks[i] for i in keep.tolist()])
    return _Prepared(
        iou_type=iou_type,
        cats=cats,
        k=k,
        ignore=ignore,
        crowd=crowd,
        any_crowd=bool(crowd.any()),
        box_terms=box_terms,
        masks=masks,
        npig=counts.astype(np.float64),
    )


def _check(dt: Detections, iou_type: str) -> None:
    if iou_type == "bbox" and dt.boxes is None:
        raise ValueError("iou_type 'bbox' needs detection boxes")
    if iou_type == "segm" and dt.masks is None:
        raise ValueError("iou_type 'segm' needs detection masks")


@numba.njit(cache=True, nogil=True)
def _select_kernel(cats: np.ndarray, det_cats: np.ndarray, scores: np.ndarray, max_dets: int) -> tuple:
    k = np.searchsorted(cats, det_cats)
    kept = np.empty(det_cats.size, np.int64)
    m = 0
    for i in range(det_cats.size):
        if k[i] < cats.size and cats[k[i]] == det_cats[i]:
            kept[m] = i
            m += 1
    kept = kept[:m]
    # by score, then by category, both stable (mergesort): ties keep the input order, as in COCOeval
    kept = kept[np.argsort(-scores[kept], kind="mergesort")]
    kept = kept[np.argsort(k[kept], kind="mergesort")]
    idx = np.empty(m, np.int64)
    ks = np.empty(m, np.int64)
    n = 0
    rank = 0
    for j in range(m):
        i = kept[j]
        rank = rank + 1 if j and k[i] == k[kept[j - 1]] else 0
        if rank < max_dets:
            idx[n] = i
            ks[n] = k[i]
            n += 1
    return idx[:n], ks[:n]


def _select(prep: _Prepared, dt: Detections) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the detections COCOeval evaluates, grouped by category and sorted by score within
    each (stable), at most MAX_DETS per category; and their category indices."""
    if prep.cats.size == 0 or dt.scores.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return _select_kernel(prep.cats, dt.category_ids, dt.scores, MAX_DETS)


def _box_iou(prep: _Prepared, d: np.ndarray, same: np.ndarray) -> np.ndarray:
    """pycocotools' bbIou, the same float operations in the same order; 0 where not ``same``."""
    gx, gy, gx2, gy2, ga = prep.box_terms
    dx, dy, dw, dh = (d[:, i : i + 1] for i in range(4))
    w = np.minimum(dw + dx, gx2) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gy2) - np.maximum(dy, gy)
    i = w * h
    da = dw * dh
    u = da + ga - i
    if prep.any_crowd:
        u = np.where(prep.crowd, da, u)
    return np.divide(i, u, out=np.zeros(i.shape), where=same & (w > 0) & (h > 0))


@numba.njit(cache=True, nogil=True)
def _evaluate(iou, k, npig, ignore, crowd, out, iou_thresholds, recall_thresholds) -> np.ndarray:
    """COCOeval's evaluateImg, accumulate and summarize for one image, loop for loop: returns the sum, per
    IoU threshold (T,), of the precision read at every recall threshold of every category.

    iou (D, G) is 0 across categories; detections are grouped by category index k (ascending) and by
    score within each; gts have the ignored ones last; ``out`` marks detections whose area is outside the
    range (ignored when unmatched).
    """
    D, G = iou.shape
    T = iou_thresholds.size
    matched = np.zeros((T, D), np.bool_)
    ignored = np.zeros((T, D), np.bool_)
    for t in range(T):  # evaluateImg's greedy matching
        gt_taken = np.zeros(G, np.bool_)
        for d in range(D):
            best = min(iou_thresholds[t], 1 - 1e-10)
            m = -1
            for g in range(G):
                if gt_taken[g] and not crowd[g]:
                    continue
                if m > -1 and not ignore[m] and ignore[g]:
                    break
                if iou[d, g] < best:
                    continue
                best = iou[d, g]
                m = g
            if m > -1:
                matched[t, d] = True
                ignored[t, d] = ignore[m]
                gt_taken[m] = True
            else:
                ignored[t, d] = out[d]
    sums = np.zeros(T)
    rc = np.empty(D)
    pr = np.empty(D)
    start = 0
    for c in range(npig.size):  # accumulate, category by category
        end = start
        while end < D and k[end] == c:
            end += 1
        n = end - start
        for t in range(T):
            tp = 0.0
            fp = 0.0
            for j in range(n):
                d = start + j
                if not ignored[t, d]:
                    if matched[t, d]:
                        tp += 1.0
                    else:
                        fp += 1.0
                rc[j] = tp / npig[c]
                pr[j] = tp / (fp + tp + _EPS)
            for j in range(n - 1, 0, -1):  # precision made monotone from the right
                if pr[j] > pr[j - 1]:
                    pr[j - 1] = pr[j]
            j = 0
            for r in recall_thresholds:  # searchsorted(rc, r, "left"); 0 past the last recall
                while j < n and rc[j] < r:
                    j += 1
                if j == n:
                    break
                sums[t] += pr[j]
        start = end
    return sums


def _summarize(prep: _Prepared, iou: np.ndarray, k: np.ndarray, out: np.ndarray | None) -> APResult:
    if out is None:
        out = np.zeros(k.size, bool)
    sums = _evaluate(iou, k, prep.npig, prep.ignore, prep.crowd, out, IOU_THRESHOLDS, RECALL_THRESHOLDS)
    n = prep.npig.size * RECALL_THRESHOLDS.size
    return APResult(float(sums.sum() / (n * sums.size)), float(sums[_I50] / n), float(sums[_I75] / n))


def _box_iou_out(prep: _Prepared, dt: Detections, idx: np.ndarray, k: np.ndarray) -> tuple:
    """Box IoU of the selected detections, and which of them have an area outside the range."""
    boxes = dt.boxes[idx]
    area = boxes[:, 2] * boxes[:, 3]
    out = (area < AREA_MIN) | (area > AREA_MAX)
    return _box_iou(prep, boxes, k[:, None] == prep.k[None, :]), out


def _mask_iou(prep: _Prepared, rles: list, k: np.ndarray) -> np.ndarray:
    """(D, G) mask IoU, pycocotools' values, 0 across categories."""
    dts = MaskSet.from_rles(rles, (prep.masks.height, prep.masks.width))  # one size with the gts
    return mask_iou(dts, prep.masks, prep.crowd, k, prep.k, floor=IOU_THRESHOLDS[0])


def image_ap(gt: GroundTruth, dt: Detections, iou_type: str = "bbox") -> APResult:
    """COCOeval's AP@[.50:.95], AP50 and AP75 for one image (NaN where COCOeval reports -1)."""
    prep = _prepare(gt, iou_type)
    _check(dt, iou_type)
    if prep.cats.size == 0:
        return _UNDEFINED
    idx, k = _select(prep, dt)
    if idx.size == 0:
        return APResult(0.0, 0.0, 0.0)
    if iou_type == "bbox":
        iou, out = _box_iou_out(prep, dt, idx, k)
    else:  # pycocotools' mask areas are uint32: never outside [0, 1e10]
        iou, out = _mask_iou(prep, [dt.masks[i] for i in idx.tolist()], k), None
    return _summarize(prep, iou, k, out)


def images_ap(gt: GroundTruth, dts: Sequence[Detections], iou_type: str = "bbox") -> list[APResult]:
    """``image_ap(gt, dt)`` for each of many detection sets against one ground truth (e.g. one oracle on
    every degraded version of an image), sharing the ground-truth work and, for masks, one IoU call."""
    prep = _prepare(gt, iou_type)
    dts = list(dts)
    for dt in dts:
        _check(dt, iou_type)
    if prep.cats.size == 0:
        return [_UNDEFINED] * len(dts)
    selected = [_select(prep, dt) for dt in dts]
    if iou_type == "segm":  # one IoU call per category for all the detection sets
        rles = [dt.masks[i] for dt, (idx, _) in zip(dts, selected) for i in idx.tolist()]
        ks = [k for _, k in selected]
        all_iou = _mask_iou(prep, rles, np.concatenate(ks) if ks else np.zeros(0, np.int64))
        bounds = np.cumsum([0] + [idx.size for idx, _ in selected])
    results = []
    for n, (dt, (idx, k)) in enumerate(zip(dts, selected)):
        if idx.size == 0:
            results.append(APResult(0.0, 0.0, 0.0))
            continue
        if iou_type == "segm":
            iou, out = all_iou[bounds[n] : bounds[n + 1]], None
        else:
            iou, out = _box_iou_out(prep, dt, idx, k)
        results.append(_summarize(prep, iou, k, out))
    return results
