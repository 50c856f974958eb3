"""Decoding a source image to RGB uint8, as the release reads it, with one-line errors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from degradations.imaging import to_rgb8
from pipeline.sources.records import SourceError

DEFAULT_MAX_PIXELS = 100_000_000
# Decoders tried, in this order; others (EPS, PSD, ICO, ...) are refused.
FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF", "PPM")  # JPEG covers MPO (multi-picture) files


def read_rgb(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to an (H, W, 3) RGB uint8 array like the release does.

    PIL ``Image.open(path).convert('RGB')`` (first frame; alpha dropped without compositing; CMYK by
    PIL's conversion), except 16-bit grayscale, whose high byte is kept (``convert`` would clip it).
    No EXIF rotation is applied, as in the release. A missing, empty, unreadable, truncated or
    non-image file, or one of more than ``max_pixels`` pixels, raises SourceError with the reason.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path.name}: no such file")
    if not path.is_file():
        raise SourceError(f"{path.name}: not a regular file")
    if path.stat().st_size == 0:
        raise SourceError(f"{path.name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise SourceError(f"{path.name}: image has no pixels ({width}x{height})")
                if width * height > max_pixels:
                    raise SourceError(
                        f"{path.name}: {width}x{height} is over the limit of {max_pixels} pixels"
                    )
                image.load()
                return to_rgb8(image)
    except SourceError:
        raise
    except Image.DecompressionBombError as exc:
        raise SourceError(f"{path.name}: refused as a decompression bomb ({_one_line(exc)})") from exc
    except UnidentifiedImageError as exc:
        raise SourceError(f"{path.name}: not a readable image") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise SourceError(f"{path.name}: cannot decode ({_one_line(exc)})") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
