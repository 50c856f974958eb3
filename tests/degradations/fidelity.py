"""Shared checks of a distortion against a plain reference implementation of its formula."""

from __future__ import annotations

from typing import Callable

import numpy as np

from degradations import registry

TINY_SHAPES = [(1, 1), (1, 2), (2, 1), (3, 5), (5, 3), (7, 4), (4, 7)]
# On photos the mean signed difference stays near 0: rounding instead of the release's truncation gives ~0.5.
MAX_MEAN_OFFSET = 0.05


def check_candidates(name: str, image: np.ndarray, reference: Callable[[np.ndarray, tuple], np.ndarray],
                     exact: bool = False) -> None:
    """Every candidate of ``name`` within one grey level of ``reference(image, params)`` (or equal)."""
    spec = registry.get(name)
    for params in spec.candidates:
        out = spec(image, params, np.random.default_rng(0))
        assert out.shape == image.shape and out.dtype == np.uint8
        difference = out.astype(np.int16) - reference(image, params)
        assert np.abs(difference).max() <= (0 if exact else 1), (params, np.abs(difference).max())
        if image.size >= 30_000:
            assert abs(difference.mean()) <= MAX_MEAN_OFFSET, (params, difference.mean())
