"""Build the report of a database: read each subset, aggregate, draw, render.

    from pipeline.report.build import build_report
    from pipeline.report.settings import ReportSettings
    result = build_report(ReportSettings(Path("out"), test_splits={"cls": Path("miqa_cls_val.csv")}))
    result.index, result.stats, result.card

Writes OUT/report/index.html (plots under plots/, thumbnails under examples/, referenced by relative paths),
OUT/report/stats.json (every figure of the page) and OUT/README.md (the dataset card). Each file is written
under a temporary name and renamed; files of an earlier report that this one no longer uses are removed.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from manifests.atomic import write_bytes_atomic
from pipeline.report import plots
from pipeline.report.aggregate import UD_CELLS, Cells, distribution, mirrored_summary, robustness, subsample
from pipeline.report.correlations import FIT_POINTS, AgreementPool, Correlations, pair_count, predictors, split_rows
from pipeline.report.gaps import subset_gaps
from pipeline.report.settings import SUBSETS, ReportSettings
from pipeline.report.stages import StageTotals, folder_bytes, stage_totals
from pipeline.report.tables import LABEL_TYPES, Subset, read_subset

PLOTS = "plots"
EXAMPLES = "examples"


@dataclass(frozen=True)
class ReportResult:
    index: Path
    stats: Path
    card: Path | None
    seconds: float


class Writer:
    """Writes the report's files atomically and remembers them, so stale ones can be removed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: set[Path] = set()

    def write(self, relative: str, data: bytes) -> str:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
        self.written.add(path)
        return relative

    def remove_stale(self) -> None:
        for folder in (self.root / PLOTS, self.root / EXAMPLES):
            for path in folder.iterdir() if folder.is_dir() else []:
                if path.is_file() and path not in self.written:
                    path.unlink()


def _clean(value: Any) -> Any:
    """JSON-ready: NaN and infinities become null, numpy scalars and arrays plain Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def _step(message: str, started: float) -> None:
    print(f"report: {message} ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)


def overview(subset: Subset) -> dict[str, Any]:
    sources = subset.sources
    ok = subset.ok_sources
    coverage = ok.mask_coverage.dropna()
    return {
        "folder": subset.layout.root.name,
        "sources_listed": subset.plan.get("listed_sources"),
        "sources_ok": int(len(ok)), "sources_failed": int(len(sources) - len(ok)),
        "images_ok": subset.images.count, "images_failed": int(sum(subset.images.failed.values())),
        "distortions": list(subset.images.distortions),
        "images_per_source": subset.plan.get("images_per_source"),
        "seed": subset.settings.get("seed"),
        "mask_methods": ok.mask_method.fillna("none").value_counts().to_dict(),
        "mask_flags": ok.mask_flag.fillna("none").value_counts().to_dict(),
        "mask_coverage": {"mean": float(coverage.mean()), "min": float(coverage.min()),
                          "max": float(coverage.max())} if len(coverage) else {},
        "region_fallback_sources": int((ok.mask_flag.fillna("ok") != "ok").sum()),
    }


def failures(subset: Subset, stages: list[StageTotals]) -> list[dict[str, Any]]:
    """Every kind of failure with its reasons (most frequent first): generation and metrics from their
    manifests, predictions from the score stage's stats (the last run of each unit), undefined labels."""
    found = []
    failed_sources = subset.sources[subset.sources.status != "ok"]
    if len(failed_sources):
        found.append({"what": "sources (generate)", "count": int(len(failed_sources)),
                      "reasons": failed_sources.error.fillna("no reason recorded").value_counts().head(10).to_dict()})
    if subset.images.failed:
        found.append({"what": "images (generate)", "count": sum(subset.images.failed.values()),
                      "reasons": dict(subset.images.failed.most_common(10))})
    for stage in stages:
        if stage.stage == "score" and stage.items_failed:
            found.append({"what": "predictions (score; from its unit stats)", "count": stage.items_failed,
                          "reasons": dict(stage.errors.most_common(10))})
    for task, labels in subset.labels.items():
        for label in LABEL_TYPES:
            if labels.undefined[label]:
                found.append({"what": f"undefined {task} {label} labels",
                              "count": sum(labels.undefined[label].values()),
                              "reasons": dict(labels.undefined[label].most_common(10))})
    for metric in subset.metrics.values():
        if metric.failed:
            found.append({"what": f"{metric.name} values (metrics)", "count": sum(metric.failed.values()),
                          "reasons": dict(metric.failed.most_common(10))})
    return found


def disk_use(subset: Subset) -> list[dict[str, Any]]:
    root = subset.layout.root
    rows = [{"folder": f"{root.name}/images", "bytes": subset.images.bytes, "files": subset.images.count,
             "how": "sum of the PNG sizes the images manifest records"}]
    for name in ("src_images", "masks", "manifests", "labels"):
        if (root / name).is_dir():
            size, files = folder_bytes(root / name)
            rows.append({"folder": f"{root.name}/{name}", "bytes": size, "files": files, "how": "measured"})
    return rows


def oracle_rows(subset: Subset) -> list[dict[str, Any]]:
    from oracles import registry

    labelled: dict[str, int] = {}
    members: set[str] = set()
    for labels in subset.labels.values():
        members |= {m["name"] for m in labels.record.get("oracles", [])}
        if labels.cells is not None:
            labelled.update(zip(labels.cells.oracles, labels.cells.images.tolist()))
    rows = []
    for oracle in subset.oracles:
        try:
            spec = registry.get(oracle.name)
            known = {"framework": spec.framework, "family": spec.family, "weights_id": spec.weights_id,
                     "licence": spec.licence, "url": spec.url}
        except KeyError:
            known = {"framework": "not registered here", "family": "", "weights_id": "", "licence": "unknown",
                     "url": ""}
        rows.append({"name": oracle.name, "task": oracle.task, **known, "weights": oracle.record.get("weights"),
                     "untrained": oracle.record.get("untrained"), "labelled_images": labelled.get(oracle.name),
                     "in_labels": oracle.name in members})
    return rows


def task_section(subset: Subset, task: str, writer: Writer) -> dict[str, Any]:
    """Distributions, region pattern x severity, the level grid, the paper's checks and per-oracle robustness."""
    from learning.correlation import srcc

    labels = subset.labels[task]
    images = subset.images
    title = f"{subset.layout.root.name}, {task} labels"
    cells = {label: Cells.of(labels.values[label], images.distortion, images.cell, images.distortions)
             for label in LABEL_TYPES}
    distributions = {label: distribution(labels.values[label][labels.labelled]) for label in LABEL_TYPES}
    ud = np.isin(images.cell, UD_CELLS)
    section: dict[str, Any] = {
        "task": task, "untrained": labels.untrained, "selection": labels.record.get("selection"),
        "oracles": labels.record.get("oracles", []), "options": labels.record.get("options", {}),
        "annotations": labels.record.get("annotations"),
        "labelled_images": int(labels.labelled.sum()), "images": images.count,
        "distributions": distributions,
        "undefined": {label: dict(labels.undefined[label].most_common(10)) for label in LABEL_TYPES},
        "region_severity": {label: {"distortions": list(images.distortions),
                                    **{r: v for r, v in cells[label].region_severity().items()},
                                    "all": cells[label].overall_region_severity()} for label in LABEL_TYPES},
        "grid": {label: cells[label].grid() for label in LABEL_TYPES},
        "ud_by_level": {label: cells[label].overall_region_severity()["UD"] for label in LABEL_TYPES},
        "severity_srcc": {label: srcc(images.roi_level[ud], labels.values[label][ud]) for label in LABEL_TYPES},
        "mirrored": {label: cells[label].mirrored_pairs() for label in LABEL_TYPES},
    }
    section["mirrored_summary"] = {label: mirrored_summary(section["mirrored"][label]) for label in LABEL_TYPES}
    section["mirrored_all"] = [r for r in section["mirrored"]["composite"] if r["distortion"] == "all"]
    name = f"{subset.name}-{task}"
    section["plots"] = {
        "histograms": writer.write(f"{PLOTS}/{name}-distributions.png",
                                   plots.label_histograms(title + ": distributions", distributions)),
        "severity": writer.write(f"{PLOTS}/{name}-severity.png", plots.region_severity(
            title + ": mean composite by severity and region pattern", cells["composite"], "composite")),
        "grid": writer.write(f"{PLOTS}/{name}-grid.png", plots.level_grids(
            title + ": (ROI level, background level)", section["grid"])),
        "mirrored": writer.write(f"{PLOTS}/{name}-mirrored.png", plots.mirrored_pairs(
            f"{task}: ROI-DD against mirrored BG-DD", section["mirrored"]["composite"], "composite")),
    }
    if labels.cells is not None and labels.cells.oracles:
        oracle_cells = labels.cells
        curves = {label: robustness(oracle_cells.means(label)) for label in ("consistency", "accuracy")}
        overall = {}
        for label in ("consistency", "accuracy"):
            total, count = oracle_cells.sums[label].sum(axis=(1, 2)), oracle_cells.counts[label].sum(axis=(1, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                overall[label] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        section["robustness"] = {
            "oracles": oracle_cells.oracles, "distortions": oracle_cells.distortions,
            "ud_means": {label: curves[label] for label in curves},
            "overall": [{"oracle": o, "consistency": overall["consistency"][i], "accuracy": overall["accuracy"][i]}
                        for i, o in enumerate(oracle_cells.oracles)],
        }
        section["plots"].update({
            f"robustness_{label}": writer.write(f"{PLOTS}/{name}-robustness-{label}.png", plots.robustness(
                f"{title}: per-oracle {label} of uniform images", oracle_cells.oracles, oracle_cells.distortions,
                curves[label], label)) for label in ("accuracy", "consistency")})
    return section


def correlation_section(subset: Subset, split: list[str] | None, correlations: Correlations,
                        settings: ReportSettings, writer: Writer) -> dict[str, Any]:
    rows = correlations.rows()
    in_split = split_rows(subset, split)
    section: dict[str, Any] = {
        "rows": rows, "split": None if split is None else {
            "file": str(settings.test_splits[subset.name]), "listed": len(set(split)),
            "found": int(len(set(split) & set(subset.images.source_ids)))},
        "images": int((in_split & subset.images.ok).sum()), "plots": {},
    }
    for task, labels in subset.labels.items():
        task_rows = [r for r in rows if r["task"] == task]
        if not task_rows:
            continue
        section["plots"][f"{task}_bars"] = writer.write(
            f"{PLOTS}/{subset.name}-{task}-srcc.png",
            plots.correlation_bars(f"{task}: SRCC of the HVS metrics with the labels", task_rows))
        chosen = subsample(in_split & np.isfinite(labels.values["composite"]), settings.scatter_points)
        panels = [(p.title + (" (images manifest)" if p.origin == "images manifest" else ""), p.values[chosen],
                   labels.values["composite"][chosen]) for p in predictors(subset)]
        section["plots"][f"{task}_scatter"] = writer.write(
            f"{PLOTS}/{subset.name}-{task}-scatter.png",
            plots.scatter(f"{task}: HVS metrics against the composite label ({len(chosen):,} images drawn at "
                          "random)", panels, "composite"))
    return section


def subset_section(subset: Subset, settings: ReportSettings, split: list[str] | None, correlations: Correlations,
                   writer: Writer, step: Callable[[str], None]) -> dict[str, Any]:
    from pipeline.report.examples import make_strips

    stages = stage_totals(subset.layout.manifests / "stats")
    section: dict[str, Any] = {
        "name": subset.name, "generated": True, "overview": overview(subset), "failures": failures(subset, stages),
        "stages": [s.to_dict() for s in stages],
        "disk": disk_use(subset), "oracles": oracle_rows(subset),
        "metrics": [{"name": m.name, "computed": m.computed, "failed": sum(m.failed.values()),
                     "upsampled": m.upsampled} for m in subset.metrics.values()],
    }
    section["tasks"] = {}
    for task in subset.labels:
        section["tasks"][task] = task_section(subset, task, writer)
        step(f"{subset.name}: {task} labels aggregated and drawn")
    section["correlations"] = (correlation_section(subset, split, correlations, settings, writer) if subset.labels
                               else None)
    if subset.labels:
        step(f"{subset.name}: correlation tables")
    strips = make_strips(subset, settings.examples, lambda name, data: writer.write(f"{EXAMPLES}/{name}", data))
    section["examples"] = [{"source_id": s.source_id, "distortion": s.distortion, "rows": s.rows,
                            "tiles": [{"heading": t.heading, "values": t.values, "file": t.file, "problem": t.problem}
                                      for t in s.tiles]} for s in strips]
    return section


def build_report(settings: ReportSettings) -> ReportResult:
    """Read the database under ``settings.out`` and write the report, its stats and the dataset card."""
    from learning.splits import read_split_file
    from pipeline.errors import UsageError
    from pipeline.report.card import environment, write_card
    from pipeline.report.render import render_report

    started = time.perf_counter()
    splits = {name: read_split_file(path) for name, path in settings.test_splits.items()}
    writer = Writer(settings.report_dir)
    data: dict[str, Subset | None] = {}
    pending: dict[str, Correlations] = {}
    subsets, gaps = [], []
    with AgreementPool(settings.workers) as pool:
        for name in SUBSETS:  # a subset's agreements run in the workers while the next subset is read
            data[name] = read_subset(Path(settings.out), name)
            if data[name] is not None:
                subset, split = data[name], splits.get(name)
                pending[name] = Correlations.start(subset, split, pool.executor(pair_count(subset, split)))
                _step(f"{name}: manifests read", started)
        if all(d is None for d in data.values()):
            raise UsageError(f"no generated subset under {settings.out} (expected miqa_cls/ or miqa_det/ made by "
                             "python -m pipeline.generate)")
        for name in SUBSETS:
            gaps += subset_gaps(name, data[name], Path(settings.out), name in splits)
            if data[name] is None:
                subsets.append({"name": name, "generated": False})
                continue
            subsets.append(subset_section(data[name], settings, splits.get(name), pending[name], writer,
                                          lambda message: _step(message, started)))
    _step("plots and examples written", started)
    stats = _clean({
        "database": str(Path(settings.out).resolve()),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(), "gaps": [g.to_dict() for g in gaps],
        "subsets": {s["name"]: s for s in subsets},
        "correlation_notes": {
            "sign": "metrics whose lower values mean better quality are negated (column 'negated'); others as they "
                    "come",
            "plcc_rmse": "plcc / rmse: raw; plcc_l4 / rmse_l4: after the 4-parameter logistic; plcc_l5 / rmse_l5: "
                         f"after the 5-parameter logistic (each fitted on at most {FIT_POINTS:,} pairs drawn at "
                         "random with a fixed seed, then applied to all)",
            "paper": "the paper's figures for the same task, label and metric (its test split)"},
    })
    writer.write("stats.json", (json.dumps(stats, indent=1, sort_keys=False) + "\n").encode())
    card = None
    if settings.card:
        card = write_card(Path(settings.out), settings.card_path, data, stats)
    page = render_report(stats, _relative(settings.card_path, settings.report_dir) if card else None)
    index = settings.report_dir / writer.write("index.html", page.encode("utf-8"))
    writer.remove_stale()
    seconds = time.perf_counter() - started
    _step(f"written {index}", started)
    return ReportResult(index, settings.report_dir / "stats.json", card, seconds)


def _relative(path: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()
