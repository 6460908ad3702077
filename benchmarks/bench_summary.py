"""From a transaction log to the RFM summary: ``clvmodels.rfm_summary`` against
``lifetimes.utils.summary_data_from_transaction_data``, and the DuckDB engine against the pandas
path on a Parquet log (``summary-duckdb``; peak memory of each in a fresh process, see
``bench_engines.py``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import lifetimes.utils
import numpy as np
import pandas as pd

import bench_engines
import clvmodels
from harness import Benchmark, Case, Check

SEED = 20240602
START = np.datetime64("2023-01-01", "D")
SPAN_DAYS = 548  # about 1.5 years
RTOL = 1e-9


def transaction_log(n_customers: int, n_rows: int, seed: int = SEED) -> pd.DataFrame:
    """A shuffled synthetic log: every customer buys once, the other rows go to random customers.

    Each extra row falls between its customer's first purchase and the end of the span, so
    several land on a day already taken (the summaries merge those). Customer ids are shuffled
    integers, dates are midnights (datetime64[ns]) and amounts positive, in cents.
    """
    rng = np.random.default_rng(seed)
    first = rng.integers(0, SPAN_DAYS, size=n_customers)
    who = rng.integers(0, n_customers, size=n_rows - n_customers)
    later = first[who] + (rng.random(len(who)) * (SPAN_DAYS - first[who])).astype(np.int64)
    customer = np.concatenate([np.arange(n_customers), who])
    day = np.concatenate([first, later])
    order = rng.permutation(n_rows)
    ids = rng.permutation(n_customers).astype(np.int64) + 1_000_000
    return pd.DataFrame(
        {
            "customer_id": ids[customer[order]],
            "date": (START + day[order]).astype("datetime64[ns]"),
            "amount": np.round(rng.lognormal(3.0, 0.8, size=n_rows), 2) + 0.01,
        }
    )


def _check(ours: pd.DataFrame, theirs: pd.DataFrame) -> Check:
    """Same customers, identical frequency, the other columns equal to ``RTOL``."""
    if not ours.index.equals(theirs.index.sort_values()):
        return Check(False, "different customers", [f"clvmodels {len(ours):,}, lifetimes {len(theirs):,}"])
    theirs = theirs.reindex(ours.index)
    same_frequency = bool(np.array_equal(ours["frequency"].to_numpy(), theirs["frequency"].to_numpy()))
    rel = {}
    for col in ("recency", "T", "monetary_value"):
        a, b = ours[col].to_numpy(), theirs[col].to_numpy()
        rel[col] = float(np.max(np.abs(a - b) / np.where(b == 0, 1.0, np.abs(b))))
    ok = same_frequency and all(v <= RTOL for v in rel.values())
    summary = f"frequency {'identical' if same_frequency else 'DIFFERS'}; " + ", ".join(
        f"{col} {v:.1g}" for col, v in rel.items()
    )
    details = [
        f"{len(ours):,} customers on both sides, {int(ours['frequency'].sum()):,} repeat transactions",
        "max relative difference: " + ", ".join(f"{col} {v:.2g}" for col, v in rel.items())
        + f" (tolerance {RTOL:g})",
    ]
    return Check(ok, summary + " (max rel. diff)", details)


def prepare_rfm_summary(quick: bool) -> Case:
    """RFM summary of 1M customers / 2.5M rows (100k / 250k with ``quick``), in days."""
    n_customers, n_rows = (100_000, 250_000) if quick else (1_000_000, 2_500_000)
    tx = transaction_log(n_customers, n_rows)
    end = tx["date"].max()
    label = "100k customers / 250k" if quick else "1M customers / 2.5M"
    return Case(
        f"RFM summary, {label} transactions",
        ours=lambda: clvmodels.rfm_summary(
            tx, customer_col="customer_id", date_col="date", amount_col="amount",
            observation_end=end, time_unit="D",
        ),
        theirs=lambda: lifetimes.utils.summary_data_from_transaction_data(
            tx, "customer_id", "date", monetary_value_col="amount",
            observation_period_end=end, freq="D",
        ),
        check=_check,
        repeats=3 if quick else 7,
    )


def _check_engines(ours: pd.DataFrame, theirs: pd.DataFrame, memory: list[str]) -> Check:
    """DuckDB against pandas: frequency equal, recency and T bit-identical, monetary value 1e-12."""
    same_index = ours.index.equals(theirs.index)
    exact = same_index and all(
        np.array_equal(ours[c].to_numpy(), theirs[c].to_numpy()) for c in ("frequency", "recency", "T")
    )
    rel = float(np.max(np.abs(ours["monetary_value"].to_numpy() - theirs["monetary_value"].to_numpy())
                       / np.maximum(np.abs(theirs["monetary_value"].to_numpy()), 1e-300))) if same_index else np.inf
    ok = exact and rel <= 1e-12 and ours.attrs == theirs.attrs
    summary = (f"frequency, recency, T {'identical' if exact else 'DIFFER'}; monetary value {rel:.1g}; "
               f"attrs {'identical' if ours.attrs == theirs.attrs else 'DIFFER'}")
    return Check(ok, summary, [f"{len(ours):,} customers", *memory])


def prepare_engines(quick: bool) -> Case:
    """DuckDB vs pandas: 2M customers / 5M rows in 24 Parquet files (200k / 500k with ``quick``)."""
    n_customers, n_rows = (200_000, 500_000) if quick else (2_000_000, 5_000_000)
    root = Path(tempfile.gettempdir()) / "clvmodels-bench-log"
    folder = bench_engines.write_log(root / f"{n_customers}-{n_rows}", n_customers, n_rows)
    memory = ["peak RSS of the whole process, each side alone in a fresh process (imports included):",
              *(f"  {line}" for line in bench_engines.describe(bench_engines.measure(folder, ("-", "500MB"))))]
    options = dict(amount_col="amount", observation_end="2024-12-31", time_unit="W")
    return Case(
        f"RFM summary from Parquet, {n_customers // 1000:,}k customers / {n_rows // 1000:,}k rows: DuckDB vs pandas",
        ours=lambda: clvmodels.rfm_summary(str(folder), engine="duckdb", **options),
        theirs=lambda: clvmodels.rfm_summary(pd.read_parquet(folder), engine="pandas", **options),
        check=lambda ours, theirs: _check_engines(ours, theirs, memory),
        repeats=2 if quick else 3,
        reference="pandas path",
    )


BENCHMARKS = [Benchmark("rfm-summary", 4.0, prepare_rfm_summary), Benchmark("summary-duckdb", 2.0, prepare_engines)]
