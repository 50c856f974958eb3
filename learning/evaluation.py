"""How well a trained predictor, and the full-reference HVS metrics beside it, agree with the machine-centric
label on the same images: SRCC, KRCC, PLCC and RMSE (raw and after the 4- and 5-parameter logistic fits,
:func:`learning.correlation.agreement`), over all images and per distortion, severity pair
(``fg<roi>_bg<background>``) and region pattern (UD, ROI-DD, BG-DD).

HVS metrics: the PSNR of every degraded image (our images table) and every metric of the metrics stage
present in the database (``manifests/metrics/<metric>/``), joined by image id. A metric where lower means
better (a distance) correlates negatively: signs are kept in the tables.

    evaluation = evaluate_checkpoint("runs/.../best.pt", part="test")
    evaluation.agreement          # one row per (predictor, group, value)
    write_evaluation(evaluation, Path("runs/.../eval-test"))
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from learning.correlation import agreement
from learning.data.table import SampleTable, image_subset
from manifests.layout import SubsetLayout

PREDICTION = "prediction"
GROUPINGS = ("all", "distortion", "severity", "region")
FITS = ("logistic4", "logistic5")
MIN_FIT_POINTS = 6  # a fit needs more points than its 5 parameters


@dataclass(frozen=True)
class Evaluation:
    predictions: pd.DataFrame  # one row per image: metadata, label, prediction, HVS metrics
    agreement: pd.DataFrame  # predictor, grouping, group, n, srcc, krcc, plcc, rmse, plcc_l4, ...
    predictors: tuple[str, ...]  # PREDICTION first, then the HVS metrics
    title: str


def hvs_metrics(db: str | Path, subset: str) -> dict[str, pd.Series]:
    """Every metric of the metrics stage in our manifests: name -> value per image id (ok rows only)."""
    layout = SubsetLayout.of(Path(db), image_subset(subset))
    folder = layout.manifests / "metrics"
    out: dict[str, pd.Series] = {}
    if not folder.is_dir():
        return out
    for metric in sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        table = layout.metric_store(metric).read(metric, columns=["image_id", "value", "status"]).to_pandas()
        table = table[table["status"] == "ok"]
        out[metric] = pd.Series(table["value"].to_numpy(np.float64), index=table["image_id"])
    return out


def with_metrics(rows: pd.DataFrame, metrics: dict[str, pd.Series]) -> tuple[pd.DataFrame, list[str]]:
    """``rows`` with a column per HVS metric (NaN where a metric has no value) and their names; PSNR from
    the images table unless the metrics stage has its own."""
    frame = rows.copy()
    names = ["psnr"] if frame["psnr"].notna().any() else []
    for name, values in metrics.items():
        frame[name] = frame["image_id"].map(values).astype(np.float64)
        if name not in names:
            names.append(name)
    if "psnr" not in names:
        frame = frame.drop(columns="psnr")
    return frame, names


def severity_pair(frame: pd.DataFrame) -> pd.Series:
    return "fg" + frame["roi_level"].astype(str) + "_bg" + frame["bg_level"].astype(str)


def agreement_table(frame: pd.DataFrame, predictors: Iterable[str], groupings: Iterable[str] = GROUPINGS,
                    fits: bool = True) -> pd.DataFrame:
    """``agreement`` of each predictor column with ``label``, over all rows and per group of each grouping."""
    keys = {"all": pd.Series("all", index=frame.index), "distortion": frame["distortion"],
            "severity": severity_pair(frame), "region": frame["region"]}
    records = []
    for predictor in predictors:
        for grouping in groupings:
            for group, members in frame.groupby(keys[grouping], sort=True):
                x, y = members[predictor].to_numpy(np.float64), members["label"].to_numpy(np.float64)
                enough = int(np.sum(np.isfinite(x) & np.isfinite(y))) >= MIN_FIT_POINTS
                figures = agreement(x, y, fits=FITS if fits and enough else ())
                records.append({"predictor": predictor, "grouping": grouping, "group": group, **figures})
    return pd.DataFrame.from_records(records)  # fit columns are NaN where a group is too small to fit


def evaluate_rows(rows: pd.DataFrame, predictions: np.ndarray, metrics: dict[str, pd.Series], title: str,
                  fits: bool = True) -> Evaluation:
    frame, names = with_metrics(rows.assign(**{PREDICTION: predictions}), metrics)
    predictors = (PREDICTION, *names)
    return Evaluation(frame, agreement_table(frame, predictors, fits=fits), predictors, title)


def evaluate_checkpoint(checkpoint: str | Path, db: str | Path | None = None, part: str = "test",
                        device: str | None = None, batch_size: int = 64, workers: int = 2, amp: str = "auto",
                        fits: bool = True, progress: bool = True, table: SampleTable | None = None) -> Evaluation:
    """Predict the images of ``part`` (train / val / test of the run's split, or all) of ``db`` (default: the
    run's database) with a checkpoint and compare with the label it was trained for."""
    import torch
    from tqdm import tqdm

    from learning.checkpoint import load_checkpoint, model_from_checkpoint
    from learning.data.dataset import QualityDataset
    from learning.data.loader import EpochSampler, make_loader
    from learning.data.table import read_database
    from learning.data.views import protocol_views
    from learning.prediction import autocast_dtype, predict_batches
    from learning.splits import Split

    payload = load_checkpoint(checkpoint)
    settings = payload["settings"]
    same_db = db is None or Path(db).resolve() == Path(settings["db"]).resolve()
    db = settings["db"] if db is None else db
    table = table or read_database(db, settings["subset"], settings["label"], settings["aggregation"],
                                   settings["format"] if same_db else "auto")
    sources = Split.from_dict(payload["split"]).part(part) if part != "all" else table.source_ids
    rows = table.of_sources(sources)
    if rows.empty:
        raise ValueError(f"no labelled image of the {part} sources in {db}")
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model_from_checkpoint(payload, target)
    region = settings["region_size"] if "region_view" in model.inputs else None
    views = protocol_views(False, settings["resize"], settings["crop"], settings["square_resize"], region)
    dataset = QualityDataset(rows, views)
    loader = make_loader(dataset, EpochSampler(len(dataset), 0, False, False), batch_size, workers,
                         target.type == "cuda", 0)
    batches = tqdm(loader, total=len(loader), unit="batch", desc="predict", disable=not progress, dynamic_ncols=True)
    indices, scores = predict_batches(model, batches, target, autocast_dtype(target, amp))
    predictions = np.full(len(rows), math.nan)
    predictions[indices] = scores
    metrics = hvs_metrics(db, settings["subset"]) if table.format == "manifests" else {}
    title = f"{payload['model']['name']} on {len(rows)} {part} images of {len(set(rows['source_id']))} sources, " \
            f"{table.label} label ({settings['subset']})"
    return evaluate_rows(rows, predictions, metrics, title, fits)


def _plot_agreement(evaluation: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = evaluation.agreement
    shown = table[table["grouping"].isin(("all", "distortion"))]
    groups = ["all"] + sorted(set(shown["group"]) - {"all"})
    width = 0.8 / len(evaluation.predictors)
    fig, ax = plt.subplots(figsize=(1.5 + max(6.0, 0.75 * len(groups) * max(1, len(evaluation.predictors) / 2)), 3.8),
                           dpi=110)
    for k, predictor in enumerate(evaluation.predictors):
        values = shown[shown["predictor"] == predictor].set_index("group")["srcc"].reindex(groups)
        ax.bar(np.arange(len(groups)) + (k - (len(evaluation.predictors) - 1) / 2) * width, values.abs(), width,
               label=predictor)
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("|SRCC| with the label")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: bars reach the top
    ax.set_title(evaluation.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_scatter(evaluation: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = evaluation.predictions
    overall = evaluation.agreement.query("predictor == @PREDICTION and grouping == 'all'").iloc[0]
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=110)
    for k, (distortion, members) in enumerate(frame.groupby("distortion", sort=True)):
        ax.scatter(members["label"], members[PREDICTION], s=6, alpha=0.5, color=plt.cm.tab10(k % 10), label=distortion)
    low = float(np.nanmin([frame["label"].min(), frame[PREDICTION].min()]))
    high = float(np.nanmax([frame["label"].max(), frame[PREDICTION].max()]))
    ax.plot([low, high], [low, high], color="gray", lw=0.8)
    ax.set_xlabel("label")
    ax.set_ylabel("prediction")
    ax.set_title(f"SRCC {overall['srcc']:.3f}, PLCC {overall['plcc']:.3f}\n{evaluation.title}", fontsize=8)
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_evaluation(evaluation: Evaluation, folder: str | Path) -> list[Path]:
    """predictions and agreement as Parquet and CSV, agreement.png and scatter.png; returns the paths."""
    from manifests.atomic import replace_atomically

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("predictions", evaluation.predictions), ("agreement", evaluation.agreement)):
        for suffix, write in ((".parquet", frame.to_parquet), (".csv", frame.to_csv)):
            path = folder / f"{name}{suffix}"
            replace_atomically(path, functools.partial(write, index=False))
            written.append(path)
    for name, plot in (("agreement.png", _plot_agreement), ("scatter.png", _plot_scatter)):
        path = folder / name
        plot(evaluation, path)
        written.append(path)
    return written
