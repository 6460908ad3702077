"""Parameter draws (Laplace and bootstrap) and the calibration of the intervals they imply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeo, ConvergenceWarning, GammaGamma
from clvmodels.models import beta_geo as bg

from .published import cdnow_summary


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def fitted(cdnow) -> BetaGeo:
    return BetaGeo().fit(cdnow)


def test_laplace_draws_follow_the_asymptotic_normal(fitted):
    draws = fitted.sample_params(40_000, random_seed=1)
    assert list(draws.columns) == ["r", "alpha", "a", "b"] and draws.index.name == "draw"
    assert (draws > 0).all().all()
    logs = np.log(draws)
    se = np.sqrt(np.diag(fitted.covariance_log_))
    np.testing.assert_array_less(np.abs(logs.mean() - np.log(fitted.params_)), 4 * se / np.sqrt(len(draws)))
    # whitened by the model's covariance, the draws have identity covariance (entry sd ~ 1/sqrt(n))
    chol = np.linalg.cholesky(fitted.covariance_log_.to_numpy())
    white = np.linalg.solve(chol, (logs - np.log(fitted.params_)).to_numpy().T)
    np.testing.assert_allclose(np.cov(white), np.eye(4), atol=5 * np.sqrt(2 / len(draws)))
    pd.testing.assert_frame_equal(draws.head(50), fitted.sample_params(40_000, random_seed=1).head(50))
    assert not draws.equals(fitted.sample_params(40_000, random_seed=2))


def test_draws_broadcast_through_the_formulas(fitted, cdnow):
    draws = fitted.sample_params(300, random_seed=0)
    x, t_x, T = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    alive = bg.prob_alive(draws, x, t_x, T)
    assert alive.shape == (300, len(cdnow))
    np.testing.assert_allclose(alive[7], bg.prob_alive(draws.iloc[7], x, t_x, T), rtol=1e-14)
    # the draws' spread matches the delta method on the population purchase rate r / alpha
    rate = draws["r"] / draws["alpha"]
    g = np.array([1 / fitted.params_["alpha"], -fitted.params_["r"] / fitted.params_["alpha"] ** 2])
    delta_sd = np.sqrt(g @ fitted.covariance_.to_numpy()[:2, :2] @ g)
    assert rate.std() == pytest.approx(delta_sd, rel=0.15)


def test_laplace_needs_a_finite_covariance():
    data = pd.DataFrame({"frequency": [0] * 50, "recency": [0.0] * 50, "T": np.linspace(5, 50, 50)})
    with pytest.warns(ConvergenceWarning):
        model = BetaGeo().fit(data)
    if np.all(np.isfinite(model.covariance_log_)):
        pytest.skip("this boundary fit happened to have a finite covariance")
    with pytest.raises(ValueError, match="no finite covariance"):
        model.sample_params(10)


def test_bad_arguments(fitted):
    with pytest.raises(ValueError, match="method"):
        fitted.sample_params(10, method="jackknife")
    with pytest.raises(ValueError, match="n_draws"):
        fitted.sample_params(0)


@pytest.mark.slow
def test_bootstrap_is_seeded_and_agrees_with_the_asymptotics(fitted, cdnow):
    two = fitted.sample_params(200, method="bootstrap", random_seed=3, n_jobs=2)
    one = fitted.sample_params(200, method="bootstrap", random_seed=3, n_jobs=1)
    pd.testing.assert_frame_equal(one, two)
    assert (two > 0).all().all()
    # the bootstrap centres on the estimate and its spread is of the asymptotic size
    se = fitted.summary()["std_error"]
    np.testing.assert_array_less(np.abs(np.log(two.median() / fitted.params_)), 0.1)
    ratio = two.std() / se
    assert ratio.between(0.8, 1.6).all(), ratio


@pytest.mark.slow
def test_gamma_gamma_bootstrap(cdnow):
    model = GammaGamma().fit(cdnow)
    draws = model.sample_params(100, method="bootstrap", random_seed=4)
    assert list(draws.columns) == ["p", "q", "gamma"]
    ratio = draws.std() / model.summary()["std_error"]
    assert ratio.between(0.6, 1.8).all(), ratio


@pytest.mark.slow
def test_intervals_cover_the_truth_at_their_nominal_rate():
    """300 simulated datasets of 5,000 customers: 90% intervals cover each parameter ~90%."""
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}
    rng = np.random.default_rng(5)
    repeats = 300
    hits = dict.fromkeys(truth, 0)
    for _ in range(repeats):
        sim = bg.simulate(truth, rng.uniform(20, 60, 5000), random_seed=rng)
        table = BetaGeo().fit(sim).summary(ci=0.9)
        for name, value in truth.items():
            hits[name] += table.loc[name, "lower"] < value < table.loc[name, "upper"]
    tolerance = 3.5 * np.sqrt(0.9 * 0.1 / repeats)  # 3.5 binomial standard errors
    for name, count in hits.items():
        assert abs(count / repeats - 0.9) < tolerance, (name, count / repeats)
