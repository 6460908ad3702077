"""Keyed random streams: each variate's law, and results that do not depend on how work is split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clvmodels import BetaGeo, GammaGamma, ParetoNBD, forecast
from clvmodels.streams import KeyedGenerator, cell_keys, history_keys

from .published import cdnow_summary

N = 200_000


@pytest.fixture(scope="module")
def keys() -> np.ndarray:
    return cell_keys(history_keys(np.uint64(11), np.arange(1000.0), np.full(1000, 38.0)), N // 1000)


# -- the laws ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [0.02, 0.3, 1.0, 2.5, 40.0])
def test_gamma_law(keys, shape):
    values = KeyedGenerator(keys).gamma(np.full(keys.shape, shape)).ravel()
    # KS on the log for tiny shapes (the variates span hundreds of decades)
    assert stats.kstest(np.log(values), lambda v: stats.gamma(shape).cdf(np.exp(v))).pvalue > 1e-3


@pytest.mark.parametrize("a, b", [(0.1, 0.2), (0.8, 3.2), (6.0, 2.0)])
def test_beta_law(keys, a, b):
    values = KeyedGenerator(keys).beta(np.full(keys.shape, a), np.full(keys.shape, b)).ravel()
    assert stats.kstest(values, stats.beta(a, b).cdf).pvalue > 1e-3


def test_uniform_and_exponential_laws(keys):
    g = KeyedGenerator(keys)
    assert stats.kstest(g.uniform().ravel(), "uniform").pvalue > 1e-3
    assert stats.kstest(g.exponential().ravel(), "expon").pvalue > 1e-3


@pytest.mark.parametrize("lam", [0.05, 3.0, 9.9, 10.0, 57.0, 2e5])
def test_poisson_law(keys, lam):
    counts = KeyedGenerator(keys).poisson(np.full(keys.shape, lam)).ravel()
    law = stats.poisson(lam)
    # chi-square over bins of at least 5% probability (multiplication below 10, PTRS above)
    edges = np.unique(law.ppf(np.linspace(0.0, 1.0, 21)[1:-1]))
    bins = np.searchsorted(edges, counts, side="left")
    observed = np.bincount(bins, minlength=len(edges) + 1)
    cdf = law.cdf(edges)
    expected = np.diff(np.concatenate([[0.0], cdf, [1.0]])) * len(counts)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_calls_and_elements_are_independent(keys):
    g = KeyedGenerator(keys)
    first, second = g.uniform(), g.uniform()
    # consecutive calls, neighbouring draws and neighbouring histories: no correlation
    for a, b in ((first, second), (first[:-1], first[1:]), (first[:, :-1], first[:, 1:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 4 / np.sqrt(a.size)


def test_any_subset_gets_the_same_numbers(keys):
    whole = KeyedGenerator(keys)
    shape = np.linspace(0.1, 5.0, keys.size).reshape(keys.shape)
    u, g, p = whole.uniform(), whole.gamma(shape), whole.poisson(shape * 3)
    order = np.random.default_rng(0).permutation(keys.shape[1])[:37]
    part = KeyedGenerator(keys[:, order])
    assert np.array_equal(part.uniform(), u[:, order])
    assert np.array_equal(part.gamma(shape[:, order]), g[:, order])
    assert np.array_equal(part.poisson(shape[:, order] * 3), p[:, order])
    # a view continues its parent's count
    view = KeyedGenerator(keys).take(np.array([5, 3]))
    view.uniform()
    assert np.array_equal(view.uniform(), _second(keys)[[5, 3]])


def _second(keys):
    g = KeyedGenerator(keys)
    g.uniform()
    return g.uniform().ravel()


def test_history_keys_depend_on_values_only():
    a = history_keys(np.uint64(1), np.array([0.0, -0.0, 2.0]), np.array([1.0, 1.0, 1.0]))
    assert a[0] == a[1] and a[0] != a[2]
    assert history_keys(np.uint64(2), np.array([0.0]), np.array([1.0]))[0] != a[0]


# -- forecasts that do not depend on the split ------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow():
    return cdnow_summary()


@pytest.fixture(scope="module")
def models(cdnow):
    return BetaGeo().fit(cdnow), GammaGamma().fit(cdnow)


def _parts(data: pd.DataFrame) -> list[pd.DataFrame]:
    shuffled = data.sample(frac=1.0, random_state=3)
    cuts = [0, 1, 250, 1000, 1001, len(data)]  # uneven, one of a single customer
    return [shuffled.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def _score(tm, sm, data, **kwargs):
    settings = dict(horizon=52, discount_rate=0.15, n_draws=60, random_seed=7, progress=False)
    return forecast(tm, sm, data, **{**settings, **kwargs}).to_frame()


def test_forecast_identical_in_parts_alone_and_any_threads(models, cdnow):
    tm, sm = models
    span = (float(cdnow["T"].min()), float(cdnow["T"].max()))
    whole = _score(tm, sm, cdnow, T_range=span)
    parts = pd.concat([_score(tm, sm, part, T_range=span, n_jobs=1, memory_budget=1) for part in _parts(cdnow)])
    pd.testing.assert_frame_equal(parts.loc[whole.index], whole, check_exact=True)
    alone = _score(tm, sm, cdnow.iloc[[17]], T_range=span)
    pd.testing.assert_frame_equal(alone, whole.iloc[[17]], check_exact=True)
    # without a fixed range the credible bounds agree to the interpolation's 1e-10, and the
    # predictive ones (simulated from the keyed streams) exactly
    free = pd.concat([_score(tm, sm, part) for part in _parts(cdnow)]).loc[whole.index]
    predictive = [c for c in whole.columns if "_pred_" in c]
    pd.testing.assert_frame_equal(free[predictive], whole[predictive], check_exact=True)
    np.testing.assert_allclose(free["clv_upper"], whole["clv_upper"], rtol=1e-8)


def test_pareto_purchases_identical_in_parts(cdnow):
    tm = ParetoNBD().fit(cdnow)
    span = (float(cdnow["T"].min()), float(cdnow["T"].max()))
    whole = _score(tm, None, cdnow, T_range=span)
    parts = pd.concat([_score(tm, None, part, T_range=span, n_jobs=1) for part in _parts(cdnow)])
    pd.testing.assert_frame_equal(parts.loc[whole.index], whole, check_exact=True)


def test_fixed_range_changes_values_by_interpolation_error_only(models, cdnow):
    tm, sm = models
    span = (float(cdnow["T"].min()), float(cdnow["T"].max()))
    fixed, free = _score(tm, sm, cdnow, T_range=span, predictive=False), _score(tm, sm, cdnow, predictive=False)
    for column in ("clv", "clv_lower", "clv_upper", "expected_purchases"):
        np.testing.assert_allclose(fixed[column], free[column], rtol=1e-8)


def test_range_must_cover_the_data(models, cdnow):
    tm, sm = models
    with pytest.raises(ValueError, match="T_range=.*does not contain the T of"):
        _score(tm, sm, cdnow, T_range=(30.0, 35.0), predictive=False)


def test_given_draws_are_used(models, cdnow):
    tm, sm = models
    tx, spend = tm.sample_params(60, random_seed=1), sm.sample_params(60, random_seed=2)
    a = _score(tm, sm, cdnow.iloc[:50], tx_draws=tx, spend_draws=spend)
    b = _score(tm, sm, cdnow.iloc[:50], tx_draws=tx, spend_draws=spend, random_seed=7)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    with pytest.raises(ValueError, match="lacks the parameters"):
        _score(tm, sm, cdnow.iloc[:50], tx_draws=tx.drop(columns="r"))
    with pytest.raises(ValueError, match="give as many of each"):
        _score(tm, sm, cdnow.iloc[:50], tx_draws=tx, spend_draws=spend.iloc[:10])
