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
    """A model was asked for a prediction before :meth:`fit` was called.

    Examples
    --------
    >>> from clvmodels import BetaGeo
    >>> try:
    ...     BetaGeo().expected_purchases_new(52)
    ... except NotFittedError as error:
    ...     print(error)
    This BetaGeo is not fitted yet; call .fit(data) before asking for predictions.
    """


class ClvWarning(UserWarning):
    """Base class of every warning clvmodels raises.

    Examples
    --------
    Turn every clvmodels warning into an error, for example in a scheduled job:

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ClvWarning)
    ...     try:
    ...         warnings.warn("3 rows dropped", DataWarning)
    ...     except ClvWarning as error:
    ...         print(type(error).__name__, error)
    DataWarning 3 rows dropped
    """


class ConvergenceWarning(ClvWarning):
    """An optimiser or sampler did not reach its convergence criteria.

    The fitted model still holds its estimates, with ``converged_`` False and the diagnostics
    in ``optimizer_`` (maximum likelihood) or ``sampler_`` (NUTS, ADVI).

    Examples
    --------
    >>> issubclass(ConvergenceWarning, ClvWarning)
    True
    """


class DataWarning(ClvWarning):
    """Rows of the input were excluded or look suspicious; the message counts them.

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from clvmodels import rfm_summary
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2], "date": ["2024-01-02", "not a date", "2024-01-05"]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     summary = rfm_summary(log, observation_end="2024-01-31", invalid="drop")
    >>> [type(w.message).__name__ for w in caught], len(summary)
    (['DataWarning'], 2)
    """


class StatisticalWarning(ClvWarning):
    """The data contradict an assumption of the model (for example Gamma-Gamma independence).

    Examples
    --------
    >>> issubclass(StatisticalWarning, UserWarning)
    True
    """
