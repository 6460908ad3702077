"""Bundled data: loaders and their presence in a built (non-editable) wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels.datasets import (
    load_apparel,
    load_apparel_covariates,
    load_cdnow_master,
    load_cdnow_sample,
    load_donations,
)

ROOT = Path(__file__).resolve().parents[1]


def test_cdnow_sample():
    tx = load_cdnow_sample()
    assert list(tx.columns) == ["customer_id", "date", "quantity", "amount"]
    assert len(tx) == 6919 and tx["customer_id"].nunique() == 2357
    assert tx["customer_id"].min() == 1 and tx["customer_id"].max() == 2357
    assert pd.api.types.is_datetime64_dtype(tx["date"])
    assert tx["date"].min() == pd.Timestamp("1997-01-01") and tx["date"].max() == pd.Timestamp("1998-06-30")
    first = tx.iloc[0]
    assert (first["customer_id"], first["date"], first["quantity"], first["amount"]) == (
        1, pd.Timestamp("1997-01-01"), 2, 29.33,
    )
    # 6,696 customer-days (Fader, Hardie & Lee 2005)
    assert len(tx.drop_duplicates(["customer_id", "date"])) == 6696


def test_cdnow_master():
    tx = load_cdnow_master()
    assert list(tx.columns) == ["customer_id", "date", "quantity", "amount"]
    assert len(tx) == 69659 and tx["customer_id"].nunique() == 23570
    assert pd.api.types.is_datetime64_dtype(tx["date"])
    assert (tx["amount"] >= 0).all()


def test_donations():
    d = load_donations()
    assert list(d.columns) == ["frequency", "recency", "n_periods", "weight"]
    assert len(d) == 22 and d["weight"].sum() == 11104
    assert (d["n_periods"] == 6).all()
    assert np.all((d["recency"] >= d["frequency"]) & (d["recency"] <= d["n_periods"]))
    assert d.attrs["time_unit"] == "Y"


def test_apparel():
    tx = load_apparel()
    assert list(tx.columns) == ["customer_id", "date", "amount"]
    assert tx.dtypes.tolist() == load_cdnow_sample()[["customer_id", "date", "amount"]].dtypes.tolist()
    assert len(tx) == 3187 and tx["customer_id"].nunique() == 600
    assert tx["customer_id"].min() == 1 and tx["customer_id"].max() == 600
    # one cohort: every customer first buys on 2005-01-02 (CLVTools' set-up), data to 2010-12-20
    assert (tx.groupby("customer_id")["date"].min() == pd.Timestamp("2005-01-02")).all()
    assert tx["date"].max() == pd.Timestamp("2010-12-20")
    first = tx.iloc[0]
    assert (first["customer_id"], first["date"], first["amount"]) == (1, pd.Timestamp("2005-01-02"), 230.3)
    # as distributed: 4 zero amounts, 4 transactions on a customer's day already counted
    assert (tx["amount"] >= 0).all() and (tx["amount"] == 0).sum() == 4
    assert tx.duplicated(["customer_id", "date"]).sum() == 4
    assert tx["amount"].sum() == pytest.approx(124356.9, abs=0.005)
    # CLVTools' calibration (to 2006-12-31) holds 1,868 of the transactions
    assert (tx["date"] <= "2006-12-31").sum() == 1868


def test_apparel_covariates():
    cov = load_apparel_covariates()
    assert cov.index.name == "customer_id" and list(cov.columns) == ["Gender", "Channel"]
    assert (cov.dtypes == np.int64).all() and cov.index.is_unique
    assert set(cov.index) == set(load_apparel()["customer_id"])
    assert cov.isin([0, 1]).all().all()
    cells = pd.crosstab(cov["Gender"], cov["Channel"])
    assert cells.to_numpy().tolist() == [[180, 124], [192, 104]]


@pytest.mark.slow
def test_data_ships_in_the_wheel(tmp_path):
    """Build a real wheel, install it into a bare folder and load the data from there."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("clvmodels-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for data_file in ("CDNOW_sample.txt", "CDNOW_master.txt", "donations.csv"):
        assert f"clvmodels/_data/{data_file}" in names
    # CLVTools' apparel data is GPL-3: in the source tree, not in the Apache-2.0 wheel
    assert not [n for n in names if "apparel" in n]
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
    )
    # -S: no site processing, so the editable install of the source tree is not on the path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])}
    code = (
        "import clvmodels, clvmodels.datasets as d; "
        "assert clvmodels.__file__.startswith(%r), clvmodels.__file__; "
        "print(len(d.load_cdnow_sample()), len(d.load_cdnow_master()), len(d.load_donations()))"
    ) % str(target)
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["6919", "69659", "22"]
