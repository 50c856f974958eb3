"""motion_blur: the OpenCV reimplementation against ImageMagick itself (through Wand, as the release)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import degradations
from degradations import kernels
from degradations.distortions import motion_blur as module
from degradations.severity import psnr
from tests.conftest import load_photo

SPEC_TABLE = [
    (1.4, 0.6), (1.5, 0.7), (2, 0.9), (4, 1.5), (7, 2.5), (10.5, 3.5),
    (15, 5), (20, 7), (27, 10), (35, 14), (47, 20), (60, 30),
]


def _wand_available() -> bool:
    try:
        import wand.api  # noqa: F401
    except ImportError:
        return False
    return True


needs_wand = pytest.mark.skipif(not _wand_available(), reason="wand / ImageMagick's MagickWand not installed")


def test_registration_and_table():
    spec = degradations.get("motion_blur")
    assert spec.category == "blur"
    assert spec.param_names == ("radius", "sigma")
    assert spec.candidates == tuple(tuple(float(v) for v in row) for row in SPEC_TABLE)
    assert spec.options == {"backend": ("opencv", "wand")}


def test_kernel_width_and_taps():
    # GetOptimalKernelWidth1D: 2 * ceil(radius) + 1 for a positive radius
    widths = [module.optimal_kernel_width_1d(r, s) for r, s in SPEC_TABLE]
    assert widths == [5, 5, 5, 9, 15, 23, 31, 41, 55, 71, 95, 121]
    dx, dy, weights = module.motion_blur_taps(60, 30, 0.0)
    assert dx == list(range(121)) and dy == [0] * 121  # angle 0: a horizontal line to the right
    assert abs(sum(weights) - 1) < 1e-12 and all(a > b for a, b in zip(weights, weights[1:]))
    dx, dy, _ = module.motion_blur_taps(4, 1.5, 45.0)
    assert dx == dy and dx[-1] == 6  # ceil(8 * cos(45) - 0.5)


@needs_wand
def test_opencv_backend_matches_imagemagick_on_photos():
    """The REQUIRED check: PSNR(opencv, wand) >= 40 dB at all 12 candidates on real photos."""
    spec = degradations.get("motion_blur")
    photos = [
        load_photo("astronaut", (321, 240)),  # odd width
        load_photo("coffee", (240, 161)),  # odd height
        load_photo("rocket", (97, 130)),  # narrower than the longest lines (121 taps)
    ]
    worst = np.inf
    for image in photos:
        for seed in (0, 1):
            for params in spec.candidates:
                fast = spec(image, params, np.random.default_rng(seed))
                reference = spec(image, params, np.random.default_rng(seed), backend="wand")
                worst = min(worst, psnr(reference, fast))
                # near-exact: only float32 rounding at a level boundary can differ, by one level
                assert np.abs(fast.astype(int) - reference).max() <= 1
                assert (fast != reference).mean() < 1e-3
    assert worst >= 40.0
    print(f"minimum PSNR(opencv, wand): {worst:.1f} dB")


@needs_wand
@pytest.mark.parametrize("radius, sigma", [(0.0, 1.0), (0.0, 2.5), (3.3, 0.0), (0.5, 8.0)])
def test_opencv_backend_matches_imagemagick_off_the_table(radius, sigma):
    # radius 0: ImageMagick derives the width from sigma; sigma 0: a box-free limit
    image = load_photo("chelsea", (85, 64))
    for angle in (-44.9, -30.0, -7.5, 0.0, 12.25, 33.3, 45.0):
        dx, dy, weights = module.motion_blur_taps(radius, sigma, angle)
        fast = kernels.correlate_taps(image, dx, dy, weights, delta=0.5 / 257, dtype=np.uint8)
        reference = module.wand_motion_blur(image, radius, sigma, angle)
        assert np.abs(fast.astype(int) - reference).max() <= 1
        assert (fast != reference).mean() < 1e-3


SHAPES = [(1, 1, 3), (1, 2, 3), (2, 1, 3), (3, 5, 3), (7, 4, 3), (1, 31, 3), (40, 3, 3)]


@needs_wand
@pytest.mark.parametrize("shape", SHAPES)
def test_tiny_images_match_imagemagick(shape):
    image = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    spec = degradations.get("motion_blur")
    for params in spec.candidates:
        fast = spec(image, params, np.random.default_rng(2))
        assert fast.shape == shape and fast.dtype == np.uint8
        reference = spec(image, params, np.random.default_rng(2), backend="wand")
        assert np.abs(fast.astype(int) - reference).max() <= 1


@needs_wand
def test_gray_images_come_back_as_rgb():
    # ImageMagick writes a gray PNG for an all-gray image; the decode must still give RGB
    image = np.repeat(load_photo("astronaut", (64, 48))[:, :, :1], 3, axis=2)
    out = degradations.get("motion_blur")(image, (7, 2.5), np.random.default_rng(0), backend="wand")
    assert out.shape == image.shape and np.array_equal(out[..., 0], out[..., 2])


def test_clear_error_without_magickwand(monkeypatch):
    monkeypatch.setitem(sys.modules, "wand.api", None)  # makes "from wand.api import ..." fail
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ImportError, match="MagickWand"):
        degradations.get("motion_blur")(image, (4, 1.5), np.random.default_rng(0), backend="wand")
    # the default backend does not need it
    degradations.get("motion_blur")(image, (4, 1.5), np.random.default_rng(0))


def test_large_images_run_in_bands_with_the_same_result(monkeypatch):
    image = load_photo("astronaut", (203, 700))
    layer = image[:, :, 1].astype(np.float32) / 255  # snow's case: one float32 channel
    dx, dy, weights = module.motion_blur_taps(27, 10, -33.0)  # 55 taps, 30 rows tall
    whole = kernels.correlate_taps(image, dx, dy, weights, delta=0.5 / 257, dtype=np.uint8)
    whole_layer = np.array(kernels.correlate_taps(layer, dx, dy, weights))
    monkeypatch.setattr(kernels, "_BAND_VALUES", 1)  # bands of 8 x the line's height: 248 rows
    banded = kernels.correlate_taps(image, dx, dy, weights, delta=0.5 / 257, dtype=np.uint8)
    assert np.array_equal(whole, banded)
    assert np.array_equal(whole_layer, kernels.correlate_taps(layer, dx, dy, weights))


def test_determinism_and_angle_draw(photos):
    image = photos["rocket"]
    spec = degradations.get("motion_blur")
    for params in spec.candidates:
        first = spec(image, params, np.random.default_rng(3))
        assert np.array_equal(first, spec(image, params, np.random.default_rng(3)))
    first, second = (spec(image, (20, 7), np.random.default_rng(s)) for s in (3, 4))
    assert not np.array_equal(first, second)
