"""pixelate: equal to the release's two PIL resizes, on photos and on tiny images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from degradations import registry
from tests.degradations.fidelity import TINY_SHAPES, check_candidates
from degradations.distortions.pixelate import NEAREST_VERIFIED_MAX

NAME = "pixelate"
SCALES = [0.95, 0.865, 0.78, 0.695, 0.61, 0.525, 0.44, 0.355, 0.27, 0.185, 0.1, 0.07]


def release_pixelate(image: np.ndarray, scale: float) -> np.ndarray:
    """The release: PIL BOX to (int(W*c), int(H*c)), PIL NEAREST back (sides clamped to 1 here)."""
    height, width = image.shape[:2]
    reduced = (max(1, int(width * scale)), max(1, int(height * scale)))
    small = Image.fromarray(image).resize(reduced, Image.BOX)
    return np.asarray(small.resize((width, height), Image.NEAREST))


def check_all_candidates(image: np.ndarray) -> None:
    check_candidates(NAME, image, lambda image, params: release_pixelate(image, params[0]), exact=True)


def test_candidates_are_the_release_table():
    spec = registry.get(NAME)
    assert spec.category == "digital" and spec.param_names == ("scale",)
    assert [c[0] for c in spec.candidates] == SCALES


def test_equals_release_on_photos(photos):
    check_all_candidates(photos["astronaut"])
    check_all_candidates(photos["rocket"][:239, :319])  # odd width and height


@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_tiny_images(shape):
    check_all_candidates(np.random.default_rng(1).integers(0, 256, shape + (3,), dtype=np.uint8))


def test_zero_reduced_side_is_clamped_to_one():
    """int(W*c) = 0: the release crashes in PIL; here that side is averaged to one pixel."""
    image = np.random.default_rng(2).integers(0, 256, (3, 9, 3), dtype=np.uint8)
    out = registry.get(NAME)(image, (0.1,), np.random.default_rng(0))  # reduced size (1, 1)
    mean = Image.fromarray(image).resize((1, 1), Image.BOX).getpixel((0, 0))
    assert np.array_equal(out, np.broadcast_to(np.array(mean, np.uint8), image.shape))


def test_larger_than_verified_sizes_use_pil():
    image = np.random.default_rng(3).integers(0, 256, (2, NEAREST_VERIFIED_MAX + 7, 3), dtype=np.uint8)
    for scale in (0.95, 0.27):
        out = registry.get(NAME)(image, (scale,), np.random.default_rng(0))
        assert np.array_equal(out, release_pixelate(image, scale))


def _pil_nearest_map(small: int, size: int) -> np.ndarray:
    row = Image.fromarray(np.arange(small, dtype=np.int32)[None, :])
    return np.asarray(row.resize((size, 1), Image.NEAREST))[0]


def _cv2_nearest_map(small: int, size: int) -> np.ndarray:
    import cv2

    row = np.arange(small, dtype=np.uint16)[None, :]
    return cv2.resize(row, (size, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0]


def test_opencv_nearest_exact_picks_pil_nearest_pixels():
    """The enlargement's premise, on every side up to 700 and a sample up to the verified maximum
    (the module's claim was checked on every side up to NEAREST_VERIFIED_MAX)."""
    sides = list(range(1, 701)) + list(np.random.default_rng(4).integers(701, NEAREST_VERIFIED_MAX + 1, 60))
    for side in sides:
        for scale in SCALES:
            small = max(1, int(side * scale))
            assert np.array_equal(_pil_nearest_map(small, side), _cv2_nearest_map(small, side)), (side, scale)


def test_non_contiguous_input_and_determinism(photos):
    view = photos["coffee"][::-1, 1::2]
    spec = registry.get(NAME)
    for params in spec.candidates[::3]:
        out = spec(view, params, np.random.default_rng(0))
        assert np.array_equal(out, release_pixelate(np.ascontiguousarray(view), params[0]))
        assert np.array_equal(out, spec(view, params, np.random.default_rng(1)))
