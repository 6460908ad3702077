"""The shifted-beta-geometric model (Fader & Hardie 2007), its DERL (Fader & Hardie 2010) and the
subscriber forecast: published figures, independent evaluations (mpmath), simulation with known
truth, Bayesian log density, save and load, and the forecast's seeds."""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clvmodels
from clvmodels import ShiftedBetaGeo, forecast_subscribers, survivors_to_patterns
from clvmodels.exceptions import NotFittedError
from clvmodels.inference import bayes
from clvmodels.models import shifted_beta_geo as sbg
from clvmodels.subscriber_forecast import SUBSCRIBER_COLUMNS, per_period_rate

# Fader & Hardie (2007), table 1: customers alive at the start of years 0 to 12 (cohorts of 1,000)
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
# the published estimates, fitted on years 0 to 7
PUBLISHED = {"regular": (REGULAR, 0.704, 1.182), "high end": (HIGH_END, 0.668, 3.806)}


def _mp_survival(alpha: float, beta: float, t: float) -> mp.mpf:
    return mp.beta(alpha, beta + t) / mp.beta(alpha, beta)


@pytest.fixture(scope="module")
def regular() -> ShiftedBetaGeo:
    return ShiftedBetaGeo().fit_survivors(REGULAR[:8], time_unit="Y")


# -- published figures -------------------------------------------------------------------------


@pytest.mark.parametrize("cohort", list(PUBLISHED))
def test_published_estimates_and_projections(cohort):
    """alpha, beta fitted on years 0-7 at the printed 3 decimals; the projected survivors of years
    8-12 equal an independent evaluation (mpmath) of 1000 S(t) at the printed estimates to the
    effect of their rounding (0.5 survivors), and the actual counts lie in the 90% predictive band."""
    counts, alpha, beta = PUBLISHED[cohort]
    model = ShiftedBetaGeo().fit_survivors(counts[:8], time_unit="Y")
    assert model.converged_
    assert model.params_.round(3).tolist() == [alpha, beta]
    years = np.arange(8, 13)
    projected = 1000 * model.survival(years)
    independent = np.array([float(1000 * _mp_survival(alpha, beta, t)) for t in years])
    np.testing.assert_allclose(projected, independent, atol=0.5)
    # at the MLE itself, the same to 1e-10
    a, b = model.params_
    np.testing.assert_allclose(projected, [float(1000 * _mp_survival(a, b, t)) for t in years], rtol=1e-10)
    curve = model.survival_curve(range(13), n_draws=2000, random_seed=1, cohort_size=1000, ci=0.9)
    actual = np.array(counts[8:], dtype=float)
    inside = (curve["survivors_pred_lower"].to_numpy()[8:] <= actual) & (actual <= curve["survivors_pred_upper"].to_numpy()[8:])
    assert inside.all(), (cohort, curve.iloc[8:], actual)
    # the errors of the projection (reported): regular -2.9 .. -3.1, high end -7.5 .. -16.0 survivors
    errors = projected - actual
    assert np.all(np.abs(errors) < (4.0 if cohort == "regular" else 17.0)), errors


def test_survivors_to_patterns_and_weighted_fit_agree():
    table = survivors_to_patterns(REGULAR[:8])
    assert table["weight"].sum() == 1000
    assert table["churned"].tolist() == [True] * 7 + [False]
    # expanding the patterns to one row per subscriber gives the same fit
    rows = table.loc[table.index.repeat(table["weight"].astype(int)), ["renewals", "churned"]].reset_index(drop=True)
    expanded = ShiftedBetaGeo().fit(rows)
    weighted = ShiftedBetaGeo().fit(table, sample_weight="weight")
    np.testing.assert_allclose(expanded.params_, weighted.params_, rtol=1e-9)
    assert expanded.loglik_ == pytest.approx(weighted.loglik_, rel=1e-12)
    with pytest.raises(ValueError, match="never rise"):
        survivors_to_patterns([100, 90, 95])


# -- the formulas against independent evaluations ----------------------------------------------


def test_loglik_matches_mpmath_across_the_parameter_space():
    rng = np.random.default_rng(3)
    alpha = np.exp(rng.uniform(np.log(0.01), np.log(200), 300))
    beta = np.exp(rng.uniform(np.log(0.01), np.log(500), 300))
    n = rng.integers(0, 400, 300).astype(float)
    churned = rng.random(300) < 0.5
    ours = sbg.loglik(pd.DataFrame({"alpha": alpha, "beta": beta}), n, churned)  # (300, 300): take the diagonal
    ours = np.diag(ours)
    for i in range(300):
        a, b, k = mp.mpf(alpha[i]), mp.mpf(beta[i]), int(n[i])
        exact = mp.log(mp.beta(a + 1, b + k) / mp.beta(a, b)) if churned[i] else mp.log(mp.beta(a, b + k) / mp.beta(a, b))
        assert ours[i] == pytest.approx(float(exact), rel=1e-10, abs=1e-10), (alpha[i], beta[i], n[i], churned[i])


def test_pmf_survival_and_retention_are_consistent():
    params = {"alpha": 0.668, "beta": 3.806}
    t = np.arange(1, 50)
    pmf = sbg.churn_probability(params, t)
    np.testing.assert_allclose(1.0 - np.cumsum(pmf), sbg.survival(params, t), rtol=1e-12)
    np.testing.assert_allclose(sbg.retention_rate(params, t), sbg.survival(params, t) / sbg.survival(params, t - 1), rtol=1e-12)
    np.testing.assert_allclose(sbg.conditional_survival(params, 3, t), sbg.survival(params, t + 3) / sbg.survival(params, t), rtol=1e-11)


def _direct_derl(a: float, b: float, n: int, d: float, terms: int) -> float:
    """DERL by summing S(n + 1 + k) / S(n) (1 + d)^-k in mpmath."""
    total, ratio = mp.mpf(0), mp.mpf(1)
    x = 1 / (1 + mp.mpf(d))
    for k in range(terms):
        ratio *= (b + n + k) / (a + b + n + k)
        total += ratio * x**k
    return total


def test_derl_matches_direct_summation_and_hyp2f1():
    """The closed form against mpmath's hyp2f1 (both evaluation paths: scipy's hyp2f1 for rates
    from 1% per period, the three-piece quadrature below) and against direct summation."""
    rng = np.random.default_rng(5)
    for i in range(160):
        a = float(np.exp(rng.uniform(np.log(0.02), np.log(60))))
        b = float(np.exp(rng.uniform(np.log(0.05), np.log(300))))
        n = int(rng.integers(0, 1500))
        d = float(np.exp(rng.uniform(np.log(1e-4), np.log(1.0)))) if i % 2 else float(rng.uniform(0.01, 2.0))
        ours = float(sbg.derl({"alpha": a, "beta": b}, n, d))
        B = mp.mpf(b) + n
        exact = B / (a + B) * mp.hyp2f1(1, B + 1, a + B + 1, 1 / (1 + mp.mpf(d)))
        assert ours == pytest.approx(float(exact), rel=1e-9), (a, b, n, d)
    # where scipy's (and mpmath's) hyp2f1 fail, against direct summation in float64
    for a, b, n, d in [(194.33, 25.83, 1283, 0.0533), (120.38, 723.06, 785, 0.0199), (159.49, 0.015, 96, 0.00097), (0.05, 300.0, 2000, 0.002)]:
        k = np.arange(60_000.0)
        terms = np.exp(np.cumsum(np.log(b + n + k) - np.log(a + b + n + k)) - k * np.log1p(d))
        assert float(sbg.derl({"alpha": a, "beta": b}, n, d)) == pytest.approx(float(np.sum(terms)), rel=1e-10), (a, b, n, d)
    # direct summation where the series converges fast enough to sum
    for a, b, n, d in [(0.704, 1.182, 0, 0.1), (0.668, 3.806, 7, 0.1), (3.0, 20.0, 50, 0.05), (0.2, 0.5, 3, 0.3)]:
        ours = float(sbg.derl({"alpha": a, "beta": b}, n, d))
        assert ours == pytest.approx(float(_direct_derl(a, b, n, d, 3000)), rel=1e-11)


def test_finite_horizon_and_undiscounted_lifetime():
    params = {"alpha": 0.704, "beta": 1.182}
    n = np.array([0.0, 3.0, 10.0])
    for H in (1, 2, 12, 60):
        expected = [float(_direct_derl(0.704, 1.182, int(k), 0.1, H)) for k in n]
        np.testing.assert_allclose(sbg.derl(params, n, 0.1, H), expected, rtol=1e-12)
    # a long horizon reaches the infinite one; the next renewal alone is the retention probability
    np.testing.assert_allclose(sbg.derl(params, n, 0.1, 3000), sbg.derl(params, n, 0.1), rtol=1e-10)
    np.testing.assert_allclose(sbg.derl(params, n, 0.1, 1), sbg.retention_rate(params, n + 1), rtol=1e-14)
    # undiscounted: (beta + n) / (alpha - 1) for alpha > 1, infinite otherwise
    np.testing.assert_allclose(sbg.expected_residual_lifetime({"alpha": 2.5, "beta": 4.0}, n), (4.0 + n) / 1.5, rtol=1e-14)
    assert np.all(np.isinf(sbg.expected_residual_lifetime(params, n)))
    np.testing.assert_allclose(sbg.expected_residual_lifetime(params, n, 12), [float(_direct_derl(0.704, 1.182, int(k), 0.0, 12)) for k in n], rtol=1e-12)
    # a new subscriber's DEL counts the first payment: sum_t S(t) (1 + d)^-t
    direct = sum(float(_mp_survival(0.704, 1.182, t)) * 1.1 ** -t for t in range(4000))
    assert float(sbg.discounted_expected_lifetime(params, 0.1)) == pytest.approx(direct, rel=1e-10)


def test_derl_over_draws_is_shaped_draws_by_subscribers():
    draws = pd.DataFrame({"alpha": [0.6, 0.7, 0.8], "beta": [1.0, 1.2, 1.4]})
    values = sbg.derl(draws, np.arange(5.0), 0.008)
    assert values.shape == (3, 5)
    assert np.all(np.diff(values, axis=1) > 0)  # more renewals, lower churn: worth more
    for i in range(3):
        np.testing.assert_allclose(values[i], sbg.derl(draws.iloc[i], np.arange(5.0), 0.008), rtol=1e-13)


# -- simulation with known truth ----------------------------------------------------------------


def test_fit_recovers_known_parameters_from_20000_subscribers():
    """Cohorts acquired over 24 periods, observed to the end: the truth within 4 standard errors."""
    truth = {"alpha": 1.3, "beta": 6.0}
    periods = np.random.default_rng(11).integers(1, 25, 20_000)
    data = sbg.simulate(truth, periods, random_seed=12)
    data.attrs["time_unit"] = "M"
    model = ShiftedBetaGeo().fit(data)
    assert model.converged_ and model.n_customers_ == 20_000 and model.time_unit_ == "M"
    se = np.sqrt(np.diag(model.covariance_log_.to_numpy()))
    z = (np.log(model.params_.to_numpy()) - np.log([truth["alpha"], truth["beta"]])) / se
    assert np.all(np.abs(z) < 4), z


def test_simulated_residual_value_has_the_derl_as_mean():
    """The forecast's simulated futures (theta ~ Beta(alpha, beta + n), geometric renewals) have
    DERL as their mean (4 standard errors), finite horizon and infinite."""
    rng = np.random.default_rng(2)
    size = 400_000
    cells = (np.full((size, 1), 0.704), np.full((size, 1), 1.182))
    for n, horizon in ((0.0, None), (6.0, None), (2.0, 5)):
        payments, value = sbg.simulate_residual(rng, cells, np.array([n]), 0.1, horizon)
        expected = float(sbg.derl({"alpha": 0.704, "beta": 1.182}, n, 0.1, horizon))
        assert value.mean() == pytest.approx(expected, abs=4 * value.std() / np.sqrt(size))
        if horizon is not None:
            assert payments.max() <= horizon
            counts = np.bincount(payments[:, 0].astype(int), minlength=horizon + 1) / size
            survival = sbg.conditional_survival({"alpha": 0.704, "beta": 1.182}, np.arange(horizon + 1), n)
            exact = np.r_[-np.diff(survival), survival[-1]]  # P(payments = k), the last k = H
            assert np.all(np.abs(counts - exact) <= 4 * np.sqrt(exact * (1 - exact) / size) + 1e-6)


def test_predictive_survivor_band_covers_simulated_cohorts(regular):
    """Cohorts of 1,000 simulated from the fitted parameters: the mean survivors match 1000 S(t)."""
    draws = regular.sample_params(2000, random_seed=3)
    counts = regular._simulated_survivors(draws, 1000, np.arange(13.0), np.random.SeedSequence(4))
    fixed = pd.DataFrame(np.tile(regular.params_.to_numpy(), (4000, 1)), columns=["alpha", "beta"])
    at_mle = regular._simulated_survivors(fixed, 1000, np.arange(13.0), np.random.SeedSequence(5))
    mean, se = at_mle.mean(axis=0), at_mle.std(axis=0) / np.sqrt(len(at_mle)) + 1e-12
    assert np.all(np.abs(mean - 1000 * regular.survival(np.arange(13))) < 4 * se + 1e-9)
    assert counts.shape == (2000, 13) and np.all(counts[:, 0] == 1000) and np.all(np.diff(counts, axis=1) <= 0)


# -- fits, Bayesian fits, save and load --------------------------------------------------------


def test_hand_written_gradient_matches_pytensor(regular):
    from clvmodels.inference.autodiff import loglik_objective

    patterns, weights = regular._patterns_, regular._pattern_weights_
    theta = np.array([0.9, 2.0])
    value, grad = loglik_objective(ShiftedBetaGeo, patterns, weights)(theta)
    own_value, own_grad = ShiftedBetaGeo._objective(patterns, weights)[0](theta)
    assert own_value == pytest.approx(value, rel=1e-12)

    def total(a: mp.mpf, b: mp.mpf) -> mp.mpf:
        return sum(w * mp.log(mp.beta(a + c, b + n) / mp.beta(a, b)) for n, c, w in zip(*patterns, weights))

    with mp.workdps(30):
        exact = [float(mp.diff(lambda a: total(a, mp.mpf(2)), mp.mpf("0.9"))), float(mp.diff(lambda b: total(mp.mpf("0.9"), b), mp.mpf(2)))]
    # the hand-written gradient is exact to rounding; PyTensor's digamma is good to about 1e-9
    np.testing.assert_allclose(own_grad, exact, rtol=1e-12)
    np.testing.assert_allclose(grad, exact, rtol=1e-8)


def test_bayesian_logp_is_loglik_plus_prior_plus_jacobian(regular):
    patterns, weights = regular._patterns_, regular._pattern_weights_
    priors = bayes.resolve_priors("sbg", None, bayes._data_scale("sbg", patterns, weights))
    model = bayes.build_pymc_model("ShiftedBetaGeo", patterns, weights, priors)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        logp = model.compile_logp()
    for theta in ([0.704, 1.182], [2.0, 0.3], [0.05, 40.0]):
        u = np.log(theta)
        log_prior = sum(
            stats.lognorm.logpdf(v, s=priors[k].params["sigma"], scale=np.exp(priors[k].params["mu"]))
            for k, v in zip(("alpha", "beta"), theta)
        )
        expected = float(weights @ sbg.loglik(theta, *patterns)) + log_prior + float(u.sum())
        assert float(logp({"alpha_log__": u[0], "beta_log__": u[1]})) == pytest.approx(expected, rel=1e-10)


def test_map_fit_and_save_load_round_trip(regular, tmp_path):
    loaded = clvmodels.load(regular.save(tmp_path / "sbg.json"))
    assert type(loaded) is ShiftedBetaGeo and loaded.time_unit_ == "Y"
    pd.testing.assert_series_equal(loaded.params_, regular.params_)
    pd.testing.assert_frame_equal(loaded.covariance_, regular.covariance_)
    np.testing.assert_array_equal(loaded.sample_params(50, random_seed=1), regular.sample_params(50, random_seed=1))
    map_fit = ShiftedBetaGeo().fit_survivors(REGULAR[:8], method="map", time_unit="Y")
    assert map_fit.converged_ and map_fit.method_ == "map"
    assert np.all(np.abs(np.log(map_fit.params_ / regular.params_)) < 0.1)  # 1,000 subscribers: the prior barely moves it
    back = ShiftedBetaGeo.load(map_fit.save(tmp_path / "map.json"))
    pd.testing.assert_series_equal(back.params_, map_fit.params_)


@pytest.mark.slow
def test_nuts_posterior_agrees_with_the_mle_and_saves_as_netcdf(regular, tmp_path):
    model = ShiftedBetaGeo(chains=2, draws=1000, random_seed=1, progressbar=False).fit_survivors(REGULAR[:8], method="nuts", time_unit="Y")
    assert model.converged_
    summary = model.summary()
    # 1,000 subscribers: the posterior mean within a fifth of a posterior sd of the MLE's neighbourhood
    z = (summary["mean"] - regular.params_) / summary["sd"]
    assert np.all(np.abs(z) < 0.5), z
    assert "renewals" in model.idata_.log_likelihood
    loaded = clvmodels.load(model.save(tmp_path / "sbg.nc"))
    np.testing.assert_array_equal(loaded.sample_params(100, random_seed=2), model.sample_params(100, random_seed=2))


def test_fit_cohorts_separately_and_test_a_shared_fit():
    both = pd.concat(
        [survivors_to_patterns(REGULAR[:8]).assign(cohort="regular"), survivors_to_patterns(HIGH_END[:8]).assign(cohort="high end")],
        ignore_index=True,
    )
    fits = ShiftedBetaGeo().fit_cohorts(both, sample_weight="weight")
    assert list(fits) == ["high end", "regular"]
    assert fits["regular"].params_.round(3).tolist() == [0.704, 1.182]
    table = fits.summary()
    assert table.loc[("high end", "beta"), "estimate"] == pytest.approx(3.806, abs=5e-4)
    shared = ShiftedBetaGeo().fit(both, sample_weight="weight")
    test = fits.shared_test(shared)
    assert test["df"] == 2 and test["statistic"] > 0 and test["p_value"] < 1e-10


def test_errors_name_the_column_and_the_fix():
    with pytest.raises(ValueError, match="lacks column"):
        ShiftedBetaGeo().fit(pd.DataFrame({"renewals": [1, 2]}))
    with pytest.raises(ValueError, match="'churned'"):
        ShiftedBetaGeo().fit(pd.DataFrame({"renewals": [1, 2], "churned": [0, 2]}))
    with pytest.raises(NotFittedError):
        ShiftedBetaGeo().survival(3)
    with pytest.raises(ValueError, match="time units differ"):
        model = ShiftedBetaGeo().fit_survivors(REGULAR[:8], time_unit="Y")
        data = pd.DataFrame({"renewals": [1], "churned": [False]})
        data.attrs["time_unit"] = "M"
        model.derl(data, 0.1)


# -- the subscriber forecast ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def subscribers() -> pd.DataFrame:
    rng = np.random.default_rng(21)
    data = sbg.simulate({"alpha": 0.9, "beta": 6.0}, rng.integers(1, 36, 3000), random_seed=22)[["renewals", "churned"]]
    data["margin"] = rng.choice([10.0, 20.0, 35.0], len(data))
    data.index = pd.Index([f"s{i:05d}" for i in range(len(data))], name="subscriber_id")
    data.attrs["time_unit"] = "M"
    return data


@pytest.fixture(scope="module")
def monthly(subscribers) -> ShiftedBetaGeo:
    return ShiftedBetaGeo().fit(subscribers)


def test_forecast_columns_bounds_and_values(monthly, subscribers):
    result = forecast_subscribers(monthly, subscribers, margin="margin", discount_rate=0.1, n_draws=300, random_seed=1)
    table = result.to_frame()
    active = subscribers[~subscribers["churned"]]
    assert list(table.columns) == list(SUBSCRIBER_COLUMNS)
    assert table.index.equals(active.index) and result.settings["dropped_churned"] == int(subscribers["churned"].sum())
    d = per_period_rate(0.1, "M")
    assert d == pytest.approx(1.1 ** (1 / 12) - 1, rel=1e-14) and result.settings["discount_rate_per_period"] == d
    np.testing.assert_allclose(table["derl"], sbg.derl(monthly.params_, active["renewals"], d), rtol=1e-13)
    np.testing.assert_allclose(table["clv"], active["margin"] * table["derl"], rtol=1e-13)
    for name in ("derl", "clv", "expected_residual_lifetime"):
        assert (table[f"{name}_lower"] <= table[name] * (1 + 1e-9)).all() and (table[name] <= table[f"{name}_upper"] * (1 + 1e-9)).all()
    assert (table["clv_pred_lower"] <= table["clv_pred_upper"]).all() and (table["clv_pred_lower"] >= 0).all()
    totals = result.summary()
    assert totals.loc["clv", "estimate"] == pytest.approx(table["clv"].sum())
    assert totals.loc["clv", "lower"] < totals.loc["clv", "estimate"] < totals.loc["clv", "upper"]


def test_forecast_is_seeded_and_independent_of_order_and_chunks(monthly, subscribers, tmp_path):
    kwargs = dict(margin="margin", discount_rate=0.1, horizon=24, n_draws=200, random_seed=7)
    first = forecast_subscribers(monthly, subscribers, **kwargs).to_frame()
    again = forecast_subscribers(monthly, subscribers, **kwargs).to_frame()
    pd.testing.assert_frame_equal(first, again)
    subset = subscribers.sample(frac=0.3, random_state=1)
    shuffled = forecast_subscribers(monthly, subset, **kwargs, memory_budget=50_000).to_frame()
    pd.testing.assert_frame_equal(shuffled, first.loc[shuffled.index], check_exact=True)
    # another seed, other futures (over the infinite horizon, where the bounds are rarely ties)
    seeds = [forecast_subscribers(monthly, subset, **{**kwargs, "horizon": None, "random_seed": s}).to_frame() for s in (7, 8)]
    assert not np.array_equal(seeds[0]["clv_pred_upper"], seeds[1]["clv_pred_upper"])
    point = ["renewals", "margin", "derl", "expected_residual_lifetime", "clv"]  # at the estimate: no randomness
    pd.testing.assert_frame_equal(seeds[0][point], seeds[1][point])
    path = forecast_subscribers(monthly, subset, **kwargs).to_csv(tmp_path / "subscribers.csv")
    back = pd.read_csv(path, comment="#", index_col=0)
    assert back.shape == shuffled.shape


def test_forecast_rate_conventions_and_refusals(monthly, subscribers):
    per_year = forecast_subscribers(monthly, subscribers, margin=10.0, discount_rate=0.1, n_draws=20, predictive=False, random_seed=1)
    per_period = forecast_subscribers(monthly, subscribers, margin=10.0, discount_rate=per_period_rate(0.1, "M"), rate_per="period",
                                      n_draws=20, predictive=False, random_seed=1)
    pd.testing.assert_frame_equal(per_year.to_frame(), per_period.to_frame())
    with pytest.raises(ValueError, match="infinite horizon needs a positive"):
        forecast_subscribers(monthly, subscribers, margin=10.0, discount_rate=0.0, n_draws=20)
    with pytest.raises(ValueError, match="margin"):
        forecast_subscribers(monthly, subscribers, margin="price", discount_rate=0.1, n_draws=20)
    with pytest.raises(TypeError, match="retention model"):
        forecast_subscribers(clvmodels.GammaGamma(), subscribers, margin=10.0, discount_rate=0.1)


def test_plots_draw_on_the_given_axes(regular):
    from matplotlib.figure import Figure

    from clvmodels.plotting import plot_derl_by_renewals, plot_retention_projection, plot_survival_projection

    for plot in (plot_survival_projection, plot_retention_projection):
        ax = Figure().subplots()
        assert plot(regular, REGULAR, fitted_periods=7, n_draws=100, ax=ax) is ax
        assert ax.get_xlabel() == "year (period)"
    ax = plot_derl_by_renewals(regular, discount_rate=0.1, margin=100.0, currency="$", n_draws=100, ax=Figure().subplots())
    assert ax.get_ylabel() == r"residual value (\$)"


def test_subscriber_holdout_intervals_cover_at_their_level():
    """30 simulated logs (sBG truth): the model fitted to 2022-12-31 scored on 2023's renewals.
    The 90% predictive interval of the total covers the actual total in 26 to 30 of them
    (binomial 90%: 23-30 is the central 95%), and the cohorts' intervals about 90% of the
    cohorts; the expectations match a plain loop over subscribers of S(n + k) / S(n)."""
    from clvmodels import evaluate_subscriber_holdout, subscription_summary
    from clvmodels.datasets import simulate_subscription_log
    from clvmodels.models.shifted_beta_geo import survival

    inside, cohorts_outside, cohorts = 0, 0, 0
    for seed in range(10, 40):
        log = simulate_subscription_log(20_000, random_seed=seed)
        model = ShiftedBetaGeo().fit(subscription_summary(log, period="M", observation_end="2022-12-31"))
        check = evaluate_subscriber_holdout(model, log, calibration_end="2022-12-31", observation_end="2023-12-31",
                                            period="M", n_draws=400, random_seed=1)
        inside += check.passed
        table = check.by_cohort.drop(index="total")
        cohorts_outside += int(table["outside"].sum())
        cohorts += len(table)
        if seed == 10:
            s = check.subscribers
            plain = [sum(survival(model.params_, n + k) / survival(model.params_, n) for k in range(1, K + 1))
                     for n, K in zip(s["renewals"], s["renewal_dates"])]
            np.testing.assert_allclose(s["expected"], np.ravel(plain), rtol=1e-10)
            assert (s["actual"] >= 0).all() and (s["actual"] <= s["renewal_dates"]).all()
    assert 23 <= inside <= 30, inside
    assert 0.05 <= cohorts_outside / cohorts <= 0.15, (cohorts_outside, cohorts)
