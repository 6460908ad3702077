"""Forecasts of models with covariates: each customer with its own parameters."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels import GammaGamma, ParetoNBD, forecast
from clvmodels.datasets import load_apparel, load_apparel_covariates

SETTINGS = dict(horizon=52, discount_rate=0.15, n_draws=100, random_seed=3, progress=False)


@pytest.fixture(scope="module")
def apparel() -> pd.DataFrame:
    log = load_apparel()
    log = log[log["date"] <= "2006-12-31"]  # the first two years, as CLVTools' set-up
    summary = clvmodels.rfm_summary(log, observation_end="2006-12-31", time_unit="W", amount_col="amount")
    return clvmodels.join_attributes(summary, load_apparel_covariates())


@pytest.fixture(scope="module")
def fitted(apparel):
    return ParetoNBD(covariates=["Gender", "Channel"]).fit(apparel), GammaGamma().fit(apparel)


def test_forecast_uses_each_customers_parameters(fitted, apparel):
    tm, sm = fitted
    table = forecast(tm, sm, apparel, **SETTINGS).to_frame()
    np.testing.assert_allclose(table["prob_alive"], tm.prob_alive(apparel), rtol=1e-12)
    np.testing.assert_allclose(table["expected_purchases"], tm.expected_purchases(apparel, 52), rtol=1e-10)
    # customers differ by their covariates only: the same history forecast differently
    assert table.groupby(["frequency", "recency", "T"])["prob_alive"].nunique().max() > 1


def test_zero_coefficients_give_the_plain_forecast(fitted, apparel):
    tm, sm = fitted
    plain = ParetoNBD().fit(apparel)
    base = plain.sample_params(100, random_seed=1)
    spend = sm.sample_params(100, random_seed=2)
    coefficients = [name for name in tm.params_.index if ":" in name]
    draws = base.assign(**{name: 0.0 for name in coefficients})
    # the point estimate too: the plain model's parameters with zero coefficients
    zero = _with_params(tm, pd.concat([plain.params_, pd.Series(0.0, index=coefficients)]))
    ours = forecast(zero, sm, apparel, tx_draws=draws, spend_draws=spend, **SETTINGS).to_frame()
    theirs = forecast(plain, sm, apparel, tx_draws=base, spend_draws=spend, **SETTINGS).to_frame()
    credible = [c for c in theirs.columns if "_pred_" not in c]
    pd.testing.assert_frame_equal(ours[credible], theirs[credible], check_exact=False, rtol=1e-9)


def _with_params(model, params: pd.Series):
    clone = copy.copy(model)
    clone.params_ = params
    return clone


def test_covariate_forecast_identical_in_parts(fitted, apparel):
    tm, sm = fitted
    span = (float(apparel["T"].min()), float(apparel["T"].max()))
    whole = forecast(tm, sm, apparel, T_range=span, **SETTINGS).to_frame()
    shuffled = apparel.sample(frac=1.0, random_state=1)
    parts = pd.concat([forecast(tm, sm, part, T_range=span, n_jobs=1, **SETTINGS).to_frame()
                       for part in (shuffled.iloc[:1], shuffled.iloc[1:77], shuffled.iloc[77:])])
    pd.testing.assert_frame_equal(parts.loc[whole.index], whole, check_exact=True)


def test_covariate_columns_are_needed(fitted, apparel):
    tm, sm = fitted
    with pytest.raises(ValueError, match="Channel"):
        forecast(tm, sm, apparel.drop(columns="Channel"), **SETTINGS)
