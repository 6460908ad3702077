"""The summary of a Parquet transaction log in Spark (``local[2]``), beside DuckDB and pandas.

The log is :func:`bench_engines.write_log`'s (24 monthly Parquet files). Each side runs in a fresh
process; its peak memory is that of the whole process tree (the JVM and Spark's Python workers
included for Spark), sampled every 50 ms from ``/proc``, and for the single-process sides also
``ru_maxrss``. Spark's time is split into the session's start (the JVM) and the summary itself:
``clvmodels.spark.rfm_summary`` on ``spark.read.parquet(folder)``, written to Parquet (so every
customer is computed). DuckDB's and pandas' are those of :mod:`bench_engines`.

Opt-in in ``make bench`` (the JVM start is slow): ``benchmarks/run.py --spark`` or
``CLVMODELS_BENCH_SPARK=1``. Alone, for larger logs::

    .venv/bin/python benchmarks/bench_spark.py --customers 5_000_000 --rows 12_000_000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench_engines

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, os, shutil, sys, tempfile, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
from pyspark.sql import SparkSession
import clvmodels.spark as cs
path, memory = sys.argv[1], sys.argv[2]
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", memory).config("spark.sql.shuffle.partitions", "8")
         .config("spark.sql.session.timeZone", "UTC").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
spark.range(1).collect()
session = time.perf_counter() - start
out = tempfile.mkdtemp(prefix="clvmodels-bench-spark-")
start = time.perf_counter()
log = spark.read.parquet(path)
summary = cs.rfm_summary(log, amount_col="amount", observation_end="2024-12-31", time_unit="W")
summary.write.mode("overwrite").parquet(out)
seconds = time.perf_counter() - start
frequency = spark.read.parquet(out).selectExpr("sum(frequency)").collect()[0][0]
print(json.dumps({"seconds": seconds, "session_seconds": session,
                  "customers": cs.attrs_of(summary)["report"]["customers"], "frequency": int(frequency)}))
spark.stop()
shutil.rmtree(out, ignore_errors=True)
"""


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_sampled(args: list[str]) -> dict:
    """Run a child; return its JSON line, with the peak RSS of its process tree and its ru_maxrss."""
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=HERE.parent)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"run failed: {err.strip()[-2000:]}")
    result = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    result["tree_peak_rss"] = peak[0]
    return result


def measure(folder: Path, driver_memory: str = "2g") -> list[tuple[str, dict]]:
    """pandas, DuckDB (default memory limit) and Spark local[2], each in a fresh process."""
    rows = []
    for label, engine in (("pandas (read_parquet + rfm_summary)", "pandas"), ("duckdb, default memory_limit", "duckdb")):
        result = run_sampled([bench_engines.CHILD, str(folder), engine, "-"])
        rows.append((label, result))
    rows.append((f"spark local[2], driver memory {driver_memory}", run_sampled([CHILD, str(folder), driver_memory])))
    return rows


def describe(rows: list[tuple[str, dict]]) -> list[str]:
    duck = rows[1][1]
    lines = []
    for label, r in rows:
        extra = ""
        if "session_seconds" in r:
            extra = (f" (+ {r['session_seconds']:.1f} s to start the session), {r['seconds'] / duck['seconds']:.1f}x "
                     f"DuckDB's time, {r['tree_peak_rss'] / duck['tree_peak_rss']:.1f}x its peak")
        lines.append(f"{label}: {r['seconds']:.2f} s, peak RSS of the process tree "
                     f"{r['tree_peak_rss'] / 2**30:.2f} GiB{extra}; {r['customers']:,} customers")
    same = len({r["customers"] for _, r in rows}) == 1
    lines.append(f"customers {'identical' if same else 'DIFFER'} across engines")
    return lines


def report(quick: bool) -> list[str]:
    """Lines for ``benchmarks/run.py --spark``: 200k/500k rows with ``quick``, else 2M/5M."""
    n_customers, n_rows = (200_000, 500_000) if quick else (2_000_000, 5_000_000)
    folder = bench_engines.write_log(Path(tempfile.gettempdir()) / "clvmodels-bench-log" / f"{n_customers}-{n_rows}",
                                     n_customers, n_rows)
    return [f"RFM summary from Parquet, {n_customers // 1000:,}k customers / {n_rows // 1000:,}k rows: "
            "Spark local[2] beside DuckDB and pandas", *describe(measure(folder))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=2_500_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "clvmodels-bench-log")
    parser.add_argument("--driver-memory", default="2g")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    folder = bench_engines.write_log(args.dir / f"{args.customers}-{args.rows}", args.customers, args.rows)
    size = sum(f.stat().st_size for f in folder.glob("*.parquet"))
    print(f"log: {args.customers:,} customers, {args.rows:,} rows in {bench_engines.N_FILES} Parquet files "
          f"({size / 2**20:,.0f} MiB), ready in {time.perf_counter() - start:.1f} s; load {os.getloadavg()}")
    for line in describe(measure(folder, args.driver_memory)):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
