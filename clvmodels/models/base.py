"""What every model shares: settings, the maximum-likelihood fit, fitted state and summary."""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Sequence
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

    def _fit_mle(
        self,
        loglik_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
        starts: Sequence[Sequence[float]],
        n_customers: int,
        coarse: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
    ) -> None:
        """Maximise ``loglik_and_grad`` and store the fitted state.

        ``coarse``, when given, is a cheaper approximation of the same likelihood (the data on a
        coarser time grid); its maximum is tried first as a starting point, which saves most
        of the iterations on the full data.
        """
        penalty = self._check_penalty()
        with single_threaded_blas():
            if coarse is not None:
                warm = maximize_loglik(coarse, starts, n_obs=float(n_customers), penalty=penalty, polish=False)
                if np.all(np.isfinite(warm.params)) and np.isfinite(warm.loglik):
                    starts = [tuple(warm.params), *starts]
            result: MLEResult = maximize_loglik(
                loglik_and_grad, starts, n_obs=float(n_customers), penalty=penalty
            )
        names = list(self.param_names)
        self.params_ = pd.Series(result.params, index=names, name="estimate")
        self.covariance_ = pd.DataFrame(result.covariance, index=names, columns=names)
        self.covariance_log_ = pd.DataFrame(result.covariance_log, index=names, columns=names)
        self.loglik_ = result.loglik
        self.n_customers_ = int(n_customers)
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
