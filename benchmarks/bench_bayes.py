"""Bayesian fits: NUTS in clvmodels against pymc-marketing (optional, ``pip install 'clvmodels[bench]'``).

Each fit runs in a fresh Python process, so the wall time includes importing the libraries and
compiling the model (what a user waits for), and once more in the same process (warm: imports
and compilation caches loaded). Reported per side: wall times, the smallest bulk effective
sample size over the parameters, bulk ESS per second of the cold wall time, r_hat, divergences
and the posterior means. pymc-marketing is skipped with a note when it is not installed, and on
the million-customer data (its model evaluates every customer at every step: 90 ms per
gradient, an estimated 45-60 minutes).

Run through ``benchmarks/run.py`` (keys ``bayes-cdnow``, ``bayes-gg-cdnow``, ``bayes-1m``,
``bayes-pareto-cdnow``, ``bayes-mbg-cdnow``) or
alone: ``python benchmarks/bench_bayes.py [--quick]``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: key -> (description, target wall time in seconds for clvmodels, cold)
CASES = {
    "bayes-cdnow": ("BG/NBD NUTS, CDNOW (2,357 customers), 4 chains x 1,000 draws", 5.0),
    "bayes-gg-cdnow": ("Gamma-Gamma NUTS, CDNOW (946 repeat customers), 4 chains x 1,000 draws", 5.0),
    "bayes-1m": ("BG/NBD NUTS, 1M simulated customers, daily dates, 4 chains x 1,000 draws", 15.0),
    "bayes-pareto-cdnow": ("Pareto/NBD NUTS, CDNOW (2,357 customers), 4 chains x 1,000 draws", 10.0),
    "bayes-mbg-cdnow": ("MBG/NBD NUTS, CDNOW (2,357 customers), 4 chains x 1,000 draws", 10.0),
}

#: case -> (clvmodels class, pymc-marketing class, parameter names: ours, theirs)
_MODELS = {
    "bayes-cdnow": ("BetaGeo", "BetaGeo", ["r", "alpha", "a", "b"], ["r", "alpha", "a", "b"]),
    "bayes-1m": ("BetaGeo", "BetaGeo", ["r", "alpha", "a", "b"], ["r", "alpha", "a", "b"]),
    "bayes-gg-cdnow": ("GammaGamma", "GammaGamma", ["p", "q", "gamma"], ["p", "q", "v"]),
    "bayes-pareto-cdnow": ("ParetoNBD", "ParetoNBD", ["r", "alpha", "s", "beta"], ["r", "alpha", "s", "beta"]),
    "bayes-mbg-cdnow": ("ModifiedBetaGeo", "ModifiedBetaGeo", ["r", "alpha", "a", "b"], ["r", "alpha", "a", "b"]),
}

_PRELUDE = """
import json, sys, time, warnings
start = time.perf_counter()
sys.path[:0] = [{root!r}, {here!r}]
"""

_DATA = {
    "cdnow": "from bench_fit import cdnow_split\ndata = cdnow_split()",
    "1m": "from bench_fit import simulated_daily\ndata = simulated_daily({n})",
}

_OURS = """
import clvmodels
{data}
def fit():
    model = clvmodels.{cls}(random_seed=1).fit(data, method="nuts")
    return model.idata_, model.sampler_["sampler"]
"""

_THEIRS = """
from pymc_marketing.clv import {cls}Model
{data}
frame = data.reset_index()
{theirs_frame}
def fit():
    model = {cls}Model(data=frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.fit(method="mcmc", chains=4, draws=1000, cores=2, random_seed=1, progressbar=False)
    return idata, "pymc-marketing (PyMC NUTS)"
"""

_MEASURE = """
import arviz as az
import numpy as np
names = {names!r}
def measure(idata, sampler, seconds):
    post = idata.posterior[names]
    ess = az.ess(post, method="bulk")
    rhat = az.rhat(post)
    div = int(np.asarray(idata.sample_stats["diverging"]).sum())
    return {{"seconds": seconds, "sampler": sampler, "ess_bulk_min": min(float(ess[n]) for n in names),
            "r_hat_max": max(float(rhat[n]) for n in names), "divergences": div,
            "means": {{n: float(post[n].mean()) for n in names}}}}
t = time.perf_counter()
idata, sampler = fit()
cold = measure(idata, sampler, time.perf_counter() - start)
cold["fit_only"] = time.perf_counter() - t
t = time.perf_counter()
idata, sampler = fit()
warm = measure(idata, sampler, time.perf_counter() - t)
print("RESULT " + json.dumps({{"cold": cold, "warm": warm}}))
"""


@dataclass
class Side:
    """Measurements of one library on one case (None when not run) and a note."""

    result: dict | None = None
    note: str = ""


@dataclass
class BayesResult:
    key: str
    name: str
    target: float
    ours: Side
    theirs: Side
    lines: list[str] = field(default_factory=list)


def _script(case: str, side: str, quick: bool) -> str:
    ours_cls, theirs_cls, names, their_names = _MODELS[case]
    spend = ours_cls == "GammaGamma"
    data = _DATA["1m" if case == "bayes-1m" else "cdnow"].format(n=100_000 if quick else 1_000_000)
    if side == "ours":
        body = _OURS.format(cls=ours_cls, data=data)
    else:
        names = their_names
        if spend:
            frame = 'frame = frame[frame["frequency"] > 0][["customer_id", "frequency", "monetary_value"]]'
        else:
            frame = 'frame = frame[["customer_id", "frequency", "recency", "T"]]'
        body = _THEIRS.format(cls=theirs_cls, data=data, theirs_frame=frame)
    return _PRELUDE.format(root=str(ROOT), here=str(HERE)) + body + _MEASURE.format(names=names)


def _run(script: str, timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"benchmark process failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def pymc_marketing_available() -> bool:
    return importlib.util.find_spec("pymc_marketing") is not None


def run_case(key: str, quick: bool = False) -> BayesResult:
    name, target = CASES[key]
    if quick and key == "bayes-1m":
        name = name.replace("1M", "100k")
    ours = Side(_run(_script(key, "ours", quick), timeout=1200))
    if key == "bayes-1m":
        theirs = Side(note="not run: pymc-marketing's model evaluates every customer at every step (no pattern "
                           "compression): 90 ms per gradient on 1M customers, 45-60 min for the run")
    elif not pymc_marketing_available():
        theirs = Side(note="not run: pymc-marketing is not installed (pip install 'clvmodels[bench]')")
    else:
        try:
            theirs = Side(_run(_script(key, "theirs", quick), timeout=1800))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            theirs = Side(note=f"failed: {str(exc).splitlines()[0][:200]}")
    result = BayesResult(key, name, target, ours, theirs)
    result.lines = describe(result)
    return result


def _fmt(side: Side, label: str) -> list[str]:
    if side.result is None:
        return [f"{label}: {side.note}"]
    cold, warm = side.result["cold"], side.result["warm"]
    means = ", ".join(f"{k} {v:.4g}" for k, v in cold["means"].items())
    return [
        f"{label}: {cold['sampler']}",
        f"  cold (fresh process, imports and compilation included): {cold['seconds']:.2f} s "
        f"(fit call {cold['fit_only']:.2f} s); warm: {warm['seconds']:.2f} s",
        f"  min bulk ESS {cold['ess_bulk_min']:.0f} -> {cold['ess_bulk_min'] / cold['seconds']:.0f} ESS/s cold, "
        f"{warm['ess_bulk_min'] / warm['seconds']:.0f} ESS/s warm; max r_hat {cold['r_hat_max']:.3f}, "
        f"{cold['divergences']} divergences",
        f"  posterior means: {means}",
    ]


def describe(result: BayesResult) -> list[str]:
    lines = _fmt(result.ours, "clvmodels") + _fmt(result.theirs, "pymc-marketing")
    if result.ours.result is not None:
        cold = result.ours.result["cold"]["seconds"]
        lines.append(f"target: under {result.target:g} s cold: {'PASS' if cold < result.target else 'MISS'}")
    return lines


def markdown_table(results: list[BayesResult]) -> str:
    rows = [
        "| Benchmark | clvmodels cold / warm | ESS/s (cold) | pymc-marketing cold / warm | ESS/s (cold) | Target | Result |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        def cells(side: Side) -> tuple[str, str]:
            if side.result is None:
                return "not run", "-"
            cold, warm = side.result["cold"], side.result["warm"]
            return f"{cold['seconds']:.1f} s / {warm['seconds']:.1f} s", f"{cold['ess_bulk_min'] / cold['seconds']:.0f}"
        ours, theirs = cells(r.ours), cells(r.theirs)
        passed = r.ours.result is not None and r.ours.result["cold"]["seconds"] < r.target
        rows.append(f"| {r.name} | {ours[0]} | {ours[1]} | {theirs[0]} | {theirs[1]} | {r.target:g} s | {'PASS' if passed else 'MISS'} |")
    return "\n".join(rows)


def run_all(quick: bool = False, only: str | None = None) -> list[BayesResult]:
    results = []
    for key in CASES:
        if only not in (None, key):
            continue
        print(f"\n## {CASES[key][0]} [{key}]", flush=True)
        result = run_case(key, quick)
        print("\n".join(result.lines), flush=True)
        results.append(result)
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k customers instead of 1M")
    parser.add_argument("--only", choices=list(CASES))
    args = parser.parse_args()
    print("\n" + markdown_table(run_all(args.quick, args.only)))
