"""From a transaction log to the summary of a customer in discrete occasions (BG/BB).

Charities, annual events and ticketed seasons see their customers at discrete occasions: one
chance a year to donate, one season to renew. The BG/BB model (Fader, Hardie & Shang 2010)
counts, for each customer from the occasion of the first transaction,

``frequency`` (x)
    occasions with a transaction after the first one (several transactions in one occasion
    count once; their values add up);
``recency`` (t_x)
    the occasion of the last transaction, counted from the first (0 when x = 0);
``n_periods`` (n)
    the occasions observed after the first (the transaction opportunities).

Occasions are calendar periods: years (``"Y"``), months (``"M"``), weeks starting on Monday
(``"W"``) or days (``"D"``). The observation window must be made of whole occasions: an
``observation_end`` (or ``calibration_end``) inside an occasion is refused with the two
occasion ends around it, since a half-observed occasion would count as a missed opportunity.
Without ``observation_end`` the data run to the end of the occasion of the last transaction.

The validation of the log is :func:`clvmodels.rfm_summary`'s (the same messages, policies and
``attrs["report"]``); the caller's DataFrame is never modified.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .data import (
    DuplicatePolicy,
    InvalidPolicy,
    _check_finite_values,
    _factorize_customers,
    _mean_or_zero,
    _no_calibration_purchase,
    _per_customer,
    _to_timestamp,
    _validate_transactions,
)
from .units import normalize_unit

__all__ = ["discrete_summary", "OCCASIONS"]

#: the occasions, and what they are called in messages
OCCASIONS = {"Y": "year", "M": "month", "W": "week (Monday to Sunday)", "D": "day"}


def _occasion(occasion: str) -> str:
    try:
        key = normalize_unit(occasion)  # the time units' names and aliases; hours are no occasion
    except ValueError:
        key = None
    if key not in OCCASIONS:
        raise ValueError(
            f"occasion={occasion!r} is not supported; use 'Y' (calendar years), 'M' (months), 'W' (weeks "
            "starting on Monday) or 'D' (days)."
        )
    return key


def occasion_of_days(days: np.ndarray, occasion: str) -> np.ndarray:
    """The occasion number of each day (days since 1970-01-01).

    Examples
    --------
    >>> days = (pd.to_datetime(["1995-06-01", "1995-12-31", "1996-01-01"]) - pd.Timestamp(0)).days.to_numpy()
    >>> occasion_of_days(days, "Y").tolist()  # years since 1970
    [25, 25, 26]
    >>> occasion_of_days(days, "M").tolist()
    [305, 311, 312]
    """
    days = np.asarray(days, dtype=np.int64)
    if occasion == "D":
        return days
    if occasion == "W":
        return np.floor_divide(days + 3, 7)  # 1970-01-01 was a Thursday: weeks start on Monday
    unit = "Y" if occasion == "Y" else "M"
    return days.astype("datetime64[D]").astype(f"datetime64[{unit}]").astype(np.int64)


def occasion_end_dates(occasions: np.ndarray, occasion: str) -> pd.DatetimeIndex:
    """The last day of each occasion number (the inverse of :func:`occasion_of_days`).

    Examples
    --------
    >>> occasion_end_dates(np.array([25, 26]), "Y").strftime("%Y-%m-%d").tolist()
    ['1995-12-31', '1996-12-31']
    >>> occasion_end_dates(np.array([305]), "M").strftime("%Y-%m-%d").tolist()
    ['1995-06-30']
    """
    following = np.asarray(occasions, dtype=np.int64) + 1
    if occasion == "D":
        first_day = following
    elif occasion == "W":
        first_day = following * 7 - 3
    else:
        first_day = following.astype(f"datetime64[{'Y' if occasion == 'Y' else 'M'}]").astype("datetime64[D]").astype(np.int64)
    return pd.DatetimeIndex((first_day - 1).astype("datetime64[D]").astype("datetime64[ns]"))


def _occasion_bounds(day: int, occasion: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the occasion containing ``day``."""
    number = int(occasion_of_days(np.array([day]), occasion)[0])
    first = day
    while int(occasion_of_days(np.array([first - 1]), occasion)[0]) == number:
        first -= 1
    last = day
    while int(occasion_of_days(np.array([last + 1]), occasion)[0]) == number:
        last += 1
    return pd.Timestamp(first, unit="D"), pd.Timestamp(last, unit="D")


def _whole_occasions(day: int, occasion: str, name: str) -> None:
    """Refuse an end of observation inside an occasion."""
    if occasion_of_days(np.array([day + 1]), occasion)[0] != occasion_of_days(np.array([day]), occasion)[0]:
        return
    first, last = _occasion_bounds(day, occasion)
    given = pd.Timestamp(day, unit="D").date().isoformat()
    raise ValueError(
        f"{name}={given} falls inside an occasion ({OCCASIONS[occasion]} {first.date().isoformat()} to "
        f"{last.date().isoformat()}): the occasions must divide the observation window, since a "
        f"half-observed occasion would count as a missed opportunity. Set {name} to "
        f"{(first - pd.Timedelta(days=1)).date().isoformat()} (leave that occasion out) or to "
        f"{last.date().isoformat()} (if no more transactions can come in it)."
    )


def discrete_summary(
    transactions: pd.DataFrame,
    *,
    occasion: str = "Y",
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    observation_end: Any = None,
    calibration_end: Any = None,
    date_format: str | None = None,
    invalid: InvalidPolicy = "raise",
    duplicates: DuplicatePolicy = "keep",
) -> pd.DataFrame:
    """Summarise a transaction log in discrete occasions: frequency, recency, n_periods.

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction (read, never modified).
    occasion : {"Y", "M", "W", "D"}
        The transaction opportunity: calendar year, month, week (Monday to Sunday) or day.
    customer_col, date_col, amount_col, date_format, invalid, duplicates
        As in :func:`clvmodels.rfm_summary`.
    observation_end : date-like, optional
        Last day observed: the last day of an occasion. By default the end of the occasion of
        the last transaction. Rows after it are left out and counted.
    calibration_end : date-like, optional
        With it, the summary covers the occasions up to it (the last day of an occasion), and
        ``frequency_holdout`` counts the occasions with a transaction after it, up to
        ``observation_end`` (``duration_holdout`` occasions). Customers first seen in the
        holdout are left out and counted (``attrs["report"]["customers_first_seen_in_holdout"]``).

    Returns
    -------
    DataFrame
        Indexed by customer id: ``frequency``, ``recency``, ``n_periods`` (whole numbers) and,
        with amounts, ``monetary_value`` (mean value of the repeat occasions' transactions);
        with ``calibration_end`` also ``frequency_holdout``, ``duration_holdout`` (and
        ``monetary_value_holdout``). ``attrs``: ``time_unit`` (the occasion, so that a model
        fitted on it forecasts in occasions and discounts per occasion), ``time_kind``
        (``"discrete"``), ``observation_end`` (and ``calibration_end``) and the report.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a
    discrete-time noncontractual setting. Marketing Science 29(6), 1086-1108, section 2.

    Examples
    --------
    Donors who can give once a year, observed 2019 to 2024:

    >>> log = pd.DataFrame({"customer_id": [1, 1, 1, 1, 2, 3],
    ...                     "date": pd.to_datetime(["2019-03-01", "2019-11-20", "2021-06-01",
    ...                                             "2023-02-01", "2019-05-05", "2022-12-31"])})
    >>> discrete_summary(log, occasion="Y", observation_end="2024-12-31")
                 frequency  recency  n_periods
    customer_id
    1                    2        4          5
    2                    0        0          5
    3                    0        0          2
    >>> discrete_summary(log, occasion="Y", observation_end="2024-06-30")
    Traceback (most recent call last):
    ...
    ValueError: observation_end=2024-06-30 falls inside an occasion (year 2024-01-01 to 2024-12-31): the occasions must divide the observation window, since a half-observed occasion would count as a missed opportunity. Set observation_end to 2023-12-31 (leave that occasion out) or to 2024-12-31 (if no more transactions can come in it).
    """
    occasion = _occasion(occasion)
    end_ts = None if observation_end is None else _to_timestamp(observation_end, "observation_end")
    cal_ts = None if calibration_end is None else _to_timestamp(calibration_end, "calibration_end")
    if end_ts is not None:  # before reading the log: its rows after a wrong end would be flagged first
        _whole_occasions(int((end_ts.normalize() - pd.Timestamp(0)).days), occasion, "observation_end")
    tx, end_day = _validate_transactions(
        transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
        observation_end=observation_end, time_unit="D", resolution="D", invalid=invalid, duplicates=duplicates,
    )
    occ = occasion_of_days(tx.period, occasion)
    end_occ = int(occasion_of_days(np.array([end_day]), occasion)[0])
    end_text = (end_ts.normalize() if end_ts is not None else _occasion_bounds(end_day, occasion)[1]).date().isoformat()
    report = dict(tx.report)
    attrs: dict[str, Any] = {"time_unit": occasion, "time_kind": "discrete", "occasion": occasion}
    if cal_ts is None:
        codes, customers = _factorize_customers(tx.ids)
        per = _per_customer(codes, occ, tx.amount, len(customers))
        frame = _frame(customers, per, end_occ, customer_col, amount_col)
        report["customers"] = len(frame)
        frame.attrs = {**attrs, "observation_end": end_text, "report": report}
        return frame
    cal_day = int((cal_ts.normalize() - pd.Timestamp(0)).days)
    _whole_occasions(cal_day, occasion, "calibration_end")
    cal_occ = int(occasion_of_days(np.array([cal_day]), occasion)[0])
    if cal_occ >= end_occ:
        raise ValueError(
            f"calibration_end ({cal_ts.date().isoformat()}) must be before observation_end ({end_text}) by at "
            "least one occasion; nothing would be left for the holdout."
        )
    in_cal = occ <= cal_occ
    if not in_cal.any():
        raise _no_calibration_purchase(cal_ts)
    codes, customers = _factorize_customers(tx.ids[in_cal])
    n = len(customers)
    amount = tx.amount
    per = _per_customer(codes, occ[in_cal], None if amount is None else amount[in_cal], n)
    hold_codes = customers.get_indexer(tx.ids[~in_cal]).astype(np.int64)
    known = hold_codes >= 0
    hold = _per_customer(hold_codes[known], occ[~in_cal][known], None if amount is None else amount[~in_cal][known], n)
    _check_finite_values(customers, hold, amount_col, what=" in the holdout period")
    frame = _frame(customers, per, cal_occ, customer_col, amount_col)
    frame["frequency_holdout"] = hold["count"]
    if amount is not None:
        frame["monetary_value_holdout"] = _mean_or_zero(hold["repeat_value"] + hold["first_value"], hold["count"])
    frame["duration_holdout"] = end_occ - cal_occ
    report["customers"] = len(frame)
    report["customers_first_seen_in_holdout"] = int(pd.Index(tx.ids[~in_cal][~known]).nunique())
    frame.attrs = {**attrs, "calibration_end": cal_ts.date().isoformat(), "observation_end": end_text, "report": report}
    return frame


def _frame(customers: pd.Index, per: dict[str, np.ndarray], end_occ: int, customer_col: str, amount_col: str | None) -> pd.DataFrame:
    _check_finite_values(customers, per, amount_col)
    frequency = per["count"] - 1
    columns = {"frequency": frequency, "recency": per["last"] - per["first"], "n_periods": end_occ - per["first"]}
    if "repeat_value" in per:
        columns["monetary_value"] = _mean_or_zero(per["repeat_value"], frequency)
    frame = pd.DataFrame(columns, index=customers)
    frame.index.name = customer_col
    return frame
