"""The contract of the retention-model protocol, run over every registered retention model.

A retention model that registers itself (``@register`` on a
:class:`~clvmodels.models.retention.RetentionModel` subclass, its module imported by
:mod:`clvmodels.models`) gets every test here: parameter recovery from simulated subscribers,
the pmf against the survival function, simulation against the formulas, the DERL's limits and
its simulated futures, the automatic gradient (and any hand-written objective) against the
likelihood, save and load, the Bayesian log density, projections and the subscriber forecast.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clvmodels
from clvmodels import forecast_subscribers
from clvmodels.inference import bayes
from clvmodels.inference.autodiff import loglik_objective
from clvmodels.models.registry import registered
from clvmodels.models.retention import RetentionModel
from clvmodels.subscriber_forecast import SUBSCRIBER_COLUMNS

RETENTION_MODELS = registered("retention")


@pytest.fixture(params=list(RETENTION_MODELS), scope="module")
def model_class(request) -> type:
    return RETENTION_MODELS[request.param]


def _draws(cls: type, n: int = 5, seed: int = 0) -> pd.DataFrame:
    """Parameter draws around the model's example parameters (factors of e^+-0.3)."""
    rng = np.random.default_rng(seed)
    centre = pd.Series(cls.example_params)[list(cls.param_names)]
    return pd.DataFrame(centre.to_numpy() * np.exp(rng.normal(0.0, 0.3, (n, len(centre)))), columns=centre.index)


@pytest.fixture(scope="module")
def simulated(model_class) -> pd.DataFrame:
    """20,000 subscribers from cohorts acquired over 15 periods, from the example parameters."""
    periods = np.random.default_rng(20261130).integers(1, 16, 20_000)
    sim = model_class.formulas.simulate(model_class.example_params, periods, random_seed=1)
    sim["periods"] = periods
    sim.attrs["time_unit"] = "M"
    return sim


@pytest.fixture(scope="module")
def fitted(model_class, simulated):
    return model_class().fit(simulated)


def test_is_registered_under_its_kind():
    assert RETENTION_MODELS, "no retention model is registered"
    assert "retention" in clvmodels.models.registry.KINDS


def test_declares_the_protocol(model_class):
    cls = model_class
    assert issubclass(cls, RetentionModel) and cls.kind == "retention" and cls.key and cls.display_name
    assert cls.columns == ("renewals", "churned")
    assert set(cls.example_params) == set(cls.param_names)
    assert set(cls.default_priors(5.0)) == set(cls.param_names)
    for name in ("loglik", "survival", "churn_probability", "retention_rate", "conditional_survival", "derl",
                 "expected_residual_lifetime", "simulate", "simulate_residual"):
        assert callable(getattr(cls.formulas, name, None)), f"{cls.__name__}.formulas lacks {name}"


def test_fit_recovers_known_parameters(model_class, fitted):
    truth = pd.Series(model_class.example_params)
    assert fitted.converged_ and fitted.n_customers_ == 20_000
    se = np.sqrt(np.diag(fitted.covariance_log_.to_numpy()))
    z = (np.log(fitted.params_) - np.log(truth[fitted.params_.index])) / se
    assert np.all(np.abs(z) < 4), z


def test_automatic_gradient_matches_the_likelihood(model_class, simulated):
    cls = model_class
    n, c = (simulated[k].to_numpy(dtype=float)[:500] for k in ("renewals", "churned"))
    w = np.ones(len(n))
    theta = pd.Series(cls.example_params)[list(cls.param_names)].to_numpy() * 1.1
    value, grad = loglik_objective(cls, (n, c), w)(theta)
    assert value == pytest.approx(float(w @ cls.formulas.loglik(theta, n, c)), rel=1e-10)
    for j in range(len(theta)):
        step = 1e-6 * theta[j]
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        numeric = (w @ cls.formulas.loglik(up, n, c) - w @ cls.formulas.loglik(down, n, c)) / (2 * step)
        assert grad[j] == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    own, _, _ = cls._objective((n, c), w)
    own_value, own_grad = own(theta)
    assert own_value == pytest.approx(value, rel=1e-10)
    np.testing.assert_allclose(own_grad, grad, rtol=1e-8)


def test_pmf_survival_and_retention_agree(model_class):
    f, draws = model_class.formulas, _draws(model_class)
    t = np.arange(1.0, 200.0)
    pmf = f.churn_probability(draws, t)
    assert pmf.shape == (5, len(t))
    np.testing.assert_allclose(pmf.sum(axis=1) + f.survival(draws, np.array([199.0]))[:, 0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(f.retention_rate(draws, t), f.survival(draws, t) / f.survival(draws, t - 1), rtol=1e-11)
    np.testing.assert_allclose(f.conditional_survival(draws, 2.0, t), f.survival(draws, t + 2) / f.survival(draws, t), rtol=1e-10)


def test_simulated_subscribers_agree_with_the_survival_function(model_class, simulated):
    """Among subscribers observed for at least t periods, the share with at least t renewals is S(t)."""
    f, params = model_class.formulas, model_class.example_params
    for t in (1, 3, 8):
        seen = simulated[simulated["periods"] >= t]
        share = float((seen["renewals"] >= t).mean())
        expected = float(f.survival(params, t))
        assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / len(seen))


def test_derl_limits_and_simulated_futures(model_class):
    f, draws = model_class.formulas, _draws(model_class)
    n = np.array([0.0, 2.0, 10.0])
    np.testing.assert_allclose(f.derl(draws, n, 0.05, 4000), f.derl(draws, n, 0.05), rtol=1e-9)
    np.testing.assert_allclose(f.derl(draws, n, 0.0, 12), f.expected_residual_lifetime(draws, n, 12), rtol=1e-14)
    assert np.all(f.derl(draws, n, 0.05) <= f.expected_residual_lifetime(draws, n, None))
    np.testing.assert_allclose(f.derl(draws, n, 0.05, 1), f.conditional_survival(draws, 1.0, n), rtol=1e-12)
    params = model_class.example_params
    names = model_class.param_names
    size = 200_000
    cells = tuple(np.full((size, 1), params[k]) for k in names)
    _, value = f.simulate_residual(np.random.default_rng(3), cells, np.array([4.0]), 0.05, None)
    expected = float(f.derl(params, 4.0, 0.05))
    assert value.mean() == pytest.approx(expected, abs=4 * value.std() / np.sqrt(size))


def test_save_and_load_round_trip(model_class, fitted, tmp_path):
    loaded = clvmodels.load(fitted.save(tmp_path / "model.json"))
    assert type(loaded) is model_class
    pd.testing.assert_series_equal(loaded.params_, fitted.params_)
    pd.testing.assert_frame_equal(loaded.covariance_, fitted.covariance_)
    assert loaded.loglik_ == fitted.loglik_ and loaded.time_unit_ == "M"


def test_bayesian_logp_is_the_likelihood_plus_the_log_prior(model_class, simulated):
    cls = model_class
    patterns, weights, _, _ = cls()._pattern_data(simulated.iloc[:2000])
    priors = bayes.resolve_priors(cls.__name__, None, bayes._data_scale(cls.__name__, patterns, weights))
    model = bayes.build_pymc_model(cls.__name__, patterns, weights, priors)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        logp = model.compile_logp()
    for _, theta in _draws(cls, n=3, seed=2).iterrows():
        u = np.log(theta.to_numpy())
        log_prior = sum(
            stats.lognorm.logpdf(theta[k], s=priors[k].params["sigma"], scale=np.exp(priors[k].params["mu"])) for k in cls.param_names
        )
        expected = float(weights @ cls.formulas.loglik(theta, *patterns)) + log_prior + float(u.sum())
        assert float(logp({f"{k}_log__": v for k, v in zip(cls.param_names, u)})) == pytest.approx(expected, rel=1e-8)


def test_map_fit_runs_through_the_protocol(model_class, simulated):
    model = model_class().fit(simulated.iloc[:3000], method="map")
    assert model.method_ == "map" and model.converged_ and set(model.priors_) == set(model_class.param_names)


def test_projections_have_ordered_bands(fitted):
    survival = fitted.survival_curve(range(0, 25), n_draws=200, random_seed=1, cohort_size=500)
    assert (survival["lower"] <= survival["expected"] + 1e-12).all() and (survival["expected"] <= survival["upper"] + 1e-12).all()
    assert (survival["survivors_pred_lower"] <= survival["survivors_pred_upper"]).all()
    assert (np.diff(survival["expected"]) <= 0).all()
    retention = fitted.retention_curve(range(1, 25), n_draws=200, random_seed=1, cohort_size=500)
    assert (retention["lower"] <= retention["expected"] + 1e-12).all() and (retention["expected"] <= retention["upper"] + 1e-12).all()
    assert (retention["retention_pred_lower"] <= retention["retention_pred_upper"]).all()


def test_forecast_gives_every_column_with_bounds_in_order(fitted, simulated):
    data = simulated[["renewals", "churned"]].iloc[:4000].copy()
    data.attrs["time_unit"] = "M"
    result = forecast_subscribers(fitted, data, margin=25.0, discount_rate=0.12, n_draws=200, random_seed=1)
    table = result.to_frame()
    assert list(table.columns) == list(SUBSCRIBER_COLUMNS) and len(table) == int((~data["churned"]).sum())
    assert table.drop(columns=[c for c in table.columns if c.startswith("expected_residual")]).notna().all().all()
    for name in ("derl", "clv"):
        assert (table[f"{name}_lower"] <= table[name] * (1 + 1e-9)).all() and (table[name] <= table[f"{name}_upper"] * (1 + 1e-9)).all()
    assert (table["clv_pred_lower"] <= table["clv_pred_upper"]).all()
    assert list(result.summary().index) == ["derl", "clv"]
