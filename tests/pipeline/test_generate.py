"""End-to-end generation: layout, manifests, bad input, resume, crash repair, worker-count independence."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import masks
from pipeline import generate, status
from manifests.layout import SubsetLayout
from tests.conftest import load_photo

FAST = "contrast,pixelate"  # two cheap types keep the end-to-end tests quick: 50 images per source


@pytest.fixture
def source_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    for name in ("astronaut", "coffee", "rocket"):
        Image.fromarray(load_photo(name, (96, 72))).save(folder / f"{name}.jpg", quality=90)
    Image.fromarray(load_photo("chelsea", (81, 60))).convert("L").save(folder / "gray_cat.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return folder


def run(*args: str) -> int:
    return generate.main(["--workers", "1", "--distortions", FAST, *args])


def tree_digest(root: Path) -> dict[str, str]:
    """Hash of every published file (not the lock, not the per-unit stats, which hold timings)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock" and "stats" not in p.parts
    }


def test_generate_writes_release_layout_and_manifests(tmp_path, source_folder, capsys):
    out = tmp_path / "out"
    assert run("--subset", "det", "--source", str(source_folder), "--out", str(out), "--shard-size", "2") == 1
    layout = SubsetLayout.of(out, "det")
    sources = pd.read_parquet(layout.manifests / "sources")
    images = pd.read_parquet(layout.manifests / "images")
    assert sorted(sources.source_id) == ["astronaut", "broken", "coffee", "gray_cat", "rocket"]
    broken = sources.set_index("source_id").loc["broken"]
    assert broken.status == "failed" and "broken.jpg" in broken.error or "cannot" in broken.error.lower()
    ok = sources[sources.status == "ok"]
    assert (ok.images_ok == 50).all() and set(ok.mask_method) == {masks.DEFAULT} and ok.mask_fallback.all()
    assert len(images) == 4 * 50 and (images.status == "ok").all()
    for row in images.itertuples():
        data = (layout.root / row.path).read_bytes()
        assert len(data) == row.bytes
    png = cv2.imread(str(layout.root / "images/coffee/coffee_contrast_1.png"))
    assert png.shape == (72, 96, 3)
    assert (layout.root / "images/coffee/coffee_pixelate_fg_stronger_fg5_bg4.png").exists()
    assert (layout.root / "src_images/coffee.jpg").read_bytes() == (source_folder / "coffee.jpg").read_bytes()
    mask = cv2.imread(str(layout.mask_path("coffee")), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (72, 96) and set(np.unique(mask)) <= {0, 255}
    candidates = pd.read_parquet(layout.manifests / "candidates")
    assert len(candidates) == 4 * 2 * 12 and candidates.severity.notna().sum() == 4 * 2 * 5
    capsys.readouterr()
    assert status.main([str(out)]) == 0
    report = capsys.readouterr().out
    assert "sources: 4 done, 1 failed, 0 left" in report and "images:  200 done, 0 failed" in report


def test_rerun_does_nothing_and_settings_must_match(tmp_path, source_folder, capsys):
    out = tmp_path / "out"
    args = ("--subset", "cls", "--source", str(source_folder), "--out", str(out))
    assert run(*args) == 1  # broken.jpg failed
    before = tree_digest(out)
    capsys.readouterr()
    assert run(*args) == 1
    assert "nothing to do" in capsys.readouterr().err
    assert tree_digest(out) == before
    assert run(*args, "--seed", "7") == 2
    assert "seed: existing 0, requested 7" in capsys.readouterr().err


def test_crash_leftovers_are_repaired_to_the_same_tree(tmp_path, source_folder):
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    args = ("--subset", "det", "--source", str(source_folder), "--shard-size", "2")
    assert run(*args, "--out", str(clean)) == 1
    assert run(*args, "--out", str(crashed)) == 1
    layout = SubsetLayout.of(crashed, "det")
    # What a kill at various instants leaves: a shard without its commit part, a half-written part,
    # a staged PNG, a truncated image whose manifest row was never committed.
    shard_part = sorted((layout.manifests / "sources").glob("*.parquet"))[0]
    shard_part.unlink()
    (layout.manifests / "images" / f".{shard_part.name}.99.tmp").write_bytes(b"PAR1 half")
    (layout.staging / shard_part.stem / "astronaut").mkdir(parents=True)
    (layout.staging / shard_part.stem / "astronaut" / "x.png").write_bytes(b"partial")
    truncated = next(layout.images.rglob("*.png"))
    truncated.write_bytes(truncated.read_bytes()[:100])
    assert run(*args, "--out", str(crashed)) == 1
    clean_tree, repaired_tree = tree_digest(clean), tree_digest(crashed)
    affected = {k for k in clean_tree if clean_tree[k] != repaired_tree.get(k)}
    # Only a file outside the redone shard can differ: the truncated one, if it was not in that shard.
    assert affected <= {str(truncated.relative_to(crashed))}
    assert set(repaired_tree) - set(clean_tree) == set()


def test_retry_failed_redoes_only_failed_sources(tmp_path, source_folder, capsys):
    out = tmp_path / "out"
    args = ("--subset", "det", "--source", str(source_folder), "--out", str(out))
    assert run(*args) == 1
    layout = SubsetLayout.of(out, "det")
    astronaut = layout.images / "astronaut" / "astronaut_contrast_1.png"
    stamp = astronaut.stat().st_mtime_ns
    Image.fromarray(load_photo("chelsea", (64, 48))).save(source_folder / "broken.jpg")
    capsys.readouterr()
    assert run(*args) == 1
    assert "1 failed sources" in capsys.readouterr().err
    assert run(*args, "--retry-failed") == 0
    sources = pd.read_parquet(layout.manifests / "sources").set_index("source_id")
    assert sources.loc["broken", "status"] == "ok" and sources.loc["broken", "images_ok"] == 50
    assert len(sources) == 5
    assert len(pd.read_parquet(layout.manifests / "images")) == 250
    assert astronaut.stat().st_mtime_ns == stamp  # untouched


def test_one_and_two_workers_give_identical_trees(tmp_path, source_folder):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ("--subset", "det", "--source", str(source_folder), "--distortions", FAST, "--shard-size", "1")
    assert generate.main(["--workers", "1", "--out", str(one), *args]) == 1
    assert generate.main(["--workers", "2", "--out", str(two), *args]) == 1
    assert tree_digest(one) == tree_digest(two)


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_gives_the_uninterrupted_tree(tmp_path, source_folder):
    import signal
    import subprocess
    import sys
    import time

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    args = ["--subset", "det", "--source", str(source_folder), "--distortions", FAST, "--shard-size", "1",
            "--workers", "1"]
    assert generate.main([*args, "--out", str(clean)]) == 1
    process = subprocess.Popen([sys.executable, "-m", "pipeline.generate", *args, "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    commits = killed / "miqa_det" / "manifests" / "sources"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(commits.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the client and its Dask workers, mid-run
    process.wait()
    assert 0 < len(list(commits.glob("*.parquet"))) < 5
    assert generate.main([*args, "--out", str(killed)]) == 1
    assert tree_digest(killed) == tree_digest(clean)
