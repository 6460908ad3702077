"""Bayesian inference for the BG/NBD and Gamma-Gamma models: priors, PyMC model, sampling, diagnostics.

``BetaGeo().fit(data, method="nuts")`` (and ``"advi"``, ``"map"``; the same for
``GammaGamma``) ends here. The pieces:

- :class:`Prior` and :func:`default_priors`: one prior per parameter, overridable per parameter
  with the estimator's ``priors`` setting.
- :func:`build_pymc_model`: the PyMC model. Its likelihood is the model's own ``loglik``
  (:func:`clvmodels.models.beta_geo.loglik`, :func:`clvmodels.models.gamma_gamma.loglik`)
  evaluated with the PyTensor backend (:mod:`clvmodels.models.ops`) on the weighted patterns of
  :func:`clvmodels.data.compress_patterns`, added as a ``pm.Potential``: a million customers
  cost what their distinct histories cost. Users may extend it and sample it themselves.
- NUTS: with nutpie when it is installed (``pip install clvmodels[nutpie]``), on a compiled
  kernel of the same log-posterior (:mod:`clvmodels.inference.kernels`, tested equal to the
  PyMC model's log-probability to 1e-8); otherwise PyMC's own NUTS on the PyMC model.
- :func:`check_convergence`, :func:`posterior_summary`, :func:`posterior_draws` and
  :func:`prior_predictive`.

PyMC, PyTensor, ArviZ, nutpie and numba are imported inside the functions that use them, so
importing clvmodels stays light.

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way:
an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn sampler. JMLR 15, 1593-1623.
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021). Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC. Bayesian
Analysis 16(2), 667-718.
Gelman, A., Simpson, D. & Betancourt, M. (2017). The prior can often only be understood in the
context of the likelihood. Entropy 19(10), 555.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import ConvergenceWarning
from . import kernels as _kernels
from .kernels import encode_priors
from ..models.params import seed_sequence
from .mle import maximize_loglik

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az
    import pymc as pm

    from ..models.base import Model

__all__ = [
    "METHODS",
    "SAMPLERS",
    "R_HAT_MAX",
    "ESS_MIN",
    "LOG_LIKELIHOOD_BUDGET",
    "Prior",
    "PriorPredictiveCheck",
    "default_priors",
    "resolve_priors",
    "build_pymc_model",
    "fit",
    "check_convergence",
    "posterior_summary",
    "posterior_draws",
    "prior_predictive",
]

#: Bayesian fitting methods (``"mle"`` is handled by :mod:`clvmodels.inference.mle`).
METHODS = ("nuts", "advi", "map")
#: Values of the ``sampler`` setting.
SAMPLERS = ("auto", "nutpie", "pymc")
#: Convergence thresholds of :func:`check_convergence` (Vehtari et al. 2021).
R_HAT_MAX = 1.01
ESS_MIN = 400
#: Bytes the per-customer log-likelihood group may take (draws x customers x 8); above it the
#: group is left out unless ``log_likelihood=True``.
LOG_LIKELIHOOD_BUDGET = 1_000_000_000
#: Warm-up iterations when ``tune=None``: the samplers' own defaults.
TUNE_NUTPIE = 300
TUNE_PYMC = 1000
#: Optimisation steps of ADVI (it stops earlier when the parameters settle).
ADVI_ITERATIONS = 30_000


# -- priors -------------------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class Prior:
    """A prior for one parameter: a PyMC distribution with positive support and its parameters.

    Parameters
    ----------
    distribution : str
        Name of a PyMC distribution on (0, inf) (PyMC samples it on the log scale), for example
        ``"LogNormal"``, ``"Gamma"``, ``"HalfNormal"``, ``"Exponential"``, ``"Weibull"``,
        ``"HalfCauchy"`` or ``"HalfStudentT"``. These seven, given by the parameters named in
        :data:`clvmodels.inference.kernels.PRIOR_CODES`, are also evaluated by the compiled
        NUTS kernel; any other prior makes nutpie sample the PyMC graph instead (slower to
        compile, same posterior).
    **params : float
        The distribution's parameters, with PyMC's names.

    Examples
    --------
    >>> prior = Prior("LogNormal", mu=0.0, sigma=1.0)
    >>> prior
    Prior('LogNormal', mu=0.0, sigma=1.0)
    >>> Prior.from_dict(prior.to_dict()) == prior
    True
    """

    distribution: str
    params: dict[str, float] = field(default_factory=dict)

    def __init__(self, distribution: str, **params: float) -> None:
        if not isinstance(distribution, str) or not distribution:
            raise TypeError(f"distribution={distribution!r} must be the name of a PyMC distribution, e.g. 'LogNormal'.")
        bad = {k: v for k, v in params.items() if not isinstance(v, int | float | np.number) or not np.isfinite(v)}
        if bad:
            raise ValueError(f"Prior({distribution!r}) parameters must be finite numbers; got {bad}.")
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "params", {k: float(v) for k, v in params.items()})

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Prior({self.distribution!r}{args})"

    def to_dict(self) -> dict[str, Any]:
        """``{"distribution": name, **params}`` (JSON-ready).

        Examples
        --------
        >>> Prior("Gamma", alpha=2.0, beta=0.5).to_dict()
        {'distribution': 'Gamma', 'alpha': 2.0, 'beta': 0.5}
        """
        return {"distribution": self.distribution, **self.params}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Prior:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> Prior.from_dict({"distribution": "HalfNormal", "sigma": 2})
        Prior('HalfNormal', sigma=2.0)
        """
        spec = dict(spec)
        try:
            name = spec.pop("distribution")
        except KeyError:
            raise ValueError(f"a prior given as a mapping needs a 'distribution' key; got {sorted(spec)}.") from None
        return cls(name, **spec)

    def _pymc_class(self) -> Any:
        import pymc as pm

        dist = getattr(pm, self.distribution, None)
        if not (isinstance(dist, type) and issubclass(dist, pm.Distribution)):
            raise ValueError(f"{self!r}: PyMC has no distribution named {self.distribution!r}.")
        return dist

    def create(self, name: str) -> pm.Distribution:
        """Add the prior as the random variable ``name`` to the PyMC model in context.

        Examples
        --------
        >>> import pymc as pm
        >>> with pm.Model() as model:
        ...     r = Prior("LogNormal", mu=0.0, sigma=1.5).create("r")
        >>> model.free_RVs
        [r]
        """
        return self._pymc_class()(name, **self.params)

    def dist(self) -> Any:
        """The prior as a free-standing PyMC distribution (for ``pm.draw``).

        Examples
        --------
        >>> import pymc as pm
        >>> draws = pm.draw(Prior("LogNormal", mu=0.0, sigma=1.0).dist(), draws=1000, random_seed=1)
        >>> draws.shape, bool((draws > 0).all())
        ((1000,), True)
        """
        return self._pymc_class().dist(**self.params)


def _data_scale(name: str, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> float:
    """The data's own scale that the default priors of the scale parameters are centred on
    (the model's ``data_scale``: mean T for transaction models, mean spend for spend models)."""
    return _model_class(name).data_scale(patterns, weights)


def default_priors(model: str | type | Any, scale: float) -> dict[str, Prior]:
    """The weakly informative default priors of a model: its ``default_priors(scale)``.

    Every parameter is positive and the samplers work on its logarithm, so the defaults are
    log-normal: ``sigma`` says how many factors of e a parameter may plausibly range over. The
    parameters that carry a unit (alpha, beta in time units; gamma in money) are centred on the
    data's own scale, so that the prior says the same thing whatever the time unit or currency.
    Each model documents its choice (:meth:`clvmodels.BetaGeo.default_priors`,
    :meth:`clvmodels.GammaGamma.default_priors`, ...).

    Parameters
    ----------
    model : str, estimator or estimator class
        A registered model (key such as ``"bgnbd"``, or class name such as ``"BetaGeo"``).
    scale : float
        Mean T of the customers (transaction models) or mean spend of the repeat buyers
        (spend models).

    Returns
    -------
    dict
        Parameter name -> :class:`Prior`.

    Examples
    --------
    >>> default_priors("BetaGeo", scale=32.7)["alpha"]
    Prior('LogNormal', mu=3.487375077903208, sigma=2.0)
    """
    return dict(_model_class(model).default_priors(scale))


def resolve_priors(model: str | type | Any, priors: Mapping[str, Any] | None, scale: float) -> dict[str, Prior]:
    """The defaults, overridden by the user's ``priors`` (a :class:`Prior` or mapping per name).

    Examples
    --------
    >>> priors = resolve_priors("BetaGeo", {"b": {"distribution": "Gamma", "alpha": 2, "beta": 0.5}}, scale=32.7)
    >>> priors["b"], priors["a"]
    (Prior('Gamma', alpha=2.0, beta=0.5), Prior('LogNormal', mu=0.0, sigma=1.0))
    """
    name = _model_name(model)
    resolved = default_priors(name, scale)
    if priors is None:
        return resolved
    if not isinstance(priors, Mapping):
        raise TypeError(f"priors must be a dict of parameter name -> Prior; got {type(priors).__name__}.")
    unknown = sorted(set(priors) - set(resolved))
    if unknown:
        raise ValueError(f"priors has unknown parameter(s) {unknown}; {name} has {list(resolved)}.")
    for key, value in priors.items():
        if isinstance(value, Prior):
            resolved[key] = value
        elif isinstance(value, Mapping):
            resolved[key] = Prior.from_dict(value)
        else:
            raise TypeError(f"priors[{key!r}] must be a Prior, e.g. Prior('LogNormal', mu=0, sigma=1); got {value!r}.")
    return resolved


# -- the model specs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    names: tuple[str, ...]
    columns: tuple[str, ...]  # pattern columns, as in the summary
    observed: str  # name of the log-likelihood variable
    loglik: Any  # loglik(params, *columns, ops=...)
    kernel: type | None  # compiled kernel of log-posterior and gradient, if the model has one


def _model_class(model: str | type | Any) -> type:
    from ..models.registry import model_class

    return model_class(model)


def _model_name(model: str | type | Any) -> str:
    """The class name of a registered model (a clear error listing the registered ones otherwise)."""
    return _model_class(model).__name__


def _spec(model: str | type | Any) -> _Spec:
    """What the Bayesian fits need of a model, asked of the protocol."""
    cls = _model_class(model)
    kernel_name = getattr(cls, "bayes_kernel", None)
    return _Spec(
        tuple(cls.param_names),
        tuple(cls.columns),
        {"transactions": "purchases", "spend": "spend", "retention": "renewals"}[cls.kind],
        cls.formulas.loglik,
        getattr(_kernels, kernel_name) if kernel_name else None,
    )


# -- the PyMC model -----------------------------------------------------------------------------


def build_pymc_model(
    model: str | type | Any,
    patterns: tuple[np.ndarray, ...],
    weights: np.ndarray,
    priors: Mapping[str, Prior],
) -> pm.Model:
    """The PyMC model of weighted patterns: priors, and the model's log-likelihood as a Potential.

    The log-likelihood is the model's own ``loglik`` written against the PyTensor backend of
    :mod:`clvmodels.models.ops`, weighted by how many customers share each pattern:
    ``pm.Potential("loglik", sum(weights * loglik(params, *patterns)))``. The patterns are
    ``pm.Data`` along the dimension ``pattern``. The random variables carry the papers' names.

    Parameters
    ----------
    model : str, estimator or estimator class
        ``"BetaGeo"`` or ``"GammaGamma"``.
    patterns : tuple of ndarray
        ``(frequency, recency, T)`` or ``(frequency, monetary_value)`` of the distinct
        customers (for Gamma-Gamma the repeat buyers only).
    weights : ndarray
        Number of customers per pattern.
    priors : mapping
        Parameter name -> :class:`Prior` (see :func:`resolve_priors`).

    Returns
    -------
    pymc.Model

    Examples
    --------
    Three distinct repeat buyers standing for 10, 5 and 1 customers:

    >>> patterns = (np.array([1.0, 2.0, 5.0]), np.array([20.0, 35.0, 50.0]))
    >>> model = build_pymc_model("GammaGamma", patterns, np.array([10.0, 5.0, 1.0]),
    ...                          default_priors("GammaGamma", scale=30.0))
    >>> [rv.name for rv in model.free_RVs], model["weights"].get_value().tolist()
    (['p', 'q', 'gamma'], [10.0, 5.0, 1.0])
    """
    import pymc as pm

    from ..models.ops import pytensor_ops

    spec = _spec(model)
    ops = pytensor_ops()
    with pm.Model(coords={"pattern": np.arange(len(weights))}) as pymc_model:
        params = {}
        for name in spec.names:
            params[name] = priors[name].create(name)
        _check_log_transform(pymc_model, priors)
        columns = [pm.Data(col, np.asarray(arr, dtype=np.float64), dims="pattern") for col, arr in zip(spec.columns, patterns)]
        w = pm.Data("weights", np.asarray(weights, dtype=np.float64), dims="pattern")
        pm.Potential("loglik", (w * spec.loglik(params, *columns, ops=ops)).sum())
    return pymc_model


def _check_log_transform(pymc_model: pm.Model, priors: Mapping[str, Prior]) -> None:
    """Every prior must live on (0, inf), which PyMC samples on the log scale."""
    from pymc.logprob.transforms import LogTransform

    for rv in pymc_model.free_RVs:
        transform = pymc_model.rvs_to_transforms.get(rv)
        if not isinstance(transform, LogTransform):
            raise ValueError(
                f"the prior of {rv.name}, {priors[rv.name]!r}, is not a distribution on (0, inf); "
                "parameters are positive, so use e.g. LogNormal, Gamma, HalfNormal or Weibull."
            )


# -- log-posterior on u = log(theta) --------------------------------------------------------------


class _LogPosterior:
    """``log p(u | data)`` and its gradient in ``u = log(theta)``, Jacobian included.

    The compiled kernel when every prior is one it knows, else PyMC's compiled functions of the
    PyMC model (same value: a test holds them equal).
    """

    def __init__(self, name: str, patterns: tuple[np.ndarray, ...], weights: np.ndarray, priors: Mapping[str, Prior]) -> None:
        spec = _spec(name)
        self.names = spec.names
        self.codes = encode_priors(dict(priors), spec.names)
        self._pymc_model: pm.Model | None = None
        self._make_fn = None
        if self.codes is not None and spec.kernel is not None:
            self.fn = spec.kernel(*patterns, weights, self.codes)
            self.kind = "compiled kernel"
        elif self.codes is not None:
            # no kernel of its own: the model's maximum-likelihood objective (hand-written, or
            # derived from its loglik by PyTensor) plus the compiled log-priors; one per sampler
            # thread, since an objective may keep scratch buffers
            codes = self.codes
            self._make_fn = lambda: _kernels.ObjectiveKernel(_model_class(name), patterns, weights, codes)
            self.fn = self._make_fn()
            self.kind = "compiled kernel"
        else:
            self._pymc_model = build_pymc_model(name, patterns, weights, priors)
            logp = self._pymc_model.compile_logp(jacobian=True)
            dlogp = self._pymc_model.compile_dlogp(jacobian=True)
            keys = [f"{n}_log__" for n in spec.names]
            order = [v.name for v in self._pymc_model.value_vars]
            perm = [order.index(k) for k in keys]

            def fn(u: np.ndarray) -> tuple[float, np.ndarray]:
                point = dict(zip(keys, (np.asarray(v) for v in u)))
                return float(logp(point)), np.asarray(dlogp(point))[perm]

            self.fn = fn
            self.kind = "PyMC graph"

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        return self.fn(u)

    def new_fn(self) -> Any:
        """A log-density function for one more sampler thread (its own scratch state)."""
        return self._make_fn() if self._make_fn is not None else self.fn

    def theta_objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-posterior density of theta without the Jacobian (for the mode in theta)."""
        u = np.log(theta)
        value, grad_u = self.fn(u)
        return value - float(u.sum()), (grad_u - 1.0) / theta


def _posterior_mode(post: _LogPosterior, model_type: type, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> Any:
    """Mode of the posterior density of theta (MAP) with the maximum-likelihood machinery."""
    _, starts, _ = model_type._objective(patterns, weights)
    return maximize_loglik(post.theta_objective, starts, n_obs=float(weights.sum()))


# -- fitting ------------------------------------------------------------------------------------


def fit(
    estimator: Model,
    method: str,
    patterns: tuple[np.ndarray, ...],
    weights: np.ndarray,
    inverse: np.ndarray,
    observed: pd.DataFrame,
) -> Any:
    """Fit ``estimator`` by ``method`` (one of :data:`METHODS`); returns a
    :class:`~clvmodels.inference.result.FitResult` (the estimator stores it).

    Called by :meth:`clvmodels.models.base.Model.fit`; see there and the estimator's settings.

    Examples
    --------
    >>> from clvmodels import GammaGamma, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W", amount_col="amount")
    >>> model = GammaGamma().fit(data, method="map")  # ends here
    >>> model.method_, sorted(model.priors_), model.converged_
    ('map', ['gamma', 'p', 'q'], True)
    """
    from .result import FitResult

    name = _model_name(estimator)
    spec = _spec(name)
    settings = _check_settings(estimator, method)
    priors = resolve_priors(name, estimator.priors, _data_scale(name, patterns, weights))
    post = _LogPosterior(name, patterns, weights, priors)
    start = time.perf_counter()
    mode = _posterior_mode(post, type(estimator), patterns, weights)
    n_customers = int(round(float(weights.sum())))
    if method == "map":
        params = pd.Series(mode.params, index=list(spec.names))
        result = FitResult(
            method=method,
            params=mode.params,
            covariance=mode.covariance,
            covariance_log=mode.covariance_log,
            loglik=_total_loglik(spec, params, patterns, weights),
            converged=bool(mode.converged),
            n_customers=n_customers,
            patterns=patterns,
            weights=weights,
            optimizer={**mode.diagnostics, "log_posterior": post.kind},
            priors=priors,
        )
        if not result.converged:
            _warn(
                f"{name} MAP optimisation did not converge: "
                f"{'; '.join(mode.diagnostics.get('problems', [])) or mode.diagnostics.get('message')}. "
                "Try other priors or method='nuts'."
            )
        return result
    seed = np.random.SeedSequence(settings["random_seed"])
    seed_init, seed_sampler = seed.spawn(2)
    if method == "nuts":
        idata, sampler = _nuts(name, post, mode, patterns, weights, priors, settings, seed_init, seed_sampler)
        problems = check_convergence(idata, spec.names)
    else:
        idata, sampler, problems = _advi(name, mode, patterns, weights, priors, settings, seed_sampler)
    sampler["seconds"] = time.perf_counter() - start
    draws = posterior_frame(idata, spec.names)
    idata = _with_groups(idata, spec, draws, patterns, inverse, observed, settings["log_likelihood"])
    idata.attrs.update({"clvmodels_model": name, "clvmodels_method": method, "clvmodels_sampler": sampler["sampler"]})
    means = draws.mean()
    result = FitResult(
        method=method,
        params=means.to_numpy(),
        covariance=np.cov(draws.to_numpy().T),
        covariance_log=np.cov(np.log(draws.to_numpy()).T),
        loglik=_total_loglik(spec, means, patterns, weights),
        converged=not problems,
        n_customers=n_customers,
        patterns=patterns,
        weights=weights,
        idata=idata,
        sampler={**sampler, "problems": problems},
        priors=priors,
    )
    if problems:
        what = "NUTS sampling" if method == "nuts" else "ADVI"
        _warn(
            f"{name} {what} may not have converged: " + " ".join(problems)
            + f" Posterior means: {', '.join(f'{k} {v:.4g}' for k, v in means.items())}."
        )
    return result


def _warn(message: str) -> None:
    # stacklevel: _warn <- bayes.fit <- Model._fit <- fit <- the user's call
    warnings.warn(message, ConvergenceWarning, stacklevel=5)


def _check_settings(estimator: Model, method: str) -> dict[str, Any]:
    """Validate the estimator's Bayesian settings (scikit-learn: at fit time, not in __init__)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; use 'mle' or one of {METHODS}.")
    if float(estimator.penalty) != 0.0:
        raise ValueError(
            f"penalty={estimator.penalty!r} applies to maximum likelihood only; with method={method!r} "
            "the priors regularise the fit (set priors=... instead)."
        )
    out: dict[str, Any] = {}
    for key in ("draws", "tune", "chains"):
        value = getattr(estimator, key)
        if key == "tune" and value is None:
            out[key] = None
            continue
        low = 0 if key == "tune" else 1
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{key}={value!r} must be a whole number >= {low}.")
        out[key] = int(value)
    target = estimator.target_accept
    if not isinstance(target, float | int) or not 0 < target < 1:
        raise ValueError(f"target_accept={target!r} must be in (0, 1), for example 0.8 or 0.95.")
    out["target_accept"] = float(target)
    if estimator.sampler not in SAMPLERS:
        raise ValueError(f"sampler={estimator.sampler!r}; use one of {SAMPLERS}.")
    out["sampler"] = estimator.sampler
    seed = estimator.random_seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise ValueError(f"random_seed={seed!r} must be a whole number >= 0 or None.")
    out["random_seed"] = None if seed is None else int(seed)
    progress = estimator.progressbar
    out["progressbar"] = _progress_default() if progress is None else bool(progress)
    if estimator.log_likelihood not in (None, True, False):
        raise ValueError(f"log_likelihood={estimator.log_likelihood!r}; use None (automatic), True or False.")
    out["log_likelihood"] = estimator.log_likelihood
    return out


def _progress_default() -> bool:
    """Progress bars in a terminal or a Jupyter kernel; not in batch jobs, CI or pipes."""
    if os.environ.get("CI"):
        return False
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _nutpie_available() -> bool:
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return False
    return True


def _initial_points(mode: Any, n_chains: int, seed: Any, n_dim: int) -> np.ndarray:
    """Starts in u = log(theta): the posterior mode plus draws from its Laplace approximation
    (or uniform jitter of +-0.5 when the mode has no finite covariance)."""
    rng = np.random.default_rng(seed)
    centre = np.log(mode.params)
    cov = mode.covariance_log
    if np.all(np.isfinite(centre)) and np.all(np.isfinite(cov)):
        try:
            return centre + rng.standard_normal((n_chains, n_dim)) @ np.linalg.cholesky(cov).T
        except np.linalg.LinAlgError:
            pass
    base = centre if np.all(np.isfinite(centre)) else np.zeros(n_dim)
    return base + rng.uniform(-0.5, 0.5, size=(n_chains, n_dim))


def _nuts(
    name: str,
    post: _LogPosterior,
    mode: Any,
    patterns: tuple[np.ndarray, ...],
    weights: np.ndarray,
    priors: Mapping[str, Prior],
    settings: dict[str, Any],
    seed_init: np.random.SeedSequence,
    seed_sampler: np.random.SeedSequence,
) -> tuple[az.InferenceData, dict[str, Any]]:
    """NUTS: nutpie on the compiled kernel (or on the PyMC graph for other priors), else PyMC.

    Chains start at the posterior mode plus a draw from its Laplace approximation, run as
    threads (nutpie) or processes (PyMC) on up to all usable cores. nutpie adapts a low-rank
    modified mass matrix, which captures the strong correlation of a and b (and of q and gamma).
    """
    spec = _spec(name)
    chains, draws = settings["chains"], settings["draws"]
    cores = max(1, min(chains, _usable_cores()))
    starts = _initial_points(mode, chains, seed_init, len(spec.names))
    init_entropy = int(seed_init.generate_state(1, dtype=np.uint32)[0])
    seed_int = int(seed_sampler.generate_state(1, dtype=np.uint32)[0])
    choice = settings["sampler"]
    if choice == "nutpie" and not _nutpie_available():
        raise ImportError("sampler='nutpie' needs nutpie: pip install 'clvmodels[nutpie]' (or use sampler='pymc').")
    use_nutpie = choice == "nutpie" or (choice == "auto" and _nutpie_available())
    tune = settings["tune"] if settings["tune"] is not None else (TUNE_NUTPIE if use_nutpie else TUNE_PYMC)
    info = {"chains": chains, "draws": draws, "tune": tune, "cores": cores, "random_seed": settings["random_seed"]}
    if use_nutpie:
        import nutpie

        if post.kind == "compiled kernel":
            compiled = _nutpie_pyfunc(post, spec.names, lambda s: _initial_points(mode, 1, [init_entropy, s], len(spec.names))[0])
            kind = "nutpie (compiled kernel)"
        else:
            compiled = nutpie.compile_pymc_model(build_pymc_model(name, patterns, weights, priors), backend="numba")
            kind = "nutpie (PyMC graph, numba backend)"
        idata = nutpie.sample(
            compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed_int,
            progress_bar=settings["progressbar"], save_warmup=False, target_accept=settings["target_accept"],
            low_rank_modified_mass_matrix=True,
        )
        return idata, {"sampler": kind, **info}
    import pymc as pm

    pymc_model = build_pymc_model(name, patterns, weights, priors)
    initvals = [{n: float(np.exp(v)) for n, v in zip(spec.names, row)} for row in starts]
    idata = pm.sample(
        draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed_int, model=pymc_model,
        progressbar=settings["progressbar"], target_accept=settings["target_accept"], initvals=initvals,
        init="adapt_diag", compute_convergence_checks=False, idata_kwargs={"log_likelihood": False},
    )
    return idata, {"sampler": "pymc", **info}


def _nutpie_pyfunc(post: _LogPosterior, names: tuple[str, ...], start: Any) -> Any:
    """nutpie's model of a Python log-density: the compiled kernel (it releases the GIL)."""
    from nutpie.compiled_pyfunc import from_pyfunc

    def make_logp_fn() -> Any:
        return post.new_fn()

    def make_expand_fn(seed1: int, seed2: int, chain: int) -> Any:
        def expand(u: np.ndarray) -> dict[str, np.ndarray]:
            return {n: np.asarray(v) for n, v in zip(names, np.exp(u))}

        return expand

    def make_initial_point(seed: int) -> np.ndarray:
        # nutpie passes a seed per chain (derived from its own seed)
        return np.ascontiguousarray(start(int(seed)), dtype=np.float64)

    return from_pyfunc(
        len(names), make_logp_fn, make_expand_fn, [np.dtype("float64")] * len(names), [()] * len(names), list(names),
        make_initial_point_fn=make_initial_point,
    )


def _advi(
    name: str,
    mode: Any,
    patterns: tuple[np.ndarray, ...],
    weights: np.ndarray,
    priors: Mapping[str, Prior],
    settings: dict[str, Any],
    seed: np.random.SeedSequence,
) -> tuple[az.InferenceData, dict[str, Any], list[str]]:
    """Mean-field ADVI on the PyMC model from the posterior mode, then ``chains x draws`` draws
    of the approximation."""
    import pymc as pm

    pymc_model = build_pymc_model(name, patterns, weights, priors)
    seed_fit, seed_draw = (int(s.generate_state(1, dtype=np.uint32)[0]) for s in seed.spawn(2))
    tracker = pm.callbacks.CheckParametersConvergence(every=500, tolerance=1e-3, diff="relative")
    with pymc_model:
        # start at the posterior mode with the spread of its Laplace approximation: from PyMC's
        # default (unit sd on the log scale) the optimiser wanders along correlated directions
        names = _spec(name).names
        start = start_sigma = None
        if np.all(np.isfinite(mode.params)) and np.all(np.isfinite(mode.covariance_log)):
            start = {n: float(v) for n, v in zip(names, mode.params)}
            start_sigma = {f"{n}_log__": float(np.sqrt(mode.covariance_log[i, i])) for i, n in enumerate(names)}
        approx = pm.fit(
            n=ADVI_ITERATIONS, method="advi", random_seed=seed_fit, progressbar=settings["progressbar"],
            callbacks=[tracker], start=start, start_sigma=start_sigma,
        )
        total = settings["chains"] * settings["draws"]
        idata = approx.sample(total, random_seed=seed_draw, return_inferencedata=True)
    # one chain of independent draws from the approximation (no sample_stats: nothing sampled)
    losses = np.asarray(approx.hist)
    n_iter = len(losses)
    problems = []
    if n_iter >= ADVI_ITERATIONS:
        window = max(n_iter // 10, 100)
        last, before = np.mean(losses[-window:]), np.mean(losses[-2 * window : -window])
        change = abs(last - before) / max(abs(last), 1.0)
        if change > 1e-3:
            problems.append(
                f"ADVI's objective (negative ELBO) was still changing by {change:.1%} over the last "
                f"{window} of {n_iter} steps. Use method='nuts', which also gives honest intervals "
                "(mean-field ADVI understates posterior uncertainty)."
            )
    info = {"sampler": "pymc ADVI (mean-field)", "iterations": n_iter, "final_loss": float(losses[-1]) if n_iter else np.nan,
            "chains": 1, "draws": total, "random_seed": settings["random_seed"]}
    return idata, info, problems


# -- results ------------------------------------------------------------------------------------


def posterior_frame(idata: az.InferenceData, names: tuple[str, ...]) -> pd.DataFrame:
    """Posterior draws stacked over chains: one row per draw, one column per parameter."""
    post = idata.posterior
    values = np.column_stack([np.asarray(post[n].values, dtype=np.float64).reshape(-1) for n in names])
    return pd.DataFrame(values, columns=list(names))


def _total_loglik(spec: _Spec, params: pd.Series, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> float:
    return float(weights @ spec.loglik(params, *patterns))


def _with_groups(
    sampled: az.InferenceData,
    spec: _Spec,
    draws: pd.DataFrame,
    patterns: tuple[np.ndarray, ...],
    inverse: np.ndarray,
    observed: pd.DataFrame,
    log_likelihood: bool | None,
) -> az.InferenceData:
    """The sampler's ``posterior`` (the parameters) and ``sample_stats``, plus ``observed_data``
    (per customer), ``constant_data`` (the weighted patterns) and ``log_likelihood``."""
    import arviz as az
    import xarray as xr

    groups = {"posterior": sampled.posterior[list(spec.names)]}
    if "sample_stats" in sampled.groups():
        groups["sample_stats"] = sampled.sample_stats
    idata = az.InferenceData(**groups)

    index = observed.index
    coord = np.asarray(index.astype(str) if index.dtype == object else index)
    dim = "customer_id"
    obs = xr.Dataset({col: ((dim,), observed[col].to_numpy(dtype=np.float64)) for col in spec.columns}, coords={dim: coord})
    const = xr.Dataset(
        {**{col: (("pattern",), np.asarray(arr, dtype=np.float64)) for col, arr in zip(spec.columns, patterns)},
         "weights": (("pattern",), np.bincount(inverse, minlength=len(patterns[0])).astype(np.float64))}
    )
    idata.add_groups({"observed_data": obs, "constant_data": const})
    n_chain, n_draw = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    n_customers = len(index)
    size = 8 * n_chain * n_draw * n_customers
    if log_likelihood is False or (log_likelihood is None and size > LOG_LIKELIHOOD_BUDGET):
        why = "log_likelihood=False" if log_likelihood is False else (
            f"{n_chain * n_draw:,} draws x {n_customers:,} customers would take {size / 1e9:.1f} GB, "
            f"over the {LOG_LIKELIHOOD_BUDGET / 1e9:g} GB budget; set log_likelihood=True to keep it anyway"
        )
        idata.attrs["log_likelihood"] = f"not stored ({why})"
        return idata
    values = np.empty((n_chain * n_draw, n_customers))
    # per pattern, in chunks of draws so the pattern block stays within a tenth of the budget
    n_patterns = len(patterns[0])
    cores = _usable_cores()
    chunk = max(1, min(int(LOG_LIKELIHOOD_BUDGET // 10 // (8 * max(n_patterns, 1) * cores)), -(-len(draws) // cores)))

    def fill(start: int) -> None:
        with np.errstate(all="ignore"):
            block = spec.loglik(draws.iloc[start : start + chunk], *patterns)
        values[start : start + chunk] = block[:, inverse]

    starts = range(0, len(draws), chunk)
    if cores == 1 or len(starts) == 1:
        for start in starts:
            fill(start)
    else:  # the likelihoods' heavy parts release the GIL (numpy, numba nogil kernels)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=cores) as pool:
            list(pool.map(fill, starts))
    ll = xr.Dataset(
        {spec.observed: (("chain", "draw", dim), values.reshape(n_chain, n_draw, n_customers))},
        coords={"chain": idata.posterior.chain.values, "draw": idata.posterior.draw.values, dim: coord},
    )
    idata.add_groups({"log_likelihood": ll})
    idata.attrs["log_likelihood"] = "stored per customer (draws x customers)"
    return idata


def check_convergence(idata: az.InferenceData, names: tuple[str, ...] | list[str]) -> list[str]:
    """Convergence problems of a NUTS run, in plain words with what to try (empty if none).

    Checks the rank-normalised split r_hat (at most :data:`R_HAT_MAX` = 1.01), the bulk and
    tail effective sample sizes (at least :data:`ESS_MIN` = 400) of every parameter
    (Vehtari et al. 2021), divergent transitions and trajectories cut at the maximum tree depth.

    Examples
    --------
    Four chains that agree, and the same with one chain stuck elsewhere:

    >>> import arviz as az
    >>> rng = np.random.default_rng(0)
    >>> good = rng.normal(0.25, 0.01, (4, 1000))
    >>> stuck = good + np.array([[0.0], [0.0], [0.0], [0.05]])
    >>> stats = {"diverging": np.zeros((4, 1000), dtype=bool)}
    >>> check_convergence(az.from_dict(posterior={"r": good}, sample_stats=stats), ["r"])
    []
    >>> for problem in check_convergence(az.from_dict(posterior={"r": stuck}, sample_stats=stats), ["r"]):
    ...     print(problem.split(";")[0])
    The chains disagree (r_hat above 1.01: r 1.528)
    Few effective draws (bulk or tail ESS under 400: r 7), so means and interval bounds are imprecise
    """
    import arviz as az

    problems = []
    post = idata.posterior[list(names)]
    n_chains = post.sizes["chain"]
    if n_chains > 1:
        rhat = az.rhat(post)
        bad = {n: float(rhat[n]) for n in names if not float(rhat[n]) <= R_HAT_MAX}
        if bad:
            problems.append(
                f"The chains disagree (r_hat above {R_HAT_MAX}: "
                + ", ".join(f"{n} {v:.3f}" for n, v in bad.items())
                + "); run longer (more tune and draws, e.g. tune=2000, draws=2000) and check the priors."
            )
    ess_bulk, ess_tail = az.ess(post, method="bulk"), az.ess(post, method="tail")
    low = {n: min(float(ess_bulk[n]), float(ess_tail[n])) for n in names}
    low = {n: v for n, v in low.items() if not v >= ESS_MIN}
    if low:
        problems.append(
            f"Few effective draws (bulk or tail ESS under {ESS_MIN}: "
            + ", ".join(f"{n} {v:.0f}" for n, v in low.items())
            + "), so means and interval bounds are imprecise; draw more (draws=, chains=)."
        )
    stats = idata.sample_stats
    if "diverging" in stats:
        n_div = int(np.asarray(stats["diverging"]).sum())
        total = int(np.asarray(stats["diverging"]).size)
        if n_div:
            problems.append(
                f"{n_div} of {total} draws ended in a divergent transition (the sampler could not follow "
                "the posterior's curvature, so the draws may be biased); try target_accept=0.95 or more "
                "informative priors."
            )
    depth_key = next((k for k in ("maxdepth_reached", "reached_max_treedepth") if k in stats), None)
    if depth_key is not None:
        share = float(np.asarray(stats[depth_key]).mean())
        if share > 0.01:
            problems.append(
                f"{share:.0%} of the trajectories stopped at the maximum tree depth (slow exploration); "
                "the posterior may be badly scaled: check the data's time unit and the priors."
            )
    return problems


def posterior_summary(idata: az.InferenceData, names: tuple[str, ...] | list[str], ci: float = 0.95) -> pd.DataFrame:
    """Posterior mean, sd, equal-tailed interval at level ``ci`` and ArviZ's diagnostics.

    Columns: ``mean, sd, lower, upper`` (the ``(1 - ci) / 2`` and ``(1 + ci) / 2``
    quantiles; equal-tailed, so they do not depend on whether a parameter is summarised on the
    log scale or not), ``mcse_mean, ess_bulk, ess_tail, r_hat`` (from :func:`arviz.summary`;
    r_hat is NaN for a single chain of ADVI draws, whose draws are independent).

    Examples
    --------
    >>> import arviz as az
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"p": rng.normal(6.0, 0.5, (2, 500)),
    ...                                 "q": rng.normal(3.7, 0.3, (2, 500))})
    >>> posterior_summary(idata, ["p", "q"], ci=0.9)[["mean", "sd", "lower", "upper", "r_hat"]].round(2)
               mean    sd  lower  upper  r_hat
    parameter
    p          5.98  0.49   5.22   6.76    1.0
    q          3.70  0.31   3.19   4.19    1.0
    """
    import arviz as az

    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.95.")
    names = list(names)
    draws = posterior_frame(idata, tuple(names))
    lo, hi = (1 - ci) / 2, (1 + ci) / 2
    if idata.posterior.sizes["chain"] > 1:
        diag = az.summary(idata, var_names=names, kind="diagnostics", round_to="none")
    else:  # one chain of independent ADVI draws: no r_hat (az.summary would complain)
        post = idata.posterior[names]
        bulk, tail, mcse = az.ess(post, method="bulk"), az.ess(post, method="tail"), az.mcse(post)
        diag = pd.DataFrame(
            {"mcse_mean": [float(mcse[n]) for n in names], "ess_bulk": [float(bulk[n]) for n in names],
             "ess_tail": [float(tail[n]) for n in names], "r_hat": np.nan},
            index=names,
        )
    table = pd.DataFrame(
        {
            "mean": draws.mean().to_numpy(),
            "sd": draws.std(ddof=1).to_numpy(),
            "lower": draws.quantile(lo).to_numpy(),
            "upper": draws.quantile(hi).to_numpy(),
            "mcse_mean": diag.loc[names, "mcse_mean"].to_numpy(),
            "ess_bulk": diag.loc[names, "ess_bulk"].to_numpy(),
            "ess_tail": diag.loc[names, "ess_tail"].to_numpy(),
            "r_hat": diag.loc[names, "r_hat"].to_numpy(),
        },
        index=pd.Index(names, name="parameter"),
    )
    table.attrs["ci"] = ci
    return table


def posterior_draws(estimator: Model, n_draws: int, random_seed: Any) -> pd.DataFrame:
    """``n_draws`` posterior draws of the parameters, a seeded random subset of those sampled.

    When ``n_draws`` is at most the number available (chains x draws), the subset is drawn
    without replacement. When it is larger, every posterior draw appears ``n_draws // S``
    times and a random ``n_draws % S`` of them once more (S available), so no draw is
    over-represented by chance; such repeats add no information, so ask for at most S.

    Examples
    --------
    >>> from clvmodels import GammaGamma, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W", amount_col="amount")
    >>> model = GammaGamma(random_seed=1).fit(data, method="nuts")
    >>> model.converged_, model.summary()["mean"].round(1).tolist()
    (True, [6.4, 3.8, 16.0])
    >>> model.sample_params(500, random_seed=2).shape
    (500, 3)
    """
    names = estimator.param_names
    values = posterior_frame(estimator.idata_, names).to_numpy()
    available = len(values)
    rng = np.random.default_rng(random_seed)
    if n_draws <= available:
        index = rng.choice(available, size=n_draws, replace=False)
    else:
        whole, extra = divmod(n_draws, available)
        index = np.concatenate([np.tile(np.arange(available), whole), rng.choice(available, size=extra, replace=False)])
        index = rng.permutation(index)
    return pd.DataFrame(values[index], columns=list(names), index=pd.RangeIndex(n_draws, name="draw"))


# -- prior predictive check -----------------------------------------------------------------------


@dataclass
class PriorPredictiveCheck:
    """Data simulated from the prior, summarised as statistics comparable with the observed data.

    Attributes
    ----------
    params : DataFrame
        The prior draws of the parameters (one row per draw).
    statistics : DataFrame
        Per prior draw, the statistics of the data simulated with that draw.
    observed : Series
        The same statistics of the observed data.

    Examples
    --------
    >>> from clvmodels import GammaGamma
    >>> customers = (np.array([1.0, 2.0, 5.0] * 100), np.array([20.0, 35.0, 50.0] * 100))
    >>> check = prior_predictive(GammaGamma(), customers, n_draws=50, random_seed=0)
    >>> check.params.shape, check.statistics.columns.tolist()
    ((50, 3), ['mean_spend', 'spend_q10', 'spend_median', 'spend_q90'])
    >>> check.observed.tolist()
    [35.0, 20.0, 35.0, 50.0]
    """

    params: pd.DataFrame
    statistics: pd.DataFrame
    observed: pd.Series

    def summary(self, ci: float = 0.9) -> pd.DataFrame:
        """Per statistic: observed value, prior predictive median and ``ci`` interval, and the
        share of prior draws below the observed value (near 0 or 1: the prior rules the data out).

        Examples
        --------
        >>> from clvmodels import GammaGamma
        >>> customers = (np.array([1.0, 2.0, 5.0] * 100), np.array([20.0, 35.0, 50.0] * 100))
        >>> table = prior_predictive(GammaGamma(), customers, n_draws=200, random_seed=0).summary(ci=0.9)
        >>> table.columns.tolist()
        ['observed', 'median', 'lower', 'upper', 'share_below']
        >>> bool(table["share_below"].between(0.05, 0.95).all())  # the default priors allow these data
        True
        """
        if not 0 < ci < 1:
            raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
        stats = self.statistics
        table = pd.DataFrame(
            {
                "observed": self.observed,
                "median": stats.median(),
                "lower": stats.quantile((1 - ci) / 2),
                "upper": stats.quantile((1 + ci) / 2),
                "share_below": (stats < self.observed).mean(),
            }
        )
        table.index.name = "statistic"
        table.attrs["ci"] = ci
        return table


def _frequency_statistics(x: np.ndarray, max_frequency: int) -> dict[str, float]:
    counts = np.bincount(np.minimum(x.astype(np.int64), max_frequency), minlength=max_frequency + 1) / len(x)
    out = {f"share_frequency_{k}": float(c) for k, c in enumerate(counts[:-1])}
    out[f"share_frequency_{max_frequency}+"] = float(counts[-1])
    out["mean_frequency"] = float(np.mean(x))
    return out


def _spend_statistics(m: np.ndarray) -> dict[str, float]:
    q10, q50, q90 = np.quantile(m, [0.1, 0.5, 0.9])
    return {"mean_spend": float(np.mean(m)), "spend_q10": float(q10), "spend_median": float(q50), "spend_q90": float(q90)}


def prior_predictive(
    estimator: Model,
    customers: tuple[np.ndarray, ...],
    n_draws: int = 200,
    *,
    max_frequency: int = 7,
    max_customers: int = 10_000,
    random_seed: Any = None,
) -> PriorPredictiveCheck:
    """Simulate data sets from the prior and summarise them (see :meth:`Model.prior_predictive`).

    ``customers`` are the per-customer arrays the model is fitted on: ``(frequency, recency, T)``
    for BG/NBD (only T is used), ``(frequency, monetary_value)`` of the repeat buyers for
    Gamma-Gamma.

    Examples
    --------
    >>> from clvmodels import BetaGeo
    >>> T = np.full(1000, 39.0)
    >>> customers = (np.r_[np.zeros(600), np.ones(400)], np.r_[np.zeros(600), np.full(400, 20.0)], T)
    >>> check = prior_predictive(BetaGeo(), customers, n_draws=100, random_seed=0)
    >>> check.observed[["share_frequency_0", "share_frequency_1", "mean_frequency"]].tolist()
    [0.6, 0.4, 0.4]
    """
    import pymc as pm

    name = _model_name(estimator)
    spec = _spec(name)
    formulas = _model_class(name).formulas
    transactions = _model_class(name).kind == "transactions"
    weights = np.ones(len(customers[0]))
    priors = resolve_priors(name, estimator.priors, _data_scale(name, customers, weights))
    seed = seed_sequence(random_seed)
    seed_params, seed_sub, seed_sim = seed.spawn(3)
    values = pm.draw([priors[n].dist() for n in spec.names], draws=int(n_draws),
                     random_seed=int(seed_params.generate_state(1, dtype=np.uint32)[0]))
    params = pd.DataFrame(np.column_stack([np.asarray(v, dtype=np.float64) for v in values]), columns=list(spec.names))
    params.index.name = "draw"
    rng = np.random.default_rng(seed_sub)
    n = len(customers[0])
    keep = np.sort(rng.choice(n, size=max_customers, replace=False)) if n > max_customers else np.arange(n)
    sample = tuple(np.asarray(c)[keep] for c in customers)
    rows = []
    with np.errstate(all="ignore"):
        for i, child in enumerate(seed_sim.spawn(len(params))):
            row = params.iloc[i]
            try:
                if transactions:
                    sim = formulas.simulate(row, sample[2], random_seed=np.random.default_rng(child))
                    rows.append(_frequency_statistics(sim["frequency"].to_numpy(), max_frequency))
                else:
                    sim = formulas.simulate(row, sample[0], random_seed=np.random.default_rng(child))
                    rows.append(_spend_statistics(sim["monetary_value"].to_numpy()))
            except ValueError:  # a prior draw so extreme that the simulation overflows
                rows.append({})
    observed = _frequency_statistics(sample[0], max_frequency) if transactions else _spend_statistics(sample[1])
    statistics = pd.DataFrame(rows, columns=list(observed), index=params.index)
    return PriorPredictiveCheck(params, statistics, pd.Series(observed, name="observed"))


# -- models with covariates -------------------------------------------------------------------------


class _CovariatePosterior:
    """``log p(u | data)`` in the working coordinates of a model with covariates,
    ``u = (log base parameters, coefficients)``: the covariate log-likelihood
    (:func:`clvmodels.inference.autodiff.covariate_objective`), the base parameters' priors with
    the Jacobian of ``theta = exp(u)`` (the compiled log-priors), and ``Normal(mu, sigma)``
    priors on the coefficients."""

    kind = "covariate log-likelihood (PyTensor gradient) + compiled log-priors"

    def __init__(self, model_type: type, cspec: Any, patterns: tuple[np.ndarray, ...], designs: dict[str, np.ndarray],
                 weights: np.ndarray, codes: np.ndarray, coef_mu: np.ndarray, coef_sigma: np.ndarray) -> None:
        from .autodiff import covariate_objective

        self.args = (model_type, cspec, patterns, designs, weights)
        self.loglik = covariate_objective(*self.args)
        self.codes, self.mu, self.sigma = codes, coef_mu, coef_sigma
        self.k = len(model_type.param_names)
        self._log_prior = _kernels._compiled()["log_prior"]

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        u = np.asarray(u, dtype=np.float64)
        k = self.k
        if not np.all(np.abs(u) <= _kernels.LOG_BOUND):
            return -np.inf, np.zeros(len(u))
        value, grad = self.loglik(u)
        if not np.isfinite(value):
            return -np.inf, np.zeros(len(u))
        grad = np.array(grad, dtype=np.float64)
        for i in range(k):
            code, p1, p2 = self.codes[i]
            prior, slope = self._log_prior(code, p1, p2, u[i])
            value += prior
            grad[i] += slope
        z = (u[k:] - self.mu) / self.sigma
        value += float(np.sum(-0.5 * z * z - np.log(self.sigma) - 0.5 * np.log(2 * np.pi)))
        grad[k:] -= z / self.sigma
        return float(value), grad

    def new_fn(self) -> Any:
        return _CovariatePosterior(*self.args, self.codes, self.mu, self.sigma)

    def mode_objective(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """The log density of (base parameters, coefficients) without the Jacobian (the MAP target)."""
        value, grad = self(u)
        grad = grad.copy()
        grad[: self.k] -= 1.0
        return value - float(np.sum(u[: self.k])), grad


def covariate_priors(model_type: type, cspec: Any, priors: Mapping[str, Any] | None, scale: float) -> dict[str, Prior]:
    """The priors of a model with covariates: the model's own for its base parameters, and
    ``Normal(0, 1)`` for every coefficient (of a standardised numeric covariate: one standard
    deviation multiplies the rate by at most about e^2 at 2 sd; of a dummy: the same on the
    category's shift), each overridable by name in ``priors`` (a coefficient's prior must be a
    ``Normal``)."""
    from ..models.covariates import COEFFICIENT_PRIOR_SIGMA

    priors = dict(priors or {})
    names = cspec.coefficient_names()
    coef = {n: priors.pop(n) for n in list(priors) if ":" in n}
    unknown = sorted(set(coef) - set(names))
    if unknown:
        raise ValueError(f"priors has unknown coefficient(s) {unknown}; the model's coefficients are {names}.")
    resolved = resolve_priors(model_type, priors or None, scale)
    for name in names:
        value = coef.get(name, Prior("Normal", mu=0.0, sigma=COEFFICIENT_PRIOR_SIGMA))
        if isinstance(value, Mapping):
            value = Prior.from_dict(value)
        if not isinstance(value, Prior) or value.distribution != "Normal" or set(value.params) != {"mu", "sigma"}:
            raise ValueError(f"the prior of coefficient {name} must be Prior('Normal', mu=..., sigma=...); got {value!r}.")
        resolved[name] = value
    return resolved


def fit_covariates(
    estimator: Model,
    method: str,
    cspec: Any,
    patterns: tuple[np.ndarray, ...],
    designs: dict[str, np.ndarray],
    weights: np.ndarray,
    inverse: np.ndarray,
    observed: pd.DataFrame,
) -> Any:
    """Bayesian fit (``"nuts"`` or ``"map"``) of a model with covariates; returns a ``FitResult``.

    The log-posterior is :class:`_CovariatePosterior` (priors from :func:`covariate_priors`);
    NUTS runs on nutpie over it; ``"advi"`` is not available with covariates.
    """
    from ..models.covariates import customer_params, maximize_with_covariates
    from .result import FitResult

    model_type = type(estimator)
    name = model_type.__name__
    settings = _check_settings(estimator, method)
    if method == "advi":
        raise ValueError("method='advi' is not available for a model with covariates; use method='nuts' or 'map'.")
    priors = covariate_priors(model_type, cspec, estimator.priors, model_type.data_scale(patterns, weights))
    base_names = tuple(model_type.param_names)
    coef_names = tuple(cspec.coefficient_names())
    names = base_names + coef_names
    codes = encode_priors(priors, base_names)
    if codes is None:
        raise ValueError(
            f"with covariates the base parameters' priors must be among {sorted(_kernels.PRIOR_CODES)}; got "
            f"{ {n: priors[n] for n in base_names} }."
        )
    mu = np.array([priors[n].params["mu"] for n in coef_names], dtype=np.float64)
    sigma = np.array([priors[n].params["sigma"] for n in coef_names], dtype=np.float64)
    post = _CovariatePosterior(model_type, cspec, patterns, designs, weights, codes, mu, sigma)
    start = time.perf_counter()
    mode, _ = maximize_with_covariates(model_type, cspec, patterns, designs, weights, objective=post.mode_objective)
    n_customers = int(round(float(weights.sum())))
    k = len(base_names)
    if method == "map":
        mode.method = "map"
        mode.priors = priors
        mode.optimizer = {**(mode.optimizer or {}), "log_posterior": post.kind}
        return mode
    if not _nutpie_available() or settings["sampler"] == "pymc":
        raise ValueError("NUTS with covariates runs on nutpie: install clvmodels[nutpie] and use sampler='auto' or 'nutpie'.")
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    centre = np.r_[np.log(mode.params[:k]), mode.params[k:]]
    cov = mode.covariance_log
    seed = np.random.SeedSequence(settings["random_seed"])
    seed_init, seed_sampler = seed.spawn(2)
    init_entropy = int(seed_init.generate_state(1, dtype=np.uint32)[0])

    def initial(s: int) -> np.ndarray:
        rng = np.random.default_rng([init_entropy, int(s)])
        if np.all(np.isfinite(cov)):
            try:
                return np.ascontiguousarray(centre + np.linalg.cholesky(cov) @ rng.standard_normal(len(centre)))
            except np.linalg.LinAlgError:
                pass
        return np.ascontiguousarray(centre + rng.uniform(-0.1, 0.1, len(centre)))

    def make_expand_fn(seed1: int, seed2: int, chain: int) -> Any:
        def expand(u: np.ndarray) -> dict[str, np.ndarray]:
            values = np.r_[np.exp(u[:k]), u[k:]]
            return {n: np.asarray(v) for n, v in zip(names, values)}

        return expand

    compiled = from_pyfunc(
        len(names), post.new_fn, make_expand_fn, [np.dtype("float64")] * len(names), [()] * len(names), list(names),
        make_initial_point_fn=initial,
    )
    chains, draws_per_chain = settings["chains"], settings["draws"]
    tune = settings["tune"] if settings["tune"] is not None else TUNE_NUTPIE
    cores = max(1, min(chains, _usable_cores()))
    idata = nutpie.sample(
        compiled, draws=draws_per_chain, tune=tune, chains=chains, cores=cores,
        seed=int(seed_sampler.generate_state(1, dtype=np.uint32)[0]), progress_bar=settings["progressbar"],
        save_warmup=False, target_accept=settings["target_accept"], low_rank_modified_mass_matrix=True,
    )
    sampler = {"sampler": "nutpie (covariate log-posterior)", "chains": chains, "draws": draws_per_chain, "tune": tune,
               "cores": cores, "random_seed": settings["random_seed"], "seconds": time.perf_counter() - start}
    problems = check_convergence(idata, names)
    draws = posterior_frame(idata, names)

    def loglik_draws(params: Any, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        per = customer_params(model_type, cspec, params, designs)
        return model_type.formulas.loglik(per, x, t_x, T)

    spec = _Spec(names, tuple(model_type.columns), "purchases", loglik_draws, None)
    idata = _with_groups(idata, spec, draws, patterns, inverse, observed, settings["log_likelihood"])
    idata.attrs.update({"clvmodels_model": name, "clvmodels_method": method, "clvmodels_sampler": sampler["sampler"]})
    means = draws.mean()
    working = np.column_stack([np.log(draws[list(base_names)].to_numpy()), draws[list(coef_names)].to_numpy()])
    u_mean = np.r_[np.log(means[list(base_names)].to_numpy()), means[list(coef_names)].to_numpy()]
    result = FitResult(
        method=method,
        params=means.to_numpy(),
        covariance=np.cov(draws.to_numpy().T),
        covariance_log=np.cov(working.T),
        loglik=float(post.loglik(u_mean)[0]),
        converged=not problems,
        n_customers=n_customers,
        patterns=patterns,
        weights=weights,
        idata=idata,
        sampler={**sampler, "problems": problems},
        priors=priors,
        extra={"covariates_": cspec, "_pattern_designs_": designs},
    )
    if problems:
        _warn(f"{name} NUTS sampling with covariates may not have converged: " + " ".join(problems))
    return result
