"""Pareto/NBD: published CDNOW figures, parity with lifetimes, independent numerics, simulation."""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pandas as pd
import pytest
from lifetimes import ParetoNBDFitter
from scipy import integrate, optimize

from clvmodels.models import pareto_nbd as pn
from clvmodels.models.pareto_nbd import ParetoNBD
from clvmodels.models.registry import model_class

from .published import PARETO_NBD_LOGLIK, PARETO_NBD_PARAMS, cdnow_summary

RNG_PARAMS = [
    {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
    {"r": 1.7, "alpha": 12.0, "s": 2.5, "beta": 6.0},
    {"r": 0.05, "alpha": 0.7, "s": 0.2, "beta": 0.9},
    {"r": 4.0, "alpha": 90.0, "s": 1.3, "beta": 25.0},
]
DELTA = np.log(1.15) / 52  # FHL 2005 "RFM and CLV": 15% a year, per week


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow) -> ParetoNBD:
    return ParetoNBD().fit(cdnow)


def _lifetimes(params: dict) -> ParetoNBDFitter:
    model = ParetoNBDFitter()
    model.params_ = pd.Series(params)[["r", "alpha", "s", "beta"]]
    return model


def _columns(data: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(data[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))


# -- published figures ------------------------------------------------------------------------


def test_published_parameters_and_loglik(fitted):
    for name, value in PARETO_NBD_PARAMS.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-4), name
    assert fitted.loglik_ == pytest.approx(PARETO_NBD_LOGLIK, abs=0.05)
    assert fitted.converged_
    assert fitted.n_customers_ == 2357


def test_registered():
    assert model_class("pareto-nbd") is ParetoNBD
    assert ParetoNBD.display_name == "Pareto/NBD"
    assert ParetoNBD.param_names == ("r", "alpha", "s", "beta")


def test_optimum_at_least_as_good_as_lifetimes(fitted, cdnow):
    """lifetimes reaches the same optimum, never a better one; our estimates are that optimum.

    The likelihood is flat along a ridge in (s, beta): lifetimes' optimiser stops at points
    1e-7 below the maximum whose beta differs by up to 2e-4 relative, and which point depends on
    the machine. So its parameters are compared at the precision its log-likelihood reaches, and
    ours against an independent tight Nelder-Mead maximisation of the numpy formula.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    columns = _columns(cdnow)
    start = reference.params_[["r", "alpha", "s", "beta"]]
    theirs = pn.loglik(start, *columns).sum()
    assert fitted.loglik_ >= theirs - 1e-9
    assert fitted.loglik_ - theirs < 1e-5  # the same optimum
    np.testing.assert_allclose(fitted.params_, start, rtol=2e-3)

    def negative(u):
        return -pn.loglik(dict(zip(ParetoNBD.param_names, np.exp(u))), *columns).sum()

    tight = optimize.minimize(
        negative, np.log(start.to_numpy()), method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 20_000, "maxfev": 40_000},
    )
    assert tight.success
    np.testing.assert_allclose(fitted.params_, np.exp(tight.x), rtol=1e-5)
    assert fitted.loglik_ == pytest.approx(-tight.fun, abs=1e-8)


def test_default_priors_centred_on_the_data():
    priors = ParetoNBD.default_priors(32.7)
    assert set(priors) == {"r", "alpha", "s", "beta"}
    assert priors["alpha"].params["mu"] == pytest.approx(np.log(32.7))
    assert priors["beta"].params["mu"] == pytest.approx(np.log(32.7))


# -- parity with lifetimes at fixed parameters ------------------------------------------------


@pytest.mark.parametrize("params", RNG_PARAMS)
def test_parity_with_lifetimes(params, cdnow):
    ref = _lifetimes(params)
    x, t_x, T = _columns(cdnow)
    np.testing.assert_allclose(pn.prob_alive(params, x, t_x, T), ref.conditional_probability_alive(x, t_x, T), rtol=1e-6)
    for t in (1.0, 39.0, 150.0):
        np.testing.assert_allclose(
            pn.expected_purchases(params, t, x, t_x, T),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
            rtol=1e-6,
        )
    t_grid = np.array([0.5, 1.0, 10.0, 39.0, 78.0])
    np.testing.assert_allclose(
        pn.expected_purchases_new(params, t_grid), ref.expected_number_of_purchases_up_to_time(t_grid), rtol=1e-6
    )
    # lifetimes has the conditional pmf only (Fader & Hardie note 028, eq. 16); with the
    # history (0, 0, 0) it is a new customer's pmf
    n = np.arange(6)
    sub = slice(0, 300)
    ours = pn.prob_purchases_conditional(params, n[:, None], 39.0, x[sub], t_x[sub], T[sub])
    theirs = np.array([ref.conditional_probability_of_n_purchases_up_to_time(k, 39.0, x[sub], t_x[sub], T[sub]) for k in n])
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    new = np.array([ref.conditional_probability_of_n_purchases_up_to_time(k, 39.0, 0.0, 0.0, 0.0) for k in n])
    np.testing.assert_allclose(pn.prob_purchases(params, n, 39.0), new, rtol=1e-6)


def test_lifetimes_fails_where_alpha_below_beta_and_x_large():
    """lifetimes' 2F1 series overflows (NaN); ours agrees with mpmath."""
    params = {"r": 0.2048, "alpha": 4.534, "s": 0.8691, "beta": 3855.7}
    x, t_x, T = np.array([346.0]), np.array([449.89]), np.array([732.27])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _lifetimes(params).conditional_probability_alive(x, t_x, T)
    assert not np.isfinite(theirs).all()
    ours = pn.prob_alive(params, x, t_x, T)
    log_alive, log_dead = _mp_terms(params, x[0], t_x[0], T[0])
    assert ours[0] == pytest.approx(float(1 / (1 + mpmath.exp(log_dead - log_alive))), rel=1e-9)


# -- the log-likelihood against an independent evaluation --------------------------------------


def _mp_log_a0(r, alpha, s, beta, x, t_x, T):
    """log A0 by mpmath's 2F1 at 40 digits: ``A0 = G(t_x) - G(T)``,
    ``G(t) = int_t^inf = (m+t)^(1-p_m) (M+t)^-p_M / (P-1) 2F1(1, p_M; P; (M-m)/(M+t))``."""
    r, alpha, s, beta, x, t_x, T = (mpmath.mpf(float(v)) for v in (r, alpha, s, beta, x, t_x, T))
    p1, p2 = r + x, s + 1
    m, M, pm_, pM = (alpha, beta, p1, p2) if alpha <= beta else (beta, alpha, p2, p1)
    P = p1 + p2

    def G(t):
        return (m + t) ** (1 - pm_) * (M + t) ** (-pM) / (P - 1) * mpmath.hyp2f1(1, pM, P, (M - m) / (M + t))

    return mpmath.log(G(t_x) - G(T))


def _mp_terms(params, x, t_x, T):
    with mpmath.workdps(40):
        r, alpha, s, beta = (mpmath.mpf(float(params[k])) for k in ("r", "alpha", "s", "beta"))
        log_alive = -(r + x) * mpmath.log(alpha + T) - s * mpmath.log(beta + T)
        log_dead = mpmath.log(s) + _mp_log_a0(r, alpha, s, beta, x, t_x, T) if T > t_x else mpmath.mpf("-inf")
        return log_alive, log_dead


def _mp_loglik(params, x, t_x, T):
    with mpmath.workdps(40):
        r, alpha, s, beta = (mpmath.mpf(float(params[k])) for k in ("r", "alpha", "s", "beta"))
        log_alive, log_dead = _mp_terms(params, x, t_x, T)
        common = mpmath.loggamma(r + x) - mpmath.loggamma(r) + r * mpmath.log(alpha) + s * mpmath.log(beta)
        return float(common + mpmath.log(mpmath.exp(log_alive) + mpmath.exp(log_dead)))


def _random_points(n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        r, s = np.exp(rng.uniform(np.log(0.01), np.log(50), 2))
        alpha, beta = np.exp(rng.uniform(np.log(0.01), np.log(1e4), 2))
        if i % 5 == 0:
            beta = alpha  # alpha == beta exactly
        elif i % 5 == 1:
            alpha, beta = min(alpha, beta), max(alpha, beta)  # alpha < beta (with large x below)
        x = float(rng.integers(0, 501)) if i % 3 else float(rng.integers(0, 5))
        T = float(np.exp(rng.uniform(np.log(0.1), np.log(1000))))
        t_x = T * rng.uniform() if x > 0 else 0.0
        if i % 7 == 0:
            x, t_x = 0.0, 0.0
        if i % 11 == 0:
            t_x = T  # a purchase at the end of calibration
        rows.append((r, alpha, s, beta, x, t_x, T))
    return np.array(rows)


def test_loglik_against_mpmath_over_the_parameter_space():
    points = _random_points(300, seed=11)
    r, alpha, s, beta, x, t_x, T = points.T
    ours = pn.loglik({"r": r, "alpha": alpha, "s": s, "beta": beta}, x, t_x, T)
    written_once = pn._loglik_ops(r, alpha, s, beta, x, t_x, T, pn.NUMPY_OPS)  # the PyTensor graph's expression
    reference = np.array(
        [_mp_loglik(dict(zip(("r", "alpha", "s", "beta"), p[:4])), p[4], p[5], p[6]) for p in points]
    )
    # rtol 1e-9 on log L; where log L is near 0 (L near 1) an absolute 1e-12, a relative 1e-12 on L
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(written_once, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "params, x, t_x, T",
    [
        ({"r": 0.3, "alpha": 5.0, "s": 0.7, "beta": 5.0}, 4.0, 10.0, 30.0),  # alpha == beta
        ({"r": 0.9, "alpha": 0.02, "s": 3.0, "beta": 9000.0}, 500.0, 900.0, 1000.0),  # alpha << beta, large x
        ({"r": 0.9, "alpha": 9000.0, "s": 0.02, "beta": 0.01}, 500.0, 1.0, 1000.0),  # alpha >> beta, large x
        ({"r": 0.01, "alpha": 0.01, "s": 0.01, "beta": 1e4}, 0.0, 0.0, 1000.0),  # x = 0, t_x = 0, widest range
        ({"r": 50.0, "alpha": 1e4, "s": 50.0, "beta": 0.01}, 0.0, 0.0, 0.1),
        ({"r": 0.7, "alpha": 5.0, "s": 1.0, "beta": float(np.exp(14.0))}, 3.0, 20.0, 50.0),  # the NBD limit
    ],
)
def test_loglik_hard_corners(params, x, t_x, T):
    ours = pn.loglik(params, np.array([x]), np.array([t_x]), np.array([T]))[0]
    assert ours == pytest.approx(_mp_loglik(params, x, t_x, T), rel=1e-9)
    written_once = pn._loglik_ops(*params.values(), np.array([x]), np.array([t_x]), np.array([T]), pn.NUMPY_OPS)[0]
    assert written_once == pytest.approx(_mp_loglik(params, x, t_x, T), rel=1e-9)


def test_loglik_broadcasts_over_draws(cdnow):
    draws = pd.DataFrame(RNG_PARAMS)
    x, t_x, T = _columns(cdnow.iloc[:50])
    table = pn.loglik(draws, x, t_x, T)
    assert table.shape == (4, 50)
    np.testing.assert_allclose(table[2], pn.loglik(RNG_PARAMS[2], x, t_x, T), rtol=1e-14)
    assert pn.prob_alive(draws, x, t_x, T).shape == (4, 50)
    assert pn.discounted_purchases_if_alive(draws, np.inf, DELTA, x, T).shape == (4, 50)


def test_loglik_is_continuous_through_alpha_equal_beta():
    x, t_x, T = np.array([3.0, 0.0, 40.0]), np.array([20.0, 0.0, 38.0]), np.array([39.0, 39.0, 39.0])
    at = pn.loglik({"r": 0.5, "alpha": 10.0, "s": 0.6, "beta": 10.0}, x, t_x, T)
    for step in (1e-9, -1e-9):
        near = pn.loglik({"r": 0.5, "alpha": 10.0 + step, "s": 0.6, "beta": 10.0}, x, t_x, T)
        np.testing.assert_allclose(near, at, rtol=1e-9)


# -- gradients ---------------------------------------------------------------------------------


def _finite_differences(f, theta, rel=1e-6):
    grad = np.empty(len(theta))
    for i in range(len(theta)):
        step = np.zeros(len(theta))
        step[i] = rel * theta[i]
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * step[i])
    return grad


@pytest.mark.parametrize(
    "theta", [[0.553, 10.578, 0.606, 11.669], [2.0, 5.0, 2.0, 5.0], [0.05, 300.0, 3.0, 0.2], [30.0, 0.1, 0.02, 500.0]]
)
def test_objective_gradient_against_finite_differences(theta):
    rng = np.random.default_rng(3)
    n = 500
    x = rng.integers(0, 300, n).astype(float)
    T = rng.uniform(0.1, 1000, n)
    t_x = np.where(x > 0, T * rng.uniform(size=n), 0.0)
    t_x[:5] = T[:5]
    w = rng.uniform(0.5, 2.0, n)
    theta = np.array(theta)
    value, grad = pn._PatternLoglik(x, t_x, T, w, compiled=False)(theta)
    assert value == pytest.approx(float(w @ pn.loglik(theta, x, t_x, T)), rel=1e-12)
    numeric = _finite_differences(lambda th: float(w @ pn.loglik(th, x, t_x, T)), theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6 * np.abs(grad).max())
    # the compiled kernel (2F1 series where it converges fast, else the same panels)
    value_c, grad_c = pn._PatternLoglik(x, t_x, T, w)(theta)
    assert value_c == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(grad_c, grad, rtol=1e-9)


def test_compiled_log_a0_equals_numpy_over_the_parameter_space():
    r, alpha, s, beta, x, t_x, T = _random_points(400, seed=13).T
    first = alpha <= beta
    p1, p2 = r + x, s + 1.0
    args = (p1 + p2, np.where(first, p1, p2), np.where(first, p2, p1), np.where(first, beta - alpha, alpha - beta),
            np.where(first, alpha, beta), t_x, T)
    compiled = pn._PatternLoglik._compiled_log_a0(*args)
    reference = np.array(pn._log_a0_and_grad(*args))
    keep = T > t_x
    np.testing.assert_allclose(compiled[0, keep], reference[0, keep], rtol=1e-11, atol=1e-11)
    for k in range(1, 5):
        scale = np.maximum(np.abs(reference[k, keep]), 1.0)
        assert np.max(np.abs(compiled[k, keep] - reference[k, keep]) / scale) < 1e-9, k


@pytest.fixture(scope="module")
def compiled():
    """PyTensor: per-customer log-likelihood and the gradient of the weighted total, in log-parameters."""
    pytensor = pytest.importorskip("pytensor")
    import pytensor.tensor as pt

    from clvmodels.models.ops import pytensor_ops

    log_params = pt.dvector("log_params")
    values = pt.exp(log_params)
    params = {name: values[i] for i, name in enumerate(pn.PARAM_NAMES)}
    x, t_x, T, w = (pt.dvector(n) for n in ("x", "t_x", "T", "w"))
    per_customer = pn.loglik(params, x, t_x, T, ops=pytensor_ops())
    gradient = pt.grad(pt.sum(w * per_customer), log_params) / values
    return pytensor.function([log_params, x, t_x, T, w], [per_customer, gradient])


@pytest.mark.slow
def test_pytensor_graph_equals_numpy_and_its_gradient_the_objective(compiled):
    points = _random_points(200, seed=5)
    rng = np.random.default_rng(0)
    for theta in ([0.553, 10.578, 0.606, 11.669], [3.0, 0.05, 0.3, 400.0], [0.05, 700.0, 8.0, 700.0]):
        theta = np.array(theta)
        x, t_x, T = points[:, 4], points[:, 5], points[:, 6]
        w = rng.uniform(0.5, 2.0, len(x))
        per_customer, gradient = compiled(np.log(theta), x, t_x, T, w)
        np.testing.assert_allclose(per_customer, pn.loglik(theta, x, t_x, T), rtol=1e-10, atol=1e-12)
        _, hand_written = pn._PatternLoglik(x, t_x, T, w)(theta)
        np.testing.assert_allclose(gradient, hand_written, rtol=1e-8)
        numeric = _finite_differences(lambda th: float(w @ pn.loglik(th, x, t_x, T)), theta)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5)
    # at alpha == beta exactly the graph's gradient is the limit of the gradients beside it
    theta = np.array([0.5, 10.0, 0.6, 10.0])
    _, at = compiled(np.log(theta), x, t_x, T, w)
    _, beside = compiled(np.log(theta * [1, 1 + 1e-7, 1, 1]), x, t_x, T, w)
    np.testing.assert_allclose(at, beside, rtol=1e-5)


# -- the number of purchases -------------------------------------------------------------------


@pytest.mark.parametrize("params", RNG_PARAMS)
def test_pmf_sums_to_one_and_its_mean_is_the_expectation(params):
    n = np.arange(20_000)[:, None]  # r = 0.05 has a long tail
    for t in (1.0, 39.0, 200.0):
        pmf = pn.prob_purchases(params, n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
        assert (n * pmf).sum() == pytest.approx(float(pn.expected_purchases_new(params, t)), rel=1e-8)
    x, t_x, T = np.array([0.0, 2.0, 12.0]), np.array([0.0, 30.43, 35.0]), np.array([38.86, 38.86, 38.86])
    n = n[:2000]
    cond = pn.prob_purchases_conditional(params, n, 39.0, x, t_x, T)
    np.testing.assert_allclose(cond.sum(axis=0), 1.0, atol=1e-9)
    np.testing.assert_allclose((n * cond).sum(axis=0), pn.expected_purchases(params, 39.0, x, t_x, T), rtol=1e-8)
    table = pn.prob_purchases_table(params, 20, 39.0, x, t_x, T)
    np.testing.assert_allclose(table, cond[:21], rtol=1e-12)


def test_expected_purchases_exact_at_s_equal_one():
    params = {"r": 0.5, "alpha": 10.0, "s": 1.0, "beta": 8.0}
    t = np.array([1.0, 39.0])
    np.testing.assert_allclose(pn.expected_purchases_new(params, t), 0.5 / 10.0 * 8.0 * np.log1p(t / 8.0), rtol=1e-14)
    beside = pn.expected_purchases_new(dict(params, s=1.0 + 1e-7), t)
    np.testing.assert_allclose(pn.expected_purchases_new(params, t), beside, rtol=1e-6)


# -- discounting -------------------------------------------------------------------------------


def test_dert_closed_form_against_mpmath_and_quadrature():
    rng = np.random.default_rng(2)
    s = np.exp(rng.uniform(np.log(0.01), np.log(50), 150))
    z = np.exp(rng.uniform(np.log(1e-6), np.log(1e3), 150))
    ours = pn._discounted_lifetime(s, z, np.inf, 1.0)
    quadrature = pn._discounted_lifetime_quadrature(s, z, np.inf, 1.0)
    with mpmath.workdps(30):
        reference = np.array([float(mpmath.mpf(zi) ** si * mpmath.hyperu(si, si, zi)) for si, zi in zip(s, z)])
    np.testing.assert_allclose(ours, reference, rtol=1e-11)
    np.testing.assert_allclose(quadrature, reference, rtol=1e-11)


def test_discounted_finite_horizons_against_adaptive_quadrature():
    params = RNG_PARAMS[0]
    x, T = np.array([0.0, 2.0, 25.0]), np.array([1.0, 38.86, 60.0])
    for horizon in (1.0, 39.0, 520.0):
        ours = pn.discounted_purchases_if_alive(params, horizon, DELTA, x, T)
        for i in range(3):
            rate = (params["r"] + x[i]) / (params["alpha"] + T[i])
            b = params["beta"] + T[i]
            value, _ = integrate.quad(
                lambda u, b=b: np.exp(-DELTA * u) * (b / (b + u)) ** params["s"], 0, horizon, epsabs=0, epsrel=1e-13, limit=200
            )
            assert ours[i] == pytest.approx(rate * value, rel=1e-10)


def test_discounted_limits(cdnow):
    x, t_x, T = _columns(cdnow.iloc[:200])
    params = RNG_PARAMS[0]
    infinite = pn.discounted_expected_purchases(params, np.inf, DELTA, x, t_x, T)
    long = pn.discounted_expected_purchases(params, 40.0 / DELTA * 1.5, DELTA, x, t_x, T)
    np.testing.assert_allclose(long, infinite, rtol=1e-10)
    # delta -> 0: the undiscounted expectation
    np.testing.assert_allclose(
        pn.discounted_expected_purchases(params, 39.0, 1e-10, x, t_x, T), pn.expected_purchases(params, 39.0, x, t_x, T), rtol=1e-8
    )
    np.testing.assert_allclose(
        pn.discounted_expected_purchases(params, 39.0, 0.0, x, t_x, T), pn.expected_purchases(params, 39.0, x, t_x, T), rtol=1e-13
    )
    # per-period discounting at 0 is the expected purchases over the whole span
    np.testing.assert_allclose(
        pn.discounted_expected_purchases_discrete(params, 12, 4.345, 0.0, x, t_x, T),
        pn.expected_purchases(params, 12 * 4.345, x, t_x, T),
        rtol=1e-12,
    )
    # FHL 2005 "RFM and CLV", eq. 2 (DERT), written out with the closed form
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    with mpmath.workdps(30):
        i = 1
        z = DELTA * (beta + T[i])
        dert = (r + x[i]) / (alpha + T[i]) * float(mpmath.mpf(z) ** s * mpmath.hyperu(s, s, z)) / DELTA
    assert infinite[i] == pytest.approx(float(pn.prob_alive(params, x[i], t_x[i], T[i])) * dert, rel=1e-10)


def test_bad_discounting_arguments():
    with pytest.raises(ValueError, match="infinite horizon"):
        pn.discounted_purchases_if_alive(RNG_PARAMS[0], np.inf, 0.0, [1], [10.0])
    with pytest.raises(ValueError, match="discount_rate"):
        pn.discounted_purchases_if_alive(RNG_PARAMS[0], 10.0, -0.1, [1], [10.0])


# -- simulation --------------------------------------------------------------------------------


def test_simulated_customers_match_the_formulas():
    params = RNG_PARAMS[1]
    n = 40_000
    sim = pn.simulate(params, np.full(n, 39.0), holdout=26.0, random_seed=7)
    assert list(sim.columns[:5]) == ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
    assert (sim["recency"] <= sim["T"]).all() and (sim.loc[sim["frequency"] == 0, "recency"] == 0).all()
    for values, expected in (
        (sim["frequency"], pn.expected_purchases_new(params, 39.0)),
        (sim["frequency_holdout"], pn.expected_purchases_new(params, 65.0) - pn.expected_purchases_new(params, 39.0)),
    ):
        se = values.std() / np.sqrt(n)
        assert abs(values.mean() - float(expected)) < 4 * se
    # the pmf of the calibration counts
    observed = np.bincount(sim["frequency"], minlength=4)[:4] / n
    expected = pn.prob_purchases(params, np.arange(4), 39.0)
    assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n))


def test_simulated_futures_match_discounted_purchases_if_alive():
    params = RNG_PARAMS[0]
    rng = np.random.default_rng(11)
    n = 200_000
    x, T = np.full(n, 3.0), np.full(n, 38.86)
    cells = tuple(np.full(n, params[k]) for k in ("r", "alpha", "s", "beta"))
    horizon = 52.0
    counts, span, _, last_inside = pn.simulate_future_if_alive(rng, cells, x, T, horizon)
    assert not last_inside.any() and (span <= horizon).all()
    se = counts.std() / np.sqrt(n)
    assert abs(counts.mean() - pn.discounted_purchases_if_alive(params, horizon, 0.0, [3.0], [38.86])[0]) < 4 * se
    # each purchase at a uniform time on (0, span]: expected discount (1 - e^(-delta span)) / (delta span)
    delta = 0.02
    value = counts * -np.expm1(-delta * span) / (delta * np.maximum(span, 1e-300))
    se = value.std() / np.sqrt(n)
    assert abs(value.mean() - pn.discounted_purchases_if_alive(params, horizon, delta, [3.0], [38.86])[0]) < 4 * se


def test_estimator_predictions(fitted, cdnow):
    one = cdnow.iloc[:3]
    np.testing.assert_allclose(
        fitted.prob_alive(one).to_numpy(), pn.prob_alive(fitted.params_, *_columns(one)), rtol=1e-14
    )
    table = fitted.prob_purchases([0, 1, 2], 39.0, one)
    assert table.shape == (3, 3)
    sim = fitted.simulate(cdnow["T"], random_seed=1)
    refit = ParetoNBD().fit(sim)
    assert abs(refit.params_["r"] / fitted.params_["r"] - 1) < 0.3


def test_compiled_objective_equals_the_numpy_one():
    """The one-pass compiled objective (no GIL held, for parallel sampler threads) equals the
    numpy objective, value and gradient, across the parameter space."""
    from clvmodels.models.pareto_nbd import _PatternLoglik

    data = cdnow_summary()
    x, t_x, T = (data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    objective = _PatternLoglik(x, t_x, T, np.ones(len(x)))
    rng = np.random.default_rng(4)
    for _ in range(12):
        theta = np.exp(rng.uniform(np.log([0.05, 0.5, 0.05, 0.5]), np.log([10.0, 200.0, 10.0, 200.0])))
        value, grad = objective(theta)
        ref_value, ref_grad = objective.reference(theta)
        assert value == pytest.approx(ref_value, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-8 * np.abs(ref_grad).max())
