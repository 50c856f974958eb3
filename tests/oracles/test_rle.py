"""oracles.labels.rle against pycocotools.mask.iou: the same float64 values, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from oracles.labels.rle import MaskSet, mask_iou

SEED = 20261122


def encode(masks: np.ndarray) -> list[dict]:
    """(n, h, w) bool masks as pycocotools' compressed RLEs."""
    return mask_utils.encode(np.asfortranarray(np.moveaxis(masks, 0, -1).astype(np.uint8)))


def blobs(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Object-like masks: ellipses, some with a hole or a bite (two pieces in a column), some touching
    the image's top and bottom (runs across column breaks), some empty."""
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros((n, h, w), bool)
    for i in range(n):
        kind = rng.random()
        if kind < 0.05:
            continue  # empty
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.5, max(h / 2, 1)), rng.uniform(0.5, max(w / 2, 1))
        if kind > 0.9:
            ry = h  # every row: runs go on into the next column
        m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        if rng.random() < 0.3:  # a hole or a bite
            m &= ((yy - cy - ry / 3) / (ry / 3 + 1)) ** 2 + ((xx - cx) / (rx / 2 + 1)) ** 2 > 1
        out[i] = m
    return out


@pytest.mark.parametrize("case", range(40))
def test_equals_pycocotools_on_object_masks(case):
    rng = np.random.default_rng([SEED, case])
    h, w = (int(v) for v in rng.integers(1, 90, 2))
    dt, gt = encode(blobs(rng, int(rng.integers(0, 12)), h, w)), encode(blobs(rng, int(rng.integers(1, 9)), h, w))
    crowd = rng.random(len(gt)) < 0.3
    got = mask_iou(MaskSet.from_rles(dt, (h, w)), MaskSet.from_rles(gt), crowd)
    want = mask_utils.iou(dt, gt, crowd.tolist()) if dt else np.zeros((0, len(gt)))
    assert got.shape == (len(dt), len(gt))
    assert np.array_equal(got, want)  # bit-identical doubles


@pytest.mark.parametrize("case", range(20))
def test_equals_pycocotools_on_noise(case):
    """Fragmented masks (many pieces per column) take the per-column merge."""
    rng = np.random.default_rng([SEED, 1, case])
    h, w = (int(v) for v in rng.integers(1, 40, 2))
    dt = encode(rng.random((7, h, w)) < rng.uniform(0.1, 0.9))
    gt = encode(rng.random((5, h, w)) < rng.uniform(0.1, 0.9))
    crowd = (rng.random(5) < 0.4).tolist()
    got = mask_iou(MaskSet.from_rles(dt), MaskSet.from_rles(gt), crowd)
    assert np.array_equal(got, mask_utils.iou(dt, gt, crowd))


def test_keys_and_floor():
    rng = np.random.default_rng([SEED, 2])
    dt, gt = encode(blobs(rng, 30, 60, 80)), encode(blobs(rng, 10, 60, 80))
    want = mask_utils.iou(dt, gt, [False] * 10)
    d_keys, g_keys = rng.integers(0, 3, 30), rng.integers(0, 3, 10)
    keyed = mask_iou(MaskSet.from_rles(dt), MaskSet.from_rles(gt), np.zeros(10, bool), d_keys, g_keys)
    same = d_keys[:, None] == g_keys[None, :]
    assert np.array_equal(keyed[same], want[same]) and not keyed[~same].any()
    floored = mask_iou(MaskSet.from_rles(dt), MaskSet.from_rles(gt), np.zeros(10, bool), floor=0.5)
    high = want >= 0.5
    assert high.any() and (want[~high] > 0).any()  # the case tests both sides of the floor
    assert np.array_equal(floored[high], want[high])
    assert np.all((floored[~high] == 0) | (floored[~high] == want[~high]))


def test_areas_and_str_counts():
    rng = np.random.default_rng([SEED, 3])
    rles = encode(blobs(rng, 6, 33, 47))
    as_str = [{"size": r["size"], "counts": r["counts"].decode("ascii")} for r in rles]  # as read from JSON
    masks = MaskSet.from_rles(as_str)
    assert len(masks) == 6
    as_str[0]["size"] = tuple(as_str[0]["size"])  # one size as a tuple, the others as lists: still one size
    assert len(MaskSet.from_rles(as_str, (33, 47))) == 6
    assert np.array_equal(masks.areas, mask_utils.area(rles))


def test_known_values():
    a = np.zeros((1, 4, 5), bool)
    a[0, 1:3, 1:4] = True  # 6 pixels
    b = np.zeros((1, 4, 5), bool)
    b[0, 2:4, 2:5] = True  # 6 pixels, 2 shared
    ra, rb = encode(a), encode(b)
    got = mask_iou(MaskSet.from_rles(ra), MaskSet.from_rles(rb), [False])
    assert got[0, 0] == 2 / 10
    assert mask_iou(MaskSet.from_rles(ra), MaskSet.from_rles(rb), [True])[0, 0] == 2 / 6  # crowd: over dt area


def test_rejects_bad_rles():
    good = encode(np.ones((1, 3, 4), bool))[0]
    with pytest.raises(ValueError, match="several sizes"):
        MaskSet.from_rles([good, encode(np.ones((1, 4, 3), bool))[0]])
    with pytest.raises(ValueError, match="several sizes"):
        MaskSet.from_rles([good], (4, 4))
    with pytest.raises(ValueError, match="no masks"):
        MaskSet.from_rles([])
    for counts in (b"", b"0;", b"3 9", b"\xff", good["counts"][:-1] + b"`"):  # short, cut, bad characters
        with pytest.raises(ValueError, match="RLE 0"):
            MaskSet.from_rles([{"size": [3, 4], "counts": counts}])
    with pytest.raises(ValueError, match="RLE 1"):  # the right size, but not its runs
        MaskSet.from_rles([good, {"size": [3, 4], "counts": b"5"}])
    with pytest.raises(ValueError, match="compressed RLE"):
        MaskSet.from_rles([{"size": [3, 4], "counts": [0, 12]}])
    with pytest.raises(ValueError, match="ground truth"):
        mask_iou(MaskSet.from_rles([good]), MaskSet.from_rles([], (4, 4)), [])
