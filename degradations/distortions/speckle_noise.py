"""speckle_noise(scale): multiplicative Gaussian noise, ``clip(x + x * N(0, scale^2), 0, 1) * 255``.

ImageNet-C (Hendrycks & Dietterich 2019) as the release writes it, with ``x`` the image in [0, 1]
and one normal draw per sample (pixel and channel). The release has no candidate table for this
type; this one has twelve, mild to severe. Candidates 6-10 are ImageNet-C's five severities
(0.15, 0.2, 0.35, 0.45, 0.6); candidates 1-5 extend them to milder noise down to 0.02 (about the
noise of the first gaussian_noise candidate, sigma 0.01, on a mid-grey image), 11-12 to harsher
noise (0.85, 1.2), in steps of about 1.3-1.75x.
"""

from __future__ import annotations

import numpy as np

from degradations.imaging import unit_to_uint8
from degradations.registry import register

CANDIDATES = [0.02, 0.035, 0.05, 0.08, 0.11, 0.15, 0.2, 0.35, 0.45, 0.6, 0.85, 1.2]


@register("speckle_noise", category="noise", param_names=("scale",), candidates=CANDIDATES)
def speckle_noise(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (scale,) = params
    if not scale >= 0:
        raise ValueError(f"speckle_noise: scale must be >= 0, got {scale}")
    x = image.astype(np.float32)
    x *= np.float32(1.0 / 255.0)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= np.float32(scale)
    noise *= x
    x += noise
    return unit_to_uint8(x)
