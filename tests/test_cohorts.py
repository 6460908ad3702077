"""Acquisition cohorts from the raw log, the forecast reported by cohort, and its plot.

CDNOW: every customer of the sample made their first purchase in the first quarter of 1997
(Fader, Hardie & Lee 2005), so the monthly cohorts are January, February and March 1997; their
sizes are counted here independently, with a pandas group-by on the raw log.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import clvmodels  # noqa: E402
import clvmodels.plotting  # noqa: E402
from clvmodels import BetaGeo, GammaGamma, forecast  # noqa: E402
from clvmodels.datasets import load_cdnow_sample  # noqa: E402
from clvmodels.exceptions import DataWarning  # noqa: E402
from clvmodels.plotting.segments import plot_cohorts  # noqa: E402
from clvmodels.segments import acquisition_cohorts  # noqa: E402

CALIBRATION_END = "1997-09-30"


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return load_cdnow_sample()


@pytest.fixture(scope="module")
def monthly_counts(log) -> pd.Series:
    """Customers per month of first purchase, counted with pandas alone."""
    first = log.groupby("customer_id")["date"].min()
    label = first.dt.year.astype(str) + "-" + first.dt.month.map("{:02d}".format)
    return label.value_counts().sort_index()


@pytest.fixture(scope="module")
def cohorts(log) -> pd.DataFrame:
    return acquisition_cohorts(log, observation_end=CALIBRATION_END)


@pytest.fixture(scope="module")
def models(cdnow_calibration):
    return BetaGeo().fit(cdnow_calibration), GammaGamma().fit(cdnow_calibration)


@pytest.fixture(scope="module")
def by_cohort(models, cdnow_calibration, cohorts):
    """A forecast with a made-up channel joined to the cohorts (an attribute table)."""
    rng = np.random.default_rng(11)
    channel = pd.DataFrame({"channel": rng.choice(["email", "search"], len(cdnow_calibration))},
                           index=cdnow_calibration.index)
    return forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.15, n_draws=200, random_seed=3,
                    predictive=False, segments=channel.join(cohorts))


def test_cdnow_monthly_cohorts_are_the_first_quarter_of_1997(log, cohorts, monthly_counts, cdnow_calibration):
    assert monthly_counts.index.tolist() == ["1997-01", "1997-02", "1997-03"]
    column = cohorts["cohort"]
    assert isinstance(column.dtype, pd.CategoricalDtype) and column.dtype.ordered
    assert column.cat.categories.tolist() == ["1997-01", "1997-02", "1997-03"]
    pd.testing.assert_series_equal(column.value_counts(sort=False).astype(np.int64), monthly_counts,
                                   check_names=False, check_index_type=False, check_categorical=False)
    assert cohorts.columns.tolist() == ["cohort"]
    # the same customers, ids and order as the calibration summary: it joins segments= directly
    pd.testing.assert_index_equal(cohorts.index, cdnow_calibration.index)
    first = log.groupby("customer_id")["date"].min()
    assert (cohorts["cohort"].astype(str) == first.dt.strftime("%Y-%m").reindex(cohorts.index)).all()
    assert cohorts.attrs["freq"] == "M" and cohorts.attrs["report"]["customers"] == 2357
    assert cohorts.attrs["report"]["rows_after_observation_end"] == int((log["date"] >= "1997-10-01").sum())


def test_quarterly_and_yearly_cohorts_of_cdnow(log):
    assert clvmodels.acquisition_cohorts is acquisition_cohorts
    assert clvmodels.plotting.plot_cohorts is plot_cohorts
    quarterly = acquisition_cohorts(log, freq="Q")
    yearly = acquisition_cohorts(log, freq="Y")
    assert quarterly["cohort"].cat.categories.tolist() == ["1997Q1"] and len(quarterly) == 2357
    assert yearly["cohort"].cat.categories.tolist() == ["1997"] and len(yearly) == 2357


def test_cohort_boundaries_order_and_window():
    """Calendar boundaries, dates before 1970, strings read with date_format, rows after the end."""
    log = pd.DataFrame({
        "id": ["a", "a", "b", "c", "d", "e", "f"],
        "day": ["19970401", "19970331", "19961231", "19970101", "19691231", "19971002", "19700101"],
    })
    out = acquisition_cohorts(log, customer_col="id", date_col="day", date_format="%Y%m%d",
                              observation_end="1997-09-30")
    # e's only purchase is after observation_end: not a customer yet; a's first purchase is in March
    assert out.index.tolist() == ["a", "b", "c", "d", "f"] and out.index.name == "id"
    assert out["cohort"].astype(str).tolist() == ["1997-03", "1996-12", "1997-01", "1969-12", "1970-01"]
    assert out["cohort"].cat.categories.tolist() == ["1969-12", "1970-01", "1996-12", "1997-01", "1997-03"]
    assert out.attrs["report"]["rows_after_observation_end"] == 1
    quarters = acquisition_cohorts(log, customer_col="id", date_col="day", date_format="%Y%m%d", freq="Q")
    assert quarters["cohort"].astype(str).to_dict() == {
        "a": "1997Q1", "b": "1996Q4", "c": "1997Q1", "d": "1969Q4", "e": "1997Q4", "f": "1970Q1"}
    assert quarters["cohort"].cat.categories.tolist() == ["1969Q4", "1970Q1", "1996Q4", "1997Q1", "1997Q4"]
    years = acquisition_cohorts(log, customer_col="id", date_col="day", date_format="%Y%m%d", freq="Y")
    assert years["cohort"].astype(str).tolist() == ["1997", "1996", "1997", "1969", "1997", "1970"]
    # the caller's frame is not modified
    assert log["day"].tolist()[0] == "19970401"


def test_forecast_by_cohort_adds_up_draw_by_draw(by_cohort, cohorts, monthly_counts):
    table = by_cohort.summary(by="cohort")
    assert [str(k) for k in table.index] == ["1997-01", "1997-02", "1997-03"]  # time order
    np.testing.assert_array_equal(table["customers"].to_numpy(), monthly_counts.to_numpy())
    # point totals: the sum of each cohort's customers' CLV, by a pandas group-by
    frame = by_cohort.frame.join(cohorts)
    expected = frame.groupby("cohort", observed=True)["clv"].sum()
    np.testing.assert_allclose(table["clv_total"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    # per draw: the cells' totals grouped by cohort (pandas), summing to the whole cohort's draw
    cells = by_cohort.segment_cells
    per_draw = pd.DataFrame(by_cohort.segment_draws["clv"]).T.groupby(cells["cohort"].astype(str).to_numpy()).sum().T
    assert per_draw.columns.tolist() == ["1997-01", "1997-02", "1997-03"]
    np.testing.assert_allclose(per_draw.sum(axis=1), by_cohort.cohort_draws["clv"], rtol=1e-12)
    ci = by_cohort.settings["ci"]
    lower, upper = np.quantile(per_draw.to_numpy(), [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    np.testing.assert_allclose(table["clv_total_lower"], lower, rtol=1e-12)
    np.testing.assert_allclose(table["clv_total_upper"], upper, rtol=1e-12)
    np.testing.assert_allclose(table["clv_mean_lower"], lower / monthly_counts.to_numpy(), rtol=1e-12)
    # the cohort's bounds are of its total, narrower than the sum of its customers' bounds
    assert (table["clv_total_upper"].to_numpy() < frame.groupby("cohort", observed=True)["clv_upper"].sum().to_numpy()).all()
    # crossed with the channel, the cells add up to the cohorts
    both = by_cohort.summary(by=["channel", "cohort"])
    assert len(both) == 6
    np.testing.assert_allclose(both.groupby(level="cohort", observed=True)["clv_total"].sum().to_numpy(),
                               table["clv_total"].to_numpy(), rtol=1e-12)


def _counts_axes(ax):
    return next(other for other in ax.get_shared_x_axes().get_siblings(ax) if other is not ax)


def test_plot_draws_one_point_per_cohort_with_the_table_values(by_cohort, monthly_counts):
    table = by_cohort.summary(by="cohort")
    ax = Figure().subplots()
    assert plot_cohorts(by_cohort, currency="$", ax=ax) is ax
    (container,) = ax.containers
    line = container.lines[0]
    np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(line.get_ydata(), table["clv_mean"], rtol=1e-12)
    segments = container.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1].min() for s in segments], table["clv_mean_lower"], rtol=1e-12)
    np.testing.assert_allclose([s[:, 1].max() for s in segments], table["clv_mean_upper"], rtol=1e-12)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1997-01", "1997-02", "1997-03"]
    counts = _counts_axes(ax)
    np.testing.assert_array_equal([p.get_height() for p in counts.patches], monthly_counts.to_numpy())
    assert counts.yaxis.get_major_formatter()(1500.0, 0) == "1,500"
    assert "CLV" in ax.get_ylabel() and r"\$" in ax.get_ylabel()


def test_plot_shows_net_clv_and_acquisition_cost_when_given(models, cdnow_calibration, cohorts):
    result = forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.15, n_draws=50, random_seed=3,
                      predictive=False, segments=cohorts, cost_per_purchase=5.0, acquisition_cost=20.0)
    table = result.summary(by="cohort")
    ax = plot_cohorts(result, ax=Figure().subplots())
    line = ax.containers[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), table["net_clv_mean"], rtol=1e-12)
    assert (table["net_clv_mean"] < table["clv_mean"]).all()
    assert "net CLV" in ax.get_ylabel()
    cost = next(l for l in ax.lines if l.get_label() == "mean acquisition cost")
    np.testing.assert_allclose(cost.get_ydata(), [20.0, 20.0, 20.0])


def test_bad_input_is_a_clear_error(log, by_cohort, models, cdnow_calibration):
    with pytest.raises(ValueError, match=r"freq='W'.*'M' \(calendar month\)"):
        acquisition_cohorts(log, freq="W")
    with pytest.raises(ValueError, match=r"no column 'customer'.*Did you mean 'customer_id'.*customer_col="):
        acquisition_cohorts(log, customer_col="customer")
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        acquisition_cohorts(log.to_dict())
    with pytest.raises(ValueError, match="empty"):
        acquisition_cohorts(log.iloc[:0])
    bad = log.head(10).astype({"date": object})
    bad.loc[[2, 5], "date"] = "not a date"
    with pytest.raises(ValueError, match=r"(?s)column 'date': 2 rows have a date that cannot be parsed.*invalid='drop'"):
        acquisition_cohorts(bad)
    with pytest.warns(DataWarning, match="Excluded 2 of 10"):
        dropped = acquisition_cohorts(bad, invalid="drop")
    assert dropped.attrs["report"]["rows_used"] == 8
    with pytest.raises(ValueError, match="time-zone aware"):
        acquisition_cohorts(log.assign(date=log["date"].dt.tz_localize("UTC")))
    with pytest.raises(ValueError, match="holds numbers, not dates.*date_format="):
        acquisition_cohorts(log.assign(date=np.arange(len(log))))
    with pytest.raises(ValueError, match="unknown segment column"):
        plot_cohorts(by_cohort, by="region", ax=Figure().subplots())
    with pytest.raises(ValueError, match="one cohort attribute.*plot_segments"):
        plot_cohorts(by_cohort, by=["cohort", "channel"], ax=Figure().subplots())
    plain = forecast(*models, cdnow_calibration, horizon=52, discount_rate=0.15, n_draws=10, random_seed=1, predictive=False)
    with pytest.raises(ValueError, match="no segments"):
        plot_cohorts(plain, ax=Figure().subplots())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        acquisition_cohorts(log, freq="Q")  # valid input: no warning at all
