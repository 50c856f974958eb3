"""fog against a plain float64 transcription of the release's plasma fractal and formula."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import degradations
from degradations.distortions import fog as module
from degradations.severity import psnr
from tests.conftest import load_photo

SPEC_TABLE = [
    (0.1, 3.0), (0.13, 2.85), (0.2, 2.5), (0.25, 2.2), (0.3, 2.05), (0.34, 1.89),
    (0.45, 1.7), (0.7, 1.6), (0.9, 1.5), (1.5, 1.5), (2.9, 1.3), (5.0, 1.3),
]


def plain_plasma(mapsize: int, decay: float, rng) -> np.ndarray:
    """Toroidal diamond-square in float64 on the full map (np.roll wraps), normalised by min/max."""
    grid = np.zeros((mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def noisy_mean(total):
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0::step, 0::step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        grid[half::step, half::step] = noisy_mean(square)
        centres = grid[half::step, half::step]
        across = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0::step, half::step] = noisy_mean(across)
        down = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half::step, 0::step] = noisy_mean(down)
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / grid.max()


def plain_fog(image: np.ndarray, c: tuple[float, float], rng) -> np.ndarray:
    height, width = image.shape[:2]
    mapsize = 1 << (max(height, width) - 1).bit_length()
    x = image / 255.0
    top = x.max()
    x = x + c[0] * plain_plasma(mapsize, c[1], rng)[:height, :width, None]
    return (np.clip(x * top / (top + c[0]), 0, 1) * 255).astype(np.uint8)


class SharedUniforms:
    """The same uniform draws for both: rng.random(shape, dtype) here, rng.uniform(-w, w) there."""

    def __init__(self, seed: int):
        self.draws = np.random.default_rng(seed)

    def random(self, shape, dtype=np.float64):
        return self.draws.random(shape).astype(dtype)

    def uniform(self, low, high, shape):
        return low + (high - low) * self.draws.random(shape)


def test_registration_and_table():
    spec = degradations.get("fog")
    assert spec.category == "environmental"
    assert spec.param_names == ("strength", "decay")
    assert spec.candidates == tuple(tuple(float(v) for v in row) for row in SPEC_TABLE)
    sizes = (1, 2, 3, 4, 5, 480, 640, 1025, 4288)
    assert [module.next_power_of_2(n) for n in sizes] == [1, 2, 4, 4, 8, 512, 1024, 2048, 8192]


@pytest.mark.parametrize("mapsize, decay", [(2, 2.0), (4, 1.5), (64, 3.0), (256, 1.3), (512, 1.7)])
def test_plasma_equals_the_release_algorithm_given_the_same_draws(mapsize, decay):
    expected = plain_plasma(mapsize, decay, SharedUniforms(5))
    for height, width in [(mapsize, mapsize), (max(1, mapsize // 2), mapsize - 1), (1, 1)]:
        crop, low, high = module.plasma_crop(mapsize, decay, height, width, SharedUniforms(5))
        assert np.abs((crop - low) / (high - low) - expected[:height, :width]).max() < 1e-6


SAME_DRAWS_PHOTOS = [("astronaut", (320, 240)), ("coffee", (241, 161)), ("rocket", (37, 52))]


@pytest.mark.parametrize("name, size", SAME_DRAWS_PHOTOS)
def test_equals_the_release_formula_given_the_same_draws(name, size):
    image = load_photo(name, size)
    spec = degradations.get("fog")
    for params in spec.candidates:
        ours = spec(image, params, SharedUniforms(3))
        release = plain_fog(image, params, SharedUniforms(3))
        diff = np.abs(ours.astype(int) - release)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, params


@pytest.mark.parametrize("name, size", [("astronaut", (160, 120)), ("coffee", (121, 97))])
def test_psnr_matches_the_release_with_its_own_draws(name, size):
    # The plasma's large-scale structure makes fog's PSNR vary by about 1 dB between seeds.
    image = load_photo(name, size)
    spec = degradations.get("fog")
    seeds = range(12)
    for params in spec.candidates:
        ours = [psnr(image, spec(image, params, np.random.default_rng(s))) for s in seeds]
        release = [psnr(image, plain_fog(image, params, np.random.default_rng(100 + s))) for s in seeds]
        error = math.sqrt((np.var(ours) + np.var(release)) / len(seeds))
        assert abs(np.mean(ours) - np.mean(release)) <= 0.1 + 3.5 * error, params


SHAPES = [(1, 1, 3), (1, 2, 3), (2, 1, 3), (3, 5, 3), (7, 4, 3), (1, 9, 3), (33, 47, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_tiny_and_odd_images(shape):
    image = np.random.default_rng(2).integers(1, 256, shape, dtype=np.uint8)
    spec = degradations.get("fog")
    for params in spec.candidates:
        out = spec(image, params, np.random.default_rng(1))
        assert out.shape == shape and out.dtype == np.uint8
        assert np.array_equal(out, spec(image, params, np.random.default_rng(1)))
    # A 1x1 map has no fog (the release divides 0 by 0): the image is only rescaled by m / (m + c0).
    pixel = np.array([[[200, 100, 0]]], np.uint8)
    out = spec(pixel, (1.5, 1.5), np.random.default_rng(0))
    scale = (200 / 255) / (200 / 255 + 1.5)
    assert np.array_equal(out, np.floor(pixel * scale).astype(np.uint8))


def test_black_image_stays_black(photos):
    image = np.zeros((40, 30, 3), np.uint8)
    assert not degradations.get("fog")(image, (5.0, 1.3), np.random.default_rng(0)).any()


def test_seeds_give_different_fog(photos):
    image = photos["astronaut"]
    spec = degradations.get("fog")
    for params in spec.candidates:
        first = spec(image, params, np.random.default_rng(8))
        assert np.array_equal(first, spec(image, params, np.random.default_rng(8)))
        assert not np.array_equal(first, spec(image, params, np.random.default_rng(9)))


@pytest.mark.slow
def test_largest_source_memory():
    # 4288 x 2848 needs an 8192 x 8192 map; its work memory stays far below the 2 GiB budget.
    image = load_photo("astronaut", (4288, 2848))
    tracemalloc.start()
    try:
        degradations.get("fog")(image, (5.0, 1.3), np.random.default_rng(0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20, f"{peak / 2**20:.0f} MiB"
