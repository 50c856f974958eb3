"""Per-image COCO AP: oracles.labels.ap against pycocotools' COCOeval run on each image.

Run: ``python -m benchmarks.bench_ap [--cases 200] [--repeats 3]``. Realistic cases: a 640x480 image with
5-20 ground-truth objects in 1-6 COCO categories (some crowd), 20-100 detections (jittered hits, duplicates,
false positives); masks drawn from polygons for "segm". COCOeval's time per image covers what evaluating
one image costs it: COCO objects built in memory (gt, loadRes), evaluate, accumulate, summarize, prints
silenced; with the image's categories as the dataset's categories (the cheapest way), and with COCO's 80
(what a per-image loop over instances files does). Ours covers building GroundTruth/Detections from arrays
and ``image_ap``; the batch line is ``images_ap`` on groups of 25 detection sets against one ground truth
(one oracle on the degraded versions of a source), per image. Every result is checked equal to COCOeval's
(1e-9) before its timing counts.
Timing is interleaved by ground truth (COCOeval and ours on the same 25 images, one after the other, so
that both see the same machine load); each figure is the best of ``--repeats`` runs, summed over groups.
For "segm" it also times the pycocotools.mask.iou calls alone (per category and image, as COCOeval makes
them), which bounded image_ap while it used them; it now counts mask pixels itself (oracles.labels.rle).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from oracles.labels.ap import Detections, GroundTruth, image_ap, images_ap

COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in
                     (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]  # the 80 ids of COCO's instances files
HEIGHT, WIDTH = 480, 640
GROUP = 25


def _polygon(rng, box):
    x, y, bw, bh = box
    n = int(rng.integers(5, 13))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.6, 1.0, n)
    px = np.clip(x + bw / 2 + np.cos(ang) * rad * bw / 2, 0, WIDTH)
    py = np.clip(y + bh / 2 + np.sin(ang) * rad * bh / 2, 0, HEIGHT)
    return np.stack([px, py], 1)


def _rle(poly):
    return mask_utils.merge(mask_utils.frPyObjects([poly.ravel().tolist()], HEIGHT, WIDTH))


def make_gt(rng):
    n = int(rng.integers(5, 21))
    cats = rng.choice(COCO_CATEGORY_IDS, int(rng.integers(1, 7)), replace=False)
    size = rng.uniform(0.04, 0.5, (n, 2)) * [WIDTH, HEIGHT]
    xy = rng.uniform(0, 1, (n, 2)) * ([WIDTH, HEIGHT] - size)
    boxes = np.concatenate([xy, size], 1)
    polys = [_polygon(rng, b) for b in boxes]
    return {
        "boxes": boxes,
        "category_ids": rng.choice(cats, n),
        "iscrowd": rng.random(n) < 0.05,
        "polys": polys,
        "masks": [_rle(p) for p in polys],
    }


def make_dt(rng, gt, iou_type):
    m = int(rng.integers(20, 101))
    scale = rng.uniform(0.02, 0.15)
    src = rng.integers(0, len(gt["boxes"]), m)
    hit = rng.random(m) < 0.5  # about half around a gt object, the rest false positives
    boxes, masks = [], []
    for i in range(m):
        if hit[i]:
            x, y, bw, bh = gt["boxes"][src[i]]
            shift = rng.normal(0, scale, 2) * [bw, bh]
            grow = np.exp(rng.normal(0, scale, 2))
            box = np.array([x + shift[0], y + shift[1], bw * grow[0], bh * grow[1]])
            if iou_type == "segm":
                p = gt["polys"][src[i]]
                c = np.array([x + bw / 2, y + bh / 2])
                p = (p - c) * grow + c + shift + rng.normal(0, scale / 3, p.shape) * [bw, bh]
                masks.append(_rle(np.clip(p, 0, [WIDTH, HEIGHT])))
        else:
            size = rng.uniform(0.02, 0.4, 2) * [WIDTH, HEIGHT]
            box = np.concatenate([rng.uniform(0, 1, 2) * ([WIDTH, HEIGHT] - size), size])
            if iou_type == "segm":
                masks.append(_rle(_polygon(rng, box)))
        boxes.append(box)
    cats = np.where(hit & (rng.random(m) < 0.95), gt["category_ids"][src], rng.choice(COCO_CATEGORY_IDS, m))
    return {"boxes": np.array(boxes), "scores": np.round(rng.random(m), 3), "category_ids": cats,
            "masks": masks if iou_type == "segm" else None}


def cocoeval_stats(gt, dt, iou_type, category_ids):
    """COCOeval on one image from scratch, as a per-image label loop would run it."""
    anns = []
    for i, (box, cat, crowd) in enumerate(zip(gt["boxes"], gt["category_ids"], gt["iscrowd"])):
        ann = {"id": i + 1, "image_id": 1, "category_id": int(cat), "bbox": box.tolist(),
               "area": float(box[2] * box[3]), "iscrowd": int(crowd)}
        if iou_type == "segm":
            ann["segmentation"] = gt["masks"][i]
        anns.append(ann)
    results = []
    for i, (score, cat) in enumerate(zip(dt["scores"].tolist(), dt["category_ids"].tolist())):
        r = {"image_id": 1, "category_id": cat, "score": score}
        if iou_type == "segm":
            r["segmentation"] = dt["masks"][i]
        else:
            r["bbox"] = dt["boxes"][i].tolist()
        results.append(r)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": [{"id": 1, "height": HEIGHT, "width": WIDTH}],
                           "categories": [{"id": int(c)} for c in category_ids], "annotations": anns}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.params.imgIds = [1]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.where(ev.stats[:3] == -1, np.nan, ev.stats[:3])


def mask_iou_per_category(gt, dt):
    """Only the mask IoU calls COCOeval.computeIoU makes (one per category with gt and detections)."""
    for c in set(gt["category_ids"].tolist()) & set(dt["category_ids"].tolist()):
        g = np.flatnonzero(gt["category_ids"] == c)
        d = np.flatnonzero(dt["category_ids"] == c)
        mask_utils.iou([dt["masks"][i] for i in d], [gt["masks"][i] for i in g], gt["iscrowd"][g].tolist())


def ours(gt, dt, iou_type):
    g = GroundTruth(category_ids=gt["category_ids"], boxes=gt["boxes"], iscrowd=gt["iscrowd"],
                    areas=gt["boxes"][:, 2] * gt["boxes"][:, 3], masks=gt["masks"])
    d = Detections(scores=dt["scores"], category_ids=dt["category_ids"], boxes=dt["boxes"], masks=dt["masks"])
    return image_ap(g, d, iou_type)


def ours_batch(gt, dts, iou_type):
    g = GroundTruth(category_ids=gt["category_ids"], boxes=gt["boxes"], iscrowd=gt["iscrowd"],
                    areas=gt["boxes"][:, 2] * gt["boxes"][:, 3], masks=gt["masks"])
    ds = [Detections(scores=dt["scores"], category_ids=dt["category_ids"], boxes=dt["boxes"], masks=dt["masks"])
          for dt in dts]
    return images_ap(g, ds, iou_type)


def _best(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench(iou_type, n_cases, repeats, seed=0):
    rng = np.random.default_rng([seed, iou_type == "segm"])
    n_groups = max(1, n_cases // GROUP)
    gts = [make_gt(rng) for _ in range(n_groups)]
    groups = [(gt, [make_dt(rng, gt, iou_type) for _ in range(GROUP)]) for gt in gts]
    n_cases = n_groups * GROUP

    # Interleaved: each group's COCOeval runs, then ours on the same images, so that both see the same
    # machine load; each figure is the best of `repeats` runs, summed over the groups.
    t_coco = t_coco80 = t_ours = t_batch = t_floor = 0.0
    for gt, dts in groups:
        cats = sorted(set(gt["category_ids"].tolist()))
        ref = np.array([cocoeval_stats(gt, dt, iou_type, cats) for dt in dts])
        ref80 = np.array([cocoeval_stats(gt, dt, iou_type, COCO_CATEGORY_IDS) for dt in dts])
        single = np.array([ours(gt, dt, iou_type) for dt in dts])
        batch = np.array(ours_batch(gt, dts, iou_type))
        for got in (ref80, single, batch):  # the same numbers, or the timings mean nothing
            assert np.allclose(got, ref, rtol=0, atol=1e-9, equal_nan=True)
        t_coco += _best(lambda: [cocoeval_stats(gt, dt, iou_type, cats) for dt in dts], repeats)
        t_coco80 += _best(lambda: [cocoeval_stats(gt, dt, iou_type, COCO_CATEGORY_IDS) for dt in dts], repeats)
        t_ours += _best(lambda: [ours(gt, dt, iou_type) for dt in dts], repeats)
        t_batch += _best(lambda: ours_batch(gt, dts, iou_type), repeats)
        if iou_type == "segm":
            t_floor += _best(lambda: [mask_iou_per_category(gt, dt) for dt in dts], repeats)
    t_coco, t_coco80, t_ours, t_batch, t_floor = (
        t / n_cases for t in (t_coco, t_coco80, t_ours, t_batch, t_floor))
    n_gt = np.mean([len(gt["boxes"]) for gt, _ in groups])
    n_dt = np.mean([len(dt["scores"]) for _, dts in groups for dt in dts])
    print(f"[{iou_type}] {n_cases} images ({n_groups} ground truths x {GROUP} detection sets), "
          f"{n_gt:.1f} gt and {n_dt:.1f} detections on average, all equal to COCOeval (1e-9)")
    print(f"  COCOeval per image (image's categories):  {t_coco * 1e3:8.3f} ms")
    print(f"  COCOeval per image (80 COCO categories):  {t_coco80 * 1e3:8.3f} ms")
    print(f"  image_ap per image:                       {t_ours * 1e3:8.3f} ms   "
          f"x{t_coco / t_ours:6.1f} faster (x{t_coco80 / t_ours:.1f} vs 80 categories)")
    print(f"  images_ap per image (groups of {GROUP}):      {t_batch * 1e3:8.3f} ms   "
          f"x{t_coco / t_batch:6.1f} faster (x{t_coco80 / t_batch:.1f} vs 80 categories)")
    if iou_type == "segm":
        print(f"  pycocotools.mask.iou alone, per category per image as COCOeval calls it: {t_floor * 1e3:.3f} ms"
              f" (COCOeval / that: x{t_coco / t_floor:.1f}; image_ap counts mask pixels itself)")
    return {"cocoeval_s": t_coco, "cocoeval80_s": t_coco80, "image_ap_s": t_ours, "images_ap_s": t_batch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for iou_type in ("bbox", "segm"):
        bench(iou_type, args.cases, args.repeats)


if __name__ == "__main__":
    main()
