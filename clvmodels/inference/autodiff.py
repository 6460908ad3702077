"""Derivatives of a model's one log-likelihood, by PyTensor's automatic differentiation.

A model writes its per-customer log-likelihood once, against an ``ops`` namespace
(:mod:`clvmodels.models.ops`). With the PyTensor backend the same function builds a symbolic
graph; ``pytensor.grad`` derives its gradient, and the graph of the weighted total and its
gradient is compiled to C once per model class and reused for every fit (the data are inputs of
the compiled function, not constants). Maximum likelihood uses it where a model has no
hand-written objective, and the Bayesian fits use it where a model has no compiled kernel.

The first call per model class and Python process compiles (a few seconds the first time on a
machine, then PyTensor's on-disk cache makes it well under a second).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["loglik_objective", "compiled_loglik"]

_LOCK = threading.Lock()
_COMPILED: dict[tuple[str, str], Any] = {}


def compiled_loglik(model_type: type, what: str = "total") -> Any:
    """The compiled PyTensor function of a model's log-likelihood.

    Parameters
    ----------
    model_type : type
        A registered model class (``param_names``, ``columns``, ``formulas.loglik``).
    what : {"total", "per_customer"}
        ``"total"``: ``f(log_params, *columns, weights) -> (sum of weights * loglik, gradient
        with respect to the parameters)``; ``"per_customer"``: ``f(log_params, *columns) ->
        loglik`` per row.

    Examples
    --------
    >>> from clvmodels.models.beta_geo import BetaGeo, loglik
    >>> f = compiled_loglik(BetaGeo)
    >>> x, t_x, T, w = np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 38.86]), np.ones(2)
    >>> params = np.array([0.243, 4.414, 0.793, 2.426])
    >>> value, gradient = f(np.log(params), x, t_x, T, w)
    >>> bool(np.isclose(value, loglik(params, x, t_x, T).sum(), rtol=1e-12))
    True
    """
    key = (f"{model_type.__module__}.{model_type.__qualname__}", what)
    with _LOCK:
        if key not in _COMPILED:
            with warnings.catch_warnings():
                # PyTensor's note that it found no BLAS to link: these graphs are elementwise
                warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
                _COMPILED[key] = _compile(model_type, what)
        return _COMPILED[key]


def _compile(model_type: type, what: str) -> Any:
    import pytensor
    import pytensor.tensor as pt

    from ..models.ops import pytensor_ops

    log_params = pt.dvector("log_params")
    values = pt.exp(log_params)
    params = {name: values[i] for i, name in enumerate(model_type.param_names)}
    columns = [pt.dvector(name) for name in model_type.columns]
    per_customer = model_type.formulas.loglik(params, *columns, ops=pytensor_ops())
    if what == "per_customer":
        return pytensor.function([log_params, *columns], per_customer, on_unused_input="ignore")
    weights = pt.dvector("weights")
    total = pt.sum(weights * per_customer)
    # gradient with respect to the parameters themselves (d/d theta = d/d log theta / theta)
    gradient = pt.grad(total, log_params) / values
    return pytensor.function([log_params, *columns, weights], [total, gradient], on_unused_input="ignore")


def loglik_objective(model_type: type, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``loglik_and_grad(theta)`` over weighted patterns, for :func:`~clvmodels.inference.mle.maximize_loglik`.

    Examples
    --------
    >>> from clvmodels.models.beta_geo import BetaGeo, loglik
    >>> patterns = (np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 38.86]))
    >>> objective = loglik_objective(BetaGeo, patterns, np.array([1.0, 3.0]))
    >>> theta = np.array([0.243, 4.414, 0.793, 2.426])
    >>> value, gradient = objective(theta)
    >>> round(float(value), 4), round(float(loglik(theta, *patterns) @ [1.0, 3.0]), 4), gradient.shape
    (-11.1227, -11.1227, (4,))
    """
    function = compiled_loglik(model_type)
    columns = [np.ascontiguousarray(p, dtype=np.float64) for p in patterns]
    w = np.ascontiguousarray(weights, dtype=np.float64)

    def loglik_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.asarray(theta, dtype=np.float64)
        if not np.all(theta > 0):
            return -np.inf, np.zeros_like(theta)
        value, gradient = function(np.log(theta), *columns, w)
        return float(value), np.asarray(gradient, dtype=np.float64)

    return loglik_and_grad
