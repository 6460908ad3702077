"""The batch job of a subscription log (issue 13, section 3): ``[input] kind = "subscriptions"``.

A simulated log of monthly subscriptions (sBG lifetimes, Fader & Hardie 2007's regular cohort),
through ``clvmodels.cli.main(argv)`` in this process: the job's fit and values are the library's,
its errors name the key and the fix, and nothing is written when it fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels import ShiftedBetaGeo, forecast_subscribers, subscription_summary
from clvmodels.cli import main
from clvmodels.datasets import simulate_subscription_log


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("subscriptions") / "subscriptions.csv"
    simulate_subscription_log(20_000, random_seed=5).to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def _job(folder: Path, log_file: Path, *, input: str = 'price_col = "price"', summary: str = "", model: str = "", forecast: str = "",
         plots: bool = False) -> Path:
    path = folder / "job.toml"
    path.write_text(f"""seed = 4
on_nonconvergence = "fail"

[input]
path = "{log_file.as_posix()}"
kind = "subscriptions"
{input}

[summary]
time_unit = "M"
observation_end = 2023-12-31
{summary}

[model]
{model}

[forecast]
horizon = inf
discount_rate = 0.1
margin = 0.8
n_draws = 300
{forecast}

[output]
dir = "out"
plots = {'true' if plots else 'false'}
""")
    return path


def test_the_job_values_each_active_subscriber_as_the_library_does(tmp_path, log_file):
    job = _job(tmp_path, log_file, plots=True)
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["cohorts.csv", "manifest.json", "plots", "predictions.csv", "sbg.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    # the library on the same log: summary, fit, values with the price times the margin
    log = pd.read_csv(log_file, dtype={"customer_id": str}, parse_dates=["start", "end"])
    summary = subscription_summary(log, period="M", observation_end="2023-12-31", price_col="price")
    model = ShiftedBetaGeo().fit(summary)
    fitted = {k: v["estimate"] for k, v in manifest["models"]["retention"]["parameters"].items()}
    np.testing.assert_allclose([fitted["alpha"], fitted["beta"]], model.params_[["alpha", "beta"]], rtol=1e-9)
    # 20,000 simulated subscribers: the truth within 4 standard errors
    se = manifest["models"]["retention"]["parameters"]
    for name, truth in (("alpha", 0.704), ("beta", 1.182)):
        assert abs(fitted[name] - truth) < 4 * se[name]["std_error"], (name, fitted[name])
    data = summary.assign(margin=0.8 * summary["price"])
    expected = forecast_subscribers(model, data, margin="margin", discount_rate=0.1, n_draws=300, random_seed=4).to_frame()
    table = pd.read_csv(out / "predictions.csv", comment="#", index_col=0, dtype={0: str})
    assert len(table) == manifest["input"]["active"] == len(expected)
    np.testing.assert_allclose(table.loc[expected.index, "clv"], expected["clv"], rtol=1e-9)
    assert (table["clv_lower"] <= table["clv"]).all() and (table["clv"] <= table["clv_upper"]).all()
    assert table["cohort"].str.match(r"^\d{4}-\d{2}$").all()
    # nobody who cancelled is valued
    cancelled = summary.index[summary["cancelled"] | summary["churned"]]
    assert not set(cancelled) & set(table.index)
    settings = manifest["forecast"]["settings"]
    assert settings["dropped_churned"] == int(summary["churned"].sum())
    assert settings["dropped_cancelled_since_last_renewal"] == int((summary["cancelled"] & ~summary["churned"]).sum()) > 0
    cohorts = pd.read_csv(out / "cohorts.csv", index_col=0)
    assert int(cohorts["size"].sum()) == len(summary) == manifest["input"]["subscribers"]
    assert {p.name for p in (out / "plots").iterdir()} == {"survival_projection.png", "derl_by_renewals.png"}
    assert manifest["forecast"]["kind"] == "subscribers" and manifest["converged"] is True


def test_the_same_config_and_seed_give_the_same_bytes(tmp_path, log_file):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    for folder in (first, second):
        assert main(["run", str(_job(folder, log_file)), "-q"]) == 0
    assert (first / "out" / "predictions.csv").read_bytes() == (second / "out" / "predictions.csv").read_bytes()


def test_without_a_price_the_value_is_the_margin_per_period(tmp_path, log_file):
    job = _job(tmp_path, log_file, input="", forecast="", plots=False)
    job.write_text(job.read_text().replace("margin = 0.8", "margin = 1.0"))
    assert main(["run", str(job), "-q"]) == 0
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", comment="#", index_col=0)
    np.testing.assert_allclose(table["clv"], table["derl"], rtol=1e-12)  # one unit per period: the DERL


def test_bad_logs_and_settings_are_clear_errors(tmp_path, log_file, capsys):
    log = pd.read_csv(log_file)
    log.loc[[3, 7], "end"] = "2020-01-01"  # cancelled before they started
    bad = tmp_path / "bad.csv"
    log.to_csv(bad, index=False)
    assert main(["run", str(_job(tmp_path, bad)), "-q"]) == 2
    err = capsys.readouterr().err
    assert "2 rows" in err and "end" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "predictions.csv").exists()
    job = _job(tmp_path, log_file, input='start_col = "begin"')
    assert main(["run", str(job), "-q"]) == 2
    err = capsys.readouterr().err
    assert "'begin'" in err and "start_col" in err
    job = _job(tmp_path, log_file, model='transactions = "bgnbd"')
    assert main(["run", str(job), "-q"]) == 2
    assert "[model] transactions does not apply to a subscription log" in capsys.readouterr().err


def test_with_calibration_end_the_job_scores_the_renewals_after_it(tmp_path, log_file):
    """The model fitted to 2022-12-31 against the renewals of 2023: the library's verdict and
    table, by start cohort, in holdout_by_cohort.csv and the manifest."""
    from clvmodels import evaluate_subscriber_holdout

    job = _job(tmp_path, log_file, summary="calibration_end = 2022-12-31")
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    table = pd.read_csv(out / "holdout_by_cohort.csv", index_col=0)
    log = pd.read_csv(log_file, dtype={"customer_id": str}, parse_dates=["start", "end"])
    calibration = subscription_summary(log, period="M", observation_end="2022-12-31")
    expected = evaluate_subscriber_holdout(ShiftedBetaGeo().fit(calibration), log, calibration_end="2022-12-31",
                                           observation_end="2023-12-31", period="M", n_draws=300, random_seed=4)
    np.testing.assert_array_equal(table["actual"], expected.by_cohort["actual"])
    np.testing.assert_allclose(table["expected"], expected.by_cohort["expected"], rtol=1e-9)
    holdout = manifest["holdout"]
    assert holdout["passed"] == expected.passed and holdout["by_cohort_file"] == "holdout_by_cohort.csv"
    assert holdout["actual_total"] == int(table.loc["total", "actual"])
    # the simulated log follows the model: the total is inside its 90% predictive interval
    assert table.loc["total", "pred_lower"] <= table.loc["total", "actual"] <= table.loc["total", "pred_upper"]
