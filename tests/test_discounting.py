"""Discounted expected purchases: quadrature against brute force, limits, lifetimes parity."""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from scipy import integrate, stats

from clvmodels import BetaGeo, GammaGamma
from clvmodels.models import beta_geo as bg

from .published import cdnow_summary

PARAMS = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
OTHER_PARAMS = {"r": 3.1, "alpha": 0.6, "a": 2.4, "b": 0.7}  # fast buyers who drop out quickly
HISTORIES = [(0, 0.0, 38.86), (2, 30.43, 38.86), (15, 29.0, 30.0), (0, 0.0, 1.0), (0, 0.0, 0.0), (40, 150.0, 200.0), (3, 250.0, 300.0)]
DELTA_WEEKLY = np.log(1.15) / 52  # FHL (2005), "RFM and CLV"


def _brute_force(params, t, delta, x, t_x, T):
    """P(alive) times the integral of exp(-delta s) times the purchase rate of the updated process.

    While alive the rate at s is E[lambda exp(-lambda p s)] with lambda ~ Gamma(r+x, alpha+T) and
    p ~ Beta(a, b+x), that is (r'/alpha') 2F1(r'+1, a; a+b'; -s/alpha') (the library's formula,
    evaluated here with mpmath and adaptive quadrature).
    """
    r1, alpha1, b1 = params["r"] + x, params["alpha"] + T, params["b"] + x

    def rate(s):  # mpmath: scipy's hyp2f1 fails where a + b - r - 1 is an integer (OTHER_PARAMS)
        return r1 / alpha1 * float(mpmath.hyp2f1(r1 + 1, params["a"], params["a"] + b1, -s / alpha1))

    value = integrate.quad(lambda s: np.exp(-delta * s) * rate(s), 0, t, limit=1000, epsabs=0, epsrel=1e-12)[0]
    return float(bg.prob_alive(params, x, t_x, T)) * value


@pytest.mark.parametrize("delta", [np.log(1.1) / 365, DELTA_WEEKLY, 0.05, 0.3])
@pytest.mark.parametrize("t", [0.5, 39.0, 520.0, np.inf])
@pytest.mark.parametrize("params", [PARAMS, OTHER_PARAMS], ids=["cdnow", "other"])
def test_quadrature_matches_brute_force(delta, t, params):
    for x, t_x, T in HISTORIES:
        ours = float(bg.discounted_expected_purchases(params, t, delta, x, t_x, T)[()])
        assert ours == pytest.approx(_brute_force(params, t, delta, x, t_x, T), rel=1e-8), (x, t_x, T)


def test_infinite_horizon_matches_the_latent_expectation():
    """Alive at T, the discounted purchase count is lambda / (delta + lambda p) in expectation."""
    x, t_x, T = 2, 30.43, 38.86
    r1, alpha1, a, b1 = PARAMS["r"] + x, PARAMS["alpha"] + T, PARAMS["a"], PARAMS["b"] + x
    delta = 0.01
    lam = stats.gamma(r1, scale=1 / alpha1)
    p = stats.beta(a, b1)
    inner = integrate.dblquad(
        lambda lam_, p_: lam_ / (delta + lam_ * p_) * lam.pdf(lam_) * p.pdf(p_),
        0, 1, 0, lam.ppf(1 - 1e-14), epsabs=1e-12, epsrel=1e-10,
    )[0]
    expected = float(bg.prob_alive(PARAMS, x, t_x, T)) * inner
    assert float(bg.discounted_expected_purchases(PARAMS, np.inf, delta, x, t_x, T)[()]) == pytest.approx(expected, rel=1e-6)


def test_limits():
    x, t_x, T = (np.array(c) for c in zip(*HISTORIES))
    for t in (1.0, 39.0, 260.0):
        np.testing.assert_allclose(
            bg.discounted_expected_purchases(PARAMS, t, 0.0, x, t_x, T), bg.expected_purchases(PARAMS, t, x, t_x, T), rtol=1e-14
        )
    values = [bg.discounted_expected_purchases(PARAMS, t, DELTA_WEEKLY, x, t_x, T) for t in (39.0, 520.0, 5200.0, np.inf)]
    assert np.all(np.isfinite(values[-1]))
    for shorter, longer in zip(values, values[1:]):
        assert np.all(shorter < longer)
    assert np.all(bg.discounted_expected_purchases(PARAMS, 52.0, 0.02, x, t_x, T) < values[0] * 52 / 39)
    with pytest.raises(ValueError, match="infinite horizon"):
        bg.discounted_expected_purchases(PARAMS, np.inf, 0.0, x, t_x, T)
    with pytest.raises(ValueError, match="discount_rate"):
        bg.discounted_expected_purchases(PARAMS, 10.0, -0.1, x, t_x, T)


def test_over_parameter_draws():
    data = cdnow_summary()
    draws = BetaGeo().fit(data).sample_params(50, random_seed=0)
    x, t_x, T = (data[c].to_numpy()[:100] for c in ("frequency", "recency", "T"))
    values = bg.discounted_expected_purchases(draws, 52.0, DELTA_WEEKLY, x, t_x, T)
    assert values.shape == (50, 100)
    np.testing.assert_allclose(values[3], bg.discounted_expected_purchases(draws.iloc[3], 52.0, DELTA_WEEKLY, x, t_x, T), rtol=1e-13)


@pytest.mark.parametrize(("freq", "period"), [("W", 4.345), ("D", 30.0)])
def test_discrete_discounting_matches_lifetimes_clv(freq, period):
    data = cdnow_summary()
    if freq == "D":
        data = data.assign(recency=data["recency"] * 7, T=data["T"] * 7)
    transactions = BetaGeo().fit(data)
    spend = GammaGamma().fit(data)
    reference_bg = BetaGeoFitter()
    reference_bg.params_ = transactions.params_.copy()
    reference_bg.predict = reference_bg.conditional_expected_number_of_purchases_up_to_time  # set by fit
    reference_gg = GammaGammaFitter()
    reference_gg.params_ = pd.Series(spend.params_.to_numpy(), index=["p", "q", "v"])
    expected = reference_gg.customer_lifetime_value(
        reference_bg, data["frequency"], data["recency"], data["T"], data["monetary_value"],
        time=12, discount_rate=0.01, freq=freq,
    )
    x, t_x, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    ours = spend.expected_spend(data).to_numpy() * bg.discounted_expected_purchases_discrete(
        transactions.params_, 12, period, 0.01, x, t_x, T
    )
    np.testing.assert_allclose(ours, expected.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "params",
    [PARAMS, OTHER_PARAMS, {"r": 8.0, "alpha": 0.1, "a": 0.05, "b": 20.0}, {"r": 0.3, "alpha": 10.0, "a": 0.5, "b": 150.0}],
)
def test_adaptive_node_count_is_converged(params):
    """The default node count agrees with 100 nodes per panel over rates, horizons and histories."""
    grid = np.array(list(itertools.product([0, 1, 5, 40, 200], [0.0, 1.0, 10.0, 39.0, 300.0, 3000.0]))).T
    for delta in (0.00026, DELTA_WEEKLY, 0.03, 0.3, 1.0):
        for t in (0.5, 52.0, 520.0, np.inf):
            default = bg.discounted_purchases_if_alive(params, t, delta, grid[0], grid[1])
            fine = bg.discounted_purchases_if_alive(params, t, delta, grid[0], grid[1], n_nodes=100)
            np.testing.assert_allclose(default, fine, rtol=1e-8, err_msg=f"delta={delta}, t={t}")


def test_hypergeometric_function_where_scipy_fails():
    """2F1(a, b; c; z) for z < 0 against mpmath on a wide random domain of BG/NBD arguments.

    scipy's hyp2f1 alone is off by more than 1e-7 (or inf) on about a tenth of these points.
    """
    rng = np.random.default_rng(0)
    n = 400
    a = 1 + np.exp(rng.uniform(np.log(0.01), np.log(200), n))  # r + x + 1
    b = np.exp(rng.uniform(np.log(0.01), np.log(20), n))  # a
    c = b + np.exp(rng.uniform(np.log(0.01), np.log(200), n))  # a + b + x
    z = -np.exp(rng.uniform(np.log(1e-2), np.log(1e4), n))
    with mpmath.workdps(25):
        reference = np.array([float(mpmath.hyp2f1(*args)) for args in zip(a, b, c, z)])
    np.testing.assert_allclose(bg._hyp2f1_negative(a, b, c, z), reference, rtol=1e-7)
    # the case that made scipy return -inf: c - a within 1e-14 of -1
    assert bg._hyp2f1_negative(18.1 + 1, 2.4, 2.4 + (0.7 + 15), -1.493) == pytest.approx(0.10278582259732, rel=1e-12)


def test_hypergeometric_function_where_every_closed_form_fails():
    """Where scipy's three forms are all nan (large a of the dropout Beta: the quadrature of the
    Euler integral is the answer), and that quadrature alone across the space, against mpmath.

    The quadrature once used the Beta density's exponents as quad's algebraic weight whatever
    their size; with exponents of 60 and 170 it returned 2.5e11 for a value of 0.28."""
    assert bg._hyp2f1_negative(1.0, 60.0, 231.0, -10.0) == pytest.approx(0.2797721669836806, rel=1e-11)
    rng = np.random.default_rng(7)
    n = 60
    a = np.exp(rng.uniform(-3, 3, n))
    b = np.exp(rng.uniform(-3, 6, n))
    c = b + np.exp(rng.uniform(-3, 6, n))
    z = -np.exp(rng.uniform(-3, 9, n))
    with mpmath.workdps(25):
        reference = np.array([float(mpmath.hyp2f1(*args)) for args in zip(a, b, c, z)])
    np.testing.assert_allclose(bg._euler_integral(a, b, c, z, z / (z - 1)), reference, rtol=1e-10)
