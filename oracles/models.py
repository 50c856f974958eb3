"""Building oracles and running them on RGB uint8 images.

    from oracles import registry, models
    oracle = models.load_oracle(registry.get("efficientnet_lite0"), "cpu")
    oracle.predict([rgb], gt_classes=[281])   # [ClsPrediction(top5=(282, 285, 281, ...), ...)]

Classifiers answer with their top-5 ImageNet-1k indices (torchvision's order), probabilities and the
probability of the given ground-truth class. Detectors and instance segmenters answer with COCO results:
boxes as xywh in pixels of the given image, scores, COCO category ids of the 91-id scheme of
instances_val2017.json, and (ins) RLE masks of the image's size; detections with score >= 0.001, at most
100 per image, best first.

For many classifiers over one set of images, decode once, preprocess once per ``Preprocess.geometry`` with
:func:`preprocess_batch` (uint8, on the host) and feed the same batch to each classifier's
:meth:`Classifier.predict_batch` (it normalises on its device).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch

from oracles import runtime
from oracles.registry import COCO80_TO_COCO91, OracleSpec, Preprocess
from oracles.weights import resolve_weights

MIN_SCORE = 0.001
MAX_DETECTIONS = 100
MASK_THRESHOLD = 0.5


# --- predictions -------------------------------------------------------------------------------------


@dataclass
class ClsPrediction:
    top5: tuple[int, ...]  # ImageNet-1k class indices, most probable first
    top5_prob: tuple[float, ...]
    gt_prob: float | None  # softmax probability of the ground-truth class, when one was given
    untrained: bool = False

    @property
    def top1(self) -> int:
        return self.top5[0]

    def to_dict(self) -> dict[str, Any]:
        return {"top5": list(self.top5), "top5_prob": list(self.top5_prob), "gt_prob": self.gt_prob,
                "untrained": self.untrained}  # fmt: skip


@dataclass
class DetPrediction:
    image_size: tuple[int, int]  # (height, width) of the image the coordinates refer to
    boxes: np.ndarray  # float32 (K, 4): COCO xywh in pixels
    scores: np.ndarray  # float32 (K,), descending
    category_ids: np.ndarray  # int64 (K,): COCO ids (person=1, cat=17, cup=47)
    masks: list[dict] | None = None  # ins: pycocotools RLEs {"size": [h, w], "counts": str}
    untrained: bool = False

    def __len__(self) -> int:
        return len(self.scores)

    def to_coco(self, image_id: int) -> list[dict[str, Any]]:
        """COCO results entries (loadRes format) for this image."""
        out = []
        for k in range(len(self)):
            entry = {
                "image_id": image_id,
                "category_id": int(self.category_ids[k]),
                "bbox": [round(float(v), 2) for v in self.boxes[k]],
                "score": round(float(self.scores[k]), 5),
            }
            if self.masks is not None:
                entry["segmentation"] = self.masks[k]
            out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": list(self.image_size),
            "boxes": self.boxes.tolist(),
            "scores": self.scores.tolist(),
            "category_ids": self.category_ids.tolist(),
            "masks": self.masks,
            "untrained": self.untrained,
        }


Prediction = Union[ClsPrediction, DetPrediction]


def _check_images(images: Sequence[np.ndarray]) -> None:
    for i, image in enumerate(images):
        ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        if not ok:
            got = f"{image.dtype}{image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"image {i}: expected RGB uint8 HxWx3, got {got}")


def encode_masks(masks: np.ndarray) -> list[dict]:
    """Binary masks (K, H, W) -> pycocotools RLEs with str counts (JSON-ready)."""
    from pycocotools import mask as mask_utils

    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def finalize_detections(
    image_size: tuple[int, int],
    xyxy: np.ndarray,
    scores: np.ndarray,
    category_ids: np.ndarray,
    masks: np.ndarray | None = None,
    untrained: bool = False,
) -> DetPrediction:
    """Score >= 0.001, best 100 first, boxes clipped to the image and converted to COCO xywh."""
    h, w = image_size
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    keep = np.flatnonzero(scores >= MIN_SCORE)
    keep = keep[np.argsort(-scores[keep], kind="stable")][:MAX_DETECTIONS]
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)[keep]
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    boxes = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    rles = None
    if masks is not None:
        masks = masks[keep]
        if masks.shape[1:] != (h, w):
            raise AssertionError(f"masks of shape {masks.shape[1:]} for an image of {(h, w)}")
        rles = encode_masks(masks)
    return DetPrediction((h, w), boxes, scores[keep], np.asarray(category_ids, dtype=np.int64).reshape(-1)[keep],
                         rles, untrained)  # fmt: skip


# --- preprocessing -----------------------------------------------------------------------------------


def preprocess_batch(pre: Preprocess, images: Sequence[np.ndarray], pin_memory: bool = False) -> torch.Tensor:
    """Classifier input as uint8 (N, 3, crop, crop) on the host: resize of the shorter side (antialiased,
    within a grey level or two of torchvision's ImageClassification on PIL images), centre crop.
    Normalisation happens on the model's device. ``pin_memory`` writes straight into page-locked memory
    for asynchronous transfer to a GPU."""
    import torchvision.transforms.v2.functional as TF
    from torchvision.transforms import InterpolationMode

    if pre.mode != "classify":
        raise ValueError(f"preprocess_batch is for classifiers, not mode {pre.mode!r}")
    _check_images(images)
    interp = InterpolationMode(pre.interpolation)
    out = torch.empty((len(images), 3, pre.crop_size, pre.crop_size), dtype=torch.uint8, pin_memory=pin_memory)
    for i, image in enumerate(images):
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # CHW view of HWC memory
        x = TF.resize(x, [pre.resize_size], interpolation=interp, antialias=True)
        out[i] = TF.center_crop(x, [pre.crop_size, pre.crop_size])
    return out


# --- loaded oracles ----------------------------------------------------------------------------------


@dataclass(eq=False)
class LoadedOracle:
    spec: OracleSpec
    model: Any
    device: torch.device
    untrained: bool = False
    weights_path: Path | None = None
    precision: str | None = "fp16"  # autocast on CUDA when the spec allows it
    batch_size: int | None = None  # None: the whole call at once (shrinks on CUDA out-of-memory)
    _dtype: torch.dtype | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._dtype = runtime.autocast_dtype(self.device, self.precision) if self.spec.autocast_safe else None

    @property
    def name(self) -> str:
        return self.spec.name

    def predict(self, images: Sequence[np.ndarray], gt_classes: Sequence[int | None] | None = None) -> list[Prediction]:
        _check_images(images)
        if gt_classes is not None and len(gt_classes) != len(images):
            raise ValueError(f"{len(gt_classes)} ground-truth classes for {len(images)} images")
        items = list(zip(images, gt_classes if gt_classes is not None else [None] * len(images)))
        return runtime.run_with_oom_backoff(self._predict_items, items, self.batch_size)

    def _predict_items(self, items: Sequence[tuple[np.ndarray, int | None]]) -> list[Prediction]:
        raise NotImplementedError


class Classifier(LoadedOracle):
    """An ImageNet-1k classifier (torchvision or EfficientNet-Lite)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        pre = self.spec.preprocess
        self._mean = torch.tensor(pre.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(pre.std, device=self.device).view(1, 3, 1, 1) * 255.0

    def preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        return preprocess_batch(self.spec.preprocess, images, pin_memory=self.device.type == "cuda")

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """fp32 logits (N, 1000) for a uint8 batch from :func:`preprocess_batch` (same geometry)."""
        crop = self.spec.preprocess.crop_size
        if batch.dtype != torch.uint8 or batch.ndim != 4 or tuple(batch.shape[1:]) != (3, crop, crop):
            got = f"{batch.dtype}{tuple(batch.shape)}"
            raise ValueError(f"{self.name}: expected uint8 (N, 3, {crop}, {crop}), got {got}")
        x = runtime.to_device(batch, self.device)
        with runtime.inference(self.device, self._dtype):
            x = (x.float() - self._mean) / self._std
            if self.spec.channels_last and self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            out = self.model(x)
        return out.float()

    def predict_batch(
        self, batch: torch.Tensor, gt_classes: Sequence[int | None] | None = None
    ) -> list[ClsPrediction]:
        """Predictions for a preprocessed uint8 batch (shared between classifiers of the same geometry)."""
        if gt_classes is not None and len(gt_classes) != len(batch):
            raise ValueError(f"{len(gt_classes)} ground-truth classes for a batch of {len(batch)}")
        gts = list(gt_classes) if gt_classes is not None else [None] * len(batch)

        def run(idx: Sequence[int]) -> list[ClsPrediction]:
            idx = list(idx)
            return self._from_logits(self.logits(batch[idx[0] : idx[-1] + 1]), [gts[i] for i in idx])

        return runtime.run_with_oom_backoff(run, range(len(batch)), self.batch_size)

    def _from_logits(self, logits: torch.Tensor, gts: Sequence[int | None]) -> list[ClsPrediction]:
        bad = [g for g in gts if g is not None and not 0 <= g < logits.shape[1]]
        if bad:
            raise ValueError(f"{self.name}: ground-truth classes {bad} outside 0..{logits.shape[1] - 1}")
        with torch.inference_mode():
            probs = logits.softmax(dim=1)
            top = probs.topk(5, dim=1)
            gt_index = torch.tensor([g if g is not None else 0 for g in gts], device=probs.device)
            gt_probs = probs.gather(1, gt_index[:, None])[:, 0]
        values, indices, gt_probs = top.values.cpu().tolist(), top.indices.cpu().tolist(), gt_probs.cpu().tolist()
        return [
            ClsPrediction(tuple(ids), tuple(ps), gp if gt is not None else None, self.untrained)
            for ids, ps, gp, gt in zip(indices, values, gt_probs, gts)
        ]

    def _predict_items(self, items):
        images = [image for image, _ in items]
        return self._from_logits(self.logits(self.preprocess(images)), [gt for _, gt in items])


class TorchvisionDetector(LoadedOracle):
    """torchvision's Faster R-CNN / RetinaNet / FCOS / SSD / Mask R-CNN: native-size input, own resizing."""

    def _predict_items(self, items):
        images = [image for image, _ in items]
        tensors = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).to(self.device) for im in images]
        with runtime.inference(self.device, self._dtype):
            outputs = self.model([t.float().div_(255.0) for t in tensors])
        preds = []
        for image, out in zip(images, outputs):
            masks = None
            if "masks" in out:
                masks = (out["masks"][:, 0] > MASK_THRESHOLD).to(torch.uint8).cpu().numpy()
            preds.append(finalize_detections(image.shape[:2], out["boxes"].float().cpu().numpy(),
                                             out["scores"].float().cpu().numpy(), out["labels"].cpu().numpy(),
                                             masks, self.untrained))  # fmt: skip
        return preds


class UltralyticsDetector(LoadedOracle):
    """Ultralytics YOLO / RT-DETR, detect or segment, through its own predictor (letterbox, NMS; for -seg
    models it drops detections whose mask is empty, and masks are computed at the image's size)."""

    def _predict_items(self, items):
        images = [image for image, _ in items]
        quantize = 16 if self._dtype is not None else None  # fp16 on CUDA when allowed (ultralytics' `half`)
        # RT-DETR keeps its queries in decoder order and cuts at max_det: let it return all 300, rank here
        max_det = 300 if self.spec.builder == "RTDETR" else MAX_DETECTIONS
        results = self.model.predict(
            [np.ascontiguousarray(im[:, :, ::-1]) for im in images],  # ultralytics takes BGR arrays
            conf=MIN_SCORE, iou=0.7, max_det=max_det, imgsz=self.spec.preprocess.resize_size,
            device=_ultralytics_device(self.device), quantize=quantize, retina_masks=True, verbose=False, save=False,
        )  # fmt: skip
        lut = np.asarray(COCO80_TO_COCO91, dtype=np.int64)
        preds = []
        for image, r in zip(images, results):
            boxes = r.boxes
            masks = None
            if self.spec.task == "ins":
                if r.masks is None:
                    masks = np.zeros((0, *image.shape[:2]), dtype=np.uint8)
                else:
                    masks = (r.masks.data > MASK_THRESHOLD).to(torch.uint8).cpu().numpy()
            preds.append(finalize_detections(image.shape[:2], boxes.xyxy.float().cpu().numpy(),
                                             boxes.conf.float().cpu().numpy(), lut[boxes.cls.long().cpu().numpy()],
                                             masks, self.untrained))  # fmt: skip
        return preds


def _ultralytics_device(device: torch.device) -> str:
    return "cpu" if device.type == "cpu" else str(device.index if device.index is not None else 0)


# --- building ----------------------------------------------------------------------------------------

_PATCH_LOCK = threading.Lock()


def untrained_seed(spec: OracleSpec, seed: int = 0) -> int:
    """Seed of an oracle's random initialisation: stable across runs and processes."""
    return (zlib.crc32(spec.name.encode()) + 1_000_003 * seed) % 2**31


@contextlib.contextmanager
def _torchvision_weights_from(path: Path, url: str):
    """Make torchvision's builder load its official weights from ``path`` (weights_only) instead of its
    cache/URL, so the builder applies its own weight-specific settings (e.g. eps overrides, transform_input)."""
    import torchvision.models._api as api

    def load(requested: str, *args: Any, **kwargs: Any) -> dict:
        if requested != url:
            raise RuntimeError(f"torchvision asked for {requested}, expected {url}")
        return torch.load(path, map_location="cpu", weights_only=True)

    with _PATCH_LOCK:
        original = api.load_state_dict_from_url
        api.load_state_dict_from_url = load
        try:
            yield
        finally:
            api.load_state_dict_from_url = original


def _build_torchvision(spec: OracleSpec, path: Path | None) -> torch.nn.Module:
    import torchvision.models as tvm

    kwargs = dict(spec.builder_kwargs)
    builder = tvm.get_model_builder(spec.builder)
    if path is None:  # random weights: the same architecture, nothing downloaded
        if spec.task != "cls":
            kwargs["weights_backbone"] = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. GoogLeNet's note on its default init
            return builder(weights=None, **kwargs)
    weights = tvm.get_weight(spec.weights_id)
    with _torchvision_weights_from(path, weights.url):
        return builder(weights=weights, **kwargs)


def _build_lite(spec: OracleSpec, path: Path | None) -> torch.nn.Module:
    from oracles import efficientnet_lite

    variant = spec.builder.rpartition(":")[2]
    state = torch.load(path, map_location="cpu", weights_only=True) if path is not None else None
    return efficientnet_lite.build(variant, state)


def ultralytics_yaml(spec: OracleSpec) -> str:
    """The architecture file of an Ultralytics oracle (its weights' stem, 'u' dropped for YOLOv5u)."""
    stem = spec.weights_file.rsplit(".", 1)[0]
    if spec.family == "yolov5u" and stem.endswith("u"):
        stem = stem[:-1]
    return f"{stem}.yaml"


def import_ultralytics() -> Any:
    """Import ultralytics, undoing its process-wide patch of ``PIL.Image.open``.

    That patch answers a file PIL cannot identify by trying to pip-install a HEIF plugin; the pipeline's
    decoders must see PIL's own error instead. Ultralytics' patches run once, at its first import.
    """
    from PIL import Image

    original = Image.open
    import ultralytics
    import ultralytics.utils.patches  # noqa: F401  (where the patch is applied)

    Image.open = original
    return ultralytics


@contextlib.contextmanager
def _ultralytics_safe_load():
    """Ultralytics checkpoints are pickled modules: load them with torch.load(weights_only=True) against
    Ultralytics' allow-list of its own model classes (its opt-in ``safe_only`` mode)."""
    import_ultralytics()
    import ultralytics.nn.tasks as tasks

    with _PATCH_LOCK:
        original = tasks.SAFE_LOAD
        tasks.SAFE_LOAD = True
        try:
            yield
        finally:
            tasks.SAFE_LOAD = original


def _build_ultralytics(spec: OracleSpec, path: Path | None) -> Any:
    cls = getattr(import_ultralytics(), spec.builder)
    if path is None:
        task = {} if spec.builder == "RTDETR" else {"task": "segment" if spec.task == "ins" else "detect"}
        model = cls(ultralytics_yaml(spec), **task)
    else:
        with _ultralytics_safe_load():
            model = cls(str(path))
    return model


def load_oracle(
    spec: OracleSpec,
    device: str | torch.device | None = "cpu",
    weights_dir: str | Path | None = None,
    untrained: bool = False,
    allow_download: bool = False,
    *,
    weights_path: str | Path | None = None,
    seed: int = 0,
    precision: str | None = "fp16",
    batch_size: int | None = None,
) -> LoadedOracle:
    """Build one oracle on ``device`` with its official weights (or random ones when ``untrained``).

    Weights come from ``weights_path`` if given, else :func:`oracles.weights.resolve_weights` (weights dir,
    framework cache, download when allowed; MissingWeightsError otherwise). Random weights are seeded by
    the oracle's name and ``seed``; predictions then carry ``untrained=True``.
    """
    device = runtime.as_device(device)
    path: Path | None = None
    if not untrained:
        if weights_path is not None:
            path = Path(weights_path)
        else:
            path = resolve_weights([spec], weights_dir, allow_download)[spec.name]
    build = {"torchvision": _build_torchvision, "pypi": _build_lite, "ultralytics": _build_ultralytics}[spec.framework]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(untrained_seed(spec, seed))
        model = build(spec, path)
    common = dict(spec=spec, device=device, untrained=untrained, weights_path=path, precision=precision,
                  batch_size=batch_size)  # fmt: skip
    if spec.framework == "ultralytics":
        model.model.eval()
        return UltralyticsDetector(model=model, **common)
    model = runtime.prepare_model(model, device, channels_last=spec.channels_last)
    if spec.task == "cls":
        return Classifier(model=model, **common)
    return TorchvisionDetector(model=model, **common)


def load_oracles(specs: Sequence[OracleSpec], device: str | torch.device | None = "cpu",
                 weights_dir: str | Path | None = None, untrained: bool = False, allow_download: bool = False,
                 **kwargs: Any):  # fmt: skip
    """Check every oracle's weights first (one MissingWeightsError for all), then yield them one at a time."""
    paths = {} if untrained else resolve_weights(specs, weights_dir, allow_download)
    for spec in specs:
        path = paths.get(spec.name)
        yield load_oracle(spec, device, weights_dir, untrained, allow_download, weights_path=path, **kwargs)
