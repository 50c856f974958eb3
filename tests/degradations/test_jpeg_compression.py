"""jpeg_compression: OpenCV's round trip against the release's PIL save/open, every quality."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from degradations import registry
from tests.degradations.fidelity import TINY_SHAPES, check_candidates

NAME = "jpeg_compression"
QUALITIES = [100, 90, 81, 72, 63, 54, 45, 36, 27, 18, 9, 0]


def release_jpeg(image: np.ndarray, quality: float) -> np.ndarray:
    """The release: PIL save as JPEG with quality=int(q) and PIL's defaults, PIL open."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def check_all_candidates(image: np.ndarray) -> None:
    check_candidates(NAME, image, lambda image, params: release_jpeg(image, params[0]))


def test_candidates_are_the_release_table():
    spec = registry.get(NAME)
    assert spec.category == "digital" and spec.param_names == ("quality",)
    assert [c[0] for c in spec.candidates] == QUALITIES
    assert [int(q) for q in np.linspace(100, 0.1, 12)] == QUALITIES


def test_matches_pil_on_photos(photos):
    check_all_candidates(photos["astronaut"])
    check_all_candidates(photos["rocket"][:239, :319])  # odd width and height


@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_tiny_images(shape):
    check_all_candidates(np.random.default_rng(1).integers(0, 256, shape + (3,), dtype=np.uint8))


def test_quality_zero_and_hundred_on_noise():
    """Worst cases for the codec: quality 0 (libjpeg clamps it to 1) and 100 on random pixels."""
    image = np.random.default_rng(2).integers(0, 256, (61, 83, 3), dtype=np.uint8)
    spec = registry.get(NAME)
    for quality in (0, 100):
        out = spec(image, (quality,), np.random.default_rng(0))
        assert np.abs(out.astype(np.int16) - release_jpeg(image, quality)).max() <= 1


def test_non_contiguous_input_and_determinism(photos):
    view = photos["coffee"][::-1, 1::2]
    spec = registry.get(NAME)
    for params in spec.candidates[::4]:
        out = spec(view, params, np.random.default_rng(0))
        assert np.abs(out.astype(np.int16) - release_jpeg(np.ascontiguousarray(view), params[0])).max() <= 1
        assert np.array_equal(out, spec(view, params, np.random.default_rng(1)))
