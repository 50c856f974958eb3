"""The built-in sample set: real photos shipped with scikit-image, annotated in pipeline/sample_data/.

cls: photos with an honest ImageNet-1k class, listed in the release's selection format plus a
``Class Index`` column. det: photos with objects of COCO classes, in a COCO instances JSON (boxes and
polygons). The photos are read in place from scikit-image's data folder; nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.sources.coco import read_coco
from pipeline.sources.imagenet import read_imagenet_val, read_selection
from pipeline.sources.records import SourceError, SourceRecord

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_ANNOTATIONS = {
    "cls": SAMPLE_DATA / "cls_selection.csv",
    "det": SAMPLE_DATA / "det_instances.json",
}


def skimage_data_dir() -> Path:
    """The folder of the photos that ship inside the scikit-image wheel."""
    import skimage.data

    path = Path(skimage.data.__file__).resolve().parent
    if not (path / "chelsea.png").is_file():
        raise SourceError(f"scikit-image's sample photos are not in {path}")
    return path


def sample_sources(subset: str) -> tuple[list[SourceRecord], Path]:
    """(records, annotations path) of the sample set: ``cls`` (selection CSV) or ``det`` (COCO JSON)."""
    if subset not in SAMPLE_ANNOTATIONS:
        raise ValueError(f"unknown sample subset {subset!r}; expected 'cls' or 'det'")
    annotations = SAMPLE_ANNOTATIONS[subset]
    root = skimage_data_dir()
    if subset == "cls":
        records = read_imagenet_val(root, selection=read_selection(annotations))
    else:
        records = read_coco(root, annotations)
    return records, annotations
