"""Shared regressors: bilinear pooling against its formula, the CNN variants' shapes and weights, the frozen
EfficientNet-Lite0 extractor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learning.mixed.regressors import BilinearPool, RegressorSettings, build_regressor
from oracles.weights import MissingWeightsError, torchvision_cache_dir


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is steadier


def test_bilinear_pooling_matches_its_formula():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    got = BilinearPool()(x).numpy()
    for n in range(2):
        features = x[n].reshape(3, 20).numpy()
        gram = features @ features.T / 20  # mean outer product over the 20 positions
        signed = np.sign(gram) * np.sqrt(np.abs(gram) + 1e-8)
        np.testing.assert_allclose(got[n], signed.ravel() / np.linalg.norm(signed), atol=1e-12)


@pytest.mark.parametrize("backbone, bilinear, width", [("resnet34", True, 512 * 512), ("vgg16", False, 512)])
def test_cnn_regressor_maps_a_batch_to_one_score_each(backbone, bilinear, width):
    torch.manual_seed(0)
    model = build_regressor(RegressorSettings(backbone=backbone, bilinear=bilinear, head=(4,)))
    assert model.head[0].in_features == width and model.head[-1].out_features == 1
    assert model.frozen is None and len(model.trainable_backbone()) > 0
    assert model(torch.rand(2, 3, 64, 48)).shape == (2,)


def test_pretrained_backbone_weights_come_from_the_weights_dir(tmp_path):
    import torchvision

    state = torchvision.models.resnet34(weights=None).state_dict()
    torch.save(state, tmp_path / "resnet34-b627a593.pth")
    model = build_regressor(RegressorSettings(pretrained=True, weights_dir=str(tmp_path), bilinear=False, head=(4,)))
    assert torch.equal(model.features[0][0].weight, state["conv1.weight"])
    if (torchvision_cache_dir() / "resnet34-b627a593.pth").is_file():
        pytest.skip("resnet34's weights are in the torch cache: the missing-file message cannot be shown")
    with pytest.raises(MissingWeightsError, match="resnet34-b627a593.pth"):
        build_regressor(RegressorSettings(pretrained=True, weights_dir=str(tmp_path / "empty")))


def test_frozen_lite0_keeps_its_extractor_fixed_and_in_eval_mode():
    model = build_regressor(RegressorSettings(name="frozen-lite0", head=(8,)))
    model.train()
    assert not model.features.training and model.head.training
    assert model.trainable_backbone() == [] and not any(p.requires_grad for p in model.features.parameters())
    x = torch.rand(3, 3, 64, 64)
    q = model(x)
    q.sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())
    torch.testing.assert_close(q, model.head(model.embed(x))[:, 0])
    assert model.embed(x).shape == (3, 1280)


def test_registry_models_are_regressors_with_the_fc_head():
    """A model of the single-database registry: its backbone and normalisation, on images in [0, 1]."""
    from learning.models import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_regressor(RegressorSettings(name="resnet18", head=(4,)), crop=64)
    assert model.head[0].in_features == 512 and model.frozen is None and len(model.trainable_backbone()) > 0
    torch.manual_seed(0)
    reference = build_model(ModelConfig("resnet18", crop=64), pretrained=False)
    pixels = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    x = pixels.float() / 255
    model.eval(), reference.eval()
    torch.testing.assert_close(model.embed(x), reference.features(pixels), atol=1e-4, rtol=1e-4)
    assert model(x).shape == (2,)
    frozen = build_regressor(RegressorSettings(name="efficientnet_lite0", pretrained=True, freeze_backbone=True,
                                               head=(4,)))
    assert frozen.frozen is not None and frozen.trainable_backbone() == []
    assert frozen.embed(torch.rand(1, 3, 64, 64)).shape == (1, 1280)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="known: cnn, frozen-lite0, resnet18"):
        build_regressor(RegressorSettings(name="vit"))
    with pytest.raises(ValueError, match="known: resnet34, vgg16"):
        build_regressor(RegressorSettings(backbone="resnet50"))
