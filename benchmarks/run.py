"""Benchmark clvmodels against lifetimes: ``python benchmarks/run.py [--quick] [--only NAME] [--strict] [--spark]``.

Prints the environment, then for each benchmark the timings and whether both libraries
agree, and finally a Markdown table, also written to ``benchmarks/results/latest.md``.
The exit code is 0 even when a speed-up misses its target, unless ``--strict`` is given
(then 1 on any MISS or disagreement). The Spark summary beside DuckDB (``bench_spark.py``) runs
only when asked, with ``--spark`` or ``CLVMODELS_BENCH_SPARK=1``: starting the JVM is slow.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import bench_bayes
import bench_discrete
import bench_fit
import bench_forecast
import bench_models
import bench_subscriptions
import bench_summary
from harness import Benchmark, Result, environment, fmt_time, load_average, markdown_table, run_case

BENCHMARKS: list[Benchmark] = [*bench_fit.BENCHMARKS, *bench_models.BENCHMARKS, *bench_discrete.BENCHMARKS, *bench_summary.BENCHMARKS,
                               *bench_subscriptions.BENCHMARKS, *bench_forecast.BENCHMARKS]
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark clvmodels against lifetimes.")
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer repeats (smoke run)")
    parser.add_argument("--only", metavar="NAME", choices=[b.key for b in BENCHMARKS] + list(bench_bayes.CASES),
                        help="run one benchmark: %(choices)s")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if any benchmark misses its target or the libraries disagree")
    parser.add_argument("--spark", action="store_true",
                        help="also the Spark local[2] summary beside DuckDB (bench_spark.py; or CLVMODELS_BENCH_SPARK=1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    selected = [b for b in BENCHMARKS if args.only in (None, b.key)]
    env = environment()
    print("# clvmodels vs lifetimes" + (" (quick)" if args.quick else ""))
    print("\n".join(env))

    results: list[Result] = []
    for bench in selected:
        start = time.perf_counter()
        case = bench.prepare(args.quick)
        print(f"\n## {case.name} [{bench.key}]")
        print(f"data prepared in {fmt_time(time.perf_counter() - start)}")
        result = run_case(bench, case)
        print("\n".join(result.describe()), flush=True)
        results.append(result)

    # Bayesian fits against pymc-marketing: one cold and one warm run each, in fresh processes
    bayes = bench_bayes.run_all(args.quick, args.only) if args.only in (None, *bench_bayes.CASES) else []

    # Spark beside DuckDB: opt-in, the JVM takes 10-30 s to start
    spark_lines: list[str] = []
    if args.spark or os.environ.get("CLVMODELS_BENCH_SPARK", "") not in ("", "0"):
        import bench_spark

        print("\n## Spark [summary-spark]")
        spark_lines = bench_spark.report(args.quick)
        print("\n".join(spark_lines), flush=True)

    table = markdown_table(results) if results else ""
    if bayes:
        table += ("\n\n" if table else "") + bench_bayes.markdown_table(bayes)
    if spark_lines:
        table += ("\n\n" if table else "") + "\n".join(["Spark summary (bench_spark.py):", "", *(f"- {line}" for line in spark_lines)])
    env.append(f"load average at end: {load_average()}")
    print(f"\n{env[-1]}\n\n{table}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    header = [
        f"# Benchmarks{' (--quick)' if args.quick else ''}{f' (--only {args.only})' if args.only else ''}, "
        f"{datetime.now().isoformat(timespec='seconds')}",
        "",
        *(f"- {line}" for line in env),
        "",
        "Median wall time of repeated, interleaved calls after one warm-up each; "
        "speed-up = lifetimes median / clvmodels median.",
        "",
    ]
    RESULTS.write_text("\n".join([*header, table]) + "\n")
    print(f"\nwritten to {RESULTS}")

    failed = [r.key for r in results if not r.passed or not r.check.ok]
    failed += [r.key for r in bayes if r.ours.result is None or r.ours.result["cold"]["seconds"] >= r.target]
    if failed:
        print(f"MISS or disagreement: {', '.join(failed)}" + ("" if args.strict else " (not --strict: exit 0)"))
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
