"""The metrics stage on the job driver: values, the upsampled record, resume, growth, retry, bad sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from manifests.layout import SubsetLayout
from pipeline import generate, metrics, status
from tests.conftest import load_photo


def run_metrics(out: Path, *args: str) -> int:
    return metrics.main(["--out", str(out), "--workers", "1", "--device", "cpu", "--subsets", "cls", *args])


def values(out: Path, metric: str) -> pd.DataFrame:
    return pd.read_parquet(SubsetLayout.of(out, "cls").manifests / "metrics" / metric).set_index("image_id")


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    """Two photos at 160x120 (below MS-SSIM's 161 px), one type; never measured (copy before use)."""
    tmp_path = tmp_path_factory.mktemp("metrics_db")
    folder = tmp_path / "src"
    folder.mkdir()
    for name in ("chelsea", "coffee"):
        Image.fromarray(load_photo(name, (160, 120))).save(folder / f"{name}.png")
    out = tmp_path / "out"
    assert generate.main(["--subset", "cls", "--source", str(folder), "--out", str(out), "--workers", "1",
                          "--distortions", "contrast"]) == 0
    return out


@pytest.fixture
def db(small_db, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(small_db, out)
    return out


def test_values_equal_the_generation_psnr_and_small_pairs_are_upsampled(db, capsys):
    assert run_metrics(db, "--metrics", "psnr,ms_ssim") == 0
    psnr, ms_ssim = values(db, "psnr"), values(db, "ms_ssim")
    assert len(psnr) == len(ms_ssim) == 50 and (psnr.status == "ok").all()
    images = pd.read_parquet(SubsetLayout.of(db, "cls").manifests / "images").set_index("image_id")
    finite = np.isfinite(images.psnr.reindex(psnr.index))
    assert np.allclose(psnr.value[finite], images.psnr.reindex(psnr.index)[finite], atol=1e-3)  # one formula
    assert not psnr.upsampled.any() and ms_ssim.upsampled.all()  # 120 px < 161: upsampled for MS-SSIM only
    strong = ms_ssim.loc["chelsea_contrast_5", "value"]
    assert 0 < strong < ms_ssim.loc["chelsea_contrast_1", "value"] <= 1
    capsys.readouterr()
    assert run_metrics(db, "--metrics", "psnr,ms_ssim") == 0
    assert "nothing to do" in capsys.readouterr().err
    assert status.main([str(db)]) == 0
    assert "ms_ssim: 2/2 shards current; 50 images done, 0 failed" in capsys.readouterr().out


def test_a_grown_database_gets_only_its_new_images_measured(db, small_db):
    assert run_metrics(db, "--metrics", "psnr") == 0
    before = values(db, "psnr")
    folder = small_db.parent / "src"
    assert generate.main(["--subset", "cls", "--source", str(folder), "--out", str(db), "--workers", "1",
                          "--distortions", "contrast,pixelate"]) == 0
    assert run_metrics(db, "--metrics", "psnr") == 0
    after = values(db, "psnr")
    assert len(after) == 100 and np.array_equal(after.loc[before.index, "value"], before.value)
    stats = [json.loads(p.read_text()) for p in (SubsetLayout.of(db, "cls").manifests / "stats" / "metrics").iterdir()]
    assert sum(s["items_ok"] for s in stats) == 50  # the last run: the pixelate images only


def test_failures_are_rows_with_reasons_and_retry_redoes_them(db, capsys):
    layout = SubsetLayout.of(db, "cls")
    broken = layout.images / "coffee" / "coffee_contrast_3.png"
    original = broken.read_bytes()
    broken.write_bytes(original[:50])
    (layout.src_images / "chelsea.png").unlink()  # a pristine source gone: its images fail, with why
    assert run_metrics(db, "--metrics", "psnr") == 1
    table = values(db, "psnr")
    failed = table[table.status == "failed"]
    assert set(failed.index) == {"coffee_contrast_3"} | {i for i in table.index if i.startswith("chelsea")}
    assert failed.loc["chelsea_contrast_1", "error"].startswith("pristine source chelsea.png")
    broken.write_bytes(original)
    capsys.readouterr()
    assert run_metrics(db, "--metrics", "psnr") == 1
    assert "26 failed values remain (--retry-failed redoes them)" in capsys.readouterr().err
    assert run_metrics(db, "--metrics", "psnr", "--retry-failed") == 1  # chelsea's source is still gone
    table = values(db, "psnr")
    assert table.loc["coffee_contrast_3", "status"] == "ok" and table.index.is_unique and len(table) == 50


def test_unknown_metrics_and_missing_weights_are_one_line(db, tmp_path, capsys):
    assert run_metrics(db, "--metrics", "psnr,nope") == 2
    assert "unknown metric(s) nope" in capsys.readouterr().err
    assert run_metrics(db, "--metrics", "lpips", "--offline", "--weights-dir", str(tmp_path / "w")) == 3
    err = capsys.readouterr().err
    assert "lpips" in err and "--weights-dir" in err and not (SubsetLayout.of(db, "cls").manifests / "metrics").exists()
