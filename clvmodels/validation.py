"""Holdout validation of a transaction model: a verdict, point accuracy, calibration.

:func:`evaluate_holdout` compares what customers did in a holdout period with what the model
predicted from their calibration history, and says plainly whether the forecast is credible:

- **bias**: the actual holdout total against the interval of the predicted total (the
  customers' own chance and the parameters' uncertainty), and the relative error;
- **where**: the classic table of actual against predicted mean purchases by calibration
  frequency (Fader, Hardie & Lee 2005, figure 4), with the interval of each group mean, and the
  groups whose actual mean lies outside it;
- **calibration**: randomised probability-integral-transform (PIT) values, uniform on (0, 1)
  when the predictive distribution is right (Czado, Gneiting & Held 2009), and the p-value of
  their departure from uniform.

It also reports the share of customers inside their central predictive interval, but that is
weak evidence on its own: counts are whole numbers, so central intervals over-cover (on one real
log, 50% intervals held 93% of the customers), whatever the model.

Every transaction model of the registry works here: the module asks the model's ``formulas``
(``expected_purchases``, ``prob_purchases_table``) and names no concrete model.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .data import SummaryArrays, validate_summary
from .exceptions import StatisticalWarning

__all__ = ["HoldoutReport", "evaluate_holdout", "holdout_arrays", "predictive_cdfs", "PIT_LABELS"]

#: customers per chunk of the (counts x customers) predictive table
CHUNK = 20_000
#: customers per calibration-frequency group whose expected purchases are evaluated over the
#: parameter draws (a seeded random subset of larger groups: the spread over draws of a mean
#: of 5,000 customers is accurate to a few percent)
GROUP_SAMPLE = 5_000
#: a PIT decile within this of 0.1 is no practical departure from uniform, however many
#: customers make it statistically significant
PIT_TOLERANCE = 0.01
#: the holdout total fails when its two-sided p-value against the predicted total (normal, with
#: the interval's variance) is below this: a model that is right fails one holdout in twenty on
#: its total, not one in ten as it would if leaving the 90% band were the test
TOTAL_SIGNIFICANCE = 0.05
#: labels of the ten PIT deciles
PIT_LABELS = tuple(f"{k / 10:.1f}-{(k + 1) / 10:.1f}" for k in range(10))


def _transaction_formulas(model: Any) -> Any:
    """The formulas module of a transaction model (estimator, class or key), or a clear error."""
    from .models.registry import model_class

    return model_class(model, kind="transactions").formulas


@dataclass(frozen=True)
class HoldoutReport:
    """What :func:`evaluate_holdout` returns: a verdict, and the tables behind it.

    Read it in this order. **Bias** first: is the actual holdout total inside the interval of
    the predicted total (``verdict["total_inside"]``), and by how much does the forecast miss
    (``verdict["relative_error"]``)? Then **where**: the calibration-frequency groups whose actual
    mean lies outside the interval of their predicted mean (``verdict["groups_outside"]``,
    ``by_frequency``). Then **calibration** of the per-customer predictive distribution: the PIT
    deciles should each hold a tenth of the customers (``pit_deciles``, ``verdict["pit_p_value"]``).

    The ``coverage`` of the central predictive intervals is reported too, but it is weak evidence
    on its own: holdout counts are whole numbers, so a central interval holds more than its level
    of the customers even for a perfect model, and a wrong model can still over-cover (on one real
    log, 50% intervals covered 93% of the customers). Lead with bias and PIT.

    Printed in a REPL (``repr``) or shown in Jupyter (``_repr_html_``), the report gives the
    verdict and the key numbers in a few lines.

    Attributes
    ----------
    customers : DataFrame
        Per customer: ``frequency``, ``actual``, ``predicted`` (expected holdout purchases),
        ``lower`` and ``upper`` (central predictive interval at level ``ci``), ``inside``, ``pit``.
    by_frequency : DataFrame
        By calibration frequency (``0`` to ``max_frequency - 1`` and ``"{max}+"``): customers,
        actual and predicted mean and total holdout purchases, interval coverage, and the
        interval of the predicted mean at level ``ci`` (``predicted_mean_lower``,
        ``predicted_mean_upper``: the customers' chance and the parameters' uncertainty, normal,
        cut at 0) with ``outside`` (the actual mean lies outside it).
    metrics : Series
        ``actual_total``, ``predicted_total``, ``total_lower``, ``total_upper`` (the interval of
        the predicted total at level ``ci``), ``relative_error`` (predicted / actual - 1),
        ``correlation``, ``mae``, ``rmse``, ``coverage``, ``pit_chi2``, ``pit_p_value``,
        ``pit_max_deviation`` (the largest ``|decile share - 0.1|``) and ``ci``.
    pit_deciles : Series
        Share of PIT values in each tenth of (0, 1), labelled ``0.0-0.1`` ... ``0.9-1.0``: all
        0.1 for a calibrated model.
    verdict : dict
        Plain JSON values, for a log or a manifest:

        ``passed`` (bool), ``message`` (one line, as logged and warned), ``model`` (display
        name), ``model_key``, ``ci``, ``actual_total``, ``predicted_total``, ``total_lower``,
        ``total_upper``, ``total_inside`` (bool), ``relative_error`` (null when the actual total
        is 0), ``direction`` (``"under-forecasts"``, ``"over-forecasts"`` or ``"on target"``),
        ``groups_outside`` (list of ``{"frequency", "customers", "actual_mean",
        "predicted_mean", "lower", "upper"}``), ``pit_chi2``, ``pit_df``, ``pit_p_value``,
        ``pit_max_deviation``, ``pit_uniform`` (bool), ``significance`` (of the PIT test), ``coverage``,
        ``parameter_uncertainty`` (``"included (200 draws)"``, or ``"not included (...)"`` with
        the reason).

        The model fails its holdout (``passed`` false) when the actual total lies outside the
        interval of the predicted total, or the PIT departs from uniform: its chi-square test
        over the ten deciles rejects at ``significance`` *and* some decile is more than
        :data:`PIT_TOLERANCE` (0.01) from 0.1 (on millions of customers the test detects
        departures too small to matter).
        A calibrated model still fails about ``1 - ci`` of holdouts by chance (the total's
        interval has level ``ci``); groups outside their interval say where the model misses,
        each is expected to miss ``1 - ci`` of the time, so they do not decide the verdict.

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:  # BG/NBD fails this holdout
    ...     warnings.simplefilter("always")
    ...     report = evaluate_holdout(BetaGeo().fit(data), data, ci=0.9, random_seed=0)
    >>> [type(w.message).__name__ for w in caught], report.passed
    (['StatisticalWarning'], False)
    >>> report.customers.loc[[1], ["frequency", "actual", "predicted", "lower", "upper", "inside"]].round(3)
                 frequency  actual  predicted  lower  upper  inside
    customer_id
    1                    2       1      1.226      0      4    True
    >>> report.by_frequency.loc["7+", ["customers", "actual_mean"]].round(2).tolist()
    [64.0, 6.36]
    >>> round(float(report.metrics["coverage"]), 3), report.pit_deciles.round(2).tolist()[:3]
    (0.947, [0.09, 0.1, 0.1])
    >>> report.pit_deciles.index[:2].tolist()
    ['0.0-0.1', '0.1-0.2']
    """

    customers: pd.DataFrame
    by_frequency: pd.DataFrame
    metrics: pd.Series
    pit_deciles: pd.Series
    verdict: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the model passed its holdout (see ``verdict``)."""
        return bool(self.verdict.get("passed", True))

    def _lines(self) -> list[tuple[str, str]]:
        m, v = self.metrics, self.verdict
        ci = float(m["ci"])
        rel = "" if not np.isfinite(m["relative_error"]) else f" ({m['relative_error']:+.1%})"
        lines = [
            ("verdict", ("passed" if self.passed else "FAILED") + ": " + str(v.get("message", ""))),
            ("total", f"{m['actual_total']:,.0f} actual vs {m['predicted_total']:,.0f} expected{rel}, "
                      f"{ci:.0%} interval {m['total_lower']:,.0f}-{m['total_upper']:,.0f}"),
            ("outside", "; ".join(
                f"x = {g['frequency']}: {g['actual_mean']:.3g} actual vs {g['predicted_mean']:.3g} expected "
                f"({g['lower']:.3g}-{g['upper']:.3g})" for g in v.get("groups_outside", []))
             or f"every calibration-frequency group's mean inside its {ci:.0%} interval"),
            ("PIT", f"chi-square {m['pit_chi2']:.1f} on {v.get('pit_df', 9)} df, p = {m['pit_p_value']:.2g}; deciles "
                    + " ".join(f"{share:.3f}" for share in self.pit_deciles)),
            ("accuracy", f"MAE {m['mae']:.3f}, RMSE {m['rmse']:.3f}, correlation {m['correlation']:.3f} "
                         f"({len(self.customers):,} customers)"),
            ("coverage", f"{m['coverage']:.1%} inside their {ci:.0%} interval (counts over-cover: weak evidence alone)"),
        ]
        return lines

    def __repr__(self) -> str:
        name = self.verdict.get("model", "model")
        width = max(len(k) for k, _ in self._lines())
        body = "\n".join(f"  {k.ljust(width)}  {text}" for k, text in self._lines())
        return f"HoldoutReport ({name}):\n{body}"

    def _repr_html_(self) -> str:
        name = html.escape(str(self.verdict.get("model", "model")))
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(text)}</td></tr>"
            for k, text in self._lines()
        )
        colour = "#1a7f37" if self.passed else "#b42318"
        table = self.by_frequency.to_html(float_format=lambda v: f"{v:,.3f}")
        return (
            f"<p><b>HoldoutReport ({name})</b>: <b style='color:{colour}'>{'passed' if self.passed else 'failed'}</b></p>"
            f"<table>{rows}</table><details><summary>by calibration frequency</summary>{table}</details>"
        )


def holdout_arrays(data: pd.DataFrame, discrete: bool = False) -> tuple[SummaryArrays, np.ndarray, np.ndarray]:
    """The calibration summary and the holdout counts and durations of ``data``, checked.

    Parameters
    ----------
    data : DataFrame
        As from :func:`clvmodels.calibration_holdout_split` (or, ``discrete``,
        :func:`clvmodels.discrete_summary` with ``calibration_end``: occasions).
    discrete : bool
        The summary of a model in discrete time (``n_periods``; the holdout in occasions).

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
    s = validate_summary(data, discrete=discrete)
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
    model: Any,
    horizon: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    *,
    params: Any = None,
    tail: float = 1e-10,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The exact predictive distribution function of holdout purchases, in pieces.

    Yields ``(rows, cdf)``: ``cdf[k, j] = P(Y(horizon) <= k | x, t_x, T)`` of customer
    ``rows[j]``, with enough counts that less than ``tail`` of each customer's probability lies
    beyond the last. Customers go in chunks in order of frequency; those whose tail is still
    too heavy (a few heavy buyers) are evaluated again with four times as many counts, so they
    do not lengthen the table of everyone else.

    Parameters
    ----------
    model : estimator, class or key
        A transaction model of the registry: its ``formulas.prob_purchases_table`` gives the
        predictive probabilities.
    horizon, x, t_x, T : ndarray
        Per customer: holdout length, frequency, recency and age at the end of calibration.
    params : mapping, optional
        A point estimate; by default the fitted ``model.params_``.
    tail : float
        Probability allowed beyond the last count.

    Examples
    --------
    The next 39 weeks of three customers observed 38.86 weeks, with 0, 2 and 10 repeat purchases
    (FHL 2005 parameters): the heavy buyer needs more counts than the first table holds.

    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> x, t_x, T = np.array([0.0, 2.0, 10.0]), np.array([0.0, 30.43, 35.0]), np.full(3, 38.86)
    >>> for rows, cdf in predictive_cdfs("bgnbd", np.full(3, 39.0), x, t_x, T, params=params):
    ...     print(rows, cdf.shape, cdf[0].round(3))
    [0 1] (33, 2) [0.855 0.445]
    [2] (129, 1) [0.154]
    """
    table = _transaction_formulas(model).prob_purchases_table
    theta = model.params_ if params is None else params
    order = np.argsort(x, kind="stable")
    for start in range(0, len(x), CHUNK):
        rows = order[start : start + CHUNK]
        k_max = 32
        while len(rows):
            cdf = np.cumsum(table(_take(theta, rows, len(x)), k_max, horizon[rows], x[rows], t_x[rows], T[rows]), axis=0)
            done = (cdf[-1] >= 1 - tail) | (k_max >= 100_000)
            yield rows[done], cdf[:, done]
            rows = rows[~done]
            k_max *= 4


def _predictive_cdf_bounds(
    model: Any, params: Any, horizon: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, actual: np.ndarray,
    ci: float, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Interval bounds, randomised PIT values and predictive variances from the exact
    predictive distribution."""
    n = len(x)
    lower = np.empty(n, dtype=np.int64)
    upper = np.empty(n, dtype=np.int64)
    pit = np.empty(n)
    variance = np.empty(n)
    uniforms = rng.uniform(size=n)
    lo_q, hi_q = (1 - ci) / 2, (1 + ci) / 2
    for rows, cdf in predictive_cdfs(model, horizon, x, t_x, T, params=params):
        lower[rows] = (cdf < lo_q - 1e-12).sum(axis=0)
        upper[rows] = (cdf < hi_q - 1e-12).sum(axis=0)
        y = np.minimum(actual[rows], len(cdf) - 1)
        cols = np.arange(len(rows))
        below = np.where(y > 0, cdf[np.maximum(y - 1, 0), cols], 0.0)
        pit[rows] = below + uniforms[rows] * (cdf[y, cols] - below)
        pmf = np.diff(cdf, axis=0, prepend=0.0)
        k = np.arange(len(cdf), dtype=np.float64)[:, None]
        mean = (k * pmf).sum(axis=0)
        variance[rows] = np.maximum((k * k * pmf).sum(axis=0) - mean * mean, 0.0)
    return lower, upper, pit, variance


def _per_customer(model: Any, theta: Any, data: pd.DataFrame) -> Any:
    """``theta`` as each customer's parameters for a model with covariates (unchanged otherwise)."""
    if getattr(model, "covariates_", None) is None:
        return theta
    return model.customer_params(theta, data)


def _take(theta: Any, rows: np.ndarray, n: int) -> Any:
    """The parameters of the customers ``rows`` of ``n``: per-customer arrays (models with
    covariates) are indexed along their last axis; anything else is common to all."""
    if not isinstance(theta, dict) or isinstance(theta, pd.Series):
        return theta
    return {k: (v[..., rows] if np.ndim(v) and np.shape(v)[-1] == n else v) for k, v in theta.items()}


def _parameter_spread(
    model: Any, formulas: Any, s: SummaryArrays, horizon: np.ndarray, group: np.ndarray, size: np.ndarray,
    n_draws: int, seed: np.random.SeedSequence, data: pd.DataFrame | None = None,
) -> tuple[float, np.ndarray, str | bool]:
    """Variance over parameter draws of the expected holdout total and of each group's mean.

    Each group contributes at most :data:`GROUP_SAMPLE` customers (a seeded random subset), so
    the cost is draws x at most 5,000 customers per group, whatever the data size.
    """
    try:
        draws = model.sample_params(n_draws, random_seed=seed)
    except ValueError as exc:  # for example no finite covariance after a failed fit
        return 0.0, np.zeros(len(size)), f"not included ({exc})"
    rng = np.random.default_rng(seed.spawn(1)[0])
    group_means = np.zeros((n_draws, len(size)))
    for k in range(len(size)):
        rows = np.flatnonzero(group == k)
        if len(rows) == 0:
            continue
        if len(rows) > GROUP_SAMPLE:
            rows = np.sort(rng.choice(rows, GROUP_SAMPLE, replace=False))
        theta = draws if data is None else _take(_per_customer(model, draws, data.iloc[rows]), np.arange(len(rows)), len(rows))
        expected = formulas.expected_purchases(theta, horizon[rows], s.frequency[rows], s.recency[rows], s.T[rows])
        group_means[:, k] = np.asarray(expected).mean(axis=1)
    if n_draws < 2:
        return 0.0, np.zeros(len(size)), "not included (fewer than 2 draws)"
    totals = group_means @ size
    return float(totals.var(ddof=1)), group_means.var(axis=0, ddof=1), f"included ({n_draws} draws)"


def _range_text(labels: list[str], last_label: str) -> str:
    """``"1-2 repeat purchases"``, ``"1 repeat purchase"``, ``"5 or more repeat purchases"``."""
    first, last = labels[0], labels[-1]
    if last == last_label:
        low = first.rstrip("+")
        text = f"{low} or more"
    elif first == last:
        text = first
    else:
        text = f"{first}-{last}"
    return f"{text} repeat purchase" + ("" if text == "1" else "s")


def _where_text(outside: list[dict[str, Any]], labels: list[str]) -> str:
    """Runs of neighbouring groups outside their interval in the same direction, in words."""
    runs: list[tuple[list[str], bool]] = []
    position = {label: i for i, label in enumerate(labels)}
    previous = None
    for g in outside:
        more = g["actual_mean"] > g["predicted_mean"]
        i = position[g["frequency"]]
        if runs and previous is not None and i == previous + 1 and runs[-1][1] == more:
            runs[-1][0].append(g["frequency"])
        else:
            runs.append(([g["frequency"]], more))
        previous = i
    parts = [
        f"customers with {_range_text(run, labels[-1])} return {'more' if more else 'less'} than it expects"
        for run, more in runs
    ]
    return "; ".join(parts)


def _verdict(
    model: Any, metrics: pd.Series, by_frequency: pd.DataFrame, pit_df: int, significance: float, parameter_uncertainty: Any
) -> dict[str, Any]:
    """The verdict dictionary of a report (see :class:`HoldoutReport`)."""
    cls = type(model)
    name = getattr(cls, "display_name", "") or cls.__name__
    ci = float(metrics["ci"])
    actual, predicted = float(metrics["actual_total"]), float(metrics["predicted_total"])
    low, high = float(metrics["total_lower"]), float(metrics["total_upper"])
    inside = bool(low <= actual <= high)
    relative = float(metrics["relative_error"]) if np.isfinite(metrics["relative_error"]) else None
    # the normal interval's standard deviation, from its upper half (the lower may be cut at 0)
    sd = (high - predicted) / stats.norm.ppf(0.5 + ci / 2) if high > predicted else 0.0
    total_p = float(2 * stats.norm.sf(abs(actual - predicted) / sd)) if sd > 0 else (1.0 if actual == predicted else 0.0)
    total_ok = total_p >= TOTAL_SIGNIFICANCE
    direction = "on target" if inside else ("under-forecasts" if predicted < actual else "over-forecasts")
    labels = [str(label) for label in by_frequency.index]
    outside = [
        {
            "frequency": str(label),
            "customers": int(row["customers"]),
            "actual_mean": float(row["actual_mean"]),
            "predicted_mean": float(row["predicted_mean"]),
            "lower": float(row["predicted_mean_lower"]),
            "upper": float(row["predicted_mean_upper"]),
        }
        for label, row in by_frequency.iterrows()
        if bool(row["outside"])
    ]
    p_value = float(metrics["pit_p_value"])
    deviation = float(metrics["pit_max_deviation"])
    pit_uniform = bool(not np.isfinite(p_value) or p_value >= significance or deviation <= PIT_TOLERANCE)
    passed = total_ok and pit_uniform
    rel_text = f" ({relative:+.0%})" if relative is not None else ""
    message = (
        f"holdout: {actual:,.0f} actual vs {predicted:,.0f} expected{rel_text}, "
        f"{'inside' if inside else 'outside'} the {ci:.0%} band ({low:,.0f}-{high:,.0f}): "
    )
    if inside:
        message += f"{name}'s forecast of the total is credible on this data"
    elif total_ok:
        message += (
            f"{name} is somewhat {'low' if predicted < actual else 'high'} on this data, within chance "
            f"(p = {total_p:.2g} >= {TOTAL_SIGNIFICANCE:g})"
        )
    else:
        message += f"{name} {direction} this data (p = {total_p:.2g})"
    where = _where_text(outside, labels)
    if where:
        message += f"; {where}"
    if np.isfinite(p_value):
        if pit_uniform:
            message += f"; the PIT is consistent with uniform (p = {p_value:.2g})"
        else:
            message += (
                f"; its predictive distribution is miscalibrated: the PIT departs from uniform "
                f"(a decile {deviation:.3f} from 0.1; chi-square {float(metrics['pit_chi2']):.1f} on {pit_df} df, p = {p_value:.2g})"
            )
    return {
        "passed": bool(passed),
        "message": message,
        "model": name,
        "model_key": getattr(cls, "key", cls.__name__),
        "ci": ci,
        "actual_total": actual,
        "predicted_total": predicted,
        "total_lower": low,
        "total_upper": high,
        "total_inside": inside,
        "total_p_value": total_p,
        "relative_error": relative,
        "direction": direction,
        "groups_outside": outside,
        "pit_chi2": float(metrics["pit_chi2"]),
        "pit_df": int(pit_df),
        "pit_p_value": p_value if np.isfinite(p_value) else None,
        "pit_max_deviation": deviation,
        "pit_uniform": pit_uniform,
        "significance": float(significance),
        "coverage": float(metrics["coverage"]),
        "parameter_uncertainty": parameter_uncertainty,
    }


def evaluate_holdout(
    model: Any,
    data: pd.DataFrame,
    *,
    ci: float = 0.9,
    max_frequency: int = 7,
    params: Any = None,
    n_draws: int = 200,
    significance: float = 0.01,
    random_seed: int | np.random.Generator | None = None,
    warn: bool = True,
) -> HoldoutReport:
    """Score a fitted transaction model on a holdout period, and say whether it is credible.

    Parameters
    ----------
    model : TransactionModel
        Any registered transaction model, fitted on the calibration columns of ``data``.
    data : DataFrame
        As from :func:`clvmodels.calibration_holdout_split`: ``frequency, recency, T``,
        ``frequency_holdout`` and ``duration_holdout`` (which may differ across customers).
    ci : float
        Level of the central predictive intervals, of the interval of the predicted total and
        of each group's predicted mean.
    max_frequency : int
        Calibration frequencies from this one up are pooled into one row (``"7+"``).
    params : mapping, optional
        A point estimate to predict with instead of ``model.params_`` (for example the true
        parameters in a simulation); the intervals then leave out parameter uncertainty.
    n_draws : int
        Parameter draws (``model.sample_params``) for the parameter-uncertainty part of the
        intervals of the total and of the group means; 0 leaves it out.
    significance : float
        The PIT fails its uniformity test (chi-square over the ten deciles) below this p-value,
        when some decile is also more than 0.01 from 0.1. The total fails when its two-sided
        p-value against the predicted total is below :data:`TOTAL_SIGNIFICANCE` (0.05); the
        model fails its holdout when either fails.
    random_seed : int or Generator, optional
        Seed of the randomisation of the PIT values (counts are discrete) and of the draws.
    warn : bool
        Raise a :class:`~clvmodels.exceptions.StatisticalWarning` with the verdict's message
        when the model fails its holdout.

    Returns
    -------
    HoldoutReport
        With ``verdict`` (and ``passed``): see :class:`HoldoutReport`.

    Notes
    -----
    The interval of the predicted total is normal (a sum of many independent counts) with
    variance the sum of the customers' exact predictive variances plus the variance over
    parameter draws of the expected total; a group mean's likewise, divided by its size.

    Examples
    --------
    >>> import warnings
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W")
    >>> report = evaluate_holdout(BetaGeo().fit(data), data, random_seed=0, warn=False)
    >>> report.metrics[["actual_total", "predicted_total"]].round(0).tolist()
    [1882.0, 1653.0]
    >>> report.verdict["passed"], report.verdict["direction"], round(report.verdict["relative_error"], 3)
    (False, 'under-forecasts', -0.121)
    """
    formulas = _transaction_formulas(model)
    model._check_fitted()
    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    if int(max_frequency) != max_frequency or max_frequency < 1:
        raise ValueError(f"max_frequency={max_frequency!r} must be a whole number >= 1.")
    if int(n_draws) != n_draws or n_draws < 0:
        raise ValueError(f"n_draws={n_draws!r} must be a whole number >= 0 (0: no parameter uncertainty).")
    if not 0 < significance < 1:
        raise ValueError(f"significance={significance!r} must be between 0 and 1, for example 0.01.")
    s, actual, horizon = holdout_arrays(data, discrete=model.time_kind == "discrete")
    from .models.base import check_units

    check_units(model, data)
    theta = _per_customer(model, model.params_ if params is None else params, data)
    rng = np.random.default_rng(random_seed)
    predicted = formulas.expected_purchases(theta, horizon, s.frequency, s.recency, s.T)
    lower, upper, pit, variance = _predictive_cdf_bounds(model, theta, horizon, s.frequency, s.recency, s.T, actual, ci, rng)
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
    group = np.minimum(customers["frequency"].to_numpy(), max_frequency)
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

    # the intervals of the total and of the group means: the customers' chance plus the
    # parameters' uncertainty (over draws), normal
    size = by_frequency["customers"].to_numpy(dtype=np.float64)
    var_group_sum = np.bincount(group, weights=variance, minlength=len(labels))
    var_params_total, var_params_group = 0.0, np.zeros(len(labels))
    parameter_uncertainty: Any = "not included (params given)" if params is not None else "not included (n_draws=0)"
    if params is None and n_draws > 0:
        seed = np.random.SeedSequence(int(rng.integers(2**63)))
        var_params_total, var_params_group, parameter_uncertainty = _parameter_spread(
            model, formulas, s, horizon, group, size, int(n_draws), seed,
            data if getattr(model, "covariates_", None) is not None else None,
        )
    z = stats.norm.ppf(0.5 + ci / 2)
    total_predicted = float(predicted.sum())
    total_half = z * np.sqrt(var_group_sum.sum() + var_params_total)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_half = z * np.sqrt(var_group_sum / size**2 + var_params_group)
    predicted_mean = by_frequency["predicted_mean"].to_numpy(dtype=np.float64)
    by_frequency["predicted_mean_lower"] = np.maximum(predicted_mean - mean_half, 0.0)
    by_frequency["predicted_mean_upper"] = predicted_mean + mean_half
    actual_mean = by_frequency["actual_mean"].to_numpy(dtype=np.float64)
    by_frequency["outside"] = (size > 0) & (
        (actual_mean < by_frequency["predicted_mean_lower"].to_numpy()) | (actual_mean > by_frequency["predicted_mean_upper"].to_numpy())
    )

    edges = np.linspace(0, 1, 11)
    counts = np.histogram(pit, bins=edges)[0]
    pit_deciles = pd.Series(counts / len(pit), index=pd.Index(PIT_LABELS, name="pit"), name="share")
    if len(pit) >= 2:
        chi2, p_value = stats.chisquare(counts)
    else:
        chi2, p_value = np.nan, np.nan
    error = predicted - actual
    total_actual = float(actual.sum())
    metrics = pd.Series(
        {
            "actual_total": total_actual,
            "predicted_total": total_predicted,
            "total_lower": max(total_predicted - total_half, 0.0),
            "total_upper": total_predicted + total_half,
            "relative_error": total_predicted / total_actual - 1 if total_actual > 0 else np.nan,
            "correlation": float(np.corrcoef(actual, predicted)[0, 1]) if np.ptp(actual) > 0 and np.ptp(predicted) > 0 else np.nan,
            "mae": float(np.mean(np.abs(error))),
            "rmse": float(np.sqrt(np.mean(error**2))),
            "coverage": float(inside.mean()),
            "pit_chi2": float(chi2),
            "pit_p_value": float(p_value),
            "pit_max_deviation": float(np.max(np.abs(counts / len(pit) - 0.1))),
            "ci": float(ci),
        },
        name="value",
    )
    verdict = _verdict(model, metrics, by_frequency, len(edges) - 2, significance, parameter_uncertainty)
    report = HoldoutReport(customers, by_frequency, metrics, pit_deciles, verdict)
    if warn and not report.passed:
        warnings.warn(verdict["message"], StatisticalWarning, stacklevel=2)
    return report
