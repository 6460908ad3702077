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
    # a tiny memory budget forces chunks of a few customers: the same draws and the same
    # random stream per block of customers give the same values
    small = forecast(*models, data, horizon=26, discount_rate=0.1, n_draws=60, random_seed=5, memory_budget=200_000).to_frame()
    pd.testing.assert_frame_equal(small, one)
    # and so does the number of threads
    single = forecast(*models, data, horizon=26, discount_rate=0.1, n_draws=60, random_seed=5, memory_budget=200_000, n_jobs=1).to_frame()
    pd.testing.assert_frame_equal(single, one, check_exact=True)


def test_quantiles_match_numpy():
    from clvmodels.forecast import _quantiles

    rng = np.random.default_rng(0)
    values, counts = rng.gamma(0.5, size=(999, 40)), rng.poisson(1.3, size=(1000, 40))
    for ci in (0.5, 0.8, 0.9, 0.95):
        levels = [(1 - ci) / 2, (1 + ci) / 2]
        np.testing.assert_allclose(_quantiles(values, ci), np.quantile(values, levels, axis=0), rtol=1e-14)
        np.testing.assert_array_equal(_quantiles(counts, ci, "inverted_cdf"), np.quantile(counts, levels, axis=0, method="inverted_cdf"))


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


@pytest.mark.parametrize("discounting", ["continuous", "discrete"])
def test_simulated_futures_follow_the_model(discounting):
    """For one history and fixed parameters, the simulated purchase counts follow the exact
    conditional pmf and the mean discounted value equals expected spend times discounted purchases."""
    from clvmodels.forecast import _simulate_future
    from clvmodels.streams import KeyedGenerator, cell_keys, history_keys

    params_bg = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
    params_gg = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    n = 200_000
    x, t_x, T, m = np.array([2.0]), np.array([30.43]), np.array([38.86]), np.array([35.0])
    horizon, delta, period, rate = 52.0, 0.01, 4.0, 0.05
    alive = bg.prob_alive(params_bg, x, t_x, T)
    bg_arrays = tuple(np.full((n, 1), params_bg[k]) for k in bg.PARAM_NAMES)
    gg_arrays = tuple(np.full((n, 1), params_gg[k]) for k in gg.PARAM_NAMES)
    if discounting == "continuous":
        discount = lambda t: np.exp(-delta * t)  # noqa: E731
        det = bg.discounted_expected_purchases(params_bg, horizon, delta, x, t_x, T)
    else:
        discount = lambda t: (1 + rate) ** -np.ceil(t / period)  # noqa: E731
        det = bg.discounted_expected_purchases_discrete(params_bg, int(horizon / period), period, rate, x, t_x, T)
    counts, values = _simulate_future(KeyedGenerator(cell_keys(history_keys(np.uint64(5), x, T, m), n)), np.full((n, 1), alive), bg, bg_arrays, gg, gg_arrays, x, T, m, horizon, discount)
    k = np.arange(8)
    pmf = bg.prob_purchases_conditional(params_bg, k[:, None], horizon, x, t_x, T)[:, 0]
    observed = np.bincount(counts[:, 0], minlength=8)[:8] / n
    assert np.all(np.abs(observed - pmf) <= 4 * np.sqrt(pmf * (1 - pmf) / n) + 1e-5), (observed, pmf)
    expected_value = float(gg.expected_spend(params_gg, x, m)[0] * det[0])
    assert values.mean() == pytest.approx(expected_value, abs=4 * values.std() / np.sqrt(n))


def test_bad_seeds_are_clear_errors(cdnow):
    from clvmodels import BetaGeo, GammaGamma

    models = BetaGeo().fit(cdnow), GammaGamma().fit(cdnow)
    for seed in (-1, 1.5, "7"):
        with pytest.raises(ValueError, match="random_seed=.* must be a whole number >= 0"):
            forecast(*models, cdnow, horizon=10, discount_rate=0.1, n_draws=10, random_seed=seed)
        with pytest.raises(ValueError, match="random_seed=.* must be a whole number >= 0"):
            models[0].sample_params(10, random_seed=seed)
    with pytest.raises(ValueError, match="random_seed=-1 must be a whole number >= 0"):
        BetaGeo(random_seed=-1).fit(cdnow, method="nuts")
