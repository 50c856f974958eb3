"""Region patterns and mask fusion against a plain transcription of the release's formula."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from degradations import RegionMask, fuse, output_name, region_configs
from degradations.regions import BG_DD_PAIRS, ROI_DD_PAIRS


def release_fusion(mask: np.ndarray, fg: np.ndarray, bg: np.ndarray, radius: int = 32) -> np.ndarray:
    """The region fusion formula, step by step in float64."""
    m = cv2.GaussianBlur(mask, (2 * radius + 1, 2 * radius + 1), 0) / 255.0
    m[cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=2) > 0] = 1.0
    m3 = np.stack([m] * 3, axis=2)
    fused = fg * m3 + bg * (1 - m3)
    band = np.stack([(m > 0.05) & (m < 0.95)] * 3, axis=2)
    smoothed = cv2.addWeighted(fused, 0.5, cv2.GaussianBlur(fused, (3, 3), 0), 0.5, 0)
    return np.where(band, smoothed, fused).astype(np.uint8)


def ellipse_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 4, height // 3), 20, 0, 360, 255, -1)
    cv2.rectangle(mask, (0, 0), (width // 6, height // 5), 255, -1)  # touches the image border
    return mask


def test_25_configurations_in_release_order():
    configs = region_configs()
    assert len(configs) == 25
    assert [c.region for c in configs].count("UD") == 5
    assert [(c.roi_level, c.bg_level) for c in configs if c.region == "ROI-DD"] == list(ROI_DD_PAIRS)
    assert [(c.roi_level, c.bg_level) for c in configs if c.region == "BG-DD"] == list(BG_DD_PAIRS)
    assert all(r > b for r, b in ROI_DD_PAIRS) and all(r < b for r, b in BG_DD_PAIRS)


def test_output_names_follow_the_release():
    ud, roi, bg = region_configs()[0], region_configs()[5], region_configs()[15]
    assert output_name("x", "fog", ud) == "x_fog_1.png"
    assert output_name("x", "fog", roi) == "x_fog_fg_stronger_fg2_bg1.png"
    assert output_name("x", "fog", bg) == "x_fog_bg_stronger_fg1_bg2.png"


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_fusion_matches_release_within_one_level(photos, name):
    source = photos[name][:, :317]  # odd width
    height, width = source.shape[:2]
    mask = ellipse_mask(height, width)
    rng = np.random.default_rng(0)
    fg = np.clip(source + rng.normal(0, 30, source.shape), 0, 255).astype(np.uint8)
    bg = cv2.GaussianBlur(source, (0, 0), 4)
    ours = fuse(fg, bg, RegionMask.from_binary(mask))
    reference = release_fusion(mask, fg, bg)
    diff = np.abs(ours.astype(int) - reference)
    assert diff.max() <= 1
    assert np.mean(diff == 0) > 0.999
    core = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=2) > 0
    assert np.array_equal(ours[core], fg[core])


def test_empty_and_full_masks_are_flagged_and_fall_back(photos):
    source = photos["rocket"]
    fg, bg = source, 255 - source
    empty = RegionMask.from_binary(np.zeros(source.shape[:2], np.uint8))
    full = RegionMask.from_binary(np.full(source.shape[:2], 255, np.uint8))
    assert (empty.flag, empty.coverage) == ("empty", 0.0)
    assert (full.flag, full.coverage) == ("full", 1.0)
    assert np.array_equal(fuse(fg, bg, empty), bg)
    assert np.array_equal(fuse(fg, bg, full), fg)
    partial = RegionMask.from_binary(ellipse_mask(*source.shape[:2]))
    assert partial.flag == "ok" and 0.2 < partial.coverage < 0.5


def test_tiny_images_fuse():
    for shape in [(1, 1), (1, 2), (2, 1), (3, 5)]:
        mask = np.zeros(shape, np.uint8)
        mask[0, 0] = 255
        fg = np.full(shape + (3,), 200, np.uint8)
        bg = np.full(shape + (3,), 10, np.uint8)
        out = fuse(fg, bg, RegionMask.from_binary(mask))
        assert out.shape == fg.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - release_fusion(mask, fg, bg)).max() <= 1


def test_mask_shape_errors_are_clear(photos):
    with pytest.raises(ValueError, match="2-D"):
        RegionMask.from_binary(np.zeros((4, 4, 3), np.uint8))
    region_mask = RegionMask.from_binary(np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match="shapes differ"):
        fuse(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), region_mask)


def test_release_names_parse_back_to_their_configuration():
    from degradations import DATABASE_DISTORTIONS, output_name, parse_output_name, region_configs

    types = list(DATABASE_DISTORTIONS) + ["blur"]  # "blur" is a suffix of other names: longest must win
    for source in ("ILSVRC2012_val_00037809", "000000397133", "a_b"):
        for distortion in ("motion_blur", "jpeg_compression", "blur"):
            for config in region_configs():
                name = output_name(source, distortion, config)
                assert parse_output_name(name, types) == (source, distortion, config)
    for bad in ("x_contrast_6.png", "x_contrast_fg_stronger_fg1_bg2.png", "x_spatter_1.png", "x_contrast_1.jpg"):
        with pytest.raises(ValueError):
            parse_output_name(bad, types)
