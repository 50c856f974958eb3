"""Source readers: list ImageNet val, COCO or any image folder as records, and decode them to RGB.

    from pipeline.sources import read_imagenet_val, read_rgb
    records = read_imagenet_val("val/", selection="top_5_quality_images_per_category.csv",
                                ground_truth="ground_truth_ilsvrc2012_val.txt")
    for record in records:
        if record.error is None:
            rgb = read_rgb(record.path)

Readers list files and never decode them; invalid entries come back as records with ``error`` set.
"""

from pipeline.sources.coco import load_coco, read_coco, read_id_list
from pipeline.sources.decode import DEFAULT_MAX_PIXELS, read_rgb
from pipeline.sources.folder import IMAGE_EXTENSIONS, read_folder, read_labels_csv
from pipeline.sources.imagenet import (
    GroundTruth,
    SelectionRow,
    read_devkit_ground_truth,
    read_devkit_meta,
    read_ground_truth,
    read_imagenet_val,
    read_release_ground_truth,
    read_selection,
    read_voc_boxes,
    val_number,
)
from pipeline.sources.records import Box, SourceError, SourceRecord
from pipeline.sources.sample import SAMPLE_ANNOTATIONS, sample_sources, skimage_data_dir

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "SAMPLE_ANNOTATIONS",
    "Box",
    "GroundTruth",
    "SelectionRow",
    "SourceError",
    "SourceRecord",
    "load_coco",
    "read_coco",
    "read_devkit_ground_truth",
    "read_devkit_meta",
    "read_folder",
    "read_ground_truth",
    "read_id_list",
    "read_imagenet_val",
    "read_labels_csv",
    "read_release_ground_truth",
    "read_rgb",
    "read_selection",
    "read_voc_boxes",
    "sample_sources",
    "skimage_data_dir",
    "val_number",
]
