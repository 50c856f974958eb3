"""Small real databases for the learning tests and benchmarks: photos that ship with scikit-image (and crops
of them as extra sources), degraded by ``pipeline.generate``, labelled by a rule the image determines
(a monotone function of the distortion and its severity pair) and published as MMOS label manifests.

The known-answer rule: severity s = (roi_level + bg_level) / 2 in [1, 5]; label = 1 - w * (s - 1) / 4 with
a weight w per distortion (how much that type hurts), so labels fall with severity within a type and the
types differ in how far they fall. The known-answer run labels the uniform images only
(:func:`uniform_answer_rule`): what a region-mixed image shows depends on its mask and, non-linearly, on
the two severities, so no simple rule of the pair is what such an image shows; its label stays undefined.
"""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
from PIL import Image

from manifests.layout import SubsetLayout
from manifests.schemas import MMOS, ORACLE_LABELS
from tests.conftest import load_photo

KNOWN_WEIGHTS = {"contrast": 1.0, "pixelate": 0.8, "gaussian_noise": 0.9, "jpeg_compression": 0.6,
                 "defocus_blur": 0.7, "darkness": 0.5}


def known_answer(distortion: str, roi_level: int, bg_level: int) -> float:
    return 1.0 - KNOWN_WEIGHTS[distortion] * ((roi_level + bg_level) / 2 - 1) / 4


def uniform_answer_rule(image: dict) -> tuple[float | None, float | None]:
    """:func:`known_answer` for uniform (UD) images, undefined for region-mixed ones."""
    if image["region"] != "UD":
        return None, None
    value = known_answer(image["distortion"], image["roi_level"], image["bg_level"])
    return value, value


def photo(name: str) -> np.ndarray:
    """RGB uint8 of a photo that ships with an installed package: a scikit-image sample name, or
    ``matplotlib:<file>`` (mpl-data/sample_data) or ``ultralytics:<file>`` (ultralytics/assets)."""
    package, _, file = name.rpartition(":")
    if not package:
        image = skimage_photo(name)
    else:
        import importlib.util

        if package == "matplotlib":
            import matplotlib

            folder = Path(matplotlib.get_data_path()) / "sample_data"
        else:  # found without importing the package
            folder = Path(importlib.util.find_spec(package).submodule_search_locations[0]) / "assets"
        image = np.asarray(Image.open(folder / file).convert("RGB"))
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def skimage_photo(name: str) -> np.ndarray:
    if name == "motorcycle":
        import skimage.data

        return skimage.data.stereo_motorcycle()[0]
    return load_photo(name)


def write_photos(folder: Path, photos: dict[str, str], size: tuple[int, int], crops: int = 0) -> dict[str, str]:
    """Each photo (source name -> :func:`photo` name) resized to ``size`` as <name>.png, plus ``crops`` crops of
    it (60% of each side, at fixed corners, resized to ``size``) as <name>_crop<k>.png. Returns source -> photo."""
    folder.mkdir(parents=True, exist_ok=True)
    owner = {}
    corners = ((0.0, 0.0), (0.4, 0.4), (0.4, 0.0), (0.0, 0.4), (0.2, 0.2))
    for name, source in photos.items():
        full = photo(source)
        Image.fromarray(full).resize(size, Image.BICUBIC).save(folder / f"{name}.png")
        owner[name] = name
        h, w = full.shape[:2]
        for k in range(crops):
            top, left = int(corners[k][0] * h), int(corners[k][1] * w)
            crop = full[top : top + int(0.6 * h), left : left + int(0.6 * w)]
            Image.fromarray(crop).resize(size, Image.BICUBIC).save(folder / f"{name}_crop{k}.png")
            owner[f"{name}_crop{k}"] = name
    return owner


def generate(out: Path, source: Path, subset: str, distortions: str, workers: int = 1) -> None:
    from pipeline import generate as stage

    with contextlib.redirect_stderr(io.StringIO()):
        code = stage.main(["--subset", subset, "--source", str(source), "--out", str(out), "--workers", str(workers),
                           "--distortions", distortions])
    assert code == 0, "generation failed"


def publish_labels(out: Path, subset: str, task: str, label: Callable[[dict], tuple[float | None, float | None]],
                   composite_weight: float = 0.5) -> int:
    """MMOS rows for every ok image: ``label(row)`` gives (consistency, accuracy) from the images row; both
    aggregations equal them (one oracle). Published per generation shard, as the scoring stage does."""
    layout = SubsetLayout.of(out, subset)
    generation = layout.generation_store()
    count = 0
    for shard in sorted(generation.committed_shards()):
        images = [r for r in generation.read("images", shards=[shard]).to_pylist() if r["status"] == "ok"]
        rows = []
        for image in images:
            consistency, accuracy = label(image)
            composite = None if accuracy is None or consistency is None else \
                composite_weight * consistency + (1 - composite_weight) * accuracy
            rows.append({"image_id": image["image_id"], "source_id": image["source_id"], "path": image["path"],
                         "oracles": 1, "mean_consistency": consistency, "std_consistency": 0.0,
                         "weighted_consistency": consistency, "mean_accuracy": accuracy, "std_accuracy": 0.0,
                         "weighted_accuracy": accuracy, "composite": composite, "untrained": False})
        layout.label_store(task).publish(shard, {"oracle_labels": ORACLE_LABELS.empty_table(),
                                                 "mmos": pa.Table.from_pylist(rows, schema=MMOS)})
        count += len(rows)
    import json

    (layout.label_store(task).root / "labels.json").write_text(json.dumps(
        {"oracles": ["rule"], "options": {"composite_weight": composite_weight}}))
    return count


def known_answer_labels(image: dict) -> tuple[float, float]:
    value = known_answer(image["distortion"], image["roi_level"], image["bg_level"])
    return value, value


def write_split_files(folder: Path, owner: dict[str, str], test_photos: set[str]) -> tuple[Path, Path]:
    """The release's cls split format (``Image Name``), by photo: a photo's crops follow it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "train.csv", folder / "test.csv")
    for path, in_test in zip(paths, (False, True)):
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Image Name", "Category", "Quality Score"])
            for source, photo in sorted(owner.items()):
                if (photo in test_photos) == in_test:
                    writer.writerow([f"{source}.png", photo, ""])
    return paths


def halved_rule(image: dict) -> tuple[float, float]:
    """Distinct consistency and accuracy: the known answer and half of it."""
    value = known_answer(image["distortion"], image["roi_level"], image["bg_level"])
    return value, 0.5 * value


def undefined_rule(image: dict) -> tuple[float, float | None]:
    """:func:`halved_rule`, with an undefined accuracy for every pixelate_5 image."""
    consistency, accuracy = halved_rule(image)
    undefined = image["distortion"] == "pixelate" and image["roi_level"] == image["bg_level"] == 5
    return consistency, None if undefined else accuracy


def small_database(root: Path, subset: str = "cls", photos: tuple[str, ...] = ("astronaut", "coffee", "rocket"),
                   distortions: str = "contrast,pixelate", size: tuple[int, int] = (64, 48),
                   rule: Callable[[dict], tuple[float, float | None]] = known_answer_labels) -> Path:
    """``root``/out: a generated subset of a few photos, labelled by ``rule`` (tasks cls, or det and ins)."""
    write_photos(root / "src", {name: name for name in photos}, size)
    out = root / "out"
    generate(out, root / "src", subset, distortions)
    for task in (("cls",) if subset == "cls" else ("det", "ins")):
        publish_labels(out, subset, task, rule)
    return out


# Everyday scenes and textures: a trained predictor sees quality without the reference, so photos that are
# dark or flat by nature (astronomy, microscopy) would make darkness and contrast ambiguous.
KNOWN_PHOTOS = {"astronaut": "astronaut", "chelsea": "chelsea", "coffee": "coffee", "rocket": "rocket",
                "camera": "camera", "coins": "coins", "clock": "clock", "brick": "brick", "grass": "grass",
                "gravel": "gravel", "motorcycle": "motorcycle", "hopper": "matplotlib:grace_hopper.jpg",
                "bus": "ultralytics:bus.jpg", "zidane": "ultralytics:zidane.jpg"}
KNOWN_TEST_PHOTOS = {"coffee", "camera"}
# Types whose five severities stay distinct at 128 x 96 (JPEG's and defocus's first two do not).
KNOWN_DISTORTIONS = "contrast,gaussian_noise,pixelate"


def known_answer_database(root: Path, photos: dict[str, str] = KNOWN_PHOTOS, crops: int = 5,
                          size: tuple[int, int] = (96, 96), distortions: str = KNOWN_DISTORTIONS,
                          test_photos: set[str] = KNOWN_TEST_PHOTOS, workers: int = 2) -> tuple[Path, Path, Path]:
    """The known-answer database: photos and their crops as sources, labels by :func:`uniform_answer_rule`, and
    split files that keep each photo's crops with it. Returns (database, train split, test split)."""
    owner = write_photos(root / "src", photos, size, crops)
    out = root / "out"
    generate(out, root / "src", "cls", distortions, workers)
    publish_labels(out, "cls", "cls", uniform_answer_rule)
    train, test = write_split_files(root / "split", owner, test_photos)
    return out, train, test
