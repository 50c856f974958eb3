"""The union of a COCO image's instance masks."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
from pycocotools.coco import COCO

from masks.grabcut import box_slices


def coco_instances_mask(coco: COCO, image_id: int, shape: tuple[int, int]) -> np.ndarray | None:
    """Union of every annotation's mask of a COCO image (polygons, RLE, crowd RLE; an annotation
    without a segmentation contributes its box), resized with nearest neighbour to ``shape`` if the
    JSON's size differs. None when the image is unknown or has no annotations."""
    info = coco.imgs.get(image_id)
    if info is None:
        return None
    anns = coco.imgToAnns.get(image_id, [])
    if not anns:
        return None
    height, width = int(info["height"]), int(info["width"])
    union = np.zeros((height, width), np.uint8)
    for ann in anns:
        segmentation = ann.get("segmentation")
        if segmentation:
            with warnings.catch_warnings():  # pycocotools' numpy-2 copy-keyword notice, once per call
                warnings.simplefilter("ignore", DeprecationWarning)
                union |= coco.annToMask(ann).astype(np.uint8)
        elif ann.get("bbox"):
            x, y, w, h = ann["bbox"]
            union[box_slices((x, y, x + w, y + h), (height, width))] = 1
    union *= 255
    if union.shape != tuple(shape):
        union = cv2.resize(union, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return union
