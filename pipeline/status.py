"""What is done, failed, pending and left, per subset and stage: ``python -m pipeline.status OUT``.

Reads the manifests only (never the image files): generation (sources, images, masks per method and flag),
scoring per oracle (shards current, pristine sources and degraded images predicted, failures), labels per task
(the member oracles, shards labelled and pending, sources without a pristine prediction, whether the last
export is current), and any other stage's tables (metrics).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from pipeline.cli import run_command
from pipeline.errors import EXIT_OK, UsageError


def _top_errors(errors: list[str], count: int = 3, indent: str = "      ") -> list[str]:
    return [f"{indent}{n} x {reason}" for reason, n in Counter(errors).most_common(count)]


def generation_status(layout: Any) -> list[str]:
    import pyarrow.compute as pc

    store = layout.generation_store()
    sources = store.read("sources", columns=["source_id", "status", "error", "mask_method", "mask_flag"])
    images = store.read("images", columns=["status", "error"])
    ok = sources.filter(pc.equal(sources.column("status"), "ok"))
    failed = sources.filter(pc.equal(sources.column("status"), "failed"))
    ok_images = int(pc.sum(pc.equal(images.column("status"), "ok")).as_py() or 0)
    failed_images = images.filter(pc.equal(images.column("status"), "failed"))
    plan = json.loads(layout.plan_file.read_text()) if layout.plan_file.exists() else {}
    listed = plan.get("listed_sources")
    left = "unknown" if listed is None else max(listed - sources.num_rows, 0)
    settings = json.loads(layout.settings_file.read_text())
    types = settings.get("distortion_order") or list(settings.get("distortions", []))
    lines = [
        "  generate:",
        f"    sources: {ok.num_rows} done, {failed.num_rows} failed, {left} left; {len(types)} types "
        f"({', '.join(types)})",
        f"    images:  {ok_images} done, {failed_images.num_rows} failed",
    ]
    methods = Counter(m for m in ok.column("mask_method").to_pylist() if m)
    flags = Counter(f for f in ok.column("mask_flag").to_pylist() if f and f != "ok")
    if methods:
        lines.append("    masks:   " + ", ".join(f"{n} {m}" for m, n in methods.most_common())
                     + ("; flagged " + ", ".join(f"{n} {f}" for f, n in flags.most_common()) if flags else ""))
    errors = failed.column("error").to_pylist() + failed_images.column("error").to_pylist()
    if errors:
        lines += ["    top errors:"] + _top_errors(errors)
    return lines


def scoring_status(layout: Any, generation: dict[str, str]) -> list[str]:
    """Per oracle: shards current, pristine sources and degraded images predicted, failures."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from manifests import ShardStore

    predictions = layout.manifests / "predictions"
    if not predictions.is_dir():
        return []
    lines = ["  score:"]
    for folder in sorted(p for p in predictions.iterdir() if p.is_dir()):
        schema = pa.schema([("is_source", pa.bool_()), ("status", pa.string()), ("error", pa.string())])
        store = ShardStore(predictions, {folder.name: schema}, commit_table=folder.name)
        meta = store.part_metadata()
        current = sum(meta.get(s, {}).get("input") == d for s, d in generation.items())
        rows = store.read(folder.name, columns=["is_source", "status", "error"])
        ok = pc.equal(rows.column("status"), "ok")
        pristine = int(pc.sum(pc.and_(ok, rows.column("is_source"))).as_py() or 0)
        degraded = int(pc.sum(pc.and_(ok, pc.invert(rows.column("is_source")))).as_py() or 0)
        failed = rows.filter(pc.invert(ok))
        lines.append(f"    {folder.name}: {current}/{len(generation)} shards current; {degraded} degraded images "
                     f"and {pristine} pristine sources predicted, {failed.num_rows} failed")
        lines += _top_errors(failed.column("error").to_pylist(), 2)
    return lines


def label_status(layout: Any, generation: dict[str, str]) -> list[str]:
    from pipeline.labels import label_version

    labels = layout.manifests / "labels"
    lines = []
    for task in sorted(p.name for p in labels.iterdir() if p.is_dir()) if labels.is_dir() else []:
        store = layout.label_store(task)
        record_path = store.root / "labels.json"
        if not record_path.exists():
            continue
        record = json.loads(record_path.read_text())
        members = [m if isinstance(m, dict) else {"name": m, "untrained": None} for m in record.get("oracles", [])]
        names = ", ".join(m["name"] + (" (untrained)" if m.get("untrained") else "") for m in members)
        current = {}
        for member in members:
            meta = layout.prediction_store(member["name"], task).part_metadata()
            current[member["name"]] = {s for s, d in generation.items() if meta.get(s, {}).get("input") == d}
        labelled = {s for s in store.committed_shards() & set(generation)
                    if all(s in shards for shards in current.values())}
        lines.append(f"    labels {task}: {len(labelled)}/{len(generation)} shards labelled, "
                     f"{len(generation) - len(labelled)} pending; {len(members)} oracles "
                     f"({record.get('selection', 'auto')}): {names or 'none'}")
        mmos = store.read("mmos", columns=["source_id", "note"]).to_pylist()
        orphans = sorted({r["source_id"] for r in mmos if r["note"]})
        if orphans:
            lines.append(f"      {len(orphans)} sources without a pristine prediction (consistency undefined): "
                         f"{', '.join(orphans[:10])}" + (" ..." if len(orphans) > 10 else ""))
        exported = store.root / "export.json"
        if exported.exists():
            same = json.loads(exported.read_text()).get("version") == label_version(layout, task)
            lines.append("      export: current" if same else
                         "      export: STALE, the labels changed since the last export (run python -m "
                         "pipeline.export OUT)")
        else:
            lines.append("      export: none yet (python -m pipeline.export OUT)")
    return lines


def metrics_status(layout: Any, generation: dict[str, str]) -> list[str]:
    import pyarrow.compute as pc

    folder = layout.manifests / "metrics"
    if not folder.is_dir():
        return []
    lines = ["  metrics:"]
    for metric in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        store = layout.metric_store(metric)
        meta = store.part_metadata()
        current = sum(meta.get(s, {}).get("input") == d for s, d in generation.items())
        rows = store.read(metric, columns=["status", "error"])
        failed = rows.filter(pc.equal(rows.column("status"), "failed"))
        lines.append(f"    {metric}: {current}/{len(generation)} shards current; {rows.num_rows - failed.num_rows} "
                     f"images done, {failed.num_rows} failed")
        lines += _top_errors(failed.column("error").to_pylist(), 2)
    return lines


def subset_status(layout: Any) -> list[str]:
    from pipeline.shards import generation_digests

    lines = [f"{layout.root}"]
    if not layout.settings_file.exists():
        return lines + ["  nothing generated yet"]
    generation = generation_digests(layout)
    lines += generation_status(layout) + scoring_status(layout, generation)
    lines += label_status(layout, generation) + metrics_status(layout, generation)
    return lines


def status(out: Path) -> list[str]:
    """The status report of every subset under ``out``, as lines; UsageError when there is none."""
    from manifests.layout import SUBSET_FOLDERS, SubsetLayout

    found = [SubsetLayout.of(out, s) for s in SUBSET_FOLDERS if (Path(out) / SUBSET_FOLDERS[s]).is_dir()]
    if not found:
        raise UsageError(f"no subsets under {out} (expected {', '.join(SUBSET_FOLDERS.values())})")
    return [line for layout in found for line in subset_status(layout)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.status", description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=Path("out"), help="output folder (default: out)")
    args = parser.parse_args(argv)

    def body() -> int:
        print("\n".join(status(args.out)))
        return EXIT_OK

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
