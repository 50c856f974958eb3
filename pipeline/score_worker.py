"""Score one unit: a group of oracles over the images of one generation shard (pristine sources included).

Runs in a Dask worker: decodes each image once per batch (in DataLoader worker processes), feeds every
oracle of the group, and publishes one predictions part per oracle, each atomically. Models are cached per
worker process, so consecutive units of the same group reuse them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import DataLoader, Dataset

from manifests.schemas import PREDICTION_SCHEMAS
from oracles import registry
from oracles.models import Classifier, LoadedOracle, load_oracle, preprocess_batch
from oracles.registry import Preprocess
from pipeline.cluster import tune_allocator
from manifests.layout import SubsetLayout
from pipeline.shard_worker import one_line
from pipeline.sources import read_rgb


@dataclass(frozen=True)
class ScoreItem:
    image_id: str
    source_id: str
    is_source: bool
    path: str  # absolute
    gt_class: int | None


@dataclass(frozen=True)
class ScoreUnit:
    shard: str
    oracles: tuple[str, ...]  # one group: same task, same input geometry

    @property
    def key(self) -> str:
        return f"score-{self.shard}-{'+'.join(self.oracles)}"


@dataclass(frozen=True)
class ScoreOptions:
    device: str | None  # None: CUDA when visible, else CPU
    weights_dir: str | None
    untrained: bool
    allow_download: bool
    batch_size: int
    loader_workers: int


def shard_items(layout: SubsetLayout, shard: str) -> list[ScoreItem]:
    """The pristine sources and degraded images of ``shard`` that generation finished."""
    store = layout.generation_store()
    sources = store.read("sources", columns=["source_id", "file_name", "label", "status"], shards=[shard])
    images = store.read("images", columns=["image_id", "source_id", "path", "status"], shards=[shard])
    items = []
    labels = {}
    for row in sources.to_pylist():
        if row["status"] != "ok":
            continue
        labels[row["source_id"]] = row["label"]
        items.append(ScoreItem(row["source_id"], row["source_id"], True,
                               str(layout.src_images / row["file_name"]), row["label"]))
    for row in images.to_pylist():
        if row["status"] == "ok" and row["source_id"] in labels:
            items.append(ScoreItem(row["image_id"], row["source_id"], False, str(layout.root / row["path"]),
                                   labels[row["source_id"]]))
    return items


def decode(path: str) -> np.ndarray:
    if path.endswith(".png"):
        data = np.fromfile(path, np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise ValueError(f"cannot decode {Path(path).name}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return read_rgb(path)


class ImageSet(Dataset):
    """Decoded images (or, for classifiers, their shared uint8 crop); failures come back as messages."""

    def __init__(self, items: Sequence[ScoreItem], preprocess: Preprocess | None) -> None:
        self.items = list(items)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, Any, str | None]:
        try:
            image = decode(self.items[index].path)
            if self.preprocess is not None:
                return index, preprocess_batch(self.preprocess, [image])[0], None
            return index, image, None
        except Exception as error:  # a bad file fails alone
            return index, None, one_line(error)


def collate(samples: list[tuple[int, Any, str | None]]) -> tuple[list[int], Any, list[tuple[int, str]]]:
    ok = [(i, x) for i, x, e in samples if e is None]
    failed = [(i, e) for i, _, e in samples if e is not None]
    indices = [i for i, _ in ok]
    data = [x for _, x in ok]
    if data and isinstance(data[0], torch.Tensor):
        data = torch.stack(data)
    return indices, data, failed


_MODELS: dict[tuple[str, str, bool], LoadedOracle] = {}


def _device(options: ScoreOptions) -> str:
    if options.device:
        return options.device
    if not torch.cuda.is_available():
        return "cpu"
    try:  # local clusters name their workers 0..n-1: one GPU each
        from distributed import get_worker

        return f"cuda:{int(get_worker().name) % torch.cuda.device_count()}"
    except (ValueError, TypeError):
        return "cuda"


def cached_oracle(name: str, options: ScoreOptions) -> LoadedOracle:
    device = _device(options)
    key = (name, device, options.untrained)
    if key not in _MODELS:
        _MODELS[key] = load_oracle(registry.get(name), device, options.weights_dir, options.untrained,
                                   options.allow_download)
    return _MODELS[key]


def _row(item: ScoreItem, oracle: LoadedOracle, status: str = "ok", error: str | None = None) -> dict[str, Any]:
    return {"image_id": item.image_id, "source_id": item.source_id, "is_source": item.is_source,
            "oracle": oracle.name, "untrained": oracle.untrained, "status": status, "error": error}


def _prediction_row(item: ScoreItem, oracle: LoadedOracle, prediction: Any) -> dict[str, Any]:
    row = _row(item, oracle)
    if oracle.spec.task == "cls":
        row.update(top5_ids=list(prediction.top5), top5_probs=list(prediction.top5_prob),
                   gt_prob=prediction.gt_prob)
    else:
        height, width = prediction.image_size
        row.update(width=width, height=height, boxes=prediction.boxes.tolist(), scores=prediction.scores.tolist(),
                   category_ids=prediction.category_ids.tolist(),
                   masks=None if prediction.masks is None else [m["counts"] for m in prediction.masks])
    return row


def score_unit(unit: ScoreUnit, root: str, options: ScoreOptions) -> dict[str, int]:
    """Predict every item of the shard with every oracle of the unit; publish one part per oracle."""
    started = time.perf_counter()
    cv2.setNumThreads(1)
    tune_allocator()
    layout = SubsetLayout(Path(root))
    items = shard_items(layout, unit.shard)
    oracles = [cached_oracle(name, options) for name in unit.oracles]
    shared = oracles[0].spec.preprocess if isinstance(oracles[0], Classifier) else None
    loader = DataLoader(ImageSet(items, shared), batch_size=options.batch_size, shuffle=False,
                        num_workers=options.loader_workers, collate_fn=collate,
                        pin_memory=torch.cuda.is_available() and _device(options) != "cpu")
    rows: dict[str, list[dict[str, Any]]] = {o.name: [] for o in oracles}
    failures = 0
    for indices, data, failed in loader:
        for index, error in failed:
            failures += 1
            for oracle in oracles:
                rows[oracle.name].append(_row(items[index], oracle, "failed", error))
        if not indices:
            continue
        batch_items = [items[i] for i in indices]
        gts = [item.gt_class for item in batch_items]
        for oracle in oracles:
            try:
                if shared is not None:
                    predictions = oracle.predict_batch(data, gts)
                else:
                    predictions = oracle.predict(data, gts)
                rows[oracle.name] += [_prediction_row(i, oracle, p) for i, p in zip(batch_items, predictions)]
            except Exception as error:  # the model failed on this batch: its rows say why
                rows[oracle.name] += [_row(i, oracle, "failed", one_line(error)) for i in batch_items]
    for oracle in oracles:
        schema = PREDICTION_SCHEMAS[oracle.spec.task]
        layout.prediction_store(oracle.name, oracle.spec.task).publish(
            unit.shard, {oracle.name: pa.Table.from_pylist(rows[oracle.name], schema=schema)})
    return {"images": len(items), "failed": failures, "seconds": time.perf_counter() - started}
