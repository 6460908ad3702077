"""Subscription logs -> per-subscriber summaries and cohort survivor tables.

Renewal counts are checked on hand-built logs (month ends, leap years, January 31 starts,
same-day cancellations, cancellations on a renewal date) and against a slow reference that walks
each subscription's renewal dates one by one with pandas' ``DateOffset`` (which clips to the end
of shorter months, as documented) in a plain Python loop; cohort survivor tables are checked
against a reference that decides, subscriber by subscriber and period by period, whether each
status is observed at ``observation_end``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels.exceptions import DataWarning
from clvmodels.subscriptions import cohort_survivors, subscription_summary


def _log(rows, **extra) -> pd.DataFrame:
    """A log from (customer, start, end) tuples; end None is an active subscription."""
    ids, starts, ends = zip(*rows)
    frame = pd.DataFrame({"customer_id": list(ids), "start": pd.to_datetime(list(starts)),
                          "end": pd.to_datetime(list(ends))})
    for name, values in extra.items():
        frame[name] = values
    return frame


def _renewals(rows, period="M", observation_end="2030-01-01"):
    summary = subscription_summary(_log(rows), period=period, observation_end=observation_end)
    return summary["renewals"].tolist(), summary["churned"].tolist()


# --------------------------------------------------------------------------------------------
# renewals on hand-built logs
# --------------------------------------------------------------------------------------------


def test_monthly_renewals_from_january_31_clip_to_month_ends():
    rows = [
        ("a", "2019-01-31", "2019-02-27"),  # before the first renewal date (Feb 28)
        ("b", "2019-01-31", "2019-02-28"),  # cancelled on it: not a renewal
        ("c", "2019-01-31", "2019-03-01"),  # renewed on Feb 28
        ("d", "2019-01-31", "2019-03-31"),  # Mar 31 is the 2nd renewal date (not Mar 28): 1
        ("e", "2019-01-31", "2019-04-01"),  # Feb 28, Mar 31: 2
        ("f", "2019-01-31", "2019-05-01"),  # Feb 28, Mar 31, Apr 30: 3
        ("g", "2020-01-31", "2020-02-29"),  # leap year: the renewal date is Feb 29, cancelled on it
        ("h", "2020-01-31", "2020-03-01"),  # renewed on Feb 29
        ("i", "2019-01-31", "2020-01-31"),  # 12th renewal date is Jan 31 2020: 11
        ("j", "2019-01-31", "2020-02-01"),  # 12
    ]
    assert _renewals(rows) == ([0, 0, 1, 1, 2, 3, 0, 1, 11, 12], [True] * 10)


def test_month_end_starts_other_than_the_31st():
    rows = [
        ("a", "2019-01-30", "2019-03-30"),  # Feb 28, then Mar 30 (cancelled on it): 1
        ("b", "2019-01-30", "2019-03-31"),  # 2
        ("c", "2019-02-28", "2019-03-29"),  # Mar 28: 1 (a Feb 28 start renews on the 28th)
        ("d", "2019-04-30", "2019-05-31"),  # May 30: 1
        ("e", "2019-12-31", "2020-03-01"),  # Jan 31, Feb 29: 2
    ]
    assert _renewals(rows)[0] == [1, 2, 1, 1, 2]


def test_yearly_renewals_from_february_29():
    rows = [
        ("a", "2020-02-29", "2021-02-28"),  # renewal date Feb 28 2021, cancelled on it
        ("b", "2020-02-29", "2021-03-01"),  # 1
        ("c", "2020-02-29", "2024-02-29"),  # Feb 28 2021, 2022, 2023; Feb 29 2024 is the day: 3
        ("d", "2020-02-29", "2024-03-01"),  # 4
        ("e", "2019-03-01", "2020-03-01"),  # cancelled on the anniversary: 0
    ]
    assert _renewals(rows, period="Y") == ([0, 1, 3, 4, 0], [True] * 5)


def test_quarterly_weekly_and_daily_renewals():
    q = [("a", "2019-11-30", "2020-02-29"), ("b", "2019-11-30", "2020-03-01"), ("c", "2019-08-31", "2020-03-01")]
    assert _renewals(q, period="Q")[0] == [0, 1, 2]  # Feb 29 2020; Nov 30, Feb 29
    w = [("a", "2024-01-01", "2024-01-08"), ("b", "2024-01-01", "2024-01-09"), ("c", "2024-01-01", "2024-01-29")]
    assert _renewals(w, period="W")[0] == [0, 1, 3]
    d = [("a", "2024-01-01", "2024-01-02"), ("b", "2024-01-01", "2024-01-03"), ("c", "2024-02-28", "2024-03-01")]
    assert _renewals(d, period="D")[0] == [0, 1, 1]


def test_same_day_cancellation_is_one_period_and_time_of_day_is_ignored():
    rows = [("a", "2024-03-05 09:00", "2024-03-05 17:00"), ("b", "2024-03-05 23:00", "2024-04-05 01:00"),
            ("c", "2024-03-05 01:00", "2024-04-06 00:30")]
    renewals, churned = _renewals(rows)
    assert renewals == [0, 0, 1] and churned == [True, True, True]
    summary = subscription_summary(_log(rows), observation_end="2024-12-31")
    assert summary.loc["b", "start"] == pd.Timestamp("2024-03-05 23:00")  # as given
    assert summary.loc["b", "end"] == pd.Timestamp("2024-04-05 01:00")


ROWS_AT_THE_END = [
    ("a", "2024-01-15", None),  # active
    ("b", "2024-01-15", "2024-06-20"),  # ends after observation_end: active at it
    ("c", "2024-01-15", "2024-05-15"),  # ends on observation_end, a renewal date: churned, not renewed
    ("d", "2024-01-16", None),  # May 16 is after observation_end
    ("e", "2024-01-20", "2024-05-10"),  # cancelled after its last renewal date (Apr 20): month not over
    ("f", "2024-05-01", "2024-05-03"),  # cancelled in its first month, not over
    ("g", "2024-01-20", "2024-04-20"),  # cancelled on its last renewal date: churned
]


def test_subscribers_are_right_censored_at_their_last_renewal_date():
    summary = subscription_summary(_log(ROWS_AT_THE_END), observation_end="2024-05-15")
    # an active subscriber has survived the renewal date on observation_end itself
    assert summary["renewals"].tolist() == [4, 4, 3, 3, 3, 0, 2]
    assert summary["churned"].tolist() == [False, False, True, False, False, False, True]
    assert summary["cancelled"].tolist() == [False, False, True, False, True, True, True]
    assert summary.loc["a", "end"] is pd.NaT
    assert summary.loc["b", "end"] == pd.Timestamp("2024-06-20")  # as given, after the end: censored
    report = summary.attrs["report"]
    assert (report["churned"], report["censored"], report["cancelled"]) == (2, 5, 4)
    assert (report["cancelled_after_last_renewal"], report["ends_after_observation_end"]) == (2, 1)
    assert summary.attrs["observation_end"] == "2024-05-15" and summary.attrs["observation_end_source"] == "given"
    assert summary.attrs["censoring"] == "last_renewal"


def test_censoring_at_observation_end_counts_every_cancellation():
    summary = subscription_summary(_log(ROWS_AT_THE_END), observation_end="2024-05-15", censoring="observation_end")
    assert summary["renewals"].tolist() == [4, 4, 3, 3, 3, 0, 2]
    assert summary["churned"].tolist() == summary["cancelled"].tolist() == [False, False, True, False, True, True, True]
    assert summary.attrs["report"]["cancelled_after_last_renewal"] == 0


def test_default_observation_end_is_the_latest_date_in_the_log():
    rows = [("a", "2024-01-15", "2024-03-02"), ("b", "2024-02-01", None), ("c", "2024-02-20", None)]
    summary = subscription_summary(_log(rows))
    assert summary.attrs["observation_end"] == "2024-03-02"
    assert "latest" in summary.attrs["observation_end_source"]
    assert summary["renewals"].tolist() == [1, 1, 0]
    # a's cancellation on Mar 2 is after its last renewal date (Feb 15), within a month not over
    assert summary["churned"].tolist() == [False, False, False]
    assert summary["cancelled"].tolist() == [True, False, False]


def test_columns_types_cohort_labels_and_price():
    rows = [("x", "2019-03-05", None), ("y", "2019-12-30", "2020-01-02"), ("z", "2021-01-03", None)]
    log = _log(rows, price=[9.99, 0.0, 12.0])
    labels = {
        "M": ["2019-03", "2019-12", "2021-01"],
        "Q": ["2019Q1", "2019Q4", "2021Q1"],
        "Y": ["2019", "2019", "2021"],
        "W": ["2019-W10", "2020-W01", "2020-W53"],  # ISO weeks: Dec 30 2019 is in 2020's first week
        "D": ["2019-03-05", "2019-12-30", "2021-01-03"],
    }
    for period, expected in labels.items():
        s = subscription_summary(log, period=period, price_col="price", observation_end="2021-06-30")
        assert s["cohort"].astype(str).tolist() == expected
        assert s["cohort"].cat.ordered and list(s["cohort"].cat.categories) == sorted(set(expected))
        assert s.attrs["time_unit"] == period
    assert list(s.columns) == ["cohort", "renewals", "churned", "cancelled", "start", "end", "price"]
    assert s["renewals"].dtype == np.int64 and s["churned"].dtype == bool
    assert s["price"].tolist() == [9.99, 0.0, 12.0]
    assert s.index.name == "customer_id" and s.index.tolist() == ["x", "y", "z"]


def test_input_is_not_modified():
    log = _log([("b", "2024-01-31", None), ("a", "2024-01-15", "2024-02-20"), ("a", "2024-02-10", None)],
               price=[5.0, 3.0, 4.0])
    log["start"] = log["start"].dt.strftime("%Y-%m-%d")  # strings are parsed, not converted in place
    before = log.copy(deep=True)
    subscription_summary(log, price_col="price", observation_end="2024-06-30")
    pd.testing.assert_frame_equal(log, before)
    summary = subscription_summary(log, price_col="price", observation_end="2024-06-30")
    summary2 = summary.copy()
    cohort_survivors(summary)
    pd.testing.assert_frame_equal(summary, summary2)


# --------------------------------------------------------------------------------------------
# several spells of one customer
# --------------------------------------------------------------------------------------------


def test_overlapping_and_contiguous_spells_are_merged():
    log = _log([
        ("a", "2024-01-10", "2024-03-10"), ("a", "2024-03-10", "2024-05-20"),  # plan change on the day
        ("b", "2024-01-10", "2024-02-15"), ("b", "2024-02-16", None),  # next day: contiguous
        ("c", "2024-01-10", None), ("c", "2024-03-01", "2024-04-01"),  # inside an open spell
        ("d", "2024-01-10", "2024-04-01"), ("d", "2024-01-10", "2024-04-01"),  # duplicate row
        ("e", "2024-02-01", "2024-06-01"), ("e", "2024-01-05", "2024-03-01"),  # unsorted, overlapping
    ], price=[10.0, 12.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.0, 4.0, 3.0])
    s = subscription_summary(log, price_col="price", observation_end="2024-06-30")
    assert s["start"].dt.strftime("%m-%d").tolist() == ["01-10", "01-10", "01-10", "01-10", "01-05"]
    assert s["end"].dt.strftime("%m-%d").fillna("open").tolist() == ["05-20", "open", "open", "04-01", "06-01"]
    assert s["renewals"].tolist() == [4, 5, 5, 2, 4]
    assert s["churned"].tolist() == [True, False, False, True, True]
    assert s["price"].tolist() == [12.0, 6.0, 8.0, 9.0, 4.0]  # of the spell that started last
    report = s.attrs["report"]
    assert report["rows_merged"] == 5 and report["rows_used"] == 10 and report["later_spells"] == 0


def test_a_customer_returning_after_a_gap_keeps_the_first_subscription():
    log = _log([("a", "2024-01-10", "2024-02-15"), ("a", "2024-03-01", None), ("a", "2024-05-01", None),
                ("b", "2024-01-10", None)])
    with pytest.warns(DataWarning, match=r"1 customers came back after a gap \(2 rows .*first: customer 'a'"):
        s = subscription_summary(log, observation_end="2024-06-30")
    assert s.loc["a", "renewals"] == 1 and s.loc["a", "churned"]
    assert s.loc["a", "end"] == pd.Timestamp("2024-02-15")
    report = s.attrs["report"]
    assert (report["later_spells"], report["customers_returning"], report["rows_used"], report["rows_dropped"]) == (2, 1, 2, 2)
    with pytest.raises(ValueError, match=r"column 'start': 1 customers came back after a gap \(2 rows.*first: "
                                         r"customer 'a', start 2024-03-01.*returns='first'.*customer_col"):
        subscription_summary(log, observation_end="2024-06-30", returns="error")


# --------------------------------------------------------------------------------------------
# against a slow reference: a plain loop over renewal dates
# --------------------------------------------------------------------------------------------

_OFFSETS = {"M": pd.DateOffset(months=1), "Q": pd.DateOffset(months=3), "Y": pd.DateOffset(years=1),
            "W": pd.DateOffset(days=7), "D": pd.DateOffset(days=1)}


def _renewal_date(start: pd.Timestamp, k: int, period: str) -> pd.Timestamp:
    """The k-th renewal date, from the start date (never from the previous, clipped one)."""
    return start + _OFFSETS[period] * k if period in ("W", "D") else start + pd.DateOffset(
        months=k * {"M": 1, "Q": 3, "Y": 12}[period])


def _reference_label(start: pd.Timestamp, period: str) -> str:
    if period == "M":
        return f"{start.year:04d}-{start.month:02d}"
    if period == "Q":
        return f"{start.year:04d}Q{(start.month - 1) // 3 + 1}"
    if period == "Y":
        return f"{start.year:04d}"
    if period == "W":
        iso = start.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    return start.date().isoformat()


def _random_log(rng: np.random.Generator, n: int, period: str) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Starts over 3 years with many month ends and Feb 29s; ends missing, on renewal dates, or random."""
    base = pd.Timestamp("2019-01-01")
    span = {"M": 1100, "Q": 1100, "Y": 2000, "W": 300, "D": 40}[period]
    starts, ends = [], []
    for _ in range(n):
        if rng.random() < 0.4:  # a month end or a Feb 29
            month = base + pd.DateOffset(months=int(rng.integers(0, span // 30 + 1)))
            start = month + pd.offsets.MonthEnd(0) - pd.Timedelta(days=int(rng.integers(0, 3)))
            if rng.random() < 0.2:
                start = pd.Timestamp(f"{int(rng.choice([2020, 2024]))}-02-29")
        else:
            start = base + pd.Timedelta(days=int(rng.integers(0, span)))
        u = rng.random()
        if u < 0.25:
            end = pd.NaT
        elif u < 0.35:  # kept for the end of observation, filled in below
            end = None
        elif u < 0.55:  # exactly on a renewal date, or the day after
            end = _renewal_date(start, int(rng.integers(0, 30)), period) + pd.Timedelta(days=int(rng.integers(0, 2)))
        else:
            end = start + pd.Timedelta(days=int(rng.integers(0, span)))
        starts.append(start)
        ends.append(end)
    obs = base + pd.Timedelta(days=int(rng.integers(span // 2, span + span // 4)))
    # ends shortly before, on or after the observation end (within the period not yet over)
    ends = [max(start, obs + pd.Timedelta(days=int(rng.integers(-35, 3)))) if end is None else end
            for start, end in zip(starts, ends)]
    starts = pd.to_datetime(starts)
    keep = starts <= obs
    log = pd.DataFrame({"customer_id": np.arange(n)[keep], "start": starts[keep], "end": pd.to_datetime(ends)[keep]})
    return log, obs


def _observed_until(start: pd.Timestamp, obs: pd.Timestamp, period: str, censoring: str) -> tuple[int, pd.Timestamp]:
    """The renewal dates on or before ``obs`` and the time observation stops."""
    k = 0
    while _renewal_date(start, k + 1, period) <= obs:
        k += 1
    return k, (_renewal_date(start, k, period) if censoring == "last_renewal" else obs)


def _churned(start, end, obs, period, censoring) -> bool:
    seen, until = _observed_until(start, obs, period, censoring)
    observed = censoring == "observation_end" or seen >= 1
    return end is not pd.NaT and end <= obs and observed and end <= until


def _reference_summary(log: pd.DataFrame, obs: pd.Timestamp, period: str, censoring: str) -> pd.DataFrame:
    rows = {}
    for cid, start, end in zip(log["customer_id"], log["start"], log["end"]):
        churned = _churned(start, end, obs, period, censoring)
        renewals, k = 0, 1
        while True:
            date = _renewal_date(start, k, period)
            survived = (end > date) if churned else (date <= obs)
            if not survived:
                break
            renewals, k = k, k + 1
        rows[cid] = (_reference_label(start, period), renewals, churned, end is not pd.NaT and end <= obs)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["cohort", "renewals", "churned", "cancelled"])


def _reference_survivors(log: pd.DataFrame, obs: pd.Timestamp, period: str, censoring: str) -> dict[str, list]:
    """Per cohort, the count at the start of each period, or None once a status is unknown."""
    out: dict[str, list] = {}
    members: dict[str, list] = {}
    last = 0
    for start, end in zip(log["start"], log["end"]):
        churned = _churned(start, end, obs, period, censoring)
        members.setdefault(_reference_label(start, period), []).append((start, end, churned))
        last = max(last, _observed_until(start, obs, period, censoring)[0])
    for label, subs in members.items():
        counts = []
        for j in range(0, last + 3):  # beyond, every status is as at last + 2: unknown or churned
            alive, unknown = 0, False
            for start, end, churned in subs:
                date = _renewal_date(start, j, period)
                if churned and end <= date and j > 0:
                    continue  # churned before period j: known, not active
                if date <= obs:
                    alive += 1  # still active on its j-th renewal date, observed
                else:
                    unknown = True
            counts.append(None if unknown else alive)
        out[label] = counts
    return out


@pytest.mark.parametrize("period, seed, censoring", [
    ("M", 1, "last_renewal"), ("M", 2, "observation_end"), ("Q", 3, "last_renewal"), ("Y", 4, "last_renewal"),
    ("W", 5, "last_renewal"), ("D", 6, "observation_end"),
])
def test_summary_and_survivors_match_a_loop_over_renewal_dates(period, seed, censoring):
    rng = np.random.default_rng(seed)
    log, obs = _random_log(rng, 300, period)
    summary = subscription_summary(log, period=period, observation_end=obs, censoring=censoring)
    expected = _reference_summary(log, obs, period, censoring)
    assert summary.index.tolist() == sorted(expected.index)
    for col in ("renewals", "churned", "cancelled"):
        assert summary[col].tolist() == expected.loc[summary.index, col].tolist(), col
    if censoring == "last_renewal":  # cancellations in an unfinished period were exercised
        assert (summary["cancelled"] & ~summary["churned"]).any()
    assert summary["cohort"].astype(str).tolist() == expected.loc[summary.index, "cohort"].tolist()
    assert summary["churned"].any() and not summary["churned"].all()

    table = cohort_survivors(summary)
    reference = _reference_survivors(log, obs, period, censoring)
    assert [str(c) for c in table.index] == sorted(reference)  # these labels sort chronologically
    periods = [c for c in table.columns if c != "size"]
    some_missing = False
    for label, row in table.iterrows():
        want = reference[str(label)]
        got = [None if pd.isna(row[j]) else int(row[j]) for j in periods]
        assert got == want[: len(periods)], label
        assert row["size"] == want[0] == row[0]
        # the table stops at the last period observed in some cohort: beyond it a count is unknown or 0
        assert all(v is None or v == 0 for v in want[len(periods):]), label
        some_missing |= any(v is None for v in got)
    assert some_missing  # censoring was exercised: recent cohorts have missing later periods
    # the last column is observed in at least one cohort
    assert table[periods[-1]].notna().any()


def test_survivors_handle_censoring_and_max_periods():
    summary = pd.DataFrame({
        "cohort": pd.Categorical(["2024-01"] * 4 + ["2024-03"] * 3 + ["2024-02"] * 2,
                                 categories=["2024-01", "2024-02", "2024-03"], ordered=True),
        "renewals": [0, 1, 5, 5, 0, 1, 2, 3, 7],
        "churned": [True, True, False, True, True, False, True, True, True],
    })
    table = cohort_survivors(summary)
    assert table.index.tolist() == ["2024-01", "2024-02", "2024-03"]
    assert table["size"].tolist() == [4, 2, 3]
    assert list(table.columns) == ["size", *range(9)]  # all-churned 2024-02 is known to period 8
    as_lists = table.drop(columns="size").astype(object).where(table.drop(columns="size").notna(), None)
    assert as_lists.loc["2024-01"].tolist() == [4, 3, 2, 2, 2, 2, None, None, None]
    assert as_lists.loc["2024-02"].tolist() == [2, 2, 2, 2, 1, 1, 1, 1, 0]
    assert as_lists.loc["2024-03"].tolist() == [3, 2, None, None, None, None, None, None, None]
    assert all(str(table[c].dtype) == "Int64" for c in range(9))
    short = cohort_survivors(summary, max_periods=2)
    assert list(short.columns) == ["size", 0, 1, 2]
    pd.testing.assert_frame_equal(short, table[["size", 0, 1, 2]])


def test_survivors_of_a_summary_keep_its_attrs():
    log = _log([("a", "2024-01-10", None), ("b", "2024-01-20", "2024-02-01")])
    summary = subscription_summary(log, observation_end="2024-03-31", period="M")
    table = cohort_survivors(summary)
    assert table.attrs == {"time_unit": "M", "observation_end": "2024-03-31"}
    assert table.loc["2024-01"].tolist() == [2, 2, 1, 1]


# --------------------------------------------------------------------------------------------
# bad input: each message names the column, the count, the first customer and the fix
# --------------------------------------------------------------------------------------------


GOOD = [("a", "2024-01-10", None), ("b", "2024-01-20", "2024-02-01"), ("c", "2024-02-05", None)]


def test_missing_columns_suggest_a_name_and_the_config_key():
    log = _log(GOOD).rename(columns={"start": "start_date"})
    with pytest.raises(ValueError, match=r"no column 'start' for start_col.*Did you mean 'start_date'\?.*"
                                         r"start_col='\.\.\.'.*\[input\] start_col"):
        subscription_summary(log)
    with pytest.raises(ValueError, match=r"no column 'cost' for price_col.*\[input\] price_col"):
        subscription_summary(_log(GOOD), price_col="cost")
    with pytest.raises(ValueError, match=r"no column 'cust' for customer_col.*Did you mean 'customer_id'"):
        subscription_summary(_log(GOOD), customer_col="cust")
    with pytest.raises(TypeError, match="pandas DataFrame"):
        subscription_summary([1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        subscription_summary(_log(GOOD).iloc[:0])


def test_bad_options():
    with pytest.raises(ValueError, match=r"period='fortnight'.*'M' \(calendar month\).*\[model\] period"):
        subscription_summary(_log(GOOD), period="fortnight")
    with pytest.raises(ValueError, match="returns='last'"):
        subscription_summary(_log(GOOD), returns="last")
    with pytest.raises(ValueError, match="invalid='ignore'"):
        subscription_summary(_log(GOOD), invalid="ignore")
    with pytest.raises(ValueError, match="censoring='end'; use 'last_renewal'"):
        subscription_summary(_log(GOOD), censoring="end")
    assert subscription_summary(_log(GOOD), period="monthly").attrs["time_unit"] == "M"


@pytest.mark.filterwarnings("ignore:Could not infer format")  # pandas, on a column of 'yesterday'
def test_unparseable_and_missing_dates():
    log = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "start": ["2024-01-10", "soon", "2024-02-30", None],
                        "end": [None, None, "yesterday", None]})
    with pytest.raises(ValueError) as error:
        subscription_summary(log)
    text = str(error.value)
    assert "Invalid subscriptions (4 rows)" in text
    assert "column 'start': 2 rows have a date that cannot be parsed (first: customer 'b', start 'soon'); pass date_format=" in text
    assert "column 'start': 1 rows have a missing date (first: customer 'd'); every subscription needs a start date" in text
    assert "column 'end': 1 rows have a date that cannot be parsed (first: customer 'c', end 'yesterday')" in text
    assert "invalid='drop'" in text
    with pytest.warns(DataWarning, match=r"Left out 3 of 4 subscription rows"):
        s = subscription_summary(log, invalid="drop")
    assert s.index.tolist() == ["a"] and s.attrs["report"]["rows_dropped"] == 3
    assert sum(s.attrs["report"]["dropped"].values()) == 3
    with pytest.raises(ValueError, match=r"Every row of the subscription log is invalid"):
        subscription_summary(log.iloc[1:], invalid="drop")


def test_end_before_start():
    log = _log(GOOD + [("z", "2024-03-01", "2024-02-01")])
    with pytest.raises(ValueError, match=r"column 'end': 1 rows end before they start \(a cancellation dated before "
                                         r"the start\) \(first: customer 'z', start 2024-03-01 00:00:00, end "
                                         r"2024-02-01 00:00:00\); correct those dates, or check that 'start' and 'end' "
                                         r"are not swapped"):
        subscription_summary(log)


def test_starts_after_observation_end_are_outside_the_window():
    log = _log(GOOD + [("late", "2024-04-10", None)])
    s = subscription_summary(log, observation_end="2024-03-31")
    assert "late" not in s.index and s.attrs["report"]["rows_dropped"] == 1
    assert list(s.attrs["report"]["dropped"]) == ["starting after observation_end (2024-03-31): outside the window"]
    with pytest.warns(DataWarning, match=r"1 subscriptions start more than a year after observation_end.*wrong year"):
        subscription_summary(_log(GOOD + [("typo", "2034-04-10", None)]), observation_end="2024-03-31")
    with pytest.raises(ValueError, match=r"every subscription in the log \(3 valid rows\) starts after "
                                         r"observation_end \(2023-12-31\); move observation_end later"):
        subscription_summary(_log(GOOD), observation_end="2023-12-31")


def test_prices():
    log = _log(GOOD, price=[5.0, -1.0, np.nan])
    with pytest.raises(ValueError) as error:
        subscription_summary(log, price_col="price")
    text = str(error.value)
    assert "column 'price': 1 rows have a negative price (first: customer 'b', price -1.0); a price per billing period is 0 or more" in text
    assert "column 'price': 1 rows have a missing price (first: customer 'c'); fill them" in text
    with pytest.raises(ValueError, match=r"column 'price': 1 rows have a price that is not a number \(first: "
                                         r"customer 'b', price '\$5'\)"):
        subscription_summary(_log(GOOD, price=["4", "$5", "6"]), price_col="price")


def test_time_zones_and_numbers_are_refused_as_in_rfm_summary():
    log = _log(GOOD)
    log["start"] = log["start"].dt.tz_localize("Europe/Paris")
    with pytest.raises(ValueError, match=r"column 'start' is time-zone aware \(Europe/Paris\).*tz_localize\(None\)"):
        subscription_summary(log)
    with pytest.raises(ValueError, match=r"observation_end='2024-03-01 00:00\+01:00' is time-zone aware"):
        subscription_summary(_log(GOOD), observation_end="2024-03-01 00:00+01:00")
    numbers = pd.DataFrame({"customer_id": [1, 2], "start": [20240110, 20240120], "end": [np.nan, 20240201]})
    with pytest.raises(ValueError, match=r"column 'start' holds numbers.*date_format="):
        subscription_summary(numbers)
    s = subscription_summary(numbers, date_format="%Y%m%d", observation_end="2024-03-31")
    assert s["renewals"].tolist() == [2, 0] and s["churned"].tolist() == [False, True]


def test_missing_customer_ids():
    log = _log(GOOD)
    log.loc[1, "customer_id"] = None
    with pytest.raises(ValueError, match=r"column 'customer_id': 1 rows have a missing customer id \(first: row 1\)"):
        subscription_summary(log)


def test_survivors_bad_input():
    ok = pd.DataFrame({"cohort": ["x", "x"], "renewals": [0, 1], "churned": [True, False]})
    with pytest.raises(ValueError, match=r"summary has no column 'renewals'.*Did you mean 'renewal'\?"):
        cohort_survivors(ok.rename(columns={"renewals": "renewal"}))
    with pytest.raises(ValueError, match=r"column 'renewals': 1 rows are missing, negative or not whole numbers \(first: subscriber 1\)"):
        cohort_survivors(ok.assign(renewals=[0, 1.5]))
    with pytest.raises(ValueError, match=r"column 'renewals': 1 rows are missing"):
        cohort_survivors(ok.assign(renewals=[np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"column 'churned' must be boolean.*got dtype"):
        cohort_survivors(ok.assign(churned=["yes", "no"]))
    assert cohort_survivors(ok.assign(churned=[1, 0])).equals(cohort_survivors(ok))
    with pytest.raises(ValueError, match=r"column 'cohort': 1 rows are missing"):
        cohort_survivors(ok.assign(cohort=["x", None]))
    with pytest.raises(ValueError, match=r"max_periods=-1"):
        cohort_survivors(ok, max_periods=-1)
    with pytest.raises(ValueError, match="empty"):
        cohort_survivors(ok.iloc[:0])
    with pytest.raises(TypeError, match="DataFrame"):
        cohort_survivors(ok.to_numpy())


def test_public_names():
    assert clvmodels.subscription_summary is subscription_summary
    assert clvmodels.cohort_survivors is cohort_survivors
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        subscription_summary(_log(GOOD))


def test_calendar_arithmetic_matches_numpy_over_the_supported_range():
    from clvmodels.subscriptions import _days_in_month, _first_day, _month_and_day

    days = np.arange(np.datetime64("1677-09-22", "D").astype(np.int64), np.datetime64("2262-04-11", "D").astype(np.int64))
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    month, day = _month_and_day(days)
    assert np.array_equal(month, months.astype(np.int64))
    assert np.array_equal(day, days - months.astype("datetime64[D]").astype(np.int64) + 1)
    distinct = np.unique(months)
    assert np.array_equal(_first_day(distinct.astype(np.int64)), distinct.astype("datetime64[D]").astype(np.int64))
    lengths = ((distinct + 1).astype("datetime64[D]") - distinct.astype("datetime64[D]")).astype(np.int64)
    assert np.array_equal(_days_in_month(distinct.astype(np.int64)), lengths)
    assert _days_in_month(np.array([(1900 - 1970) * 12 + 1, (2000 - 1970) * 12 + 1])).tolist() == [28, 29]


def test_one_row_per_customer_and_the_merging_path_agree():
    log, obs = _random_log(np.random.default_rng(7), 200, "M")
    fast = subscription_summary(log, observation_end=obs)  # unique ids: no sort, no merge
    doubled = subscription_summary(pd.concat([log, log.iloc[::-1]]), observation_end=obs)  # every row twice
    pd.testing.assert_frame_equal(fast, doubled)
    assert doubled.attrs["report"]["rows_merged"] == len(log) and fast.attrs["report"]["rows_merged"] == 0


# --------------------------------------------------------------------------------------------
# the sBG model fitted on the summary of a simulated log recovers the truth
# --------------------------------------------------------------------------------------------

TRUTH = {"alpha": 0.704, "beta": 1.182}  # Fader & Hardie (2007), the regular cohort


def _simulated_log(n: int, seed: int) -> tuple[pd.DataFrame, str]:
    """Monthly subscribers starting over 36 months with sBG lifetimes; each cancellation on a
    uniform day after the last renewal date paid, up to the next; unknown after the end
    (:func:`clvmodels.datasets.simulate_subscription_log`, whose renewal dates come from numpy's
    own month arithmetic, not from the summary's)."""
    from clvmodels.datasets import simulate_subscription_log

    log = simulate_subscription_log(n, TRUTH["alpha"], TRUTH["beta"], first_start="2021-01-01", observation_end="2023-12-31",
                                    random_seed=seed)
    return log.drop(columns="price"), "2023-12-31"


def _errors_in_se(summary: pd.DataFrame) -> np.ndarray:
    from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo

    model = ShiftedBetaGeo().fit(summary)
    table = model.summary()
    return ((table["estimate"] - pd.Series(TRUTH)) / table["std_error"]).to_numpy()


def test_sbg_fit_on_a_simulated_log_recovers_the_truth():
    log, obs = _simulated_log(20_000, seed=20261130)
    summary = subscription_summary(log, observation_end=obs)
    assert summary["cancelled"].sum() > summary["churned"].sum()  # some cancellations are censored
    assert np.all(np.abs(_errors_in_se(summary)) < 4)


def test_censoring_at_observation_end_is_biased_and_the_default_is_not():
    log, obs = _simulated_log(1_000_000, seed=7)
    assert np.all(np.abs(_errors_in_se(subscription_summary(log, observation_end=obs))) < 4)
    biased = _errors_in_se(subscription_summary(log, observation_end=obs, censoring="observation_end"))
    assert biased[0] > 4  # alpha about seven standard errors too high


def test_cohort_tables_of_a_simulated_log_fit_without_bias():
    from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo, survivors_to_patterns

    log, obs = _simulated_log(20_000, seed=3)
    table = cohort_survivors(subscription_summary(log, observation_end=obs))
    assert table[0].equals(table["size"].astype("Int64").rename(0))
    observed = [row.dropna().to_numpy(dtype=np.int64) for _, row in table.drop(columns="size").iterrows()]
    assert min(len(counts) for counts in observed) == 1 and max(len(counts) for counts in observed) == 36
    # a cohort observed at period 0 only says nothing (S(0) = 1)
    patterns = pd.concat([survivors_to_patterns(counts) for counts in observed if len(counts) > 1], ignore_index=True)
    model = ShiftedBetaGeo().fit(patterns, sample_weight="weight")
    errors = ((model.summary()["estimate"] - pd.Series(TRUTH)) / model.summary()["std_error"]).to_numpy()
    assert np.all(np.abs(errors) < 4)


REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]  # Fader & Hardie (2007), table 1, years 0-7


def test_the_papers_regular_cohort_as_a_log():
    """1,000 subscribers starting on 2000-03-15, yearly; those lost in year t cancel during it;
    observed on the 7th anniversary. Survivors and the fit are the paper's (alpha, beta = 0.704, 1.182)."""
    from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo

    lost = -np.diff(REGULAR)
    ends = []
    for year, count in enumerate(lost, start=1):  # cancelled in year `year`: its last day or before
        ends += [pd.Timestamp("2000-03-15") + pd.DateOffset(years=year) - pd.Timedelta(days=int(d % 300))
                 for d in range(count)]
    ends += [pd.NaT] * REGULAR[-1]
    log = pd.DataFrame({"customer_id": range(1000), "start": pd.Timestamp("2000-03-15"), "end": ends})
    summary = subscription_summary(log, period="Y", observation_end="2007-03-15")
    assert summary["cohort"].astype(str).unique().tolist() == ["2000"]
    table = cohort_survivors(summary)
    assert table.drop(columns="size").loc["2000"].tolist() == REGULAR
    model = ShiftedBetaGeo().fit(summary)
    assert model.params_.round(3).tolist() == [0.704, 1.182]


# --------------------------------------------------------------------------------------------
# invariants on arbitrary small logs (hypothesis)
# --------------------------------------------------------------------------------------------

_spell = st.tuples(st.sampled_from("abcd"), st.integers(0, 1200), st.one_of(st.none(), st.integers(0, 500)))


@settings(max_examples=60, deadline=None)
@given(spells=st.lists(_spell, min_size=1, max_size=12), obs=st.integers(0, 1300), period=st.sampled_from(list("MQYWD")),
       seed=st.integers(0, 2**16))
def test_invariants_of_arbitrary_logs(spells, obs, period, seed):
    base = pd.Timestamp("2019-12-31")
    log = pd.DataFrame({
        "customer_id": [c for c, _, _ in spells],
        "start": [base + pd.Timedelta(days=s) for _, s, _ in spells],
        "end": [pd.NaT if d is None else base + pd.Timedelta(days=s + d) for _, s, d in spells],
    })
    end = base + pd.Timedelta(days=obs)
    if (log["start"] > end).all():
        with pytest.raises(ValueError, match="starts after observation_end"):
            subscription_summary(log, period=period, observation_end=end)
        return
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        summary = subscription_summary(log, period=period, observation_end=end)
        shuffled = subscription_summary(log.sample(frac=1.0, random_state=seed), period=period, observation_end=end)
    pd.testing.assert_frame_equal(summary, shuffled)  # the order of the rows does not matter
    report = summary.attrs["report"]
    assert report["rows_used"] + report["rows_dropped"] == report["rows_in"] == len(log)
    assert report["rows_used"] == report["rows_merged"] + len(summary)
    assert sum(report["dropped"].values()) == report["rows_dropped"]
    in_window = log[log["start"] <= end]
    assert summary.index.tolist() == sorted(in_window["customer_id"].unique())
    assert summary["start"].tolist() == in_window.groupby("customer_id")["start"].min().tolist()
    assert not (summary["churned"] & ~summary["cancelled"]).any()
    for cid, row in summary.iterrows():
        n = int(row["renewals"])
        if row["churned"]:  # cancelled after renewal date n (the start day itself for n = 0), up to date n + 1
            assert _renewal_date(row["start"], n, period) < row["end"] or n == 0
            assert row["end"] <= _renewal_date(row["start"], n + 1, period)
        else:  # censored: every renewal date on or before the end of observation survived
            assert _renewal_date(row["start"], n, period) <= end < _renewal_date(row["start"], n + 1, period)
