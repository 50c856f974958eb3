"""From candidates to severities: rank by PSNR to the source, keep fixed ranks."""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

# Ranks (1 = highest PSNR) kept as severities 1..5, as in the release.
SELECTED_RANKS = (1, 5, 8, 10, 12)


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB for uint8 images (data range 255), ``inf`` for identical images.

    Equal to ``skimage.metrics.peak_signal_noise_ratio``: the squared error is summed exactly.
    """
    if reference.shape != image.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {image.shape}")
    sse = cv2.norm(reference, image, cv2.NORM_L2SQR)
    if sse == 0:
        return math.inf
    return 10.0 * math.log10(255.0**2 * reference.size / sse)


def rank_by_psnr(psnrs: Sequence[float]) -> list[int]:
    """Indices of ``psnrs`` from highest to lowest PSNR; ties keep candidate order."""
    return sorted(range(len(psnrs)), key=lambda i: (-psnrs[i], i))


def select_ranks(psnrs: Sequence[float], ranks: Sequence[int] = SELECTED_RANKS) -> list[int]:
    """Candidate indices (0-based) chosen as severities 1..len(ranks)."""
    if max(ranks) > len(psnrs):
        raise ValueError(f"rank {max(ranks)} asked of {len(psnrs)} candidates")
    order = rank_by_psnr(psnrs)
    return [order[rank - 1] for rank in ranks]
