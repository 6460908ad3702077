"""Random streams keyed by what is simulated, so that results do not depend on how work is split.

A forecast simulates one future per (parameter draw, customer history). If those futures came
from one generator shared by a block of customers, a customer's predictive bounds would change
with the customers scored beside it, the chunk size, the number of threads or Spark partitions.
Here every random number is a pure function of a 64-bit key and of the place in the code that
asks for it: the key of a (draw, history) cell is a hash of the run's seed, the draw's number
and the history's values (frequency, recency, T, mean spend); a purchase's key derives from
its cell's key and its rank. The generator is counter-based (SplitMix64 outputs of a counter
started at the hashed key; Steele, Lea & Flood 2014), so any subset of cells, in any order,
gets the same numbers.

:class:`KeyedGenerator` offers the methods of :class:`numpy.random.Generator` that the models'
simulators use (``uniform``, ``exponential``, ``gamma``, ``standard_gamma``, ``beta``,
``poisson``), one independent stream per element, so the models' ``simulate_future_if_alive``
and the spend models' samplers run unchanged on either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["KeyedGenerator", "history_keys", "cell_keys", "seed_key"]

_kernels: Any = None
#: Salt of the keys of the customers' futures, and of the extra futures behind segment totals.
FUTURES, TOTALS = np.uint64(0x5EED_F07E), np.uint64(0x70_7A15)


def _k() -> Any:
    global _kernels
    if _kernels is None:
        from . import _keyed_kernels

        _kernels = _keyed_kernels
    return _kernels


def seed_key(seed: np.random.SeedSequence) -> np.uint64:
    """The run's 64-bit key from its seed sequence."""
    return np.uint64(seed.generate_state(1, np.uint64)[0])


def history_keys(seed: np.uint64, *columns: np.ndarray) -> np.ndarray:
    """A 64-bit key per row from the run's key and the rows' values (their float64 bits).

    Equal values give equal keys whatever else is in the arrays; ``-0.0`` counts as ``0.0``.

    Examples
    --------
    >>> a = history_keys(np.uint64(1), np.array([0.0, 2.0]), np.array([30.0, 38.5]))
    >>> b = history_keys(np.uint64(1), np.array([2.0]), np.array([38.5]))
    >>> bool(a[1] == b[0]), bool(a[0] != a[1])
    (True, True)
    """
    n = len(columns[0]) if columns else 0
    bits = np.empty((len(columns), n), dtype=np.uint64)
    for j, column in enumerate(columns):
        bits[j] = (np.asarray(column, dtype=np.float64) + 0.0).view(np.uint64)
    out = np.empty(n, dtype=np.uint64)
    _k().combine(np.full(n, seed, dtype=np.uint64), bits, out)
    return out


def cell_keys(keys: np.ndarray, draws: np.ndarray | int, salt: np.uint64 = FUTURES) -> np.ndarray:
    """Keys of the (draw, row) cells, shape ``(len(draws), len(keys))``: draw ``d`` of row ``i``
    is the ``d``-th child of ``keys[i]``. ``draws`` are the draws' numbers (or their count)."""
    draws = np.arange(draws) if np.ndim(draws) == 0 else np.asarray(draws)
    index = np.tile(np.arange(len(keys)), len(draws))
    rank = np.repeat(draws.astype(np.int64), len(keys))
    out = np.empty(len(index), dtype=np.uint64)
    _k().derive(np.ascontiguousarray(keys, dtype=np.uint64), index, rank, salt, out)
    return out.reshape(len(draws), len(keys))


class KeyedGenerator:
    """One random stream per element of ``keys``, with (part of) numpy's Generator interface.

    Each call draws one value per key (the arrays given broadcast to the keys' shape), from
    the key and the number of calls made so far: calling the same sequence of methods on any
    subset of the keys gives those keys the same values. :meth:`take` keeps the count (a view
    of some elements); :meth:`spawn` starts child streams (e.g. one per purchase of a cell).

    Examples
    --------
    >>> keys = cell_keys(history_keys(np.uint64(7), np.arange(5.0)), 3)
    >>> whole = KeyedGenerator(keys).gamma(np.full(keys.shape, 2.0))
    >>> part = KeyedGenerator(keys[:, 2:4]).gamma(np.full((3, 2), 2.0))
    >>> bool(np.array_equal(whole[:, 2:4], part))
    True
    """

    def __init__(self, keys: np.ndarray, *, _calls: list[int] | None = None) -> None:
        self.keys = np.ascontiguousarray(keys, dtype=np.uint64)
        # shared with the views made by take(), so that a view and its parent never reuse a count
        self._calls = [0] if _calls is None else _calls

    @property
    def shape(self) -> tuple[int, ...]:
        return self.keys.shape

    def _salt(self) -> np.uint64:
        self._calls[0] += 1
        return np.uint64((self._calls[0] * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF)

    def _out(self, size: Any, dtype: Any = np.float64) -> np.ndarray:
        if size is not None and tuple(np.atleast_1d(size)) != self.keys.shape and np.shape(size) != ():
            raise ValueError(f"size {size} differs from the keys' shape {self.keys.shape}")
        return np.empty(self.keys.size, dtype=dtype)

    def _flat(self, value: Any) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=np.float64), self.keys.shape).ravel())

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> np.ndarray:
        out = self._out(size)
        _k().uniform(self.keys.ravel(), self._salt(), out)
        return (low + (high - low) * out).reshape(self.keys.shape) if (low, high) != (0.0, 1.0) else out.reshape(self.keys.shape)

    def exponential(self, scale: Any = 1.0, size: Any = None) -> np.ndarray:
        out = self._out(size)
        _k().exponential(self.keys.ravel(), self._salt(), out)
        return out.reshape(self.keys.shape) * scale if np.any(np.asarray(scale) != 1.0) else out.reshape(self.keys.shape)

    def standard_gamma(self, shape: Any, size: Any = None) -> np.ndarray:
        out = self._out(size)
        _k().gamma(self.keys.ravel(), self._salt(), self._flat(shape), out)
        return out.reshape(self.keys.shape)

    def gamma(self, shape: Any, scale: Any = 1.0, size: Any = None) -> np.ndarray:
        values = self.standard_gamma(shape, size)
        return values * scale if np.any(np.asarray(scale) != 1.0) else values

    def beta(self, a: Any, b: Any, size: Any = None) -> np.ndarray:
        out = self._out(size)
        _k().beta(self.keys.ravel(), self._salt(), self._flat(a), self._flat(b), out)
        return out.reshape(self.keys.shape)

    def poisson(self, lam: Any = 1.0, size: Any = None) -> np.ndarray:
        out = self._out(size, np.int64)
        rates = self._flat(lam)
        _k().poisson(self.keys.ravel(), self._salt(), rates, out)
        if (out < 0).any():
            raise ValueError(f"poisson: rates must be finite and non-negative, got {rates[out < 0][0]!r}")
        return out.reshape(self.keys.shape)

    def take(self, index: Any) -> KeyedGenerator:
        """The streams of some elements (``index`` into the flattened keys), continuing the
        count: values drawn from the view are those the elements would get from the parent."""
        return KeyedGenerator(self.keys.ravel()[index], _calls=self._calls)

    def spawn(self, index: np.ndarray, rank: np.ndarray) -> KeyedGenerator:
        """Child streams: the ``rank[i]``-th child of element ``index[i]`` (flattened), for each i.

        The children depend on the parent's key, its count of calls at the time of the spawn
        and the rank only; they start their own count."""
        return self.deferred().spawn(index, rank)

    def deferred(self) -> _Deferred:
        """Reserve one count now for children spawned later, in any number of batches."""
        return _Deferred(self.keys.ravel(), self._salt())


class _Deferred:
    """Children of a generator at a count reserved in advance (see :meth:`KeyedGenerator.deferred`)."""

    def __init__(self, keys: np.ndarray, salt: np.uint64) -> None:
        self.keys, self.salt = keys, salt

    def spawn(self, index: np.ndarray, rank: np.ndarray) -> KeyedGenerator:
        index = np.ascontiguousarray(index, dtype=np.int64)
        out = np.empty(len(index), dtype=np.uint64)
        _k().derive(self.keys, index, np.ascontiguousarray(rank, dtype=np.int64), self.salt, out)
        return KeyedGenerator(out)
