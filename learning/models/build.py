"""Building a registered model, pretrained (files resolved first, all missing ones reported at once) or with
random weights (to load a checkpoint into, or for plumbing runs)."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from learning.models.registry import REGION_ENCODERS, SERE_URL, ModelSpec, ModelUnavailable, get
from oracles.registry import OracleSpec


class RegionWeightsMissing(FileNotFoundError):
    """RA-MIQA's paper region encoder has no download rule: its file is given by path."""


@dataclass(frozen=True)
class ModelConfig:
    """What fixes a model's architecture (and so is stored with its checkpoints)."""

    name: str
    crop: int = 224  # main view size: ViTs size their position grid from it
    region_encoder: str = "sere_vit_small"  # RA-MIQA only
    region_size: int = 288  # RA-MIQA's region view

    @property
    def spec(self) -> ModelSpec:
        return get(self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return cls(**data)


def required_files(config: ModelConfig) -> list[OracleSpec]:
    """The pretrained files a build needs that the weights rules can find (region weights by path aside)."""
    files = list(config.spec.weights)
    if config.spec.region_view and REGION_ENCODERS[config.region_encoder].weights is not None:
        files.append(REGION_ENCODERS[config.region_encoder].weights)
    return files


def check_config(config: ModelConfig) -> None:
    """Unknown names and missing optional packages, before anything is built (KeyError / ModelUnavailable)."""
    spec = config.spec
    if spec.region_view and config.region_encoder not in REGION_ENCODERS:
        raise KeyError(f"unknown region encoder {config.region_encoder!r}; known: {', '.join(REGION_ENCODERS)}")
    if spec.requires and importlib.util.find_spec(spec.requires) is None:
        raise ModelUnavailable(f"model {spec.name} needs the package {spec.requires}: pip install {spec.requires}")


SERE_FILE = "sere_finetuned_vit_small_ep100.pth"


def _sere_file(region_weights: str | Path | None, weights_dir: str | Path | None) -> Path | None:
    """The paper's region encoder weights: the path given, else its file in the weights dir."""
    if region_weights is not None:
        path = Path(region_weights)
        if not path.is_file():
            raise RegionWeightsMissing(f"region encoder weights not found: {path}")
        return path
    candidate = Path(weights_dir) / SERE_FILE if weights_dir is not None else None
    return candidate if candidate is not None and candidate.is_file() else None


def pretrained_files(config: ModelConfig, weights_dir: str | Path | None = None, allow_download: bool = False,
                     region_weights: str | Path | None = None) -> tuple[dict[str, Path], Path | None]:
    """(backbone files by name, region encoder file) of a pretrained build, downloading what is allowed.

    Backbone files follow the oracles' weights rules; RA-MIQA's ``sere_vit_small`` region encoder comes from
    ``region_weights``, else ``sere_finetuned_vit_small_ep100.pth`` in ``weights_dir``. Every missing file is
    listed in one MissingWeightsError.
    """
    from oracles.weights import MissingFile, MissingWeightsError, resolve_weights

    check_config(config)
    encoder_spec = REGION_ENCODERS[config.region_encoder] if config.spec.region_view else None
    encoder_file, missing = None, []
    if encoder_spec is not None and encoder_spec.weights is None:
        encoder_file = _sere_file(region_weights, weights_dir)
        if encoder_file is None:
            expected = Path(weights_dir) / SERE_FILE if weights_dir is not None else Path("--region-weights PATH")
            missing.append(MissingFile(f"ra_miqa region encoder {config.region_encoder}", SERE_FILE, SERE_URL,
                                       expected, "or --region-encoder efficientnet_lite0, offline"))
    files: dict[str, Path] = {}
    try:
        files = resolve_weights(required_files(config), weights_dir, allow_download)
    except MissingWeightsError as error:
        missing = error.missing + missing
    if missing:
        raise MissingWeightsError(missing)
    if encoder_spec is not None and encoder_spec.weights is not None:
        encoder_file = files[encoder_spec.weights.name]
    return files, encoder_file


def build_model(config: ModelConfig, pretrained: bool = True, weights_dir: str | Path | None = None,
                allow_download: bool = False, region_weights: str | Path | None = None):
    """The model of ``config``: uint8 views in (``model.inputs`` names them), a score per image out; from the
    :func:`pretrained_files` when ``pretrained``, else random weights."""
    check_config(config)
    spec = config.spec
    files, encoder_file = pretrained_files(config, weights_dir, allow_download, region_weights) if pretrained \
        else (None, None)
    module, _, function = spec.builder.partition(":")
    builder = getattr(importlib.import_module(module), function)
    if not spec.region_view:
        return builder(spec, files, config.crop)
    from learning.models.ra_miqa import region_encoder

    encoder = region_encoder(config.region_encoder, config.region_size, encoder_file)
    return builder(spec, files, config.crop, encoder)
