"""Generate a subset of the database: ``python -m pipeline.generate --subset cls|det [options]``.

Sources (in order of precedence): --source with --annotations (COCO); --source with ImageNet val options
(--selection, --ground-truth, --devkit-meta, --bbox-dir), or a folder whose images are all ILSVRC2012_val_*
files; any --source folder (optional --labels CSV); the built-in sample set when no --source is given. Outputs
go to OUT/miqa_<subset>/ in the release's layout, with Parquet manifests in OUT/miqa_<subset>/manifests/.

Running the same command again resumes: only what is missing is made. A database grows in place: more sources,
or more distortion types (--distortions with the existing types and new ones) make only what is new.

Exit codes: 0 all done; 1 some sources or images failed (see the summary; --retry-failed redoes them) or some
shards crashed (run again); 2 usage or settings that cannot change in place; 3 environment (unreachable
--scheduler, unwritable OUT); 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pipeline.cli import database_lock, request_from, run_stage_command, say
from pipeline.driver import Execution, Session, StageResult, default_workers
from pipeline.errors import EXIT_ITEMS_FAILED, EXIT_OK, EnvironmentProblem, UsageError


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate; every field is a command-line option of the same name."""

    subset: str = "cls"
    out: Path = Path("out")
    source: Path | None = None  # None: the built-in sample set
    selection: Path | None = None
    ground_truth: Path | None = None
    devkit_meta: Path | None = None
    bbox_dir: Path | None = None
    annotations: Path | None = None
    labels: Path | None = None
    mask_dir: Path | None = None
    resize_masks: bool = False
    mask_default: str | None = None  # None: masks.DEFAULT; the method for sources with nothing better
    mask_device: str | None = None  # for the model-based mask methods (None: CUDA when visible)
    mask_options: tuple[str, ...] = ()  # METHOD.FIELD=VALUE for the default method (dino.threshold=0.1)
    weights_dir: Path | None = None  # mask models' weights (DINO), searched first
    offline: bool = False
    limit: int | None = None
    distortions: str | None = None  # None: the database's types (the ten for a new database)
    options: tuple[str, ...] = ()  # TYPE.OPTION=VALUE
    seed: int = 0
    shard_size: int | None = None
    retry_failed: bool = False


@dataclass
class GenerateReport:
    """What a generate run did and what it noticed."""

    root: Path
    listed: int = 0
    done_before: int = 0
    failed_left: int = 0  # failed sources not retried
    failed_images_left: int = 0
    result: StageResult = field(default_factory=lambda: StageResult("generate"))
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        failed = self.result.counts.get("sources_failed", 0) + self.result.items_failed + self.failed_left \
            + self.failed_images_left
        return EXIT_ITEMS_FAILED if failed or self.result.crashed else EXIT_OK


def _is_imagenet_folder(folder: Path) -> bool:
    from pipeline.sources import IMAGE_EXTENSIONS
    from pipeline.sources.imagenet import VAL_NAME

    names = [p.name for p in folder.iterdir() if p.name.lower().endswith(IMAGE_EXTENSIONS)]
    return bool(names) and all(VAL_NAME.match(name) for name in names)


def resolve_sources(request: GenerateRequest) -> tuple[list[Any], Path | None, list[str]]:
    """The source records, the COCO annotation file (det), and notes on how the sources were read."""
    from pipeline import sources

    notes: list[str] = []
    imagenet_options = request.selection or request.ground_truth or request.devkit_meta or request.bbox_dir
    if request.source is None:
        records, annotations = sources.sample_sources(request.subset)
        return records, annotations if request.subset == "det" else None, ["sources: the built-in sample set"]
    if not request.source.is_dir():
        raise UsageError(f"--source {request.source} is not a folder")
    if request.annotations is not None:
        return sources.read_coco(request.source, request.annotations), request.annotations, notes
    if imagenet_options or (request.labels is None and _is_imagenet_folder(request.source)):
        if not imagenet_options:
            notes.append("sources: every image is an ILSVRC2012_val_* file, read as ImageNet val (give "
                         "--ground-truth for their classes)")
        records = sources.read_imagenet_val(request.source, selection=request.selection,
                                            ground_truth=request.ground_truth, devkit_meta=request.devkit_meta,
                                            bbox_dir=request.bbox_dir)
        return records, None, notes
    records = sources.read_folder(request.source, labels=request.labels)
    if request.subset == "cls":
        unlabelled = sum(r.ok and r.label is None for r in records)
        if request.labels is None:
            notes.append("labels: no --labels CSV, so accuracy labels will be undefined (consistency only)")
        elif unlabelled:
            notes.append(f"labels: {unlabelled} of {len(records)} images have no class in {request.labels.name}; "
                         "their accuracy labels will be undefined")
    if request.mask_dir is None:
        notes.append("masks: no --mask-dir, so every source gets the default mask method; look at them in "
                     "OUT/miqa_<subset>/masks/")
    return records, None, notes


def default_shard_size(listed: int) -> int:
    """Up to 8 sources a shard, at least ~32 shards for short lists; fixed by the list, so a resume of
    the same command regroups its remaining sources exactly as the first run did."""
    return max(1, min(8, math.ceil(listed / 32)))


def mask_settings(request: GenerateRequest) -> tuple[str, Any]:
    """(default method, masks.MaskSettings) of the request; UsageError for an unknown method."""
    import masks

    name = request.mask_default or masks.DEFAULT
    if name not in masks.DEFAULT_METHODS:
        raise UsageError(f"--mask-default {name!r} is not a mask method; known: {', '.join(masks.DEFAULT_METHODS)}")
    models = masks.ModelOptions(device=request.mask_device, weights_dir=request.weights_dir,
                                allow_download=not request.offline)
    try:
        return name, masks.with_options(masks.MaskSettings(models=models), request.mask_options, name)
    except ValueError as error:
        raise UsageError(str(error)) from None


def database_settings(request: GenerateRequest, annotations: Path | None, existing: dict | None):
    """The settings this request asks for, applied to the existing database (UsageError if they clash)."""
    from degradations import registry
    from masks import method_fingerprint
    from pipeline.settings import DatabaseSettings, MaskSettings, file_sha256

    try:
        options = registry.parse_options(list(request.options))
        if request.distortions is None:
            names = list(existing["distortions"]) if existing else registry.names(database_only=True)
        else:
            names = list(registry.select(request.distortions))
    except (KeyError, ValueError) as error:
        raise UsageError(str(error.args[0] if error.args else error)) from None
    if existing and request.distortions is not None:
        dropped = [name for name in existing["distortions"] if name not in names]
        if dropped:
            raise UsageError(f"the database already has {', '.join(dropped)}: its types can only grow; pass them "
                             "too (e.g. --distortions database,NEW), leave out --distortions, or use another --out")
    unknown = set(options) - set(names) - set(existing["distortions"] if existing else ())
    if unknown:
        raise UsageError(f"--option for {', '.join(sorted(unknown))}, which this run does not make")
    types = {name: options.get(name, {}) for name in names}
    default, settings = mask_settings(request)
    mask = MaskSettings(user_masks=request.mask_dir is not None, annotations_sha256=file_sha256(annotations),
                        bbox_xmls=request.bbox_dir is not None, default=method_fingerprint(default, settings),
                        resize_masks=request.resize_masks)
    labels = file_sha256(request.labels) if request.labels else None
    wanted = DatabaseSettings(request.subset, request.seed, types, mask, labels)
    return wanted.extended(existing)


def generate(request: GenerateRequest, execution: Execution = Execution()) -> GenerateReport:
    """Make (or complete, or grow) one subset; returns what was done. Raises UsageError / EnvironmentProblem."""
    from manifests.layout import SubsetLayout
    from manifests.settings import write_json_atomic
    from pipeline.generation_plan import plan_generation
    from pipeline.generation_unit import GenerationStage
    from pipeline.settings import recorded_settings
    from pipeline.sources import SourceError

    if request.subset not in ("cls", "det"):
        raise UsageError(f"--subset must be cls or det, got {request.subset!r}")
    if request.limit is not None and request.limit < 0 or request.shard_size is not None and request.shard_size < 1:
        raise UsageError("--limit must be >= 0 and --shard-size >= 1")
    try:
        records, annotations, notes = resolve_sources(request)
    except SourceError as error:
        raise UsageError(str(error)) from None
    if request.limit is not None:
        records = records[: request.limit]
    layout = SubsetLayout.of(request.out, request.subset)
    settings = database_settings(request, annotations, recorded_settings(layout.settings_file))
    mask_default, masks_settings = mask_settings(request)
    _prepare_masks(mask_default, masks_settings)
    if request.mask_dir is not None:
        notes += _mask_dir_notes(request.mask_dir, [r.source_id for r in records if r.ok])
    report = GenerateReport(layout.root, listed=len(records), notes=notes)
    with Session(execution, workers=default_workers()) as session, database_lock(layout.root):
        write_json_atomic(layout.settings_file, settings.fingerprint())
        write_json_atomic(layout.run_file, _run_record(request, annotations))
        store = layout.generation_store()
        repaired = store.repair()
        _clear_staging(layout.staging)
        shard_size = request.shard_size or default_shard_size(len(records))
        plan = plan_generation(records, store, settings.types, shard_size, layout.src_images, request.retry_failed)
        write_json_atomic(layout.plan_file, {"listed_sources": len(records),
                                             "images_per_source": 25 * len(settings.types)})
        report.done_before, report.failed_left, report.failed_images_left = (
            plan.done_sources, plan.failed_sources, plan.failed_images)
        if execution.progress:
            for note in notes:
                say(note)
            say(f"{layout.root}: {len(records)} sources listed, {len(settings.types)} types; {plan.done_sources} "
                f"done, {plan.new_sources} new, {plan.grown_sources} getting new types, {plan.retried_sources} "
                f"retried: {len(plan.tasks)} shards, {plan.image_count} images"
                + (f" (removed {len(repaired)} parts of an interrupted run)" if repaired else ""))
        stage = GenerationStage(settings, str(layout.root), str(request.mask_dir) if request.mask_dir else None,
                                str(annotations) if annotations else None, mask_default, masks_settings)
        report.result = session.run(stage, plan.tasks, describe=_describe)
    return report


def _prepare_masks(name: str, settings: Any) -> None:
    """Find (or download) the default mask method's weights before anything is written."""
    from masks import prepare_method
    from oracles.weights import MissingWeightsError

    try:
        prepare_method(name, settings)
    except MissingWeightsError as error:
        raise EnvironmentProblem(f"mask method {name}: {error}") from None


def _mask_dir_notes(mask_dir: Path, source_ids: list[str]) -> list[str]:
    from pipeline.masks import check_mask_dir

    if not mask_dir.is_dir():
        raise UsageError(f"--mask-dir {mask_dir} is not a folder")
    return [f"masks: {line}" for line in check_mask_dir(mask_dir, source_ids).lines()]


def _run_record(request: GenerateRequest, annotations: Path | None) -> dict[str, Any]:
    """The last run's request with its paths (what later stages read: the annotations file); not OUT itself,
    so that a database can move."""
    record = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(request).items() if k != "out"}
    record["annotations"] = str(Path(annotations).resolve()) if annotations else None
    return record


def _clear_staging(staging: Path) -> None:
    import shutil

    shutil.rmtree(staging, ignore_errors=True)


def _describe(result: StageResult) -> str:
    counts = result.counts
    return (f"sources {counts.get('sources_ok', 0)} ok, {counts.get('sources_failed', 0)} failed; "
            f"{result.items_failed} images failed")


def summary_lines(report: GenerateReport) -> list[str]:
    """The end-of-run summary: counts, masks per method and flag, top failure reasons, what to do next."""
    result, counts = report.result, report.result.counts
    if not result.units and not result.crashed:
        left = report.failed_left + report.failed_images_left
        hint = (f"; {report.failed_left} failed sources and {report.failed_images_left} failed images remain "
                "(--retry-failed redoes them)") if left else ""
        return [f"nothing to do: every listed source has every type{hint}"]
    lines = [f"done in {result.seconds:.1f} s: sources {counts.get('sources_ok', 0)} ok, "
             f"{counts.get('sources_failed', 0)} failed, {report.done_before} already done; images "
             f"{result.items_ok} ok, {result.items_failed} failed"]
    fallbacks = {k.split(":", 1)[1]: n for k, n in counts.items() if k.startswith("mask_fallback:")}
    methods = sorted((k.split(":", 1)[1] + (f" ({fallbacks[k.split(':', 1)[1]]} as fallback: nothing better)"
                                            if k.split(":", 1)[1] in fallbacks else ""), n)
                     for k, n in counts.items() if k.startswith("mask_method:"))
    flags = sorted((k.split(":", 1)[1], n) for k, n in counts.items() if k.startswith("mask_flag:") and
                   not k.endswith(":ok"))
    if methods:
        lines.append("masks: " + ", ".join(f"{n} {method}" for method, n in methods)
                     + ("; flagged: " + ", ".join(f"{n} {flag}" for flag, n in flags) if flags else ""))
    for reason, count in result.errors.most_common(5):
        lines.append(f"  {count} x {reason}")
    if counts.get("sources_failed") or result.items_failed:
        lines.append("failed items are recorded with their reasons; fix them, then run again with --retry-failed")
    if result.crashed:
        lines.append(f"{len(result.crashed)} shards crashed and were not committed; run the same command again:")
        lines += [f"  {line}" for line in result.crashed[:5]]
    return lines


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
    parser.add_argument("--labels", type=Path,
                        help="plain folders: CSV of 'file name, class' (class: index 0..999, WordNet id or name)")
    parser.add_argument("--mask-dir", type=Path, help="user ROI masks <id>_binary_mask.png (preferred when present)")
    parser.add_argument("--resize-masks", action="store_true",
                        help="resize user masks of another size than their image (default: such a source fails)")
    parser.add_argument("--mask-default", help="mask method for sources without a user mask, COCO instances or "
                        "boxes: lite-contrast (default), saliency, lite-cam, dino (the release's; needs weights)")
    parser.add_argument("--mask-option", action="append", default=[], metavar="METHOD.FIELD=VALUE",
                        help="a parameter of the mask method, e.g. dino.threshold=0.1, dino.heads=0,2,4,5, "
                        "saliency.refine.iterations=3 (repeatable; part of the database's settings)")
    parser.add_argument("--mask-device", help="device of the mask models: cpu, cuda ... (default: CUDA when visible)")
    parser.add_argument("--weights-dir", type=Path, help="folder holding the mask models' weight files (searched first)")
    parser.add_argument("--offline", action="store_true", help="never download weights")
    parser.add_argument("--limit", type=int, help="only the first N sources of the list")
    parser.add_argument("--distortions",
                        help="'database' (the ten), 'all', names, or a mix (database,spatter); default: the "
                             "database's types, the ten for a new one. Adding types grows the database in place")
    parser.add_argument("--option", action="append", default=[], metavar="TYPE.OPTION=VALUE",
                        help="distortion option, e.g. motion_blur.backend=wand (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default: %(default)s)")
    parser.add_argument("--workers", type=int, help=f"local worker processes (default: one per core, "
                                                    f"{default_workers()})")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://host:8786); "
                        "OUT must then be on a filesystem every worker sees")
    parser.add_argument("--shard-size", type=int,
                        help="sources per unit of work (default: up to 8, fewer for short lists so that every "
                             "worker gets work; it depends on the listed sources only, never on the workers)")
    parser.add_argument("--retry-failed", action="store_true", help="redo the items that failed before, only those")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    request = request_from(GenerateRequest, args, options=tuple(args.option), mask_options=tuple(args.mask_option))
    return run_stage_command(args, generate, request, summary_lines)


if __name__ == "__main__":
    raise SystemExit(main())
