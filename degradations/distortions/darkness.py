"""darkness(c): RGB -> HSV (skimage), V = clip(V - c, 0, 1), HSV -> RGB, * 255 truncated, as in the release.

Lowering V with H and S kept scales a pixel's three channels by the same factor: V'/V, where V is the
pixel's largest channel. So each channel becomes ``floor(x * max(m - 255c, 0) / m)`` with ``m`` the
pixel's maximum over R, G, B (0 for black pixels); the factor is a 256-entry table over ``m``. The tests
compare it with skimage's rgb2hsv/hsv2rgb on every candidate (at most 1 grey level apart, from float
rounding before the truncation).
"""

from __future__ import annotations

import cv2
import numpy as np

from degradations.registry import register

CANDIDATES = np.logspace(np.log10(0.015), np.log10(0.7), 12)

BLOCK_PIXELS = 1 << 15
_LEVELS = np.arange(256, dtype=np.float64)


def factor_table(delta: float) -> np.ndarray:
    """float32 table over a pixel's max channel m (0..255): the factor max(m/255 - delta, 0) / (m/255)."""
    return (np.maximum(_LEVELS - 255.0 * delta, 0.0) / np.maximum(_LEVELS, 1.0)).astype(np.float32)


@register("darkness", category="environmental", param_names=("delta",), candidates=CANDIDATES)
def darkness(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (delta,) = params
    table = factor_table(delta)
    height, width = image.shape[:2]
    rows = max(1, BLOCK_PIXELS // width)
    out = np.empty_like(image)
    # Row blocks through two reused float32 buffers: image-sized float32 temporaries would cost more
    # in page faults than the arithmetic.
    factors = np.empty((min(rows, height), width, 3), dtype=np.float32)
    products = np.empty_like(factors)
    for top in range(0, height, rows):
        block = image[top : top + rows]
        count = block.shape[0]
        red, green, blue = cv2.split(block)
        value = cv2.max(cv2.max(red, green), blue)
        # The table looked up on the 3-channel uint8 max: cheaper than spreading one float32 factor.
        factor = cv2.LUT(cv2.merge((value, value, value)), table, dst=factors[:count])
        product = cv2.multiply(block, factor.reshape(block.shape), dst=products[:count], dtype=cv2.CV_32F)
        # Truncation, as np.uint8() of the release; the factor is in [0, 1], so nothing needs clipping.
        np.copyto(out[top : top + count], product.reshape(block.shape), casting="unsafe")
    return out
