"""Data sets shipped with clvmodels.

``load_cdnow_sample``
    The 1/10 sample of the CDNOW customers who made their first purchase in the first quarter
    of 1997 (2,357 customers, 6,919 purchases up to 1998-06-30), used by Fader, Hardie & Lee
    (2005) and by the Gamma-Gamma note of Fader & Hardie (2013).
``load_cdnow_master``
    The full cohort: 23,570 customers, 69,659 purchases.
``load_donations``
    The donations data of Fader, Hardie & Shang (2010) as a table of 22 (frequency, recency,
    periods) patterns with the number of donors showing each (11,104 donors), for BG/BB.
``load_apparel``, ``load_apparel_covariates``
    Simulated purchases of 600 customers of an apparel retailer (3,187 transactions,
    2005-01-02 to 2010-12-20) and their two static covariates, Gender and Channel, as
    distributed with the R package CLVTools (``apparelTrans``, ``apparelStaticCov``, release
    0.12.1).

The CDNOW and donations files are the ones distributed with the original papers (and the
``lifetimes`` package); the apparel files are CLVTools' data converted to CSV. They ship
inside the wheel as the package ``clvmodels._data``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["load_cdnow_sample", "load_cdnow_master", "load_donations", "load_apparel", "load_apparel_covariates"]

_TX_COLUMNS = ["customer_id", "date", "quantity", "amount"]


def _read(name: str, **kwargs) -> pd.DataFrame:
    with resources.files("clvmodels._data").joinpath(name).open("rb") as handle:
        return pd.read_csv(handle, **kwargs)


def _read_apparel(name: str, **kwargs) -> pd.DataFrame:
    """CLVTools' apparel data is licensed GPL-3, so it stays in the source tree (``data/apparel``)
    and is left out of the Apache-2.0 wheel: it loads from a source checkout only."""
    try:
        return _read(f"apparel/{name}", **kwargs)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the apparel data ({name}) is not in this installation: it is CLVTools' data (GPL-3) and ships "
            "only in clvmodels' source tree (data/apparel/), not in the wheel. Install from a source "
            "checkout (pip install -e .), or export apparelTrans and apparelStaticCov from the R package "
            "CLVTools to CSV."
        ) from None


def _tidy(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(np.int64),
            "date": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
            "quantity": raw["quantity"].astype(np.int64),
            "amount": raw["amount"].astype(np.float64),
        }
    )


def load_cdnow_sample() -> pd.DataFrame:
    """Load the CDNOW 1/10 sample transaction log.

    Returns
    -------
    DataFrame
        6,919 rows with columns ``customer_id`` (the sample id, 1 to 2,357), ``date``
        (datetime64), ``quantity`` (number of CDs) and ``amount`` (US dollars).

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
    way. Marketing Science 24(2), 275-284.

    Examples
    --------
    >>> tx = load_cdnow_sample()
    >>> tx.shape, tx["customer_id"].nunique()
    ((6919, 4), 2357)
    """
    raw = _read(
        "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "quantity", "amount"],
        dtype={"date": str},
    )
    return _tidy(raw)


def load_cdnow_master() -> pd.DataFrame:
    """Load the full CDNOW transaction log (23,570 customers, 69,659 purchases).

    Returns
    -------
    DataFrame
        Columns ``customer_id``, ``date`` (datetime64), ``quantity`` and ``amount``.

    Examples
    --------
    >>> tx = load_cdnow_master()
    >>> len(tx), tx["customer_id"].nunique()
    (69659, 23570)
    """
    raw = _read(
        "CDNOW_master.txt",
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "quantity", "amount"],
        dtype={"date": str},
    )
    return _tidy(raw)


def load_donations() -> pd.DataFrame:
    """Load the donations pattern table used for the BG/BB model.

    Returns
    -------
    DataFrame
        22 rows with ``frequency`` (repeat donations), ``recency`` (period of the last one),
        ``periods`` (number of opportunities, 6) and ``weights`` (donors with that pattern).

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a
    discrete-time noncontractual setting. Marketing Science 29(6), 1086-1108.

    Examples
    --------
    >>> d = load_donations()
    >>> len(d), int(d["weights"].sum())
    (22, 11104)
    """
    return _read("donations.csv").astype(np.int64)


def load_apparel() -> pd.DataFrame:
    """Load CLVTools' apparel transaction log (600 customers, 3,187 transactions).

    Simulated purchases of a cohort of customers of an apparel retailer who all made their
    first purchase on 2005-01-02, followed to 2010-12-20, as distributed with the R package
    CLVTools (``apparelTrans``). CLVTools estimates its models on the first 104 weeks
    (calibration ending 2006-12-31) and merges purchases on the same day. Eight transactions
    share a customer and a day with another one, and four have an amount of 0; the log is
    given as distributed.

    Returns
    -------
    DataFrame
        3,187 rows with columns ``customer_id`` (1 to 600), ``date`` (datetime64) and
        ``amount`` (the price paid; CLVTools does not state the currency).

    See Also
    --------
    load_apparel_covariates : the customers' Gender and Channel.

    References
    ----------
    Bachmann, P., Kuebler, N., Meierer, M., Naef, J., Oblander, E. S. & Schilter, P. CLVTools:
    Tools for Customer Lifetime Value Estimation. R package, https://github.com/bachmannpatrick/CLVTools.

    Examples
    --------
    >>> tx = load_apparel()
    >>> tx.shape, tx["customer_id"].nunique()
    ((3187, 3), 600)
    >>> tx["date"].min().date(), tx["date"].max().date()
    (datetime.date(2005, 1, 2), datetime.date(2010, 12, 20))
    """
    raw = _read_apparel("apparel_transactions.csv", dtype={"Id": np.int64, "Date": str, "Price": np.float64})
    return pd.DataFrame(
        {
            "customer_id": raw["Id"].astype(np.int64),
            "date": pd.to_datetime(raw["Date"], format="%Y-%m-%d"),
            "amount": raw["Price"].astype(np.float64),
        }
    )


def load_apparel_covariates() -> pd.DataFrame:
    """Load the static covariates of CLVTools' apparel customers (one row per customer).

    ``Gender`` and ``Channel`` (the acquisition channel) are 0/1 codes, as CLVTools distributes
    them (``apparelStaticCov``). CLVTools' help page reads them as Gender 0 = male, 1 = female
    and Channel 0 = online, 1 = offline, but that page describes an older, 250-customer version
    of the data and was not updated for these 600 simulated customers; the notebook
    ``06_segments`` therefore gives the codes neutral labels.

    Returns
    -------
    DataFrame
        600 rows indexed by ``customer_id`` (1 to 600) with integer columns ``Gender`` (0 or
        1; 296 customers coded 1) and ``Channel`` (0 or 1; 228 coded 1).

    See Also
    --------
    load_apparel : their transactions.

    Examples
    --------
    >>> cov = load_apparel_covariates()
    >>> cov.shape, cov.index.name
    ((600, 2), 'customer_id')
    >>> cov.sum().to_dict()
    {'Gender': 296, 'Channel': 228}
    """
    raw = _read_apparel("apparel_static_covariates.csv", dtype=np.int64)
    table = raw.set_index("Id")[["Gender", "Channel"]].astype(np.int64)
    table.index.name = "customer_id"
    return table
