"""Monotone functions and the monotonic invertible network (MINN) of MIMI (Chen, Xiao, Shen, Wang, IJCV 2025).

A monotone function in the UMNN style (Wehenkel & Louppe 2019):

    f(x) = exp(s) * integral_0^x g(t) dt + b,    g(t) = ELU(MLP(t)) + 1 > 0

so f is increasing whatever the weights, up to the quadrature's error and rounding: the nodes move with x,
so an integrand that varies sharply between nodes can bend the computed f, and where g comes close to 0 (ELU
saturated) f is flat to rounding. The integral is a Clenshaw-Curtis quadrature (``steps``
intervals, 100 by default) computed without keeping its graph: the backward pass uses Leibniz's rule
(d/dx = g(x)) and, for the MLP's parameters, the quadrature of dg/dtheta, evaluated again in the backward.

A MINN block is an additive coupling of two monotone functions F and G:

    forward   y1 = x1 + F(x2),  y2 = x2 + G(y1)
    inverse   x2 = y2 - G(y1),  x1 = y1 - F(x2)      (exact up to rounding)

MIMI feeds x1 = q (the shared proxy score) and x2 = M_k(q) (a per-dataset monotone map) and reads y2 as the
score on dataset k's scale; y2 is strictly increasing in q.

    from learning.minn import MonotoneFunction, MINN
    m, net = MonotoneFunction(), MINN()
    y1, y2 = net(q, m(q))
    x1, x2 = net.inverse(y1, y2)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

DEFAULT_HIDDEN = (100, 100, 100)
DEFAULT_STEPS = 100


def clenshaw_curtis(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes cos(j pi / steps), j = 0..steps, and weights of Clenshaw-Curtis quadrature on [-1, 1] (float64).

    Exact for polynomials of degree <= steps (Trefethen, Spectral Methods in MATLAB, clencurt)."""
    if steps < 1:
        raise ValueError(f"Clenshaw-Curtis needs at least 1 interval, got {steps}")
    theta = np.pi * np.arange(steps + 1) / steps
    nodes = np.cos(theta)
    weights = np.zeros(steps + 1)
    inner = np.ones(steps - 1)
    interior = theta[1:-1]
    if steps % 2 == 0:
        weights[0] = weights[-1] = 1.0 / (steps**2 - 1)
        for k in range(1, steps // 2):
            inner -= 2.0 * np.cos(2 * k * interior) / (4 * k * k - 1)
        inner -= np.cos(steps * interior) / (steps**2 - 1)
    else:
        weights[0] = weights[-1] = 1.0 / steps**2
        for k in range(1, (steps - 1) // 2 + 1):
            inner -= 2.0 * np.cos(2 * k * interior) / (4 * k * k - 1)
    weights[1:-1] = 2.0 * inner / steps
    return nodes, weights


class _NeuralIntegral(torch.autograd.Function):
    """integral_0^x g(t) dt per element of x (N,), by quadrature; g is ``integrand`` with ``params``."""

    @staticmethod
    def forward(ctx, x, integrand, names, nodes, weights, *params):
        points = x[:, None] * (nodes[None, :] + 1) / 2  # the nodes mapped from [-1, 1] to [0, x]
        values = _evaluate(integrand, names, params, points)
        ctx.integrand, ctx.names = integrand, names
        ctx.save_for_backward(x, nodes, weights, *params)
        return (values * weights).sum(1) * x / 2

    @staticmethod
    def backward(ctx, grad_out):
        x, nodes, weights, *params = ctx.saved_tensors
        grad_x = grad_params = None
        if ctx.needs_input_grad[0]:
            with torch.no_grad():
                grad_x = _evaluate(ctx.integrand, ctx.names, params, x[:, None])[:, 0] * grad_out  # Leibniz
        if any(ctx.needs_input_grad[5:]):
            with torch.enable_grad():
                leaves = [p.detach().requires_grad_(True) for p in params]
                points = x[:, None] * (nodes[None, :] + 1) / 2
                values = _evaluate(ctx.integrand, ctx.names, leaves, points)
                # d/dtheta of the quadrature = the quadrature of dg/dtheta, weighted by the upstream gradient
                coefficients = (grad_out * x / 2)[:, None] * weights[None, :]
                grad_params = torch.autograd.grad(values, leaves, coefficients, allow_unused=True)
        return (grad_x, None, None, None, None, *(grad_params or [None] * len(params)))


def _evaluate(integrand: nn.Module, names: Sequence[str], params: Sequence[torch.Tensor],
              points: torch.Tensor) -> torch.Tensor:
    flat = functional_call(integrand, dict(zip(names, params)), (points.reshape(-1, 1),))
    return flat.reshape(points.shape)


ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}


class PositiveIntegrand(nn.Module):
    """g(t) = ELU(MLP(t)) + 1: a strictly positive function of one variable.

    ReLU hidden layers are the authors' choice; their kinks limit the quadrature to O(steps^-2) accuracy, so
    the Leibniz gradient g(x) differs from the exact derivative of the quadrature by about 1e-4 relative.
    SiLU makes g smooth: the quadrature then converges spectrally and the two agree to rounding."""

    def __init__(self, hidden: Sequence[int] = DEFAULT_HIDDEN, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        sizes = [1, *hidden, 1]
        layers: list[nn.Module] = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return nn.functional.elu(self.net(t)) + 1.0


class MonotoneFunction(nn.Module):
    """f(x) = exp(s) * integral_0^x g + b, strictly increasing; maps (N,) to (N,)."""

    def __init__(self, hidden: Sequence[int] = DEFAULT_HIDDEN, steps: int = DEFAULT_STEPS,
                 activation: str = "relu") -> None:
        super().__init__()
        self.integrand = PositiveIntegrand(hidden, activation)
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.offset = nn.Parameter(torch.zeros(()))
        # float64 and not buffers: Module.float() / .to() must not round them; cast to x's dtype at use
        self._quadrature = tuple(torch.from_numpy(a) for a in clenshaw_curtis(steps))

    def integral(self, x: torch.Tensor) -> torch.Tensor:
        """integral_0^x g(t) dt for x of shape (N,)."""
        names, params = zip(*self.integrand.named_parameters())
        nodes, weights = (a.to(device=x.device, dtype=x.dtype) for a in self._quadrature)
        return _NeuralIntegral.apply(x, self.integrand, names, nodes, weights, *params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 1:
            raise ValueError(f"a monotone function maps a vector (N,), got shape {tuple(x.shape)}")
        return torch.exp(self.log_scale) * self.integral(x) + self.offset


class MinnBlock(nn.Module):
    """Additive coupling of two monotone functions: exactly invertible, increasing in both inputs."""

    def __init__(self, hidden: Sequence[int] = DEFAULT_HIDDEN, steps: int = DEFAULT_STEPS,
                 activation: str = "relu") -> None:
        super().__init__()
        self.F = MonotoneFunction(hidden, steps, activation)
        self.G = MonotoneFunction(hidden, steps, activation)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y1 = x1 + self.F(x2)
        return y1, x2 + self.G(y1)

    def inverse(self, y1: torch.Tensor, y2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x2 = y2 - self.G(y1)
        return y1 - self.F(x2), x2


class MINN(nn.Module):
    """A stack of ``blocks`` coupling blocks (the authors' CNN variant uses one)."""

    def __init__(self, blocks: int = 1, hidden: Sequence[int] = DEFAULT_HIDDEN, steps: int = DEFAULT_STEPS,
                 activation: str = "relu") -> None:
        super().__init__()
        if blocks < 1:
            raise ValueError(f"a MINN needs at least one block, got {blocks}")
        self.blocks = nn.ModuleList(MinnBlock(hidden, steps, activation) for _ in range(blocks))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in self.blocks:
            x1, x2 = block(x1, x2)
        return x1, x2

    def inverse(self, y1: torch.Tensor, y2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in reversed(self.blocks):
            y1, y2 = block.inverse(y1, y2)
        return y1, y2

