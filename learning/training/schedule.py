"""The learning rate at each optimisation step: linear warm-up, then a cosine decay (timm's CosineLRScheduler
per step, as the release configures it: ``warmup_t`` steps from ``warmup_lr``, cosine over ``t_initial`` =
all steps, measured from step 0, to ``min_lr``; one cycle)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    base_lr: float
    warmup_lr: float
    min_lr: float
    warmup_steps: int
    total_steps: int

    def __call__(self, step: int) -> float:
        """The rate used for optimisation step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return self.warmup_lr + step * (self.base_lr - self.warmup_lr) / self.warmup_steps
        if step >= self.total_steps:
            return self.min_lr
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * step / self.total_steps))

    def apply(self, optimizer, step: int) -> float:
        """Set every parameter group's rate for ``step`` (times the group's ``lr_scale``, default 1)."""
        lr = self(step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr
