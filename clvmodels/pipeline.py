"""The steps behind the command line: read, summarise, fit, forecast, write, each with its errors.

Nothing here computes a statistic: every number comes from the library
(:func:`clvmodels.rfm_summary`, the estimators' ``fit``, :func:`clvmodels.forecast`,
:func:`clvmodels.evaluate_holdout`, :mod:`clvmodels.plotting`). This module reads files, calls
those functions, turns their errors into :class:`RunError` with an exit code and a message that
names the file, and writes the outputs safely.

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
* files that the previous manifest listed and this run did not write (plots switched off, no
  more holdout) are removed after the new manifest is in place; nothing else is touched;
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
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import InputConfig, RunConfig, SummaryConfig
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
    "summarize",
    "write_summary",
    "read_summary",
    "fit_model",
    "load_model_file",
    "run_forecast",
    "check_writable",
    "run",
    "MANIFEST_VERSION",
]

#: Exit codes of the command line.
EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_NOT_CONVERGED = 0, 1, 2, 3
#: Version of the layout of manifest.json.
MANIFEST_VERSION = 1

PREDICTIONS = "predictions.csv"
MANIFEST = "manifest.json"
HOLDOUT = "holdout_by_frequency.csv"
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
                    text = one_line(f"{item.category.__name__}: {item.message}")
                    if issubclass(item.category, ClvWarning):
                        if text not in self.warnings:
                            self.warnings.append(text)
                            if issubclass(item.category, ConvergenceWarning):
                                self.convergence.append(one_line(str(item.message)))
                            else:
                                self.log.warning(text)
                    else:
                        self.log.debug(text)


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transactions:
    """A transaction file as read: the table and what identifies the file."""

    frame: pd.DataFrame
    path: Path
    sha256: str
    n_bytes: int
    format: str


def _file_format(spec: InputConfig) -> str:
    if spec.format != "auto":
        return spec.format
    return "parquet" if spec.path.suffix.lower() in (".parquet", ".pq") else "csv"


def _read_bytes(path: Path, what: str, fix: str) -> bytes:
    try:
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
    """Read a transaction file (CSV or Parquet) exactly as the settings describe it.

    The file is read once into memory, hashed and parsed from those bytes, so the SHA-256 in
    the manifest is the hash of exactly the data used. From CSV the customer ids and the dates
    are read as text (ids keep leading zeros; dates are parsed by the data layer with
    ``date_format``); the amounts are parsed as numbers where they all are.

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
        A missing, unreadable, empty or malformed file, an undecodable byte (with its line), or
        a header without rows.
    """
    path = spec.path
    name = shown(path)
    data = _read_bytes(path, "transaction file", "check [input] path (relative to the config file) or the TRANSACTIONS argument")
    digest = hashlib.sha256(data).hexdigest()
    fmt = _file_format(spec)
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
    return Transactions(frame, path, digest, len(data), fmt)


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(f"{name}: reading Parquet needs pyarrow; install it (pip install pyarrow) or export CSV") from None
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError on damage
        raise InputError(f"{name}: not a readable Parquet file ({type(exc).__name__}: {one_line(str(exc))}); set [input] format = \"csv\" if it is text") from None


def _read_csv(text: str, spec: InputConfig, name: str) -> pd.DataFrame:
    sep = r"\s+" if spec.separator == "whitespace" else spec.separator
    as_text = {spec.customer_col: "str", spec.date_col: "str"}
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=0 if spec.header else None,
            names=list(spec.columns) if spec.columns is not None else None,
            dtype=as_text,
            decimal=spec.decimal,
            skipinitialspace=True,
            low_memory=False,
        )
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


def summarize(tx: Transactions, spec: InputConfig, period: SummaryConfig, *, calibration: bool = False) -> pd.DataFrame:
    """The per-customer summary of the transactions (:func:`clvmodels.rfm_summary`).

    With ``calibration``, the calibration and holdout summary
    (:func:`clvmodels.calibration_holdout_split` at ``period.calibration_end``). The data
    layer's errors (they name the column, count the rows and give the fix) become an
    :class:`InputError` naming the file.
    """
    from . import calibration_holdout_split, rfm_summary

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
    try:
        if calibration:
            return calibration_holdout_split(tx.frame, calibration_end=period.calibration_end, **kwargs)
        return rfm_summary(tx.frame, **kwargs)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{shown(tx.path)}: {one_line(str(exc))}") from exc


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
    attrs.pop("clvmodels", None)
    frame.attrs = attrs
    return frame


# -- models ---------------------------------------------------------------------------------------

LABELS = {"bgnbd": "BG/NBD", "gamma-gamma": "Gamma-Gamma"}
_UNITS = {"h": "hours", "D": "days", "W": "weeks", "M": "months", "Y": "years"}


def _estimator(model: str, settings: dict[str, Any]) -> Any:
    from . import BetaGeo, GammaGamma

    return {"bgnbd": BetaGeo, "gamma-gamma": GammaGamma}[model](**settings)


def convergence_problems(model: Any) -> list[str]:
    """The fit's own account of why it did not converge (empty when it did)."""
    if getattr(model, "converged_", True):
        return []
    details = getattr(model, "sampler_", None) or getattr(model, "optimizer_", None) or {}
    problems = list(details.get("problems") or [])
    if not problems and details.get("message"):
        problems.append(str(details["message"]))
    return problems or ["the fit's convergence criteria were not met"]


def fit_model(model: str, data: pd.DataFrame, method: str, settings: dict[str, Any], source: str) -> Any:
    """Fit model ``"bgnbd"`` or ``"gamma-gamma"`` by ``method``; data errors become :class:`InputError`."""
    estimator = _estimator(model, settings)
    try:
        return estimator.fit(data, method=method)
    except ImportError as exc:
        raise InputError(f"method {method!r} needs the Bayesian extras ({exc}); install them, or use method \"mle\"") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: {LABELS[model]}: {one_line(str(exc))}") from exc


def check_converged(model: Any, label: str, policy: str, log: logging.Logger, detail: str | None = None) -> None:
    """Apply ``on_nonconvergence``: raise :class:`NotConvergedError` (``"fail"``) or log (``"warn"``).

    ``detail`` is the fit's own convergence warning (with its advice); without it the
    problems recorded by the fit are reported.
    """
    problems = convergence_problems(model)
    if not problems:
        return
    text = f"{label} did not converge: {detail or one_line('; '.join(problems))}"
    text = text if text.endswith(".") else text + "."
    if policy == "fail":
        raise NotConvergedError(
            f"{text} Nothing was written. Fix the data or the settings, or set on_nonconvergence = \"warn\" "
            "(--on-nonconvergence warn) to write the outputs anyway, marked as not converged."
        )
    log.warning(f"{text} Writing the outputs anyway (on_nonconvergence = \"warn\").")


def load_model_file(path: str | os.PathLike, model: str) -> Any:
    """Load a model file and check that it holds ``model`` ("bgnbd" or "gamma-gamma")."""
    from . import BetaGeo, GammaGamma

    path = Path(path)
    cls = {"bgnbd": BetaGeo, "gamma-gamma": GammaGamma}[model]
    try:
        return cls.load(path)
    except FileNotFoundError:
        raise InputError(f"{shown(path)}: no such model file; make one with clvmodels fit --model {model}") from None
    except (ValueError, OSError) as exc:
        raise InputError(one_line(str(exc))) from None


def run_forecast(transactions_model: Any, spend_model: Any, data: pd.DataFrame, settings: dict[str, Any], source: str) -> Any:
    """:func:`clvmodels.forecast`; its errors become :class:`InputError`, or
    :class:`NotConvergedError` when a model that did not converge is the cause."""
    from . import forecast

    try:
        return forecast(transactions_model, spend_model, data, **settings)
    except (ValueError, TypeError) as exc:
        unconverged = [m for m in (transactions_model, spend_model) if not getattr(m, "converged_", True)]
        if unconverged:
            names = ", ".join(type(m).__name__ for m in unconverged)
            raise NotConvergedError(f"cannot forecast: {names} did not converge ({one_line(str(exc))})") from exc
        raise InputError(f"{source}: forecast: {one_line(str(exc))}") from exc


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


def check_file_writable(path: str | os.PathLike) -> Path:
    """Check, without creating anything, that the file ``path`` can be written (its folder can)."""
    path = Path(path).absolute()
    if path.is_dir():
        raise InputError(f"-o {shown(path)} is a directory; give a file name")
    check_writable(path.parent, what=f"-o {shown(path)}: folder", fix="choose another -o path", beside=False)
    return path


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
    """

    def __init__(self, target: Path) -> None:
        self.target = Path(target).absolute()
        self.staging: Path | None = None
        self._lock_fd: int | None = None
        self.files: list[str] = []

    def __enter__(self) -> StagedOutput:
        try:
            self.target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"output directory {shown(self.target)} cannot be created ({exc.strerror}); choose another [output] dir") from None
        self._lock()
        prefix = f".{self.target.name}{_STAGING}"
        for stale in self.target.parent.iterdir():
            # a killed run's leftovers: safe to remove, since its run no longer holds the lock
            if stale.name.startswith(prefix) and stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=prefix, dir=self.target.parent))
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

    def commit(self) -> None:
        """Move the staged files into the output directory, the manifest last; then remove the
        files that the previous manifest listed and this run did not write."""
        assert self.staging is not None
        previous = self._previous_outputs()
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
            for name in sorted(previous - set(self.files)):
                stale = (self.target / name).resolve()
                if stale.is_relative_to(self.target.resolve()) and stale.is_file():
                    stale.unlink()
            plots = self.target / PLOTS
            if plots.is_dir() and not any(plots.iterdir()):
                plots.rmdir()

    def _previous_outputs(self) -> set[str]:
        try:
            manifest = json.loads((self.target / MANIFEST).read_text(encoding="utf-8"))
            return {str(name) for name in manifest.get("outputs", {})}
        except (OSError, ValueError, AttributeError):
            return set()


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
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # a batch job: never open a window
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt

    from . import plotting as cp

    seed = context["seed"]
    bg, gg, data, result = context["bgnbd"], context["gamma_gamma"], context["data"], context["forecast"]
    horizon = context["horizon"]
    plots: dict[str, Callable[[], Any]] = {
        "calibration_fit": lambda: cp.plot_calibration_fit(bg, data),
        "prob_alive_heatmap": lambda: cp.plot_prob_alive_heatmap(bg, data),
        "heterogeneity": lambda: cp.plot_heterogeneity(bg, random_seed=seed),
        "spend_distribution": lambda: cp.plot_spend_distribution(gg, data, random_seed=seed),
        "frequency_spend": lambda: cp.plot_frequency_spend(data),
        "clv_distribution": lambda: cp.plot_clv_distribution(result),
        "top_customers": lambda: cp.plot_top_customers(result, n=20),
    }
    if math.isfinite(horizon):
        plots["expected_purchases_heatmap"] = lambda: cp.plot_expected_purchases_heatmap(bg, data, t=horizon)
    if context.get("holdout") is not None:
        hold = context["holdout"]
        plots["holdout_by_frequency"] = lambda: cp.plot_holdout_by_frequency(hold["model"], hold["data"], report=hold["report"], ci=hold["ci"], random_seed=seed)
        plots["interval_calibration"] = lambda: cp.plot_interval_calibration(hold["model"], hold["data"])
        plots["tracking"] = lambda: cp.plot_tracking(hold["tracking"]())
    for key, model in (("bgnbd", bg), ("gamma_gamma", gg)):
        if getattr(model, "idata_", None) is not None and "posterior" in model.idata_.groups():
            chains = model.idata_.posterior.sizes.get("chain", 1)
            plots[f"trace_{key}"] = lambda m=model: cp.plot_trace(m)
            if chains > 1:
                plots[f"rank_{key}"] = lambda m=model: cp.plot_rank(m)
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


# -- the whole run ----------------------------------------------------------------------------------


def _model_file(model: str, method: str) -> str:
    return f"{model}.nc" if method in ("nuts", "advi") else f"{model}.json"


def _model_record(model: Any, name: str, method: str, file: str | None, ci: float, fitted_on: str) -> dict[str, Any]:
    record = {
        "model": type(model).__name__,
        "name": name,
        "method": method,
        "file": file,
        "fitted_on": fitted_on,
        "customers": model.n_customers_,
        "patterns": model.n_patterns_,
        "loglik": model.loglik_,
        "converged": bool(model.converged_),
        "problems": convergence_problems(model),
        "ci": ci,
        "parameters": model.summary(ci=ci),
        "diagnostics": getattr(model, "sampler_", None) or getattr(model, "optimizer_", None),
    }
    if hasattr(model, "frequency_spend_corr_"):
        record["frequency_spend_corr"] = model.frequency_spend_corr_
    return record


def _params_text(model: Any) -> str:
    return ", ".join(f"{k} = {v:.4g}" for k, v in model.params_.items())


def fit_text(label: str, model: Any, method: str, what: str) -> str:
    state = "converged" if model.converged_ else "NOT converged"
    return f"{label} ({method}) on {model.n_customers_:,} {what}: {_params_text(model)}; log-likelihood {model.loglik_:,.2f}; {state}"


def plan_text(config: RunConfig, tx: Transactions, summary: pd.DataFrame, split: pd.DataFrame | None) -> str:
    """What ``run`` would do, in a few lines (``--dry-run``)."""
    fc, model = config.forecast, config.model
    report = summary.attrs.get("report", {})
    dropped = report.get("dropped") or {}
    lines = [
        f"config     {shown(config.path)}: valid",
        f"input      {shown(tx.path)} ({tx.format}, {tx.n_bytes:,} bytes, sha256 {tx.sha256}): {len(tx.frame):,} rows, "
        f"{report.get('rows_used', 0):,} used" + (f", {sum(dropped.values()):,} would be dropped ({', '.join(f'{n:,} {r}' for r, n in dropped.items())})" if dropped else ""),
        f"summary    {len(summary):,} customers ({int((summary['frequency'] > 0).sum()):,} with repeat purchases), "
        f"time unit {summary.attrs.get('time_unit')}, observation end {summary.attrs.get('observation_end')}",
    ]
    if split is not None:
        lines.append(
            f"holdout    {LABELS[model.transactions]} fitted on {len(split):,} customers to {split.attrs.get('calibration_end')}, "
            f"scored on the holdout to {split.attrs.get('observation_end')}"
        )
    lines += [
        f"fit        {LABELS[model.spend]} and {LABELS[model.transactions]} by {model.method}"
        + (f" ({model.chains} chains x {model.draws} draws)" if model.method in ("nuts", "advi") else ""),
        f"forecast   horizon {fc.horizon:g} {_UNITS[summary.attrs['time_unit']]}, discount rate {fc.discount_rate:g} a year, margin "
        f"{fc.margin:g}, ci {fc.ci:g}, {fc.n_draws:,} draws, seed {config.seed}",
        f"outputs    {shown(config.output.dir)}: {PREDICTIONS}, {_model_file(model.transactions, model.method)}, "
        f"{_model_file(model.spend, model.method)}" + (f", {HOLDOUT}" if split is not None else "")
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
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    journal = Journal(log)
    spec, period, fc, mc = config.input, config.summary, config.forecast, config.model
    source = shown(spec.path)
    _check_optional_dependencies(config)
    check_writable(config.output.dir)

    with journal.step("read"):
        tx = read_transactions(spec)
    log.info(f"read {source}: {len(tx.frame):,} rows, {tx.n_bytes:,} bytes, sha256 {tx.sha256[:16]}...")
    with journal.step("summarize"):
        summary = summarize(tx, spec, period)
        split = summarize(tx, spec, period, calibration=True) if period.calibration_end is not None else None
    report = summary.attrs.get("report", {})
    dropped = report.get("dropped") or {}
    log.info(
        f"summary to {summary.attrs['observation_end'][:10]} in {_UNITS[summary.attrs['time_unit']]}: {len(summary):,} customers "
        f"({int((summary['frequency'] > 0).sum()):,} with repeat purchases); {report.get('rows_used', 0):,} rows used, "
        f"{sum(dropped.values()):,} dropped" + (f" ({', '.join(f'{n:,} {r}' for r, n in dropped.items())})" if dropped else "")
    )
    if dry_run:
        out(plan_text(config, tx, summary, split))
        return None

    settings = {m: mc.settings(m, config.seed, progressbar) for m in (mc.transactions, mc.spend)}
    with StagedOutput(config.output.dir) as staged:
        holdout: dict[str, Any] | None = None
        if split is not None:
            with journal.step("holdout"):
                hold_model = fit_model(mc.transactions, split, mc.method, settings[mc.transactions], source)
            check_converged(hold_model, f"{LABELS[mc.transactions]} fitted to calibration_end", config.on_nonconvergence, log,
                            journal.take_convergence())
            with journal.step("holdout"):
                from . import evaluate_holdout

                hold_report = evaluate_holdout(hold_model, split, ci=fc.ci, random_seed=config.seed)
                hold_report.by_frequency.to_csv(staged.path(HOLDOUT), float_format="%.10g", lineterminator="\n")
            metrics = hold_report.metrics
            log.info(
                f"holdout to {split.attrs['observation_end'][:10]}: {metrics['actual_total']:,.0f} repeat transactions, "
                f"{metrics['predicted_total']:,.0f} expected by {LABELS[mc.transactions]} fitted to {split.attrs['calibration_end'][:10]}; "
                f"{fc.ci:.0%} predictive intervals cover {metrics['coverage']:.1%} of customers"
            )

            def tracking() -> pd.DataFrame:
                from . import tracking_forecast

                return tracking_forecast(
                    hold_model, tx.frame, calibration_end=period.calibration_end, customer_col=spec.customer_col,
                    date_col=spec.date_col, time_unit=period.time_unit, observation_end=split.attrs["observation_end"],
                    date_format=spec.date_format, ci=fc.ci, random_seed=config.seed, invalid=spec.invalid, duplicates=spec.duplicates,
                )

            holdout = {"model": hold_model, "data": split, "report": hold_report, "ci": fc.ci, "tracking": tracking}

        fitted: dict[str, Any] = {}
        # spend first: with a single customer or one purchase each it says so plainly, where the
        # transaction model would only report a flat likelihood
        for role, name, what in (("spend", mc.spend, "repeat buyers"), ("transactions", mc.transactions, "customers")):
            with journal.step(f"fit_{role}"):
                fitted[name] = fit_model(name, summary, mc.method, settings[name], source)
            log.info(fit_text(LABELS[name], fitted[name], mc.method, what))
            check_converged(fitted[name], LABELS[name], config.on_nonconvergence, log, journal.take_convergence())
        bg, gg = fitted[mc.transactions], fitted[mc.spend]

        forecast_settings = dict(
            horizon=None if math.isinf(fc.horizon) else fc.horizon, discount_rate=fc.discount_rate, margin=fc.margin,
            ci=fc.ci, n_draws=fc.n_draws, predictive=fc.predictive, random_seed=config.seed, discounting=fc.discounting,
            period=fc.period,
        )
        with journal.step("forecast"):
            result = run_forecast(bg, gg, summary, forecast_settings, source)
        cohort = result.summary()
        clv = cohort.loc["clv"]
        log.info(
            f"forecast over {fc.horizon:g} {_UNITS[summary.attrs['time_unit']]} at {fc.discount_rate:.1%} a year: cohort CLV "
            f"{clv['estimate']:,.2f} ({fc.ci:.0%} interval {clv['lower']:,.2f} to {clv['upper']:,.2f}) over {len(result.frame):,} customers"
        )

        with journal.step("write"):
            result.to_csv(staged.path(PREDICTIONS))
            files = {}
            for name, model in fitted.items():
                files[name] = _model_file(name, mc.method)
                model.save(staged.path(files[name]))
        plots: list[str] = []
        if config.output.plots:
            context = {"seed": config.seed, "bgnbd": bg, "gamma_gamma": gg, "data": summary, "forecast": result,
                       "horizon": fc.horizon, "holdout": holdout}
            with journal.step("plots"):
                plots = draw_plots(context, staged.path, journal)
            log.info(f"drew {len(plots)} plots")

        journal.timings["total"] = round(time.perf_counter() - t0, 4)
        outputs = staged.describe()
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "status": "ok",
            "command": command,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": {"path": str(config.path.resolve()), "sha256": _sha256(config.path), "settings": config.to_dict()},
            "seed": config.seed,
            "input": {
                "path": str(tx.path),
                "format": tx.format,
                "bytes": tx.n_bytes,
                "sha256": tx.sha256,
                "rows_read": len(tx.frame),
                "rows_used": report.get("rows_used"),
                "rows_dropped": sum(dropped.values()),
                "rows_dropped_by_reason": dropped,
                "zero_amount_rows": report.get("zero_amount_rows"),
                "customers": len(summary),
                "customers_with_repeat_purchases": int((summary["frequency"] > 0).sum()),
            },
            "summary": {k: summary.attrs.get(k) for k in ("time_unit", "resolution", "observation_end")},
            "models": {
                role: _model_record(fitted[name], name, mc.method, files[name], fc.ci, f"observation period to {summary.attrs['observation_end']}")
                for role, name in (("transactions", mc.transactions), ("spend", mc.spend))
            },
            "holdout": None,
            "forecast": {
                "settings": result.settings,
                "customers": len(result.frame),
                "columns": [result.frame.index.name, *result.frame.columns],
                "cohort": cohort,
            },
            "on_nonconvergence": config.on_nonconvergence,
            "converged": all(bool(m.converged_) for m in fitted.values()) and (holdout is None or bool(holdout["model"].converged_)),
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
                "metrics": holdout["report"].metrics,
                "pit_decile_shares": holdout["report"].pit_deciles.to_list(),
                "by_frequency_file": HOLDOUT,
                "transactions_model": _model_record(holdout["model"], mc.transactions, mc.method, None, fc.ci, f"calibration period to {split.attrs.get('calibration_end')}"),
            }
        write_json(staged.path(MANIFEST), manifest)
        staged.commit()
    target = shown(config.output.dir)
    log.info(
        f"wrote {PREDICTIONS} ({len(result.frame):,} customers), " + ", ".join(files.values())
        + (f", {HOLDOUT}" if holdout is not None else "") + (f", {len(plots)} plots in {PLOTS}/" if plots else "")
        + f" and {MANIFEST} to {target} in {time.perf_counter() - t0:.1f} s"
    )
    return manifest
