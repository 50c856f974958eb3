"""Region patterns: uniform (UD), ROI stronger (ROI-DD) and background stronger (BG-DD) fusion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import cv2
import numpy as np

UD_PAIRS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5))
ROI_DD_PAIRS = ((2, 1), (3, 1), (4, 1), (5, 1), (3, 2), (4, 2), (5, 2), (4, 3), (5, 3), (5, 4))
BG_DD_PAIRS = ((1, 2), (1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5), (3, 4), (3, 5), (4, 5))
REGIONS = {"UD": UD_PAIRS, "ROI-DD": ROI_DD_PAIRS, "BG-DD": BG_DD_PAIRS}

BLUR_RADIUS = 32
# The release's band 0.05 < m < 0.95 on m = k / 255, in whole levels k of the blurred mask.
_BAND_LOW, _BAND_HIGH = 13, 242


class RegionConfig(NamedTuple):
    region: str
    roi_level: int
    bg_level: int


def region_configs() -> list[RegionConfig]:
    """The 25 (region, ROI severity, background severity) configurations of one distortion type."""
    return [RegionConfig(region, r, b) for region, pairs in REGIONS.items() for r, b in pairs]


def output_name(source_id: str, distortion: str, config: RegionConfig) -> str:
    """The release's file name of one output."""
    if config.region == "UD":
        return f"{source_id}_{distortion}_{config.roi_level}.png"
    stronger = "fg_stronger" if config.region == "ROI-DD" else "bg_stronger"
    return f"{source_id}_{distortion}_{stronger}_fg{config.roi_level}_bg{config.bg_level}.png"


def parse_output_name(file_name: str, distortions: Iterable[str]) -> tuple[str, str, RegionConfig]:
    """(source id, distortion, configuration) of a release file name; the inverse of :func:`output_name`.

    Source ids and type names may both hold underscores, so the type must be one of ``distortions``
    (the longest type that fits wins). ValueError when the name does not follow the release's pattern.
    """
    types = "|".join(re.escape(t) for t in sorted(set(distortions), key=len, reverse=True))
    match = re.fullmatch(rf"(.+?)_({types})_(?:([1-5])|(fg|bg)_stronger_fg([1-5])_bg([1-5]))\.png", file_name)
    if not types or match is None:
        raise ValueError(f"{file_name!r} is not a degraded image name (<id>_<type>_<k>.png or "
                         "<id>_<type>_fg|bg_stronger_fg<r>_bg<b>.png)")
    source_id, distortion, level, stronger, roi, bg = match.groups()
    if level is not None:
        return source_id, distortion, RegionConfig("UD", int(level), int(level))
    config = RegionConfig("ROI-DD" if stronger == "fg" else "BG-DD", int(roi), int(bg))
    if config not in region_configs():
        raise ValueError(f"{file_name!r}: ({config.roi_level}, {config.bg_level}) is not a {config.region} pair")
    return source_id, distortion, config


@dataclass(frozen=True)
class RegionMask:
    """A source's smoothed ROI mask, computed once and shared by its 200 fusions.

    ``levels`` is the release's smooth mask in whole levels (m = levels / 255): the binary mask blurred
    with a (2R+1)^2 Gaussian in uint8, forced to 255 on the mask eroded twice by a 3x3 square.
    """

    levels: np.ndarray  # uint8 (H, W)
    coverage: float  # fraction of pixels in the binary ROI
    flag: str  # "ok", or "empty" / "full": fusion then returns the background / ROI image
    roi_only: np.ndarray  # uint8 (H, W): 255 where the output is the ROI image unchanged
    blend_box: tuple[slice, slice]  # where the two images mix, one pixel of margin around it
    band: np.ndarray  # uint8 0/1, over blend_box: the transition band that gets the extra 3x3 blur
    weights: np.ndarray  # float32 (h, w, 3), over blend_box: m, repeated per channel

    @classmethod
    def from_binary(cls, mask: np.ndarray, radius: int = BLUR_RADIUS) -> "RegionMask":
        if mask.ndim != 2 or 0 in mask.shape:
            raise ValueError(f"mask must be a non-empty 2-D array, got shape {mask.shape}")
        binary = np.where(mask > 127, 255, 0).astype(np.uint8) if mask.dtype != np.bool_ else (
            mask.astype(np.uint8) * 255
        )
        coverage = float(np.count_nonzero(binary)) / binary.size
        flag = "empty" if coverage == 0.0 else "full" if coverage == 1.0 else "ok"
        levels = cv2.GaussianBlur(binary, (2 * radius + 1, 2 * radius + 1), 0)
        core = cv2.erode(binary, np.ones((3, 3), np.uint8), iterations=2)
        levels[core > 0] = 255
        mixed = (levels > 0) & (levels < 255)
        if mixed.any():
            rows = np.flatnonzero(mixed.any(axis=1))
            cols = np.flatnonzero(mixed.any(axis=0))
            height, width = levels.shape
            box = (
                slice(max(rows[0] - 1, 0), min(rows[-1] + 2, height)),
                slice(max(cols[0] - 1, 0), min(cols[-1] + 2, width)),
            )
        else:
            box = (slice(0, 0), slice(0, 0))
        crop = levels[box]
        return cls(
            levels=levels,
            coverage=coverage,
            flag=flag,
            roi_only=np.where(levels == 255, 255, 0).astype(np.uint8),
            blend_box=box,
            band=((crop >= _BAND_LOW) & (crop <= _BAND_HIGH)).astype(np.uint8),
            weights=np.repeat((crop.astype(np.float32) / np.float32(255.0))[:, :, None], 3, axis=2),
        )


def fuse(roi_image: np.ndarray, bg_image: np.ndarray, mask: RegionMask) -> np.ndarray:
    """The release's fusion: ROI image where m = 1, background where m = 0, a blend between, and the
    blend softened by a 3x3 Gaussian inside the band; truncated to uint8. Equal to the release's float64
    computation within one grey level, computed only where the images mix."""
    if roi_image.shape != bg_image.shape or roi_image.shape[:2] != mask.levels.shape:
        raise ValueError(f"shapes differ: {roi_image.shape}, {bg_image.shape}, mask {mask.levels.shape}")
    out = bg_image.copy()
    cv2.copyTo(roi_image, mask.roi_only, out)
    box = mask.blend_box
    if mask.band.size:
        # In place, in as few passes as possible: this runs 200 times per source.
        fused = roi_image[box].astype(np.float32)
        bg = bg_image[box].astype(np.float32)
        np.subtract(fused, bg, out=fused)
        np.multiply(fused, mask.weights, out=fused)
        np.add(fused, bg, out=fused)
        smoothed = cv2.addWeighted(fused, 0.5, cv2.GaussianBlur(fused, (3, 3), 0), 0.5, 0)
        cv2.copyTo(smoothed, mask.band, fused)
        out[box] = fused.astype(np.uint8)
    return out
