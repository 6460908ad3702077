"""Time units and the resolution at which purchases are merged.

Every duration in clvmodels (recency, T, a forecast horizon) is a number of *time units*. The
units are fixed lengths of calendar time, so that no conversion is ever silent:

=========  =======================  ================================
unit       aliases                  length
=========  =======================  ================================
``"h"``    hour, hours, H           1/24 day
``"D"``    day, days, d             1 day
``"W"``    week, weeks, w           7 days
``"M"``    month, months            365.25 / 12 = 30.4375 days
``"Y"``    year, years, y, A        365.25 days
=========  =======================  ================================

A month is the mean Gregorian month, never "30 days", and a year is the mean Julian year, so
that ``12 M == 1 Y == 365.25 D`` exactly.

The *resolution* is the calendar period in which purchases by one customer merge into one
transaction: ``"D"`` (calendar day, the convention of Fader, Hardie & Lee 2005 for CDNOW) or
``"h"`` (clock hour). It is separate from the unit in which durations are measured: CDNOW is
merged by day and measured in weeks, which gives T = 272 / 7 = 38.86 weeks for customer 1.
"""

from __future__ import annotations

from typing import Final

__all__ = ["TIME_UNITS", "RESOLUTIONS", "unit_days", "normalize_unit", "normalize_resolution"]

#: Length of each time unit in days.
TIME_UNITS: Final[dict[str, float]] = {
    "h": 1.0 / 24.0,
    "D": 1.0,
    "W": 7.0,
    "M": 365.25 / 12.0,
    "Y": 365.25,
}

_ALIASES: Final[dict[str, str]] = {
    "h": "h", "H": "h", "hour": "h", "hours": "h",
    "D": "D", "d": "D", "day": "D", "days": "D",
    "W": "W", "w": "W", "week": "W", "weeks": "W",
    "M": "M", "month": "M", "months": "M",
    "Y": "Y", "y": "Y", "A": "Y", "year": "Y", "years": "Y",
}

#: Length of each merging resolution in nanoseconds.
RESOLUTIONS: Final[dict[str, int]] = {
    "h": 3_600 * 10**9,
    "D": 86_400 * 10**9,
}


def normalize_unit(unit: str) -> str:
    """Return the canonical name (``h, D, W, M, Y``) of a time unit or raise ``ValueError``.

    Examples
    --------
    >>> normalize_unit("weeks"), normalize_unit("d"), normalize_unit("A")
    ('W', 'D', 'Y')
    >>> normalize_unit("fortnight")
    Traceback (most recent call last):
    ...
    ValueError: time_unit='fortnight' is not a known time unit; use one of 'h', 'D', 'W', 'M', 'Y' (hours, days, weeks, months of 30.4375 days, years of 365.25 days).
    """
    try:
        return _ALIASES[unit]
    except (KeyError, TypeError):
        raise ValueError(
            f"time_unit={unit!r} is not a known time unit; use one of "
            f"{', '.join(repr(u) for u in TIME_UNITS)} (hours, days, weeks, months of 30.4375 "
            "days, years of 365.25 days)."
        ) from None


def normalize_resolution(resolution: str | None, time_unit: str) -> str:
    """Return the merging resolution: the one given, or ``"h"`` for hourly units, else ``"D"``.

    Examples
    --------
    >>> normalize_resolution(None, "W"), normalize_resolution(None, "hours"), normalize_resolution("day", "h")
    ('D', 'h', 'D')
    """
    if resolution is None:
        return "h" if normalize_unit(time_unit) == "h" else "D"
    canonical = _ALIASES.get(resolution) if isinstance(resolution, str) else None
    if canonical not in RESOLUTIONS:
        raise ValueError(
            f"resolution={resolution!r} is not supported; purchases merge per calendar day ('D') "
            "or per clock hour ('h')."
        )
    return canonical


def unit_days(unit: str) -> float:
    """Length of ``unit`` in days.

    Examples
    --------
    >>> unit_days("W"), unit_days("M"), unit_days("years")
    (7.0, 30.4375, 365.25)
    """
    return TIME_UNITS[normalize_unit(unit)]
