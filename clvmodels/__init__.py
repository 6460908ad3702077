"""clvmodels: probabilistic customer-lifetime-value models with honest uncertainty.

Public names::

    rfm_summary, calibration_holdout_split   transaction log -> per-customer summary
    BetaGeo                                  BG/NBD model of purchasing and dropping out
    GammaGamma                               Gamma-Gamma model of spend per transaction
    forecast, Forecast                       per-customer CLV with credible and predictive intervals
    evaluate_holdout                         holdout accuracy, interval coverage and PIT
    datasets                                 CDNOW and donations data

Importing clvmodels never imports pymc, arviz or matplotlib.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import datasets
from .data import calibration_holdout_split, rfm_summary
from .exceptions import ConvergenceWarning, DataWarning, NotFittedError, StatisticalWarning
from .forecast import Forecast, forecast
from .models.beta_geo import BetaGeo
from .models.gamma_gamma import GammaGamma
from .validation import HoldoutReport, evaluate_holdout

try:
    __version__ = version("clvmodels")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "BetaGeo",
    "GammaGamma",
    "rfm_summary",
    "calibration_holdout_split",
    "evaluate_holdout",
    "forecast",
    "Forecast",
    "HoldoutReport",
    "datasets",
    "ConvergenceWarning",
    "DataWarning",
    "NotFittedError",
    "StatisticalWarning",
    "__version__",
]
