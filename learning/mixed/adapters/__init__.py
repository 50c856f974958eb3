"""Datasets to mix, each read by a small adapter registered under a stable name.

    spec = DatasetSpec.parse("kadid10k=/data/kadid10k")   # name=[adapter@]root[:label]
    spec = DatasetSpec.parse("cls=out:composite")         # an MIQD database, its cls composite labels
    dataset = load_dataset(spec)                           # files, scores (higher = better), groups
    names()                                                # every adapter

An adapter reads a dataset's own published files (and nothing else), orients the annotations so that
higher is better, names the group a split must not cut, and leaves the images where they are.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from learning.mixed.annotations import AnnotatedSet, DatasetError


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a mix: ``name`` (unique in the mix), the ``adapter`` that reads it, its ``root``
    (folder or file), an optional ``label`` (which annotation, for adapters that have several), adapter
    ``options`` as (key, value) pairs, its loss ``weight`` and its ``batch_size`` (None: the mix's)."""

    name: str
    adapter: str
    root: str
    label: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    weight: float = 1.0
    batch_size: int | None = None

    @classmethod
    def parse(cls, text: str, **fields) -> "DatasetSpec":
        """``name=[adapter@]root[:label]``; the adapter defaults to the name (``kadid10k=/data/kadid10k``)."""
        name, sep, rest = text.partition("=")
        if not sep or not name or not rest:
            raise DatasetError(f"cannot read dataset {text!r}: write name=[adapter@]root[:label], e.g. "
                               "cls=out:composite or mine=csv@scores.csv")
        adapter, at, rest = rest.partition("@")
        if not at:
            adapter, rest = name, adapter
        root, colon, label = rest.rpartition(":")
        if not colon or "/" in label or "\\" in label or not root:
            root, label = rest, ""
        return cls(name=name, adapter=adapter, root=root, label=label or None, **fields)

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    def flag(self, key: str) -> bool:
        value = (self.option(key) or "").lower()
        if value not in ("", "0", "1", "false", "true", "no", "yes"):
            raise DatasetError(f"{self.name}: option {key}={value!r} must be true or false")
        return value in ("1", "true", "yes")


@dataclass(frozen=True)
class Adapter:
    name: str
    description: str
    load: Callable[[DatasetSpec], AnnotatedSet]
    labels: tuple[str, ...] = ()  # accepted labels, the default first; empty: takes no label


_REGISTRY: dict[str, Adapter] = {}
_BUILTIN = ("learning.mixed.adapters.miqd", "learning.mixed.adapters.synthetic",
            "learning.mixed.adapters.authentic", "learning.mixed.adapters.generic")  # fmt: skip


def register(name: str, description: str, labels: tuple[str, ...] = ()):
    def decorate(load: Callable[[DatasetSpec], AnnotatedSet]) -> Callable[[DatasetSpec], AnnotatedSet]:
        if name in _REGISTRY:
            raise ValueError(f"dataset adapter {name!r} is registered twice")
        _REGISTRY[name] = Adapter(name, description, load, labels)
        return load

    return decorate


def _ensure_loaded() -> None:
    for module in _BUILTIN:
        importlib.import_module(module)


def get(name: str) -> Adapter:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset adapter {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def names() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def load_dataset(spec: DatasetSpec) -> AnnotatedSet:
    """Read ``spec`` with its adapter; every listed image must exist."""
    adapter = get(spec.adapter)
    if spec.label is not None and spec.label not in adapter.labels:
        known = ", ".join(adapter.labels) if adapter.labels else "none"
        raise DatasetError(f"{spec.name}: adapter {adapter.name} has no label {spec.label!r}; labels: {known}")
    if not Path(spec.root).exists():
        raise DatasetError(f"{spec.name}: {spec.root} does not exist; give the dataset's folder (or file)")
    dataset = adapter.load(spec)
    missing = [f for f, p in zip(dataset.files, dataset.paths()) if not p.is_file()]
    if missing:
        raise DatasetError(f"{spec.name}: {len(missing)} of {len(dataset)} images listed are missing under "
                           f"{dataset.root} (first: {missing[0]}); check the dataset's root folder")
    return dataset
