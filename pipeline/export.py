"""Write the release's label files from the MMOS tables: ``python -m pipeline.export OUT``.

cls: miqa_cls/labels/<stem>_mmos.csv; det and ins: labels/<id>_accuracy.csv and <id>_consistency.csv
(row-aligned), under miqa_det/ and miqa_ins/, plus miqa_det/additional_info/instances_val2017.json — what the
release's own data loaders read. Those loaders need a finite number in every label cell, so an image whose label
is undefined (no ground truth, or no pristine prediction for consistency) is left out of the files, and the
export says which and why. Labels made with untrained oracles carry an ``untrained`` column and an UNTRAINED
file beside them. Each export records the label version it wrote (``manifests/labels/<task>/export.json``);
``pipeline.status`` says when the labels changed since.

Exit codes: 0 written; 1 some images were left out; 2 no labels to export.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from pipeline.cli import run_command, say
from pipeline.errors import EXIT_ITEMS_FAILED, EXIT_OK, UsageError

UNTRAINED_NOTE = "These labels come from oracles with random weights (a plumbing run), not from trained models.\n"

Column = tuple[str, Callable[[dict[str, Any]], str]]


def _number(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:.6f}"


def _value(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: _number(row[key])


CLS_FILES: dict[str, list[Column]] = {
    "mmos": [("dist_images", lambda row: row["path"].removeprefix("images/"))]
    + [(key, _value(key)) for key in ("weighted_consistency", "weighted_accuracy", "mean_consistency",
                                      "std_consistency", "mean_accuracy", "std_accuracy", "composite")],
}
DET_FILES: dict[str, list[Column]] = {
    kind: [("filename", lambda row: row["path"].rsplit("/", 1)[-1]), ("AP_weighted_avg", _value(f"weighted_{kind}"))]
    for kind in ("accuracy", "consistency")
}
REQUIRED = ("weighted_consistency", "weighted_accuracy")  # the cells the release's loaders read


@dataclass
class TaskExport:
    task: str
    folder: Path
    sources: int = 0
    images: int = 0
    left_out: Counter = field(default_factory=Counter)  # reason -> images
    left_out_sources: list[str] = field(default_factory=list)  # sources with no exported image
    version: str | None = None


def _reason(row: dict[str, Any]) -> str | None:
    undefined = [key for key in REQUIRED if row[key] is None or row[key] != row[key]]
    if not undefined:
        return None
    if row.get("note"):
        return row["note"].split(":", 1)[0] + " (pristine source not scored)"
    return f"{' and '.join(k.removeprefix('weighted_') for k in undefined)} undefined (no ground truth)"


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    from manifests.atomic import write_bytes_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


def export_labels(rows: list[dict[str, Any]], folder: Path, files: dict[str, list[Column]], task: str,
                  all_sources: Sequence[str] = ()) -> TaskExport:
    """``<source>_<suffix>.csv`` per source and file, rows in manifest order, undefined labels left out;
    files of ``all_sources`` not written this time are removed (they would hold stale labels)."""
    report = TaskExport(task, folder)
    folder.mkdir(parents=True, exist_ok=True)
    untrained = any(row["untrained"] for row in rows)
    extra: list[Column] = [("untrained", lambda row: str(row["untrained"]))] if untrained else []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        reason = _reason(row)
        if reason:
            report.left_out[reason] += 1
        else:
            by_source.setdefault(row["source_id"], []).append(row)
    report.left_out_sources = sorted({r["source_id"] for r in rows} - set(by_source))
    for source_id, members in sorted(by_source.items()):
        for suffix, columns in files.items():
            columns = columns + extra
            _write_csv(folder / f"{source_id}_{suffix}.csv", [name for name, _ in columns],
                       [[cell(row) for _, cell in columns] for row in members])
        report.images += len(members)
    for source_id in set(all_sources) - set(by_source):
        for suffix in files:
            (folder / f"{source_id}_{suffix}.csv").unlink(missing_ok=True)
    marker = folder / "UNTRAINED"
    if untrained:
        marker.write_text(UNTRAINED_NOTE)
    else:
        marker.unlink(missing_ok=True)
    report.sources = len(by_source)
    return report


def export_annotations(layout: Any) -> None:
    from manifests.atomic import copy_atomic

    record = layout.manifests / "labels" / "det" / "labels.json"
    annotations = None
    if record.exists():
        annotations = (json.loads(record.read_text()).get("annotations") or {}).get("path")
    if annotations is None and layout.run_file.exists():
        annotations = json.loads(layout.run_file.read_text()).get("annotations")
    if annotations and Path(annotations).is_file():
        target = layout.root / "additional_info" / "instances_val2017.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(Path(annotations), target)


def export(out: Path) -> list[TaskExport]:
    """Write the release's label files of every labelled task under ``out``; UsageError when there is none."""
    from manifests.layout import SubsetLayout
    from manifests.settings import write_json_atomic
    from pipeline.labels import label_version

    reports = []
    cls_layout, det_layout = SubsetLayout.of(out, "cls"), SubsetLayout.of(out, "det")
    for task, layout, folder, files in (("cls", cls_layout, cls_layout.root / "labels", CLS_FILES),
                                        ("det", det_layout, det_layout.root / "labels", DET_FILES),
                                        ("ins", det_layout, det_layout.root.with_name("miqa_ins") / "labels", DET_FILES)):
        store = layout.label_store(task)
        if not (store.root / "labels.json").exists():
            continue
        sources = layout.generation_store().read("sources", columns=["source_id"]).column("source_id").to_pylist()
        report = export_labels(store.read("mmos").to_pylist(), folder, files, task, sources)
        report.version = label_version(layout, task)
        if task != "cls" and report.sources:
            export_annotations(det_layout)
        write_json_atomic(store.root / "export.json", {"version": report.version, "folder": str(folder),
                                                        "sources": report.sources, "images": report.images,
                                                        "left_out": dict(report.left_out)})
        reports.append(report)
    if not reports:
        raise UsageError(f"no labels under {out}; run python -m pipeline.score first")
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=Path("out"), help="output folder (default: out)")
    args = parser.parse_args(argv)

    def body() -> int:
        code = EXIT_OK
        for report in export(args.out):
            files = "<id>_mmos.csv" if report.task == "cls" else "<id>_accuracy.csv, <id>_consistency.csv"
            print(f"{report.folder}: {report.sources} sources, {report.images} images ({files})")
            for reason, count in report.left_out.most_common():
                say(f"  left out {count} images: {reason}")
            if report.left_out_sources:
                say(f"  sources with no exported image: {', '.join(report.left_out_sources[:10])}"
                    + (" ..." if len(report.left_out_sources) > 10 else ""))
            code = max(code, EXIT_ITEMS_FAILED if report.left_out else EXIT_OK)
        return code

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
