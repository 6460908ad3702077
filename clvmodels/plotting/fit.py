"""Model-fit diagnostics: calibration histogram, holdout by frequency, interval calibration, tracking.

The figures of Fader, Hardie & Lee (2005), "Counting your customers" the easy way, Marketing
Science 24(2): figure 1 (calibration fit), figures 2 and 3 (cumulative and weekly tracking) and
figure 4 (conditional expectations in the holdout); and a calibration plot of the predictive
intervals of :func:`clvmodels.evaluate_holdout`.
"""

from __future__ import annotations

from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from scipy import stats

from ..data import compress_patterns, validate_summary
from ..validation import HoldoutReport, holdout_arrays, predictive_cdfs
from ._common import (
    check_level,
    duration_text,
    model_formulas,
    model_name,
    new_axes,
    new_figure,
    param_draws,
    point_params,
    thousands,
    time_unit_of,
    unit_name,
)

__all__ = [
    "expected_frequency_counts",
    "holdout_by_frequency",
    "holdout_group_intervals",
    "interval_coverage",
    "plot_calibration_fit",
    "plot_holdout_by_frequency",
    "plot_interval_calibration",
    "plot_cumulative_transactions",
    "plot_period_transactions",
    "plot_tracking",
]

#: distinct patterns per chunk of (counts x patterns) work
_CHUNK = 20_000
#: customers per calibration-frequency group used for the parameter-uncertainty term
_GROUP_SAMPLE = 5_000


def expected_frequency_counts(model: Any, T: np.ndarray, max_frequency: int, *, params: Any = None) -> np.ndarray:
    """Expected number of customers with 0, 1, ..., ``max_frequency - 1`` and more repeat purchases.

    ``sum_i P(X(T_i) = n)`` (the model's ``prob_purchases``; Fader, Hardie & Lee 2005, eq. 8 for
    the BG/NBD), evaluated once per distinct T.

    Parameters
    ----------
    model : estimator, class or key
        A transaction model of the registry.
    T : ndarray
        The customers' observation lengths.
    max_frequency : int
        Counts from this one up are pooled in the last entry.
    params : mapping, optional
        A point estimate; by default the fitted ``model.params_``.

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  observation_end="1998-06-30", time_unit="W")
    >>> model = BetaGeo().fit(data)
    >>> expected_frequency_counts(model, data["T"], 7).round(0)  # FHL 2005, figure 1
    array([1408.,  460.,  192.,  101.,   60.,   38.,   26.,   72.])
    >>> np.bincount(np.minimum(data["frequency"], 7))  # observed
    array([1411,  439,  214,  100,   62,   38,   29,   64])
    """
    prob_purchases = model_formulas(model, "transactions").prob_purchases
    theta = point_params(model) if params is None else params
    T_unique, counts = np.unique(np.asarray(T, dtype=np.float64), return_counts=True)
    n = np.arange(max_frequency, dtype=np.float64)[:, None]
    expected = np.zeros(max_frequency + 1)
    for start in range(0, len(T_unique), _CHUNK):
        sl = slice(start, start + _CHUNK)
        expected[:max_frequency] += prob_purchases(theta, n, T_unique[sl]) @ counts[sl]
    expected[max_frequency] = counts.sum() - expected[:max_frequency].sum()
    return expected


def _frequency_labels(max_frequency: int) -> list[str]:
    return [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]


def plot_calibration_fit(model: Any, data: pd.DataFrame, *, max_frequency: int = 7, ax: Axes | None = None) -> Axes:
    """Observed and expected numbers of customers by repeat purchases in the calibration period.

    The expected number with ``n`` repeat purchases is ``sum_i P(X(T_i) = n)`` over customers,
    each over their own observation length ``T_i`` (Fader, Hardie & Lee 2005, eq. 8 and
    figure 1); the last bar pools ``max_frequency`` and more. Computed once per distinct T, so
    a million customers cost what their distinct T cost.

    Parameters
    ----------
    model : TransactionModel
        Fitted on ``data``.
    data : DataFrame
        Per-customer ``frequency, recency, T``.
    max_frequency : int
        Frequencies from this one up share the last bar (``"7+"``).
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
    an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284, figure 1.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_calibration_fit(BetaGeo().fit(data), data, ax=Figure().subplots())
    >>> [int(bar.get_height()) for bar in ax.containers[0]][:3]  # observed: 0, 1, 2 repeat purchases
    [1411, 439, 214]
    """
    if int(max_frequency) != max_frequency or max_frequency < 1:
        raise ValueError(f"max_frequency={max_frequency!r} must be a whole number >= 1.")
    max_frequency = int(max_frequency)
    s = validate_summary(data, discrete=getattr(model, "time_kind", "") == "discrete")
    observed = np.bincount(np.minimum(s.frequency.astype(np.int64), max_frequency), minlength=max_frequency + 1)
    expected = expected_frequency_counts(model, s.T, max_frequency)
    ax = new_axes(ax)
    pos = np.arange(max_frequency + 1)
    width = 0.4
    ax.bar(pos - width / 2, observed, width, label="Observed", color="0.25")
    ax.bar(pos + width / 2, expected, width, label=f"{model_name(model)} expected", color="C0")
    unit = time_unit_of(data, model)
    ax.set(
        xticks=pos,
        xticklabels=_frequency_labels(max_frequency),
        xlabel="Repeat transactions in the calibration period (x)",
        ylabel="Customers",
        title="Calibration fit: customers by number of repeat transactions",
    )
    thousands(ax.yaxis)
    ax.legend(title=f"{len(s.frequency):,} customers, T up to {duration_text(round(float(s.T.max()), 1), unit)}")
    return ax


def _predictive_variance(model: Any, horizon: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Variance of each customer's holdout purchases, once per distinct (x, t_x, T, t)."""
    (xu, tu, Tu, hu), _, inverse = compress_patterns(x, t_x, T, horizon)
    var = np.empty(len(xu))
    for rows, cdf in predictive_cdfs(model, hu, xu, tu, Tu, params=point_params(model)):
        pmf = np.diff(cdf, axis=0, prepend=0.0)
        n = np.arange(len(cdf), dtype=np.float64)[:, None]
        mean = (n * pmf).sum(axis=0)
        var[rows] = np.maximum((n * n * pmf).sum(axis=0) - mean * mean, 0.0)
    return var[inverse]


def holdout_by_frequency(model: Any, data: pd.DataFrame, *, max_frequency: int = 7) -> pd.DataFrame:
    """Customers, actual and expected mean holdout purchases by calibration frequency.

    The same numbers as ``evaluate_holdout(model, data).by_frequency`` (its ``customers``,
    ``actual_mean`` and ``predicted_mean``) without the per-customer predictive intervals,
    which cost far more on millions of customers.

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  observation_end="1998-06-30", time_unit="W")
    >>> model = BetaGeo().fit(data)
    >>> holdout_by_frequency(model, data, max_frequency=3).round(3)  # FHL 2005, figure 4
               customers  actual_mean  predicted_mean
    frequency
    0               1411        0.237           0.225
    1                439        0.697           0.523
    2                214        1.393           1.044
    3+               293        3.222           3.013
    """
    if int(max_frequency) != max_frequency or max_frequency < 1:
        raise ValueError(f"max_frequency={max_frequency!r} must be a whole number >= 1.")
    expected_purchases = model_formulas(model, "transactions").expected_purchases
    s, actual, horizon = holdout_arrays(data, discrete=getattr(model, "time_kind", "") == "discrete")
    predicted = expected_purchases(point_params(model), horizon, s.frequency, s.recency, s.T)
    group = np.minimum(s.frequency.astype(np.int64), int(max_frequency))
    size = np.bincount(group, minlength=int(max_frequency) + 1)
    labels = _frequency_labels(int(max_frequency))
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame(
            {
                "customers": size,
                "actual_mean": np.bincount(group, weights=actual, minlength=len(size)) / size,
                "predicted_mean": np.bincount(group, weights=predicted, minlength=len(size)) / size,
            },
            index=pd.CategoricalIndex(labels, categories=labels, name="frequency"),
        )
    return table


def holdout_group_intervals(
    model: Any,
    data: pd.DataFrame,
    table: pd.DataFrame,
    *,
    ci: float,
    n_draws: int,
    random_seed: Any,
    max_group_sample: int = _GROUP_SAMPLE,
) -> pd.DataFrame:
    """Predictive interval of the mean holdout purchases of each calibration-frequency group.

    The variance of a group mean of n customers is their mean predictive variance over n (the
    customers are independent given the parameters), plus, when ``n_draws > 0``, the variance
    over parameter draws of the group's mean expected purchases. Both are computed on at most
    ``max_group_sample`` customers of each group (a seeded random subset: a mean of 5,000
    variances is accurate to a few percent), so the cost does not grow with the group size.
    The interval is normal at level ``ci``, cut at 0.

    Parameters
    ----------
    model : TransactionModel
        Fitted model.
    data : DataFrame
        From :func:`clvmodels.calibration_holdout_split`.
    table : DataFrame
        :func:`holdout_by_frequency` or a report's ``by_frequency`` (its groups and means).

    Returns
    -------
    DataFrame
        By group: ``customers, predicted_mean, sd_customers, sd_params, lower, upper``.

    Examples
    --------
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  observation_end="1998-06-30", time_unit="W")
    >>> model = BetaGeo().fit(data)
    >>> table = holdout_by_frequency(model, data)
    >>> bands = holdout_group_intervals(model, data, table, ci=0.9, n_draws=100, random_seed=0)
    >>> bands.loc[["0", "1"], ["predicted_mean", "lower", "upper"]].round(3)
               predicted_mean  lower  upper
    frequency
    0                   0.225  0.194  0.256
    1                   0.523  0.424  0.623
    """
    expected_purchases = model_formulas(model, "transactions").expected_purchases
    point_params(model)
    s, _, horizon = holdout_arrays(data, discrete=getattr(model, "time_kind", "") == "discrete")
    max_frequency = len(table) - 1
    group = np.minimum(s.frequency.astype(np.int64), max_frequency)
    rng = np.random.default_rng(random_seed)
    members = []
    for k in range(len(table)):
        rows = np.flatnonzero(group == k)
        if len(rows) > max_group_sample:
            rows = np.sort(rng.choice(rows, max_group_sample, replace=False))
        members.append(rows)
    sample = np.concatenate(members)
    var = _predictive_variance(model, horizon[sample], s.frequency[sample], s.recency[sample], s.T[sample])
    size = np.bincount(group, minlength=len(table)).astype(np.float64)
    bounds = np.cumsum([0] + [len(m) for m in members])
    var_mean = np.array([var[bounds[k]:bounds[k + 1]].mean() / size[k] if size[k] else np.nan for k in range(len(table))])
    var_params = np.zeros(len(table))
    if n_draws:
        draws = param_draws(model, n_draws, random_seed)
        for k, rows in enumerate(members):
            if len(rows) and n_draws > 1:  # draws x (at most max_group_sample) customers at a time
                expected = expected_purchases(draws, horizon[rows], s.frequency[rows], s.recency[rows], s.T[rows])
                var_params[k] = expected.mean(axis=1).var(ddof=1)
    z = stats.norm.ppf(0.5 + check_level(ci) / 2)
    predicted = table["predicted_mean"].to_numpy(dtype=np.float64)
    half = z * np.sqrt(var_mean + var_params)
    return pd.DataFrame(
        {
            "customers": size.astype(np.int64),
            "predicted_mean": predicted,
            "sd_customers": np.sqrt(var_mean),
            "sd_params": np.sqrt(var_params),
            "lower": np.maximum(predicted - half, 0.0),
            "upper": predicted + half,
        },
        index=table.index,
    )


def plot_holdout_by_frequency(
    model: Any,
    data: pd.DataFrame,
    *,
    report: HoldoutReport | None = None,
    ci: float = 0.9,
    max_frequency: int = 7,
    n_draws: int = 100,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Actual and expected mean holdout purchases by calibration frequency, with intervals.

    Customers are grouped by their number of repeat purchases in the calibration period (``0``
    to ``max_frequency - 1`` and ``"7+"``); each group's actual mean number of holdout
    purchases is drawn against its conditional expectation ``E[Y(t) | x, t_x, T]`` (Fader,
    Hardie & Lee 2005, eq. 10 and figure 4): the ``by_frequency`` table of
    :func:`clvmodels.evaluate_holdout`. The bars are the ``ci`` predictive interval of the
    *group mean* (:func:`holdout_group_intervals`): the customers' exact predictive variances
    (from ``P(Y(t) = n | x, t_x, T)``) plus the variance of the group's expected mean over
    ``n_draws`` parameter draws, as a normal interval cut at 0. An actual mean outside its bar
    is a misfit that neither chance nor parameter uncertainty explains.

    Parameters
    ----------
    model : TransactionModel
        Fitted on the calibration columns of ``data``.
    data : DataFrame
        From :func:`clvmodels.calibration_holdout_split` (``frequency_holdout``,
        ``duration_holdout``).
    report : HoldoutReport, optional
        A report of :func:`clvmodels.evaluate_holdout` on the same model and data, whose
        ``by_frequency`` table, groups and level are drawn. Without it the same table is
        computed directly (:func:`holdout_by_frequency`), which on millions of customers is
        much faster than the report's per-customer intervals.
    ci : float
        Interval level (ignored when ``report`` is given: the report's level is used).
    max_frequency : int
        First pooled frequency (ignored when ``report`` is given).
    n_draws : int
        Parameter draws for the parameter-uncertainty part of the bars; 0 leaves it out.
    random_seed : int, optional
        Seed of the parameter draws and of the subsets of large groups.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
    an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284, figure 4.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_holdout_by_frequency(BetaGeo().fit(data), data, n_draws=20, ax=Figure().subplots())
    >>> [round(float(v), 3) for v in ax.lines[0].get_ydata()[:2]]  # actual mean, x = 0 and 1
    [0.237, 0.697]
    """
    if report is None:
        level = check_level(ci)
        by = holdout_by_frequency(model, data, max_frequency=max_frequency)
    else:
        level = float(report.metrics["ci"])
        by = report.by_frequency
    table = holdout_group_intervals(model, data, by, ci=level, n_draws=n_draws, random_seed=random_seed)
    ax = new_axes(ax)
    pos = np.arange(len(by))
    ax.plot(pos, by["actual_mean"].to_numpy(dtype=np.float64), "o-", color="0.15", label="Actual", zorder=3)
    predicted = table["predicted_mean"].to_numpy()
    yerr = np.vstack([predicted - table["lower"].to_numpy(), table["upper"].to_numpy() - predicted])
    ax.errorbar(
        pos, predicted, yerr=yerr, fmt="s--", color="C0", capsize=4,
        label=f"{model_name(model)} expected, {level:.0%} interval of the mean",
    )
    unit = time_unit_of(data, model)
    durations = np.unique(data["duration_holdout"].to_numpy(dtype=np.float64))
    if len(durations) == 1:
        span = duration_text(round(float(durations[0]), 2), unit)
    else:
        span = f"{durations.min():g}-{durations.max():g} {unit_name(unit)}"
    ax.set(
        xticks=pos,
        xticklabels=[f"{label}\nn={int(n):,}" for label, n in zip(by.index, by["customers"])],
        xlabel="Repeat transactions in the calibration period (x)",
        ylabel=f"Mean repeat transactions in the holdout ({span})",
        title="Holdout: actual vs expected purchases by calibration frequency",
    )
    ax.set_ylim(0, 1.08 * float(np.nanmax([table["upper"].max(), by["actual_mean"].max()])))
    ax.legend(loc="upper left", title="interval: customers' chance" + (" and parameter uncertainty" if n_draws else ""), title_fontsize="small")
    return ax


def interval_coverage(
    model: Any, data: pd.DataFrame, levels: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage of central predictive intervals at several levels, and its PIT counterpart.

    For each customer with holdout count y and predictive cdf F, the central interval at level
    l contains y when ``F(y) >= (1 - l) / 2`` and ``F(y - 1) < (1 + l) / 2``: the share of such
    customers equals ``evaluate_holdout(model, data, ci=l).metrics["coverage"]``, from one
    evaluation of the cdf for all levels. The randomised PIT value ``U ~ Uniform(F(y - 1), F(y))``
    falls in the central ``l`` of (0, 1) with probability ``|[F(y-1), F(y)] & [(1-l)/2, (1+l)/2]|
    / (F(y) - F(y-1))``; its mean over customers is the PIT coverage without randomisation noise.

    Returns
    -------
    coverage, pit_coverage : ndarray
        One value per level.

    Examples
    --------
    Counts are whole numbers, so central intervals cover more than their level; the PIT
    coverage is close to it when the model is calibrated:

    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  observation_end="1998-06-30", time_unit="W")
    >>> model = BetaGeo().fit(data)
    >>> coverage, pit_coverage = interval_coverage(model, data, [0.5, 0.9])
    >>> coverage.round(3), pit_coverage.round(3)
    (array([0.815, 0.947]), array([0.502, 0.889]))
    """
    levels = np.asarray(levels, dtype=np.float64)
    s, actual, horizon = holdout_arrays(data, discrete=getattr(model, "time_kind", "") == "discrete")
    y = actual.astype(np.int64)
    params = point_params(model)
    low_q, high_q = (1 - levels) / 2, (1 + levels) / 2
    inside = np.zeros(len(levels))
    pit = np.zeros(len(levels))
    for rows, cdf in predictive_cdfs(model, horizon, s.frequency, s.recency, s.T, params=params):
        cols = np.arange(len(rows))
        yy = y[rows]
        f_hi = cdf[np.minimum(yy, len(cdf) - 1), cols]
        f_lo = np.where(yy > 0, cdf[np.clip(yy - 1, 0, len(cdf) - 1), cols], 0.0)
        inside += ((f_hi[None, :] >= low_q[:, None] - 1e-12) & (f_lo[None, :] < high_q[:, None] - 1e-12)).sum(axis=1)
        overlap = np.clip(np.minimum(f_hi[None, :], high_q[:, None]) - np.maximum(f_lo[None, :], low_q[:, None]), 0.0, None)
        width = f_hi - f_lo
        pit += np.where(width > 0, overlap / np.where(width > 0, width, 1.0), 0.0).sum(axis=1)
    return inside / len(y), pit / len(y)


def plot_interval_calibration(
    model: Any,
    data: pd.DataFrame,
    *,
    levels: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
    max_customers: int | None = 50_000,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Nominal against empirical coverage of the holdout predictive intervals.

    For each level, the share of customers whose holdout purchases fall inside their central
    predictive interval, as :func:`clvmodels.evaluate_holdout` reports it
    (:func:`interval_coverage` computes all levels from one evaluation of the predictive cdf).
    Counts are discrete, so these intervals cover *at least* their level even for a perfect
    model; the PIT curve removes that effect: the expected share of randomised PIT values
    (Czado, Gneiting & Held 2009) in the central ``level`` of (0, 1) lies on the diagonal, within
    sampling noise (the grey band: the 95% binomial range for a calibrated model with this many
    customers), when the model is calibrated.

    Parameters
    ----------
    model : TransactionModel
        Fitted on the calibration columns of ``data``.
    data : DataFrame
        From :func:`clvmodels.calibration_holdout_split`.
    levels : tuple of float
        Interval levels to check.
    max_customers : int or None
        Above this many customers a seeded random subset of this size is scored (coverage is
        a share: 50,000 customers estimate it to about 0.002); ``None`` scores all.
    random_seed : int, optional
        Seed of the subset.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Czado, C., Gneiting, T. & Held, L. (2009). Predictive model assessment for count data.
    Biometrics 65(4), 1254-1261.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_interval_calibration(BetaGeo().fit(data), data, levels=(0.5, 0.9), ax=Figure().subplots())
    >>> bool(all(ax.lines[0].get_ydata() >= ax.lines[0].get_xdata()))  # discrete counts over-cover
    True
    """
    levels_arr = np.array(sorted(check_level(level, "levels") for level in levels))
    if len(levels_arr) == 0:
        raise ValueError("levels must hold at least one level in (0, 1).")
    scored = data
    if max_customers is not None and len(data) > max_customers:
        rng = np.random.default_rng(random_seed)
        scored = data.iloc[np.sort(rng.choice(len(data), int(max_customers), replace=False))]
    coverage, pit_coverage = interval_coverage(model, scored, levels_arr)
    n = len(scored)
    ax = new_axes(ax, figsize=(5.6, 6.6))
    low = max(0.0, float(levels_arr.min()) - 0.1)
    grid = np.linspace(low, 1.0, 101)
    band = 1.96 * np.sqrt(grid * (1 - grid) / n)
    ax.fill_between(grid, grid - band, grid + band, color="0.85", label=f"95% sampling range, calibrated model (n={n:,})")
    ax.plot(levels_arr, coverage, "o-", color="C0", label="Central predictive intervals (counts: at least nominal)")
    ax.plot(levels_arr, pit_coverage, "s--", color="C3", label="PIT in the central range (calibrated: on the diagonal)")
    ax.plot([low, 1.0], [low, 1.0], color="0.3", lw=1, label="Nominal = empirical")
    ax.set(
        xlim=(low, 1.0),
        ylim=(low, 1.0),
        aspect="equal",
        xlabel="Nominal level of the predictive interval",
        ylabel="Share of customers covered (empirical)",
        title=f"Interval calibration on the holdout ({model_name(model)})",
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small", frameon=False)
    return ax


# -- tracking over calendar time ------------------------------------------------------------

_TRACKING_COLUMNS = (
    "actual", "expected", "expected_lower", "expected_upper",
    "actual_cumulative", "expected_cumulative", "cumulative_lower", "cumulative_upper",
)


def _check_tracking(table: pd.DataFrame) -> None:
    missing = [c for c in _TRACKING_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"table lacks column(s) {missing}; make it with clvmodels.tracking.tracking_forecast."
        )
    if not isinstance(table.index, pd.DatetimeIndex):
        raise ValueError("table must be indexed by calendar period end (a DatetimeIndex), as tracking_forecast makes it.")


def _period_text(table: pd.DataFrame) -> str:
    period = float(table.attrs.get("period", 1.0))
    unit = time_unit_of(table)
    return unit_name(unit, plural=False) if np.isclose(period, 1.0) else duration_text(period, unit)


def _draw_tracking(table: pd.DataFrame, ax: Axes, cumulative: bool) -> Axes:
    _check_tracking(table)
    when = table.index
    if cumulative:
        actual, expected, lower, upper = (table[c] for c in ("actual_cumulative", "expected_cumulative", "cumulative_lower", "cumulative_upper"))
    else:
        actual, expected, lower, upper = (table[c] for c in ("actual", "expected", "expected_lower", "expected_upper"))
    ci = table.attrs.get("ci")
    band_label = (f"{float(ci):.0%} " if ci is not None else "") + "credible band (parameter draws)"
    ax.fill_between(when, lower.to_numpy(dtype=np.float64), upper.to_numpy(dtype=np.float64), color="C0", alpha=0.25, lw=0, label=band_label)
    model = table.attrs.get("model")
    ax.plot(when, expected.to_numpy(dtype=np.float64), "--", color="C0", label=f"Expected ({model})" if model else "Expected")
    ax.plot(when, actual.to_numpy(dtype=np.float64), "-", color="0.1", label="Actual")
    end = table.attrs.get("calibration_end")
    if end is not None:
        ax.axvline(pd.Timestamp(end), color="0.4", ls=":", lw=1.5, label=f"End of calibration ({pd.Timestamp(end):%Y-%m-%d})")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    period = _period_text(table)
    if cumulative:
        ax.set(ylabel="Cumulative repeat transactions", title="Tracking: cumulative repeat transactions")
    else:
        ax.set(ylabel=f"Repeat transactions per {period}", title=f"Tracking: repeat transactions per {period}")
    ax.set(xlabel=f"Calendar date (end of each {period})")
    thousands(ax.yaxis)
    if cumulative:
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left")
    else:  # headroom above the noisy counts for a two-column legend
        top = np.nanmax([np.nanmax(actual.to_numpy(dtype=np.float64)), np.nanmax(upper.to_numpy(dtype=np.float64))])
        ax.set_ylim(0, 1.4 * top)
        ax.legend(loc="upper right", ncol=2, fontsize="small")
    return ax


def plot_cumulative_transactions(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Cumulative repeat transactions over calendar time, actual against expected.

    The table of :func:`clvmodels.tracking.tracking_forecast`: the cohort's expected repeat
    transactions given each customer's first-purchase date, with its interval band, and the
    actual ones; the end of the calibration period is marked (Fader, Hardie & Lee 2005,
    figure 2).

    Parameters
    ----------
    table : DataFrame
        Indexed by period end (Timestamps) with ``actual_cumulative, expected_cumulative,
        cumulative_lower, cumulative_upper`` (and the per-period columns); ``attrs`` with
        ``calibration_end``, ``time_unit``, ``period`` and ``ci``.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
    an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284, figure 2.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.tracking import tracking_forecast
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> log = load_cdnow_sample()
    >>> model = BetaGeo().fit(calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W"))
    >>> table = tracking_forecast(model, log, calibration_end="1997-09-30", n_draws=50, random_seed=0)
    >>> ax = plot_cumulative_transactions(table, ax=Figure().subplots())
    >>> int(ax.lines[1].get_ydata()[-1])  # actual repeat transactions to 1998-06-30
    4339
    """
    return _draw_tracking(table, new_axes(ax, figsize=(8.0, 4.5)), cumulative=True)


def plot_period_transactions(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Repeat transactions per period (weekly for CDNOW) over calendar time, actual against expected.

    See :func:`plot_cumulative_transactions`; this is Fader, Hardie & Lee (2005), figure 3.

    Parameters
    ----------
    table : DataFrame
        From :func:`clvmodels.tracking.tracking_forecast` (``actual, expected,
        expected_lower, expected_upper``).
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.tracking import tracking_forecast
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> log = load_cdnow_sample()
    >>> model = BetaGeo().fit(calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W"))
    >>> table = tracking_forecast(model, log, calibration_end="1997-09-30", n_draws=50, random_seed=0)
    >>> plot_period_transactions(table, ax=Figure().subplots()).get_ylabel()
    'Repeat transactions per week'
    """
    return _draw_tracking(table, new_axes(ax, figsize=(8.0, 4.5)), cumulative=False)


def plot_tracking(table: pd.DataFrame, *, fig: Figure | None = None) -> Figure:
    """Both tracking plots, per period above and cumulative below, on one figure.

    Parameters
    ----------
    table : DataFrame
        From :func:`clvmodels.tracking.tracking_forecast`.
    fig : Figure, optional
        An empty figure to draw on; a new one when omitted.

    Returns
    -------
    Figure

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.tracking import tracking_forecast
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> log = load_cdnow_sample()
    >>> model = BetaGeo().fit(calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W"))
    >>> table = tracking_forecast(model, log, calibration_end="1997-09-30", n_draws=50, random_seed=0)
    >>> [ax.get_title() for ax in plot_tracking(table, fig=Figure()).axes]
    ['Tracking: repeat transactions per week', 'Tracking: cumulative repeat transactions']
    """
    fig = new_figure(fig, figsize=(8.0, 7.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    plot_period_transactions(table, ax=top)
    plot_cumulative_transactions(table, ax=bottom)
    top.set_xlabel("")
    return fig
