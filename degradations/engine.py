"""One source in, its degraded images out: candidates, severity selection, region fusion, PNG encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from degradations import registry
from degradations.imaging import check_rgb8
from degradations.png import encode_png
from degradations.regions import RegionConfig, RegionMask, fuse, output_name, region_configs
from degradations.seeding import candidate_seed
from degradations.severity import SELECTED_RANKS, psnr, rank_by_psnr, select_ranks


@dataclass(frozen=True)
class Candidate:
    """One of a type's candidate images, with what reproduces it."""

    distortion: str
    index: int  # 1-based position in the type's candidate table
    params: tuple[float, ...]
    seed: int  # numpy.random.default_rng(seed) replays its draws
    psnr: float
    rank: int  # 1 = highest PSNR among the type's candidates
    severity: int | None  # 1..5 when kept, else None


@dataclass(frozen=True)
class DegradedImage:
    """One output image and the facts the manifest records about it."""

    source_id: str
    distortion: str
    config: RegionConfig
    file_name: str
    roi: Candidate
    bg: Candidate
    psnr: float
    region_fallback: bool  # ROI-DD/BG-DD on an empty or full mask: the image is a uniform one
    pixels: np.ndarray
    png: bytes | None


@dataclass
class DistortionRun:
    """One type on one source: its 12 candidates (computed eagerly) and its 25 outputs (lazily)."""

    distortion: str
    candidates: list[Candidate]
    outputs: Iterator[DegradedImage]


def run_distortion(
    image: np.ndarray,
    mask: RegionMask,
    *,
    source_id: str,
    distortion: str,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    ranks: Sequence[int] = SELECTED_RANKS,
    encode: bool = True,
) -> DistortionRun:
    """Compute every candidate of ``distortion``, keep ``ranks`` as severities, and prepare the fusions.

    Only the kept candidates stay in memory once the outputs start; the others are never encoded.
    """
    check_rgb8(image)
    spec = registry.get(distortion)
    opts = {**spec.default_options(), **(options or {})}
    images: list[np.ndarray] = []
    seeds: list[int] = []
    psnrs: list[float] = []
    for index, params in enumerate(spec.candidates, start=1):
        seed_i = candidate_seed(seed, source_id, distortion, index)
        out = spec(image, params, np.random.default_rng(seed_i), **opts)
        images.append(out)
        seeds.append(seed_i)
        psnrs.append(psnr(image, out))
    rank_of = {candidate: rank for rank, candidate in enumerate(rank_by_psnr(psnrs), start=1)}
    severity_of = {candidate: level for level, candidate in enumerate(select_ranks(psnrs, ranks), start=1)}
    candidates = [
        Candidate(distortion, i + 1, spec.candidates[i], seeds[i], psnrs[i], rank_of[i], severity_of.get(i))
        for i in range(len(images))
    ]
    levels = {level: (candidates[i], images[i]) for i, level in severity_of.items()}
    images.clear()
    return DistortionRun(
        distortion, candidates, _outputs(image, mask, source_id, distortion, levels, encode)
    )


def _outputs(
    image: np.ndarray,
    mask: RegionMask,
    source_id: str,
    distortion: str,
    levels: dict[int, tuple[Candidate, np.ndarray]],
    encode: bool,
) -> Iterator[DegradedImage]:
    fallback = mask.flag != "ok"
    for config in region_configs():
        roi, roi_pixels = levels[config.roi_level]
        bg, bg_pixels = levels[config.bg_level]
        if config.region == "UD":
            pixels, quality = roi_pixels, roi.psnr
        else:
            pixels = fuse(roi_pixels, bg_pixels, mask)
            quality = psnr(image, pixels)
        yield DegradedImage(
            source_id=source_id,
            distortion=distortion,
            config=config,
            file_name=output_name(source_id, distortion, config),
            roi=roi,
            bg=bg,
            psnr=quality,
            region_fallback=fallback and config.region != "UD",
            pixels=pixels,
            png=encode_png(pixels) if encode else None,
        )


def degrade(
    image: np.ndarray,
    mask: np.ndarray | RegionMask | None = None,
    *,
    source_id: str,
    seed: int = 0,
    distortions: Sequence[str] = registry.DATABASE_DISTORTIONS,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    encode: bool = True,
) -> Iterator[DegradedImage]:
    """All outputs of one source: 25 per distortion type (250 for the database's ten), in order.

    ``mask`` is the binary ROI mask (H, W); None means no ROI (an empty mask: every fusion falls back to
    the uniform image, and is flagged). ``options`` maps a type name to its options.
    """
    check_rgb8(image)
    if not isinstance(mask, RegionMask):
        binary = np.zeros(image.shape[:2], np.uint8) if mask is None else np.asarray(mask)
        if binary.shape != image.shape[:2]:
            raise ValueError(f"mask shape {binary.shape} does not match image {image.shape[:2]}")
        mask = RegionMask.from_binary(binary)
    for name in distortions:
        run = run_distortion(
            image,
            mask,
            source_id=source_id,
            distortion=name,
            seed=seed,
            options=(options or {}).get(name),
            encode=encode,
        )
        yield from run.outputs
