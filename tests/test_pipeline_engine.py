"""The batch job's engines: ``[input] engine``, directories and globs, streaming hashes.

The pandas reader is the reference: CDNOW through DuckDB gives the run's predictions byte for
byte; a Parquet directory, a glob of CSV parts and a single file give the same summary and the
same calibration split, exactly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from clvmodels import pipeline
from clvmodels.cli import main
from clvmodels.config import ConfigError, InputConfig, SummaryConfig, parse_config

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT / "data" / "CDNOW_sample.txt"
CDNOW_SPEC = InputConfig(path=CDNOW, separator="whitespace", header=False, columns=("master_id", "customer_id", "date", "quantity", "amount"),
                         date_format="%Y%m%d")
PERIOD = SummaryConfig(time_unit="W", observation_end="1998-06-30")
SPLIT = SummaryConfig(time_unit="W", observation_end="1998-06-30", calibration_end="1997-09-30")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cdnow_log() -> pd.DataFrame:
    """CDNOW as the pandas reader reads it (ids and dates as text)."""
    return pipeline.read_transactions(CDNOW_SPEC).frame[["customer_id", "date", "amount"]]


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory: pytest.TempPathFactory, cdnow_log: pd.DataFrame) -> Path:
    """CDNOW as a plain CSV (comma-separated UTF-8 with a header line)."""
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    cdnow_log.to_csv(path, index=False)
    return path


def _spec(path: Path | str, **settings) -> InputConfig:
    return InputConfig(path=Path(path), date_format="%Y%m%d", **settings)


def _summaries(spec: InputConfig) -> tuple[pipeline.Transactions, pd.DataFrame, pd.DataFrame]:
    tx = pipeline.read_transactions(spec)
    return tx, pipeline.summarize(tx, spec, PERIOD), pipeline.summarize(tx, spec, SPLIT, calibration=True)


def _parts(log: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    """The log shuffled and cut in uneven parts."""
    shuffled = log.sample(frac=1.0, random_state=7).reset_index(drop=True)
    cuts = [0, *pd.Series(sizes).cumsum().tolist(), len(shuffled)]
    return [shuffled.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


# -- the engine chosen -----------------------------------------------------------------------------------------


def test_auto_chooses_duckdb_for_files_it_reads_and_pandas_for_csv_options(tmp_path, cdnow_csv):
    assert pipeline.choose_engine(_spec(cdnow_csv)) == ("duckdb", "a comma-separated UTF-8 CSV with a header line")
    assert pipeline.choose_engine(_spec(cdnow_csv, encoding="UTF_8")) [0] == "duckdb"
    assert pipeline.choose_engine(CDNOW_SPEC) == ("pandas", "a CSV read with [input] separator = 'whitespace', header = false, "
                                                            'columns = ["master_id", "customer_id", "date", "quantity", "amount"]')
    assert pipeline.choose_engine(_spec(cdnow_csv, decimal=",")) == ("pandas", "a CSV read with [input] decimal = ','")
    assert pipeline.choose_engine(_spec(cdnow_csv, encoding="latin-1")) == ("pandas", "a CSV read with [input] encoding = 'latin-1'")
    gz = tmp_path / "tx.csv.gz"
    import gzip

    gz.write_bytes(gzip.compress(cdnow_csv.read_bytes()))
    assert pipeline.choose_engine(_spec(gz)) == ("pandas", "a gzip-compressed CSV")
    assert pipeline.choose_engine(_spec(gz, engine="duckdb"))[0] == "duckdb"  # DuckDB reads .gz
    bz = tmp_path / "tx.csv"
    import bz2

    bz.write_bytes(bz2.compress(cdnow_csv.read_bytes()))
    with pytest.raises(pipeline.InputError, match=r'tx.csv is bz2-compressed, which \[input\] engine = "duckdb" does not read'):
        pipeline.choose_engine(_spec(bz, engine="duckdb"))
    pd.read_csv(cdnow_csv, dtype=str).to_parquet(tmp_path / "tx.parquet")
    assert pipeline.choose_engine(_spec(tmp_path / "tx.parquet")) == ("duckdb", "a Parquet file")
    assert pipeline.choose_engine(_spec(tmp_path / "tx.parquet", engine="pandas")) == ("pandas", '[input] engine = "pandas"')
    assert pipeline.choose_engine(_spec(tmp_path / "tx.parquet", format="csv")) == ("pandas", "[input] format = 'csv' for a file named tx.parquet")
    assert pipeline.choose_engine(_spec(tmp_path)) == ("duckdb", "a directory of files")
    assert pipeline.choose_engine(_spec(tmp_path / "*.parquet")) == ("duckdb", "a glob of files")
    with pytest.raises(pipeline.InputError, match=r'is a directory: engine = "pandas" reads one file; set \[input\] engine = "auto" or "duckdb"'):
        pipeline.choose_engine(_spec(tmp_path, engine="pandas"))
    with pytest.raises(pipeline.InputError, match=r"is a glob, which DuckDB reads .* it does not take \[input\] separator = ';'"):
        pipeline.choose_engine(_spec(tmp_path / "*.csv", separator=";"))


def _raw(**inp) -> dict:
    return {"input": {"path": "t.csv", **inp}, "summary": {"time_unit": "W"}, "forecast": {"horizon": 52, "discount_rate": 0.1},
            "output": {"dir": "o"}}


def test_config_keys_engine_and_memory_limit(tmp_path):
    config = parse_config(_raw(), tmp_path / "c.toml")
    assert config.input.engine == "auto" and config.input.memory_limit is None
    assert parse_config(_raw(engine="duckdb", memory_limit="2GB"), tmp_path / "c.toml").input.memory_limit == "2GB"
    cases = [
        ((("engine", "duckdb"), ("separator", ";")), r'\[input\] engine = "duckdb" reads CSV with DuckDB\'s reader .* does not take \[input\] separator = \';\''),
        ((("engine", "duckdb"), ("header", False), ("columns", ["a", "b"])), r'does not take \[input\] header = false \(nor columns = \["a", "b"\]\)'),
        ((("engine", "duckdb"), ("encoding", "cp1252")), r"does not take \[input\] encoding = 'cp1252'"),
        ((("engine", "pandas"), ("memory_limit", "2GB")), r'\[input\] memory_limit = \'2GB\' limits DuckDB, but engine = "pandas"'),
        ((("memory_limit", "lots"),), r'\[input\] memory_limit must be a positive amount of memory with its unit, for example "2GB"'),
        ((("memory_limit", "0GB"),), r"\[input\] memory_limit must be a positive amount"),
        ((("engine", "spark"),), r"\[input\] engine must be one of 'auto', 'pandas', 'duckdb', got 'spark'"),
    ]
    for settings, message in cases:
        with pytest.raises(ConfigError, match=message):
            parse_config(_raw(**dict(settings)), tmp_path / "c.toml")
    # Parquet takes no CSV options: engine = "duckdb" with format = "parquet" ignores them
    assert parse_config(_raw(engine="duckdb", format="parquet", separator=";"), tmp_path / "c.toml").input.engine == "duckdb"


# -- the same results through both engines ---------------------------------------------------------------------------


def _same(engine: pd.DataFrame, reference: pd.DataFrame, what: str) -> None:
    """Counts, recency and T exactly equal; sums of amounts to 1e-12 relative (DuckDB adds them
    in another order, the engine's documented contract)."""
    money = [c for c in reference.columns if c.startswith("monetary_value")]
    pd.testing.assert_frame_equal(engine.drop(columns=money), reference.drop(columns=money), check_exact=True, obj=what)
    pd.testing.assert_frame_equal(engine[money], reference[money], check_exact=False, rtol=1e-12, atol=0.0, obj=what)
    assert engine.attrs == reference.attrs, what


def test_directory_and_glob_of_parts_give_the_single_file_summary(tmp_path, cdnow_log, cdnow_csv):
    ptx, reference, reference_split = _summaries(_spec(cdnow_csv, engine="pandas"))
    assert ptx.engine == "pandas" and len(reference) == 2357 and len(reference_split) == 2357
    folder = tmp_path / "parquet"
    folder.mkdir()
    for i, part in enumerate(_parts(cdnow_log, [1, 3000, 17, 2500])):
        part.to_parquet(folder / f"part-{i:02d}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")  # a writer's marker file is not data
    csvs = tmp_path / "csv"
    csvs.mkdir()
    for i, part in enumerate(_parts(cdnow_log, [2000, 9, 4000])):
        part.to_csv(csvs / f"day={i}.csv", index=False)
    inputs = {"single CSV": cdnow_csv, "Parquet directory": folder, "Parquet glob": folder / "part-*.parquet", "CSV glob": csvs / "*.csv"}
    for what, path in inputs.items():
        tx, summary, split = _summaries(_spec(path, memory_limit="300MB"))
        assert tx.engine == "duckdb" and tx.frame is None, what
        _same(summary, reference, what)
        _same(split, reference_split, what)
    tx = pipeline.read_transactions(_spec(folder))
    files = sorted(folder.glob("part-*.parquet"))
    assert [f.path for f in tx.files] == files
    assert [(f.n_bytes, f.sha256) for f in tx.files] == [(p.stat().st_size, _sha(p)) for p in files]
    assert tx.n_bytes == sum(p.stat().st_size for p in files) and tx.format == "parquet"
    listing = "".join(sorted(_sha(p) + "\n" for p in files))
    assert tx.sha256 == hashlib.sha256(listing.encode()).hexdigest()
    assert tx.columns == ("customer_id", "date", "amount")


def test_tracking_log_read_by_duckdb_is_the_pandas_log(cdnow_csv, cdnow_log, tmp_path):
    duck = pipeline.read_transactions(_spec(cdnow_csv))
    log = duck.log_columns(["customer_id", "date"])
    assert log.columns.tolist() == ["customer_id", "date"] and len(log) == len(cdnow_log)
    assert log["customer_id"].tolist() == cdnow_log["customer_id"].tolist()
    assert log["date"].tolist() == cdnow_log["date"].tolist()
    # typed Parquet columns keep their types
    frame = pd.DataFrame({"customer_id": [3, 3, 1], "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05"]), "amount": [1.0, 2.0, 3.0]})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    typed = pipeline.read_transactions(_spec(tmp_path / "t.parquet")).log_columns(["customer_id", "date"])
    pd.testing.assert_frame_equal(typed, frame[["customer_id", "date"]], check_dtype=False)


def _job(tmp_path: Path, data: Path, engine: str, name: str, plots: bool = False) -> Path:
    text = f"""
seed = 1
[input]
path = "{data.as_posix()}"
date_format = "%Y%m%d"
engine = "{engine}"
[summary]
time_unit = "W"
calibration_end = 1997-09-30
observation_end = 1998-06-30
[forecast]
horizon = 52
discount_rate = 0.15
n_draws = 200
[output]
dir = "{name}"
plots = {str(plots).lower()}
"""
    path = tmp_path / f"{name.replace('/', '-')}.toml"
    path.write_text(text)
    return path


def test_cdnow_through_both_engines_gives_identical_outputs(tmp_path, cdnow_csv, capsys):
    assert main(["run", str(_job(tmp_path, cdnow_csv, "pandas", "pandas"))]) == 0
    assert main(["run", str(_job(tmp_path, cdnow_csv, "auto", "duckdb"))]) == 0
    for name in ("predictions.csv", "holdout_by_frequency.csv"):
        lines = [(tmp_path / run / name).read_text().splitlines() for run in ("pandas", "duckdb")]
        assert [a for a, b in zip(*lines) if a != b] == [] and len(lines[0]) == len(lines[1]), name
        assert (tmp_path / "pandas" / name).read_bytes() == (tmp_path / "duckdb" / name).read_bytes(), name
    # the same fits; a model file also keeps its data, whose monetary values DuckDB sums in
    # another order where a customer bought several times in a day (equal to 1e-12 relative, the
    # engine's contract): the parameters agree to 1e-9 and print alike (predictions.csv above)
    for name in ("bgnbd.json", "gamma-gamma.json"):
        saved = [json.loads((tmp_path / run / name).read_text()) for run in ("pandas", "duckdb")]
        params = [pd.Series({**m["fitted"]["params"], "loglik": m["fitted"]["loglik"]}) for m in saved]
        pd.testing.assert_series_equal(params[1], params[0], check_exact=False, rtol=1e-9, atol=0.0, obj=name)
    text = capsys.readouterr().err
    assert "with pandas ([input] engine = \"pandas\")" in text
    assert "with DuckDB (a comma-separated UTF-8 CSV with a header line): 1 csv file" in text
    by = {name: json.loads((tmp_path / name / "manifest.json").read_text())["input"] for name in ("pandas", "duckdb")}
    for record in by.values():
        assert record["sha256"] == _sha(cdnow_csv) and record["sha256_of"] == "the file"
        assert record["files"] == [{"path": str(cdnow_csv), "bytes": cdnow_csv.stat().st_size, "sha256": _sha(cdnow_csv)}]
        assert record["rows_read"] == 6919 and record["customers"] == 2357
    assert by["pandas"]["engine"] == "pandas" and by["duckdb"]["engine"] == "duckdb"
    assert by["duckdb"]["engine_reason"] == "a comma-separated UTF-8 CSV with a header line"
    header = [line for line in (tmp_path / "duckdb" / "predictions.csv").read_text().splitlines() if line.startswith("#")]
    assert f"# input_sha256: {_sha(cdnow_csv)}" in header


@pytest.mark.slow
def test_run_on_a_parquet_directory_with_holdout_plots(tmp_path, cdnow_csv, cdnow_log):
    """A directory of Parquet parts: the job's outputs are those of the single CSV (the tracking
    plot reads the log's ids and dates through DuckDB); the manifest lists every part."""
    folder = tmp_path / "log"
    folder.mkdir()
    for i, part in enumerate(_parts(cdnow_log, [3000, 1000])):
        part.to_parquet(folder / f"part-{i}.parquet", index=False)
    assert main(["run", str(_job(tmp_path, cdnow_csv, "pandas", "single")), "-q"]) == 0
    assert main(["run", str(_job(tmp_path, folder, "auto", "parts", plots=True)), "-q"]) == 0
    assert (tmp_path / "single" / "holdout_by_frequency.csv").read_bytes() == (tmp_path / "parts" / "holdout_by_frequency.csv").read_bytes()
    single = pd.read_csv(tmp_path / "single" / "predictions.csv", comment="#", index_col=0, dtype={0: str})
    parts = pd.read_csv(tmp_path / "parts" / "predictions.csv", comment="#", index_col=0, dtype={0: str})
    # the parts are shuffled: amounts are summed in another order (1e-15 relative), which the
    # spend model's fit carries into the last digits of the CLV columns
    pd.testing.assert_frame_equal(parts, single, check_exact=False, rtol=1e-9, atol=0.0)
    manifest = json.loads((tmp_path / "parts" / "manifest.json").read_text())
    files = sorted(folder.glob("*.parquet"))
    assert manifest["input"]["files"] == [{"path": str(p), "bytes": p.stat().st_size, "sha256": _sha(p)} for p in files]
    assert manifest["input"]["sha256_of"] == "the files' SHA-256s, sorted, one per line"
    assert manifest["forecast"]["settings"]["input_sha256"] == manifest["input"]["sha256"] != _sha(files[0])
    assert "tracking" in manifest["plots"] and (tmp_path / "parts" / "plots" / "tracking.png").exists()


# -- reading by streaming ------------------------------------------------------------------------------------------


def test_files_are_hashed_by_streaming_never_read_whole(tmp_path, cdnow_csv, monkeypatch):
    monkeypatch.setattr(pipeline, "HASH_CHUNK", 1000)

    def whole(*args, **kwargs):
        raise AssertionError("read whole")

    monkeypatch.setattr(Path, "read_bytes", whole)
    monkeypatch.setattr(pipeline, "_read_bytes", whole)
    tx = pipeline.read_transactions(_spec(cdnow_csv))
    monkeypatch.undo()
    assert tx.sha256 == _sha(cdnow_csv) and tx.n_bytes == cdnow_csv.stat().st_size


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_empty_and_header_only_csv_are_refused_whatever_the_chunks(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(pipeline, "HASH_CHUNK", chunk)
    path = tmp_path / "tx.csv"
    for text, message in {"": "tx.csv is empty (0 bytes)", "\n \n": "tx.csv is empty (3 bytes)",
                          "customer_id,date,amount\n\n": "tx.csv has a header line (customer_id, date, amount) but no rows",
                          "customer_id,date,amount": "has a header line (customer_id, date, amount) but no rows"}.items():
        path.write_text(text)
        with pytest.raises(pipeline.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            pipeline.read_transactions(_spec(path))
    path.write_text("customer_id,date,amount\n\n1,20240101,3")
    assert pipeline.read_transactions(_spec(path)).engine == "duckdb"


def test_bad_parquet_part_and_dry_run_plan(tmp_path, cdnow_log, capsys):
    folder = tmp_path / "parts"
    folder.mkdir()
    cdnow_log.iloc[:100].to_parquet(folder / "a.parquet", index=False)
    (folder / "b.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(pipeline.InputError, match=r"b.parquet: not a readable Parquet file \(it does not begin and end with the Parquet marker PAR1\)"):
        pipeline.read_transactions(_spec(folder))
    (folder / "b.parquet").unlink()
    job = _job(tmp_path, folder, "auto", "parts/out")
    assert main(["run", str(job), "--dry-run", "-q"]) == 2
    assert "lies inside [input] path" in capsys.readouterr().err
    assert main(["run", str(_job(tmp_path, folder, "duckdb", "out")), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert 'engine     duckdb ([input] engine = "duckdb")' in out and "100 rows" in out
    assert not (tmp_path / "out").exists()
