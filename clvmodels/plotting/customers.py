"""Customer-level views: frequency-recency heatmaps, one customer's history, CLV across customers.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an
alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D

from ..units import RESOLUTIONS, normalize_resolution, unit_days
from ._common import (
    currency_text,
    duration_text,
    forecast_frame,
    model_formulas,
    model_name,
    money_text,
    new_axes,
    param_draws,
    point_params,
    thousands,
    time_unit_of,
    unit_name,
)

__all__ = [
    "frequency_recency_grid",
    "plot_prob_alive_heatmap",
    "plot_expected_purchases_heatmap",
    "prob_alive_path",
    "plot_customer_history",
    "plot_clv_distribution",
    "plot_top_customers",
]


# -- frequency-recency heatmaps -------------------------------------------------------------

#: draws x grid cells evaluated at once when a grid is averaged over parameter draws
_GRID_CELLS_PER_CHUNK = 250_000


def frequency_recency_grid(
    model: Any,
    quantity: Callable[[Any, np.ndarray, np.ndarray, float], np.ndarray],
    *,
    T: float,
    max_frequency: int,
    n_recency: int = 80,
    n_draws: int | None = None,
    random_seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate ``quantity(params, x, t_x, T)`` on a grid of frequency and recency at age T.

    Rows are frequencies ``0 .. max_frequency``, columns the centres of ``n_recency`` equal
    cells of recency in ``[0, T]``; a customer without a repeat purchase has recency 0, so the
    row ``x = 0`` is evaluated at ``t_x = 0`` in every column. With ``n_draws`` the value is the mean over that many
    parameter draws, accumulated over chunks of draws (at most 250,000 draw-cells at once), so
    memory stays bounded whatever the number of draws; customers never enter.

    Returns
    -------
    recency_edges, frequency_edges, values
        Cell edges (for ``pcolormesh``) and the ``(max_frequency + 1, n_recency)`` values.

    Examples
    --------
    P(alive) at age 38.86 weeks on a coarse grid: 1 without repeat purchases; after ten, it
    depends on how recent the last one was.

    >>> from clvmodels.models import beta_geo
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  observation_end="1998-06-30", time_unit="W")
    >>> model = BetaGeo().fit(data)
    >>> recency_edges, frequency_edges, values = frequency_recency_grid(
    ...     model, beta_geo.prob_alive, T=38.86, max_frequency=10, n_recency=4)
    >>> recency_edges.round(2), values.shape
    (array([ 0.  ,  9.72, 19.43, 29.14, 38.86]), (11, 4))
    >>> values[[0, 10]].round(3)
    array([[1.   , 1.   , 1.   , 1.   ],
           [0.   , 0.003, 0.177, 0.81 ]])
    """
    if not T > 0:
        raise ValueError(f"T={T!r} must be positive (the customers' age, in time units).")
    if int(max_frequency) != max_frequency or max_frequency < 1:
        raise ValueError(f"max_frequency={max_frequency!r} must be a whole number >= 1.")
    discrete = getattr(model, "time_kind", "continuous") == "discrete"
    if discrete:  # occasions: one cell per recency 0..n; the impossible cells (x > t_x) stay empty
        if T != int(T):
            raise ValueError(f"T={T!r}: {type(model).__name__} counts occasions; give n_periods, a whole number.")
        recency = np.arange(int(T) + 1, dtype=np.float64)
        recency_edges = np.arange(int(T) + 2, dtype=np.float64) - 0.5
    else:
        recency_edges = np.linspace(0.0, float(T), int(n_recency) + 1)
        recency = (recency_edges[:-1] + recency_edges[1:]) / 2
    frequency = np.arange(int(max_frequency) + 1, dtype=np.float64)
    x = frequency[:, None]
    t_x = np.where(x == 0, 0.0, recency[None, :])  # no repeat purchase: recency is 0
    if discrete:
        t_x = np.maximum(t_x, x)  # evaluated where possible, masked below
    if n_draws is None:
        values = quantity(point_params(model), x, t_x, float(T))
    else:
        draws = param_draws(model, n_draws, random_seed)
        values = np.zeros((len(frequency), len(recency)))
        step = max(1, _GRID_CELLS_PER_CHUNK // values.size)
        for start in range(0, len(draws), step):
            chunk = draws.iloc[start:start + step]
            names = list(chunk.columns)
            shaped = {name: chunk[name].to_numpy()[:, None, None] for name in names}  # (S, 1, 1)
            values += quantity(shaped, x[None], t_x[None], float(T)).sum(axis=0)
        values /= len(draws)
    values = np.broadcast_to(values, (len(frequency), len(recency))).copy()
    if discrete:
        values = np.ma.masked_array(values, mask=(x > recency[None, :]) | ((x == 0) & (recency[None, :] > 0)))
    return recency_edges, np.arange(int(max_frequency) + 2) - 0.5, values


def _grid_defaults(data: pd.DataFrame | None, T: float | None, max_frequency: int | None, model: Any = None) -> tuple[float, int]:
    if data is not None:
        if T is None:
            column = "n_periods" if getattr(model, "time_kind", "continuous") == "discrete" else "T"
            T = float(np.asarray(data[column], dtype=np.float64).max())
        if max_frequency is None:
            max_frequency = max(int(np.asarray(data["frequency"]).max()), 1)
    if T is None or max_frequency is None:
        raise ValueError("give data (for the largest T and frequency) or both T and max_frequency.")
    return float(T), int(max_frequency)


def _heatmap(
    ax: Axes,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    colorbar_label: str,
    contour_levels: list[float],
    contour_format: str,
    contour_label: str,
    title: str,
    unit: str | None,
    T: float,
    log: bool = False,
    first_row_note: str | None = None,
) -> Axes:
    recency_edges, frequency_edges, values = grid
    norm = None
    if log:
        top = float(values.max())
        norm = LogNorm(vmin=max(float(values.min()), top * 1e-3), vmax=top)
    mesh = ax.pcolormesh(recency_edges, frequency_edges, values, cmap="viridis", norm=norm, shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label=colorbar_label)
    centres = (recency_edges[:-1] + recency_edges[1:]) / 2
    frequency = (frequency_edges[:-1] + frequency_edges[1:]) / 2
    # contours over the repeat buyers only: at x = 0 nothing depends on recency, and
    # interpolating between the rows x = 0 and x = 1 would draw curves no customer has
    repeat = values[1:]
    levels = [v for v in contour_levels if repeat.min() < v < repeat.max()]
    handles = []
    if levels and len(repeat) > 1:
        contours = ax.contour(centres, frequency[1:], repeat, levels=levels, colors="white", linewidths=0.9)
        ax.clabel(contours, fmt=contour_format, fontsize="small")
        handles.append(Line2D([], [], color="white", lw=0.9, label=contour_label))
    ax.set(
        xlabel=f"Recency: time of the last purchase ({unit_name(unit)} after the first)",
        ylabel="Frequency: repeat purchases (x)",
        title=title,
        xlim=(recency_edges[0], recency_edges[-1]),
        ylim=(frequency_edges[0], frequency_edges[-1]),
    )
    if first_row_note:
        ax.text(
            (recency_edges[0] + recency_edges[-1]) / 2, 0.0, first_row_note, ha="center", va="center",
            fontsize="x-small", color="0.1", clip_on=True,
        )
    legend = ax.legend(
        handles=handles, title=f"customers aged T = {duration_text(round(T, 2), unit)}",
        loc="upper left", fontsize="small", title_fontsize="small", framealpha=0.85,
    )
    legend.get_frame().set_facecolor("0.3")
    for text in [legend.get_title(), *legend.get_texts()]:
        text.set_color("white")
    return ax


def plot_prob_alive_heatmap(
    model: Any,
    data: pd.DataFrame | None = None,
    *,
    T: float | None = None,
    max_frequency: int | None = None,
    n_recency: int = 80,
    n_draws: int | None = None,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """P(alive) of a customer aged T by frequency and recency (Fader, Hardie & Lee 2005, eq. 13).

    The grid is evaluated at the point estimate, or averaged over ``n_draws`` parameter draws
    in chunks (:func:`frequency_recency_grid`): its cost and memory do not depend on the number
    of customers. Contours are iso-probability curves (0.1, 0.3, 0.5, 0.7, 0.9), drawn over
    the repeat buyers (for x = 0 nothing depends on recency). When the model assumes that a
    customer can only drop out after a repeat purchase (``alive_without_repeat``, as the
    BG/NBD does), the row x = 0 is 1 by that assumption, not by the data, and a note on the row
    says so.

    Parameters
    ----------
    model : TransactionModel
        Any registered transaction model, fitted (its ``formulas.prob_alive``).
    data : DataFrame, optional
        Summary that sets the defaults: T = the largest T, max_frequency = the largest frequency.
    T : float, optional
        Age of the customers (time since the first purchase), in the model's time unit.
    max_frequency : int, optional
        Largest frequency row.
    n_recency : int
        Recency cells between 0 and T.
    n_draws : int, optional
        Average over this many parameter draws instead of the point estimate.
    random_seed : int, optional
        Seed of the draws.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_prob_alive_heatmap(BetaGeo().fit(data), data, ax=Figure().subplots())
    >>> ax.collections[0].get_array().shape  # frequencies 0..29 by 80 recency cells
    (30, 80)
    """
    prob_alive = model_formulas(model, "transactions").prob_alive
    T, max_frequency = _grid_defaults(data, T, max_frequency, model)
    grid = frequency_recency_grid(model, prob_alive, T=T, max_frequency=max_frequency, n_recency=n_recency, n_draws=n_draws, random_seed=random_seed)
    unit = time_unit_of(data, model)
    how = "point estimate" if n_draws is None else f"mean over {n_draws} parameter draws"
    note = None
    if getattr(type(model), "alive_without_repeat", False):
        note = f"x = 0: P(alive) = 1 by the {model_name(model)} assumption (dropout only after a repeat purchase)"
    return _heatmap(
        new_axes(ax, figsize=(7.0, 5.0)), grid,
        colorbar_label=f"P(alive) at T ({model_name(model)}, {how})",
        contour_levels=[0.1, 0.3, 0.5, 0.7, 0.9], contour_format="%.1f", contour_label="Iso-probability curves",
        title="Probability that a customer is alive", unit=unit, T=T, first_row_note=note,
    )


def plot_expected_purchases_heatmap(
    model: Any,
    data: pd.DataFrame | None = None,
    *,
    t: float,
    T: float | None = None,
    max_frequency: int | None = None,
    n_recency: int = 80,
    n_draws: int | None = None,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Expected purchases in the next ``t`` time units by frequency and recency, at age T.

    ``E[Y(t) | x, t_x, T]`` (Fader, Hardie & Lee 2005, eq. 10) on a grid, as in the iso-value
    analysis of Fader, Hardie & Lee (2005, "RFM and CLV"); see :func:`plot_prob_alive_heatmap`
    for the grid, the draws and the defaults.

    Parameters
    ----------
    model : TransactionModel
        Any registered transaction model, fitted (its ``formulas.expected_purchases``).
    data : DataFrame, optional
        Summary that sets the defaults of T and max_frequency.
    t : float
        Forecast horizon in the model's time unit.
    T, max_frequency, n_recency, n_draws, random_seed, ax
        As in :func:`plot_prob_alive_heatmap`.

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_expected_purchases_heatmap(BetaGeo().fit(data), data, t=52, ax=Figure().subplots())
    >>> ax.get_title()
    'Expected purchases in the next 52 weeks'
    """
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"t={t!r} must be a positive horizon in the model's time unit.")
    expected_purchases = model_formulas(model, "transactions").expected_purchases
    T, max_frequency = _grid_defaults(data, T, max_frequency, model)

    def quantity(params: Any, x: np.ndarray, t_x: np.ndarray, age: float) -> np.ndarray:
        return expected_purchases(params, float(t), x, t_x, age)

    grid = frequency_recency_grid(model, quantity, T=T, max_frequency=max_frequency, n_recency=n_recency, n_draws=n_draws, random_seed=random_seed)
    unit = time_unit_of(data, model)
    how = "point estimate" if n_draws is None else f"mean over {n_draws} parameter draws"
    return _heatmap(
        new_axes(ax, figsize=(7.0, 5.0)), grid,
        colorbar_label=f"Expected purchases ({model_name(model)}, {how}; log scale)",
        contour_levels=[0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100], contour_format="%g", contour_label="Iso-value curves",
        title=f"Expected purchases in the next {duration_text(t, unit)}", unit=unit, T=T, log=True,
    )


# -- one customer's history -----------------------------------------------------------------


def prob_alive_path(
    model: Any,
    purchase_times: np.ndarray,
    end: float,
    *,
    n_points: int = 400,
    params: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) of one customer over time since the first purchase.

    At time s the customer's history is x(s) repeat purchases, the last at t_x(s), so P(alive)
    is the model's ``prob_alive`` of ``(x(s), t_x(s), s)`` (for the BG/NBD,
    :func:`clvmodels.models.beta_geo.prob_alive`: it jumps at each repeat purchase, to
    ``1 / (1 + a / (b + x - 1))`` since a BG/NBD customer may drop out right after buying, and
    decays between purchases). Each purchase time appears twice, with the history just before
    and just after it, so the jumps are vertical.

    Parameters
    ----------
    model : estimator, class or key
        A transaction model of the registry (its ``formulas.prob_alive``).
    purchase_times : ndarray
        Times of the repeat purchases after the first one (sorted, in time units).
    end : float
        End of observation, in time units after the first purchase.
    n_points : int
        Points of the regular grid on ``[0, end]``.
    params : mapping, optional
        A point estimate; by default the fitted ``model.params_``.

    Returns
    -------
    times, prob
        Sorted times and P(alive) at them.

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> times, prob = prob_alive_path("bgnbd", np.array([10.0, 30.43]), 38.86, n_points=5, params=params)
    >>> round(float(prob[-1]), 4)  # customer 1 of CDNOW at T: as beta_geo.prob_alive(params, 2, 30.43, 38.86)
    0.7266
    """
    prob_alive = model_formulas(model, "transactions").prob_alive
    theta = point_params(model) if params is None else params
    purchases = np.sort(np.asarray(purchase_times, dtype=np.float64))
    grid = np.linspace(0.0, float(end), int(n_points))
    times = np.concatenate([grid, purchases, purchases])
    # the count of purchases at or before s; the first copy of each purchase time is "just before"
    count = np.searchsorted(purchases, times, side="right")
    count[len(grid): len(grid) + len(purchases)] -= 1
    order = np.lexsort((count, times))
    times, count = times[order], count[order]
    recency = np.where(count > 0, purchases[np.maximum(count - 1, 0)] if len(purchases) else 0.0, 0.0)
    return times, prob_alive(theta, count, recency, times)


def plot_customer_history(
    model: Any,
    transactions: pd.DataFrame,
    customer_id: Any,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    observation_end: Any = None,
    calibration_end: Any = None,
    time_unit: str | None = None,
    resolution: str | None = None,
    n_points: int = 400,
    ax: Axes | None = None,
) -> Axes:
    """One customer's purchases and their P(alive) over calendar time.

    Purchases on the same day (the merging ``resolution``, as in
    :func:`clvmodels.rfm_summary`) count once. From the first purchase to ``observation_end``,
    P(alive) is evaluated with the customer's running frequency and recency on a fine grid
    (:func:`prob_alive_path`, Fader, Hardie & Lee 2005, eq. 13): it jumps at each repeat
    purchase and decays while the customer is silent. At ``observation_end`` it equals the
    model's ``prob_alive`` for the customer's summary at that date.

    Parameters
    ----------
    model : TransactionModel
        Any registered transaction model, fitted; its ``time_unit_`` gives the time unit unless
        ``time_unit`` is given.
    transactions : DataFrame
        The transaction log (one row per purchase).
    customer_id : hashable
        The customer to draw.
    customer_col, date_col : str
        Columns of ``transactions``.
    observation_end : date-like, optional
        End of the path; defaults to the last date in ``transactions``.
    calibration_end : date-like, optional
        Marked with a vertical line when given.
    time_unit : str, optional
        Time unit of the model's parameters (default: ``model.time_unit_``).
    resolution : str, optional
        Merging resolution (default: the day, the hour for hourly units).
    n_points : int
        Points of the time grid.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> tx = load_cdnow_sample()
    >>> data = calibration_holdout_split(tx, calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_customer_history(BetaGeo().fit(data), tx, 1, observation_end="1997-09-30",
    ...                            ax=Figure().subplots())
    >>> round(float(ax.lines[0].get_ydata()[-1]), 4)  # P(alive) at T = 38.86 weeks
    0.7266
    """
    model_formulas(model, "transactions")
    point_params(model)
    unit = time_unit_of(model, explicit=time_unit)
    if unit is None:
        raise ValueError("the model has no time unit; pass time_unit='W' (the unit of the data it was fitted on).")
    for col in (customer_col, date_col):
        if col not in transactions.columns:
            raise ValueError(f"transactions has no column {col!r}; pass customer_col= / date_col=.")
    rows = (transactions[customer_col] == customer_id).to_numpy()
    if not rows.any():
        raise ValueError(f"customer {customer_id!r} has no transaction in column {customer_col!r}.")
    mine = pd.to_datetime(transactions.loc[rows, date_col])  # one customer's rows only
    end = pd.Timestamp(observation_end) if observation_end is not None else pd.to_datetime(transactions[date_col]).max()
    merge = normalize_resolution(resolution, unit)
    step = RESOLUTIONS[merge]
    mine = mine[mine <= end + pd.Timedelta(step, unit="ns") - pd.Timedelta(1, unit="ns")]
    if mine.empty:
        raise ValueError(f"customer {customer_id!r} has no purchase on or before observation_end ({end}).")
    periods = np.unique(mine.to_numpy(dtype="datetime64[ns]").astype(np.int64) // step)
    end_period = int(pd.Timestamp(end).as_unit("ns").value // step)
    per_unit = unit_days(unit) * 86_400e9 / step  # merging periods per time unit
    times = (periods - periods[0]) / per_unit
    horizon = (end_period - periods[0]) / per_unit
    s, prob = prob_alive_path(model, times[1:], horizon, n_points=n_points)
    first = pd.Timestamp(int(periods[0] * step), unit="ns")
    unit_ns = unit_days(unit) * 86_400e9

    def to_dates(values: np.ndarray) -> np.ndarray:
        return (first.to_datetime64() + (values * unit_ns).astype("timedelta64[ns]")).astype("datetime64[ns]")

    ax = new_axes(ax, figsize=(8.0, 4.4))
    ax.plot(to_dates(s), prob, color="C0", lw=1.8, label=f"P(alive) ({model_name(model)})")
    ax.vlines(to_dates(times), 0.0, 0.08, color="0.15", lw=2, label=f"Purchases ({len(times)} {'days' if merge == 'D' else 'hours'} with a purchase)")
    if calibration_end is not None:
        ax.axvline(pd.Timestamp(calibration_end), color="0.4", ls=":", lw=1.5, label=f"End of calibration ({pd.Timestamp(calibration_end):%Y-%m-%d})")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set(
        ylim=(0, 1.05),
        xlabel="Calendar date",
        ylabel="P(alive)",
        title=f"Customer {customer_id}: purchases and probability of being alive",
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize="small", frameon=False)
    return ax


# -- CLV across customers -------------------------------------------------------------------


def _horizon_text(settings: dict[str, Any]) -> str:
    horizon = settings.get("horizon")
    unit = settings.get("time_unit")
    parts = []
    if horizon is not None:
        parts.append("infinite horizon" if horizon == "infinite" else f"next {duration_text(float(horizon), unit)}")
    rate = settings.get("annual_discount_rate")
    if rate is not None:
        parts.append(f"{float(rate):.0%} annual discount")
    return ", ".join(parts)


def plot_clv_distribution(
    forecast: Any,
    *,
    column: str = "clv",
    bins: int = 60,
    log: bool = True,
    low_quantile: float = 0.001,
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Distribution of the expected CLV across customers, on a log scale by default.

    CLV is very skewed (most customers are worth little, a few a lot), so the bins are equal
    on a log scale from the ``low_quantile`` of the positive values to the largest; the median
    and the mean (over all customers) are marked. Drawn from a histogram computed first (one artist, whatever the number
    of customers).

    Parameters
    ----------
    forecast : Forecast or DataFrame
        From :func:`clvmodels.forecast` (or its ``to_frame()`` table).
    column : str
        Column to draw (``"clv"``, ``"expected_purchases"``, ...).
    bins : int
        Number of bins.
    log : bool
        Log-scaled value axis (customers with a value of 0 or less are left out and counted in
        the legend); linear bins from 0 otherwise.
    low_quantile : float
        On the log scale, the axis starts at this quantile of the positive values; the few
        values below it are pooled into the first bin (and counted in the legend).
    currency : str, optional
        Currency of the amounts (``"$"``, ``"EUR"``; the config's ``[output] currency``), for the
        axis label and the amounts in the legend, which carry thousands separators. By default
        amounts are bare numbers and the axis says "currency units".
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for
    customer base analysis. Journal of Marketing Research 42(4), 415-430.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, GammaGamma, calibration_holdout_split, forecast
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W", amount_col="amount")
    >>> result = forecast(BetaGeo().fit(data), GammaGamma().fit(data), data, horizon=52,
    ...                   discount_rate=0.15, n_draws=50, predictive=False, random_seed=0)
    >>> ax = plot_clv_distribution(result, currency="$", ax=Figure().subplots())
    >>> ax.get_title()
    'Expected CLV across customers (next 52 weeks, 15% annual discount)'
    """
    frame, settings = forecast_frame(forecast)
    if column not in frame.columns:
        raise ValueError(f"the forecast has no column {column!r}; columns: {list(frame.columns)}.")
    values = frame[column].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    shown = values[values > 0] if log else values
    if len(shown) == 0:
        raise ValueError(f"column {column!r} has no {'positive ' if log else ''}finite value to draw.")
    pooled = 0
    if log:
        # a handful of long-dead customers can be worth 1e-7: start at the 0.1% quantile and
        # pool the values below it into the first bin rather than stretch the axis
        low, high = float(np.quantile(shown, low_quantile)), float(shown.max())
        pooled = int((shown < low).sum())
        shown = np.maximum(shown, low)
        edges = np.geomspace(low, high * (1 + 1e-9), bins + 1) if high > low else np.array([low * 0.9, high * 1.1])
    else:
        edges = np.linspace(min(0.0, shown.min()), shown.max(), bins + 1)
    counts, edges = np.histogram(shown, bins=edges)
    ax = new_axes(ax)
    money = column.startswith("clv") or "spend" in column

    def amount(value: float, decimals: int = 2) -> str:
        return money_text(value, currency if money else None, decimals)

    what = "Expected CLV" if column == "clv" else column.replace("_", " ").capitalize()
    ax.stairs(counts, edges, fill=True, color="C0", alpha=0.7, label=f"{len(shown):,} customers")
    median, mean = float(np.median(values)), float(np.mean(values))
    ax.axvline(median, color="0.15", ls="--", label=f"Median {amount(median)}")
    ax.axvline(mean, color="C3", ls="-", label=f"Mean {amount(mean)} (total {amount(float(values.sum()), 0)})")
    if log:
        ax.set_xscale("log")
    else:
        thousands(ax.xaxis)
    thousands(ax.yaxis)
    notes = []
    if pooled:
        low_text = money_text(edges[0], currency if money else None, 2) if edges[0] >= 0.01 else f"{edges[0]:.2g}"
        notes.append(f"{pooled:,} below {low_text} in the first bin")
    if len(values) - len(shown):
        notes.append(f"{len(values) - len(shown):,} at 0 or less not shown")
    unit_text = f" ({currency_text(currency)})" if money else ""
    horizon = _horizon_text(settings)
    ax.set(
        xlabel=f"{what}{unit_text}{', log scale' if log else ''}",
        ylabel="Customers",
        title=f"{what} across customers" + (f" ({horizon})" if horizon else ""),
    )
    ax.legend(title="; ".join(notes) or None, loc="upper left", fontsize="small", title_fontsize="small")
    return ax


def plot_top_customers(
    forecast: Any,
    *,
    n: int = 20,
    column: str = "clv",
    currency: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The ``n`` customers of highest expected CLV with their credible and predictive intervals.

    The thick bar is the credible interval (``clv_lower``, ``clv_upper``: how sure we are of the
    expected value, from parameter uncertainty); the thin bar is the predictive interval
    (``clv_pred_lower``, ``clv_pred_upper``: what the customer will actually bring), when the
    forecast has it. Selecting the top ``n`` is linear in the number of customers.

    Parameters
    ----------
    forecast : Forecast or DataFrame
        From :func:`clvmodels.forecast` (or its ``to_frame()`` table).
    n : int
        Number of customers.
    column : str
        Ranking column with ``{column}_lower/_upper`` (and ``{column}_pred_lower/_upper``);
        ``"clv"`` or ``"expected_purchases"`` (whose predictive bounds are ``purchases_pred_*``).
    currency : str, optional
        Currency of the amounts (``"$"``, ``"EUR"``), for the axis label; by default "currency
        units". The value axis has thousands separators.
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
    >>> result = forecast(BetaGeo().fit(data), GammaGamma().fit(data), data, horizon=52,
    ...                   discount_rate=0.15, n_draws=50, random_seed=0)
    >>> ax = plot_top_customers(result, n=5, ax=Figure().subplots())
    >>> [label.get_text() for label in ax.get_yticklabels()]  # the highest expected CLV on top
    ['509', '1081', '1516', '1560', '1981']
    """
    frame, settings = forecast_frame(forecast)
    if int(n) != n or n < 1:
        raise ValueError(f"n={n!r} must be a whole number >= 1.")
    pred = "purchases_pred" if column == "expected_purchases" else f"{column}_pred"
    needed = [column, f"{column}_lower", f"{column}_upper"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"the forecast lacks column(s) {missing}.")
    top = frame.nlargest(int(n), column)
    ci = settings.get("ci")
    level = f"{float(ci):.0%} " if ci is not None else ""
    pos = np.arange(len(top))[::-1]
    ax = new_axes(ax, figsize=(7.5, max(3.5, 0.28 * len(top) + 2.0)))
    if f"{pred}_lower" in top.columns:
        ax.hlines(pos, top[f"{pred}_lower"], top[f"{pred}_upper"], color="0.55", lw=1.2,
                  label=f"{level}predictive interval (what the customer will bring)")
    ax.hlines(pos, top[f"{column}_lower"], top[f"{column}_upper"], color="C0", lw=5, alpha=0.6,
              label=f"{level}credible interval (parameter uncertainty)")
    ax.plot(top[column].to_numpy(dtype=np.float64), pos, "o", color="C3", ms=5, label="Expected value")
    money = column.startswith("clv")
    what = "Expected CLV" if column == "clv" else column.replace("_", " ").capitalize()
    horizon = _horizon_text(settings)
    ax.set(
        yticks=pos,
        yticklabels=[str(c) for c in top.index],
        ylabel=f"Customer ({top.index.name or 'id'})",
        xlabel=f"{what}" + (f" ({currency_text(currency)})" if money else "") + (f", {horizon}" if horizon else ""),
        title=f"Top {len(top)} customers by {what[0].lower() + what[1:]}",
    )
    ax.set_xlim(left=0)
    thousands(ax.xaxis)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize="small", frameon=False)
    return ax
