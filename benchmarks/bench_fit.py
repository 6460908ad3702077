"""Maximum-likelihood fits: ``clvmodels.BetaGeo`` / ``GammaGamma`` against lifetimes' fitters.

Each fit is the whole public call on each side (input checks, optimiser, standard errors),
starting from the same per-customer summary, built once outside the timings.
"""

from __future__ import annotations

import functools

import lifetimes
import numpy as np
import pandas as pd

import clvmodels
from clvmodels.models.beta_geo import simulate
from harness import Benchmark, Case, Check

#: BG/NBD parameters of the simulated customers (daily time unit).
SIM_PARAMS = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.4}
SEED = 20240601


@functools.cache
def cdnow_split() -> pd.DataFrame:
    """CDNOW sample summarised in weeks: calibration to 1997-09-30, holdout to 1998-06-30."""
    return clvmodels.calibration_holdout_split(
        clvmodels.datasets.load_cdnow_sample(),
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="W",
        amount_col="amount",  # adds monetary_value for Gamma-Gamma; frequency, recency, T unchanged
    )


def simulated_daily(n_customers: int, seed: int = SEED) -> pd.DataFrame:
    """BG/NBD customers observed 1..365 days, with recency floored to whole days."""
    T = np.random.default_rng(seed).integers(1, 366, size=n_customers).astype(np.float64)
    summary = simulate(SIM_PARAMS, T, random_seed=seed + 1)[["frequency", "recency", "T"]].copy()
    summary["recency"] = np.floor(summary["recency"])
    return summary


def _max_rel_diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours - theirs) / np.abs(theirs)))


def _compare_fits(ours: clvmodels.BetaGeo | clvmodels.GammaGamma, theirs_params: np.ndarray, theirs_ll: float) -> Check:
    """Agreement of two maximum-likelihood fits: parameters (relative) and log-likelihood."""
    params = ours.params_.to_numpy()
    rel = _max_rel_diff(params, theirs_params)
    d_ll = ours.loglik_ - theirs_ll
    ok = rel < 1e-4 and abs(d_ll) < 1e-6 * max(1.0, abs(theirs_ll)) and ours.converged_
    details = [
        f"{name:>5}: clvmodels {mine:.7g}, lifetimes {other:.7g}"
        for name, mine, other in zip(ours.params_.index, params, theirs_params)
    ]
    details += [
        f"log-likelihood: clvmodels {ours.loglik_:.6f}, lifetimes {theirs_ll:.6f} (difference {d_ll:.2g})",
        f"clvmodels converged_={ours.converged_}, {ours.n_customers_:,} customers in "
        f"{ours.n_patterns_:,} patterns, {ours.optimizer_['n_evals']} likelihood evaluations",
    ]
    return Check(ok, f"params max rel. diff {rel:.1e}, ΔLL {d_ll:.1e}", details)


def _beta_geo_case(name: str, summary: pd.DataFrame, repeats: int) -> Case:
    x, t_x, T = (summary[col].to_numpy() for col in ("frequency", "recency", "T"))

    def check(ours: clvmodels.BetaGeo, theirs: lifetimes.BetaGeoFitter) -> Check:
        # lifetimes fits on time rescaled to max(T) = 1, so its stored objective is on another
        # scale: evaluate its own likelihood at its estimates on the original time scale.
        params = theirs.params_[["r", "alpha", "a", "b"]].to_numpy()
        nll = lifetimes.BetaGeoFitter._negative_log_likelihood(np.log(params), x, t_x, T, np.ones_like(x), 0.0)
        return _compare_fits(ours, params, -float(nll) * len(x))

    return Case(
        name,
        ours=lambda: clvmodels.BetaGeo().fit(summary),
        theirs=lambda: lifetimes.BetaGeoFitter().fit(x, t_x, T),
        check=check,
        repeats=repeats,
    )


def prepare_beta_geo_cdnow(quick: bool) -> Case:
    """BG/NBD on the 2,357 CDNOW customers (weeks)."""
    summary = cdnow_split()[["frequency", "recency", "T"]]
    return _beta_geo_case(f"BG/NBD fit, CDNOW ({len(summary):,} customers)", summary, 5 if quick else 30)


def prepare_beta_geo_simulated(quick: bool) -> Case:
    """BG/NBD on 1M simulated customers with daily recency and T (100k with ``quick``)."""
    n = 100_000 if quick else 1_000_000
    label = "100k" if quick else "1M"
    return _beta_geo_case(f"BG/NBD fit, {label} customers, daily dates", simulated_daily(n), 3)


def prepare_gamma_gamma_cdnow(quick: bool) -> Case:
    """Gamma-Gamma on the CDNOW customers with at least one repeat purchase."""
    split = cdnow_split()
    repeat = split.loc[split["frequency"] > 0, ["frequency", "recency", "T", "monetary_value"]]
    x, m = repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()

    def check(ours: clvmodels.GammaGamma, theirs: lifetimes.GammaGammaFitter) -> Check:
        # no time scaling here: lifetimes stores the mean negative log-likelihood of the mean spends
        return _compare_fits(ours, theirs.params_[["p", "q", "v"]].to_numpy(), -float(theirs._negative_log_likelihood_) * len(x))

    return Case(
        f"GammaGamma fit, CDNOW ({len(repeat):,} repeat customers)",
        ours=lambda: clvmodels.GammaGamma().fit(repeat),
        theirs=lambda: lifetimes.GammaGammaFitter().fit(x, m),
        check=check,
        repeats=5 if quick else 30,
    )


BENCHMARKS = [
    Benchmark("bgnbd-cdnow", 10.0, prepare_beta_geo_cdnow),
    Benchmark("bgnbd-1m", 20.0, prepare_beta_geo_simulated),
    Benchmark("gammagamma-cdnow", 1.0, prepare_gamma_gamma_cdnow),  # no target in the spec: not slower
]
