"""The engine end to end: 250 outputs, severity selection, determinism across order, subset and process."""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np
import pytest

import degradations
from degradations import DATABASE_DISTORTIONS, RegionMask, run_distortion
from tests.conftest import load_photo


def small_source() -> tuple[np.ndarray, np.ndarray]:
    image = load_photo("coffee", (97, 64))  # odd width
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(mask, (48, 32), 20, 255, -1)
    return image, mask


def digests(distortions, source_id="coffee") -> dict[str, str]:
    image, mask = small_source()
    return {
        out.file_name: hashlib.sha256(out.png).hexdigest()
        for out in degradations.degrade(image, mask, source_id=source_id, distortions=distortions)
    }


def test_all_database_types_are_registered_with_12_candidates():
    assert degradations.names(database_only=True) == list(DATABASE_DISTORTIONS)
    categories = {name: degradations.get(name).category for name in DATABASE_DISTORTIONS}
    assert categories == {
        "gaussian_noise": "noise", "glass_blur": "blur", "motion_blur": "blur", "defocus_blur": "blur",
        "contrast": "digital", "pixelate": "digital", "jpeg_compression": "digital",
        "darkness": "environmental", "snow": "environmental", "fog": "environmental",
    }
    for name in DATABASE_DISTORTIONS:
        assert len(degradations.get(name).candidates) == 12


def test_250_outputs_with_release_names_and_ranked_severities():
    image, mask = small_source()
    outputs = list(degradations.degrade(image, mask, source_id="coffee"))
    assert len(outputs) == 250 and len({o.file_name for o in outputs}) == 250
    for out in outputs:
        assert out.pixels.shape == image.shape and out.pixels.dtype == np.uint8
        decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(out.png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(decoded, out.pixels)
        if out.config.region == "UD":
            assert out.roi == out.bg and out.psnr == out.roi.psnr
    uniform = [o for o in outputs if o.config.region == "UD" and o.distortion == "fog"]
    assert [o.roi.psnr for o in uniform] == sorted((o.roi.psnr for o in uniform), reverse=True)


def test_kept_candidates_are_ranks_1_5_8_10_12_and_unused_ones_never_come_out():
    image, mask = small_source()
    run = run_distortion(image, RegionMask.from_binary(mask), source_id="coffee", distortion="gaussian_noise")
    by_rank = sorted(run.candidates, key=lambda c: (-c.psnr, c.index))
    assert [c.rank for c in by_rank] == list(range(1, 13))
    assert [by_rank[r - 1].severity for r in (1, 5, 8, 10, 12)] == [1, 2, 3, 4, 5]
    assert sum(c.severity is not None for c in run.candidates) == 5
    used = {(o.roi.index, o.bg.index) for o in run.outputs}
    kept = {c.index for c in run.candidates if c.severity}
    assert {i for pair in used for i in pair} == kept


def test_candidate_seed_replays_the_candidate():
    image, mask = small_source()
    run = run_distortion(image, RegionMask.from_binary(mask), source_id="coffee", distortion="snow")
    outputs = {o.config.roi_level: o for o in run.outputs if o.config.region == "UD"}
    level3 = outputs[3].roi
    replay = degradations.get("snow")(image, level3.params, np.random.default_rng(level3.seed))
    assert np.array_equal(replay, outputs[3].pixels)


def test_outputs_do_not_depend_on_order_subset_or_process():
    everything = digests(DATABASE_DISTORTIONS)
    reverse = digests(tuple(reversed(DATABASE_DISTORTIONS)))
    subset = digests(("fog", "gaussian_noise"))
    assert everything == reverse
    assert all(everything[name] == digest for name, digest in subset.items())
    with ProcessPoolExecutor(2) as pool:
        in_process = pool.submit(digests, DATABASE_DISTORTIONS).result()
    assert in_process == everything
    assert digests(("fog",), source_id="other") != {k.replace("coffee", "other"): v
                                                    for k, v in subset.items() if "_fog_" in k}


def test_mask_must_match_the_image():
    image, _ = small_source()
    with pytest.raises(ValueError, match="mask shape"):
        next(degradations.degrade(image, np.zeros((5, 5), np.uint8), source_id="x"))


def test_no_mask_means_flagged_uniform_fallback():
    image, _ = small_source()
    outputs = list(degradations.degrade(image, None, source_id="x", distortions=("contrast",)))
    fused = [o for o in outputs if o.config.region != "UD"]
    assert all(o.region_fallback for o in fused)
    uniform = {o.config.roi_level: o.pixels for o in outputs if o.config.region == "UD"}
    assert all(np.array_equal(o.pixels, uniform[o.config.bg_level]) for o in fused)
