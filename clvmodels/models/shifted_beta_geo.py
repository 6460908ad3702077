"""The shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007).

A subscriber pays at the start of every period until they cancel. At the end of each period a
subscriber still on the books cancels with probability ``theta``, the same every period, and
``theta`` varies across subscribers as ``Beta(alpha, beta)``. The lifetime ``T`` (periods paid
for, ``T >= 1``) is then shifted-beta-geometric:

``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)``,
``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)`` (Fader & Hardie 2007, eqs. 5 and 6),

and the retention rate ``r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)``
rises with tenure although nobody's own churn probability changes (eq. 8): the sorting of a
heterogeneous cohort.

Data. A subscriber's summary is ``renewals`` (period boundaries survived, a whole number >= 0)
and ``churned``: a subscriber who cancelled after ``n`` renewals has ``T = n + 1`` and
contributes ``P(T = n + 1)``; one still active after ``n`` renewals contributes ``S(n)``.
:func:`survivors_to_patterns` turns a cohort's survivor counts (the paper's data) into that form.

Every per-subscriber function is a pure broadcasting function of ``(params, data)``: parameter
draws (a DataFrame) give ``(draws, subscribers)`` results; see :mod:`clvmodels.models.params`.

References
----------
Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. Journal of
Interactive Marketing 21(1), 76-90.
Fader, P. S. & Hardie, B. G. S. (2010). Customer-base valuation in a contractual setting: the
perils of ignoring heterogeneity. Marketing Science 29(1), 85-93.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from .ops import NUMPY_OPS
from .params import unpack
from .patterns import wsum
from .registry import register
from .retention import RetentionModel

__all__ = [
    "ShiftedBetaGeo",
    "loglik",
    "loglik_grad",
    "survival",
    "churn_probability",
    "retention_rate",
    "conditional_survival",
    "derl",
    "expected_residual_lifetime",
    "discounted_expected_lifetime",
    "simulate",
    "simulate_residual",
    "survivors_to_patterns",
]

PARAM_NAMES = ("alpha", "beta")

#: discount rates per period from which scipy's hyp2f1 gives the infinite-horizon DERL (values
#: outside the DERL's bounds are replaced); below it, hyp2f1 returns NaN or inf for a quarter of
#: the cells with many renewals, so :func:`_expected_inverse` is used throughout
_HYP2F1_RATE = 0.01
#: Gauss-Legendre nodes per panel of :func:`_expected_inverse`; and the largest alpha for
#: which scipy's hyp2f1 is trusted (it was off by orders of magnitude at alpha = 194)
_HYP2F1_ALPHA = 20.0
_NODES = np.polynomial.legendre.leggauss(24)


def _log_survival(alpha: Any, beta: Any, t: Any, ops: Any = NUMPY_OPS) -> Any:
    """``ln S(t) = lnB(alpha, beta + t) - lnB(alpha, beta)``."""
    return ops.gammaln(beta + t) - ops.gammaln(beta) + ops.gammaln(alpha + beta) - ops.gammaln(alpha + beta + t)


def loglik(params: Any, renewals: ArrayLike, churned: ArrayLike, *, ops: Any = NUMPY_OPS) -> Any:
    """Per-subscriber sBG log-likelihood.

    ``ln L = ln S(n) + [churned] ln(alpha / (alpha + beta + n))``: an active subscriber with n
    renewals has ``T > n``, probability ``S(n) = B(alpha, beta + n) / B(alpha, beta)``; one who
    cancelled after n renewals has ``T = n + 1``, probability
    ``B(alpha + 1, beta + n) / B(alpha, beta) = S(n) alpha / (alpha + beta + n)``
    (Fader & Hardie 2007, eq. 5, and the likelihood of their appendix).

    Parameters
    ----------
    params : mapping or DataFrame
        ``alpha, beta`` (see :mod:`clvmodels.models.params`).
    renewals : array_like
        Renewals made (period boundaries survived), whole numbers >= 0.
    churned : array_like
        1 (or True) for a subscriber who cancelled, 0 for one still active.
    ops : namespace
        Backend (:data:`clvmodels.models.ops.NUMPY_OPS` or the PyTensor one).

    Returns
    -------
    array
        Log-likelihood of each subscriber, broadcast over parameter draws.

    Examples
    --------
    >>> params = {"alpha": 0.704, "beta": 1.182}
    >>> loglik(params, np.array([0, 0, 7]), np.array([1, 0, 0])).round(4)
    array([-0.9854,  0.    , -1.4311])
    """
    alpha, beta = unpack(params, PARAM_NAMES)
    n = renewals
    survive = _log_survival(alpha, beta, n, ops)
    churn = ops.log(alpha) - ops.log(alpha + beta + n)
    return survive + ops.where(churned > 0, churn, 0.0 * churn)


def loglik_grad(params: Any, renewals: ArrayLike, churned: ArrayLike) -> np.ndarray:
    """Gradient of :func:`loglik` with respect to ``(alpha, beta)``: shape ``(2,) + broadcast``.

    Examples
    --------
    >>> params = {"alpha": 0.704, "beta": 1.182}
    >>> grad = loglik_grad(params, 3, 1)
    >>> step = dict(params, beta=1.182 + 1e-7)
    >>> bool(np.isclose(grad[1], (loglik(step, 3, 1) - loglik(params, 3, 1)) / 1e-7, rtol=1e-5))
    True
    """
    alpha, beta = unpack(params, PARAM_NAMES)
    n = np.asarray(renewals, dtype=np.float64)
    c = np.asarray(churned, dtype=np.float64) > 0
    d_alpha, d_beta = _grad_terms(alpha, beta, n, c)
    return np.stack(np.broadcast_arrays(d_alpha, d_beta))


def _grad_terms(alpha: Any, beta: Any, n: np.ndarray, churned: np.ndarray) -> tuple[Any, Any]:
    dg_ab, dg_abn = special.digamma(alpha + beta), special.digamma(alpha + beta + n)
    inv = 1.0 / (alpha + beta + n)
    d_alpha = dg_ab - dg_abn + np.where(churned, 1.0 / alpha - inv, 0.0)
    d_beta = special.digamma(beta + n) - special.digamma(beta) + dg_ab - dg_abn - np.where(churned, inv, 0.0)
    return d_alpha, d_beta


class _PatternLoglik:
    """Total log-likelihood and its gradient over weighted ``(renewals, churned)`` patterns
    (the same terms as :func:`loglik`; tested equal to PyTensor's derivative of it)."""

    def __init__(self, renewals: np.ndarray, churned: np.ndarray, weights: np.ndarray) -> None:
        self.n = np.asarray(renewals, dtype=np.float64)
        self.c = np.asarray(churned, dtype=np.float64) > 0
        self.w = np.asarray(weights, dtype=np.float64)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        alpha, beta = float(theta[0]), float(theta[1])
        if not (alpha > 0 and beta > 0):
            return -np.inf, np.zeros(2)
        value = wsum(self.w, loglik((alpha, beta), self.n, self.c))
        d_alpha, d_beta = _grad_terms(alpha, beta, self.n, self.c)
        return float(value), np.array([wsum(self.w, d_alpha), wsum(self.w, d_beta)])


def _times(t: ArrayLike, low: int = 0, name: str = "t") -> np.ndarray:
    """Whole numbers of periods >= ``low`` as float64."""
    arr = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < low) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name}={t!r} must hold whole numbers of periods >= {low}.")
    return arr


def survival(params: Any, t: ArrayLike) -> np.ndarray:
    """``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)``: the share of a new cohort
    still subscribed after t renewals (Fader & Hardie 2007, eq. 6).

    Examples
    --------
    >>> survival({"alpha": 0.704, "beta": 1.182}, [0, 1, 7]).round(4)
    array([1.    , 0.6267, 0.2391])
    """
    alpha, beta = unpack(params, PARAM_NAMES)
    return np.exp(_log_survival(alpha, beta, _times(t)))


def churn_probability(params: Any, t: ArrayLike) -> np.ndarray:
    """``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)``, t >= 1: the probability that
    a new subscriber cancels at the end of period t (Fader & Hardie 2007, eq. 5).

    Examples
    --------
    >>> p = churn_probability({"alpha": 0.704, "beta": 1.182}, np.arange(1, 20_000))
    >>> round(float(p[0]), 4), bool(abs(p.sum() + survival({"alpha": 0.704, "beta": 1.182}, 19_999) - 1) < 1e-12)
    (0.3733, True)
    """
    alpha, beta = unpack(params, PARAM_NAMES)
    t = _times(t, 1)
    return np.exp(_log_survival(alpha, beta, t - 1) + np.log(alpha) - np.log(alpha + beta + t - 1))


def retention_rate(params: Any, t: ArrayLike) -> np.ndarray:
    """``r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)``, t >= 1: the share of
    the subscribers of period t who renew (Fader & Hardie 2007, eq. 8).

    Examples
    --------
    >>> retention_rate({"alpha": 0.704, "beta": 1.182}, [1, 2, 12]).round(3)
    array([0.627, 0.756, 0.945])
    """
    alpha, beta = unpack(params, PARAM_NAMES)
    t = _times(t, 1)
    return (beta + t - 1) / (alpha + beta + t - 1)


def conditional_survival(params: Any, t: ArrayLike, renewals: ArrayLike) -> np.ndarray:
    """``P(T > n + t | T > n) = S(n + t) / S(n)``: the probability that a subscriber active after
    n renewals makes t more. Given ``T > n`` the churn probability is ``Beta(alpha, beta + n)``,
    so this is the survival of an sBG with ``beta + n``.

    Examples
    --------
    >>> conditional_survival({"alpha": 0.704, "beta": 1.182}, 1, [0, 7]).round(4)
    array([0.6267, 0.9208])
    """
    alpha, beta = unpack(params, PARAM_NAMES)
    n = _times(renewals, name="renewals")
    return np.exp(_log_survival(alpha, beta + n, _times(t)))


def _per_period_rate(discount_rate: float) -> float:
    d = float(discount_rate)
    if not np.isfinite(d) or d < 0:
        raise ValueError(f"discount_rate={discount_rate!r} must be a finite rate >= 0 per period (0.1 for 10%).")
    return d


def _horizon(horizon: Any) -> float:
    if horizon is None:
        return np.inf
    h = float(horizon)
    if np.isinf(h) and h > 0:
        return np.inf
    if not (h >= 1 and h == np.round(h)):
        raise ValueError(f"horizon={horizon!r} must be a whole number of periods >= 1 (None for the infinite horizon).")
    return h


def derl(params: Any, renewals: ArrayLike, discount_rate: float, horizon: int | None = None) -> np.ndarray:
    """Discounted expected residual lifetime of an active subscriber with n renewals, in payments.

    The convention of Fader & Hardie (2010): the subscriber has made the payment of the current
    period (its initial payment and n renewals are sunk and not counted) and is valued just
    before the next renewal decision. The next renewal counts undiscounted, the k-th after it
    discounted by ``(1 + d)^-k``:

    ``DERL(d | n) = sum_{k >= 0} S(n + 1 + k) / S(n) (1 + d)^-k
    = B(alpha, beta + n + 1) / B(alpha, beta + n) 2F1(1, beta + n + 1; alpha + beta + n + 1; 1 / (1 + d))``

    which is the paper's expression for ``DERL(d | alpha, beta, n - 1 renewals)`` with its n
    (periods paid for) being our ``n + 1``. Multiplied by the margin per period it is the
    expected residual value of the subscriber. A finite ``horizon`` H counts the next H renewals
    only (``k < H``, summed directly); the infinite horizon uses the closed form, evaluated by
    scipy's ``hyp2f1`` where that is reliable and otherwise as the expectation
    ``(1 + d) (beta + n) / (alpha + beta + n) E[1 / (d + theta)]``,
    ``theta ~ Beta(alpha, beta + n + 1)``, by :func:`_expected_inverse` (relative error below
    1e-10 against mpmath and direct summation for alpha in [0.01, 200], beta + n up to 6,000
    and d from 1e-5 to 3 per period; tests/test_shifted_beta_geo.py).

    Parameters
    ----------
    params : mapping or DataFrame
        ``alpha, beta``; draws give ``(draws, subscribers)`` results.
    renewals : array_like
        Renewals made by each (active) subscriber.
    discount_rate : float
        Discount rate per period ``d`` (0.1 for 10%); 0 gives the undiscounted expected residual
        lifetime (:func:`expected_residual_lifetime`, which needs ``alpha > 1`` or a finite
        horizon to be finite).
    horizon : int, optional
        Renewals counted; None for all.

    Examples
    --------
    >>> params = {"alpha": 0.704, "beta": 1.182}
    >>> derl(params, [0, 4], 0.1).round(3)
    array([2.965, 5.894])
    >>> bool(np.allclose(derl(params, [0, 4], 0.1, horizon=2000), derl(params, [0, 4], 0.1), rtol=1e-12))
    True
    """
    alpha, beta = unpack(params, PARAM_NAMES)
    n = _times(renewals, name="renewals")
    d = _per_period_rate(discount_rate)
    H = _horizon(horizon)
    a, b = np.broadcast_arrays(np.asarray(alpha, dtype=np.float64), np.asarray(beta + n, dtype=np.float64))
    if np.isfinite(H):
        return _derl_finite(a, b, d, int(H))
    if d == 0.0:
        with np.errstate(divide="ignore"):
            return np.where(a > 1.0, b / np.where(a > 1.0, a - 1.0, 1.0), np.inf)
    return _derl_infinite(a, b, d)


def _derl_finite(a: np.ndarray, b: np.ndarray, d: float, H: int) -> np.ndarray:
    """``sum_{k < H} prod_{j <= k} (b + j) / (a + b + j) x^k``, ``x = 1 / (1 + d)``, term by term."""
    x = 1.0 / (1.0 + d)
    ratio = np.ones(a.shape)
    total = np.zeros(a.shape)
    weight = 1.0
    for k in range(H):
        ratio = ratio * ((b + k) / (a + b + k))
        total = total + weight * ratio
        weight *= x
        if weight == 0.0:
            break
    return total


def _derl_infinite(a: np.ndarray, b: np.ndarray, d: float) -> np.ndarray:
    """The closed form of the infinite-horizon DERL (see :func:`derl`)."""
    x = 1.0 / (1.0 + d)
    with np.errstate(all="ignore"):
        value = b / (a + b) * special.hyp2f1(1.0, b + 1.0, a + b + 1.0, x)
    # DERL lies between the next renewal's probability and the undiscounted annuity (1 + d) / d
    lower, upper = b / (a + b), (1.0 + d) / d
    bad = ~(np.isfinite(value) & (value >= lower * (1 - 1e-12)) & (value <= upper * (1 + 1e-12)))
    if d < _HYP2F1_RATE:
        bad = np.ones(value.shape, dtype=bool) if value.ndim else np.array(True)
    bad = bad | (a > _HYP2F1_ALPHA)
    if np.any(bad):
        value = np.array(value, dtype=np.float64)
        ab, bb = a[bad], b[bad]
        value[bad] = (1.0 + d) * bb / (ab + bb) * _expected_inverse(ab, bb + 1.0, d)
    return value


def _expected_inverse(a: np.ndarray, c: np.ndarray, d: float) -> np.ndarray:
    """``E[1 / (d + theta)]``, ``theta ~ Beta(a, c)``, accurate where scipy's ``hyp2f1`` is not:
    :func:`_expected_inverse_group` on groups of cells whose a and c are within a factor of 2
    (the panels of one group follow its own scales)."""
    a, c = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(c, dtype=np.float64))
    shape = a.shape
    a, c = a.ravel(), c.ravel()
    out = np.empty(a.size)
    groups = np.floor(np.log2(c)) * 64.0 + np.floor(np.log2(a))
    order = np.argsort(groups, kind="stable")
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    for idx in np.split(order, cuts):
        if idx.size:
            out[idx] = _expected_inverse_group(a[idx], c[idx], d)
    return out.reshape(shape)


def _expected_inverse_group(a: np.ndarray, c: np.ndarray, d: float) -> np.ndarray:
    """``E[1 / (d + theta)]``, ``theta ~ Beta(a, c)``, for cells of similar a and c.

    Three pieces of [0, 1]: on ``[0, theta0]``, ``theta0 = min(d/2, 1/2)``, the series
    ``1/(d + theta) = sum_j (-theta)^j / d^(j+1)`` (ratio at most 1/2), each term an incomplete
    beta function; on ``[theta0, 1/2]`` Gauss-Legendre panels in ``u = ln(theta)``, where the
    pole at ``theta = -d`` lies ``pi`` away from the real axis; on ``[1/2, 1]`` panels in
    ``v = ln(1 - theta)``, which make the density's ``(1 - theta)^(c-1)`` an exponential and
    remove its endpoint singularity. Panel widths follow the log-integrand's slope (at most 4
    per panel), and the walk stops once every cell's integrand (log-concave in u) has fallen
    e^45 below its peak.
    """
    a = np.asarray(a, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if a.size == 0:
        return np.zeros(a.shape)
    log_norm = special.betaln(a, c)
    theta0 = min(d / 2.0, 0.5)
    total = np.zeros(a.shape)
    # [0, theta0]: E[theta^j; theta < theta0] = B(a + j, c) / B(a, c) I_theta0(a + j, c)
    log_ratio = np.zeros(a.shape)
    for j in range(60):
        with np.errstate(divide="ignore"):
            log_term = log_ratio + np.log(special.betainc(a + j, c, theta0)) - (j + 1) * np.log(d)
        total = total + (-1.0) ** j * np.exp(log_term)
        log_ratio = log_ratio + np.log(a + j) - np.log(a + c + j)
        if j > 2 and np.all(log_term < np.log(np.maximum(np.abs(total), 1e-300)) - 40.0):
            break
    a_max, c_max = float(np.max(a)), float(np.max(c))
    # the walks start at the median of the cells' modes of theta^a (1 - theta)^(c-1)
    mode = float(np.median(a / (a + c - 1.0)))
    if theta0 < 0.5:
        # [theta0, 1/2] in u = ln(theta): the density times 1/(d + theta) times d theta / du = theta

        def log_u(u: float) -> np.ndarray:
            theta = np.exp(u)
            return a * u + (c - 1.0) * np.log1p(-theta) - log_norm - np.log(d + theta)

        def rate_u(u: float) -> float:
            theta = np.exp(u)
            return a_max + (c_max - 1.0) * theta / (1.0 - theta) + 1.0

        lo, hi = float(np.log(theta0)), float(np.log(0.5))
        total = total + _walk_out(log_u, rate_u, float(np.clip(np.log(mode), lo, hi)), lo, hi, a.shape)

    # [1/2, 1] in v = ln(1 - theta)

    def log_v(v: float) -> np.ndarray:
        theta = -np.expm1(v)
        return (a - 1.0) * np.log(theta) + c * v - log_norm - np.log(d + theta)

    def rate_v(v: float) -> float:
        e = np.exp(v)
        return c_max + max(a_max - 1.0, 0.0) * e / (1.0 - e) + 2.0

    # (the walk stops past every cell's peak; the far end only bounds it)
    v_lo, v_hi = float(np.log(0.5)) - 50.0 / float(np.min(c)) - 50.0, float(np.log(0.5))
    return total + _walk_out(log_v, rate_v, float(np.clip(np.log1p(-mode), v_lo, v_hi)), v_lo, v_hi, a.shape)


def _walk_out(log_f: Any, rate: Any, start: float, lo: float, hi: float, shape: tuple[int, ...]) -> np.ndarray:
    """:func:`_walk` from ``start`` (near the cells' peak) down to ``lo`` and up to ``hi``."""
    return _walk(log_f, rate, start, lo, shape) + _walk(log_f, rate, start, hi, shape)


def _walk(log_f: Any, rate: Any, start: float, end: float, shape: tuple[int, ...]) -> np.ndarray:
    """``integral exp(log_f(x)) dx`` from ``start`` to ``end`` (either direction) by 24-node
    Gauss-Legendre panels of width ``min(4 / rate(x), 4)``; stops early once every cell's
    log-integrand is 45 below the largest value it reached (past its peak)."""
    nodes, weights = _NODES
    total = np.zeros(shape)
    peak = np.full(shape, -np.inf)
    step = 1.0 if end > start else -1.0
    pos = start
    while (end - pos) * step > 0:
        width = min(4.0, max(1e-4, 4.0 / rate(pos)))
        nxt = pos + step * width
        if (end - nxt) * step < 0:
            nxt = end
        lo, hi = min(pos, nxt), max(pos, nxt)
        half = (hi - lo) / 2.0
        panel = np.full(shape, -np.inf)
        for node, weight in zip(nodes, weights):
            value = log_f(lo + (node + 1.0) * half)
            total = total + weight * half * np.exp(value)
            panel = np.maximum(panel, value)
        peak = np.maximum(peak, panel)
        if np.all(panel < peak - 45.0):
            break
        pos = nxt
    return total


def expected_residual_lifetime(params: Any, renewals: ArrayLike, horizon: int | None = None) -> np.ndarray:
    """Expected number of further renewals of an active subscriber with n renewals (undiscounted
    :func:`derl`): ``(beta + n) / (alpha - 1)`` over the infinite horizon when ``alpha > 1`` and
    infinite otherwise (``E[(1 - theta) / theta]`` diverges), or the next ``horizon`` renewals.

    Examples
    --------
    >>> expected_residual_lifetime({"alpha": 2.0, "beta": 3.0}, [0, 2]).tolist()
    [3.0, 5.0]
    >>> expected_residual_lifetime({"alpha": 0.704, "beta": 1.182}, 0).round(1), expected_residual_lifetime({"alpha": 0.704, "beta": 1.182}, 0, 12).round(3)
    (np.float64(inf), np.float64(3.58))
    """
    return derl(params, renewals, 0.0, horizon)


def discounted_expected_lifetime(params: Any, discount_rate: float, horizon: int | None = None) -> np.ndarray:
    """Discounted expected lifetime (in payments) of a subscriber acquired now, whose first
    payment is made now and counted: ``DEL = sum_{t >= 0} S(t) (1 + d)^-t = 1 + DERL(d | 0) / (1 + d)``
    (Fader & Hardie 2010); ``horizon`` counts the first payment and ``horizon - 1`` renewals.

    Examples
    --------
    >>> float(discounted_expected_lifetime({"alpha": 0.704, "beta": 1.182}, 0.1).round(3))
    3.695
    """
    alpha, _ = unpack(params, PARAM_NAMES)
    d = _per_period_rate(discount_rate)
    H = _horizon(horizon)
    if H == 1:
        return np.ones(np.shape(alpha))
    rest = None if not np.isfinite(H) else int(H) - 1
    return 1.0 + derl(params, 0, d, rest) / (1.0 + d)


def simulate(params: Any, periods: ArrayLike, *, random_seed: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Simulate sBG subscribers acquired at 0 and observed for ``periods`` period boundaries.

    Each subscriber draws ``theta ~ Beta(alpha, beta)`` and a lifetime ``T ~ Geometric(theta)``
    (periods paid for, >= 1). Observed through boundary ``m``: cancelled if ``T <= m``, with
    ``T - 1`` renewals; otherwise active with ``m`` renewals. Cohorts acquired at different times
    are subscribers with different ``periods``.

    Parameters
    ----------
    params : mapping
        ``alpha, beta`` (scalars).
    periods : array_like
        Period boundaries observed per subscriber (its size is the number of subscribers).
    random_seed : int or Generator, optional

    Returns
    -------
    DataFrame
        ``renewals, churned`` plus the latent ``lifetime_`` and ``theta_``, indexed
        ``subscriber_id``.

    Examples
    --------
    >>> sim = simulate({"alpha": 0.704, "beta": 1.182}, np.full(5, 7), random_seed=1)
    >>> sim.columns.tolist(), bool((sim["renewals"] <= 7).all())
    (['renewals', 'churned', 'lifetime_', 'theta_'], True)
    """
    alpha, beta = (float(v) for v in unpack(params, PARAM_NAMES))
    rng = np.random.default_rng(random_seed)
    m = _times(np.atleast_1d(periods), name="periods")
    theta = rng.beta(alpha, beta, size=m.shape[0])
    lifetime = rng.geometric(np.clip(theta, 1e-300, 1.0))
    churned = lifetime <= m
    frame = pd.DataFrame(
        {
            "renewals": np.where(churned, lifetime - 1, m).astype(np.int64),
            "churned": churned,
            "lifetime_": lifetime.astype(np.int64),
            "theta_": theta,
        }
    )
    frame.index.name = "subscriber_id"
    return frame


def simulate_residual(
    rng: Any, params: tuple[np.ndarray, np.ndarray], renewals: np.ndarray, discount_rate: float, horizon: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """One simulated future of active subscribers, one per cell (draw, subscriber).

    Given ``T > n`` the churn probability is ``theta ~ Beta(alpha, beta + n)`` (the prior times
    the likelihood ``(1 - theta)^n`` of n survived boundaries; no cancellation is observed, so the
    first argument stays ``alpha``). The number of further renewals is then geometric,
    ``P(K >= k | theta) = (1 - theta)^k``, drawn as ``floor(E / -ln(1 - theta))`` with
    ``E ~ Exponential(1)``; renewal ``k`` (from 0) is worth ``(1 + d)^-k`` as in :func:`derl`.

    Parameters
    ----------
    rng : Generator or KeyedGenerator
        ``beta`` then ``exponential`` are drawn, one value per cell.
    params : (alpha, beta)
        Arrays broadcasting against ``renewals`` (draws as ``(S, 1)``).
    renewals : ndarray
    discount_rate : float
        Per period.
    horizon : int or None
        Renewals counted.

    Returns
    -------
    payments, value : ndarray
        Further renewals within the horizon (inf for an infinite horizon and theta = 0) and their
        discounted number ``sum_{k < payments} (1 + d)^-k``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cells = (np.full((200_000, 1), 0.704), np.full((200_000, 1), 1.182))
    >>> payments, value = simulate_residual(rng, cells, np.array([4.0]), 0.1, None)
    >>> bool(abs(value.mean() / derl({"alpha": 0.704, "beta": 1.182}, [4], 0.1)[0] - 1) < 0.02)
    True
    """
    alpha, beta = params
    shape = np.broadcast_shapes(np.shape(alpha), np.shape(beta), np.shape(renewals))
    a = np.broadcast_to(alpha, shape)
    b = np.broadcast_to(beta + renewals, shape)
    theta = rng.beta(a, b, size=shape)
    e = rng.exponential(size=shape)
    d = _per_period_rate(discount_rate)
    H = _horizon(horizon)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hazard = -np.log1p(-theta)
        k = np.floor(e / hazard)  # inf where theta underflowed to 0: never cancels
        payments = np.minimum(k, H)
        if d == 0.0:
            value = payments.astype(np.float64)
        else:
            x = 1.0 / (1.0 + d)
            value = -np.expm1(payments * np.log(x)) / (1.0 - x)
    return payments, value


def survivors_to_patterns(survivors: ArrayLike, *, time_unit: str | None = None) -> pd.DataFrame:
    """A cohort's survivor counts -> weighted ``(renewals, churned)`` patterns.

    ``survivors[t]`` is the number still subscribed at the start of period t (t = 0, 1, ...,
    as in Fader & Hardie 2007, table 1). The ``survivors[t-1] - survivors[t]`` lost between t - 1
    and t cancelled after ``t - 1`` renewals; the ``survivors[-1]`` left are active with
    ``len(survivors) - 1`` renewals. Fit it with ``sample_weight="weight"``.

    Examples
    --------
    >>> survivors_to_patterns([1000, 631, 468])
       renewals  churned  weight
    0         0     True   369.0
    1         1     True   163.0
    2         2    False   468.0
    """
    counts = np.asarray(survivors, dtype=np.float64).ravel()
    if counts.size < 2:
        raise ValueError("survivors needs the counts of at least two periods (the start, 0, and one more).")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError(f"survivors={list(counts)} must be whole numbers >= 0 (subscribers alive at the start of each period).")
    if np.any(np.diff(counts) > 0):
        t = int(np.argmax(np.diff(counts) > 0)) + 1
        raise ValueError(
            f"survivors rise from {counts[t - 1]:g} to {counts[t]:g} at period {t}; survivor counts of one cohort "
            "never rise (new subscribers belong to a new cohort)."
        )
    lost = -np.diff(counts)
    t = np.arange(len(counts))
    frame = pd.DataFrame(
        {
            "renewals": np.r_[t[:-1], t[-1]].astype(np.int64),
            "churned": np.r_[np.ones(len(lost), dtype=bool), False],
            "weight": np.r_[lost, counts[-1]],
        }
    )
    frame = frame[frame["weight"] > 0].reset_index(drop=True)
    if time_unit is not None:
        frame.attrs["time_unit"] = time_unit
    return frame


@register
class ShiftedBetaGeo(RetentionModel):
    """Shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007).

    Fitted by maximum likelihood (hand-written gradient) or Bayesian inference on the weighted
    ``(renewals, churned)`` patterns of a per-subscriber summary; see
    :class:`~clvmodels.models.retention.RetentionModel` for the protocol and the predictions.

    Parameters
    ----------
    penalty, priors, draws, tune, chains, target_accept, sampler, random_seed, progressbar, log_likelihood
        As for every model (:class:`~clvmodels.models.base.Model`).

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. Journal of
    Interactive Marketing 21(1), 76-90.

    Examples
    --------
    The "regular" cohort of Fader & Hardie (2007), fitted on years 0 to 7:

    >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241], time_unit="Y")
    >>> model.params_.round(3).tolist()
    [0.704, 1.182]
    >>> (1000 * model.survival([8, 12])).round(1).tolist()  # observed: 223, 173
    [220.1, 170.0]
    """

    key = "sbg"
    display_name = "sBG"
    param_names = PARAM_NAMES
    formulas = sys.modules[__name__]
    example_params = {"alpha": 0.704, "beta": 1.182}  # Fader & Hardie 2007, regular cohort (years)

    @staticmethod
    def _objective(patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Any, list, None]:
        """The likelihood over weighted patterns (hand-written gradient) and starting points."""
        n, c = patterns
        # start near the mean churn rate per period: churned / periods at risk
        rate = float(np.clip(wsum(weights, c) / max(wsum(weights, n + c), 1e-12), 1e-4, 0.9))
        starts = [(1.0, (1.0 - rate) / rate), (0.5, 0.5 * (1.0 - rate) / rate), (2.0, 2.0 * (1.0 - rate) / rate), (1.0, 1.0)]
        return _PatternLoglik(n, c, weights), starts, None

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        """The weakly informative default priors, log-normal (``scale`` = mean periods observed).

        ``alpha ~ LogNormal(0, 1.5)``
            the Beta distribution's first shape; with beta it sets the mean churn probability
            ``alpha / (alpha + beta)`` and its spread; small alpha is strong heterogeneity
            (Fader & Hardie 2007: 0.7).
        ``beta ~ LogNormal(log(scale), 2)``
            the second shape, which grows with the periods a subscriber stays: centred on the
            periods observed, so that the prior means the same in months or years.

        Examples
        --------
        >>> ShiftedBetaGeo.default_priors(4.0)["beta"]
        Prior('LogNormal', mu=1.3862943611198906, sigma=2.0)
        """
        from ..inference.bayes import Prior

        return {
            "alpha": Prior("LogNormal", mu=0.0, sigma=1.5),
            "beta": Prior("LogNormal", mu=float(np.log(scale)), sigma=2.0),
        }
