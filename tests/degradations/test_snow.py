"""snow against a plain float64 transcription of the release's steps (scipy zoom, numpy motion blur)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import scipy.ndimage

import degradations
from degradations.distortions import snow as module
from degradations.severity import psnr
from tests.conftest import load_photo


def plain_motion_blur(layer: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """The release's numpy motion blur: int(2r + 1) taps of weights normalised over arange(2r + 1)."""
    width = radius * 2 + 1
    weights = np.exp(-np.arange(width) ** 2 / (2 * sigma**2))
    weights /= weights.sum()
    sin, cos = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    height, wide = layer.shape
    rows, cols = np.arange(height), np.arange(wide)
    out = np.zeros_like(layer)
    for i in range(int(width)):
        oy, ox = math.ceil(i * sin - 0.5), math.ceil(i * cos - 0.5)
        if abs(oy) >= height or abs(ox) >= wide:
            break
        out += weights[i] * layer[np.clip(rows + oy, 0, height - 1)][:, np.clip(cols + ox, 0, wide - 1)]
    return out


def plain_snow(image: np.ndarray, c: tuple[float, ...], rng) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    height, width = x.shape[:2]
    layer = rng.normal(size=(height, width), loc=c[0], scale=c[1])
    crop_h, crop_w = int(np.ceil(height / c[2])), int(np.ceil(width / c[2]))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    layer = scipy.ndimage.zoom(layer[top : top + crop_h, left : left + crop_w], (c[2], c[2]), order=1)
    layer[layer < c[3]] = 0
    layer = np.clip(layer, 0, 1)
    layer = plain_motion_blur(layer, c[4], c[5], rng.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.0)[:height, :width, None]
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[:, :, None]
    # numpy 1.x (the release's): float64 scalars times float32 arrays stay float32
    x = np.float32(c[6]) * x + np.float32(1 - c[6]) * np.maximum(x, gray * np.float32(1.5) + np.float32(0.5))
    return (np.clip(x + layer + np.rot90(layer, 2), 0, 1) * 255).astype(np.uint8)


class SharedDraws:
    """One set of draws served to both: the release's full normal layer, or the centre crop of it."""

    def __init__(self, shape: tuple[int, int], seed: int):
        draws = np.random.default_rng(seed)
        self.normals = draws.standard_normal(shape)
        self.angle = draws.uniform(-135, -45)

    def standard_normal(self, shape, dtype=np.float64):
        height, width = self.normals.shape
        top, left = (height - shape[0]) // 2, (width - shape[1]) // 2
        return self.normals[top : top + shape[0], left : left + shape[1]].astype(dtype)

    def normal(self, size, loc, scale):
        assert size == self.normals.shape
        return loc + scale * self.normals

    def uniform(self, low, high):
        assert (low, high) == (-135, -45)
        return self.angle


def test_registration_and_table():
    spec = degradations.get("snow")
    assert spec.category == "environmental"
    assert spec.param_names == ("loc", "scale", "zoom", "threshold", "blur_radius", "blur_sigma", "blend")
    start, end = np.array([0.05, 0.1, 1, 0.3, 5, 2, 1]), np.array([0.6, 0.4, 5, 0.9, 15, 15, 0.5])
    expected = start + np.linspace(0, 1, 12)[:, None] * (end - start)
    assert np.array_equal(np.array(spec.candidates), expected)
    assert spec.candidates[0] == (0.05, 0.1, 1.0, 0.3, 5.0, 2.0, 1.0)
    assert np.allclose(spec.candidates[-1], end)


SAME_DRAWS_PHOTOS = [("astronaut", (320, 240)), ("coffee", (241, 161)), ("rocket", (37, 52))]


@pytest.mark.parametrize("name, size", SAME_DRAWS_PHOTOS)
def test_equals_the_release_steps_given_the_same_draws(name, size):
    image = load_photo(name, size)
    spec = degradations.get("snow")
    for params in spec.candidates:
        for seed in (0, 1):
            ours = spec(image, params, SharedDraws(image.shape[:2], seed))
            release = plain_snow(image, params, SharedDraws(image.shape[:2], seed))
            diff = np.abs(ours.astype(int) - release)
            assert diff.max() <= 1, params
            assert (diff > 0).mean() < 0.01, params


@pytest.mark.parametrize("name, size", [("astronaut", (320, 240)), ("coffee", (241, 161))])
def test_psnr_matches_the_release_with_its_own_draws(name, size):
    image = load_photo(name, size)
    spec = degradations.get("snow")
    seeds = range(4)
    for params in spec.candidates:
        ours = [psnr(image, spec(image, params, np.random.default_rng(s))) for s in seeds]
        release = [psnr(image, plain_snow(image, params, np.random.default_rng(100 + s))) for s in seeds]
        error = math.sqrt((np.var(ours) + np.var(release)) / len(seeds))
        assert abs(np.mean(ours) - np.mean(release)) <= 0.3 + 3 * error, params


def test_zoom_equals_scipy():
    draws = np.random.default_rng(0)
    checked_zero_edge = False
    for height in (1, 2, 5, 161, 240):
        for width in (1, 3, 241, 320):
            for zoom in np.array(degradations.get("snow").candidates)[1:, 2]:
                crop = draws.normal(0.3, 0.4, (math.ceil(height / zoom), math.ceil(width / zoom)))
                expected = scipy.ndimage.zoom(crop, (zoom, zoom), order=1)
                if expected.shape == crop.shape:
                    continue
                ours = module.zoom_corners(crop.astype(np.float32), *expected.shape)
                assert np.abs(ours - expected).max() < 1e-4
                checked_zero_edge |= bool(np.all(expected[:, -1] == 0) or np.all(expected[-1] == 0))
    assert checked_zero_edge  # scipy's float64 rounding zeroes a last column for some sizes


def test_motion_taps_follow_the_release():
    # width 2r + 1 = 12.818...: weights normalised over 13 samples, 12 of them used
    radius = 5 + 10 / 11
    dx, dy, weights = module.release_motion_taps(radius, 3.0, -90.0, (500, 500))
    # angle -90: each pixel reads the layer straight above it, so flakes streak downwards
    assert len(weights) == 12 and dx == [0] * 12 and dy == [-i for i in range(12)]
    full = np.exp(-np.arange(13) ** 2 / 18.0)
    assert np.allclose(weights, full[:12] / full.sum())
    # the release stops at the first shift as large as the layer
    dx, dy, _ = module.release_motion_taps(15, 15, -90.0, (5, 40))
    assert dy == [0, -1, -2, -3, -4]


SHAPES = [(1, 1, 3), (1, 2, 3), (2, 1, 3), (3, 5, 3), (7, 4, 3), (1, 23, 3), (19, 1, 3), (33, 47, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_tiny_and_odd_images(shape):
    image = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    spec = degradations.get("snow")
    for params in spec.candidates:
        out = spec(image, params, np.random.default_rng(1))
        assert out.shape == shape and out.dtype == np.uint8
        assert np.array_equal(out, spec(image, params, np.random.default_rng(1)))


def test_seeds_give_different_snow(photos):
    image = photos["chelsea"]
    spec = degradations.get("snow")
    for params in spec.candidates:
        first = spec(image, params, np.random.default_rng(8))
        assert np.array_equal(first, spec(image, params, np.random.default_rng(8)))
        assert not np.array_equal(first, spec(image, params, np.random.default_rng(9)))
