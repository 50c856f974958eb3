"""Loss terms against their formulas, and the methods' losses against a direct computation."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from learning.mixed import losses
from learning.mixed.methods import LossSettings, MinnSettings, build_method


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is steadier


def test_range_constraint_is_the_sum_of_distances_to_the_extreme_bounds():
    r_min = torch.tensor([0.5, -1.0, 2.0])
    r_max = torch.tensor([9.0, 10.0, 7.5])
    expected = (1.5 + 0 + 3.0) + (1.0 + 0 + 2.5)
    assert losses.range_constraint(r_min, r_max).item() == pytest.approx(expected)
    assert losses.range_constraint(torch.zeros(3), torch.ones(3)).item() == 0.0


def test_fidelity_loss_matches_the_formula_on_every_pair():
    q = torch.tensor([0.3, 1.2, -0.4, 0.9], dtype=torch.float64)
    a = torch.tensor([2.0, 5.0, 1.0, 5.0], dtype=torch.float64)
    total = []
    for i in range(4):
        for j in range(i + 1, 4):
            p = stats.norm.cdf((q[i] - q[j]).item() / math.sqrt(2))
            truth = 1.0 if a[i] > a[j] else 0.5 if a[i] == a[j] else 0.0
            total.append(1 - math.sqrt(p * truth + 1e-8) - math.sqrt((1 - p) * (1 - truth) + 1e-8))
    assert losses.fidelity_loss(q, a).item() == pytest.approx(sum(total) / len(total), abs=1e-12)
    ordered = torch.tensor([0.0, 3.0, 6.0], dtype=torch.float64)
    assert losses.fidelity_loss(ordered, ordered).item() < losses.fidelity_loss(-ordered, ordered).item()


def test_weighted_mean_is_the_authors_sum_over_k():
    terms = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0)]
    assert losses.weighted_mean(terms, [1, 4, 1]).item() == pytest.approx((1 + 8 + 4) / 3)


def test_mimi_loss_equals_its_terms_computed_by_hand():
    torch.manual_seed(0)
    small = MinnSettings(hidden=(8,), steps=16)
    method = build_method("mimi", 2, [1.0, 4.0], LossSettings(consistency_weight=2.0), small)
    q = [torch.randn(5), torch.randn(3)]
    a = [torch.rand(5) * 10, torch.rand(3) * 10]
    bounds = torch.tensor([[0.0, 10.0], [-1.0, 12.0]])
    got = method.loss(q, a, bounds)
    y = [method.minns[k](q[k], method.maps[k](q[k])) for k in range(2)]
    sl1 = torch.nn.functional.smooth_l1_loss
    fit = (1.0 * sl1(y[0][1], a[0]) + 4.0 * sl1(y[1][1], a[1])) / 2
    consistency = sl1(torch.cat([y[0][0], y[1][0]]), torch.cat([y[0][1], y[1][1]]))
    ends = [method.minns[k].inverse(bounds[k], bounds[k])[0] for k in range(2)]
    ranges = abs(ends[0][0] - min(ends[0][0], ends[1][0])) + abs(ends[1][0] - min(ends[0][0], ends[1][0])) + \
        abs(ends[0][1] - max(ends[0][1], ends[1][1])) + abs(ends[1][1] - max(ends[0][1], ends[1][1]))
    assert got.total.item() == pytest.approx((fit + 2.0 * consistency + ranges / 2).item(), rel=1e-6)
    assert got.parts["range"] == pytest.approx(ranges.item(), rel=1e-6)
    got.total.backward()
    assert all(p.grad is not None for p in method.minns.parameters())


@pytest.mark.parametrize("name", ["naive", "monotone", "pairwise"])
def test_baselines_have_no_range_or_consistency_term(name):
    torch.manual_seed(0)
    method = build_method(name, 2, [1.0, 1.0], LossSettings(), MinnSettings(hidden=(8,), steps=16))
    q = [torch.randn(4), torch.randn(4)]
    a = [torch.rand(4) * 10, torch.rand(4) * 10]
    got = method.loss(q, a, torch.tensor([[0.0, 10.0], [0.0, 10.0]]))
    assert set(got.parts) == {"fit", "fit_0", "fit_1"}
    if name == "naive":
        sl1 = torch.nn.functional.smooth_l1_loss
        assert got.total.item() == pytest.approx(((sl1(q[0], a[0]) + sl1(q[1], a[1])) / 2).item())
    assert (len(list(method.parameters())) > 0) == (name == "monotone")


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="known: mimi, monotone, naive, pairwise"):
        build_method("mimo", 2, [1, 1], LossSettings(), MinnSettings())
