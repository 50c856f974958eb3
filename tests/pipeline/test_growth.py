"""A database grows in place: new distortion types and new sources make only what is new; what cannot change
in place is refused with its reason and what to do instead."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from manifests.layout import SubsetLayout
from pipeline import generate
from tests.conftest import load_photo
from tests.pipeline.test_generate import tree_digest


def run(out: Path, folder: Path, *args: str) -> int:
    return generate.main(["--subset", "cls", "--source", str(folder), "--out", str(out), "--workers", "1", *args])


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(load_photo(name, (96, 72))).save(folder / f"{name}.png")
    return folder


def test_new_types_are_made_for_existing_sources_only(tmp_path, folder, capsys):
    out, whole = tmp_path / "out", tmp_path / "whole"
    assert run(out, folder, "--distortions", "contrast") == 0
    layout = SubsetLayout.of(out, "cls")
    before = {p: p.stat().st_mtime_ns for p in layout.images.rglob("*.png")}
    mask_before = layout.mask_path("coffee").read_bytes()
    capsys.readouterr()
    assert run(out, folder, "--distortions", "contrast,pixelate") == 0
    assert "2 getting new types" in capsys.readouterr().err
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in before.items())  # nothing remade
    assert layout.mask_path("coffee").read_bytes() == mask_before
    images = pd.read_parquet(layout.manifests / "images")
    assert len(images) == 2 * 50 and images.image_id.is_unique
    sources = pd.read_parquet(layout.manifests / "sources").set_index("source_id")
    assert (sources.images_ok == 50).all() and [list(d) for d in sources.distortions] == [["contrast", "pixelate"]] * 2
    assert run(whole, folder, "--distortions", "contrast,pixelate") == 0  # grown == made in one run
    assert tree_digest(out) == tree_digest(whole)
    capsys.readouterr()
    assert run(out, folder) == 0  # without --distortions: the database's types
    assert "nothing to do" in capsys.readouterr().err


def test_database_plus_an_extra_and_new_sources(tmp_path, folder, capsys):
    out = tmp_path / "out"
    assert run(out, folder, "--distortions", "contrast", "--limit", "1") == 0
    assert run(out, folder, "--distortions", "contrast,spatter") == 0  # a new source and a new type at once
    images = pd.read_parquet(SubsetLayout.of(out, "cls").manifests / "images")
    assert images.groupby("source_id").distortion.nunique().to_dict() == {"astronaut": 2, "coffee": 2}
    from degradations import registry

    assert registry.select("database,spatter") == (*registry.names(database_only=True), "spatter")
    assert registry.select("contrast,database")[0] == "contrast"


@pytest.mark.parametrize("change,reason", [
    (("--seed", "3"), "seed: existing 0, requested 3 (the seed decides every random draw"),
    (("--option", "motion_blur.backend=wand", "--distortions", "contrast,motion_blur"), None),
    (("--distortions", "pixelate"), "its types can only grow"),
])
def test_what_cannot_change_in_place_is_refused_with_the_reason(tmp_path, folder, capsys, change, reason):
    out = tmp_path / "out"
    assert run(out, folder, "--distortions", "contrast,motion_blur", "--limit", "1") == 0
    settings = (SubsetLayout.of(out, "cls").settings_file).read_text()
    capsys.readouterr()
    assert run(out, folder, *change) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ")
    assert (reason or "existing motion_blur images were made with the former") in err
    assert SubsetLayout.of(out, "cls").settings_file.read_text() == settings  # nothing rewritten


def test_masks_and_labels_cannot_change_in_place(tmp_path, folder, capsys):
    out = tmp_path / "out"
    labels = tmp_path / "labels.csv"
    labels.write_text("astronaut.png,0\ncoffee.png,espresso\n")
    assert run(out, folder, "--distortions", "contrast", "--labels", str(labels)) == 0
    capsys.readouterr()
    assert run(out, folder) == 2  # --labels forgotten on a resume
    assert "labels_csv" in capsys.readouterr().err
    masks = tmp_path / "masks"
    masks.mkdir()
    assert run(out, folder, "--labels", str(labels), "--mask-dir", str(masks)) == 2
    assert "mask.user_masks" in capsys.readouterr().err
    assert run(out, folder, "--labels", str(labels), "--mask-option", "lite-contrast.refine.iterations=3") == 2
    assert "mask.default" in capsys.readouterr().err  # a mask parameter is a mask source
    assert run(out, folder, "--labels", str(labels), "--mask-option", "dino.threshold=0.1") == 2
    assert capsys.readouterr().err.strip().endswith("is for dino, but the mask method is lite-contrast")
    assert run(out, folder, "--labels", str(labels)) == 0
    sources = pd.read_parquet(SubsetLayout.of(out, "cls").manifests / "sources").set_index("source_id")
    assert sources.label.to_dict() == {"astronaut": 0, "coffee": 967}


def test_a_legacy_settings_file_is_read(tmp_path, folder):
    out = tmp_path / "out"
    assert run(out, folder, "--distortions", "contrast", "--limit", "1") == 0
    path = SubsetLayout.of(out, "cls").settings_file
    data = json.loads(path.read_text())
    legacy = {**data, "distortions": ["contrast"], "options": {}}
    legacy.pop("distortion_order")
    legacy["mask"] = {k: v for k, v in data["mask"].items() if k not in ("default_method", "resize_masks")}
    legacy.pop("labels_csv")
    path.write_text(json.dumps(legacy))
    assert run(out, folder, "--distortions", "contrast") == 0
