"""MBG/NBD: CDNOW figures, parity with lifetimes, numerics, simulation with known truth."""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pandas as pd
import pytest
from lifetimes import ModifiedBetaGeoFitter
from scipy import integrate

from clvmodels.inference.autodiff import compiled_loglik, loglik_objective
from clvmodels.models import beta_geo as bg
from clvmodels.models import mbg_nbd as mbg
from clvmodels.models.mbg_nbd import ModifiedBetaGeo
from clvmodels.models.registry import model_class

from .published import MBGNBD_PARAMS, cdnow_summary

NAMES = ["r", "alpha", "a", "b"]
RNG_PARAMS = [
    {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    {"r": 1.7, "alpha": 12.0, "a": 2.5, "b": 6.0},
    {"r": 0.05, "alpha": 0.7, "a": 0.2, "b": 0.9},
    {"r": 4.0, "alpha": 90.0, "a": 1.3, "b": 25.0},
]


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow) -> ModifiedBetaGeo:
    return ModifiedBetaGeo().fit(cdnow)


def _arrays(data: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(data[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))


def _lifetimes(params: dict) -> ModifiedBetaGeoFitter:
    model = ModifiedBetaGeoFitter()
    model.params_ = pd.Series(params)[NAMES]
    return model


def _lifetimes_loglik(params: dict, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    log_params = np.log([params[k] for k in NAMES])
    with warnings.catch_warnings():  # lifetimes resets the warning filters inside
        return -float(ModifiedBetaGeoFitter._negative_log_likelihood(log_params, x, t_x, T, np.ones(len(x)), 0.0)) * len(x)


# -- CDNOW ---------------------------------------------------------------------------------------------


def test_cdnow_parameters(fitted):
    """lifetimes' MBG/NBD estimates on CDNOW (weeks), at their printed precision."""
    for name, value in MBGNBD_PARAMS.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-4), name
    assert fitted.converged_
    assert fitted.n_customers_ == 2357


def test_cdnow_fit_matches_lifetimes(fitted, cdnow):
    """Same maximum, log-likelihood and standard errors as lifetimes' own fit."""
    x, t_x, T = _arrays(cdnow)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ModifiedBetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    theirs = reference.params_[NAMES]
    np.testing.assert_allclose(fitted.params_, theirs, rtol=1e-5)
    assert fitted.loglik_ == pytest.approx(_lifetimes_loglik(theirs, x, t_x, T), abs=1e-6)
    np.testing.assert_allclose(fitted.summary()["std_error"], reference.standard_errors_[NAMES], rtol=1e-3)
    assert fitted.loglik_per_customer(cdnow).sum() == pytest.approx(fitted.loglik_, rel=1e-12)


def test_registered_and_predictions(fitted, cdnow):
    assert model_class("mbgnbd") is ModifiedBetaGeo
    assert model_class("MBG/NBD") is ModifiedBetaGeo
    assert ModifiedBetaGeo.display_name == "MBG/NBD" and ModifiedBetaGeo.formulas is mbg
    x, t_x, T = _arrays(cdnow)
    alive = fitted.prob_alive(cdnow)
    np.testing.assert_allclose(alive, mbg.prob_alive(fitted.params_, x, t_x, T), rtol=1e-14)
    # unlike the BG/NBD, a customer without a repeat purchase is not certainly alive
    assert (alive[cdnow["frequency"] == 0] < 1).all()
    np.testing.assert_allclose(fitted.expected_purchases(cdnow, 39.0), mbg.expected_purchases(fitted.params_, 39.0, x, t_x, T))


def test_default_priors_are_the_bgnbd_ones():
    from clvmodels.inference.bayes import default_priors

    assert ModifiedBetaGeo.default_priors(32.7) == default_priors("BetaGeo", 32.7)


# -- parity with lifetimes at fixed parameters -----------------------------------------------------------


@pytest.mark.parametrize("params", RNG_PARAMS)
def test_parity_with_lifetimes(params, cdnow):
    ref = _lifetimes(params)
    x, t_x, T = _arrays(cdnow)
    np.testing.assert_allclose(mbg.prob_alive(params, x, t_x, T), ref.conditional_probability_alive(x, t_x, T), rtol=1e-6)
    for t in (1.0, 39.0, 150.0):
        np.testing.assert_allclose(
            mbg.expected_purchases(params, t, x, t_x, T),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
            rtol=1e-6,
        )
    t_grid = np.array([0.5, 1.0, 10.0, 39.0, 78.0])
    np.testing.assert_allclose(
        mbg.expected_purchases_new(params, t_grid), ref.expected_number_of_purchases_up_to_time(t_grid), rtol=1e-6
    )
    for n in range(8):
        assert mbg.prob_purchases(params, n, 39.0) == pytest.approx(ref.probability_of_n_purchases_up_to_time(39.0, n), rel=1e-6)
    assert mbg.loglik(params, x, t_x, T).sum() == pytest.approx(_lifetimes_loglik(params, x, t_x, T), rel=1e-10)


# -- the likelihood ------------------------------------------------------------------------------------


def _mpmath_loglik(r, alpha, a, b, x, t_x, T) -> float:
    """ln of E[(1-p)^(x+1)] E[lambda^x e^(-lambda T)] + E[p (1-p)^x] E[lambda^x e^(-lambda t_x)], 30 digits."""
    r, alpha, a, b, x, t_x, T = (mpmath.mpf(float(v)) for v in (r, alpha, a, b, x, t_x, T))

    def log_beta(u, v):
        return mpmath.loggamma(u) + mpmath.loggamma(v) - mpmath.loggamma(u + v)

    def log_gamma_moment(t):  # ln E[lambda^x e^(-lambda t)], lambda ~ Gamma(r, alpha)
        return mpmath.loggamma(r + x) - mpmath.loggamma(r) + r * mpmath.log(alpha) - (r + x) * mpmath.log(alpha + t)

    alive = mpmath.exp(log_beta(a, b + x + 1) - log_beta(a, b) + log_gamma_moment(T))
    dead = mpmath.exp(log_beta(a + 1, b + x) - log_beta(a, b) + log_gamma_moment(t_x))
    return float(mpmath.log(alive + dead))


def _random_points(n: int, seed: int) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Parameters log-uniform (r, a, b in [0.01, 50], alpha in [0.01, 1e4]); a third of the
    customers without repeat purchases, the others with up to 500; T up to 1000 (a tenth of
    them log-uniform down to 1e-3), t_x uniform on [0, T]."""
    rng = np.random.default_rng(seed)

    def log_uniform(lo, hi):
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n))

    params = {"r": log_uniform(0.01, 50), "alpha": log_uniform(0.01, 1e4), "a": log_uniform(0.01, 50), "b": log_uniform(0.01, 50)}
    x = np.where(rng.uniform(size=n) < 1 / 3, 0.0, np.floor(log_uniform(1, 501)))
    T = np.where(rng.uniform(size=n) < 0.1, log_uniform(1e-3, 1.0), rng.uniform(0, 1000, n))
    t_x = np.where(x > 0, T * rng.uniform(size=n), 0.0)
    return params, x, t_x, T


def test_loglik_matches_30_digit_arithmetic():
    """Relative error below 1e-10 over the whole parameter space, including log-likelihoods
    near 0 (no repeat purchase, T small against alpha or most customers gone at time 0)."""
    params, x, t_x, T = _random_points(300, seed=1)
    ours = mbg.loglik(params, x, t_x, T)
    with mpmath.workdps(30):
        exact = np.array([_mpmath_loglik(*(params[k][i] for k in NAMES), x[i], t_x[i], T[i]) for i in range(len(x))])
    assert np.abs(exact[x == 0]).min() < 1e-4  # the hard case is in the sample
    np.testing.assert_allclose(ours, exact, rtol=1e-10, atol=0)


def test_loglik_is_finite_at_extremes():
    x = np.array([0, 0, 1, 50, 500])
    t_x = np.array([0.0, 0.0, 1e-9, 100.0, 5000.0])
    T = np.array([0.0, 1e-6, 1.0, 100.0, 5000.0])
    for params in ({"r": 1e-4, "alpha": 1e-4, "a": 1e-4, "b": 1e-4}, {"r": 1e4, "alpha": 1e5, "a": 1e3, "b": 1e5}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.all(np.isfinite(mbg.loglik(params, x, t_x, T)))
            assert np.all(np.isfinite(mbg.loglik_grad(params, x, t_x, T)))
            assert np.all((mbg.prob_alive(params, x, t_x, T) >= 0) & (mbg.prob_alive(params, x, t_x, T) <= 1))
    # observed for no time at all, a one-off buyer has survived time 0 with probability b / (a + b)
    assert mbg.loglik(RNG_PARAMS[0], 0, 0.0, 0.0) == 0.0
    assert mbg.prob_alive(RNG_PARAMS[0], 0, 0.0, 0.0) == pytest.approx(1.614 / (0.891 + 1.614), rel=1e-14)


def _extreme_customers(cdnow: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """The first 300 CDNOW customers and a few where both likelihood terms underflow."""
    x, t_x, T = (v[:300] for v in _arrays(cdnow))
    return np.r_[x, 500, 300, 0, 0], np.r_[t_x, 900.0, 10.0, 0.0, 0.0], np.r_[T, 1000.0, 1000.0, 1e-3, 0.0]


def _finite_difference(f, theta: np.ndarray, j: int) -> float:
    """d f / d theta_j by the five-point stencil with step 1e-4 theta_j (truncation error
    ~1e-16 relative; rounding error ~1e-12 |f| / theta_j, small for sums of ~1e4)."""
    h = 1e-4 * theta[j]

    def at(k: float) -> float:
        moved = theta.copy()
        moved[j] += k * h
        return float(f(moved))

    return (at(-2) - 8 * at(-1) + 8 * at(1) - at(2)) / (12 * h)


@pytest.mark.parametrize("params", RNG_PARAMS)
def test_gradient_matches_finite_differences(params, cdnow):
    x, t_x, T = _extreme_customers(cdnow)
    theta = np.array([params[k] for k in NAMES])
    analytic = mbg.loglik_grad(theta, x, t_x, T).sum(axis=1)
    for j in range(4):
        numeric = _finite_difference(lambda th: mbg.loglik(th, x, t_x, T).sum(), theta, j)
        assert analytic[j] == pytest.approx(numeric, rel=1e-6, abs=1e-6)


def test_pytensor_graph_equals_numpy_and_is_differentiable(cdnow):
    """The same ``loglik`` builds a PyTensor graph (compiled by
    :mod:`clvmodels.inference.autodiff`): equal values per customer, and a gradient equal to
    finite differences and free of NaN where both exponentials underflow (x = 500,
    alpha + T = 1000)."""
    per_customer = compiled_loglik(ModifiedBetaGeo, "per_customer")
    total_and_gradient = compiled_loglik(ModifiedBetaGeo)
    data = _extreme_customers(cdnow)
    for params in RNG_PARAMS:
        theta = np.array([params[k] for k in NAMES])
        np.testing.assert_allclose(per_customer(np.log(theta), *data), mbg.loglik(params, *data), rtol=1e-12, atol=1e-14)
        total, grad = total_and_gradient(np.log(theta), *data, np.ones(len(data[0])))
        assert total == pytest.approx(mbg.loglik(params, *data).sum(), rel=1e-12)
        assert np.all(np.isfinite(grad))
        for j in range(4):
            numeric = _finite_difference(lambda th: mbg.loglik(th, *data).sum(), theta, j)
            assert grad[j] == pytest.approx(numeric, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("params", RNG_PARAMS + [{"r": 0.01, "alpha": 1e4, "a": 40.0, "b": 0.02}])
def test_pattern_objective_equals_automatic_gradient(params, cdnow):
    """The hand-written objective equals the PyTensor one derived from ``loglik`` (1e-8)."""
    x, t_x, T = _extreme_customers(cdnow)
    weights = np.random.default_rng(0).integers(1, 5, len(x)).astype(float)
    theta = np.array([params[k] for k in NAMES])
    loglik_and_grad, starts, coarse = ModifiedBetaGeo._objective((x, t_x, T), weights)
    assert coarse is None and len(starts) == 4
    value, grad = loglik_and_grad(theta)
    auto_value, auto_grad = loglik_objective(ModifiedBetaGeo, (x, t_x, T), weights)(theta)
    assert value == pytest.approx(auto_value, rel=1e-12)
    assert value == pytest.approx(weights @ mbg.loglik(theta, x, t_x, T), rel=1e-12)
    # the gradient is a sum of terms of both signs: compare relative to the size of the terms
    scale = np.abs(mbg.loglik_grad(theta, x, t_x, T)) @ weights
    np.testing.assert_allclose(grad, auto_grad, rtol=1e-8, atol=0)
    np.testing.assert_allclose(grad, mbg.loglik_grad(theta, x, t_x, T) @ weights, rtol=0, atol=1e-10 * scale.max())


def test_coarse_warm_start_for_many_patterns():
    rng = np.random.default_rng(5)
    n = 30_000
    T = rng.uniform(1, 365, n)
    sim = mbg.simulate(RNG_PARAMS[0], T, random_seed=rng)
    patterns = tuple(sim[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    full, _, coarse = ModifiedBetaGeo._objective(patterns, np.ones(n))
    assert coarse is not None
    theta = np.array([RNG_PARAMS[0][k] for k in NAMES])
    # the coarse grid (T max / 200 apart) changes the mean log-likelihood by little
    assert coarse(theta)[0] / n == pytest.approx(full(theta)[0] / n, abs=0.02)


# -- predictions ---------------------------------------------------------------------------------------


def test_broadcasting_over_draws(cdnow):
    draws = pd.DataFrame(RNG_PARAMS)
    x, t_x, T = (v[:200] for v in _arrays(cdnow))
    delta = np.log(1.15) / 52
    calls = {
        "loglik": lambda p: mbg.loglik(p, x, t_x, T),
        "prob_alive": lambda p: mbg.prob_alive(p, x, t_x, T),
        "expected_purchases": lambda p: mbg.expected_purchases(p, 10.0, x, t_x, T),
        "prob_purchases_conditional": lambda p: mbg.prob_purchases_conditional(p, 2.0, 10.0, x, t_x, T),
        "discounted_purchases_if_alive": lambda p: mbg.discounted_purchases_if_alive(p, 52.0, delta, x, T, n_nodes=24),
        "discounted_expected_purchases": lambda p: mbg.discounted_expected_purchases(p, 52.0, delta, x, t_x, T, n_nodes=24),
        "discounted_purchases_if_alive_discrete": lambda p: mbg.discounted_purchases_if_alive_discrete(p, 12, 4.345, 0.01, x, T),
        "discounted_expected_purchases_discrete": lambda p: mbg.discounted_expected_purchases_discrete(p, 12, 4.345, 0.01, x, t_x, T),
        "expected_purchases_new": lambda p: mbg.expected_purchases_new(p, np.array([1.0, 10.0, 39.0])),
        "prob_purchases": lambda p: mbg.prob_purchases(p, np.array([0.0, 1.0, 5.0]), 39.0),
    }
    for name, call in calls.items():
        values = call(draws)
        assert values.shape[0] == len(draws), name
        for s, params in enumerate(RNG_PARAMS):
            np.testing.assert_allclose(values[s], call(params), rtol=1e-13, err_msg=name)


@pytest.mark.parametrize("params", RNG_PARAMS)
def test_pmf_sums_to_one_and_has_the_right_mean(params):
    n = np.arange(0, 3000)
    for t in (1.0, 39.0):
        pmf = mbg.prob_purchases(params, n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-8)
        assert n @ pmf == pytest.approx(float(mbg.expected_purchases_new(params, t)), rel=1e-6)


@pytest.mark.parametrize("params", RNG_PARAMS)
def test_conditional_pmf_and_table(params, cdnow):
    x, t_x, T = (v[:50] for v in _arrays(cdnow))
    n = np.arange(0, 2000)[:, None]
    pmf = mbg.prob_purchases_conditional(params, n, 39.0, x, t_x, T)
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-8)
    np.testing.assert_allclose((n * pmf).sum(axis=0), mbg.expected_purchases(params, 39.0, x, t_x, T), rtol=1e-6)
    # the dead at T make no purchase: P(Y = 0) >= 1 - P(alive)
    assert np.all(pmf[0] >= 1.0 - mbg.prob_alive(params, x, t_x, T))
    table = mbg.prob_purchases_table(params, 60, 39.0, x, t_x, T)
    np.testing.assert_allclose(table, pmf[:61], rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="point estimate"):
        mbg.prob_purchases_table(pd.DataFrame([params, params]), 5, 10.0, x, t_x, T)


@pytest.mark.parametrize("params", RNG_PARAMS)
def test_discounted_purchases_by_quadrature(params):
    """``integral exp(-delta s) dE(s) = exp(-delta t) E(t) + delta integral exp(-delta s) E(s) ds``
    (integration by parts), with E the undiscounted expectation given alive, by scipy's quad."""
    x, T = np.array([0.0, 2.0, 14.0]), np.array([38.86, 38.86, 20.0])
    delta = np.log(1.15) / 52

    def expected_if_alive(s: float) -> np.ndarray:
        return mbg.discounted_purchases_if_alive(params, s, 0.0, x, T)

    for horizon in (39.0, 520.0, np.inf):
        ours = mbg.discounted_purchases_if_alive(params, horizon, delta, x, T)
        for i in range(len(x)):
            tail = 0.0 if np.isinf(horizon) else np.exp(-delta * horizon) * expected_if_alive(horizon)[i]
            body, _ = integrate.quad(lambda s: np.exp(-delta * s) * expected_if_alive(s)[i], 0.0, horizon, epsabs=0, epsrel=1e-12, limit=200)
            assert ours[i] == pytest.approx(tail + delta * body, rel=1e-8), (horizon, i)


def test_discounting_vanishes_as_the_rate_goes_to_zero(cdnow):
    x, t_x, T = (v[:100] for v in _arrays(cdnow))
    params = RNG_PARAMS[0]
    undiscounted = mbg.expected_purchases(params, 52.0, x, t_x, T)
    np.testing.assert_allclose(mbg.discounted_expected_purchases(params, 52.0, 0.0, x, t_x, T), undiscounted, rtol=1e-12)
    previous = None
    for delta in (1e-2, 1e-3, 1e-4, 1e-6, 1e-9):
        value = mbg.discounted_expected_purchases(params, 52.0, delta, x, t_x, T)
        assert np.all(value <= undiscounted * (1 + 1e-12))
        if previous is not None:
            assert np.all(value >= previous)
        previous = value
    np.testing.assert_allclose(previous, undiscounted, rtol=1e-7)
    np.testing.assert_allclose(
        mbg.discounted_expected_purchases_discrete(params, 12, 4.345, 0.0, x, t_x, T),
        mbg.expected_purchases(params, 12 * 4.345, x, t_x, T),
        rtol=1e-12,
    )
    assert np.all(mbg.discounted_expected_purchases_discrete(params, 12, 4.345, 0.01, x, t_x, T) < mbg.expected_purchases(params, 12 * 4.345, x, t_x, T))


# -- simulation with known truth ---------------------------------------------------------------------


def test_simulation_is_seeded():
    T = np.full(1000, 30.0)
    one = mbg.simulate(MBGNBD_PARAMS, T, random_seed=7)
    pd.testing.assert_frame_equal(one, mbg.simulate(MBGNBD_PARAMS, T, random_seed=7))
    assert not one.equals(mbg.simulate(MBGNBD_PARAMS, T, random_seed=8))
    assert list(one.columns) == ["frequency", "recency", "T", "lambda_", "p_"] and one.index.name == "customer_id"


def test_simulation_matches_the_model():
    params = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}
    n = 200_000
    sim = mbg.simulate(params, np.full(n, 39.0), holdout=26.0, random_seed=3)
    assert (sim["recency"] <= sim["T"]).all() and (sim.loc[sim.frequency == 0, "recency"] == 0).all()
    assert list(sim.columns) == ["frequency", "recency", "T", "frequency_holdout", "duration_holdout", "lambda_", "p_"]
    # E[X(T)] and the distribution of X(T)
    mean, sd = sim["frequency"].mean(), sim["frequency"].std()
    assert mean == pytest.approx(float(mbg.expected_purchases_new(params, 39.0)), abs=4 * sd / np.sqrt(n))
    observed = np.bincount(sim["frequency"], minlength=4)[:4] / n
    np.testing.assert_allclose(observed, mbg.prob_purchases(params, np.arange(4), 39.0), atol=4 * np.sqrt(0.25 / n))
    # holdout: E[X(T + h)] - E[X(T)] for the population
    total = float(mbg.expected_purchases_new(params, 65.0) - mbg.expected_purchases_new(params, 39.0))
    hold = sim["frequency_holdout"]
    assert hold.mean() == pytest.approx(total, abs=4 * hold.std() / np.sqrt(n))
    # conditional on the calibration history: the one-off buyers (P(alive) < 1 matters here)
    # and those with two repeat purchases, as groups
    for x in (0, 2):
        group = sim[sim.frequency == x]
        predicted = mbg.expected_purchases(params, 26.0, group["frequency"], group["recency"], group["T"]).mean()
        assert group["frequency_holdout"].mean() == pytest.approx(
            predicted, abs=4 * group["frequency_holdout"].std() / np.sqrt(len(group))
        )
        counts = np.bincount(group["frequency_holdout"], minlength=3)[:3] / len(group)
        pmf = mbg.prob_purchases_conditional(params, np.arange(3.0)[:, None], 26.0, group["frequency"], group["recency"], group["T"]).mean(axis=1)
        np.testing.assert_allclose(counts, pmf, atol=4 * np.sqrt(0.25 / len(group)))


def test_simulated_futures_match_the_expectation():
    """``simulate_future_if_alive``: purchases in the horizon average the expectation given alive."""
    rng = np.random.default_rng(9)
    params = RNG_PARAMS[0]
    horizon = 52.0
    for x, T in ((0.0, 38.86), (2.0, 38.86), (9.0, 20.0)):
        n = 200_000
        cells = tuple(np.full(n, params[k]) for k in NAMES)
        counts, span, last, inside = mbg.simulate_future_if_alive(rng, cells, np.full(n, x), np.full(n, T), horizon)
        assert np.all(span <= horizon) and np.all(inside == (last <= horizon)) and np.all(span[inside] == last[inside])
        purchases = counts + inside
        expected = float(mbg.discounted_purchases_if_alive(params, horizon, 0.0, np.array([x]), np.array([T]))[0])
        assert purchases.mean() == pytest.approx(expected, abs=4 * purchases.std() / np.sqrt(n)), (x, T)
        # P(no purchase | alive) from the pmf table of a customer alive at T (P(alive) = 1 at t_x = T)
        p0 = mbg.prob_purchases_conditional(params, 0.0, horizon, x, T if x > 0 else 0.0, T)
        alive = mbg.prob_alive(params, x, T if x > 0 else 0.0, T)
        zero_if_alive = (p0 - (1 - alive)) / alive
        assert np.mean(purchases == 0) == pytest.approx(float(zero_if_alive), abs=4 * np.sqrt(0.25 / n)), (x, T)


@pytest.mark.parametrize("params", [MBGNBD_PARAMS, {"r": 2.0, "alpha": 30.0, "a": 1.5, "b": 4.0}])
def test_parameter_recovery(params):
    rng = np.random.default_rng(11)
    sim = mbg.simulate(params, rng.uniform(20, 60, 20_000), random_seed=rng)
    model = ModifiedBetaGeo().fit(sim)
    assert model.converged_
    table = model.summary(ci=0.999)
    for name, value in params.items():
        assert abs(model.params_[name] - value) < 4 * table.loc[name, "std_error"], (name, model.params_[name])
        assert table.loc[name, "lower"] < value < table.loc[name, "upper"], name


def test_bgnbd_data_are_told_apart():
    """On BG/NBD data (no dropout at time 0) the MBG/NBD fits worse than the BG/NBD; on MBG/NBD
    data the other way round: the extra dropout chance is identified by the one-off buyers."""
    rng = np.random.default_rng(4)
    T = rng.uniform(20, 60, 20_000)
    params = {"r": 0.8, "alpha": 10.0, "a": 0.6, "b": 2.0}
    from_bg = bg.simulate(params, T, random_seed=1)
    from_mbg = mbg.simulate(params, T, random_seed=1)
    assert bg.BetaGeo().fit(from_bg).loglik_ > ModifiedBetaGeo().fit(from_bg).loglik_
    assert ModifiedBetaGeo().fit(from_mbg).loglik_ > bg.BetaGeo().fit(from_mbg).loglik_


@pytest.mark.slow
def test_bayesian_map_fit_runs_on_the_same_likelihood(fitted, cdnow):
    """The Bayesian path (PyMC graph of ``loglik`` with the default priors): on CDNOW's 2,357
    customers the weakly informative priors move the posterior mode by less than a standard
    error from the maximum-likelihood estimate."""
    posterior_mode = ModifiedBetaGeo().fit(cdnow, method="map")
    assert posterior_mode.method_ == "map" and posterior_mode.converged_
    se = fitted.summary()["std_error"]
    for name in NAMES:
        assert abs(posterior_mode.params_[name] - fitted.params_[name]) < se[name], name
