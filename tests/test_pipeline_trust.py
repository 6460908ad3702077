"""The batch job's trust defects (issues 11 and 15), each through the real command line.

Registry-driven model choice, ``on_nonconvergence = "warn"`` that writes, a job that never
deletes or replaces a file it did not write, time units, data without amounts, the predictions
header, per-model settings, and hostile files, configs and settings refused up front with the
key, the value and why. ``clvmodels.cli.main(argv)`` in this process; a subprocess only where a
signal is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeo, GammaGamma
from clvmodels import config as config_module
from clvmodels.cli import main
from clvmodels.datasets import load_cdnow_sample

SCRIPT = Path(sys.executable).with_name("clvmodels")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error(err: str) -> str:
    """The one ERROR line of a failed command (warnings may precede it)."""
    lines = [line for line in err.strip().splitlines() if " ERROR " in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CDNOW as a plain CSV with a header (customer_id, date, amount)."""
    tx = load_cdnow_sample()[["customer_id", "date", "amount"]]
    path = tmp_path_factory.mktemp("data") / "tx.csv"
    tx.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def _job(folder: Path, tx: Path, *, input: str = "", model: str = "", forecast: str = "", top: str = "",
         output: str = 'dir = "out"', summary: str = 'observation_end = 1998-06-30', name: str = "job.toml") -> Path:
    text = f"""
seed = 2
{top}
[input]
path = "{tx.as_posix()}"
{input}
[summary]
time_unit = "W"
{summary}
[model]
{model}
[forecast]
horizon = 52
discount_rate = 0.15
{forecast or 'n_draws = 50'}
[output]
{output}
"""
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


# -- 1. the registry: models by key, unknown ones listed ----------------------------------------------


def test_models_are_chosen_through_the_registry(tmp_path, cdnow_csv, capsys):
    from clvmodels.models.registry import registered

    assert set(config_module.PARAMETERS) == set(registered()) >= {"bgnbd", "gamma-gamma"}
    for key, cls in registered().items():
        assert config_module.PARAMETERS[key] == tuple(cls.param_names)
    listed = {kind: ", ".join(f"{k!r} ({c.display_name})" for k, c in registered(kind).items()) for kind in ("transactions", "spend")}

    job = _job(tmp_path, cdnow_csv, model='transactions = "weibull"')
    assert main(["run", str(job), "-q"]) == 2
    line = _error(capsys.readouterr().err)
    assert f"[model] transactions must be a registered transactions model, got 'weibull'; transactions models: {listed['transactions']}" in line
    job = _job(tmp_path, cdnow_csv, model='spend = "bgnbd"')
    assert main(["run", str(job), "-q"]) == 2
    assert f"[model] spend must be a registered spend model, got 'bgnbd'; spend models: {listed['spend']}" in _error(capsys.readouterr().err)

    # a display name or class name is read as the model's key; files and records are named by it
    job = _job(tmp_path, cdnow_csv, model='transactions = "BG/NBD"\nspend = "GammaGamma"', forecast="n_draws = 30")
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    manifest = _manifest(out)
    record = manifest["models"]["transactions"]
    assert (record["key"], record["display_name"], record["model"], record["file"]) == ("bgnbd", "BG/NBD", "BetaGeo", "bgnbd.json")
    assert manifest["models"]["spend"]["file"] == "gamma-gamma.json" and (out / "gamma-gamma.json").exists()

    # the command line's --model asks the registry too
    summary = tmp_path / "s.csv"
    assert main(["summarize", str(cdnow_csv), "-o", str(summary), "--time-unit", "W", "-q"]) == 0
    assert main(["fit", str(summary), "--model", "BetaGeo", "-o", str(tmp_path / "m.json"), "-q"]) == 0
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8-sig"))  # a model file was written
    assert main(["fit", str(summary), "--model", "weibull", "-o", str(tmp_path / "x.json"), "-q"]) == 2
    err = capsys.readouterr().err
    every = ", ".join(f"{k!r} ({c.display_name})" for k, c in registered().items())
    assert f"argument --model: unknown model 'weibull'; registered models: {every}" in err and "'gamma-gamma' (Gamma-Gamma)" in err


def _transaction_models() -> list[str]:
    from clvmodels.models.registry import registered

    return list(registered("transactions"))


@pytest.mark.parametrize("key", _transaction_models())
def test_every_registered_transaction_model_runs_through_the_job(tmp_path, cdnow_csv, key):
    """The job names no model: each registered one is fitted, saved under its key and forecast."""
    from clvmodels.models.registry import model_class

    job = _job(tmp_path, cdnow_csv, model=f'transactions = "{key}"', forecast="n_draws = 20")
    if model_class(key).time_kind == "discrete":  # in monthly occasions, a year ahead
        job.write_text(job.read_text().replace('time_unit = "W"', 'time_unit = "M"').replace("horizon = 52", "horizon = 12"))
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    manifest = _manifest(out)
    record = manifest["models"]["transactions"]
    assert record["key"] == key and record["file"] == f"{key}.json" and record["display_name"] == model_class(key).display_name
    assert set(record["parameters"]) == set(model_class(key).param_names) and record["converged"] is True
    assert sorted(p.name for p in out.iterdir()) == sorted(["gamma-gamma.json", "manifest.json", "predictions.csv", f"{key}.json"])
    table = pd.read_csv(out / "predictions.csv", comment="#", index_col=0)
    assert len(table) == 2357 and ((table["prob_alive"] >= 0) & (table["prob_alive"] <= 1)).all()


# -- 2. on_nonconvergence = "warn" writes; what a run may delete; time units -------------------------------


def _constant_spend_tx(folder: Path) -> Path:
    """CDNOW's purchases, each customer always spending the same (10 or 20 by the parity of the id):
    spend has no variation within customers, Gamma-Gamma's p runs to infinity and gamma to 0, so
    its fit does not converge and has no finite covariance (BG/NBD fits as usual)."""
    tx = load_cdnow_sample()[["customer_id", "date"]].copy()
    tx["amount"] = np.where(tx["customer_id"].astype(int) % 2 == 0, 10.0, 20.0)
    path = folder / "const.csv"
    tx.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def test_warn_writes_the_outputs_of_a_model_without_covariance(tmp_path, capsys):
    tx = _constant_spend_tx(tmp_path)
    forecast = "n_draws = 20"
    job = _job(tmp_path, tx, forecast=forecast)
    assert main(["run", str(job), "-q"]) == 3
    line = _error(capsys.readouterr().err)
    assert "Gamma-Gamma did not converge" in line and "Nothing was written" in line
    assert 'set on_nonconvergence = "warn" at the top of the config' in line and "--on-nonconvergence" not in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

    job = _job(tmp_path, tx, top='on_nonconvergence = "warn"', forecast=forecast)
    assert main(["run", str(job), "-q"]) == 0
    err = capsys.readouterr().err
    assert "Gamma-Gamma did not converge" in err and "Writing the outputs anyway" in err
    assert "[model] penalty = 0.001" in err and "penalty=0.001" not in err  # the library's advice in config words
    out = tmp_path / "out"
    manifest = _manifest(out)
    assert manifest["status"] == "ok" and manifest["converged"] is False and manifest["not_converged"] == ["Gamma-Gamma"]
    assert manifest["models"]["spend"]["converged"] is False and manifest["models"]["transactions"]["converged"] is True
    assert manifest["models"]["spend"]["problems"]
    table = pd.read_csv(out / "predictions.csv", comment="#", index_col=0)
    assert len(table) == 2357 and table["clv"].notna().all() and (table["clv"] >= 0).all()
    assert set(manifest["outputs"]) == {"predictions.csv", "bgnbd.json", "gamma-gamma.json"}


def test_a_fit_without_finite_covariance_is_forecast_with_bootstrap_draws(tmp_path, caplog):
    """With "warn", a maximum-likelihood fit that has no finite covariance (no Laplace draws) takes
    bootstrap draws, says so and records it; a map fit cannot, and says why."""
    import logging

    from clvmodels import forecast, rfm_summary
    from clvmodels.pipeline import Journal, NotConvergedError, choose_parameter_draws

    data = rfm_summary(load_cdnow_sample(), time_unit="W", amount_col="amount", observation_end="1998-06-30")
    bg, gg = BetaGeo().fit(data), GammaGamma().fit(data)
    gg.covariance_log_ = gg.covariance_log_ * float("nan")  # what a fit at a boundary leaves
    log = logging.getLogger("test-draws")
    journal = Journal(log)
    assert choose_parameter_draws([bg], "auto", "warn", log, journal) == (None, None)
    draws, note = choose_parameter_draws([bg, gg], "auto", "warn", log, journal)
    assert draws == "bootstrap" and note.startswith("Gamma-Gamma has no finite covariance") and journal.warnings == [note]
    result = forecast(bg, gg, data, horizon=52, discount_rate=0.15, n_draws=20, random_seed=1, draws=draws)
    assert result.frame["clv"].notna().all() and (result.frame["clv_lower"] <= result.frame["clv_upper"]).all()
    gg.method_ = "map"
    with pytest.raises(NotConvergedError, match="no finite covariance at its map estimate"):
        choose_parameter_draws([bg, gg], "auto", "warn", log, journal)


def _crafted_manifest(folder: Path, names: dict[str, str]) -> None:
    """A manifest.json that looks like a clvmodels one and lists ``names`` with SHA-256s."""
    (folder / "manifest.json").write_text(json.dumps({
        "manifest_version": 1, "generator": "clvmodels", "versions": {"clvmodels": "0.1.0"},
        "outputs": {name: {"bytes": 1, "sha256": sha} for name, sha in names.items()},
    }))


def test_a_run_never_deletes_or_replaces_files_it_did_not_write(tmp_path, cdnow_csv, capsys):
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    tx = job_dir / "tx.csv"
    tx.write_bytes(cdnow_csv.read_bytes())
    (job_dir / "notes.txt").write_text("mine")
    (tmp_path / "outside.txt").write_text("outside")
    (tmp_path / "target.txt").write_text("target of a link")
    (job_dir / "link.txt").symlink_to(tmp_path / "target.txt")
    job = _job(job_dir, Path("tx.csv"), output='dir = "."', forecast="n_draws = 20")
    protected = ["tx.csv", "job.toml", "notes.txt", "link.txt"]

    # another tool's manifest.json: never replaced, the run refuses before any work
    (job_dir / "manifest.json").write_text(json.dumps({"outputs": {"tx.csv": {}, "notes.txt": {}}}))
    before = {n: _sha(job_dir / n) for n in [*protected, "manifest.json"]}
    assert main(["run", str(job), "-q"]) == 2
    line = _error(capsys.readouterr().err)
    assert "manifest.json exists and was not written by a clvmodels run" in line and "choose another [output] dir" in line
    assert {n: _sha(job_dir / n) for n in before} == before

    # a crafted manifest that looks like ours, listing the input, the config, other files with their
    # true SHA-256s, paths outside the folder and a symbolic link: the run writes and deletes none of them
    _crafted_manifest(job_dir, {
        "tx.csv": _sha(job_dir / "tx.csv"), "job.toml": _sha(job), "notes.txt": _sha(job_dir / "notes.txt"),
        "../outside.txt": _sha(tmp_path / "outside.txt"), str(tmp_path / "outside.txt"): _sha(tmp_path / "outside.txt"),
        "link.txt": _sha(tmp_path / "target.txt"),
    })
    before = {n: _sha(job_dir / n) for n in protected}
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    assert {n: _sha(job_dir / n) for n in protected} == before
    assert (tmp_path / "outside.txt").read_text() == "outside" and (tmp_path / "target.txt").exists()
    assert (job_dir / "link.txt").is_symlink()
    assert "left tx.csv in place" in err and "left notes.txt in place (listed by the previous manifest, but not a name a clvmodels run writes)" in err
    manifest = _manifest(job_dir)
    assert manifest["generator"] == "clvmodels" and set(manifest["outputs"]) == {"predictions.csv", "bgnbd.json", "gamma-gamma.json"}

    # an unrelated predictions.csv is not replaced either
    other = tmp_path / "other"
    other.mkdir()
    (other / "predictions.csv").write_text("someone else's\n")
    assert main(["run", str(job), "--output-dir", str(other), "-q"]) == 2
    assert "predictions.csv exists and was not written by a clvmodels run" in _error(capsys.readouterr().err)
    assert (other / "predictions.csv").read_text() == "someone else's\n"

    # a file our previous run wrote, changed since, is kept; an unchanged one is removed
    again = _job(job_dir, Path("tx.csv"), output='dir = "."', forecast="n_draws = 20", input='amount_col = ""',
                 name="again.toml")
    (job_dir / "gamma-gamma.json").write_text((job_dir / "gamma-gamma.json").read_text() + " ")
    assert main(["run", str(again)]) == 0
    err = capsys.readouterr().err
    assert (job_dir / "gamma-gamma.json").exists() and "left gamma-gamma.json in place" in err and "SHA-256 differs" in err


def test_model_file_in_another_time_unit_is_refused(tmp_path, cdnow_csv, capsys):
    weeks, days = tmp_path / "weeks.csv", tmp_path / "days.csv"
    assert main(["summarize", str(cdnow_csv), "-o", str(weeks), "--time-unit", "W", "-q"]) == 0
    assert main(["summarize", str(cdnow_csv), "-o", str(days), "--time-unit", "D", "-q"]) == 0
    model = tmp_path / "bgnbd.json"
    assert main(["fit", str(weeks), "--model", "bgnbd", "-o", str(model), "-q"]) == 0
    out = tmp_path / "p.csv"
    code = main(["forecast", str(days), "--transaction-model", str(model), "--horizon", "52", "--discount-rate", "0.1",
                 "-o", str(out), "-q"])
    line = _error(capsys.readouterr().err)
    assert code == 2 and not out.exists()
    assert "time units differ: the BG/NBD model in" in line and "in weeks ('W') but" in line and "days.csv is in days ('D')" in line
    assert "summarise with --time-unit W" in line
    # --time-unit overriding the summary's header is checked the same way
    code = main(["forecast", str(weeks), "--time-unit", "D", "--transaction-model", str(model), "--horizon", "52",
                 "--discount-rate", "0.1", "-o", str(out), "-q"])
    assert code == 2 and "time units differ" in _error(capsys.readouterr().err)


# -- 3. data without amounts, rows after the observation end, the predictions header, messages ------------


def test_run_without_amounts_forecasts_purchases_only(tmp_path, cdnow_csv, capsys):
    tx = tmp_path / "visits.csv"
    pd.read_csv(cdnow_csv)[["customer_id", "date"]].to_csv(tx, index=False)  # an event log: no amounts
    job = _job(tmp_path, tx, forecast="n_draws = 50")
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    assert "no amounts (no column 'amount'" in err and "forecasting purchases only" in err
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["bgnbd.json", "manifest.json", "predictions.csv"]
    table = pd.read_csv(out / "predictions.csv", comment="#", index_col=0)
    assert len(table) == 2357 and not any("clv" in c or "spend" in c for c in table.columns)
    assert {"prob_alive", "expected_purchases", "purchases_pred_lower", "purchases_pred_upper"} <= set(table.columns)
    manifest = _manifest(out)
    assert manifest["forecast"]["kind"] == "purchases" and set(manifest["models"]) == {"transactions"}
    assert manifest["input"]["amount_col"] is None and manifest["converged"] is True

    # the same through the step commands: forecast without --spend-model
    summary, model, pred = tmp_path / "s.csv", tmp_path / "m.json", tmp_path / "p.csv"
    assert main(["summarize", str(tx), "-o", str(summary), "--time-unit", "W", "--no-amount", "--observation-end", "1998-06-30", "-q"]) == 0
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(model), "-q"]) == 0
    assert main(["forecast", str(summary), "--transaction-model", str(model), "--horizon", "52", "--discount-rate", "0.15",
                 "--draws", "50", "--seed", "2", "-o", str(pred), "-q"]) == 0
    assert pred.read_bytes() == (out / "predictions.csv").read_bytes()
    # a spend model on a summary without amounts: a clear error, no invented workaround
    gg = tmp_path / "gg.json"
    assert main(["summarize", str(cdnow_csv), "-o", str(tmp_path / "sa.csv"), "--time-unit", "W", "-q"]) == 0
    assert main(["fit", str(tmp_path / "sa.csv"), "--model", "gamma-gamma", "-o", str(gg), "-q"]) == 0
    code = main(["forecast", str(summary), "--transaction-model", str(model), "--spend-model", str(gg), "--horizon", "52",
                 "--discount-rate", "0.15", "-o", str(tmp_path / "x.csv"), "-q"])
    line = _error(capsys.readouterr().err)
    assert code == 2 and "has no monetary_value column" in line and "leave out --spend-model" in line


def test_rows_after_the_observation_end_are_counted_and_the_header_says_what_is_covered(tmp_path, cdnow_csv):
    job = _job(tmp_path, cdnow_csv, summary="observation_end = 1997-12-31", forecast="n_draws = 30\npredictive = false")
    assert main(["run", str(job), "-q"]) == 0
    out = tmp_path / "out"
    manifest = _manifest(out)
    tx = pd.read_csv(cdnow_csv, parse_dates=["date"])
    late = int((tx["date"] > "1997-12-31").sum())
    assert late > 0 and manifest["input"]["rows_after_observation_end"] == late
    assert manifest["input"]["rows_used"] + manifest["input"]["rows_dropped"] == manifest["input"]["rows_read"] == len(tx)
    header = _header(out / "predictions.csv")
    assert header["observation_end"] == "1997-12-31" and header["forecast_start"] == "1998-01-01"
    assert header["forecast_end"] == "1998-12-30"  # 52 weeks = 364 days after the observation end
    assert header["input_sha256"] == _sha(cdnow_csv) and header["time_unit"] == "W"


def test_command_line_errors_name_config_keys_not_python_arguments(tmp_path, capsys):
    tx = tmp_path / "tx.csv"
    tx.write_text("customer_id,date,amount\n1,2024-01-05,10\n1,02/03/2024,10\n2,2024-01-07,5\n")
    job = _job(tmp_path, tx, summary="")
    assert main(["run", str(job), "-q"]) == 2
    line = _error(capsys.readouterr().err)
    assert "[input] date_format" in line and "date_format=" not in line and 'set [input] invalid = "drop"' in line.replace("Set", "set")


# -- 4. separate settings per model; the bootstrap draws' key ------------------------------------------------


def test_each_model_takes_its_own_settings(tmp_path, cdnow_csv, capsys):
    job = _job(tmp_path, cdnow_csv, model="[model.transactions]\npenalty = 0.001\n[model.spend]\nmodel = \"gamma-gamma\"",
               forecast="n_draws = 20\nparameter_draws = \"bootstrap\"")
    assert main(["run", str(job), "-q"]) == 0
    manifest = _manifest(tmp_path / "out")
    assert manifest["models"]["transactions"]["settings"]["penalty"] == 0.001
    assert manifest["models"]["spend"]["settings"]["penalty"] == 0.0
    assert manifest["forecast"]["parameter_draws"] == "bootstrap"
    penalised = manifest["models"]["transactions"]["parameters"]["r"]["estimate"]
    unpenalised_spend = manifest["models"]["spend"]["parameters"]["p"]["estimate"]
    # the old form still works: [model] penalty applies to both models (and says so)
    job = _job(tmp_path, cdnow_csv, model="penalty = 0.001", forecast="n_draws = 20")
    assert main(["run", str(job)]) == 0
    assert "[model] penalty = 0.001 applies to both models" in capsys.readouterr().err
    manifest = _manifest(tmp_path / "out")
    assert manifest["models"]["spend"]["settings"]["penalty"] == 0.001
    # the penalty reaches Gamma-Gamma too (p 4.68 unpenalised, 7.96 at 0.001 on CDNOW)
    assert abs(manifest["models"]["spend"]["parameters"]["p"]["estimate"] - unpenalised_spend) > 0.5 * unpenalised_spend
    assert manifest["models"]["transactions"]["parameters"]["r"]["estimate"] == penalised
    # mistakes in the tables are named
    cases = {
        "[model.transactions]\npenalty = -1": "[model.transactions] penalty must be at least 0, got -1.0",
        "[model.transactions]\npenalti = 0.1": "unknown key 'penalti' in [model.transactions] (did you mean 'penalty'?)",
        "[model.spend]\nmethod = \"nuts\"": "unknown key 'method' in [model.spend]",
        "[model.transactions]\npriors = { p = { distribution = \"Gamma\", alpha = 1, beta = 1 } }": "[model.transactions] priors has no parameter 'p'",
    }
    for model, expected in cases.items():
        assert main(["run", str(_job(tmp_path, cdnow_csv, model=model)), "-q"]) == 2
        assert expected in _error(capsys.readouterr().err), model
    assert main(["run", str(_job(tmp_path, cdnow_csv, model='method = "nuts"', forecast='parameter_draws = "bootstrap"')), "-q"]) == 2
    assert "parameter_draws = 'bootstrap' approximates a maximum-likelihood fit" in _error(capsys.readouterr().err)


# -- 5. hostile files, configs and settings --------------------------------------------------------------


def test_non_regular_input_files_are_refused_before_reading(tmp_path, capsys):
    fifo = tmp_path / "tx.csv"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a named pipe (FIFO)"), (Path("/dev/zero"), "a device")):
        job = _job(tmp_path, path)
        assert main(["run", str(job), "-q"]) == 2
        line = _error(capsys.readouterr().err)
        assert f"is {kind}, not a transaction file" in line
        assert main(["summarize", str(path), "-o", str(tmp_path / "s.csv"), "--time-unit", "W", "-q"]) == 2
        assert kind in _error(capsys.readouterr().err)
    assert main(["run", str(fifo), "-q"]) == 2  # the config itself
    assert "is not a regular file" in _error(capsys.readouterr().err)


def test_config_files_and_csv_shapes(tmp_path, cdnow_csv, capsys):
    # a config with a UTF-8 byte-order mark is read
    job = _job(tmp_path, cdnow_csv, forecast="n_draws = 20")
    job.write_bytes(b"\xef\xbb\xbf" + job.read_bytes())
    assert main(["run", str(job), "--dry-run", "-q"]) == 0
    capsys.readouterr()
    # an empty [output] dir is refused, not silently the config's folder
    assert main(["run", str(_job(tmp_path, cdnow_csv, output='dir = ""')), "-q"]) == 2
    assert "[output] dir must not be empty" in _error(capsys.readouterr().err)
    # a gzip-compressed CSV is read (and hashed as stored)
    gz = tmp_path / "tx.csv.gz"
    gz.write_bytes(gzip.compress(cdnow_csv.read_bytes()))
    assert main(["run", str(_job(tmp_path, gz, forecast="n_draws = 20")), "-q"]) == 0
    manifest = _manifest(tmp_path / "out")
    assert manifest["input"]["compression"] == "gzip" and manifest["input"]["sha256"] == _sha(gz)
    assert manifest["input"]["customers"] == 2357
    # duplicated header names of a used column
    dup = tmp_path / "dup.csv"
    dup.write_text("customer_id,date,amount,amount\n1,2024-01-01,10,3\n1,2024-02-01,12,4\n")
    assert main(["summarize", str(dup), "-o", str(tmp_path / "s.csv"), "--time-unit", "W", "-q"]) == 2
    assert "the header names column 'amount' 2 times" in _error(capsys.readouterr().err)
    # column-count mismatches exit 2 with the counts
    wide = tmp_path / "wide.csv"
    wide.write_text("1,2024-01-01,10,x\n2,2024-01-02,5,y\n")
    assert main(["summarize", str(wide), "-o", str(tmp_path / "s.csv"), "--time-unit", "W", "--no-header",
                 "--columns", "customer_id,date,amount", "-q"]) == 2
    assert "the first line has 4 fields but [input] columns (--columns) names 3" in _error(capsys.readouterr().err)
    long_rows = tmp_path / "long.csv"
    long_rows.write_text("customer_id,date,amount\n1,2024-01-01,10,3\n2,2024-01-02,5,4\n")
    assert main(["summarize", str(long_rows), "-o", str(tmp_path / "s.csv"), "--time-unit", "W", "-q"]) == 2
    assert "its rows have more fields than the header line names (3)" in _error(capsys.readouterr().err)


SETTINGS = {
    # (table or "" for the top level, key = value) -> what the message must say
    ("", "seed = -1"): "seed must be a whole number from 0 to 2**63 - 1, got -1",
    ("", "seed = 1.5"): "seed must be a whole number, got a float (1.5)",
    ("forecast", "horizon = 1e300"): "[forecast] horizon = 1e+300 weeks is",
    ("forecast", "horizon = 1e9"): "more than the 1,000 years supported",
    ("forecast", "n_draws = 10000000"): "[forecast] n_draws must be at most 100,000",
    ("forecast", "horizon = inf\ndiscount_rate = 1e-9"): "[forecast] horizon = inf needs discount_rate >= 0.001 (0.1% a year), got 1e-09",
    ("forecast", 'discounting = "discrete"\nperiod = 1e6'): "[forecast] period = 1e+06 weeks is longer than the horizon (52 weeks)",
    ("forecast", 'discounting = "discrete"\nperiod = 1e-4'): "[forecast] period = 0.0001 weeks makes 520,000 discounting periods",
    ("forecast", "discount_rate = -2"): "[forecast] discount_rate must be an annual rate above -1 (0.15 for 15%), got -2.0",
    ("forecast", 'margin = "high"'): "[forecast] margin must be a number, got a string ('high')",
    ("forecast", "margin = inf"): "[forecast] margin must be a finite number, got inf",
    ("summary", "observation_end = 2300-01-01"): "[summary] observation_end is outside the supported range of dates (1677-09-22 to 2262-04-10)",
}


@pytest.mark.parametrize(("where", "setting"), list(SETTINGS), ids=[s.split("\n")[-1] for _, s in SETTINGS])
def test_out_of_range_settings_are_refused_up_front(tmp_path, cdnow_csv, capsys, where, setting):
    text = _job(tmp_path, cdnow_csv, summary="").read_text()
    if where:
        for line in setting.splitlines():  # replace the key if the base job sets it
            key = line.split(" = ")[0]
            text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(f"{key} = "))
        text = text.replace(f"[{where}]\n", f"[{where}]\n{setting}\n")
    else:
        text = text.replace("seed = 2", setting)
    job = tmp_path / "bad.toml"
    job.write_text(text)
    assert main(["run", str(job), "-q"]) == 2
    line = _error(capsys.readouterr().err)
    assert SETTINGS[(where, setting)] in line, line
    assert not (tmp_path / "out").exists()


def test_forecast_command_refuses_the_same_settings(tmp_path, cdnow_csv, capsys):
    summary, model = tmp_path / "s.csv", tmp_path / "m.json"
    assert main(["summarize", str(cdnow_csv), "-o", str(summary), "--time-unit", "W", "-q"]) == 0
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(model), "-q"]) == 0
    base = ["forecast", str(summary), "--transaction-model", str(model), "-o", str(tmp_path / "p.csv"), "-q"]
    cases = {
        ("--horizon", "1e300", "--discount-rate", "0.1"): "--horizon 1e+300 weeks is",
        ("--horizon", "inf", "--discount-rate", "1e-9"): "--horizon inf needs --discount-rate >= 0.001 (0.1% a year), got 1e-09",
        ("--horizon", "52", "--discount-rate", "0.1", "--draws", "10000000"): "argument --draws: must be at most 100,000",
        ("--horizon", "52", "--discount-rate", "0.1", "--seed", "-3"): "argument --seed: must be a whole number from 0 to 2**63 - 1, got -3",
        ("--horizon", "52", "--discount-rate", "0.1", "--seed", "1.5"): "argument --seed: must be a whole number, got '1.5'",
        ("--horizon", "52", "--discount-rate", "-2"): "argument --discount-rate: must be an annual rate above -1",
        ("--horizon", "52", "--discount-rate", "0.1", "--margin", "abc"): "argument --margin: must be a number, got 'abc'",
        ("--horizon", "52", "--discount-rate", "0.1", "--discounting", "discrete", "--period", "0.0001"): "--period 0.0001 weeks makes 520,000 discounting periods",
    }
    for args, expected in cases.items():
        assert main([*base, *args]) == 2, args
        assert expected in capsys.readouterr().err, args
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
def test_sigterm_during_a_long_forecast_unwinds_promptly(tmp_path, cdnow_csv):
    """A forecast of 40,000 draws with predictive bounds takes well over a minute here; SIGTERM a
    second into it must stop the run (its worker threads too) within the 30 s allowed, exit 1 and
    leave neither a staging folder nor an output."""
    job = _job(tmp_path, cdnow_csv, forecast="n_draws = 40000")
    proc = subprocess.Popen([str(SCRIPT), "run", str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    assert proc.stderr is not None
    for line in proc.stderr:  # the fits are done when the transaction model's line appears
        lines.append(line)
        if "BG/NBD (mle) on" in line:
            break
    else:
        raise AssertionError("".join(lines))
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    try:
        _, rest = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("the run did not stop within 30 s of SIGTERM") from None
    err = "".join(lines) + rest
    assert proc.returncode == 1 and "stopped by SIGTERM" in err and "Traceback" not in err, err
    assert "forecast over" not in err  # it was stopped during the forecast, not after it
    out = tmp_path / "out"
    assert not list(tmp_path.glob(".out.staging-*"))
    assert not out.exists() or not any(out.iterdir())


def test_an_output_never_replaces_the_commands_own_input(tmp_path, cdnow_csv, capsys):
    tx = tmp_path / "tx.csv"
    tx.write_bytes(cdnow_csv.read_bytes())
    before = _sha(tx)
    assert main(["summarize", str(tx), "-o", str(tx), "--time-unit", "W", "-q"]) == 2
    assert f"-o {tx} is this command's input" in _error(capsys.readouterr().err) and _sha(tx) == before
    summary, model = tmp_path / "s.csv", tmp_path / "m.json"
    assert main(["summarize", str(tx), "-o", str(summary), "--time-unit", "W", "-q"]) == 0
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(summary), "-q"]) == 2
    assert "is this command's input" in _error(capsys.readouterr().err)
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(model), "-q"]) == 0
    kept = _sha(model)
    assert main(["forecast", str(summary), "--transaction-model", str(model), "--horizon", "52", "--discount-rate", "0.1",
                 "-o", str(model), "-q"]) == 2
    assert "is this command's input" in _error(capsys.readouterr().err) and _sha(model) == kept


def test_predictive_bounds_beyond_the_machine_are_refused_after_the_fit(tmp_path, cdnow_csv, capsys):
    """1,000 years of CDNOW's futures for 100,000 draws would simulate about 6e10 purchases (the
    fitted BG/NBD expects 608,000 from the cohort over that span): refused before the forecast."""
    job = _job(tmp_path, cdnow_csv, forecast="horizon = 52000\nn_draws = 100000")
    text = job.read_text().replace("horizon = 52\n", "", 1)
    job.write_text(text)
    assert main(["run", str(job), "-q"]) == 2
    line = _error(capsys.readouterr().err)
    assert "[forecast] predictive bounds over 52000 weeks would simulate about" in line
    assert "set [forecast] predictive = false, fewer n_draws or a shorter horizon" in line and "--" not in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_forecast_command_with_a_model_file_without_covariance_warns_and_bootstraps(tmp_path, capsys):
    """A saved fit at a boundary has no finite covariance (written as null): with "warn" the forecast
    takes bootstrap draws for it (refits on the patterns the file keeps) and says so; with "fail", exit 3."""
    tx = _constant_spend_tx(tmp_path)
    summary, bg, gg = tmp_path / "s.csv", tmp_path / "bg.json", tmp_path / "gg.json"
    assert main(["summarize", str(tx), "-o", str(summary), "--time-unit", "W", "--observation-end", "1998-06-30", "-q"]) == 0
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(bg), "-q"]) == 0
    assert main(["fit", str(summary), "--model", "gamma-gamma", "-o", str(gg), "-q", "--on-nonconvergence", "warn"]) == 0
    document = json.loads(gg.read_text(encoding="utf-8"))
    assert document["fitted"]["converged"] is False
    document["fitted"]["covariance"] = document["fitted"]["covariance_log"] = [[None] * 3] * 3
    gg.write_text(json.dumps(document), encoding="utf-8")
    capsys.readouterr()
    args = ["forecast", str(summary), "--transaction-model", str(bg), "--spend-model", str(gg), "--horizon", "52",
            "--discount-rate", "0.1", "--draws", "20", "-o", str(tmp_path / "p.csv")]
    assert main([*args, "-q"]) == 3
    assert "the model in" in _error(capsys.readouterr().err) and not (tmp_path / "p.csv").exists()
    assert main([*args, "--on-nonconvergence", "warn"]) == 0
    err = capsys.readouterr().err
    assert "Gamma-Gamma has no finite covariance (the fit did not converge): the forecast's parameter draws come from the bootstrap" in err
    assert _header(tmp_path / "p.csv")["draws"] == "bootstrap"
    table = pd.read_csv(tmp_path / "p.csv", comment="#", index_col=0)
    assert table["clv"].notna().all() and (table["clv_lower"] <= table["clv_upper"]).all()
