"""The protocol of contractual (retention) models: subscribers who renew period by period.

A retention model sees each subscriber as ``renewals`` (period boundaries survived, a whole
number >= 0) and ``churned`` (whether they cancelled, after those renewals), with the period as
the data's time unit (``attrs["time_unit"]``: ``"M"``, ``"Y"``, ...). A model module (the
reference is :mod:`clvmodels.models.shifted_beta_geo`) declares:

``key``, ``display_name``, ``param_names``, ``example_params``, ``default_priors(scale)``
    as for every model (``scale``: the mean number of periods observed, ``renewals + 1``).
``formulas``
    the module of pure broadcasting functions of ``(params, data)``:
    ``loglik(params, renewals, churned, *, ops=)`` (written once over numpy and PyTensor, so that
    maximum likelihood and the PyMC model use the same formula), ``survival(params, t)``,
    ``churn_probability(params, t)``, ``retention_rate(params, t)``,
    ``conditional_survival(params, t, renewals)``, ``derl(params, renewals, discount_rate,
    horizon)``, ``expected_residual_lifetime(params, renewals, horizon)``, ``simulate(params,
    periods, random_seed=)`` and ``simulate_residual(rng, (alpha, beta), renewals,
    discount_rate, horizon)`` (one simulated future per cell).
``_objective(patterns, weights)`` (optional)
    a hand-written maximum-likelihood objective; by default PyTensor derives the gradient from
    ``loglik`` (:mod:`clvmodels.inference.autodiff`).

Everything else comes from here: fitting (maximum likelihood with standard errors, or NUTS,
ADVI, MAP through :mod:`clvmodels.inference.bayes`, on the weighted distinct
``(renewals, churned)`` patterns), predictions on a summary, parameter draws, projections with
credible and predictive bands (:meth:`RetentionModel.survival_curve`,
:meth:`RetentionModel.retention_curve`), separate fits by cohort
(:meth:`RetentionModel.fit_cohorts`), saving and loading, and the subscriber CLV forecast
(:func:`clvmodels.subscriber_forecast.forecast_subscribers`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..exceptions import ConvergenceWarning
from .base import Model, _weights_of, check_units, weighted_patterns
from .params import seed_sequence

__all__ = ["RetentionModel", "CohortFits", "retention_arrays", "RETENTION_COLUMNS"]

#: The columns of a per-subscriber summary.
RETENTION_COLUMNS = ("renewals", "churned")


def retention_arrays(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Check a per-subscriber summary; return ``renewals`` and ``churned`` (0.0 / 1.0) as float
    arrays and the index.

    Examples
    --------
    >>> data = pd.DataFrame({"renewals": [0, 3, 7], "churned": [True, True, False]})
    >>> n, c, index = retention_arrays(data)
    >>> n.tolist(), c.tolist()
    ([0.0, 3.0, 7.0], [1.0, 1.0, 0.0])
    >>> retention_arrays(data.assign(renewals=[0, -1, 2.5]))
    Traceback (most recent call last):
    ...
    ValueError: column 'renewals': 2 rows are not whole numbers >= 0 (first: row 1, value -1.0); renewals counts the period boundaries a subscriber survived (0 for one who cancelled in their first period).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a per-subscriber DataFrame with columns {list(RETENTION_COLUMNS)}, got {type(data).__name__}.")
    missing = [c for c in RETENTION_COLUMNS if c not in data.columns]
    if missing:
        raise ValueError(
            f"the summary lacks column(s) {missing}; a retention model needs one row per subscriber with "
            f"'renewals' (period boundaries survived) and 'churned' (True if cancelled). Columns: {list(data.columns)}. "
            "For a cohort's survivor counts use fit_survivors(survivors)."
        )
    renewals = pd.to_numeric(data["renewals"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(renewals) | (renewals < 0) | (renewals != np.round(renewals))
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"column 'renewals': {int(bad.sum())} rows are not whole numbers >= 0 (first: row {first}, value "
            f"{data['renewals'].iloc[first]}); renewals counts the period boundaries a subscriber survived "
            "(0 for one who cancelled in their first period)."
        )
    raw = data["churned"]
    if raw.dtype == bool:
        churned = raw.to_numpy(dtype=np.float64)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            first = int(np.argmax(bad))
            raise ValueError(
                f"column 'churned': {int(bad.sum())} rows are neither True/False nor 1/0 (first: row {first}, value "
                f"{raw.iloc[first]}); churned says whether the subscriber cancelled."
            )
        churned = values
    return renewals, churned, data.index


class RetentionModel(Model):
    """Base class of the retention models: the protocol (see the module docstring).

    Fitted attributes are those of every model (``params_``, ``covariance_``, ``loglik_``,
    ``converged_``, ``n_customers_`` = subscribers, ``time_unit_`` = the period, ...).
    """

    kind: ClassVar[str] = "retention"
    key: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = RETENTION_COLUMNS
    formulas: ClassVar[Any] = None
    #: typical parameters (a published fit), which the contract tests simulate from
    example_params: ClassVar[dict[str, float]] = {}

    @staticmethod
    def default_priors(scale: float) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def data_scale(cls, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> float:
        """The data's own time scale the default priors are centred on: the mean number of
        periods observed per subscriber (``renewals + 1``)."""
        return float(np.average(patterns[0] + 1.0, weights=weights))

    @classmethod
    def data_description(cls, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> dict[str, Any]:
        """A few numbers describing the fitted data, for model files (no subscriber ids)."""
        n, c = patterns
        return {
            "n_customers": int(round(float(weights.sum()))),
            "n_patterns": int(len(weights)),
            "mean_renewals": float(np.average(n, weights=weights)),
            "max_renewals": float(np.max(n)),
            "share_churned": float(np.average(c, weights=weights)),
        }

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, data: pd.DataFrame, method: str = "mle", *, sample_weight: Any = None) -> RetentionModel:
        """Fit by maximum likelihood or Bayesian inference on a per-subscriber summary.

        Parameters
        ----------
        data : DataFrame
            One row per subscriber with ``renewals`` and ``churned`` (or a table of distinct
            patterns with ``sample_weight``, such as :func:`survivors_to_patterns` makes);
            ``attrs["time_unit"]`` is the period.
        method : {"mle", "nuts", "advi", "map"}
            As for every model (:meth:`clvmodels.BetaGeo.fit`).
        sample_weight : str or array_like, optional
            A column (or array) counting the subscribers each row stands for.

        Returns
        -------
        RetentionModel

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo, survivors_to_patterns
        >>> table = survivors_to_patterns([1000, 869, 743, 653, 593, 551, 517, 491], time_unit="Y")
        >>> model = ShiftedBetaGeo().fit(table, sample_weight="weight")
        >>> model.params_.round(3).tolist(), model.n_customers_, model.time_unit_
        ([0.668, 3.806], 1000, 'Y')
        """
        patterns, weights, inverse, observed = self._pattern_data(data, lazy=True, sample_weight=sample_weight)
        self.time_unit_ = data.attrs.get("time_unit") if hasattr(data, "attrs") else None
        self._fit(method, patterns, weights, inverse, observed)
        return self

    def _pattern_data(self, data: pd.DataFrame, lazy: bool = False, sample_weight: Any = None) -> tuple[Any, ...]:
        """``(patterns, weights, inverse, observed)`` of a summary (``observed`` is the
        per-subscriber frame, or with ``lazy`` a function making it)."""
        from ..data import compress_patterns

        renewals, churned, index = retention_arrays(data)
        row_weights = _weights_of(data, sample_weight)
        patterns, weights, inverse = compress_patterns(renewals, churned)
        patterns = tuple(np.asarray(p, dtype=np.float64) for p in patterns)
        if row_weights is not None:
            patterns, weights, inverse = weighted_patterns(patterns, inverse, row_weights)

        def observed() -> pd.DataFrame:
            return pd.DataFrame({"renewals": renewals, "churned": churned}, index=index)

        return patterns, weights, inverse, (observed if lazy else observed())

    @classmethod
    def _objective(cls, patterns: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[Callable, list, Callable | None]:
        """The likelihood over weighted patterns, its gradient derived from ``loglik`` by PyTensor."""
        from ..inference.autodiff import loglik_objective

        return loglik_objective(cls, patterns, weights), [(1.0, 1.0), (0.5, 2.0), (2.0, 10.0)], None

    def fit_survivors(self, survivors: Any, method: str = "mle", *, time_unit: str | None = None) -> RetentionModel:
        """Fit a cohort's survivor counts at the start of periods 0, 1, ... (as in Fader & Hardie
        2007); see :func:`~clvmodels.models.shifted_beta_geo.survivors_to_patterns`.

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241]).params_.round(3).tolist()
        [0.704, 1.182]
        """
        from .shifted_beta_geo import survivors_to_patterns

        table = survivors_to_patterns(survivors, time_unit=time_unit)
        return self.fit(table, method, sample_weight="weight")

    def fit_cohorts(self, data: pd.DataFrame, by: str = "cohort", method: str = "mle", *, sample_weight: Any = None) -> CohortFits:
        """One separate fit per cohort (a copy of this model's settings each).

        Separate fits let every cohort have its own ``alpha, beta`` (Fader & Hardie 2007 fit
        their "regular" and "high end" cohorts apart). For parameters shared by every cohort,
        fit the whole summary with :meth:`fit`; :meth:`CohortFits.shared_test` compares the two.

        Parameters
        ----------
        data : DataFrame
            Per-subscriber summary with a cohort column.
        by : str
            The cohort column.
        method, sample_weight
            As in :meth:`fit`.

        Returns
        -------
        CohortFits
            A dict of fitted models by cohort label, with :meth:`CohortFits.summary` (a tidy table
            of estimates by cohort).

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo, survivors_to_patterns
        >>> regular = survivors_to_patterns([1000, 631, 468, 382, 326, 289, 262, 241]).assign(cohort="regular")
        >>> high = survivors_to_patterns([1000, 869, 743, 653, 593, 551, 517, 491]).assign(cohort="high end")
        >>> fits = ShiftedBetaGeo().fit_cohorts(pd.concat([regular, high]), sample_weight="weight")
        >>> fits.summary()["estimate"].round(3).tolist()
        [0.668, 3.806, 0.704, 1.182]
        """
        if by not in data.columns:
            raise ValueError(f"by={by!r} is not a column of the data; columns: {list(data.columns)}.")
        if data[by].isna().any():
            raise ValueError(f"column {by!r} has {int(data[by].isna().sum())} missing cohort labels; fill or drop them first.")
        fits = CohortFits(by=by)
        labels = data[by].to_numpy()
        order = list(pd.unique(labels))
        try:
            order = sorted(order)
        except TypeError:  # labels of mixed types: in order of appearance
            pass
        for label in order:
            mask = labels == label
            group = data.loc[mask].copy()
            group.attrs = dict(data.attrs)
            weights = sample_weight
            if sample_weight is not None and not isinstance(sample_weight, str):
                weights = np.asarray(sample_weight)[mask]
            fits[label] = type(self)(**self.get_params()).fit(group, method, sample_weight=weights)
        return fits

    def prior_predictive(self, data: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        """Not available for retention models yet (the statistics of the prior predictive check
        are those of purchases and spend); check priors by fitting with ``method="map"``."""
        raise NotImplementedError(
            f"prior_predictive is not available for {type(self).__name__} (a retention model) yet; compare "
            "fit(data, method='map') with the maximum-likelihood fit to see how much the priors move it."
        )

    # -- predictions ---------------------------------------------------------------------------

    def _arrays(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
        self._check_fitted()
        check_units(self, data)
        return retention_arrays(data)

    def loglik_per_customer(self, data: pd.DataFrame) -> pd.Series:
        """Log-likelihood of each subscriber at the fitted parameters.

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo, survivors_to_patterns
        >>> table = survivors_to_patterns([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> model = ShiftedBetaGeo().fit(table, sample_weight="weight")
        >>> round(float(model.loglik_per_customer(table) @ table["weight"]), 2) == round(model.loglik_, 2)
        True
        """
        n, c, index = self._arrays(data)
        return pd.Series(self.formulas.loglik(self.params_, n, c), index=index, name="loglik")

    def survival(self, t: Any) -> np.ndarray:
        """``S(t)``: share of a new cohort still subscribed after t renewals (point estimate).

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> model.survival([0, 1]).round(3)
        array([1.   , 0.627])
        """
        self._check_fitted()
        return self.formulas.survival(self.params_, t)

    def retention_rate(self, t: Any) -> np.ndarray:
        """``r(t) = S(t) / S(t - 1)``, t >= 1 (point estimate).

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> model.retention_rate([1, 7]).round(3)
        array([0.627, 0.911])
        """
        self._check_fitted()
        return self.formulas.retention_rate(self.params_, t)

    def churn_probability(self, t: Any) -> np.ndarray:
        """``P(T = t)``: a new subscriber cancels at the end of period t >= 1 (point estimate).

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> model.churn_probability(1).round(3)
        np.float64(0.373)
        """
        self._check_fitted()
        return self.formulas.churn_probability(self.params_, t)

    def conditional_survival(self, data: pd.DataFrame, t: Any) -> pd.Series:
        """Probability that each subscriber is still subscribed after t more renewals (0 for
        those who cancelled).

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> data = pd.DataFrame({"renewals": [0, 7, 3], "churned": [False, False, True]})
        >>> model.conditional_survival(data, 1).round(3).tolist()
        [0.627, 0.921, 0.0]
        """
        n, c, index = self._arrays(data)
        values = np.where(c > 0, 0.0, self.formulas.conditional_survival(self.params_, t, n))
        return pd.Series(values, index=index, name="conditional_survival")

    def derl(self, data: pd.DataFrame, discount_rate: float, horizon: int | None = None) -> pd.Series:
        """Discounted expected residual lifetime of each subscriber in payments (0 for those who
        cancelled), ``discount_rate`` per period; see
        :func:`clvmodels.models.shifted_beta_geo.derl` for the convention.

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> data = pd.DataFrame({"renewals": [0, 4], "churned": [False, True]})
        >>> model.derl(data, 0.1).round(3).tolist()
        [2.964, 0.0]
        """
        n, c, index = self._arrays(data)
        values = np.where(c > 0, 0.0, self.formulas.derl(self.params_, n, discount_rate, horizon))
        return pd.Series(values, index=index, name="derl")

    def simulate(self, periods: Any, *, random_seed: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Simulate subscribers observed for ``periods`` period boundaries from the fitted
        parameters (the result carries the model's time unit).

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> sim = model.simulate(np.full(20_000, 7), random_seed=1)
        >>> refit = ShiftedBetaGeo().fit(sim)
        >>> bool(abs(refit.params_["alpha"] / model.params_["alpha"] - 1) < 0.1)
        True
        """
        self._check_fitted()
        sim = self.formulas.simulate(self.params_, periods, random_seed=random_seed)
        if getattr(self, "time_unit_", None):
            sim.attrs["time_unit"] = self.time_unit_
        return sim

    # -- projections ---------------------------------------------------------------------------

    def _draws(self, n_draws: int, random_seed: Any) -> tuple[pd.DataFrame, np.random.SeedSequence]:
        seed = seed_sequence(random_seed)
        seed_params, seed_sim = seed.spawn(2)
        return self.sample_params(n_draws, random_seed=seed_params), seed_sim

    def survival_curve(
        self,
        periods: Any,
        *,
        ci: float = 0.9,
        n_draws: int = 1000,
        random_seed: int | None = None,
        cohort_size: int | None = None,
    ) -> pd.DataFrame:
        """Projected survival ``S(t)`` of a new cohort with credible bands, and with
        ``cohort_size`` the survivor counts with predictive bands.

        Parameters
        ----------
        periods : array_like
            Periods t (whole numbers >= 0), e.g. ``range(13)``.
        ci : float
            Level of the bands.
        n_draws : int
            Parameter draws (:meth:`sample_params`: Laplace after maximum likelihood, the
            posterior after NUTS).
        random_seed : int, optional
        cohort_size : int, optional
            Subscribers at period 0. The predictive band of the survivors in each parameter draw
            simulates the cohort's lifetimes: given ``alpha, beta`` they are independent sBG, so
            their counts by lifetime are multinomial with the sBG pmf; its quantiles mix the
            parameter uncertainty with the cohort's own chance.

        Returns
        -------
        DataFrame
            ``period, expected, lower, upper`` (shares) and with ``cohort_size``
            ``survivors, survivors_lower, survivors_upper`` (expected count, credible) and
            ``survivors_pred_lower, survivors_pred_upper``.

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> curve = model.survival_curve(range(13), n_draws=500, random_seed=1, cohort_size=1000)
        >>> curve.columns.tolist()
        ['period', 'expected', 'lower', 'upper', 'survivors', 'survivors_lower', 'survivors_upper', 'survivors_pred_lower', 'survivors_pred_upper']
        >>> bool(curve.loc[12, "survivors_pred_lower"] <= 173 <= curve.loc[12, "survivors_pred_upper"])  # observed in year 12
        True
        """
        self._check_fitted()
        t = np.asarray(periods, dtype=np.float64).ravel()
        ci = _level(ci)
        draws, seed_sim = self._draws(n_draws, random_seed)
        values = self.formulas.survival(draws, t)
        frame = pd.DataFrame({"period": t.astype(np.int64), "expected": self.formulas.survival(self.params_, t)})
        frame["lower"], frame["upper"] = _bounds(values, ci)
        if cohort_size is not None:
            size = _cohort_size(cohort_size)
            frame["survivors"] = size * frame["expected"]
            frame["survivors_lower"], frame["survivors_upper"] = size * frame["lower"], size * frame["upper"]
            counts = self._simulated_survivors(draws, size, t, seed_sim)
            frame["survivors_pred_lower"], frame["survivors_pred_upper"] = _bounds(counts, ci)
        frame.attrs.update({"ci": ci, "time_unit": getattr(self, "time_unit_", None)})
        return frame

    def retention_curve(
        self,
        periods: Any,
        *,
        ci: float = 0.9,
        n_draws: int = 1000,
        random_seed: int | None = None,
        cohort_size: int | None = None,
    ) -> pd.DataFrame:
        """Projected retention rates ``r(t) = S(t) / S(t - 1)`` (t >= 1) with credible bands, and
        with ``cohort_size`` predictive bands of a cohort's observed rates (survivors at t over
        survivors at t - 1 in simulated cohorts, as in :meth:`survival_curve`).

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> model = ShiftedBetaGeo().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> curve = model.retention_curve(range(1, 13), n_draws=500, random_seed=1)
        >>> curve.loc[0, ["period", "expected"]].round(3).tolist()
        [1.0, 0.627]
        >>> bool((curve["lower"] <= curve["expected"]).all() and (curve["expected"] <= curve["upper"]).all())
        True
        """
        self._check_fitted()
        t = np.asarray(periods, dtype=np.float64).ravel()
        ci = _level(ci)
        draws, seed_sim = self._draws(n_draws, random_seed)
        values = self.formulas.retention_rate(draws, t)
        frame = pd.DataFrame({"period": t.astype(np.int64), "expected": self.formulas.retention_rate(self.params_, t)})
        frame["lower"], frame["upper"] = _bounds(values, ci)
        if cohort_size is not None:
            size = _cohort_size(cohort_size)
            counts = self._simulated_survivors(draws, size, np.r_[t - 1, t], seed_sim)
            before, after = counts[:, : len(t)], counts[:, len(t):]
            with np.errstate(divide="ignore", invalid="ignore"):
                rates = np.where(before > 0, after / np.where(before > 0, before, 1.0), np.nan)
            lower, upper = np.empty(len(t)), np.empty(len(t))
            for j in range(len(t)):
                column = rates[:, j][np.isfinite(rates[:, j])]
                lower[j], upper[j] = np.quantile(column, [(1 - ci) / 2, (1 + ci) / 2]) if column.size else (np.nan, np.nan)
            frame["retention_pred_lower"], frame["retention_pred_upper"] = lower, upper
        frame.attrs.update({"ci": ci, "time_unit": getattr(self, "time_unit_", None)})
        return frame

    def _simulated_survivors(self, draws: pd.DataFrame, size: int, t: np.ndarray, seed: np.random.SeedSequence) -> np.ndarray:
        """Survivors at the periods ``t`` of one simulated cohort of ``size`` per parameter draw:
        lifetimes counted by a multinomial draw over the sBG pmf (``(draws, len(t))``)."""
        rng = np.random.default_rng(seed)
        top = int(t.max()) if t.size else 0
        lifetimes = np.arange(1, top + 1, dtype=np.float64)
        out = np.empty((len(draws), len(t)))
        for i, (_, row) in enumerate(draws.iterrows()):
            pmf = self.formulas.churn_probability(row, lifetimes) if top else np.zeros(0)
            probs = np.r_[pmf, max(0.0, 1.0 - float(pmf.sum()))]
            lost = rng.multinomial(size, probs / probs.sum())
            survivors = size - np.r_[0, np.cumsum(lost[:-1])]  # survivors at 0 .. top
            out[i] = survivors[t.astype(np.int64)]
        return out


class CohortFits(dict):
    """Separate fits by cohort (:meth:`RetentionModel.fit_cohorts`): a dict label -> model."""

    def __init__(self, *args: Any, by: str = "cohort", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by = by

    def summary(self, ci: float = 0.95) -> pd.DataFrame:
        """Tidy estimates: one row per (cohort, parameter) with ``estimate, std_error, lower,
        upper`` (or the posterior columns) and the cohort's ``loglik`` and ``n_customers``.

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo
        >>> data = ShiftedBetaGeo().fit_survivors([100, 60, 45]).simulate(np.full(400, 5), random_seed=0)
        >>> data["cohort"] = np.repeat(["a", "b"], 200)
        >>> ShiftedBetaGeo().fit_cohorts(data).summary().index.names
        FrozenList(['cohort', 'parameter'])
        """
        tables = []
        for label, model in self.items():
            table = model.summary(ci).copy()
            table["loglik"] = model.loglik_
            table["n_customers"] = model.n_customers_
            table.index = pd.MultiIndex.from_product([[label], table.index], names=[self.by, "parameter"])
            tables.append(table)
        out = pd.concat(tables) if tables else pd.DataFrame()
        out.attrs["ci"] = ci
        return out

    def shared_test(self, shared: Model) -> pd.Series:
        """Likelihood-ratio test of one set of parameters for every cohort (``shared``, fitted on
        all of them) against the separate fits.

        Examples
        --------
        >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeo, survivors_to_patterns
        >>> regular = survivors_to_patterns([1000, 631, 468, 382, 326, 289, 262, 241]).assign(cohort="regular")
        >>> high = survivors_to_patterns([1000, 869, 743, 653, 593, 551, 517, 491]).assign(cohort="high end")
        >>> both = pd.concat([regular, high], ignore_index=True)
        >>> fits = ShiftedBetaGeo().fit_cohorts(both, sample_weight="weight")
        >>> test = fits.shared_test(ShiftedBetaGeo().fit(both, sample_weight="weight"))
        >>> bool(test["p_value"] < 1e-6)  # the two cohorts differ
        True
        """
        from scipy import stats

        separate = float(sum(m.loglik_ for m in self.values()))
        k = len(shared.param_names)
        df = k * (len(self) - 1)
        statistic = 2.0 * (separate - float(shared.loglik_))
        if statistic < -1e-6 * max(1.0, abs(separate)):
            warnings.warn(
                "the shared fit is more likely than the separate fits together: it was fitted on other data "
                "or did not converge.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return pd.Series(
            {"loglik_separate": separate, "loglik_shared": float(shared.loglik_), "statistic": statistic, "df": df,
             "p_value": float(stats.chi2.sf(max(statistic, 0.0), df)) if df else np.nan}
        )


def _level(ci: float) -> float:
    if not 0 < ci < 1:
        raise ValueError(f"ci={ci!r} must be between 0 and 1, for example 0.9.")
    return float(ci)


def _cohort_size(size: Any) -> int:
    if isinstance(size, bool) or not float(size) == int(size) or int(size) < 1:
        raise ValueError(f"cohort_size={size!r} must be a whole number >= 1 (subscribers at period 0).")
    return int(size)


def _bounds(values: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """The equal-tailed interval over the draws (axis 0)."""
    lo, hi = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return lo, hi
