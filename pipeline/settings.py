"""The settings of a generation run: what must match for a resume to mix with existing outputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from degradations import SELECTED_RANKS
from degradations.regions import BLUR_RADIUS


@dataclass(frozen=True)
class GenerationSettings:
    subset: str
    seed: int
    distortions: tuple[str, ...]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    mask_dir: Path | None = None  # user masks (<id>_binary_mask.png) take precedence
    annotations: Path | None = None  # COCO instances json (det)
    bbox_dir: Path | None = None  # ImageNet val bounding-box XMLs (cls)

    def fingerprint(self) -> dict[str, Any]:
        """What the outputs depend on; a resume with a different fingerprint is refused."""
        return {
            "subset": self.subset,
            "seed": self.seed,
            "distortions": list(self.distortions),
            "options": self.options,
            "selected_ranks": list(SELECTED_RANKS),
            "mask": {
                "blur_radius": BLUR_RADIUS,
                "user_masks": self.mask_dir is not None,
                "coco_annotations": self.annotations is not None,
                "bbox_xmls": self.bbox_dir is not None,
            },
            "png": "up-filter isal-1",
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
