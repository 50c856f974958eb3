"""Known-answer benchmark of mixed-dataset learning: MIMI against naive pooling and the other baselines.

    python -m benchmarks.bench_mimi [--out DIR] [--splits 3] [--epochs 30] [--methods mimi,naive,monotone,pairwise]

    python -m benchmarks.bench_mimi --miqd OUT [--splits 3]      # an MIQD database: cls labels + PSNR

One pool of degraded images whose true quality is known: crops of scikit-image's photos (the sources),
degraded by ``degradations.degrade`` (6 of the database's types x 25 region/severity configurations, a
central ROI), true quality q* = 1 - (0.6 r + 0.4 b - 1) / 4 for ROI severity r and background severity b
(1 best, 0 worst). Three datasets share the sources but no image: each image goes to one dataset whose
quality range holds it; the ranges only partly overlap, and each dataset labels its images on its own
scale with a strictly monotone transform and noise (2.5% of the scale):

    A  q* in [0.00, 0.60]   DMOS-like, lower is better: 100 (1 - q*)^1.5      (the adapter flips it)
    B  q* in [0.25, 0.85]   MOS 1-5: 1 + 4 / (1 + exp(-6 (q* - 0.5)))
    C  q* in [0.45, 1.00]   exp(3 q*)

Every method trains the same regressor (EfficientNet-Lite0 features, frozen and cached once, with a
trainable head 1280 -> 512 -> 64 -> 1) on the same splits (60/20/20, one split for all datasets; by image by
default, so that what differs between methods is how they reconcile the scales, not how the features
generalise to unseen photos; ``--split-by source`` holds out whole sources) through
``learning.mixed.train_mixed``. Printed per method, as medians over the splits: the SRCC of the proxy with
q* on the test images of all datasets pooled (the figure MIMI must win), and the within-dataset test SRCC
with each dataset's annotations. A plot of proxy against q* per dataset (split 0) is written beside.

With ``--miqd OUT`` the mix is an MIQD database's cls composite labels and the PSNR of the same images
(``cls=OUT:composite`` and ``psnr=cls@OUT:psnr``, one split by source for both); printed per method: the
test SRCC of the proxy with each label, next to a regressor trained on the cls labels alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# dataset -> (q* range, label transform, lower is better); --ranges full gives every dataset [0, 1]
DATASETS = {
    "A": ((0.00, 0.60), lambda q: 100 * (1 - q) ** 1.5, True),
    "B": ((0.25, 0.85), lambda q: 1 + 4 / (1 + np.exp(-6 * (q - 0.5))), False),
    "C": ((0.45, 1.00), lambda q: np.exp(3 * q), False),
}
PHOTOS = ("astronaut", "coffee", "rocket", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina",
          "camera", "coins", "moon", "brick", "gravel")  # fmt: skip
DISTORTIONS = ("gaussian_noise", "defocus_blur", "jpeg_compression", "pixelate", "motion_blur", "contrast")
SIZE = 224
NOISE = 0.025  # label noise, as a fraction of each dataset's label range


def true_quality(roi_level: int, bg_level: int) -> float:
    return 1.0 - (0.6 * roi_level + 0.4 * bg_level - 1.0) / 4.0


def build_pool(folder: Path, crops: int) -> list[dict]:
    """The degraded images (PNG) and pool.csv: path, source, photo, distortion, roi/bg level, q*."""
    import cv2
    import skimage.data
    from tqdm import tqdm

    import degradations
    from degradations.imaging import to_rgb8

    table = folder / "pool.csv"
    if table.is_file():
        with open(table) as handle:
            return list(csv.DictReader(handle))
    rows = []
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[SIZE // 4: 3 * SIZE // 4, SIZE // 4: 3 * SIZE // 4] = 255  # a central ROI
    for photo in tqdm(PHOTOS, desc="pool", unit="photo"):
        image = to_rgb8(getattr(skimage.data, photo)())
        scale = (SIZE * 1.5) / min(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        for c in range(crops):  # crops spread along the longer side
            top = (h - SIZE) * c // max(crops - 1, 1) if h > w else (h - SIZE) // 2
            left = (w - SIZE) * c // max(crops - 1, 1) if w >= h else (w - SIZE) // 2
            crop = np.ascontiguousarray(image[top: top + SIZE, left: left + SIZE])
            source = f"{photo}_{c}"
            for out in degradations.degrade(crop, mask, source_id=source, seed=0, distortions=DISTORTIONS):
                path = images / out.file_name
                path.write_bytes(out.png)
                rows.append({"path": f"images/{out.file_name}", "source": source, "photo": photo,
                             "distortion": out.distortion, "roi_level": out.config.roi_level,
                             "bg_level": out.config.bg_level,
                             "quality": true_quality(out.config.roi_level, out.config.bg_level)})
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [{k: str(v) for k, v in r.items()} for r in rows]


def quality_range(name: str, ranges: str) -> tuple[float, float]:
    return DATASETS[name][0] if ranges == "partial" else (0.0, 1.0)


def write_datasets(folder: Path, pool: list[dict], split_by: str, ranges: str) -> dict[str, Path]:
    """One CSV per dataset (path, score, group): every image of the pool goes to one dataset whose q* range
    holds it (drawn at random among them), so the datasets share their sources (content) but no image. The
    group (what a split keeps together) is the image or its source."""
    from learning.mixed.seeds import stable_rng

    members: dict[str, list[dict]] = {name: [] for name in DATASETS}
    for row in pool:
        q = float(row["quality"])
        fits = [name for name in DATASETS if quality_range(name, ranges)[0] <= q <= quality_range(name, ranges)[1]]
        members[fits[int(stable_rng(0, "dataset-of", row["path"]).integers(len(fits)))]].append(row)
    out = {}
    for name, (_, transform, lower_is_better) in DATASETS.items():
        low, high = quality_range(name, ranges)
        mine = members[name]
        quality = np.array([float(r["quality"]) for r in mine])
        clean = transform(quality)
        span = transform(np.array([low, high]))
        noisy = clean + stable_rng(0, "label-noise", name).normal(0, NOISE * abs(span[1] - span[0]), len(clean))
        path = folder / f"{name}_{ranges}_by_{split_by}.csv"
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "score", "group"])
            writer.writerows((r["path"], f"{s:.6f}", r["path" if split_by == "image" else "source"])
                             for r, s in zip(mine, noisy))
        out[name] = path
        direction = "lower is better" if lower_is_better else "higher is better"
        print(f"dataset {name}: {len(mine)} images of {len({r['source'] for r in mine})} sources, q* in "
              f"[{quality.min():.2f}, {quality.max():.2f}], labels {clean.min():.2f}..{clean.max():.2f} ({direction})")
    return out


def mixed_settings(args, datasets: tuple, method: str, out: Path, resize: int, crop: int):
    """One run's settings (frozen Lite0 features, the benchmark's options); ``mimi-norange`` is MIMI without its
    range constraint (an ablation)."""
    from learning.mixed import (
        InputSettings,
        LossSettings,
        MinnSettings,
        MixedSettings,
        OptimSettings,
        RegressorSettings,
        SplitSettings,
    )

    return MixedSettings(
        datasets=datasets, out=str(out), method=method.removesuffix("-norange"),
        loss=LossSettings(range_weight=0.0) if method.endswith("-norange") else LossSettings(),
        regressor=RegressorSettings(name="frozen-lite0", head=(512, 64)),
        minn=MinnSettings(hidden=tuple(args.minn_hidden), steps=args.minn_steps),
        inputs=InputSettings(resize=resize, crop=crop, feature_cache=str(args.out / "features"), eval_batch_size=32),
        optim=replace(OptimSettings(), epochs=args.epochs), split=SplitSettings(shared=True),
        batch_size=args.batch_size, progress=not args.quiet,
    )  # fmt: skip


def settings_for(args, csvs: dict[str, Path], method: str):
    """The known-answer run of ``method`` on the datasets written as CSVs."""
    from learning.mixed import DatasetSpec

    specs = tuple(DatasetSpec(name, "csv", str(path), options=(("lower_is_better", "true"),) if DATASETS[name][2]
                              else ()) for name, path in csvs.items())  # fmt: skip
    return mixed_settings(args, specs, method, args.out / f"{args.ranges}_by_{args.split_by}" / method, SIZE, SIZE)


def run_miqd(args, methods: list[str]) -> None:
    from learning.mixed import DatasetSpec, evaluate_splits

    both = (DatasetSpec.parse(f"cls={args.miqd}:composite"), DatasetSpec.parse(f"psnr=cls@{args.miqd}:psnr"))
    print(f"{'method':13s} {'SRCC composite':>15s} {'SRCC psnr':>10s} {'time':>7s}   (test, median over "
          f"{args.splits} splits)")
    for method in ["cls-only", *methods]:
        started = time.perf_counter()
        cls_only = method == "cls-only"
        settings = mixed_settings(args, both[:1] if cls_only else both, "naive" if cls_only else method,
                                  args.out / "miqd" / method, resize=256, crop=224)
        summary = evaluate_splits(settings, n=args.splits)
        psnr = summary.median.get("psnr", {}).get("srcc", math.nan)
        print(f"{method:13s} {summary.median['cls']['srcc']:15.4f} {psnr:10.4f} "
              f"{time.perf_counter() - started:6.0f}s")


def figures(run, quality_of: dict[str, float]) -> dict[str, float]:
    """Pooled test SRCC of the proxy with q*, and each dataset's test SRCC with its annotations."""
    import pyarrow.parquet as pq

    from learning.correlation import srcc

    table = pq.read_table(run.predictions).to_pandas()
    test = table[table.split == "test"]
    out = {"pooled": srcc(test.proxy, test.file.map(quality_of))}
    for name, part in test.groupby("dataset"):
        out[name] = srcc(part.proxy, part.annotation)
        out[f"{name}_q"] = srcc(part.proxy, part.file.map(quality_of))
    return out


def plot(path: Path, runs: dict, quality_of: dict[str, float], methods: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 4), squeeze=False)
    colours = {"A": "tab:blue", "B": "tab:orange", "C": "tab:green"}
    for ax, method in zip(axes[0], methods):
        table = pq.read_table(runs[method].predictions).to_pandas()
        test = table[table.split == "test"]
        q = test.file.map(quality_of)
        rng = np.random.default_rng(0)  # jitter: q* takes few distinct values
        for name, part in test.groupby("dataset"):
            x = part.file.map(quality_of) + rng.uniform(-0.012, 0.012, len(part))
            ax.scatter(x, part.proxy, s=6, alpha=0.5, color=colours.get(name), label=f"dataset {name}")
        from learning.correlation import srcc

        ax.set_title(f"{method}: pooled SRCC {srcc(test.proxy, q):.3f}")
        ax.set_xlabel("true quality q* (test images)")
        ax.set_ylabel("proxy score")
        ax.legend(loc="upper left", markerscale=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_mimi_out"), help="pool, runs and plot (reused)")
    parser.add_argument("--splits", type=int, default=3, help="random 60/20/20 splits by source (authors: 10)")
    parser.add_argument("--epochs", type=int, default=15, help="the authors train 30; the best epoch comes early here")
    parser.add_argument("--batch-size", type=int, default=16, help="per dataset and step")
    parser.add_argument("--methods", default="mimi,naive,monotone,pairwise",
                        help="comma-separated; mimi-norange is MIMI without its range constraint (an ablation)")
    parser.add_argument("--crops", type=int, default=2, help="sources per photo")
    parser.add_argument("--split-by", choices=("image", "source"), default="image",
                        help="image: test images' sources are seen in training at other severities, which isolates "
                             "the scale question; source: unseen content too (harder, noisier)")
    parser.add_argument("--ranges", choices=("partial", "full"), default="partial",
                        help="partial: the quality ranges above; full: every dataset spans q* in [0, 1] (what "
                             "MIMI's range constraint assumes)")
    parser.add_argument("--minn-hidden", type=int, nargs="+", default=[100, 100, 100])
    parser.add_argument("--minn-steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (tiny tensors: 1 is fastest)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--miqd", type=Path, help="an MIQD database (OUT): mix its cls labels with its PSNR")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")

    import torch

    from learning.mixed import evaluate_splits

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.miqd:
        run_miqd(args, methods)
        return
    pool = build_pool(args.out / "pool", args.crops)
    quality_of = {r["path"]: float(r["quality"]) for r in pool}
    csvs = write_datasets(args.out / "pool", pool, args.split_by, args.ranges)
    summaries, times = {}, {}
    for method in methods:
        started = time.perf_counter()
        summary = evaluate_splits(settings_for(args, csvs, method), n=args.splits)
        times[method] = time.perf_counter() - started
        per_split = [figures(run, quality_of) for run in summary.runs]
        summaries[method] = ({key: float(np.median([f[key] for f in per_split])) for key in per_split[0]},
                             summary)
    names = list(DATASETS)
    print(f"\n{args.ranges} ranges, {args.splits} splits by {args.split_by}, {args.epochs} epochs, test figures "
          "(median over splits)")
    header = f"{'method':10s} {'pooled SRCC vs q*':>18s} " + " ".join(f"{'SRCC ' + n:>8s}" for n in names) + \
        f" {'weighted':>9s} {'time':>7s}"
    print(header)
    for method in methods:
        med, summary = summaries[method]
        print(f"{method:10s} {med['pooled']:18.4f} " + " ".join(f"{med[n]:8.4f}" for n in names) +
              f" {summary.weighted['srcc']:9.4f} {times[method]:6.0f}s")
    if "mimi" in summaries and "naive" in summaries:
        gain = summaries["mimi"][0]["pooled"] - summaries["naive"][0]["pooled"]
        worst = min(summaries["mimi"][0][n] - summaries["naive"][0][n] for n in names)
        print(f"MIMI - naive: pooled SRCC {gain:+.4f}; within-dataset SRCC, smallest difference {worst:+.4f}")
    runs = {m: summaries[m][1].runs[0] for m in methods}
    figure = args.out / f"bench_mimi_{args.ranges}_by_{args.split_by}.png"
    plot(figure, runs, quality_of, methods)
    (args.out / f"bench_mimi_{args.ranges}_by_{args.split_by}.json").write_text(json.dumps(
        {m: summaries[m][0] for m in methods} | {"splits": args.splits, "epochs": args.epochs}, indent=2))
    print(f"plot: {figure}")


if __name__ == "__main__":
    main()
