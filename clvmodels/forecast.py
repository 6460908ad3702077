"""Per-customer forecasts with uncertainty: P(alive), purchases, spend and discounted CLV.

:func:`forecast` combines a transaction model (BG/NBD) and a spend model (Gamma-Gamma) over
*parameter draws*, so the uncertainty of both models reaches the customer lifetime value draw
by draw (spend is never collapsed to its mean). It works over customers in chunks, so that
memory stays bounded (:data:`MEMORY_BUDGET`) whatever the number of customers.

Two kinds of interval are reported, at level ``ci``:

credible (``*_lower``, ``*_upper``)
    the spread of the *expected* value over the parameter draws: how sure we are of the
    model's expectation for this customer;
predictive (``purchases_pred_*``, ``clv_pred_*``)
    the spread of what the customer will actually do: each draw simulates the customer's
    future from their posterior given their history (alive or not, purchase rate, dropout,
    spend per purchase and the timing of each purchase, which sets its discount).

Discounting is continuous by default: an annual rate R is the continuously compounded rate
``delta = log(1 + R)`` per year of 365.25 days, that is ``log(1 + R) * unit_days / 365.25`` per
time unit, applied to the expected purchase stream exactly (quadrature, see
:func:`clvmodels.models.beta_geo.discounted_expected_purchases`). ``discounting="discrete"``
discounts once per period of ``period`` time units at the matching per-period rate
``(1 + R) ** (period_days / 365.25) - 1``, as ``lifetimes`` does.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .data import compress_patterns, validate_summary
from .models import beta_geo as bg
from .models import gamma_gamma as gg
from .models.beta_geo import BetaGeo
from .models.gamma_gamma import GammaGamma
from .models.params import unpack
from .units import normalize_unit, unit_days

__all__ = ["Forecast", "forecast", "COLUMNS", "MEMORY_BUDGET"]

#: Bytes a chunk of (draws x customers) work may use (about 1 GB).
MEMORY_BUDGET = 1_000_000_000
_ARRAYS_PER_CELL = 24  # float64 arrays alive at once per (draw, customer) cell, generously

#: The per-customer columns of :meth:`Forecast.to_frame`, in order, with their meaning.
COLUMNS: dict[str, str] = {
    "frequency": "repeat transactions in the observation period (input)",
    "recency": "time from first to last purchase, in time units (input)",
    "T": "time from first purchase to the end of observation, in time units (input)",
    "monetary_value": "mean value of the repeat transactions (input)",
    "prob_alive": "probability that the customer is alive at the end of observation",
    "prob_alive_lower": "credible bound of prob_alive",
    "prob_alive_upper": "credible bound of prob_alive",
    "expected_purchases": "expected purchases over the horizon (undiscounted)",
    "expected_purchases_lower": "credible bound",
    "expected_purchases_upper": "credible bound",
    "purchases_pred_lower": "predictive bound of the number of purchases over the horizon",
    "purchases_pred_upper": "predictive bound of the number of purchases over the horizon",
    "expected_spend": "expected value of one future transaction",
    "expected_spend_lower": "credible bound",
    "expected_spend_upper": "credible bound",
    "clv": "expected discounted value over the horizon, times the margin",
    "clv_lower": "credible bound",
    "clv_upper": "credible bound",
    "clv_pred_lower": "predictive bound of the discounted value the customer will bring",
    "clv_pred_upper": "predictive bound of the discounted value the customer will bring",
}


@dataclass
class Forecast:
    """Per-customer forecast; see :func:`forecast`.

    Attributes
    ----------
    frame : DataFrame
        One row per customer, the columns of :data:`COLUMNS` (predictive ones only when
        computed).
    settings : dict
        Horizon, time unit, discounting, margin, interval level, draws and seed.
    cohort_draws : DataFrame
        Per parameter draw: the cohort's expected purchases and CLV (sums over customers).
    """

    frame: pd.DataFrame
    settings: dict[str, Any]
    cohort_draws: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The per-customer table (a copy)."""
        return self.frame.copy()

    def summary(self) -> pd.DataFrame:
        """Cohort totals over the horizon: expected purchases and CLV with credible bounds."""
        ci = self.settings["ci"]
        lo, hi = (1 - ci) / 2, (1 + ci) / 2
        rows = {}
        for name, column in (("expected_purchases", "expected_purchases"), ("clv", "clv")):
            draws = self.cohort_draws[column]
            rows[name] = {
                "estimate": float(self.frame[column].sum()),
                "lower": float(draws.quantile(lo)),
                "upper": float(draws.quantile(hi)),
            }
        table = pd.DataFrame(rows).T
        table.index.name = "cohort_total"
        table.attrs["ci"] = ci
        return table

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the per-customer table to ``path`` atomically (temporary file, then rename).

        The interval level and the settings are written as ``#`` comment lines first; read the
        file back with ``pd.read_csv(path, comment="#", index_col=0)``.
        """
        path = Path(path)
        header = "".join(f"# {key}: {value}\n" for key, value in self.settings.items())
        return _atomic_write(path, lambda handle: (handle.write(header), self.frame.to_csv(handle, float_format="%.10g")))

    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Write the per-customer table to a Parquet file atomically (needs pyarrow)."""
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_parquet needs pyarrow: pip install pyarrow") from exc
        frame = self.frame.copy()
        frame.attrs = {}
        return _atomic_write(Path(path), lambda handle: frame.to_parquet(handle), binary=True)


def _atomic_write(path: Path, write: Any, binary: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", newline=None if binary else "") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _quantiles(values: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return lower, upper


def _simulate_future(
    rng: np.random.Generator,
    alive_prob: np.ndarray,
    bg_draws: tuple[np.ndarray, ...],
    gg_draws: tuple[np.ndarray, ...],
    x: np.ndarray,
    T: np.ndarray,
    m: np.ndarray,
    horizon: float,
    discount: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """One future per (draw, customer): purchases in the horizon and their discounted value.

    Draw by draw: alive at T ~ Bernoulli(P(alive)); if alive, lambda ~ Gamma(r+x, alpha+T) and
    p ~ Beta(a, b+x); purchases follow a Poisson(lambda) process and the customer drops out
    after each with probability p. Each purchase is worth Gamma(p_gg, nu) with
    nu ~ Gamma(q + p_gg x, gamma + x m) (the posterior of the customer's spend rate). Event
    times are generated as successive gaps, in blocks, only for the customers still buying.
    """
    r, alpha, a, b = bg_draws
    p_gg, q, gamma = gg_draws
    shape = np.broadcast_shapes(np.shape(r), x.shape)
    alive = rng.uniform(size=shape) < alive_prob
    lam = rng.gamma(np.broadcast_to(r + x, shape)) / np.broadcast_to(alpha + T, shape)
    drop = rng.beta(np.broadcast_to(a, shape), np.broadcast_to(b + x, shape))
    nu = rng.gamma(np.broadcast_to(q + p_gg * x, shape)) / np.broadcast_to(gamma + x * m, shape)
    p_spend = np.broadcast_to(p_gg, shape)
    count = np.zeros(shape, dtype=np.int64)
    value = np.zeros(shape)
    idx = np.flatnonzero(alive.ravel())
    time = np.zeros(idx.size)
    lam_f, drop_f, nu_f, p_f = lam.ravel(), drop.ravel(), nu.ravel(), p_spend.ravel()
    count_f, value_f = count.ravel(), value.ravel()
    block = 8  # purchases drawn at once per customer still buying; grows for long histories
    while idx.size:
        gaps = rng.exponential(size=(idx.size, block)) / lam_f[idx, None]
        times = time[:, None] + np.cumsum(gaps, axis=1)
        # the k-th purchase happens if it falls in the horizon and the customer did not drop
        # out after any of the earlier ones
        dropped = rng.uniform(size=(idx.size, block)) < drop_f[idx, None]
        survived_before = np.cumprod(np.concatenate([np.ones((idx.size, 1), bool), ~dropped[:, :-1]], axis=1), axis=1, dtype=bool)
        happens = (times <= horizon) & survived_before
        spend = rng.gamma(np.broadcast_to(p_f[idx, None], happens.shape)) / nu_f[idx, None]
        count_f[idx] += happens.sum(axis=1)
        value_f[idx] += np.where(happens, spend * discount(times), 0.0).sum(axis=1)
        going = happens[:, -1] & ~dropped[:, -1]
        idx, time = idx[going], times[going, -1]
        block = min(block * 2, 1024)
    return count_f.reshape(shape), value_f.reshape(shape)


def forecast(
    transaction_model: BetaGeo,
    spend_model: GammaGamma,
    data: pd.DataFrame,
    *,
    horizon: float | None,
    discount_rate: float,
    margin: float = 1.0,
    ci: float = 0.9,
    n_draws: int = 1000,
    predictive: bool = True,
    random_seed: int | None = None,
    time_unit: str | None = None,
    discounting: Literal["continuous", "discrete"] = "continuous",
    period: float | None = None,
    draws: Literal["laplace", "bootstrap"] = "laplace",
    memory_budget: int = MEMORY_BUDGET,
) -> Forecast:
    """Forecast each customer's purchases, spend and discounted lifetime value with intervals.

    Parameters
    ----------
    transaction_model : BetaGeo
        Fitted transaction model.
    spend_model : GammaGamma
        Fitted spend model.
    data : DataFrame
        Per-customer ``frequency, recency, T, monetary_value`` (:func:`clvmodels.rfm_summary`
        with ``amount_col``).
    horizon : float or None
        Length of the forecast in time units; ``None`` or ``numpy.inf`` for the infinite
        horizon (continuous discounting only).
    discount_rate : float
        Annual discount rate R (0.15 for 15%); see the module docstring for its compounding.
    margin : float
        Share of spend that is profit; CLV is margin times discounted spend.
    ci : float
        Level of the credible and predictive intervals.
    n_draws : int
        Parameter draws of each model.
    predictive : bool
        Also simulate each customer's future for the predictive bounds.
    random_seed : int, optional
        Seed of every random step; the same seed gives the same forecast.
    time_unit : str, optional
        Time unit of ``data`` and ``horizon``; by default the one recorded by
        :func:`clvmodels.rfm_summary` (``data.attrs``) or by the fitted model.
    discounting : {"continuous", "discrete"}
        Exact continuous discounting, or once per period (``period`` time units).
    period : float, optional
        Period length for discrete discounting, in time units.
    draws : {"laplace", "bootstrap"}
        How the maximum-likelihood models produce their parameter draws.
    memory_budget : int
        Bytes a chunk of customers may use.

    Returns
    -------
    Forecast

    Examples
    --------
    >>> from clvmodels import BetaGeo, GammaGamma, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W", amount_col="amount")
    >>> result = forecast(BetaGeo().fit(data), GammaGamma().fit(data), data, horizon=52,
    ...                   discount_rate=0.15, n_draws=200, random_seed=1)
    >>> table = result.to_frame()
    >>> bool((table["clv_lower"] <= table["clv"]).all() and (table["clv"] <= table["clv_upper"]).all())
    True
    """
    for model in (transaction_model, spend_model):
        model._check_fitted()
    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    if not np.isfinite(discount_rate) or discount_rate <= -1:
        raise ValueError(f"discount_rate={discount_rate!r} must be an annual rate > -1 (0.15 for 15%).")
    if not np.isfinite(margin) or margin <= 0:
        raise ValueError(f"margin={margin!r} must be positive (1.0 for revenue).")
    if discounting not in ("continuous", "discrete"):
        raise ValueError(f"discounting={discounting!r}; use 'continuous' or 'discrete'.")
    unit = time_unit or data.attrs.get("time_unit") or transaction_model.time_unit_
    if unit is None:
        raise ValueError("the data's time unit is unknown; pass time_unit= (for example 'W').")
    unit = normalize_unit(unit)
    H = np.inf if horizon is None else float(horizon)
    if not H > 0:
        raise ValueError(f"horizon={horizon!r} must be positive (None for the infinite horizon).")
    years_per_unit = unit_days(unit) / 365.25
    delta = float(np.log1p(discount_rate)) * years_per_unit
    if discounting == "discrete":
        if period is None or not period > 0 or not np.isfinite(H):
            raise ValueError("discrete discounting needs period= (in time units) and a finite horizon.")
        n_periods = int(np.ceil(H / period - 1e-9))
        period_rate = (1 + discount_rate) ** (period * years_per_unit) - 1

        def discount(t: np.ndarray) -> np.ndarray:
            return (1 + period_rate) ** -np.ceil(np.maximum(t, 1e-300) / period - 1e-12)
    else:
        if np.isinf(H) and delta <= 0:
            raise ValueError("an infinite horizon needs a positive discount_rate.")

        def discount(t: np.ndarray) -> np.ndarray:
            return np.exp(-delta * t)

    s = validate_summary(data, monetary=True)
    seed = np.random.SeedSequence(random_seed)
    seed_bg, seed_gg, seed_sim = seed.spawn(3)
    bg_draws = transaction_model.sample_params(n_draws, method=draws, random_seed=seed_bg)
    gg_draws = spend_model.sample_params(n_draws, method=draws, random_seed=seed_gg)

    def if_alive(params: Any, x: np.ndarray, T: np.ndarray, discounted: bool = True) -> np.ndarray:
        """Purchases over the horizon if alive at T (discounted or not), once per distinct (x, T)."""
        (ux, uT), _, inverse = compress_patterns(x, T)
        if not discounted:
            values = bg.discounted_purchases_if_alive(params, H, 0.0, ux, uT)
        elif discounting == "discrete":
            values = bg.discounted_purchases_if_alive_discrete(params, n_periods, period, period_rate, ux, uT)
        else:
            values = bg.discounted_purchases_if_alive(params, H, delta, ux, uT)
        return values[..., inverse]

    n = len(s.index)
    chunk = max(1, int(memory_budget // (8 * _ARRAYS_PER_CELL * (n_draws + 1))))
    out: dict[str, np.ndarray] = {name: np.empty(n) for name in COLUMNS if name not in ("frequency", "recency", "T", "monetary_value")}
    cohort_purchases = np.zeros(n_draws)
    cohort_clv = np.zeros(n_draws)
    bg_arrays = unpack(bg_draws, bg.PARAM_NAMES)
    gg_arrays = unpack(gg_draws, gg.PARAM_NAMES)
    sim_rng = np.random.default_rng(seed_sim)
    # an infinite horizon is simulated until the discount factor is below exp(-40)
    sim_horizon = H if np.isfinite(H) else 40.0 / delta
    point_bg, point_gg = transaction_model.params_, spend_model.params_
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        x, t_x, T, m = s.frequency[sl], s.recency[sl], s.T[sl], s.monetary_value[sl]
        alive_d = bg.prob_alive(bg_draws, x, t_x, T)
        alive = bg.prob_alive(point_bg, x, t_x, T)
        spend_d = gg.expected_spend(gg_draws, x, m)
        clv_d = margin * spend_d * alive_d * if_alive(bg_draws, x, T)
        out["prob_alive"][sl] = alive
        out["prob_alive_lower"][sl], out["prob_alive_upper"][sl] = _quantiles(alive_d, ci)
        out["expected_spend"][sl] = gg.expected_spend(point_gg, x, m)
        out["expected_spend_lower"][sl], out["expected_spend_upper"][sl] = _quantiles(spend_d, ci)
        out["clv"][sl] = margin * out["expected_spend"][sl] * alive * if_alive(point_bg, x, T)
        out["clv_lower"][sl], out["clv_upper"][sl] = _quantiles(clv_d, ci)
        cohort_clv += clv_d.sum(axis=1)
        if np.isfinite(H):
            purchases_d = alive_d * if_alive(bg_draws, x, T, discounted=False)
            out["expected_purchases"][sl] = alive * if_alive(point_bg, x, T, discounted=False)
            out["expected_purchases_lower"][sl], out["expected_purchases_upper"][sl] = _quantiles(purchases_d, ci)
            cohort_purchases += purchases_d.sum(axis=1)
        else:
            for name in ("expected_purchases", "expected_purchases_lower", "expected_purchases_upper"):
                out[name][sl] = np.inf
            cohort_purchases[:] = np.inf
        if predictive:
            counts, values = _simulate_future(sim_rng, alive_d, bg_arrays, gg_arrays, x, T, m, sim_horizon, discount)
            out["purchases_pred_lower"][sl], out["purchases_pred_upper"][sl] = _quantiles(counts, ci)
            out["clv_pred_lower"][sl], out["clv_pred_upper"][sl] = _quantiles(margin * values, ci)
    frame = pd.DataFrame(
        {"frequency": s.frequency.astype(np.int64), "recency": s.recency, "T": s.T, "monetary_value": s.monetary_value},
        index=s.index,
    )
    for name, values in out.items():
        if predictive or "_pred_" not in name:
            frame[name] = values
    settings = {
        "horizon": "infinite" if not np.isfinite(H) else H,
        "time_unit": unit,
        "discounting": discounting,
        "annual_discount_rate": discount_rate,
        "rate_per_time_unit": delta if discounting == "continuous" else period_rate,
        "period": period,
        "margin": margin,
        "ci": ci,
        "n_draws": n_draws,
        "draws": draws,
        "random_seed": random_seed,
    }
    frame.attrs = {"settings": settings}
    cohort = pd.DataFrame({"expected_purchases": cohort_purchases, "clv": cohort_clv}, index=bg_draws.index)
    return Forecast(frame, settings, cohort)
