"""Published reference figures and the CDNOW summary shared by the model tests.

Sources: Fader, Hardie & Lee (2005) "Counting your customers the easy way" and its notes;
Fader & Hardie (2013) "The Gamma-Gamma model of monetary value" (see
../shared/reference/published_figures.md). Tolerances are the printed precision.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

import clvmodels
from clvmodels.datasets import load_cdnow_sample

DATA = Path(__file__).parent / "data"

BGNBD_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
BGNBD_LOGLIK = -9582.4
# E[X(t)] of a new customer at the full-precision MLE
BGNBD_EXPECTED_NEW = {0.1429: 0.0078, 1.0: 0.0532, 3.0: 0.1506, 31.8571: 1.0405, 32.0: 1.0437, 78.0: 1.8576}
# per-customer log-likelihood of customers 1..6 (spreadsheet; rounded data, unrounded MLE)
BGNBD_LOGLIK_CUSTOMERS = [-9.4596, -4.4711, -0.5538, -0.5538, -0.5538, -21.8644]

GG_PARAMS = {"p": 6.25, "q": 3.74, "gamma": 15.44}
GG_EXPECTED_SPEND = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
GG_MEAN_SPEND = 35.17
GG_OBSERVED_MEAN = 35.08
GG_CORRELATION = 0.11
GG_LOGLIK_MEAN = -4055.9
GG_LOGLIK_TOTAL = -4659.3


@lru_cache(maxsize=1)
def _cdnow() -> pd.DataFrame:
    return clvmodels.calibration_holdout_split(
        load_cdnow_sample(),
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="W",
        amount_col="amount",
    )


def cdnow_summary() -> pd.DataFrame:
    """CDNOW sample summarised from the raw log (weeks, calibration to 1997-09-30), a copy."""
    return _cdnow().copy()


def published_summary() -> pd.DataFrame:
    """The published summary (t_x and T rounded to 2 decimals), as frequency/recency/T/monetary_value."""
    raw = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv", index_col="ID")
    return raw.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


# MBG/NBD on the CDNOW summary above (weeks): software output (lifetimes' ModifiedBetaGeoFitter),
# not a paper; compared at the printed precision
MBGNBD_PARAMS = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}

# Pareto/NBD on the CDNOW summary above (weeks; Fader, Hardie & Lee 2005, "RFM and CLV")
PARETO_NBD_PARAMS = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
PARETO_NBD_LOGLIK = -9595.0
