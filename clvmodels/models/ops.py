"""The few operations the log-likelihoods are written against.

Each model writes its log-likelihood once, as a function of an ``ops`` namespace, so that the
same formula evaluates with numpy/scipy for maximum likelihood and, later, with PyTensor for
the PyMC model. A backend provides:

``gammaln, log, exp, logaddexp, where, maximum``

with numpy broadcasting semantics (``where(cond, a, b)`` selects elementwise).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import special

__all__ = ["NUMPY_OPS"]

#: numpy / scipy backend.
NUMPY_OPS = SimpleNamespace(
    gammaln=special.gammaln,
    log=np.log,
    exp=np.exp,
    logaddexp=np.logaddexp,
    where=np.where,
    maximum=np.maximum,
)
