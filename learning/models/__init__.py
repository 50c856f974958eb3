"""Trainable quality predictors, built by name: a backbone with a scalar regression head, or RA-MIQA.

    from learning.models import ModelConfig, build_model, names
    model = build_model(ModelConfig("efficientnet_lite0"), pretrained=True)   # weights ship in a pip package
    model(uint8_images)            # (B,) scores; model.inputs == ("image",)
    model.features(uint8_images)   # (B, model.feature_dim): the backbone's features, for other heads

Registered: resnet18, resnet50, efficientnet_b1, efficientnet_b5 (torchvision), efficientnet_lite0
(offline), vit_small_patch16_224 and ra_miqa (timm). ``registry.register`` adds one.
"""

from learning.models.build import (ModelConfig, RegionWeightsMissing, build_model, check_config, pretrained_files,
                                   required_files)
from learning.models.registry import ModelSpec, get, names, register

__all__ = ["ModelConfig", "ModelSpec", "RegionWeightsMissing", "build_model", "check_config", "get", "names",
           "pretrained_files", "register", "required_files"]
