"""Scoring with a quality predictor: a loader of database rows (validation, evaluation) or any image files
(what a user of a trained predictor runs).

    predictor = Predictor.from_checkpoint("runs/.../best.pt")
    for result in predictor.score_files(["a.png", "photos/"]):
        result.path, result.score, result.error
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from learning.data.views import ImageReadError, Views, protocol_views, read_rgb

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def autocast_dtype(device: torch.device, amp: str) -> torch.dtype | None:
    """Reduced precision on CUDA: ``auto`` is bf16 where supported, else fp16; CPU runs in fp32."""
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def model_inputs(model: torch.nn.Module, batch: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """The views ``model`` takes, on ``device`` (asynchronous from pinned memory)."""
    inputs = getattr(model, "module", model).inputs  # a DistributedDataParallel wrapper or the model
    return {name: batch[name].to(device, non_blocking=True) for name in inputs}


def predict_batches(model: torch.nn.Module, loader: Iterable[dict[str, Any]], device: torch.device,
                    dtype: torch.dtype | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, predictions) over every batch of ``loader``; the model is left in eval mode."""
    model.eval()
    indices, scores = [], []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for batch in loader:
            scores.append(model(**model_inputs(model, batch, device)).float().cpu())
            indices.append(torch.as_tensor(batch["index"]))
    if not scores:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    return torch.cat(indices).numpy().astype(np.int64), torch.cat(scores).numpy().astype(np.float64)


def list_images(items: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to their image files (recursively, sorted). Missing paths raise
    FileNotFoundError naming them all."""
    out, missing = [], []
    for item in map(Path, items):
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.is_file():
            out.append(item)
        else:
            missing.append(str(item))
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    return out


class ImageFiles(Dataset):
    """Views of image files; a file that cannot be read gives its error instead of views."""

    def __init__(self, paths: list[Path], views: Views) -> None:
        self.paths, self.views = paths, views

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, dict[str, torch.Tensor] | None, str | None]:
        try:
            return index, self.views(read_rgb(self.paths[index])), None
        except ImageReadError as error:
            return index, None, str(error)


def _collate(items: list[tuple[int, Any, str | None]]) -> tuple[list[int], dict[str, torch.Tensor] | None, dict]:
    good = [(i, views) for i, views, _ in items if views is not None]
    errors = {i: error for i, _, error in items if error is not None}
    if not good:
        return [], None, errors
    batch = {name: torch.stack([views[name] for _, views in good]) for name in good[0][1]}
    return [i for i, _ in good], batch, errors


@dataclass(frozen=True)
class Score:
    path: Path
    score: float | None
    error: str | None


@dataclass
class Predictor:
    """A trained model with the views it was trained for (the test views: resize, centre crop)."""

    model: torch.nn.Module
    views: Views
    device: torch.device
    dtype: torch.dtype | None

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None, amp: str = "auto") -> "Predictor":
        from learning.checkpoint import load_checkpoint, model_from_checkpoint

        target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        payload = load_checkpoint(path)
        settings = payload["settings"]
        model = model_from_checkpoint(payload, target)
        region = settings["region_size"] if "region_view" in model.inputs else None
        views = protocol_views(False, settings["resize"], settings["crop"], settings["square_resize"], region)
        return cls(model, views, target, autocast_dtype(target, amp))

    def score_files(self, paths: list[Path], batch_size: int = 32, workers: int = 0) -> Iterator[Score]:
        """A score per file, in order (errors as one-line reasons)."""
        loader = DataLoader(ImageFiles(paths, self.views), batch_size=batch_size, num_workers=workers,
                            collate_fn=_collate, pin_memory=self.device.type == "cuda")
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype,
                                                    enabled=self.dtype is not None):
            for indices, batch, errors in loader:
                scores = {}
                if batch is not None:
                    values = self.model(**{k: v.to(self.device) for k, v in batch.items()}).float().cpu().tolist()
                    scores = dict(zip(indices, values))
                for i in sorted(set(scores) | set(errors)):
                    yield Score(paths[i], scores.get(i), errors.get(i))
