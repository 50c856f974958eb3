"""Scoring loop vs bare model forward, per oracle, at the same batch size.

    python -m benchmarks.bench_score [--device cuda] [--models efficientnet_lite0,resnet50] [--batch-size 64]

Generates a small cls subset (real photos, 10 types: 502 images incl. the 2 sources), then for each oracle
times (a) the scoring loop of one shard (PNG decode in DataLoader workers, shared preprocessing, forward,
top-5, Parquet part) and (b) the bare forward on a preprocessed batch held on the device, repeated to
the same image count. Prints images/s for both, their ratio, and the projected device-hours for the
database's classification half (5,000 sources x 251 images, each scored by the 40 classifiers) if every
classifier ran at the measured loop rate of this mix. The detection half (5,000 x 251 COCO images x 20
detectors and 15 segmenters) is not projected: this benchmark times classifiers only. It also
times the input side alone (PNG decode, the classifiers' shared preprocessing and collation, in one
process): what each DataLoader worker process can feed to all the oracles of a preprocessing group.
Oracles without weights on this machine run with random weights (same compute).
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
import torch

from oracles import registry
from oracles.models import load_oracle
from oracles.weights import find_weights
from pipeline import generate
from manifests.layout import SubsetLayout
from pipeline.scoring_unit import ImageSet, ScoreOptions, ScoreUnit, ScoringStage, collate, score_unit, shard_items
from tests.conftest import load_photo

CLS_IMAGES = 5_000 * 251  # sources and their 250 degraded images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="efficientnet_lite0,mobilenet_v3_large,resnet50")
    parser.add_argument("--batch-size", type=int, default=64 if torch.cuda.is_available() else 8)
    parser.add_argument("--loader-workers", type=int, default=4 if torch.cuda.is_available() else 0)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench_score_"))
    try:
        folder = root / "src"
        folder.mkdir()
        for name in ("chelsea", "coffee"):
            cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(load_photo(name, (500, 375)), cv2.COLOR_RGB2BGR))
        with contextlib.redirect_stderr(io.StringIO()):
            assert generate.main(["--subset", "cls", "--source", str(folder), "--out", str(root / "out"),
                                  "--workers", "2", "--shard-size", "2"]) == 0
        layout = SubsetLayout.of(root / "out", "cls")
        shard = sorted(layout.generation_store().committed_shards())[0]
        count = len(shard_items(layout, shard)[0])
        print(f"device {args.device}, batch {args.batch_size}, {count} images (PNG, 500x375)")
        print(f"  input side alone (decode + shared 224 preprocessing + collate), one process: "
              f"{input_rate(layout, shard, args.batch_size):.1f} img/s")
        loop_rates = []
        for name in args.models.split(","):
            spec = registry.get(name)
            untrained = find_weights(spec) is None
            options = ScoreOptions(args.device, None, untrained, False, args.batch_size, args.loader_workers)
            oracle = load_oracle(spec, args.device, untrained=untrained)
            batch = oracle.preprocess([load_photo("astronaut")] * args.batch_size)
            oracle.logits(batch)  # warm-up
            _sync(args.device)
            start = time.perf_counter()
            done = 0
            while done < count:
                oracle.logits(batch)
                done += args.batch_size
            _sync(args.device)
            bare = done / (time.perf_counter() - start)
            stage, unit = ScoringStage(str(layout.root), options), ScoreUnit(shard, (name,))
            part = layout.prediction_store(name, spec.task).part_path(name, shard)
            score_unit(unit, stage)  # warm-up, model cached
            part.unlink()  # a unit scores only what the committed part lacks: all of it again
            start = time.perf_counter()
            score_unit(unit, stage)
            loop = count / (time.perf_counter() - start)
            loop_rates.append(loop)
            tag = " (random weights)" if untrained else ""
            print(f"  {name:22s}{tag:17s} loop {loop:8.1f} img/s   bare forward {bare:8.1f} img/s   "
                  f"loop/bare {loop / bare:.2f}")
        mean_seconds = sum(1 / r for r in loop_rates) / len(loop_rates)
        classifiers = len(registry.names("cls"))
        hours = CLS_IMAGES * classifiers * mean_seconds / 3600
        print(f"projection, cls half: {CLS_IMAGES:,} images x {classifiers} classifiers at this mix's mean loop "
              f"rate = {hours:,.0f} device-hours "
              f"on {args.device}")
    finally:
        shutil.rmtree(root)


def input_rate(layout: SubsetLayout, shard: str, batch_size: int) -> float:
    """Images/s of the scoring loop's input side in this process (cv2 on one thread, as in the workers)."""
    cv2.setNumThreads(1)
    items, _ = shard_items(layout, shard)
    dataset = ImageSet(items, registry.get("efficientnet_lite0").preprocess)
    start = time.perf_counter()
    for first in range(0, len(dataset), batch_size):
        collate([dataset[i] for i in range(first, min(first + batch_size, len(dataset)))])
    return len(dataset) / (time.perf_counter() - start)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
