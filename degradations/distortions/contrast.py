"""contrast(c): per-channel mean m; clip((x/255 - m) * c + m) * 255."""

from __future__ import annotations

import cv2
import numpy as np

from degradations.registry import register

CANDIDATES = [0.9, 0.818, 0.736, 0.655, 0.573, 0.491, 0.409, 0.327, 0.246, 0.164, 0.082, 0.05]


@register("contrast", category="digital", param_names=("factor",), candidates=CANDIDATES)
def contrast(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (factor,) = params
    means = np.array(cv2.mean(image)[:3]) / 255.0
    # The output depends on a pixel's value and channel alone: apply it as a 256-entry table.
    values = np.arange(256, dtype=np.float64)[:, None] / 255.0
    table = (np.clip((values - means) * factor + means, 0.0, 1.0) * 255.0).astype(np.uint8)
    return cv2.LUT(image, table.reshape(256, 1, 3))
