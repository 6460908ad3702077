"""Interpolation in log(alpha + T): agrees with direct evaluation, and is used only when cheaper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels.models import beta_geo as bg
from clvmodels.models.chebyshev import XTInterpolant, chebyshev_degree

DRAWS = pd.DataFrame(
    {"r": [0.24, 0.3, 2.0], "alpha": [4.4, 0.5, 30.0], "a": [0.79, 1.5, 0.2], "b": [2.4, 0.8, 9.0]},
)


def _customers(n: int, t_max: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 25, n).astype(np.float64), np.round(rng.uniform(0.0, t_max, n), 1)


@pytest.mark.parametrize("horizon, delta", [(52.0, 0.0027), (np.inf, 0.01), (520.0, 0.0)])
def test_interpolation_matches_direct_evaluation(horizon, delta):
    x, T = _customers(5000, 730.0, seed=1)  # daily-like ages: thousands of distinct T

    def evaluate(ux, uT):
        return (bg.discounted_purchases_if_alive(DRAWS, horizon, delta, ux, uT),)

    interpolant = XTInterpolant(evaluate, DRAWS["alpha"].to_numpy()[:, None], x, T)
    assert interpolant.table is not None  # this data is worth interpolating
    (values,) = interpolant(x, T)
    np.testing.assert_allclose(values, evaluate(x, T)[0], rtol=1e-9)
    # a point estimate (scalar alpha) gives one row per customer
    point = DRAWS.iloc[0]
    (one,) = XTInterpolant(lambda ux, uT: (bg.discounted_purchases_if_alive(point, horizon, delta, ux, uT),), point["alpha"], x, T)(x, T)
    assert one.shape == x.shape
    np.testing.assert_allclose(one, bg.discounted_purchases_if_alive(point, horizon, delta, x, T), rtol=1e-9)


def test_few_distinct_pairs_are_evaluated_directly():
    x, T = np.array([0.0, 1.0, 1.0, 0.0]), np.array([10.0, 10.0, 20.0, 10.0])
    calls = []

    def evaluate(ux, uT):
        calls.append(len(ux))
        return (bg.discounted_purchases_if_alive(DRAWS, 52.0, 0.01, ux, uT),)

    interpolant = XTInterpolant(evaluate, DRAWS["alpha"].to_numpy()[:, None], x, T)
    assert interpolant.table is None and calls == []
    (values,) = interpolant(x, T)
    assert calls == [3]  # the three distinct (x, T) pairs
    np.testing.assert_array_equal(values[:, 0], values[:, 3])


def test_degree_follows_the_width_of_the_range():
    assert chebyshev_degree(0.0) == 0
    narrow, wide = chebyshev_degree(0.05), chebyshev_degree(2.5)
    assert 4 <= narrow < wide <= 64


def test_threads_do_not_change_the_values():
    x, T = _customers(3000, 365.0, seed=4)

    def evaluate(ux, uT):
        return (bg.discounted_purchases_if_alive(DRAWS, 52.0, 0.01, ux, uT),)

    alpha = DRAWS["alpha"].to_numpy()[:, None]
    one, two = (XTInterpolant(evaluate, alpha, x, T, n_jobs=jobs) for jobs in (1, 2))
    assert one.table is not None
    np.testing.assert_array_equal(one(x, T)[0], two(x, T)[0])
