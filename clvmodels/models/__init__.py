"""The models: each module holds one model's likelihood, per-customer formulas and estimator."""

from .beta_geo import BetaGeo
from .gamma_gamma import GammaGamma

__all__ = ["BetaGeo", "GammaGamma"]
