"""Scoring end to end: real offline classifiers, label membership, retry, a missing pristine source, exports,
a database that grows, and det/ins labels against pycocotools with random-weight models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from manifests.layout import SubsetLayout
from pipeline import export, generate, score, status
from tests.conftest import load_photo

CLASSES = {"chelsea": 0, "coffee": 967}  # chelsea is labelled tench on purpose: its accuracy is known to be 0


def make_source_folder(tmp_path: Path, names=("chelsea", "coffee"), size=(160, 120)) -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    for name in names:
        Image.fromarray(load_photo(name, size)).save(folder / f"{name}.png")
    return folder


def run_score(out: Path, *args: str) -> int:
    return score.main(["--out", str(out), "--device", "cpu", "--workers", "1", *args])


def mmos(out: Path, task: str = "cls", subset: str = "cls") -> pd.DataFrame:
    return pd.read_parquet(SubsetLayout.of(out, subset).manifests / "labels" / task / "mmos").set_index("image_id")


@pytest.fixture(scope="module")
def cls_db(tmp_path_factory) -> Path:
    """Two photos with classes from a labels CSV, one type: 2 x 25 images, never scored (copy before use)."""
    tmp_path = tmp_path_factory.mktemp("cls_db")
    folder = make_source_folder(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"{name}.png,{index}\n" for name, index in CLASSES.items()))
    out = tmp_path / "out"
    assert generate.main(["--subset", "cls", "--source", str(folder), "--out", str(out), "--workers", "1",
                          "--distortions", "contrast", "--labels", str(labels)]) == 0
    return out


@pytest.fixture
def db(cls_db, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(cls_db, out)
    return out


@pytest.fixture(scope="module")
def lite0_db(cls_db, tmp_path_factory) -> Path:
    """cls_db scored by efficientnet_lite0 (copy before changing it)."""
    out = tmp_path_factory.mktemp("lite0") / "out"
    shutil.copytree(cls_db, out)
    assert run_score(out, "--models", "efficientnet_lite0") == 0
    return out


def test_cls_labels_equal_an_independent_recomputation(lite0_db):
    layout = SubsetLayout.of(lite0_db, "cls")
    predictions = pd.read_parquet(layout.manifests / "predictions" / "efficientnet_lite0").set_index("image_id")
    assert len(predictions) == 2 + 2 * 25 and (predictions.status == "ok").all() and not predictions.untrained.any()
    assert set(predictions.loc["chelsea", "top5_ids"]) & {281, 282, 285}, "the pristine cat is seen as a cat"
    labels = pd.read_parquet(layout.manifests / "labels" / "cls" / "oracle_labels").set_index("image_id")
    assert len(labels) == 50
    for image_id, row in labels.iterrows():
        top1 = predictions.loc[image_id, "top5_ids"][0]
        assert row.consistency == float(top1 == predictions.loc[row.source_id, "top5_ids"][0])
        assert row.accuracy == float(top1 == CLASSES[row.source_id])
    assert (labels[labels.source_id == "chelsea"].accuracy == 0.0).all()  # labelled tench: never accurate
    assert labels.loc["chelsea_contrast_1", "consistency"] == 1.0
    table = mmos(lite0_db)
    assert len(table) == 50 and (table.oracles == 1).all() and (table.std_consistency == 0).all()
    assert np.allclose(table.weighted_consistency, labels.consistency.reindex(table.index))
    assert np.allclose(table.composite, 0.5 * labels.consistency.reindex(table.index)
                       + 0.5 * labels.accuracy.reindex(table.index))


def test_membership_grows_never_shrinks_and_equals_one_run(lite0_db, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(lite0_db, out)
    assert run_score(out, "--models", "efficientnet_lite1") == 0  # a second oracle joins the labels
    record = json.loads((SubsetLayout.of(out, "cls").manifests / "labels" / "cls" / "labels.json").read_text())
    assert record["oracles"] == [{"name": "efficientnet_lite0", "untrained": False},
                                 {"name": "efficientnet_lite1", "untrained": False}]
    assert record["selection"] == "auto"
    both = mmos(out)
    assert (both.oracles == 2).all()
    together = tmp_path / "together"  # the same images, scored by both oracles in one run
    shutil.copytree(out, together)
    for folder in ("predictions", "labels", "oracles"):
        shutil.rmtree(SubsetLayout.of(together, "cls").manifests / folder)
    assert run_score(together, "--models", "efficientnet_lite0,efficientnet_lite1") == 0
    pd.testing.assert_frame_equal(mmos(together).sort_index(), both.sort_index())
    capsys.readouterr()
    assert run_score(out, "--models", "efficientnet_lite0") == 0  # a subset again: nothing shrinks
    pd.testing.assert_frame_equal(mmos(out).sort_index(), both.sort_index())
    assert run_score(out, "--models", "efficientnet_lite0", "--label-oracles", "efficientnet_lite0") == 0
    assert (mmos(out).oracles == 1).all()
    assert run_score(out, "--models", "efficientnet_lite1") == 0  # an explicit set is kept
    assert (mmos(out).oracles == 1).all()
    assert status.main([str(out)]) == 0
    assert "1 oracles (explicit): efficientnet_lite0" in capsys.readouterr().out
    assert run_score(out, "--models", "efficientnet_lite1", "--label-oracles", "auto") == 0
    pd.testing.assert_frame_equal(mmos(out).sort_index(), both.sort_index())


def test_retry_failed_redoes_failed_predictions_only(db, capsys):
    layout = SubsetLayout.of(db, "cls")
    broken = layout.images / "coffee" / "coffee_contrast_5.png"
    original = broken.read_bytes()
    broken.write_bytes(original[:64])
    assert run_score(db, "--models", "efficientnet_lite0") == 1  # one failed row, not a failed run
    predictions = pd.read_parquet(layout.manifests / "predictions" / "efficientnet_lite0")
    assert list(predictions[predictions.status == "failed"].image_id) == ["coffee_contrast_5"]
    assert "coffee_contrast_5" not in mmos(db).index
    broken.write_bytes(original)
    capsys.readouterr()
    assert run_score(db, "--models", "efficientnet_lite0") == 1
    assert "1 failed predictions remain (--retry-failed redoes them)" in capsys.readouterr().err
    assert run_score(db, "--models", "efficientnet_lite0", "--retry-failed") == 0
    predictions = pd.read_parquet(layout.manifests / "predictions" / "efficientnet_lite0")
    assert len(predictions) == 52 and predictions.image_id.is_unique and (predictions.status == "ok").all()
    assert "coffee_contrast_5" in mmos(db).index and len(mmos(db)) == 50


def test_a_missing_pristine_source_keeps_accuracy_and_is_reported(db, capsys):
    layout = SubsetLayout.of(db, "cls")
    (layout.src_images / "coffee.png").unlink()
    assert run_score(db, "--models", "efficientnet_lite0") == 1  # the pristine coffee failed
    table = mmos(db)
    coffee = table[table.source_id == "coffee"]
    assert len(coffee) == 25 and coffee.weighted_consistency.isna().all()
    assert coffee.weighted_accuracy.notna().all() and coffee.composite.isna().all()
    assert coffee.note.str.contains("pristine source coffee.png").all()
    assert table[table.source_id == "chelsea"].weighted_consistency.notna().all()
    err = capsys.readouterr().err
    assert "1 sources have no pristine prediction" in err and "coffee" in err
    assert status.main([str(db)]) == 0
    assert "1 sources without a pristine prediction (consistency undefined): coffee" in capsys.readouterr().out
    assert export.main([str(db)]) == 1  # coffee's images are left out, and said so
    err = capsys.readouterr().err
    assert "left out 25 images: consistency undefined (pristine source not scored)" in err
    assert not (layout.root / "labels" / "coffee_mmos.csv").exists()
    written = pd.read_csv(layout.root / "labels" / "chelsea_mmos.csv")
    assert len(written) == 25 and np.isfinite(written[["weighted_consistency", "weighted_accuracy"]]).all().all()


def test_exports_know_when_labels_changed(lite0_db, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(lite0_db, out)
    assert export.main([str(out)]) == 0
    capsys.readouterr()
    assert status.main([str(out)]) == 0
    assert "export: current" in capsys.readouterr().out
    assert run_score(out, "--models", "efficientnet_lite0", "--composite-weight", "0.7") == 0  # relabels
    assert status.main([str(out)]) == 0
    assert "export: STALE" in capsys.readouterr().out
    assert export.main([str(out)]) == 0
    written = pd.read_csv(SubsetLayout.of(out, "cls").root / "labels" / "chelsea_mmos.csv")
    expected = mmos(out).loc[[p.split("/")[-1][:-4] for p in written.dist_images]]
    assert np.allclose(written.composite, expected.composite, atol=1e-6)


def test_a_grown_database_scores_only_its_new_images(cls_db, lite0_db, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(lite0_db, out)
    layout = SubsetLayout.of(out, "cls")
    before = pd.read_parquet(layout.manifests / "predictions" / "efficientnet_lite0").set_index("image_id")
    folder, labels = cls_db.parent / "src", cls_db.parent / "labels.csv"
    assert generate.main(["--subset", "cls", "--source", str(folder), "--out", str(out), "--workers", "1",
                          "--distortions", "contrast,pixelate", "--labels", str(labels)]) == 0
    assert run_score(out, "--models", "efficientnet_lite0") == 0
    after = pd.read_parquet(layout.manifests / "predictions" / "efficientnet_lite0").set_index("image_id")
    assert len(after) == 2 + 2 * 50
    kept = after.loc[before.index]
    assert (kept.top5_ids.map(list) == before.top5_ids.map(list)).all()
    stats = [json.loads(p.read_text()) for p in (layout.manifests / "stats" / "score").glob("*.json")]
    assert sum(s["items_ok"] for s in stats) == 2 * 25  # the last run predicted the pixelate images only
    assert len(mmos(out)) == 100


def coco_annotations(path: Path, names=("chelsea",)) -> Path:
    """A COCO json made for the test: a cat in chelsea at 160x120."""
    data = {
        "images": [{"id": 1, "file_name": "chelsea.png", "width": 160, "height": 120}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 17, "bbox": [30.0, 10.0, 90.0, 100.0],
                         "area": 9000.0, "iscrowd": 0, "segmentation": [[30, 10, 120, 10, 120, 110, 30, 110]]}],
        "categories": [{"id": 17, "name": "cat", "supercategory": "animal"}],
    }
    path.write_text(json.dumps(data))
    return path


def _cocoeval_ap(truth: list[dict], detections: list[dict], iou_type: str, size: tuple[int, int]) -> float:
    """COCOeval's AP@[.5:.95] for one image (pycocotools, the independent computation)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    height, width = size
    gt = COCO()
    gt.dataset = {"images": [{"id": 1, "width": width, "height": height}], "annotations": truth,
                  "categories": [{"id": c} for c in range(1, 91)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(detections) if detections else COCO()
        if not detections:
            return float("nan")
        evaluation = COCOeval(gt, dt, iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


@pytest.mark.parametrize("oracle,task", [("ssd300_vgg16", "det"), ("maskrcnn_small", "ins")])
def test_detection_labels_equal_cocoeval(tmp_path, monkeypatch, oracle, task):
    """Random-weight models (thresholds from their own pristine scores, so the pseudo truth is not empty);
    each image's consistency and accuracy equal COCOeval run on that image alone."""
    monkeypatch.setenv("MIQD_PLUGINS", "tests.plugins.small_oracles")  # maskrcnn_small, in the workers too
    import tests.plugins.small_oracles  # noqa: F401

    annotations = coco_annotations(tmp_path / "instances.json")
    folder = make_source_folder(tmp_path, names=("chelsea",))
    out = tmp_path / "out"
    assert generate.main(["--subset", "det", "--source", str(folder), "--out", str(out), "--workers", "1",
                          "--distortions", "contrast", "--annotations", str(annotations)]) == 0
    assert run_score(out, "--models", oracle, "--untrained", "--batch-size", "8") == 0
    layout = SubsetLayout.of(out, "det")
    predictions = pd.read_parquet(layout.manifests / "predictions" / oracle).set_index("image_id")
    pristine = predictions.loc["chelsea"]
    threshold = float(np.sort(pristine.scores)[-3])  # the pristine image's top three are its pseudo truth
    assert run_score(out, "--models", oracle, "--labels-only", "--pseudo-gt-score", str(threshold),
                     "--empty-gt-score", str(threshold)) == 0
    labels = pd.read_parquet(layout.manifests / "labels" / task / "oracle_labels").set_index("image_id")
    assert len(labels) == 25 and labels.untrained.all()
    iou_type = "segm" if task == "ins" else "bbox"
    size = (int(pristine.height), int(pristine.width))

    def entries(row, minimum: float) -> list[dict]:
        out = []
        for k, score_ in enumerate(row.scores):
            if score_ < minimum:
                continue
            entry = {"id": k + 1, "image_id": 1, "category_id": int(row.category_ids[k]), "score": float(score_),
                     "bbox": [float(v) for v in row.boxes[k]], "iscrowd": 0}
            x, y, w, h = entry["bbox"]
            entry["area"] = w * h
            if iou_type == "segm":
                entry["segmentation"] = {"size": [row.height, row.width], "counts": row.masks[k]}
                from pycocotools import mask as mask_utils

                entry["area"] = float(mask_utils.area(entry["segmentation"]))
            out.append(entry)
        return out

    truth = entries(pristine, threshold)
    assert truth, "the pseudo ground truth is not empty"
    coco_truth = json.loads(annotations.read_text())["annotations"]
    checked = 0
    for image_id, row in labels.iterrows():
        detections = entries(predictions.loc[image_id], 0.0)
        for key, gt in (("consistency", truth), ("accuracy", coco_truth)):
            expected = _cocoeval_ap(gt, detections, iou_type, size)
            if np.isnan(expected) or expected < 0:  # COCOeval: -1 when no detection matches a category
                continue
            assert row[key] == pytest.approx(expected, abs=1e-9), (image_id, key)
            checked += 1
    assert checked >= 25
    assert export.main([str(out)]) == 0
    root = layout.root if task == "det" else layout.root.with_name("miqa_ins")
    accuracy = pd.read_csv(root / "labels" / "chelsea_accuracy.csv").set_index("filename")
    assert len(accuracy) == 25 and accuracy.untrained.all() and (root / "labels" / "UNTRAINED").exists()
    assert np.allclose(accuracy.AP_weighted_avg, labels.accuracy.loc[[f[:-4] for f in accuracy.index]], atol=1e-6)


def test_changed_annotations_are_refused_then_relabelled_on_request(tmp_path, capsys):
    annotations = coco_annotations(tmp_path / "instances.json")
    folder = make_source_folder(tmp_path, names=("chelsea",))
    out = tmp_path / "out"
    assert generate.main(["--subset", "det", "--source", str(folder), "--out", str(out), "--workers", "1",
                          "--distortions", "contrast", "--annotations", str(annotations)]) == 0
    assert run_score(out, "--models", "ssd300_vgg16", "--untrained") == 0
    data = json.loads(annotations.read_text())
    data["annotations"][0]["bbox"] = [0.0, 0.0, 20.0, 20.0]
    annotations.write_text(json.dumps(data))
    capsys.readouterr()
    assert run_score(out, "--models", "ssd300_vgg16", "--untrained") == 2
    assert "changed since the labels were made" in capsys.readouterr().err
    assert generate.main(["--subset", "det", "--source", str(folder), "--out", str(out), "--workers", "1",
                          "--distortions", "contrast", "--annotations", str(annotations)]) == 2
    assert "mask.coco_annotations" in capsys.readouterr().err
    store = SubsetLayout.of(out, "det").label_store("det")
    before = store.part_metadata()
    assert run_score(out, "--models", "ssd300_vgg16", "--labels-only", "--annotations", str(annotations)) == 0
    record = json.loads((store.root / "labels.json").read_text())
    assert record["annotations"]["path"] == str(annotations.resolve())
    after = store.part_metadata()
    assert after.keys() == before.keys() and all(after[s]["input"] != before[s]["input"] for s in after)
    assert run_score(out, "--models", "ssd300_vgg16", "--untrained") == 0  # the new file is now the reference
