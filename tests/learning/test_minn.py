"""Monotone functions and MINN: quadrature against closed forms, the Leibniz backward, monotonicity and the
exact inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from torch import nn

from learning.minn import (
    MINN,
    MonotoneFunction,
    PositiveIntegrand,
    _NeuralIntegral,
    clenshaw_curtis,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is steadier


def _integral(integrand: nn.Module, x: torch.Tensor, steps: int, params=None) -> torch.Tensor:
    names, own = zip(*integrand.named_parameters())
    nodes, weights = (torch.from_numpy(a).to(x.dtype) for a in clenshaw_curtis(steps))
    return _NeuralIntegral.apply(x, integrand, names, nodes, weights, *(params if params is not None else own))


class Exponential(nn.Module):
    """g(t) = c exp(a t): integral_0^x g = c (exp(a x) - 1) / a, a closed form to test the quadrature with."""

    def __init__(self, a: float, c: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.c = nn.Parameter(torch.tensor(c, dtype=torch.float64))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.c * torch.exp(self.a * t)


# --- quadrature --------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [4, 7, 100])
def test_clenshaw_curtis_is_exact_for_polynomials_up_to_its_degree(steps):
    nodes, weights = clenshaw_curtis(steps)
    for degree in range(steps + 1):
        exact = (1 + (-1) ** degree) / (degree + 1)  # integral of t^degree over [-1, 1]
        assert np.dot(weights, nodes**degree) == pytest.approx(exact, abs=1e-12)
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights, weights[::-1], atol=1e-15)


def test_clenshaw_curtis_converges_spectrally_on_smooth_functions():
    nodes, weights = clenshaw_curtis(20)
    # integral of exp over [-1, 1] and of 1 / (1 + 16 t^2) (Runge's function: slower, still accurate)
    assert np.dot(weights, np.exp(nodes)) == pytest.approx(math.e - 1 / math.e, abs=1e-14)
    nodes, weights = clenshaw_curtis(100)
    assert np.dot(weights, 1 / (1 + 16 * nodes**2)) == pytest.approx(math.atan(4) / 2, abs=1e-10)


def test_neural_integral_matches_the_closed_form_and_its_derivatives():
    g = Exponential(0.7, 1.3)
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5, 3.0], dtype=torch.float64, requires_grad=True)
    out = _integral(g, x, steps=30)
    a, c = 0.7, 1.3
    exact = c * (torch.exp(a * x.detach()) - 1) / a
    torch.testing.assert_close(out.detach(), exact, atol=1e-12, rtol=0)
    out.sum().backward()
    xd = x.detach()
    torch.testing.assert_close(x.grad, c * torch.exp(a * xd), atol=1e-12, rtol=0)  # Leibniz: g(x)
    d_c = ((torch.exp(a * xd) - 1) / a).sum()
    d_a = (c * (xd * torch.exp(a * xd) / a - (torch.exp(a * xd) - 1) / a**2)).sum()
    assert g.c.grad.item() == pytest.approx(d_c.item(), abs=1e-11)
    assert g.a.grad.item() == pytest.approx(d_a.item(), abs=1e-11)


def test_neural_integral_gradcheck_float64():
    torch.manual_seed(0)
    g = PositiveIntegrand((6, 5), activation="silu").double()
    params = [p.detach().clone().requires_grad_(True) for p in g.parameters()]
    x = torch.tensor([-1.7, -0.2, 0.4, 2.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *p: _integral(g, x, 40, p), (x, *params), atol=1e-8, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # quad at the ReLU kinks
def test_relu_integrand_matches_an_adaptive_quadrature_and_parameter_gradients_are_exact():
    torch.manual_seed(1)
    g = PositiveIntegrand((16, 16)).double()
    x = torch.tensor([-3.0, -1.0, 0.5, 2.5], dtype=torch.float64)
    out = _integral(g, x, steps=100)

    def g_scalar(t: float) -> float:
        with torch.no_grad():
            return float(g(torch.tensor([[t]], dtype=torch.float64)))

    for xi, value in zip(x.tolist(), out.tolist()):
        reference, _ = integrate.quad(g_scalar, 0.0, xi, limit=200, epsabs=1e-10)
        assert value == pytest.approx(reference, rel=2e-4, abs=1e-6)

    # the parameters' gradient is the quadrature of dg/dtheta: identical to autograd through the same sum
    _integral(g, x, 100).sum().backward()
    ours = [p.grad.clone() for p in g.parameters()]
    g.zero_grad()
    nodes, weights = (torch.from_numpy(a) for a in clenshaw_curtis(100))
    points = x[:, None] * (nodes + 1) / 2
    ((g(points.reshape(-1, 1)).reshape(points.shape) * weights).sum(1) * x / 2).sum().backward()
    for mine, reference in zip(ours, (p.grad for p in g.parameters())):
        torch.testing.assert_close(mine, reference, atol=1e-12, rtol=1e-10)


def test_the_backward_keeps_no_quadrature_graph():
    torch.manual_seed(0)
    f = MonotoneFunction((8, 8), steps=100)
    saved: list[torch.Size] = []
    x = torch.randn(32, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        f(x)
    assert saved, "nothing saved at all: the hook did not run"
    assert all(shape.numel() < 32 * 101 for shape in saved), saved


# --- monotone functions ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_monotone_function_is_strictly_increasing(seed):
    torch.manual_seed(seed)
    f = MonotoneFunction((32, 32), steps=100)
    with torch.no_grad():
        for p in f.integrand.parameters():  # move every weight by half its layer's spread, as training might
            p.add_(torch.randn_like(p) * 0.5 * p.abs().mean())
        x = torch.linspace(-20, 20, 2001)
        y = f(x)
    assert torch.all(torch.diff(y) > 0)
    assert f(torch.zeros(1)).item() == pytest.approx(f.offset.item(), abs=1e-6)  # integral from 0


def test_monotone_function_rejects_a_matrix():
    with pytest.raises(ValueError, match=r"vector \(N,\)"):
        MonotoneFunction((4,), 10)(torch.zeros(3, 1))


# --- MINN --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("blocks", [1, 2])
def test_minn_inverse_is_exact(blocks):
    torch.manual_seed(blocks)
    net, m = MINN(blocks, hidden=(32, 32)).double(), MonotoneFunction((32, 32)).double()
    q = torch.linspace(-1, 11, 500, dtype=torch.float64)
    with torch.no_grad():
        y1, y2 = net(q, m(q))
        x1, x2 = net.inverse(y1, y2)
        torch.testing.assert_close(x1, q, atol=1e-9, rtol=0)
        torch.testing.assert_close(x2, m(q), atol=1e-9, rtol=0)
        a = torch.linspace(0, 10, 50, dtype=torch.float64)  # and forward(inverse(y)) = y
        b1, b2 = net(*net.inverse(a, a))
        torch.testing.assert_close(b1, a, atol=1e-9, rtol=0)
        torch.testing.assert_close(b2, a, atol=1e-9, rtol=0)


def test_minn_inverse_is_exact_to_1e5_in_float32():
    torch.manual_seed(0)
    net, m = MINN(), MonotoneFunction()  # the authors' sizes: one block, (100, 100, 100), 100 steps
    q = torch.linspace(0, 10, 300)
    with torch.no_grad():
        x1, x2 = net.inverse(*net(q, m(q)))
    torch.testing.assert_close(x1, q, atol=1e-5, rtol=0)
    torch.testing.assert_close(x2, m(q), atol=1e-5, rtol=0)


def test_mapped_score_is_strictly_increasing_in_the_proxy():
    torch.manual_seed(3)
    net, m = MINN(hidden=(30, 30), steps=60), MonotoneFunction((30, 30), steps=60)
    with torch.no_grad():
        for p in [*net.parameters(), *m.parameters()]:
            p.normal_(0, 2)
        q = torch.linspace(-5, 15, 2001, dtype=torch.float64)
        net, m = net.double(), m.double()
        y1, y2 = net(q, m(q))
    assert torch.all(torch.diff(y1) > 0) and torch.all(torch.diff(y2) > 0)


class _InverseX1(nn.Module):
    """x1 of MINN^-1(a, a): how the range constraint maps an annotation bound back to the proxy scale."""

    def __init__(self, net: MINN) -> None:
        super().__init__()
        self.net = net

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.net.inverse(a, a)[0]


def test_gradients_through_the_inverse_gradcheck_float64():
    torch.manual_seed(0)
    inverse = _InverseX1(MINN(blocks=1, hidden=(5, 4), steps=40, activation="silu").double())
    names = [n for n, _ in inverse.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in inverse.parameters()]
    a = torch.tensor([0.0, 3.0, 10.0], dtype=torch.float64, requires_grad=True)

    def x1(a, *params):
        return torch.func.functional_call(inverse, dict(zip(names, params)), (a,))

    assert torch.autograd.gradcheck(x1, (a, *params), atol=1e-7, rtol=1e-5)
