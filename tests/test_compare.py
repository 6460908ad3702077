"""compare_models: the criteria are computed right, the holdout columns are evaluate_holdout's,
and on data simulated from a known model the comparison sees it."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeo, GammaGamma, compare_models, evaluate_holdout
from clvmodels.exceptions import StatisticalWarning
from clvmodels.models.beta_geo import simulate

from .conftest import TRANSACTION_MODELS


@pytest.fixture(scope="module")
def cdnow_fits(cdnow_calibration):
    # the models of continuous time (BG/BB counts occasions: a summary of other data)
    return {key: cls().fit(cdnow_calibration) for key, cls in TRANSACTION_MODELS.items() if cls.time_kind == "continuous"}


@pytest.fixture(scope="module")
def comparison(cdnow_fits, cdnow_calibration):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return compare_models(cdnow_fits, cdnow_calibration, random_seed=3)


def test_criteria_and_holdout_columns(comparison, cdnow_fits, cdnow_calibration):
    table = comparison.table
    assert list(table.index) == list(cdnow_fits)
    for name, model in cdnow_fits.items():
        row = table.loc[name]
        k, n = len(model.param_names), model.n_customers_
        assert row["n_params"] == k and row["n_customers"] == 2357
        assert row["aic"] == pytest.approx(2 * k - 2 * model.loglik_)
        assert row["bic"] == pytest.approx(k * np.log(n) - 2 * model.loglik_)
        report = evaluate_holdout(model, cdnow_calibration, random_seed=3, warn=False)
        for column in ("actual_total", "predicted_total", "relative_error", "mae", "pit_p_value"):
            assert row[column] == pytest.approx(float(report.metrics[column]), rel=1e-12), column
        assert row["holdout_passed"] == report.passed
    assert table["actual_total"].nunique() == 1 and table.loc["bgnbd", "actual_total"] == 1882
    assert comparison.best("bic") == table["bic"].idxmin()
    assert comparison.best("aic") == table["aic"].idxmin()


def test_best_by_holdout_prefers_models_that_pass():
    table = pd.DataFrame(
        {"relative_error": [-0.01, 0.05, 0.02], "mae": [0.5, 0.4, 0.3], "holdout_passed": [False, True, True]},
        index=["a", "b", "c"],
    )
    from clvmodels.compare import ModelComparison

    assert ModelComparison(table, {}, {}).best("holdout") == "c"
    assert ModelComparison(table.assign(holdout_passed=False), {}, {}).best("holdout") == "a"
    with pytest.raises(ValueError, match="rule"):
        ModelComparison(table, {}, {}).best("r2")


def test_cdnow_bgnbd_fails_its_holdout_and_the_comparison_says_so(cdnow_calibration):
    model = BetaGeo().fit(cdnow_calibration)
    with pytest.warns(StatisticalWarning, match="no model passes its holdout"):
        result = compare_models([model, BetaGeo(penalty=0.001).fit(cdnow_calibration)], cdnow_calibration, n_draws=0, random_seed=0)
    assert list(result.table.index) == ["bgnbd", "bgnbd-2"]
    assert "fails its holdout" in repr(result)


def test_known_truth_passes_and_wins_on_likelihood():
    """Customers simulated from a BG/NBD: the BG/NBD fit passes its holdout."""
    params = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 3.0}
    rng = np.random.default_rng(12)
    data = simulate(params, rng.uniform(20, 60, 8000), holdout=39.0, random_seed=rng)
    data.attrs["time_unit"] = "W"
    result = compare_models([BetaGeo().fit(data)], data, random_seed=1)
    assert bool(result.table.loc["bgnbd", "holdout_passed"])
    assert abs(result.table.loc["bgnbd", "relative_error"]) < 0.05


def test_refuses_what_is_not_a_fitted_transaction_model(cdnow_calibration):
    with pytest.raises(ValueError, match="spend model"):
        compare_models([GammaGamma().fit(cdnow_calibration)], cdnow_calibration)
    with pytest.raises(Exception, match="not fitted"):
        compare_models([BetaGeo()], cdnow_calibration)
    with pytest.raises(ValueError, match="at least one"):
        compare_models([], cdnow_calibration)


@pytest.mark.slow
def test_posterior_fits_are_compared_by_loo(cdnow_calibration):
    import arviz as az

    fits = {
        "bgnbd": BetaGeo(draws=500, chains=2, random_seed=1).fit(cdnow_calibration, method="nuts"),
        "mbgnbd": TRANSACTION_MODELS["mbgnbd"](draws=500, chains=2, random_seed=1).fit(cdnow_calibration, method="nuts"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        result = compare_models(fits, cdnow_calibration, n_draws=0, random_seed=0)
    table = result.table
    loo = az.loo(fits["bgnbd"].idata_)
    assert table.loc["bgnbd", "elpd_loo"] == pytest.approx(float(loo["elpd_loo"]))
    assert np.isnan(table.loc["bgnbd", "bic"])  # no BIC for a posterior
    assert result.best("loo") == table["elpd_loo"].idxmax()
    with pytest.raises(ValueError, match="maximum-likelihood"):
        result.best("bic")
