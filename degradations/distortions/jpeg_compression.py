"""jpeg_compression(q): encode as JPEG at quality int(q), decode, as the release does with PIL.

The release saves with PIL's defaults (baseline, 4:2:0 chroma subsampling, standard tables scaled by
libjpeg's ``jpeg_set_quality``; quality 0 acts as 1) and decodes with PIL. OpenCV's encoder and decoder
(libjpeg-turbo with the same defaults) produce the same pixels and are faster; the tests compare the
two on every candidate.
"""

from __future__ import annotations

import cv2
import numpy as np

from degradations.registry import register

CANDIDATES = [int(q) for q in np.linspace(100, 0.1, 12)]  # 100 90 81 72 63 54 45 36 27 18 9 0

_DECODE_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """RGB uint8 in, RGB uint8 out: one baseline JPEG encode/decode at ``quality`` (0..100)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for an image of shape {image.shape}")
    if _DECODE_RGB is not None:
        return cv2.imdecode(data, _DECODE_RGB)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@register("jpeg_compression", category="digital", param_names=("quality",), candidates=CANDIDATES)
def jpeg_compression(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (quality,) = params
    return jpeg_round_trip(image, int(quality))
