"""Weighted customer patterns, the data a maximum-likelihood fit works on.

``fit`` compresses identical customers into patterns with weights
(:func:`clvmodels.data.compress_patterns`). Terms of a log-likelihood that depend on the data
only through the frequency (the log-gamma and digamma terms) are further evaluated once per
distinct frequency and summed with the total weight of that frequency, so that a fit costs a
few special-function calls per distinct frequency plus a few logarithms per pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FrequencyLevels", "wsum"]


@dataclass(frozen=True)
class FrequencyLevels:
    """Distinct frequencies of weighted patterns and the weight of each.

    Attributes
    ----------
    x : ndarray
        Distinct frequencies.
    weight : ndarray
        Sum of the pattern weights at each distinct frequency.
    index : ndarray
        For each pattern, the position of its frequency in ``x``.

    Examples
    --------
    >>> levels = FrequencyLevels.from_patterns(np.array([2.0, 0.0, 2.0, 5.0]), np.array([1.0, 10.0, 3.0, 1.0]))
    >>> levels.x.tolist(), levels.weight.tolist(), levels.index.tolist()
    ([0.0, 2.0, 5.0], [10.0, 4.0, 1.0], [1, 0, 1, 2])
    """

    x: np.ndarray
    weight: np.ndarray
    index: np.ndarray

    @classmethod
    def from_patterns(cls, frequency: np.ndarray, weights: np.ndarray) -> FrequencyLevels:
        """The levels of patterns with these frequencies and weights.

        Examples
        --------
        >>> FrequencyLevels.from_patterns(np.array([1.0, 1.0]), np.array([2.0, 5.0])).weight
        array([7.])
        """
        codes, levels = pd.factorize(frequency, sort=True)
        total = np.bincount(codes, weights=weights, minlength=len(levels))
        return cls(np.asarray(levels, dtype=np.float64), total, codes)


def wsum(weights: np.ndarray, values: Any) -> float:
    """``sum(weights * values)`` for an array or a scalar ``values``.

    The fits call it inside :func:`clvmodels.inference.mle.single_threaded_blas`, so the BLAS
    dot product it uses never spins up threads.

    Examples
    --------
    >>> wsum(np.array([1.0, 2.0]), np.array([3.0, 4.0])), wsum(np.array([1.0, 2.0]), 5.0)
    (11.0, 15.0)
    """
    if np.ndim(values) == 0:
        return float(values) * float(weights.sum())
    return float(weights @ values)
