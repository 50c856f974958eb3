"""What is done, failed and left, per subset and stage: ``python -m pipeline.status OUT``.

Reads the manifests only (never the image files).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from manifests import ShardStore

from manifests.layout import SUBSET_FOLDERS, SubsetLayout


def _top_errors(errors: list[str], count: int = 3) -> list[str]:
    return [f"    {n} x {reason}" for reason, n in Counter(errors).most_common(count)]


def generation_status(layout: SubsetLayout) -> list[str]:
    store = layout.generation_store()
    sources = store.read("sources", columns=["source_id", "status", "error"])
    images = store.read("images", columns=["status", "error"])
    ok_sources = int(pc.sum(pc.equal(sources.column("status"), "ok")).as_py() or 0)
    failed = sources.filter(pc.equal(sources.column("status"), "failed"))
    ok_images = int(pc.sum(pc.equal(images.column("status"), "ok")).as_py() or 0)
    failed_images = images.filter(pc.equal(images.column("status"), "failed"))
    plan = json.loads(layout.plan_file.read_text()) if layout.plan_file.exists() else {}
    listed = plan.get("listed_sources")
    left = "unknown" if listed is None else max(listed - sources.num_rows, 0)
    lines = [
        "  generate:",
        f"    sources: {ok_sources} done, {failed.num_rows} failed, {left} left",
        f"    images:  {ok_images} done, {failed_images.num_rows} failed",
    ]
    errors = failed.column("error").to_pylist() + failed_images.column("error").to_pylist()
    if errors:
        lines += ["    top errors:"] + ["  " + line for line in _top_errors(errors)]
    return lines


def scoring_status(layout: SubsetLayout) -> list[str]:
    """Per oracle: shards scored, rows failed (top reasons); per task: shards labelled."""
    predictions = layout.manifests / "predictions"
    if not predictions.is_dir():
        return []
    shards = layout.generation_store().committed_shards()
    lines = ["  score:"]
    for folder in sorted(p for p in predictions.iterdir() if p.is_dir()):
        store = ShardStore(predictions, {folder.name: pa.schema([("status", pa.string()), ("error", pa.string())])},
                           commit_table=folder.name)
        rows = store.read(folder.name, columns=["status", "error"])
        failed = rows.filter(pc.equal(rows.column("status"), "failed"))
        done = len(store.committed_shards() & shards)
        lines.append(f"    {folder.name}: {done}/{len(shards)} shards, {rows.num_rows - failed.num_rows} images done, "
                     f"{failed.num_rows} failed, {len(shards) - done} shards left")
        lines += ["  " + line for line in _top_errors(failed.column("error").to_pylist(), 2)]
    labels = layout.manifests / "labels"
    for task in sorted(p.name for p in labels.iterdir()) if labels.is_dir() else []:
        done = {p.stem for p in (labels / task / "mmos").glob("*.parquet")} & shards
        lines.append(f"    labels {task}: {len(done)}/{len(shards)} shards")
    return lines


def subset_status(layout: SubsetLayout) -> list[str]:
    lines = [f"{layout.root}"]
    if layout.settings_file.exists():
        lines += generation_status(layout) + scoring_status(layout)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.status", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=Path("out"), help="output folder (default: out)")
    args = parser.parse_args(argv)
    found = [SubsetLayout.of(args.out, s) for s in SUBSET_FOLDERS if (args.out / SUBSET_FOLDERS[s]).is_dir()]
    if not found:
        print(f"no subsets under {args.out} (expected {', '.join(SUBSET_FOLDERS.values())})")
        return 1
    for layout in found:
        print("\n".join(subset_status(layout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
