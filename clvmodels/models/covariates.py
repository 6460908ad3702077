"""Time-invariant customer covariates in the BG/NBD and Pareto/NBD: design matrix, checks, links.

A customer's covariates ``z_i`` (acquisition channel, gender, region, ...) move the parameters
of the two processes through log-linear links, while the shapes stay common to everyone:

Pareto/NBD (Fader & Hardie 2007, note 019; CLVTools ``pnbd`` with static covariates)
    ``alpha_i = alpha0 exp(-gamma_purchase' z_i)``, ``beta_i = beta0 exp(-gamma_dropout' z_i)``.
    Since ``lambda_i ~ Gamma(r, alpha_i)`` and ``mu_i ~ Gamma(s, beta_i)``, a positive
    coefficient raises the mean purchase rate ``r / alpha_i`` (dropout rate ``s / beta_i``) by the
    factor ``exp(gamma)`` per unit of the covariate.
BG/NBD
    ``alpha_i = alpha0 exp(-gamma_purchase' z_i)`` as above; the dropout probability
    ``p_i ~ Beta(a_i, b_i)`` with ``a_i = a0 exp(gamma_dropout' z_i + gamma_a' z_i)`` and
    ``b_i = b0 exp(gamma_dropout' z_i + gamma_b' z_i)``. The process ``"dropout"`` (coefficients
    ``"dropout:<column>"``) is CLVTools' ``bgnbd`` with static covariates, whose one life vector
    scales a and b alike: it changes the concentration ``a + b`` of the Beta distribution but
    never its mean ``a / (a + b)``. The processes ``"dropout_a"`` and ``"dropout_b"``
    (``"dropout_a:<column>"``, ``"dropout_b:<column>"``) move a and b separately, as
    pymc-marketing's ``BetaGeoModel`` (``dropout_coefficient_a``, ``dropout_coefficient_b``),
    so that the mean dropout probability depends on the covariates too. A plain list of
    covariates goes to ``"purchase"`` and ``"dropout"`` (CLVTools' model). With both a and b
    free, a group of customers whose dropout probabilities look alike sends its ``a, b`` to
    infinity at a fixed ratio (a boundary: the fit then does not converge); ``"dropout_a"``
    alone (b common) is the smaller model that still shifts the mean.

The signs follow CLVTools and pymc-marketing, so coefficients of the same covariate coding are
comparable with theirs. Both also use the covariates as given, whereas here:

- numeric covariates are standardised by the library (``(value - mean) / sd`` over the fitting
  customers; mean and sd are recorded in the model and reused for predictions), so a
  coefficient is the effect of one standard deviation and a ``Normal(0, 1)`` prior on it is
  weakly informative whatever the unit;
- categorical covariates (declared with ``categorical=``: a list, or ``{column: reference
  level}``) are dummy-coded against a named reference level (by default the smallest level),
  one 0/1 column per other level, coefficient ``"<process>:<column>[<level>]"``. A 0/1 column
  declared categorical with reference 0 therefore has CLVTools' coefficient.

Without covariates a model is exactly the plain model: the formulas receive the same scalars.

References
----------
Fader, P. S. & Hardie, B. G. S. (2007). Incorporating time-invariant covariates into the
Pareto/NBD and BG/NBD models. http://brucehardie.com/notes/019/
Bachmann, P., Meierer, M. & Naef, J. (2021). The role of time-varying contextual factors in
latent attrition models for customer base analysis. Marketing Science 40(4), 783-809 (CLVTools).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .params import unpack

__all__ = ["CovariateSpec", "customer_params", "coefficient_name", "link_gradient"]


def coefficient_name(process: str, feature: str) -> str:
    """``"<process>:<feature>"``, the name of a coefficient in ``params_``.

    Examples
    --------
    >>> coefficient_name("purchase", "Channel[1]")
    'purchase:Channel[1]'
    """
    return f"{process}:{feature}"


@dataclass
class CovariateSpec:
    """Which covariates enter which process, and how they are coded (learned by :meth:`learn`).

    Attributes
    ----------
    processes : dict
        Process (``"purchase"``, ``"dropout"`` or for BG/NBD ``"dropout_a"``, ``"dropout_b"``)
        -> covariate columns, in the model's link order.
    categorical : dict
        Column -> reference level (None: the smallest level, fixed by :meth:`learn`).
    numeric : dict
        Numeric column -> ``(mean, sd)`` used to standardise it.
    levels : dict
        Categorical column -> its levels, the reference first.

    Examples
    --------
    >>> from clvmodels.models.pareto_nbd import ParetoNBD
    >>> data = pd.DataFrame({"channel": ["web", "shop", "web", "app"], "age": [20.0, 30.0, 40.0, 50.0]})
    >>> spec = CovariateSpec.from_settings(ParetoNBD, ["age", "channel"], {"channel": "web"}).learn(data)
    >>> spec.coefficient_names()
    ['purchase:age', 'purchase:channel[app]', 'purchase:channel[shop]', 'dropout:age', 'dropout:channel[app]', 'dropout:channel[shop]']
    >>> spec.matrix(data, ("age", "channel")).round(3)
    array([[-1.342,  0.   ,  0.   ],
           [-0.447,  0.   ,  1.   ],
           [ 0.447,  0.   ,  0.   ],
           [ 1.342,  1.   ,  0.   ]])
    """

    processes: dict[str, tuple[str, ...]]
    categorical: dict[str, Any] = field(default_factory=dict)
    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    levels: dict[str, list[Any]] = field(default_factory=dict)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, model_type: type, covariates: Any, categorical: Any = None) -> CovariateSpec | None:
        """The spec of a model's ``covariates`` and ``categorical`` settings (None without covariates).

        Examples
        --------
        >>> from clvmodels.models.beta_geo import BetaGeo
        >>> CovariateSpec.from_settings(BetaGeo, ["age"]).processes
        {'purchase': ('age',), 'dropout': ('age',), 'dropout_a': (), 'dropout_b': ()}
        >>> CovariateSpec.from_settings(BetaGeo, {"purchases": ["age"]})
        Traceback (most recent call last):
        ...
        ValueError: covariates has unknown process 'purchases'; BetaGeo takes 'purchase', 'dropout', 'dropout_a', 'dropout_b'.
        """
        name = model_type.__name__
        links = getattr(model_type, "covariate_links", {}) or {}
        if not covariates and not categorical:
            return None
        if not links:
            raise ValueError(
                f"{name} does not take covariates (covariates={covariates!r}); the models that do are "
                "BetaGeo and ParetoNBD (supports_covariates = True). Fit without covariates, or compare "
                "segments with Forecast.summary(by=...)."
            )
        processes: dict[str, list[str]] = {p: [] for p in links}
        if covariates is None:
            covariates = []
        if isinstance(covariates, str):
            covariates = [covariates]
        if isinstance(covariates, Mapping):
            items = covariates.items()
        elif isinstance(covariates, Sequence):
            items = [(p, covariates) for p in ("purchase", "dropout")]
        else:
            raise TypeError(
                f"covariates must be a list of columns or a dict process -> columns; got {type(covariates).__name__}."
            )
        for process, columns in items:
            targets = (process,)
            if process not in links:
                raise ValueError(
                    f"covariates has unknown process {process!r}; {name} takes "
                    f"{', '.join(repr(p) for p in links)}."
                )
            if isinstance(columns, str):
                columns = [columns]
            for target in targets:
                for column in columns:
                    if not isinstance(column, str):
                        raise TypeError(f"covariate column names must be strings; got {column!r}.")
                    if column not in processes[target]:
                        processes[target].append(column)
        if isinstance(categorical, str):
            categorical = [categorical]
        if categorical is None:
            cat: dict[str, Any] = {}
        elif isinstance(categorical, Mapping):
            cat = dict(categorical)
        else:
            cat = {c: None for c in categorical}
        used = {c for cols in processes.values() for c in cols}
        stray = sorted(set(cat) - used)
        if stray:
            raise ValueError(
                f"categorical names {stray}, which are not covariates of any process; covariates: {sorted(used)}."
            )
        if not used:
            return None
        return cls({p: tuple(c) for p, c in processes.items()}, cat)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every covariate column, each once, in order of first use."""
        seen: list[str] = []
        for cols in self.processes.values():
            seen.extend(c for c in cols if c not in seen)
        return tuple(seen)

    def learn(self, data: pd.DataFrame, model_type: type | None = None) -> CovariateSpec:
        """The spec with the standardisation and the levels learned from ``data``, after the
        checks: every column present, no missing value, non-numeric columns declared
        categorical, no constant covariate, no perfectly collinear covariates (given the
        ``model_type``'s links: which parameters each process moves).

        Examples
        --------
        >>> from clvmodels.models.pareto_nbd import ParetoNBD
        >>> data = pd.DataFrame({"age": [20.0, 30.0, 30.0], "region": ["N", "S", "S"]})
        >>> CovariateSpec.from_settings(ParetoNBD, ["age", "region"]).learn(data)
        Traceback (most recent call last):
        ...
        ValueError: covariate column 'region' is not numeric (values such as 'N'); declare it categorical=['region'] (dummy-coded against a reference level) or convert it to numbers.
        """
        return self.learn_designs(data, model_type)[0]

    def learn_designs(self, data: pd.DataFrame, model_type: type | None = None) -> tuple[CovariateSpec, dict[str, np.ndarray]]:
        """:meth:`learn`, and the designs of ``data`` (:meth:`designs`), computed once for the checks."""
        if not isinstance(data, pd.DataFrame):
            raise TypeError("a model with covariates needs a DataFrame holding the covariate columns.")
        numeric: dict[str, tuple[float, float]] = {}
        levels: dict[str, list[Any]] = {}
        categorical = dict(self.categorical)
        for column in self.columns:
            values = _column(data, column)
            if column in categorical:
                observed = pd.unique(values)
                try:
                    observed = sorted(observed)
                except TypeError:
                    observed = sorted(observed, key=str)
                reference = categorical[column]
                if reference is None:
                    reference = observed[0]
                elif reference not in observed:
                    raise ValueError(
                        f"categorical covariate {column!r}: the reference level {reference!r} does not occur; "
                        f"its levels are {list(observed)}."
                    )
                if len(observed) < 2:
                    raise ValueError(
                        f"covariate {column!r} is constant (every customer has {observed[0]!r}): it cannot be "
                        "told apart from the base parameters. Drop it from covariates."
                    )
                categorical[column] = _plain(reference)
                levels[column] = [_plain(reference)] + [_plain(v) for v in observed if v != reference]
            else:
                if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
                    example = values.iloc[0] if len(values) else None
                    raise ValueError(
                        f"covariate column {column!r} is not numeric (values such as {example!r}); declare it "
                        f"categorical=[{column!r}] (dummy-coded against a reference level) or convert it to numbers."
                    )
                arr = values.to_numpy(dtype=np.float64)
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"covariate column {column!r} has infinite values; give finite numbers.")
                sd = float(arr.std())
                if not sd > 1e-12 * max(1.0, float(np.abs(arr).max())):
                    raise ValueError(
                        f"covariate {column!r} is constant (every customer has {arr[0]!r}): it cannot be told "
                        "apart from the base parameters. Drop it from covariates."
                    )
                numeric[column] = (float(arr.mean()), sd)
        spec = CovariateSpec(dict(self.processes), categorical, numeric, levels)
        designs = spec.designs(data)
        spec._check_collinear(designs, len(data), getattr(model_type, "covariate_links", {}) if model_type is not None else None)
        return spec, designs

    def _check_collinear(self, designs: Mapping[str, np.ndarray], n_rows: int, links: Mapping[str, Any] | None) -> None:
        """The coefficients are identified: no coefficient's effect on the customers' parameters
        (through every parameter its process moves, beside the base parameters' own intercepts)
        is a linear combination of the others'."""
        if not links:
            links = {p: ((p, 1.0),) for p in self.processes}
        names = self.coefficient_names()
        offsets, start = {}, 0
        for process in self.processes:
            offsets[process] = start
            start += designs[process].shape[1]
        targets = sorted({t for p in self.processes for t, _ in links[p] if self.processes[p]})
        n_int, n = len(targets), max(n_rows, 1)
        gram = np.zeros((n_int + start, n_int + start))
        for i, target in enumerate(targets):
            # the target's own intercept and the designs of the processes that move it
            moving = [p for p, columns in self.processes.items() if columns and any(t == target for t, _ in links[p])]
            index = np.r_[i, np.concatenate([n_int + offsets[p] + np.arange(designs[p].shape[1]) for p in moving])]
            block = np.column_stack([np.ones(n_rows), *(designs[p] for p in moving)])
            gram[np.ix_(index, index)] += block.T @ block / n
        kept = list(range(n_int))
        for j in range(n_int, n_int + start):
            trial = kept + [j]
            eig = np.linalg.eigvalsh(gram[np.ix_(trial, trial)])
            if eig.min() <= 1e-10 * max(1.0, eig.max()):
                # which of the kept columns it depends on (solved within the Gram matrix)
                coef = np.linalg.solve(gram[np.ix_(kept, kept)], gram[kept, j])
                partners = [names[k - n_int] for k, c in zip(kept, coef) if k >= n_int and abs(c) > 1e-8]
                what = f"{names[j - n_int]!r} and {partners}" if partners else f"{names[j - n_int]!r} and the intercept"
                raise ValueError(
                    f"covariates are perfectly collinear: {what} (one is a linear combination of the others, "
                    "so their coefficients are not identified). Drop one of them (or merge the categories)."
                )
            kept.append(j)

    # -- the design matrix ------------------------------------------------------------------------

    def features(self, columns: Sequence[str]) -> list[str]:
        """The design columns of ``columns``: the name of a numeric column, ``column[level]`` per
        non-reference level of a categorical one."""
        out: list[str] = []
        for column in columns:
            if column in self.levels:
                out.extend(f"{column}[{level}]" for level in self.levels[column][1:])
            else:
                out.append(column)
        return out

    def coefficient_names(self) -> list[str]:
        """The coefficients' names, process by process in the model's link order."""
        return [coefficient_name(p, f) for p, cols in self.processes.items() for f in self.features(cols)]

    def matrix(self, data: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
        """The ``(N, K)`` design of ``columns``: numeric standardised, categorical dummy-coded."""
        blocks = []
        n = len(data)
        for column in columns:
            values = _column(data, column)
            if column in self.levels:
                levels = self.levels[column]
                codes = pd.Index(levels).get_indexer(values)
                if np.any(codes < 0):
                    unknown = sorted({str(v) for v in values[codes < 0]})[:5]
                    raise ValueError(
                        f"categorical covariate {column!r} has level(s) {unknown} that the model was not fitted "
                        f"on; its levels are {levels}. Map them to a known level or refit."
                    )
                dummies = np.zeros((n, len(levels) - 1))
                rows = np.flatnonzero(codes > 0)
                dummies[rows, codes[rows] - 1] = 1.0
                blocks.append(dummies)
            else:
                if column not in self.numeric:
                    raise ValueError(f"covariate {column!r} has no recorded standardisation; fit the model first.")
                mean, sd = self.numeric[column]
                if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
                    raise ValueError(f"covariate column {column!r} is not numeric; the model was fitted on numbers.")
                blocks.append(((values.to_numpy(dtype=np.float64) - mean) / sd)[:, None])
        return np.hstack(blocks) if blocks else np.zeros((n, 0))

    def designs(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """Process -> ``(N, K_process)`` design (each column coded once, whatever the processes
        that use it)."""
        blocks = {c: self.matrix(data, (c,)) for c in self.columns}
        n = len(data)
        return {p: (np.hstack([blocks[c] for c in cols]) if cols else np.zeros((n, 0))) for p, cols in self.processes.items()}

    def n_coefficients(self) -> int:
        return len(self.coefficient_names())

    # -- model files ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (model files).

        Examples
        --------
        >>> spec = CovariateSpec({"purchase": ("age",), "dropout": ()}, {}, {"age": (30.0, 8.0)}, {})
        >>> CovariateSpec.from_dict(spec.to_dict()) == spec
        True
        """
        return {
            "processes": {p: list(c) for p, c in self.processes.items()},
            "categorical": [[c, _plain(r)] for c, r in self.categorical.items()],
            "numeric": {c: [m, s] for c, (m, s) in self.numeric.items()},
            "levels": [[c, [_plain(v) for v in lv]] for c, lv in self.levels.items()],
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> CovariateSpec:
        return cls(
            {p: tuple(c) for p, c in spec["processes"].items()},
            {c: r for c, r in spec.get("categorical", [])},
            {c: (float(m), float(s)) for c, (m, s) in spec.get("numeric", {}).items()},
            {c: list(lv) for c, lv in spec.get("levels", [])},
        )


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (for JSON and for comparisons after a round trip)."""
    return value.item() if isinstance(value, np.generic) else value


def _column(data: pd.DataFrame, column: str) -> pd.Series:
    if column not in data.columns:
        raise ValueError(
            f"covariate column {column!r} is not in the data; columns: {list(data.columns)}. Join the customer "
            "attribute table to the summary (one row per customer) before fitting or predicting."
        )
    values = data[column]
    missing = values.isna()
    if missing.any():
        where = list(data.index[missing.to_numpy()][:5])
        raise ValueError(
            f"covariate column {column!r} has {int(missing.sum())} missing value(s) (customers {where}...); fill "
            "them (for a category, e.g. an 'unknown' level) or drop those customers."
        )
    return values


# -- links ----------------------------------------------------------------------------------------


def _coefficients(params: Any, names: Sequence[str]) -> np.ndarray:
    """Coefficient values: ``(K,)`` for a point estimate, ``(S, K)`` for a DataFrame of draws."""
    if isinstance(params, pd.DataFrame):
        return params[list(names)].to_numpy(dtype=np.float64)
    return np.array([float(params[n]) for n in names], dtype=np.float64)


def customer_params(
    model_type: type, spec: CovariateSpec | None, params: Any, designs: Mapping[str, np.ndarray] | None
) -> dict[str, Any]:
    """Each customer's base parameters from the base parameters, coefficients and designs.

    Without covariates (``spec`` None): the values the formulas unpack today (floats for a point
    estimate, ``(S, 1)`` columns for draws). With covariates: ``(N,)`` arrays for a point
    estimate, ``(S, N)`` for draws; parameters without a link stay as without covariates.

    Examples
    --------
    >>> from clvmodels.models.pareto_nbd import ParetoNBD
    >>> spec = CovariateSpec({"purchase": ("z",), "dropout": ()}, {}, {"z": (0.0, 1.0)}, {})
    >>> params = {"r": 0.5, "alpha": 10.0, "s": 0.6, "beta": 12.0, "purchase:z": np.log(2.0)}
    >>> out = customer_params(ParetoNBD, spec, params, {"purchase": np.array([[0.0], [1.0]]), "dropout": np.zeros((2, 0))})
    >>> out["alpha"].round(3).tolist(), out["beta"]
    ([10.0, 5.0], 12.0)
    """
    base_names = tuple(model_type.param_names)
    base = dict(zip(base_names, unpack(params, base_names)))
    if spec is None:
        return base
    eta: dict[str, Any] = {}
    for process, targets in model_type.covariate_links.items():
        columns = spec.processes.get(process, ())
        if not columns:
            continue
        names = [coefficient_name(process, f) for f in spec.features(columns)]
        coef = _coefficients(params, names)
        linear = coef @ designs[process].T  # (N,) or (S, N)
        for target, sign in targets:
            term = sign * linear
            eta[target] = eta[target] + term if target in eta else term
    for target, value in eta.items():
        base[target] = base[target] * np.exp(value)
    return base


def link_gradient(
    model_type: type,
    spec: CovariateSpec,
    base: np.ndarray,
    coef: np.ndarray,
    designs: Mapping[str, np.ndarray],
    per_customer_grad: Sequence[np.ndarray],
    values: Sequence[np.ndarray],
) -> np.ndarray:
    """Gradient of a weighted total with respect to ``(log base parameters, coefficients)``
    from its derivatives with respect to each customer's parameters (chain rule through the links).

    ``per_customer_grad[k][i]`` is ``d total / d theta_k,i`` and ``values[k][i]`` is
    ``theta_k,i``: ``d / d log theta0_k = sum_i g_ki theta_ki`` and
    ``d / d gamma_p = sign_p Z_p' (g_ki theta_ki)`` for the parameter ``k`` of process ``p``.
    """
    base_names = tuple(model_type.param_names)
    out = np.empty(len(base) + len(coef))
    scaled = [np.asarray(g) * np.asarray(v) for g, v in zip(per_customer_grad, values)]
    for k in range(len(base_names)):
        out[k] = float(np.sum(scaled[k]))
    start = len(base_names)
    for process, targets in model_type.covariate_links.items():
        columns = spec.processes.get(process, ())
        if not columns:
            continue
        z = designs[process]
        total = sum(sign * scaled[base_names.index(target)] for target, sign in targets)
        out[start : start + z.shape[1]] = total @ z
        start += z.shape[1]
    return out


# -- fitting --------------------------------------------------------------------------------------


#: a numeric covariate with more distinct values than this share of the customers is continuous
CONTINUOUS_SHARE = 0.5


def pattern_designs(spec: CovariateSpec, data: pd.DataFrame, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray,
                    row_weights: np.ndarray | None = None, designs: Mapping[str, np.ndarray] | None = None,
                    ) -> tuple[tuple[np.ndarray, ...], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The distinct ``(frequency, recency, T, covariate row)`` patterns of ``data``:
    ``(patterns, designs, weights, inverse)``, ``designs`` being each process's design per
    pattern; with ``row_weights`` (``sample_weight``) the patterns are weighted by them, those of
    weight 0 dropped (their rows' ``inverse`` is -1).

    A numeric covariate with more distinct values than :data:`CONTINUOUS_SHARE` of the
    customers (a continuous one) makes nearly every customer a pattern of its own: the rows are
    then the patterns, without the search for duplicates, which would cost more than it saves."""
    from ..data import compress_patterns

    designs = spec.designs(data) if designs is None else designs
    n = len(frequency)
    continuous = any(len(pd.unique(data[c].to_numpy())) > CONTINUOUS_SHARE * n for c in spec.numeric)
    if continuous:
        weights = np.ones(n) if row_weights is None else np.asarray(row_weights, dtype=np.float64)
        keep = weights > 0
        inverse = np.where(keep, np.cumsum(keep) - 1, -1)
        patterns = tuple(np.asarray(v, dtype=np.float64)[keep] for v in (frequency, recency, T))
        return patterns, {p: np.ascontiguousarray(d[keep]) for p, d in designs.items()}, weights[keep], inverse
    stacked = np.hstack([designs[p] for p in spec.processes])
    uniques, weights, inverse = compress_patterns(frequency, recency, T, *stacked.T)
    first = np.empty(len(weights), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]
    if row_weights is not None:
        weights = np.bincount(inverse, weights=row_weights, minlength=len(weights))
        keep = weights > 0
        remap = np.cumsum(keep) - 1
        inverse = np.where(keep[inverse], remap[inverse], -1)
        first, weights = first[keep], weights[keep]
    else:
        keep = slice(None)
    patterns = tuple(np.asarray(u, dtype=np.float64)[keep] for u in uniques[:3])
    pattern_design = {p: np.ascontiguousarray(designs[p][first]) for p in spec.processes}
    return patterns, pattern_design, np.asarray(weights, dtype=np.float64), inverse


class LinkedLoglik:
    """The total log-likelihood of a model with covariates over weighted patterns, with its
    gradient and exact Hessian in ``u = (log base parameters, coefficients)``, for Newton's
    method (:func:`clvmodels.inference.mle.maximize_newton`).

    The links are linear in the log-parameters: ``ln theta_i = u_base + A_i gamma``, so the
    gradient is ``sum_i A_i' g_i`` and the Hessian ``sum_i A_i' H_i A_i`` exactly, ``g_i, H_i``
    being the derivatives of customer i's log-likelihood in its own log-parameters. The
    model module computes them by ``loglik_linked(u, targets, signs, Z, x, t_x, T, w, lo, hi,
    hessian, grad, hess)`` (BG/NBD: a compiled kernel): coefficient ``j`` (column ``j`` of
    ``Z``, the designs side by side in the order of the coefficients' names) moves the
    log-parameters ``targets[j, 0:2]`` (-1: none) with the signs ``signs[j, 0:2]``. The rows
    are cut into chunks of :attr:`CHUNK` that run on ``n_jobs`` threads; the chunks' sums are
    added in order, so the result does not depend on the number of threads.

    Examples
    --------
    >>> from clvmodels.models.beta_geo import BetaGeo, loglik
    >>> spec = CovariateSpec({"purchase": ("z",), "dropout": (), "dropout_a": (), "dropout_b": ()}, {}, {"z": (0.0, 1.0)}, {})
    >>> patterns = (np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 38.86]))
    >>> designs = {"purchase": np.array([[1.0], [-1.0]]), "dropout": np.zeros((2, 0)),
    ...            "dropout_a": np.zeros((2, 0)), "dropout_b": np.zeros((2, 0))}
    >>> value, grad, hess = LinkedLoglik(BetaGeo, spec, patterns, designs, np.ones(2))(np.r_[np.log([0.243, 4.414, 0.793, 2.426]), 0.0])
    >>> round(value, 4), grad.shape, hess.shape, bool(np.allclose(hess, hess.T))
    (-10.0133, (5,), (5, 5), True)
    """

    CHUNK = 1 << 15

    def __init__(self, model_type: type, spec: CovariateSpec, patterns: tuple[np.ndarray, ...], designs: Mapping[str, np.ndarray],
                 weights: np.ndarray, n_jobs: int | None = None) -> None:
        import os

        self.kernel = model_type.formulas.loglik_linked
        names = list(model_type.param_names)
        blocks, targets, signs = [], [], []
        for process, columns in spec.processes.items():
            if not columns:
                continue
            links = model_type.covariate_links[process]
            z = np.asarray(designs[process], dtype=np.float64)
            blocks.append(z)
            for _ in range(z.shape[1]):
                targets.append([names.index(t) for t, _ in links] + [-1] * (2 - len(links)))
                signs.append([float(sign) for _, sign in links] + [0.0] * (2 - len(links)))
        self.n = len(weights)
        self.Z = np.ascontiguousarray(np.hstack(blocks) if blocks else np.zeros((self.n, 0)))
        self.targets = np.asarray(targets, dtype=np.int64).reshape(-1, 2)
        self.signs = np.asarray(signs, dtype=np.float64).reshape(-1, 2)
        self.columns = tuple(np.ascontiguousarray(p, dtype=np.float64) for p in patterns)
        self.w = np.ascontiguousarray(weights, dtype=np.float64)
        self.dim = len(names) + self.Z.shape[1]
        self.starts = list(range(0, self.n, self.CHUNK)) or [0]
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.n_jobs = max(1, min(n_jobs or usable, len(self.starts)))

    def __call__(self, u: np.ndarray, hessian: bool = True) -> tuple[float, np.ndarray, np.ndarray | None]:
        u = np.ascontiguousarray(u, dtype=np.float64)
        n_chunks = len(self.starts)
        values = np.zeros(n_chunks)
        grads = np.zeros((n_chunks, self.dim))
        hessians = np.zeros((n_chunks, self.dim, self.dim)) if hessian else np.zeros((n_chunks, 1, 1))

        def run(c: int) -> None:
            lo = self.starts[c]
            hi = min(lo + self.CHUNK, self.n)
            values[c] = self.kernel(u, self.targets, self.signs, self.Z, *self.columns, self.w, lo, hi, hessian, grads[c], hessians[c])

        if self.n_jobs == 1:
            for c in range(n_chunks):
                run(c)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
                list(pool.map(run, range(n_chunks)))
        # in chunk order, whatever the threads
        value, grad = float(np.sum(values)), np.sum(grads, axis=0)
        if not hessian:
            return value, grad, None
        upper = np.sum(hessians, axis=0)
        return value, grad, np.triu(upper) + np.triu(upper, 1).T


#: above this many patterns, a fit starts from the fit of this many of them
WARM_START_ABOVE = 50_000

#: Normal(0, sigma) is the default prior of every covariate coefficient (standardised covariates)
COEFFICIENT_PRIOR_SIGMA = 1.0


def fit_with_covariates(model: Any, spec: CovariateSpec, data: pd.DataFrame, method: str, sample_weight: Any = None) -> Any:
    """Fit a model with covariates by ``method``; returns the :class:`FitResult` it stores.

    Maximum likelihood: the plain model is fitted first (its fast objective) and its estimate,
    with every coefficient at 0, starts the optimiser over ``(log base parameters,
    coefficients)`` (:func:`clvmodels.inference.autodiff.covariate_objective`); above
    :data:`WARM_START_ABOVE` patterns both run first on a fixed random subset of the patterns.
    The standard errors come from the Hessian as for the plain models. ``penalty`` applies to
    the base parameters. The Bayesian methods: :func:`clvmodels.inference.bayes.fit_covariates`.
    """
    from ..data import validate_summary
    from .base import _weights_of

    spec, all_designs = spec.learn_designs(data, type(model))
    s = validate_summary(data)
    row_weights = _weights_of(data, sample_weight)
    patterns, designs, weights, inverse = pattern_designs(spec, data, s.frequency, s.recency, s.T, row_weights, all_designs)
    if method != "mle":
        from ..inference import bayes

        if method not in bayes.METHODS:
            raise ValueError(f"method={method!r}; use 'mle' (maximum likelihood), 'nuts', 'advi' or 'map'.")
        observed = pd.DataFrame({"frequency": s.frequency, "recency": s.recency, "T": s.T}, index=s.index)
        return bayes.fit_covariates(model, method, spec, patterns, designs, weights, inverse, observed)
    result, restricted = maximize_with_covariates(type(model), spec, patterns, designs, weights, model._check_penalty())
    if np.isfinite(restricted):
        result.extra["restricted_loglik_"] = restricted
    return result


def maximize_with_covariates(model_type: type, spec: CovariateSpec, patterns: tuple[np.ndarray, ...],
                             designs: dict[str, np.ndarray], weights: np.ndarray, penalty: float = 0.0,
                             objective: Any = None, starts: Any = None) -> tuple[Any, float]:
    """Maximum likelihood of a covariate model over weighted patterns; ``(FitResult, loglik of
    the plain model at its own maximum)``. ``objective(u)`` (default: the model's) may be a
    log-posterior in the working coordinates, for the MAP fit."""
    import warnings

    from ..data import compress_patterns
    from ..exceptions import ConvergenceWarning
    from ..inference.autodiff import covariate_objective
    from ..inference.mle import maximize_loglik, maximize_newton, single_threaded_blas
    from ..inference.result import FitResult
    from .base import _maximize

    k = len(model_type.param_names)
    n_coef = spec.n_coefficients()
    n_obs = float(weights.sum())
    newton = objective is None and starts is None and hasattr(model_type.formulas, "loglik_linked")
    warm = objective is None and starts is None and len(weights) > WARM_START_ABOVE
    if warm:
        # many patterns: the start is the fit of a fixed random subset of them (its weights
        # scaled to the total), so that the full data take only the last few steps
        pick = np.sort(np.random.default_rng(0).choice(len(weights), WARM_START_ABOVE, replace=False))
        start_patterns = tuple(p[pick] for p in patterns)
        start_designs = {p: d[pick] for p, d in designs.items()}
        start_weights = weights[pick] * (n_obs / float(weights[pick].sum()))
    else:
        start_patterns, start_designs, start_weights = patterns, designs, weights
    # the plain model: the start, and (on the full data) the restricted fit of the LR test;
    # with Newton's method the plain fit on the full data costs less than the steps it saves
    plain_on = patterns if newton else start_patterns
    plain_patterns, _, plain_inverse = compress_patterns(*plain_on)
    plain_weights = np.bincount(plain_inverse, weights=weights if newton else start_weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = _maximize(model_type, 0.0, tuple(np.asarray(p, dtype=np.float64) for p in plain_patterns), plain_weights)
    restricted = float(plain.loglik) if (newton or not warm) else float("nan")

    def penalised(loglik_u: Any) -> Any:
        def loglik_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            # the optimiser works on u = log(theta): the coefficients enter as theta = exp(gamma)
            u = np.log(theta)
            value, grad_u = loglik_u(u)
            if penalty:
                base = theta[:k]
                value -= n_obs * penalty * float(np.sum(base**2))
                grad_u = grad_u.copy()
                grad_u[:k] -= 2.0 * n_obs * penalty * base**2
            return value, grad_u / theta

        return loglik_and_grad

    base_start = np.asarray(plain.params, dtype=np.float64)
    if not np.all(np.isfinite(base_start)) or not np.all(base_start > 0):
        base_start = np.asarray(model_type._starts(0.1)[0] if hasattr(model_type, "_starts") else np.ones(k))
    tries = [tuple(np.exp(np.r_[np.log(base_start), np.zeros(n_coef)]))] if starts is None else starts
    found = None
    with single_threaded_blas():
        if newton:
            # Newton's method with the exact Hessian (LinkedLoglik): from the plain fit with
            # every coefficient at 0 on the subset, then a few steps on all the patterns
            u = np.r_[np.log(base_start), np.zeros(n_coef)]
            if warm:
                first = maximize_newton(LinkedLoglik(model_type, spec, start_patterns, start_designs, start_weights), u,
                                        n_obs=n_obs, penalty=penalty, n_penalised=k, gtol=1e-7)
                if first is not None:
                    u = np.log(first.params)
            found = maximize_newton(LinkedLoglik(model_type, spec, patterns, designs, weights), u,
                                    n_obs=n_obs, penalty=penalty, n_penalised=k)
            if found is None:
                tries = [tuple(np.exp(u)), *tries]
        if found is None:
            if warm:
                first = maximize_loglik(penalised(covariate_objective(model_type, spec, start_patterns, start_designs, start_weights)),
                                        tries, n_obs=n_obs, polish=False)
                if np.all(np.isfinite(first.params)):
                    tries = [tuple(first.params), *tries]
            loglik_u = objective if objective is not None else covariate_objective(model_type, spec, patterns, designs, weights)
            found = maximize_loglik(penalised(loglik_u), tries, n_obs=n_obs)
    # both optimisers report exp(u); the coordinates u hold the coefficients themselves
    u = np.log(found.params)
    params = np.r_[found.params[:k], u[k:]]
    jac = np.r_[params[:k], np.ones(n_coef)]
    cov_log = found.covariance_log
    covariance = jac[:, None] * cov_log * jac[None, :]
    if found.diagnostics.get("method", "").startswith("Newton"):
        loglik = float(found.loglik)  # unpenalised
    else:  # the optimiser saw the penalised (or posterior) objective: the log-likelihood itself
        loglik = float(covariate_objective(model_type, spec, patterns, designs, weights)(u)[0])
    result = FitResult(
        method="mle",
        params=params,
        covariance=(covariance + covariance.T) / 2.0,
        covariance_log=cov_log,
        loglik=loglik,
        converged=bool(found.converged),
        n_customers=int(round(n_obs)),
        patterns=patterns,
        weights=weights,
        optimizer=found.diagnostics,
        extra={"covariates_": spec, "_pattern_designs_": designs},
    )
    if not result.converged:
        warnings.warn(
            f"{model_type.__name__} with covariates: maximum likelihood did not converge: "
            f"{'; '.join(found.diagnostics.get('problems', [])) or found.diagnostics.get('message')}. "
            "Check for covariates that separate customers who never return, or use fewer covariates.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return result, restricted
