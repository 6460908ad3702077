"""The whole batch job on a large Parquet log: ``clvmodels run`` with the DuckDB engine.

Generates (once) a log of ``--customers`` customers in 24 monthly Parquet files, simulated
from a BG/NBD process (customers join uniformly over two years, buy at Gamma-distributed
rates and drop out after a purchase with Beta-distributed probabilities: the summary
benchmark's log has no dropout, which no dropout model can fit), writes a job configuration (BG/NBD and
Gamma-Gamma by maximum likelihood, a 52-week forecast with ``--draws`` parameter draws and
predictive bounds, predictions written as CSV) and runs ``clvmodels run`` in a fresh process.
It reports the wall time of the job, the time of each step (from the job's log) and the peak
memory of the whole process tree (``ru_maxrss`` of the child, from ``os.wait4``). Goal of the
scale issue on this 2-core machine, 10M customers / 25M transactions / 200 draws: under 15
minutes and 4 GB::

    .venv/bin/python benchmarks/bench_batch.py --customers 10_000_000
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_engines import N_FILES, SPAN_DAYS, START
from harness import load_average

HERE = Path(__file__).resolve().parent

CONFIG = """seed = 1

[input]
path = "{folder}/*.parquet"
engine = "duckdb"
customer_col = "customer_id"
date_col = "date"
amount_col = "amount"

[summary]
time_unit = "W"
observation_end = 2024-12-31

[model]
transactions = "bgnbd"
spend = "gamma-gamma"

[forecast]
horizon = 52
discount_rate = 0.15
n_draws = {draws}
predictive = true

[output]
dir = "{out}"
"""


SEED = 20261130
#: The process behind the log (weeks): mean rate 0.057 a week, mean dropout 0.2 after a purchase.
TRUE = {"r": 0.8, "alpha": 14.0, "a": 1.0, "b": 4.0}


def write_bgnbd_log(folder: Path, n_customers: int, seed: int = SEED, chunk: int = 1_000_000) -> tuple[Path, int]:
    """The log (skipped when already written) and its number of rows: ids, minute timestamps
    (datetime64[us]) and amounts (lognormal, per-customer mean), by chunks of customers."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / f".done-bgnbd-{n_customers}-{seed}"
    if stamp.exists():
        return folder, int(stamp.read_text())
    for old in folder.glob("*.parquet"):
        old.unlink()
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n_customers).astype(np.int64) + 1_000_000
    writers: dict[int, pq.ParquetWriter] = {}
    rows = 0
    try:
        for start in range(0, n_customers, chunk):
            n = min(chunk, n_customers - start)
            first = rng.integers(0, SPAN_DAYS, size=n)
            lam = rng.gamma(TRUE["r"], 1.0 / TRUE["alpha"], size=n) / 7.0  # per day
            p = rng.beta(TRUE["a"], TRUE["b"], size=n)
            repeats = np.minimum(rng.geometric(p) - 1, rng.poisson(lam * (SPAN_DAYS - first)) + 1)
            owner = np.repeat(np.arange(n), repeats)
            gaps = rng.exponential(size=len(owner)) / lam[owner]
            ends = np.cumsum(repeats)
            clock = np.cumsum(gaps)
            clock -= np.repeat(np.concatenate([[0.0], clock[ends[:-1] - 1]]) if n else clock[:0], repeats)
            day = first[owner] + clock
            keep = day < SPAN_DAYS
            customer = np.concatenate([np.arange(n), owner[keep]])
            days = np.concatenate([first.astype(np.float64), day[keep]])
            minutes = (days * 24 * 60).astype(np.int64)
            stamps = START.astype("datetime64[us]") + minutes.astype("timedelta64[m]")
            mean = rng.lognormal(3.0, 0.5, size=n)
            amount = np.round(mean[customer] * rng.gamma(4.0, 0.25, size=len(customer)), 2) + 0.01
            month = (days.astype(np.int64) * N_FILES) // SPAN_DAYS
            for m in range(N_FILES):
                sel = month == m
                table = pa.table({"customer_id": ids[start + customer[sel]], "date": stamps[sel], "amount": amount[sel]})
                if m not in writers:
                    writers[m] = pq.ParquetWriter(folder / f"month-{m:02d}.parquet", table.schema)
                writers[m].write_table(table, row_group_size=1_000_000)
            rows += len(customer)
    finally:
        for writer in writers.values():
            writer.close()
    stamp.write_text(str(rows))
    return folder, rows


def run_job(folder: Path, draws: int, work: Path) -> dict:
    """Run the job in a fresh process: wall seconds, peak RSS of the process tree, the log."""
    config = work / "job.toml"
    config.write_text(CONFIG.format(folder=folder, draws=draws, out=work / "out"))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "clvmodels", "run", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=HERE.parent)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    log = proc.stdout.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"the job failed with exit code {code}:\n{log[-3000:]}")
    return {"seconds": seconds, "peak_rss": usage.ru_maxrss * 1024, "log": log}


def steps(log: str) -> list[str]:
    """The job's own timing lines (``... done in 12.3 s`` style), as logged."""
    return [line.strip() for line in log.splitlines() if " INFO " in line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "clvmodels-bench-log")
    args = parser.parse_args(argv)
    folder, rows = write_bgnbd_log(args.dir / f"bgnbd-{args.customers}", args.customers)
    size = sum(f.stat().st_size for f in folder.glob("*.parquet"))
    print(f"log: {args.customers:,} customers, {rows:,} rows in {N_FILES} Parquet files ({size / 2**20:,.0f} MiB)")
    print(f"load before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="clvmodels-batch-") as work:
        result = run_job(folder, args.draws, Path(work))
        out = Path(work) / "out"
        written = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print("\n".join(steps(result["log"])))
    print(f"clvmodels run, engine duckdb, {args.draws} draws, predictive bounds: {result['seconds'] / 60:.1f} min, "
          f"peak RSS of the process tree {result['peak_rss'] / 2**30:.2f} GiB, outputs {written / 2**20:,.0f} MiB")
    print(f"load after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
