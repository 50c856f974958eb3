"""Shard parts: atomic publish, commit marker, repair, and reading without project code."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from manifests import SettingsMismatch, ShardStore, check_settings
from manifests.schemas import TABLE_SCHEMAS


def rows(shard: str, sources: list[str]) -> dict[str, pa.Table]:
    source_rows = [{"source_id": s, "shard": shard, "status": "ok", "images_ok": 2} for s in sources]
    image_rows = [
        {"image_id": f"{s}_fog_{k}", "source_id": s, "distortion": "fog", "region": "UD", "roi_level": k,
         "bg_level": k, "roi_params": [0.1, 3.0], "roi_seed": 2**63 + k, "psnr": float("inf"), "status": "ok"}
        for s in sources for k in (1, 2)
    ]
    candidate_rows = [{"source_id": s, "distortion": "fog", "candidate": 1, "severity": None} for s in sources]
    return {
        name: pa.Table.from_pylist(data, schema=TABLE_SCHEMAS[name])
        for name, data in (("sources", source_rows), ("images", image_rows), ("candidates", candidate_rows))
    }


@pytest.fixture
def store(tmp_path) -> ShardStore:
    return ShardStore(tmp_path / "manifests", TABLE_SCHEMAS, commit_table="sources")


def test_publish_and_read_back(store):
    store.publish("a", rows("a", ["s1", "s2"]))
    store.publish("b", rows("b", ["s3"]))
    assert store.committed_shards() == {"a", "b"}
    images = store.read("images")
    assert images.num_rows == 6
    assert images.schema == TABLE_SCHEMAS["images"]
    assert images.column("roi_seed").to_pylist()[0] == 2**63 + 1  # uint64 kept whole
    only_a = store.read("images", columns=["image_id"], shards=["a"])
    assert only_a.num_rows == 4 and only_a.column_names == ["image_id"]
    failed = store.read("images", filter=ds.field("status") == "failed")
    assert failed.num_rows == 0


def test_republish_replaces_a_shard_without_doubling(store):
    store.publish("a", rows("a", ["s1", "s2"]))
    store.publish("a", rows("a", ["s1", "s2"]))
    assert store.read("sources").num_rows == 2


def test_uncommitted_parts_are_repaired(store):
    store.publish("a", rows("a", ["s1"]))
    crashed = rows("b", ["s2"])
    store.root.joinpath("images").mkdir(exist_ok=True)
    import pyarrow.parquet as pq

    pq.write_table(crashed["images"], store.part_path("images", "b"))  # crash before the commit part
    (store.root / "images" / ".a.parquet.123.tmp").write_bytes(b"half")
    assert store.read("images").num_rows == 2  # uncommitted shard is invisible to the reader
    removed = store.repair()
    assert sorted(p.name for p in removed) == [".a.parquet.123.tmp", "b.parquet"]
    assert store.read("images").num_rows == 2 and store.committed_shards() == {"a"}


def test_parts_read_with_pandas_and_duckdb_alone(store):
    store.publish("a", rows("a", ["s1", "s2"]))
    store.publish("b", rows("b", ["s3"]))
    frame = pd.read_parquet(store.root / "images")
    assert len(frame) == 6 and set(frame.source_id) == {"s1", "s2", "s3"}
    count = duckdb.execute(f"select count(*) from '{store.root}/images/*.parquet' where status = 'ok'").fetchone()
    assert count == (6,)


def test_publish_refuses_incomplete_shard(store):
    tables = rows("a", ["s1"])
    del tables["candidates"]
    with pytest.raises(ValueError, match="missing tables"):
        store.publish("a", tables)
    with pytest.raises(ValueError, match="invalid shard"):
        store.part_path("images", "../escape")


def test_settings_are_recorded_then_enforced(tmp_path):
    path = tmp_path / "run.json"
    settings = {"seed": 0, "distortions": ["fog"], "mask": {"blur_radius": 32}}
    assert check_settings(path, settings) is True
    assert check_settings(path, dict(settings)) is False
    changed = {"seed": 1, "distortions": ["fog"], "mask": {"blur_radius": 16}}
    with pytest.raises(SettingsMismatch) as error:
        check_settings(path, changed)
    assert "seed: existing 0, requested 1" in str(error.value)
    assert "mask.blur_radius: existing 32, requested 16" in str(error.value)


def test_part_metadata_round_trips_through_footers(store):
    store.publish("a", rows("a", ["s1"]), metadata={"sources": {"content": "abc", "failed": 3}})
    store.publish("b", rows("b", ["s2"]))
    assert store.part_metadata() == {"a": {"content": "abc", "failed": "3"}, "b": {}}
    assert store.part_metadata("images") == {"a": {}, "b": {}}
    assert store.part_metadata(shards=["b", "zz"]) == {"b": {}}
    assert store.read("sources").num_rows == 2  # metadata changes no row
    store.publish("a", rows("a", ["s1"]))  # a republished part carries only its new metadata
    assert store.part_metadata()["a"] == {}
