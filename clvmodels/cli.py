"""The ``clvmodels`` command line: parse, call the library, write files.

Commands::

    clvmodels summarize TRANSACTIONS -o SUMMARY.csv --time-unit W [column options]
    clvmodels fit SUMMARY.csv --model bgnbd|gamma-gamma [--method mle|nuts|advi|map] -o MODEL_FILE
    clvmodels forecast SUMMARY.csv --transaction-model BGNBD.json --spend-model GG.json
                       --horizon 52 --discount-rate 0.15 -o PREDICTIONS.csv
    clvmodels run CONFIG.toml [--output-dir DIR]

Every command takes ``--dry-run`` (check the arguments and the input, say what would run, write
nothing), ``--quiet`` (warnings and errors only) and ``--debug`` (debug log, and a traceback with
an error). Logs go to stderr with timestamps; progress bars appear only when stderr is a
terminal.

Exit codes: 0 success; 2 bad input, arguments or configuration, or an output that cannot be
written; 3 a model did not converge (``on_nonconvergence = "fail"``, the default; ``"warn"``
writes the outputs anyway); 1 anything else (including SIGTERM or Ctrl-C, or another run holding
the output directory). An error is one line on stderr that names the file, the column, the
number of rows and the fix; nothing is written by a command that fails.

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``clvmodels`` (all subcommands)."""
    from . import __version__

    parser = _Parser(
        prog="clvmodels",
        description="Customer-lifetime-value forecasts from a transaction log: BG/NBD and Gamma-Gamma models.",
        epilog="Exit codes: 0 ok, 2 bad input or configuration, 3 a model did not converge, 1 anything else. "
        "See the README's 'Command line' section.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"clvmodels {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("summarize", help="transaction log -> per-customer summary CSV", formatter_class=_Formatter,
                       description="Summarise a transaction log into frequency, recency, T and monetary_value per customer.")
    p.add_argument("transactions", metavar="TRANSACTIONS", help="transaction file (CSV or Parquet)")
    p.add_argument("-o", "--output", required=True, metavar="SUMMARY.csv", help="summary CSV to write")
    p.add_argument("--time-unit", required=True, help="unit of recency and T: h, D, W, M (30.4375 days) or Y (365.25 days)")
    p.add_argument("--resolution", choices=("D", "h"), help="period in which a customer's purchases merge (default: D, or h for hourly units)")
    p.add_argument("--observation-end", type=_checked("summary", "observation_end"), help="last day observed (default: the last purchase date)")
    p.add_argument("--calibration-end", type=_checked("summary", "calibration_end"), help="also count each customer's purchases after this day (holdout columns)")
    _input_options(p)
    _common(p)

    p = sub.add_parser("fit", help="summary CSV -> model file", formatter_class=_Formatter,
                       description="Fit one model to a summary CSV and save it (JSON for mle/map, NetCDF for nuts/advi).")
    p.add_argument("summary", metavar="SUMMARY.csv", help="summary CSV (clvmodels summarize)")
    p.add_argument("--model", required=True, choices=("bgnbd", "gamma-gamma"), help="model to fit")
    p.add_argument("--method", choices=("mle", "nuts", "advi", "map"), default="mle", help="fitting method")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_FILE", help="model file to write (.json for mle/map, .nc for nuts/advi)")
    p.add_argument("--time-unit", help="time unit of the summary, if its file does not say it")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the Bayesian fits")
    p.add_argument("--penalty", type=float, default=0.0, help="L2 penalty (mle)")
    p.add_argument("--draws", type=_positive_int, default=1000, help="NUTS draws per chain")
    p.add_argument("--tune", type=_non_negative_int, help="NUTS warm-up per chain (default: the sampler's)")
    p.add_argument("--chains", type=_positive_int, default=4, help="NUTS chains")
    p.add_argument("--target-accept", type=_level, default=0.8, help="NUTS target acceptance rate")
    p.add_argument("--sampler", choices=("auto", "nutpie", "pymc"), default="auto", help="NUTS implementation")
    p.add_argument("--on-nonconvergence", choices=("fail", "warn"), default="fail", help="fail: exit 3 and write nothing; warn: save anyway")
    _common(p)

    p = sub.add_parser("forecast", help="model files + summary CSV -> per-customer predictions CSV", formatter_class=_Formatter,
                       description="Forecast each customer's purchases, spend and CLV with intervals.")
    p.add_argument("summary", metavar="SUMMARY.csv", help="summary CSV with monetary_value (clvmodels summarize)")
    p.add_argument("--transaction-model", required=True, metavar="BGNBD_FILE", help="fitted BG/NBD model file")
    p.add_argument("--spend-model", required=True, metavar="GAMMA_GAMMA_FILE", help="fitted Gamma-Gamma model file")
    p.add_argument("-o", "--output", required=True, metavar="PREDICTIONS.csv", help="predictions file (.csv, or .parquet)")
    p.add_argument("--horizon", required=True, type=float, help="forecast length in time units (inf: infinite)")
    p.add_argument("--discount-rate", required=True, type=float, help="annual discount rate (0.15 for 15%%)")
    p.add_argument("--margin", type=float, default=1.0, help="share of spend that is profit")
    p.add_argument("--ci", type=_level, default=0.9, help="interval level")
    p.add_argument("--draws", type=_positive_int, default=1000, help="parameter draws of each model")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of every random step")
    p.add_argument("--no-predictive", dest="predictive", action="store_false", help="skip the simulated predictive bounds")
    p.add_argument("--discounting", choices=("continuous", "discrete"), default="continuous", help="discounting")
    p.add_argument("--period", type=float, help="period of discrete discounting, in time units")
    p.add_argument("--time-unit", help="time unit of the summary, if its file does not say it")
    p.add_argument("--on-nonconvergence", choices=("fail", "warn"), default="fail", help="a model file that did not converge: fail (exit 3) or warn")
    _common(p)

    p = sub.add_parser("run", help="the whole pipeline from a TOML config", formatter_class=_Formatter,
                       description="Read, summarise, fit, forecast and write predictions, model files, plots and a manifest, "
                       "as a TOML config says (see examples/cdnow.toml).")
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
        duplicates=args.duplicates,
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
    period = SummaryConfig(time_unit=args.time_unit, resolution=args.resolution, observation_end=args.observation_end,
                           calibration_end=args.calibration_end)
    check_file_writable(args.output)
    journal = Journal(log)
    with journal.step("read"):
        tx = read_transactions(spec)
    with journal.step("summarize"):
        summary = summarize(tx, spec, period, calibration=args.calibration_end is not None)
    report = summary.attrs.get("report", {})
    dropped = sum((report.get("dropped") or {}).values())
    text = (f"{shown(tx.path)}: {len(tx.frame):,} rows, {report.get('rows_used', 0):,} used, {dropped:,} dropped -> "
            f"{len(summary):,} customers ({int((summary['frequency'] > 0).sum()):,} with repeat purchases)")
    if args.dry_run:
        print(f"would write {shown(args.output)}: {text}")
        return 0
    write_summary(summary, args.output, tx)
    log.info(f"wrote {shown(args.output)}: {text}")
    return 0


def _fit(args: argparse.Namespace, log: logging.Logger) -> int:
    from .config import ModelConfig
    from .pipeline import InputError, Journal, check_converged, check_file_writable, fit_model, read_summary, shown

    _check_unit(args.time_unit)
    posterior = args.method in ("nuts", "advi")
    suffix = Path(args.output).suffix.lower()
    if posterior and suffix == ".json":
        raise InputError(f"-o {args.output}: a {args.method} fit holds posterior draws and is saved as NetCDF; use a .nc name")
    if not posterior and suffix in (".nc", ".netcdf", ".h5"):
        raise InputError(f"-o {args.output}: a {args.method} fit is saved as JSON; use a .json name")
    if args.method != "mle" and args.penalty != 0.0:
        raise InputError(f"--penalty applies to --method mle only; with --method {args.method} the priors regularise the fit")
    check_file_writable(args.output)
    journal = Journal(log)
    with journal.step("read"):
        data = read_summary(args.summary, args.time_unit)
    if args.dry_run:
        print(f"would fit {args.model} by {args.method} on {len(data):,} customers of {shown(args.summary)} and write {shown(args.output)}")
        return 0
    settings = ModelConfig(penalty=args.penalty, draws=args.draws, tune=args.tune, chains=args.chains,
                           target_accept=args.target_accept, sampler=args.sampler).settings(args.model, args.seed, _progressbar(args))
    with journal.step("fit"):
        model = fit_model(args.model, data, args.method, settings, shown(args.summary))
    from .pipeline import LABELS, fit_text

    log.info(fit_text(LABELS[args.model], model, args.method, "customers"))
    check_converged(model, LABELS[args.model], args.on_nonconvergence, log, journal.take_convergence())
    try:
        model.save(args.output)
    except ValueError as exc:
        raise InputError(f"-o {args.output}: {exc}") from None
    log.info(f"wrote {shown(args.output)}")
    return 0


def _forecast(args: argparse.Namespace, log: logging.Logger) -> int:
    import math

    from .pipeline import InputError, Journal, check_converged, check_file_writable, load_model_file, read_summary, run_forecast, shown

    _check_unit(args.time_unit)
    if not args.horizon > 0:
        raise InputError(f"--horizon must be positive (inf for the infinite horizon), got {args.horizon}")
    if not (math.isfinite(args.discount_rate) and args.discount_rate > -1):
        raise InputError(f"--discount-rate must be an annual rate above -1 (0.15 for 15%), got {args.discount_rate}")
    if not (math.isfinite(args.margin) and args.margin > 0):
        raise InputError(f"--margin must be positive (1 for revenue), got {args.margin}")
    if (args.discounting == "discrete") != (args.period is not None):
        raise InputError("--discounting discrete needs --period (in time units), and --period applies to discrete discounting only")
    if args.period is not None and not args.period > 0:
        raise InputError(f"--period must be positive, got {args.period}")
    parquet = Path(args.output).suffix.lower() in (".parquet", ".pq")
    check_file_writable(args.output)
    journal = Journal(log)
    with journal.step("read"):
        data = read_summary(args.summary, args.time_unit)
        bg = load_model_file(args.transaction_model, "bgnbd")
        gg = load_model_file(args.spend_model, "gamma-gamma")
    for model, label in ((bg, f"the model in {shown(args.transaction_model)}"), (gg, f"the model in {shown(args.spend_model)}")):
        check_converged(model, label, args.on_nonconvergence, log)
    if args.dry_run:
        print(f"would forecast {len(data):,} customers of {shown(args.summary)} over {args.horizon:g} {data.attrs.get('time_unit')} "
              f"and write {shown(args.output)}")
        return 0
    settings = dict(horizon=None if math.isinf(args.horizon) else args.horizon, discount_rate=args.discount_rate, margin=args.margin,
                    ci=args.ci, n_draws=args.draws, predictive=args.predictive, random_seed=args.seed,
                    discounting=args.discounting, period=args.period)
    with journal.step("forecast"):
        result = run_forecast(bg, gg, data, settings, shown(args.summary))
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
