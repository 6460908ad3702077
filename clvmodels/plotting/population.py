"""Heterogeneity across customers: purchase rate, dropout and spend.

The transaction models' mixing distributions: the purchase rate ``lambda ~ Gamma(r, alpha)``
that the BG/NBD, MBG/NBD and Pareto/NBD share, and the dropout: a probability after each
purchase ``p ~ Beta(a, b)`` (BG/NBD, MBG/NBD; Fader, Hardie & Lee 2005, section 2) or a rate
``mu ~ Gamma(s, beta)`` (Pareto/NBD), found by the model's parameter names; and a spend model's
distribution of a customer's mean spend with the Gamma-Gamma independence assumption (Fader &
Hardie 2013), each with a band over parameter draws (Laplace draws after maximum likelihood,
posterior draws after a Bayesian fit). Titles carry the model's display name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from ..data import validate_summary
from ..models.params import unpack
from ._common import (
    check_level,
    currency_text,
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
    "plot_purchase_rate_distribution",
    "plot_dropout_distribution",
    "plot_heterogeneity",
    "spend_density",
    "plot_spend_distribution",
    "plot_frequency_spend",
]

_LN10 = np.log(10.0)


def _band(values: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return lower, upper


def plot_purchase_rate_distribution(
    model: Any,
    *,
    n_draws: int = 200,
    ci: float = 0.9,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Distribution of the purchase rate while alive, ``lambda ~ Gamma(r, alpha)``, across customers.

    Drawn as the density of ``log10(lambda)`` on a log-scaled axis, ``f(lambda) lambda ln(10)``:
    with ``r < 1`` (CDNOW: 0.24) the density of lambda itself is infinite at 0 and hides the
    spread, which spans several orders of magnitude. The band holds the central ``ci`` of the
    density over ``n_draws`` parameter draws, point by point (a draws x grid array, never x
    customers). The mean rate ``r / alpha`` is marked.

    Parameters
    ----------
    model : TransactionModel
        Fitted model with a purchase rate ``lambda ~ Gamma(r, alpha)`` (BG/NBD, MBG/NBD,
        Pareto/NBD); other models are a clear error.
    n_draws : int
        Parameter draws for the band (0: no band).
    ci : float
        Level of the band.
    random_seed : int, optional
        Seed of the draws.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
    an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284, section 2.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_purchase_rate_distribution(BetaGeo().fit(data), n_draws=50, ax=Figure().subplots())
    >>> ax.get_lines()[1].get_label()
    'Mean r/alpha = 0.055 per week'
    """
    params = point_params(model)
    if _occasions(model):  # BG/BB: a probability of a transaction at each occasion
        return _beta_density(model, params, ("alpha", "beta"), "p", "Probability of a transaction at each occasion while alive, p",
                             "purchase", "C0", n_draws=n_draws, ci=ci, random_seed=random_seed, ax=ax)
    _require_params(model, ("r", "alpha"), "a purchase rate lambda ~ Gamma(r, alpha)")
    r, alpha = (float(v) for v in unpack(params, ("r", "alpha")))
    dist = stats.gamma(r, scale=1 / alpha)
    low, high = dist.ppf([1e-4, 0.9999])
    grid = np.geomspace(max(low, 1e-12), high, 400)
    density = dist.pdf(grid) * grid * _LN10
    unit = time_unit_of(model)
    ax = new_axes(ax)
    if n_draws:
        check_level(ci)
        draws = param_draws(model, n_draws, random_seed)
        d_r, d_alpha = (draws[c].to_numpy()[:, None] for c in ("r", "alpha"))
        lower, upper = _band(stats.gamma.pdf(grid, d_r, scale=1 / d_alpha) * grid * _LN10, ci)
        ax.fill_between(grid, lower, upper, color="C0", alpha=0.25, lw=0, label=f"{ci:.0%} band over {n_draws} parameter draws")
    ax.plot(grid, density, color="C0", lw=2, label=f"Gamma(r={r:.3g}, alpha={alpha:.3g})")
    mean = r / alpha
    ax.axvline(mean, color="C3", ls="--", label=f"Mean r/alpha = {mean:.3g} per {unit_name(unit, plural=False)}")
    ax.set_xscale("log")
    ax.set(
        xlabel=f"Purchase rate while alive, lambda (purchases per {unit_name(unit, plural=False)}, log scale)",
        ylabel="Density of log10(lambda)",
        title=f"Heterogeneity in purchase rate ({model_name(model)})",
    )
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_dropout_distribution(
    model: Any,
    *,
    n_draws: int = 200,
    ci: float = 0.9,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Distribution of the dropout across customers: ``p ~ Beta(a, b)`` or ``mu ~ Gamma(s, beta)``.

    For a model with parameters ``a, b`` (BG/NBD, MBG/NBD), the probability of dropping out after
    each purchase: the density on (0, 1) with a band over ``n_draws`` parameter draws (central
    ``ci``, point by point); the mean ``a / (a + b)`` is marked. With ``a < 1`` (CDNOW: 0.79)
    the density is infinite at 0; the vertical axis is cut where the curve is still
    informative. For a model with ``s, beta`` (Pareto/NBD), the dropout rate while alive, drawn
    as the purchase rate is (:func:`plot_purchase_rate_distribution`). Other models: a clear
    error.

    Parameters
    ----------
    model : TransactionModel
        Fitted model.
    n_draws, ci, random_seed, ax
        As in :func:`plot_purchase_rate_distribution`.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
    an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284, section 2.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> ax = plot_dropout_distribution(BetaGeo().fit(data), n_draws=50, ax=Figure().subplots())
    >>> ax.get_lines()[1].get_label()
    'Mean a/(a+b) = 0.246'
    """
    params = point_params(model)
    names = tuple(getattr(model, "param_names", ()))
    if _occasions(model):  # BG/BB: a probability of dropping out at each occasion
        return _beta_density(model, params, ("gamma", "delta"), "theta", "Probability of dropping out at each occasion, theta",
                             "dropout", "C2", n_draws=n_draws, ci=ci, random_seed=random_seed, ax=ax)
    if {"s", "beta"} <= set(names) and not {"a", "b"} <= set(names):
        return _dropout_rate(model, params, n_draws=n_draws, ci=ci, random_seed=random_seed, ax=ax)
    _require_params(model, ("a", "b"), "a dropout probability p ~ Beta(a, b) or a dropout rate mu ~ Gamma(s, beta)")
    return _beta_density(model, params, ("a", "b"), "p", "Probability of dropping out after a purchase, p", "dropout", "C2",
                         n_draws=n_draws, ci=ci, random_seed=random_seed, ax=ax)


def _occasions(model: Any) -> bool:
    return getattr(model, "time_kind", "continuous") == "discrete" and {"alpha", "beta", "gamma", "delta"} <= set(getattr(model, "param_names", ()))


def _beta_density(model: Any, params: Any, names: tuple[str, str], symbol: str, xlabel: str, what: str, color: str, *,
                  n_draws: int, ci: float, random_seed: Any, ax: Axes | None) -> Axes:
    """A probability ``~ Beta(names)`` across customers: its density on (0, 1) with a band over
    parameter draws; the mean is marked. A density infinite at 0 or 1 is cut where the curve
    is still informative."""
    a, b = (float(v) for v in unpack(params, names))
    grid = np.linspace(0.0, 1.0, 401)[1:-1]
    density = stats.beta.pdf(grid, a, b)
    ax = new_axes(ax)
    inner = (grid >= 0.02) & (grid <= 0.98)
    top = density[inner].max()
    if n_draws:
        check_level(ci)
        draws = param_draws(model, n_draws, random_seed)
        d_a, d_b = (draws[c].to_numpy()[:, None] for c in names)
        lower, upper = _band(stats.beta.pdf(grid, d_a, d_b), ci)
        ax.fill_between(grid, lower, upper, color=color, alpha=0.25, lw=0, label=f"{ci:.0%} band over {n_draws} parameter draws")
        top = max(top, upper[inner].max())
    first, second = names
    ax.plot(grid, density, color=color, lw=2, label=f"Beta({first}={a:.3g}, {second}={b:.3g})")
    mean = a / (a + b)
    ax.axvline(mean, color="C3", ls="--", label=f"Mean {first}/({first}+{second}) = {mean:.3g}")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.1 * top),
        xlabel=xlabel,
        ylabel="Density",
        title=f"Heterogeneity in {what} ({model_name(model)})",
    )
    ax.legend(loc="upper right", fontsize="small")
    return ax


def _require_params(model: Any, names: tuple[str, ...], what: str) -> None:
    """A clear error when the model has no parameters of that meaning."""
    declared = tuple(getattr(model, "param_names", ()))
    if not set(names) <= set(declared):
        raise ValueError(
            f"{model_name(model)} does not model {what} (its parameters: {', '.join(declared) or 'none'}); "
            "this plot draws that distribution across customers."
        )


def _dropout_rate(model: Any, params: Any, *, n_draws: int, ci: float, random_seed: Any, ax: Axes | None) -> Axes:
    """The dropout rate while alive, ``mu ~ Gamma(s, beta)`` (Pareto/NBD), as the purchase rate is drawn."""
    s_, beta = (float(v) for v in unpack(params, ("s", "beta")))
    dist = stats.gamma(s_, scale=1 / beta)
    low, high = dist.ppf([1e-4, 0.9999])
    grid = np.geomspace(max(low, 1e-12), high, 400)
    density = dist.pdf(grid) * grid * _LN10
    unit = time_unit_of(model)
    ax = new_axes(ax)
    if n_draws:
        check_level(ci)
        draws = param_draws(model, n_draws, random_seed)
        d_s, d_beta = (draws[c].to_numpy()[:, None] for c in ("s", "beta"))
        lower, upper = _band(stats.gamma.pdf(grid, d_s, scale=1 / d_beta) * grid * _LN10, ci)
        ax.fill_between(grid, lower, upper, color="C2", alpha=0.25, lw=0, label=f"{ci:.0%} band over {n_draws} parameter draws")
    ax.plot(grid, density, color="C2", lw=2, label=f"Gamma(s={s_:.3g}, beta={beta:.3g})")
    mean = s_ / beta
    ax.axvline(mean, color="C3", ls="--", label=f"Mean s/beta = {mean:.3g} per {unit_name(unit, plural=False)}")
    ax.set_xscale("log")
    ax.set(
        xlabel=f"Dropout rate while alive, mu (per {unit_name(unit, plural=False)}, log scale)",
        ylabel="Density of log10(mu)",
        title=f"Heterogeneity in dropout ({model_name(model)})",
    )
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_heterogeneity(
    model: Any,
    *,
    n_draws: int = 200,
    ci: float = 0.9,
    random_seed: int | None = 0,
    fig: Figure | None = None,
) -> Figure:
    """Purchase-rate and dropout distributions side by side (see the two functions above).

    Parameters
    ----------
    model : TransactionModel
        Fitted model.
    n_draws, ci, random_seed
        As in :func:`plot_purchase_rate_distribution`.
    fig : Figure, optional
        An empty figure to draw on; a new one when omitted.

    Returns
    -------
    Figure

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> fig = plot_heterogeneity(BetaGeo().fit(data), n_draws=50, fig=Figure())
    >>> [ax.get_title() for ax in fig.axes]
    ['Heterogeneity in purchase rate (BG/NBD)', 'Heterogeneity in dropout (BG/NBD)']
    """
    fig = new_figure(fig, figsize=(12.0, 4.5))
    left, right = fig.subplots(1, 2)
    plot_purchase_rate_distribution(model, n_draws=n_draws, ci=ci, random_seed=random_seed, ax=left)
    plot_dropout_distribution(model, n_draws=n_draws, ci=ci, random_seed=random_seed, ax=right)
    return fig


def spend_density(model: Any, frequency: np.ndarray, grid: np.ndarray, *, params: Any = None) -> np.ndarray:
    """Model density of a customer's mean spend, mixed over the customers' frequencies.

    ``f(m) = sum_x w_x f(m | x)`` where ``f(m | x)`` is the spend model's density of the mean of
    x transactions, ``exp(loglik(params, x, m))`` (Gamma-Gamma: Fader & Hardie 2013, eq. 3,
    :func:`clvmodels.models.gamma_gamma.loglik`) and ``w_x`` the share of repeat customers with
    x transactions. Computed once per distinct x; parameter draws (a DataFrame) give a
    ``(draws, grid)`` array.

    Parameters
    ----------
    model : estimator, class or key
        A spend model of the registry.
    frequency : ndarray
        Frequencies of the repeat customers (> 0).
    grid : ndarray
        Mean-spend values.
    params : mapping or DataFrame, optional
        A point estimate or draws; by default the fitted ``model.params_``.

    Returns
    -------
    ndarray
        Density on ``grid`` (``(draws, grid)`` for draws).

    Examples
    --------
    >>> params = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> frequency = np.array([1, 1, 2, 5])
    >>> spend_density("gamma-gamma", frequency, np.array([10.0, 35.0, 100.0]), params=params).round(4)
    array([0.0162, 0.0162, 0.0009])
    >>> grid = np.linspace(0.01, 3000.0, 300_000)
    >>> round(float(spend_density("gamma-gamma", frequency, grid, params=params).sum() * (grid[1] - grid[0])), 4)  # a density
    1.0
    """
    loglik = model_formulas(model, "spend").loglik
    theta = point_params(model) if params is None else params
    levels, counts = np.unique(np.asarray(frequency, dtype=np.float64), return_counts=True)
    weights = counts / counts.sum()
    grid = np.asarray(grid, dtype=np.float64)
    total = 0.0
    for x, w in zip(levels, weights):
        total = total + w * np.exp(loglik(theta, x, grid))
    return np.asarray(total)


def plot_spend_distribution(
    model: Any,
    data: pd.DataFrame,
    *,
    n_draws: int = 200,
    ci: float = 0.9,
    bins: int = 40,
    quantile: float = 0.99,
    currency: str | None = None,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Observed and model distribution of the mean spend per transaction of repeat customers.

    The histogram is the observed mean repeat spend (``monetary_value``) of the customers with
    ``frequency > 0``, as a density; the curve is the model density of a customer's mean spend
    mixed over the customers' own frequencies (:func:`spend_density`), with a band over
    ``n_draws`` parameter draws. The axis stops at the ``quantile`` of the observed values (the
    customers beyond are counted in the legend, and in the histogram's normalisation).

    Parameters
    ----------
    model : SpendModel
        Any registered spend model, fitted on ``data``.
    data : DataFrame
        Per-customer ``frequency`` and ``monetary_value``.
    n_draws : int
        Parameter draws for the band (0: no band).
    ci : float
        Level of the band.
    bins : int
        Histogram bins.
    quantile : float
        Upper end of the axis as a quantile of the observed mean spends.
    currency : str, optional
        Currency of the amounts (``"$"``, ``"EUR"``; the config's ``[output] currency``), for the
        axis labels; by default "currency units". The spend axis has thousands separators.
    random_seed : int, optional
        Seed of the draws.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
    http://brucehardie.com/notes/025/

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import GammaGamma, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W", amount_col="amount")
    >>> ax = plot_spend_distribution(GammaGamma().fit(data), data, n_draws=20, ax=Figure().subplots())
    >>> ax.get_legend().get_texts()[0].get_text()
    'Observed: 946 repeat customers (10 beyond the axis)'
    """
    model_formulas(model, "spend")
    params = point_params(model)
    s = validate_summary(data, monetary=True)
    repeat = s.frequency > 0
    x, m = s.frequency[repeat], s.monetary_value[repeat]
    if len(m) == 0:
        raise ValueError("data has no repeat customer (frequency > 0) to draw.")
    top = float(np.quantile(m, quantile))
    edges = np.linspace(0.0, top, int(bins) + 1)
    counts, _ = np.histogram(m, bins=edges)
    density_obs = counts / (len(m) * np.diff(edges))
    grid = np.linspace(0.0, top, 400)[1:]
    ax = new_axes(ax)
    money = currency_text(currency)
    ax.stairs(density_obs, edges, fill=True, color="0.75", label=f"Observed: {len(m):,} repeat customers ({int((m > top).sum()):,} beyond the axis)")
    if n_draws:
        check_level(ci)
        draws = param_draws(model, n_draws, random_seed)
        lower, upper = _band(spend_density(model, x, grid, params=draws), ci)
        ax.fill_between(grid, lower, upper, color="C1", alpha=0.3, lw=0, label=f"{ci:.0%} band over {n_draws} parameter draws")
    estimates = ", ".join(f"{name}={float(value):.3g}" for name, value in params.items())
    ax.plot(grid, spend_density(model, x, grid), color="C1", lw=2, label=f"{model_name(model)} ({estimates})")
    ax.set(
        xlim=(0, top),
        xlabel=f"Mean spend per repeat transaction ({money})",
        ylabel=f"Density (per {money})",
        title="Spend: observed vs fitted distribution of mean spend per customer",
    )
    thousands(ax.xaxis)
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_frequency_spend(
    data: pd.DataFrame,
    *,
    max_points: int = 20_000,
    min_customers: int = 5,
    currency: str | None = None,
    random_seed: int | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Frequency against mean spend of repeat customers: the Gamma-Gamma independence check.

    The Gamma-Gamma model assumes that spend per transaction does not depend on the number of
    transactions (Fader & Hardie 2013; CDNOW: Pearson r = 0.11). Each point is a repeat
    customer (a seeded random ``max_points`` of them above that number); the line is the
    mean spend at each frequency held by at least ``min_customers`` customers, and the legend
    gives the Pearson and Spearman correlations over all repeat customers.

    Parameters
    ----------
    data : DataFrame
        Per-customer ``frequency`` and ``monetary_value``.
    max_points : int
        Most points drawn (the correlations and means use every customer).
    min_customers : int
        Fewest customers at a frequency for its mean to be drawn.
    currency : str, optional
        Currency of the amounts, for the axis label.
    random_seed : int, optional
        Seed of the subset of points.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Axes

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
    http://brucehardie.com/notes/025/

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from clvmodels import calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W", amount_col="amount")
    >>> ax = plot_frequency_spend(data, ax=Figure().subplots())
    >>> ax.get_legend().get_title().get_text()
    'Pearson r = 0.11, Spearman rho = 0.21 (946 repeat customers)'
    """
    s = validate_summary(data, monetary=True)
    repeat = s.frequency > 0
    x, m = s.frequency[repeat], s.monetary_value[repeat]
    if len(m) < 2:
        raise ValueError("the independence check needs at least 2 repeat customers (frequency > 0).")
    pearson = float(np.corrcoef(x, m)[0, 1]) if np.ptp(x) > 0 and np.ptp(m) > 0 else np.nan
    spearman = float(stats.spearmanr(x, m).statistic) if np.ptp(x) > 0 and np.ptp(m) > 0 else np.nan
    shown = np.arange(len(m))
    if len(m) > max_points:
        shown = np.sort(np.random.default_rng(random_seed).choice(len(m), int(max_points), replace=False))
    levels, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=m) / counts
    keep = counts >= min_customers
    ax = new_axes(ax)
    note = f" ({len(shown):,} of {len(m):,} shown)" if len(shown) < len(m) else ""
    ax.scatter(x[shown], m[shown], s=9, alpha=0.35, color="C0", lw=0, label=f"Repeat customers{note}")
    ax.plot(levels[keep], means[keep], "o-", color="C3", label=f"Mean spend at each frequency (>= {min_customers} customers)")
    ax.set_yscale("log")
    ax.set(
        xlabel="Repeat transactions (x)",
        ylabel=f"Mean spend per repeat transaction ({currency_text(currency)}, log scale)",
        title="Gamma-Gamma independence check: spend vs frequency",
    )
    ax.legend(title=f"Pearson r = {pearson:.2f}, Spearman rho = {spearman:.2f} ({len(m):,} repeat customers)", loc="upper right", fontsize="small", title_fontsize="small")
    return ax
