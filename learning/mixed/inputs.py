"""What a training step feeds the regressor: decoded, resized and cropped images, or the cached features of
a frozen extractor, for the items the sampler picks.

Training images: shorter side resized to ``resize`` (antialiased), a random ``crop`` x ``crop`` crop and a
random horizontal flip, drawn from a generator seeded by (seed, dataset, step, position): a step's batch is
a pure function of its number, whatever the worker count, and a resumed run sees the same pixels.
Evaluation images: the same resize and the centre crop. Features of a frozen extractor are computed once
from the evaluation view (no augmentation then) and cached on disk, keyed by the extractor, the geometry and
each image's path, size and modification time.

The defaults follow the MIMI authors' CNN variant in training (512, random 384 crop, flips); they resize
only images larger than 512 and test on the whole image at 768 one at a time, where this tests on the
centre crop, in batches.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from learning.mixed.annotations import DatasetError
from learning.mixed.sampler import CyclingSampler
from learning.mixed.seeds import stable_rng


@dataclass(frozen=True)
class InputSettings:
    resize: int = 512  # shorter side before cropping
    crop: int = 384  # square crop: random in training, centred in evaluation
    hflip: bool = True  # random horizontal flips in training
    cache_features: bool = True  # a frozen extractor's features computed once (then without augmentation)
    feature_cache: str | None = None  # folder of cached features; None: the run's folder
    num_workers: int = 0  # DataLoader workers decoding images
    eval_batch_size: int = 16


def load_image(path: Path) -> torch.Tensor:
    """RGB uint8 (3, H, W); an unreadable file is a one-line DatasetError."""
    from PIL import Image, UnidentifiedImageError

    from degradations.imaging import to_rgb8

    try:
        with Image.open(path) as image:
            rgb = to_rgb8(image)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DatasetError(f"cannot decode {path}: {error}; fix or remove the image") from None
    return torch.from_numpy(rgb).permute(2, 0, 1)


def prepare(image: torch.Tensor, settings: InputSettings, rng: np.random.Generator | None) -> torch.Tensor:
    """uint8 (3, H, W) -> float (3, crop, crop) in [0, 1]; ``rng`` None is the evaluation view."""
    import torchvision.transforms.v2.functional as TF

    image = TF.resize(image, [settings.resize], antialias=True)
    h, w = image.shape[-2:]
    if min(h, w) < settings.crop:
        raise ValueError(f"resize {settings.resize} is smaller than the crop {settings.crop}")
    if rng is None:
        image = TF.center_crop(image, [settings.crop, settings.crop])
    else:
        top, left = int(rng.integers(0, h - settings.crop + 1)), int(rng.integers(0, w - settings.crop + 1))
        image = image[:, top: top + settings.crop, left: left + settings.crop]
        if settings.hflip and rng.random() < 0.5:
            image = image.flip(-1)
    return image.float() / 255.0


class EvalImages(Dataset):
    """The evaluation view of a list of images."""

    def __init__(self, paths: Sequence[Path], settings: InputSettings) -> None:
        self.paths, self.settings = list(paths), settings

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return prepare(load_image(self.paths[i]), self.settings, None)


class ImageSteps(Dataset):
    """Item ``step``: per dataset, (images (B_k, 3, crop, crop), normalised targets (B_k,))."""

    def __init__(self, paths: Sequence[Sequence[Path]], targets: Sequence[np.ndarray],
                 samplers: Sequence[CyclingSampler], settings: InputSettings, seed: int) -> None:
        self.paths, self.targets, self.samplers, self.settings, self.seed = paths, targets, samplers, settings, seed

    def __len__(self) -> int:  # steps are drawn by number; any step is valid
        return 2**62

    def __getitem__(self, step: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        batches = []
        for k, sampler in enumerate(self.samplers):
            idx = sampler.indices(step)
            images = [prepare(load_image(self.paths[k][i]), self.settings,
                              stable_rng(self.seed, "augment", sampler.name, step, j))
                      for j, i in enumerate(idx)]
            batches.append((torch.stack(images), torch.as_tensor(self.targets[k][idx], dtype=torch.float32)))
        return batches


class FeatureSteps(Dataset):
    """Item ``step``: per dataset, (cached features (B_k, D), normalised targets (B_k,))."""

    def __init__(self, features: Sequence[torch.Tensor], targets: Sequence[np.ndarray],
                 samplers: Sequence[CyclingSampler]) -> None:
        self.features, self.targets, self.samplers = features, targets, samplers

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for k, sampler in enumerate(self.samplers):
            idx = torch.from_numpy(sampler.indices(step))
            out.append((self.features[k][idx], torch.as_tensor(self.targets[k][idx.numpy()], dtype=torch.float32)))
        return out


def steps_loader(steps: Dataset, first: int, last: int, workers: int) -> DataLoader:
    """Steps first..last-1 in order, decoded by ``workers`` processes."""
    return DataLoader(steps, batch_size=None, sampler=range(first, last), num_workers=workers,
                      persistent_workers=False, prefetch_factor=2 if workers else None)


def _file_key(path: Path) -> str:
    stat = os.stat(path)
    return f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def cached_features(embed, extractor: str, paths: Sequence[Path], settings: InputSettings, folder: Path,
                    device: torch.device, label: str, progress: bool = True) -> torch.Tensor:
    """``embed`` (a frozen extractor) of every image's evaluation view, (N, D) float32 on the CPU.

    One cache file per extractor and geometry in ``folder`` holds the features of every image seen so far,
    keyed by path, size and modification time: only images not in it are computed, then the file is
    replaced atomically (a cache: concurrent writers may drop each other's additions, never corrupt it)."""
    from tqdm import tqdm

    from manifests.atomic import replace_atomically

    geometry = hashlib.blake2b(f"{extractor}|{settings.resize}|{settings.crop}".encode(), digest_size=8).hexdigest()
    path = folder / f"features-{geometry}.pt"
    cache = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else {"keys": [], "rows": None}
    row_of = {key: i for i, key in enumerate(cache["keys"])}
    keys = [_file_key(p) for p in paths]
    todo = list(dict.fromkeys(key for key in keys if key not in row_of))  # each missing image once
    if todo:
        first_path = {key: p for key, p in zip(keys, paths)}
        loader = DataLoader(EvalImages([first_path[k] for k in todo], settings), batch_size=settings.eval_batch_size,
                            num_workers=settings.num_workers)
        parts = []
        with torch.no_grad(), tqdm(total=len(todo), desc=f"features {label}", unit="img",
                                   disable=not progress) as bar:
            for batch in loader:
                parts.append(embed(batch.to(device)).float().cpu())
                bar.update(len(batch))
        new = torch.cat(parts)
        rows = new if cache["rows"] is None else torch.cat([cache["rows"], new])
        cache = {"keys": cache["keys"] + todo, "rows": rows}
        folder.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda temporary: torch.save(cache, temporary))
        row_of = {key: i for i, key in enumerate(cache["keys"])}
    return cache["rows"][torch.tensor([row_of[k] for k in keys], dtype=torch.long)]
