"""ROI mask methods against instance masks: mean IoU and coverage error, and time per image.

    python -m benchmarks.bench_masks [--methods lite-contrast,saliency,...] [--device cpu] [--weights-dir DIR]
                                     [--plot masks.png]

Ground truth: the union of each image's instance masks, on every image that has them: the built-in det
sample set (``pipeline.sources.sample_sources("det")``) and the photos annotated for this purpose in
``tests/data/mask_truth/instances.json`` (rocket, coins, horse). Each default method (``masks.DEFAULT_METHODS``)
makes every image's mask from the image alone; "boxes-grabcut (true boxes)" is a reference row: GrabCut
from the annotations' own boxes, what a method with perfect localisation but GrabCut's borders reaches.
"dino" runs with the official weights when found (``--weights-dir``, torch.hub's cache), else with random
weights: a plumbing check whose figures mean nothing (marked so).

IoU = |pred & truth| / |pred | truth| (1 when both are empty); coverage error = |pred coverage - truth
coverage|; both averaged over images. Time per image of the batched call, models loaded beforehand, all
methods in one run one after the other: CPU time of the process (steady on a shared machine; GPU work
not included) and wall time, on ``--threads`` threads (default 1: each generation worker has one core).
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from masks import DEFAULT, DEFAULT_METHODS, MaskSettings, ModelOptions, default_masks, prepare_method
from masks.grabcut import grabcut_boxes
from oracles.weights import MissingWeightsError
from pipeline.masks import coco_instances_mask
from pipeline.sources import load_coco, read_coco, read_rgb, sample_sources, skimage_data_dir

TRUTH_JSON = Path(__file__).resolve().parents[1] / "tests" / "data" / "mask_truth" / "instances.json"
REFERENCE = "boxes-grabcut (true boxes)"


def truth_set() -> list[tuple[str, np.ndarray, np.ndarray, list]]:
    """(name, RGB image, truth mask (bool), true boxes x0 y0 x1 y1) of every annotated image."""
    det_records, det_json = sample_sources("det")
    sets = [(det_records, det_json), (read_coco(skimage_data_dir(), TRUTH_JSON), TRUTH_JSON)]
    items = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pycocotools on numpy 2
        for records, annotations in sets:
            coco = load_coco(annotations)
            for record in records:
                image = read_rgb(record.path)
                truth = coco_instances_mask(coco, record.coco_image_id, image.shape[:2]) > 0
                boxes = [(a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3])
                         for a in coco.imgToAnns[record.coco_image_id]]
                name = coco.imgs[record.coco_image_id].get("photo", record.file_name).rsplit(".", 1)[0]
                items.append((name, image, truth, boxes))
    return items


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    union = np.count_nonzero(pred | truth)
    return 1.0 if union == 0 else np.count_nonzero(pred & truth) / union


def coverage_error(pred: np.ndarray, truth: np.ndarray) -> float:
    return abs(float(pred.mean()) - float(truth.mean()))


def timed(fn, count: int):
    """(fn's result, (CPU seconds, wall seconds) per item): CPU time of this process, all its threads."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, ((time.process_time() - cpu) / count, (time.perf_counter() - wall) / count)


def run_method(name: str, images: list[np.ndarray], settings: MaskSettings):
    """The masks (bool) and (CPU, wall) seconds per image, the method's model loaded first."""
    prepare_method(name, settings)
    default_masks(images[:1], name, settings)  # warm-up: first-call costs (model to device, caches)
    results, seconds = timed(lambda: default_masks(images, name, settings), len(images))
    return [r.mask > 0 for r in results], seconds


def dino_settings(settings: MaskSettings) -> tuple[MaskSettings, bool]:
    """The settings DINO runs with here: official weights when found, else random ones (flagged)."""
    try:
        prepare_method("dino", settings)
        return settings, False
    except MissingWeightsError:
        return replace(settings, models=replace(settings.models, untrained=True)), True


def plot(items, predictions: dict[str, list[np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(predictions)
    fig, axes = plt.subplots(len(items), len(columns) + 1, figsize=(2.1 * (len(columns) + 1), 1.7 * len(items)))
    for row, (name, image, truth, _) in enumerate(items):
        axes[row, 0].imshow(image)
        axes[row, 0].contour(truth, [0.5], colors="red", linewidths=0.8)
        axes[row, 0].set_ylabel(name, fontsize=7)
        for col, method in enumerate(columns, start=1):
            pred = predictions[method][row]
            shown = image.astype(np.float32) / 255
            shown[pred] = 0.45 * shown[pred] + 0.55 * np.array([0.1, 0.9, 0.1])
            axes[row, col].imshow(shown)
            axes[row, col].contour(truth, [0.5], colors="red", linewidths=0.6)
            axes[row, col].set_xlabel(f"IoU {iou(pred, truth):.2f}", fontsize=7, labelpad=1)
    axes[0, 0].set_title("truth (red)", fontsize=8)
    for col, method in enumerate(columns, start=1):
        axes[0, col].set_title(method, fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="default methods to compare")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: CUDA when available)")
    parser.add_argument("--weights-dir", type=Path, help="where dino_deitsmall8_pretrain.pth may be")
    parser.add_argument("--plot", type=Path, help="write a PNG of every mask over its image")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch and OpenCV (default 1: a generation worker's share)")
    args = parser.parse_args(argv)
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    names = args.methods.split(",")
    for name in names:
        if name not in DEFAULT_METHODS:
            parser.error(f"unknown method {name!r}; known: {', '.join(DEFAULT_METHODS)}")
    items = truth_set()
    images = [image for _, image, _, _ in items]
    settings = MaskSettings(models=ModelOptions(device=args.device, weights_dir=args.weights_dir))
    predictions: dict[str, list[np.ndarray]] = {}
    seconds: dict[str, tuple[float, float]] = {}
    labels: dict[str, str] = {}
    for name in names:
        method_settings, random = dino_settings(settings) if name == "dino" else (settings, False)
        labels[name] = f"{name} (random weights: plumbing only)" if random else name
        labels[name] += " [default]" if name == DEFAULT else ""
        predictions[name], seconds[name] = run_method(name, images, method_settings)
    predictions[REFERENCE], seconds[REFERENCE] = timed(
        lambda: [grabcut_boxes(image, boxes)[0] > 0 for _, image, _, boxes in items], len(items))
    labels[REFERENCE] = REFERENCE
    print(f"{len(items)} images with instance masks; truth = their union")
    print(f"{'method':48s} {'mean IoU':>8s} {'cov. err':>8s} {'CPU ms/img':>10s} {'wall ms/img':>11s}")
    for method, preds in predictions.items():
        ious = [iou(p, t) for p, (_, _, t, _) in zip(preds, items)]
        errors = [coverage_error(p, t) for p, (_, _, t, _) in zip(preds, items)]
        cpu, wall = seconds[method]
        print(f"{labels[method]:48s} {np.mean(ious):8.3f} {np.mean(errors):8.3f} "
              f"{1000 * cpu:10.0f} {1000 * wall:11.0f}")
    print("\nIoU per image")
    print(f"{'method':28s} " + " ".join(f"{n[:9]:>9s}" for n, _, _, _ in items))
    for method, preds in predictions.items():
        print(f"{method:28s} " + " ".join(f"{iou(p, t):9.2f}" for p, (_, _, t, _) in zip(preds, items)))
    print("truth coverage               " + " ".join(f"{t.mean():9.2f}" for _, _, t, _ in items))
    if args.plot:
        plot(items, predictions, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
