"""Retention plots: projected survival and retention rates against a cohort's actual counts (the
figures of Fader & Hardie 2007), and the residual value of subscribers by renewals made."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from ._common import check_level, currency_text, model_name, new_axes, point_params, thousands, time_unit_of, unit_name

__all__ = ["plot_survival_projection", "plot_retention_projection", "plot_derl_by_renewals"]


def _survivors(survivors: Any) -> np.ndarray | None:
    if survivors is None:
        return None
    counts = np.asarray(survivors, dtype=np.float64).ravel()
    if counts.size < 2 or not np.all(np.isfinite(counts)) or np.any(counts < 0) or counts[0] <= 0:
        raise ValueError("survivors must hold the cohort's counts at the start of periods 0, 1, ... (at least two, the first > 0).")
    return counts


def _periods(periods: Any, counts: np.ndarray | None, start: int) -> np.ndarray:
    if periods is None:
        last = max(12, len(counts) - 1) if counts is not None else 12
        return np.arange(start, last + 1)
    t = np.asarray(periods, dtype=np.float64).ravel()
    if t.size == 0 or np.any(t < start) or np.any(t != np.round(t)):
        raise ValueError(f"periods must be whole numbers >= {start}.")
    return t.astype(np.int64)


def _mark_fitted(ax: Axes, fitted_periods: int | None, unit: str | None) -> None:
    if fitted_periods is None:
        return
    ax.axvspan(-0.5 if fitted_periods >= 0 else 0, fitted_periods + 0.5, color="0.92", zorder=0,
               label=f"fitted ({unit_name(unit, plural=True)} 0-{fitted_periods})")


def _projection(model: Any, curve_of: Any, survivors: Any, periods: Any, start: int, fitted_periods: int | None, ci: float,
                n_draws: int, predictive: bool, random_seed: Any, ax: Axes | None, what: str, color: str) -> tuple[Any, ...]:
    """The projection both plots share: the curve (``curve_of``: survival or retention) with its
    credible band (survival scaled to the cohort's size when its counts are given) and, for a
    cohort of that size, the predictive band of ``{what}_pred_*``; the fitted range marked."""
    ci = check_level(ci)
    counts = _survivors(survivors)
    t = _periods(periods, counts, start)
    unit = time_unit_of(model)
    size = None if counts is None else int(round(counts[0]))
    curve = curve_of(t, ci=ci, n_draws=n_draws, random_seed=random_seed, cohort_size=size if predictive else None)
    ax = new_axes(ax)
    _mark_fitted(ax, fitted_periods, unit)
    scale = float(size) if size is not None and what == "survivors" else 1.0
    if size is not None and predictive:
        ax.fill_between(t, curve[f"{what}_pred_lower"], curve[f"{what}_pred_upper"], color=color, alpha=0.12, lw=0,
                        label=f"{ci:.0%} predictive band (a cohort of {size:,})")
    ax.fill_between(t, scale * curve["lower"], scale * curve["upper"], color=color, alpha=0.3, lw=0, label=f"{ci:.0%} credible band")
    ax.plot(t, scale * curve["expected"], color=color, lw=2, label=f"{model_name(model)} projection")
    return counts, unit, size, ax


def plot_survival_projection(
    model: Any,
    survivors: Any = None,
    *,
    periods: Any = None,
    fitted_periods: int | None = None,
    ci: float = 0.9,
    n_draws: int = 500,
    predictive: bool = True,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Projected survival of a cohort with its credible band, against the actual counts.

    With ``survivors`` (the cohort's counts at the start of periods 0, 1, ...) the curve is in
    subscribers, the cohort's size being ``survivors[0]``, with the predictive band of a cohort
    of that size (:meth:`~clvmodels.models.retention.RetentionModel.survival_curve`) and the
    actual counts as points: the figure of Fader & Hardie (2007) with the uncertainty added.
    Without them, the share surviving.

    Parameters
    ----------
    model : RetentionModel
        A fitted retention model (:class:`~clvmodels.ShiftedBetaGeo`).
    survivors : array_like, optional
        Actual survivor counts.
    periods : array_like, optional
        Periods drawn (by default 0 to 12, or to the last actual count if later).
    fitted_periods : int, optional
        The last period the model was fitted on: the fitted range is shaded.
    ci : float
        Level of the bands.
    n_draws : int
        Parameter draws behind the bands.
    predictive : bool
        Draw the predictive band of the counts (with ``survivors``).
    random_seed : int, optional
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import ShiftedBetaGeo
    >>> actual = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
    >>> model = ShiftedBetaGeo().fit_survivors(actual[:8], time_unit="Y")
    >>> ax = plot_survival_projection(model, actual, fitted_periods=7, n_draws=200, ax=Figure().subplots())
    >>> ax.get_ylabel()
    'subscribers surviving'
    """
    counts, unit, size, ax = _projection(model, model.survival_curve, survivors, periods, 0, fitted_periods, ci, n_draws,
                                            predictive, random_seed, ax, "survivors", "C0")
    params = point_params(model)
    if counts is not None:
        ax.plot(np.arange(len(counts)), counts, "o", color="k", ms=4, label="actual")
    ax.set(xlabel=f"{unit_name(unit, plural=False)} (period)", ylabel="subscribers surviving" if size else "share surviving",
           title=f"Projected survival ({model_name(model)}: " + ", ".join(f"{k} {v:.3g}" for k, v in params.items()) + ")")
    if size:
        thousands(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    return ax


def plot_retention_projection(
    model: Any,
    survivors: Any = None,
    *,
    periods: Any = None,
    fitted_periods: int | None = None,
    ci: float = 0.9,
    n_draws: int = 500,
    predictive: bool = True,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Projected retention rates ``r(t) = S(t) / S(t - 1)`` with credible (and, given the
    cohort's counts, predictive) bands, against the actual rates ``survivors[t] / survivors[t-1]``
    (Fader & Hardie 2007, figure of retention rates rising with tenure).

    Parameters are those of :func:`plot_survival_projection` (periods from 1).

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import ShiftedBetaGeo
    >>> actual = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
    >>> model = ShiftedBetaGeo().fit_survivors(actual[:8], time_unit="Y")
    >>> ax = plot_retention_projection(model, actual, fitted_periods=7, n_draws=200, ax=Figure().subplots())
    >>> ax.get_ylabel()
    'retention rate'
    """
    counts, unit, size, ax = _projection(model, model.retention_curve, survivors, periods, 1, fitted_periods, ci, n_draws,
                                            predictive, random_seed, ax, "retention", "C1")
    params = point_params(model)
    if counts is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = counts[1:] / counts[:-1]
        ax.plot(np.arange(1, len(counts)), rates, "o", color="k", ms=4, label="actual")
    ax.set(xlabel=f"{unit_name(unit, plural=False)} (period)", ylabel="retention rate",
           title=f"Projected retention rates ({model_name(model)}: " + ", ".join(f"{k} {v:.3g}" for k, v in params.items()) + ")")
    ax.legend(frameon=False)
    return ax


def plot_derl_by_renewals(
    model: Any,
    renewals: Any = None,
    *,
    discount_rate: float,
    margin: float | None = None,
    horizon: int | None = None,
    rate_per: str = "year",
    time_unit: str | None = None,
    ci: float = 0.9,
    n_draws: int = 500,
    random_seed: int | None = 0,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Discounted expected residual lifetime (or, with ``margin``, residual value) of an active
    subscriber against the renewals made, with its credible band: loyal subscribers are worth
    more because they are the ones with low churn probabilities (Fader & Hardie 2010).

    Parameters
    ----------
    model : RetentionModel
    renewals : array_like, optional
        Renewals made (by default 0 to 20).
    discount_rate, rate_per, time_unit, horizon
        As in :func:`clvmodels.subscriber_forecast.forecast_subscribers` (an annual rate by default,
        converted by the model's time unit).
    margin : float, optional
        Margin per period: plot the value ``margin x DERL`` instead of DERL.
    ci, n_draws, random_seed, currency, ax
        Band level, draws, seed, currency label, Axes.

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import ShiftedBetaGeo
    >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241], time_unit="Y")
    >>> ax = plot_derl_by_renewals(model, discount_rate=0.1, n_draws=200, ax=Figure().subplots())
    >>> ax.get_ylabel()
    'discounted expected residual lifetime (payments)'
    """
    from ..models.params import seed_sequence
    from ..subscriber_forecast import per_period_rate

    point_params(model)
    ci = check_level(ci)
    n = np.arange(21) if renewals is None else np.asarray(renewals, dtype=np.float64).ravel()
    unit = time_unit_of(model, explicit=time_unit)
    d = per_period_rate(discount_rate, unit, rate_per)
    draws = model.sample_params(int(n_draws), random_seed=seed_sequence(random_seed))
    f = type(model).formulas
    scale = 1.0 if margin is None else float(margin)
    values = scale * f.derl(draws, n, d, horizon)
    expected = scale * f.derl(model.params_, n, d, horizon)
    lower, upper = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    ax = new_axes(ax)
    ax.fill_between(n, lower, upper, color="C2", alpha=0.3, lw=0, label=f"{ci:.0%} credible band")
    ax.plot(n, expected, "o-", color="C2", ms=3, lw=2, label=model_name(model))
    what = "discounted expected residual lifetime (payments)" if margin is None else f"residual value ({currency_text(currency)})"
    rate = f"{discount_rate:.3g} per {'year' if rate_per == 'year' else unit_name(unit, plural=False)}"
    ax.set(xlabel="renewals made", ylabel=what, title=f"Residual value by renewals made (discount rate {rate})")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    return ax
