"""A training run from its settings: the database's rows, the split, the model, the loop, the checkpoints.

The run folder holds ``settings.json`` (the fingerprint: another run's settings are refused),
``split.json`` (source ids per part), ``last.pt`` (everything needed to resume) and ``best.pt`` (the weights
of the best validation SRCC), ``history.json`` and ``history.png`` (validation figures over the steps).
Running the same settings again resumes from ``last.pt``; a finished run reports and stops.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from learning import correlation
from learning.checkpoint import load_checkpoint, save_checkpoint
from learning.data.dataset import QualityDataset
from learning.data.loader import EpochSampler, make_loader
from learning.data.table import SampleTable, read_database
from learning.data.views import protocol_views
from learning.models import ModelConfig, build_model, check_config, pretrained_files
from learning.prediction import autocast_dtype, model_inputs, predict_batches
from learning.splits import Split, SplitError, hash_split, release_split
from learning.training import distributed
from learning.training.loop import Hooks, LoopPlan, Progress, run_loop
from learning.training.schedule import WarmupCosine
from learning.training.settings import TrainSettings
from manifests.settings import SettingsMismatch, check_settings, write_json_atomic

LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss}


class RunError(RuntimeError):
    """A run folder that does not match the database or the settings any more."""


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    best_srcc: float
    best_step: int
    history: list[dict[str, Any]]
    split: Split


def make_split(settings: TrainSettings, source_ids: list[str]) -> Split:
    """The release's split files when given, else a hash split; limited to the database's sources."""
    if settings.train_split:
        split = release_split(settings.train_split, settings.test_split, settings.val_fraction, settings.split_salt)
    else:
        split = hash_split(source_ids, settings.test_fraction, settings.val_fraction, settings.split_salt)
    split = split.restrict(source_ids, settings.limit_sources)
    split.check_usable(need_val=settings.val_fraction > 0)
    return split


def model_config(settings: TrainSettings) -> ModelConfig:
    return ModelConfig(settings.model, settings.crop, settings.region_encoder, settings.region_size)


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weights, none on biases and 1-D parameters (norms), frozen ones left out."""
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (plain if parameter.ndim <= 1 or name.endswith(".bias") else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def validation_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    return {"srcc": correlation.srcc(predictions, labels), "plcc": correlation.plcc(predictions, labels),
            "krcc": correlation.krcc(predictions, labels), "rmse": correlation.rmse(predictions, labels)}


def _on_main(context: distributed.Distributed, action) -> None:
    """``action`` on rank 0; an error it raises is raised on every rank (none waits for a crashed peer)."""
    failure = None
    if context.main:
        try:
            action()
        except (SettingsMismatch, RunError) as error:
            failure = (type(error).__name__, str(error))
    failure = distributed.broadcast(failure, context)
    if failure is not None:
        raise (SettingsMismatch if failure[0] == "SettingsMismatch" else RunError)(failure[1])


def _record_run(run_dir: Path, settings: TrainSettings, split: Split) -> None:
    """The run folder's settings (refusing other ones) and split (refusing another one)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    check_settings(run_dir / "settings.json", settings.fingerprint())
    path = run_dir / "split.json"
    if path.exists():
        recorded = Split.from_dict(json.loads(path.read_text()))
        for part in ("train", "val", "test"):
            old, new = set(recorded.part(part)), set(split.part(part))
            if old != new:
                raise RunError(f"{run_dir}: the {part} sources differ from the ones this run started with "
                               f"({len(new - old)} added, {len(old - new)} gone): the database changed; use "
                               "another --run-dir")
        return
    write_json_atomic(path, split.to_dict())


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _plot_history(history: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, left = plt.subplots(figsize=(6, 3.5), dpi=110)
    left.plot(epochs, [h["srcc"] for h in history], "o-", label="validation SRCC")
    left.plot(epochs, [h["plcc"] for h in history], "s--", label="validation PLCC")
    left.set_xlabel("epoch")
    left.set_ylabel("correlation with the label")
    right = left.twinx()
    right.plot(epochs, [h["train_loss"] for h in history], "^:", color="tab:red", label="training loss")
    right.set_ylabel("training loss (since the previous validation)")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [h.get_label() for h in handles], loc="center right", fontsize=8)
    left.set_title(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


@dataclass(frozen=True)
class _Data:
    train_sampler: EpochSampler
    train_loader: DataLoader
    val_loader: DataLoader
    val_labels: np.ndarray
    local_batch: int  # this process's share of a step's batch
    steps: int  # per epoch


def _data(settings: TrainSettings, train_rows, val_rows, config: ModelConfig, context: distributed.Distributed,
          device: torch.device) -> _Data:
    """Datasets of the training and validation rows, this process's samplers and loaders."""
    region = settings.region_size if config.spec.region_view else None
    views = {train: protocol_views(train, settings.resize, settings.crop, settings.square_resize, region)
             for train in (True, False)}
    train_set = QualityDataset(train_rows, views[True], settings.seed)
    val_set = QualityDataset(val_rows, views[False], settings.seed)
    local_batch = math.ceil(settings.batch_size / context.world)
    workers = settings.workers if settings.workers is not None else min(8, os.cpu_count() or 1)
    pin = device.type == "cuda"
    train_sampler = EpochSampler(len(train_set), settings.seed, True, True, context.rank, context.world)
    val_sampler = EpochSampler(len(val_set), settings.seed, False, False, context.rank, context.world)
    return _Data(train_sampler, make_loader(train_set, train_sampler, local_batch, workers, pin, settings.seed),
                 make_loader(val_set, val_sampler, local_batch, workers, pin, settings.seed + 1), val_set.labels,
                 local_batch, math.ceil(train_sampler.rows_per_epoch() / local_batch))


def _restore(last: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
             context: distributed.Distributed, device: torch.device) -> Progress:
    """Weights, optimizer, gradient scaler and this process's random state from ``last.pt``."""
    payload = load_checkpoint(last, map_location=device)
    if len(payload["training"]["rng"]) != context.world:
        raise RunError(f"{last} was written by {len(payload['training']['rng'])} processes: resume it with as "
                       "many (the batches and random states are per process)")
    model.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(payload["training"]["optimizer"])
    scaler.load_state_dict(payload["training"]["scaler"])
    _set_rng_state(payload["training"]["rng"][context.rank], device)
    return Progress.from_dict(payload["progress"])


def train(settings: TrainSettings, table: SampleTable | None = None) -> RunResult:
    """Train (or resume, or report a finished run) as ``settings`` say. Under torchrun, every rank calls it."""
    context, device = distributed.start(settings.device)
    try:
        return _train(settings, context, device, table)
    finally:
        distributed.stop(context)


def _train(settings: TrainSettings, context: distributed.Distributed, device: torch.device,
           table: SampleTable | None) -> RunResult:
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if context.main else (lambda text: None)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    config = model_config(settings)
    check_config(config)
    if settings.pretrained:  # every missing file reported (or downloaded) before anything is written
        pretrained_files(config, settings.weights_dir, not settings.offline, settings.region_weights)
    run_dir = settings.resolved_run_dir()
    table = table or read_database(settings.db, settings.subset, settings.label, settings.aggregation,
                                   settings.format)
    split = make_split(settings, table.source_ids)
    _on_main(context, lambda: _record_run(run_dir, settings, split))
    train_rows, val_rows = table.of_sources(split.train), table.of_sources(split.part("val"))
    if train_rows.empty or val_rows.empty:
        raise SplitError("the split leaves no labelled image for training or for validation")
    skipped = ", ".join(f"{n} {reason}" for reason, n in table.skipped.items())
    say(f"{run_dir}: {table.format} database, {table.label} label; {split.summary()}; {len(train_rows)} training "
        f"and {len(val_rows)} validation images" + (f" ({skipped} left out)" if skipped else ""))
    if table.untrained:
        say("warning: these labels come from random-weight oracles (a plumbing run), not from trained models")

    data = _data(settings, train_rows, val_rows, config, context, device)
    plan = LoopPlan.spaced(settings.epochs, data.steps, settings.validations_per_epoch, settings.checkpoint_every)

    torch.manual_seed(settings.seed)
    model = build_model(config, settings.pretrained, settings.weights_dir, not settings.offline,
                        settings.region_weights).to(device)
    if device.type == "cuda" and config.spec.family == "cnn":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(parameter_groups(model, settings.weight_decay), lr=settings.lr,
                                  betas=settings.betas, eps=settings.eps)
    schedule = WarmupCosine(settings.lr, settings.warmup_lr, settings.min_lr,
                            round(settings.warmup_epochs * data.steps), plan.total_steps)
    dtype = autocast_dtype(device, settings.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    last, best = run_dir / "last.pt", run_dir / "best.pt"
    progress = _restore(last, model, optimizer, scaler, context, device) if last.exists() else Progress()
    if progress.global_step >= plan.total_steps:
        say(f"{run_dir} holds a finished run ({plan.total_steps} steps)")
    elif progress.global_step:
        say(f"resuming at epoch {progress.epoch + 1}, step {progress.step_in_epoch} of {data.steps} "
            f"(global step {progress.global_step} of {plan.total_steps})")
    net = model
    if context.active:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def batches(epoch: int, start: int):
        data.train_sampler.set_position(epoch, start * data.local_batch)
        return data.train_loader

    def loss(module: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, int]:
        predicted = module(**model_inputs(module, batch, device))
        target = batch["label"].to(device, non_blocking=True)
        return LOSSES[settings.loss](predicted.float(), target), len(target)

    def validate(module: torch.nn.Module) -> dict[str, float]:
        indices, predictions = predict_batches(model, data.val_loader, device, dtype)
        parts = distributed.gather((indices, predictions), context)
        indices = np.concatenate([p[0] for p in parts])
        predictions = np.concatenate([p[1] for p in parts])
        order = np.argsort(indices, kind="stable")
        metrics = validation_metrics(data.val_labels[indices[order]].astype(np.float64), predictions[order])
        if context.main:
            bar.write(f"validation at step {progress.global_step}: SRCC {metrics['srcc']:.4f}, "
                      f"PLCC {metrics['plcc']:.4f}, KRCC {metrics['krcc']:.4f}, RMSE {metrics['rmse']:.4f}",
                      file=sys.stderr)
        return metrics

    common = {"model": config.to_dict(), "settings": settings.to_dict(), "split": split.to_dict()}

    def save(state: Progress, new_best: bool) -> None:
        rng = distributed.gather(_rng_state(device), context)
        if context.main:
            weights = model.state_dict()
            if new_best:  # first: a crash before "last" is written redoes this step and rewrites it
                save_checkpoint(best, {**common, "state_dict": weights, "progress": state.to_dict()})
            save_checkpoint(last, {**common, "state_dict": weights, "progress": state.to_dict(), "training": {
                "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "rng": rng}})
            write_json_atomic(run_dir / "history.json", state.history)
        distributed.barrier(context)

    from tqdm import tqdm

    images_per_epoch = data.train_sampler.rows_per_epoch() * context.world
    say(f"model {settings.model} on {device}{f' x {context.world} processes' if context.active else ''}: "
        f"{plan.total_steps} steps of {settings.batch_size} images ({images_per_epoch} per epoch), "
        f"validation after steps {', '.join(map(str, plan.validate_after))} of each epoch")
    bar = tqdm(total=plan.total_steps, initial=progress.global_step, unit="step", desc="train", dynamic_ncols=True,
               disable=not (context.main and settings.progress), file=sys.stderr)
    started, seen = time.perf_counter(), 0

    def on_step(state: Progress, value: float, size: int) -> None:
        nonlocal seen
        seen += size * context.world
        bar.update(1)
        if state.global_step % 5 == 0 or state.global_step == plan.total_steps:
            rate = seen / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix_str(f"epoch {state.epoch + 1}/{plan.epochs}, loss {value:.4f}, "
                                f"lr {optimizer.param_groups[0]['lr']:.2e}, {rate:.0f} img/s")

    if progress.global_step < plan.total_steps:
        progress = run_loop(net, optimizer, schedule, scaler, dtype, plan, progress,
                            Hooks(batches, loss, validate, save, on_step))
    bar.close()
    if context.main and progress.history:
        _plot_history(progress.history, run_dir / "history.png",
                      f"{settings.model}, {table.label} label, {settings.subset}\n{split.summary()}")
    say(f"done: best validation SRCC {progress.best_srcc:.4f} at step {progress.best_step}; weights in {best}")
    return RunResult(run_dir, progress.best_srcc, progress.best_step, progress.history, split)
