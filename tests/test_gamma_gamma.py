"""Gamma-Gamma: published CDNOW figures, parity with lifetimes, numerics, simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import GammaGammaFitter

from clvmodels import GammaGamma, NotFittedError, StatisticalWarning
from clvmodels.models import gamma_gamma as gg

from .published import (
    GG_CORRELATION,
    GG_EXPECTED_SPEND,
    GG_LOGLIK_MEAN,
    GG_LOGLIK_TOTAL,
    GG_MEAN_SPEND,
    GG_OBSERVED_MEAN,
    GG_PARAMS,
    cdnow_summary,
)

PARAM_SETS = [
    {"p": 6.25, "q": 3.74, "gamma": 15.44},
    {"p": 0.8, "q": 1.5, "gamma": 2.0},
    {"p": 40.0, "q": 12.0, "gamma": 300.0},
]


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow) -> GammaGamma:
    return GammaGamma().fit(cdnow)


def test_published_parameters(fitted):
    for name, value in GG_PARAMS.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-3), name
    assert fitted.converged_
    assert fitted.n_customers_ == 946


def test_published_loglik_in_both_conventions(fitted, cdnow):
    assert fitted.loglik_ == pytest.approx(GG_LOGLIK_MEAN, abs=0.05)
    repeat = cdnow[cdnow.frequency > 0]
    total_spend = fitted.loglik_ - np.log(repeat["frequency"]).sum()
    assert total_spend == pytest.approx(GG_LOGLIK_TOTAL, abs=0.05)


def test_published_expected_spend(fitted, cdnow):
    spend = fitted.expected_spend(cdnow.head(10))
    np.testing.assert_allclose(spend, GG_EXPECTED_SPEND, atol=5e-3)
    assert fitted.mean_spend() == pytest.approx(GG_MEAN_SPEND, abs=5e-3)
    repeat = cdnow[cdnow.frequency > 0]
    assert repeat["monetary_value"].mean() == pytest.approx(GG_OBSERVED_MEAN, abs=5e-3)
    assert fitted.frequency_spend_corr_ == pytest.approx(GG_CORRELATION, abs=5e-3)


def test_standard_errors_match_lifetimes(fitted, cdnow):
    repeat = cdnow[cdnow.frequency > 0]
    reference = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(fitted.params_, reference.params_, rtol=1e-5)
    np.testing.assert_allclose(fitted.summary()["std_error"], reference.standard_errors_, rtol=1e-3)


@pytest.mark.parametrize("params", PARAM_SETS)
def test_parity_with_lifetimes(params, cdnow):
    reference = GammaGammaFitter()
    reference.params_ = pd.Series({"p": params["p"], "q": params["q"], "v": params["gamma"]})
    x, m = cdnow["frequency"].to_numpy(), cdnow["monetary_value"].to_numpy()
    np.testing.assert_allclose(
        gg.expected_spend(params, x, m), reference.conditional_expected_average_profit(x, m), rtol=1e-6
    )
    repeat = x > 0
    log_params = np.log([params["p"], params["q"], params["gamma"]])
    theirs = -GammaGammaFitter._negative_log_likelihood(
        log_params, x[repeat], m[repeat], np.ones(repeat.sum()), 0.0
    ) * repeat.sum()
    assert gg.loglik(params, x[repeat], m[repeat]).sum() == pytest.approx(theirs, rel=1e-10)


@pytest.mark.parametrize("params", PARAM_SETS)
def test_gradient_and_kernel(params, cdnow):
    repeat = cdnow[cdnow.frequency > 0]
    x, m = repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy()
    theta = np.array([params["p"], params["q"], params["gamma"]])
    analytic = gg.loglik_grad(theta, x, m).sum(axis=1)
    for j in range(3):
        h = 1e-6 * theta[j]
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        numeric = (gg.loglik(up, x, m).sum() - gg.loglik(down, x, m).sum()) / (2 * h)
        assert analytic[j] == pytest.approx(numeric, rel=1e-6, abs=1e-6)
    weights = np.arange(1, len(x) + 1, dtype=float) % 4 + 1
    value, grad = gg._PatternLoglik(x, m, weights)(theta)
    assert value == pytest.approx(weights @ gg.loglik(theta, x, m), rel=1e-12)
    np.testing.assert_allclose(grad, gg.loglik_grad(theta, x, m) @ weights, rtol=1e-9, atol=1e-8)


def test_expected_spend_is_a_weighted_average(fitted, cdnow):
    p, q, gamma = fitted.params_
    spend = fitted.expected_spend(cdnow)
    x, m = cdnow["frequency"], cdnow["monetary_value"]
    weight = p * x / (p * x + q - 1)
    np.testing.assert_allclose(spend, (1 - weight) * fitted.mean_spend() + weight * m, rtol=1e-12)
    np.testing.assert_allclose(spend[x == 0], fitted.mean_spend(), rtol=1e-12)


def test_parameter_recovery_and_seeded_simulation():
    params = {"p": 4.0, "q": 5.0, "gamma": 20.0}
    rng = np.random.default_rng(5)
    x = 1 + rng.poisson(3.0, 20_000)
    one = gg.simulate(params, x, random_seed=9)
    pd.testing.assert_frame_equal(one, gg.simulate(params, x, random_seed=9))
    data = one.assign(recency=0.0, T=1.0)
    data.loc[data.frequency > 0, "recency"] = 0.5
    model = GammaGamma().fit(data)
    table = model.summary(ci=0.999)
    for name, value in params.items():
        assert abs(model.params_[name] - value) < 4 * table.loc[name, "std_error"], name
        assert table.loc[name, "lower"] < value < table.loc[name, "upper"], name
    # E[mean spend | x] = p gamma / (q - 1) whatever x is
    spend = one["monetary_value"]
    assert spend.mean() == pytest.approx(float(gg.mean_spend(params)), abs=4 * spend.std() / np.sqrt(len(x)))


def test_correlation_warning():
    rng = np.random.default_rng(1)
    x = 1 + rng.poisson(4.0, 2000)
    m = 5.0 * x + rng.gamma(5.0, 2.0, 2000)  # spend grows with frequency
    data = pd.DataFrame({"frequency": x, "recency": 1.0, "T": 2.0, "monetary_value": m})
    with pytest.warns(StatisticalWarning, match="correlated"):
        model = GammaGamma().fit(data)
    assert model.frequency_spend_corr_ > 0.3


def test_fit_uses_repeat_customers_only(fitted, cdnow):
    model = GammaGamma().fit(cdnow[cdnow.frequency > 0])
    np.testing.assert_allclose(model.params_, fitted.params_, rtol=1e-10)
    assert len(fitted.loglik_per_customer(cdnow)) == 946


def test_bad_input(cdnow):
    with pytest.raises(NotFittedError):
        GammaGamma().expected_spend(cdnow)
    bad = cdnow.copy()
    bad.loc[bad.frequency > 0, "monetary_value"] = bad.loc[bad.frequency > 0, "monetary_value"].where(
        bad.loc[bad.frequency > 0, "monetary_value"] > 15, 0.0
    )
    n_bad = int(((bad.frequency > 0) & (bad.monetary_value <= 0)).sum())
    with pytest.raises(ValueError, match=f"'monetary_value': {n_bad} customers"):
        GammaGamma().fit(bad)
    with pytest.raises(ValueError, match="no column 'monetary_value'"):
        GammaGamma().fit(cdnow.drop(columns="monetary_value"))
    with pytest.raises(ValueError, match="repeat purchases"):
        GammaGamma().fit(cdnow[cdnow.frequency == 0])
