"""The database as a table and a Dataset: our manifests and the release's CSVs give the same rows; labels,
skips, views, samplers and workers behave as documented."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from degradations import names as distortion_names, parse_output_name
from learning.data import DatabaseError, QualityDataset, View, protocol_views, read_database, read_rgb
from learning.data.dataset import Draw, PackedStrings
from learning.data.loader import EpochSampler, make_loader
from learning.splits import hash_split
from pipeline import export
from tests.conftest import PROJECT_ROOT, load_photo
from tests.learning.databases import halved_rule, known_answer, publish_labels, small_database, undefined_rule


@pytest.fixture(scope="module")
def cls_db(tmp_path_factory) -> Path:
    out = small_database(tmp_path_factory.mktemp("cls"), rule=halved_rule)
    assert export.main([str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def det_db(tmp_path_factory) -> Path:
    out = small_database(tmp_path_factory.mktemp("det"), "det", photos=("chelsea", "coffee"), distortions="contrast",
                         rule=halved_rule)
    assert export.main([str(out)]) == 0
    return out


def test_manifest_rows_carry_the_metadata_and_the_label(cls_db):
    table = read_database(cls_db, "cls", label="consistency")
    assert table.format == "manifests" and table.label == "weighted consistency"
    assert len(table.rows) == 3 * 2 * 25 and table.skipped == {}
    for row in table.rows.itertuples():
        source, distortion, config = parse_output_name(Path(row.path).name, distortion_names())
        assert (row.source_id, row.distortion, row.region, row.roi_level, row.bg_level) == \
               (source, distortion, config.region, config.roi_level, config.bg_level)
        assert row.label == pytest.approx(known_answer(distortion, config.roi_level, config.bg_level), abs=1e-12)
        assert Path(row.path).is_file() and np.isfinite(row.psnr)


def test_undefined_labels_are_skipped_and_counted(cls_db, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(cls_db / "miqa_cls" / "manifests", copy / "miqa_cls" / "manifests")
    publish_labels(copy, "cls", "cls", undefined_rule)
    table = read_database(copy, "cls", label="accuracy")
    assert table.skipped == {"label undefined": 3}  # pixelate_5 of each source has no accuracy
    assert len(table.rows) == 150 - 3 and not table.rows["image_id"].str.endswith("pixelate_5").any()
    assert len(read_database(copy, "cls", label="consistency").rows) == 150
    composite = read_database(cls_db, "cls", label="composite")
    expected = [0.5 * v + 0.5 * 0.5 * v for v in (known_answer(r.distortion, r.roi_level, r.bg_level)
                                                  for r in composite.rows.itertuples())]
    assert np.allclose(composite.rows["label"], expected, atol=1e-12)


def test_mean_composite_uses_the_recorded_weight(cls_db, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(cls_db / "miqa_cls" / "manifests", copy / "miqa_cls" / "manifests")
    options = copy / "miqa_cls" / "manifests" / "labels" / "cls" / "labels.json"
    options.write_text(json.dumps({"options": {"composite_weight": 0.3}}))
    table = read_database(copy, "cls", label="composite", aggregation="mean")
    value = np.array([known_answer(r.distortion, r.roi_level, r.bg_level) for r in table.rows.itertuples()])
    assert np.allclose(table.rows["label"], 0.3 * value + 0.7 * 0.5 * value, atol=1e-12)


@pytest.mark.parametrize("label", ["consistency", "accuracy", "composite"])
def test_release_csvs_give_the_same_table_as_the_manifests(cls_db, label):
    ours = read_database(cls_db, "cls", label=label, format="manifests")
    release = read_database(cls_db, "cls", label=label, format="release")
    assert release.format == "release" and release.skipped == ours.skipped
    columns = ["image_id", "source_id", "path", "distortion", "region", "roi_level", "bg_level"]
    pd.testing.assert_frame_equal(ours.rows[columns], release.rows[columns])
    assert np.allclose(ours.rows["label"], release.rows["label"], atol=1e-6)  # the CSVs keep 6 decimals


@pytest.mark.parametrize("subset", ["det", "ins"])
@pytest.mark.parametrize("label", ["consistency", "accuracy", "composite"])
def test_release_det_and_ins_csvs_equal_the_manifests(det_db, subset, label):
    ours = read_database(det_db, subset, label=label, format="manifests")
    release = read_database(det_db, subset, label=label, format="release")
    assert len(ours.rows) == 2 * 25
    assert list(ours.rows["path"]) == list(release.rows["path"])
    assert np.allclose(ours.rows["label"], release.rows["label"], atol=1e-6)
    datasets = [QualityDataset(t.rows, protocol_views(False, 56, 48)) for t in (ours, release)]
    a, b = datasets[0][7], datasets[1][7]
    assert torch.equal(a["image"], b["image"]) and a["label"] == pytest.approx(float(b["label"]), abs=1e-6)
    assert {k: a[k] for k in ("image_id", "source_id", "distortion", "region", "roi_level", "bg_level")} == \
           {k: b[k] for k in ("image_id", "source_id", "distortion", "region", "roi_level", "bg_level")}


def test_release_reader_skips_missing_files_and_refuses_mean_det(det_db, tmp_path):
    copy = tmp_path / "db"
    shutil.copytree(det_db / "miqa_det" / "labels", copy / "miqa_det" / "labels")
    shutil.copytree(det_db / "miqa_det" / "images", copy / "miqa_det" / "images")
    (copy / "miqa_det" / "images" / "coffee" / "coffee_contrast_3.png").unlink()
    table = read_database(copy, "det", label="consistency")
    assert table.format == "release" and table.skipped == {"file missing": 1} and len(table.rows) == 49
    with pytest.raises(DatabaseError, match="AP_weighted_avg"):
        read_database(copy, "det", aggregation="mean")


def test_bad_databases_are_one_line_errors(tmp_path, cls_db):
    with pytest.raises(DatabaseError, match="no such folder"):
        read_database(tmp_path / "nowhere", "cls")
    with pytest.raises(DatabaseError, match="no cls labels found") as info:
        read_database(tmp_path, "cls")
    assert "\n" not in str(info.value)
    with pytest.raises(DatabaseError, match="label must be one of"):
        read_database(cls_db, "cls", label="mos")


def test_views_match_the_release_pil_pipeline():
    import torchvision.transforms as T

    photo = load_photo("coffee")  # 600 x 400: downscaled to 288 as the release does
    release = T.Compose([T.Resize(288), T.CenterCrop(224)])(Image.fromarray(photo))
    ours = protocol_views(False)(photo)["image"].permute(1, 2, 0).numpy()
    difference = np.abs(ours.astype(int) - np.asarray(release).astype(int))
    assert ours.shape == (224, 224, 3) and difference.mean() < 1.0 and np.percentile(difference, 99) <= 4


def test_view_geometry_and_random_crops():
    tall = torch.zeros(3, 300, 100, dtype=torch.uint8)
    assert View(50, 40).resized_shape(300, 100) == (150, 50)
    assert View(50, 40, square=True).resized_shape(300, 100) == (50, 50)
    image = torch.arange(3 * 64 * 64, dtype=torch.int32).reshape(3, 64, 64).to(torch.uint8)
    view = View(64, 32, random_crop=True)
    a = view(image, np.random.default_rng([1, 0, 5]))
    b = view(image, np.random.default_rng([1, 0, 5]))
    assert torch.equal(a, b) and a.shape == (3, 32, 32)
    corners = {tuple(view(image, np.random.default_rng([1, e, 5]))[0, 0, :2].tolist()) for e in range(20)}
    assert len(corners) > 5  # the crop moves with the epoch
    assert View(40, 40)(tall).shape == (3, 40, 40)
    with pytest.raises(ValueError, match="larger than the resized"):
        View(30, 40)


def test_dataset_items_and_keys(cls_db):
    table = read_database(cls_db, "cls", label="consistency")
    train = QualityDataset(table.rows, protocol_views(True, 56, 48, region_size=40), seed=3)
    item = train[Draw(2, 11)]
    row = table.rows.iloc[11]
    assert item["image"].shape == (3, 48, 48) and item["image"].dtype == torch.uint8
    assert item["region_view"].shape == (3, 40, 40)
    assert (item["index"], item["image_id"], item["source_id"], item["distortion"]) == \
           (11, row.image_id, row.source_id, row.distortion)
    assert float(item["label"]) == pytest.approx(row.label)
    assert torch.equal(train[Draw(2, 11)]["image"], item["image"])
    with pytest.raises(ValueError, match="indexed by Draw"):
        train[11]
    test = QualityDataset(table.rows, protocol_views(False, 56, 48))
    rgb = read_rgb(row.path)
    assert torch.equal(test[11]["image"], protocol_views(False, 56, 48)(rgb)["image"])


def test_dataset_from_database_takes_the_sources_of_a_split_part(cls_db):
    split = hash_split(read_database(cls_db, "cls").source_ids, test_fraction=0.4)
    for fmt in ("manifests", "release"):
        test = QualityDataset.from_database(cls_db, "cls", "accuracy", sources=split.test, format=fmt)
        assert len(test) == 50 * len(split.test) and {test[i]["source_id"] for i in range(len(test))} == set(split.test)
        assert test[0]["image"].shape == (3, 224, 224)  # the release's test view
        assert float(test[0]["label"]) == pytest.approx(
            0.5 * known_answer(test[0]["distortion"], test[0]["roi_level"], test[0]["bg_level"]), abs=1e-6)
    train = QualityDataset.from_database(cls_db, "cls", train=True)
    assert len(train) == 150 and train.views.random


FORKED_AFTER_OPENCV = """
import sys
import cv2, numpy as np, pandas as pd
from learning.data import QualityDataset, protocol_views
from learning.data.loader import EpochSampler, make_loader
rows = pd.DataFrame({"path": [sys.argv[1]] * 4, "image_id": list("abcd"), "source_id": "s", "region": "UD",
                     "distortion": "contrast", "roi_level": 1, "bg_level": 1, "label": 0.5})
cv2.cvtColor(np.zeros((2000, 2000, 3), np.uint8), cv2.COLOR_BGR2RGB)  # the parent's OpenCV thread pool runs
loader = make_loader(QualityDataset(rows, protocol_views(False, 64, 48)), EpochSampler(4, 0, False, False), 2, 1,
                     False, 0)
print(sum(len(batch["label"]) for batch in loader))
"""


def test_loader_workers_forked_from_a_process_running_opencv_threads_do_not_hang(tmp_path):
    """A worker forked while OpenCV's thread pool runs deadlocks in its first call into that pool."""
    Image.fromarray(np.full((400, 600, 3), 90, np.uint8)).save(tmp_path / "large.png")
    result = subprocess.run([sys.executable, "-c", FORKED_AFTER_OPENCV, str(tmp_path / "large.png")],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.split() == ["4"], result.stderr[-1000:]


def test_packed_strings_round_trip():
    values = ["a", "", "ünïcode/path.png", "x" * 300]
    packed = PackedStrings(values)
    assert [packed[i] for i in range(len(packed))] == values


def test_sampler_orders_shards_and_resumes():
    sampler = EpochSampler(10, seed=7, shuffle=True, draws=True)
    sampler.set_position(3)
    full = list(sampler)
    assert sorted(d.index for d in full) == list(range(10)) and all(d.epoch == 3 for d in full)
    sampler.set_position(4)
    assert [d.index for d in sampler] != [d.index for d in full]
    sampler.set_position(3, start=6)
    assert list(sampler) == full[6:] and len(sampler) == 4
    ranks = [EpochSampler(10, 7, True, True, rank, 3) for rank in range(3)]
    shares = [[d.index for d in r] for r in ranks]
    assert all(len(s) == 4 for s in shares) and set(sum(shares, [])) == set(range(10))
    evals = [list(EpochSampler(10, 7, False, False, rank, 3)) for rank in range(3)]
    assert sorted(sum(evals, [])) == list(range(10))


def test_loader_batches_do_not_depend_on_workers(cls_db):
    table = read_database(cls_db, "cls", label="consistency")
    dataset = QualityDataset(table.rows, protocol_views(True, 40, 32), seed=5)
    batches = []
    for workers in (0, 2):
        sampler = EpochSampler(len(dataset), 5, True, True)
        sampler.set_position(1, start=16)
        batches.append(list(make_loader(dataset, sampler, 16, workers, False, 0)))
    assert len(batches[0]) == len(batches[1]) == 9
    for a, b in zip(*batches):
        assert torch.equal(a["image"], b["image"]) and a["image_id"] == b["image_id"]
