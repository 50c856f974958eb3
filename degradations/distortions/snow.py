"""snow(loc, scale, zoom, threshold, blur_radius, blur_sigma, blend): ImageNet-C snow, as the release.

The release, step by step (x in [0, 1], float32):

1. a snow layer of N(loc, scale) draws, shape (H, W);
2. clipped_zoom: the centre ``ceil(H / zoom) x ceil(W / zoom)`` crop, zoomed by ``zoom`` with
   scipy.ndimage.zoom(order=1) (corner to corner), NOT cut back to (H, W) (it is round(crop * zoom));
3. values below ``threshold`` set to 0, then clipped to [0, 1];
4. the release's numpy motion blur (not ImageMagick): ``width = 2 * blur_radius + 1`` as a float,
   Gaussian weights over ``np.arange(width)`` normalised, the first ``int(width)`` of them used (so
   they sum to a little under 1), tap i shifted by ``ceil(i * cos(a) - 0.5), ceil(i * sin(a) - 0.5)``
   with edge pixels replicated, stopping at the first shift as large as the layer; the angle
   ``a ~ U(-135, -45)`` degrees (snow falls downwards);
5. the layer rounded to 8 bits, cut to (H, W);
6. ``x = blend * x + (1 - blend) * max(x, gray(x) * 1.5 + 0.5)`` (cv2 RGB2GRAY);
7. ``clip(x + layer + rot180(layer), 0, 1) * 255``, truncated.

Here: only the crop's normals are drawn (float32; the rest of the release's layer is never
used); the zoom is cv2.warpAffine with the same corner-to-corner map (within 1e-4 of scipy's values,
scipy's zeroed last row or column included, see ``zoom_corners``); the blur is
degradations.kernels.correlate_taps on the same taps (float32); the composition runs on uint8
levels: ``floor(255 * blended x)`` (``_blended_levels``, which reproduces the release's float32 ->
float64 truncation for pixels the blend leaves at their own level) plus the two whole-level snow
layers, saturated at 255 -- the same as the release's clip and truncation.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from degradations.kernels import correlate_taps
from degradations.registry import register

_START = (0.05, 0.1, 1, 0.3, 5, 2, 1)
_END = (0.6, 0.4, 5, 0.9, 15, 15, 0.5)
# As the release computes them: start + linspace(0, 1, 12) * (end - start).
CANDIDATES = np.array(_START) + np.linspace(0, 1, 12)[:, None] * (np.array(_END) - np.array(_START))[None, :]


@register(
    "snow",
    category="environmental",
    param_names=("loc", "scale", "zoom", "threshold", "blur_radius", "blur_sigma", "blend"),
    candidates=CANDIDATES,
)
def snow(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    loc, scale, zoom, threshold, blur_radius, blur_sigma, blend = params
    height, width = image.shape[:2]
    layer = snow_layer(height, width, loc, scale, zoom, threshold, rng)
    angle = float(rng.uniform(-135, -45))
    dx, dy, weights = release_motion_taps(blur_radius, blur_sigma, angle, layer.shape)
    blurred = correlate_taps(layer, dx, dy, weights)[:height, :width]
    flakes = cv2.convertScaleAbs(blurred, alpha=255.0)  # np.round(layer * 255) as uint8
    # The release truncates 255 * (x + layer + rot180(layer)) with whole-level layers: that is
    # floor(255 * x) + flakes, saturated at 255, so the sum runs in saturating uint8 adds.
    flakes = cv2.add(flakes, cv2.flip(flakes, -1))
    return cv2.add(_blended_levels(image, blend), cv2.cvtColor(flakes, cv2.COLOR_GRAY2RGB))


def _blended_levels(image: np.ndarray, blend: float) -> np.ndarray:
    """floor(255 * (blend * x + (1 - blend) * max(x, gray(x) * 1.5 + 0.5))), saturated at 255 (uint8).

    With t = gray * 1.5 + 0.5 that is floor(255 * max(x, blend * x + (1 - blend) * t)) (blend < 1),
    the larger of the pixel's own level (see _own_levels) and the blend with its brightened gray.
    """
    own = cv2.LUT(image, _own_levels(blend))
    if blend == 1.0:
        return own
    # 255 * (blend * x + (1 - blend) * t) per channel, with the -0.5 offset that turns cv2's rounding
    # conversion into truncation (ties to even at whole levels, where the release's float32
    # rounding goes either way too). The gray term (cv2's RGB2GRAY weights) is shared by the planes.
    red, green, blue = cv2.split(image)
    k = 1.5 * (1.0 - blend)
    brightened = cv2.addWeighted(red, 0.299 * k, green, 0.587 * k, 0.0, dtype=cv2.CV_32F)
    offset = 127.5 * (1.0 - blend) - 0.5
    brightened = cv2.addWeighted(blue, 0.114 * k, brightened, 1.0, offset, dtype=cv2.CV_32F)
    planes = [
        cv2.addWeighted(plane, blend, brightened, 1.0, 0.0, dtype=cv2.CV_8U) for plane in (red, green, blue)
    ]
    mixed = cv2.merge(planes)
    return cv2.max(own, mixed, dst=own)


def snow_layer(
    height: int, width: int, loc: float, scale: float, zoom: float, threshold: float, rng: np.random.Generator
) -> np.ndarray:
    """Steps 1-3: the thresholded, zoomed layer (float32, round(ceil(H / zoom) * zoom) rows, ...)."""
    crop_h = int(math.ceil(height / float(zoom)))
    crop_w = int(math.ceil(width / float(zoom)))
    layer = rng.standard_normal((crop_h, crop_w), dtype=np.float32)
    layer *= np.float32(scale)
    layer += np.float32(loc)
    out_h, out_w = int(round(crop_h * zoom)), int(round(crop_w * zoom))
    if (out_h, out_w) != (crop_h, crop_w):
        layer = zoom_corners(layer, out_h, out_w)
    cv2.threshold(layer, threshold, 0.0, cv2.THRESH_TOZERO, dst=layer)  # < threshold -> 0 (and < 0)
    cv2.threshold(layer, 1.0, 1.0, cv2.THRESH_TRUNC, dst=layer)  # clip at 1
    return layer


def zoom_corners(layer: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """scipy.ndimage.zoom(layer, order=1) to (out_h, out_w): output i samples input i * (n-1)/(m-1).

    cv2.warpAffine with that corner-to-corner map, float32 (measured within 5e-5 of scipy's float64
    values on N(0.3, 0.4) layers). scipy's zoom runs in mode 'constant', with no interpolation past
    the last input sample: when (m - 1) * ((n - 1) / (m - 1)) rounds above n - 1 in float64 (about
    4% of the release's crops), its last row or column is 0, and so it is here.
    """
    in_h, in_w = layer.shape
    sy = (in_h - 1) / (out_h - 1) if out_h > 1 else 1.0
    sx = (in_w - 1) / (out_w - 1) if out_w > 1 else 1.0
    matrix = np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]])
    zoomed = cv2.warpAffine(
        layer,
        matrix,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if (out_h - 1) * sy > in_h - 1:
        zoomed[-1, :] = 0.0
    if (out_w - 1) * sx > in_w - 1:
        zoomed[:, -1] = 0.0
    return zoomed


def release_motion_taps(
    radius: float, sigma: float, angle: float, shape: tuple[int, ...]
) -> tuple[list[int], list[int], list[float]]:
    """The release's numpy ``_motion_blur`` as taps for correlate_taps: offsets (x, y) and weights."""
    width = radius * 2 + 1
    support = np.arange(width)
    kernel = np.exp(-(support**2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    kernel = kernel / np.sum(kernel)
    radians = np.deg2rad(angle)
    point = (width * np.sin(radians), width * np.cos(radians))
    hypot = math.hypot(point[0], point[1])
    dx: list[int] = []
    dy: list[int] = []
    weights: list[float] = []
    for i in range(int(width)):
        shift_y = -math.ceil(((i * point[0]) / hypot) - 0.5)
        shift_x = -math.ceil(((i * point[1]) / hypot) - 0.5)
        if abs(shift_y) >= shape[0] or abs(shift_x) >= shape[1]:
            break  # the release stops once the motion leaves the layer
        # The release shifts the layer by (shift_x, shift_y): pixel (y, x) reads (y - shift_y, x - shift_x).
        dx.append(-shift_x)
        dy.append(-shift_y)
        weights.append(float(kernel[i]))
    return dx, dy, weights


@functools.lru_cache(maxsize=32)
def _own_levels(blend: float) -> np.ndarray:
    """Per level v: the release's ``floor(255 * y)`` for a pixel the blend leaves at its own value.

    The release keeps x = float32(v / 255) and blends in float32; where the blend leaves a pixel
    at its own value (blend 1, or x above its brightened gray) y = float32(blend * x) +
    float32((1 - blend) * x), a hair above or below v / 255, and the float64 truncation of
    255 * y + the layer gives v or v - 1 (plus the layer) accordingly.
    """
    levels = np.arange(256)
    x = levels.astype(np.float32) / np.float32(255.0)
    y = np.float32(blend) * x + np.float32(1.0 - blend) * x
    return np.floor(y.astype(np.float64) * 255.0).astype(np.uint8)
