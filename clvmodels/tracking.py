"""Repeat transactions of a cohort over calendar time: actual against the model, with a band.

The tracking forecast of Fader, Hardie & Lee (2005, "Counting your customers the easy way",
figure 3): every customer's repeat purchases start at their first purchase, so the cohort's
expected cumulative repeat transactions at calendar time tau are
``sum_i E[X(tau - s_i)]`` over the customers whose first purchase s_i came before tau, with
``E[X(t)]`` the expected purchases of a new customer (the model's ``expected_purchases_new``,
e.g. :func:`~clvmodels.models.beta_geo.expected_purchases_new`). Evaluated over parameter draws it
gets a credible band. Comparing it per period and cumulatively with the actual repeat
transactions, in the calibration period and after it, is the classic check of a fit. Any
registered transaction model works: the functions ask its ``formulas``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .data import DuplicatePolicy, InvalidPolicy, _factorize_customers, _NS_PER_DAY, _to_timestamp, _validate_transactions
from .models.base import check_time
from .units import RESOLUTIONS, normalize_unit, unit_days

__all__ = ["tracking_forecast", "expected_repeat_transactions", "new_customer_purchases"]

#: (draw x edge x first-purchase time) cells evaluated at once
_CELLS_PER_CHUNK = 20_000_000


def _formulas(model: Any) -> Any:
    """The formulas module of a transaction model (estimator, class or key), or a clear error."""
    from .models.registry import model_class

    if getattr(model, "covariates_", None) is not None:
        # the cohort's expected purchases would need each customer's covariates: refused rather
        # than computed silently at the base parameters
        raise ValueError(
            f"tracking is not available yet for a model with covariates ({list(model.covariates_.columns)}); "
            "draw the tracking plot with the same model fitted without covariates."
        )
    return model_class(model, kind="transactions").formulas


def expected_repeat_transactions(
    model: Any, edges: np.ndarray, first_purchase: np.ndarray, weights: np.ndarray, *, params: Any = None
) -> np.ndarray:
    """Expected cumulative repeat transactions of a cohort at each time in ``edges``.

    Parameters
    ----------
    model : estimator, class or key
        A transaction model of the registry; its ``formulas.expected_purchases_new`` gives
        ``E[X(t)]`` of a new customer.
    edges : ndarray of shape (E,)
        Times, in time units from the start of the calendar.
    first_purchase : ndarray of shape (U,)
        Distinct first-purchase times of the cohort's customers.
    weights : ndarray of shape (U,)
        Number of customers with each first-purchase time.
    params : mapping or DataFrame, optional
        A point estimate (by default the fitted ``model.params_``), or a DataFrame of draws,
        which gives one row per draw.

    Returns
    -------
    ndarray of shape (E,) or (S, E)
        ``sum_i E[X(edge - s_i)]`` over customers with ``s_i < edge``.

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> expected_repeat_transactions("bgnbd", np.array([1.0, 78.0]), np.array([0.0]), np.array([100.0]), params=params).round(2)
    array([  5.33, 186.05])
    """
    expected_new = _formulas(model).expected_purchases_new
    theta = model.params_ if params is None else params
    elapsed = np.asarray(edges, dtype=np.float64)[:, None] - np.asarray(first_purchase, dtype=np.float64)[None, :]
    started = elapsed > 0
    positive = np.where(started, elapsed, 1.0).ravel()
    weights = np.asarray(weights, dtype=np.float64)
    if not isinstance(theta, pd.DataFrame):
        values = np.asarray(expected_new(theta, positive)).reshape(elapsed.shape)
        return np.where(started, values, 0.0) @ weights
    n_draws = len(theta)
    out = np.empty((n_draws, elapsed.shape[0]))
    step = max(1, _CELLS_PER_CHUNK // max(positive.size, 1))
    for start in range(0, n_draws, step):
        rows = slice(start, min(start + step, n_draws))
        values = np.asarray(expected_new(theta.iloc[rows], positive)).reshape(-1, *elapsed.shape)
        out[rows] = np.where(started, values, 0.0) @ weights
    return out


def new_customer_purchases(
    transaction_model: Any, t: Any, *, ci: float = 0.9, n_draws: int = 500, random_seed: int | None = None
) -> pd.DataFrame:
    """Expected repeat purchases of a newly acquired customer by each time in ``t``, with a band.

    ``E[X(t)]`` (the model's ``expected_purchases_new``; FHL 2005, eq. 9 for the BG/NBD) at the
    fitted parameters, and its credible interval at level ``ci`` over parameter draws of the model.

    Parameters
    ----------
    transaction_model : TransactionModel
        Any registered transaction model, fitted.
    t : array_like
        Times since the first purchase, in the model's time unit.
    ci : float
        Level of the credible interval.
    n_draws : int
        Parameter draws.
    random_seed : int, optional
        Seed of the draws.

    Returns
    -------
    DataFrame
        Indexed by ``t``: ``expected``, ``lower``, ``upper``.

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> new_customer_purchases(BetaGeo().fit(data), [39.0, 78.0], n_draws=200, random_seed=0).round(3)
          expected  lower  upper
    t
    39.0     1.195  1.121  1.301
    78.0     1.858  1.714  2.070
    """
    expected_new = _formulas(transaction_model).expected_purchases_new
    transaction_model._check_fitted()
    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    times = check_time(np.atleast_1d(np.asarray(t, dtype=np.float64)))
    draws = expected_new(transaction_model.sample_params(n_draws, random_seed=random_seed), times)
    lower, upper = np.quantile(draws, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    frame = pd.DataFrame(
        {"expected": expected_new(transaction_model.params_, times), "lower": lower, "upper": upper},
        index=pd.Index(times, name="t"),
    )
    frame.attrs = {"ci": ci, "time_unit": transaction_model.time_unit_}
    return frame


def tracking_forecast(
    transaction_model: Any,
    transactions: pd.DataFrame,
    *,
    calibration_end: Any = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    time_unit: str | None = None,
    period: float = 1.0,
    observation_end: Any = None,
    date_format: str | None = None,
    ci: float = 0.9,
    n_draws: int = 500,
    random_seed: int | None = None,
    invalid: InvalidPolicy = "raise",
    duplicates: DuplicatePolicy = "keep",
) -> pd.DataFrame:
    """Actual and expected repeat transactions per period of calendar time, with credible bands.

    Parameters
    ----------
    transaction_model : TransactionModel
        Any registered transaction model, fitted (usually on the calibration period).
    transactions : DataFrame
        The transaction log, read and never modified; the same checks as
        :func:`clvmodels.rfm_summary` apply. Purchases of one customer on one day (hour with
        ``time_unit="h"``) are one transaction; every customer's first is not a repeat one.
    calibration_end : date-like, optional
        End of the calibration period, recorded in ``attrs`` for plots.
    customer_col, date_col, date_format, invalid, duplicates :
        As in :func:`clvmodels.rfm_summary`.
    time_unit : str, optional
        Unit of ``period`` and of the model's rates; by default the one the model was fitted in.
    period : float
        Length of a period in time units (``1`` with weeks gives weekly counts).
    observation_end : date-like, optional
        Last instant of the calendar; by default the last purchase in the log.
    ci : float
        Level of the credible bands over parameter draws.
    n_draws : int
        Parameter draws for the bands.
    random_seed : int, optional
        Seed of the draws.

    Returns
    -------
    DataFrame
        Indexed by ``period_end`` (the end of each period; the last period ends with the
        observation period and may be shorter), with ``actual``, ``expected``,
        ``expected_lower``, ``expected_upper`` (repeat transactions in the period) and
        ``actual_cumulative``, ``expected_cumulative``, ``cumulative_lower``,
        ``cumulative_upper`` (since the start). Repeat purchases on a day d count in the period
        containing the start of d, and the expected counts are evaluated at the period ends,
        as in lifetimes' ``expected_cumulative_transactions``. ``attrs`` hold ``model`` (its
        display name), ``calibration_end``, ``time_unit``, ``period``, ``ci``, ``start`` and
        ``customers``.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
    way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284, figure 3.

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> log = load_cdnow_sample()
    >>> model = BetaGeo().fit(calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W"))
    >>> weekly = tracking_forecast(model, log, calibration_end="1997-09-30", n_draws=50, random_seed=0)
    >>> len(weekly), int(weekly["actual_cumulative"].iloc[-1])
    (78, 4339)
    """
    _formulas(transaction_model)
    model_name = str(type(transaction_model).display_name)
    transaction_model._check_fitted()
    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    if not (np.isfinite(period) and period > 0):
        raise ValueError(f"period={period!r} must be a positive number of time units.")
    unit = time_unit or transaction_model.time_unit_
    if unit is None:
        raise ValueError("the model's time unit is unknown; pass time_unit= (for example 'W').")
    unit = normalize_unit(unit)
    discrete = getattr(transaction_model, "time_kind", "continuous") == "discrete"
    if discrete and period != int(period):
        raise ValueError(f"period={period!r}: {model_name} counts occasions; give a whole number of them (1 for each occasion).")
    tx, end_period = _validate_transactions(
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=None,
        date_format=date_format,
        observation_end=observation_end,
        time_unit="D" if discrete else unit,
        resolution="D" if discrete else None,
        invalid=invalid,
        duplicates=duplicates,
    )
    codes, customers = _factorize_customers(tx.ids)
    when_all = tx.period
    if discrete:  # one transaction per (customer, occasion), times in occasions
        from .occasions import occasion_of_days

        when_all = occasion_of_days(tx.period, unit)
        end_period = int(occasion_of_days(np.array([end_period]), unit)[0])
    # one transaction per (customer, period); sorted, so each customer's first comes first
    low = int(when_all.min())
    span = int(when_all.max()) - low + 1
    key = np.unique(codes * span + (when_all - low))
    customer, when = key // span, key % span + low
    is_first = np.concatenate(([True], customer[1:] != customer[:-1]))
    per_unit = 1.0 if discrete else unit_days(unit) * _NS_PER_DAY / RESOLUTIONS[tx.resolution]
    start = int(when[is_first].min())
    first_time = (when[is_first] - start) / per_unit
    repeat_time = (when[~is_first] - start) / per_unit
    horizon = (end_period + 1 - start) / per_unit
    if discrete:
        # occasion r (from 0, the first occasion of the log) holds the transactions of r; the
        # expected count through r is E[X(r - s)] for a customer first seen at occasion s
        repeat_time = repeat_time - 1.0
        horizon -= 1.0
    n_periods = max(1, int(np.ceil(horizon / period - 1e-9)))
    edges = period * np.arange(1, n_periods + 1, dtype=np.float64)
    edges[-1] = horizon
    actual = np.bincount(np.minimum((np.maximum(repeat_time, 0.0) // period).astype(np.int64), n_periods - 1), minlength=n_periods)

    trials, weights = np.unique(first_time, return_counts=True)
    expected_cumulative = expected_repeat_transactions(transaction_model, edges, trials, weights)
    draws = transaction_model.sample_params(n_draws, random_seed=random_seed)
    cumulative_draws = expected_repeat_transactions(transaction_model, edges, trials, weights, params=draws)
    per_period_draws = np.diff(cumulative_draws, axis=1, prepend=0.0)
    quantiles = [(1 - ci) / 2, (1 + ci) / 2]
    cumulative_lower, cumulative_upper = np.quantile(cumulative_draws, quantiles, axis=0)
    expected_lower, expected_upper = np.quantile(per_period_draws, quantiles, axis=0)

    if discrete:  # the last day of each occasion
        from .occasions import occasion_end_dates

        origin = occasion_end_dates(np.array([start]), unit)[0]
        index = pd.DatetimeIndex(occasion_end_dates(start + edges.astype(np.int64), unit), name="period_end")
    else:
        origin = pd.Timestamp(start * RESOLUTIONS[tx.resolution], unit="ns")
        index = pd.DatetimeIndex(origin + pd.to_timedelta(edges * unit_days(unit), unit="D"), name="period_end")
    frame = pd.DataFrame(
        {
            "actual": actual,
            "expected": np.diff(expected_cumulative, prepend=0.0),
            "expected_lower": expected_lower,
            "expected_upper": expected_upper,
            "actual_cumulative": np.cumsum(actual),
            "expected_cumulative": expected_cumulative,
            "cumulative_lower": cumulative_lower,
            "cumulative_upper": cumulative_upper,
        },
        index=index,
    )
    frame.attrs = {
        "model": model_name,
        "calibration_end": None if calibration_end is None else _to_timestamp(calibration_end, "calibration_end"),
        "time_unit": unit,
        "period": float(period),
        "ci": ci,
        "start": origin,
        "customers": len(customers),
        "report": tx.report,
    }
    return frame
