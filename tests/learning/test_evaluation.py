"""Evaluation and prediction: the agreement table against scipy per group, HVS metrics joined from the
metrics stage, evaluate and predict giving the same scores, the CLIs' files and one-line errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from learning.checkpoint import CheckpointError, load_checkpoint
from learning.evaluation import PREDICTION, agreement_table, evaluate_checkpoint, evaluate_rows, hvs_metrics
from learning.prediction import Predictor, list_images
from manifests.layout import SubsetLayout
from manifests.schemas import METRIC_VALUES
from pipeline import evaluate as evaluate_cli, predict as predict_cli, train as train_cli
from tests.learning.databases import small_database, write_split_files


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    out = small_database(root, photos=("astronaut", "coffee", "rocket"))
    owner = {name: name for name in ("astronaut", "coffee", "rocket")}
    train, test = write_split_files(root / "split", owner, {"coffee"})
    run_dir = root / "run"
    assert train_cli.main(["--db", str(out), "--train-split", str(train), "--test-split", str(test), "--model",
                           "resnet18", "--no-pretrained", "--resize", "36", "--crop", "32", "--batch-size", "32",
                           "--epochs", "1", "--workers", "0", "--threads", "1", "--no-progress", "--run-dir",
                           str(run_dir)]) == 0
    return {"db": out, "run": run_dir}


def test_agreement_table_equals_scipy_per_group():
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame({
        "distortion": rng.choice(["contrast", "fog"], n), "region": rng.choice(["UD", "ROI-DD", "BG-DD"], n),
        "roi_level": rng.integers(1, 6, n), "bg_level": rng.integers(1, 6, n), "label": rng.uniform(0, 1, n)})
    frame["score"] = frame["label"] + rng.normal(0, 0.3, n)
    table = agreement_table(frame, ["score"], fits=False)
    row = table.query("grouping == 'distortion' and group == 'fog'").iloc[0]
    members = frame[frame["distortion"] == "fog"]
    assert row["n"] == len(members)
    assert row["srcc"] == pytest.approx(stats.spearmanr(members["score"], members["label"]).statistic, abs=1e-12)
    assert row["plcc"] == pytest.approx(stats.pearsonr(members["score"], members["label"]).statistic, abs=1e-12)
    pair = table.query("grouping == 'severity' and group == 'fg3_bg1'").iloc[0]
    chosen = frame[(frame["roi_level"] == 3) & (frame["bg_level"] == 1)]
    assert pair["krcc"] == pytest.approx(stats.kendalltau(chosen["score"], chosen["label"]).statistic, abs=1e-12)
    assert set(table["grouping"]) == {"all", "distortion", "severity", "region"}
    assert len(table.query("grouping == 'severity'")) == len(frame.groupby(["roi_level", "bg_level"]))


def test_small_groups_skip_the_fits_instead_of_failing():
    frame = pd.DataFrame({"distortion": ["a"] * 4, "region": ["UD"] * 4, "roi_level": [1, 2, 3, 4],
                          "bg_level": [1, 2, 3, 4], "label": [0.1, 0.4, 0.3, 0.9], "score": [1.0, 2.0, 3.0, 4.0]})
    row = agreement_table(frame, ["score"]).iloc[0]
    assert row["srcc"] == pytest.approx(0.8) and np.isnan(row.get("plcc_l4", np.nan))


def _publish_metric(out: Path, name: str, values: dict[str, float]) -> None:
    layout = SubsetLayout.of(out, "cls")
    rows = [{"image_id": k, "source_id": k.split("_")[0], "value": v, "upsampled": False, "status": "ok"}
            for k, v in values.items()]
    rows.append({"image_id": "gone", "source_id": "gone", "value": None, "status": "failed", "error": "x"})
    layout.metric_store(name).publish("part0", {name: pa.Table.from_pylist(rows, schema=METRIC_VALUES)})


def test_hvs_metrics_join_the_predictions(trained, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(trained["db"] / "miqa_cls" / "manifests", out / "miqa_cls" / "manifests")
    images = SubsetLayout.of(out, "cls").generation_store().read("images", columns=["image_id", "psnr"]).to_pandas()
    known = {row.image_id: -row.psnr for row in images.itertuples() if row.image_id.startswith("coffee")}
    _publish_metric(out, "negpsnr", dict(list(known.items())[:30]))
    metrics = hvs_metrics(out, "cls")
    assert list(metrics) == ["negpsnr"] and len(metrics["negpsnr"]) == 30
    rows = pd.DataFrame({"image_id": list(known), "label": np.linspace(0, 1, len(known)), "distortion": "contrast",
                         "region": "UD", "roi_level": 1, "bg_level": 1,
                         "psnr": [-v for v in known.values()]})
    evaluation = evaluate_rows(rows, np.linspace(0, 1, len(known)), metrics, "test", fits=False)
    assert evaluation.predictors == (PREDICTION, "psnr", "negpsnr")
    overall = evaluation.agreement.query("grouping == 'all'").set_index("predictor")
    assert overall.loc["negpsnr", "n"] == 30 and overall.loc["psnr", "n"] == len(known)
    first = evaluation.predictions.iloc[:30]
    assert np.allclose(first["negpsnr"], -first["psnr"])


def test_evaluate_and_predict_give_the_same_scores(trained):
    checkpoint = trained["run"] / "best.pt"
    evaluation = evaluate_checkpoint(checkpoint, part="test", device="cpu", workers=0, fits=False, progress=False)
    predictions = evaluation.predictions
    assert set(predictions["source_id"]) == {"coffee"} and len(predictions) == 50
    predictor = Predictor.from_checkpoint(checkpoint, "cpu")
    scores = list(predictor.score_files([Path(p) for p in predictions["path"]], batch_size=7))
    assert np.allclose([s.score for s in scores], predictions[PREDICTION], atol=1e-5)
    assert "psnr" in evaluation.predictors
    every = evaluate_checkpoint(checkpoint, part="all", device="cpu", workers=0, fits=False, progress=False)
    assert len(every.predictions) == 150


def test_evaluate_cli_writes_tables_and_plots(trained, tmp_path, capsys):
    output = tmp_path / "eval"
    assert evaluate_cli.main(["--checkpoint", str(trained["run"] / "best.pt"), "--workers", "0", "--output",
                              str(output)]) == 0
    assert {p.name for p in output.iterdir()} == {"predictions.parquet", "predictions.csv", "agreement.parquet",
                                                  "agreement.csv", "agreement.png", "scatter.png"}
    agreement = pd.read_csv(output / "agreement.csv")
    assert {"srcc", "krcc", "plcc", "rmse", "plcc_l4", "plcc_l5", "rmse_l4", "rmse_l5"} <= set(agreement.columns)
    assert set(agreement["group"]) >= {"all", "contrast", "pixelate", "UD", "ROI-DD", "BG-DD", "fg5_bg1"}
    printed = capsys.readouterr().out
    assert "prediction" in printed and "psnr" in printed and "SRCC per distortion" in printed


def test_predict_cli_scores_files_and_folders(trained, tmp_path, capsys):
    folder = trained["db"] / "miqa_cls" / "images" / "rocket"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    single = next(folder.glob("*_contrast_1.png"))
    assert predict_cli.main(["--checkpoint", str(trained["run"] / "best.pt"), str(folder), str(single),
                             str(broken), "--device", "cpu"]) == 1
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 52 and rows[-1]["path"] == str(broken) and "not a readable image" in rows[-1]["error"]
    assert rows[-1]["score"] == "" and all(r["score"] and not r["error"] for r in rows[:-1])
    assert [r["path"] for r in rows[:50]] == [str(p) for p in list_images([folder])]
    output = tmp_path / "scores.csv"
    assert predict_cli.main(["--checkpoint", str(trained["run"] / "best.pt"), str(single), "--output",
                             str(output)]) == 0
    assert float(output.read_text().splitlines()[1].split(",")[1]) == pytest.approx(float(rows[50]["score"]), abs=1e-5)
    capsys.readouterr()
    assert predict_cli.main(["--checkpoint", str(trained["run"] / "best.pt"), str(tmp_path / "nope.png")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such file or folder: {tmp_path / 'nope.png'}"


def test_checkpoint_errors_are_one_line(tmp_path, capsys):
    import torch

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a checkpoint of a quality predictor"):
        load_checkpoint(other)
    assert evaluate_cli.main(["--checkpoint", str(other)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
