"""Segment reports from the same parameter draws: totals draw by draw, predictive intervals of
totals with independent futures (simulated, or from the per-draw normal approximation in large
segments, checked against simulating every customer), comparisons, and clear errors."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clvmodels import BetaGeo, GammaGamma, forecast
from clvmodels.models import beta_geo, gamma_gamma

forecast_module = sys.modules["clvmodels.forecast"]  # `clvmodels.forecast` is also the function


@pytest.fixture(scope="module")
def models(cdnow_calibration):
    return BetaGeo().fit(cdnow_calibration), GammaGamma().fit(cdnow_calibration)


@pytest.fixture(scope="module")
def channel(cdnow_calibration):
    """A made-up acquisition channel per customer id (a separate attribute table)."""
    rng = np.random.default_rng(7)
    return pd.DataFrame({"channel": rng.choice(["email", "search", "social"], len(cdnow_calibration))},
                        index=cdnow_calibration.index)


@pytest.fixture(scope="module")
def segmented(models, cdnow_calibration, channel):
    data = cdnow_calibration.assign(repeat=cdnow_calibration["frequency"] > 0)
    attributes = channel.join(data[["repeat"]])
    return forecast(*models, data, horizon=52, discount_rate=0.15, n_draws=300, random_seed=2, segments=attributes)


def test_segment_totals_add_up_to_the_cohort(segmented):
    table = segmented.summary(by="channel")
    cohort = segmented.summary()
    assert table["customers"].sum() == 2357
    assert table["clv_total"].sum() == pytest.approx(cohort.loc["clv", "estimate"], rel=1e-12)
    # draw by draw, the cells' totals add up to the cohort's
    np.testing.assert_allclose(segmented.segment_draws["clv"].sum(axis=1), segmented.cohort_draws["clv"], rtol=1e-12)
    both = segmented.summary(by=["channel", "repeat"])
    assert len(both) == 6 and both["customers"].sum() == 2357
    assert both.groupby(level="channel")["clv_total"].sum().to_numpy() == pytest.approx(table["clv_total"].to_numpy())


def test_intervals_are_of_totals_not_sums_of_customer_bounds(segmented):
    table = segmented.summary(by="channel")
    frame = segmented.frame
    sums_of_bounds = frame.groupby(segmented.segment_cells["channel"].to_numpy()[segmented.segment_of])["clv_upper"].sum()
    assert (table["clv_total_upper"].to_numpy() < sums_of_bounds.to_numpy()).all()
    for name in ("clv_total", "expected_purchases_total", "prob_alive_mean", "clv_mean"):
        assert (table[f"{name}_lower"] <= table[name]).all() and (table[name] <= table[f"{name}_upper"]).all(), name
    # predictive intervals of totals are wider than credible ones, and centred alike
    assert (table["clv_total_pred_upper"] - table["clv_total_pred_lower"] > table["clv_total_upper"] - table["clv_total_lower"]).all()
    simulated = segmented.segment_draws["clv_simulated"].sum(axis=1)
    expected = segmented.cohort_draws["clv"].to_numpy()
    assert simulated.mean() == pytest.approx(expected.mean(), rel=4 * simulated.std() / np.sqrt(len(simulated)) / simulated.mean())


def test_identical_customers_get_independent_futures_in_totals(models):
    """400 customers with one history: the predictive spread of their total is that of a sum of
    400 independent futures (sd grows like sqrt(400)), not 400 times one future."""
    data = pd.DataFrame({"frequency": [3] * 400, "recency": [20.0] * 400, "T": [30.0] * 400, "monetary_value": [30.0] * 400},
                        index=pd.RangeIndex(400, name="customer_id"))
    data["group"] = "all"
    data.attrs["time_unit"] = "W"
    bg, gg = models
    result = forecast(bg, gg, data, horizon=52, discount_rate=0.1, n_draws=2000, random_seed=5, segments="group")
    totals = result.segment_draws["purchases_simulated"][:, 0]
    one = result.frame  # every customer's own predictive distribution is the pattern's
    per_draw_expected = result.segment_draws["expected_purchases"][:, 0]
    # the spread of the total = parameter uncertainty + sum of 400 independent customers' chance
    chance = np.sqrt(np.var(totals) - np.var(per_draw_expected))
    width_one = float(one["purchases_pred_upper"].iloc[0] - one["purchases_pred_lower"].iloc[0])
    # one customer's 90% interval spans about 3.3 sd; 400 independent ones: sd * 20, not * 400
    assert 8 * width_one / 3.3 < chance < 40 * width_one / 3.3
    # a segment of 400 customers with one history simulates every customer (no normal approximation)
    assert result.settings["segment_predictive_totals"] == "every customer's future simulated (exact) in 1 of 1 segment cells"


def test_compare_segments(segmented):
    result = segmented.compare("repeat", a=True, b=False)
    assert result["prob_a_greater"] == 1.0 and result["difference_lower"] > 0
    assert result["difference"] == pytest.approx(result["mean_a"] - result["mean_b"])
    reverse = segmented.compare("repeat", a=False, b=True)
    assert reverse["prob_a_greater"] == 0.0
    with pytest.raises(ValueError, match="not a segment"):
        segmented.compare("channel", a="email", b="print")


def test_segments_leave_the_customer_forecast_unchanged(models, cdnow_calibration, channel):
    plain = forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.15, n_draws=100, random_seed=2, predictive=False)
    split = forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.15, n_draws=100, random_seed=2, predictive=False,
                     segments=channel)
    pd.testing.assert_frame_equal(plain.frame, split.frame)


def test_bad_segments_are_clear_errors(models, cdnow_calibration, channel):
    with pytest.raises(ValueError, match="have no row"):
        forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.1, n_draws=10, segments=channel.iloc[5:])
    with pytest.raises(ValueError, match="more than once"):
        forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.1, n_draws=10, segments=pd.concat([channel, channel.iloc[:2]]))
    with pytest.raises(ValueError, match="no column"):
        forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.1, n_draws=10, segments="region")
    result = forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.1, n_draws=10, segments=channel, predictive=False)
    with pytest.raises(ValueError, match="unknown segment column"):
        result.summary(by="region")
    plain = forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.1, n_draws=10, predictive=False)
    with pytest.raises(ValueError, match="no segments"):
        plain.summary(by="channel")


def test_net_clv_subtracts_the_discounted_cost_of_future_purchases(models, cdnow_calibration, channel):
    """net_clv = clv - cost x discounted expected purchases, for each customer and in each draw;
    acquisition costs give the segments' CLV-to-acquisition ratio."""
    data = cdnow_calibration
    cost = pd.Series(np.where(channel["channel"] == "email", 2.0, 5.0), index=channel.index)
    acquisition = pd.Series(np.where(channel["channel"] == "search", 30.0, 10.0), index=channel.index)
    gross = forecast(*models, data, horizon=52, discount_rate=0.15, n_draws=200, random_seed=4, segments=channel)
    with_costs = forecast(*models, data, horizon=52, discount_rate=0.15, n_draws=200, random_seed=4, segments=channel,
                          cost_per_purchase=cost, acquisition_cost=acquisition)
    frame = with_costs.frame
    bg, _ = models
    discounted = bg.formulas.discounted_expected_purchases(bg.params_, 52.0, np.log(1.15) * 7 / 365.25,
                                                           frame["frequency"], frame["recency"], frame["T"])
    np.testing.assert_allclose(frame["net_clv"], frame["clv"] - cost.reindex(frame.index) * discounted, rtol=1e-7, atol=1e-9)
    assert (frame["net_clv_lower"] <= frame["net_clv"] + 1e-9).all() and (frame["net_clv"] <= frame["net_clv_upper"] + 1e-9).all()
    assert (frame["net_clv_pred_upper"] <= frame["clv_pred_upper"] + 1e-9).all()
    # costs do not change the gross forecast
    pd.testing.assert_series_equal(frame["clv"], gross.frame["clv"])
    table = with_costs.summary(by="channel")
    assert (table["net_clv_total"] < table["clv_total"]).all()
    ratio = table["clv_mean"] / table["acquisition_cost_mean"]
    np.testing.assert_allclose(table["clv_to_acquisition"], ratio)
    assert (table["clv_to_acquisition_lower"] < table["clv_to_acquisition"]).all()
    assert table.loc["search", "acquisition_cost_mean"] == 30.0
    with pytest.raises(ValueError, match="needs a spend model"):
        forecast(models[0], None, data, horizon=52, discount_rate=0.1, n_draws=10, cost_per_purchase=1.0)
    with pytest.raises(ValueError, match="negative"):
        forecast(*models, data, horizon=52, discount_rate=0.1, n_draws=10, cost_per_purchase=-1.0)


# -- joining an attribute table ------------------------------------------------------------------


def _small_summary() -> pd.DataFrame:
    summary = pd.DataFrame({"frequency": [2, 0, 1], "recency": [30.0, 0.0, 5.0], "T": [38.0, 38.0, 20.0]},
                           index=pd.Index(["007", "12", "31"], name="customer_id"))
    summary.attrs["time_unit"] = "W"
    return summary


def test_join_attributes_checks_ids_and_keeps_attrs():
    from clvmodels import join_attributes

    summary = _small_summary()
    table = pd.DataFrame({"channel": ["a", "b", "c", "d"]}, index=["31", "007", "12", "99"])
    before = (summary.copy(), table.copy())
    data = join_attributes(summary, table)
    assert data["channel"].tolist() == ["b", "c", "a"] and data.attrs == {"time_unit": "W"}
    pd.testing.assert_frame_equal(summary, before[0])
    pd.testing.assert_frame_equal(table, before[1])
    with pytest.raises(ValueError, match=r"1 customer\(s\) the summary does not have \(first: '99'\)"):
        join_attributes(summary, table, extra="raise")
    with pytest.raises(ValueError, match=r"1 of the 3 customers of the summary have no row .*first: '12'"):
        join_attributes(summary, table.drop(index="12"))
    with pytest.raises(ValueError, match=r"1 customer id\(s\) on more than one row \(2 rows; first: '31'\)"):
        join_attributes(summary, pd.concat([table, table.iloc[:1]]))
    with pytest.raises(ValueError, match=r"\['T'\] are already columns"):
        join_attributes(summary, table.rename(columns={"channel": "T"}))


def test_join_attributes_matches_numeric_ids_as_text():
    from clvmodels import join_attributes

    summary = _small_summary().iloc[1:]  # ids "12", "31"
    numeric = pd.DataFrame({"region": ["north", "south"]}, index=[31, 12])
    assert join_attributes(summary, numeric)["region"].tolist() == ["south", "north"]


# -- predictive totals of large segments: the per-draw normal approximation ---------------------------

def _population(n: int, seed: int = 3) -> pd.DataFrame:
    """BG/NBD customers with Gamma-Gamma spend, observed for T weeks: half of them whole weeks (so
    those without repeat purchases share few histories, up to ~60 customers each), the others
    any time (distinct histories)."""
    rng = np.random.default_rng(seed)
    T = np.where(rng.random(n) < 0.5, rng.integers(4, 53, size=n), rng.uniform(4.0, 52.0, size=n))
    data = beta_geo.simulate({"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}, T, random_seed=seed + 1)[["frequency", "recency", "T"]].copy()
    data["monetary_value"] = gamma_gamma.simulate({"p": 6.0, "q": 4.0, "gamma": 15.0}, data["frequency"],
                                                  random_seed=seed + 2)["monetary_value"].to_numpy()
    data.index.name = "customer_id"
    data.attrs["time_unit"] = "W"
    return data


@pytest.fixture(scope="module")
def population():
    data = _population(10_000)
    group = np.random.default_rng(1).choice(["a", "b", "c"], len(data), p=[0.7, 0.25, 0.05])
    return data.assign(group=group), BetaGeo().fit(data), GammaGamma().fit(data)


def _exact_and_approximate(population, monkeypatch, n_draws, point):
    data, bg, gg = population
    options = dict(horizon=52, discount_rate=0.15, n_draws=n_draws, random_seed=11, segments="group", progress=False)
    if point:  # every draw at the estimate: the totals' spread is all chance, the part approximated
        options["tx_draws"] = pd.DataFrame([bg.params_] * n_draws).reset_index(drop=True)
        options["spend_draws"] = pd.DataFrame([gg.params_] * n_draws).reset_index(drop=True)
    approximate = forecast(bg, gg, data, **options)
    monkeypatch.setattr(forecast_module, "TOTALS_APPROXIMATION_CUSTOMERS", np.inf)
    exact = forecast(bg, gg, data, **options)
    return approximate, exact


@pytest.mark.parametrize("point, n_draws", [pytest.param(True, 1000, marks=pytest.mark.slow), (False, 300)])
def test_approximated_totals_agree_with_simulating_every_customer(population, monkeypatch, point, n_draws):
    """Segments a (~7,000 customers) and b (~2,500) use the normal approximation, c (~500) simulates
    every customer; the 5%, 50% and 95% quantiles of the predictive totals agree with simulating
    every customer of a and b. Tolerance: 4 standard errors of the difference of two independent
    sample quantiles of n_draws values, sqrt(2 p (1 - p) / n_draws) / density, the density at the
    quantile taken as normal with the exact totals' sd (their skewness is about 0.1)."""
    approximate, exact = _exact_and_approximate(population, monkeypatch, n_draws, point)
    assert approximate.settings["segment_predictive_totals"].startswith("normal approximation")
    assert "in 2 of 3 segment cells (a; b)" in approximate.settings["segment_predictive_totals"]
    assert "(exact) in 1 of 3 segment cells" in approximate.settings["segment_predictive_totals"]
    assert exact.settings["segment_predictive_totals"] == "every customer's future simulated (exact) in 3 of 3 segment cells"
    levels = np.array([0.05, 0.5, 0.95])
    for name in ("purchases", "clv"):
        ours, truth = approximate.segment_draws[f"{name}_simulated"], exact.segment_draws[f"{name}_simulated"]
        for cell in (0, 1):  # a, b
            sd = truth[:, cell].std()
            error = np.sqrt(2 * levels * (1 - levels) / n_draws) / stats.norm.pdf(stats.norm.ppf(levels)) * sd
            difference = np.quantile(ours[:, cell], levels) - np.quantile(truth[:, cell], levels)
            assert (np.abs(difference) < 4 * error).all(), (name, cell, difference / error)
            # the mean and the spread: 4 standard errors of the difference of two sample means, and
            # of the ratio of two sample sds (each sqrt(1 / (2 n_draws)) relative, near-normal totals)
            assert ours[:, cell].mean() == pytest.approx(truth[:, cell].mean(), abs=4 * sd * np.sqrt(2 / n_draws))
            assert ours[:, cell].std() / sd == pytest.approx(1.0, abs=4 * np.sqrt(1 / n_draws))
    # the purchases are whole numbers, and the credible totals do not change
    assert (approximate.segment_draws["purchases_simulated"] == np.rint(approximate.segment_draws["purchases_simulated"])).all()
    for name in ("clv", "expected_purchases", "prob_alive"):
        np.testing.assert_array_equal(approximate.segment_draws[name], exact.segment_draws[name])


def test_segment_totals_identical_whatever_the_chunks_and_threads(population):
    """Every per-draw segment total (credible and predictive, approximated or simulated) has the
    same bits with one thread and one block of 64 histories per chunk as with three threads (given
    T_range=, which makes the per-customer expectations themselves independent of the chunks)."""
    data, bg, gg = population
    data = data.iloc[:3000]  # a: ~2,100 customers (approximated), b and c: simulated
    options = dict(horizon=52, discount_rate=0.15, n_draws=40, random_seed=3, segments="group", progress=False,
                   cost_per_purchase=2.0, T_range=(0.0, 52.0))
    one = forecast(bg, gg, data, n_jobs=1, memory_budget=1, **options)
    many = forecast(bg, gg, data, n_jobs=3, **options)
    middle = forecast(bg, gg, data, n_jobs=2, memory_budget=3 * 8 * 24 * 41 * 2 * 64, **options)  # chunks of 3 blocks
    assert "in 1 of 3 segment cells (a)" in one.settings["segment_predictive_totals"]
    assert set(one.segment_draws) == {"prob_alive", "clv", "expected_purchases", "net_clv", "purchases_simulated",
                                      "clv_simulated", "net_clv_simulated"}
    for name, values in one.segment_draws.items():
        np.testing.assert_array_equal(values, many.segment_draws[name], err_msg=name)
        np.testing.assert_array_equal(values, middle.segment_draws[name], err_msg=name)
    pd.testing.assert_frame_equal(one.cohort_draws, many.cohort_draws, check_exact=True)
    pd.testing.assert_frame_equal(one.summary(by="group"), many.summary(by="group"), check_exact=True)
    # net of costs is below the gross value in every simulated future of the approximated cell too
    assert (one.segment_draws["net_clv_simulated"] < one.segment_draws["clv_simulated"]).all()


def test_block_sums_do_not_depend_on_the_order():
    blocks = np.random.default_rng(0).lognormal(size=(13, 4, 3)) * 10.0 ** np.arange(13)[:, None, None]
    totals = []
    for order in (range(13), range(12, -1, -1), np.random.default_rng(1).permutation(13)):
        summed = forecast_module._BlockSum(13)
        for block in order:
            summed.add(int(block), blocks[block].copy())
        totals.append(summed.total((4, 3)))
    assert all(np.array_equal(totals[0], other) for other in totals[1:])
    np.testing.assert_allclose(totals[0], blocks.sum(axis=0), rtol=1e-14)
    assert forecast_module._BlockSum(0).total((2,)).tolist() == [0.0, 0.0]


def test_infinite_horizon_totals(population):
    data, bg, gg = population
    result = forecast(bg, gg, data.iloc[:2000], horizon=None, discount_rate=0.15, n_draws=30, random_seed=3,
                      segments="group", progress=False)
    table = result.summary(by="group")
    assert "in 1 of 3 segment cells (a)" in result.settings["segment_predictive_totals"]
    # discounted value converges (the futures are simulated until exp(-40) and the means are exact)
    assert np.isfinite(table[["clv_total_pred_lower", "clv_total_pred_upper"]].to_numpy()).all()
    assert (table["clv_total_pred_lower"] < table["clv_total"]).all() and (table["clv_total"] < table["clv_total_pred_upper"]).all()
    # as the expected purchases, the purchases over an infinite horizon are infinite
    assert np.isinf(table["expected_purchases_total_pred_upper"]).all()
