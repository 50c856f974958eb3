"""The computation API: decoding once from files or arrays, chunking to a memory budget, and failures that stay
with their image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import hvs
from hvs.compute import decode, to_float
from tests.conftest import load_photo


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return load_photo("chelsea", (96, 80))


@pytest.fixture(scope="module")
def degraded(reference) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [np.clip(reference + rng.normal(0, s, reference.shape), 0, 255).astype(np.uint8) for s in (3, 10, 30)]


def _write_png(path, rgb: np.ndarray) -> str:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return str(path)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_png_decoding_equals_pils_convert_rgb(tmp_path, mode):
    image = Image.fromarray(load_photo("coffee", (64, 48))).convert(mode)
    image.save(tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as opened:
        expected = np.asarray(opened.convert("RGB"))
    np.testing.assert_array_equal(decode(tmp_path / "x.png"), expected)


def test_jpeg_is_read_as_the_release_read_it(tmp_path):
    Image.fromarray(load_photo("coffee", (64, 48))).save(tmp_path / "x.jpg", quality=80)
    with Image.open(tmp_path / "x.jpg") as opened:
        expected = np.asarray(opened.convert("RGB"))
    np.testing.assert_array_equal(decode(tmp_path / "x.jpg"), expected)


def test_paths_and_arrays_give_the_same_values(tmp_path, reference, degraded):
    scorer = hvs.Scorer("psnr,ssim,vsi", hvs.ComputeSettings("cpu"))
    paths = [_write_png(tmp_path / f"{i}.png", image) for i, image in enumerate(degraded)]
    assert scorer.score(reference, paths) == scorer.score(reference, degraded)


def test_a_bad_image_fails_alone(tmp_path, reference, degraded):
    scorer = hvs.Scorer("psnr,ssim", hvs.ComputeSettings("cpu"))
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "empty.png").write_bytes(b"")
    wrong_size = _write_png(tmp_path / "wrong.png", load_photo("chelsea", (80, 96)))
    inputs = [degraded[0], str(tmp_path / "missing.png"), str(tmp_path / "corrupt.png"), degraded[1],
              str(tmp_path / "empty.png"), wrong_size, degraded[2][:, :, :2]]
    results = scorer.score(reference, inputs)
    alone = scorer.score(reference, degraded[:2])
    for name, rows in results.items():
        assert [r.status for r in rows] == ["ok", "failed", "failed", "ok", "failed", "failed", "failed"]
        assert rows[0] == alone[name][0] and rows[3] == alone[name][1]
        errors = [r.error for r in rows]
        assert "No such file" in errors[1] and "missing.png" in errors[1]
        assert "not a readable PNG" in errors[2] and "not a readable PNG" in errors[4]
        assert "wrong.png is 80x96, its source 96x80" in errors[5]
        assert "RGB uint8" in errors[6]
        assert all("\n" not in e for e in errors if e)
        assert all(r.value is None for r in rows if r.error)


def test_a_metric_that_fails_on_one_image_fails_for_that_image_only(reference, degraded):
    scorer = hvs.Scorer("psnr,ssim", hvs.ComputeSettings("cpu"))
    expected = scorer.score(reference, degraded)
    psnr = scorer._calls["psnr"]

    def fragile(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if (x.amax(dim=(1, 2, 3)) == 0).any():
            raise RuntimeError("black image\nsecond line")
        return psnr(x, y)

    scorer._calls["psnr"] = fragile
    black = np.zeros_like(reference)
    results = scorer.score(reference, [degraded[0], black, degraded[1]])
    assert [r.status for r in results["psnr"]] == ["ok", "failed", "ok"]
    assert results["psnr"][1].error == "RuntimeError: black image second line"
    assert results["psnr"][0] == expected["psnr"][0] and results["psnr"][2] == expected["psnr"][1]
    assert [r.status for r in results["ssim"]] == ["ok", "ok", "ok"]  # other metrics unaffected


def test_non_finite_values_fail(reference, degraded):
    scorer = hvs.Scorer("psnr", hvs.ComputeSettings("cpu"))
    scorer._calls["psnr"] = lambda x, y: torch.tensor([float("nan"), 1.0, float("inf")])[: len(x)]
    rows = scorer.score(reference, degraded)["psnr"]
    assert [r.status for r in rows] == ["failed", "ok", "failed"]
    assert rows[0].error == "psnr is nan" and rows[2].error == "psnr is inf" and rows[1].value == 1.0


def test_bad_reference_and_settings_are_refused(degraded):
    scorer = hvs.Scorer("psnr", hvs.ComputeSettings("cpu"))
    with pytest.raises(ValueError, match="RGB uint8"):
        scorer.score(degraded[0].astype(np.float32), degraded)
    with pytest.raises(ValueError, match="memory_budget_mb"):
        hvs.ComputeSettings(memory_budget_mb=0)
    with pytest.raises(ValueError, match="unknown metric"):
        hvs.Scorer("psnr,nope")


def test_chunk_size_follows_the_budget_and_the_working_size():
    psnr = hvs.Scorer("psnr", hvs.ComputeSettings("cpu", memory_budget_mb=64))
    per_image = hvs.get("psnr").bytes_per_pixel * 500 * 375
    assert psnr.chunk_size(500, 375) == 64 * 2**20 // per_image
    assert hvs.Scorer("psnr", hvs.ComputeSettings("cpu", memory_budget_mb=1)).chunk_size(4000, 3000) == 1
    ms_ssim = hvs.Scorer("ms_ssim,psnr", hvs.ComputeSettings("cpu", memory_budget_mb=64))
    # MS-SSIM works on the 214x161 upsampled pair of a 120x90 source
    assert ms_ssim.chunk_size(120, 90) == 64 * 2**20 // (hvs.get("ms_ssim").bytes_per_pixel * 214 * 161)


def test_cpu_calls_of_per_pixel_metrics_stay_cache_sized(synthetic_weights_dir):
    scorer = hvs.Scorer("psnr,lpips", hvs.ComputeSettings("cpu", weights_dir=str(synthetic_weights_dir)))
    psnr, lpips = scorer.specs
    assert scorer.batch_cap(psnr, 500, 375) == 1
    assert scorer.batch_cap(psnr, 224, 224) == 2**18 // (224 * 224) == 5
    assert scorer.batch_cap(lpips, 500, 375) is None  # compute-bound, shares the reference's features


def test_tf32_is_off_while_scoring_and_restored(reference, degraded):
    scorer = hvs.Scorer("psnr", hvs.ComputeSettings("cpu"))
    seen = []
    psnr = scorer._calls["psnr"]

    def spy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return psnr(x, y)

    scorer._calls["psnr"] = spy
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        scorer.score(reference, degraded[:1])
        assert seen == [(False, False)]
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_pixels_are_scaled_to_the_metrics_data_range():
    batch = torch.tensor([0, 1, 128, 255], dtype=torch.uint8)
    assert torch.equal(to_float(batch, 1.0), batch.float() / 255)  # to_tensor's values, bit for bit
    assert torch.equal(to_float(batch, 255.0), batch.float())
