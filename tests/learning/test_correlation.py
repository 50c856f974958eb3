"""Agreement figures against scipy and against the mapping formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from learning.correlation import (agreement, fit_mapping, krcc, logistic4, logistic4_jacobian, logistic5,
                                  logistic5_jacobian, plcc, rmse, srcc)


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, 400)
    y = logistic4(x, 9.0, 1.0, 0.5, 0.08) + rng.normal(0, 0.3, 400)
    return x, y


def test_rank_and_raw_figures_equal_scipy(pairs):
    x, y = pairs
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert rmse(x, y) == pytest.approx(float(np.sqrt(np.mean((x - y) ** 2))), abs=1e-12)


def test_logistic_fit_recovers_a_known_curve():
    x = np.linspace(-1, 2, 300)
    y = logistic4(x, 9.0, 1.0, 0.5, 0.2)
    fit = fit_mapping(x, y, "logistic4")
    assert not fit.failed
    assert np.allclose(fit(x), y, atol=1e-6)
    assert plcc(x, y, "logistic4") == pytest.approx(1.0, abs=1e-9)
    assert plcc(x, y) < 0.99
    y5 = logistic5(x, 4.0, 3.0, 0.5, 0.7, 2.0)
    assert np.allclose(fit_mapping(x, y5, "logistic5")(x), y5, atol=1e-5)
    assert rmse(x, y5, "logistic5") == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("function, jacobian, params", [
    (logistic4, logistic4_jacobian, (9.0, 1.0, 0.5, 0.2)),
    (logistic4, logistic4_jacobian, (1.0, 9.0, 0.3, -0.15)),  # b4 < 0: the formula uses |b4|
    (logistic5, logistic5_jacobian, (4.0, 3.0, 0.5, 0.7, 2.0)),
    (logistic5, logistic5_jacobian, (-2.0, -6.0, 0.2, -0.3, 1.0)),
])
def test_jacobians_equal_central_differences(function, jacobian, params):
    x = np.linspace(-1, 2, 61)
    analytic = jacobian(x, *params)
    step = 1e-6
    for k in range(len(params)):
        up, down = list(params), list(params)
        up[k] += step
        down[k] -= step
        numeric = (function(x, *up) - function(x, *down)) / (2 * step)
        assert np.allclose(analytic[:, k], numeric, rtol=1e-5, atol=1e-7), f"column {k}"


def test_fitted_figures_beat_raw_on_a_nonlinear_relation(pairs):
    x, y = pairs
    figures = agreement(x, y)
    assert figures["n"] == 400
    assert figures["plcc_l4"] > figures["plcc"] and figures["rmse_l4"] < figures["rmse"]
    assert figures["plcc_l4"] == pytest.approx(plcc(x, y, "logistic4"), abs=1e-12)
    assert figures["rmse_l5"] == pytest.approx(rmse(x, y, "logistic5"), abs=1e-12)
    assert not figures["fit_failed_l4"] and not figures["fit_failed_l5"]


def test_a_decreasing_relation_is_fitted_too():
    x = np.linspace(0, 1, 200)
    y = 10 - logistic4(x, 9.0, 1.0, 0.5, 0.1)
    assert plcc(x, y, "logistic4") == pytest.approx(1.0, abs=1e-6)
    assert srcc(x, y) == pytest.approx(-1.0)


def test_non_finite_pairs_are_left_out_and_degenerate_input_is_nan():
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0, np.inf])
    y = np.array([2.0, 1.0, 3.0, 5.0, np.nan, 1.0])
    assert srcc(x, y) == pytest.approx(stats.spearmanr([1, 2, 4], [2, 1, 5]).statistic)
    assert math.isnan(srcc([1, 2], [1, 2]))
    assert math.isnan(plcc([1, 1, 1, 1], [1, 2, 3, 4]))
    figures = agreement([3, 3, 3], [1, 2, 3])
    assert math.isnan(figures["srcc"]) and math.isnan(figures["plcc_l4"]) and figures["n"] == 3
    with pytest.raises(ValueError):
        srcc([1, 2, 3], [1, 2])
