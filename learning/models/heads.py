"""A backbone with a scalar head: uint8 images in, one quality score per image out.

Normalisation is part of the model (non-persistent buffers), so a checkpoint scores raw images and the
data pipeline stays uint8 until the model's device.
"""

from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    """(x - mean) / std per channel for x on the 0..255 scale (uint8 or float); mean and std on 0..1."""

    def __init__(self, mean: tuple[float, float, float], std: tuple[float, float, float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std


class QualityModel(nn.Module):
    """``backbone`` maps a normalised batch to (B, feature_dim) features; ``head`` maps them to a score."""

    inputs = ("image",)

    def __init__(self, backbone: nn.Module, feature_dim: int, mean, std) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, 1)
        self.feature_dim = feature_dim

    def features(self, image: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(image))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image)).view(-1)
