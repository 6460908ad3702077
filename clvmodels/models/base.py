"""What every model shares: settings, the maximum-likelihood fit, fitted state and summary."""

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

    Settings are keyword-only arguments of ``__init__`` stored unchanged; ``fit`` returns the
    model; fitted state ends in ``_``.

    Fitted attributes
    -----------------
    params_ : Series
        Maximum-likelihood estimates, indexed by the papers' parameter names.
    covariance_ : DataFrame
        Symmetric covariance of ``params_`` (delta method from the log-parameters).
    loglik_ : float
        Log-likelihood at ``params_`` (unpenalised), summed over customers.
    n_customers_ : int
        Number of customers the model was fitted on.
    converged_ : bool
        Whether the optimiser met its criteria (small gradient, positive-definite Hessian,
        no parameter at 0 or infinity).
    optimizer_ : dict
        Optimiser diagnostics.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    _settings: ClassVar[tuple[str, ...]] = ("penalty",)

    def __init__(self, *, penalty: float = 0.0) -> None:
        self.penalty = penalty

    # -- scikit-learn protocol ----------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Settings given to ``__init__``."""
        return {name: getattr(self, name) for name in self._settings}

    def set_params(self, **settings: Any) -> Model:
        """Change settings; returns the model."""
        for name, value in settings.items():
            if name not in self._settings:
                raise ValueError(f"{type(self).__name__} has no setting {name!r}; settings: {self._settings}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
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
        """True once :meth:`fit` has run."""
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
                f"Estimates {dict(self.params_.round(6))}, optimiser {result.diagnostics.get('method')!r} "
                f"({result.diagnostics.get('message')}). Try a small penalty (penalty=0.001), "
                "check the data's time unit, or fit more customers.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def sample_params(
        self,
        n_draws: int = 1000,
        *,
        method: str = "laplace",
        random_seed: int | np.random.SeedSequence | None = None,
        n_jobs: int = 2,
    ) -> pd.DataFrame:
        """Draws of the parameters that express their uncertainty.

        Parameters
        ----------
        n_draws : int
            Number of draws.
        method : {"laplace", "bootstrap"}
            ``"laplace"``: the asymptotic normal distribution of the log-parameters at the
            maximum-likelihood estimate (mean ``log(params_)``, covariance ``covariance_log_``),
            mapped back so that every draw is positive. ``"bootstrap"``: resample the
            customers with replacement (multinomial counts over the fitted patterns) and refit,
            once per draw.
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
            raise ValueError(f"method={method!r}; use 'laplace' or 'bootstrap'.")
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
            One row per parameter with ``estimate``, ``std_error`` (delta method) and
            ``lower``, ``upper``: a Wald interval on the log scale mapped back, so that the
            bounds stay positive (``estimate * exp(-+ z * se_log)``).
        """
        self._check_fitted()
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
