"""The database report on a small synthetic database written in the manifests' real formats (Parquet parts per
shard, settings JSON, stage stats, real PNG files): every figure is checked against an independent computation
(pandas merges and group-bys on the raw tables, numpy, learning.correlation on pandas-joined arrays), and the
partial-database, CLI and dataset-card behaviours against what they must say."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from degradations import output_name, region_configs
from learning.correlation import agreement
from manifests.layout import SubsetLayout
from manifests.schemas import CLS_PREDICTIONS, METRIC_VALUES, MMOS, ORACLE_LABELS, TABLE_SCHEMAS
from pipeline.report import __main__ as cli
from pipeline.report.aggregate import Cells, distribution, mirrored_summary
from pipeline.report.build import build_report
from pipeline.report.correlations import FIT_POINTS, IDENTICAL_PSNR
from pipeline.report.paper import paper_figures
from pipeline.report.settings import ReportSettings
from pipeline.report.tables import read_subset

DISTORTIONS = ("contrast", "pixelate")
SHARDS = {"shard-a": ("alpha", "bravo"), "shard-b": ("charlie",)}
ORACLES = ("efficientnet_lite0", "my_model")  # a registered oracle and a user's own
FAILED_TYPE = ("charlie", "pixelate")  # its 25 images failed
UNDEFINED = "bravo_contrast_3"  # its accuracy is undefined
HURT = {"contrast": 1.0, "pixelate": 0.6}
SOURCE_OFFSET = {"alpha": 0.0, "bravo": 0.05, "charlie": 0.1}
SIZE = (48, 32)


def quality(source: str, distortion: str, roi: int, bg: int) -> float:
    """The known answer: falls with both levels, the ROI level weighing more; shifted per source."""
    return max(0.0, 1.0 - HURT[distortion] * (0.6 * (roi - 1) + 0.4 * (bg - 1)) / 4 - SOURCE_OFFSET[source])


def oracle_values(oracle: str, q: float) -> tuple[float, float]:
    return (q, q / 2) if oracle == ORACLES[0] else (q * q, q / 3)


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def write_database(out: Path) -> Path:
    """The synthetic cls subset (see the module constants), with real PNGs, stats and settings."""
    layout = SubsetLayout.of(out, "cls")
    generation = layout.generation_store()
    rng = np.random.default_rng(0)
    for shard, sources in SHARDS.items():
        source_rows, image_rows, label_rows, mmos_rows, metric_rows = [], [], [], [], {"ssim": [], "lpips": []}
        for source in sources:
            photo = rng.integers(0, 255, (SIZE[1], SIZE[0], 3), np.uint8)
            layout.src_images.mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo).save(layout.src_images / f"{source}.png")
            images_ok = 0
            for distortion in DISTORTIONS:
                for config in region_configs():
                    name = output_name(source, distortion, config)
                    image_id, roi, bg = name[:-4], config.roi_level, config.bg_level
                    row = {"image_id": image_id, "source_id": source, "distortion": distortion,
                           "region": config.region, "roi_level": roi, "bg_level": bg}
                    if (source, distortion) == FAILED_TYPE:
                        image_rows.append(row | {"status": "failed", "error": "OSError: disk full (simulated)"})
                        continue
                    path = f"images/{source}/{name}"
                    (layout.root / path).parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray((photo * (1 - 0.1 * roi)).astype(np.uint8)).save(layout.root / path)
                    psnr = math.inf if (roi, bg) == (1, 1) and distortion == "contrast" and source == "alpha" \
                        else 40.0 - 3 * (roi + bg) + 10 * SOURCE_OFFSET[source]
                    image_rows.append(row | {"path": path, "psnr": psnr, "bytes": 1000 + roi, "status": "ok"})
                    images_ok += 1
                    q = quality(source, distortion, roi, bg)
                    values = [oracle_values(o, q) for o in ORACLES]
                    for oracle, (consistency, accuracy) in zip(ORACLES, values):
                        if image_id == UNDEFINED:
                            accuracy = None
                        label_rows.append({"image_id": image_id, "source_id": source, "oracle": oracle,
                                           "consistency": consistency, "accuracy": accuracy,
                                           "composite": None if accuracy is None else 0.5 * (consistency + accuracy),
                                           "untrained": False})
                    c = float(np.mean([v[0] for v in values]))
                    a = None if image_id == UNDEFINED else float(np.mean([v[1] for v in values]))
                    mmos_rows.append({"image_id": image_id, "source_id": source, "path": path, "oracles": 2,
                                      "mean_consistency": c, "std_consistency": 0.0, "weighted_consistency": c,
                                      "mean_accuracy": a, "std_accuracy": 0.0, "weighted_accuracy": a,
                                      "composite": None if a is None else 0.5 * (c + a), "untrained": False,
                                      "note": "no ground truth for this image (simulated)" if a is None else None})
                    metric_rows["ssim"].append({"image_id": image_id, "source_id": source,
                                                "value": 1 - 0.05 * (roi + bg) + 0.01 * rng.random(),
                                                "upsampled": False, "status": "ok"})
                    failed_lpips = image_id == "alpha_pixelate_5"
                    metric_rows["lpips"].append({"image_id": image_id, "source_id": source,
                                                 "value": None if failed_lpips else 0.04 * roi + 0.02 * bg,
                                                 "upsampled": roi == 1, "status": "failed" if failed_lpips else "ok",
                                                 "error": "RuntimeError: out of memory (simulated)"
                                                 if failed_lpips else None})
            source_rows.append({"source_id": source, "shard": shard, "file_name": f"{source}.png", "width": SIZE[0],
                                "height": SIZE[1], "label": 281, "label_name": "tabby", "mask_method": "saliency",
                                "mask_coverage": 0.25 + 0.1 * len(source_rows), "mask_flag": "ok",
                                "images_ok": images_ok, "distortions": list(DISTORTIONS), "status": "ok"})
        if shard == "shard-b":
            source_rows.append({"source_id": "delta", "shard": shard, "file_name": "delta.png", "status": "failed",
                                "error": "SourceError: cannot decode delta.png (simulated)"})
        generation.publish(shard, {"sources": _table(source_rows, TABLE_SCHEMAS["sources"]),
                                   "images": _table(image_rows, TABLE_SCHEMAS["images"]),
                                   "candidates": TABLE_SCHEMAS["candidates"].empty_table()})
        layout.label_store("cls").publish(shard, {"oracle_labels": _table(label_rows, ORACLE_LABELS),
                                                  "mmos": _table(mmos_rows, MMOS)})
        for metric, rows in metric_rows.items():
            layout.metric_store(metric).publish(shard, {metric: _table(rows, METRIC_VALUES)})
        for oracle in ORACLES:
            layout.prediction_store(oracle, "cls").publish(shard, {oracle: CLS_PREDICTIONS.empty_table()})
        stats = {"stage": "generate", "unit": shard, "items_ok": 50 if shard == "shard-a" else 25,
                 "items_failed": 0 if shard == "shard-a" else 25, "seconds": 10.0 if shard == "shard-a" else 20.0,
                 "errors": [] if shard == "shard-a" else ["charlie_pixelate_1: OSError: disk full (simulated)"],
                 "counts": {"sources_ok": len(sources), "mask_method:saliency": len(sources)}}
        layout.stats_dir("generate").mkdir(parents=True, exist_ok=True)
        (layout.stats_dir("generate") / f"{shard}.json").write_text(json.dumps(stats))
        layout.stats_dir("score").mkdir(parents=True, exist_ok=True)
        (layout.stats_dir("score") / f"{shard}-{'+'.join(ORACLES)}.json").write_text(json.dumps(
            {"stage": "score", "unit": shard, "items_ok": 100, "items_failed": 1, "seconds": 4.0,
             "errors": ["alpha_contrast_2: OSError: truncated PNG (simulated)"], "counts": {"predictions": 100}}))
    layout.settings_file.write_text(json.dumps({"distortion_order": list(DISTORTIONS), "seed": 7,
                                                "distortions": {d: {} for d in DISTORTIONS}, "subset": "cls",
                                                "selected_ranks": [1, 5, 8, 10, 12],
                                                "mask": {"default_method": "saliency"}}))
    layout.plan_file.write_text(json.dumps({"listed_sources": 5, "images_per_source": 50}))
    layout.run_file.write_text(json.dumps({"source": None, "subset": "cls"}))
    (layout.label_store("cls").root / "labels.json").write_text(json.dumps(
        {"oracles": [{"name": o, "untrained": False} for o in ORACLES], "selection": "auto",
         "options": {"composite_weight": 0.5, "pseudo_gt_score": 0.5, "empty_gt_score": 0.5, "oracle_weights": {}},
         "annotations": None}))
    (layout.manifests / "oracles").mkdir()
    for oracle in ORACLES:
        (layout.manifests / "oracles" / f"{oracle}.json").write_text(json.dumps(
            {"oracle": oracle, "task": "cls", "untrained": False, "weights": f"{oracle}-weights"}))
    return out


def joined(out: Path) -> pd.DataFrame:
    """Images joined to MMOS and metrics by pandas, straight from the Parquet folders: the independent view."""
    manifests = SubsetLayout.of(out, "cls").manifests
    images = pd.read_parquet(manifests / "images")
    images = images[images.status == "ok"]
    mmos = pd.read_parquet(manifests / "labels" / "cls" / "mmos")
    frame = images.merge(mmos[["image_id", "weighted_consistency", "weighted_accuracy", "composite"]], on="image_id")
    for metric in ("ssim", "lpips"):
        values = pd.read_parquet(manifests / "metrics" / metric)
        values = values[values.status == "ok"][["image_id", "value"]].rename(columns={"value": metric})
        frame = frame.merge(values, on="image_id", how="left")
    return frame.rename(columns={"weighted_consistency": "consistency", "weighted_accuracy": "accuracy"})


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    return write_database(tmp_path_factory.mktemp("report") / "out")


@pytest.fixture(scope="module")
def report(database) -> dict:
    """The report of the synthetic database (not to be changed: copy the database first)."""
    build_report(ReportSettings(database, workers=1))
    return json.loads((database / "report" / "stats.json").read_text())


# --- the pure figures ------------------------------------------------------------------------------------


def test_distribution_matches_numpy():
    values = np.array([0.0, 0.1, 0.1, 0.55, 1.0, np.nan])
    summary = distribution(values, bins=10)
    assert summary["n"] == 5 and summary["undefined"] == 1
    assert summary["histogram"] == np.histogram(values[:5], bins=10, range=(0, 1))[0].tolist()
    assert summary["mean"] == pytest.approx(np.mean(values[:5]))
    assert summary["quantiles"]["0.5"] == pytest.approx(0.1)


def test_cells_region_severity_grid_and_mirrored_pairs_on_a_known_grid():
    """One distortion, one image per cell, label = 10 * roi + bg: every derived figure is known by hand."""
    roi, bg = np.meshgrid(np.arange(1, 6), np.arange(1, 6), indexing="ij")
    values = (10 * roi + bg).ravel().astype(float)
    cells = Cells.of(values, np.zeros(25, np.int64), ((roi - 1) * 5 + (bg - 1)).ravel(), ["only"])
    assert np.array_equal(cells.grid(), (10 * roi + bg).astype(float))
    by_region = cells.region_severity()
    assert by_region["UD"][0].tolist() == [11, 22, 33, 44, 55]
    assert math.isnan(by_region["ROI-DD"][0][0]) and math.isnan(by_region["BG-DD"][0][0])
    assert by_region["ROI-DD"][0][2] == pytest.approx(np.mean([31, 32]))  # severity 3: (3,1), (3,2)
    assert by_region["BG-DD"][0][4] == pytest.approx(np.mean([15, 25, 35, 45]))
    pairs = {(r["stronger"], r["weaker"]): r for r in cells.mirrored_pairs() if r["distortion"] == "only"}
    assert pairs[(5, 1)]["roi_dd"] == 51 and pairs[(5, 1)]["bg_dd"] == 15 and pairs[(5, 1)]["bg_minus_roi"] == -36
    summary = mirrored_summary(cells.mirrored_pairs())
    assert summary == {"pairs": 10, "bg_dd_higher": 0, "equal": 0,
                       "mean_bg_minus_roi": pytest.approx(np.mean([9 * (b - r) for r in range(2, 6)
                                                                   for b in range(1, r)]))}


def test_paper_figures_are_the_published_ones():
    assert paper_figures("cls", "composite", "psnr") == {"srcc": 0.2388, "plcc": 0.2292, "krcc": 0.1661,
                                                         "rmse": 0.2928}
    assert paper_figures("cls", "composite", "dists")["srcc"] == 0.3878
    assert paper_figures("cls", "composite", "dists")["plcc"] == 0.3804
    assert paper_figures("det", "accuracy", "lpips") == {"srcc": 0.4064, "plcc": 0.3987, "rmse": 0.2598}
    assert paper_figures("ins", "consistency", "vsi") == {"srcc": 0.5757, "plcc": 0.5749, "rmse": 0.2481}
    assert paper_figures("cls", "composite", "ms_ssim") == {}


# --- reading and aggregating the manifests ---------------------------------------------------------------


def test_read_subset_aligns_labels_and_metrics_with_an_independent_join(database):
    subset = read_subset(database, "cls")
    frame = joined(database).set_index("image_id")
    assert subset.images.count == len(frame) == 125 and subset.images.rows == 150
    assert dict(subset.images.failed) == {"OSError: disk full (simulated)": 25}
    labels = subset.labels["cls"]
    for image_id in frame.index:
        shard = "shard-b" if image_id.startswith("charlie") else "shard-a"
        row = subset.images.ids.row(shard, image_id)
        for label in ("consistency", "accuracy", "composite"):
            expected = frame.loc[image_id, label]
            assert (math.isnan(labels.values[label][row]) and pd.isna(expected)) or \
                labels.values[label][row] == pytest.approx(expected), (image_id, label)
        assert subset.metrics["ssim"].values[row] == pytest.approx(frame.loc[image_id, "ssim"])
    assert labels.undefined["accuracy"] == {"no ground truth for this image (simulated)": 1}
    assert subset.metrics["lpips"].failed == {"RuntimeError: out of memory (simulated)": 1}
    assert subset.metrics["lpips"].computed == 124
    assert subset.metrics["lpips"].upsampled == int((frame.roi_level == 1).sum())  # the failed one has ROI level 5


def test_parts_written_before_a_column_existed_read_as_nulls(database, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    shutil.copytree(database, out)
    layout = SubsetLayout.of(out, "cls")
    for path, column in ((layout.generation_store().part_path("sources", "shard-b"), "mask_note"),
                         (layout.metric_store("lpips").part_path("lpips", "shard-a"), "upsampled")):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns([column]), path)
    subset = read_subset(out, "cls")
    assert len(subset.sources) == 4 and subset.sources.mask_note.isna().all()
    assert subset.metrics["lpips"].upsampled == 5  # charlie's five ROI-level-1 contrast images only
    assert subset.metrics["lpips"].computed == 124


def test_mmos_tables_equal_pandas_group_bys(report, database):
    frame = joined(database)
    frame["severity"] = frame[["roi_level", "bg_level"]].max(axis=1)
    section = report["subsets"]["cls"]["tasks"]["cls"]
    by_region = section["region_severity"]["composite"]
    for (distortion, region, severity), mean in frame.groupby(["distortion", "region", "severity"]).composite.mean() \
            .items():
        index = by_region["distortions"].index(distortion)
        assert by_region[region][index][severity - 1] == pytest.approx(mean), (distortion, region, severity)
    grid = frame.groupby(["roi_level", "bg_level"]).accuracy.mean()
    for (roi, bg), mean in grid.items():
        assert section["grid"]["accuracy"][roi - 1][bg - 1] == pytest.approx(mean)
    ud = frame[frame.region == "UD"].groupby("roi_level").consistency.mean()
    assert section["ud_by_level"]["consistency"] == pytest.approx(ud.tolist())
    assert section["distributions"]["composite"]["undefined"] == 1
    assert section["distributions"]["composite"]["n"] == 124


def test_mirrored_pairs_and_severity_falls_as_built(report):
    """The known answer weighs the ROI level more: every mirrored BG-DD mean is higher than its ROI-DD pair."""
    section = report["subsets"]["cls"]["tasks"]["cls"]
    assert section["mirrored_summary"]["consistency"]["pairs"] == 20
    assert section["mirrored_summary"]["consistency"]["bg_dd_higher"] == 20
    assert section["severity_srcc"]["composite"] < -0.9
    levels = section["ud_by_level"]["composite"]
    assert all(a > b for a, b in zip(levels, levels[1:]))


def test_per_oracle_robustness_equals_pandas(report, database):
    manifests = SubsetLayout.of(database, "cls").manifests
    labels = pd.read_parquet(manifests / "labels" / "cls" / "oracle_labels")
    images = pd.read_parquet(manifests / "images")
    frame = labels.merge(images[["image_id", "distortion", "roi_level", "bg_level", "region"]], on="image_id")
    robustness = report["subsets"]["cls"]["tasks"]["cls"]["robustness"]
    assert robustness["oracles"] == list(ORACLES)
    ud = frame[frame.region == "UD"].groupby(["oracle", "distortion", "roi_level"]).accuracy.mean()
    for (oracle, distortion, level), mean in ud.items():
        o, d = robustness["oracles"].index(oracle), robustness["distortions"].index(distortion)
        assert robustness["ud_means"]["accuracy"][o][d][level - 1] == pytest.approx(mean)
    overall = {r["oracle"]: r for r in robustness["overall"]}
    for oracle, mean in frame.groupby("oracle").consistency.mean().items():
        assert overall[oracle]["consistency"] == pytest.approx(mean)
    rows = {r["name"]: r for r in report["subsets"]["cls"]["oracles"]}
    assert rows["efficientnet_lite0"]["licence"] == "Apache-2.0" and rows["my_model"]["licence"] == "unknown"
    assert rows["my_model"]["labelled_images"] == 125 and rows["my_model"]["in_labels"]


def test_correlations_equal_agreement_on_pandas_joined_arrays(report, database):
    frame = joined(database)
    rows = {(r["label"], r["metric"]): r for r in report["subsets"]["cls"]["correlations"]["rows"]}
    assert {m for _, m in rows} == {"psnr", "ssim", "lpips"}  # PSNR from the images manifest: no psnr table
    for label in ("consistency", "accuracy", "composite"):
        for metric, sign in (("ssim", 1.0), ("lpips", -1.0)):
            keep = frame[label].notna() & frame[metric].notna()
            expected = agreement(sign * frame.loc[keep, metric].to_numpy(), frame.loc[keep, label].to_numpy(),
                                 max_fit_points=FIT_POINTS)
            row = rows[(label, metric)]
            assert row["negated"] == (sign < 0)
            for key in ("n", "srcc", "krcc", "plcc", "plcc_l4", "plcc_l5", "rmse_l4", "rmse_l5"):
                assert row[key] == pytest.approx(expected[key]), (label, metric, key)
        psnr = frame.psnr.replace(np.inf, IDENTICAL_PSNR)
        keep = frame[label].notna()
        expected = agreement(psnr[keep].to_numpy(), frame.loc[keep, label].to_numpy())
        assert rows[(label, "psnr")]["srcc"] == pytest.approx(expected["srcc"])
        assert rows[(label, "psnr")]["origin"] == "images manifest"
    assert rows[("composite", "psnr")]["paper"] == paper_figures("cls", "composite", "psnr")
    assert rows[("composite", "lpips")]["srcc"] > 0.8  # negated: agrees with the known answer


def test_test_split_restricts_the_correlations(database, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(database, out)
    split = tmp_path / "miqa_cls_val.csv"
    split.write_text("Image Name,Category,Quality Score\nalpha.png,x,\ncharlie.png,x,\nnot_here.JPEG,x,\n")
    assert cli.main([str(out), "--test-split", f"cls={split}", "--workers", "1", "--examples", "0"]) == 0
    stats = json.loads((out / "report" / "stats.json").read_text())
    correlations = stats["subsets"]["cls"]["correlations"]
    assert correlations["split"]["listed"] == 3 and correlations["split"]["found"] == 2
    frame = joined(out)
    tested = frame[frame.source_id.isin(["alpha", "charlie"])]
    row = next(r for r in correlations["rows"] if r["label"] == "consistency" and r["metric"] == "ssim")
    assert row["n"] == len(tested) == 75
    assert row["srcc"] == pytest.approx(agreement(tested.ssim, tested.consistency)["srcc"])
    assert not any("no test split" in g["what"] for g in stats["gaps"])


def test_counts_failures_stages_and_disk(report, database):
    cls = report["subsets"]["cls"]
    overview = cls["overview"]
    assert (overview["sources_ok"], overview["sources_failed"], overview["sources_listed"]) == (3, 1, 5)
    assert (overview["images_ok"], overview["images_failed"]) == (125, 25)
    assert overview["mask_methods"] == {"saliency": 3} and overview["mask_coverage"]["max"] == pytest.approx(0.35)
    failures = {f["what"]: f for f in cls["failures"]}
    assert failures["sources (generate)"]["reasons"] == {"SourceError: cannot decode delta.png (simulated)": 1}
    assert failures["images (generate)"]["count"] == 25
    assert failures["predictions (score; from its unit stats)"]["reasons"] == {
        "OSError: truncated PNG (simulated)": 2}
    assert failures["lpips values (metrics)"]["count"] == 1
    assert failures["undefined cls accuracy labels"]["count"] == 1
    stages = {s["stage"]: s for s in cls["stages"]}
    assert stages["generate"]["units"] == 2 and stages["generate"]["worker_seconds"] == 30.0
    assert stages["generate"]["items_per_worker_second"] == pytest.approx(75 / 30)
    assert stages["generate"]["counts"]["sources_ok"] == 3
    disk = {d["folder"]: d for d in cls["disk"]}
    assert disk["miqa_cls/images"]["bytes"] == int(joined(database).bytes.sum())
    on_disk = sum(p.stat().st_size for p in (database / "miqa_cls" / "src_images").iterdir())
    assert disk["miqa_cls/src_images"] == {"folder": "miqa_cls/src_images", "bytes": on_disk, "files": 3,
                                           "how": "measured"}


def test_gaps_name_what_is_missing_with_commands(report):
    gaps = {(g["subset"], g["what"]): g for g in report["gaps"]}
    assert gaps[("det", "not generated")]["command"].startswith("python -m pipeline.generate --subset det --out ")
    whats = [w for s, w in gaps if s == "cls"]
    assert "1 of 5 listed sources not generated yet" in whats  # 3 done, 1 failed
    assert any("the paper's metrics psnr, vsi, dists are not computed" in w for w in whats)
    assert any(w.startswith("lpips: 1 images without a value") for w in whats)
    assert any(w.startswith("no test split given") for w in whats)


# --- the page, the plots, the thumbnails, the card ---------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources, self.links, self.ids, self.scripts = [], [], set(), 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "script" or tag == "link":
            self.scripts += 1


def test_page_is_self_contained_and_its_files_exist(report, database):
    folder = database / "report"
    page = (folder / "index.html").read_text()
    parser = _Links()
    parser.feed(page)
    assert parser.scripts == 0, "no script and no external stylesheet"
    assert len(parser.sources) == 8 + 2 * 8  # 8 plots, 2 strips of 8 (no third distortion)
    for source in parser.sources:
        assert not re.match(r"^[a-z]+:", source), source  # relative paths only
        with Image.open(folder / source) as image:
            assert image.size[0] > 0
    for link in parser.links:
        if link.startswith("#"):
            assert link[1:] in parser.ids, link
        else:
            assert not re.match(r"^[a-z]+:", link) and (folder / link).exists(), link
    assert "0.2388" in page and "0.3878" in page  # the paper's figures beside ours
    assert "4-parameter logistic" in page
    assert "python -m pipeline.generate --subset det" in page
    assert "the metrics stage's table was\nabsent" in page  # this database's PSNR comes from the images manifest
    from pipeline.report.render import render_report

    computed = json.loads(json.dumps(report))  # as if the metrics stage had measured PSNR
    for subset in computed["subsets"].values():
        for row in (subset.get("correlations") or {}).get("rows", []):
            row["origin"] = "metrics stage"
    assert "table was\nabsent" not in render_report(computed, None)


def test_plots_are_pngs_of_the_expected_kinds(report, database):
    plots = report["subsets"]["cls"]["tasks"]["cls"]["plots"]
    assert set(plots) == {"histograms", "severity", "grid", "mirrored", "robustness_accuracy",
                          "robustness_consistency"}
    for relative in plots.values():
        with Image.open(database / "report" / relative) as image:
            assert image.format == "PNG" and image.size[0] >= 400


def test_example_strips_are_thumbnails_with_their_figures(report, database):
    strips = report["subsets"]["cls"]["examples"]
    assert [(s["source_id"], s["distortion"]) for s in strips] == [("alpha", "contrast"), ("bravo", "pixelate")]
    tiles = strips[0]["tiles"]
    assert [t["heading"] for t in tiles] == ["source", "UD 1", "UD 2", "UD 3", "UD 4", "UD 5",
                                             "ROI-DD (5, 1)", "BG-DD (1, 5)"]
    with Image.open(database / "report" / tiles[3]["file"]) as image:
        assert image.format == "JPEG" and image.size == SIZE  # small sources are not enlarged
    q = quality("alpha", "contrast", 3, 3)
    c, a = np.mean([oracle_values(o, q)[0] for o in ORACLES]), np.mean([oracle_values(o, q)[1] for o in ORACLES])
    ssim = joined(database).set_index("image_id").loc["alpha_contrast_3", "ssim"]
    assert tiles[3]["values"] == {"PSNR (dB)": f"{40 - 18:.1f}", "SSIM": f"{ssim:.3f}", "cls consistency": f"{c:.2f}",
                                  "cls accuracy": f"{a:.2f}", "cls composite": f"{0.5 * (c + a):.2f}"}
    assert tiles[1]["values"]["PSNR (dB)"] == "inf" and tiles[0]["values"] == {}
    assert strips[0]["rows"] == list(tiles[3]["values"])


def test_dataset_card_says_what_the_database_is(report, database):
    card = (database / "README.md").read_text()
    import degradations

    contrast = degradations.get("contrast")
    assert " ".join(f"{c[0]:g}" for c in contrast.candidates) in card
    assert "scikit-image's data licences" in card  # the sample set's sources
    assert "| efficientnet_lite0 | cls | pypi |" in card and "Apache-2.0" in card
    assert "arXiv:2508.19850" in card and "Run seed: 7." in card
    assert re.search(r"Project commit: `([0-9a-f]{40}( \+ local changes)?|unknown)`", card)
    assert re.search(r"numpy \d", card) and "composite_weight=0.5" in card


def test_a_second_report_removes_files_the_first_wrote_and_this_one_does_not(database, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(database, out)
    stale = out / "report" / "plots" / "gone.png"
    stale.write_bytes(b"old")
    assert cli.main([str(out), "--workers", "1", "--examples", "0", "--no-card"]) == 0
    assert not stale.exists() and not list((out / "report" / "examples").iterdir())


def test_only_generated_database_reports_what_is_missing(database, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(database, out)
    manifests = SubsetLayout.of(out, "cls").manifests
    for folder in ("labels", "metrics", "predictions", "oracles"):
        shutil.rmtree(manifests / folder)
    assert cli.main([str(out), "--workers", "1", "--examples", "1"]) == 0
    stats = json.loads((out / "report" / "stats.json").read_text())
    whats = {g["what"]: g["command"] for g in stats["gaps"]}
    assert whats["no cls oracle has scored this subset: no cls labels"] == \
        f"python -m pipeline.score --models cls --out {out}"
    assert whats["no HVS metric tables: correlation tables use the generation's PSNR only"].startswith(
        f"python -m pipeline.metrics --out {out} --metrics psnr,ssim,vsi,lpips,dists")
    assert stats["subsets"]["cls"]["tasks"] == {} and stats["subsets"]["cls"]["correlations"] is None
    page = (out / "report" / "index.html").read_text()
    assert "No labels yet: nothing to correlate." in page


def test_labels_of_random_weight_oracles_are_flagged(database, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    shutil.copytree(database, out)
    store = SubsetLayout.of(out, "cls").label_store("cls")
    path = store.part_path("mmos", "shard-a")
    table = pq.read_table(path)
    pq.write_table(table.set_column(table.schema.get_field_index("untrained"), "untrained",
                                    pa.array([True] * table.num_rows)), path)
    assert cli.main([str(out), "--workers", "1", "--examples", "0", "--no-card"]) == 0
    stats = json.loads((out / "report" / "stats.json").read_text())
    assert stats["subsets"]["cls"]["tasks"]["cls"]["untrained"] is True
    assert any("random-weight (untrained) oracles" in g["what"] for g in stats["gaps"])
    assert "made by random-weight (untrained) oracles" in (out / "report" / "index.html").read_text()


# --- the command line ------------------------------------------------------------------------------------


def test_help_and_validation_do_not_import_torch(tmp_path):
    code = ("import sys; from pipeline.report.__main__ import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"assert main([{str(tmp_path / 'missing')!r}]) == 2\n"
            "assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules, 'heavy import'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("argument, message", [
    ("cls", "expected SUBSET=PATH"), ("ins=x.csv", "expected SUBSET=PATH"), ("cls=/no/such.csv", "no file"),
])
def test_bad_test_split_is_one_line(database, argument, message, capsys):
    assert cli.main([str(database), "--test-split", argument]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_split_file_without_a_known_column_is_one_line(database, tmp_path, capsys):
    split = tmp_path / "bad.csv"
    split.write_text("name\nalpha\n")
    assert cli.main([str(database), "--test-split", f"cls={split}", "--no-card"]) == 2
    error = capsys.readouterr().err.strip()
    assert "expected a column 'Image Name'" in error and "\n" not in error


def test_folder_without_a_subset_is_one_line(tmp_path, capsys):
    assert cli.main([str(tmp_path)]) == 2
    assert "no generated subset under" in capsys.readouterr().err


def test_python_api_writes_the_same_report_and_answers_bad_input_as_usage(database, tmp_path):
    import miqd

    out = tmp_path / "out"
    shutil.copytree(database, out)
    split = tmp_path / "miqa_cls_val.csv"
    split.write_text("Image Name,Category,Quality Score\nalpha.png,x,\n")
    result = miqd.report(str(out), test_splits={"cls": str(split)}, workers=1, examples=0, card=False)
    assert result.index == out / "report" / "index.html" and result.card is None
    stats = json.loads(result.stats.read_text())
    assert stats["subsets"]["cls"]["correlations"]["split"]["found"] == 1
    with pytest.raises(miqd.UsageError, match="not a folder"):
        miqd.report(tmp_path / "nowhere")
    with pytest.raises(miqd.UsageError, match="unknown option"):
        miqd.report(out, colour="red")
    with pytest.raises(miqd.UsageError, match="unknown subsets"):
        miqd.report(out, test_splits={"seg": split})
