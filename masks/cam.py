"""The "lite-cam" method: class activation maps (Zhou et al., CVPR 2016) of EfficientNet-Lite.

Where the classifier sees its most probable classes: for each of the top-k classes, the positive part
of its classifier weights applied to the head features at every cell, scaled to a peak of 1; the maps
averaged with the classes' probabilities as weights; thresholded by Otsu, refined by GrabCut. It finds
what an ImageNet classifier names (the helmet beside the astronaut, the tripod under the camera), not
necessarily every object; measured against instance masks it trails "lite-contrast" (bench_masks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from masks.contrast import CONTRAST_REFINE
from masks.lite import check_variant, lite_features
from masks.refine import RefineSettings, mask_from_map
from masks.runtime import ModelOptions
from masks.saliency import normalise


@dataclass(frozen=True)
class CamSettings:
    variant: str = "lite0"  # EfficientNet-Lite variant: lite0 | lite1 | lite2
    short_side: int = 320  # the network's input: the image's shorter side resized to this
    top_k: int = 5  # classes whose maps are averaged
    refine: RefineSettings = field(default_factory=lambda: CONTRAST_REFINE)

    def __post_init__(self) -> None:
        check_variant(self.variant)
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")


def class_activation(features: np.ndarray, weights: np.ndarray, logits: np.ndarray, top_k: int) -> np.ndarray:
    """(h, w) map in [0, 1]: the probability-weighted mean over the ``top_k`` classes of
    max(0, weights[c] . features[:, y, x]) / its peak. ``features`` (C, h, w), ``weights`` (classes, C)."""
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    top = np.argsort(-probabilities, kind="stable")[:top_k]
    maps = np.maximum(np.einsum("kc,chw->khw", weights[top].astype(np.float64), features.astype(np.float64)), 0)
    peaks = maps.reshape(len(top), -1).max(axis=1)
    maps = maps / np.where(peaks > 0, peaks, 1.0)[:, None, None]
    weighted = np.tensordot(probabilities[top], maps, axes=1) / probabilities[top].sum()
    return normalise(weighted).astype(np.float32)


def cam_masks(images: Sequence[np.ndarray], settings: CamSettings, options: ModelOptions) -> list[np.ndarray]:
    from masks.lite import load_backbone

    model, _ = load_backbone(settings.variant, options)
    weights = model._fc.weight.detach().float().cpu().numpy()
    outputs = lite_features(images, settings.variant, settings.short_side, options)
    return [mask_from_map(image, class_activation(features.numpy(), weights, logits.numpy(), settings.top_k),
                          settings.refine)
            for image, (features, logits) in zip(images, outputs)]
