"""Discounted expected purchases: quadrature against brute force, limits, lifetimes parity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from scipy import integrate, special, stats

from clvmodels import BetaGeo, GammaGamma
from clvmodels.models import beta_geo as bg

from .published import cdnow_summary

PARAMS = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
HISTORIES = [(0, 0.0, 38.86), (2, 30.43, 38.86), (15, 29.0, 30.0), (0, 0.0, 1.0), (40, 150.0, 200.0)]
DELTA_WEEKLY = np.log(1.15) / 52  # FHL (2005), "RFM and CLV"


def _brute_force(params, t, delta, x, t_x, T):
    """P(alive) times the integral of exp(-delta s) times the purchase rate of the updated process.

    While alive the rate at s is E[lambda exp(-lambda p s)] with lambda ~ Gamma(r+x, alpha+T) and
    p ~ Beta(a, b+x), that is (r'/alpha') 2F1(r'+1, a; a+b'; -s/alpha') (a derivation independent
    of the library's integration by parts of E[Y(s)]).
    """
    r1, alpha1, b1 = params["r"] + x, params["alpha"] + T, params["b"] + x

    def rate(s):
        return r1 / alpha1 * special.hyp2f1(r1 + 1, params["a"], params["a"] + b1, -s / alpha1)

    value = integrate.quad(lambda s: np.exp(-delta * s) * rate(s), 0, t, limit=1000, epsabs=0, epsrel=1e-12)[0]
    return float(bg.prob_alive(params, x, t_x, T)) * value


@pytest.mark.parametrize("delta", [np.log(1.1) / 365, DELTA_WEEKLY, 0.05, 0.3])
@pytest.mark.parametrize("t", [0.5, 39.0, 520.0, np.inf])
def test_quadrature_matches_brute_force(delta, t):
    for x, t_x, T in HISTORIES:
        ours = float(bg.discounted_expected_purchases(PARAMS, t, delta, x, t_x, T)[()])
        assert ours == pytest.approx(_brute_force(PARAMS, t, delta, x, t_x, T), rel=1e-8), (x, t_x, T)


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
