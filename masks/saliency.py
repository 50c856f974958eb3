"""Classical saliency ("saliency"): boundary contrast and spectral residual (Hou & Zhang, CVPR 2007)
under a broad centre prior, thresholded by Otsu, refined by GrabCut. No model, no weights.

The default before "lite-contrast"; kept selectable (databases built with it stay reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from degradations.imaging import check_rgb8
from masks.grabcut import GRABCUT_SEED
from masks.refine import RefineSettings, mask_from_map


@dataclass(frozen=True)
class SaliencySettings:
    map_size: int = 128  # the saliency map's longer side
    refine: RefineSettings = field(default_factory=RefineSettings)


def normalise(x: np.ndarray) -> np.ndarray:
    """``x`` min-max scaled to [0, 1] (all zeros when constant)."""
    x = x - x.min()
    peak = x.max()
    return x / peak if peak > 0 else x


def _spectral_residual(lab: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency, summed over the Lab channels."""
    out = np.zeros(lab.shape[:2], np.float64)
    for c in range(3):
        spectrum = np.fft.fft2(lab[:, :, c].astype(np.float64))
        log_amplitude = np.log(np.abs(spectrum) + 1e-8)
        residual = log_amplitude - cv2.blur(log_amplitude, (3, 3))
        out += np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    return normalise(cv2.GaussianBlur(out, (0, 0), 3))


def _boundary_contrast(lab: np.ndarray, clusters: int = 6) -> np.ndarray:
    """Distance of each pixel's Lab colour to the nearest colour cluster of the image border."""
    height, width = lab.shape[:2]
    b = max(2, round(0.04 * min(height, width)))
    border = np.concatenate(
        [lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)]
    ).astype(np.float32)
    k = min(clusters, len(border))
    cv2.setRNGSeed(GRABCUT_SEED)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centers = cv2.kmeans(border, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k)
    centers = centers[counts >= 0.05 * len(border)]
    distance = np.linalg.norm(lab.reshape(-1, 1, 3) - centers[None], axis=2).min(axis=1)
    return normalise(cv2.GaussianBlur(distance.reshape(height, width), (0, 0), 1.5))


def saliency_map(image: np.ndarray, size: int = SaliencySettings.map_size) -> np.ndarray:
    """A saliency map in [0, 1] at a scale of longer side ``size`` (float32): boundary contrast and
    spectral residual, weighted by a broad centre prior."""
    check_rgb8(image)
    height, width = image.shape[:2]
    scale = size / max(height, width)
    sw, sh = max(16, round(width * scale)), max(16, round(height * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    yy, xx = np.mgrid[0:sh, 0:sw]
    centre = np.exp(-(((xx - sw / 2) / (0.5 * sw)) ** 2 + ((yy - sh / 2) / (0.5 * sh)) ** 2))
    combined = (0.65 * _boundary_contrast(lab) + 0.35 * _spectral_residual(lab)) * (0.5 + 0.5 * centre)
    return normalise(combined).astype(np.float32)


def saliency_mask(image: np.ndarray, settings: SaliencySettings = SaliencySettings()) -> np.ndarray:
    """The classical method's {0, 255} mask (a flat image gives an empty one)."""
    check_rgb8(image)
    return mask_from_map(image, saliency_map(image, settings.map_size), settings.refine)


def saliency_masks(images: Sequence[np.ndarray], settings: SaliencySettings) -> list[np.ndarray]:
    return [saliency_mask(image, settings) for image in images]
