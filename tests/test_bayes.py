"""Bayesian fits: the PyMC model's likelihood, the compiled kernels, NUTS on CDNOW, diagnostics,
posterior draws through the forecast layer, priors and the prior predictive check."""

from __future__ import annotations

import warnings
from collections import Counter

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import special, stats

import clvmodels
from clvmodels import BetaGeo, ConvergenceWarning, GammaGamma, Prior
from clvmodels.data import compress_patterns, validate_summary
from clvmodels.inference import bayes
from clvmodels.inference.kernels import PRIOR_CODES, BetaGeoKernel, GammaGammaKernel, encode_priors
from clvmodels.models import beta_geo as bg
from clvmodels.models import gamma_gamma as gg
from clvmodels.models.ops import pytensor_ops

from .published import cdnow_summary

MLE_BG = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
MLE_GG = {"p": 6.2496, "q": 3.7442, "gamma": 15.4435}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def bg_patterns(cdnow):
    s = validate_summary(cdnow)
    patterns, weights, _ = compress_patterns(s.frequency, s.recency, s.T)
    return patterns, weights


@pytest.fixture(scope="module")
def gg_patterns(cdnow):
    s = validate_summary(cdnow, monetary=True)
    keep = s.frequency > 0
    patterns, weights, _ = compress_patterns(s.frequency[keep], s.monetary_value[keep])
    return patterns, weights


@pytest.fixture(scope="module")
def bg_nuts(cdnow) -> BetaGeo:
    return BetaGeo(random_seed=11).fit(cdnow, method="nuts")


@pytest.fixture(scope="module")
def gg_nuts(cdnow) -> GammaGamma:
    return GammaGamma(random_seed=12).fit(cdnow, method="nuts")


def _random_params(rng: np.random.Generator, names: tuple[str, ...], centre: dict[str, float]) -> dict[str, float]:
    """Parameters spread a factor of about e around ``centre`` (log-normal, sd 1)."""
    return {n: float(centre[n] * np.exp(rng.normal(0, 1))) for n in names}


def _numpy_log_prior(priors: dict[str, Prior], theta: dict[str, float]) -> float:
    """log prior density of theta with scipy, for the families of PRIOR_CODES."""
    total = 0.0
    for name, prior in priors.items():
        v, p = theta[name], prior.params
        if prior.distribution == "LogNormal":
            total += stats.lognorm.logpdf(v, s=p["sigma"], scale=np.exp(p["mu"]))
        elif prior.distribution == "Gamma":
            total += stats.gamma.logpdf(v, a=p["alpha"], scale=1 / p["beta"])
        elif prior.distribution == "HalfNormal":
            total += stats.halfnorm.logpdf(v, scale=p["sigma"])
        elif prior.distribution == "Exponential":
            total += stats.expon.logpdf(v, scale=1 / p["lam"])
        elif prior.distribution == "Weibull":
            total += stats.weibull_min.logpdf(v, c=p["alpha"], scale=p["beta"])
        elif prior.distribution == "HalfCauchy":
            total += stats.halfcauchy.logpdf(v, scale=p["beta"])
        elif prior.distribution == "HalfStudentT":
            total += np.log(2) + stats.t.logpdf(v, df=p["nu"], scale=p["sigma"])
        else:  # pragma: no cover
            raise AssertionError(prior)
    return float(total)


#: one prior of every family the kernels know, to cycle through the parameters
OTHER_PRIORS = [
    Prior("Gamma", alpha=2.0, beta=0.5),
    Prior("HalfNormal", sigma=3.0),
    Prior("Exponential", lam=0.3),
    Prior("Weibull", alpha=1.5, beta=4.0),
    Prior("HalfCauchy", beta=2.0),
    Prior("HalfStudentT", nu=3.0, sigma=2.0),
    Prior("LogNormal", mu=0.5, sigma=0.7),
]


# -- one likelihood: PyTensor, numpy, the PyMC model and the compiled kernels ---------------------


def test_pytensor_backend_evaluates_the_same_loglik(bg_patterns, gg_patterns):
    ops = pytensor_ops()
    rng = np.random.default_rng(0)
    for _ in range(5):
        theta = _random_params(rng, bg.PARAM_NAMES, MLE_BG)
        ours = bg.loglik(theta, *bg_patterns[0], ops=ops).eval()
        np.testing.assert_allclose(ours, bg.loglik(theta, *bg_patterns[0]), rtol=1e-12, atol=1e-12)
        theta = _random_params(rng, gg.PARAM_NAMES, MLE_GG)
        ours = gg.loglik(theta, *gg_patterns[0], ops=ops).eval()
        np.testing.assert_allclose(ours, gg.loglik(theta, *gg_patterns[0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["BetaGeo", "GammaGamma"])
def test_pymc_logp_equals_numpy_loglik_plus_log_prior(name, bg_patterns, gg_patterns):
    """PyMC's log-probability (log scale, Jacobian included) = numpy log-likelihood + log prior
    + sum(log theta), at random parameters, for the default priors and every other family."""
    patterns, weights = bg_patterns if name == "BetaGeo" else gg_patterns
    names, loglik, centre = (bg.PARAM_NAMES, bg.loglik, MLE_BG) if name == "BetaGeo" else (gg.PARAM_NAMES, gg.loglik, MLE_GG)
    scale = bayes._data_scale(name, patterns, weights)
    rng = np.random.default_rng(1)
    prior_sets = [bayes.default_priors(name, scale)]
    for shift in range(0, len(OTHER_PRIORS), len(names)):
        prior_sets.append({n: OTHER_PRIORS[(shift + i) % len(OTHER_PRIORS)] for i, n in enumerate(names)})
    for priors in prior_sets:
        model = bayes.build_pymc_model(name, patterns, weights, priors)
        logp = model.compile_logp()
        dlogp = model.compile_dlogp()
        kernel = (BetaGeoKernel if name == "BetaGeo" else GammaGammaKernel)(*patterns, weights, encode_priors(priors, names))
        for _ in range(4):
            theta = _random_params(rng, names, centre)
            u = np.log([theta[n] for n in names])
            point = {f"{n}_log__": v for n, v in zip(names, u)}
            expected = float(weights @ loglik(theta, *patterns)) + _numpy_log_prior(priors, theta) + float(u.sum())
            assert float(logp(point)) == pytest.approx(expected, rel=1e-8, abs=1e-8)
            value, grad = kernel(u)
            assert value == pytest.approx(expected, rel=1e-8, abs=1e-8)
            order = [v.name for v in model.value_vars]
            pymc_grad = np.asarray(dlogp(point))[[order.index(f"{n}_log__") for n in names]]
            np.testing.assert_allclose(grad, pymc_grad, rtol=1e-8, atol=1e-8 * np.abs(pymc_grad).max())


def test_split_kernel_for_large_data_agrees_with_fused_kernel():
    params = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.4}
    T = np.random.default_rng(2).integers(1, 366, size=30_000).astype(float)
    sim = bg.simulate(params, T, random_seed=3)
    (x, t_x, T), w, _ = compress_patterns(sim["frequency"].to_numpy(), np.floor(sim["recency"].to_numpy()), sim["T"].to_numpy())
    priors = encode_priors(bayes.default_priors("BetaGeo", 180.0), bg.PARAM_NAMES)
    fused = BetaGeoKernel(x, t_x, T, w, priors, split=False)
    split = BetaGeoKernel(x, t_x, T, w, priors, split=True)
    assert split.split and not fused.split
    rng = np.random.default_rng(4)
    for _ in range(5):
        u = np.log([params[n] for n in bg.PARAM_NAMES]) + rng.normal(0, 0.5, 4)
        (v1, g1), (v2, g2) = fused(u), split(u)
        assert v1 == pytest.approx(v2, rel=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9 * np.abs(g1).max())
        theta = dict(zip(bg.PARAM_NAMES, np.exp(u)))
        ll = float(w @ bg.loglik(theta, x, t_x, T))
        prior = float(sum(stats.norm.logpdf(u, [0, np.log(180.0), 0, 0], [1.5, 2.0, 1.0, 1.0])))
        assert v1 == pytest.approx(ll + prior, rel=1e-10)


def test_kernel_digamma_and_priors_against_scipy():
    # the kernels' own digamma (recurrence + asymptotic series) over a wide range
    from clvmodels.inference.kernels import _compiled

    digamma = _compiled()["digamma"]
    z = np.concatenate([np.geomspace(1e-4, 1e4, 200), [0.5, 1.0, 6.0, 6.5]])
    np.testing.assert_allclose([digamma(v) for v in z], special.digamma(z), rtol=1e-10, atol=1e-13)
    assert encode_priors({"a": Prior("Gamma", mu=1.0, sigma=1.0)}, ("a",)) is None  # other parametrisation
    assert encode_priors({"a": Prior("InverseGamma", alpha=1.0, beta=1.0)}, ("a",)) is None
    assert set(PRIOR_CODES) >= {"LogNormal", "Gamma", "HalfNormal"}


# -- NUTS on CDNOW ------------------------------------------------------------------------------


def test_nuts_on_cdnow_agrees_with_maximum_likelihood(bg_nuts, gg_nuts):
    for model, mle in ((bg_nuts, MLE_BG), (gg_nuts, MLE_GG)):
        assert model.method_ == "nuts" and model.converged_ and model.sampler_["problems"] == []
        table = model.summary()
        for name, value in mle.items():
            assert table.loc[name, "mean"] == pytest.approx(value, rel=0.05), name
            assert table.loc[name, "lower"] < value < table.loc[name, "upper"]
        assert (table["r_hat"] <= 1.01).all(), table["r_hat"]
        assert (table["ess_bulk"] >= 400).all()
        assert int(model.idata_.sample_stats["diverging"].sum()) == 0
        assert model.params_.to_dict() == pytest.approx(table["mean"].to_dict(), rel=1e-12)
    # the posterior sd agrees with the asymptotic standard error of the MLE (large sample)
    mle = BetaGeo().fit(cdnow_summary())
    ratio = bg_nuts.summary()["sd"] / mle.summary()["std_error"]
    assert ratio.between(0.8, 1.25).all(), ratio
    assert bg_nuts.n_customers_ == 2357 and gg_nuts.n_customers_ == 946


def test_inference_data_groups_and_loo(bg_nuts, gg_nuts, cdnow):
    idata = bg_nuts.idata_
    assert {"posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood"} <= set(idata.groups())
    assert list(idata.posterior.data_vars) == ["r", "alpha", "a", "b"]
    ll = idata.log_likelihood["purchases"]
    assert ll.dims == ("chain", "draw", "customer_id") and ll.shape == (4, 1000, 2357)
    np.testing.assert_array_equal(idata.observed_data["frequency"].values, cdnow["frequency"].to_numpy())
    # per-customer log-likelihood of one draw equals the numpy formula for every customer
    draw = idata.posterior.isel(chain=2, draw=17)
    theta = {n: float(draw[n]) for n in bg.PARAM_NAMES}
    expected = bg.loglik(theta, cdnow["frequency"].to_numpy(), cdnow["recency"].to_numpy(), cdnow["T"].to_numpy())
    np.testing.assert_allclose(ll.isel(chain=2, draw=17).values, expected, rtol=1e-12)
    # the weighted patterns add up to the customers
    assert float(idata.constant_data["weights"].sum()) == 2357
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo) and loo.elpd_loo < -9582.4  # below the in-sample log-likelihood
    assert gg_nuts.idata_.log_likelihood["spend"].shape == (4, 1000, 946)


def test_log_likelihood_group_is_skipped_over_the_budget(cdnow, monkeypatch):
    monkeypatch.setattr(bayes, "LOG_LIKELIHOOD_BUDGET", 1_000_000)
    model = GammaGamma(random_seed=1, draws=500).fit(cdnow, method="nuts")
    assert "log_likelihood" not in model.idata_.groups()
    assert "not stored" in model.idata_.attrs["log_likelihood"] and "log_likelihood=True" in model.idata_.attrs["log_likelihood"]
    forced = GammaGamma(random_seed=1, draws=500, log_likelihood=True).fit(cdnow, method="nuts")
    assert forced.idata_.log_likelihood["spend"].shape == (4, 500, 946)
    # the chunked computation gives the same as one block
    theta = forced.idata_.posterior.isel(chain=0, draw=3)
    s = validate_summary(cdnow, monetary=True)
    keep = s.frequency > 0
    expected = gg.loglik({n: float(theta[n]) for n in gg.PARAM_NAMES}, s.frequency[keep], s.monetary_value[keep])
    np.testing.assert_allclose(forced.idata_.log_likelihood["spend"].isel(chain=0, draw=3).values, expected, rtol=1e-12)
    off = GammaGamma(random_seed=1, draws=500, log_likelihood=False).fit(cdnow, method="nuts")
    assert "log_likelihood" not in off.idata_.groups()


def test_random_seed_reproduces_the_draws(cdnow):
    one = GammaGamma(random_seed=5, draws=500).fit(cdnow, method="nuts")
    two = GammaGamma(random_seed=5, draws=500).fit(cdnow, method="nuts")
    other = GammaGamma(random_seed=6, draws=500).fit(cdnow, method="nuts")
    np.testing.assert_array_equal(one.idata_.posterior["p"].values, two.idata_.posterior["p"].values)
    assert not np.array_equal(one.idata_.posterior["p"].values, other.idata_.posterior["p"].values)
    assert one.sampler_["cores"] == min(4, bayes._usable_cores())


def test_summary_interval_level(bg_nuts):
    wide, narrow = bg_nuts.summary(ci=0.95), bg_nuts.summary(ci=0.5)
    assert list(wide.columns) == ["mean", "sd", "lower", "upper", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]
    assert (wide["lower"] < narrow["lower"]).all() and (narrow["upper"] < wide["upper"]).all()
    draws = bayes.posterior_frame(bg_nuts.idata_, bg.PARAM_NAMES)
    np.testing.assert_allclose(narrow["lower"], draws.quantile(0.25), rtol=1e-12)
    assert wide.attrs["ci"] == 0.95
    with pytest.raises(ValueError, match="ci"):
        bg_nuts.summary(ci=1.5)
    assert "converged" in bg_nuts._repr_html_()


# -- convergence diagnostics --------------------------------------------------------------------


def test_short_run_warns_in_plain_words(cdnow):
    with pytest.warns(ConvergenceWarning, match="effective draws") as caught:
        model = BetaGeo(random_seed=3, chains=2, draws=30, tune=30).fit(cdnow, method="nuts")
    assert not model.converged_ and model.sampler_["problems"]
    assert "draws=" in str(caught[0].message)  # says what to try


def test_check_convergence_names_each_problem():
    rng = np.random.default_rng(0)
    good = az.from_dict(
        posterior={"r": rng.normal(size=(4, 500)), "a": rng.normal(size=(4, 500))},
        sample_stats={"diverging": np.zeros((4, 500), bool), "maxdepth_reached": np.zeros((4, 500), bool)},
    )
    assert bayes.check_convergence(good, ("r", "a")) == []
    shifted = rng.normal(size=(4, 500))
    shifted[0] += 3.0  # one chain elsewhere
    diverging = np.zeros((4, 500), bool)
    diverging[1, :7] = True
    bad = az.from_dict(
        posterior={"r": shifted, "a": np.cumsum(rng.normal(size=(4, 500)), axis=1)},
        sample_stats={"diverging": diverging, "maxdepth_reached": rng.uniform(size=(4, 500)) < 0.2},
    )
    problems = " ".join(bayes.check_convergence(bad, ("r", "a")))
    assert "r_hat above 1.01" in problems and "r " in problems
    assert "ESS under 400" in problems
    assert "7 of 2000 draws ended in a divergent transition" in problems and "target_accept=0.95" in problems
    assert "maximum tree depth" in problems


# -- posterior draws into the forecast layer ------------------------------------------------------


def test_sample_params_returns_posterior_draws(bg_nuts):
    posterior = bayes.posterior_frame(bg_nuts.idata_, bg.PARAM_NAMES)
    draws = bg_nuts.sample_params(1000, random_seed=1)
    assert list(draws.columns) == ["r", "alpha", "a", "b"] and draws.index.name == "draw"
    available = Counter(tuple(row) for row in posterior.to_numpy())  # NUTS repeats a draw when it stays put
    drawn = Counter(tuple(row) for row in draws.to_numpy())
    assert all(available[row] >= count for row, count in drawn.items())  # a subset, without replacement
    pd.testing.assert_frame_equal(draws, bg_nuts.sample_params(1000, method="posterior", random_seed=1))
    assert not draws.equals(bg_nuts.sample_params(1000, random_seed=2))
    # more draws than the posterior holds: each is used twice, some a third time
    many = Counter(tuple(row) for row in bg_nuts.sample_params(9000, random_seed=3).to_numpy())
    assert set(many) == set(available) and sum(many.values()) == 9000
    assert all(2 * available[row] <= count <= 3 * available[row] for row, count in many.items())
    for method in ("bootstrap", "laplace"):
        with pytest.raises(ValueError, match="posterior draws"):
            bg_nuts.sample_params(10, method=method)
    with pytest.raises(ValueError, match="posterior fit"):
        BetaGeo().fit(cdnow_summary()).sample_params(10, method="posterior")


def test_posterior_fit_runs_through_forecast(bg_nuts, gg_nuts, cdnow):
    result = clvmodels.forecast(bg_nuts, gg_nuts, cdnow, horizon=52, discount_rate=0.15, n_draws=400, random_seed=7)
    table = result.to_frame()
    assert len(table) == 2357 and np.isfinite(table["clv"]).all()
    assert (table["clv_lower"] <= table["clv_upper"]).all()
    again = clvmodels.forecast(bg_nuts, gg_nuts, cdnow, horizon=52, discount_rate=0.15, n_draws=400, random_seed=7)
    pd.testing.assert_frame_equal(table, again.to_frame())
    mle = clvmodels.forecast(BetaGeo().fit(cdnow), GammaGamma().fit(cdnow), cdnow, horizon=52, discount_rate=0.15,
                             n_draws=400, random_seed=7, predictive=False)
    # posterior and Laplace forecasts of the cohort agree closely on this much data
    totals = result.summary()["estimate"] / mle.summary()["estimate"]
    assert totals.between(0.97, 1.03).all(), totals
    # the credible bound of P(alive) follows the posterior: recompute it for one customer
    draws = bg_nuts.sample_params(400, random_seed=np.random.SeedSequence(7).spawn(3)[0])
    row = cdnow.iloc[0]
    alive = bg.prob_alive(draws, row["frequency"], row["recency"], row["T"])
    assert table["prob_alive_lower"].iloc[0] == pytest.approx(np.quantile(alive, 0.05), rel=1e-12)


# -- other methods and samplers ------------------------------------------------------------------


def test_map_is_the_posterior_mode(cdnow, bg_patterns):
    model = BetaGeo().fit(cdnow, method="map")
    assert model.method_ == "map" and model.converged_ and not hasattr(model, "idata_")
    # the gradient of the log posterior density of theta (no Jacobian) vanishes there
    pymc_model = model.build_pymc_model()
    dlogp = pymc_model.compile_dlogp(jacobian=False)
    point = {f"{n}_log__": np.log(v) for n, v in model.params_.items()}
    order = [v.name for v in pymc_model.value_vars]
    grad = np.asarray(dlogp(point))[[order.index(f"{n}_log__") for n in bg.PARAM_NAMES]]
    np.testing.assert_allclose(grad, 0.0, atol=1e-3)
    assert model.params_["r"] == pytest.approx(MLE_BG["r"], rel=0.02)
    draws = model.sample_params(500, random_seed=1)  # Laplace approximation at the mode
    assert draws.shape == (500, 4) and (draws > 0).all().all()
    assert set(model.summary().columns) == {"estimate", "std_error", "lower", "upper"}
    assert model.loglik_ == pytest.approx(float(bg_patterns[1] @ bg.loglik(model.params_, *bg_patterns[0])))


def test_advi(cdnow, monkeypatch):
    monkeypatch.setattr(bayes, "ADVI_ITERATIONS", 10_000)
    model = GammaGamma(random_seed=2, draws=500).fit(cdnow, method="advi")
    assert model.method_ == "advi" and model.idata_.posterior.sizes["chain"] == 1
    assert model.idata_.posterior.sizes["draw"] == 2000
    assert model.params_["q"] == pytest.approx(MLE_GG["q"], rel=0.1)
    table = model.summary()
    assert np.isnan(table["r_hat"]).all() and (table["ess_bulk"] > 1000).all()
    assert model.sample_params(100, random_seed=0).shape == (100, 3)


@pytest.mark.slow
def test_pymc_sampler_agrees_with_nutpie(cdnow, bg_nuts):
    model = BetaGeo(random_seed=4, sampler="pymc", chains=2, draws=1000, tune=1000).fit(cdnow, method="nuts")
    assert model.sampler_["sampler"] == "pymc" and model.converged_
    ref = bg_nuts.summary()
    se = np.hypot(ref["mcse_mean"], model.summary()["mcse_mean"])
    assert (np.abs(model.params_ - ref["mean"]) < 5 * se).all()


@pytest.mark.slow
def test_priors_outside_the_kernel_sample_the_pymc_graph(cdnow):
    priors = {"q": Prior("InverseGamma", alpha=2.0, beta=4.0)}
    model = GammaGamma(random_seed=8, draws=500, priors=priors).fit(cdnow, method="nuts")
    assert model.sampler_["sampler"] == "nutpie (PyMC graph, numba backend)"
    assert model.priors_["q"] == priors["q"] and model.converged_
    assert model.params_["q"] == pytest.approx(MLE_GG["q"], rel=0.1)


def test_sampler_nutpie_is_used_by_default_when_installed(bg_nuts):
    pytest.importorskip("nutpie")
    assert bg_nuts.sampler_["sampler"] == "nutpie (compiled kernel)"
    assert bg_nuts.sampler_["tune"] == bayes.TUNE_NUTPIE


# -- priors, settings and the PyMC model --------------------------------------------------------


def test_priors_are_overridable_per_parameter(cdnow):
    model = BetaGeo(priors={"b": Prior("Gamma", alpha=2.0, beta=0.5), "r": {"distribution": "HalfNormal", "sigma": 2.0}})
    built = model.build_pymc_model(cdnow)
    assert [rv.name for rv in built.free_RVs] == ["r", "alpha", "a", "b"]
    assert type(built["b"].owner.op).__name__ == "GammaRV"
    assert "HalfNormal" in type(built["r"].owner.op).__name__
    assert type(built["alpha"].owner.op).__name__ == "LogNormalRV"  # default kept
    resolved = bayes.resolve_priors("BetaGeo", model.priors, 38.0)
    assert resolved["alpha"] == Prior("LogNormal", mu=float(np.log(38.0)), sigma=2.0)


def test_bad_priors_and_settings_are_refused(cdnow):
    with pytest.raises(ValueError, match="unknown parameter"):
        BetaGeo(priors={"beta": Prior("LogNormal", mu=0, sigma=1)}).fit(cdnow, method="nuts")
    with pytest.raises(ValueError, match=r"not a distribution on \(0, inf\)"):
        BetaGeo(priors={"r": Prior("Normal", mu=0, sigma=1)}).fit(cdnow, method="nuts")
    with pytest.raises(ValueError, match="no distribution named"):
        BetaGeo(priors={"r": Prior("LogNormale", mu=0, sigma=1)}).fit(cdnow, method="nuts")
    with pytest.raises(TypeError, match="must be a Prior"):
        BetaGeo(priors={"r": 1.0}).fit(cdnow, method="nuts")
    with pytest.raises(ValueError, match="finite numbers"):
        Prior("LogNormal", mu=np.nan, sigma=1)
    with pytest.raises(ValueError, match="penalty"):
        BetaGeo(penalty=0.1).fit(cdnow, method="nuts")
    with pytest.raises(ValueError, match="method"):
        BetaGeo().fit(cdnow, method="hmc")
    for setting in ({"draws": 0}, {"chains": 2.5}, {"tune": -1}, {"target_accept": 1.2}, {"sampler": "stan"},
                    {"random_seed": "x"}, {"log_likelihood": "yes"}):
        with pytest.raises(ValueError, match=next(iter(setting))):
            BetaGeo(**setting).fit(cdnow, method="nuts")


def test_settings_protocol_and_repr():
    model = BetaGeo(draws=500, random_seed=3)
    assert model.get_params()["draws"] == 500 and model.get_params()["tune"] is None
    assert repr(model) == "BetaGeo(draws=500, random_seed=3)"
    assert repr(BetaGeo()) == "BetaGeo()"
    assert model.set_params(chains=2).chains == 2
    with pytest.raises(TypeError):
        BetaGeo(500)  # settings are keyword-only


def test_user_can_extend_the_pymc_model(cdnow):
    model = BetaGeo().build_pymc_model(cdnow)
    assert "loglik" in [p.name for p in model.potentials]
    with model:
        pm.Deterministic("mean_rate", model["r"] / model["alpha"])
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    assert model["frequency"].get_value().shape == model["weights"].get_value().shape


def test_refit_by_mle_drops_the_posterior(cdnow):
    model = GammaGamma(random_seed=1, draws=500).fit(cdnow, method="nuts")
    model.fit(cdnow)
    assert model.method_ == "mle" and not hasattr(model, "idata_") and not hasattr(model, "priors_")
    assert set(model.summary().columns) == {"estimate", "std_error", "lower", "upper"}


# -- prior predictive check ----------------------------------------------------------------------


def test_prior_predictive_check(cdnow):
    check = BetaGeo().prior_predictive(cdnow, n_draws=150, random_seed=4)
    assert check.params.shape == (150, 4) and (check.params > 0).all().all()
    shares = check.statistics.filter(like="share_frequency")
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert check.observed["share_frequency_0"] == pytest.approx((cdnow["frequency"] == 0).mean())
    assert check.observed["mean_frequency"] == pytest.approx(cdnow["frequency"].mean())
    table = check.summary(ci=0.9)
    assert list(table.columns) == ["observed", "median", "lower", "upper", "share_below"]
    # the weakly informative priors do not rule CDNOW out: every observed share is plausible
    assert table["share_below"].between(0.02, 0.98).all(), table
    again = BetaGeo().prior_predictive(cdnow, n_draws=150, random_seed=4)
    pd.testing.assert_frame_equal(check.statistics, again.statistics)
    # the prior draws follow the priors: alpha is centred on the mean T (log scale)
    assert np.median(np.log(check.params["alpha"])) == pytest.approx(np.log(cdnow["T"].mean()), abs=0.5)
    spend = GammaGamma().prior_predictive(cdnow, n_draws=100, random_seed=1)
    assert spend.observed["mean_spend"] == pytest.approx(35.08, abs=0.01)
    assert spend.summary()["share_below"].between(0.02, 0.98).all()


def test_sampling_does_not_leave_global_warning_filters(cdnow):
    before = list(warnings.filters)
    GammaGamma(random_seed=1, draws=400).fit(cdnow, method="nuts")
    assert warnings.filters == before


def test_progress_bar_only_where_someone_watches(monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert bayes._progress_default() is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe or a log file
    assert bayes._progress_default() is False
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setenv("CI", "true")
    assert bayes._progress_default() is False
