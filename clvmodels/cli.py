"""The ``clvmodels`` command line: parse, call the library, write files.

Commands::

    clvmodels summarize TRANSACTIONS -o SUMMARY.csv --time-unit W [column options]
    clvmodels fit SUMMARY.csv --model KEY [--method mle|nuts|advi|map] -o MODEL_FILE
    clvmodels compare SUMMARY.csv --models bgnbd,pareto-nbd,mbgnbd [--method mle] -o COMPARISON.csv
    clvmodels forecast SUMMARY.csv --transaction-model MODEL_FILE [--spend-model MODEL_FILE]
                       --horizon 52 --discount-rate 0.15 -o PREDICTIONS.csv
    clvmodels run CONFIG.toml [--output-dir DIR]

``--model`` takes any registered model (:mod:`clvmodels.models.registry`: ``bgnbd``,
``gamma-gamma``, ...). Without ``--spend-model`` (or, in ``run``, without amounts) the forecast is
of purchases only: P(alive), expected and discounted purchases with their bounds, no CLV.
``compare`` fits each listed transactions model to the calibration columns of a summary made
with ``--calibration-end`` and writes :func:`clvmodels.compare_models`'s table (fit criteria and
holdout accuracy, one row per model); ``[model] transactions = [...]`` does the same inside
``run`` and forecasts with the model ``[model] select`` picks. ``run`` with a per-customer
attribute table (``[input] attributes``) also reports by segment (``[segments]``: segments.csv),
nets out costs (``[costs]``: the net_clv columns) and lets the transactions model's rates depend
on covariates (``[model] covariates``).

Every command takes ``--dry-run`` (check the arguments and the input, say what would run, write
nothing), ``--quiet`` (warnings and errors only) and ``--debug`` (debug log, and a traceback with
an error). Logs go to stderr with timestamps; progress bars appear only when stderr is a
terminal.

Exit codes: 0 success; 2 bad input, arguments or configuration (settings out of range are
refused before any work, naming the key and the value), or an output that cannot be written
(including a file there that no clvmodels run wrote); 3 a model did not converge
(``on_nonconvergence = "fail"``, the default). ``"warn"`` writes the outputs anyway, flagged in
the manifest; a maximum-likelihood fit without a finite covariance then takes bootstrap
parameter draws. Two failures cannot be warned past (exit 3): a ``map`` fit without a finite
covariance (no Laplace draws, and the bootstrap refits by maximum likelihood), and a forecast
that fails numerically at the estimates of a model that did not converge. 1 anything else
(including SIGTERM or Ctrl-C, or another run holding the output directory). An error is one line
on stderr that names the file, the column, the number of rows and the fix; nothing is written by
a command that fails.

No statistic is computed here: see :mod:`clvmodels.pipeline` for the steps and
:mod:`clvmodels.config` for the configuration file.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

LOGGER = "clvmodels.cli"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help with the defaults that say something (not for required options or switches)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if not (default is None or isinstance(default, bool) or default is argparse.SUPPRESS or action.required):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit code 2), like every other error here."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- arguments --------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("behaviour")
    group.add_argument("--dry-run", action="store_true", help="check the arguments and the input, say what would run, write nothing")
    group.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    group.add_argument("--debug", action="store_true", help="log debug messages, and a traceback with an error")


def _checked(section: str, name: str) -> Callable[[str], Any]:
    """An argparse type that applies the configuration's check of ``[section] name``."""

    def parse(text: str) -> Any:
        from .config import check_value

        value, problem = check_value(section, name, "\t" if text == "\\t" else text)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def _number(section: str, name: str, kind: str = "float") -> Callable[[str], Any]:
    """An argparse type: a number checked as the configuration's ``[section] name`` is."""

    def parse(text: str) -> Any:
        from .config import check_value

        try:
            value: Any = int(text) if kind == "int" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'a whole number' if kind == 'int' else 'a number'}, got {text!r}") from None
        value, problem = check_value(section, name, value)
        if problem:
            raise argparse.ArgumentTypeError(problem.replace(" = ", " "))
        return value

    return parse


def _model_arg(text: str) -> str:
    """An argparse type: a registered model (key, class or display name) -> its key."""
    from .models.registry import model_class, registered

    try:
        return model_class(text).key
    except ValueError:
        listed = ", ".join(f"{k!r} ({c.display_name})" for k, c in registered().items())
        raise argparse.ArgumentTypeError(f"unknown model {text!r}; registered models: {listed}") from None


def _model_list(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated registered transactions models -> their keys."""
    from .models.registry import model_class, registered

    keys = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            keys.append(model_class(item, "transactions").key)
        except ValueError:
            listed = ", ".join(f"{k!r} ({c.display_name})" for k, c in registered("transactions").items())
            raise argparse.ArgumentTypeError(f"unknown transactions model {item!r}; registered transactions models: {listed}") from None
    if not keys:
        raise argparse.ArgumentTypeError("name at least one model, for example bgnbd,pareto-nbd,mbgnbd")
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"names {twice[0]!r} twice; list each model once")
    return tuple(keys)


def _level(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def _input_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reading the transaction file (the keys of [input] in a config)")
    group.add_argument("--format", choices=("auto", "csv", "parquet"), default="auto", help="file format; auto: Parquet for .parquet/.pq")
    group.add_argument("--sep", type=_checked("input", "separator"), default=",", help='CSV separator: one character ("\\t" for tab) or "whitespace"')
    group.add_argument("--decimal", type=_checked("input", "decimal"), default=".", help="decimal mark of the amounts")
    group.add_argument("--no-header", dest="header", action="store_false", help="the CSV has no header line (give --columns)")
    group.add_argument("--columns", help="comma-separated column names of a CSV without a header line")
    group.add_argument("--encoding", type=_checked("input", "encoding"), default="utf-8", help="text encoding of the CSV")
    group.add_argument("--customer-col", default="customer_id", help="column of customer ids")
    group.add_argument("--date-col", default="date", help="column of purchase dates")
    group.add_argument("--amount-col", default="amount", help="column of purchase values")
    group.add_argument("--no-amount", action="store_true", help="no amounts: summarise without monetary_value")
    group.add_argument("--date-format", help='strftime format of the dates, e.g. "%%Y-%%m-%%d"; "mixed" for mixed formats')
    group.add_argument("--invalid", choices=("raise", "drop"), default="raise", help="invalid rows: fail, or drop and count them")
    group.add_argument("--duplicates", choices=("keep", "drop", "raise"), default="keep", help="rows identical in customer, date and amount")
    group.add_argument("--engine", choices=("auto", "pandas", "duckdb"), default="auto",
                       help="what reads and summarises: auto (DuckDB for Parquet, a directory, a glob or a plain CSV), pandas or duckdb")
    group.add_argument("--memory-limit", type=_checked("input", "memory_limit"), help='memory DuckDB may use, e.g. "2GB" (default: 40%% of the machine)')


def _model_keys() -> str:
    from .models.registry import registered

    return "{" + ",".join(registered()) + "}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``clvmodels`` (all subcommands)."""
    from . import __version__

    parser = _Parser(
        prog="clvmodels",
        description="Customer-lifetime-value forecasts from a transaction log with the registered models: " + _model_keys() + ".",
        epilog="Exit codes: 0 ok, 2 bad input or configuration, 3 a model did not converge, 1 anything else. "
        "See the README's 'Command line' section.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"clvmodels {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("summarize", help="transaction log -> per-customer summary CSV", formatter_class=_Formatter,
                       description="Summarise a transaction log into frequency, recency, T and monetary_value per customer.")
    p.add_argument("transactions", metavar="TRANSACTIONS", help="transaction file (CSV or Parquet), or a directory or glob of them")
    p.add_argument("-o", "--output", required=True, metavar="SUMMARY.csv", help="summary CSV to write")
    p.add_argument("--time-unit", required=True, help="unit of recency and T: h, D, W, M (30.4375 days) or Y (365.25 days)")
    p.add_argument("--resolution", choices=("D", "h"), help="period in which a customer's purchases merge (default: D, or h for hourly units)")
    p.add_argument("--observation-end", type=_checked("summary", "observation_end"), help="last day observed (default: the last purchase date)")
    p.add_argument("--calibration-end", type=_checked("summary", "calibration_end"), help="also count each customer's purchases after this day (holdout columns)")
    p.add_argument("--occasions", action="store_true",
                   help="summarise in discrete occasions of --time-unit (Y, M, W or D) for BG/BB: frequency, recency, n_periods")
    _input_options(p)
    _common(p)

    p = sub.add_parser("fit", help="summary CSV -> model file", formatter_class=_Formatter,
                       description="Fit one model to a summary CSV and save it (JSON for mle/map, NetCDF for nuts/advi).")
    p.add_argument("summary", metavar="SUMMARY.csv", help="summary CSV (clvmodels summarize)")
    p.add_argument("--model", required=True, type=_model_arg, metavar=_model_keys(),
                   help="registered model to fit (clvmodels.models.registry)")
    p.add_argument("--method", choices=("mle", "nuts", "advi", "map"), default="mle", help="fitting method")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_FILE", help="model file to write (.json for mle/map, .nc for nuts/advi)")
    p.add_argument("--time-unit", help="time unit of the summary, if its file does not say it")
    p.add_argument("--seed", type=_number("", "seed", "int"), default=0, help="seed of the Bayesian fits")
    p.add_argument("--penalty", type=_number("model", "penalty"), default=0.0, help="L2 penalty (mle)")
    p.add_argument("--draws", type=_positive_int, default=1000, help="NUTS draws per chain")
    p.add_argument("--tune", type=_non_negative_int, help="NUTS warm-up per chain (default: the sampler's)")
    p.add_argument("--chains", type=_positive_int, default=4, help="NUTS chains")
    p.add_argument("--target-accept", type=_level, default=0.8, help="NUTS target acceptance rate")
    p.add_argument("--sampler", choices=("auto", "nutpie", "pymc"), default="auto", help="NUTS implementation")
    p.add_argument("--on-nonconvergence", choices=("fail", "warn"), default="fail", help="fail: exit 3 and write nothing; warn: save anyway")
    _common(p)

    p = sub.add_parser("compare", help="summary CSV with a holdout -> model comparison CSV", formatter_class=_Formatter,
                       description="Fit each transactions model to the calibration period of a summary (clvmodels summarize "
                       "--calibration-end) and compare them: log-likelihood, AIC and BIC (LOO for posterior fits) and the holdout "
                       "accuracy, one row per model (clvmodels.compare_models).")
    p.add_argument("summary", metavar="SUMMARY.csv", help="summary CSV with holdout columns (clvmodels summarize --calibration-end)")
    p.add_argument("--models", required=True, type=_model_list, metavar="KEY,KEY,...",
                   help="comma-separated registered transactions models, e.g. bgnbd,pareto-nbd,mbgnbd")
    p.add_argument("--method", choices=("mle", "nuts", "advi", "map"), default="mle", help="fitting method of every model")
    p.add_argument("-o", "--output", required=True, metavar="COMPARISON.csv", help="comparison table to write (CSV)")
    p.add_argument("--time-unit", help="time unit of the summary, if its file does not say it")
    p.add_argument("--ci", type=_number("forecast", "ci"), default=0.9, help="level of the holdout intervals")
    p.add_argument("--seed", type=_number("", "seed", "int"), default=0, help="seed of the holdout evaluation and the Bayesian fits")
    p.add_argument("--penalty", type=_number("model", "penalty"), default=0.0, help="L2 penalty of every model (mle)")
    p.add_argument("--draws", type=_positive_int, default=1000, help="NUTS draws per chain")
    p.add_argument("--tune", type=_non_negative_int, help="NUTS warm-up per chain (default: the sampler's)")
    p.add_argument("--chains", type=_positive_int, default=4, help="NUTS chains")
    p.add_argument("--target-accept", type=_level, default=0.8, help="NUTS target acceptance rate")
    p.add_argument("--sampler", choices=("auto", "nutpie", "pymc"), default="auto", help="NUTS implementation")
    p.add_argument("--on-nonconvergence", choices=("fail", "warn"), default="fail", help="fail: exit 3 and write nothing; warn: compare anyway")
    _common(p)

    p = sub.add_parser("forecast", help="model files + summary CSV -> per-customer predictions CSV", formatter_class=_Formatter,
                       description="Forecast each customer's purchases, and with a spend model their spend and CLV, with intervals.")
    p.add_argument("summary", metavar="SUMMARY.csv", help="summary CSV (clvmodels summarize; with monetary_value for a spend model)")
    p.add_argument("--transaction-model", required=True, metavar="MODEL_FILE", help="fitted transaction model file (clvmodels fit)")
    p.add_argument("--spend-model", metavar="MODEL_FILE", help="fitted spend model file; without it, the forecast is of purchases only (no CLV)")
    p.add_argument("-o", "--output", required=True, metavar="PREDICTIONS.csv", help="predictions file (.csv, or .parquet)")
    p.add_argument("--horizon", required=True, type=_number("forecast", "horizon"), help="forecast length in time units (inf: infinite)")
    p.add_argument("--discount-rate", required=True, type=_number("forecast", "discount_rate"), help="annual discount rate (0.15 for 15%%)")
    p.add_argument("--margin", type=_number("forecast", "margin"), default=1.0, help="share of spend that is profit")
    p.add_argument("--ci", type=_number("forecast", "ci"), default=0.9, help="interval level")
    p.add_argument("--draws", type=_number("forecast", "n_draws", "int"), default=1000, help="parameter draws of each model")
    p.add_argument("--parameter-draws", choices=("auto", "laplace", "bootstrap", "posterior"), default="auto",
                   help="kind of parameter draws: auto (each model's own), laplace, bootstrap (mle refits) or posterior")
    p.add_argument("--seed", type=_number("", "seed", "int"), default=0, help="seed of every random step")
    p.add_argument("--no-predictive", dest="predictive", action="store_false", help="skip the simulated predictive bounds")
    p.add_argument("--discounting", choices=("continuous", "discrete"), default="continuous", help="discounting")
    p.add_argument("--period", type=_number("forecast", "period"), help="period of discrete discounting, in time units")
    p.add_argument("--time-unit", help="time unit of the summary, if its file does not say it")
    p.add_argument("--on-nonconvergence", choices=("fail", "warn"), default="fail", help="a model file that did not converge: fail (exit 3) or warn")
    _common(p)

    p = sub.add_parser("run", help="the whole pipeline from a TOML config", formatter_class=_Formatter,
                       description="Read, summarise, fit, forecast and write predictions, model files, plots and a manifest, "
                       "as a TOML config says (see examples/cdnow.toml); with [input] attributes, [segments], [costs] and "
                       "[model] covariates also a segment table (segments.csv) and CLV net of costs (see examples/apparel_segments.toml).")
    p.add_argument("config", metavar="CONFIG.toml", help="configuration file")
    p.add_argument("--output-dir", help="write here instead of the config's [output] dir")
    p.add_argument("--no-plots", action="store_true", help="skip the plots whatever the config says")
    _common(p)
    return parser


# -- commands ---------------------------------------------------------------------------------------


def _input_config(args: argparse.Namespace) -> Any:
    from .config import InputConfig

    from .pipeline import InputError

    columns = tuple(c.strip() for c in args.columns.split(",")) if args.columns else None
    if not args.header and columns is None:
        raise InputError("--no-header needs --columns naming the file's columns in order (for example --columns customer_id,date,amount)")
    if args.header and columns is not None:
        raise InputError("--columns names the columns of a file without a header line: add --no-header, or drop --columns to use the file's header")
    return InputConfig(
        path=Path(args.transactions), format=args.format, separator=args.sep, decimal=args.decimal, header=args.header,
        columns=columns, encoding=args.encoding, customer_col=args.customer_col, date_col=args.date_col,
        amount_col=None if args.no_amount else args.amount_col, date_format=args.date_format, invalid=args.invalid,
        duplicates=args.duplicates, engine=args.engine, memory_limit=args.memory_limit,
    )


def _check_unit(unit: str | None, flag: str = "--time-unit") -> None:
    from .pipeline import InputError
    from .units import normalize_unit

    if unit is not None:
        try:
            normalize_unit(unit)
        except ValueError as exc:
            raise InputError(f"{flag}: {exc}") from None


def _summarize(args: argparse.Namespace, log: logging.Logger) -> int:
    from .config import SummaryConfig
    from .pipeline import Journal, check_file_writable, read_transactions, shown, summarize, write_summary

    _check_unit(args.time_unit)
    spec = _input_config(args)
    if args.occasions and spec.engine == "auto":  # the summary in occasions is computed by pandas
        import dataclasses

        spec = dataclasses.replace(spec, engine="pandas")
    period = SummaryConfig(time_unit=args.time_unit, resolution=args.resolution, observation_end=args.observation_end,
                           calibration_end=args.calibration_end)
    check_file_writable(args.output, (args.transactions,))
    journal = Journal(log, cli=True)
    with journal.step("read"):
        tx = read_transactions(spec)
    if args.occasions and args.resolution is not None:
        from .pipeline import InputError

        raise InputError("--resolution does not apply to --occasions: transactions merge per occasion (--time-unit)")
    with journal.step("summarize"):
        summary = summarize(tx, spec, period, calibration=args.calibration_end is not None, cli=True, discrete=args.occasions)
    report = summary.attrs.get("report", {})
    dropped = sum((report.get("dropped") or {}).values())
    late = int(report.get("rows_after_observation_end") or 0)
    text = (f"{shown(tx.path)}: {report.get('rows_in', tx.n_rows):,} rows, {report.get('rows_used', 0):,} used, {dropped:,} dropped"
            + (f" ({late:,} after the observation end)" if late else "") + f" -> "
            f"{len(summary):,} customers ({int((summary['frequency'] > 0).sum()):,} with repeat purchases), read by {tx.engine} ({tx.reason})")
    if args.dry_run:
        print(f"would write {shown(args.output)}: {text}")
        return 0
    write_summary(summary, args.output, tx)
    log.info(f"wrote {shown(args.output)}: {text}")
    return 0


def _fit(args: argparse.Namespace, log: logging.Logger) -> int:
    from .config import ModelConfig
    from .pipeline import InputError, Journal, check_converged, check_file_writable, fit_model, fit_text, label, model_class, read_summary, shown

    _check_unit(args.time_unit)
    posterior = args.method in ("nuts", "advi")
    suffix = Path(args.output).suffix.lower()
    if posterior and suffix == ".json":
        raise InputError(f"-o {args.output}: a {args.method} fit holds posterior draws and is saved as NetCDF; use a .nc name")
    if not posterior and suffix in (".nc", ".netcdf", ".h5"):
        raise InputError(f"-o {args.output}: a {args.method} fit is saved as JSON; use a .json name")
    if args.method != "mle" and args.penalty != 0.0:
        raise InputError(f"--penalty applies to --method mle only; with --method {args.method} the priors regularise the fit")
    check_file_writable(args.output, (args.summary,))
    journal = Journal(log, cli=True)
    with journal.step("read"):
        data = read_summary(args.summary, args.time_unit)
    if args.dry_run:
        print(f"would fit {args.model} by {args.method} on {len(data):,} customers of {shown(args.summary)} and write {shown(args.output)}")
        return 0
    role = model_class(args.model).kind
    config = ModelConfig(**{role: args.model}, penalty=args.penalty, draws=args.draws, tune=args.tune, chains=args.chains,
                         target_accept=args.target_accept, sampler=args.sampler)
    settings = config.settings(role, args.seed, _progressbar(args))
    with journal.step("fit"):
        model = fit_model(args.model, data, args.method, settings, shown(args.summary), cli=True)
    log.info(fit_text(label(args.model), model, args.method, "customers" if role == "transactions" else "repeat buyers"))
    check_converged(model, label(args.model), args.on_nonconvergence, log, journal.take_convergence())
    try:
        model.save(args.output)
    except ValueError as exc:
        raise InputError(f"-o {args.output}: {exc}") from None
    log.info(f"wrote {shown(args.output)}")
    return 0


def _compare(args: argparse.Namespace, log: logging.Logger) -> int:
    from .config import ModelConfig
    from .pipeline import InputError, Journal, check_file_writable, compare_transaction_models, label, read_summary, shown

    _check_unit(args.time_unit)
    if args.method != "mle" and args.penalty != 0.0:
        raise InputError(f"--penalty applies to --method mle only; with --method {args.method} the priors regularise the fit")
    check_file_writable(args.output, (args.summary,))
    journal = Journal(log, cli=True)
    with journal.step("read"):
        data = read_summary(args.summary, args.time_unit)
    missing = [c for c in ("frequency_holdout", "duration_holdout") if c not in data.columns]
    if missing:
        raise InputError(f"{shown(args.summary)} has no holdout columns ({', '.join(missing)}): the models are scored on a holdout "
                         "period; make the summary with clvmodels summarize --calibration-end DATE")
    if args.dry_run:
        print(f"would fit {', '.join(args.models)} by {args.method} on {len(data):,} customers of {shown(args.summary)}, "
              f"score them on its holdout and write {shown(args.output)}")
        return 0
    mc = ModelConfig(transactions=args.models, method=args.method, penalty=args.penalty, draws=args.draws, tune=args.tune,
                     chains=args.chains, target_accept=args.target_accept, sampler=args.sampler)
    settings = {key: mc.settings(key, args.seed, _progressbar(args)) for key in args.models}
    rule = "loo" if args.method in ("nuts", "advi") else "bic"
    selection = compare_transaction_models(args.models, data, "holdout", args.method, settings, seed=args.seed, ci=args.ci,
                                           on_nonconvergence=args.on_nonconvergence, journal=journal, source=shown(args.summary),
                                           holdout=True, cli=True)
    try:
        log.info(f"best by {'BIC' if rule == 'bic' else 'elpd_loo'}: {label(selection.comparison.best(rule))}")
    except ValueError:  # posterior fits without a log-likelihood group have no LOO
        pass
    selection.comparison.table.to_csv(args.output, float_format="%.10g", lineterminator="\n")
    log.info(f"wrote {shown(args.output)}: {len(selection.table)} models")
    return 0


_FLAGS = {"horizon": "--horizon", "discount_rate": "--discount-rate", "period": "--period", "discounting": "--discounting",
          "n_draws": "--draws"}


def _cli_terms(problems: list[str]) -> str:
    """The configuration's messages about [forecast] keys in the words of the command line.

    Examples
    --------
    >>> _cli_terms(["[forecast] horizon = inf needs discount_rate >= 0.001; write horizon = inf"])
    '--horizon inf needs --discount-rate >= 0.001; write --horizon inf'
    """
    import re

    def flag(match: re.Match[str]) -> str:
        if not (match.group(1) or match.group(3) or "_" in match.group(2)):
            return match.group(0)  # the word in prose ("a finite horizon"), not the key
        return _FLAGS[match.group(2)] + (" " if match.group(3) else "")

    return re.sub(r"(\[forecast\] )?\b(" + "|".join(_FLAGS) + r")\b( = )?", flag, "; ".join(problems))


def _forecast(args: argparse.Namespace, log: logging.Logger) -> int:
    import math

    from .config import MAX_BOOTSTRAP_DRAWS, forecast_problems
    from .pipeline import (InputError, Journal, _sha256, _window, check_converged, check_file_writable, check_forecast_memory,
                           check_forecast_work, check_time_units, choose_parameter_draws, forecast_log_text, load_model_file,
                           read_summary, run_forecast, shown)
    from .units import normalize_unit

    _check_unit(args.time_unit)
    if (args.discounting == "discrete") != (args.period is not None):
        raise InputError("--discounting discrete needs --period (in time units), and --period applies to discrete discounting only")
    if args.parameter_draws == "bootstrap" and args.draws > MAX_BOOTSTRAP_DRAWS:
        raise InputError(f"--draws {args.draws:,} with --parameter-draws bootstrap would refit each model {args.draws:,} times; use at most {MAX_BOOTSTRAP_DRAWS:,}")
    parquet = Path(args.output).suffix.lower() in (".parquet", ".pq")
    check_file_writable(args.output, (args.summary, args.transaction_model, args.spend_model))
    check_forecast_memory(args.draws, "--draws")
    journal = Journal(log, cli=True)
    with journal.step("read"):
        data = read_summary(args.summary, args.time_unit)
        unit = normalize_unit(data.attrs["time_unit"])
        problems = forecast_problems({"horizon": args.horizon, "discount_rate": args.discount_rate, "discounting": args.discounting,
                                      "period": args.period}, unit)
        if problems:
            raise InputError(_cli_terms(problems))
        tm = load_model_file(args.transaction_model, "transactions")
        sm = load_model_file(args.spend_model, "spend") if args.spend_model is not None else None
    for model, path in ((tm, args.transaction_model), (sm, args.spend_model)):
        if model is not None:
            check_time_units(model, data, shown(path), shown(args.summary))
            check_converged(model, f"the model in {shown(path)}", args.on_nonconvergence, log)
    if sm is not None and "monetary_value" not in data.columns:
        raise InputError(f"{shown(args.summary)} has no monetary_value column, which the spend model needs: summarise with amounts "
                         "(--amount-col), or leave out --spend-model for a forecast of purchases only")
    if args.dry_run:
        print(f"would forecast {len(data):,} customers of {shown(args.summary)} over {args.horizon:g} {data.attrs.get('time_unit')} "
              f"and write {shown(args.output)}" + ("" if sm is not None else " (purchases only: no spend model)"))
        return 0
    models = [m for m in (tm, sm) if m is not None]
    draws, _ = choose_parameter_draws(models, args.parameter_draws, args.on_nonconvergence, log, journal)
    if args.predictive:
        check_forecast_work(tm, data, args.horizon, args.discount_rate, args.draws, unit, cli=True)
    settings = dict(horizon=None if math.isinf(args.horizon) else args.horizon, discount_rate=args.discount_rate,
                    ci=args.ci, n_draws=args.draws, predictive=args.predictive, random_seed=args.seed,
                    discounting=args.discounting, period=args.period, draws=draws)
    if sm is not None:
        settings["margin"] = args.margin
    with journal.step("forecast"):
        result = run_forecast(tm, sm, data, settings, shown(args.summary), cli=True)
        text = forecast_log_text(result, args.horizon, args.discount_rate, unit, args.ci)
    extra = journal.take_convergence()
    if extra:
        log.warning(f"parameter draws: {extra}")
    source = data.attrs.get("source_sha256") or _sha256(Path(args.summary))
    if "observation_end" in data.attrs:
        result.settings.update(_window(data, args.horizon))
    result.settings["input_sha256"] = source
    log.info(text)
    if parquet:
        result.to_parquet(args.output)
    else:
        result.to_csv(args.output)
    log.info(f"wrote {shown(args.output)}: {len(result.frame):,} customers")
    return 0


def _run(args: argparse.Namespace, log: logging.Logger, argv: Sequence[str]) -> int:
    import dataclasses

    from . import __version__
    from .config import load_config
    from .pipeline import run

    config = load_config(args.config)
    if args.output_dir is not None and not args.output_dir.strip():
        from .pipeline import InputError

        raise InputError('--output-dir is empty; give a directory ("." for the current one)')
    if args.output_dir is not None:
        config = dataclasses.replace(config, output=dataclasses.replace(config.output, dir=Path(args.output_dir).absolute()))
    if args.no_plots:
        config = dataclasses.replace(config, output=dataclasses.replace(config.output, plots=False))
    log.info(f"clvmodels {__version__}: run {args.config}" + (" (dry run)" if args.dry_run else ""))
    run(config, log=log, dry_run=args.dry_run, progressbar=_progressbar(args), command=["clvmodels", *argv])
    return 0


def _progressbar(args: argparse.Namespace) -> bool:
    return bool(not args.quiet and getattr(sys.stderr, "isatty", lambda: False)())


# -- main -------------------------------------------------------------------------------------------


def _logger(args: argparse.Namespace) -> tuple[logging.Logger, logging.Handler, bool]:
    log = logging.getLogger(LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, _DATE_FORMAT))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO)
    propagate = log.propagate
    log.propagate = False
    return log, handler, propagate


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit code (the ``clvmodels`` console script).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success, 2 bad input or configuration, 3 a model did not converge, 1 anything else.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    clvmodels ...
    0
    """
    from .config import ConfigError
    from .pipeline import EXIT_ERROR, EXIT_INPUT, RunError, Terminated, on_signal, one_line

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2, printed by argparse)
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_INPUT
    log, handler, propagate = _logger(args)
    commands: dict[str, Callable[[], int]] = {
        "summarize": lambda: _summarize(args, log),
        "fit": lambda: _fit(args, log),
        "compare": lambda: _compare(args, log),
        "forecast": lambda: _forecast(args, log),
        "run": lambda: _run(args, log, argv),
    }
    previous = {}
    if threading.current_thread() is threading.main_thread():  # a scheduler's timeout, or Ctrl-C
        previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        return commands[args.command]()
    except (ConfigError, RunError) as exc:
        code = EXIT_INPUT if isinstance(exc, ConfigError) else exc.exit_code
        _report(log, args, one_line(str(exc)))
        return code
    except (KeyboardInterrupt, Terminated) as exc:
        what = "SIGTERM" if isinstance(exc, Terminated) and exc.signum == signal.SIGTERM else "an interrupt (Ctrl-C)"
        _report(log, args, f"stopped by {what}; outputs are only replaced as a complete set, so they are the previous run's "
                           "or, if it came during the final renames, this run's (manifest.json tells)")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last resort of a batch job: one line, exit 1
        _report(log, args, f"internal error: {type(exc).__name__}: {one_line(str(exc))} (rerun with --debug for the traceback)")
        return EXIT_ERROR
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        log.removeHandler(handler)
        log.propagate = propagate


def _report(log: logging.Logger, args: argparse.Namespace, message: str) -> None:
    log.error(message, exc_info=bool(args.debug))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
