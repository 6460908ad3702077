"""The outcome of any fit, in one shape (:class:`FitResult`).

Maximum likelihood (:mod:`clvmodels.models.base`), the Bayesian fits
(:mod:`clvmodels.inference.bayes`) and model files (:mod:`clvmodels.io`) each return one, and
:meth:`clvmodels.models.base.Model._set_fitted` is the one place that turns it into the
estimator's fitted attributes. It lives here, beside the inference code, so that neither the
models nor the inference modules need to import each other for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FitResult"]


@dataclass
class FitResult:
    """The outcome of any fit, in one shape: what :meth:`Model._set_fitted` stores.

    ``params`` are the estimates (MLE, posterior mean or mode) in the model's parameter order;
    ``covariance`` and ``covariance_log`` their covariance and that of their logarithms;
    ``patterns``/``weights`` the weighted patterns fitted (``None`` when unknown, e.g. a model
    file without them, then ``n_patterns`` says how many there were); ``idata``, ``sampler``
    and ``priors`` for Bayesian fits; ``extra`` holds model-specific fitted attributes
    (name -> value, e.g. ``frequency_spend_corr_``).
    """

    method: str
    params: Any
    covariance: Any
    covariance_log: Any
    loglik: float
    converged: bool
    n_customers: int
    patterns: tuple[np.ndarray, ...] | None = None
    weights: np.ndarray | None = None
    n_patterns: int | None = None
    optimizer: dict[str, Any] | None = None
    idata: Any = None
    sampler: dict[str, Any] | None = None
    priors: dict[str, Any] | None = None
    time_unit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
