"""Shared fixtures: real photographs shipped with scikit-image, and the release's reference files."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # never let ultralytics reach for the network in tests

import cv2
import numpy as np
import pytest
import skimage.data

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = PROJECT_ROOT.parent / "shared" / "reference"

PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket")


def load_photo(name: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A scikit-image sample photo as RGB uint8, optionally resized to (width, height)."""
    image = np.ascontiguousarray(getattr(skimage.data, name)())
    if size is not None:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Four real photos at 320x240 (small enough for fast tests, large enough to be photos)."""
    return {name: load_photo(name, (320, 240)) for name in PHOTO_NAMES}


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference: the release's data files (never committed here)."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch intra-op thread for a module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``):
    tiny tensors gain nothing from a second thread, which only stalls on a busy machine; a generation worker runs
    its mask models on one thread too."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
