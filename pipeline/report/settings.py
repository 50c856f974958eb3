"""What a report is asked to do: the database, where the report goes, the test split per subset, sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

SUBSETS = ("cls", "det")


@dataclass(frozen=True)
class ReportSettings:
    """``out``: the database folder (OUT of generate); the report goes to ``output`` (default OUT/report) and the
    dataset card to OUT/README.md. ``test_splits``: subset -> split file (the release's ``Image Name`` or
    ``Image Index`` CSV); the HVS correlation tables use those sources, else every labelled image."""

    out: Path
    output: Path | None = None
    test_splits: Mapping[str, Path] = field(default_factory=dict)
    examples: int = 3  # example strips per subset
    scatter_points: int = 4000  # points per scatter plot (a fixed subsample)
    workers: int = 2  # processes for the correlation tables
    card: bool = True  # write OUT/README.md

    def __post_init__(self) -> None:
        unknown = set(self.test_splits) - set(SUBSETS)
        if unknown:
            raise ValueError(f"test splits given for unknown subsets {sorted(unknown)}; known: {', '.join(SUBSETS)}")
        if self.examples < 0 or self.scatter_points < 10 or self.workers < 1:
            raise ValueError("examples must be >= 0, scatter points >= 10 and workers >= 1")

    @property
    def report_dir(self) -> Path:
        return Path(self.output) if self.output is not None else Path(self.out) / "report"

    @property
    def card_path(self) -> Path:
        return Path(self.out) / "README.md"
