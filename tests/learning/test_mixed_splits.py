"""Splits by group and by published list; the stateless cycling sampler."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from learning.mixed.annotations import DatasetError, ScoreScale
from learning.mixed.sampler import CyclingSampler
from learning.mixed.splits import list_split, random_split


def test_random_split_never_cuts_a_group_and_follows_the_fractions():
    groups = [f"ref{i // 7}" for i in range(7 * 30)]  # 30 references, 7 images each
    split = random_split(groups, (0.6, 0.2, 0.2), seed=0, index=4, name="csiq")
    for g in set(groups):
        assert len({s for s, h in zip(split, groups) if h == g}) == 1
    per_group = Counter(split[groups.index(g)] for g in set(groups))
    assert per_group == {"train": 18, "val": 6, "test": 6}


def test_random_split_is_a_function_of_seed_name_and_index():
    groups = [str(i) for i in range(50)]
    a = random_split(groups, (0.7, 0.1, 0.2), seed=0, index=1, name="koniq10k")
    assert np.array_equal(a, random_split(groups, (0.7, 0.1, 0.2), seed=0, index=1, name="koniq10k"))
    assert np.array_equal(a[::-1], random_split(groups[::-1], (0.7, 0.1, 0.2), 0, 1, "koniq10k"))  # order-free
    assert not np.array_equal(a, random_split(groups, (0.7, 0.1, 0.2), seed=0, index=2, name="koniq10k"))
    assert not np.array_equal(a, random_split(groups, (0.7, 0.1, 0.2), seed=0, index=1, name="clive"))


def test_random_split_fills_every_split_asked_for_or_says_why_not():
    assert sorted(random_split(["a", "b", "c"], (0.8, 0.1, 0.1), 0, 0, "x")) == ["test", "train", "val"]
    with pytest.raises(DatasetError, match="2 group"):
        random_split(["a", "b"], (0.6, 0.2, 0.2), 0, 0, "x")
    with pytest.raises(ValueError, match="summing to 1"):
        random_split(["a", "b", "c"], (0.6, 0.2, 0.3), 0, 0, "x")


def test_list_split_matches_the_authors_lists_with_their_folder_prefixes(tmp_path):
    files = ["jp2k/img44.bmp", "jp2k/img86.bmp", "wn/img20.bmp", "gblur/img1.bmp"]
    (tmp_path / "train.txt").write_bytes(b"databaserelease2/jp2k/img44.bmp\t40.155\t2.7\t1\r"
                                         b"databaserelease2/wn/img20.bmp\t0.0\t1.6\t1\r")
    (tmp_path / "test.txt").write_text("jp2k/img86.bmp\t35.5\t3.1\t1\n")
    split = list_split(files, {"train": tmp_path / "train.txt", "test": tmp_path / "test.txt"})
    assert list(split) == ["train", "test", "train", ""]
    (tmp_path / "other.txt").write_text("kadid10k/images/I01_01_01.png\t4.5\n")
    with pytest.raises(DatasetError, match="no entry of the val list"):
        list_split(files, {"val": tmp_path / "other.txt"})
    with pytest.raises(DatasetError, match="in both the train and the test list"):
        list_split(files, {"train": tmp_path / "train.txt", "test": tmp_path / "train.txt"})


def test_sampler_cycles_through_permutations_and_depends_on_the_step_only():
    sampler = CyclingSampler(size=10, batch=4, seed=7, name="live")
    first_pass = np.concatenate([sampler.indices(s) for s in range(5)])  # 20 draws = 2 full cycles
    assert sorted(first_pass[:10]) == list(range(10)) and sorted(first_pass[10:]) == list(range(10))
    assert not np.array_equal(first_pass[:10], first_pass[10:])  # a fresh permutation per cycle
    fresh = CyclingSampler(size=10, batch=4, seed=7, name="live")
    assert np.array_equal(fresh.indices(3), sampler.indices(3))  # no state: a resumed run draws the same
    assert sampler.steps_per_pass() == 3


def test_score_scale_maps_the_training_range_to_0_10():
    scale = ScoreScale.fit(np.array([1.0, 4.93, 2.0]))
    np.testing.assert_allclose(scale(np.array([1.0, 4.93, 1.0 + 3.93 / 2])), [0.0, 10.0, 5.0])
    with pytest.raises(DatasetError, match="every training annotation"):
        ScoreScale.fit(np.array([2.0, 2.0]))


def test_a_shared_split_puts_a_group_in_the_same_split_in_every_dataset(tmp_path):
    from learning.mixed.adapters import DatasetSpec
    from learning.mixed.data import SplitSettings, load_mix

    specs = []
    for name in ("a", "b"):  # the same 20 sources labelled twice
        lines = ["path,score,group"] + [f"{s}_{i}.png,{i + s},{s}" for s in range(20) for i in range(3)]
        (tmp_path / f"{name}.csv").write_text("\n".join(lines) + "\n")
        specs.append(DatasetSpec(name, "csv", str(tmp_path / f"{name}.csv")))
    for s in range(20):
        for i in range(3):
            (tmp_path / f"{s}_{i}.png").write_bytes(b"")

    def split_of_group(data, k):
        return {g: sp for g, sp in zip(data.sets[k].groups, data.splits[k])}

    shared = load_mix(specs, SplitSettings(shared=True, index=2))
    assert split_of_group(shared, 0) == split_of_group(shared, 1)
    assert Counter(split_of_group(shared, 0).values()) == {"train": 12, "val": 4, "test": 4}
    apart = load_mix(specs, SplitSettings(index=2))
    assert split_of_group(apart, 0) != split_of_group(apart, 1)  # each dataset drew its own
