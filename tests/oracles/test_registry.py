"""The oracle zoo: counts, names, presets, selection, and agreement with torchvision's and Ultralytics' own
metadata (URLs, file names, preprocessing, architecture files)."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest

from oracles import registry
from oracles.registry import COCO80_TO_COCO91, OracleSpec, Preprocess


def test_zoo_counts_and_unique_names():
    assert len(registry.names("cls")) == 40
    assert len(registry.names("det")) == 20
    assert len(registry.names("ins")) == 15
    assert len(registry.names()) == 75 == len(set(registry.names()))
    cls = registry.preset("cls")
    assert sum(s.framework == "torchvision" for s in cls) == 37
    assert sum(s.framework == "pypi" for s in cls) == 3


def test_zoo_spans_families():
    cls_families = {s.family for s in registry.preset("cls")}
    assert {"resnet", "vgg", "densenet", "inception", "mobilenet", "efficientnet", "efficientnet-lite", "regnet",
            "convnext", "vit", "swin", "maxvit"} <= cls_families  # fmt: skip
    det_families = {s.family for s in registry.preset("det")}
    yolo = {"yolov5u", "yolov8", "yolov9", "yolov10", "yolo11"}
    assert {"two-stage", "one-stage", "ssd", "rt-detr"} | yolo <= det_families
    ins = registry.preset("ins")
    assert {"maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2"} <= {s.name for s in ins}
    assert len({s.family for s in ins if s.framework == "ultralytics"}) >= 3


def test_spec_fields_are_consistent():
    for spec in registry.REGISTRY.values():
        assert spec.url.endswith(spec.weights_file) or spec.framework == "pypi", spec.name
        assert spec.licence
        if spec.task == "cls":
            assert spec.label_space == "imagenet-1k" and spec.preprocess.mode == "classify"
        else:
            assert spec.label_space == "coco-80" and spec.preprocess.mode in ("model", "letterbox")
        if spec.framework == "ultralytics":
            assert spec.task == ("ins" if spec.name.endswith("-seg") else "det")
    # classifiers' labels are argmaxes of fp32-cast logits; torchvision detectors keep fp32 boxes
    assert all(s.autocast_safe for s in registry.preset("cls"))
    assert not any(s.autocast_safe for s in registry.preset("det") if s.framework == "torchvision")


def test_presets_and_resolve():
    assert [s.name for s in registry.resolve("offline")] == ["efficientnet_lite0", "efficientnet_lite1",
                                                             "efficientnet_lite2"]  # fmt: skip
    assert len(registry.resolve("all")) == 75
    for task in registry.TASKS:
        assert [s.name for s in registry.resolve(task)] == registry.names(task)
    picked = registry.resolve(" yolo11m, resnet50 ,yolo11m")
    assert [s.name for s in picked] == ["yolo11m", "resnet50"]  # order kept, duplicates dropped
    mixed = registry.resolve("offline,efficientnet_lite0,ins")
    assert len(mixed) == 3 + 15
    assert registry.resolve(["resnet18"]) == [registry.get("resnet18")]


def test_resolve_reports_every_unknown_name():
    with pytest.raises(KeyError) as info:
        registry.resolve("resnet50,resnet5O,yolo99x")
    message = str(info.value)
    assert "resnet5O" in message and "yolo99x" in message and "offline" in message
    with pytest.raises(ValueError):
        registry.resolve(" , ")
    with pytest.raises(KeyError, match="did you mean resnet50"):
        registry.get("resnet5")
    with pytest.raises(ValueError):
        registry.names("seg")


def test_specs_hash_pickle_and_share_geometry():
    spec = registry.get("fasterrcnn_resnet50_fpn")
    assert dict(spec.builder_kwargs) == {"box_score_thresh": 0.001, "box_detections_per_img": 100}
    assert pickle.loads(pickle.dumps(spec)) == spec and hash(spec) == hash(pickle.loads(pickle.dumps(spec)))
    lite0, b0 = registry.get("efficientnet_lite0").preprocess, registry.get("efficientnet_b0").preprocess
    assert lite0 != b0 and lite0.geometry == b0.geometry  # one uint8 batch, different normalisation
    groups = {s.preprocess.geometry for s in registry.preset("cls")}
    assert 5 <= len(groups) < 40
    with pytest.raises(ValueError):
        Preprocess("classify", 256, None)


def test_register_a_user_oracle():
    spec = OracleSpec("my_resnet", "cls", "torchvision", "resnet", "resnet18", "ResNet18_Weights.IMAGENET1K_V1",
                      "my_resnet.pth", "file:///my_resnet.pth", "mine", registry.classify(256, 224), "imagenet-1k",
                      True)  # fmt: skip
    try:
        registry.register(spec)
        assert registry.resolve("my_resnet") == [spec]
        with pytest.raises(ValueError):
            registry.register(spec)
    finally:
        registry.REGISTRY.pop("my_resnet", None)
    with pytest.raises(ValueError):
        OracleSpec("x", "cls", "torchvision", "f", "b", "w", "f", "u", "l", registry.classify(256, 224), "coco-80",
                   True)  # fmt: skip


def test_torchvision_entries_match_torchvision_weights():
    import torchvision.models as tvm

    for spec in registry.REGISTRY.values():
        if spec.framework != "torchvision":
            continue
        weights = tvm.get_weight(spec.weights_id)
        assert weights in list(tvm.get_model_weights(spec.builder)), spec.name
        assert weights.url == spec.url and Path(weights.url).name == spec.weights_file, spec.name
        if spec.task == "cls":
            t = weights.transforms()
            pre = spec.preprocess
            assert (t.resize_size, t.crop_size) == ([pre.resize_size], [pre.crop_size]), spec.name
            assert t.interpolation.value == pre.interpolation, spec.name
            assert tuple(t.mean) == pre.mean and tuple(t.std) == pre.std, spec.name
            assert len(weights.meta["categories"]) == 1000
        else:
            assert len(weights.meta["categories"]) == 91  # COCO's 91-id scheme, index = category id


def test_pypi_entries_match_their_packages():
    from oracles.weights import package_file

    for spec in registry.preset("offline"):
        path = package_file(spec)
        assert path is not None and path.name == spec.weights_file, spec.name
        module = spec.weights_id.rpartition(".")[0]
        assert spec.package == module.replace("_", "-") + "==0.1.0", spec.name


def test_ultralytics_entries_are_official_assets():
    from oracles.models import import_ultralytics

    import_ultralytics()
    from ultralytics.data.converter import coco80_to_coco91_class
    from ultralytics.nn.tasks import yaml_model_load
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    from oracles.models import ultralytics_yaml

    assert list(COCO80_TO_COCO91) == coco80_to_coco91_class()
    for spec in registry.REGISTRY.values():
        if spec.framework != "ultralytics":
            continue
        assert spec.weights_file in GITHUB_ASSETS_NAMES, spec.name
        assert spec.url == registry.ULTRALYTICS_URL + spec.weights_file
        cfg = yaml_model_load(ultralytics_yaml(spec))  # the architecture exists in this ultralytics
        assert cfg["nc"] == 80, spec.name


@pytest.mark.slow
def test_every_torchvision_architecture_builds_with_its_kwargs():
    """Each builder accepts the entry's kwargs and has the parameter count of its official weights."""
    import torch
    import torchvision.models as tvm

    for spec in registry.REGISTRY.values():
        if spec.framework != "torchvision":
            continue
        kwargs = dict(spec.builder_kwargs)
        if spec.task != "cls":
            kwargs["weights_backbone"] = None
        builder = tvm.get_model_builder(spec.builder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with torch.device("meta"):
                    model = builder(weights=None, **kwargs)
            except NotImplementedError:  # RegNet computes its widths with real tensors
                model = builder(weights=None, **kwargs)
        if spec.task == "cls" and spec.name != "googlenet":  # GoogLeNet's official weights drop its aux heads
            n = sum(p.numel() for p in model.parameters())
            assert n == tvm.get_weight(spec.weights_id).meta["num_params"], spec.name
