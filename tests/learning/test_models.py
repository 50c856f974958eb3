"""Trainable models: every registered name builds, pretrained files load where the weights rules find them,
missing ones are one message, and RA-MIQA has the paper's architecture."""

from __future__ import annotations

import pytest
import torch

from learning.models import ModelConfig, build_model, names, registry
from oracles.weights import MissingWeightsError

torch.set_num_threads(1)


def _images(n: int, size: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b1", "efficientnet_lite0"])
def test_cnn_baselines_score_uint8_images(name):
    model = build_model(ModelConfig(name), pretrained=False).eval()
    assert model.inputs == ("image",)
    with torch.no_grad():
        scores = model(_images(2, 64))
        features = model.features(_images(2, 64))
    assert scores.shape == (2,) and features.shape == (2, model.feature_dim)
    assert isinstance(model.head, torch.nn.Linear) and model.head.out_features == 1


def test_normalisation_inside_the_model_equals_torchvision_on_unit_scale():
    import torchvision.transforms.v2.functional as TF

    from learning.models.heads import Normalize
    from oracles.registry import IMAGENET_MEAN, IMAGENET_STD

    images = _images(2, 8)
    expected = TF.normalize(images.float() / 255, list(IMAGENET_MEAN), list(IMAGENET_STD))
    assert torch.allclose(Normalize(IMAGENET_MEAN, IMAGENET_STD)(images), expected, atol=1e-5)


def test_every_registered_model_has_a_known_family_and_normalisation():
    for name in names():
        spec = registry.get(name)
        assert spec.family in ("cnn", "vit", "ra-miqa") and len(spec.mean) == len(spec.std) == 3
        assert (spec.mean == (0.5,) * 3) == (spec.family != "cnn")  # 0.5 / 0.5 for ViTs, as the release
    with pytest.raises(KeyError, match="did you mean resnet50"):
        registry.get("resnet5")


def test_lite0_starts_from_the_package_weights():
    from oracles import registry as zoo
    from oracles.weights import find_weights

    model = build_model(ModelConfig("efficientnet_lite0"), pretrained=True)
    state = torch.load(find_weights(zoo.get("efficientnet_lite0")), map_location="cpu", weights_only=True)
    backbone = model.backbone.state_dict()
    assert all(torch.equal(backbone[k], v) for k, v in state.items() if not k.startswith("_fc."))


def test_torchvision_weights_come_from_the_weights_dir(tmp_path):
    import torchvision

    torch.manual_seed(5)
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), tmp_path / "resnet18-f37072fd.pth")  # the official file name
    model = build_model(ModelConfig("resnet18"), pretrained=True, weights_dir=tmp_path)
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)
    assert isinstance(model.backbone.fc, torch.nn.Identity)


def test_missing_pretrained_files_are_listed_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError) as info:
        build_model(ModelConfig("efficientnet_b5"), pretrained=True, weights_dir=tmp_path, allow_download=False)
    message = str(info.value)
    assert "efficientnet_b5_lukemelas-1a07897c.pth" in message and str(tmp_path) in message


def _save_vit(path, img_size: int = 224, seed: int = 1):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    vit = timm.create_model("vit_small_patch16_224", pretrained=False, img_size=img_size)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(path))
    return vit


def test_vit_small_loads_timm_weights_and_resamples_positions(tmp_path):
    pytest.importorskip("timm")
    from timm.layers import resample_abs_pos_embed

    reference = _save_vit(tmp_path / "vit_small_patch16_224.augreg_in21k_ft_in1k.safetensors")
    model = build_model(ModelConfig("vit_small_patch16_224", crop=224), pretrained=True, weights_dir=tmp_path)
    assert torch.equal(model.backbone.blocks[3].attn.qkv.weight, reference.blocks[3].attn.qkv.weight)
    small = build_model(ModelConfig("vit_small_patch16_224", crop=64), pretrained=True, weights_dir=tmp_path)
    expected = resample_abs_pos_embed(reference.pos_embed.detach(), [4, 4], num_prefix_tokens=1)
    assert torch.allclose(small.backbone.pos_embed, expected) and small(_images(2, 64)).shape == (2,)


def test_ra_miqa_architecture(tmp_path):
    pytest.importorskip("timm")
    reference = _save_vit(tmp_path / "vit_small_patch16_224.augreg_in21k_ft_in1k.safetensors")
    torch.manual_seed(0)
    model = build_model(ModelConfig("ra_miqa", region_encoder="efficientnet_lite0"), pretrained=True,
                        weights_dir=tmp_path)
    assert model.inputs == ("image", "region_view")
    # tokens [region, CLS, 196 patches]: CLS and patch positions are the pretrained ones, the region's is new
    assert model.pos_embed.shape == (1, 198, 384)
    assert torch.equal(model.pos_embed[:, 1:], reference.pos_embed)
    assert not torch.equal(model.pos_embed[:, 0], reference.pos_embed[:, 0])
    projector = [type(m) for m in model.region_projector]
    assert projector == [torch.nn.Linear, torch.nn.LayerNorm, torch.nn.GELU]
    assert model.region_projector[0].in_features == 1280 and model.region_projector[0].out_features == 384
    head = list(model.quality_head)
    assert [type(m) for m in head] == [torch.nn.Linear, torch.nn.GELU, torch.nn.Dropout, torch.nn.Linear]
    assert (head[0].in_features, head[0].out_features, head[2].p, head[3].out_features) == (768, 384, 0.2, 1)
    # the region encoder is frozen: no gradient, eval mode even while the model trains
    model.train()
    assert not model.region_encoder.training
    assert not any(p.requires_grad for p in model.region_encoder.parameters())
    scores = model(_images(2, 224), _images(2, 288))
    scores.sum().backward()
    assert scores.shape == (2,) and model.region_projector[0].weight.grad is not None
    assert all(p.grad is None for p in model.region_encoder.parameters())


def test_ra_miqa_lists_its_region_weights_with_the_other_missing_files(tmp_path, monkeypatch):
    pytest.importorskip("timm")
    from learning.models import RegionWeightsMissing

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError) as info:
        build_model(ModelConfig("ra_miqa"), pretrained=True, weights_dir=tmp_path)
    assert [m.file for m in info.value.missing] == ["vit_small_patch16_224.augreg_in21k_ft_in1k.safetensors",
                                                    "sere_finetuned_vit_small_ep100.pth"]
    assert str(tmp_path / "sere_finetuned_vit_small_ep100.pth") in str(info.value)
    with pytest.raises(RegionWeightsMissing, match="not found"):
        build_model(ModelConfig("ra_miqa"), pretrained=True, region_weights=tmp_path / "none.pth")


def _mmseg_names(state: dict) -> dict:
    """timm ViT keys as MMSegmentation's VisionTransformer names them (the release's region encoder)."""
    import re

    rules = ((r"^patch_embed\.proj\.", "patch_embed.projection."), (r"^blocks\.(\d+)\.norm1\.", r"layers.\1.ln1."),
             (r"^blocks\.(\d+)\.norm2\.", r"layers.\1.ln2."),
             (r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$", r"layers.\1.attn.attn.in_proj_\2"),
             (r"^blocks\.(\d+)\.attn\.proj\.", r"layers.\1.attn.attn.out_proj."),
             (r"^blocks\.(\d+)\.mlp\.fc1\.", r"layers.\1.ffn.layers.0.0."),
             (r"^blocks\.(\d+)\.mlp\.fc2\.", r"layers.\1.ffn.layers.1."), (r"^norm\.", "ln1."))
    out = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        out["backbone." + key] = value
    return out


@pytest.mark.parametrize("layout", ["timm", "mmseg"])
def test_sere_region_encoder_loads_vit_checkpoints(tmp_path, layout):
    timm = pytest.importorskip("timm")
    from timm.layers import resample_abs_pos_embed

    from learning.models.ra_miqa import region_encoder

    torch.manual_seed(2)
    source = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0)
    state = {"state_dict": _mmseg_names(source.state_dict()) if layout == "mmseg" else
             {"module." + k: v for k, v in source.state_dict().items()}}
    torch.save(state, tmp_path / "sere.pth")
    encoder = region_encoder("sere_vit_small", 288, tmp_path / "sere.pth")
    # independent computation: the source network at 288 with its positions resampled, patch tokens averaged
    resized = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0, img_size=288)
    weights = dict(source.state_dict())
    weights["pos_embed"] = resample_abs_pos_embed(weights["pos_embed"], [18, 18], num_prefix_tokens=1)
    resized.load_state_dict(weights)
    view = _images(2, 288)
    x = (view.float() - encoder.normalize.mean) / encoder.normalize.std
    with torch.no_grad():
        expected = resized.eval().forward_features(x)[:, 1:].mean(dim=1)
    assert torch.allclose(encoder(view), expected, atol=1e-5) and encoder(view).shape == (2, 384)


def test_sere_region_encoder_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    pytest.importorskip("timm")
    from learning.models.ra_miqa import RegionWeightsError, region_encoder

    torch.save({"model": {"blocks.0.norm1.weight": torch.ones(384)}}, tmp_path / "bad.pth")
    with pytest.raises(RegionWeightsError, match="are not in the checkpoint"):
        region_encoder("sere_vit_small", 288, tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(RegionWeightsError, match="cannot load"):
        region_encoder("sere_vit_small", 288, tmp_path / "junk.pth")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b5", "vit_small_patch16_224", "ra_miqa"])
def test_large_models_train_one_step(name):
    if registry.get(name).requires:
        pytest.importorskip(registry.get(name).requires)
    model = build_model(ModelConfig(name, crop=224, region_encoder="efficientnet_lite0"), pretrained=False)
    inputs = {"image": _images(2, 224)}
    if "region_view" in model.inputs:
        inputs["region_view"] = _images(2, 288)
    loss = (model(**inputs) - 0.5).pow(2).mean()
    loss.backward()
    assert torch.isfinite(loss)
