"""Synthetic weight files for LPIPS and DISTS: the official files' names, keys and shapes, random values
(the real files cannot be downloaded here). Used by the tests and by benchmarks/bench_hvs.py."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from hvs.registry import DISTS_ALPHA_BETA, LPIPS_LINEAR, VGG16
from hvs.perceptual import DISTS_CHANNELS


def random_vgg16_features(seed: int = 0) -> dict[str, torch.Tensor]:
    """``features.*`` of a VGG16 state dict: He-normal convolutions (torchvision's own initialisation), so
    activations keep their scale through the 13 layers."""
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in torchvision.models.vgg16().features.state_dict().items()}
    state = {}
    for key, shape in shapes.items():
        if key.endswith("weight"):
            fan_out = shape[0] * shape[2] * shape[3]
            state[f"features.{key}"] = torch.randn(shape, generator=generator) * (2.0 / fan_out) ** 0.5
        else:
            state[f"features.{key}"] = torch.zeros(shape)
    return state


def random_lpips_linear(seed: int = 1) -> list[torch.Tensor]:
    """LPIPS' five non-negative (1, C, 1, 1) channel weights."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(1, c, 1, 1, generator=generator) for c in (64, 128, 256, 512, 512)]


def random_dists_alpha_beta(seed: int = 2) -> dict[str, torch.Tensor]:
    """DISTS' alpha and beta, (1, 1475, 1, 1) each, non-negative and summing to 1 together as in the real file
    (so identical images score exactly 0)."""
    generator = torch.Generator().manual_seed(seed)
    alpha = torch.rand(1, sum(DISTS_CHANNELS), 1, 1, generator=generator)
    beta = torch.rand(1, sum(DISTS_CHANNELS), 1, 1, generator=generator)
    total = alpha.sum() + beta.sum()
    return {"alpha": alpha / total, "beta": beta / total}


def write_synthetic_weights(folder: Path) -> Path:
    """``folder`` holding the three files LPIPS and DISTS need, with random values."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(random_vgg16_features(), folder / VGG16.name)
    torch.save(random_lpips_linear(), folder / LPIPS_LINEAR.name)
    torch.save(random_dists_alpha_beta(), folder / DISTS_ALPHA_BETA.name)
    return folder
