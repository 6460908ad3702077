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

A per-customer attribute table (``[input] attributes``) with the tables ``[segments]`` and
``[costs]`` and ``[model] covariates`` adds a segment report, CLV net of costs and covariates of
the transactions model (``examples/apparel_segments.toml``); without them a run is as before.

:data:`SCHEMA` lists every key with its type, default and meaning; :func:`load_config` reads a
file, refuses unknown keys (naming the closest valid one) and values of the wrong type, fills in
the defaults and returns a :class:`RunConfig`. Paths in the file are relative to the file's
folder. Nothing here reads the data or computes anything: that is :mod:`clvmodels.pipeline`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import os
import re
import stat
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
    "SegmentsConfig",
    "CostsConfig",
    "OutputConfig",
    "load_config",
    "parse_config",
    "PARAMETERS",
    "check_value",
    "forecast_problems",
    "schema_markdown",
    "pandas_csv_options",
]


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file, key and fix."""


class _Parameters(Mapping[str, tuple[str, ...]]):
    """Parameters of each registered model by key (asked of :mod:`clvmodels.models.registry`)."""

    def __getitem__(self, key: str) -> tuple[str, ...]:
        from .models.registry import model_class

        try:
            return tuple(model_class(key).param_names)
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Any:
        from .models.registry import registered

        return iter(registered())

    def __len__(self) -> int:
        from .models.registry import registered

        return len(registered())


#: Parameters of each registered model, by key (for the priors of ``[model.*]``).
PARAMETERS: Mapping[str, tuple[str, ...]] = _Parameters()

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
        ``"int"``, ``"float"``, ``"str"``, ``"bool"``, ``"date"``, ``"list[str]"``,
        ``"str or list[str]"`` (one value, or a list of them: each is checked and converted) or
        ``"table"``.
    default : Any
        The default, or the marker of a required key.
    doc : str
        What the key means (the README's table is made from these).
    choices : tuple, optional
        The values allowed.
    check : callable, optional
        ``check(value)`` returns an error text for a value outside its range, else ``None``.
    convert : callable, optional
        ``convert(value)`` gives the value stored (after the checks), e.g. a model's key for
        its display name.
    per_model : bool
        A ``[model]`` key that ``[model.transactions]`` and ``[model.spend]`` may set for one
        model.
    """

    section: str
    name: str
    kind: str
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None
    convert: Callable[[Any], Any] | None = None
    per_model: bool = False

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


_MEMORY = re.compile(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*", re.IGNORECASE)


def _memory_limit(value: str) -> str | None:
    if _MEMORY.fullmatch(value) and float(re.match(r"\s*([\d.]+)", value).group(1)) > 0:
        return None
    return 'must be a positive amount of memory with its unit, for example "2GB" or "500MB"'


#: The ``[input]`` keys of the pandas CSV reader that DuckDB's reader does not take, with their defaults.
PANDAS_CSV_OPTIONS: tuple[tuple[str, Any], ...] = (("separator", ","), ("decimal", "."), ("encoding", "utf-8"), ("header", True), ("columns", None))


def is_utf8(encoding: str) -> bool:
    """Whether ``encoding`` names UTF-8 (DuckDB reads UTF-8 only)."""
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def pandas_csv_options(spec: Mapping[str, Any]) -> list[str]:
    """The ``[input]`` CSV settings of ``spec`` that only the pandas reader honours, as
    ``key = value`` texts (empty for a comma-separated UTF-8 CSV with a header line).

    Examples
    --------
    >>> pandas_csv_options({"separator": ";", "decimal": ".", "encoding": "UTF-8", "header": True, "columns": None})
    ["separator = ';'"]
    """
    out = []
    for name, default in PANDAS_CSV_OPTIONS:
        value = spec[name]
        same = is_utf8(value) if name == "encoding" else value == default
        if not same:
            text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(list(value)) if isinstance(value, tuple | list) else repr(value)
            out.append(f"{name} = {text}")
    return out


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
    return None if 0 <= value < 2**63 else "must be a whole number from 0 to 2**63 - 1"


def _not_empty(value: str) -> str | None:
    return None if value.strip() else 'must not be empty (write "." for the config file\'s own folder)'


def _n_draws(value: int) -> str | None:
    if value < 1:
        return "must be at least 1"
    if value > MAX_DRAWS:
        return (
            f"must be at most {MAX_DRAWS:,}: every draw is a forecast of every customer, and more draws "
            "no longer make the intervals noticeably more precise"
        )
    return None


def _discount_rate(value: float) -> str | None:
    if not value > -1:
        return "must be an annual rate above -1 (0.15 for 15%)"
    if value > MAX_DISCOUNT_RATE:
        return f"must be at most {MAX_DISCOUNT_RATE:g} ({MAX_DISCOUNT_RATE:.0%} a year); write 0.15 for 15%"
    return None


def _model_key(kind: str) -> Callable[[Any], str | None]:
    def check(value: str) -> str | None:
        from .models.registry import model_class, registered

        try:
            model_class(value, kind)
        except ValueError:
            listed = ", ".join(f"{k!r} ({c.display_name})" for k, c in registered(kind).items())
            close = difflib.get_close_matches(str(value).lower(), list(registered(kind)), n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"must be a registered {kind} model, got {value!r}{hint}; {kind} models: {listed}"
        return None

    return check


def _to_model_key(value: str) -> str:
    from .models.registry import model_key

    return model_key(value)



def _label(value: Any) -> str | None:
    """A segment value of ``[segments] compare`` as text (as segments.csv writes it), or ``None``."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _covariates(value: Any) -> str | None:
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("purchase", "dropout")]
        if unknown or not value:
            return f'as a table names the covariates of each process: purchase = [...] and/or dropout = [...], got {value!r}'
        for process, columns in value.items():
            if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
                return f"{process} must be a list of column names, got {columns!r}"
    return None


def _categorical(value: Any) -> str | None:
    if isinstance(value, dict):
        bad = {k: v for k, v in value.items() if _label(v) is None}
        if bad or not value:
            return f'as a table names each categorical covariate\'s reference level, for example {{ Channel = "0" }}, got {value!r}'
    return None


def _segment_by(value: tuple) -> str | None:
    flat = [c for item in value for c in (item if isinstance(item, tuple) else (item,))]
    if not all(flat):
        return "must name columns (no empty names)"
    for item in value:
        if isinstance(item, tuple) and len(set(item)) < len(item):
            return f"names a column twice in {list(item)}"
    return None


def _cost(value: Any) -> str | None:
    if isinstance(value, float) and not value >= 0:
        return "must be at least 0 (an amount of money) or the name of an attribute column"
    if isinstance(value, str) and not value.strip():
        return "must be a number or the name of an attribute column, not empty"
    return None


#: Limits that keep a run within what the machine can do (checked before any work).
MAX_HORIZON_YEARS = 1000.0
MIN_RATE_INFINITE_HORIZON = 0.001
MAX_DISCOUNT_RATE = 100.0
MAX_PERIODS = 1000
MAX_DRAWS = 100_000
MAX_BOOTSTRAP_DRAWS = 10_000

#: Every configuration key, its type, default and meaning (the only place defaults are set).
SCHEMA: tuple[Key, ...] = (
    Key("", "seed", "int", 0, "Seed of every random step (parameter draws, simulated futures, Bayesian sampling, PIT); the same input, config and seed give a byte-identical predictions CSV.", check=_seed),
    Key("", "on_nonconvergence", "str", "fail", 'What a model that did not converge does: "fail" (exit code 3, nothing written) or "warn" (log a warning, write the outputs, record it in the manifest; a maximum-likelihood fit without a finite covariance then takes bootstrap parameter draws).', choices=("fail", "warn")),
    Key("input", "path", "str", _REQUIRED, "Transaction file, CSV or Parquet (a .gz, .bz2, .xz or single-file .zip CSV is decompressed); or a directory or glob (\"exports/*.parquet\") of Parquet or CSV files, read by DuckDB; relative paths are relative to the config file. The manifest lists every file read with its SHA-256 and size; the input's sha256 (manifest and predictions header) is the file's own, or for a directory or glob the SHA-256 of its files' hashes sorted, one per line (LC_ALL=C sha256sum FILES | cut -d' ' -f1 | sort | sha256sum).", check=_not_empty),
    Key("input", "format", "str", "auto", 'File format: "csv", "parquet", or "auto" (Parquet for a .parquet or .pq name, CSV otherwise).', choices=("auto", "csv", "parquet")),
    Key("input", "engine", "str", "auto", 'What reads and summarises the transactions: "pandas" (one file, in memory), "duckdb" (out of core, within memory_limit, spilling to disk) or "auto": DuckDB for Parquet, a directory, a glob or a comma-separated UTF-8 CSV with a header line; pandas for a CSV that needs separator, decimal, encoding, header or columns, or is compressed. The log and the manifest say which ran and why; the results are identical.', choices=("auto", "pandas", "duckdb")),
    Key("input", "memory_limit", "str", None, 'Memory DuckDB may use, for example "2GB" (beyond it, it spills to a temporary folder); none is 40% of the machine\'s memory.', check=_memory_limit),
    Key("input", "separator", "str", ",", 'CSV field separator: one character, or "whitespace" for runs of spaces and tabs.', check=_separator),
    Key("input", "decimal", "str", ".", "CSV decimal mark of the amounts.", check=_decimal),
    Key("input", "header", "bool", True, "Whether the CSV's first line holds the column names; without it, give them in columns."),
    Key("input", "columns", "list[str]", None, "Column names of a CSV without a header line, in file order."),
    Key("input", "encoding", "str", "utf-8", "Text encoding of the CSV (a UTF-8 byte-order mark is skipped).", check=_encoding),
    Key("input", "customer_col", "str", "customer_id", "Column of customer ids (read as text from CSV, so leading zeros are kept)."),
    Key("input", "date_col", "str", "date", "Column of purchase dates or times (naive local time)."),
    Key("input", "amount_col", "str", None, 'Column of purchase values (zero is a valid purchase, negative values are invalid rows); none uses a column named "amount" when the file has one, and without amounts ("" or no such column) the forecast is of purchases only (no spend model, no CLV).'),
    Key("input", "date_format", "str", None, 'strftime format of the dates, for example "%Y-%m-%d" or "%Y%m%d"; "mixed" reads each date on its own; none infers one format from the first date.'),
    Key("input", "invalid", "str", "raise", 'Invalid rows (missing ids or dates, unparseable or out-of-range dates, non-numeric or negative amounts): "raise" (exit code 2) or "drop" (count them in the manifest). Rows dated after observation_end are not invalid: they lie outside the window and are excluded and counted (manifest rows_after_observation_end).', choices=("raise", "drop")),
    Key("input", "duplicates", "str", "keep", 'Rows identical in customer, date and amount: "keep" (separate purchases), "drop" or "raise".', choices=("keep", "drop", "raise")),
    Key("input", "attributes", "str", None, "Per-customer attribute table (one row per customer id; columns such as channel or region) for [segments], [costs] and [model] covariates: CSV (comma-separated UTF-8 with a header line; .gz etc. decompressed) or Parquet (.parquet, .pq); relative to the config file. Hashed in the manifest like the input. Every customer of the transactions needs exactly one row (rows of other customers are ignored).", check=_not_empty),
    Key("input", "attributes_customer_col", "str", None, "Column of customer ids in the attribute table (read as text from CSV); none is [input] customer_col."),
    Key("input", "kind", "str", "transactions", 'What the file holds: "transactions" (one row per purchase: [model] transactions and spend) or "subscriptions" (one row per subscription, with start_col, end_col and optionally price_col: a retention model, [model] retention, values each active subscriber).', choices=("transactions", "subscriptions")),
    Key("input", "start_col", "str", "start", "kind = \"subscriptions\": column of subscription start dates."),
    Key("input", "end_col", "str", "end", "kind = \"subscriptions\": column of end (cancellation) dates; empty for active subscribers. An end after observation_end is still active then."),
    Key("input", "price_col", "str", None, "kind = \"subscriptions\": column of the price per period; CLV is then [forecast] margin times the price per renewal. Without it, [forecast] margin is the margin per period in money (1: CLV counts discounted periods, the DERL)."),
    Key("summary", "time_unit", "str", _REQUIRED, 'Unit of recency, T and the horizon: "h", "D", "W", "M" (30.4375 days) or "Y" (365.25 days). For a model in discrete occasions (transactions = "bgbb") the occasion: calendar "Y", "M", "W" (Monday to Sunday) or "D"; the horizon is then a number of occasions.', check=_time_unit),
    Key("summary", "resolution", "str", None, 'Period in which one customer\'s purchases merge into one transaction: "D" or "h"; none means "h" for hourly units, else "D".', check=_resolution),
    Key("summary", "observation_end", "date", None, "Last day observed (its whole day is included); none means the last purchase date in the file."),
    Key("summary", "calibration_end", "date", None, "End of a calibration period: the transaction model is also fitted up to here and scored on the holdout period after it (holdout_by_frequency.csv, manifest holdout); for a subscription log, the retention model is scored on the renewals after it, by start cohort (holdout_by_cohort.csv)."),
    Key("model", "transactions", "str or list[str]", "bgnbd", "Model of purchasing and dropping out: a registered key (clvmodels.models.registry); or a list of keys to compare, for example [\"bgnbd\", \"pareto-nbd\", \"mbgnbd\"]: each is fitted to calibration_end and scored on the holdout (model_comparison.csv), the one that select picks is refitted to observation_end and forecasts; or a table [model.transactions] with model = ... and the settings of that model (of every listed model, with a list); a table [model.KEY] (for example [model.pareto-nbd]) holds one chosen model's own settings (penalty, priors, draws, tune, chains, target_accept, sampler).", check=_model_key("transactions"), convert=_to_model_key),
    Key("model", "spend", "str", "gamma-gamma", "Model of spend per transaction: a registered key; or a table [model.spend] (or [model.KEY]) with model = ... and its own settings, as for transactions.", check=_model_key("spend"), convert=_to_model_key),
    Key("model", "retention", "str", "sbg", "[input] kind = \"subscriptions\": the retention model (a registered retention key: \"sbg\", the shifted-beta-geometric), or a table [model.retention] with model = ... and its own settings.", check=_model_key("retention"), convert=_to_model_key),
    Key("model", "select", "str", "holdout", 'How a list of transactions models picks the one that forecasts: "holdout" (among those that pass their holdout, or all when none does, the smallest error of the holdout total, then MAE; needs calibration_end), "bic" or "aic" (the smallest criterion of mle or map fits: on the calibration period with calibration_end, else on the whole data), or "loo" (the largest elpd_loo of nuts or advi fits; needs calibration_end).', choices=("holdout", "bic", "aic", "loo")),
    Key("model", "method", "str", "mle", 'Fitting method: "mle" (maximum likelihood), "nuts" (posterior draws), "advi" or "map".', choices=("mle", "nuts", "advi", "map")),
    Key("model", "penalty", "float", 0.0, "L2 penalty of maximum likelihood (mle only), for both models; set it in [model.transactions] or [model.spend] for one.", check=_at_least(0.0), per_model=True),
    Key("model", "draws", "int", 1000, "NUTS draws kept per chain (advi: draws of the approximation per chain).", check=_at_least(1), per_model=True),
    Key("model", "tune", "int", None, "NUTS warm-up iterations per chain; none is the sampler's default (nutpie 300, PyMC 1000).", check=_at_least(0), per_model=True),
    Key("model", "chains", "int", 4, "NUTS chains (run in parallel).", check=_at_least(1), per_model=True),
    Key("model", "target_accept", "float", 0.8, "NUTS target acceptance rate; raise it (0.95) after divergences.", check=_between_0_1, per_model=True),
    Key("model", "sampler", "str", "auto", 'NUTS implementation: "auto" (nutpie when installed), "nutpie" or "pymc".', choices=("auto", "nutpie", "pymc"), per_model=True),
    Key("model", "priors", "table", None, 'Bayesian priors replacing the defaults, one per parameter of the chosen models (BG/NBD r, alpha, a, b; Gamma-Gamma p, q, gamma), for example b = { distribution = "Gamma", alpha = 2, beta = 0.5 }; [model.transactions] priors = {...} for one model.', per_model=True),
    Key("forecast", "horizon", "float", _REQUIRED, "Length of the forecast in time units (at most 1,000 years); inf for the infinite horizon.", check=_horizon),
    Key("forecast", "discount_rate", "float", _REQUIRED, "Annual discount rate (0.15 for 15%), compounded continuously unless discounting is discrete; at least 0.001 with the infinite horizon.", check=_discount_rate),
    Key("forecast", "margin", "float", 1.0, "Share of spend that is profit; CLV is margin times discounted spend.", check=_at_least(0.0, inclusive=False)),
    Key("forecast", "ci", "float", 0.9, "Level of every interval: forecast columns, parameter intervals, holdout intervals.", check=_between_0_1),
    Key("forecast", "n_draws", "int", 1000, "Parameter draws of each model behind the intervals (at most 100,000; 10,000 with bootstrap draws, each a refit).", check=_n_draws),
    Key("forecast", "parameter_draws", "str", "auto", 'Kind of parameter draws: "auto" (the posterior after nuts or advi, else the Laplace approximation), "laplace", "bootstrap" (refit on customers resampled with replacement, once per draw; mle only) or "posterior".', choices=("auto", "laplace", "bootstrap", "posterior")),
    Key("forecast", "predictive", "bool", True, "Also simulate each customer's future for the predictive bounds (purchases_pred_*, clv_pred_*)."),
    Key("forecast", "discounting", "str", "continuous", '"continuous" (exact) or "discrete" (once per period, as lifetimes does).', choices=("continuous", "discrete")),
    Key("forecast", "period", "float", None, "Period of discrete discounting, in time units (at most the horizon, and at most 1,000 periods in it).", check=_at_least(0.0, inclusive=False)),
    Key("model", "covariates", "list[str] or table", None, 'Attribute columns ([input] attributes, or "cohort" with [segments] cohort) on which the transactions model\'s purchase and dropout rates depend (log-linear links; numeric columns standardised by the library), for example ["Gender", "Channel"] for both processes, or { purchase = ["Channel"], dropout = ["Gender"] }; needs a model that supports covariates.', check=_covariates),
    Key("model", "categorical", "list[str] or table", None, 'Covariates that are categories (dummy-coded, the first level in sorted order the reference), for example ["Channel"], or a table naming each one\'s reference level as written in the attribute table, { Channel = 1 } (a number for a numeric column, text for a text one); a non-numeric covariate must be listed here.', check=_categorical),
    Key("segments", "by", "list[str or list[str]]", None, 'What segments.csv reports by: attribute columns ([input] attributes) or "cohort" ([segments] cohort), each alone, or a list of columns for their combinations, for example ["channel", "cohort", ["channel", "region"]]. Each segment\'s customers, total and mean CLV (and net_clv with [costs]), expected purchases and mean P(alive), with intervals computed draw by draw (clvmodels.Forecast.segment_summary).', check=_segment_by),
    Key("segments", "cohort", "str", None, 'Derive each customer\'s acquisition cohort from the transaction log, as attribute "cohort": the calendar month ("M", label 1997-01), quarter ("Q", 1997Q1) or year ("Y") of their first purchase.', choices=("M", "Q", "Y")),
    Key("segments", "compare", "list of [by, a, b]", None, 'Pairs of segments to compare, each [by, a, b]: for example [["channel", "B", "A"]], or [["channel", "region"], ["B", "north"], ["A", "north"]] for combinations; segments.csv gains a row per pair with the probability that a\'s mean CLV exceeds b\'s and the difference of the means with its interval (clvmodels.Forecast.compare). Values are written as text, as in segments.csv.'),
    Key("costs", "cost_per_purchase", "float or str", 0.0, "What each future purchase costs to fulfil and serve, in money: a number, or the name of an attribute column (a cost per customer). With a cost, predictions.csv gains net_clv (margin times discounted spend minus this cost times the discounted purchases) with credible and predictive bounds. Needs amounts.", check=_cost),
    Key("costs", "acquisition_cost", "float or str", None, "What each customer cost to win: a number, or the name of an attribute column. Sunk for existing customers, so not subtracted from net_clv; segments.csv gains acquisition_cost_mean and the ratio of mean CLV to it (clv_to_acquisition) with its interval, and predictions.csv the net_clv columns. Needs amounts.", check=_cost),
    Key("output", "dir", "str", _REQUIRED, "Output directory, relative to the config file; created if missing. A run replaces only files that a clvmodels run wrote there (its manifest.json lists them) and never the input or the config.", check=_not_empty),
    Key("output", "plots", "bool", False, "Also draw the diagnostic plots as PNG files in plots/."),
)

SECTIONS: tuple[str, ...] = ("input", "summary", "model", "forecast", "segments", "costs", "output")


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
    engine: str = "auto"
    memory_limit: str | None = None
    #: ``amount_col`` was not set: use a column named "amount" when the file has one, else no amounts
    amount_auto: bool = False
    #: the per-customer attribute table (``[input] attributes``), resolved against the config's folder
    attributes: Path | None = None
    #: its column of customer ids (``None``: ``customer_col``)
    attributes_customer_col: str | None = None
    #: "transactions" or "subscriptions" (a subscription log: start_col, end_col, price_col)
    kind: str = "transactions"
    start_col: str = "start"
    end_col: str = "end"
    price_col: str | None = None

    @property
    def attributes_id(self) -> str:
        """The attribute table's column of customer ids."""
        return self.attributes_customer_col or self.customer_col


@dataclass(frozen=True)
class SummaryConfig:
    """Time unit and periods (``[summary]``)."""

    time_unit: str
    resolution: str | None = None
    observation_end: str | None = None
    calibration_end: str | None = None


#: The ``[model]`` keys that ``[model.transactions]`` and ``[model.spend]`` may set for one model.
PER_MODEL: tuple[str, ...] = ("penalty", "priors", "draws", "tune", "chains", "target_accept", "sampler")
ROLES: tuple[str, ...] = ("transactions", "spend", "retention")


@dataclass(frozen=True)
class ModelConfig:
    """Models and how to fit them (``[model]``; ``[model.transactions]`` and ``[model.spend]``
    hold the settings of the models of that role, ``[model.KEY]`` those of one model; each
    overrides the ``[model]`` ones for its models).

    ``transactions`` is one registered key, or a tuple of keys to compare (``select`` picks the
    one that forecasts)."""

    transactions: str | tuple[str, ...] = "bgnbd"
    spend: str = "gamma-gamma"
    select: str = "holdout"
    method: str = "mle"
    penalty: float = 0.0
    draws: int = 1000
    tune: int | None = None
    chains: int = 4
    target_accept: float = 0.8
    sampler: str = "auto"
    priors: Mapping[str, Mapping[str, Any]] | None = None
    transactions_settings: Mapping[str, Any] | None = None
    spend_settings: Mapping[str, Any] | None = None
    #: the retention model of a subscription log, and its own settings
    retention: str = "sbg"
    retention_settings: Mapping[str, Any] | None = None
    #: ``[model.KEY]`` tables: registered key -> that model's own settings
    model_settings: Mapping[str, Mapping[str, Any]] | None = None
    #: covariates of the transactions model: column names (both processes) or {process: names}
    covariates: tuple[str, ...] | Mapping[str, Any] | None = None
    #: categorical covariates: names, or {name: reference level}
    categorical: tuple[str, ...] | Mapping[str, Any] | None = None

    def covariate_columns(self) -> list[str]:
        """Every column named by ``covariates``, once, in order."""
        cov = self.covariates
        if cov is None:
            return []
        names = cov if isinstance(cov, tuple) else [c for columns in cov.values() for c in columns]
        return list(dict.fromkeys(names))

    def covariate_settings(self) -> dict[str, Any]:
        """The estimator keywords ``covariates=`` and ``categorical=`` (empty without covariates)."""
        if self.covariates is None:
            return {}
        cov = list(self.covariates) if isinstance(self.covariates, tuple) else {k: list(v) for k, v in self.covariates.items()}
        cat = self.categorical
        if isinstance(cat, tuple):
            cat = list(cat)
        elif cat is not None:
            cat = dict(cat)
        return {"covariates": cov, "categorical": cat}

    @property
    def compares(self) -> bool:
        """Whether ``transactions`` lists models to compare (a list, even of one)."""
        return isinstance(self.transactions, tuple)

    @property
    def transaction_keys(self) -> tuple[str, ...]:
        """The transactions model(s), as a tuple of keys."""
        return self.transactions if isinstance(self.transactions, tuple) else (self.transactions,)

    def own(self, role: str, key: str | None = None) -> dict[str, Any]:
        """The settings of model ``key`` in ``role`` ("transactions" or "spend"; ``key`` defaults
        to the role's one model): ``[model]``, then ``[model.ROLE]``, then ``[model.KEY]`` (priors:
        the shared ones and the role table's of its parameters, then its own table's)."""
        if key is None:
            key = getattr(self, role)
            if isinstance(key, tuple):
                if len(key) != 1:
                    raise ValueError(f"[model] {role} lists {len(key)} models; ask for the settings of one of them by key")
                key = key[0]
        table = dict(getattr(self, f"{role}_settings") or {})
        table_own = dict((self.model_settings or {}).get(key) or {})
        values = {name: table_own.get(name, table.get(name, getattr(self, name))) for name in PER_MODEL if name != "priors"}
        names = PARAMETERS[key]
        priors = {k: v for k, v in (self.priors or {}).items() if k in names}
        priors.update({k: v for k, v in (table.get("priors") or {}).items() if k in names})
        priors.update(table_own.get("priors") or {})
        values["priors"] = priors or None
        return values

    def settings(self, model: str, seed: int, progressbar: bool) -> dict[str, Any]:
        """Keyword arguments of the estimator of ``model``: a role ("transactions", "spend") or a
        registered key (the role of its kind)."""
        from .inference.bayes import Prior
        from .models.registry import model_class

        if model in ROLES:
            role, key = model, None
        else:
            role, key = model_class(model).kind, model_class(model).key
        values = self.own(role, key)
        priors = values.pop("priors")
        return {
            **values,
            "priors": {k: Prior.from_dict(v) for k, v in priors.items()} if priors else None,
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
    parameter_draws: str = "auto"


@dataclass(frozen=True)
class SegmentsConfig:
    """The segment report (``[segments]``): what segments.csv reports by, the cohort, the comparisons."""

    #: each item a column name or a tuple of names (their combinations)
    by: tuple[str | tuple[str, ...], ...] | None = None
    cohort: str | None = None
    #: (columns, values of a, values of b), values as text
    compare: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] | None = None

    @property
    def columns(self) -> list[str]:
        """Every column that ``by`` and ``compare`` name, once, in order."""
        items = [c for item in (self.by or ()) for c in (item if isinstance(item, tuple) else (item,))]
        items += [c for columns, _, _ in (self.compare or ()) for c in columns]
        return list(dict.fromkeys(items))

    @property
    def groupings(self) -> list[tuple[str, ...]]:
        """The column groups reported, each a tuple: those of ``by``, then those only ``compare`` names."""
        groups = [item if isinstance(item, tuple) else (item,) for item in (self.by or ())]
        groups += [columns for columns, _, _ in (self.compare or ())]
        return list(dict.fromkeys(groups))


@dataclass(frozen=True)
class CostsConfig:
    """Costs (``[costs]``): a number, or the name of an attribute column, each."""

    cost_per_purchase: float | str = 0.0
    acquisition_cost: float | str | None = None

    @property
    def any(self) -> bool:
        """Whether a cost is given (the forecast then has net_clv columns)."""
        return self.acquisition_cost is not None or self.cost_per_purchase != 0.0


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
    segments: SegmentsConfig = SegmentsConfig()
    costs: CostsConfig = CostsConfig()

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
        "str or list[str]": 'a string or a list of strings ("a" or ["a", "b"])',
        "table": "a table ({ ... })",
        "list[str] or table": 'a list of column names (["a", "b"]) or a table',
        "list[str or list[str]]": 'a list of column names, or of lists of them (["a", ["a", "b"]])',
        "list of [by, a, b]": 'a list of [by, a, b] triples ([["channel", "B", "A"]])',
        "float or str": "a number or a column name",
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
    if kind == "str or list[str]":
        if isinstance(value, list):
            if not value or not all(isinstance(v, str) for v in value):
                return None, f"must be {_kind_name(kind)} naming at least one model, {got}"
            one = Key(key.section, key.name, "str", key.default, key.doc, key.choices, key.check, key.convert)
            items = []
            for item in value:
                coerced, problem = _coerce(one, item)
                if problem:
                    return None, problem
                items.append(coerced)
            twice = sorted({k for k in items if items.count(k) > 1})
            if twice:
                return None, f"names {twice[0]!r} twice, got {value!r}; list each model once"
            return tuple(items), None
        kind = "str"
    if kind == "list[str] or table":
        if isinstance(value, list):
            if not value or not all(isinstance(v, str) and v for v in value):
                return None, f"must be {_kind_name(kind)}, {got}"
            twice = sorted({v for v in value if value.count(v) > 1})
            if twice:
                return None, f"names {twice[0]!r} twice; list each column once"
            return tuple(value), None
        if not isinstance(value, dict):
            return None, f"must be {_kind_name(kind)}, {got}"
        kind = "table"
    elif kind == "list[str or list[str]]":
        if not isinstance(value, list) or not value:
            return None, f"must be {_kind_name(kind)}, {got}"
        items: list[Any] = []
        for item in value:
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, list) and item and all(isinstance(c, str) for c in item):
                items.append(tuple(item) if len(item) > 1 else item[0])
            else:
                return None, f"must be {_kind_name(kind)}, got the item {item!r}"
        value = tuple(items)
        problem = key.check(value) if key.check is not None else None
        return (None, problem) if problem else (value, None)
    elif kind == "list of [by, a, b]":
        example = '[["channel", "B", "A"]] or [[["channel", "region"], ["B", "north"], ["A", "north"]]]'
        if not isinstance(value, list) or not value:
            return None, f"must be {_kind_name(kind)}, {got}"
        triples = []
        for item in value:
            if not isinstance(item, list) or len(item) != 3:
                return None, f"must be a list of [by, a, b], each naming the segment column(s) and two of its values, got the item {item!r}; for example {example}"
            by, a, b = item
            columns = [by] if isinstance(by, str) else by
            if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
                return None, f"item {item!r}: by must be a column name or a list of them; for example {example}"
            pair = []
            for side in (a, b):
                values = [side] if len(columns) == 1 and not isinstance(side, list) else side
                labels = [_label(v) for v in values] if isinstance(values, list) else [None]
                if len(labels) != len(columns) or None in labels:
                    return None, f"item {item!r}: a and b must each give one value of each of the {len(columns)} column(s) {columns}; for example {example}"
                pair.append(tuple(labels))
            if pair[0] == pair[1]:
                return None, f"item {item!r} compares a segment with itself; name two different segments"
            triples.append((tuple(columns), pair[0], pair[1]))
        return tuple(triples), None
    elif kind == "float or str":
        if isinstance(value, str):
            problem = key.check(value) if key.check is not None else None
            return (None, problem) if problem else (value, None)
        kind = "float"
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
        if math.isinf(value) and (key.section, key.name) != ("forecast", "horizon"):
            return None, f"must be a finite number, got {value!r}"
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
            return None, problem if ", got " in problem else f"{problem}, got {value!r}"
    if key.convert is not None:
        value = key.convert(value)
    return value, None


def _coerce_date(value: Any, got: str) -> tuple[Any, str | None]:
    import pandas as pd

    if isinstance(value, dt.time) or not isinstance(value, str | dt.date):
        return None, f"must be {_kind_name('date')}, {got}"
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return None, "must be a local date or time without a time-zone offset (1998-06-30 or 1998-06-30T23:00:00)"
    try:
        stamp = pd.Timestamp(value)
    except pd.errors.OutOfBoundsDatetime:
        return None, f"is outside the supported range of dates (1677-09-22 to 2262-04-10), {got}; check the year"
    except (ValueError, TypeError):
        return None, f"is not a date, {got}; write it as 1998-06-30"
    if stamp is pd.NaT:
        return None, f"is not a date, {got}; write it as 1998-06-30"
    # the data layer keeps dates as nanoseconds: the days inside pandas' range are supported
    if not pd.Timestamp("1677-09-22") <= stamp < pd.Timestamp("2262-04-11"):
        return None, f"is outside the supported range of dates (1677-09-22 to 2262-04-10), {got}; check the year"
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


def _check_priors(value: dict[str, Any], problems: list[str], names: list[str], where: str = "[model.priors]") -> None:
    for param, spec in value.items():
        if param not in names:
            problems.append(f"{where} has no parameter {param!r}" + _closest_text(param, names).replace("valid keys", "parameters"))
        elif not isinstance(spec, dict) or not isinstance(spec.get("distribution"), str):
            problems.append(
                f"{where} {param} must be a table with a distribution name, for example "
                f'{param} = {{ distribution = "LogNormal", mu = 0.0, sigma = 1.0 }}'
            )
        else:
            bad = {k: v for k, v in spec.items() if k != "distribution" and (isinstance(v, bool) or not isinstance(v, int | float))}
            if bad:
                problems.append(f"{where} {param}: the distribution's parameters must be numbers, got {bad}")


def _model_tables(model: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    """Take the tables ``[model.transactions]`` and ``[model.spend]`` out of ``[model]``.

    A table names its model with ``model = "..."`` (the default model when left out) and holds
    that model's own settings (:data:`PER_MODEL`); the plain ``transactions = "bgnbd"`` form
    stays valid.
    """
    from .models.registry import registered

    tables: dict[str, dict[str, Any]] = {}
    schema = {k.name: k for k in SCHEMA if k.section == "model" and k.per_model}
    keys = list(registered())
    for name in [n for n, v in model.items() if isinstance(v, dict) and n in keys and n not in ROLES]:
        tables[name] = _own_settings(model.pop(name), name, schema, problems, named=False)
    for role in ROLES:
        table = model.get(role)
        if not isinstance(table, dict):
            continue
        del model[role]
        if "model" in table:
            model[role] = table["model"]
        tables[role] = _own_settings(table, role, schema, problems, named=True)
    return tables


def _own_settings(table: dict[str, Any], where: str, schema: dict[str, Key], problems: list[str], *, named: bool) -> dict[str, Any]:
    """The per-model settings of table ``[model.WHERE]`` (``named``: it may also say ``model = ...``)."""
    own: dict[str, Any] = {}
    for name, value in table.items():
        if name == "model" and named:
            continue
        key = schema.get(name)
        if key is None:
            valid = ["model", *PER_MODEL] if named else list(PER_MODEL)
            problems.append(
                f"unknown key {name!r} in [model.{where}]" + _closest_text(name, valid)
                + ("" if name not in {k.name for k in SCHEMA if k.section == "model"} else f" ({name} applies to every model: set it in [model])")
            )
            continue
        coerced, problem = _coerce(key, value)
        if problem:
            problems.append(f"[model.{where}] {name} {problem}")
            continue
        own[name] = coerced
    return own


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
    tables = _model_tables(values["model"], problems)
    given = set(values["model"])
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
        _check_priors_of_models(settled["model"], tables, problems)
        _check_together(settled, tables, problems, given)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ConfigError(f"{path}: " + "; ".join(problems[:3]) + more)
    inp = dict(settled["input"])
    inp["path"] = (base / inp["path"]).resolve() if not Path(inp["path"]).is_absolute() else Path(inp["path"])
    if inp["attributes"] is not None:
        inp["attributes"] = (base / inp["attributes"]).resolve() if not Path(inp["attributes"]).is_absolute() else Path(inp["attributes"])
    if inp["amount_col"] is None:  # not set: "amount" when the file has it
        inp["amount_auto"] = True
    elif not inp["amount_col"].strip():  # "": no amounts
        inp["amount_col"] = None
    seg = dict(settled["segments"])
    if seg["cohort"] is not None and seg["by"] is None and seg["compare"] is None:
        seg["by"] = ("cohort",)  # [segments] cohort alone: report by cohort
    out = dict(settled["output"])
    out["dir"] = (base / out["dir"]).resolve() if not Path(out["dir"]).is_absolute() else Path(out["dir"])
    top = settled[""]
    return RunConfig(
        path=path,
        seed=top["seed"],
        on_nonconvergence=top["on_nonconvergence"],
        input=InputConfig(**inp),
        summary=SummaryConfig(**settled["summary"]),
        model=ModelConfig(**settled["model"], transactions_settings=tables.get("transactions") or None,
                          spend_settings=tables.get("spend") or None, retention_settings=tables.get("retention") or None,
                          model_settings={k: v for k, v in tables.items() if k not in ROLES and v} or None),
        forecast=ForecastConfig(**settled["forecast"]),
        output=OutputConfig(**out),
        segments=SegmentsConfig(**seg),
        costs=CostsConfig(**settled["costs"]),
    )


def _chosen(model: dict[str, Any], role: str) -> tuple[str, ...]:
    value = model[role]
    return value if isinstance(value, tuple) else (value,)


def _check_priors_of_models(model: dict[str, Any], tables: dict[str, dict[str, Any]], problems: list[str]) -> None:
    """Priors name parameters of the chosen models (``[model.priors]``: of any of them;
    ``[model.ROLE] priors``: of a model of that role; ``[model.KEY] priors``: of that model), and
    a ``[model.KEY]`` table is of a chosen model."""
    chosen = {role: _chosen(model, role) for role in ROLES}

    def names(keys: tuple[str, ...]) -> list[str]:
        return list(dict.fromkeys(p for k in keys for p in PARAMETERS[k]))

    if model.get("priors"):
        _check_priors(model["priors"], problems, names(chosen["transactions"] + chosen["spend"]))
    for where, table in tables.items():
        keys = chosen[where] if where in ROLES else (where,)
        if where not in ROLES and not any(where in k for k in chosen.values()):
            listed = ", ".join(repr(k) for k in chosen["transactions"] + chosen["spend"])
            problems.append(f"[model.{where}] holds settings of {where!r}, which is not a chosen model ({listed}): add it to [model] transactions or remove the table")
            continue
        if table.get("priors"):
            _check_priors(table["priors"], problems, names(keys), f"[model.{where}] priors")


def forecast_problems(fc: Mapping[str, Any], unit: str) -> list[str]:
    """What is wrong with the forecast settings ``fc`` (``[forecast]`` keys: horizon,
    discount_rate, discounting, period) in time unit ``unit``: ranges that cannot be computed
    or would exhaust the machine, each naming the key and its value. The command line's
    ``forecast`` applies the same rules.

    Examples
    --------
    >>> forecast_problems({"horizon": 1e9, "discount_rate": 0.1, "discounting": "continuous", "period": None}, "W")[0][:60]
    '[forecast] horizon = 1e+09 weeks is 1.916e+07 years, more th'
    """
    problems: list[str] = []
    unit_name = {"h": "hours", "D": "days", "W": "weeks", "M": "months", "Y": "years"}.get(unit, unit)
    horizon, rate = fc["horizon"], fc["discount_rate"]
    if math.isfinite(horizon):
        years = _years(horizon, unit)
        if years > MAX_HORIZON_YEARS:
            problems.append(
                f"[forecast] horizon = {horizon:g} {unit_name} is {years:,.4g} years, more than the {MAX_HORIZON_YEARS:,.0f} years "
                "supported; for a customer's whole lifetime write horizon = inf with a positive discount_rate"
            )
        elif abs(math.log1p(rate)) * years > 700:
            problems.append(
                f"[forecast] discount_rate = {rate:g} over a horizon of {horizon:g} {unit_name} ({years:,.4g} years) makes a discount "
                "factor beyond floating point; shorten the horizon or use a smaller rate"
            )
    if fc["discounting"] == "discrete":
        period = fc["period"]
        if period is None:
            problems.append('[forecast] discounting = "discrete" needs period = ... (in time units)')
        if math.isinf(horizon):
            problems.append('[forecast] discounting = "discrete" needs a finite horizon, got horizon = inf')
        elif period is not None:
            if period > horizon:
                problems.append(f"[forecast] period = {period:g} {unit_name} is longer than the horizon ({horizon:g} {unit_name}); use a period of at most the horizon")
            elif horizon / period > MAX_PERIODS:
                problems.append(
                    f"[forecast] period = {period:g} {unit_name} makes {math.ceil(horizon / period - 1e-9):,} discounting periods over the horizon of "
                    f"{horizon:g} {unit_name}; at most {MAX_PERIODS:,} are supported (each adds work for every customer and draw): "
                    f"use period >= {horizon / MAX_PERIODS:.4g}, or discounting = \"continuous\""
                )
    elif fc["period"] is not None:
        problems.append('[forecast] period applies to discounting = "discrete" only; remove it')
    if math.isinf(horizon) and rate < MIN_RATE_INFINITE_HORIZON:
        problems.append(
            f"[forecast] horizon = inf needs discount_rate >= {MIN_RATE_INFINITE_HORIZON:g} (0.1% a year), got {rate:g}: "
            + ("without discounting the value of an endless future is infinite" if rate <= 0 else
               "a smaller rate makes the value depend on purchases thousands of years ahead")
            + "; give a finite horizon or a larger rate"
        )
    return problems


def _years(value: float, unit: str) -> float:
    from .units import unit_days

    return value * unit_days(unit) / 365.25


def _check_selection(summ: dict[str, Any], model: dict[str, Any], given: set[str], problems: list[str]) -> None:
    """A list of transactions models, ``select`` and the holdout agree."""
    listed, select, method = model["transactions"], model["select"], model["method"]
    if not isinstance(listed, tuple):
        if "select" in given:
            problems.append(
                f"[model] select = {select!r} picks among a list of transactions models, but transactions = {listed!r} is one: "
                f'list several (transactions = ["bgnbd", "pareto-nbd", "mbgnbd"]) or remove select'
            )
        return
    n = f"lists {len(listed)} model{'s' if len(listed) != 1 else ''} to compare"
    if select == "loo" and method not in ("nuts", "advi"):
        problems.append(f'[model] select = "loo" ranks posterior fits: it needs method = "nuts" or "advi", got method = {method!r}; or use select = "bic" or "holdout"')
    if select in ("bic", "aic") and method in ("nuts", "advi"):
        problems.append(f'[model] select = {select!r} ranks maximum-likelihood fits (no {select.upper()} for posterior draws): with method = {method!r} use select = "loo" or "holdout"')
    if select in ("holdout", "loo") and summ["calibration_end"] is None:
        problems.append(
            f"[model] transactions {n} and select = {select!r} scores them on a holdout period, but there is none: "
            "set [summary] calibration_end (the models are fitted to it and scored on the period after it), "
            'or select = "bic" or "aic" to choose by the fit to the whole data'
        )


def _check_together(s: dict[str, dict[str, Any]], tables: dict[str, dict[str, Any]], problems: list[str], given: set[str] = frozenset()) -> None:
    """Rules that involve several keys."""
    from .units import normalize_unit

    inp, summ, model, fc = s["input"], s["summary"], s["model"], s["forecast"]
    _check_selection(summ, model, set(given), problems)
    unit = normalize_unit(summ["time_unit"])
    if not inp["header"] and inp["columns"] is None:
        problems.append("[input] header = false needs [input] columns = [...] naming the file's columns in order")
    if inp["header"] and inp["columns"] is not None:
        problems.append("[input] columns names the columns of a file without a header line: set header = false, or remove columns to use the file's header")
    cols = [c for c in (inp["customer_col"], inp["date_col"], inp["amount_col"]) if c]
    if len(set(cols)) < len(cols):
        problems.append(f"[input] customer_col, date_col and amount_col must be three different columns, got {cols}")
    if inp["engine"] != "auto" or inp["memory_limit"] is not None:
        _check_engine(inp, problems)
    if inp["columns"] is not None and len(set(inp["columns"])) < len(inp["columns"]):
        problems.append(f"[input] columns has a name twice: {list(inp['columns'])}")
    if summ["calibration_end"] is not None and summ["observation_end"] is not None:
        import pandas as pd

        if pd.Timestamp(summ["calibration_end"]) >= pd.Timestamp(summ["observation_end"]):
            problems.append(
                f"[summary] calibration_end ({summ['calibration_end']}) must be before observation_end "
                f"({summ['observation_end']}): the holdout period lies between them"
            )
    if model["method"] != "mle":
        for where, penalty in (("[model]", model["penalty"]), *((f"[model.{r}]", t.get("penalty", 0.0)) for r, t in tables.items())):
            if penalty != 0.0:
                problems.append(f"{where} penalty = {penalty:g} applies to method = \"mle\" only; with method = {model['method']!r} set priors instead")
    draws = fc["parameter_draws"]
    if draws in ("laplace", "bootstrap") and model["method"] in ("nuts", "advi"):
        problems.append(f"[forecast] parameter_draws = {draws!r} approximates a maximum-likelihood fit; with method = {model['method']!r} the posterior draws are the uncertainty: set parameter_draws = \"auto\"")
    if draws == "bootstrap" and model["method"] == "map":
        problems.append('[forecast] parameter_draws = "bootstrap" refits by maximum likelihood: it needs method = "mle"')
    if draws == "posterior" and model["method"] not in ("nuts", "advi"):
        problems.append(f'[forecast] parameter_draws = "posterior" needs method = "nuts" or "advi", got method = {model["method"]!r}')
    if draws == "bootstrap" and fc["n_draws"] > MAX_BOOTSTRAP_DRAWS:
        problems.append(f"[forecast] n_draws = {fc['n_draws']:,} with parameter_draws = \"bootstrap\" would refit each model {fc['n_draws']:,} times; use at most {MAX_BOOTSTRAP_DRAWS:,}")
    problems.extend(forecast_problems(fc, unit))
    _check_attribute_use(s, problems)
    _check_time_kind(s, problems)
    _check_subscriptions(s, problems, given)


def _check_subscriptions(s: dict[str, dict[str, Any]], problems: list[str], given: set[str]) -> None:
    """``[input] kind = "subscriptions"``: what applies to a subscription log, and what does not."""
    inp, summ, model, fc, seg, costs = s["input"], s["summary"], s["model"], s["forecast"], s["segments"], s["costs"]
    if inp["kind"] != "subscriptions":
        for name in ("price_col",):
            if inp[name] is not None:
                problems.append(f"[input] {name} applies to a subscription log: set [input] kind = \"subscriptions\", or remove {name}")
        return
    from .units import normalize_unit

    if normalize_unit(summ["time_unit"]) == "h":
        problems.append('[summary] time_unit is the billing period of the subscriptions: "Y", "M", "W" or "D"')
    cols = [c for c in (inp["customer_col"], inp["start_col"], inp["end_col"], inp["price_col"]) if c]
    if len(set(cols)) < len(cols):
        problems.append(f"[input] customer_col, start_col, end_col and price_col must be different columns, got {cols}")
    if inp["engine"] == "duckdb":
        problems.append('[input] engine = "duckdb": a subscription log is summarised by pandas; set engine = "pandas" or "auto"')
    for name, why in (("resolution", "subscriptions renew by whole periods"),):
        if summ[name] is not None:
            problems.append(f"[summary] {name} does not apply to a subscription log ({why}); remove it")
    for name in ("transactions", "spend", "select", "covariates", "categorical"):
        if name in given:
            problems.append(f"[model] {name} does not apply to a subscription log: its model is [model] retention (\"sbg\")")
    if inp["attributes"] is not None or seg["by"] is not None or seg["cohort"] is not None or seg["compare"] is not None:
        problems.append("[input] attributes and [segments] are not available for a subscription log yet: the predictions carry each subscriber's cohort")
    if costs["cost_per_purchase"] != 0.0 or costs["acquisition_cost"] is not None:
        problems.append("[costs] apply to transactions; for subscribers set [forecast] margin (the share of the price, or the margin per period)")
    if fc["discounting"] != "continuous" or fc["period"] is not None:
        problems.append("[forecast] discounting and period do not apply to subscriptions: each renewal is discounted once per period")


def discrete_keys(keys: tuple[str, ...] | str) -> bool:
    """Whether the transactions models ``keys`` count discrete occasions (BG/BB); False for
    continuous-time models, or when a key is not registered (reported elsewhere)."""
    from .models.registry import registered

    models = registered("transactions")
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    return bool(keys) and all(k in models and models[k].time_kind == "discrete" for k in keys)


def _check_time_kind(s: dict[str, dict[str, Any]], problems: list[str]) -> None:
    """A model in discrete occasions (BG/BB): [summary] time_unit is the occasion, the summary
    is computed by pandas, and it is never compared with continuous-time models."""
    from .models.registry import registered

    models = registered("transactions")
    keys = _chosen(s["model"], "transactions")
    kinds = {k: models[k].time_kind for k in keys if k in models}
    discrete = [k for k, kind in kinds.items() if kind == "discrete"]
    if not discrete:
        return
    if len(discrete) < len(kinds):
        problems.append(
            f"[model] transactions mixes {', '.join(repr(k) for k in discrete)} (discrete occasions) with "
            f"{', '.join(repr(k) for k in kinds if k not in discrete)} (continuous time): their likelihoods are of different data, "
            "so they cannot be compared; run one kind per config"
        )
        return
    from .units import normalize_unit

    summ, inp = s["summary"], s["input"]
    if normalize_unit(summ["time_unit"]) == "h":  # the occasions are calendar years, months, weeks or days
        problems.append(f"[summary] time_unit = {summ['time_unit']!r} is the occasion of {discrete[0]!r}: use \"Y\" (one a year), \"M\", \"W\" or \"D\"")
    if summ["resolution"] is not None:
        problems.append(f"[summary] resolution does not apply to {discrete[0]!r}: transactions merge per occasion ([summary] time_unit); remove resolution")
    if inp["engine"] not in ("auto", "pandas"):
        problems.append(f"[input] engine = {inp['engine']!r}: the summary in occasions of {discrete[0]!r} is computed by pandas; set engine = \"pandas\"")


def covariate_models() -> list[str]:
    """Keys of the registered transactions models that take covariates (``covariates=``)."""
    import inspect

    from .models.registry import registered

    def able(cls: type) -> bool:
        declared = getattr(cls, "supports_covariates", None)
        return bool(declared) if declared is not None else "covariates" in inspect.signature(cls).parameters

    return [key for key, cls in registered("transactions").items() if able(cls)]


def _check_attribute_use(s: dict[str, dict[str, Any]], problems: list[str]) -> None:
    """``[segments]``, ``[costs]`` and ``[model] covariates`` name columns that can exist."""
    inp, seg, costs, model = s["input"], s["segments"], s["costs"], s["model"]
    table = inp["attributes"] is not None
    if inp["attributes_customer_col"] is not None and not table:
        problems.append("[input] attributes_customer_col names the id column of an attribute table, but there is none: set [input] attributes = \"customers.csv\" or remove attributes_customer_col")
    cohort = seg["cohort"] is not None
    fix = 'set [input] attributes = "customers.csv" (a table with a row per customer id)'
    used = {"[segments] by": [c for item in (seg["by"] or ()) for c in (item if isinstance(item, tuple) else (item,))],
            "[segments] compare": [c for columns, _, _ in (seg["compare"] or ()) for c in columns]}
    cov = model["covariates"]
    used["[model] covariates"] = [] if cov is None else list(cov) if isinstance(cov, tuple) else [c for v in cov.values() for c in v]
    for where, columns in used.items():
        for column in dict.fromkeys(columns):
            if table or (column == "cohort" and cohort):
                continue
            if column == "cohort":
                problems.append(f'{where} names "cohort": set [segments] cohort = "M", "Q" or "Y" to derive each customer\'s acquisition cohort from the log, or {fix} with a cohort column')
            else:
                problems.append(f"{where} names {column!r}, an attribute column, but there is no attribute table: {fix}"
                                + (' (the derived column is "cohort")' if cohort else ""))
    for name in ("cost_per_purchase", "acquisition_cost"):
        if isinstance(costs[name], str) and not table:
            problems.append(f"[costs] {name} = {costs[name]!r} names an attribute column, but there is no attribute table: {fix}, or give a number")
    if (costs["acquisition_cost"] is not None or costs["cost_per_purchase"] != 0.0) and inp["amount_col"] is not None and not inp["amount_col"].strip():
        problems.append('[costs] give CLV net of costs, which needs amounts, but [input] amount_col = "" (no amounts): name the amount column or remove [costs]')
    categorical = model["categorical"]
    if categorical is not None:
        if cov is None:
            problems.append("[model] categorical declares covariates as categories, but there are no [model] covariates: add covariates = [...] or remove categorical")
        else:
            names = used["[model] covariates"]
            stray = [c for c in categorical if c not in names]
            if stray:
                problems.append(f"[model] categorical names {stray[0]!r}, which is not one of [model] covariates ({', '.join(names)}): add it to covariates or remove it from categorical")
    if cov is not None:
        able = covariate_models()
        keys = model["transactions"] if isinstance(model["transactions"], tuple) else (model["transactions"],)
        unable = [k for k in keys if k not in able]
        if unable:
            from .models.registry import model_class

            which = (f"those that do: {', '.join(repr(k) for k in able)}" if able
                     else "no registered model supports them in this version of clvmodels")
            problems.append(f"[model] covariates need a model that supports them, but [model] transactions = {unable[0]!r} "
                            f"({model_class(unable[0]).display_name}) does not; {which}")


def _check_engine(inp: dict[str, Any], problems: list[str]) -> None:
    """``[input] engine`` agrees with the CSV settings and ``memory_limit``."""
    if inp["engine"] == "duckdb" and inp["format"] != "parquet":
        options = pandas_csv_options(inp)
        if options:
            problems.append(
                f'[input] engine = "duckdb" reads CSV with DuckDB\'s reader (comma-separated UTF-8 with a header line), which '
                f"does not take [input] {options[0]}{' (nor ' + ', '.join(options[1:]) + ')' if options[1:] else ''}: "
                'set engine = "auto" or "pandas" to read this file with pandas, or export it as comma-separated UTF-8 with a header'
            )
    if inp["engine"] == "pandas" and inp["memory_limit"] is not None:
        problems.append(f'[input] memory_limit = {inp["memory_limit"]!r} limits DuckDB, but engine = "pandas": remove memory_limit or set engine = "auto" or "duckdb"')


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
        if path.exists() and not path.is_dir() and not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(f"{path} is not a regular file (a pipe, device or socket); give the path of a .toml config file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; check the path (see examples/cdnow.toml for one)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory; give the path of a .toml config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")  # an editor's byte-order mark is not part of the TOML
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
