"""The few operations the log-likelihoods are written against.

Each model writes its log-likelihood once, as a function of an ``ops`` namespace, so that the
same formula evaluates with numpy/scipy for maximum likelihood and with PyTensor for the PyMC
model (:mod:`clvmodels.inference.bayes`). A backend provides:

``gammaln, log, exp, logaddexp, where, maximum, log1p, expm1, minimum, sqrt, stop_gradient, frozen``

with numpy broadcasting semantics (``where(cond, a, b)`` selects elementwise; ``stop_gradient(x)``
is ``x`` with a zero derivative; ``frozen(fn, n_outputs, *vectors)`` is ``fn(*vectors)`` evaluated by
numpy, returning ``n_outputs`` matrices with one row per element of the vectors, without derivatives:
for quantities such as a quadrature's layout, on which the result does not depend).

``NUMPY_OPS`` is built on import. ``PYTENSOR_OPS`` is built on first access (module
``__getattr__``), so that importing clvmodels never imports PyTensor.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import special

__all__ = ["NUMPY_OPS", "PYTENSOR_OPS", "pytensor_ops"]

#: numpy / scipy backend.
NUMPY_OPS = SimpleNamespace(
    gammaln=special.gammaln,
    log=np.log,
    exp=np.exp,
    logaddexp=np.logaddexp,
    where=np.where,
    maximum=np.maximum,
    log1p=np.log1p,
    expm1=np.expm1,
    minimum=np.minimum,
    sqrt=np.sqrt,
    stop_gradient=lambda x: x,
    frozen=lambda fn, n_outputs, *args: fn(*args),
)


@lru_cache(maxsize=1)
def pytensor_ops() -> SimpleNamespace:
    """The PyTensor backend (imports PyTensor on the first call).

    Returns
    -------
    SimpleNamespace
        ``gammaln, log, exp, logaddexp, where, maximum, log1p, expm1, minimum, sqrt, stop_gradient, frozen`` as PyTensor tensor operations;
        ``where`` is ``pytensor.tensor.switch``, which like ``numpy.where`` evaluates both
        branches (the log-likelihoods keep both finite, so gradients stay free of NaN).

    Examples
    --------
    >>> ops = pytensor_ops()
    >>> x = np.array([0.5, 2.0, 30.0])
    >>> bool(np.allclose(ops.logaddexp(x, ops.log(x)).eval(), np.logaddexp(x, np.log(x)), rtol=1e-15))
    True

    The gradient of ``logaddexp`` stays finite where both terms underflow:

    >>> import pytensor, pytensor.tensor as pt
    >>> a = pt.dscalar("a")
    >>> grad = pytensor.function([a], pytensor.grad(ops.logaddexp(a, a - 1.0), a))
    >>> round(float(grad(-2000.0)), 12)
    1.0
    """
    import pytensor.tensor as pt
    from pytensor.gradient import zero_grad

    def logaddexp(a: Any, b: Any) -> Any:
        # max + log1p(exp(-|a - b|)): PyTensor's own logaddexp is stabilised when compiled but
        # its gradient is not (NaN once both exponentials underflow, as for heavy buyers)
        return pt.maximum(a, b) + pt.log1p(pt.exp(-pt.abs(a - b)))

    return SimpleNamespace(
        gammaln=pt.gammaln,
        log=pt.log,
        exp=pt.exp,
        logaddexp=logaddexp,
        where=pt.switch,
        maximum=pt.maximum,
        log1p=pt.log1p,
        expm1=pt.expm1,
        minimum=pt.minimum,
        sqrt=pt.sqrt,
        stop_gradient=zero_grad,
        frozen=_pytensor_frozen,
    )


def _pytensor_frozen(fn: Any, n_outputs: int, *args: Any) -> tuple[Any, ...]:
    """``fn(*args)`` as a PyTensor operation run by numpy, its outputs cut off from the gradient."""
    from pytensor.gradient import disconnected_grad

    outputs = _frozen_op(fn, len(args), n_outputs)(*args)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return tuple(disconnected_grad(o) for o in outputs)


@lru_cache(maxsize=None)
def _frozen_op(fn: Any, n_inputs: int, n_outputs: int) -> Any:
    import pytensor.tensor as pt

    try:
        from pytensor.compile.ops import wrap_py
    except ImportError:  # PyTensor < 2.31
        from pytensor.compile.ops import as_op as wrap_py

    def run(*args: np.ndarray) -> list[np.ndarray]:
        return [np.ascontiguousarray(v, dtype=np.float64) for v in fn(*args)]

    return wrap_py(itypes=[pt.dvector] * n_inputs, otypes=[pt.dmatrix] * n_outputs)(run)


def __getattr__(name: str) -> Any:
    if name == "PYTENSOR_OPS":
        return pytensor_ops()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
