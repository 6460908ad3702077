"""Fitting on a pattern table (distinct histories with a weight) gives the fit of the full
summary, for every registered model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels.datasets import load_cdnow_sample
from clvmodels import GammaGamma

from .conftest import TRANSACTION_MODELS


@pytest.mark.parametrize("key", list(TRANSACTION_MODELS))
def test_pattern_table_fit_equals_the_full_fit(key, cdnow_calibration):
    cls = TRANSACTION_MODELS[key]
    data, unit = cdnow_calibration, "W"
    if cls.time_kind == "discrete":  # CDNOW in monthly occasions
        data, unit = clvmodels.discrete_summary(load_cdnow_sample(), occasion="M", observation_end="1997-09-30"), "M"
    patterns = clvmodels.pattern_table(data, columns=cls.columns)
    assert int(patterns["weight"].sum()) == 2357 and len(patterns) < 2357
    full = cls().fit(data)
    compact = cls().fit(patterns, sample_weight="weight")
    # the same optimum: to 1e-9, or where the likelihood is as flat as BG/BB's on CDNOW in months
    # (delta = 31.5 with a standard error of 104) to a millionth of a standard error
    se = np.sqrt(np.diag(full.covariance_.to_numpy()))
    difference = np.abs(compact.params_.to_numpy() - full.params_.to_numpy())
    assert np.all(difference <= np.maximum(1e-9 * full.params_.to_numpy(), 1e-6 * se)), (difference, se)
    assert compact.loglik_ == pytest.approx(full.loglik_, rel=1e-12)
    assert compact.n_customers_ == 2357 and compact.time_unit_ == unit
    # an array of weights is the same
    same = cls().fit(patterns, sample_weight=patterns["weight"].to_numpy())
    np.testing.assert_allclose(same.params_, compact.params_, rtol=1e-12)


def test_spend_model_on_patterns_uses_weighted_moments(cdnow_calibration):
    patterns = clvmodels.pattern_table(cdnow_calibration, columns=("frequency", "monetary_value"))
    full = GammaGamma().fit(cdnow_calibration)
    compact = GammaGamma().fit(patterns, sample_weight="weight")
    np.testing.assert_allclose(compact.params_, full.params_, rtol=1e-9)
    assert compact.frequency_spend_corr_ == pytest.approx(full.frequency_spend_corr_, rel=1e-9)


def test_bad_weights_are_clear_errors(cdnow_calibration):
    patterns = clvmodels.pattern_table(cdnow_calibration)
    with pytest.raises(ValueError, match="not a column"):
        clvmodels.BetaGeo().fit(patterns, sample_weight="count")
    with pytest.raises(ValueError, match="negative"):
        clvmodels.BetaGeo().fit(patterns.assign(weight=-1), sample_weight="weight")
    with pytest.raises(ValueError, match="one per row"):
        clvmodels.BetaGeo().fit(patterns, sample_weight=np.ones(3))
