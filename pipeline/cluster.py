"""Dask plumbing shared by the stages: a local or remote cluster and a bounded submission loop."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from distributed import Client, Future, LocalCluster, as_completed


# glibc mallopt parameters. Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which freezes glibc's mmap threshold
# at 128 KiB: every image-sized array is then a fresh mmap whose pages the kernel must fault in and zero,
# which made workers spend as much time in the kernel as in the pipeline.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum: arrays up to 32 MiB are reused from the heap
_TRIM_THRESHOLD = 512 * 2**20


def tune_allocator() -> None:
    """Let this worker process reuse freed image buffers (glibc only; a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    except (OSError, AttributeError):
        pass


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def dask_client(scheduler: str | None, workers: int, resources: dict[str, float] | None = None,
                threads: int = 1) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a local cluster of ``workers`` processes, each
    letting its numeric libraries use ``threads`` threads."""
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, resources=resources,
            dashboard_address=":8787", silence_logs=logging.ERROR,
            env={name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        )
        client = Client(cluster)
    print(f"dask dashboard: {client.dashboard_link}", file=sys.stderr)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_bounded(client: Client, items: Iterable[Any], submit: Callable[[Client, Any], Future],
                on_result: Callable[[Any, Any | None, BaseException | None], None], window: int) -> None:
    """Submit ``items`` keeping at most ``window`` in flight; ``on_result(item, result, error)`` on each."""
    pending = iter(items)
    in_flight: dict[Future, Any] = {}

    def top_up(queue: as_completed) -> None:
        while len(in_flight) < window:
            item = next(pending, None)
            if item is None:
                return
            future = submit(client, item)
            in_flight[future] = item
            queue.add(future)

    queue = as_completed()
    top_up(queue)
    for future in queue:
        item = in_flight.pop(future)
        try:
            result, error = future.result(), None
        except Exception as exc:  # a crashed task leaves its shard uncommitted for the next run
            result, error = None, exc
        future.release()
        on_result(item, result, error)
        top_up(queue)
