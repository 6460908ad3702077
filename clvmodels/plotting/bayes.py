"""Diagnostics of a Bayesian fit through ArviZ, with the papers' parameter names.

Each function takes an :class:`arviz.InferenceData` whose ``posterior`` holds the model's
parameters as variables named as in the papers (``r, alpha, a, b`` for the BG/NBD; ``p, q,
gamma`` for Gamma-Gamma), or a model fitted with ``method="nuts"`` (its ``idata_``), and draws
on axes it creates on one figure, so ArviZ never falls back on pyplot's current figure. ArviZ
is imported when a function is called (importing :mod:`clvmodels.plotting` does not import it).

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Buerkner, P.-C. (2021). Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC. Bayesian
Analysis 16(2), 667-718 (rank plots).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._common import check_level, model_name, new_figure, time_unit_of, unit_name

__all__ = ["plot_trace", "plot_rank", "plot_posterior", "plot_prior_posterior"]

#: parameters in time units (rates are per time unit, so their scales are in time units)
_TIME_SCALES = ("alpha", "beta")


def _registered_parameters() -> tuple[str, ...]:
    """Every registered model's parameter names, in registration order, each once: the order in
    which the variables of an InferenceData of unknown model are drawn."""
    from ..models.registry import registered

    names: dict[str, None] = {}
    for cls in registered().values():
        names.update(dict.fromkeys(cls.param_names))
    return tuple(names)


def _arviz() -> Any:
    with warnings.catch_warnings():
        # arviz 0.2x announces its refactor with a FutureWarning on import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


@contextmanager
def _quiet_arviz() -> Iterator[None]:
    """Silence, locally, arviz 0.2x's own deprecation noise from matplotlib 3.11."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=MatplotlibDeprecationWarning)
        yield


def _inference_data(source: Any) -> Any:
    az = _arviz()
    if isinstance(source, az.InferenceData):
        return source
    idata = getattr(source, "idata_", None)
    if isinstance(idata, az.InferenceData):
        return idata
    raise TypeError(
        f"expected an arviz.InferenceData or a model fitted with method='nuts' (with idata_), got "
        f"{type(source).__name__}; a maximum-likelihood fit has no posterior to diagnose."
    )


def _var_names(idata: Any, source: Any, var_names: list[str] | None, group: str = "posterior") -> list[str]:
    dataset = getattr(idata, group)
    if var_names is not None:
        missing = [v for v in var_names if v not in dataset.data_vars]
        if missing:
            raise ValueError(f"the {group} has no variable(s) {missing}; it has {list(dataset.data_vars)}.")
        return list(var_names)
    wanted = getattr(source, "param_names", None) or _registered_parameters()
    names = [v for v in wanted if v in dataset.data_vars and dataset[v].ndim == 2]
    if not names:
        names = [v for v in dataset.data_vars if dataset[v].ndim == 2]
    if not names:
        raise ValueError(f"the {group} has no scalar parameter (variables with dims chain, draw only).")
    return names


def _labeller(source: Any, idata: Any) -> Any:
    """Parameter names, with the time unit on the scales of the rates of a transaction model
    (``alpha``, and the Pareto/NBD's ``beta``)."""
    az = _arviz()
    unit = time_unit_of(source, idata.posterior)
    scales = _TIME_SCALES if getattr(source, "kind", "transactions") == "transactions" else ()
    mapping = {name: f"{name} ({unit_name(unit)})" for name in scales} if unit is not None else {}
    return az.labels.MapLabeller(var_name_map=mapping)


def _title(source: Any, what: str, idata: Any) -> str:
    name = model_name(source) if not type(source).__name__ == "InferenceData" else "Posterior"
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    prefix = f"{name} posterior" if name != "Posterior" else "Posterior"
    return f"{prefix}: {what} ({chains} chains x {draws} draws)"


def plot_trace(source: Any, *, var_names: list[str] | None = None, fig: Figure | None = None) -> Figure:
    """Trace plot: each parameter's density by chain (left) and its draws by chain (right).

    Chains that mix well overlap on the left and look like the same stationary noise on the
    right. Divergent transitions, when ``sample_stats`` records them, are marked.

    Parameters
    ----------
    source : InferenceData or fitted model
        Posterior draws, or a model with ``idata_``.
    var_names : list of str, optional
        Parameters to draw (default: the model's, ``r, alpha, a, b`` or ``p, q, gamma``).
    fig : Figure, optional
        An empty figure to draw on; a new one when omitted.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import arviz as az
    >>> from matplotlib.figure import Figure
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"r": rng.gamma(50, 0.005, (2, 100)),
    ...                                 "alpha": rng.gamma(50, 0.09, (2, 100))})
    >>> fig = plot_trace(idata, fig=Figure())
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['r', 'r']
    """
    az = _arviz()
    idata = _inference_data(source)
    names = _var_names(idata, source, var_names)
    fig = new_figure(fig, figsize=(10.0, 2.2 * len(names) + 0.8))
    axes = np.asarray(fig.subplots(len(names), 2, squeeze=False))
    with _quiet_arviz():
        az.plot_trace(idata, var_names=names, axes=axes, legend=True, labeller=_labeller(source, idata), compact=False)
    for row, name in zip(axes, names):
        row[0].set(xlabel=f"{name}", ylabel="Density")
        row[1].set(xlabel="Draw", ylabel=name)
    fig.suptitle(_title(source, "trace", idata))
    return fig


def plot_rank(source: Any, *, var_names: list[str] | None = None, fig: Figure | None = None) -> Figure:
    """Rank plots: histograms of each chain's ranks among all draws, one panel per parameter.

    Well-mixed chains give flat histograms around the dashed uniform line; a chain stuck in a
    region shows as a sloped or humped histogram (Vehtari et al. 2021).

    Parameters
    ----------
    source : InferenceData or fitted model
        Posterior draws, or a model with ``idata_``.
    var_names : list of str, optional
        Parameters to draw.
    fig : Figure, optional
        An empty figure to draw on; a new one when omitted.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import arviz as az
    >>> from matplotlib.figure import Figure
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"r": rng.gamma(50, 0.005, (2, 100)),
    ...                                 "alpha": rng.gamma(50, 0.09, (2, 100))})
    >>> fig = plot_rank(idata, fig=Figure())
    >>> [ax.get_title() for ax in fig.axes]
    ['r', 'alpha']
    """
    az = _arviz()
    idata = _inference_data(source)
    names = _var_names(idata, source, var_names)
    ncols = min(len(names), 4)
    nrows = int(np.ceil(len(names) / ncols))
    fig = new_figure(fig, figsize=(3.2 * ncols + 0.6, 3.0 * nrows + 0.8))
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    with _quiet_arviz():
        az.plot_rank(idata, var_names=names, ax=axes[: len(names)], labeller=_labeller(source, idata))
    for ax in axes[len(names):]:
        ax.remove()
    chains = idata.posterior.sizes["chain"]
    for ax in axes[: len(names)]:
        ax.set(xlabel="Rank among all draws", ylabel="Chain")
    handles = [Patch(color=f"C{i % 10}", label=f"chain {i}") for i in range(chains)]
    handles.append(Line2D([], [], color="k", ls="--", label="uniform (well mixed)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small", frameon=False)
    fig.suptitle(_title(source, "rank plots", idata))
    return fig


def plot_posterior(
    source: Any,
    *,
    var_names: list[str] | None = None,
    ci: float = 0.9,
    reference: dict[str, float] | None = None,
    reference_label: str = "reference",
    fig: Figure | None = None,
) -> Figure:
    """Posterior density of each parameter with its highest-density interval and mean.

    Parameters
    ----------
    source : InferenceData or fitted model
        Posterior draws, or a model with ``idata_``.
    var_names : list of str, optional
        Parameters to draw.
    ci : float
        Probability of the highest-density interval.
    reference : dict, optional
        Reference values to mark, for example the maximum-likelihood estimates
        (``dict(mle_model.params_)``) or published values, drawn at three significant digits
        with the shares of posterior draws below and above.
    reference_label : str
        What the reference values are, for the legend.
    fig : Figure, optional
        An empty figure to draw on; a new one when omitted.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import arviz as az
    >>> from matplotlib.figure import Figure
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"r": rng.gamma(50, 0.005, (2, 100)),
    ...                                 "alpha": rng.gamma(50, 0.09, (2, 100))})
    >>> fig = plot_posterior(idata, ci=0.9, reference={"r": 0.243, "alpha": 4.414}, fig=Figure())
    >>> len(fig.axes), fig.legends[0].get_texts()[1].get_text()
    (2, '90% highest-density interval')
    """
    az = _arviz()
    check_level(ci)
    idata = _inference_data(source)
    names = _var_names(idata, source, var_names)
    ncols = min(len(names), 4)
    nrows = int(np.ceil(len(names) / ncols))
    fig = new_figure(fig, figsize=(3.4 * ncols + 0.6, 3.0 * nrows + 0.8))
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    ref_val = None
    if reference is not None:
        # three significant digits, as printed on the plot
        ref_val = {name: [{"ref_val": float(f"{float(reference[name]):.3g}")}] for name in names if name in reference}
    with _quiet_arviz():
        az.plot_posterior(
            idata, var_names=names, hdi_prob=ci, point_estimate="mean", ref_val=ref_val,
            ax=axes[: len(names)], labeller=_labeller(source, idata), textsize=9,
        )
    # ArviZ writes its numbers in semibold, which DejaVu Sans lacks: matplotlib would log a
    # findfont warning each time the figure is drawn (in a notebook, under the plot)
    for text in (t for ax in axes for t in ax.texts):
        if text.get_fontweight() in ("semibold", 600):
            text.set_fontweight("bold")
    for ax in axes[len(names):]:
        ax.remove()
    for ax, name in zip(axes, names):
        ax.set(xlabel=name)
    handles = [
        Line2D([], [], color="C0", label="posterior density"),
        Line2D([], [], color="k", lw=3, label=f"{ci:.0%} highest-density interval"),
    ]
    if ref_val:
        handles.append(Line2D([], [], color="C1", label=f"{reference_label} (share of draws below / above)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small", frameon=False)
    fig.suptitle(_title(source, f"densities with the mean and the {ci:.0%} HDI", idata))
    return fig


def _prior_dataset(source: Any, idata: Any, prior: Any, names: list[str], n_prior: int, random_seed: Any) -> Any:
    """Prior draws as an xarray Dataset: given, in ``idata.prior``, or drawn from ``source.priors_``."""
    az = _arviz()
    if prior is not None:
        if isinstance(prior, az.InferenceData):
            return prior.prior
        if isinstance(prior, pd.DataFrame):  # one row per draw, e.g. prior_predictive(...).params
            return az.convert_to_dataset({name: prior[name].to_numpy()[None, :] for name in prior.columns})
        return prior
    if "prior" in idata.groups():
        return idata.prior
    priors = getattr(source, "priors_", None)
    if isinstance(priors, Mapping) and all(hasattr(priors.get(name), "dist") for name in names):
        import pymc as pm

        values = pm.draw([priors[name].dist() for name in names], draws=int(n_prior), random_seed=random_seed)
        return az.convert_to_dataset({name: np.asarray(v, dtype=np.float64)[None, :] for name, v in zip(names, values)})
    raise ValueError(
        "no prior draws: the InferenceData has no prior group and the model no priors_; pass prior= "
        "(an InferenceData with a prior group, a Dataset, or a DataFrame of prior draws such as "
        "model.prior_predictive(data).params)."
    )


def plot_prior_posterior(
    source: Any,
    *,
    var_names: list[str] | None = None,
    prior: Any = None,
    log: bool = True,
    n_prior: int = 4000,
    random_seed: int | None = 0,
    fig: Figure | None = None,
) -> Figure:
    """Prior against posterior density of each parameter: how much the data taught the model.

    Parameters
    ----------
    source : InferenceData or fitted model
        Posterior draws, or a model fitted with ``method="nuts"``.
    var_names : list of str, optional
        Parameters to draw.
    prior : InferenceData, Dataset or DataFrame, optional
        Prior draws with the same variable names (a DataFrame has one row per draw). By
        default the ``prior`` group of the InferenceData, or else ``n_prior`` draws from the
        fitted model's priors (``priors_``, through ``pymc.draw``).
    log : bool
        Draw ``log10`` of the parameters (they are positive and priors span orders of
        magnitude, so that a narrow posterior and a wide prior are both readable).
    n_prior : int
        Prior draws to make from the model's priors, when needed.
    random_seed : int, optional
        Seed of those draws.
    fig : Figure, optional
        An empty figure to draw on; a new one when omitted.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import arviz as az
    >>> from matplotlib.figure import Figure
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"r": rng.gamma(50, 0.005, (2, 100)),
    ...                                 "alpha": rng.gamma(50, 0.09, (2, 100))})
    >>> prior = pd.DataFrame({"r": rng.lognormal(-1.4, 1.0, 500), "alpha": rng.lognormal(1.5, 1.0, 500)})
    >>> fig = plot_prior_posterior(idata, prior=prior, fig=Figure())
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['log10(r)', 'log10(alpha)']
    """
    az = _arviz()
    idata = _inference_data(source)
    names = _var_names(idata, source, var_names)
    prior_set = _prior_dataset(source, idata, prior, names, n_prior, random_seed)
    missing = [v for v in names if v not in prior_set.data_vars]
    if missing:
        raise ValueError(f"the prior has no variable(s) {missing}.")
    ncols = min(len(names), 4)
    nrows = int(np.ceil(len(names) / ncols))
    fig = new_figure(fig, figsize=(3.4 * ncols + 0.6, 3.0 * nrows + 0.8))
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    with _quiet_arviz():
        az.plot_density(
            [idata.posterior[names], prior_set[names]], data_labels=["Posterior", "Prior"], var_names=names,
            transform=np.log10 if log else None, shade=0.2, hdi_prob=0.995, point_estimate=None,
            ax=axes[: len(names)], labeller=_labeller(source, idata),
        )
    for ax in axes[len(names):]:
        ax.remove()
    for i, (ax, name) in enumerate(zip(axes, names)):
        ax.set(xlabel=f"log10({name})" if log else name, ylabel="Density")
        legend = ax.get_legend()
        if legend is not None and i > 0:
            legend.remove()
    fig.suptitle(_title(source, "prior vs posterior", idata))
    return fig
