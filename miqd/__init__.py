"""The Python API of the pipeline: every command line is a thin layer over one of these functions.

    import miqd
    report = miqd.generate("out", subset="cls", source="photos/", labels="labels.csv", workers=2)
    report.exit_code, report.result.items_ok          # what the command line would exit with, and the counts
    miqd.score("out", models="offline")              # ScoreReport: membership, pending shards, failures
    print("\\n".join(miqd.status("out")))             # the status report, as lines
    miqd.export("out")                               # the release's label CSVs
    miqd.metrics("out", "release")                   # PSNR, SSIM, MS-SSIM, VIF-p, VSI per degraded image
    miqd.report("out", test_splits={"cls": "miqa_cls_val.csv"}).index   # out/report/index.html

Options are the command line's, as keyword arguments with underscores (``retry_failed=True``,
``label_oracles="auto"``); ``workers``, ``scheduler`` and ``progress`` choose where and how units run. Errors
raise ``miqd.UsageError`` (bad options or input, settings that cannot change in place) or
``miqd.EnvironmentProblem`` (unreachable cluster, unwritable folder, missing weights offline).
Importing ``miqd`` imports no model framework.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from pipeline.driver import Execution
from pipeline.errors import EnvironmentProblem, PipelineError, UsageError

__all__ = ["EnvironmentProblem", "PipelineError", "UsageError", "export", "generate", "metrics", "report", "score",
           "status"]


def _request(cls: type, values: dict[str, Any]) -> Any:
    """A request dataclass from keyword arguments; strings become Paths where the field is a path."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    converted = {}
    for name, value in values.items():
        hint = hints[name]
        wants_path = hint is Path or (typing.get_origin(hint) in (typing.Union, types.UnionType)
                                      and Path in typing.get_args(hint))  # Path or Path | None
        if wants_path and value is not None and not isinstance(value, Path):
            value = Path(value)
        if name == "options" and isinstance(value, (list, str)):
            value = tuple([value] if isinstance(value, str) else value)
        converted[name] = value
    return cls(**converted)


def _execution(workers: int | None, scheduler: str | None, progress: bool) -> Execution:
    return Execution(workers=workers, scheduler=scheduler, progress=progress)


def generate(out: str | Path = "out", subset: str = "cls", *, workers: int | None = None,
             scheduler: str | None = None, progress: bool = True, **options: Any) -> Any:
    """``python -m pipeline.generate``: make, complete or grow a subset. Returns a GenerateReport."""
    from pipeline.generate import GenerateRequest, generate as run

    request = _request(GenerateRequest, {"out": out, "subset": subset, **options})
    return run(request, _execution(workers, scheduler, progress))


def score(out: str | Path = "out", models: str = "offline", *, workers: int | None = None,
          scheduler: str | None = None, progress: bool = True, **options: Any) -> Any:
    """``python -m pipeline.score``: predictions and labels. Returns a ScoreReport."""
    from pipeline.score import ScoreRequest, score as run

    request = _request(ScoreRequest, {"out": out, "models": models, **options})
    return run(request, _execution(workers, scheduler, progress))


def metrics(out: str | Path = "out", metrics: str = "release", *, workers: int | None = None,
            scheduler: str | None = None, progress: bool = True, **options: Any) -> Any:
    """``python -m pipeline.metrics``: full-reference metrics of every degraded image. Returns a MetricsReport."""
    from pipeline.metrics import MetricsRequest, metrics as run

    request = _request(MetricsRequest, {"out": out, "metrics": metrics, **options})
    return run(request, _execution(workers, scheduler, progress))


def status(out: str | Path = "out") -> list[str]:
    """``python -m pipeline.status``: what is done, failed, pending and left, as lines."""
    from pipeline.status import status as run

    return run(Path(out))


def export(out: str | Path = "out") -> list[Any]:
    """``python -m pipeline.export``: the release's label CSVs. Returns one TaskExport per task."""
    from pipeline.export import export as run

    return run(Path(out))


def report(out: str | Path = "out", **options: Any) -> Any:
    """``python -m pipeline.report``: the HTML report, stats.json and dataset card. Returns a ReportResult
    (``index``, ``stats``, ``card``, ``seconds``). Options: ReportSettings' fields (``test_splits``: subset ->
    split file, ``output``, ``examples``, ``scatter_points``, ``workers``, ``card``)."""
    from learning.splits import SplitError
    from pipeline.report.build import build_report
    from pipeline.report.settings import ReportSettings

    if not Path(out).is_dir():
        raise UsageError(f"{out} is not a folder; give the OUT folder of python -m pipeline.generate")
    options["test_splits"] = {subset: Path(path) for subset, path in options.get("test_splits", {}).items()}
    try:
        settings = _request(ReportSettings, {"out": out, **options})
        return build_report(settings)
    except (ValueError, SplitError) as error:
        raise UsageError(str(error)) from None
