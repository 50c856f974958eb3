"""The paper's tables 1 and 2 on this database: every HVS metric against each label type (consistency,
accuracy, composite) per task, with :func:`learning.correlation.agreement` (SRCC, KRCC, raw PLCC and RMSE, and
PLCC / RMSE after the 4- and 5-parameter logistic fits).

Sign: a metric whose lower values mean better quality (LPIPS, DISTS, GMSD: the metric registry says which) is
negated first, so a positive correlation always means the metric agrees with the machines, as in the paper's
tables. Metrics the registry does not know are taken as they come (and the table says so).

PSNR: the metrics stage's ``psnr`` table when present, else the PSNR the generation recorded per image (the
same formula on 8-bit images; an image identical to its source, infinite PSNR, counts as 80 dB, what piq's
psnr gives for identical images).
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from pipeline.report.paper import PAPER_TITLES, paper_figures
from pipeline.report.tables import LABEL_TYPES, Subset

IDENTICAL_PSNR = 80.0  # dB: 10 log10(1 / 1e-8), piq's psnr of identical images
ENGINE_PSNR = "psnr"
IN_PROCESS_POINTS = 300_000  # a subset with fewer pairs is measured in this process (workers cost more)
# The logistic fits see a fixed subsample of this many pairs (then map every pair). On some label sets the
# 5-parameter fit takes hundreds of iterations: measured 0.5-1.5 s at 20,000 pairs, 5-15 s at 200,000 (the
# library default), while PLCC and RMSE moved by about 3e-5.
FIT_POINTS = 20_000


@dataclass(frozen=True)
class Predictor:
    """One HVS metric as a predictor of the labels: its values aligned to the subset's image rows."""

    name: str
    title: str
    sign: float  # +1 as it comes, -1 negated (lower is better)
    direction: str  # "higher is better" | "lower is better" | "unknown"
    origin: str  # "metrics stage" | "images manifest"
    values: np.ndarray


def _direction(name: str) -> tuple[str, float, str]:
    """(title, sign, direction) from the metric registry; unknown metrics keep their sign."""
    import hvs

    try:
        spec = hvs.get(name)
    except ValueError:
        return PAPER_TITLES.get(name, name), 1.0, "unknown"
    return spec.title, (1.0 if spec.higher_is_better else -1.0), ("higher is better" if spec.higher_is_better
                                                                  else "lower is better")


def predictors(subset: Subset) -> list[Predictor]:
    """The subset's metric tables, plus PSNR from the images manifest when the metrics stage has none."""
    found = []
    for name, metric in subset.metrics.items():
        title, sign, direction = _direction(name)
        found.append(Predictor(name, title, sign, direction, "metrics stage", metric.values))
    if ENGINE_PSNR not in subset.metrics and subset.images.rows:
        psnr = np.where(np.isposinf(subset.images.psnr), IDENTICAL_PSNR, subset.images.psnr)
        found.append(Predictor(ENGINE_PSNR, "PSNR", 1.0, "higher is better", "images manifest", psnr))
    import hvs

    order = hvs.names()  # registry order; unregistered metrics last
    return sorted(found, key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))


def split_rows(subset: Subset, split: Iterable[str] | None) -> np.ndarray:
    """Image rows whose source is in ``split`` (every row when there is no split)."""
    if split is None:
        return np.ones(subset.images.rows, bool)
    wanted = set(split)
    in_split = np.array([s in wanted for s in subset.images.source_ids], bool)
    return in_split[subset.images.source] if len(in_split) else np.zeros(0, bool)


def _agreement(pair: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    from learning.correlation import agreement

    return agreement(*pair, max_fit_points=FIT_POINTS)


@dataclass
class Correlations:
    """The agreements of one subset: every (task, label type, metric), submitted to worker processes (or computed
    here) when made; :meth:`rows` waits for them."""

    subset: str
    keys: list[tuple[str, str, Predictor, bool]]
    results: list[Any]  # futures, or the figures themselves

    @classmethod
    def start(cls, subset: Subset, split: Iterable[str] | None, pool: Executor | None) -> "Correlations":
        rows = split_rows(subset, split)
        keys, results = [], []
        for task, labels in subset.labels.items():
            for label in LABEL_TYPES:
                target = labels.values[label]
                for predictor in predictors(subset):
                    keep = rows & np.isfinite(target) & np.isfinite(predictor.values)
                    pair = (predictor.sign * predictor.values[keep], target[keep])
                    keys.append((task, label, predictor, labels.untrained))
                    results.append(pool.submit(_agreement, pair) if pool is not None else _agreement(pair))
        return cls(subset.name, keys, results)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (task, label type, metric): our figures, and the paper's for that cell where it has them."""
        table = []
        for (task, label, predictor, untrained), result in zip(self.keys, self.results):
            figures = result.result() if isinstance(result, Future) else result
            table.append({"subset": self.subset, "task": task, "label": label, "metric": predictor.name,
                          "title": predictor.title, "direction": predictor.direction, "negated": predictor.sign < 0,
                          "origin": predictor.origin, "untrained_labels": untrained,
                          **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in figures.items()},
                          "paper": paper_figures(task, label, predictor.name)})
        return table


def pair_count(subset: Subset, split: Iterable[str] | None) -> int:
    """How many (metric, label) pairs the subset's agreements hold at most: decides whether workers pay off."""
    return int(split_rows(subset, split).sum()) * len(subset.labels) * len(LABEL_TYPES) * len(predictors(subset))


class AgreementPool:
    """Worker processes for the agreements, started the first time a subset has enough pairs to pay for them
    (small databases are measured in this process)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def executor(self, pairs: int) -> Executor | None:
        if self._pool is None and self.workers > 1 and pairs >= IN_PROCESS_POINTS:
            context = multiprocessing.get_context("spawn")  # no fork of a process holding Arrow's threads
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def __enter__(self) -> "AgreementPool":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

