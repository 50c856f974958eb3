"""A source's ROI mask from the best source available, one source or a shard's worth at a time."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from pycocotools.coco import COCO

from degradations.imaging import check_rgb8
from masks import DEFAULT, MaskResult, MaskSettings, default_masks, get_method
from masks.grabcut import grabcut_boxes
from masks.methods import DEFAULT_SETTINGS
from pipeline.masks.coco import coco_instances_mask
from pipeline.masks.user import user_mask
from pipeline.sources.coco import load_coco
from pipeline.sources.records import Box, SourceError, SourceRecord


def build_mask(
    record: SourceRecord,
    image: np.ndarray,
    *,
    mask_dir: str | os.PathLike | None = None,
    coco: COCO | str | os.PathLike | None = None,
    boxes: Sequence[Box] | None = None,
    default: str = DEFAULT,
    settings: MaskSettings = DEFAULT_SETTINGS,
    resize: bool = False,
) -> MaskResult:
    """The ROI mask of one source image (RGB uint8) from the first source that has one.

    ``mask_dir``: a folder of ``<source_id>_binary_mask.png``; a source without a file there falls
    through; a file of another size than the image raises SourceError unless ``resize``. ``coco``: a COCO
    object or annotation JSON path (loaded once per process), used when ``record.coco_image_id`` is set
    and the image has annotations. ``boxes`` (default ``record.boxes``): object boxes in pixels, refined
    with GrabCut. Else the ``default`` method (``masks.DEFAULT_METHODS``), marked ``fallback``.
    """
    result = build_masks([(record, image)], mask_dir=mask_dir, coco=coco, boxes=[boxes], default=default,
                         settings=settings, resize=resize)[0]
    if isinstance(result, SourceError):
        raise result
    return result


def build_masks(
    items: Sequence[tuple[SourceRecord, np.ndarray]],
    *,
    mask_dir: str | os.PathLike | None = None,
    coco: COCO | str | os.PathLike | None = None,
    boxes: Sequence[Sequence[Box] | None] | None = None,
    default: str = DEFAULT,
    settings: MaskSettings = DEFAULT_SETTINGS,
    resize: bool = False,
) -> list[MaskResult | SourceError]:
    """:func:`build_mask` for many sources (a shard): the sources that need the default method share one
    batched call of it (one model load per process, GPU batches). A source whose own mask is unusable
    (unreadable or wrong-sized user mask) gets its SourceError in its place; run-wide problems (missing
    weights, unreadable annotations) raise. ``boxes``: per item, overriding ``record.boxes``."""
    get_method(default)  # an unknown name fails before any work
    if boxes is not None and len(boxes) != len(items):
        raise ValueError(f"{len(boxes)} box lists for {len(items)} sources")
    coco_obj = None
    if coco is not None:
        coco_obj = coco if isinstance(coco, COCO) else load_coco(coco)
    results: list[MaskResult | SourceError | None] = []
    for index, (record, image) in enumerate(items):
        check_rgb8(image)
        own_boxes = boxes[index] if boxes is not None and boxes[index] is not None else record.boxes
        try:
            results.append(_own_mask(record, image, mask_dir, coco_obj, own_boxes, resize))
        except SourceError as error:
            results.append(error)
    todo = [i for i, result in enumerate(results) if result is None]
    if todo:
        made = default_masks([items[i][1] for i in todo], default, settings, fallback=True)
        for i, result in zip(todo, made):
            results[i] = result
    return results  # type: ignore[return-value]


def _own_mask(record: SourceRecord, image: np.ndarray, mask_dir, coco: COCO | None, boxes, resize: bool,
              ) -> MaskResult | None:
    """The mask from the source's own information (user file, annotations, boxes), or None."""
    shape = image.shape[:2]
    if mask_dir is not None:
        mask = user_mask(mask_dir, record.source_id, shape, resize=resize)
        if mask is not None:
            return MaskResult.of(mask, "user")
    if coco is not None and record.coco_image_id is not None:
        mask = coco_instances_mask(coco, record.coco_image_id, shape)
        if mask is not None:
            return MaskResult.of(mask, "coco-instances")
    if boxes:
        mask, refined, note = grabcut_boxes(image, boxes)
        if mask is not None:
            return MaskResult.of(mask, "boxes-grabcut" if refined else "boxes", note)
    return None
