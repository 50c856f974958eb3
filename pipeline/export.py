"""Write the release's label files from the MMOS tables: ``python -m pipeline.export OUT``.

cls: miqa_cls/labels/<stem>_mmos.csv; det and ins: labels/<id>_accuracy.csv and <id>_consistency.csv
(row-aligned), under miqa_det/ and miqa_ins/, plus miqa_det/additional_info/instances_val2017.json — what
the release's own data loaders read (SPEC section 4). Labels made with untrained oracles carry an
``untrained`` column and an UNTRAINED file beside them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, Callable

from manifests.atomic import copy_atomic, write_bytes_atomic
from manifests.layout import SubsetLayout

UNTRAINED_NOTE = "These labels come from oracles with random weights (a plumbing run), not from trained models.\n"


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


def _number(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:.6f}"


def _mark(folder: Path, untrained: bool) -> None:
    marker = folder / "UNTRAINED"
    if untrained:
        marker.write_text(UNTRAINED_NOTE)
    elif marker.exists():
        marker.unlink()


Column = tuple[str, Callable[[dict[str, Any]], str]]


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


def export_labels(rows: list[dict[str, Any]], folder: Path, files: dict[str, list[Column]]) -> int:
    """``<source>_<suffix>.csv`` per source and file, rows in manifest order; labels from untrained oracles
    get an ``untrained`` column and an UNTRAINED file. Returns the number of sources written."""
    if not rows:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    untrained = any(row["untrained"] for row in rows)
    extra: list[Column] = [("untrained", lambda row: str(row["untrained"]))] if untrained else []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_source.setdefault(row["source_id"], []).append(row)
    for source_id, members in sorted(by_source.items()):
        for suffix, columns in files.items():
            columns = columns + extra
            _write_csv(folder / f"{source_id}_{suffix}.csv", [name for name, _ in columns],
                       [[cell(row) for _, cell in columns] for row in members])
    _mark(folder, untrained)
    return len(by_source)


def export_annotations(layout: SubsetLayout) -> None:
    if not layout.run_file.exists():
        return
    annotations = json.loads(layout.run_file.read_text()).get("annotations")
    if annotations:
        target = layout.root / "additional_info" / "instances_val2017.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(Path(annotations), target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=Path("out"), help="output folder (default: out)")
    args = parser.parse_args(argv)
    written = 0
    cls_layout = SubsetLayout.of(args.out, "cls")
    if (cls_layout.manifests / "labels" / "cls").is_dir():
        count = export_labels(cls_layout.label_store("cls").read("mmos").to_pylist(), cls_layout.root / "labels",
                              CLS_FILES)
        print(f"{cls_layout.root / 'labels'}: {count} sources (<id>_mmos.csv)")
        written += count
    det_layout = SubsetLayout.of(args.out, "det")
    for task, root in (("det", det_layout.root), ("ins", det_layout.root.with_name("miqa_ins"))):
        if (det_layout.manifests / "labels" / task).is_dir():
            count = export_labels(det_layout.label_store(task).read("mmos").to_pylist(), root / "labels",
                                  DET_FILES)
            print(f"{root / 'labels'}: {count} sources (<id>_accuracy.csv, <id>_consistency.csv)")
            written += count
            export_annotations(det_layout)
    if not written:
        print(f"no labels under {args.out}; run python -m pipeline.score first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
