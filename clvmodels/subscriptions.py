"""From a subscription log to the per-subscriber summary and the cohort survivor tables of the
contractual (retention) models.

A *subscription log* has one row per subscription spell: a customer id, a start date and an end
(cancellation) date, missing while the subscription is active, and optionally the price per
billing period. :func:`subscription_summary` reduces it to one row per subscriber with

``cohort``
    the billing period in which the subscriber started (``"2019-03"`` for monthly billing),
``renewals``
    the period boundaries (renewal dates) the subscriber survived,
``churned``
    whether the subscriber's cancellation is observed (see *censoring* below),
``cancelled``
    whether the subscription has ended on or before ``observation_end`` (its status then),

which is what the shifted-beta-geometric model of Fader & Hardie (2007) needs: a churned
subscriber's lifetime is ``T = renewals + 1`` periods, a censored one's is ``T > renewals``
(right censored). :func:`cohort_survivors` counts the subscribers of each cohort still active at
the start of each period, the table printed in that paper.

Calendar conventions
--------------------
Dates are read as :func:`clvmodels.rfm_summary` reads them (same parser, same messages,
time-zone aware dates refused) and compared by calendar day: a time of day is kept in the
``start`` and ``end`` columns but plays no part in the counts.

The renewal dates of a subscription are the *anniversaries* of its start date: for monthly
billing the same day of each following month, or the month's last day when the month is shorter
(a subscription started on January 31 renews on February 28, or 29 in a leap year, then on
March 31, April 30, ...: each anniversary is counted from the start date, never from the
previous, clipped, anniversary). Quarterly and yearly billing step by 3 and 12 months the same
way (started on February 29: renewed on February 28 in common years); weekly and daily billing
step by 7 and 1 days.

A subscriber *survives* a renewal date when their subscription ends strictly after it. A
cancellation dated exactly on a renewal date is not a renewal (the subscriber paid for the
periods before it, none after); a cancellation on the start day is a lifetime of one period
(renewals 0). An active subscriber (no end, or an end after ``observation_end``) survived every
renewal date on or before ``observation_end``.

Censoring
---------
The sBG model counts whole billing periods, but ``observation_end`` falls inside each
subscriber's current period. A cancellation in that unfinished period is seen, while the other
subscribers of the same period may still cancel before its end: counting the first as a churn
and the second as survivors of ``renewals`` periods (``censoring="observation_end"``) biases
the fit. On a million simulated monthly subscribers (alpha, beta = 0.704, 1.182, starts over 36
months; ``benchmarks/bench_subscriptions.py``) that gives alpha = 0.718, beta = 1.191, about
seven standard errors from the truth; the default ``censoring="last_renewal"`` gives 0.704,
1.183. By default each subscriber is observed up to their *last renewal date on or before
observation_end* (a time fixed by the start date alone, so the censoring is not informative):
``churned`` means cancelled on or before it (after at least one renewal date: a first period not
yet over is unfinished too), ``renewals`` counts the renewal dates survived up to it. A
subscriber who cancelled after it (``cancelled`` but not ``churned``) is right censored there,
with ``renewals`` equal to the renewal dates on or before ``observation_end``. ``cancelled`` is
the status at ``observation_end``: drop the cancelled subscribers before forecasting the active
ones.

References
----------
Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. Journal of
Interactive Marketing 21(1), 76-90 (the sBG model, section 3; the survivor tables, table 1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .data import _closest, _factorize_customers, _parse_amounts, _parse_dates, _shown_id, _to_timestamp
from .exceptions import DataWarning

__all__ = ["subscription_summary", "cohort_survivors", "PERIODS"]

#: The billing periods: key -> its description (the cohort label in brackets).
PERIODS = {
    "D": "day (cohort '2019-03-05')",
    "W": "week of 7 days (cohort: the ISO week of the start, '2019-W10')",
    "M": "calendar month (cohort '2019-03')",
    "Q": "quarter of 3 calendar months (cohort: the calendar quarter of the start, '2019Q1')",
    "Y": "calendar year (cohort '2019')",
}
_PERIOD_ALIASES = {
    "D": "D", "d": "D", "day": "D", "days": "D", "daily": "D",
    "W": "W", "w": "W", "week": "W", "weeks": "W", "weekly": "W",
    "M": "M", "month": "M", "months": "M", "monthly": "M",
    "Q": "Q", "q": "Q", "quarter": "Q", "quarters": "Q", "quarterly": "Q",
    "Y": "Y", "y": "Y", "A": "Y", "year": "Y", "years": "Y", "yearly": "Y", "annual": "Y",
}
_STEP_MONTHS = {"M": 1, "Q": 3, "Y": 12}
_STEP_DAYS = {"D": 1, "W": 7}
_NS_PER_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
#: Subscriptions starting this many days after observation_end are flagged (a wrong year?).
_FAR_FUTURE_DAYS = 366
_CONFIG_KEYS = {
    "customer_col": "[input] customer_col",
    "start_col": "[input] start_col",
    "end_col": "[input] end_col",
    "price_col": "[input] price_col",
}


# --------------------------------------------------------------------------------------------
# calendar arithmetic on int64 day numbers (days since 1970-01-01), vectorised
# --------------------------------------------------------------------------------------------


_DAYS_BEFORE_MARCH_YEAR = 719_468  # days from 0000-03-01 to 1970-01-01 (proleptic Gregorian)
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _month_and_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Month number (months since January 1970) and day of the month (1..31) of day numbers.

    Integer arithmetic on years starting in March (H. Hinnant, "chrono-compatible low-level date
    algorithms", ``civil_from_days``): several times faster than numpy's datetime64 conversions,
    and tested equal to them from 1678 to 2261.
    """
    z = days + _DAYS_BEFORE_MARCH_YEAR
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097  # day of the 400-year era, 0..146096
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # day of the year starting March 1
    mp = (5 * doy + 2) // 153  # month from March, 0..11
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 2, mp - 10)  # 0 = January
    year = yoe + era * 400 + (month <= 1)
    return (year - 1970) * 12 + month, day


def _days_in_month(month: np.ndarray) -> np.ndarray:
    """Number of days of months given as months since January 1970."""
    year = np.floor_divide(month, 12) + 1970
    m = month - (year - 1970) * 12
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return _MONTH_DAYS[m] + ((m == 1) & leap)


def _first_day(month: np.ndarray) -> np.ndarray:
    """Day number of the first day of months given as months since January 1970 (``days_from_civil``)."""
    year = np.floor_divide(month, 12) + 1970
    m = month - (year - 1970) * 12  # 0 = January
    year = year - (m <= 1)
    era = np.floor_divide(year, 400)
    yoe = year - era * 400
    doy = (153 * np.where(m >= 2, m - 2, m + 10) + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - _DAYS_BEFORE_MARCH_YEAR


def _count_renewals(start: np.ndarray, stop: np.ndarray, period: str,
                    parts: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Number of renewal dates ``k >= 1`` of subscriptions started on day ``start`` that fall
    strictly before day ``stop`` (``stop >= start``; it broadcasts), for the billing ``period``.

    Monthly (step q months): the k-th renewal is in month ``m0 + q k`` on day
    ``min(d0, days in that month)``. Those in months before the month of ``stop`` all count:
    ``ceil(diff / q) - 1`` of them, with ``diff`` the months from the start to the stop; the one
    in the month of ``stop`` (when ``diff`` is a positive multiple of q) counts if its day is
    before the day of ``stop``. ``parts`` is ``_month_and_day(start)`` when already known.
    """
    if period in _STEP_DAYS:
        step = _STEP_DAYS[period]
        return np.maximum(np.floor_divide(stop - start - 1, step), 0)
    q = _STEP_MONTHS[period]
    m0, d0 = _month_and_day(start) if parts is None else parts
    ms, ds = _month_and_day(stop)
    diff = ms - m0
    past = diff >= 1
    before = np.where(past, np.floor_divide(diff - 1, q), 0)
    same_month = past & (np.mod(diff, q) == 0) & (np.minimum(d0, _days_in_month(ms)) < ds)
    return before + same_month


def _renewal_date(start: np.ndarray, k: np.ndarray, period: str,
                  parts: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Day number of the ``k``-th renewal date (``k = 0``: the start) of subscriptions started on
    day ``start``: the start's day of the month in month ``m0 + q k``, clipped to its last day."""
    if period in _STEP_DAYS:
        return start + _STEP_DAYS[period] * k
    m0, d0 = _month_and_day(start) if parts is None else parts
    month = m0 + _STEP_MONTHS[period] * k
    return _first_day(month) + np.minimum(d0, _days_in_month(month)) - 1


def _cohort_keys(start: np.ndarray, period: str, parts: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The start period of day numbers: months, quarters or years since 1970, the Monday of the
    ISO week, or the day itself."""
    if period == "D":
        return start
    if period == "W":
        return start - np.mod(start + 3, 7)  # 1970-01-01 was a Thursday
    month = (_month_and_day(start) if parts is None else parts)[0]
    return np.floor_divide(month, _STEP_MONTHS[period])


def _cohort_labels(keys: np.ndarray, period: str) -> list[str]:
    """Labels of the distinct cohort keys (a loop over cohorts, not subscribers)."""
    out = []
    for k in keys.tolist():
        if period == "M":
            out.append(f"{1970 + k // 12:04d}-{k % 12 + 1:02d}")
        elif period == "Q":
            out.append(f"{1970 + k // 4:04d}Q{k % 4 + 1}")
        elif period == "Y":
            out.append(f"{1970 + k:04d}")
        elif period == "D":
            out.append(str(np.datetime64(k, "D")))
        else:  # ISO week: the year of its Thursday, numbered from the week holding January 4
            thursday = np.datetime64(k + 3, "D")
            year = thursday.astype("datetime64[Y]")
            week = (thursday - year.astype("datetime64[D]")).astype(np.int64) // 7 + 1
            out.append(f"{year}-W{week:02d}")
    return out


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    """Rows of the log having one fault, with the first one described."""

    column: str
    reason: str
    fix: str
    mask: np.ndarray
    example: str

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    def describe(self) -> str:
        return f"column {self.column!r}: {self.count:,} rows {self.reason} (first: {self.example}); {self.fix}"


def _row_example(log: pd.DataFrame, ids: pd.Series, mask: np.ndarray, column: str | None = None) -> str:
    """'customer 'c7', end '2019-02-01'' for the first row of ``mask``."""
    i = int(np.argmax(mask))
    who = ids.iloc[i]
    text = f"row {_shown_id(log.index[i])!r}" if pd.isna(who) else f"customer {_shown_id(who)!r}"
    if column is not None:
        value = log[column].iloc[i]
        text += f", {column} {str(value) if isinstance(value, pd.Timestamp) else _shown_id(value)!r}"
    return text


def _normalize_period(period: Any) -> str:
    canonical = _PERIOD_ALIASES.get(period) if isinstance(period, str) else None
    if canonical is None:
        raise ValueError(
            f"period={period!r} is not a billing period; use one of "
            + ", ".join(f"{k!r} ({v.split(' (')[0]})" for k, v in PERIODS.items())
            + " (the batch job's config: [model] period)."
        )
    return canonical


def _check_log_columns(log: Any, needed: dict[str, str]) -> None:
    if not isinstance(log, pd.DataFrame):
        raise TypeError(f"log must be a pandas DataFrame (one row per subscription), got {type(log).__name__}.")
    present = [str(c) for c in log.columns]
    for arg, col in needed.items():
        if col not in log.columns:
            raise ValueError(
                f"the subscription log has no column {col!r} for {arg} (columns present: "
                f"{', '.join(repr(c) for c in present) or 'none'}).{_closest(col, present)} Rename the "
                f"column or pass {arg}='...' (the batch job's config: {_CONFIG_KEYS[arg]})."
            )


def _date_faults(log: pd.DataFrame, ids: pd.Series, col: str, arg: str, date_format: str | None,
                 allow_missing: bool) -> tuple[np.ndarray, list[_Fault]]:
    """int64 nanoseconds of a date column (NaT: int64 min) and its faults."""
    ns, problems = _parse_dates(log[col], col, date_format)
    faults = []
    for p in problems:
        if p.key == "missing":
            if allow_missing:
                continue
            fix = f"every subscription needs a start date: fill or remove those rows (is {arg}={col!r} the right column?)"
        elif p.key == "unparseable":
            fix = (f"pass date_format= (for example '%Y-%m-%d', or 'mixed' for mixed formats) or correct "
                   f"those values (is {arg}={col!r} the right column?)")
        else:
            fix = p.fix
        example = _row_example(log, ids, p.mask, None if p.key == "missing" else col)
        faults.append(_Fault(col, p.reason, fix, p.mask, example))
    return ns, faults


def _price_faults(log: pd.DataFrame, ids: pd.Series, col: str) -> tuple[np.ndarray, list[_Fault]]:
    values, problems = _parse_amounts(log[col], col)
    fixes = {
        "missing": ("have a missing price", "fill them with the price per billing period (0 for a free plan) or remove those rows"),
        "negative": ("have a negative price", "a price per billing period is 0 or more: net refunds and discounts "
                     "into the price, or remove those rows"),
        "infinite": ("have an infinite price", "correct or remove those rows"),
        "non_numeric": ("have a price that is not a number", "clean the column (remove currency symbols and "
                        "thousands separators) so that pd.to_numeric reads it"),
    }
    faults = []
    for p in problems:
        reason, fix = fixes[p.key]
        faults.append(_Fault(col, reason, fix, p.mask, _row_example(log, ids, p.mask, None if p.key == "missing" else col)))
    return values, faults


# --------------------------------------------------------------------------------------------
# the summary
# --------------------------------------------------------------------------------------------


def subscription_summary(
    log: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    start_col: str = "start",
    end_col: str = "end",
    period: str = "M",
    observation_end: Any = None,
    price_col: str | None = None,
    date_format: str | None = None,
    returns: Literal["first", "error"] = "first",
    invalid: Literal["raise", "drop"] = "raise",
    censoring: Literal["last_renewal", "observation_end"] = "last_renewal",
) -> pd.DataFrame:
    """Summarise a subscription log into renewals survived and churn, one row per subscriber.

    Parameters
    ----------
    log : DataFrame
        One row per subscription spell. It is read, never modified.
    customer_col, start_col, end_col : str
        Columns holding the customer id, the start date and the end (cancellation) date; a missing
        end is an active subscription. Dates are datetime64 or strings that ``pd.to_datetime``
        reads with ``date_format``, compared by calendar day; time-zone aware dates are refused
        (convert them to the business's local time), as in :func:`clvmodels.rfm_summary`.
    period : {"M", "Q", "Y", "W", "D"}
        The billing period: calendar month, quarter (3 months), calendar year, week (7 days) or
        day. Renewal dates are the anniversaries of the start date (see the module's calendar
        conventions: a monthly subscription started on January 31 renews on the last day of
        shorter months).
    observation_end : date-like, optional
        The last day observed (its whole day is included). By default the latest start or end
        date in the log (``attrs["observation_end_source"]`` says which). An end after it is
        right censored: the subscriber counts as active. Subscriptions starting after it are
        outside the window: left out and counted (``attrs["report"]``); those more than a year
        after it also raise a :class:`~clvmodels.exceptions.DataWarning` (a wrong year?).
    price_col : str, optional
        Column of the price per billing period (0 or more); the result then has ``price``.
    date_format : str, optional
        Passed to ``pd.to_datetime`` (``format=``) when the dates are strings or numbers.
    returns : {"first", "error"}
        Spells of one customer that overlap, or follow one another within a day (the next one
        starts no later than the day after the previous one ends: a plan change), are merged into
        one subscription: its start is the first start, its end the latest end (missing if any
        spell is open), its price that of the spell that started last. A customer who comes back
        after a longer gap: with ``"first"`` the first subscription is the customer's lifetime
        and the later spells are left out, counted in ``attrs["report"]`` and in a
        :class:`~clvmodels.exceptions.DataWarning`; ``"error"`` refuses them.
    invalid : {"raise", "drop"}
        Rows with a missing customer id or start date, an unparseable date or one outside
        1677-09-22 to 2262-04-10, an end before the start, or (with ``price_col``) a missing,
        non-numeric, infinite or negative price: a ``ValueError`` that names the column, the
        number of rows, the first customer and the fix, or (``"drop"``) left out with a
        :class:`~clvmodels.exceptions.DataWarning` and counted (each row once, under its first
        fault).
    censoring : {"last_renewal", "observation_end"}
        Where each subscriber's observation stops (see the module's *censoring*):
        ``"last_renewal"`` (unbiased fits): at their last renewal date on or before
        ``observation_end``, a cancellation after it being censored; ``"observation_end"``: at
        ``observation_end`` itself, ``churned`` then equal to ``cancelled`` (biased fits: a
        cancellation in an unfinished period counts, the survivors of that period do not yet).

    Returns
    -------
    DataFrame
        Indexed by customer id (named ``customer_col``, sorted), one row per subscriber, with
        ``cohort`` (an ordered ``Categorical`` of string labels of the billing period of the start:
        ``"2019-03"`` monthly, ``"2019Q1"`` quarterly, ``"2019"`` yearly, the ISO week
        ``"2019-W10"`` weekly, the day ``"2019-03-05"`` daily; categories in time order),
        ``renewals`` (int64, renewal dates survived up to the cancellation or, for a censored
        subscriber, up to the end of observation), ``churned`` (bool: a cancellation observed, see
        ``censoring``), ``cancelled`` (bool: an end on or before ``observation_end``: drop these
        before forecasting), ``start`` and ``end`` (datetime64 as given, the merged spell's;
        ``end`` is NaT while no end is recorded, and may lie after ``observation_end`` for an
        active subscriber) and, with ``price_col``, ``price`` (float64). For the sBG model a
        churned subscriber's lifetime is ``renewals + 1`` periods, a censored one's exceeds
        ``renewals``. ``attrs`` holds
        ``time_unit`` (the period), ``observation_end`` (ISO date), ``observation_end_source``,
        ``renewal_rule``, ``censoring`` and ``report``: ``rows_in``, ``rows_used``,
        ``rows_dropped`` with ``dropped`` (reason: rows; every row once), ``rows_merged`` (rows
        merged into an earlier overlapping or contiguous spell), ``later_spells`` and
        ``customers_returning`` (spells after a gap, left out), ``customers``, ``churned``,
        ``censored`` (not churned), ``cancelled``, ``cancelled_after_last_renewal`` (cancelled but
        censored at the last renewal date) and ``ends_after_observation_end`` (active then).

    Raises
    ------
    ValueError
        A missing column (with the closest name and the config key), an unknown period, an empty
        log, invalid rows (with ``invalid="raise"``), returning customers (with
        ``returns="error"``), or no subscription starting on or before ``observation_end``.

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. Journal of
    Interactive Marketing 21(1), 76-90, section 3 (lifetimes in whole periods; right censoring).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": ["a", "b", "c"],
    ...                     "start": ["2024-01-31", "2024-01-15", "2024-03-10"],
    ...                     "end": ["2024-03-30", "2024-02-15", None]})
    >>> summary = subscription_summary(log, observation_end="2024-06-30")
    >>> summary[["cohort", "renewals", "churned", "cancelled"]]
                  cohort  renewals  churned  cancelled
    customer_id
    a            2024-01         1     True       True
    b            2024-01         0     True       True
    c            2024-03         3    False      False

    ``a`` renewed on February 29 (January 31 clipped to the end of February) and cancelled before
    its renewal on March 31; ``b`` cancelled on its first renewal date, which is not a renewal;
    ``c`` is active and renewed on April 10, May 10 and June 10. Observed to June 20 instead,
    ``c``'s cancellation on June 15 came after its last renewal date (June 10), within a month
    not yet over: it is censored there (the default) or counted as a churn:

    >>> log.loc[2, "end"] = "2024-06-15"
    >>> for censoring in ("last_renewal", "observation_end"):
    ...     row = subscription_summary(log, observation_end="2024-06-20", censoring=censoring).loc["c"]
    ...     print(censoring, row["renewals"], row["churned"], row["cancelled"])
    last_renewal 3 False True
    observation_end 3 True True
    """
    period = _normalize_period(period)
    if returns not in ("first", "error"):
        raise ValueError(f"returns={returns!r}; use 'first' (a returning customer's first subscription is "
                         "their lifetime) or 'error'.")
    if invalid not in ("raise", "drop"):
        raise ValueError(f"invalid={invalid!r}; use 'raise' or 'drop'.")
    if censoring not in ("last_renewal", "observation_end"):
        raise ValueError(f"censoring={censoring!r}; use 'last_renewal' (each subscriber observed to their last "
                         "renewal date on or before observation_end) or 'observation_end'.")
    needed = {"customer_col": customer_col, "start_col": start_col, "end_col": end_col}
    if price_col is not None:
        needed["price_col"] = price_col
    _check_log_columns(log, needed)
    n_rows = len(log)
    if n_rows == 0:
        raise ValueError("the subscription log is empty (0 rows); there is nothing to summarise.")
    obs_day: int | None = None
    if observation_end is not None:
        obs_ts = _to_timestamp(observation_end, "observation_end")
        obs_day = int(obs_ts.value // _NS_PER_DAY)

    ids = log[customer_col]
    faults: list[_Fault] = []
    missing_id = ids.isna().to_numpy()
    if missing_id.any():
        faults.append(_Fault(customer_col, "have a missing customer id", "fill or remove those rows", missing_id,
                             _row_example(log, ids, missing_id)))
    start_ns, start_faults = _date_faults(log, ids, start_col, "start_col", date_format, allow_missing=False)
    end_ns, end_faults = _date_faults(log, ids, end_col, "end_col", date_format, allow_missing=True)
    faults += start_faults + end_faults
    price = None
    if price_col is not None:
        price, price_faults = _price_faults(log, ids, price_col)
        faults += price_faults
    has_end = end_ns != _NAT
    backwards = has_end & (start_ns != _NAT) & (end_ns < start_ns)
    if backwards.any():
        i = int(np.argmax(backwards))
        faults.append(_Fault(
            end_col, "end before they start (a cancellation dated before the start)",
            f"correct those dates, or check that {start_col!r} and {end_col!r} are not swapped "
            "(start_col, end_col)", backwards,
            f"{_row_example(log, ids, backwards)}, {start_col} {pd.Timestamp(start_ns[i])}, "
            f"{end_col} {pd.Timestamp(end_ns[i])}",
        ))
    if faults and invalid == "raise":
        raise ValueError(
            f"Invalid subscriptions ({n_rows:,} rows):\n  - " + "\n  - ".join(f.describe() for f in faults)
            + ".\nPass invalid='drop' to leave such rows out with a warning."
        )
    bad = np.zeros(n_rows, dtype=bool)
    dropped: dict[str, int] = {}
    for f in faults:
        dropped[f"{f.column}: {f.reason}"] = dropped.get(f"{f.column}: {f.reason}", 0) + int((f.mask & ~bad).sum())
        bad |= f.mask
    if bad.all():
        raise ValueError("Every row of the subscription log is invalid:\n  - "
                         + "\n  - ".join(f.describe() for f in faults) + ".")

    start_day = np.floor_divide(start_ns, _NS_PER_DAY)
    end_day = np.floor_divide(end_ns, _NS_PER_DAY)
    if obs_day is None:
        obs_day = int(max(start_day[~bad].max(), end_day[~bad & has_end].max(initial=_NAT)))
        source = "the latest start or end date in the log"
    else:
        source = "given"
    late = ~bad & (start_day > obs_day)
    n_late = int(late.sum())
    if n_late == int((~bad).sum()):
        raise ValueError(
            f"every subscription in the log ({n_late:,} valid rows) starts after observation_end "
            f"({np.datetime64(obs_day, 'D')}); move observation_end later."
        )
    if n_late:
        dropped[f"starting after observation_end ({np.datetime64(obs_day, 'D')}): outside the window"] = n_late
    far = late & (start_day - obs_day > _FAR_FUTURE_DAYS)
    if faults:
        n_bad = int(bad.sum())
        warnings.warn(
            f"Left out {n_bad:,} of {n_rows:,} subscription rows: "
            + "; ".join(f"{f.count:,} in column {f.column!r} {f.reason}" for f in faults)
            + ". The counts are in result.attrs['report'].",
            DataWarning, stacklevel=2,
        )
    if far.any():
        warnings.warn(
            f"{int(far.sum()):,} subscriptions start more than a year after observation_end "
            f"({np.datetime64(obs_day, 'D')}), the latest on {pd.Timestamp(int(start_ns[far].max()))}; they are "
            "outside the window and left out, but check their dates (a wrong year?).",
            DataWarning, stacklevel=2,
        )

    keep = ~bad & ~late
    codes, customers = _factorize_customers(pd.Index(ids[keep] if not keep.all() else ids))
    s_day, e_day = start_day[keep], end_day[keep]
    s_ns, e_ns = start_ns[keep], end_ns[keep]
    open_ = e_ns == _NAT
    p = None if price is None else price[keep]

    n_later = n_returning = 0
    if len(customers) == len(codes):  # one row per customer: nothing to merge, no sort
        last = np.empty(len(codes), dtype=np.int64)
        last[codes] = np.arange(len(codes))
        first_idx = last
        start_out, spell_open, end_out, end_d = s_ns[last], open_[last], e_ns[last], e_day[last]
    else:
        # one sort by (customer, start); spells merged with a running maximum of the end per customer
        d0 = int(s_day.min())
        s_rel = s_day - d0
        e_rel = np.where(open_, 0, e_day - d0)
        width = int(max(s_rel.max(), e_rel.max())) + 3  # an open end is width - 1: after every start
        e_rel[open_] = width - 1
        order = np.argsort(codes * width + s_rel)
        code, s_rel, e_rel = codes[order], s_rel[order], e_rel[order]
        running = np.maximum.accumulate(code * width + e_rel)
        n = len(code)
        first_row = np.ones(n, dtype=bool)
        first_row[1:] = code[1:] != code[:-1]
        gap = np.zeros(n, dtype=bool)
        gap[1:] = ~first_row[1:] & (s_rel[1:] > running[:-1] - code[1:] * width + 1)
        n_gaps = np.cumsum(gap)
        later = n_gaps > n_gaps[np.flatnonzero(first_row)][code]
        n_later = int(later.sum())
        n_returning = int(np.count_nonzero(np.bincount(code[later], minlength=len(customers))))
        if n_later:
            i = int(np.argmax(later))
            if returns == "error":
                raise ValueError(
                    f"column {start_col!r}: {n_returning:,} customers came back after a gap ({n_later:,} rows "
                    f"start a later subscription; first: customer {_shown_id(customers[code[i]])!r}, "
                    f"{start_col} {pd.Timestamp(s_ns[order][i])}); pass returns='first' to take each customer's "
                    "first subscription as their lifetime, or give each subscription its own id in "
                    f"{customer_col!r} (customer_col)."
                )
            warnings.warn(
                f"{n_returning:,} customers came back after a gap ({n_later:,} rows start a later subscription; "
                f"first: customer {_shown_id(customers[code[i]])!r}); each customer's first subscription is taken "
                "as their lifetime and the later ones are left out (counted in result.attrs['report']). Pass "
                f"returns='error' to refuse them, or give each subscription its own id in {customer_col!r}.",
                DataWarning, stacklevel=2,
            )
            dropped["later subscriptions of customers who came back after a gap (returns='first')"] = n_later
        rows = order[~later]
        code = code[~later]
        bounds = np.flatnonzero(np.concatenate(([True], code[1:] != code[:-1])))
        last = rows[np.concatenate((bounds[1:], [len(rows)])) - 1]
        first_idx = rows[bounds]
        start_out = s_ns[first_idx]
        spell_open = np.logical_or.reduceat(open_[rows], bounds)
        end_out = np.maximum.reduceat(e_ns[rows], bounds)
        end_out[spell_open] = _NAT
        end_d = np.maximum.reduceat(e_day[rows], bounds)
    first_day = s_day[first_idx]
    cancelled = ~spell_open & (end_d <= obs_day)
    parts = None if period in _STEP_DAYS else _month_and_day(first_day)
    if censoring == "last_renewal":
        seen = _count_renewals(first_day, np.array([obs_day + 1]), period, parts)
        churned = cancelled & (seen >= 1) & (end_d <= _renewal_date(first_day, seen, period, parts))
    else:
        churned = cancelled
    stop = np.where(churned, end_d, obs_day + 1)
    renewals = _count_renewals(first_day, stop, period, parts)

    key = _cohort_keys(first_day, period, parts)
    k0 = int(key.min())
    present = np.bincount(key - k0) > 0  # cohort keys are a small range of whole numbers
    keys = np.flatnonzero(present) + k0
    inverse = (np.cumsum(present) - 1)[key - k0]
    columns: dict[str, Any] = {
        "cohort": pd.Categorical.from_codes(inverse.reshape(-1), categories=_cohort_labels(keys, period), ordered=True),
        "renewals": renewals.astype(np.int64),
        "churned": churned,
        "cancelled": cancelled,
        "start": start_out.view("datetime64[ns]"),
        "end": end_out.view("datetime64[ns]"),
    }
    if p is not None:
        columns["price"] = p[last]
    frame = pd.DataFrame(columns, index=customers)
    frame.index.name = customer_col

    n_used = n_rows - int(bad.sum()) - n_late - n_later
    n_churned = int(churned.sum())
    frame.attrs = {
        "time_unit": period,
        "observation_end": str(np.datetime64(obs_day, "D")),
        "observation_end_source": source,
        "renewal_rule": ("anniversaries of the start date (clipped to the end of shorter months) survived: "
                         "strictly before the cancellation, or up to the end of observation (see censoring)"),
        "censoring": censoring,
        "report": {
            "rows_in": n_rows,
            "rows_used": n_used,
            "rows_dropped": n_rows - n_used,
            "dropped": dropped,
            "rows_merged": n_used - len(frame),
            "later_spells": n_later,
            "customers_returning": n_returning,
            "customers": len(frame),
            "churned": n_churned,
            "censored": len(frame) - n_churned,
            "cancelled": int(cancelled.sum()),
            "cancelled_after_last_renewal": int(np.sum(cancelled & ~churned)),
            "ends_after_observation_end": int(np.sum(~spell_open & (end_d > obs_day))),
        },
    }
    return frame


# --------------------------------------------------------------------------------------------
# cohort survivor tables
# --------------------------------------------------------------------------------------------


def _summary_arrays(summary: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    """Cohort codes, renewals and churned of a summary, validated."""
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a DataFrame made by subscription_summary, got {type(summary).__name__}.")
    present = [str(c) for c in summary.columns]
    for col in ("cohort", "renewals", "churned"):
        if col not in summary.columns:
            raise ValueError(
                f"summary has no column {col!r} (columns present: {', '.join(repr(c) for c in present) or 'none'})."
                f"{_closest(col, present)} Make it with subscription_summary, or rename the column."
            )
    if len(summary) == 0:
        raise ValueError("summary is empty (0 subscribers); there is nothing to count.")
    cohort = summary["cohort"]
    if cohort.isna().any():
        raise ValueError(f"column 'cohort': {int(cohort.isna().sum()):,} rows are missing; fill or remove them.")
    if isinstance(cohort.dtype, pd.CategoricalDtype):
        used = cohort.cat.remove_unused_categories()
        codes, labels = used.cat.codes.to_numpy().astype(np.int64), list(used.cat.categories)
    else:
        try:
            codes, uniques = pd.factorize(cohort, sort=True)
        except TypeError:
            codes, uniques = pd.factorize(cohort, sort=False)
        codes, labels = codes.astype(np.int64), list(uniques)
    ren = summary["renewals"]
    if not pd.api.types.is_numeric_dtype(ren.dtype) or pd.api.types.is_bool_dtype(ren.dtype):
        raise ValueError(f"column 'renewals' must hold whole numbers, got dtype {ren.dtype}.")
    r = ren.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(r) | (r < 0) | (r != np.round(r))
    if bad.any():
        raise ValueError(
            f"column 'renewals': {int(bad.sum()):,} rows are missing, negative or not whole numbers "
            f"(first: subscriber {_shown_id(summary.index[np.argmax(bad)])!r}); renewals count the period "
            "boundaries survived."
        )
    churn = summary["churned"]
    if not pd.api.types.is_bool_dtype(churn.dtype):
        if not (pd.api.types.is_integer_dtype(churn.dtype) and churn.isin([0, 1]).all()):
            raise ValueError(
                f"column 'churned' must be boolean (True: a cancellation observed), got dtype "
                f"{churn.dtype}; convert it with .astype(bool) if it holds 0/1."
            )
    c = churn.to_numpy(dtype=bool)
    return codes, r.astype(np.int64), c, labels


def cohort_survivors(summary: pd.DataFrame, *, max_periods: int | None = None) -> pd.DataFrame:
    """Subscribers of each cohort still active at the start of each period, right censoring kept.

    Period ``j`` of a subscriber starts on their ``j``-th renewal date (period 0 on the start
    date), so the subscribers active at its start are those with ``renewals >= j``. A cohort's
    count at period ``j`` is known only when every member's status there is known: each member
    either churned before it or was still active on its ``j``-th renewal date. A cohort whose
    active members have made at most ``h`` renewals (a recent cohort) is therefore observed for
    periods ``0..h``; its later columns are missing (``<NA>``), never counted as churn. A cohort
    whose members have all churned is known (0) at every later period.

    Parameters
    ----------
    summary : DataFrame
        As made by :func:`subscription_summary`: columns ``cohort``, ``renewals``, ``churned``.
    max_periods : int, optional
        Keep periods ``0..max_periods`` only. By default up to the last period observed in any
        cohort.

    Returns
    -------
    DataFrame
        One row per cohort (indexed by ``cohort``, in time order), with ``size`` (the cohort's
        subscribers) and one nullable-integer (``Int64``) column per period ``0, 1, ..., k``:
        the subscribers active at its start (column 0 equals ``size``). ``attrs`` copies the
        summary's ``time_unit`` and ``observation_end``. A row's observed counts (``.dropna()``)
        are the survivor counts at the start of periods 0..t of Fader & Hardie (2007), table 1,
        as :func:`clvmodels.models.shifted_beta_geo.survivors_to_patterns` takes them (a cohort
        observed at period 0 only carries no information about retention).

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. Journal of
    Interactive Marketing 21(1), 76-90, table 1 (customers surviving at the start of each year).

    Examples
    --------
    >>> summary = pd.DataFrame({"cohort": ["2024-01"] * 3 + ["2024-05"] * 2,
    ...                         "renewals": [0, 2, 4, 0, 1], "churned": [True, True, False, True, False]})
    >>> cohort_survivors(summary)
             size  0  1     2     3     4
    cohort
    2024-01     3  3  2     2     1     1
    2024-05     2  2  1  <NA>  <NA>  <NA>
    """
    codes, renewals, churned, labels = _summary_arrays(summary)
    if max_periods is not None:
        if isinstance(max_periods, bool) or not isinstance(max_periods, int | np.integer) or max_periods < 0:
            raise ValueError(f"max_periods={max_periods!r}; pass a whole number of periods, 0 or more.")
    n_cohorts = len(labels)
    # the last observed period of each cohort: the fewest renewals among its active members
    horizon = np.full(n_cohorts, np.iinfo(np.int64).max)
    active = ~churned
    np.minimum.at(horizon, codes[active], renewals[active])
    everyone_churned = horizon == np.iinfo(np.int64).max
    known = np.where(everyone_churned, renewals.max() + 1, horizon)
    k = int(known.max())
    if max_periods is not None:
        k = min(k, int(max_periods))
    counts = np.bincount(codes * (k + 2) + np.minimum(renewals, k + 1), minlength=n_cohorts * (k + 2))
    counts = counts.reshape(n_cohorts, k + 2)
    alive = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, : k + 1]  # renewals >= j
    columns: dict[Any, Any] = {"size": alive[:, 0].astype(np.int64)}
    for j in range(k + 1):
        observed = everyone_churned | (j <= horizon)
        columns[j] = pd.array(np.where(observed, alive[:, j], 0), dtype="Int64")
        columns[j][~observed] = pd.NA
    index = pd.CategoricalIndex(labels, categories=labels, ordered=True, name="cohort")
    table = pd.DataFrame(columns, index=index)
    table.attrs = {key: summary.attrs[key] for key in ("time_unit", "observation_end") if key in summary.attrs}
    return table
