"""Splits by source: disjoint parts, the release's files, hash splits that never move a source."""

from __future__ import annotations

import pytest

from learning.splits import Split, SplitError, hash_split, hash_unit, read_split_file, release_split


def test_hash_split_is_disjoint_complete_and_near_its_fraction():
    ids = [f"src{i:05d}" for i in range(4000)]
    split = hash_split(ids, test_fraction=0.2, val_fraction=0.1)
    parts = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, parts)) == len(ids) and set().union(*parts) == set(ids)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert abs(len(split.test) / len(ids) - 0.2) < 0.02 and abs(len(split.val) / len(ids) - 0.1) < 0.02
    # each source's part is its hash's interval, nothing else
    for source in ids[:200]:
        u = hash_unit(source)
        expected = "test" if u < 0.2 else "val" if u < 0.3 else "train"
        assert source in getattr(split, expected)


def test_adding_sources_never_moves_one():
    small = hash_split([f"a{i}" for i in range(300)], 0.25)
    large = hash_split([f"a{i}" for i in range(300)] + [f"b{i}" for i in range(300)], 0.25)
    assert set(small.test) <= set(large.test) and set(small.train) <= set(large.train)
    assert hash_split(reversed([f"a{i}" for i in range(300)]), 0.25) == small


def test_salt_changes_the_split():
    ids = [f"s{i}" for i in range(500)]
    assert hash_split(ids, 0.2, salt="one").test != hash_split(ids, 0.2, salt="two").test


def test_overlapping_parts_are_refused():
    with pytest.raises(SplitError, match="both train and test"):
        Split(("a", "b"), (), ("b",), "files")


def test_validation_falls_back_to_test_and_all_joins_the_parts():
    split = Split(("a", "c"), (), ("b",), "files")
    assert split.part("val") == ("b",) and split.part("all") == ("a", "b", "c")
    with pytest.raises(SplitError, match="unknown split part"):
        split.part("dev")


def test_restrict_keeps_available_sources_and_limits_by_hash():
    split = hash_split([f"s{i}" for i in range(1000)], 0.3)
    available = [f"s{i}" for i in range(0, 1000, 2)] + ["extra"]
    restricted = split.restrict(available)
    assert set(restricted.part("all")) == set(available) - {"extra"}
    assert restricted.details["listed_missing"] == 500 and restricted.details["unlisted"] == 1
    limited = split.restrict(available, limit=50)
    assert len(limited.part("all")) == 50
    chosen = sorted(set(available) - {"extra"}, key=lambda s: (hash_unit(s, "limit"), s))[:50]
    assert set(limited.part("all")) == set(chosen)
    assert set(limited.test) == set(chosen) & set(split.test)  # a limited source keeps its part


def test_release_split_files(reference_dir):
    cls = release_split(reference_dir / "miqa_cls_train.csv", reference_dir / "miqa_cls_val.csv")
    assert (len(cls.train), len(cls.test), len(cls.val)) == (4000, 1000, 0)
    assert "ILSVRC2012_val_00037809" in cls.train and "ILSVRC2012_val_00032628" in cls.test
    det = release_split(reference_dir / "miqa_det_train.csv", reference_dir / "miqa_det_val.csv")
    assert (len(det.train), len(det.test)) == (4000, 952)
    assert "000000532481" in det.train and "000000577539" in det.test
    held = release_split(reference_dir / "miqa_det_train.csv", reference_dir / "miqa_det_val.csv", val_fraction=0.1)
    assert set(held.train) | set(held.val) == set(det.train) and 300 < len(held.val) < 500
    assert set(held.val) == {s for s in det.train if hash_unit(s) < 0.1}


def test_split_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\na.png,1\n")
    with pytest.raises(SplitError, match="expected a column 'Image Name'") as info:
        read_split_file(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(SplitError, match="cannot read split file"):
        read_split_file(tmp_path / "missing.csv")
    ids = tmp_path / "ids.csv"
    ids.write_text("Image Index\n139\nx\n")
    with pytest.raises(SplitError, match="not a COCO image id"):
        read_split_file(ids)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("Image Name\na.png\nb.png\n")
    test.write_text("Image Name\nb.JPEG\n")
    with pytest.raises(SplitError, match="listed in both"):
        release_split(train, test)
