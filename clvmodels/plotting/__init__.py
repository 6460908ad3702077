"""Diagnostic plots with matplotlib: model fit, holdout validation, customers and uncertainty.

Every function draws on the Axes it is given (``ax=``; multi-panel plots take an empty
``fig=``) or on a new figure, returns what it drew on, and never uses pyplot's current figure
or axes, so the plots compose into the caller's layouts and run headless (Agg). Time units come
from the data's ``attrs["time_unit"]`` or the model's ``time_unit_``. Quantities over grids are
evaluated at the point estimate or over a modest number of parameter draws, and customer-level
inputs are aggregated before drawing, so memory never grows as draws x customers x grid cells.

==================================  ============================================================
fit and validation                  :func:`plot_calibration_fit`, :func:`plot_holdout_by_frequency`,
                                    :func:`plot_interval_calibration`
tracking over calendar time         :func:`plot_tracking`, :func:`plot_period_transactions`,
                                    :func:`plot_cumulative_transactions`
customers                           :func:`plot_prob_alive_heatmap`,
                                    :func:`plot_expected_purchases_heatmap`,
                                    :func:`plot_customer_history`
heterogeneity and spend             :func:`plot_heterogeneity`, :func:`plot_purchase_rate_distribution`,
                                    :func:`plot_dropout_distribution`, :func:`plot_spend_distribution`,
                                    :func:`plot_frequency_spend`
customer lifetime value             :func:`plot_clv_distribution`, :func:`plot_top_customers`
models compared                     :func:`plot_compare_holdout`, :func:`plot_compare_tracking`
segments                            :func:`plot_segments`, :func:`plot_cohorts`
subscribers (retention)             :func:`plot_survival_projection`, :func:`plot_retention_projection`,
                                    :func:`plot_derl_by_renewals`
Bayesian fits (ArviZ)               :func:`plot_trace`, :func:`plot_rank`, :func:`plot_posterior`,
                                    :func:`plot_prior_posterior`
==================================  ============================================================

``python -m clvmodels.gallery OUTDIR`` draws every plot on CDNOW.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an
alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284 (figures 1-4).
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
"""

from __future__ import annotations

from .bayes import plot_posterior, plot_prior_posterior, plot_rank, plot_trace
from .compare import plot_compare_holdout, plot_compare_tracking
from .segments import plot_cohorts, plot_segments
from .retention import plot_derl_by_renewals, plot_retention_projection, plot_survival_projection
from .customers import (
    plot_clv_distribution,
    plot_customer_history,
    plot_expected_purchases_heatmap,
    plot_prob_alive_heatmap,
    plot_top_customers,
)
from .fit import (
    plot_calibration_fit,
    plot_cumulative_transactions,
    plot_holdout_by_frequency,
    plot_interval_calibration,
    plot_period_transactions,
    plot_tracking,
)
from .population import (
    plot_dropout_distribution,
    plot_frequency_spend,
    plot_heterogeneity,
    plot_purchase_rate_distribution,
    plot_spend_distribution,
)

__all__ = [
    "plot_calibration_fit",
    "plot_holdout_by_frequency",
    "plot_interval_calibration",
    "plot_tracking",
    "plot_period_transactions",
    "plot_cumulative_transactions",
    "plot_prob_alive_heatmap",
    "plot_expected_purchases_heatmap",
    "plot_customer_history",
    "plot_heterogeneity",
    "plot_purchase_rate_distribution",
    "plot_dropout_distribution",
    "plot_spend_distribution",
    "plot_frequency_spend",
    "plot_clv_distribution",
    "plot_top_customers",
    "plot_trace",
    "plot_rank",
    "plot_posterior",
    "plot_prior_posterior",
    "plot_compare_holdout",
    "plot_compare_tracking",
    "plot_segments",
    "plot_cohorts",
    "plot_survival_projection",
    "plot_retention_projection",
    "plot_derl_by_renewals",
]
