"""darkness: the scaled-RGB shortcut against skimage's HSV round trip, as the release computes it."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.color

from degradations import registry
from tests.degradations.fidelity import TINY_SHAPES, check_candidates

NAME = "darkness"


def release_darkness(image: np.ndarray, delta: float) -> np.ndarray:
    """The release: float64 x/255, skimage rgb2hsv, V = clip(V - c, 0, 1), hsv2rgb, uint8 of clip * 255."""
    hsv = skimage.color.rgb2hsv(image / 255.0)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] - delta, 0, 1)
    return np.uint8(np.clip(skimage.color.hsv2rgb(hsv), 0, 1) * 255)


def check_all_candidates(image: np.ndarray) -> None:
    check_candidates(NAME, image, lambda image, params: release_darkness(image, params[0]))


def test_candidates_are_the_release_table():
    spec = registry.get(NAME)
    assert spec.category == "environmental" and spec.param_names == ("delta",)
    expected = np.logspace(np.log10(0.015), np.log10(0.7), 12)
    assert np.allclose([c[0] for c in spec.candidates], expected, rtol=0, atol=1e-15)


def test_matches_skimage_on_photos(photos):
    check_all_candidates(photos["astronaut"])
    check_all_candidates(photos["rocket"][:239, :319])  # odd width and height


def test_matches_skimage_on_every_colour_class():
    """Greys (S = 0), black, saturated primaries, and random colours, each channel as the maximum."""
    rng = np.random.default_rng(5)
    levels = np.arange(256, dtype=np.uint8)
    greys = np.repeat(levels[:, None], 3, axis=1)
    primaries = np.concatenate([np.eye(3, dtype=np.uint8) * v for v in levels])
    mixed = rng.integers(0, 256, (4096, 3), dtype=np.uint8)
    image = np.concatenate([greys, primaries, mixed]).reshape(-1, 32, 3)
    check_all_candidates(image)


@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_tiny_images(shape):
    check_all_candidates(np.random.default_rng(1).integers(0, 256, shape + (3,), dtype=np.uint8))


def test_non_contiguous_input_and_determinism(photos):
    view = photos["coffee"][::-1, 1::2]
    spec = registry.get(NAME)
    for params in spec.candidates[::3]:
        out = spec(view, params, np.random.default_rng(0))
        assert np.abs(out.astype(np.int16) - release_darkness(view, params[0])).max() <= 1
        assert np.array_equal(out, spec(view, params, np.random.default_rng(1)))
