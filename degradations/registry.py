"""Registry of distortion functions keyed by stable names.

A distortion is a pure function ``apply(image, params, rng, **options) -> image`` on RGB uint8 arrays,
registered with its category and its table of candidate parameters (mild to severe). Adding one is one
module under ``degradations/distortions/`` that calls :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from degradations.imaging import check_rgb8

CATEGORIES = ("digital", "blur", "environmental", "noise")

# The ten types of MIQD-2.5M, in the order of the release's constants.
DATABASE_DISTORTIONS = (
    "gaussian_noise",
    "glass_blur",
    "motion_blur",
    "defocus_blur",
    "contrast",
    "pixelate",
    "jpeg_compression",
    "darkness",
    "snow",
    "fog",
)

Params = tuple[float, ...]
ApplyFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Distortion:
    """One registered distortion type."""

    name: str
    category: str
    param_names: tuple[str, ...]
    candidates: tuple[Params, ...]
    function: ApplyFn
    # option name -> allowed values; the first value is the default.
    options: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def __call__(
        self, image: np.ndarray, params: Params, rng: np.random.Generator, **options: Any
    ) -> np.ndarray:
        """Apply the distortion with one parameter tuple; checks input, options and output."""
        check_rgb8(image)
        for key, value in options.items():
            allowed = self.options.get(key)
            if allowed is None:
                raise ValueError(f"{self.name}: unknown option {key!r}; known: {sorted(self.options)}")
            if value not in allowed:
                raise ValueError(f"{self.name}: option {key}={value!r} not in {allowed}")
        if len(params) != len(self.param_names):
            raise ValueError(f"{self.name}: expected parameters {self.param_names}, got {params!r}")
        out = self.function(image, tuple(params), rng, **options)
        if out.shape != image.shape or out.dtype != np.uint8:
            raise AssertionError(f"{self.name} returned {out.dtype}{out.shape} for uint8{image.shape}")
        return out

    def default_options(self) -> dict[str, Any]:
        return {key: values[0] for key, values in self.options.items()}

    @property
    def in_database(self) -> bool:
        return self.name in DATABASE_DISTORTIONS


_REGISTRY: dict[str, Distortion] = {}


def register(
    name: str,
    *,
    category: str,
    param_names: tuple[str, ...],
    candidates: tuple[Params, ...] | list,
    options: Mapping[str, tuple[Any, ...]] | None = None,
) -> Callable[[ApplyFn], ApplyFn]:
    """Decorator: register ``function`` as distortion ``name`` with its candidate table."""
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r} not in {CATEGORIES}")
    table = tuple(tuple(float(v) for v in np.atleast_1d(c)) for c in candidates)
    if any(len(c) != len(param_names) for c in table):
        raise ValueError(f"{name}: every candidate needs {len(param_names)} values {param_names}")

    def decorate(function: ApplyFn) -> ApplyFn:
        if name in _REGISTRY:
            raise ValueError(f"distortion {name!r} registered twice")
        _REGISTRY[name] = Distortion(name, category, param_names, table, function, dict(options or {}))
        return function

    return decorate


def _load_builtin() -> None:
    package = importlib.import_module("degradations.distortions")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def get(name: str) -> Distortion:
    """The registered distortion ``name``; a clear error lists the known names."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown distortion {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names(database_only: bool = False) -> list[str]:
    """Registered names: the database's ten in release order, then the extras sorted."""
    _ensure_loaded()
    extras = sorted(n for n in _REGISTRY if n not in DATABASE_DISTORTIONS)
    database = [n for n in DATABASE_DISTORTIONS if n in _REGISTRY]
    return database if database_only else database + extras


_loaded = False


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        _load_builtin()


def select(text: str) -> tuple[str, ...]:
    """Comma-separated names and groups ('database': the ten, 'all': every registered type), checked;
    order kept, repeats dropped: ``database,spatter`` is the ten and spatter."""
    groups = {"database": names(database_only=True), "all": names()}
    chosen: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        for name in groups.get(item, [item] if item else []):
            get(name)
            if name not in chosen:
                chosen.append(name)
    if not chosen:
        raise ValueError("no distortion selected")
    return tuple(chosen)


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``["motion_blur.backend=wand"]`` -> ``{"motion_blur": {"backend": "wand"}}``, checked."""
    options: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name, dot, option = key.partition(".")
        if not (sep and dot and name and option):
            raise ValueError(f"options take TYPE.OPTION=VALUE, got {pair!r}")
        allowed = get(name).options
        if option not in allowed or value not in allowed[option]:
            raise ValueError(f"{name} has options {dict(allowed)}, got {option}={value}")
        options.setdefault(name, {})[option] = value
    return options
