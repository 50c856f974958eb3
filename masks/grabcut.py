"""GrabCut (Rother et al., 2004) with OpenCV, seeded by boxes or by a coarse mask.

Deterministic: OpenCV's RNG (GrabCut's k-means initialisation) is seeded before every call.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import cv2
import numpy as np

GRABCUT_SEED = 0
BOX_ITERATIONS = 3
BOX_MAX_SIDE = 400  # box GrabCut runs on a crop around each box, scaled to at most this side
_MIN_REFINED_FRACTION = 0.01  # GrabCut keeping less than this of a box counts as "nothing"


def run_grabcut(image: np.ndarray, labels: np.ndarray, iterations: int, rect: tuple[int, int, int, int] | None = None,
                ) -> np.ndarray | None:
    """GrabCut's foreground (bool) on an RGB image, from ``labels`` (cv2.GC_* per pixel, updated in place)
    or, with ``rect``, a rectangle; None when OpenCV cannot run it (no foreground or background sample)."""
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(GRABCUT_SEED)
    mode = cv2.GC_INIT_WITH_RECT if rect is not None else cv2.GC_INIT_WITH_MASK
    try:
        cv2.grabCut(np.ascontiguousarray(image[:, :, ::-1]), labels, rect, bgd, fgd, iterations, mode)
    except cv2.error:
        return None
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def seeds_from_mask(binary: np.ndarray, erosion: int) -> np.ndarray:
    """GrabCut labels from a coarse {0, 255} mask, as dino-vit-features seeds it: the mask eroded by an
    ``erosion`` x ``erosion`` square is sure foreground, its complement eroded alike sure background,
    the band between them probable foreground."""
    kernel = np.ones((erosion, erosion), np.uint8)
    fg = cv2.erode((binary > 0).astype(np.uint8), kernel) > 0
    bg = cv2.erode((binary == 0).astype(np.uint8), kernel) > 0
    labels = np.full(binary.shape, cv2.GC_PR_FGD, np.uint8)
    labels[bg] = cv2.GC_BGD
    labels[fg] = cv2.GC_FGD
    return labels


def grabcut_from_mask(image: np.ndarray, binary: np.ndarray, *, erosion: int = 7, iterations: int = 5) -> np.ndarray:
    """A coarse {0, 255} mask moved onto the image's edges by GrabCut (seeds: :func:`seeds_from_mask`);
    the mask itself when GrabCut cannot run (it is empty or full)."""
    fg = run_grabcut(image, seeds_from_mask(binary, erosion), iterations)
    if fg is None:
        return binary
    return fg.astype(np.uint8) * 255


# --------------------------------------------------------------------------------------------- boxes


def box_slices(box: Sequence[float], shape: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of a box (x0, y0, x1, y1 in pixels) clipped to ``shape``, outward-rounded."""
    height, width = shape
    x0 = min(max(int(math.floor(box[0])), 0), width)
    y0 = min(max(int(math.floor(box[1])), 0), height)
    x1 = min(max(int(math.ceil(box[2])), x0), width)
    y1 = min(max(int(math.ceil(box[3])), y0), height)
    return slice(y0, y1), slice(x0, x1)


def boxes_mask(boxes: Iterable[Sequence[float]], shape: tuple[int, int]) -> np.ndarray:
    """The union of ``boxes`` (x0, y0, x1, y1 in pixels) as a {0, 255} mask."""
    mask = np.zeros(shape, np.uint8)
    for box in boxes:
        mask[box_slices(box, shape)] = 255
    return mask


def grabcut_boxes(image: np.ndarray, boxes: Iterable[Sequence[float]], *, iterations: int = BOX_ITERATIONS,
                  max_side: int = BOX_MAX_SIDE) -> tuple[np.ndarray | None, bool, str]:
    """(mask, refined, note): the union over boxes of GrabCut's foreground inside each box.

    GrabCut runs per box with rectangle initialisation on a crop around the box (a margin of a quarter
    of the box on each side) scaled to at most ``max_side``. A box GrabCut cannot run on (it covers the
    whole image) or leaves (almost) empty contributes its whole rectangle. ``refined`` is False when no
    box was refined, so the mask is the boxes themselves; the mask is None when no box has area.
    """
    shape = image.shape[:2]
    union = np.zeros(shape, np.uint8)
    valid = refined = 0
    for box in boxes:
        rows, cols = box_slices(box, shape)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        valid += 1
        fg = _grabcut_box(image, rows, cols, iterations, max_side)
        if fg is None:
            union[rows, cols] = 255
        else:
            refined += 1
            union[rows, cols] |= fg
    if not valid:
        return None, False, "no box with area"
    note = "" if refined == valid else f"{valid - refined} of {valid} boxes kept as rectangles"
    return union, refined > 0, note


def _grabcut_box(image: np.ndarray, rows: slice, cols: slice, iterations: int, max_side: int) -> np.ndarray | None:
    height, width = image.shape[:2]
    box_h, box_w = rows.stop - rows.start, cols.stop - cols.start
    margin_y, margin_x = max(box_h // 4, 4), max(box_w // 4, 4)
    cy0, cy1 = max(rows.start - margin_y, 0), min(rows.stop + margin_y, height)
    cx0, cx1 = max(cols.start - margin_x, 0), min(cols.stop + margin_x, width)
    if (cy0, cy1, cx0, cx1) == (rows.start, rows.stop, cols.start, cols.stop):
        return None  # no background around the box to learn from
    crop = image[cy0:cy1, cx0:cx1]
    ch, cw = crop.shape[:2]
    scale = min(1.0, max_side / max(ch, cw))
    sw, sh = max(int(round(cw * scale)), 1), max(int(round(ch * scale)), 1)
    small = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else crop
    rx0 = int(math.floor((cols.start - cx0) * sw / cw))
    ry0 = int(math.floor((rows.start - cy0) * sh / ch))
    rx1 = int(math.ceil((cols.stop - cx0) * sw / cw))
    ry1 = int(math.ceil((rows.stop - cy0) * sh / ch))
    if rx1 - rx0 < 2 or ry1 - ry0 < 2:
        return None
    labels = np.zeros((sh, sw), np.uint8)
    fg = run_grabcut(small, labels, iterations, rect=(rx0, ry0, rx1 - rx0, ry1 - ry0))
    if fg is None:
        return None
    fg = fg.astype(np.uint8) * 255
    if scale < 1:
        fg = cv2.resize(fg, (cw, ch), interpolation=cv2.INTER_LINEAR)
        fg = np.where(fg > 127, 255, 0).astype(np.uint8)
    fg = fg[rows.start - cy0 : rows.stop - cy0, cols.start - cx0 : cols.stop - cx0]
    if np.count_nonzero(fg) < _MIN_REFINED_FRACTION * fg.size:
        return None
    return fg
