"""Customer attributes derived from the transaction log, to report the forecast by segment.

:func:`acquisition_cohorts` gives each customer the calendar month, quarter or year of their
first purchase; :func:`join_attributes` joins an attribute table (channel, region, covariates) to
a summary, checking that every customer has exactly one row. The table is indexed by customer id, like :func:`clvmodels.rfm_summary`, so it is
given to :func:`clvmodels.forecast` as ``segments=`` directly, or joined to other attribute
columns first (``attributes.join(cohorts)``); :meth:`clvmodels.Forecast.segment_summary` then
reports CLV by cohort with intervals computed draw by draw, and
:func:`clvmodels.plotting.plot_cohorts` draws it.

The log is validated and its dates are read exactly as :func:`clvmodels.rfm_summary` reads them
(same helpers, same messages, same ``invalid=`` policy), with the calendar day as resolution: a
customer's cohort is the period of the day of their first valid purchase on or before
``observation_end``.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an
alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284 (the CDNOW cohort: the
customers whose first purchase was in the first quarter of 1997).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .data import InvalidPolicy, _factorize_customers, _per_customer, _validate_transactions
from .units import RESOLUTIONS

__all__ = ["acquisition_cohorts", "join_attributes", "COHORT_FREQUENCIES"]

#: Cohort lengths: calendar month, calendar quarter (January to March is Q1), calendar year.
COHORT_FREQUENCIES = {"M": "calendar month", "Q": "calendar quarter", "Y": "calendar year"}


def _labels(keys: np.ndarray, freq: str) -> list[str]:
    """Labels of period numbers counted from January 1970 (months, quarters or years)."""
    keys = keys.astype(np.int64)
    if freq == "M":
        return [f"{1970 + k // 12:04d}-{k % 12 + 1:02d}" for k in keys.tolist()]
    if freq == "Q":
        return [f"{1970 + k // 4:04d}Q{k % 4 + 1}" for k in keys.tolist()]
    return [f"{1970 + k:04d}" for k in keys.tolist()]


def acquisition_cohorts(
    transactions: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    freq: Literal["M", "Q", "Y"] = "M",
    observation_end: Any = None,
    date_format: str | None = None,
    invalid: InvalidPolicy = "raise",
) -> pd.DataFrame:
    """Each customer's acquisition cohort: the month, quarter or year of their first purchase.

    Parameters
    ----------
    transactions : DataFrame
        The raw transaction log, one row per purchase (the one given to
        :func:`clvmodels.rfm_summary`). It is read, never modified.
    customer_col, date_col : str
        Columns holding the customer id and the purchase time, read as
        :func:`clvmodels.rfm_summary` reads them.
    freq : {"M", "Q", "Y"}
        Cohort length: calendar month (label ``"1997-01"``), calendar quarter (``"1997Q1"``, the
        first quarter being January to March) or calendar year (``"1997"``).
    observation_end : date-like, optional
        Rows after it (its whole day is included) are left out and counted, as in
        :func:`clvmodels.rfm_summary`; customers whose first purchase is after it are not in the
        result. Pass the ``calibration_end`` of the summary being forecast to get exactly its
        customers (cohorts of customers absent from the forecast are harmless: ``forecast``
        takes the rows of its own customers).
    date_format : str, optional
        Passed to ``pd.to_datetime`` (``format=``) when the dates are strings or numbers.
    invalid : {"raise", "drop"}
        Invalid rows (missing ids or dates, unparseable dates, dates outside the supported
        range) raise a ``ValueError`` that counts them, or are excluded with a
        :class:`~clvmodels.exceptions.DataWarning`, as in :func:`clvmodels.rfm_summary`.

    Returns
    -------
    DataFrame
        Indexed by customer id (named ``customer_col``, sorted as in
        :func:`clvmodels.rfm_summary`), one column ``cohort``: an ordered ``Categorical`` of string
        labels whose categories are the cohorts present, in time order (so segment tables and
        plots list them chronologically). ``attrs`` records ``freq``, the ``observation_end``
        and the ``report`` of rows used and dropped.

    Raises
    ------
    ValueError
        An unknown ``freq``, a missing column (with the closest name), an empty log, or invalid
        rows with ``invalid="raise"``: each message names the column, the number of rows and the
        fix.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way.
    Marketing Science 24(2), 275-284, section 2 (the CDNOW cohort acquired in 1997 Q1).

    Examples
    --------
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> cohorts = acquisition_cohorts(load_cdnow_sample(), observation_end="1997-09-30")
    >>> cohorts["cohort"].value_counts(sort=False).to_dict()
    {'1997-01': 781, '1997-02': 857, '1997-03': 719}
    >>> acquisition_cohorts(load_cdnow_sample(), freq="Q")["cohort"].cat.categories.tolist()
    ['1997Q1']
    """
    if not isinstance(freq, str) or freq not in COHORT_FREQUENCIES:
        raise ValueError(
            f"freq={freq!r}; use 'M' (calendar month), 'Q' (calendar quarter) or 'Y' (calendar year)."
        )
    tx, end_period = _validate_transactions(
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=None,
        date_format=date_format,
        observation_end=observation_end,
        time_unit="D",
        resolution="D",
        invalid=invalid,
        duplicates="keep",
    )
    codes, customers = _factorize_customers(tx.ids)
    first_day = _per_customer(codes, tx.period, None, len(customers))["first"]  # days since 1970-01-01
    month = first_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    key = {"M": month, "Q": np.floor_divide(month, 3), "Y": np.floor_divide(month, 12)}[freq]
    periods, inverse = np.unique(key, return_inverse=True)
    cohort = pd.Categorical.from_codes(inverse.reshape(-1), categories=_labels(periods, freq), ordered=True)
    frame = pd.DataFrame({"cohort": cohort}, index=customers)
    frame.index.name = customer_col
    report = dict(tx.report, customers=len(frame))
    end = pd.Timestamp(end_period * RESOLUTIONS["D"], unit="ns")
    frame.attrs = {"freq": freq, "observation_end": end.isoformat(), "report": report}
    return frame


def join_attributes(summary: pd.DataFrame, attributes: pd.DataFrame | pd.Series, *, extra: Literal["ignore", "raise"] = "ignore") -> pd.DataFrame:
    """The summary with per-customer attribute columns (channel, region, covariates) joined by id.

    Unlike ``summary.join(attributes)``, every customer of the summary must have exactly one row
    (a missing or duplicated id is an error naming how many and the first), the column names must
    not clash, and the summary's ``attrs`` (time unit, observation end) are kept, so the result
    goes straight to ``fit(..., covariates=)``, :func:`clvmodels.forecast` (``segments=``, costs by
    column) and :func:`clvmodels.evaluate_holdout`. Neither input is modified.

    Parameters
    ----------
    summary : DataFrame
        Per-customer summary indexed by customer id (:func:`clvmodels.rfm_summary`).
    attributes : DataFrame or Series
        Indexed by customer id (for example ``pd.read_csv(...).set_index("customer_id")``), one
        row per customer; ids are matched as they are, or as text when the two indexes differ
        in type (a CSV read with numeric ids against a log read with text ids).
    extra : {"ignore", "raise"}
        Rows of customers the summary does not have: ignored (the attribute table may cover
        every customer ever acquired), or an error.

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [2, 0], "recency": [30.4, 0.0], "T": [38.9, 38.9]},
    ...                        index=pd.Index(["a", "b"], name="customer_id"))
    >>> summary.attrs["time_unit"] = "W"
    >>> channels = pd.DataFrame({"channel": ["email", "search", "search"]}, index=["b", "a", "c"])
    >>> data = join_attributes(summary, channels)
    >>> data["channel"].tolist(), data.attrs["time_unit"]
    (['search', 'email'], 'W')
    """
    if isinstance(attributes, pd.Series):
        attributes = attributes.to_frame(attributes.name if attributes.name is not None else "attribute")
    if not isinstance(attributes, pd.DataFrame):
        raise TypeError(f"attributes must be a DataFrame (or Series) indexed by customer id, not {type(attributes).__name__}.")
    clash = [c for c in attributes.columns if c in summary.columns]
    if clash:
        raise ValueError(f"attribute column(s) {clash} are already columns of the summary; rename them first.")
    index = attributes.index
    if index.dtype != summary.index.dtype and not (index.inferred_type == summary.index.inferred_type == "integer"):
        # e.g. ids read as numbers from one file and as text from the other: match them as text
        index = index.astype(str)
        keys = summary.index.astype(str)
    else:
        keys = summary.index
    duplicated = index.duplicated(keep=False)
    if duplicated.any():
        first = index[duplicated][0]
        raise ValueError(
            f"the attribute table has {int(index[duplicated].nunique()):,} customer id(s) on more than one row "
            f"({int(duplicated.sum()):,} rows; first: {first!r}); keep one row per customer."
        )
    missing = ~keys.isin(index)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum()):,} of the {len(summary):,} customers of the summary have no row in the attribute "
            f"table (first: {keys[missing][0]!r}); give every customer a row (with a value such as 'unknown' "
            "where an attribute is not known)."
        )
    if extra == "raise":
        others = ~index.isin(keys)
        if others.any():
            raise ValueError(
                f"the attribute table has {int(others.sum()):,} customer(s) the summary does not have "
                f"(first: {index[others][0]!r}); drop them or pass extra='ignore'."
            )
    elif extra != "ignore":
        raise ValueError(f"extra={extra!r}; use 'ignore' or 'raise'.")
    rows = attributes.set_axis(index).reindex(keys).set_axis(summary.index)
    out = pd.concat([summary, rows], axis=1)
    out.attrs = dict(summary.attrs)
    return out
