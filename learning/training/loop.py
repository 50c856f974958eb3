"""The optimisation loop, independent of what the batches and the loss are: epochs of steps, the learning
rate set per step, reduced precision on CUDA, validation at chosen steps of each epoch, checkpoints.

What a run plugs in (:class:`Hooks`): the batches of an epoch from a given step, the loss of a batch, a
validation, and how to save. Everything the loop counts lives in :class:`Progress`, which the checkpoints
carry: a run resumed from one repeats exactly what the uninterrupted run did next.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch

from learning.training.schedule import WarmupCosine


@dataclass
class Progress:
    epoch: int = 0  # epochs finished
    step_in_epoch: int = 0  # steps of the current epoch finished
    global_step: int = 0
    best_srcc: float = -math.inf
    best_step: int = -1
    loss_sum: float = 0.0  # training loss since the last validation (this rank's)
    loss_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per validation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Progress":
        return cls(**data)


@dataclass(frozen=True)
class LoopPlan:
    epochs: int
    steps_per_epoch: int
    validate_after: tuple[int, ...]  # validate when this many steps of an epoch are done
    checkpoint_every: int  # also save "last" every this many global steps (0: never)

    @classmethod
    def spaced(cls, epochs: int, steps_per_epoch: int, validations: int, checkpoint_every: int = 0) -> "LoopPlan":
        """``validations`` evenly spaced per epoch, the last at the epoch's end."""
        after = sorted({math.ceil(k * steps_per_epoch / validations) for k in range(1, validations + 1)})
        return cls(epochs, steps_per_epoch, tuple(after), checkpoint_every)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class Hooks:
    batches: Callable[[int, int], Iterable[dict[str, Any]]]  # (epoch, first step) -> that epoch's batches
    loss: Callable[[torch.nn.Module, dict[str, Any]], tuple[torch.Tensor, int]]  # (mean loss, batch size)
    validate: Callable[[torch.nn.Module], dict[str, float]]  # must hold "srcc"; leaves the model in eval mode
    save: Callable[[Progress, bool], None]  # (progress, new best) at a validation or a checkpoint step
    on_step: Callable[[Progress, float, int], None] = lambda progress, loss, images: None  # progress display


def run_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule: WarmupCosine,
             scaler: torch.amp.GradScaler, dtype: torch.dtype | None, plan: LoopPlan, progress: Progress,
             hooks: Hooks) -> Progress:
    """Train from ``progress`` to the end of ``plan``; returns the final progress."""
    device_type = next(model.parameters()).device.type
    model.train()
    while progress.epoch < plan.epochs:
        for batch in hooks.batches(progress.epoch, progress.step_in_epoch):
            lr = schedule.apply(optimizer, progress.global_step)
            with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
                loss, size = hooks.loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            value = float(loss.detach())
            progress.loss_sum += value * size
            progress.loss_count += size
            epoch = progress.epoch
            progress.step_in_epoch += 1
            progress.global_step += 1
            hooks.on_step(progress, value, size)
            done = progress.step_in_epoch
            if done == plan.steps_per_epoch:
                progress.epoch, progress.step_in_epoch = epoch + 1, 0
            if done in plan.validate_after:
                metrics = hooks.validate(model)
                model.train()
                best = progress.best_step < 0 or _rank_key(metrics["srcc"]) > _rank_key(progress.best_srcc)
                if best:
                    progress.best_srcc, progress.best_step = metrics["srcc"], progress.global_step
                progress.history.append({"epoch": round(epoch + done / plan.steps_per_epoch, 4),
                                         "global_step": progress.global_step, "lr": lr,
                                         "train_loss": progress.loss_sum / max(progress.loss_count, 1), **metrics})
                progress.loss_sum, progress.loss_count = 0.0, 0
                hooks.save(progress, best)
            elif plan.checkpoint_every and progress.global_step % plan.checkpoint_every == 0:
                hooks.save(progress, False)
            if progress.step_in_epoch == 0:
                break  # the epoch is done: the next one starts with fresh batches
        else:
            raise RuntimeError(f"epoch {progress.epoch} ended after {progress.step_in_epoch} of "
                               f"{plan.steps_per_epoch} steps")
    return progress


def _rank_key(srcc: float) -> float:
    """An undefined SRCC (constant predictions) ranks below any defined one."""
    return srcc if math.isfinite(srcc) else -math.inf
