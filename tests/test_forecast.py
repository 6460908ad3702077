"""forecast(): point values, credible and predictive intervals, discounting modes, output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeo, GammaGamma, forecast
from clvmodels.models import beta_geo as bg
from clvmodels.models import gamma_gamma as gg

from .published import cdnow_summary


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def models(cdnow) -> tuple[BetaGeo, GammaGamma]:
    return BetaGeo().fit(cdnow), GammaGamma().fit(cdnow)


@pytest.fixture(scope="module")
def result(models, cdnow):
    return forecast(*models, cdnow, horizon=52, discount_rate=0.15, n_draws=100, random_seed=3)


def test_point_values_and_bounds(result, models, cdnow):
    table = result.to_frame()
    transactions, spend = models
    assert table.index.equals(cdnow.index)
    np.testing.assert_allclose(table["prob_alive"], transactions.prob_alive(cdnow))
    np.testing.assert_allclose(table["expected_purchases"], transactions.expected_purchases(cdnow, 52))
    np.testing.assert_allclose(table["expected_spend"], spend.expected_spend(cdnow))
    delta = np.log(1.15) * 7 / 365.25
    x, t_x, T = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    det = bg.discounted_expected_purchases(transactions.params_, 52.0, delta, x, t_x, T)
    np.testing.assert_allclose(table["clv"], table["expected_spend"] * det, rtol=1e-12)
    for name in ("prob_alive", "expected_purchases", "expected_spend", "clv"):
        assert (table[f"{name}_lower"] <= table[name] + 1e-9).mean() > 0.97, name
        assert (table[name] <= table[f"{name}_upper"] + 1e-9).mean() > 0.97, name
    assert (table["purchases_pred_lower"] <= table["purchases_pred_upper"]).all()
    assert (table["clv_pred_upper"] > table["clv_upper"]).mean() > 0.9  # what one customer does varies more
    assert list(table.columns[:4]) == ["frequency", "recency", "T", "monetary_value"]


def test_spend_uncertainty_is_kept(models, cdnow):
    """CLV bounds reflect Gamma-Gamma draws: fixing the transaction draws still leaves spread."""
    transactions, spend = models
    draws = spend.sample_params(100, random_seed=0)
    spread = gg.expected_spend(draws, cdnow["frequency"].to_numpy(), cdnow["monetary_value"].to_numpy()).std(axis=0)
    assert (spread > 0).all()
    table = forecast(transactions, spend, cdnow.iloc[:50], horizon=52, discount_rate=0.15, n_draws=100, random_seed=3, predictive=False).to_frame()
    assert (table["expected_spend_upper"] > table["expected_spend_lower"]).all()


def test_seeded_and_chunked(models, cdnow):
    data = cdnow.iloc[:300]
    one = forecast(*models, data, horizon=26, discount_rate=0.1, n_draws=60, random_seed=5).to_frame()
    two = forecast(*models, data, horizon=26, discount_rate=0.1, n_draws=60, random_seed=5).to_frame()
    pd.testing.assert_frame_equal(one, two)
    # a tiny memory budget forces chunks of a few customers: the same draws give the same values
    small = forecast(*models, data, horizon=26, discount_rate=0.1, n_draws=60, random_seed=5, memory_budget=200_000).to_frame()
    credible = [c for c in one.columns if "_pred_" not in c]
    pd.testing.assert_frame_equal(small[credible], one[credible])
    # the simulated futures use the random stream in another order, so compare in aggregate
    assert small["clv_pred_upper"].mean() == pytest.approx(one["clv_pred_upper"].mean(), rel=0.1)


def test_zero_discount_and_infinite_horizon(models, cdnow):
    data = cdnow.iloc[:40]
    flat = forecast(*models, data, horizon=52, discount_rate=0.0, n_draws=20, random_seed=1, predictive=False).to_frame()
    np.testing.assert_allclose(flat["clv"], flat["expected_purchases"] * flat["expected_spend"], rtol=1e-12)
    finite = forecast(*models, data, horizon=520, discount_rate=0.15, n_draws=20, random_seed=1, predictive=False).to_frame()
    infinite = forecast(*models, data, horizon=None, discount_rate=0.15, n_draws=20, random_seed=1, predictive=False)
    assert np.isfinite(infinite.to_frame()["clv"]).all()
    assert (infinite.to_frame()["clv"] > finite["clv"]).all()
    assert infinite.settings["horizon"] == "infinite"


def test_discrete_mode_matches_lifetimes_clv(models, cdnow):
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    transactions, spend = models
    monthly = 0.01
    annual = (1 + monthly) ** (365.25 / (4.345 * 7)) - 1
    table = forecast(
        transactions, spend, cdnow, horizon=12 * 4.345, discount_rate=annual, discounting="discrete",
        period=4.345, n_draws=20, random_seed=0, predictive=False,
    ).to_frame()
    reference_bg = BetaGeoFitter()
    reference_bg.params_ = transactions.params_.copy()
    reference_bg.predict = reference_bg.conditional_expected_number_of_purchases_up_to_time
    reference_gg = GammaGammaFitter()
    reference_gg.params_ = pd.Series(spend.params_.to_numpy(), index=["p", "q", "v"])
    expected = reference_gg.customer_lifetime_value(
        reference_bg, cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"],
        time=12, discount_rate=monthly, freq="W",
    )
    np.testing.assert_allclose(table["clv"], expected, rtol=1e-6)


@pytest.mark.slow
def test_predictive_purchase_intervals_cover_simulated_holdout():
    truth_bg = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}
    rng = np.random.default_rng(8)
    sim = bg.simulate(truth_bg, rng.uniform(20, 60, 3000), holdout=26.0, random_seed=rng)
    sim["monetary_value"] = gg.simulate({"p": 4.0, "q": 5.0, "gamma": 20.0}, sim["frequency"], random_seed=rng)["monetary_value"]
    transactions, spend = BetaGeo().fit(sim), GammaGamma().fit(sim)
    table = forecast(transactions, spend, sim, horizon=26, discount_rate=0.0, n_draws=200, random_seed=9, time_unit="W").to_frame()
    inside = (table["purchases_pred_lower"] <= sim["frequency_holdout"]) & (sim["frequency_holdout"] <= table["purchases_pred_upper"])
    assert inside.mean() >= 0.9
    # the mean simulated count agrees with the expectation in aggregate
    assert table["expected_purchases"].sum() == pytest.approx(sim["frequency_holdout"].sum(), rel=0.06)


def test_summary_and_csv(result, tmp_path):
    summary = result.summary()
    assert list(summary.index) == ["expected_purchases", "clv"]
    assert (summary["lower"] < summary["estimate"]).all() and (summary["estimate"] < summary["upper"]).all()
    path = result.to_csv(tmp_path / "out" / "predictions.csv")
    back = pd.read_csv(path, comment="#", index_col=0)
    assert list(back.columns) == list(result.frame.columns) and len(back) == len(result.frame)
    np.testing.assert_allclose(back["clv"], result.frame["clv"], rtol=1e-9)
    assert "# ci: 0.9" in path.read_text().splitlines()[:20]
    assert [p.name for p in path.parent.iterdir()] == ["predictions.csv"]  # no temporary file left


def test_bad_arguments(models, cdnow):
    with pytest.raises(ValueError, match="ci"):
        forecast(*models, cdnow, horizon=10, discount_rate=0.1, ci=90)
    with pytest.raises(ValueError, match="horizon"):
        forecast(*models, cdnow, horizon=-1, discount_rate=0.1)
    with pytest.raises(ValueError, match="infinite horizon"):
        forecast(*models, cdnow, horizon=None, discount_rate=0.0)
    with pytest.raises(ValueError, match="period"):
        forecast(*models, cdnow, horizon=10, discount_rate=0.1, discounting="discrete")
    with pytest.raises(ValueError, match="monetary_value"):
        forecast(*models, cdnow.drop(columns="monetary_value"), horizon=10, discount_rate=0.1)
