"""ImageNet-1k val: the image folder, the release's selection list, ground truth and val boxes."""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from pipeline.sources.records import (
    Box,
    SourceError,
    SourceRecord,
    check_inside,
    check_label,
    file_record,
    mark_duplicates,
    resolve_root,
)

VAL_NAME = re.compile(r"^ILSVRC2012_val_(\d{8})\.(jpe?g|png)$", re.IGNORECASE)
SELECTION_COLUMNS = ("Image Name", "Category", "Quality Score")
CLASS_INDEX_COLUMN = "Class Index"  # ours: an optional fourth column of a selection list
_MAX_XML_BYTES = 4 << 20


@dataclass(frozen=True)
class SelectionRow:
    """One row of a selection list (the release's top_5_quality_images_per_category.csv format)."""

    image_name: str
    category: str
    quality_score: float | None
    class_index: int | None = None


@dataclass(frozen=True)
class GroundTruth:
    """Class per val image, by 1-based image number: ``labels[n - 1]`` is (index or None, name or why)."""

    labels: tuple[tuple[int | None, str], ...]
    source: str  # "release" or "devkit"

    def lookup(self, number: int) -> tuple[int | None, str | None, str | None]:
        """(class index, class name, error) of val image ``number``."""
        if not 1 <= number <= len(self.labels):
            return None, None, f"no ground truth for val image {number} ({len(self.labels)} lines)"
        index, text = self.labels[number - 1]
        if index is None:
            return None, None, text
        return index, text, None


def val_number(file_name: str) -> int | None:
    """The 1-based number of an ILSVRC2012_val_XXXXXXXX file name, or None."""
    match = VAL_NAME.match(Path(file_name).name)
    return int(match.group(1)) if match else None


def read_selection(path: str | os.PathLike) -> list[SelectionRow]:
    """Parse a selection list: CSV with header ``Image Name, Category, Quality Score``.

    An optional ``Class Index`` column (ours) gives the class without a ground-truth file. A missing
    column or a malformed score or index raises SourceError naming the line.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in SELECTION_COLUMNS[:2] if name not in header]
        if missing:
            raise SourceError(f"{path.name}: missing column(s) {', '.join(missing)} (header {header})")
        reader.fieldnames = header
        rows = []
        for line, row in enumerate(reader, start=2):
            name = (row.get("Image Name") or "").strip()
            if not name:
                continue
            score_text = (row.get("Quality Score") or "").strip()
            index_text = (row.get(CLASS_INDEX_COLUMN) or "").strip()
            try:
                score = float(score_text) if score_text else None
                index = int(index_text) if index_text else None
            except ValueError as exc:
                raise SourceError(f"{path.name}, line {line}: {exc}") from None
            rows.append(SelectionRow(name, (row.get("Category") or "").strip(), score, index))
    return rows


def _content_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped text) of each non-blank line of a text file."""
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if line:
                yield line_number, line


def read_release_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """The release's ground_truth_ilsvrc2012_val.txt: ``class_index,class_name`` per val image in order."""
    path = Path(path)
    labels = []
    for line_number, line in _content_lines(path):
        index_text, sep, name = line.partition(",")
        try:
            index = int(index_text)
        except ValueError:
            raise SourceError(f"{path.name}, line {line_number}: expected 'class_index,class_name'") from None
        if not sep:
            raise SourceError(f"{path.name}, line {line_number}: expected 'class_index,class_name'")
        reason = check_label(index)
        labels.append((None, reason) if reason else (index, name.strip()))
    return GroundTruth(tuple(labels), "release")


def read_devkit_meta(meta_path: str | os.PathLike) -> dict[int, tuple[int, str, str]]:
    """ILSVRC2012_ID -> (torchvision class index, WNID, words) from the devkit's data/meta.mat.

    The 1,000 leaf synsets (num_children == 0) are the classes; torchvision's index of a class is the
    position of its WNID among the sorted WNIDs (the order of ImageFolder and torchvision.datasets.ImageNet).
    """
    import scipy.io

    try:
        synsets = scipy.io.loadmat(os.fspath(meta_path), squeeze_me=True)["synsets"]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise SourceError(f"{Path(meta_path).name}: not a devkit meta.mat ({exc})") from None
    leaves = []
    for synset in synsets.ravel():
        if int(synset["num_children"]) == 0:
            leaves.append((int(synset["ILSVRC2012_ID"]), str(synset["WNID"]), str(synset["words"])))
    if not leaves:
        raise SourceError(f"{Path(meta_path).name}: no leaf synsets")
    wnid_index = {wnid: index for index, wnid in enumerate(sorted(wnid for _, wnid, _ in leaves))}
    return {ilsvrc_id: (wnid_index[wnid], wnid, words) for ilsvrc_id, wnid, words in leaves}


def read_devkit_ground_truth(path: str | os.PathLike, meta_path: str | os.PathLike) -> GroundTruth:
    """The devkit's ILSVRC2012_validation_ground_truth.txt (1-based ILSVRC2012_IDs) mapped through
    meta.mat to torchvision's class index; class names are the synsets' ``words``."""
    path = Path(path)
    meta = read_devkit_meta(meta_path)
    labels = []
    for line_number, line in _content_lines(path):
        try:
            ilsvrc_id = int(line)
        except ValueError:
            raise SourceError(f"{path.name}, line {line_number}: expected an ILSVRC2012_ID") from None
        if ilsvrc_id in meta:
            index, _, words = meta[ilsvrc_id]
            labels.append((index, words))
        else:
            labels.append((None, f"unknown class: ILSVRC2012_ID {ilsvrc_id} is not in meta.mat"))
    return GroundTruth(tuple(labels), "devkit")


def read_ground_truth(path: str | os.PathLike, devkit_meta: str | os.PathLike | None = None) -> GroundTruth:
    """Either format, told apart by its first line: ``index,name`` (release) or a bare ID (devkit)."""
    path = Path(path)
    first = next((line for _, line in _content_lines(path)), "")
    if "," in first:
        return read_release_ground_truth(path)
    if devkit_meta is None:
        raise SourceError(f"{path.name} is in the devkit's format: pass the devkit's meta.mat too")
    return read_devkit_ground_truth(path, devkit_meta)


def read_voc_boxes(path: str | os.PathLike) -> tuple[Box, ...]:
    """Object boxes of a PASCAL VOC XML (ImageNet val bounding boxes), clipped to the XML's image size.

    Coordinates are taken as pixel positions with xmax/ymax inclusive (so x1 = xmax + 1). Boxes with no
    area are dropped. A malformed file raises SourceError.
    """
    path = Path(path)
    if path.stat().st_size > _MAX_XML_BYTES:
        raise SourceError(f"{path.name}: XML larger than {_MAX_XML_BYTES} bytes")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SourceError(f"{path.name}: malformed XML ({exc})") from None
    width = _number(root.findtext("size/width"))
    height = _number(root.findtext("size/height"))
    boxes = []
    for obj in root.iter("object"):
        bndbox = obj.find("bndbox")
        if bndbox is None:
            continue
        values = [_number(bndbox.findtext(tag)) for tag in ("xmin", "ymin", "xmax", "ymax")]
        if any(value is None for value in values):
            raise SourceError(f"{path.name}: a bndbox lacks xmin/ymin/xmax/ymax")
        x0, y0, x1, y1 = values[0], values[1], values[2] + 1, values[3] + 1
        x0, y0 = max(x0, 0.0), max(y0, 0.0)
        if width:
            x1 = min(x1, width)
        if height:
            y1 = min(y1, height)
        if x1 > x0 and y1 > y0:
            boxes.append(Box(x0, y0, x1, y1))
    return tuple(boxes)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


def read_imagenet_val(
    root: str | os.PathLike,
    *,
    selection: str | os.PathLike | list[SelectionRow] | None = None,
    ground_truth: str | os.PathLike | GroundTruth | None = None,
    devkit_meta: str | os.PathLike | None = None,
    bbox_dir: str | os.PathLike | None = None,
) -> list[SourceRecord]:
    """List ImageNet val sources under ``root``.

    Without ``selection``: every ``ILSVRC2012_val_XXXXXXXX`` JPEG/PNG directly in ``root``, sorted by
    name (other files are ignored). With one (a path or parsed rows): its entries in its order; missing
    or escaping names become records with an error. Labels come from ``ground_truth`` (release or
    devkit format; the devkit's needs ``devkit_meta``) by the val image number, else from the list's
    optional ``Class Index`` column. A list category that differs from a release ground-truth name is an
    error. ``bbox_dir`` holds the val boxes (``<stem>.xml``); images without an XML get ``boxes=None``.
    """
    root = resolve_root(root)
    truth = ground_truth
    if truth is not None and not isinstance(truth, GroundTruth):
        truth = read_ground_truth(truth, devkit_meta)
    rows: list[SelectionRow]
    if selection is None:
        rows = [
            SelectionRow(entry.name, "", None)
            for entry in sorted(os.scandir(root), key=lambda entry: entry.name)
            if VAL_NAME.match(entry.name) and not entry.is_dir()
        ]
    elif isinstance(selection, (list, tuple)):
        rows = list(selection)
    else:
        rows = read_selection(selection)
    bbox_root = resolve_root(bbox_dir) if bbox_dir is not None else None
    return mark_duplicates([_record(root, row, truth, bbox_root) for row in rows])


def _record(root: Path, row: SelectionRow, truth: GroundTruth | None, bbox_root: Path | None) -> SourceRecord:
    record = file_record(root, row.image_name, label_name=row.category or None)
    if record.error is not None:
        return record
    label, name, error = row.class_index, row.category or None, check_label(row.class_index)
    if truth is not None and error is None:
        number = val_number(row.image_name)
        if number is None:
            error = f"{row.image_name} is not an ILSVRC2012_val_XXXXXXXX name: no ground truth"
        else:
            gt_label, gt_name, error = truth.lookup(number)
            if error is None:
                if label is not None and label != gt_label:
                    error = f"class index {label} in the list differs from ground truth {gt_label}"
                elif name and truth.source == "release" and name != gt_name:
                    error = f"category {name!r} differs from ground truth {gt_name!r} ({gt_label})"
                label, name = gt_label, name or gt_name
    if error is None and bbox_root is not None:
        xml = bbox_root / f"{record.source_id}.xml"
        if xml.is_file():
            try:
                check_inside(bbox_root, xml)
                record = replace(record, boxes=read_voc_boxes(xml))
            except (SourceError, OSError) as exc:
                error = f"val boxes: {exc}"
    return replace(record, label=label if error is None else None, label_name=name, error=error)
