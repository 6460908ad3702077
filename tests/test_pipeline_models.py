"""The batch job with several transaction models (issue 11, section 4; issue 15, sections 2 and 3).

``[model] transactions = [...]`` fits each listed model, writes the comparison, picks one by
``[model] select`` and forecasts with it exactly as a run naming that model alone; every holdout
verdict is in the manifest; a fit at a limit of the model is an answer, not a failure. Through
``clvmodels.cli.main(argv)`` in this process, on CDNOW (fits take milliseconds) with the plots
off except in one slow test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels import calibration_holdout_split, compare_models
from clvmodels.cli import main
from clvmodels.datasets import load_cdnow_sample
from clvmodels.models.registry import model_class, registered

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cdnow_compare.toml"
CDNOW = ROOT / "data" / "CDNOW_sample.txt"
THREE = ("bgnbd", "pareto-nbd", "mbgnbd")
#: compare_models' table, and whether each model is the one selected
COLUMNS = ["model", "key", "method", "n_params", "n_customers", "loglik", "aic", "bic", "actual_total", "predicted_total",
           "total_lower", "total_upper", "relative_error", "mae", "rmse", "coverage", "pit_p_value", "holdout_passed", "selected"]
#: the published calibration fits on CDNOW (weeks, to 1997-09-30): ../shared/reference/published_figures.md
PUBLISHED = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "pareto-nbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
}


def _job(folder: Path, model: str, *, summary: str = "calibration_end = 1997-09-30", plots: bool = False,
         out: str = "out", name: str = "job.toml", n_draws: int = 200) -> Path:
    """examples/cdnow_compare.toml with its [model] table replaced, the input path made absolute,
    fewer draws, the plots as asked and the output in ``folder``."""
    text = EXAMPLE.read_text()
    text = text.replace('path = "../data/CDNOW_sample.txt"', f'path = "{CDNOW.as_posix()}"')
    text = re.sub(r"\[model\]\n(.*?)\n\n\[forecast\]", lambda m: f"[model]\n{model}\n\n[forecast]", text, flags=re.S)
    text = text.replace("calibration_end = 1997-09-30      # fit to here too, and score the 39-week holdout after it\n", summary + "\n")
    text = text.replace("n_draws = 1000", f"n_draws = {n_draws}")
    text = text.replace("plots = true", f"plots = {'true' if plots else 'false'}")
    text = text.replace('dir = "../build/cdnow-compare"', f'dir = "{out}"')
    path = folder / name
    path.write_text(text)
    return path


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _header(path: Path) -> dict[str, str]:
    header = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[2:].partition(": ")
        header[key] = value
    return header


def _error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if " ERROR " in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


LIST = 'transactions = ["bgnbd", "pareto-nbd", "mbgnbd"]\nspend = "gamma-gamma"'


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three models compared on CDNOW's holdout, select = "holdout" (the default)."""
    folder = tmp_path_factory.mktemp("three")
    job = _job(folder, LIST)
    assert main(["run", str(job), "-q"]) == 0
    return folder


def test_the_example_config_lists_the_three_models():
    from clvmodels.config import load_config

    config = load_config(EXAMPLE)
    assert config.model.transactions == THREE and config.model.compares and config.model.select == "holdout"
    assert config.summary.calibration_end == "1997-09-30" and config.output.plots


def test_three_models_are_compared_and_the_selected_one_forecasts(three):
    out = three / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["gamma-gamma.json", "holdout_by_frequency.csv", "manifest.json", "model_comparison.csv", "pareto-nbd.json", "predictions.csv"])

    table = pd.read_csv(out / "model_comparison.csv", index_col=0)
    assert list(table.index) == list(THREE) and list(table.columns) == COLUMNS
    assert (table["n_params"] == 4).all() and (table["n_customers"] == 2357).all() and (table["actual_total"] == 1882).all()
    # none passes CDNOW's holdout; the holdout rule then takes the total closest to the actual
    assert not table["holdout_passed"].any()
    assert table["relative_error"].abs().idxmin() == "pareto-nbd" == table.index[table["selected"]].item()
    np.testing.assert_allclose(table["relative_error"], [-0.1215, -0.1150, -0.1622], atol=5e-4)
    np.testing.assert_allclose(table.loc["mbgnbd", "loglik"] - table.loc["bgnbd", "loglik"], 0.2935, atol=1e-3)

    manifest = _manifest(out)
    comparison = manifest["comparison"]
    assert comparison["rule"] == "holdout" and comparison["selected"] == "pareto-nbd" and comparison["candidates"] == list(THREE)
    assert comparison["reason"].startswith("no model passes its holdout, and it is the closest on the holdout total")
    assert comparison["file"] == "model_comparison.csv" and [row["name"] for row in comparison["table"]] == list(THREE)
    for key, published in PUBLISHED.items():  # each fitted to calibration_end: the published fits
        record = comparison["models"][key]
        assert record["key"] == key and record["fitted_on"].startswith("calibration period to 1997-09-30")
        assert {name: round(record["parameters"][name]["estimate"], 3) for name in published} == published
        verdict = record["verdict"]
        assert verdict["passed"] is False and verdict["model_key"] == key and verdict["actual_total"] == 1882
        assert f"StatisticalWarning: {verdict['message']}" in manifest["warnings"]  # each failure is a warning
    # the selected model, refitted to observation_end, made the predictions
    forecaster = manifest["models"]["transactions"]
    assert forecaster["key"] == "pareto-nbd" and forecaster["file"] == "pareto-nbd.json"
    assert forecaster["fitted_on"].startswith("observation period to 1998-06-30") and forecaster["customers"] == 2357
    assert forecaster["selected_by"] == {"rule": "holdout", "among": list(THREE), "reason": comparison["reason"]}
    header = _header(out / "predictions.csv")
    assert header["transaction_model"] == "pareto-nbd" and header["model_selection"] == "select = holdout among bgnbd, pareto-nbd, mbgnbd"
    assert manifest["forecast"]["settings"]["transaction_model"] == "pareto-nbd"
    hold = manifest["holdout"]
    assert hold["model"] == "pareto-nbd" and hold["verdict"] == comparison["models"]["pareto-nbd"]["verdict"]
    assert hold["transactions_model"]["key"] == "pareto-nbd"
    assert manifest["status"] == "ok" and manifest["converged"] is True and manifest["boundary"] == {}
    assert "compare" in manifest["timings_seconds"]


def test_a_comparison_forecasts_exactly_as_a_run_naming_the_selected_model(three, tmp_path):
    """Byte-identical reruns, and the same predictions and holdout table as ``transactions = "pareto-nbd"``."""
    out = three / "out"
    again = _job(tmp_path, LIST, name="again.toml", out="again")
    assert main(["run", str(again), "-q"]) == 0
    for name in ("predictions.csv", "model_comparison.csv", "holdout_by_frequency.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name

    alone = _job(tmp_path, 'transactions = "pareto-nbd"\nspend = "gamma-gamma"', name="alone.toml", out="alone")
    assert main(["run", str(alone), "-q"]) == 0
    single = (tmp_path / "alone" / "predictions.csv").read_text().splitlines(keepends=True)
    compared = (out / "predictions.csv").read_text().splitlines(keepends=True)
    assert [line for line in compared if not line.startswith("# model_selection:")] == single
    assert (tmp_path / "alone" / "holdout_by_frequency.csv").read_bytes() == (out / "holdout_by_frequency.csv").read_bytes()
    manifest = _manifest(tmp_path / "alone")
    assert manifest["comparison"] is None and manifest["holdout"]["verdict"]["model_key"] == "pareto-nbd"


def test_select_bic_picks_the_lowest_bic(tmp_path, capsys):
    job = _job(tmp_path, LIST + '\nselect = "bic"')
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    out = tmp_path / "out"
    table = pd.read_csv(out / "model_comparison.csv", index_col=0)
    manifest = _manifest(out)
    # MBG/NBD's BIC is 0.59 below BG/NBD's on CDNOW's calibration period (the same parameter count)
    assert table["bic"].idxmin() == "mbgnbd" == manifest["comparison"]["selected"] == manifest["models"]["transactions"]["key"]
    np.testing.assert_allclose(table.loc["bgnbd", "bic"] - table.loc["mbgnbd", "bic"], 0.587, atol=1e-3)
    assert _header(out / "predictions.csv")["transaction_model"] == "mbgnbd" and (out / "mbgnbd.json").exists()
    assert "selected MBG/NBD (mbgnbd) by select = 'bic': the lowest BIC (19,195.3; BG/NBD 19,195.9, Pareto/NBD 19,221.0), although it fails its holdout" in err
    # one line per model with its verdict
    for name in ("BG/NBD", "Pareto/NBD", "MBG/NBD"):
        assert len(re.findall(rf"INFO compare {re.escape(name)}: log-likelihood .*: FAILS its holdout", err)) == 1


def test_select_bic_without_a_holdout_ranks_the_fits_to_the_whole_data(tmp_path):
    job = _job(tmp_path, 'transactions = ["bgnbd", "mbgnbd"]\nselect = "aic"', summary="")
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    table = pd.read_csv(out / "model_comparison.csv", index_col=0)
    assert list(table.columns) == ["model", "key", "method", "n_params", "n_customers", "loglik", "aic", "bic", "selected"]
    manifest = _manifest(out)
    selected = manifest["comparison"]["selected"]
    assert table["aic"].idxmin() == selected == manifest["models"]["transactions"]["key"]
    assert manifest["holdout"] is None and not (out / "holdout_by_frequency.csv").exists()
    # the selected fit to the whole data is the forecast's fit (no refit): the same log-likelihood
    row = next(r for r in manifest["comparison"]["table"] if r["name"] == selected)
    assert manifest["models"]["transactions"]["loglik"] == row["loglik"] == manifest["comparison"]["models"][selected]["loglik"]
    assert manifest["models"]["transactions"]["fitted_on"] == manifest["comparison"]["fitted_on"]
    assert manifest["comparison"]["models"][selected]["verdict"] is None


def test_fit_criteria_without_a_holdout_equal_compare_models():
    from clvmodels.pipeline import criteria_table

    data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    fits = {key: model_class(key)().fit(data) for key in THREE}
    expected = compare_models(fits, data, n_draws=0, random_seed=0, warn=False).table
    got = criteria_table(fits)
    pd.testing.assert_frame_equal(got, expected[got.columns].astype(got.dtypes.to_dict()), rtol=1e-12)


def test_a_list_needs_a_holdout_unless_the_rule_is_a_fit_criterion(tmp_path, capsys):
    job = _job(tmp_path, LIST, summary="")
    assert main(["run", str(job), "-q"]) == 2
    line = _error(capsys.readouterr().err)
    assert ("[model] transactions lists 3 models to compare and select = 'holdout' scores them on a holdout period, but there "
            "is none: set [summary] calibration_end") in line and 'or select = "bic" or "aic"' in line
    assert not (tmp_path / "out").exists()
    for model, expected in (
        ('transactions = "bgnbd"\nselect = "bic"', "[model] select = 'bic' picks among a list of transactions models"),
        (LIST + '\nselect = "loo"', '[model] select = "loo" ranks posterior fits: it needs method = "nuts" or "advi"'),
        ('transactions = ["bgnbd", "BG/NBD"]', "[model] transactions names 'bgnbd' twice"),
        ('transactions = []', "[model] transactions must be a string or a list of strings"),
        ('transactions = ["bgnbd", "gamma-gamma"]', "[model] transactions must be a registered transactions model, got 'gamma-gamma'"),
        ('transactions = ["bgnbd"]\n[model.pareto-nbd]\npenalty = 0.1', "[model.pareto-nbd] holds settings of 'pareto-nbd', which is not a chosen model"),
        ('[model.transactions]\nmodel = ["bgnbd", "pareto-nbd"]\npriors = { q = { distribution = "Gamma", alpha = 1, beta = 1 } }',
         "[model.transactions] priors has no parameter 'q'"),
    ):
        job = _job(tmp_path, model)
        assert main(["run", str(job), "-q"]) == 2, model
        assert expected in _error(capsys.readouterr().err), model


def test_settings_of_one_listed_model_and_of_every_listed_model(tmp_path):
    # a list with settings for all its models is a table (TOML allows no key and table of one name)
    model = ('select = "bic"\n[model.transactions]\nmodel = ["bgnbd", "pareto-nbd", "mbgnbd"]\npenalty = 0.001\n'
             '[model.bgnbd]\npenalty = 0.01')
    job = _job(tmp_path, model)
    assert main(["run", str(job), "-q"]) == 0
    records = _manifest(tmp_path / "out")["comparison"]["models"]
    assert {key: records[key]["settings"]["penalty"] for key in THREE} == {"bgnbd": 0.01, "pareto-nbd": 0.001, "mbgnbd": 0.001}
    # the penalty moved the BG/NBD fit away from the published maximum-likelihood estimate
    assert round(records["bgnbd"]["parameters"]["a"]["estimate"], 3) != PUBLISHED["bgnbd"]["a"]


def test_the_holdout_verdict_of_a_single_model_is_in_the_manifest(tmp_path, capsys):
    job = _job(tmp_path, 'transactions = "bgnbd"\nspend = "gamma-gamma"')
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    manifest = _manifest(tmp_path / "out")
    verdict = manifest["holdout"]["verdict"]
    assert verdict["passed"] is False and verdict["model_key"] == "bgnbd" and verdict["direction"] == "under-forecasts"
    assert verdict["message"].startswith("holdout: 1,882 actual vs 1,653 expected (-12%), outside the 90% band")
    assert manifest["warnings"] == [f"StatisticalWarning: {verdict['message']}"]
    assert f"WARNING StatisticalWarning: {verdict['message']}" in err
    assert manifest["comparison"] is None and manifest["models"]["transactions"]["boundary"] is None


def _no_dropout_log(folder: Path) -> Path:
    """60 customers buying every 5 to 14 days until the end of the log, always for 10.00: nobody
    drops out and spend has no variation."""
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for c in range(60):
        first, gap = int(rng.integers(0, 30)), int(rng.integers(5, 15))
        rows += [(f"c{c:03d}", (start + pd.Timedelta(days=d)).date().isoformat(), 10.0) for d in range(first, 200, gap)]
    path = folder / "steady.csv"
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("model", ['transactions = "bgnbd"', 'transactions = ["bgnbd", "mbgnbd"]\nselect = "bic"'])
def test_a_fit_at_a_limit_of_the_model_is_an_answer_not_a_failure(tmp_path, capsys, model):
    tx = _no_dropout_log(tmp_path)
    job = tmp_path / "job.toml"
    job.write_text(f"""
seed = 1
on_nonconvergence = "fail"
[input]
path = "{tx.name}"
[summary]
time_unit = "W"
[model]
{model}
[forecast]
horizon = 52
discount_rate = 0.15
n_draws = 100
[output]
dir = "out"
""")
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    manifest = _manifest(tmp_path / "out")
    record = manifest["models"]["transactions"]
    assert record["converged"] is True and manifest["converged"] is True and manifest["not_converged"] == []
    limit = record["boundary"]
    assert "no customer appears to have dropped out" in limit and "reduces to the NBD" in limit
    spend = manifest["models"]["spend"]
    assert spend["converged"] is True and spend["boundary"].startswith("every repeat buyer's mean spend is 10.00: spend has no variation")
    assert manifest["boundary"] == {"transactions": limit, "spend": spend["boundary"]}
    assert any(limit in w for w in manifest["warnings"]) and f"StatisticalWarning: {record['display_name']}: {limit}" in err
    assert "at a limit of the model (see the warning)" in err
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", comment="#", index_col=0)
    assert len(table) == 60 and np.allclose(table["prob_alive"], 1.0)  # the NBD: nobody leaves
    assert np.allclose(table["expected_spend"], 10.0)  # the constant
    if manifest["comparison"] is not None:
        assert all("reduces to the NBD" in r["boundary"] for r in manifest["comparison"]["models"].values())


def test_dry_run_says_what_the_comparison_would_do(tmp_path, capsys):
    job = _job(tmp_path, LIST)
    assert main(["run", str(job), "--dry-run", "-q"]) == 0
    plan = capsys.readouterr().out
    assert "compare    BG/NBD, Pareto/NBD, MBG/NBD fitted on 2,357 customers to 1997-09-30" in plan
    assert "select = 'holdout'" in plan and "model_comparison.csv" in plan
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", [*registered("transactions"), *registered("spend")])
def test_fit_takes_every_registered_model(tmp_path, key, capsys):
    summary = tmp_path / "s.csv"
    tx = tmp_path / "tx.csv"
    load_cdnow_sample()[["customer_id", "date", "amount"]].to_csv(tx, index=False, date_format="%Y-%m-%d")
    discrete = getattr(model_class(key), "time_kind", "continuous") == "discrete"
    # a model in discrete occasions (BG/BB) is fitted on a summary in occasions (here months)
    assert main(["summarize", str(tx), "-o", str(summary), "--time-unit", "M" if discrete else "W", "-q"]
                + (["--occasions"] if discrete else [])) == 0
    assert main(["fit", str(summary), "--model", key, "-o", str(tmp_path / "m.json"), "-q"]) == 0
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8-sig"))
    if discrete:  # and a summary in continuous time is refused with the fix
        capsys.readouterr()
        assert main(["summarize", str(tx), "-o", str(summary), "--time-unit", "W", "-q"]) == 0
        assert main(["fit", str(summary), "--model", key, "-o", str(tmp_path / "m2.json"), "-q"]) == 2
        assert "clvmodels summarize --occasions --time-unit Y" in capsys.readouterr().err


def test_compare_command(tmp_path, capsys):
    tx = tmp_path / "tx.csv"
    load_cdnow_sample()[["customer_id", "date", "amount"]].to_csv(tx, index=False, date_format="%Y-%m-%d")
    summary, plain, out = tmp_path / "split.csv", tmp_path / "plain.csv", tmp_path / "comparison.csv"
    assert main(["summarize", str(tx), "-o", str(summary), "--time-unit", "W", "--calibration-end", "1997-09-30",
                 "--observation-end", "1998-06-30", "-q"]) == 0
    assert main(["compare", str(summary), "--models", "bgnbd,Pareto/NBD,mbgnbd", "--seed", "1", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    table = pd.read_csv(out, index_col=0)
    assert list(table.index) == list(THREE) and list(table.columns) == COLUMNS[:-1]
    for key, published in PUBLISHED.items():
        assert f"{model_class(key).display_name} fitted to calibration_end (mle)" in err
    assert "best on the holdout: Pareto/NBD (pareto-nbd)" in err and "best by BIC: MBG/NBD" in err
    np.testing.assert_allclose(table["relative_error"], [-0.1215, -0.1150, -0.1622], atol=5e-4)

    assert main(["summarize", str(tx), "-o", str(plain), "--time-unit", "W", "-q"]) == 0
    assert main(["compare", str(plain), "--models", "bgnbd,mbgnbd", "-o", str(tmp_path / "x.csv"), "-q"]) == 2
    assert "has no holdout columns (frequency_holdout, duration_holdout)" in _error(capsys.readouterr().err)
    assert main(["compare", str(summary), "--models", "bgnbd,gamma-gamma", "-o", str(tmp_path / "x.csv"), "-q"]) == 2
    assert "unknown transactions model 'gamma-gamma'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_comparison_plots(tmp_path):
    job = _job(tmp_path, LIST, plots=True, n_draws=50)
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    manifest = _manifest(out)
    assert {"compare_holdout", "compare_tracking", "holdout_by_frequency", "tracking"} <= set(manifest["plots"])
    for name in ("compare_holdout", "compare_tracking"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 10_000
        assert f"plots/{name}.png" in manifest["outputs"]
