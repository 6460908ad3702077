"""The package as a user meets it: public names, fast import, no global warning filters."""

from __future__ import annotations

import subprocess
import sys

import clvmodels


def test_public_names():
    for name in ("BetaGeo", "GammaGamma", "rfm_summary", "calibration_holdout_split", "datasets"):
        assert hasattr(clvmodels, name)
    assert clvmodels.__version__ != "0+unknown"


def test_import_does_not_pull_heavy_dependencies():
    code = (
        "import sys, warnings, numpy, pandas, scipy.optimize, scipy.special, scipy.stats; "
        "before = list(warnings.filters); import clvmodels; "
        "heavy = [m for m in ('pymc', 'arviz', 'matplotlib', 'pytensor', 'lifetimes') if m in sys.modules]; "
        "assert not heavy, heavy; assert warnings.filters == before, 'global warning filters changed'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
