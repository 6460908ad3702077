"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

While alive, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)`` (shape r, rate
alpha); after each purchase the customer drops out with probability ``p ~ Beta(a, b)``. The
per-customer formulas below are pure broadcasting functions of ``(params, data)``: see
:mod:`clvmodels.models.params`. Times are in the data's time unit.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing P(alive) using the BG/NBD model.
http://brucehardie.com/notes/021/
Fader, P. S., Hardie, B. G. S. (2013). Overcoming the BG/NBD model's #NUM! error problem.
http://brucehardie.com/notes/027/
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import integrate, special

from ..data import compress_patterns, validate_summary
from .base import TransactionModel
from .ops import NUMPY_OPS
from .params import unpack
from .registry import register
from .patterns import FrequencyLevels, wsum

__all__ = [
    "BetaGeo",
    "loglik",
    "loglik_grad",
    "prob_alive",
    "expected_purchases",
    "expected_purchases_new",
    "prob_purchases",
    "discounted_expected_purchases",
    "discounted_expected_purchases_discrete",
    "discounted_purchases_if_alive",
    "discounted_purchases_if_alive_discrete",
    "prob_purchases_conditional",
    "simulate",
]

PARAM_NAMES = ("r", "alpha", "a", "b")

# above this many patterns, fit first on recency and T rounded to _COARSE_STEPS grid steps
_COARSE_ABOVE = 20_000
_COARSE_STEPS = 200


def _frequency_terms(r: Any, a: Any, b: Any, x: Any, ops: Any) -> tuple[Any, Any]:
    """The terms of the log-likelihood that depend on the data through x only.

    ``lnG(r+x) - lnG(r)`` and ``A2 = lnB(a, b+x) - lnB(a, b)``.
    """
    g = ops.gammaln(r + x) - ops.gammaln(r)
    a2 = ops.gammaln(a + b) + ops.gammaln(b + x) - ops.gammaln(b) - ops.gammaln(a + b + x)
    return g, a2


def _recency_terms(r: Any, alpha: Any, a: Any, b: Any, x: Any, t_x: Any, T: Any, ops: Any) -> tuple[Any, ...]:
    """``A3 = -(r+x) ln(alpha+T)`` and ``A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)``.

    ``A4`` only enters for x > 0; ``max(x, 1)`` keeps it finite (and its gradient free of NaN)
    where x = 0. Also returns ``ln(alpha+T)`` and ``ln(alpha+t_x)`` for the gradient.
    """
    log_at, log_ar = ops.log(alpha + T), ops.log(alpha + t_x)
    a3 = -(r + x) * log_at
    a4 = ops.log(a) - ops.log(b + ops.maximum(x, 1) - 1) - (r + x) * log_ar
    return a3, a4, log_at, log_ar


def _alive_or_not(x: Any, a3: Any, a4: Any, ops: Any) -> Any:
    """``ln(exp(A3) + [x > 0] exp(A4))``: alive at T, or dropped out after the last purchase."""
    return ops.where(x > 0, ops.logaddexp(a3, a4), a3)


def loglik(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, ops: Any = NUMPY_OPS) -> Any:
    """Per-customer BG/NBD log-likelihood, in the log-sum-exp form.

    ``ln L = A1 + A2 + ln(exp(A3) + [x > 0] exp(A4))`` with
    ``A1 = lnG(r+x) - lnG(r) + r ln(alpha)``,
    ``A2 = lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x)``,
    ``A3 = -(r+x) ln(alpha+T)``,
    ``A4 = ln(a) - ln(b+x-1) - (r+x) ln(alpha+t_x)`` (FHL 2005, eq. 6; note 027, section 7).

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
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> loglik(params, np.array([2, 0]), np.array([30.43, 0.0]), np.array([38.86, 38.86])).round(4)
    array([-9.4586, -0.5547])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = frequency
    g, a2 = _frequency_terms(r, a, b, x, ops)
    a3, a4, _, _ = _recency_terms(r, alpha, a, b, x, recency, T, ops)
    return g + r * ops.log(alpha) + a2 + _alive_or_not(x, a3, a4, ops)


def loglik_grad(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Gradient of :func:`loglik` with respect to ``(r, alpha, a, b)``.

    Returns
    -------
    ndarray
        Shape ``(4,) + broadcast shape``: the derivative of each customer's log-likelihood.

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> grad = loglik_grad(params, 2, 30.43, 38.86)
    >>> step = dict(params, alpha=params["alpha"] + 1e-6)
    >>> numeric = (loglik(step, 2, 30.43, 38.86) - loglik(params, 2, 30.43, 38.86)) / 1e-6
    >>> grad.shape, bool(np.isclose(grad[1], numeric, rtol=1e-5))
    ((4,), True)
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    t_x = np.asarray(recency, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    terms = _recency_terms(r, alpha, a, b, x, t_x, T, NUMPY_OPS)
    w4 = np.where(x > 0, special.expit(terms[1] - terms[0]), 0.0)
    d_r, d_alpha, d_a, d_b = _recency_grad(r, alpha, a, b, x, t_x, T, terms, w4)
    f_r, f_a, f_b = _frequency_grad(r, a, b, x)
    return np.stack(np.broadcast_arrays(d_r + f_r + np.log(alpha), d_alpha + r / alpha, d_a + f_a, d_b + f_b))


def loglik_and_customer_grad(r: np.ndarray, alpha: np.ndarray, a: np.ndarray, b: np.ndarray, x: np.ndarray,
                             t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """``sum_i w_i loglik_i`` and its derivatives with respect to each pattern's own parameters
    (one value of ``r, alpha, a, b`` per pattern, as with covariates).

    The terms of :func:`loglik` and :func:`loglik_grad` evaluated once (those of x alone by a
    compiled kernel, since a and b differ by customer); it replaces the PyTensor derivative of
    :func:`loglik` in
    :func:`clvmodels.inference.autodiff.covariate_objective`, to which it is tested equal.

    Examples
    --------
    >>> x, t_x, T = np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 38.86])
    >>> r, alpha, a, b = (np.full(2, v) for v in (0.243, 4.414, 0.793, 2.426))
    >>> value, grads = loglik_and_customer_grad(r, alpha, a, b, x, t_x, T, np.ones(2))
    >>> round(value, 4), round(float(loglik({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, x, t_x, T).sum()), 4)
    (-10.0133, -10.0133)
    """
    from ..inference import _numba_kernels

    r, a, b, x = (np.ascontiguousarray(np.broadcast_to(v, np.shape(x)), dtype=np.float64) for v in (r, a, b, x))
    frequency = np.empty((5, len(x)))
    _numba_kernels.beta_geo_frequency(r, a, b, x, frequency)  # per customer: a and b may differ
    g, a2, f_r, f_a, f_b = frequency
    terms = _recency_terms(r, alpha, a, b, x, t_x, T, NUMPY_OPS)
    # ln(e^A3 + [x > 0] e^A4) = A3 + softplus(A4 - A3) for repeat buyers, A3 otherwise
    softplus, w4 = _softplus_and_sigmoid(terms[1] - terms[0])
    repeat = x > 0
    softplus, w4 = np.where(repeat, softplus, 0.0), np.where(repeat, w4, 0.0)
    d_r, d_alpha, d_a, d_b = _recency_grad(r, alpha, a, b, x, t_x, T, terms, w4)
    log_alpha = np.log(alpha)
    value = g + a2 + r * log_alpha + terms[0] + softplus
    grads = [
        w * (f_r + log_alpha + d_r),
        w * (r / alpha + d_alpha),
        w * (f_a + d_a),
        w * (f_b + d_b),
    ]
    return float(w @ value), grads


def loglik_linked(u: np.ndarray, targets: np.ndarray, signs: np.ndarray, Z: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                  T: np.ndarray, w: np.ndarray, lo: int, hi: int, hessian: bool, grad: np.ndarray, hess: np.ndarray) -> float:
    """``sum_i w_i loglik_i`` over the rows ``lo:hi`` of customers whose log-parameters are linear
    in ``u`` (covariates), adding its gradient and Hessian with respect to ``u`` to ``grad`` and
    ``hess`` (upper triangle): the compiled kernel behind
    :class:`clvmodels.models.covariates.LinkedLoglik`, which documents the arguments.

    The same terms as :func:`loglik`; the Hessian of ``ln(e^A3 + e^A4)`` is ``w3 H3 + w4 H4 +
    w3 w4 (g4 - g3)(g4 - g3)'`` and the frequency terms' second derivatives are sums of
    ``1 / (y + k)^2`` for whole x (trigamma differences otherwise). Tested equal to PyTensor's
    Hessian of :func:`loglik`.

    Examples
    --------
    >>> x, t_x, T = np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 38.86])
    >>> u = np.log([0.243, 4.414, 0.793, 2.426])
    >>> grad, hess = np.zeros(4), np.zeros((4, 4))
    >>> value = loglik_linked(u, np.zeros((0, 2), np.int64), np.zeros((0, 2)), np.zeros((2, 0)), x, t_x, T,
    ...                       np.ones(2), 0, 2, True, grad, hess)
    >>> round(value, 4), round(float(loglik({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, x, t_x, T).sum()), 4)
    (-10.0133, -10.0133)
    """
    from ..inference import _numba_kernels

    return _numba_kernels.beta_geo_linked(u, targets, signs, Z, x, t_x, T, w, lo, hi, hessian, grad, hess)


def _frequency_grad(r: Any, a: Any, b: Any, x: Any) -> tuple[Any, Any, Any]:
    """Derivatives of :func:`_frequency_terms` with respect to r, a and b."""
    dg_ab, dg_abx = special.digamma(a + b), special.digamma(a + b + x)
    f_r = special.digamma(r + x) - special.digamma(r)
    return f_r, dg_ab - dg_abx, dg_ab + special.digamma(b + x) - special.digamma(b) - dg_abx


def _recency_grad(r: Any, alpha: Any, a: Any, b: Any, x: Any, t_x: Any, T: Any, terms: tuple, w4: Any) -> tuple[Any, ...]:
    """Derivatives of ``ln(exp(A3) + [x > 0] exp(A4))`` with respect to r, alpha, a, b.

    ``terms`` is the output of :func:`_recency_terms` at the same point and ``w4`` the share
    ``[x > 0] exp(A4) / (exp(A3) + exp(A4))`` of the "dropped out after the last purchase" term.
    """
    _, _, log_at, log_ar = terms
    w3 = 1.0 - w4
    d_r = -(w3 * log_at + w4 * log_ar)
    d_alpha = -(r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    return d_r, d_alpha, w4 / a, -w4 / (b + np.maximum(x, 1) - 1)


def _softplus_and_sigmoid(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ln(1 + e^d)`` and ``1 / (1 + e^-d)`` from one exponential, without overflow."""
    e = np.exp(-np.abs(d))
    q = 1.0 / (1.0 + e)
    return np.maximum(d, 0.0) + np.log1p(e), np.where(d >= 0, q, e * q)


class _PatternLoglik:
    """Total log-likelihood and gradient over weighted patterns, for maximum likelihood.

    Uses the same term functions as :func:`loglik`. The frequency-only terms are evaluated
    once per distinct frequency (:class:`~clvmodels.models.patterns.FrequencyLevels`), and the
    customers with x = 0, for whom only ``A3`` enters, are kept apart from the repeat buyers,
    for whom ``ln(exp(A3) + exp(A4))`` is needed.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray) -> None:
        self.levels = FrequencyLevels.from_patterns(x, weights)
        self.n = float(weights.sum())
        none = x == 0
        self.T0, self.w0 = T[none], weights[none]
        self.x1, self.t1, self.T1, self.w1 = x[~none], t_x[~none], T[~none], weights[~none]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = theta
        lv, w0, w1 = self.levels, self.w0, self.w1
        g, a2 = _frequency_terms(r, a, b, lv.x, NUMPY_OPS)
        f_r, f_a, f_b = _frequency_grad(r, a, b, lv.x)
        # x = 0: ln L = ... + A3 = -r ln(alpha + T)
        log_at0 = np.log(alpha + self.T0)
        # x > 0: ln L = ... + ln(exp(A3) + exp(A4))
        terms = _recency_terms(r, alpha, a, b, self.x1, self.t1, self.T1, NUMPY_OPS)
        softplus, w4 = _softplus_and_sigmoid(terms[1] - terms[0])  # ln(e^A3 + e^A4) = A3 + softplus
        d_r, d_alpha, d_a, d_b = _recency_grad(r, alpha, a, b, self.x1, self.t1, self.T1, terms, w4)
        value = (
            wsum(lv.weight, g + a2) + self.n * r * np.log(alpha)
            - r * wsum(w0, log_at0) + wsum(w1, terms[0] + softplus)
        )
        grad = np.array(
            [
                wsum(lv.weight, f_r) + self.n * np.log(alpha) - wsum(w0, log_at0) + wsum(w1, d_r),
                self.n * r / alpha - r * wsum(w0, 1.0 / (alpha + self.T0)) + wsum(w1, d_alpha),
                wsum(lv.weight, f_a) + wsum(w1, d_a),
                wsum(lv.weight, f_b) + wsum(w1, d_b),
            ]
        )
        return float(value), grad


def prob_alive(params: Any, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
    """Probability that a customer with history (x, t_x, T) is still alive at T.

    ``P(alive) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))``
    (FHL 2005, eq. 13), evaluated as a logistic function of the log odds.

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> prob_alive(params, np.array([0, 2]), np.array([0.0, 30.43]), np.array([38.86, 38.86])).round(4)
    array([1.    , 0.7266])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    t_x = np.asarray(recency, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    log_odds_dead = np.log(a / (b + np.maximum(x, 1) - 1)) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    return np.where(x > 0, special.expit(-log_odds_dead), 1.0)


def _expected_new(r: Any, alpha: Any, a: Any, b: Any, t: Any) -> np.ndarray:
    """E[X(t)] of a BG/NBD process with the given parameters that starts alive at 0."""
    z = t / (alpha + t)
    # (alpha/(alpha+t))^r 2F1(r, b; a+b-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1; z) (Euler)
    hyp = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
    return (a + b - 1) / (a - 1) * (1.0 - hyp)


def expected_purchases_new(params: Any, t: ArrayLike) -> np.ndarray:
    """Expected number of repeat purchases in (0, t] of a customer acquired at 0.

    ``E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``
    (FHL 2005, eq. 9).

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> expected_purchases_new(params, np.array([1.0, 78.0])).round(4)
    array([0.0533, 1.8605])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    return _expected_new(r, alpha, a, b, np.asarray(t, dtype=np.float64))


def expected_purchases(
    params: Any, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected number of purchases in (T, T + t] given the history (x, t_x, T).

    FHL 2005, eq. 10. Given that the customer is alive at T, the future is a BG/NBD process
    with updated parameters ``(r + x, alpha + T, a, b + x)``, so
    ``E[Y(t) | x, t_x, T] = P(alive) E[X(t); r + x, alpha + T, a, b + x]``.

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> expected_purchases(params, 39, np.array([2]), np.array([30.43]), np.array([38.86])).round(3)
    array([1.226])
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    alive = prob_alive(params, x, recency, T)
    return alive * _expected_new(r + x, alpha + np.asarray(T, dtype=np.float64), a, b + x, t)


def _purchase_rate_if_alive(r: Any, alpha: Any, a: Any, b: Any, s: Any) -> np.ndarray:
    """Expected purchase rate at s of a BG/NBD process that is alive at 0.

    Given (lambda, p) the rate is ``lambda exp(-lambda p s)`` (purchases at rate lambda, each
    followed by dropout with probability p, so survival to s is ``exp(-lambda p s)``);
    averaged over ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)`` it is
    ``(r / alpha) 2F1(r + 1, a; a + b; -s / alpha)``, the derivative of :func:`_expected_new`.
    """
    return r / alpha * _hyp2f1_negative(r + 1, a, a + b, -s / alpha)


def _hyp2f1_negative(a: Any, b: Any, c: Any, z: Any) -> np.ndarray:
    """``2F1(a, b; c; z) = E[(1 - z p)^(-a)]``, ``p ~ Beta(b, c - b)``, for ``z <= 0``, ``a > 0``, ``c > b > 0``.

    scipy's ``hyp2f1`` is inaccurate for ``z < -1`` over much of this domain (relative errors up
    to 1e-4, or inf when ``c - a`` is near a non-positive integer). Pfaff's transformation
    ``(1 - z)^(-b) 2F1(b, c - a; c; z / (z - 1))`` moves the argument into [0, 1), where it
    is accurate and faster; where that fails (nan), the other Pfaff transformation, then the
    direct series, then adaptive quadrature of the Euler integral are used in turn.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    shape = a.shape
    a, b, c, z = (v.reshape(-1) for v in (a, b, c, z))
    with np.errstate(all="ignore"):  # a form that fails gives nan or inf, and the next is tried
        w = z / (z - 1.0)
        value = (1.0 - z) ** -b * special.hyp2f1(b, c - a, c, w)
        for fallback in (
            lambda a, b, c, z, w: (1.0 - z) ** -a * special.hyp2f1(a, c - b, c, w),
            lambda a, b, c, z, w: special.hyp2f1(a, b, c, z),
            _euler_integral,
        ):
            bad = ~((value > 0.0) & (value <= 1.0 + 1e-12))
            if not bad.any():
                break
            value[bad] = fallback(a[bad], b[bad], c[bad], z[bad], w[bad])
    return value.reshape(shape)


def _euler_integral(a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``E[(1 - z p)^(-a)]`` with ``p ~ Beta(b, c - b)`` by adaptive quadrature, one value at a time.

    An end where the Beta density is infinite (exponent ``b - 1`` or ``c - b - 1`` below 0) is
    quad's algebraic weight, exact there; the rest of the density, with its normalising
    constant, is in the integrand in log space, and the density's mode is a break point, so a
    peaked density (large ``b`` and ``c - b``) is integrated where its mass is.
    """
    out = np.empty(a.shape)
    for i, (ai, bi, ci, zi) in enumerate(zip(a, b, c, z)):
        left, right = bi - 1.0, ci - bi - 1.0
        log_norm = special.betaln(bi, ci - bi)

        def integrand(p: float, e_left: float, e_right: float, ai: float = ai, zi: float = zi, log_norm: float = log_norm) -> float:
            exponent = -ai * np.log1p(-zi * p) - log_norm
            if e_left:
                exponent += e_left * np.log(p) if p > 0.0 else (-np.inf if e_left > 0 else np.inf)
            if e_right:
                exponent += e_right * np.log1p(-p) if p < 1.0 else (-np.inf if e_right > 0 else np.inf)
            return float(np.exp(exponent))

        mode = min(max(left / (left + right), 1e-9), 1.0 - 1e-9) if left > 0.0 and right > 0.0 else 0.5
        # [0, mode] with p^left as the weight where it is infinite at 0; [mode, 1] likewise at 1
        w_left, w_right = min(left, 0.0), min(right, 0.0)
        first, _ = integrate.quad(integrand, 0.0, mode, args=(left - w_left, right), weight="alg", wvar=(w_left, 0.0),
                                  limit=200, epsabs=0.0, epsrel=1e-12)
        second, _ = integrate.quad(integrand, mode, 1.0, args=(left, right - w_right), weight="alg", wvar=(0.0, w_right),
                                   limit=200, epsabs=0.0, epsrel=1e-12)
        out[i] = first + second
    return out


def _log_time_panel(r1: Any, alpha1: Any, a: Any, b1: Any, delta: float, scale: Any, start: float, end: Any, n_nodes: int) -> np.ndarray:
    """Gauss-Legendre quadrature of ``exp(-delta s) rate(s)`` over [start, end] in ``v = log1p(s / scale)``.

    In v the purchase rate's power-law decay beyond ``alpha + T`` becomes exponential and its
    singularity (at ``s = -(alpha + T)``) sits at distance pi from the real axis, so a few nodes
    give full double precision on any panel no longer than a few units of v.
    """
    v0 = np.log1p(start / scale)
    v1 = np.log1p(end / scale)
    half = (v1 - v0) / 2.0
    nodes, weights = np.polynomial.legendre.leggauss(int(n_nodes))
    total = 0.0
    for node, weight in zip(nodes, weights):
        v = v0 + (node + 1.0) * half
        s = scale * np.expm1(v)
        total = total + weight * np.exp(-delta * s + v) * _purchase_rate_if_alive(r1, alpha1, a, b1, s)
    return total * half * scale


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

    ``DET = integral_0^t exp(-delta s) dE[Y(s) | x, t_x, T]``, the present value of the
    expected purchase stream (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 2, for the BG/NBD,
    which has no closed form). Alive at T, the expected purchase rate s time units later is
    ``(r'/alpha') 2F1(r' + 1, a; a + b'; -s/alpha')`` with ``r' = r + x``, ``alpha' = alpha + T``,
    ``b' = b + x``, so ``DET = P(alive) integral_0^t exp(-delta s) rate(s) ds``. The integral is
    evaluated by Gauss-Legendre quadrature in ``v = log(1 + s/sigma)``,
    ``sigma = min(alpha', 1/delta)``, with a second panel from ``1/delta`` on for long horizons;
    an infinite ``t`` is truncated where ``exp(-delta s) < exp(-40)``. The relative error is
    below 1e-8 (tested against adaptive quadrature and a double integral over the latent
    ``lambda`` and ``p``).

    Parameters
    ----------
    params : mapping or DataFrame
        ``r, alpha, a, b``; a DataFrame of draws gives ``(draws, customers)`` results.
    t : float
        Horizon in the data's time unit; ``numpy.inf`` for the infinite horizon.
    discount_rate : float
        Continuously compounded rate per time unit, ``delta`` (an annual rate R becomes
        ``log(1 + R) / (time units per year)``; FHL use ``log(1.15) / 52 = 0.002688`` per week).
    frequency, recency, T : array_like
        The customers' histories.
    n_nodes : int, optional
        Quadrature nodes per panel; by default the fewest at which the rule has converged to
        1e-11 on the extreme histories (see :func:`_nodes_needed`).

    Returns
    -------
    ndarray
        Discounted expected purchases; ``discount_rate = 0`` gives :func:`expected_purchases`.

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> det = discounted_expected_purchases(params, 39.0, np.log(1.15) / 52, x, t_x, T)
    >>> bool(det[0] < expected_purchases(params, 39.0, x, t_x, T)[0]), det.round(4)
    (True, array([1.1674]))
    """
    alive = prob_alive(params, frequency, recency, T)
    return alive * discounted_purchases_if_alive(params, t, discount_rate, frequency, T, n_nodes=n_nodes)


def discounted_purchases_if_alive(
    params: Any, t: float, discount_rate: float, frequency: ArrayLike, T: ArrayLike, *, n_nodes: int | None = None
) -> np.ndarray:
    """:func:`discounted_expected_purchases` given that the customer is alive at T.

    Alive at T, the future is a BG/NBD process with parameters ``(r + x, alpha + T, a, b + x)``,
    so this depends on the history through x and T only (not t_x): evaluate it once per distinct
    (x, T) and multiply by P(alive).

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> if_alive = discounted_purchases_if_alive(params, 39.0, np.log(1.15) / 52, x, T)
    >>> bool(np.isclose(if_alive * prob_alive(params, x, t_x, T),
    ...                 discounted_expected_purchases(params, 39.0, np.log(1.15) / 52, x, t_x, T)).all())
    True
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    delta = float(discount_rate)
    if not np.isfinite(delta) or delta < 0:
        raise ValueError(f"discount_rate={discount_rate!r} must be a finite rate >= 0 per time unit.")
    if not t > 0:
        raise ValueError(f"t={t!r} must be > 0 (numpy.inf for the infinite horizon).")
    if np.isinf(t) and delta == 0:
        raise ValueError("an infinite horizon needs a positive discount_rate (the undiscounted value is infinite).")
    r1, alpha1, b1 = r + x, alpha + T, b + x
    if delta == 0:
        return _expected_new(r1, alpha1, a, b1, float(t))
    # truncated where exp(-delta s) < exp(-40); one panel up to 1/delta, scaled by the shorter of
    # alpha + T and 1/delta, and for longer horizons a second one from 1/delta on
    horizon = min(float(t), 40.0 / delta)
    knee = min(horizon, 1.0 / delta)

    def first_panel(r1: Any, alpha1: Any, b1: Any, n: int) -> np.ndarray:
        return _log_time_panel(r1, alpha1, a, b1, delta, np.minimum(alpha1, 1.0 / delta), 0.0, knee, n)

    def second_panel(r1: Any, alpha1: Any, b1: Any, n: int) -> np.ndarray:
        return _log_time_panel(r1, alpha1, a, b1, delta, 1.0 / delta, knee, horizon, n)

    panels = [first_panel] + ([second_panel] if horizon > knee else [])
    if x.size == 0 or T.size == 0:
        return np.zeros(np.broadcast_shapes(np.shape(r1), np.shape(alpha1)))
    total = 0.0
    # the integrands that need most nodes are at the corners of the histories
    px = np.array([x.min(), x.max(), x.min(), x.max()])
    pT = np.array([T.min(), T.min(), T.max(), T.max()])
    for panel in panels:
        n = int(n_nodes) if n_nodes else _nodes_needed(partial(panel, r + px, alpha + pT, b + px))
        total = total + panel(r1, alpha1, b1, n)
    return total


def _nodes_needed(integrate: Any, tolerance: float = 1e-11, start: int = 4, most: int = 64) -> int:
    """Fewest Gauss-Legendre nodes n (from 4, growing by half) at which ``integrate(n)`` has converged.

    The rules converge geometrically on these analytic integrands, so the change from n to
    ``n + n // 2`` nodes bounds the error of n; n is accepted when that change is below
    ``tolerance`` relative to the value for every probe.
    """
    n, value = start, integrate(start)
    while n < most:
        m = min(most, n + max(2, n // 2))
        finer = integrate(m)
        if np.all(np.abs(finer - value) <= tolerance * np.abs(finer)):
            return n
        n, value = m, finer
    return most


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
    length ``P = period`` time units at the per-period rate ``d``. Times Gamma-Gamma's expected
    spend it reproduces ``lifetimes``' ``customer_lifetime_value`` (which uses months of
    ``period = 30`` days or ``4.345`` weeks).

    Examples
    --------
    Twelve months of 4.345 weeks at 1% a month; without discounting it is the expected
    purchases over the 52.14 weeks:

    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> discounted_expected_purchases_discrete(params, 12, 4.345, 0.01, x, t_x, T).round(4)
    array([1.4714])
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
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> if_alive = discounted_purchases_if_alive_discrete(params, 12, 4.345, 0.01, x, T)
    >>> bool(np.isclose(if_alive * prob_alive(params, x, t_x, T),
    ...                 discounted_expected_purchases_discrete(params, 12, 4.345, 0.01, x, t_x, T)).all())
    True
    """
    if int(n_periods) != n_periods or n_periods < 1 or not period > 0 or not discount_rate > -1:
        raise ValueError("n_periods must be a whole number >= 1, period > 0 and discount_rate > -1.")
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    r1, alpha1, b1 = r + x, alpha + np.asarray(T, dtype=np.float64), b + x
    previous = 0.0
    total = 0.0
    for k in range(1, int(n_periods) + 1):
        current = _expected_new(r1, alpha1, a, b1, k * period)
        total = total + (current - previous) / (1.0 + discount_rate) ** k
        previous = current
    return total


def _pmf_new(r: Any, alpha: Any, a: Any, b: Any, n: Any, t: Any) -> np.ndarray:
    """P(X(t) = n) of a BG/NBD process that starts alive at 0 (FHL 2005, eq. 8)."""
    log_q = np.log(alpha) - np.log(alpha + t)  # log of alpha / (alpha + t)
    log_1mq = np.log(t) - np.log(alpha + t)
    log_nb = (
        special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1)
        + r * log_q + special.xlogy(n, np.exp(log_1mq))
    )
    log_beta_ratio = special.betaln(a, b + n) - special.betaln(a, b)
    first = np.exp(log_beta_ratio + log_nb)
    n1 = np.maximum(n, 1)
    # P(NB >= n) = I_{t/(alpha+t)}(n, r)
    tail = special.betainc(n1, r, np.exp(log_1mq))
    second = np.exp(special.betaln(a + 1, b + n1 - 1) - special.betaln(a, b)) * tail
    return first + np.where(n > 0, second, 0.0)


def _pmf_table(r: Any, alpha: Any, a: Any, b: Any, t: Any, k_max: int) -> np.ndarray:
    """``P(X(t) = k)`` for ``k = 0 .. k_max`` at once, shape ``(k_max + 1, N)``.

    The terms of :func:`_pmf_new` follow recurrences in k: the negative binomial probabilities
    (in log space, cumulated), ``B(a, b + k) / B(a, b) = prod_{i<k} (b + i) / (a + b + i)``,
    ``B(a + 1, b + k - 1) = B(a, b + k - 1) a / (a + b + k - 1)``, and the negative binomial
    tail ``P(NB >= k)`` as one minus the cumulated probabilities (absolute error ~1e-16, which
    is what a cumulative distribution needs), so a whole table costs a few elementary
    operations per entry instead of an incomplete beta function each.
    """
    r, alpha, a, b, t = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (r, alpha, a, b, t)))
    i = np.arange(k_max, dtype=np.float64)[:, None]
    zero = np.zeros((1, r.shape[-1]))
    log_1mq = np.log(t) - np.log(alpha + t)
    log_nb = r * (np.log(alpha) - np.log(alpha + t)) + np.concatenate(
        [zero, np.cumsum(np.log(r + i) - np.log1p(i) + log_1mq, axis=0)]
    )
    log_ratio = np.concatenate([zero, np.cumsum(np.log(b + i) - np.log(a + b + i), axis=0)])
    nb = np.exp(log_nb)
    tail = np.maximum(1.0 - np.cumsum(nb, axis=0)[:-1], 0.0)  # P(NB >= k), k = 1 .. k_max
    second = a / (a + b + i) * np.exp(log_ratio[:-1]) * tail
    return np.exp(log_ratio + log_nb) + np.concatenate([zero, second])


def prob_purchases_table(
    params: Any, k_max: int, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """:func:`prob_purchases_conditional` for ``n = 0 .. k_max`` at once: shape ``(k_max + 1, N)``.

    For a point estimate; the counts run down the first axis, so ``cumsum(axis=0)`` gives each
    customer's predictive distribution function.

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> table = prob_purchases_table(params, 3, 39.0, [2], [30.43], [38.86])
    >>> bool(np.allclose(table[:, 0], prob_purchases_conditional(params, np.arange(4), 39.0, 2, 30.43, 38.86)))
    True
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    if np.ndim(r) != 0:
        raise ValueError("prob_purchases_table takes a point estimate (one parameter set).")
    x = np.atleast_1d(np.asarray(frequency, dtype=np.float64))
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    alive = prob_alive(params, x, np.atleast_1d(np.asarray(recency, dtype=np.float64)), T)
    table = alive * _pmf_table(r + x, alpha + T, a, b + x, t, int(k_max))
    table[0] += 1.0 - alive
    return table


def prob_purchases(params: Any, n: ArrayLike, t: ArrayLike) -> np.ndarray:
    """Probability that a customer acquired at 0 makes exactly ``n`` repeat purchases in (0, t].

    FHL 2005, eq. 8, with the finite sum written as the negative binomial tail
    ``I_{t/(alpha+t)}(n, r)`` (regularised incomplete beta function).

    Examples
    --------
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> p = prob_purchases(params, np.arange(200), 39.0)
    >>> round(float(p.sum()), 10), round(float(p[0]), 4)
    (1.0, 0.5738)
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    return _pmf_new(r, alpha, a, b, np.asarray(n, dtype=np.float64), np.asarray(t, dtype=np.float64))


def prob_purchases_conditional(
    params: Any, n: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Probability of exactly ``n`` purchases in (T, T + t] given the history (x, t_x, T).

    A customer dead at T makes none; one alive at T starts a BG/NBD process with parameters
    ``(r + x, alpha + T, a, b + x)``:
    ``P(Y(t) = n | x, t_x, T) = (1 - P(alive)) [n = 0] + P(alive) P(X(t) = n; r+x, alpha+T, a, b+x)``.

    Examples
    --------
    The distribution of the next 39 weeks' purchases of CDNOW's customer 1 (FHL 2005): it sums
    to 1 and its mean is the published 1.226.

    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> x, t_x, T = np.array([2]), np.array([30.43]), np.array([38.86])
    >>> n = np.arange(100)[:, None]
    >>> pmf = prob_purchases_conditional(params, n, 39.0, x, t_x, T)
    >>> pmf[:3, 0].round(3), round(float(pmf.sum()), 8), round(float((n * pmf).sum()), 3)
    (array([0.445, 0.239, 0.144]), 1.0, 1.226)
    """
    r, alpha, a, b = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    alive = prob_alive(params, x, recency, T)
    future = _pmf_new(r + x, alpha + np.asarray(T, dtype=np.float64), a, b + x, n, np.asarray(t, dtype=np.float64))
    return alive * future + np.where(n == 0, 1.0 - alive, 0.0)


def simulate(
    params: Any,
    T: ArrayLike,
    *,
    holdout: float | ArrayLike | None = None,
    random_seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate BG/NBD customers observed for ``T`` time units after their first purchase.

    Each customer draws ``lambda ~ Gamma(r, alpha)``, ``p ~ Beta(a, b)`` and the number of
    purchases after which they drop out, ``J ~ Geometric(p)``. Given ``N`` Poisson events in
    (0, T], the customer makes ``x = min(N, J)`` repeat purchases and the x-th one falls at
    ``T * Beta(x, N - x + 1)`` (an order statistic of N uniforms), so no event times are drawn
    one by one.

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
        ``p_`` (for checks with known truth), indexed ``0 .. N-1`` as ``customer_id``.

    Examples
    --------
    >>> sim = simulate({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, np.full(3, 39.0),
    ...                random_seed=1)
    >>> list(sim.columns)
    ['frequency', 'recency', 'T', 'lambda_', 'p_']
    """
    # scalars, or one value per customer (a model with covariates)
    r, alpha, a, b = (np.asarray(v, dtype=np.float64) if np.ndim(v) else float(v) for v in unpack(params, PARAM_NAMES))
    rng = np.random.default_rng(random_seed)
    T = np.asarray(T, dtype=np.float64)
    n = T.shape[0]
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    # geometric (>= 1) number of purchases after which the customer drops out
    drop_after = rng.geometric(np.clip(p, 1e-300, 1.0))
    h = np.zeros(n) if holdout is None else np.broadcast_to(np.asarray(holdout, dtype=np.float64), (n,))
    n_total = rng.poisson(lam * (T + h))
    n_cal = rng.binomial(n_total, np.divide(T, T + h, out=np.ones(n), where=(T + h) > 0))
    x = np.minimum(n_cal, drop_after)
    with np.errstate(invalid="ignore", divide="ignore"):
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
    ``p ~ Beta(a, b + x)``. Each purchase is followed by dropout with probability p, so marking
    purchases as "last" or not splits the Poisson(lambda) process into two independent Poisson
    processes of rates ``lambda p`` and ``lambda (1 - p)``: the last purchase comes at
    ``tau ~ Exponential(lambda p)``, and before ``min(tau, horizon)`` the customer makes
    ``Poisson(lambda (1 - p) min(tau, horizon))`` other purchases at uniform times.

    Parameters
    ----------
    rng : Generator
    params : tuple of ndarray
        ``r, alpha, a, b``, one value per cell.
    frequency, T : ndarray
        The history of the customer of each cell.
    horizon : float
        Length of the future (finite).

    Returns
    -------
    uniform_counts, span, last, last_inside : ndarray
        ``uniform_counts`` purchases at independent uniform times on (0, span], plus one at
        ``last`` where ``last_inside``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cells = tuple(np.full(3, v) for v in (0.243, 4.414, 0.793, 2.426))
    >>> n, span, last, inside = simulate_future_if_alive(rng, cells, np.array([2.0, 0, 5]), np.full(3, 38.86), 52.0)
    >>> n.shape, bool((span <= 52.0).all())
    ((3,), True)
    """
    r, alpha, a, b = params
    lam = rng.gamma(r + frequency) / (alpha + T)
    drop = rng.beta(a, b + frequency)
    with np.errstate(divide="ignore"):  # lambda p may underflow to 0: the customer never leaves
        last = rng.exponential(size=lam.shape) / (lam * drop)
    span = np.minimum(last, horizon)
    uniform_counts = rng.poisson(lam * (1.0 - drop) * span)
    return uniform_counts, span, last, last <= horizon


@register
class BetaGeo(TransactionModel):
    """BG/NBD model of repeat purchasing, fitted by maximum likelihood or Bayesian inference.

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
        predictions): a list for both processes, or ``{"purchase": [...], "dropout": [...],
        "dropout_a": [...], "dropout_b": [...]}``. ``alpha_i = alpha0 exp(-gamma_purchase' z_i)``;
        ``"dropout"`` scales a and b by the same ``exp(gamma_dropout' z_i)`` (CLVTools), while
        ``"dropout_a"`` and ``"dropout_b"`` move them apart (pymc-marketing), so that the mean
        dropout probability ``a / (a + b)`` depends on the covariates; numeric covariates are
        standardised, see :mod:`clvmodels.models.covariates`.
    categorical : list of str or dict, optional
        The covariates to dummy-code: a list, or ``{column: reference level}``.

    Notes
    -----
    ``fit`` groups customers with identical ``(frequency, recency, T)`` and weights each
    pattern by its count, so the cost grows with the number of distinct patterns, not of
    customers; the Bayesian fits use the same log-likelihood on the same patterns.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
    way: an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.

    Examples
    --------
    >>> from clvmodels import calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> summary = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                     time_unit="W")
    >>> model = BetaGeo().fit(summary)
    >>> model.params_.round(3).tolist()
    [0.243, 4.414, 0.793, 2.426]
    >>> round(model.loglik_, 1)
    -9582.4
    """

    key = "bgnbd"
    display_name = "BG/NBD"
    param_names = PARAM_NAMES
    formulas = sys.modules[__name__]
    supports_covariates = True
    # "dropout" moves a and b together (CLVTools); "dropout_a", "dropout_b" each alone (pymc-marketing)
    covariate_links = {
        "purchase": (("alpha", -1.0),), "dropout": (("a", 1.0), ("b", 1.0)), "dropout_a": (("a", 1.0),), "dropout_b": (("b", 1.0),),
    }
    alive_without_repeat = True

    @staticmethod
    def _objective(patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Any, list, Any]:
        """The likelihood over weighted patterns, starting points and a coarse warm start."""
        x, t_x, T = patterns
        rate = max(float(np.average(x, weights=weights)), 0.01) / (float(np.average(T, weights=weights)) or 1.0)
        starts = [
            (1.0, 1.0 / rate, 1.0, 2.0),
            (0.25, 0.25 / rate, 0.8, 2.5),
            (1.0, 1.0, 1.0, 1.0),
            (5.0, 5.0 / rate, 0.2, 10.0),
        ]
        coarse = None
        if len(weights) > _COARSE_ABOVE:
            # warm start: recency and T rounded to a grid of _COARSE_STEPS steps
            step = float(T.max()) / _COARSE_STEPS
            (xc, tc, Tc), _, inverse = compress_patterns(x, np.round(t_x / step), np.round(T / step))
            wc = np.bincount(inverse, weights=weights)
            coarse = _PatternLoglik(xc, tc * step, Tc * step, wc)
        return _PatternLoglik(x.astype(np.float64), t_x, T, weights), starts, coarse

    bayes_kernel = "BetaGeoKernel"
    reductions = (
        (
            # p ~ Beta(0.5, e^14): a mean dropout probability of 4e-7 per purchase, nobody leaves
            # in practice, and the formulas keep ten digits (a = 1 is their removable singularity)
            {"a": 0.5, "b": float(np.exp(14.0))},
            "no customer appears to have dropped out within the {T} time units observed on average; "
            "the BG/NBD reduces to the NBD: forecasts assume nobody leaves",
        ),
    )
    example_params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005, CDNOW

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        """The weakly informative default priors, all log-normal (``scale`` = mean T).

        ``r ~ LogNormal(0, 1.5)``
            shape of the Gamma distribution of purchase rates; the rates' coefficient of
            variation is ``1 / sqrt(r)``, and 95% prior mass on r in [0.05, 19] spans purchasing
            that is extremely lumpy to nearly homogeneous (CDNOW: 0.24).
        ``alpha ~ LogNormal(log(scale), 2)``
            rate parameter (time units). With r near 1 the mean purchase rate ``r / alpha`` is
            centred on one purchase per average observation period and may be 50 times larger
            or smaller at 2 sd.
        ``a ~ LogNormal(0, 1)``, ``b ~ LogNormal(0, 1)``
            the Beta distribution of the dropout probability. Together they put a roughly flat
            prior on the mean dropout probability ``a / (a + b)`` (median 0.5, 95% in
            [0.06, 0.94]) and keep its concentration ``a + b`` (a prior "number of customers")
            in a plausible range (median 2.4, 95% in [0.6, 10]). Without that, the likelihood of
            sparse data is flat along ``a, b -> infinity`` at a fixed ratio, and the posterior
            drifts there. On CDNOW the posterior means of a and b stay within 2% of the MLE,
            whereas a log-flat prior puts them 6% and 9% above it (the posterior is skewed).

        Examples
        --------
        >>> BetaGeo.default_priors(32.7)["alpha"]
        Prior('LogNormal', mu=3.487375077903208, sigma=2.0)
        """
        from ..inference.bayes import Prior

        return {
            "r": Prior("LogNormal", mu=0.0, sigma=1.5),
            "alpha": Prior("LogNormal", mu=float(np.log(scale)), sigma=2.0),
            "a": Prior("LogNormal", mu=0.0, sigma=1.0),
            "b": Prior("LogNormal", mu=0.0, sigma=1.0),
        }

