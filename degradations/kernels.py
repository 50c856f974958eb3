"""Filters shared by several distortions, matched to the libraries the release called."""

from __future__ import annotations

import cv2
import numpy as np


def gaussian_kernel_1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's Gaussian kernel (radius ``int(truncate * sigma + 0.5)``), normalised."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def skimage_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """``skimage.filters.gaussian(image, sigma, channel_axis=-1)`` (mode 'nearest', truncate 4).

    Separable, per channel, edge pixels replicated; float32 in and out.
    """
    kernel = gaussian_kernel_1d(sigma).astype(np.float32)
    src = image if image.dtype == np.float32 else image.astype(np.float32)
    return cv2.sepFilter2D(src, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
