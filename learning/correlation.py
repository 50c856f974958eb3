"""How well a predicted quality agrees with a reference: SRCC, KRCC, PLCC and RMSE, raw or after the
VQEG logistic mappings that IQA papers apply before PLCC and RMSE.

    from learning.correlation import agreement
    agreement(predicted, labels)   # {"srcc": ..., "krcc": ..., "plcc": ..., "plcc_l4": ..., "rmse_l5": ..., ...}

The two mappings fitted from the prediction x to the label y (least squares, scipy's curve_fit):

- ``logistic4``: y = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2  (VQEG; what Python IQA code uses)
- ``logistic5``: y = b1 (1/2 - 1 / (1 + exp(b2 (x - b3)))) + b4 x + b5  (the 5-parameter form of
  MATLAB IQA evaluation code)

Rank correlations never depend on a mapping. Pairs with a non-finite value are left out; fewer than three
pairs, or a constant side, give NaN. A fit that does not converge falls back to the linear least-squares
fit, and says so in ``fit_failed``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize, special, stats

FITS = ("logistic4", "logistic5")
MAX_FIT_POINTS = 200_000  # larger sets are fitted on a fixed subsample, then mapped whole
# Least squares stops when the sum of squares or the parameters change by less than this, relatively:
# PLCC and RMSE after the fit then move by less than 1e-4, while the 5-parameter fits, which are often nearly
# linear (b1 and b4 trade off), take some 10 times fewer iterations than at scipy's default 1.5e-8.
FIT_TOLERANCE = 1e-6


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    return (b1 - b2) / (1.0 + np.exp(np.clip(-(x - b3) / (abs(b4) + 1e-12), -500, 500))) + b2


def logistic5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(np.clip(b2 * (x - b3), -500, 500)))) + b4 * x + b5


def logistic4_jacobian(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """d logistic4 / d (b1, b2, b3, b4), one column each: analytic, so the fit needs far fewer evaluations."""
    scale = abs(b4) + 1e-12
    sigma = special.expit(np.clip((x - b3) / scale, -500, 500))
    slope = (b1 - b2) * sigma * (1.0 - sigma)
    return np.stack([sigma, 1.0 - sigma, -slope / scale, -slope * (x - b3) / scale ** 2 * np.sign(b4)], axis=1)


def logistic5_jacobian(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """d logistic5 / d (b1, ..., b5), one column each."""
    tau = special.expit(-np.clip(b2 * (x - b3), -500, 500))
    slope = b1 * tau * (1.0 - tau)
    return np.stack([0.5 - tau, slope * (x - b3), -slope * b2, x, np.ones_like(x)], axis=1)


def _initial(kind: str, x: np.ndarray, y: np.ndarray) -> list[float]:
    spread = float(np.std(x)) or 1.0
    if kind == "logistic4":
        increasing = np.corrcoef(x, y)[0, 1] >= 0
        top, bottom = float(np.max(y)), float(np.min(y))
        return [top, bottom, float(np.mean(x)), spread / 4] if increasing else [bottom, top, float(np.mean(x)),
                                                                                 spread / 4]
    sign = 1.0 if np.corrcoef(x, y)[0, 1] >= 0 else -1.0
    return [sign * float(np.ptp(y) or 1.0), 1.0 / spread, float(np.mean(x)), 0.0, float(np.mean(y))]


@dataclass(frozen=True)
class Fit:
    kind: str
    params: tuple[float, ...]
    failed: bool  # curve_fit did not converge: the linear fit was used instead

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.failed:
            slope, intercept = self.params
            return slope * x + intercept
        function: Callable[..., np.ndarray] = logistic4 if self.kind == "logistic4" else logistic5
        return function(x, *self.params)


def fit_mapping(x: np.ndarray, y: np.ndarray, kind: str = "logistic4", max_points: int = MAX_FIT_POINTS) -> Fit:
    """The ``kind`` mapping from x to y by least squares (a fixed subsample of ``max_points`` when larger)."""
    if kind not in FITS:
        raise ValueError(f"unknown fit {kind!r}; known: {', '.join(FITS)}")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) > max_points:
        keep = np.random.default_rng(0).choice(len(x), max_points, replace=False)
        x, y = x[keep], y[keep]
    function, jacobian = (logistic4, logistic4_jacobian) if kind == "logistic4" else (logistic5, logistic5_jacobian)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = optimize.curve_fit(function, x, y, p0=_initial(kind, x, y), jac=jacobian,
                                           ftol=FIT_TOLERANCE, xtol=FIT_TOLERANCE, maxfev=20000)
        if np.all(np.isfinite(params)):
            return Fit(kind, tuple(float(p) for p in params), False)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        pass
    slope, intercept = np.polyfit(x, y, 1)
    return Fit(kind, (float(slope), float(intercept)), True)


def _finite_pairs(predicted, target) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(predicted, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{x.size} predictions for {y.size} labels")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _degenerate(x: np.ndarray, y: np.ndarray) -> bool:
    return len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0


def srcc(predicted, target) -> float:
    x, y = _finite_pairs(predicted, target)
    return math.nan if _degenerate(x, y) else float(stats.spearmanr(x, y).statistic)


def krcc(predicted, target) -> float:
    """Kendall's tau-b (ties counted as scipy does)."""
    x, y = _finite_pairs(predicted, target)
    return math.nan if _degenerate(x, y) else float(stats.kendalltau(x, y).statistic)


def plcc(predicted, target, fit: str | None = None) -> float:
    """Pearson's r of the prediction (mapped by ``fit``: None, logistic4 or logistic5) with the target."""
    x, y = _finite_pairs(predicted, target)
    if _degenerate(x, y):
        return math.nan
    mapped = x if fit is None else fit_mapping(x, y, fit)(x)
    return math.nan if np.ptp(mapped) == 0 else float(stats.pearsonr(mapped, y).statistic)


def rmse(predicted, target, fit: str | None = None) -> float:
    x, y = _finite_pairs(predicted, target)
    if len(x) == 0:
        return math.nan
    mapped = x if fit is None or _degenerate(x, y) else fit_mapping(x, y, fit)(x)
    return float(np.sqrt(np.mean((mapped - y) ** 2)))


def agreement(predicted, target, fits: tuple[str, ...] = FITS,
              max_fit_points: int = MAX_FIT_POINTS) -> dict[str, float | int | bool]:
    """Every figure at once (each fit done once): n, srcc, krcc, plcc and rmse raw, then plcc_<f> and
    rmse_<f> and fit_failed_<f> for each fit (suffixes l4 and l5); fits use at most ``max_fit_points``."""
    x, y = _finite_pairs(predicted, target)
    out: dict[str, float | int | bool] = {"n": int(len(x))}
    if _degenerate(x, y):
        out.update(srcc=math.nan, krcc=math.nan, plcc=math.nan,
                   rmse=float(np.sqrt(np.mean((x - y) ** 2))) if len(x) else math.nan)
        for kind in fits:
            suffix = _suffix(kind)
            out.update({f"plcc_{suffix}": math.nan, f"rmse_{suffix}": math.nan, f"fit_failed_{suffix}": False})
        return out
    out.update(srcc=float(stats.spearmanr(x, y).statistic), krcc=float(stats.kendalltau(x, y).statistic),
               plcc=float(stats.pearsonr(x, y).statistic), rmse=float(np.sqrt(np.mean((x - y) ** 2))))
    for kind in fits:
        mapping = fit_mapping(x, y, kind, max_fit_points)
        mapped = mapping(x)
        suffix = _suffix(kind)
        out[f"plcc_{suffix}"] = math.nan if np.ptp(mapped) == 0 else float(stats.pearsonr(mapped, y).statistic)
        out[f"rmse_{suffix}"] = float(np.sqrt(np.mean((mapped - y) ** 2)))
        out[f"fit_failed_{suffix}"] = mapping.failed
    return out


def _suffix(kind: str) -> str:
    return {"logistic4": "l4", "logistic5": "l5"}[kind]
