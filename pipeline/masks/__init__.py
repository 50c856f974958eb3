"""Binary ROI masks of source images, from the best source available.

In order of preference: a user mask folder in the release's format (``<id>_binary_mask.png``); the union
of a COCO image's instance masks; the union of ImageNet val boxes refined with GrabCut (or the boxes
themselves when GrabCut leaves nothing); otherwise a default method that needs only the image
(``masks.DEFAULT``, "lite-contrast"; "saliency", "lite-cam" and "dino" by name). Every step is
deterministic.

    result = build_mask(record, rgb, mask_dir=None, coco="instances_val2017.json", default="dino")
    results = build_masks([(record, rgb), ...], ...)   # a shard at once: MaskResult or SourceError each
    result.mask      # uint8 (H, W), 0 or 255
    result.method    # "user" | "coco-instances" | "boxes-grabcut" | "boxes" | a default method's name
    result.fallback  # True when the default method made it because nothing better existed
    result.coverage, result.flag   # ROI fraction; "empty" | "full" | "ok"
    check_mask_dir("masks/", ids).lines()   # sources without a mask file, files matching no source
"""

from masks import DEFAULT, DEFAULT_METHODS, MaskResult, MaskSettings, ModelOptions, default_mask, method_fingerprint
from masks.grabcut import boxes_mask, grabcut_boxes
from masks.saliency import saliency_mask
from pipeline.masks.build import build_mask, build_masks
from pipeline.masks.coco import coco_instances_mask
from pipeline.masks.user import USER_MASK_SUFFIX, MaskDirReport, check_mask_dir, user_mask, user_mask_path

OWN_METHODS = ("user", "coco-instances", "boxes-grabcut", "boxes")
METHODS = OWN_METHODS + tuple(DEFAULT_METHODS)

__all__ = [
    "DEFAULT",
    "DEFAULT_METHODS",
    "METHODS",
    "OWN_METHODS",
    "USER_MASK_SUFFIX",
    "MaskDirReport",
    "MaskResult",
    "MaskSettings",
    "ModelOptions",
    "boxes_mask",
    "build_mask",
    "build_masks",
    "check_mask_dir",
    "coco_instances_mask",
    "default_mask",
    "grabcut_boxes",
    "method_fingerprint",
    "saliency_mask",
    "user_mask",
    "user_mask_path",
]
