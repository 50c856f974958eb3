"""ROI masks made from the image alone: the default methods of the mask builder, and GrabCut helpers.

    from masks import default_mask
    result = default_mask(rgb)       # MaskResult: .mask (uint8 0/255), .method, .coverage, .flag
    result = default_mask(rgb, "dino", MaskSettings(models=ModelOptions(weights_dir="weights/")))

``DEFAULT`` names the default method; ``DEFAULT_METHODS`` lists them all (see ``masks.methods``). This room
never imports ``pipeline/``: the pipeline's mask builder (user masks, COCO instances, boxes) and
``python -m degradations`` both use it. torch is imported only when a model-based method runs.
"""

from masks.methods import (
    DEFAULT,
    DEFAULT_METHODS,
    DefaultMethod,
    MaskSettings,
    default_mask,
    default_masks,
    describe_methods,
    get_method,
    method_fingerprint,
    prepare_method,
    with_options,
)
from masks.result import MaskResult
from masks.runtime import ModelOptions

__all__ = [
    "DEFAULT",
    "DEFAULT_METHODS",
    "DefaultMethod",
    "MaskResult",
    "MaskSettings",
    "ModelOptions",
    "default_mask",
    "default_masks",
    "describe_methods",
    "get_method",
    "method_fingerprint",
    "prepare_method",
    "with_options",
]
