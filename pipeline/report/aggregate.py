"""The report's figures as pure functions of aligned arrays: label distributions, means per cell (distortion,
ROI level, background level) and what follows from them (region pattern x severity, the level grid, mirrored
ROI-DD / BG-DD pairs), per-oracle robustness curves.

Severity of an image: its level for uniform (UD) images; for ROI-DD and BG-DD images, the stronger of its two
levels (the dominant degradation), so ROI-DD and BG-DD curves start at severity 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.report.tables import CELLS, LEVELS

REGIONS = ("UD", "ROI-DD", "BG-DD")
ROI_LEVEL = np.repeat(np.arange(1, LEVELS + 1), LEVELS)  # of each cell
BG_LEVEL = np.tile(np.arange(1, LEVELS + 1), LEVELS)
CELL_REGION = np.where(ROI_LEVEL == BG_LEVEL, 0, np.where(ROI_LEVEL > BG_LEVEL, 1, 2))
CELL_SEVERITY = np.maximum(ROI_LEVEL, BG_LEVEL)
UD_CELLS = np.flatnonzero(CELL_REGION == 0)  # levels 1..5 in order
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def cell_of(roi_level: int, bg_level: int) -> int:
    return (roi_level - 1) * LEVELS + (bg_level - 1)


def _mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def distribution(values: np.ndarray, bins: int = 20) -> dict[str, Any]:
    """Count, undefined (NaN) count, mean, std, quantiles and a histogram on [0, 1] of one label."""
    finite = values[np.isfinite(values)]
    histogram, edges = np.histogram(finite, bins=bins, range=(0.0, 1.0))
    summary: dict[str, Any] = {"n": int(finite.size), "undefined": int(values.size - finite.size),
                               "histogram": histogram.tolist(), "edges": edges.tolist()}
    if finite.size:
        summary.update(mean=float(finite.mean()), std=float(finite.std()),
                       quantiles={str(q): float(v) for q, v in zip(QUANTILES, np.quantile(finite, QUANTILES))})
    return summary


@dataclass(frozen=True)
class Cells:
    """Sums and counts of one label per (distortion, cell): arrays of shape (distortions, 25)."""

    distortions: tuple[str, ...]
    sums: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, distortion: np.ndarray, cell: np.ndarray, distortions: list[str]) -> "Cells":
        finite = np.isfinite(values)
        key = distortion[finite] * CELLS + cell[finite]
        size = len(distortions) * CELLS
        sums = np.bincount(key, values[finite], minlength=size).reshape(len(distortions), CELLS)
        counts = np.bincount(key, minlength=size).reshape(len(distortions), CELLS)
        return cls(tuple(distortions), sums, counts)

    @property
    def means(self) -> np.ndarray:
        return _mean(self.sums, self.counts)

    def region_severity(self) -> dict[str, np.ndarray]:
        """Region pattern -> (distortions, 5) means by severity (NaN where a pattern has no such severity)."""
        out = {}
        for code, region in enumerate(REGIONS):
            sums = np.zeros((len(self.distortions), LEVELS))
            counts = np.zeros((len(self.distortions), LEVELS))
            for cell in np.flatnonzero(CELL_REGION == code):
                sums[:, CELL_SEVERITY[cell] - 1] += self.sums[:, cell]
                counts[:, CELL_SEVERITY[cell] - 1] += self.counts[:, cell]
            out[region] = _mean(sums, counts)
        return out

    def overall_region_severity(self) -> dict[str, np.ndarray]:
        """As :meth:`region_severity`, over all distortions together: region -> (5,) means."""
        pooled = Cells(("all",), self.sums.sum(axis=0, keepdims=True), self.counts.sum(axis=0, keepdims=True))
        return {region: row[0] for region, row in pooled.region_severity().items()}

    def grid(self) -> np.ndarray:
        """(ROI level, background level) -> mean over all distortions, shape (5, 5), rows = ROI level."""
        return _mean(self.sums.sum(axis=0), self.counts.sum(axis=0)).reshape(LEVELS, LEVELS)

    def mirrored_pairs(self) -> list[dict[str, Any]]:
        """For each distortion (and all together) and each ROI-DD pair (r, b), r > b: the ROI-DD mean at
        (r, b) beside the BG-DD mean at the mirrored pair (b, r)."""
        rows = []
        names = [*self.distortions, "all"]
        means = np.vstack([self.means, _mean(self.sums.sum(axis=0), self.counts.sum(axis=0))[None]])
        for name, row in zip(names, means):
            for roi in range(2, LEVELS + 1):
                for bg in range(1, roi):
                    roi_dd, bg_dd = row[cell_of(roi, bg)], row[cell_of(bg, roi)]
                    rows.append({"distortion": name, "stronger": roi, "weaker": bg, "roi_dd": float(roi_dd),
                                 "bg_dd": float(bg_dd), "bg_minus_roi": float(bg_dd - roi_dd)})
        return rows


def mirrored_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the per-distortion mirrored pairs: how many have both means, in how many BG-DD is higher (the
    machines did better with the background degraded), and the mean difference."""
    pairs = [r for r in rows if r["distortion"] != "all" and np.isfinite(r["bg_minus_roi"])]
    differences = np.array([r["bg_minus_roi"] for r in pairs])
    return {"pairs": len(pairs), "bg_dd_higher": int((differences > 0).sum()), "equal": int((differences == 0).sum()),
            "mean_bg_minus_roi": float(differences.mean()) if len(pairs) else float("nan")}


def robustness(means: np.ndarray) -> np.ndarray:
    """Per-oracle means (oracles, distortions, 25 cells) -> (oracles, distortions, 5): the uniform images of
    each severity."""
    return means[:, :, UD_CELLS]


def subsample(mask: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """At most ``count`` row indices where ``mask`` holds, drawn once from a fixed seed (sorted)."""
    rows = np.flatnonzero(mask)
    if len(rows) <= count:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, count, replace=False))
