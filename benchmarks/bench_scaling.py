"""Generation throughput with 1 and 2 local workers, side by side in one run.

    python -m benchmarks.bench_scaling [--sources 16]

Writes real photos (scikit-image's) resized to 640x480 as JPEG sources, then runs the full generate command
(10 types, 250 PNGs per source, manifests) with --workers 1 and --workers 2 into fresh folders, and prints
images per second for each and their ratio. Cluster start-up is included in both.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import skimage.data

from pipeline import generate

PHOTOS = ("astronaut", "coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=96)
    parser.add_argument("--tmp", help="where to write sources and outputs (default: the system's temp folder)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench_scaling_", dir=args.tmp))
    try:
        folder = root / "src"
        folder.mkdir()
        for i in range(args.sources):
            image = getattr(skimage.data, PHOTOS[i % len(PHOTOS)])()
            image = cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)
            image = cv2.flip(image, 1) if (i // len(PHOTOS)) % 2 else image  # distinct sources
            cv2.imwrite(str(folder / f"photo_{i:03d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rates = {}
        for workers in (1, 2):
            out = root / f"out{workers}"
            start = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                code = generate.main(["--subset", "det", "--source", str(folder), "--out", str(out),
                                      "--workers", str(workers), "--shard-size", "1"])
            seconds = time.perf_counter() - start
            assert code == 0
            rates[workers] = 250 * args.sources / seconds
            print(f"{workers} worker(s): {args.sources} sources, {250 * args.sources} images in {seconds:.1f} s "
                  f"= {rates[workers]:.0f} images/s")
        print(f"throughput ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f}")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
