"""The summary in discrete occasions (BG/BB): clvmodels.discrete_summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import discrete_summary
from clvmodels.occasions import occasion_end_dates, occasion_of_days


def _reference(log: pd.DataFrame, occasion: str, end: pd.Timestamp, cal: pd.Timestamp | None = None) -> pd.DataFrame:
    """A plain loop over customers: the occasions with a transaction, counted from the first."""
    def number(ts: pd.Timestamp) -> int:
        if occasion == "Y":
            return ts.year
        if occasion == "M":
            return ts.year * 12 + ts.month - 1
        if occasion == "W":
            return (ts - pd.Timestamp("1970-01-05")).days // 7
        return (ts - pd.Timestamp(0)).days

    cut = end if cal is None else cal
    rows = {}
    for customer, group in log.groupby("customer_id"):
        occasions = sorted({number(ts) for ts in group["date"] if ts <= cut})
        if not occasions:
            continue
        first = occasions[0]
        row = {"frequency": len(occasions) - 1, "recency": occasions[-1] - first, "n_periods": number(cut) - first}
        if cal is not None:
            row["frequency_holdout"] = len({number(ts) for ts in group["date"] if cal < ts <= end})
            row["duration_holdout"] = number(end) - number(cal)
        rows[customer] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "customer_id"
    return frame


def _random_log(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    customers = rng.integers(0, n, 4 * n)
    days = rng.integers(0, 6 * 365, 4 * n)
    return pd.DataFrame({"customer_id": customers, "date": pd.Timestamp("2018-01-01") + pd.to_timedelta(days, unit="D")})


@pytest.mark.parametrize("occasion, end", [("Y", "2023-12-31"), ("M", "2023-12-31"), ("W", "2023-12-31"), ("D", "2023-06-30")])
def test_summary_equals_a_plain_loop(occasion, end):
    log = _random_log(1)
    log = log[log["date"] <= end]
    got = discrete_summary(log, occasion=occasion, observation_end=end)
    expected = _reference(log, occasion, pd.Timestamp(end))
    pd.testing.assert_frame_equal(got, expected.loc[got.index], check_dtype=False)
    assert got.attrs["time_unit"] == occasion and got.attrs["time_kind"] == "discrete"


def test_holdout_split_equals_a_plain_loop():
    log = _random_log(2)
    got = discrete_summary(log, occasion="Y", calibration_end="2021-12-31", observation_end="2023-12-31")
    expected = _reference(log, "Y", pd.Timestamp("2023-12-31"), pd.Timestamp("2021-12-31"))
    pd.testing.assert_frame_equal(got, expected.loc[got.index], check_dtype=False)
    assert (got["duration_holdout"] == 2).all()
    assert got.attrs["calibration_end"] == "2021-12-31" and got.attrs["observation_end"] == "2023-12-31"
    first_in_holdout = log.groupby("customer_id")["date"].min() > "2021-12-31"
    assert got.attrs["report"]["customers_first_seen_in_holdout"] == int(first_in_holdout.sum())


def test_several_transactions_in_one_occasion_count_once_and_add_their_values():
    log = pd.DataFrame({
        "customer_id": [1, 1, 1, 1],
        "date": pd.to_datetime(["2020-02-01", "2021-03-01", "2021-09-01", "2022-01-01"]),
        "amount": [10.0, 20.0, 30.0, 40.0],
    })
    got = discrete_summary(log, occasion="Y", amount_col="amount", observation_end="2024-12-31")
    assert got.loc[1, ["frequency", "recency", "n_periods"]].tolist() == [2, 2, 4]
    assert got.loc[1, "monetary_value"] == pytest.approx((50.0 + 40.0) / 2)


def test_default_end_is_the_end_of_the_last_occasion_and_input_is_untouched():
    log = pd.DataFrame({"customer_id": [1, 2], "date": ["2020-05-01", "2022-07-14"]})
    before = log.copy()
    got = discrete_summary(log, occasion="Y")
    assert got.attrs["observation_end"] == "2022-12-31"
    assert got["n_periods"].tolist() == [2, 0]
    pd.testing.assert_frame_equal(log, before)


@pytest.mark.parametrize("name", ["observation_end", "calibration_end"])
def test_an_end_inside_an_occasion_is_refused_with_the_two_ends_around_it(name):
    log = _random_log(3)
    kwargs = {"observation_end": "2023-12-31", "calibration_end": "2021-12-31", name: "2021-06-30"}
    with pytest.raises(ValueError, match=f"{name}=2021-06-30 falls inside an occasion .year 2021-01-01 to 2021-12-31.*"
                                         f"Set {name} to 2020-12-31 .* or to 2021-12-31"):
        discrete_summary(log, occasion="Y", **kwargs)


def test_bad_input_is_reported_like_rfm_summary():
    log = pd.DataFrame({"customer_id": [1, 2, 3], "date": ["2020-01-01", "not a date", "2021-01-01"]})
    with pytest.raises(ValueError, match="1 rows.*date"):
        discrete_summary(log, occasion="Y", observation_end="2021-12-31")
    with pytest.raises(ValueError, match="occasion='Q' is not supported"):
        discrete_summary(log, occasion="Q")
    with pytest.raises(ValueError, match=r"must be before observation_end \(2021-12-31\) by at least one occasion"):
        discrete_summary(log.iloc[[0, 2]], occasion="Y", calibration_end="2021-12-31", observation_end="2021-12-31")


def test_occasion_numbers_and_their_end_dates_are_inverse():
    days = np.arange(-800, 20_000, 37)
    for occasion in ("Y", "M", "W", "D"):
        numbers = occasion_of_days(days, occasion)
        ends = occasion_end_dates(numbers, occasion)
        end_days = ((ends - pd.Timestamp(0)).days).to_numpy()
        assert np.array_equal(occasion_of_days(end_days, occasion), numbers)
        assert np.all(occasion_of_days(end_days + 1, occasion) == numbers + 1)
        assert np.all(end_days >= days)
    # weeks run Monday to Sunday
    assert occasion_end_dates(occasion_of_days(np.array([(pd.Timestamp("2024-05-15") - pd.Timestamp(0)).days]), "W"), "W")[0] == pd.Timestamp("2024-05-19")
