"""Where a subset's files and stores live under the output folder: the release's layout plus the manifests.

Every path of a database is named here, so the stages and the learning code (which never imports
``pipeline``) agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from manifests.store import ShardStore

# The stores (pyarrow) are imported when one is asked for: paths alone stay cheap to import (fast --help).

SUBSET_FOLDERS = {"cls": "miqa_cls", "det": "miqa_det"}


@dataclass(frozen=True)
class SubsetLayout:
    """``OUT/miqa_<subset>/``: images/, src_images/, masks/, manifests/, and a private staging area."""

    root: Path

    @classmethod
    def of(cls, out: Path, subset: str) -> "SubsetLayout":
        if subset not in SUBSET_FOLDERS:
            raise ValueError(f"subset must be one of {sorted(SUBSET_FOLDERS)}, got {subset!r}")
        return cls(Path(out).resolve() / SUBSET_FOLDERS[subset])

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def src_images(self) -> Path:
        return self.root / "src_images"

    @property
    def masks(self) -> Path:
        return self.root / "masks"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def staging(self) -> Path:
        return self.root / ".staging"

    @property
    def settings_file(self) -> Path:
        return self.manifests / "generate.json"

    @property
    def run_file(self) -> Path:
        """The last generation run's full settings (paths included), for the later stages."""
        return self.manifests / "run.json"

    @property
    def plan_file(self) -> Path:
        return self.manifests / "plan.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def stats_dir(self, stage: str) -> Path:
        """``manifests/stats/<stage>/<unit>.json``: what each unit of a stage did (seconds, counts)."""
        return self.manifests / "stats" / stage

    def mask_path(self, source_id: str) -> Path:
        return self.masks / f"{source_id}_binary_mask.png"

    def generation_store(self) -> ShardStore:
        from manifests.schemas import TABLE_SCHEMAS
        from manifests.store import ShardStore

        return ShardStore(self.manifests, TABLE_SCHEMAS, commit_table="sources")

    def prediction_store(self, oracle: str, task: str) -> ShardStore:
        """``manifests/predictions/<oracle>/<shard>.parquet``: raw outputs, one part per shard."""
        from manifests.schemas import PREDICTION_SCHEMAS
        from manifests.store import ShardStore

        return ShardStore(self.manifests / "predictions", {oracle: PREDICTION_SCHEMAS[task]}, commit_table=oracle)

    def label_store(self, task: str) -> ShardStore:
        """``manifests/labels/<task>/{oracle_labels,mmos}/<shard>.parquet``."""
        from manifests.schemas import MMOS, ORACLE_LABELS
        from manifests.store import ShardStore

        return ShardStore(self.manifests / "labels" / task, {"oracle_labels": ORACLE_LABELS, "mmos": MMOS},
                          commit_table="mmos")

    def metric_store(self, metric: str) -> ShardStore:
        """``manifests/metrics/<metric>/<shard>.parquet``: one full-reference metric per degraded image."""
        from manifests.schemas import METRIC_VALUES
        from manifests.store import ShardStore

        return ShardStore(self.manifests / "metrics", {metric: METRIC_VALUES}, commit_table=metric)
