"""Full-reference metrics of every degraded image against its pristine source:
``python -m pipeline.metrics --out OUT --metrics psnr,ssim,ms_ssim,vif_p,vsi[,lpips,dists]``.

Runs on the job driver like the other stages (local or cluster, resumable): units are generation shards, and a
unit computes, for each source of its shard, the chosen metrics of the degraded images its committed parts lack
(all of them the first time; the images a grown shard gained; the failed ones with --retry-failed), sharing one
decode per image across metrics. Results go to ``manifests/metrics/<metric>/<shard>.parquet`` (value,
``upsampled`` when the pair was below the metric's minimum side, status, error). Values come from piq, computed
as the MIQD-2.5M release computed them (``hvs``).

Exit codes: 0 all done; 1 some values failed (--retry-failed redoes them) or units crashed; 2 usage;
3 environment (weights missing offline, unreachable --scheduler, unwritable OUT); 130 interrupted.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pipeline.cli import database_lock, request_from, run_stage_command, say
from pipeline.driver import Execution, Session, StageResult, SubsetStage, UnitStats, default_workers
from pipeline.errors import EXIT_ITEMS_FAILED, EXIT_OK, EnvironmentProblem, UsageError, one_line


@dataclass(frozen=True)
class MetricsRequest:
    out: Path = Path("out")
    metrics: str = "release"  # names or groups (release, paper, all)
    subsets: str = "cls,det"  # those that are generated
    retry_failed: bool = False
    device: str | None = None  # None: CUDA when visible
    weights_dir: Path | None = None
    offline: bool = False
    memory_budget_mb: int = 2048


@dataclass(frozen=True)
class MetricUnit:
    shard: str
    metrics: tuple[str, ...]  # the metrics whose part of this shard is missing, stale or has failures to redo
    retry_failed: bool = False
    weight: int = 1

    @property
    def key(self) -> str:
        return f"{self.shard}-{'+'.join(self.metrics)}"


@dataclass(frozen=True)
class MetricsStage(SubsetStage):
    root: str
    device: str | None
    weights_dir: str | None
    allow_download: bool
    memory_budget_mb: int
    threads: int = 1
    name: str = "metrics"
    item_name: str = "img"

    def run_unit(self, unit: MetricUnit) -> UnitStats:
        return metric_unit(unit, self)


_SCORERS: dict[tuple, Any] = {}


def _scorer(stage: MetricsStage, metrics: tuple[str, ...]) -> Any:
    """One loaded Scorer per process and metric set (models such as LPIPS load once)."""
    import hvs
    import torch

    torch.set_num_threads(stage.threads)
    key = (metrics, stage.device, stage.weights_dir, stage.allow_download, stage.memory_budget_mb)
    if key not in _SCORERS:
        settings = hvs.ComputeSettings(stage.device, stage.memory_budget_mb, stage.weights_dir, stage.allow_download)
        _SCORERS[key] = hvs.Scorer(",".join(metrics), settings)
    return _SCORERS[key]


def metric_unit(unit: MetricUnit, stage: MetricsStage) -> UnitStats:
    """Compute what each metric's part of the shard lacks; publish one complete part per metric."""
    import pyarrow as pa

    from manifests.schemas import METRIC_VALUES, generation_digest, metric_row, rows_digest
    from pipeline.sources import read_rgb

    layout = stage.layout
    store = layout.generation_store()
    sources = store.read("sources", columns=["source_id", "file_name", "status"], shards=[unit.shard]).to_pylist()
    images = store.read("images", columns=["image_id", "source_id", "path", "status"], shards=[unit.shard]).to_pylist()
    digest = generation_digest(sources, images)
    ok_sources = {r["source_id"]: r for r in sources if r["status"] == "ok"}
    current = [r for r in images if r["status"] == "ok" and r["source_id"] in ok_sources]
    current_ids = {r["image_id"] for r in current}
    rows: dict[str, list[dict[str, Any]]] = {}
    needed: dict[str, set[str]] = {}
    for metric in unit.metrics:
        old = layout.metric_store(metric).read(metric, shards=[unit.shard]).to_pylist()
        rows[metric] = [r for r in old if r["image_id"] in current_ids
                        and not (unit.retry_failed and r["status"] == "failed")]
        needed[metric] = current_ids - {r["image_id"] for r in rows[metric]}
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in current:
        if any(row["image_id"] in ids for ids in needed.values()):
            by_source.setdefault(row["source_id"], []).append(row)
    scorer = _scorer(stage, unit.metrics) if by_source else None
    for source_id, members in by_source.items():
        try:
            reference = read_rgb(layout.src_images / ok_sources[source_id]["file_name"])
            results = scorer.score(reference, [str(layout.root / r["path"]) for r in members])
        except Exception as error:  # the pristine source itself cannot be used: its images fail, with why
            reason = f"pristine source {ok_sources[source_id]['file_name']}: {one_line(error)}"
            results = {m: [None] * len(members) for m in unit.metrics}
            for metric in unit.metrics:
                rows[metric] += [metric_row(r["image_id"], source_id, None, False, reason) for r in members
                                 if r["image_id"] in needed[metric]]
            continue
        for metric in unit.metrics:
            for member, result in zip(members, results[metric]):
                if member["image_id"] in needed[metric]:
                    rows[metric].append(metric_row(member["image_id"], source_id, result.value, result.upsampled,
                                                   result.error))
    stats = UnitStats(stage.name, unit.key)
    order = {r["image_id"]: k for k, r in enumerate(current)}
    for metric in unit.metrics:
        part = sorted(rows[metric], key=lambda r: order[r["image_id"]])
        new = [r for r in part if r["image_id"] in needed[metric]]
        stats.items_ok += sum(r["status"] == "ok" for r in new)
        stats.items_failed += sum(r["status"] == "failed" for r in new)
        stats.errors += [f"{metric} {r['image_id']}: {r['error']}" for r in new if r["status"] == "failed"]
        failed = sum(r["status"] == "failed" for r in part)
        layout.metric_store(metric).publish(unit.shard, {metric: pa.Table.from_pylist(part, schema=METRIC_VALUES)},
                                            metadata={metric: {"input": digest, "content": rows_digest(part),
                                                               "failed": failed}})
        stats.counts[f"upsampled:{metric}"] = sum(bool(r["upsampled"]) for r in new)
    return stats


def plan_metrics(layout: Any, metrics: Sequence[str], generation: dict[str, str], retry: bool,
                 ) -> tuple[list[MetricUnit], int]:
    """Units for every shard where a metric's part is missing, stale (the shard grew) or, when retrying, holds
    failed rows; and the failed rows left alone."""
    from pipeline.shards import items_per_shard

    metadata = {m: layout.metric_store(m).part_metadata() for m in metrics}
    sizes = items_per_shard(layout)
    units, failed_left = [], 0
    for shard, digest in sorted(generation.items()):
        need = []
        for metric in metrics:
            meta = metadata[metric].get(shard)
            failed = int(meta.get("failed", "0")) if meta else 0
            if meta is None or meta.get("input") != digest or (retry and failed):
                need.append(metric)
            else:
                failed_left += failed
        if need:
            units.append(MetricUnit(shard, tuple(need), retry, sizes.get(shard, 1)))
    return units, failed_left


@dataclass
class MetricsReport:
    results: dict[str, StageResult] = field(default_factory=dict)  # per subset folder
    failed_left: int = 0

    @property
    def exit_code(self) -> int:
        bad = self.failed_left or any(r.items_failed or r.crashed for r in self.results.values())
        return EXIT_ITEMS_FAILED if bad else EXIT_OK


def metrics(request: MetricsRequest, execution: Execution = Execution()) -> MetricsReport:
    """Compute the metrics on every chosen, generated subset; returns what was done."""
    import hvs

    from manifests.layout import SubsetLayout
    from pipeline.shards import generation_digests

    try:
        specs = hvs.resolve(request.metrics)
    except ValueError as error:
        raise UsageError(f"--metrics: {error}") from None
    wanted = [s.strip() for s in request.subsets.split(",") if s.strip()]
    if not wanted or set(wanted) - {"cls", "det"}:
        raise UsageError(f"--subsets takes cls, det or cls,det, got {request.subsets!r}")
    layouts = [SubsetLayout.of(request.out, s) for s in wanted]
    layouts = [layout for layout in layouts if layout.settings_file.exists()]
    if not layouts:
        raise UsageError(f"nothing generated under {request.out}; run python -m pipeline.generate first")
    try:
        hvs.resolve_weights(specs, request.weights_dir, allow_download=not request.offline)
    except hvs.MissingWeightsError as error:
        raise EnvironmentProblem(str(error)) from None
    names = tuple(s.name for s in specs)
    gpus = _gpus(request.device)
    workers = execution.workers or (gpus if gpus else default_workers())  # one per GPU, else one per core
    report = MetricsReport()
    with Session(execution, workers=workers, resources={"GPU": 1} if gpus else None) as session:
        for layout in layouts:
            with database_lock(layout.root):
                for name in names:
                    layout.metric_store(name).repair()
                generation = generation_digests(layout)
                units, failed = plan_metrics(layout, names, generation, request.retry_failed)
                report.failed_left += failed
                if execution.progress:
                    say(f"{layout.root}: {len(generation)} shards, {len(names)} metrics ({', '.join(names)}): "
                        f"{len(units)} units")
                stage = MetricsStage(str(layout.root), request.device, str(request.weights_dir)
                                     if request.weights_dir else None, not request.offline,
                                     request.memory_budget_mb, threads=max(1, default_workers() // workers))
                report.results[layout.root.name] = session.run(stage, units, resources={"GPU": 1} if gpus else None)
    return report


def _gpus(device: str | None) -> int:
    if device not in (None, "cuda"):
        return 0
    import torch

    return torch.cuda.device_count()


def summary_lines(report: MetricsReport) -> list[str]:
    lines = []
    for name, result in report.results.items():
        if not result.units and not result.crashed:
            lines.append(f"{name}: nothing to do, every shard has every metric")
            continue
        upsampled = {k.split(":", 1)[1]: n for k, n in result.counts.items() if k.startswith("upsampled:") and n}
        lines.append(f"{name}: {result.items_ok} values in {result.seconds:.1f} s, {result.items_failed} failed"
                     + (f"; upsampled for their minimum side: {upsampled}" if upsampled else ""))
        lines += [f"  {n} x {reason}" for reason, n in result.errors.most_common(3)]
        if result.crashed:
            lines.append(f"  {len(result.crashed)} units crashed and were not committed; run again")
    if report.failed_left:
        lines.append(f"{report.failed_left} failed values remain (--retry-failed redoes them)")
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.metrics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder of generate (default: out)")
    parser.add_argument("--metrics", default="release",
                        help="names (psnr, ssim, ms_ssim, vif_p, vsi, fsim, gmsd, lpips, dists) or groups: release "
                             "(the five the release computed), paper (psnr, ssim, vsi, lpips, dists), all "
                             "(default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the registered metrics and exit")
    parser.add_argument("--subsets", default="cls,det", help="which generated subsets (default: %(default)s)")
    parser.add_argument("--retry-failed", action="store_true", help="redo the failed values, only those")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when visible)")
    parser.add_argument("--weights-dir", type=Path, help="folder holding LPIPS / DISTS weight files (searched first)")
    parser.add_argument("--offline", action="store_true", help="never download weights")
    parser.add_argument("--memory-budget-mb", type=int, default=2048,
                        help="working memory of one batch of images (default: %(default)s)")
    parser.add_argument("--workers", type=int, help="local worker processes (default: one per GPU, else per core)")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler (OUT on a shared filesystem)")
    return parser


def describe_metrics() -> str:
    import hvs

    return "\n".join(f"{name:8s} {'higher' if hvs.get(name).higher_is_better else 'lower'} is better, min side "
                     f"{hvs.get(name).min_side}" + (", needs weights" if hvs.get(name).weights else "")
                     for name in hvs.names())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(describe_metrics())
        return EXIT_OK
    return run_stage_command(args, metrics, request_from(MetricsRequest, args), summary_lines)


if __name__ == "__main__":
    raise SystemExit(main())
