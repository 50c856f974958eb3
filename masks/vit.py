"""DINO's ViT-S/8 (Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", 2021),
written so that the official ``dino_deitsmall8_pretrain.pth`` loads strictly: patch 8, width 384, 6 heads,
12 blocks, MLP ratio 4, qkv bias, LayerNorm eps 1e-6, exact GELU, no classification head.

Keys: ``cls_token``, ``pos_embed`` (1, 785, 384: a 28x28 grid for 224x224 inputs plus the CLS slot),
``patch_embed.proj.{weight,bias}``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``,
``norm.*``. Inputs of any size work: the positional grid is resized bicubically as DINO does (a scale
factor of (n + 0.1) / 28 per side, so that rounding never loses a row), and the patch stride can be set
below 8 for denser maps (as dino-vit-features does).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 8
DIM = 384
HEADS = 6
DEPTH = 12
MLP_RATIO = 4
TRAIN_GRID = 28  # 224 / 8: the positional grid the weights were trained with
LN_EPS = 1e-6


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]  # each (B, heads, tokens, head dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._qkv(x)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(x.shape))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The softmax attention weights (B, heads, tokens, tokens)."""
        q, k, _ = self._qkv(x)
        return ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, dim * MLP_RATIO)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class VisionTransformer(nn.Module):
    """The DINO ViT backbone; ``stride`` (a divisor of the patch size) sets the patch grid's step."""

    def __init__(self, patch: int = PATCH, dim: int = DIM, heads: int = HEADS, depth: int = DEPTH,
                 stride: int | None = None) -> None:
        super().__init__()
        stride = patch if stride is None else stride
        if stride < 1 or patch % stride:
            raise ValueError(f"stride {stride} must divide the patch size {patch}")
        self.patch, self.stride = patch, stride
        self.patch_embed = PatchEmbed(dim, patch)
        self.patch_embed.proj.stride = (stride, stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, TRAIN_GRID * TRAIN_GRID + 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """The patch grid (rows, columns) of an input of ``height`` x ``width`` pixels."""
        return 1 + (height - self.patch) // self.stride, 1 + (width - self.patch) // self.stride

    def interpolated_pos_embed(self, rows: int, cols: int) -> torch.Tensor:
        """The positional embedding resized to a ``rows`` x ``cols`` grid (CLS slot first)."""
        side = int(math.sqrt(self.pos_embed.shape[1] - 1))
        patch_pos = self.pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        # DINO's resize: a scale factor of (n + 0.1) / side, which both sets the size (floor) and the
        # sampling positions; kept so that the official weights see the inputs they were evaluated with
        patch_pos = F.interpolate(patch_pos, scale_factor=((rows + 0.1) / side, (cols + 0.1) / side),
                                  mode="bicubic", align_corners=False, recompute_scale_factor=False)
        if patch_pos.shape[-2:] != (rows, cols):
            raise RuntimeError(f"positional grid {tuple(patch_pos.shape[-2:])} for {rows}x{cols} patches")
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)
        return torch.cat([self.pos_embed[:, :1], patch_pos], dim=1)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """CLS and patch tokens of normalised images (B, 3, H, W), positions added."""
        if images.shape[-2] < self.patch or images.shape[-1] < self.patch:
            raise ValueError(f"inputs must be at least {self.patch}x{self.patch} pixels, got {tuple(images.shape)}")
        x = self.patch_embed.proj(images)  # (B, dim, rows, cols)
        rows, cols = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        # as DINO: the trained grid as is only for square inputs with as many patches
        square = images.shape[-2] == images.shape[-1] and rows * cols == self.pos_embed.shape[1] - 1
        return x + (self.pos_embed if square else self.interpolated_pos_embed(rows, cols))

    def attention(self, images: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """Self-attention weights (B, heads, tokens, tokens) of block ``layer`` (default: the last)."""
        index = layer % len(self.blocks)
        x = self.tokens(images)
        for block in self.blocks[:index]:
            x = block(x)
        return self.blocks[index].attn.attention(self.blocks[index].norm1(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised CLS token (B, dim), DINO's output."""
        x = self.tokens(images)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]


def dino_vits8(state_dict: dict | None = None, stride: int = PATCH) -> VisionTransformer:
    """ViT-S/8 with ``state_dict`` (the official file's layout) loaded strictly when given, else DINO's
    random initialisation (truncated normal, std 0.02) from torch's global generator."""
    if state_dict is None:
        return VisionTransformer(stride=stride)
    with torch.device("meta"):  # no initialisation to overwrite
        model = VisionTransformer(stride=stride)
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True, assign=True)
    return model
