"""The summary of a Parquet transaction log: the DuckDB engine against the pandas path.

Each side runs in a fresh Python process, so its peak memory is that of the whole process tree
(``ru_maxrss`` of the child from ``os.wait4``), imports included; the time is measured inside
the child around the call only. The pandas side reads the files with ``pd.read_parquet`` and
calls ``rfm_summary(frame)``; the DuckDB side calls ``rfm_summary(path)``.

``bench_summary.py`` uses this for ``make bench``; run it alone for larger logs::

    .venv/bin/python benchmarks/bench_engines.py --customers 10_000_000 --rows 25_000_000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20240603
START = np.datetime64("2023-01-01", "D")
SPAN_DAYS = 730  # 24 months
N_FILES = 24

CHILD = r"""
import json, sys, time
import pandas as pd
import clvmodels
path, engine, limit = sys.argv[1], sys.argv[2], sys.argv[3]
options = dict(amount_col="amount", observation_end="2024-12-31", time_unit="W")
start = time.perf_counter()
if engine == "pandas":
    frame = pd.read_parquet(path)
    out = clvmodels.rfm_summary(frame, engine="pandas", **options)
elif engine == "import":
    out = pd.DataFrame()
else:
    out = clvmodels.rfm_summary(path, engine="duckdb", memory_limit=None if limit == "-" else limit, **options)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "customers": len(out)}))
"""


def write_log(folder: Path, n_customers: int, n_rows: int, seed: int = SEED) -> Path:
    """A synthetic log in ``N_FILES`` monthly Parquet files (skipped when already written).

    Every customer buys once; the other rows go to random customers between their first
    purchase and the end of the span, so many land on a day already taken. Ids are shuffled
    integers, times are minutes within the day (datetime64[us]), amounts in cents.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / f".done-{n_customers}-{n_rows}-{seed}"
    if stamp.exists():
        return folder
    for old in folder.glob("*.parquet"):
        old.unlink()
    rng = np.random.default_rng(seed)
    first = rng.integers(0, SPAN_DAYS, size=n_customers)
    who = rng.integers(0, n_customers, size=n_rows - n_customers)
    later = first[who] + (rng.random(len(who)) * (SPAN_DAYS - first[who])).astype(np.int64)
    customer = np.concatenate([np.arange(n_customers), who])
    day = np.concatenate([first, later])
    del who, later
    ids = rng.permutation(n_customers).astype(np.int64) + 1_000_000
    minutes = rng.integers(0, 24 * 60, size=n_rows)
    stamps = (START + day).astype("datetime64[us]") + minutes.astype("timedelta64[m]")
    amount = np.round(rng.lognormal(3.0, 0.8, size=n_rows), 2) + 0.01
    month = (day * N_FILES) // SPAN_DAYS
    order = np.argsort(month, kind="stable")
    bounds = np.searchsorted(month[order], np.arange(N_FILES + 1))
    for m in range(N_FILES):
        rows = order[bounds[m]:bounds[m + 1]]
        rows = rows[rng.permutation(len(rows))]
        table = pa.table({"customer_id": ids[customer[rows]], "date": stamps[rows], "amount": amount[rows]})
        pq.write_table(table, folder / f"month-{m:02d}.parquet", row_group_size=1_000_000)
    stamp.touch()
    return folder


def run_child(path: Path, engine: str, limit: str = "-") -> dict:
    """Run one side in a fresh process: its seconds (the call only) and peak RSS (bytes)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), engine, limit], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=HERE.parent)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} run failed: {err.strip()[-2000:]}")
    result = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    result["peak_rss"] = usage.ru_maxrss * 1024  # kilobytes on Linux
    return result


def measure(path: Path, limits: tuple[str, ...] = ("-", "500MB")) -> list[tuple[str, dict]]:
    """The import-only baseline, pandas, and DuckDB at each memory limit (``-``: the default)."""
    rows = [("python + imports only", run_child(path, "import")), ("pandas (read_parquet + rfm_summary)", run_child(path, "pandas"))]
    for limit in limits:
        label = "default memory_limit (40% of RAM)" if limit == "-" else f"memory_limit={limit}"
        rows.append((f"duckdb, {label}", run_child(path, "duckdb", limit)))
    return rows


def describe(rows: list[tuple[str, dict]]) -> list[str]:
    pandas = rows[1][1]
    lines = []
    for label, r in rows:
        ratio = "" if r is pandas or label.startswith("python") else (
            f", {pandas['seconds'] / r['seconds']:.1f}x faster, {r['peak_rss'] / pandas['peak_rss']:.2f} of pandas' peak")
        lines.append(f"{label}: {r['seconds']:.2f} s, peak RSS {r['peak_rss'] / 2**30:.2f} GiB{ratio}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=2_500_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "clvmodels-bench-log")
    parser.add_argument("--limits", nargs="*", default=["-", "500MB"])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    folder = write_log(args.dir / f"{args.customers}-{args.rows}", args.customers, args.rows)
    size = sum(f.stat().st_size for f in folder.glob("*.parquet"))
    print(f"log: {args.customers:,} customers, {args.rows:,} rows in {N_FILES} Parquet files ({size / 2**20:,.0f} MiB), "
          f"ready in {time.perf_counter() - start:.1f} s")
    for line in describe(measure(folder, tuple(args.limits))):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
