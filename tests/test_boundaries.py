"""Limits of the models that are answers, not failures, and quantities that do not exist.

- Customers who never drop out: the BG/NBD reduces to the NBD (b -> infinity); the fit says so in
  plain words, converges, and the forecast proceeds without a numpy warning or a NaN.
- Every amount identical: Gamma-Gamma's spend forecast is that constant.
- Heavy-tailed spend (q <= 1): the expected spend does not exist; it is reported as infinite
  with a warning, never as a negative number.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeo, GammaGamma, forecast
from clvmodels.exceptions import ConvergenceWarning, StatisticalWarning
from clvmodels.models import gamma_gamma as gg
from clvmodels.models.beta_geo import simulate


@pytest.fixture(scope="module")
def no_dropout():
    """5,000 customers of an NBD (dropout probability 1e-6 per purchase), with spend."""
    rng = np.random.default_rng(3)
    data = simulate({"r": 0.7, "alpha": 5.0, "a": 1e-6, "b": 5.0}, rng.uniform(20, 60, 5000), random_seed=rng)
    data["monetary_value"] = np.where(data["frequency"] > 0, rng.gamma(5.0, 6.0, len(data)), 0.0)
    data.attrs["time_unit"] = "W"
    return data


def test_no_dropout_is_recognised_as_the_nbd(no_dropout):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.warns(StatisticalWarning, match="reduces to the NBD: forecasts assume nobody leaves"):
            model = BetaGeo().fit(no_dropout)
    assert model.converged_ and "nobody leaves" in model.boundary_
    assert model.params_["a"] == 0.5 and model.params_["b"] == pytest.approx(np.exp(14.0))
    # r and alpha are the NBD's: E[lambda] = r / alpha recovers the true 0.7 / 5 within 5%
    assert model.params_["r"] / model.params_["alpha"] == pytest.approx(0.14, rel=0.05)
    draws = model.sample_params(50, random_seed=1)
    assert (draws["a"] == 0.5).all() and draws["r"].std() > 0


def test_forecast_at_the_limit_is_clean(no_dropout):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        model = BetaGeo().fit(no_dropout)
    spend = GammaGamma().fit(no_dropout)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may reach the user
        table = forecast(model, spend, no_dropout, horizon=52, discount_rate=0.1, n_draws=100, random_seed=1).to_frame()
    assert table.notna().all().all()
    assert table["prob_alive"].min() > 0.999
    # nobody leaves: expected purchases are the NBD's (r + x) / (alpha + T) * 52
    p = model.params_
    nbd = (p["r"] + table["frequency"]) / (p["alpha"] + table["T"]) * 52
    np.testing.assert_allclose(table["expected_purchases"], nbd, rtol=2e-3)


def test_constant_amounts_give_a_constant_spend_forecast(cdnow_calibration):
    data = cdnow_calibration.assign(monetary_value=np.where(cdnow_calibration["frequency"] > 0, 25.0, 0.0))
    with pytest.warns(StatisticalWarning, match="spend has no variation"):
        spend = GammaGamma().fit(data)
    assert spend.converged_
    np.testing.assert_allclose(spend.expected_spend(data), 25.0, rtol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        model = BetaGeo().fit(data)
    table = forecast(model, spend, data, horizon=52, discount_rate=0.1, n_draws=50, random_seed=1).to_frame()
    np.testing.assert_allclose(table[["expected_spend", "expected_spend_lower", "expected_spend_upper"]], 25.0, rtol=1e-6)


def test_expected_spend_is_never_negative_where_the_mean_does_not_exist():
    params = {"p": 0.5, "q": 0.8, "gamma": 10.0}
    x = np.array([0.0, 1.0, 3.0])
    m = np.array([0.0, 20.0, 30.0])
    values = gg.expected_spend(params, x, m)
    assert values[0] == np.inf  # p x + q = 0.8 <= 1: the mean does not exist
    assert np.all(values[1:] > 0) and np.all(np.isfinite(values[1:]))
    assert gg.spend_mean_exists(params, x).tolist() == [False, True, True]
    assert gg.mean_spend(params) == np.inf


def test_forecast_warns_and_reports_infinity_for_heavy_tailed_spend(cdnow_calibration):
    data = cdnow_calibration
    model = BetaGeo().fit(data)
    spend = GammaGamma().fit(data)
    heavy = pd.Series({"p": 0.6, "q": 0.7, "gamma": 10.0}, name="estimate")
    spend.params_ = heavy
    with pytest.warns(StatisticalWarning, match="does not exist at the fitted parameters"):
        result = forecast(model, spend, data, horizon=52, discount_rate=0.1, n_draws=50, random_seed=1)
    table = result.to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from quantiles of infinite totals
        totals = result.summary()
    assert np.isinf(totals.loc["clv", "estimate"]) and np.isinf(totals.loc["clv", "upper"])
    no_repeat = table["frequency"] == 0
    assert np.isinf(table.loc[no_repeat, "expected_spend"]).all()
    assert (table["expected_spend"] > 0).all() and (table["clv"] >= 0).all()


def test_the_nbd_limit_of_every_model_that_declares_it(no_dropout, transaction_model_class):
    """Every model with declared limits recognises data without dropout as its NBD limit."""
    if not transaction_model_class.reductions:
        pytest.skip(f"{transaction_model_class.__name__} declares no limits")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.warns(StatisticalWarning, match="nobody leaves"):
            model = transaction_model_class().fit(no_dropout)
    assert model.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = forecast(model, None, no_dropout, horizon=52, discount_rate=0.1, n_draws=50, random_seed=1).to_frame()
    assert table.notna().all().all() and table["prob_alive"].min() > 0.99
