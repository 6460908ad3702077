"""Engines that summarise transaction logs outside pandas, and pattern tables.

:mod:`clvmodels.engines.duckdb` computes :func:`clvmodels.rfm_summary` and
:func:`clvmodels.calibration_holdout_split` in DuckDB (``engine="duckdb"``, or ``"auto"`` for
anything that is not a pandas DataFrame). :func:`pattern_table` groups a summary into its
distinct patterns with a weight, the input a fit needs. Importing this package does not import
DuckDB.
"""

from .patterns import pattern_table

__all__ = ["pattern_table"]
