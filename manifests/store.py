"""Shard parts on disk: ``<root>/<table>/<shard>.parquet``, one file per shard and table.

A shard is published by writing each table's part to a temporary name and renaming it into place,
the commit table last: a shard is committed exactly when its commit part exists. Parts of uncommitted
shards describe only finished files, and are removed by :meth:`ShardStore.repair` before a run.

A part may carry string metadata in its Parquet footer (``miqd.*`` keys): the stages record there what a
part was made from (digests of its inputs), so that a later run can tell a current part from a stale one
by reading footers only.
"""

from __future__ import annotations

import os
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from manifests.atomic import TEMPORARY_SUFFIX, replace_atomically

_SUFFIX = ".parquet"
METADATA_PREFIX = "miqd."


def _write_parquet_durably(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path, compression="zstd")
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_atomic(path: Path, table: pa.Table) -> None:
    """Write a Parquet file so that readers see the old file or the whole new one, never a part."""
    replace_atomically(path, lambda temporary: _write_parquet_durably(temporary, table))


class ShardStore:
    """The manifests of one subset: a folder per table, a Parquet part per shard."""

    def __init__(self, root: Path, schemas: Mapping[str, pa.Schema], commit_table: str) -> None:
        if commit_table not in schemas:
            raise ValueError(f"commit table {commit_table!r} is not among {sorted(schemas)}")
        self.root = Path(root)
        self.schemas = dict(schemas)
        self.commit_table = commit_table

    def _folder(self, table: str) -> Path:
        return self.root / table

    def part_path(self, table: str, shard: str) -> Path:
        if not shard or "/" in shard or shard.startswith("."):
            raise ValueError(f"invalid shard name {shard!r}")
        return self._folder(table) / f"{shard}{_SUFFIX}"

    def publish(self, shard: str, tables: Mapping[str, pa.Table],
                metadata: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Publish every table's part of ``shard``, the commit table's last; ``metadata[table]`` goes into
        that part's footer (keys are prefixed ``miqd.``)."""
        missing = set(self.schemas) - set(tables)
        if missing:
            raise ValueError(f"shard {shard}: missing tables {sorted(missing)}")
        order = [t for t in self.schemas if t != self.commit_table] + [self.commit_table]
        for name in order:
            self._folder(name).mkdir(parents=True, exist_ok=True)
            table = tables[name].select(self.schemas[name].names).cast(self.schemas[name])
            extra = (metadata or {}).get(name)
            if extra:
                footer = dict(table.schema.metadata or {})
                footer.update({f"{METADATA_PREFIX}{k}".encode(): str(v).encode() for k, v in extra.items()})
                table = table.replace_schema_metadata(footer)
            write_atomic(self.part_path(name, shard), table)

    def part_metadata(self, table: str | None = None, shards: Iterable[str] | None = None,
                      ) -> dict[str, dict[str, str]]:
        """The ``miqd.`` footer metadata of each committed part of ``table`` (default: the commit table),
        by shard, prefix removed; footers are read in parallel, no row is."""
        table = table or self.commit_table
        committed = self.committed_shards()
        wanted = sorted(committed if shards is None else committed & set(shards))

        def read(shard: str) -> dict[str, str]:
            footer = pq.read_schema(self.part_path(table, shard)).metadata or {}
            prefix = METADATA_PREFIX.encode()
            return {k[len(prefix):].decode(): v.decode() for k, v in footer.items() if k.startswith(prefix)}

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(wanted, pool.map(read, wanted)))

    def _parts(self, table: str) -> list[Path]:
        folder = self._folder(table)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix == _SUFFIX and not p.name.startswith("."))

    def committed_shards(self) -> set[str]:
        return {p.stem for p in self._parts(self.commit_table)}

    def repair(self) -> list[Path]:
        """Remove temporary files and the parts of uncommitted shards; return what was removed."""
        committed = self.committed_shards()
        removed = []
        for name in self.schemas:
            folder = self._folder(name)
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                stale_part = path.suffix == _SUFFIX and path.stem not in committed
                if path.name.endswith(TEMPORARY_SUFFIX) or (name != self.commit_table and stale_part):
                    path.unlink()
                    removed.append(path)
        return removed

    def read(self, table: str, columns: Iterable[str] | None = None, shards: Iterable[str] | None = None,
             filter: ds.Expression | None = None) -> pa.Table:
        """All committed rows of ``table`` (optionally some shards, columns, a row filter)."""
        schema = self.schemas[table]
        committed = self.committed_shards()
        wanted = committed if shards is None else committed & set(shards)
        paths = [str(p) for p in self._parts(table) if p.stem in wanted]
        cols = list(columns) if columns is not None else None
        if not paths:
            return schema.empty_table().select(cols) if cols else schema.empty_table()
        dataset = ds.dataset(paths, schema=schema, format="parquet")
        return dataset.to_table(columns=cols, filter=filter)
