"""Oracle labels: per-image COCO AP (det/ins consistency and accuracy) and the MMOS label definitions."""

from oracles.labels.ap import APResult, Detections, GroundTruth, image_ap, images_ap, to_rle

__all__ = ["APResult", "Detections", "GroundTruth", "image_ap", "images_ap", "to_rle"]
