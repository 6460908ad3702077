"""Shared machinery of the benchmarks: timing, results, the Markdown table, the environment.

A benchmark module exposes ``BENCHMARKS``, a list of :class:`Benchmark`. Each one prepares a
:class:`Case` (data already built, the two calls ready to run); :func:`run_case` runs one
warm-up call of each side, then ``repeats`` timed calls, alternating clvmodels and lifetimes,
and compares the warm-up outputs with the case's ``check``.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = [
    "Benchmark", "Case", "Check", "Result", "run_case", "environment", "load_average", "markdown_table", "fmt_time",
]


@dataclass(frozen=True)
class Check:
    """Whether the two implementations agree: a verdict, a short summary and details."""

    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    """A prepared benchmark: what to call on each side and how to compare the outputs."""

    name: str
    ours: Callable[[], Any]
    theirs: Callable[[], Any]
    check: Callable[[Any, Any], Check]
    repeats: int
    #: lifetimes does this fraction of the work; its time is multiplied by ``theirs_scale``
    #: (for example 20 of 2,000 parameter draws: 100), an extrapolation that the table marks
    theirs_scale: float = 1.0
    #: also measure the peak memory clvmodels allocates in one call (tracemalloc, numpy included)
    measure_memory: bool = False
    #: the library on the other side
    reference: str = "lifetimes"


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: a key for ``--only``, a target speed-up and a function preparing the case."""

    key: str
    target: float
    prepare: Callable[[bool], Case]  # prepare(quick) -> Case
    #: absolute goals for clvmodels: median seconds and peak bytes (``None``: no goal)
    budget: float | None = None
    memory_budget: int | None = None


@dataclass
class Result:
    """Timings of one benchmark (seconds) and the outcome of its agreement check."""

    key: str
    name: str
    target: float
    ours: list[float]
    theirs: list[float]
    warmup: tuple[float, float]
    check: Check
    warnings: dict[str, str]
    theirs_scale: float = 1.0
    budget: float | None = None
    memory_budget: int | None = None
    peak_bytes: int | None = None
    reference: str = "lifetimes"

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours)

    @property
    def theirs_median(self) -> float:
        return statistics.median(self.theirs)

    @property
    def ratio(self) -> float:
        """Reference median (times its scale) / clvmodels median: how many times faster clvmodels is."""
        return self.theirs_median * self.theirs_scale / self.ours_median

    @property
    def passed(self) -> bool:
        fast = self.budget is None or self.ours_median <= self.budget
        small = self.memory_budget is None or (self.peak_bytes is not None and self.peak_bytes <= self.memory_budget)
        return self.ratio >= self.target and fast and small

    def goals(self) -> str:
        """The targets, for the console and the table."""
        parts = [f"{self.target:g}x"]
        if self.budget is not None:
            parts.append(f"< {fmt_time(self.budget)}")
        if self.memory_budget is not None:
            parts.append(f"< {self.memory_budget / 2**30:.3g} GiB")
        return ", ".join(parts)

    def describe(self) -> list[str]:
        """Lines for the console: spread of the timings, per-round ratios, warnings, the check."""
        rounds = [t * self.theirs_scale / o for o, t in zip(self.ours, self.theirs)]
        lines = [
            f"clvmodels: median {fmt_time(self.ours_median)} "
            f"(min {fmt_time(min(self.ours))}, max {fmt_time(max(self.ours))}, n={len(self.ours)})",
            f"{self.reference}: median {fmt_time(self.theirs_median)} "
            f"(min {fmt_time(min(self.theirs))}, max {fmt_time(max(self.theirs))}, n={len(self.theirs)})",
            f"warm-up:   clvmodels {fmt_time(self.warmup[0])}, {self.reference} {fmt_time(self.warmup[1])}",
            f"ratio {_x(self.ratio)} (per round {_x(min(rounds))} to {_x(max(rounds))}), "
            f"target {self.goals()}: {'PASS' if self.passed else 'MISS'}",
        ]
        if self.theirs_scale != 1.0:
            lines.insert(2, f"{self.reference} did 1/{self.theirs_scale:g} of the work; its time is scaled by {self.theirs_scale:g}")
        if self.peak_bytes is not None:
            lines.insert(-1, f"clvmodels peak memory (tracemalloc): {self.peak_bytes / 2**20:,.0f} MiB")
        lines += [f"warnings from {side}: {text}" for side, text in self.warnings.items() if text]
        lines.append(f"agreement: {self.check.summary}{'' if self.check.ok else '  <-- MISMATCH'}")
        lines += [f"  {line}" for line in self.check.details]
        return lines


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call (garbage collected beforehand) and its output."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _warn_summary(caught: list[warnings.WarningMessage]) -> str:
    counts = Counter(w.category.__name__ for w in caught)
    return ", ".join(f"{n} x {name}" for name, n in counts.most_common())


def run_case(bench: Benchmark, case: Case) -> Result:
    """Warm up each side once, then time ``case.repeats`` alternating calls of each."""
    caught: dict[str, str] = {}
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        warm_ours, ours_out = _timed(case.ours)
        caught["clvmodels"] = _warn_summary(log)
        del log[:]
        warm_theirs, theirs_out = _timed(case.theirs)
        caught[case.reference] = _warn_summary(log)
    with warnings.catch_warnings():  # lifetimes' likelihoods reset the global warning filters
        check = case.check(ours_out, theirs_out)
    del ours_out, theirs_out

    ours: list[float] = []
    theirs: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # printing a warning is not part of the work
        for _ in range(case.repeats):
            ours.append(_timed(case.ours)[0])
            theirs.append(_timed(case.theirs)[0])
        peak = _peak_memory(case.ours) if case.measure_memory else None
    return Result(
        bench.key, case.name, bench.target, ours, theirs, (warm_ours, warm_theirs), check, caught,
        theirs_scale=case.theirs_scale, budget=bench.budget, memory_budget=bench.memory_budget, peak_bytes=peak,
        reference=case.reference,
    )


def _peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated during one call (numpy reports its buffers to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _x(ratio: float) -> str:
    """A speed-up: one decimal from 1 on, two significant digits below (0.83x, 0.021x)."""
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"


def fmt_time(seconds: float) -> str:
    """``0.00412`` -> ``"4.12 ms"``, ``6.5`` -> ``"6.50 s"``."""
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def environment() -> list[str]:
    """Lines describing the interpreter, the library versions and the CPUs."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    packages = ["clvmodels", "lifetimes", "pymc-marketing", "numpy", "scipy", "pandas", "autograd"]
    lines = [
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        ", ".join(f"{p} {_version(p)}" for p in packages),
        f"CPUs: {os.cpu_count()} ({usable} usable by this process)",
    ]
    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    lines.append(
        "threads: " + ", ".join(f"{k}={v}" for k, v in sorted(threads.items()))
        if threads
        else "threads: no *_NUM_THREADS variable set (BLAS library default)"
    )
    lines.append(f"load average at start: {load_average()}")
    return lines


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine makes timings noisy)."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table (for the README and ``results/latest.md``)."""
    rows = [
        "| Benchmark | clvmodels (median) | reference (median) | Speed-up | Target | Result | Agreement |",
        "|---|---:|---:|---:|---:|:---:|---|",
    ]
    for r in results:
        theirs = f"{r.reference}: " + fmt_time(r.theirs_median * r.theirs_scale) + (" (extrapolated)" if r.theirs_scale != 1 else "")
        ours = fmt_time(r.ours_median) + (f", peak {r.peak_bytes / 2**20:,.0f} MiB" if r.peak_bytes is not None else "")
        rows.append(
            f"| {r.name} | {ours} | {theirs} "
            f"| {_x(r.ratio)} | {r.goals()} | {'PASS' if r.passed else 'MISS'} "
            f"| {r.check.summary if r.check.ok else 'MISMATCH: ' + r.check.summary} |"
        )
    return "\n".join(rows)


def run_alone(benchmarks: list[Benchmark], doc: str, quick_help: str, argv: list[str] | None = None) -> int:
    """The command line of a benchmark module run alone (``run.py`` runs them all): ``--quick``
    (``quick_help``) and ``--only KEY``; prints the environment, each case and the table."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--only", metavar="KEY", choices=[b.key for b in benchmarks])
    args = parser.parse_args(argv)
    print("\n".join(environment()))
    results = []
    for bench in benchmarks:
        if args.only not in (None, bench.key):
            continue
        start = time.perf_counter()
        case = bench.prepare(args.quick)
        print(f"\n## {case.name} [{bench.key}]\ndata prepared in {fmt_time(time.perf_counter() - start)}")
        with warnings.catch_warnings():
            result = run_case(bench, case)
        print("\n".join(result.describe()), flush=True)
        results.append(result)
    print(f"\nload average at end: {load_average()}\n\n{markdown_table(results)}")
    return 0
