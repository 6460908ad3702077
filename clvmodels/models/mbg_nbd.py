"""The MBG/NBD model of repeat purchasing (Batislam, Denizel & Filiztekin 2007).

While alive, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)`` (shape r, rate
alpha); right after the first purchase (time 0) and after each repeat purchase the customer
drops out with probability ``p ~ Beta(a, b)``. The only difference from the BG/NBD
(:mod:`clvmodels.models.beta_geo`) is the chance to drop out at time 0, so a customer without
a repeat purchase is not certainly alive: P(alive) of a one-off buyer falls with T.

Two facts carry most of the BG/NBD mathematics over, and the functions below reuse
:mod:`clvmodels.models.beta_geo` through them:

- Given the history ``(x, t_x, T)`` and alive at T, the customer has survived ``x + 1``
  dropout chances (at 0 and after each purchase) and made x purchases in T, so the posterior is
  ``lambda ~ Gamma(r + x, alpha + T)``, ``p ~ Beta(a, b + x + 1)``; from T on, the customer is
  alive, buys at rate lambda and may drop out after each purchase: a BG/NBD process with
  parameters ``(r + x, alpha + T, a, b + x + 1)``.
- A new customer survives time 0 with probability ``E[1 - p] = b / (a + b)``, after which
  ``p ~ Beta(a, b + 1)``: from then on a BG/NBD process with ``(r, alpha, a, b + 1)``.

The per-customer formulas are pure broadcasting functions of ``(params, data)``: see
:mod:`clvmodels.models.params`. Times are in the data's time unit.

References
----------
Batislam, E. P., Denizel, M. & Filiztekin, A. (2007). Empirical validation and comparison of
models for customer base analysis. International Journal of Research in Marketing 24(3),
201-209.
Wagner, U. & Hoppe, D. (2008). Erratum on the MBG/NBD model. International Journal of
Research in Marketing 25(3), 225-226.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from ..data import compress_patterns
from . import beta_geo as bg
from .base import TransactionModel
from .ops import NUMPY_OPS
from .params import unpack
from .patterns import FrequencyLevels, wsum
from .registry import register

__all__ = [
    "ModifiedBetaGeo",
    "PARAM_NAMES",
    "loglik",
    "loglik_grad",
    "prob_alive",
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
    "simulate_future_if_alive",
]

PARAM_NAMES = ("r", "alpha", "a", "b")

# above this many patterns, fit first on recency and T rounded to _COARSE_STEPS grid steps
_COARSE_ABOVE = 20_000
_COARSE_STEPS = 200
_LN2 = float(np.log(2.0))


def _future_params(params: Any) -> dict[str, Any]:
    """``(r, alpha, a, b + 1)``: the BG/NBD parameters of a customer who survived time 0.

    The BG/NBD formulas of :mod:`clvmodels.models.beta_geo` for a customer alive at T use
    ``(r + x, alpha + T, a, b + x)``; given these parameters they use the MBG/NBD posterior
    ``(r + x, alpha + T, a, b + x + 1)`` (one more dropout chance survived, at time 0).
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    return {"r": r, "alpha": alpha, "a": a, "b": b + 1.0}


# -- the likelihood --------------------------------------------------------------------------------


def _frequency_terms(r: Any, a: Any, b: Any, x: Any, ops: Any) -> tuple[Any, Any]:
    """The terms of the log-likelihood that depend on the data through x only.

    ``lnG(r+x) - lnG(r)`` and ``A2 = lnB(a, b+x+1) - lnB(a, b)`` (``E[(1-p)^(x+1)]``).
    """
    g = ops.gammaln(r + x) - ops.gammaln(r)
    a2 = ops.gammaln(a + b) + ops.gammaln(b + x + 1) - ops.gammaln(b) - ops.gammaln(a + b + x + 1)
    return g, a2


def _recency_terms(r: Any, alpha: Any, a: Any, b: Any, x: Any, t_x: Any, T: Any, ops: Any) -> tuple[Any, ...]:
    """``A3 = -(r+x) ln(alpha+T)`` and ``A4 = ln a - ln(b+x) - (r+x) ln(alpha+t_x)``.

    Unlike the BG/NBD's, ``A4`` (dropped out right after the last purchase, or at time 0
    when x = 0) enters for every x. Also returns ``ln(alpha+T)`` and ``ln(alpha+t_x)`` for the
    gradient.
    """
    log_at, log_ar = ops.log(alpha + T), ops.log(alpha + t_x)
    a3 = -(r + x) * log_at
    a4 = ops.log(a) - ops.log(b + x) - (r + x) * log_ar
    return a3, a4, log_at, log_ar


def _log_sum_exp(u: Any, v: Any, ops: Any) -> Any:
    """``ln(exp(u) + exp(v)) = max(u, v) + ln(1 + exp(-|u - v|))``, stable in both backends.

    PyTensor's ``logaddexp`` is ``log(exp(u) + exp(v))``: its value is rewritten to a stable
    form when compiled, but not its gradient, which is NaN once both exponentials underflow
    (``u, v < -745``, for example x = 150 purchases with ``alpha + T = 150``). Here
    ``exp(-|u - v|)`` is in (0, 1], so neither the value nor the gradient overflows.
    """
    return ops.maximum(u, v) + ops.log(1.0 + ops.exp(-ops.maximum(u - v, v - u)))


def _no_repeat_near_one(r: Any, alpha: Any, a: Any, b: Any, T: Any, ops: Any) -> Any:
    """``ln L`` of a customer without a repeat purchase, accurate where L is near 1.

    For x = 0, ``L = b/(a+b) q + a/(a+b) = 1 + b/(a+b) (q - 1)`` with
    ``q = (alpha/(alpha+T))^r``, so ``ln L = log1p(b/(a+b) expm1(-r log1p(T/alpha)))``. Where
    ``L > 1/2`` the argument of ``log1p`` is in (-1/2, 0] and this keeps full relative precision
    when ``ln L`` is tiny (T small against alpha, or most customers gone at time 0), where the
    log-sum-exp form, a sum of terms of order 1, loses it.
    """
    return ops.log1p(b / (a + b) * ops.expm1(-r * ops.log1p(T / alpha)))


def loglik(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, ops: Any = NUMPY_OPS) -> Any:
    """Per-customer MBG/NBD log-likelihood, in the log-sum-exp form.

    ``L(lambda, p | x, t_x, T) = (1-p)^(x+1) lambda^x e^(-lambda T) + p (1-p)^x lambda^x e^(-lambda t_x)``
    (alive at T, or dropped out right after the x-th purchase, at time 0 if x = 0;
    Batislam et al. 2007, appendix; Wagner & Hoppe 2008). Integrated over the Gamma and Beta
    distributions: ``ln L = A1 + A2 + ln(exp(A3) + exp(A4))`` with
    ``A1 = lnG(r+x) - lnG(r) + r ln(alpha)``,
    ``A2 = lnG(a+b) + lnG(b+x+1) - lnG(b) - lnG(a+b+x+1)``,
    ``A3 = -(r+x) ln(alpha+T)``,
    ``A4 = ln(a) - ln(b+x) - (r+x) ln(alpha+t_x)``,
    the log-sum-exp taken as ``max + ln(1 + exp(-|A3 - A4|))`` (finite gradients in PyTensor).
    For x = 0 and ``ln L > -ln 2`` the equivalent ``log1p`` form of
    :func:`_no_repeat_near_one` is used, so the value keeps its relative precision where it
    is near 0 too (tested against 30-digit arithmetic to 1e-10 across the parameter space).

    Parameters
    ----------
    params : mapping or DataFrame
        ``r, alpha, a, b`` (see :mod:`clvmodels.models.params`).
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
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> loglik(params, np.array([2, 0]), np.array([30.43, 0.0]), np.array([38.86, 38.86])).round(4)
    array([-9.4856, -0.5398])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = frequency
    g, a2 = _frequency_terms(r, a, b, x, ops)
    a3, a4, _, _ = _recency_terms(r, alpha, a, b, x, recency, T, ops)
    general = g + r * ops.log(alpha) + a2 + _log_sum_exp(a3, a4, ops)
    near_one = _no_repeat_near_one(r, alpha, a, b, T, ops)
    return ops.where(x > 0, general, ops.where(general > -_LN2, near_one, general))


def _frequency_grad(r: Any, a: Any, b: Any, x: Any) -> tuple[Any, Any, Any]:
    """Derivatives of :func:`_frequency_terms` with respect to r, a and b."""
    dg_ab, dg_abx = special.digamma(a + b), special.digamma(a + b + x + 1)
    f_r = special.digamma(r + x) - special.digamma(r)
    return f_r, dg_ab - dg_abx, dg_ab + special.digamma(b + x + 1) - special.digamma(b) - dg_abx


def _recency_grad(r: Any, alpha: Any, a: Any, b: Any, x: Any, t_x: Any, T: Any, terms: tuple, w4: Any) -> tuple[Any, ...]:
    """Derivatives of ``ln(exp(A3) + exp(A4))`` with respect to r, alpha, a, b.

    ``terms`` is the output of :func:`_recency_terms` at the same point and ``w4`` the share
    ``exp(A4) / (exp(A3) + exp(A4))`` of the "dropped out after the last purchase" term.
    """
    _, _, log_at, log_ar = terms
    w3 = 1.0 - w4
    d_r = -(w3 * log_at + w4 * log_ar)
    d_alpha = -(r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    return d_r, d_alpha, w4 / a, -w4 / (b + x)


def loglik_grad(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Gradient of :func:`loglik` with respect to ``(r, alpha, a, b)``.

    Returns
    -------
    ndarray
        Shape ``(4,) + broadcast shape``: the derivative of each customer's log-likelihood.

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> grad = loglik_grad(params, 0, 0.0, 38.86)
    >>> step = dict(params, b=params["b"] + 1e-6)
    >>> numeric = (loglik(step, 0, 0.0, 38.86) - loglik(params, 0, 0.0, 38.86)) / 1e-6
    >>> grad.shape, bool(np.isclose(grad[3], numeric, rtol=1e-5))
    ((4,), True)
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    t_x = np.asarray(recency, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    terms = _recency_terms(r, alpha, a, b, x, t_x, T, NUMPY_OPS)
    w4 = special.expit(terms[1] - terms[0])
    d_r, d_alpha, d_a, d_b = _recency_grad(r, alpha, a, b, x, t_x, T, terms, w4)
    f_r, f_a, f_b = _frequency_grad(r, a, b, x)
    return np.stack(np.broadcast_arrays(d_r + f_r + np.log(alpha), d_alpha + r / alpha, d_a + f_a, d_b + f_b))


class _PatternLoglik:
    """Total log-likelihood and gradient over weighted patterns, for maximum likelihood.

    The terms of :func:`loglik`, arranged for speed. For the repeat buyers the frequency-only
    terms (log-gamma and digamma functions) are evaluated once per distinct frequency
    (:class:`~clvmodels.models.patterns.FrequencyLevels`), the rest with three logarithms and
    one exponential per pattern, and the weighted sums are one matrix-vector product. The
    customers without a repeat purchase are kept apart: their likelihood
    ``L = 1 + c expm1(-u)``, ``c = b/(a+b)``, ``u = r log1p(T/alpha)``, depends on T only; its
    logarithm is ``log1p(c expm1(-u))`` where ``L > 1/2`` (as in :func:`loglik`) and
    ``ln c + logaddexp(-u, ln(a/b))`` elsewhere, and its gradient
    ``d ln L = (c d expm1(-u) + expm1(-u) dc) / L`` is a sum of products without cancellation.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray) -> None:
        none = x == 0
        self.T0, self.w0 = T[none], weights[none]
        self.x1, self.t1, self.T1, self.w1 = x[~none], t_x[~none], T[~none], weights[~none]
        self.levels = FrequencyLevels.from_patterns(self.x1, self.w1)
        self.n1 = float(self.w1.sum())
        self._rows = np.empty((5, len(self.x1)))  # per-pattern value and gradient terms

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = (float(v) for v in theta)
        lv = self.levels
        # x > 0, per level: lnG(r+x) - lnG(r) + A2 and their derivatives, from one log-gamma
        # and one digamma call on the arguments (r + x, b + x + 1, a + b + x + 1) and (r, b, a + b)
        k = len(lv.x)
        args = np.concatenate([r + lv.x, b + 1.0 + lv.x, a + b + 1.0 + lv.x, [r, b, a + b]])
        lg, dg = special.gammaln(args), special.digamma(args)
        weight = lv.weight
        g_sum = (lg[:k] + lg[k : 2 * k] - lg[2 * k : 3 * k]) @ weight
        psi_r, psi_b, psi_ab = dg[:k] @ weight, dg[k : 2 * k] @ weight, dg[2 * k : 3 * k] @ weight
        const = lg[-1] - lg[-3] - lg[-2]  # lnG(a + b) - lnG(r) - lnG(b)
        dig_r, dig_b, dig_ab = dg[-3], dg[-2], dg[-1]
        # x > 0, per pattern: A3 + softplus(A4 - A3) and its derivatives (see _recency_grad)
        x1, rows = self.x1, self._rows
        log_at, log_ar = np.log(alpha + self.T1), np.log(alpha + self.t1)
        rx = r + x1
        inv_bx = 1.0 / (b + x1)
        d = rx * (log_at - log_ar) + (np.log(a) + np.log(inv_bx))  # A4 - A3
        softplus, w4 = bg._softplus_and_sigmoid(d)
        np.subtract(softplus, rx * log_at, out=rows[0])
        np.subtract(w4 * (log_at - log_ar), log_at, out=rows[1])
        np.multiply(-rx, (1.0 - w4) / (alpha + self.T1) + w4 / (alpha + self.t1), out=rows[2])
        rows[3] = w4
        np.multiply(w4, inv_bx, out=rows[4])
        v, s_r, s_alpha, s_w4, s_w4b = rows @ self.w1
        # x = 0, per distinct T
        c = b / (a + b)
        log_ratio = np.log1p(self.T0 / alpha)  # du/dr
        u = r * log_ratio
        one_minus_q = -np.expm1(-u)
        ll0 = np.log1p(-c * one_minus_q)
        far = ll0 <= -_LN2
        if far.any():
            ll0[far] = np.log(c) + np.logaddexp(-u[far], np.log(a) - np.log(b))
        q_over_l = np.exp(-u - ll0)  # q / L
        e_over_l = one_minus_q * np.exp(-ll0)  # (1 - q) / L
        w0 = self.w0
        n1, log_alpha = self.n1, np.log(alpha)
        value = g_sum + n1 * (const + r * log_alpha) + v + float(w0 @ ll0)
        grad = np.array(
            [
                psi_r - n1 * dig_r + n1 * log_alpha + s_r - c * float(w0 @ (q_over_l * log_ratio)),
                n1 * r / alpha + s_alpha + c * r * float(w0 @ (q_over_l * self.T0 / (alpha * (alpha + self.T0)))),
                n1 * dig_ab - psi_ab + s_w4 / a + b / (a + b) ** 2 * float(w0 @ e_over_l),
                n1 * (dig_ab - dig_b) + psi_b - psi_ab - s_w4b - a / (a + b) ** 2 * float(w0 @ e_over_l),
            ]
        )
        return float(value), grad


# -- predictions -----------------------------------------------------------------------------------


def prob_alive(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Probability that a customer with history (x, t_x, T) is still alive at T.

    ``P(alive) = 1 / (1 + a / (b + x) ((alpha + T) / (alpha + t_x))^(r + x))``
    (Batislam et al. 2007, appendix A, eq. 5), evaluated as a logistic function of the log
    odds. Unlike the BG/NBD's it is below 1 for customers without a repeat purchase too.

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> prob_alive(params, np.array([0, 2]), np.array([0.0, 30.43]), np.array([38.86, 38.86])).round(4)
    array([0.3897, 0.7062])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    t_x = np.asarray(recency, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    log_odds_dead = np.log(a) - np.log(b + x) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    return special.expit(-log_odds_dead)


def expected_purchases_new(params: Any, t: ArrayLike) -> np.ndarray:
    """Expected number of repeat purchases in (0, t] of a customer acquired at 0.

    ``E[X(t)] = b / (a - 1) [1 - (alpha/(alpha+t))^r 2F1(r, b + 1; a + b; t/(alpha+t))]``
    (Batislam et al. 2007, eq. 4): the customer survives time 0 with probability
    ``b / (a + b)`` and is then a BG/NBD customer with ``(r, alpha, a, b + 1)``, so this is
    ``b / (a + b)`` times the BG/NBD expectation
    (:func:`clvmodels.models.beta_geo.expected_purchases_new`) at those parameters.

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> expected_purchases_new(params, np.array([1.0, 78.0])).round(4)
    array([0.0531, 1.8048])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    return b / (a + b) * bg._expected_new(r, alpha, a, b + 1.0, np.asarray(t, dtype=np.float64))


def expected_purchases(
    params: Any, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected number of purchases in (T, T + t] given the history (x, t_x, T).

    Given alive at T the future is a BG/NBD process with parameters
    ``(r + x, alpha + T, a, b + x + 1)`` (module docstring), so
    ``E[Y(t) | x, t_x, T] = P(alive) (a + b + x)/(a - 1) [1 - ((alpha + T)/(alpha + T + t))^(r+x)
    2F1(r + x, b + x + 1; a + b + x; t/(alpha + T + t))]`` (Wagner & Hoppe 2008).

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> expected_purchases(params, 39, np.array([2, 0]), np.array([30.43, 0.0]), np.array([38.86, 38.86])).round(3)
    array([1.263, 0.154])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    alive = prob_alive(params, x, recency, T)
    return alive * bg._expected_new(r + x, alpha + np.asarray(T, dtype=np.float64), a, b + x + 1.0, t)


def prob_purchases(params: Any, n: ArrayLike, t: ArrayLike) -> np.ndarray:
    """Probability that a customer acquired at 0 makes exactly ``n`` repeat purchases in (0, t].

    A new customer drops out at time 0 with probability ``a / (a + b)`` (and then makes none)
    or becomes a BG/NBD customer with ``(r, alpha, a, b + 1)``:
    ``P(X(t) = n) = a/(a+b) [n = 0] + b/(a+b) P_BG(X(t) = n; r, alpha, a, b + 1)``, which is
    lifetimes' ``probability_of_n_purchases_up_to_time`` written with the negative binomial tail.

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> p = prob_purchases(params, np.arange(300), 39.0)
    >>> round(float(p.sum()), 10), round(float(p[0]), 4)
    (1.0, 0.5825)
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    n = np.asarray(n, dtype=np.float64)
    survive = b / (a + b)
    future = bg._pmf_new(r, alpha, a, b + 1.0, n, np.asarray(t, dtype=np.float64))
    return survive * future + np.where(n == 0, 1.0 - survive, 0.0)


def prob_purchases_conditional(
    params: Any, n: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Probability of exactly ``n`` purchases in (T, T + t] given the history (x, t_x, T).

    A customer dead at T makes none; one alive at T starts a BG/NBD process with parameters
    ``(r + x, alpha + T, a, b + x + 1)``:
    ``P(Y(t) = n | x, t_x, T) = (1 - P(alive)) [n = 0] + P(alive) P_BG(X(t) = n; r+x, alpha+T, a, b+x+1)``.

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> n = np.arange(200)[:, None]
    >>> pmf = prob_purchases_conditional(params, n, 39.0, x, t_x, T)
    >>> pmf[:3, 0].round(3), round(float(pmf.sum()), 8), round(float((n * pmf).sum()), 3)
    (array([0.44 , 0.234, 0.146]), 1.0, 1.263)
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    alive = prob_alive(params, x, recency, T)
    T = np.asarray(T, dtype=np.float64)
    future = bg._pmf_new(r + x, alpha + T, a, b + x + 1.0, n, np.asarray(t, dtype=np.float64))
    return alive * future + np.where(n == 0, 1.0 - alive, 0.0)


def prob_purchases_table(
    params: Any, k_max: int, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """:func:`prob_purchases_conditional` for ``n = 0 .. k_max`` at once: shape ``(k_max + 1, N)``.

    For a point estimate; the BG/NBD table of the future given alive at T
    (:func:`clvmodels.models.beta_geo._pmf_table` at ``(r + x, alpha + T, a, b + x + 1)``),
    mixed with the point mass at 0 of the customers dead at T.

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> table = prob_purchases_table(params, 3, 39.0, [2, 0], [30.43, 0.0], [38.86, 38.86])
    >>> bool(np.allclose(table[:, 1], prob_purchases_conditional(params, np.arange(4), 39.0, 0, 0.0, 38.86)))
    True
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    if np.ndim(r) != 0:
        raise ValueError("prob_purchases_table takes a point estimate (one parameter set).")
    x = np.atleast_1d(np.asarray(frequency, dtype=np.float64))
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    alive = prob_alive(params, x, np.atleast_1d(np.asarray(recency, dtype=np.float64)), T)
    table = alive * bg._pmf_table(r + x, alpha + T, a, b + x + 1.0, t, int(k_max))
    table[0] += 1.0 - alive
    return table


def discounted_purchases_if_alive(
    params: Any, t: float, discount_rate: float, frequency: ArrayLike, T: ArrayLike, *, n_nodes: int | None = None
) -> np.ndarray:
    """Continuously discounted expected purchases in (T, T + t] given alive at T.

    ``integral_0^t exp(-delta s) dE[Y(s) | alive at T]``. Alive at T, the future is the BG/NBD
    process ``(r + x, alpha + T, a, b + x + 1)``, so this is
    :func:`clvmodels.models.beta_geo.discounted_purchases_if_alive` at ``(r, alpha, a, b + 1)``
    (same quadrature, relative error below 1e-8; ``discount_rate = 0`` gives the undiscounted
    expectation, an infinite ``t`` needs a positive rate). It depends on the history through x
    and T only.

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> if_alive = discounted_purchases_if_alive(params, 39.0, np.log(1.15) / 52, x, T)
    >>> bool(np.isclose(if_alive * prob_alive(params, x, t_x, T),
    ...                 discounted_expected_purchases(params, 39.0, np.log(1.15) / 52, x, t_x, T)).all())
    True
    """
    return bg.discounted_purchases_if_alive(_future_params(params), t, discount_rate, frequency, T, n_nodes=n_nodes)


def discounted_expected_purchases(
    params: Any,
    t: float,
    discount_rate: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    n_nodes: int | None = None,
) -> np.ndarray:
    """Continuously discounted expected purchases in (T, T + t] given the history (x, t_x, T).

    ``P(alive) * discounted_purchases_if_alive``; see :func:`discounted_purchases_if_alive`
    and :func:`clvmodels.models.beta_geo.discounted_expected_purchases` for the quadrature.

    Parameters
    ----------
    params : mapping or DataFrame
        ``r, alpha, a, b``; a DataFrame of draws gives ``(draws, customers)`` results.
    t : float
        Horizon in the data's time unit; ``numpy.inf`` for the infinite horizon.
    discount_rate : float
        Continuously compounded rate per time unit, ``delta``.
    frequency, recency, T : array_like
        The customers' histories.
    n_nodes : int, optional
        Quadrature nodes per panel (by default chosen to converge to 1e-11).

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> det = discounted_expected_purchases(params, 39.0, np.log(1.15) / 52, x, t_x, T)
    >>> bool(det[0] < expected_purchases(params, 39.0, x, t_x, T)[0]), det.round(4)
    (True, array([1.203]))
    """
    alive = prob_alive(params, frequency, recency, T)
    return alive * discounted_purchases_if_alive(params, t, discount_rate, frequency, T, n_nodes=n_nodes)


def discounted_purchases_if_alive_discrete(
    params: Any, n_periods: int, period: float, discount_rate: float, frequency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """:func:`discounted_expected_purchases_discrete` given that the customer is alive at T.

    :func:`clvmodels.models.beta_geo.discounted_purchases_if_alive_discrete` at
    ``(r, alpha, a, b + 1)`` (the future given alive at T is a BG/NBD process).

    Examples
    --------
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> if_alive = discounted_purchases_if_alive_discrete(params, 12, 4.345, 0.01, x, T)
    >>> bool(np.isclose(if_alive * prob_alive(params, x, t_x, T),
    ...                 discounted_expected_purchases_discrete(params, 12, 4.345, 0.01, x, t_x, T)).all())
    True
    """
    return bg.discounted_purchases_if_alive_discrete(_future_params(params), n_periods, period, discount_rate, frequency, T)


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
    >>> params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> bool(np.isclose(discounted_expected_purchases_discrete(params, 12, 4.345, 0.0, x, t_x, T),
    ...                 expected_purchases(params, 12 * 4.345, x, t_x, T)).all())
    True
    """
    alive = prob_alive(params, frequency, recency, T)
    return alive * discounted_purchases_if_alive_discrete(params, n_periods, period, discount_rate, frequency, T)


# -- simulation ------------------------------------------------------------------------------------


def simulate(
    params: Any,
    T: ArrayLike,
    *,
    holdout: float | ArrayLike | None = None,
    random_seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate MBG/NBD customers observed for ``T`` time units after their first purchase.

    Each customer draws ``lambda ~ Gamma(r, alpha)``, ``p ~ Beta(a, b)`` and the number of
    repeat purchases after which they drop out, ``J = Geometric(p) - 1`` (0 when they drop out
    right after the first purchase). Given ``N`` Poisson events in (0, T], the customer makes
    ``x = min(N, J)`` repeat purchases and the x-th falls at ``T * Beta(x, N - x + 1)`` (an
    order statistic of N uniforms).

    Parameters
    ----------
    params : mapping
        ``r, alpha, a, b`` (scalars).
    T : array_like
        Observation length of each customer (its size is the number of customers).
    holdout : float or array_like, optional
        Length of a holdout period after T; adds ``frequency_holdout`` and ``duration_holdout``.
    random_seed : int or Generator, optional
        Seed; the same seed gives the same customers.

    Returns
    -------
    DataFrame
        ``frequency, recency, T`` (and the holdout columns), plus the latent ``lambda_`` and
        ``p_``, indexed ``0 .. N-1`` as ``customer_id``.

    Examples
    --------
    >>> sim = simulate({"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}, np.full(3, 39.0),
    ...                random_seed=1)
    >>> list(sim.columns)
    ['frequency', 'recency', 'T', 'lambda_', 'p_']
    """
    r, alpha, a, b = (float(v) for v in unpack(params, PARAM_NAMES))
    rng = np.random.default_rng(random_seed)
    T = np.asarray(T, dtype=np.float64)
    n = T.shape[0]
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    # repeat purchases before dropping out: failures before the first success (>= 0)
    drop_after = rng.geometric(np.clip(p, 1e-300, 1.0)) - 1
    h = np.zeros(n) if holdout is None else np.broadcast_to(np.asarray(holdout, dtype=np.float64), (n,))
    n_total = rng.poisson(lam * (T + h))
    n_cal = rng.binomial(n_total, np.divide(T, T + h, out=np.ones(n), where=(T + h) > 0))
    x = np.minimum(n_cal, drop_after)
    frac = rng.beta(np.maximum(x, 1), np.maximum(n_cal - x + 1, 1))
    recency = np.where(x > 0, T * frac, 0.0)
    columns: dict[str, np.ndarray] = {"frequency": x.astype(np.int64), "recency": recency, "T": T}
    if holdout is not None:
        columns["frequency_holdout"] = (np.minimum(n_total, drop_after) - x).astype(np.int64)
        columns["duration_holdout"] = np.array(h)
    columns["lambda_"] = lam
    columns["p_"] = p
    frame = pd.DataFrame(columns)
    frame.index.name = "customer_id"
    return frame


def simulate_future_if_alive(
    rng: np.random.Generator, params: tuple[np.ndarray, ...], frequency: np.ndarray, T: np.ndarray, horizon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One simulated future after T of customers alive at T, one per cell (draw, customer).

    Given the history and alive at T, ``lambda ~ Gamma(r + x, alpha + T)`` and
    ``p ~ Beta(a, b + x + 1)``, and the future is a BG/NBD process: this is
    :func:`clvmodels.models.beta_geo.simulate_future_if_alive` with ``b + 1`` for ``b``.

    Returns
    -------
    uniform_counts, span, last, last_inside : ndarray
        ``uniform_counts`` purchases at independent uniform times on (0, span], plus one at
        ``last`` where ``last_inside``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cells = tuple(np.full(3, v) for v in (0.525, 6.183, 0.891, 1.614))
    >>> n, span, last, inside = simulate_future_if_alive(rng, cells, np.array([2.0, 0, 5]), np.full(3, 38.86), 52.0)
    >>> n.shape, bool((span <= 52.0).all())
    ((3,), True)
    """
    r, alpha, a, b = params
    return bg.simulate_future_if_alive(rng, (r, alpha, a, b + 1.0), frequency, T, horizon)


# -- the estimator ---------------------------------------------------------------------------------


@register
class ModifiedBetaGeo(TransactionModel):
    """MBG/NBD model of repeat purchasing, fitted by maximum likelihood or Bayesian inference.

    Parameters
    ----------
    penalty : float
        L2 penalty on the parameters (``penalty * sum(theta**2)`` added to the mean negative
        log-likelihood, as ``lifetimes``' ``penalizer_coef``); 0 for plain maximum likelihood.
    priors, draws, tune, chains, target_accept, sampler, random_seed, progressbar, log_likelihood
        Settings of the Bayesian fits; see :class:`~clvmodels.models.base.Model`.

    Notes
    -----
    The BG/NBD with one more dropout chance, at time 0, so customers without a repeat
    purchase may be dead; the per-customer formulas are in :mod:`clvmodels.models.mbg_nbd`.

    References
    ----------
    Batislam, E. P., Denizel, M. & Filiztekin, A. (2007). Empirical validation and comparison of
    models for customer base analysis. International Journal of Research in Marketing 24(3),
    201-209.

    Examples
    --------
    >>> from clvmodels import calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> summary = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                     time_unit="W")
    >>> model = ModifiedBetaGeo().fit(summary)
    >>> model.params_.round(3).tolist()
    [0.525, 6.183, 0.891, 1.614]
    >>> model.prob_alive(summary).head(3).round(3).tolist()  # customer 3 never bought again: P(alive) < 1
    [0.706, 0.171, 0.39]
    """

    key = "mbgnbd"
    display_name = "MBG/NBD"
    param_names = PARAM_NAMES
    formulas = sys.modules[__name__]
    alive_without_repeat = False
    reductions = (
        (
            # p ~ Beta(0.5, e^14): a dropout probability of 4e-7 at time 0 and after each purchase
            {"a": 0.5, "b": float(np.exp(14.0))},
            "no customer appears to have dropped out within the {T} time units observed on average; "
            "the MBG/NBD reduces to the NBD: forecasts assume nobody leaves",
        ),
    )
    example_params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}  # lifetimes on CDNOW (weeks)

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        """The BG/NBD's default priors (:func:`clvmodels.inference.bayes.default_priors`).

        The parameters mean the same as the BG/NBD's: ``r ~ LogNormal(0, 1.5)`` (shape of the
        purchase rates), ``alpha ~ LogNormal(log(scale), 2)`` (``scale`` = mean T, so that with
        r near 1 the mean rate is centred on one purchase per observation period), and
        ``a, b ~ LogNormal(0, 1)``: a roughly flat prior on the mean dropout probability
        ``a / (a + b)``, here per dropout chance including time 0, with its concentration
        ``a + b`` kept in a plausible range, which stops the posterior drifting along
        ``a, b -> infinity`` at a fixed ratio where the likelihood of sparse data is flat.

        Examples
        --------
        >>> ModifiedBetaGeo.default_priors(32.7)["alpha"]
        Prior('LogNormal', mu=3.487375077903208, sigma=2.0)
        """
        from ..inference.bayes import Prior

        return {
            "r": Prior("LogNormal", mu=0.0, sigma=1.5),
            "alpha": Prior("LogNormal", mu=float(np.log(scale)), sigma=2.0),
            "a": Prior("LogNormal", mu=0.0, sigma=1.0),
            "b": Prior("LogNormal", mu=0.0, sigma=1.0),
        }

    @staticmethod
    def _objective(patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Any, list, Any]:
        """The likelihood over weighted patterns (analytic gradient), starting points and a
        coarse warm start, as :meth:`clvmodels.models.beta_geo.BetaGeo._objective`."""
        x, t_x, T = patterns
        rate = max(float(np.average(x, weights=weights)), 0.01) / (float(np.average(T, weights=weights)) or 1.0)
        # (0.25, ...) first: over CDNOW and eight simulated data sets it needed the fewest
        # evaluations (218 in all against 245 from BG/NBD's first start)
        starts = [
            (0.25, 0.25 / rate, 0.8, 2.5),
            (1.0, 1.0 / rate, 1.0, 2.0),
            (1.0, 1.0, 1.0, 1.0),
            (5.0, 5.0 / rate, 0.2, 10.0),
        ]
        coarse = None
        if len(weights) > _COARSE_ABOVE:
            # warm start: recency and T rounded to a grid of _COARSE_STEPS steps
            step = float(T.max()) / _COARSE_STEPS
            (xc, tc, Tc), _, inverse = compress_patterns(x, np.round(t_x / step), np.round(T / step))
            wc = np.bincount(inverse, weights=weights)
            coarse = _PatternLoglik(xc.astype(np.float64), tc * step, Tc * step, wc)
        return _PatternLoglik(x.astype(np.float64), t_x, T, weights), starts, coarse
