"""The ``clvmodels`` command line: end to end on CDNOW, determinism, safe writes, exit codes, bad input.

Subprocesses only where the behaviour needs a process of its own (the console script end to end,
the Bayesian run, killing a run); everything else calls ``clvmodels.cli.main(argv)`` in this
process and checks its return code and stderr.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clvmodels import config as config_module
from clvmodels.cli import main
from clvmodels.forecast import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cdnow.toml"
CDNOW = ROOT / "data" / "CDNOW_sample.txt"
SCRIPT = Path(sys.executable).with_name("clvmodels")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR|DEBUG) ")
CDNOW_COLUMNS = "master_id,customer_id,date,quantity,amount"
CDNOW_OPTIONS = ["--sep", "whitespace", "--no-header", "--columns", CDNOW_COLUMNS, "--date-format", "%Y%m%d"]


def _command() -> list[str]:
    """The installed console script (``pip install -e .`` registers it)."""
    assert SCRIPT.exists(), f"{SCRIPT} is missing: the [project.scripts] entry is not installed (pip install -e .)"
    return [str(SCRIPT)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones included) with its SHA-256."""
    return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _staging(folder: Path) -> list[Path]:
    return sorted(folder.parent.glob(f".{folder.name}.staging-*"))


def _error_line(err: str) -> str:
    """The single line of a failed command run with --quiet."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    assert "Traceback" not in err
    assert TIMESTAMP.match(lines[0]) and " ERROR " in lines[0], lines[0]
    return lines[0]


def _without_holdout_verdict(err: str) -> str:
    """stderr without the holdout's StatisticalWarning (BG/NBD under-forecasts CDNOW's holdout)."""
    return "".join(line for line in err.splitlines(keepends=True) if "StatisticalWarning: holdout:" not in line)


def _read_predictions(path: Path) -> tuple[dict[str, str], pd.DataFrame]:
    header = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[2:].partition(": ")
        header[key] = value
    return header, pd.read_csv(path, comment="#", index_col=0, dtype={0: str})


# -- small data ---------------------------------------------------------------------------------------

TX_HEADER = "customer_id,date,amount\n"
GOOD_ROWS = [
    "1,2024-01-01,10.0", "1,2024-01-20,12.5", "1,2024-03-02,8.0",
    "2,2024-01-03,20.0", "2,2024-02-14,22.0",
    "3,2024-01-05,5.0",
    "4,2024-01-09,7.5", "4,2024-01-30,7.5", "4,2024-02-20,9.0", "4,2024-03-25,6.0",
]


def _tx(tmp_path: Path, rows: list[str], header: str = TX_HEADER, name: str = "tx.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows))
    return path


def _summarize(tmp_path: Path, tx: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "summary.csv"
    return main(["summarize", str(tx), "-o", str(out), "--time-unit", "W", "-q", *extra]), out


BASE_CONFIG = """
seed = 3
[input]
path = "tx.csv"
[summary]
time_unit = "W"
[forecast]
horizon = 52
discount_rate = 0.15
n_draws = 50
[output]
dir = "out"
"""


def _config(tmp_path: Path, text: str = BASE_CONFIG, name: str = "job.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _cdnow_config(tmp_path: Path, extra: str = "", **sections: str) -> Path:
    """A config for CDNOW written in ``tmp_path`` (absolute input path, no holdout, no plots)."""
    text = f"""
seed = 1
{extra}
[input]
path = "{CDNOW.as_posix()}"
separator = "whitespace"
header = false
columns = {json.dumps(CDNOW_COLUMNS.split(","))}
date_format = "%Y%m%d"
[summary]
time_unit = "W"
observation_end = 1998-06-30
{sections.get("summary", "")}
[model]
{sections.get("model", "")}
[forecast]
horizon = 52
discount_rate = 0.15
{sections.get("forecast", "n_draws = 200")}
[output]
dir = "out"
"""
    return _config(tmp_path, text, "cdnow.toml")


# -- end to end on CDNOW (console script in a subprocess) -------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """``clvmodels run examples/cdnow.toml`` (MLE, holdout, plots) into a temporary directory."""
    out = tmp_path_factory.mktemp("cdnow") / "run"
    proc = subprocess.run([*_command(), "run", str(EXAMPLE), "--output-dir", str(out)], capture_output=True, text=True, timeout=300)
    return out, proc


def test_run_example_end_to_end(cdnow_run):
    out, proc = cdnow_run
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert all(TIMESTAMP.match(line) for line in lines), proc.stderr
    # the only warning is the holdout verdict (BG/NBD under-forecasts CDNOW's holdout by 12%)
    warned = [line for line in lines if " WARNING " in line]
    assert all("StatisticalWarning: holdout:" in line for line in warned), warned
    assert "Traceback" not in proc.stderr
    assert "2,357 customers" in proc.stderr and str(out) in lines[-1]

    visible = sorted(p.name for p in out.iterdir())
    assert visible == ["bgnbd.json", "gamma-gamma.json", "holdout_by_frequency.csv", "manifest.json", "plots", "predictions.csv"]
    assert not _staging(out)
    header, table = _read_predictions(out / "predictions.csv")
    assert header["ci"] == "0.9" and header["horizon"] == "52.0" and header["random_seed"] == "1"
    assert table.index.name == "customer_id" and list(table.columns) == list(COLUMNS)
    assert len(table) == 2357 and table.index.is_unique and table.index[0] == "0001"  # ids read as text
    assert (table["clv_lower"] <= table["clv"]).all() and (table["clv"] <= table["clv_upper"]).all()
    assert oct((out / "predictions.csv").stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["seed"] == 1 and manifest["converged"] is True
    assert manifest["input"]["sha256"] == _sha(CDNOW)
    assert manifest["input"]["rows_read"] == 6919 and manifest["input"]["rows_used"] == 6919
    assert manifest["input"]["rows_dropped"] == 0 and manifest["input"]["zero_amount_rows"] == 8
    assert manifest["input"]["customers"] == 2357
    bg = manifest["models"]["transactions"]
    assert bg["model"] == "BetaGeo" and bg["file"] == "bgnbd.json" and bg["converged"] is True and bg["ci"] == 0.9
    for name in ("r", "alpha", "a", "b"):
        p = bg["parameters"][name]
        assert p["lower"] < p["estimate"] < p["upper"]
    assert bg["diagnostics"]["max_abs_gradient"] < 1e-6
    # the holdout fit is the published calibration fit (Fader, Hardie & Lee 2005)
    hold = manifest["holdout"]
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert round(hold["transactions_model"]["parameters"][name]["estimate"], 3) == value
    assert hold["metrics"]["actual_total"] == 1882 and len(hold["pit_decile_shares"]) == 10
    assert manifest["forecast"]["columns"] == ["customer_id", *COLUMNS]
    assert set(manifest["outputs"]) == {"predictions.csv", "bgnbd.json", "gamma-gamma.json", "holdout_by_frequency.csv",
                                        *(f"plots/{p}.png" for p in manifest["plots"])}
    for name, entry in manifest["outputs"].items():
        assert entry["sha256"] == _sha(out / name)
    assert {"calibration_fit", "holdout_by_frequency", "tracking", "top_customers"} <= set(manifest["plots"])
    assert len(list((out / "plots").glob("*.png"))) == len(manifest["plots"])
    assert manifest["versions"]["numpy"] and manifest["versions"]["clvmodels"]
    assert {"read", "summarize", "holdout", "fit_spend", "fit_transactions", "forecast", "write", "plots", "total"} <= set(manifest["timings_seconds"])
    assert manifest["config"]["settings"]["forecast"]["horizon"] == 52.0


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_same_input_config_and_seed_give_identical_csv(cdnow_run, tmp_path):
    out, proc = cdnow_run
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again"
    assert main(["run", str(EXAMPLE), "--output-dir", str(again), "--no-plots", "-q"]) == 0
    assert (again / "predictions.csv").read_bytes() == (out / "predictions.csv").read_bytes()
    assert (again / "holdout_by_frequency.csv").read_bytes() == (out / "holdout_by_frequency.csv").read_bytes()
    # and into the same directory again (replacing its outputs)
    assert main(["run", str(EXAMPLE), "--output-dir", str(again), "--no-plots", "-q"]) == 0
    assert (again / "predictions.csv").read_bytes() == (out / "predictions.csv").read_bytes()


def test_step_by_step_commands_give_the_run_predictions(cdnow_run, tmp_path, capsys):
    """summarize -> fit -> fit -> forecast with the run's settings write the run's predictions, byte for byte."""
    out, _ = cdnow_run
    summary, bg, gg, pred = (tmp_path / n for n in ("summary.csv", "bgnbd.json", "gg.json", "predictions.csv"))
    assert main(["summarize", str(CDNOW), "-o", str(summary), "--time-unit", "W", "--observation-end", "1998-06-30", *CDNOW_OPTIONS]) == 0
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(bg)]) == 0
    assert main(["fit", str(summary), "--model", "gamma-gamma", "-o", str(gg)]) == 0
    assert main(["forecast", str(summary), "--transaction-model", str(bg), "--spend-model", str(gg), "--horizon", "52",
                 "--discount-rate", "0.15", "--seed", "1", "-o", str(pred)]) == 0
    assert pred.read_bytes() == (out / "predictions.csv").read_bytes()
    err = capsys.readouterr().err
    assert "wrote" in err and "BG/NBD (mle) on 2,357 customers" in err

    # a model file of the other model is refused with a clear message
    capsys.readouterr()
    code = main(["forecast", str(summary), "--transaction-model", str(gg), "--spend-model", str(gg), "--horizon", "52",
                 "--discount-rate", "0.15", "-o", str(tmp_path / "x.csv"), "-q"])
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "gg.json holds a GammaGamma model (Gamma-Gamma, a spend model), not a transactions model" in line
    assert "transactions models: 'bgnbd' (BG/NBD)" in line
    assert not (tmp_path / "x.csv").exists()


def test_rerun_removes_outputs_of_the_previous_run_only(cdnow_run, tmp_path):
    out, _ = cdnow_run
    target = tmp_path / "run"
    shutil.copytree(out, target)
    (target / "notes.txt").write_text("mine")
    config = _cdnow_config(tmp_path)  # no holdout, no plots
    assert main(["run", str(config), "--output-dir", str(target), "-q"]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["bgnbd.json", "gamma-gamma.json", "manifest.json", "notes.txt", "predictions.csv"]
    assert (target / "notes.txt").read_text() == "mine"
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["holdout"] is None and manifest["plots"] == []


# -- safe writes: killed, interrupted, failed and concurrent runs ------------------------------------------


def _start_and_wait_for_staging(target: Path) -> subprocess.Popen:
    """Start the example run into ``target``; return once its staging folder holds the predictions
    (the run is then drawing plots, a few seconds before it commits)."""
    proc = subprocess.Popen([*_command(), "run", str(EXAMPLE), "--output-dir", str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any((s / "predictions.csv").exists() for s in _staging(target)):
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it was stopped: {proc.returncode}\n{proc.stderr.read()}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("the run never staged its predictions")


def test_killed_or_terminated_run_leaves_previous_outputs_untouched(cdnow_run, tmp_path):
    out, _ = cdnow_run
    target = tmp_path / "run"
    shutil.copytree(out, target)
    before = _snapshot(target)

    # SIGTERM (a scheduler's timeout): the run unwinds, removes its staging folder, exits 1
    proc = _start_and_wait_for_staging(target)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert _snapshot(target) == before and not _staging(target)

    # SIGKILL: no cleanup possible; the outputs are untouched and the leftovers are hidden beside them
    proc = _start_and_wait_for_staging(target)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(target) == before  # nothing partial, nothing new, nothing changed
    leftovers = _staging(target)
    assert leftovers and all(p.name.startswith(".") for p in leftovers)

    # the next run removes the leftovers and writes complete outputs
    assert main(["run", str(EXAMPLE), "--output-dir", str(target), "--no-plots", "-q"]) == 0
    assert not _staging(target)
    assert (target / "predictions.csv").read_bytes() == (out / "predictions.csv").read_bytes()
    assert not (target / "plots").exists()


def test_failed_run_leaves_previous_outputs_untouched(cdnow_run, tmp_path, monkeypatch, capsys):
    out, _ = cdnow_run
    target = tmp_path / "run"
    shutil.copytree(out, target)
    before = _snapshot(target)
    import clvmodels.pipeline as pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "run_forecast", broken)
    code = main(["run", str(EXAMPLE), "--output-dir", str(target), "--no-plots", "-q"])
    assert code == 1
    line = _error_line(_without_holdout_verdict(capsys.readouterr().err))
    assert "internal error: RuntimeError: disk on fire (rerun with --debug for the traceback)" in line
    assert _snapshot(target) == before and not _staging(target)

    code = main(["run", str(EXAMPLE), "--output-dir", str(target), "--no-plots", "--debug"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback (most recent call last)" in err and "disk on fire" in err and " DEBUG " in err


def test_sigterm_during_the_commit_waits_for_it(tmp_path, monkeypatch):
    import clvmodels.pipeline as pipeline

    target = tmp_path / "out"
    replace = os.replace
    calls = []

    def replace_and_signal(src, dst):
        if not calls:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between two renames
        calls.append(dst)
        replace(src, dst)

    previous = signal.signal(signal.SIGTERM, pipeline.on_signal)
    try:
        with pytest.raises(pipeline.Terminated):
            with pipeline.StagedOutput(target) as staged:
                for name in ("predictions.csv", "plots/a.png", "manifest.json"):
                    staged.path(name).write_text(name)
                monkeypatch.setattr(pipeline.os, "replace", replace_and_signal)
                staged.commit()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert len(calls) == 3  # the commit finished before the signal took effect
    assert _snapshot(target).keys() == {"predictions.csv", "plots/a.png", "manifest.json"}
    assert not _staging(target)


def test_concurrent_run_on_the_same_directory_is_refused(tmp_path, capsys):
    target = tmp_path / "out"
    target.mkdir()
    _tx(tmp_path, GOOD_ROWS)
    config = _config(tmp_path)
    fd = os.open(target, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a run in progress holds
        assert main(["run", str(config), "-q"]) == 1
    finally:
        os.close(fd)
    assert "another clvmodels run is writing to" in _error_line(capsys.readouterr().err)
    assert list(target.iterdir()) == [] and not _staging(target)


# -- Bayesian run (subprocess) ------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("pymc") is None, reason="Bayesian fitting needs pymc, which is not installed")
def test_run_nuts_small(tmp_path):
    config = _cdnow_config(
        tmp_path,
        extra='on_nonconvergence = "warn"',
        model='method = "nuts"\nchains = 1\ndraws = 100\ntune = 100',
        forecast="n_draws = 100",
        summary="calibration_end = 1997-09-30",
    )
    proc = subprocess.run([*_command(), "run", str(config)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["bgnbd.nc", "gamma-gamma.nc", "holdout_by_frequency.csv", "manifest.json", "predictions.csv"]
    header, table = _read_predictions(out / "predictions.csv")
    assert len(table) == 2357 and list(table.columns) == list(COLUMNS) and header["n_draws"] == "100"
    manifest = json.loads((out / "manifest.json").read_text())
    bg = manifest["models"]["transactions"]
    assert bg["method"] == "nuts" and bg["diagnostics"]["chains"] == 1 and bg["diagnostics"]["draws"] == 100
    assert {"mean", "sd", "lower", "upper", "ess_bulk", "r_hat"} <= set(bg["parameters"]["r"])
    # 100 draws cannot give the effective sample size the convergence check asks for: recorded, warned, written
    assert bg["converged"] is False and any("ESS" in p for p in bg["problems"])
    assert manifest["converged"] is False and manifest["warnings"]
    assert manifest["holdout"]["transactions_model"]["method"] == "nuts"
    # each model's warning carries its own sampler report
    warned = [line for line in proc.stderr.splitlines() if "did not converge" in line]
    assert len(warned) == 3 and all(" WARNING " in line and 'on_nonconvergence = "warn"' in line for line in warned)
    assert "BG/NBD fitted to calibration_end did not converge: BetaGeo NUTS" in warned[0]
    assert "Gamma-Gamma did not converge: GammaGamma NUTS" in warned[1] and "BetaGeo" not in warned[1]
    assert "BG/NBD did not converge: BetaGeo NUTS" in warned[2] and "GammaGamma" not in warned[2]
    assert 0.2 < bg["parameters"]["r"]["mean"] < 0.3


# -- exit codes, flags, logs ---------------------------------------------------------------------------------


def test_version_and_help(capsys):
    from clvmodels import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"clvmodels {__version__}"
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("summarize", "fit", "forecast", "run"):
        assert command in text
    assert "Exit codes" in text
    assert main(["run", "--help"]) == 0
    assert "--dry-run" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    capsys.readouterr()
    assert main(["fit", "s.csv", "--model", "weibull", "-o", "m.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "clvmodels fit: error: argument --model: unknown model 'weibull'; registered models: 'bgnbd' (BG/NBD)" in err
    assert "'gamma-gamma' (Gamma-Gamma)" in err
    assert main(["summarize", "t.csv", "-o", "s.csv", "--time-unit", "W", "--observation-end", "never"]) == 2
    assert "argument --observation-end: is not a date" in capsys.readouterr().err
    assert main(["forecast", "s.csv", "--transaction-model", "a", "--spend-model", "b", "-o", "p.csv", "--horizon", "52",
                 "--discount-rate", "0.1", "--ci", "1.5"]) == 2


def test_logs_are_timestamped_and_quiet_silences_them(tmp_path, capsys):
    tx = _tx(tmp_path, GOOD_ROWS)
    assert main(["summarize", str(tx), "-o", str(tmp_path / "s.csv"), "--time-unit", "W"]) == 0
    err = capsys.readouterr().err
    assert err and all(TIMESTAMP.match(line) for line in err.strip().splitlines())
    assert main(["summarize", str(tx), "-o", str(tmp_path / "s.csv"), "--time-unit", "W", "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_progress_bars_only_on_a_terminal(tmp_path, monkeypatch):
    import clvmodels.pipeline as pipeline

    seen = []
    fit_model = pipeline.fit_model

    def spy(model, data, method, settings, source):
        seen.append(settings["progressbar"])
        return fit_model(model, data, method, settings, source)

    monkeypatch.setattr(pipeline, "fit_model", spy)
    assert main(["run", str(_cdnow_config(tmp_path)), "-q"]) == 0
    assert seen == [False, False]  # stderr is captured here, not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["run", str(_cdnow_config(tmp_path))]) == 0
    assert seen[2:] == [True, True]
    assert main(["run", str(_cdnow_config(tmp_path)), "--quiet"]) == 0
    assert seen[4:] == [False, False]


def test_dry_run_checks_and_writes_nothing(tmp_path, capsys):
    config = _cdnow_config(tmp_path)
    assert main(["run", str(config), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "2,357 customers" in captured.out and "predictions.csv" in captured.out and "by mle" in captured.out
    assert not (tmp_path / "out").exists() and not _staging(tmp_path / "out")
    # a dry run still reads the input: bad data fail it
    _tx(tmp_path, ["1,2024-01-01,-5"])
    assert main(["run", str(_config(tmp_path)), "--dry-run", "-q"]) == 2
    assert "negative amount" in _error_line(capsys.readouterr().err)
    assert main(["summarize", str(tmp_path / "tx.csv"), "-o", str(tmp_path / "s.csv"), "--time-unit", "W", "--dry-run", "-q"]) == 2
    capsys.readouterr()
    _tx(tmp_path, GOOD_ROWS)
    assert main(["summarize", str(tmp_path / "tx.csv"), "-o", str(tmp_path / "s.csv"), "--time-unit", "W", "--dry-run"]) == 0
    assert "would write" in capsys.readouterr().out and not (tmp_path / "s.csv").exists()


def test_model_that_does_not_converge_exits_3_or_warns(tmp_path, capsys):
    # one customer: BG/NBD's likelihood has no interior maximum
    tx = _tx(tmp_path, ["1,2024-01-01,10", "1,2024-01-15,12", "1,2024-02-20,9", "1,2024-03-30,11"])
    code, summary = _summarize(tmp_path, tx)
    assert code == 0
    model = tmp_path / "bgnbd.json"
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(model), "-q"]) == 3
    line = _error_line(capsys.readouterr().err)
    assert "BG/NBD did not converge" in line and "Nothing was written" in line and "--on-nonconvergence warn" in line
    assert not model.exists()
    assert main(["fit", str(summary), "--model", "bgnbd", "-o", str(model), "-q", "--on-nonconvergence", "warn"]) == 0
    err = capsys.readouterr().err
    assert "did not converge" in err and " WARNING " in err and model.exists()


def test_fit_refuses_the_wrong_model_file_suffix_before_fitting(tmp_path, capsys):
    code, summary = _summarize(tmp_path, _tx(tmp_path, GOOD_ROWS))
    assert main(["fit", str(summary), "--model", "bgnbd", "--method", "nuts", "-o", str(tmp_path / "m.json"), "-q"]) == 2
    assert "use a .nc name" in _error_line(capsys.readouterr().err)


def test_parquet_input(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"customer_id": [1, 1, 2, 2, 3], "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05", "2024-03-01", "2024-01-07"]),
                          "amount": [10.0, 12.0, 5.0, 6.0, 7.0]})
    frame.to_parquet(tmp_path / "tx.parquet")
    code, summary = _summarize(tmp_path, tmp_path / "tx.parquet")
    assert code == 0
    table = pd.read_csv(summary, comment="#", index_col=0)
    assert table["frequency"].tolist() == [1, 1, 0]
    (tmp_path / "bad.parquet").write_text("customer_id,date\n1,2024-01-01\n")
    code, _ = _summarize(tmp_path, tmp_path / "bad.parquet")
    assert code == 2 and "not a readable Parquet file" in _error_line(capsys.readouterr().err)


def test_summary_file_round_trips(tmp_path):
    code, summary = _summarize(tmp_path, _tx(tmp_path, ["007,2024-01-01,10", "007,2024-01-15,14", "010,2024-01-02,3"]), "--observation-end", "2024-01-29")
    assert code == 0
    from clvmodels.pipeline import read_summary

    data = read_summary(summary)
    assert list(data.index) == ["007", "010"]  # leading zeros kept
    assert data.attrs["time_unit"] == "W" and data.attrs["observation_end"].startswith("2024-01-29")
    assert data.loc["007", "recency"] == 2.0 and data.loc["007", "monetary_value"] == 14.0


# -- bad input, one case each: exit 2 and one line naming the file, column, rows and fix -----------------------


def test_missing_file(tmp_path, capsys):
    code, out = _summarize(tmp_path, tmp_path / "nope.csv")
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "nope.csv: no such transaction file" in line and not out.exists()


def test_unreadable_encoding(tmp_path, capsys):
    path = tmp_path / "tx.csv"
    path.write_bytes(TX_HEADER.encode() + "Jos\xe9,2024-01-01,10\nJos\xe9,2024-02-01,12\n".encode("latin-1"))
    code, _ = _summarize(tmp_path, path)
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "tx.csv: not readable as utf-8 text: byte 0xe9 on line 2" in line and "encoding" in line
    code, out = _summarize(tmp_path, path, "--encoding", "latin-1")
    assert code == 0 and "José" in out.read_text(encoding="utf-8")


def test_empty_file(tmp_path, capsys):
    path = tmp_path / "tx.csv"
    path.write_text("")
    code, _ = _summarize(tmp_path, path)
    assert code == 2 and "tx.csv is empty (0 bytes)" in _error_line(capsys.readouterr().err)


def test_header_only(tmp_path, capsys):
    code, _ = _summarize(tmp_path, _tx(tmp_path, []))
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "tx.csv has a header line (customer_id, date, amount) but no rows" in line


def test_wrong_column_names_suggest_the_closest(tmp_path, capsys):
    tx = _tx(tmp_path, ["1,2024-01-01,10"], header="customer,date,amount\n")
    code, _ = _summarize(tmp_path, tx)
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "tx.csv: transactions has no column 'customer_id'" in line
    assert "Did you mean 'customer'?" in line and "--customer-col" in line and "customer_col=" not in line
    code, _ = _summarize(tmp_path, tx, "--customer-col", "customer")
    assert code == 0


def test_unparseable_dates(tmp_path, capsys):
    code, _ = _summarize(tmp_path, _tx(tmp_path, ["1,2024-01-01,10", "1,2024-13-45,10", "2,2024-01-02,5"]))
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "column 'date': 1 rows have a date that cannot be parsed (first: '2024-13-45')" in line
    assert "--date-format" in line and "date_format=" not in line and "Invalid transactions (3 rows)" in line
    assert "Use --invalid drop to exclude such rows" in line


def test_mixed_date_formats(tmp_path, capsys):
    tx = _tx(tmp_path, ["1,2024-01-05,10", "1,02/03/2024,10", "2,2024-01-07,5"])
    code, _ = _summarize(tmp_path, tx)
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "'02/03/2024'" in line and "'mixed'" in line
    code, out = _summarize(tmp_path, tx, "--date-format", "mixed")
    assert code == 0 and pd.read_csv(out, comment="#", index_col=0).loc[1, "frequency"] == 1


def test_malformed_csv_row(tmp_path, capsys):
    code, _ = _summarize(tmp_path, _tx(tmp_path, ["1,2024-01-01,10.00", "2,2024-01-02,1,200"]))
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "tx.csv: not a readable CSV with separator ','" in line and "line 3" in line


def test_wrong_separator_is_named(tmp_path, capsys):
    tx = _tx(tmp_path, ["1;2024-01-01;10"], header="customer_id;date;amount\n")
    code, _ = _summarize(tmp_path, tx)
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "the file looks separated by ';': set [input] separator = ';' (--sep)" in line
    assert _summarize(tmp_path, tx, "--sep", ";")[0] == 0
    code, _ = _summarize(tmp_path, tx, "--sep", ";", "--columns", "a,b,c")
    assert code == 2 and "add --no-header" in _error_line(capsys.readouterr().err)


def test_non_numeric_amounts(tmp_path, capsys):
    code, _ = _summarize(tmp_path, _tx(tmp_path, ["1,2024-01-01,10.00", "1,2024-01-09,$12.00", "2,2024-01-02,ten"]))
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "column 'amount': 2 rows have a non-numeric amount (first: '$12.00')" in line
    assert "currency symbols" in line


def test_negative_amounts_are_invalid_and_zero_amounts_are_purchases(tmp_path, capsys):
    code, _ = _summarize(tmp_path, _tx(tmp_path, ["1,2024-01-01,10", "1,2024-01-09,-4", "2,2024-01-02,5"]))
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "column 'amount': 1 rows have a negative amount (returns or refunds) (first: -4.0)" in line
    code, out = _summarize(tmp_path, _tx(tmp_path, ["1,2024-01-01,0", "1,2024-01-09,8", "2,2024-01-02,0"]))
    assert code == 0
    table = pd.read_csv(out, comment="#", index_col=0)
    assert table["frequency"].tolist() == [1, 0] and table.loc[1, "monetary_value"] == 8.0


def test_missing_ids(tmp_path, capsys):
    code, _ = _summarize(tmp_path, _tx(tmp_path, ["1,2024-01-01,10", ",2024-01-09,4", ",2024-01-10,4"]))
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "column 'customer_id': 2 rows have a missing customer id; fill or remove those rows" in line


def test_duplicated_rows_kept_by_default_refused_or_dropped_on_request(tmp_path, capsys):
    tx = _tx(tmp_path, ["1,2024-01-01,10", "1,2024-01-01,10", "1,2024-01-20,5", "2,2024-01-02,5"])
    code, out = _summarize(tmp_path, tx)
    assert code == 0  # identical rows are separate purchases of one day: their values add up
    assert pd.read_csv(out, comment="#", index_col=0).loc[1, "frequency"] == 1
    code, _ = _summarize(tmp_path, tx, "--duplicates", "raise")
    line = _error_line(capsys.readouterr().err)
    assert code == 2 and "1 rows duplicate an earlier row in (customer_id, date, amount)" in line
    code, _ = _summarize(tmp_path, tx, "--duplicates", "drop")
    err = capsys.readouterr().err
    assert code == 0 and " WARNING " in err and "DataWarning: Excluded 1 of 4 transaction rows" in err


def test_dates_after_the_observation_end_are_outside_the_window(tmp_path, capsys):
    """A log that runs past the observation end is the normal case: those rows are excluded and counted, not an error."""
    tx = _tx(tmp_path, ["1,2024-01-01,10", "1,2024-02-09,4", "2,2024-01-02,5", "2,2024-02-10,5"])
    code, out = _summarize(tmp_path, tx, "--observation-end", "2024-01-31")
    assert code == 0 and capsys.readouterr().err == ""
    table = pd.read_csv(out, comment="#", index_col=0)
    assert table["frequency"].tolist() == [0, 0] and table["T"].tolist() == [30 / 7, 29 / 7]
    code = main(["summarize", str(tx), "-o", str(out), "--time-unit", "W", "--observation-end", "2024-01-31"])
    assert code == 0 and "4 rows, 2 used, 2 dropped (2 after the observation end)" in capsys.readouterr().err


def test_dropped_rows_are_counted_in_the_manifest(tmp_path):
    from clvmodels.datasets import load_cdnow_sample

    tx = load_cdnow_sample()[["customer_id", "date", "amount"]]
    rows = [f"{c},{d:%Y-%m-%d},{a}" for c, d, a in tx.itertuples(index=False)]
    _tx(tmp_path, rows + ["5,not a date,3", "6,1997-02-01,-1"])
    config = _config(tmp_path, BASE_CONFIG.replace('path = "tx.csv"', 'path = "tx.csv"\ninvalid = "drop"'))
    assert main(["run", str(config), "-q"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["input"]["rows_read"] == 6921 and manifest["input"]["rows_used"] == 6919 and manifest["input"]["rows_dropped"] == 2
    assert manifest["input"]["rows_dropped_by_reason"] == {"have a date that cannot be parsed": 1, "have a negative amount (returns or refunds)": 1}
    assert any("Excluded 2 of 6,921" in w for w in manifest["warnings"])
    assert manifest["converged"] and manifest["input"]["customers"] == 2357


def test_a_single_customer(tmp_path, capsys):
    _tx(tmp_path, ["1,2024-01-01,10", "1,2024-01-15,12", "1,2024-02-20,9"])
    assert main(["run", str(_config(tmp_path)), "-q"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "tx.csv: Gamma-Gamma: Gamma-Gamma needs customers with repeat purchases; data has 1" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_one_transaction_per_customer(tmp_path, capsys):
    _tx(tmp_path, [f"{i},2024-01-{i:02d},{i}.5" for i in range(1, 21)])
    assert main(["run", str(_config(tmp_path)), "-q"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "data has 0 (frequency > 0). Use a longer observation period." in line


def test_unknown_config_keys_name_the_closest(tmp_path, capsys):
    _tx(tmp_path, GOOD_ROWS)
    cases = {
        "horizn = 52": "unknown key 'horizn' in [forecast] (did you mean 'horizon'?)",
        "time_unit = 'W'": "unknown key 'time_unit' in [forecast] (it belongs in [summary])",
        "color = 'red'": "unknown key 'color' in [forecast] (valid keys: horizon, discount_rate",
    }
    for extra, expected in cases.items():
        config = _config(tmp_path, BASE_CONFIG.replace("n_draws = 50", f"n_draws = 50\n{extra}"))
        assert main(["run", str(config), "-q"]) == 2
        line = _error_line(capsys.readouterr().err)
        assert "job.toml: " in line and expected in line
    config = _config(tmp_path, BASE_CONFIG + "[outputs]\nplots = true\n")
    assert main(["run", str(config), "-q"]) == 2
    assert "unknown table or key 'outputs' (did you mean [output]?)" in _error_line(capsys.readouterr().err)


def test_wrong_types_in_the_config(tmp_path, capsys):
    _tx(tmp_path, GOOD_ROWS)
    cases = {
        ('horizon = 52', 'horizon = "52"'): "[forecast] horizon must be a number, got a string ('52'); write horizon = 52 without quotes",
        ('n_draws = 50', 'n_draws = 50.5'): "[forecast] n_draws must be a whole number, got a float (50.5)",
        ('seed = 3', 'seed = true'): "seed must be a whole number, got a boolean (True)",
        ('time_unit = "W"', 'time_unit = "fortnight"'): "[summary] time_unit is not a time unit",
        ('discount_rate = 0.15', 'discount_rate = 0.15\nci = 90'): "[forecast] ci must be between 0 and 1 (exclusive), for example 0.9, got 90.0",
        ('[summary]', '[summary]\nobservation_end = "yesterday"'): "[summary] observation_end is not a date",
        ('[output]', '[output]\nplots = "yes"'): "[output] plots must be true or false, got a string ('yes')",
        ('horizon = 52', 'horizon = 52\ndiscounting = "discret"'): "(did you mean 'discrete'?)",
        ('dir = "out"', ''): "[output] dir is required",
    }
    for (old, new), expected in cases.items():
        assert old in BASE_CONFIG
        config = _config(tmp_path, BASE_CONFIG.replace(old, new))
        assert main(["run", str(config), "-q"]) == 2, new
        line = _error_line(capsys.readouterr().err)
        assert expected in line, line
    _config(tmp_path, BASE_CONFIG + "[model\n", "broken.toml")
    assert main(["run", str(tmp_path / "broken.toml"), "-q"]) == 2
    assert "broken.toml: not valid TOML" in _error_line(capsys.readouterr().err)
    assert main(["run", str(tmp_path / "missing.toml"), "-q"]) == 2
    assert "missing.toml: no such config file" in _error_line(capsys.readouterr().err)


def test_output_directory_that_cannot_be_written(tmp_path, capsys):
    _tx(tmp_path, GOOD_ROWS)
    (tmp_path / "blocker").write_text("a file")
    config = _config(tmp_path, BASE_CONFIG.replace('dir = "out"', 'dir = "blocker/out"'))
    assert main(["run", str(config), "-q"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "output directory" in line and "cannot be created" in line and "blocker is a file" in line
    config = _config(tmp_path, BASE_CONFIG.replace('dir = "out"', 'dir = "blocker"'))
    assert main(["run", str(config), "-q"]) == 2
    assert "exists and is not a directory" in _error_line(capsys.readouterr().err)
    assert main(["summarize", str(tmp_path / "tx.csv"), "-o", str(tmp_path / "blocker" / "s.csv"), "--time-unit", "W", "-q"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "blocker/s.csv: folder" in line and "exists and is not a directory; choose another -o path" in line
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        config = _config(tmp_path, BASE_CONFIG.replace('dir = "out"', 'dir = "locked/out"'))
        assert main(["run", str(config), "-q"]) == 2
        assert "no write permission" in _error_line(capsys.readouterr().err)


# -- the configuration schema and its documentation ------------------------------------------------------------


def test_every_config_key_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for key in config_module.SCHEMA:
        row = f"| `{key.qualified}` | {key.kind} | {key.default_text()} |"
        assert row in readme, f"README's config table lacks or misstates {row}"


def test_example_config_is_valid_and_priors_parse(tmp_path):
    config = config_module.load_config(EXAMPLE)
    assert config.input.path == CDNOW.resolve() and config.output.dir == (ROOT / "build" / "cdnow-run").resolve()
    assert config.output.plots and config.model.method == "mle" and config.summary.calibration_end == "1997-09-30"
    raw = {"input": {"path": "t.csv"}, "summary": {"time_unit": "W"}, "forecast": {"horizon": float("inf"), "discount_rate": 0.1},
           "output": {"dir": "o"}, "model": {"method": "nuts", "priors": {"b": {"distribution": "Gamma", "alpha": 2, "beta": 0.5}}}}
    parsed = config_module.parse_config(raw, tmp_path / "c.toml")
    assert parsed.model.settings("bgnbd", 1, False)["priors"]["b"].params == {"alpha": 2.0, "beta": 0.5}
    assert parsed.model.settings("gamma-gamma", 1, False)["priors"] is None
    raw["model"]["priors"] = {"bb": {"distribution": "Gamma"}}
    with pytest.raises(config_module.ConfigError, match=r"\[model.priors\] has no parameter 'bb' \(did you mean 'b'\?\)"):
        config_module.parse_config(raw, tmp_path / "c.toml")
