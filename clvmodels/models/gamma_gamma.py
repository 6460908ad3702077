"""The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013).

Each transaction of a customer is worth ``z ~ Gamma(p, nu)`` (shape p, rate nu), and the rate
varies across customers as ``nu ~ Gamma(q, gamma)``. Spend is assumed independent of the
purchase process, so the model is fitted on the customers with at least one repeat purchase
and combined with a transaction model afterwards.

References
----------
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special, stats

from ..data import compress_patterns, validate_summary
from ..exceptions import StatisticalWarning
from ..inference.result import FitResult
from .base import SpendModel, _weights_of, weighted_patterns
from .ops import NUMPY_OPS
from .params import unpack
from .registry import register
from .patterns import FrequencyLevels, wsum

__all__ = ["GammaGamma", "loglik", "loglik_grad", "expected_spend", "mean_spend", "simulate"]

PARAM_NAMES = ("p", "q", "gamma")

#: |correlation| between frequency and mean spend above which the independence warning fires.
CORRELATION_WARNING = 0.3


def _frequency_terms(p: Any, q: Any, gamma: Any, x: Any, ops: Any) -> Any:
    """Terms that depend on the data through x only:
    ``lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + px ln(x)``."""
    px = p * x
    return ops.gammaln(px + q) - ops.gammaln(px) - ops.gammaln(q) + q * ops.log(gamma) + px * ops.log(x)


def _spend_terms(p: Any, q: Any, gamma: Any, x: Any, m: Any, ops: Any) -> tuple[Any, Any]:
    """``(px - 1) ln(m) - (px + q) ln(gamma + m x)``, and ``ln(gamma + m x)`` for the gradient."""
    px = p * x
    log_gmx = ops.log(gamma + m * x)
    return (px - 1) * ops.log(m) - (px + q) * log_gmx, log_gmx


def loglik(params: Any, frequency: ArrayLike, monetary_value: ArrayLike, *, ops: Any = NUMPY_OPS) -> Any:
    """Per-customer Gamma-Gamma log-likelihood of the *mean* spend.

    ``ln f(m | x) = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + (px-1) ln(m) + px ln(x)
    - (px+q) ln(gamma + m x)`` (Fader & Hardie 2013, eq. 3), for customers with x > 0.
    This is the density of the mean spend m; the density of the total spend x m is lower by
    ``ln(x)`` per customer (on CDNOW: -4055.9 for the mean, -4659.3 for the total).

    Examples
    --------
    >>> params = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> loglik(params, np.array([2.0]), np.array([22.35])).round(4)
    array([-3.5513])
    """
    p, q, gamma = unpack(params, PARAM_NAMES)
    spend, _ = _spend_terms(p, q, gamma, frequency, monetary_value, ops)
    return _frequency_terms(p, q, gamma, frequency, ops) + spend


def _frequency_grad(p: Any, q: Any, gamma: Any, x: Any) -> tuple[Any, Any, Any]:
    """Derivatives of :func:`_frequency_terms` with respect to p, q, gamma."""
    px = p * x
    dg = special.digamma(px + q)
    return x * (dg - special.digamma(px) + np.log(x)), dg - special.digamma(q) + np.log(gamma), q / gamma


def _spend_grad(p: Any, q: Any, gamma: Any, x: Any, m: Any, log_gmx: Any) -> tuple[Any, Any, Any]:
    """Derivatives of :func:`_spend_terms` with respect to p, q, gamma."""
    return x * (np.log(m) - log_gmx), -log_gmx, -(p * x + q) / (gamma + m * x)


def loglik_grad(params: Any, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
    """Gradient of :func:`loglik` with respect to ``(p, q, gamma)``, shape ``(3,) + data``.

    Examples
    --------
    >>> params = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> grad = loglik_grad(params, 2, 22.35)
    >>> step = dict(params, q=params["q"] + 1e-6)
    >>> numeric = (loglik(step, 2, 22.35) - loglik(params, 2, 22.35)) / 1e-6
    >>> grad.shape, bool(np.isclose(grad[1], numeric, rtol=1e-5))
    ((3,), True)
    """
    p, q, gamma = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    _, log_gmx = _spend_terms(p, q, gamma, x, m, NUMPY_OPS)
    parts = zip(_frequency_grad(p, q, gamma, x), _spend_grad(p, q, gamma, x, m, log_gmx))
    return np.stack(np.broadcast_arrays(*(f + s for f, s in parts)))


class _PatternLoglik:
    """Total log-likelihood and gradient over weighted (x, m) patterns, for maximum likelihood.

    The frequency-only terms are evaluated once per distinct frequency.
    """

    def __init__(self, x: np.ndarray, m: np.ndarray, weights: np.ndarray) -> None:
        self.x, self.m, self.w = x, m, weights
        self.levels = FrequencyLevels.from_patterns(x, weights)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = theta
        lv, w = self.levels, self.w
        spend, log_gmx = _spend_terms(p, q, gamma, self.x, self.m, NUMPY_OPS)
        value = wsum(lv.weight, _frequency_terms(p, q, gamma, lv.x, NUMPY_OPS)) + wsum(w, spend)
        freq = _frequency_grad(p, q, gamma, lv.x)
        per = _spend_grad(p, q, gamma, self.x, self.m, log_gmx)
        grad = np.array([wsum(lv.weight, f) + wsum(w, s) for f, s in zip(freq, per)])
        return value, grad


def _weighted_correlation(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Pearson correlation of x and m with frequency weights w, and its two-sided p-value
    (t test on ``sum(w) - 2`` degrees of freedom, as :func:`scipy.stats.pearsonr` with unit weights)."""
    n = float(w.sum())
    if n <= 2:
        return 0.0, 1.0
    dx = x - np.average(x, weights=w)
    dm = m - np.average(m, weights=w)
    sxx, smm = float(w @ (dx * dx)), float(w @ (dm * dm))
    if sxx <= 0 or smm <= 0:
        return 0.0, 1.0
    corr = float(np.clip(w @ (dx * dm) / np.sqrt(sxx * smm), -1.0, 1.0))
    if abs(corr) == 1.0:
        return corr, 0.0
    t = corr * np.sqrt((n - 2) / (1 - corr * corr))
    return corr, float(2 * stats.t.sf(abs(t), n - 2))


def mean_spend(params: Any) -> Any:
    """Population mean spend per transaction, ``p gamma / (q - 1)`` (infinite when q <= 1).

    Fader & Hardie (2013): the expected spend of a customer with no repeat purchase.

    Examples
    --------
    >>> round(float(mean_spend({"p": 6.25, "q": 3.74, "gamma": 15.44})), 2)
    35.22
    >>> draws = pd.DataFrame({"p": [6.0, 6.0], "q": [3.0, 0.9], "gamma": [15.0, 15.0]})
    >>> mean_spend(draws).ravel()  # one value per draw
    array([45., inf])
    """
    p, q, gamma = unpack(params, PARAM_NAMES)
    with np.errstate(divide="ignore"):
        return np.where(q > 1, p * gamma / np.maximum(q - 1, 0.0), np.inf)


def expected_spend(params: Any, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
    """Expected spend per transaction given x repeat transactions of mean value m.

    ``E[M | x, m] = p (gamma + x m) / (p x + q - 1)`` (Fader & Hardie 2013, eq. 5): a weighted
    average of the population mean ``p gamma / (q - 1)`` and the customer's own mean. For
    x = 0 it is the population mean.

    Examples
    --------
    >>> params = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> expected_spend(params, np.array([2, 0]), np.array([22.35, 0.0])).round(2)
    array([24.66, 35.22])
    """
    p, q, gamma = unpack(params, PARAM_NAMES)
    x = np.asarray(frequency, dtype=np.float64)
    m = np.where(x > 0, np.asarray(monetary_value, dtype=np.float64), 0.0)
    shape = p * x + q - 1
    # the posterior of nu is Gamma(p x + q, gamma + x m); E[1 / nu] exists only for p x + q > 1:
    # below that the expected spend is infinite (spend too heavy-tailed), never negative
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(shape > 0, p * (gamma + x * m) / np.where(shape > 0, shape, 1.0), np.inf)


def spend_mean_exists(params: Any, frequency: ArrayLike) -> np.ndarray:
    """Whether the expected spend ``E[M | x, m]`` exists (is finite): ``p x + q > 1``.

    With ``q <= 1`` the population mean spend ``p gamma / (q - 1)`` does not exist (spend per
    customer has too heavy a tail), and neither does the expected spend of a customer with
    fewer than ``(1 - q) / p`` repeat purchases: :func:`expected_spend` is infinite there.

    Examples
    --------
    >>> spend_mean_exists({"p": 0.5, "q": 0.8, "gamma": 10.0}, np.array([0, 1]))
    array([False,  True])
    """
    p, q, _ = unpack(params, PARAM_NAMES)
    return p * np.asarray(frequency, dtype=np.float64) + q > 1


def sample_spend_rate(rng: np.random.Generator, params: tuple[np.ndarray, ...], frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
    """The spend rate ``nu ~ Gamma(q + p x, gamma + x m)`` of each cell, from its posterior
    given x repeat transactions of mean value m (``params`` one value per cell)."""
    p, q, gamma = params
    return rng.gamma(q + p * frequency) / (gamma + frequency * monetary_value)


def sample_purchase_values(rng: np.random.Generator, params: tuple[np.ndarray, ...], rate: np.ndarray) -> np.ndarray:
    """The value ``Gamma(p, nu)`` of one purchase per entry (``params`` and ``rate`` per purchase)."""
    return rng.gamma(params[0]) / rate


def simulate(
    params: Any,
    frequency: ArrayLike,
    *,
    random_seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate the mean spend of customers with the given numbers of repeat transactions.

    Each customer draws ``nu ~ Gamma(q, gamma)``; the mean of x transactions of
    ``Gamma(p, nu)`` is ``Gamma(p x, nu x)``, drawn directly.

    Returns
    -------
    DataFrame
        ``frequency``, ``monetary_value`` (0 when x = 0) and the latent ``nu_``.

    Examples
    --------
    >>> sim = simulate({"p": 6.25, "q": 3.74, "gamma": 15.44}, np.array([1, 0, 3]), random_seed=0)
    >>> (sim["monetary_value"] > 0).tolist()
    [True, False, True]
    """
    p, q, gamma = (float(v) for v in unpack(params, PARAM_NAMES))
    rng = np.random.default_rng(random_seed)
    x = np.asarray(frequency)
    nu = rng.gamma(q, 1.0 / gamma, size=x.shape)
    shape = np.where(x > 0, p * x, 1.0)
    m = rng.gamma(shape, 1.0 / (nu * np.maximum(x, 1)))
    frame = pd.DataFrame({"frequency": x, "monetary_value": np.where(x > 0, m, 0.0), "nu_": nu})
    frame.index.name = "customer_id"
    return frame


@register
class GammaGamma(SpendModel):
    """Gamma-Gamma model of spend per transaction, fitted by maximum likelihood or Bayesian inference.

    ``fit`` uses the customers with ``frequency > 0`` only (their mean repeat spend is the
    data) and warns with a :class:`~clvmodels.exceptions.StatisticalWarning` when frequency
    and mean spend are clearly correlated (``|corr| > 0.3``, p < 0.01), since the model assumes
    they are independent.

    Parameters
    ----------
    penalty : float
        L2 penalty on the parameters, as in :class:`~clvmodels.BetaGeo`.
    priors, draws, tune, chains, target_accept, sampler, random_seed, progressbar, log_likelihood
        Settings of the Bayesian fits (``fit(data, method="nuts")``, ``"advi"``, ``"map"``);
        see :class:`~clvmodels.models.base.Model` and :mod:`clvmodels.inference.bayes`.

    Fitted attributes
    -----------------
    As :class:`~clvmodels.models.base.Model`, plus ``frequency_spend_corr_`` (Pearson
    correlation of frequency and mean spend among repeat buyers). ``loglik_`` is the
    log-likelihood of the mean spends (Fader & Hardie 2013, eq. 3).

    Examples
    --------
    >>> from clvmodels import calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> summary = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                     time_unit="W", amount_col="amount")
    >>> model = GammaGamma().fit(summary)
    >>> model.n_customers_, model.params_.round(2).tolist()
    (946, [6.25, 3.74, 15.44])
    >>> model.expected_spend(summary).head(3).round(2).tolist()
    [24.65, 18.91, 35.17]
    """

    key = "gamma-gamma"
    display_name = "Gamma-Gamma"
    param_names = PARAM_NAMES
    formulas = sys.modules[__name__]

    bayes_kernel = "GammaGammaKernel"

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        """The weakly informative default priors, all log-normal (``scale`` = mean spend of the
        repeat buyers).

        ``p ~ LogNormal(log 2, 1.5)``
            shape of the spend of one transaction, whose coefficient of variation within a
            customer is ``1 / sqrt(p)`` (CDNOW: 6.25).
        ``q ~ LogNormal(log 3, 1)``
            shape of the Gamma distribution of the customers' spend rates nu; the population
            mean spend ``p gamma / (q - 1)`` exists for q > 1, and the prior puts 86% of its
            mass there.
        ``gamma ~ LogNormal(log(scale), 2)``
            rate parameter (money); with p near q - 1 the population mean spend is centred on
            the observed mean.

        Examples
        --------
        >>> GammaGamma.default_priors(30.0)["q"]
        Prior('LogNormal', mu=1.0986122886681098, sigma=1.0)
        """
        from ..inference.bayes import Prior

        return {
            "p": Prior("LogNormal", mu=float(np.log(2.0)), sigma=1.5),
            "q": Prior("LogNormal", mu=float(np.log(3.0)), sigma=1.0),
            "gamma": Prior("LogNormal", mu=float(np.log(scale)), sigma=2.0),
        }

    def fit(self, data: pd.DataFrame, method: str = "mle", *, sample_weight: Any = None) -> GammaGamma:
        """Fit on the customers with ``frequency > 0``, by maximum likelihood or Bayesian inference.

        Parameters
        ----------
        data : DataFrame
            Per-customer ``frequency``, ``monetary_value`` (and ``recency``, ``T``), as from
            :func:`clvmodels.rfm_summary` with ``amount_col``.
        method : {"mle", "nuts", "advi", "map"}
            As in :meth:`clvmodels.BetaGeo.fit`.
        sample_weight : str or array_like, optional
            A column of ``data`` (or an array) counting the customers each row stands for (a
            pattern table); the independence check then uses weighted moments.

        Returns
        -------
        GammaGamma
            The fitted model.

        Examples
        --------
        >>> from clvmodels import calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W", amount_col="amount")
        >>> model = GammaGamma().fit(data)
        >>> model.n_customers_, model.params_.round(2).tolist(), round(model.loglik_, 1)
        (946, [6.25, 3.74, 15.44], -4055.9)
        >>> round(model.frequency_spend_corr_, 2)  # small: the model's independence assumption holds
        0.11
        """
        (x_all, m_all), s, repeat = self._repeat_buyers(data)
        row_weights = _weights_of(data, sample_weight)
        w_all = np.ones(len(x_all)) if row_weights is None else row_weights[repeat]
        n = float(w_all.sum())
        self.time_unit_ = data.attrs.get("time_unit") if hasattr(data, "attrs") else None
        corr, p_value = _weighted_correlation(x_all, m_all, w_all)
        self.frequency_spend_corr_ = float(corr)
        if abs(corr) > CORRELATION_WARNING and p_value < 0.01:
            warnings.warn(
                f"Frequency and mean spend are correlated among the {n:,.0f} repeat buyers "
                f"(Pearson r = {corr:.2f}, p = {p_value:.1g}); the Gamma-Gamma model assumes "
                "they are independent, so its expected spend (and CLV) may be biased. Consider "
                "segmenting customers or a model of spend that depends on frequency.",
                StatisticalWarning,
                stacklevel=2,
            )
        patterns, weights, inverse = compress_patterns(x_all, m_all)
        if row_weights is not None:
            patterns, weights, inverse = weighted_patterns(patterns, inverse, w_all)

        def observed() -> pd.DataFrame:
            return pd.DataFrame({"frequency": x_all, "monetary_value": m_all}, index=s.index[repeat])

        if np.ptp(m_all) == 0:
            self._fit_constant(float(m_all[0]), method, patterns, weights)
            return self
        self._fit(method, patterns, weights, inverse, observed)
        return self

    def _fit_constant(self, value: float, method: str, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> None:
        """Every repeat buyer's mean spend is the same: spend has no variation, a limit of the
        model (p, q -> infinity: no variation within or across customers) at which every
        expected and simulated spend is that value. Stand for it with p = q = e^14 and gamma set
        so that the mean spend is exactly ``value``; the likelihood is then unbounded (a point
        mass), so ``loglik_`` is reported as infinite."""
        big = float(np.exp(14.0))
        params = np.array([big, big, value * (big - 1.0) / big])
        k = len(params)
        self._set_fitted(
            FitResult(
                method=method,
                params=params,
                covariance=np.zeros((k, k)),
                covariance_log=np.zeros((k, k)),
                loglik=np.inf,
                converged=True,
                n_customers=int(round(float(weights.sum()))),
                patterns=patterns,
                weights=weights,
                optimizer={"message": "every amount is identical: spend has no variation"},
                extra={"boundary_": f"every repeat buyer's mean spend is {value:,.2f}: spend has no variation, so the spend forecast is that constant"},
            )
        )
        warnings.warn(
            f"Gamma-Gamma: every repeat buyer's mean spend is {value:,.2f}; spend has no variation, so the "
            "spend forecast is that constant (the model's limit p, q -> infinity; no parameter uncertainty).",
            StatisticalWarning,
            stacklevel=3,
        )

    @staticmethod
    def _repeat_buyers(data: pd.DataFrame) -> tuple[tuple[np.ndarray, np.ndarray], Any, np.ndarray]:
        if isinstance(data, pd.DataFrame) and "frequency" in data.columns and "monetary_value" in data.columns \
                and not {"recency", "T"} <= set(data.columns):
            # a table of (frequency, monetary_value) patterns: spend needs nothing else
            data = data.assign(recency=0.0, T=0.0)
        s = validate_summary(data, monetary=True)
        repeat = s.frequency > 0
        n = int(repeat.sum())
        if n < 2:
            raise ValueError(
                f"Gamma-Gamma needs customers with repeat purchases; data has {n} "
                "(frequency > 0). Use a longer observation period."
            )
        return (s.frequency[repeat], s.monetary_value[repeat]), s, repeat

    def _pattern_data(self, data: pd.DataFrame) -> tuple[Any, ...]:
        """``(patterns, weights, inverse, observed)`` of the repeat buyers."""
        (x, m), s, repeat = self._repeat_buyers(data)
        patterns, weights, inverse = compress_patterns(x, m)
        return patterns, weights, inverse, pd.DataFrame({"frequency": x, "monetary_value": m}, index=s.index[repeat])

    @staticmethod
    def _objective(patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Any, list, None]:
        """The likelihood over weighted (x, m) patterns and starting points."""
        x, m = patterns
        mean_m = float(np.average(m, weights=weights))
        starts = [(2.0, 3.0, mean_m), (1.0, 1.0, 1.0), (10.0, 5.0, mean_m * 0.4), (0.5, 2.0, mean_m * 2)]
        return _PatternLoglik(x.astype(np.float64), m, weights), starts, None

    def loglik_per_customer(self, data: pd.DataFrame) -> pd.Series:
        """Log-likelihood (mean-spend density) of each repeat customer at the fitted parameters.

        Examples
        --------
        >>> from clvmodels import calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W", amount_col="amount")
        >>> model = GammaGamma().fit(data)
        >>> loglik = model.loglik_per_customer(data)  # customers with frequency > 0 only
        >>> len(loglik), loglik.head(3).round(2).tolist(), round(float(loglik.sum()), 1)
        (946, [-3.55, -3.74, -6.06], -4055.9)
        """
        self._check_fitted()
        s = validate_summary(data, monetary=True)
        repeat = s.frequency > 0
        values = loglik(self.params_, s.frequency[repeat], s.monetary_value[repeat])
        return pd.Series(values, index=s.index[repeat], name="loglik")

    def expected_spend(self, data: pd.DataFrame) -> pd.Series:
        """Expected spend per transaction of each customer; see :func:`expected_spend`.

        Examples
        --------
        >>> from clvmodels import calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W", amount_col="amount")
        >>> model = GammaGamma().fit(data)
        >>> model.expected_spend(data).head(6).round(2).tolist()  # Fader & Hardie (2013)
        [24.65, 18.91, 35.17, 35.17, 35.17, 71.46]
        """
        self._check_fitted()
        s = validate_summary(data, monetary=True)
        values = expected_spend(self.params_, s.frequency, s.monetary_value)
        return pd.Series(values, index=s.index, name="expected_spend")

    def mean_spend(self) -> float:
        """Population mean spend per transaction at the fitted parameters.

        Examples
        --------
        >>> from clvmodels import calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W", amount_col="amount")
        >>> model = GammaGamma().fit(data)
        >>> round(model.mean_spend(), 2)  # Fader & Hardie (2013): 35.17
        35.17
        """
        self._check_fitted()
        return float(mean_spend(self.params_))

    def simulate(
        self, frequency: ArrayLike, *, random_seed: int | np.random.Generator | None = None
    ) -> pd.DataFrame:
        """Simulate mean spends from the fitted parameters; see :func:`simulate`.

        Examples
        --------
        >>> from clvmodels import calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W", amount_col="amount")
        >>> model = GammaGamma().fit(data)
        >>> sim = model.simulate(data["frequency"], random_seed=1)
        >>> sim.columns.tolist(), len(sim)
        (['frequency', 'monetary_value', 'nu_'], 2357)
        >>> refit = GammaGamma().fit(data.assign(monetary_value=sim["monetary_value"].to_numpy()))
        >>> bool(abs(refit.mean_spend() / model.mean_spend() - 1) < 0.15)
        True
        """
        self._check_fitted()
        return simulate(self.params_, frequency, random_seed=random_seed)
