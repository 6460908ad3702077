"""What the plotting modules share: new axes, time-unit labels, parameters and draws."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..units import normalize_unit

__all__ = [
    "new_axes",
    "new_figure",
    "time_unit_of",
    "unit_name",
    "duration_text",
    "model_name",
    "point_params",
    "param_draws",
    "forecast_frame",
    "currency_text",
]

_UNIT_NAMES = {
    "h": ("hour", "hours"),
    "D": ("day", "days"),
    "W": ("week", "weeks"),
    "M": ("month", "months"),
    "Y": ("year", "years"),
}

_MODEL_NAMES = {"BetaGeo": "BG/NBD", "GammaGamma": "Gamma-Gamma"}


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.5)) -> Axes:
    """The caller's Axes, or the Axes of a new figure (pyplot's current figure is not used)."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def new_figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """The caller's (empty) Figure, or a new one with constrained layout."""
    if fig is not None:
        return fig
    return plt.figure(figsize=figsize, layout="constrained")


def time_unit_of(*sources: Any, explicit: str | None = None) -> str | None:
    """The time unit: ``explicit``, else the first ``attrs["time_unit"]`` or ``time_unit_`` found."""
    if explicit is not None:
        return normalize_unit(explicit)
    for source in sources:
        unit = None
        attrs = getattr(source, "attrs", None)
        if isinstance(attrs, Mapping):
            unit = attrs.get("time_unit") or attrs.get("settings", {}).get("time_unit")
        if unit is None:
            unit = getattr(source, "time_unit_", None)
        if unit is None and isinstance(getattr(source, "settings", None), Mapping):
            unit = source.settings.get("time_unit")
        if unit is not None:
            return normalize_unit(unit)
    return None


def unit_name(unit: str | None, plural: bool = True) -> str:
    """``"weeks"`` for ``"W"`` (``"week"`` when ``plural`` is false); ``"time units"`` if unknown."""
    if unit is None:
        return "time units" if plural else "time unit"
    return _UNIT_NAMES[normalize_unit(unit)][1 if plural else 0]


def duration_text(length: float, unit: str | None) -> str:
    """``"39 weeks"``, ``"1 week"``, ``"2.5 days"``."""
    return f"{length:g} {unit_name(unit, plural=not np.isclose(length, 1.0))}"


def currency_text(currency: str | None) -> str:
    """Axis-label text for amounts: the currency given, or a neutral word.

    A dollar sign is escaped: two of them in one text would start matplotlib's mathtext.
    """
    return currency.replace("$", r"\$") if currency else "currency units"


def model_name(model: Any) -> str:
    """The paper's name of a fitted model (``"BG/NBD"``) for legends and titles."""
    return _MODEL_NAMES.get(type(model).__name__, type(model).__name__)


def point_params(model: Any) -> pd.Series:
    """A fitted model's point estimate (``params_``), after the not-fitted check."""
    check = getattr(model, "_check_fitted", None)
    if check is not None:
        check()
    params = getattr(model, "params_", None)
    if params is None:
        raise TypeError(f"expected a fitted clvmodels model, got {type(model).__name__}.")
    return params


def param_draws(model: Any, n_draws: int, random_seed: Any) -> pd.DataFrame:
    """``n_draws`` parameter draws from the model (Laplace after MLE, posterior after NUTS)."""
    if int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"n_draws={n_draws!r} must be a whole number >= 1.")
    return model.sample_params(int(n_draws), random_seed=random_seed)


def forecast_frame(result: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The per-customer table and the settings of a :class:`~clvmodels.Forecast` (or its frame)."""
    if isinstance(result, pd.DataFrame):
        return result, dict(result.attrs.get("settings", {}))
    frame = getattr(result, "frame", None)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a clvmodels.Forecast or its to_frame() table, got {type(result).__name__}.")
    return frame, dict(result.settings)


def check_level(ci: float, name: str = "ci") -> float:
    """Validate an interval level in (0, 1)."""
    if not 0 < ci < 1:
        raise ValueError(f"{name}={ci!r} must be between 0 and 1, for example 0.9.")
    return float(ci)
