"""The main job on the bundled CDNOW data: ``python -m clvmodels.demo`` (``make demo``).

Summarises the CDNOW 1/10 sample transaction log (weeks; calibration to 1997-09-30, holdout to
1998-06-30), fits BG/NBD and Gamma-Gamma by maximum likelihood, and prints the parameters with
standard errors and 95% intervals next to the published values, and the holdout check.
"""

from __future__ import annotations

import time

import pandas as pd

from . import BetaGeo, GammaGamma, calibration_holdout_split
from .datasets import load_cdnow_sample

PUBLISHED = {
    "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,  # Fader, Hardie & Lee (2005)
    "p": 6.25, "q": 3.74, "gamma": 15.44,  # Fader & Hardie (2013)
}


def _table(model: BetaGeo | GammaGamma) -> str:
    table = model.summary(ci=0.95)
    table.insert(1, "published", [PUBLISHED[name] for name in table.index])
    return table.to_string(float_format=lambda v: f"{v:10.4f}")


def main() -> None:
    """Run the demo and print its report."""
    pd.set_option("display.width", 120)
    t0 = time.perf_counter()
    transactions = load_cdnow_sample()
    data = calibration_holdout_split(
        transactions,
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="W",
        amount_col="amount",
    )
    t1 = time.perf_counter()
    print(f"CDNOW sample: {len(transactions):,} transactions, {len(data):,} customers "
          f"({(data.frequency > 0).sum():,} with repeat purchases), summarised in {1e3 * (t1 - t0):.1f} ms")
    print("Time unit: weeks; calibration ends 1997-09-30, holdout ends 1998-06-30 "
          f"({data['duration_holdout'].iloc[0]:.0f} weeks)\n")

    bgnbd = BetaGeo().fit(data)
    t2 = time.perf_counter()
    print(f"BG/NBD by maximum likelihood ({1e3 * (t2 - t1):.1f} ms, converged: {bgnbd.converged_}, "
          f"log-likelihood {bgnbd.loglik_:.1f}; published -9582.4)")
    print(_table(bgnbd), "\n")

    spend = GammaGamma().fit(data)
    t3 = time.perf_counter()
    print(f"Gamma-Gamma by maximum likelihood on {spend.n_customers_} repeat customers "
          f"({1e3 * (t3 - t2):.1f} ms, converged: {spend.converged_}, log-likelihood of mean spend "
          f"{spend.loglik_:.1f}; published -4055.9)")
    print(_table(spend))
    print(f"population mean spend per transaction: ${spend.mean_spend():.2f} (published $35.17); "
          f"frequency-spend correlation {spend.frequency_spend_corr_:.2f} (published 0.11)\n")

    horizon = float(data["duration_holdout"].iloc[0])
    predicted = bgnbd.expected_purchases(data, horizon)
    print(f"Holdout check: {data['frequency_holdout'].sum():,} repeat transactions observed in the "
          f"{horizon:.0f}-week holdout, {predicted.sum():,.0f} expected by the BG/NBD")
    customer = data.loc[[1]]
    print(f"Customer 1 (x=2, t_x=30.43, T=38.86): P(alive) = {bgnbd.prob_alive(customer).iloc[0]:.3f}, "
          f"expected purchases in the next 39 weeks = {bgnbd.expected_purchases(customer, 39).iloc[0]:.3f} "
          "(published 1.226), expected spend per transaction = "
          f"${spend.expected_spend(customer).iloc[0]:.2f} (published $24.65)")


if __name__ == "__main__":
    main()
