"""Registry of trainable quality predictors, keyed by stable names; no framework is imported here.

A :class:`ModelSpec` names the builder, the views the model takes, the normalisation of its main view, the
pretrained files it starts from (``OracleSpec`` entries, found by :func:`oracles.weights.resolve_weights`:
``--weights-dir``, then the frameworks' caches, then a download when allowed) and the pip package it needs
beyond the project's own.

    from learning.models import registry
    registry.names()            # ['resnet18', 'resnet50', 'efficientnet_b1', ...]
    registry.get("vit_small_patch16_224").requires   # 'timm'
"""

from __future__ import annotations

from dataclasses import dataclass

from oracles import registry as zoo
from oracles.registry import IMAGENET_MEAN, IMAGENET_STD, LITE_MEAN, LITE_STD, OracleSpec, classify

HALF = (0.5, 0.5, 0.5)  # ViTs: the release normalises by 0.5 / 0.5


class ModelUnavailable(ImportError):
    """A model needs a package that is not installed."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "cnn" | "vit" | "ra-miqa"
    builder: str  # "module:function" of learning.models, called with the resolved weight files
    mean: tuple[float, float, float]  # normalisation of the main view, [0, 1] scale
    std: tuple[float, float, float]
    weights: tuple[OracleSpec, ...] = ()  # pretrained backbone files
    requires: str | None = None  # import name of an optional package ("timm")
    region_view: bool = False  # takes a second, uncropped view (RA-MIQA)
    description: str = ""


def _torchvision_file(name: str, weights_id: str, file: str) -> OracleSpec:
    """A torchvision ImageNet classifier's official file, found and fetched the way the oracles' files are."""
    return OracleSpec(name=name, task="cls", framework="torchvision", family="efficientnet", builder=name,
                      weights_id=weights_id, weights_file=file, url=zoo.TORCHVISION_URL + file,
                      licence=zoo.LICENCES["torchvision"], preprocess=classify(256, 224, "bicubic"),
                      label_space="imagenet-1k", autocast_safe=True, channels_last=True)


# timm's ViT-S/16 (ImageNet-21k pretraining, ImageNet-1k fine-tuning: timm's default for the name, what the
# release trains). Kept like torchvision's files (torch.hub's checkpoint folder, fetched by URL); safetensors.
VIT_SMALL_FILE = OracleSpec(
    name="vit_small_patch16_224", task="cls", framework="torchvision", family="vit",
    builder="timm:vit_small_patch16_224", weights_id="timm/vit_small_patch16_224.augreg_in21k_ft_in1k",
    weights_file="vit_small_patch16_224.augreg_in21k_ft_in1k.safetensors",
    url="https://huggingface.co/timm/vit_small_patch16_224.augreg_in21k_ft_in1k/resolve/main/model.safetensors",
    licence="Apache-2.0", preprocess=classify(248, 224, "bicubic", HALF, HALF), label_space="imagenet-1k",
    autocast_safe=True,
)

_MODELS = (
    ModelSpec("resnet18", "cnn", "learning.models.backbones:torchvision_model", IMAGENET_MEAN, IMAGENET_STD,
              (zoo.get("resnet18"),), description="ResNet-18 (torchvision), regression head"),
    ModelSpec("resnet50", "cnn", "learning.models.backbones:torchvision_model", IMAGENET_MEAN, IMAGENET_STD,
              (zoo.get("resnet50"),), description="ResNet-50 (torchvision), regression head"),
    ModelSpec("efficientnet_b1", "cnn", "learning.models.backbones:torchvision_model", IMAGENET_MEAN, IMAGENET_STD,
              (_torchvision_file("efficientnet_b1", "EfficientNet_B1_Weights.IMAGENET1K_V1",
                                 "efficientnet_b1_rwightman-bac287d4.pth"),),
              description="EfficientNet-B1 (torchvision), regression head"),
    ModelSpec("efficientnet_b5", "cnn", "learning.models.backbones:torchvision_model", IMAGENET_MEAN, IMAGENET_STD,
              (_torchvision_file("efficientnet_b5", "EfficientNet_B5_Weights.IMAGENET1K_V1",
                                 "efficientnet_b5_lukemelas-1a07897c.pth"),),
              description="EfficientNet-B5 (torchvision), regression head"),
    ModelSpec("efficientnet_lite0", "cnn", "learning.models.backbones:lite_model", LITE_MEAN, LITE_STD,
              (zoo.get("efficientnet_lite0"),),
              description="EfficientNet-Lite0, weights from a pip package (works offline), regression head"),
    ModelSpec("vit_small_patch16_224", "vit", "learning.models.backbones:timm_vit_model", HALF, HALF,
              (VIT_SMALL_FILE,), requires="timm", description="ViT-S/16 (timm), regression head"),
    ModelSpec("ra_miqa", "ra-miqa", "learning.models.ra_miqa:build", HALF, HALF, (VIT_SMALL_FILE,),
              requires="timm", region_view=True,
              description="RA-MIQA: ViT-S/16 with a region token from a frozen region encoder"),
)

REGISTRY: dict[str, ModelSpec] = {}

SERE_URL = "https://github.com/LUSSeg/ImageNetSegModel/releases/download/vit/sere_finetuned_vit_small_ep100.pth"


@dataclass(frozen=True)
class RegionEncoderSpec:
    """A frozen encoder of RA-MIQA's region view: its pooled feature size and input normalisation."""

    name: str
    dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: OracleSpec | None  # found like the models' files; None: given by path (--region-weights)
    note: str


REGION_ENCODERS = {
    "sere_vit_small": RegionEncoderSpec("sere_vit_small", 384, IMAGENET_MEAN, IMAGENET_STD, None,
                                        f"SERE ViT-S/16 fine-tuned on ImageNet-S ({SERE_URL})"),
    "efficientnet_lite0": RegionEncoderSpec("efficientnet_lite0", 1280, LITE_MEAN, LITE_STD,
                                            zoo.get("efficientnet_lite0"),
                                            "EfficientNet-Lite0 ImageNet features (pip package, offline)"),
}


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a model (a user's own builder): the name must be new unless ``replace``."""
    if spec.name in REGISTRY and not replace:
        raise ValueError(f"model {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


for _spec in _MODELS:
    register(_spec)
del _spec


def get(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}{zoo.did_you_mean([name], REGISTRY)} (known: {', '.join(REGISTRY)})") \
            from None


def names() -> list[str]:
    return list(REGISTRY)
