"""What the later stages know of a subset's generation shards, from the manifests alone: each shard's
generation digest (what its images are) and how many items it offers."""

from __future__ import annotations

from typing import Any


def generation_digests(layout: Any) -> dict[str, str]:
    """The generation digest of every committed shard (from footers; computed from rows for parts written
    before digests were recorded)."""
    from manifests.schemas import generation_digest

    store = layout.generation_store()
    digests = {}
    for shard, meta in store.part_metadata().items():
        if "content" in meta:
            digests[shard] = meta["content"]
        else:
            sources = store.read("sources", columns=["source_id", "file_name", "status"], shards=[shard]).to_pylist()
            images = store.read("images", columns=["image_id", "status"], shards=[shard]).to_pylist()
            digests[shard] = generation_digest(sources, images)
    return digests


def items_per_shard(layout: Any) -> dict[str, int]:
    """Pristine sources and degraded images per shard (for progress bars), from the sources table only."""
    table = layout.generation_store().read("sources", columns=["shard", "status", "images_ok"]).to_pylist()
    counts: dict[str, int] = {}
    for row in table:
        if row["status"] == "ok":
            counts[row["shard"]] = counts.get(row["shard"], 0) + 1 + (row["images_ok"] or 0)
    return counts
