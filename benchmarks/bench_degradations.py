"""Degradation engine speed and memory: all 250 outputs of one source, PNG-encoded, on one core.

    python -m benchmarks.bench_degradations [--quick]

Prints, per size, the CPU time of the full work (12 candidates x 10 types, PSNR ranking, 200 fusions,
250 PNG encodings), the CPU time of merely encoding the same 250 images with cv2.imencode at its
defaults, and their ratio; then the peak memory of a 4288x2848 source in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from degradations import DATABASE_DISTORTIONS, RegionMask, run_distortion

PHOTOS = ("astronaut", "coffee", "rocket")


def pin_to_one_core() -> None:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def photo(name: str, width: int, height: int) -> np.ndarray:
    return cv2.resize(getattr(skimage.data, name)(), (width, height), interpolation=cv2.INTER_AREA)


def roi_mask(width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 4, height // 3), 0, 0, 360, 255, -1)
    return mask


def full_work(image: np.ndarray, mask: np.ndarray) -> tuple[dict[str, float], list[np.ndarray]]:
    """CPU seconds per stage for one source, and the 250 output arrays."""
    stages: dict[str, float] = defaultdict(float)
    outputs: list[np.ndarray] = []
    start = time.process_time()
    region_mask = RegionMask.from_binary(mask)
    stages["mask smoothing"] = time.process_time() - start
    for name in DATABASE_DISTORTIONS:
        start = time.process_time()
        run = run_distortion(image, region_mask, source_id="bench", distortion=name, encode=False)
        stages[f"candidates: {name}"] = time.process_time() - start
        start = time.process_time()
        for out in run.outputs:
            outputs.append(out.pixels)
        stages["fusion + psnr"] += time.process_time() - start
    start = time.process_time()
    from degradations.png import encode_png

    for pixels in outputs:
        encode_png(pixels)
    stages["png encoding (ours)"] = time.process_time() - start
    return stages, outputs


def cv2_encode_only(outputs: list[np.ndarray]) -> float:
    start = time.process_time()
    for pixels in outputs:
        cv2.imencode(".png", pixels)
    return time.process_time() - start


def bench_size(width: int, height: int, photos: tuple[str, ...]) -> None:
    totals, encodes, per_stage = [], [], defaultdict(list)
    for name in photos:
        image, mask = photo(name, width, height), roi_mask(width, height)
        stages, outputs = full_work(image, mask)
        assert len(outputs) == 250
        totals.append(sum(stages.values()))
        encodes.append(cv2_encode_only(outputs))
        for stage, seconds in stages.items():
            per_stage[stage].append(seconds)
    total, encode = float(np.mean(totals)), float(np.mean(encodes))
    print(f"\n{width}x{height}, mean of {len(photos)} photos ({', '.join(photos)}), CPU seconds on one core")
    for stage, values in per_stage.items():
        print(f"  {stage:32s} {np.mean(values) * 1000:8.1f} ms")
    print(f"  {'full work (250 PNGs)':32s} {total:8.3f} s")
    print(f"  {'cv2.imencode only (250 PNGs)':32s} {encode:8.3f} s")
    print(f"  {'ratio full / encode-only':32s} {total / encode:8.2f}")


def peak_rss_kib() -> int:
    """This process's peak resident memory (Linux's VmHWM, else getrusage)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory_child(width: int, height: int) -> None:
    """Runs in a fresh process: one source's full work, streaming outputs as the pipeline does."""
    from degradations import degrade

    clear_refs = Path("/proc/self/clear_refs")
    if clear_refs.exists():  # a forked child inherits its parent's peak: start the count afresh
        clear_refs.write_text("5")
    image, mask = photo("hubble_deep_field", width, height), roi_mask(width, height)
    baseline = peak_rss_kib()
    count = sum(1 for _ in degrade(image, mask, source_id="big"))
    print(f"{count} {baseline} {peak_rss_kib()}")


def bench_memory(width: int, height: int) -> None:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_degradations", "--memory-child", f"{width}x{height}"],
        capture_output=True, text=True, check=True,
    )
    count, baseline_kib, peak_kib = map(int, result.stdout.split())
    print(f"\n{width}x{height}: {count} outputs in {time.perf_counter() - start:.1f} s wall; peak resident memory "
          f"{peak_kib / 2**20:.2f} GiB (process baseline with the source loaded {baseline_kib / 2**20:.2f} GiB;"
          f" limit 2 GiB)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one photo per size, no memory run")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    pin_to_one_core()
    if args.memory_child:
        peak_memory_child(*map(int, args.memory_child.split("x")))
        return
    if not args.quick:
        bench_memory(4288, 2848)
    photos = PHOTOS[:1] if args.quick else PHOTOS
    for width, height in ((640, 480), (224, 224), (1500, 1000)):
        bench_size(width, height, photos)


if __name__ == "__main__":
    main()
