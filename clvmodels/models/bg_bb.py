"""The BG/BB model of repeat transactions in discrete time (Fader, Hardie & Shang 2010).

Customers have discrete transaction opportunities (occasions: a yearly fund drive, a weekly
event). At each occasion a customer who is still alive transacts with probability
``p ~ Beta(alpha, beta)``, and before each occasion an alive customer becomes inactive for good
with probability ``theta ~ Beta(gamma, delta)``: alive at occasion k (counted after the first
transaction, at occasion 0) with probability ``(1 - theta)^k``.

A customer's history is ``(x, t_x, n)``: ``x`` repeat transactions (``frequency``) in the ``n``
occasions observed after the first (``n_periods``), the last of them at occasion ``t_x``
(``recency``, 0 when x = 0), with ``x <= t_x <= n``. All times here (``t``, horizons) are whole
numbers of occasions. The per-customer formulas are pure broadcasting functions of
``(params, data)`` (see :mod:`clvmodels.models.params`); inside them the parameter ``delta`` is
called ``delta_``, apart from the discount rate.

References
----------
Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a discrete-time
noncontractual setting. Marketing Science 29(6), 1086-1108. (FHS 2010; equation numbers below.)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from .base import TransactionModel, check_time
from .ops import NUMPY_OPS
from .params import unpack
from .registry import register

__all__ = [
    "BetaGeoBetaBinom",
    "loglik",
    "loglik_grad",
    "prob_alive",
    "prob_alive_ahead",
    "expected_purchases",
    "expected_purchases_new",
    "prob_purchases",
    "prob_purchases_conditional",
    "prob_purchases_table",
    "discounted_purchases_if_alive",
    "discounted_purchases_if_alive_discrete",
    "discounted_expected_purchases",
    "discounted_expected_purchases_discrete",
    "simulate",
    "simulate_future_occasions",
]

PARAM_NAMES = ("alpha", "beta", "gamma", "delta")

#: below this distance of gamma from 1 the sums of survival probabilities use a Taylor series in
#: gamma - 1 (the closed form is 0/0 at gamma = 1); 12 terms keep full precision up to it
_SERIES_BELOW = 0.05
_SERIES_TERMS = 12
#: elsewhere, up to this many occasions they are sums of logarithms, beyond it a quotient of log-gammas
_SUM_UP_TO = 64
#: finite discounting horizons up to this many occasions are summed occasion by occasion
_DIRECT_SUM_UP_TO = 200


def _betaln(a: Any, b: Any, ops: Any) -> Any:
    """``ln B(a, b)`` over ``ops``."""
    return ops.gammaln(a) + ops.gammaln(b) - ops.gammaln(a + b)


def _as_data(v: Any) -> Any:
    """Data as an array (numpy) or unchanged (a PyTensor variable)."""
    return v if hasattr(v, "ndim") else np.asarray(v, dtype=np.float64)


def _col(v: Any) -> Any:
    """``v`` with a trailing axis (for the grid of the finite sums); scalars unchanged."""
    return v[..., None] if getattr(v, "ndim", 0) else v


def _occasion_grid(gap: np.ndarray) -> tuple[np.ndarray]:
    """``i = 0 .. max(gap) - 1`` (at least one column) along a new last axis, one row per element
    of ``gap``: the grid of the likelihood's finite sum, masked by ``i < gap`` where it is used."""
    gap = np.asarray(gap, dtype=np.float64)
    width = max(int(gap.max(initial=0.0)), 1)
    return (np.broadcast_to(np.arange(width, dtype=np.float64), gap.shape + (width,)),)


def _loglik_terms(alpha: Any, beta: Any, gamma: Any, delta_: Any, x: Any, t_x: Any, n: Any, ops: Any) -> tuple[Any, Any, Any, Any]:
    """``(base, alive, dead, mask)``: ``ln L = base + ln(exp(alive) + sum_i mask_i exp(dead_i))``.

    ``base = -ln B(alpha, beta) - ln B(gamma, delta)``; ``alive = ln B(alpha+x, beta+n-x) +
    ln B(gamma, delta+n)`` (alive at occasion n); ``dead_i = ln B(alpha+x, beta+t_x-x+i) +
    ln B(gamma+1, delta+t_x+i)`` (alive at t_x + i, gone at the next occasion), on the grid
    ``i = 0 .. max(n - t_x) - 1`` along a new last axis, with ``mask_i = i < n - t_x``.
    """
    base = -_betaln(alpha, beta, ops) - _betaln(gamma, delta_, ops)
    alive = _betaln(alpha + x, beta + n - x, ops) + _betaln(gamma, delta_ + n, ops)
    (i,) = ops.frozen(_occasion_grid, 1, n - t_x)
    xc, tc, nc = _col(x), _col(t_x), _col(n)
    ac, bc, gc, dc = _col(alpha), _col(beta), _col(gamma), _col(delta_)
    dead = _betaln(ac + xc, bc + tc - xc + i, ops) + _betaln(gc + 1.0, dc + tc + i, ops)
    return base, alive, dead, i < nc - tc


def loglik(params: Any, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike, *, ops: Any = NUMPY_OPS) -> Any:
    """Per-customer BG/BB log-likelihood (FHS 2010, eq. 5), in log space.

    ``L = B(alpha+x, beta+n-x) / B(alpha, beta) * B(gamma, delta+n) / B(gamma, delta)
    + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i) / B(alpha, beta) * B(gamma+1, delta+t_x+i) / B(gamma, delta)``:
    alive at the last occasion n, or alive at t_x + i and gone at the next occasion. The finite
    sum runs over a fixed grid ``i = 0 .. max(n - t_x) - 1`` masked by ``i < n - t_x``, and the
    whole is a log-sum-exp around the largest term (held out of the gradient), so the value and
    its derivatives stay finite at every data point and parameter.

    Parameters
    ----------
    params : mapping or DataFrame
        ``alpha, beta, gamma, delta`` (see :mod:`clvmodels.models.params`).
    frequency, recency, n_periods : array_like
        x, t_x and n per customer (whole numbers, ``x <= t_x <= n``).
    ops : namespace
        Backend (:data:`clvmodels.models.ops.NUMPY_OPS` or a PyTensor equivalent).

    Returns
    -------
    array
        Log-likelihood of each customer, broadcast over parameter draws.

    Examples
    --------
    The donations data's fit (FHS 2010): a donor who gave in each of the six years, and one who
    never gave again.

    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> loglik(params, np.array([6, 0]), np.array([6, 0]), np.array([6, 6])).round(4)
    array([-2.1822, -1.1673])
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    x, t_x, n = _as_data(frequency), _as_data(recency), _as_data(n_periods)
    base, alive, dead, mask = _loglik_terms(alpha, beta, gamma, delta_, x, t_x, n, ops)
    # the masked dead_i are smaller than alive (B decreases in each argument), so m bounds them all
    m = ops.stop_gradient(ops.maximum(alive, ops.where(mask, dead, -np.inf).max(axis=-1)))
    total = ops.exp(alive - m) + ops.where(mask, ops.exp(dead - _col(m)), 0.0).sum(axis=-1)
    return base + m + ops.log(total)


def loglik_grad(params: Any, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """:func:`loglik` and its gradient with respect to ``(alpha, beta, gamma, delta)`` (numpy).

    Every term of the likelihood is a product of Beta functions, so each derivative is a
    weighted mean of digamma differences, the weights being the terms' shares of the total.

    Returns
    -------
    value : ndarray
        The log-likelihood per customer (as :func:`loglik`).
    grad : ndarray
        Shape ``(4,) + value.shape``.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> value, grad = loglik_grad(params, 3, 5, 6)
    >>> step = dict(params, gamma=params["gamma"] + 1e-6)
    >>> numeric = (loglik(step, 3, 5, 6) - loglik(params, 3, 5, 6)) / 1e-6
    >>> grad.shape, bool(np.isclose(grad[2], numeric, rtol=1e-5))
    ((4,), True)
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    x, t_x, n = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, n_periods))
    base, alive, dead, mask = _loglik_terms(alpha, beta, gamma, delta_, x, t_x, n, NUMPY_OPS)
    m = np.maximum(alive, np.where(mask, dead, -np.inf).max(axis=-1))
    w_alive = np.exp(alive - m)
    w_dead = np.where(mask, np.exp(dead - m[..., None]), 0.0)
    total = w_alive + w_dead.sum(axis=-1)
    w_alive, w_dead = w_alive / total, w_dead / total[..., None]
    return base + m + np.log(total), _grad(alpha, beta, gamma, delta_, x, t_x, n, w_alive, w_dead, _occasion_grid(n - t_x)[0])


def _grad(alpha: Any, beta: Any, gamma: Any, delta_: Any, x: Any, t_x: Any, n: Any, w_alive: Any, w_dead: Any, i: Any) -> np.ndarray:
    """The gradient of :func:`loglik` given the terms' shares ``w_alive`` and ``w_dead`` (which sum to 1)."""
    psi = special.digamma
    xc, tc = x[..., None], t_x[..., None]
    ac, bc, gc, dc = (np.asarray(v)[..., None] if np.ndim(v) else v for v in (alpha, beta, gamma, delta_))
    # d/d alpha, beta of ln B(alpha+x, beta+m) with m = n-x (alive) or t_x-x+i (dead_i)
    s_ab = psi(alpha + beta)
    d_alpha = -(psi(alpha) - s_ab) + psi(alpha + x) - (
        w_alive * psi(alpha + beta + n) + (w_dead * psi(ac + bc + tc + i)).sum(axis=-1)
    )
    d_beta = -(psi(beta) - s_ab) + w_alive * (psi(beta + n - x) - psi(alpha + beta + n)) + (
        w_dead * (psi(bc + tc - xc + i) - psi(ac + bc + tc + i))
    ).sum(axis=-1)
    # d/d gamma, delta of ln B(gamma, delta+n) (alive) or ln B(gamma+1, delta+t_x+i) (dead_i)
    s_gd = psi(gamma + delta_)
    dead_gd = psi(gc + dc + tc + i + 1.0)
    d_gamma = -(psi(gamma) - s_gd) + w_alive * (psi(gamma) - psi(gamma + delta_ + n)) + (
        w_dead * (psi(gc + 1.0) - dead_gd)
    ).sum(axis=-1)
    d_delta = -(psi(delta_) - s_gd) + w_alive * (psi(delta_ + n) - psi(gamma + delta_ + n)) + (
        w_dead * (psi(dc + tc + i) - dead_gd)
    ).sum(axis=-1)
    return np.stack(np.broadcast_arrays(d_alpha, d_beta, d_gamma, d_delta))


class _PatternLoglik:
    """Total log-likelihood and gradient over weighted patterns, for maximum likelihood.

    The same terms as :func:`loglik` and :func:`loglik_grad`, laid out once as one flat array of
    terms (each pattern's "alive" term and its ``n - t_x`` "dead" terms, pattern by pattern). Each
    term is ``ln B(alpha+x, beta+m) + ln B(gamma+c, delta+e)`` with whole numbers x, m, c, e, so
    an evaluation takes ``gammaln`` and ``digamma`` at the few distinct arguments only (at most
    ``2 max(n) + 2`` per Beta function), gathers them per term, forms the per-pattern
    log-sum-exps by ``reduceat`` and the gradient's weighted sums by ``bincount``.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, n: np.ndarray, weights: np.ndarray) -> None:
        x, t_x, n, w = (np.asarray(v, dtype=np.float64) for v in (x, t_x, n, weights))
        if np.any(np.round(x) != x) or np.any(np.round(t_x) != t_x) or np.any(np.round(n) != n):
            raise ValueError("BG/BB patterns count occasions: frequency, recency and n_periods must be whole numbers.")
        x, t_x, n = x.astype(np.int64), t_x.astype(np.int64), n.astype(np.int64)
        sizes = 1 + (n - t_x)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pattern = np.repeat(np.arange(len(x)), sizes)
        # position of each term within its pattern: 0 is "alive at n", 1 + i is "gone after t_x + i"
        within = np.arange(sizes.sum()) - np.repeat(self.starts, sizes)
        alive = within == 0
        xt, tt, nt = x[pattern], t_x[pattern], n[pattern]
        m = np.where(alive, nt - xt, tt - xt + within - 1)
        c = np.where(alive, 0, 1)
        e = np.where(alive, nt, tt + within - 1)
        # integer codes of the six Beta-function arguments of every term
        self.codes = (xt, m, xt + m, c, e, c + e)
        self.levels = [np.arange(code.max(initial=0) + 1, dtype=np.float64) for code in self.codes]
        self.pattern = pattern
        self.w = w
        self.total_weight = float(w.sum())

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        alpha, beta, gamma, delta_ = (float(v) for v in theta)
        if not min(alpha, beta, gamma, delta_) > 0:
            return -np.inf, np.zeros(4)
        shifts = (alpha, beta, alpha + beta, gamma, delta_, gamma + delta_)
        args = np.concatenate([shift + level for shift, level in zip(shifts, self.levels)] + [np.array(shifts)])
        lg, dg = special.gammaln(args), special.digamma(args)
        bounds = np.cumsum([0] + [len(level) for level in self.levels])
        lg_at = [lg[bounds[j]:bounds[j + 1]][code] for j, code in enumerate(self.codes)]
        terms = lg_at[0] + lg_at[1] - lg_at[2] + lg_at[3] + lg_at[4] - lg_at[5]
        top = np.maximum.reduceat(terms, self.starts)
        scaled = np.exp(terms - top[self.pattern])
        total = np.add.reduceat(scaled, self.starts)
        lg0, dg0 = lg[-6:], dg[-6:]
        base = -(lg0[0] + lg0[1] - lg0[2]) - (lg0[3] + lg0[4] - lg0[5])
        value = float(self.w @ (top + np.log(total))) + self.total_weight * base
        # each term's share of its pattern's likelihood times the pattern's weight, summed per argument
        share = scaled * (self.w / total)[self.pattern]
        d = [
            float(dg[bounds[j]:bounds[j + 1]] @ np.bincount(code, weights=share, minlength=bounds[j + 1] - bounds[j]))
            for j, code in enumerate(self.codes)
        ]
        W = self.total_weight
        grad = np.array([
            d[0] - d[2] - W * (dg0[0] - dg0[2]),
            d[1] - d[2] - W * (dg0[1] - dg0[2]),
            d[3] - d[5] - W * (dg0[3] - dg0[5]),
            d[4] - d[5] - W * (dg0[4] - dg0[5]),
        ])
        return value, grad


def _log_terms_by_occasion(alpha: Any, beta: Any, gamma: Any, delta_: Any, x: Any, t_x: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(alive, total)``: the "alive at n" term of :func:`loglik` and the log of the whole sum
    (both without ``base``), the finite sum accumulated one occasion at a time, so that the memory
    is one result (draws x customers) rather than :func:`loglik`'s grid of occasions. The
    predictions over parameter draws use it; tested equal to :func:`loglik`."""
    x, t_x, n = (np.asarray(v, dtype=np.float64) for v in (x, t_x, n))
    alive = special.betaln(alpha + x, beta + n - x) + special.betaln(gamma, delta_ + n)
    total = alive
    gap = n - t_x
    for i in range(int(gap.max(initial=0.0))):
        dead = special.betaln(alpha + x, beta + t_x - x + i) + special.betaln(gamma + 1.0, delta_ + t_x + i)
        total = np.where(i < gap, np.logaddexp(total, dead), total)
    return alive, total


def _log_alive_share(alpha: Any, beta: Any, gamma: Any, delta_: Any, x: Any, t_x: Any, n: Any) -> np.ndarray:
    """``ln P(alive at occasion n | x, t_x, n)``: the "alive" term's share of the likelihood."""
    alive, total = _log_terms_by_occasion(alpha, beta, gamma, delta_, x, t_x, n)
    return np.minimum(alive - total, 0.0)


def prob_alive(params: Any, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike) -> np.ndarray:
    """Probability that a customer with history (x, t_x, n) is alive at occasion n.

    ``P(alive at n) = B(alpha+x, beta+n-x) / B(alpha, beta) * B(gamma, delta+n) / B(gamma, delta) / L``
    (FHS 2010, eq. 11 with m = 0; ``lifetimes``' ``conditional_probability_alive(0, ...)``).

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> prob_alive(params, np.array([6, 3, 0]), np.array([6, 3, 0]), np.array([6, 6, 6])).round(4)
    array([1.    , 0.1021, 0.1161])
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    x, t_x, n = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, n_periods))
    return np.exp(_log_alive_share(alpha, beta, gamma, delta_, x, t_x, n))


def prob_alive_ahead(params: Any, m: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike) -> np.ndarray:
    """Probability that a customer with history (x, t_x, n) is alive at occasion n + m.

    ``P(alive at n) * B(gamma, delta+n+m) / B(gamma, delta+n)`` (FHS 2010, eq. 11 for m = 1;
    ``lifetimes``' ``conditional_probability_alive(m, ...)``).

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> prob_alive_ahead(params, np.array([0, 1, 5]), 6, 6, 6).round(4)
    array([1.    , 0.9304, 0.7403])
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    x, t_x, n = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, n_periods))
    m = np.asarray(m, dtype=np.float64)
    d = delta_ + n
    log_survive = special.betaln(gamma, d + m) - special.betaln(gamma, d)
    return np.exp(_log_alive_share(alpha, beta, gamma, delta_, x, t_x, n) + log_survive)


#: Stirling's series: ln G(z) = (z - 1/2) ln z - z + ln(2 pi)/2 + sum_k c_k z^(1 - 2k)
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


def _stirling_correction(z: np.ndarray) -> np.ndarray:
    """``ln G(z) - [(z - 1/2) ln z - z + ln(2 pi)/2]`` for z >= 10 (error below 1e-17)."""
    inv, inv2 = 1.0 / z, 1.0 / (z * z)
    total = np.zeros(np.shape(z))
    for c in reversed(_STIRLING):
        total = total * inv2 + c
    return total * inv


def _log_rising(x: Any, t: Any) -> np.ndarray:
    """``ln G(x + t) - ln G(x)`` (x > 0, t >= 0) with an absolute error of a few ulp of
    ``t ln(x + t)`` rather than of ``ln G(x + t)``: for x >= 10 from Stirling's series as
    ``(x - 1/2) log1p(t/x) + t ln(x+t) - t + corr(x+t) - corr(x)``, below 10 from ``gammaln``."""
    x, t = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64))
    large = x >= 10.0
    xl = np.where(large, x, 10.0)
    stirling = (xl - 0.5) * np.log1p(t / xl) + t * np.log(xl + t) - t + _stirling_correction(xl + t) - _stirling_correction(xl)
    return np.where(large, stirling, special.gammaln(x + t) - special.gammaln(x))


def _log_gamma_shift_slope(gamma: Any, d: Any, t: Any) -> np.ndarray:
    """``(h(gamma) - h(1)) / (gamma - 1)`` with ``h(g) = lnG(g+d) - lnG(g+d+t)``, without 0/0 at gamma = 1.

    Near gamma = 1 the Taylor series ``sum_k (gamma-1)^(k-1) / k! [psi^(k-1)(1+d) - psi^(k-1)(1+d+t)]``;
    elsewhere ``-sum_{j<t} log1p((gamma-1)/(1+d+j)) / (gamma-1)`` for t up to 64 occasions, and
    the difference quotient of log-gamma functions beyond.
    """
    gamma, d, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (gamma, d, t)))
    eps = gamma - 1.0
    near = np.abs(eps) < _SERIES_BELOW
    safe = np.where(near, 1.0, eps)
    direct = (_log_rising(1.0 + d, t) - _log_rising(gamma + d, t)) / safe
    out = np.where(near, 0.0, direct)
    # few occasions: h(gamma) - h(1) = -sum_{j<t} log1p((gamma-1)/(1+d+j)) exactly, free of the
    # cancellation between log-gamma values of long histories (large d) that the quotient suffers
    short = ~near & (t <= _SUM_UP_TO)
    if short.any():
        e, dn, tn = eps[short], d[short], t[short]
        total = np.zeros(e.shape)
        for j in range(int(tn.max())):
            total -= np.where(j < tn, np.log1p(e / (1.0 + dn + j)), 0.0)
        out[short] = total / e
    if near.any():
        e, dn, tn = eps[near], d[near], t[near]
        series = np.zeros(e.shape)
        power = np.ones(e.shape)
        factorial = 1.0
        for k in range(1, _SERIES_TERMS + 1):
            factorial *= k
            series += power / factorial * (special.polygamma(k - 1, 1.0 + dn) - special.polygamma(k - 1, 1.0 + dn + tn))
            power = power * e
        out[near] = series
    return out


def _survival_sum(gamma: Any, d: Any, t: Any) -> np.ndarray:
    """``sum_{k=1}^t B(gamma, d+k) / B(gamma, d)``: the expected number of the next t occasions at
    which a customer alive now (``theta ~ Beta(gamma, d)``) is still alive.

    Telescoping gives ``d / (gamma-1) [1 - G(d+t+1) G(gamma+d) / (G(d+1) G(gamma+d+t))]``, written
    as ``-d s exprel((gamma-1) s)`` with s from :func:`_log_gamma_shift_slope`: no 0/0 at gamma = 1
    (where it is ``d (psi(d+t+1) - psi(d+1))``). An infinite t gives ``d / (gamma-1)`` for
    gamma > 1 and infinity otherwise.
    """
    gamma, d, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (gamma, d, t)))
    finite = np.isfinite(t)
    slope = _log_gamma_shift_slope(gamma, d, np.where(finite, t, 0.0))
    value = -d * slope * special.exprel((gamma - 1.0) * slope)
    with np.errstate(divide="ignore"):
        limit = np.where(gamma > 1.0, d / np.where(gamma > 1.0, gamma - 1.0, 1.0), np.inf)
    return np.where(finite, value, limit)


def expected_purchases_new(params: Any, t: ArrayLike) -> np.ndarray:
    """Expected number of transactions in the first t occasions after the first (a new customer).

    ``E[X(t)] = alpha/(alpha+beta) * delta/(gamma-1) * [1 - G(gamma+delta) G(1+delta+t) / (G(gamma+delta+t) G(1+delta))]``
    (FHS 2010, eq. 9), finite at gamma = 1.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> expected_purchases_new(params, np.array([1, 6, 11])).round(4)
    array([0.4985, 2.2196, 3.3876])
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    return alpha / (alpha + beta) * _survival_sum(gamma, delta_, np.asarray(t, dtype=np.float64))


def expected_purchases(params: Any, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike) -> np.ndarray:
    """Expected number of transactions in the t occasions after n, given the history (x, t_x, n).

    FHS 2010, eq. 13. Alive at n, the customer's ``p`` and ``theta`` follow ``Beta(alpha+x,
    beta+n-x)`` and ``Beta(gamma, delta+n)``, so
    ``E[X(n, n+t) | x, t_x, n] = P(alive at n) (alpha+x)/(alpha+beta+n) sum_{k=1}^t B(gamma, delta+n+k) / B(gamma, delta+n)``.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> expected_purchases(params, 5, np.array([6, 3, 0]), np.array([6, 3, 0]), np.array([6, 6, 6])).round(4)
    array([3.7521, 0.2235, 0.0728])
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    x, n = np.asarray(frequency, dtype=np.float64), np.asarray(n_periods, dtype=np.float64)
    alive = prob_alive(params, x, recency, n)
    return alive * (alpha + x) / (alpha + beta + n) * _survival_sum(gamma, delta_ + n, np.asarray(t, dtype=np.float64))


def _log_pmf_new(alpha: Any, beta: Any, gamma: Any, delta_: Any, k: Any, t: Any) -> np.ndarray:
    """``ln P(X(t) = k)`` of a customer alive at occasion 0 (FHS 2010, eq. 7), with the finite sum
    over ``i = k .. t-1`` accumulated one occasion at a time (memory of one result)."""
    alpha, beta, gamma, delta_, k, t = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (alpha, beta, gamma, delta_, k, t))
    )
    possible = k <= t
    kk = np.where(possible, k, 0.0)
    base = -special.betaln(alpha, beta) - special.betaln(gamma, delta_)
    log_comb_t = special.gammaln(t + 1.0) - special.gammaln(kk + 1.0) - special.gammaln(t - kk + 1.0)
    total = log_comb_t + special.betaln(alpha + kk, beta + t - kk) + special.betaln(gamma, delta_ + t)
    width = int(t.max(initial=0.0))
    for i in range(width):
        use = (i >= k) & (i < t)
        if not use.any():
            continue
        ii = np.where(use, float(i), kk)  # i >= k wherever the term is used
        term = (
            special.gammaln(ii + 1.0) - special.gammaln(kk + 1.0) - special.gammaln(ii - kk + 1.0)
            + special.betaln(alpha + kk, beta + ii - kk) + special.betaln(gamma + 1.0, delta_ + ii)
        )
        total = np.where(use, np.logaddexp(total, term), total)
    return np.where(possible, base + total, -np.inf)


def prob_purchases(params: Any, k: ArrayLike, t: ArrayLike) -> np.ndarray:
    """Probability that a new customer makes exactly k transactions in the first t occasions.

    ``P(X(t) = k) = C(t, k) B(alpha+k, beta+t-k)/B(alpha, beta) B(gamma, delta+t)/B(gamma, delta)
    + sum_{i=k}^{t-1} C(i, k) B(alpha+k, beta+i-k)/B(alpha, beta) B(gamma+1, delta+i)/B(gamma, delta)``
    (FHS 2010, eq. 7), evaluated in log space.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> pmf = prob_purchases(params, np.arange(7), 6)
    >>> pmf.round(4), round(float(pmf.sum()), 12)
    (array([0.3112, 0.1701, 0.1215, 0.1003, 0.0917, 0.0925, 0.1128]), 1.0)
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    return np.exp(_log_pmf_new(alpha, beta, gamma, delta_, k, t))


def prob_purchases_conditional(
    params: Any, k: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
) -> np.ndarray:
    """Probability of exactly k transactions in the t occasions after n, given the history (x, t_x, n).

    A customer gone by occasion n makes none; one alive at n has ``p ~ Beta(alpha+x, beta+n-x)``
    and ``theta ~ Beta(gamma, delta+n)`` and starts afresh, so
    ``P(X(n, n+t) = k | x, t_x, n) = (1 - P(alive)) [k = 0] + P(alive) P(X(t) = k; alpha+x, beta+n-x, gamma, delta+n)``.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> k = np.arange(6)[:, None]
    >>> pmf = prob_purchases_conditional(params, k, 5, np.array([6, 3]), np.array([6, 3]), np.array([6, 6]))
    >>> pmf[:, 0].round(4), pmf.sum(axis=0).round(12), (k * pmf).sum(axis=0).round(4)
    (array([0.0768, 0.0668, 0.069 , 0.0982, 0.1932, 0.496 ]), array([1., 1.]), array([3.7521, 0.2235]))
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    x, n = np.asarray(frequency, dtype=np.float64), np.asarray(n_periods, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    alive = prob_alive(params, x, recency, n)
    future = np.exp(_log_pmf_new(alpha + x, beta + n - x, gamma, delta_ + n, k, t))
    return alive * future + np.where(k == 0, 1.0 - alive, 0.0)


def prob_purchases_table(
    params: Any, k_max: int, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
) -> np.ndarray:
    """:func:`prob_purchases_conditional` for ``k = 0 .. k_max`` at once: shape ``(k_max + 1, N)``.

    For a point estimate; ``cumsum(axis=0)`` gives each customer's predictive distribution function.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> table = prob_purchases_table(params, 5, 5, [6, 3], [6, 3], [6, 6])
    >>> table.shape, table.sum(axis=0).round(12)
    ((6, 2), array([1., 1.]))
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    if np.ndim(alpha) != 0:
        raise ValueError("prob_purchases_table takes a point estimate (one parameter set).")
    x = np.atleast_1d(np.asarray(frequency, dtype=np.float64))
    t_x = np.atleast_1d(np.asarray(recency, dtype=np.float64))
    n = np.atleast_1d(np.asarray(n_periods, dtype=np.float64))
    k = np.arange(int(k_max) + 1, dtype=np.float64)[:, None]
    return prob_purchases_conditional(params, k, t, x, t_x, n)


def _check_discounting(horizon: float, discount_rate: Any) -> float:
    horizon = float(horizon)
    if not horizon >= 0 or (np.isfinite(horizon) and horizon != round(horizon)):
        raise ValueError(f"horizon={horizon!r} must be a whole number of occasions >= 0 (numpy.inf for the infinite horizon).")
    rate = np.asarray(discount_rate, dtype=np.float64)
    if not np.all(np.isfinite(rate)) or np.any(rate < 0):
        raise ValueError(f"discount_rate={discount_rate!r} must be a finite rate >= 0 per occasion.")
    if np.isinf(horizon) and np.any(rate == 0):
        raise ValueError("an infinite horizon needs a positive discount_rate (the undiscounted value may be infinite).")
    return horizon


def _hyp2f1_unit(b: np.ndarray, c: np.ndarray, z: np.ndarray, *, max_terms: int = 100_000) -> np.ndarray:
    """``2F1(1, b; c + 1; z)`` for ``z < 1`` by Gauss's continued fraction (modified Lentz).

    With a = 0 in Gauss's fraction for ``2F1(a+1, b; c+1; z) / 2F1(a, b; c; z)``:
    ``1 / (1 + k_1 z / (1 + k_2 z / (1 + ...)))`` with ``k_{2m} = (b-c-m) m / ((c+2m-1)(c+2m))``
    and ``k_{2m+1} = -(c+m)(b+m) / ((c+2m)(c+2m+1))``. It converges on the cut plane, in
    ``O(|1 - z|^(1/2))`` terms for large negative z (about 1,800 for z = -10^4), where scipy's
    ``hyp2f1`` returns nan or loses digits for the large b and c of long histories. One value per
    element of the (flat) inputs; each element stops at relative change 1e-16.
    """
    b, c, z = (np.asarray(v, dtype=np.float64) for v in (b, c, z))
    value = np.ones(z.shape)
    lentz_c = np.ones(z.shape)
    lentz_d = np.zeros(z.shape)
    todo = np.arange(z.size)
    for j in range(1, max_terms + 1):
        if todo.size == 0:
            break
        m = j // 2
        bt, ct, zt = b[todo], c[todo], z[todo]
        if j % 2 == 0:
            k = (bt - ct - m) * m / ((ct + 2 * m - 1.0) * (ct + 2 * m))
        else:
            k = -(ct + m) * (bt + m) / ((ct + 2 * m) * (ct + 2 * m + 1.0))
        a = k * zt
        d_new = 1.0 + a * lentz_d[todo]
        d_new = 1.0 / np.where(d_new == 0.0, 1e-300, d_new)
        c_new = 1.0 + a / lentz_c[todo]
        c_new = np.where(c_new == 0.0, 1e-300, c_new)
        step = c_new * d_new
        value[todo] *= step
        lentz_c[todo], lentz_d[todo] = c_new, d_new
        todo = todo[np.abs(step - 1.0) > 1e-16]
    return 1.0 / value


def _discounted_survival_infinite(gamma: Any, d: Any, discount_rate: Any) -> np.ndarray:
    """``sum_{k>=1} exp(-rate k) B(gamma, d+k) / B(gamma, d)`` for rate > 0.

    ``= z d/(gamma+d) 2F1(1, d+1; gamma+d+1; z)`` with ``z = exp(-rate)`` (FHS 2010, eq. 14),
    evaluated after Pfaff's transformation as ``d/(gamma+d) / r 2F1(1, gamma; gamma+d+1; -1/r)``,
    ``r = exp(rate) - 1`` (:func:`_hyp2f1_unit`), once per distinct ``(gamma, d, rate)``: with
    parameter draws, once per draw and distinct n.
    """
    r = np.expm1(np.asarray(discount_rate, dtype=np.float64))
    gamma, d, r = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (gamma, d, r)))
    triples, inverse = np.unique(np.stack([gamma.ravel(), d.ravel(), r.ravel()]), axis=1, return_inverse=True)
    g, dd, rr = triples
    values = dd / (g + dd) / rr * _hyp2f1_unit(g, g + dd, -1.0 / rr)
    return values[np.ravel(inverse)].reshape(gamma.shape)


def _discounted_survival(gamma: Any, d: Any, horizon: float, discount_rate: Any) -> np.ndarray:
    """``sum_{k=1}^{horizon} exp(-rate k) B(gamma, d+k) / B(gamma, d)``."""
    rate = np.asarray(discount_rate, dtype=np.float64)
    if horizon == 0:
        return np.zeros(np.broadcast_shapes(np.shape(gamma), np.shape(d), rate.shape))
    if np.all(rate == 0):
        return _survival_sum(gamma, d, horizon)
    if np.isinf(horizon):
        return _discounted_survival_infinite(gamma, d, rate)
    if horizon <= _DIRECT_SUM_UP_TO:
        # occasion by occasion: B(gamma, d+k)/B(gamma, d) = prod_{j<k} (d+j)/(gamma+d+j)
        log_survive = 0.0
        total = 0.0
        for k in range(1, int(horizon) + 1):
            log_survive = log_survive - np.log1p(gamma / (d + k - 1.0))
            total = total + np.exp(log_survive - rate * k)
        return total
    # the infinite sum less its tail after the horizon (a customer alive then starts afresh)
    survive = np.exp(special.betaln(gamma, d + horizon) - special.betaln(gamma, d))
    return _discounted_survival_infinite(gamma, d, rate) - np.exp(-rate * horizon) * survive * _discounted_survival_infinite(
        gamma, d + horizon, rate
    )


def discounted_purchases_if_alive(
    params: Any, horizon: float, discount_rate: Any, frequency: ArrayLike, n_periods: ArrayLike
) -> np.ndarray:
    """Discounted expected transactions in the ``horizon`` occasions after n of a customer alive at n.

    ``(alpha+x)/(alpha+beta+n) sum_{k=1}^{horizon} exp(-discount_rate k) B(gamma, delta+n+k) / B(gamma, delta+n)``:
    the transaction at occasion n + k is discounted by ``exp(-discount_rate k)``. The infinite
    horizon is FHS 2010's DERT (eq. 14) divided by P(alive), with ``d = exp(discount_rate) - 1``
    their per-occasion rate; ``discount_rate = 0`` over a finite horizon gives the expected
    transactions given alive. Depends on the history through x and n only.

    Parameters
    ----------
    params : mapping or DataFrame
        ``alpha, beta, gamma, delta``.
    horizon : float
        Whole number of occasions, or ``numpy.inf``.
    discount_rate : float
        Continuously compounded rate per occasion (>= 0; > 0 for the infinite horizon).
    frequency, n_periods : array_like
        x and n.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> discounted_purchases_if_alive(params, np.inf, np.log1p(0.1), np.array([6, 3]), np.array([6, 6])).round(4)
    array([5.9087, 3.4481])
    """
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    horizon = _check_discounting(horizon, discount_rate)
    x, n = np.asarray(frequency, dtype=np.float64), np.asarray(n_periods, dtype=np.float64)
    return (alpha + x) / (alpha + beta + n) * _discounted_survival(gamma, delta_ + n, horizon, discount_rate)


def discounted_expected_purchases(
    params: Any, horizon: float, discount_rate: Any, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
) -> np.ndarray:
    """Discounted expected transactions in the ``horizon`` occasions after n, given the history.

    ``P(alive at n)`` times :func:`discounted_purchases_if_alive`. FHS 2010's
    ``DERT(d | alpha, beta, gamma, delta, x, t_x, n)`` (eq. 14, discounting the transaction at
    occasion n + k by ``(1+d)^-k``) is ``discounted_expected_purchases(params, numpy.inf, log1p(d), x, t_x, n)``.

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> x, t_x, n = np.array([6, 3, 0]), np.array([6, 3, 0]), np.array([6, 6, 6])
    >>> discounted_expected_purchases(params, np.inf, np.log1p(0.1), x, t_x, n).round(4)  # DERT, d = 10%
    array([5.9087, 0.352 , 0.1146])
    """
    alive = prob_alive(params, frequency, recency, n_periods)
    return alive * discounted_purchases_if_alive(params, horizon, discount_rate, frequency, n_periods)


def discounted_purchases_if_alive_discrete(
    params: Any, n_periods: int, period: int, discount_rate: Any, frequency: ArrayLike, n_periods_observed: ArrayLike
) -> np.ndarray:
    """Expected transactions of a customer alive at n over ``n_periods`` periods of ``period``
    occasions, discounted once per period at ``discount_rate`` per period.

    The transaction at occasion n + k is discounted by ``(1 + rate)^-ceil(k / period)``,
    k = 1 .. ``n_periods * period``: period j contributes
    ``(1+rate)^-j B(gamma, D+(j-1)P)/B(gamma, D) sum_{k=1}^{P} B(gamma, D+(j-1)P+k)/B(gamma, D+(j-1)P)``,
    ``D = delta + n``, ``P = period``, each term positive (no cancellation).

    Examples
    --------
    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> discounted_purchases_if_alive_discrete(params, 3, 2, 0.1, np.array([6]), np.array([6])).round(4)
    array([3.6663])
    """
    if int(n_periods) != n_periods or n_periods < 1 or int(period) != period or period < 1:
        raise ValueError(f"n_periods={n_periods!r} and period={period!r} must be whole numbers >= 1 (period in occasions).")
    rate = np.asarray(discount_rate, dtype=np.float64)
    if not np.all(rate > -1):
        raise ValueError(f"discount_rate={discount_rate!r} must be > -1 per period.")
    alpha, beta, gamma, delta_ = unpack(params, PARAM_NAMES)
    x, n = np.asarray(frequency, dtype=np.float64), np.asarray(n_periods_observed, dtype=np.float64)
    d = delta_ + n
    p = float(period)
    total = 0.0
    log_factor = 0.0
    for j in range(1, int(n_periods) + 1):
        start = d + (j - 1) * p
        within = _survival_sum(gamma, start, p)
        total = total + np.exp(log_factor - j * np.log1p(rate)) * within
        log_factor = log_factor + special.betaln(gamma, start + p) - special.betaln(gamma, start)
    return (alpha + x) / (alpha + beta + n) * total


def discounted_expected_purchases_discrete(
    params: Any, n_periods: int, period: int, discount_rate: Any, frequency: ArrayLike, recency: ArrayLike, n_periods_observed: ArrayLike
) -> np.ndarray:
    """``P(alive at n)`` times :func:`discounted_purchases_if_alive_discrete`.

    Examples
    --------
    Without discounting it is the expected transactions over ``n_periods * period`` occasions:

    >>> params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    >>> x, t_x, n = np.array([3]), np.array([3]), np.array([6])
    >>> bool(np.isclose(discounted_expected_purchases_discrete(params, 3, 2, 0.0, x, t_x, n),
    ...                 expected_purchases(params, 6, x, t_x, n)).all())
    True
    """
    alive = prob_alive(params, frequency, recency, n_periods_observed)
    return alive * discounted_purchases_if_alive_discrete(params, n_periods, period, discount_rate, frequency, n_periods_observed)


def simulate(
    params: Any,
    n_periods: ArrayLike,
    *,
    holdout: int | None = None,
    random_seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate BG/BB customers observed for ``n_periods`` occasions after their first transaction.

    Each customer draws ``p ~ Beta(alpha, beta)``, ``theta ~ Beta(gamma, delta)`` and the number
    of occasions at which they are still alive, ``Geometric(theta) - 1`` (alive at occasion k with
    probability ``(1 - theta)^k``); at each occasion while alive they transact with probability p.

    Parameters
    ----------
    params : mapping
        ``alpha, beta, gamma, delta`` (scalars, or one value per customer).
    n_periods : array_like
        Occasions observed after the first of each customer (whole numbers; its size is the
        number of customers).
    holdout : int, optional
        Occasions in a holdout period after n; adds ``frequency_holdout`` and ``duration_holdout``.
    random_seed : int or Generator, optional
        Seed; the same seed gives the same customers.

    Returns
    -------
    DataFrame
        ``frequency, recency, n_periods`` (and the holdout columns), plus the latent ``p_`` and
        ``theta_``, indexed ``0 .. N-1`` as ``customer_id``.

    Examples
    --------
    >>> sim = simulate({"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}, np.full(3, 6),
    ...                holdout=5, random_seed=1)
    >>> list(sim.columns)
    ['frequency', 'recency', 'n_periods', 'frequency_holdout', 'duration_holdout', 'p_', 'theta_']
    """
    alpha, beta, gamma, delta_ = (np.asarray(v, dtype=np.float64) if np.ndim(v) else float(v) for v in unpack(params, PARAM_NAMES))
    n = np.asarray(n_periods, dtype=np.float64)
    if n.ndim != 1 or np.any(n < 0) or np.any(n != np.round(n)):
        raise ValueError("n_periods must be a 1-d array of whole numbers >= 0 (occasions after the first).")
    h = 0 if holdout is None else holdout
    if int(h) != h or h < 0:
        raise ValueError(f"holdout={holdout!r} must be a whole number of occasions >= 0.")
    h = int(h)
    rng = np.random.default_rng(random_seed)
    size = n.shape[0]
    p = rng.beta(alpha, beta, size=size)
    theta = rng.beta(gamma, delta_, size=size)
    # occasions alive after the first: failures before the first "drop out" success
    alive_for = rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1
    x = np.zeros(size, dtype=np.int64)
    last = np.zeros(size, dtype=np.int64)
    future = np.zeros(size, dtype=np.int64)
    for k in range(1, int(n.max(initial=0.0)) + h + 1):
        buys = (k <= alive_for) & (rng.uniform(size=size) < p)
        calibration = buys & (k <= n)
        x += calibration
        last = np.where(calibration, k, last)
        future += buys & (k > n) & (k <= n + h)
    columns: dict[str, np.ndarray] = {"frequency": x, "recency": last, "n_periods": n.astype(np.int64)}
    if holdout is not None:
        columns["frequency_holdout"] = future
        columns["duration_holdout"] = np.full(size, h, dtype=np.int64)
    columns["p_"] = p
    columns["theta_"] = theta
    frame = pd.DataFrame(columns)
    frame.index.name = "customer_id"
    return frame


def simulate_future_occasions(
    rng: Any, params: tuple[np.ndarray, ...], frequency: np.ndarray, n_periods: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """One simulated future after occasion n of customers alive at n, one per cell (draw, customer).

    Given the history and alive at n, ``theta ~ Beta(gamma, delta+n)`` and
    ``p ~ Beta(alpha+x, beta+n-x)``. The customer is alive at occasion n + k with probability
    ``(1 - theta)^k``, so the number of future occasions at which they are alive is
    ``floor(E / -ln(1 - theta))``, ``E ~ Exponential(1)``, capped at ``horizon``; at each of
    those they transact with probability p.

    Parameters
    ----------
    rng : KeyedGenerator or Generator
        One value per cell (uses ``beta`` and ``exponential``).
    params : tuple of ndarray
        ``alpha, beta, gamma, delta``, one value per cell.
    frequency, n_periods : ndarray
        The history (x, n) of the customer of each cell.
    horizon : int
        Occasions in the future (finite).

    Returns
    -------
    alive_occasions : ndarray
        Occasions 0 .. horizon at which the customer is still alive.
    p : ndarray
        The purchase probability per occasion.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cells = tuple(np.full(3, v) for v in (1.204, 0.750, 0.657, 2.783))
    >>> alive, p = simulate_future_occasions(rng, cells, np.array([6.0, 0, 3]), np.full(3, 6.0), 5)
    >>> alive.shape, bool(((alive >= 0) & (alive <= 5)).all()), bool(((p > 0) & (p < 1)).all())
    ((3,), True, True)
    """
    alpha, beta, gamma, delta_ = params
    x, n = np.asarray(frequency, dtype=np.float64), np.asarray(n_periods, dtype=np.float64)
    theta = rng.beta(gamma, delta_ + n)
    p = rng.beta(alpha + x, beta + n - x)
    hazard = -np.log1p(-np.minimum(theta, 1.0))
    with np.errstate(divide="ignore"):  # theta may underflow to 0: the customer never leaves
        lifetime = rng.exponential(size=np.shape(theta)) / hazard
    return np.minimum(np.floor(lifetime), float(horizon)).astype(np.int64), p


@register
class BetaGeoBetaBinom(TransactionModel):
    """BG/BB model of repeat transactions in discrete time, fitted by maximum likelihood or Bayesian inference.

    The data are per-customer ``frequency`` (x, occasions with a transaction after the first),
    ``recency`` (t_x, the occasion of the last one) and ``n_periods`` (n, occasions observed after
    the first), as from :func:`clvmodels.discrete_summary` or a table of patterns with a weight per
    row (``sample_weight``). Every time argument (``t``, horizons) is a whole number of occasions.

    Parameters
    ----------
    penalty : float
        L2 penalty on the parameters (as ``lifetimes``' ``penalizer_coef``); 0 for plain maximum
        likelihood.
    priors, draws, tune, chains, target_accept, sampler, random_seed, progressbar, log_likelihood
        Settings of the Bayesian fits; see :class:`~clvmodels.models.base.Model`.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a discrete-time
    noncontractual setting. Marketing Science 29(6), 1086-1108.

    Examples
    --------
    The 11,104 donors of FHS 2010 (1995 cohort, six yearly occasions after the first), as 22
    weighted patterns:

    >>> from clvmodels.datasets import load_donations
    >>> donations = load_donations()
    >>> model = BetaGeoBetaBinom().fit(donations, sample_weight="weight")
    >>> model.params_.round(3).tolist(), round(model.loglik_, 2)
    ([1.204, 0.75, 0.657, 2.783], -33225.58)
    >>> model.prob_alive(donations).head(3).round(3).tolist()
    [0.116, 0.075, 0.274]
    """

    key = "bgbb"
    display_name = "BG/BB"
    param_names = PARAM_NAMES
    columns = ("frequency", "recency", "n_periods")
    time_kind = "discrete"
    formulas = sys.modules[__name__]
    example_params = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}  # FHS 2010, donations

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        """The weakly informative default priors (``scale`` = mean n, unused: the parameters are unitless).

        ``alpha, beta ~ LogNormal(0, 1.5)``
            the Beta distribution of the transaction probability p. Its mean ``alpha / (alpha +
            beta)`` then has a prior close to uniform on (0, 1) and its concentration ``alpha +
            beta`` (how alike customers are) a median of 2 with 95% in [0.1, 40]: from customers
            who nearly always or nearly never transact (U-shaped p, donations: 1.2, 0.75) to
            near-homogeneous ones, with no preference for either.
        ``gamma, delta ~ LogNormal(0, 1.5)``
            the same for the dropout probability theta per occasion. The likelihood of short
            histories (few occasions) is flat along ``gamma, delta -> infinity`` at a fixed
            ratio; the prior keeps the concentration plausible there instead of letting the
            posterior drift. Unlike the continuous-time models nothing here has a time scale:
            p and theta are probabilities per occasion, whatever the occasion's length.

        Examples
        --------
        >>> BetaGeoBetaBinom.default_priors(6.0)["gamma"]
        Prior('LogNormal', mu=0.0, sigma=1.5)
        """
        from ..inference.bayes import Prior

        return {name: Prior("LogNormal", mu=0.0, sigma=1.5) for name in PARAM_NAMES}

    @classmethod
    def _starts(cls, rate: float) -> list[tuple[float, ...]]:
        """Starting points: the purchase probability's mean near the data's share of occasions
        with a transaction (``rate`` = x / n), the dropout probability's at a few values."""
        share = min(max(rate, 0.02), 0.98)
        starts = []
        for concentration, dropout in ((2.0, (1.0, 1.0)), (1.0, (0.5, 2.0)), (5.0, (1.0, 5.0)), (0.5, (2.0, 2.0))):
            starts.append((concentration * share, concentration * (1.0 - share), *dropout))
        return starts

    @classmethod
    def _objective(cls, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Any, list, Any]:
        """The likelihood over weighted patterns with its hand-written gradient (:func:`loglik_grad`)."""
        x, t_x, n = patterns
        rate = float(np.average(x, weights=weights)) / (float(np.average(n, weights=weights)) or 1.0)
        return _PatternLoglik(x, t_x, n, weights), cls._starts(rate), None

    def prob_alive(self, data: pd.DataFrame, occasions_ahead: int = 0) -> pd.Series:
        """P(alive at occasion n + ``occasions_ahead``) of each customer, given their history.

        Examples
        --------
        >>> from clvmodels.datasets import load_donations
        >>> donations = load_donations()
        >>> model = BetaGeoBetaBinom().fit(donations, sample_weight="weight")
        >>> model.prob_alive(donations.tail(1), occasions_ahead=1).round(4).tolist()  # gave in all six years
        [0.9304]
        """
        s = self._summary(data)
        m = check_time(occasions_ahead, discrete=True)
        params = self.customer_params(self.params_, data)
        values = prob_alive_ahead(params, m, s.frequency, s.recency, s.T)
        return pd.Series(values, index=s.index, name="prob_alive")
