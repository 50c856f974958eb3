"""The mixed trainer on a tiny mix of real photos: it learns, resumes to the same result, records what it did,
and the split protocol summarises runs as the authors do."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from learning.mixed import (
    DatasetSpec,
    InputSettings,
    MinnSettings,
    MixedRun,
    MixedSettings,
    OptimSettings,
    RegressorSettings,
    SplitSettings,
    evaluate_splits,
    train_mixed,
)
from learning.mixed.protocol import summarise
from manifests.settings import SettingsMismatch
from tests.conftest import load_photo


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is steadier


PHOTOS = ("astronaut", "coffee", "rocket", "chelsea")
SIGMAS = (0.0, 1.0, 2.0, 4.0)


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def mix(tmp_path_factory) -> tuple[DatasetSpec, ...]:
    """Two datasets of blurred photo crops (true quality: minus the blur), labelled on different scales."""
    root = tmp_path_factory.mktemp("mix")
    rows = {"a": [], "b": []}
    for p, photo in enumerate(PHOTOS):
        image = load_photo(photo, (192, 128))
        for c in range(3):
            crop = np.ascontiguousarray(image[:, c * 64: c * 64 + 64])
            for sigma in SIGMAS:
                out = cv2.GaussianBlur(crop, (0, 0), sigma) if sigma else crop
                name = f"{photo}_{c}_{sigma:g}.png"
                cv2.imwrite(str(root / name), out[:, :, ::-1])
                dataset = "a" if p < 2 else "b"
                score = 10 - 2 * sigma if dataset == "a" else 100 * math.exp(-sigma)
                rows[dataset].append((name, score, f"{photo}_{c}"))
    specs = []
    for dataset, entries in rows.items():
        with open(root / f"{dataset}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "score", "group"])
            writer.writerows(entries)
        specs.append(DatasetSpec(dataset, "csv", str(root / f"{dataset}.csv")))
    return tuple(specs)


def _settings(mix, out: Path, **changes) -> MixedSettings:
    base = MixedSettings(
        datasets=mix, out=str(out), method="mimi",
        regressor=RegressorSettings(name="frozen-lite0", head=(16,)),
        minn=MinnSettings(hidden=(8, 8), steps=12),
        inputs=InputSettings(resize=64, crop=64, feature_cache=str(Path(mix[0].root).parent / "features")),
        optim=OptimSettings(epochs=2, lr=3e-3, step_size=1, gamma=0.5),
        split=SplitSettings(fractions=(0.5, 0.25, 0.25)), batch_size=4, steps_per_epoch=5, checkpoint_every=3,
        progress=False,
    )  # fmt: skip
    return replace(base, **changes)


def _state(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "last.pt", weights_only=True)["model"]


def _interrupt_at(step: int):
    def hook(current: int, parts: dict) -> None:
        if current == step:
            raise Interrupted

    return hook


@pytest.mark.parametrize("regressor, inputs, steps", [
    (RegressorSettings(name="frozen-lite0", head=(16,)), InputSettings(resize=64, crop=64), 5),
    (RegressorSettings(name="frozen-lite0", head=(16,)), InputSettings(resize=36, crop=32, cache_features=False), 3),
], ids=["cached-features", "images"])  # fmt: skip
def test_a_resumed_run_reaches_the_uninterrupted_result(mix, tmp_path, regressor, inputs, steps):
    """Two epochs, a checkpoint every 3 steps and at each epoch's end, killed one step after the last one."""
    inputs = replace(inputs, feature_cache=str(Path(mix[0].root).parent / "features"))
    settings = {"regressor": regressor, "inputs": inputs, "steps_per_epoch": steps}
    whole = train_mixed(_settings(mix, tmp_path / "whole", **settings))
    resumed_settings = _settings(mix, tmp_path / "resumed", **settings)
    last_checkpoint = 6 if steps == 5 else 3  # 5: epoch end, 6: every 3 steps / 3: epoch end (and every 3)
    with pytest.raises(Interrupted):
        train_mixed(resumed_settings, on_step=_interrupt_at(last_checkpoint + 1 + (steps == 3)))
    assert torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["step"] == last_checkpoint
    resumed = train_mixed(resumed_settings)
    a, b = _state(whole.out), _state(resumed.out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    pa, pb = pq.read_table(whole.predictions), pq.read_table(resumed.predictions)
    assert pa.column("proxy").to_pylist() == pb.column("proxy").to_pylist()
    assert whole.metrics == resumed.metrics
    history = [json.loads((r.out / "results.json").read_text())["history"] for r in (whole, resumed)]
    assert history[0] == history[1]


def test_worker_count_does_not_change_the_result(mix, tmp_path):
    runs = [train_mixed(_settings(mix, tmp_path / f"w{w}", steps_per_epoch=2, optim=OptimSettings(epochs=1),
                                  inputs=InputSettings(resize=36, crop=32, cache_features=False, num_workers=w)))
            for w in (0, 2)]
    a, b = _state(runs[0].out), _state(runs[1].out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_run_records_what_it_did_and_learns(mix, tmp_path):
    settings = _settings(mix, tmp_path / "run", optim=OptimSettings(epochs=6, lr=3e-3), steps_per_epoch=10)
    run = train_mixed(settings)
    results = json.loads((run.out / "results.json").read_text())
    assert results["steps"] == 60 and len(results["history"]) == 6
    assert results["split_counts"] == {"a": {"train": 12, "val": 8, "test": 4}, "b": {"train": 12, "val": 8, "test": 4}}
    assert results["normalisation"]["b"]["high"] == pytest.approx(100.0)
    assert results["seeds"] == {"seed": settings.seed, "split_seed": 0, "split_index": 0}
    table = pq.read_table(run.predictions).to_pandas()
    assert len(table) == 48 and set(table.split) == {"train", "val", "test"}
    assert table.groupby("group").split.nunique().max() == 1  # no crop in two splits
    # the proxy orders blur levels within each dataset (training images: the head has seen them)
    for name, part in table[table.split == "train"].groupby("dataset"):
        assert part.proxy.corr(part.annotation, method="spearman") > 0.8, name
    assert (run.out / "best.pt").is_file() and 1 <= run.best_epoch <= 6
    again = train_mixed(settings)  # finished: read back, nothing retrained
    assert again.metrics == run.metrics


def test_a_run_folder_refuses_other_settings(mix, tmp_path):
    settings = _settings(mix, tmp_path / "run", optim=OptimSettings(epochs=1), steps_per_epoch=2)
    train_mixed(settings)
    with pytest.raises(SettingsMismatch, match="method: existing \"mimi\", requested \"naive\""):
        train_mixed(replace(settings, method="naive"))
    train_mixed(replace(settings, progress=True, checkpoint_every=7))  # run-neutral settings may change


@pytest.mark.parametrize("method", ["naive", "monotone", "pairwise"])
def test_baselines_train_in_the_same_trainer(mix, tmp_path, method):
    run = train_mixed(_settings(mix, tmp_path / method, method=method, optim=OptimSettings(epochs=1),
                                steps_per_epoch=3))
    assert set(run.metrics["test"]) == {"a", "b"} and run.metrics["test"]["a"]["n"] == 4


def test_summary_takes_medians_per_dataset_then_the_size_weighted_average(tmp_path):
    def run(srcc_a, srcc_b):
        figures = {f: math.nan for f in ("krcc", "plcc", "plcc_l4", "plcc_l5", "n")}
        return MixedRun(tmp_path, {"test": {"a": {**figures, "srcc": srcc_a}, "b": {**figures, "srcc": srcc_b}}},
                        {}, 1, tmp_path / "p")

    median, weighted = summarise([run(0.1, 0.9), run(0.5, 0.7), run(0.3, 0.8)], {"a": 100, "b": 300})
    assert median["a"]["srcc"] == pytest.approx(0.3) and median["b"]["srcc"] == pytest.approx(0.8)
    assert weighted["srcc"] == pytest.approx((0.3 * 100 + 0.8 * 300) / 400)
    assert math.isnan(weighted["plcc"])


def test_evaluate_splits_runs_each_split_in_its_folder_and_summarises(mix, tmp_path):
    settings = _settings(mix, tmp_path / "splits", method="naive", optim=OptimSettings(epochs=1), steps_per_epoch=2)
    summary = evaluate_splits(settings, n=2)
    assert [r.out.name for r in summary.runs] == ["split_0", "split_1"]
    firsts = [json.loads((r.out / "results.json").read_text())["seeds"]["split_index"] for r in summary.runs]
    assert firsts == [0, 1]
    srcc_a = [r.metrics["test"]["a"]["srcc"] for r in summary.runs]
    assert summary.median["a"]["srcc"] == pytest.approx(float(np.median(srcc_a)))
    saved = json.loads((tmp_path / "splits" / "summary.json").read_text())
    assert saved["median"]["a"]["srcc"] == pytest.approx(summary.median["a"]["srcc"])


def test_a_run_folder_refuses_changed_data(mix, tmp_path):
    import shutil

    table = tmp_path / "a.csv"
    shutil.copy(mix[0].root, table)
    images = str(Path(mix[0].root).parent)
    changed = (replace(mix[0], root=str(table), options=(("images", images),)), mix[1])
    settings = _settings(mix, tmp_path / "run", datasets=changed, optim=OptimSettings(epochs=1), steps_per_epoch=2)
    train_mixed(settings)
    rows = table.read_text().splitlines()
    table.write_text("\n".join([rows[0], *[r.replace(",10.0,", ",9.5,") for r in rows[1:]]]) + "\n")
    with pytest.raises(SettingsMismatch, match="data.a: existing"):
        train_mixed(settings)
