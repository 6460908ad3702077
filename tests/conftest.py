"""Shared fixtures: the CDNOW summaries and the registered models."""

from __future__ import annotations

import pandas as pd
import pytest

from clvmodels.models.registry import registered

from .published import cdnow_summary

#: every registered transaction model class, by key (the contract tests run over all of them)
TRANSACTION_MODELS = registered("transactions")
SPEND_MODELS = registered("spend")


@pytest.fixture(scope="session")
def cdnow_calibration() -> pd.DataFrame:
    """CDNOW sample, weeks, calibration to 1997-09-30 with the holdout to 1998-06-30 (read-only:
    tests that change it take a copy)."""
    return cdnow_summary()


@pytest.fixture(params=list(TRANSACTION_MODELS), scope="module")
def transaction_model_class(request) -> type:
    """Each registered transaction model class in turn."""
    return TRANSACTION_MODELS[request.param]


@pytest.fixture(params=list(SPEND_MODELS), scope="module")
def spend_model_class(request) -> type:
    """Each registered spend model class in turn."""
    return SPEND_MODELS[request.param]
