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

__all__ = ["load_cdnow_sample", "load_cdnow_master", "load_donations", "load_donations_holdout", "load_donations_log", "simulate_subscription_log", "load_apparel", "load_apparel_covariates"]

_TX_COLUMNS = ["customer_id", "date", "quantity", "amount"]


def _read(name: str, **kwargs) -> pd.DataFrame:
    with resources.files("clvmodels._data").joinpath(name).open("rb") as handle:
        return pd.read_csv(handle, **kwargs)


def _read_apparel(name: str, **kwargs) -> pd.DataFrame:
    """CLVTools' apparel data is licensed GPL-3, so it stays in the source tree (``data/apparel``)
    and is left out of the Apache-2.0 wheel: it loads from a source checkout only."""
    return _read_source_only("apparel", name, "CLVTools", "export apparelTrans and apparelStaticCov from the R package CLVTools to CSV", **kwargs)


def _read_source_only(folder: str, name: str, package: str, export: str, **kwargs) -> pd.DataFrame:
    """A GPL-3 data file of an R package, kept in the source tree (``data/<folder>``), not in the wheel."""
    try:
        return _read(f"{folder}/{name}", **kwargs)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the file {folder}/{name} is not in this installation: it is {package}'s data (GPL-3) and ships "
            f"only in clvmodels' source tree (data/{folder}/), not in the wheel. Install from a source "
            f"checkout (pip install -e .), or {export}."
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
        22 rows with ``frequency`` (repeat donations), ``recency`` (the year of the last one,
        counted from the first), ``n_periods`` (opportunities after the first: 1996 to 2001, 6)
        and ``weight`` (donors with that pattern): the summary form of
        :func:`clvmodels.discrete_summary`, with a weight per pattern (fit with
        ``sample_weight="weight"``). ``attrs["time_unit"]`` is ``"Y"`` (one occasion a year).
        The file ships as in lifetimes (columns ``periods``, ``weights``).

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a
    discrete-time noncontractual setting. Marketing Science 29(6), 1086-1108.

    Examples
    --------
    >>> d = load_donations()
    >>> len(d), int(d["weight"].sum()), d.attrs["time_unit"]
    (22, 11104, 'Y')
    """
    table = _read("donations.csv").astype(np.int64).rename(columns={"periods": "n_periods", "weights": "weight"})
    table.attrs.update(time_unit="Y", time_kind="discrete")
    return table


def load_donations_holdout() -> pd.DataFrame:
    """The donations of the holdout years 2002-2006, by calibration pattern (BTYD's data).

    Returns
    -------
    DataFrame
        The 22 rows of :func:`load_donations` with ``holdout_transactions`` (the donations of the
        pattern's donors in 2002-2006, summed over them; 13,260 in all) and ``duration_holdout``
        (5 occasions). From the R package BTYD (GPL-3), so from a source checkout only
        (``data/btyd/``).

    Examples
    --------
    >>> holdout = load_donations_holdout()
    >>> int(holdout["weight"].sum()), int(holdout["holdout_transactions"].sum())
    (11104, 13260)
    """
    table = _read_source_only("btyd", "donations_holdout.csv", "BTYD", "export donationsSummary$x.star from the R package BTYD").astype(np.int64)
    table.attrs.update(time_unit="Y", time_kind="discrete")
    return table


def load_donations_log(random_seed: int = 0) -> pd.DataFrame:
    """A transaction log of the 11,104 donors whose summary is :func:`load_donations`.

    The published data are the summary only (who gave in which years is not released), so this
    log is *made* from it: every donor gives first on a random day of 1995; a donor with
    pattern (x, t_x) gives again in 1995 + t_x and in x - 1 other years drawn at random among
    1996 to 1995 + t_x - 1, each on a random day. Any such log has exactly the published
    summary (:func:`clvmodels.discrete_summary` with ``occasion="Y"``, ``observation_end=
    "2001-12-31"``), so the models fitted on it are the published ones; what the summary does
    not hold (the years between, the days) is random and depends on ``random_seed``.

    Returns
    -------
    DataFrame
        ``customer_id`` (1 to 11,104, by pattern) and ``date``, sorted.

    Examples
    --------
    >>> from clvmodels import discrete_summary
    >>> log = load_donations_log()
    >>> len(log), log["customer_id"].nunique(), str(log["date"].max().date())
    (35719, 11104, '2001-12-31')
    >>> summary = discrete_summary(log, occasion="Y", observation_end="2001-12-31")
    >>> table = summary.value_counts(["frequency", "recency", "n_periods"]).sort_index()
    >>> donations = load_donations().set_index(["frequency", "recency", "n_periods"])["weight"].sort_index()
    >>> bool((table.to_numpy() == donations.to_numpy()).all())
    True
    """
    table = load_donations()
    rng = np.random.default_rng(random_seed)
    ids, years = [], []
    next_id = 1
    for x, t_x, w in table[["frequency", "recency", "weight"]].itertuples(index=False):
        for customer in range(next_id, next_id + w):
            between = rng.permutation(np.arange(1, t_x))[: max(x - 1, 0)] if x > 1 else np.array([], dtype=np.int64)
            given = [0, *(between.tolist()), *([t_x] if x > 0 else [])]
            ids += [customer] * len(given)
            years += given
        next_id += w
    years = np.asarray(years, dtype=np.int64)
    starts = pd.to_datetime((1995 + years).astype(str), format="%Y")
    lengths = np.where(pd.DatetimeIndex(starts).is_leap_year, 366, 365)
    days = np.floor(rng.uniform(size=len(years)) * lengths).astype(np.int64)
    log = pd.DataFrame({"customer_id": np.asarray(ids, dtype=np.int64), "date": starts + pd.to_timedelta(days, unit="D")})
    return log.sort_values(["customer_id", "date"], ignore_index=True)


def simulate_subscription_log(
    n: int = 5000,
    alpha: float = 0.704,
    beta: float = 1.182,
    *,
    first_start: str = "2021-01-01",
    observation_end: str = "2023-12-31",
    prices: tuple[float, ...] = (4.99, 9.99, 14.99),
    price_shares: tuple[float, ...] | None = None,
    random_seed: int = 0,
) -> pd.DataFrame:
    """A simulated log of monthly subscriptions with shifted-beta-geometric lifetimes.

    Each subscriber starts on a uniform day between ``first_start`` and ``observation_end``, draws
    a churn probability ``theta ~ Beta(alpha, beta)`` and pays for a geometric number of months
    (Fader & Hardie 2007; the defaults are the paper's "regular" cohort), cancelling on a uniform
    day of the last month paid for; cancellations after ``observation_end`` are not known yet
    (the end is missing: an active subscriber). The price per month is one of ``prices``, drawn
    with the probabilities ``price_shares`` (equal by default).

    Returns
    -------
    DataFrame
        ``customer_id``, ``start``, ``end`` (NaT while active) and ``price``, one row per subscriber.

    Examples
    --------
    >>> log = simulate_subscription_log(1000, random_seed=1)
    >>> list(log.columns), int(log["end"].isna().sum()) > 0
    (['customer_id', 'start', 'end', 'price'], True)
    """
    rng = np.random.default_rng(random_seed)
    first, last = np.datetime64(first_start, "D"), np.datetime64(observation_end, "D")
    start = first + rng.integers(0, int((last - first).astype(np.int64)) + 1, size=n)
    theta = rng.beta(alpha, beta, size=n)
    months = np.minimum(rng.geometric(theta), 1200)

    def renewal(k: np.ndarray) -> np.ndarray:
        """The k-th monthly renewal date: the start's day of the month, clipped to the month's end."""
        month = start.astype("datetime64[M]")
        day = (start - month.astype("datetime64[D]")).astype(np.int64)
        target = month + k
        length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
        return target.astype("datetime64[D]") + np.minimum(day, length - 1)

    lo, hi = renewal(months - 1), renewal(months)
    end = lo + 1 + np.floor(rng.random(n) * (hi - lo).astype(np.int64)).astype(np.int64)
    return pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "start": start.astype("datetime64[ns]"),
        "end": pd.Series(end.astype("datetime64[ns]")).where(end <= last).to_numpy(),
        "price": np.asarray(prices, dtype=np.float64)[rng.choice(len(prices), size=n, p=price_shares)],
    })


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
