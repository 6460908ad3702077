"""Segment plots: mean CLV per segment with credible intervals (a forest plot), and mean CLV by
acquisition cohort in time order."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from ._common import currency_text, new_axes, thousands

__all__ = ["plot_segments", "plot_cohorts"]


def plot_segments(result: Any, by: str | list[str], *, currency: str | None = None, ax: Axes | None = None) -> Axes:
    """Mean CLV per customer of each segment, with its credible interval (a forest plot).

    The intervals are the segment's mean computed draw by draw
    (:meth:`clvmodels.Forecast.segment_summary`), so two segments whose intervals do not overlap
    differ clearly; :meth:`clvmodels.Forecast.compare` gives the probability directly.

    Parameters
    ----------
    result : Forecast
        From :func:`clvmodels.forecast` with ``segments=``.
    by : str or list of str
        Segment attributes.
    currency : str, optional
        Currency label of the axis (for example ``"$"`` or ``"EUR"``).
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, GammaGamma, calibration_holdout_split, forecast
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W", amount_col="amount")
    >>> data = data.assign(repeat=data["frequency"] > 0)
    >>> result = forecast(BetaGeo().fit(data), GammaGamma().fit(data), data, horizon=52,
    ...                   discount_rate=0.15, n_draws=100, random_seed=1, segments="repeat", predictive=False)
    >>> ax = plot_segments(result, "repeat", ax=Figure().subplots())
    >>> len(ax.get_yticklabels())
    2
    """
    table = result.segment_summary(by)
    value = "clv" if "clv_mean" in table.columns else "discounted_purchases"
    ax = new_axes(ax, figsize=(7.0, 1.0 + 0.45 * len(table)))
    mean = table[f"{value}_mean"].to_numpy(dtype=np.float64)
    lower = table[f"{value}_mean_lower"].to_numpy(dtype=np.float64)
    upper = table[f"{value}_mean_upper"].to_numpy(dtype=np.float64)
    pos = np.arange(len(table))[::-1]
    ax.errorbar(mean, pos, xerr=np.vstack([mean - lower, upper - mean]), fmt="o", color="C0", capsize=4)
    labels = [
        (" / ".join(str(v) for v in key) if isinstance(key, tuple) else str(key)) + f"  (n={int(n):,})"
        for key, n in zip(table.index, table["customers"])
    ]
    ax.set_yticks(pos, labels)
    overall = float(np.sum(mean * table["customers"]) / table["customers"].sum())
    ax.axvline(overall, color="0.5", ls=":", label=f"all customers {overall:,.2f}")
    what = "CLV per customer" if value == "clv" else "discounted purchases per customer"
    unit = f" ({currency})" if currency and value == "clv" else ""
    ci = table.attrs.get("ci", result.settings.get("ci"))
    ax.set(xlabel=f"Mean {what}{unit}, {float(ci):.0%} credible interval", title=f"{what[0].upper()}{what[1:]} by {by if isinstance(by, str) else ', '.join(by)}")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}")
    ax.legend(loc="best", fontsize="small")
    return ax


_WHAT = {
    "net_clv": "net CLV",
    "clv": "CLV",
    "discounted_purchases": "discounted purchases",
}


def plot_cohorts(result: Any, by: str = "cohort", *, currency: str | None = None, ax: Axes | None = None) -> Axes:
    """Mean CLV per customer by acquisition cohort, in time order, with credible intervals and
    the number of customers of each cohort.

    The points are the cohorts' mean values per customer and the error bars their credible
    intervals computed draw by draw (the cohort's total in each parameter draw divided by its
    customers, then quantiles: :meth:`clvmodels.Forecast.segment_summary`), never averages of
    per-customer bounds. The value drawn is the net CLV (future margin minus the discounted cost
    of future purchases) when the forecast was given costs, since that is what a cohort is worth
    against what it cost to acquire; otherwise the CLV, or discounted purchases without a spend
    model. With ``acquisition_cost=`` the cohorts' mean acquisition cost is drawn as a dashed
    line. Grey bars on a second y axis (right) count each cohort's customers: a small cohort's
    wide interval reads as such.

    Parameters
    ----------
    result : Forecast
        From :func:`clvmodels.forecast` with ``segments=`` holding the cohort column, for example
        from :func:`clvmodels.segments.acquisition_cohorts`.
    by : str
        The cohort attribute. Cohorts are drawn in the order of the segment table: time order for
        the ordered categories of :func:`~clvmodels.segments.acquisition_cohorts`, or for labels
        that sort chronologically (``"1997-01"``, periods, dates).
    currency : str, optional
        Currency label of the axis (for example ``"$"`` or ``"EUR"``).
    ax : Axes, optional
        Where to draw the values; the customer counts go on its twin (``ax.twinx()``), drawn
        behind it. A new figure when omitted.

    Returns
    -------
    Axes
        The Axes of the values (the counts' Axes shares its x axis:
        ``ax.get_shared_x_axes().get_siblings(ax)``).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, GammaGamma, calibration_holdout_split, forecast
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> from clvmodels.segments import acquisition_cohorts
    >>> log = load_cdnow_sample()
    >>> data = calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W", amount_col="amount")
    >>> cohorts = acquisition_cohorts(log, observation_end="1997-09-30")
    >>> result = forecast(BetaGeo().fit(data), GammaGamma().fit(data), data, horizon=52,
    ...                   discount_rate=0.15, n_draws=100, random_seed=1, segments=cohorts, predictive=False)
    >>> ax = plot_cohorts(result, ax=Figure().subplots())
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['1997-01', '1997-02', '1997-03']
    """
    if not isinstance(by, str):
        raise ValueError(
            f"by={by!r}: plot_cohorts draws one cohort attribute (a column name such as 'cohort'); "
            "use plot_segments for several attributes."
        )
    table = result.segment_summary(by)
    value = next(v for v in _WHAT if f"{v}_mean" in table.columns)
    n = len(table)
    ax = new_axes(ax, figsize=(max(6.0, 2.0 + 0.6 * n), 4.5))
    x = np.arange(n, dtype=np.float64)
    customers = table["customers"].to_numpy(dtype=np.float64)
    counts_ax = ax.twinx()
    counts_ax.bar(x, customers, width=0.6, color="0.85", label="customers (right axis)")
    counts_ax.set_ylim(0.0, 2.5 * float(customers.max()))  # bars in the lower part, under the values
    counts_ax.set_ylabel("Customers acquired")
    thousands(counts_ax.yaxis)
    ax.set_zorder(counts_ax.get_zorder() + 1)  # the values in front of the bars
    ax.patch.set_visible(False)

    mean = table[f"{value}_mean"].to_numpy(dtype=np.float64)
    lower = table[f"{value}_mean_lower"].to_numpy(dtype=np.float64)
    upper = table[f"{value}_mean_upper"].to_numpy(dtype=np.float64)
    ci = float(table.attrs.get("ci", result.settings.get("ci")))
    what = _WHAT[value]
    ax.errorbar(x, mean, yerr=np.vstack([mean - lower, upper - mean]), fmt="o-", color="C0", capsize=4,
                label=f"mean {what} per customer, {ci:.0%} credible interval")
    if "acquisition_cost_mean" in table.columns:
        ax.plot(x, table["acquisition_cost_mean"].to_numpy(dtype=np.float64), ls="--", color="C3",
                marker="_", markersize=14, label="mean acquisition cost")
    if np.nanmin(lower) < 0:
        ax.axhline(0.0, color="0.5", lw=0.8)
    labels = [" / ".join(str(v) for v in key) if isinstance(key, tuple) else str(key) for key in table.index]
    ax.set_xticks(x, labels, rotation=45 if n > 8 else 0, ha="right" if n > 8 else "center")
    ax.set_xlim(-0.6, n - 0.4)
    unit = "" if value == "discounted_purchases" else f" ({currency_text(currency)})"
    xlabel = "Acquisition cohort: period of the first purchase" if by == "cohort" else f"Acquisition cohort ({by})"
    ax.set(xlabel=xlabel,
           ylabel=f"Mean {what} per customer{unit}", title=f"{what[0].upper()}{what[1:]} by acquisition cohort")
    thousands(ax.yaxis)
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top + 0.35 * (top - bottom))  # room for the legend above the values
    handles, names = ax.get_legend_handles_labels()
    bar_handles, bar_names = counts_ax.get_legend_handles_labels()
    ax.legend(handles + bar_handles, names + bar_names, loc="upper left", fontsize="small")
    return ax
