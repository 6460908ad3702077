"""The DuckDB engine: :func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout_split`
computed in SQL, out of core, straight from Parquet or CSV files, Arrow tables, Polars frames or
DuckDB relations.

The contract is the pandas path's (:mod:`clvmodels.data`, the reference): the same validation
with the same messages and counts, the same exclusions, the same report. DuckDB finds each
customer's integer periods (first, last, number of distinct periods) and the sums of amounts;
``recency`` and ``T`` are then divided by the time unit in numpy by the very function the pandas
path uses, so they are bit-identical; ``frequency`` is an exact count; ``monetary_value`` is a sum
in another order (Kahan-Babuska ``fsum`` in DuckDB), equal to about 1e-15 relative.

Dates stored as text (CSV) or numbers are parsed by pandas, the reference parser, once per
*distinct* value (a log of 25M rows has a few thousand distinct days), so they are read exactly
as the pandas path reads them; typed dates (Parquet timestamps) never leave DuckDB. Amounts
stored as text are cast by DuckDB; only the values it cannot cast go through ``pd.to_numeric``.

DuckDB runs within ``memory_limit`` (by default 40% of the machine's memory) and spills to a
temporary directory beyond it. ``duckdb`` is imported only when this module is used.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import data as _d
from ..units import RESOLUTIONS, normalize_resolution, normalize_unit

__all__ = ["summarize", "split", "connect", "default_memory_limit", "read_files"]

#: Share of the machine's memory DuckDB may use by default.
MEMORY_SHARE = 0.4
_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".csv.zst")
#: At most this many distinct bad values are looked up to find the first bad row in file order.
_EXAMPLE_VALUES = 1000
_TIMESTAMPS = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE", "TIMESTAMP WITHOUT TIME ZONE"}
_NUMBERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")


def default_memory_limit() -> int:
    """Bytes DuckDB may use by default: 40% of the memory of the machine (or of its cgroup).

    Examples
    --------
    >>> default_memory_limit() > 0
    True
    """
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return int(total * MEMORY_SHARE)


@contextmanager
def connect(memory_limit: int | str | None = None, temp_directory: str | None = None) -> Iterator[Any]:
    """A private in-memory DuckDB connection within ``memory_limit``, spilling to ``temp_directory``.

    Examples
    --------
    >>> with connect("200MB") as con:
    ...     con.execute("SELECT 1 + 1").fetchall()[0][0]
    2
    """
    import duckdb

    limit = default_memory_limit() if memory_limit is None else memory_limit
    if isinstance(limit, int | float) and not isinstance(limit, bool):
        if limit <= 0:
            raise ValueError(f"memory_limit={memory_limit!r} must be positive (bytes, or a string such as '2GB').")
        limit = f"{int(limit) // 2**20}MB"
    own = temp_directory is None
    spill = tempfile.mkdtemp(prefix="clvmodels-duckdb-") if own else str(temp_directory)
    try:
        try:
            con = duckdb.connect(config={"memory_limit": str(limit), "temp_directory": spill})
        except duckdb.Error as exc:
            raise ValueError(f"memory_limit={memory_limit!r} or temp_directory={temp_directory!r} is not usable: {exc}") from None
        con.execute("SET enable_progress_bar = false")  # DuckDB's bar would print to stdout
        try:
            yield con
        finally:
            con.close()
    finally:
        if own:
            shutil.rmtree(spill, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------


def read_files(path: str | os.PathLike) -> tuple[list[str], str]:
    """The files a path names (a file, a directory or a glob), sorted, and their format.

    Examples
    --------
    >>> read_files("no/such/file.parquet")
    Traceback (most recent call last):
    ...
    ValueError: transactions='no/such/file.parquet': no such file or directory.
    """
    text = os.fspath(path)
    if any(ch in text for ch in "*?["):
        files = sorted(f for f in glob.glob(text, recursive=True) if os.path.isfile(f))
        if not files:
            raise ValueError(f"transactions={text!r}: no file matches this pattern.")
    elif os.path.isdir(text):
        files = sorted(
            str(f) for f in Path(text).rglob("*")
            if f.is_file() and not f.name.startswith((".", "_")) and f.name.lower().endswith(_PARQUET + _CSV)
        )
        if not files:
            raise ValueError(f"transactions={text!r}: the directory holds no Parquet or CSV file.")
    elif os.path.isfile(text):
        files = [text]
    else:
        raise ValueError(f"transactions={text!r}: no such file or directory.")
    kinds = {"parquet" if f.lower().endswith(_PARQUET) else "csv" for f in files}
    if len(kinds) > 1:
        raise ValueError(f"transactions={text!r} mixes Parquet and CSV files; keep one format per input.")
    return files, kinds.pop()


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in items) + "]"


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


class _Source:
    """The transactions as a DuckDB view ``src`` with columns ``cid``, ``d`` (and ``a``)."""

    def __init__(self, con: Any, transactions: Any, needed: dict[str, str]):
        import duckdb

        self.con = con
        self.id_dtype = None  # the pandas dtype of the ids, when the input is a DataFrame
        self.tz = None
        frame_name = None
        if isinstance(transactions, str | os.PathLike):
            files, kind = read_files(transactions)
            if kind == "parquet":
                relation = f"read_parquet({_sql_list(files)}, union_by_name = true)"
            else:
                na = _sql_list(sorted(_na_strings()))
                probe = f"read_csv({_sql_list(files)}, all_varchar = true, union_by_name = true)"
                names = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {probe}").fetchall()]
                # ids and dates as text (ids keep leading zeros, pandas parses the dates), amounts
                # as text too: DuckDB's sniffer guesses from a sample, a later "$2" would fail the read
                as_text = set(needed.values()) & set(names)
                types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in sorted(as_text)) + "}"
                relation = (f"read_csv({_sql_list(files)}, union_by_name = true, nullstr = {na}"
                            + (f", types = {types}" if as_text else "") + ")")
            con.execute(f"CREATE TEMP VIEW raw AS SELECT * FROM {relation}")
        elif isinstance(transactions, duckdb.DuckDBPyRelation):
            con.register("_input", transactions.to_arrow_reader())
            con.execute("CREATE TEMP TABLE raw AS SELECT * FROM _input")
            con.unregister("_input")
        else:
            frame = transactions
            module = type(transactions).__module__
            if module.startswith("polars"):
                frame = transactions.to_arrow()
            elif isinstance(transactions, pd.DataFrame):
                frame_name = "frame"
                frame = _plain_frame(transactions, needed)
            elif not module.startswith("pyarrow"):
                raise TypeError(
                    "transactions must be a pandas DataFrame, a path (file, directory or glob of "
                    "Parquet or CSV files), a DuckDB relation, an Arrow table or a Polars frame, got "
                    f"{type(transactions).__name__}."
                )
            con.register("_input", frame)
            con.execute("CREATE TEMP VIEW raw AS SELECT * FROM _input")
            if frame_name:
                self.id_dtype = transactions[needed["customer_col"]].dtype if needed["customer_col"] in transactions.columns else None
                dtype = transactions[needed["date_col"]].dtype if needed["date_col"] in transactions.columns else None
                if isinstance(dtype, pd.DatetimeTZDtype):
                    self.tz = dtype.tz
            elif hasattr(frame, "schema"):
                try:
                    self.tz = getattr(frame.schema.field(needed["date_col"]).type, "tz", None)
                except KeyError:
                    pass
        described = con.sql("DESCRIBE SELECT * FROM raw").fetchall()
        self.columns = [r[0] for r in described]
        types = {r[0]: r[1] for r in described}
        _d._check_column_names(self.columns, needed, "transactions")
        self.id_type = types[needed["customer_col"]]
        self.date_type = types[needed["date_col"]]
        self.amount_type = types[needed["amount_col"]] if "amount_col" in needed else None
        select = [f"{_ident(needed['customer_col'])} AS cid", f"{_ident(needed['date_col'])} AS d"]
        if "amount_col" in needed:
            select.append(f"{_ident(needed['amount_col'])} AS a")
        con.execute(f"CREATE TEMP VIEW src AS SELECT {', '.join(select)} FROM raw")


def _plain_frame(frame: pd.DataFrame, needed: dict[str, str]) -> pd.DataFrame:
    """The needed columns, object columns of mixed types as text (DuckDB would guess one type)."""
    cols = [c for c in dict.fromkeys(needed.values()) if c in frame.columns]
    if len(set(frame.columns)) != len(frame.columns):
        return frame
    out = frame[cols].copy(deep=False) if len(cols) == len(needed) else frame
    for c in cols:
        col = out[c]
        if col.dtype == object:
            kinds = {type(v) for v in col.dropna().to_numpy()}
            if len(kinds) > 1 and needed.get("customer_col") != c:
                out = out.copy(deep=False) if out is frame else out
                out[c] = col.where(col.isna(), col.map(str))
    return out


def _na_strings() -> set[str]:
    from pandas._libs.parsers import STR_NA_VALUES

    return set(STR_NA_VALUES)


def _is_number(sql_type: str) -> bool:
    return sql_type.upper().startswith(_NUMBERS)


# --------------------------------------------------------------------------------------------
# validation in SQL
# --------------------------------------------------------------------------------------------

_DATE_CODES = {"unparseable": 1, "out_of_range": 2, "missing": 3}
_AMOUNT_CODES = {"non_numeric": 1, "missing": 2, "infinite": 3, "negative": 4}


def _fault_count_parts(amounts: bool) -> tuple[list[str], list[str], list[str]]:
    """The fault keys, and the SQL aggregates (DuckDB and Spark SQL alike) over a typed log
    (:meth:`_Log.typed`) that count each fault and the rows whose first fault it is: every
    date fault twice, then every amount fault twice (none without amounts)."""
    date_keys = list(_DATE_CODES)
    amount_keys = list(_AMOUNT_CODES) if amounts else []
    parts = [f"count_if(date_code = {_DATE_CODES[k]})" for k in date_keys]
    parts += [f"count_if(NOT id_missing AND date_code = {_DATE_CODES[k]})" for k in date_keys]
    parts += [f"count_if(amount_code = {_AMOUNT_CODES[k]})" for k in amount_keys]
    parts += [f"count_if(NOT id_missing AND date_code IS NULL AND amount_code = {_AMOUNT_CODES[k]})" for k in amount_keys]
    return date_keys, amount_keys, parts


#: The rows that count: a customer id, a valid date and (with amounts) a valid amount.
_VALID = "NOT id_missing AND date_code IS NULL AND amount_code IS NULL"


def _window_counts(end_period: int | None, far: int) -> list[str]:
    """Aggregates (DuckDB and Spark SQL alike) over the valid rows: the last period, the rows after the end (and far after),
    the latest of those, and the zero amounts kept."""
    parts = [f"max(CASE WHEN {_VALID} THEN period END)"]
    if end_period is not None:
        parts += [f"count_if({_VALID} AND period > {end_period})",
                  f"count_if({_VALID} AND period - {end_period} > {far})",
                  f"max(CASE WHEN {_VALID} AND period - {end_period} > {far} THEN ns END)",
                  f"count_if({_VALID} AND period <= {end_period} AND val = 0)"]
    else:
        parts += ["0", "0", "CAST(NULL AS BIGINT)", f"count_if({_VALID} AND val = 0)"]
    return parts


def _add_problem(problems: list[Any], first_fault: dict[str, int], problem: Any, n_first: int) -> None:
    """Record a problem and the rows whose first fault it is."""
    problems.append(problem)
    first_fault[problem.reason] = first_fault.get(problem.reason, 0) + int(n_first)


def _fault_problems(
    counts: list[Any], date_keys: list[str], amount_keys: list[str], n_id: int, log: Any,
    customer_col: str, date_col: str, amount_col: str | None,
) -> tuple[list[Any], dict[str, int]]:
    """The problems of a log from the counts of :func:`_fault_count_parts` (in its order), with
    the same texts as the pandas path, and the number of rows whose first fault each is.
    ``log`` gives the example values (``date_example``, ``amount_example``)."""
    nd, na = len(date_keys), len(amount_keys)
    fault = {("date", k): counts[j] for j, k in enumerate(date_keys)}
    first = {("date", k): counts[nd + j] for j, k in enumerate(date_keys)}
    fault.update({("amount", k): counts[2 * nd + j] for j, k in enumerate(amount_keys)})
    first.update({("amount", k): counts[2 * nd + na + j] for j, k in enumerate(amount_keys)})

    problems: list[_d._Problem] = []
    first_fault: dict[str, int] = {}

    def add(problem: _d._Problem, n_first: int) -> None:
        _add_problem(problems, first_fault, problem, n_first)

    if n_id:
        add(_d._Problem(customer_col, "have a missing customer id", "fill or remove those rows", None, key="missing_id", n=n_id), n_id)
    for k in date_keys:
        n = fault[("date", k)]
        if not n:
            continue
        if k == "unparseable":
            p = _d._Problem(date_col, "have a date that cannot be parsed",
                            "pass date_format= (for example '%Y-%m-%d', or 'mixed' for mixed formats) "
                            "or correct those values", None, log.date_example(k), key=k, n=n)
        elif k == "out_of_range":
            p = _d._out_of_range_problem(date_col, None, log.date_example(k), n=n)
        else:
            p = _d._Problem(date_col, "have a missing date", "fill or remove those rows", None, key=k, n=n)
        add(p, first[("date", k)])
    for k in amount_keys:
        n = fault[("amount", k)]
        if not n:
            continue
        if k == "non_numeric":
            p = _d._non_numeric_problem(amount_col, None, log.amount_example(k), n=n)
        elif k == "missing":
            p = _d._Problem(amount_col, "have a missing amount", "fill or remove those rows", None, key=k, n=n)
        elif k == "infinite":
            p = _d._Problem(amount_col, "have an infinite amount", "correct or remove those rows", None, key=k, n=n)
        else:
            p = _d._negative_problem(amount_col, None, log.amount_example(k), n=n)
        add(p, first[("amount", k)])
    return problems, first_fault


class _Log:
    """The validated log: SQL expressions over ``src`` for the period, the amount and the faults."""

    def __init__(self, source: _Source, *, customer_col: str, date_col: str, amount_col: str | None,
                 date_format: str | None, resolution: str):
        self.source = source
        self.con = source.con
        self.customer_col, self.date_col, self.amount_col = customer_col, date_col, amount_col
        self.res_ns = RESOLUTIONS[resolution]
        self.resolution = resolution
        self.date_display: dict[Any, str] = {}
        self._dates(date_format)
        self._amounts()
        id_missing = "cid IS NULL"
        if source.id_type.upper() in ("FLOAT", "DOUBLE", "REAL"):
            id_missing = "(cid IS NULL OR isnan(cid))"
        self.id_missing = id_missing

    # dates ------------------------------------------------------------------------------------
    def _dates(self, date_format: str | None) -> None:
        con, name, typ = self.con, self.date_col, self.source.date_type.upper()
        if typ.startswith("TIMESTAMP WITH TIME ZONE") or typ == "TIMESTAMPTZ":
            raise ValueError(_d._tz_message(name, self.source.tz or "UTC"))
        lo, hi = _d.DATE_MIN.date().isoformat(), (_d.DATE_MAX + pd.Timedelta(days=1)).date().isoformat()
        if typ in _TIMESTAMPS:
            self.mapped = False
            self.date_code = (
                f"CASE WHEN d IS NULL THEN {_DATE_CODES['missing']} "
                f"WHEN d < TIMESTAMP '{lo}' OR d >= TIMESTAMP '{hi}' THEN {_DATE_CODES['out_of_range']} END"
            )
            if typ == "TIMESTAMP_NS":
                ns = "epoch_ns(d)"
            elif typ == "DATE":
                ns = "(CAST(d - DATE '1970-01-01' AS BIGINT) * 86400000000000)"
            else:
                ns = "(epoch_us(CAST(d AS TIMESTAMP)) * 1000)"
            self.ns = f"CASE WHEN d >= TIMESTAMP '{lo}' AND d < TIMESTAMP '{hi}' THEN {ns} END"
            self.date_from = ""
            return
        # text or numbers: pandas parses each distinct value, as the pandas path parses the column
        self.mapped = True
        values = con.execute("SELECT DISTINCT d FROM src WHERE d IS NOT NULL").fetchnumpy()["d"]
        firsts = con.execute("SELECT d FROM src WHERE d IS NOT NULL LIMIT 100").fetchnumpy()["d"]
        # pandas infers the format from the first value: keep the log's first values first
        values = pd.unique(np.concatenate([np.asarray(firsts), np.asarray(values)]))
        series = pd.Series(values)
        if _is_number(typ):
            series = series.astype(np.int64) if typ.startswith(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "U")) else series.astype(np.float64)
        elif len(values) == 0:
            series = pd.Series(values, dtype=object)
        ns, problems = _d._parse_dates(series, name, date_format)
        code = np.zeros(len(series), dtype=np.int8)
        for p in problems:
            code[p.mask] = _DATE_CODES[p.key]
        shown = series.astype("Int64").astype(str) if _is_number(typ) and date_format is not None and len(series) else series
        self.display = dict(zip(values.tolist(), shown.tolist()))
        mapping = pd.DataFrame({"v": values, "ns": np.where(code == 0, ns, 0), "code": code})
        con.register("_dmap", mapping)
        con.execute("CREATE TEMP TABLE dmap AS SELECT v, CASE WHEN code = 0 THEN ns END AS ns, "
                    "NULLIF(code, 0) AS code FROM _dmap")
        con.unregister("_dmap")
        self.date_bad = {k: values[code == c].tolist() for k, c in _DATE_CODES.items() if k != "missing"}
        self.date_code = f"CASE WHEN d IS NULL THEN {_DATE_CODES['missing']} ELSE dmap.code END"
        self.ns = "dmap.ns"
        self.date_from = " LEFT JOIN dmap ON s.d = dmap.v"

    # amounts ----------------------------------------------------------------------------------
    def _amounts(self) -> None:
        self.amount_from = ""
        if self.amount_col is None:
            self.value = "NULL"
            self.non_numeric = "FALSE"
            self.amount_code = "NULL"
            return
        con, name, typ = self.con, self.amount_col, self.source.amount_type.upper()
        if typ == "BOOLEAN":
            raise ValueError(f"column {name!r} holds booleans, not monetary amounts.")
        if _is_number(typ):
            value = "CAST(a AS DOUBLE)"
            self.non_numeric_values: list[Any] = []
            self.non_numeric = "FALSE"
        else:
            # DuckDB casts what it can; what it cannot (or reads as NaN) goes through pd.to_numeric
            cast = "TRY_CAST(a AS DOUBLE)"
            odd = con.execute(
                f"SELECT DISTINCT a FROM src WHERE a IS NOT NULL AND ({cast} IS NULL OR isnan({cast}))"
            ).fetchnumpy()["a"]
            parsed = pd.to_numeric(pd.Series(odd, dtype=object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            amap = pd.DataFrame({"v": pd.Series(odd, dtype=object).astype(str), "x": parsed,
                                 "bad": np.isnan(parsed)})
            con.register("_amap", amap)
            con.execute("CREATE TEMP TABLE amap AS SELECT v, CASE WHEN bad THEN NULL ELSE x END AS x, bad FROM _amap")
            con.unregister("_amap")
            self.non_numeric_values = [v for v, x in zip(odd.tolist(), parsed) if np.isnan(x)]
            value = f"(CASE WHEN amap.v IS NOT NULL THEN amap.x ELSE {cast} END)"
            self.non_numeric = "coalesce(amap.bad, FALSE)"
            self.amount_from = " LEFT JOIN amap ON CAST(s.a AS VARCHAR) = amap.v"
        self.value = value
        self.amount_code = (
            f"CASE WHEN nonnum THEN {_AMOUNT_CODES['non_numeric']} "
            f"WHEN a IS NULL OR isnan(val) THEN {_AMOUNT_CODES['missing']} "
            f"WHEN isinf(val) THEN {_AMOUNT_CODES['infinite']} "
            f"WHEN val < 0 THEN {_AMOUNT_CODES['negative']} END"
        )

    def typed(self, rows: str) -> str:
        """SELECT over ``rows`` (cid, d, a, n): the period, the value and the fault codes."""
        res = self.res_ns
        period = f"(ns - (((ns % {res}) + {res}) % {res})) // {res}"
        a = "s.a" if self.amount_col is not None else "NULL"
        return (
            f"SELECT cid, n, ns, {period} AS period, val, date_code, amount_code, "
            f"({self.id_missing}) AS id_missing FROM ("
            f"SELECT s.cid, s.n, {self.ns} AS ns, {self.date_code} AS date_code, val, {self.amount_code} AS amount_code "
            f"FROM (SELECT s.cid, s.d, {a} AS a, s.n, {self.value} AS val, {self.non_numeric} AS nonnum "
            f"FROM {rows} s{self.amount_from}) s"
            f"{self.date_from}) t"
        )

    # examples: the first bad row in the log's order ---------------------------------------------
    def first(self, what: str, condition: str, params: list[Any] | None = None) -> Any:
        rows = self.con.execute(f"SELECT {what} FROM src WHERE {condition} LIMIT 1", params or []).fetchall()
        return rows[0][0] if rows else None

    def date_example(self, key: str) -> Any:
        if not self.mapped:  # out of range typed dates
            lo, hi = _d.DATE_MIN.date().isoformat(), (_d.DATE_MAX + pd.Timedelta(days=1)).date().isoformat()
            return self.first("CAST(d AS VARCHAR)", f"d < TIMESTAMP '{lo}' OR d >= TIMESTAMP '{hi}'")
        bad = self.date_bad[key]
        if len(bad) <= _EXAMPLE_VALUES:
            raw = self.first("d", "list_contains(?, d)", [bad])
        else:
            raw = self.first("d", f"d IN (SELECT v FROM dmap WHERE code = {_DATE_CODES[key]})")
        shown = self.display.get(raw, raw)
        return str(shown) if key == "out_of_range" else shown

    def amount_example(self, key: str) -> Any:
        if key == "non_numeric":
            bad = [str(v) for v in self.non_numeric_values]
            if len(bad) <= _EXAMPLE_VALUES:
                return self.first("a", "list_contains(?, CAST(a AS VARCHAR))", [bad])
            return self.first("a", "CAST(a AS VARCHAR) IN (SELECT v FROM amap WHERE bad)")
        # negative: the parsed value
        if self.source.amount_type.upper().startswith(_NUMBERS):
            return float(self.first("CAST(a AS DOUBLE)", "CAST(a AS DOUBLE) < 0 AND NOT isinf(CAST(a AS DOUBLE))"))
        cast = "TRY_CAST(a AS DOUBLE)"
        found = self.first(cast, f"{cast} < 0 AND NOT isinf({cast})")  # a filter keeps the log's order
        if found is None:  # only values that pandas reads and DuckDB does not are negative
            found = self.con.execute(
                f"SELECT val FROM (SELECT {self.value} AS val FROM src s{self.amount_from}) "
                "WHERE val < 0 AND NOT isinf(val) LIMIT 1"
            ).fetchall()[0][0]
        return float(found)


def _validate(
    source: _Source, *, customer_col: str, date_col: str, amount_col: str | None, date_format: str | None,
    observation_end: Any, time_unit: str, resolution: str | None, invalid: str, duplicates: str,
) -> tuple[_Log, int, dict[str, Any], str]:
    """Validate in SQL as :func:`clvmodels.data._validate_transactions` does in pandas.

    Returns the log, the observation end's period, the report, and the SQL of the rows kept
    (``cid, period, val``).
    """
    con = source.con
    resolution = normalize_resolution(resolution, time_unit)
    n_rows = con.execute("SELECT count(*) FROM src").fetchall()[0][0]
    if n_rows == 0:
        raise ValueError("transactions is empty (0 rows); there is nothing to summarise.")
    end_period = None
    if observation_end is not None:
        end_period = _d._period_of(_d._to_timestamp(observation_end, "observation_end"), resolution)
    log = _Log(source, customer_col=customer_col, date_col=date_col, amount_col=amount_col,
               date_format=date_format, resolution=resolution)
    a = ", a" if amount_col is not None else ""
    con.execute(f"CREATE TEMP VIEW rows1 AS SELECT cid, d{a}, 1 AS n FROM src")
    con.execute(f"CREATE TEMP VIEW t1 AS {log.typed('rows1')}")
    # one pass: every fault, each row's first fault
    date_keys, amount_keys, fault_parts = _fault_count_parts(amount_col is not None)
    parts = ["count_if(id_missing)", "count_if(ns IS NOT NULL)", *fault_parts]
    valid = _VALID
    far = _d._FAR_FUTURE_DAYS * _d._NS_PER_DAY // log.res_ns
    extra: dict[str, Any] = {}
    if duplicates == "keep":  # the same pass also counts what the summary leaves out
        parts += _window_counts(end_period, far)
    counts = con.execute(f"SELECT {', '.join(parts)} FROM t1").fetchall()[0]
    if duplicates == "keep":
        extra = dict(zip(["top", "late", "far", "latest", "zero"], counts[-5:]))
    n_id, n_dated = counts[0], counts[1]
    problems, first_fault = _fault_problems(counts[2:], date_keys, amount_keys, n_id, log, customer_col, date_col, amount_col)
    if observation_end is None and n_dated == 0:
        raise ValueError(f"column {date_col!r} has no valid date.")
    if problems and invalid == "raise":
        _d._raise_invalid(problems, n_rows)

    rows = "t1"
    if duplicates != "keep":
        cols = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
        con.execute(f"CREATE TEMP TABLE groups AS SELECT cid, d{a}, count(*) AS n FROM src GROUP BY ALL")
        con.execute(f"CREATE TEMP VIEW t2 AS {log.typed('groups')}")
        n_dup, n_dup_first = con.execute(f"SELECT sum(n - 1), sum(n - 1) FILTER ({valid}) FROM t2").fetchall()[0]
        n_dup, n_dup_first = int(n_dup or 0), int(n_dup_first or 0)
        if n_dup:
            _add_problem(problems, first_fault, _d._duplicate_problem(cols, None, n=n_dup), n_dup_first)
            if duplicates == "raise":
                raise ValueError("Invalid transactions: " + problems[-1].describe() + ".")
        rows = "t2"
    n_invalid = sum(first_fault.values())
    if observation_end is None:
        top = extra["top"] if extra else con.execute(f"SELECT max(period) FROM {rows} WHERE {valid}").fetchall()[0][0]
        if top is None:
            _d._exclusion_report(n_rows=n_rows, problems=problems, first_fault=first_fault, n_invalid=n_rows,
                                 n_late=0, n_far=0, latest=None, end_period=None, resolution=resolution, stacklevel=5)
        end_period = int(top)
    if extra:
        n_late, n_far, latest = extra["late"], extra["far"], extra["latest"]
    else:
        n_late, n_far, latest = con.execute(
            f"SELECT count_if(period > {end_period}), count_if(period - {end_period} > {far}), "
            f"max(ns) FILTER (period - {end_period} > {far}) FROM {rows} WHERE {valid}"
        ).fetchall()[0]
    report = _d._exclusion_report(
        n_rows=n_rows, problems=problems, first_fault=first_fault, n_invalid=n_invalid, n_late=int(n_late),
        n_far=int(n_far), latest=None if latest is None else str(pd.Timestamp(int(latest), unit="ns")),
        end_period=end_period, resolution=resolution, stacklevel=5,
    )
    kept = f"SELECT cid, period, val FROM {rows} WHERE {valid} AND period <= {end_period}"
    if amount_col is not None:
        zero = extra["zero"] if extra else con.execute(f"SELECT count_if(val = 0) FROM ({kept})").fetchall()[0][0]
        report["zero_amount_rows"] = int(zero)
    return log, end_period, report, kept


#: Rows handed from DuckDB to numpy at a time.
BATCH_ROWS = 1 << 20


def _per_customer(con: Any, kept: str, amounts: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per customer: distinct periods, first and last period, first and later values.

    DuckDB sorts the kept rows by customer and period (out of core, within its memory limit)
    and hands them over in batches; each batch is reduced in numpy like the pandas path
    (:func:`clvmodels.data._per_customer`) and a customer cut by the batch's end goes on to the
    next one. Customers come out sorted, the value of the later periods is a plain sum of them
    (no difference that could cancel digits).
    """
    import pyarrow as pa

    value = "val" if amounts else "NULL::DOUBLE"
    # ties within a (customer, period) broken by value: same-day purchases are added in one
    # order whatever the threads, so the sums are the same bits on every run
    order = "cid, period, val" if amounts else "cid, period"
    reader = con.sql(f"SELECT cid, period, {value} AS val FROM ({kept}) ORDER BY {order}").to_arrow_reader(BATCH_ROWS)
    parts: list[dict[str, Any]] = []
    carry: pa.Table | None = None
    for batch in reader:
        table = pa.Table.from_batches([batch])
        if carry is not None and carry.num_rows:
            table = pa.concat_tables([carry, table])
        if table.num_rows == 0:
            continue
        cid = table.column(0).combine_chunks()
        last = cid[len(cid) - 1]
        # the rows of the batch's last customer may continue in the next batch
        same = np.asarray(pa.compute.equal(cid, last).to_numpy(zero_copy_only=False), dtype=bool)
        cut = len(same) - int(np.argmin(same[::-1])) if not same.all() else 0
        if cut:
            parts.append(_reduce_sorted(table.slice(0, cut), amounts))
        carry = table.slice(cut)
    if carry is not None and carry.num_rows:
        parts.append(_reduce_sorted(carry, amounts))
    ids = np.concatenate([p["ids"] for p in parts]) if parts else np.array([], dtype=object)
    keys = ["count", "first", "last"] + (["first_value", "repeat_value"] if amounts else [])
    per = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    return ids, per


def _reduce_sorted(table: Any, amounts: bool) -> dict[str, np.ndarray]:
    """Reduce rows sorted by (customer, period) to one row per customer (numpy)."""
    import pyarrow.compute as pc

    cid = table.column(0).combine_chunks()
    period = table.column(1).to_numpy().astype(np.int64, copy=False)
    n = len(period)
    new_customer = np.ones(n, dtype=bool)
    if n > 1:
        new_customer[1:] = np.asarray(pc.not_equal(cid[1:], cid[:-1]).to_numpy(zero_copy_only=False), dtype=bool)
    new_period = new_customer.copy()
    new_period[1:] |= period[1:] != period[:-1]
    starts = np.flatnonzero(new_period)  # one merged transaction each
    cstarts = np.flatnonzero(new_customer)
    tcust = np.cumsum(new_customer)[starts] - 1  # customer of each transaction
    out = {
        "ids": cid.take(cstarts).to_numpy(zero_copy_only=False),
        "count": np.bincount(tcust, minlength=len(cstarts)).astype(np.int64),
        "first": period[cstarts],
        "last": period[np.append(cstarts[1:], n) - 1],
    }
    if amounts:
        val = table.column(2).to_numpy()
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused by the caller
            value = np.add.reduceat(val, starts)
            first_of = np.flatnonzero(new_customer[starts])
            out["first_value"] = value[first_of]
            value[first_of] = 0.0
            out["repeat_value"] = np.bincount(tcust, weights=value, minlength=len(cstarts))
    return out


@contextmanager
def _duckdb_errors() -> Iterator[None]:
    """DuckDB's own errors (an unreadable file, a malformed CSV, memory) as a ``ValueError``."""
    import duckdb

    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        raise ValueError(
            f"DuckDB ran out of memory ({_first_line(exc)}); raise memory_limit= or give temp_directory= "
            "a disk with more room."
        ) from None
    except duckdb.Error as exc:
        raise ValueError(f"DuckDB could not read transactions: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _index(ids: np.ndarray, source: _Source) -> pd.Index:
    ids = np.asarray(ids)
    if source.id_dtype is not None:
        try:
            return pd.Index(ids, dtype=source.id_dtype)
        except (TypeError, ValueError):
            pass
    return pd.Index(ids)


def _normalize(time_unit: str, resolution: str | None, invalid: str, duplicates: str) -> str:
    _d._check_policies(invalid, duplicates)
    normalize_unit(time_unit)
    return normalize_resolution(resolution, time_unit)


def summarize(
    transactions: Any, *, customer_col: str, date_col: str, amount_col: str | None, date_format: str | None,
    observation_end: Any, time_unit: str, resolution: str | None, invalid: str, duplicates: str,
    memory_limit: int | str | None = None, temp_directory: str | None = None,
) -> pd.DataFrame:
    """:func:`clvmodels.rfm_summary` computed by DuckDB (called by it with ``engine="duckdb"``).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": ["007", "007", "01"],
    ...                     "date": ["2024-01-01", "2024-01-15", "2024-01-08"]})
    >>> summarize(log, customer_col="customer_id", date_col="date", amount_col=None, date_format=None,
    ...           observation_end="2024-01-29", time_unit="W", resolution=None, invalid="raise",
    ...           duplicates="keep")
                 frequency  recency    T
    customer_id
    007                  1      2.0  4.0
    01                   0      0.0  3.0
    """
    resolution = _normalize(time_unit, resolution, invalid, duplicates)
    needed = {"customer_col": customer_col, "date_col": date_col}
    if amount_col is not None:
        needed["amount_col"] = amount_col
    with connect(memory_limit, temp_directory) as con, _duckdb_errors():
        source = _Source(con, transactions, needed)
        log, end_period, report, kept = _validate(
            source, customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
            observation_end=observation_end, time_unit=time_unit, resolution=resolution, invalid=invalid,
            duplicates=duplicates,
        )
        ids, per = _per_customer(con, kept, amount_col is not None)
    return _d._rfm_frame(_index(ids, source), per, end_period, time_unit=time_unit, resolution=resolution,
                         report=report, customer_col=customer_col, amount_col=amount_col, stacklevel=6)


def split(
    transactions: Any, *, calibration_end: pd.Timestamp, customer_col: str, date_col: str, amount_col: str | None,
    date_format: str | None, observation_end: Any, time_unit: str, resolution: str | None, invalid: str,
    duplicates: str, memory_limit: int | str | None = None, temp_directory: str | None = None,
) -> pd.DataFrame:
    """:func:`clvmodels.calibration_holdout_split` computed by DuckDB (``engine="duckdb"``).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 1], "date": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-08", "2024-01-03", "2024-01-20"])})
    >>> out = split(log, calibration_end=pd.Timestamp("2024-01-10"), customer_col="customer_id",
    ...             date_col="date", amount_col=None, date_format=None, observation_end=None,
    ...             time_unit="D", resolution=None, invalid="raise", duplicates="keep")
    >>> out[["frequency", "frequency_holdout", "duration_holdout"]].values.tolist()
    [[1.0, 1.0, 10.0], [0.0, 0.0, 10.0]]
    """
    resolution = _normalize(time_unit, resolution, invalid, duplicates)
    end_ts = None if observation_end is None else _d._to_timestamp(observation_end, "observation_end")
    needed = {"customer_col": customer_col, "date_col": date_col}
    if amount_col is not None:
        needed["amount_col"] = amount_col
    amounts = amount_col is not None
    with connect(memory_limit, temp_directory) as con, _duckdb_errors():
        source = _Source(con, transactions, needed)
        log, end_period, report, kept = _validate(
            source, customer_col=customer_col, date_col=date_col, amount_col=amount_col, date_format=date_format,
            observation_end=observation_end, time_unit=time_unit, resolution=resolution, invalid=invalid,
            duplicates=duplicates,
        )
        cal_period = _d._period_of(calibration_end, resolution)
        _d._check_split_periods(cal_period, end_period, calibration_end, end_ts)
        con.execute(f"CREATE TEMP TABLE kept AS {kept}")
        if con.execute(f"SELECT count(*) FROM kept WHERE period <= {cal_period}").fetchall()[0][0] == 0:
            raise _d._no_calibration_purchase(calibration_end)
        ids, per = _per_customer(con, f"SELECT * FROM kept WHERE period <= {cal_period}", amounts)
        con.register("_cal", pd.DataFrame({"cid": ids}))
        con.execute("CREATE TEMP TABLE cal AS SELECT cid FROM _cal")
        # ordered aggregates: the same sum whatever order the threads deliver the rows in
        value = "fsum(v ORDER BY v)" if amounts else "NULL"
        out = con.execute(
            f"SELECT h.cid, count(*) AS cnt, {value} AS total FROM (SELECT cid, period, "
            f"{'fsum(val ORDER BY val)' if amounts else 'NULL'} AS v FROM kept WHERE period > {cal_period} GROUP BY cid, period) h "
            "SEMI JOIN cal ON h.cid = cal.cid GROUP BY h.cid"
        ).fetchnumpy()
        new = con.execute(
            f"SELECT count(DISTINCT cid) FROM kept k WHERE period > {cal_period} AND NOT EXISTS "
            "(SELECT 1 FROM cal WHERE cal.cid = k.cid)"
        ).fetchall()[0][0]
    customers = _index(ids, source)
    where = customers.get_indexer(_index(out["cid"], source))
    hold: dict[str, np.ndarray] = {"count": np.zeros(len(customers), dtype=np.int64)}
    hold["count"][where] = np.asarray(out["cnt"], dtype=np.int64)
    if amounts:
        hold["first_value"] = np.zeros(len(customers))
        hold["repeat_value"] = np.zeros(len(customers))
        hold["repeat_value"][where] = np.asarray(out["total"], dtype=np.float64)
    return _d._split_frame(
        customers, per, hold, cal_period, end_period, time_unit=time_unit, resolution=resolution, report=report,
        customer_col=customer_col, amount_col=amount_col, first_seen_in_holdout=int(new), stacklevel=6,
    )
