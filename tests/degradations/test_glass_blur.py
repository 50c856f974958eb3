"""glass_blur against skimage's Gaussian and plain loop transcriptions of the release and ImageNet-C."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.filters

import degradations
from degradations.distortions import glass_blur as module
from degradations.kernels import skimage_gaussian_u8
from degradations.severity import psnr

SPEC_TABLE = [
    (0.4, 1, 0.4), (0.42, 1.5, 0.8), (0.45, 1.5, 0.9), (0.49, 1.5, 0.9), (0.55, 1.5, 0.9), (0.65, 2, 0.9),
    (0.8, 2.5, 0.9), (1.2, 2.5, 0.99), (1.5, 2, 1.2), (2, 2, 2), (3, 3, 3), (4, 5, 4),
]
SIGMAS = sorted({row[0] for row in SPEC_TABLE})


def release_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """The release's ``np.uint8(clip(gaussian(x / 255., sigma, channel_axis=-1), 0, 1) * 255)``."""
    blurred = skimage.filters.gaussian(image / 255.0, sigma=sigma, channel_axis=-1)
    return (np.clip(blurred, 0, 1) * 255).astype(np.uint8)


def loop_gather(image: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Every pixel reads the image before the round at (h + dh, w + dw), indices clipped."""
    height, width = image.shape[:2]
    out = np.empty_like(image)
    for h in range(height):
        for w in range(width):
            dw, dh = offsets[h, w]
            out[h, w] = image[min(max(h + dh, 0), height - 1), min(max(w + dw, 0), width - 1)]
    return out


def imagenet_c_sweep(image: np.ndarray, delta: int, draws: np.ndarray) -> np.ndarray:
    """ImageNet-C's loop and statement, verbatim semantics, with pre-drawn (dx, dy) per position."""
    x = image.copy()
    height, width = x.shape[:2]
    for a, h in enumerate(range(height - delta, delta, -1)):
        for b, w in enumerate(range(width - delta, delta, -1)):
            dx, dy = draws[a, b]
            h_prime, w_prime = h + dy, w + dx
            x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return x


def test_registration_and_table():
    spec = degradations.get("glass_blur")
    assert spec.category == "blur"
    assert spec.param_names == ("sigma", "max_delta", "iterations")
    assert spec.candidates == tuple(tuple(float(v) for v in row) for row in SPEC_TABLE)
    assert spec.options == {"shuffle": ("gather", "sequential")}
    # int() of the table: candidates 1-8 never shuffle, 9-12 shuffle 1, 2, 3 and 4 rounds.
    assert [int(row[2]) for row in SPEC_TABLE] == [0] * 8 + [1, 2, 3, 4]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_flat_areas_truncate_exactly_as_the_release(sigma):
    # On a flat area scipy's float64 sum falls just below or above v / 255; sigma 0.45 drops almost
    # every level by one. The emulation reproduces that for all 256 levels.
    side = 35  # wider than the largest kernel (33 taps): each block's centre sees one level only
    levels = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], side, axis=0), 3, axis=2)
    flat = np.repeat(levels, side, axis=1)  # side x 256 * side x 3: a square block per level
    centre = (side // 2, slice(side // 2, None, side))
    ours, release = skimage_gaussian_u8(flat, sigma)[centre], release_gaussian(flat, sigma)[centre]
    assert np.array_equal(ours, release)


@pytest.mark.parametrize("name", ["astronaut", "rocket", "coffee"])
def test_candidates_1_to_8_are_two_skimage_gaussians(photos, name):
    image = np.ascontiguousarray(photos[name][:, :317])  # odd width
    spec = degradations.get("glass_blur")
    for params in spec.candidates[:8]:
        out = spec(image, params, np.random.default_rng(0))
        expected = release_gaussian(release_gaussian(image, params[0]), params[0])
        diff = np.abs(out.astype(int) - expected)
        assert diff.max() <= 1, params
        # float32 cannot resolve the smallest tails of the kernel; the rest is exact
        assert (diff > 0).mean() < 0.1, params


def test_gather_equals_a_plain_loop():
    image = np.random.default_rng(1).integers(0, 256, (23, 17, 3), dtype=np.uint8)
    for delta in (1, 2, 3, 5):
        offsets = module.gather_offsets(image.shape[:2], delta, np.random.default_rng(delta))
        assert offsets.shape == (23, 17, 2)
        assert offsets.min() == -delta and offsets.max() == delta - 1  # [-d, d), as randint
        expected = loop_gather(image, offsets)
        assert np.array_equal(module.apply_gather(image, offsets.copy()), expected)


def test_gather_fallback_for_huge_images_equals_the_loop(monkeypatch):
    monkeypatch.setattr(module, "_REMAP_LIMIT", 4)  # force the numpy path
    image = np.random.default_rng(2).integers(0, 256, (11, 13, 3), dtype=np.uint8)
    offsets = module.gather_offsets(image.shape[:2], 3, np.random.default_rng(0))
    assert np.array_equal(module.apply_gather(image, offsets.copy()), loop_gather(image, offsets))


@pytest.mark.parametrize("index", [9, 10, 11, 12])
def test_shuffling_candidates_equal_the_release_given_the_same_offsets(photos, index):
    image = np.ascontiguousarray(photos["chelsea"][:97, :61])
    spec = degradations.get("glass_blur")
    params = spec.candidates[index - 1]
    sigma, delta, rounds = params[0], int(params[1]), int(params[2])
    out = spec(image, params, np.random.default_rng(7))
    draws = np.random.default_rng(7)
    x = release_gaussian(image, sigma)
    for _ in range(rounds):
        x = loop_gather(x, module.gather_offsets(x.shape[:2], delta, draws))
    expected = release_gaussian(x, sigma)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_sequential_round_is_imagenet_c_sweep():
    image = np.random.default_rng(3).integers(0, 256, (19, 14, 3), dtype=np.uint8)
    for delta in (1, 2, 3):
        rows, cols = len(range(19 - delta, delta, -1)), len(range(14 - delta, delta, -1))
        draws = np.random.default_rng(delta).integers(-delta, delta, size=(rows, cols, 2))
        expected = imagenet_c_sweep(image, delta, draws)
        got = module._sequential_round(image, delta, np.random.default_rng(delta))
        assert np.array_equal(got, expected)


def test_gather_is_milder_than_the_sequential_sweep(photos):
    spec = degradations.get("glass_blur")

    def mean_psnr(image, params, shuffle):
        outs = [spec(image, params, np.random.default_rng(s), shuffle=shuffle) for s in (0, 1)]
        return np.mean([psnr(image, out) for out in outs])

    for name in ("astronaut", "chelsea"):
        image = photos[name]
        for params in spec.candidates[8:]:
            assert mean_psnr(image, params, "gather") > mean_psnr(image, params, "sequential"), params
        # ImageNet-C's severities 3-5 (sigma, delta, iterations): the SPEC's 1.2-1.5 dB gap
        for params in [(1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]:
            gap = mean_psnr(image, params, "gather") - mean_psnr(image, params, "sequential")
            assert 0.8 < gap < 2.0, (name, params, gap)


SHAPES = [(1, 1, 3), (1, 2, 3), (2, 1, 3), (3, 5, 3), (7, 4, 3), (12, 1, 3), (41, 29, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("shuffle", ["gather", "sequential"])
def test_tiny_and_odd_images(shape, shuffle):
    image = np.random.default_rng(4).integers(0, 256, shape, dtype=np.uint8)
    spec = degradations.get("glass_blur")
    for params in spec.candidates:
        out = spec(image, params, np.random.default_rng(0), shuffle=shuffle)
        assert out.shape == shape and out.dtype == np.uint8


def test_determinism_and_seeds(photos):
    image = photos["coffee"]
    spec = degradations.get("glass_blur")
    for params in spec.candidates[8:]:
        first = spec(image, params, np.random.default_rng(5))
        assert np.array_equal(first, spec(image, params, np.random.default_rng(5)))
        assert not np.array_equal(first, spec(image, params, np.random.default_rng(6)))
    # no shuffle: no randomness at all
    params = spec.candidates[0]
    first, second = (spec(image, params, np.random.default_rng(s)) for s in (5, 6))
    assert np.array_equal(first, second)
