"""How the shared proxy score meets each dataset's annotations: MIMI and three baselines, by name.

Each method is a module holding its per-dataset parameters (none for the baselines without mappers) and a
``loss`` over one step's proxies and normalised targets, one tensor per dataset. At test time every method
is judged on the proxy score alone.

- ``mimi``: per dataset a monotone map M_k and a MINN_k; x1 = q, x2 = M_k(q), (y1, y2) = MINN_k(x1, x2);
  loss = sum_k w_k SmoothL1(y2_k, a_k) / K + c SmoothL1(y1, y2) + r * range constraint (r = 1/K by default),
  the range constraint reading x1 of MINN_k^-1(a, a) at each dataset's scale bounds.
- ``monotone``: per dataset a monotone map only, SmoothL1(M_k(q), a_k): no inverse, no range term.
- ``naive``: SmoothL1(q, a_k) on the pooled normalised annotations, one scale for all.
- ``pairwise``: UNIQUE's fidelity loss on pairs within each dataset's batch (ranks only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from learning.minn import DEFAULT_HIDDEN, DEFAULT_STEPS, MINN, MonotoneFunction
from learning.mixed import losses


@dataclass(frozen=True)
class MinnSettings:
    blocks: int = 1
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    steps: int = DEFAULT_STEPS  # Clenshaw-Curtis intervals
    activation: str = "relu"


@dataclass(frozen=True)
class LossSettings:
    consistency_weight: float = 2.0
    range_weight: float | None = None  # None: 1 / K
    smooth_l1_beta: float = 1.0


@dataclass
class StepLoss:
    total: torch.Tensor
    parts: dict[str, float]  # for logs: each term's value


class Method(nn.Module):
    def __init__(self, datasets: int, weights: Sequence[float], loss: LossSettings) -> None:
        super().__init__()
        if len(weights) != datasets:
            raise ValueError(f"{len(weights)} dataset weights for {datasets} datasets")
        self.weights, self.settings = list(weights), loss

    def loss(self, proxies: list[torch.Tensor], targets: list[torch.Tensor], bounds: torch.Tensor) -> StepLoss:
        """``bounds``: (K, 2) normalised scale bounds (low, high) of each dataset."""
        raise NotImplementedError

    def _fit(self, predicted: list[torch.Tensor], targets: list[torch.Tensor]) -> tuple[torch.Tensor, list[float]]:
        beta = self.settings.smooth_l1_beta
        terms = [losses.smooth_l1(p, t, beta) for p, t in zip(predicted, targets)]
        return losses.weighted_mean(terms, self.weights), [t.item() for t in terms]


class Mimi(Method):
    def __init__(self, datasets: int, weights: Sequence[float], loss: LossSettings, minn: MinnSettings) -> None:
        super().__init__(datasets, weights, loss)
        self.maps = nn.ModuleList(MonotoneFunction(minn.hidden, minn.steps, minn.activation) for _ in range(datasets))
        self.minns = nn.ModuleList(MINN(minn.blocks, minn.hidden, minn.steps, minn.activation)
                                   for _ in range(datasets))

    def mapped(self, k: int, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y1, y2) of dataset k for proxies q; y2 is the score on k's normalised scale."""
        return self.minns[k](q, self.maps[k](q))

    def proxy_of(self, k: int, annotation: torch.Tensor) -> torch.Tensor:
        """x1 of MINN_k^-1(a, a): the proxy that dataset k's annotation a maps back to."""
        return self.minns[k].inverse(annotation, annotation)[0]

    def loss(self, proxies, targets, bounds):
        outputs = [self.mapped(k, q) for k, q in enumerate(proxies)]
        fit, terms = self._fit([y2 for _, y2 in outputs], targets)
        beta = self.settings.smooth_l1_beta
        consistency = losses.smooth_l1(torch.cat([y1 for y1, _ in outputs]), torch.cat([y2 for _, y2 in outputs]),
                                       beta)
        ends = torch.stack([self.proxy_of(k, bounds[k]) for k in range(len(proxies))])  # (K, 2): min, max
        ranges = losses.range_constraint(ends[:, 0], ends[:, 1])
        range_weight = self.settings.range_weight if self.settings.range_weight is not None else 1 / len(proxies)
        total = fit + self.settings.consistency_weight * consistency + range_weight * ranges
        parts = {"fit": fit.item(), "consistency": consistency.item(), "range": ranges.item()}
        parts.update({f"fit_{k}": t for k, t in enumerate(terms)})
        return StepLoss(total, parts)


class Monotone(Method):
    def __init__(self, datasets: int, weights: Sequence[float], loss: LossSettings, minn: MinnSettings) -> None:
        super().__init__(datasets, weights, loss)
        self.maps = nn.ModuleList(MonotoneFunction(minn.hidden, minn.steps, minn.activation) for _ in range(datasets))

    def loss(self, proxies, targets, bounds):
        fit, terms = self._fit([self.maps[k](q) for k, q in enumerate(proxies)], targets)
        return StepLoss(fit, {"fit": fit.item(), **{f"fit_{k}": t for k, t in enumerate(terms)}})


class Naive(Method):
    def __init__(self, datasets: int, weights: Sequence[float], loss: LossSettings, minn: MinnSettings) -> None:
        super().__init__(datasets, weights, loss)

    def loss(self, proxies, targets, bounds):
        fit, terms = self._fit(proxies, targets)
        return StepLoss(fit, {"fit": fit.item(), **{f"fit_{k}": t for k, t in enumerate(terms)}})


class Pairwise(Method):
    def __init__(self, datasets: int, weights: Sequence[float], loss: LossSettings, minn: MinnSettings) -> None:
        super().__init__(datasets, weights, loss)

    def loss(self, proxies, targets, bounds):
        terms = [losses.fidelity_loss(q, a) for q, a in zip(proxies, targets)]
        fit = losses.weighted_mean(terms, self.weights)
        return StepLoss(fit, {"fit": fit.item(), **{f"fit_{k}": t.item() for k, t in enumerate(terms)}})


METHODS: dict[str, Callable[..., Method]] = {"mimi": Mimi, "monotone": Monotone, "naive": Naive,
                                             "pairwise": Pairwise}


def build_method(name: str, datasets: int, weights: Sequence[float], loss: LossSettings,
                 minn: MinnSettings) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name](datasets, weights, loss, minn)
