"""Human IQA sets of synthetic distortions, from their published files. Groups are the reference images,
so no reference is split across train and test.

- ``live``: LIVE release 2 (databaserelease2/): dmos.mat (dmos, orgs; option dmos=realigned reads
  dmos_realigned.mat's dmos_new), refnames_all.mat, images jp2k/ jpeg/ wn/ gblur/ fastfading/ img<k>.bmp
  (227, 233, 174, 174, 174, in the order of the dmos vector). The 203 copies of reference images (orgs = 1)
  are left out: 779 images. DMOS is lower-is-better: the score is max(DMOS) - DMOS, so [0, 114.41].
- ``csiq``: CSIQ: csiq.DMOS.xlsx (sheet all_by_image; needs openpyxl) or a CSV / TSV export of that sheet
  (option labels=FILE), columns image, dst_type, dst_lev, dmos; images dst_imgs/<type>/<image>.<TYPE>.<lev>.png.
  DMOS in [0, 1], lower is better: the score is 1 - DMOS. 866 images.
- ``kadid10k``: KADID-10k: dmos.csv (dist_img, ref_img, dmos, var; despite its name dmos is a MOS in
  [1, 5], higher is better), images images/<dist_img>. 10,125 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learning.mixed.adapters import DatasetSpec, register
from learning.mixed.adapters.tables import mat_strings, number, read_mat, read_records
from learning.mixed.annotations import AnnotatedSet, DatasetError

LIVE_FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))
# CSIQ's dst_type -> (folder under dst_imgs/, the type's tag in file names)
CSIQ_TYPES = {"noise": ("awgn", "AWGN"), "jpeg": ("jpeg", "JPEG"), "jpeg 2000": ("jpeg2000", "jpeg2000"),
              "fnoise": ("fnoise", "fnoise"), "blur": ("blur", "BLUR"), "contrast": ("contrast", "contrast")}


@register("live", "LIVE IQA release 2: the databaserelease2 folder (dmos.mat, refnames_all.mat)")
def load_live(spec: DatasetSpec) -> AnnotatedSet:
    root = Path(spec.root)
    realigned = (spec.option("dmos") or "") == "realigned"
    mat, key = ("dmos_realigned.mat", "dmos_new") if realigned else ("dmos.mat", "dmos")
    dmos = np.ravel(read_mat(root / mat, key)).astype(np.float64)
    orgs = np.ravel(read_mat(root / mat, "orgs"))
    references = mat_strings(read_mat(root / "refnames_all.mat", "refnames_all"))
    expected = sum(n for _, n in LIVE_FOLDERS)
    if not len(dmos) == len(orgs) == len(references) == expected:
        raise DatasetError(f"{root}: LIVE release 2 has {expected} entries in {mat} and refnames_all.mat, found "
                           f"{len(dmos)}, {len(orgs)} and {len(references)}; give the release's files")
    files = [f"{folder}/img{k}.bmp" for folder, count in LIVE_FOLDERS for k in range(1, count + 1)]
    keep = np.flatnonzero(orgs == 0)
    return AnnotatedSet(root=root, files=tuple(files[i] for i in keep), scores=dmos[keep].max() - dmos[keep],
                        groups=tuple(references[i] for i in keep))


@register("csiq", "CSIQ: its folder, with csiq.DMOS.xlsx or a CSV export of the all_by_image sheet")
def load_csiq(spec: DatasetSpec) -> AnnotatedSet:
    root = Path(spec.root)
    labels = Path(spec.option("labels") or root / "csiq.DMOS.xlsx")
    if not labels.is_file():
        raise DatasetError(f"{spec.name}: {labels} not found; give CSIQ's folder holding csiq.DMOS.xlsx, or its "
                           "all_by_image sheet saved as CSV with option labels=FILE")
    files, scores, groups = [], [], []
    for row in read_records(labels, ("image", "dst_type", "dst_lev", "dmos"), sheet="all_by_image"):
        kind = str(row["dst_type"]).strip().lower()
        if kind not in CSIQ_TYPES:
            raise DatasetError(f"{labels.name}: unknown dst_type {row['dst_type']!r}; known: {', '.join(CSIQ_TYPES)}")
        folder, tag = CSIQ_TYPES[kind]
        image = _name(row["image"])
        level = int(number(row["dst_lev"], f"{labels.name}, dst_lev"))
        files.append(f"dst_imgs/{folder}/{image}.{tag}.{level}.png")
        scores.append(1.0 - number(row["dmos"], f"{labels.name}, dmos"))
        groups.append(image)
    return AnnotatedSet(root=root, files=tuple(files), scores=np.array(scores), groups=tuple(groups))


def _name(cell) -> str:
    """An image name as Excel may hold it: '1600' can come back as the number 1600.0."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


@register("kadid10k", "KADID-10k: its folder (dmos.csv, images/)")
def load_kadid10k(spec: DatasetSpec) -> AnnotatedSet:
    root = Path(spec.root)
    records = read_records(_file(root, "dmos.csv", spec), ("dist_img", "ref_img", "dmos"))
    return AnnotatedSet(root=root, files=tuple(f"images/{r['dist_img']}" for r in records),
                        scores=np.array([number(r["dmos"], "dmos.csv, dmos") for r in records]),
                        groups=tuple(r["ref_img"] for r in records))


def _file(root: Path, name: str, spec: DatasetSpec) -> Path:
    path = Path(spec.option("labels") or root / name)
    if not path.is_file():
        raise DatasetError(f"{spec.name}: {path} not found; give the dataset's folder (it ships {name})")
    return path
