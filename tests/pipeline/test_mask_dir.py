"""check_mask_dir: a user mask folder checked against the source ids before a run."""

from __future__ import annotations

import pytest

from pipeline.masks import check_mask_dir
from pipeline.sources import SourceError


def touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"")


def test_missing_unused_and_guesses(tmp_path):
    touch(tmp_path, "astronaut_binary_mask.png", "Chelsea_binary_mask.png", "coffee_mask.png", "rocket.png",
          "notes.txt", "ILSVRC2012_val_00000001-binary-mask.PNG", ".DS_Store")
    (tmp_path / "sub_binary_mask.png").mkdir()  # folders are not masks
    ids = ["astronaut", "chelsea", "coffee", "rocket", "camera", "ILSVRC2012_val_00000001", "sub"]
    report = check_mask_dir(tmp_path, ids)
    assert report.missing == ["chelsea", "coffee", "rocket", "camera", "ILSVRC2012_val_00000001", "sub"]
    assert report.unused == ["Chelsea_binary_mask.png", "ILSVRC2012_val_00000001-binary-mask.PNG",
                             "coffee_mask.png", "notes.txt", "rocket.png"]
    assert report.guesses == {
        "Chelsea_binary_mask.png": "chelsea_binary_mask.png",
        "ILSVRC2012_val_00000001-binary-mask.PNG": "ILSVRC2012_val_00000001_binary_mask.png",
        "coffee_mask.png": "coffee_binary_mask.png",
        "rocket.png": "rocket_binary_mask.png",
    }
    assert not report.ok
    missing_line, unused_line = report.lines(limit=3)
    assert missing_line == (f"6 source(s) have no _binary_mask.png in {tmp_path}: chelsea, coffee, rocket "
                            "and 3 more")
    assert unused_line.startswith(f"5 file(s) in {tmp_path} match no source: Chelsea_binary_mask.png (should it be "
                                  "chelsea_binary_mask.png?), ILSVRC2012_val_00000001-binary-mask.PNG (should it be")
    assert unused_line.endswith("and 2 more")


def test_a_complete_folder_is_ok(tmp_path):
    touch(tmp_path, "a_binary_mask.png", "b_binary_mask.png")
    report = check_mask_dir(tmp_path, ["a", "b", "a"])
    assert report.ok and report.missing == [] and report.unused == [] and report.lines() == []
    # a guess is only made for a source that has no mask: a stray copy of a present one is just unused
    touch(tmp_path, "a_mask.png")
    assert check_mask_dir(tmp_path, ["a", "b"]).guesses == {}


def test_not_a_folder(tmp_path):
    with pytest.raises(SourceError, match="is not a directory"):
        check_mask_dir(tmp_path / "absent", ["a"])
