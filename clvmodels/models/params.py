"""Parameter containers accepted by the per-customer formulas.

Every formula in :mod:`clvmodels.models` is a pure broadcasting function of ``(params, data)``.
``params`` may be

- a mapping (``dict`` or ``pandas.Series``) of scalars: a point estimate, giving results shaped
  like the data ``(N,)``;
- a ``pandas.DataFrame`` with one row per draw and one column per parameter: each column is
  reshaped to ``(S, 1)`` so that results are ``(S, N)``;
- a mapping of arrays already shaped to broadcast (for example PyTensor variables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["unpack", "seed_sequence"]


def unpack(params: Any, names: Sequence[str]) -> tuple[Any, ...]:
    """Return the parameters ``names`` from ``params``, shaped to broadcast against data.

    Parameters
    ----------
    params : Series, dict, DataFrame or sequence
        See the module docstring. A sequence is taken in the order of ``names``.
    names : sequence of str
        Parameter names in the model's order.

    Returns
    -------
    tuple
        One value per name: float for scalars, ``(S, 1)`` arrays for the columns of a DataFrame,
        unchanged objects otherwise.

    Examples
    --------
    >>> unpack({"p": 6.25, "q": 3.74, "gamma": 15.44}, ["p", "q", "gamma"])
    (6.25, 3.74, 15.44)
    >>> [v.shape for v in unpack(pd.DataFrame({"p": [1.0, 2.0], "q": [3.0, 4.0]}), ["p", "q"])]
    [(2, 1), (2, 1)]
    """
    if isinstance(params, pd.DataFrame):
        missing = [n for n in names if n not in params.columns]
        if missing:
            raise KeyError(f"parameter draws lack column(s) {missing}; expected {list(names)}.")
        return tuple(params[n].to_numpy(dtype=np.float64)[:, None] for n in names)
    if isinstance(params, Mapping | pd.Series):
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"parameters lack {missing}; expected {list(names)}.")
        return tuple(_scalar_or_array(params[n]) for n in names)
    values = tuple(params)
    if len(values) != len(names):
        raise ValueError(f"expected {len(names)} parameters {list(names)}, got {len(values)}.")
    return tuple(_scalar_or_array(v) for v in values)


def _scalar_or_array(value: Any) -> Any:
    if isinstance(value, int | float | np.number):
        return float(value)
    if isinstance(value, np.ndarray | list | tuple):
        return np.asarray(value, dtype=np.float64)
    return value


def seed_sequence(random_seed: Any, name: str = "random_seed") -> np.random.SeedSequence:
    """A ``SeedSequence`` from a seed: None, a whole number >= 0, or a SeedSequence; a clear error
    naming the argument otherwise (numpy's own says "expected non-negative integer").

    Examples
    --------
    >>> seed_sequence(1).entropy
    1
    >>> seed_sequence(-1)
    Traceback (most recent call last):
    ...
    ValueError: random_seed=-1 must be a whole number >= 0 (or None for a fresh random seed).
    """
    if isinstance(random_seed, np.random.SeedSequence):
        return random_seed
    if random_seed is None:
        return np.random.SeedSequence()
    if isinstance(random_seed, bool) or not isinstance(random_seed, int | np.integer) or random_seed < 0:
        raise ValueError(f"{name}={random_seed!r} must be a whole number >= 0 (or None for a fresh random seed).")
    return np.random.SeedSequence(int(random_seed))
