"""clvmodels.spark against the pandas path (the reference), in one local Spark session.

The summaries: ``frequency`` and the holdout counts equal, ``recency``, ``T`` and
``duration_holdout`` bit-identical, ``monetary_value`` to 1e-12 relative, the same ``attrs``
(report included) and the same error and warning texts. The fit on the pattern table collected
from Spark equals the fit on every customer (1e-9); the forecast does not depend on the
partitioning (every column, predictive bounds included). Skipped when pyspark or Java is missing
(both are on CI: ``make test`` installs pyspark with the ``dev`` extra).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'clvmodels[spark]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (java is not on PATH and JAVA_HOME is unset)", allow_module_level=True)

import clvmodels  # noqa: E402
from clvmodels import spark as cs  # noqa: E402
from clvmodels.datasets import load_cdnow_sample  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support:FutureWarning")

EXACT = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
MONEY = ["monetary_value", "monetary_value_holdout"]


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers' Python: this one
    session = (
        SparkSession.builder.master("local[2]")
        .appName("clvmodels-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def outcome(func, *args, **kwargs):
    """The result (or the error's type and text) and the texts of the warnings of one call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(*args, **kwargs)
            if cs.is_spark_dataframe(result):
                attrs = cs.attrs_of(result)
                result = local(result)
                result.attrs = attrs
        except (ValueError, TypeError) as exc:
            result = (type(exc).__name__, str(exc))
    texts = [(w.category.__name__, str(w.message)) for w in caught if w.category.__module__.startswith("clvmodels")]
    return result, texts


def local(frame, key="customer_id"):
    """A Spark summary as pandas, indexed by customer id and sorted as the pandas path sorts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", module="pyspark")  # pyspark's notices about pandas 3
        table = frame.toPandas()
    return table.set_index(key).sort_index()


def assert_same(reference: pd.DataFrame, ours: pd.DataFrame) -> None:
    assert list(ours.columns) == list(reference.columns)
    assert list(ours.index) == list(reference.index)
    for col in reference.columns:
        a, b = reference[col].to_numpy(), ours[col].to_numpy()
        assert a.dtype == b.dtype, col
        if col in EXACT:
            assert np.array_equal(a.view(np.int64) if a.dtype == np.float64 else a,
                                  b.view(np.int64) if b.dtype == np.float64 else b), col  # bit for bit
        else:
            assert col in MONEY
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=0, err_msg=col)
    assert ours.attrs == json.loads(json.dumps(reference.attrs, default=str))


def both(func, frame: pd.DataFrame, source, **kwargs):
    """``func`` through pandas on ``frame`` and through Spark on ``source``: the same outcome."""
    ref, ref_warnings = outcome(func, frame, engine="pandas", **kwargs)
    ours, our_warnings = outcome(func, source, engine="spark", **kwargs)
    assert our_warnings == ref_warnings
    if isinstance(ref, tuple):
        assert ours == ref
    else:
        assert not isinstance(ours, tuple), ours
        assert_same(ref, ours)
    return ref, ref_warnings


def _messy_log() -> list[tuple]:
    """String ids with leading zeros, times of day, same-day merges, duplicates and faults."""
    rows = [
        ("007", "2024-01-01 09:30:00", "10.5"),
        ("007", "2024-01-01 18:00:00", "4.5"),  # same day: merged into 15
        ("007", "2024-01-04 18:00:00", "20"),
        ("007", "2024-01-04 18:00:00", "20"),  # duplicate row
        ("07", "2024-01-02 00:00:00", "5.25"),
        ("07", "2024-01-06 23:59:59", "7.5"),
        ("07", "2024-01-20 12:00:00", "0"),
        ("7", "2024-01-03 08:00:00", "1"),
        ("7", "2024-01-03 20:00:00", "2"),
        ("7", "2024-01-05 12:00:00", "3"),
        ("7", "2024-01-05 12:00:00", "3"),  # duplicate row
        (None, "2024-01-05 12:00:00", "3"),  # missing id
        ("8", "not a date", "3"),  # unparseable
        ("8", None, "3"),  # missing date
        ("8", "2024-01-08 10:00:00", "$3"),  # non-numeric
        ("8", "2024-01-09 10:00:00", "-2"),  # a refund
        ("8", "2024-01-10 10:00:00", None),  # missing amount
        ("9", "2024-01-11 10:00:00", "inf"),  # infinite
        ("9", "2024-01-12 10:00:00", "8"),
        ("9", "2024-02-15 10:00:00", "9"),  # after observation_end
        ("010", "2024-01-13 10:00:00", "1.25"),
    ]
    return rows


@pytest.mark.slow
def test_summary_equal_on_a_messy_text_log(spark):
    rows = _messy_log()
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"], dtype=object)
    source = spark.createDataFrame(rows, "customer_id string, date string, amount string").repartition(3)
    options = dict(amount_col="amount", observation_end="2024-01-31", time_unit="W")
    # the faults raise the same error, then are dropped with the same warning and report
    error, _ = both(clvmodels.rfm_summary, frame, source, **options)
    assert error[0] == "ValueError" and "$3" in error[1]
    ref, texts = both(clvmodels.rfm_summary, frame, source, invalid="drop", duplicates="drop", **options)
    assert ref.loc["007", "frequency"] == 1 and ref.loc["007", "monetary_value"] == 20.0
    assert any("Excluded" in text for _, text in texts)
    both(clvmodels.calibration_holdout_split, frame, source, invalid="drop", calibration_end="2024-01-05", **options)


def test_summary_equal_on_typed_timestamps(spark):
    rows = [(c, datetime.fromisoformat(d), float(a)) for c, d, a in _messy_log()[:11]]
    rows += [("9", datetime(2300, 1, 1, 5, 0), 1.0), ("9", datetime(2024, 1, 9, 23, 0), 2.0)]
    frame = pd.DataFrame({"customer_id": [r[0] for r in rows],
                          "date": pd.Series([r[1] for r in rows], dtype="datetime64[us]"),
                          "amount": [r[2] for r in rows]})
    source = spark.createDataFrame(rows, "customer_id string, date timestamp_ntz, amount double")
    error, _ = both(clvmodels.rfm_summary, frame, source, amount_col="amount", time_unit="D")
    assert "2300-01-01 05:00:00" in error[1]
    both(clvmodels.rfm_summary, frame, source, amount_col="amount", time_unit="h", invalid="drop",
         duplicates="drop", observation_end="2024-01-20 07:00")
    dates = spark.createDataFrame([(r[0], r[1].date()) for r in rows], "customer_id string, date date")
    day_frame = frame.assign(date=frame["date"].dt.floor("D"))[["customer_id", "date"]]
    both(clvmodels.rfm_summary, day_frame, dates, time_unit="D", invalid="drop")


def test_instants_need_a_time_zone(spark):
    when = [datetime(2024, 3, 30, 23, 30), datetime(2024, 3, 31, 22, 30), datetime(2024, 4, 2, 12, 0)]
    utc = pd.DataFrame({"customer_id": [1, 1, 1], "date": pd.Series(when, dtype="datetime64[us]").dt.tz_localize("UTC")})
    source = spark.createDataFrame([(1, w.replace(tzinfo=None)) for w in when], "customer_id long, date timestamp_ntz")
    instants = source.selectExpr("customer_id", "to_utc_timestamp(CAST(date AS TIMESTAMP), 'UTC') AS date")
    with pytest.raises(ValueError, match="time-zone aware.*time_zone="):
        clvmodels.rfm_summary(instants, observation_end="2024-04-05")
    with pytest.raises(ValueError, match="not a time zone name"):
        cs.rfm_summary(instants, observation_end="2024-04-05", time_zone="Mars/Olympus")
    ours = local(cs.rfm_summary(instants, observation_end="2024-04-05", time_zone="Europe/Paris"))
    paris = utc.assign(date=utc["date"].dt.tz_convert("Europe/Paris").dt.tz_localize(None))
    ref = clvmodels.rfm_summary(paris, observation_end="2024-04-05")
    # in Paris the first two purchases fall on Mar 31 and Apr 1 (in UTC: Mar 30 and Mar 31)
    assert ours["frequency"].tolist() == ref["frequency"].tolist() == [2]
    assert ours["recency"].tolist() == ref["recency"].tolist() == [2.0]
    assert ours["T"].tolist() == ref["T"].tolist() == [5.0]


@pytest.fixture(scope="module")
def cdnow(spark):
    log = load_cdnow_sample()[["customer_id", "date", "amount"]]
    source = spark.createDataFrame(log.assign(date=log["date"].astype("datetime64[us]")),
                                   "customer_id long, date timestamp_ntz, amount double").repartition(3)
    split = dict(calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="W", amount_col="amount")
    reference = clvmodels.calibration_holdout_split(log, **split)
    ours = cs.calibration_holdout_split(source, **split)
    return log, source, reference, ours


def test_cdnow_equal(spark, cdnow):
    log, source, reference, ours = cdnow
    table = local(ours)
    table.attrs = cs.attrs_of(ours)
    assert_same(reference, table)
    both(clvmodels.rfm_summary, log, source, amount_col="amount", time_unit="W")


def test_pattern_table_fit_equals_the_full_fit(spark, cdnow):
    _, _, reference, ours = cdnow
    table = clvmodels.pattern_table(ours.repartition(2))  # the attrs travel with the columns
    expected = clvmodels.pattern_table(reference)
    pd.testing.assert_frame_equal(table, expected)
    assert table.attrs == json.loads(json.dumps(expected.attrs, default=str))
    full_tx, full_spend = clvmodels.BetaGeo().fit(reference), clvmodels.GammaGamma().fit(reference)
    tx, spend = cs.fit(clvmodels.BetaGeo(), ours), cs.fit(clvmodels.GammaGamma(), ours)
    np.testing.assert_allclose(tx.params_, full_tx.params_, rtol=1e-9)
    np.testing.assert_allclose(spend.params_, full_spend.params_, rtol=1e-9)
    assert tx.time_unit_ == "W" and tx.n_customers_ == len(reference)


@pytest.mark.slow
def test_forecast_does_not_depend_on_partitions(spark, cdnow):
    _, _, reference, ours = cdnow
    tx, spend = cs.fit(clvmodels.BetaGeo(), ours), cs.fit(clvmodels.GammaGamma(), ours)
    options = dict(horizon=52, discount_rate=0.15, n_draws=40, random_seed=7, ci=0.8)
    one = local(cs.forecast(tx, spend, ours.repartition(1), **options))
    three = local(cs.forecast(tx, spend, ours.repartition(3), rows_per_call=500, **options))
    summary = local(ours)[["frequency", "recency", "T", "monetary_value"]]
    summary.attrs = cs.attrs_of(ours)
    # pandas, all customers at once, on the same interpolation grid (the span of T of the data)
    span = (float(summary["T"].min()), float(summary["T"].max()))
    whole = clvmodels.forecast(tx, spend, summary, T_range=span, **options)
    expected = whole.to_frame()
    assert list(one.columns) == list(expected.columns) == list(three.columns)
    pd.testing.assert_frame_equal(one, three, check_exact=True)  # predictive bounds included
    pd.testing.assert_frame_equal(one, expected, check_exact=True, check_index_type=False, check_names=False)
    cohort = cs.cohort_summary(tx, spend, ours.repartition(3), rows_per_call=500, **options)
    totals = whole.summary()
    pd.testing.assert_frame_equal(cohort, totals, rtol=1e-9, check_names=False)
    assert cohort.attrs["customers"] == len(reference)
    # segment totals: per-draw sums of each partition added up in Spark, the whole's to 1e-9
    early = ours.repartition(3).selectExpr("*", "T > 35 AS early")
    by_segment = cs.totals(tx, spend, early, by="early", rows_per_call=500, **options).summary(by="early")
    expected = clvmodels.forecast(tx, spend, summary.assign(early=summary["T"] > 35), T_range=span, segments="early",
                                  predictive=False, **options).summary(by="early")
    assert by_segment["customers"].tolist() == expected["customers"].tolist() == [1692, 665]
    pd.testing.assert_frame_equal(by_segment, expected, rtol=1e-9, check_index_type=False)


@pytest.mark.slow
def test_covariate_model_fit_and_forecast(spark):
    """A Pareto/NBD with covariates: fitted on the Spark pattern table (covariates included) as on
    every customer, and scored in Spark with each customer's own parameters, as pandas scores."""
    from clvmodels.datasets import load_apparel, load_apparel_covariates

    log = load_apparel()
    log = log[log["date"] <= "2006-12-31"]
    summary = clvmodels.rfm_summary(log, observation_end="2006-12-31", time_unit="W", amount_col="amount")
    apparel = clvmodels.join_attributes(summary, load_apparel_covariates())
    remote = spark.createDataFrame(apparel.reset_index()).repartition(3)
    settings = dict(covariates=["Gender", "Channel"], categorical=["Gender", "Channel"])
    full = clvmodels.ParetoNBD(**settings).fit(apparel)
    ours = cs.fit(clvmodels.ParetoNBD(**settings), remote)
    np.testing.assert_allclose(ours.params_, full.params_, rtol=1e-6)
    assert list(ours.params_.index) == list(full.params_.index)
    spend = clvmodels.GammaGamma().fit(apparel)
    options = dict(horizon=52, discount_rate=0.1, n_draws=40, random_seed=3)
    scored = local(cs.forecast(full, spend, remote, rows_per_call=150, **options))
    span = (float(apparel["T"].min()), float(apparel["T"].max()))
    expected = clvmodels.forecast(full, spend, apparel, T_range=span, **options).to_frame()
    pd.testing.assert_frame_equal(scored.loc[expected.index], expected, check_exact=True, check_names=False)
