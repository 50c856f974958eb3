"""The "dino" mask method: DINO's ViT-S/8 (architecture, official weights layout, weights rules) and the
release's attention-saliency masks, run with random weights (the official file cannot be fetched here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT

from masks import MaskSettings, ModelOptions, default_masks, method_fingerprint, prepare_method
from masks.dino import (
    DINO_FILE,
    DINO_URL,
    DinoSettings,
    DinoWeightsError,
    cls_saliency,
    dino_masks,
    dino_saliency,
    dino_weights,
    load_dino,
    patch_mask_to_image,
    resize_for_vit,
)
from masks.vit import VisionTransformer, dino_vits8
from oracles.weights import MissingWeightsError

RANDOM = ModelOptions(device="cpu", untrained=True)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is steadier


def official_layout() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of facebookresearch/dino's dino_deitsmall8_pretrain.pth (vit_small, patch 8, no head)."""
    layout = {"cls_token": (1, 1, 384), "pos_embed": (1, 785, 384), "patch_embed.proj.weight": (384, 3, 8, 8),
              "patch_embed.proj.bias": (384,)}
    for i in range(12):
        block = f"blocks.{i}."
        layout.update({
            block + "norm1.weight": (384,), block + "norm1.bias": (384,),
            block + "attn.qkv.weight": (1152, 384), block + "attn.qkv.bias": (1152,),
            block + "attn.proj.weight": (384, 384), block + "attn.proj.bias": (384,),
            block + "norm2.weight": (384,), block + "norm2.bias": (384,),
            block + "mlp.fc1.weight": (1536, 384), block + "mlp.fc1.bias": (1536,),
            block + "mlp.fc2.weight": (384, 1536), block + "mlp.fc2.bias": (384,),
        })
    layout.update({"norm.weight": (384,), "norm.bias": (384,)})
    return layout


def synthetic_checkpoint(path, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {key: torch.randn(shape, generator=generator) * 0.05 for key, shape in official_layout().items()}
    torch.save(state, path)
    return state


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """No torch.hub cache with weights in it: only what a test puts in a weights dir exists."""
    hub = tmp_path / "hub"
    monkeypatch.setenv("TORCH_HOME", str(hub))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return tmp_path


def test_state_dict_has_the_official_layout():
    model = dino_vits8()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == official_layout()


def test_weights_from_a_weights_dir_load_strictly(empty_caches):
    weights_dir = empty_caches / "weights"
    weights_dir.mkdir()
    state = synthetic_checkpoint(weights_dir / DINO_FILE)
    options = ModelOptions(device="cpu", weights_dir=weights_dir)
    assert dino_weights(options) == weights_dir / DINO_FILE
    model = load_dino(DinoSettings(), options)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in state.items())
    assert load_dino(DinoSettings(), options) is model  # one model per process
    prepare_method("dino", MaskSettings(models=options))


def test_missing_weights_offline_is_one_error_naming_file_and_place(empty_caches):
    weights_dir = empty_caches / "weights"
    settings = MaskSettings(models=ModelOptions(device="cpu", weights_dir=weights_dir))
    with pytest.raises(MissingWeightsError) as error:
        prepare_method("dino", settings)
    message = str(error.value)
    assert f"dino_vits8: {weights_dir / DINO_FILE}  <- {DINO_URL}" in message
    assert "--weights-dir" in message and "--untrained" in message
    with pytest.raises(MissingWeightsError):
        default_masks([np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)], "dino", settings)


def test_a_wrong_file_is_one_clear_line(empty_caches):
    weights_dir = empty_caches / "weights"
    weights_dir.mkdir()
    state = {k: torch.zeros(v) for k, v in official_layout().items()}
    state["head.weight"] = torch.zeros(1000, 384)  # e.g. a linear-probe checkpoint
    del state["norm.bias"]
    torch.save(state, weights_dir / DINO_FILE)
    options = ModelOptions(device="cpu", weights_dir=weights_dir)
    with pytest.raises(DinoWeightsError) as error:
        load_dino(DinoSettings(), options)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{DINO_FILE}: not DINO ViT-S/8 backbone weights (1 keys missing, 1 unexpected")
    (weights_dir / DINO_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(DinoWeightsError, match="unreadable"):
        load_dino(DinoSettings(stride=4), options)


def test_same_function_as_torchvision_vit():
    """Blocks, embedding and last-layer attention against torchvision's independent ViT implementation
    (two blocks, float64), with the weights mapped onto its names."""
    torch.manual_seed(0)
    ours = VisionTransformer(depth=2).double().eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.2)
    theirs = TorchvisionViT(image_size=224, patch_size=8, num_layers=2, num_heads=6, hidden_dim=384,
                            mlp_dim=1536, num_classes=1).double().eval()
    mapped = {"class_token": ours.cls_token, "conv_proj.weight": ours.patch_embed.proj.weight,
              "conv_proj.bias": ours.patch_embed.proj.bias, "encoder.pos_embedding": ours.pos_embed,
              "encoder.ln.weight": ours.norm.weight, "encoder.ln.bias": ours.norm.bias}
    for i, block in enumerate(ours.blocks):
        layer = f"encoder.layers.encoder_layer_{i}."
        mapped.update({
            layer + "ln_1.weight": block.norm1.weight, layer + "ln_1.bias": block.norm1.bias,
            layer + "self_attention.in_proj_weight": block.attn.qkv.weight,
            layer + "self_attention.in_proj_bias": block.attn.qkv.bias,
            layer + "self_attention.out_proj.weight": block.attn.proj.weight,
            layer + "self_attention.out_proj.bias": block.attn.proj.bias,
            layer + "ln_2.weight": block.norm2.weight, layer + "ln_2.bias": block.norm2.bias,
            layer + "mlp.0.weight": block.mlp.fc1.weight, layer + "mlp.0.bias": block.mlp.fc1.bias,
            layer + "mlp.3.weight": block.mlp.fc2.weight, layer + "mlp.3.bias": block.mlp.fc2.bias,
        })
    theirs.load_state_dict({**theirs.state_dict(), **{k: v.detach() for k, v in mapped.items()}})
    images = torch.randn(1, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        tokens = theirs._process_input(images)
        tokens = torch.cat([theirs.class_token, tokens], dim=1)
        expected_cls = theirs.encoder(tokens)[:, 0]
        x = tokens + theirs.encoder.pos_embedding
        x = theirs.encoder.layers[0](x)
        last = theirs.encoder.layers[1]
        normed = last.ln_1(x)
        _, expected_attention = last.self_attention(normed, normed, normed, need_weights=True,
                                                    average_attn_weights=False)
        assert torch.allclose(ours(images), expected_cls, atol=1e-9)
        assert torch.allclose(ours.attention(images), expected_attention, atol=1e-12)


def test_positional_grid_resized_per_axis():
    model = VisionTransformer(depth=1)
    rows = torch.arange(28, dtype=torch.float32).view(28, 1, 1).expand(28, 28, 384)
    with torch.no_grad():
        model.pos_embed[0, 1:] = rows.reshape(784, 384)  # varies down the rows only
        model.pos_embed[0, 0] = 7.0
    assert model.interpolated_pos_embed(28, 28).shape == (1, 785, 384)
    pos = model.interpolated_pos_embed(20, 35)[0]
    assert pos.shape == (1 + 20 * 35, 384) and torch.all(pos[0] == 7.0)
    grid = pos[1:, 0].reshape(20, 35)
    assert torch.allclose(grid, grid[:, :1].expand(20, 35))  # still constant along each row: axes not swapped
    assert torch.all(grid[1:, 0] > grid[:-1, 0])  # and increasing down the rows
    with torch.no_grad():
        model.pos_embed.fill_(0.5)
    assert torch.allclose(model.interpolated_pos_embed(13, 41), torch.full((1, 1 + 13 * 41, 384), 0.5))
    # the trained grid as it is for a square input of 28 x 28 patches; the stride sets the grid
    assert model.tokens(torch.zeros(1, 3, 224, 224)).shape == (1, 785, 384)
    assert VisionTransformer(depth=1, stride=4).grid(224, 232) == (55, 57)
    with pytest.raises(ValueError, match="must divide the patch size"):
        VisionTransformer(stride=3)


def test_cls_saliency_known_answer():
    attention = torch.zeros(1, 6, 4, 4)
    attention[0, :, 0, 1:] = torch.tensor([[1.0, 2.0, 3.0], [9.0, 9.0, 9.0], [3.0, 2.0, 1.0], [9.0, 0.0, 0.0],
                                           [2.0, 2.0, 5.0], [2.0, 4.0, 3.0]])
    # heads 0, 2, 4, 5: mean (2, 2.5, 3) -> min-max (0, 0.5, 1)
    assert torch.allclose(cls_saliency(attention, (0, 2, 4, 5)), torch.tensor([[0.0, 0.5, 1.0]]))
    assert torch.equal(cls_saliency(attention, (1,)), torch.zeros(1, 3))  # flat: zeros, not NaN


def test_resize_for_vit_as_torchvision_resize():
    rng = np.random.default_rng(0)
    for shape in ((375, 500), (500, 375), (300, 300), (100, 700)):
        image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        expected = np.asarray(T.Resize(224, interpolation=T.InterpolationMode.LANCZOS)(Image.fromarray(image)))
        assert np.array_equal(resize_for_vit(image, 224), expected), shape
    image = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    assert resize_for_vit(image, None) is image
    assert resize_for_vit(image[:3, :5], None).shape == (8, 13, 3)  # never below one patch


def test_patch_mask_upsampling_is_nearest():
    patches = np.random.default_rng(1).random((3, 4)) > 0.5
    up = patch_mask_to_image(patches, (24, 32))
    assert np.array_equal(up, np.kron(patches, np.ones((8, 8), bool)).astype(np.uint8) * 255)


def test_dino_masks_with_random_weights(photos):
    images = [photos["chelsea"], photos["coffee"], photos["chelsea"][:200, :150].copy()]
    settings = DinoSettings(load_size=96)
    outputs = dino_saliency(images, settings, RANDOM)
    for resized, saliency in outputs:
        assert min(resized.shape[:2]) == 96 and saliency.shape == (resized.shape[0] // 8, resized.shape[1] // 8)
        assert saliency.min() == 0.0 and saliency.max() == pytest.approx(1.0)
    masks = dino_masks(images, settings, RANDOM)
    for image, mask in zip(images, masks):
        assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
    alone = dino_masks(images[2:], settings, RANDOM)  # batching (2 images of one size, 1 alone) changes nothing
    assert np.array_equal(alone[0], masks[2])
    results = default_masks(images[:1], "dino", MaskSettings(models=RANDOM, dino=settings))
    assert results[0].method == "dino" and results[0].note == "untrained"
    assert np.array_equal(results[0].mask, masks[0])
    assert method_fingerprint("dino", MaskSettings(models=RANDOM))["untrained"] is True


def test_default_settings_run_at_the_release_geometry(photos):
    image = photos["astronaut"]  # 320 x 240: the ViT sees 298 x 224, a 28 x 37 patch grid
    (resized, saliency), = dino_saliency([image], DinoSettings(), RANDOM)
    assert resized.shape == (224, 298, 3) and saliency.shape == (28, 37)
    with pytest.raises(ValueError, match="stride must divide"):
        DinoSettings(stride=3)
    with pytest.raises(ValueError, match="heads"):
        DinoSettings(heads=(6,))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(photos):
    images = [photos["chelsea"], photos["coffee"]]
    cpu = dino_saliency(images, DinoSettings(), RANDOM)
    gpu = dino_saliency(images, DinoSettings(), ModelOptions(device="cuda", untrained=True))
    for (_, a), (_, b) in zip(cpu, gpu):
        assert np.allclose(a, b, atol=1e-3)
