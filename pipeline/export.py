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
import shutil
import sys
from pathlib import Path
from typing import Any

from manifests.atomic import write_bytes_atomic
from pipeline.labels import label_store
from pipeline.layout import SubsetLayout

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


def export_cls(layout: SubsetLayout) -> int:
    rows = label_store(layout, "cls").read("mmos").to_pylist()
    folder = layout.root / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    untrained = any(r["untrained"] for r in rows)
    header = ["dist_images", "weighted_consistency", "weighted_accuracy", "mean_consistency", "std_consistency",
              "mean_accuracy", "std_accuracy", "composite"] + (["untrained"] if untrained else [])
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_source.setdefault(row["source_id"], []).append(row)
    for source_id, members in sorted(by_source.items()):
        _write_csv(folder / f"{source_id}_mmos.csv", header, [
            [r["path"].removeprefix("images/"), *(_number(r[k]) for k in header[1:8])] + (
                [str(r["untrained"])] if untrained else [])
            for r in members
        ])
    _mark(folder, untrained)
    return len(by_source)


def export_det_like(layout: SubsetLayout, task: str, out_root: Path) -> int:
    rows = label_store(layout, task).read("mmos").to_pylist()
    if not rows:
        return 0
    folder = out_root / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    untrained = any(r["untrained"] for r in rows)
    extra = ["untrained"] if untrained else []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_source.setdefault(row["source_id"], []).append(row)
    for source_id, members in sorted(by_source.items()):
        for kind in ("accuracy", "consistency"):
            _write_csv(folder / f"{source_id}_{kind}.csv", ["filename", "AP_weighted_avg"] + extra, [
                [r["path"].rsplit("/", 1)[-1], _number(r[f"weighted_{kind}"])] + ([str(r["untrained"])] if untrained else [])
                for r in members
            ])
    _mark(folder, untrained)
    return len(by_source)


def export_annotations(layout: SubsetLayout) -> None:
    if not layout.run_file.exists():
        return
    annotations = json.loads(layout.run_file.read_text()).get("annotations")
    if annotations:
        target = layout.root / "additional_info" / "instances_val2017.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(annotations, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=Path("out"), help="output folder (default: out)")
    args = parser.parse_args(argv)
    written = 0
    cls_layout = SubsetLayout.of(args.out, "cls")
    if (cls_layout.manifests / "labels" / "cls").is_dir():
        count = export_cls(cls_layout)
        print(f"{cls_layout.root / 'labels'}: {count} sources (<id>_mmos.csv)")
        written += count
    det_layout = SubsetLayout.of(args.out, "det")
    for task, root in (("det", det_layout.root), ("ins", det_layout.root.with_name("miqa_ins"))):
        if (det_layout.manifests / "labels" / task).is_dir():
            count = export_det_like(det_layout, task, root)
            print(f"{root / 'labels'}: {count} sources (<id>_accuracy.csv, <id>_consistency.csv)")
            written += count
            export_annotations(det_layout)
    if not written:
        print(f"no labels under {args.out}; run python -m pipeline.score first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
