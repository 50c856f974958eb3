"""Does training learn? A known-answer run on this machine (no ImageNet, no COCO, no GPU needed).

    python -m benchmarks.bench_known_answer [--epochs 12] [--keep DIR]

Builds a cls database from 14 photos that ship with installed packages (scikit-image, matplotlib,
ultralytics) and 5 crops of each as extra sources (84 sources of 96 x 96; contrast, gaussian_noise and
pixelate: 6,300 images), labels every uniform image by a rule it determines (severity k of a type with
weight w: label = 1 - w (k - 1) / 4; region-mixed images stay unlabelled), splits by photo (12 photos and
their crops train, coffee and camera with their crops test: no photo on both sides), trains
EfficientNet-Lite0 from its ImageNet weights (a pip package: offline) and evaluates on the held-out photos.
Prints SRCC / PLCC of the trained predictor and of PSNR with the label on the same test images, and the
time of each stage.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

from pipeline import evaluate, train
from tests.learning.databases import known_answer_database

# The whole 96 x 96 image in view; a higher rate than the protocol's 1e-4 for a few epochs on little data.
PROTOCOL = ["--model", "efficientnet_lite0", "--resize", "96", "--crop", "96", "--batch-size", "16",
            "--lr", "1e-3", "--warmup-lr", "1e-5"]


def run(root: Path, epochs: int, workers: int) -> dict[str, float]:
    """Build, train, evaluate; returns the figures (and leaves the run under ``root``)."""
    started = time.perf_counter()
    db, train_split, test_split = known_answer_database(root)
    built = time.perf_counter()
    run_dir = root / "run"
    args = ["--db", str(db), "--train-split", str(train_split), "--test-split", str(test_split), *PROTOCOL,
            "--epochs", str(epochs), "--workers", str(workers), "--run-dir", str(run_dir), "--no-progress"]
    with contextlib.redirect_stderr(io.StringIO()):
        assert train.main(args) == 0, "training failed"
    trained = time.perf_counter()
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(io.StringIO()):
        # the final weights: best.pt is chosen by SRCC on these very images (the release validates on its test set)
        assert evaluate.main(["--checkpoint", str(run_dir / "last.pt"), "--workers", str(workers),
                              "--output", str(root / "eval")]) == 0
    import pandas as pd

    table = pd.read_csv(root / "eval" / "agreement.csv")
    overall = table[table["grouping"] == "all"].set_index("predictor")
    best = json.loads((run_dir / "history.json").read_text())
    return {"srcc": overall.loc["prediction", "srcc"], "plcc": overall.loc["prediction", "plcc"],
            "psnr_srcc": overall.loc["psnr", "srcc"], "psnr_plcc": overall.loc["psnr", "plcc"],
            "best_validation_srcc": max(h["srcc"] for h in best), "images": int(overall.loc["prediction", "n"]),
            "build_s": built - started, "train_s": trained - built, "evaluate_s": time.perf_counter() - trained,
            "summary": output.getvalue()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build and keep everything in this folder")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_known_answer_"))
    try:
        figures = run(root, args.epochs, args.workers)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(figures.pop("summary"))
    print(f"known answer, {figures['images']} held-out images (2 photos and their crops, never seen in training): "
          f"trained Lite0 (final weights) SRCC {figures['srcc']:.4f} PLCC {figures['plcc']:.4f}; PSNR SRCC "
          f"{figures['psnr_srcc']:.4f} PLCC {figures['psnr_plcc']:.4f}; best validation SRCC during training "
          f"{figures['best_validation_srcc']:.4f}")
    print(f"time: database {figures['build_s']:.0f} s, training {args.epochs} epochs {figures['train_s']:.0f} s, "
          f"evaluation {figures['evaluate_s']:.0f} s")


if __name__ == "__main__":
    main()
