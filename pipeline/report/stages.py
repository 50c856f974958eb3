"""Time, throughput and failures per stage from the saved per-unit stats (``manifests/stats/<stage>/<unit>.json``,
one file per unit: the last run of that unit), and disk use per folder."""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGE_ORDER = ("generate", "score", "labels-cls", "labels-det", "labels-ins", "metrics")


@dataclass
class StageTotals:
    """The sum over a stage's units. ``seconds`` is worker time (units run side by side on a cluster)."""

    stage: str
    units: int = 0
    items_ok: int = 0
    items_failed: int = 0
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # reason -> items

    @property
    def items_per_second(self) -> float:
        """Items done per second of one worker."""
        return self.items_ok / self.seconds if self.seconds > 0 else float("nan")

    def add(self, unit: dict[str, Any]) -> None:
        self.units += 1
        self.items_ok += int(unit.get("items_ok", 0))
        self.items_failed += int(unit.get("items_failed", 0))
        self.seconds += float(unit.get("seconds", 0.0))
        self.counts.update({k: int(v) for k, v in (unit.get("counts") or {}).items()})
        self.errors.update(line.split(": ", 1)[-1] for line in unit.get("errors") or [])

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "units": self.units, "items_ok": self.items_ok,
                "items_failed": self.items_failed, "worker_seconds": self.seconds,
                "items_per_worker_second": self.items_per_second, "counts": dict(self.counts),
                "errors": dict(self.errors.most_common())}


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):  # a unit's file being replaced, or a stray file: skip it
        return None


def stage_totals(stats_root: Path) -> list[StageTotals]:
    """One :class:`StageTotals` per stage folder under ``manifests/stats``, in pipeline order."""
    if not stats_root.is_dir():
        return []
    folders = [p for p in stats_root.iterdir() if p.is_dir()]
    folders.sort(key=lambda p: (STAGE_ORDER.index(p.name) if p.name in STAGE_ORDER else len(STAGE_ORDER), p.name))
    found = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for folder in folders:
            totals = StageTotals(folder.name)
            files = [p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
            for unit in pool.map(_load, files):
                if unit is not None:
                    totals.add(unit)
            if totals.units:
                found.append(totals)
    return found


def folder_bytes(path: Path) -> tuple[int, int]:
    """(bytes, files) of every regular file under ``path``."""
    total = files = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
                files += 1
    return total, files
