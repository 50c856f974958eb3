"""Inference helpers shared by the oracles: no-grad inference, NHWC for conv nets, reduced precision on CUDA
where an oracle allows it, pinned-memory transfers, and batches that shrink on CUDA out-of-memory."""

from __future__ import annotations

import contextlib
import gc
import logging
from typing import Callable, Iterator, Sequence, TypeVar

import torch

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def as_device(device: str | torch.device | None) -> torch.device:
    """A torch.device; None picks CUDA when available."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def configure_backends() -> None:
    """Throughput settings for fixed-size CUDA inference (cuDNN autotuning, TF32 matmuls)."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def autocast_dtype(device: torch.device, precision: str | None) -> torch.dtype | None:
    """The reduced-precision dtype to autocast to on ``device``, or None for full precision.

    precision: "fp16", "bf16" or None/"fp32". CPU always runs in fp32 (CPU autocast is slower there and
    changes labels for no gain); bf16 falls back to fp16 on GPUs without bf16.
    """
    if device.type != "cuda" or precision in (None, "fp32"):
        return None
    if precision not in AUTOCAST_DTYPES:
        raise ValueError(f"unknown precision {precision!r}; known: fp32, {', '.join(AUTOCAST_DTYPES)}")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return AUTOCAST_DTYPES[precision]


@contextlib.contextmanager
def inference(device: torch.device, dtype: torch.dtype | None = None) -> Iterator[None]:
    """torch.inference_mode, plus CUDA autocast to ``dtype`` when given."""
    with torch.inference_mode():
        if dtype is not None and device.type == "cuda":
            with torch.autocast(device_type="cuda", dtype=dtype):
                yield
        else:
            yield


def prepare_model(model: torch.nn.Module, device: torch.device, channels_last: bool = False) -> torch.nn.Module:
    """Eval mode on ``device``; NHWC memory format for conv nets on CUDA (faster with cuDNN and autocast)."""
    model = model.eval().to(device)
    if channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host-to-device copy, asynchronous from pinned memory (a DataLoader with pin_memory=True, or
    :func:`oracles.models.preprocess_batch` with pin_memory=True). Pageable tensors are copied as they are:
    pinning them here first would only add a copy."""
    if device.type == "cuda" and tensor.device.type == "cpu" and tensor.is_pinned():
        return tensor.to(device, non_blocking=True)
    return tensor.to(device)


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_cuda_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_with_oom_backoff(fn: Callable[[Sequence[T]], list[R]], batch: Sequence[T], chunk: int | None = None) -> list[R]:
    """``fn`` over ``batch`` in chunks (all of it at once unless ``chunk``); on CUDA out-of-memory the chunk is
    halved and the work goes on from where it failed. Raises the error when a single item does not fit.

    ``fn`` maps a slice of ``batch`` (a list or a tensor) to a list with one result per item.
    """
    n = len(batch)
    size = max(1, min(chunk or n, n)) if n else 1
    out: list[R] = []
    start = 0
    while start < n:
        part = batch[start : start + size]
        oom = False
        try:
            results = fn(part)
        except Exception as exc:
            if not is_oom(exc) or size == 1:
                raise
            oom = True  # free memory outside the handler: the traceback holds the failed frames' tensors
        if oom:
            free_cuda_memory()
            size = max(1, size // 2)
            log.warning("CUDA out of memory: retrying with batches of %d", size)
            continue
        if len(results) != len(part):
            raise AssertionError(f"{fn!r} returned {len(results)} results for {len(part)} items")
        out.extend(results)
        start += len(part)
    return out
