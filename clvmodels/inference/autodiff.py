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

__all__ = ["loglik_objective", "compiled_loglik", "covariate_objective"]

_LOCK = threading.Lock()
_COMPILED: dict[tuple[str, str], Any] = {}


def compiled_loglik(model_type: type, what: str = "total") -> Any:
    """The compiled PyTensor function of a model's log-likelihood.

    Parameters
    ----------
    model_type : type
        A registered model class (``param_names``, ``columns``, ``formulas.loglik``).
    what : {"total", "per_customer", "customer_params"}
        ``"total"``: ``f(log_params, *columns, weights) -> (sum of weights * loglik, gradient
        with respect to the parameters)``; ``"per_customer"``: ``f(log_params, *columns) ->
        loglik`` per row; ``"customer_params"``: ``f(*param_vectors, *columns, weights) ->
        (sum of weights * loglik, d total / d param_k,i for every parameter k)``, one value
        of every parameter per row (the covariate models, :func:`covariate_objective`).

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

    if what == "customer_params":
        vectors = [pt.dvector(name) for name in model_type.param_names]
        params = dict(zip(model_type.param_names, vectors))
        columns = [pt.dvector(name) for name in model_type.columns]
        weights = pt.dvector("weights")
        total = pt.sum(weights * model_type.formulas.loglik(params, *columns, ops=pytensor_ops()))
        # each row's loglik depends on its own parameter values only: the gradient with
        # respect to a parameter vector is the per-row derivative
        grads = pt.grad(total, vectors)
        return pytensor.function([*vectors, *columns, weights], [total, *grads], on_unused_input="ignore")
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


def covariate_objective(
    model_type: type,
    spec: Any,
    patterns: tuple[np.ndarray, ...],
    designs: dict[str, np.ndarray],
    weights: np.ndarray,
    *,
    use_override: bool = True,
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``loglik_and_grad(u)`` of a model with covariates over weighted patterns, in the working
    coordinates ``u = (log base parameters, coefficients)``.

    Each pattern's parameters come from the links
    (:func:`clvmodels.models.covariates.customer_params`); the model's one ``loglik`` is
    evaluated on those per-pattern parameter vectors by the compiled PyTensor function
    (``what="customer_params"``), whose per-pattern derivatives the chain rule through the
    links turns into the gradient (:func:`clvmodels.models.covariates.link_gradient`). A model
    module may provide ``loglik_and_customer_grad(*param_vectors, *columns, weights)`` returning
    the same two things faster (``use_override=False`` ignores it, for the tests).

    Examples
    --------
    >>> from clvmodels.models.beta_geo import BetaGeo, loglik
    >>> from clvmodels.models.covariates import CovariateSpec
    >>> spec = CovariateSpec({"purchase": ("z",), "dropout_a": (), "dropout_b": ()}, {}, {"z": (0.0, 1.0)}, {})
    >>> patterns = (np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 38.86]))
    >>> designs = {"purchase": np.array([[1.0], [-1.0]]), "dropout_a": np.zeros((2, 0)), "dropout_b": np.zeros((2, 0))}
    >>> objective = covariate_objective(BetaGeo, spec, patterns, designs, np.ones(2))
    >>> u = np.r_[np.log([0.243, 4.414, 0.793, 2.426]), 0.0]
    >>> value, gradient = objective(u)
    >>> round(float(value), 4), round(float(loglik(np.exp(u[:4]), *patterns).sum()), 4), gradient.shape
    (-10.0133, -10.0133, (5,))
    """
    from ..models.covariates import customer_params, link_gradient

    # a model may override the derivative per pattern (tested equal to this one): the
    # Pareto/NBD, whose quadrature costs PyTensor tens of microseconds per pattern, and the
    # BG/NBD (no PyTensor compilation on the first fit, and a quarter less time per evaluation)
    own = None if not use_override else getattr(model_type.formulas, "loglik_and_customer_grad", None)
    if own is not None:
        def function(*args: np.ndarray) -> tuple[Any, ...]:
            value, grads = own(*args)
            return (value, *grads)
    else:
        function = compiled_loglik(model_type, "customer_params")
    columns = [np.ascontiguousarray(p, dtype=np.float64) for p in patterns]
    w = np.ascontiguousarray(weights, dtype=np.float64)
    names = tuple(model_type.param_names)
    coef_names = spec.coefficient_names()
    n = len(w)
    k = len(names)

    def loglik_and_grad(u: np.ndarray) -> tuple[float, np.ndarray]:
        u = np.asarray(u, dtype=np.float64)
        params = dict(zip(names, np.exp(u[:k])))
        params.update(zip(coef_names, u[k:]))
        per = customer_params(model_type, spec, params, designs)
        vectors = [np.ascontiguousarray(np.broadcast_to(per[name], (n,)), dtype=np.float64) for name in names]
        with np.errstate(all="ignore"):
            value, *grads = function(*vectors, *columns, w)
        gradient = link_gradient(model_type, spec, np.exp(u[:k]), u[k:], designs, grads, vectors)
        return float(value), gradient

    return loglik_and_grad
