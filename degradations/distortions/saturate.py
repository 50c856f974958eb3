"""saturate(factor, offset): HSV saturation ``s = clip(s * factor + offset, 0, 1)``, x in [0, 1].

ImageNet-C (Hendrycks & Dietterich 2019) as the release writes it, with ``skimage.color``'s HSV:
rgb2hsv, scale and offset the saturation, hsv2rgb. Value and hue are kept, so in closed form each
channel c of a pixel with largest channel v and smallest m becomes ``v - s' * v * (v - c) / (v - m)``
(the largest stays v, the smallest becomes ``v * (1 - s')``). Grey pixels (v == m) have hue 0 in
skimage, so they turn red-tinted: ``(v, v * (1 - s'), v * (1 - s'))`` with ``s' = clip(offset)``.
Candidates: the release's table, from (1.1, 0.025) to (10, 0.35).
"""

from __future__ import annotations

import numpy as np

from degradations.registry import register

CANDIDATES = [
    (1.1, 0.025),
    (1.2, 0.027),
    (1.3, 0.027),
    (1.5, 0.03),
    (1.6, 0.04),
    (1.7, 0.05),
    (1.8, 0.06),
    (2, 0.08),
    (2.5, 0.09),
    (3, 0.1),
    (5, 0.15),
    (10, 0.35),
]


@register("saturate", category="digital", param_names=("factor", "offset"), candidates=CANDIDATES)
def saturate(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    factor, offset = params
    if not (np.isfinite(factor) and np.isfinite(offset)):
        raise ValueError(f"saturate: parameters must be finite, got {params}")
    # gain[v, m] = s' * v / (v - m) for v > m, where s = (v - m) / v is the old saturation.
    v = np.arange(256, dtype=np.float64)[:, None]
    m = np.arange(256, dtype=np.float64)[None, :]
    delta = v - m
    with np.errstate(divide="ignore", invalid="ignore"):
        new_s = np.clip(delta / v * factor + offset, 0.0, 1.0)
        gain = np.where(delta > 0, new_s * v / delta, 0.0).astype(np.float32)
    red, green, blue = image[:, :, 0], image[:, :, 1], image[:, :, 2]
    high = np.maximum(np.maximum(red, green), blue)
    low = np.minimum(np.minimum(red, green), blue)
    g = np.take(gain.ravel(), np.left_shift(high, 8, dtype=np.uint16) | low)[:, :, None]
    vf = high.astype(np.float32)[:, :, None]
    out = vf - image  # float32: v - c
    out *= g
    np.subtract(vf, out, out=out)
    grey = high == low
    if grey.any():
        s0 = float(np.clip(offset, 0.0, 1.0))
        out[grey, 1:] = vf[grey] * np.float32(1.0 - s0)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)
