"""The few operations the log-likelihoods are written against.

Each model writes its log-likelihood once, as a function of an ``ops`` namespace, so that the
same formula evaluates with numpy/scipy for maximum likelihood and with PyTensor for the PyMC
model (:mod:`clvmodels.inference.bayes`). A backend provides:

``gammaln, log, exp, logaddexp, where, maximum``

with numpy broadcasting semantics (``where(cond, a, b)`` selects elementwise).

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
)


@lru_cache(maxsize=1)
def pytensor_ops() -> SimpleNamespace:
    """The PyTensor backend (imports PyTensor on the first call).

    Returns
    -------
    SimpleNamespace
        ``gammaln, log, exp, logaddexp, where, maximum`` as PyTensor tensor operations;
        ``where`` is ``pytensor.tensor.switch``, which like ``numpy.where`` evaluates both
        branches (the log-likelihoods keep both finite, so gradients stay free of NaN).

    Examples
    --------
    >>> ops = pytensor_ops()
    >>> x = np.array([0.5, 2.0, 30.0])
    >>> bool(np.allclose(ops.logaddexp(x, ops.log(x)).eval(), np.logaddexp(x, np.log(x)), rtol=1e-15))
    True
    """
    import pytensor.tensor as pt

    return SimpleNamespace(
        gammaln=pt.gammaln,
        log=pt.log,
        exp=pt.exp,
        logaddexp=pt.logaddexp,
        where=pt.switch,
        maximum=pt.maximum,
    )


def __getattr__(name: str) -> Any:
    if name == "PYTENSOR_OPS":
        return pytensor_ops()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
