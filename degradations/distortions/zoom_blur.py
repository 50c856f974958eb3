"""zoom_blur(start, stop, step): the mean of the image and its centre zooms by ``arange(start, stop, step)``.

ImageNet-C (Hendrycks & Dietterich 2019) as the release writes it, with ``x`` the image in [0, 1]
(float32): for every zoom factor z of ``np.arange(start, stop, step)``, ``clipped_zoom`` crops the
centre ``h x w = ceil(H / z) x ceil(W / z)`` (from row ``(H - h) // 2``, column ``(W - w) // 2``),
zooms it with ``scipy.ndimage.zoom(order=1)`` (linear, corners aligned: output size ``round(h * z)``,
input row ``i * (h - 1) / (round(h * z) - 1)``, likewise for columns) and keeps the top-left H x W;
the result is
``(x + sum of layers) / (layers + 1)``. Each layer here is one linear resampling of the whole image
with that same coordinate map (cv2.warpAffine where this OpenCV interpolates in floating point, else
numpy), a zoom of exactly 1 is the image itself. As in the release, a layer row or column whose
coordinate ``i * scale`` lands past the crop's last pixel by a rounding error (``319 * (220 / 319) >
220``) reads scipy's ``mode='constant'`` value 0: one black line in that layer, a darker edge line
in the result (for instance the last column of a 320-wide image at zoom 1.45).

Candidates: the release has no table for this type; this one has twelve, mild to severe, named by
their largest zoom: 1.01, 1.02, 1.04, 1.06, 1.08 (steps of 0.01), then ImageNet-C's five severities
(1.11, 1.15 in steps of 0.01; 1.20, 1.24 in steps of 0.02; 1.30 in steps of 0.03), then 1.40 and
1.50 (steps of 0.04 and 0.05, eleven layers like ImageNet-C's last severity). Every stop lies half
a step past the last factor, so ``np.arange`` gives the same layers on every platform; the five
ImageNet-C candidates give exactly the layers its tables give (``np.arange(1, 1.11, 0.01)`` ends at
1.11, ``np.arange(1, 1.26, 0.02)`` at 1.24).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from degradations.imaging import unit_to_uint8
from degradations.registry import register

CANDIDATES = [
    (1, 1.015, 0.01),
    (1, 1.025, 0.01),
    (1, 1.045, 0.01),
    (1, 1.065, 0.01),
    (1, 1.085, 0.01),
    (1, 1.115, 0.01),
    (1, 1.155, 0.01),
    (1, 1.21, 0.02),
    (1, 1.25, 0.02),
    (1, 1.315, 0.03),
    (1, 1.42, 0.04),
    (1, 1.525, 0.05),
]

_MAX_LAYERS = 1000


def zoom_map(size: int, zoom: float) -> tuple[float, float, np.ndarray]:
    """(offset, scale, past): output pixel i of ``clipped_zoom`` along an axis of ``size`` reads
    input coordinate ``offset + i * scale``, or the constant 0 where ``past[i]`` (``i * scale`` beyond
    the crop's last pixel, which scipy.ndimage.zoom's ``mode='constant'`` does not interpolate)."""
    crop = int(np.ceil(size / float(zoom)))
    offset = (size - crop) // 2
    zoomed = int(round(crop * zoom))  # scipy.ndimage.zoom's output size
    scale = (crop - 1) / (zoomed - 1) if zoomed > 1 else 1.0
    past = np.arange(size) * scale > crop - 1
    return float(offset), scale, past


def _blank_past(layer: np.ndarray, past_y: np.ndarray, past_x: np.ndarray) -> np.ndarray:
    if past_y.any():
        layer[past_y] = 0.0
    if past_x.any():
        layer[:, past_x] = 0.0
    return layer


def _linear_axis(size: int, offset: float, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coords = np.minimum(offset + np.arange(size) * scale, size - 1)
    low = np.floor(coords).astype(np.intp)
    high = np.minimum(low + 1, size - 1)
    return low, high, (coords - low).astype(np.float32)


def zoom_layer_numpy(x: np.ndarray, zoom: float) -> np.ndarray:
    """One ``clipped_zoom`` layer of a float32 (H, W, C) image, separable linear interpolation."""
    height, width = x.shape[:2]
    offset_y, scale_y, past_y = zoom_map(height, zoom)
    offset_x, scale_x, past_x = zoom_map(width, zoom)
    low, high, frac = _linear_axis(height, offset_y, scale_y)
    top, bottom = x[low], x[high]
    rows = top + (bottom - top) * frac[:, None, None]
    low, high, frac = _linear_axis(width, offset_x, scale_x)
    left, right = rows[:, low], rows[:, high]
    return _blank_past(left + (right - left) * frac[None, :, None], past_y, past_x)


def zoom_layer_cv2(x: np.ndarray, zoom: float) -> np.ndarray:
    """The same layer with cv2.warpAffine (exact only where OpenCV interpolates in floating point)."""
    height, width = x.shape[:2]
    offset_y, scale_y, past_y = zoom_map(height, zoom)
    offset_x, scale_x, past_x = zoom_map(width, zoom)
    matrix = np.array([[scale_x, 0.0, offset_x], [0.0, scale_y, offset_y]])
    layer = cv2.warpAffine(
        x,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    ).reshape(x.shape)
    return _blank_past(layer, past_y, past_x)


def _probe_cv2() -> bool:
    """Whether cv2.warpAffine interpolates float images in floating point (OpenCV >= 4.11 does;
    older versions round coordinates to 1/32 pixel, up to a few grey levels off at sharp edges)."""
    try:
        ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (8, 1))
        matrix = np.array([[0.9173, 0.0, 2.0131], [0.0, 1.0, 0.0]])
        out = cv2.warpAffine(ramp, matrix, (64, 8), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        expected = (2.0131 + np.arange(64) * 0.9173) / 63.0
        inside = np.arange(64) * 0.9173 + 2.0131 <= 63
        return bool(np.abs(out[0, inside] - expected[inside]).max() < 1e-5)
    except cv2.error:
        return False


_USE_CV2: bool | None = None


def zoom_layer(x: np.ndarray, zoom: float) -> np.ndarray:
    global _USE_CV2
    if _USE_CV2 is None:
        _USE_CV2 = _probe_cv2()
    return zoom_layer_cv2(x, zoom) if _USE_CV2 else zoom_layer_numpy(x, zoom)


@register("zoom_blur", category="blur", param_names=("start", "stop", "step"), candidates=CANDIDATES)
def zoom_blur(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    start, stop, step = params
    if not (start >= 1 and step > 0 and math.isfinite(stop)):
        raise ValueError(f"zoom_blur: need start >= 1, step > 0, finite stop; got {params}")
    zooms = np.arange(start, stop, step)
    if zooms.size > _MAX_LAYERS:
        raise ValueError(f"zoom_blur: {zooms.size} zoom layers, at most {_MAX_LAYERS}")
    x = image.astype(np.float32)
    x *= np.float32(1.0 / 255.0)
    total = x.copy()
    for zoom in zooms:
        if zoom == 1.0:
            total += x
        else:
            total += zoom_layer(x, float(zoom))
    total /= np.float32(zooms.size + 1)
    return unit_to_uint8(total)
