"""What every model shares: settings, fit dispatch (maximum likelihood or Bayesian), fitted state,
parameter draws, summary, and saving and loading."""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import ConvergenceWarning, NotFittedError
from ..inference.mle import MLEResult, maximize_loglik, single_threaded_blas

__all__ = ["Model"]


class Model:
    """Base class of the clvmodels estimators (scikit-learn conventions).

    Settings are keyword-only arguments of ``__init__`` stored unchanged (checked when ``fit``
    uses them); ``fit(data, method=...)`` returns the model; fitted state ends in ``_``.

    Parameters
    ----------
    penalty : float
        L2 penalty of maximum likelihood (``method="mle"``); see the model's class.
    priors : dict, optional
        Bayesian methods: parameter name -> :class:`~clvmodels.inference.bayes.Prior`, replacing
        the default prior of that parameter (the others keep theirs; see
        :func:`~clvmodels.inference.bayes.default_priors` for the defaults and their reasoning).
    draws, tune, chains : int
        NUTS: draws kept per chain, warm-up iterations per chain (discarded), and chains. The
        chains run in parallel on the available cores. ``tune=None`` takes the sampler's own
        default: 300 for nutpie (whose mass-matrix adaptation settles fast), 1000 for PyMC.
        ADVI: ``chains x draws`` draws of the fitted approximation.
    target_accept : float
        NUTS target acceptance rate; raise it (0.95) when there are divergences.
    sampler : {"auto", "nutpie", "pymc"}
        NUTS implementation. ``"auto"``: nutpie when installed (``clvmodels[nutpie]``), else
        PyMC's NUTS.
    random_seed : int, optional
        Seed of the Bayesian fits; the same seed gives the same draws.
    progressbar : bool, optional
        Show progress; by default on in a terminal or notebook, off in batch jobs and CI.
    log_likelihood : bool, optional
        Store the per-customer log-likelihood of every draw in ``idata_`` (for ``az.loo``).
        By default it is stored when it takes at most
        :data:`~clvmodels.inference.bayes.LOG_LIKELIHOOD_BUDGET` bytes (1 GB; 4,000 draws of
        31,000 customers) and left out otherwise, with a note in ``idata_.attrs``.

    Fitted attributes
    -----------------
    method_ : str
        How the model was fitted: ``"mle"``, ``"nuts"``, ``"advi"`` or ``"map"``.
    params_ : Series
        Maximum-likelihood estimates (``"mle"``), posterior means (``"nuts"``, ``"advi"``) or
        the posterior mode (``"map"``), indexed by the papers' parameter names.
    covariance_ : DataFrame
        Symmetric covariance of ``params_`` (delta method from the log-parameters; for
        posterior fits, the posterior covariance).
    loglik_ : float
        Log-likelihood at ``params_`` (unpenalised), summed over customers.
    n_customers_ : int
        Number of customers the model was fitted on.
    converged_ : bool
        Whether the optimiser met its criteria (small gradient, positive-definite Hessian,
        no parameter at 0 or infinity).
    optimizer_ : dict
        Optimiser diagnostics (``"mle"``, ``"map"``).
    idata_ : arviz.InferenceData
        ``"nuts"`` and ``"advi"``: groups ``posterior``, ``sample_stats``, ``observed_data``
        (per customer), ``constant_data`` (the weighted patterns) and, within the memory budget,
        ``log_likelihood`` (per customer and draw).
    sampler_ : dict
        ``"nuts"`` and ``"advi"``: which sampler ran, its settings, wall time and the
        convergence problems found (empty when ``converged_``).
    priors_ : dict
        Bayesian fits: the priors used, defaults filled in.

    Examples
    --------
    The estimators (:class:`~clvmodels.BetaGeo`, :class:`~clvmodels.GammaGamma`) store their
    settings unchanged and print the ones that differ from the defaults:

    >>> from clvmodels import BetaGeo
    >>> model = BetaGeo(chains=2, draws=500, random_seed=1)
    >>> model
    BetaGeo(draws=500, chains=2, random_seed=1)
    >>> model.is_fitted
    False
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    _settings: ClassVar[tuple[str, ...]] = (
        "penalty", "priors", "draws", "tune", "chains", "target_accept", "sampler", "random_seed", "progressbar",
        "log_likelihood",
    )

    def __init__(
        self,
        *,
        penalty: float = 0.0,
        priors: dict[str, Any] | None = None,
        draws: int = 1000,
        tune: int | None = None,
        chains: int = 4,
        target_accept: float = 0.8,
        sampler: str = "auto",
        random_seed: int | None = None,
        progressbar: bool | None = None,
        log_likelihood: bool | None = None,
    ) -> None:
        self.penalty = penalty
        self.priors = priors
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.target_accept = target_accept
        self.sampler = sampler
        self.random_seed = random_seed
        self.progressbar = progressbar
        self.log_likelihood = log_likelihood

    # -- scikit-learn protocol ----------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Settings given to ``__init__``.

        Examples
        --------
        >>> from clvmodels import BetaGeo
        >>> settings = BetaGeo(chains=2).get_params()
        >>> settings["chains"], settings["penalty"], settings["sampler"]
        (2, 0.0, 'auto')
        """
        return {name: getattr(self, name) for name in self._settings}

    def set_params(self, **settings: Any) -> Model:
        """Change settings; returns the model.

        Examples
        --------
        >>> from clvmodels import BetaGeo
        >>> BetaGeo().set_params(penalty=0.001)
        BetaGeo(penalty=0.001)
        >>> BetaGeo().set_params(penalizer_coef=0.001)
        Traceback (most recent call last):
        ...
        ValueError: BetaGeo has no setting 'penalizer_coef'; settings: ('penalty', 'priors', 'draws', 'tune', 'chains', 'target_accept', 'sampler', 'random_seed', 'progressbar', 'log_likelihood').
        """
        for name, value in settings.items():
            if name not in self._settings:
                raise ValueError(f"{type(self).__name__} has no setting {name!r}; settings: {self._settings}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        # the settings that differ from their defaults, as scikit-learn prints them
        defaults = Model().get_params()
        changed = {k: v for k, v in self.get_params().items() if not _same(v, defaults[k])}
        settings = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({settings})"

    def _repr_html_(self) -> str:
        """Jupyter display: the settings, and once fitted the fit and its parameter table."""
        if not self.is_fitted:
            return f"<pre>{html.escape(repr(self))}</pre>"
        status = "converged" if self.converged_ else "<b>did not converge</b>"
        return (
            f"<p><b>{html.escape(repr(self))}</b>: {self.n_customers_:,} customers, "
            f"log-likelihood {self.loglik_:,.2f}, {status}</p>"
            + self.summary().to_html(float_format=lambda v: f"{v:.4g}")
        )

    # -- fitted state -----------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        """True once :meth:`fit` has run.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo()
        >>> model.is_fitted, model.fit(data).is_fitted
        (False, True)
        """
        return hasattr(self, "params_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call .fit(data) before asking "
                "for predictions."
            )

    def _check_penalty(self) -> float:
        penalty = float(self.penalty)
        if not np.isfinite(penalty) or penalty < 0:
            raise ValueError(f"penalty={self.penalty!r} must be a finite number >= 0.")
        return penalty

    @staticmethod
    def _objective(patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Callable, list, Callable | None]:
        """Return ``(loglik_and_grad, starts, coarse)`` for weighted patterns (per model)."""
        raise NotImplementedError

    def _fit(
        self,
        method: str,
        patterns: tuple[np.ndarray, ...],
        weights: np.ndarray,
        inverse: np.ndarray,
        observed: Callable[[], pd.DataFrame],
    ) -> None:
        """Fit weighted patterns by ``method``; ``observed()`` gives the per-customer data
        (kept in ``idata_`` by the Bayesian methods) and ``inverse`` maps customers to patterns."""
        if method == "mle":
            self._fit_patterns(patterns, weights)
            return
        from ..inference import bayes

        if method not in bayes.METHODS:
            raise ValueError(f"method={method!r}; use 'mle' (maximum likelihood), 'nuts', 'advi' or 'map'.")
        bayes.fit(self, method, patterns, weights, inverse, observed())

    def _fit_patterns(self, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> None:
        """Maximise the likelihood of weighted patterns and store the fitted state.

        The model's ``_objective`` gives the likelihood, starting points and optionally a
        cheaper approximation of it (the data on a coarser time grid), whose maximum is tried
        first as a starting point.
        """
        penalty = self._check_penalty()
        n_customers = float(weights.sum())
        result = _maximize(type(self), penalty, patterns, weights)
        names = list(self.param_names)
        for attr in ("idata_", "sampler_", "priors_"):
            self.__dict__.pop(attr, None)
        self.method_ = "mle"
        self._patterns_ = patterns
        self._pattern_weights_ = weights
        self.n_patterns_ = len(weights)
        self.params_ = pd.Series(result.params, index=names, name="estimate")
        self.covariance_ = pd.DataFrame(result.covariance, index=names, columns=names)
        self.covariance_log_ = pd.DataFrame(result.covariance_log, index=names, columns=names)
        self.loglik_ = result.loglik
        self.n_customers_ = int(round(n_customers))
        self.converged_ = bool(result.converged)
        self.optimizer_ = result.diagnostics
        if not self.converged_:
            warnings.warn(
                f"{type(self).__name__} maximum likelihood did not converge: "
                f"{'; '.join(result.diagnostics.get('problems', [])) or result.diagnostics.get('message')}. "
                f"Estimates {', '.join(f'{k} {v:.6g}' for k, v in self.params_.items())}, optimiser {result.diagnostics.get('method')!r} "
                f"({result.diagnostics.get('message')}). Try a small penalty (penalty=0.001), "
                "check the data's time unit, or fit more customers.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def sample_params(
        self,
        n_draws: int = 1000,
        *,
        method: str | None = None,
        random_seed: int | np.random.SeedSequence | None = None,
        n_jobs: int = 2,
    ) -> pd.DataFrame:
        """Draws of the parameters that express their uncertainty.

        Parameters
        ----------
        n_draws : int
            Number of draws.
        method : {None, "laplace", "bootstrap", "posterior"}
            ``None``: the fit's own kind of draws (``"posterior"`` after ``nuts`` or ``advi``,
            ``"laplace"`` otherwise).
            ``"laplace"``: the asymptotic normal distribution of the log-parameters at the
            maximum-likelihood estimate (mean ``log(params_)``, covariance ``covariance_log_``),
            mapped back so that every draw is positive; after ``method="map"``, the Laplace
            approximation of the posterior at its mode. ``"bootstrap"``: resample the
            customers with replacement (multinomial counts over the fitted patterns) and refit
            by maximum likelihood, once per draw (maximum-likelihood fits only).
            ``"posterior"``: a seeded random subset of the posterior draws in ``idata_``
            (see :func:`clvmodels.inference.bayes.posterior_draws` for ``n_draws`` larger than
            the draws available: each is then repeated as evenly as possible). After a posterior
            fit the posterior draws are the parameter uncertainty: ``"laplace"`` and
            ``"bootstrap"`` are refused there.
        random_seed : int or SeedSequence, optional
            Seed; the same seed gives the same draws (for the bootstrap, whatever ``n_jobs``).
        n_jobs : int
            Processes for the bootstrap (the machine's two cores by default).

        Returns
        -------
        DataFrame
            One row per draw (index ``draw``), one column per parameter: the form every
            per-customer formula accepts to return ``(draws, customers)`` arrays.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> draws = BetaGeo().fit(data).sample_params(2000, random_seed=1)
        >>> draws.shape, bool((draws > 0).all().all())
        ((2000, 4), True)
        """
        self._check_fitted()
        if int(n_draws) != n_draws or n_draws < 1:
            raise ValueError(f"n_draws={n_draws!r} must be a whole number >= 1.")
        n_draws = int(n_draws)
        seed = random_seed if isinstance(random_seed, np.random.SeedSequence) else np.random.SeedSequence(random_seed)
        posterior = getattr(self, "idata_", None) is not None
        if method is None:
            method = "posterior" if posterior else "laplace"
        if posterior and method == "posterior":
            from ..inference.bayes import posterior_draws

            return posterior_draws(self, n_draws, seed)
        if method == "posterior":
            raise ValueError(
                f"method='posterior' needs a posterior fit (method_={getattr(self, 'method_', 'mle')!r}); "
                "fit with method='nuts' or 'advi', or use method='laplace'."
            )
        if posterior and method in ("laplace", "bootstrap"):
            raise ValueError(
                f"method={method!r} approximates the uncertainty of a maximum-likelihood fit, but "
                f"this model was fitted by {self.method_!r}: use its posterior draws (method=None)."
            )
        if method == "bootstrap" and getattr(self, "method_", "mle") != "mle":
            raise ValueError(
                f"method='bootstrap' refits by maximum likelihood, but this model was fitted by "
                f"{self.method_!r}; use the posterior draws (method=None)."
            )
        if method == "laplace":
            cov = self.covariance_log_.to_numpy()
            if not np.all(np.isfinite(cov)):
                raise ValueError(
                    f"{type(self).__name__} has no finite covariance (the fit did not converge), "
                    "so there are no Laplace draws; use method='bootstrap' or a penalty."
                )
            rng = np.random.default_rng(seed)
            values = np.exp(rng.multivariate_normal(np.log(self.params_.to_numpy()), cov, size=n_draws, method="cholesky"))
        elif method == "bootstrap":
            values, converged = self._bootstrap(n_draws, seed, n_jobs)
            if not converged.all():
                warnings.warn(
                    f"{int((~converged).sum())} of {n_draws} bootstrap refits did not converge; "
                    "their draws are kept (they are part of the sampling distribution).",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        else:
            raise ValueError(f"method={method!r}; use 'laplace', 'bootstrap' or 'posterior'.")
        return pd.DataFrame(values, columns=list(self.param_names), index=pd.RangeIndex(n_draws, name="draw"))

    def _bootstrap(self, n_draws: int, seed: np.random.SeedSequence, n_jobs: int) -> tuple[np.ndarray, np.ndarray]:
        seeds = seed.spawn(n_draws)
        n_jobs = max(1, min(int(n_jobs), n_draws))
        chunks = [seeds[i::n_jobs] for i in range(n_jobs)]
        args = (type(self), self._check_penalty(), self._patterns_, self._pattern_weights_)
        if n_jobs == 1:
            results = [_bootstrap_chunk(*args, chunks[0])]
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                results = list(pool.map(_bootstrap_chunk, *zip(*[(*args, c) for c in chunks])))
        values = np.empty((n_draws, len(self.param_names)))
        converged = np.empty(n_draws, dtype=bool)
        for i, (params, ok) in enumerate(results):
            values[i::n_jobs], converged[i::n_jobs] = params, ok
        return values, converged

    def summary(self, ci: float = 0.95) -> pd.DataFrame:
        """Estimates with standard errors and interval bounds.

        Parameters
        ----------
        ci : float
            Level of the intervals, in (0, 1).

        Returns
        -------
        DataFrame
            Maximum likelihood and MAP: one row per parameter with ``estimate``,
            ``std_error`` (delta method) and ``lower``, ``upper``: a Wald interval on the log
            scale mapped back, so that the bounds stay positive
            (``estimate * exp(-+ z * se_log)``). Posterior fits (``nuts``, ``advi``):
            ``mean, sd, lower, upper`` (equal-tailed credible interval) and ArviZ's
            ``mcse_mean, ess_bulk, ess_tail, r_hat``
            (:func:`clvmodels.inference.bayes.posterior_summary`).

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> BetaGeo().fit(data).summary(ci=0.9).round(3)
                   estimate  std_error  lower  upper
        parameter
        r             0.243      0.013  0.223  0.264
        alpha         4.414      0.378  3.833  5.082
        a             0.793      0.186  0.539  1.166
        b             2.426      0.705  1.504  3.914
        """
        self._check_fitted()
        if getattr(self, "idata_", None) is not None:
            from ..inference.bayes import posterior_summary

            return posterior_summary(self.idata_, self.param_names, ci)
        if not 0 < ci < 1:
            raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.95.")
        z = stats.norm.ppf(0.5 + ci / 2.0)
        se_log = np.sqrt(np.diag(self.covariance_log_.to_numpy()))
        est = self.params_.to_numpy()
        table = pd.DataFrame(
            {
                "estimate": est,
                "std_error": np.sqrt(np.diag(self.covariance_.to_numpy())),
                "lower": est * np.exp(-z * se_log),
                "upper": est * np.exp(z * se_log),
            },
            index=pd.Index(self.param_names, name="parameter"),
        )
        table.attrs["ci"] = ci
        return table

    # -- Bayesian helpers, saving and loading ----------------------------------------------------

    def _pattern_data(self, data: pd.DataFrame) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray, pd.DataFrame]:
        """``(patterns, weights, inverse, observed)`` of ``data``, as ``fit`` uses them (per model)."""
        raise NotImplementedError

    def build_pymc_model(self, data: pd.DataFrame | None = None) -> Any:
        """The PyMC model behind the Bayesian fits, to inspect or extend and sample yourself.

        The priors are the model's (``priors`` setting over the defaults) and the likelihood is
        the model's log-likelihood over weighted patterns, a ``pm.Potential`` named
        ``"loglik"``; see :func:`clvmodels.inference.bayes.build_pymc_model`.

        Parameters
        ----------
        data : DataFrame, optional
            The per-customer summary; by default the data of the last fit.

        Returns
        -------
        pymc.Model

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> pymc_model = BetaGeo().build_pymc_model(data)
        >>> sorted(rv.name for rv in pymc_model.free_RVs), [p.name for p in pymc_model.potentials]
        (['a', 'alpha', 'b', 'r'], ['loglik'])
        """
        from ..inference import bayes

        if data is None:
            self._check_fitted()
            patterns, weights = self._patterns_, self._pattern_weights_
        else:
            patterns, weights, _, _ = self._pattern_data(data)
        name = type(self).__name__
        priors = bayes.resolve_priors(name, self.priors, bayes._data_scale(name, patterns, weights))
        return bayes.build_pymc_model(name, patterns, weights, priors)

    def prior_predictive(
        self,
        data: pd.DataFrame,
        n_draws: int = 200,
        *,
        random_seed: int | None = None,
        max_customers: int = 10_000,
    ) -> Any:
        """Prior predictive check: data simulated from parameter draws of the priors.

        Each prior draw simulates the customers of ``data`` (their observation lengths T, or for
        Gamma-Gamma their numbers of repeat purchases; a random ``max_customers`` of them when
        there are more) with the model's ``simulate`` function and summarises the result: for
        BG/NBD the shares of customers with 0, 1, ..., 6 and 7+ repeat purchases and the mean
        frequency, for Gamma-Gamma the mean, median and 10% / 90% quantiles of the mean spend.
        Priors that put the observed statistics far in the tails rule the data out before
        seeing them (Gelman, Simpson & Betancourt 2017).

        Returns
        -------
        clvmodels.inference.bayes.PriorPredictiveCheck
            ``.params``, ``.statistics``, ``.observed`` and ``.summary(ci)``.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> check = BetaGeo().prior_predictive(data, n_draws=100, random_seed=1)
        >>> table = check.summary(ci=0.9)
        >>> round(float(table.loc["share_frequency_0", "observed"]), 3)  # 1,411 of 2,357 never came back
        0.599
        >>> bool(table.loc["share_frequency_0", "lower"] < 0.599 < table.loc["share_frequency_0", "upper"])
        True
        """
        from ..inference import bayes

        _, _, _, observed = self._pattern_data(data)
        customers = tuple(observed[c].to_numpy(dtype=np.float64) for c in observed.columns)
        return bayes.prior_predictive(self, customers, n_draws, max_customers=max_customers, random_seed=random_seed)

    def save(self, path: Any) -> Any:
        """Save the fitted model: JSON for ``mle`` and ``map`` fits, NetCDF for posteriors.

        See :func:`clvmodels.io.save_model`; read it back with :func:`clvmodels.load` or
        ``type(model).load(path)``.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import clvmodels
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = model.save(Path(tmp) / "bgnbd.json")
        ...     loaded = clvmodels.load(path)
        >>> path.name, type(loaded).__name__, loaded.params_.equals(model.params_)
        ('bgnbd.json', 'BetaGeo', True)
        """
        from ..io import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path: Any) -> Model:
        """Load a model saved by :meth:`save`; raises ``ValueError`` if the file holds another model.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> from clvmodels import GammaGamma
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = BetaGeo().fit(data).save(Path(tmp) / "bgnbd.json")
        ...     params = BetaGeo.load(path).params_.round(3).tolist()
        ...     try:
        ...         GammaGamma.load(path)
        ...     except ValueError as error:
        ...         message = str(error)
        >>> params
        [0.243, 4.414, 0.793, 2.426]
        >>> message.split("; ")[0].endswith("holds a BetaGeo model, not a GammaGamma")
        True
        """
        from ..io import load_model

        return load_model(path, expected=cls)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False


def _maximize(model_type: type[Model], penalty: float, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> MLEResult:
    """Maximum likelihood of one model type on weighted patterns (BLAS single-threaded)."""
    loglik_and_grad, starts, coarse = model_type._objective(patterns, weights)
    n_customers = float(weights.sum())
    with single_threaded_blas():
        if coarse is not None:
            warm = maximize_loglik(coarse, starts, n_obs=n_customers, penalty=penalty, polish=False)
            if np.all(np.isfinite(warm.params)) and np.isfinite(warm.loglik):
                starts = [tuple(warm.params), *starts]
        return maximize_loglik(loglik_and_grad, starts, n_obs=n_customers, penalty=penalty)


def _bootstrap_chunk(
    model_type: type[Model],
    penalty: float,
    patterns: tuple[np.ndarray, ...],
    weights: np.ndarray,
    seeds: Sequence[np.random.SeedSequence],
) -> tuple[np.ndarray, np.ndarray]:
    """Refit on customers resampled with replacement, once per seed (runs in a worker)."""
    n = int(round(weights.sum()))
    share = weights / weights.sum()
    params = np.empty((len(seeds), len(model_type.param_names)))
    converged = np.empty(len(seeds), dtype=bool)
    for i, seed in enumerate(seeds):
        counts = np.random.default_rng(seed).multinomial(n, share).astype(np.float64)
        keep = counts > 0
        result = _maximize(model_type, penalty, tuple(p[keep] for p in patterns), counts[keep])
        params[i], converged[i] = result.params, result.converged
    return params, converged
