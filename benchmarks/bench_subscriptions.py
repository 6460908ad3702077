"""Subscription log -> sBG fit: ``subscription_summary`` + ``ShiftedBetaGeo().fit`` against the
obvious pandas way (``.dt`` calendar arithmetic, a group-by on (cohort, renewals, churned) and a
scipy minimisation of the sBG likelihood written here), on 1M simulated monthly subscribers.

The subscribers start on days spread over 36 months (2021-01-01 to 2023-12-31, observation end
2023-12-31); each one's lifetime in months is shifted-beta-geometric (alpha, beta = 0.704, 1.182,
Fader & Hardie 2007's regular cohort) and the cancellation falls on a uniform day of the last
month paid for (after its renewal date, up to the next one); cancellations after the observation
end are not yet known (missing end). Prices are plan tiers, a tenth of them free (0). Two
variants: the log as a DataFrame in memory, and end to end from a Parquet file (the read is
timed on both sides).

The pandas side does less work: it neither validates the log nor merges spells (this log has one
per subscriber). Agreement: the same (cohort, renewals, churned) counts, parameters within 1e-4
and log-likelihoods within 1e-7 relative.

Run alone: ``python benchmarks/bench_subscriptions.py [--quick] [--only KEY]``; ``run.py`` runs the
same ``BENCHMARKS`` with the others.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln

import clvmodels
from harness import Benchmark, Case, Check, run_alone

ALPHA, BETA = 0.704, 1.182
SEED = 20261130
FIRST_START = np.datetime64("2021-01-01", "D")
OBSERVATION_END = np.datetime64("2023-12-31", "D")
PRICES = np.array([0.0, 4.99, 9.99, 14.99])
PRICE_SHARES = np.array([0.1, 0.3, 0.4, 0.2])


@functools.cache
def simulate_log(n: int, seed: int = SEED) -> pd.DataFrame:
    """``n`` monthly subscribers with sBG lifetimes (:func:`clvmodels.datasets.simulate_subscription_log`),
    a tenth of them on a free plan, the ids shuffled; columns customer_id, start, end, price."""
    log = clvmodels.datasets.simulate_subscription_log(
        n, ALPHA, BETA, first_start=str(FIRST_START), observation_end=str(OBSERVATION_END), prices=tuple(PRICES),
        price_shares=tuple(PRICE_SHARES), random_seed=seed)
    log["customer_id"] = np.random.default_rng(seed + 1).permutation(n).astype(np.int64) + 10_000_000
    return log


@functools.cache
def parquet_log(n: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"clvmodels-bench-subscriptions-{n}.parquet"
    if not path.exists():
        simulate_log(n).to_parquet(path, index=False)
    return path


def _sbg_negloglik(log_params: np.ndarray, renewals: np.ndarray, churned: np.ndarray, weight: np.ndarray) -> float:
    """Minus the sBG log-likelihood (Fader & Hardie 2007, eq. 5-7): P(T = n + 1) for those who
    churned after n renewals, S(n) for the active ones."""
    a, b = np.exp(log_params)
    ll = np.where(churned, betaln(a + 1.0, b + renewals), betaln(a, b + renewals)) - betaln(a, b)
    return -float(np.sum(weight * ll))


def _months_passed(start: pd.Series, stop: pd.Series) -> pd.Series:
    """Monthly renewal dates strictly before ``stop``, from ``.dt`` fields (clipped to month ends)."""
    months = (stop.dt.year - start.dt.year) * 12 + (stop.dt.month - start.dt.month)
    renewal_day = np.minimum(start.dt.day, stop.dt.days_in_month)
    return (months - 1 + (renewal_day < stop.dt.day)).clip(lower=0)


def pandas_baseline(log: pd.DataFrame, observation_end: pd.Timestamp) -> dict:
    """The obvious pandas way: renewals from ``.dt`` fields, a group-by, scipy minimize.

    Same convention as ``subscription_summary``'s default: each subscriber observed up to their
    last renewal date on or before the observation end.
    """
    start, end = log["start"], log["end"]
    after = pd.Series(observation_end + pd.Timedelta(days=1), index=log.index)
    seen = _months_passed(start, after)  # renewal dates on or before the observation end
    month = (start.dt.to_period("M") + seen).dt.to_timestamp()
    last_renewal = month + pd.to_timedelta(np.minimum(start.dt.day, month.dt.days_in_month) - 1, unit="D")
    churned = end.notna() & (end <= observation_end) & (seen >= 1) & (end <= last_renewal)
    renewals = _months_passed(start, end.where(churned, after))
    table = pd.DataFrame({"cohort": start.dt.strftime("%Y-%m"), "renewals": renewals, "churned": churned})
    counts = table.groupby(["cohort", "renewals", "churned"]).size()
    patterns = counts.groupby(level=["renewals", "churned"]).sum()
    n = patterns.index.get_level_values("renewals").to_numpy(dtype=np.float64)
    c = patterns.index.get_level_values("churned").to_numpy(dtype=bool)
    w = patterns.to_numpy(dtype=np.float64)
    result = minimize(_sbg_negloglik, np.zeros(2), args=(n, c, w), method="BFGS")
    return {"params": np.exp(result.x), "loglik": -result.fun, "counts": counts, "success": result.success}


def _ours(log: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo

    summary = clvmodels.subscription_summary(log, period="M", observation_end=str(OBSERVATION_END), price_col="price")
    return summary, ShiftedBetaGeo().fit(summary)


def _check(ours: tuple[pd.DataFrame, object], theirs: dict) -> Check:
    summary, model = ours
    counts = summary.groupby(["cohort", "renewals", "churned"], observed=True).size()
    counts.index = counts.index.set_levels(counts.index.levels[0].astype(str), level=0)
    same_counts = counts.sort_index().equals(theirs["counts"].sort_index())
    params = model.params_.to_numpy()
    rel = float(np.max(np.abs(params - theirs["params"]) / theirs["params"]))
    d_ll = float(model.loglik_ - theirs["loglik"])
    ok = same_counts and rel < 1e-4 and abs(d_ll) <= 1e-7 * abs(theirs["loglik"])
    se = model.summary()["std_error"].to_numpy()
    details = [
        f"{len(summary):,} subscribers, {int(summary['churned'].sum()):,} churned, {counts.index.levels[0].size} cohorts, "
        f"{len(theirs['counts']):,} (cohort, renewals, churned) cells",
        f"clvmodels alpha, beta = {params[0]:.4f}, {params[1]:.4f} (SE {se[0]:.4f}, {se[1]:.4f}); "
        f"truth {ALPHA}, {BETA}",
        f"pandas + scipy alpha, beta = {theirs['params'][0]:.4f}, {theirs['params'][1]:.4f} (BFGS "
        f"{'converged' if theirs['success'] else 'stopped on precision loss'})",
    ]
    summary_text = (f"counts {'identical' if same_counts else 'DIFFER'}; params max rel. diff {rel:.1e}, "
                    f"ΔLL {d_ll:.1e}")
    return Check(ok, summary_text, details)


def prepare_frame(quick: bool) -> Case:
    """1M subscribers as a DataFrame (100k with ``quick``)."""
    n = 100_000 if quick else 1_000_000
    log = simulate_log(n)
    end = pd.Timestamp(OBSERVATION_END)
    return Case(
        f"subscription log -> sBG fit, {n // 1000:,}k subscribers (DataFrame)",
        ours=lambda: _ours(log),
        theirs=lambda: pandas_baseline(log, end),
        check=_check,
        repeats=3 if quick else 5,
        reference="pandas + scipy",
    )


def prepare_parquet(quick: bool) -> Case:
    """The same read from a Parquet file on both sides (the read is timed)."""
    n = 100_000 if quick else 1_000_000
    path = parquet_log(n)
    end = pd.Timestamp(OBSERVATION_END)
    return Case(
        f"subscription log -> sBG fit, {n // 1000:,}k subscribers (Parquet file, read included)",
        ours=lambda: _ours(pd.read_parquet(path)),
        theirs=lambda: pandas_baseline(pd.read_parquet(path), end),
        check=_check,
        repeats=3 if quick else 5,
        reference="pandas + scipy",
    )


#: goal: the whole call under 5 s on a million subscribers, and not slower than the bare pandas way
BENCHMARKS = [
    Benchmark("subscriptions-1m", 1.0, prepare_frame, budget=5.0),
    Benchmark("subscriptions-parquet-1m", 1.0, prepare_parquet, budget=5.0),
]


def main(argv: list[str] | None = None) -> int:
    """Run these benchmarks alone (``run.py`` runs them with the others)."""
    return run_alone(BENCHMARKS, __doc__, "100k subscribers and fewer repeats", argv)


if __name__ == "__main__":
    sys.exit(main())
