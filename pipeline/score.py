"""Label the database with oracle models: ``python -m pipeline.score --models cls|det|ins|offline|NAMES``.

Runs each selected oracle over the pristine sources and degraded images that generation finished (cls
oracles on OUT/miqa_cls, det and ins oracles on OUT/miqa_det), keeps every raw prediction in
manifests/predictions/<oracle>/, then computes per-oracle consistency / accuracy and the aggregated MMOS
labels per image in manifests/labels/<task>/. Running the same command again resumes; scoring new oracles
scores only them; a database that grew gets only its new images scored.

Label membership: a task's labels aggregate one recorded set of oracles (shown by pipeline.status): by default
every oracle of the task scored on every shard, growing as more are scored and never shrinking; or the set
given by --label-oracles. A shard whose predictions are incomplete for the set is pending (no labels) until
they are complete.

Exit codes: 0 all done; 1 some predictions failed (--retry-failed redoes them), units crashed (run again) or
label shards are pending; 2 usage; 3 environment (missing weights offline, unreachable --scheduler,
unwritable OUT); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pipeline.cli import database_lock, request_from, run_stage_command, say
from pipeline.driver import Execution, Session, StageResult
from pipeline.errors import EXIT_ITEMS_FAILED, EXIT_OK, EnvironmentProblem, UsageError
from pipeline.labels import SUBSET_OF_TASK


@dataclass(frozen=True)
class ScoreRequest:
    """What to score and how to label; every field is a command-line option of the same name."""

    out: Path = Path("out")
    models: str = "offline"
    weights_dir: Path | None = None
    offline: bool = False
    untrained: bool = False
    labels_only: bool = False
    retry_failed: bool = False
    device: str | None = None
    batch_size: int | None = None
    group_size: int = 8
    loader_workers: int | None = None
    pseudo_gt_score: float = 0.5
    empty_gt_score: float = 0.5
    composite_weight: float = 0.5
    oracle_weights: Path | None = None  # JSON {oracle: weight}
    label_oracles: str | None = None  # None: as recorded (auto for a new task); "auto"; or names
    annotations: Path | None = None  # det/ins ground truth for accuracy (default: the one generation used)


@dataclass
class TaskReport:
    task: str
    members: list[str] = field(default_factory=list)
    selection: str = "auto"
    result: StageResult = field(default_factory=lambda: StageResult("labels"))
    pending: dict[str, list[str]] = field(default_factory=dict)  # shard -> members lacking predictions
    without_pristine: list[str] = field(default_factory=list)  # sources whose consistency is undefined


@dataclass
class SubsetReport:
    root: Path
    scoring: StageResult = field(default_factory=lambda: StageResult("score"))
    failed_left: int = 0  # failed prediction rows not retried
    tasks: list[TaskReport] = field(default_factory=list)


@dataclass
class ScoreReport:
    subsets: list[SubsetReport] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        for subset in self.subsets:
            if subset.scoring.items_failed or subset.scoring.crashed or subset.failed_left:
                return EXIT_ITEMS_FAILED
            if any(t.pending or t.result.crashed for t in subset.tasks):
                return EXIT_ITEMS_FAILED
        return EXIT_OK


# --- the oracle zoo ------------------------------------------------------------------------------------------


def describe_zoo(weights_dir: Path | None = None) -> str:
    """One line per oracle: task, framework, weights id, and whether its file is on this machine (where)."""
    from oracles import registry
    from oracles.weights import download_target, find_weights

    lines = [f"{'name':38s} {'task':4s} {'framework':11s} {'weights':44s} file"]
    present = 0
    for name in registry.names():
        spec = registry.get(name)
        found = find_weights(spec, weights_dir)
        present += found is not None
        where = f"present: {found}" if found else f"missing (looked up in --weights-dir, caches; goes to " \
                                                   f"{download_target(spec, weights_dir)})"
        lines.append(f"{name:38s} {spec.task:4s} {spec.framework:11s} {spec.weights_id:44s} {where}")
    counts = {task: len(registry.names(task)) for task in ("cls", "det", "ins")}
    lines.append(f"{sum(counts.values())} oracles ({', '.join(f'{n} {t}' for t, n in counts.items())}), "
                 f"{present} with weights on this machine; presets: {', '.join(registry.PRESETS)}")
    return "\n".join(lines)


def _specs(request: ScoreRequest) -> list[Any]:
    from oracles import registry

    try:
        return registry.resolve(request.models)
    except (KeyError, ValueError) as error:
        raise UsageError(error.args[0]) from None


def _label_options(request: ScoreRequest) -> Any:
    from oracles.labels.mmos import LabelOptions

    weights: dict[str, float] = {}
    if request.oracle_weights is not None:
        try:
            weights = json.loads(request.oracle_weights.read_text())
            if not isinstance(weights, dict) or not all(isinstance(v, (int, float)) for v in weights.values()):
                raise ValueError("expected a JSON object {oracle: number}")
        except (OSError, ValueError) as error:
            raise UsageError(f"--oracle-weights {request.oracle_weights}: {error}") from None
    for name, value in (("pseudo-gt-score", request.pseudo_gt_score), ("empty-gt-score", request.empty_gt_score),
                        ("composite-weight", request.composite_weight)):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--{name} must lie in [0, 1], got {value}")
    return LabelOptions(request.pseudo_gt_score, request.empty_gt_score, request.composite_weight, weights)


def _registry_order(names: Sequence[str]) -> list[str]:
    from oracles import registry

    known = registry.names()
    return sorted(set(names), key=lambda n: (known.index(n) if n in known else len(known), n))


# --- planning ------------------------------------------------------------------------------------------------


def _groups(specs: list[Any], size: int) -> list[tuple[str, ...]]:
    """Oracles of one task and one input geometry, at most ``size`` together: one decode feeds them all."""
    by_key: dict[tuple, list[str]] = {}
    for spec in specs:
        key = (spec.task, spec.preprocess.geometry if spec.task == "cls" else "raw")
        by_key.setdefault(key, []).append(spec.name)
    return [tuple(names[i : i + size]) for names in by_key.values() for i in range(0, len(names), size)]


def plan_scoring(layout: Any, specs: list[Any], generation: dict[str, str], group_size: int, retry: bool,
                 ) -> tuple[list[Any], int]:
    """Units for every (group, shard) where an oracle's part is missing, stale (the shard grew) or, when
    retrying, holds failed rows; and the failed rows left alone."""
    from pipeline.scoring_unit import ScoreUnit
    from pipeline.shards import items_per_shard

    metadata = {spec.name: layout.prediction_store(spec.name, spec.task).part_metadata() for spec in specs}
    units, failed_left = [], 0
    images_per_shard = items_per_shard(layout)
    for group in _groups(specs, group_size):
        for shard, digest in sorted(generation.items()):
            need = []
            for name in group:
                meta = metadata[name].get(shard)
                failed = int(meta.get("failed", "1")) if meta else 0  # a legacy part may hold failures
                if meta is None or meta.get("input") != digest or (retry and failed):
                    need.append(name)
                elif failed:
                    failed_left += int(meta.get("failed", "0"))
            if need:
                units.append(ScoreUnit(shard, tuple(need), retry, images_per_shard.get(shard, 1)))
    return units, failed_left


def _recorded_labels(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    members = data.get("oracles", [])
    data["oracles"] = [m if isinstance(m, dict) else {"name": m, "untrained": None} for m in members]
    return data


def choose_members(task: str, request: ScoreRequest, recorded: dict[str, Any] | None, complete: list[str],
                   ) -> tuple[list[str], str]:
    """(members, selection) of a task's labels: explicit names, or auto (recorded members and every oracle
    complete on all shards)."""
    from oracles import registry

    previous = [m["name"] for m in recorded["oracles"]] if recorded else []
    choice = request.label_oracles
    if choice and choice != "auto":
        try:
            named = [s.name for s in registry.resolve(choice) if s.task == task]
        except (KeyError, ValueError) as error:
            raise UsageError(f"--label-oracles: {error.args[0]}") from None
        if named:
            return _registry_order(named), "explicit"
    if choice is None and recorded and recorded.get("selection") == "explicit":
        return previous, "explicit"
    return _registry_order(previous + complete), "auto"


def _annotations(layout: Any, request: ScoreRequest, recorded: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(path, sha256) of the COCO ground truth behind det/ins accuracy, checked against what was recorded."""
    from pipeline.settings import file_sha256, recorded_settings

    if request.annotations is not None:
        if not request.annotations.is_file():
            raise UsageError(f"--annotations {request.annotations} is not a file")
        return str(request.annotations.resolve()), file_sha256(request.annotations)
    if recorded and recorded.get("annotations"):
        path, sha = recorded["annotations"]["path"], recorded["annotations"]["sha256"]
    else:
        run = json.loads(layout.run_file.read_text()) if layout.run_file.exists() else {}
        path = run.get("annotations")
        sha = (recorded_settings(layout.settings_file) or {}).get("mask", {}).get("coco_annotations")
    if path is None:
        return None, None
    if not Path(path).is_file():
        raise UsageError(f"the COCO annotations {path} behind the accuracy labels are gone; pass --annotations FILE")
    now = file_sha256(Path(path))
    if isinstance(sha, str) and sha != now:
        raise UsageError(f"the COCO annotations {path} changed since the labels were made (sha256 {sha[:12]}... "
                         f"-> {now[:12]}...); to relabel accuracy against the new file run `python -m "
                         f"pipeline.score --labels-only --annotations {path}`, else restore the old file")
    return path, now


def plan_labels(layout: Any, task: str, request: ScoreRequest, options: Any, generation: dict[str, str],
                ) -> tuple[Any, list[Any], dict[str, list[str]], dict[str, Any]]:
    """(spec, units, pending shards, record to write) of one task's labels."""
    from pipeline.labels import LabelSpec, LabelUnit

    label_dir = layout.manifests / "labels" / task
    recorded = _recorded_labels(label_dir / "labels.json")
    predictions = layout.manifests / "predictions"
    scored = [p.name for p in predictions.iterdir() if p.is_dir()] if predictions.is_dir() else []
    task_oracles = [name for name in scored if _task_of(layout, name) == task]
    metadata = {name: layout.prediction_store(name, task).part_metadata() for name in task_oracles}
    complete = [name for name in task_oracles
                if all(metadata[name].get(s, {}).get("input") == d for s, d in generation.items())]
    members, selection = choose_members(task, request, recorded, complete)
    for name in members:
        metadata.setdefault(name, layout.prediction_store(name, task).part_metadata())
    path, sha = _annotations(layout, request, recorded) if task != "cls" else (None, None)
    spec = LabelSpec(task, tuple(members), options, path, sha)
    store = layout.label_store(task)
    label_meta = store.part_metadata()
    units, pending = [], {}
    for shard, digest in sorted(generation.items()):
        missing = [m for m in members if metadata[m].get(shard, {}).get("input") != digest]
        if missing or not members:
            pending[shard] = missing
            continue
        wanted = spec.input_digest(digest, [metadata[m][shard].get("content", "") for m in members])
        if label_meta.get(shard, {}).get("input") != wanted:
            units.append(LabelUnit(shard, wanted))
    record = {"oracles": [{"name": m, "untrained": _untrained(layout, m)} for m in members], "selection": selection,
              "options": options.to_dict(), "annotations": {"path": path, "sha256": sha} if path else None}
    return spec, units, pending, record


def _oracle_record(layout: Any, name: str) -> dict[str, Any]:
    path = layout.manifests / "oracles" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _task_of(layout: Any, name: str) -> str | None:
    from oracles import registry

    recorded = _oracle_record(layout, name).get("task")
    if recorded:
        return recorded
    return registry.REGISTRY[name].task if name in registry.REGISTRY else None


def _untrained(layout: Any, name: str) -> bool | None:
    return _oracle_record(layout, name).get("untrained")


def _check_oracles(layout: Any, specs: list[Any], untrained: bool) -> None:
    """The weights an oracle scored a database with never change (trained and untrained never mix)."""
    from manifests import SettingsMismatch
    from manifests.settings import settings_differences

    for spec in specs:
        path = layout.manifests / "oracles" / f"{spec.name}.json"
        wanted = {"oracle": spec.name, "weights": spec.weights_id, "untrained": untrained, "task": spec.task}
        if path.exists():
            existing = json.loads(path.read_text())
            existing.setdefault("task", spec.task)
            differences = settings_differences(existing, wanted)
            if differences:
                raise UsageError(str(SettingsMismatch(
                    f"{layout.root}: {spec.name} scored this database with other settings ("
                    + "; ".join(differences) + "); use another --out, or the same weights")))


# --- running -------------------------------------------------------------------------------------------------


def score(request: ScoreRequest, execution: Execution = Execution()) -> ScoreReport:
    """Score and label; returns what was done. Raises UsageError / EnvironmentProblem."""
    from manifests.layout import SubsetLayout

    specs = _specs(request)
    options = _label_options(request)
    if request.batch_size is not None and request.batch_size < 1 or request.group_size < 1:
        raise UsageError("--batch-size and --group-size must be >= 1")
    by_subset: dict[str, list[Any]] = {}
    for spec in specs:
        by_subset.setdefault(SUBSET_OF_TASK[spec.task], []).append(spec)
    layouts = {subset: SubsetLayout.of(request.out, subset) for subset in by_subset}
    for subset, layout in layouts.items():
        if not layout.settings_file.exists():
            raise UsageError(f"{layout.root} has no generated images; run `python -m pipeline.generate --subset "
                             f"{subset} --out {request.out}` first")
        if not request.labels_only:
            _check_oracles(layout, by_subset[subset], request.untrained)
    if not request.untrained and not request.labels_only:
        from oracles.weights import MissingWeightsError, resolve_weights

        try:
            resolve_weights(specs, request.weights_dir, allow_download=not request.offline)
        except MissingWeightsError as error:
            raise EnvironmentProblem(str(error)) from None
    scoring = _scoring_options(request)
    gpus = scoring.pop("gpus")
    workers = max(gpus, 1)
    report = ScoreReport()
    with Session(execution, workers=workers, resources={"GPU": 1} if gpus else None,
                 threads=max(1, _cores() // (execution.workers or workers))) as session:
        for subset, subset_specs in by_subset.items():
            report.subsets.append(_score_subset(session, layouts[subset], subset_specs, request, options, scoring,
                                                bool(gpus), execution))
    return report


def _cores() -> int:
    from pipeline.driver import default_workers

    return default_workers()


def _scoring_options(request: ScoreRequest) -> dict[str, Any]:
    gpus = 0
    if request.device in (None, "cuda") and not request.labels_only:
        import torch

        gpus = torch.cuda.device_count()
    return {"gpus": gpus, "device": request.device,
            "weights_dir": str(request.weights_dir) if request.weights_dir else None,
            "untrained": request.untrained, "allow_download": not request.offline,
            "batch_size": request.batch_size or (64 if gpus else 8),
            "loader_workers": request.loader_workers if request.loader_workers is not None else (4 if gpus else 0)}


def _score_subset(session: Session, layout: Any, specs: list[Any], request: ScoreRequest, options: Any,
                  scoring: dict[str, Any], on_gpus: bool, execution: Execution) -> SubsetReport:
    from manifests.settings import write_json_atomic
    from pipeline.scoring_unit import ScoreOptions, ScoringStage
    from pipeline.shards import generation_digests

    report = SubsetReport(layout.root)
    with database_lock(layout.root):
        generation = generation_digests(layout)
        if not request.labels_only:
            for spec in specs:
                write_json_atomic(layout.manifests / "oracles" / f"{spec.name}.json",
                                  {"oracle": spec.name, "weights": spec.weights_id, "untrained": request.untrained,
                                   "task": spec.task})
                layout.prediction_store(spec.name, spec.task).repair()
            units, report.failed_left = plan_scoring(layout, specs, generation, request.group_size,
                                                     request.retry_failed)
            if execution.progress:
                say(f"{layout.root}: {len(generation)} shards, {len(specs)} oracles: {len(units)} scoring units")
            stage = ScoringStage(str(layout.root), ScoreOptions(**scoring))
            report.scoring = session.run(stage, units, resources={"GPU": 1} if on_gpus else None,
                                         describe=lambda r: f"{r.items_failed} failed")
        for task in sorted({spec.task for spec in specs}):
            report.tasks.append(_label_task(session, layout, task, request, options, generation, execution))
    return report


def _label_task(session: Session, layout: Any, task: str, request: ScoreRequest, options: Any,
                generation: dict[str, str], execution: Execution) -> TaskReport:
    from manifests.settings import write_json_atomic
    from pipeline.labels import LabelStage

    store = layout.label_store(task)
    store.repair()
    spec, units, pending, record = plan_labels(layout, task, request, options, generation)
    write_json_atomic(store.root / "labels.json", record)
    for shard in pending:  # labels of a shard whose predictions are incomplete for the set are stale
        for table in ("mmos", "oracle_labels"):
            store.part_path(table, shard).unlink(missing_ok=True)
    report = TaskReport(task, list(spec.members), record["selection"], pending=pending)
    if execution.progress:
        say(f"labels {task}: {len(spec.members)} oracles ({record['selection']}); {len(units)} shards to label, "
            f"{len(pending)} pending")
    report.result = session.run(LabelStage(str(layout.root), spec), units)
    mmos = store.read("mmos", columns=["source_id", "note"])
    report.without_pristine = sorted({s for s, n in zip(mmos.column("source_id").to_pylist(),
                                                         mmos.column("note").to_pylist()) if n})
    return report


def summary_lines(report: ScoreReport) -> list[str]:
    lines = []
    for subset in report.subsets:
        scoring = subset.scoring
        if scoring.units or scoring.crashed:
            lines.append(f"{subset.root.name}: scored {scoring.items_ok} predictions in {scoring.seconds:.1f} s, "
                         f"{scoring.items_failed} failed")
            lines += [f"  {n} x {reason}" for reason, n in scoring.errors.most_common(3)]
        if subset.failed_left:
            lines.append(f"{subset.failed_left} failed predictions remain (--retry-failed redoes them)")
        if scoring.crashed:
            lines.append(f"{len(scoring.crashed)} scoring units crashed and were not committed; run again:")
            lines += [f"  {line}" for line in scoring.crashed[:5]]
        for task in subset.tasks:
            done = task.result.counts.get("images", 0)
            lines.append(f"labels {task.task}: {', '.join(task.members) or 'no oracle'} ({task.selection}); "
                         f"{task.result.units} shards labelled ({done} images), {len(task.pending)} pending")
            if task.pending:
                lacking = sorted({m for missing in task.pending.values() for m in missing})
                hint = f"score {', '.join(lacking)} on them" if lacking else "score an oracle of the task"
                lines.append(f"  pending shards have incomplete predictions: {hint}")
            if task.without_pristine:
                lines.append(f"  {len(task.without_pristine)} sources have no pristine prediction, so their "
                             f"consistency is undefined: {', '.join(task.without_pristine[:10])}")
            if task.result.crashed:
                lines += [f"  label unit crashed: {line}" for line in task.result.crashed[:5]]
    return lines or ["nothing to do"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="offline",
                        help="cls | det | ins | all | offline (the classifiers whose weights ship with pip "
                             "packages) | comma-separated oracle names (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="print the oracle zoo, with where each weights file is")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder of generate (default: out)")
    parser.add_argument("--weights-dir", type=Path, help="folder holding weight files by name (searched first)")
    parser.add_argument("--offline", action="store_true", help="never download weights")
    parser.add_argument("--untrained", action="store_true",
                        help="random weights, for plumbing checks; everything it writes is marked untrained")
    parser.add_argument("--labels-only", action="store_true",
                        help="no scoring: (re)compute the labels that are not current from stored predictions")
    parser.add_argument("--retry-failed", action="store_true", help="redo the failed predictions, only those")
    parser.add_argument("--label-oracles",
                        help="the oracles whose labels are aggregated: names or presets (recorded, kept by later "
                             "runs), or 'auto' (every oracle scored on all shards; the default for a new task)")
    parser.add_argument("--annotations", type=Path,
                        help="det/ins: COCO JSON for the accuracy labels (default: the one generation used)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when visible)")
    parser.add_argument("--batch-size", type=int,
                        help="images per batch (default: 64 on GPUs; 8 on CPUs, where large batches only add "
                             "page faults for their activations)")
    parser.add_argument("--group-size", type=int, default=8,
                        help="oracles sharing one decoded batch in a unit (default: %(default)s)")
    parser.add_argument("--loader-workers", type=int,
                        help="decoding processes per GPU worker (default: 4 with CUDA, 0 on CPU)")
    parser.add_argument("--workers", type=int, help="local worker processes (default: one per visible GPU, else 1)")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(describe_zoo(args.weights_dir))
        return EXIT_OK
    return run_stage_command(args, score, request_from(ScoreRequest, args), summary_lines)


if __name__ == "__main__":
    raise SystemExit(main())
