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

The files are the ones distributed with the original papers (and the ``lifetimes`` package);
they ship inside the wheel as the package ``clvmodels._data``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["load_cdnow_sample", "load_cdnow_master", "load_donations"]

_TX_COLUMNS = ["customer_id", "date", "quantity", "amount"]


def _read(name: str, **kwargs) -> pd.DataFrame:
    with resources.files("clvmodels._data").joinpath(name).open("rb") as handle:
        return pd.read_csv(handle, **kwargs)


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
