"""The TOML configuration of ``clvmodels run``: its keys, their types and defaults, in one place.

A configuration file describes one scheduled job, from a transaction file to a per-customer
forecast::

    seed = 1

    [input]
    path = "transactions.csv"        # relative to this file
    amount_col = "amount"

    [summary]
    time_unit = "W"

    [forecast]
    horizon = 52                     # in time units
    discount_rate = 0.15             # annual

    [output]
    dir = "out"                      # relative to this file

:data:`SCHEMA` lists every key with its type, default and meaning; :func:`load_config` reads a
file, refuses unknown keys (naming the closest valid one) and values of the wrong type, fills in
the defaults and returns a :class:`RunConfig`. Paths in the file are relative to the file's
folder. Nothing here reads the data or computes anything: that is :mod:`clvmodels.pipeline`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA",
    "Key",
    "ConfigError",
    "RunConfig",
    "InputConfig",
    "SummaryConfig",
    "ModelConfig",
    "ForecastConfig",
    "OutputConfig",
    "load_config",
    "parse_config",
    "PARAMETERS",
    "check_value",
    "schema_markdown",
]


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file, key and fix."""


#: Parameters of each model, for ``[model.priors]``.
PARAMETERS: dict[str, tuple[str, ...]] = {"bgnbd": ("r", "alpha", "a", "b"), "gamma-gamma": ("p", "q", "gamma")}

_REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """One configuration key.

    Attributes
    ----------
    section : str
        The TOML table (``""`` for the top level).
    name : str
        The key.
    kind : str
        ``"int"``, ``"float"``, ``"str"``, ``"bool"``, ``"date"``, ``"list[str]"`` or
        ``"table"``.
    default : Any
        The default, or the marker of a required key.
    doc : str
        What the key means (the README's table is made from these).
    choices : tuple, optional
        The values allowed.
    check : callable, optional
        ``check(value)`` returns an error text for a value outside its range, else ``None``.
    """

    section: str
    name: str
    kind: str
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None

    @property
    def required(self) -> bool:
        """True when the key has no default."""
        return self.default is _REQUIRED

    @property
    def qualified(self) -> str:
        """``"[section] name"`` (or ``"name"`` at the top level), as messages show it."""
        return f"[{self.section}] {self.name}" if self.section else self.name

    def default_text(self) -> str:
        """The default as the README's table shows it."""
        if self.required:
            return "required"
        if self.default is None:
            return "none"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, str):
            return f'"{self.default}"'
        return repr(self.default)


def _at_least(low: float, inclusive: bool = True) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        ok = value >= low if inclusive else value > low
        return None if ok else f"must be {'at least' if inclusive else 'greater than'} {low:g}"

    return check


def _between_0_1(value: Any) -> str | None:
    return None if 0 < value < 1 else "must be between 0 and 1 (exclusive), for example 0.9"


def _separator(value: str) -> str | None:
    if value == "whitespace" or len(value) == 1:
        return None
    return 'must be one character ("," ";" "\\t" "|") or "whitespace" (runs of spaces and tabs)'


def _decimal(value: str) -> str | None:
    return None if len(value) == 1 else 'must be one character, "." or ","'


def _encoding(value: str) -> str | None:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        return 'is not an encoding Python knows; use for example "utf-8", "latin-1" or "cp1252"'
    return None


def _time_unit(value: str) -> str | None:
    from .units import normalize_unit

    try:
        normalize_unit(value)
    except ValueError:
        return 'is not a time unit; use "h", "D", "W", "M" (30.4375 days) or "Y" (365.25 days)'
    return None


def _resolution(value: str) -> str | None:
    return None if value in ("D", "h") else 'must be "D" (calendar day) or "h" (clock hour)'


def _horizon(value: float) -> str | None:
    return None if value > 0 else "must be positive (inf for the infinite horizon)"


def _seed(value: int) -> str | None:
    return None if 0 <= value < 2**63 else "must be a whole number >= 0"


#: Every configuration key, its type, default and meaning (the only place defaults are set).
SCHEMA: tuple[Key, ...] = (
    Key("", "seed", "int", 0, "Seed of every random step (parameter draws, simulated futures, Bayesian sampling, PIT); the same input, config and seed give a byte-identical predictions CSV.", check=_seed),
    Key("", "on_nonconvergence", "str", "fail", 'What a model that did not converge does: "fail" (exit code 3, nothing written) or "warn" (log a warning, write the outputs, record it in the manifest).', choices=("fail", "warn")),
    Key("input", "path", "str", _REQUIRED, "Transaction file, CSV or Parquet; relative paths are relative to the config file."),
    Key("input", "format", "str", "auto", 'File format: "csv", "parquet", or "auto" (Parquet for a .parquet or .pq name, CSV otherwise).', choices=("auto", "csv", "parquet")),
    Key("input", "separator", "str", ",", 'CSV field separator: one character, or "whitespace" for runs of spaces and tabs.', check=_separator),
    Key("input", "decimal", "str", ".", "CSV decimal mark of the amounts.", check=_decimal),
    Key("input", "header", "bool", True, "Whether the CSV's first line holds the column names; without it, give them in columns."),
    Key("input", "columns", "list[str]", None, "Column names of a CSV without a header line, in file order."),
    Key("input", "encoding", "str", "utf-8", "Text encoding of the CSV (a UTF-8 byte-order mark is skipped).", check=_encoding),
    Key("input", "customer_col", "str", "customer_id", "Column of customer ids (read as text from CSV, so leading zeros are kept)."),
    Key("input", "date_col", "str", "date", "Column of purchase dates or times (naive local time)."),
    Key("input", "amount_col", "str", "amount", "Column of purchase values (zero is a valid purchase, negative values are invalid rows)."),
    Key("input", "date_format", "str", None, 'strftime format of the dates, for example "%Y-%m-%d" or "%Y%m%d"; "mixed" reads each date on its own; none infers one format from the first date.'),
    Key("input", "invalid", "str", "raise", 'Invalid rows (missing ids or dates, unparseable dates, non-numeric or negative amounts, dates after observation_end): "raise" (exit code 2) or "drop" (count them in the manifest).', choices=("raise", "drop")),
    Key("input", "duplicates", "str", "keep", 'Rows identical in customer, date and amount: "keep" (separate purchases), "drop" or "raise".', choices=("keep", "drop", "raise")),
    Key("summary", "time_unit", "str", _REQUIRED, 'Unit of recency, T and the horizon: "h", "D", "W", "M" (30.4375 days) or "Y" (365.25 days).', check=_time_unit),
    Key("summary", "resolution", "str", None, 'Period in which one customer\'s purchases merge into one transaction: "D" or "h"; none means "h" for hourly units, else "D".', check=_resolution),
    Key("summary", "observation_end", "date", None, "Last day observed (its whole day is included); none means the last purchase date in the file."),
    Key("summary", "calibration_end", "date", None, "End of a calibration period: the transaction model is also fitted up to here and scored on the holdout period after it (holdout_by_frequency.csv, manifest holdout)."),
    Key("model", "transactions", "str", "bgnbd", "Model of purchasing and dropping out.", choices=("bgnbd",)),
    Key("model", "spend", "str", "gamma-gamma", "Model of spend per transaction.", choices=("gamma-gamma",)),
    Key("model", "method", "str", "mle", 'Fitting method: "mle" (maximum likelihood), "nuts" (posterior draws), "advi" or "map".', choices=("mle", "nuts", "advi", "map")),
    Key("model", "penalty", "float", 0.0, "L2 penalty of maximum likelihood (mle only).", check=_at_least(0.0)),
    Key("model", "draws", "int", 1000, "NUTS draws kept per chain (advi: draws of the approximation per chain).", check=_at_least(1)),
    Key("model", "tune", "int", None, "NUTS warm-up iterations per chain; none is the sampler's default (nutpie 300, PyMC 1000).", check=_at_least(0)),
    Key("model", "chains", "int", 4, "NUTS chains (run in parallel).", check=_at_least(1)),
    Key("model", "target_accept", "float", 0.8, "NUTS target acceptance rate; raise it (0.95) after divergences.", check=_between_0_1),
    Key("model", "sampler", "str", "auto", 'NUTS implementation: "auto" (nutpie when installed), "nutpie" or "pymc".', choices=("auto", "nutpie", "pymc")),
    Key("model", "priors", "table", None, 'Bayesian priors replacing the defaults, one per parameter (r, alpha, a, b, p, q, gamma), for example b = { distribution = "Gamma", alpha = 2, beta = 0.5 }.'),
    Key("forecast", "horizon", "float", _REQUIRED, "Length of the forecast in time units; inf for the infinite horizon.", check=_horizon),
    Key("forecast", "discount_rate", "float", _REQUIRED, "Annual discount rate (0.15 for 15%), compounded continuously unless discounting is discrete.", check=_at_least(-1.0, inclusive=False)),
    Key("forecast", "margin", "float", 1.0, "Share of spend that is profit; CLV is margin times discounted spend.", check=_at_least(0.0, inclusive=False)),
    Key("forecast", "ci", "float", 0.9, "Level of every interval: forecast columns, parameter intervals, holdout intervals.", check=_between_0_1),
    Key("forecast", "n_draws", "int", 1000, "Parameter draws of each model behind the intervals.", check=_at_least(1)),
    Key("forecast", "predictive", "bool", True, "Also simulate each customer's future for the predictive bounds (purchases_pred_*, clv_pred_*)."),
    Key("forecast", "discounting", "str", "continuous", '"continuous" (exact) or "discrete" (once per period, as lifetimes does).', choices=("continuous", "discrete")),
    Key("forecast", "period", "float", None, "Period of discrete discounting, in time units.", check=_at_least(0.0, inclusive=False)),
    Key("output", "dir", "str", _REQUIRED, "Output directory, relative to the config file; created if missing."),
    Key("output", "plots", "bool", False, "Also draw the diagnostic plots as PNG files in plots/."),
)

SECTIONS: tuple[str, ...] = ("input", "summary", "model", "forecast", "output")


@dataclass(frozen=True)
class InputConfig:
    """How to read the transaction file (``[input]``; also the options of ``summarize``)."""

    path: Path
    format: str = "auto"
    separator: str = ","
    decimal: str = "."
    header: bool = True
    columns: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    customer_col: str = "customer_id"
    date_col: str = "date"
    amount_col: str | None = "amount"
    date_format: str | None = None
    invalid: str = "raise"
    duplicates: str = "keep"


@dataclass(frozen=True)
class SummaryConfig:
    """Time unit and periods (``[summary]``)."""

    time_unit: str
    resolution: str | None = None
    observation_end: str | None = None
    calibration_end: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """Models and how to fit them (``[model]``)."""

    transactions: str = "bgnbd"
    spend: str = "gamma-gamma"
    method: str = "mle"
    penalty: float = 0.0
    draws: int = 1000
    tune: int | None = None
    chains: int = 4
    target_accept: float = 0.8
    sampler: str = "auto"
    priors: Mapping[str, Mapping[str, Any]] | None = None

    def settings(self, model: str, seed: int, progressbar: bool) -> dict[str, Any]:
        """Keyword arguments of the estimator of ``model`` ("bgnbd" or "gamma-gamma")."""
        from .inference.bayes import Prior

        priors = None
        if self.priors:
            own = {k: v for k, v in self.priors.items() if k in PARAMETERS[model]}
            priors = {k: Prior.from_dict(v) for k, v in own.items()} or None
        return {
            "penalty": self.penalty,
            "priors": priors,
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "target_accept": self.target_accept,
            "sampler": self.sampler,
            "random_seed": seed,
            "progressbar": progressbar,
        }


@dataclass(frozen=True)
class ForecastConfig:
    """Forecast settings (``[forecast]``)."""

    horizon: float
    discount_rate: float
    margin: float = 1.0
    ci: float = 0.9
    n_draws: int = 1000
    predictive: bool = True
    discounting: str = "continuous"
    period: float | None = None


@dataclass(frozen=True)
class OutputConfig:
    """Where the outputs go (``[output]``)."""

    dir: Path
    plots: bool = False


@dataclass(frozen=True)
class RunConfig:
    """A validated configuration: every key set, paths resolved against the config's folder."""

    path: Path
    seed: int
    on_nonconvergence: str
    input: InputConfig
    summary: SummaryConfig
    model: ModelConfig
    forecast: ForecastConfig
    output: OutputConfig

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON values (for the manifest and ``--dry-run``)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            if isinstance(value, float) and math.isinf(value):
                return "inf"
            return value

        return plain(asdict(self))


# -- parsing ------------------------------------------------------------------------------------


def _kind_name(kind: str) -> str:
    return {
        "int": "a whole number",
        "float": "a number",
        "str": "a string",
        "bool": "true or false",
        "date": 'a date (1998-06-30 or "1998-06-30")',
        "list[str]": 'a list of strings (["a", "b"])',
        "table": "a table ({ ... })",
    }[kind]


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return "a date/time"
    return type(value).__name__


def _coerce(key: Key, value: Any) -> tuple[Any, str | None]:
    """The value in the key's type, or an error text."""
    kind = key.kind
    got = f"got {_type_of(value)} ({value!r})"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            hint = f"; write {key.name} = {value}" if isinstance(value, str) and value.strip().isdigit() else ""
            return None, f"must be {_kind_name(kind)}, {got}{hint}"
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = ""
            if isinstance(value, str):
                try:
                    float(value)
                    hint = f"; write {key.name} = {value} without quotes"
                except ValueError:
                    pass
            return None, f"must be {_kind_name(kind)}, {got}{hint}"
        value = float(value)
        if math.isnan(value):
            return None, "must be a number, got nan"
    elif kind == "str":
        if not isinstance(value, str):
            return None, f"must be {_kind_name(kind)}, {got}"
    elif kind == "bool":
        if not isinstance(value, bool):
            return None, f"must be {_kind_name(kind)}, {got}"
    elif kind == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, f"must be {_kind_name(kind)}, {got}"
        if not value:
            return None, "must name at least one column"
        return tuple(value), None
    elif kind == "date":
        return _coerce_date(value, got)
    elif kind == "table":
        if not isinstance(value, dict):
            return None, f"must be {_kind_name(kind)}, {got}"
    if key.choices is not None and value not in key.choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in key.choices], n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return None, f"must be one of {', '.join(repr(c) for c in key.choices)}, got {value!r}{hint}"
    if key.check is not None:
        problem = key.check(value)
        if problem:
            return None, f"{problem}, got {value!r}"
    return value, None


def _coerce_date(value: Any, got: str) -> tuple[Any, str | None]:
    import pandas as pd

    if isinstance(value, dt.time) or not isinstance(value, str | dt.date):
        return None, f"must be {_kind_name('date')}, {got}"
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return None, "must be a local date or time without a time-zone offset (1998-06-30 or 1998-06-30T23:00:00)"
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None, f"is not a date, {got}; write it as 1998-06-30"
    if stamp is pd.NaT:
        return None, f"is not a date, {got}; write it as 1998-06-30"
    if stamp.tz is not None:
        return None, "must be a local date or time without a time-zone offset (1998-06-30)"
    return (value if isinstance(value, str) else value.isoformat()), None


def check_value(section: str, name: str, value: Any) -> tuple[Any, str | None]:
    """Check one value against the schema's key ``[section] name``.

    Returns the value in the key's type and ``None``, or ``None`` and what is wrong (the
    command line's options use the same checks as the configuration file).

    Examples
    --------
    >>> check_value("input", "separator", ";")
    (';', None)
    >>> check_value("forecast", "ci", 1.5)[1]
    'must be between 0 and 1 (exclusive), for example 0.9, got 1.5'
    """
    key = next((k for k in SCHEMA if k.section == section and k.name == name), None)
    if key is None:
        raise KeyError(f"no configuration key [{section}] {name}")
    return _coerce(key, value)


def _closest_text(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(options)})"


def _unknown_key(section: str, name: str) -> str:
    where = f"[{section}]" if section else "the top level"
    here = [k.name for k in SCHEMA if k.section == section]
    elsewhere = [k for k in SCHEMA if k.name == name and k.section != section]
    if elsewhere:
        return f"unknown key {name!r} in {where} (it belongs in {'the top level (before any table)' if not elsewhere[0].section else f'[{elsewhere[0].section}]'})"
    if not section and name not in SECTIONS:
        close = difflib.get_close_matches(name, here + list(SECTIONS), n=1, cutoff=0.6)
        if close and close[0] in SECTIONS:
            return f"unknown table or key {name!r} (did you mean [{close[0]}]?)"
    return f"unknown key {name!r} in {where}" + _closest_text(name, here)


def _check_priors(value: dict[str, Any], problems: list[str]) -> None:
    names = [p for params in PARAMETERS.values() for p in params]
    for param, spec in value.items():
        if param not in names:
            problems.append(f"[model.priors] has no parameter {param!r}" + _closest_text(param, names).replace("valid keys", "parameters"))
        elif not isinstance(spec, dict) or not isinstance(spec.get("distribution"), str):
            problems.append(
                f"[model.priors] {param} must be a table with a distribution name, for example "
                f'{param} = {{ distribution = "LogNormal", mu = 0.0, sigma = 1.0 }}'
            )
        else:
            bad = {k: v for k, v in spec.items() if k != "distribution" and (isinstance(v, bool) or not isinstance(v, int | float))}
            if bad:
                problems.append(f"[model.priors] {param}: the distribution's parameters must be numbers, got {bad}")


def parse_config(raw: Mapping[str, Any], path: str | os.PathLike, *, base: str | os.PathLike | None = None) -> RunConfig:
    """Validate parsed TOML and return the configuration.

    Parameters
    ----------
    raw : mapping
        The parsed TOML document.
    path : path
        The file it came from (for messages and the manifest).
    base : path, optional
        Folder that relative paths are relative to; the file's folder by default.

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        Unknown keys or tables (naming the closest valid one), values of the wrong type or out
        of range, required keys missing, or settings that contradict each other; all problems
        found are listed in one line.

    Examples
    --------
    >>> config = parse_config({"input": {"path": "tx.csv"}, "summary": {"time_unit": "W"},
    ...                        "forecast": {"horizon": 52, "discount_rate": 0.15},
    ...                        "output": {"dir": "out"}}, "/jobs/clv.toml")
    >>> config.input.path.as_posix(), config.forecast.ci, config.seed
    ('/jobs/tx.csv', 0.9, 0)
    >>> parse_config({"forecast": {"horizn": 52}}, "clv.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    clvmodels.config.ConfigError: clv.toml: unknown key 'horizn' in [forecast] (did you mean 'horizon'?); ...
    """
    path = Path(path)
    base = Path(base) if base is not None else path.resolve().parent
    problems: list[str] = []
    values: dict[str, dict[str, Any]] = {"": {}, **{s: {} for s in SECTIONS}}
    for name, value in raw.items():
        if name in SECTIONS:
            if not isinstance(value, dict):
                problems.append(f"{name} must be a table: write [{name}] on its own line and its keys below it")
                continue
            for key, item in value.items():
                values[name][key] = item
        else:
            values[""][name] = value
    schema = {(k.section, k.name): k for k in SCHEMA}
    settled: dict[str, dict[str, Any]] = {s: {} for s in values}
    for section, items in values.items():
        for name, value in items.items():
            key = schema.get((section, name))
            if key is None:
                problems.append(_unknown_key(section, name))
                continue
            coerced, problem = _coerce(key, value)
            if problem:
                problems.append(f"{key.qualified} {problem}")
                continue
            if key.kind == "table":
                _check_priors(coerced, problems)
            settled[section][name] = coerced
    for key in SCHEMA:
        if key.name in values[key.section]:
            continue  # given (and settled, or already reported)
        if key.required:
            where = f"[{key.section}]" if key.section else "the top level"
            problems.append(f"{key.qualified} is required: add {key.name} = ... to {where}")
        else:
            settled[key.section][key.name] = key.default
    if not problems:
        _check_together(settled, problems)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ConfigError(f"{path}: " + "; ".join(problems[:3]) + more)
    inp = dict(settled["input"])
    inp["path"] = (base / inp["path"]).resolve() if not Path(inp["path"]).is_absolute() else Path(inp["path"])
    out = dict(settled["output"])
    out["dir"] = (base / out["dir"]).resolve() if not Path(out["dir"]).is_absolute() else Path(out["dir"])
    top = settled[""]
    return RunConfig(
        path=path,
        seed=top["seed"],
        on_nonconvergence=top["on_nonconvergence"],
        input=InputConfig(**inp),
        summary=SummaryConfig(**settled["summary"]),
        model=ModelConfig(**settled["model"]),
        forecast=ForecastConfig(**settled["forecast"]),
        output=OutputConfig(**out),
    )


def _check_together(s: dict[str, dict[str, Any]], problems: list[str]) -> None:
    """Rules that involve several keys."""
    inp, summ, model, fc = s["input"], s["summary"], s["model"], s["forecast"]
    if not inp["header"] and inp["columns"] is None:
        problems.append("[input] header = false needs [input] columns = [...] naming the file's columns in order")
    if inp["header"] and inp["columns"] is not None:
        problems.append("[input] columns names the columns of a file without a header line: set header = false, or remove columns to use the file's header")
    cols = [inp["customer_col"], inp["date_col"], inp["amount_col"]]
    if len(set(cols)) < len(cols):
        problems.append(f"[input] customer_col, date_col and amount_col must be three different columns, got {cols}")
    if inp["columns"] is not None and len(set(inp["columns"])) < len(inp["columns"]):
        problems.append(f"[input] columns has a name twice: {list(inp['columns'])}")
    if summ["calibration_end"] is not None and summ["observation_end"] is not None:
        import pandas as pd

        if pd.Timestamp(summ["calibration_end"]) >= pd.Timestamp(summ["observation_end"]):
            problems.append(
                f"[summary] calibration_end ({summ['calibration_end']}) must be before observation_end "
                f"({summ['observation_end']}): the holdout period lies between them"
            )
    if model["method"] != "mle" and model["penalty"] != 0.0:
        problems.append(f"[model] penalty applies to method = \"mle\" only; with method = {model['method']!r} set priors instead")
    if fc["discounting"] == "discrete":
        if fc["period"] is None:
            problems.append('[forecast] discounting = "discrete" needs period = ... (in time units)')
        if math.isinf(fc["horizon"]):
            problems.append('[forecast] discounting = "discrete" needs a finite horizon')
    elif fc["period"] is not None:
        problems.append('[forecast] period applies to discounting = "discrete" only; remove it')
    if math.isinf(fc["horizon"]) and fc["discount_rate"] <= 0:
        problems.append("[forecast] horizon = inf needs a positive discount_rate, or the value is infinite")


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a TOML configuration file.

    Parameters
    ----------
    path : path
        The ``.toml`` file. Relative paths inside it are relative to its folder.

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        Missing or unreadable file, invalid TOML (with line and column), or any problem
        :func:`parse_config` finds.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; check the path (see examples/cdnow.toml for one)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory; give the path of a .toml config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: a TOML file must be UTF-8 text, but byte {data[exc.start]:#04x} at offset {exc.start} is not; save it as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}; check quotes around strings and [table] headers") from None
    return parse_config(raw, path)


def schema_markdown() -> str:
    """The README's table of configuration keys, made from :data:`SCHEMA`."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key in SCHEMA:
        choices = f" One of {', '.join(f'`{c}`' for c in key.choices)}." if key.choices and len(key.choices) > 1 else ""
        doc = key.doc.replace("|", "\\|") + choices
        lines.append(f"| `{key.qualified}` | {key.kind} | {key.default_text()} | {doc} |")
    return "\n".join(lines)
