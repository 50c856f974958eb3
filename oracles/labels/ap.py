"""Per-image COCO average precision, equal to pycocotools' COCOeval run on that one image.

``image_ap(gt, dt, iou_type)`` returns the ``stats[0:3]`` (AP@[.50:.95], AP50, AP75) that
``COCOeval(cocoGt, cocoDt, iou_type)`` gives with ``params.imgIds = [that image]`` and the default
parameters (IoU thresholds .50:.05:.95, 101 recall points, maxDets 100, area range "all", useCats=1), and
NaN where COCOeval reports -1 (no category of the image has a non-crowd ground-truth object).

It replicates COCOeval step by step, without its per-(category, area range, image) Python loops:

- a category counts when it has at least one non-ignored ground truth (not crowd, area in [0, 1e10]);
  detections in other categories change nothing, categories with ground truth but no detection give 0;
- per category, detections are sorted by score with a stable sort (COCOeval's mergesort) and cut to 100;
- IoU is pycocotools' own: the box formula of ``maskApi.c`` re-done in numpy operation for operation (so
  bit-identical), and ``pycocotools.mask.iou`` for masks, called once per category as COCOeval does; a
  crowd gt scores intersection / detection area;
- greedy matching per IoU threshold in score order: each detection takes the unmatched regular gt of best
  IoU (last one on ties, as COCOeval's ``<`` test does), else the best ignored gt (crowd gts match any
  number of times); a detection matched to an ignored gt is ignored, an unmatched one whose area is outside
  [0, 1e10] too;
- precision and recall as COCOeval's ``accumulate`` (the same float expressions, right-to-left running
  maximum, ``searchsorted`` of the 101 recall thresholds, 0 past the last recall reached), averaged as
  ``summarize`` (to ~1e-16: the sums run in another order).

Two changes of form make it fast. The matching runs the ten thresholds at once: a gt's matched state is a
10-bit mask, and a detection walks only the gts it overlaps at IoU >= 0.5, best first, taking each one's
still-free thresholds. And since recall only moves at true positives, the precision COCOeval reads at a
recall threshold is the running maximum at the true positive that first reaches it: a (threshold,
category, j-th true positive) table weighted by how many of the 101 thresholds fall on each j.

Areas only matter outside the "all" range [0, 1e10]: a detection's area is ``w * h`` for boxes (as
``COCO.loadRes``; a negative one makes an unmatched box ignored) and its mask area for masks (uint32 in
pycocotools: never outside); a ground truth's is the annotation ``area`` (``areas``; by default ``w * h``,
or the mask area). Ground-truth ids play no part (COCOeval needs them non-zero).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from pycocotools import mask as mask_utils

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

_T = IOU_THRESHOLDS.size
_FULL = (1 << _T) - 1
_SHIFTS = np.arange(_T, dtype=np.int64)[:, None]
_SHIFTS.flags.writeable = False
_I50 = int(np.flatnonzero(IOU_THRESHOLDS == 0.5)[0])
_I75 = int(np.flatnonzero(IOU_THRESHOLDS == 0.75)[0])
_EPS = np.spacing(1)
_RECALL_LIST = tuple(RECALL_THRESHOLDS.tolist())

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
    crowd_list: list
    ignore_list: list
    any_crowd: bool
    box_terms: tuple | None  # x, y, x + w, y + h, w * h of the kept gts, each (G,)
    by_category: list | None  # per category: (gt columns, their masks, their crowd flags), for "segm"
    recall_weights: np.ndarray  # (K, W): how many recall thresholds the j-th true positive reaches first


def _weights_for(n: int) -> tuple:
    """For a category with n non-ignored gts, COCOeval's recall after j true positives is rc = j / n, and
    the precision it reports at recall threshold r is the one at the first j with j / n >= r (searchsorted,
    side "left"). Entry j = how many of the 101 thresholds land on j (the same float comparisons), so that
    the sum over the thresholds is a weighted sum over j."""
    reached = [bisect.bisect_right(_RECALL_LIST, j / n) for j in range(n + 1)]  # thresholds <= j / n
    return tuple([reached[0]] + [b - a for a, b in zip(reached, reached[1:])])


_WEIGHTS = tuple(_weights_for(n) if n else () for n in range(65))  # a constant table for common counts


def _recall_weights(npig: list[int]) -> np.ndarray:
    """(K, W) recall-threshold weights of the categories' true positives (see :func:`_weights_for`)."""
    width = max(npig) + 1
    rows = [list(_WEIGHTS[n] if n < len(_WEIGHTS) else _weights_for(n)) for n in npig]
    return np.array([row + [0] * (width - len(row)) for row in rows], np.float64)


def _prepare(gt: GroundTruth, iou_type: str) -> _Prepared:
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', not {iou_type!r}")
    if iou_type == "bbox" and gt.boxes is None:
        raise ValueError("iou_type 'bbox' needs ground-truth boxes")
    if iou_type == "segm" and gt.masks is None:
        raise ValueError("iou_type 'segm' needs ground-truth masks")
    cat_list = gt.category_ids.tolist()
    ignore_all = (gt.iscrowd | (gt.areas < AREA_MIN) | (gt.areas > AREA_MAX)).tolist()
    cats = sorted({c for c, ig in zip(cat_list, ignore_all) if not ig})
    index = {c: n for n, c in enumerate(cats)}
    # the gts of those categories, ignored ones last (COCOeval's stable sort on the ignore flag)
    keep = [i for i, c in enumerate(cat_list) if c in index and not ignore_all[i]]
    npig = len(keep)
    keep += [i for i, c in enumerate(cat_list) if c in index and ignore_all[i]]
    k_list = [index[cat_list[i]] for i in keep]
    counts = [0] * len(cats)
    for kk in k_list[:npig]:
        counts[kk] += 1
    ignore_list = [False] * npig + [True] * (len(keep) - npig)
    crowd = gt.iscrowd[keep]
    box_terms = None
    if iou_type == "bbox":
        x, y, w, h = gt.boxes[keep].T
        box_terms = (x, y, w + x, h + y, w * h)
    by_category = None
    if iou_type == "segm":
        by_category = [([], [], []) for _ in cats]
        for col, (i, kk) in enumerate(zip(keep, k_list)):
            cols, masks, flags = by_category[kk]
            cols.append(col)
            masks.append(gt.masks[i])
            flags.append(int(gt.iscrowd[i]))
    return _Prepared(
        iou_type=iou_type,
        cats=np.array(cats, np.int64),
        k=np.array(k_list, np.int64),
        ignore=np.array(ignore_list, bool),
        crowd=crowd,
        crowd_list=crowd.tolist(),
        ignore_list=ignore_list,
        any_crowd=bool(crowd.any()),
        box_terms=box_terms,
        by_category=by_category,
        recall_weights=_recall_weights(counts) if cats else np.zeros((0, 1)),
    )


def _check(dt: Detections, iou_type: str) -> None:
    if iou_type == "bbox" and dt.boxes is None:
        raise ValueError("iou_type 'bbox' needs detection boxes")
    if iou_type == "segm" and dt.masks is None:
        raise ValueError("iou_type 'segm' needs detection masks")


def _select(prep: _Prepared, dt: Detections) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the detections COCOeval evaluates, grouped by category and sorted by score within
    each (stable), at most MAX_DETS per category; and their category indices."""
    K = prep.cats.size
    if K == 0 or dt.scores.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    k = np.minimum(np.searchsorted(prep.cats, dt.category_ids), K - 1)
    idx = np.flatnonzero(prep.cats[k] == dt.category_ids)
    k = k[idx]
    order = np.lexsort((-dt.scores[idx], k))  # lexsort is stable: ties keep the input order
    idx, k = idx[order], k[order]
    if idx.size > MAX_DETS:
        rank = np.arange(idx.size) - np.searchsorted(k, k, side="left")
        cut = rank < MAX_DETS
        idx, k = idx[cut], k[cut]
    return idx, k


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


def _match(prep: _Prepared, iou: np.ndarray) -> np.ndarray:
    """COCOeval's greedy matching at every IoU threshold (``iou`` is 0 across categories): bit t of the
    returned (2, D) int masks says the detection matched a regular gt (row 0) or an ignored gt (row 1)."""
    D = iou.shape[0]
    di, gi = np.nonzero(iou >= IOU_THRESHOLDS[0])
    if di.size == 0:
        return np.zeros((2, D), np.int64)
    v = iou[di, gi]
    bits = (np.int64(1) << np.searchsorted(IOU_THRESHOLDS, v, side="right")) - 1
    # per detection: regular gts first, then best IoU first, then the later gt first (COCOeval's tie rule)
    order = np.lexsort((-gi, -v, prep.ignore[gi], di))
    crowd = prep.crowd_list
    ignore = prep.ignore_list
    matched = [0] * len(crowd)
    tpl = [0] * D
    igl = [0] * D
    cur, rem = -1, 0
    for d, g, b in zip(di[order].tolist(), gi[order].tolist(), bits[order].tolist()):
        if d != cur:
            cur, rem = d, _FULL
        take = b & rem
        if not take:
            continue
        if not crowd[g]:
            take &= ~matched[g]
            if not take:
                continue
            matched[g] |= take
        rem &= ~take
        if ignore[g]:
            igl[d] |= take
        else:
            tpl[d] |= take
    return np.array([tpl, igl], np.int64)


def _accumulate(prep: _Prepared, k: np.ndarray, masks: np.ndarray, out: np.ndarray | None) -> APResult:
    """COCOeval.accumulate + summarize for one image, from the match masks of the selected detections
    (grouped by category, in score order) and which of them have an area outside the range."""
    K, width = prep.recall_weights.shape
    if out is not None and out.any():  # unmatched detections outside the area range are ignored too
        masks[1] = np.where(out, _FULL & ~masks[0], masks[1])
    flags = (masks[:, None, :] >> _SHIFTS) & 1  # (2, T, D): true positive, ignored
    ti, di = np.nonzero(flags[0])
    if ti.size == 0:
        return APResult(0.0, 0.0, 0.0)
    counts = np.zeros((2, _T, k.size + 1), np.int64)
    np.cumsum(flags, axis=2, out=counts[:, :, 1:])
    start = np.searchsorted(k, k, side="left")[di]
    before = counts[:, ti, start]
    j, n_ig = counts[:, ti, di + 1] - before  # TPs and ignored up to this TP, within its category
    tp = j.astype(np.float64)
    fp = (di - start + 1 - j - n_ig).astype(np.float64)
    # precision at the j-th true positive of each (threshold, category), COCOeval's expression
    pr = np.zeros((_T, K, width))
    pr[ti, k[di], j] = tp / (fp + tp + _EPS)
    # COCOeval's right-to-left running maximum, read at the recall thresholds (0 past the last TP)
    pmax = np.maximum.accumulate(pr[:, :, ::-1], axis=2)[:, :, ::-1]
    sums = (pmax * prep.recall_weights).sum(axis=(1, 2))  # (T,)
    n = K * RECALL_THRESHOLDS.size
    return APResult(float(sums.sum() / (n * _T)), float(sums[_I50] / n), float(sums[_I75] / n))


def _box_iou_out(prep: _Prepared, dt: Detections, idx: np.ndarray, k: np.ndarray) -> tuple:
    """Box IoU of the selected detections, and which of them have an area outside the range."""
    boxes = dt.boxes[idx]
    area = boxes[:, 2] * boxes[:, 3]
    out = (area < AREA_MIN) | (area > AREA_MAX)
    return _box_iou(prep, boxes, k[:, None] == prep.k[None, :]), out


def _mask_iou(prep: _Prepared, rles: list, k: np.ndarray) -> np.ndarray:
    """(D, G) mask IoU, 0 across categories: one pycocotools call per category (as COCOeval)."""
    iou = np.zeros((len(rles), prep.k.size))
    if not rles:
        return iou
    order = np.argsort(k, kind="stable")
    ks = k[order]
    bounds = np.flatnonzero(ks[1:] != ks[:-1]) + 1
    for a, b in zip([0, *bounds.tolist()], [*bounds.tolist(), ks.size]):
        cols, masks, crowd = prep.by_category[int(ks[a])]
        rows = order[a:b]
        iou[rows[:, None], cols] = mask_utils.iou([rles[i] for i in rows.tolist()], masks, crowd)
    return iou


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
    return _accumulate(prep, k, _match(prep, iou), out)


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
        results.append(_accumulate(prep, k, _match(prep, iou), out))
    return results
