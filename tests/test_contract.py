"""The contract of the transaction-model protocol, run over every registered model.

A new model that registers itself (``@register`` on a :class:`TransactionModel` subclass, with
its module imported by :mod:`clvmodels.models`) gets every test here: parameter recovery from
data simulated with known truth, the pmf against the expectations, simulation against the
formulas, P(alive) in [0, 1], discounting in the limit of a zero rate, the automatic gradient
against the likelihood (and any hand-written objective against it), save and load, the
Bayesian log-density against the likelihood plus the log prior, and the forecast's columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clvmodels import GammaGamma, forecast
from clvmodels.exceptions import ConvergenceWarning
from clvmodels.forecast import COLUMNS, PURCHASE_COLUMNS, _simulate_future
from clvmodels.streams import KeyedGenerator, cell_keys, history_keys
from clvmodels.inference import bayes
from clvmodels.inference.autodiff import loglik_objective
from clvmodels.models import gamma_gamma as gg
from clvmodels.models.base import TransactionModel

from .conftest import TRANSACTION_MODELS

#: histories spanning the space: no repeat, a few, many; recent and long ago
HISTORIES = (
    np.array([0.0, 1.0, 2.0, 5.0, 12.0, 30.0, 3.0]),
    np.array([0.0, 5.0, 30.43, 20.0, 38.0, 38.5, 2.0]),
    np.array([38.86, 38.86, 38.86, 40.0, 39.0, 39.0, 52.0]),
)
#: the same for a model in discrete time (whole occasions, frequency <= recency <= n_periods)
HISTORIES_DISCRETE = (
    np.array([0.0, 1.0, 2.0, 5.0, 3.0, 6.0, 0.0]),
    np.array([0.0, 1.0, 4.0, 6.0, 5.0, 10.0, 0.0]),
    np.array([6.0, 6.0, 6.0, 6.0, 8.0, 10.0, 1.0]),
)


def _discrete(cls: type) -> bool:
    return cls.time_kind == "discrete"


def _histories(cls: type) -> tuple[np.ndarray, ...]:
    return HISTORIES_DISCRETE if _discrete(cls) else HISTORIES


#: the holdout the simulated customers are followed for, in the model's time
def _holdout(cls: type) -> float:
    return 5.0 if _discrete(cls) else 39.0


def _draws(model_class: type, n: int = 5, seed: int = 0) -> pd.DataFrame:
    """Parameter draws around the model's example parameters (factors of e^+-0.3)."""
    rng = np.random.default_rng(seed)
    centre = pd.Series(model_class.example_params)[list(model_class.param_names)]
    values = centre.to_numpy() * np.exp(rng.normal(0.0, 0.3, size=(n, len(centre))))
    return pd.DataFrame(values, columns=centre.index)


@pytest.fixture(scope="module")
def simulated(transaction_model_class):
    """20,000 customers simulated from the example parameters, with a holdout of 39 weeks."""
    cls = transaction_model_class
    rng = np.random.default_rng(20261130)
    # continuous: T in weeks; discrete: 4 to 12 occasions observed (years of a yearly occasion)
    T = rng.integers(4, 13, 20_000).astype(float) if _discrete(cls) else rng.uniform(26.0, 78.0, 20_000)
    sim = cls.formulas.simulate(cls.example_params, T, holdout=_holdout(cls), random_seed=rng)
    sim.attrs["time_unit"] = "Y" if _discrete(cls) else "W"
    return sim


@pytest.fixture(scope="module")
def fitted(transaction_model_class, simulated):
    return transaction_model_class().fit(simulated)


def test_declares_the_protocol(transaction_model_class):
    cls = transaction_model_class
    assert issubclass(cls, TransactionModel)
    assert cls.key and cls.display_name and cls.kind == "transactions"
    assert set(cls.example_params) == set(cls.param_names)
    assert set(cls.default_priors(30.0)) == set(cls.param_names)
    for name in (
        "loglik", "prob_alive", "expected_purchases", "expected_purchases_new", "prob_purchases",
        "prob_purchases_conditional", "prob_purchases_table", "discounted_purchases_if_alive",
        "discounted_purchases_if_alive_discrete", "discounted_expected_purchases",
        "discounted_expected_purchases_discrete", "simulate",
        "simulate_future_occasions" if _discrete(cls) else "simulate_future_if_alive",
    ):
        assert callable(getattr(cls.formulas, name, None)), f"{cls.__name__}.formulas lacks {name}"
    assert cls.time_kind in ("continuous", "discrete")
    assert len(cls.columns) == 3 and cls.columns[:2] == ("frequency", "recency")


def test_fit_recovers_known_parameters(transaction_model_class, fitted):
    """Maximum likelihood on 20,000 simulated customers finds the truth within 4 standard errors."""
    truth = pd.Series(transaction_model_class.example_params)
    assert fitted.converged_
    se = np.sqrt(np.diag(fitted.covariance_log_.to_numpy()))
    z = (np.log(fitted.params_) - np.log(truth[fitted.params_.index])) / se
    assert np.all(np.abs(z) < 4), z


def test_automatic_gradient_matches_the_likelihood(transaction_model_class, simulated):
    """The PyTensor gradient of the one likelihood against central differences of the numpy
    likelihood, and any hand-written objective against both."""
    cls = transaction_model_class
    x, t_x, T = (simulated[c].to_numpy(dtype=float)[:500] for c in cls.columns)
    w = np.ones(len(x))
    theta = pd.Series(cls.example_params)[list(cls.param_names)].to_numpy() * 1.1
    value, grad = loglik_objective(cls, (x, t_x, T), w)(theta)
    assert value == pytest.approx(float(w @ cls.formulas.loglik(theta, x, t_x, T)), rel=1e-10)
    for j in range(len(theta)):
        step = 1e-6 * theta[j]
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        numeric = (w @ cls.formulas.loglik(up, x, t_x, T) - w @ cls.formulas.loglik(down, x, t_x, T)) / (2 * step)
        assert grad[j] == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    own, _, _ = cls._objective((x, t_x, T), w)
    own_value, own_grad = own(theta)
    assert own_value == pytest.approx(value, rel=1e-10)
    np.testing.assert_allclose(own_grad, grad, rtol=1e-8, atol=1e-8 * np.abs(grad).max())


def test_prob_alive_is_a_probability(transaction_model_class):
    f = transaction_model_class.formulas
    histories = _histories(transaction_model_class)
    alive = f.prob_alive(_draws(transaction_model_class), *histories)
    assert alive.shape == (5, len(histories[0]))
    assert np.all((alive >= 0) & (alive <= 1))


def test_pmf_sums_to_one_and_its_mean_is_the_expectation(transaction_model_class):
    cls = transaction_model_class
    f, params = cls.formulas, cls.example_params
    histories = _histories(cls)
    n = np.arange(400.0)
    for t in (1.0, 39.0, 104.0):
        pmf = f.prob_purchases(params, n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-8)
        assert n @ pmf == pytest.approx(float(f.expected_purchases_new(params, t)), rel=1e-7)
        conditional = f.prob_purchases_conditional(params, n[:, None], t, *histories)
        np.testing.assert_allclose(conditional.sum(axis=0), 1.0, atol=1e-8)
        np.testing.assert_allclose(n @ conditional, f.expected_purchases(params, t, *histories), rtol=1e-7)
        table = f.prob_purchases_table(params, 399, t, *histories)
        np.testing.assert_allclose(table, conditional, rtol=1e-9, atol=1e-14)


def test_simulated_customers_agree_with_the_formulas(transaction_model_class, simulated):
    """Mean calibration and holdout purchases of simulated customers against E[X(T)] and the
    conditional expectation given each simulated history (4 standard errors)."""
    cls = transaction_model_class
    f, params = cls.formulas, cls.example_params
    x, T = simulated["frequency"].to_numpy(float), simulated[cls.columns[2]].to_numpy(float)
    expected = f.expected_purchases_new(params, T)
    se = x.std() / np.sqrt(len(x))
    assert abs(x.mean() - expected.mean()) < 4 * se
    holdout = simulated["frequency_holdout"].to_numpy(float)
    predicted = f.expected_purchases(params, _holdout(cls), x, simulated["recency"].to_numpy(float), T)
    assert abs(holdout.mean() - predicted.mean()) < 4 * holdout.std() / np.sqrt(len(x))


@pytest.mark.parametrize("discounting", ["continuous", "discrete"])
def test_simulated_futures_follow_the_model(transaction_model_class, discounting):
    """For one history and fixed parameters, the forecast's simulated futures follow the exact
    conditional pmf, and their mean value is expected spend times discounted purchases."""
    f, params = transaction_model_class.formulas, transaction_model_class.example_params
    names = transaction_model_class.param_names
    params_gg = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    n = 200_000
    if _discrete(transaction_model_class):  # occasions: a longer horizon, a period of two occasions
        x, t_x, T, m = np.array([2.0]), np.array([4.0]), np.array([6.0]), np.array([35.0])
        horizon, delta, period, rate = 12.0, 0.1, 2.0, 0.15
    else:
        x, t_x, T, m = np.array([2.0]), np.array([30.43]), np.array([38.86]), np.array([35.0])
        horizon, delta, period, rate = 52.0, 0.01, 4.0, 0.05
    alive = f.prob_alive(params, x, t_x, T)
    tx_arrays = tuple(np.full((n, 1), params[k]) for k in names)
    gg_arrays = tuple(np.full((n, 1), params_gg[k]) for k in gg.PARAM_NAMES)
    if discounting == "continuous":
        discount = lambda t: np.exp(-delta * t)  # noqa: E731
        det = f.discounted_expected_purchases(params, horizon, delta, x, t_x, T)
    else:
        discount = lambda t: (1 + rate) ** -np.ceil(t / period)  # noqa: E731
        det = f.discounted_expected_purchases_discrete(params, int(horizon / period), period, rate, x, t_x, T)
    rng = KeyedGenerator(cell_keys(history_keys(np.uint64(5), x, T, m), n))  # one stream per simulated future
    counts, values = _simulate_future(rng, np.full((n, 1), alive), f, tx_arrays, gg, gg_arrays, x, T, m, horizon, discount)
    k = np.arange(8)
    pmf = f.prob_purchases_conditional(params, k[:, None], horizon, x, t_x, T)[:, 0]
    observed = np.bincount(counts[:, 0], minlength=8)[:8] / n
    assert np.all(np.abs(observed - pmf) <= 4 * np.sqrt(pmf * (1 - pmf) / n) + 1e-5), (observed, pmf)
    expected_value = float(gg.expected_spend(params_gg, x, m)[0] * det[0])
    assert values.mean() == pytest.approx(expected_value, abs=4 * values.std() / np.sqrt(n))


def test_discounting_tends_to_no_discounting(transaction_model_class):
    f, draws = transaction_model_class.formulas, _draws(transaction_model_class)
    x, t_x, T = _histories(transaction_model_class)
    undiscounted = f.expected_purchases(draws, 52.0, x, t_x, T)
    np.testing.assert_allclose(f.discounted_expected_purchases(draws, 52.0, 0.0, x, t_x, T), undiscounted, rtol=1e-8)
    np.testing.assert_allclose(f.discounted_expected_purchases(draws, 52.0, 1e-7, x, t_x, T), undiscounted, rtol=1e-5)
    np.testing.assert_allclose(
        f.discounted_expected_purchases_discrete(draws, 52, 1.0, 1e-9, x, t_x, T), undiscounted, rtol=1e-7
    )
    alive = f.prob_alive(draws, x, t_x, T)
    np.testing.assert_allclose(alive * f.discounted_purchases_if_alive(draws, 52.0, 0.01, x, T),
                               f.discounted_expected_purchases(draws, 52.0, 0.01, x, t_x, T), rtol=1e-9)
    # a long finite horizon approaches the infinite one
    np.testing.assert_allclose(f.discounted_purchases_if_alive(draws, 40_000.0, 0.01, x, T),
                               f.discounted_purchases_if_alive(draws, np.inf, 0.01, x, T), rtol=1e-6)


def test_save_and_load_round_trip(transaction_model_class, fitted, tmp_path):
    import clvmodels

    path = fitted.save(tmp_path / "model.json")
    loaded = clvmodels.load(path)
    assert type(loaded) is transaction_model_class
    pd.testing.assert_series_equal(loaded.params_, fitted.params_)
    pd.testing.assert_frame_equal(loaded.covariance_, fitted.covariance_)
    assert loaded.loglik_ == fitted.loglik_ and loaded.time_unit_ == fitted.time_unit_


def test_bayesian_logp_is_the_likelihood_plus_the_log_prior(transaction_model_class, simulated):
    """PyMC's log density (log scale, Jacobian included) equals the numpy log-likelihood plus the
    log prior plus sum(log theta), at random parameters."""
    cls = transaction_model_class
    data = simulated.iloc[:2000]
    patterns, weights, _, _ = cls()._pattern_data(data)
    scale = bayes._data_scale(cls.__name__, patterns, weights)
    priors = bayes.resolve_priors(cls.__name__, None, scale)
    model = bayes.build_pymc_model(cls.__name__, patterns, weights, priors)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        logp = model.compile_logp()
    for _, theta in _draws(cls, n=3, seed=2).iterrows():
        u = np.log(theta.to_numpy())
        point = {f"{n}_log__": v for n, v in zip(cls.param_names, u)}
        log_prior = sum(
            stats.lognorm.logpdf(theta[n], s=priors[n].params["sigma"], scale=np.exp(priors[n].params["mu"]))
            for n in cls.param_names
        )
        expected = float(weights @ cls.formulas.loglik(theta, *patterns)) + log_prior + float(u.sum())
        assert float(logp(point)) == pytest.approx(expected, rel=1e-8)


def test_map_fit_runs_through_the_protocol(transaction_model_class, simulated):
    model = transaction_model_class().fit(simulated.iloc[:3000], method="map")
    assert model.method_ == "map" and model.converged_
    assert set(model.priors_) == set(transaction_model_class.param_names)


def test_forecast_gives_every_column_with_bounds_in_order(transaction_model_class, cdnow_calibration, simulated):
    if _discrete(transaction_model_class):  # 3,000 simulated customers with simulated spend
        data = simulated.iloc[:3000].drop(columns=["frequency_holdout", "duration_holdout"])
        data["monetary_value"] = gg.simulate({"p": 6.25, "q": 3.74, "gamma": 15.44}, data["frequency"], random_seed=3)["monetary_value"].to_numpy()
        columns = [c if c != "T" else "n_periods" for c in COLUMNS]
    else:
        data, columns = cdnow_calibration, list(COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = transaction_model_class().fit(data)
    spend = GammaGamma().fit(data)
    table = forecast(model, spend, data, horizon=52, discount_rate=0.15, n_draws=200, random_seed=1).to_frame()
    assert list(table.columns) == columns
    assert table.notna().all().all()
    for name in ("prob_alive", "expected_purchases", "expected_spend", "clv"):
        assert (table[f"{name}_lower"] <= table[name] * (1 + 1e-9) + 1e-12).all(), name
        assert (table[name] <= table[f"{name}_upper"] * (1 + 1e-9) + 1e-12).all(), name
    assert (table["purchases_pred_lower"] <= table["purchases_pred_upper"]).all()
    assert (table["clv_pred_lower"] <= table["clv_pred_upper"]).all()
    # without a spend model: the purchase forecast only
    purchases = forecast(model, None, data, horizon=52, discount_rate=0.15, n_draws=50, random_seed=1).to_frame()
    assert "clv" not in purchases.columns and set(PURCHASE_COLUMNS) <= set(purchases.columns)
    np.testing.assert_array_equal(purchases["prob_alive"], table["prob_alive"])
    assert (purchases["discounted_purchases"] <= purchases["expected_purchases"]).all()


def test_every_registered_model_is_listed_in_errors():
    from clvmodels.models.registry import model_class

    with pytest.raises(ValueError) as error:
        model_class("no-such-model")
    for key in TRANSACTION_MODELS:
        assert repr(key) in str(error.value)
