"""Compiled log-posterior kernels of the BG/NBD and Gamma-Gamma models on weighted patterns.

The NUTS fits of :mod:`clvmodels.inference.bayes` spend nearly all their time evaluating the
log-posterior and its gradient, tens of thousands of times. These kernels evaluate it in one
numba-compiled pass that releases the GIL, so that chains run in parallel threads of nutpie.
They work on the sampler's unconstrained coordinates ``u = log(theta)`` and return

``log p(u | data) = sum_i w_i loglik(theta; data_i) + sum_k [log prior_k(theta_k) + u_k]``

(the last term is the Jacobian of ``theta = exp(u)``), the same target as the PyMC model of
:func:`clvmodels.inference.bayes.build_pymc_model`; a test holds the two equal to 1e-8.

They follow the formulas of :mod:`clvmodels.models.beta_geo` and
:mod:`clvmodels.models.gamma_gamma` term by term, and share their work as the maximum-likelihood
kernels do: terms that depend on the data through the frequency only are evaluated once per
distinct frequency, the logarithms ``log(alpha + T)`` and ``log(alpha + t_x)`` once per distinct
``T`` and ``t_x`` (daily data have at most a few hundred of each), which leaves one exponential
and one ``log1p`` per pattern of a repeat buyer.

Priors are encoded as ``(code, p1, p2)`` rows; :data:`PRIOR_CODES` lists the families the
kernels know (with PyMC's names for their parameters). Other priors are sampled through the
PyMC graph instead.

numba is imported on the first use of this module's kernels (``import clvmodels`` does not).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..models.patterns import FrequencyLevels

__all__ = ["PRIOR_CODES", "BetaGeoKernel", "GammaGammaKernel", "ObjectiveKernel", "encode_priors"]

#: Prior families the kernels evaluate, with PyMC's parameter names in kernel order.
PRIOR_CODES: dict[str, tuple[int, tuple[str, ...]]] = {
    "LogNormal": (0, ("mu", "sigma")),
    "Gamma": (1, ("alpha", "beta")),
    "HalfNormal": (2, ("sigma",)),
    "Exponential": (3, ("lam",)),
    "Weibull": (4, ("alpha", "beta")),
    "HalfCauchy": (5, ("beta",)),
    "HalfStudentT": (6, ("nu", "sigma")),
}


def encode_priors(priors: dict[str, Any], names: tuple[str, ...]) -> np.ndarray | None:
    """``(k, 3)`` rows ``(code, p1, p2)`` for the kernels, or None if a prior is not supported.

    ``priors`` maps each parameter name to an object with ``distribution`` and ``params``
    (:class:`clvmodels.inference.bayes.Prior`); a prior is supported when its family is in
    :data:`PRIOR_CODES` and it is given by exactly the parameters listed there.

    Examples
    --------
    >>> from clvmodels.inference.bayes import Prior, default_priors
    >>> encode_priors(default_priors("GammaGamma", scale=35.0), ("p", "q", "gamma")).round(3)
    array([[0.   , 0.693, 1.5  ],
           [0.   , 1.099, 1.   ],
           [0.   , 3.555, 2.   ]])
    >>> encode_priors({"p": Prior("Uniform", lower=0.0, upper=10.0)}, ("p",)) is None
    True
    """
    rows = np.zeros((len(names), 3))
    for i, name in enumerate(names):
        prior = priors[name]
        entry = PRIOR_CODES.get(prior.distribution)
        if entry is None or set(prior.params) != set(entry[1]):
            return None
        code, keys = entry
        rows[i, 0] = code
        for j, key in enumerate(keys):
            rows[i, 1 + j] = float(prior.params[key])
    return rows


@lru_cache(maxsize=1)
def _compiled() -> dict[str, Any]:
    """The compiled kernels (numba is imported here, and the machine code loaded from its cache)."""
    from . import _numba_kernels as nk

    return {
        "beta_geo": nk.beta_geo, "beta_geo_split_d": nk.beta_geo_split_d, "beta_geo_split": nk.beta_geo_split,
        "gamma_gamma": nk.gamma_gamma, "digamma": nk.digamma, "log_prior": nk.log_prior,
    }


class _Kernel:
    """Log-posterior and gradient in ``u = log(theta)`` over weighted patterns (callable)."""

    n_dim: int

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        grad = np.empty(self.n_dim)
        value = self._fn(np.asarray(u, dtype=np.float64), self.priors, *self._args, grad)
        return float(value), grad


class BetaGeoKernel(_Kernel):
    """BG/NBD log-posterior over weighted ``(x, t_x, T)`` patterns; see the module docstring.

    Parameters
    ----------
    frequency, recency, T, weights : ndarray
        The patterns (:func:`clvmodels.data.compress_patterns`) and their weights.
    priors : ndarray
        ``(4, 3)`` rows from :func:`encode_priors` for ``r, alpha, a, b``.

    Examples
    --------
    The kernel at ``u = log(theta)`` is the weighted log-likelihood, plus the log-priors, plus
    the Jacobian ``sum(u)``:

    >>> from scipy import stats
    >>> from clvmodels.inference.bayes import default_priors
    >>> from clvmodels.models import beta_geo
    >>> x, t_x, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 30.43, 20.0]), np.array([38.86, 38.86, 30.0])
    >>> weights = np.array([10.0, 3.0, 1.0])
    >>> priors = default_priors("BetaGeo", scale=38.0)
    >>> kernel = BetaGeoKernel(x, t_x, T, weights, encode_priors(priors, ("r", "alpha", "a", "b")))
    >>> theta = np.array([0.243, 4.414, 0.793, 2.426])
    >>> value, grad = kernel(np.log(theta))
    >>> loglik = weights @ beta_geo.loglik(dict(zip(("r", "alpha", "a", "b"), theta)), x, t_x, T)
    >>> log_prior = sum(stats.lognorm(s=prior.params["sigma"], scale=np.exp(prior.params["mu"])).logpdf(v)
    ...                 for prior, v in zip(priors.values(), theta))
    >>> bool(np.isclose(value, loglik + log_prior + np.log(theta).sum(), rtol=1e-10)), grad.shape
    (True, (4,))
    """

    n_dim = 4
    #: Above this many repeat-buyer patterns the exponentials and logarithms of the pattern
    #: loop are evaluated by numpy's vectorised functions between two compiled stages.
    split_above = 20_000

    def __init__(
        self,
        frequency: np.ndarray,
        recency: np.ndarray,
        T: np.ndarray,
        weights: np.ndarray,
        priors: np.ndarray,
        *,
        split: bool | None = None,
    ) -> None:
        x = np.asarray(frequency, dtype=np.float64)
        levels = FrequencyLevels.from_patterns(x, weights)
        none = x == 0
        T0, w0 = _aggregate(np.asarray(T, dtype=np.float64)[none], weights[none])
        rep = ~none
        T_codes, T_unique = _codes(np.asarray(T, dtype=np.float64)[rep])
        R_codes, R_unique = _codes(np.asarray(recency, dtype=np.float64)[rep])
        x_codes = levels.index[rep].astype(np.int32)
        # sorted by (x, T, t_x), the lookups of the pattern loop walk memory nearly in order
        order = np.lexsort((R_codes, T_codes, x_codes))
        self.priors = np.ascontiguousarray(priors, dtype=np.float64)
        self._args = (
            levels.x, levels.weight, T0, w0, T_unique, R_unique,
            x_codes[order], T_codes[order], R_codes[order], np.ascontiguousarray(weights[rep][order], dtype=np.float64),
        )
        kernels = _compiled()
        self.split = int(rep.sum()) > self.split_above if split is None else bool(split)
        self._fn = kernels["beta_geo"]
        self._stage1, self._stage2 = kernels["beta_geo_split_d"], kernels["beta_geo_split"]

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        if not self.split:
            return super().__call__(u)
        u = np.asarray(u, dtype=np.float64)
        xs, wx, T0, w0, Tu, Ru, ix, iT, iR, w = self._args
        # work arrays per call: chains call the kernel from several threads at once
        d, e = np.empty(w.shape[0]), np.empty(w.shape[0])
        log_T, log_R = np.empty(Tu.shape[0]), np.empty(Ru.shape[0])
        self._stage1(u, xs, Tu, Ru, ix, iT, iR, d, e, log_T, log_R)
        np.exp(e, out=e)  # e = exp(-|d|)
        log1p_e = np.log1p(e)
        grad = np.empty(self.n_dim)
        value = self._stage2(u, self.priors, *self._args, d, e, log1p_e, log_T, log_R, grad)
        return float(value), grad


class GammaGammaKernel(_Kernel):
    """Gamma-Gamma log-posterior over weighted ``(x, m)`` patterns (x > 0); see the module docstring.

    Parameters
    ----------
    frequency, monetary_value, weights : ndarray
        The repeat buyers' patterns and their weights.
    priors : ndarray
        ``(3, 3)`` rows from :func:`encode_priors` for ``p, q, gamma``.

    Examples
    --------
    >>> from scipy import stats
    >>> from clvmodels.inference.bayes import default_priors
    >>> from clvmodels.models import gamma_gamma
    >>> x, m, weights = np.array([1.0, 2.0, 5.0]), np.array([20.0, 35.0, 50.0]), np.array([10.0, 5.0, 1.0])
    >>> priors = default_priors("GammaGamma", scale=30.0)
    >>> kernel = GammaGammaKernel(x, m, weights, encode_priors(priors, ("p", "q", "gamma")))
    >>> theta = np.array([6.25, 3.74, 15.44])
    >>> value, grad = kernel(np.log(theta))
    >>> loglik = weights @ gamma_gamma.loglik(dict(zip(("p", "q", "gamma"), theta)), x, m)
    >>> log_prior = sum(stats.lognorm(s=prior.params["sigma"], scale=np.exp(prior.params["mu"])).logpdf(v)
    ...                 for prior, v in zip(priors.values(), theta))
    >>> bool(np.isclose(value, loglik + log_prior + np.log(theta).sum(), rtol=1e-10)), grad.shape
    (True, (3,))
    """

    n_dim = 3

    def __init__(self, frequency: np.ndarray, monetary_value: np.ndarray, weights: np.ndarray, priors: np.ndarray) -> None:
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary_value, dtype=np.float64)
        levels = FrequencyLevels.from_patterns(x, weights)
        self.priors = np.ascontiguousarray(priors, dtype=np.float64)
        self._args = (
            levels.x, levels.weight, np.log(levels.x), levels.index.astype(np.int64),
            m, np.log(m), np.ascontiguousarray(weights, dtype=np.float64),
        )
        self._fn = _compiled()["gamma_gamma"]


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int32), unique


def _aggregate(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, unique = _codes(values)
    return unique, np.bincount(codes, weights=weights, minlength=len(unique))


#: parameters are sampled within exp(-LOG_BOUND) .. exp(LOG_BOUND), the optimiser's bounds
LOG_BOUND = 20.0


class ObjectiveKernel(_Kernel):
    """Log-posterior and gradient in ``u = log(theta)`` for any registered model: its
    maximum-likelihood objective (``model._objective``: a hand-written gradient, or the one
    PyTensor derives from ``loglik``) plus the compiled log-priors with their Jacobian.

    Examples
    --------
    It agrees with the BG/NBD's own kernel:

    >>> from clvmodels.inference.bayes import default_priors
    >>> from clvmodels.models.beta_geo import BetaGeo
    >>> x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 30.43]), np.array([38.86, 38.86])
    >>> weights = np.array([3.0, 1.0])
    >>> codes = encode_priors(default_priors("BetaGeo", scale=38.0), ("r", "alpha", "a", "b"))
    >>> u = np.log([0.243, 4.414, 0.793, 2.426])
    >>> generic, own = ObjectiveKernel(BetaGeo, (x, t_x, T), weights, codes)(u), BetaGeoKernel(x, t_x, T, weights, codes)(u)
    >>> bool(np.isclose(generic[0], own[0], rtol=1e-12) and np.allclose(generic[1], own[1], rtol=1e-9))
    True
    """

    def __init__(self, model_type: type, patterns: tuple[np.ndarray, ...], weights: np.ndarray, priors: np.ndarray) -> None:
        self.loglik_and_grad, _, _ = model_type._objective(patterns, np.asarray(weights, dtype=np.float64))
        self.priors = priors
        self.n_dim = len(model_type.param_names)
        self._log_prior = _compiled()["log_prior"]

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        u = np.asarray(u, dtype=np.float64)
        if not np.all(np.abs(u) <= LOG_BOUND):
            # beyond exp(+-20) the log-gamma differences of the likelihoods lose every digit
            # (a sampler that wanders there finds spurious peaks): outside the support
            return -np.inf, np.zeros(self.n_dim)
        theta = np.exp(u)
        with np.errstate(all="ignore"):
            value, grad_theta = self.loglik_and_grad(theta)
        if not np.isfinite(value):
            return -np.inf, np.zeros(self.n_dim)
        grad = np.asarray(grad_theta, dtype=np.float64) * theta
        for i in range(self.n_dim):
            code, p1, p2 = self.priors[i]
            prior, slope = self._log_prior(code, p1, p2, u[i])
            value += prior
            grad[i] += slope
        return float(value), grad
