"""The metric registry: names, groups, declared minimum sides (checked against the library), the release's
upsampling size, and a listing that does not import torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import hvs
from hvs.compute import build_metric
from hvs.registry import MetricSpec
from hvs.resize import resize_rgb, upsampled_size, working_size
from hvs.weights import resolve_weights
from tests.conftest import PROJECT_ROOT, load_photo


def test_registry_holds_the_release_and_paper_metrics():
    assert hvs.GROUPS["release"] == ("psnr", "ssim", "ms_ssim", "vif_p", "vsi")
    # the full-reference ones among the paper's seven HVS metrics (HyperIQA and MANIQA are no-reference)
    assert hvs.GROUPS["paper"] == ("psnr", "ssim", "vsi", "lpips", "dists")
    assert set(hvs.GROUPS["release"] + hvs.GROUPS["paper"]) <= set(hvs.names())
    assert [s.name for s in hvs.resolve("lpips,release,psnr")] == ["lpips", "psnr", "ssim", "ms_ssim", "vif_p", "vsi"]
    assert [s.name for s in hvs.resolve("all")] == hvs.names()


def test_directions():
    lower_is_better = {s.name for s in hvs.resolve("all") if not s.higher_is_better}
    assert lower_is_better == {"gmsd", "lpips", "dists"}


def test_unknown_names_are_all_listed():
    with pytest.raises(ValueError) as info:
        hvs.resolve("psnr,ssmi,lpipz")
    assert "ssmi, lpipz" in str(info.value) and "release" in str(info.value)
    with pytest.raises(ValueError, match="no metric selected"):
        hvs.resolve(" , ")
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        hvs.get("nope")


def test_entries_are_checked():
    with pytest.raises(ValueError, match="exactly one"):
        MetricSpec("x", "X", True, 1, 10)
    with pytest.raises(ValueError, match="builder"):
        MetricSpec("x", "X", True, 1, 10, function="piq.psnr", weights=(hvs.get("lpips").weights[0],))
    with pytest.raises(ValueError, match="taken"):
        hvs.register(hvs.get("psnr"))
    with pytest.raises(ValueError, match="taken"):
        hvs.register(MetricSpec("release", "R", True, 1, 10, function="piq.psnr"))


def test_listing_does_not_import_torch():
    code = "import sys, hvs; hvs.names(); hvs.resolve('all'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", [n for n in hvs.names() if hvs.get(n).min_side > 1])
def test_min_side_is_the_smallest_side_the_library_accepts(name, synthetic_weights_dir):
    spec = hvs.get(name)
    call = build_metric(spec, resolve_weights([spec], synthetic_weights_dir), torch.device("cpu"))
    rng = np.random.default_rng(0)
    for side in (spec.min_side, spec.min_side + 7):
        x, y = (torch.from_numpy(rng.random((1, 3, side, side + 3), dtype=np.float32)) for _ in range(2))
        assert torch.isfinite(call(x, y)).all()
    x = torch.rand(1, 3, spec.min_side - 1, spec.min_side + 20)
    try:
        accepted = bool(torch.isfinite(call(x, x)).all())
    except (ValueError, RuntimeError):
        accepted = False
    assert not accepted, f"{name} accepts a side of {spec.min_side - 1}"


def test_upsampled_size_follows_the_release():
    # the release: ratio = 161 / shorter side, PIL resize to (int(w * ratio), int(h * ratio))
    assert upsampled_size(120, 90, 161) == (214, 161)
    assert upsampled_size(90, 120, 161) == (161, 214)
    assert upsampled_size(640, 100, 161) == (1030, 161)
    # 151 * (161 / 151) == 160.99999999999997: the release's truncation alone would leave 160 px
    assert int(151 * (161 / 151)) == 160
    assert upsampled_size(151, 151, 161) == (161, 161)
    assert upsampled_size(200, 151, 161) == (int(200 * (161 / 151)), 161)
    assert working_size(500, 375, 161) == (500, 375)
    assert working_size(161, 400, 161) == (161, 400)


def test_resize_is_pil_bicubic():
    image = load_photo("coffee", (120, 90))
    expected = np.asarray(Image.fromarray(image).resize((214, 161), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(resize_rgb(image, (214, 161)), expected)
    assert resize_rgb(image, (120, 90)) is image
