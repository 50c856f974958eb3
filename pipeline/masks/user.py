"""User masks: a folder of ``<source_id>_binary_mask.png`` (the release's format), read and checked."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.sources.decode import DEFAULT_MAX_PIXELS
from pipeline.sources.records import SourceError, check_inside

USER_MASK_SUFFIX = "_binary_mask.png"
# what people append to an image's name when they save its mask, lower case
_MASK_WORDS = re.compile(r"([_\-. ]?(binary|bin|mask|masks|roi|seg|segmentation|saliency))+$")


def user_mask_path(mask_dir: str | os.PathLike, source_id: str) -> Path:
    return Path(mask_dir) / f"{source_id}{USER_MASK_SUFFIX}"


def user_mask(mask_dir: str | os.PathLike, source_id: str, shape: tuple[int, int], *, resize: bool = False,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """The user's mask for ``source_id``, binarised at > 127 ({0, 255}); None when the folder has no file
    for it. SourceError when it is unreadable, or of another size than ``shape`` (height, width) unless
    ``resize`` (then resized with nearest neighbour)."""
    root = Path(mask_dir).expanduser().resolve()
    if "/" in source_id or "\\" in source_id or source_id in ("", ".", ".."):
        raise SourceError(f"source id {source_id!r} cannot name a mask file")
    path = user_mask_path(root, source_id)
    if not path.is_file():
        return None
    check_inside(root, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size[0] * img.size[1] > max_pixels:
                    raise SourceError(f"{path.name}: {img.size[0]}x{img.size[1]} is over {max_pixels} pixels")
                img.load()
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    array = (np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
                else:
                    array = np.asarray(img.convert("L"))
    except SourceError:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise SourceError(f"{path.name}: unreadable mask ({' '.join(str(exc).split())[:200]})") from None
    height, width = shape
    if array.shape != (height, width):
        if not resize:
            raise SourceError(f"{path.name}: mask is {array.shape[1]}x{array.shape[0]}, image is {width}x{height} "
                              "(make it the image's size, or resize masks with --resize-masks)")
        array = cv2.resize(array, (width, height), interpolation=cv2.INTER_NEAREST)
    return np.where(array > 127, 255, 0).astype(np.uint8)


@dataclass(frozen=True)
class MaskDirReport:
    """A mask folder checked against the run's source ids.

    ``missing``: source ids without a ``<id>_binary_mask.png`` (they get another mask). ``unused``: files
    named for no source (misnamed masks, other files; hidden files ignored). ``guesses``: for an unused
    file that looks meant for a missing source, that source's expected file name.
    """

    folder: Path
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    guesses: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unused

    def lines(self, limit: int = 10) -> list[str]:
        """What to tell the user, by name (at most ``limit`` names per line)."""
        out = []
        if self.missing:
            out.append(f"{len(self.missing)} source(s) have no {USER_MASK_SUFFIX} in {self.folder}: "
                       f"{_some(self.missing, limit)}")
        if self.unused:
            named = [f"{name} (should it be {self.guesses[name]}?)" if name in self.guesses else name
                     for name in self.unused]
            out.append(f"{len(self.unused)} file(s) in {self.folder} match no source: {_some(named, limit)}")
        return out


def check_mask_dir(mask_dir: str | os.PathLike, source_ids: Iterable[str]) -> MaskDirReport:
    """Which sources have no mask file in ``mask_dir`` and which files there match no source, with a
    guess of the intended name for misnamed ones (``astronaut_mask.png``, ``Astronaut_binary_mask.png``,
    ``astronaut.png`` -> ``astronaut_binary_mask.png``). SourceError when the folder does not exist."""
    folder = Path(mask_dir).expanduser()
    if not folder.is_dir():
        raise SourceError(f"mask folder {folder} is not a directory")
    ids = list(dict.fromkeys(source_ids))
    expected = {f"{source_id}{USER_MASK_SUFFIX}" for source_id in ids}
    files = sorted(entry.name for entry in os.scandir(folder) if entry.is_file() and not entry.name.startswith("."))
    present = set(files)
    missing = [source_id for source_id in ids if f"{source_id}{USER_MASK_SUFFIX}" not in present]
    unused = [name for name in files if name not in expected]
    by_key: dict[str, str] = {}
    for source_id in missing:
        by_key.setdefault(source_id.lower(), source_id)
    guesses = {}
    for name in unused:
        source_id = by_key.get(_intended_id(name))
        if source_id is not None:
            guesses[name] = f"{source_id}{USER_MASK_SUFFIX}"
    return MaskDirReport(folder, missing, unused, guesses)


def _intended_id(file_name: str) -> str:
    """The source id a mask file was probably meant for, lower case: the stem without mask-like words."""
    stem = file_name.rsplit(".", 1)[0].lower() if "." in file_name else file_name.lower()
    return _MASK_WORDS.sub("", stem) or stem


def _some(names: list[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
