"""Holdout validation of a transaction model: point accuracy, interval coverage and calibration.

:func:`evaluate_holdout` compares what customers did in a holdout period with what the model
predicted from their calibration history. Besides the classic table of actual against
predicted mean purchases by calibration frequency (Fader, Hardie & Lee 2005, figure 4), it
scores the model's *predictive distribution*: the share of customers whose holdout count falls
inside their central predictive interval, and randomised probability-integral-transform (PIT)
values, which are uniform on (0, 1) when the model is calibrated (Czado, Gneiting & Held 2009).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .data import SummaryArrays, validate_summary
from .models.beta_geo import BetaGeo, expected_purchases, prob_purchases_table

__all__ = ["HoldoutReport", "evaluate_holdout", "holdout_arrays", "predictive_cdfs"]

#: customers per chunk of the (counts x customers) predictive table
CHUNK = 20_000


@dataclass(frozen=True)
class HoldoutReport:
    """What :func:`evaluate_holdout` returns.

    Attributes
    ----------
    customers : DataFrame
        Per customer: ``frequency``, ``actual``, ``predicted`` (expected holdout purchases),
        ``lower`` and ``upper`` (central predictive interval at level ``ci``), ``inside``, ``pit``.
    by_frequency : DataFrame
        By calibration frequency (``0`` to ``max_frequency - 1`` and ``"{max}+"``): customers,
        actual and predicted mean and total holdout purchases, and interval coverage.
    metrics : Series
        ``actual_total``, ``predicted_total``, ``correlation``, ``mae``, ``rmse``, ``coverage``
        and ``ci``.
    pit_deciles : Series
        Share of PIT values in each tenth of (0, 1): all 0.1 for a calibrated model.

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W")
    >>> report = evaluate_holdout(BetaGeo().fit(data), data, ci=0.9, random_seed=0)
    >>> report.customers.loc[[1], ["frequency", "actual", "predicted", "lower", "upper", "inside"]].round(3)
                 frequency  actual  predicted  lower  upper  inside
    customer_id
    1                    2       1      1.226      0      4    True
    >>> report.by_frequency.loc["7+", ["customers", "actual_mean"]].round(2).tolist()
    [64.0, 6.36]
    >>> round(float(report.metrics["coverage"]), 3), report.pit_deciles.round(2).tolist()[:3]
    (0.947, [0.09, 0.1, 0.1])
    """

    customers: pd.DataFrame
    by_frequency: pd.DataFrame
    metrics: pd.Series
    pit_deciles: pd.Series


def holdout_arrays(data: pd.DataFrame) -> tuple[SummaryArrays, np.ndarray, np.ndarray]:
    """The calibration summary and the holdout counts and durations of ``data``, checked.

    Parameters
    ----------
    data : DataFrame
        As from :func:`clvmodels.calibration_holdout_split`.

    Returns
    -------
    summary : SummaryArrays
        :func:`clvmodels.data.validate_summary` of the calibration columns.
    actual : ndarray of int64
        ``frequency_holdout``.
    horizon : ndarray of float64
        ``duration_holdout``.

    Examples
    --------
    >>> data = pd.DataFrame({"frequency": [2, 0], "recency": [30.4, 0.0], "T": [38.9, 38.9],
    ...                      "frequency_holdout": [1, 0], "duration_holdout": [39.0, 39.0]})
    >>> _, actual, horizon = holdout_arrays(data)
    >>> actual.tolist(), horizon.tolist()
    ([1, 0], [39.0, 39.0])
    """
    s = validate_summary(data)
    missing = [c for c in ("frequency_holdout", "duration_holdout") if c not in data.columns]
    if missing:
        raise ValueError(
            f"data has no column {', '.join(repr(c) for c in missing)}; make it with "
            "clvmodels.calibration_holdout_split."
        )
    actual = data["frequency_holdout"].to_numpy()
    horizon = data["duration_holdout"].to_numpy(dtype=np.float64)
    if np.any(actual < 0) or np.any(actual != np.round(actual)) or np.any(~(horizon > 0)):
        raise ValueError("frequency_holdout must hold whole numbers >= 0 and duration_holdout positive durations.")
    return s, actual.astype(np.int64), horizon


def predictive_cdfs(
    params: Any, horizon: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, tail: float = 1e-10
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The exact predictive distribution function of holdout purchases, in pieces.

    Yields ``(rows, cdf)``: ``cdf[k, j] = P(Y(horizon) <= k | x, t_x, T)`` of customer
    ``rows[j]``, with enough counts that less than ``tail`` of each customer's probability lies
    beyond the last. Customers go in chunks in order of frequency; those whose tail is still
    too heavy (a few heavy buyers) are evaluated again with four times as many counts, so they
    do not lengthen the table of everyone else.

    Examples
    --------
    The next 39 weeks of three customers observed 38.86 weeks, with 0, 2 and 10 repeat purchases
    (FHL 2005 parameters): the heavy buyer needs more counts than the first table holds.

    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> x, t_x, T = np.array([0.0, 2.0, 10.0]), np.array([0.0, 30.43, 35.0]), np.full(3, 38.86)
    >>> for rows, cdf in predictive_cdfs(params, np.full(3, 39.0), x, t_x, T):
    ...     print(rows, cdf.shape, cdf[0].round(3))
    [0 1] (33, 2) [0.855 0.445]
    [2] (129, 1) [0.154]
    """
    order = np.argsort(x, kind="stable")
    for start in range(0, len(x), CHUNK):
        rows = order[start : start + CHUNK]
        k_max = 32
        while len(rows):
            cdf = np.cumsum(prob_purchases_table(params, k_max, horizon[rows], x[rows], t_x[rows], T[rows]), axis=0)
            done = (cdf[-1] >= 1 - tail) | (k_max >= 100_000)
            yield rows[done], cdf[:, done]
            rows = rows[~done]
            k_max *= 4


def _predictive_cdf_bounds(
    params: Any, horizon: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, actual: np.ndarray, ci: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval bounds and randomised PIT values from the exact predictive distribution."""
    n = len(x)
    lower = np.empty(n, dtype=np.int64)
    upper = np.empty(n, dtype=np.int64)
    pit = np.empty(n)
    uniforms = rng.uniform(size=n)
    lo_q, hi_q = (1 - ci) / 2, (1 + ci) / 2
    for rows, cdf in predictive_cdfs(params, horizon, x, t_x, T):
        lower[rows] = (cdf < lo_q - 1e-12).sum(axis=0)
        upper[rows] = (cdf < hi_q - 1e-12).sum(axis=0)
        y = np.minimum(actual[rows], len(cdf) - 1)
        cols = np.arange(len(rows))
        below = np.where(y > 0, cdf[np.maximum(y - 1, 0), cols], 0.0)
        pit[rows] = below + uniforms[rows] * (cdf[y, cols] - below)
    return lower, upper, pit


def evaluate_holdout(
    model: BetaGeo,
    data: pd.DataFrame,
    *,
    ci: float = 0.9,
    max_frequency: int = 7,
    params: Any = None,
    random_seed: int | np.random.Generator | None = None,
) -> HoldoutReport:
    """Score a fitted transaction model on a holdout period.

    Parameters
    ----------
    model : BetaGeo
        Fitted on the calibration columns of ``data``.
    data : DataFrame
        As from :func:`clvmodels.calibration_holdout_split`: ``frequency, recency, T``,
        ``frequency_holdout`` and ``duration_holdout`` (which may differ across customers).
    ci : float
        Level of the central predictive intervals.
    max_frequency : int
        Calibration frequencies from this one up are pooled into one row (``"7+"``).
    params : mapping, optional
        A point estimate to predict with instead of ``model.params_`` (for example the true
        parameters in a simulation).
    random_seed : int or Generator, optional
        Seed of the randomisation of the PIT values (counts are discrete).

    Returns
    -------
    HoldoutReport

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W")
    >>> report = evaluate_holdout(BetaGeo().fit(data), data, random_seed=0)
    >>> report.metrics[["actual_total", "predicted_total"]].round(0).tolist()
    [1882.0, 1653.0]
    """
    model._check_fitted()
    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    if int(max_frequency) != max_frequency or max_frequency < 1:
        raise ValueError(f"max_frequency={max_frequency!r} must be a whole number >= 1.")
    s, actual, horizon = holdout_arrays(data)
    theta = model.params_ if params is None else params
    rng = np.random.default_rng(random_seed)
    predicted = expected_purchases(theta, horizon, s.frequency, s.recency, s.T)
    lower, upper, pit = _predictive_cdf_bounds(theta, horizon, s.frequency, s.recency, s.T, actual, ci, rng)
    inside = (lower <= actual) & (actual <= upper)
    customers = pd.DataFrame(
        {
            "frequency": s.frequency.astype(np.int64),
            "actual": actual,
            "predicted": predicted,
            "lower": lower,
            "upper": upper,
            "inside": inside,
            "pit": pit,
        },
        index=s.index,
    )
    group = np.minimum(customers["frequency"], max_frequency)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    customers_group = pd.Categorical.from_codes(group, categories=labels)
    grouped = customers.groupby(customers_group, observed=False)
    by_frequency = pd.DataFrame(
        {
            "customers": grouped.size(),
            "actual_mean": grouped["actual"].mean(),
            "predicted_mean": grouped["predicted"].mean(),
            "actual_total": grouped["actual"].sum(),
            "predicted_total": grouped["predicted"].sum(),
            "coverage": grouped["inside"].mean(),
        }
    )
    by_frequency.index.name = "frequency"
    error = predicted - actual
    metrics = pd.Series(
        {
            "actual_total": float(actual.sum()),
            "predicted_total": float(predicted.sum()),
            "correlation": float(np.corrcoef(actual, predicted)[0, 1]) if np.ptp(actual) > 0 else np.nan,
            "mae": float(np.mean(np.abs(error))),
            "rmse": float(np.sqrt(np.mean(error**2))),
            "coverage": float(inside.mean()),
            "ci": float(ci),
        },
        name="value",
    )
    edges = np.linspace(0, 1, 11)
    shares = np.histogram(pit, bins=edges)[0] / len(pit)
    pit_deciles = pd.Series(shares, index=pd.IntervalIndex.from_breaks(edges, closed="left"), name="share")
    return HoldoutReport(customers, by_frequency, metrics, pit_deciles)
