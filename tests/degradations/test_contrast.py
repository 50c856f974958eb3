"""contrast against a plain float64 transcription of the SPEC formula."""

from __future__ import annotations

import numpy as np
import pytest

import degradations


def plain_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    x = image / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return (np.clip((x - means) * factor + means, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["astronaut", "rocket"])
def test_contrast_within_one_level_at_every_candidate(photos, name):
    image = np.ascontiguousarray(photos[name][:, :317])
    spec = degradations.get("contrast")
    assert len(spec.candidates) == 12 and spec.candidates[0] == (0.9,) and spec.candidates[-1] == (0.05,)
    for params in spec.candidates:
        out = spec(image, params, np.random.default_rng(0))
        assert np.abs(out.astype(int) - plain_contrast(image, params[0])).max() <= 1


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 2, 3), (2, 1, 3), (3, 5, 3), (7, 4, 3)])
def test_contrast_on_tiny_images(shape):
    image = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    out = degradations.get("contrast")(image, (0.3,), np.random.default_rng(0))
    assert out.shape == shape and np.abs(out.astype(int) - plain_contrast(image, 0.3)).max() <= 1
