"""fog(strength, decay): a diamond-square plasma fractal added to the image, then rescaled.

As the release: a plasma map of side ``next_pow2(max(H, W))`` (toroidal diamond-square: every
square centre and diamond centre is the mean of its four neighbours, wrapping around the map, plus
``wibble * U(-wibble, wibble)``; ``wibble`` starts at 100 and is divided by ``decay`` after each
level), normalised to [0, 1] by its own min and max over the whole map, cropped to the image's top
left (H, W); then ``clip((x / 255 + strength * plasma) * m / (m + strength), 0, 1) * 255``,
truncated, with ``m`` the image's maximum in [0, 1].

The map is float32 (the release's float64 differs by about 1e-7 of the map's range). Its last
level is never interleaved into a full map: the four sub-grids give the min and max, and only the
(H, W) crop is assembled, so an 8192 x 8192 map (a 4288 x 2848 image) needs about 0.3 GiB of work
memory instead of 1 GiB or more. A 1x1 image has a 1x1 map, which the release normalises to NaN;
here it is 0 (no fog added), as is any constant map.
"""

from __future__ import annotations

import cv2
import numpy as np

from degradations.registry import register

CANDIDATES = [
    (0.1, 3.0),
    (0.13, 2.85),
    (0.2, 2.5),
    (0.25, 2.2),
    (0.3, 2.05),
    (0.34, 1.89),
    (0.45, 1.7),
    (0.7, 1.6),
    (0.9, 1.5),
    (1.5, 1.5),
    (2.9, 1.3),
    (5.0, 1.3),
]


@register("fog", category="environmental", param_names=("strength", "decay"), candidates=CANDIDATES)
def fog(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    strength, decay = params
    height, width = image.shape[:2]
    plasma, low, high = plasma_crop(next_power_of_2(max(height, width)), decay, height, width, rng)
    top = float(image.max()) / 255.0
    scale = top / (top + strength)  # the release's m / (m + c0)
    # floor(255 * (x + c0 * (map - low) / (high - low)) * scale) = floor(scale * v + a * map + b);
    # cv2 rounds its uint8 conversion, so the offset carries -0.5 (ties at whole levels go to even).
    a = 255.0 * strength * scale / (high - low) if high > low else 0.0
    b = -a * low - 0.5
    planes = [
        cv2.addWeighted(plane, scale, plasma, a, b, dtype=cv2.CV_8U) for plane in cv2.split(image)
    ]
    return cv2.merge(planes)


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def plasma_crop(
    mapsize: int, decay: float, height: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """The release's plasma_fractal before normalisation: its top-left (height, width) crop
    (float32) and the min and max of the whole map."""
    if mapsize & (mapsize - 1) or mapsize < 1:
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    if height > mapsize or width > mapsize:
        raise ValueError(f"crop {height}x{width} larger than the {mapsize}x{mapsize} map")
    corners = np.zeros((1, 1), np.float32)  # the map's points on the current grid
    wibble = 100.0
    stepsize = mapsize
    while stepsize >= 2:
        last = stepsize == 2
        squares, across, down = _level(corners, wibble, rng, keep=not last)
        if last:
            return _assemble_crop(corners, squares, across, down, height, width)
        corners = _interleave(corners, squares, across, down)
        stepsize //= 2
        wibble /= decay
    # mapsize 1: a single point, never refined.
    return corners[:height, :width].copy(), 0.0, 0.0


def _noise(shape: tuple[int, int], wibble: float, rng: np.random.Generator) -> np.ndarray:
    """wibble * U(-wibble, wibble), float32."""
    out = rng.random(shape, dtype=np.float32)
    out *= np.float32(2.0 * wibble * wibble)
    out -= np.float32(wibble * wibble)
    return out


def _level(corners: np.ndarray, wibble: float, rng: np.random.Generator, keep: bool):
    """One diamond-square level on a k x k grid of corners; all indices wrap around.

    squares[i, j]: centre of corners (i, j), (i+1, j), (i, j+1), (i+1, j+1);
    across[i, j]:  between corners (i, j) and (i, j+1), and squares (i-1, j) and (i, j);
    down[i, j]:    between corners (i, j) and (i+1, j), and squares (i, j-1) and (i, j);
    each the mean of its four neighbours plus noise, drawn in that order. With ``keep=False`` (the
    last level) across and down come back as functions that make them on demand, so that the
    caller holds at most one of them at a time.
    """
    quarter = np.empty_like(corners)
    # squares: quarter of corners + corners below, then that + its right neighbour.
    np.add(corners[:-1], corners[1:], out=quarter[:-1])
    np.add(corners[-1], corners[0], out=quarter[-1])
    quarter *= np.float32(0.25)
    squares = _noise(corners.shape, wibble, rng)
    squares += quarter
    squares[:, :-1] += quarter[:, 1:]
    squares[:, -1] += quarter[:, 0]

    def across() -> np.ndarray:
        out = _noise(corners.shape, wibble, rng)
        np.multiply(squares, np.float32(0.25), out=quarter)
        out += quarter
        out[1:] += quarter[:-1]
        out[0] += quarter[-1]
        np.multiply(corners, np.float32(0.25), out=quarter)
        out += quarter
        out[:, :-1] += quarter[:, 1:]
        out[:, -1] += quarter[:, 0]
        return out

    def down() -> np.ndarray:
        out = _noise(corners.shape, wibble, rng)
        np.multiply(squares, np.float32(0.25), out=quarter)
        out += quarter
        out[:, 1:] += quarter[:, :-1]
        out[:, 0] += quarter[:, -1]
        np.multiply(corners, np.float32(0.25), out=quarter)
        out += quarter
        out[:-1] += quarter[1:]
        out[-1] += quarter[0]
        return out

    if keep:
        return squares, across(), down()
    return squares, across, down


def _interleave(corners, squares, across, down) -> np.ndarray:
    k = corners.shape[0]
    full = np.empty((2 * k, 2 * k), np.float32)
    full[0::2, 0::2] = corners
    full[1::2, 1::2] = squares
    full[0::2, 1::2] = across
    full[1::2, 0::2] = down
    return full


def _assemble_crop(corners, squares, make_across, make_down, height, width):
    """The last level: min and max over all four sub-grids, and the (height, width) crop."""
    crop = np.empty((height, width), np.float32)
    even_h, odd_h = (height + 1) // 2, height // 2
    even_w, odd_w = (width + 1) // 2, width // 2
    low, high = _min_max(corners)
    crop[0::2, 0::2] = corners[:even_h, :even_w]
    lo, hi = _min_max(squares)
    low, high = min(low, lo), max(high, hi)
    crop[1::2, 1::2] = squares[:odd_h, :odd_w]
    across = make_across()
    lo, hi = _min_max(across)
    low, high = min(low, lo), max(high, hi)
    crop[0::2, 1::2] = across[:even_h, :odd_w]
    del across
    down = make_down()
    lo, hi = _min_max(down)
    low, high = min(low, lo), max(high, hi)
    crop[1::2, 0::2] = down[:odd_h, :even_w]
    return crop, low, high


def _min_max(array: np.ndarray) -> tuple[float, float]:
    low, high, _, _ = cv2.minMaxLoc(array)
    return float(low), float(high)
