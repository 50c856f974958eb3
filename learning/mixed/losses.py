"""The loss terms of MIMI and of the baselines, as pure functions of tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smooth_l1(predicted: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    return F.smooth_l1_loss(predicted, target, beta=beta)


def range_constraint(proxy_min: torch.Tensor, proxy_max: torch.Tensor) -> torch.Tensor:
    """sum_k |r_min_k - min_j r_min_j| + |r_max_k - max_j r_max_j|: zero exactly when every dataset's
    annotation range maps back to the same proxy range. Inputs: (K,) proxies of each dataset's bounds."""
    return (proxy_min - proxy_min.min()).abs().sum() + (proxy_max - proxy_max.max()).abs().sum()


def fidelity_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """UNIQUE's pairwise fidelity loss over every pair of one dataset's batch (Zhang et al., TIP 2021).

    The model's probability that image i is better than j is Phi((q_i - q_j) / sqrt(2)) (unit variances);
    the ground truth is 1 when a_i > a_j, 0.5 on ties; the loss is 1 - sqrt(p p^) - sqrt((1 - p)(1 - p^)),
    averaged over the pairs i < j."""
    n = predicted.shape[0]
    if n < 2:
        return predicted.sum() * 0.0
    i, j = torch.triu_indices(n, n, offset=1, device=predicted.device)
    p = 0.5 * (1 + torch.erf((predicted[i] - predicted[j]) / 2.0))  # Phi(d / sqrt(2)) = (1 + erf(d / 2)) / 2
    truth = (target[i] > target[j]).to(p.dtype) + 0.5 * (target[i] == target[j]).to(p.dtype)
    eps = 1e-8  # sqrt has an infinite slope at 0
    return (1 - torch.sqrt(p * truth + eps) - torch.sqrt((1 - p) * (1 - truth) + eps)).mean()


def weighted_mean(terms: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """sum_k w_k L_k / K: the authors' weighting of the per-dataset terms."""
    if len(terms) != len(weights):
        raise ValueError(f"{len(terms)} terms for {len(weights)} weights")
    return sum(w * t for w, t in zip(weights, terms)) / len(terms)
