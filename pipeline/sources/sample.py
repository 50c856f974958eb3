"""The built-in sample set: real photos shipped with scikit-image, annotated in pipeline/sample_data/.

cls: photos with an honest ImageNet-1k class, listed in the release's selection format plus a
``Class Index`` column, read in place from scikit-image's data folder. det: photos with objects of COCO
classes, in a COCO instances JSON (boxes and polygons) whose file names are COCO-style 12-digit ids
(``000000000001.jpg``), as the release's det/ins loaders address sources; the JPEGs are made once from the
photos (field ``photo`` of each image entry) into a cache folder.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from manifests.atomic import write_bytes_atomic
from pipeline.sources.coco import read_coco
from pipeline.sources.imagenet import read_imagenet_val, read_selection
from pipeline.sources.records import SourceError, SourceRecord

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_ANNOTATIONS = {
    "cls": SAMPLE_DATA / "cls_selection.csv",
    "det": SAMPLE_DATA / "det_instances.json",
}
JPEG_QUALITY = 95


def skimage_data_dir() -> Path:
    """The folder of the photos that ship inside the scikit-image wheel."""
    import skimage.data

    path = Path(skimage.data.__file__).resolve().parent
    if not (path / "chelsea.png").is_file():
        raise SourceError(f"scikit-image's sample photos are not in {path}")
    return path


def sample_cache_dir() -> Path:
    """Where the det sample's JPEGs are made: ``$XDG_CACHE_HOME/miqd`` (default ``~/.cache/miqd``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "miqd" / "sample-det"


def materialise_det_photos(annotations: Path, folder: Path) -> Path:
    """Save each image entry's scikit-image ``photo`` as ``folder/<file_name>`` (RGB JPEG) unless present."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    photos = skimage_data_dir()
    for entry in json.loads(annotations.read_text())["images"]:
        target = folder / entry["file_name"]
        if target.is_file():
            continue
        buffer = io.BytesIO()
        with Image.open(photos / entry["photo"]) as photo:
            photo.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
        write_bytes_atomic(target, buffer.getvalue())
    return folder


def sample_sources(subset: str, cache: Path | None = None) -> tuple[list[SourceRecord], Path]:
    """(records, annotations path) of the sample set: ``cls`` (selection CSV) or ``det`` (COCO JSON; its
    JPEGs are made in ``cache``, default :func:`sample_cache_dir`)."""
    if subset not in SAMPLE_ANNOTATIONS:
        raise ValueError(f"unknown sample subset {subset!r}; expected 'cls' or 'det'")
    annotations = SAMPLE_ANNOTATIONS[subset]
    if subset == "cls":
        return read_imagenet_val(skimage_data_dir(), selection=read_selection(annotations)), annotations
    folder = materialise_det_photos(annotations, cache or sample_cache_dir())
    return read_coco(folder, annotations), annotations
