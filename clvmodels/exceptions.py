"""Errors and warnings raised by clvmodels.

All warnings derive from :class:`ClvWarning`, so they can be filtered together, for example
``warnings.filterwarnings("error", category=clvmodels.exceptions.ClvWarning)`` in a test suite.
"""

from __future__ import annotations

__all__ = [
    "ClvWarning",
    "ConvergenceWarning",
    "DataWarning",
    "NotFittedError",
    "StatisticalWarning",
]


class NotFittedError(RuntimeError, AttributeError):
    """A model was asked for a prediction before :meth:`fit` was called."""


class ClvWarning(UserWarning):
    """Base class of every warning clvmodels raises."""


class ConvergenceWarning(ClvWarning):
    """An optimiser or sampler did not reach its convergence criteria."""


class DataWarning(ClvWarning):
    """Rows of the input were excluded or look suspicious; the message counts them."""


class StatisticalWarning(ClvWarning):
    """The data contradict an assumption of the model (for example Gamma-Gamma independence)."""
