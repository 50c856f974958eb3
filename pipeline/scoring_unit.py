"""The scoring stage's unit: a group of oracles over the images of one generation shard (pristine sources
included).

Runs in a worker: decodes each image once per batch (in DataLoader worker processes), feeds every oracle of the
group that still needs it, and publishes one predictions part per oracle, each atomically. A part is complete
for the shard's current images: a unit scores only what the committed part lacks (images added to the shard
since, or failed rows when retrying) and republishes the whole part. Models are cached per worker process.

Each part's footer records ``input`` (the generation digest of the shard it covers), ``content`` (a digest of
its rows' ids and statuses) and ``failed`` (its failed rows), which planning and labelling read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from manifests.layout import SubsetLayout
from manifests.schemas import generation_digest, rows_digest, prediction_row
from pipeline.driver import SubsetStage, UnitStats
from pipeline.errors import one_line


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
    retry_failed: bool = False
    weight: int = 0  # items to score, for the progress bar

    @property
    def key(self) -> str:
        return f"{self.shard}-{'+'.join(self.oracles)}"


@dataclass(frozen=True)
class ScoreOptions:
    device: str | None  # None: CUDA when visible, else CPU
    weights_dir: str | None
    untrained: bool
    allow_download: bool
    batch_size: int
    loader_workers: int


def shard_items(layout: SubsetLayout, shard: str) -> tuple[list[ScoreItem], str]:
    """The pristine sources and degraded images of ``shard`` that generation finished, and the shard's
    generation digest."""
    store = layout.generation_store()
    sources = store.read("sources", columns=["source_id", "file_name", "label", "status"], shards=[shard]).to_pylist()
    images = store.read("images", columns=["image_id", "source_id", "path", "status"], shards=[shard]).to_pylist()
    items = []
    labels = {}
    for row in sources:
        if row["status"] != "ok":
            continue
        labels[row["source_id"]] = row["label"]
        items.append(ScoreItem(row["source_id"], row["source_id"], True,
                               str(layout.src_images / row["file_name"]), row["label"]))
    for row in images:
        if row["status"] == "ok" and row["source_id"] in labels:
            items.append(ScoreItem(row["image_id"], row["source_id"], False, str(layout.root / row["path"]),
                                   labels[row["source_id"]]))
    return items, generation_digest(sources, images)


def decode(path: str) -> np.ndarray:
    import cv2

    from pipeline.sources import read_rgb

    if path.endswith(".png"):
        data = np.fromfile(path, np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise ValueError(f"cannot decode {Path(path).name}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return read_rgb(path)


class ImageSet:
    """Decoded images (or, for classifiers, their shared uint8 crop); failures come back as messages."""

    def __init__(self, items: Sequence[ScoreItem], preprocess: Any) -> None:
        self.items = list(items)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, Any, str | None]:
        from oracles.models import preprocess_batch

        try:
            image = decode(self.items[index].path)
            if self.preprocess is not None:
                return index, preprocess_batch(self.preprocess, [image])[0], None
            return index, image, None
        except Exception as error:  # a bad file fails alone
            return index, None, one_line(error)


def collate(samples: list[tuple[int, Any, str | None]]) -> tuple[list[int], Any, list[tuple[int, str]]]:
    import torch

    ok = [(i, x) for i, x, e in samples if e is None]
    failed = [(i, e) for i, _, e in samples if e is not None]
    indices = [i for i, _ in ok]
    data = [x for _, x in ok]
    if data and isinstance(data[0], torch.Tensor):
        data = torch.stack(data)
    return indices, data, failed


_MODELS: dict[tuple[str, str, bool], Any] = {}


def _device(options: ScoreOptions) -> str:
    import torch

    if options.device:
        return options.device
    if not torch.cuda.is_available():
        return "cpu"
    try:  # local clusters name their workers 0..n-1: one GPU each
        from distributed import get_worker

        return f"cuda:{int(get_worker().name) % torch.cuda.device_count()}"
    except (ValueError, TypeError):
        return "cuda"


def cached_oracle(name: str, options: ScoreOptions) -> Any:
    from oracles import registry, runtime
    from oracles.models import load_oracle

    device = _device(options)
    key = (name, device, options.untrained)
    if key not in _MODELS:
        if device.startswith("cuda"):
            runtime.configure_backends()
        _MODELS[key] = load_oracle(registry.get(name), device, options.weights_dir, options.untrained,
                                   options.allow_download)
    return _MODELS[key]


def _row(item: ScoreItem, oracle: Any, prediction: Any = None, error: str | None = None) -> dict[str, Any]:
    return prediction_row(item.image_id, item.source_id, item.is_source, oracle.name, oracle.untrained,
                          prediction, error)


@dataclass(frozen=True)
class ScoringStage(SubsetStage):
    root: str  # OUT/miqa_<subset>
    options: ScoreOptions
    name: str = "score"
    item_name: str = "img"

    def run_unit(self, unit: ScoreUnit) -> UnitStats:
        return score_unit(unit, self)


def _kept_rows(layout: SubsetLayout, name: str, task: str, shard: str, current: set[str], retry: bool,
               ) -> list[dict[str, Any]]:
    """Committed rows still valid for the shard's current items (failed ones dropped when retrying)."""
    rows = layout.prediction_store(name, task).read(name, shards=[shard]).to_pylist()
    return [r for r in rows if r["image_id"] in current and not (retry and r["status"] == "failed")]


def score_unit(unit: ScoreUnit, stage: ScoringStage) -> UnitStats:
    """Predict what each oracle of the unit lacks on the shard; publish one complete part per oracle."""
    import pyarrow as pa
    import torch
    from torch.utils.data import DataLoader

    from manifests.schemas import PREDICTION_SCHEMAS
    from oracles.models import Classifier

    options, layout = stage.options, stage.layout
    items, digest = shard_items(layout, unit.shard)
    oracles = [cached_oracle(name, options) for name in unit.oracles]
    current = {item.image_id for item in items}
    rows = {o.name: _kept_rows(layout, o.name, o.spec.task, unit.shard, current, unit.retry_failed) for o in oracles}
    needed = {o.name: current - {r["image_id"] for r in rows[o.name]} for o in oracles}
    todo = [item for item in items if any(item.image_id in ids for ids in needed.values())]
    shared = oracles[0].spec.preprocess if isinstance(oracles[0], Classifier) else None
    loader = DataLoader(ImageSet(todo, shared), batch_size=options.batch_size, shuffle=False,
                        num_workers=options.loader_workers if todo else 0, collate_fn=collate,
                        pin_memory=torch.cuda.is_available() and _device(options) != "cpu")
    stats = UnitStats(stage.name, unit.key)
    for indices, data, failed in loader:
        for index, error in failed:
            for oracle in oracles:
                if todo[index].image_id in needed[oracle.name]:
                    rows[oracle.name].append(_row(todo[index], oracle, error=error))
        for oracle in oracles:
            wanted = [k for k, i in enumerate(indices) if todo[i].image_id in needed[oracle.name]]
            if not wanted:
                continue
            batch_items = [todo[indices[k]] for k in wanted]
            gts = [item.gt_class for item in batch_items]
            try:
                if shared is not None:
                    predictions = oracle.predict_batch(data[wanted] if len(wanted) < len(indices) else data, gts)
                else:
                    predictions = oracle.predict([data[k] for k in wanted], gts)
                rows[oracle.name] += [_row(i, oracle, p) for i, p in zip(batch_items, predictions)]
            except Exception as error:  # the model failed on this batch: its rows say why
                rows[oracle.name] += [_row(i, oracle, error=one_line(error)) for i in batch_items]
    order = {item.image_id: k for k, item in enumerate(items)}
    for oracle in oracles:
        part = sorted(rows[oracle.name], key=lambda r: order[r["image_id"]])
        failed_rows = [r for r in part if r["status"] == "failed"]
        new = [r for r in part if r["image_id"] in needed[oracle.name]]
        stats.items_ok += sum(r["status"] == "ok" for r in new)
        stats.items_failed += sum(r["status"] == "failed" for r in new)
        stats.errors += [f"{oracle.name} {r['image_id']}: {r['error']}" for r in new if r["status"] == "failed"]
        layout.prediction_store(oracle.name, oracle.spec.task).publish(
            unit.shard, {oracle.name: pa.Table.from_pylist(part, schema=PREDICTION_SCHEMAS[oracle.spec.task])},
            metadata={oracle.name: {"input": digest, "content": rows_digest(part),
                                    "failed": len(failed_rows)}})
    stats.counts = {"predictions": stats.items_ok + stats.items_failed}
    return stats
