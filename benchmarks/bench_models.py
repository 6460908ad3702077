"""Maximum-likelihood fits of the other transaction models against lifetimes' fitters.

MBG/NBD (``clvmodels.models.mbg_nbd.ModifiedBetaGeo`` against ``ModifiedBetaGeoFitter``) and,
once its module exists, Pareto/NBD (``clvmodels.models.pareto_nbd.ParetoNBD`` against
``ParetoNBDFitter``), on CDNOW and on a million simulated customers with daily dates. As in
:mod:`bench_fit`, each fit is the whole public call on each side (input checks, optimiser,
standard errors), starting from the same per-customer summary, built once outside the timings.

Run alone: ``python benchmarks/bench_models.py [--quick] [--only KEY]``; ``run.py`` runs the
same ``BENCHMARKS`` with the others.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import time
import warnings

import lifetimes
import numpy as np
import pandas as pd

from bench_fit import _compare_fits, cdnow_split
from clvmodels.models import mbg_nbd
from harness import Benchmark, Case, Check, run_alone

#: MBG/NBD parameters of the simulated customers (daily time unit), those of bench_fit's BG/NBD data
MBG_SIM_PARAMS = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.4}
SEED = 20240601


def _daily(summary: pd.DataFrame) -> pd.DataFrame:
    """frequency, recency, T with recency floored to whole days (as from daily dates)."""
    summary = summary[["frequency", "recency", "T"]].copy()
    summary["recency"] = np.floor(summary["recency"])
    return summary


@functools.cache
def mbg_simulated_daily(n_customers: int, seed: int = SEED) -> pd.DataFrame:
    """MBG/NBD customers observed 1..365 days, with recency floored to whole days."""
    T = np.random.default_rng(seed).integers(1, 366, size=n_customers).astype(np.float64)
    return _daily(mbg_nbd.simulate(MBG_SIM_PARAMS, T, random_seed=seed + 1))


def _lifetimes_loglik(fitter_class: type, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    """lifetimes' own total log-likelihood at ``params`` on the original time scale.

    lifetimes fits on time rescaled to max(T) = 1, so its stored objective is on another scale.
    """
    with warnings.catch_warnings():
        nll = fitter_class._negative_log_likelihood(np.log(params), x, t_x, T, np.ones_like(x, dtype=float), 0.0)
    return -float(nll) * len(x)


def _mbg_case(name: str, summary: pd.DataFrame, repeats: int) -> Case:
    x, t_x, T = (summary[col].to_numpy() for col in ("frequency", "recency", "T"))

    def check(ours: mbg_nbd.ModifiedBetaGeo, theirs: lifetimes.ModifiedBetaGeoFitter) -> Check:
        params = theirs.params_[["r", "alpha", "a", "b"]].to_numpy()
        return _compare_fits(ours, params, _lifetimes_loglik(lifetimes.ModifiedBetaGeoFitter, params, x, t_x, T))

    return Case(
        name,
        ours=lambda: mbg_nbd.ModifiedBetaGeo().fit(summary),
        theirs=lambda: lifetimes.ModifiedBetaGeoFitter().fit(x, t_x, T),
        check=check,
        repeats=repeats,
    )


def prepare_mbg_cdnow(quick: bool) -> Case:
    """MBG/NBD on the 2,357 CDNOW customers (weeks)."""
    summary = cdnow_split()[["frequency", "recency", "T"]]
    return _mbg_case(f"MBG/NBD fit, CDNOW ({len(summary):,} customers)", summary, 5 if quick else 30)


def prepare_mbg_simulated(quick: bool) -> Case:
    """MBG/NBD on 1M simulated customers with daily recency and T (100k with ``quick``)."""
    n = 100_000 if quick else 1_000_000
    label = "100k" if quick else "1M"
    return _mbg_case(f"MBG/NBD fit, {label} customers, daily dates", mbg_simulated_daily(n), 3)


BENCHMARKS = [
    Benchmark("mbgnbd-cdnow", 10.0, prepare_mbg_cdnow),
    Benchmark("mbgnbd-1m", 20.0, prepare_mbg_simulated),
]


# -- Pareto/NBD -------------------------------------------------------------------------------------
# Rows for clvmodels.models.pareto_nbd.ParetoNBD (key "pareto-nbd") against lifetimes'
# ParetoNBDFitter, added when that module exists. lifetimes' Pareto/NBD likelihood evaluates a
# hypergeometric function per customer and is slow on a million customers, so there it is fitted on
# a random tenth of them and its time scaled by 10 (the table marks it "extrapolated"); its
# estimates are then those of the subsample, and the agreement check compares the two libraries'
# fits on that same subsample instead.

#: Pareto/NBD parameters of the simulated customers (daily time unit)
PARETO_SIM_PARAMS = {"r": 0.55, "alpha": 75.0, "s": 0.6, "beta": 80.0}
#: lifetimes fits the 1M Pareto/NBD data on this share of the customers
PARETO_LIFETIMES_SHARE = 10


def _pareto_module():
    """``clvmodels.models.pareto_nbd`` once it holds the ``ParetoNBD`` estimator, else None."""
    if importlib.util.find_spec("clvmodels.models.pareto_nbd") is None:
        return None
    from clvmodels.models import pareto_nbd

    return pareto_nbd if hasattr(pareto_nbd, "ParetoNBD") else None


@functools.cache
def pareto_simulated_daily(n_customers: int, seed: int = SEED) -> pd.DataFrame:
    """Pareto/NBD customers observed 1..365 days, with recency floored to whole days."""
    T = np.random.default_rng(seed).integers(1, 366, size=n_customers).astype(np.float64)
    return _daily(_pareto_module().simulate(PARETO_SIM_PARAMS, T, random_seed=seed + 1))


def _pareto_case(name: str, summary: pd.DataFrame, repeats: int, share: int = 1) -> Case:
    pareto_nbd = _pareto_module()
    sub = summary if share == 1 else summary.sample(frac=1.0 / share, random_state=SEED)
    x, t_x, T = (sub[col].to_numpy() for col in ("frequency", "recency", "T"))

    def check(ours, theirs: lifetimes.ParetoNBDFitter) -> Check:
        params = theirs.params_[["r", "alpha", "s", "beta"]].to_numpy()
        mine = ours if share == 1 else pareto_nbd.ParetoNBD().fit(sub)
        with warnings.catch_warnings():
            # lifetimes' Pareto/NBD objective takes the parameters themselves and divides the
            # weighted sum by the mean weight: with unit weights, minus the total log-likelihood
            theirs_ll = -float(lifetimes.ParetoNBDFitter._negative_log_likelihood(params, x, t_x, T, np.ones(len(x)), 0.0))
        result = _compare_fits(mine, params, theirs_ll)
        # lifetimes' optimiser stops short of the maximum (relative 1e-4 in s and beta on
        # CDNOW): agreement is our maximum at least as high, the parameters within 1e-3
        rel = float(np.max(np.abs(mine.params_.to_numpy() - params) / params))
        d_ll = mine.loglik_ - theirs_ll
        ok = mine.converged_ and rel < 1e-3 and d_ll >= -1e-6 * abs(theirs_ll)
        notes = [] if share == 1 else [f"compared on the {len(sub):,}-customer subsample lifetimes fitted"]
        summary = f"params max rel. diff {rel:.1e}, ΔLL {d_ll:.1e} (ours higher)" + ("" if share == 1 else " (subsample)")
        return Check(ok, summary, notes + result.details)

    return Case(
        name,
        ours=lambda: pareto_nbd.ParetoNBD().fit(summary),
        theirs=lambda: lifetimes.ParetoNBDFitter().fit(x, t_x, T),
        check=check,
        repeats=repeats,
        theirs_scale=float(share),
    )


def prepare_pareto_cdnow(quick: bool) -> Case:
    """Pareto/NBD on the 2,357 CDNOW customers (weeks)."""
    summary = cdnow_split()[["frequency", "recency", "T"]]
    return _pareto_case(f"Pareto/NBD fit, CDNOW ({len(summary):,} customers)", summary, 3 if quick else 10)


def prepare_pareto_simulated(quick: bool) -> Case:
    """Pareto/NBD on 1M simulated customers with daily dates (100k with ``quick``); lifetimes
    on a tenth of them, its time scaled by 10."""
    n = 100_000 if quick else 1_000_000
    label = "100k" if quick else "1M"
    return _pareto_case(
        f"Pareto/NBD fit, {label} customers, daily dates", pareto_simulated_daily(n), 3, share=PARETO_LIFETIMES_SHARE
    )


if _pareto_module() is not None:
    BENCHMARKS += [
        Benchmark("pareto-cdnow", 10.0, prepare_pareto_cdnow),
        Benchmark("pareto-1m", 20.0, prepare_pareto_simulated),
    ]


#: True coefficients of the covariate benchmark (on the standardised scale of z1, z2; g is 0/1).
COVARIATE_TRUTH = {"purchase:z1": 0.3, "purchase:g": -0.2, "dropout:z2": 0.2}


@functools.cache
def covariate_customers(n_customers: int, seed: int = 20261130) -> pd.DataFrame:
    """BG/NBD customers observed 1..365 days whose purchase rate depends on a normal z1 and a
    0/1 g, and whose dropout (a and b together, CLVTools' link) on a normal z2."""
    from clvmodels.models import beta_geo

    from bench_fit import SIM_PARAMS

    rng = np.random.default_rng(seed)
    z1, z2, g = rng.normal(size=n_customers), rng.normal(size=n_customers), rng.integers(0, 2, n_customers).astype(float)
    T = rng.integers(1, 366, size=n_customers).astype(np.float64)
    alpha = SIM_PARAMS["alpha"] * np.exp(-(COVARIATE_TRUTH["purchase:z1"] * z1 + COVARIATE_TRUTH["purchase:g"] * g))
    scale = np.exp(COVARIATE_TRUTH["dropout:z2"] * z2)
    params = {"r": SIM_PARAMS["r"], "alpha": alpha, "a": SIM_PARAMS["a"] * scale, "b": SIM_PARAMS["b"] * scale}
    data = beta_geo.simulate(params, T, random_seed=seed + 1)[["frequency", "recency", "T"]].copy()
    data["recency"] = np.floor(data["recency"])
    data["z1"], data["z2"], data["g"] = z1, z2, g
    return data


def prepare_covariates_simulated(quick: bool) -> Case:
    """BG/NBD with 3 covariates (two continuous, one 0/1, in both processes) on 1M simulated
    customers, against the plain BG/NBD fit of the same customers in the same process. The
    goal of the covariates issue: within 5x of the plain fit (speed-up >= 0.2). Continuous
    covariates make every customer a pattern of its own (the plain fit has a fifth as many)."""
    import clvmodels

    n = 100_000 if quick else 1_000_000
    data = covariate_customers(n)

    def ours() -> clvmodels.BetaGeo:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return clvmodels.BetaGeo(covariates=["z1", "z2", "g"], categorical={"g": 0.0}).fit(data)

    def theirs() -> clvmodels.BetaGeo:
        return clvmodels.BetaGeo().fit(data[["frequency", "recency", "T"]])

    def check(model: clvmodels.BetaGeo, plain: clvmodels.BetaGeo) -> Check:
        table = model.summary()
        # z1 and z2 are standardised by the library (sd about 1), g is a dummy against 0
        truth = {"purchase:z1": 0.3, "purchase:g[1.0]": -0.2, "dropout:z2": 0.2}
        z = {name: (table.loc[name, "estimate"] - value) / table.loc[name, "std_error"] for name, value in truth.items()}
        ok = model.converged_ and all(abs(v) < 4 for v in z.values())
        details = [f"{name}: {table.loc[name, 'estimate']:.4f} (se {table.loc[name, 'std_error']:.4f}), truth {truth[name]}"
                   for name in truth]
        details.append(f"{model.n_patterns_:,} patterns with covariates, {plain.n_patterns_:,} without; "
                       f"{model.optimizer_.get('n_evals')} likelihood evaluations")
        return Check(ok, "coefficients within 4 SE of the truth: " + ", ".join(f"{k} {v:+.1f}" for k, v in z.items()), details)

    label = "100k" if quick else "1M"
    return Case(
        f"BG/NBD fit with 3 covariates, {label} customers, daily dates, vs the plain fit",
        ours=ours,
        theirs=theirs,
        check=check,
        repeats=3,
        reference="clvmodels BG/NBD without covariates",
    )


BENCHMARKS.append(Benchmark("covariates-1m", 0.2, prepare_covariates_simulated))


def main(argv: list[str] | None = None) -> int:
    """Run these benchmarks alone (``run.py`` runs them with the others)."""
    return run_alone(BENCHMARKS, __doc__, "100k-customer data and fewer repeats", argv)


if __name__ == "__main__":
    sys.exit(main())
