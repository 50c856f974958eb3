"""gaussian_noise(c): clip(x/255 + N(0, c)) * 255, truncated to uint8, as in the release.

The noise comes from the ``rng`` passed in only (float32 Box-Muller, see :func:`normal_float32`) and is
added in grey levels: ``floor(clip(x + 255 * c * z, 0, 255))``, the release's formula up to float rounding.
"""

from __future__ import annotations

import numpy as np

from degradations.registry import register

CANDIDATES = np.logspace(np.log10(0.01), np.log10(1.0), 12)

# Values per block: the temporaries of a block stay in cache, and no call touches fresh pages beyond
# its output (page faults on image-sized scratch arrays cost as much as the arithmetic).
BLOCK = 1 << 15
_TWO_PI = np.float32(2.0 * np.pi)


def _fill_normal(rng: np.random.Generator, out: np.ndarray, scale: np.float32, scratch: np.ndarray) -> None:
    """Fill the float32 vector ``out`` (even length) with N(0, scale**2) by Box-Muller."""
    half = out.size // 2
    radius = scratch[:half]
    angle = out[half:]
    rng.random(out=radius, dtype=np.float32)
    rng.random(out=angle, dtype=np.float32)
    np.subtract(np.float32(1.0), radius, out=radius)  # (0, 1]: the log stays finite
    np.log(radius, out=radius)
    radius *= np.float32(-2.0) * scale * scale
    np.sqrt(radius, out=radius)
    angle *= _TWO_PI
    np.cos(angle, out=out[:half])
    np.sin(angle, out=angle)
    out[:half] *= radius
    angle *= radius


def _blocks(count: int):
    """(start, stop, padded length) of the blocks covering ``count`` values; lengths are even."""
    for start in range(0, count, BLOCK):
        stop = min(start + BLOCK, count)
        yield start, stop, (stop - start + 1) & ~1


def normal_float32(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """``scale * N(0, 1)`` of ``shape`` as float32: the noise :func:`gaussian_noise` adds, before clipping.

    Box-Muller on ``rng``'s float32 uniforms, block by block: 2.5 times as fast as
    ``rng.standard_normal(dtype=np.float32)``. The uniforms' 24-bit resolution bounds |z| by 5.8
    (a normal tail of probability 8e-9).
    """
    count = int(np.prod(shape))
    out = np.empty(count + 1, dtype=np.float32)
    scratch = np.empty(BLOCK // 2, dtype=np.float32)
    factor = np.float32(scale)
    for start, stop, length in _blocks(count):
        _fill_normal(rng, out[start : start + length], factor, scratch)
    return out[:count].reshape(shape)


@register("gaussian_noise", category="noise", param_names=("sigma",), candidates=CANDIDATES)
def gaussian_noise(image: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    (sigma,) = params
    factor = np.float32(255.0 * sigma)
    pixels = image.reshape(-1)
    count = pixels.size
    out = np.empty(count, dtype=np.uint8)
    noise = np.empty(BLOCK, dtype=np.float32)
    scratch = np.empty(BLOCK // 2, dtype=np.float32)
    # Same draws as normal_float32(rng, image.shape, 255 * sigma), block by block.
    for start, stop, length in _blocks(count):
        block = noise[:length]
        _fill_normal(rng, block, factor, scratch)
        block = block[: stop - start]
        block += pixels[start:stop]
        np.clip(block, 0.0, 255.0, out=block)
        np.copyto(out[start:stop], block, casting="unsafe")  # truncation, as np.uint8() of the release
    return out.reshape(image.shape)
