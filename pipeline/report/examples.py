"""Example strips like the release's figure: a source, its five uniform severities and one mirrored ROI-DD /
BG-DD pair of one distortion, as small JPEG thumbnails made by the report, each with its PSNR / SSIM and its
labels (a row of figures under each thumbnail)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.compute as pc

from pipeline.report.tables import LABEL_TYPES, Subset

THUMB_HEIGHT = 210  # pixels; shown at half size, sharp on high-density screens
THUMB_MAX_WIDTH = 280
JPEG_QUALITY = 85
MIRRORED_PAIR = (5, 1)  # ROI-DD (ROI 5, background 1) beside BG-DD (ROI 1, background 5)
STRIP = [("UD", k, k) for k in range(1, 6)] + [("ROI-DD", *MIRRORED_PAIR), ("BG-DD", *MIRRORED_PAIR[::-1])]


@dataclass
class Tile:
    heading: str
    values: dict[str, str]  # figure name -> formatted value (empty for the source)
    file: str | None = None  # relative to the report folder; None when the image could not be read
    problem: str | None = None


@dataclass
class Strip:
    subset: str
    source_id: str
    distortion: str
    tiles: list[Tile] = field(default_factory=list)

    @property
    def rows(self) -> list[str]:
        """The figure names, in the order the tiles give them."""
        return list(dict.fromkeys(name for tile in self.tiles for name in tile.values))


def thumbnail(path: Path) -> bytes:
    """A JPEG at most THUMB_HEIGHT high and THUMB_MAX_WIDTH wide, aspect kept."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((THUMB_MAX_WIDTH, THUMB_HEIGHT), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def choose(subset: Subset, count: int) -> list[tuple[str, str]]:
    """(source, distortion) pairs: the first ``count`` distortions of the run, each with the next source (sorted
    ids) that has all 25 images of that distortion; labelled sources are preferred."""
    images = subset.images
    complete = np.zeros((len(images.source_ids), len(images.distortions)), np.int64)
    np.add.at(complete, (images.source[images.ok], images.distortion[images.ok]), 1)
    labelled = np.zeros(len(images.source_ids), bool)
    for labels in subset.labels.values():
        labelled[images.source[np.isfinite(labels.values["composite"])]] = True
    order = sorted(range(len(images.source_ids)), key=lambda s: (not labelled[s], images.source_ids[s]))
    chosen = []
    for index, distortion in enumerate(images.distortions[:count]):
        candidates = [s for s in order if complete[s, index] == 25]
        if candidates:
            source = candidates[len(chosen) % len(candidates)]
            chosen.append((images.source_ids[source], distortion))
    return chosen


def _value(values: np.ndarray, row: int) -> float | None:
    """The value at ``row``; None when missing (NaN). An infinite PSNR (identical images) stays inf."""
    return float(values[row]) if row >= 0 and not np.isnan(values[row]) else None


def _format(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def make_strips(subset: Subset, count: int, write: Callable[[str, bytes], str]) -> list[Strip]:
    """The strips of ``count`` (source, distortion) pairs; ``write(name, jpeg)`` stores a thumbnail and returns
    its path relative to the report."""
    store = subset.layout.generation_store()
    sources = subset.sources.set_index("source_id")
    strips = []
    for source_id, distortion in choose(subset, count):
        strip = Strip(subset.name, source_id, distortion)
        file_name, shard = sources.loc[source_id, "file_name"], sources.loc[source_id, "shard"]
        strip.tiles.append(_tile(subset.layout.src_images / str(file_name), write,
                                 f"{subset.name}-{source_id}-source.jpg", "source", {}))
        table = store.read("images", columns=["image_id", "path", "roi_level", "bg_level", "status"], shards=[shard],
                           filter=(pc.field("source_id") == source_id) & (pc.field("distortion") == distortion))
        by_levels = {(r["roi_level"], r["bg_level"]): r for r in table.to_pylist() if r["status"] == "ok"}
        for region, roi, bg in STRIP:
            row = by_levels.get((roi, bg))
            heading = f"{region} {roi}" if region == "UD" else f"{region} ({roi}, {bg})"
            if row is None:
                strip.tiles.append(Tile(heading, {}, problem="no image in the manifest"))
                continue
            strip.tiles.append(_tile(subset.layout.root / row["path"], write, f"{subset.name}-{row['image_id']}.jpg",
                                     heading,
                                     _figures(subset, shard, row["image_id"])))
        strips.append(strip)
    return strips


def _figures(subset: Subset, shard: str, image_id: str) -> dict[str, str]:
    row = subset.images.ids.row(shard, image_id)
    psnr = subset.metrics["psnr"].values if "psnr" in subset.metrics else subset.images.psnr
    ssim = _value(subset.metrics["ssim"].values, row) if "ssim" in subset.metrics else None
    figures = {"PSNR (dB)": _format(_value(psnr, row), 1), "SSIM": _format(ssim, 3)}
    for task, labels in subset.labels.items():
        figures.update({f"{task} {label}": _format(_value(labels.values[label], row), 2) for label in LABEL_TYPES})
    return figures


def _tile(path: Path, write: Callable[[str, bytes], str], name: str, heading: str, values: dict[str, str]) -> Tile:
    try:
        data = thumbnail(path)
    except (OSError, ValueError) as error:
        return Tile(heading, values, problem=f"cannot read {path.name}: {error.__class__.__name__}")
    return Tile(heading, values, file=write(name, data))
