"""What every mask method returns: a {0, 255} mask and how it was made."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaskResult:
    """A binary ROI mask and its provenance.

    ``method``: the method that made it ("user", "coco-instances", "boxes-grabcut", "boxes", or a default
    method's name such as "saliency"). ``fallback``: True when a default method made it because the source
    had nothing better (no user mask, annotations or boxes); False when the method was the one asked for.
    ``flag`` is "empty" (coverage 0), "full" (coverage 1) or "ok": an empty or full mask makes the
    region-degraded images equal to the uniform ones.
    """

    mask: np.ndarray  # uint8 (H, W), values 0 and 255
    method: str
    coverage: float  # fraction of pixels in the ROI, 0..1
    note: str = ""  # what else is worth recording (e.g. boxes GrabCut left as rectangles)
    fallback: bool = False

    @classmethod
    def of(cls, mask: np.ndarray, method: str, note: str = "", fallback: bool = False) -> "MaskResult":
        """The result for ``mask`` (any array: > 127 or True is ROI), its coverage counted."""
        if mask.dtype == np.bool_:
            binary = mask.astype(np.uint8) * 255
        else:
            binary = np.where(mask > 127, 255, 0).astype(np.uint8)
        coverage = float(np.count_nonzero(binary)) / binary.size
        return cls(binary, method, coverage, note, fallback)

    @property
    def flag(self) -> str:
        return "empty" if self.coverage == 0.0 else "full" if self.coverage == 1.0 else "ok"
