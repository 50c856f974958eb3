"""Generate a subset of the database: ``python -m pipeline.generate --subset cls|det [options]``.

Sources (in order of precedence): --source with --annotations (COCO), --source with an ImageNet val
folder (selection list / ground truth optional), any --source folder, or the built-in sample set when no
--source is given. Outputs go to OUT/miqa_<subset>/ in the release's layout, with Parquet manifests in
OUT/miqa_<subset>/manifests/. Running the same command again resumes: only what is missing is made.
"""

from __future__ import annotations

import argparse
import fcntl
import math
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from degradations import registry
from manifests import SettingsMismatch, check_settings
from manifests.settings import write_json_atomic
from pipeline import sources
from pipeline.cluster import dask_client, default_workers, run_bounded
from manifests.layout import SubsetLayout
from pipeline.plan import ShardTask, plan_generation
from pipeline.settings import GenerationSettings
from pipeline.shard_worker import ShardSummary, generate_shard


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", choices=("cls", "det"), required=True, help="cls (ImageNet-style) or det (COCO)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: %(default)s)")
    parser.add_argument("--source", type=Path, help="source image folder; default: the built-in sample set")
    parser.add_argument("--selection", type=Path,
                        help="cls: selection list in the release's format (Image Name, Category, Quality Score)")
    parser.add_argument("--ground-truth", type=Path,
                        help="cls: ground_truth_ilsvrc2012_val.txt (release) or the devkit's ground truth file")
    parser.add_argument("--devkit-meta", type=Path, help="cls: the devkit's meta.mat, for devkit ground truth")
    parser.add_argument("--bbox-dir", type=Path, help="cls: ImageNet val bounding-box XMLs (ROI from boxes)")
    parser.add_argument("--annotations", type=Path, help="det: COCO instances json (e.g. instances_val2017.json)")
    parser.add_argument("--labels", type=Path, help="plain folders: CSV of file name, class index")
    parser.add_argument("--mask-dir", type=Path, help="user ROI masks <id>_binary_mask.png (preferred when present)")
    parser.add_argument("--limit", type=int, help="only the first N sources of the list")
    parser.add_argument("--distortions", default="database",
                        help="'database' (the ten), 'all' or a comma-separated list (default: %(default)s)")
    parser.add_argument("--option", action="append", default=[], metavar="TYPE.OPTION=VALUE",
                        help="distortion option, e.g. motion_blur.backend=wand (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="local worker processes (default: one per core, %(default)s)")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:8786); "
                        "OUT must then be on a filesystem every worker sees")
    parser.add_argument("--shard-size", type=int,
                        help="sources per unit of work (default: up to 8, fewer for short lists so that every "
                             "worker gets work; it depends on the listed sources only, never on the workers)")
    parser.add_argument("--retry-failed", action="store_true", help="redo the items that failed before, only those")
    return parser


def resolve_sources(args: argparse.Namespace) -> tuple[list[Any], Path | None]:
    """The source records and, for COCO, the annotation file the masks come from."""
    if args.source is None:
        records, annotations = sources.sample_sources(args.subset)
        return records, annotations if args.subset == "det" else None
    if args.annotations is not None:
        return sources.read_coco(args.source, args.annotations), args.annotations
    if args.selection or args.ground_truth or any(args.source.glob("ILSVRC2012_val_*")):
        records = sources.read_imagenet_val(args.source, selection=args.selection, ground_truth=args.ground_truth,
                                            devkit_meta=args.devkit_meta, bbox_dir=args.bbox_dir)
        return records, None
    return sources.read_folder(args.source, labels=args.labels), None


def default_shard_size(listed: int) -> int:
    """Up to 8 sources a shard, at least ~32 shards for short lists; fixed by the list, so a resume of
    the same command regroups its remaining sources exactly as the first run did."""
    return max(1, min(8, math.ceil(listed / 32)))


class Progress:
    """A bar over images with sources and failures alongside; the summary at the end."""

    def __init__(self, plan_images: int, plan_sources: int) -> None:
        self.bar = tqdm(total=plan_images, unit="img", desc="generate", dynamic_ncols=True, smoothing=0.05)
        self.plan_sources = plan_sources
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.crashed: list[str] = []

    def update(self, task: ShardTask, summary: ShardSummary | None, error: BaseException | None) -> None:
        if summary is None:
            self.crashed.append(f"{task.shard}: {type(error).__name__}: {error}")
            self.counts["sources_crashed"] += len(task.sources)
        else:
            self.counts.update(sources_ok=summary.sources_ok, sources_failed=summary.sources_failed,
                               images_ok=summary.images_ok, images_failed=summary.images_failed)
            self.errors.update(e.split(": ", 1)[-1] for e in summary.errors)
            for line in summary.errors:
                tqdm.write(f"failed: {line}", file=sys.stderr)
        self.bar.update(task.image_count)
        done = self.counts["sources_ok"] + self.counts["sources_failed"]
        self.bar.set_postfix_str(f"sources {done}/{self.plan_sources}, failed {self.counts['sources_failed']}"
                                 f" sources + {self.counts['images_failed']} images")

    def close(self) -> None:
        self.bar.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        distortions = registry.select(args.distortions)
        options = registry.parse_options(args.option)
    except (KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        records, annotations = resolve_sources(args)
    except sources.SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.limit is not None:
        records = records[: args.limit]
    settings = GenerationSettings(subset=args.subset, seed=args.seed, distortions=distortions, options=options,
                                  mask_dir=args.mask_dir, annotations=annotations, bbox_dir=args.bbox_dir)
    layout = SubsetLayout.of(args.out, args.subset)
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.lock_file, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"error: another run is writing {layout.root}", file=sys.stderr)
            return 2
        try:
            check_settings(layout.settings_file, settings.fingerprint())
        except SettingsMismatch as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return run(args, settings, records, layout)


def run(args: argparse.Namespace, settings: GenerationSettings, records: list[Any], layout: SubsetLayout) -> int:
    started = time.perf_counter()
    store = layout.generation_store()
    repaired = store.repair()
    shutil.rmtree(layout.staging, ignore_errors=True)
    shard_size = args.shard_size or default_shard_size(len(records))
    plan = plan_generation(records, store, settings.distortions, shard_size, args.retry_failed)
    write_json_atomic(layout.run_file, settings.to_dict())
    write_json_atomic(layout.plan_file, {"listed_sources": len(records), "images_per_source":
                                         25 * len(settings.distortions)})
    print(f"{layout.root}: {len(records)} sources listed, {plan.done_sources} already done, "
          f"{plan.source_count} to do in {len(plan.tasks)} shards"
          + (f" (removed {len(repaired)} parts of an interrupted run)" if repaired else ""), file=sys.stderr)
    if not plan.tasks:
        left = plan.failed_sources + plan.failed_images
        hint = f"; {plan.failed_sources} failed sources and {plan.failed_images} failed images remain " \
               "(--retry-failed redoes them)" if left else ""
        print(f"nothing to do: every listed source is done{hint}", file=sys.stderr)
        return 0
    progress = Progress(plan.image_count, plan.source_count)
    root = str(layout.root)
    with dask_client(args.scheduler, args.workers) as client:
        window = 2 * max(1, sum(client.nthreads().values()))
        run_bounded(
            client, plan.tasks,
            lambda c, task: c.submit(generate_shard, task, settings, root, key=f"generate-{task.shard}", pure=False),
            progress.update, window,
        )
    progress.close()
    counts = progress.counts
    print(f"done in {time.perf_counter() - started:.1f} s: sources {counts['sources_ok']} ok, "
          f"{counts['sources_failed']} failed, {plan.done_sources} skipped (already done); images "
          f"{counts['images_ok']} ok, {counts['images_failed']} failed", file=sys.stderr)
    for reason, count in progress.errors.most_common(5):
        print(f"  {count} x {reason}", file=sys.stderr)
    if progress.crashed:
        print(f"{len(progress.crashed)} shards crashed and were not committed; run the same command again "
              "to resume:", file=sys.stderr)
        for line in progress.crashed[:5]:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
