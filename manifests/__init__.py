"""Parquet manifests: declared schemas, shard parts published atomically, run settings.

Names are loaded on first use: importing a light submodule (``manifests.settings``, ``manifests.atomic``)
does not import pyarrow, which keeps every command's ``--help`` and argument checks fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CANDIDATES": "manifests.schemas",
    "IMAGES": "manifests.schemas",
    "SOURCES": "manifests.schemas",
    "TABLE_SCHEMAS": "manifests.schemas",
    "SettingsMismatch": "manifests.settings",
    "check_settings": "manifests.settings",
    "ShardStore": "manifests.store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
