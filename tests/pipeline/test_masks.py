"""ROI masks: user folder, COCO instance union, boxes refined by GrabCut, saliency fallback."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pipeline.masks import METHODS, MaskResult, boxes_mask, build_mask, grabcut_boxes, saliency_mask, user_mask
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
    records, annotations = sample_sources("det")
    return {r.source_id: r for r in records}, annotations


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


# ---------------------------------------------------------------------------------------------- COCO


def test_coco_union_matches_pycocotools_on_the_sample_set(det_sample):
    records, annotations = det_sample
    coco = load_coco(annotations)
    for record in records.values():
        image = read_rgb(record.path)
        result = build_mask(record, image, coco=annotations)
        check_mask(result, image.shape[:2])
        assert result.method == "coco-instances"
        assert np.array_equal(result.mask, independent_union(coco, record.coco_image_id)), record.source_id
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
    # an image with no annotations falls through to saliency; an image size differing from the json is resized
    assert build_mask(record_for("b", coco_image_id=2), image, coco=path).method == "saliency"
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
    Image.fromarray(mask).save(tmp_path / "coffee_binary_mask.png")
    result = build_mask(record, image, mask_dir=tmp_path, coco=annotations)  # preferred over COCO
    check_mask(result, (height, width))
    assert result.method == "user" and np.array_equal(result.mask, mask)
    # another size: nearest-neighbour resize, then > 127; grey levels binarised
    small = np.zeros((height // 2, width // 2), np.uint8)
    small[10:40, 20:60] = 200
    small[50:70, 100:150] = 100
    Image.fromarray(small).save(tmp_path / "coffee_binary_mask.png")
    expected = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    result = build_mask(record, image, mask_dir=tmp_path)
    assert np.array_equal(result.mask, np.where(expected > 127, 255, 0).astype(np.uint8))
    # RGB and 16-bit masks are read too
    Image.fromarray(np.dstack([mask] * 3)).save(tmp_path / "coffee_binary_mask.png")
    assert np.array_equal(user_mask(tmp_path, "coffee", (height, width)), mask)
    Image.fromarray(mask.astype(np.uint16) * 257).save(tmp_path / "coffee_binary_mask.png")
    assert np.array_equal(user_mask(tmp_path, "coffee", (height, width)), mask)
    # no file for this source: the next method
    assert build_mask(records["chelsea"], read_rgb(records["chelsea"].path), mask_dir=tmp_path,
                      coco=annotations).method == "coco-instances"
    (tmp_path / "coffee_binary_mask.png").write_bytes(b"broken")
    with pytest.raises(SourceError, match="unreadable mask"):
        build_mask(record, image, mask_dir=tmp_path)


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
    assert result.method == "boxes-grabcut"
    inside = boxes_mask([box], image.shape[:2])
    assert not np.any(result.mask[inside == 0])  # never outside its box
    assert 0.3 < np.count_nonzero(result.mask) / np.count_nonzero(inside) < 0.99
    truth = coco.annToMask(cup).astype(bool)
    fg = result.mask > 0
    assert (fg & truth).sum() / (fg | truth).sum() > 0.6  # close to the annotated cup (the saucer is alike)
    again = build_mask(boxed, image, boxes=[box])
    assert np.array_equal(again.mask, result.mask)  # deterministic


def test_grabcut_on_every_sample_image(det_sample):
    records, annotations = det_sample
    coco = load_coco(annotations)
    for record in records.values():
        image = read_rgb(record.path)
        anns = coco.imgToAnns[record.coco_image_id]
        boxes = tuple((a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3])
                      for a in anns)
        result = build_mask(record_for(record.source_id, boxes=boxes), image)
        assert result.method == "boxes-grabcut"
        fg, truth = result.mask > 0, independent_union(coco, record.coco_image_id) > 0
        assert (fg & truth).sum() / (fg | truth).sum() > 0.55, record.source_id


def test_boxes_fallbacks():
    image = np.full((64, 80, 3), 90, np.uint8)
    image[20:40, 30:50] = (200, 40, 40)
    whole = build_mask(record_for("w"), image, boxes=[(0, 0, 80, 64)])  # no background to learn from
    assert whole.method == "boxes" and whole.coverage == 1.0
    mask, refined, note = grabcut_boxes(image, [(-10, -10, 0, 0), (500, 500, 600, 600)])
    assert mask is None and not refined  # no box with area
    assert build_mask(record_for("x", boxes=((500, 500, 600, 600),)), image).method == "saliency"
    two = build_mask(record_for("t"), image, boxes=[(25.5, 15, 55, 45), (0, 0, 80, 64)])
    check_mask(two, (64, 80))
    assert two.method == "boxes-grabcut" and "1 of 2 boxes kept as rectangles" in two.note


# ------------------------------------------------------------------------------------------ saliency


def test_saliency_on_real_photos(photos):
    for name, image in photos.items():
        result = build_mask(record_for(name), image)
        check_mask(result, image.shape[:2])
        assert result.method == "saliency"
        assert 0.03 < result.coverage < 0.8, name
        assert np.array_equal(saliency_mask(image), result.mask)  # deterministic


def test_saliency_finds_the_object(det_sample):
    records, annotations = det_sample
    coco = load_coco(annotations)
    for source_id in ("astronaut", "motorcycle_left", "camera", "clock_motion"):
        record = records[source_id]
        image = read_rgb(record.path)
        fg = saliency_mask(image) > 0
        truth = independent_union(coco, record.coco_image_id) > 0
        assert (fg & truth).sum() / fg.sum() > 0.75, source_id  # mostly on the annotated objects


def test_saliency_degenerate_images():
    flat = np.full((50, 70, 3), 128, np.uint8)
    result = build_mask(record_for("flat"), flat)
    assert result.method == "saliency" and result.coverage == 0.0
    tiny = np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    check_mask(build_mask(record_for("tiny"), tiny), (3, 5))
    wide = np.zeros((20, 900, 3), np.uint8)
    wide[:, 400:500] = 255
    check_mask(build_mask(record_for("wide"), wide), (20, 900))


def test_build_mask_rejects_non_rgb():
    with pytest.raises(ValueError):
        build_mask(record_for("g"), np.zeros((10, 10), np.uint8))


def test_sample_det_records_work_with_read_coco_ids(det_sample):
    records, annotations = det_sample
    again = read_coco(next(iter(records.values())).path.parent, annotations, ids=[1])
    assert again[0].source_id in records
