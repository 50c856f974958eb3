"""What a model sees of an image: decoded once to RGB uint8, then one or more views (resize, crop), kept as
uint8 tensors; each model normalises its views on its own device (less to copy between processes and to
the GPU than float tensors).

The release's protocol (its training code): training view Resize(288) + RandomCrop(224); test view
Resize(288) + CenterCrop(224); RA-MIQA's region view Resize(288) + CenterCrop(288). ``Resize(n)`` scales the
shorter side to n (antialiased bilinear, as PIL does); ``square=True`` resizes to n x n instead.

Random crops are drawn from a generator seeded by (seed, epoch, sample index): the same sample in the same
epoch gets the same crop whatever the worker count, the order, or an interruption and resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch


class ImageReadError(OSError):
    """An image file that is missing or cannot be decoded."""


def read_rgb(path: str | Path) -> np.ndarray:
    """RGB uint8 (H, W, 3) of an image file (PNG, JPEG, ...; alpha dropped, gray expanded)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise ImageReadError(f"{path}: {error.strerror or error}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageReadError(f"{path}: not a readable image")
    # channels reversed by numpy, not cv2.cvtColor: cvtColor starts OpenCV's thread pool on large images, and
    # a DataLoader worker forked from a process whose pool is running deadlocks in its first OpenCV call
    return np.ascontiguousarray(image[:, :, ::-1])


@dataclass(frozen=True)
class View:
    """Resize (shorter side to ``resize``, or a ``resize`` square), then a ``crop`` x ``crop`` crop, centred or
    at a random position."""

    resize: int
    crop: int
    random_crop: bool = False
    square: bool = False

    def __post_init__(self) -> None:
        if self.resize < 1 or self.crop < 1:
            raise ValueError(f"resize and crop must be positive, got {self.resize} and {self.crop}")
        if self.crop > self.resize:
            raise ValueError(f"crop {self.crop} is larger than the resized image ({self.resize})")

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        if self.square:
            return self.resize, self.resize
        if height <= width:  # torchvision's rule: the shorter side becomes `resize`, the other keeps the ratio
            return self.resize, int(self.resize * width / height)
        return int(self.resize * height / width), self.resize

    def __call__(self, image: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
        """uint8 (3, H, W) -> uint8 (3, crop, crop). ``rng`` draws the random crop's corner."""
        import torchvision.transforms.v2.functional as TF

        height, width = self.resized_shape(*image.shape[-2:])
        image = TF.resize(image, [height, width], antialias=True)
        if self.random_crop:
            if rng is None:
                raise ValueError("a random crop needs a generator")
            top = int(rng.integers(0, height - self.crop + 1))
            left = int(rng.integers(0, width - self.crop + 1))
            return image[:, top : top + self.crop, left : left + self.crop].contiguous()
        return TF.center_crop(image, [self.crop, self.crop]).contiguous()


@dataclass(frozen=True)
class Views:
    """Named views of one decoded image: ``image`` always, ``region_view`` for region-aware models."""

    views: Mapping[str, View]

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        return {name: view(tensor, rng) for name, view in self.views.items()}

    @property
    def random(self) -> bool:
        return any(view.random_crop for view in self.views.values())


def protocol_views(train: bool, resize: int = 288, crop: int = 224, square: bool = False,
                   region_size: int | None = None) -> Views:
    """The release's views: random crop for training, centre crop for testing; ``region_size`` adds
    RA-MIQA's region view (resize then centre crop, both ``region_size``)."""
    views = {"image": View(resize, crop, random_crop=train, square=square)}
    if region_size is not None:
        views["region_view"] = View(region_size, region_size, square=square)
    return Views(views)
