"""Spark: summaries, pattern tables and forecasts of Spark DataFrames (``pip install clvmodels[spark]``).

The same contract as the pandas path (:mod:`clvmodels.data`, the reference) and the DuckDB engine,
for logs that live in a Spark cluster:

:func:`rfm_summary`, :func:`calibration_holdout_split`
    a Spark DataFrame of transactions in, a Spark DataFrame of customers out (one row per
    customer, the pandas path's columns and the customer id as a column). The validation is the
    pandas path's, with its messages and counts (the shared helpers of :mod:`clvmodels.data`);
    same-day purchases merge; ``frequency`` is an exact count, ``recency`` and ``T`` are integer
    periods divided by the same double as in pandas (so the same bits), and ``monetary_value``
    a sum in another order (equal to about 1e-15 relative). The summary's ``attrs`` (time unit,
    observation end, report) travel in the metadata of its ``T`` column, so they survive
    ``repartition``, ``select`` and Parquet files: :func:`attrs_of` reads them.
:func:`pattern_table`, :func:`fit`
    the distinct patterns with their number of customers, grouped in Spark and collected to the
    driver: a fit on them equals the fit on every customer.
:func:`forecast`, :func:`totals`, :func:`cohort_summary`
    per-customer forecasts as a Spark DataFrame, and the totals of the cohort and of segments
    with exact credible intervals (per-draw partial sums of each partition, added up in Spark).
    Parameter draws are taken once, on the driver; only the parameters and the draws go to the
    tasks (never a fitted model, which carries its patterns), and each partition calls the
    library's own forecast (:func:`clvmodels.forecast`) through ``mapInPandas``.

Dates: Spark ``DATE`` and ``TIMESTAMP_NTZ`` (local wall-clock time) are read as they are. A Spark
``TIMESTAMP`` is an instant (shown in the session's time zone): as the pandas path refuses
time-zone aware dates, it is refused unless ``time_zone=`` names the business's time zone, in
which the days (and hours) then begin. Dates stored as text or numbers are parsed by pandas, the
reference parser, once per *distinct* value, as the DuckDB engine does.

``pyspark`` is imported only when these functions run; importing :mod:`clvmodels` never imports it.
The Python of Spark's workers must have clvmodels installed (``PYSPARK_PYTHON``).
"""

from __future__ import annotations

import json
import warnings
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from . import data as _d
# the fault codes, the SQL that counts faults and the window, the problems built from the counts and
# the look-up of examples are the DuckDB engine's (that module imports duckdb only when it runs)
from .engines.duckdb import (
    _AMOUNT_CODES, _DATE_CODES, _EXAMPLE_VALUES, _VALID, _add_problem, _fault_count_parts, _fault_problems, _window_counts,
)
from .units import RESOLUTIONS, normalize_resolution, normalize_unit

__all__ = [
    "rfm_summary",
    "calibration_holdout_split",
    "attrs_of",
    "pattern_table",
    "fit",
    "forecast",
    "cohort_summary",
    "totals",
    "is_spark_dataframe",
]

#: Key of the summary's attributes in the metadata of its ``T`` column.
META_KEY = "clvmodels"
#: Customers a partition hands to :func:`clvmodels.forecast` at once.
ROWS_PER_CALL = 100_000
_US_PER_DAY = 86_400_000_000
_EPOCH = pd.Timestamp("1970-01-01")


def is_spark_dataframe(obj: Any) -> bool:
    """Whether ``obj`` is a Spark DataFrame (classic or Spark Connect), without importing pyspark.

    Examples
    --------
    >>> import pandas as pd
    >>> is_spark_dataframe(pd.DataFrame())
    False
    """
    return type(obj).__module__.startswith("pyspark.sql") and hasattr(obj, "schema") and hasattr(obj, "sparkSession")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence pyspark's own notices about pandas 3 (its support notice, its deprecated calls)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support", category=FutureWarning)
        warnings.filterwarnings("ignore", module="pyspark")  # raised in pyspark's code, not the caller's
        yield


def _modules() -> tuple[Any, Any, Any]:
    try:
        from pyspark.sql import Window, functions, types
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("clvmodels.spark needs pyspark: pip install 'clvmodels[spark]' (and Java 17+).") from exc
    return functions, types, Window


def _q(name: str) -> str:
    """A column name quoted for Spark SQL."""
    return "`" + str(name).replace("`", "``") + "`"


def _check_frame(df: Any, what: str = "transactions") -> None:
    if not is_spark_dataframe(df):
        raise TypeError(f"{what} must be a Spark DataFrame with engine='spark' (clvmodels.spark), got "
                        f"{type(df).__name__}; pass engine='auto' for pandas data, files or DuckDB relations.")


# --------------------------------------------------------------------------------------------
# the validated log
# --------------------------------------------------------------------------------------------


class _Log:
    """The transactions as a Spark DataFrame ``typed`` with columns ``cid, d, a`` (raw), ``period``,
    ``ns`` (nanoseconds, for messages), ``val`` and the fault codes, as the DuckDB engine's."""

    def __init__(self, df: Any, *, customer_col: str, date_col: str, amount_col: str | None,
                 date_format: str | None, resolution: str, time_zone: str | None):
        F, T, _ = _modules()
        self.F, self.T = F, T
        self.spark = df.sparkSession
        self.customer_col, self.date_col, self.amount_col = customer_col, date_col, amount_col
        self.resolution = resolution
        self.res_us = RESOLUTIONS[resolution] // 1000
        fields = {f.name: f.dataType for f in df.schema.fields}
        cols = [F.col(_q(customer_col)).alias("cid"), F.col(_q(date_col)).alias("d")]
        cols.append(F.col(_q(amount_col)).alias("a") if amount_col is not None else F.lit(None).cast("double").alias("a"))
        self.src = df.select(*cols)
        self.id_type, self.date_type = fields[customer_col], fields[date_col]
        self.amount_type = fields[amount_col] if amount_col is not None else None
        self.display: dict[Any, Any] = {}
        frame = self.src
        frame = self._dates(frame, date_format, time_zone)
        frame = self._amounts(frame)
        id_missing = "cid IS NULL"
        if isinstance(self.id_type, (T.FloatType, T.DoubleType)):
            id_missing = "(cid IS NULL OR isnan(cid))"
        self.typed = frame.selectExpr("cid", "d", "a", "period", "ns", "val", "date_code", "amount_code",
                                      f"({id_missing}) AS id_missing")

    # dates ------------------------------------------------------------------------------------
    def _dates(self, frame: Any, date_format: str | None, time_zone: str | None) -> Any:
        T, name, typ = self.T, self.date_col, self.date_type
        lo_day = (_d.DATE_MIN - _EPOCH).days
        hi_day = (_d.DATE_MAX + pd.Timedelta(days=1) - _EPOCH).days
        typed = isinstance(typ, (T.DateType, T.TimestampNTZType, T.TimestampType))
        if time_zone is not None and not isinstance(typ, T.TimestampType):
            raise ValueError(
                f"time_zone={time_zone!r} is for a column of instants (Spark TIMESTAMP); column {name!r} is "
                f"{typ.simpleString()}, already local time: leave time_zone out."
            )
        if isinstance(typ, T.TimestampType):
            if time_zone is None:
                raise ValueError(
                    _d._tz_message(name, f"a Spark TIMESTAMP, an instant shown in the session time zone "
                                         f"{self.spark.conf.get('spark.sql.session.timeZone')}")
                    + " In Spark: pass time_zone= to clvmodels.spark.rfm_summary (for example time_zone='Europe/Paris') so that days begin at "
                    "that zone's midnight, or store the column as TIMESTAMP_NTZ or DATE (local time)."
                )
            try:
                zoneinfo.ZoneInfo(str(time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"time_zone={time_zone!r} is not a time zone name such as 'Europe/Paris' or 'UTC'.") from None
            tz = str(time_zone).replace("'", "")
            micros = f"unix_micros(from_utc_timestamp(d, '{tz}'))"
            day = f"(({micros}) - pmod({micros}, {_US_PER_DAY})) div {_US_PER_DAY}"
            frame = frame.selectExpr("*", f"{day} AS _day", f"{micros} AS _us")
            period = f"(_us - pmod(_us, {self.res_us})) div {self.res_us}"
        elif isinstance(typ, T.DateType):
            frame = frame.selectExpr("*", "CAST(datediff(d, DATE'1970-01-01') AS BIGINT) AS _day")
            frame = frame.selectExpr("*", f"_day * {_US_PER_DAY} AS _us")
            period = "_day" if self.resolution == "D" else "_day * 24"
        elif isinstance(typ, T.TimestampNTZType):
            # wall-clock fields only: nothing here passes through the session's time zone; the
            # microseconds are needed only to show the latest far-future row (computed for those)
            frame = frame.selectExpr("*", "CAST(datediff(CAST(d AS DATE), DATE'1970-01-01') AS BIGINT) AS _day")
            frame = frame.selectExpr(
                "*", f"_day * {_US_PER_DAY} + CAST(hour(d) AS BIGINT) * 3600000000 + CAST(minute(d) AS BIGINT) * 60000000 "
                     "+ CAST(extract(SECOND FROM d) * 1000000 AS BIGINT) AS _us")
            period = "_day" if self.resolution == "D" else "_day * 24 + hour(d)"
        if typed:
            self.mapped = False
            ok = f"d IS NOT NULL AND _day >= {lo_day} AND _day < {hi_day}"
            return frame.selectExpr(
                "cid", "d", "a",
                f"CASE WHEN d IS NULL THEN {_DATE_CODES['missing']} WHEN NOT ({ok}) THEN {_DATE_CODES['out_of_range']} END AS date_code",
                f"CASE WHEN {ok} THEN {period} END AS period",
                f"CASE WHEN {ok} THEN try_multiply(_us, 1000) END AS ns",  # ANSI: no overflow when hoisted",
            )
        # text or numbers: pandas parses each distinct value, as the pandas path parses the column
        self.mapped = True
        F = self.F
        # each distinct value with its first row: pandas infers the format from the first value,
        # so the values go to pandas in the order of the log
        seen = (self.src.where("d IS NOT NULL").select("d", F.monotonically_increasing_id().alias("_i"))
                .groupBy("d").agg(F.min("_i").alias("_i")).collect())
        values = [r[0] for r in sorted(seen, key=lambda r: r[1])]
        series = pd.Series(values, dtype=object)
        numeric = isinstance(typ, T.NumericType)
        integral = isinstance(typ, T.IntegralType)
        if numeric and len(series):
            series = series.astype(np.int64) if integral else series.astype(np.float64)
        ns, problems = _d._parse_dates(series, name, date_format)
        code = np.zeros(len(series), dtype=np.int64)
        for p in problems:
            code[p.mask] = _DATE_CODES[p.key]
        shown = series.astype("Int64").astype(str) if numeric and date_format is not None and len(series) else series
        self.display = dict(zip(values, shown.tolist()))
        self.date_bad = {k: [v for v, c in zip(values, code) if c == _DATE_CODES[k]] for k in _DATE_CODES}
        period = np.floor_divide(ns, RESOLUTIONS[self.resolution])
        rows = [
            (v, None if c else int(p), None if c else int(n), None if c == 0 else int(c))
            for v, p, n, c in zip(values, period.tolist(), ns.tolist(), code.tolist())
        ]
        schema = T.StructType([
            T.StructField("v", typ), T.StructField("period", T.LongType()), T.StructField("ns", T.LongType()),
            T.StructField("code", T.LongType()),
        ])
        dmap = self.spark.createDataFrame(rows, schema)
        joined = frame.join(F.broadcast(dmap), frame["d"].eqNullSafe(dmap["v"]), "left")
        return joined.selectExpr(
            "cid", "d", "a", f"CASE WHEN d IS NULL THEN {_DATE_CODES['missing']} ELSE code END AS date_code",
            "period", "ns",
        )

    # amounts ----------------------------------------------------------------------------------
    def _amounts(self, frame: Any) -> Any:
        T, F = self.T, self.F
        self.non_numeric_values: list[Any] = []
        if self.amount_col is None:
            return frame.selectExpr("*", "CAST(NULL AS DOUBLE) AS val", "CAST(NULL AS INT) AS amount_code")
        name, typ = self.amount_col, self.amount_type
        if isinstance(typ, T.BooleanType):
            raise ValueError(f"column {name!r} holds booleans, not monetary amounts.")
        if isinstance(typ, T.NumericType):
            frame = frame.selectExpr("*", "CAST(a AS DOUBLE) AS val", "FALSE AS nonnum")
        else:
            # Spark casts what it can; what it cannot (or reads as NaN) goes through pd.to_numeric
            cast = "try_cast(CAST(a AS STRING) AS DOUBLE)"
            odd = [r[0] for r in self.src.where(f"a IS NOT NULL AND ({cast} IS NULL OR isnan({cast}))")
                   .selectExpr("CAST(a AS STRING)").distinct().collect()]
            parsed = pd.to_numeric(pd.Series(odd, dtype=object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            self.non_numeric_values = [v for v, x in zip(odd, parsed) if np.isnan(x)]
            rows = [(v, None if np.isnan(x) else float(x), bool(np.isnan(x))) for v, x in zip(odd, parsed)]
            schema = T.StructType([T.StructField("av", T.StringType()), T.StructField("ax", T.DoubleType()),
                                   T.StructField("bad", T.BooleanType())])
            amap = self.spark.createDataFrame(rows, schema)
            frame = frame.join(F.broadcast(amap), F.expr("CAST(a AS STRING)") == amap["av"], "left")
            frame = frame.selectExpr(
                *[c for c in frame.columns if c not in ("av", "ax", "bad")],
                f"CASE WHEN av IS NOT NULL THEN ax ELSE {cast} END AS val", "coalesce(bad, FALSE) AS nonnum",
            )
        inf = "CAST('Infinity' AS DOUBLE)"
        code = (
            f"CASE WHEN nonnum THEN {_AMOUNT_CODES['non_numeric']} "
            f"WHEN a IS NULL OR isnan(val) THEN {_AMOUNT_CODES['missing']} "
            f"WHEN abs(val) = {inf} THEN {_AMOUNT_CODES['infinite']} "
            f"WHEN val < 0 THEN {_AMOUNT_CODES['negative']} END"
        )
        return frame.selectExpr(*[c for c in frame.columns if c != "nonnum"], f"{code} AS amount_code")

    # examples: the first bad row in the log's order ---------------------------------------------
    def _first(self, frame: Any, what: str, condition: str) -> Any:
        rows = frame.where(condition).selectExpr(what).limit(1).collect()
        return rows[0][0] if rows else None

    def date_example(self, key: str) -> Any:
        if not self.mapped:  # out of range typed dates: shown as pandas shows a Timestamp
            day = self._first(self.typed.selectExpr("d", "date_code"), "d", f"date_code = {_DATE_CODES[key]}")
            return _shown_datetime(day)
        bad = self.date_bad[key]
        if len(bad) <= _EXAMPLE_VALUES:
            raw = self._first(self.src.where(self.F.col("d").isin(bad)), "d", "TRUE")
        else:
            raw = self._first(self.typed, "d", f"date_code = {_DATE_CODES[key]}")
        shown = self.display.get(raw, raw)
        return str(shown) if key == "out_of_range" else shown

    def amount_example(self, key: str) -> Any:
        if key == "non_numeric":
            bad = [str(v) for v in self.non_numeric_values]
            if len(bad) <= _EXAMPLE_VALUES:
                return self._first(self.src.where(self.F.expr("CAST(a AS STRING)").isin(bad)), "a", "TRUE")
            return self._first(self.typed, "a", f"amount_code = {_AMOUNT_CODES['non_numeric']}")
        return float(self._first(self.typed, "val", f"amount_code = {_AMOUNT_CODES['negative']}"))


def _shown_datetime(value: Any) -> str:
    """A Spark date or timestamp as pandas shows a Timestamp (``'2300-01-01 00:00:00'``)."""
    if value is None:
        return "None"
    if not hasattr(value, "hour"):  # a date
        return f"{value.isoformat()} 00:00:00"
    text = value.replace(tzinfo=None).isoformat(sep=" ")
    return text


def _validate(
    df: Any, *, customer_col: str, date_col: str, amount_col: str | None, date_format: str | None,
    observation_end: Any, time_unit: str, resolution: str | None, invalid: str, duplicates: str,
    time_zone: str | None, stacklevel: int,
) -> tuple[_Log, int, dict[str, Any], Any]:
    """Validate in Spark as :func:`clvmodels.data._validate_transactions` does in pandas.

    Returns the log, the observation end's period, the report, and the rows kept
    (``cid, period, val``) as a Spark DataFrame.
    """
    _check_frame(df)
    _d._check_policies(invalid, duplicates)
    normalize_unit(time_unit)
    resolution = normalize_resolution(resolution, time_unit)
    needed = {"customer_col": customer_col, "date_col": date_col}
    if amount_col is not None:
        needed["amount_col"] = amount_col
    _d._check_column_names(list(df.columns), needed, "transactions")
    end_period = None
    if observation_end is not None:
        end_period = _d._period_of(_d._to_timestamp(observation_end, "observation_end"), resolution)
    log = _Log(df, customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
               resolution=resolution, time_zone=time_zone)
    t1 = log.typed
    date_keys, amount_keys, fault_parts = _fault_count_parts(amount_col is not None)
    parts = ["count(*)", "count_if(id_missing)", "count_if(period IS NOT NULL)", *fault_parts]
    far = _d._FAR_FUTURE_DAYS * _d._NS_PER_DAY // RESOLUTIONS[resolution]
    if duplicates == "keep":  # the same pass also counts what the summary leaves out
        parts += _window_counts(end_period, far)
    counts = list(t1.selectExpr(*parts).collect()[0])
    n_rows, n_id, n_dated = counts[0], counts[1], counts[2]
    if n_rows == 0:
        raise ValueError("transactions is empty (0 rows); there is nothing to summarise.")
    extra = dict(zip(["top", "late", "far", "latest", "zero"], counts[-5:])) if duplicates == "keep" else {}
    problems, first_fault = _fault_problems(counts[3:], date_keys, amount_keys, n_id, log, customer_col, date_col, amount_col)
    if observation_end is None and n_dated == 0:
        raise ValueError(f"column {date_col!r} has no valid date.")
    if problems and invalid == "raise":
        _d._raise_invalid(problems, n_rows)

    rows = t1
    if duplicates != "keep":
        cols = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
        keys = ["cid", "d", "a", "period", "ns", "val", "date_code", "amount_code", "id_missing"]
        groups = t1.groupBy(*keys).count()
        n_dup, n_dup_first, *window = groups.selectExpr(
            "sum(count - 1)", f"sum(CASE WHEN {_VALID} THEN count - 1 ELSE 0 END)", *_window_counts(end_period, far)
        ).collect()[0]
        extra = dict(zip(["top", "late", "far", "latest", "zero"], window))
        n_dup, n_dup_first = int(n_dup or 0), int(n_dup_first or 0)
        if n_dup:
            _add_problem(problems, first_fault, _d._duplicate_problem(cols, None, n=n_dup), n_dup_first)
            if duplicates == "raise":
                raise ValueError("Invalid transactions: " + problems[-1].describe() + ".")
        rows = groups.drop("count")
    n_invalid = sum(first_fault.values())
    if observation_end is None:
        top = extra["top"]
        if top is None:
            _d._exclusion_report(n_rows=n_rows, problems=problems, first_fault=first_fault, n_invalid=n_rows,
                                 n_late=0, n_far=0, latest=None, end_period=None, resolution=resolution,
                                 stacklevel=stacklevel)
        end_period = int(top)
    n_late, n_far, latest = extra["late"], extra["far"], extra["latest"]
    report = _d._exclusion_report(
        n_rows=n_rows, problems=problems, first_fault=first_fault, n_invalid=n_invalid, n_late=int(n_late),
        n_far=int(n_far), latest=None if latest is None else str(pd.Timestamp(int(latest), unit="ns")),
        end_period=end_period, resolution=resolution, stacklevel=stacklevel,
    )
    kept = rows.where(f"{_VALID} AND period <= {end_period}").select("cid", "period", "val")
    if amount_col is not None:
        report["zero_amount_rows"] = int(extra["zero"])
    return log, end_period, report, kept


# --------------------------------------------------------------------------------------------
# per customer
# --------------------------------------------------------------------------------------------


def _per_customer(kept: Any, amounts: bool) -> Any:
    """Per customer (``cid``): distinct periods (``count``), first and last period and, with amounts,
    the value of the first transaction and the total of the later ones (a plain sum of them, never
    a difference that could cancel digits)."""
    F, _, _ = _modules()
    aggs = ["count(*) AS count", "min(period) AS first", "max(period) AS last"]
    if not amounts:
        return kept.select("cid", "period").distinct().groupBy("cid").agg(*[F.expr(a) for a in aggs])
    merged = kept.groupBy("cid", "period").agg(F.sum("val").alias("v"))
    aggs += ["min_by(v, period) AS first_value",
             "aggregate(filter(collect_list(struct(period, v)), t -> t.period > min(period)), "
             "CAST(0 AS DOUBLE), (total, t) -> total + t.v) AS repeat_value"]
    return merged.groupBy("cid").agg(*[F.expr(a) for a in aggs])


def _checks(per: Any, *, customer_col: str, amount_col: str | None, resolution: str, holdout: bool = False,
            stacklevel: int) -> int:
    """The pandas path's checks of the per-customer totals (overflow, spans, free repeat purchases),
    from one aggregate, with its messages; returns the number of customers."""
    limit = int(_d.MAX_SPAN_YEARS * 365.25 * _d._NS_PER_DAY) // RESOLUTIONS[resolution]
    amounts = amount_col is not None
    parts = ["count(*)", f"count_if(last - first > {limit})",
             f"min(CASE WHEN last - first > {limit} THEN struct(cid, first, last) END)"]
    finite = "(NOT isnan({0}) AND abs({0}) != CAST('Infinity' AS DOUBLE))"
    if amounts:
        bad = f"NOT {finite.format('first_value')} OR NOT {finite.format('repeat_value')}"
        parts += [f"count_if({bad})", f"min(CASE WHEN {bad} THEN cid END)",
                  "count_if(count > 1 AND repeat_value <= 0)"]
        if holdout:
            hbad = f"NOT {finite.format('h_total')}"
            parts += [f"count_if({hbad})", f"min(CASE WHEN {hbad} THEN cid END)"]
    row = list(per.selectExpr(*parts).collect()[0])
    n, n_long, long_first = row[0], row[1], row[2]
    if amounts and holdout and row[6]:
        _finite_error(row[6], row[7], amount_col, " in the holdout period")
    if amounts and row[3]:
        _finite_error(row[3], row[4], amount_col, "")
    if n_long:
        cid, first, last = long_first
        ones = np.ones(n_long, dtype=np.int64)
        _d._check_spans(pd.Index([cid] * n_long), {"count": ones, "first": ones * first, "last": ones * last},
                        resolution, stacklevel + 1)
    if amounts and row[5]:
        free = row[5]
        ones = np.ones(free, dtype=np.int64)
        # the pandas path's own warning, from a stand-in of the customers concerned
        _d._summary_frame(pd.RangeIndex(free), {"count": ones * 2, "first": ones * 0, "last": ones * 0,
                                                "first_value": np.ones(free), "repeat_value": np.zeros(free)},
                          0, 1.0, customer_col, resolution=resolution, amount_col=amount_col, stacklevel=stacklevel + 1)
    return int(n)


def _finite_error(n_bad: int, example: Any, amount_col: str | None, what: str) -> None:
    """The pandas path's error for totals that overflowed (its own text, from a stand-in)."""
    bad = np.full(int(n_bad), np.inf)
    per = {"first_value": bad, "repeat_value": bad}
    _d._check_finite_values(pd.Index([example] * int(n_bad)), per, amount_col, what=what)


def _with_attrs(frame: Any, attrs: dict[str, Any]) -> Any:
    """``frame`` with ``attrs`` in the metadata of its ``T`` column."""
    F, _, _ = _modules()
    meta = {META_KEY: json.dumps(attrs, default=str)}
    return frame.select(*[F.col(_q(c)).alias(c, metadata=meta) if c == "T" else F.col(_q(c)) for c in frame.columns])


def attrs_of(frame: Any) -> dict[str, Any]:
    """The ``attrs`` of a summary made by :func:`rfm_summary` or :func:`calibration_holdout_split`
    (time unit, resolution, observation end, report), kept in the metadata of its ``T`` column.

    They survive ``select``, ``repartition`` and Parquet files; a frame without them gives ``{}``.

    Examples
    --------
    >>> import pandas as pd
    >>> attrs_of(pd.DataFrame())
    {}
    """
    if not is_spark_dataframe(frame):
        return {}
    for f in frame.schema.fields:
        text = (f.metadata or {}).get(META_KEY)
        if text:
            return json.loads(text)
    return {}


def _persist(frame: Any, persist: bool) -> Any:
    if persist:
        from pyspark import StorageLevel

        return frame.persist(StorageLevel.MEMORY_AND_DISK)
    return frame


def _summarize(transactions: Any, *, customer_col: str, date_col: str, amount_col: str | None,
               observation_end: Any, time_unit: str, resolution: str | None, date_format: str | None,
               invalid: str, duplicates: str, time_zone: str | None, persist: bool, stacklevel: int) -> Any:
    log, end_period, report, kept = _validate(
        transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
        observation_end=observation_end, time_unit=time_unit, resolution=resolution, invalid=invalid,
        duplicates=duplicates, time_zone=time_zone, stacklevel=stacklevel + 2,
    )
    resolution = log.resolution
    per = _persist(_per_customer(kept, amount_col is not None), persist)
    report["customers"] = _checks(per, customer_col=customer_col, amount_col=amount_col, resolution=resolution,
                                  stacklevel=stacklevel + 1)
    divisor = _d._divisor(time_unit, resolution)
    cols = [f"cid AS {_q(customer_col)}", "count - 1 AS frequency",
            f"CAST(last - first AS DOUBLE) / CAST({divisor!r} AS DOUBLE) AS recency",
            f"CAST({end_period} - first AS DOUBLE) / CAST({divisor!r} AS DOUBLE) AS T"]
    if amount_col is not None:
        cols.append("CASE WHEN count > 1 THEN repeat_value / CAST(count - 1 AS DOUBLE) ELSE 0.0 END AS monetary_value")
    return _with_attrs(per.selectExpr(*cols), _d._attrs(time_unit, resolution, end_period, report))


def rfm_summary(
    transactions: Any,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    observation_end: Any = None,
    time_unit: str = "D",
    resolution: str | None = None,
    date_format: str | None = None,
    invalid: _d.InvalidPolicy = "raise",
    duplicates: _d.DuplicatePolicy = "keep",
    time_zone: str | None = None,
    persist: bool = True,
) -> Any:
    """:func:`clvmodels.rfm_summary` of a Spark DataFrame of transactions, computed in Spark.

    Parameters
    ----------
    transactions : pyspark.sql.DataFrame
        One row per purchase.
    customer_col, date_col, amount_col, observation_end, time_unit, resolution, date_format, invalid, duplicates
        As in :func:`clvmodels.rfm_summary`: the same validation, with the same messages, counts
        and warnings, and the same summary.
    time_zone : str, optional
        For a date column of Spark ``TIMESTAMP`` (instants): the business's time zone (an IANA
        name such as ``"Europe/Paris"``), in which days begin. Without it such a column is
        refused, as the pandas path refuses time-zone aware dates. ``DATE`` and
        ``TIMESTAMP_NTZ`` columns are local times already and need none.
    persist : bool
        Keep the per-customer result (``MEMORY_AND_DISK``): the checks of the totals and your
        next action then read it once. Call ``.unpersist()`` on the result when done.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per customer, in no particular order: ``customer_col``, ``frequency`` (bigint),
        ``recency``, ``T`` and, with amounts, ``monetary_value`` (double), equal to the pandas
        path's (``recency`` and ``T`` to the bit). ``attrs_of(result)`` gives the pandas result's
        ``attrs``.

    Examples
    --------
    >>> from pyspark.sql import SparkSession  # doctest: +SKIP
    >>> spark = SparkSession.builder.master("local[2]").getOrCreate()  # doctest: +SKIP
    >>> log = spark.createDataFrame([("007", "2024-01-01"), ("007", "2024-01-15"), ("01", "2024-01-08")],
    ...                             "customer_id string, date string")  # doctest: +SKIP
    >>> rfm_summary(log, observation_end="2024-01-29", time_unit="W").orderBy("customer_id").show()  # doctest: +SKIP
    +-----------+---------+-------+---+
    |customer_id|frequency|recency|  T|
    +-----------+---------+-------+---+
    |        007|        1|    2.0|4.0|
    |         01|        0|    0.0|3.0|
    +-----------+---------+-------+---+
    """
    return _summarize(transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col,
                      observation_end=observation_end, time_unit=time_unit, resolution=resolution,
                      date_format=date_format, invalid=invalid, duplicates=duplicates, time_zone=time_zone,
                      persist=persist, stacklevel=3)


def _split(transactions: Any, *, calibration_end: Any, observation_end: Any, customer_col: str, date_col: str,
           amount_col: str | None, time_unit: str, resolution: str | None, date_format: str | None, invalid: str,
           duplicates: str, time_zone: str | None, persist: bool, stacklevel: int) -> Any:
    end_ts = None if observation_end is None else _d._to_timestamp(observation_end, "observation_end")
    cal_ts = _d._to_timestamp(calibration_end, "calibration_end")
    log, end_period, report, kept = _validate(
        transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
        observation_end=observation_end, time_unit=time_unit, resolution=resolution, invalid=invalid,
        duplicates=duplicates, time_zone=time_zone, stacklevel=stacklevel + 2,
    )
    resolution = log.resolution
    amounts = amount_col is not None
    cal_period = _d._period_of(cal_ts, resolution)
    _d._check_split_periods(cal_period, end_period, cal_ts, end_ts)
    cal = kept.where(f"period <= {cal_period}")
    if cal.isEmpty():
        raise _d._no_calibration_purchase(cal_ts)
    per = _per_customer(cal, amounts)
    later = kept.where(f"period > {cal_period}")
    if amounts:
        hold = later.groupBy("cid", "period").agg({"val": "sum"}).withColumnRenamed("sum(val)", "v")
        hold = hold.groupBy("cid").agg({"*": "count", "v": "sum"}).withColumnRenamed("count(1)", "h_count")
        hold = hold.withColumnRenamed("sum(v)", "h_total")
    else:
        hold = later.select("cid", "period").distinct().groupBy("cid").count().withColumnRenamed("count", "h_count")
    new = later.select("cid").distinct().join(per.select("cid"), "cid", "left_anti").count()
    joined = _persist(per.join(hold, "cid", "left"), persist)
    checked = joined.fillna(0.0, subset=["h_total"]) if amounts else joined
    report["customers"] = _checks(checked, customer_col=customer_col, amount_col=amount_col, resolution=resolution,
                                  holdout=True, stacklevel=stacklevel + 1)
    report["customers_first_seen_in_holdout"] = int(new)
    divisor = _d._divisor(time_unit, resolution)
    d = f"CAST({divisor!r} AS DOUBLE)"
    cols = [f"cid AS {_q(customer_col)}", "count - 1 AS frequency",
            f"CAST(last - first AS DOUBLE) / {d} AS recency", f"CAST({cal_period} - first AS DOUBLE) / {d} AS T"]
    if amounts:
        cols.append("CASE WHEN count > 1 THEN repeat_value / CAST(count - 1 AS DOUBLE) ELSE 0.0 END AS monetary_value")
    cols.append("coalesce(h_count, 0) AS frequency_holdout")
    if amounts:
        cols.append("CASE WHEN h_count > 0 THEN h_total / CAST(h_count AS DOUBLE) ELSE 0.0 END AS monetary_value_holdout")
    cols.append(f"CAST({end_period - cal_period} AS DOUBLE) / {d} AS duration_holdout")
    attrs = _d._attrs(time_unit, resolution, cal_period, report)
    attrs["calibration_end"] = attrs.pop("observation_end")
    attrs["observation_end"] = pd.Timestamp(end_period * RESOLUTIONS[resolution], unit="ns").isoformat()
    return _with_attrs(joined.selectExpr(*cols), attrs)


def calibration_holdout_split(
    transactions: Any,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    time_unit: str = "D",
    resolution: str | None = None,
    date_format: str | None = None,
    invalid: _d.InvalidPolicy = "raise",
    duplicates: _d.DuplicatePolicy = "keep",
    time_zone: str | None = None,
    persist: bool = True,
) -> Any:
    """:func:`clvmodels.calibration_holdout_split` of a Spark DataFrame, computed in Spark.

    The arguments are those of :func:`clvmodels.calibration_holdout_split`, plus ``time_zone``
    and ``persist`` as in :func:`rfm_summary`. Returns a Spark DataFrame: ``customer_col`` and the
    pandas result's columns (``frequency_holdout`` bigint, the others double), its ``attrs`` in
    :func:`attrs_of`.

    Examples
    --------
    >>> split = calibration_holdout_split(log, calibration_end="1997-09-30", time_unit="W")  # doctest: +SKIP
    >>> split.columns  # doctest: +SKIP
    ['customer_id', 'frequency', 'recency', 'T', 'frequency_holdout', 'duration_holdout']
    """
    return _split(transactions, calibration_end=calibration_end, observation_end=observation_end,
                  customer_col=customer_col, date_col=date_col, amount_col=amount_col, time_unit=time_unit,
                  resolution=resolution, date_format=date_format, invalid=invalid, duplicates=duplicates,
                  time_zone=time_zone, persist=persist, stacklevel=3)


# --------------------------------------------------------------------------------------------
# pattern tables and fits
# --------------------------------------------------------------------------------------------


def pattern_table(summary: Any, columns: Any = ("frequency", "recency", "T"), *, weight: str = "weight") -> pd.DataFrame:
    """The distinct patterns of a Spark summary with their number of customers, grouped in Spark
    and collected to the driver (see :func:`clvmodels.pattern_table`, which calls this for a
    Spark DataFrame and adds the warning when patterns are nearly as many as customers).

    Examples
    --------
    >>> table = pattern_table(spark_summary)  # doctest: +SKIP
    >>> BetaGeo().fit(table, sample_weight="weight")  # doctest: +SKIP
    """
    _check_frame(summary, "summary")
    columns = list(columns)
    present = list(summary.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValueError(
            f"summary has no column {', '.join(map(repr, missing))} (columns present: "
            f"{', '.join(map(repr, present))}); pass columns=..."
        )
    if weight in columns:
        raise ValueError(f"weight={weight!r} is also one of columns={columns!r}; choose another name.")
    cols = [_q(c) for c in columns]
    grouped = summary.groupBy(*cols).count().withColumnRenamed("count", weight).orderBy(*cols)
    with _quiet():
        table = grouped.toPandas()
    table[weight] = table[weight].astype("int64")
    table.attrs = attrs_of(summary)
    return table


def fit(model: Any, summary: Any, method: str = "mle", **fit_options: Any) -> Any:
    """Fit ``model`` to a Spark summary through its pattern table: one call, the same estimates.

    The patterns (``frequency, recency, T`` for a transaction model, with its covariate columns
    when it has covariates; ``frequency, monetary_value`` for a spend model) are grouped in
    Spark, collected to the driver with their weights, and ``model.fit(patterns, method,
    sample_weight="weight")`` runs there; the estimates equal those of the fit on every customer.

    Returns
    -------
    The fitted model.

    Examples
    --------
    >>> from clvmodels import BetaGeo  # doctest: +SKIP
    >>> model = fit(BetaGeo(), spark_summary)  # doctest: +SKIP
    """
    from .engines.patterns import pattern_table as patterns

    kind = getattr(model, "kind", None)
    columns = ("frequency", "monetary_value") if kind == "spend" else ("frequency", "recency", "T", *_covariate_columns(model))
    return model.fit(patterns(summary, columns), method, sample_weight="weight", **fit_options)


def _covariate_columns(model: Any) -> tuple[str, ...]:
    """The covariate columns a transaction model fits or forecasts with (none without)."""
    spec = getattr(model, "covariates_", None)
    if spec is None:
        settings = getattr(model, "_covariate_spec", None)
        spec = settings() if settings is not None else None
    return tuple(spec.columns) if spec is not None else ()


# --------------------------------------------------------------------------------------------
# forecasts
# --------------------------------------------------------------------------------------------


def _light(model: Any) -> dict[str, Any] | None:
    """What a task needs of a fitted model: its class, parameters and time unit (not its patterns)."""
    if model is None:
        return None
    model._check_fitted()
    return {"cls": type(model), "params": model.params_.to_dict(), "time_unit": getattr(model, "time_unit_", None),
            "method": getattr(model, "method_", "mle"), "covariates": getattr(model, "covariates_", None)}


def _rebuild(spec: dict[str, Any] | None) -> Any:
    """A model rebuilt in a task from :func:`_light` (parameters only)."""
    if spec is None:
        return None
    model = spec["cls"]()
    names = list(spec["cls"].param_names)
    if spec.get("covariates") is not None:  # the coding of the covariates, and their coefficients
        model.covariates_ = spec["covariates"]
        names += list(spec["covariates"].coefficient_names())
        model.param_names = tuple(names)
    model.params_ = pd.Series(spec["params"], name="estimate")[names]
    model.time_unit_ = spec["time_unit"]
    model.method_ = spec["method"]
    return model


def _plan(transaction_model: Any, spend_model: Any, summary: Any, customer_col: str | None, n_draws: int,
          draws: str | None, random_seed: int | None, options: dict[str, Any]) -> dict[str, Any]:
    """Everything the tasks need: the light models, the draws (taken here, once) and the options."""
    from .models.params import seed_sequence

    _check_frame(summary, "summary")
    attrs = attrs_of(summary)
    customer_col = customer_col or next(
        (c for c in summary.columns if c not in ("frequency", "recency", "T", "monetary_value")), None)
    if customer_col is None or customer_col not in summary.columns:
        raise ValueError(f"customer_col={customer_col!r} is not a column of the summary; columns: {summary.columns}.")
    if random_seed is None:  # one fresh seed for every task (recorded in the settings), not one each
        random_seed = int(np.random.SeedSequence().entropy)
    # the same draws as clvmodels.forecast takes for this seed
    seed_tx, seed_spend, _ = seed_sequence(random_seed).spawn(3)
    tx_draws = transaction_model.sample_params(n_draws, method=draws, random_seed=seed_tx)
    spend_draws = spend_model.sample_params(n_draws, method=draws, random_seed=seed_spend) if spend_model is not None else None
    lo, hi = summary.selectExpr("min(T)", "max(T)").collect()[0]
    if lo is None:
        raise ValueError("summary is empty: there is no customer to forecast.")
    options = dict(options, n_draws=n_draws, random_seed=random_seed, draws=draws, tx_draws=tx_draws,
                   spend_draws=spend_draws, T_range=(float(lo), float(hi)), progress=False)
    options.setdefault("n_jobs", 1)
    options.setdefault("time_unit", attrs.get("time_unit"))
    columns = [customer_col, "frequency", "recency", "T"] + (["monetary_value"] if spend_model is not None else [])
    columns += [c for c in _covariate_columns(transaction_model) if c not in columns]
    for key in ("cost_per_purchase", "acquisition_cost"):
        if isinstance(options.get(key), str) and options[key] not in columns:
            columns.append(options[key])
    return {"tx": _light(transaction_model), "spend": _light(spend_model), "options": options,
            "customer_col": customer_col, "columns": columns, "time_unit": attrs.get("time_unit")}


def _run(plan: dict[str, Any], frame: pd.DataFrame, **extra: Any) -> Any:
    """:func:`clvmodels.forecast` of one piece of a partition, with the plan's light models."""
    from .forecast import forecast as pandas_forecast

    data = frame.set_index(plan["customer_col"])
    data.attrs = {"time_unit": plan["time_unit"]} if plan["time_unit"] else {}
    return pandas_forecast(_rebuild(plan["tx"]), _rebuild(plan["spend"]), data, **plan["options"], **extra)


def _pieces(batches: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The batches of a partition regrouped into pieces of about ``rows`` customers."""
    held: list[pd.DataFrame] = []
    n = 0
    for batch in batches:
        held.append(batch)
        n += len(batch)
        if n >= rows:
            yield pd.concat(held, ignore_index=True)
            held, n = [], 0
    if n:
        yield pd.concat(held, ignore_index=True)


def forecast(
    transaction_model: Any,
    spend_model: Any | None,
    summary: Any,
    *,
    customer_col: str | None = None,
    n_draws: int = 1000,
    draws: str | None = None,
    random_seed: int | None = None,
    rows_per_call: int = ROWS_PER_CALL,
    **forecast_options: Any,
) -> Any:
    """:func:`clvmodels.forecast` of every customer of a Spark summary, as a Spark DataFrame.

    The parameter draws are taken once, here on the driver, exactly as :func:`clvmodels.forecast`
    takes them for ``random_seed``; the tasks receive only the models' parameters and these draws
    (never the fitted models, which carry their patterns) and call :func:`clvmodels.forecast` on
    pieces of at most ``rows_per_call`` customers of their partition (``mapInPandas``), with the
    interpolation grid fixed to the summary's whole span of ``T`` (``T_range``). Each customer's
    simulated future has its own random stream, so the result does not depend on the
    partitioning: every column, predictive bounds included, is bit-identical to that of
    ``clvmodels.forecast(..., T_range=(min T, max T))`` on the whole summary. Without
    ``random_seed`` one fresh seed is drawn here and shared by every task (it is in the
    settings of the tasks' forecasts).

    Parameters
    ----------
    transaction_model, spend_model
        Fitted models (:func:`fit` fits them on a Spark summary); ``spend_model`` may be None.
    summary : pyspark.sql.DataFrame
        From :func:`rfm_summary` or :func:`calibration_holdout_split`.
    customer_col : str, optional
        The customer id column; by default the summary's first column that is not a summary column.
    n_draws, draws, random_seed
        As in :func:`clvmodels.forecast`.
    rows_per_call : int
        Customers handed to :func:`clvmodels.forecast` at once in a task (bounds its memory).
    **forecast_options
        The other keywords of :func:`clvmodels.forecast`: ``horizon``, ``discount_rate``,
        ``margin``, ``ci``, ``predictive``, ``discounting``, ``period``, ``memory_budget``,
        ``n_jobs`` (threads per task, 1 by default), ``cost_per_purchase`` (a constant or a
        column of the summary).

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_col`` and the columns of ``clvmodels.forecast(...).to_frame()``
        (:data:`clvmodels.forecast.COLUMNS`, or with :data:`~clvmodels.forecast.PURCHASE_COLUMNS`
        without a spend model, and :data:`~clvmodels.forecast.NET_COLUMNS` with costs). Totals
        of the cohort and of segments with exact intervals: :func:`totals`, :func:`cohort_summary`.

    Examples
    --------
    >>> scores = forecast(bgf, ggf, spark_summary, horizon=52, discount_rate=0.1, random_seed=1)  # doctest: +SKIP
    >>> scores.write.parquet("clv/")  # doctest: +SKIP
    """
    F, T, _ = _modules()
    plan = _plan(transaction_model, spend_model, summary, customer_col, n_draws, draws, random_seed, forecast_options)
    customer_col = plan["customer_col"]
    # the columns and their order: the library's own, from a forecast of one customer
    with _quiet():
        probe = summary.select(*[_q(c) for c in plan["columns"]]).limit(1).toPandas()
    table = _run(plan, probe).to_frame().reset_index()
    id_type = summary.schema[customer_col].dataType
    fields = [T.StructField(customer_col, id_type)]
    for name in table.columns[1:]:
        kind = T.LongType() if pd.api.types.is_integer_dtype(table[name].dtype) else T.DoubleType()
        fields.append(T.StructField(name, kind))
    schema = T.StructType(fields)
    names = [f.name for f in fields]
    rows = int(rows_per_call)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for piece in _pieces(batches, rows):
            out = _run(plan, piece).to_frame().reset_index()
            out.columns = names
            yield _for_arrow(out)

    with _quiet():
        return summary.select(*[_q(c) for c in plan["columns"]]).mapInPandas(score, schema)


def totals(
    transaction_model: Any,
    spend_model: Any | None,
    summary: Any,
    *,
    by: str | list[str] | None = None,
    customer_col: str | None = None,
    n_draws: int = 1000,
    draws: str | None = None,
    random_seed: int | None = None,
    rows_per_call: int = ROWS_PER_CALL,
    **forecast_options: Any,
) -> Any:
    """Cohort and segment totals with exact credible intervals: per-draw partial sums reduced in Spark.

    Each piece of each partition forecasts its customers with the driver's draws (as
    :func:`forecast`, with ``segments=by``) and returns, per segment cell (each combination of the
    ``by`` columns of the summary) and parameter draw, the sums over its customers
    (``Forecast.segment_draws``), with the sums of the point estimates and the number of
    customers; Spark adds them up by cell and draw. So the total of a cohort or a segment in each
    draw, and so its interval, is that of all its customers: never a sum of per-customer bounds.

    Parameters
    ----------
    by : str or list of str, optional
        Columns of ``summary`` to report by (for example a region or an acquisition cohort
        joined to the summary); none for the cohort alone.
    transaction_model, spend_model, summary, customer_col, n_draws, draws, random_seed, rows_per_call, **forecast_options
        As in :func:`forecast`. Only credible intervals are computed (``predictive`` is ignored):
        the predictive interval of a total needs every customer's own future, which
        :func:`clvmodels.forecast` draws per history, and histories repeat across partitions.

    Returns
    -------
    Forecast
        A :class:`clvmodels.Forecast` whose ``frame`` has one row per segment cell (the sums over
        its customers of ``prob_alive``, ``expected_purchases``, ``clv`` or
        ``discounted_purchases``, and ``net_clv`` with costs), not one per customer: its
        ``summary()``, ``summary(by=...)``, ``segment_summary(...)`` and ``compare(...)`` work
        as for a pandas forecast with ``segments=by``.

    Examples
    --------
    >>> result = totals(bgf, ggf, spark_summary, by="region", horizon=52, discount_rate=0.1)  # doctest: +SKIP
    >>> result.summary(by="region")  # doctest: +SKIP
    """
    from .forecast import Forecast

    columns = [] if by is None else ([by] if isinstance(by, str) else list(by))
    plan = _plan(transaction_model, spend_model, summary, customer_col, n_draws, draws, random_seed, forecast_options)
    missing = [c for c in columns if c not in summary.columns]
    if missing:
        raise ValueError(f"by={by!r}: no column(s) {missing} in the summary; columns: {summary.columns}.")
    plan["columns"] += [c for c in columns if c not in plan["columns"]]
    # the cohort's credible intervals need no simulation
    plan["options"] = dict(plan["options"], predictive=False, segments=columns or None)
    rows = int(rows_per_call)

    def partial(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for piece in _pieces(batches, rows):
            result = _run(plan, piece)
            if columns:
                cells = result.segment_cells
                keys = [json.dumps([_plain(v) for v in row], default=str) for row in cells[columns].itertuples(index=False)]
                cell_draws = result.segment_draws
                of = result.segment_of
            else:
                keys = ["[]"]
                cell_draws = {n: result.cohort_draws[n].to_numpy(dtype=np.float64)[:, None] for n in result.cohort_draws.columns}
                of = np.zeros(len(piece), dtype=np.int64)
            frame = result.frame
            points = {n: np.bincount(of, weights=frame[n].to_numpy(dtype=np.float64), minlength=len(keys))
                      for n in ("prob_alive", "expected_purchases", "clv", "discounted_purchases", "net_clv")
                      if n in frame.columns}
            points["customers"] = np.bincount(of, minlength=len(keys)).astype(np.float64)
            parts = []
            for n, values in cell_draws.items():
                values = np.asarray(values, dtype=np.float64)
                draw = np.repeat(np.arange(values.shape[0], dtype=np.int64), len(keys))
                parts.append(pd.DataFrame({"cell": np.tile(keys, values.shape[0]), "name": n, "draw": draw,
                                           "value": values.ravel()}))
            for n, values in points.items():
                parts.append(pd.DataFrame({"cell": keys, "name": n, "draw": -1, "value": values}))
            yield _for_arrow(pd.concat(parts, ignore_index=True))

    with _quiet():
        probe = summary.select(*[_q(c) for c in plan["columns"]]).limit(1).toPandas()
        settings = _run(plan, probe).settings
        parts = summary.select(*[_q(c) for c in plan["columns"]]).mapInPandas(
            partial, "cell string, name string, draw bigint, value double")
        sums = parts.groupBy("cell", "name", "draw").agg({"value": "sum"}).withColumnRenamed("sum(value)", "value").toPandas()
    keys = list(dict.fromkeys(sums["cell"]))
    cells = pd.DataFrame([json.loads(k) for k in keys], columns=columns, index=keys)
    if columns:
        cells = cells.sort_values(columns, kind="stable")
    keys = list(cells.index)
    points = sums[sums["draw"] == -1].pivot(index="cell", columns="name", values="value").reindex(keys)
    draw_rows = sums[sums["draw"] >= 0]
    segment_draws = {}
    for name, part in draw_rows.groupby("name"):
        table = part.pivot(index="draw", columns="cell", values="value").sort_index().reindex(columns=keys)
        segment_draws[name] = table.fillna(0.0).to_numpy(dtype=np.float64)
    value = "clv" if "clv" in segment_draws else "discounted_purchases"
    cohort = pd.DataFrame({n: segment_draws[n].sum(axis=1) for n in ("expected_purchases", value, "net_clv")
                           if n in segment_draws})
    cells = cells.reset_index(drop=True)
    cells["customers"] = np.rint(points["customers"].to_numpy()).astype(np.int64)
    cells.index.name = "cell"
    frame = points.drop(columns="customers").reset_index(drop=True)
    frame.index.name = "cell"
    return Forecast(frame, settings, cohort, segment_cells=cells, segment_draws=segment_draws,
                    segment_of=np.arange(len(cells)))


def _for_arrow(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python objects: pandas 3 keeps concatenated text in chunked Arrow arrays,
    which pyspark's serializer does not take."""
    for name in frame.columns:
        if pd.api.types.is_string_dtype(frame[name].dtype) and frame[name].dtype != object:
            frame[name] = frame[name].astype(object)
    return frame


def _plain(value: Any) -> Any:
    """A cell's attribute as a plain JSON value."""
    return value.item() if isinstance(value, np.generic) else value


def cohort_summary(
    transaction_model: Any,
    spend_model: Any | None,
    summary: Any,
    *,
    customer_col: str | None = None,
    n_draws: int = 1000,
    draws: str | None = None,
    random_seed: int | None = None,
    rows_per_call: int = ROWS_PER_CALL,
    **forecast_options: Any,
) -> pd.DataFrame:
    """The cohort's totals over the horizon with exact credible intervals, computed in Spark
    (:func:`totals` without segments, then :meth:`clvmodels.Forecast.summary`).

    Returns
    -------
    DataFrame
        As :meth:`clvmodels.Forecast.summary`: indexed by ``expected_purchases`` and ``clv``
        (``discounted_purchases`` without a spend model; ``net_clv`` with costs), columns
        ``estimate, lower, upper``; ``attrs["ci"]`` the level and ``attrs["customers"]``.

    Examples
    --------
    >>> cohort_summary(bgf, ggf, spark_summary, horizon=52, discount_rate=0.1, random_seed=1)  # doctest: +SKIP
    """
    result = totals(transaction_model, spend_model, summary, customer_col=customer_col, n_draws=n_draws, draws=draws,
                    random_seed=random_seed, rows_per_call=rows_per_call, **forecast_options)
    table = result.summary()
    table.attrs["customers"] = int(result.segment_cells["customers"].sum())
    return table
