"""pixelate(c): PIL resize to (int(W*c), int(H*c)) with BOX, then back to (W, H) with NEAREST.

The reduction is PIL's own BOX resize (PIL's BOX is not OpenCV's INTER_AREA: each output pixel averages
the input pixels whose centres fall in its footprint, in fixed point). The enlargement uses OpenCV's
INTER_NEAREST_EXACT, which picks the same source pixel as PIL's NEAREST for every side length up to
``NEAREST_VERIFIED_MAX`` at the 12 candidate scales (checked exhaustively; the tests re-check a sample);
larger images use PIL's NEAREST itself. OpenCV saves PIL's 4-byte-per-pixel round trip there.

Deviation from the release: an image so small that ``int(W*c)`` or ``int(H*c)`` is 0 (the release
crashes in PIL there) is reduced to a size of 1 on that side instead.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from degradations.registry import register

CANDIDATES = [0.95, 0.865, 0.78, 0.695, 0.61, 0.525, 0.44, 0.355, 0.27, 0.185, 0.1, 0.07]

NEAREST_VERIFIED_MAX = 8192


def reduced_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The release's intermediate size ``(int(W*c), int(H*c))``, each side at least 1."""
    return max(1, int(width * scale)), max(1, int(height * scale))


@register("pixelate", category="digital", param_names=("scale",), candidates=CANDIDATES)
def pixelate(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (scale,) = params
    height, width = image.shape[:2]
    small = Image.fromarray(image).resize(reduced_size(width, height, scale), Image.Resampling.BOX)
    if max(width, height) > NEAREST_VERIFIED_MAX:
        return np.array(small.resize((width, height), Image.Resampling.NEAREST))
    return cv2.resize(np.asarray(small), (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
