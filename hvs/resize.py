"""Upsampling of images smaller than a metric's minimum side, as the release did for the few COCO images
below MS-SSIM's 161 px: both images of a pair are resized with PIL's bicubic filter (``Image.resize``'s
default for RGB images) by the factor that brings their shorter side to the minimum.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def upsampled_size(width: int, height: int, min_side: int) -> tuple[int, int]:
    """(width, height) scaled by ``min_side / min(width, height)`` and truncated, as the release computed it,
    with each side raised to at least ``min_side``: the truncation alone gives 160 for a 151-px side (151 *
    (161 / 151) is 160.99999999999997 in floating point), which the metric would then refuse.
    """
    ratio = min_side / min(width, height)
    return max(min_side, int(width * ratio)), max(min_side, int(height * ratio))


def working_size(width: int, height: int, min_side: int) -> tuple[int, int]:
    """The size a metric sees an image pair at: its own, or upsampled when a side is below ``min_side``."""
    if min(width, height) >= min_side:
        return width, height
    return upsampled_size(width, height, min_side)


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 array resized to ``size`` (width, height) with PIL's bicubic filter."""
    if image.shape[1::-1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
