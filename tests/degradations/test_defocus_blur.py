"""defocus_blur: against the release's float64 filtering (and an OpenCV-free correlation), all sizes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage

from degradations import registry
from tests.degradations.fidelity import TINY_SHAPES, check_candidates
from degradations.distortions.defocus_blur import DFT_MIN_AREA, defocus_kernel

NAME = "defocus_blur"
CANDIDATES = [
    (0.95, 0.5), (0.99, 0.54), (0.99, 0.6), (0.99, 0.7), (0.999, 0.9), (1, 0.9),
    (2, 0.1), (3, 0.5), (5, 0.5), (7, 0.8), (9, 0.9), (12, 0.9),
]  # fmt: skip


def release_disk(radius: float, alias_blur: float) -> np.ndarray:
    """The release's kernel, written out: float32 disk on -8..8 (r <= 8) or -r..r, normalised,
    GaussianBlur 3x3 (r <= 8) or 5x5 with sigma alias_blur."""
    support = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    xs, ys = np.meshgrid(support, support)
    disk = ((xs**2 + ys**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    ksize = (3, 3) if radius <= 8 else (5, 5)
    return cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)


def release_defocus(image: np.ndarray, radius: float, alias_blur: float) -> np.ndarray:
    """The release: float64 x/255, cv2.filter2D per channel, clip, * 255, np.uint8 (truncation)."""
    x = image / 255.0
    kernel = release_disk(radius, alias_blur)
    channels = np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=2)
    return np.uint8(np.clip(channels, 0, 1) * 255)


def check_all_candidates(image: np.ndarray) -> None:
    check_candidates(NAME, image, lambda image, params: release_defocus(image, *params))


def test_candidates_are_the_release_table():
    spec = registry.get(NAME)
    assert spec.category == "blur" and spec.param_names == ("radius", "alias_blur")
    assert spec.candidates == tuple((float(r), float(a)) for r, a in CANDIDATES)


def test_matches_release_on_photos(photos):
    check_all_candidates(photos["astronaut"])
    check_all_candidates(photos["rocket"][:239, :319])  # odd width and height


def test_matches_a_correlation_without_opencv(photos):
    """scipy's float64 correlation with mirror borders (= BORDER_REFLECT_101), kernel centred."""
    image = photos["chelsea"][:121, :163]
    spec = registry.get(NAME)
    for params in spec.candidates:
        kernel = release_disk(*params).astype(np.float64)
        x = image / 255.0
        channels = [scipy.ndimage.correlate(x[:, :, d], kernel, mode="mirror") for d in range(3)]
        expected = np.uint8(np.clip(np.stack(channels, axis=2), 0, 1) * 255)
        out = spec(image, params, np.random.default_rng(0))
        assert np.abs(out.astype(np.int16) - expected).max() <= 1, params


@pytest.mark.parametrize("shape", TINY_SHAPES + [(20, 30), (25, 25), (25, 40), (26, 26)])
def test_small_images(shape):
    """Tiny ones, and images around the 25x25 kernel, where the DFT path starts."""
    check_all_candidates(np.random.default_rng(1).integers(0, 256, shape + (3,), dtype=np.uint8))


def test_flat_images_keep_their_level_as_the_release_does():
    spec = registry.get(NAME)
    for level in (0, 1, 77, 128, 254, 255):
        image = np.full((40, 50, 3), level, np.uint8)
        for params in spec.candidates:
            out = spec(image, params, np.random.default_rng(0))
            assert np.abs(out.astype(np.int16) - release_defocus(image, *params)).max() <= 1


def test_cropped_kernel_is_the_release_kernel():
    for radius, alias_blur in CANDIDATES:
        full = release_disk(radius, alias_blur).astype(np.float64)
        kernel = defocus_kernel(float(radius), float(alias_blur))
        assert kernel.dtype == np.float32 and kernel.shape[0] % 2 == 1 and kernel.shape[1] % 2 == 1
        top = (full.shape[0] - kernel.shape[0]) // 2
        left = (full.shape[1] - kernel.shape[1]) // 2
        padded = np.zeros_like(full)
        padded[top : top + kernel.shape[0], left : left + kernel.shape[1]] = kernel
        assert np.abs(padded - full).max() < 1e-12
    assert defocus_kernel(12.0, 0.9).size >= DFT_MIN_AREA  # the DFT path is exercised above


def test_non_contiguous_input_and_determinism(photos):
    view = photos["coffee"][::-1, 1::2]
    spec = registry.get(NAME)
    for params in spec.candidates[::3]:
        out = spec(view, params, np.random.default_rng(0))
        assert np.abs(out.astype(np.int16) - release_defocus(view, *params)).max() <= 1
        assert np.array_equal(out, spec(view, params, np.random.default_rng(1)))
