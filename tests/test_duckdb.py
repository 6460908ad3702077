"""The DuckDB engine against the pandas path (the reference): same results, errors and warnings.

Every test runs one call through ``engine="pandas"`` on a DataFrame and the same call through
DuckDB (on the DataFrame, or on Parquet/CSV files written from it), then requires ``frequency``
and the holdout counts to be equal, ``recency``, ``T`` and ``duration_holdout`` bit-identical,
``monetary_value`` equal to 1e-12 relative, identical ``attrs`` (report included) and identical
error and warning texts.
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pyarrow
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels.data import calibration_holdout_split, rfm_summary
from clvmodels.engines import pattern_table

from .test_data import transaction_logs


EXACT = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
MONEY = ["monetary_value", "monetary_value_holdout"]


def outcome(func, *args, **kwargs):
    """The result (or the error's type and text) and the texts of the warnings of one call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            result = (type(exc).__name__, str(exc))
    return result, [(w.category.__name__, str(w.message)) for w in caught]


def assert_same(reference: pd.DataFrame, ours: pd.DataFrame) -> None:
    assert list(ours.columns) == list(reference.columns)
    pd.testing.assert_index_equal(ours.index, reference.index, exact=True)
    for col in reference.columns:
        a, b = reference[col].to_numpy(), ours[col].to_numpy()
        assert a.dtype == b.dtype, col
        if col in EXACT:
            assert np.array_equal(a.view(np.int64) if a.dtype == np.float64 else a,
                                  b.view(np.int64) if b.dtype == np.float64 else b), col  # bit for bit
        else:
            assert col in MONEY
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=0, err_msg=col)
    assert ours.attrs == reference.attrs


def both(func, frame: pd.DataFrame, source=None, **kwargs):
    """Run ``func`` through pandas on ``frame`` and through DuckDB on ``source`` (default: frame)."""
    ref, ref_warnings = outcome(func, frame, engine="pandas", **kwargs)
    ours, our_warnings = outcome(func, frame if source is None else source, engine="duckdb", **kwargs)
    assert our_warnings == ref_warnings
    if isinstance(ref, tuple):
        assert ours == ref
    else:
        assert not isinstance(ours, tuple), ours
        assert_same(ref, ours)
    return ref, ref_warnings


def _frame(rows, id_type=int):
    return pd.DataFrame(
        {
            "customer_id": [id_type(c) for c, _, _ in rows],
            "date": pd.to_datetime([ts for _, ts, _ in rows]),
            "amount": [a for _, _, a in rows],
        }
    )


def _log(**columns) -> pd.DataFrame:
    base = {
        "customer_id": ["007", "007", "01", "01", "7", "7", "7"],
        "date": ["2024-01-01 09:30", "2024-01-04 18:00", "2024-01-02 00:00", "2024-01-06 23:59",
                 "2024-01-03 08:00", "2024-01-03 20:00", "2024-01-05 12:00"],
        "amount": ["10.5", "20", "5.25", "7.5", "1", "2", "3"],
    }
    base.update(columns)
    return pd.DataFrame(base)


# --------------------------------------------------------------------------------------------
# property: any clean log, any unit, through a DataFrame
# --------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log=transaction_logs(),
    time_unit=st.sampled_from(["h", "D", "W", "M", "Y"]),
    ids=st.sampled_from([int, lambda c: f"{c:06d}"]),
    amounts=st.booleans(),
    duplicates=st.sampled_from(["keep", "drop"]),
)
def test_rfm_summary_equal_on_generated_logs(log, time_unit, ids, amounts, duplicates):
    rows, observation_end = log
    frame = _frame(rows, id_type=ids)
    both(rfm_summary, frame, amount_col="amount" if amounts else None, observation_end=observation_end,
         time_unit=time_unit, duplicates=duplicates)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=transaction_logs(min_rows=2), cut=st.floats(0.1, 0.9), time_unit=st.sampled_from(["h", "D", "W"]))
def test_calibration_holdout_split_equal_on_generated_logs(log, cut, time_unit):
    rows, observation_end = log
    frame = _frame(rows, id_type=lambda c: f"{c:05d}")
    first, last = frame["date"].min(), frame["date"].max()
    calibration_end = first + (last - first) * cut
    both(calibration_holdout_split, frame, calibration_end=calibration_end, amount_col="amount",
         observation_end=observation_end, time_unit=time_unit)


# --------------------------------------------------------------------------------------------
# fixed cases: merges, faults, duplicates, files
# --------------------------------------------------------------------------------------------


def test_same_day_merges_and_leading_zero_ids_from_parquet(tmp_path):
    log = _log()
    log["date"] = pd.to_datetime(log["date"])
    log["amount"] = log["amount"].astype(float)
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    ref, _ = both(rfm_summary, log, source=str(path), amount_col="amount", time_unit="W")
    assert list(ref.index) == ["007", "01", "7"]
    # customer 7: Jan 3 twice (merged: 1 + 2 = 3), Jan 5 (3): one repeat purchase worth 3
    assert ref.loc["7"].tolist() == [1, 2 / 7, 3 / 7, 3.0]
    both(rfm_summary, log, source=str(path), amount_col="amount", time_unit="h")  # hours: no merge


@pytest.mark.parametrize("invalid", ["raise", "drop"])
def test_invalid_rows_same_errors_counts_and_report(invalid):
    log = _log(
        customer_id=["007", None, "01", "01", "7", None, "7", "8", "8"],
        date=["2024-01-01", "2024-01-04", "2024-01-02", "not a date", "2300-01-03", "bad",
              "2024-01-05", "2024-01-09", None],
        amount=["10", "20", "-5", "7.5", "$1", "2", "inf", "nan", "3"],
    )
    ref, ref_warnings = both(rfm_summary, log, amount_col="amount", invalid=invalid)
    if invalid == "raise":
        assert ref[0] == "ValueError" and ref[1].startswith("Invalid transactions (9 rows)")
        assert "column 'date': 1 rows have a date outside the supported range" in ref[1]
    else:
        report = ref.attrs["report"]
        assert report["rows_used"] + sum(report["dropped"].values()) == report["rows_in"] == 9
        # only the first row is clean; rows 4 (year 2300, "$1") and 5 (no id, "bad") have two faults
        assert report["rows_used"] == 1 and sum(report["dropped"].values()) == 8
        assert sum(report["faults"].values()) == 10
        assert "2 rows have more than one fault and are counted once" in ref_warnings[0][1]


def test_unparseable_first_row_and_date_format():
    log = _log(date=["05/01/2024", "06/01/2024", "07/01/2024", "2024-01-08", "08/01/2024", "09/01/2024",
                     "10/01/2024"])
    both(rfm_summary, log, invalid="drop")  # format inferred from the first value, as pandas does
    both(rfm_summary, log, invalid="drop", date_format="%d/%m/%Y")
    both(rfm_summary, log, date_format="mixed", time_unit="D")


def test_numeric_dates_with_date_format():
    log = _log(date=[20240101, 20240104, 20240102, 20240106, 20240103, 20240103, 23000105])
    both(rfm_summary, log, date_format="%Y%m%d", invalid="drop")
    both(rfm_summary, log)  # numbers without date_format: the same refusal


@pytest.mark.parametrize("duplicates", ["keep", "drop", "raise"])
def test_duplicates(duplicates):
    log = _log(
        customer_id=["007", "007", "007", "01", "01", "01", "7"],
        date=["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-02", "bad", "bad", "2024-01-05"],
        amount=["10", "10", "10", "5", "5", "5", "3"],
    )
    both(rfm_summary, log, amount_col="amount", duplicates=duplicates, invalid="drop")


def test_rows_after_observation_end_are_counted_not_invalid():
    log = _log(date=["2024-01-01", "2024-01-04", "2024-01-02", "2026-01-06", "2024-01-03", "2024-01-03",
                     "2024-01-05"])
    ref, ref_warnings = both(rfm_summary, log, amount_col="amount", observation_end="2024-01-04")
    assert ref.attrs["report"]["rows_after_observation_end"] == 2
    assert ref.attrs["report"]["rows_used"] == 5
    assert [w[1][:52] for w in ref_warnings] == ["1 rows are dated more than a year after observation_"]
    both(calibration_holdout_split, log, calibration_end="2024-01-02", observation_end="2024-01-04",
         amount_col="amount")


def test_time_zone_aware_dates_are_refused():
    log = _log()
    log["date"] = pd.to_datetime(log["date"]).dt.tz_localize("Europe/Paris")
    ref, _ = both(rfm_summary, log)
    assert "time-zone aware (Europe/Paris)" in ref[1]
    strings = _log(date=["2024-01-01T10:00:00+01:00"] * 7)
    both(rfm_summary, strings)


def test_overflowing_amounts_are_refused():
    log = _log(amount=[1.0, 1e308, 1.0, 1.0, 1e308, 1e308, 1.0])  # customer 7: 2e308 on Jan 3
    ref, _ = both(rfm_summary, log, amount_col="amount")
    assert ref == ("ValueError", ref[1]) and ref[1].startswith("column 'amount': the amounts of 1 customers add up")


def test_two_digit_years_across_the_pivot_are_flagged():
    log = _log(date=["12/30/68", "01/05/69", "01/02/24", "01/06/24", "01/03/24", "01/03/24", "01/05/24"])
    _, caught = both(rfm_summary, log, date_format="%m/%d/%y")
    assert any("more than 50 years apart" in text and "'007'" in text for _, text in caught)


def test_observation_end_outside_the_range_of_dates():
    ref, _ = both(rfm_summary, _log(), observation_end="2300-01-01")
    assert ref == ("ValueError", "observation_end='2300-01-01' is outside the supported range of dates "
                                 "(1677-09-22 to 2262-04-10); check the year.")


def _read_like_the_batch_job(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, dtype={"customer_id": "str", "date": "str"}) for p in paths],
                     ignore_index=True)


def test_csv_directory_and_glob(tmp_path):
    log = _log(customer_id=["007", "007", "01", "NA", "7", "7", "7"], amount=["10.5", "20", "5.25", "7.5", "1", "$2", "3"])
    parts = [log.iloc[:3], log.iloc[3:5], log.iloc[5:]]
    folder = tmp_path / "exports"
    folder.mkdir()
    paths = []
    for i, part in enumerate(parts):
        paths.append(folder / f"part-{i}.csv")
        part.to_csv(paths[-1], index=False)
    frame = _read_like_the_batch_job(paths)
    assert frame["customer_id"].isna().sum() == 1  # "NA" is missing for pandas, and for DuckDB
    for source in (str(folder), str(folder / "part-*.csv"), folder):
        ref, _ = both(rfm_summary, frame, source=source, amount_col="amount", invalid="drop", time_unit="h")
    assert list(ref.index) == ["007", "01", "7"]
    one, _ = both(rfm_summary, _read_like_the_batch_job(paths[:1]), source=str(paths[0]))
    assert len(one) == 2


def test_parquet_glob_arrow_and_relation(tmp_path):
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame({
        "customer_id": rng.integers(0, 60, n),
        "date": (np.datetime64("2023-12-30T00:00") + rng.integers(0, 60 * 24 * 90, n).astype("timedelta64[m]")),
        "amount": np.round(rng.lognormal(3, 1, n), 2),
    })
    for i in range(3):
        frame.iloc[i::3].to_parquet(tmp_path / f"m{i}.parquet")
    files = sorted(tmp_path.glob("m*.parquet"))
    whole = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    both(rfm_summary, whole, source=str(tmp_path / "m*.parquet"), amount_col="amount")
    both(calibration_holdout_split, whole, source=str(tmp_path), calibration_end="2024-02-01",
         amount_col="amount", time_unit="W")
    table = pyarrow.Table.from_pandas(whole, preserve_index=False)
    ref, _ = both(rfm_summary, whole, source=table, amount_col="amount")
    with duckdb.connect() as con:
        relation = con.read_parquet([str(f) for f in files])
        ours = rfm_summary(relation, amount_col="amount")  # auto: a relation goes to DuckDB
    assert_same(ref, ours)


def test_auto_engine_and_unsupported_engines(tmp_path):
    log = _log()
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    s = rfm_summary(str(path), amount_col="amount", memory_limit="64MB", temp_directory=str(tmp_path))
    assert s["frequency"].tolist() == [1, 1, 1]
    with pytest.raises(TypeError, match="must be a Spark DataFrame with engine='spark'"):
        rfm_summary(log, engine="spark")
    with pytest.raises(ValueError, match="engine='polars'; use one of"):
        rfm_summary(log, engine="polars")
    with pytest.raises(TypeError, match="with engine='pandas'.*engine='auto' or 'duckdb'"):
        rfm_summary(str(path), engine="pandas")
    with pytest.raises(ValueError, match="no such file or directory"):
        rfm_summary(str(tmp_path / "missing.parquet"))
    with pytest.raises(ValueError, match="no file matches"):
        rfm_summary(str(tmp_path / "*.parquet"))
    with pytest.raises(ValueError, match=r"has no column 'customer'.*Did you mean 'customer_id'"):
        rfm_summary(str(path), customer_col="customer")


def test_pattern_table_in_pandas_and_duckdb(tmp_path):
    summary = clvmodels.calibration_holdout_split(
        clvmodels.datasets.load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W"
    )
    patterns = pattern_table(summary)
    assert int(patterns["weight"].sum()) == len(summary) == 2357
    assert patterns.attrs["customers"] == 2357 and patterns.attrs["patterns"] == len(patterns)
    assert patterns.attrs["time_unit"] == "W"
    # every customer's pattern is there, with its count
    counts = summary.groupby(["frequency", "recency", "T"]).size()
    assert counts.to_dict() == patterns.set_index(["frequency", "recency", "T"])["weight"].to_dict()
    path = tmp_path / "summary.parquet"
    summary.to_parquet(path)
    in_duckdb = pattern_table(str(path))
    pd.testing.assert_frame_equal(in_duckdb, patterns, check_exact=True)
    with pytest.raises(ValueError, match="no column 'monetary_value'"):
        pattern_table(summary, columns=("frequency", "monetary_value"))


def test_issue_15_regressions_through_duckdb(tmp_path):
    # a row with two faults counted once, in the warning and the report
    log = _log(customer_id=["1", None, None, "2", "3", "3", "3"], amount=["10", "-20", "-5", "7.5", "1", "2", "3"])
    both(rfm_summary, log, amount_col="amount", invalid="drop")
    # out-of-range typed dates from Parquet: refused with the same text, never wrapped
    typed = _log(date=pd.to_datetime(["2024-01-01", "2024-01-04", "2300-01-02", "2024-01-06", "1500-03-01",
                                      "2024-01-03", "2024-01-05"]).astype("datetime64[us]"))
    path = tmp_path / "typed.parquet"
    typed.to_parquet(path)
    back = pd.read_parquet(path)
    assert str(back["date"].dtype) == "datetime64[us]"
    ref, _ = both(rfm_summary, back, source=str(path))
    assert "2 rows have a date outside the supported range" in ref[1] and "'2300-01-02 00:00:00'" in ref[1]
    dropped, _ = both(rfm_summary, back, source=str(path), invalid="drop")
    assert dropped.attrs["observation_end"] == "2024-01-06T00:00:00"
    # overflow in the holdout period
    late = _log(amount=[10.0, 20.0, 5.0, 7.5, 1.0, 1e308, 1e308], date=["2024-01-01", "2024-01-04", "2024-01-02",
                "2024-01-06", "2024-01-03", "2024-01-05", "2024-01-05"])
    ref, _ = both(calibration_holdout_split, late, calibration_end="2024-01-03", amount_col="amount")
    assert "in the holdout period (first: customer '7')" in ref[1]


def test_monetary_value_keeps_its_precision_when_the_first_purchase_dominates():
    # the later purchases are worth 1e-9 of the first: total - first would lose 9 digits
    log = _log(amount=[1e7, 0.01, 2e9, 0.03, 5e8, 1.0, 0.07])
    ref, _ = both(rfm_summary, log, amount_col="amount")
    assert ref["monetary_value"].tolist() == [0.01, 0.03, 0.07]
    both(calibration_holdout_split, log, calibration_end="2024-01-03", amount_col="amount")


def test_unreadable_files_are_a_value_error(tmp_path):
    bad = tmp_path / "log.parquet"
    bad.write_bytes(b"customer_id,date\n1,2024-01-01\n")  # text under a Parquet name
    with pytest.raises(ValueError, match="DuckDB could not read transactions"):
        rfm_summary(str(bad))
    late_dollar = tmp_path / "late.csv"  # a "$2" far beyond DuckDB's type-sniffing sample
    rows = ["customer_id,date,amount"] + [f"{i % 50:03d},2024-01-{1 + i % 28:02d},{i % 7 + 1}.5" for i in range(21_000)]
    late_dollar.write_text("\n".join(rows + ["007,2024-01-02,$2"]) + "\n")
    frame = _read_like_the_batch_job([late_dollar])
    ref, _ = both(rfm_summary, frame, source=str(late_dollar), amount_col="amount")
    assert "1 rows have a non-numeric amount (first: '$2')" in ref[1]


def test_same_day_sums_are_the_same_bits_on_every_run(tmp_path):
    """Many purchases per customer-day, read in parallel from several Parquet files: the engine
    adds them in one order (by value), so repeated runs give identical bits."""
    rng = np.random.default_rng(9)
    n = 300_000
    tx = pd.DataFrame({
        "customer_id": rng.integers(0, 2_000, n),
        "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
        "amount": rng.gamma(2.0, 17.3, n),
    })
    shuffled = tx.sample(frac=1.0, random_state=1)
    for i, rows in enumerate(np.array_split(np.arange(n), 6)):
        shuffled.iloc[rows].to_parquet(tmp_path / f"part-{i}.parquet")
    runs = [
        calibration_holdout_split(str(tmp_path), calibration_end="2024-02-10", observation_end="2024-02-29",
                                  time_unit="D", amount_col="amount", engine="duckdb")
        for _ in range(3)
    ]
    for other in runs[1:]:
        pd.testing.assert_frame_equal(runs[0], other, check_exact=True)
    reference = calibration_holdout_split(tx, calibration_end="2024-02-10", observation_end="2024-02-29",
                                          time_unit="D", amount_col="amount", engine="pandas")
    np.testing.assert_allclose(runs[0]["monetary_value"], reference["monetary_value"], rtol=1e-12)
