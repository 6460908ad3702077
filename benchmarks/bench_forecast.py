"""Forecasts with intervals: ``clvmodels.forecast`` against lifetimes' CLV looped over draws.

lifetimes gives one point CLV per call; an analyst who wants intervals from it has to loop
over parameter draws. The reference side does that for a few of the same Laplace draws and its
time is extrapolated linearly to the full number (``theirs_scale``). clvmodels does the whole
job in one call: P(alive), expected purchases, spend and continuously discounted CLV with
credible bounds over the draws, and predictive bounds from one simulated future per draw.

Goals (issue 3): CDNOW (2,357 customers) with 2,000 draws under 0.5 s; 1M customers with
1,000 draws under 60 s and 2 GB. With the ``bench`` extra installed, also against
pymc-marketing's ``expected_customer_lifetime_value`` over the same draws.
"""

from __future__ import annotations

import functools
from typing import Any

import lifetimes
import numpy as np
import pandas as pd

import clvmodels
from bench_fit import cdnow_split, simulated_daily
from clvmodels.models import gamma_gamma as gg
from harness import Benchmark, Case, Check

#: Gamma-Gamma parameters of the simulated spend.
SIM_SPEND = {"p": 6.0, "q": 4.0, "gamma": 15.0}


@functools.cache
def fitted_cdnow() -> tuple[pd.DataFrame, clvmodels.BetaGeo, clvmodels.GammaGamma]:
    data = cdnow_split()
    return data, clvmodels.BetaGeo().fit(data), clvmodels.GammaGamma().fit(data)


def _lifetimes_fitters(bg_params: pd.Series, gg_params: pd.Series) -> tuple[lifetimes.BetaGeoFitter, lifetimes.GammaGammaFitter]:
    transactions = lifetimes.BetaGeoFitter()
    transactions.params_ = pd.Series(bg_params[["r", "alpha", "a", "b"]].to_numpy(), index=["r", "alpha", "a", "b"])
    transactions.predict = transactions.conditional_expected_number_of_purchases_up_to_time
    spend = lifetimes.GammaGammaFitter()
    spend.params_ = pd.Series(gg_params[["p", "q", "gamma"]].to_numpy(), index=["p", "q", "v"])
    return transactions, spend


def _lifetimes_over_draws(data: pd.DataFrame, bg_draws: pd.DataFrame, gg_draws: pd.DataFrame, freq: str) -> np.ndarray:
    """What a lifetimes user does for intervals: one ``customer_lifetime_value`` per draw."""
    columns = [data[c] for c in ("frequency", "recency", "T", "monetary_value")]
    values = []
    for i in range(len(bg_draws)):
        transactions, spend = _lifetimes_fitters(bg_draws.iloc[i], gg_draws.iloc[i])
        values.append(spend.customer_lifetime_value(transactions, *columns, time=12, discount_rate=0.01, freq=freq).to_numpy())
    return np.array(values)


def _point_parity(data: pd.DataFrame, transactions: clvmodels.BetaGeo, spend: clvmodels.GammaGamma, freq: str) -> Check:
    """Our discrete-mode CLV at the MLE against lifetimes' at the same parameters.

    lifetimes' months are 30 days (``freq="D"``) or 4.345 weeks (``freq="W"``).
    """
    monthly = 0.01
    units_per_month, unit_days = {"D": (30.0, 1.0), "W": (4.345, 7.0)}[freq]
    annual = (1 + monthly) ** (365.25 / (units_per_month * unit_days)) - 1
    ours = clvmodels.forecast(
        transactions, spend, data, horizon=12 * units_per_month, discount_rate=annual, discounting="discrete",
        period=units_per_month, n_draws=10, random_seed=0, predictive=False, time_unit=freq,
    ).frame["clv"].to_numpy()
    reference_bg, reference_gg = _lifetimes_fitters(transactions.params_, spend.params_)
    theirs = reference_gg.customer_lifetime_value(
        reference_bg, *(data[c] for c in ("frequency", "recency", "T", "monetary_value")), time=12, discount_rate=monthly, freq=freq
    ).to_numpy()
    rel = float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))
    return Check(rel < 1e-6, f"point CLV (lifetimes' discrete convention) max rel. diff {rel:.1e}")


def _describe(result: clvmodels.Forecast) -> list[str]:
    table = result.frame
    summary = result.summary()
    return [
        f"cohort CLV {summary.loc['clv', 'estimate']:,.0f} "
        f"({result.settings['ci']:.0%} credible {summary.loc['clv', 'lower']:,.0f} to {summary.loc['clv', 'upper']:,.0f})",
        f"customers whose CLV lies inside its predictive interval bounds: "
        f"{((table['clv_pred_lower'] <= table['clv']) & (table['clv'] <= table['clv_pred_upper'])).mean():.1%}",
    ]


def prepare_forecast_cdnow(quick: bool, predictive: bool = True) -> Case:
    data, transactions, spend = fitted_cdnow()
    n_draws, n_reference = 2000, (10 if quick else 20)
    bg_draws = transactions.sample_params(n_reference, random_seed=1)
    gg_draws = spend.sample_params(n_reference, random_seed=2)

    def ours() -> clvmodels.Forecast:
        return clvmodels.forecast(
            transactions, spend, data, horizon=52, discount_rate=0.15, n_draws=n_draws, random_seed=1, predictive=predictive
        )

    def check(result: clvmodels.Forecast, theirs: np.ndarray) -> Check:
        parity = _point_parity(data, transactions, spend, "W")
        details = [*_describe(result)] if predictive else []
        details.append(f"lifetimes over {len(theirs)} draws: cohort CLV {np.median(theirs.sum(axis=1)):,.0f} (median over draws, discrete months)")
        return Check(parity.ok and result.frame.notna().all().all(), parity.summary, details)

    label = "with predictive bounds" if predictive else "credible bounds only"
    return Case(
        f"forecast, CDNOW ({len(data):,} customers, {n_draws:,} draws, {label})",
        ours=ours,
        theirs=lambda: _lifetimes_over_draws(data, bg_draws, gg_draws, "W"),
        check=check,
        repeats=3 if quick else 7,
        theirs_scale=n_draws / n_reference,
    )


def prepare_forecast_cdnow_credible(quick: bool) -> Case:
    return prepare_forecast_cdnow(quick, predictive=False)


@functools.cache
def fitted_simulated(n_customers: int) -> tuple[pd.DataFrame, clvmodels.BetaGeo, clvmodels.GammaGamma]:
    data = simulated_daily(n_customers)
    data["monetary_value"] = gg.simulate(SIM_SPEND, data["frequency"], random_seed=7)["monetary_value"].to_numpy()
    data.attrs["time_unit"] = "D"
    return data, clvmodels.BetaGeo().fit(data), clvmodels.GammaGamma().fit(data)


def prepare_forecast_simulated(quick: bool) -> Case:
    n = 100_000 if quick else 1_000_000
    data, transactions, spend = fitted_simulated(n)
    n_draws, n_reference = 1000, 2
    bg_draws = transactions.sample_params(n_reference, random_seed=1)
    gg_draws = spend.sample_params(n_reference, random_seed=2)

    def ours() -> clvmodels.Forecast:
        return clvmodels.forecast(transactions, spend, data, horizon=365, discount_rate=0.15, n_draws=n_draws, random_seed=1)

    def check(result: clvmodels.Forecast, theirs: np.ndarray) -> Check:
        sample = data.iloc[:20_000]
        parity = _point_parity(sample, transactions, spend, "D")
        return Check(parity.ok and result.frame.notna().all().all(), parity.summary + " (first 20k customers)", _describe(result))

    label = "100k" if quick else "1M"
    return Case(
        f"forecast, {label} customers, daily ({n_draws:,} draws, with predictive bounds)",
        ours=ours,
        theirs=lambda: _lifetimes_over_draws(data, bg_draws, gg_draws, "D"),
        check=check,
        repeats=1,
        theirs_scale=n_draws / n_reference,
        measure_memory=True,
    )


def _pymc_marketing_models(data: pd.DataFrame, bg_draws: pd.DataFrame, gg_draws: pd.DataFrame) -> tuple[Any, Any, pd.DataFrame]:
    """pymc-marketing's BetaGeoModel and GammaGammaModel holding the given draws as their posterior."""
    import arviz as az
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    frame = data.rename_axis("customer_id").reset_index()[["customer_id", "frequency", "recency", "T", "monetary_value"]]
    transactions = BetaGeoModel(data=frame[["customer_id", "frequency", "recency", "T"]])
    transactions.build_model()
    transactions.idata = az.from_dict(posterior={k: bg_draws[k].to_numpy()[None, :] for k in ("r", "alpha", "a", "b")})
    spend = GammaGammaModel(data=frame[["customer_id", "frequency", "monetary_value"]])
    spend.build_model()
    spend.idata = az.from_dict(posterior={k: gg_draws[g].to_numpy()[None, :] for k, g in (("p", "p"), ("q", "q"), ("v", "gamma"))})
    return transactions, spend, frame


def prepare_forecast_pymc_marketing(quick: bool) -> Case:
    """Against pymc-marketing's ``expected_customer_lifetime_value`` over the same number of draws.

    pymc-marketing's models are given our Laplace draws as their posterior (no sampling is
    timed); its CLV steps through months of 4.345 weeks (lifetimes' convention) and keeps
    only the mean spend per draw. The agreement check runs both at the MLE alone.
    """
    data, transactions, spend = fitted_cdnow()
    n_draws = 500 if quick else 2000
    bg_draws = transactions.sample_params(n_draws, random_seed=1)
    gg_draws = spend.sample_params(n_draws, random_seed=2)
    theirs_bg, theirs_gg, frame = _pymc_marketing_models(data, bg_draws, gg_draws)

    def theirs() -> Any:
        return theirs_gg.expected_customer_lifetime_value(
            transaction_model=theirs_bg, data=frame, future_t=12, discount_rate=0.01, time_unit="W"
        )

    def check(result: clvmodels.Forecast, clv: Any) -> Check:
        point_bg, point_gg, _ = _pymc_marketing_models(
            data, transactions.params_.to_frame().T, spend.params_.to_frame().T
        )
        theirs_point = point_gg.expected_customer_lifetime_value(
            transaction_model=point_bg, data=frame, future_t=12, discount_rate=0.01, time_unit="W"
        ).values.ravel()
        annual = 1.01 ** (365.25 / (4.345 * 7)) - 1
        ours_point = clvmodels.forecast(
            transactions, spend, data, horizon=12 * 4.345, discount_rate=annual, discounting="discrete",
            period=4.345, n_draws=10, random_seed=0, predictive=False,
        ).frame["clv"].to_numpy()
        rel = float(np.max(np.abs(ours_point - theirs_point) / np.maximum(np.abs(theirs_point), 1e-12)))
        details = [
            f"pymc-marketing over {n_draws:,} draws: cohort CLV {float(clv.mean(('chain', 'draw')).sum()):,.0f} "
            f"(discrete months, mean spend only); clvmodels: {result.summary().loc['clv', 'estimate']:,.0f} "
            "(continuous discounting, 52 weeks)",
        ]
        return Check(rel < 1e-6, f"point CLV at the MLE (discrete months) max rel. diff {rel:.1e}", details)

    return Case(
        f"forecast, CDNOW ({len(data):,} customers, {n_draws:,} draws) vs pymc-marketing",
        ours=lambda: clvmodels.forecast(transactions, spend, data, horizon=52, discount_rate=0.15, n_draws=n_draws, random_seed=1),
        theirs=theirs,
        check=check,
        repeats=2 if quick else 3,
        reference="pymc-marketing",
    )


def _pymc_marketing_installed() -> bool:
    try:
        import pymc_marketing  # noqa: F401
    except ImportError:
        return False
    return True


def prepare_forecast_family(quick: bool, key: str = "pareto-nbd") -> Case:
    """Another transaction model's full forecast on CDNOW (2,000 draws, predictive bounds)
    against the BG/NBD's in the same process: the model family must not cost more than 2x."""
    data, transactions, spend = fitted_cdnow()
    other = clvmodels.model_class(key)().fit(data)
    n_draws = 2000

    def run(model: Any) -> clvmodels.Forecast:
        return clvmodels.forecast(model, spend, data, horizon=52, discount_rate=0.15, n_draws=n_draws, random_seed=1)

    def check(result: clvmodels.Forecast, reference: clvmodels.Forecast) -> Check:
        ok = result.frame.notna().all().all() and reference.frame.notna().all().all()
        totals = f"cohort CLV {result.frame['clv'].sum():,.0f} ({type(other).display_name}) vs {reference.frame['clv'].sum():,.0f} (BG/NBD)"
        return Check(ok, totals, _describe(result))

    return Case(
        f"forecast, CDNOW, {n_draws:,} draws, {type(other).display_name} vs BG/NBD",
        ours=lambda: run(other),
        theirs=lambda: run(transactions),
        check=check,
        repeats=3 if quick else 7,
        reference="clvmodels BG/NBD",
    )


def prepare_forecast_segments(quick: bool) -> Case:
    """Segment reports over the simulated customers (1,000 draws, predictive bounds): the
    forecast with ``segments=`` (20 segments of ~5,000 or ~50,000 customers: the per-draw segment
    totals, and the predictive intervals of the totals from their per-draw normal approximation,
    as every segment is large; see ``settings["segment_predictive_totals"]``) against the same
    forecast without. Goal of the segments issue: at most 20% more time (speed-up >= 0.83)."""
    n = 100_000 if quick else 1_000_000
    data, transactions, spend = fitted_simulated(n)
    rng = np.random.default_rng(5)
    segments = pd.DataFrame({"channel": rng.choice([f"c{i:02d}" for i in range(20)], n)}, index=data.index)
    settings = dict(horizon=365, discount_rate=0.15, n_draws=1000, random_seed=1)

    def check(result: clvmodels.Forecast, reference: clvmodels.Forecast) -> Check:
        # segments do not split the customer histories: the per-customer forecast is the same
        same = result.frame.equals(reference.frame)
        table = result.segment_summary("channel")
        total = float(table["clv_total"].sum()) if "clv_total" in table else float("nan")
        method = result.settings.get("segment_predictive_totals", "")
        approximated = method.split(" segment cells")[0].rsplit(" in ", 1)[-1] if method.startswith("normal") else "0 of 20"
        return Check(same, f"per-customer forecast identical with and without segments; segment totals sum to "
                     f"{total:,.0f} vs cohort {reference.frame['clv'].sum():,.0f}; predictive totals approximated "
                     f"in {approximated} segments")

    label = "100k" if quick else "1M"
    return Case(
        f"forecast, {label} customers, 1,000 draws, with 20 segments vs without",
        ours=lambda: clvmodels.forecast(transactions, spend, data, segments=segments, **settings),
        theirs=lambda: clvmodels.forecast(transactions, spend, data, **settings),
        check=check,
        repeats=1,
        reference="clvmodels without segments",
        measure_memory=True,
    )


BENCHMARKS = [
    Benchmark("forecast-cdnow", 10.0, prepare_forecast_cdnow, budget=0.5),
    Benchmark("forecast-cdnow-credible", 10.0, prepare_forecast_cdnow_credible, budget=0.5),
    Benchmark("forecast-1m", 10.0, prepare_forecast_simulated, budget=60.0, memory_budget=2 * 10**9),
    # target 0.5: the Pareto/NBD forecast may take at most twice the BG/NBD's
    Benchmark("forecast-pareto-cdnow", 0.5, prepare_forecast_family),
    # target 0.83: segment reports may add at most 20% to the forecast's time
    Benchmark("forecast-segments-1m", 0.83, prepare_forecast_segments),
]
if _pymc_marketing_installed():  # the optional `bench` extra
    BENCHMARKS.append(Benchmark("forecast-pymc-marketing", 10.0, prepare_forecast_pymc_marketing, budget=0.5))
