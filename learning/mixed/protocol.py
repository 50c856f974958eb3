"""The MIMI authors' evaluation protocol: train on n random splits, report per dataset the median over the
splits of each figure (SRCC of the proxy, PLCC after the 4- and 5-parameter logistic fits), and their
average weighted by dataset size.

    summary = evaluate_splits(settings, n=10)       # runs out/split_0 ... out/split_9 (each resumable)
    summary.median["kadid10k"]["srcc"], summary.weighted["srcc"]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from learning.mixed.trainer import (
    FIGURES,
    MixedRun,
    MixedSettings,
    train_mixed,
    weighted_average,
)


@dataclass(frozen=True)
class SplitsSummary:
    runs: tuple[MixedRun, ...]
    median: dict[str, dict[str, float]]  # dataset -> figure: median over the splits (test)
    weighted: dict[str, float]  # figure: the medians averaged over datasets, weighted by size


def summarise(runs: list[MixedRun], sizes: dict[str, int], split: str = "test") -> tuple[dict, dict]:
    names = list(runs[0].metrics[split])
    median = {}
    for name in names:
        median[name] = {}
        for figure in FIGURES:
            values = [r.metrics[split][name][figure] for r in runs]
            finite = [v for v in values if not math.isnan(v)]
            median[name][figure] = float(np.median(finite)) if finite else math.nan
    return median, weighted_average(median, sizes)


def evaluate_splits(settings: MixedSettings, n: int = 10, first: int = 0) -> SplitsSummary:
    """Split indices first..first+n-1, each in ``<out>/split_<i>`` (a finished split is read back)."""
    from manifests.settings import write_json_atomic

    if n < 1:
        raise ValueError(f"need at least one split, got {n}")
    runs = []
    for index in range(first, first + n):
        run_settings = replace(settings, out=str(Path(settings.out) / f"split_{index}"),
                               split=replace(settings.split, index=index))
        runs.append(train_mixed(run_settings))
    sizes = json.loads((runs[0].out / "results.json").read_text())["sizes"]
    median, weighted = summarise(runs, sizes)
    write_json_atomic(Path(settings.out) / "summary.json",
                      {"splits": list(range(first, first + n)), "median": median, "weighted": weighted,
                       "sizes": sizes})
    return SplitsSummary(tuple(runs), median, weighted)
