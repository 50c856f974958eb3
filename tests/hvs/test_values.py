"""Metric values against independent computations, known answers and a severity sweep, on real photos."""

from __future__ import annotations

import math

import numpy as np
import piq
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torchvision.transforms.functional import to_tensor

import hvs
from tests.conftest import load_photo


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise of ``sigma`` grey levels, rounded and clipped to uint8."""
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def values(scorer: hvs.Scorer, reference: np.ndarray, images: list[np.ndarray]) -> dict[str, list[float]]:
    results = scorer.score(reference, images)
    assert all(r.error is None for rows in results.values() for r in rows)
    return {name: [r.value for r in rows] for name, rows in results.items()}


@pytest.fixture(scope="module")
def all_metrics(synthetic_weights_dir) -> hvs.Scorer:
    return hvs.Scorer("all", hvs.ComputeSettings("cpu", weights_dir=str(synthetic_weights_dir)))


def test_psnr_is_the_formula_and_skimage():
    reference = load_photo("astronaut", (320, 240))
    images = [noisy(reference, s) for s in (2, 8, 30)]
    got = values(hvs.Scorer("psnr", hvs.ComputeSettings("cpu")), reference, images)["psnr"]
    for image, value in zip(images, got):
        mse = np.mean((image / 255.0 - reference / 255.0) ** 2)  # over all pixels and the three channels
        # piq adds 1e-8 to the MSE; float32 accumulation leaves about 1e-6 dB
        assert value == pytest.approx(-10 * math.log10(mse + 1e-8), abs=1e-4)
        # skimage has no epsilon: the two differ by 10 log10(1 + 1e-8 / mse) dB at most
        skimage_value = peak_signal_noise_ratio(reference, image, data_range=255)
        assert value == pytest.approx(skimage_value, abs=10 * math.log10(1 + 1e-8 / mse) + 1e-4)


@pytest.mark.parametrize("size, factor", [((320, 240), 1), ((640, 480), 2)])
def test_ssim_is_skimages_with_the_same_settings(size, factor):
    """piq: 11x11 gaussian window (sigma 1.5), population covariance, mean of the per-channel maps over the
    valid region, after averaging factor x factor blocks (factor = round(shorter side / 256)). skimage with
    ``gaussian_weights=True, use_sample_covariance=False`` on the block-averaged images is the same
    computation in float64 (its default, a 7x7 uniform window with sample covariance, differs by about 1e-2),
    so the tolerance only covers piq's float32: 2e-5."""
    reference = load_photo("coffee", size)
    images = [noisy(reference, s) for s in (3, 12, 40)]
    got = values(hvs.Scorer("ssim", hvs.ComputeSettings("cpu")), reference, images)["ssim"]

    def pooled(image: np.ndarray) -> np.ndarray:
        h, w = (d // factor * factor for d in image.shape[:2])
        blocks = image[:h, :w].astype(np.float64).reshape(h // factor, factor, w // factor, factor, 3)
        return blocks.mean(axis=(1, 3)) / 255

    for image, value in zip(images, got):
        expected = structural_similarity(pooled(reference), pooled(image), data_range=1.0, channel_axis=2,
                                         gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert value == pytest.approx(expected, abs=2e-5)


def test_ms_ssim_upsamples_small_pairs_and_says_so():
    reference = load_photo("chelsea", (120, 90))
    images = [noisy(reference, s) for s in (4, 20)]
    results = hvs.Scorer("ms_ssim,psnr", hvs.ComputeSettings("cpu")).score(reference, images)
    assert [r.upsampled for r in results["ms_ssim"]] == [True, True]
    assert [r.upsampled for r in results["psnr"]] == [False, False]  # the other metrics see native pixels

    def tensor(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        return to_tensor(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC)).unsqueeze(0)

    for image, ms_ssim, psnr in zip(images, results["ms_ssim"], results["psnr"]):
        # the release: both images of the pair resized by 161 / 90 with PIL's bicubic filter, 214x161
        expected = piq.multi_scale_ssim(tensor(image, (214, 161)), tensor(reference, (214, 161)))
        assert ms_ssim.value == pytest.approx(expected.item(), abs=1e-6)
        assert psnr.value == pytest.approx(piq.psnr(tensor(image, (120, 90)), tensor(reference, (120, 90))).item())


BEST = {"psnr": 80.0, "ssim": 1.0, "ms_ssim": 1.0, "vif_p": 1.0, "vsi": 1.0, "fsim": 1.0, "gmsd": 0.0,
        "lpips": 0.0, "dists": 0.0}  # PSNR: piq's 1e-8 added to a zero MSE gives 80 dB


def test_identical_images_give_each_metrics_best_value(all_metrics):
    assert set(BEST) == set(hvs.names())
    reference = load_photo("rocket", (200, 170))
    got = values(all_metrics, reference, [reference.copy()])
    for name, expected in BEST.items():
        assert got[name][0] == pytest.approx(expected, abs=1e-5), name


def test_quality_falls_with_noise_for_every_metric(all_metrics):
    reference = load_photo("astronaut", (200, 170))
    sweep = [noisy(reference, s) for s in (2, 6, 15, 40)]
    got = values(all_metrics, reference, sweep)
    for spec in hvs.resolve("all"):
        series = np.array(got[spec.name]) * (1 if spec.higher_is_better else -1)
        assert np.all(np.diff(series) < 0), (spec.name, got[spec.name])


def test_batched_equals_one_by_one(all_metrics, synthetic_weights_dir):
    reference = load_photo("coffee", (96, 72))  # below MS-SSIM's 161 px: the upsampled path is batched too
    images = [noisy(reference, s, seed=s) for s in (1, 6, 25)]
    batched = values(all_metrics, reference, images)
    single = {name: [] for name in batched}
    for image in images:
        for name, value in values(all_metrics, reference, [image]).items():
            single[name].append(value[0])
    one_per_chunk = hvs.Scorer("all", hvs.ComputeSettings("cpu", memory_budget_mb=1,
                                                          weights_dir=str(synthetic_weights_dir)))
    assert one_per_chunk.chunk_size(96, 72) == 1
    chunked = values(one_per_chunk, reference, images)
    for name in batched:
        np.testing.assert_allclose(batched[name], single[name], rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(batched[name], chunked[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_release_metrics_equal_the_releases_own_calls(tmp_path):
    """The release's scoring: PIL ``open(...).convert('RGB')``, ``to_tensor``, then ``piq.<metric>(distorted,
    original)`` with piq's defaults (data range 1, colour), one pair at a time."""
    reference = load_photo("rocket", (240, 200))
    images = [noisy(reference, 10), np.ascontiguousarray(reference[:, :, ::-1] // 2)]  # noise; darker, swapped
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    got = values(hvs.Scorer("release", hvs.ComputeSettings("cpu")), reference, paths)
    original = to_tensor(Image.fromarray(reference).convert("RGB")).unsqueeze(0)
    calls = {"psnr": piq.psnr, "ssim": piq.ssim, "ms_ssim": piq.multi_scale_ssim, "vif_p": piq.vif_p,
             "vsi": piq.vsi}
    for i, path in enumerate(paths):
        with Image.open(path) as opened:
            distorted = to_tensor(opened.convert("RGB")).unsqueeze(0)
        for name, call in calls.items():
            assert got[name][i] == pytest.approx(call(distorted, original).item(), rel=1e-6, abs=1e-7), name
        # VIF is not symmetric: the order of the arguments matters, and is the release's
        assert abs(piq.vif_p(original, distorted).item() - got["vif_p"][i]) > 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_cpu_values(synthetic_weights_dir):
    reference = load_photo("coffee", (320, 240))
    images = [noisy(reference, s) for s in (3, 12, 40)]
    settings = {"weights_dir": str(synthetic_weights_dir)}
    on_cpu = values(hvs.Scorer("all", hvs.ComputeSettings("cpu", **settings)), reference, images)
    on_cuda = values(hvs.Scorer("all", hvs.ComputeSettings("cuda", **settings)), reference, images)
    for name in on_cpu:
        np.testing.assert_allclose(on_cuda[name], on_cpu[name], rtol=1e-4, atol=1e-5, err_msg=name)
