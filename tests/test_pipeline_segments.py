"""The batch job with attributes, segments, costs and covariates (issue 14, section 4).

``[input] attributes`` joins a per-customer table, ``[segments]`` writes segments.csv (the
library's :meth:`clvmodels.Forecast.segment_summary` and :meth:`~clvmodels.Forecast.compare`, the
same numbers as a direct call with the same seed), ``[costs]`` adds the net_clv columns and
``[model] covariates`` reaches the transactions model's constructor. Every bad input is one line
naming the key, the file or the column, with exit code 2. Through ``clvmodels.cli.main`` in this
process on CLVTools' apparel data (600 customers) and the CDNOW sample.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels import GammaGamma, ParetoNBD, forecast, rfm_summary
from clvmodels.cli import main
from clvmodels.config import covariate_models
from clvmodels.models.registry import registered
from clvmodels.segments import acquisition_cohorts

ROOT = Path(__file__).resolve().parents[1]
TRANSACTIONS = ROOT / "data" / "apparel" / "apparel_transactions.csv"
COVARIATES = ROOT / "data" / "apparel" / "apparel_static_covariates.csv"
CDNOW = ROOT / "data" / "CDNOW_sample.txt"
EXAMPLE = ROOT / "examples" / "apparel_segments.toml"
#: made-up acquisition costs by channel code, and a text attribute
CAC = {0: 10.0, 1: 25.0}


def _attributes(folder: Path) -> Path:
    """The apparel attributes with an acquisition cost column and a text column (region)."""
    table = pd.read_csv(COVARIATES)
    table["cac"] = table["Channel"].map(CAC)
    table["region"] = np.where(table["Id"] % 3 == 0, "north", "south")
    path = folder / "customers.csv"
    table.to_csv(path, index=False)
    return path


def _config(folder: Path, *, attributes: str | None = "customers.csv", segments: str | None = None, costs: str | None = None,
            model: str = 'transactions = "pareto-nbd"', extra_input: str = "", name: str = "job.toml", out: str = "out") -> Path:
    text = f"""seed = 3

[input]
path = "{TRANSACTIONS.as_posix()}"
customer_col = "Id"
date_col = "Date"
amount_col = "Price"
{f'attributes = "{attributes}"' if attributes else ''}
{extra_input}

[summary]
time_unit = "W"

[model]
{model}

[forecast]
horizon = 52
discount_rate = 0.1
margin = 0.5
n_draws = 200

{segments or ''}

{costs or ''}

[output]
dir = "{out}"
"""
    path = folder / name
    path.write_text(text)
    return path


SEGMENTS = """[segments]
by = ["Channel", ["Channel", "region"]]
compare = [["Channel", "1", "0"], [["Channel", "region"], ["1", "north"], ["0", "north"]]]"""
COSTS = """[costs]
cost_per_purchase = 4.0
acquisition_cost = "cac\""""


def _error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if " ERROR " in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def channel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("segments")
    _attributes(folder)
    assert main(["run", str(_config(folder, segments=SEGMENTS, costs=COSTS)), "-q"]) == 0
    return folder


def _library_forecast(folder: Path):
    """The same forecast by direct library calls: summary, fits, forecast with the run's seed."""
    log = pd.read_csv(TRANSACTIONS, dtype={"Id": str, "Date": str})
    summary = rfm_summary(log, customer_col="Id", date_col="Date", amount_col="Price", time_unit="W")
    table = pd.read_csv(folder / "customers.csv", dtype={"Id": str}).set_index("Id").reindex(summary.index)
    segments = pd.DataFrame({"Channel": table["Channel"].astype(str), "region": table["region"]}, index=summary.index)
    return forecast(ParetoNBD().fit(summary), GammaGamma().fit(summary), summary, horizon=52, discount_rate=0.1, margin=0.5,
                    n_draws=200, random_seed=3, segments=segments, cost_per_purchase=4.0, acquisition_cost=table["cac"])


def test_segments_csv_equals_the_library(channel_run: Path):
    rows = pd.read_csv(channel_run / "out" / "segments.csv", dtype={"segment": str, "a": str, "b": str})
    expected = _library_forecast(channel_run)
    by_channel = expected.segment_summary("Channel")
    got = rows[(rows["kind"] == "segment") & (rows["by"] == "Channel")].set_index("segment")
    assert got.index.tolist() == ["0", "1"] and got["customers"].tolist() == [372, 228]
    columns = [c for c in by_channel.columns if c != "customers"]
    assert {"net_clv_mean", "net_clv_total_pred_upper", "clv_to_acquisition_lower", "acquisition_cost_mean"} <= set(columns)
    np.testing.assert_allclose(got[columns].to_numpy(float), by_channel[columns].to_numpy(float), rtol=1e-9)
    np.testing.assert_allclose(got["acquisition_cost_mean"], [10.0, 25.0])
    cells = expected.segment_summary(["Channel", "region"])
    got = rows[(rows["kind"] == "segment") & (rows["by"] == "Channel/region")].set_index("segment")
    assert got.index.tolist() == ["0/north", "0/south", "1/north", "1/south"]
    np.testing.assert_allclose(got[columns].to_numpy(float), cells[columns].to_numpy(float), rtol=1e-9)
    comparisons = rows[rows["kind"] == "comparison"].set_index("segment")
    assert comparisons.index.tolist() == ["1 vs 0", "1/north vs 0/north"]
    for label, row in (("1 vs 0", expected.compare("Channel", "1", "0")),
                       ("1/north vs 0/north", expected.compare(["Channel", "region"], ("1", "north"), ("0", "north")))):
        for key in ("mean_a", "mean_b", "difference", "difference_lower", "difference_upper", "prob_a_greater"):
            assert comparisons.loc[label, key] == pytest.approx(row[key], rel=1e-9), key
    assert comparisons.loc["1 vs 0", "prob_a_greater"] == 1.0 and comparisons.loc["1 vs 0", "difference_lower"] > 0


def test_predictions_gain_net_clv_and_the_manifest_records_it(channel_run: Path):
    out = channel_run / "out"
    predictions = pd.read_csv(out / "predictions.csv", comment="#", index_col=0, dtype={0: str})
    expected = _library_forecast(channel_run).frame
    net = ["net_clv", "net_clv_lower", "net_clv_upper", "net_clv_pred_lower", "net_clv_pred_upper"]
    assert set(net) <= set(predictions.columns)
    np.testing.assert_allclose(predictions[net].to_numpy(), expected.loc[predictions.index, net].to_numpy(), rtol=1e-9)
    # net of 4 per expected (discounted) purchase: below CLV for every customer with any future purchase
    assert (predictions["net_clv"] <= predictions["clv"]).all() and (predictions["net_clv"] < predictions["clv"]).mean() > 0.99
    manifest = json.loads((out / "manifest.json").read_text())
    digest = hashlib.sha256((channel_run / "customers.csv").read_bytes()).hexdigest()
    assert manifest["attributes"]["sha256"] == digest and manifest["attributes"]["customer_col"] == "Id"
    assert manifest["attributes"]["columns"] == ["Gender", "Channel", "cac", "region"] and manifest["attributes"]["customers_matched"] == 600
    assert manifest["segments"]["by"] == ["Channel", "Channel/region"] and manifest["segments"]["segments"] == {"Channel": 2, "Channel/region": 4}
    assert manifest["segments"]["compare"][1] == {"by": "Channel/region", "a": "1/north", "b": "0/north"}
    assert manifest["costs"]["cost_per_purchase"] == 4.0 and manifest["costs"]["acquisition_cost"] == "column 'cac' of the attributes"
    assert manifest["costs"]["acquisition_cost_total"] == 372 * 10.0 + 228 * 25.0 and manifest["costs"]["net_clv"] is True
    assert manifest["covariates"] is None and "segments.csv" in manifest["outputs"]
    header = [line for line in (out / "predictions.csv").read_text().splitlines() if line.startswith("#")]
    assert f"# attributes_sha256: {digest}" in header


def test_cohorts_from_the_log_and_a_rerun_without_segments(tmp_path: Path):
    """CDNOW's cohort by month of first purchase (781, 857 and 719 customers in 1997-01 to -03),
    the library's table by cohort, and a later run without segments removes segments.csv."""
    base = f"""seed = 1
[input]
path = "{CDNOW.as_posix()}"
separator = "whitespace"
header = false
columns = ["master_id", "customer_id", "date", "quantity", "amount"]
date_format = "%Y%m%d"
[summary]
time_unit = "W"
[forecast]
horizon = 52
discount_rate = 0.15
n_draws = 100
predictive = false
[output]
dir = "out"
"""
    config = tmp_path / "cdnow.toml"
    config.write_text(base + '[segments]\ncohort = "M"\ncompare = [["cohort", "1997-01", "1997-03"]]\n')
    assert main(["run", str(config), "-q"]) == 0
    rows = pd.read_csv(tmp_path / "out" / "segments.csv", dtype={"segment": str})
    got = rows[rows["kind"] == "segment"].set_index("segment")
    assert got.index.tolist() == ["1997-01", "1997-02", "1997-03"] and got["customers"].tolist() == [781, 857, 719]
    log = pd.read_csv(CDNOW, sep=r"\s+", header=None, names=["master_id", "customer_id", "date", "quantity", "amount"],
                      dtype={"customer_id": str, "date": str})
    from clvmodels import BetaGeo

    summary = rfm_summary(log, amount_col="amount", time_unit="W", date_format="%Y%m%d")
    cohorts = acquisition_cohorts(log, freq="M", date_format="%Y%m%d")
    result = forecast(BetaGeo().fit(summary), GammaGamma().fit(summary), summary, horizon=52, discount_rate=0.15, n_draws=100,
                      predictive=False, random_seed=1, segments=cohorts)
    expected = result.segment_summary("cohort")
    np.testing.assert_allclose(got[expected.columns].to_numpy(float), expected.to_numpy(float), rtol=1e-9)
    comparison = rows[rows["kind"] == "comparison"].iloc[0]
    assert comparison["prob_a_greater"] == pytest.approx(result.compare("cohort", "1997-01", "1997-03")["prob_a_greater"], abs=0)
    assert "net_clv" not in pd.read_csv(tmp_path / "out" / "predictions.csv", comment="#", nrows=1).columns
    config.write_text(base)
    assert main(["run", str(config), "-q"]) == 0
    assert not (tmp_path / "out" / "segments.csv").exists()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["segments"] is None and manifest["attributes"] is None and manifest["costs"]["net_clv"] is False


def _no_covariates_model() -> str | None:
    able = covariate_models()
    return next((k for k in registered("transactions") if k not in able), None)


BAD = {
    "unknown segment column": (dict(segments='[segments]\nby = ["Chanel"]'),
                               "[segments] by or compare names 'Chanel' (did you mean 'Channel'?), not a column of customers.csv; "
                               "available: Gender, Channel, cac, region"),
    "unknown compared segment": (dict(segments='[segments]\nby = ["Channel"]\ncompare = [["Channel", "1", "2"]]'),
                                 "[segments] compare ['Channel'] names the segment '2', which no customer has; segments of Channel: 0, 1"),
    "cohort without cohort": (dict(segments='[segments]\nby = ["cohort"]'), "not a column of customers.csv; available: Gender, Channel, cac, region; "
                              '[segments] cohort = "Q" (or "M", "Y") adds "cohort"'),
    "segment named like a table column": (dict(segments='[segments]\nby = ["customers"]', extra="customers"),
                                          "[segments] by names the attribute column 'customers', a name the segment table uses"),
    "missing segment values": (dict(segments='[segments]\nby = ["Gender"]', blank="Gender"),
                               "column 'Gender' ([segments]) has no value for 5 customers (first: '10')"),
    "missing ids": (dict(drop=7), "customers.csv: 7 of the 600 customers of the transactions have no row (first: '1'; ids are matched as "
                                  "text in column 'Id', [input] customer_col): give every customer a row"),
    "duplicated ids": (dict(twice=3), "customers.csv: 3 customer ids appear more than once in column 'Id' (first: '1', 2 rows); "
                                      "the attribute table needs one row per customer"),
    "no id column": (dict(extra_input='attributes_customer_col = "id"'),
                     "customers.csv has no column 'id' of customer ids (did you mean 'Id'?); its columns: Id, Gender, Channel, cac, region: "
                     "set [input] attributes_customer_col"),
    "no attribute file": (dict(attributes="nowhere.csv", segments='[segments]\nby = ["Channel"]'),
                          "nowhere.csv: no such attribute table; check [input] attributes (relative to the config file)"),
    "negative cost column": (dict(costs='[costs]\nacquisition_cost = "Gender"', negative="Gender"),
                             "column 'Gender' ([costs] acquisition_cost) has 1 values that are missing, negative or not numbers"),
    "cost column of text": (dict(costs='[costs]\ncost_per_purchase = "region"'),
                            "column 'region' ([costs] cost_per_purchase) has 600 values that are missing, negative or not numbers"),
    "costs without attributes": (dict(attributes=None, costs='[costs]\nacquisition_cost = "cac"'),
                                 "[costs] acquisition_cost = 'cac' names an attribute column, but there is no attribute table"),
    "costs without amounts": (dict(costs="[costs]\ncost_per_purchase = 2.0", extra_input="", no_amounts=True),
                              '[costs] give CLV net of costs, which needs amounts, but [input] amount_col = ""'),
    "categorical without covariates": (dict(model='transactions = "pareto-nbd"\ncategorical = ["Channel"]'),
                                       "[model] categorical declares covariates as categories, but there are no [model] covariates"),
    "unknown covariate": (dict(model='transactions = "{able}"\ncovariates = ["Chanel"]', needs_covariates=True),
                          "[model] covariates names 'Chanel' (did you mean 'Channel'?), not a column of customers.csv"),
    "covariates of a model without them": (dict(model='transactions = "{unable}"\ncovariates = ["Channel"]'),
                                           "[model] covariates need a model that supports them, but [model] transactions = '{unable}'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_with_exit_code_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # messages name files relative to the working directory
    settings, expected = BAD[case]
    unable, able = _no_covariates_model(), (covariate_models() or [None])[0]
    if "{unable}" in settings.get("model", "") and unable is None:
        pytest.skip("every registered transactions model takes covariates")  # nothing to refuse
    if settings.get("needs_covariates") and able is None:
        pytest.skip("no registered model takes covariates in this version (the refusal is tested by its own case)")
    table = pd.read_csv(_attributes(tmp_path))
    if "extra" in settings:
        table[settings["extra"]] = 1
    if "blank" in settings:
        table.loc[table["Id"].isin([10, 20, 30, 40, 50]), settings["blank"]] = np.nan
    if "drop" in settings:
        table = table.iloc[settings["drop"]:]
    if "twice" in settings:
        table = pd.concat([table, table.iloc[: settings["twice"]]])
    if "negative" in settings:
        table.loc[table.index[4], settings["negative"]] = -1
    table.to_csv(tmp_path / "customers.csv", index=False)
    extra_input = settings.get("extra_input", "")
    config = _config(tmp_path, attributes=settings.get("attributes", "customers.csv"), segments=settings.get("segments"),
                     costs=settings.get("costs"), model=settings.get("model", 'transactions = "pareto-nbd"').format(unable=unable, able=able),
                     extra_input=extra_input)
    if settings.get("no_amounts"):
        config.write_text(config.read_text().replace('amount_col = "Price"', 'amount_col = ""'))
    assert main(["run", str(config), "-q"]) == 2
    line = _error(capsys.readouterr().err)
    assert expected.format(unable=unable, able=able) in line, line
    assert not (tmp_path / "out" / "predictions.csv").exists()


@pytest.mark.skipif(not covariate_models(), reason="no registered transactions model takes covariates yet")
def test_covariates_reach_the_model_and_bad_covariates_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    from clvmodels.models.registry import model_class

    key = "pareto-nbd" if "pareto-nbd" in covariate_models() else covariate_models()[0]
    table = pd.read_csv(_attributes(tmp_path))
    table["constant"] = 1.0
    table["channel_copy"] = table["Channel"] * 2.0 + 1.0
    table.to_csv(tmp_path / "customers.csv", index=False)
    config = _config(tmp_path, model=f'transactions = "{key}"\ncovariates = ["Gender", "Channel"]\ncategorical = ["Channel"]')
    assert main(["run", str(config), "-q"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["covariates"]["columns"] == ["Gender", "Channel"] and manifest["covariates"]["categorical"] == ["Channel"]
    parameters = manifest["models"]["transactions"]["parameters"]
    assert any("Gender" in name for name in parameters) and any("Channel" in name for name in parameters)
    # the same fit by the library
    log = pd.read_csv(TRANSACTIONS, dtype={"Id": str, "Date": str})
    summary = rfm_summary(log, customer_col="Id", date_col="Date", amount_col="Price", time_unit="W")
    joined = summary.join(pd.read_csv(COVARIATES, dtype={"Id": str}).set_index("Id"))
    fitted = model_class(key)(covariates=["Gender", "Channel"], categorical=["Channel"]).fit(joined)
    model = json.loads((tmp_path / "out" / f"{key}.json").read_text())
    assert manifest["models"]["transactions"]["loglik"] == pytest.approx(fitted.loglik_, rel=1e-9)
    assert model  # saved
    for covariates, categorical, fragment in (
        (["region"], None, "region"),
        (["Gender", "constant"], None, "constant"),
        (["Channel", "channel_copy"], None, "channel_copy"),
    ):
        text = f'transactions = "{key}"\ncovariates = {json.dumps(covariates)}'
        if categorical:
            text += f"\ncategorical = {json.dumps(categorical)}"
        config = _config(tmp_path, model=text, out="bad")
        assert main(["run", str(config), "-q"]) == 2
        line = _error(capsys.readouterr().err)
        assert "customers.csv ([model] covariates)" in line and fragment in line, line
        assert "covariates=" not in line and "categorical=" not in line, line  # in the config's words


def test_example_runs_end_to_end(tmp_path: Path):
    assert main(["run", str(EXAMPLE), "-q", "--output-dir", str(tmp_path / "out")]) == 0
    rows = pd.read_csv(tmp_path / "out" / "segments.csv", dtype={"segment": str})
    assert rows["kind"].tolist() == ["segment"] * 6 + ["comparison"]
    assert rows.loc[(rows["kind"] == "segment") & (rows["by"] == "Channel"), "customers"].tolist() == [372, 228]
    assert rows.loc[rows["kind"] == "segment", "acquisition_cost_mean"].eq(15.0).all()


def test_parquet_attributes_with_numeric_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A Parquet table whose ids are numbers matches the CSV log's ids read as text; the dry run says so."""
    table = pd.read_csv(_attributes(tmp_path))
    assert table["Id"].dtype.kind == "i"
    table.to_parquet(tmp_path / "customers.parquet", index=False)
    config = _config(tmp_path, attributes="customers.parquet", segments='[segments]\nby = ["region"]', costs=COSTS)
    assert main(["run", str(config), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    digest = hashlib.sha256((tmp_path / "customers.parquet").read_bytes()).hexdigest()
    assert f"customers.parquet (parquet, {(tmp_path / 'customers.parquet').stat().st_size:,} bytes, sha256 {digest}): 600 rows" in plan
    assert "segments.csv (by region)" in plan and "net of 4.0 per purchase, acquisition cost column 'cac'" in plan
    assert not (tmp_path / "out").exists()
