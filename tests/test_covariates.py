"""Time-invariant covariates in the BG/NBD and Pareto/NBD (clvmodels.models.covariates).

Checked against: the plain models (exactly equal without covariates), recovery of known
coefficients from simulated customers, an independent evaluation of each customer's
likelihood (scipy quadrature over the lifetime for the Pareto/NBD, mpmath for the BG/NBD),
finite differences of the gradient, and CLVTools' published Pareto/NBD fit of its apparel data
with Gender and Channel (Meierer, Bachmann, Naef, Schilter & Algesheimer, "Estimating individual
customer lifetime values with R: the CLVTools package", JSS, arXiv 2602.09845, section 6.4.1:
the 600-customer apparelTrans, 104 weekly calibration periods).
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special

from clvmodels import BetaGeo, ParetoNBD, calibration_holdout_split
from clvmodels.compare import compare_models, fit_criteria, lr_test
from clvmodels.datasets import load_apparel, load_apparel_covariates
from clvmodels.inference.autodiff import covariate_objective
from clvmodels.inference.result import FitResult
from clvmodels.models.covariates import CovariateSpec, pattern_designs
from clvmodels.models.mbg_nbd import ModifiedBetaGeo
from tests.published import cdnow_summary

# -- data -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_cov() -> pd.DataFrame:
    """CDNOW with a numeric covariate ``z`` and a three-level ``channel`` (unrelated to purchasing)."""
    data = cdnow_summary()
    rng = np.random.default_rng(7)
    return data.assign(z=rng.normal(size=len(data)), channel=rng.choice(["web", "shop", "app"], size=len(data)))


@pytest.fixture(scope="module")
def apparel() -> pd.DataFrame:
    """CLVTools' set-up: weeks, calibration ending 2006-12-31 (T = 104 for every customer)."""
    data = calibration_holdout_split(load_apparel(), calibration_end="2006-12-31", time_unit="W")
    return data.join(load_apparel_covariates())


CATEGORICAL = {"Gender": 0, "Channel": 0}  # CLVTools' raw 0/1 coding


@pytest.fixture(scope="module")
def apparel_fits(apparel):
    fits = {
        "pnbd": ParetoNBD().fit(apparel),
        "pnbd_cov": ParetoNBD(covariates=["Gender", "Channel"], categorical=CATEGORICAL).fit(apparel),
        "bgnbd": BetaGeo().fit(apparel),
        # CLVTools' BG/NBD (one dropout vector on a and b) sends a0, b0 to infinity on these data
        # (a boundary); a dropout vector on a alone shifts the mean dropout probability
        "bgnbd_cov": BetaGeo(covariates={"purchase": ["Gender", "Channel"], "dropout_a": ["Gender", "Channel"]},
                             categorical=CATEGORICAL).fit(apparel),
    }
    return fits


def _standardised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def _eta(params: pd.Series, process: str, z: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """``gamma' z_i`` of a process, written out by hand (numeric ``z``, dummies against 'app')."""
    return (params[f"{process}:z"] * _standardised(z) + params[f"{process}:channel[shop]"] * (channel == "shop")
            + params[f"{process}:channel[web]"] * (channel == "web"))


# -- without covariates nothing changes ------------------------------------------------------------


def test_without_covariates_results_equal_the_plain_formulas_exactly(cdnow_calibration):
    from clvmodels.models import beta_geo

    model = BetaGeo().fit(cdnow_calibration)
    same = BetaGeo(covariates=None, categorical=None).fit(cdnow_calibration)
    assert model.params_.equals(same.params_) and model.loglik_ == same.loglik_
    assert list(model.params_.index) == ["r", "alpha", "a", "b"] and "param_names" not in model.__dict__
    x, t_x, T = (cdnow_calibration[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    params = model.customer_params(model.params_)
    assert params == {k: float(v) for k, v in model.params_.items()}
    assert np.array_equal(model.prob_alive(cdnow_calibration).to_numpy(), beta_geo.prob_alive(model.params_, x, t_x, T))
    assert np.array_equal(model.expected_purchases(cdnow_calibration, 39.0).to_numpy(),
                          beta_geo.expected_purchases(model.params_, 39.0, x, t_x, T))
    assert np.array_equal(model.loglik_per_customer(cdnow_calibration).to_numpy(), beta_geo.loglik(model.params_, x, t_x, T))
    assert np.array_equal(model.expected_purchases_new([1.0, 78.0]), beta_geo.expected_purchases_new(model.params_, np.array([1.0, 78.0])))
    draws = model.customer_params(model.sample_params(5, random_seed=1))
    assert all(v.shape == (5, 1) for v in draws.values())
    # the Laplace draws as before covariates: exp of a multivariate normal of the log-parameters
    rng = np.random.default_rng(np.random.SeedSequence(3))
    expected = np.exp(rng.multivariate_normal(np.log(model.params_.to_numpy()), model.covariance_log_.to_numpy(), size=50, method="cholesky"))
    assert np.array_equal(model.sample_params(50, random_seed=3).to_numpy(), expected)
    sim = model.simulate(cdnow_calibration["T"], random_seed=2)
    assert sim.equals(beta_geo.simulate(model.params_, cdnow_calibration["T"], random_seed=2))


# -- the design matrix and its checks ----------------------------------------------------------------


def test_design_standardises_numeric_and_dummy_codes_categorical(cdnow_cov):
    model = ParetoNBD(covariates={"purchase": ["z", "channel"], "dropout": ["z"]}, categorical={"channel": "app"}).fit(cdnow_cov)
    spec = model.covariates_
    assert spec.numeric["z"] == pytest.approx((cdnow_cov["z"].mean(), cdnow_cov["z"].std(ddof=0)), rel=1e-12)
    assert spec.levels["channel"] == ["app", "shop", "web"]
    assert list(model.params_.index) == ["r", "alpha", "s", "beta", "purchase:z", "purchase:channel[shop]",
                                         "purchase:channel[web]", "dropout:z"]
    design = model.design_matrix(cdnow_cov)
    assert np.allclose(design["purchase:z"], _standardised(cdnow_cov["z"].to_numpy()), rtol=0, atol=1e-12)
    assert (design["purchase:channel[web]"] == (cdnow_cov["channel"] == "web")).all()
    with pytest.raises(ValueError, match=r"level\(s\) \['phone'\] that the model was not fitted on"):
        model.prob_alive(cdnow_cov.assign(channel="phone"))
    with pytest.raises(ValueError, match="give the customers' data"):
        model.customer_params(model.params_)


@pytest.mark.parametrize(
    "change, settings, message",
    [
        (lambda d: d.drop(columns="z"), {"covariates": ["z"]}, "covariate column 'z' is not in the data"),
        (lambda d: d.assign(z=d["z"].where(d.index != 5)), {"covariates": ["z"]}, r"'z' has 1 missing value\(s\) \(customers \[5\]"),
        (lambda d: d, {"covariates": ["channel"]}, r"'channel' is not numeric .* declare it categorical=\['channel'\]"),
        (lambda d: d.assign(z=3.0), {"covariates": ["z"]}, "covariate 'z' is constant"),
        (lambda d: d.assign(channel="web"), {"covariates": ["channel"], "categorical": ["channel"]}, "covariate 'channel' is constant"),
        (lambda d: d.assign(z2=2.0 * d["z"] + 1.0), {"covariates": ["z", "z2"]}, r"perfectly collinear: 'purchase:z2' and \['purchase:z'\]"),
        (lambda d: d.assign(web=(d["channel"] == "web").astype(float)), {"covariates": ["channel", "web"], "categorical": ["channel"]},
         r"perfectly collinear: 'purchase:web' and \['purchase:channel\[web\]'\]"),
        (lambda d: d, {"covariates": {"lifetime": ["z"]}}, "unknown process 'lifetime'"),
        (lambda d: d, {"covariates": ["z"], "categorical": ["region"]}, r"categorical names \['region'\]"),
        (lambda d: d, {"covariates": ["channel"], "categorical": {"channel": "fax"}}, "reference level 'fax' does not occur"),
    ],
)
def test_bad_covariates_are_clear_errors(cdnow_cov, change, settings, message):
    with pytest.raises(ValueError, match=message):
        ParetoNBD(**settings).fit(change(cdnow_cov))


def test_models_without_covariate_support_refuse_them(cdnow_cov):
    assert BetaGeo.supports_covariates and ParetoNBD.supports_covariates and not ModifiedBetaGeo.supports_covariates
    with pytest.raises(ValueError, match="ModifiedBetaGeo does not take covariates"):
        ModifiedBetaGeo(covariates=["z"]).fit(cdnow_cov)


def test_bgnbd_dropout_processes(cdnow_cov):
    spec = CovariateSpec.from_settings(BetaGeo, {"purchase": ["z"], "dropout": ["w"], "dropout_b": ["v"]})
    assert spec.processes == {"purchase": ("z",), "dropout": ("w",), "dropout_a": (), "dropout_b": ("v",)}
    # a list is CLVTools' model: purchase, and one dropout vector scaling a and b alike
    assert CovariateSpec.from_settings(BetaGeo, ["z"]).processes == {"purchase": ("z",), "dropout": ("z",), "dropout_a": (), "dropout_b": ()}
    model = BetaGeo(covariates={"dropout": ["z"], "dropout_a": ["z"]})
    model.covariates_ = model._covariate_spec().learn(cdnow_cov, BetaGeo)
    p = pd.Series({"r": 0.24, "alpha": 4.4, "a": 0.8, "b": 2.4, "dropout:z": 0.3, "dropout_a:z": -0.5})
    per = model.customer_params(p, cdnow_cov)
    z = _standardised(cdnow_cov["z"].to_numpy())
    np.testing.assert_allclose(per["a"], p["a"] * np.exp((p["dropout:z"] + p["dropout_a:z"]) * z), rtol=1e-13)
    np.testing.assert_allclose(per["b"], p["b"] * np.exp(p["dropout:z"] * z), rtol=1e-13)
    # the same column on a and b three ways is not identified
    with pytest.raises(ValueError, match=r"perfectly collinear: 'dropout_b:z' and \['dropout:z', 'dropout_a:z'\]"):
        BetaGeo(covariates={"dropout": ["z"], "dropout_a": ["z"], "dropout_b": ["z"]}).fit(cdnow_cov)


# -- the likelihood against independent evaluations ------------------------------------------------


def test_pareto_nbd_covariate_likelihood_against_quadrature_over_the_lifetime(cdnow_cov):
    """``L = Gamma(r+x) alpha^r beta^s / Gamma(r) [(alpha+T)^-(r+x) (beta+T)^-s + s int_{t_x}^T
    (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau]``: alive at T, or dropped out at tau in (t_x, T]
    (the lambda and mu integrals done, the lifetime one by scipy's quad; no 2F1)."""
    model = ParetoNBD(covariates=["z", "channel"], categorical={"channel": "app"}).fit(cdnow_cov)
    p = model.params_
    data = cdnow_cov.iloc[::97]
    z, channel = cdnow_cov["z"].to_numpy(), cdnow_cov["channel"].to_numpy()
    alpha_all = p["alpha"] * np.exp(-_eta(p, "purchase", z, channel))
    beta_all = p["beta"] * np.exp(-_eta(p, "dropout", z, channel))
    rows = np.arange(0, len(cdnow_cov), 97)
    expected = []
    for i, (x, t_x, T) in zip(rows, data[["frequency", "recency", "T"]].to_numpy()):
        r, s, alpha, beta = p["r"], p["s"], alpha_all[i], beta_all[i]
        alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
        dead, _ = integrate.quad(lambda tau: (alpha + tau) ** -(r + x) * (beta + tau) ** -(s + 1), t_x, T, epsabs=0, epsrel=1e-13)
        expected.append(special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                        + np.log(alive + s * dead))
    np.testing.assert_allclose(model.loglik_per_customer(data).to_numpy(), expected, rtol=1e-9)
    assert model.loglik_ == pytest.approx(float(model.loglik_per_customer(cdnow_cov).sum()), rel=1e-12)


def test_bgnbd_covariate_likelihood_against_mpmath(cdnow_cov):
    """FHL 2005 eq. 6 with each customer's alpha_i, a_i, b_i, evaluated by mpmath at 30 digits."""
    # every link: purchase on alpha, the shared dropout vector on a and b, and one on a alone
    model = BetaGeo(covariates={"purchase": ["z", "channel"], "dropout": ["z", "channel"], "dropout_a": ["z", "channel"]},
                    categorical={"channel": "app"})
    spec = model._covariate_spec().learn(cdnow_cov, BetaGeo)
    names = ["r", "alpha", "a", "b", *spec.coefficient_names()]
    values = [0.25, 4.0, 0.8, 2.5, 0.3, -0.2, 0.4, 0.5, -0.3, 0.2, -0.6, 0.1, 0.7]
    model._set_fitted(FitResult("mle", values, np.eye(13), np.eye(13), 0.0, True, 1, n_patterns=1, extra={"covariates_": spec}))
    p = model.params_
    z, channel = cdnow_cov["z"].to_numpy(), cdnow_cov["channel"].to_numpy()
    alpha_all = p["alpha"] * np.exp(-_eta(p, "purchase", z, channel))
    a_all = p["a"] * np.exp(_eta(p, "dropout", z, channel) + _eta(p, "dropout_a", z, channel))
    b_all = p["b"] * np.exp(_eta(p, "dropout", z, channel))
    rows = np.arange(0, len(cdnow_cov), 89)
    data = cdnow_cov.iloc[rows]
    mpmath.mp.dps = 30
    expected = []
    for i, (x, t_x, T) in zip(rows, data[["frequency", "recency", "T"]].to_numpy()):
        r, alpha, a, b = (mpmath.mpf(float(v)) for v in (p["r"], alpha_all[i], a_all[i], b_all[i]))
        x, t_x, T = mpmath.mpf(float(x)), mpmath.mpf(float(t_x)), mpmath.mpf(float(T))
        common = mpmath.gamma(r + x) * alpha**r / mpmath.gamma(r)
        value = mpmath.beta(a, b + x) / mpmath.beta(a, b) * common / (alpha + T) ** (r + x)
        if x > 0:
            value += mpmath.beta(a + 1, b + x - 1) / mpmath.beta(a, b) * common / (alpha + t_x) ** (r + x)
        expected.append(float(mpmath.log(value)))
    np.testing.assert_allclose(model.loglik_per_customer(data).to_numpy(), expected, rtol=1e-11)
    # and the predictions use the same per-customer parameters
    from clvmodels.models import beta_geo

    own = {"r": p["r"], "alpha": alpha_all[rows], "a": a_all[rows], "b": b_all[rows]}
    np.testing.assert_allclose(model.prob_alive(data).to_numpy(),
                               beta_geo.prob_alive(own, *(data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))),
                               rtol=1e-13)


@pytest.mark.parametrize("model_type", [BetaGeo, ParetoNBD])
def test_automatic_gradient_against_central_differences(cdnow_cov, model_type):
    data = cdnow_cov.iloc[:300]
    settings = ["z", "channel"]
    spec = CovariateSpec.from_settings(model_type, settings, ["channel"]).learn(data, model_type)
    s = data[["frequency", "recency", "T"]].to_numpy(dtype=float).T
    patterns, designs, weights, _ = pattern_designs(spec, data, *s)
    objective = covariate_objective(model_type, spec, patterns, designs, weights)
    rng = np.random.default_rng(3)
    base = np.log([0.5, 8.0, 0.8, 3.0])
    u = np.r_[base, rng.normal(0.0, 0.3, spec.n_coefficients())]
    _, gradient = objective(u)
    h = 1e-5
    numeric = np.array([(objective(u + h * e)[0] - objective(u - h * e)[0]) / (2 * h) for e in np.eye(len(u))])
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-6)


# -- parameter recovery ------------------------------------------------------------------------------


def _covariates(n: int, rng: np.random.Generator) -> pd.DataFrame:
    z = rng.normal(size=n)
    return pd.DataFrame({"z": _standardised(z), "channel": rng.choice(["app", "shop", "web"], size=n, p=[0.3, 0.3, 0.4])})


TRUE_EFFECTS = {"z": 0.3, "channel[shop]": -0.4, "channel[web]": 0.5}


def _check_recovery(model, truth: dict[str, float]) -> None:
    table = model.summary()
    for name, value in truth.items():
        estimate, se = table.loc[name, "estimate"], table.loc[name, "std_error"]
        assert abs(estimate - value) < 4 * se, (name, estimate, value, se)


@pytest.mark.slow
def test_pareto_nbd_recovers_known_coefficients():
    rng = np.random.default_rng(11)
    n = 20_000
    cov = _covariates(n, rng)
    dropout = {"z": -0.3, "channel[shop]": 0.6, "channel[web]": 0.0}
    eta_p = sum(v * (cov["z"] if k == "z" else (cov["channel"] == k[8:-1])) for k, v in TRUE_EFFECTS.items()).to_numpy()
    eta_d = sum(v * (cov["z"] if k == "z" else (cov["channel"] == k[8:-1])) for k, v in dropout.items()).to_numpy()
    from clvmodels.models import pareto_nbd

    base = {"r": 0.8, "alpha": 10.0, "s": 0.6, "beta": 12.0}
    params = {**base, "alpha": base["alpha"] * np.exp(-eta_p), "beta": base["beta"] * np.exp(-eta_d)}
    T = rng.uniform(30.0, 80.0, n)
    sim = pareto_nbd.simulate(params, T, random_seed=12).join(cov)
    model = ParetoNBD(covariates=["z", "channel"], categorical={"channel": "app"}).fit(sim)
    assert model.converged_
    truth = {**base, **{f"purchase:{k}": v for k, v in TRUE_EFFECTS.items()}, **{f"dropout:{k}": v for k, v in dropout.items()}}
    _check_recovery(model, truth)


@pytest.mark.slow
def test_bgnbd_recovers_known_coefficients():
    rng = np.random.default_rng(21)
    n = 20_000
    cov = _covariates(n, rng)
    effect_a = {"z": 0.4, "channel[shop]": 0.0, "channel[web]": -0.5}
    effect_b = {"z": -0.2, "channel[shop]": 0.5, "channel[web]": 0.3}

    def eta(effects):
        return sum(v * (cov["z"] if k == "z" else (cov["channel"] == k[8:-1])) for k, v in effects.items()).to_numpy()

    base = {"r": 0.8, "alpha": 5.0, "a": 0.8, "b": 2.5}
    params = {"r": base["r"], "alpha": base["alpha"] * np.exp(-eta(TRUE_EFFECTS)), "a": base["a"] * np.exp(eta(effect_a)),
              "b": base["b"] * np.exp(eta(effect_b))}
    fitted_truth = BetaGeo(covariates={"purchase": ["z", "channel"], "dropout_a": ["z", "channel"], "dropout_b": ["z", "channel"]},
                           categorical={"channel": "app"})
    from clvmodels.models import beta_geo

    T = rng.uniform(30.0, 80.0, n)
    sim = beta_geo.simulate(params, T, random_seed=22).join(cov)
    model = fitted_truth.fit(sim)
    assert model.converged_
    truth = {**base, **{f"purchase:{k}": v for k, v in TRUE_EFFECTS.items()},
             **{f"dropout_a:{k}": v for k, v in effect_a.items()}, **{f"dropout_b:{k}": v for k, v in effect_b.items()}}
    _check_recovery(model, truth)
    # the model's own simulator, given covariates, gives data it recovers the fit from
    again = model.simulate(sim["T"], data=sim, random_seed=5)
    assert {"z", "channel"} <= set(again.columns)


# -- apparel: CLVTools' published fit ----------------------------------------------------------------

#: JSS paper, section 6.2.1 and 6.4.1 (printed to 4 decimals)
CLVTOOLS_PNBD = {"r": 1.4490, "alpha": 48.6361, "s": 0.5613, "beta": 46.8844}
CLVTOOLS_PNBD_STATIC = {"r": 1.8378, "alpha": 92.9123, "s": 0.5920, "beta": 49.6227, "purchase:Gender[1]": 0.2859,
                        "purchase:Channel[1]": 0.6241, "dropout:Gender[1]": -0.6430, "dropout:Channel[1]": 0.7907}
CLVTOOLS_PNBD_STATIC_SE = {"r": 0.3455, "alpha": 16.9670, "s": 0.2609, "beta": 36.2509, "purchase:Gender[1]": 0.1041,
                           "purchase:Channel[1]": 0.1050, "dropout:Gender[1]": 0.2955, "dropout:Channel[1]": 0.3059}
CLVTOOLS_PNBD_STATIC_LL = -5821.0627


def test_apparel_pareto_nbd_with_gender_and_channel_matches_clvtools(apparel_fits, apparel):
    plain, full = apparel_fits["pnbd"], apparel_fits["pnbd_cov"]
    assert full.converged_ and full.optimizer_["max_abs_gradient"] < 1e-8
    for name, value in CLVTOOLS_PNBD.items():
        assert plain.params_[name] == pytest.approx(value, rel=1e-3)
    # CLVTools' optimiser stops a little short of the maximum: the log-likelihood agrees to its
    # printed precision, ours is not below it, and every estimate is within 0.05 SE of its
    assert full.loglik_ == pytest.approx(CLVTOOLS_PNBD_STATIC_LL, abs=5e-5)
    table = full.summary()
    for name, value in CLVTOOLS_PNBD_STATIC.items():
        assert abs(table.loc[name, "estimate"] - value) < 0.05 * table.loc[name, "std_error"], name
        assert table.loc[name, "std_error"] == pytest.approx(CLVTOOLS_PNBD_STATIC_SE[name], rel=0.01), name
    test = lr_test(plain, full)
    assert test.df == 4 and test.statistic == pytest.approx(2 * (full.loglik_ - plain.loglik_))
    assert test.statistic == pytest.approx(54.07, abs=0.01) and test.p_value < 1e-10
    # the restricted fit found on the way is the plain model's maximum
    assert full.restricted_loglik_ == pytest.approx(plain.loglik_, abs=1e-6)


def test_apparel_bgnbd_fit_is_a_maximum(apparel_fits, apparel):
    """No published reference: the gradient vanishes and Nelder-Mead from elsewhere finds no
    higher point."""
    plain, full = apparel_fits["bgnbd"], apparel_fits["bgnbd_cov"]
    assert full.converged_ and full.optimizer_["max_abs_gradient"] < 1e-8
    spec = full.covariates_
    s = apparel[["frequency", "recency", "T"]].to_numpy(dtype=float).T
    patterns, designs, weights, _ = pattern_designs(spec, apparel, *s)
    objective = covariate_objective(BetaGeo, spec, patterns, designs, weights)
    k = 4
    u_hat = np.r_[np.log(full.params_.to_numpy()[:k]), full.params_.to_numpy()[k:]]
    start = u_hat + np.random.default_rng(1).normal(0.0, 0.2, len(u_hat))
    found = optimize.minimize(lambda u: -objective(u)[0], start, method="Nelder-Mead",
                              options={"maxiter": 40_000, "maxfev": 40_000, "xatol": 1e-9, "fatol": 1e-10, "adaptive": True})
    assert -found.fun <= full.loglik_ + 1e-7
    assert -found.fun == pytest.approx(full.loglik_, abs=1e-4)
    test = lr_test(plain, full)
    assert test.df == 4 and test.statistic == pytest.approx(2 * (full.loglik_ - plain.loglik_)) and test.statistic > 0


def test_lr_column_in_the_comparison_tables(apparel_fits, apparel):
    fits = {k: apparel_fits[k] for k in ("pnbd", "pnbd_cov", "bgnbd", "bgnbd_cov")}
    table = fit_criteria(fits)
    assert table.loc["pnbd_cov", "lr_against"] == "pnbd" and table.loc["bgnbd_cov", "lr_against"] == "bgnbd"
    assert table.loc["pnbd_cov", "lr_df"] == 4 and table.loc["pnbd_cov", "n_params"] == 8
    assert np.isnan(table.loc["pnbd", "lr_statistic"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comparison = compare_models({"pnbd": fits["pnbd"], "pnbd_cov": fits["pnbd_cov"]}, apparel, random_seed=1, n_draws=20)
    row = comparison.table.loc["pnbd_cov"]
    assert row["lr_statistic"] == pytest.approx(lr_test(fits["pnbd"], fits["pnbd_cov"]).statistic)
    # the holdout uses each customer's own parameters: its predicted total is their sum
    assert row["predicted_total"] == pytest.approx(fits["pnbd_cov"].expected_purchases(apparel, 207.142857142857).sum(), rel=1e-6)
    with pytest.raises(ValueError, match="different models"):
        lr_test(fits["pnbd"], fits["bgnbd_cov"])
    with pytest.raises(ValueError, match="not a proper subset"):
        lr_test(fits["pnbd_cov"], fits["pnbd"])


# -- uncertainty, Bayesian fits, files -------------------------------------------------------------


def test_draws_and_intervals_of_coefficients(apparel_fits, apparel):
    model = apparel_fits["pnbd_cov"]
    draws = model.sample_params(4000, random_seed=1)
    assert list(draws.columns) == list(model.params_.index)
    assert (draws["dropout:Gender[1]"] < 0).mean() > 0.9 and (draws[["r", "alpha", "s", "beta"]] > 0).all().all()
    assert draws["purchase:Channel[1]"].std() == pytest.approx(model.summary().loc["purchase:Channel[1]", "std_error"], rel=0.05)
    table = model.summary(ci=0.9)
    row = table.loc["purchase:Channel[1]"]
    assert row["lower"] == pytest.approx(row["estimate"] - 1.6448536 * row["std_error"], rel=1e-6)
    per = model.customer_params(draws.iloc[:7], apparel)
    assert per["alpha"].shape == (7, 600) and per["r"].shape == (7, 1)
    new = model.expected_purchases_new(52.0, apparel)
    assert new.shape == (600,) and new.nunique() == 4  # one value per Gender x Channel cell


def test_map_fit_with_covariates_is_near_the_maximum_likelihood(apparel_fits, apparel):
    mle = apparel_fits["pnbd_cov"]
    model = ParetoNBD(covariates=["Gender", "Channel"], categorical=CATEGORICAL).fit(apparel, method="map")
    assert model.method_ == "map" and model.converged_
    assert model.priors_["purchase:Gender[1]"].params == {"mu": 0.0, "sigma": 1.0}
    # the Normal(0, 1) priors pull the coefficients towards 0, by a fraction of their SE
    for name in ("purchase:Gender[1]", "purchase:Channel[1]"):
        assert 0 < model.params_[name] < mle.params_[name]
        assert mle.params_[name] - model.params_[name] < 0.5 * mle.summary().loc[name, "std_error"]
    with pytest.raises(ValueError, match="must be Prior\\('Normal'"):
        from clvmodels import Prior

        ParetoNBD(covariates=["Gender"], priors={"purchase:Gender": Prior("HalfNormal", sigma=1.0)}).fit(apparel, method="map")


@pytest.mark.slow
def test_nuts_with_covariates_keeps_the_per_customer_log_likelihood(apparel, tmp_path):
    model = BetaGeo(covariates={"purchase": ["Channel"]}, categorical={"Channel": 0}, chains=2, draws=200, tune=200,
                    random_seed=1, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few draws: the convergence note is expected
        model.fit(apparel, method="nuts")
    draws = model.sample_params(3, random_seed=2)
    group = model.idata_.log_likelihood["purchases"].stack(sample=("chain", "draw")).transpose("sample", "customer_id")
    posterior = model.idata_.posterior.stack(sample=("chain", "draw"))
    point = pd.Series({n: float(posterior[n].values[5]) for n in model.param_names})
    np.testing.assert_allclose(group.values[5], _loglik_at(model, point, apparel), rtol=1e-10)
    assert draws.shape == (3, 5) and model.priors_["purchase:Channel[1]"].distribution == "Normal"
    import clvmodels

    loaded = clvmodels.load(model.save(tmp_path / "bgnbd_cov.nc"))
    assert loaded.params_.equals(model.params_) and loaded.covariates_ == model.covariates_
    assert loaded.sample_params(3, random_seed=2).equals(draws)
    assert np.array_equal(loaded.prob_alive(apparel).to_numpy(), model.prob_alive(apparel).to_numpy())


def _loglik_at(model, params, data):
    per = model.customer_params(params, data)
    return model.formulas.loglik(per, *(data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")))


def test_save_and_load_round_trip(apparel_fits, apparel, tmp_path):
    import clvmodels

    for key in ("pnbd_cov", "bgnbd_cov"):
        model = apparel_fits[key]
        loaded = clvmodels.load(model.save(tmp_path / f"{key}.json"))
        assert loaded.params_.equals(model.params_) and loaded.covariates_ == model.covariates_
        assert loaded.get_params() == model.get_params()
        assert loaded.restricted_loglik_ == model.restricted_loglik_
        assert np.array_equal(loaded.prob_alive(apparel).to_numpy(), model.prob_alive(apparel).to_numpy())
        assert loaded.sample_params(10, random_seed=1).equals(model.sample_params(10, random_seed=1))


@pytest.mark.parametrize("model_type", [ParetoNBD, BetaGeo])
def test_per_pattern_derivative_equals_the_automatic_one(cdnow_cov, model_type):
    """Each model's hand-written per-pattern gradient (Pareto/NBD: compiled quadrature; BG/NBD:
    the terms of its loglik and loglik_grad) against PyTensor's derivative of ``loglik``."""
    data = cdnow_cov.iloc[:400]
    spec = CovariateSpec.from_settings(model_type, ["z", "channel"], ["channel"]).learn(data, model_type)
    s = data[["frequency", "recency", "T"]].to_numpy(dtype=float).T
    patterns, designs, weights, _ = pattern_designs(spec, data, *s)
    fast = covariate_objective(model_type, spec, patterns, designs, weights)
    auto = covariate_objective(model_type, spec, patterns, designs, weights, use_override=False)
    rng = np.random.default_rng(5)
    for base in ([0.55, 10.6, 0.6, 11.7], [1.5, 40.0, 0.5, 8.0], [0.3, 5.0, 2.0, 60.0]):
        u = np.r_[np.log(base), rng.normal(0.0, 0.4, spec.n_coefficients())]
        (v1, g1), (v2, g2) = fast(u), auto(u)
        assert v1 == pytest.approx(v2, rel=1e-10)
        np.testing.assert_allclose(g1, g2, rtol=1e-8, atol=1e-8)


def test_what_is_not_available_with_covariates_says_so(apparel_fits, apparel):
    from clvmodels.tracking import new_customer_purchases

    model = apparel_fits["pnbd_cov"]
    with pytest.raises(ValueError, match="tracking is not available yet for a model with covariates"):
        new_customer_purchases(model, [52.0])
    with pytest.raises(ValueError, match="method='bootstrap' is not available"):
        model.sample_params(10, method="bootstrap")
    with pytest.raises(ValueError, match="prior_predictive covers the models without covariates"):
        ParetoNBD(covariates=["Gender"]).prior_predictive(apparel)
    with pytest.raises(ValueError, match="build_pymc_model covers the models without covariates"):
        model.build_pymc_model()


def test_weights_penalty_and_refitting_without_covariates(apparel_fits, apparel):
    full = apparel_fits["pnbd_cov"]
    settings = {"covariates": ["Gender", "Channel"], "categorical": CATEGORICAL}
    # every row standing for two customers: the same estimates, twice the log-likelihood
    doubled = ParetoNBD(**settings).fit(apparel.assign(w=2.0), sample_weight="w")
    np.testing.assert_allclose(doubled.params_.to_numpy(), full.params_.to_numpy(), rtol=1e-5)
    assert doubled.loglik_ == pytest.approx(2 * full.loglik_, rel=1e-10) and doubled.n_customers_ == 1200
    # a penalty on the base parameters: a lower (unpenalised) log-likelihood
    penalised = ParetoNBD(penalty=0.001, **settings).fit(apparel)
    assert penalised.converged_ and penalised.loglik_ < full.loglik_
    assert penalised.params_["beta"] < full.params_["beta"]
    # the same estimator refitted without covariates is the plain model again
    model = ParetoNBD(**settings).fit(apparel)
    model.set_params(covariates=None, categorical=None).fit(apparel)
    assert list(model.params_.index) == ["r", "alpha", "s", "beta"] and not hasattr(model, "covariates_")
    assert model.params_.equals(apparel_fits["pnbd"].params_)


def test_bg_nbd_frequency_kernel_against_mpmath():
    """The compiled per-customer frequency terms of the BG/NBD (summed term by term for whole x,
    from log-gamma and digamma for fractional x) against mpmath at 30 digits, over a wide range
    of parameters, including b = 1e6 where a difference of two log-gammas loses six digits."""
    from clvmodels.inference._numba_kernels import beta_geo_frequency

    rng = np.random.default_rng(9)
    n = 300
    r = np.exp(rng.uniform(np.log(0.01), np.log(50.0), n))
    a = np.exp(rng.uniform(np.log(0.01), np.log(100.0), n))
    b = np.exp(rng.uniform(np.log(0.01), np.log(1e6), n))
    x = np.concatenate([rng.integers(0, 65, n - 60), rng.integers(65, 1500, 30), rng.uniform(0.5, 80.0, 30)]).astype(float)
    b[-30:] = np.minimum(b[-30:], 100.0)  # fractional x: the log-gamma functions, accurate for moderate b
    out = np.empty((5, n))
    beta_geo_frequency(r, a, b, x, out)
    mpmath.mp.dps = 30
    for i in range(n):
        ri, ai, bi, xi = (mpmath.mpf(float(v)) for v in (r[i], a[i], b[i], x[i]))
        expected = [
            mpmath.loggamma(ri + xi) - mpmath.loggamma(ri),
            mpmath.loggamma(ai + bi) + mpmath.loggamma(bi + xi) - mpmath.loggamma(bi) - mpmath.loggamma(ai + bi + xi),
            mpmath.digamma(ri + xi) - mpmath.digamma(ri),
            mpmath.digamma(ai + bi) - mpmath.digamma(ai + bi + xi),
            mpmath.digamma(ai + bi) + mpmath.digamma(bi + xi) - mpmath.digamma(bi) - mpmath.digamma(ai + bi + xi),
        ]
        for k, value in enumerate(expected):
            assert out[k, i] == pytest.approx(float(value), rel=1e-9, abs=1e-12), (k, r[i], a[i], b[i], x[i])


# -- Newton's method with the exact Hessian (the BG/NBD) -----------------------------------------------


def _pytensor_linked(model_type, spec, patterns, designs, weights):
    """PyTensor's value, gradient and Hessian of the weighted log-likelihood in
    ``u = (log base parameters, coefficients)``, through the links written out independently."""
    import pytensor
    import pytensor.tensor as pt

    from clvmodels.models.ops import pytensor_ops

    names = list(model_type.param_names)
    u = pt.dvector("u")
    log_theta = {name: u[i] for i, name in enumerate(names)}
    start = len(names)
    for process, columns in spec.processes.items():
        if not columns:
            continue
        z = pt.as_tensor_variable(np.asarray(designs[process], dtype=float))
        eta = pt.dot(z, u[start : start + z.shape[1].eval()])
        for target, sign in model_type.covariate_links[process]:
            log_theta[target] = log_theta[target] + sign * eta
        start += designs[process].shape[1]
    params = {name: pt.exp(log_theta[name]) for name in names}
    columns = [pt.as_tensor_variable(np.asarray(p, dtype=float)) for p in patterns]
    total = pt.sum(np.asarray(weights, dtype=float) * model_type.formulas.loglik(params, *columns, ops=pytensor_ops()))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")  # elementwise graphs
        return pytensor.function([u], [total, pt.grad(total, u), pytensor.gradient.hessian(total, u)])


def test_linked_hessian_equals_pytensors_across_the_parameter_space(cdnow_cov):
    """The compiled BG/NBD kernel behind Newton's method (value, gradient and exact Hessian in
    the working coordinates, through every link: purchase, dropout, dropout_a, dropout_b)
    against PyTensor's automatic Hessian of the model's one ``loglik``, at parameters from
    0.01 to 1e4, with fractional frequencies and customers with x = 0."""
    from clvmodels.models.covariates import LinkedLoglik

    data = cdnow_cov.iloc[:500].astype({"frequency": float})
    data.loc[data.index[:40], "frequency"] += 0.5  # fractional x: the trigamma branch
    settings = {"purchase": ["z", "channel"], "dropout": ["z"], "dropout_a": ["channel"], "dropout_b": ["z"]}
    spec = CovariateSpec.from_settings(BetaGeo, settings, ["channel"]).learn(data, BetaGeo)
    s = data[["frequency", "recency", "T"]].to_numpy(dtype=float).T
    weights_in = np.random.default_rng(4).uniform(0.5, 3.0, len(data))
    patterns, designs, weights, _ = pattern_designs(spec, data, *s, row_weights=weights_in)
    reference = _pytensor_linked(BetaGeo, spec, patterns, designs, weights)
    ours = LinkedLoglik(BetaGeo, spec, patterns, designs, weights)
    rng = np.random.default_rng(11)
    for _ in range(12):
        base = np.exp(rng.uniform(np.log(0.01), np.log(1e4), 4))
        u = np.r_[np.log(base), rng.normal(0.0, 0.5, spec.n_coefficients())]
        value, grad, hess = ours(u)
        v_ref, g_ref, h_ref = reference(u)
        assert value == pytest.approx(float(v_ref), rel=1e-11), base
        scale_g = np.max(np.abs(g_ref))
        np.testing.assert_allclose(grad, g_ref, rtol=1e-9, atol=1e-11 * scale_g)
        scale_h = np.max(np.abs(h_ref))
        np.testing.assert_allclose(hess, h_ref, rtol=1e-8, atol=1e-10 * scale_h)
        value_only, grad_only, none = ours(u, hessian=False)
        assert none is None and value_only == value and np.array_equal(grad_only, grad)


def test_trigamma_of_the_kernels_against_scipy():
    from clvmodels.inference._numba_kernels import trigamma

    x = np.exp(np.linspace(np.log(1e-4), np.log(1e7), 400))
    ours = np.array([trigamma(v) for v in x])
    np.testing.assert_allclose(ours, special.polygamma(1, x), rtol=1e-10)


def test_linked_sums_do_not_depend_on_threads_or_chunks(cdnow_cov, monkeypatch):
    from clvmodels.models.covariates import LinkedLoglik

    spec = CovariateSpec.from_settings(BetaGeo, ["z", "channel"], ["channel"]).learn(cdnow_cov, BetaGeo)
    s = cdnow_cov[["frequency", "recency", "T"]].to_numpy(dtype=float).T
    patterns, designs, weights, _ = pattern_designs(spec, cdnow_cov, *s)
    monkeypatch.setattr(LinkedLoglik, "CHUNK", 256)  # 10 chunks of CDNOW's 2,357 customers
    u = np.r_[np.log([0.5, 8.0, 0.8, 3.0]), np.linspace(-0.3, 0.3, spec.n_coefficients())]
    one = LinkedLoglik(BetaGeo, spec, patterns, designs, weights, n_jobs=1)(u)
    two = LinkedLoglik(BetaGeo, spec, patterns, designs, weights, n_jobs=2)(u)
    assert one[0] == two[0] and np.array_equal(one[1], two[1]) and np.array_equal(one[2], two[2])


def test_newton_fit_equals_the_quasi_newton_one(cdnow_cov, monkeypatch):
    """The BG/NBD with covariates is fitted by Newton's method with the exact Hessian; the
    L-BFGS-B path (the Pareto/NBD's, and the fallback) reaches the same maximum, and its
    finite-difference Hessian gives the same standard errors."""
    settings = dict(covariates=["z", "channel"], categorical=["channel"])
    newton = BetaGeo(**settings).fit(cdnow_cov)
    assert newton.optimizer_["method"] == "Newton (exact Hessian)" and newton.converged_
    assert newton.optimizer_["max_abs_gradient"] < 1e-9
    monkeypatch.delattr("clvmodels.models.beta_geo.loglik_linked")
    quasi = BetaGeo(**settings).fit(cdnow_cov)
    assert quasi.optimizer_["method"] == "L-BFGS-B" and quasi.converged_
    assert newton.loglik_ >= quasi.loglik_ - 1e-9
    assert newton.loglik_ == pytest.approx(quasi.loglik_, abs=1e-8)
    se = newton.summary()["std_error"]
    np.testing.assert_allclose(newton.params_.to_numpy(), quasi.params_.to_numpy(), rtol=0, atol=1e-4 * float(se.min()))
    np.testing.assert_allclose(se.to_numpy(), quasi.summary()["std_error"].to_numpy(), rtol=1e-5)
    # the plain model's maximum on the same customers, for the likelihood-ratio test
    monkeypatch.undo()
    assert newton.restricted_loglik_ == pytest.approx(BetaGeo().fit(cdnow_cov).loglik_, abs=1e-8)
    # with a penalty and weights: the same penalised maximum, the same (unpenalised) log-likelihood
    weighted = cdnow_cov.assign(w=np.random.default_rng(2).integers(1, 4, len(cdnow_cov)).astype(float))
    fits = [BetaGeo(penalty=0.01, **settings).fit(weighted, sample_weight="w")]
    monkeypatch.delattr("clvmodels.models.beta_geo.loglik_linked")
    fits.append(BetaGeo(penalty=0.01, **settings).fit(weighted, sample_weight="w"))
    assert [f.optimizer_["method"] for f in fits] == ["Newton (exact Hessian)", "L-BFGS-B"]
    np.testing.assert_allclose(fits[0].params_.to_numpy(), fits[1].params_.to_numpy(), rtol=1e-6)
    # the reported log-likelihood is the unpenalised one at the estimate
    spec = fits[0].covariates_
    s = weighted[["frequency", "recency", "T"]].to_numpy(dtype=float).T
    patterns, designs, weights, _ = pattern_designs(spec, weighted, *s, row_weights=weighted["w"].to_numpy())
    estimate = fits[0].params_.to_numpy()
    unpenalised = covariate_objective(BetaGeo, spec, patterns, designs, weights)(np.r_[np.log(estimate[:4]), estimate[4:]])[0]
    assert fits[0].loglik_ == pytest.approx(unpenalised, abs=1e-7) and fits[1].loglik_ == pytest.approx(unpenalised, abs=1e-7)


def test_newton_with_many_patterns_and_continuous_covariates(monkeypatch):
    """Above WARM_START_ABOVE patterns Newton starts from a subset's fit; a continuous covariate
    makes the rows the patterns (no search for duplicates): same maximum as with the search."""
    from clvmodels.models import beta_geo, covariates

    monkeypatch.setattr(covariates, "WARM_START_ABOVE", 2_000)
    rng = np.random.default_rng(12)
    n = 8_000
    cov = _covariates(n, rng)
    params = {"r": 0.8, "alpha": 5.0 * np.exp(-0.3 * cov["z"].to_numpy()), "a": 0.8, "b": 2.5}
    sim = beta_geo.simulate(params, rng.choice([40.0, 60.0, 80.0], n), random_seed=13).join(cov)
    sim["recency"] = np.floor(sim["recency"])  # duplicates of (x, t_x, T)
    model = BetaGeo(covariates={"purchase": ["z", "channel"]}, categorical=["channel"]).fit(sim)
    assert model.converged_ and model.n_patterns_ == n and model.optimizer_["newton_steps"] <= 4
    spec = model.covariates_
    s = sim[["frequency", "recency", "T"]].to_numpy(dtype=float).T
    patterns, designs, weights, inverse = pattern_designs(spec, sim, *s)
    assert len(weights) == n and np.array_equal(inverse, np.arange(n))
    # the same fit through the search for duplicates (z rounded: fewer patterns)
    coarse = sim.assign(z=sim["z"].round(1))
    compressed = BetaGeo(covariates={"purchase": ["z", "channel"]}, categorical=["channel"]).fit(coarse)
    rowwise = BetaGeo(covariates={"purchase": ["z", "channel"]}, categorical=["channel"])
    monkeypatch.setattr(covariates, "CONTINUOUS_SHARE", 0.0)  # any numeric covariate counts as continuous
    rowwise.fit(coarse)
    assert compressed.n_patterns_ < n and rowwise.n_patterns_ == n
    np.testing.assert_allclose(rowwise.params_.to_numpy(), compressed.params_.to_numpy(), rtol=1e-8)
    assert rowwise.loglik_ == pytest.approx(compressed.loglik_, rel=1e-12)


def test_newton_gives_way_to_the_boundary_handling(cdnow_cov):
    """A covariate that separates the customers who never returned sends the coefficient and
    alpha0 along a ridge to infinity (the log-likelihood rises from -9582 to -8119 and is flat
    along it): Newton's method reports no maximum there, and the L-BFGS-B path warns in plain
    words, as it did before."""
    from clvmodels.exceptions import ConvergenceWarning

    data = cdnow_cov.assign(never=(cdnow_cov["frequency"] == 0).astype(float))
    with pytest.warns(ConvergenceWarning, match="Check for covariates that separate customers"):
        model = BetaGeo(covariates={"purchase": ["never"]}).fit(data)
    assert model.optimizer_["method"] == "L-BFGS-B" and not model.converged_
