"""Shared regressors: an image batch (N, 3, H, W), RGB in [0, 1], to one proxy score per image (N,).

Built by name from :class:`RegressorSettings`:

- ``cnn``: ResNet-34 or VGG-16 convolutional features (512 channels), bilinear pooling (outer product of
  the features averaged over positions, signed square root, L2 normalisation) or global average pooling,
  then FC 512 -> 64 -> 1 (the sizes are ``head``). Random weights, or ImageNet weights found by the oracles'
  rules (``weights_dir``, the torch cache, a download when allowed).
- ``frozen-lite0``: EfficientNet-Lite0's pooled 1280-d features, frozen (its weights ship in a pip
  package), with a trainable head. Features of a frozen extractor can be computed once and cached.
- any model of the single-database registry (``learning.models``: resnet18, resnet50, efficientnet_b1,
  efficientnet_lite0, vit_small_patch16_224, ...): its backbone (pretrained by the same rules, or random)
  with this module's FC head instead of its own; ``freeze_backbone`` keeps the backbone fixed (then its
  features can be cached, like frozen-lite0's). RA-MIQA, which takes a second view, is not a regressor here.

A regressor exposes ``frozen`` (a feature extractor that never trains, or None), ``trainable_backbone`` (the
parameters trained at the reduced learning rate) and ``head``; ``forward(x) = head(features(x))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

BACKBONES = ("resnet34", "vgg16")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class RegressorSettings:
    name: str = "cnn"  # cnn | frozen-lite0
    backbone: str = "resnet34"  # cnn: resnet34 | vgg16
    bilinear: bool = True  # cnn: bilinear pooling (the authors'), else global average pooling
    head: tuple[int, ...] = (512, 64)  # hidden sizes of the FC head, then one output
    pretrained: bool = False  # cnn, registry models: ImageNet weights (frozen-lite0 always uses its own)
    weights_dir: str | None = None
    allow_download: bool = False
    freeze_backbone: bool = False  # registry models: train the head only


class BilinearPool(nn.Module):
    """(N, C, H, W) -> (N, C*C): mean outer product over positions, signed sqrt, L2 normalisation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.reshape(n, c, h * w)
        x = torch.bmm(x, x.transpose(1, 2)).reshape(n, c * c) / (h * w)
        x = torch.sign(x) * torch.sqrt(x.abs() + 1e-8)
        return nn.functional.normalize(x, dim=1)


class AveragePool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def mlp_head(inputs: int, hidden: tuple[int, ...]) -> nn.Sequential:
    sizes = [inputs, *hidden, 1]
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    head = nn.Sequential(*layers[:-1])
    for layer in head:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    return head


class Regressor(nn.Module):
    def __init__(self, features: nn.Module, head: nn.Module, mean: tuple[float, ...], std: tuple[float, ...],
                 frozen: bool) -> None:
        super().__init__()
        self.features, self.head, self.is_frozen = features, head, frozen
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        if frozen:
            self.features.requires_grad_(False)

    @property
    def frozen(self) -> nn.Module | None:
        return self.features if self.is_frozen else None

    def trainable_backbone(self) -> list[nn.Parameter]:
        return [] if self.is_frozen else list(self.features.parameters())

    def train(self, mode: bool = True) -> "Regressor":
        super().train(mode)
        if self.is_frozen:
            self.features.eval()  # a frozen extractor keeps its batch-norm statistics
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features of an image batch in [0, 1]."""
        x = (x - self.mean) / self.std
        if self.is_frozen:
            with torch.no_grad():
                return self.features(x)
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))[:, 0]


def _backbone_spec(name: str):
    from oracles import registry

    if name == "vgg16":  # not an oracle of the zoo: its official torchvision entry
        file = "vgg16-397923af.pth"
        return registry.OracleSpec(
            name="vgg16", task="cls", framework="torchvision", family="vgg", builder="vgg16",
            weights_id="VGG16_Weights.IMAGENET1K_V1", weights_file=file, url=registry.TORCHVISION_URL + file,
            licence=registry.LICENCES["torchvision"], preprocess=registry.classify(256, 224),
            label_space="imagenet-1k", autocast_safe=True,
        )  # fmt: skip
    return registry.get(name)


def build_cnn(settings: RegressorSettings) -> Regressor:
    import torchvision.models as tvm

    if settings.backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {settings.backbone!r}; known: {', '.join(BACKBONES)}")
    model = getattr(tvm, settings.backbone)(weights=None)
    if settings.pretrained:
        from oracles.weights import resolve_weights

        spec = _backbone_spec(settings.backbone)
        path = resolve_weights([spec], settings.weights_dir, settings.allow_download)[spec.name]
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    if settings.backbone == "vgg16":
        trunk: nn.Module = model.features
    else:
        trunk = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1, model.layer2,
                              model.layer3, model.layer4)
    pool, width = (BilinearPool(), 512 * 512) if settings.bilinear else (AveragePool(), 512)
    return Regressor(nn.Sequential(trunk, pool), mlp_head(width, settings.head), IMAGENET_MEAN, IMAGENET_STD,
                     frozen=False)


class LiteFeatures(nn.Module):
    """EfficientNet-Lite's pooled features (its classifier removed)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = nn.functional.relu6(m._bn0(m._conv_stem(x)))
        for block in m._blocks:
            x = block(x)
        x = nn.functional.relu6(m._bn1(m._conv_head(x)))
        return x.mean(dim=(2, 3))


def build_frozen_lite0(settings: RegressorSettings) -> Regressor:
    from oracles import efficientnet_lite, registry
    from oracles.weights import resolve_weights

    spec = registry.get("efficientnet_lite0")
    path = resolve_weights([spec], settings.weights_dir, settings.allow_download)[spec.name]
    model = efficientnet_lite.build("lite0", torch.load(path, map_location="cpu", weights_only=True))
    pre = spec.preprocess
    return Regressor(LiteFeatures(model).eval(), mlp_head(1280, settings.head), pre.mean, pre.std, frozen=True)


class RegisteredFeatures(nn.Module):
    """The backbone of a registered quality model (its own normalisation included) on images in [0, 1]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.normalize, self.backbone = model.normalize, model.backbone  # its scalar head is not used

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x * 255.0))  # the registry's models normalise 0..255 inputs


def build_registered(settings: RegressorSettings, crop: int) -> Regressor:
    """A model of ``learning.models``' registry (backbone and normalisation) with this module's head."""
    from learning.models import ModelConfig, build_model

    model = build_model(ModelConfig(settings.name, crop=crop), pretrained=settings.pretrained,
                        weights_dir=settings.weights_dir, allow_download=settings.allow_download)
    return Regressor(RegisteredFeatures(model), mlp_head(model.feature_dim, settings.head), (0.0, 0.0, 0.0),
                     (1.0, 1.0, 1.0), frozen=settings.freeze_backbone)


REGRESSORS: dict[str, Callable[[RegressorSettings], Regressor]] = {"cnn": build_cnn, "frozen-lite0": build_frozen_lite0}


def registered_models() -> list[str]:
    """The single-database registry's models usable as a shared regressor (one view in, features out)."""
    from learning.models.registry import REGISTRY

    return [name for name, spec in REGISTRY.items() if not spec.region_view and name not in REGRESSORS]


def regressor_names() -> list[str]:
    return [*REGRESSORS, *registered_models()]


def build_regressor(settings: RegressorSettings, crop: int = 224) -> Regressor:
    """The regressor of ``settings``; ``crop`` sizes the input of models that fix it (ViTs' position grid)."""
    if settings.name in REGRESSORS:
        return REGRESSORS[settings.name](settings)
    if settings.name in registered_models():
        return build_registered(settings, crop)
    raise ValueError(f"unknown regressor {settings.name!r}; known: {', '.join(regressor_names())}")
