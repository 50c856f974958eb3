"""elastic_transform(strength): a smooth random displacement field, alpha = 250 * strength.

The release's form of ImageNet-C's elastic transform (Hendrycks & Dietterich 2019), a displacement
field alone, no affine step: two fields of uniform noise in ``[-0.005 H, 0.005 H]`` (dx drawn first,
then dy, from the given generator), each smoothed with ``skimage.filters.gaussian(sigma=(0.01 H,
0.01 W), mode='reflect', truncate=3)`` and scaled by ``alpha``; every channel is resampled at
``(y + dy, x + dx)`` with linear interpolation and reflected borders
(``scipy.ndimage.map_coordinates(order=1, mode='reflect')``; here cv2.remap with BORDER_REFLECT, the
same half-sample reflection), then truncated to uint8.

Each displacement component has an RMS of about ``20 * strength * sqrt(H / W)`` pixels (17.6 *
strength on a 4:3 landscape photo), whatever the resolution.

Candidates: the release has no table for this type; this one has twelve, mild to severe, geometric
from 0.012 to 0.3 (ratio about 1.34; RMS displacement 0.2 to 5.3 pixels on a 4:3 photo).
ImageNet-C's five severities were 0.05, 0.065, 0.085, 0.1 and 0.12 (the release's comment), which lie
between candidates 5 and 9.
"""

from __future__ import annotations

import cv2
import numpy as np

from degradations.kernels import gaussian_kernel_1d
from degradations.registry import register

CANDIDATES = [round(float(v), 4) for v in np.geomspace(0.012, 0.3, 12)]


def _smooth(field: np.ndarray, sigma_y: float, sigma_x: float) -> np.ndarray:
    """skimage.filters.gaussian(field, (sigma_y, sigma_x), mode='reflect', truncate=3), float32."""
    ky = gaussian_kernel_1d(sigma_y, truncate=3.0).astype(np.float32)
    kx = gaussian_kernel_1d(sigma_x, truncate=3.0).astype(np.float32)
    return cv2.sepFilter2D(field, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_REFLECT)


@register("elastic_transform", category="digital", param_names=("strength",), candidates=CANDIDATES)
def elastic_transform(
    image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator
) -> np.ndarray:
    (strength,) = params
    if not (np.isfinite(strength) and strength >= 0):
        raise ValueError(f"elastic_transform: strength must be finite and >= 0, got {strength}")
    height, width = image.shape[:2]
    alpha = 250.0 * strength
    reach = height * 0.005
    sigma_y, sigma_x = height * 0.01, width * 0.01
    dx = _smooth(rng.uniform(-reach, reach, (height, width)).astype(np.float32), sigma_y, sigma_x)
    dy = _smooth(rng.uniform(-reach, reach, (height, width)).astype(np.float32), sigma_y, sigma_x)
    dx *= np.float32(alpha)
    dy *= np.float32(alpha)
    dx += np.arange(width, dtype=np.float32)[None, :]
    dy += np.arange(height, dtype=np.float32)[:, None]
    out = cv2.remap(image.astype(np.float32), dx, dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    np.clip(out, 0.0, 255.0, out=out)
    return out.reshape(image.shape).astype(np.uint8)
