"""Evaluate a per-customer function of (x, T) over parameter draws at few points.

Given that a customer is alive at T, the BG/NBD future depends on the history only through the
updated parameters ``(r + x, alpha + T, a, b + x)``. Functions of that future (expected or
discounted purchases over a horizon) are analytic in ``alpha' = alpha + T`` away from the
negative real axis, that is analytic in ``u = log(alpha + T)`` within the strip
``|Im u| < pi``. Over a range of T they are therefore interpolated to near machine precision by
a Chebyshev polynomial in u of low degree (Trefethen, *Approximation Theory and Approximation
Practice*, 2013, ch. 8: the error falls like ``rho^-n`` where the Bernstein ellipse of
parameter ``rho`` fits in the strip). :class:`XTInterpolant` uses that when it is cheaper
than evaluating every distinct (x, T) pair, which matters when T takes many values (daily data).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from ..data import compress_patterns

__all__ = ["XTInterpolant", "chebyshev_degree"]

#: Relative accuracy the interpolation degree is chosen for.
TOLERANCE = 1e-10
#: Cells of the (draw, T, x) interpolation grid built at once (200 MB).
_GRID_CELLS = 25_000_000
#: Distinct frequencies tabulated together (a thread's unit of work).
_X_GROUP = 8
#: First degree tried (then doubled until the Chebyshev coefficients have decayed).
_FIRST_DEGREE = 8
#: Half-width of the strip around the real u axis assumed analytic and of moderate size
#: (the singularities are at |Im u| = pi).
_STRIP = 1.5


def _tail(table: np.ndarray) -> float:
    """Largest of the last two Chebyshev coefficients relative to the function's largest one.

    ``table[..., j]`` holds values at the Lobatto points ``cos(pi j / n)``; the coefficients are
    their discrete cosine transform (Trefethen 2013, ch. 3).
    """
    n = table.shape[-1] - 1
    j = np.arange(n + 1)
    transform = np.cos(np.pi * np.outer(j, j) / n) * (2.0 / n)
    transform[:, [0, -1]] /= 2.0
    coefficients = np.abs(table @ transform.T)
    scale = np.maximum(coefficients.max(axis=-1), np.finfo(float).tiny)
    return float(np.max(coefficients[..., -2:].max(axis=-1) / scale))


def chebyshev_degree(half_width: float, tolerance: float = TOLERANCE, max_degree: int = 64) -> int:
    """Degree at which Chebyshev interpolation on an interval of ``half_width`` reaches ``tolerance``.

    For a function analytic in the strip ``|Im u| < 1.5`` the Bernstein ellipse parameter is
    ``rho = q + sqrt(q^2 + 1)``, ``q = 1.5 / half_width``, and the error is of order
    ``rho^-n``.

    Examples
    --------
    >>> chebyshev_degree(0.1), chebyshev_degree(0.5), chebyshev_degree(3.0)
    (8, 14, 49)
    """
    if half_width <= 0:
        return 0
    q = _STRIP / half_width
    rho = q + np.sqrt(q * q + 1.0)
    return int(min(max_degree, np.ceil(np.log(1.0 / tolerance) / np.log(rho)) + 1))


class XTInterpolant:
    """Functions of (x, T) over parameter draws, tabulated once per distinct x and few T.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(x, T)`` returning a tuple of arrays, broadcasting like the model functions:
        ``x`` of shape ``(n,)`` and ``T`` of shape ``(n,)`` or ``(S, n)`` give ``(S, n)`` each
        (or ``(n,)`` for a point estimate).
    alpha : float or ndarray of shape (S, 1)
        The BG/NBD ``alpha`` of each draw (the functions are smooth in ``log(alpha + T)``).
    x, T : ndarray of shape (N,)
        All the customers' frequencies and ages that will be asked for.
    tolerance : float
        Relative accuracy of the interpolation.
    n_jobs : int
        Threads that tabulate the functions (groups of distinct x; the values do not depend
        on the number of threads).
    T_range : (float, float), optional
        A fixed range of T to tabulate over (it must contain every T asked for), instead of
        the range of ``T``. The functions are then always tabulated, at the degree the bound
        of :func:`chebyshev_degree` gives, and interpolated one node at a time in a fixed
        order: each customer's values depend only on its own (x, T), the draws and the range,
        bit for bit, whichever customers are evaluated with it.

    Notes
    -----
    When the customers have few distinct (x, T) pairs, calls evaluate the functions directly
    at the distinct pairs asked for. Otherwise the functions are tabulated at Chebyshev-Lobatto
    points in ``u = log(alpha + T)`` over the range of T, for each distinct x, and calls
    interpolate with the barycentric formula (Berrut & Trefethen 2004, SIAM Review 46(3)).

    Examples
    --------
    5,000 customers with 3 distinct frequencies and 5,000 ages: the discounted purchases if
    alive are tabulated at a few ages per frequency, and interpolated to 1e-10.

    >>> from clvmodels.models import beta_geo
    >>> params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> rng = np.random.default_rng(0)
    >>> x, T = rng.integers(0, 3, 5000).astype(float), rng.uniform(27.0, 39.0, 5000)
    >>> def evaluate(x, T):
    ...     return (beta_geo.discounted_purchases_if_alive(params, 52.0, 0.0027, x, T),)
    >>> interpolant = XTInterpolant(evaluate, params["alpha"], x, T)
    >>> (values,) = interpolant(x, T)
    >>> interpolant.table.shape, bool(np.allclose(values, evaluate(x, T)[0], rtol=1e-9))
    ((1, 1, 3, 9), True)
    """

    def __init__(
        self,
        evaluate: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
        alpha: np.ndarray | float,
        x: np.ndarray,
        T: np.ndarray,
        *,
        tolerance: float = TOLERANCE,
        n_jobs: int = 1,
        T_range: tuple[float, float] | None = None,
    ) -> None:
        self.evaluate = evaluate
        self.n_jobs = max(1, int(n_jobs))
        self.point = np.ndim(alpha) == 0
        self.alpha = np.asarray(alpha, dtype=np.float64).reshape(-1, 1)  # (S, 1)
        (ux, uT), _, _ = compress_patterns(np.asarray(x), np.asarray(T))
        self.xs = np.unique(ux)
        self.table: np.ndarray | None = None
        self.fixed = T_range is not None
        if len(uT) == 0:
            return
        if self.fixed:
            low, high = (float(v) for v in T_range)
            outside = int(((uT < low) | (uT > high)).sum())
            if outside:
                raise ValueError(
                    f"T_range={tuple(T_range)!r} does not contain the T of {outside} distinct customer histories "
                    f"(T from {uT.min():g} to {uT.max():g}); give the range of T over all the customers."
                )
        else:
            low, high = float(uT.min()), float(uT.max())
        u_low, u_high = np.log(self.alpha + low), np.log(self.alpha + high)
        self.mid, self.half = (u_high + u_low) / 2.0, (u_high - u_low) / 2.0
        # a bound from the width of the range (conservative), and a first try well below it
        most = chebyshev_degree(float(np.max(self.half)), tolerance)
        if self.fixed:
            if high > low:  # (one T for everyone: direct evaluation is exact and per customer)
                self._set_table(self._tabulate(most, np.arange(most + 1), low, high), most)
            return
        degree = min(most, _FIRST_DEGREE)
        if (degree + 1) * len(self.xs) >= len(ux):
            return  # direct evaluation is cheaper
        table = self._tabulate(degree, np.arange(degree + 1), low, high)
        # Chebfun's test: converged when the last Chebyshev coefficients are negligible;
        # otherwise double the degree (Lobatto points nest, so only the new ones are evaluated)
        while degree < most and _tail(table) > tolerance and (2 * degree + 1) * len(self.xs) < len(ux):
            finer = np.empty((*table.shape[:-1], 2 * degree + 1))
            finer[..., ::2] = table
            finer[..., 1::2] = self._tabulate(2 * degree, np.arange(1, 2 * degree, 2), low, high)
            table, degree = finer, 2 * degree
        if _tail(table) > tolerance and (2 * degree + 1) * len(self.xs) >= len(ux):
            return  # not converged before direct evaluation became cheaper
        self._set_table(table, degree)

    def _set_table(self, table: np.ndarray, degree: int) -> None:
        self.table = table
        self.nodes = np.cos(np.pi * np.arange(degree + 1) / degree)
        self.weights = (-1.0) ** np.arange(degree + 1)
        self.weights[[0, -1]] /= 2.0

    def _tabulate(self, degree: int, which: np.ndarray, low: float, high: float) -> np.ndarray:
        """The functions at Lobatto points ``which`` of ``degree``: (functions, S, distinct x, points)."""
        nodes = np.cos(np.pi * which / degree)
        T_nodes = np.clip(np.exp(self.mid + self.half * nodes) - self.alpha, low, high)  # (S, points)
        n_draws, n_points = self.alpha.shape[0], len(which)

        def part(xs: np.ndarray) -> np.ndarray:
            grid_T = np.broadcast_to(T_nodes[:, None, :], (n_draws, len(xs), n_points)).reshape(n_draws, -1)
            values = self.evaluate(np.repeat(xs, n_points), grid_T)
            return np.stack([np.broadcast_to(v, grid_T.shape).reshape(n_draws, len(xs), n_points) for v in values])

        # fixed groups of x (so the values do not depend on n_jobs), spread over the threads
        parts = [self.xs[i : i + _X_GROUP] for i in range(0, len(self.xs), _X_GROUP)]
        if self.n_jobs == 1 or len(parts) == 1:
            return np.concatenate([part(p) for p in parts], axis=2)
        with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:  # the special functions release the GIL
            return np.concatenate(list(pool.map(part, parts)), axis=2)

    def __call__(self, x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
        """The functions at customers ``(x, T)``, each of shape ``(S, N)`` (``(N,)`` for a point)."""
        (ux, uT), _, inverse = compress_patterns(np.asarray(x), np.asarray(T))
        if self.table is None:
            return tuple(v[..., inverse] for v in self.evaluate(ux, uT))
        Ts, T_index = np.unique(uT, return_inverse=True)
        x_used, x_index = np.unique(np.searchsorted(self.xs, ux), return_inverse=True)
        n_draws, n_functions = self.alpha.shape[0], self.table.shape[0]
        tables = np.ascontiguousarray(self.table[:, :, x_used, :].transpose(0, 1, 3, 2))  # (functions, S, nodes, x used)
        out = np.empty((n_functions, n_draws, len(uT)))
        # the barycentric weights depend on T only: interpolate on the (T, x) grid with one
        # matrix product per draw, in blocks of T that keep the grid near 200 MB, then pick
        block = max(1, _GRID_CELLS // max(1, n_draws * len(x_used)))
        for start in range(0, len(Ts), block):
            weights = self._barycentric(Ts[start : start + block])  # (S, block, nodes)
            rows = (T_index >= start) & (T_index < start + block)
            cells = (T_index[rows] - start) * len(x_used) + x_index[rows]
            for k in range(n_functions):
                grid = self._combine(weights, tables[k])  # (S, block, x used)
                out[k][:, rows] = grid.reshape(n_draws, -1).take(cells, axis=1)
        result = out[..., inverse]
        return tuple(r[0] if self.point else r for r in result)

    def _combine(self, weights: np.ndarray, table: np.ndarray) -> np.ndarray:
        """``weights @ table``: (S, n, nodes) x (S, nodes, x) -> (S, n, x). With a fixed range,
        one node at a time (a matrix product's rounding may depend on the matrix shapes)."""
        if not self.fixed:
            return weights @ table
        grid = weights[:, :, :1] * table[:, None, 0, :]
        for j in range(1, weights.shape[-1]):
            grid += weights[:, :, j : j + 1] * table[:, None, j, :]
        return grid

    def _barycentric(self, T: np.ndarray) -> np.ndarray:
        """Normalised barycentric weights of the Lobatto points at ``T``: (S, len(T), nodes)."""
        position = (np.log(self.alpha + T) - self.mid) / self.half  # (S, n) in [-1, 1]
        gap = position[..., None] - self.nodes
        hit = gap == 0.0
        weights = self.weights / np.where(hit, 1.0, gap)
        # at a node itself the interpolant is the tabulated value
        weights = np.where(hit.any(axis=-1, keepdims=True), hit.astype(np.float64), weights)
        return weights / weights.sum(axis=-1, keepdims=True)
