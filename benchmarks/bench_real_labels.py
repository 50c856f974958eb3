"""A real-label run: the built-in sample photos (and crops of them) labelled by the three classifiers whose
weights ship in pip packages, a predictor trained on them, and its agreement with those labels next to
PSNR's on the same held-out sources.

    python -m benchmarks.bench_real_labels [--epochs 3] [--crops 3] [--test-photo chelsea] [--keep DIR]

The five cls sample photos (cat, espresso, missile, tripod, clock: honest ImageNet classes) and three
crops of each (60% of each side) are the sources, shorter side 240; the ten database distortions make 250
images per source; efficientnet_lite0/1/2 label them (composite = 0.5 consistency + 0.5 accuracy,
weighted over the three). One photo and its crops are the test sources, the other four photos train an
EfficientNet-Lite0 (ImageNet weights from its pip package). Prints the evaluation summary (trained
predictor and PSNR, overall and per distortion) and the time of each stage.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import evaluate, score, train
from tests.conftest import load_photo
from tests.learning.databases import write_split_files

PHOTOS = {"chelsea": ("chelsea", 281), "coffee": ("coffee", 967), "rocket": ("rocket", 657),
          "camera": ("camera", 872), "clock": ("clock", 409)}
CROPS = ((0.0, 0.0), (0.4, 0.4), (0.2, 0.2))


def write_sources(folder: Path, shorter: int = 240, crops: int = len(CROPS)) -> dict[str, str]:
    """Photos and crops (aspect kept, shorter side ``shorter``) and labels.csv; returns source -> photo."""
    folder.mkdir(parents=True, exist_ok=True)
    owner, labels = {}, []
    for name, (skimage_name, label) in PHOTOS.items():
        full = load_photo(skimage_name)
        full = np.repeat(full[:, :, None], 3, axis=2) if full.ndim == 2 else full[:, :, :3]
        h, w = full.shape[:2]
        pieces = {name: full}
        for k, (top, left) in enumerate(CROPS[:crops]):
            pieces[f"{name}_crop{k}"] = full[int(top * h): int(top * h) + int(0.6 * h),
                                             int(left * w): int(left * w) + int(0.6 * w)]
        for source, pixels in pieces.items():
            image = Image.fromarray(np.ascontiguousarray(pixels))
            scale = shorter / min(image.size)
            image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC).save(
                folder / f"{source}.png")
            owner[source] = name
            labels.append((f"{source}.png", label))
    with open(folder.parent / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("file", "class"), *labels])
    return owner


def run(root: Path, epochs: int, test_photo: str, workers: int, crops: int = len(CROPS)) -> dict[str, object]:
    times = {}
    started = time.perf_counter()
    out = root / "out"
    if not (out / "miqa_cls" / "manifests" / "labels" / "cls" / "mmos").is_dir():
        owner = write_sources(root / "src", crops=crops)
        from pipeline import generate as generate_stage

        with contextlib.redirect_stderr(io.StringIO()):
            assert generate_stage.main(["--subset", "cls", "--source", str(root / "src"), "--labels",
                                        str(root / "labels.csv"), "--out", str(out), "--workers", "2"]) == 0
        times["generate_s"] = time.perf_counter() - started
        with contextlib.redirect_stderr(io.StringIO()):
            assert score.main(["--models", "offline", "--out", str(out), "--device", "cpu"]) == 0
        times["score_s"] = time.perf_counter() - started - times["generate_s"]
    else:
        owner = {p.stem: p.stem.split("_crop")[0] for p in (root / "src").glob("*.png")}
    train_split, test_split = write_split_files(root / f"split-{test_photo}", owner, {test_photo})
    run_dir = root / f"run-{test_photo}"
    begin = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        assert train.main(["--db", str(out), "--train-split", str(train_split), "--test-split", str(test_split),
                           "--model", "efficientnet_lite0", "--resize", "128", "--crop", "112", "--batch-size", "32",
                           "--lr", "1e-3", "--warmup-lr", "1e-5", "--epochs", str(epochs), "--workers",
                           str(workers), "--run-dir", str(run_dir), "--no-progress"]) == 0
    times["train_s"] = time.perf_counter() - begin
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary), contextlib.redirect_stderr(io.StringIO()):
        assert evaluate.main(["--checkpoint", str(run_dir / "best.pt"), "--workers", str(workers)]) == 0
    return {"summary": summary.getvalue(), **times}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--test-photo", default="chelsea", choices=sorted(PHOTOS))
    parser.add_argument("--crops", type=int, default=len(CROPS), choices=range(len(CROPS) + 1),
                        help="crops of each photo as extra sources (fewer: a shorter run)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build (or reuse) everything in this folder")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_real_labels_"))
    try:
        figures = run(root, args.epochs, args.test_photo, args.workers, args.crops)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(figures.pop("summary"))
    print("time: " + ", ".join(f"{k[:-2]} {v:.0f} s" for k, v in figures.items()))


if __name__ == "__main__":
    main()
