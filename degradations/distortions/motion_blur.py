"""motion_blur(radius, sigma): ImageMagick's motion blur along an angle drawn from U(-45, 45).

The release calls Wand's ``MagickMotionBlurImage(radius, sigma, angle)`` on the image read from a PNG
blob and decodes the PNG blob ImageMagick writes back. ImageMagick 6 (Q16) computes, for every
pixel, ``sum_i k_i * p(x + ox_i, y + oy_i)`` over ``n = GetOptimalKernelWidth1D(radius, sigma)``
taps (``2 * ceil(radius) + 1`` for a positive radius) with one-sided Gaussian weights
``k_i ~ exp(-i^2 / (2 sigma^2))`` (normalised over the n taps), integer offsets
``ox_i = ceil(i * cos(angle) - 0.5)``, ``oy_i = ceil(i * sin(angle) - 0.5)`` (as ImageMagick
computes them) and edge pixels replicated outside the image (its default virtual pixels); it keeps
the sum at 16 bits, ``q = floor(257 * sum + 0.5)`` on 8-bit values, and its PNG writer stores
``floor(q / 257)``.

Option ``backend``:

- ``"opencv"`` (default): that computation in float32 through cv2.filter2D on the line's taps
  (degradations.kernels.correlate_taps), then ``floor(sum + 0.5 / 257)``, which equals
  ``floor(floor(257 * sum + 0.5) / 257)``. Equal to the Wand backend except where float32 rounding
  meets a level boundary (measured: identical on photos at all twelve candidates).
- ``"wand"``: the release's call through Wand and the MagickWand library (ImageMagick), as the
  reference; imported only when used.

Both backends draw the angle the same way, ``rng.uniform(-45, 45)``, so they agree for one rng seed.
"""

from __future__ import annotations

import math

import numpy as np

from degradations.kernels import correlate_taps
from degradations.registry import register

CANDIDATES = [
    (1.4, 0.6),
    (1.5, 0.7),
    (2, 0.9),
    (4, 1.5),
    (7, 2.5),
    (10.5, 3.5),
    (15, 5),
    (20, 7),
    (27, 10),
    (35, 14),
    (47, 20),
    (60, 30),
]

# ImageMagick 6 Q16 constants.
_MAGICK_EPSILON = 1.0e-12
_QUANTUM_SCALE = 1.0 / 65535.0
_SQ2PI = 2.50662827463100024161235523934010416269302368164062


@register(
    "motion_blur",
    category="blur",
    param_names=("radius", "sigma"),
    candidates=CANDIDATES,
    options={"backend": ("opencv", "wand")},
)
def motion_blur(
    image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator, backend: str = "opencv"
) -> np.ndarray:
    radius, sigma = params
    angle = float(rng.uniform(-45, 45))
    if backend == "wand":
        return wand_motion_blur(image, radius, sigma, angle)
    dx, dy, weights = motion_blur_taps(radius, sigma, angle)
    # floor(q / 257) with q = floor(257 * s + 0.5) is floor(s + 0.5 / 257) for s >= 0; s <= 255 here.
    return correlate_taps(image, dx, dy, weights, delta=0.5 / 257.0, dtype=np.uint8)


def optimal_kernel_width_1d(radius: float, sigma: float) -> int:
    """ImageMagick 6's GetOptimalKernelWidth1D (gem.c)."""
    if radius > _MAGICK_EPSILON:
        return int(2.0 * math.ceil(radius) + 1.0)
    gamma = abs(sigma)
    if gamma <= _MAGICK_EPSILON:
        return 3
    alpha = 1.0 / (2.0 * gamma * gamma)
    beta = 1.0 / (_SQ2PI * gamma)
    width = 5
    while True:
        j = (width - 1) // 2
        normalize = sum(math.exp(-float(i * i) * alpha) * beta for i in range(-j, j + 1))
        value = math.exp(-float(j * j) * alpha) * beta / normalize
        if value < _QUANTUM_SCALE or value < _MAGICK_EPSILON:
            break
        width += 2
    return width - 2


def motion_blur_taps(radius: float, sigma: float, angle: float) -> tuple[list[int], list[int], list[float]]:
    """ImageMagick 6's MotionBlurImage kernel: tap offsets (x, y) and normalised weights."""
    width = optimal_kernel_width_1d(radius, sigma)
    s = sigma if abs(sigma) >= _MAGICK_EPSILON else _MAGICK_EPSILON
    kernel = [math.exp(-float(i * i) / (2.0 * s * s)) / (_SQ2PI * s) for i in range(width)]
    total = sum(kernel)
    weights = [k / total for k in kernel]
    # DegreesToRadians(angle) = MagickPI * angle / 180.0, in that order.
    radians = math.pi * angle / 180.0
    point_x = width * math.sin(radians)
    point_y = width * math.cos(radians)
    hypot = math.hypot(point_x, point_y)
    dx = [math.ceil(i * point_y / hypot - 0.5) for i in range(width)]
    dy = [math.ceil(i * point_x / hypot - 0.5) for i in range(width)]
    return dx, dy, weights


def wand_motion_blur(image: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """The release's path: PNG blob -> Wand -> MagickMotionBlurImage -> PNG blob -> cv2.imdecode."""
    import cv2

    try:
        from wand.api import library
        from wand.image import Image as WandImage
    except ImportError as error:  # wand missing, or wand without the MagickWand library
        raise ImportError(
            "motion_blur backend='wand' needs the 'wand' package and ImageMagick's MagickWand library "
            "(run scripts/install-system-deps.sh, or install ImageMagick with your package manager); "
            f"the import failed with: {error}. The default backend='opencv' needs neither."
        ) from error
    ok, png = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("cv2.imencode failed to write a PNG")
    with WandImage(blob=png.tobytes()) as wand_image:
        if not library.MagickMotionBlurImage(wand_image.wand, float(radius), float(sigma), float(angle)):
            wand_image.raise_exception()
            raise RuntimeError("MagickMotionBlurImage failed")
        blob = wand_image.make_blob()
    decoded = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint8:
        kind = getattr(decoded, "dtype", None)
        raise RuntimeError(f"unexpected image from ImageMagick's PNG writer: {kind}")
    if decoded.ndim == 2:  # ImageMagick writes gray PNGs for gray images
        return np.repeat(decoded[:, :, None], 3, axis=2)
    return np.ascontiguousarray(decoded[:, :, 2::-1])
