"""Maximum-likelihood BG/BB fits (discrete time) against lifetimes' ``BetaGeoBetaBinomFitter``.

Two cases, each starting from the same weighted pattern table (``frequency, recency, n_periods``
and the number of customers showing each pattern), built once outside the timings, and each
timing the whole public call on each side (input checks, optimiser, standard errors):

- the donations data of Fader, Hardie & Shang (2010): 11,104 donors in 22 patterns, 6 yearly
  occasions (the published fit: alpha, beta, gamma, delta = 1.204, 0.750, 0.657, 2.783);
- 100,000 customers simulated from that fit, observed for 4 to 24 occasions (2,500+ patterns;
  lifetimes' finite sum runs over up to 24 terms). lifetimes' optimiser fails to converge on
  longer histories (1 to 52 occasions: ``ConvergenceError`` even when started at the truth), so
  the case stays where both fit.

Agreement: the parameters within 1e-4 (relative) and the log-likelihoods (ours at our estimates,
our formula at lifetimes' estimates) within 1e-6 relative.

Run alone: ``python benchmarks/bench_discrete.py [--quick] [--only KEY]``.
"""

from __future__ import annotations

import functools
import sys

import lifetimes
import numpy as np
import pandas as pd

from clvmodels.datasets import load_donations
from clvmodels.models import bg_bb
from harness import Benchmark, Case, Check, run_alone

#: FHS 2010's donations fit, the truth of the simulated customers
FHS_PARAMS = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
SEED = 20261130


def donation_patterns() -> pd.DataFrame:
    """The 22 donation patterns: frequency, recency, n_periods, weight."""
    data = load_donations().rename(columns={"periods": "n_periods", "weights": "weight"}, errors="ignore")
    return data[["frequency", "recency", "n_periods", "weight"]].copy()


@functools.cache
def simulated_patterns(n_customers: int, seed: int = SEED) -> pd.DataFrame:
    """Customers observed 4..24 occasions, simulated from FHS 2010's fit, as a weighted pattern table."""
    n = np.random.default_rng(seed).integers(4, 25, size=n_customers).astype(np.float64)
    sim = bg_bb.simulate(FHS_PARAMS, n, random_seed=seed + 1)
    table = sim.groupby(["frequency", "recency", "n_periods"]).size().rename("weight").reset_index()
    return table


def _bgbb_case(name: str, patterns: pd.DataFrame, repeats: int) -> Case:
    x, t_x, n, w = (patterns[c].to_numpy() for c in ("frequency", "recency", "n_periods", "weight"))

    def ours() -> bg_bb.BetaGeoBetaBinom:
        return bg_bb.BetaGeoBetaBinom().fit(patterns, sample_weight="weight")

    def theirs() -> lifetimes.BetaGeoBetaBinomFitter:
        return lifetimes.BetaGeoBetaBinomFitter().fit(x, t_x, n, weights=w)

    def check(model: bg_bb.BetaGeoBetaBinom, fitter: lifetimes.BetaGeoBetaBinomFitter) -> Check:
        names = list(bg_bb.PARAM_NAMES)
        theirs_params = fitter.params_[names].to_numpy()
        mine = model.params_[names].to_numpy()
        rel = float(np.max(np.abs(mine - theirs_params) / np.abs(theirs_params)))
        # both log-likelihoods by our formula (lifetimes' own adds 1e-15 to each customer's finite sum)
        theirs_ll = float(w @ bg_bb.loglik(dict(zip(names, theirs_params)), x, t_x, n))
        d_ll = model.loglik_ - theirs_ll
        ok = model.converged_ and rel < 1e-4 and abs(d_ll) < 1e-6 * abs(theirs_ll)
        details = [f"{k:>5}: clvmodels {a:.7g}, lifetimes {b:.7g}" for k, a, b in zip(names, mine, theirs_params)]
        details += [
            f"log-likelihood: clvmodels {model.loglik_:.6f}, lifetimes' estimates {theirs_ll:.6f} (difference {d_ll:.2g})",
            f"clvmodels converged_={model.converged_}, {model.n_customers_:,} customers in {model.n_patterns_:,} patterns, "
            f"{model.optimizer_['n_evals']} likelihood evaluations",
        ]
        return Check(ok, f"params max rel. diff {rel:.1e}, ΔLL {d_ll:.1e}", details)

    return Case(name, ours=ours, theirs=theirs, check=check, repeats=repeats)


def prepare_donations(quick: bool) -> Case:
    """BG/BB on the donations data (11,104 donors, 22 patterns, 6 occasions)."""
    patterns = donation_patterns()
    return _bgbb_case(f"BG/BB fit, donations ({int(patterns['weight'].sum()):,} donors, {len(patterns)} patterns)", patterns, 10 if quick else 40)


def prepare_simulated(quick: bool) -> Case:
    """BG/BB on 100k customers (10k with ``quick``) observed 4 to 24 occasions."""
    n = 10_000 if quick else 100_000
    patterns = simulated_patterns(n)
    return _bgbb_case(f"BG/BB fit, {n // 1000}k customers, 4-24 occasions ({len(patterns):,} patterns)", patterns, 3 if quick else 5)


BENCHMARKS = [
    Benchmark("bgbb-donations", 10.0, prepare_donations),
    Benchmark("bgbb-simulated", 10.0, prepare_simulated),
]


def main(argv: list[str] | None = None) -> int:
    """Run these benchmarks alone (``run.py`` runs them with the others)."""
    return run_alone(BENCHMARKS, __doc__, "smaller simulated data and fewer repeats", argv)


if __name__ == "__main__":
    sys.exit(main())
