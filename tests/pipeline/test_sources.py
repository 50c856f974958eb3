"""Source readers, decoding, the release's reference lists and the built-in sample set."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image
from pycocotools import mask as mask_utils

from pipeline.sources import (
    SAMPLE_ANNOTATIONS,
    SourceError,
    SourceRecord,
    load_coco,
    read_coco,
    read_devkit_ground_truth,
    read_devkit_meta,
    read_folder,
    read_ground_truth,
    read_id_list,
    read_imagenet_val,
    read_release_ground_truth,
    read_rgb,
    read_selection,
    read_voc_boxes,
    sample_sources,
    skimage_data_dir,
)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def by_name(records: list[SourceRecord]) -> dict[str, SourceRecord]:
    return {record.file_name: record for record in records}


# ------------------------------------------------------------------------------------------- records


def test_record_is_frozen(tmp_path):
    record = SourceRecord(source_id="a", path=tmp_path / "a.jpg", file_name="a.jpg")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.label = 3
    assert record.ok and record.boxes is None and record.coco_image_id is None


# -------------------------------------------------------------------------------------------- folder


def test_folder_lists_images_case_insensitively_and_sorted(tmp_path):
    for name in ("b.JPG", "a.jpeg", "c.PNG", "d.bmp", "e.TIFF", "f.tif", "g.WebP", "notes.txt", ".hidden.jpg"):
        touch(tmp_path / name)
    touch(tmp_path / "sub" / "h.jpg")
    (tmp_path / "dir.jpg").mkdir()
    records = read_folder(tmp_path)
    assert [r.file_name for r in records] == ["a.jpeg", "b.JPG", "c.PNG", "d.bmp", "e.TIFF", "f.tif", "g.WebP"]
    assert all(r.error is None and r.path.is_absolute() and r.path.parent == tmp_path.resolve() for r in records)
    assert records[1].source_id == "b" and records[1].label is None
    nested = read_folder(tmp_path, recursive=True)
    assert "sub/h.jpg" in [r.file_name for r in nested]
    assert read_folder(tmp_path) == records  # stable


def test_folder_labels_csv_with_invalid_entries(tmp_path):
    root = tmp_path / "images"
    for name in ("a.jpg", "b.png", "c.jpg", "d.jpg"):
        touch(root / name)
    touch(tmp_path / "outside.jpg")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "file_name,class_index\n"
        "a.jpg,3\n"
        "b.png,1000\n"                # unknown class
        "missing.jpg,5\n"             # missing file
        "../outside.jpg,1\n"          # traversal
        f"{tmp_path / 'outside.jpg'},2\n"  # absolute
        "c.jpg,7,tench\n"
    )
    records = read_folder(root, labels=labels)
    named = by_name(records)
    assert named["a.jpg"].label == 3 and named["a.jpg"].error is None
    assert named["b.png"].label is None and "class index 1000 is outside 0..999" in named["b.png"].error
    assert named["c.jpg"].label == 7 and named["c.jpg"].label_name == "tench"
    assert named["d.jpg"].label is None and named["d.jpg"].error is None
    assert "missing file" in named["missing.jpg"].error
    assert "escapes" in named["../outside.jpg"].error
    assert "absolute" in named[str(tmp_path / "outside.jpg")].error
    for record in records:  # no path ever leaves the root, errors are one line
        assert record.path.resolve().is_relative_to(root.resolve())
        assert record.error is None or "\n" not in record.error
    bad = tmp_path / "bad.csv"
    bad.write_text("a.jpg,3\nb.png,three\n")  # a bad row fails its own source only
    named = by_name(read_folder(root, labels=bad))
    assert named["a.jpg"].label == 3 and named["a.jpg"].error is None
    assert "line 2" in named["b.png"].error and "'three' is not an ImageNet-1k class" in named["b.png"].error


def test_labels_csv_header_is_detected_by_content_and_classes_by_id_or_name(tmp_path):
    root = tmp_path / "images"
    for name in ("coffee.png", "cat.jpg", "fish.jpg", "x.jpg"):
        touch(root / name)
    labels = tmp_path / "labels.csv"
    labels.write_text("coffee.png,espresso\ncat.jpg,n02123045\nfish.jpg,0\nx.jpg\n")  # no header at all
    named = by_name(read_folder(root, labels=labels))
    assert (named["coffee.png"].label, named["coffee.png"].label_name) == (967, "espresso")
    assert (named["cat.jpg"].label, named["cat.jpg"].label_name) == (281, "tabby")
    assert named["fish.jpg"].label == 0 and named["fish.jpg"].label_name == "tench"
    assert "no class given" in named["x.jpg"].error
    labels.write_text("Image Name,Label\ncoffee.png,967\n")  # a header: its first cell is no image name
    assert by_name(read_folder(root, labels=labels))["coffee.png"].label == 967
    labels.write_text("cat.jpg,n99999999\n")
    assert "WordNet ids" in by_name(read_folder(root, labels=labels))["cat.jpg"].error


def test_imagenet_class_table_is_torchvision_order():
    from pipeline.sources.classes import class_name, parse_class

    assert [parse_class(t) for t in ("0", "n01440764", "Tench", "999", "n15075141")] == [0, 0, 0, 999, 999]
    assert class_name(281) == "tabby" and class_name(967) == "espresso"
    for bad in ("1000", "-1", "n00000000", "kitten"):
        with pytest.raises(ValueError):
            parse_class(bad)


def test_folder_symlinks_and_duplicate_ids(tmp_path):
    root = tmp_path / "root"
    touch(root / "real.jpg")
    secret = touch(tmp_path / "secret.jpg")
    os.symlink(secret, root / "escape.jpg")
    os.symlink(root / "real.jpg", root / "inside.jpg")
    touch(root / "dup.jpg")
    touch(root / "dup.png")
    named = by_name(read_folder(root))
    assert "outside the source root" in named["escape.jpg"].error
    assert named["escape.jpg"].path == root.resolve()
    assert named["inside.jpg"].error is None and named["real.jpg"].error is None
    assert named["dup.jpg"].error is None and "duplicate source id" in named["dup.png"].error


def test_missing_root_raises(tmp_path):
    with pytest.raises(SourceError):
        read_folder(tmp_path / "nope")


# ------------------------------------------------------------------------------------------ imagenet


def val_name(number: int) -> str:
    return f"ILSVRC2012_val_{number:08d}.JPEG"


@pytest.fixture
def val_root(tmp_path):
    root = tmp_path / "val"
    for number in (1, 2, 3, 5):
        touch(root / val_name(number))
    touch(root / "readme.txt")
    touch(tmp_path / "outside.JPEG")
    gt = tmp_path / "gt.txt"
    gt.write_text("65,sea snake\n795,ski\n230,Shetland sheepdog, Shetland sheep dog, Shetland\n809,soup bowl\n")
    return root, gt


def test_imagenet_folder_with_release_ground_truth(val_root):
    root, gt = val_root
    records = read_imagenet_val(root, ground_truth=gt)
    assert [r.source_id for r in records] == [Path(val_name(n)).stem for n in (1, 2, 3, 5)]
    assert [r.label for r in records[:3]] == [65, 795, 230]
    assert records[2].label_name == "Shetland sheepdog, Shetland sheep dog, Shetland"
    assert records[3].label is None and "no ground truth for val image 5" in records[3].error
    unlabeled = read_imagenet_val(root)
    assert all(r.error is None and r.label is None for r in unlabeled)


def test_imagenet_selection_list(val_root, tmp_path):
    root, gt = val_root
    selection = tmp_path / "sel.csv"
    with open(selection, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Name", "Category", "Quality Score"])
        writer.writerow([val_name(3), "Shetland sheepdog, Shetland sheep dog, Shetland", "0.9"])
        writer.writerow([val_name(1), "ski", "0.8"])  # disagrees with the ground truth (sea snake)
        writer.writerow([val_name(4), "cradle", "0.7"])  # not in the folder
        writer.writerow(["../outside.JPEG", "sea snake", "0.6"])
        writer.writerow([val_name(2), "ski", ""])
        writer.writerow([val_name(2), "ski", "0.5"])  # listed twice
    rows = read_selection(selection)
    assert rows[0].quality_score == pytest.approx(0.9) and rows[4].quality_score is None
    records = read_imagenet_val(root, selection=selection, ground_truth=gt)
    assert [r.file_name for r in records] == [row.image_name for row in rows]  # the list's order
    assert records[0].label == 230 and records[0].error is None
    assert "differs from ground truth" in records[1].error and records[1].label is None
    assert "missing file" in records[2].error
    assert "escapes" in records[3].error and records[3].path == root.resolve()
    assert records[4].label == 795 and records[4].error is None
    assert "duplicate" in records[5].error
    # without ground truth, the list's Category is kept as the name and there is no index
    plain = read_imagenet_val(root, selection=selection)
    assert plain[1].error is None and plain[1].label is None and plain[1].label_name == "ski"


def test_selection_class_index_column(tmp_path):
    touch(tmp_path / "cat.png")
    touch(tmp_path / "dog.png")
    selection = tmp_path / "sel.csv"
    selection.write_text("Image Name,Category,Quality Score,Class Index\ncat.png,tabby,,281\ndog.png,x,,1001\n")
    records = read_imagenet_val(tmp_path, selection=selection)
    assert records[0].label == 281 and records[0].label_name == "tabby"
    assert "unknown class" in records[1].error
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Score\na,1\n")
    with pytest.raises(SourceError, match="missing column"):
        read_selection(bad)


def write_meta_mat(path: Path, synsets: list[tuple[int, str, str, int]]) -> None:
    """A devkit-style data/meta.mat: a struct array ``synsets`` (ILSVRC2012_ID, WNID, words, ...)."""
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    array = np.zeros((len(synsets), 1), dtype=[(name, "O") for name in fields])
    for i, (ilsvrc_id, wnid, words, children) in enumerate(synsets):
        array[i, 0] = (
            np.array([[ilsvrc_id]], dtype=np.uint16), np.array([wnid]), np.array([words]), np.array(["gloss"]),
            np.array([[children]], dtype=np.uint8), np.zeros((1, children), np.uint16),
            np.array([[0]], dtype=np.uint8), np.array([[1300 if children == 0 else 0]], dtype=np.uint16),
        )
    scipy.io.savemat(path, {"synsets": array})


def test_devkit_ground_truth_maps_to_torchvision_order(tmp_path):
    meta = tmp_path / "meta.mat"
    # ILSVRC2012_IDs follow the devkit's order, not the WNIDs' sorted order that torchvision uses.
    write_meta_mat(meta, [
        (1, "n03000000", "third, by WNID", 0),
        (2, "n01000000", "first, by WNID", 0),
        (3, "n02000000", "second, by WNID", 0),
        (4, "n00000001", "an inner node", 3),
    ])
    mapping = read_devkit_meta(meta)
    assert mapping == {1: (2, "n03000000", "third, by WNID"), 2: (0, "n01000000", "first, by WNID"),
                       3: (1, "n02000000", "second, by WNID")}
    gt = tmp_path / "ILSVRC2012_validation_ground_truth.txt"
    gt.write_text("2\n1\n3\n4\n")
    truth = read_devkit_ground_truth(gt, meta)
    assert truth.labels[:3] == ((0, "first, by WNID"), (2, "third, by WNID"), (1, "second, by WNID"))
    assert truth.labels[3][0] is None  # an inner node is no class
    with pytest.raises(SourceError, match="meta.mat"):
        read_ground_truth(gt)
    root = tmp_path / "val"
    for number in (1, 2, 3, 4):
        touch(root / val_name(number))
    records = read_imagenet_val(root, ground_truth=gt, devkit_meta=meta)
    assert [r.label for r in records] == [0, 2, 1, None]
    assert records[1].label_name == "third, by WNID"
    assert "unknown class" in records[3].error and "ILSVRC2012_ID 4" in records[3].error


def test_val_boxes_from_voc_xml(val_root, tmp_path):
    root, gt = val_root
    boxes_dir = tmp_path / "bbox"
    boxes_dir.mkdir()
    (boxes_dir / f"{Path(val_name(1)).stem}.xml").write_text(
        "<annotation><filename>ILSVRC2012_val_00000001</filename>"
        "<size><width>500</width><height>375</height><depth>3</depth></size>"
        "<object><name>n01751748</name><bndbox><xmin>111</xmin><ymin>108</ymin><xmax>441</xmax>"
        "<ymax>300</ymax></bndbox></object>"
        "<object><name>n01751748</name><bndbox><xmin>0</xmin><ymin>10</ymin><xmax>600</xmax>"
        "<ymax>20</ymax></bndbox></object></annotation>"
    )
    (boxes_dir / f"{Path(val_name(2)).stem}.xml").write_text("<annotation><object>")
    records = read_imagenet_val(root, ground_truth=gt, bbox_dir=boxes_dir)
    assert records[0].boxes == ((111.0, 108.0, 442.0, 301.0), (0.0, 10.0, 500.0, 21.0))
    assert records[0].error is None and records[0].label == 65
    assert "malformed XML" in records[1].error
    assert records[2].boxes is None and records[2].error is None  # no XML: no boxes
    assert read_voc_boxes(boxes_dir / f"{Path(val_name(1)).stem}.xml") == records[0].boxes


# -------------------------------------------------------------------------------- the release's lists


def test_reference_selection_list(reference_dir):
    rows = read_selection(reference_dir / "top_5_quality_images_per_category.csv")
    assert len(rows) == 5000
    per_class = Counter(row.category for row in rows)
    assert len(per_class) == 1000 and set(per_class.values()) == {5}
    assert len({row.image_name for row in rows}) == 5000
    assert all(row.quality_score is not None and 0 < row.quality_score <= 1 for row in rows)
    train = read_selection(reference_dir / "miqa_cls_train.csv")
    test = read_selection(reference_dir / "miqa_cls_val.csv")
    assert (len(train), len(test)) == (4000, 1000)
    assert {r.image_name for r in train} | {r.image_name for r in test} == {r.image_name for r in rows}
    assert not {r.image_name for r in train} & {r.image_name for r in test}


def test_reference_ground_truth_and_selection_agree(reference_dir, tmp_path):
    truth = read_release_ground_truth(reference_dir / "ground_truth_ilsvrc2012_val.txt")
    assert len(truth.labels) == 50000
    indices = {index for index, _ in truth.labels}
    assert indices == set(range(1000))
    names = {index: name for index, name in truth.labels}
    assert len(set(names.values())) == 1000
    # the 5,000 selected images, as empty files: every one labelled, 5 per class, list order kept
    selection = reference_dir / "top_5_quality_images_per_category.csv"
    rows = read_selection(selection)
    for row in rows:
        (tmp_path / row.image_name).touch()
    records = read_imagenet_val(tmp_path, selection=selection, ground_truth=truth)
    assert [r.file_name for r in records] == [row.image_name for row in rows]
    assert all(r.error is None for r in records)
    assert Counter(r.label for r in records) == {index: 5 for index in range(1000)}
    assert all(names[r.label] == r.label_name for r in records)


def test_reference_coco_id_lists(reference_dir):
    train = read_id_list(reference_dir / "miqa_det_train.csv")
    test = read_id_list(reference_dir / "miqa_det_val.csv")
    assert (len(train), len(test)) == (4000, 952) and len(set(train) | set(test)) == 4952
    gray = read_id_list(reference_dir / "coco_gray.txt")  # 137 ids (the README says 136), zero-padded
    lines = [line for line in (reference_dir / "coco_gray.txt").read_text().splitlines() if line.strip()]
    assert gray == [int(line) for line in lines] and len(set(gray)) == len(gray) >= 136
    assert read_id_list(reference_dir / "coco_error_imgs.txt") == [293044, 298251, 149770]


# ---------------------------------------------------------------------------------------------- COCO


def test_coco_reader(tmp_path):
    root = tmp_path / "val2017"
    touch(root / "000000000002.jpg")
    touch(root / "000000000010.jpg")
    touch(tmp_path / "secret.jpg")
    os.symlink(tmp_path / "secret.jpg", root / "000000000011.jpg")
    dataset = {
        "images": [
            {"id": 10, "file_name": "000000000010.jpg", "width": 4, "height": 4},
            {"id": 2, "file_name": "000000000002.jpg", "width": 4, "height": 4},
            {"id": 7, "file_name": "000000000007.jpg", "width": 4, "height": 4},
            {"id": 8, "file_name": "../secret.jpg", "width": 4, "height": 4},
            {"id": 9, "file_name": "/etc/passwd", "width": 4, "height": 4},
            {"id": 11, "file_name": "000000000011.jpg", "width": 4, "height": 4},
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "person"}],
    }
    annotations = tmp_path / "instances.json"
    annotations.write_text(json.dumps(dataset))
    records = read_coco(root, annotations)
    assert [r.coco_image_id for r in records] == [2, 7, 8, 9, 10, 11]
    ok = {r.coco_image_id: r for r in records if r.error is None}
    assert set(ok) == {2, 10} and ok[2].source_id == "000000000002"
    errors = {r.coco_image_id: r.error for r in records if r.error}
    assert "missing file" in errors[7] and "escapes" in errors[8] and "absolute" in errors[9]
    assert "outside the source root" in errors[11]
    chosen = read_coco(root, annotations, ids=[10, 3, 2])
    assert [r.coco_image_id for r in chosen] == [10, 3, 2]
    assert "not in the annotations" in chosen[1].error and chosen[1].source_id == "000000000003"
    ids_file = tmp_path / "split.csv"
    ids_file.write_text("Image Index\n10\n2\n")
    assert [r.coco_image_id for r in read_coco(root, annotations, ids=ids_file)] == [10, 2]


def test_load_coco_is_cached_per_file_version(tmp_path, capsys):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    first = load_coco(path)
    assert load_coco(str(path)) is first
    assert capsys.readouterr().out == ""  # pycocotools' progress prints are swallowed
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.jpg", "width": 1, "height": 1}],
                                "annotations": [], "categories": []}))
    os.utime(path, ns=(1, 1))
    assert load_coco(path) is not first and 1 in load_coco(path).imgs
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SourceError):
        load_coco(tmp_path / "bad.json")
    with pytest.raises(SourceError):
        load_coco(tmp_path / "missing.json")


# ------------------------------------------------------------------------------------------ decoding


def save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


@pytest.fixture(scope="module")
def photo():
    return np.asarray(Image.open(skimage_data_dir() / "chelsea.png").convert("RGB"))[:96, :128].copy()


def test_read_rgb_modes(tmp_path, photo):
    rgb = read_rgb(save(Image.fromarray(photo), tmp_path / "rgb.png"))
    assert rgb.dtype == np.uint8 and rgb.shape == (96, 128, 3) and np.array_equal(rgb, photo)
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    out = read_rgb(save(Image.fromarray(gray), tmp_path / "gray.png"))
    assert out.shape == (96, 128, 3) and all(np.array_equal(out[:, :, c], gray) for c in range(3))
    rgba = np.dstack([photo, np.full(photo.shape[:2], 10, np.uint8)])
    assert np.array_equal(read_rgb(save(Image.fromarray(rgba), tmp_path / "rgba.png")), photo)  # alpha dropped
    palette = Image.fromarray(photo).quantize(16)
    path = save(palette, tmp_path / "p.png")
    assert np.array_equal(read_rgb(path), np.asarray(Image.open(path).convert("RGB")))


def test_read_rgb_cmyk_jpeg_like_pil(tmp_path, photo):
    path = save(Image.fromarray(photo).convert("CMYK"), tmp_path / "cmyk.jpg", quality=95)
    with Image.open(path) as image:
        assert image.mode == "CMYK"
        expected = np.asarray(image.convert("RGB"))
    assert np.array_equal(read_rgb(path), expected)


def test_read_rgb_16bit_keeps_high_byte(tmp_path):
    values = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as image:
        assert image.mode.startswith("I")
    out = read_rgb(path)
    assert np.array_equal(out[:, :, 0], (values >> 8).astype(np.uint8))
    assert np.array_equal(out[:, :, 0], out[:, :, 2])
    ok, encoded = cv2.imencode(".png", np.dstack([values] * 3))  # 16-bit RGB
    path = touch(tmp_path / "rgb16.png", encoded.tobytes())
    assert np.array_equal(read_rgb(path)[:, :, 1], (values >> 8).astype(np.uint8))


def test_read_rgb_ignores_exif_orientation(tmp_path, photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(Image.fromarray(photo), tmp_path / "exif.jpg", exif=exif.tobytes(), quality=95)
    assert read_rgb(path).shape == (96, 128, 3)


@pytest.mark.parametrize("kind", ["truncated_jpeg", "truncated_png", "empty", "text", "missing", "directory"])
def test_read_rgb_bad_files(tmp_path, photo, kind):
    buffer = io.BytesIO()
    if kind == "truncated_jpeg":
        Image.fromarray(photo).save(buffer, "JPEG", quality=95)
        path = touch(tmp_path / "t.jpg", buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif kind == "truncated_png":
        Image.fromarray(photo).save(buffer, "PNG")
        path = touch(tmp_path / "t.png", buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif kind == "empty":
        path = touch(tmp_path / "e.jpg", b"")
    elif kind == "text":
        path = touch(tmp_path / "x.jpg", b"this is not an image\n" * 10)
    elif kind == "missing":
        path = tmp_path / "nope.png"
    else:
        path = tmp_path / "d.png"
        path.mkdir()
    with pytest.raises(SourceError) as info:
        read_rgb(path)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert message and "\n" not in message and path.name in message


def test_read_rgb_pixel_limits(tmp_path, photo, monkeypatch):
    path = save(Image.fromarray(photo), tmp_path / "p.png")
    with pytest.raises(SourceError, match="over the limit"):
        read_rgb(path, max_pixels=96 * 128 - 1)
    assert read_rgb(path, max_pixels=96 * 128).shape == (96, 128, 3)
    # PIL's own decompression-bomb guard also ends as a SourceError
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(SourceError, match="decompression bomb"):
        read_rgb(path)


def test_read_rgb_refuses_huge_header_without_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def header_only_png(side: int) -> bytes:  # claims side x side RGB pixels, holds none
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")

    with pytest.raises(SourceError, match="over the limit of 100000000 pixels"):
        read_rgb(touch(tmp_path / "big.png", header_only_png(12000)))  # 144 Mpx: ours
    with pytest.raises(SourceError, match="decompression bomb"):
        read_rgb(touch(tmp_path / "bomb.png", header_only_png(20000)), max_pixels=10**9)  # 400 Mpx: PIL's


# ---------------------------------------------------------------------------------------- sample set


def test_sample_cls_set(reference_dir):
    package_files = sorted(p.name for p in SAMPLE_ANNOTATIONS["cls"].parent.iterdir())
    records, annotations = sample_sources("cls")
    assert annotations == SAMPLE_ANNOTATIONS["cls"] and annotations.is_file()
    assert len(records) >= 5 and all(r.error is None for r in records)
    assert all(r.path.is_file() and r.path.parent == skimage_data_dir() for r in records)
    truth = read_release_ground_truth(reference_dir / "ground_truth_ilsvrc2012_val.txt")
    names = dict(truth.labels)
    for record in records:
        assert 0 <= record.label < 1000 and names[record.label] == record.label_name
    modes = {Image.open(r.path).mode for r in records}
    assert "L" in modes  # at least one grayscale source
    for record in records:
        image = read_rgb(record.path)
        assert image.ndim == 3 and min(image.shape[:2]) >= 161  # large enough for MS-SSIM
    assert sorted(p.name for p in annotations.parent.iterdir()) == package_files  # nothing materialised


def test_sample_det_set_integrity():
    records, annotations = sample_sources("det")
    assert annotations == SAMPLE_ANNOTATIONS["det"]
    assert len(records) >= 5 and all(r.error is None and r.coco_image_id is not None for r in records)
    data = json.loads(annotations.read_text())
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    official = {i: name for i, name in enumerate(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])
                if name not in ("N/A", "__background__")}
    assert {c["id"]: c["name"] for c in data["categories"]} == official
    assert len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
    images = {image["id"]: image for image in data["images"]}
    assert len(images) == len(records) and len({i["file_name"] for i in images.values()}) == len(images)
    by_id = {r.coco_image_id: r for r in records}
    for image in images.values():
        assert image["file_name"] == f"{image['id']:012d}.jpg" == by_id[image["id"]].file_name
        assert by_id[image["id"]].source_id == f"{image['id']:012d}"  # the release's loaders address ids
        with Image.open(skimage_data_dir() / image["photo"]) as photo, Image.open(by_id[image["id"]].path) as jpeg:
            assert photo.size == jpeg.size == (image["width"], image["height"]) and jpeg.format == "JPEG"
        assert any(a["image_id"] == image["id"] for a in data["annotations"])
    for ann in data["annotations"]:
        image = images[ann["image_id"]]
        width, height = image["width"], image["height"]
        assert ann["category_id"] in official and ann["iscrowd"] == 0
        assert ann["segmentation"] and all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
        xs = [x for p in ann["segmentation"] for x in p[0::2]]
        ys = [y for p in ann["segmentation"] for y in p[1::2]]
        assert 0 <= min(xs) and max(xs) <= width and 0 <= min(ys) and max(ys) <= height
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width and y + h <= height
        rle = mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], height, width))
        assert ann["area"] == pytest.approx(float(mask_utils.area(rle)))
        assert np.allclose(ann["bbox"], mask_utils.toBbox(rle), atol=1.0)
        assert ann["area"] >= 0.15 * w * h  # an outline, not a sliver (a diagonal spoon fills ~25%)
    names = {c["id"]: c["name"] for c in data["categories"]}
    present = {names[a["category_id"]] for a in data["annotations"]}
    assert {"person", "cat", "cup", "motorcycle"} <= present


def test_sample_unknown_subset():
    with pytest.raises(ValueError):
        sample_sources("ins")
