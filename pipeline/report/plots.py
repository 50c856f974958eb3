"""The report's plots (matplotlib, Agg canvas, no pyplot state): each function draws one figure and returns
its PNG bytes."""

from __future__ import annotations

import io
import math
import warnings
from typing import Any, Sequence

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from pipeline.report.aggregate import REGIONS, Cells
from pipeline.report.tables import LABEL_TYPES, LEVELS

REGION_COLOURS = {"UD": "#444444", "ROI-DD": "#d62728", "BG-DD": "#1f77b4"}
LABEL_TITLES = {"consistency": "consistency", "accuracy": "accuracy", "composite": "composite (MMOS)"}
DPI = 100


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # Agg canvas, no pyplot: no global state, no display

    return Figure(figsize=(width, height), dpi=DPI)


def _margins(figure: Any, top: float = 0.55, bottom: float = 0.55, left: float = 0.7, right: float = 0.2,
             hspace: float = 0.45, wspace: float = 0.12) -> None:
    """Fixed margins in inches (a constrained layout costs about a second per figure)."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                           hspace=hspace, wspace=wspace)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _grid(count: int, columns: int) -> tuple[int, int]:
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns


def label_histograms(title: str, distributions: dict[str, dict[str, Any]]) -> bytes:
    """One panel per label type: the histogram of its values on [0, 1]."""
    figure = _figure(11, 3.0)
    axes = figure.subplots(1, len(LABEL_TYPES), sharey=True)
    for ax, label in zip(axes, LABEL_TYPES):
        summary = distributions[label]
        edges = np.asarray(summary["edges"])
        ax.bar(edges[:-1], summary["histogram"], width=np.diff(edges), align="edge", color="#4c72b0",
               edgecolor="white", linewidth=0.5)
        mean = summary.get("mean")
        heading = f"{LABEL_TITLES[label]}\nn = {summary['n']:,}" + (f", mean {mean:.3f}" if mean is not None else "")
        if summary["undefined"]:
            heading += f", {summary['undefined']:,} undefined"
        ax.set_title(heading, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_xlabel("label value")
    axes[0].set_ylabel("images")
    figure.suptitle(title, fontsize=10)
    _margins(figure, top=0.8, bottom=0.5, left=0.95, wspace=0.08)
    return _png(figure)


def region_severity(title: str, cells: Cells, label: str) -> bytes:
    """Mean label against severity, one line per region pattern, one panel per distortion plus all together."""
    per_type = cells.region_severity()
    overall = cells.overall_region_severity()
    names = [*cells.distortions, "all types"]
    rows, columns = _grid(len(names), 4)
    figure = _figure(11, 2.3 * rows + 0.6)
    axes = np.atleast_1d(figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)).ravel()
    severities = np.arange(1, LEVELS + 1)
    for index, (ax, name) in enumerate(zip(axes, names)):
        for region in REGIONS:
            means = overall[region] if name == "all types" else per_type[region][index]
            ax.plot(severities, means, marker="o", markersize=3, color=REGION_COLOURS[region], label=region,
                    linewidth=2.2 if name == "all types" else 1.4)
        ax.set_title(name, fontsize=9, fontweight="bold" if name == "all types" else "normal")
        ax.set_xticks(severities)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel(f"mean {label}", fontsize=8)
    for ax in axes[len(names) - columns: len(names)]:
        ax.set_xlabel("severity (the stronger level)", fontsize=8)
    axes[0].legend(fontsize=8, loc="lower left")
    figure.suptitle(title, fontsize=10)
    _margins(figure, hspace=0.35)
    return _png(figure)


def level_grids(title: str, grids: dict[str, np.ndarray]) -> bytes:
    """Heat maps of the mean label per (ROI level, background level), one per label type."""
    figure = _figure(11, 3.6)
    axes = figure.subplots(1, len(grids))
    image = None
    for ax, (label, grid) in zip(np.atleast_1d(axes), grids.items()):
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="lower")
        for roi in range(LEVELS):
            for bg in range(LEVELS):
                value = grid[roi, bg]
                if np.isfinite(value):
                    ax.text(bg, roi, f"{value:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if value < 0.6 else "black")
        ax.set_xticks(range(LEVELS), [str(k) for k in range(1, LEVELS + 1)])
        ax.set_yticks(range(LEVELS), [str(k) for k in range(1, LEVELS + 1)])
        ax.set_xlabel("background level")
        ax.set_ylabel("ROI level")
        ax.set_title(f"mean {LABEL_TITLES[label]}", fontsize=9)
    _margins(figure, top=0.6, bottom=0.55, left=0.6, right=0.3, wspace=0.25)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8)
    figure.suptitle(title + "  (diagonal: UD; below: ROI-DD; above: BG-DD)", fontsize=10)
    return _png(figure)


def mirrored_pairs(title: str, rows: list[dict[str, Any]], label: str) -> bytes:
    """ROI-DD mean at (r, b) against BG-DD mean at the mirrored (b, r), one point per distortion and pair."""
    figure = _figure(5.2, 4.8)
    ax = figure.subplots()
    points = [r for r in rows if r["distortion"] != "all"]
    x = np.array([r["roi_dd"] for r in points])
    y = np.array([r["bg_dd"] for r in points])
    gap = np.array([r["stronger"] - r["weaker"] for r in points])
    scatter = ax.scatter(x, y, c=gap, cmap="plasma", s=18, vmin=1, vmax=LEVELS - 1, edgecolor="none")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel(f"ROI-DD mean {label} at (ROI r, background b)", fontsize=8)
    ax.set_ylabel(f"BG-DD mean {label} at (ROI b, background r)", fontsize=8)
    ax.text(0.03, 0.95, "above the line: BG-DD higher\n(machines hurt less)", transform=ax.transAxes,
            fontsize=8, va="top")
    _margins(figure, top=0.35, bottom=0.55, left=0.7, right=0.2)
    figure.colorbar(scatter, ax=ax, label="level gap r - b", shrink=0.8)
    ax.set_title(title, fontsize=9)
    return _png(figure)


def robustness(title: str, oracles: Sequence[str], distortions: Sequence[str], means: np.ndarray,
               label: str) -> bytes:
    """Per-oracle mean label of uniform images against severity, one panel per distortion; ``means`` has
    shape (oracles, distortions, 5). The mean over oracles is the thick black line."""
    rows, columns = _grid(len(distortions), 4)
    legend_rows = math.ceil((len(oracles) + (len(oracles) > 1)) / 6)
    figure = _figure(11, 2.3 * rows + 0.6 + 0.2 * legend_rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)).ravel()
    severities = np.arange(1, LEVELS + 1)
    colours = _oracle_colours(len(oracles))
    for index, (ax, name) in enumerate(zip(axes, distortions)):
        curves = np.stack([np.broadcast_to(severities, (len(oracles), LEVELS)), means[:, index]], axis=-1)
        ax.add_collection(LineCollection(curves, colors=colours, linewidths=0.9, alpha=0.85))  # one artist
        if len(oracles) > 1:
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a cell no oracle labelled stays NaN
                ax.plot(severities, np.nanmean(means[:, index], axis=0), color="black", linewidth=2.4)
        ax.set_xlim(0.8, LEVELS + 0.2)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(severities)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    for ax in axes[len(distortions):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel(f"mean {label}", fontsize=8)
    for ax in axes[max(0, len(distortions) - columns): len(distortions)]:
        ax.set_xlabel("severity (uniform images)", fontsize=8)
    handles = [Line2D([], [], color=colour, linewidth=0.9) for colour in colours]
    names = list(oracles)
    if len(oracles) > 1:
        handles.append(Line2D([], [], color="black", linewidth=2.4))
        names.append("mean over oracles")
    figure.legend(handles, names, loc="lower center", ncol=6, fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=10)
    _margins(figure, bottom=0.55 + 0.2 * legend_rows, hspace=0.35)
    return _png(figure)


def _oracle_colours(count: int) -> list[Any]:
    """Distinct colours for up to 20 oracles, repeating beyond."""
    from matplotlib import colormaps

    palette = colormaps["tab20"] if count > 10 else colormaps["tab10"]
    return [palette(i % palette.N) for i in range(count)]


def correlation_bars(title: str, rows: list[dict[str, Any]]) -> bytes:
    """Sign-corrected SRCC of each metric against each label type (ours as bars, the paper's as black ticks)."""
    metrics = list(dict.fromkeys(r["title"] for r in rows))
    figure = _figure(max(6.0, 1.3 * len(metrics) + 4), 3.6)
    ax = figure.subplots()
    width = 0.8 / len(LABEL_TYPES)
    colours = {"consistency": "#55a868", "accuracy": "#dd8452", "composite": "#4c72b0"}
    for offset, label in enumerate(LABEL_TYPES):
        for position, metric in enumerate(metrics):
            row = next((r for r in rows if r["title"] == metric and r["label"] == label), None)
            if row is None:
                continue
            x = position + (offset - 1) * width
            ours = row.get("srcc")
            if ours is not None:
                ax.bar(x, ours, width=width, color=colours[label], label=label if position == 0 else None)
            paper = row.get("paper", {}).get("srcc")
            if paper is not None:
                ax.plot([x - width / 2, x + width / 2], [paper, paper], color="black", linewidth=2,
                        label="paper" if (position, label) == (0, "composite") else None)
    ax.set_xticks(range(len(metrics)), metrics)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylim(min(-0.05, *(r["srcc"] for r in rows if r.get("srcc") is not None)) - 0.02, 1.0)
    ax.set_ylabel("SRCC (sign-corrected)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    _margins(figure, top=0.35, bottom=0.45, right=1.3)
    return _png(figure)


def scatter(title: str, panels: list[tuple[str, np.ndarray, np.ndarray]], label: str) -> bytes:
    """One panel per metric: metric value against the label for a fixed subsample of images."""
    rows, columns = _grid(len(panels), 4)
    figure = _figure(11, 2.6 * rows + 0.5)
    axes = np.atleast_1d(figure.subplots(rows, columns, sharey=True, squeeze=False)).ravel()
    for ax, (name, x, y) in zip(axes, panels):
        jitter = np.random.default_rng(0).uniform(-0.01, 0.01, len(y))  # labels repeat few values: spread them
        sparse = len(y) < 2000
        ax.scatter(x, y + jitter, s=8 if sparse else 3, alpha=0.5 if sparse else 0.2, color="#4c72b0",
                   edgecolor="none", rasterized=True)
        ax.set_xlabel(name, fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel(label, fontsize=8)
    figure.suptitle(title, fontsize=10)
    _margins(figure, hspace=0.35, wspace=0.08)
    return _png(figure)
