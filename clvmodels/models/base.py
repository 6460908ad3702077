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

from ..exceptions import ConvergenceWarning, NotFittedError, StatisticalWarning
from ..inference.mle import MLEResult, maximize_loglik, single_threaded_blas
from ..inference.result import FitResult
from .params import seed_sequence

__all__ = ["Model", "TransactionModel", "SpendModel", "FitResult", "check_time", "check_units"]


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
        ValueError: BetaGeo has no setting 'penalizer_coef'; settings: ('penalty', 'priors', 'draws', 'tune', 'chains', 'target_accept', 'sampler', 'random_seed', 'progressbar', 'log_likelihood', 'covariates', 'categorical').
        """
        for name, value in settings.items():
            if name not in self._settings:
                raise ValueError(f"{type(self).__name__} has no setting {name!r}; settings: {self._settings}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        # the settings that differ from their defaults, as scikit-learn prints them
        defaults = type(self)().get_params()
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
        self._set_fitted(bayes.fit(self, method, patterns, weights, inverse, observed()))

    def _set_fitted(self, result: FitResult) -> None:
        """Set every fitted attribute from one :class:`FitResult`: the one place that does
        (maximum likelihood, the Bayesian fits and :func:`clvmodels.load` all come here)."""
        for attr in _FITTED_ATTRIBUTES:
            self.__dict__.pop(attr, None)
        spec = result.extra.get("covariates_")
        if spec is not None:
            # a fit with covariates: the base parameters, then the coefficients
            self.param_names = tuple(type(self).param_names) + tuple(spec.coefficient_names())
        names = list(self.param_names)
        self.method_ = result.method
        self.params_ = pd.Series(np.asarray(result.params, dtype=np.float64), index=names, name="estimate")
        self.covariance_ = pd.DataFrame(np.asarray(result.covariance, dtype=np.float64), index=names, columns=names)
        self.covariance_log_ = pd.DataFrame(np.asarray(result.covariance_log, dtype=np.float64), index=names, columns=names)
        self.loglik_ = float(result.loglik)
        self.converged_ = bool(result.converged)
        self.n_customers_ = int(result.n_customers)
        if result.patterns is not None:
            self._patterns_ = tuple(result.patterns)
            self._pattern_weights_ = np.asarray(result.weights, dtype=np.float64)
        self.n_patterns_ = int(result.n_patterns if result.n_patterns is not None else len(result.weights))
        for name, value in (("optimizer_", result.optimizer), ("idata_", result.idata), ("sampler_", result.sampler), ("priors_", result.priors)):
            if value is not None:
                setattr(self, name, value)
        if result.time_unit is not None:
            self.time_unit_ = result.time_unit
        for name, value in result.extra.items():
            setattr(self, name, value)

    def _fit_patterns(self, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> None:
        """Maximise the likelihood of weighted patterns and store the fitted state.

        The model's ``_objective`` gives the likelihood, starting points and optionally a
        cheaper approximation of it (the data on a coarser time grid), whose maximum is tried
        first as a starting point.
        """
        penalty = self._check_penalty()
        result = _maximize(type(self), penalty, patterns, weights)
        boundary = None
        if not result.converged and self.reductions:
            found = self._reduced_fit(result, penalty, patterns, weights)
            if found is not None:
                result, boundary = found
        self._set_fitted(
            FitResult(
                method="mle",
                params=result.params,
                covariance=result.covariance,
                covariance_log=result.covariance_log,
                loglik=result.loglik,
                converged=bool(result.converged) or boundary is not None,
                n_customers=int(round(float(weights.sum()))),
                patterns=patterns,
                weights=weights,
                optimizer=result.diagnostics,
                extra={"boundary_": boundary},
            )
        )
        if boundary is not None:
            warnings.warn(f"{type(self).display_name or type(self).__name__}: {boundary}", StatisticalWarning, stacklevel=3)
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

    #: limits of the model that are answers, not failures: ``(fixed, meaning)`` pairs, where
    #: ``fixed`` maps parameters to the values that stand for the limit (say, b = exp(20) for
    #: "b -> infinity") and ``meaning`` says in plain words what the data then show (``{T}``
    #: is filled with the customers' mean observation length)
    reductions: ClassVar[tuple[tuple[dict[str, float], str], ...]] = ()

    def _reduced_fit(self, result: MLEResult, penalty: float, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[MLEResult, str] | None:
        """When the full fit did not converge, try the model's limits: maximise over the other
        parameters with the limit's parameters fixed. A limit whose fit converges and is at
        least as likely as the full fit's best point is the answer (the likelihood increases
        towards it); None when none is."""
        names = list(self.param_names)
        loglik_and_grad, starts, _ = type(self)._objective(patterns, weights)
        n_customers = float(weights.sum())
        for fixed, meaning in self.reductions:
            free = np.array([n not in fixed for n in names])
            full = np.array([fixed.get(n, np.nan) for n in names], dtype=np.float64)

            def reduced(theta_free: np.ndarray, full: np.ndarray = full, free: np.ndarray = free) -> tuple[float, np.ndarray]:
                theta = full.copy()
                theta[free] = theta_free
                value, grad = loglik_and_grad(theta)
                return value, np.asarray(grad)[free]

            tries = [tuple(np.asarray(result.params)[free])] + [tuple(np.asarray(st)[free]) for st in starts]
            with single_threaded_blas():
                limit = maximize_loglik(reduced, tries, n_obs=n_customers, penalty=penalty)
            tolerance = 1e-6 * max(1.0, abs(result.loglik))
            if not limit.converged or not np.isfinite(result.loglik) or limit.loglik < result.loglik - tolerance:
                continue
            params = full.copy()
            params[free] = limit.params
            cov_log = np.zeros((len(names), len(names)))
            cov_log[np.ix_(free, free)] = limit.covariance_log
            diagnostics = {**limit.diagnostics, "limit": {k: float(v) for k, v in fixed.items()}, "full_fit": result.diagnostics}
            scale = f"{self.data_scale(patterns, weights):.3g}"
            which = ", ".join(f"{k} -> {'infinity' if v > 1 else '0'}" if v > 1e6 or v < 1e-6 else f"{k} = {v:g}" for k, v in fixed.items())
            message = (
                f"the fit is at a limit of the model ({which}), an answer rather than a failure: "
                + meaning.format(T=scale)
                + ". Those parameters are held at the limit in the parameter draws."
            )
            return MLEResult(params, limit.loglik, cov_log, True, diagnostics), message
        return None

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
        seed = seed_sequence(random_seed)
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
            positive = self._positive_params()
            centre = np.where(positive, np.log(np.abs(self.params_.to_numpy())), self.params_.to_numpy())
            free = np.any(cov != 0, axis=0)
            if free.all():
                values = rng.multivariate_normal(centre, cov, size=n_draws, method="cholesky")
            else:  # a fit at a boundary: the boundary parameters are held at their value
                values = np.tile(centre, (n_draws, 1))
                if free.any():
                    block = cov[np.ix_(free, free)]
                    values[:, free] = rng.multivariate_normal(centre[free], block, size=n_draws, method="cholesky")
            # positive parameters were drawn on the log scale; covariate coefficients as they are
            values[:, positive] = np.exp(values[:, positive])
        elif method == "bootstrap":
            if getattr(self, "covariates_", None) is not None:
                raise ValueError(
                    "method='bootstrap' is not available for a model with covariates yet; use "
                    "method='laplace' (the default) or a Bayesian fit."
                )
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
        from ..progress import progress

        seeds = seed.spawn(n_draws)
        n_jobs = max(1, min(int(n_jobs), n_draws))
        # groups of consecutive draws, each refit from its own seed: the draws do not depend on
        # the grouping or on n_jobs; the groups let the progress bar move
        size = max(1, -(-n_draws // max(20, 4 * n_jobs)))
        groups = [range(i, min(i + size, n_draws)) for i in range(0, n_draws, size)]
        args = (type(self), self._check_penalty(), self._patterns_, self._pattern_weights_)
        values = np.empty((n_draws, len(self.param_names)))
        converged = np.empty(n_draws, dtype=bool)
        with progress(n_draws, f"{type(self).__name__} bootstrap refits", unit="refits", enabled=self.progressbar) as bar:
            if n_jobs == 1:
                results = (_bootstrap_chunk(*args, [seeds[i] for i in g]) for g in groups)
                for g, (params, ok) in zip(groups, results):
                    values[g.start : g.stop], converged[g.start : g.stop] = params, ok
                    bar.update(len(g))
            else:
                with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                    futures = [pool.submit(_bootstrap_chunk, *args, [seeds[i] for i in g]) for g in groups]
                    for g, future in zip(groups, futures):
                        params, ok = future.result()
                        values[g.start : g.stop], converged[g.start : g.stop] = params, ok
                        bar.update(len(g))
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
        positive = self._positive_params()
        # positive parameters: a Wald interval on the log scale; covariate coefficients: on their own
        lower = np.where(positive, est * np.exp(-z * se_log), est - z * se_log)
        upper = np.where(positive, est * np.exp(z * se_log), est + z * se_log)
        table = pd.DataFrame(
            {
                "estimate": est,
                "std_error": np.sqrt(np.diag(self.covariance_.to_numpy())),
                "lower": lower,
                "upper": upper,
            },
            index=pd.Index(self.param_names, name="parameter"),
        )
        table.attrs["ci"] = ci
        return table

    def _covariate_spec(self) -> Any:
        """The covariate spec of the settings (models with covariates override it); None."""
        return None

    def _positive_params(self) -> np.ndarray:
        """Which of ``param_names`` are positive (worked with on the log scale): all but the
        covariate coefficients (``"<process>:<column>"``), which are real numbers."""
        return np.array([":" not in name for name in self.param_names], dtype=bool)

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

        if getattr(self, "covariates_", None) is not None or self._covariate_spec() is not None:
            raise ValueError(
                "build_pymc_model covers the models without covariates; for a model with covariates use "
                "fit(data, method='nuts') (its log-posterior is in clvmodels.models.covariates)."
            )
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

        if self._covariate_spec() is not None:
            raise ValueError(
                "prior_predictive covers the models without covariates; a model with covariates simulates "
                "its customers given their covariates (simulate(T, data=...)) from a fit."
            )
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


#: the attributes a fit sets (cleared before a new fit sets them)
_FITTED_ATTRIBUTES = (
    "method_", "params_", "covariance_", "covariance_log_", "loglik_", "converged_", "n_customers_", "n_patterns_",
    "optimizer_", "idata_", "sampler_", "priors_", "_patterns_", "_pattern_weights_", "boundary_",
    "covariates_", "_pattern_designs_", "param_names", "restricted_loglik_",
)


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


# -- the model protocol ------------------------------------------------------------------------------


def check_time(t: Any, discrete: bool = False) -> Any:
    """A time or array of times: finite and >= 0 (in the data's time unit); for a model in
    discrete time (``discrete``), whole numbers of occasions."""
    arr = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"t={t!r} must be finite and >= 0 (in the data's time unit).")
    if discrete and np.any(arr != np.round(arr)):
        raise ValueError(f"t={t!r} must hold whole numbers: a model in discrete time counts occasions.")
    return arr if arr.ndim else float(arr)


def _weights_of(data: pd.DataFrame, sample_weight: Any) -> np.ndarray | None:
    """``sample_weight``: None, a column name of ``data`` or an array of one weight per row."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, str):
        if sample_weight not in data.columns:
            raise ValueError(
                f"sample_weight={sample_weight!r} is not a column of the data; columns: {list(data.columns)}."
            )
        values = pd.to_numeric(data[sample_weight], errors="coerce").to_numpy(dtype=np.float64)
        name = f"column {sample_weight!r}"
    else:
        values = np.asarray(sample_weight, dtype=np.float64)
        name = "sample_weight"
        if values.shape != (len(data),):
            raise ValueError(f"sample_weight has {values.size} values for {len(data)} rows of data; give one per row.")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ValueError(
            f"{name}: {int(bad.sum())} rows are missing, negative or not finite; a weight counts "
            "the customers a row stands for (>= 0)."
        )
    if not values.sum() > 0:
        raise ValueError(f"{name}: the weights sum to 0; there is nothing to fit.")
    return values


def weighted_patterns(
    patterns: tuple[np.ndarray, ...], inverse: np.ndarray, row_weights: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Distinct patterns weighted by the rows' ``sample_weight`` instead of counted: patterns of
    total weight 0 are dropped (their rows' ``inverse`` becomes -1)."""
    weights = np.bincount(inverse, weights=row_weights, minlength=len(patterns[0]))
    keep = weights > 0
    if keep.all():
        return patterns, weights, inverse
    remap = np.cumsum(keep) - 1
    return tuple(p[keep] for p in patterns), weights[keep], np.where(keep[inverse], remap[inverse], -1)


class TransactionModel(Model):
    """Base class of the transaction models (purchasing and dropping out): the protocol.

    A transaction model is one module of :mod:`clvmodels.models` that declares what makes it
    itself and registers its estimator class (:func:`clvmodels.models.registry.register`):

    ``key``, ``display_name``
        The registry key (``"bgnbd"``, ``"pareto-nbd"``, ``"mbgnbd"``: used by configs, model
        files and the command line) and the name people read (``"BG/NBD"``).
    ``param_names``
        The papers' parameter names, in order; every parameter is positive.
    ``columns``, ``time_kind``
        The summary columns the model needs (``frequency, recency, T``), and whether time is
        continuous or counts discrete occasions (BG/BB: ``frequency, recency, n_periods``, the
        third one standing for ``T`` in every formula, times and horizons in whole occasions,
        and ``simulate_future_occasions`` instead of ``simulate_future_if_alive``).
    ``formulas``
        The model's module, holding the pure broadcasting functions of ``(params, data)``:
        ``loglik(params, frequency, recency, T, *, ops=)`` (written once over numpy and
        PyTensor), ``prob_alive``, ``expected_purchases``, ``expected_purchases_new``,
        ``prob_purchases``, ``prob_purchases_conditional``, ``prob_purchases_table``,
        ``discounted_purchases_if_alive``, ``discounted_purchases_if_alive_discrete``,
        ``discounted_expected_purchases``, ``discounted_expected_purchases_discrete``,
        ``simulate`` and ``simulate_future_if_alive`` (see :mod:`clvmodels.models.beta_geo`, the
        reference module).
    ``default_priors(scale)``
        The weakly informative priors of the Bayesian fits, ``scale`` being the customers' mean T.
    ``example_params``
        Typical parameters (in weeks), which the contract tests simulate from.
    ``_objective(patterns, weights)`` (optional)
        A faster maximum-likelihood objective (hand-written gradient). Without it the gradient
        is derived from ``loglik`` by PyTensor (:mod:`clvmodels.inference.autodiff`).
    ``supports_covariates``, ``covariate_links`` (optional)
        Time-invariant covariates (:mod:`clvmodels.models.covariates`): which base parameter
        each process moves, and in which direction. A model with covariates has the settings
        ``covariates=`` and ``categorical=``, the fitted ``covariates_`` (the coding: columns per
        process, standardisation, levels), coefficients after the base parameters in
        ``params_`` (``"purchase:<column>"``, ``"dropout:<column>[<level>]"``, ...), and
        ``restricted_loglik_`` (the plain model's maximum on the same customers, when it was
        computed); :meth:`customer_params` gives each customer's base parameters.

    Everything else (fitting, predictions on a summary, simulation, saving, the Bayesian fits,
    the forecast, holdout evaluation, tracking and plots) comes from here and from the modules
    that ask the protocol.
    """

    kind: ClassVar[str] = "transactions"
    key: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    #: ``"continuous"``: times are durations in the data's time unit; ``"discrete"``: the model
    #: counts transaction occasions (BG/BB): ``T`` is the summary's ``n_periods``, and every time
    #: argument (``t``, horizons) is a whole number of occasions
    time_kind: ClassVar[str] = "continuous"
    formulas: ClassVar[Any] = None
    #: whether the model takes time-invariant covariates (:mod:`clvmodels.models.covariates`)
    supports_covariates: ClassVar[bool] = False
    #: process -> ((base parameter, sign), ...): each parameter ``theta_i = theta0
    #: exp(sum of sign * gamma_process' z_i)`` over the processes linked to it; a plain list of
    #: covariates goes to ``"purchase"`` and ``"dropout"``
    covariate_links: ClassVar[dict[str, tuple[tuple[str, float], ...]]] = {}
    _settings: ClassVar[tuple[str, ...]] = Model._settings + ("covariates", "categorical")

    def __init__(self, *, covariates: Any = None, categorical: Any = None, **settings: Any) -> None:
        super().__init__(**settings)
        self.covariates = covariates
        self.categorical = categorical

    def _covariate_spec(self) -> Any:
        from .covariates import CovariateSpec

        return CovariateSpec.from_settings(type(self), self.covariates, self.categorical)

    def customer_params(self, params: Any, data: pd.DataFrame | None = None) -> dict[str, Any]:
        """Each customer's base parameters (``r, alpha, a, b`` / ``r, alpha, s, beta``).

        Parameters
        ----------
        params : Series or DataFrame
            ``params_`` (or a point estimate with the same names), or parameter draws
            (:meth:`sample_params`).
        data : DataFrame, optional
            The customers, with the covariate columns (needed when the model has covariates).

        Returns
        -------
        dict
            Parameter name -> value. Without covariates exactly what the formulas unpack (floats,
            or ``(S, 1)`` columns for draws); with covariates ``(N,)`` arrays for a point estimate
            and ``(S, N)`` for draws (:func:`clvmodels.models.covariates.customer_params`).

        Examples
        --------
        >>> from clvmodels import BetaGeo
        >>> model = BetaGeo()
        >>> model.customer_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
        """
        from .covariates import customer_params

        spec = getattr(self, "covariates_", None)
        if spec is None:
            return customer_params(type(self), None, params, None)
        if data is None:
            raise ValueError(
                f"this {type(self).__name__} has covariates {list(spec.columns)}: give the customers' data "
                "(with those columns) to get their parameters."
            )
        return customer_params(type(self), spec, params, spec.designs(data))

    def design_matrix(self, data: pd.DataFrame) -> pd.DataFrame:
        """The ``(N, K)`` covariate design of ``data`` (standardised numeric columns and dummies),
        one column per coefficient, named as in ``params_``.

        Examples
        --------
        >>> import pandas as pd
        >>> from clvmodels import ParetoNBD
        >>> from clvmodels.models.covariates import CovariateSpec
        >>> model = ParetoNBD(covariates={"purchase": ["channel"]}, categorical=["channel"])
        >>> model.covariates_ = model._covariate_spec().learn(pd.DataFrame({"channel": ["a", "b", "a"]}))
        >>> model.design_matrix(pd.DataFrame({"channel": ["b", "a"]}))
           purchase:channel[b]
        0                  1.0
        1                  0.0
        """
        spec = getattr(self, "covariates_", None)
        if spec is None:
            self._check_fitted()
            return pd.DataFrame(index=data.index)
        blocks = spec.designs(data)
        matrix = np.hstack([blocks[p] for p in spec.processes]) if blocks else np.zeros((len(data), 0))
        return pd.DataFrame(matrix, index=data.index, columns=spec.coefficient_names())
    #: whether P(alive) is 1 for every customer without a repeat purchase (BG/NBD's assumption)
    alive_without_repeat: ClassVar[bool] = False
    #: typical parameters in weeks (a published fit where there is one): the contract tests
    #: simulate from them, and the documentation's examples use them
    example_params: ClassVar[dict[str, float]] = {}

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def time_shift(cls, params: Any) -> Any:
        """The shift ``c`` in which the future given alive is smooth as a function of
        ``log(c + T)`` (its singularities lie at ``T = -c``): the forecast interpolates in it.
        By default the second parameter (``alpha``, the purchase-rate scale)."""
        from .params import unpack

        return unpack(params, cls.param_names)[1]

    @classmethod
    def data_scale(cls, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> float:
        """The data's own time scale that the default priors are centred on: the mean T."""
        return float(np.average(patterns[2], weights=weights)) or 1.0

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, data: pd.DataFrame, method: str = "mle", *, sample_weight: Any = None) -> TransactionModel:
        """Fit by maximum likelihood or by Bayesian inference.

        Parameters
        ----------
        data : DataFrame
            Per-customer ``frequency, recency, T`` (as from :func:`clvmodels.rfm_summary`), or
            a table of distinct patterns with a weight per row (``sample_weight``).
        method : {"mle", "nuts", "advi", "map"}
            ``"mle"``: maximum likelihood. ``"nuts"``: posterior draws by the No-U-Turn
            sampler; ``"advi"``: mean-field variational approximation of the posterior;
            ``"map"``: posterior mode with its Laplace approximation. The Bayesian methods use
            the settings ``priors, draws, tune, chains, ...`` given to ``__init__``.
        sample_weight : str or array_like, optional
            A column of ``data`` (or an array) counting the customers each row stands for, as
            in :func:`clvmodels.pattern_table`; the fit equals the fit of the expanded data.
            The Bayesian per-customer log-likelihood is then per row (pattern).

        Returns
        -------
        TransactionModel
            The fitted model.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> model.method_, model.converged_, model.n_customers_, model.time_unit_
        ('mle', True, 2357, 'W')
        >>> BetaGeo().fit(data, method="map").params_.round(3).tolist()  # the posterior mode
        [0.242, 4.389, 0.694, 2.042]
        """
        spec = self._covariate_spec()
        if spec is not None:
            from .covariates import fit_with_covariates

            self._set_fitted(fit_with_covariates(self, spec, data, method, sample_weight))
            self.time_unit_ = data.attrs.get("time_unit") if hasattr(data, "attrs") else None
            return self
        patterns, weights, inverse, observed = self._pattern_data(data, lazy=True, sample_weight=sample_weight)
        self.time_unit_ = data.attrs.get("time_unit") if hasattr(data, "attrs") else None
        self._fit(method, patterns, weights, inverse, observed)
        return self

    def _pattern_data(self, data: pd.DataFrame, lazy: bool = False, sample_weight: Any = None) -> tuple[Any, ...]:
        """``(patterns, weights, inverse, observed)``: observed is the per-customer frame (or,
        with ``lazy``, a function making it)."""
        from ..data import compress_patterns, validate_summary

        s = validate_summary(data, discrete=self.time_kind == "discrete")
        row_weights = _weights_of(data, sample_weight)
        patterns, weights, inverse = compress_patterns(s.frequency, s.recency, s.T)
        if row_weights is not None:
            patterns, weights, inverse = weighted_patterns(patterns, inverse, row_weights)

        def observed() -> pd.DataFrame:
            return pd.DataFrame(dict(zip(self.columns, (s.frequency, s.recency, s.T))), index=s.index)

        return patterns, weights, inverse, (observed if lazy else observed())

    @classmethod
    def _objective(cls, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Callable, list, Callable | None]:
        """The likelihood over weighted patterns with its gradient derived from ``loglik``."""
        from ..inference.autodiff import loglik_objective

        x, _, T = patterns
        rate = max(float(np.average(x, weights=weights)), 0.01) / (float(np.average(T, weights=weights)) or 1.0)
        starts = cls._starts(rate)
        return loglik_objective(cls, patterns, weights), starts, None

    @classmethod
    def _starts(cls, rate: float) -> list[tuple[float, ...]]:
        """Starting points of the optimiser given the mean purchase rate ``x / T``: by default
        ``r / alpha`` at the rate and every other parameter at a few values."""
        starts = []
        for r, other in ((1.0, 1.0), (0.25, 0.8), (1.0, 2.0), (5.0, 0.2)):
            values = [r, r / rate] + [other] * (len(cls.param_names) - 2)
            starts.append(tuple(values))
        return starts

    # -- predictions -----------------------------------------------------------------------------

    def _summary(self, data: pd.DataFrame) -> Any:
        """The validated summary arrays of ``data``, refusing a time unit other than the fit's."""
        from ..data import validate_summary

        self._check_fitted()
        check_units(self, data)
        return validate_summary(data, discrete=self.time_kind == "discrete")

    def loglik_per_customer(self, data: pd.DataFrame) -> pd.Series:
        """Log-likelihood of each customer at the fitted parameters.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> loglik = model.loglik_per_customer(data)
        >>> loglik.head(6).round(2).tolist(), round(float(loglik.sum()), 1)
        ([-9.46, -4.47, -0.55, -0.55, -0.55, -21.86], -9582.4)
        """
        s = self._summary(data)
        params = self.customer_params(self.params_, data)
        return pd.Series(self.formulas.loglik(params, s.frequency, s.recency, s.T), index=s.index, name="loglik")

    def prob_alive(self, data: pd.DataFrame) -> pd.Series:
        """P(alive at T) of each customer, given their history.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> model.prob_alive(data).head(3).round(3).tolist()  # customer 3 never bought again
        [0.727, 0.212, 1.0]
        """
        s = self._summary(data)
        params = self.customer_params(self.params_, data)
        return pd.Series(self.formulas.prob_alive(params, s.frequency, s.recency, s.T), index=s.index, name="prob_alive")

    def expected_purchases(self, data: pd.DataFrame, t: float) -> pd.Series:
        """Expected purchases of each customer in (T, T + t], given their history.

        ``t`` is in the data's time unit (``model.time_unit_``).

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> model.expected_purchases(data, t=39).head(3).round(3).tolist()  # FHL 2005: 1.226
        [1.226, 0.203, 0.195]
        """
        s = self._summary(data)
        params = self.customer_params(self.params_, data)
        values = self.formulas.expected_purchases(params, check_time(t, self.time_kind == "discrete"), s.frequency, s.recency, s.T)
        return pd.Series(values, index=s.index, name="expected_purchases")

    def expected_purchases_new(self, t: Any, data: pd.DataFrame | None = None) -> np.ndarray | pd.Series | pd.DataFrame:
        """Expected repeat purchases in (0, t] of a new customer.

        With covariates, ``data`` gives the new customers' covariates: a Series per customer
        for a single ``t``, a DataFrame (customers x ``t``) for several.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> model.expected_purchases_new([1.0, 78.0]).round(4)  # FHL 2005: 0.0532, 1.8576
        array([0.0532, 1.858 ])
        """
        self._check_fitted()
        if getattr(self, "covariates_", None) is None:
            return self.formulas.expected_purchases_new(self.params_, check_time(t, self.time_kind == "discrete"))
        params = self.customer_params(self.params_, data)
        t = check_time(t, self.time_kind == "discrete")
        if np.ndim(t) == 0:
            return pd.Series(self.formulas.expected_purchases_new(params, t), index=data.index, name="expected_purchases_new")
        values = self.formulas.expected_purchases_new(params, np.asarray(t)[:, None])
        return pd.DataFrame(values.T, index=data.index, columns=np.asarray(t))

    def prob_purchases(self, n: Any, t: float, data: pd.DataFrame | None = None) -> np.ndarray | pd.DataFrame:
        """Probability of exactly ``n`` purchases in a period of length ``t``.

        Without ``data``: in (0, t] for a new customer, shaped like ``n``. With ``data``: in
        (T, T + t] for each customer given their history, as a DataFrame with one column per ``n``.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> model.prob_purchases([0, 1, 2], 39.0).round(3)  # a new customer's first 39 weeks
        array([0.574, 0.199, 0.085])
        >>> model.prob_purchases([0, 1, 2], 39.0, data).head(2).round(3)
                         0      1      2
        customer_id
        1            0.445  0.239  0.144
        2            0.883  0.068  0.028
        """
        self._check_fitted()
        t = check_time(t, self.time_kind == "discrete")
        n_arr = np.asarray(n)
        if np.any(n_arr < 0) or np.any(n_arr != np.round(n_arr)):
            raise ValueError("n must hold whole numbers >= 0.")
        if data is None:
            return self.formulas.prob_purchases(self.customer_params(self.params_), n_arr, t)
        s = self._summary(data)
        n_col = np.atleast_1d(n_arr).astype(np.float64)[:, None]
        params = self.customer_params(self.params_, data)
        values = self.formulas.prob_purchases_conditional(params, n_col, t, s.frequency, s.recency, s.T)
        return pd.DataFrame(values.T, index=s.index, columns=np.atleast_1d(n_arr).astype(int))

    def simulate(
        self,
        T: Any,
        *,
        holdout: float | None = None,
        random_seed: int | np.random.Generator | None = None,
        data: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Simulate customers observed for ``T`` time units from the fitted parameters.

        With covariates, ``data`` holds each simulated customer's covariates (one row per
        entry of ``T``); the result carries those columns too, so that it can be refitted.

        Examples
        --------
        >>> from clvmodels import BetaGeo, calibration_holdout_split
        >>> from clvmodels.datasets import load_cdnow_sample
        >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
        ...                                  time_unit="W")
        >>> model = BetaGeo().fit(data)
        >>> sim = model.simulate(data["T"], holdout=39.0, random_seed=1)
        >>> sim.columns.tolist()
        ['frequency', 'recency', 'T', 'frequency_holdout', 'duration_holdout', 'lambda_', 'p_']
        >>> refit = BetaGeo().fit(sim)  # data simulated from the fit look like CDNOW to the model
        >>> bool(abs(refit.params_["r"] / model.params_["r"] - 1) < 0.25)
        True
        """
        self._check_fitted()
        spec = getattr(self, "covariates_", None)
        if spec is None:
            return self.formulas.simulate(self.params_, T, holdout=holdout, random_seed=random_seed)
        if data is None or len(data) != np.size(T):
            raise ValueError("a model with covariates simulates customers given their covariates: pass data= with one row per T.")
        sim = self.formulas.simulate(self.customer_params(self.params_, data), T, holdout=holdout, random_seed=random_seed)
        for column in spec.columns:
            sim[column] = data[column].to_numpy()
        return sim


class SpendModel(Model):
    """Base class of the spend models (value per transaction): ``key``, ``display_name``,
    ``param_names``, ``columns`` (``frequency, monetary_value``), ``formulas`` (the module with
    ``loglik(params, frequency, monetary_value, *, ops=)``, ``expected_spend``, ``mean_spend``,
    ``simulate`` and ``simulate_spend(rng, params, frequency, monetary_value, owner)``) and
    ``default_priors(scale)``, ``scale`` being the repeat buyers' mean spend."""

    kind: ClassVar[str] = "spend"
    key: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ("frequency", "monetary_value")
    formulas: ClassVar[Any] = None

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def data_scale(cls, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> float:
        """The data's own money scale that the default priors are centred on: the mean spend."""
        return float(np.average(patterns[1], weights=weights))


def check_units(model: Model, data: Any = None, *, unit: str | None = None) -> None:
    """Refuse data whose time unit differs from the one the model was fitted in.

    A model fitted in weeks has its rates per week; applied to times in days it would give wrong
    answers without a word. Both units must be known for the check: the data's
    (``data.attrs["time_unit"]``, set by :func:`clvmodels.rfm_summary`, or ``unit``) and the
    model's ``time_unit_``.

    Examples
    --------
    >>> from clvmodels import BetaGeo
    >>> model = BetaGeo()
    >>> model.time_unit_ = "W"
    >>> check_units(model, unit="D")
    Traceback (most recent call last):
    ...
    ValueError: time units differ: the BetaGeo model was fitted on a summary in 'W' but the data are in 'D'; its parameters are per 'W', so summarise the data with time_unit='W' (or refit the model on data in 'D').
    """
    from ..units import normalize_unit

    fitted = getattr(model, "time_unit_", None)
    given = unit
    if given is None and data is not None:
        given = getattr(data, "attrs", {}).get("time_unit")
    if not fitted or not given:
        return
    try:
        same = normalize_unit(str(fitted)) == normalize_unit(str(given))
    except ValueError:
        same = str(fitted) == str(given)
    if not same:
        raise ValueError(
            f"time units differ: the {type(model).__name__} model was fitted on a summary in "
            f"{fitted!r} but the data are in {given!r}; its parameters are per {fitted!r}, so "
            f"summarise the data with time_unit={fitted!r} (or refit the model on data in {given!r})."
        )
