"""Scoring end to end: real offline classifiers, untrained detectors, labels, resume, bad input, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from oracles import registry
from pipeline import export, generate, score, status
from manifests.layout import SubsetLayout
from tests.conftest import load_photo


def make_subset(tmp_path: Path, subset: str, distortions: str, names=("chelsea", "coffee"),
                annotations: Path | None = None) -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    for name in names:
        Image.fromarray(load_photo(name, (160, 120))).save(folder / f"{name}.png")
    out = tmp_path / "out"
    args = ["--subset", subset, "--source", str(folder), "--out", str(out), "--workers", "1",
            "--distortions", distortions]
    if annotations:
        args += ["--annotations", str(annotations)]
    assert generate.main(args) == 0
    return out


@pytest.fixture(scope="module")
def scored_cls(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("cls")
    out = make_subset(tmp_path, "cls", "contrast,pixelate")
    layout = SubsetLayout.of(out, "cls")
    broken = layout.images / "coffee" / "coffee_pixelate_5.png"
    broken.write_bytes(broken.read_bytes()[:64])  # a truncated file: one failed row, not a failed run
    assert score.main(["--models", "efficientnet_lite0", "--out", str(out), "--device", "cpu",
                       "--batch-size", "32"]) == 0
    return out


def test_predictions_and_labels_of_a_real_classifier(scored_cls):
    layout = SubsetLayout.of(scored_cls, "cls")
    predictions = pd.read_parquet(layout.manifests / "predictions" / "efficientnet_lite0")
    assert len(predictions) == 2 + 2 * 50
    failed = predictions[predictions.status == "failed"]
    assert list(failed.image_id) == ["coffee_pixelate_5"] and "decode" in failed.error.iloc[0]
    ok = predictions[predictions.status == "ok"].set_index("image_id")
    assert not ok.untrained.any()
    cat_top5 = set(ok.loc["chelsea", "top5_ids"])
    assert cat_top5 & {281, 282, 285}, "the pristine cat is seen as a cat"
    labels = pd.read_parquet(layout.manifests / "labels" / "cls" / "oracle_labels").set_index("image_id")
    assert len(labels) == 2 * 50 - 1
    for image_id, row in labels.iterrows():  # independent recomputation of SPEC section 6 for cls
        source = ok.loc[row.source_id]
        assert row.consistency == float(ok.loc[image_id, "top5_ids"][0] == source.top5_ids[0])
        assert np.isnan(row.accuracy) or row.accuracy in (0.0, 1.0)
    mild = labels.loc["chelsea_contrast_1"]
    assert mild.consistency == 1.0
    mmos = pd.read_parquet(layout.manifests / "labels" / "cls" / "mmos")
    assert len(mmos) == 99 and (mmos.oracles == 1).all()
    assert np.allclose(mmos.set_index("image_id").weighted_consistency,
                       labels.consistency.reindex(mmos.image_id).to_numpy())


def test_rescore_resumes_and_export_writes_release_files(scored_cls, capsys):
    capsys.readouterr()
    assert score.main(["--models", "efficientnet_lite0", "--out", str(scored_cls), "--device", "cpu"]) == 0
    assert "nothing to do" in capsys.readouterr().err
    recorded = json.loads((SubsetLayout.of(scored_cls, "cls").manifests / "labels" / "cls" / "labels.json").read_text())
    assert recorded["oracles"] == ["efficientnet_lite0"] and recorded["options"]["pseudo_gt_score"] == 0.5
    assert status.main([str(scored_cls)]) == 0
    report = capsys.readouterr().out
    assert "efficientnet_lite0: 2/2 shards, 101 images done, 1 failed, 0 shards left" in report
    assert "cannot decode coffee_pixelate_5.png" in report and "labels cls: 2/2 shards" in report
    assert export.main([str(scored_cls)]) == 0
    labels = SubsetLayout.of(scored_cls, "cls").root / "labels"
    frame = pd.read_csv(labels / "chelsea_mmos.csv")
    assert list(frame.columns[:7]) == ["dist_images", "weighted_consistency", "weighted_accuracy",
                                       "mean_consistency", "std_consistency", "mean_accuracy", "std_accuracy"]
    assert len(frame) == 50 and frame.dist_images.iloc[0] == "chelsea/chelsea_contrast_1.png"
    assert (labels.parent / "images" / frame.dist_images.iloc[-1]).exists()
    assert not (labels / "UNTRAINED").exists()


def test_missing_weights_offline_is_one_clear_error(scored_cls, capsys):
    capsys.readouterr()
    code = score.main(["--models", "resnet18,convnext_tiny", "--out", str(scored_cls), "--offline",
                       "--weights-dir", str(scored_cls / "weights")])
    err = capsys.readouterr().err
    assert code == 2
    assert "resnet18-f37072fd.pth" in err and "convnext_tiny-983f1562.pth" in err
    assert not (SubsetLayout.of(scored_cls, "cls").manifests / "predictions" / "resnet18").exists()


def coco_annotations(path: Path) -> Path:
    """A tiny COCO json for chelsea (a cat) at 160x120, made for the test."""
    data = {
        "images": [{"id": 1, "file_name": "chelsea.png", "width": 160, "height": 120}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 17, "bbox": [30.0, 10.0, 90.0, 100.0],
                         "area": 9000.0, "iscrowd": 0,
                         "segmentation": [[30, 10, 120, 10, 120, 110, 30, 110]]}],
        "categories": [{"id": 17, "name": "cat", "supercategory": "animal"}],
    }
    path.write_text(json.dumps(data))
    return path


@pytest.mark.slow
def test_untrained_detector_labels_are_marked(tmp_path, capsys):
    annotations = coco_annotations(tmp_path / "instances.json")
    out = make_subset(tmp_path, "det", "contrast", names=("chelsea",), annotations=annotations)
    assert score.main(["--models", "fasterrcnn_mobilenet_v3_large_320_fpn", "--untrained", "--out", str(out),
                       "--device", "cpu", "--batch-size", "8"]) == 0
    layout = SubsetLayout.of(out, "det")
    predictions = pd.read_parquet(layout.manifests / "predictions" / "fasterrcnn_mobilenet_v3_large_320_fpn")
    assert len(predictions) == 26 and predictions.untrained.all() and (predictions.status == "ok").all()
    mmos = pd.read_parquet(layout.manifests / "labels" / "det" / "mmos")
    assert len(mmos) == 25 and mmos.untrained.all()
    assert mmos.weighted_consistency.between(0, 1).all() and mmos.weighted_accuracy.between(0, 1).all()
    assert export.main([str(out)]) == 0
    labels = layout.root / "labels"
    accuracy = pd.read_csv(labels / "chelsea_accuracy.csv")
    consistency = pd.read_csv(labels / "chelsea_consistency.csv")
    assert list(accuracy.filename) == list(consistency.filename) and len(accuracy) == 25
    assert accuracy.untrained.all() and (labels / "UNTRAINED").exists()
    assert (layout.root / "additional_info" / "instances_val2017.json").exists()
    # trained weights may not be mixed into an untrained run (a placeholder file passes the weights check)
    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    (tmp_path / registry.get(name).weights_file).write_bytes(b"placeholder")
    assert score.main(["--models", name, "--out", str(out), "--device", "cpu", "--offline",
                       "--weights-dir", str(tmp_path)]) == 2
    assert "untrained: existing true, requested false" in capsys.readouterr().err
