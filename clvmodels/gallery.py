"""Draw every diagnostic plot on CDNOW: ``python -m clvmodels.gallery OUTDIR`` (``make plots``).

Fits BG/NBD and Gamma-Gamma by maximum likelihood on the CDNOW sample (weeks, calibration to
1997-09-30, holdout to 1998-06-30), forecasts CLV over 52 weeks, and writes one PNG per plot of
:mod:`clvmodels.plotting` into OUTDIR, printing each file with its size and drawing time. The
tracking plots need :mod:`clvmodels.tracking`, and the Bayesian ones a NUTS fit
(``BetaGeo().fit(data, method="nuts")``); each is skipped with a note when its part is missing.

Options: ``--only NAME[,NAME...]`` draws some plots only (the names are the file stems),
``--dpi N`` sets the resolution (100), ``--no-bayes`` skips the NUTS fit.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["build", "main"]

CALIBRATION_END = "1997-09-30"
OBSERVATION_END = "1998-06-30"
#: a customer with seven repeat purchases in the calibration period and some in the holdout
HISTORY_CUSTOMER = 6


def _plots(bayes: bool) -> dict[str, Callable[[dict[str, Any]], Any]]:
    from . import plotting as cp

    plots: dict[str, Callable[[dict[str, Any]], Any]] = {
        "calibration_fit": lambda c: cp.plot_calibration_fit(c["bgnbd"], c["data"]),
        "holdout_by_frequency": lambda c: cp.plot_holdout_by_frequency(c["bgnbd"], c["data"], report=c["report"], random_seed=1),
        "interval_calibration": lambda c: cp.plot_interval_calibration(c["bgnbd"], c["data"]),
        "tracking": lambda c: cp.plot_tracking(c["tracking"]),
        "tracking_cumulative": lambda c: cp.plot_cumulative_transactions(c["tracking"]),
        "tracking_weekly": lambda c: cp.plot_period_transactions(c["tracking"]),
        "prob_alive_heatmap": lambda c: cp.plot_prob_alive_heatmap(c["bgnbd"], c["data"]),
        "expected_purchases_heatmap": lambda c: cp.plot_expected_purchases_heatmap(c["bgnbd"], c["data"], t=52),
        "customer_history": lambda c: cp.plot_customer_history(
            c["bgnbd"], c["transactions"], HISTORY_CUSTOMER, observation_end=OBSERVATION_END, calibration_end=CALIBRATION_END
        ),
        "heterogeneity": lambda c: cp.plot_heterogeneity(c["bgnbd"], random_seed=1),
        "spend_distribution": lambda c: cp.plot_spend_distribution(c["spend"], c["data"], currency="$", random_seed=1),
        "frequency_spend": lambda c: cp.plot_frequency_spend(c["data"], currency="$"),
        "clv_distribution": lambda c: cp.plot_clv_distribution(c["forecast"], currency="$"),
        "top_customers": lambda c: cp.plot_top_customers(c["forecast"], n=20, currency="$"),
    }
    if bayes:
        plots.update(
            {
                "bayes_trace": lambda c: cp.plot_trace(c["posterior"]),
                "bayes_rank": lambda c: cp.plot_rank(c["posterior"]),
                "bayes_posterior": lambda c: cp.plot_posterior(
                    c["posterior"], reference=dict(c["bgnbd"].params_), reference_label="maximum-likelihood estimate"
                ),
                "bayes_prior_posterior": lambda c: cp.plot_prior_posterior(c["posterior"]),
            }
        )
    return plots


def _context(names: Iterable[str], bayes: bool, say: Callable[[str], None]) -> dict[str, Any]:
    """Data, fits, forecast, holdout report, tracking table and posterior (only those needed)."""
    from . import BetaGeo, GammaGamma, calibration_holdout_split, evaluate_holdout, forecast
    from .datasets import load_cdnow_sample

    names = set(names)
    tx = load_cdnow_sample()
    data = calibration_holdout_split(
        tx, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END, time_unit="W", amount_col="amount"
    )
    context: dict[str, Any] = {"transactions": tx, "data": data, "bgnbd": BetaGeo().fit(data), "spend": GammaGamma().fit(data)}
    if "holdout_by_frequency" in names:
        context["report"] = evaluate_holdout(context["bgnbd"], data, random_seed=1, warn=False)  # the plot shows the misfit
    if names & {"clv_distribution", "top_customers"}:
        context["forecast"] = forecast(context["bgnbd"], context["spend"], data, horizon=52, discount_rate=0.15, n_draws=500, random_seed=1)
    if any(n.startswith("tracking") for n in names):
        try:
            from .tracking import tracking_forecast
        except ImportError:
            say("skipping the tracking plots: clvmodels.tracking is not available")
        else:
            context["tracking"] = tracking_forecast(
                context["bgnbd"], tx, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END, time_unit="W", random_seed=1
            )
    if bayes and any(n.startswith("bayes") for n in names):
        try:
            context["posterior"] = BetaGeo(random_seed=1).fit(data, method="nuts")
        except (TypeError, ValueError, ImportError) as exc:  # the Bayesian fit is optional here
            say(f"skipping the Bayesian plots: BetaGeo(random_seed=1).fit(data, method='nuts') failed ({type(exc).__name__}: {exc})")
    return context


def _save_png(fig: Any, path: Path, dpi: int) -> None:
    """Write ``fig`` as a palette PNG: the plots use few colours, so 256 lose nothing visible and
    the file is about a third of matplotlib's true-colour PNG."""
    from PIL import Image  # a dependency of matplotlib

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(path, optimize=True)


def build(
    outdir: str | Path,
    *,
    only: Iterable[str] | None = None,
    dpi: int = 100,
    bayes: bool = True,
    say: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Write the gallery's PNGs into ``outdir`` and return them by name.

    Parameters
    ----------
    outdir : path
        Output directory (created).
    only : iterable of str, optional
        Names of the plots to draw (default: all).
    dpi : int
        Resolution of the PNGs.
    bayes : bool
        Fit NUTS for the Bayesian plots (when the Bayesian fit is available).
    say : callable
        Where progress lines go.

    Returns
    -------
    dict
        Plot name to file path, for the plots drawn.
    """
    import matplotlib

    matplotlib.use("Agg")  # a batch job: never open windows
    import matplotlib.pyplot as plt

    plots = _plots(bayes)
    names = list(plots) if only is None else list(only)
    unknown = [n for n in names if n not in plots]
    if unknown:
        raise ValueError(f"unknown plot(s) {unknown}; choose from {list(plots)}.")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    context = _context(names, bayes, say)
    say(f"CDNOW fits and forecasts: {time.perf_counter() - t0:.1f} s")
    written: dict[str, Path] = {}
    for name in names:
        if name.startswith("tracking") and "tracking" not in context:
            continue
        if name.startswith("bayes") and "posterior" not in context:
            continue
        start = time.perf_counter()
        drawn = plots[name](context)
        fig = drawn if isinstance(drawn, matplotlib.figure.Figure) else drawn.figure
        path = outdir / f"{name}.png"
        _save_png(fig, path, dpi)
        plt.close(fig)
        written[name] = path
        say(f"{path}  {path.stat().st_size / 1024:6.1f} KB  {time.perf_counter() - start:5.2f} s")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m clvmodels.gallery OUTDIR [--only ...] [--dpi N] [--no-bayes]``."""
    parser = argparse.ArgumentParser(prog="python -m clvmodels.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", help="directory for the PNG files")
    parser.add_argument("--only", help="comma-separated plot names (file stems)")
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--no-bayes", action="store_true", help="skip the NUTS fit and the Bayesian plots")
    args = parser.parse_args(argv)
    # ArviZ asks for a semibold font that DejaVu lacks; matplotlib's substitute is fine
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    try:
        written = build(args.outdir, only=only, dpi=args.dpi, bayes=not args.no_bayes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(written)} plots in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
