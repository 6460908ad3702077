"""The batch job with BG/BB (issue 13, section 3): a transaction log summarised in yearly
occasions, fitted, scored on a holdout, tracked by occasion and forecast in occasions.

The log is :func:`clvmodels.datasets.load_donations_log` (a log with exactly the published
donations summary), so the fit on 1995-2001 is the published one. Through
``clvmodels.cli.main(argv)`` in this process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeoBetaBinom, discrete_summary, forecast, tracking_forecast
from clvmodels.cli import main
from clvmodels.datasets import load_donations, load_donations_log

#: Fader, Hardie & Shang (2010) on the donations, years 1996-2001 (../shared/reference/published_figures.md)
PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("donations") / "donations.csv"
    log = load_donations_log(random_seed=1)
    log.assign(date=log["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


def _job(folder: Path, log_file: Path, summary: str = "", model: str = 'transactions = "bgbb"', forecast_keys: str = "",
         plots: bool = False) -> Path:
    path = folder / "job.toml"
    path.write_text(f"""seed = 3
on_nonconvergence = "fail"

[input]
path = "{log_file.as_posix()}"
amount_col = ""

[summary]
time_unit = "Y"
observation_end = 2001-12-31
{summary}

[model]
{model}

[forecast]
horizon = 5
discount_rate = 0.1
n_draws = 200
{forecast_keys}

[output]
dir = "out"
plots = {'true' if plots else 'false'}
""")
    return path


def test_the_job_fits_the_published_bgbb_and_forecasts_in_occasions(tmp_path, log_file):
    job = _job(tmp_path, log_file, summary="calibration_end = 1998-12-31", plots=True)
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    fitted = {k: round(v["estimate"], 3) for k, v in manifest["models"]["transactions"]["parameters"].items()}
    assert fitted == PUBLISHED
    assert manifest["summary"]["time_unit"] == "Y" and manifest["input"]["customers"] == 11104
    assert manifest["forecast"]["settings"]["forecast_end"] == "2006-12-31"
    assert manifest["holdout"]["calibration_end"] == "1998-12-31" and manifest["holdout"]["customers"] == 11104
    table = pd.read_csv(out / "predictions.csv", comment="#", index_col=0).sort_index()
    assert list(table.columns[:3]) == ["frequency", "recency", "n_periods"] and (table["n_periods"] == 6).all()
    # the job's forecast is the library's on the same summary and seed
    summary = discrete_summary(pd.read_csv(log_file), occasion="Y", observation_end="2001-12-31")
    model = BetaGeoBetaBinom().fit(summary)
    expected = forecast(model, None, summary, horizon=5, discount_rate=0.1, n_draws=200, random_seed=3)
    # (the job derives its seeds from the config's seed the same way)
    np.testing.assert_allclose(table["expected_purchases"].to_numpy(), expected.frame["expected_purchases"].to_numpy(), rtol=1e-9)
    assert {"calibration_fit.png", "prob_alive_heatmap.png", "tracking.png", "holdout_by_frequency.png", "heterogeneity.png"} <= {
        p.name for p in (out / "plots").iterdir()}
    assert not manifest["warnings"] or all("holdout" in w for w in manifest["warnings"])


def test_tracking_by_occasion_counts_each_year_once(log_file):
    log = pd.read_csv(log_file, parse_dates=["date"])
    summary = discrete_summary(log, occasion="Y", observation_end="2001-12-31")
    model = BetaGeoBetaBinom().fit(summary)
    table = tracking_forecast(model, log, observation_end="2001-12-31", n_draws=50, random_seed=0)
    assert [d.year for d in table.index] == list(range(1996, 2002))
    # every repeat donation of 1996-2001 counted in its year; the total is the summary's
    assert int(table["actual"].sum()) == int(summary["frequency"].sum())
    years = log.assign(year=log["date"].dt.year).drop_duplicates(["customer_id", "year"])
    np.testing.assert_array_equal(table["actual"], years[years["year"] > 1995].groupby("year").size().to_numpy())
    # expected: 11,104 donors from 1995, E[X(k)] through year 1995 + k
    expected_new = model.expected_purchases_new(np.arange(1.0, 7.0)) * 11104
    np.testing.assert_allclose(table["expected_cumulative"], expected_new, rtol=1e-12)
    assert table.attrs["time_unit"] == "Y"


def test_the_job_explains_what_does_not_apply_to_occasions(tmp_path, log_file, capsys):
    bad = _job(tmp_path, log_file, model='transactions = ["bgbb", "bgnbd"]')
    assert main(["run", str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert "mixes 'bgbb' (discrete occasions) with 'bgnbd' (continuous time)" in err and "Traceback" not in err
    inside = _job(tmp_path, log_file, summary="calibration_end = 1998-06-30")
    assert main(["run", str(inside), "-q"]) == 2
    err = capsys.readouterr().err
    assert "[summary] calibration_end = 1998-06-30 falls inside an occasion (year 1998-01-01 to 1998-12-31)" in err, err
    assert "calibration_end to 1997-12-31 (leave that occasion out) or to 1998-12-31" in err
    hourly = _job(tmp_path, log_file, summary='resolution = "D"')
    assert main(["run", str(hourly), "-q"]) == 2
    assert "[summary] resolution does not apply to 'bgbb'" in capsys.readouterr().err


def test_a_fractional_horizon_is_refused_in_occasions():
    summary = load_donations()
    model = BetaGeoBetaBinom().fit(summary, sample_weight="weight")
    with pytest.raises(ValueError, match="counts occasions"):
        forecast(model, None, summary.drop(columns="weight"), horizon=2.5, discount_rate=0.1, n_draws=10)


def test_the_prob_alive_grid_of_bgbb_is_the_grid_of_possible_histories():
    """In occasions the P(alive) heatmap has one cell per (frequency, recency) with x <= t_x <= n
    (and t_x = 0 for x = 0), each the model's P(alive) there; the impossible cells are empty."""
    from matplotlib.figure import Figure

    from clvmodels.models import bg_bb
    from clvmodels.plotting import plot_prob_alive_heatmap
    from clvmodels.plotting.customers import frequency_recency_grid

    model = BetaGeoBetaBinom().fit(load_donations(), sample_weight="weight")
    recency_edges, frequency_edges, values = frequency_recency_grid(model, bg_bb.prob_alive, T=6, max_frequency=6)
    np.testing.assert_array_equal(recency_edges, np.arange(8) - 0.5)
    x, t_x = np.meshgrid(np.arange(7.0), np.arange(7.0), indexing="ij")
    possible = (x <= t_x) & ((x > 0) | (t_x == 0))
    np.testing.assert_array_equal(~np.ma.getmaskarray(values), possible)
    np.testing.assert_allclose(values[possible], bg_bb.prob_alive(model.params_, x[possible], t_x[possible], 6.0), rtol=1e-14)
    ax = plot_prob_alive_heatmap(model, load_donations(), ax=Figure().subplots())
    assert ax.collections[0].get_array().shape == (7, 7)
    with pytest.raises(ValueError, match="counts occasions"):
        frequency_recency_grid(model, bg_bb.prob_alive, T=6.5, max_frequency=6)


def test_with_amounts_the_job_adds_gamma_gamma_spend_per_occasion(tmp_path, log_file):
    """Amounts summed per (donor, occasion), the repeat occasions' mean is the spend that
    Gamma-Gamma fits; the forecast then has CLV columns, discounted per occasion."""
    log = pd.read_csv(log_file)
    rng = np.random.default_rng(8)
    log["amount"] = np.round(rng.gamma(4.0, 12.0, len(log)), 2)
    path = tmp_path / "with_amounts.csv"
    log.to_csv(path, index=False)
    job = _job(tmp_path, path)
    job.write_text(job.read_text().replace('amount_col = ""', 'amount_col = "amount"'))
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["bgbb.json", "gamma-gamma.json", "manifest.json", "predictions.csv"]
    table = pd.read_csv(out / "predictions.csv", comment="#", index_col=0)
    summary = discrete_summary(log.assign(date=pd.to_datetime(log["date"])), occasion="Y", amount_col="amount",
                               observation_end="2001-12-31")
    np.testing.assert_allclose(table.sort_index()["monetary_value"], summary.sort_index()["monetary_value"], rtol=1e-9)  # the CSV keeps 10 digits
    assert {"clv", "clv_lower", "clv_upper", "clv_pred_lower", "clv_pred_upper", "expected_spend"} <= set(table.columns)
    assert (table["clv_lower"] <= table["clv"]).all() and (table["clv"] <= table["clv_upper"]).all()
