"""The distinct patterns of a per-customer summary, with the number of customers sharing each."""

from __future__ import annotations

import os
import warnings
from typing import Any

import pandas as pd

from ..exceptions import DataWarning

__all__ = ["pattern_table"]

#: Warn when there are more patterns than this share of the customers (little is gained).
PATTERN_SHARE = 0.5
#: ... but only from this many customers on.
_MIN_CUSTOMERS = 10_000


def pattern_table(
    summary: Any,
    columns: tuple[str, ...] | list[str] = ("frequency", "recency", "T"),
    *,
    weight: str = "weight",
    memory_limit: int | str | None = None,
    temp_directory: str | None = None,
) -> pd.DataFrame:
    """Group a per-customer summary into its distinct patterns, with a weight column.

    The likelihood of the BG/NBD and Pareto/NBD depends on a customer only through
    ``(frequency, recency, T)`` (Fader, Hardie & Lee 2005, eq. 6), and Gamma-Gamma's through
    ``(frequency, monetary_value)``: a fit on the patterns weighted by their counts gives the
    estimates of the fit on every customer, for a fraction of the work (``fit(patterns,
    sample_weight="weight")``).

    Parameters
    ----------
    summary : DataFrame, path, DuckDB relation, Arrow table, Polars frame or Spark DataFrame
        Per-customer summary (from :func:`clvmodels.rfm_summary`). A DataFrame is grouped by
        pandas; a Spark DataFrame in Spark (:func:`clvmodels.spark.pattern_table`); anything else
        (a Parquet file, a directory or glob of them, a relation) inside DuckDB, so the customers
        never need to fit in memory.
    columns : sequence of str
        The columns whose distinct combinations make the patterns.
    weight : str
        Name of the column holding the number of customers of each pattern (int64).
    memory_limit, temp_directory
        DuckDB only, as in :func:`clvmodels.rfm_summary`.

    Returns
    -------
    DataFrame
        One row per distinct pattern, sorted by ``columns``, with ``weight``. ``attrs`` keeps the
        summary's (time unit, observation end, ...) and adds ``customers`` and ``patterns``.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [0, 2, 0, 2], "recency": [0.0, 3.0, 0.0, 3.0],
    ...                         "T": [5.0, 5.0, 5.0, 5.0]})
    >>> pattern_table(summary)
       frequency  recency    T  weight
    0          0      0.0  5.0       2
    1          2      3.0  5.0       2
    """
    columns = list(columns)
    if isinstance(summary, pd.DataFrame):
        missing = [c for c in columns if c not in summary.columns]
        if missing:
            raise ValueError(
                f"summary has no column {', '.join(map(repr, missing))} (columns present: "
                f"{', '.join(map(repr, map(str, summary.columns)))}); pass columns=... or summarise "
                "with clvmodels.rfm_summary first."
            )
        if weight in columns:
            raise ValueError(f"weight={weight!r} is also one of columns={columns!r}; choose another name.")
        table = summary.groupby(columns, sort=True, dropna=False).size().reset_index(name=weight)
        table[weight] = table[weight].astype("int64")
        attrs = dict(summary.attrs)
    elif type(summary).__module__.startswith("pyspark"):  # grouped in Spark, collected to the driver
        from .. import spark

        table = spark.pattern_table(summary, columns, weight=weight)
        attrs = dict(table.attrs)
    else:
        table = _duckdb_patterns(summary, columns, weight, memory_limit, temp_directory)
        attrs = {}
    n_customers = int(table[weight].sum())
    attrs.update(customers=n_customers, patterns=len(table))
    table.attrs = attrs
    if n_customers >= _MIN_CUSTOMERS and len(table) > PATTERN_SHARE * n_customers:
        warnings.warn(
            f"{len(table):,} patterns for {n_customers:,} customers: grouping gains little (hourly "
            "resolution or continuous columns?); a daily resolution or a coarser time unit gives "
            "fewer distinct patterns.",
            DataWarning,
            stacklevel=2,
        )
    return table


def _duckdb_patterns(source: Any, columns: list[str], weight: str, memory_limit: Any, temp_directory: Any) -> pd.DataFrame:
    import duckdb

    from .duckdb import _ident, _sql_list, connect, read_files

    with connect(memory_limit, temp_directory) as con:
        if isinstance(source, str | os.PathLike):
            files, kind = read_files(source)
            reader = "read_parquet" if kind == "parquet" else "read_csv"
            con.execute(f"CREATE TEMP VIEW s AS SELECT * FROM {reader}({_sql_list(files)}, union_by_name = true)")
        elif isinstance(source, duckdb.DuckDBPyRelation):
            con.register("_input", source.to_arrow_reader())
            con.execute("CREATE TEMP TABLE s AS SELECT * FROM _input")
        else:
            frame = source.to_arrow() if type(source).__module__.startswith("polars") else source
            con.register("_input", frame)
            con.execute("CREATE TEMP VIEW s AS SELECT * FROM _input")
        present = [r[0] for r in con.sql("DESCRIBE SELECT * FROM s").fetchall()]
        missing = [c for c in columns if c not in present]
        if missing:
            raise ValueError(
                f"summary has no column {', '.join(map(repr, missing))} (columns present: "
                f"{', '.join(map(repr, present))}); pass columns=..."
            )
        cols = ", ".join(_ident(c) for c in columns)
        return con.execute(
            f"SELECT {cols}, count(*) AS {_ident(weight)} FROM s GROUP BY {cols} ORDER BY {cols}"
        ).df()
