"""A Spark job: transaction log -> RFM summary -> BG/NBD and Gamma-Gamma fits -> CLV per customer.

Run it with ``spark-submit`` on a cluster (or ``local[*]``), on a log of Parquet (or CSV) files with
one row per purchase::

    pip install 'clvmodels[spark]'      # on the driver and on every worker (PYSPARK_PYTHON)
    spark-submit examples/spark_job.py \\
        --input s3://bucket/transactions/ --output s3://bucket/clv/ \\
        --customer-col customer_id --date-col date --amount-col amount \\
        --observation-end 2024-12-31 --time-unit W --horizon 52 --discount-rate 0.1

or on this machine, with the Python of a virtual environment that has clvmodels::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --master 'local[2]' examples/spark_job.py \\
        --input /tmp/log/ --output /tmp/clv/

What it does, all in Spark except the fits:

1. ``clvmodels.spark.rfm_summary``: the per-customer summary, validated as the pandas path does
   (``--invalid drop`` excludes invalid rows with a warning and a report).
2. ``clvmodels.spark.fit``: the distinct (frequency, recency, T) and (frequency, monetary value)
   patterns, grouped in Spark and collected to the driver, fitted there (the estimates of a fit
   on every customer). The models are saved as JSON beside the output.
3. ``clvmodels.spark.forecast``: per customer P(alive), expected purchases, spend and CLV with
   credible and predictive bounds, each partition calling the library's forecast with the driver's
   parameter draws; written as Parquet to ``OUTPUT/customers``. The result does not depend on the
   number of partitions or executors.
4. ``clvmodels.spark.cohort_summary``: the cohort's totals with exact credible intervals, written
   to ``OUTPUT/cohort.csv`` (with the summary's report in ``OUTPUT/report.json``).

Dates: Parquet timestamps written without a time zone are read as ``TIMESTAMP_NTZ`` (local time)
and need nothing; instants (Spark ``TIMESTAMP``) need ``--time-zone``, the business's zone in which
days begin.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="Parquet or CSV file(s): a file, a directory or a glob")
    parser.add_argument("--output", required=True, help="directory written: customers/ (Parquet), cohort.csv, report.json")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--customer-col", default="customer_id")
    parser.add_argument("--date-col", default="date")
    parser.add_argument("--amount-col", default="amount")
    parser.add_argument("--observation-end", default=None, help="default: the last purchase")
    parser.add_argument("--time-unit", default="W")
    parser.add_argument("--time-zone", default=None, help="for Spark TIMESTAMP (instant) dates only")
    parser.add_argument("--invalid", choices=["raise", "drop"], default="raise")
    parser.add_argument("--horizon", type=float, default=52.0)
    parser.add_argument("--discount-rate", type=float, default=0.1)
    parser.add_argument("--margin", type=float, default=1.0)
    parser.add_argument("--n-draws", type=int, default=200)
    parser.add_argument("--ci", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-predictive", action="store_true", help="credible bounds only (faster)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    import clvmodels
    from clvmodels import spark as cs

    spark = SparkSession.builder.appName("clvmodels").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if args.format == "parquet":
        log = spark.read.parquet(args.input)
    else:
        log = spark.read.option("header", True).csv(args.input)  # text columns: parsed as pandas would
    summary = cs.rfm_summary(
        log, customer_col=args.customer_col, date_col=args.date_col, amount_col=args.amount_col,
        observation_end=args.observation_end, time_unit=args.time_unit, invalid=args.invalid,
        time_zone=args.time_zone,
    )
    transactions = cs.fit(clvmodels.BetaGeo(), summary)
    # Gamma-Gamma needs positive spend: customers whose repeat purchases are all free (the
    # summary warned of them) are left out of the spend fit and of the CLV forecast
    full, summary = summary, summary.where("frequency = 0 OR monetary_value > 0")
    spend = cs.fit(clvmodels.GammaGamma(), summary)
    output = args.output.rstrip("/")
    options = dict(horizon=args.horizon, discount_rate=args.discount_rate, margin=args.margin, ci=args.ci,
                   n_draws=args.n_draws, random_seed=args.seed)
    scores = cs.forecast(transactions, spend, summary, predictive=not args.no_predictive, **options)
    scores.write.mode("overwrite").parquet(f"{output}/customers")
    cohort = cs.cohort_summary(transactions, spend, summary, **options)
    if "://" not in output:  # driver-side files: local or mounted output only
        Path(output).mkdir(parents=True, exist_ok=True)
        cohort.to_csv(f"{output}/cohort.csv")
        Path(f"{output}/report.json").write_text(json.dumps(cs.attrs_of(summary), indent=2, default=str))
        transactions.save(f"{output}/bgnbd.json")
        spend.save(f"{output}/gamma_gamma.json")
    print(transactions.summary().to_string())
    print(spend.summary().to_string())
    print(cohort.to_string())
    full.unpersist()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
