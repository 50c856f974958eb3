"""defocus_blur(r, a): correlation with an anti-aliased disk, per channel, as in the release.

The release's kernel: a float32 disk ``X**2 + Y**2 <= r**2`` on the support -8..8 (r <= 8) or -r..r,
normalised to sum 1, then ``cv2.GaussianBlur`` of that array with ksize 3x3 (r <= 8) or 5x5 and sigma a
(for r > 8 the disk touches the support's edge, and GaussianBlur's reflected border shapes the kernel:
it is not renormalised). The image ``x/255`` is filtered with ``cv2.filter2D`` (BORDER_REFLECT_101),
clipped to [0, 1], times 255, truncated.

Here the kernel is built with the same calls (cached), then weights below 1e-12 are dropped (a blur
with sigma 0.1 leaves weights of 1e-22 and 1e-44: the latter are float32 denormals, which slow
filtering 30-fold) and the all-zero border is cropped; the kernel stays centred. Filtering works on
grey levels (0..255) with the same border rule, by one of three routes:

- kernels up to 5x5: ``cv2.filter2D`` uint8 to uint8 with delta -0.5 (rounding x - 0.5 truncates x);
- larger kernels: ``cv2.filter2D`` in float32, clipped and truncated;
- kernels of 121 weights or more on images at least as large: a float32 DFT of the reflect-padded
  image (OpenCV's own DFT route inside filter2D is twice as slow).

All agree with the release's float64 filtering within float rounding: at most 1 grey level after the
truncation (tests: every candidate, photos, tiny images).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from degradations.registry import register

CANDIDATES = [
    (0.95, 0.5),
    (0.99, 0.54),
    (0.99, 0.6),
    (0.99, 0.7),
    (0.999, 0.9),
    (1, 0.9),
    (2, 0.1),
    (3, 0.5),
    (5, 0.5),
    (7, 0.8),
    (9, 0.9),
    (12, 0.9),
]

# Kernels with at least this many weights (11x11 and up) are applied by DFT.
DFT_MIN_AREA = 121
NEGLIGIBLE_WEIGHT = 1e-12
# Kernels up to this many weights filter uint8 to uint8 directly (fewer passes, no float32 image).
SMALL_KERNEL_AREA = 25
FLAT_BIAS = 2.5e-7
SPECTRUM_CACHE_MAX_AREA = 1 << 21  # 8 MiB of float32 per cached spectrum


def release_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The release's ``disk(radius, alias_blur)``: float32, support -8..8 or -r..r, not cropped."""
    if radius <= 8:
        support = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        support = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    xs, ys = np.meshgrid(support, support)
    aliased = np.array(xs**2 + ys**2 <= radius**2, dtype=np.float32)
    aliased /= np.sum(aliased)
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


@lru_cache(maxsize=64)
def defocus_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """:func:`release_kernel` without negligible weights, cropped to its non-zero rows and columns
    symmetrically about the centre (read-only)."""
    kernel = release_kernel(radius, alias_blur).copy()
    kernel[kernel < NEGLIGIBLE_WEIGHT] = 0.0
    centre = kernel.shape[0] // 2  # the support is square and odd
    rows = np.flatnonzero(kernel.any(axis=1))
    cols = np.flatnonzero(kernel.any(axis=0))
    half_h = max(centre - rows[0], rows[-1] - centre)
    half_w = max(centre - cols[0], cols[-1] - centre)
    rows_kept = slice(centre - half_h, centre + half_h + 1)
    cols_kept = slice(centre - half_w, centre + half_w + 1)
    cropped = np.ascontiguousarray(kernel[rows_kept, cols_kept])
    cropped.flags.writeable = False
    return cropped


@lru_cache(maxsize=1024)
def dft_size(length: int) -> int:
    """The smallest size >= ``length`` of the form 16 * 2^a 3^b 5^c 7^d.

    OpenCV's DFT runs 10-40% faster on these than on ``cv2.getOptimalDFTSize`` (2^a 3^b 5^c) sizes,
    e.g. 672 against 675 (measured on 300..1100).
    """
    size = max(16, length)
    while True:
        rest = size
        if rest % 16 == 0:
            rest //= 16
            for prime in (2, 3, 5, 7):
                while rest % prime == 0:
                    rest //= prime
            if rest == 1:
                return size
        size += 1


def _kernel_spectrum(radius: float, alias_blur: float, height: int, width: int) -> np.ndarray:
    """CCS-packed DFT of the kernel placed at the top-left of a (height, width) zero array; the
    spectra of the last few sizes are kept (bounded memory: large ones are recomputed, +1 DFT)."""
    if height * width <= SPECTRUM_CACHE_MAX_AREA:
        return _cached_kernel_spectrum(radius, alias_blur, height, width)
    return _compute_kernel_spectrum(radius, alias_blur, height, width)


def _compute_kernel_spectrum(radius: float, alias_blur: float, height: int, width: int) -> np.ndarray:
    kernel = defocus_kernel(radius, alias_blur)
    plane = np.zeros((height, width), dtype=np.float32)
    plane[: kernel.shape[0], : kernel.shape[1]] = kernel
    spectrum = cv2.dft(plane)
    spectrum.flags.writeable = False
    return spectrum


# The 4 DFT-route candidates of one image size: one source's worth.
_cached_kernel_spectrum = lru_cache(maxsize=4)(_compute_kernel_spectrum)


@lru_cache(maxsize=64)
def _direct_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """:func:`defocus_kernel` times 1 + 2.5e-7 where the release's kernel sums to more than 1 in
    float64, else times 1 - 2.5e-7: flat regions then truncate to the release's side.

    On a flat region of level v the release computes about ``v * S``, with ``S`` the float64 sum of
    its float32 kernel, 1 within 1e-7: the truncation gives v - 1 wherever S < 1, v where S > 1
    (where S == 1, v - 1 for 179 of the levels 1..255, through the rounding of v/255). A float32
    accumulation lands on either side at random, which costs 1-3% of the pixels of a 3x3 blur one
    grey level; the scaled kernel costs at most 6e-5 grey levels elsewhere. The DFT route does without
    it (its float32 noise is larger, and its large kernels hardly meet the case).
    """
    kernel = defocus_kernel(radius, alias_blur)
    total = float(release_kernel(radius, alias_blur).sum(dtype=np.float64))
    scaled = kernel * np.float32(1.0 + FLAT_BIAS if total > 1.0 else 1.0 - FLAT_BIAS)
    scaled.flags.writeable = False
    return scaled


def _filter_direct(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    if kernel.size <= SMALL_KERNEL_AREA:
        # uint8 in and out in one pass: rounding (x - 0.5) is the truncation of x, ties aside.
        return cv2.filter2D(image, -1, kernel, delta=-0.5, borderType=cv2.BORDER_REFLECT_101)
    filtered = cv2.filter2D(image.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    np.clip(filtered, 0.0, 255.0, out=filtered)
    return filtered.astype(np.uint8)


def _filter_dft(image: np.ndarray, radius: float, alias_blur: float) -> np.ndarray:
    """filter2D's correlation with BORDER_REFLECT_101, as a circular correlation of the padded image.

    Pad by the kernel's half sizes (reflect-101, as filter2D), then to a fast DFT size; the outputs
    kept, ``[0, H) x [0, W)``, read only padded pixels ``[0, H + kh - 1)``, so the wrap-around and the
    extra padding never reach them.
    """
    kernel = defocus_kernel(radius, alias_blur)
    half_h, half_w = kernel.shape[0] // 2, kernel.shape[1] // 2
    height, width = image.shape[:2]
    used_h, used_w = height + 2 * half_h, width + 2 * half_w
    size_h, size_w = dft_size(used_h), dft_size(used_w)
    padded = cv2.copyMakeBorder(
        image, half_h, half_h + size_h - used_h, half_w, half_w + size_w - used_w, cv2.BORDER_REFLECT_101
    )
    spectrum = _kernel_spectrum(radius, alias_blur, size_h, size_w)
    out = np.empty_like(image)
    for channel, plane in enumerate(cv2.split(padded)):
        # (nonzeroRows would be correct here, but makes OpenCV's DFT five times slower)
        product = cv2.mulSpectrums(cv2.dft(plane.astype(np.float32)), spectrum, 0, conjB=True)
        filtered = cv2.idft(product, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        kept = filtered[:height, :width]
        np.clip(kept, 0.0, 255.0, out=kept)
        out[:, :, channel] = kept  # truncation, as np.uint8() of the release
    return out


@register("defocus_blur", category="blur", param_names=("radius", "alias_blur"), candidates=CANDIDATES)
def defocus_blur(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    radius, alias_blur = params
    kernel = defocus_kernel(radius, alias_blur)
    height, width = image.shape[:2]
    # The DFT pays off on large kernels over images larger than the kernel.
    if kernel.size >= DFT_MIN_AREA and min(height, width) >= max(kernel.shape):
        return _filter_dft(image, radius, alias_blur)
    return _filter_direct(image, _direct_kernel(radius, alias_blur))
