"""Declared Arrow schemas of every manifest table (readable by pyarrow, pandas and duckdb as is), each with
the functions that encode its rows: one place says what a row holds."""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import pyarrow as pa

from degradations.regions import output_name, region_configs


def _field(name: str, kind: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, kind, nullable=nullable, metadata={"doc": doc})


STATUS_DOC = "ok, or failed (see error)"

SOURCES = pa.schema(
    [
        _field("source_id", pa.string(), "file stem of the source; folder name under images/", False),
        _field("shard", pa.string(), "unit of work that produced the row", False),
        _field("file_name", pa.string(), "original file name, copied to src_images/"),
        _field("width", pa.int32(), "source width in pixels"),
        _field("height", pa.int32(), "source height in pixels"),
        _field("label", pa.int32(), "ImageNet-1k class index (torchvision order), cls subset"),
        _field("label_name", pa.string(), "class name as given by the source list"),
        _field("coco_image_id", pa.int64(), "COCO image id, det subset"),
        _field("mask_method", pa.string(), "user | coco-instances | boxes-grabcut | boxes | a default method "
               "(lite-contrast, saliency, lite-cam, dino)"),
        _field("mask_fallback", pa.bool_(), "the default method made the mask because the source had nothing better"),
        _field("mask_coverage", pa.float64(), "fraction of pixels in the ROI"),
        _field("mask_flag", pa.string(), "ok, or empty / full: ROI-DD and BG-DD then equal UD images"),
        _field("mask_note", pa.string(), "what else the mask builder noticed (e.g. boxes GrabCut left as rectangles)"),
        _field("images_ok", pa.int32(), "degraded images written for this source"),
        _field("distortions", pa.list_(pa.string()), "distortion types made for this source (ok or failed)"),
        _field("status", pa.string(), STATUS_DOC, False),
        _field("error", pa.string(), "one-line reason when failed"),
    ]
)

IMAGES = pa.schema(
    [
        _field("image_id", pa.string(), "file stem of the degraded image", False),
        _field("source_id", pa.string(), "source it was made from", False),
        _field("distortion", pa.string(), "distortion type", False),
        _field("region", pa.string(), "UD | ROI-DD | BG-DD", False),
        _field("roi_level", pa.int8(), "severity 1..5 inside the ROI", False),
        _field("bg_level", pa.int8(), "severity 1..5 in the background", False),
        _field("path", pa.string(), "path relative to the subset folder"),
        _field("roi_candidate", pa.int8(), "1-based candidate index used in the ROI"),
        _field("bg_candidate", pa.int8(), "1-based candidate index used in the background"),
        _field("roi_params", pa.list_(pa.float64()), "parameters of the ROI candidate"),
        _field("bg_params", pa.list_(pa.float64()), "parameters of the background candidate"),
        _field("roi_seed", pa.uint64(), "numpy.random.default_rng(seed) replays the ROI candidate"),
        _field("bg_seed", pa.uint64(), "numpy.random.default_rng(seed) replays the background candidate"),
        _field("psnr", pa.float64(), "PSNR of the image to its source in dB (inf when identical)"),
        _field("region_fallback", pa.bool_(), "ROI-DD/BG-DD made from an empty or full mask"),
        _field("bytes", pa.int64(), "PNG file size"),
        _field("status", pa.string(), STATUS_DOC, False),
        _field("error", pa.string(), "one-line reason when failed"),
    ]
)

CANDIDATES = pa.schema(
    [
        _field("source_id", pa.string(), "source", False),
        _field("distortion", pa.string(), "distortion type", False),
        _field("candidate", pa.int8(), "1-based index in the type's candidate table", False),
        _field("params", pa.list_(pa.float64()), "candidate parameters"),
        _field("seed", pa.uint64(), "numpy.random.default_rng(seed) replays its draws"),
        _field("psnr", pa.float64(), "PSNR to the source in dB"),
        _field("rank", pa.int8(), "PSNR rank among the 12 (1 = mildest)"),
        _field("severity", pa.int8(), "severity 1..5 when kept, else null (never written to disk)"),
    ]
)

TABLE_SCHEMAS = {"sources": SOURCES, "images": IMAGES, "candidates": CANDIDATES}


def image_row(out: Any) -> dict[str, Any]:
    """The images row of one output of the engine (a ``degradations.DegradedImage`` with its PNG)."""
    return {
        "image_id": out.file_name[:-4], "source_id": out.source_id, "distortion": out.distortion,
        "region": out.config.region, "roi_level": out.config.roi_level, "bg_level": out.config.bg_level,
        "path": f"images/{out.source_id}/{out.file_name}", "roi_candidate": out.roi.index,
        "bg_candidate": out.bg.index, "roi_params": list(out.roi.params), "bg_params": list(out.bg.params),
        "roi_seed": out.roi.seed, "bg_seed": out.bg.seed, "psnr": out.psnr, "region_fallback": out.region_fallback,
        "bytes": len(out.png), "status": "ok",
    }


def failed_image_rows(source_id: str, distortion: str, error: str) -> list[dict[str, Any]]:
    """The 25 images rows of a type that failed on a source."""
    return [
        {"image_id": output_name(source_id, distortion, c)[:-4], "source_id": source_id, "distortion": distortion,
         "region": c.region, "roi_level": c.roi_level, "bg_level": c.bg_level, "status": "failed", "error": error}
        for c in region_configs()
    ]


def candidate_row(source_id: str, candidate: Any) -> dict[str, Any]:
    """The candidates row of one ``degradations.Candidate``."""
    return {"source_id": source_id, "distortion": candidate.distortion, "candidate": candidate.index,
            "params": list(candidate.params), "seed": candidate.seed, "psnr": candidate.psnr,
            "rank": candidate.rank, "severity": candidate.severity}


def generation_digest(sources: Iterable[dict[str, Any]], images: Iterable[dict[str, Any]]) -> str:
    """What a shard offers the later stages: its ok sources (and their files) and ok images. Stored in the
    sources part's footer; a prediction, label or metric part records the digest it was made from."""
    lines = sorted([f"S {r['source_id']} {r['file_name']}" for r in sources if r["status"] == "ok"]
                   + [f"I {r['image_id']}" for r in images if r["status"] == "ok"])
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()

# --- scoring -------------------------------------------------------------------------------------------

_PREDICTION_COMMON = [
    _field("image_id", pa.string(), "degraded image id, or the source id for the pristine source", False),
    _field("source_id", pa.string(), "source of the image", False),
    _field("is_source", pa.bool_(), "the pristine source image itself", False),
    _field("oracle", pa.string(), "oracle name", False),
    _field("untrained", pa.bool_(), "random weights (plumbing run): not labels of the real models", False),
]
_PREDICTION_STATUS = [
    _field("status", pa.string(), STATUS_DOC, False),
    _field("error", pa.string(), "one-line reason when failed"),
]

CLS_PREDICTIONS = pa.schema(
    _PREDICTION_COMMON
    + [
        _field("top5_ids", pa.list_(pa.int16()), "top-5 ImageNet-1k class indices, best first"),
        _field("top5_probs", pa.list_(pa.float32()), "their softmax probabilities"),
        _field("gt_prob", pa.float32(), "probability of the ground-truth class (null without one)"),
    ]
    + _PREDICTION_STATUS
)

DET_PREDICTIONS = pa.schema(
    _PREDICTION_COMMON
    + [
        _field("width", pa.int32(), "scored image width"),
        _field("height", pa.int32(), "scored image height"),
        _field("boxes", pa.list_(pa.list_(pa.float32(), 4)), "COCO xywh boxes in pixels of the scored image"),
        _field("scores", pa.list_(pa.float32()), "detection scores"),
        _field("category_ids", pa.list_(pa.int16()), "COCO category ids (91-id scheme)"),
        _field("masks", pa.list_(pa.string()), "instance masks: compressed COCO RLE counts (ins only)"),
    ]
    + _PREDICTION_STATUS
)

PREDICTION_SCHEMAS = {"cls": CLS_PREDICTIONS, "det": DET_PREDICTIONS, "ins": DET_PREDICTIONS}


def prediction_row(image_id: str, source_id: str, is_source: bool, oracle: str, untrained: bool,
                   prediction: Any = None, error: str | None = None) -> dict[str, Any]:
    """A predictions row: an ``oracles.models`` prediction (ClsPrediction / DetPrediction), or a failure."""
    row: dict[str, Any] = {"image_id": image_id, "source_id": source_id, "is_source": is_source, "oracle": oracle,
                           "untrained": untrained, "status": "failed" if error else "ok", "error": error}
    if error or prediction is None:
        return row
    if hasattr(prediction, "top5"):
        row.update(top5_ids=list(prediction.top5), top5_probs=list(prediction.top5_prob), gt_prob=prediction.gt_prob)
    else:
        height, width = prediction.image_size
        row.update(width=width, height=height, boxes=prediction.boxes.tolist(), scores=prediction.scores.tolist(),
                   category_ids=prediction.category_ids.tolist(),
                   masks=None if prediction.masks is None else [m["counts"] for m in prediction.masks])
    return row

ORACLE_LABELS = pa.schema(
    [
        _field("image_id", pa.string(), "degraded image id", False),
        _field("source_id", pa.string(), "its source", False),
        _field("oracle", pa.string(), "oracle name", False),
        _field("consistency", pa.float64(), "agreement with the oracle's output on the source, [0, 1]"),
        _field("accuracy", pa.float64(), "agreement with the ground truth, [0, 1] (null without one)"),
        _field("composite", pa.float64(), "weighted sum of consistency and accuracy"),
        _field("consistency_ap50", pa.float64(), "det/ins: consistency at IoU 0.50"),
        _field("consistency_ap75", pa.float64(), "det/ins: consistency at IoU 0.75"),
        _field("accuracy_ap50", pa.float64(), "det/ins: accuracy at IoU 0.50"),
        _field("accuracy_ap75", pa.float64(), "det/ins: accuracy at IoU 0.75"),
        _field("untrained", pa.bool_(), "made from random-weight oracles", False),
        _field("note", pa.string(), "why a label is undefined (e.g. the pristine source could not be scored)"),
    ]
)

MMOS = pa.schema(
    [
        _field("image_id", pa.string(), "degraded image id", False),
        _field("source_id", pa.string(), "its source", False),
        _field("path", pa.string(), "image path relative to the subset folder"),
        _field("oracles", pa.int16(), "oracles aggregated"),
        _field("mean_consistency", pa.float64(), "mean over oracles"),
        _field("std_consistency", pa.float64(), "population std over oracles"),
        _field("weighted_consistency", pa.float64(), "weighted mean over oracles"),
        _field("mean_accuracy", pa.float64(), "mean over oracles"),
        _field("std_accuracy", pa.float64(), "population std over oracles"),
        _field("weighted_accuracy", pa.float64(), "weighted mean over oracles"),
        _field("composite", pa.float64(), "MMOS: weighted consistency and accuracy combined"),
        _field("untrained", pa.bool_(), "made from random-weight oracles", False),
        _field("note", pa.string(), "why a label is undefined (e.g. the pristine source could not be scored)"),
    ]
)


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)


def oracle_label_row(image_id: str, source_id: str, oracle: str, consistency: float, accuracy: float,
                     composite: float, untrained: bool, note: str | None = None,
                     ap: dict[str, float] | None = None) -> dict[str, Any]:
    """A per-(image, oracle) labels row; NaN (undefined) is stored as null. ``ap``: det/ins AP50/AP75 columns."""
    row = {"image_id": image_id, "source_id": source_id, "oracle": oracle,
           "consistency": _finite_or_none(consistency), "accuracy": _finite_or_none(accuracy),
           "composite": _finite_or_none(composite), "untrained": untrained, "note": note}
    row.update({key: _finite_or_none(value) for key, value in (ap or {}).items()})
    return row


def mmos_row(image_id: str, source_id: str, path: str, oracles: int, consistency: tuple[float, float, float],
             accuracy: tuple[float, float, float], composite: float, untrained: bool, note: str | None,
             ) -> dict[str, Any]:
    """A per-image MMOS row from (mean, std, weighted mean) of consistency and of accuracy over the oracles."""
    return {"image_id": image_id, "source_id": source_id, "path": path, "oracles": oracles,
            "mean_consistency": consistency[0], "std_consistency": consistency[1],
            "weighted_consistency": consistency[2], "mean_accuracy": accuracy[0], "std_accuracy": accuracy[1],
            "weighted_accuracy": accuracy[2], "composite": _finite_or_none(composite), "untrained": untrained,
            "note": note}

# --- full-reference metrics --------------------------------------------------------------------------

METRIC_VALUES = pa.schema(
    [
        _field("image_id", pa.string(), "degraded image id", False),
        _field("source_id", pa.string(), "its pristine source, the reference", False),
        _field("value", pa.float64(), "the metric of the degraded image against its source (null when failed)"),
        _field("upsampled", pa.bool_(), "computed on both images upsampled to the metric's minimum side"),
        _field("status", pa.string(), STATUS_DOC, False),
        _field("error", pa.string(), "one-line reason when failed"),
    ]
)


def metric_row(image_id: str, source_id: str, value: float | None, upsampled: bool, error: str | None,
               ) -> dict[str, Any]:
    """A metric values row: the value, or the reason it failed."""
    return {"image_id": image_id, "source_id": source_id, "value": None if error else value,
            "upsampled": upsampled, "status": "failed" if error else "ok", "error": error}


def rows_digest(rows: Iterable[dict[str, Any]]) -> str:
    """What a part holds (predictions, metric values), for what is made from it: its rows' ids and statuses."""
    lines = sorted(f"{r['image_id']} {r['status']}" for r in rows)
    return hashlib.sha1("\n".join(lines).encode()).hexdigest()
