"""The "dino" method: the release's ROI masks, DINO ViT-S/8 attention saliency refined by GrabCut.

MIQD-2.5M's masks were made inside a checkout of dino-vit-features (Amir et al., "Deep ViT Features as
Dense Visual Descriptors"; github.com/ShirAmir/dino-vit-features); the release's own mask script is not
public. Every constant below is that repository's default, each one an option:

- ``load_size`` 224: the image's shorter side is resized to it (PIL Lanczos; the longer side truncated
  as torchvision's Resize does), then normalised with ImageNet's mean and std (``ViTExtractor.preprocess``,
  ``find_cosegmentation(load_size=224)``).
- ``stride`` 8: the patch grid's step (its saliency extractor's; its descriptor extractor's default is 4).
- ``layer`` 11, ``heads`` (0, 2, 4, 5): the CLS token's attention to the patches in the last block,
  averaged over those heads, min-max normalised per image (``ViTExtractor.extract_saliency_maps``).
- ``threshold`` 0.065: a patch is foreground when its saliency is above it (``--thresh``).
- GrabCut as its cosegmentation refines a mask: the patch mask resized (nearest) to the load size, eroded
  by a 7x7 square (``erosion``) for sure foreground, its complement eroded alike for sure background, the
  rest probable foreground, 5 ``iterations``; a mask GrabCut cannot run on stays as it is.

Then the mask is resized to the image's native size (bilinear, > 127). Weights: the official
``dino_deitsmall8_pretrain.pth`` (facebookresearch/dino), found by the oracles' rules: ``--weights-dir``,
torch.hub's checkpoint folder (where ``torch.hub.load("facebookresearch/dino:main", "dino_vits8")``
keeps it), then a download when allowed. One model per process and device.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from masks.grabcut import run_grabcut, seeds_from_mask
from masks.refine import upsample_mask
from masks.runtime import ModelOptions, group_by_shape, torch_device

DINO_NAME = "dino_vits8"
DINO_FILE = "dino_deitsmall8_pretrain.pth"
DINO_URL = "https://dl.fbaipublicfiles.com/dino/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DinoSettings:
    load_size: int | None = 224  # shorter side fed to the ViT; None: the native size
    stride: int = 8  # patch grid step: 8, 4, 2 or 1 (denser, slower)
    layer: int = 11  # block whose attention is read (11: the last)
    heads: tuple[int, ...] = (0, 2, 4, 5)  # attention heads averaged
    threshold: float = 0.065  # on the min-max normalised saliency
    erosion: int = 7  # GrabCut seeds: erosion square of the patch mask and of its complement
    iterations: int = 5  # GrabCut iterations

    def __post_init__(self) -> None:
        if self.stride not in (1, 2, 4, 8):
            raise ValueError(f"stride must divide the patch size 8, got {self.stride}")
        if not 0 <= self.layer < 12:
            raise ValueError(f"layer must be 0..11, got {self.layer}")
        if not self.heads or any(not 0 <= h < 6 for h in self.heads):
            raise ValueError(f"heads must be a non-empty subset of 0..5, got {self.heads}")
        if self.load_size is not None and self.load_size < 8:
            raise ValueError(f"load_size must be at least 8, got {self.load_size}")


def weights_spec():
    """The checkpoint described as an oracle, so that ``oracles.weights`` finds it by the oracles' rules.
    DINO has no classes: the task and label-space fields are placeholders OracleSpec requires."""
    from oracles.registry import OracleSpec, classify

    return OracleSpec(name=DINO_NAME, task="cls", framework="torchvision", family="vit", builder="masks.vit:dino_vits8",
                      weights_id="dino_deitsmall8_pretrain", weights_file=DINO_FILE, url=DINO_URL,
                      licence="Apache-2.0", preprocess=classify(224, 224), label_space="imagenet-1k",
                      autocast_safe=False)


def dino_weights(options: ModelOptions) -> Path | None:
    """The checkpoint's path (None when ``untrained``); MissingWeightsError when absent and downloads are off."""
    if options.untrained:
        return None
    from oracles.weights import resolve_weights

    return resolve_weights([weights_spec()], options.weights_dir, options.allow_download)[DINO_NAME]


class DinoWeightsError(ValueError):
    """The file found for the DINO weights is not them (another checkpoint, a training snapshot, damage)."""


def read_state_dict(path: str | Path) -> dict:
    """The ViT-S/8 state dict in ``path`` (loaded with weights_only), checked against the architecture's keys
    and shapes; DinoWeightsError, in one line, when it is unreadable or another model's."""
    import torch

    from masks.vit import dino_vits8

    name = Path(path).name
    expected = f"expected the official {DINO_FILE} ({DINO_URL})"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling or I/O failure: the file is unusable, say why in one line
        raise DinoWeightsError(f"{name}: unreadable ({' '.join(str(exc).split())[:160]}); {expected}") from None
    with torch.device("meta"):  # shapes only: no memory, no random draws
        shapes = {key: tuple(value.shape) for key, value in dino_vits8().state_dict().items()}
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise DinoWeightsError(f"{name}: not a state dict; {expected}")
    missing = [key for key in shapes if key not in state]
    unexpected = [key for key in state if key not in shapes]
    wrong = [key for key in shapes if key in state and tuple(state[key].shape) != shapes[key]]
    if missing or unexpected or wrong:
        example = (missing + unexpected + wrong)[0]
        raise DinoWeightsError(f"{name}: not DINO ViT-S/8 backbone weights ({len(missing)} keys missing, "
                               f"{len(unexpected)} unexpected, {len(wrong)} of another shape, e.g. {example!r}); "
                               f"{expected}")
    return state


@lru_cache(maxsize=2)
def _load(path: str | None, device: str, stride: int):
    import torch

    from masks.vit import dino_vits8
    from oracles.runtime import prepare_model

    state = read_state_dict(path) if path is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(zlib.crc32(DINO_NAME.encode()))  # random weights, the same in every process
        model = dino_vits8(state, stride=stride)
    return prepare_model(model, torch_device(device))


def load_dino(settings: DinoSettings, options: ModelOptions):
    """The ViT-S/8 on the options' device, cached per process."""
    path = dino_weights(options)
    return _load(str(path) if path is not None else None, str(torch_device(options.device)), settings.stride)


def resize_for_vit(image: np.ndarray, load_size: int | None, patch: int = 8) -> np.ndarray:
    """The image with its shorter side at ``load_size`` (PIL Lanczos; longer side truncated as torchvision
    computes it), or at its native size when None; never below one patch."""
    height, width = image.shape[:2]
    short = max(load_size if load_size is not None else min(height, width), patch)
    if short == min(height, width):
        return image
    if height <= width:
        size = (int(short * width / height), short)
    else:
        size = (short, int(short * height / width))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def cls_saliency(attention, heads: Sequence[int]):
    """(B, patches) saliency in [0, 1] from attention weights (B, heads, tokens, tokens): the CLS row's
    attention to the patches averaged over ``heads``, min-max normalised per image (zeros when flat)."""
    cls = attention[:, list(heads), 0, 1:].mean(dim=1)
    low = cls.min(dim=1, keepdim=True).values
    span = cls.max(dim=1, keepdim=True).values - low
    return (cls - low) / span.where(span > 0, span.new_ones(()))


def patch_mask_to_image(patches: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean patch grid resized to ``shape`` (height, width) with PIL's nearest neighbour, as {0, 255}."""
    grid = Image.fromarray(np.where(patches, 255, 0).astype(np.uint8))
    return np.asarray(grid.resize((shape[1], shape[0]), Image.Resampling.NEAREST))


def refine_patch_mask(image: np.ndarray, patches: np.ndarray, settings: DinoSettings) -> np.ndarray:
    """The patch mask at ``image``'s size, refined by GrabCut from eroded seeds ({0, 255})."""
    coarse = patch_mask_to_image(patches, image.shape[:2])
    fg = run_grabcut(image, seeds_from_mask(coarse, settings.erosion), settings.iterations)
    return coarse if fg is None else fg.astype(np.uint8) * 255


def dino_saliency(images: Sequence[np.ndarray], settings: DinoSettings, options: ModelOptions):
    """Per image: (the resized image fed to the ViT, its saliency grid (rows, cols) in [0, 1])."""
    import torch

    from oracles.runtime import inference

    model = load_dino(settings, options)
    device = next(model.parameters()).device
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255.0
    inputs = [resize_for_vit(image, settings.load_size) for image in images]
    outputs: list = [None] * len(images)
    for batch in group_by_shape([x.shape for x in inputs], options.batch_size):
        x = torch.from_numpy(np.stack([inputs[i] for i in batch])).permute(0, 3, 1, 2).to(device)
        with inference(device):
            saliency = cls_saliency(model.attention((x.float() - mean) / std, settings.layer), settings.heads)
        rows, cols = model.grid(*x.shape[-2:])
        for row, index in enumerate(batch):
            outputs[index] = (inputs[index], saliency[row].float().cpu().numpy().reshape(rows, cols))
    return outputs


def dino_masks(images: Sequence[np.ndarray], settings: DinoSettings, options: ModelOptions) -> list[np.ndarray]:
    masks = []
    for image, (resized, saliency) in zip(images, dino_saliency(images, settings, options)):
        mask = refine_patch_mask(resized, saliency > settings.threshold, settings)
        masks.append(upsample_mask(mask, image.shape[:2]) if mask.shape != image.shape[:2] else mask)
    return masks
