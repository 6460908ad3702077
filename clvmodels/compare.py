"""Which transaction model fits the data: one table of fit criteria and holdout accuracy.

:func:`compare_models` takes models fitted on the calibration part of a
:func:`~clvmodels.calibration_holdout_split` and puts, side by side, what each says about its
own fit and how each forecasts the holdout:

- maximum-likelihood fits: the log-likelihood, the number of parameters, AIC and BIC (smaller
  is better; BIC's penalty grows with the number of customers);
- Bayesian fits with a per-customer log-likelihood in ``idata_``: Pareto-smoothed
  leave-one-out cross-validation (``elpd_loo``, larger is better, with its standard error),
  through ArviZ; for fits on a pattern table the pointwise terms are per pattern and weighted;
- every fit: the holdout metrics of :func:`~clvmodels.evaluate_holdout` (actual against
  predicted total with its interval, relative error, MAE, the PIT's p-value and whether the
  model passes its holdout).

The holdout speaks for the forecast the business will use; the criteria speak for the fit to
the calibration data. When they disagree, trust the holdout.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import StatisticalWarning
from .validation import HoldoutReport, evaluate_holdout

__all__ = ["ModelComparison", "LRTest", "compare_models", "fit_criteria", "lr_test", "SELECTION_RULES"]

#: how :meth:`ModelComparison.best` ranks the models
SELECTION_RULES = ("holdout", "bic", "aic", "loo")


@dataclass(frozen=True)
class ModelComparison:
    """What :func:`compare_models` returns.

    Attributes
    ----------
    table : DataFrame
        One row per model (indexed by the given names): ``model`` (display name), ``key``,
        ``method``, ``n_params``, ``n_customers``, ``loglik``, ``aic``, ``bic`` (maximum
        likelihood and MAP fits), ``elpd_loo``, ``elpd_loo_se``, ``p_loo`` (posterior fits with a
        log-likelihood group), and the holdout columns ``actual_total``, ``predicted_total``,
        ``total_lower``, ``total_upper``, ``relative_error``, ``mae``, ``rmse``, ``coverage``,
        ``pit_p_value``, ``holdout_passed``; where a model nests another of the table (the same
        model with fewer covariates, both maximum likelihood) the likelihood-ratio test against
        the largest such one: ``lr_against``, ``lr_statistic``, ``lr_df``, ``lr_p_value``
        (:func:`lr_test`).
    reports : dict
        Name -> :class:`~clvmodels.HoldoutReport` of each model.
    models : dict
        Name -> the fitted model.
    """

    table: pd.DataFrame
    reports: dict[str, HoldoutReport]
    models: dict[str, Any]

    def best(self, rule: str = "holdout") -> str:
        """The name of the best model by ``rule``.

        ``"holdout"``: among the models that pass their holdout (all of them when none does),
        the smallest absolute relative error of the holdout total, then the smallest MAE.
        ``"bic"``, ``"aic"``: the smallest criterion (maximum-likelihood fits). ``"loo"``: the
        largest ``elpd_loo`` (posterior fits).

        Examples
        --------
        >>> comparison.best("bic")  # doctest: +SKIP
        'bgnbd'
        """
        table = self.table
        if rule == "holdout":
            candidates = table[table["holdout_passed"]] if table["holdout_passed"].any() else table
            order = candidates.assign(_abs=candidates["relative_error"].abs()).sort_values(["_abs", "mae"])
            return str(order.index[0])
        if rule in ("bic", "aic"):
            column = table[rule].dropna()
            if column.empty:
                raise ValueError(f"rule={rule!r} needs maximum-likelihood fits; these models have no {rule.upper()}.")
            return str(column.idxmin())
        if rule == "loo":
            column = table.get("elpd_loo", pd.Series(dtype=float)).dropna()
            if column.empty:
                raise ValueError("rule='loo' needs posterior fits (method='nuts' or 'advi') with a log-likelihood group.")
            return str(column.idxmax())
        raise ValueError(f"rule={rule!r}; use one of {SELECTION_RULES}.")

    def summary_text(self) -> str:
        """A few plain lines: which model forecasts the holdout best, and the others' errors."""
        best = self.best("holdout")
        lines = []
        for name, row in self.table.iterrows():
            verdict = "passes" if row["holdout_passed"] else "fails"
            mark = " (best on the holdout)" if name == best else ""
            criterion = f", BIC {row['bic']:,.1f}" if np.isfinite(row.get("bic", np.nan)) else ""
            lines.append(
                f"{row['model']}{mark}: holdout {row['predicted_total']:,.0f} expected vs "
                f"{row['actual_total']:,.0f} actual ({row['relative_error']:+.1%}), {verdict} its holdout"
                f"{criterion}."
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        columns = [c for c in ("model", "loglik", "bic", "elpd_loo", "predicted_total", "actual_total", "relative_error", "holdout_passed") if c in self.table]
        return f"ModelComparison of {len(self.table)} models\n{self.table[columns].to_string()}\n{self.summary_text()}"

    def _repr_html_(self) -> str:
        return (
            "<p>" + "<br>".join(html.escape(line) for line in self.summary_text().splitlines()) + "</p>"
            + self.table.to_html(float_format=lambda v: f"{v:,.4g}")
        )


def _named(models: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(models, Mapping):
        named = dict(models)
    else:
        named = {}
        for model in models:
            key = getattr(type(model), "key", type(model).__name__)
            name, k = key, 2
            while name in named:  # the same model twice (say, with and without a penalty)
                name, k = f"{key}-{k}", k + 1
            named[name] = model
    if not named:
        raise ValueError("compare_models needs at least one fitted model.")
    from .models.registry import model_class

    for name, model in named.items():
        model_class(model, kind="transactions")  # a clear error for anything else
        model._check_fitted()
    return named


def _criteria(model: Any) -> dict[str, Any]:
    """A fitted model's row of fit criteria: AIC = 2k - 2 LL and BIC = k log(n) - 2 LL (n
    customers) for maximum-likelihood and MAP fits, NaN for posterior fits."""
    k, n, loglik = len(model.param_names), int(model.n_customers_), float(model.loglik_)
    point = model.method_ in ("mle", "map")
    return {
        "model": type(model).display_name,
        "key": type(model).key,
        "method": model.method_,
        "n_params": k,
        "n_customers": n,
        "loglik": loglik,
        "aic": 2 * k - 2 * loglik if point else np.nan,
        "bic": k * np.log(n) - 2 * loglik if point else np.nan,
    }


@dataclass(frozen=True)
class LRTest:
    """A likelihood-ratio test between nested maximum-likelihood fits (:func:`lr_test`).

    ``statistic = 2 (loglik_full - loglik_restricted)``, asymptotically chi-squared with ``df``
    (the number of coefficients the full model adds) degrees of freedom under the restricted
    model; ``p_value`` its upper tail.
    """

    statistic: float
    df: int
    p_value: float
    added: tuple[str, ...]


def _coefficients(model: Any) -> set[str]:
    return set(model.param_names) - set(type(model).param_names)


def _nested(restricted: Any, full: Any) -> str | None:
    """None when ``restricted`` is ``full`` with fewer covariates, else why not."""
    if type(restricted) is not type(full):
        return f"they are different models ({type(restricted).__name__}, {type(full).__name__})"
    if restricted.method_ != "mle" or full.method_ != "mle":
        return "the test compares maximum-likelihood fits (method='mle')"
    if int(restricted.n_customers_) != int(full.n_customers_):
        return f"they were fitted on different customers ({restricted.n_customers_:,} and {full.n_customers_:,})"
    small, large = _coefficients(restricted), _coefficients(full)
    if not small < large:
        return "the restricted model's covariate coefficients are not a proper subset of the full model's"
    return None


def lr_test(restricted: Any, full: Any) -> LRTest:
    """Likelihood-ratio test of a model against the same model with more covariates.

    Parameters
    ----------
    restricted, full : TransactionModel
        Maximum-likelihood fits of the same model on the same customers, the coefficients of
        ``restricted`` a proper subset of those of ``full`` (a model without covariates is
        nested in every covariate model of its kind).

    Returns
    -------
    LRTest
        ``statistic``, ``df``, ``p_value`` and the ``added`` coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> from clvmodels import ParetoNBD, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30", time_unit="W")
    >>> data["noise"] = np.random.default_rng(1).normal(size=len(data))
    >>> test = lr_test(ParetoNBD().fit(data), ParetoNBD(covariates={"purchase": ["noise"]}).fit(data))
    >>> test.df, test.added, bool(test.p_value > 0.01)
    (1, ('purchase:noise',), True)
    """
    from scipy import stats

    why = _nested(restricted, full)
    if why is not None:
        raise ValueError(f"lr_test needs nested fits: {why}.")
    statistic = 2.0 * (float(full.loglik_) - float(restricted.loglik_))
    df = len(full.param_names) - len(restricted.param_names)
    added = tuple(n for n in full.param_names if n not in set(restricted.param_names))
    return LRTest(statistic, df, float(stats.chi2.sf(max(statistic, 0.0), df)), added)


def _lr_columns(named: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each model nested over another of the table: the LR test against the largest such one."""
    out: dict[str, dict[str, Any]] = {}
    for name, full in named.items():
        candidates = [(len(m.param_names), other) for other, m in named.items() if other != name and _nested(m, full) is None]
        if not candidates:
            continue
        _, other = max(candidates)
        test = lr_test(named[other], full)
        out[name] = {"lr_against": other, "lr_statistic": test.statistic, "lr_df": test.df, "lr_p_value": test.p_value}
    return out


def fit_criteria(models: Sequence[Any] | Mapping[str, Any]) -> pd.DataFrame:
    """The fit-criteria columns of :func:`compare_models`'s table (``model, key, method, n_params,
    n_customers, loglik, aic, bic``), for fits without a holdout to score them on.

    Examples
    --------
    >>> from clvmodels import rfm_summary
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> from clvmodels.models import BetaGeo, ModifiedBetaGeo
    >>> data = rfm_summary(load_cdnow_sample(), time_unit="W")
    >>> table = fit_criteria({"bgnbd": BetaGeo().fit(data), "mbgnbd": ModifiedBetaGeo().fit(data)})
    >>> table[["n_params", "n_customers"]].values.tolist(), table["bic"].idxmin()
    ([[4, 2357], [4, 2357]], 'mbgnbd')
    """
    named = _named(models)
    rows = {name: _criteria(model) for name, model in named.items()}
    for name, columns in _lr_columns(named).items():
        rows[name].update(columns)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "name"
    return table


def _loo(model: Any) -> dict[str, float]:
    idata = getattr(model, "idata_", None)
    if idata is None or "log_likelihood" not in idata.groups():
        return {}
    pointwise = next(iter(idata.log_likelihood.data_vars.values()))
    if pointwise.shape[-1] != int(model.n_customers_):
        # fitted on a pattern table: the pointwise terms are per pattern, not per customer, and
        # leave-one-out over patterns is not leave-one-customer-out
        return {}
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own notes on Pareto k are in the result
        loo = az.loo(idata, pointwise=False)
    return {"elpd_loo": float(loo["elpd_loo"]), "elpd_loo_se": float(loo["se"]), "p_loo": float(loo["p_loo"])}


def compare_models(
    models: Sequence[Any] | Mapping[str, Any],
    data: pd.DataFrame,
    *,
    ci: float = 0.9,
    n_draws: int = 200,
    random_seed: int | None = None,
    warn: bool = True,
) -> ModelComparison:
    """Compare fitted transaction models on their fit and on a holdout period.

    Parameters
    ----------
    models : sequence or mapping of fitted transaction models
        Fitted on the calibration columns of ``data``. A mapping names them; a sequence is named
        by the models' keys (``"bgnbd"``, ``"pareto-nbd"``, ...).
    data : DataFrame
        As from :func:`clvmodels.calibration_holdout_split` (with ``frequency_holdout`` and
        ``duration_holdout``).
    ci : float
        Level of the holdout intervals.
    n_draws : int
        Parameter draws for the parameter uncertainty of the holdout intervals.
    random_seed : int, optional
        Seed of the holdout evaluation (its randomised PIT and draws); the same for every model.
    warn : bool
        Warn when no model passes its holdout (the table says it either way).

    Returns
    -------
    ModelComparison
        ``.table`` (one row per model), ``.best(rule)``, ``.reports``; prints a plain summary.

    Warns
    -----
    StatisticalWarning
        When no model passes its holdout: then none of them forecasts these data credibly.

    Examples
    --------
    >>> import warnings
    >>> from clvmodels import BetaGeo, calibration_holdout_split
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> from clvmodels.models import registered
    >>> data = calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                  time_unit="W")
    >>> fits = {key: cls().fit(data) for key, cls in registered("transactions", time_kind="continuous").items()}
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the models fail CDNOW's holdout: the table says so
    ...     comparison = compare_models(fits, data, random_seed=1)
    >>> int(comparison.table.loc["bgnbd", "n_params"]), round(float(comparison.table.loc["bgnbd", "loglik"]), 1)
    (4, -9582.4)
    """
    named = _named(models)
    rows, reports = {}, {}
    for name, model in named.items():
        report = evaluate_holdout(model, data, ci=ci, n_draws=n_draws, random_seed=random_seed, warn=False)
        reports[name] = report
        row = {**_criteria(model), **_loo(model)}
        m = report.metrics
        for column in ("actual_total", "predicted_total", "total_lower", "total_upper", "relative_error", "mae", "rmse", "coverage", "pit_p_value"):
            row[column] = float(m[column])
        row["holdout_passed"] = bool(report.passed)
        rows[name] = row
    for name, columns in _lr_columns(named).items():
        # a likelihood-ratio test where a model nests another of the table (same model, fewer covariates)
        rows[name].update(columns)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "name"
    comparison = ModelComparison(table, reports, named)
    if warn and not table["holdout_passed"].any():
        warnings.warn(
            "no model passes its holdout: none of them forecasts these data credibly. "
            + comparison.summary_text().replace("\n", " "),
            StatisticalWarning,
            stacklevel=2,
        )
    return comparison
