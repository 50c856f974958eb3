"""Batched computation of full-reference metrics for the degraded images of one source.

    scorer = Scorer("psnr,ssim,ms_ssim,vif_p,vsi", ComputeSettings(device="cuda"))
    results = scorer.score(source_rgb, ["out/.../a_contrast_1.png", ...])
    results["ms_ssim"][0]        # MetricResult(value=0.93, upsampled=False, error=None)

All degraded images of a source have the source's size, so they are stacked into batches that share the
reference (broadcast, never copied), in chunks sized to a memory budget. Each image is decoded once and
shared by every metric; a metric whose minimum side exceeds the pair's shorter side gets both images
upsampled (:mod:`hvs.resize`) and its results are flagged. Failures stay with their image: an unreadable
file or one of the wrong size fails for every metric, a metric that raises or returns a non-finite value
fails for that image and metric only.

Pixels are prepared as the release prepared them: RGB, ``torchvision.transforms.functional.to_tensor``'s
float32 in [0, 1], the degraded image as piq's ``x`` and the source as its ``y``. On CPU the per-pixel
metrics take cache-sized batches (:data:`CPU_BATCH_PIXELS`); on CUDA the whole chunk, in full float32.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

import cv2
import numpy as np
import torch
from PIL import Image

from degradations.imaging import check_rgb8, to_rgb8
from hvs.registry import MetricSpec, resolve
from hvs.resize import resize_rgb, working_size
from hvs.weights import resolve_weights
from oracles.runtime import as_device, run_with_oom_backoff

ImageInput = Union[str, Path, np.ndarray]
# On CPU the per-pixel metrics run fastest on batches that stay cache-sized: on 500x375 images, 8 of them in
# one call ran PSNR, SSIM, MS-SSIM and VIF-p 1.5 to 3.5 times slower than one per call (benchmarks/bench_hvs.py).
# Batches of the VGG metrics, which are compute-bound and share the reference's features, are not capped.
CPU_BATCH_PIXELS = 2**18
MetricCall = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ComputeSettings:
    """Where and how the metrics run. ``device`` None picks CUDA when available. ``memory_budget_mb`` bounds
    one chunk's working memory (host RAM on CPU, device memory on CUDA) by the metrics' declared
    ``bytes_per_pixel``; CUDA out-of-memory halves a chunk anyway. Weight files are resolved by
    :func:`hvs.weights.resolve_weights` with ``weights_dir`` and ``allow_download``."""

    device: str | None = None
    memory_budget_mb: int = 2048
    weights_dir: str | None = None
    allow_download: bool = False

    def __post_init__(self) -> None:
        if self.memory_budget_mb < 1:
            raise ValueError(f"memory_budget_mb must be positive, got {self.memory_budget_mb}")


@dataclass(frozen=True)
class MetricResult:
    """One metric of one degraded image against its source."""

    value: float | None  # None when failed
    upsampled: bool  # computed on the pair upsampled to the metric's minimum side
    error: str | None = None  # one-line reason when failed

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "failed"


def build_metric(spec: MetricSpec, files: dict[str, Path], device: torch.device) -> MetricCall:
    """The callable ``f(x, y) -> one value per image`` of a registered metric."""
    module, _, name = (spec.function or spec.builder).rpartition(".")
    target = getattr(importlib.import_module(module), name)
    if spec.function is not None:
        return partial(target, data_range=spec.data_range, reduction="none", **dict(spec.kwargs))
    return target({f.name: files[f.name] for f in spec.weights}, **dict(spec.kwargs)).eval().to(device)


def decode(image: ImageInput) -> np.ndarray:
    """An RGB uint8 array from an array or a file (PNG through OpenCV, anything else through PIL's
    ``convert('RGB')``, both as the release read them)."""
    if isinstance(image, np.ndarray):
        check_rgb8(image)
        return image
    path = Path(image)
    if path.suffix.lower() == ".png":
        data = np.fromfile(path, np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            raise ValueError("not a readable PNG")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    with Image.open(path) as opened:
        return to_rgb8(opened)


def to_batch(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """(N, 3, H, W) uint8 on ``device`` (4 times smaller than floats, to cross to the device and to keep)."""
    return torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).contiguous()


def to_float(batch: torch.Tensor, data_range: float) -> torch.Tensor:
    """uint8 to float32 in [0, data_range]; for 1, torchvision's ``to_tensor``: ``float().div(255)``. Done per
    metric call, so that only the images of one call exist as floats."""
    if data_range == 1:
        return batch.float().div(255)
    return batch.float().mul(data_range / 255)


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """TF32 off for cuDNN convolutions and matmuls (cuDNN's default is on), restored afterwards. TF32 keeps
    10 mantissa bits; piq computes variances as E[x^2] - E[x]^2, where that rounding is of the order of
    SSIM's stabilising constants."""
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = cudnn, matmul


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Scorer:
    """Loaded metrics on one device. Resolves every weight file first (MissingWeightsError lists the missing
    ones before anything is built), then builds each metric once; :meth:`score` runs them per source."""

    def __init__(self, metrics: str | Sequence[str], settings: ComputeSettings = ComputeSettings()) -> None:
        self.specs = resolve(metrics if isinstance(metrics, str) else ",".join(metrics))
        self.settings = settings
        self.device = as_device(settings.device)
        files = resolve_weights(self.specs, settings.weights_dir, settings.allow_download)
        self._calls = {spec.name: build_metric(spec, files, self.device) for spec in self.specs}

    def chunk_size(self, width: int, height: int) -> int:
        """Images per chunk for this source size within the memory budget (at least one)."""
        per_image = max(spec.bytes_per_pixel * math.prod(working_size(width, height, spec.min_side))
                        for spec in self.specs)
        return max(1, self.settings.memory_budget_mb * 2**20 // per_image)

    def batch_cap(self, spec: MetricSpec, width: int, height: int) -> int | None:
        """Most images per call of ``spec`` at its working size (None: the whole chunk)."""
        if self.device.type == "cpu" and spec.function is not None:
            return max(1, CPU_BATCH_PIXELS // (width * height))
        return None

    def score(self, reference: np.ndarray, images: Sequence[ImageInput]) -> dict[str, list[MetricResult]]:
        """Every metric of every image against ``reference`` (RGB uint8, the pristine source), in order:
        ``{metric: [MetricResult per image]}``. Raises ValueError only for a bad reference."""
        check_rgb8(reference)
        height, width = reference.shape[:2]
        sizes = {s.name: working_size(width, height, s.min_side) for s in self.specs}
        results: dict[str, list[MetricResult | None]] = {s.name: [None] * len(images) for s in self.specs}
        references: dict[tuple[int, int], torch.Tensor] = {}  # the source at each working size
        chunk = self.chunk_size(width, height)
        with torch.inference_mode(), exact_float32():
            for start in range(0, len(images), chunk):
                decoded: dict[int, np.ndarray] = {}
                for index in range(start, min(start + chunk, len(images))):
                    try:
                        decoded[index] = self._read(images[index], width, height)
                    except Exception as exc:  # this image fails for every metric, the others go on
                        for spec in self.specs:
                            upsampled = sizes[spec.name] != (width, height)
                            results[spec.name][index] = MetricResult(None, upsampled, _one_line(exc))
                if not decoded:
                    continue
                batches: dict[tuple[int, int], torch.Tensor] = {}  # the chunk at each working size
                for spec in self.specs:
                    size = sizes[spec.name]
                    if size not in batches:
                        batches[size] = to_batch([resize_rgb(d, size) for d in decoded.values()], self.device)
                    if size not in references:
                        references[size] = to_batch([resize_rgb(reference, size)], self.device)
                    outcomes = self._run(spec, batches[size], references[size])
                    for index, (value, error) in zip(decoded, outcomes):
                        results[spec.name][index] = MetricResult(value, size != (width, height), error)
        return results  # type: ignore[return-value]  # every slot filled above

    @staticmethod
    def _read(image: ImageInput, width: int, height: int) -> np.ndarray:
        array = decode(image)
        if array.shape[:2] != (height, width):
            name = Path(image).name if not isinstance(image, np.ndarray) else "image"
            raise ValueError(f"{name} is {array.shape[1]}x{array.shape[0]}, its source {width}x{height}")
        return array

    def _run(self, spec: MetricSpec, x: torch.Tensor, y: torch.Tensor) -> list[tuple[float | None, str | None]]:
        """(value, error) per image of the uint8 batch ``x`` against the one-image uint8 batch ``y``; a batch
        that raises is redone image by image so that only the image at fault fails."""
        call = self._calls[spec.name]
        reference = to_float(y, spec.data_range)

        def values(part: torch.Tensor) -> list[float]:
            out = call(to_float(part, spec.data_range), reference.expand(len(part), -1, -1, -1))
            return out.reshape(len(part)).double().cpu().tolist()

        try:
            computed: list[float | BaseException] = run_with_oom_backoff(
                values, x, self.batch_cap(spec, x.shape[-1], x.shape[-2]))
        except Exception:
            computed = []
            for i in range(len(x)):
                try:
                    computed.append(values(x[i : i + 1])[0])
                except Exception as exc:
                    computed.append(exc)
        outcomes: list[tuple[float | None, str | None]] = []
        for value in computed:
            if isinstance(value, BaseException):
                outcomes.append((None, _one_line(value)))
            elif not math.isfinite(value):
                outcomes.append((None, f"{spec.name} is {value}"))
            else:
                outcomes.append((value, None))
        return outcomes
