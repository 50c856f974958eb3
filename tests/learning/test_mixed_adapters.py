"""Dataset adapters on small fixtures written in each dataset's published format."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import io

from learning.mixed.adapters import DatasetSpec, load_dataset, names
from learning.mixed.annotations import DatasetError


def _touch(root: Path, files) -> None:
    for f in files:
        path = root / f
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # adapters check that images exist; they never decode them


def _write_csv(path: Path, header, rows, delimiter=",", quote=csv.QUOTE_MINIMAL) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, quoting=quote)
        writer.writerow(header)
        writer.writerows(rows)


def test_every_adapter_is_registered():
    assert set(names()) >= {"cls", "det", "ins", "live", "csiq", "bid", "clive", "koniq10k", "kadid10k", "csv",
                            "list"}


@pytest.mark.parametrize("text, expected", [
    ("kadid10k=/data/kadid10k", ("kadid10k", "kadid10k", "/data/kadid10k", None)),
    ("cls=out:composite", ("cls", "cls", "out", "composite")),
    ("machines=det@/db/out:accuracy", ("machines", "det", "/db/out", "accuracy")),
    ("mine=csv@/data/a:b/scores.csv", ("mine", "csv", "/data/a:b/scores.csv", None)),
])  # fmt: skip
def test_dataset_spec_parsing(text, expected):
    spec = DatasetSpec.parse(text)
    assert (spec.name, spec.adapter, spec.root, spec.label) == expected


@pytest.mark.parametrize("text", ["kadid10k", "=x", "a="])
def test_dataset_spec_parsing_rejects_malformed_text(text):
    with pytest.raises(DatasetError, match="name=\\[adapter@\\]root"):
        DatasetSpec.parse(text)


# --- synthetic sets ----------------------------------------------------------------------------------


LIVE_COUNTS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def _live(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    dmos = rng.uniform(-2.64, 111.77, 982)
    orgs = np.zeros(982)
    orgs[rng.choice(982, 203, replace=False)] = 1
    dmos[orgs == 1] = 0.0
    refs = [f"ref{i % 29}.bmp" for i in range(982)]
    io.savemat(root / "dmos.mat", {"dmos": dmos[None, :], "orgs": orgs[None, :]})
    cell = np.empty((1, 982), dtype=object)
    cell[0, :] = refs
    io.savemat(root / "refnames_all.mat", {"refnames_all": cell})
    _touch(root, [f"{folder}/img{k}.bmp" for folder, n in LIVE_COUNTS for k in range(1, n + 1)])
    return dmos, orgs, refs


def test_live_keeps_the_779_distorted_images_and_flips_dmos(tmp_path):
    dmos, orgs, refs = _live(tmp_path)
    dataset = load_dataset(DatasetSpec.parse(f"live={tmp_path}"))
    expected_files, expected_dmos, expected_refs = [], [], []
    i = 0
    for folder, n in LIVE_COUNTS:  # the dmos vector concatenates the five folders, img1..imgN each
        for k in range(1, n + 1):
            if orgs[i] == 0:
                expected_files.append(f"{folder}/img{k}.bmp")
                expected_dmos.append(dmos[i])
                expected_refs.append(refs[i])
            i += 1
    assert len(dataset) == 779
    assert list(dataset.files) == expected_files
    assert list(dataset.groups) == expected_refs
    np.testing.assert_allclose(dataset.scores, max(expected_dmos) - np.array(expected_dmos))
    assert dataset.scale == pytest.approx((0.0, max(expected_dmos) - min(expected_dmos)))
    assert np.corrcoef(dataset.scores, expected_dmos)[0, 1] == pytest.approx(-1.0)  # higher is better now


def test_live_with_missing_images_says_how_many(tmp_path):
    _live(tmp_path)
    (tmp_path / "wn" / "img20.bmp").unlink()
    (tmp_path / "fastfading" / "img1.bmp").unlink()
    with pytest.raises(DatasetError, match=r"of 779 images listed are missing under"):
        load_dataset(DatasetSpec.parse(f"live={tmp_path}"))


CSIQ_ROWS = [  # image, dst_idx, dst_type, dst_lev, dmos_std, dmos (the all_by_image sheet's columns)
    ("1600", 1, "noise", 1, 0.02, 0.062), ("1600", 1, "noise", 2, 0.03, 0.2), ("shroom", 3, "jpeg", 4, 0.1, 0.7),
    ("shroom", 5, "jpeg 2000", 5, 0.1, 0.93), ("aerial_city", 2, "fnoise", 3, 0.1, 0.4),
    ("aerial_city", 4, "blur", 2, 0.1, 0.3), ("native_american", 6, "contrast", 1, 0.01, 0.05),
]  # fmt: skip
CSIQ_FILES = ["dst_imgs/awgn/1600.AWGN.1.png", "dst_imgs/awgn/1600.AWGN.2.png", "dst_imgs/jpeg/shroom.JPEG.4.png",
              "dst_imgs/jpeg2000/shroom.jpeg2000.5.png", "dst_imgs/fnoise/aerial_city.fnoise.3.png",
              "dst_imgs/blur/aerial_city.BLUR.2.png", "dst_imgs/contrast/native_american.contrast.1.png"]


def test_csiq_from_a_csv_export(tmp_path):
    _touch(tmp_path, CSIQ_FILES)
    _write_csv(tmp_path / "all_by_image.csv", ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"],
               CSIQ_ROWS)
    dataset = load_dataset(DatasetSpec("csiq", "csiq", str(tmp_path),
                                       options=(("labels", str(tmp_path / "all_by_image.csv")),)))
    assert list(dataset.files) == CSIQ_FILES
    np.testing.assert_allclose(dataset.scores, [1 - r[5] for r in CSIQ_ROWS])
    assert dataset.groups == ("1600", "1600", "shroom", "shroom", "aerial_city", "aerial_city", "native_american")


def test_csiq_from_its_xlsx_with_numeric_names_and_a_title_row(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.title = "notes"
    sheet = book.create_sheet("all_by_image")
    sheet.append(["CSIQ DMOS, all images"])
    sheet.append(["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"])
    for row in CSIQ_ROWS:
        sheet.append([int(row[0]) if row[0].isdigit() else row[0], *row[1:]])  # Excel keeps 1600 as a number
    book.save(tmp_path / "csiq.DMOS.xlsx")
    _touch(tmp_path, CSIQ_FILES)
    dataset = load_dataset(DatasetSpec.parse(f"csiq={tmp_path}"))
    assert list(dataset.files) == CSIQ_FILES
    np.testing.assert_allclose(dataset.scores, [1 - r[5] for r in CSIQ_ROWS])


def test_kadid10k(tmp_path):
    rows = [("I01_01_01.png", "I01.png", 4.57, 0.496), ("I01_01_02.png", "I01.png", 4.33, 0.6),
            ("I02_05_03.png", "I02.png", 1.0, 0.1)]
    _write_csv(tmp_path / "dmos.csv", ["dist_img", "ref_img", "dmos", "var"], rows)
    _touch(tmp_path, [f"images/{r[0]}" for r in rows])
    dataset = load_dataset(DatasetSpec.parse(f"kadid10k={tmp_path}"))
    assert dataset.files == ("images/I01_01_01.png", "images/I01_01_02.png", "images/I02_05_03.png")
    np.testing.assert_allclose(dataset.scores, [4.57, 4.33, 1.0])  # a MOS already: higher is better
    assert dataset.groups == ("I01.png", "I01.png", "I02.png")


# --- authentic sets ----------------------------------------------------------------------------------


def test_bid_from_csv_export_and_xlsx(tmp_path):
    rows = [(1, 4.0781), (2, 2.2), (586, 0.1638)]
    _write_csv(tmp_path / "grades.csv", ["Image Number", "Average Subjective Grade"], rows, delimiter=";")
    files = ["ImageDatabase/DatabaseImage0001.JPG", "ImageDatabase/DatabaseImage0002.JPG",
             "ImageDatabase/DatabaseImage0586.JPG"]
    _touch(tmp_path, files)
    labels = (("labels", str(tmp_path / "grades.csv")),)
    dataset = load_dataset(DatasetSpec("bid", "bid", str(tmp_path), options=labels))
    assert list(dataset.files) == files
    np.testing.assert_allclose(dataset.scores, [4.0781, 2.2, 0.1638])
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["Image Number", "Average Subjective Grade"])
    for row in rows:
        book.active.append(list(row))
    book.save(tmp_path / "DatabaseGrades.xlsx")
    from_excel = load_dataset(DatasetSpec.parse(f"bid={tmp_path}"))
    assert from_excel.files == dataset.files and np.array_equal(from_excel.scores, dataset.scores)


def test_bid_refuses_an_old_xls_with_a_way_out(tmp_path):
    old_excel = tmp_path / "DatabaseGrades.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DatasetError, match="save its sheet as CSV"):
        load_dataset(DatasetSpec("bid", "bid", str(tmp_path), options=(("labels", str(old_excel)),)))


def test_clive_leaves_out_the_seven_practice_images(tmp_path):
    names_ = [f"t{i}.bmp" for i in range(1, 8)] + ["3.bmp", "611.JPG", "1000.bmp"]
    mos = np.array([50.0] * 7 + [63.2, 38.489474, 3.42])
    cell = np.empty((len(names_), 1), dtype=object)  # AllImages_release is a column cell array
    cell[:, 0] = names_
    (tmp_path / "Data").mkdir()
    io.savemat(tmp_path / "Data" / "AllImages_release.mat", {"AllImages_release": cell})
    io.savemat(tmp_path / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos[None, :]})
    _touch(tmp_path, ["Images/3.bmp", "Images/611.JPG", "Images/1000.bmp"])
    dataset = load_dataset(DatasetSpec.parse(f"clive={tmp_path}"))
    assert dataset.files == ("Images/3.bmp", "Images/611.JPG", "Images/1000.bmp")
    np.testing.assert_allclose(dataset.scores, [63.2, 38.489474, 3.42])
    assert dataset.groups == dataset.files


def test_koniq10k_reads_mos_or_its_zscore(tmp_path):
    header = ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"]
    rows = [("10004473376.jpg", 0, 0, 25, 73, 7, 105, 3.828571429, 0.527278107, 77.38362568),
            ("10007357496.jpg", 0, 3, 45, 47, 1, 96, 3.479166667, 0.580003634, 68.41014872)]
    _write_csv(tmp_path / "koniq10k_scores_and_distributions.csv", header, rows, quote=csv.QUOTE_NONNUMERIC)
    _touch(tmp_path, [f"1024x768/{r[0]}" for r in rows])
    dataset = load_dataset(DatasetSpec.parse(f"koniq10k={tmp_path}"))
    assert dataset.files == ("1024x768/10004473376.jpg", "1024x768/10007357496.jpg")
    np.testing.assert_allclose(dataset.scores, [3.828571429, 3.479166667])
    zscores = load_dataset(DatasetSpec.parse(f"koniq10k={tmp_path}:MOS_zscore"))
    np.testing.assert_allclose(zscores.scores, [77.38362568, 68.41014872])
    with pytest.raises(DatasetError, match="has no label 'composite'"):
        load_dataset(DatasetSpec.parse(f"koniq10k={tmp_path}:composite"))


# --- generic -----------------------------------------------------------------------------------------


def test_csv_adapter_with_groups_and_a_lower_is_better_scale(tmp_path):
    _write_csv(tmp_path / "scores.csv", ["path", "dmos", "reference"],
               [("a/1.png", 10.0, "a"), ("a/2.png", 30.0, "a"), ("b/1.png", 20.0, "b")])
    _touch(tmp_path, ["a/1.png", "a/2.png", "b/1.png"])
    spec = DatasetSpec("mine", "csv", str(tmp_path / "scores.csv"),
                       options=(("score_column", "dmos"), ("group_column", "reference"), ("lower_is_better", "true")))
    dataset = load_dataset(spec)
    np.testing.assert_allclose(dataset.scores, [20.0, 0.0, 10.0])
    assert dataset.groups == ("a", "a", "b")


def test_list_adapter_reads_the_authors_cr_terminated_lists_and_filters_a_tag(tmp_path):
    lines = ["databaserelease2/jp2k/img44.bmp\t40.155000\t2.726000\t1",
             "CSIQ/dst_imgs/awgn/shroom.AWGN.1.png\t0.969000\t0.045000\t2",
             "databaserelease2/wn/img20.bmp\t0.000\t1.598000\t1"]
    (tmp_path / "train.txt").write_bytes("\r".join(lines).encode() + b"\r")
    _touch(tmp_path, ["databaserelease2/jp2k/img44.bmp", "databaserelease2/wn/img20.bmp",
                      "CSIQ/dst_imgs/awgn/shroom.AWGN.1.png"])
    spec = DatasetSpec("live", "list", str(tmp_path), options=(("file", str(tmp_path / "train.txt")), ("tag", "1")))
    dataset = load_dataset(spec)
    assert dataset.files == ("databaserelease2/jp2k/img44.bmp", "databaserelease2/wn/img20.bmp")
    np.testing.assert_allclose(dataset.scores, [40.155, 0.0])


# --- MIQD databases ----------------------------------------------------------------------------------


def _our_database(out: Path, untrained: bool = False) -> None:
    from manifests.layout import SubsetLayout
    from manifests.schemas import IMAGES, MMOS, ORACLE_LABELS

    layout = SubsetLayout.of(out, "cls")
    rows = [("s1", "s1_fog_1", 0.9, 0.7), ("s1", "s1_fog_2", 0.5, None), ("s2", "s2_fog_1", 1.0, 1.0)]
    mmos = {f.name: [None] * len(rows) for f in MMOS}
    mmos.update(image_id=[r[1] for r in rows], source_id=[r[0] for r in rows],
                path=[f"images/{r[0]}/{r[1]}.png" for r in rows], oracles=[3] * 3,
                weighted_consistency=[r[2] for r in rows], weighted_accuracy=[r[3] for r in rows],
                composite=[None if r[3] is None else 0.5 * r[2] + 0.5 * r[3] for r in rows],
                untrained=[untrained] * 3)
    empty = pa.Table.from_pylist([], schema=ORACLE_LABELS)
    layout.label_store("cls").publish("shard0", {"oracle_labels": empty, "mmos": pa.Table.from_pydict(mmos, MMOS)})
    images = {f.name: [None] * len(rows) for f in IMAGES}
    images.update(image_id=[r[1] for r in rows], source_id=[r[0] for r in rows], distortion=["fog"] * 3,
                  region=["UD"] * 3, roi_level=[1, 2, 1], bg_level=[1, 2, 1], psnr=[31.0, float("inf"), 24.5],
                  path=mmos["path"], status=["ok"] * 3)
    store = layout.generation_store()
    store.publish("shard0", {"images": pa.Table.from_pydict(images, IMAGES),
                             "candidates": pa.Table.from_pylist([], schema=store.schemas["candidates"]),
                             "sources": pa.Table.from_pylist([], schema=store.schemas["sources"])})
    _touch(layout.root, mmos["path"])


def test_our_database_labels_and_psnr(tmp_path):
    _our_database(tmp_path)
    composite = load_dataset(DatasetSpec.parse(f"cls={tmp_path}"))
    assert composite.files == ("images/s1/s1_fog_1.png", "images/s2/s2_fog_1.png")  # no accuracy: no composite
    np.testing.assert_allclose(composite.scores, [0.8, 1.0])
    assert composite.groups == ("s1", "s2")
    consistency = load_dataset(DatasetSpec.parse(f"cls={tmp_path}:consistency"))
    np.testing.assert_allclose(consistency.scores, [0.9, 0.5, 1.0])
    psnr = load_dataset(DatasetSpec("psnr", "cls", str(tmp_path), label="psnr", options=(("psnr_cap", "50"),)))
    np.testing.assert_allclose(psnr.scores, [31.0, 50.0, 24.5])  # an identical image's infinite PSNR capped


def test_our_database_refuses_untrained_labels(tmp_path):
    _our_database(tmp_path, untrained=True)
    with pytest.raises(DatasetError, match="random-weight oracles"):
        load_dataset(DatasetSpec.parse(f"cls={tmp_path}"))
    spec = DatasetSpec("cls", "cls", str(tmp_path), options=(("allow_untrained", "true"),))
    assert len(load_dataset(spec)) == 2


def test_the_release_download_cls_and_det(tmp_path):
    labels = tmp_path / "miqa_cls" / "labels"
    labels.mkdir(parents=True)
    stem = "ILSVRC2012_val_00000001"
    _write_csv(labels / f"{stem}_mmos.csv", ["dist_images", "weighted_consistency", "weighted_accuracy"],
               [(f"{stem}/{stem}_contrast_1.png", 1.0, 0.6), (f"{stem}/{stem}_fog_5.png", 0.2, 0.0)])
    _touch(tmp_path / "miqa_cls", [f"images/{stem}/{stem}_contrast_1.png", f"images/{stem}/{stem}_fog_5.png"])
    cls = load_dataset(DatasetSpec.parse(f"cls={tmp_path}"))
    np.testing.assert_allclose(cls.scores, [0.8, 0.1])
    assert cls.groups == (stem, stem)
    source = "000000000139"
    for task, values in (("det", (0.5, 0.25)), ("ins", (0.3, 0.1))):
        folder = tmp_path / f"miqa_{task}" / "labels"
        folder.mkdir(parents=True)
        files = [f"{source}_fog_1.png", f"{source}_snow_2.png"]
        _write_csv(folder / f"{source}_accuracy.csv", ["filename", "AP_weighted_avg"], zip(files, values))
        _write_csv(folder / f"{source}_consistency.csv", ["filename", "AP_weighted_avg"], zip(files, (1.0, 0.5)))
    _touch(tmp_path / "miqa_det", [f"images/{source}/{f}" for f in files])
    det = load_dataset(DatasetSpec.parse(f"det={tmp_path}"))
    np.testing.assert_allclose(det.scores, [0.75, 0.375])
    ins = load_dataset(DatasetSpec.parse(f"ins={tmp_path}:accuracy"))
    np.testing.assert_allclose(ins.scores, [0.3, 0.1])
    assert ins.root == (tmp_path / "miqa_det").resolve()  # ins labels, det's images


def test_a_database_without_labels_says_what_to_run(tmp_path):
    with pytest.raises(DatasetError, match="pipeline.score"):
        load_dataset(DatasetSpec.parse(f"cls={tmp_path}"))


def test_reading_dataset_specs_does_not_import_torch():
    """What a command line validates before anything heavy loads."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    code = ("import sys; from learning.mixed.adapters import DatasetSpec, names; names(); "
            "DatasetSpec.parse('cls=out:composite'); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
