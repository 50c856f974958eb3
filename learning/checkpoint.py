"""Checkpoints of quality predictors: written whole or not at all, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain values and tensors:

- ``format``, ``version``; ``model``: the :class:`~learning.models.ModelConfig` (rebuilds the architecture);
  ``settings``: the run's :class:`~learning.training.settings.TrainSettings`; ``split``: source ids per part;
- ``state_dict``: the weights (region encoder included, so no other file is needed to score images);
- ``progress``: epoch, step in epoch, global step, best validation SRCC and its step, the validation history;
- ``training`` (``last.pt`` only): optimizer, gradient scaler and per-rank random states, to resume exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from manifests.atomic import replace_atomically

FORMAT = "miqd-quality-predictor"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint of this project."""


def _save_durably(payload: dict[str, Any], path: Path) -> None:
    torch.save(payload, path)
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (format and version added) so that readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda temporary: _save_durably({"format": FORMAT, "version": VERSION, **payload},
                                                             temporary))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated file, another format, pickled code refused by weights_only
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of a quality predictor trained by python -m pipeline.train")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')}, this code reads {VERSION}")
    return payload


def model_from_checkpoint(payload: dict[str, Any], device: str | torch.device = "cpu"):
    """The trained model of a loaded checkpoint, in eval mode on ``device`` (no pretrained file needed)."""
    from learning.models import ModelConfig, build_model

    model = build_model(ModelConfig.from_dict(payload["model"]), pretrained=False)
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(device).eval()
