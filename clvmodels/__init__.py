"""clvmodels: probabilistic customer-lifetime-value models with honest uncertainty.

Public names::

    rfm_summary, calibration_holdout_split   transaction log -> per-customer summary (pandas, or
                                             DuckDB for files too big for pandas: engine=)
    discrete_summary                         transaction log -> summary in discrete occasions (BG/BB)
    pattern_table                            the distinct (frequency, recency, T) with a weight
    BetaGeo, ParetoNBD, ModifiedBetaGeo      BG/NBD, Pareto/NBD and MBG/NBD models of purchasing and dropping out
    BetaGeoBetaBinom                         BG/BB: the same in discrete occasions (discrete_summary)
    GammaGamma                               Gamma-Gamma model of spend per transaction
    ShiftedBetaGeo, survivors_to_patterns    sBG model of subscribers' retention; survivor counts -> patterns
    forecast_subscribers                     residual value (DERL x margin) of active subscribers, with intervals
    evaluate_subscriber_holdout              a retention model's renewals after a calibration end, by cohort
    forecast, Forecast                       per-customer CLV with credible and predictive intervals
    evaluate_holdout                         holdout accuracy, interval coverage and PIT
    compare_models                           fit criteria and holdout accuracy of several models
    acquisition_cohorts                      each customer's first-purchase cohort (for segments=)
    join_attributes                          a summary with per-customer attributes (covariates, segments)
    subscription_summary, cohort_survivors   subscription log -> renewals and churn per subscriber; survivors by cohort
    registered, model_class                  the registered models by key ("bgnbd", "pareto-nbd", ...)
    tracking_forecast, new_customer_purchases  repeat transactions over calendar time, of a new customer
    load                                     a model saved by model.save(path) (JSON or NetCDF)
    Prior                                    a prior for the Bayesian fits (fit(data, method="nuts"))
    datasets                                 CDNOW and donations data
    plotting                                 diagnostic plots (``import clvmodels.plotting``)

Importing clvmodels never imports pymc, arviz or matplotlib.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import datasets
from .compare import ModelComparison, compare_models
from .data import calibration_holdout_split, rfm_summary
from .occasions import discrete_summary
from .engines.patterns import pattern_table
from .exceptions import ConvergenceWarning, DataWarning, NotFittedError, StatisticalWarning
from .forecast import Forecast, forecast
from .subscriber_forecast import forecast_subscribers
from .subscriber_holdout import evaluate_subscriber_holdout
from .inference.bayes import Prior
from .io import load_model as load
from .models import BetaGeo, BetaGeoBetaBinom, GammaGamma, ModifiedBetaGeo, ParetoNBD, ShiftedBetaGeo, model_class, registered
from .models.shifted_beta_geo import survivors_to_patterns
from .segments import acquisition_cohorts, join_attributes
from .subscriptions import cohort_survivors, subscription_summary
from .tracking import new_customer_purchases, tracking_forecast
from .validation import HoldoutReport, evaluate_holdout

try:
    __version__ = version("clvmodels")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "BetaGeo",
    "ParetoNBD",
    "ModifiedBetaGeo",
    "BetaGeoBetaBinom",
    "GammaGamma",
    "ShiftedBetaGeo",
    "survivors_to_patterns",
    "forecast_subscribers",
    "evaluate_subscriber_holdout",
    "rfm_summary",
    "discrete_summary",
    "calibration_holdout_split",
    "pattern_table",
    "evaluate_holdout",
    "compare_models",
    "acquisition_cohorts",
    "join_attributes",
    "subscription_summary",
    "cohort_survivors",
    "ModelComparison",
    "model_class",
    "registered",
    "tracking_forecast",
    "new_customer_purchases",
    "forecast",
    "Forecast",
    "HoldoutReport",
    "load",
    "Prior",
    "datasets",
    "ConvergenceWarning",
    "DataWarning",
    "NotFittedError",
    "StatisticalWarning",
    "__version__",
]
