"""What the plotting modules share: new axes, time-unit labels, money and large-number formats,
the model's name and formulas (from the registry: no concrete model is named here), parameters
and draws."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..units import normalize_unit

__all__ = [
    "new_axes",
    "new_figure",
    "time_unit_of",
    "unit_name",
    "duration_text",
    "model_name",
    "model_formulas",
    "point_params",
    "param_draws",
    "forecast_frame",
    "currency_text",
    "money_text",
    "number_text",
    "thousands",
]

_UNIT_NAMES = {
    "h": ("hour", "hours"),
    "D": ("day", "days"),
    "W": ("week", "weeks"),
    "M": ("month", "months"),
    "Y": ("year", "years"),
}

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
    r"""Axis-label text for amounts: the currency given, or a neutral word.

    A dollar sign is escaped: two of them in one text would start matplotlib's mathtext.

    Examples
    --------
    >>> currency_text("EUR"), currency_text(None), currency_text("$")
    ('EUR', 'currency units', '\\$')
    """
    return currency.replace("$", r"\$") if currency else "currency units"


def number_text(value: float, decimals: int = 0) -> str:
    """A number with thousands separators: ``"1,234,567"``, ``"1,234.57"`` (``decimals=2``)."""
    return f"{value:,.{decimals}f}"


def money_text(value: float, currency: str | None, decimals: int = 2) -> str:
    r"""An amount with thousands separators and the currency.

    The plots take ``currency=None`` by default: amounts are in the data's own money unit,
    which clvmodels does not know, so numbers are printed bare and axes say "currency units".
    A symbol (``"$"``, ``"€"``, ``"£"``) is written before the number, a code or word
    (``"EUR"``, ``"kr"``) after it.

    Examples
    --------
    >>> money_text(1234567.891, "$"), money_text(1234.5, "EUR"), money_text(9629.0, None, 0)
    ('\\$1,234,567.89', '1,234.50 EUR', '9,629')
    """
    number = number_text(value, decimals)
    if not currency:
        return number
    if currency.isalpha():
        return f"{number} {currency_text(currency)}"
    if number.startswith("-"):
        return f"-{currency_text(currency)}{number[1:]}"
    return f"{currency_text(currency)}{number}"


def _thousands(value: float, _: Any = None) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{value:g}"


def thousands(axis: Any) -> None:
    """Tick labels with thousands separators (``12,500``) on a linear axis (``ax.xaxis``).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> thousands(ax.yaxis)
    >>> ax.yaxis.get_major_formatter()(25000.0, 0), ax.yaxis.get_major_formatter()(0.5, 0)
    ('25,000', '0.5')
    """
    axis.set_major_formatter(FuncFormatter(_thousands))


def model_name(model: Any) -> str:
    """The name people read of a model (``"BG/NBD"``), from its class's ``display_name``.

    Examples
    --------
    >>> from clvmodels import BetaGeo, GammaGamma
    >>> model_name(BetaGeo()), model_name(GammaGamma)
    ('BG/NBD', 'Gamma-Gamma')
    """
    cls = model if isinstance(model, type) else type(model)
    return str(getattr(cls, "display_name", "") or cls.__name__)


def model_formulas(model: Any, kind: str) -> Any:
    """The formulas module of a registered model of ``kind`` (``"transactions"`` or ``"spend"``):
    a clear error listing the registered ones otherwise."""
    from ..models.registry import model_class

    return model_class(model, kind=kind).formulas


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
