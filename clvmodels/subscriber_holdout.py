"""Holdout check of a retention model: the renewals of a subscription log after a calibration end.

A retention model fitted to the subscriptions as they stood at ``calibration_end`` predicts, for
each subscriber active then with n renewals, how many of the renewal dates that fall between the
calibration end and ``observation_end`` they will honour. :func:`evaluate_subscriber_holdout`
compares that with what they did, in total and by start cohort:

- expected renewals ``sum_{k=1..K} S(n + k) / S(n)`` (K the renewal dates in the holdout, a
  subscriber's own; the conditional survival of :mod:`clvmodels.models.shifted_beta_geo`), with
  a credible interval over parameter draws;
- a predictive interval of the total: given a draw, a subscriber's renewals R in the holdout have
  ``P(R >= k) = S(n + k) / S(n)`` for ``k <= K``, so their mean and variance are exact
  (``E[R] = sum_k P(R >= k)``, ``E[R^2] = sum_k (2k - 1) P(R >= k)``) and the total over
  thousands of independent subscribers is normal to a good approximation; one normal draw per
  parameter draw mixes the two sources of uncertainty;
- a verdict: the model passes when the actual total is inside its predictive interval, and each
  cohort is flagged when its own total is outside its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .data import compress_patterns
from .models.params import seed_sequence, unpack

__all__ = ["evaluate_subscriber_holdout", "SubscriberHoldout"]


@dataclass
class SubscriberHoldout:
    """The result of :func:`evaluate_subscriber_holdout`.

    Attributes
    ----------
    by_cohort : DataFrame
        Per start cohort: ``subscribers`` (active at the calibration end), ``renewal_dates`` (in
        the holdout, summed), ``actual`` and ``expected`` renewals, ``lower``/``upper`` (credible)
        and ``pred_lower``/``pred_upper`` (predictive), and ``outside``; a last row ``total``.
    verdict : dict
        ``passed``, ``message`` (plain words), the totals and the interval level.
    subscribers : DataFrame
        Per subscriber at risk at the calibration end (not churned there: ``renewals`` survived,
        including those censored at their last renewal date), ``renewal_dates`` in the holdout,
        ``actual`` and ``expected`` renewals in it.
    """

    by_cohort: pd.DataFrame
    verdict: dict[str, Any]
    subscribers: pd.DataFrame = field(repr=False)

    @property
    def passed(self) -> bool:
        return bool(self.verdict["passed"])


def _moments(params: Any, n: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the renewals in the holdout, per (draw, pattern): ``P(R >= k) =
    S(n + k) / S(n)`` for k = 1..K."""
    from .models.shifted_beta_geo import PARAM_NAMES, conditional_survival

    alpha, beta = unpack(params, PARAM_NAMES)
    k_max = int(K.max()) if len(K) else 0
    mean = np.zeros(np.broadcast_shapes(np.shape(alpha), n.shape))
    second = np.zeros_like(mean)
    for k in range(1, k_max + 1):
        survive = conditional_survival({"alpha": alpha, "beta": beta}, k, n) * (K >= k)
        mean = mean + survive
        second = second + (2 * k - 1) * survive
    return mean, np.maximum(second - mean * mean, 0.0)


def evaluate_subscriber_holdout(
    model: Any,
    log: pd.DataFrame,
    *,
    calibration_end: Any,
    observation_end: Any,
    ci: float = 0.9,
    n_draws: int = 1000,
    random_seed: int | None = None,
    calibration: pd.DataFrame | None = None,
    observation: pd.DataFrame | None = None,
    **summary_options: Any,
) -> SubscriberHoldout:
    """Score a retention model fitted up to ``calibration_end`` on the renewals after it.

    Parameters
    ----------
    model : RetentionModel
        Fitted (usually on ``subscription_summary(log, observation_end=calibration_end)``).
    log : DataFrame
        The subscription log (read, never modified).
    calibration_end, observation_end : date-like
        The end of the calibration period and of the holdout.
    ci : float
        Level of the intervals.
    n_draws : int
        Parameter draws.
    random_seed : int, optional
        Seed of the draws and of the predictive mixture.
    calibration, observation : DataFrame, optional
        ``subscription_summary(log, observation_end=calibration_end / observation_end, ...)`` with
        the same options, when the caller has them already (not computed again).
    **summary_options
        Passed to :func:`clvmodels.subscription_summary` (``customer_col``, ``start_col``,
        ``end_col``, ``period``, ``date_format``, ``invalid``, ...).

    Returns
    -------
    SubscriberHoldout

    Examples
    --------
    >>> from clvmodels import ShiftedBetaGeo, subscription_summary
    >>> from clvmodels.datasets import simulate_subscription_log
    >>> log = simulate_subscription_log(20_000, random_seed=3)
    >>> calibration = subscription_summary(log, period="M", observation_end="2022-12-31")
    >>> model = ShiftedBetaGeo().fit(calibration)
    >>> check = evaluate_subscriber_holdout(model, log, calibration_end="2022-12-31", observation_end="2023-12-31",
    ...                                     period="M", random_seed=1)
    >>> check.passed, int(check.by_cohort.loc["total", "subscribers"]) == len(check.subscribers)
    (True, True)
    >>> check.verdict["message"].split(" renewals")[0]
    'holdout to 2023-12-31: 23,777'
    """
    from .subscriptions import subscription_summary

    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    cal_ts, end_ts = pd.Timestamp(calibration_end), pd.Timestamp(observation_end)
    if not cal_ts < end_ts:
        raise ValueError(f"calibration_end ({cal_ts.date()}) must be before observation_end ({end_ts.date()}): the holdout lies between them.")
    model._check_fitted()
    options = {k: v for k, v in summary_options.items() if k not in ("observation_end", "price_col")}
    end_col = options.get("end_col", "end")
    at_cal = subscription_summary(log, observation_end=cal_ts, **options) if calibration is None else calibration
    at_end = subscription_summary(log, observation_end=end_ts, **options) if observation is None else observation
    # every renewal date up to observation_end, as if nobody had cancelled: the chances in the holdout
    chances = subscription_summary(log.assign(**{end_col: pd.NaT}), observation_end=end_ts, **options)
    # at risk: every subscriber the calibration summary holds as having survived n renewals, the
    # ones who cancelled since their last renewal date included (the model knows them as T > n;
    # leaving them out would keep only those not yet cancelled in their current period, and the
    # model would under-forecast the next renewal of that selection)
    active = at_cal.index[~at_cal["churned"].to_numpy(bool)]
    n = at_cal.loc[active, "renewals"].to_numpy(np.int64)
    K = chances.loc[active, "renewals"].to_numpy(np.int64) - n
    actual = at_end.loc[active, "renewals"].to_numpy(np.int64) - n
    cohort = at_cal.loc[active, "cohort"].astype(str).to_numpy()
    (pn, pK, pc), weight, pattern = compress_patterns(n, K, cohort)
    seed = seed_sequence(random_seed)
    seed_draws, seed_mix = seed.spawn(2)
    draws = model.sample_params(n_draws, random_seed=seed_draws)
    point_mean, _ = _moments(model.params_, pn.astype(float), pK)
    mean_d, var_d = _moments(draws, pn.astype(float), pK)
    cohorts = sorted(set(pc))
    onehot = np.zeros((len(pc), len(cohorts) + 1))
    onehot[np.arange(len(pc)), [cohorts.index(c) for c in pc]] = weight
    onehot[:, -1] = weight
    totals_mean = mean_d @ onehot  # (draws, cohorts + total)
    totals_var = var_d @ onehot
    simulated = np.random.default_rng(seed_mix).normal(totals_mean, np.sqrt(totals_var))
    q = [(1 - ci) / 2, (1 + ci) / 2]
    lower, upper = np.quantile(totals_mean, q, axis=0)
    pred_lower, pred_upper = np.quantile(simulated, q, axis=0)
    index = pd.Index([*cohorts, "total"], name="cohort")
    actual_by = np.bincount(np.searchsorted(cohorts, cohort), weights=actual, minlength=len(cohorts))
    table = pd.DataFrame({
        "subscribers": np.r_[np.bincount(np.searchsorted(cohorts, cohort), minlength=len(cohorts)), len(active)],
        "renewal_dates": np.r_[np.bincount(np.searchsorted(cohorts, cohort), weights=K, minlength=len(cohorts)), K.sum()].astype(np.int64),
        "actual": np.r_[actual_by, actual.sum()].astype(np.int64),
        "expected": point_mean @ onehot,
        "lower": lower, "upper": upper, "pred_lower": pred_lower, "pred_upper": pred_upper,
    }, index=index)
    table["outside"] = (table["actual"] < table["pred_lower"]) | (table["actual"] > table["pred_upper"])
    total = table.loc["total"]
    passed = not bool(total["outside"])
    rel = total["expected"] / total["actual"] - 1 if total["actual"] else float("nan")
    outside = [c for c in cohorts if table.loc[c, "outside"]]
    direction = "over-forecasts" if total["expected"] > total["actual"] else "under-forecasts"
    message = (
        f"holdout to {end_ts.date()}: {int(total['actual']):,} renewals actual vs {total['expected']:,.0f} expected "
        f"({rel:+.1%}) from {len(active):,} subscribers at risk at {cal_ts.date()}, "
        + ("inside" if passed else "outside")
        + f" the {ci:.0%} predictive interval ({total['pred_lower']:,.0f}-{total['pred_upper']:,.0f})"
        + ("" if passed else f": {type(model).display_name} {direction} the renewals of this base")
        + (f"; cohorts outside their own interval: {', '.join(outside)}" if outside else "")
    )
    verdict = {"passed": passed, "message": message, "ci": ci, "actual_total": int(total["actual"]),
               "expected_total": float(total["expected"]), "relative_error": float(rel), "cohorts_outside": outside,
               "subscribers": int(len(active)), "calibration_end": str(cal_ts.date()), "observation_end": str(end_ts.date())}
    subscribers = pd.DataFrame({"cohort": cohort, "renewals": n, "renewal_dates": K, "actual": actual,
                                "expected": point_mean[pattern]}, index=active)
    return SubscriberHoldout(table, verdict, subscribers)
