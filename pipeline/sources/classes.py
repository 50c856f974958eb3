"""ImageNet-1k classes as the models number them: index 0..999 (torchvision's order, which is the sorted
WordNet ids), WordNet id (``n02123045``) and name (``tabby``), from ``imagenet_classes.csv`` beside this file."""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

CLASSES_FILE = Path(__file__).with_name("imagenet_classes.csv")
WNID = re.compile(r"^n\d{8}$")


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, ...], tuple[str, ...]]:
    with open(CLASSES_FILE, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(r["wnid"] for r in rows), tuple(r["name"] for r in rows)


def class_name(index: int) -> str:
    return _table()[1][index]


def parse_class(text: str) -> int:
    """The class index of ``text``: an index 0..999, a WordNet id, or a class name (any case);
    ValueError naming what was expected otherwise."""
    text = text.strip()
    wnids, names = _table()
    if re.fullmatch(r"[+-]?\d+", text):
        index = int(text)
        if 0 <= index < len(wnids):
            return index
        raise ValueError(f"class index {index} is outside 0..{len(wnids) - 1}")
    if WNID.match(text):
        try:
            return wnids.index(text)
        except ValueError:
            raise ValueError(f"{text} is not one of the 1000 ImageNet-1k WordNet ids") from None
    lowered = [name.lower() for name in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    raise ValueError(f"{text!r} is not an ImageNet-1k class (give an index 0..999, a WordNet id such as "
                     "n02123045, or a class name such as 'tabby')")
