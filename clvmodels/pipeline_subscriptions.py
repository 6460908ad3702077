"""The batch job of a subscription log (``[input] kind = "subscriptions"``): read, summarise,
fit the retention model, value each active subscriber, write.

``clvmodels run config.toml`` comes here when the config's ``[input] kind`` is
``"subscriptions"``: the file has one row per subscription (``[input] customer_col``,
``start_col``, ``end_col``, optionally ``price_col``), ``[summary] time_unit`` is the billing
period and ``observation_end`` the last day observed. The job

1. summarises the log into renewals survived and churn per subscriber
   (:func:`clvmodels.subscription_summary`; bad input is an error naming the column, the number
   of rows and the fix, exit code 2);
2. fits ``[model] retention`` (the shifted-beta-geometric, ``"sbg"``) by ``[model] method``;
   a fit that does not converge follows ``on_nonconvergence`` (exit code 3);
3. values every active subscriber (:func:`clvmodels.forecast_subscribers`): the discounted
   expected residual lifetime (DERL) given the renewals made, times the margin per period
   (``[forecast] margin`` times the price with ``price_col``, else ``margin`` itself), with
   credible and predictive bounds, over ``[forecast] horizon`` periods (``inf``: all);
4. writes, atomically, ``predictions.csv`` (one row per active subscriber, with its cohort),
   ``cohorts.csv`` (each start cohort's survivors at the start of each period, right-censored
   cells empty), the model file, ``manifest.json`` and, with ``[output] plots``, the survival
   projection of the oldest cohort against its actual counts and DERL by renewals.

With ``[summary] calibration_end`` the model is also fitted to the log as it stood then and
scored on the renewals after it (:func:`clvmodels.evaluate_subscriber_holdout`):
``holdout_by_cohort.csv`` and the manifest's ``holdout`` (a failed holdout is a warning in plain
words, listed in the manifest).

The outputs follow the transaction job's rules (:mod:`clvmodels.pipeline`): staged and committed
at the end, only files a clvmodels run wrote are replaced, the input and the config never.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np
import pandas as pd

from .config import RunConfig
from .pipeline import (
    MANIFEST,
    PLOTS,
    PREDICTIONS,
    InputError,
    Journal,
    StagedOutput,
    _check_outside,
    _model_file,
    _model_record,
    check_converged,
    check_forecast_memory,
    check_writable,
    choose_parameter_draws,
    save_plots,
    config_terms,
    fit_model,
    label,
    manifest_head,
    one_line,
    package_versions,
    read_transactions,
    shown,
    write_json,
)

__all__ = ["run_subscriptions", "COHORTS", "HOLDOUT_COHORTS"]

COHORTS = "cohorts.csv"
HOLDOUT_COHORTS = "holdout_by_cohort.csv"
_PERIODS = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}


def summarize_subscriptions(config: RunConfig, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The per-subscriber summary of the log (:func:`clvmodels.subscription_summary`); its errors
    (naming the column, the rows and the fix) become an :class:`InputError` naming the file."""
    from .subscriptions import subscription_summary

    spec, period = config.input, config.summary
    try:
        return subscription_summary(
            frame, customer_col=spec.customer_col, start_col=spec.start_col, end_col=spec.end_col, period=period.time_unit,
            observation_end=period.observation_end, price_col=spec.price_col, date_format=spec.date_format, invalid=spec.invalid,
        )
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: {config_terms(one_line(str(exc)))}") from exc


def draw_subscriber_plots(model: Any, summary: pd.DataFrame, cohorts: pd.DataFrame, fc: Any, seed: int,
                          folder: Callable[[str], Any], journal: Journal) -> list[str]:
    """The survival projection of the oldest cohort against its actual counts, and DERL (value)
    by renewals; a plot that fails is a warning, not a failure of the run."""
    from . import plotting as cp

    periods = [c for c in cohorts.columns if isinstance(c, (int, np.integer))]
    oldest = cohorts.iloc[0]
    observed = np.array([oldest[c] for c in periods if pd.notna(oldest[c])], dtype=np.float64)
    plots: dict[str, Callable[[], Any]] = {
        "derl_by_renewals": lambda: cp.plot_derl_by_renewals(model, discount_rate=fc.discount_rate,
                                                             horizon=None if math.isinf(fc.horizon) else int(fc.horizon), random_seed=seed),
    }
    if len(observed) >= 2:
        plots["survival_projection"] = lambda: cp.plot_survival_projection(
            model, observed, periods=np.arange(max(len(observed) + 6, 13)), fitted_periods=len(observed) - 1, random_seed=seed)
    return save_plots(plots, folder, journal)


def run_subscriptions(
    config: RunConfig,
    *,
    log: logging.Logger,
    dry_run: bool = False,
    progressbar: bool = False,
    command: list[str] | None = None,
    out: Callable[[str], Any] = print,
) -> dict[str, Any] | None:
    """The job of a subscription log (see the module docstring); the arguments and the return
    value are those of :func:`clvmodels.pipeline.run`."""
    import dataclasses

    from .subscriber_forecast import forecast_subscribers
    from .subscriber_holdout import evaluate_subscriber_holdout
    from .subscriptions import cohort_survivors

    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    journal = Journal(log)
    spec, period, fc, mc = config.input, config.summary, config.forecast, config.model
    source = shown(spec.path)
    check_writable(config.output.dir)
    check_forecast_memory(fc.n_draws)
    if spec.engine == "auto":  # a subscription log is summarised by pandas
        spec = dataclasses.replace(spec, engine="pandas")
    with journal.step("read"):
        tx = read_transactions(spec)
    _check_outside(tx, config.output.dir)
    log.info(f"read {source} with pandas: {len(tx.frame):,} rows, {tx.n_bytes:,} bytes, sha256 {tx.sha256[:16]}...")
    with journal.step("summarize"):
        summary = summarize_subscriptions(config, tx.frame, source)
    report = summary.attrs.get("report", {})
    unit = summary.attrs["time_unit"]
    active = int((~summary["churned"].astype(bool) & ~summary["cancelled"].astype(bool)).sum())
    log.info(f"subscriptions to {str(summary.attrs['observation_end'])[:10]} in {_PERIODS.get(unit, unit)}: {len(summary):,} subscribers, "
             f"{int(summary['churned'].sum()):,} churned, {active:,} active; {report.get('rows_used', len(tx.frame)):,} rows used")
    key = mc.retention
    settings = mc.settings(key, config.seed, progressbar)
    file = _model_file(key, mc.method)
    if dry_run:
        out(f"would fit {label(key)} ({mc.method}) to {len(summary):,} subscribers of {source} and value the {active:,} active ones "
            f"over {'all future periods' if math.isinf(fc.horizon) else f'{fc.horizon:g} {_PERIODS.get(unit, unit)}'} "
            f"at {fc.discount_rate:.1%} a year; would write {PREDICTIONS}, {COHORTS}, {file} and {MANIFEST} to {shown(config.output.dir)}")
        return None

    with StagedOutput(config.output.dir, protect=(tx.path, config.path)) as staged:
        staged.check_replaceable([PREDICTIONS, COHORTS, MANIFEST, file, *([HOLDOUT_COHORTS] if period.calibration_end else [])])
        holdout = None
        if period.calibration_end is not None:
            from .exceptions import StatisticalWarning

            calibration_config = dataclasses.replace(config, summary=dataclasses.replace(period, observation_end=period.calibration_end))
            with journal.step("holdout"):
                calibration = summarize_subscriptions(calibration_config, tx.frame, source)
                hold_model = fit_model(key, calibration, mc.method, settings, source)
            check_converged(hold_model, f"{label(key)} fitted to calibration_end", config.on_nonconvergence, log, journal.take_convergence(), cli=False)
            with journal.step("holdout"):
                try:
                    holdout = evaluate_subscriber_holdout(
                        hold_model, tx.frame, calibration_end=period.calibration_end, observation_end=summary.attrs["observation_end"],
                        ci=fc.ci, n_draws=fc.n_draws, random_seed=config.seed, customer_col=spec.customer_col, start_col=spec.start_col,
                        end_col=spec.end_col, period=period.time_unit, date_format=spec.date_format, invalid=spec.invalid,
                        calibration=calibration, observation=summary,
                    )
                except (ValueError, TypeError) as exc:
                    raise InputError(f"{source}: {config_terms(one_line(str(exc)))}") from exc
                holdout.by_cohort.to_csv(staged.path(HOLDOUT_COHORTS), float_format="%.10g", lineterminator="\n")
                if not holdout.passed:  # a verdict, not an error: logged and listed in the manifest's warnings
                    warnings.warn(holdout.verdict["message"], StatisticalWarning, stacklevel=2)
            log.info(holdout.verdict["message"])
        with journal.step("fit_retention"):
            model = fit_model(key, summary, mc.method, settings, source)
        log.info(f"{label(key)} fitted ({mc.method}) to {model.n_customers_:,} subscribers: "
                 + ", ".join(f"{k} = {v:.4g}" for k, v in model.params_.items()))
        check_converged(model, label(key), config.on_nonconvergence, log, journal.take_convergence(), cli=False)
        draws, draws_note = choose_parameter_draws([model], fc.parameter_draws, config.on_nonconvergence, log, journal)
        data = summary.copy()  # forecast_subscribers drops the churned and the cancelled
        margin: float | str = fc.margin
        if spec.price_col is not None:  # the margin per period: the share of each subscriber's price
            data["margin"] = fc.margin * data["price"].to_numpy(dtype=np.float64)
            margin = "margin"
        with journal.step("forecast"):
            result = forecast_subscribers(
                model, data, margin=margin, discount_rate=fc.discount_rate, horizon=None if math.isinf(fc.horizon) else int(fc.horizon),
                ci=fc.ci, n_draws=fc.n_draws, predictive=fc.predictive, random_seed=config.seed, draws=draws,
            )
        frame = result.frame
        frame.insert(0, "cohort", summary.loc[frame.index, "cohort"].astype(str).to_numpy())
        cohort_total = result.summary()
        with journal.step("cohorts"):
            cohorts = cohort_survivors(summary)
        total = cohort_total.loc["clv"] if "clv" in cohort_total.index else None
        if total is not None:
            log.info(f"residual value of the {len(frame):,} active subscribers: {total['estimate']:,.2f} "
                     f"({fc.ci:.0%} interval {total['lower']:,.2f} to {total['upper']:,.2f})")
        with journal.step("write"):
            result.to_csv(staged.path(PREDICTIONS))
            cohorts.to_csv(staged.path(COHORTS), lineterminator="\n")
            model.save(staged.path(file))
            record = _model_record(model, mc.method, file, fc.ci, f"observation period to {summary.attrs['observation_end']}", settings)
        plots: list[str] = []
        if config.output.plots:
            with journal.step("plots"):
                plots = draw_subscriber_plots(model, summary, cohorts, fc, config.seed, staged.path, journal)
            log.info(f"drew {len(plots)} plots")
        journal.timings["total"] = round(time.perf_counter() - t0, 4)
        manifest = {
            **manifest_head(config, command, started),
            "input": {
                "kind": "subscriptions",
                "path": str(tx.path),
                "format": tx.format,
                "compression": tx.compression,
                "bytes": tx.n_bytes,
                "sha256": tx.sha256,
                "rows_read": report.get("rows_in", len(tx.frame)),
                "rows_used": report.get("rows_used"),
                "report": report,
                "subscribers": len(summary),
                "churned": int(summary["churned"].sum()),
                "active": len(frame),
            },
            "summary": {k: summary.attrs.get(k) for k in ("time_unit", "observation_end", "censoring")},
            "models": {"retention": record},
            "holdout": None if holdout is None else {
                **holdout.verdict, "by_cohort_file": HOLDOUT_COHORTS,
                "retention_model": _model_record(hold_model, mc.method, None, fc.ci, f"calibration period to {period.calibration_end}"),
            },
            "forecast": {
                "kind": "subscribers",
                "settings": result.settings,
                "parameter_draws": draws or "model default",
                "parameter_draws_note": draws_note,
                "subscribers": len(frame),
                "columns": [frame.index.name, *frame.columns],
                "cohort": cohort_total,
            },
            "on_nonconvergence": config.on_nonconvergence,
            "converged": bool(model.converged_) and (holdout is None or bool(hold_model.converged_)),
            "not_converged": ([] if model.converged_ else [label(key)])
            + ([f"{label(key)} fitted to calibration_end"] if holdout is not None and not hold_model.converged_ else []),
            "warnings": journal.warnings,
            "outputs": staged.describe(),
            "plots": plots,
            "versions": package_versions(),
            "timings_seconds": journal.timings,
        }
        with warnings.catch_warnings():
            write_json(staged.path(MANIFEST), manifest)
        staged.commit()
    log.info(f"wrote {PREDICTIONS} ({len(frame):,} active subscribers), {COHORTS}, {file}"
             + (f", {HOLDOUT_COHORTS}" if holdout is not None else "")
             + (f", {len(plots)} plots in {PLOTS}/" if plots else "") + f" and {MANIFEST} to {shown(config.output.dir)} "
             f"in {time.perf_counter() - t0:.1f} s")
    return manifest
