"""From a saliency map to a binary mask: threshold, GrabCut, specks removed, native resolution.

Shared by the map-based default methods ("saliency", "lite-contrast", "lite-cam"). GrabCut is started
from the thresholded map (probable foreground / probable background everywhere, no hard seeds) and may
only move its borders (at most ``reach`` of the shorter side outwards); its answer is kept unless it
collapses or covers (almost) nothing or everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from masks.grabcut import run_grabcut

FLAT_LEVELS = 8  # an image whose values span fewer grey levels than this has no salient region


@dataclass(frozen=True)
class RefineSettings:
    size: int = 256  # the longer side the threshold and GrabCut work at (never enlarged)
    threshold: float | None = None  # on the map in [0, 1]; None: Otsu's threshold
    iterations: int = 3  # GrabCut iterations
    reach: float = 0.08  # how far (in shorter sides) GrabCut may extend the thresholded map
    collapse: float = 0.0  # keep the thresholded map when GrabCut keeps less than this fraction of it
    min_coverage: float = 0.002  # GrabCut's answer outside (min, max) coverage is ignored
    max_coverage: float = 0.95
    speck: float = 0.1  # components smaller than this fraction of the largest are dropped ...
    speck_area: float = 0.001  # ... and smaller than this fraction of the image


def is_flat(image: np.ndarray) -> bool:
    return int(image.max()) - int(image.min()) < FLAT_LEVELS


def work_image(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` shrunk (area interpolation) so that its longer side is at most ``size``."""
    height, width = image.shape[:2]
    scale = min(1.0, size / max(height, width))
    if scale == 1.0:
        return image
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


def threshold_map(levels: np.ndarray, threshold: float | None) -> np.ndarray:
    """{0, 255} mask of a uint8 map: above Otsu's threshold, or above ``threshold`` (in [0, 1])."""
    if threshold is None:
        return cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    return np.where(levels > round(threshold * 255), 255, 0).astype(np.uint8)


def mask_from_map(image: np.ndarray, saliency: np.ndarray, settings: RefineSettings = RefineSettings()) -> np.ndarray:
    """The {0, 255} mask at the image's size from a saliency map in [0, 1] of any size (same aspect).
    A flat image gives an empty mask."""
    height, width = image.shape[:2]
    if is_flat(image):
        return np.zeros((height, width), np.uint8)  # nothing stands out of a flat image
    work = work_image(image, settings.size)
    sh, sw = work.shape[:2]
    resized = cv2.resize(saliency.astype(np.float32), (sw, sh), interpolation=cv2.INTER_LINEAR)
    levels = (np.clip(resized, 0.0, 1.0) * 255).astype(np.uint8)
    coarse = threshold_map(levels, settings.threshold)
    mask = coarse
    coarse_pixels = np.count_nonzero(coarse)
    if 0 < coarse_pixels < coarse.size and min(sw, sh) >= 8:
        labels = np.where(coarse > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        fg = run_grabcut(work, labels, settings.iterations)
        if fg is not None:
            reach = max(3, round(settings.reach * min(sw, sh))) | 1
            refined = fg.astype(np.uint8) * 255
            refined &= cv2.dilate(coarse, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
            kept = np.count_nonzero(refined)
            if (settings.min_coverage < kept / refined.size < settings.max_coverage
                    and kept >= settings.collapse * coarse_pixels):
                mask = refined
    mask = drop_specks(mask, settings.speck, settings.speck_area)
    return upsample_mask(mask, (height, width)) if mask.shape != (height, width) else mask


def drop_specks(mask: np.ndarray, relative: float = 0.1, absolute: float = 0.001) -> np.ndarray:
    """``mask`` without its components smaller than ``relative`` of the largest or ``absolute`` of the image."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(relative * areas.max(), absolute * mask.size)) + 1
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def upsample_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A {0, 255} mask resized to ``shape`` (bilinear, then > 127: smoother than nearest neighbour)."""
    resized = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.where(resized > 127, 255, 0).astype(np.uint8)
