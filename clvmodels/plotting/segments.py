"""Segment plots: mean CLV per segment with credible intervals (a forest plot)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from ._common import new_axes

__all__ = ["plot_segments"]


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
