"""Full-reference metrics: CPU throughput per metric, batched vs one image at a time, side by side.

    python -m benchmarks.bench_hvs [--metrics all] [--images 8] [--repeats 2] [--device cpu] [--threads N]
                                   [--memory]

For each size (500x375, 224x224) a real photo and N degraded copies (gaussian noise of N strengths) are
scored by each metric through ``hvs.Scorer.score``: once over the N images (batched, one shared reference),
once one image per call; each the best of --repeats runs of at least 0.5 s, alternating. Prints images/s of
both and their ratio (and, for per-pixel metrics on CPU, of the whole chunk in one call, which the
cache-sized cap avoids), and the PNG decode rate (each image is decoded once and shared by all metrics, so
decoding is not in the per-metric figures). LPIPS and DISTS run with random weights when their files are not
on this machine (the same compute). On a machine shared with other work, pass --threads 1: torch's threads
oversubscribed by other processes make every figure several times slower.

``--memory`` measures, in a fresh process per metric and batch size, the peak resident memory per image
pixel of a whole-chunk call (the slope between 2 and 6 images of 256x256): the registry's
``bytes_per_pixel``, which sizes chunks.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

import hvs
import hvs.compute
from hvs.compute import decode
from hvs.resize import working_size
from hvs.weights import find
from tests.conftest import load_photo
from tests.hvs.synthetic import write_synthetic_weights

SIZES = ((500, 375), (224, 224))

# Run in a fresh process: resets the peak resident size (Linux's /proc/self/clear_refs), scores whole chunks
# (the CPU cap on per-pixel metrics lifted, as on CUDA), prints the peak. getrusage's ru_maxrss cannot be
# used: a child started from a large parent reports the parent's size.
_PROBE = """
import re, sys, numpy as np, hvs, hvs.compute
hvs.compute.CPU_BATCH_PIXELS = 1 << 40
name, count, side, weights_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
reference = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
images = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(count)]
scorer = hvs.Scorer(name, hvs.ComputeSettings("cpu", memory_budget_mb=1 << 20, weights_dir=weights_dir))
scorer.score(reference, images[:1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
scorer.score(reference, images)
print(int(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024)
"""


def noisy_copies(reference: np.ndarray, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    sigmas = np.geomspace(2, 60, count)
    return [np.clip(reference + rng.normal(0, s, reference.shape), 0, 255).astype(np.uint8) for s in sigmas]


def throughput(scorer: hvs.Scorer, reference: np.ndarray, images: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Images/s of each way of calling, the best of ``repeats`` runs, the ways alternating so that all see the
    same machine load: "batched" (one call for all images), "one by one" (one call per image) and, on CPU for
    per-pixel metrics, "whole chunk" (one call with the cache-sized cap lifted, as on CUDA)."""
    ways = {"batched": lambda: scorer.score(reference, images),
            "one by one": lambda: [scorer.score(reference, [image]) for image in images]}
    if scorer.batch_cap(scorer.specs[0], *reference.shape[1::-1]) is not None:
        ways["whole chunk"] = lambda: _uncapped(scorer, reference, images)
    scorer.score(reference, images[:2])  # warm-up: lazy imports, kernels, FFT plans
    best = dict.fromkeys(ways, 0.0)
    for _ in range(repeats):
        for way, run in ways.items():
            best[way] = max(best[way], len(images) * _calls_per_second(run))
    return best


def _calls_per_second(run: Callable[[], object], min_seconds: float = 0.5) -> float:
    """Calls of ``run`` per second, over as many calls as fill ``min_seconds`` (one at least)."""
    calls = 0
    start = time.perf_counter()
    while calls == 0 or time.perf_counter() - start < min_seconds:
        run()
        calls += 1
    return calls / (time.perf_counter() - start)


def _uncapped(scorer: hvs.Scorer, reference: np.ndarray, images: list[np.ndarray]) -> None:
    cap, hvs.compute.CPU_BATCH_PIXELS = hvs.compute.CPU_BATCH_PIXELS, 1 << 40
    try:
        scorer.score(reference, images)
    finally:
        hvs.compute.CPU_BATCH_PIXELS = cap


def decode_rate(images: list[np.ndarray]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, image in enumerate(images):
            paths.append(Path(folder) / f"{i}.png")
            cv2.imwrite(str(paths[-1]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        start = time.perf_counter()
        for path in paths:
            decode(path)
        return len(paths) / (time.perf_counter() - start)


def peak_bytes_per_pixel(name: str, weights_dir: Path, side: int = 256, counts: tuple[int, int] = (2, 6)) -> float:
    peaks = []
    for count in counts:
        out = subprocess.run([sys.executable, "-c", _PROBE, name, str(count), str(side), str(weights_dir)],
                             capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.split()[0]))
    return (peaks[1] - peaks[0]) / (counts[1] - counts[0]) / side**2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", default="all")
    parser.add_argument("--images", type=int, default=8, help="degraded images per source")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode; the best counts")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory per pixel")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    specs = hvs.resolve(args.metrics)
    with tempfile.TemporaryDirectory() as scratch:
        weights_dir = None
        random_weights = [s.name for s in specs if any(find(f) is None for f in s.weights)]
        if random_weights:
            weights_dir = write_synthetic_weights(Path(scratch) / "weights")
        print(f"device {args.device}, {torch.get_num_threads()} torch threads, {args.images} images per source"
              + (f"; random weights: {', '.join(random_weights)}" if random_weights else ""))
        scorers = {s.name: hvs.Scorer(s.name, hvs.ComputeSettings(args.device, weights_dir=weights_dir))
                   for s in specs}
        for width, height in SIZES:
            reference = load_photo("chelsea", (width, height))
            images = noisy_copies(reference, args.images)
            print(f"{width}x{height}: PNG decode {decode_rate(images):.0f} img/s (once per image, shared)")
            for name, scorer in scorers.items():
                rates = throughput(scorer, reference, images, args.repeats)
                spec = scorer.specs[0]
                per_call = min(scorer.chunk_size(width, height), len(images),
                               scorer.batch_cap(spec, *working_size(width, height, spec.min_side)) or len(images))
                line = (f"  {name:8s} batched {rates['batched']:7.1f} img/s ({per_call} per call)   one by one "
                        f"{rates['one by one']:7.1f} img/s   ratio {rates['batched'] / rates['one by one']:4.2f}")
                if "whole chunk" in rates:
                    line += f"   whole chunk in one call {rates['whole chunk']:7.1f} img/s"
                print(line)
        if args.memory:
            print("peak memory per image pixel (256x256, slope between 2 and 6 images), declared in the registry:")
            for spec in specs:
                measured = peak_bytes_per_pixel(spec.name, weights_dir or Path(scratch))
                print(f"  {spec.name:8s} measured {measured:6.0f} B/px   declared {spec.bytes_per_pixel:5d} B/px")


if __name__ == "__main__":
    main()
