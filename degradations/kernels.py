"""Filters shared by several distortions, matched to the libraries the release called."""

from __future__ import annotations

import cv2
import numpy as np


def gaussian_kernel_1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's Gaussian kernel (radius ``int(truncate * sigma + 0.5)``), normalised."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def skimage_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """``skimage.filters.gaussian(image, sigma, channel_axis=-1)`` (mode 'nearest', truncate 4).

    Separable, per channel, edge pixels replicated; float32 in and out.
    """
    kernel = gaussian_kernel_1d(sigma).astype(np.float32)
    src = image if image.dtype == np.float32 else image.astype(np.float32)
    return cv2.sepFilter2D(src, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REPLICATE)


# ---------------------------------------------------------------------------------------------------
# The release's uint8 truncation after a float64 Gaussian, emulated in float32.

import functools  # noqa: E402  (helpers appended below the original module)
from collections.abc import Sequence  # noqa: E402

# float32 filtering of 0..255 values is within 1e-4 of scipy's float64 result (measured <= 7.5e-5);
# results closer than this to a whole level are decided as scipy decides a flat area (see below).
_LEVEL_WINDOW = 2.5e-4


@functools.lru_cache(maxsize=64)
def _flat_gaussian_keeps(sigma: float) -> np.ndarray:
    """For each level v: does ``np.uint8(skimage.filters.gaussian(v / 255, sigma) * 255)`` keep v?

    On an area of one level, scipy's float64 sum of v/255 times the weights lands just below or
    just above v/255, depending on v and sigma (sigma 0.45 drops 254 of the 256 levels by one), and
    the release's truncation then keeps v or gives v - 1. A 1x1 image with mode 'nearest' runs the
    same arithmetic as the inside of a flat area.
    """
    from scipy import ndimage

    levels = (np.arange(256, dtype=np.float64) / 255.0).reshape(1, 1, 256)
    blurred = ndimage.gaussian_filter(levels, (sigma, sigma, 0), mode="nearest", truncate=4.0)
    out = (np.clip(blurred, 0.0, 1.0) * 255.0).astype(np.uint8).ravel()
    return (out == np.arange(256)).astype(np.uint8)


def skimage_gaussian_u8(image: np.ndarray, sigma: float) -> np.ndarray:
    """``np.uint8(np.clip(skimage.filters.gaussian(image / 255., sigma, channel_axis=-1), 0, 1) * 255)``.

    uint8 (H, W, C) in and out. Filtered in float32 (about 3x faster than float64); a result within
    ``_LEVEL_WINDOW`` of a whole level n, which is what a flat area gives, becomes n or n - 1 as
    scipy's float64 arithmetic decides for a flat area of level n, so flat areas match the release
    exactly. Elsewhere the result equals the release's except for pixels whose exact value lies
    within about 1e-4 of a level (one level off at most).
    """
    kernel = gaussian_kernel_1d(sigma).astype(np.float32)
    keeps = _flat_gaussian_keeps(float(sigma))
    if keeps.all():  # flat areas keep their level: truncate just above it
        blurred = cv2.sepFilter2D(
            image, cv2.CV_32F, kernel, kernel, delta=_LEVEL_WINDOW, borderType=cv2.BORDER_REPLICATE
        )
        return blurred.astype(np.uint8)
    # Flat areas of level v drop to v - 1 where keeps[v] == 0: truncate just below the level there.
    # (Level 0 always keeps: 0 - window truncates toward zero, to 0.)
    blurred = cv2.sepFilter2D(
        image, cv2.CV_32F, kernel, kernel, delta=-_LEVEL_WINDOW, borderType=cv2.BORDER_REPLICATE
    )
    below = blurred.astype(np.uint8)
    if not keeps[1:].any():
        return below
    blurred += 2.0 * _LEVEL_WINDOW
    above = blurred.astype(np.uint8)
    # above - below is 1 only inside a window around a level n = above; keep n where keeps[n].
    step = cv2.subtract(above, below)
    cv2.bitwise_and(step, cv2.LUT(above, keeps), dst=step)
    return cv2.add(below, step, dst=below)


# ---------------------------------------------------------------------------------------------------
# Sparse correlation: a weighted sum of shifted copies of an image (motion blur lines).

# cv2.filter2D switches to a DFT above this kernel area (float32 in and out; 50 without SSE3):
# slower for sparse kernels, and not exact. Kernels are applied in pieces below the limit.
_DFT_AREA = 130 if cv2.checkHardwareSupport(getattr(cv2, "CPU_SSE3", 3)) else 50  # CV_CPU_SSE3 == 3


def correlate_taps(
    image: np.ndarray,
    dx: Sequence[int],
    dy: Sequence[int],
    weights: Sequence[float],
    delta: float = 0.0,
    dtype: type = np.float32,
) -> np.ndarray:
    """``delta + sum_i weights[i] * image[clip(y + dy[i]), clip(x + dx[i])]``, edges replicated.

    ``image`` is uint8 or float32, (H, W) or (H, W, C); taps at equal offsets are merged. Computed
    in float32; ``dtype=np.uint8`` truncates the result to uint8 (the caller keeps it in [0, 256)).
    The taps, taken in order, are cut into runs whose bounding boxes stay below cv2.filter2D's DFT
    threshold, so the cost is proportional to the number of taps (a line of n taps costs about n
    shifted adds), and large images are processed in bands of rows to bound the work memory.
    """
    merged: dict[tuple[int, int], float] = {}
    for x, y, w in zip(dx, dy, weights):
        key = (int(x), int(y))
        merged[key] = merged.get(key, 0.0) + float(w)
    if not merged:
        raise ValueError("correlate_taps needs at least one tap")
    offsets = list(merged)
    xs = [x for x, _ in offsets]
    ys = [y for _, y in offsets]
    groups = _tap_groups(xs, ys)
    kernels = [_group_kernel(group, xs, ys, merged, offsets) for group in groups]
    height, width = image.shape[:2]
    left, right = max(0, -min(xs)), max(0, max(xs))
    top, bottom = max(0, -min(ys)), max(0, max(ys))
    channels = image.shape[2] if image.ndim == 3 else 1
    band = max(8 * (top + bottom + 1), _BAND_VALUES // max(1, (width + left + right) * channels))
    if band >= height and len(groups) == 1 and min(xs) <= 0 <= max(xs) and min(ys) <= 0 <= max(ys):
        # One small kernel around the origin: filter2D replicates the edges itself.
        src = image
        if image.dtype != np.float32 and kernels[0].size >= _DFT_AREA_8U:
            src = image.astype(np.float32)
        out = cv2.filter2D(
            src,
            cv2.CV_32F,
            kernels[0],
            anchor=(-min(xs), -min(ys)),
            delta=delta,
            borderType=cv2.BORDER_REPLICATE,
        )
        return out if dtype == np.float32 else out.astype(dtype)
    if band >= height:
        return _correlate_band(image, 0, height, groups, kernels, xs, ys, merged, offsets, delta, dtype)
    out = np.empty(image.shape, dtype)
    for r0 in range(0, height, band):
        r1 = min(height, r0 + band)
        out[r0:r1] = _correlate_band(image, r0, r1, groups, kernels, xs, ys, merged, offsets, delta, dtype)
    return out


# Large images run in bands of rows of about this many values (float32: 16 MiB per band buffer).
_BAND_VALUES = 1 << 22


def _correlate_band(image, r0, r1, groups, kernels, xs, ys, merged, offsets, delta, dtype) -> np.ndarray:
    """Output rows r0..r1 of correlate_taps, from the rows they read, padded as the image edges."""
    height, width = image.shape[:2]
    left, right = max(0, -min(xs)), max(0, max(xs))
    top, bottom = max(0, -min(ys)), max(0, max(ys))
    first, stop = r0 - top, r1 + bottom  # rows read, before clipping to the image
    src = image[max(0, first) : min(height, stop)]
    padded = cv2.copyMakeBorder(
        src, max(0, -first), max(0, stop - height), left, right, cv2.BORDER_REPLICATE
    )
    if padded.dtype != np.float32:
        padded = padded.astype(np.float32)
    rows = r1 - r0
    acc: np.ndarray | None = None
    for group, kernel in zip(groups, kernels):
        x0 = min(xs[i] for i in group)
        y0 = min(ys[i] for i in group)
        if len(group) == 1:
            view = padded[top + y0 : top + y0 + rows, left + x0 : left + x0 + width]
            term = view * np.float32(merged[offsets[group[0]]])
        else:
            kh, kw = kernel.shape
            # The view reaches kernel size - 1 past the output so that every kept output pixel
            # reads real (padded) pixels; the extra rows and columns are cut off.
            view = padded[top + y0 : top + y0 + rows + kh - 1, left + x0 : left + x0 + width + kw - 1]
            term = cv2.filter2D(view, cv2.CV_32F, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
            term = term[:rows, :width]
        if acc is None:
            acc = term
            if delta:
                acc += np.float32(delta)
        else:
            np.add(acc, term, out=acc)
    assert acc is not None
    return acc if dtype == np.float32 else acc.astype(dtype)


# filter2D from uint8 to float32 switches to the DFT at this kernel area already.
_DFT_AREA_8U = 50


def _group_kernel(
    group: list[int], xs: list[int], ys: list[int], merged: dict[tuple[int, int], float], offsets: list
) -> np.ndarray:
    x0 = min(xs[i] for i in group)
    y0 = min(ys[i] for i in group)
    kernel = np.zeros((max(ys[i] for i in group) - y0 + 1, max(xs[i] for i in group) - x0 + 1), np.float32)
    for i in group:
        kernel[ys[i] - y0, xs[i] - x0] = merged[offsets[i]]
    return kernel


def _tap_groups(xs: list[int], ys: list[int]) -> list[list[int]]:
    """Consecutive runs of taps whose bounding box area stays below ``_DFT_AREA``."""
    groups: list[list[int]] = []
    current: list[int] = []
    x_lo = x_hi = y_lo = y_hi = 0
    for i, (x, y) in enumerate(zip(xs, ys)):
        if current:
            nx_lo, nx_hi, ny_lo, ny_hi = min(x_lo, x), max(x_hi, x), min(y_lo, y), max(y_hi, y)
            if (nx_hi - nx_lo + 1) * (ny_hi - ny_lo + 1) < _DFT_AREA:
                current.append(i)
                x_lo, x_hi, y_lo, y_hi = nx_lo, nx_hi, ny_lo, ny_hi
                continue
            groups.append(current)
        current = [i]
        x_lo = x_hi = x
        y_lo = y_hi = y
    groups.append(current)
    return groups
