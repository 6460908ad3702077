"""The models: each module holds one model's likelihood, per-customer formulas and estimator,
and registers the estimator (:mod:`clvmodels.models.registry`). Importing this package imports
every bundled model module, so every model is registered."""

from .beta_geo import BetaGeo
from .gamma_gamma import GammaGamma
from .registry import model_class, register, registered

__all__ = ["BetaGeo", "GammaGamma", "model_class", "register", "registered"]
