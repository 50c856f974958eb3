"""Seeding, PSNR ranking, PNG writer and input conversion of the degradation engine."""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from degradations import candidate_rng, candidate_seed, encode_png, psnr, select_ranks, to_rgb8
from degradations.severity import rank_by_psnr


def test_candidate_seed_is_stable_and_specific():
    seed = candidate_seed(0, "ILSVRC2012_val_00000001", "fog", 3)
    assert seed == candidate_seed(0, "ILSVRC2012_val_00000001", "fog", 3)
    others = {
        candidate_seed(1, "ILSVRC2012_val_00000001", "fog", 3),
        candidate_seed(0, "ILSVRC2012_val_00000002", "fog", 3),
        candidate_seed(0, "ILSVRC2012_val_00000001", "snow", 3),
        candidate_seed(0, "ILSVRC2012_val_00000001", "fog", 4),
    }
    assert seed not in others and len(others) == 4
    draws = candidate_rng(0, "ILSVRC2012_val_00000001", "fog", 3).random(4)
    assert np.array_equal(draws, np.random.default_rng(seed).random(4))


def test_candidate_seed_rejects_negative_run_seed():
    with pytest.raises(ValueError, match="run seed"):
        candidate_seed(-1, "a", "fog", 1)


def test_psnr_equals_skimage(photos):
    image = photos["chelsea"]
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 9, image.shape), 0, 255).astype(np.uint8)
    assert psnr(image, noisy) == pytest.approx(peak_signal_noise_ratio(image, noisy), abs=1e-9)
    assert psnr(image, image) == math.inf


def test_select_ranks_keeps_ranks_1_5_8_10_12():
    psnrs = [30.0, 45.0, 20.0, math.inf, 33.0, 12.0, 18.0, 40.0, 25.0, 15.0, 28.0, 22.0]
    order = rank_by_psnr(psnrs)
    assert order[:3] == [3, 1, 7]
    assert select_ranks(psnrs) == [order[0], order[4], order[7], order[9], order[11]]
    assert select_ranks(psnrs) == [3, 0, 11, 6, 5]


def test_rank_ties_keep_candidate_order():
    assert rank_by_psnr([10.0, 20.0, 10.0, 20.0]) == [1, 3, 0, 2]


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 2, 3), (2, 1, 3), (7, 5, 3), (240, 321, 3), (9, 4), (5, 6, 4)])
def test_png_round_trip(shape):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(image)
    with Image.open(io.BytesIO(data)) as decoded:
        decoded.load()
        assert np.array_equal(np.asarray(decoded), image)
    flags = cv2.IMREAD_UNCHANGED
    back = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image.ndim == 3:
        back = cv2.cvtColor(back, cv2.COLOR_BGR2RGB if shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    assert np.array_equal(back, image)


def test_png_is_compressed_like_opencv(photos):
    image = photos["astronaut"]
    ours = len(encode_png(image))
    opencv = len(cv2.imencode(".png", image)[1])
    assert ours < 1.15 * opencv


def test_png_rejects_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 3), np.float32))


def test_to_rgb8_converts_like_pil():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(to_rgb8(gray), np.asarray(Image.fromarray(gray).convert("RGB")))
    rgba = np.random.default_rng(2).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    assert np.array_equal(to_rgb8(rgba), np.asarray(Image.fromarray(rgba, "RGBA").convert("RGB")))
    cmyk = Image.fromarray(rgba, "CMYK")
    assert np.array_equal(to_rgb8(cmyk), np.asarray(cmyk.convert("RGB")))
    deep = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    assert np.array_equal(to_rgb8(deep)[:, :, 0], (deep >> 8).astype(np.uint8))
    assert np.array_equal(to_rgb8(Image.fromarray(deep)), to_rgb8(deep))


@pytest.mark.parametrize(
    "bad", [np.zeros((0, 4, 3), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.float64)]
)
def test_to_rgb8_rejects_clearly(bad):
    with pytest.raises(ValueError):
        to_rgb8(bad)
