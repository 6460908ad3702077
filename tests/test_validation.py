"""Holdout validation: table, metrics, predictive interval coverage and PIT calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeo, NotFittedError, evaluate_holdout
from clvmodels.models import beta_geo as bg

from .published import cdnow_summary

TRUTH = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return bg.simulate(TRUTH, rng.uniform(20, 60, 20_000), holdout=39.0, random_seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("use_truth", [False, True])
def test_predictive_distribution_is_calibrated_on_simulated_data(simulated, use_truth):
    model = BetaGeo().fit(simulated)
    report = evaluate_holdout(model, simulated, ci=0.9, params=TRUTH if use_truth else None, random_seed=2)
    # counts are discrete, so a 90% interval covers more than 90% (about 95-97% here)
    assert 0.9 <= report.metrics["coverage"] <= 0.99
    assert report.pit_deciles.between(0.09, 0.11).all(), report.pit_deciles
    assert report.metrics["predicted_total"] == pytest.approx(report.metrics["actual_total"], rel=0.03)
    assert (report.by_frequency["coverage"] >= 0.9).all()


def test_cdnow_report_is_consistent():
    data = cdnow_summary()
    model = BetaGeo().fit(data)
    report = evaluate_holdout(model, data, random_seed=0)
    customers, table, metrics = report.customers, report.by_frequency, report.metrics
    assert metrics["actual_total"] == 1882
    assert metrics["predicted_total"] == pytest.approx(model.expected_purchases(data, 39.0).sum(), rel=1e-12)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"].sum() == 2357 and table.loc["0", "customers"] == 1411
    assert table["actual_total"].sum() == 1882
    assert table["predicted_total"].sum() == pytest.approx(metrics["predicted_total"], rel=1e-12)
    seven_up = customers[customers["frequency"] >= 7]
    assert table.loc["7+", "actual_mean"] == pytest.approx(seven_up["actual"].mean())
    assert metrics["mae"] == pytest.approx((customers["predicted"] - customers["actual"]).abs().mean())
    assert metrics["coverage"] == pytest.approx(customers["inside"].mean())
    assert customers["pit"].between(0, 1).all()
    assert report.pit_deciles.sum() == pytest.approx(1.0)
    again = evaluate_holdout(model, data, random_seed=0)
    pd.testing.assert_frame_equal(again.customers, customers)


def test_intervals_come_from_the_exact_predictive_pmf():
    data = cdnow_summary().iloc[:40]
    model = BetaGeo().fit(cdnow_summary())
    report = evaluate_holdout(model, data, ci=0.8, random_seed=0)
    counts = np.arange(200)[:, None]
    pmf = bg.prob_purchases_conditional(model.params_, counts, 39.0, data["frequency"], data["recency"], data["T"])
    cdf = np.cumsum(pmf, axis=0)
    for j, (_, row) in enumerate(report.customers.iterrows()):
        assert cdf[row["lower"], j] >= 0.1 - 1e-12 and (row["lower"] == 0 or cdf[row["lower"] - 1, j] < 0.1)
        assert cdf[row["upper"], j] >= 0.9 - 1e-12 and (row["upper"] == 0 or cdf[row["upper"] - 1, j] < 0.9)
        y = row["actual"]
        low = cdf[y - 1, j] if y > 0 else 0.0
        assert low <= row["pit"] <= cdf[y, j]


def test_bad_arguments():
    data = cdnow_summary()
    model = BetaGeo().fit(data)
    with pytest.raises(ValueError, match="frequency_holdout"):
        evaluate_holdout(model, data.drop(columns="frequency_holdout"))
    with pytest.raises(ValueError, match="ci"):
        evaluate_holdout(model, data, ci=90)
    with pytest.raises(NotFittedError, match="not fitted"):
        evaluate_holdout(BetaGeo(), data)
