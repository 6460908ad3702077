"""Residual lifetime value of subscribers: a retention model's DERL times the margin per period.

:func:`forecast_subscribers` values each *active* subscriber of a per-subscriber summary
(``renewals``, ``churned``) with a fitted retention model (:class:`~clvmodels.ShiftedBetaGeo`),
over parameter draws, so that the uncertainty of the model's parameters reaches every value:

credible (``*_lower``, ``*_upper``)
    the spread of the expected value over the parameter draws;
predictive (``clv_pred_lower``, ``clv_pred_upper``)
    the spread of what the subscriber will actually bring: each draw simulates the subscriber's
    remaining renewals from the posterior of their churn probability given n renewals,
    ``theta ~ Beta(alpha, beta + n)``, and sums the discounted margins
    (:func:`clvmodels.models.shifted_beta_geo.simulate_residual`).

Payments: the convention of Fader & Hardie (2010) (:func:`clvmodels.models.shifted_beta_geo.derl`):
the current period is paid, the next renewal counts undiscounted and the k-th after it is
discounted by ``(1 + d)^-k``, d the discount rate per period.

Discount rate: as in :func:`clvmodels.forecast`, ``discount_rate`` is an *annual* rate R by
default, converted to the period (the data's time unit) as the same compounding over its length,
``d = (1 + R) ** (period_days / 365.25) - 1`` (a month of 30.4375 days: R = 10% gives
d = 0.797%); ``rate_per="period"`` takes it as d directly.

References
----------
Fader, P. S. & Hardie, B. G. S. (2010). Customer-base valuation in a contractual setting: the
perils of ignoring heterogeneity. Marketing Science 29(1), 85-93.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .data import compress_patterns
from .forecast import MEMORY_BUDGET, Forecast, _quantiles
from .models.base import check_units
from .models.params import seed_sequence, unpack
from .models.retention import retention_arrays
from .streams import KeyedGenerator, cell_keys, history_keys, seed_key
from .units import normalize_unit, unit_days

__all__ = ["forecast_subscribers", "SUBSCRIBER_COLUMNS", "per_period_rate"]

#: The per-subscriber columns of the forecast's frame, in order, with their meaning.
SUBSCRIBER_COLUMNS: dict[str, str] = {
    "renewals": "renewals made (input)",
    "margin": "margin per period (input)",
    "derl": "discounted expected residual lifetime: expected discounted number of further renewals",
    "derl_lower": "credible bound",
    "derl_upper": "credible bound",
    "expected_residual_lifetime": "expected further renewals within the horizon, undiscounted (inf where it diverges)",
    "expected_residual_lifetime_lower": "credible bound",
    "expected_residual_lifetime_upper": "credible bound",
    "clv": "expected residual value: margin times derl",
    "clv_lower": "credible bound",
    "clv_upper": "credible bound",
    "clv_pred_lower": "predictive bound of the discounted margin the subscriber will bring",
    "clv_pred_upper": "predictive bound of the discounted margin the subscriber will bring",
}


def per_period_rate(discount_rate: float, time_unit: str | None, rate_per: str = "year") -> float:
    """The discount rate per period: an annual rate compounded over the period's length, or the
    rate itself (``rate_per="period"``).

    Examples
    --------
    >>> round(per_period_rate(0.1, "M"), 6), per_period_rate(0.1, "Y"), per_period_rate(0.01, None, "period")
    (0.00797, 0.1, 0.01)
    """
    if not np.isfinite(discount_rate) or discount_rate < 0:
        raise ValueError(f"discount_rate={discount_rate!r} must be a rate >= 0 (0.1 for 10%).")
    if rate_per == "period":
        return float(discount_rate)
    if rate_per != "year":
        raise ValueError(f"rate_per={rate_per!r}; use 'year' (an annual rate, converted by the time unit) or 'period'.")
    if time_unit is None:
        raise ValueError(
            "the period's length is unknown, so an annual discount rate cannot be converted: pass time_unit= "
            "(for example 'M' or 'Y'), or give the rate per period with rate_per='period'."
        )
    years = unit_days(normalize_unit(time_unit)) / 365.25
    if years == 1.0:
        return float(discount_rate)
    return float(np.expm1(years * np.log1p(discount_rate)))


def _check_model(model: Any) -> None:
    from .models.registry import registered

    models = registered("retention")
    if type(model).__name__ not in {c.__name__ for c in models.values()} or getattr(model, "kind", None) != "retention":
        listed = ", ".join(f"{c.__name__} ({k!r})" for k, c in models.items())
        raise TypeError(f"model must be a fitted retention model: one of {listed}; got {type(model).__name__}.")
    model._check_fitted()


def _margins(margin: Any, data: pd.DataFrame) -> tuple[np.ndarray, Any]:
    """The margin per period of each row: a number, or a column of ``data``."""
    if isinstance(margin, str):
        if margin not in data.columns:
            raise ValueError(f"margin={margin!r} is not a column of the data; columns: {list(data.columns)}.")
        values = pd.to_numeric(data[margin], errors="coerce").to_numpy(dtype=np.float64)
        label: Any = f"column {margin!r}"
    else:
        if isinstance(margin, bool) or not np.isscalar(margin):
            raise TypeError(f"margin={margin!r} must be a number (margin per period) or the name of a column.")
        values = np.full(len(data), float(margin))
        label = float(margin)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ValueError(
            f"margin ({label}): {int(bad.sum())} rows are missing, negative or not finite; the margin is what one "
            "period's payment earns (>= 0)."
        )
    return values, label


def forecast_subscribers(
    model: Any,
    data: pd.DataFrame,
    *,
    margin: float | str,
    discount_rate: float,
    horizon: int | None = None,
    ci: float = 0.9,
    n_draws: int = 1000,
    predictive: bool = True,
    random_seed: int | None = None,
    time_unit: str | None = None,
    rate_per: Literal["year", "period"] = "year",
    draws: Literal["laplace", "bootstrap", "posterior"] | None = None,
    memory_budget: int = MEMORY_BUDGET,
) -> Forecast:
    """Residual lifetime value of each active subscriber, with credible and predictive bounds.

    Parameters
    ----------
    model : RetentionModel
        A fitted retention model (:class:`~clvmodels.ShiftedBetaGeo`).
    data : DataFrame
        Per-subscriber ``renewals``, ``churned`` (and the margin column); ``attrs["time_unit"]``
        the period. Subscribers who cancelled are worth nothing more and are dropped: the churned
        (``settings["dropped_churned"]``) and those whose cancellation after their last renewal
        date the summary censored (column ``cancelled``; ``settings["dropped_cancelled_since_last_renewal"]``).
    margin : float or str
        Margin per period (what one payment earns), or the column holding each subscriber's.
    discount_rate : float
        Annual rate R (``rate_per="year"``, converted to the period as in :func:`per_period_rate`,
        the compounding convention of :func:`clvmodels.forecast`), or the rate per period.
    horizon : int, optional
        Further renewals counted (periods ahead); None for all (needs a positive rate).
    ci : float
        Level of the intervals.
    n_draws : int
        Parameter draws.
    predictive : bool
        Also simulate each subscriber's future for ``clv_pred_lower``, ``clv_pred_upper``.
    random_seed : int, optional
        Seed of every random step. The futures of a (draw, subscriber) cell come from a stream
        keyed by the seed, the draw's number, the renewals and the margin
        (:mod:`clvmodels.streams`), so a subscriber's bounds do not depend on the order of the
        rows, on the others scored beside it or on ``memory_budget``.
    time_unit : str, optional
        The period, when ``data`` does not say (``attrs["time_unit"]``) and the model does not know.
    rate_per : {"year", "period"}
        What ``discount_rate`` is per.
    draws : {None, "laplace", "bootstrap", "posterior"}
        Kind of parameter draws (:meth:`~clvmodels.models.base.Model.sample_params`).
    memory_budget : int
        Bytes the (draws x subscribers) blocks may take at once.

    Returns
    -------
    Forecast
        ``frame``: one row per active subscriber, the columns of :data:`SUBSCRIBER_COLUMNS`;
        ``cohort_draws``: per parameter draw the totals of ``derl`` and ``clv`` over the active
        subscribers (so :meth:`Forecast.summary` gives the customer base's residual value with its
        credible interval); ``settings``.

    Examples
    --------
    >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
    >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241], time_unit="Y")
    >>> data = pd.DataFrame({"renewals": [0, 4, 7, 2], "churned": [False, False, False, True]})
    >>> data.attrs["time_unit"] = "Y"
    >>> result = forecast_subscribers(model, data, margin=100.0, discount_rate=0.1, n_draws=500, random_seed=1)
    >>> table = result.to_frame()
    >>> table["clv"].round(1).tolist(), result.settings["dropped_churned"]
    ([296.4, 589.4, 684.2], 1)
    >>> bool((table["clv_lower"] <= table["clv"]).all() and (table["clv"] <= table["clv_upper"]).all())
    True
    """
    _check_model(model)
    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    renewals, churned, index = retention_arrays(data)
    check_units(model, data)
    if time_unit is not None:
        check_units(model, unit=time_unit)
    unit = time_unit or data.attrs.get("time_unit") or getattr(model, "time_unit_", None)
    unit = normalize_unit(unit) if unit is not None else None
    d = per_period_rate(discount_rate, unit, rate_per)
    H = None if horizon is None or (np.isinf(float(horizon)) and float(horizon) > 0) else horizon
    if H is not None and not (float(H) >= 1 and float(H) == int(float(H))):
        raise ValueError(f"horizon={horizon!r} must be a whole number of periods >= 1 (None for the infinite horizon).")
    H = None if H is None else int(H)
    if H is None and d == 0.0:
        raise ValueError("an infinite horizon needs a positive discount_rate (the undiscounted value may be infinite).")
    margins, margin_label = _margins(margin, data)
    # a subscriber who cancelled after the last renewal date (``cancelled``, censored there in the
    # fit: clvmodels.subscription_summary) is gone all the same: worth nothing more
    cancelled = data["cancelled"].to_numpy(dtype=bool) if "cancelled" in data.columns else np.zeros(len(churned), dtype=bool)
    active = (churned == 0) & ~cancelled
    n_act, m_act, idx_act = renewals[active], margins[active], index[active]
    f = type(model).formulas
    seed = seed_sequence(random_seed)
    seed_params, seed_sim = seed.spawn(2)
    param_draws = model.sample_params(n_draws, method=draws, random_seed=seed_params)
    n_draws = len(param_draws)
    point = model.params_

    # the DERL depends on the renewals only: once per distinct value
    levels, level_of = np.unique(n_act, return_inverse=True)
    derl_d = f.derl(param_draws, levels, d, H)
    derl_p = f.derl(point, levels, d, H)
    life_d = f.expected_residual_lifetime(param_draws, levels, H)
    life_p = f.expected_residual_lifetime(point, levels, H)
    derl_lo, derl_hi = _quantiles(derl_d, ci)
    life_lo, life_hi = _quantiles(life_d, ci)

    # the values depend on (renewals, margin): once per distinct pair
    (pn, pm), weight, pattern = compress_patterns(n_act, m_act)
    pn, pm = np.asarray(pn, dtype=np.float64), np.asarray(pm, dtype=np.float64)
    plevel = np.searchsorted(levels, pn)
    n_pat = len(pn)
    clv = pm * derl_p[plevel]
    clv_lo, clv_hi = np.empty(n_pat), np.empty(n_pat)
    pred_lo, pred_hi = np.full(n_pat, np.nan), np.full(n_pat, np.nan)
    chunk = max(1, int(memory_budget // (8 * 6 * (n_draws + 1))))
    arrays = unpack(param_draws, type(model).param_names)
    run_key = seed_key(seed_sim)
    keys = history_keys(run_key, pn, pm) if predictive else None
    for start in range(0, n_pat, chunk):
        sl = slice(start, min(start + chunk, n_pat))
        value_d = pm[sl] * derl_d[:, plevel[sl]]
        clv_lo[sl], clv_hi[sl] = _quantiles(value_d, ci)
        del value_d
        if predictive:
            rng = KeyedGenerator(cell_keys(keys[sl], n_draws))
            _, discounted = f.simulate_residual(rng, arrays, pn[sl], d, H)
            pred_lo[sl], pred_hi[sl] = _quantiles(pm[sl] * discounted, ci)

    columns = {
        "renewals": n_act.astype(np.int64),
        "margin": m_act,
        "derl": derl_p[level_of],
        "derl_lower": derl_lo[level_of],
        "derl_upper": derl_hi[level_of],
        "expected_residual_lifetime": life_p[level_of],
        "expected_residual_lifetime_lower": life_lo[level_of],
        "expected_residual_lifetime_upper": life_hi[level_of],
        "clv": clv[pattern],
        "clv_lower": clv_lo[pattern],
        "clv_upper": clv_hi[pattern],
    }
    if predictive:
        columns["clv_pred_lower"] = pred_lo[pattern]
        columns["clv_pred_upper"] = pred_hi[pattern]
    frame = pd.DataFrame(columns, index=idx_act)
    # totals over the active subscribers, draw by draw
    count = np.bincount(level_of, minlength=len(levels)).astype(np.float64)
    money = np.bincount(level_of, weights=m_act, minlength=len(levels))
    cohort_draws = pd.DataFrame(
        {"derl": derl_d @ count, "clv": derl_d @ money}, index=pd.RangeIndex(n_draws, name="draw")
    )
    settings = {
        "model": type(model).key,
        "horizon": None if H is None else float(H),
        "time_unit": unit,
        "discount_rate": float(discount_rate),
        "rate_per": rate_per,
        "discount_rate_per_period": d,
        "payments": "next renewal undiscounted, the k-th after it discounted by (1 + d)^-k (Fader & Hardie 2010)",
        "margin": margin_label,
        "ci": float(ci),
        "n_draws": int(n_draws),
        "draws": draws or ("posterior" if getattr(model, "idata_", None) is not None else "laplace"),
        "random_seed": random_seed,
        "predictive": bool(predictive),
        "n_subscribers": int(active.sum()),
        "dropped_churned": int((churned != 0).sum()),
        "dropped_cancelled_since_last_renewal": int(((churned == 0) & cancelled).sum()),
    }
    frame.attrs["settings"] = dict(settings)
    return Forecast(frame=frame, settings=settings, cohort_draws=cohort_draws)
