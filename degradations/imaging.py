"""Array conventions shared by every distortion: RGB uint8 in and out, float work in [0, 1]."""

from __future__ import annotations

import numpy as np
from PIL import Image


def check_rgb8(image: np.ndarray) -> None:
    """Raise a clear ValueError unless ``image`` is an RGB uint8 array of shape (H, W, 3), H, W >= 1."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy array, got {type(image).__name__}; use degradations.to_rgb8()")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(
            f"expected an RGB uint8 array of shape (H, W, 3), got {image.dtype} {image.shape}; "
            "convert grayscale, RGBA, CMYK or 16-bit images with degradations.to_rgb8()"
        )


def to_rgb8(image: np.ndarray | Image.Image) -> np.ndarray:
    """Convert an image to a contiguous RGB uint8 array, as the release's ``PIL convert('RGB')`` does.

    PIL images of any mode (L, LA, P, RGBA, CMYK, I;16, ...) go through ``convert('RGB')``, which
    drops alpha without compositing. Arrays may be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (RGBA);
    uint16 arrays keep their high byte. Pass CMYK data as a PIL image, since a 4-channel array is read
    as RGBA. Anything else raises ValueError.
    """
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # convert('RGB') clips 16-bit values at 255; scale them instead, like the arrays below.
            image = np.asarray(image)
        else:
            return np.array(image.convert("RGB"))  # writable, so torch can take it without a copy
    array = np.asarray(image)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype == np.int32 and array.ndim == 2:  # PIL mode "I" holding 16-bit samples
        array = (np.clip(array, 0, 65535) >> 8).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {array.dtype}; expected uint8, uint16 or bool")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise ValueError(f"unsupported image shape {np.asarray(image).shape}; expected (H, W[, 1|3|4])")
    return np.ascontiguousarray(array)


def unit_to_uint8(x: np.ndarray) -> np.ndarray:
    """``np.uint8(np.clip(x, 0, 1) * 255)``: the release's truncating conversion (may modify ``x``)."""
    if not x.flags.writeable or x.dtype.kind != "f":
        x = x.astype(np.float32)
    np.clip(x, 0.0, 1.0, out=x)
    x *= 255.0
    return x.astype(np.uint8)
