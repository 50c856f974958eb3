"""Learning one quality model from several datasets whose scales disagree: MIMI (a shared regressor, per
dataset a monotone map and a monotonic invertible network) and the baselines it is compared with.

    from learning.mixed import DatasetSpec, MixedSettings, train_mixed, evaluate_splits

Names are loaded on first use, so that reading dataset specs (``learning.mixed.adapters``) stays free of
torch, for fast command-line validation.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AnnotatedSet": "learning.mixed.annotations",
    "DatasetError": "learning.mixed.annotations",
    "DatasetSpec": "learning.mixed.adapters",
    "InputSettings": "learning.mixed.inputs",
    "LossSettings": "learning.mixed.methods",
    "MinnSettings": "learning.mixed.methods",
    "MixedRun": "learning.mixed.trainer",
    "MixedSettings": "learning.mixed.trainer",
    "OptimSettings": "learning.mixed.trainer",
    "RegressorSettings": "learning.mixed.regressors",
    "SplitSettings": "learning.mixed.data",
    "SplitsSummary": "learning.mixed.protocol",
    "evaluate_splits": "learning.mixed.protocol",
    "load_dataset": "learning.mixed.adapters",
    "train_mixed": "learning.mixed.trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
