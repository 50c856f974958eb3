"""Every value of a training run, in one frozen :class:`TrainSettings`: defaults <- YAML config <- command line.

The defaults are the release's protocol (SYSU-Video/MIQA's training code and the paper): MSE loss; AdamW,
lr 1e-4, weight decay 1e-4 (not on biases and norms), betas (0.9, 0.999); 1 warm-up epoch from 5e-6, then
a cosine to 1e-8; batch 256; 5 epochs; Resize(288) + RandomCrop(224) for training, Resize(288) +
CenterCrop(224) for testing; validation twice per epoch; seed 1234567.

The settings that decide the result make the run's fingerprint: a run folder records them, refuses other
ones, and (unless ``run_dir`` is given) is named after them, so the same command finds its run again.
Execution details (device, workers, threads, checkpoint frequency, where the weights are) are not part of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from learning.data.table import AGGREGATIONS, FORMATS, LABELS, SUBSETS

LOSSES = ("mse", "l1", "smooth_l1")
AMP_MODES = ("auto", "bf16", "fp16", "off")
EXECUTION = ("device", "workers", "threads", "checkpoint_every", "run_dir", "weights_dir", "offline", "progress")


class SettingsError(ValueError):
    """A setting with a wrong name, type or value."""


@dataclass(frozen=True)
class TrainSettings:
    db: str
    # data
    subset: str = "cls"
    label: str = "composite"
    aggregation: str = "weighted"
    format: str = "auto"
    train_split: str | None = None  # the release's split files; without them a hash split by source
    test_split: str | None = None
    test_fraction: float = 0.2
    val_fraction: float = 0.0  # 0: validate on the test sources, as the release does
    split_salt: str = "miqd"
    limit_sources: int | None = None
    # model
    model: str = "resnet50"
    pretrained: bool = True
    region_encoder: str = "sere_vit_small"
    region_weights: str | None = None
    # views
    resize: int = 288
    crop: int = 224
    square_resize: bool = False
    region_size: int = 288
    # optimisation
    loss: str = "mse"
    epochs: int = 5
    batch_size: int = 256
    lr: float = 1e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_epochs: float = 1.0
    warmup_lr: float = 5e-6
    min_lr: float = 1e-8
    validations_per_epoch: int = 2
    seed: int = 1234567
    amp: str = "auto"  # CUDA only: bf16 where supported, else fp16
    # execution
    device: str | None = None
    workers: int | None = None  # image decoding processes; None: one per core, at most 8
    threads: int | None = None
    checkpoint_every: int = 0  # steps between extra "last" checkpoints (0: only at validations)
    run_dir: str | None = None
    weights_dir: str | None = None
    offline: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        choices = {"subset": SUBSETS, "label": LABELS, "aggregation": AGGREGATIONS, "format": FORMATS,
                   "loss": LOSSES, "amp": AMP_MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        positive = ("resize", "crop", "region_size", "epochs", "batch_size", "validations_per_epoch")
        for name in positive:
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.crop > self.resize:
            raise SettingsError(f"crop ({self.crop}) cannot exceed resize ({self.resize})")
        if (self.train_split is None) != (self.test_split is None):
            raise SettingsError("give both train_split and test_split, or neither (hash split)")
        if self.limit_sources is not None and self.limit_sources < 2:
            raise SettingsError("limit_sources must be at least 2 (one train and one test source)")
        if (self.workers or 0) < 0 or self.checkpoint_every < 0 or self.warmup_epochs < 0:
            raise SettingsError("workers, checkpoint_every and warmup_epochs cannot be negative")
        if not (self.lr > 0 and self.min_lr >= 0 and self.warmup_lr >= 0 and self.weight_decay >= 0):
            raise SettingsError("learning rates and weight decay must be non-negative (lr positive)")

    def fingerprint(self) -> dict[str, Any]:
        """The settings that decide the result, as plain JSON values (paths resolved)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in EXECUTION:
                continue
            value = getattr(self, f.name)
            if f.name in ("db", "train_split", "test_split", "region_weights") and value is not None:
                value = str(Path(value).resolve())
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def digest(self) -> str:
        text = json.dumps(self.fingerprint(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def resolved_run_dir(self) -> Path:
        """``run_dir``, else ``runs/<subset>-<label>-<model>-<digest>`` under the current folder."""
        if self.run_dir:
            return Path(self.run_dir)
        return Path("runs") / f"{self.subset}-{self.label}-{self.model}-{self.digest()}"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


_HINTS = typing.get_type_hints(TrainSettings)
FIELDS = tuple(f.name for f in dataclasses.fields(TrainSettings))


def _coerce(name: str, value: Any) -> Any:
    """A YAML or command-line value as the field's type (one clear error otherwise)."""
    hint = _HINTS[name]
    optional = type(None) in typing.get_args(hint)
    if value is None:
        if optional:
            return None
        raise SettingsError(f"{name} cannot be empty")
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if optional else hint
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "on"):
                return True
            if str(value).lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if typing.get_origin(base) is tuple:
            items = tuple(float(v) for v in value)
            if len(items) != 2:
                raise ValueError
            return items
        if base is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return base(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}: {value!r} is not a valid {getattr(base, '__name__', base)}") from None


def read_config(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) mapping of setting names to values."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SettingsError(f"cannot read config {path}: {error.strerror or error}") from None
    try:
        import yaml
    except ImportError:
        raise SettingsError("reading a YAML config needs PyYAML: pip install pyyaml") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of setting names to values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def make_settings(overrides: Mapping[str, Any], config: str | Path | None = None) -> TrainSettings:
    """Defaults <- the config file's values <- ``overrides`` (e.g. the command-line flags given)."""
    values: dict[str, Any] = {}
    for source in (read_config(config) if config else {}, overrides):
        unknown = sorted(set(source) - set(FIELDS))
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
        values.update({name: _coerce(name, value) for name, value in source.items()})
    if "db" not in values:
        raise SettingsError("no database: give --db (or db: in the config)")
    return TrainSettings(**values)


def settings_from_dict(data: Mapping[str, Any]) -> TrainSettings:
    """Settings as recorded by :meth:`TrainSettings.to_dict` (in a run folder or a checkpoint)."""
    return make_settings({k: v for k, v in data.items() if k in FIELDS})
