"""The Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

While alive, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)`` (shape r, rate
alpha) and stays alive for an exponential lifetime of rate ``mu ~ Gamma(s, beta)``, lambda and
mu independent. The per-customer formulas below are pure broadcasting functions of
``(params, data)``: see :mod:`clvmodels.models.params`. Times are in the data's time unit.

Numerics. The likelihood needs
``A0 = integral_{t_x}^{T} (alpha + tau)^-(r+x) (beta + tau)^-(s+1) dtau``, usually written
with Gauss's hypergeometric function 2F1, whose series fail where alpha and beta are far
apart, and (``lifetimes``) return NaN where alpha < beta and x is large. Here A0 is an
integral of a log-concave function of ``v = log(min(alpha, beta) + tau)``, evaluated by
Gauss-Legendre panels whose widths follow the integrand's slope and curvature (see
:func:`_log_concave_integral`). The panels are placed by numpy without derivatives (the
integral does not depend on where they are); the integrand at the nodes is one elementwise
expression, so the same code is a numpy function and a small differentiable PyTensor graph
(compiled to C in seconds), accurate to about 1e-11 relative over the whole parameter space
(tested against mpmath). Maximum likelihood, the Bayesian fits (through the
objective) and P(alive) use a compiled (numba) evaluation of the same A0 with its gradient
(:func:`_a0_patterns`): the hypergeometric series where it converges fast (alpha and beta
within a factor of about 2 of each other relative to t_x, as on CDNOW), the same panels
elsewhere, equal to the numpy reference to 1e-10 (tested).

References
----------
Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your customers: who are
they and what will they do next? Management Science 33(1), 1-24.
Fader, P. S. & Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and related
expressions. http://brucehardie.com/notes/009/
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import integrate, special

from .base import TransactionModel
from .ops import NUMPY_OPS
from .params import unpack
from .registry import register

__all__ = [
    "ParetoNBD",
    "loglik",
    "prob_alive",
    "expected_purchases",
    "expected_purchases_new",
    "prob_purchases",
    "prob_purchases_conditional",
    "prob_purchases_table",
    "discounted_expected_purchases",
    "discounted_expected_purchases_discrete",
    "discounted_purchases_if_alive",
    "discounted_purchases_if_alive_discrete",
    "simulate",
    "simulate_future_if_alive",
]

PARAM_NAMES = ("r", "alpha", "s", "beta")

# Gauss-Legendre rule on [0, 1] used on every panel of _log_concave_integral
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)
_NODES, _WEIGHTS = (_NODES + 1.0) / 2.0, _WEIGHTS / 2.0
# a panel lets the log-integrand fall by at most ~1.5 _DROP and is at most _WIDTH long; the
# curvature may grow by _GROWTH within a panel (it grows at most like exp(width) here)
_DROP, _WIDTH, _GROWTH = 4.0, 2.0, 8.0
# panels downhill from the maximum towards the upper and towards the lower limit
_PANELS_UP, _PANELS_DOWN = 14, 7
_TINY = 1e-300


def _layout(slope_curvature: Any, lo: np.ndarray, hi: np.ndarray, top: np.ndarray, panels: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the panels of :func:`_log_concave_integral` (numpy, no derivatives).

    From ``top`` (the maximum of a concave ``phi`` on [lo, hi]) the integrand falls
    monotonically towards both limits. Each side is covered by ``panels`` panels, each with an
    8-node Gauss-Legendre rule; a panel starting where the descent has slope k and curvature c
    has width ``min(_WIDTH, _DROP / (k + sqrt(_GROWTH _DROP c)))``, so that the integrand falls
    by at most ~1.5 _DROP across it (the rule is then exact to ~1e-13) and features such as the
    knee where one power law hands over to the other are resolved. Since ``phi`` is concave
    the slope only steepens away from ``top``: after the given panels the integrand has either
    reached the limit or fallen far below exp(-36) of its peak.

    Returns ``(offset, weight)`` with a trailing axis of nodes: node ``lo + offset (hi - lo)``
    with weight ``weight (hi - lo)``, so that the nodes move with the limits and with nothing
    else; ``slope_curvature(v)`` returns ``(phi'(v), -phi''(v))``.
    """
    lo, hi, top = np.broadcast_arrays(*_as_arrays(lo, hi, top))
    span = hi - lo
    scale = np.divide(1.0, span, out=np.zeros(span.shape), where=span > 0)
    offsets, weights = [], []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for sign, count, end in ((1.0, panels[0], hi), (-1.0, panels[1], lo)):
            v = top
            for _ in range(count):
                slope, curvature = slope_curvature(v)
                descent = np.maximum(-sign * slope, 0.0)
                width = _DROP / (descent + np.sqrt(_GROWTH * _DROP * curvature) + 1e-3)
                width = np.minimum(np.minimum(width, _WIDTH), np.maximum(sign * (end - v), 0.0))
                start, fraction = (v - lo) * scale, sign * width * scale
                offsets.append(start[..., None] + fraction[..., None] * _NODES)
                weights.append(np.abs(fraction)[..., None] * _WEIGHTS)
                v = v + sign * width
    return np.concatenate(offsets, axis=-1), np.concatenate(weights, axis=-1)


def _log_concave_integral(phi: Any, layout: Any, layout_args: tuple, lo: Any, hi: Any, top: Any, ops: Any) -> tuple[Any, Any]:
    """``integral_lo^hi exp(phi(v)) dv`` for a concave ``phi`` with its maximum on [lo, hi] at ``top``.

    Returns ``(phi(top), I exp(-phi(top)))`` so that the caller takes logs without overflow.
    ``layout(lo, hi, top, *layout_args)`` places the panels (see :func:`_layout`); it is
    evaluated by numpy without derivatives (``ops.frozen``): the integral does not depend on
    where the panels are (only the rule's error, ~1e-13, does), and the nodes move with the
    limits as Leibniz's rule needs. What remains is one elementwise expression over the nodes,
    so the PyTensor graph is small and its gradient cheap.
    """
    offset, weight = ops.frozen(layout, 2, lo, hi, top, *layout_args)
    length = hi - lo
    top_ = ops.stop_gradient(top)
    phi_top = ops.stop_gradient(phi(top_[..., None])[..., 0])
    nodes = lo[..., None] + offset * length[..., None]
    total = (ops.exp(phi(nodes) - phi_top[..., None]) * weight).sum(axis=-1) * length
    return phi_top, total


def _log_a0(r: Any, alpha: Any, s: Any, beta: Any, x: Any, t_x: Any, T: Any, ops: Any) -> tuple[Any, Any]:
    """``log A0``, ``A0 = integral_{t_x}^{T} (alpha + tau)^-(r+x) (beta + tau)^-(s+1) dtau`` (FH 2005 note, eq. 16).

    With ``m = min(alpha, beta)`` (exponent ``p_m``), ``d = |alpha - beta|`` (the other
    exponent ``p_M``), ``P = r + x + s + 1`` and ``v = log(m + tau)``, the integrand times
    ``dtau/dv`` is ``exp(phi(v))``, ``phi(v) = (1 - P) v - p_M log(1 + d e^-v)``: concave
    (slope from ``1 - p_m`` far below ``log d`` to ``1 - P`` far above), with its maximum at
    ``v* = log d + log(1 - p_m) - log(P - 1)`` when ``p_m < 1``, else at the lower limit.
    The swap of alpha and beta is a selection on the parameters, and ``d`` enters the integrand
    signed, so the expression is smooth (and its gradient right) also at alpha = beta.

    Returns ``(log A0, T > t_x)``; where ``T = t_x`` A0 is 0 and ``log A0`` is a finite dummy.
    """
    zero = 0.0 * (x + t_x + T)
    p1, p2 = r + x, s + 1.0 + zero
    first = (alpha <= beta) + (zero > 0)  # alpha is the smaller base (broadcast to the data)
    base = ops.where(first, alpha + zero, beta + zero)
    d = ops.where(first, beta - alpha, alpha - beta) + zero
    p_small = ops.where(first, p1, p2)
    p_large = ops.where(first, p2, p1)
    rise = 1.0 - p1 - p2  # 1 - P
    lo = ops.log(base + t_x)
    hi = ops.log(base + T)
    mode = ops.log(ops.maximum(d, _TINY)) + ops.log(ops.maximum(1.0 - p_small, _TINY)) - ops.log(-rise)
    top = ops.where(p_small < 1.0, ops.minimum(ops.maximum(mode, lo), hi), lo)
    rise_, p_large_, d_ = rise[..., None], p_large[..., None], d[..., None]

    def phi(v: Any) -> Any:
        return rise_ * v - p_large_ * ops.log1p(d_ * ops.exp(-v))

    phi_top, total = _log_concave_integral(phi, _a0_layout, (rise, p_large, d), lo, hi, top, ops)
    positive = T > t_x
    return phi_top + ops.log(ops.where(positive, total, 1.0)), positive


def _a0_layout(lo: np.ndarray, hi: np.ndarray, top: np.ndarray, rise: np.ndarray, p_large: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_layout` of the A0 integrand ``phi(v) = (1 - P) v - p_M log(1 + d e^-v)``."""

    def slope_curvature(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = d * np.exp(-v)
        share = q / (1.0 + q)
        return rise + p_large * share, p_large * share / (1.0 + q)

    return _layout(slope_curvature, lo, hi, top, (_PANELS_UP, _PANELS_DOWN))


def _loglik_terms(r: Any, alpha: Any, s: Any, beta: Any, x: Any, t_x: Any, T: Any, ops: Any) -> tuple[Any, Any, Any]:
    """``(log L without the alive/dead sum, log alive term, log dead term, T > t_x)``.

    ``L = Gamma(r+x) alpha^r beta^s / Gamma(r) [(alpha+T)^-(r+x) (beta+T)^-s + s A0]``:
    alive at T, or dropped out at some tau in (t_x, T].
    """
    common = ops.gammaln(r + x) - ops.gammaln(r) + r * ops.log(alpha) + s * ops.log(beta)
    log_alive = -(r + x) * ops.log(alpha + T) - s * ops.log(beta + T)
    log_a0, positive = _log_a0(r, alpha, s, beta, x, t_x, T, ops)
    return common, log_alive, ops.log(s) + log_a0, positive


def _as_arrays(*values: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(v, dtype=np.float64) for v in values)


def loglik(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, ops: Any = NUMPY_OPS) -> Any:
    """Per-customer Pareto/NBD log-likelihood.

    ``L = Gamma(r+x) alpha^r beta^s / Gamma(r) [(alpha+T)^-(r+x) (beta+T)^-s + s A0]``,
    ``A0 = integral_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau``
    (Fader & Hardie 2005 note, eq. 16-18; A0 is their ratio of 2F1 terms, here evaluated as an
    integral, see :func:`_log_a0`), summed in log space. The PyTensor graph is built from
    elementwise operations (:func:`_log_a0`); the numpy evaluation uses the compiled
    :func:`_a0_patterns` for the same A0 (equal to 1e-10, tested).

    Parameters
    ----------
    params : mapping or DataFrame
        ``r, alpha, s, beta`` (see :mod:`clvmodels.models.params`).
    frequency, recency, T : array_like
        x, t_x and T per customer.
    ops : namespace
        Backend (:data:`clvmodels.models.ops.NUMPY_OPS` or a PyTensor equivalent).

    Returns
    -------
    array
        Log-likelihood of each customer, broadcast over parameter draws.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> loglik(params, np.array([2, 0]), np.array([30.43, 0.0]), np.array([38.86, 38.86])).round(4)
    array([-9.5543, -0.521 ])
    """
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    if ops is NUMPY_OPS:
        # the same A0, compiled (a 2F1 series where it converges fast, else the same panels):
        # equal to the expression below to 1e-10 and tens of times faster
        x, t_x, T = _as_arrays(frequency, recency, T)
        common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        log_dead = np.log(s) + _log_a0_compiled(r, alpha, s, beta, x, t_x, T)
        return common + np.where(T > t_x, np.logaddexp(log_alive, log_dead), log_alive)
    return _loglik_ops(r, alpha, s, beta, frequency, recency, T, ops)


def _loglik_ops(r: Any, alpha: Any, s: Any, beta: Any, x: Any, t_x: Any, T: Any, ops: Any) -> Any:
    """:func:`loglik` written against ``ops`` (the PyTensor graph; with numpy ops, the reference)."""
    common, log_alive, log_dead, positive = _loglik_terms(r, alpha, s, beta, x, t_x, T, ops)
    return common + ops.where(positive, ops.logaddexp(log_alive, log_dead), log_alive)


def prob_alive(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Probability that a customer with history (x, t_x, T) is still alive at T.

    ``P(alive) = (alpha+T)^-(r+x) (beta+T)^-s / [(alpha+T)^-(r+x) (beta+T)^-s + s A0]``
    (Fader & Hardie 2005 note, eq. 19), a logistic function of the log odds.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> prob_alive(params, np.array([0, 2]), np.array([0.0, 30.43]), np.array([38.86, 38.86])).round(4)
    array([0.2953, 0.8692])
    """
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    x, t_x, T = _as_arrays(frequency, recency, T)
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_dead = np.log(s) + _log_a0_compiled(r, alpha, s, beta, x, t_x, T)
    return np.where(T > t_x, special.expit(log_alive - log_dead), 1.0)


def _log_a0_compiled(r: Any, alpha: Any, s: Any, beta: Any, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """``log A0`` of :func:`_log_a0` (broadcast over draws and customers) by the compiled
    :func:`_a0_patterns`: the same value to ~1e-11, many times faster (a 2F1 series where it
    converges fast). Entries with ``T = t_x`` hold 0."""
    r, alpha, s, beta, x, t_x, T = np.broadcast_arrays(*_as_arrays(r, alpha, s, beta, x, t_x, T))
    shape = r.shape
    r, alpha, s, beta, x, t_x, T = (np.ascontiguousarray(v).ravel() for v in (r, alpha, s, beta, x, t_x, T))
    first = alpha <= beta
    p1, p2 = r + x, s + 1.0
    out = np.empty((5, r.size))
    _compiled_a0()(
        p1 + p2, np.where(first, p1, p2), np.where(first, p2, p1), np.where(first, beta - alpha, alpha - beta),
        np.where(first, alpha, beta), t_x, T, _NODES, _WEIGHTS, out,
    )
    return out[0].reshape(shape)


def _mean_lifetime_within(s: Any, beta: Any, t: Any) -> np.ndarray:
    """``E[min(tau, t)]`` for a lifetime ``tau ~ Lomax(s, beta)`` (Exp(mu), mu ~ Gamma(s, beta)).

    ``integral_0^t (beta/(beta+u))^s du = beta (1 - (beta/(beta+t))^(s-1)) / (s - 1)``, written
    ``beta y exp(-(s-1) y) exprel((s-1) y)``, ``y = log(1 + t/beta)``, which is exact also at
    s = 1 (``beta y``).
    """
    y = np.log1p(t / beta)
    e = (s - 1.0) * y
    return beta * y * np.exp(-e) * special.exprel(e)


def expected_purchases_new(params: Any, t: ArrayLike) -> np.ndarray:
    """Expected number of repeat purchases in (0, t] of a customer acquired at 0.

    ``E[X(t)] = r beta / (alpha (s - 1)) [1 - (beta / (beta + t))^(s-1)]`` (Schmittlein et
    al. 1987, eq. 17; Fader & Hardie 2005 note, eq. 20): the mean rate ``r / alpha`` times the
    expected time alive within (0, t], exact at s = 1 (``(r beta / alpha) log(1 + t/beta)``).

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> expected_purchases_new(params, np.array([1.0, 39.0, 78.0])).round(4)
    array([0.051 , 1.213 , 1.9094])
    """
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    t = np.asarray(t, dtype=np.float64)
    return r / alpha * _mean_lifetime_within(s, beta, t)


def expected_purchases(
    params: Any, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected number of purchases in (T, T + t] given the history (x, t_x, T).

    Given alive at T, the future is a Pareto/NBD process with parameters
    ``(r + x, alpha + T, s, beta + T)`` (Fader & Hardie 2005 note, eq. 21), so
    ``E[Y(t) | x, t_x, T] = P(alive) E[X(t); r + x, alpha + T, s, beta + T]``.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> expected_purchases(params, 39, np.array([2]), np.array([30.43]), np.array([38.86])).round(3)
    array([1.455])
    """
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    x, T = _as_arrays(frequency, T)
    t = np.asarray(t, dtype=np.float64)
    alive = prob_alive(params, x, recency, T)
    return alive * (r + x) / (alpha + T) * _mean_lifetime_within(s, beta + T, t)


# -- the number of purchases -----------------------------------------------------------------


def _pmf_new(r: Any, alpha: Any, s: Any, beta: Any, n: Any, t: Any) -> np.ndarray:
    """P(X(t) = n) of a Pareto/NBD process that starts alive at 0.

    Alive through t (probability ``(beta/(beta+t))^s``) the count is negative binomial
    ``NB(n; r, alpha/(alpha+t))``; dropped out at tau < t (Lomax density
    ``s/beta (beta/(beta+tau))^(s+1)``) it is ``NB(n; r, alpha/(alpha+tau))``:
    ``P(X(t) = n) = (beta/(beta+t))^s NB(n; t) + integral_0^t f(tau) NB(n; tau) dtau``. The
    integral is evaluated by adaptive quadrature (:func:`scipy.integrate.quad_vec`, all n and
    customers at once) in ``y = log(1 + tau/m)``, ``m = min(alpha, beta)``, in which the
    integrand is analytic within pi of the real axis.
    """
    r, alpha, s, beta, n, t = np.broadcast_arrays(*_as_arrays(r, alpha, s, beta, n, t))
    m = np.minimum(alpha, beta)

    def log_nb(tau: np.ndarray) -> np.ndarray:
        return (
            special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1.0)
            - r * np.log1p(tau / alpha) + special.xlogy(n, tau / (alpha + tau))
        )

    alive = np.exp(-s * np.log1p(t / beta) + log_nb(t))
    upper = np.log1p(t / m)

    def integrand(u: float) -> np.ndarray:
        # y = u * upper, tau = m (e^y - 1), dtau = m e^y upper du
        y = u * upper
        tau = m * np.expm1(y)
        log_density = np.log(s / beta) - (s + 1.0) * np.log1p(tau / beta)
        return np.exp(log_density + log_nb(tau) + y) * m * upper

    if r.size == 0:
        return alive
    dead, _ = integrate.quad_vec(integrand, 0.0, 1.0, epsabs=1e-14, epsrel=1e-12, norm="max", limit=400)
    return alive + dead


def prob_purchases(params: Any, n: ArrayLike, t: ArrayLike) -> np.ndarray:
    """Probability that a customer acquired at 0 makes exactly ``n`` repeat purchases in (0, t].

    Fader & Hardie 2005 note, eq. 22: alive through t, the count is negative binomial;
    otherwise it is negative binomial over the lifetime tau < t (see :func:`_pmf_new`).

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> p = prob_purchases(params, np.arange(200), 39.0)
    >>> round(float(p.sum()), 10), round(float(p[0]), 4)
    (1.0, 0.5936)
    """
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    return _pmf_new(r, alpha, s, beta, n, t)


def prob_purchases_conditional(
    params: Any, n: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Probability of exactly ``n`` purchases in (T, T + t] given the history (x, t_x, T).

    A customer dead at T makes none; one alive at T starts a Pareto/NBD process with parameters
    ``(r + x, alpha + T, s, beta + T)``:
    ``P(Y(t) = n | x, t_x, T) = (1 - P(alive)) [n = 0] + P(alive) P(X(t) = n; r+x, alpha+T, s, beta+T)``.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> n = np.arange(100)[:, None]
    >>> pmf = prob_purchases_conditional(params, n, 39.0, x, t_x, T)
    >>> pmf[:3, 0].round(3), round(float(pmf.sum()), 8), round(float((n * pmf).sum()), 3)
    (array([0.408, 0.219, 0.152]), 1.0, 1.455)
    """
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    x, T = _as_arrays(frequency, T)
    n = np.asarray(n, dtype=np.float64)
    alive = prob_alive(params, x, recency, T)
    future = _pmf_new(r + x, alpha + T, s, beta + T, n, t)
    return alive * future + np.where(n == 0, 1.0 - alive, 0.0)


def prob_purchases_table(
    params: Any, k_max: int, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """:func:`prob_purchases_conditional` for ``n = 0 .. k_max`` at once: shape ``(k_max + 1, N)``.

    For a point estimate; the counts run down the first axis, so ``cumsum(axis=0)`` gives each
    customer's predictive distribution function.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> table = prob_purchases_table(params, 3, 39.0, [2], [30.43], [38.86])
    >>> bool(np.allclose(table[:, 0], prob_purchases_conditional(params, np.arange(4), 39.0, 2, 30.43, 38.86)))
    True
    """
    r, _, _, _ = unpack(params, PARAM_NAMES)
    if np.ndim(r) != 0:
        raise ValueError("prob_purchases_table takes a point estimate (one parameter set).")
    x, t_x, T = (np.atleast_1d(v) for v in _as_arrays(frequency, recency, T))
    n = np.arange(int(k_max) + 1, dtype=np.float64)[:, None]
    return prob_purchases_conditional(params, n, np.atleast_1d(np.asarray(t, dtype=np.float64)), x, t_x, T)


# -- discounting -------------------------------------------------------------------------------


def _check_discounting(t: float, delta: float) -> tuple[float, float]:
    delta = float(delta)
    if not np.isfinite(delta) or delta < 0:
        raise ValueError(f"discount_rate={delta!r} must be a finite rate >= 0 per time unit.")
    if not t > 0:
        raise ValueError(f"t={t!r} must be > 0 (numpy.inf for the infinite horizon).")
    if np.isinf(t) and delta == 0:
        raise ValueError("an infinite horizon needs a positive discount_rate (the undiscounted value is infinite).")
    return float(t), delta


def _discounted_lifetime_quadrature(s: Any, beta: Any, horizon: float, delta: float) -> np.ndarray:
    """``integral_0^H exp(-delta u) (beta/(beta+u))^s du`` by :func:`_log_concave_integral`.

    In ``y = log(1 + u/beta)`` the integrand is ``beta exp(phi(y))``,
    ``phi(y) = -delta beta (e^y - 1) + (1 - s) y``, concave, with its maximum at
    ``log((1 - s) / (delta beta))`` when that is positive and s < 1, else at 0. The horizon is
    cut at ``60 / delta``, beyond which the discount factor is below exp(-60).
    """
    s, beta = np.broadcast_arrays(*_as_arrays(s, beta))
    db = delta * beta
    # beyond u = 60 / delta the discount exp(-delta u) < exp(-60) leaves nothing to integrate
    hi = np.log1p(min(horizon, 60.0 / delta) / beta)
    lo = np.zeros(beta.shape)
    with np.errstate(divide="ignore"):
        mode = np.log(np.maximum(1.0 - s, _TINY)) - np.log(db)
    top = np.where(s < 1.0, np.clip(mode, 0.0, hi), 0.0)
    db_ = db[..., None]

    def phi(y: np.ndarray) -> np.ndarray:
        return -db_ * np.expm1(y) + (1.0 - s[..., None]) * y

    def layout(lo: np.ndarray, hi: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        def slope_curvature(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            e = db * np.exp(np.minimum(y, 700.0))
            return (1.0 - s) - e, e

        return _layout(slope_curvature, lo, hi, top, (32, 32))

    with np.errstate(over="ignore", invalid="ignore"):
        phi_top, total = _log_concave_integral(phi, layout, (), lo, hi, top, NUMPY_OPS)
    return beta * np.exp(phi_top) * total


def _discounted_lifetime(s: Any, beta: Any, horizon: float, delta: float) -> np.ndarray:
    """``integral_0^H exp(-delta u) (beta/(beta+u))^s du``: the discounted expected time alive.

    ``delta = 0``: :func:`_mean_lifetime_within`. ``H = inf``: ``(delta beta)^s / delta
    U(s, s, delta beta)`` with Tricomi's confluent hypergeometric function U (FHL 2005, "RFM and
    CLV", eq. 2), by :func:`scipy.special.hyperu` where it is accurate: compared with mpmath on
    a grid of s in [0.01, 50] and ``z = delta beta`` in [1e-6, 1e3], its relative error is
    below 1e-12 for z <= 1 and s <= 30 (the usual case: a weekly rate of 0.0027 and beta + T
    of 100 weeks give z = 0.27) but reaches 1e-7 for z in [2, 200] and fails for large s and
    small z. Finite H: the difference of two such values where ``delta H >= 1e-3``. Elsewhere
    quadrature (:func:`_discounted_lifetime_quadrature`).
    """
    s, beta = np.broadcast_arrays(*_as_arrays(s, beta))
    if delta == 0:
        return _mean_lifetime_within(s, beta, horizon)
    value = _discounted_lifetime_closed(s, beta, delta)
    if np.isfinite(horizon):
        # integral_0^H = I(beta) - exp(-delta H) (beta / (beta + H))^s I(beta + H), which loses
        # at most a factor 1 / (delta H) to cancellation: used where delta H >= 1e-3
        later = _discounted_lifetime_closed(s, beta + horizon, delta)
        value = value - np.exp(-delta * horizon - s * np.log1p(horizon / beta)) * later
        if delta * horizon < 1e-3:
            value = np.full(value.shape, np.nan)
    bad = ~np.isfinite(value)
    if bad.any():
        value = np.array(value, dtype=np.float64)
        value[bad] = _discounted_lifetime_quadrature(s[bad], beta[bad], horizon, delta)
    return value


def _discounted_lifetime_closed(s: np.ndarray, beta: np.ndarray, delta: float) -> np.ndarray:
    """``integral_0^inf exp(-delta u) (beta/(beta+u))^s du = (delta beta)^s / delta U(s, s, delta beta)``
    where :func:`scipy.special.hyperu` is accurate (z <= 1, s <= 30), NaN elsewhere."""
    z = delta * beta
    with np.errstate(all="ignore"):
        value = np.exp(s * np.log(z)) / delta * special.hyperu(s, s, z)
    # 0 < value < 1/delta (the discounted value of staying alive for ever)
    good = np.isfinite(value) & (value > 0) & (value <= 1.0 / delta) & (z <= 1.0) & (s <= 30.0)
    return np.where(good, value, np.nan)


def discounted_purchases_if_alive(
    params: Any, t: float, discount_rate: float, frequency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Continuously discounted expected purchases in (T, T + t] given that the customer is alive at T.

    Alive at T, the purchase rate is ``lambda ~ Gamma(r + x, alpha + T)`` and the remaining
    lifetime is Lomax(s, beta + T), so
    ``integral_0^t exp(-delta u) (r+x)/(alpha+T) ((beta+T)/(beta+T+u))^s du``. For ``t = inf``
    this is ``(r+x)/(alpha+T) (delta (beta+T))^s / delta U(s, s, delta (beta+T))`` (FHL 2005,
    "RFM and CLV", eq. 2, divided by P(alive)); finite horizons by quadrature
    (relative error ~1e-11). It depends on the history through x and T only (not t_x).

    Parameters
    ----------
    params : mapping or DataFrame
        ``r, alpha, s, beta``; a DataFrame of draws gives ``(draws, customers)`` results.
    t : float
        Horizon in the data's time unit; ``numpy.inf`` for the infinite horizon.
    discount_rate : float
        Continuously compounded rate per time unit, ``delta`` (FHL use ``log(1.15) / 52``
        per week); 0 gives the undiscounted expected purchases if alive.
    frequency, T : array_like
        The customers' histories.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> delta = np.log(1.15) / 52
    >>> discounted_purchases_if_alive(params, np.inf, delta, np.array([2]), np.array([38.86])).round(3)
    array([7.48])
    """
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    x, T = _as_arrays(frequency, T)
    t, delta = _check_discounting(t, discount_rate)
    return (r + x) / (alpha + T) * _discounted_lifetime(s, beta + T + 0.0 * x, t, delta)


def discounted_expected_purchases(
    params: Any, t: float, discount_rate: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Continuously discounted expected purchases in (T, T + t] given the history (x, t_x, T).

    ``P(alive) x`` :func:`discounted_purchases_if_alive`; with ``t = inf`` it is the
    discounted expected residual transactions (DERT) of FHL 2005, "RFM and CLV", eq. 2.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> dert = discounted_expected_purchases(params, np.inf, np.log(1.15) / 52, x, t_x, T)
    >>> dert.round(3)
    array([6.502])
    """
    alive = prob_alive(params, frequency, recency, T)
    return alive * discounted_purchases_if_alive(params, t, discount_rate, frequency, T)


def discounted_expected_purchases_discrete(
    params: Any,
    n_periods: int,
    period: float,
    discount_rate: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> np.ndarray:
    """Expected purchases per period, discounted once per period (the ``lifetimes`` convention).

    ``sum_{k=1..K} (E[Y(k P)] - E[Y((k-1) P)]) / (1 + d)^k`` for ``K = n_periods`` periods of
    length ``P = period`` time units at the per-period rate ``d``.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> bool(np.isclose(discounted_expected_purchases_discrete(params, 12, 4.345, 0.0, x, t_x, T),
    ...                 expected_purchases(params, 12 * 4.345, x, t_x, T)).all())
    True
    """
    alive = prob_alive(params, frequency, recency, T)
    return alive * discounted_purchases_if_alive_discrete(params, n_periods, period, discount_rate, frequency, T)


def discounted_purchases_if_alive_discrete(
    params: Any, n_periods: int, period: float, discount_rate: float, frequency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """:func:`discounted_expected_purchases_discrete` given that the customer is alive at T.

    Examples
    --------
    >>> params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> if_alive = discounted_purchases_if_alive_discrete(params, 12, 4.345, 0.01, x, T)
    >>> bool(np.isclose(if_alive * prob_alive(params, x, t_x, T),
    ...                 discounted_expected_purchases_discrete(params, 12, 4.345, 0.01, x, t_x, T)).all())
    True
    """
    if int(n_periods) != n_periods or n_periods < 1 or not period > 0 or not discount_rate > -1:
        raise ValueError("n_periods must be a whole number >= 1, period > 0 and discount_rate > -1.")
    r, alpha, s, beta = unpack(params, PARAM_NAMES)
    x, T = _as_arrays(frequency, T)
    rate, beta1 = (r + x) / (alpha + T), beta + T
    previous = 0.0
    total = 0.0
    for k in range(1, int(n_periods) + 1):
        current = rate * _mean_lifetime_within(s, beta1, k * period)
        total = total + (current - previous) / (1.0 + discount_rate) ** k
        previous = current
    return total


# -- simulation --------------------------------------------------------------------------------


def simulate(
    params: Any,
    T: ArrayLike,
    *,
    holdout: float | ArrayLike | None = None,
    random_seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate Pareto/NBD customers observed for ``T`` time units after their first purchase.

    Each customer draws ``lambda ~ Gamma(r, alpha)``, ``mu ~ Gamma(s, beta)`` and a lifetime
    ``tau ~ Exponential(mu)``; they make ``x ~ Poisson(lambda min(tau, T))`` repeat purchases in
    (0, T], the last of them at ``min(tau, T) * Beta(x, 1)`` (the largest of x uniforms), and
    ``Poisson(lambda (min(tau, T + holdout) - T)+)`` in the holdout.

    Parameters
    ----------
    params : mapping
        ``r, alpha, s, beta`` (scalars).
    T : array_like
        Observation length of each customer (its size is the number of customers).
    holdout : float or array_like, optional
        Length of a holdout period after T; adds ``frequency_holdout`` and ``duration_holdout``.
    random_seed : int or Generator, optional
        Seed; the same seed gives the same customers.

    Returns
    -------
    DataFrame
        ``frequency, recency, T`` (and the holdout columns), plus the latent ``lambda_``,
        ``mu_`` and ``tau_`` (for checks with known truth), indexed ``0 .. N-1`` as ``customer_id``.

    Examples
    --------
    >>> sim = simulate({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, np.full(3, 39.0),
    ...                random_seed=1)
    >>> list(sim.columns)
    ['frequency', 'recency', 'T', 'lambda_', 'mu_', 'tau_']
    """
    # scalars, or one value per customer (a model with covariates)
    r, alpha, s, beta = (np.asarray(v, dtype=np.float64) if np.ndim(v) else float(v) for v in unpack(params, PARAM_NAMES))
    rng = np.random.default_rng(random_seed)
    T = np.asarray(T, dtype=np.float64)
    n = T.shape[0]
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    with np.errstate(divide="ignore"):  # mu may underflow to 0: the customer never leaves
        tau = rng.exponential(size=n) / mu
    seen = np.minimum(tau, T)
    x = rng.poisson(lam * seen)
    recency = np.where(x > 0, seen * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    columns: dict[str, np.ndarray] = {"frequency": x.astype(np.int64), "recency": recency, "T": T}
    if holdout is not None:
        h = np.broadcast_to(np.asarray(holdout, dtype=np.float64), (n,))
        columns["frequency_holdout"] = rng.poisson(lam * np.clip(tau - T, 0.0, h)).astype(np.int64)
        columns["duration_holdout"] = np.array(h)
    columns["lambda_"] = lam
    columns["mu_"] = mu
    columns["tau_"] = tau
    frame = pd.DataFrame(columns)
    frame.index.name = "customer_id"
    return frame


def simulate_future_if_alive(
    rng: np.random.Generator, params: tuple[np.ndarray, ...], frequency: np.ndarray, T: np.ndarray, horizon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One simulated future after T of customers alive at T, one per cell (draw, customer).

    Given the history and alive at T, ``lambda ~ Gamma(r + x, alpha + T)`` and
    ``mu ~ Gamma(s, beta + T)`` (independent); the remaining lifetime is ``tau ~ Exp(mu)`` and
    the customer makes ``Poisson(lambda min(tau, horizon))`` purchases at uniform times on
    (0, min(tau, horizon)]. There is no separate last purchase (``last_inside`` is all False).

    Parameters
    ----------
    rng : Generator
    params : tuple of ndarray
        ``r, alpha, s, beta``, one value per cell.
    frequency, T : ndarray
        The history of the customer of each cell.
    horizon : float
        Length of the future (finite).

    Returns
    -------
    uniform_counts, span, last, last_inside : ndarray
        ``uniform_counts`` purchases at independent uniform times on (0, span]; ``last`` equals
        ``span`` and ``last_inside`` is False.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cells = tuple(np.full(3, v) for v in (0.553, 10.578, 0.606, 11.669))
    >>> n, span, last, inside = simulate_future_if_alive(rng, cells, np.array([2.0, 0, 5]), np.full(3, 38.86), 52.0)
    >>> n.shape, bool((span <= 52.0).all()), bool(inside.any())
    ((3,), True, False)
    """
    r, alpha, s, beta = params
    lam = rng.gamma(r + frequency) / (alpha + T)
    mu = rng.gamma(s) / (beta + T)
    with np.errstate(divide="ignore"):  # mu may underflow to 0: the customer never leaves
        tau = rng.exponential(size=lam.shape) / mu
    span = np.minimum(tau, horizon)
    uniform_counts = rng.poisson(lam * span)
    return uniform_counts, span, span.copy(), np.zeros(span.shape, dtype=bool)


# -- maximum likelihood: the log-likelihood and its gradient over weighted patterns ----------


def _log_a0_and_grad(p_total: np.ndarray, p_small: np.ndarray, p_large: np.ndarray, d: np.ndarray, base: np.ndarray,
                     t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    """``log A0`` of :func:`_log_a0` with its derivatives, in numpy, panel by panel on the
    customers whose panel is not empty yet.

    The panels and nodes are exactly those of :func:`_log_concave_integral`, so the value
    equals :func:`_log_a0`'s; the derivatives differentiate under the integral sign at fixed
    ``v`` (Leibniz's rule: the limits ``log(base + t_x)``, ``log(base + T)`` move with base),
    with respect to ``P``, ``p_large``, ``d`` and ``base``. The panel widths are held fixed:
    the integral does not depend on them (only the rule's error, ~1e-13, does). A side is left
    as soon as what remains of it is below exp(-40) of the peak (the fixed graph of
    :func:`_log_a0` integrates those negligible panels too).

    Returns ``(log A0, dP, dp_large, dd, dbase)``, all 1-D; entries with ``T = t_x`` are dummies.
    """
    rise = 1.0 - p_total
    lo, hi = np.log(base + t_x), np.log(base + T)
    with np.errstate(divide="ignore"):
        mode = np.log(np.maximum(d, _TINY)) + np.log(np.maximum(1.0 - p_small, _TINY)) - np.log(p_total - 1.0)
    top = np.where(p_small < 1.0, np.minimum(np.maximum(mode, lo), hi), lo)

    def phi(v: np.ndarray, k: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = np.exp(-v)
        q = d[k] * e
        l1 = np.log1p(q)
        return rise[k] * v - p_large[k] * l1, l1, e / (1.0 + q)

    n = len(p_total)
    everyone = np.arange(n)
    phi_top = phi(top, everyone)[0]
    sums = np.zeros((4, n))  # integral, and the integrals of dphi/dP, dphi/dp_large, dphi/dd
    for sign, panels, end in ((1.0, _PANELS_UP, hi), (-1.0, _PANELS_DOWN, lo)):
        k, v = everyone, top
        for _ in range(panels):
            remaining = sign * (end[k] - v)
            open_ = remaining > 0
            if not open_.all():
                k, v, remaining = k[open_], v[open_], remaining[open_]
            if k.size == 0:
                break
            q = d[k] * np.exp(-v)
            share = q / (1.0 + q)
            slope, curvature = rise[k] + p_large[k] * share, p_large[k] * share / (1.0 + q)
            descent = np.maximum(-sign * slope, 0.0)
            # the rest of the side is at most exp(phi(v)) / descent (phi is concave): drop the
            # customers for whom that is below exp(-40) of the integral's peak
            rest = rise[k] * v - p_large[k] * np.log1p(q) - phi_top[k] - np.log(np.maximum(descent, _TINY))
            if (rest < -40.0).any():
                keep = rest >= -40.0
                k, v, remaining, descent, curvature = k[keep], v[keep], remaining[keep], descent[keep], curvature[keep]
                if k.size == 0:
                    break
            width = _DROP / (descent + np.sqrt(_GROWTH * _DROP * curvature + 1e-30) + 1e-3)
            width = np.minimum(np.minimum(width, _WIDTH), remaining)
            nodes = v[:, None] + (sign * width)[:, None] * _NODES
            value, l1, de = phi(nodes, (k, None))
            weight = np.exp(value - phi_top[k, None]) * (_WEIGHTS * width[:, None])
            sums[0, k] += weight.sum(axis=1)
            sums[1, k] -= (weight * nodes).sum(axis=1)
            sums[2, k] -= (weight * l1).sum(axis=1)
            sums[3, k] -= p_large[k] * (weight * de).sum(axis=1)
            v = v + sign * width
    total = np.where(T > t_x, sums[0], 1.0)
    edge_hi = np.exp(phi(hi, everyone)[0] - phi_top) / (base + T)
    edge_lo = np.exp(phi(lo, everyone)[0] - phi_top) / (base + t_x)
    return (phi_top + np.log(total), sums[1] / total, sums[2] / total, sums[3] / total, (edge_hi - edge_lo) / total)


class _PatternLoglik:
    """Total log-likelihood and its gradient with respect to ``(r, alpha, s, beta)`` over weighted patterns.

    ``log A0`` and its derivatives come from the compiled :func:`_a0_patterns` (the 2F1 series
    where it converges fast, else the panels of :func:`_log_a0`), or with ``compiled=False``
    from the numpy :func:`_log_a0_and_grad`; the two agree to 1e-10 (tested).
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray, compiled: bool = True) -> None:
        self.log_a0 = self._compiled_log_a0 if compiled else _log_a0_and_grad
        self.x, self.t_x, self.T, self.w = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T, weights))
        self.n = float(self.w.sum())
        self.dead_possible = self.T > self.t_x
        self.xd, self.txd, self.Td = self.x[self.dead_possible], self.t_x[self.dead_possible], self.T[self.dead_possible]
        self.xs, self.inverse = np.unique(self.x, return_inverse=True)
        self.wx = np.bincount(self.inverse, weights=self.w)
        self.compiled = compiled
        self.dead_index = np.flatnonzero(self.dead_possible).astype(np.int64)

    @staticmethod
    def _compiled_log_a0(*args: np.ndarray) -> np.ndarray:
        out = np.empty((5, len(args[0])))
        _compiled_a0()(*args, _NODES, _WEIGHTS, out)
        return out

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        if self.compiled:
            grad = np.empty(4)
            value = _compiled_pattern_loglik()(
                np.asarray(theta, dtype=np.float64), self.x, self.T, self.w, self.dead_index, self.xd, self.txd,
                self.Td, self.xs, self.wx, _NODES, _WEIGHTS, grad,
            )
            return float(value), grad
        return self.reference(theta)

    def reference(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The same in numpy (the A0 terms compiled or not, as constructed)."""
        r, alpha, s, beta = (float(v) for v in theta)
        x, T, w = self.x, self.T, self.w
        log_at, log_bt = np.log(alpha + T), np.log(beta + T)
        log_alive = -(r + x) * log_at - s * log_bt
        # dropped out in (t_x, T]: only where T > t_x
        xd, txd, Td = self.xd, self.txd, self.Td
        first = alpha <= beta
        p1, p2 = r + xd, np.full(xd.shape, s + 1.0)
        base = np.full(xd.shape, alpha if first else beta)
        d = np.full(xd.shape, (beta - alpha) if first else (alpha - beta))
        log_a0, g_p, g_large, g_d, g_base = self.log_a0(
            p1 + p2, p1 if first else p2, p2 if first else p1, d, base, txd, Td
        )
        log_dead = np.full(x.shape, -np.inf)
        log_dead[self.dead_possible] = np.log(s) + log_a0
        mix = np.logaddexp(log_alive, log_dead)
        share = np.exp(log_dead - mix)  # posterior probability of "dropped out before T"
        # derivatives of log A0 with respect to r, alpha, s, beta
        da = np.zeros((4, x.size))
        da[0, self.dead_possible] = g_p + (0.0 if first else g_large)
        da[2, self.dead_possible] = g_p + (g_large if first else 0.0)
        da[1, self.dead_possible] = -g_d + g_base if first else g_d
        da[3, self.dead_possible] = g_d if first else -g_d + g_base
        alive = 1.0 - share
        lv, wx = self.xs, self.wx
        value = (
            wx @ (special.gammaln(r + lv) - special.gammaln(r))
            + self.n * (r * np.log(alpha) + s * np.log(beta)) + w @ mix
        )
        grad = np.array(
            [
                wx @ (special.digamma(r + lv) - special.digamma(r)) + self.n * np.log(alpha)
                + w @ (-alive * log_at + share * da[0]),
                self.n * r / alpha + w @ (-alive * (r + x) / (alpha + T) + share * da[1]),
                self.n * np.log(beta) + w @ (-alive * log_bt + share * (1.0 / s + da[2])),
                self.n * s / beta + w @ (-alive * s / (beta + T) + share * da[3]),
            ]
        )
        return float(value), grad


def loglik_and_customer_grad(r: np.ndarray, alpha: np.ndarray, s: np.ndarray, beta: np.ndarray, x: np.ndarray,
                             t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """``sum_i w_i loglik_i`` and its derivatives with respect to each pattern's own parameters
    (one value of ``r, alpha, s, beta`` per pattern, as with covariates).

    The per-pattern form of :meth:`_PatternLoglik.reference` (``log A0`` and its derivatives from
    the compiled :func:`_a0_patterns`); it replaces the PyTensor derivative of :func:`loglik`
    (:func:`clvmodels.inference.autodiff.covariate_objective`), to which it is tested equal, since
    that graph's quadrature costs tens of microseconds per pattern.

    Examples
    --------
    >>> x, t_x, T = np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 38.86])
    >>> r, alpha, s, beta = (np.full(2, v) for v in (0.553, 10.578, 0.606, 11.669))
    >>> value, grads = loglik_and_customer_grad(r, alpha, s, beta, x, t_x, T, np.ones(2))
    >>> round(value, 4), round(float(loglik({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, x, t_x, T).sum()), 4)
    (-10.0753, -10.0753)
    """
    r, alpha, s, beta, x, t_x, T, w = _as_arrays(r, alpha, s, beta, x, t_x, T, w)
    log_at, log_bt = np.log(alpha + T), np.log(beta + T)
    log_alive = -(r + x) * log_at - s * log_bt
    dead = T > t_x
    first = alpha <= beta
    p1, p2 = r + x, s + 1.0
    a0 = np.zeros((5, len(x)))
    k = np.flatnonzero(dead)
    out = np.empty((5, len(k)))
    f = first[k]
    _compiled_a0()(
        (p1 + p2)[k], np.where(f, p1[k], p2[k]), np.where(f, p2[k], p1[k]), np.where(f, beta[k] - alpha[k], alpha[k] - beta[k]),
        np.where(f, alpha[k], beta[k]), t_x[k], T[k], _NODES, _WEIGHTS, out,
    )
    a0[:, k] = out
    log_a0, g_p, g_large, g_d, g_base = a0
    with np.errstate(divide="ignore"):
        log_dead = np.where(dead, np.log(s) + log_a0, -np.inf)
    mix = np.logaddexp(log_alive, log_dead)
    share = np.where(dead, np.exp(log_dead - mix), 0.0)
    alive = 1.0 - share
    da_r = np.where(first, g_p, g_p + g_large)
    da_s = np.where(first, g_p + g_large, g_p)
    da_alpha = np.where(first, -g_d + g_base, g_d)
    da_beta = np.where(first, g_d, -g_d + g_base)
    value = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta) + mix
    grads = [
        w * (special.digamma(r + x) - special.digamma(r) + np.log(alpha) - alive * log_at + share * da_r),
        w * (r / alpha - alive * (r + x) / (alpha + T) + share * da_alpha),
        w * (np.log(beta) - alive * log_bt + share * (1.0 / s + da_s)),
        w * (s / beta - alive * s / (beta + T) + share * da_beta),
    ]
    return float(w @ value), grads


# above this many patterns, fit first on recency and T rounded to _COARSE_STEPS grid steps
_COARSE_ABOVE = 20_000
_COARSE_STEPS = 200


@register
class ParetoNBD(TransactionModel):
    """Pareto/NBD model of repeat purchasing, fitted by maximum likelihood or Bayesian inference.

    Parameters
    ----------
    penalty : float
        L2 penalty on the parameters (``penalty * sum(theta**2)`` added to the mean negative
        log-likelihood, as ``lifetimes``' ``penalizer_coef``); 0 for plain maximum likelihood.
    priors, draws, tune, chains, target_accept, sampler, random_seed, progressbar, log_likelihood
        Settings of the Bayesian fits (``fit(data, method="nuts")``, ``"advi"``, ``"map"``);
        see :class:`~clvmodels.models.base.Model` and :mod:`clvmodels.inference.bayes`.
    covariates : list of str or dict, optional
        Time-invariant customer covariates (columns of the data given to ``fit`` and to the
        predictions): a list for both processes, or ``{"purchase": [...], "dropout": [...]}``.
        ``alpha_i = alpha0 exp(-gamma_purchase' z_i)``, ``beta_i = beta0 exp(-gamma_dropout' z_i)``
        (Fader & Hardie 2007; CLVTools); numeric covariates are standardised, see
        :mod:`clvmodels.models.covariates`.
    categorical : list of str or dict, optional
        The covariates to dummy-code: a list, or ``{column: reference level}``.

    Notes
    -----
    Maximum likelihood uses a hand-written gradient (:class:`_PatternLoglik`: the derivative
    under the integral sign of A0, compiled with numba; tested equal to PyTensor's derivative of
    :func:`loglik` and to finite differences). The Bayesian fits use the same objective plus
    the log-priors when every prior is one the compiled kernels know, else :func:`loglik`'s
    PyTensor graph (correct, but slow to compile: a few minutes the first time).

    References
    ----------
    Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your customers: who are
    they and what will they do next? Management Science 33(1), 1-24.
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for
    customer base analysis. Journal of Marketing Research 42(4), 415-430.

    Examples
    --------
    >>> from clvmodels import calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> summary = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                     time_unit="W")
    >>> model = ParetoNBD().fit(summary)
    >>> model.params_.round(3).tolist()
    [0.553, 10.578, 0.606, 11.669]
    >>> round(model.loglik_, 1)
    -9595.0
    """

    key = "pareto-nbd"
    display_name = "Pareto/NBD"
    param_names = PARAM_NAMES
    formulas = sys.modules[__name__]
    supports_covariates = True
    covariate_links = {"purchase": (("alpha", -1.0),), "dropout": (("beta", -1.0),)}
    example_params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}  # FHL 2005, CDNOW
    reductions = (
        (
            # mu ~ Gamma(1, e^14): a median lifetime of e^14 log 2 ~ 850,000 time units, nobody
            # leaves in practice, and the formulas keep their accuracy there
            {"s": 1.0, "beta": float(np.exp(14.0))},
            "no customer appears to have dropped out within the {T} time units observed on average; "
            "the Pareto/NBD reduces to the NBD: forecasts assume nobody leaves",
        ),
    )

    @classmethod
    def time_shift(cls, params: Any) -> Any:
        """``min(alpha, beta)``: the future given alive at T is a function of ``alpha + T`` and
        ``beta + T``, singular at ``T = -alpha`` and ``T = -beta``."""
        _, alpha, _, beta = unpack(params, PARAM_NAMES)
        return np.minimum(alpha, beta)

    @staticmethod
    def _objective(patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Any, list, Any]:
        """The likelihood over weighted patterns, starting points and a coarse warm start."""
        from ..data import compress_patterns

        x, t_x, T = patterns
        mean_T = float(np.average(T, weights=weights)) or 1.0
        rate = max(float(np.average(x, weights=weights)), 0.01) / mean_T
        starts = [
            (1.0, 1.0 / rate, 1.0, mean_T),
            (0.5, 0.5 / rate, 0.5, mean_T),
            (1.0, 1.0, 1.0, 1.0),
            (5.0, 5.0 / rate, 0.2, 10.0 * mean_T),
        ]
        coarse = None
        if len(weights) > _COARSE_ABOVE:
            # warm start: recency and T rounded to a grid of _COARSE_STEPS steps
            step = float(T.max()) / _COARSE_STEPS
            (xc, tc, Tc), _, inverse = compress_patterns(x, np.round(t_x / step), np.round(T / step))
            wc = np.bincount(inverse, weights=weights)
            coarse = _PatternLoglik(xc, tc * step, np.maximum(Tc * step, tc * step), wc)
        return _PatternLoglik(x, t_x, T, weights), starts, coarse

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        """The weakly informative default priors, all log-normal (``scale`` = mean T).

        ``r ~ LogNormal(0, 1.5)``, ``s ~ LogNormal(0, 1.5)``
            shapes of the Gamma distributions of the purchase and dropout rates; their
            coefficients of variation are ``1 / sqrt(r)`` and ``1 / sqrt(s)``, and 95% prior
            mass in [0.05, 19] spans rates that are extremely heterogeneous to nearly
            homogeneous (CDNOW: 0.55 and 0.61).
        ``alpha ~ LogNormal(log(scale), 2)``
            rate parameter of the purchase rates (time units). With r near 1 the mean purchase
            rate ``r / alpha`` is centred on one purchase per average observation period and
            may be 50 times larger or smaller at 2 sd.
        ``beta ~ LogNormal(log(scale), 2)``
            rate parameter of the dropout rates (time units). With s near 1 the mean lifetime
            is of the order of ``beta`` (``beta / (s - 1)`` for s > 1): centred on the average
            observation period, from customers who leave almost at once to customers who stay
            50 times longer than observed. Without the bound that this puts on beta, data with
            few dropouts leave the likelihood flat along ``s, beta -> infinity`` at a fixed
            mean dropout rate ``s / beta``.

        Examples
        --------
        >>> ParetoNBD.default_priors(32.7)["beta"]
        Prior('LogNormal', mu=3.487375077903208, sigma=2.0)
        """
        from ..inference.bayes import Prior

        return {
            "r": Prior("LogNormal", mu=0.0, sigma=1.5),
            "alpha": Prior("LogNormal", mu=float(np.log(scale)), sigma=2.0),
            "s": Prior("LogNormal", mu=0.0, sigma=1.5),
            "beta": Prior("LogNormal", mu=float(np.log(scale)), sigma=2.0),
        }


# -- the same in compiled form: one pattern at a time ------------------------------------------

# below this z = |alpha - beta| / (max(alpha, beta) + t_x) the 2F1 series is used
_SERIES_BELOW = 0.5


def _a0_series(p_total: float, p_large: float, d: float, base: float, t1: float, t2: float,
               out1: np.ndarray, out2: np.ndarray) -> tuple[float, float]:
    """``log G(t)``, ``G(t) = integral_t^inf`` of the A0 integrand, at t1 and t2, by the hypergeometric series.

    ``G(t) = (m+t)^(1-p_m) (M+t)^-p_M / (P-1) 2F1(1, p_M; P; z)``, ``z = d / (M+t)``
    (Fader & Hardie 2005 note, eq. 16-18, after Euler's transformation), whose series
    ``sum_n c_n z^n``, ``c_{n+1} = c_n (p_M + n) / (P + n)``, has positive terms falling at
    least as fast as ``z^n``; the coefficients are shared by both t. Writes
    ``d log G / d(P, p_M, d, m)`` to ``out1`` and ``out2``.
    """
    p_small = p_total - p_large
    Mt1, Mt2 = base + d + t1, base + d + t2
    z1, z2 = d / Mt1, d / Mt2
    c = 1.0
    hP = hl = 0.0  # sums of -1/(P+j) and 1/(p_M+j) over j < n
    total1 = total2 = 1.0
    dz1 = dP1 = dl1 = dz2 = dP2 = dl2 = 0.0
    zl1 = zl2 = 1.0  # z^(n-1)
    n = 0
    while True:
        hP -= 1.0 / (p_total + n)
        hl += 1.0 / (p_large + n)
        c = c * (p_large + n) / (p_total + n)
        n += 1
        dz1 += n * c * zl1
        dz2 += n * c * zl2
        zl1 *= z1
        zl2 *= z2
        term1, term2 = c * zl1, c * zl2
        total1 += term1
        total2 += term2
        dP1 += term1 * hP
        dl1 += term1 * hl
        dP2 += term2 * hP
        dl2 += term2 * hl
        if term1 < 1e-17 * total1 or n > 2000:  # z2 <= z1: the second has converged too
            break
    logs = np.empty(2)
    for k in range(2):
        t, Mt, total, dz, dP, dl, out = (
            (t1, Mt1, total1, dz1, dP1, dl1, out1) if k == 0 else (t2, Mt2, total2, dz2, dP2, dl2, out2)
        )
        mt = base + t
        log_mt, log_Mt = math.log(mt), math.log(Mt)
        out[0] = -log_mt - 1.0 / (p_total - 1.0) + dP / total
        out[1] = log_mt - log_Mt + dl / total
        out[2] = -p_large / Mt + dz / total * mt / (Mt * Mt)
        out[3] = (1.0 - p_small) / mt - p_large / Mt - dz / total * d / (Mt * Mt)
        logs[k] = (1.0 - p_small) * log_mt - p_large * log_Mt - math.log(p_total - 1.0) + math.log(total)
    return logs[0], logs[1]


def _a0_patterns(p_total: np.ndarray, p_small: np.ndarray, p_large: np.ndarray, d: np.ndarray, base: np.ndarray,
                 t_x: np.ndarray, T: np.ndarray, nodes: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
    """``log A0`` and its derivatives (as :func:`_log_a0_and_grad`) pattern by pattern, compiled.

    Where ``z = d / (M + t_x) <= _SERIES_BELOW``, ``A0 = G(t_x) - G(T)`` by :func:`_a0_series`;
    elsewhere the panels of :func:`_log_concave_integral`. ``out`` is ``(5, n)``.
    """
    series = _series_jit
    g1, g2 = np.empty(4), np.empty(4)
    for i in range(len(p_total)):
        P, ps, pl, di, b, tx, Ti = p_total[i], p_small[i], p_large[i], d[i], base[i], t_x[i], T[i]
        if not Ti > tx:
            out[0, i] = 0.0
            out[1, i] = out[2, i] = out[3, i] = out[4, i] = 0.0
            continue
        if di / (b + di + tx) <= _SERIES_BELOW:
            log_g1, log_g2 = series(P, pl, di, b, tx, Ti, g1, g2)
            ratio = math.exp(log_g2 - log_g1)  # G(T) / G(t_x) < 1
            out[0, i] = log_g1 + math.log1p(-ratio)
            for k in range(4):
                out[1 + k, i] = (g1[k] - ratio * g2[k]) / (1.0 - ratio)
            continue
        rise = 1.0 - P
        lo, hi = math.log(b + tx), math.log(b + Ti)
        top = lo
        if ps < 1.0 and di > 0:
            top = min(max(math.log(di) + math.log(1.0 - ps) - math.log(P - 1.0), lo), hi)
        phi_top = rise * top - pl * math.log1p(di * math.exp(-top))
        s0 = s1 = s2 = s3 = 0.0
        for side in range(2):
            sign = 1.0 if side == 0 else -1.0
            count = _PANELS_UP if side == 0 else _PANELS_DOWN
            end = hi if side == 0 else lo
            v = top
            for _ in range(count):
                remaining = sign * (end - v)
                if not remaining > 0:
                    break
                q = di * math.exp(-v)
                share = q / (1.0 + q)
                slope = rise + pl * share
                curvature = pl * share / (1.0 + q)
                descent = max(-sign * slope, 0.0)
                if rise * v - pl * math.log1p(q) - phi_top - math.log(max(descent, 1e-300)) < -40.0:
                    break
                width = _DROP / (descent + math.sqrt(_GROWTH * _DROP * curvature) + 1e-3)
                width = min(min(width, _WIDTH), remaining)
                for j in range(len(nodes)):
                    u = v + sign * width * nodes[j]
                    e = math.exp(-u)
                    qq = di * e
                    l1 = math.log1p(qq)
                    w = math.exp(rise * u - pl * l1 - phi_top) * weights[j] * width
                    s0 += w
                    s1 -= w * u
                    s2 -= w * l1
                    s3 -= pl * w * e / (1.0 + qq)
                v = v + sign * width
        edge_hi = math.exp(rise * hi - pl * math.log1p(di * math.exp(-hi)) - phi_top) / (b + Ti)
        edge_lo = math.exp(rise * lo - pl * math.log1p(di * math.exp(-lo)) - phi_top) / (b + tx)
        out[0, i] = phi_top + math.log(s0)
        out[1, i] = s1 / s0
        out[2, i] = s2 / s0
        out[3, i] = s3 / s0
        out[4, i] = (edge_hi - edge_lo) / s0


_series_jit: Any = None


def _pattern_loglik(theta: np.ndarray, x: np.ndarray, T: np.ndarray, w: np.ndarray, dead: np.ndarray, xd: np.ndarray,
                    txd: np.ndarray, Td: np.ndarray, xs: np.ndarray, wx: np.ndarray, nodes: np.ndarray,
                    weights: np.ndarray, grad: np.ndarray) -> float:
    """:class:`_PatternLoglik`'s value and gradient in one compiled pass (no GIL held), so that
    several sampler threads evaluate it at once. ``dead`` indexes the patterns with ``T > t_x``
    (``xd, txd, Td`` are theirs); ``xs, wx`` the distinct frequencies and their weights."""
    r, alpha, s, beta = theta[0], theta[1], theta[2], theta[3]
    nd = len(xd)
    first = alpha <= beta
    p_total = np.empty(nd)
    p_small = np.empty(nd)
    p_large = np.empty(nd)
    d = np.empty(nd)
    base = np.empty(nd)
    for j in range(nd):
        p1, p2 = r + xd[j], s + 1.0
        p_total[j] = p1 + p2
        p_small[j] = p1 if first else p2
        p_large[j] = p2 if first else p1
        d[j] = (beta - alpha) if first else (alpha - beta)
        base[j] = alpha if first else beta
    a0 = np.empty((5, nd))
    _a0_patterns_jit(p_total, p_small, p_large, d, base, txd, Td, nodes, weights, a0)
    n = 0.0
    for i in range(len(w)):
        n += w[i]
    log_alpha, log_beta = math.log(alpha), math.log(beta)
    value = n * (r * log_alpha + s * log_beta)
    g0 = n * log_alpha
    g1 = n * r / alpha
    g2 = n * log_beta
    g3 = n * s / beta
    lg_r, dg_r = math.lgamma(r), _digamma(r)
    for k in range(len(xs)):
        value += wx[k] * (math.lgamma(r + xs[k]) - lg_r)
        g0 += wx[k] * (_digamma(r + xs[k]) - dg_r)
    log_s = math.log(s)
    j = 0
    for i in range(len(w)):
        log_at, log_bt = math.log(alpha + T[i]), math.log(beta + T[i])
        log_alive = -(r + x[i]) * log_at - s * log_bt
        share = 0.0
        da0 = da1 = da2 = da3 = 0.0
        if j < nd and dead[j] == i:
            log_dead = log_s + a0[0, j]
            g_p, g_large, g_d, g_base = a0[1, j], a0[2, j], a0[3, j], a0[4, j]
            if first:
                da0, da2 = g_p, g_p + g_large
                da1, da3 = -g_d + g_base, g_d
            else:
                da0, da2 = g_p + g_large, g_p
                da1, da3 = g_d, -g_d + g_base
            top = max(log_alive, log_dead)
            mix = top + math.log1p(math.exp(-abs(log_alive - log_dead)))
            share = math.exp(log_dead - mix)
            j += 1
        else:
            mix = log_alive
        alive = 1.0 - share
        wi = w[i]
        value += wi * mix
        g0 += wi * (-alive * log_at + share * da0)
        g1 += wi * (-alive * (r + x[i]) / (alpha + T[i]) + share * da1)
        g2 += wi * (-alive * log_bt + share * (1.0 / s + da2))
        g3 += wi * (-alive * s / (beta + T[i]) + share * da3)
    grad[0], grad[1], grad[2], grad[3] = g0, g1, g2, g3
    return value


_pattern_loglik_jit: Any = None


def _compiled_pattern_loglik() -> Any:
    """:func:`_pattern_loglik` compiled by numba (on first use; cached on disk)."""
    global _pattern_loglik_jit
    if _pattern_loglik_jit is None:
        import numba

        from ..inference._numba_kernels import digamma

        _compiled_a0()
        globals()["_digamma"] = digamma
        _pattern_loglik_jit = numba.njit(nogil=True, cache=True, error_model="numpy")(_pattern_loglik)
    return _pattern_loglik_jit


def _compiled_a0() -> Any:
    """:func:`_a0_patterns` compiled by numba (imported here, on first use; cached on disk)."""
    global _series_jit
    if _series_jit is None:
        import numba

        jit = numba.njit(nogil=True, cache=True, error_model="numpy")
        _series_jit = jit(_a0_series)
        globals()["_a0_patterns_jit"] = jit(_a0_patterns)
    return globals()["_a0_patterns_jit"]
