"""RA-MIQA (region-aware MIQA): a trainable ViT-S/16 whose token sequence starts with a region token.

A frozen region encoder sees a second view of the image (resize 288, centre crop 288); its features,
average-pooled, are projected (Linear, LayerNorm, GELU) into a region token. The tokens
[region, CLS, patches] get position embeddings (the CLS and patch positions of the pretrained ViT, a new one
for the region token), run through the ViT's blocks and final norm; the head reads concat[CLS, region]
(2 x 384) -> Linear(384) -> GELU -> Dropout(0.2) -> Linear(1). No ROI mask is used at inference.

Region encoders (pluggable, :data:`REGION_ENCODERS`):

- ``sere_vit_small``: the paper's, a ViT-S/16 fine-tuned for ImageNet-S semantic segmentation (SERE); its
  last layer's patch tokens after the final norm (the first, and only, feature map of the release's
  encoder), average-pooled: 384-d. Weights by path (``--region-weights``), timm/DINO-style keys or
  MMSegmentation's, with or without a ``backbone.`` prefix.
- ``efficientnet_lite0``: EfficientNet-Lite0's pooled features (1280-d), weights from a pip package: a
  region encoder that works offline.

Deliberate difference from the release's code: it gives the pretrained CLS position to the region token
(index 0) and a new random position to the CLS token; here the CLS token keeps its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from learning.models.heads import Normalize
from learning.models.registry import REGION_ENCODERS, ModelSpec, RegionEncoderSpec


class RegionWeightsError(ValueError):
    """A region encoder checkpoint that does not fit the encoder."""


class RegionEncoder(nn.Module):
    """Frozen: a uint8 view in, pooled features (B, dim) out."""

    def __init__(self, spec: RegionEncoderSpec, network: nn.Module, pool_tokens: bool) -> None:
        super().__init__()
        self.dim = spec.dim
        self.normalize = Normalize(spec.mean, spec.std)
        self.network = network
        self.pool_tokens = pool_tokens
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "RegionEncoder":
        return super().train(False)  # frozen: batch norm statistics and dropout stay as trained

    def forward(self, view: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = self.normalize(view)
            if self.pool_tokens:  # ViT: patch tokens of the last layer after the final norm, averaged
                return self.network.forward_features(x)[:, self.network.num_prefix_tokens :].mean(dim=1)
            return self.network(x)


_MMSEG_KEYS = (  # MMSegmentation's ViT names -> timm's
    (r"^patch_embed\.projection\.", "patch_embed.proj."),
    (r"^layers\.(\d+)\.ln1\.", r"blocks.\1.norm1."),
    (r"^layers\.(\d+)\.ln2\.", r"blocks.\1.norm2."),
    (r"^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$", r"blocks.\1.attn.qkv.\2"),
    (r"^layers\.(\d+)\.attn\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^layers\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp.fc1."),
    (r"^layers\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.mlp.fc2."),
    (r"^ln1\.", "norm."),
)


def vit_encoder_state(state: dict, vit: nn.Module) -> dict[str, torch.Tensor]:
    """A ViT-S/16 checkpoint (timm / DINO / SERE keys, or MMSegmentation's; nested under state_dict, model or
    teacher; prefixed by module., backbone. or encoder.) as ``vit``'s state dict, positions resampled to
    its grid. Raises RegionWeightsError naming the keys that are missing."""
    from timm.layers import resample_abs_pos_embed

    for key in ("state_dict", "model", "teacher"):
        if isinstance(state.get(key), dict):
            state = state[key]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in ("module.", "backbone.", "encoder."):
            key = key.removeprefix(prefix)
        for pattern, replacement in _MMSEG_KEYS:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    if "norm.weight" not in out and "fc_norm.weight" in out:  # checkpoints that name the final norm fc_norm
        out["norm.weight"], out["norm.bias"] = out["fc_norm.weight"], out["fc_norm.bias"]
    expected = vit.state_dict()
    missing = [k for k in expected if k not in out]
    if missing:
        raise RegionWeightsError(f"{len(missing)} of the ViT-S/16 encoder's {len(expected)} weights are not in the "
                                 f"checkpoint (e.g. {', '.join(missing[:3])})")
    if out["pos_embed"].shape != expected["pos_embed"].shape:
        grid = vit.patch_embed.grid_size
        out["pos_embed"] = resample_abs_pos_embed(out["pos_embed"], list(grid), num_prefix_tokens=1)
    return {k: out[k] for k in expected}


def region_encoder(name: str, size: int, file: Path | None) -> RegionEncoder:
    """The named encoder for ``size`` x ``size`` views; ``file`` its weights (None: random, plumbing only)."""
    spec = REGION_ENCODERS[name]
    if name == "efficientnet_lite0":
        from learning.models.backbones import load_state
        from oracles import efficientnet_lite

        network = efficientnet_lite.build("lite0", load_state(file) if file else None)
        network._fc, network._dropout = nn.Identity(), nn.Identity()
        return RegionEncoder(spec, network, pool_tokens=False)
    from learning.models.backbones import require

    timm = require("timm", "ra_miqa")
    network = timm.create_model("vit_small_patch16_224", pretrained=False, img_size=size, num_classes=0)
    if file is not None:
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as error:  # unreadable or not a plain tensor checkpoint
            raise RegionWeightsError(f"{file}: cannot load as a weights-only torch checkpoint ({error})") from None
        try:
            network.load_state_dict(vit_encoder_state(state, network), strict=True)
        except RegionWeightsError as error:
            raise RegionWeightsError(f"{file}: {error}") from None
    return RegionEncoder(spec, network, pool_tokens=True)


class RegionAwareQualityModel(nn.Module):
    inputs = ("image", "region_view")

    def __init__(self, vit: nn.Module, encoder: RegionEncoder, mean, std, dropout: float = 0.2) -> None:
        super().__init__()
        dim = vit.embed_dim
        self.normalize = Normalize(mean, std)
        self.vit = vit
        self.region_encoder = encoder
        self.region_projector = nn.Sequential(nn.Linear(encoder.dim, dim), nn.LayerNorm(dim), nn.GELU())
        positions = torch.zeros(1, 1 + vit.pos_embed.shape[1], dim)
        nn.init.normal_(positions[:, :1], std=0.02)  # the region token's: new
        positions[:, 1:] = vit.pos_embed.detach()  # CLS and patches: the pretrained ones
        self.pos_embed = nn.Parameter(positions)
        vit.pos_embed = None  # replaced by the extended table above
        self.quality_head = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, 1))
        self.feature_dim = 2 * dim

    def region_token(self, region_view: torch.Tensor) -> torch.Tensor:
        return self.region_projector(self.region_encoder(region_view))

    def features(self, image: torch.Tensor, region_view: torch.Tensor) -> torch.Tensor:
        patches = self.vit.patch_embed(self.normalize(image))
        region = self.region_token(region_view).unsqueeze(1).to(patches.dtype)
        cls = self.vit.cls_token.expand(len(patches), -1, -1)
        x = torch.cat([region, cls, patches], dim=1) + self.pos_embed
        x = self.vit.norm(self.vit.blocks(self.vit.norm_pre(self.vit.pos_drop(x))))
        return torch.cat([x[:, 1], x[:, 0]], dim=-1)

    def forward(self, image: torch.Tensor, region_view: torch.Tensor) -> torch.Tensor:
        return self.quality_head(self.features(image, region_view)).view(-1)


def build(spec: ModelSpec, files: dict[str, Path] | None, crop: int, encoder: RegionEncoder) -> RegionAwareQualityModel:
    from learning.models.backbones import timm_vit

    vit = timm_vit("vit_small_patch16_224", spec.name, files, crop)
    return RegionAwareQualityModel(vit, encoder, spec.mean, spec.std)
