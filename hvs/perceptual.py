"""piq's LPIPS and DISTS, built from weight files that :mod:`hvs.weights` resolved.

piq's own classes fetch their files through torch.hub (``torch.load`` without ``weights_only``) and build
VGG16 through torchvision's deprecated ``pretrained=True``. Here the same modules are assembled through
piq's ``ContentLoss`` constructor, which takes a ready feature extractor and the layer weights, from files
loaded with ``torch.load(..., weights_only=True)``; everything else (layers, normalisation, pooling, the
distances, DISTS' resizing) is piq's. A batch whose reference is one image broadcast over the batch
(``reference.expand(n, ...)``) has that image's VGG features computed once instead of n times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import piq
import torch
import torchvision
from piq.perceptual import VGG16_LAYERS, ContentLoss

from hvs.registry import DISTS_ALPHA_BETA, LPIPS_LINEAR, VGG16

LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")  # LPIPS' and DISTS' VGG16 layers in piq
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)  # the input image, then each layer
DISTS_MAX_SIDE = 256  # piq's DISTS resizes inputs whose shorter side exceeds this (bilinear)


def load_file(path: Path) -> Any:
    """A weights file's tensors, through the safe unpickler; one clear line when the file is unusable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load weights file {path}: {reason}; delete it and fetch it again") from None


def vgg16_features(path: Path) -> torch.nn.Module:
    """torchvision's VGG16 convolutional part with the ``features.*`` tensors of a VGG16 state dict."""
    state = load_file(path)
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        model = torchvision.models.vgg16().features
    try:
        model.load_state_dict(features, assign=True)
    except RuntimeError as exc:
        raise ValueError(f"{path} is not a VGG16 state dict: {str(exc).splitlines()[0]}") from None
    return model


class _SharedReference:
    """Features of a batch that repeats one image (an expanded tensor, stride 0) are computed once."""

    def get_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.size(0) > 1 and x.stride(0) == 0:
            return [f.expand(x.size(0), *f.shape[1:]) for f in super().get_features(x[:1])]
        return super().get_features(x)


class LPIPS(_SharedReference, piq.LPIPS):
    """piq.LPIPS (VGG16 variant) from resolved files; ``module(x, y)`` gives one distance per image."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        linear = load_file(files[LPIPS_LINEAR.name])
        ContentLoss.__init__(self, vgg16_features(files[VGG16.name]), layers=[VGG16_LAYERS[n] for n in LAYERS],
                             weights=list(linear), reduction="none", normalize_features=True)


class DISTS(_SharedReference, piq.DISTS):
    """piq.DISTS from resolved files; ``module(x, y)`` gives one distance (1 - similarity) per image."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        alpha_beta = load_file(files[DISTS_ALPHA_BETA.name])
        weights = list(torch.split(alpha_beta["alpha"], DISTS_CHANNELS, dim=1))
        weights += torch.split(alpha_beta["beta"], DISTS_CHANNELS, dim=1)
        ContentLoss.__init__(self, vgg16_features(files[VGG16.name]), layers=[VGG16_LAYERS[n] for n in LAYERS],
                             weights=weights, replace_pooling=True, reduction="none",
                             allow_layers_weights_mismatch=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # piq's DISTS.forward, with a broadcast reference resized once and broadcast again
        if min(x.shape[-2:]) > DISTS_MAX_SIDE:
            x = self._resize(x)
            y = self._resize(y[:1]).expand(y.size(0), -1, -1, -1) if y.stride(0) == 0 else self._resize(y)
        return 1 - ContentLoss.forward(self, x, y)

    @staticmethod
    def _resize(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(x, scale_factor=DISTS_MAX_SIDE / min(x.shape[-2:]),
                                               recompute_scale_factor=False, mode="bilinear")

