"""MIQD databases: one built by this project (Parquet label manifests) or the release's download
(``labels/*.csv``), read from the database's output folder OUT (the folder holding miqa_cls/, miqa_det/).

Labels (all in [0, 1], higher = better): composite (0.5 consistency + 0.5 accuracy, the default),
consistency and accuracy (weighted means over the oracles), mean_consistency, mean_accuracy; and psnr (our
manifests only: the image's PSNR to its source, in dB, infinite values capped at option psnr_cap, 60 by
default). Groups are the source images. Labels made by random-weight oracles are refused unless option
allow_untrained=true.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from learning.mixed.adapters import DatasetSpec, register
from learning.mixed.adapters.tables import number, read_records
from learning.mixed.annotations import AnnotatedSet, DatasetError

LABELS = ("composite", "consistency", "accuracy", "mean_consistency", "mean_accuracy", "psnr")
_MMOS_COLUMN = {"composite": "composite", "consistency": "weighted_consistency", "accuracy": "weighted_accuracy",
                "mean_consistency": "mean_consistency", "mean_accuracy": "mean_accuracy"}  # fmt: skip
# subset name -> (folder of the images, folder of the release's labels, task of our label store)
_SUBSETS = {"cls": ("cls", "miqa_cls", "cls"), "det": ("det", "miqa_det", "det"), "ins": ("det", "miqa_ins", "ins")}


def _load(spec: DatasetSpec, subset: str) -> AnnotatedSet:
    from manifests.layout import SubsetLayout

    image_subset, label_folder, task = _SUBSETS[subset]
    out = Path(spec.root)
    layout = SubsetLayout.of(out, image_subset)
    label = spec.label or "composite"
    if label == "psnr":
        return _psnr(spec, layout)
    store = layout.label_store(task)
    if store.committed_shards():
        return _manifests(spec, layout, store, label)
    release_labels = out.resolve() / label_folder / "labels"
    if release_labels.is_dir():
        return _release(spec, layout.root, release_labels, subset, label)
    raise DatasetError(f"{spec.name}: no {task} labels in {out} (neither {store.root} nor {release_labels}); "
                       f"run `python -m pipeline.score` on it, or give the folder holding miqa_{image_subset}/")


def _manifests(spec: DatasetSpec, layout, store, label: str) -> AnnotatedSet:
    column = _MMOS_COLUMN[label]
    table = store.read("mmos", columns=["source_id", "path", column, "untrained"]).to_pydict()
    if any(table["untrained"]) and not spec.flag("allow_untrained"):
        raise DatasetError(f"{spec.name}: the labels in {store.root} come from random-weight oracles "
                           "(--untrained); score with real weights, or pass option allow_untrained=true")
    keep = [i for i, v in enumerate(table[column]) if v is not None and math.isfinite(v)]
    if not keep:
        raise DatasetError(f"{spec.name}: no image of {store.root} has a {label} label")
    return AnnotatedSet(root=layout.root, files=tuple(table["path"][i] for i in keep),
                        scores=np.array([table[column][i] for i in keep]),
                        groups=tuple(table["source_id"][i] for i in keep))


def _psnr(spec: DatasetSpec, layout) -> AnnotatedSet:
    table = layout.generation_store().read("images", columns=["source_id", "path", "psnr", "status"]).to_pydict()
    cap = number(spec.option("psnr_cap", "60"), f"{spec.name}: option psnr_cap")
    keep = [i for i, s in enumerate(table["status"]) if s == "ok" and table["psnr"][i] is not None]
    if not keep:
        raise DatasetError(f"{spec.name}: no generated image in {layout.manifests}; run `python -m pipeline.generate`")
    return AnnotatedSet(root=layout.root, files=tuple(table["path"][i] for i in keep),
                        scores=np.minimum([table["psnr"][i] for i in keep], cap),
                        groups=tuple(table["source_id"][i] for i in keep))


def _release(spec: DatasetSpec, image_root: Path, labels: Path, subset: str, label: str) -> AnnotatedSet:
    files, scores, groups = [], [], []
    if subset == "cls":
        for path in sorted(labels.glob("*_mmos.csv")):
            stem = path.name[: -len("_mmos.csv")]
            wanted = {"composite": ("weighted_consistency", "weighted_accuracy")}.get(label, (_MMOS_COLUMN[label],))
            for row in read_records(path, ("dist_images", *wanted)):
                values = [number(row[c], f"{path.name}, {c}") for c in wanted]
                files.append(f"images/{row['dist_images']}")
                scores.append(sum(values) / len(values))
                groups.append(stem)
    else:
        if label not in ("composite", "consistency", "accuracy"):
            raise DatasetError(f"{spec.name}: the release's {subset} labels have composite, consistency and accuracy "
                               f"only, not {label}")
        for accuracy_file in sorted(labels.glob("*_accuracy.csv")):
            source = accuracy_file.name[: -len("_accuracy.csv")]
            consistency_file = labels / f"{source}_consistency.csv"
            accuracy = read_records(accuracy_file, ("filename", "AP_weighted_avg"))
            consistency = read_records(consistency_file, ("filename", "AP_weighted_avg"))
            if [r["filename"] for r in accuracy] != [r["filename"] for r in consistency]:
                raise DatasetError(f"{accuracy_file.name} and {consistency_file.name} do not list the same images in "
                                   "the same order; re-export the labels")
            for a, c in zip(accuracy, consistency):
                value_a = number(a["AP_weighted_avg"], accuracy_file.name)
                value_c = number(c["AP_weighted_avg"], consistency_file.name)
                files.append(f"images/{source}/{a['filename']}")
                scores.append({"composite": 0.5 * value_a + 0.5 * value_c, "accuracy": value_a,
                               "consistency": value_c}[label])
                groups.append(source)
    if not files:
        raise DatasetError(f"{spec.name}: no label file in {labels}")
    return AnnotatedSet(root=image_root, files=tuple(files), scores=np.array(scores), groups=tuple(groups))


@register("cls", "MIQD classification subset: OUT with miqa_cls/ (our manifests or the release's CSVs)", LABELS)
def load_cls(spec: DatasetSpec) -> AnnotatedSet:
    return _load(spec, "cls")


@register("det", "MIQD detection subset: OUT with miqa_det/", LABELS)
def load_det(spec: DatasetSpec) -> AnnotatedSet:
    return _load(spec, "det")


@register("ins", "MIQD instance-segmentation labels of miqa_det's images: OUT with miqa_det/ (and miqa_ins/)",
          LABELS)
def load_ins(spec: DatasetSpec) -> AnnotatedSet:
    return _load(spec, "ins")
