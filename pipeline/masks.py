"""Binary ROI masks of source images (SPEC section 3), from the best source available.

In order of preference: a user mask folder in the release's format (``<id>_binary_mask.png``); the union
of a COCO image's instance masks; the union of ImageNet val boxes refined with GrabCut (or the boxes
themselves when GrabCut leaves nothing); otherwise a saliency mask computed locally (spectral residual
and boundary-contrast saliency, Otsu threshold, refined with GrabCut). Every step is deterministic:
OpenCV's RNG is seeded before each GrabCut/k-means call.

    result = build_mask(record, rgb, mask_dir=None, coco="instances_val2017.json")
    result.mask      # uint8 (H, W), 0 or 255
    result.method    # "user" | "coco-instances" | "boxes-grabcut" | "boxes" | "saliency"
    result.coverage  # fraction of ROI pixels
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from pycocotools.coco import COCO

from degradations.imaging import check_rgb8
from pipeline.sources.coco import load_coco
from pipeline.sources.decode import DEFAULT_MAX_PIXELS
from pipeline.sources.records import Box, SourceError, SourceRecord, check_inside

METHODS = ("user", "coco-instances", "boxes-grabcut", "boxes", "saliency")
USER_MASK_SUFFIX = "_binary_mask.png"

GRABCUT_ITERATIONS = 3
GRABCUT_MAX_SIDE = 400  # GrabCut runs on a crop around each box, scaled to at most this side
_GRABCUT_SEED = 0
_MIN_REFINED_FRACTION = 0.01  # GrabCut keeping less than this of a box counts as "nothing"


@dataclass(frozen=True)
class MaskResult:
    mask: np.ndarray  # uint8 (H, W), values 0 and 255
    method: str  # one of METHODS
    coverage: float  # fraction of pixels in the ROI, 0..1
    note: str = ""  # what else is worth recording (e.g. boxes GrabCut left as rectangles)


def build_mask(
    record: SourceRecord,
    image: np.ndarray,
    *,
    mask_dir: str | os.PathLike | None = None,
    coco: COCO | str | os.PathLike | None = None,
    boxes: tuple[Box, ...] | list | None = None,
) -> MaskResult:
    """The ROI mask of one source image (RGB uint8), from the first source that has one.

    ``mask_dir``: a folder of ``<source_id>_binary_mask.png``; a source without a file there falls
    through to the next method. ``coco``: a COCO object or annotation JSON path (loaded once per
    process), used when ``record.coco_image_id`` is set and the image has annotations. ``boxes``
    (default ``record.boxes``): object boxes in pixels, refined with GrabCut. Else saliency.
    """
    check_rgb8(image)
    shape = image.shape[:2]
    if mask_dir is not None:
        mask = user_mask(mask_dir, record.source_id, shape)
        if mask is not None:
            return _result(mask, "user")
    if coco is not None and record.coco_image_id is not None:
        coco_obj = coco if isinstance(coco, COCO) else load_coco(coco)
        mask = coco_instances_mask(coco_obj, record.coco_image_id, shape)
        if mask is not None:
            return _result(mask, "coco-instances")
    if boxes is None:
        boxes = record.boxes
    if boxes:
        mask, refined, note = grabcut_boxes(image, boxes)
        if mask is not None:
            return _result(mask, "boxes-grabcut" if refined else "boxes", note)
    return _result(saliency_mask(image), "saliency")


def _result(mask: np.ndarray, method: str, note: str = "") -> MaskResult:
    coverage = float(np.count_nonzero(mask)) / mask.size
    return MaskResult(mask, method, coverage, note)


# ---------------------------------------------------------------------------------------------- user


def user_mask_path(mask_dir: str | os.PathLike, source_id: str) -> Path:
    return Path(mask_dir) / f"{source_id}{USER_MASK_SUFFIX}"


def user_mask(
    mask_dir: str | os.PathLike, source_id: str, shape: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray | None:
    """The user's mask for ``source_id`` at ``shape`` (nearest-neighbour resize), binarised at > 127;
    None when the folder has no file for it. An unreadable file raises SourceError."""
    root = Path(mask_dir).expanduser().resolve()
    if "/" in source_id or "\\" in source_id or source_id in ("", ".", ".."):
        raise SourceError(f"source id {source_id!r} cannot name a mask file")
    path = user_mask_path(root, source_id)
    if not path.is_file():
        return None
    check_inside(root, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size[0] * img.size[1] > max_pixels:
                    raise SourceError(f"{path.name}: {img.size[0]}x{img.size[1]} is over {max_pixels} pixels")
                img.load()
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    array = (np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
                else:
                    array = np.asarray(img.convert("L"))
    except SourceError:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise SourceError(f"{path.name}: unreadable mask ({' '.join(str(exc).split())[:200]})") from None
    height, width = shape
    if array.shape != (height, width):
        array = cv2.resize(array, (width, height), interpolation=cv2.INTER_NEAREST)
    return np.where(array > 127, 255, 0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- COCO


def coco_instances_mask(coco: COCO, image_id: int, shape: tuple[int, int]) -> np.ndarray | None:
    """Union of every annotation's mask of a COCO image (polygons, RLE, crowd RLE; an annotation
    without a segmentation contributes its box), resized with nearest neighbour to ``shape`` if the
    JSON's size differs. None when the image is unknown or has no annotations."""
    info = coco.imgs.get(image_id)
    if info is None:
        return None
    anns = coco.imgToAnns.get(image_id, [])
    if not anns:
        return None
    height, width = int(info["height"]), int(info["width"])
    union = np.zeros((height, width), np.uint8)
    for ann in anns:
        segmentation = ann.get("segmentation")
        if segmentation:
            with warnings.catch_warnings():  # pycocotools' numpy-2 copy-keyword notice, once per call
                warnings.simplefilter("ignore", DeprecationWarning)
                union |= coco.annToMask(ann).astype(np.uint8)
        elif ann.get("bbox"):
            x, y, w, h = ann["bbox"]
            union[_box_slices(Box(x, y, x + w, y + h), (height, width))] = 1
    union *= 255
    if union.shape != tuple(shape):
        union = cv2.resize(union, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return union


# --------------------------------------------------------------------------------------------- boxes


def _box_slices(box: Box, shape: tuple[int, int]) -> tuple[slice, slice]:
    height, width = shape
    x0 = min(max(int(math.floor(box[0])), 0), width)
    y0 = min(max(int(math.floor(box[1])), 0), height)
    x1 = min(max(int(math.ceil(box[2])), x0), width)
    y1 = min(max(int(math.ceil(box[3])), y0), height)
    return slice(y0, y1), slice(x0, x1)


def boxes_mask(boxes, shape: tuple[int, int]) -> np.ndarray:
    """The union of ``boxes`` (x0, y0, x1, y1 in pixels) as a {0, 255} mask."""
    mask = np.zeros(shape, np.uint8)
    for box in boxes:
        mask[_box_slices(Box(*box), shape)] = 255
    return mask


def grabcut_boxes(
    image: np.ndarray, boxes, *, iterations: int = GRABCUT_ITERATIONS, max_side: int = GRABCUT_MAX_SIDE
) -> tuple[np.ndarray | None, bool, str]:
    """(mask, refined, note): the union over boxes of GrabCut's foreground inside each box.

    GrabCut runs per box with rectangle initialisation on a crop around the box (a margin of a quarter
    of the box on each side) scaled to at most ``max_side``. A box GrabCut cannot run on (it covers the
    whole image) or leaves (almost) empty contributes its whole rectangle. ``refined`` is False when no
    box was refined, so the mask is the boxes themselves; the mask is None when no box has area.
    """
    shape = image.shape[:2]
    height, width = shape
    union = np.zeros(shape, np.uint8)
    valid = refined = 0
    for box in boxes:
        rows, cols = _box_slices(Box(*box), shape)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        valid += 1
        fg = _grabcut_one(image, rows, cols, iterations, max_side)
        if fg is None:
            union[rows, cols] = 255
        else:
            refined += 1
            union[rows, cols] |= fg
    if not valid:
        return None, False, "no box with area"
    note = "" if refined == valid else f"{valid - refined} of {valid} boxes kept as rectangles"
    return union, refined > 0, note


def _grabcut_one(image, rows: slice, cols: slice, iterations: int, max_side: int) -> np.ndarray | None:
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
    gc_mask = np.zeros((sh, sw), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(_GRABCUT_SEED)
    try:
        cv2.grabCut(
            np.ascontiguousarray(small[:, :, ::-1]), gc_mask, (rx0, ry0, rx1 - rx0, ry1 - ry0),
            bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT,
        )
    except cv2.error:
        return None
    fg = np.where((gc_mask == cv2.GC_FGD) | (gc_mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    if scale < 1:
        fg = cv2.resize(fg, (cw, ch), interpolation=cv2.INTER_LINEAR)
        fg = np.where(fg > 127, 255, 0).astype(np.uint8)
    fg = fg[rows.start - cy0 : rows.stop - cy0, cols.start - cx0 : cols.stop - cx0]
    if np.count_nonzero(fg) < _MIN_REFINED_FRACTION * fg.size:
        return None
    return fg


# ------------------------------------------------------------------------------------------ saliency

SALIENCY_SIZE = 128  # the saliency map's longer side
_REFINE_REACH = 0.08  # how far (in image sides) GrabCut may extend the thresholded saliency
_FLAT_LEVELS = 8  # an image whose values span fewer grey levels than this has no salient region
SALIENCY_REFINE_SIZE = 256  # GrabCut refinement's longer side


def _normalise(x: np.ndarray) -> np.ndarray:
    x = x - x.min()
    peak = x.max()
    return x / peak if peak > 0 else x


def _spectral_residual(lab: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007), summed over the Lab channels."""
    out = np.zeros(lab.shape[:2], np.float64)
    for c in range(3):
        spectrum = np.fft.fft2(lab[:, :, c].astype(np.float64))
        log_amplitude = np.log(np.abs(spectrum) + 1e-8)
        residual = log_amplitude - cv2.blur(log_amplitude, (3, 3))
        out += np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    return _normalise(cv2.GaussianBlur(out, (0, 0), 3))


def _boundary_contrast(lab: np.ndarray, clusters: int = 6) -> np.ndarray:
    """Distance of each pixel's Lab colour to the nearest colour cluster of the image border."""
    height, width = lab.shape[:2]
    b = max(2, round(0.04 * min(height, width)))
    border = np.concatenate(
        [lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)]
    ).astype(np.float32)
    k = min(clusters, len(border))
    cv2.setRNGSeed(_GRABCUT_SEED)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centers = cv2.kmeans(border, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k)
    centers = centers[counts >= 0.05 * len(border)]
    distance = np.linalg.norm(lab.reshape(-1, 1, 3) - centers[None], axis=2).min(axis=1)
    return _normalise(cv2.GaussianBlur(distance.reshape(height, width), (0, 0), 1.5))


def saliency_map(image: np.ndarray, size: int = SALIENCY_SIZE) -> np.ndarray:
    """A saliency map in [0, 1] at a scale of longer side ``size`` (float32): boundary contrast and
    spectral residual, weighted by a broad centre prior."""
    check_rgb8(image)
    height, width = image.shape[:2]
    scale = size / max(height, width)
    sw, sh = max(16, round(width * scale)), max(16, round(height * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    yy, xx = np.mgrid[0:sh, 0:sw]
    centre = np.exp(-(((xx - sw / 2) / (0.5 * sw)) ** 2 + ((yy - sh / 2) / (0.5 * sh)) ** 2))
    combined = (0.65 * _boundary_contrast(lab) + 0.35 * _spectral_residual(lab)) * (0.5 + 0.5 * centre)
    return _normalise(combined).astype(np.float32)


def saliency_mask(image: np.ndarray, *, iterations: int = 3) -> np.ndarray:
    """Saliency fallback mask: the map thresholded by Otsu, refined by GrabCut initialised from it,
    small specks removed (components under 10% of the largest or 0.1% of the image). A flat image
    gives an empty mask."""
    check_rgb8(image)
    height, width = image.shape[:2]
    scale = min(1.0, SALIENCY_REFINE_SIZE / max(height, width))
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
    work = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else image
    if int(image.max()) - int(image.min()) < _FLAT_LEVELS:
        return np.zeros((height, width), np.uint8)  # nothing stands out of a flat image
    levels = (cv2.resize(saliency_map(image), (sw, sh), interpolation=cv2.INTER_LINEAR) * 255).astype(np.uint8)
    _, otsu = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = otsu
    if 0 < np.count_nonzero(otsu) < otsu.size and min(sw, sh) >= 8:
        gc_mask = np.where(otsu > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(_GRABCUT_SEED)
        try:
            cv2.grabCut(
                np.ascontiguousarray(work[:, :, ::-1]), gc_mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK
            )
            refined = np.where((gc_mask == cv2.GC_FGD) | (gc_mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
            # GrabCut only moves the salient regions' borders: nothing far from them is added
            reach = max(3, round(_REFINE_REACH * min(sw, sh))) | 1
            refined &= cv2.dilate(otsu, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
            if 0.002 < np.count_nonzero(refined) / refined.size < 0.95:
                mask = refined
        except cv2.error:
            pass
    mask = _drop_specks(mask)
    if scale < 1:
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        mask = np.where(mask > 127, 255, 0).astype(np.uint8)
    return mask


def _drop_specks(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(0.1 * areas.max(), 0.001 * mask.size)) + 1
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)
