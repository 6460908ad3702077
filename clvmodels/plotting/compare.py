"""Plots that compare transaction models: holdout by calibration frequency and tracking, one
line per model (:func:`clvmodels.compare_models`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._common import new_axes, thousands

__all__ = ["plot_compare_holdout", "plot_compare_tracking"]


def plot_compare_holdout(comparison: Any, *, ax: Axes | None = None) -> Axes:
    """Actual mean holdout purchases by calibration frequency, and each model's expectation.

    The ``by_frequency`` tables of the comparison's holdout reports (Fader, Hardie & Lee 2005,
    figure 4), one dashed line per model, with each model's holdout total error in its label.

    Parameters
    ----------
    comparison : ModelComparison
        From :func:`clvmodels.compare_models`.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> import warnings
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split, compare_models
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     comparison = compare_models([BetaGeo().fit(data)], data, n_draws=0, random_seed=0)
    >>> ax = plot_compare_holdout(comparison, ax=Figure().subplots())
    >>> [round(float(v), 3) for v in ax.lines[0].get_ydata()[:2]]  # actual mean, x = 0 and 1
    [0.237, 0.697]
    """
    ax = new_axes(ax)
    reports = comparison.reports
    if not reports:
        raise ValueError("the comparison holds no model.")
    first = next(iter(reports.values())).by_frequency
    pos = np.arange(len(first))
    ax.plot(pos, first["actual_mean"].to_numpy(dtype=np.float64), "o-", color="0.1", lw=2, label="Actual", zorder=4)
    markers = "s^Dvp*"
    for i, (name, report) in enumerate(reports.items()):
        row = comparison.table.loc[name]
        by = report.by_frequency
        ax.plot(
            pos, by["predicted_mean"].to_numpy(dtype=np.float64), f"{markers[i % len(markers)]}--", color=f"C{i}",
            label=f"{row['model']} ({row['relative_error']:+.1%} on the total)",
        )
    ax.set(
        xticks=pos,
        xticklabels=[f"{label}\nn={int(n):,}" for label, n in zip(first.index, first["customers"])],
        xlabel="Repeat transactions in the calibration period (x)",
        ylabel="Mean repeat transactions in the holdout",
        title="Holdout by calibration frequency: models compared",
    )
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_compare_tracking(tables: Mapping[str, pd.DataFrame], *, cumulative: bool = True, ax: Axes | None = None) -> Axes:
    """Repeat transactions over calendar time, actual against each model's expectation.

    Parameters
    ----------
    tables : mapping
        Model name -> :func:`clvmodels.tracking_forecast` table of that model (same log and
        calibration end).
    cumulative : bool
        Cumulative counts (default) or counts per period.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split, tracking_forecast
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> log = load_cdnow_sample()
    >>> data = calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W")
    >>> table = tracking_forecast(BetaGeo().fit(data), log, calibration_end="1997-09-30", n_draws=20, random_seed=0)
    >>> ax = plot_compare_tracking({"BG/NBD": table}, ax=Figure().subplots())
    >>> int(ax.lines[0].get_ydata()[-1])  # actual cumulative repeat transactions at the end
    4339
    """
    if not tables:
        raise ValueError("tables is empty; give {model name: tracking_forecast(...) table}.")
    ax = new_axes(ax)
    first = next(iter(tables.values()))
    actual_column, expected_column = ("actual_cumulative", "expected_cumulative") if cumulative else ("actual", "expected")
    for name, table in tables.items():
        for column in (actual_column, expected_column):
            if column not in table.columns:
                raise ValueError(f"tables[{name!r}] lacks column {column!r}; make it with clvmodels.tracking_forecast.")
    ax.plot(first.index, first[actual_column].to_numpy(dtype=np.float64), "-", color="0.1", lw=2, label="Actual")
    for i, (name, table) in enumerate(tables.items()):
        ax.plot(table.index, table[expected_column].to_numpy(dtype=np.float64), "--", color=f"C{i}", label=str(name))
    end = first.attrs.get("calibration_end")
    if end is not None:
        ax.axvline(pd.Timestamp(end), color="0.4", ls=":", lw=1.5, label=f"End of calibration ({pd.Timestamp(end):%Y-%m-%d})")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    what = "Cumulative repeat transactions" if cumulative else "Repeat transactions per period"
    ax.set(xlabel="Calendar date", ylabel=what, title=f"Tracking: {what.lower()}, models compared")
    thousands(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    return ax
