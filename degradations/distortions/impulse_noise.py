"""impulse_noise(amount): salt-and-pepper noise on each sample (pixel and channel) independently.

ImageNet-C (Hendrycks & Dietterich 2019) calls ``skimage.util.random_noise(mode='s&p')``; the
release copies that function: each sample is hit with probability ``amount``, and a hit sample is
set to 255 (salt) or 0 (pepper) with equal probability. Here one uniform draw per sample from the
given generator decides both (below amount/2: salt; below amount: pepper), the same distribution
without any global random state. Candidates: the release's table, 12 values log-spaced from 0.0005
to 0.5 (ImageNet-C's severities were 0.03 to 0.27).
"""

from __future__ import annotations

import numpy as np

from degradations.registry import register

CANDIDATES = np.logspace(np.log10(0.0005), np.log10(0.5), num=12)


@register("impulse_noise", category="noise", param_names=("amount",), candidates=CANDIDATES)
def impulse_noise(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (amount,) = params
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"impulse_noise: amount must be in [0, 1], got {amount}")
    draws = rng.random(image.shape)
    out = image.copy()  # untouched samples keep their value: uint8(x / 255 * 255) == x exactly
    out[draws < amount] = 0
    out[draws < amount / 2.0] = 255
    return out
