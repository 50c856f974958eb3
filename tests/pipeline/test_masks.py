"""ROI masks as the pipeline builds them: user folder, COCO instance union, boxes refined by GrabCut,
then a default method; one source or a shard's batch."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

import masks.methods
from masks import DEFAULT, DEFAULT_METHODS, MaskResult, default_mask
from pipeline.masks import (
    METHODS,
    OWN_METHODS,
    boxes_mask,
    build_mask,
    build_masks,
    grabcut_boxes,
    saliency_mask,
    user_mask,
)
from pipeline.sources import SourceError, SourceRecord, load_coco, read_coco, read_rgb, sample_sources

# pycocotools' decode calls np.array(copy=False) on numpy 2: a notice, not a failure
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def check_mask(result: MaskResult, shape: tuple[int, int]) -> None:
    assert result.method in METHODS
    assert result.mask.dtype == np.uint8 and result.mask.shape == shape
    assert set(np.unique(result.mask)) <= {0, 255}
    assert result.coverage == pytest.approx(np.count_nonzero(result.mask) / result.mask.size)


def record_for(source_id: str, **fields) -> SourceRecord:
    return SourceRecord(source_id=source_id, path=Path(f"/nonexistent/{source_id}.png"), file_name=f"{source_id}.png",
                        **fields)


@pytest.fixture(scope="module")
def det_sample():
    """(records by photo name, annotations path): the det sample's records named by the scikit-image photo
    they were made from (the JSON's ``photo`` field), whatever their COCO-style ids."""
    records, annotations = sample_sources("det")
    coco = load_coco(annotations)
    named = {coco.imgs[r.coco_image_id].get("photo", r.file_name).rsplit(".", 1)[0]: r for r in records}
    return named, annotations


def independent_union(coco: COCO, image_id: int) -> np.ndarray:
    """Union of the image's annotation masks straight from pycocotools (RLE merge), as {0, 255}."""
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None))
    info = coco.loadImgs([image_id])[0]
    rles = []
    for ann in anns:
        segmentation = ann["segmentation"]
        if isinstance(segmentation, list):
            rles.extend(mask_utils.frPyObjects(segmentation, info["height"], info["width"]))
        elif isinstance(segmentation["counts"], list):
            rles.append(mask_utils.frPyObjects(segmentation, info["height"], info["width"]))
        else:
            rles.append(segmentation)
    return mask_utils.decode(mask_utils.merge(rles, intersect=False)).astype(np.uint8) * 255


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_method_names():
    assert METHODS == OWN_METHODS + tuple(DEFAULT_METHODS)
    assert DEFAULT == "lite-contrast" and DEFAULT in DEFAULT_METHODS
    assert {"saliency", "dino", "lite-cam"} <= set(DEFAULT_METHODS)


def test_mask_result_flags():
    empty, full = np.zeros((4, 5), np.uint8), np.full((4, 5), 255, np.uint8)
    part = empty.copy()
    part[1:3, 1:3] = 200  # any value > 127 is ROI
    assert MaskResult.of(empty, "user").flag == "empty" and MaskResult.of(empty, "user").coverage == 0.0
    assert MaskResult.of(full, "user").flag == "full" and MaskResult.of(full, "user").coverage == 1.0
    result = MaskResult.of(part, "user")
    assert result.flag == "ok" and result.coverage == pytest.approx(4 / 20)
    assert set(np.unique(result.mask)) == {0, 255}
    assert MaskResult.of(part > 0, "user").coverage == result.coverage  # boolean masks too


# ---------------------------------------------------------------------------------------------- COCO


def test_coco_union_matches_pycocotools_on_the_sample_set(det_sample):
    records, annotations = det_sample
    coco = load_coco(annotations)
    for name, record in records.items():
        image = read_rgb(record.path)
        result = build_mask(record, image, coco=annotations)
        check_mask(result, image.shape[:2])
        assert result.method == "coco-instances" and not result.fallback
        assert np.array_equal(result.mask, independent_union(coco, record.coco_image_id)), name
        assert 0.02 < result.coverage < 0.95


def test_coco_union_with_rle_and_crowd(tmp_path):
    height, width = 60, 80
    crowd = np.zeros((height, width), np.uint8, order="F")
    crowd[40:55, 5:30] = 1
    compressed = np.zeros((height, width), np.uint8, order="F")
    compressed[5:15, 60:75] = 1
    compressed_rle = mask_utils.encode(compressed)
    compressed_rle["counts"] = compressed_rle["counts"].decode("ascii")
    uncompressed_counts = []  # column-major run lengths, starting with zeros
    flat, value, run = crowd.flatten(order="F"), 0, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            uncompressed_counts.append(run)
            value, run = pixel, 1
    uncompressed_counts.append(run)
    dataset = {
        "images": [{"id": 1, "file_name": "a.png", "width": width, "height": height},
                   {"id": 2, "file_name": "b.png", "width": width, "height": height}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 1, "bbox": [10, 10, 20, 20],
             "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]},
            {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": 1, "bbox": [5, 40, 25, 15],
             "segmentation": {"size": [height, width], "counts": uncompressed_counts}},
            {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 1, "bbox": [60, 5, 15, 10],
             "segmentation": compressed_rle},
            {"id": 4, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 1, "bbox": [40, 30, 10, 10],
             "segmentation": []},  # no segmentation: its box stands in
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(dataset))
    image = np.full((height, width, 3), 128, np.uint8)
    result = build_mask(record_for("a", coco_image_id=1), image, coco=path)
    assert result.method == "coco-instances"
    expected = np.zeros((height, width), np.uint8)
    coco = load_coco(path)
    for ann in dataset["annotations"][:3]:
        expected |= coco.annToMask(ann)
    expected[30:40, 40:50] = 1
    assert np.array_equal(result.mask, expected * 255)
    assert crowd.sum() and np.array_equal(result.mask[40:55, 5:30], np.full((15, 25), 255, np.uint8))
    # an image without annotations falls through to the default method (a flat image: empty)
    fallen = build_mask(record_for("b", coco_image_id=2), image, coco=path)
    assert fallen.method == DEFAULT and fallen.fallback and fallen.flag == "empty"
    # an image size differing from the json's: resized
    bigger = build_mask(record_for("a", coco_image_id=1), np.full((120, 160, 3), 128, np.uint8), coco=coco)
    assert bigger.mask.shape == (120, 160) and bigger.coverage == pytest.approx(result.coverage, rel=0.01)


# ---------------------------------------------------------------------------------------------- user


def test_user_mask_folder_round_trip(tmp_path, det_sample):
    records, annotations = det_sample
    record = records["coffee"]
    image = read_rgb(record.path)
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    mask[100:300, 150:420] = 255
    path = tmp_path / f"{record.source_id}_binary_mask.png"
    Image.fromarray(mask).save(path)
    result = build_mask(record, image, mask_dir=tmp_path, coco=annotations)  # preferred over COCO
    check_mask(result, (height, width))
    assert result.method == "user" and not result.fallback and np.array_equal(result.mask, mask)
    # grey levels binarised at > 127; RGB and 16-bit masks read too
    grey = mask.copy()
    grey[100:200] //= 2  # 127: background
    Image.fromarray(grey).save(path)
    assert np.array_equal(user_mask(tmp_path, record.source_id, (height, width)) > 0, grey > 127)
    Image.fromarray(np.dstack([mask] * 3)).save(path)
    assert np.array_equal(user_mask(tmp_path, record.source_id, (height, width)), mask)
    Image.fromarray(mask.astype(np.uint16) * 257).save(path)
    assert np.array_equal(user_mask(tmp_path, record.source_id, (height, width)), mask)
    # no file for this source: the next method
    assert build_mask(records["chelsea"], read_rgb(records["chelsea"].path), mask_dir=tmp_path,
                      coco=annotations).method == "coco-instances"
    path.write_bytes(b"broken")
    with pytest.raises(SourceError, match="unreadable mask"):
        build_mask(record, image, mask_dir=tmp_path)


def test_user_mask_of_another_size_is_refused_unless_resized(tmp_path):
    small = np.zeros((30, 40), np.uint8)
    small[5:20, 10:30] = 255
    small[0, 0] = 255
    Image.fromarray(small).save(tmp_path / "img_binary_mask.png")
    image = np.zeros((60, 90, 3), np.uint8)
    with pytest.raises(SourceError) as error:
        build_mask(record_for("img"), image, mask_dir=tmp_path)
    assert str(error.value).startswith("img_binary_mask.png: mask is 40x30, image is 90x60")
    result = build_mask(record_for("img"), image, mask_dir=tmp_path, resize=True)
    assert result.method == "user"
    assert np.array_equal(result.mask, cv2.resize(small, (90, 60), interpolation=cv2.INTER_NEAREST))


# --------------------------------------------------------------------------------------------- boxes


def test_grabcut_refines_boxes_on_a_real_photo(det_sample):
    records, annotations = det_sample
    coco = load_coco(annotations)
    record = records["coffee"]
    image = read_rgb(record.path)
    cup = next(a for a in coco.imgToAnns[record.coco_image_id] if a["category_id"] == 47)
    x, y, w, h = cup["bbox"]
    box = (x, y, x + w, y + h)
    boxed = record_for("coffee", boxes=(box,))
    result = build_mask(boxed, image)
    check_mask(result, image.shape[:2])
    assert result.method == "boxes-grabcut" and not result.fallback
    inside = boxes_mask([box], image.shape[:2])
    assert not np.any(result.mask[inside == 0])  # never outside its box
    assert 0.3 < np.count_nonzero(result.mask) / np.count_nonzero(inside) < 0.99
    assert iou(result.mask > 0, coco.annToMask(cup).astype(bool)) > 0.6  # the annotated cup (the saucer is alike)
    again = build_mask(boxed, image, boxes=[box])
    assert np.array_equal(again.mask, result.mask)  # deterministic


def test_grabcut_on_every_sample_image(det_sample):
    records, annotations = det_sample
    coco = load_coco(annotations)
    for name, record in records.items():
        image = read_rgb(record.path)
        anns = coco.imgToAnns[record.coco_image_id]
        boxes = tuple((a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3])
                      for a in anns)
        result = build_mask(record_for(record.source_id, boxes=boxes), image)
        assert result.method == "boxes-grabcut"
        assert iou(result.mask > 0, independent_union(coco, record.coco_image_id) > 0) > 0.55, name


def test_boxes_fallbacks():
    image = np.full((64, 80, 3), 90, np.uint8)
    image[20:40, 30:50] = (200, 40, 40)
    whole = build_mask(record_for("w"), image, boxes=[(0, 0, 80, 64)])  # no background to learn from
    assert whole.method == "boxes" and whole.coverage == 1.0 and whole.flag == "full"
    mask, refined, note = grabcut_boxes(image, [(-10, -10, 0, 0), (500, 500, 600, 600)])
    assert mask is None and not refined  # no box with area
    fallen = build_mask(record_for("x", boxes=((500, 500, 600, 600),)), image, default="saliency")
    assert fallen.method == "saliency" and fallen.fallback
    two = build_mask(record_for("t"), image, boxes=[(25.5, 15, 55, 45), (0, 0, 80, 64)])
    check_mask(two, (64, 80))
    assert two.method == "boxes-grabcut" and "1 of 2 boxes kept as rectangles" in two.note


# ------------------------------------------------------------------------------- order, batch, default


def test_sources_in_order_of_preference(tmp_path, det_sample):
    records, annotations = det_sample
    record = records["astronaut"]
    image = read_rgb(record.path)
    box = ((100, 100, 300, 400),)
    Image.fromarray(np.full(image.shape[:2], 255, np.uint8)).save(tmp_path / f"{record.source_id}_binary_mask.png")
    boxed = SourceRecord(**{**record.__dict__, "boxes": box})
    assert build_mask(boxed, image, mask_dir=tmp_path, coco=annotations).method == "user"
    assert build_mask(boxed, image, coco=annotations).method == "coco-instances"
    assert build_mask(boxed, image).method == "boxes-grabcut"
    result = build_mask(record, image, default="saliency")
    assert result.method == "saliency" and result.fallback
    assert np.array_equal(result.mask, saliency_mask(image))
    requested = default_mask(image, "saliency")  # asked for by name: not a fallback
    assert np.array_equal(requested.mask, result.mask) and not requested.fallback


def test_unknown_default_is_refused_before_any_work():
    with pytest.raises(ValueError, match="unknown mask method 'grabcut'; choose one of: lite-contrast"):
        build_mask(record_for("a"), np.zeros((8, 8, 3), np.uint8), default="grabcut")


def test_build_masks_batches_the_default_and_keeps_errors_in_place(tmp_path, det_sample, monkeypatch):
    records, annotations = det_sample
    chelsea, coffee = records["chelsea"], records["coffee"]
    photos = [read_rgb(r.path) for r in (chelsea, coffee)]
    plain = [cv2.resize(photo, (160, 120), interpolation=cv2.INTER_AREA) for photo in photos]
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "wrong_binary_mask.png")
    (tmp_path / "broken_binary_mask.png").write_bytes(b"not a png")
    items = [
        (record_for("plain0"), plain[0]),
        (record_for("wrong"), plain[1]),
        (chelsea, photos[0]),
        (record_for("broken"), plain[0]),
        (record_for("plain1"), plain[1]),
    ]
    calls = []
    real = masks.methods.DEFAULT_METHODS["saliency"]
    counting = masks.methods.DefaultMethod(real.name, real.summary, real.settings,
                                           lambda images, s, o: calls.append(len(images)) or real.build(images, s, o))
    monkeypatch.setitem(masks.methods.DEFAULT_METHODS, "saliency", counting)
    results = build_masks(items, mask_dir=tmp_path, coco=annotations, default="saliency")
    assert calls == [2]  # one batched call for the two sources that need the default
    assert [getattr(r, "method", None) for r in results] == ["saliency", None, "coco-instances", None, "saliency"]
    assert isinstance(results[1], SourceError) and "mask is 5x5, image is 160x120" in str(results[1])
    assert isinstance(results[3], SourceError) and "unreadable mask" in str(results[3])
    for (record, image), result in zip(items, results):
        if isinstance(result, MaskResult):  # the same as one at a time
            assert np.array_equal(result.mask, build_mask(record, image, mask_dir=tmp_path, coco=annotations,
                                                          default="saliency").mask)


# ------------------------------------------------------------------------------------------ saliency


def test_saliency_on_real_photos(photos):
    for name, image in photos.items():
        result = build_mask(record_for(name), image, default="saliency")
        check_mask(result, image.shape[:2])
        assert result.method == "saliency"
        assert 0.03 < result.coverage < 0.8, name
        assert np.array_equal(saliency_mask(image), result.mask)  # deterministic


def test_saliency_finds_the_object(det_sample):
    records, annotations = det_sample
    coco = load_coco(annotations)
    for name in ("astronaut", "motorcycle_left", "camera", "clock_motion"):
        record = records[name]
        image = read_rgb(record.path)
        fg = saliency_mask(image) > 0
        truth = independent_union(coco, record.coco_image_id) > 0
        assert (fg & truth).sum() / fg.sum() > 0.75, name  # mostly on the annotated objects


def test_degenerate_images():
    flat = np.full((50, 70, 3), 128, np.uint8)
    for name in DEFAULT_METHODS:  # nothing stands out of a flat image; no model runs for it
        result = build_mask(record_for("flat"), flat, default=name)
        assert result.method == name and result.coverage == 0.0 and result.flag == "empty"
    tiny = np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    check_mask(build_mask(record_for("tiny"), tiny, default="saliency"), (3, 5))
    wide = np.zeros((20, 900, 3), np.uint8)
    wide[:, 400:500] = 255
    check_mask(build_mask(record_for("wide"), wide, default="saliency"), (20, 900))


def test_build_mask_rejects_non_rgb():
    with pytest.raises(ValueError):
        build_mask(record_for("g"), np.zeros((10, 10), np.uint8))


def test_sample_det_records_work_with_read_coco_ids(det_sample):
    records, annotations = det_sample
    again = read_coco(next(iter(records.values())).path.parent, annotations, ids=[1])
    assert again[0].source_id in {r.source_id for r in records.values()}
