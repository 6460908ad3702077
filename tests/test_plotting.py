"""clvmodels.plotting: every plot on CDNOW, checked against the quantities it claims to draw.

Each test reads the drawn numbers back from the Axes (bar heights, line data, collections) and
compares them with an independent computation, and checks titles, axis labels and legends.
Figures are built on ``matplotlib.figure.Figure`` objects where the plot takes ``ax=``/``fig=``
(never registered with pyplot), and anything pyplot made is closed after each test.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
import tracemalloc
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402
from scipy import stats  # noqa: E402

from clvmodels import BetaGeo, GammaGamma, evaluate_holdout, forecast, rfm_summary  # noqa: E402
from clvmodels import plotting as cp  # noqa: E402
from clvmodels.datasets import load_cdnow_sample  # noqa: E402
from clvmodels.exceptions import StatisticalWarning  # noqa: E402
from clvmodels.models import beta_geo as bg  # noqa: E402
from clvmodels.models import gamma_gamma as gg  # noqa: E402
from clvmodels.plotting import fit as plot_fit  # noqa: E402

from .published import GG_CORRELATION, GG_MEAN_SPEND, cdnow_summary  # noqa: E402

CALIBRATION_END = "1997-09-30"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return load_cdnow_sample()


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def bgnbd(data) -> BetaGeo:
    return BetaGeo().fit(data)


@pytest.fixture(scope="module")
def spend(data) -> GammaGamma:
    return GammaGamma().fit(data)


@pytest.fixture(scope="module")
def result(bgnbd, spend, data):
    return forecast(bgnbd, spend, data, horizon=52, discount_rate=0.15, n_draws=100, random_seed=3)


def new_ax() -> plt.Axes:
    return Figure(layout="constrained").subplots()


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, f"no legend on {ax.get_title()!r}"
    return [t.get_text() for t in legend.get_texts()]


def errorbar_bounds(container) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of the vertical error bars of an ErrorbarContainer."""
    segments = container.lines[2][0].get_segments()
    return np.array([seg[:, 1].min() for seg in segments]), np.array([seg[:, 1].max() for seg in segments])


def band_bounds(collection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, lower and upper of a fill_between band: the polygon's lowest and highest y at each x."""
    vertices = collection.get_paths()[0].vertices
    x = np.unique(vertices[:, 0])
    at = [vertices[vertices[:, 0] == v, 1] for v in x]
    return x, np.array([y.min() for y in at]), np.array([y.max() for y in at])


# -- 1. calibration fit ---------------------------------------------------------------------


def test_calibration_fit_bars_are_observed_and_expected_counts(bgnbd, data):
    ax = cp.plot_calibration_fit(bgnbd, data, max_frequency=7, ax=new_ax())
    observed, expected = (np.array([bar.get_height() for bar in c]) for c in ax.containers)
    x = data["frequency"].to_numpy()
    np.testing.assert_array_equal(observed, [*(np.sum(x == k) for k in range(7)), np.sum(x >= 7)])
    assert observed[:3].tolist() == [1411, 439, 214] and observed.sum() == 2357
    # the expected count is sum_i P(X(T_i) = n), customer by customer (no grouping by T)
    pmf = bg.prob_purchases(bgnbd.params_, np.arange(7.0)[:, None], data["T"].to_numpy()[None, :])
    np.testing.assert_allclose(expected[:7], pmf.sum(axis=1), rtol=1e-10)
    assert expected.sum() == pytest.approx(2357)
    assert expected[0] == pytest.approx(observed[0], rel=0.01)  # FHL figure 1: the fit is close
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert legend_texts(ax) == ["Observed", "BG/NBD expected"]
    assert "weeks" in ax.get_legend().get_title().get_text()
    assert ax.get_ylabel() == "Customers" and "calibration" in ax.get_xlabel() and ax.get_title()


# -- 2. holdout by calibration frequency ----------------------------------------------------


def test_holdout_by_frequency_draws_the_report_and_exact_intervals(bgnbd, data):
    with pytest.warns(StatisticalWarning, match="BG/NBD under-forecasts"):  # CDNOW: -12%
        report = evaluate_holdout(bgnbd, data, random_seed=0)
    ax = cp.plot_holdout_by_frequency(bgnbd, data, report=report, n_draws=0, ax=new_ax())
    actual_line, (predicted_line, _, _) = ax.lines[0], ax.containers[0].lines
    np.testing.assert_allclose(actual_line.get_ydata(), report.by_frequency["actual_mean"])
    np.testing.assert_allclose(predicted_line.get_ydata(), report.by_frequency["predicted_mean"])
    # interval of a group mean: z * sqrt(sum of the customers' predictive variances) / n, the
    # variances computed here from the model's own predictive pmf over 0..300 purchases
    pmf = bgnbd.prob_purchases(np.arange(301), 39.0, data).to_numpy()
    n = np.arange(301.0)
    var = pmf @ n**2 - (pmf @ n) ** 2
    group = np.minimum(data["frequency"].to_numpy(), 7)
    size = np.bincount(group)
    z = stats.norm.ppf(0.95)
    half = z * np.sqrt(np.bincount(group, weights=var)) / size
    predicted = report.by_frequency["predicted_mean"].to_numpy()
    lower, upper = errorbar_bounds(ax.containers[0])
    np.testing.assert_allclose(upper, predicted + half, rtol=1e-8)
    np.testing.assert_allclose(lower, np.maximum(predicted - half, 0), rtol=1e-8, atol=1e-12)
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "0\nn=1,411"
    assert legend_texts(ax) == ["Actual", "BG/NBD expected, 90% interval of the mean"]
    assert "39 weeks" in ax.get_ylabel() and ax.get_title()


def test_holdout_without_report_matches_evaluate_holdout_and_adds_parameter_uncertainty(bgnbd, data):
    with pytest.warns(StatisticalWarning, match="BG/NBD under-forecasts"):
        report = evaluate_holdout(bgnbd, data, random_seed=0)
    table = plot_fit.holdout_by_frequency(bgnbd, data)
    pd.testing.assert_frame_equal(table, report.by_frequency[["customers", "actual_mean", "predicted_mean"]], check_dtype=False)
    # the report's interval of each group mean is the plot's, with every customer of the group
    chance = plot_fit.holdout_group_intervals(bgnbd, data, table, ci=0.9, n_draws=0, random_seed=1)
    with pytest.warns(StatisticalWarning):
        exact = evaluate_holdout(bgnbd, data, n_draws=0, random_seed=0).by_frequency
    np.testing.assert_allclose(exact["predicted_mean_upper"], chance["upper"], rtol=1e-8)
    narrow = plot_fit.holdout_group_intervals(bgnbd, data, table, ci=0.9, n_draws=0, random_seed=1)
    wide = plot_fit.holdout_group_intervals(bgnbd, data, table, ci=0.9, n_draws=200, random_seed=1)
    assert (wide["sd_params"] > 0).all() and (wide["upper"] > narrow["upper"]).all()
    np.testing.assert_allclose(wide["sd_customers"], narrow["sd_customers"])
    ax = cp.plot_holdout_by_frequency(bgnbd, data, n_draws=200, random_seed=1, ax=new_ax())
    np.testing.assert_allclose(errorbar_bounds(ax.containers[0])[1], wide["upper"])
    assert "parameter uncertainty" in ax.get_legend().get_title().get_text()


def test_holdout_intervals_cover_simulated_group_means():
    """On customers simulated from known parameters the group means fall in their intervals."""
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 3.0}
    rng = np.random.default_rng(7)
    sim = bg.simulate(truth, rng.uniform(10, 40, 20_000), holdout=30.0, random_seed=8)
    sim.attrs["time_unit"] = "W"
    model = BetaGeo().fit(sim)
    table = plot_fit.holdout_by_frequency(model, sim)
    intervals = plot_fit.holdout_group_intervals(model, sim, table, ci=0.9, n_draws=100, random_seed=2)
    sd = np.hypot(intervals["sd_customers"], intervals["sd_params"])
    score = (table["actual_mean"] - table["predicted_mean"]) / sd
    assert (score.abs() < 3).all(), score
    assert ((table["actual_mean"] >= intervals["lower"]) & (table["actual_mean"] <= intervals["upper"])).sum() >= 6


# -- 9. interval calibration ----------------------------------------------------------------


def test_interval_calibration_equals_evaluate_holdout_at_each_level(bgnbd, data):
    levels = (0.5, 0.8, 0.9, 0.95)
    ax = cp.plot_interval_calibration(bgnbd, data, levels=levels, ax=new_ax())
    intervals, pit, diagonal = ax.lines
    with pytest.warns(StatisticalWarning, match="BG/NBD under-forecasts"):
        reports = [evaluate_holdout(bgnbd, data, ci=level, random_seed=0) for level in levels]
    np.testing.assert_array_equal(intervals.get_xdata(), levels)
    assert intervals.get_ydata().tolist() == [r.metrics["coverage"] for r in reports]
    # the drawn PIT coverage is the mean over the randomisation: close to one randomised draw
    drawn = reports[0].customers["pit"].to_numpy()
    randomised = [np.mean(np.abs(drawn - 0.5) <= level / 2) for level in levels]
    np.testing.assert_allclose(pit.get_ydata(), randomised, atol=0.015)
    np.testing.assert_allclose(pit.get_ydata(), levels, atol=0.02)  # CDNOW: calibrated
    assert (intervals.get_ydata() >= np.array(levels)).all()  # discrete counts over-cover
    assert diagonal.get_xdata().tolist() == diagonal.get_ydata().tolist()
    x, lower, upper = band_bounds(ax.collections[0])
    np.testing.assert_allclose(upper - x, 1.96 * np.sqrt(x * (1 - x) / 2357))
    assert len(legend_texts(ax)) == 4 and "n=2,357" in legend_texts(ax)[0]
    assert ax.get_xlabel().startswith("Nominal") and ax.get_ylabel() and ax.get_title()


def test_interval_calibration_scores_a_seeded_subset_of_large_data(bgnbd, data):
    ax = cp.plot_interval_calibration(bgnbd, data, levels=(0.9,), max_customers=1000, random_seed=4, ax=new_ax())
    rows = np.sort(np.random.default_rng(4).choice(len(data), 1000, replace=False))
    expected = evaluate_holdout(bgnbd, data.iloc[rows], ci=0.9, warn=False).metrics["coverage"]
    assert ax.lines[0].get_ydata()[0] == expected
    assert "n=1,000" in legend_texts(ax)[0]


# -- 3. tracking ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tracking_table(bgnbd, transactions):
    tracking = pytest.importorskip("clvmodels.tracking")
    return tracking.tracking_forecast(
        bgnbd, transactions, calibration_end=CALIBRATION_END, time_unit="W", n_draws=100, random_seed=0
    )


def test_tracking_plots_draw_the_table(tracking_table):
    table = tracking_table
    fig = cp.plot_tracking(table, fig=Figure(layout="constrained"))
    weekly, cumulative = fig.axes
    for ax, (actual, expected, lower, upper) in (
        (weekly, ("actual", "expected", "expected_lower", "expected_upper")),
        (cumulative, ("actual_cumulative", "expected_cumulative", "cumulative_lower", "cumulative_upper")),
    ):
        dashed, solid, end = ax.lines
        dates = mdates.date2num(table.index)
        np.testing.assert_allclose(mdates.date2num(solid.get_xdata()), dates)
        np.testing.assert_allclose(solid.get_ydata(), table[actual])
        np.testing.assert_allclose(dashed.get_ydata(), table[expected])
        x, band_lower, band_upper = band_bounds(ax.collections[0])
        np.testing.assert_allclose(x, dates)
        np.testing.assert_allclose(band_lower, table[lower])
        np.testing.assert_allclose(band_upper, table[upper])
        assert mdates.date2num(end.get_xdata()[0]) == mdates.date2num(pd.Timestamp(CALIBRATION_END))
        assert legend_texts(ax) == ["90% credible band (parameter draws)", "Expected (BG/NBD)", "Actual", "End of calibration (1997-09-30)"]
    assert weekly.get_title() == "Tracking: repeat transactions per week"
    assert weekly.get_ylabel() == "Repeat transactions per week"
    assert cumulative.get_xlabel() == "Calendar date (end of each week)"
    assert cumulative.get_ylabel() == "Cumulative repeat transactions"
    assert table["actual_cumulative"].iloc[-1] == 4339  # all repeat transactions of the sample
    single = cp.plot_cumulative_transactions(table, ax=new_ax())
    assert single.get_title() == "Tracking: cumulative repeat transactions"


def test_tracking_table_is_checked():
    table = pd.DataFrame({"actual": [1.0]}, index=pd.DatetimeIndex(["1997-01-08"]))
    with pytest.raises(ValueError, match="tracking_forecast"):
        cp.plot_period_transactions(table, ax=new_ax())


# -- 4. frequency-recency heatmaps ----------------------------------------------------------


def _grid_cells(T: float, max_frequency: int, n_recency: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.linspace(0, T, n_recency + 1)
    return np.arange(max_frequency + 1.0)[:, None], ((edges[:-1] + edges[1:]) / 2)[None, :]


def test_prob_alive_heatmap_is_prob_alive_on_the_grid(bgnbd, data):
    ax = cp.plot_prob_alive_heatmap(bgnbd, data, n_recency=40, ax=new_ax())
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    T = data["T"].max()
    x, t_x = _grid_cells(T, 29, 40)
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(30, 40), bg.prob_alive(bgnbd.params_, x, t_x, T))
    assert ax.figure.axes[1].get_ylabel().startswith("P(alive)")  # the colour bar
    assert legend_texts(ax) == ["Iso-probability curves"]
    assert "38.86 weeks" in ax.get_legend().get_title().get_text()
    assert "weeks" in ax.get_xlabel() and "Frequency" in ax.get_ylabel() and ax.get_title()


def test_expected_purchases_heatmap_over_draws_is_the_draw_mean(bgnbd, data):
    ax = cp.plot_expected_purchases_heatmap(bgnbd, T=30.0, max_frequency=10, t=52, n_recency=20, n_draws=300, random_seed=5, ax=new_ax())
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    x, t_x = _grid_cells(30.0, 10, 20)
    draws = bgnbd.sample_params(300, random_seed=5)
    shaped = {name: draws[name].to_numpy()[:, None, None] for name in draws.columns}
    expected = bg.expected_purchases(shaped, 52.0, x[None], t_x[None], 30.0).mean(axis=0)
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(11, 20), expected, rtol=1e-10)
    assert ax.get_title() == "Expected purchases in the next 52 weeks"
    assert "mean over 300 parameter draws" in ax.figure.axes[1].get_ylabel()
    assert legend_texts(ax) == ["Iso-value curves"]


def test_heatmap_memory_does_not_grow_with_draws(bgnbd):
    """5,000 draws over a 30 x 80 grid: 12M draw-cells (96 MB each array) are never held at once."""
    tracemalloc.start()
    try:
        cp.plot_prob_alive_heatmap(bgnbd, T=38.86, max_frequency=29, n_draws=5000, random_seed=0, ax=new_ax())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB"


# -- 5. one customer's history --------------------------------------------------------------


def test_customer_history_ends_at_the_summary_prob_alive(bgnbd, data, transactions):
    for customer in (1, 6, 1901):
        ax = cp.plot_customer_history(bgnbd, transactions, customer, observation_end=CALIBRATION_END, ax=new_ax())
        path = ax.lines[0]
        assert path.get_ydata()[-1] == pytest.approx(bgnbd.prob_alive(data.loc[[customer]]).iloc[0], rel=1e-12)
        assert mdates.date2num(path.get_xdata()[-1]) == pytest.approx(mdates.date2num(pd.Timestamp(CALIBRATION_END)))
    # over the whole log, the end value is P(alive) of the summary to the end of the holdout
    full = rfm_summary(transactions, observation_end="1998-06-30", time_unit="W")
    ax = cp.plot_customer_history(bgnbd, transactions, 6, calibration_end=CALIBRATION_END, ax=new_ax())
    assert ax.lines[0].get_ydata()[-1] == pytest.approx(bgnbd.prob_alive(full.loc[[6]]).iloc[0], rel=1e-12)
    ticks = next(c for c in ax.collections if isinstance(c, LineCollection))
    days = pd.to_datetime(transactions.loc[transactions["customer_id"] == 6, "date"]).dt.normalize().unique()
    np.testing.assert_allclose(sorted(seg[0, 0] for seg in ticks.get_segments()), mdates.date2num(np.sort(days)))
    assert legend_texts(ax) == ["P(alive) (BG/NBD)", f"Purchases ({len(days)} days with a purchase)", "End of calibration (1997-09-30)"]
    assert ax.get_ylabel() == "P(alive)" and ax.get_title().startswith("Customer 6")


def test_prob_alive_path_jumps_at_purchases_and_decays_between():
    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    purchases = np.array([5.0, 12.0, 30.0])
    times, prob = cp.customers.prob_alive_path("bgnbd", purchases, 40.0, n_points=200, params=params)
    assert times[0] == 0 and prob[0] == 1.0 and times[-1] == 40.0
    for k, t in enumerate(purchases, start=1):
        at = np.flatnonzero(times == t)
        assert len(at) == 2  # just before and just after the purchase
        # right after the k-th repeat purchase (t_x = T): the chance of not dropping out then
        assert prob[at[1]] == pytest.approx(1 / (1 + params["a"] / (params["b"] + k - 1)))
        # before the first repeat purchase the model holds the customer alive (x = 0)
        assert prob[at[0]] == 1.0 if k == 1 else prob[at[1]] > prob[at[0]]
    between = (times > 12.0) & (times < 30.0)
    assert np.all(np.diff(prob[between]) < 0)


# -- 6. heterogeneity and spend -------------------------------------------------------------


def test_purchase_rate_and_dropout_distributions(bgnbd):
    fig = cp.plot_heterogeneity(bgnbd, n_draws=150, ci=0.8, random_seed=2, fig=Figure(layout="constrained"))
    rate, dropout = fig.axes
    r, alpha, a, b = bgnbd.params_
    draws = bgnbd.sample_params(150, random_seed=2)
    line = rate.lines[0]
    lam = line.get_xdata()
    np.testing.assert_allclose(line.get_ydata(), stats.gamma.pdf(lam, r, scale=1 / alpha) * lam * np.log(10))
    x, lower, upper = band_bounds(rate.collections[0])
    dens = stats.gamma.pdf(x, draws["r"].to_numpy()[:, None], scale=1 / draws["alpha"].to_numpy()[:, None]) * x * np.log(10)
    np.testing.assert_allclose(lower, np.quantile(dens, 0.1, axis=0))
    np.testing.assert_allclose(upper, np.quantile(dens, 0.9, axis=0))
    assert rate.lines[1].get_xdata()[0] == pytest.approx(r / alpha)
    assert rate.get_xscale() == "log" and "per week" in rate.get_xlabel()
    assert legend_texts(rate)[0] == "80% band over 150 parameter draws"
    line = dropout.lines[0]
    np.testing.assert_allclose(line.get_ydata(), stats.beta.pdf(line.get_xdata(), a, b))
    assert dropout.lines[1].get_xdata()[0] == pytest.approx(a / (a + b))
    assert legend_texts(dropout)[1] == "Beta(a=0.793, b=2.43)"
    # the pdf of p is infinite at 0 when a < 1: the axis is cut but still shows the body
    assert dropout.get_ylim()[1] < line.get_ydata().max()
    assert all(ax.get_title() and ax.get_ylabel() for ax in (rate, dropout))


def test_spend_distribution_histogram_and_mixture_density(spend, data):
    ax = cp.plot_spend_distribution(spend, data, n_draws=50, currency="$", random_seed=0, ax=new_ax())
    repeat = data[data["frequency"] > 0]
    m = repeat["monetary_value"].to_numpy()
    stairs = next(p for p in ax.patches if isinstance(p, StepPatch))
    heights, edges = stairs.get_data().values, stairs.get_data().edges
    counts, _ = np.histogram(m, bins=edges)
    np.testing.assert_allclose(heights, counts / (len(m) * np.diff(edges)))
    assert edges[-1] == pytest.approx(np.quantile(m, 0.99))
    # the model curve: the average over repeat customers of each one's mean-spend density
    line = ax.lines[0]
    grid = line.get_xdata()
    per_customer = np.exp(gg.loglik(spend.params_, repeat["frequency"].to_numpy()[:, None], grid[None, :]))
    np.testing.assert_allclose(line.get_ydata(), per_customer.mean(axis=0), rtol=1e-10)
    # a density whose mean is the population mean spend p gamma / (q - 1) ($35.17, published)
    wide = np.linspace(1e-6, 5000, 400_001)
    mixture = cp.population.spend_density(spend, repeat["frequency"].to_numpy(), wide)
    assert np.trapezoid(mixture, wide) == pytest.approx(1.0, abs=2e-3)
    assert np.trapezoid(wide * mixture, wide) == pytest.approx(GG_MEAN_SPEND, rel=0.02)
    labels = legend_texts(ax)
    assert labels[0] == "Observed: 946 repeat customers (10 beyond the axis)"
    assert labels[1] == "90% band over 50 parameter draws" and labels[2].startswith("Gamma-Gamma (p=6.25")
    assert ax.get_xlabel() == r"Mean spend per repeat transaction (\$)" and ax.get_ylabel() and ax.get_title()


def test_frequency_spend_scatter_and_correlation(data):
    ax = cp.plot_frequency_spend(data, currency="$", ax=new_ax())
    repeat = data[data["frequency"] > 0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), repeat[["frequency", "monetary_value"]].to_numpy())
    means = repeat.groupby("frequency")["monetary_value"].agg(["mean", "size"])
    means = means[means["size"] >= 5]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), means.index)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), means["mean"])
    title = ax.get_legend().get_title().get_text()
    assert title.startswith(f"Pearson r = {GG_CORRELATION:.2f}") and "946 repeat customers" in title
    assert ax.get_yscale() == "log"
    few = cp.plot_frequency_spend(data, max_points=100, ax=new_ax())
    assert len(few.collections[0].get_offsets()) == 100
    assert legend_texts(few)[0] == "Repeat customers (100 of 946 shown)"
    assert few.get_legend().get_title().get_text() == title  # correlations use every customer


# -- 7. CLV ---------------------------------------------------------------------------------


def test_clv_distribution(result):
    table = result.to_frame()
    ax = cp.plot_clv_distribution(result, currency="$", ax=new_ax())
    stairs = next(p for p in ax.patches if isinstance(p, StepPatch))
    counts, edges = stairs.get_data().values, stairs.get_data().edges
    assert counts.sum() == len(table)  # every customer, the lowest pooled into the first bin
    low = np.quantile(table["clv"], 0.001)
    assert edges[0] == pytest.approx(low) and edges[-1] == pytest.approx(table["clv"].max())
    np.testing.assert_array_equal(counts, np.histogram(np.maximum(table["clv"], low), bins=edges)[0])
    median, mean = (line.get_xdata()[0] for line in ax.lines)
    assert median == pytest.approx(table["clv"].median()) and mean == pytest.approx(table["clv"].mean())
    assert ax.get_xscale() == "log"
    assert legend_texts(ax)[2] == rf"Mean \${table['clv'].mean():,.2f} (total \${table['clv'].sum():,.0f})"
    assert "below" in ax.get_legend().get_title().get_text()
    assert ax.get_title() == "Expected CLV across customers (next 52 weeks, 15% annual discount)"


def test_top_customers_with_credible_and_predictive_intervals(result):
    table = result.to_frame()
    ax = cp.plot_top_customers(result, n=15, currency="$", ax=new_ax())
    top = table.nlargest(15, "clv")
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(i) for i in top.index]
    point = ax.lines[0]
    np.testing.assert_allclose(point.get_xdata(), top["clv"])
    predictive, credible = (c for c in ax.collections if isinstance(c, LineCollection))
    for collection, (lo, hi) in ((predictive, ("clv_pred_lower", "clv_pred_upper")), (credible, ("clv_lower", "clv_upper"))):
        segments = collection.get_segments()
        np.testing.assert_allclose([s[0, 0] for s in segments], top[lo])
        np.testing.assert_allclose([s[1, 0] for s in segments], top[hi])
        np.testing.assert_allclose([s[0, 1] for s in segments], point.get_ydata())
    assert legend_texts(ax) == [
        "90% predictive interval (what the customer will bring)",
        "90% credible interval (parameter uncertainty)",
        "Expected value",
    ]
    assert ax.get_xlabel() == r"Expected CLV (\$), next 52 weeks, 15% annual discount"
    assert ax.get_title() == "Top 15 customers by expected CLV"


# -- 8. Bayesian ----------------------------------------------------------------------------


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


@pytest.fixture(scope="module")
def idata():
    """Two chains of 200 draws around the CDNOW estimates, a prior, and a divergence."""
    az = _arviz()
    rng = np.random.default_rng(11)
    centre = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    posterior = {k: v * np.exp(rng.normal(0, 0.08, (2, 200))) for k, v in centre.items()}
    prior = {k: rng.lognormal(np.log(v), 1.5, (1, 500)) for k, v in centre.items()}
    diverging = np.zeros((2, 200), dtype=bool)
    diverging[0, 17] = True
    return az.from_dict(posterior=posterior, prior=prior, sample_stats={"diverging": diverging}, attrs={"time_unit": "W"})


def test_trace_plot(idata):
    fig = cp.plot_trace(idata, fig=Figure(layout="constrained"))
    assert len(fig.axes) == 8
    for row, name in enumerate(["r", "alpha", "a", "b"]):
        density, trace = fig.axes[2 * row], fig.axes[2 * row + 1]
        label = "alpha (weeks)" if name == "alpha" else name
        assert density.get_title() == label and trace.get_title() == label
        chains = [line.get_ydata() for line in trace.lines if len(line.get_ydata()) == 200]
        for chain, drawn in enumerate(chains[:2]):
            np.testing.assert_allclose(drawn, idata.posterior[name].values[chain])
        assert trace.get_xlabel() == "Draw" and trace.get_ylabel() == name
    assert fig.axes[1].get_legend() is not None  # the chains
    assert fig.get_suptitle() == "Posterior: trace (2 chains x 200 draws)"


def test_rank_plot(idata):
    fig = cp.plot_rank(idata, var_names=["r", "alpha"], fig=Figure(layout="constrained"))
    assert [ax.get_title() for ax in fig.axes] == ["r", "alpha (weeks)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["chain 0", "chain 1", "uniform (well mixed)"]
    assert all(ax.get_xlabel() == "Rank among all draws" for ax in fig.axes)


def test_posterior_plot_marks_the_reference(idata, bgnbd):
    fig = cp.plot_posterior(idata, ci=0.9, reference=dict(bgnbd.params_), fig=Figure(layout="constrained"))
    assert len(fig.axes) == 4
    for ax, name in zip(fig.axes, ["r", "alpha", "a", "b"]):
        vertical = [line for line in ax.lines if len(set(np.atleast_1d(line.get_xdata()))) == 1]
        assert any(line.get_xdata()[0] == pytest.approx(bgnbd.params_[name], rel=5e-3) for line in vertical), name
        texts = " ".join(t.get_text() for t in ax.texts)
        assert "90% HDI" in texts and "mean" in texts
        below = np.mean(idata.posterior[name].values < float(f"{bgnbd.params_[name]:.3g}"))
        assert f"{100 * below:.1f}%" in texts  # the share of draws below the reference
    assert [t.get_text() for t in fig.legends[0].get_texts()][1] == "90% highest-density interval"


def test_prior_posterior_plot(idata):
    fig = cp.plot_prior_posterior(idata, var_names=["r", "b"], fig=Figure(layout="constrained"))
    r_ax, b_ax = fig.axes
    assert legend_texts(r_ax) == ["Posterior", "Prior"]
    assert r_ax.get_xlabel() == "log10(r)"
    # on the log10 scale the prior spans far more than the posterior
    posterior_line, prior_line = (line for line in r_ax.lines if len(line.get_xdata()) > 10)
    assert np.ptp(prior_line.get_xdata()) > 5 * np.ptp(posterior_line.get_xdata())
    posterior_mean = np.log10(idata.posterior["r"].values).mean()
    assert posterior_line.get_xdata().min() < posterior_mean < posterior_line.get_xdata().max()
    assert posterior_line.get_label() != prior_line.get_label()


def test_bayesian_plots_need_a_posterior(bgnbd, idata):
    with pytest.raises(TypeError, match="maximum-likelihood fit has no posterior"):
        cp.plot_trace(bgnbd)
    without_prior = _arviz().from_dict(posterior={"r": idata.posterior["r"].values})
    with pytest.raises(ValueError, match="no prior draws"):
        cp.plot_prior_posterior(without_prior)


def test_prior_draws_given_as_a_frame(idata):
    posterior_only = _arviz().from_dict(posterior={k: idata.posterior[k].values for k in ("r", "alpha")})
    prior = pd.DataFrame({"r": np.random.default_rng(0).lognormal(-1.4, 1.0, 300), "alpha": np.random.default_rng(1).lognormal(1.5, 1.0, 300)})
    fig = cp.plot_prior_posterior(posterior_only, prior=prior, log=False, fig=Figure(layout="constrained"))
    assert [ax.get_xlabel() for ax in fig.axes] == ["r", "alpha"]
    prior_line = [line for line in fig.axes[0].lines if len(line.get_xdata()) > 10][1]
    assert prior_line.get_xdata().max() > 3 * idata.posterior["r"].values.max()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::clvmodels.exceptions.ConvergenceWarning")  # few draws: the plots are tested here
def test_bayesian_plots_on_a_nuts_fit(data):
    """A real NUTS fit: every Bayesian plot takes the model, its draws and its priors."""
    pytest.importorskip("pymc")
    model = BetaGeo(draws=500, chains=2, random_seed=1)
    try:
        model.fit(data, method="nuts")
    except (TypeError, ValueError) as exc:  # the Bayesian fit is another issue's work
        pytest.skip(f"the Bayesian fit is not available: {exc}")
    for plot in (cp.plot_trace, cp.plot_rank, cp.plot_posterior, cp.plot_prior_posterior):
        fig = plot(model, fig=Figure(layout="constrained"))
        assert fig.get_suptitle().startswith("BG/NBD posterior"), plot.__name__
        assert {ax.get_title() for ax in fig.axes} >= {"r", "alpha (weeks)", "a", "b"}, plot.__name__
    trace = cp.plot_trace(model, fig=Figure())
    np.testing.assert_allclose(trace.axes[1].lines[0].get_ydata(), model.idata_.posterior["r"].values[0])


# -- the rules every plot follows -----------------------------------------------------------


def test_plots_draw_on_the_given_axes_without_pyplot(bgnbd, spend, data, transactions, result):
    """With ax= or fig= given, no pyplot figure is created and nothing is drawn elsewhere."""
    plt.close("all")
    axes = {name: new_ax() for name in ("fit", "holdout", "cal", "alive", "ep", "hist", "spend", "fs", "clv", "top")}
    drawn = [
        cp.plot_calibration_fit(bgnbd, data, ax=axes["fit"]),
        cp.plot_holdout_by_frequency(bgnbd, data, n_draws=10, ax=axes["holdout"]),
        cp.plot_interval_calibration(bgnbd, data, levels=(0.9,), ax=axes["cal"]),
        cp.plot_prob_alive_heatmap(bgnbd, data, ax=axes["alive"]),
        cp.plot_expected_purchases_heatmap(bgnbd, data, t=10, ax=axes["ep"]),
        cp.plot_customer_history(bgnbd, transactions, 1, ax=axes["hist"]),
        cp.plot_spend_distribution(spend, data, n_draws=10, ax=axes["spend"]),
        cp.plot_frequency_spend(data, ax=axes["fs"]),
        cp.plot_clv_distribution(result, ax=axes["clv"]),
        cp.plot_top_customers(result, ax=axes["top"]),
    ]
    assert [id(a) for a in drawn] == [id(a) for a in axes.values()]
    fig = Figure()
    assert cp.plot_heterogeneity(bgnbd, n_draws=10, fig=fig) is fig
    assert plt.get_fignums() == []
    for ax in drawn:
        ax.figure.savefig(io.BytesIO(), format="png")  # renders headless


def test_without_ax_a_new_figure_is_made(bgnbd, data):
    first = cp.plot_calibration_fit(bgnbd, data)
    second = cp.plot_calibration_fit(bgnbd, data)
    assert first.figure is not second.figure and len(plt.get_fignums()) == 2


def test_importing_plotting_does_not_import_arviz():
    code = "import clvmodels.plotting, sys; assert 'arviz' not in sys.modules and 'pymc' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gallery_writes_pngs(tmp_path):
    from clvmodels import gallery

    lines: list[str] = []
    written = gallery.build(tmp_path, only=["calibration_fit", "top_customers"], dpi=50, bayes=False, say=lines.append)
    assert sorted(written) == ["calibration_fit", "top_customers"]
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="unknown plot"):
        gallery.build(tmp_path, only=["nope"], say=lines.append)


# -- scale ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_plots_of_a_million_customers_render_in_seconds():
    """Simulated BG/NBD and Gamma-Gamma customers with daily dates: each plot in a few seconds."""
    n = 1_000_000
    rng = np.random.default_rng(0)
    T = np.round(rng.uniform(1, 78 * 7, n)) / 7
    sim = bg.simulate({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, T, holdout=39.0, random_seed=1)
    sim["recency"] = np.minimum(np.round(sim["recency"].to_numpy() * 7) / 7, sim["T"].to_numpy())
    sim["monetary_value"] = gg.simulate({"p": 6.25, "q": 3.74, "gamma": 15.44}, sim["frequency"].to_numpy(), random_seed=2)["monetary_value"].to_numpy()
    sim.attrs["time_unit"] = "W"
    model, spend_model = BetaGeo().fit(sim), GammaGamma().fit(sim)
    x, t_x, TT = (sim[c].to_numpy() for c in ("frequency", "recency", "T"))
    clv = bg.expected_purchases(model.params_, 52.0, x, t_x, TT) * gg.expected_spend(spend_model.params_, x, sim["monetary_value"].to_numpy())
    table = pd.DataFrame({"clv": clv, "clv_lower": 0.8 * clv, "clv_upper": 1.2 * clv, "clv_pred_lower": 0 * clv, "clv_pred_upper": 3 * clv}, index=sim.index)
    ids = np.repeat(sim.index.to_numpy(), x + 1)
    offsets = np.round(rng.uniform(0, 1, ids.size) * np.repeat(t_x, x + 1) * 7)
    log = pd.DataFrame({"customer_id": ids, "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.repeat(np.round((78 - TT) * 7), x + 1) + offsets, unit="D")})
    plots = {
        "calibration_fit": lambda ax: cp.plot_calibration_fit(model, sim, ax=ax),
        "holdout_by_frequency": lambda ax: cp.plot_holdout_by_frequency(model, sim, ax=ax),
        "interval_calibration": lambda ax: cp.plot_interval_calibration(model, sim, ax=ax),
        "prob_alive_heatmap": lambda ax: cp.plot_prob_alive_heatmap(model, sim, n_draws=100, ax=ax),
        "expected_purchases_heatmap": lambda ax: cp.plot_expected_purchases_heatmap(model, sim, t=52, n_draws=100, ax=ax),
        "customer_history": lambda ax: cp.plot_customer_history(model, log, int(sim.index[np.argmax(x)]), ax=ax),
        "spend_distribution": lambda ax: cp.plot_spend_distribution(spend_model, sim, ax=ax),
        "frequency_spend": lambda ax: cp.plot_frequency_spend(sim, ax=ax),
        "clv_distribution": lambda ax: cp.plot_clv_distribution(table, ax=ax),
        "top_customers": lambda ax: cp.plot_top_customers(table, ax=ax),
    }
    timings = {}
    for name, plot in plots.items():
        start = time.perf_counter()
        ax = plot(new_ax())
        ax.figure.savefig(io.BytesIO(), format="png", dpi=100)
        timings[name] = time.perf_counter() - start
    print({k: round(v, 2) for k, v in timings.items()})
    slow = {k: v for k, v in timings.items() if v > 15}  # a few seconds each; generous on a shared machine
    assert not slow, slow


# -- the protocol, the P(alive) note, money and large numbers (issues 11 and 15) -------------------


@pytest.fixture()
def renamed(bgnbd):
    """The CDNOW fit as a model registered under another key and name, with BG/NBD's formulas
    but without its assumption that a customer with no repeat purchase is alive."""
    from clvmodels.models import registry
    from clvmodels.inference.result import FitResult

    class Renamed(BetaGeo):
        key = "test-renamed-plots"
        display_name = "Renamed/NBD"
        alive_without_repeat = False

    registry.register(Renamed)
    model = Renamed()
    model._set_fitted(FitResult(method="mle", params=bgnbd.params_, covariance=bgnbd.covariance_,
                                covariance_log=bgnbd.covariance_log_, loglik=bgnbd.loglik_, converged=True,
                                n_customers=bgnbd.n_customers_, n_patterns=bgnbd.n_patterns_, time_unit="W"))
    yield model
    registry._REGISTRY.pop(Renamed.key, None)


def test_prob_alive_heatmap_notes_the_x0_row_when_the_model_assumes_it(bgnbd, renamed, data):
    ax = cp.plot_prob_alive_heatmap(bgnbd, data, n_recency=20, ax=new_ax())
    notes = [t for t in ax.texts if t.get_text().startswith("x = 0")]
    assert [t.get_text() for t in notes] == ["x = 0: P(alive) = 1 by the BG/NBD assumption (dropout only after a repeat purchase)"]
    assert notes[0].get_position() == (pytest.approx(data["T"].max() / 2), 0.0)  # on the x = 0 row
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert np.all(np.asarray(mesh.get_array()).reshape(-1, 20)[0] == 1.0)
    other = cp.plot_prob_alive_heatmap(renamed, data, n_recency=20, ax=new_ax())
    assert not [t for t in other.texts if t.get_text().startswith("x = 0")]
    assert "Renamed/NBD" in other.figure.axes[1].get_ylabel()


def test_the_x0_row_is_evaluated_at_recency_0():
    """A customer with no repeat purchase has recency 0: the grid's row x = 0 asks for that."""
    seen = []

    def quantity(params, x, t_x, T):
        seen.append(np.broadcast_to(t_x, np.broadcast_shapes(np.shape(x), np.shape(t_x)))[0].copy())
        return np.zeros(np.broadcast_shapes(np.shape(x), np.shape(t_x)))

    model = BetaGeo().fit(cdnow_summary())
    cp.customers.frequency_recency_grid(model, quantity, T=30.0, max_frequency=3, n_recency=5)
    assert seen[0].tolist() == [0.0] * 5


def test_plots_ask_the_registry_for_the_model_and_its_name(renamed, bgnbd, data, transactions):
    ax = cp.plot_calibration_fit(renamed, data, ax=new_ax())
    assert legend_texts(ax) == ["Observed", "Renamed/NBD expected"]
    np.testing.assert_allclose([b.get_height() for b in ax.containers[1]],
                               [b.get_height() for b in cp.plot_calibration_fit(bgnbd, data, ax=new_ax()).containers[1]])
    fig = cp.plot_heterogeneity(renamed, n_draws=10, fig=Figure())
    assert [a.get_title() for a in fig.axes] == ["Heterogeneity in purchase rate (Renamed/NBD)", "Heterogeneity in dropout (Renamed/NBD)"]
    history = cp.plot_customer_history(renamed, transactions, 1, observation_end=CALIBRATION_END, ax=new_ax())
    assert legend_texts(history)[0] == "P(alive) (Renamed/NBD)"
    assert round(float(history.lines[0].get_ydata()[-1]), 4) == 0.7266
    with pytest.warns(StatisticalWarning, match="Renamed/NBD under-forecasts"):
        report = evaluate_holdout(renamed, data, random_seed=0)
    holdout = cp.plot_holdout_by_frequency(renamed, data, report=report, n_draws=0, ax=new_ax())
    assert legend_texts(holdout)[1] == "Renamed/NBD expected, 90% interval of the mean"
    assert "Renamed/NBD" in cp.plot_interval_calibration(renamed, data, levels=(0.9,), ax=new_ax()).get_title()


def test_plots_refuse_a_model_of_the_wrong_kind(bgnbd, spend, data):
    with pytest.raises(ValueError, match="is a spend model, not a transactions model"):
        cp.plot_prob_alive_heatmap(spend, data, ax=new_ax())
    with pytest.raises(ValueError, match="is a transactions model, not a spend model"):
        cp.plot_spend_distribution(bgnbd, data, ax=new_ax())
    with pytest.raises(ValueError, match="Gamma-Gamma does not model a purchase rate"):
        cp.plot_purchase_rate_distribution(spend, n_draws=0, ax=new_ax())


def test_dropout_of_a_model_with_a_dropout_rate_is_a_gamma_density(bgnbd):
    """A model with parameters r, alpha, s, beta (the Pareto/NBD's) gets the density of its
    dropout rate mu ~ Gamma(s, beta), drawn as the purchase rate is."""

    class RateModel:
        param_names = ("r", "alpha", "s", "beta")
        display_name = "Rate model"
        params_ = pd.Series({"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7})
        time_unit_ = "W"

    ax = cp.plot_dropout_distribution(RateModel(), n_draws=0, ax=new_ax())
    grid, density = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    np.testing.assert_allclose(density, stats.gamma.pdf(grid, 0.61, scale=1 / 11.7) * grid * np.log(10), rtol=1e-12)
    assert ax.get_title() == "Heterogeneity in dropout (Rate model)" and ax.get_xscale() == "log"
    assert legend_texts(ax)[1] == f"Mean s/beta = {0.61 / 11.7:.3g} per week"


def test_money_and_large_numbers_are_formatted(result, bgnbd, data, tracking_table):
    from clvmodels.plotting._common import money_text

    assert money_text(1234567.891, "$") == r"\$1,234,567.89" and money_text(-1500.0, "€", 0) == "-€1,500"
    assert money_text(1234.5, "EUR") == "1,234.50 EUR" and money_text(9629.0, None, 0) == "9,629"
    table = result.to_frame()
    euros = cp.plot_clv_distribution(result, currency="EUR", ax=new_ax())
    assert legend_texts(euros)[2] == f"Mean {table['clv'].mean():,.2f} EUR (total {table['clv'].sum():,.0f} EUR)"
    assert euros.get_xlabel() == "Expected CLV (EUR), log scale"
    bare = cp.plot_clv_distribution(result, ax=new_ax())
    assert legend_texts(bare)[1] == f"Median {table['clv'].median():,.2f}" and "(currency units)" in bare.get_xlabel()
    linear = cp.plot_clv_distribution(result, log=False, currency="$", ax=new_ax())
    assert linear.xaxis.get_major_formatter()(12500.0, 0) == "12,500"
    top = cp.plot_top_customers(result, currency="£", ax=new_ax())
    assert top.xaxis.get_major_formatter()(2000.0, 0) == "2,000" and "(£)" in top.get_xlabel()
    fit = cp.plot_calibration_fit(bgnbd, data, ax=new_ax())
    assert fit.yaxis.get_major_formatter()(1000.0, 0) == "1,000"
    cumulative = cp.plot_cumulative_transactions(tracking_table, ax=new_ax())
    assert cumulative.yaxis.get_major_formatter()(4000.0, 0) == "4,000"
    assert cumulative.yaxis.get_major_formatter()(0.5, 0) == "0.5"
