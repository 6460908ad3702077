"""Tracking forecast: parity with lifetimes, known truth on a simulated log, bands, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import expected_cumulative_transactions

from clvmodels import BetaGeo, calibration_holdout_split
from clvmodels.datasets import load_cdnow_sample
from clvmodels.models.beta_geo import expected_purchases_new
from clvmodels.tracking import expected_repeat_transactions, tracking_forecast


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return load_cdnow_sample()


@pytest.fixture(scope="module")
def model(log) -> BetaGeo:
    return BetaGeo().fit(calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W"))


@pytest.fixture(scope="module")
def weekly(model, log) -> pd.DataFrame:
    return tracking_forecast(model, log, calibration_end="1997-09-30", n_draws=200, random_seed=0)


def test_parity_with_lifetimes(model, log, weekly):
    reference = BetaGeoFitter()
    reference.params_ = pd.Series(model.params_[["r", "alpha", "a", "b"]].to_numpy(), index=["r", "alpha", "a", "b"])
    days = int((log["date"].max() - log["date"].min()).days) + 1
    theirs = expected_cumulative_transactions(reference, log, "date", "customer_id", t=days, freq="D", freq_multiplier=7)
    assert len(weekly) == len(theirs) == 78
    np.testing.assert_array_equal(weekly["actual_cumulative"].to_numpy(), theirs["actual"].to_numpy())
    np.testing.assert_allclose(weekly["expected_cumulative"].to_numpy(), theirs["predicted"].to_numpy(), rtol=1e-9)


def test_table_shape_and_bands(weekly):
    assert weekly.index.name == "period_end"
    assert weekly.index[0] == pd.Timestamp("1997-01-08") and weekly.index[-1] == pd.Timestamp("1998-07-01")
    assert weekly["actual"].sum() == 6696 - 2357  # customer-days minus first purchases
    np.testing.assert_allclose(weekly["expected"].cumsum(), weekly["expected_cumulative"], rtol=1e-12)
    assert (weekly["cumulative_lower"] <= weekly["expected_cumulative"]).all()
    assert (weekly["expected_cumulative"] <= weekly["cumulative_upper"]).all()
    assert (weekly["expected_lower"] <= weekly["expected_upper"]).all()
    assert weekly.attrs["calibration_end"] == pd.Timestamp("1997-09-30") and weekly.attrs["customers"] == 2357
    # FHL (2005, figure 3): the model tracks the cumulative transactions; by week 78 it expects
    # 4,166 against 4,339 actual (-4.0%), inside the 90% band (3,847 to 4,628)
    end = weekly.iloc[-1]
    assert end["expected_cumulative"] == pytest.approx(4165.7, abs=0.1)
    assert end["cumulative_lower"] < end["actual_cumulative"] < end["cumulative_upper"]


def test_known_truth_on_a_simulated_log():
    """Simulate purchase days from known parameters; the actual cumulative counts fall inside a
    few Poisson-like standard deviations of the expectation at the truth, every week."""
    truth = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 3.0}
    rng = np.random.default_rng(11)
    n = 6000
    trial_day = rng.integers(0, 84, n)
    lam = rng.gamma(truth["r"], 1 / truth["alpha"], n)  # purchases per week
    p = rng.beta(truth["a"], truth["b"], n)
    rows = [(i, d) for i, d in enumerate(trial_day)]
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            day = trial_day[i] + int(7 * t)
            if day >= 364:
                break
            rows.append((i, day))
            if rng.uniform() < p[i]:
                break
    sim = pd.DataFrame(rows, columns=["customer_id", "day"])
    sim["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(sim["day"], unit="D")
    model = BetaGeo().fit(calibration_holdout_split(sim, calibration_end="2020-06-30", time_unit="W"))
    model.params_ = pd.Series(truth)  # evaluate at the truth
    table = tracking_forecast(model, sim, observation_end="2020-12-29", n_draws=20, random_seed=1)
    assert len(table) == 52
    gap = table["actual_cumulative"] - table["expected_cumulative"]
    # same-day purchases merge, so the actual count sits slightly below the expectation
    assert (gap.abs() <= 4 * np.sqrt(table["expected_cumulative"]) + 0.01 * table["expected_cumulative"]).all()


def test_expected_repeat_transactions_over_draws(model):
    draws = model.sample_params(7, random_seed=3)
    edges, trials, weights = np.array([1.0, 10.0, 40.0]), np.array([0.0, 5.0, 20.0]), np.array([3.0, 2.0, 1.0])
    table = expected_repeat_transactions(model, edges, trials, weights, params=draws)
    assert table.shape == (7, 3)
    np.testing.assert_allclose(table[2], expected_repeat_transactions("bgnbd", edges, trials, weights, params=draws.iloc[2]), rtol=1e-13)
    # by hand: sum over first-purchase times s_i < edge of w_i E[X(edge - s_i)]
    by_hand = [sum(w * expected_purchases_new(draws.iloc[2], e - s) for s, w in zip(trials, weights) if e > s) for e in edges]
    np.testing.assert_allclose(table[2], by_hand, rtol=1e-13)
    # customers count only after their first purchase
    assert expected_repeat_transactions(model, np.array([5.0]), np.array([5.0]), np.array([1.0]))[0] == 0.0


def test_any_registered_transaction_model_is_asked_through_the_protocol(model, log, weekly):
    """A model registered under another key, with BG/NBD's formulas: the same table; a spend
    model is a clear error naming the transaction models."""
    from clvmodels import GammaGamma
    from clvmodels.models import registry
    from clvmodels.inference.result import FitResult

    class Renamed(BetaGeo):
        key = "test-renamed-tracking"
        display_name = "Renamed/NBD"

    registry.register(Renamed)
    try:
        other = Renamed()
        other._set_fitted(FitResult(method="mle", params=model.params_, covariance=model.covariance_,
                                    covariance_log=model.covariance_log_, loglik=model.loglik_, converged=True,
                                    n_customers=model.n_customers_, n_patterns=model.n_patterns_, time_unit="W"))
        table = tracking_forecast(other, log, calibration_end="1997-09-30", n_draws=200, random_seed=0)
    finally:
        registry._REGISTRY.pop(Renamed.key, None)
    pd.testing.assert_frame_equal(table, weekly)
    with pytest.raises(ValueError, match="is a spend model, not a transactions model"):
        tracking_forecast(GammaGamma(), log)


def test_bad_input(model, log):
    with pytest.raises(ValueError, match="period"):
        tracking_forecast(model, log, period=0)
    with pytest.raises(ValueError, match="ci"):
        tracking_forecast(model, log, ci=95)
    with pytest.raises(ValueError, match="customer_id"):
        tracking_forecast(model, log.rename(columns={"customer_id": "id"}))
    with pytest.raises(Exception, match="fit"):
        tracking_forecast(BetaGeo(), log)


def test_new_customer_purchases(model):
    from clvmodels.models.beta_geo import expected_purchases_new
    from clvmodels.tracking import new_customer_purchases

    table = new_customer_purchases(model, [1.0, 39.0, 78.0], ci=0.8, n_draws=300, random_seed=2)
    np.testing.assert_allclose(table["expected"], expected_purchases_new(model.params_, table.index.to_numpy()))
    assert (table["lower"] < table["expected"]).all() and (table["expected"] < table["upper"]).all()
    assert table["upper"].is_monotonic_increasing and table.attrs["ci"] == 0.8
    with pytest.raises(ValueError, match="t="):
        new_customer_purchases(model, [-1.0])
