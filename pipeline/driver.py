"""One driver for every stage: run a stage's units locally or on a Dask cluster, with progress, and save what
each unit did.

A stage is small: it plans its units from the manifests (in the client), and ``run_unit`` does one unit in a
worker process: compute, publish its parts atomically, return a :class:`UnitStats`. The driver submits units
with a bounded window (paths and settings travel, never pixels), shows one progress bar over the stage's items,
saves every unit's stats as ``manifests/stats/<stage>/<unit>.json`` next to the parts, and collects failures:
a unit that raises leaves its parts unpublished, and the next run redoes it.

    with Session(Execution(workers=2)) as session:     # connects to --scheduler now, before anything is written
        result = session.run(stage, units)
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, Protocol, Sequence, TypeVar

from manifests.settings import write_json_atomic
from pipeline.errors import EnvironmentProblem, one_line

# glibc mallopt parameters. Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which freezes glibc's mmap threshold
# at 128 KiB: every image-sized array is then a fresh mmap whose pages the kernel must fault in and zero,
# which made workers spend as much time in the kernel as in the pipeline.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum: arrays up to 32 MiB are reused from the heap
_TRIM_THRESHOLD = 512 * 2**20
DASHBOARD_PORT = 8787


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


@dataclass(frozen=True)
class Execution:
    """Where units run: a local cluster of ``workers`` processes, or the cluster at ``scheduler``."""

    workers: int | None = None  # None: the stage's default (one per core; one per GPU for scoring)
    scheduler: str | None = None  # tcp://host:8786; OUT must be on a filesystem every worker sees
    connect_timeout: float = 10.0
    progress: bool = True


@dataclass
class UnitStats:
    """What one unit did; saved as JSON beside the stage's parts and summed into the run's summary."""

    stage: str
    unit: str
    items_ok: int = 0
    items_failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # "<item>: <reason>", one line each
    counts: dict[str, int] = field(default_factory=dict)  # stage-specific tallies (sources_ok, mask methods...)


class Unit(Protocol):
    @property
    def key(self) -> str: ...  # stable and unique within the stage: names the unit's stats file

    @property
    def weight(self) -> int: ...  # items the unit handles, for the progress bar


U = TypeVar("U", bound=Unit)


class Stage(Protocol, Generic[U]):
    name: str  # generate | score | labels | metrics
    item_name: str  # what the progress bar counts (img, source...)
    stats_dir: Path  # manifests/stats/<name>

    def run_unit(self, unit: U) -> UnitStats: ...


class SubsetStage:
    """What every stage working on one subset folder (its ``root``) shares: the layout, and where unit stats go."""

    root: str
    name: str

    @property
    def layout(self) -> Any:
        from manifests.layout import SubsetLayout

        return SubsetLayout(Path(self.root))

    @property
    def stats_dir(self) -> Path:
        return self.layout.stats_dir(self.name)


@dataclass
class StageResult:
    """The sum of a stage's units in one run."""

    stage: str
    units: int = 0
    items_ok: int = 0
    items_failed: int = 0
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # reason -> how many items failed for it
    crashed: list[str] = field(default_factory=list)  # "<unit>: <reason>" of units that raised

    def add(self, stats: UnitStats) -> None:
        self.units += 1
        self.items_ok += stats.items_ok
        self.items_failed += stats.items_failed
        self.counts.update(stats.counts)
        self.errors.update(line.split(": ", 1)[-1] for line in stats.errors)


def execute_unit(stage: Stage, unit: Unit) -> UnitStats:
    """Run one unit in a worker process and save its stats (after its parts are published)."""
    import cv2

    cv2.setNumThreads(1)  # one worker process per core
    tune_allocator()
    started = time.perf_counter()
    stats = stage.run_unit(unit)
    stats.seconds = time.perf_counter() - started
    write_json_atomic(stage.stats_dir / f"{unit.key}.json", asdict(stats))
    return stats


def _dashboard_address() -> str:
    """Dask's usual port when it is free, else any free port (no "port in use" warning on every run)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", DASHBOARD_PORT))
        except OSError:
            return "127.0.0.1:0"
    return f"127.0.0.1:{DASHBOARD_PORT}"


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (inherited): a terminal's Ctrl-C reaches the whole process
    group, and only the client should answer it, by closing the cluster (no tracebacks from every worker)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Session:
    """The cluster of one command: connects to ``--scheduler`` on entry (so an unreachable one fails before
    anything is written) or starts a local cluster the first time a stage has units."""

    def __init__(self, execution: Execution, workers: int | None = None, resources: dict[str, float] | None = None,
                 threads: int = 1) -> None:
        self.execution = execution
        self.workers = execution.workers or workers or default_workers()
        self.resources = resources
        self.threads = threads
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> "Session":
        if self.execution.scheduler:
            self._connect(self.execution.scheduler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self, address: str) -> None:
        from distributed import Client

        try:
            self._client = Client(address, timeout=self.execution.connect_timeout)
        except (OSError, TimeoutError, ValueError) as error:
            raise EnvironmentProblem(
                f"cannot reach the Dask scheduler at {address} within {self.execution.connect_timeout:.0f} s "
                f"({one_line(error)}); check the address, or leave out --scheduler to run on this machine"
            ) from None
        self._say(f"dask cluster: {address} ({len(self._client.nthreads())} workers)")

    @property
    def client(self) -> Any:
        if self._client is None:
            from distributed import Client, LocalCluster

            with _workers_ignore_ctrl_c():
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True, resources=self.resources,
                    dashboard_address=_dashboard_address(), silence_logs=logging.ERROR,
                    env={name: str(self.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                               "OPENBLAS_NUM_THREADS")},
                )
            self._client = Client(self._cluster)
            self._say(f"dask dashboard: {self._client.dashboard_link}")
        return self._client

    @property
    def slots(self) -> int:
        """Units that can run at once."""
        return max(1, sum(self.client.nthreads().values()))

    def _say(self, line: str) -> None:
        if self.execution.progress:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def run(self, stage: Stage, units: Sequence[Unit], resources: dict[str, float] | None = None,
            describe: Callable[[StageResult], str] | None = None) -> StageResult:
        """Run every unit (at most two per worker in flight); failures of single units are collected."""
        from tqdm import tqdm

        result = StageResult(stage.name)
        if not units:
            return result
        stage.stats_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        bar = tqdm(total=sum(u.weight for u in units), unit=stage.item_name, desc=stage.name, dynamic_ncols=True,
                   smoothing=0.05, disable=not self.execution.progress)

        def done(unit: Unit, stats: UnitStats | None, error: BaseException | None) -> None:
            if stats is None:
                result.crashed.append(f"{unit.key}: {one_line(error)}")
            else:
                result.add(stats)
                for line in stats.errors[:20]:
                    bar.write(f"failed: {line}", file=sys.stderr)
            bar.update(unit.weight)
            postfix = describe(result) if describe else f"{result.items_failed} failed"
            bar.set_postfix_str(postfix + (f", {len(result.crashed)} units crashed" if result.crashed else ""))

        try:
            run_bounded(self.client, units,
                        lambda client, unit: client.submit(execute_unit, stage, unit, key=f"{stage.name}-{unit.key}",
                                                           pure=False, resources=resources),
                        done, 2 * self.slots)
        finally:
            bar.close()
        result.seconds = time.perf_counter() - started
        return result


def run_bounded(client: Any, items: Iterable[Any], submit: Callable[[Any, Any], Any],
                on_result: Callable[[Any, Any | None, BaseException | None], None], window: int) -> None:
    """Submit ``items`` keeping at most ``window`` in flight; ``on_result(item, result, error)`` on each."""
    from distributed import as_completed

    pending = iter(items)
    in_flight: dict[Any, Any] = {}

    def top_up(queue: Any) -> None:
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
        except Exception as exc:  # a crashed unit leaves its parts unpublished for the next run
            result, error = None, exc
        future.release()
        on_result(item, result, error)
        top_up(queue)
