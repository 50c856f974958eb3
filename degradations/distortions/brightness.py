"""brightness(shift): add ``shift`` to the HSV value channel, ``skimage.color`` HSV, x in [0, 1].

ImageNet-C (Hendrycks & Dietterich 2019) as the release writes it: rgb2hsv, ``v = clip(v + shift,
0, 1)``, hsv2rgb. Hue and saturation are kept, so every channel of a pixel is scaled by
``v' / v`` (v the largest channel): the maximum channel becomes exactly ``v'`` and black pixels
(v = 0, saturation 0) become the grey ``v' = shift``. The result depends on a sample's value and
its pixel's maximum alone, so it is a 256 x 256 table. Candidates: the release's table, shifts
geometric from 0.035 to 0.7 (ImageNet-C's severities were 0.1 to 0.5).
"""

from __future__ import annotations

import numpy as np

from degradations.registry import register


def _levels(low: float, high: float, count: int) -> list[float]:
    ratio = (high / low) ** (1 / (count - 1))
    return [low * ratio**i for i in range(count)]


CANDIDATES = _levels(0.035, 0.7, 12)


@register("brightness", category="environmental", param_names=("shift",), candidates=CANDIDATES)
def brightness(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (shift,) = params
    if not np.isfinite(shift):
        raise ValueError(f"brightness: shift must be finite, got {shift}")
    value = np.arange(256, dtype=np.float64) / 255.0
    new_value = np.clip(value + shift, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(value > 0, new_value / value, 0.0)
    # table[v, x]: channel x of a pixel whose largest channel is v (only x <= v occurs).
    table = np.clip(value[None, :] * ratio[:, None], 0.0, 1.0)
    table[np.arange(256), np.arange(256)] = new_value  # the largest channel (and black: grey v')
    table = (table * 255.0).astype(np.uint8)
    high = np.maximum(np.maximum(image[:, :, 0], image[:, :, 1]), image[:, :, 2])
    index = np.left_shift(high, 8, dtype=np.uint16)[:, :, None] | image
    return np.take(table.ravel(), index)
