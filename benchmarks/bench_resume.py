"""Planning a resume from large manifests: 10,000 sources, 2.5 million image rows.

    python -m benchmarks.bench_resume [--sources N] [--oracles K]

Builds synthetic manifests shaped like a finished run (1,250 shards of 8 sources, 250 image rows and 120
candidate rows per source, 0.1% failed), then times the planning of (a) a plain resume with 1% of the
sources never run, (b) a --retry-failed resume, (c) growing the database by one type. Then it adds
prediction parts of K oracles on every shard (footers only matter) and times the planning of a scoring
resume and of the labels (both read part footers, never rows). Planning reads manifests only, never images.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from degradations import DATABASE_DISTORTIONS, output_name, region_configs
from manifests import TABLE_SCHEMAS, ShardStore
from pipeline.generation_plan import plan_generation, shard_name


@dataclass(frozen=True)
class FakeRecord:
    source_id: str


def synthetic_shard(source_ids: list[str], shard: str, rng: np.random.Generator) -> dict[str, pa.Table]:
    configs = region_configs()
    rows = len(source_ids) * len(DATABASE_DISTORTIONS) * len(configs)
    image_ids, image_sources, distortions, regions, roi, bg = [], [], [], [], [], []
    for source_id in source_ids:
        for name in DATABASE_DISTORTIONS:
            for config in configs:
                image_ids.append(output_name(source_id, name, config)[:-4])
                image_sources.append(source_id)
                distortions.append(name)
                regions.append(config.region)
                roi.append(config.roi_level)
                bg.append(config.bg_level)
    failed = rng.random(rows) < 0.001
    images = pa.table({
        "image_id": image_ids, "source_id": image_sources, "distortion": distortions, "region": regions,
        "roi_level": pa.array(roi, pa.int8()), "bg_level": pa.array(bg, pa.int8()),
        "path": [f"images/{s}/{i}.png" for s, i in zip(image_sources, image_ids)],
        "psnr": rng.uniform(10, 40, rows), "status": np.where(failed, "failed", "ok"),
        "error": np.where(failed, "ValueError: synthetic", None),
    })
    sources = pa.table({"source_id": source_ids, "shard": [shard] * len(source_ids),
                        "status": ["ok"] * len(source_ids), "file_name": [f"{s}.JPEG" for s in source_ids],
                        "distortions": [list(DATABASE_DISTORTIONS)] * len(source_ids)})
    candidates = pa.table({
        "source_id": np.repeat(source_ids, 120), "distortion": np.tile(np.repeat(DATABASE_DISTORTIONS, 12),
                                                                          len(source_ids)),
        "candidate": pa.array(np.tile(np.arange(1, 13), 10 * len(source_ids)), pa.int8()),
    })
    return {
        name: pa.Table.from_pylist([], schema=TABLE_SCHEMAS[name]) if table is None else
        _conform(table, TABLE_SCHEMAS[name])
        for name, table in (("sources", sources), ("images", images), ("candidates", candidates))
    }


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--oracles", type=int, default=10)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    ids = [f"ILSVRC2012_val_{i:08d}" for i in range(1, args.sources + 1)]
    done = ids[: int(len(ids) * 0.99)]
    root = Path(tempfile.mkdtemp(prefix="bench_resume_"))
    try:
        store = ShardStore(root, TABLE_SCHEMAS, commit_table="sources")
        start = time.perf_counter()
        for i in range(0, len(done), 8):
            chunk = done[i : i + 8]
            name = shard_name(chunk)
            store.publish(name, synthetic_shard(chunk, name, rng))
        rows = store.read("images", columns=["status"]).num_rows
        print(f"built {len(store.committed_shards())} shards, {rows:,} image rows in "
              f"{time.perf_counter() - start:.1f} s")
        records = [FakeRecord(s) for s in ids]
        for retry in (False, True):
            start = time.perf_counter()
            plan = plan_generation(records, store, DATABASE_DISTORTIONS, 8, root / "src_images", retry_failed=retry)
            seconds = time.perf_counter() - start
            kind = "--retry-failed resume" if retry else "plain resume"
            print(f"{kind:22s}: planned {plan.new_sources} new and {plan.retried_sources} retried sources, "
                  f"{plan.image_count:,} images in {len(plan.tasks)} shards ({plan.done_sources} done, "
                  f"{plan.failed_images} failed images left) in {seconds:.2f} s")
        start = time.perf_counter()
        plan = plan_generation(records, store, [*DATABASE_DISTORTIONS, "spatter"], 8, root / "src_images")
        print(f"{'grow by one type':22s}: planned {plan.grown_sources} sources getting spatter, "
              f"{plan.image_count:,} images in {len(plan.tasks)} shards in {time.perf_counter() - start:.2f} s")
        scoring_plans(root, store, args.oracles)
    finally:
        shutil.rmtree(root)


def scoring_plans(root: Path, store: ShardStore, oracles: int) -> None:
    """Prediction parts of ``oracles`` classifiers on every shard, then the scoring and label planning times."""
    from manifests.layout import SubsetLayout
    from manifests.schemas import PREDICTION_SCHEMAS
    from oracles import registry
    from oracles.labels.mmos import LabelOptions
    from pipeline.score import ScoreRequest, plan_labels, plan_scoring
    from pipeline.shards import generation_digests

    layout = SubsetLayout(root / "miqa_cls")
    layout.manifests.mkdir(parents=True)
    for table in ("sources", "images", "candidates"):
        shutil.move(str(root / table), str(layout.manifests / table))
    (layout.manifests / "generate.json").write_text("{}")
    start = time.perf_counter()
    generation = generation_digests(layout)
    print(f"generation digests of {len(generation)} shards (from rows: parts made before footers) in "
          f"{time.perf_counter() - start:.2f} s")
    specs = [registry.get(name) for name in registry.names("cls")[:oracles]]
    empty = pa.Table.from_pylist([], schema=PREDICTION_SCHEMAS["cls"])
    start = time.perf_counter()
    for spec in specs:
        prediction_store = layout.prediction_store(spec.name, "cls")
        for shard, digest in generation.items():
            prediction_store.publish(shard, {spec.name: empty},
                                     metadata={spec.name: {"input": digest, "content": "x", "failed": 0}})
    print(f"wrote {oracles * len(generation):,} prediction parts in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    units, _ = plan_scoring(layout, specs, generation, 8, False)
    print(f"scoring resume, {oracles} oracles x {len(generation)} shards: {len(units)} units to do, planned in "
          f"{time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    _, label_units, pending, _ = plan_labels(layout, "cls", ScoreRequest(out=root), LabelOptions(), generation)
    print(f"labels, {oracles} members: {len(label_units)} shards to label, {len(pending)} pending, planned in "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
