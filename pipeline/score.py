"""Label the database with oracle models: ``python -m pipeline.score --models cls|det|ins|offline|NAMES``.

Runs each selected oracle over the pristine sources and degraded images that generation finished (cls
oracles on OUT/miqa_cls, det and ins oracles on OUT/miqa_det), keeps every raw prediction in
manifests/predictions/<oracle>/, then computes per-oracle consistency / accuracy and the aggregated MMOS
labels per image in manifests/labels/<task>/. Running the same command again resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from manifests import SettingsMismatch, check_settings
from manifests.settings import write_json_atomic
from oracles import registry
from oracles.labels.mmos import LabelOptions
from oracles.registry import OracleSpec
from oracles.weights import MissingWeightsError, resolve_weights
from pipeline.cluster import dask_client, default_workers, run_bounded
from pipeline.labels import LabelTask, label_shard
from manifests.layout import SubsetLayout
from pipeline.score_worker import ScoreOptions, ScoreUnit, score_unit

SUBSET_OF_TASK = {"cls": "cls", "det": "det", "ins": "det"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="offline",
                        help="cls | det | ins | all | offline (the classifiers whose weights ship with pip "
                             "packages) | comma-separated oracle names (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="print the oracle zoo and exit")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder of generate (default: out)")
    parser.add_argument("--weights-dir", type=Path, help="folder holding weight files by name (searched first)")
    parser.add_argument("--offline", action="store_true", help="never download weights")
    parser.add_argument("--untrained", action="store_true",
                        help="random weights, for plumbing checks; everything it writes is marked untrained")
    parser.add_argument("--labels-only", action="store_true", help="recompute the labels from stored predictions")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when visible)")
    parser.add_argument("--batch-size", type=int,
                        help="images per batch (default: 64 on GPUs; 8 on CPUs, where large batches only add "
                             "page faults for their activations)")
    parser.add_argument("--group-size", type=int, default=8,
                        help="oracles sharing one decoded batch in a unit (default: %(default)s)")
    parser.add_argument("--loader-workers", type=int, default=-1,
                        help="decoding processes per GPU worker (default: 4 with CUDA, 0 on CPU)")
    parser.add_argument("--workers", type=int, default=0,
                        help="local worker processes (default: one per visible GPU, else 1)")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler; its GPU workers need "
                        "--resources GPU=1 and OUT on a shared filesystem")
    parser.add_argument("--pseudo-gt-score", type=float, default=0.5,
                        help="det/ins consistency: pristine detections at or above this score are the ground "
                             "truth (default: %(default)s)")
    parser.add_argument("--empty-gt-score", type=float, default=0.5,
                        help="empty ground truth: label 1 when no detection reaches this score (default: %(default)s)")
    parser.add_argument("--composite-weight", type=float, default=0.5,
                        help="composite = w * consistency + (1 - w) * accuracy (default: %(default)s)")
    parser.add_argument("--oracle-weights", type=Path, help="JSON {oracle: weight} for the weighted means "
                        "(default: uniform)")
    return parser


def describe_zoo() -> str:
    lines = [f"{'name':34s} {'task':4s} {'framework':11s} {'family':16s} weights"]
    for name in registry.names():
        spec = registry.get(name)
        lines.append(f"{name:34s} {spec.task:4s} {spec.framework:11s} {spec.family:16s} {spec.weights_id}")
    counts = {task: len(registry.names(task)) for task in ("cls", "det", "ins")}
    lines.append(f"{sum(counts.values())} oracles: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    return "\n".join(lines)


def groups(specs: list[OracleSpec], size: int) -> list[tuple[str, ...]]:
    """Oracles of one task and one input geometry, at most ``size`` together: one decode feeds them all."""
    by_key: dict[tuple, list[str]] = defaultdict(list)
    for spec in specs:
        key = (spec.task, spec.preprocess.geometry if spec.task == "cls" else "raw")
        by_key[key].append(spec.name)
    return [tuple(names[i : i + size]) for names in by_key.values() for i in range(0, len(names), size)]


def check_oracle_settings(layout: SubsetLayout, specs: list[OracleSpec], untrained: bool) -> None:
    for spec in specs:
        check_settings(layout.manifests / "oracles" / f"{spec.name}.json",
                       {"oracle": spec.name, "weights": spec.weights_id, "untrained": untrained})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(describe_zoo())
        return 0
    try:
        specs = registry.resolve(args.models)
    except (KeyError, ValueError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    if not args.untrained and not args.labels_only:
        try:
            resolve_weights(specs, args.weights_dir, allow_download=not args.offline)
        except MissingWeightsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    weights = json.loads(args.oracle_weights.read_text()) if args.oracle_weights else {}
    label_options = LabelOptions(args.pseudo_gt_score, args.empty_gt_score, args.composite_weight, weights)
    by_subset: dict[str, list[OracleSpec]] = defaultdict(list)
    for spec in specs:
        by_subset[SUBSET_OF_TASK[spec.task]].append(spec)
    status = 0
    for subset, subset_specs in by_subset.items():
        layout = SubsetLayout.of(args.out, subset)
        if not layout.settings_file.exists():
            print(f"error: {layout.root} has no generated images; run `python -m pipeline.generate --subset "
                  f"{subset}` first", file=sys.stderr)
            status = 2
            continue
        try:
            check_oracle_settings(layout, subset_specs, args.untrained)
        except SettingsMismatch as error:
            print(f"error: {error}", file=sys.stderr)
            status = 2
            continue
        status = max(status, score_subset(args, layout, subset_specs, label_options))
    return status


def score_subset(args: argparse.Namespace, layout: SubsetLayout, specs: list[OracleSpec],
                 label_options: LabelOptions) -> int:
    started = time.perf_counter()
    shards = sorted(layout.generation_store().committed_shards())
    annotations = json.loads(layout.run_file.read_text()).get("annotations") if layout.run_file.exists() else None
    units = []
    if not args.labels_only:
        for spec in specs:
            layout.prediction_store(spec.name, spec.task).repair()
        for group in groups(specs, args.group_size):
            stores = [layout.prediction_store(name, registry.get(name).task) for name in group]
            done = set.intersection(*(store.committed_shards() for store in stores))
            units += [ScoreUnit(shard, group) for shard in shards if shard not in done]
    tasks = sorted({spec.task for spec in specs})
    label_tasks = []
    label_settings = {}
    for task in tasks:
        names = tuple(s.name for s in specs if s.task == task)
        store = layout.label_store(task)
        store.repair()
        label_settings[task] = {"oracles": list(names), "options": label_options.to_dict()}
        recorded = store.root / "labels.json"
        changed = not recorded.exists() or json.loads(recorded.read_text()) != label_settings[task]
        stale = set(shards) if args.labels_only or changed else \
            {u.shard for u in units} | (set(shards) - store.committed_shards())
        label_tasks += [LabelTask(shard, task, names, label_options, annotations) for shard in sorted(stale)]
    print(f"{layout.root}: {len(shards)} shards, {len(specs)} oracles; {len(units)} scoring units and "
          f"{len(label_tasks)} label units to do", file=sys.stderr)
    if not units and not label_tasks:
        print("nothing to do: every shard is scored and labelled", file=sys.stderr)
        return 0
    gpus = torch.cuda.device_count() if args.device in (None, "cuda") else 0
    workers = args.workers or max(gpus, 1)
    options = ScoreOptions(
        device=args.device, weights_dir=str(args.weights_dir) if args.weights_dir else None,
        untrained=args.untrained, allow_download=not args.offline, batch_size=args.batch_size or (64 if gpus else 8),
        loader_workers=args.loader_workers if args.loader_workers >= 0 else (4 if gpus else 0),
    )
    resources = {"GPU": 1} if gpus else None
    crashed: list[str] = []
    threads = max(1, default_workers() // workers)  # on CPU, the model's threads share the cores
    with dask_client(args.scheduler, workers, resources=resources, threads=threads) as client:
        root = str(layout.root)
        bar = tqdm(total=len(units), unit="unit", desc="score", dynamic_ncols=True)

        def scored(unit: ScoreUnit, result: dict | None, error: BaseException | None) -> None:
            if error is not None:
                crashed.append(f"{unit.key}: {type(error).__name__}: {error}")
            bar.update(1)
            if result:
                bar.set_postfix_str(f"{result['images']} images/unit, {result['images'] / result['seconds']:.0f} img/s")

        run_bounded(client, units, lambda c, u: c.submit(score_unit, u, root, options, key=u.key, pure=False,
                                                         resources=resources), scored, 2 * workers)
        bar.close()
        labelled = {"images": 0}
        bar = tqdm(total=len(label_tasks), unit="shard", desc="labels", dynamic_ncols=True)

        def done(task: LabelTask, result: int | None, error: BaseException | None) -> None:
            if error is not None:
                crashed.append(f"labels {task.task} {task.shard}: {type(error).__name__}: {error}")
            else:
                labelled["images"] += result
            bar.update(1)

        run_bounded(client, label_tasks, lambda c, t: c.submit(label_shard, t, root, key=f"labels-{t.task}-{t.shard}",
                                                               pure=False), done, 4 * workers)
        bar.close()
    if not crashed:  # recorded once every shard carries labels made with them
        for task, settings in label_settings.items():
            write_json_atomic(layout.label_store(task).root / "labels.json", settings)
    print(f"done in {time.perf_counter() - started:.1f} s: {len(units) - len(crashed)} scoring units, "
          f"{labelled['images']} images labelled", file=sys.stderr)
    if crashed:
        print(f"{len(crashed)} units failed and were not committed; run the same command again:", file=sys.stderr)
        for line in crashed[:5]:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
