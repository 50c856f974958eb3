"""The database report on a full-size database: 10,000 sources, 2.5 million image rows (simulated manifests).

    python -m benchmarks.bench_report [--sources 10000] [--oracles cls=4,det=4,ins=4] [--metrics psnr,ssim,lpips]

Writes manifests shaped like a finished run with pyarrow directly (half the sources in miqa_cls, half in miqa_det;
shards of 8 sources; 250 image rows per source, 0.1% failed; per-oracle labels and MMOS for cls, det and ins; a
prediction table per oracle; the metric tables; per-unit stage stats), then times ``python -m pipeline.report``'s
work (``build_report``) twice, side by side: on every image, and on a test split of a fifth of the sources (as
the release's split files would give). Wall time depends on what else the machine runs: the CPU seconds of this
process and of its worker processes, and the load average, are printed beside it. No image file exists, so the
example strips show their placeholders. The paper's oracle counts are cls=40,det=20,ins=15.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from degradations import DATABASE_DISTORTIONS, output_name, region_configs
from manifests.layout import SubsetLayout
from manifests.schemas import IMAGES, METRIC_VALUES, MMOS, ORACLE_LABELS, SOURCES
from pipeline.report.build import build_report
from pipeline.report.settings import ReportSettings

SHARD = 8
CONFIGS = region_configs()
HURT = np.linspace(0.5, 1.0, len(DATABASE_DISTORTIONS))  # how much each type lowers the labels


def _write(path: Path, table: pa.Table, schema: pa.Schema | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if schema is not None:
        table = pa.Table.from_arrays([table.column(f.name).cast(f.type) if f.name in table.column_names
                                      else pa.nulls(table.num_rows, f.type) for f in schema], schema=schema)
    pq.write_table(table, path, compression="zstd")


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def simulate_subset(layout: SubsetLayout, subset: str, source_ids: list[str], oracles: dict[str, int],
                    metrics: list[str], rng: np.random.Generator) -> None:
    """One subset's manifests, shard by shard."""
    tasks = ("cls",) if subset == "cls" else ("det", "ins")
    names = {task: [f"{task}_oracle_{k:02d}" for k in range(oracles[task])] for task in tasks}
    offsets = {task: rng.normal(0, 0.1, oracles[task]) for task in tasks}  # each oracle's robustness
    roi = np.array([c.roi_level for c in CONFIGS])
    bg = np.array([c.bg_level for c in CONFIGS])
    for start in range(0, len(source_ids), SHARD):
        chunk = source_ids[start : start + SHARD]
        shard = f"shard-{start // SHARD:016x}"
        image_ids = [output_name(s, d, c)[:-4] for s in chunk for d in DATABASE_DISTORTIONS for c in CONFIGS]
        count = len(image_ids)
        sources = np.repeat(chunk, len(DATABASE_DISTORTIONS) * len(CONFIGS))
        distortion = np.tile(np.repeat(np.arange(len(DATABASE_DISTORTIONS)), len(CONFIGS)), len(chunk))
        r, b = np.tile(roi, len(chunk) * len(DATABASE_DISTORTIONS)), np.tile(bg, len(chunk) * len(DATABASE_DISTORTIONS))
        quality = 1 - HURT[distortion] * (0.6 * (r - 1) + 0.4 * (b - 1)) / 4
        failed = rng.random(count) < 0.001
        ok = ~failed
        regions = np.where(r == b, "UD", np.where(r > b, "ROI-DD", "BG-DD"))
        _write(layout.manifests / "images" / f"{shard}.parquet", pa.table({
            "image_id": image_ids, "source_id": sources, "distortion": np.asarray(DATABASE_DISTORTIONS)[distortion],
            "region": regions, "roi_level": r, "bg_level": b,
            "path": [f"images/{s}/{i}.png" for s, i in zip(sources, image_ids)],
            "psnr": 40 - 5 * (r + b) / 2 + rng.normal(0, 2, count), "bytes": rng.integers(100_000, 600_000, count),
            "status": np.where(failed, "failed", "ok"), "error": np.where(failed, "ValueError: simulated", None)}),
            IMAGES)
        ok_ids = [i for i, keep in zip(image_ids, ok) if keep]
        for task in tasks:
            consistency = np.zeros((len(names[task]), count))
            accuracy = np.zeros((len(names[task]), count))
            for k in range(len(names[task])):
                level = np.clip(quality + offsets[task][k] + rng.normal(0, 0.15, count), 0, 1)
                consistency[k] = (rng.random(count) < level) if task == "cls" else level
                accuracy[k] = (rng.random(count) < 0.8 * level) if task == "cls" else 0.8 * level
            store = layout.label_store(task).root
            _write(store / "oracle_labels" / f"{shard}.parquet", pa.table({
                "image_id": np.tile(np.asarray(ok_ids, object), len(names[task])),
                "source_id": np.tile(sources[ok], len(names[task])),
                "oracle": np.repeat(names[task], ok.sum()),
                "consistency": consistency[:, ok].ravel(), "accuracy": accuracy[:, ok].ravel(),
                "untrained": np.zeros(ok.sum() * len(names[task]), bool)}), ORACLE_LABELS)
            weighted_c, weighted_a = consistency[:, ok].mean(axis=0), accuracy[:, ok].mean(axis=0)
            _write(store / "mmos" / f"{shard}.parquet", pa.table({
                "image_id": ok_ids, "source_id": sources[ok], "oracles": np.full(ok.sum(), len(names[task])),
                "mean_consistency": weighted_c, "std_consistency": consistency[:, ok].std(axis=0),
                "weighted_consistency": weighted_c, "mean_accuracy": weighted_a,
                "std_accuracy": accuracy[:, ok].std(axis=0), "weighted_accuracy": weighted_a,
                "composite": 0.5 * weighted_c + 0.5 * weighted_a, "untrained": np.zeros(ok.sum(), bool)}), MMOS)
            for name in names[task]:
                _write(layout.manifests / "predictions" / name / f"{shard}.parquet", pa.table({
                    "image_id": ok_ids + list(chunk), "is_source": np.r_[np.zeros(ok.sum(), bool),
                                                                         np.ones(len(chunk), bool)],
                    "status": ["ok"] * (ok.sum() + len(chunk)), "error": pa.nulls(ok.sum() + len(chunk),
                                                                                  pa.string())}))
            for unit in range(0, len(names[task]), 8):
                _write_json(layout.stats_dir("score") / f"{shard}-{task}{unit}.json", {
                    "stage": "score", "unit": f"{shard}-{task}{unit}", "items_ok": int(ok.sum()) * 8,
                    "items_failed": 0, "seconds": 60.0, "errors": [], "counts": {"predictions": int(ok.sum()) * 8}})
            _write_json(layout.stats_dir(f"labels-{task}") / f"{shard}.json", {
                "stage": f"labels-{task}", "unit": shard, "items_ok": int(ok.sum()), "items_failed": 0,
                "seconds": 0.5, "errors": [], "counts": {"images": int(ok.sum())}})
        for metric in metrics:
            noise = rng.normal(0, 0.05, ok.sum())
            value = {"psnr": 40 - 5 * (r + b) / 2, "lpips": 0.1 * (r + b)}.get(metric, 1 - 0.08 * (r + b))[ok]
            _write(layout.manifests / "metrics" / metric / f"{shard}.parquet", pa.table({
                "image_id": ok_ids, "source_id": sources[ok], "value": value + noise,
                "upsampled": np.zeros(ok.sum(), bool), "status": ["ok"] * int(ok.sum())}), METRIC_VALUES)
        _write(layout.manifests / "sources" / f"{shard}.parquet", pa.table({
            "source_id": chunk, "shard": [shard] * len(chunk), "file_name": [f"{s}.JPEG" for s in chunk],
            "width": [500] * len(chunk), "height": [375] * len(chunk), "mask_method": ["saliency"] * len(chunk),
            "mask_coverage": rng.uniform(0.1, 0.9, len(chunk)), "mask_flag": ["ok"] * len(chunk),
            "images_ok": [int(ok[i * 250 : (i + 1) * 250].sum()) for i in range(len(chunk))],
            "status": ["ok"] * len(chunk)}), SOURCES)
        _write_json(layout.stats_dir("generate") / f"{shard}.json", {
            "stage": "generate", "unit": shard, "items_ok": int(ok.sum()), "items_failed": int(failed.sum()),
            "seconds": 18.0 * len(chunk), "errors": ["x: ValueError: simulated"] * int(failed.sum()),
            "counts": {"sources_ok": len(chunk), "mask_method:saliency": len(chunk)}})
    _write_json(layout.settings_file, {"distortion_order": list(DATABASE_DISTORTIONS), "seed": 0,
                                       "distortions": {d: {} for d in DATABASE_DISTORTIONS}, "subset": subset,
                                       "selected_ranks": [1, 5, 8, 10, 12], "mask": {"default_method": "saliency"}})
    _write_json(layout.plan_file, {"listed_sources": len(source_ids), "images_per_source": 250})
    _write_json(layout.run_file, {"source": "/data/simulated", "subset": subset})
    for task in tasks:
        _write_json(layout.label_store(task).root / "labels.json", {
            "oracles": [{"name": n, "untrained": False} for n in names[task]], "selection": "auto",
            "options": {"composite_weight": 0.5}})
        for name in names[task]:
            _write_json(layout.manifests / "oracles" / f"{name}.json",
                        {"oracle": name, "task": task, "untrained": False, "weights": "simulated"})


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _oracle_counts(text: str) -> dict[str, int]:
    counts = {"cls": 4, "det": 4, "ins": 4}
    for item in filter(None, text.split(",")):
        task, _, value = item.partition("=")
        counts[task] = int(value)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--oracles", default="cls=4,det=4,ins=4", help="per-task oracle counts")
    parser.add_argument("--metrics", default="psnr,ssim,lpips")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="simulate into this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    oracles = _oracle_counts(args.oracles)
    metrics = [m for m in args.metrics.split(",") if m]
    rng = np.random.default_rng(0)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        started = time.perf_counter()
        half = args.sources // 2
        cls_ids = [f"ILSVRC2012_val_{i:08d}" for i in range(1, half + 1)]
        det_ids = [f"{i:012d}" for i in range(1, args.sources - half + 1)]
        simulate_subset(SubsetLayout.of(root, "cls"), "cls", cls_ids, oracles, metrics, rng)
        simulate_subset(SubsetLayout.of(root, "det"), "det", det_ids, oracles, metrics, rng)
        print(f"simulated {args.sources:,} sources, {250 * args.sources:,} image rows, oracles {oracles}, metrics "
              f"{', '.join(metrics)} in {time.perf_counter() - started:.0f} s")
        splits = {}
        for subset, ids, column in (("cls", cls_ids, "Image Name"), ("det", det_ids, "Image Index")):
            path = root / f"{subset}_test.csv"
            chosen = ids[::5]
            path.write_text(column + "\n" + "".join(f"{s}.JPEG\n" if subset == "cls" else f"{int(s)}\n"
                                                    for s in chosen))
            splits[subset] = path
        for label, test_splits in (("every image", {}), ("test split (1/5 of the sources)", splits)):
            settings = ReportSettings(root, test_splits=test_splits, workers=args.workers)
            load = os.getloadavg()[0]
            started = time.perf_counter()
            main_cpu, workers_cpu = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
            build_report(settings)
            print(f"report, correlations on {label}: {time.perf_counter() - started:.1f} s wall; CPU "
                  f"{_cpu(resource.RUSAGE_SELF) - main_cpu:.0f} s in this process + "
                  f"{_cpu(resource.RUSAGE_CHILDREN) - workers_cpu:.0f} s in {args.workers} workers; load average "
                  f"{load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if args.keep is None:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
