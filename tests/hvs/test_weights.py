"""LPIPS and DISTS weights: the oracles' resolution rules (weights dir, torch.hub's cache, download, one clear
error offline), safe loading, and modules equal to piq's own classes built from the same files."""

from __future__ import annotations

import copy
import shutil
import types
from pathlib import Path

import numpy as np
import piq
import pytest
import torch
import torchvision

import hvs
from hvs import perceptual
from hvs.registry import DISTS_ALPHA_BETA, LPIPS_LINEAR, VGG16
from hvs.weights import MissingWeightsError, resolve_weights
from tests.conftest import load_photo
from tests.hvs.synthetic import random_dists_alpha_beta, random_lpips_linear

PERCEPTUAL = hvs.resolve("lpips,dists")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def empty_hub(tmp_path):
    """torch.hub pointed at an empty folder."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


def test_urls_are_the_libraries_own():
    assert VGG16.url == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    assert LPIPS_LINEAR.url == piq.LPIPS._weights_url
    assert DISTS_ALPHA_BETA.url == piq.DISTS._weights_url
    assert (VGG16.name, LPIPS_LINEAR.name, DISTS_ALPHA_BETA.name) == (
        "vgg16-397923af.pth", "lpips_weights.pt", "dists_weights.pt")


def test_offline_missing_files_are_listed_at_once(tmp_path, empty_hub):
    weights_dir = tmp_path / "weights"
    before = _tree(tmp_path)
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights(PERCEPTUAL, weights_dir)
    error = info.value
    assert [(m.file, m.oracle) for m in error.missing] == [
        (VGG16.name, "lpips, dists"), (LPIPS_LINEAR.name, "lpips"), (DISTS_ALPHA_BETA.name, "dists")]
    message = str(error)
    for file in (VGG16, LPIPS_LINEAR, DISTS_ALPHA_BETA):
        assert f"{weights_dir / file.name}  <- {file.url}" in message
    assert "--weights-dir" in message and "--offline" in message and "--untrained" not in message
    assert message.startswith("3 metric weight file(s) not found (downloads are off)")
    assert _tree(tmp_path) == before  # nothing written, not even the weights dir
    assert resolve_weights(hvs.resolve("release"), weights_dir) == {}  # nothing needed, nothing looked up


def test_without_weights_dir_the_expected_place_is_torch_hubs_cache(empty_hub):
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights(hvs.resolve("lpips"))
    assert [m.expected for m in info.value.missing] == [empty_hub / VGG16.name, empty_hub / LPIPS_LINEAR.name]


def test_weights_dir_first_then_the_hub_cache(tmp_path, empty_hub, synthetic_weights_dir):
    empty_hub.mkdir(parents=True)
    for name in (VGG16.name, LPIPS_LINEAR.name, DISTS_ALPHA_BETA.name):
        shutil.copy(synthetic_weights_dir / name, empty_hub / name)
    assert resolve_weights(PERCEPTUAL) == {n: empty_hub / n for n in (VGG16.name, LPIPS_LINEAR.name,
                                                                        DISTS_ALPHA_BETA.name)}
    partial_dir = tmp_path / "weights"
    partial_dir.mkdir()
    shutil.copy(synthetic_weights_dir / LPIPS_LINEAR.name, partial_dir / LPIPS_LINEAR.name)
    found = resolve_weights(PERCEPTUAL, partial_dir)
    assert found[LPIPS_LINEAR.name] == partial_dir / LPIPS_LINEAR.name
    assert found[VGG16.name] == empty_hub / VGG16.name


def test_download_when_allowed_goes_to_the_weights_dir(tmp_path, empty_hub, monkeypatch):
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        Path(dst).write_bytes(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    found = resolve_weights(PERCEPTUAL, tmp_path / "weights", allow_download=True)
    assert found == {f.name: tmp_path / "weights" / f.name for f in (VGG16, LPIPS_LINEAR, DISTS_ALPHA_BETA)}
    # torch.hub checks the SHA-256 prefix that the file name carries
    assert calls == [(VGG16.url, "397923af"), (LPIPS_LINEAR.url, None), (DISTS_ALPHA_BETA.url, None)]


def test_failed_downloads_are_listed_with_their_reasons(tmp_path, empty_hub, monkeypatch):
    def no_network(url, dst, hash_prefix=None, progress=True):
        raise OSError("Name or service not known\n(more)")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights(hvs.resolve("dists"), allow_download=True)
    assert len(info.value.missing) == 2
    assert "could not be obtained" in str(info.value)
    assert "(download failed: Name or service not known (more))" in str(info.value)


def test_metrics_run_from_a_weights_dir(synthetic_weights_dir, empty_hub):
    reference = load_photo("coffee", (64, 48))
    image = np.clip(reference.astype(int) + 20, 0, 255).astype(np.uint8)
    scorer = hvs.Scorer("lpips,dists", hvs.ComputeSettings("cpu", weights_dir=str(synthetic_weights_dir)))
    results = scorer.score(reference, [image])
    for name in ("lpips", "dists"):
        assert results[name][0].error is None and np.isfinite(results[name][0].value) and results[name][0].value > 0


def test_offline_scorer_stops_before_building_anything(tmp_path, empty_hub):
    with pytest.raises(MissingWeightsError):
        hvs.Scorer("psnr,lpips", hvs.ComputeSettings("cpu", weights_dir=str(tmp_path / "nothing")))


def test_unusable_files_give_one_clear_line(tmp_path):
    (tmp_path / VGG16.name).write_bytes(b"not a checkpoint")
    (tmp_path / LPIPS_LINEAR.name).write_bytes(b"")
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "small.pth")
    torch.save(types.SimpleNamespace(a=1), tmp_path / "pickle.pth")  # arbitrary objects are refused
    files = {VGG16.name: tmp_path / VGG16.name, LPIPS_LINEAR.name: tmp_path / LPIPS_LINEAR.name}
    for path, expected in [(tmp_path / VGG16.name, "cannot load weights file"),
                           (tmp_path / "pickle.pth", "cannot load weights file"),
                           (tmp_path / "small.pth", "is not a VGG16 state dict")]:
        with pytest.raises(ValueError) as info:
            perceptual.vgg16_features(path)
        assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="cannot load weights file"):
        perceptual.LPIPS(files)


@pytest.fixture
def piq_offline(monkeypatch, synthetic_weights_dir):
    """piq's own LPIPS and DISTS classes, fed the synthetic files instead of their downloads."""
    state = torch.load(synthetic_weights_dir / VGG16.name, weights_only=True)
    features = {k.removeprefix("features."): v for k, v in state.items()}

    def vgg16(pretrained=False, progress=True):
        with torch.device("meta"):  # piq keeps only .features, which the file fills
            model = torchvision.models.vgg16()
        model.features.load_state_dict(features, assign=True)
        return model

    by_url = {LPIPS_LINEAR.url: random_lpips_linear(), DISTS_ALPHA_BETA.url: random_dists_alpha_beta()}
    monkeypatch.setattr(piq.perceptual, "vgg16", vgg16)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda url, **kw: copy.deepcopy(by_url[url]))
    return {n: synthetic_weights_dir / n for n in (VGG16.name, LPIPS_LINEAR.name, DISTS_ALPHA_BETA.name)}


@pytest.mark.parametrize("ours, theirs, size", [
    (perceptual.LPIPS, piq.LPIPS, (72, 64)),
    (perceptual.DISTS, piq.DISTS, (72, 64)),
    pytest.param(perceptual.DISTS, piq.DISTS, (280, 260), marks=pytest.mark.slow),  # DISTS resizes first
])
def test_modules_equal_piqs_own(piq_offline, ours, theirs, size):
    reference = torch.from_numpy(load_photo("astronaut", size)).permute(2, 0, 1)[None].float() / 255
    x = torch.stack([(reference[0] * s).clamp(0, 1) for s in (0.6, 1.1)])
    with torch.inference_mode():
        expected = theirs(reduction="none")(x, reference.expand(2, -1, -1, -1).contiguous())
        module = ours(piq_offline)
        shared = module(x, reference.expand(2, -1, -1, -1))  # reference features computed once
        copied = module(x, reference.expand(2, -1, -1, -1).contiguous())
    torch.testing.assert_close(shared, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(copied, expected, rtol=1e-5, atol=1e-6)
    assert expected.shape == (2,) and expected.min() > 0
