"""From a transaction log to the per-customer summary the "Buy 'Til You Die" models need.

The summary of a customer observed from the first purchase up to the end of observation has

``frequency`` (x)
    the number of *repeat* transactions: distinct periods (calendar days by default) with a
    purchase, after the first one;
``recency`` (t_x)
    the time from the first purchase to the last repeat purchase (0 when x = 0);
``T``
    the time from the first purchase to the end of observation;
``monetary_value``
    the mean value of the repeat transactions, the first purchase excluded (0 when x = 0),
    as used by the Gamma-Gamma model.

Purchases by one customer in the same period of the *resolution* (calendar day unless told
otherwise) merge into one transaction whose value is their sum. Durations are measured in the
*time unit* (see :mod:`clvmodels.units`). These are the conventions of Fader, Hardie & Lee
(2005), "Counting your customers the easy way", and of its CDNOW data set.

The functions here validate their input and never modify the caller's DataFrame. Invalid rows
raise a ``ValueError`` that names the column, the number of rows and the fix, or, with
``invalid="drop"``, are excluded and counted in a :class:`~clvmodels.exceptions.DataWarning`
and in the result's ``attrs["report"]``, each row once (``rows_used`` plus the dropped rows is
``rows_in``). Rows after the observation end are outside the window: left out and counted.

This module is the reference. The same summaries are computed out of core by DuckDB
(:mod:`clvmodels.engines.duckdb`, ``engine="duckdb"``, chosen by ``engine="auto"`` for files,
Arrow tables, Polars frames and DuckDB relations), with the same validation and messages.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .exceptions import DataWarning
from .units import RESOLUTIONS, normalize_resolution, normalize_unit, unit_days

__all__ = [
    "rfm_summary",
    "calibration_holdout_split",
    "validate_summary",
    "compress_patterns",
    "SummaryArrays",
]

InvalidPolicy = Literal["raise", "drop"]
DuplicatePolicy = Literal["keep", "drop", "raise"]

_NS_PER_DAY = 86_400 * 10**9

#: Dates are kept as int64 nanoseconds (pandas' range): the whole days inside it are supported.
DATE_MIN = pd.Timestamp("1677-09-22")
DATE_MAX = pd.Timestamp("2262-04-10")
_RANGE_TEXT = f"{DATE_MIN.date().isoformat()} to {DATE_MAX.date().isoformat()}"
#: Purchases of one customer further apart than this are flagged (two-digit years, typos).
MAX_SPAN_YEARS = 50
#: Rows dated this many days after observation_end are flagged (a wrong year?).
_FAR_FUTURE_DAYS = 366
ENGINES = ("auto", "pandas", "duckdb", "spark")


# --------------------------------------------------------------------------------------------
# validation of a transaction log
# --------------------------------------------------------------------------------------------


@dataclass
class _Problem:
    """One kind of fault: the rows having it (``mask``, or only their ``n`` for an engine)."""

    column: str
    reason: str
    fix: str
    mask: np.ndarray | None
    example: Any = None
    key: str = ""
    n: int | None = None

    @property
    def count(self) -> int:
        return int(self.mask.sum()) if self.n is None else self.n

    def describe(self) -> str:
        example = "" if self.example is None else f" (first: {self.example!r})"
        return f"column {self.column!r}: {self.count:,} rows {self.reason}{example}; {self.fix}"


@dataclass
class _Transactions:
    """A validated transaction log reduced to arrays."""

    ids: pd.Index  # customer id of each row (after exclusions)
    period: np.ndarray  # int64 period number (floor of the timestamp at the resolution)
    amount: np.ndarray | None  # float64 values, or None
    resolution: str
    report: dict[str, Any] = field(default_factory=dict)


def _closest(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def _check_columns(frame: pd.DataFrame, needed: dict[str, str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}.")
    _check_column_names(list(frame.columns), needed, what)


def _check_column_names(columns: list[Any], needed: dict[str, str], what: str) -> None:
    existing = [str(c) for c in columns]
    missing = [col for col in needed.values() if col not in columns]
    if missing:
        hints = "".join(_closest(col, existing) for col in missing)
        argnames = [arg for arg, col in needed.items() if col in missing]
        raise ValueError(
            f"{what} has no column {', '.join(repr(m) for m in missing)} "
            f"(columns present: {', '.join(repr(c) for c in existing) or 'none'}).{hints} "
            f"Rename the column or pass {', '.join(f'{a}=...' for a in argnames)}."
        )


def _to_timestamp(value: Any, name: str) -> pd.Timestamp:
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        raise ValueError(
            f"{name}={value!r} is a number, not a date; pass a date such as '2024-01-10' "
            "or a pandas Timestamp."
        )
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a date: {exc}.") from None
    if ts is pd.NaT:
        raise ValueError(f"{name} must be a date, got a missing value.")
    if ts.tz is not None:
        raise ValueError(
            f"{name}={value!r} is time-zone aware; pass a naive local date such as "
            f"{ts.tz_localize(None).date().isoformat()!r}."
        )
    if not DATE_MIN <= ts < DATE_MAX + pd.Timedelta(days=1):
        raise ValueError(
            f"{name}={value!r} is outside the supported range of dates ({_RANGE_TEXT}); "
            "check the year."
        )
    return ts.as_unit("ns")


def _period_of(ts: pd.Timestamp, resolution: str) -> int:
    return int(ts.as_unit("ns").value // RESOLUTIONS[resolution])


def _datetime_to_ns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 nanoseconds (NaT as int64 min) of datetime64 values of any unit, without wrapping.

    Returns the nanoseconds and the mask of dates outside ``DATE_MIN .. DATE_MAX`` (their
    nanoseconds are set to NaT: they are never converted, so they never wrap around).
    """
    values = np.asarray(values)
    nat = np.isnat(values)
    lo = np.datetime64(DATE_MIN.to_datetime64(), "D")
    hi = np.datetime64(DATE_MAX.to_datetime64(), "D") + np.timedelta64(1, "D")
    # compare at the values' own unit: a date typed with year 2300 must not wrap to 1715
    out = ~nat & ((values < lo) | (values >= hi))
    ns = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)
    ok = ~nat & ~out
    ns[ok] = values[ok].astype("datetime64[ns]").view(np.int64)
    return ns, out


def _parse_dates(col: pd.Series, name: str, date_format: str | None) -> tuple[np.ndarray, list[_Problem]]:
    """Return int64 nanoseconds (NaT as int64 min) and the problems found.

    The problems' keys: ``"unparseable"``, ``"out_of_range"``, ``"missing"``.
    """
    problems: list[_Problem] = []
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        raise ValueError(_tz_message(name, dtype.tz))
    missing = col.isna().to_numpy()
    if pd.api.types.is_datetime64_dtype(dtype):
        parsed = col
    else:
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            if date_format is None:
                raise ValueError(
                    f"column {name!r} holds numbers, not dates; if they are dates written as "
                    f"numbers pass date_format= (for example date_format='%Y%m%d'), otherwise "
                    f"convert the column with pd.to_datetime."
                )
            whole = col.dropna()
            if not np.all(np.mod(whole.to_numpy(dtype=np.float64), 1) == 0):
                raise ValueError(
                    f"column {name!r} holds numbers with a fractional part, which "
                    f"date_format={date_format!r} cannot read; convert the column with "
                    "pd.to_datetime first."
                )
            col = col.astype("Int64").astype(str)
        try:
            parsed = pd.to_datetime(col, format=date_format, errors="coerce")
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"column {name!r} could not be read as dates ({exc}); pass date_format= or "
                "convert the column with pd.to_datetime first."
            ) from None
        if isinstance(parsed.dtype, pd.DatetimeTZDtype) or not pd.api.types.is_datetime64_dtype(
            parsed.dtype
        ):
            raise ValueError(
                f"column {name!r} holds time-zone aware or mixed time-zone dates; convert it to "
                "naive local time first (tz_convert(...).dt.tz_localize(None))."
            )
        bad = parsed.isna().to_numpy() & ~missing
        if bad.any():
            first = col[bad].iloc[0]
            problems.append(
                _Problem(
                    name,
                    "have a date that cannot be parsed",
                    "pass date_format= (for example '%Y-%m-%d', or 'mixed' for mixed formats) "
                    "or correct those values",
                    bad,
                    first,
                    key="unparseable",
                )
            )
    ns, out = _datetime_to_ns(parsed.to_numpy())
    if out.any():
        problems.append(_out_of_range_problem(name, out, str(col[out].iloc[0])))
    if missing.any():
        problems.append(_Problem(name, "have a missing date", "fill or remove those rows", missing, key="missing"))
    return ns, problems


def _tz_message(name: str, tz: Any) -> str:
    return (
        f"column {name!r} is time-zone aware ({tz}); days must begin at the business's "
        f"own midnight, so convert it to naive local time first, for example "
        f"df[{name!r}].dt.tz_convert('Europe/Paris').dt.tz_localize(None)."
    )


def _out_of_range_problem(name: str, mask: np.ndarray | None, example: Any, n: int | None = None) -> _Problem:
    return _Problem(
        name,
        f"have a date outside the supported range ({_RANGE_TEXT})",
        "correct the year (a typo?) or remove those rows",
        mask,
        example,
        key="out_of_range",
        n=n,
    )


def _parse_amounts(col: pd.Series, name: str) -> tuple[np.ndarray, list[_Problem]]:
    """Return float64 amounts and the problems found.

    The problems' keys: ``"non_numeric"``, ``"missing"``, ``"infinite"``, ``"negative"``.
    """
    problems: list[_Problem] = []
    missing = col.isna().to_numpy()
    if pd.api.types.is_bool_dtype(col.dtype):
        raise ValueError(f"column {name!r} holds booleans, not monetary amounts.")
    if pd.api.types.is_numeric_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(values) & ~missing
        if bad.any():
            problems.append(_non_numeric_problem(name, bad, col[bad].iloc[0]))
    if missing.any():
        problems.append(_Problem(name, "have a missing amount", "fill or remove those rows", missing, key="missing"))
    with np.errstate(invalid="ignore"):
        infinite = np.isinf(values)
        negative = (values < 0) & ~infinite
    if infinite.any():
        problems.append(_Problem(name, "have an infinite amount", "correct or remove those rows", infinite, key="infinite"))
    if negative.any():
        problems.append(_negative_problem(name, negative, float(values[negative][0])))
    return values, problems


def _non_numeric_problem(name: str, mask: np.ndarray | None, example: Any, n: int | None = None) -> _Problem:
    return _Problem(
        name,
        "have a non-numeric amount",
        "clean the column (for example remove currency symbols and thousands "
        "separators) so that pd.to_numeric reads it",
        mask,
        example,
        key="non_numeric",
        n=n,
    )


def _negative_problem(name: str, mask: np.ndarray | None, example: Any, n: int | None = None) -> _Problem:
    return _Problem(
        name,
        "have a negative amount (returns or refunds)",
        "net returns against the purchases they refund, or remove those rows",
        mask,
        example,
        key="negative",
        n=n,
    )


def _duplicate_problem(cols: list[str], mask: np.ndarray | None, n: int | None = None) -> _Problem:
    return _Problem(
        cols[0],
        f"duplicate an earlier row in ({', '.join(cols)})",
        "remove them, or pass duplicates='keep' if they are genuine repeat purchases",
        mask,
        key="duplicate",
        n=n,
    )


def _check_policies(invalid: Any, duplicates: Any) -> None:
    if invalid not in ("raise", "drop"):
        raise ValueError(f"invalid={invalid!r}; use 'raise' or 'drop'.")
    if duplicates not in ("keep", "drop", "raise"):
        raise ValueError(f"duplicates={duplicates!r}; use 'keep', 'drop' or 'raise'.")


def _raise_invalid(problems: list[_Problem], n_rows: int) -> None:
    lines = "\n  - ".join(p.describe() for p in problems)
    raise ValueError(
        f"Invalid transactions ({n_rows:,} rows):\n  - {lines}.\n"
        "Pass invalid='drop' to exclude such rows with a warning."
    )


def _late_reason(end_period: int, resolution: str) -> str:
    end = pd.Timestamp(end_period * RESOLUTIONS[resolution], unit="ns")
    text = end.date().isoformat() if resolution == "D" else end.isoformat()
    return f"dated after observation_end ({text}): outside the window"


def _exclusion_report(
    *,
    n_rows: int,
    problems: list[_Problem],
    first_fault: dict[str, int],
    n_invalid: int,
    n_late: int,
    n_far: int,
    latest: Any,
    end_period: int | None,
    resolution: str,
    stacklevel: int,
) -> dict[str, Any]:
    """The report of excluded rows, and the warnings, shared by every engine.

    ``first_fault`` counts each invalid row once, under its first fault in the order of
    ``problems``; ``n_invalid`` is its sum, ``n_late`` the valid rows after the observation end.
    """
    dropped = {reason: n for reason, n in first_fault.items() if n}
    faults: dict[str, int] = {}
    for p in problems:
        faults[p.reason] = faults.get(p.reason, 0) + p.count
    if n_late:
        dropped[_late_reason(end_period, resolution)] = n_late
    used = n_rows - n_invalid - n_late
    report: dict[str, Any] = {
        "rows_in": n_rows,
        "rows_used": used,
        "rows_dropped": n_invalid + n_late,
        "rows_invalid": n_invalid,
        "rows_after_observation_end": n_late,
        "dropped": dropped,
        "faults": faults,
    }
    if used == 0:
        if problems:
            raise ValueError(
                "Every row of transactions is invalid"
                + (f" or dated after observation_end ({n_late:,} rows)" if n_late else "")
                + ":\n  - " + "\n  - ".join(p.describe() for p in problems) + "."
            )
        raise ValueError(
            f"Every row of transactions ({n_rows:,}) is dated after observation_end "
            f"({_late_reason(end_period, resolution).split('(')[1].split(')')[0]}); "
            "move observation_end later."
        )
    if problems:
        overlap = sum(p.count for p in problems) - n_invalid
        late = f", {n_late:,} dated after observation_end are outside the window" if n_late else ""
        warnings.warn(
            f"Excluded {n_invalid:,} of {n_rows:,} transaction rows: "
            + "; ".join(f"{p.count:,} in column {p.column!r} {p.reason}" for p in problems)
            + (f" ({overlap:,} rows have more than one fault and are counted once)" if overlap else "")
            + f". {used:,} rows used{late}. The counts are in result.attrs['report'].",
            DataWarning,
            stacklevel=stacklevel,
        )
    if n_far:
        warnings.warn(
            f"{n_far:,} rows are dated more than a year after observation_end "
            f"({_late_reason(end_period, resolution).split('(')[1].split(')')[0]}), the latest "
            f"{latest}; they are outside the window and left out, but check their dates "
            "(a wrong year?).",
            DataWarning,
            stacklevel=stacklevel,
        )
    return report


def _first_fault_counts(problems: list[_Problem], n_rows: int) -> tuple[dict[str, int], np.ndarray]:
    """Count each row once, under its first fault; return the counts and the mask of bad rows."""
    bad = np.zeros(n_rows, dtype=bool)
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.reason] = counts.get(p.reason, 0) + int((p.mask & ~bad).sum())
        bad |= p.mask
    return counts, bad


def _validate_transactions(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    date_format: str | None,
    observation_end: Any,
    time_unit: str,
    resolution: str | None,
    invalid: InvalidPolicy,
    duplicates: DuplicatePolicy,
) -> tuple[_Transactions, int]:
    """Validate a transaction log; return its arrays and the period of the observation end.

    Rows dated after ``observation_end`` are outside the window: left out and counted, not
    invalid. Every excluded row is counted once (``report["dropped"]``, by its first fault) and
    each fault separately (``report["faults"]``), so that used + dropped = read.
    """
    _check_policies(invalid, duplicates)
    normalize_unit(time_unit)
    resolution = normalize_resolution(resolution, time_unit)
    needed = {"customer_col": customer_col, "date_col": date_col}
    if amount_col is not None:
        needed["amount_col"] = amount_col
    _check_columns(transactions, needed, "transactions")
    n_rows = len(transactions)
    if n_rows == 0:
        raise ValueError("transactions is empty (0 rows); there is nothing to summarise.")
    end_period: int | None = None  # without observation_end: the last purchase kept (below)
    if observation_end is not None:
        end_period = _period_of(_to_timestamp(observation_end, "observation_end"), resolution)

    ids = transactions[customer_col]
    problems: list[_Problem] = []
    missing_id = ids.isna().to_numpy()
    if missing_id.any():
        problems.append(_Problem(customer_col, "have a missing customer id", "fill or remove those rows", missing_id, key="missing_id"))
    ns, date_problems = _parse_dates(transactions[date_col], date_col, date_format)
    problems += date_problems
    amount = None
    if amount_col is not None:
        amount, amount_problems = _parse_amounts(transactions[amount_col], amount_col)
        problems += amount_problems

    res_ns = RESOLUTIONS[resolution]
    nat = ns == np.iinfo(np.int64).min
    period = np.floor_divide(ns, res_ns)
    if observation_end is None and nat.all():
        raise ValueError(f"column {date_col!r} has no valid date.")
    if problems and invalid == "raise":
        _raise_invalid(problems, n_rows)
    if duplicates != "keep":
        cols = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
        dup = transactions.duplicated(subset=cols, keep="first").to_numpy()
        if dup.any():
            problems.append(_duplicate_problem(cols, dup))
            if duplicates == "raise":
                raise ValueError("Invalid transactions: " + problems[-1].describe() + ".")

    first_fault, bad = _first_fault_counts(problems, n_rows)
    late = np.zeros(n_rows, dtype=bool)
    n_far, latest = 0, None
    if end_period is not None:
        late = (period > end_period) & ~bad
        far = late & (period - end_period > _FAR_FUTURE_DAYS * _NS_PER_DAY // res_ns)
        n_far = int(far.sum())
        if n_far:
            latest = str(pd.Timestamp(int(ns[far].max()), unit="ns"))
    elif bad.all():
        _exclusion_report(n_rows=n_rows, problems=problems, first_fault=first_fault, n_invalid=n_rows,
                          n_late=0, n_far=0, latest=None, end_period=None, resolution=resolution, stacklevel=4)
    keep = ~bad & ~late
    if end_period is None:
        end_period = int(period[keep].max())
    report = _exclusion_report(
        n_rows=n_rows, problems=problems, first_fault=first_fault, n_invalid=int(bad.sum()),
        n_late=int(late.sum()), n_far=n_far, latest=latest, end_period=end_period,
        resolution=resolution, stacklevel=4,
    )
    if not keep.all():
        ids = ids[keep]
        period = period[keep]
        if amount is not None:
            amount = amount[keep]
    if amount is not None:
        report["zero_amount_rows"] = int(np.sum(amount == 0))
    return _Transactions(pd.Index(ids), period, amount, resolution, report), end_period


# --------------------------------------------------------------------------------------------
# the summary itself (vectorised: one sort, no Python loop over customers)
# --------------------------------------------------------------------------------------------


def _factorize_customers(ids: pd.Index) -> tuple[np.ndarray, pd.Index]:
    try:
        codes, uniques = pd.factorize(ids, sort=True)
    except TypeError:  # ids of mixed, unorderable types: keep first-seen order
        codes, uniques = pd.factorize(ids, sort=False)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def _per_customer(
    codes: np.ndarray, period: np.ndarray, amount: np.ndarray | None, n_customers: int
) -> dict[str, np.ndarray]:
    """Merge rows into (customer, period) transactions and reduce them per customer.

    ``codes`` are in ``range(n_customers)``; customers with no row get a count of 0.
    Returns the number of distinct periods, the first and last period, and (with amounts) the
    value of the first transaction and the total value of the later ones.
    """
    out: dict[str, np.ndarray] = {}
    if len(codes) == 0:
        zeros = np.zeros(n_customers, dtype=np.int64)
        out.update(count=zeros, first=zeros.copy(), last=zeros.copy())
        if amount is not None:
            out.update(first_value=np.zeros(n_customers), repeat_value=np.zeros(n_customers))
        return out
    pmin = int(period.min())
    span = int(period.max()) - pmin + 1
    key = codes * span + (period - pmin)
    if amount is None:
        skey = np.sort(key)
    else:
        order = np.argsort(key)
        skey = key[order]
    starts = np.flatnonzero(np.concatenate(([True], skey[1:] != skey[:-1])))
    ukey = skey[starts]
    cust = ukey // span
    uper = ukey - cust * span + pmin
    count = np.bincount(cust, minlength=n_customers)
    present = count > 0
    cstart = np.zeros(n_customers, dtype=np.int64)
    cstart[1:] = np.cumsum(count)[:-1]
    first = np.zeros(n_customers, dtype=np.int64)
    last = np.zeros(n_customers, dtype=np.int64)
    first[present] = uper[cstart[present]]
    last[present] = uper[cstart[present] + count[present] - 1]
    out.update(count=count, first=first, last=last)
    if amount is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused by the caller
            value = np.add.reduceat(amount[order], starts)
            first_value = np.zeros(n_customers)
            first_value[present] = value[cstart[present]]
            value[cstart[present]] = 0.0
            repeat_value = np.bincount(cust, weights=value, minlength=n_customers)
        out.update(first_value=first_value, repeat_value=repeat_value)
    return out


def _mean_or_zero(total: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.divide(total, n, out=np.zeros_like(total, dtype=np.float64), where=n > 0)


def _shown_id(value: Any) -> Any:
    """A customer id as the user wrote it (``3``, not ``np.int64(3)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_finite_values(
    customers: pd.Index, per: dict[str, np.ndarray], amount_col: str | None, what: str = ""
) -> None:
    """Refuse per-customer totals that overflowed (two amounts of 1e308 on one day)."""
    if "repeat_value" not in per:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = per["first_value"] + per["repeat_value"] if what else per["repeat_value"]
    bad = ~np.isfinite(per["first_value"]) | ~np.isfinite(total)
    if bad.any():
        raise ValueError(
            f"column {amount_col!r}: the amounts of {int(bad.sum()):,} customers add up to more than "
            f"the largest floating-point number{what} (first: customer {_shown_id(customers[np.argmax(bad)])!r}); "
            "amounts this large are not money: check the column's unit and parsing, or remove those rows."
        )


def _check_spans(customers: pd.Index, per: dict[str, np.ndarray], resolution: str, stacklevel: int) -> None:
    """Flag customers whose purchases lie implausibly far apart (two-digit years, typos)."""
    res_ns = RESOLUTIONS[resolution]
    limit = int(MAX_SPAN_YEARS * 365.25 * _NS_PER_DAY) // res_ns
    long = (per["count"] > 0) & (per["last"] - per["first"] > limit)
    if long.any():
        i = int(np.argmax(long))
        first, last = (pd.Timestamp(int(per[k][i]) * res_ns, unit="ns").date().isoformat() for k in ("first", "last"))
        warnings.warn(
            f"{int(long.sum()):,} customers have purchases more than {MAX_SPAN_YEARS} years apart (first: "
            f"customer {_shown_id(customers[i])!r}, from {first} to {last}); check the dates: two-digit years are "
            "read as 1969-2068 ('12/30/68' becomes 2068, '01/05/69' 1969), so pass date_format= with "
            "a four-digit year ('%Y') or correct those dates.",
            DataWarning,
            stacklevel=stacklevel,
        )


def _summary_frame(
    customers: pd.Index,
    per: dict[str, np.ndarray],
    end_period: int,
    divisor: float,
    index_name: str,
    *,
    resolution: str = "D",
    amount_col: str | None = None,
    stacklevel: int = 4,
) -> pd.DataFrame:
    _check_finite_values(customers, per, amount_col)
    _check_spans(customers, per, resolution, stacklevel)
    frequency = per["count"] - 1
    columns: dict[str, np.ndarray] = {
        "frequency": frequency,
        "recency": (per["last"] - per["first"]) / divisor,
        "T": (end_period - per["first"]) / divisor,
    }
    if "repeat_value" in per:
        columns["monetary_value"] = _mean_or_zero(per["repeat_value"], frequency)
        free = int(np.sum((frequency > 0) & (per["repeat_value"] <= 0)))
        if free:
            warnings.warn(
                f"{free:,} customers with repeat purchases have a monetary_value of 0 (all their "
                "repeat transactions are worth 0); Gamma-Gamma cannot use them: drop them "
                "before fitting spend.",
                DataWarning,
                stacklevel=stacklevel,
            )
    frame = pd.DataFrame(columns, index=customers)
    frame.index.name = index_name
    return frame


def _attrs(time_unit: str, resolution: str, end_period: int, report: dict[str, Any]) -> dict[str, Any]:
    end = pd.Timestamp(end_period * RESOLUTIONS[resolution], unit="ns")
    return {
        "time_unit": normalize_unit(time_unit),
        "resolution": resolution,
        "observation_end": end.isoformat(),
        "report": report,
    }


def _divisor(time_unit: str, resolution: str) -> float:
    return unit_days(time_unit) * _NS_PER_DAY / RESOLUTIONS[resolution]


def _rfm_frame(
    customers: pd.Index, per: dict[str, np.ndarray], end_period: int, *, time_unit: str, resolution: str,
    report: dict[str, Any], customer_col: str, amount_col: str | None, stacklevel: int = 5,
) -> pd.DataFrame:
    """The :func:`rfm_summary` result from per-customer integer periods (shared by the engines)."""
    frame = _summary_frame(customers, per, end_period, _divisor(time_unit, resolution), customer_col,
                           resolution=resolution, amount_col=amount_col, stacklevel=stacklevel)
    report["customers"] = len(frame)
    frame.attrs = _attrs(time_unit, resolution, end_period, report)
    return frame


def _check_split_periods(cal_period: int, end_period: int, cal_ts: pd.Timestamp, end_ts: pd.Timestamp | None) -> None:
    if cal_period >= end_period:
        end_text = end_ts.isoformat() if end_ts is not None else "the last purchase"
        raise ValueError(
            f"calibration_end ({cal_ts.isoformat()}) must be before observation_end "
            f"({end_text}); nothing would be left for the holdout."
        )


def _no_calibration_purchase(cal_ts: pd.Timestamp) -> ValueError:
    return ValueError(
        f"no purchase is dated on or before calibration_end ({cal_ts.isoformat()}); move "
        "calibration_end= later."
    )


def _split_frame(
    customers: pd.Index, per: dict[str, np.ndarray], hold: dict[str, np.ndarray], cal_period: int,
    end_period: int, *, time_unit: str, resolution: str, report: dict[str, Any], customer_col: str,
    amount_col: str | None, first_seen_in_holdout: int, stacklevel: int = 5,
) -> pd.DataFrame:
    """The :func:`calibration_holdout_split` result (shared by the engines)."""
    divisor = _divisor(time_unit, resolution)
    _check_finite_values(customers, hold, amount_col, what=" in the holdout period")
    frame = _summary_frame(customers, per, cal_period, divisor, customer_col,
                           resolution=resolution, amount_col=amount_col, stacklevel=stacklevel)
    frame["frequency_holdout"] = hold["count"]
    if "repeat_value" in hold:
        frame["monetary_value_holdout"] = _mean_or_zero(hold["repeat_value"] + hold["first_value"], hold["count"])
    frame["duration_holdout"] = (end_period - cal_period) / divisor
    report["customers"] = len(frame)
    report["customers_first_seen_in_holdout"] = int(first_seen_in_holdout)
    frame.attrs = _attrs(time_unit, resolution, cal_period, report)
    frame.attrs["calibration_end"] = frame.attrs.pop("observation_end")
    frame.attrs["observation_end"] = pd.Timestamp(end_period * RESOLUTIONS[resolution], unit="ns").isoformat()
    return frame


def _choose_engine(transactions: Any, engine: str) -> str:
    """``"pandas"``, ``"duckdb"`` or ``"spark"`` for ``transactions`` (see :func:`rfm_summary`, ``engine``)."""
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}; use one of {', '.join(repr(e) for e in ENGINES)}.")
    if engine == "spark" or (engine == "auto" and type(transactions).__module__.startswith("pyspark")):
        return "spark"  # clvmodels.spark, imported only then
    if engine == "pandas":
        if not isinstance(transactions, pd.DataFrame):
            raise TypeError(
                f"transactions must be a pandas DataFrame with engine='pandas', got "
                f"{type(transactions).__name__}; pass engine='auto' or 'duckdb' to read files, "
                "Arrow tables, Polars frames or DuckDB relations."
            )
        return "pandas"
    if engine == "duckdb" or not isinstance(transactions, pd.DataFrame):
        return "duckdb"
    return "pandas"


def rfm_summary(
    transactions: Any,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    observation_end: Any = None,
    time_unit: str = "D",
    resolution: str | None = None,
    date_format: str | None = None,
    invalid: InvalidPolicy = "raise",
    duplicates: DuplicatePolicy = "keep",
    engine: str = "auto",
    memory_limit: int | str | None = None,
    temp_directory: str | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Summarise a transaction log into frequency, recency, T (and monetary value) per customer.

    Parameters
    ----------
    transactions : DataFrame, path, DuckDB relation, Arrow table or Polars frame
        One row per purchase. It is read, never modified. A path may name a Parquet or CSV
        file, a directory of them or a glob (``"exports/*.parquet"``); those and the other
        non-pandas inputs are summarised by DuckDB (see ``engine``).
    customer_col, date_col : str
        Columns holding the customer id and the purchase time (datetime64, or strings that
        ``pd.to_datetime`` reads with ``date_format``). Time-zone aware dates are refused: convert
        them to naive local time so that days begin at the business's midnight.
    amount_col : str, optional
        Column of purchase values. When given, ``monetary_value`` is returned.
    observation_end : date-like, optional
        Last instant observed; the whole period (day or hour) containing it is included. Defaults
        to the last purchase in the data. Rows after it are outside the window: they are left
        out and counted (``attrs["report"]["rows_after_observation_end"]``); rows more than a
        year after it also raise a :class:`~clvmodels.exceptions.DataWarning` (a wrong year?).
    time_unit : {"h", "D", "W", "M", "Y"}
        Unit of ``recency`` and ``T`` (see :mod:`clvmodels.units`; a month is 30.4375 days).
    resolution : {"D", "h"}, optional
        Period in which one customer's purchases merge into one transaction: calendar days,
        or clock hours when ``time_unit="h"``.
    date_format : str, optional
        Passed to ``pd.to_datetime`` (``format=``) when the dates are strings or numbers.
    invalid : {"raise", "drop"}
        What to do with invalid rows (missing ids or dates, unparseable dates, dates outside
        1677-09-22 to 2262-04-10, non-numeric, infinite or negative amounts (returns)): raise a
        ``ValueError`` that counts them, or exclude them with a
        :class:`~clvmodels.exceptions.DataWarning`. A row with several faults is excluded and
        counted once (``attrs["report"]["dropped"]``, under its first fault; each fault is
        counted in ``["faults"]``), so that ``rows_used`` plus the dropped rows is ``rows_in``.
        Zero amounts are valid purchases (free items: the CDNOW sample has 8 first purchases
        worth $0); they are counted in ``attrs["report"]["zero_amount_rows"]``.
    duplicates : {"keep", "drop", "raise"}
        Rows identical in customer, date and amount. ``"keep"`` counts them as separate purchases
        (within one period their values add up, as in the CDNOW data); ``"drop"`` excludes them
        with a :class:`~clvmodels.exceptions.DataWarning` (whatever ``invalid`` is);
        ``"raise"`` refuses them.
    progress : bool, optional
        ``False``: silent. By default a progress bar in a terminal or notebook when the summary
        takes more than two seconds, and a log line in batch jobs (:mod:`clvmodels.progress`).
    engine : {"auto", "pandas", "duckdb", "spark"}
        ``"pandas"`` (the reference) for a DataFrame; ``"duckdb"`` reads the data in DuckDB, with
        the same validation, messages and results (``frequency``, ``recency`` and ``T``
        identical, ``monetary_value`` to rounding) and returns pandas. ``"spark"`` computes the
        summary of a Spark DataFrame in Spark and returns a Spark DataFrame
        (:func:`clvmodels.spark.rfm_summary`, which also takes ``time_zone=``). ``"auto"``: pandas
        for a pandas DataFrame, Spark for a Spark DataFrame, DuckDB for anything else.
    memory_limit : int or str, optional
        DuckDB only: its memory limit (bytes, or a string such as ``"2GB"``); by default 40% of
        the machine's memory. Beyond it DuckDB spills to ``temp_directory``.
    temp_directory : str, optional
        DuckDB only: where it spills (by default a temporary directory, removed afterwards).

    Returns
    -------
    DataFrame
        Indexed by customer id (sorted), with ``frequency`` (int), ``recency`` and ``T`` (float,
        in ``time_unit``) and, with amounts, ``monetary_value`` (mean value of the repeat
        transactions, 0 when ``frequency`` is 0). ``attrs`` records the time unit, the
        resolution, the observation end and a report of rows used and dropped.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
    way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284, section 2.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 1, 2],
    ...                     "date": pd.to_datetime(["2024-01-01", "2024-01-01",
    ...                                             "2024-01-15", "2024-01-08"]),
    ...                     "amount": [10.0, 5.0, 20.0, 7.0]})
    >>> rfm_summary(log, amount_col="amount", observation_end="2024-01-29", time_unit="W")
                 frequency  recency    T  monetary_value
    customer_id
    1                    1      2.0  4.0            20.0
    2                    0      0.0  3.0             0.0
    """
    options = dict(
        customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
        observation_end=observation_end, time_unit=time_unit, resolution=resolution,
        invalid=invalid, duplicates=duplicates,
    )
    from .progress import progress as show_progress

    chosen = _choose_engine(transactions, engine)
    if chosen == "spark":
        from . import spark

        return spark._summarize(transactions, **options, time_zone=None, persist=True, stacklevel=4)
    if chosen == "duckdb":
        from .engines.duckdb import summarize

        with show_progress(1, "summary (DuckDB)", unit="queries", enabled=progress) as bar:
            summary = summarize(transactions, **options, memory_limit=memory_limit, temp_directory=temp_directory)
            bar.update()
        return summary
    with show_progress(3, "summary", unit="steps", enabled=progress) as bar:
        tx, end_period = _validate_transactions(transactions, **options)
        bar.update()  # dates and amounts parsed and checked
        codes, customers = _factorize_customers(tx.ids)
        per = _per_customer(codes, tx.period, tx.amount, len(customers))
        bar.update()  # grouped by customer
        summary = _rfm_frame(customers, per, end_period, time_unit=time_unit, resolution=tx.resolution,
                             report=tx.report, customer_col=customer_col, amount_col=amount_col)
        bar.update()
    return summary


def calibration_holdout_split(
    transactions: Any,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    time_unit: str = "D",
    resolution: str | None = None,
    date_format: str | None = None,
    invalid: InvalidPolicy = "raise",
    duplicates: DuplicatePolicy = "keep",
    engine: str = "auto",
    memory_limit: int | str | None = None,
    temp_directory: str | None = None,
) -> pd.DataFrame:
    """Summarise a calibration period and count what each customer did in the holdout after it.

    Customers whose first purchase falls after ``calibration_end`` are not in the result (the
    models condition on a customer's first purchase); their number is in
    ``attrs["report"]["customers_first_seen_in_holdout"]``.

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase; see :func:`rfm_summary` for the column arguments.
    calibration_end : date-like
        Last instant of the calibration period (its whole day or hour is included).
    observation_end : date-like, optional
        End of the holdout period; defaults to the last purchase in the data. Must be after
        ``calibration_end``.
    customer_col, date_col, amount_col, time_unit, resolution, date_format, invalid, duplicates
        As in :func:`rfm_summary`.
    engine, memory_limit, temp_directory
        As in :func:`rfm_summary`.

    Returns
    -------
    DataFrame
        The :func:`rfm_summary` columns over the calibration period, plus ``frequency_holdout``
        (transactions in the holdout), ``monetary_value_holdout`` (their mean value, 0 when
        there are none; only with ``amount_col``) and ``duration_holdout`` (its length in
        ``time_unit``).

    Examples
    --------
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> split = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                   observation_end="1998-06-30", time_unit="W")
    >>> split[["frequency", "frequency_holdout"]].sum().tolist()
    [2457, 1882]
    >>> round(float(split["duration_holdout"].iloc[0]), 2)
    39.0
    """
    end_ts = None if observation_end is None else _to_timestamp(observation_end, "observation_end")
    cal_ts = _to_timestamp(calibration_end, "calibration_end")
    options = dict(
        customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
        observation_end=observation_end, time_unit=time_unit, resolution=resolution,
        invalid=invalid, duplicates=duplicates,
    )
    chosen = _choose_engine(transactions, engine)
    if chosen == "spark":
        from . import spark

        return spark._split(transactions, calibration_end=calibration_end, **options, time_zone=None, persist=True,
                            stacklevel=4)
    if chosen == "duckdb":
        from .engines.duckdb import split

        return split(transactions, calibration_end=cal_ts, **options, memory_limit=memory_limit,
                     temp_directory=temp_directory)
    tx, end_period = _validate_transactions(transactions, **options)
    cal_period = _period_of(cal_ts, tx.resolution)
    _check_split_periods(cal_period, end_period, cal_ts, end_ts)
    in_cal = tx.period <= cal_period
    if not in_cal.any():
        raise _no_calibration_purchase(cal_ts)
    codes, customers = _factorize_customers(tx.ids[in_cal])
    n = len(customers)
    cal_amount = None if tx.amount is None else tx.amount[in_cal]
    per = _per_customer(codes, tx.period[in_cal], cal_amount, n)
    hold_codes = customers.get_indexer(tx.ids[~in_cal]).astype(np.int64)
    known = hold_codes >= 0
    hold_amount = None if tx.amount is None else tx.amount[~in_cal][known]
    hold = _per_customer(hold_codes[known], tx.period[~in_cal][known], hold_amount, n)
    return _split_frame(
        customers, per, hold, cal_period, end_period, time_unit=time_unit, resolution=tx.resolution,
        report=tx.report, customer_col=customer_col, amount_col=amount_col,
        first_seen_in_holdout=pd.Index(tx.ids[~in_cal][~known]).nunique(),
    )


# --------------------------------------------------------------------------------------------
# summaries given to the models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryArrays:
    """Validated per-customer arrays taken from a summary DataFrame (see :func:`validate_summary`).

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [2, 0], "recency": [30.4, 0.0], "T": [38.9, 38.9]})
    >>> arrays = validate_summary(summary)
    >>> arrays.frequency.tolist(), arrays.monetary_value is None
    ([2.0, 0.0], True)
    """

    index: pd.Index
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray | None = None


def _numeric_column(data: pd.DataFrame, col: str) -> np.ndarray:
    series = data[col]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise ValueError(
            f"column {col!r} must be numeric, got dtype {series.dtype}; convert it with "
            "pd.to_numeric."
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"column {col!r}: {int(bad.sum()):,} rows are missing or infinite; drop or fill them "
            "(rfm_summary never produces them)."
        )
    return values


def _require(ok: np.ndarray, message: str) -> None:
    bad = int((~ok).sum())
    if bad:
        raise ValueError(message.format(n=f"{bad:,}"))


def validate_summary(
    data: pd.DataFrame,
    *,
    monetary: bool = False,
    what: str = "data",
    discrete: bool = False,
) -> SummaryArrays:
    """Check a per-customer summary and return its columns as float arrays.

    Parameters
    ----------
    data : DataFrame
        Columns ``frequency``, ``recency``, ``T`` (and ``monetary_value`` when ``monetary``),
        as made by :func:`rfm_summary`.
    monetary : bool
        Also require a ``monetary_value`` column, positive where ``frequency > 0``.
    what : str
        Name of the argument, for error messages.
    discrete : bool
        A summary in discrete occasions (BG/BB; :func:`clvmodels.discrete_summary`): columns
        ``frequency`` (occasions with a transaction after the first), ``recency`` (the occasion
        of the last one, counted from the first) and ``n_periods`` (occasions observed after the
        first), whole numbers with ``frequency <= recency <= n_periods``. ``n_periods`` is
        returned as ``T``.

    Raises
    ------
    ValueError
        Naming the column, the number of bad rows and the fix: missing columns, non-numeric or
        missing values, a negative or fractional frequency, recency outside [0, T], a
        positive recency with zero frequency, a non-positive monetary value.

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [2, 0], "recency": [30.4, 0.0], "T": [38.9, 38.9]})
    >>> validate_summary(summary).T.tolist()
    [38.9, 38.9]
    >>> validate_summary(summary.assign(recency=[45.0, 0.0]))
    Traceback (most recent call last):
    ...
    ValueError: column 'recency': 1 rows exceed T; check that both are in the same time unit and that observation_end is after every purchase.
    """
    age = "n_periods" if discrete else "T"
    needed = {"frequency": "frequency", "recency": "recency", age: age}
    if monetary:
        needed["monetary_value"] = "monetary_value"
    if discrete and isinstance(data, pd.DataFrame) and "n_periods" not in data.columns and "T" in data.columns:
        raise ValueError(
            f"{what} is a summary in continuous time (column 'T'), but this model counts discrete occasions (column "
            "'n_periods'): summarise the transactions with clvmodels.discrete_summary(..., occasion='Y') (command line: "
            "clvmodels summarize --occasions --time-unit Y)."
        )
    _check_columns(data, needed, what)
    if len(data) == 0:
        raise ValueError(f"{what} is empty (0 customers); there is nothing to fit.")
    x = _numeric_column(data, "frequency")
    t_x = _numeric_column(data, "recency")
    T = _numeric_column(data, age)
    if discrete:
        _check_occasions(x, t_x, T)
    else:
        _require((x >= 0) & (x == np.round(x)), "column 'frequency': {n} rows are negative or not whole numbers; frequency counts repeat transactions.")
        _require(t_x >= 0, "column 'recency': {n} rows are negative; recency is the time from the first to the last purchase.")
        _require(T >= 0, "column 'T': {n} rows are negative; T is the time from the first purchase to the end of observation.")
        _require(t_x <= T * (1 + 1e-12) + 1e-12, "column 'recency': {n} rows exceed T; check that both are in the same time unit and that observation_end is after every purchase.")
        _require((x > 0) | (t_x == 0), "column 'recency': {n} rows are positive while frequency is 0; with no repeat purchase recency must be 0.")
        t_x = np.minimum(t_x, T)
    m = None
    if monetary:
        m = _numeric_column(data, "monetary_value")
        _require((x == 0) | (m > 0), "column 'monetary_value': {n} customers with repeat purchases have a zero or negative monetary value; Gamma-Gamma needs positive spend (net out returns first).")
    return SummaryArrays(data.index, x, t_x, T, m)


def _check_occasions(x: np.ndarray, t_x: np.ndarray, n: np.ndarray) -> None:
    """The checks of a summary in discrete occasions (``n_periods`` for ``T``).

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [3, 0], "recency": [5, 0], "n_periods": [6, 6]})
    >>> validate_summary(summary, discrete=True).T.tolist()
    [6.0, 6.0]
    >>> validate_summary(summary.assign(recency=[2, 0]), discrete=True)
    Traceback (most recent call last):
    ...
    ValueError: column 'recency': 1 rows are below frequency; in occasions, x repeat transactions need at least x occasions after the first, so recency (the last one's occasion) >= frequency. Check that the summary counts distinct occasions (clvmodels.discrete_summary).
    """
    for name, values in (("frequency", x), ("recency", t_x), ("n_periods", n)):
        _require((values >= 0) & (values == np.round(values)), f"column {name!r}: {{n}} rows are negative or not whole numbers; "
                 "in discrete time frequency, recency and n_periods count occasions.")
    _require(t_x <= n, "column 'recency': {n} rows exceed n_periods; the last transaction's occasion cannot be after the last occasion observed.")
    _require(x <= t_x, "column 'recency': {n} rows are below frequency; in occasions, x repeat transactions need at least x occasions "
             "after the first, so recency (the last one's occasion) >= frequency. Check that the summary counts distinct "
             "occasions (clvmodels.discrete_summary).")


def compress_patterns(*columns: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Group identical rows of several columns.

    Parameters
    ----------
    *columns : array_like
        Arrays of equal length ``N``.

    Returns
    -------
    uniques : tuple of ndarray
        The distinct rows, one array per column, each of length ``P``.
    weights : ndarray of float64
        How many of the ``N`` rows each distinct row stands for.
    inverse : ndarray of int64
        For each of the ``N`` rows, the index of its distinct row.

    Examples
    --------
    >>> (x, t), w, inv = compress_patterns(np.array([0, 1, 0]), np.array([0.0, 2.0, 0.0]))
    >>> x.tolist(), t.tolist(), w.tolist(), inv.tolist()
    ([0, 1], [0.0, 2.0], [2.0, 1.0], [0, 1, 0])
    """
    arrays = [np.asarray(c) for c in columns]
    n = len(arrays[0])
    group = np.zeros(n, dtype=np.int64)
    n_groups = 1
    for arr in arrays:
        codes, uniques = pd.factorize(arr, use_na_sentinel=False)
        group, _ = pd.factorize(group * len(uniques) + codes)
        n_groups = int(group.max()) + 1 if n else 0
    weights = np.bincount(group, minlength=n_groups).astype(np.float64)
    first = np.empty(n_groups, dtype=np.int64)
    first[group[::-1]] = np.arange(n - 1, -1, -1)
    return tuple(arr[first] for arr in arrays), weights, group.astype(np.int64, copy=False)
