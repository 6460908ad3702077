"""Tests of the data layer: rfm_summary, calibration_holdout_split, validate_summary,
compress_patterns.

Expected values come from the published CDNOW summary (Fader, Hardie & Lee 2005), from the
reference implementation ``lifetimes`` 0.11.3, from hand computations written out in the
tests, or from a slow pure-Python reference implemented below; never from clvmodels itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvmodels.data import (
    calibration_holdout_split,
    compress_patterns,
    rfm_summary,
    validate_summary,
)
from clvmodels.datasets import load_cdnow_sample
from clvmodels.exceptions import DataWarning

PUBLISHED = Path(__file__).parent / "data" / "cdnow_customers_summary_with_transactions.csv"
SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]



# --------------------------------------------------------------------------------------------
# every call goes through a wrapper that checks the caller's DataFrame is left untouched
# --------------------------------------------------------------------------------------------


def _leaves_input_unchanged(func):
    @functools.wraps(func)
    def wrapper(frame, *args, **kwargs):
        before = frame.copy(deep=True) if isinstance(frame, pd.DataFrame) else None
        attrs_before = dict(frame.attrs) if isinstance(frame, pd.DataFrame) else None
        try:
            return func(frame, *args, **kwargs)
        finally:
            if before is not None:
                pd.testing.assert_frame_equal(frame, before, check_exact=True)
                assert list(frame.dtypes) == list(before.dtypes)
                assert frame.attrs == attrs_before

    return wrapper


summary = _leaves_input_unchanged(rfm_summary)
split = _leaves_input_unchanged(calibration_holdout_split)
validate = _leaves_input_unchanged(validate_summary)


def bad_rows(column: str, count: int, reason: str) -> str:
    """Regex for the line of a ValueError that names the column and the number of rows."""
    return re.escape(f"column {column!r}: {count:,} rows {reason}")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_sample()


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return pd.read_csv(PUBLISHED).set_index("ID")


# --------------------------------------------------------------------------------------------
# 1. the published CDNOW summary
# --------------------------------------------------------------------------------------------


def _assert_matches_published(ours: pd.DataFrame, published: pd.DataFrame) -> None:
    assert len(ours) == len(published) == 2357
    np.testing.assert_array_equal(ours.index.to_numpy(), published.index.to_numpy())
    np.testing.assert_array_equal(ours["frequency"].to_numpy(), published["x"].to_numpy())
    np.testing.assert_array_equal(ours["recency"].round(2).to_numpy(), published["t_x"].to_numpy())
    np.testing.assert_array_equal(ours["T"].round(2).to_numpy(), published["T"].to_numpy())
    # zbar is published rounded to cents: |ours - zbar| <= half a cent
    gap = np.abs(ours["monetary_value"].to_numpy() - published["zbar"].to_numpy())
    assert gap.max() <= 0.005 + 1e-9
    # headline numbers of Fader, Hardie & Lee (2005)
    assert int((ours["frequency"] > 0).sum()) == 946
    assert int(ours["frequency"].sum()) == 2457
    assert int(ours["frequency"].max()) == 29


def test_cdnow_calibration_split_reproduces_published_summary(cdnow, published):
    s = split(
        cdnow,
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="W",
        amount_col="amount",
    )
    _assert_matches_published(s, published)
    assert s["frequency"].dtype.kind == "i"
    # customer 1: first purchase 1997-01-01, last calibration purchase 1997-08-02
    c1 = cdnow[(cdnow["customer_id"] == 1) & (cdnow["date"] <= "1997-09-30")]
    assert s.loc[1, "frequency"] == 2
    assert s.loc[1, "recency"] == (c1["date"].max() - c1["date"].min()).days / 7
    assert round(s.loc[1, "recency"], 2) == 30.43
    assert s.loc[1, "T"] == 272 / 7
    # 1997-09-30 -> 1998-06-30 is 273 days = 39 weeks
    assert (pd.Timestamp("1998-06-30") - pd.Timestamp("1997-09-30")).days == 273
    np.testing.assert_array_equal(s["duration_holdout"].to_numpy(), np.full(2357, 39.0))
    # holdout counts: distinct purchase days after the calibration period, per customer
    hold = cdnow[cdnow["date"] > "1997-09-30"]
    expected = hold.groupby("customer_id")["date"].nunique().reindex(s.index, fill_value=0)
    np.testing.assert_array_equal(s["frequency_holdout"].to_numpy(), expected.to_numpy())
    report = s.attrs["report"]
    assert report["rows_in"] == report["rows_used"] == len(cdnow) == 6919
    assert report["customers"] == 2357
    assert report["customers_first_seen_in_holdout"] == 0
    assert report["zero_amount_rows"] == int((cdnow["amount"] == 0).sum()) == 8
    assert s.attrs["calibration_end"] == "1997-09-30T00:00:00"
    assert s.attrs["observation_end"] == "1998-06-30T00:00:00"
    assert s.attrs["time_unit"] == "W"


def test_cdnow_rfm_summary_with_later_rows_outside_the_window(cdnow, published):
    # a summary as of a date on a log that runs past it is the normal case: the later rows are
    # outside the window, left out and counted, without a warning and whatever `invalid` is
    n_late = int((cdnow["date"] > pd.Timestamp("1997-09-30")).sum())
    assert n_late > 0
    for invalid in ("raise", "drop"):
        s = summary(cdnow, observation_end="1997-09-30", time_unit="W", amount_col="amount", invalid=invalid)
        _assert_matches_published(s, published)
        report = s.attrs["report"]
        assert report["dropped"] == {"dated after observation_end (1997-09-30): outside the window": n_late}
        assert report["rows_after_observation_end"] == n_late
        assert report["rows_invalid"] == 0 and report["faults"] == {}
        assert report["rows_used"] == len(cdnow) - n_late
        assert report["rows_used"] + sum(report["dropped"].values()) == report["rows_in"] == len(cdnow)
        assert s.attrs["observation_end"] == "1997-09-30T00:00:00"


def test_cdnow_summary_passes_validate_summary(cdnow):
    s = summary(cdnow, time_unit="W", amount_col="amount")
    arrays = validate(s, monetary=True)
    np.testing.assert_array_equal(arrays.frequency, s["frequency"].to_numpy(dtype=float))
    np.testing.assert_array_equal(arrays.recency, s["recency"].to_numpy())
    np.testing.assert_array_equal(arrays.T, s["T"].to_numpy())
    np.testing.assert_array_equal(arrays.monetary_value, s["monetary_value"].to_numpy())
    assert arrays.index.equals(s.index)


# --------------------------------------------------------------------------------------------
# 2. parity with lifetimes 0.11.3
# --------------------------------------------------------------------------------------------


# (lifetimes 0.11.3 itself raises pandas Future/DeprecationWarnings under pandas >= 2)
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("observation_end", [None, "1998-06-30", "1997-12-31"])
@pytest.mark.parametrize(("time_unit", "freq_multiplier"), [("D", 1), ("W", 7)])
def test_rfm_summary_matches_lifetimes(cdnow, observation_end, time_unit, freq_multiplier):
    lifetimes_utils = pytest.importorskip("lifetimes.utils")
    ref = lifetimes_utils.summary_data_from_transaction_data(
        cdnow,
        "customer_id",
        "date",
        monetary_value_col="amount",
        observation_period_end=observation_end,
        freq="D",
        freq_multiplier=freq_multiplier,
    ).sort_index()
    kwargs = dict(observation_end=observation_end, time_unit=time_unit, amount_col="amount")
    ours = summary(cdnow, **kwargs)
    if observation_end == "1997-12-31":  # both leave the later rows out; we count them
        n_late = int((cdnow["date"] > observation_end).sum())
        assert ours.attrs["report"]["rows_after_observation_end"] == n_late > 0
    assert list(ours.columns) == SUMMARY_COLUMNS
    _assert_same_summary(ours, ref)


def _assert_same_summary(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Same customers, identical frequency, other columns to rtol 1e-9."""
    np.testing.assert_array_equal(ours.index.to_numpy(), ref.index.to_numpy())
    np.testing.assert_array_equal(ours["frequency"].to_numpy(), ref["frequency"].to_numpy())
    for col in ["recency", "T", "monetary_value"]:
        np.testing.assert_allclose(ours[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9, atol=0)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_rfm_summary_matches_lifetimes_hourly():
    lifetimes_utils = pytest.importorskip("lifetimes.utils")
    rng = np.random.default_rng(20240101)
    n = 400
    log = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 25, n),
            "date": pd.Timestamp("2024-02-20") + pd.to_timedelta(rng.integers(0, 60 * 24 * 20, n), unit="min"),
            "amount": rng.integers(1, 20_000, n) / 100,
        }
    )
    for freq_multiplier, kwargs in [(1, dict(time_unit="h")), (24, dict(time_unit="D", resolution="h"))]:
        ref = lifetimes_utils.summary_data_from_transaction_data(
            log, "customer_id", "date", monetary_value_col="amount", freq="h",
            freq_multiplier=freq_multiplier,
        ).sort_index()
        ours = summary(log, amount_col="amount", **kwargs)
        assert ours.attrs["resolution"] == "h"
        _assert_same_summary(ours, ref)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(("time_unit", "freq_multiplier"), [("D", 1), ("W", 7)])
def test_calibration_holdout_split_matches_lifetimes(cdnow, time_unit, freq_multiplier):
    lifetimes_utils = pytest.importorskip("lifetimes.utils")
    kw = dict(calibration_period_end="1997-09-30", observation_period_end="1998-06-30", freq="D",
              freq_multiplier=freq_multiplier)
    ours = split(cdnow, calibration_end="1997-09-30", observation_end="1998-06-30",
                 time_unit=time_unit, amount_col="amount")
    ref = lifetimes_utils.calibration_and_holdout_data(
        cdnow, "customer_id", "date", monetary_value_col="amount", **kw
    ).sort_index()
    np.testing.assert_array_equal(ours.index.to_numpy(), ref.index.to_numpy())
    for col in SUMMARY_COLUMNS:
        np.testing.assert_allclose(ours[col].to_numpy(), ref[col + "_cal"].to_numpy(), rtol=1e-9, atol=0)
    np.testing.assert_array_equal(ours["frequency_holdout"].to_numpy(), ref["frequency_holdout"].to_numpy())
    np.testing.assert_allclose(ours["duration_holdout"].to_numpy(), ref["duration_holdout"].to_numpy(),
                               rtol=1e-12, atol=0)
    assert ref["duration_holdout"].iloc[0] == 273 / freq_multiplier

    # lifetimes' monetary_value_holdout is the mean over raw *rows*, whereas ours (like its own
    # calibration monetary_value) is the mean over *transactions* (same-day rows merged).
    # Like with like: merge same-day rows first, after which both conventions agree.
    merged = cdnow.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    ref_merged = lifetimes_utils.calibration_and_holdout_data(
        merged, "customer_id", "date", monetary_value_col="amount", **kw
    ).sort_index()
    np.testing.assert_allclose(ours["monetary_value_holdout"].to_numpy(),
                               ref_merged["monetary_value_holdout"].to_numpy(), rtol=1e-9, atol=0)
    np.testing.assert_array_equal(ours["frequency_holdout"].to_numpy(),
                                  ref_merged["frequency_holdout"].to_numpy())
    # and on the raw log the two agree exactly for the customers with no same-day repeats
    hold = cdnow[cdnow["date"] > "1997-09-30"]
    same_day = hold[hold.duplicated(["customer_id", "date"], keep=False)]["customer_id"].unique()
    assert len(same_day) > 0
    clean = ~ours.index.isin(same_day)
    np.testing.assert_allclose(ours.loc[clean, "monetary_value_holdout"].to_numpy(),
                               ref.loc[clean, "monetary_value_holdout"].to_numpy(), rtol=1e-9, atol=0)


# --------------------------------------------------------------------------------------------
# 3. time units, merging, monetary value (hand-computed)
# --------------------------------------------------------------------------------------------


def _hand_log() -> pd.DataFrame:
    # customer "a": 2024-01-01 09:15 ($10) and 17:40 ($5) merge into one day; 2024-01-15 08:00
    # ($20) and 08:45 ($2) share a day and an hour; 2024-03-01 12:30 ($30).
    # customer "b": one purchase 2024-02-10 23:59 ($7).  2024 is a leap year.
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "a", "a", "a"],
            "date": pd.to_datetime(
                [
                    "2024-01-01 09:15",
                    "2024-01-01 17:40",
                    "2024-02-10 23:59",
                    "2024-01-15 08:00",
                    "2024-01-15 08:45",
                    "2024-03-01 12:30",
                ]
            ),
            "amount": [10.0, 5.0, 7.0, 20.0, 2.0, 30.0],
        }
    )


# by day: a buys on Jan 1, Jan 15, Mar 1; Jan 1 -> Mar 1 = 31 + 29 = 60 days;
# Jan 1 -> Mar 31 = 31 + 29 + 30 = 90 days; b: Feb 10 -> Mar 31 = 19 + 31 = 50 days.
# repeat transactions of a: Jan 15 (20 + 2 = 22) and Mar 1 (30): mean 26; the $15 first day is excluded.
DAY_UNITS = [("D", 1.0), ("days", 1.0), ("W", 7.0), ("weeks", 7.0), ("M", 30.4375), ("months", 30.4375),
             ("Y", 365.25), ("years", 365.25)]


@pytest.mark.parametrize(("time_unit", "days"), DAY_UNITS)
def test_time_units_at_daily_resolution(time_unit, days):
    s = summary(_hand_log(), amount_col="amount", observation_end="2024-03-31", time_unit=time_unit)
    assert list(s.index) == ["a", "b"]
    assert s.index.name == "customer_id"
    assert s["frequency"].tolist() == [2, 0]
    assert s["recency"].tolist() == [60 / days, 0.0]
    assert s["T"].tolist() == [90 / days, 50 / days]
    assert s["monetary_value"].tolist() == [(22.0 + 30.0) / 2, 0.0]
    assert s.attrs["resolution"] == "D"
    assert s.attrs["time_unit"] == {"days": "D", "weeks": "W", "months": "M", "years": "Y"}.get(time_unit, time_unit)
    assert s.attrs["observation_end"] == "2024-03-31T00:00:00"


def test_month_and_year_lengths():
    # a purchase exactly 365.25 * 4 = 1461 days after the first: 4 years, 48 months.
    log = pd.DataFrame({"customer_id": [1, 1], "date": pd.to_datetime(["2020-01-01", "2024-01-01"])})
    assert (pd.Timestamp("2024-01-01") - pd.Timestamp("2020-01-01")).days == 1461
    assert summary(log, time_unit="Y")["recency"].tolist() == [4.0]
    assert summary(log, time_unit="M")["recency"].tolist() == [48.0]
    assert summary(log, time_unit="W")["recency"].tolist() == [1461 / 7]


@pytest.mark.parametrize("time_unit", ["h", "hours", "H"])
def test_hours_at_hourly_resolution(time_unit):
    s = summary(_hand_log(), amount_col="amount", observation_end="2024-03-31", time_unit=time_unit)
    # by clock hour: a buys at Jan 1 09h, Jan 1 17h, Jan 15 08h (20 + 2 merged), Mar 1 12h -> x = 3.
    # recency: Jan 1 09h -> Mar 1 12h = 60 days + 3 h = 1443 h; T: Jan 1 09h -> Mar 31 00h =
    # 90 days - 9 h = 2151 h; b: Feb 10 23h -> Mar 31 00h = 50 days - 23 h = 1177 h.
    assert s.attrs["resolution"] == "h"
    assert s.attrs["time_unit"] == "h"
    assert s["frequency"].tolist() == [3, 0]
    assert s["recency"].tolist() == [1443.0, 0.0]
    assert s["T"].tolist() == [2151.0, 1177.0]
    assert s["monetary_value"].tolist() == [(5.0 + 22.0 + 30.0) / 3, 0.0]


def test_hourly_resolution_measured_in_days():
    s = summary(_hand_log(), amount_col="amount", observation_end="2024-03-31", time_unit="D", resolution="h")
    assert s["frequency"].tolist() == [3, 0]
    assert s["recency"].tolist() == [1443 / 24, 0.0]
    assert s["T"].tolist() == [2151 / 24, 1177 / 24]


def test_observation_end_within_a_day_counts_the_whole_day():
    log = _hand_log()
    at_midnight = summary(log, amount_col="amount", observation_end="2024-03-31")
    evening = summary(log, amount_col="amount", observation_end="2024-03-31 18:30")
    pd.testing.assert_frame_equal(at_midnight, evening)
    # a purchase late on the observation day itself is inside the period
    late = pd.concat([log, pd.DataFrame({"customer_id": ["b"], "date": [pd.Timestamp("2024-03-31 22:00")],
                                         "amount": [4.0]})], ignore_index=True)
    s = summary(late, amount_col="amount", observation_end="2024-03-31")
    assert s.loc["b", "frequency"] == 1
    assert s.loc["b", "recency"] == s.loc["b", "T"] == 50.0
    assert s.loc["b", "monetary_value"] == 4.0


def test_default_observation_end_is_the_last_purchase():
    s = summary(_hand_log())  # last purchase: 2024-03-01
    # a: Jan 1 -> Mar 1 = 60 days; b: Feb 10 -> Mar 1 = 19 + 1 = 20 days
    assert s["T"].tolist() == [60.0, 20.0]
    assert "monetary_value" not in s.columns
    assert s.attrs["observation_end"] == "2024-03-01T00:00:00"


def test_same_day_purchases_merge_and_first_transaction_is_excluded():
    log = pd.DataFrame(
        {
            "customer_id": [7, 7, 7, 7, 7, 8, 8],
            "date": pd.to_datetime(["2024-05-01", "2024-05-01", "2024-05-03", "2024-05-03", "2024-05-03",
                                    "2024-05-02", "2024-05-02"]),
            "amount": [100.0, 1.0, 2.0, 3.0, 4.0, 6.0, 6.0],
        }
    )
    s = summary(log, amount_col="amount")
    # customer 7: two days, the second worth 2 + 3 + 4 = 9; customer 8: one day only
    assert s["frequency"].tolist() == [1, 0]
    assert s["recency"].tolist() == [2.0, 0.0]
    assert s["T"].tolist() == [2.0, 1.0]
    assert s["monetary_value"].tolist() == [9.0, 0.0]


def test_unknown_time_unit_raises():
    with pytest.raises(ValueError, match=re.escape("time_unit='fortnight' is not a known time unit")):
        summary(_hand_log(), time_unit="fortnight")
    with pytest.raises(ValueError, match="resolution='W' is not supported"):
        summary(_hand_log(), resolution="W")


def test_zero_amounts_are_valid_purchases():
    log = _hand_log().assign(amount=[0.0, 5.0, 0.0, 20.0, 2.0, 30.0])
    s = summary(log, amount_col="amount", observation_end="2024-03-31")
    assert s.attrs["report"]["zero_amount_rows"] == 2
    assert s.attrs["report"]["dropped"] == {}
    assert s["frequency"].tolist() == [2, 0]
    assert s["monetary_value"].tolist() == [26.0, 0.0]


def test_repeat_purchases_worth_zero_warn():
    log = _hand_log().assign(amount=[10.0, 5.0, 7.0, 0.0, 0.0, 0.0])
    with pytest.warns(DataWarning, match="1 customers with repeat purchases have a monetary_value of 0"):
        s = summary(log, amount_col="amount")
    assert s.loc["a", "monetary_value"] == 0.0
    with pytest.raises(ValueError, match=re.escape("column 'monetary_value': 1 customers")):
        validate(s, monetary=True)


# --------------------------------------------------------------------------------------------
# 4. bad input
# --------------------------------------------------------------------------------------------


def _log(**columns) -> pd.DataFrame:
    base = {
        "customer_id": [1, 1, 2, 2, 3, 3, 3],
        "date": pd.to_datetime(
            ["2024-01-01", "2024-01-04", "2024-01-02", "2024-01-06", "2024-01-03", "2024-01-03", "2024-01-05"]
        ),
        "amount": [10.0, 20.0, 5.0, 7.5, 1.0, 2.0, 3.0],
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_clean_hand_log_reference_values():
    s = summary(_log(), amount_col="amount")
    # end = 2024-01-06; 1: Jan 1, Jan 4; 2: Jan 2, Jan 6; 3: Jan 3 (1 + 2), Jan 5
    assert s["frequency"].tolist() == [1, 1, 1]
    assert s["recency"].tolist() == [3.0, 4.0, 2.0]
    assert s["T"].tolist() == [5.0, 4.0, 3.0]
    assert s["monetary_value"].tolist() == [20.0, 7.5, 3.0]
    assert s.attrs["report"] == {"rows_in": 7, "rows_used": 7, "rows_dropped": 0, "rows_invalid": 0,
                                 "rows_after_observation_end": 0, "dropped": {}, "faults": {},
                                 "zero_amount_rows": 0, "customers": 3}


def test_missing_column_lists_columns_and_suggests():
    log = _log().rename(columns={"customer_id": "customerid", "amount": "amt"})
    with pytest.raises(ValueError) as info:
        summary(log, amount_col="amount")
    msg = str(info.value)
    assert "no column 'customer_id', 'amount'" in msg
    assert "columns present: 'customerid', 'date', 'amt'" in msg
    assert "Did you mean 'customerid'?" in msg
    assert "customer_col=..." in msg and "amount_col=..." in msg
    # the suggested name works
    pd.testing.assert_frame_equal(
        summary(log, customer_col="customerid", amount_col="amt").rename_axis("customer_id")
        .rename(columns={}),
        summary(_log(), amount_col="amount"),
    )


def test_not_a_dataframe_raises_type_error():
    with pytest.raises(TypeError, match="must be a pandas DataFrame, a path .* got dict"):
        rfm_summary({"customer_id": [1], "date": ["2024-01-01"]})
    with pytest.raises(TypeError, match="must be a pandas DataFrame with engine='pandas', got dict"):
        rfm_summary({"customer_id": [1], "date": ["2024-01-01"]}, engine="pandas")


def test_empty_log():
    with pytest.raises(ValueError, match=re.escape("transactions is empty (0 rows)")):
        summary(_log().iloc[:0], amount_col="amount")


def test_missing_customer_ids():
    log = _log(customer_id=[1, None, 2, 2, None, 3, 3])
    with pytest.raises(ValueError, match=bad_rows("customer_id", 2, "have a missing customer id")):
        summary(log)


def test_missing_dates():
    log = _log(date=pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-06", None, None, "2024-01-05"]))
    with pytest.raises(ValueError, match=bad_rows("date", 3, "have a missing date")):
        summary(log)


def test_all_dates_missing():
    log = _log(date=pd.to_datetime([None] * 7))
    with pytest.raises(ValueError, match="column 'date' has no valid date"):
        summary(log)


def test_unparseable_date_strings():
    dates = ["2024-01-01", "2024-01-04", "garbage", "2024-01-06", "2024-13-45", "2024-01-03", "2024-01-05"]
    with pytest.raises(ValueError, match=bad_rows("date", 2, "have a date that cannot be parsed") + r".*'garbage'"):
        summary(_log(date=dates))


def test_string_dates_parse_like_datetimes():
    dates = ["2024-01-01", "2024-01-04", "2024-01-02", "2024-01-06", "2024-01-03", "2024-01-03", "2024-01-05"]
    pd.testing.assert_frame_equal(summary(_log(date=dates), amount_col="amount"),
                                  summary(_log(), amount_col="amount"))
    compact = [d.replace("-", "") for d in dates]
    pd.testing.assert_frame_equal(summary(_log(date=compact), amount_col="amount", date_format="%Y%m%d"),
                                  summary(_log(), amount_col="amount"))


def test_integer_dates_need_date_format():
    ints = [20240101, 20240104, 20240102, 20240106, 20240103, 20240103, 20240105]
    log = _log(date=ints)
    with pytest.raises(ValueError, match="column 'date' holds numbers, not dates.*date_format='%Y%m%d'"):
        summary(log, amount_col="amount")
    pd.testing.assert_frame_equal(summary(log, amount_col="amount", date_format="%Y%m%d"),
                                  summary(_log(), amount_col="amount"))
    # a missing value in a float column of such dates is counted as a missing date
    with pytest.raises(ValueError, match=bad_rows("date", 1, "have a missing date")):
        summary(_log(date=[20240101, 20240104, np.nan, 20240106, 20240103, 20240103, 20240105]),
                date_format="%Y%m%d")


def test_time_zone_aware_dates():
    aware = _log(date=_log()["date"].dt.tz_localize("Europe/Paris"))
    with pytest.raises(ValueError, match=r"column 'date' is time-zone aware \(Europe/Paris\)"):
        summary(aware)
    offsets = _log(date=[f"2024-01-0{d}T10:00:00+01:00" for d in (1, 4, 2, 6, 3, 3, 5)])
    with pytest.raises(ValueError, match="column 'date' holds time-zone aware"):
        summary(offsets)
    mixed = _log(date=[f"2024-01-0{d}T10:00:00+0{d % 2}:00" for d in (1, 4, 2, 6, 3, 3, 5)])
    with pytest.raises(ValueError, match=r"column 'date' .*(?i:time.?zone)"):
        summary(mixed)
    # the advertised fix works
    naive = _log(date=aware["date"].dt.tz_convert("Europe/Paris").dt.tz_localize(None))
    pd.testing.assert_frame_equal(summary(naive), summary(_log()))


def test_transactions_after_observation_end_are_outside_the_window():
    s = summary(_log(), observation_end="2024-01-03")
    # Jan 4, 5 and 6 are later: customer 1 (Jan 1), 2 (Jan 2), 3 (Jan 3 twice, merged)
    assert s["frequency"].tolist() == [0, 0, 0] and s["T"].tolist() == [2.0, 1.0, 0.0]
    report = s.attrs["report"]
    assert report["rows_after_observation_end"] == 3 and report["rows_used"] == 4
    assert report["dropped"] == {"dated after observation_end (2024-01-03): outside the window": 3}
    with pytest.raises(ValueError, match=re.escape("Every row of transactions (7) is dated after observation_end (2023-12-31)")):
        summary(_log(), observation_end="2023-12-31")


def test_negative_amounts():
    log = _log(amount=[10.0, -20.0, 5.0, 7.5, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=bad_rows("amount", 1, "have a negative amount") + r".*-20\.0"):
        summary(log, amount_col="amount")
    # without amount_col the amounts are not read
    assert summary(log)["frequency"].tolist() == [1, 1, 1]


def test_non_numeric_amounts():
    log = _log(amount=["$12", "20", "5", "1,000", "1", "2", "3"])
    with pytest.raises(ValueError, match=bad_rows("amount", 2, "have a non-numeric amount") + r".*'\$12'"):
        summary(log, amount_col="amount")
    # numeric strings are read as numbers
    ok = _log(amount=["10", "20", "5", "7.5", "1", "2", "3"])
    pd.testing.assert_frame_equal(summary(ok, amount_col="amount"), summary(_log(), amount_col="amount"))


def test_missing_amounts():
    log = _log(amount=[10.0, np.nan, 5.0, 7.5, np.nan, 2.0, 3.0])
    with pytest.raises(ValueError, match=bad_rows("amount", 2, "have a missing amount")):
        summary(log, amount_col="amount")


def test_infinite_amounts():
    log = _log(amount=[10.0, np.inf, 5.0, -np.inf, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=bad_rows("amount", 2, "have an infinite amount")) as info:
        summary(log, amount_col="amount")
    assert "negative" not in str(info.value)  # -inf is counted once, as infinite


def test_boolean_amounts():
    with pytest.raises(ValueError, match="column 'amount' holds booleans"):
        summary(_log(amount=[True] * 7), amount_col="amount")


def test_duplicated_rows():
    log = _log()
    dup = pd.concat([log, log.iloc[[1, 4]]], ignore_index=True)  # 2 exact duplicates
    with pytest.raises(ValueError, match=bad_rows("customer_id", 2, "duplicate an earlier row")):
        summary(dup, amount_col="amount", duplicates="raise")
    for invalid in ("raise", "drop"):
        with pytest.warns(DataWarning, match=r"Excluded 2 of 9 transaction rows: 2 in column 'customer_id' duplicate"):
            s = summary(dup, amount_col="amount", duplicates="drop", invalid=invalid)
        pd.testing.assert_frame_equal(s, summary(log, amount_col="amount"))
        assert s.attrs["report"]["dropped"] == {"duplicate an earlier row in (customer_id, date, amount)": 2}
        assert s.attrs["report"]["rows_used"] == 7
    # keep (the default): the repeated rows are purchases; same-day ones add up
    kept = summary(dup, amount_col="amount")
    assert kept.loc[1, "monetary_value"] == 40.0
    assert kept.loc[3, "monetary_value"] == 3.0  # Jan 3 (1 + 2 + 1) is customer 3's first day
    # values that differ in amount are not duplicates
    assert summary(_log(), amount_col="amount", duplicates="raise").attrs["report"]["dropped"] == {}


def test_bad_policies():
    with pytest.raises(ValueError, match="invalid='ignore'"):
        summary(_log(), invalid="ignore")
    with pytest.raises(ValueError, match="duplicates='yes'"):
        summary(_log(), duplicates="yes")


@pytest.mark.parametrize("end", ["banana", object(), [1, 2]])
def test_observation_end_not_a_date(end):
    with pytest.raises(ValueError, match="observation_end=.* is not a date"):
        summary(_log(), observation_end=end)


def test_observation_end_missing_or_tz_aware():
    with pytest.raises(ValueError, match="observation_end must be a date, got a missing value"):
        summary(_log(), observation_end=pd.NaT)
    for end in [pd.Timestamp("2024-02-01", tz="UTC"), "2024-02-01T00:00:00+01:00"]:
        with pytest.raises(ValueError, match="observation_end=.* is time-zone aware.*'2024-02-01'"):
            summary(_log(), observation_end=end)
    with pytest.raises(ValueError, match="calibration_end=.* is time-zone aware"):
        split(_log(), calibration_end=pd.Timestamp("2024-01-03", tz="UTC"))


def test_several_problems_are_all_counted():
    log = _log(
        customer_id=[1, None, 2, 2, 3, 3, 3],
        date=["2024-01-01", "2024-01-04", "2024-01-02", "not a date", "2024-01-03", "2024-01-03", "2024-01-05"],
        amount=[10.0, 20.0, -5.0, 7.5, -1.0, "$2", 3.0],
    )
    with pytest.raises(ValueError) as info:
        summary(log, amount_col="amount")
    msg = str(info.value)
    assert msg.startswith("Invalid transactions (7 rows)")
    assert "column 'customer_id': 1 rows have a missing customer id" in msg
    assert "column 'date': 1 rows have a date that cannot be parsed" in msg
    assert "column 'amount': 1 rows have a non-numeric amount" in msg
    assert "column 'amount': 2 rows have a negative amount" in msg
    assert "invalid='drop'" in msg

    with pytest.warns(DataWarning) as record:
        s = summary(log, amount_col="amount", invalid="drop")
    (warning,) = record
    text = str(warning.message)
    assert text.startswith("Excluded 5 of 7 transaction rows: ")
    for part in ["1 in column 'customer_id' have a missing customer id",
                 "1 in column 'date' have a date that cannot be parsed",
                 "1 in column 'amount' have a non-numeric amount",
                 "2 in column 'amount' have a negative amount"]:
        assert part in text
    assert warning.filename == __file__  # points at the caller's line
    report = s.attrs["report"]
    assert report["dropped"] == {
        "have a missing customer id": 1,
        "have a date that cannot be parsed": 1,
        "have a non-numeric amount": 1,
        "have a negative amount (returns or refunds)": 2,
    }
    assert report["rows_in"] == 7 and report["rows_used"] == 2
    # what is left: customer 1 on Jan 1 ($10), customer 3 on Jan 5 ($3); end = Jan 5
    assert list(s.index) == [1.0, 3.0]
    assert s["frequency"].tolist() == [0, 0]
    assert s["T"].tolist() == [4.0, 0.0]


def test_every_row_invalid():
    with pytest.raises(ValueError, match="Every row of transactions is invalid"):
        summary(_log(amount=[-1.0] * 7), amount_col="amount", invalid="drop")


def test_dropped_rows_do_not_move_the_default_observation_end():
    log = _log()
    late_bad = pd.DataFrame({"customer_id": [None, 1], "date": pd.to_datetime(["2024-03-01", "2024-02-01"]),
                             "amount": [5.0, -5.0]})
    dirty = pd.concat([log, late_bad], ignore_index=True)
    with pytest.warns(DataWarning, match="Excluded 2 of 9"):
        s = summary(dirty, amount_col="amount", invalid="drop")
    assert s.attrs["observation_end"] == "2024-01-06T00:00:00"
    pd.testing.assert_frame_equal(s, summary(log, amount_col="amount"), check_index_type=False)


# --------------------------------------------------------------------------------------------
# 5. the caller's DataFrame is never modified (on top of the wrapper used everywhere)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "columns, kwargs",
    [
        ({}, {}),
        ({"date": ["2024-01-01", "2024-01-04", "2024-01-02", "2024-01-06", "2024-01-03", "2024-01-03",
                   "2024-01-05"]}, {}),
        ({"date": [20240101, 20240104, 20240102, 20240106, 20240103, 20240103, 20240105]},
         {"date_format": "%Y%m%d"}),
        ({"amount": ["10", "20", "5", "7.5", "1", "2", "3"]}, {}),
        ({"amount": [10, 20, 5, 7, 1, 2, 3]}, {}),
        ({"customer_id": ["x", "x", "y", "y", "z", "z", "z"]}, {}),
        ({"amount": pd.array([10, 20, None, 7, 1, 2, 3], dtype="Int64")}, {"invalid": "drop"}),
        ({"date": ["2024-01-01", "2024-01-04", "bad", "2024-01-06", "2024-01-03", "2024-01-03",
                   "2024-01-05"], "amount": ["10", "20", "$5", "7.5", "1", "2", "3"]}, {"invalid": "drop"}),
    ],
)
def test_input_frame_is_not_modified(columns, kwargs):
    log = _log(**columns)
    log.attrs["source"] = "test"
    before = log.copy(deep=True)
    dtypes = log.dtypes.copy()
    calls = [
        lambda: rfm_summary(log, amount_col="amount", observation_end="2024-01-10", **kwargs),
        lambda: rfm_summary(log, amount_col="amount", time_unit="h", duplicates="drop", **kwargs),
        lambda: calibration_holdout_split(log, calibration_end="2024-01-03", amount_col="amount", **kwargs),
    ]
    for call in calls:
        if kwargs.get("invalid") == "drop":
            with pytest.warns(DataWarning):
                result = call()
        else:
            result = call()
        pd.testing.assert_frame_equal(log, before, check_exact=True)
        pd.testing.assert_series_equal(log.dtypes, dtypes)
        assert log.attrs == {"source": "test"}
        assert "source" not in result.attrs
        result.iloc[0, 0] = 99  # the result does not share memory with the input either
        pd.testing.assert_frame_equal(log, before, check_exact=True)
    with pytest.raises(ValueError):
        rfm_summary(log, amount_col="amount", observation_end="2023-12-31")
    pd.testing.assert_frame_equal(log, before, check_exact=True)


def test_validate_summary_does_not_modify_input():
    data = pd.DataFrame({"frequency": [1, 0], "recency": [2.0 * (1 + 1e-13), 0.0], "T": [2.0, 3.0]})
    before = data.copy(deep=True)
    arrays = validate_summary(data)
    pd.testing.assert_frame_equal(data, before, check_exact=True)
    assert arrays.recency.tolist() == [2.0, 0.0]  # clipped to T in the copy only
    arrays.frequency[0] = 5
    pd.testing.assert_frame_equal(data, before, check_exact=True)


# --------------------------------------------------------------------------------------------
# 6. property tests against a slow pure-Python reference
# --------------------------------------------------------------------------------------------

UNIT_DAYS = {"h": 1 / 24, "D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


def reference_summary(rows, observation_end, time_unit, hourly):
    """One customer at a time, with datetime arithmetic only.

    rows: list of (customer, datetime, amount). Periods are calendar days (or clock hours when
    ``hourly``); purchases in one period merge and their amounts add.
    """

    def period(ts: dt.datetime) -> int:
        day = ts.date().toordinal()
        return day * 24 + ts.hour if hourly else day

    periods_per_unit = UNIT_DAYS[time_unit] * (24 if hourly else 1)
    end = period(observation_end) if observation_end is not None else max(period(ts) for _, ts, _ in rows)
    out = {}
    for customer in sorted({c for c, _, _ in rows}):
        spend: dict[int, float] = {}
        for c, ts, amount in rows:
            if c == customer:
                spend[period(ts)] = spend.get(period(ts), 0.0) + amount
        days = sorted(spend)
        x = len(days) - 1
        out[customer] = {
            "frequency": x,
            "recency": (days[-1] - days[0]) / periods_per_unit,
            "T": (end - days[0]) / periods_per_unit,
            "monetary_value": math.fsum(spend[d] for d in days[1:]) / x if x else 0.0,
        }
    return out


BASES = [dt.datetime(1969, 12, 10), dt.datetime(2024, 2, 15)]  # across the epoch, and a leap day


@st.composite
def transaction_logs(draw, min_rows=1, max_rows=40):
    base = draw(st.sampled_from(BASES))
    n_customers = draw(st.integers(1, 6))
    customers = draw(st.lists(st.integers(0, 10_000), min_size=n_customers, max_size=n_customers, unique=True))
    n = draw(st.integers(min_rows, max_rows))
    rows = []
    for _ in range(n):
        customer = draw(st.sampled_from(customers))
        minutes = draw(st.integers(0, 60 * 24 * 60))  # within 60 days, any minute
        cents = draw(st.integers(1, 500_000))
        rows.append((customer, base + dt.timedelta(minutes=minutes), cents / 100))
    extra = draw(st.one_of(st.none(), st.integers(0, 60 * 24 * 10)))
    last = max(ts for _, ts, _ in rows)
    observation_end = None if extra is None else last + dt.timedelta(minutes=extra)
    return rows, observation_end


def _frame(rows, id_type=int):
    return pd.DataFrame(
        {
            "customer_id": [id_type(c) for c, _, _ in rows],
            "date": pd.to_datetime([ts for _, ts, _ in rows]),
            "amount": [a for _, _, a in rows],
        }
    )


PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(log=transaction_logs(), time_unit=st.sampled_from(["h", "D", "W", "M", "Y"]))
def test_summary_matches_reference_and_invariants(log, time_unit):
    rows, observation_end = log
    frame = _frame(rows)
    s = summary(frame, amount_col="amount", observation_end=observation_end, time_unit=time_unit)
    hourly = time_unit == "h"
    ref = reference_summary(rows, observation_end, time_unit, hourly)

    # reference, every column
    assert list(s.index) == list(ref)
    assert s["frequency"].tolist() == [r["frequency"] for r in ref.values()]
    for col in ["recency", "T", "monetary_value"]:
        np.testing.assert_allclose(s[col].to_numpy(), [r[col] for r in ref.values()], rtol=1e-12, atol=0)

    # invariants
    x, t_x, T, m = (s[c].to_numpy() for c in SUMMARY_COLUMNS)
    assert s["frequency"].dtype.kind == "i"
    assert (x >= 0).all()
    assert ((0 <= t_x) & (t_x <= T)).all()
    assert (t_x[x == 0] == 0).all()
    assert (m[x > 0] > 0).all() and (m[x == 0] == 0).all()
    assert len(s) == frame["customer_id"].nunique()
    periods = frame["date"].dt.floor("h" if hourly else "D")
    assert int((x + 1).sum()) == len(set(zip(frame["customer_id"], periods)))
    assert s.attrs["report"]["rows_used"] == len(rows)
    validate(s, monetary=True)

    # without amounts: the same counts and times
    bare = summary(frame.drop(columns="amount"), observation_end=observation_end, time_unit=time_unit)
    pd.testing.assert_frame_equal(bare, s.drop(columns="monetary_value"))


@PROPERTY_SETTINGS
@given(
    log=transaction_logs(min_rows=2),
    cut=st.floats(0.05, 0.95),
    time_unit=st.sampled_from(["D", "W", "h"]),
)
def test_calibration_holdout_split_matches_reference(log, cut, time_unit):
    rows, observation_end = log
    hourly = time_unit == "h"
    first = min(ts for _, ts, _ in rows)
    last = max(ts for _, ts, _ in rows) if observation_end is None else observation_end
    calibration_end = first + (last - first) * cut
    floor = (lambda t: t.replace(minute=0, second=0, microsecond=0)) if hourly else \
        (lambda t: dt.datetime.combine(t.date(), dt.time()))
    if floor(calibration_end) >= floor(last):
        with pytest.raises(ValueError, match="must be before observation_end"):
            split(_frame(rows), calibration_end=calibration_end, observation_end=observation_end,
                  amount_col="amount", time_unit=time_unit)
        return
    s = split(_frame(rows), calibration_end=calibration_end, observation_end=observation_end,
              amount_col="amount", time_unit=time_unit)
    cal_rows = [r for r in rows if floor(r[1]) <= floor(calibration_end)]
    hold_rows = [r for r in rows if floor(r[1]) > floor(calibration_end)]
    ref = reference_summary(cal_rows, calibration_end, time_unit, hourly)
    assert list(s.index) == list(ref)
    assert s["frequency"].tolist() == [r["frequency"] for r in ref.values()]
    for col in ["recency", "T", "monetary_value"]:
        np.testing.assert_allclose(s[col].to_numpy(), [r[col] for r in ref.values()], rtol=1e-12, atol=0)
    for customer in ref:
        spend: dict[dt.datetime, float] = {}
        for c, ts, amount in hold_rows:
            if c == customer:
                spend[floor(ts)] = spend.get(floor(ts), 0.0) + amount
        assert s.loc[customer, "frequency_holdout"] == len(spend)
        expected_m = math.fsum(spend.values()) / len(spend) if spend else 0.0
        np.testing.assert_allclose(s.loc[customer, "monetary_value_holdout"], expected_m, rtol=1e-12, atol=0)
    end_floor = floor(last)
    hours = (end_floor - floor(calibration_end)) / dt.timedelta(hours=1)
    np.testing.assert_allclose(s["duration_holdout"].to_numpy(), hours / 24 / UNIT_DAYS[time_unit],
                               rtol=1e-12, atol=0)
    new = {c for c, _, _ in hold_rows} - set(ref)
    assert s.attrs["report"]["customers_first_seen_in_holdout"] == len(new)


@PROPERTY_SETTINGS
@given(
    log=transaction_logs(),
    data=st.data(),
    kind=st.sampled_from(["negative amount", "missing id", "unparseable date"]),
)
def test_invalid_rows_are_counted_or_dropped(log, data, kind):
    rows, observation_end = log
    fmt = "%Y-%m-%d %H:%M:%S"
    clean = _frame(rows, id_type=str)
    clean = clean.assign(date=clean["date"].dt.strftime(fmt))
    n = len(clean)
    k = data.draw(st.integers(1, 5), label="k")
    # the bad rows may be dated after every clean row (up to observation_end when given): once
    # dropped they must not move the default observation end either
    first = min(ts for _, ts, _ in rows)
    limit = observation_end or max(ts for _, ts, _ in rows) + dt.timedelta(days=20)
    minutes = int((limit - first) / dt.timedelta(minutes=1))
    bad = pd.DataFrame(
        {
            "customer_id": [str(data.draw(st.integers(0, 10_000), label="id")) for _ in range(k)],
            "date": [(first + dt.timedelta(minutes=data.draw(st.integers(0, minutes), label="at"))).strftime(fmt)
                     for _ in range(k)],
            "amount": [data.draw(st.integers(1, 10_000), label="cents") / 100 for _ in range(k)],
        }
    )
    if kind == "negative amount":
        bad["amount"] = -bad["amount"]
        column, reason = "amount", "have a negative amount"
    elif kind == "missing id":
        bad["customer_id"] = None
        column, reason = "customer_id", "have a missing customer id"
    else:
        bad["date"] = data.draw(st.sampled_from(["not a date", "2024-02-30 10:00:00", "31/12/2024 10:00:00"]))
        column, reason = "date", "have a date that cannot be parsed"
    bad = bad.astype(clean.dtypes.to_dict())
    positions = sorted(data.draw(st.lists(st.integers(0, n), min_size=k, max_size=k), label="positions"))
    parts, start = [], 0
    for i, pos in enumerate(positions):
        parts += [clean.iloc[start:pos], bad.iloc[[i]]]
        start = pos
    parts.append(clean.iloc[start:])
    dirty = pd.concat(parts, ignore_index=True)
    assert len(dirty) == n + k
    kwargs = dict(amount_col="amount", observation_end=observation_end, date_format=fmt)

    with pytest.raises(ValueError, match=bad_rows(column, k, reason)) as info:
        summary(dirty, **kwargs)
    assert str(info.value).count("\n  - column") == 1  # that problem only
    with pytest.warns(DataWarning, match=f"Excluded {k} of {n + k} transaction rows: {k} in column {column!r}"):
        dropped = summary(dirty, invalid="drop", **kwargs)
    pd.testing.assert_frame_equal(dropped, summary(clean, **kwargs))
    assert list(dropped.attrs["report"]["dropped"].values()) == [k]
    assert dropped.attrs["report"]["rows_used"] == n


finite_or_nan = st.one_of(st.sampled_from([0.0, -0.0, 1.5, np.nan]), st.integers(-3, 3).map(float))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 30).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(finite_or_nan, min_size=n, max_size=n),
            st.lists(st.sampled_from([10.0, 20.5]), min_size=n, max_size=n),
        )
    ),
    st.integers(1, 3),
)
def test_compress_patterns_properties(cols, n_columns):
    arrays = [np.array(c, dtype=np.int64 if i == 0 else np.float64) for i, c in enumerate(cols)][:n_columns]
    n = len(arrays[0])
    uniques, weights, inverse = compress_patterns(*arrays)
    assert len(uniques) == n_columns
    assert inverse.dtype == np.int64 and inverse.shape == (n,)
    assert weights.dtype == np.float64
    assert weights.sum() == n
    for u, a in zip(uniques, arrays):
        assert u.dtype == a.dtype
        assert len(u) == len(weights)
        np.testing.assert_array_equal(u[inverse], a)  # NaN == NaN here

    def key(row):
        return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in row)

    counts = Counter(key(row) for row in zip(*(a.tolist() for a in arrays)))
    patterns = [key(row) for row in zip(*(u.tolist() for u in uniques))]
    assert len(set(patterns)) == len(patterns) == len(counts)
    assert [counts[p] for p in patterns] == weights.tolist()
    # first-seen order
    first_seen = list(dict.fromkeys(key(row) for row in zip(*(a.tolist() for a in arrays))))
    assert patterns == first_seen


def test_compress_patterns_example():
    (x, t), w, inv = compress_patterns(np.array([0, 1, 0, 1]), np.array([0.0, 2.0, 0.0, 3.0]))
    assert x.tolist() == [0, 1, 1] and t.tolist() == [0.0, 2.0, 3.0]
    assert w.tolist() == [2.0, 1.0, 1.0] and inv.tolist() == [0, 1, 0, 2]


def test_compress_patterns_nan_is_its_own_value():
    # a NaN must not collide with another pattern
    (x, y), w, inv = compress_patterns(np.array([0, 1]), np.array([5.0, np.nan]))
    assert x.tolist() == [0, 1] and w.tolist() == [1.0, 1.0] and inv.tolist() == [0, 1]
    assert y[0] == 5.0 and np.isnan(y[1])


# --------------------------------------------------------------------------------------------
# 7. calibration / holdout split
# --------------------------------------------------------------------------------------------


def _split_log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 1, 2, 2, 3, 3, 4],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-08", "2024-01-20", "2024-01-25", "2024-01-25", "2024-01-10",
                 "2024-01-15 21:00", "2024-01-16", "2024-01-30", "2024-01-22"],
                format="ISO8601",
            ),
            "amount": [10.0, 20.0, 30.0, 4.0, 6.0, 50.0, 60.0, 70.0, 80.0, 90.0],
        }
    )


def test_calibration_holdout_split_by_hand():
    s = split(_split_log(), calibration_end="2024-01-15", observation_end="2024-01-31", amount_col="amount")
    # calibration ends 2024-01-15 (the whole day): customers 1 and 2 only
    assert list(s.index) == [1, 2]
    assert s["frequency"].tolist() == [1, 1]          # 1: Jan 1, Jan 8; 2: Jan 10, Jan 15 21:00
    assert s["recency"].tolist() == [7.0, 5.0]
    assert s["T"].tolist() == [14.0, 5.0]
    assert s["monetary_value"].tolist() == [20.0, 60.0]
    assert s["frequency_holdout"].tolist() == [2, 0]  # 1: Jan 20 and Jan 25 (4 + 6 merged)
    assert s["monetary_value_holdout"].tolist() == [(30.0 + 10.0) / 2, 0.0]
    assert s["duration_holdout"].tolist() == [16.0, 16.0]
    report = s.attrs["report"]
    assert report["customers_first_seen_in_holdout"] == 2  # 3 (two purchases) and 4
    assert report["customers"] == 2
    assert report["rows_used"] == 10
    assert s.attrs["calibration_end"] == "2024-01-15T00:00:00"
    assert s.attrs["observation_end"] == "2024-01-31T00:00:00"

    weeks = split(_split_log(), calibration_end="2024-01-15", observation_end="2024-01-31", time_unit="weeks")
    assert "monetary_value_holdout" not in weeks.columns
    assert weeks["T"].tolist() == [2.0, 5 / 7]
    assert weeks["duration_holdout"].tolist() == [16 / 7, 16 / 7]


def test_calibration_holdout_split_default_observation_end():
    s = split(_split_log(), calibration_end="2024-01-15")
    assert s.attrs["observation_end"] == "2024-01-30T00:00:00"  # last purchase
    assert s["duration_holdout"].tolist() == [15.0, 15.0]


def test_calibration_end_must_be_before_observation_end():
    for cal, end in [("2024-01-31", "2024-01-31"), ("2024-02-05", "2024-01-31"), ("2024-01-31 20:00", "2024-01-31")]:
        with pytest.raises(ValueError, match=r"calibration_end \(.*\) must be before observation_end"):
            split(_split_log(), calibration_end=cal, observation_end=end)
    with pytest.raises(ValueError, match=r"must be before observation_end \(the last purchase\)"):
        split(_split_log(), calibration_end="2024-01-30")
    with pytest.raises(ValueError, match="no purchase is dated on or before calibration_end"):
        split(_split_log(), calibration_end="2023-12-31", observation_end="2024-01-31")
    with pytest.raises(ValueError, match="calibration_end='soon' is not a date"):
        split(_split_log(), calibration_end="soon")


def test_calibration_holdout_split_rows_after_observation_end():
    # only customer 3's 2024-01-30 row is later; the two 2024-01-25 rows are inside its day
    s = split(_split_log(), calibration_end="2024-01-15", observation_end="2024-01-25")
    assert s.attrs["report"]["rows_after_observation_end"] == 1
    assert s["frequency_holdout"].tolist() == [2, 0]
    assert s["duration_holdout"].tolist() == [10.0, 10.0]
    assert s.attrs["report"]["customers_first_seen_in_holdout"] == 2  # 3 (Jan 16) and 4 (Jan 22)


# --------------------------------------------------------------------------------------------
# 8. validate_summary
# --------------------------------------------------------------------------------------------


def _good_summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": [0, 1, 3, 2],
            "recency": [0.0, 2.5, 10.0, 4.0],
            "T": [5.0, 3.0, 12.0, 4.0],
            "monetary_value": [0.0, 10.0, 2.5, 7.0],
        },
        index=pd.Index([10, 11, 12, 13], name="customer_id"),
    )


def test_validate_summary_accepts_good_data():
    data = _good_summary()
    arrays = validate(data, monetary=True)
    assert arrays.index.equals(data.index)
    assert arrays.frequency.tolist() == [0.0, 1.0, 3.0, 2.0]
    assert arrays.recency.tolist() == [0.0, 2.5, 10.0, 4.0]
    assert arrays.T.tolist() == [5.0, 3.0, 12.0, 4.0]
    assert arrays.monetary_value.tolist() == [0.0, 10.0, 2.5, 7.0]
    assert validate(data).monetary_value is None
    # monetary_value is only required with monetary=True
    assert validate(data.drop(columns="monetary_value")).frequency.tolist() == [0.0, 1.0, 3.0, 2.0]


@pytest.mark.parametrize(
    "column, values, message",
    [
        ("frequency", [-1, 1, -3, 2], "column 'frequency': 2 rows are negative or not whole numbers"),
        ("frequency", [0, 1.5, 3, 2.25], "column 'frequency': 2 rows are negative or not whole numbers"),
        ("recency", [0.0, 3.5, 10.0, 4.0], "column 'recency': 1 rows exceed T"),
        ("recency", [1.0, 2.5, 10.0, 4.0], "column 'recency': 1 rows are positive while frequency is 0"),
        ("recency", [0.0, -2.5, -1.0, 4.0], "column 'recency': 2 rows are negative"),
        ("T", [-5.0, 3.0, 12.0, 4.0], "column 'T': 1 rows are negative"),
        ("T", [5.0, np.nan, 12.0, np.nan], "column 'T': 2 rows are missing or infinite"),
        ("recency", [0.0, np.inf, 10.0, 4.0], "column 'recency': 1 rows are missing or infinite"),
        ("frequency", ["0", "1", "3", "2"], "column 'frequency' must be numeric, got dtype"),
        ("monetary_value", [0.0, 0.0, -2.5, 7.0],
         "column 'monetary_value': 2 customers with repeat purchases have a zero or negative monetary value"),
        ("monetary_value", [0.0, 10.0, np.nan, 7.0], "column 'monetary_value': 1 rows are missing or infinite"),
    ],
)
def test_validate_summary_errors(column, values, message):
    data = _good_summary()
    data[column] = values
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(data, monetary=True)


def test_validate_summary_monetary_only_checked_when_asked():
    data = _good_summary().assign(monetary_value=[0.0, 0.0, -2.5, 7.0])
    assert validate(data).monetary_value is None
    # a zero monetary value is fine when frequency is 0
    assert validate(_good_summary(), monetary=True).monetary_value[0] == 0.0


def test_validate_summary_missing_column_and_empty():
    with pytest.raises(ValueError, match=r"customers has no column 'T' \(columns present: 'frequency', 'recency', 'monetary_value'\)"):
        validate(_good_summary().drop(columns="T"), what="customers")
    with pytest.raises(ValueError, match="data has no column 'monetary_value'"):
        validate(_good_summary().drop(columns="monetary_value"), monetary=True)
    with pytest.raises(ValueError, match=r"no column 'frequency' .*Did you mean 'frequncy'\?"):
        validate(_good_summary().rename(columns={"frequency": "frequncy"}))
    with pytest.raises(ValueError, match=re.escape("data is empty (0 customers)")):
        validate(_good_summary().iloc[:0])
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        validate_summary(_good_summary().to_dict())


def test_validate_summary_boolean_column_is_not_numeric():
    data = _good_summary().assign(frequency=[False, True, True, True])
    with pytest.raises(ValueError, match="column 'frequency' must be numeric, got dtype bool"):
        validate(data)


# --------------------------------------------------------------------------------------------
# numbers where dates are expected
# --------------------------------------------------------------------------------------------


def test_fractional_numeric_dates_are_refused():
    log = pd.DataFrame({"customer_id": [1, 1], "date": [20240101.5, 20240105.0], "amount": [1.0, 2.0]})
    with pytest.raises(ValueError, match="column 'date' holds numbers with a fractional part"):
        summary(log, date_format="%Y%m%d")


@pytest.mark.parametrize("end", [20240110, 20240110.0, np.int64(20240110)])
def test_numeric_observation_end_is_refused(end):
    log = pd.DataFrame({"customer_id": [1, 1], "date": pd.to_datetime(["2024-01-01", "2024-01-05"])})
    with pytest.raises(ValueError, match="observation_end=.* is a number, not a date"):
        summary(log, observation_end=end)


def test_zero_amount_rows_counts_kept_rows_only():
    log = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, None],
            "date": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-03"]),
            "amount": [0.0, 3.0, 5.0, 0.0],
        }
    )
    with pytest.warns(DataWarning, match="1 in column 'customer_id'"):
        result = summary(log, amount_col="amount", invalid="drop")
    assert result.attrs["report"]["zero_amount_rows"] == 1


# --------------------------------------------------------------------------------------------
# 10. regressions of issue 15 (silent wrong answers and hostile input)
# --------------------------------------------------------------------------------------------


def test_rows_with_two_faults_are_counted_once():
    # rows 1 and 2 have a missing id and a negative amount: 2 rows dropped, not 4
    log = _log(customer_id=[1, None, None, 2, 3, 3, 3], amount=[10.0, -20.0, -5.0, 7.5, 1.0, 2.0, 3.0])
    with pytest.warns(DataWarning) as record:
        s = summary(log, amount_col="amount", invalid="drop")
    (warning,) = record
    text = str(warning.message)
    assert text.startswith("Excluded 2 of 7 transaction rows: 2 in column 'customer_id' have a missing customer id; "
                           "2 in column 'amount' have a negative amount (returns or refunds) (2 rows have more than "
                           "one fault and are counted once). 5 rows used.")
    report = s.attrs["report"]
    assert report["dropped"] == {"have a missing customer id": 2}  # each row once, under its first fault
    assert report["faults"] == {"have a missing customer id": 2, "have a negative amount (returns or refunds)": 2}
    assert report["rows_used"] == 5 and report["rows_dropped"] == 2 == report["rows_invalid"]
    assert report["rows_used"] + sum(report["dropped"].values()) == report["rows_in"] == 7


def test_invalid_and_later_rows_add_up():
    log = _log(customer_id=[1, 1, None, 2, 3, 3, 3], date=["2024-01-01", "2024-01-04", "2024-01-02", "2024-01-06",
                                                           "2024-01-03", "2024-01-03", "2024-01-05"])
    with pytest.warns(DataWarning, match=re.escape(
            "Excluded 1 of 7 transaction rows: 1 in column 'customer_id' have a missing customer id. 3 rows used, "
            "3 dated after observation_end are outside the window.")):
        s = summary(log, observation_end="2024-01-03", invalid="drop")
    report = s.attrs["report"]
    assert (report["rows_used"], report["rows_invalid"], report["rows_after_observation_end"]) == (3, 1, 3)
    assert report["rows_used"] + sum(report["dropped"].values()) == report["rows_in"]


def test_rows_far_after_observation_end_warn():
    log = _log(date=["2024-01-01", "2024-01-04", "2024-01-02", "2026-01-06", "2024-01-03", "2024-01-03", "2024-01-05"])
    with pytest.warns(DataWarning, match=re.escape(
            "1 rows are dated more than a year after observation_end (2024-01-05), the latest 2026-01-06 00:00:00")):
        s = summary(log, observation_end="2024-01-05")
    assert s.attrs["report"]["rows_after_observation_end"] == 1
    summary(log.iloc[[0, 1, 2, 4, 5, 6]], observation_end="2024-01-03")  # a few days later: no warning


@pytest.mark.parametrize("typed", [False, True])
def test_dates_outside_the_nanosecond_range_are_refused_not_wrapped(typed):
    dates = ["2024-01-01", "2024-01-04", "2300-01-02", "2024-01-06", "1500-03-01", "2024-01-03", "2024-01-05"]
    log = _log(date=pd.to_datetime(dates).astype("datetime64[us]") if typed else dates)
    first = "2300-01-02 00:00:00" if typed else "2300-01-02"
    with pytest.raises(ValueError, match=re.escape(
            f"column 'date': 2 rows have a date outside the supported range (1677-09-22 to 2262-04-10) "
            f"(first: {first!r}); correct the year")):
        summary(log)
    with pytest.warns(DataWarning, match="Excluded 2 of 7"):
        s = summary(log, invalid="drop")
    # neither wrapped to 1715 nor to 2084: the observation end is the last real purchase
    assert s.attrs["observation_end"] == "2024-01-06T00:00:00"
    assert s["T"].max() == 5.0


@pytest.mark.parametrize("end", ["2300-01-01", "1500-01-01", pd.Timestamp("2300-01-01")])
def test_observation_end_outside_the_range_is_refused(end):
    with pytest.raises(ValueError, match=re.escape(f"observation_end={end!r} is outside the supported range of dates")):
        summary(_log(), observation_end=end)
    with pytest.raises(ValueError, match=re.escape(f"calibration_end={end!r} is outside the supported range")):
        split(_log(), calibration_end=end)


def test_two_digit_years_across_the_pivot_are_flagged():
    log = _log(date=["12/30/68", "01/05/69", "01/02/24", "01/06/24", "01/03/24", "01/03/24", "01/05/24"])
    with pytest.warns(DataWarning, match=re.escape(
            "1 customers have purchases more than 50 years apart (first: customer 1, from 1969-01-05 to 2068-12-30)")):
        summary(log, date_format="%m/%d/%y")


def test_overflowing_amounts_are_refused():
    log = _log(amount=[10.0, 20.0, 5.0, 7.5, 1e308, 1e308, 3.0])  # customer 3: 2e308 on Jan 3
    with pytest.raises(ValueError, match=re.escape(
            "column 'amount': the amounts of 1 customers add up to more than the largest floating-point "
            "number (first: customer 3)")):
        summary(log, amount_col="amount")
    late = _log(amount=[10.0, 20.0, 5.0, 7.5, 1.0, 1e308, 1e308], date=["2024-01-01", "2024-01-04", "2024-01-02",
                "2024-01-06", "2024-01-03", "2024-01-05", "2024-01-05"])
    with pytest.raises(ValueError, match=re.escape("floating-point number in the holdout period (first: customer 3)")):
        split(late, calibration_end="2024-01-03", amount_col="amount")


def test_messages_name_python_arguments_and_never_advise_the_same_function():
    with pytest.raises(ValueError, match=re.escape("pass date_format= (for example date_format='%Y%m%d')")):
        summary(_log(date=[20240101] * 7))
    with pytest.raises(ValueError, match=re.escape("move calibration_end= later")) as info:
        split(_log(), calibration_end="2023-06-01")
    messages = [str(info.value)]
    for kwargs in ({"calibration_end": "2024-01-10"}, {"calibration_end": "2024-01-03", "observation_end": "2024-01-02"}):
        with pytest.raises(ValueError) as info:
            split(_log(), **kwargs)
        messages.append(str(info.value))
    assert not any("calibration_holdout_split" in m for m in messages)
