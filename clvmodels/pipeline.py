"""The steps behind the command line: read, summarise, fit, forecast, write, each with its errors.

Nothing here computes a statistic: every number comes from the library
(:func:`clvmodels.rfm_summary`, the estimators' ``fit``, :func:`clvmodels.forecast`,
:func:`clvmodels.evaluate_holdout`, :mod:`clvmodels.plotting`). This module reads files, calls
those functions, turns their errors into :class:`RunError` with an exit code and a message that
names the file, and writes the outputs safely.

Engines (``[input] engine``)
----------------------------
A Parquet file, a directory or glob of Parquet or CSV files, or a comma-separated UTF-8 CSV
with a header line is summarised by DuckDB (:mod:`clvmodels.engines.duckdb`) straight from the
files, out of core within ``[input] memory_limit``; a CSV that needs the pandas reader's options
(separator, decimal, encoding, no header, compression) is read whole by pandas. The log, the
dry run and the manifest say which engine ran and why; the summaries are the same (the engine's
contract), and so are the outputs. Input files are hashed by streaming; the manifest lists each
with its size and SHA-256 (:func:`combined_sha256` for several).

Attributes, segments, costs and covariates
------------------------------------------
``[input] attributes`` is a per-customer table (CSV or Parquet, one row per customer id, hashed
in the manifest like the input; :func:`read_attributes`), matched to the summary's customers by
id as text; a customer without a row, or an id given twice, is an error naming their number.
``[segments] cohort`` adds each customer's acquisition cohort from the log
(:func:`clvmodels.segments.acquisition_cohorts`). ``[segments] by`` and ``compare`` write
``segments.csv`` (:func:`segment_table`: the rows of :meth:`clvmodels.Forecast.segment_summary`
and of :meth:`clvmodels.Forecast.compare`, computed from the forecast's own draws); ``[costs]``
(numbers or attribute columns) become ``forecast(..., cost_per_purchase=, acquisition_cost=)``,
hence the ``net_clv`` columns; ``[model] covariates`` and ``categorical`` are the transactions
model's constructor keywords, its data the summary with those columns joined. Every column these
keys name is checked before any work (:func:`check_attribute_columns`).

Safe writes (``clvmodels run``)
-------------------------------
The outputs of a run are first written into a *staging* folder beside the output directory
(``PARENT/.NAME.staging-XXXXXXXX``, on the same file system), and moved into the output
directory one ``os.replace`` at a time only when every output is complete, the manifest last. So

* a run that fails or is killed before that point leaves the previous outputs untouched and no
  partial file in the output directory (a killed run leaves its hidden staging folder behind;
  the next run removes it);
* the final step is a handful of renames; each file is replaced whole (a reader sees the old
  or the new file, never a mix), and the manifest lists the SHA-256 of every file of its run;
* only files that a clvmodels run wrote are replaced or removed: an existing file is replaced
  only when the clvmodels manifest in the output directory lists it (otherwise the run refuses,
  exit 2, before any work); a file that manifest listed and this run did not write (plots
  switched off, no more holdout) is removed after the new manifest is in place, and only when
  its bytes still have the listed SHA-256, it is a regular file inside the output directory (no
  ``..``, absolute path or symbolic link), its name is one a run writes, and it is neither the
  run's input nor its config; nothing else is touched (a stale staging folder is removed only
  when it carries the marker file a run puts in its own);
* SIGTERM or SIGINT during those renames takes effect once they are done, so only SIGKILL or
  a power cut can leave two runs' files mixed (the manifest's SHA-256s then tell);
* two runs on one output directory never interleave: a run holds an exclusive lock
  (``flock``) on the output directory while it stages and commits; a second run exits at once
  with code 1. The lock goes with the process, so a killed run never leaves it behind.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import math
import os
import platform
import datetime as dt
import re
import shutil
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import InputConfig, RunConfig, SummaryConfig, discrete_keys
from .exceptions import ClvWarning

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_INPUT",
    "EXIT_NOT_CONVERGED",
    "RunError",
    "InputError",
    "NotConvergedError",
    "BusyError",
    "Terminated",
    "on_signal",
    "Transactions",
    "read_transactions",
    "choose_engine",
    "combined_sha256",
    "InputFile",
    "summarize",
    "write_summary",
    "read_summary",
    "fit_model",
    "load_model_file",
    "run_forecast",
    "check_writable",
    "check_time_units",
    "check_forecast_memory",
    "check_forecast_work",
    "choose_parameter_draws",
    "compare_transaction_models",
    "Selection",
    "config_terms",
    "is_output_name",
    "label",
    "previous_outputs",
    "resolve_amount",
    "StagedOutput",
    "run",
    "MANIFEST_VERSION",
    "Attributes",
    "read_attributes",
    "check_attribute_columns",
    "customer_attributes",
    "segment_frame",
    "segment_table",
    "SEGMENTS",
]

#: Exit codes of the command line.
EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_NOT_CONVERGED = 0, 1, 2, 3
#: Version of the layout of manifest.json.
MANIFEST_VERSION = 1

PREDICTIONS = "predictions.csv"
MANIFEST = "manifest.json"
HOLDOUT = "holdout_by_frequency.csv"
SEGMENTS = "segments.csv"
COMPARISON = "model_comparison.csv"
PLOTS = "plots"
_STAGING = ".staging-"
_PACKAGES = ("clvmodels", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "pymc", "pytensor", "arviz", "nutpie", "threadpoolctl")


class RunError(Exception):
    """An error the command line reports in one line, with its exit code."""

    exit_code = EXIT_ERROR


class InputError(RunError):
    """Bad input data, a bad argument or an output that cannot be written (exit code 2)."""

    exit_code = EXIT_INPUT


class NotConvergedError(RunError):
    """A model did not converge and ``on_nonconvergence`` is ``"fail"`` (exit code 3)."""

    exit_code = EXIT_NOT_CONVERGED


class BusyError(RunError):
    """Another run holds the output directory (exit code 1)."""


class Terminated(BaseException):
    """SIGTERM or SIGINT arrived (see :func:`on_signal`); unwinding removes the staging folder."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_deferring = False
_pending: list[int] = []


def on_signal(signum: int, frame: Any) -> None:
    """Signal handler of the command line: raise :class:`Terminated`, or, while the outputs are
    being committed, remember the signal and raise when the commit is complete."""
    if _deferring:
        _pending.append(signum)
        return
    raise Terminated(signum)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Let the block finish before a SIGTERM or SIGINT that arrives during it takes effect."""
    global _deferring
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
    if _pending:
        signum = _pending[0]
        _pending.clear()
        raise Terminated(signum)


def one_line(text: str) -> str:
    """A message on one line: the library's bullet lists become ``;``-separated items.

    Examples
    --------
    >>> one_line("Invalid transactions (3 rows):\\n  - column 'a': bad;\\n  - column 'b': bad.\\nFix it.")
    "Invalid transactions (3 rows): column 'a': bad; column 'b': bad. Fix it."
    """
    text = re.sub(r":\s*\n\s*-\s+", ": ", str(text).strip())
    text = re.sub(r";?\s*\n\s*-\s+", "; ", text)
    return re.sub(r"\s*\n\s*", " ", text)


def shown(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# -- warnings, timings --------------------------------------------------------------------------


@dataclass
class Journal:
    """What a run reports besides its outputs: warnings (logged once each) and step timings."""

    log: logging.Logger
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    convergence: list[str] = field(default_factory=list)
    #: say ``--date-format`` (command line options) rather than ``[input] date_format``
    cli: bool = False

    def take_convergence(self) -> str | None:
        """The convergence warnings of the last step, once (:func:`check_converged` reports them)."""
        text = " ".join(self.convergence) or None
        self.convergence.clear()
        return text

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` and log the library's warnings raised inside it.

        clvmodels' own warnings (data, statistical) are logged as warnings and kept for the
        manifest; convergence warnings are kept for :func:`check_converged`, which reports them
        as a warning or an error; other libraries' warnings go to the debug log. The warning
        filters are changed only inside the block.
        """
        from .exceptions import ConvergenceWarning

        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                seconds = time.perf_counter() - start
                self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 4)
                self.log.debug(f"step {name}: {seconds:.3f} s")
                for item in caught:
                    text = config_terms(one_line(f"{item.category.__name__}: {item.message}"), self.cli)
                    if issubclass(item.category, ClvWarning):
                        if text not in self.warnings:
                            self.warnings.append(text)
                            if issubclass(item.category, ConvergenceWarning):
                                self.convergence.append(config_terms(one_line(str(item.message)), self.cli))
                            else:
                                self.log.warning(text)
                    else:
                        self.log.debug(text)


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    """One file read: its path, size and SHA-256 (hashed by streaming, never read whole)."""

    path: Path
    n_bytes: int
    sha256: str

    def record(self) -> dict[str, Any]:
        """The manifest's entry."""
        return {"path": str(self.path), "bytes": self.n_bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class Transactions:
    """The transactions as read: the table (pandas engine) or the files DuckDB reads, and what
    identifies them.

    ``sha256`` is the file's SHA-256; for a directory or glob (``files`` then lists each file,
    sorted by path) it is the SHA-256 of the files' hashes sorted, each a line of 64 hex digits
    ending in ``\\n`` (:func:`combined_sha256`). ``engine`` is ``"pandas"`` (``frame`` holds the
    table) or ``"duckdb"`` (``frame`` is ``None``: the summaries are computed from the files),
    ``reason`` why it was chosen.
    """

    frame: pd.DataFrame | None
    path: Path
    sha256: str
    n_bytes: int
    format: str
    compression: str | None = None
    engine: str = "pandas"
    reason: str = ""
    files: tuple[InputFile, ...] = ()
    columns: tuple[str, ...] = ()
    memory_limit: str | None = None

    @property
    def single(self) -> bool:
        """Whether the input is one file named by its path (not a directory or glob)."""
        return len(self.files) == 1 and self.files[0].path == self.path

    @property
    def n_rows(self) -> int | None:
        """Rows of the table (``None`` with DuckDB: see the summary's ``attrs["report"]["rows_in"]``)."""
        return None if self.frame is None else len(self.frame)

    def log_columns(self, columns: list[str]) -> pd.DataFrame:
        """The transaction log's ``columns`` as a pandas DataFrame (for the tracking plot).

        With the pandas engine, the table read; with DuckDB, those columns read by the engine's
        reader (ids and dates of a CSV as text, as the summary reads them), in memory.
        """
        if self.frame is not None:
            return self.frame
        from .engines.duckdb import _duckdb_errors, _Source, connect

        needed = {f"c{i}": c for i, c in enumerate(dict.fromkeys(columns))}
        try:
            with connect(self.memory_limit) as con, _duckdb_errors():
                _Source(con, _engine_path(self), {"customer_col": needed["c0"], "date_col": needed["c1"]})
                names = ", ".join('"' + c.replace('"', '""') + '"' for c in needed.values())
                return con.sql(f"SELECT {names} FROM raw").df()
        except (ValueError, TypeError) as exc:
            raise InputError(f"{shown(self.path)}: {one_line(str(exc))}") from exc


def combined_sha256(files: tuple[InputFile, ...] | list[InputFile]) -> str:
    """The SHA-256 of several files: of their hex SHA-256s sorted, one per line.

    It does not depend on the files' names or order; ``LC_ALL=C sha256sum FILES | cut -d' ' -f1 |
    sort | sha256sum`` gives it.

    Examples
    --------
    >>> one = InputFile(Path("a"), 0, hashlib.sha256(b"").hexdigest())
    >>> combined_sha256([one]) == hashlib.sha256((one.sha256 + "\\n").encode()).hexdigest()
    True
    """
    text = "".join(h + "\n" for h in sorted(f.sha256 for f in files))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _file_format(spec: InputConfig, compression: str | None = None) -> str:
    if spec.format != "auto":
        return spec.format
    suffixes = [s.lower() for s in spec.path.suffixes]
    if compression and suffixes:
        suffixes = suffixes[:-1]
    return "parquet" if suffixes and suffixes[-1] in (".parquet", ".pq") else "csv"


def _read_bytes(path: Path, what: str, fix: str) -> bytes:
    """The bytes of a regular file; a pipe, device or socket is refused before reading (it could
    block forever or never end, as ``/dev/zero`` does)."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
            raise InputError(f"{shown(path)} is {kind}, not a {what}: a run reads a regular file whole (and hashes it); {fix}")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{shown(path)}: no such {what}; {fix}") from None
    except IsADirectoryError:
        raise InputError(f"{shown(path)} is a directory, not a {what}; {fix}") from None
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot read the {what} ({exc.strerror}); check its permissions") from None


def _decode(data: bytes, encoding: str, name: str) -> str:
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name}: not readable as {encoding} text: byte {data[exc.start]:#04x} on line {line} "
            f"(offset {exc.start}) is invalid; set the file's encoding ([input] encoding or "
            '--encoding, for example "latin-1" or "cp1252") or save the file as UTF-8'
        ) from None


def read_transactions(spec: InputConfig) -> Transactions:
    """Read a transaction file (CSV or Parquet), or find the files DuckDB will summarise.

    ``[input] engine`` decides (:func:`choose_engine`): with pandas the file is read once into
    memory, hashed and parsed from those bytes, so the SHA-256 in the manifest is the hash of
    exactly the data used; from CSV the customer ids and the dates are read as text (ids keep
    leading zeros; dates are parsed by the data layer with ``date_format``), the amounts as
    numbers where they all are. With DuckDB (a Parquet file, a directory or glob, a plain CSV)
    nothing is loaded here: each file is hashed by streaming (chunks of a few MB) and checked
    (a Parquet file's markers; a CSV's header line, and that it has rows), and the summaries
    are computed by the engine from the files (:func:`summarize`).

    Parameters
    ----------
    spec : InputConfig
        The ``[input]`` settings.

    Returns
    -------
    Transactions

    Raises
    ------
    InputError
        A missing, unreadable, empty or malformed file, an undecodable byte (with its line), a
        header without rows, or an engine that cannot read this input (naming the key).
    """
    engine, reason = choose_engine(spec)
    if engine == "duckdb":
        return _find_files(spec, reason)
    return _read_with_pandas(spec, reason)


#: Bytes hashed at a time.
HASH_CHUNK = 4 << 20


def _is_pattern(path: Path) -> bool:
    return any(ch in str(path) for ch in "*?[")


def _peek(path: Path, n: int = 16) -> bytes:
    """The first ``n`` bytes of a regular file (the checks of :func:`_read_bytes` first)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"{shown(path)}: no such transaction file; check [input] path (relative to the config file) or the TRANSACTIONS argument") from None
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot read the transaction file ({exc.strerror}); check its permissions") from None
    if not stat.S_ISREG(mode):
        return b""  # _read_bytes names what it is
    try:
        with open(path, "rb") as handle:
            return handle.read(n)
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot read the transaction file ({exc.strerror}); check its permissions") from None


def choose_engine(spec: InputConfig) -> tuple[str, str]:
    """The engine that reads ``spec`` (``"pandas"`` or ``"duckdb"``) and why, in a few words.

    ``[input] engine = "auto"``: DuckDB for a Parquet file, a directory, a glob, or a
    comma-separated UTF-8 CSV with a header line; pandas for a single CSV that needs the
    pandas reader's options (``separator``, ``decimal``, ``encoding``, ``header``,
    ``columns``), is compressed, or whose ``format`` contradicts its name.

    Raises
    ------
    InputError
        ``engine = "pandas"`` with a directory or glob; ``engine = "duckdb"`` (or a directory or
        glob) with settings or a file DuckDB's reader cannot read; naming the key.
    """
    from .config import pandas_csv_options
    from .engines.duckdb import _PARQUET

    path, wanted = spec.path, spec.engine
    options = pandas_csv_options(spec.__dict__)
    many = _is_pattern(path) or path.is_dir()
    if many:
        what = "a glob" if _is_pattern(path) else "a directory"
        if wanted == "pandas":
            raise InputError(f'[input] path = {shown(path)!r} is {what}: engine = "pandas" reads one file; set [input] engine = "auto" or "duckdb"')
        if options and spec.format != "parquet":
            raise InputError(
                f"[input] path = {shown(path)!r} is {what}, which DuckDB reads (comma-separated UTF-8 CSV with a header line, or "
                f"Parquet); it does not take [input] {options[0]}: remove it, or convert the files"
            )
        return "duckdb", ("[input] engine = \"duckdb\"" if wanted == "duckdb" else f"{what} of files")
    if wanted == "pandas":
        return "pandas", '[input] engine = "pandas"'
    magic = _peek(path)
    kind = next((k for m, k in _COMPRESSED.items() if magic.startswith(m)), None)
    duck_format = "parquet" if path.name.lower().endswith(_PARQUET) else "csv"
    fmt = spec.format if spec.format != "auto" else duck_format
    if wanted == "duckdb":
        if fmt != duck_format:
            raise InputError(f'[input] format = {spec.format!r}, but DuckDB tells the format by the file name ({path.name}): set engine = "auto" or "pandas", or rename the file')
        if options and fmt == "csv":
            raise InputError(f'[input] engine = "duckdb" does not take [input] {options[0]} (DuckDB reads comma-separated UTF-8 CSV with a header line); set engine = "auto" or "pandas"')
        if kind is not None and not (kind == "gzip" and path.name.lower().endswith(".gz")):
            raise InputError(f'{shown(path)} is {kind}-compressed, which [input] engine = "duckdb" does not read; set engine = "auto" or "pandas", or decompress it')
        return "duckdb", '[input] engine = "duckdb"'
    if fmt != duck_format:
        return "pandas", f"[input] format = {spec.format!r} for a file named {path.name}"
    if fmt == "parquet":
        return "duckdb", "a Parquet file"
    if kind is not None:
        return "pandas", f"a {kind}-compressed CSV"
    if options:
        return "pandas", f"a CSV read with [input] {', '.join(options)}"
    return "duckdb", "a comma-separated UTF-8 CSV with a header line"


def _hash(path: Path, check: Callable[[bytes, bool], None] | None = None) -> InputFile:
    """Size and SHA-256 of a file, read in chunks of :data:`HASH_CHUNK` bytes (``check(chunk,
    last)`` sees each chunk)."""
    digest = hashlib.sha256()
    n = 0
    try:
        with open(path, "rb") as handle:
            while True:
                block = handle.read(HASH_CHUNK)
                if check is not None:
                    check(block, not block)
                if not block:
                    break
                digest.update(block)
                n += len(block)
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot read the transaction file ({exc.strerror}); check its permissions") from None
    return InputFile(path, n, digest.hexdigest())


class _ParquetCheck:
    """A Parquet file begins and ends with ``PAR1``."""

    def __init__(self, path: Path) -> None:
        self.path, self.head, self.tail = path, b"", b""

    def __call__(self, block: bytes, last: bool) -> None:
        if len(self.head) < 4:
            self.head += block[: 4 - len(self.head)]
        self.tail = (self.tail + block)[-4:]
        if last and (self.head != b"PAR1" or self.tail != b"PAR1"):
            raise InputError(
                f"{shown(self.path)}: not a readable Parquet file (it does not begin and end with the Parquet marker PAR1); "
                'set [input] format = "csv" if it is text'
            )


class _CsvCheck:
    """A CSV has a header line and at least one row after it (blank lines aside)."""

    def __init__(self, path: Path) -> None:
        self.path, self.lines, self.open_line, self.head = path, 0, False, b""

    def __call__(self, block: bytes, last: bool) -> None:
        if self.lines < 2:
            if len(self.head) < 1 << 16:
                self.head += block[: (1 << 16) - len(self.head)]
            parts = block.split(b"\n")
            for i, part in enumerate(parts):
                if part.strip():
                    self.open_line = True
                if i < len(parts) - 1 and self.open_line:
                    self.lines += 1
                    self.open_line = False
        if last:
            lines = self.lines + (1 if self.open_line else 0)
            if lines == 0:
                raise InputError(f"{shown(self.path)} is empty ({self.path.stat().st_size} bytes); expected a header line and one row per transaction "
                                 "(did the export that writes it fail?)")
            if lines == 1:
                fields = _first_fields(self.head.decode("utf-8", "replace").lstrip("\ufeff"), _COMMA) or []
                raise InputError(f"{shown(self.path)} has a header line ({', '.join(fields)}) but no rows: 0 transactions to summarise "
                                 "(did the export that writes it fail?)")

    def header(self, spec: InputConfig) -> list[str]:
        """The header's fields, after the pandas reader's checks of the header line."""
        text = self.head.decode("utf-8", "replace").lstrip("\ufeff")
        first = text.splitlines()[0] if text.strip() else ""
        name = shown(self.path)
        _check_fields(first, spec, name)
        fields = _first_fields(first, spec) or []
        if len(fields) == 1:
            for other in (";", "\t", "|"):
                if other in fields[0]:
                    raise InputError(
                        f"{name}: found one column {fields[0]!r} with separator ','; the file looks "
                        f"separated by {other!r}: set [input] separator = {other!r} (--sep)"
                    )
        return fields


_COMMA = InputConfig(path=Path("."))


def _find_files(spec: InputConfig, reason: str) -> Transactions:
    """The files DuckDB reads, each hashed by streaming and checked (see :func:`read_transactions`)."""
    from .engines.duckdb import read_files

    path = spec.path
    if not _is_pattern(path) and not path.is_dir():
        _peek(path)  # a missing or unreadable file: the pandas reader's messages
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            _read_bytes(path, "transaction file", "check [input] path (relative to the config file) or the TRANSACTIONS argument")
    try:
        names, kind = read_files(path)
    except ValueError as exc:
        raise InputError(f"[input] path: {one_line(str(exc))}") from None
    files, columns = [], []
    for name in names:
        file = Path(name)
        check = _ParquetCheck(file) if kind == "parquet" else _CsvCheck(file)
        files.append(_hash(file, check))
        if kind == "csv":
            fields = check.header(spec)
        else:
            import pyarrow.parquet as pq

            try:
                fields = list(pq.read_schema(file).names)
            except Exception as exc:  # pyarrow raises its own errors on damage
                raise InputError(f"{shown(file)}: not a readable Parquet file ({type(exc).__name__}: {one_line(str(exc))})") from None
        columns += [f for f in fields if f not in columns]
    one = len(files) == 1 and not _is_pattern(path) and not path.is_dir()
    digest = files[0].sha256 if one else combined_sha256(files)
    compression = "gzip" if kind == "csv" and any(str(f.path).lower().endswith(".gz") for f in files) else None
    return Transactions(None, path, digest, sum(f.n_bytes for f in files), kind, compression, engine="duckdb", reason=reason,
                        files=tuple(files), columns=tuple(columns), memory_limit=spec.memory_limit)


def _engine_path(tx: Transactions) -> str:
    """What the DuckDB engine reads: the file, directory or glob."""
    return str(tx.path)


def _read_with_pandas(spec: InputConfig, reason: str) -> Transactions:
    """The pandas reader (see :func:`read_transactions`)."""
    path = spec.path
    name = shown(path)
    data = _read_bytes(path, "transaction file", "check [input] path (relative to the config file) or the TRANSACTIONS argument")
    digest = hashlib.sha256(data).hexdigest()
    n_bytes = len(data)
    data, compression = _decompress(data, name)
    fmt = _file_format(spec, compression)
    if not data.strip():
        raise InputError(
            f"{name} is empty ({len(data)} bytes); expected a header line and one row per transaction "
            "(did the export that writes it fail?)"
        )
    if fmt == "parquet":
        frame = _read_parquet(data, name)
    else:
        frame = _read_csv(_decode(data, spec.encoding, name), spec, name)
    if len(frame) == 0:
        what = "a header line" if fmt == "csv" and spec.header else "columns"
        raise InputError(
            f"{name} has {what} ({', '.join(map(str, frame.columns))}) but no rows: 0 transactions to "
            "summarise (did the export that writes it fail?)"
        )
    return Transactions(frame, path, digest, n_bytes, fmt, compression, engine="pandas", reason=reason,
                        files=(InputFile(path, n_bytes, digest),), columns=tuple(map(str, frame.columns)))


#: Magic bytes of the compressed files read (decompressed in memory; the hash is of the file).
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}


def _decompress(data: bytes, name: str) -> tuple[bytes, str | None]:
    """The file's content: a gzip, bz2, xz or single-member zip file is decompressed."""
    kind = next((k for magic, k in _COMPRESSED.items() if data.startswith(magic)), None)
    if kind == "bz2" and data[4:10] != b"1AY&SY":  # "BZh" opening a text file is not bzip2
        kind = None
    if kind is None:
        return data, None
    try:
        if kind == "gzip":
            import gzip

            return gzip.decompress(data), kind
        if kind == "bz2":
            import bz2

            return bz2.decompress(data), kind
        if kind == "xz":
            import lzma

            return lzma.decompress(data), kind
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "[Content_Types].xml" in archive.namelist():
                raise InputError(f"{name} is an Office document (an Excel workbook?), not a CSV or Parquet file; export the sheet as CSV")
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise InputError(
                    f"{name} is a zip archive of {len(members)} files; a run reads one transaction file: "
                    "extract it and set [input] path to it"
                )
            return archive.read(members[0]), kind
    except InputError:
        raise
    except Exception as exc:  # damaged archives raise many kinds of errors
        raise InputError(f"{name} looks {kind}-compressed but cannot be decompressed ({type(exc).__name__}: {one_line(str(exc))}); is the file complete?") from None


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(f"{name}: reading Parquet needs pyarrow; install it (pip install pyarrow) or export CSV") from None
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError on damage
        raise InputError(f"{name}: not a readable Parquet file ({type(exc).__name__}: {one_line(str(exc))}); set [input] format = \"csv\" if it is text") from None


def _first_fields(text: str, spec: InputConfig) -> list[str] | None:
    """The fields of the first non-blank line (the header, or the first row), as the CSV reader
    splits them; ``None`` for a file of blank lines."""
    import csv

    line = next((ln for ln in text.splitlines() if ln.strip()), None)
    if line is None:
        return None
    if spec.separator == "whitespace":
        return line.split()
    try:
        return [f.strip() for f in next(csv.reader([line], delimiter=spec.separator, skipinitialspace=True))]
    except (csv.Error, StopIteration):
        return None


def _check_fields(text: str, spec: InputConfig, name: str) -> None:
    """Refuse a header naming one used column twice, and a ``columns`` list of another length
    than the file's rows (pandas would silently use the first column, or shift the columns)."""
    fields = _first_fields(text, spec)
    if fields is None:
        return
    if spec.header:
        seen: dict[str, int] = {}
        for f in fields:
            seen[f] = seen.get(f, 0) + 1
        used = [c for c in (spec.customer_col, spec.date_col, spec.amount_col) if c]
        twice = [c for c in used if seen.get(c, 0) > 1]
        if twice:
            raise InputError(
                f"{name}: the header names column {twice[0]!r} {seen[twice[0]]} times ({', '.join(fields)}); which one to use "
                "is ambiguous: rename the columns in the file, or set header = false and name them in [input] columns"
            )
    elif spec.columns is not None and len(fields) != len(spec.columns):
        raise InputError(
            f"{name}: the first line has {len(fields)} fields but [input] columns (--columns) names {len(spec.columns)} "
            f"({', '.join(spec.columns)}); name every column of the file in order"
        )


def _read_csv(text: str, spec: InputConfig, name: str) -> pd.DataFrame:
    sep = r"\s+" if spec.separator == "whitespace" else spec.separator
    as_text = {spec.customer_col: "str", spec.date_col: "str"}
    if spec.kind == "subscriptions":  # dates are parsed by the data layer, ids keep their leading zeros
        as_text = {spec.customer_col: "str", spec.start_col: "str", spec.end_col: "str"}
    _check_fields(text, spec, name)
    try:
        with warnings.catch_warnings():
            # rows longer than the header: pandas would drop their extra fields with a warning
            warnings.filterwarnings("error", category=pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                header=0 if spec.header else None,
                names=list(spec.columns) if spec.columns is not None else None,
                dtype=as_text,
                decimal=spec.decimal,
                skipinitialspace=True,
                low_memory=False,
                index_col=False,
            )
    except pd.errors.ParserWarning:
        raise InputError(
            f"{name}: its rows have more fields than the header line names ({len(_first_fields(text, spec) or [])}); "
            "every row must have one field per column: check [input] separator (--sep) and the header"
        ) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{name} has no columns (only blank lines); expected a header line and one row per transaction") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(
            f"{name}: not a readable CSV with separator {spec.separator!r} ({one_line(str(exc))}); check [input] "
            "separator (--sep), header and columns"
        ) from None
    if spec.header and len(frame.columns) == 1 and spec.separator != "whitespace":
        only = str(frame.columns[0])
        for other in (";", "\t", "|", ","):
            if other != spec.separator and other in only:
                raise InputError(
                    f"{name}: found one column {only!r} with separator {spec.separator!r}; the file looks "
                    f"separated by {other!r}: set [input] separator = {other!r} (--sep)"
                )
    return frame


# -- summarising ----------------------------------------------------------------------------------


def resolve_amount(spec: InputConfig, tx: Transactions) -> InputConfig:
    """``spec`` with its amount column settled: with ``amount_auto`` (``[input] amount_col`` not
    set), "amount" when the file has such a column, else none (a forecast of purchases only)."""

    if not spec.amount_auto:
        return spec
    amount = "amount" if "amount" in tx.columns else None
    return dataclasses.replace(spec, amount_col=amount, amount_auto=False)


def summarize(tx: Transactions, spec: InputConfig, period: SummaryConfig, *, calibration: bool = False, cli: bool = False,
              discrete: bool = False) -> pd.DataFrame:
    """The per-customer summary of the transactions (:func:`clvmodels.rfm_summary`).

    With ``calibration``, the calibration and holdout summary
    (:func:`clvmodels.calibration_holdout_split` at ``period.calibration_end``). With
    ``discrete``, the summary in occasions of ``period.time_unit`` (:func:`clvmodels.discrete_summary`,
    for BG/BB). The data layer's errors (they name the column, count the rows and give the fix)
    become an :class:`InputError` naming the file.
    """
    from . import calibration_holdout_split, rfm_summary

    if discrete:
        return _summarize_occasions(tx, spec, period, calibration, cli)

    kwargs: dict[str, Any] = dict(
        customer_col=spec.customer_col,
        date_col=spec.date_col,
        amount_col=spec.amount_col,
        observation_end=period.observation_end,
        time_unit=period.time_unit,
        resolution=period.resolution,
        date_format=spec.date_format,
        invalid=spec.invalid,
        duplicates=spec.duplicates,
    )
    data: Any = tx.frame
    if tx.engine == "duckdb":
        data = _engine_path(tx)
        kwargs.update(engine="duckdb", memory_limit=tx.memory_limit)
    try:
        if calibration:
            return calibration_holdout_split(data, calibration_end=period.calibration_end, **kwargs)
        return rfm_summary(data, **kwargs)
    except (ValueError, TypeError) as exc:
        if tx.engine == "duckdb" and tx.single and tx.format == "csv" and _unreadable(str(exc), tx, spec):
            _diagnose_csv(tx, spec, period, calibration, cli, exc)
        if tx.engine == "duckdb" and tx.format == "csv" and str(exc).startswith("transactions has no column") and _unreadable(str(exc), tx, spec):
            raise InputError(
                f"{shown(tx.path)}: DuckDB's CSV reader did not find the columns that the files' header lines name "
                f"({', '.join(tx.columns)}): check that every row has one field per column ({config_terms(one_line(str(exc)), cli)})"
            ) from exc
        raise InputError(f"{shown(tx.path)}: {config_terms(one_line(str(exc)), cli)}") from exc


def _summarize_occasions(tx: Transactions, spec: InputConfig, period: SummaryConfig, calibration: bool, cli: bool) -> pd.DataFrame:
    """:func:`summarize` in discrete occasions (pandas)."""
    from .occasions import discrete_summary

    if tx.frame is None:
        raise InputError(
            f"{shown(tx.path)}: the summary in occasions (BG/BB) is computed by pandas, but this input is read by DuckDB "
            f"({tx.reason}); give one CSV or Parquet file that fits in memory, or set [input] engine = \"pandas\""
        )
    try:
        return discrete_summary(
            tx.frame, occasion=period.time_unit, customer_col=spec.customer_col, date_col=spec.date_col, amount_col=spec.amount_col,
            observation_end=period.observation_end, calibration_end=period.calibration_end if calibration else None,
            date_format=spec.date_format, invalid=spec.invalid, duplicates=spec.duplicates,
        )
    except (ValueError, TypeError) as exc:
        raise InputError(f"{shown(tx.path)}: {config_terms(one_line(str(exc)), cli)}") from exc


def _unreadable(message: str, tx: Transactions, spec: InputConfig) -> bool:
    """Whether DuckDB failed to read a CSV: its reader failed, or its sniffer did not find the
    columns that the header line names."""
    if message.startswith("DuckDB could not read"):
        return True
    used = [c for c in (spec.customer_col, spec.date_col, spec.amount_col) if c]
    return message.startswith("transactions has no column") and all(c in tx.columns for c in used)


def _diagnose_csv(tx: Transactions, spec: InputConfig, period: SummaryConfig, calibration: bool, cli: bool, exc: Exception) -> None:
    """DuckDB could not read a single CSV: read it with the pandas reader, whose errors name
    the line and the setting to change, and raise that error; when pandas reads it (DuckDB's
    CSV sniffer guessed wrong), say so and how to use pandas."""

    ptx = _read_with_pandas(dataclasses.replace(spec, engine="pandas"), "diagnosis")
    summarize(ptx, spec, period, calibration=calibration, cli=cli)
    raise InputError(
        f"{shown(tx.path)}: {config_terms(one_line(str(exc)), cli)}; the pandas reader reads this file: set [input] engine = \"pandas\""
        + (" (--engine pandas)" if cli else "")
    ) from exc


def _header_lines(settings: dict[str, Any]) -> str:
    return "".join(f"# {key}: {value}\n" for key, value in settings.items() if value is not None)


def write_summary(summary: pd.DataFrame, path: str | os.PathLike, source: Transactions | None = None) -> Path:
    """Write a summary CSV atomically, its time unit and periods first as ``#`` lines.

    :func:`read_summary` reads it back with the same values (floats in full precision) and
    attributes.
    """
    from .io import atomic_path

    attrs = summary.attrs
    settings = {
        "clvmodels": "summary",
        "time_unit": attrs.get("time_unit"),
        "resolution": attrs.get("resolution"),
        "calibration_end": attrs.get("calibration_end"),
        "observation_end": attrs.get("observation_end"),
    }
    if attrs.get("time_kind") == "discrete":
        settings["time_kind"] = "discrete"
    if source is not None:
        settings.update(source=str(source.path), source_sha256=source.sha256)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(_header_lines(settings))
            summary.to_csv(handle)
    return path


def read_summary(path: str | os.PathLike, time_unit: str | None = None) -> pd.DataFrame:
    """Read a per-customer summary CSV (the first column is the customer id, read as text).

    Leading ``# key: value`` lines (as :func:`write_summary` writes) become ``attrs``;
    ``time_unit`` overrides the file's. The columns are checked by the models when they use
    them.
    """
    path = Path(path)
    name = shown(path)
    text = _decode(_read_bytes(path, "summary file", "check the SUMMARY argument (make one with clvmodels summarize)"), "utf-8", name)
    attrs: dict[str, Any] = {}
    lines = text.splitlines(keepends=True)
    n_header = 0
    for line in lines:
        match = re.match(r"#\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$", line)
        if not match:
            break
        attrs[match.group(1)] = match.group(2)
        n_header += 1
    body = "".join(lines[n_header:])
    if not body.strip():
        raise InputError(f"{name} is empty; expected a header line and one row per customer (clvmodels summarize writes one)")
    try:
        frame = pd.read_csv(io.StringIO(body), index_col=0, dtype={0: "str"}, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"{name}: not a readable summary CSV ({one_line(str(exc))})") from None
    if len(frame) == 0:
        raise InputError(f"{name} has a header line but no customers")
    if time_unit is not None:
        from .units import normalize_unit

        try:
            attrs["time_unit"] = normalize_unit(time_unit)
        except ValueError as exc:
            raise InputError(f"--time-unit: {exc}") from None
    if not attrs.get("time_unit"):
        raise InputError(f"{name} does not say its time unit (no '# time_unit: ...' line); pass --time-unit (the unit of its recency and T)")
    from .units import normalize_unit

    try:
        attrs["time_unit"] = normalize_unit(attrs["time_unit"])
    except ValueError as exc:
        raise InputError(f"{name}: its '# time_unit: {attrs['time_unit']}' line: {config_terms(one_line(str(exc)), True)} Pass --time-unit") from None
    for key in ("observation_end", "calibration_end"):
        if attrs.get(key) in ("None", ""):
            attrs.pop(key)
        elif key in attrs:
            try:
                pd.Timestamp(attrs[key]).as_unit("ns")
            except (ValueError, TypeError, OverflowError):
                raise InputError(f"{name}: its '# {key}: {attrs[key]}' line is not a date; remove the line or correct it") from None
    attrs.pop("clvmodels", None)
    frame.attrs = attrs
    return frame


# -- models ---------------------------------------------------------------------------------------

_UNITS = {"h": "hours", "D": "days", "W": "weeks", "M": "months", "Y": "years"}


def model_class(key: str, kind: str | None = None) -> type:
    """The registered class of model ``key`` (:mod:`clvmodels.models.registry`); an unknown
    model is an :class:`InputError` listing the registered ones."""
    from .models.registry import model_class as lookup

    try:
        return lookup(key, kind)
    except ValueError as exc:
        raise InputError(one_line(str(exc))) from None


def label(model: Any) -> str:
    """The display name of a model key, class or estimator (``"BG/NBD"``)."""
    return str(model_class(model).display_name if isinstance(model, str) else getattr(model, "display_name", type(model).__name__))


def _estimator(model: str, settings: dict[str, Any]) -> Any:
    return model_class(model)(**settings)


def convergence_problems(model: Any) -> list[str]:
    """The fit's own account of why it did not converge (empty when it did)."""
    if getattr(model, "converged_", True):
        return []
    details = getattr(model, "sampler_", None) or getattr(model, "optimizer_", None) or {}
    problems = list(details.get("problems") or [])
    if not problems and details.get("message"):
        problems.append(str(details["message"]))
    return problems or ["the fit's convergence criteria were not met"]


def fit_model(model: str, data: pd.DataFrame, method: str, settings: dict[str, Any], source: str, *, cli: bool = False) -> Any:
    """Fit the registered model ``model`` by ``method``; data errors become :class:`InputError`."""
    estimator = _estimator(model, settings)
    try:
        return estimator.fit(data, method=method)
    except ImportError as exc:
        raise InputError(f"method {method!r} needs the Bayesian extras ({exc}); install them, or use method \"mle\"") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: {label(model)}: {config_terms(one_line(str(exc)), cli)}") from exc


def check_converged(model: Any, label: str, policy: str, log: logging.Logger, detail: str | None = None, *, cli: bool = True) -> None:
    """Apply ``on_nonconvergence``: raise :class:`NotConvergedError` (``"fail"``) or log (``"warn"``).

    ``detail`` is the fit's own convergence warning (with its advice); without it the
    problems recorded by the fit are reported. ``cli``: advise the command line's option
    rather than the config's key.
    """
    problems = convergence_problems(model)
    if not problems:
        return
    text = f"{label} did not converge: {detail or one_line('; '.join(problems))}"
    text = text if text.endswith(".") else text + "."
    if policy == "fail":
        how = "pass --on-nonconvergence warn" if cli else "set on_nonconvergence = \"warn\" at the top of the config"
        raise NotConvergedError(
            f"{text} Nothing was written. Fix the data or the settings, or {how} to write the outputs anyway, "
            "marked as not converged."
        )
    log.warning(f"{text} Writing the outputs anyway (on_nonconvergence = \"warn\").")


def load_model_file(path: str | os.PathLike, kind: str) -> Any:
    """Load a model file and check that it holds a registered model of ``kind``
    ("transactions" or "spend"; a registered key is accepted too, and must match)."""
    from .io import load_model
    from .models.registry import KINDS, registered

    path = Path(path)
    name = shown(path)
    wanted = None if kind in KINDS else model_class(kind)
    kind = kind if kind in KINDS else wanted.kind
    keys = ", ".join(f"{k!r} ({c.display_name})" for k, c in registered(kind).items())
    _read_bytes(path, "model file", f"make one with clvmodels fit --model {{{','.join(registered(kind))}}}")  # exists, regular
    try:
        model = load_model(path)
    except (ValueError, OSError, RecursionError) as exc:
        text = "the file is nested too deeply to be a model file" if isinstance(exc, RecursionError) else one_line(str(exc))
        raise InputError(f"{name}: {text}" if name not in text else text) from None
    except Exception as exc:  # noqa: BLE001 - a model file is input: whatever breaks reading it is bad input
        raise InputError(f"{name}: not a readable clvmodels model file ({type(exc).__name__}: {one_line(str(exc))}); "
                         "make one with clvmodels fit") from None
    if getattr(model, "kind", None) != kind or (wanted is not None and type(model) is not wanted):
        what = f"a {model.kind} model" if getattr(model, "kind", None) else "no model this option takes"
        raise InputError(
            f"{name} holds a {type(model).__name__} model ({label(model)}, {what}), not a {kind} model; "
            f"{kind} models: {keys}"
        )
    return model


def check_time_units(model: Any, data: pd.DataFrame, model_path: str, data_name: str, *, cli: bool = True) -> None:
    """Refuse a model fitted in one time unit applied to a summary in another (its rates are
    per time unit: mixing them gives wrong answers without a word)."""
    fitted = getattr(model, "time_unit_", None)
    given = data.attrs.get("time_unit")
    if fitted and given and str(fitted) != str(given):
        fix = (f"summarise with --time-unit {fitted} (or refit the model on this summary)" if cli
               else f"set time_unit = \"{fitted}\" in [summary] (or refit)")
        raise InputError(
            f"time units differ: the {label(model)} model in {model_path} was fitted on a summary in "
            f"{_UNITS.get(str(fitted), fitted)} ({fitted!r}) but {data_name} is in {_UNITS.get(str(given), given)} ({given!r}); "
            f"its rates are per {_UNITS.get(str(fitted), fitted)[:-1]}: {fix}"
        )


def run_forecast(
    transactions_model: Any, spend_model: Any, data: pd.DataFrame, settings: dict[str, Any], source: str, *, cli: bool = False
) -> Any:
    """:func:`clvmodels.forecast` (``spend_model=None``: purchases only); its errors become
    :class:`InputError`, or :class:`NotConvergedError` when a model that did not converge is
    the cause."""
    from . import forecast

    try:
        return forecast(transactions_model, spend_model, data, **settings)
    except (ValueError, TypeError, ArithmeticError) as exc:
        text = config_terms(one_line(str(exc)), cli)
        unconverged = [m for m in (transactions_model, spend_model) if m is not None and not getattr(m, "converged_", True)]
        if isinstance(exc, ArithmeticError) and not unconverged:
            raise  # a numerical failure at converged estimates is a bug: reported as an internal error
        if unconverged:
            names = ", ".join(label(m) for m in unconverged)
            raise NotConvergedError(f"cannot forecast: {names} did not converge ({text})") from exc
        raise InputError(f"{source}: forecast: {text}") from exc
    except MemoryError:
        fix = "pass fewer --draws or --no-predictive" if cli else "set fewer [forecast] n_draws, or predictive = false"
        raise InputError(f"{source}: forecast: not enough memory for {settings.get('n_draws')} draws of {len(data):,} customers; {fix}") from None


#: Library argument -> (config key's table, the key, the command line's option).
_TERMS: dict[str, tuple[str, str, str]] = {
    "date_format": ("input", "date_format", "--date-format"),
    "customer_col": ("input", "customer_col", "--customer-col"),
    "date_col": ("input", "date_col", "--date-col"),
    "amount_col": ("input", "amount_col", "--amount-col"),
    "invalid": ("input", "invalid", "--invalid"),
    "duplicates": ("input", "duplicates", "--duplicates"),
    "observation_end": ("summary", "observation_end", "--observation-end"),
    "calibration_end": ("summary", "calibration_end", "--calibration-end"),
    "time_unit": ("summary", "time_unit", "--time-unit"),
    "resolution": ("summary", "resolution", "--resolution"),
    "horizon": ("forecast", "horizon", "--horizon"),
    "discount_rate": ("forecast", "discount_rate", "--discount-rate"),
    "margin": ("forecast", "margin", "--margin"),
    "ci": ("forecast", "ci", "--ci"),
    "n_draws": ("forecast", "n_draws", "--draws"),
    "period": ("forecast", "period", "--period"),
    "discounting": ("forecast", "discounting", "--discounting"),
    "random_seed": ("", "seed", "--seed"),
    "penalty": ("model", "penalty", "--penalty"),
    "memory_limit": ("input", "memory_limit", "--memory-limit"),
    "covariates": ("model", "covariates", "[model] covariates"),
    "categorical": ("model", "categorical", "[model] categorical"),
}
_TERM = re.compile(r"\b([Pp]ass\s+)?(" + "|".join(_TERMS) + r")=(\[[^\]]*\]|'[^']*'|\"[^\"]*\"|[\w.+-]+)?")


def config_terms(text: str, cli: bool = False) -> str:
    """A library message in the words of the batch job: ``date_format=`` becomes
    ``[input] date_format`` (or ``--date-format`` on the command line).

    Examples
    --------
    >>> config_terms("dates as numbers: pass date_format= (for example date_format='%Y%m%d').")
    'dates as numbers: set [input] date_format (for example [input] date_format = "%Y%m%d").'
    >>> config_terms("declare it categorical=['region'] or convert it to numbers.")
    'declare it [model] categorical = ["region"] or convert it to numbers.'
    >>> config_terms("Pass invalid='drop' to exclude such rows.", cli=True)
    'Use --invalid drop to exclude such rows.'
    """

    def term(match: re.Match[str]) -> str:
        verb, name, value = match.group(1), match.group(2), match.group(3)
        section, key, flag = _TERMS[name]
        if cli:
            out = flag + (f" {value.strip(chr(39) + chr(34))}" if value else "")
            verb_text = "Use " if verb and verb[0] == "P" else "use "
        else:
            qualified = f"[{section}] {key}" if section else key
            if value and value[0] in "'\"":
                value = json.dumps(value[1:-1])
            elif value and value[0] == "[":  # a Python list of strings: the TOML list
                value = re.sub(r"'([^']*)'", lambda m: json.dumps(m.group(1)), value)
            out = qualified + (f" = {value}" if value else "")
            verb_text = "Set " if verb and verb[0] == "P" else "set "
        return (verb_text if verb else "") + out

    return _TERM.sub(term, text)


# -- output directory -------------------------------------------------------------------------------


def check_writable(
    target: str | os.PathLike,
    what: str = "output directory",
    fix: str = "choose another [output] dir (--output-dir)",
    beside: bool = True,
) -> Path:
    """Check, without creating anything, that the directory ``target`` can be created and written.

    With ``beside``, its parent must be writable too (a run stages its outputs there).

    Raises
    ------
    InputError
        ``target`` or an ancestor is a file, or the nearest existing ancestor is not writable.
    """
    target = Path(target).absolute()
    if target.exists() and not target.is_dir():
        raise InputError(f"{what} {shown(target)} exists and is not a directory; {fix}")
    probe = target if target.exists() else target.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{what} {shown(target)} cannot be created: {shown(probe)} is a file; {fix}")
    needs = [probe] if probe != target else [target, target.parent] if beside else [target]
    for folder in needs:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"{what} {shown(target)} cannot be written: no write permission on {shown(folder)}; fix the permissions or {fix}")
    return target


def check_file_writable(path: str | os.PathLike, inputs: tuple[str | os.PathLike | None, ...] = ()) -> Path:
    """Check, without creating anything, that the file ``path`` can be written (its folder can)
    and is none of the command's ``inputs`` (an output never replaces its own input)."""
    path = Path(path).absolute()
    if path.is_dir():
        raise InputError(f"-o {shown(path)} is a directory; give a file name")
    if path.exists():
        for other in inputs:
            try:
                same = other is not None and Path(other).exists() and os.path.samefile(path, other)
            except OSError:
                same = False
            if same:
                raise InputError(f"-o {shown(path)} is this command's input {shown(other)}; write the output to another file")
    check_writable(path.parent, what=f"-o {shown(path)}: folder", fix="choose another -o path", beside=False)
    return path


def manifest_head(config: RunConfig, command: str, started: datetime) -> dict[str, Any]:
    """The first entries of every job's manifest: its version, the generator, the command, when
    the job started and finished, the config (path, hash, settings) and the seed."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "generator": "clvmodels",
        "status": "ok",
        "command": command,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"path": str(config.path.resolve()), "sha256": _sha256(config.path), "settings": config.to_dict()},
        "seed": config.seed,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StagedOutput:
    """The outputs of one run, staged beside ``target`` and committed into it at the end.

    Use as a context manager: entering creates ``target`` (if needed), takes the lock and
    creates the staging folder; :meth:`commit` moves the staged files into ``target``;
    leaving removes the staging folder (whatever happened) and releases the lock.

    Only files that a clvmodels run wrote are ever replaced or removed: a file in ``target``
    is replaced only when the previous manifest there (a clvmodels manifest) lists it, and
    removed only when that manifest lists it with the SHA-256 of its current bytes, it is a
    regular file below ``target`` (no ``..``, absolute path or symbolic link on the way) and it
    is none of ``protect`` (the run's input and config).
    """

    def __init__(self, target: Path, protect: tuple[Path, ...] = ()) -> None:
        self.target = Path(target).absolute()
        self.staging: Path | None = None
        self._lock_fd: int | None = None
        self.files: list[str] = []
        self.protect = tuple(Path(p) for p in protect)
        #: files a previous manifest listed that were left in place, with the reason
        self.kept: dict[str, str] = {}

    def __enter__(self) -> StagedOutput:
        try:
            self.target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"output directory {shown(self.target)} cannot be created ({exc.strerror}); choose another [output] dir") from None
        self._lock()
        prefix = f".{self.target.name}{_STAGING}"
        for stale in self.target.parent.iterdir():
            # a killed run's leftovers (they carry our marker): safe to remove, since that run no
            # longer holds the lock
            if (stale.name.startswith(prefix) and stale.is_dir() and not stale.is_symlink()
                    and (stale / _STAGING_MARKER).is_file()):
                shutil.rmtree(stale, ignore_errors=True)
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=prefix, dir=self.target.parent))
            (self.staging / _STAGING_MARKER).write_text("a clvmodels run's staging folder\n", encoding="utf-8")
        except OSError as exc:
            self._unlock()
            raise InputError(
                f"cannot create a staging folder in {shown(self.target.parent)} ({exc.strerror}); a run stages its "
                "outputs beside the output directory, so its parent must be writable"
            ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        self._unlock()

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks; runs must not overlap
            return
        fd = os.open(self.target, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise BusyError(f"another clvmodels run is writing to {shown(self.target)}; wait for it to finish, or use another [output] dir") from None
            raise
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def path(self, name: str) -> Path:
        """Where to write output ``name`` (a path relative to the output directory)."""
        assert self.staging is not None
        path = self.staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name not in self.files:
            self.files.append(name)
        return path

    def describe(self) -> dict[str, dict[str, Any]]:
        """Size and SHA-256 of every staged file, by name."""
        assert self.staging is not None
        return {name: {"bytes": (self.staging / name).stat().st_size, "sha256": _sha256(self.staging / name)} for name in self.files if name != MANIFEST}

    def check_replaceable(self, names: list[str] | None = None) -> None:
        """Refuse (:class:`InputError`) to replace a file of the output directory that no
        clvmodels run wrote, or the run's own input or config."""
        previous = previous_outputs(self.target)
        for name in self.files if names is None else names:
            destination = self.target / name
            if not (destination.exists() or destination.is_symlink()):
                continue
            if self._protected(destination):
                raise InputError(
                    f"{shown(destination)} is this run's input or config; an output would replace it: choose another [output] dir"
                )
            ours = previous is not None and (name == MANIFEST or name in previous)
            if not ours or destination.is_symlink() or not destination.is_file():
                raise InputError(
                    f"{shown(destination)} exists and was not written by a clvmodels run (no clvmodels manifest.json there "
                    "lists it); a run never replaces other files: move it, or choose another [output] dir (--output-dir)"
                )

    def _protected(self, path: Path) -> bool:
        for other in self.protect:
            try:
                if path.exists() and other.exists() and os.path.samefile(path, other):
                    return True
            except OSError:
                continue
        return False

    def commit(self) -> None:
        """Move the staged files into the output directory, the manifest last; then remove the
        files that the previous manifest listed, this run did not write and are unchanged since."""
        assert self.staging is not None
        previous = previous_outputs(self.target) or {}
        self.check_replaceable()
        removable = {name: entry for name, entry in previous.items() if name not in self.files}
        order = [n for n in self.files if n != MANIFEST] + ([MANIFEST] if MANIFEST in self.files else [])
        from .io import default_file_mode

        mode = default_file_mode()
        with _signals_deferred():  # SIGTERM or Ctrl-C now would leave a mix of two runs' files
            for name in order:
                destination = self.target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(self.staging / name, mode)
                os.replace(self.staging / name, destination)
            _fsync_dir(self.target)
            for name in sorted(removable):
                stale = self._removable(name, removable[name])
                if stale is not None:
                    stale.unlink()
            plots = self.target / PLOTS
            if plots.is_dir() and not plots.is_symlink() and not any(plots.iterdir()):
                plots.rmdir()

    def _removable(self, name: str, entry: Any) -> Path | None:
        """The path of a previous output that may be removed, or ``None`` (reason in ``kept``)."""
        parts = Path(name).parts
        if not name or Path(name).is_absolute() or ".." in parts or "\\" in name:
            self.kept[name] = "not a path inside the output directory"
            return None
        path = self.target
        for part in parts:
            path = path / part
            if path.is_symlink():
                self.kept[name] = "a symbolic link"
                return None
        try:
            mode = path.lstat().st_mode
        except OSError:
            return None  # already gone
        if not stat.S_ISREG(mode) or not path.resolve().is_relative_to(self.target.resolve()):
            self.kept[name] = "not a regular file inside the output directory"
            return None
        if self._protected(path):
            self.kept[name] = "this run's input or config"
            return None
        if not is_output_name(name):
            self.kept[name] = "not a name a clvmodels run writes"
            return None
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(expected, str) or _sha256(path) != expected:
            self.kept[name] = "changed since the run that wrote it (its SHA-256 differs from the manifest's)"
            return None
        return path


_STAGING_MARKER = ".clvmodels-staging"


def is_output_name(name: str) -> bool:
    """Whether ``name`` is a file a clvmodels run writes (so a previous run's may be removed):
    the predictions, the holdout table, the model comparison, the segment table, a registered model's file, a plot.

    Examples
    --------
    >>> [is_output_name(n) for n in ("predictions.csv", "bgnbd.json", "plots/tracking.png", "notes.txt", "package.json")]
    [True, True, True, False, False]
    """
    from .models.registry import registered

    if name in (PREDICTIONS, HOLDOUT, COMPARISON, SEGMENTS):
        return True
    if re.fullmatch(rf"{PLOTS}/[A-Za-z0-9_-]+\.png", name):
        return True
    stem, _, suffix = name.rpartition(".")
    return suffix in ("json", "nc") and stem in registered()


def previous_outputs(target: Path) -> dict[str, Any] | None:
    """The outputs listed by the clvmodels manifest in ``target`` (name -> entry), or ``None``
    when there is no manifest there or it is not one of ours."""
    path = Path(target) / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("manifest_version"), int):
        return None
    versions = manifest.get("versions")
    if manifest.get("generator") != "clvmodels" and not (isinstance(versions, dict) and versions.get("clvmodels")):
        return None
    outputs = manifest.get("outputs")
    return {str(k): v for k, v in outputs.items()} if isinstance(outputs, dict) else {}


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as JSON atomically (NaN and infinity become ``null``)."""
    from .io import atomic_path

    text = json.dumps(plain(document), indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: numpy scalars and arrays, pandas objects, paths, dates;
    NaN and infinity become ``None``."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return {str(i): plain(row.to_dict()) for i, row in value.iterrows()}
    if isinstance(value, pd.Series):
        return plain(value.to_dict())
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    return str(value)


def package_versions() -> dict[str, str | None]:
    """Python and the versions of the packages that shape the results (``None``: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


# -- plots ----------------------------------------------------------------------------------------


def draw_plots(context: dict[str, Any], folder: Callable[[str], Path], journal: Journal) -> list[str]:
    """Draw the diagnostic plots that the run's results allow; return the names written.

    A plot that fails is logged and recorded as a warning, and the run goes on: the plots are
    diagnostics, the forecast is the product.
    """
    from . import plotting as cp

    seed = context["seed"]
    tm, sm, data, result = context["transactions"], context["spend"], context["data"], context["forecast"]
    horizon = context["horizon"]
    plots: dict[str, Callable[[], Any]] = {
        "calibration_fit": lambda: cp.plot_calibration_fit(tm, data),
        "prob_alive_heatmap": lambda: cp.plot_prob_alive_heatmap(tm, data),
        "heterogeneity": lambda: cp.plot_heterogeneity(tm, random_seed=seed),
    }
    if sm is not None:  # without amounts: no spend model, no CLV
        plots["spend_distribution"] = lambda: cp.plot_spend_distribution(sm, data, random_seed=seed)
        plots["frequency_spend"] = lambda: cp.plot_frequency_spend(data)
    if "clv" in result.frame.columns:
        plots["clv_distribution"] = lambda: cp.plot_clv_distribution(result)
        plots["top_customers"] = lambda: cp.plot_top_customers(result, n=20)
    if math.isfinite(horizon):
        plots["expected_purchases_heatmap"] = lambda: cp.plot_expected_purchases_heatmap(tm, data, t=horizon)
    if context.get("holdout") is not None:
        hold = context["holdout"]
        plots["holdout_by_frequency"] = lambda: cp.plot_holdout_by_frequency(hold["model"], hold["data"], report=hold["report"], ci=hold["ci"], random_seed=seed)
        plots["interval_calibration"] = lambda: cp.plot_interval_calibration(hold["model"], hold["data"])
        plots["tracking"] = lambda: cp.plot_tracking(hold["tracking"]())
    compared = context.get("comparison")
    if compared is not None and compared.comparison is not None:
        plots["compare_holdout"] = lambda: cp.plot_compare_holdout(compared.comparison)
        plots["compare_tracking"] = lambda: cp.plot_compare_tracking({label(k): compared.tracking(k) for k in compared.fits})
    for model in (m for m in (tm, sm) if m is not None):
        key = model.key.replace("-", "_")
        if getattr(model, "idata_", None) is not None and "posterior" in model.idata_.groups():
            chains = model.idata_.posterior.sizes.get("chain", 1)
            plots[f"trace_{key}"] = lambda m=model: cp.plot_trace(m)
            if chains > 1:
                plots[f"rank_{key}"] = lambda m=model: cp.plot_rank(m)
    return save_plots(plots, folder, journal)


def save_plots(plots: dict[str, Callable[[], Any]], folder: Callable[[str], Path], journal: Journal) -> list[str]:
    """Draw each plot (a function returning its Axes or Figure) into ``plots/NAME.png``; return
    the names written. A plot that fails is logged and recorded as a warning, and the run goes on."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # a batch job: never open a window
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt

    written = []
    for name, draw in plots.items():
        try:
            drawn = draw()
            fig = drawn if isinstance(drawn, matplotlib.figure.Figure) else drawn.figure
            fig.savefig(folder(f"{PLOTS}/{name}.png"), dpi=100)
            plt.close(fig)
            written.append(name)
        except Exception as exc:  # noqa: BLE001 - a diagnostic plot must not sink the run
            plt.close("all")
            text = f"plot {name} failed: {type(exc).__name__}: {one_line(str(exc))}"
            journal.warnings.append(text)
            journal.log.warning(text)
    return written


# -- attributes, segments, costs, covariates ------------------------------------------------------------

#: Columns of the library's segment cells (:meth:`clvmodels.Forecast.segment_summary`): no segment column may take these names.
_CELL_COLUMNS = ("customers", "acquisition_cost")


@dataclass(frozen=True)
class Attributes:
    """The per-customer attribute table as read (``[input] attributes``): ``frame`` indexed by the
    customer id as text, without the id column; ``file`` its size and SHA-256 (of the file's bytes)."""

    frame: pd.DataFrame
    file: InputFile
    id_col: str
    format: str
    rows: int

    @property
    def columns(self) -> list[str]:
        """The attribute columns (the id column aside)."""
        return [str(c) for c in self.frame.columns]

    def record(self) -> dict[str, Any]:
        """The manifest's entry (with :func:`customer_attributes`'s counts added by the run)."""
        return {**self.file.record(), "format": self.format, "customer_col": self.id_col, "columns": self.columns, "rows": self.rows}


def read_attributes(spec: InputConfig) -> Attributes | None:
    """Read ``[input] attributes``: a CSV (comma-separated UTF-8 with a header line; gzip, bz2, xz
    or single-file zip decompressed) or Parquet (``.parquet``, ``.pq``) table with one row per
    customer id (the column ``[input] attributes_customer_col``, by default ``customer_col``).

    The file is read once into memory and hashed from those bytes. Ids are read as text (a
    Parquet table's ids are turned into text); the other columns keep the types the reader
    infers (numbers stay numbers, for covariates and costs). ``None`` without ``[input] attributes``.

    Raises
    ------
    InputError
        A missing, unreadable or empty file, no id column (listing the columns), ids missing or
        given twice (with their number and the fix).
    """
    if spec.attributes is None:
        return None
    path, id_col = spec.attributes, spec.attributes_id
    name = shown(path)
    data = _read_bytes(path, "attribute table", "check [input] attributes (relative to the config file)")
    file = InputFile(path, len(data), hashlib.sha256(data).hexdigest())
    data, compression = _decompress(data, name)
    suffixes = [s.lower() for s in path.suffixes[: -1 if compression else None]]
    fmt = "parquet" if suffixes and suffixes[-1] in (".parquet", ".pq") else "csv"
    if not data.strip():
        raise InputError(f"{name} is empty; the attribute table needs a header line and one row per customer ([input] attributes)")
    if fmt == "parquet":
        frame = _read_parquet(data, name)
    else:
        text = _decode(data, "utf-8", name)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype={id_col: "str"}, skipinitialspace=True, low_memory=False, index_col=False)
        except pd.errors.EmptyDataError:
            raise InputError(f"{name} has no columns; the attribute table needs a header line and one row per customer") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputError(f"{name}: not a readable comma-separated CSV ({one_line(str(exc))}); the attribute table is read as "
                             "comma-separated UTF-8 with a header line, or Parquet") from None
    frame.columns = [str(c) for c in frame.columns]
    if id_col not in frame.columns:
        import difflib

        close = [c for c in frame.columns if c.lower() == id_col.lower()] or difflib.get_close_matches(id_col, list(frame.columns), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(
            f"{name} has no column {id_col!r} of customer ids{hint}; its columns: {', '.join(frame.columns)}: set "
            "[input] attributes_customer_col to the attribute table's id column"
        )
    if len(frame) == 0:
        raise InputError(f"{name} has a header line ({', '.join(frame.columns)}) but no rows: no customer has attributes")
    if len(frame.columns) < 2:
        raise InputError(f"{name} has only the id column {id_col!r}; give the attributes as further columns (for example channel, region)")
    ids = frame[id_col]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        raise InputError(f"{name}: {int(blank.sum()):,} rows have no customer id in column {id_col!r} (first on line "
                         f"{int(np.flatnonzero(blank.to_numpy())[0]) + 2}); give every row its customer's id, or remove those rows")
    ids = ids.astype(str).str.strip()
    twice = ids[ids.duplicated(keep=False)]
    if len(twice):
        raise InputError(
            f"{name}: {twice.nunique():,} customer ids appear more than once in column {id_col!r} (first: {twice.iloc[0]!r}, "
            f"{int((ids == twice.iloc[0]).sum())} rows); the attribute table needs one row per customer: remove the repeated rows"
        )
    frame = frame.drop(columns=[id_col]).set_axis(pd.Index(ids.to_numpy(), name=id_col))
    return Attributes(frame, file, id_col, fmt, len(frame))


def check_attribute_columns(config: RunConfig, attributes: Attributes | None) -> None:
    """Refuse, before any work, columns that ``[segments]``, ``[costs]`` and ``[model] covariates``
    name but the attribute table does not have (listing those it has)."""
    available = (attributes.columns if attributes is not None else []) + (["cohort"] if config.segments.cohort else [])
    if attributes is not None and config.segments.cohort and "cohort" in attributes.columns:
        raise InputError(f"{shown(attributes.file.path)} has a column 'cohort', and [segments] cohort = {config.segments.cohort!r} derives "
                         "one from the log: rename the table's column, or remove [segments] cohort to use it")
    where_file = f" of {shown(attributes.file.path)}" if attributes is not None else ""
    uses = {"[segments] by": config.segments.columns, "[model] covariates": config.model.covariate_columns()}
    uses["[costs]"] = [v for v in (config.costs.cost_per_purchase, config.costs.acquisition_cost) if isinstance(v, str)]
    for where, columns in uses.items():
        unknown = [c for c in columns if c not in available]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], available, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            what = "[segments] by or compare" if where == "[segments] by" else where
            raise InputError(f"{what} names {', '.join(repr(c) for c in unknown)}{hint}, not a column{where_file}; available: "
                             f"{', '.join(available) or 'none'}" + ('' if config.segments.cohort or where != "[segments] by" else
                                                                       '; [segments] cohort = "Q" (or "M", "Y") adds "cohort"'))
    for column in config.segments.columns:
        if column in _CELL_COLUMNS:
            raise InputError(f"[segments] by names the attribute column {column!r}, a name the segment table uses for its own column: "
                             "rename it in the attribute table")


def customer_attributes(config: RunConfig, attributes: Attributes | None, summary: pd.DataFrame, tx: Transactions,
                        spec: InputConfig) -> pd.DataFrame | None:
    """The attributes of the summary's customers, indexed like ``summary``: the table's columns
    (its rows matched by the id as text) and ``cohort`` (``[segments] cohort``, from the log).

    Raises
    ------
    InputError
        Customers of the transactions without a row in the attribute table (their number, the
        first id and the fix).
    """
    if attributes is None and config.segments.cohort is None:
        return None
    keys = summary.index.astype(str)
    frame = pd.DataFrame(index=summary.index)
    if attributes is not None:
        missing = ~keys.isin(attributes.frame.index)
        if missing.any():
            raise InputError(
                f"{shown(attributes.file.path)}: {int(missing.sum()):,} of the {len(summary):,} customers of the transactions have no row "
                f"(first: {keys[missing][0]!r}; ids are matched as text in column {attributes.id_col!r}, [input] "
                f"{'attributes_customer_col' if config.input.attributes_customer_col else 'customer_col'}): give every customer a row "
                "(with a value such as 'unknown' where an attribute is not known)"
            )
        frame = attributes.frame.reindex(keys).set_axis(summary.index)
    if config.segments.cohort is not None:
        from .segments import acquisition_cohorts

        try:
            cohorts = acquisition_cohorts(
                tx.log_columns([spec.customer_col, spec.date_col]), customer_col=spec.customer_col, date_col=spec.date_col,
                freq=config.segments.cohort, observation_end=summary.attrs.get("observation_end"), date_format=spec.date_format,
                invalid=spec.invalid,
            )
        except (ValueError, TypeError) as exc:
            raise InputError(f"{shown(tx.path)}: [segments] cohort: {config_terms(one_line(str(exc)))}") from exc
        cohort = cohorts["cohort"]
        cohort.index = cohort.index.astype(str)
        frame["cohort"] = cohort.reindex(keys).to_numpy()
        frame["cohort"] = pd.Categorical(frame["cohort"], categories=cohorts["cohort"].cat.categories, ordered=True)
    frame.index.name = summary.index.name
    return frame


def segment_frame(config: RunConfig, table: pd.DataFrame | None, where: str) -> pd.DataFrame | None:
    """The ``segments=`` of :func:`clvmodels.forecast`: the segment columns as text labels (the
    cohort stays an ordered category), checked for missing values and for the compared values."""
    columns = config.segments.columns
    if not columns or table is None:
        return None
    out = pd.DataFrame(index=table.index)
    for column in columns:
        values = table[column]
        blank = values.isna()
        if blank.any():
            raise InputError(f"{where}: column {column!r} ([segments]) has no value for {int(blank.sum()):,} customers (first: "
                             f"{table.index[blank.to_numpy()][0]!r}); fill them in the attribute table (for example with 'unknown')")
        out[column] = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype(str)
    for columns_, a, b in config.segments.compare or ():
        present = set(map(tuple, out[list(columns_)].astype(str).drop_duplicates().to_numpy().tolist()))
        for side in (a, b):
            if side not in present:
                shown_values = sorted("/".join(v) for v in present)
                raise InputError(f"[segments] compare {list(columns_)} names the segment {'/'.join(side)!r}, which no customer has; "
                                 f"segments of {'/'.join(columns_)}: {', '.join(shown_values[:20])}" + (" ..." if len(shown_values) > 20 else ""))
    return out


def cost_argument(config: RunConfig, name: str, table: pd.DataFrame | None, where: str) -> Any:
    """``cost_per_purchase=`` or ``acquisition_cost=`` of :func:`clvmodels.forecast`: the number,
    or the attribute column as a Series by customer id (each value checked: a number >= 0)."""
    value = getattr(config.costs, name)
    if not isinstance(value, str):
        return value
    assert table is not None
    numbers = pd.to_numeric(table[value], errors="coerce")
    bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64)) | (numbers.to_numpy(dtype=np.float64) < 0)
    if bad.any():
        first = table.index[bad][0]
        raise InputError(f"{where}: column {value!r} ([costs] {name}) has {int(bad.sum()):,} values that are missing, negative or not "
                         f"numbers (first: customer {first!r}, {table[value].iloc[int(np.flatnonzero(bad)[0])]!r}); costs are amounts of money >= 0")
    return numbers.astype(np.float64)


def with_covariates(config: RunConfig, data: pd.DataFrame, table: pd.DataFrame | None) -> pd.DataFrame:
    """``data`` (a summary) with the covariate columns of ``[model] covariates`` joined (itself without)."""
    names = config.model.covariate_columns()
    if not names:
        return data
    assert table is not None
    clash = [c for c in names if c in data.columns]
    if clash:
        raise InputError(f"[model] covariates names {clash[0]!r}, which is also a column of the summary ({', '.join(map(str, data.columns))}): "
                         "rename the attribute column")
    out = data.copy()  # keeps attrs
    keys = out.index.astype(str)
    source = table.set_axis(table.index.astype(str))
    for name in names:
        out[name] = source[name].reindex(keys).to_numpy()
    return out


def segments_log_text(rows: pd.DataFrame, segments: Any, ci: float) -> str:
    """The log line of segments.csv: each grouping's segments with their mean value per customer
    (net CLV when there are costs) and its interval, then each comparison."""
    value = next((v for v in ("net_clv", "clv", "discounted_purchases") if f"{v}_mean" in rows.columns), None)
    parts = []
    for columns in segments.groupings:
        by = "/".join(columns)
        these = rows[(rows["kind"] == "segment") & (rows["by"] == by)]
        if value is None or len(these) > 6:
            parts.append(f"by {by}: {len(these):,} segments")
            continue
        cells = ", ".join(f"{r.segment} {r[f'{value}_mean']:,.2f} ({r[f'{value}_mean_lower']:,.2f} to {r[f'{value}_mean_upper']:,.2f}, "
                          f"{int(r.customers):,} customers)" for _, r in these.iterrows())
        parts.append(f"by {by}: {cells}")
    for _, r in rows[rows["kind"] == "comparison"].iterrows():
        parts.append(f"{r['a']} vs {r['b']} ({r['by']}): P(a > b) = {r['prob_a_greater']:.3f}, difference {r['difference']:,.2f} "
                     f"({r['difference_lower']:,.2f} to {r['difference_upper']:,.2f})")
    name = {"net_clv": "mean net CLV", "clv": "mean CLV", "discounted_purchases": "mean discounted purchases"}.get(value, "")
    return f"segments ({name} per customer, {ci:.0%} intervals): " + "; ".join(parts)


def segment_table(result: Any, segments: Any) -> pd.DataFrame:
    """The table of segments.csv: a row per segment of each grouping (``kind = "segment"``, the
    columns of :meth:`clvmodels.Forecast.segment_summary`), then a row per comparison
    (``kind = "comparison"``, the values of :meth:`clvmodels.Forecast.compare`). ``by`` names the
    column(s) and ``segment`` the value(s), joined by ``/`` for combinations."""
    parts = []
    for columns in segments.groupings:
        table = result.segment_summary(list(columns))
        labels = ["/".join(map(str, key)) if isinstance(key, tuple) else str(key) for key in table.index]
        table = table.reset_index(drop=True)
        table.insert(0, "segment", labels)
        table.insert(0, "by", "/".join(columns))
        table.insert(0, "kind", "segment")
        parts.append(table)
    rows = []
    for columns, a, b in segments.compare or ():
        one = len(columns) == 1
        row = result.compare(list(columns), a=a[0] if one else a, b=b[0] if one else b)
        rows.append({"kind": "comparison", "by": "/".join(columns), "segment": f"{'/'.join(a)} vs {'/'.join(b)}", "a": "/".join(a),
                     "b": "/".join(b), **{k: row[k] for k in ("quantity", "mean_a", "mean_b", "difference", "difference_lower",
                                                               "difference_upper", "prob_a_greater")}})
    if rows:
        parts.append(pd.DataFrame(rows))
    return pd.concat(parts, ignore_index=True, sort=False)


# -- the whole run ----------------------------------------------------------------------------------


def _model_file(model: str, method: str) -> str:
    return f"{model}.nc" if method in ("nuts", "advi") else f"{model}.json"


def _model_record(model: Any, method: str, file: str | None, ci: float, fitted_on: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    record = {
        "model": type(model).__name__,
        "key": model.key,
        "name": model.key,
        "display_name": model.display_name,
        "method": method,
        "file": file,
        "fitted_on": fitted_on,
        "time_unit": getattr(model, "time_unit_", None),
        "customers": model.n_customers_,
        "patterns": model.n_patterns_,
        "loglik": model.loglik_,
        "converged": bool(model.converged_),
        "problems": convergence_problems(model),
        "boundary": getattr(model, "boundary_", None) or None,
        "ci": ci,
        "parameters": model.summary(ci=ci),
        "diagnostics": getattr(model, "sampler_", None) or getattr(model, "optimizer_", None),
    }
    if settings is not None:
        record["settings"] = {k: v for k, v in settings.items() if k not in ("progressbar",)}
        if record["settings"].get("priors"):
            record["settings"]["priors"] = {k: repr(v) for k, v in record["settings"]["priors"].items()}
    if hasattr(model, "frequency_spend_corr_"):
        record["frequency_spend_corr"] = model.frequency_spend_corr_
    return record


def _params_text(model: Any) -> str:
    return ", ".join(f"{k} = {v:.4g}" for k, v in model.params_.items())


def fit_text(label: str, model: Any, method: str, what: str) -> str:
    state = "NOT converged" if not model.converged_ else "at a limit of the model (see the warning)" if getattr(model, "boundary_", None) else "converged"
    return f"{label} ({method}) on {model.n_customers_:,} {what}: {_params_text(model)}; log-likelihood {model.loglik_:,.2f}; {state}"


def _roles(spec: InputConfig) -> tuple[str, ...]:
    """The models a run fits, spend first (it fails plainly on data without repeat buyers)."""
    return ("transactions",) if spec.amount_col is None else ("spend", "transactions")


def plan_text(config: RunConfig, tx: Transactions, summary: pd.DataFrame, split: pd.DataFrame | None, spec: InputConfig | None = None,
              attributes: Attributes | None = None) -> str:
    """What ``run`` would do, in a few lines (``--dry-run``)."""
    fc, model = config.forecast, config.model
    spec = spec or config.input
    report = summary.attrs.get("report", {})
    dropped = report.get("dropped") or {}
    keys = {role: getattr(model, role) for role in _roles(spec)}
    compared = model.transaction_keys
    if model.compares:
        keys["transactions"] = "the selected model"
    lines = [
        f"config     {shown(config.path)}: valid",
        f"engine     {tx.engine} ({tx.reason})" + (f", memory limit {tx.memory_limit}" if tx.engine == "duckdb" and tx.memory_limit else ""),
        f"input      {shown(tx.path)} ({tx.format}{', ' + tx.compression if tx.compression else ''}, {tx.n_bytes:,} bytes, sha256 {tx.sha256}): "
        f"{report.get('rows_in', tx.n_rows):,} rows, {report.get('rows_used', 0):,} used"
        + (f", {sum(dropped.values()):,} would be dropped ({', '.join(f'{n:,} {r}' for r, n in dropped.items())})" if dropped else ""),
        f"summary    {len(summary):,} customers ({int((summary['frequency'] > 0).sum()):,} with repeat purchases), "
        f"time unit {summary.attrs.get('time_unit')}, observation end {summary.attrs.get('observation_end')}",
    ]
    if model.compares:
        where = (f"fitted on {len(split):,} customers to {split.attrs.get('calibration_end')} and scored on the holdout to "
                 f"{split.attrs.get('observation_end')}" if split is not None else f"fitted on the whole data ({len(summary):,} customers)")
        lines.append(f"compare    {', '.join(label(k) for k in compared)} {where}; select = {model.select!r} picks the one that forecasts "
                     f"({COMPARISON})")
    elif split is not None:
        lines.append(
            f"holdout    {label(model.transactions)} fitted on {len(split):,} customers to {split.attrs.get('calibration_end')}, "
            f"scored on the holdout to {split.attrs.get('observation_end')}"
        )
    if attributes is not None:
        lines.append(f"attributes {shown(attributes.file.path)} ({attributes.format}, {attributes.file.n_bytes:,} bytes, sha256 {attributes.file.sha256}): "
                     f"{attributes.rows:,} rows, columns {', '.join(attributes.columns)}; every customer has one")
    if model.covariates is not None:
        lines.append(f"covariates {', '.join(model.covariate_columns())} in the transactions model"
                     + (f" (categorical: {', '.join(model.categorical)})" if model.categorical else ""))
    what = "purchases only (no amounts: no spend model, no CLV)" if "spend" not in keys else "purchases, spend and CLV"
    if config.costs.any:
        what += (f", net of {config.costs.cost_per_purchase if not isinstance(config.costs.cost_per_purchase, str) else 'column ' + repr(config.costs.cost_per_purchase)} per purchase"
                 + (f", acquisition cost {config.costs.acquisition_cost if not isinstance(config.costs.acquisition_cost, str) else 'column ' + repr(config.costs.acquisition_cost)}"
                    if config.costs.acquisition_cost is not None else ""))
    lines += [
        f"fit        {' and '.join(k if k == 'the selected model' else label(k) for k in keys.values())} by {model.method}"
        + (f" ({model.chains} chains x {model.draws} draws)" if model.method in ("nuts", "advi") else ""),
        f"forecast   {what}: horizon {fc.horizon:g} {_UNITS[summary.attrs['time_unit']]}, discount rate {fc.discount_rate:g} a year"
        + (f", margin {fc.margin:g}" if "spend" in keys else "") + f", ci {fc.ci:g}, {fc.n_draws:,} draws"
        + (f" ({fc.parameter_draws})" if fc.parameter_draws != "auto" else "") + f", seed {config.seed}",
        f"outputs    {shown(config.output.dir)}: {PREDICTIONS}, "
        + ", ".join(_model_file(k, model.method) if k != "the selected model" else "the selected model's file" for k in keys.values())
        + (f", {HOLDOUT}" if split is not None else "") + (f", {COMPARISON}" if model.compares else "")
        + (f", {SEGMENTS} (by {', '.join('/'.join(g) for g in config.segments.groupings)}"
           + (f"; {len(config.segments.compare)} comparisons" if config.segments.compare else "") + ")" if config.segments.columns else "")
        + (f", {PLOTS}/" if config.output.plots else "") + f", {MANIFEST}",
        f"on non-convergence: {config.on_nonconvergence}",
    ]
    return "\n".join(lines)


def _check_optional_dependencies(config: RunConfig) -> None:
    import importlib.util

    if config.model.method != "mle" and importlib.util.find_spec("pymc") is None:
        raise InputError(f"{shown(config.path)}: [model] method = {config.model.method!r} needs pymc; install it or use method = \"mle\"")
    if config.output.plots and importlib.util.find_spec("matplotlib") is None:
        raise InputError(f"{shown(config.path)}: [output] plots = true needs matplotlib; install it or set plots = false")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation on this machine (``None`` when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without sysconf
        return None


#: Bytes per (draw, customer) cell the forecast holds at once (float64 arrays, generously), its
#: smallest chunk of customers per thread, and its threads (see :mod:`clvmodels.forecast`).
_CELL_BYTES, _MIN_CHUNK, _THREADS = 8 * 24, 64, 2
#: Simulated future purchases a forecast may draw in all (about 2 minutes on this machine).
MAX_SIMULATED_PURCHASES = 2e9


def check_forecast_memory(n_draws: int, where: str = "[forecast] n_draws") -> None:
    """Refuse a number of draws whose smallest chunk of work does not fit in this machine's memory."""
    need = _CELL_BYTES * _MIN_CHUNK * _THREADS * (n_draws + 1)
    free = available_memory()
    if free is not None and need > free // 2:
        raise InputError(
            f"{where} = {n_draws:,} needs about {need / 1e9:,.1f} GB for the forecast's smallest chunk of work, more than half "
            f"of the {free / 1e9:,.1f} GB this machine has available; use at most {max(1, (free // 2) // (_CELL_BYTES * _MIN_CHUNK * _THREADS) - 1):,} draws"
        )


def check_forecast_work(model: Any, data: pd.DataFrame, horizon: float, discount_rate: float, n_draws: int, unit: str,
                        *, cli: bool = False) -> None:
    """Refuse predictive bounds whose simulation cannot be done here: it draws every future purchase
    of every (draw, customer) alive, over the horizon (or, for the infinite horizon, until the
    discount factor is below exp(-40)); the fitted model says how many purchases that is."""
    from .units import unit_days

    delta = math.log1p(discount_rate) * unit_days(unit) / 365.25
    span = horizon if math.isfinite(horizon) else 40.0 / delta
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = np.asarray(model.expected_purchases(data, span), dtype=float)
    except Exception:  # noqa: BLE001 - the estimate is a guard; the forecast reports its own errors
        return
    expected = expected[~np.isnan(expected)]
    if expected.size == 0:
        return
    total = float(np.sum(expected)) * n_draws
    largest = float(np.max(expected)) * n_draws * _MIN_CHUNK * 8 * 4
    free = available_memory() or 8e9
    if not (math.isfinite(total) and total <= MAX_SIMULATED_PURCHASES and largest <= free / 4):
        over = f"{horizon:g} {_UNITS.get(unit, unit)}" if math.isfinite(horizon) else f"about {span:,.0f} {_UNITS.get(unit, unit)} (the infinite horizon at discount_rate = {discount_rate:g})"
        fix = ("pass --no-predictive, fewer --draws or a shorter --horizon" if cli
               else "set [forecast] predictive = false, fewer n_draws or a shorter horizon")
        raise InputError(
            f"{'the' if cli else '[forecast]'} predictive bounds over {over} would simulate about {total:,.3g} future purchases "
            f"({n_draws:,} draws of {len(data):,} customers, up to {float(np.max(expected)):,.3g} each), more than this machine "
            f"can do (at most {MAX_SIMULATED_PURCHASES:,.0e}, within {free / 4e9:,.1f} GB per chunk): {fix}"
        )


def _has_covariance(model: Any) -> bool:
    if getattr(model, "method_", "mle") in ("nuts", "advi"):
        return True
    cov = getattr(model, "covariance_log_", None)
    return cov is not None and bool(np.all(np.isfinite(np.asarray(cov, dtype=float))))


def choose_parameter_draws(models: list[Any], wanted: str, policy: str, log: logging.Logger, journal: Journal) -> tuple[str | None, str | None]:
    """The ``draws`` argument of :func:`clvmodels.forecast`, and a note when it differs from the one asked.

    A maximum-likelihood fit that did not converge may have no finite covariance, hence no
    Laplace draws. With ``on_nonconvergence = "warn"`` its parameter uncertainty then comes from
    the bootstrap (a refit on customers resampled with replacement, once per draw). That is
    impossible only for a ``map`` fit (the bootstrap refits by maximum likelihood, and the mode
    has no Laplace approximation without a finite Hessian): that failure cannot be warned past.
    """
    draws = None if wanted == "auto" else wanted
    lacking = [m for m in models if not _has_covariance(m)]
    if not lacking or draws == "bootstrap":
        return draws, None
    names = " and ".join(label(m) for m in lacking)
    if any(getattr(m, "_patterns_", None) is None for m in models if getattr(m, "method_", "mle") == "mle"):
        raise NotConvergedError(
            f"cannot forecast: {names} has no finite covariance, so there are no Laplace draws, and a model "
            "without its fitted patterns cannot be bootstrapped: refit it (clvmodels fit) or fix the data"
        )
    if any(getattr(m, "method_", "mle") != "mle" for m in models):
        raise NotConvergedError(
            f"cannot forecast: {names} has no finite covariance at its {getattr(lacking[0], 'method_', 'mle')} estimate, so there are no "
            "parameter draws (the Laplace approximation needs one, and the bootstrap refits by maximum likelihood): "
            "fit by method = \"mle\" (bootstrap draws) or \"nuts\", or fix the data"
        )
    note = (f"{names} has no finite covariance (the fit did not converge): the forecast's parameter draws come from the "
            "bootstrap (one refit on resampled customers per draw) instead of the Laplace approximation")
    log.warning(note)
    journal.warnings.append(note)
    return "bootstrap", note


@dataclass
class Selection:
    """What :func:`compare_transaction_models` found: the fits, the table, the rule and the pick."""

    fits: dict[str, Any]
    table: pd.DataFrame
    rule: str
    selected: str
    reason: str
    #: ``clvmodels.ModelComparison`` when the models were scored on a holdout, else ``None``
    comparison: Any = None
    fitted_on: str = ""
    tracking: Callable[[str], pd.DataFrame] = field(default=lambda key: pd.DataFrame())
    #: each model's estimator settings, by key
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def verdict(self, key: str) -> dict[str, Any] | None:
        """The holdout verdict of model ``key`` (``None`` without a holdout)."""
        return None if self.comparison is None else self.comparison.reports[key].verdict

    def record(self, method: str, ci: float) -> dict[str, Any]:
        """The manifest's ``comparison`` entry."""
        rows = self.table.reset_index().to_dict(orient="records")
        return {
            "rule": self.rule,
            "selected": self.selected,
            "selected_model": label(self.selected),
            "reason": self.reason,
            "candidates": list(self.fits),
            "fitted_on": self.fitted_on,
            "file": COMPARISON,
            "table": rows,
            "models": {
                key: {**_model_record(model, method, None, ci, self.fitted_on, self.settings.get(key)), "verdict": self.verdict(key)}
                for key, model in self.fits.items()
            },
        }


def criteria_table(fits: dict[str, Any]) -> pd.DataFrame:
    """The fit criteria of ``compare_models``'s table for fits without a holdout to score them on
    (:func:`clvmodels.compare.fit_criteria`)."""
    from .compare import fit_criteria

    return fit_criteria(fits)


def _selection_reason(table: pd.DataFrame, rule: str, selected: str) -> str:
    """Why ``selected`` won by ``rule``, in one clause with the others' numbers."""
    others = [k for k in table.index if k != selected]
    row = table.loc[selected]
    if rule == "holdout":
        def err(key: str) -> str:
            return f"{label(key)} {table.loc[key, 'relative_error']:+.1%}"

        passed = [k for k in table.index if bool(table.loc[k, "holdout_passed"])]
        error = f"{row['predicted_total']:,.0f} expected vs {row['actual_total']:,.0f} actual, {row['relative_error']:+.1%}"
        if passed == [selected]:
            return f"the only model that passes its holdout ({error})"
        if passed:
            return (f"of the {len(passed)} models that pass their holdout, the closest on the holdout total ({error}"
                    + ("; " + ", ".join(err(k) for k in passed if k != selected) if len(passed) > 1 else "") + ")")
        return (f"no model passes its holdout, and it is the closest on the holdout total ({error}"
                + ("; " + ", ".join(err(k) for k in others) if others else "") + "): treat its forecast with caution")
    column, best = ("elpd_loo", "largest") if rule == "loo" else (rule, "lowest")
    name = "elpd_loo" if rule == "loo" else rule.upper()
    text = f"the {best} {name} ({row[column]:,.1f}" + ("; " + ", ".join(f"{label(k)} {table.loc[k, column]:,.1f}" for k in others) if others else "") + ")"
    if "holdout_passed" in table.columns and not bool(row["holdout_passed"]):
        text += ", although it fails its holdout"
    return text


def compare_transaction_models(
    keys: tuple[str, ...],
    data: pd.DataFrame,
    rule: str,
    method: str,
    settings: dict[str, dict[str, Any]],
    *,
    seed: int,
    ci: float,
    on_nonconvergence: str,
    journal: Journal,
    source: str,
    holdout: bool,
    tracking: Callable[[Any], pd.DataFrame] | None = None,
    cli: bool = False,
) -> Selection:
    """Fit each transactions model in ``keys`` to ``data`` and pick one by ``rule``.

    With ``holdout``, ``data`` is the calibration and holdout split: the models are scored by
    :func:`clvmodels.compare_models` (each one's verdict is logged, as a
    :class:`~clvmodels.exceptions.StatisticalWarning` when it fails its holdout). Without,
    ``data`` is the whole summary and the rule is ``"bic"`` or ``"aic"`` (:func:`criteria_table`).
    ``tracking(model)`` gives a model's tracking table (for the comparison plot), computed once
    per model when asked. ``on_nonconvergence`` applies to every model fitted; ``cli``: messages
    in the words of the command line's options.
    """
    from .exceptions import StatisticalWarning

    log = journal.log
    end = data.attrs.get("calibration_end") if holdout else data.attrs.get("observation_end")
    fitted_on = f"{'calibration' if holdout else 'observation'} period to {end}"
    fits: dict[str, Any] = {}
    for key in keys:
        what = f"{label(key)} fitted to {'calibration_end' if holdout else 'observation_end'}"
        with journal.step("compare"):
            fits[key] = fit_model(key, data, method, settings[key], source, cli=cli)
        log.info(fit_text(what, fits[key], method, "customers"))
        check_converged(fits[key], what, on_nonconvergence, log, journal.take_convergence(), cli=cli)
    comparison = None
    if holdout:
        from . import compare_models

        with journal.step("compare"):
            try:
                comparison = compare_models(fits, data, ci=ci, random_seed=seed, warn=False)
            except (ValueError, TypeError) as exc:
                raise InputError(f"{source}: comparing the models: {config_terms(one_line(str(exc)), cli)}") from exc
        table = comparison.table
    else:
        table = criteria_table(fits)
    try:
        selected = comparison.best(rule) if comparison is not None else str(table[rule].dropna().idxmin())
    except ValueError as exc:
        raise InputError(f"{'' if cli else '[model] '}select = {rule!r}: {one_line(str(exc))}") from None
    for key, row in table.iterrows():
        crit = f"log-likelihood {row['loglik']:,.2f}" + (f", AIC {row['aic']:,.1f}, BIC {row['bic']:,.1f}" if np.isfinite(row["aic"]) else "")
        if "elpd_loo" in table.columns and np.isfinite(row.get("elpd_loo", np.nan)):
            crit += f", elpd_loo {row['elpd_loo']:,.1f}"
        if comparison is None:
            log.info(f"compare {label(key)}: {crit}")
            continue
        verdict = comparison.reports[key].verdict
        log.info(f"compare {label(key)}: {crit}; holdout {row['predicted_total']:,.0f} expected vs {row['actual_total']:,.0f} actual "
                 f"({row['relative_error']:+.1%}): {'passes' if verdict['passed'] else 'FAILS'} its holdout")
        if not verdict["passed"]:
            with journal.step("compare"):  # logged and listed in the manifest's warnings
                warnings.warn(verdict["message"], StatisticalWarning, stacklevel=2)
    reason = _selection_reason(table, rule, selected)
    log.info(f"best on the holdout: {label(selected)} ({selected}), {reason}" if cli
             else f"selected {label(selected)} ({selected}) by select = {rule!r}: {reason}")

    cache: dict[str, pd.DataFrame] = {}

    def track(key: str) -> pd.DataFrame:
        if key not in cache:
            cache[key] = tracking(fits[key]) if tracking is not None else pd.DataFrame()
        return cache[key]

    table = table.assign(selected=[k == selected for k in table.index])
    return Selection(fits, table, rule, selected, reason, comparison, fitted_on, track, {k: settings[k] for k in keys})


def _window(summary: pd.DataFrame, horizon: float) -> dict[str, str]:
    """The observation end and the first and last date (or hour) of the forecast window."""
    from .units import unit_days

    end = pd.Timestamp(summary.attrs["observation_end"]).to_pydatetime()
    hourly = summary.attrs.get("resolution") == "h"
    step = dt.timedelta(hours=1) if hourly else dt.timedelta(days=1)
    show = (lambda d: d.isoformat(timespec="minutes")) if hourly else (lambda d: d.date().isoformat())
    window = {"observation_end": show(end), "forecast_start": show(end + step)}
    if math.isfinite(horizon) and summary.attrs.get("time_kind") == "discrete":  # the last day of the last occasion
        from .occasions import occasion_end_dates, occasion_of_days

        end_occasion = occasion_of_days(np.array([(pd.Timestamp(end) - pd.Timestamp(0)).days]), summary.attrs["time_unit"])
        window["forecast_end"] = show(occasion_end_dates(end_occasion + int(horizon), summary.attrs["time_unit"])[0].to_pydatetime())
    elif math.isfinite(horizon):
        last = end + dt.timedelta(days=horizon * unit_days(summary.attrs["time_unit"]))
        window["forecast_end"] = show(last)
    else:
        window["forecast_end"] = "none (infinite horizon)"
    return window


def forecast_log_text(result: Any, horizon: float, discount_rate: float, unit: str, ci: float, cohort: pd.DataFrame | None = None) -> str:
    """The log line of a forecast: cohort CLV, or without a spend model the cohort's purchases."""
    cohort = result.summary() if cohort is None else cohort
    head = f"forecast over {horizon:g} {_UNITS[unit]} at {discount_rate:.1%} a year: "
    if "clv" in cohort.index:
        row, what = cohort.loc["clv"], "cohort CLV"
    else:
        name = "expected_purchases" if math.isfinite(horizon) and "expected_purchases" in cohort.index else "discounted_purchases"
        if name not in cohort.index:
            return head + f"{len(result.frame):,} customers"
        row, what = cohort.loc[name], f"cohort {name.replace('_', ' ')}"
    def number(value: float) -> str:
        return f"{value:,.2f}" if math.isfinite(value) else "infinite" if value > 0 else "undefined"

    return (f"{head}{what} {number(row['estimate'])} ({ci:.0%} interval {number(row['lower'])} to {number(row['upper'])}) "
            f"over {len(result.frame):,} customers")


def _check_outside(tx: Transactions, target: Path) -> None:
    """Refuse an output directory inside the input directory (or holding files of the glob): a
    run's own CSV outputs would be read as transactions by the next run."""
    if tx.single:
        return  # one file: protected from the run's writes, and the next run reads only it
    target = Path(target).resolve()
    inside = tx.path.is_dir() and (target == tx.path.resolve() or tx.path.resolve() in target.parents)
    if inside or any(target in f.path.resolve().parents for f in tx.files):
        raise InputError(
            f"[output] dir {shown(target)} lies inside [input] path {shown(tx.path)}: the run's own outputs would be read as "
            "transactions by the next run; choose an output directory outside it"
        )


def run(
    config: RunConfig,
    *,
    log: logging.Logger,
    dry_run: bool = False,
    progressbar: bool = False,
    command: list[str] | None = None,
    out: Callable[[str], Any] = print,
) -> dict[str, Any] | None:
    """The whole job of ``clvmodels run``: read, summarise, (holdout,) fit, forecast, write.

    Without amounts (``[input] amount_col = ""``, or not set and no "amount" column) no spend
    model is fitted and the forecast is of purchases only. With a list of transactions models
    (``[model] transactions = [...]``) each is fitted and compared first
    (:func:`compare_transaction_models`: ``model_comparison.csv``, the manifest's
    ``comparison``), and the one ``[model] select`` picks forecasts, as in a run naming it alone.
    With ``[input] attributes``, ``[segments]``, ``[costs]`` or ``[model] covariates`` (see the
    module docstring) the run also writes ``segments.csv`` and the ``net_clv`` columns; without
    them its predictions and model files are those of a run before those keys existed (the
    manifest records the keys as absent).

    Parameters
    ----------
    config : RunConfig
        A validated configuration.
    log : Logger
        Where progress and warnings go.
    dry_run : bool
        Check the configuration, the input and the output directory, print what would run
        (through ``out``) and write nothing.
    progressbar : bool
        Let the Bayesian samplers draw progress bars.
    command : list of str, optional
        The command line, for the manifest.
    out : callable
        Where the dry-run plan goes.

    Returns
    -------
    dict or None
        The manifest written (``None`` for a dry run).

    Raises
    ------
    RunError
        With the exit code of its class; nothing in the output directory has changed.
    """
    if config.input.kind == "subscriptions":
        from .pipeline_subscriptions import run_subscriptions

        return run_subscriptions(config, log=log, dry_run=dry_run, progressbar=progressbar, command=command, out=out)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    journal = Journal(log)
    spec, period, fc, mc = config.input, config.summary, config.forecast, config.model
    source = shown(spec.path)
    _check_optional_dependencies(config)
    check_writable(config.output.dir)
    check_forecast_memory(fc.n_draws)

    discrete = discrete_keys(mc.transaction_keys)
    if discrete and spec.engine == "auto":  # the summary in occasions is computed by pandas
        spec = dataclasses.replace(spec, engine="pandas")
    with journal.step("read"):
        tx = read_transactions(spec)
    if discrete and config.input.engine == "auto":
        tx = dataclasses.replace(tx, reason=f"{label(mc.transaction_keys[0])} summarises in occasions with pandas")
    _check_outside(tx, config.output.dir)
    spec = resolve_amount(spec, tx)
    if spec.amount_col is None and config.costs.any:
        raise InputError(f"{source}: [costs] give CLV net of costs, which needs amounts, but the file has no amount column "
                         "(no column 'amount'): set [input] amount_col, or remove [costs]")
    if tx.engine == "pandas":
        log.info(f"read {source} with pandas ({tx.reason}): {len(tx.frame):,} rows, {tx.n_bytes:,} bytes"
                 + (f" ({tx.compression})" if tx.compression else "") + f", sha256 {tx.sha256[:16]}...")
    else:
        log.info(f"reading {source} with DuckDB ({tx.reason}): {len(tx.files):,} {tx.format} file{'s' if len(tx.files) != 1 else ''}, "
                 f"{tx.n_bytes:,} bytes, sha256 {tx.sha256[:16]}..., memory limit {tx.memory_limit or 'default (40% of the machine)'}")
    if spec.amount_col is None:
        log.info("no amounts (" + ("[input] amount_col is empty" if config.input.amount_col == "" or not config.input.amount_auto
                                   else "no column 'amount'; set [input] amount_col to name one") + "): forecasting purchases only, no spend model and no CLV")
    with journal.step("read"):
        attributes = read_attributes(spec)
    check_attribute_columns(config, attributes)
    if attributes is not None:
        log.info(f"read attributes {shown(attributes.file.path)}: {attributes.rows:,} customers, columns {', '.join(attributes.columns)}, "
                 f"sha256 {attributes.file.sha256[:16]}...")
    with journal.step("summarize"):
        summary = summarize(tx, spec, period, discrete=discrete)
        split = summarize(tx, spec, period, calibration=True, discrete=discrete) if period.calibration_end is not None else None
    report = summary.attrs.get("report", {})
    dropped = report.get("dropped") or {}
    late = int(report.get("rows_after_observation_end") or 0)
    log.info(
        f"summary to {summary.attrs['observation_end'][:10]} in {_UNITS[summary.attrs['time_unit']]}: {len(summary):,} customers "
        f"({int((summary['frequency'] > 0).sum()):,} with repeat purchases); {report.get('rows_used', 0):,} rows used, "
        f"{sum(dropped.values()):,} dropped" + (f" ({', '.join(f'{n:,} {r}' for r, n in dropped.items())})" if dropped else "")
    )
    with journal.step("attributes"):
        table = customer_attributes(config, attributes, summary, tx, spec)
    where = shown(attributes.file.path) if attributes is not None else source
    segments = segment_frame(config, table, where)
    costs = {name: cost_argument(config, name, table, where) for name in ("cost_per_purchase", "acquisition_cost")}
    data = with_covariates(config, summary, table)  # the transactions model's data (the summary itself without covariates)
    if split is not None:
        split = with_covariates(config, split, table)
    fit_source = f"{where} ([model] covariates)" if mc.covariates is not None else source
    if dry_run:
        out(plan_text(config, tx, summary, split, spec, attributes))
        return None

    roles = _roles(spec)
    candidates = mc.transaction_keys
    keys: dict[str, str] = {role: getattr(mc, role) for role in roles if role != "transactions"}
    keys["transactions"] = candidates[0]
    by_key = {key: {**mc.settings(key, config.seed, progressbar), **mc.covariate_settings()} for key in candidates}
    settings = {role: mc.settings(role, config.seed, progressbar) for role in roles if role != "transactions"}
    settings["transactions"] = by_key[candidates[0]]
    if mc.penalty and len(roles) == 2 and not any(
            (getattr(mc, f"{r}_settings") or {}).get("penalty") is not None for r in roles) and not mc.model_settings:
        log.info(f"[model] penalty = {mc.penalty:g} applies to both models; set it in [model.transactions] or [model.spend] for one")
    files = {role: _model_file(keys[role], mc.method) for role in roles}
    candidate_files = [_model_file(k, mc.method) for k in candidates]
    inputs = (tx.path, *(f.path for f in tx.files), config.path, *((attributes.file.path,) if attributes is not None else ()))
    with StagedOutput(config.output.dir, protect=inputs) as staged:
        # refuse at once, before any work, to replace a file that no clvmodels run wrote
        staged.check_replaceable(list(dict.fromkeys([PREDICTIONS, MANIFEST, *files.values(), *candidate_files,
                                                     *([HOLDOUT] if split is not None else []),
                                                     *([COMPARISON] if mc.compares else []),
                                                     *([SEGMENTS] if segments is not None else [])])))
        holdout: dict[str, Any] | None = None
        selection: Selection | None = None
        comparison_record: dict[str, Any] | None = None

        def tracking_of(model: Any) -> pd.DataFrame:
            from . import tracking_forecast

            return tracking_forecast(
                model, tx.log_columns([spec.customer_col, spec.date_col]), calibration_end=period.calibration_end, customer_col=spec.customer_col,
                date_col=spec.date_col, time_unit=period.time_unit, observation_end=split.attrs["observation_end"],
                date_format=spec.date_format, ci=fc.ci, random_seed=config.seed, invalid=spec.invalid, duplicates=spec.duplicates,
            )

        if mc.compares:
            selection = compare_transaction_models(
                candidates, split if split is not None else summary, mc.select, mc.method, by_key, seed=config.seed, ci=fc.ci,
                on_nonconvergence=config.on_nonconvergence, journal=journal, source=fit_source, holdout=split is not None,
                tracking=tracking_of if split is not None else None,
            )
            with journal.step("compare"):
                selection.table.to_csv(staged.path(COMPARISON), float_format="%.10g", lineterminator="\n")
            keys["transactions"] = selection.selected
            settings["transactions"] = by_key[selection.selected]
            files["transactions"] = _model_file(selection.selected, mc.method)
        if split is not None:
            from .exceptions import StatisticalWarning

            if selection is not None:
                hold_model = selection.fits[selection.selected]
                hold_report = selection.comparison.reports[selection.selected]  # its failure was warned with the others'
            else:
                with journal.step("holdout"):
                    hold_model = fit_model(keys["transactions"], split, mc.method, settings["transactions"], fit_source)
                check_converged(hold_model, f"{label(keys['transactions'])} fitted to calibration_end", config.on_nonconvergence, log,
                                journal.take_convergence(), cli=False)
                with journal.step("holdout"):
                    from . import evaluate_holdout

                    hold_report = evaluate_holdout(hold_model, split, ci=fc.ci, random_seed=config.seed, warn=False)
                    if not hold_report.passed:  # a verdict, not an error: logged and listed in the manifest's warnings
                        warnings.warn(hold_report.verdict["message"], StatisticalWarning, stacklevel=2)
            with journal.step("holdout"):
                hold_report.by_frequency.to_csv(staged.path(HOLDOUT), float_format="%.10g", lineterminator="\n")
            metrics = hold_report.metrics
            log.info(
                f"holdout to {split.attrs['observation_end'][:10]}: {metrics['actual_total']:,.0f} repeat transactions, "
                f"{metrics['predicted_total']:,.0f} expected by {label(keys['transactions'])} fitted to {split.attrs['calibration_end'][:10]}; "
                f"{fc.ci:.0%} predictive intervals cover {metrics['coverage']:.1%} of customers"
            )
            tracking = (lambda: selection.tracking(selection.selected)) if selection is not None else (lambda: tracking_of(hold_model))
            holdout = {"model": hold_model, "data": split, "report": hold_report, "ci": fc.ci, "tracking": tracking}

        fitted: dict[str, Any] = {}
        for role in roles:
            if role == "transactions" and selection is not None and split is None:
                fitted[role] = selection.fits[selection.selected]  # chosen by its fit to the whole data: already the forecast's fit
                continue
            with journal.step(f"fit_{role}"):
                fitted[role] = fit_model(keys[role], data if role == "transactions" else summary, mc.method, settings[role],
                                         fit_source if role == "transactions" else source)
            log.info(fit_text(label(keys[role]), fitted[role], mc.method, "repeat buyers" if role == "spend" else "customers"))
            check_converged(fitted[role], label(keys[role]), config.on_nonconvergence, log, journal.take_convergence(), cli=False)
        tm, sm = fitted["transactions"], fitted.get("spend")

        draws, draws_note = choose_parameter_draws(list(fitted.values()), fc.parameter_draws, config.on_nonconvergence, log, journal)
        if fc.predictive:
            check_forecast_work(tm, data, fc.horizon, fc.discount_rate, fc.n_draws, summary.attrs["time_unit"])
        forecast_settings = dict(
            horizon=None if math.isinf(fc.horizon) else fc.horizon, discount_rate=fc.discount_rate, ci=fc.ci, n_draws=fc.n_draws,
            predictive=fc.predictive, random_seed=config.seed, discounting=fc.discounting, period=fc.period, draws=draws,
        )
        if sm is not None:
            forecast_settings["margin"] = fc.margin
        if segments is not None:
            forecast_settings["segments"] = segments
        if config.costs.any:
            forecast_settings.update({name: value for name, value in costs.items() if value is not None})
        with journal.step("forecast"):
            result = run_forecast(tm, sm, data, forecast_settings, source)
            cohort = result.summary()
            forecast_text = forecast_log_text(result, fc.horizon, fc.discount_rate, summary.attrs["time_unit"], fc.ci, cohort)
        late_note = journal.take_convergence()
        if late_note:
            log.warning(f"parameter draws: {late_note}")
        if selection is not None:
            result.settings["model_selection"] = f"select = {selection.rule} among {', '.join(selection.fits)}"
        result.settings.update({**_window(summary, fc.horizon), "input_sha256": tx.sha256})
        if attributes is not None:
            result.settings["attributes_sha256"] = attributes.file.sha256
        log.info(forecast_text)

        segment_rows = None
        if segments is not None:
            with journal.step("segments"):
                segment_rows = segment_table(result, config.segments)
            log.info(segments_log_text(segment_rows, config.segments, fc.ci))
        with journal.step("write"):
            result.to_csv(staged.path(PREDICTIONS))
            if segment_rows is not None:
                segment_rows.to_csv(staged.path(SEGMENTS), index=False, float_format="%.10g", lineterminator="\n")
            for role, model in fitted.items():
                model.save(staged.path(files[role]))
            # parameter tables of fits without a finite covariance must not print numpy's warnings
            records = {
                role: _model_record(fitted[role], mc.method, files[role], fc.ci, f"observation period to {summary.attrs['observation_end']}",
                                    settings[role])
                for role in ("transactions", "spend") if role in fitted
            }
            hold_record = None if holdout is None else _model_record(
                holdout["model"], mc.method, None, fc.ci, f"calibration period to {split.attrs.get('calibration_end')}")
            if selection is not None:
                records["transactions"]["selected_by"] = {"rule": selection.rule, "among": list(selection.fits), "reason": selection.reason}
                comparison_record = selection.record(mc.method, fc.ci)
        plots: list[str] = []
        if config.output.plots:
            context = {"seed": config.seed, "transactions": tm, "spend": sm, "data": data, "forecast": result,
                       "horizon": fc.horizon, "holdout": holdout, "comparison": selection}
            with journal.step("plots"):
                plots = draw_plots(context, staged.path, journal)
            log.info(f"drew {len(plots)} plots")

        journal.timings["total"] = round(time.perf_counter() - t0, 4)
        outputs = staged.describe()
        converged = (all(bool(m.converged_) for m in fitted.values()) and (holdout is None or bool(holdout["model"].converged_))
                     and (selection is None or all(bool(m.converged_) for m in selection.fits.values())))
        manifest = {
            **manifest_head(config, command, started),
            "input": {
                "path": str(tx.path),
                "format": tx.format,
                "compression": tx.compression,
                "bytes": tx.n_bytes,
                "sha256": tx.sha256,
                "sha256_of": "the file" if tx.single else "the files' SHA-256s, sorted, one per line",
                "files": [f.record() for f in tx.files],
                "engine": tx.engine,
                "engine_reason": tx.reason,
                "memory_limit": tx.memory_limit if tx.engine == "duckdb" else None,
                "amount_col": spec.amount_col,
                "rows_read": report.get("rows_in", tx.n_rows),
                "rows_used": report.get("rows_used"),
                "rows_dropped": report.get("rows_dropped", sum(dropped.values())),
                "rows_invalid": report.get("rows_invalid"),
                "rows_after_observation_end": late,
                "rows_dropped_by_reason": dropped,
                "faults": report.get("faults"),
                "zero_amount_rows": report.get("zero_amount_rows"),
                "customers": len(summary),
                "customers_with_repeat_purchases": int((summary["frequency"] > 0).sum()),
            },
            "summary": {k: summary.attrs.get(k) for k in ("time_unit", "resolution", "observation_end")},
            "attributes": None if attributes is None else {**attributes.record(), "customers_matched": len(summary),
                                                           "rows_of_other_customers": attributes.rows - len(summary)},
            "segments": None if segments is None else {
                "file": SEGMENTS, "by": ["/".join(g) for g in config.segments.groupings], "cohort": config.segments.cohort,
                "compare": [{"by": "/".join(c), "a": "/".join(a), "b": "/".join(b)} for c, a, b in config.segments.compare or ()],
                "segments": {"/".join(g): int(segment_rows[(segment_rows["kind"] == "segment") & (segment_rows["by"] == "/".join(g))].shape[0])
                             for g in config.segments.groupings},
            },
            "costs": {"margin": fc.margin if sm is not None else None,
                      "cost_per_purchase": (f"column {config.costs.cost_per_purchase!r} of the attributes"
                                            if isinstance(config.costs.cost_per_purchase, str) else config.costs.cost_per_purchase),
                      "acquisition_cost": (f"column {config.costs.acquisition_cost!r} of the attributes"
                                           if isinstance(config.costs.acquisition_cost, str) else config.costs.acquisition_cost),
                      "acquisition_cost_total": result.settings.get("acquisition_cost_total"),
                      "net_clv": "net_clv" in result.frame.columns},
            "covariates": None if mc.covariates is None else {
                "columns": mc.covariate_columns(), **plain(mc.covariate_settings()),
                "coefficients": [k for k in tm.params_.index if ":" in str(k)] if hasattr(tm.params_, "index") else None,
            },
            "models": records,
            "comparison": comparison_record,
            "holdout": None,
            "forecast": {
                "kind": "clv" if sm is not None else "purchases",
                "settings": result.settings,
                "parameter_draws": draws or "model default",
                "parameter_draws_note": draws_note,
                "customers": len(result.frame),
                "columns": [result.frame.index.name, *result.frame.columns],
                "cohort": cohort,
            },
            "on_nonconvergence": config.on_nonconvergence,
            "converged": converged,
            "not_converged": [label(m) for m in fitted.values() if not m.converged_]
            + [f"{label(m)} fitted to {'calibration_end' if split is not None else 'observation_end'}"
               for m in (selection.fits.values() if selection is not None else [holdout["model"]] if holdout is not None else [])
               if not m.converged_ and m not in fitted.values()],
            "boundary": {role: m.boundary_ for role, m in fitted.items() if getattr(m, "boundary_", None)},
            "warnings": journal.warnings,
            "outputs": outputs,
            "plots": plots,
            "versions": package_versions(),
            "timings_seconds": journal.timings,
        }
        if holdout is not None:
            manifest["holdout"] = {
                "calibration_end": split.attrs.get("calibration_end"),
                "observation_end": split.attrs.get("observation_end"),
                "customers": len(split),
                "customers_first_seen_in_holdout": split.attrs.get("report", {}).get("customers_first_seen_in_holdout"),
                "model": keys["transactions"],
                "verdict": holdout["report"].verdict,
                "metrics": holdout["report"].metrics,
                "pit_decile_shares": holdout["report"].pit_deciles.to_list(),
                "by_frequency_file": HOLDOUT,
                "transactions_model": hold_record,
            }
        write_json(staged.path(MANIFEST), manifest)
        staged.commit()
    for name, why in staged.kept.items():
        log.info(f"left {name} in place (listed by the previous manifest, but {why})")
    target = shown(config.output.dir)
    log.info(
        f"wrote {PREDICTIONS} ({len(result.frame):,} customers), " + ", ".join(files.values())
        + (f", {HOLDOUT}" if holdout is not None else "") + (f", {COMPARISON}" if selection is not None else "")
        + (f", {SEGMENTS}" if segment_rows is not None else "")
        + (f", {len(plots)} plots in {PLOTS}/" if plots else "")
        + f" and {MANIFEST} to {target} in {time.perf_counter() - t0:.1f} s"
    )
    return manifest
