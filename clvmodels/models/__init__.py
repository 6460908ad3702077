"""The models: each module holds one model's likelihood, per-customer formulas and estimator,
and registers the estimator (:mod:`clvmodels.models.registry`). Importing this package imports
every bundled model module, so every model is registered.

==================  =============  =============================================================
key                 class          model
==================  =============  =============================================================
``"bgnbd"``         BetaGeo        BG/NBD (Fader, Hardie & Lee 2005)
``"pareto-nbd"``    ParetoNBD      Pareto/NBD (Schmittlein, Morrison & Colombo 1987)
``"mbgnbd"``        ModifiedBetaGeo  MBG/NBD (Batislam, Denizel & Filiztekin 2007)
``"bgbb"``          BetaGeoBetaBinom  BG/BB in discrete time (Fader, Hardie & Shang 2010)
``"gamma-gamma"``   GammaGamma     Gamma-Gamma spend (Fader & Hardie 2013)
``"sbg"``           ShiftedBetaGeo  shifted-beta-geometric retention (Fader & Hardie 2007)
==================  =============  =============================================================
"""

from .beta_geo import BetaGeo
from .bg_bb import BetaGeoBetaBinom
from .gamma_gamma import GammaGamma
from .mbg_nbd import ModifiedBetaGeo
from .pareto_nbd import ParetoNBD
from .registry import model_class, register, registered
from .shifted_beta_geo import ShiftedBetaGeo

__all__ = ["BetaGeo", "ParetoNBD", "ModifiedBetaGeo", "BetaGeoBetaBinom", "GammaGamma", "ShiftedBetaGeo", "model_class", "register", "registered"]
