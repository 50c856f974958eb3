"""gaussian_blur(sigma): ``skimage.filters.gaussian(x, sigma, channel_axis=-1)``, x in [0, 1].

ImageNet-C (Hendrycks & Dietterich 2019) as the release writes it: a separable Gaussian per channel,
truncated at 4 sigma, edge pixels replicated. Candidates: the release's table, sigma 0.45 to 12
(ImageNet-C's severities were 1 to 6).
"""

from __future__ import annotations

import numpy as np

from degradations.imaging import unit_to_uint8
from degradations.kernels import skimage_gaussian
from degradations.registry import register

CANDIDATES = [0.45, 0.5, 0.575, 0.65, 0.8, 1, 1.5, 2.3, 3.5, 6, 9, 12]


@register("gaussian_blur", category="blur", param_names=("sigma",), candidates=CANDIDATES)
def gaussian_blur(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (sigma,) = params
    if not sigma > 0:
        raise ValueError(f"gaussian_blur: sigma must be > 0, got {sigma}")
    x = image.astype(np.float32)
    x *= np.float32(1.0 / 255.0)
    return unit_to_uint8(skimage_gaussian(x, sigma))
