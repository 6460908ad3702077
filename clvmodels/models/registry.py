"""The registry of models: every model module registers its estimator class here.

Downstream code (forecast, holdout, tracking, plots, model files, the config and the command
line, the Bayesian fits) never names a concrete model: it looks the class up by its key
(``"bgnbd"``, ``"pareto-nbd"``, ``"gamma-gamma"``, ...) or its class name, and asks it for what
it needs. A model module registers its class with the :func:`register` decorator; importing
:mod:`clvmodels.models` imports every bundled model module, so all are registered.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register", "model_class", "registered", "model_key"]

KINDS = ("transactions", "spend", "retention")

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: add a model class to the registry under ``cls.key``.

    The class declares ``key`` (lower case, used in configs and model files), ``display_name``
    (for people), ``kind`` (``"transactions"``, ``"spend"`` or ``"retention"``) and ``param_names``.
    """
    key = getattr(cls, "key", None)
    if not isinstance(key, str) or not key or key != key.lower():
        raise TypeError(f"{cls.__name__} needs a lower-case string `key` to be registered.")
    if getattr(cls, "kind", None) not in KINDS:
        raise TypeError(f"{cls.__name__}.kind must be one of {KINDS}.")
    if not getattr(cls, "param_names", ()):
        raise TypeError(f"{cls.__name__} declares no param_names.")
    existing = _REGISTRY.get(key)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"model key {key!r} is taken by {existing.__name__}.")
    _REGISTRY[key] = cls
    return cls


def _ensure_loaded() -> None:
    from . import __name__ as _package  # noqa: F401  (importing clvmodels.models registers every model)


def registered(kind: str | None = None, time_kind: str | None = None) -> dict[str, type]:
    """The registered model classes by key, optionally of one ``kind``, in registration order.

    ``time_kind`` keeps the transaction models of continuous time (``"continuous"``: BG/NBD,
    Pareto/NBD, MBG/NBD, fitted on the same summary and so comparable) or of discrete occasions
    (``"discrete"``: BG/BB).

    Examples
    --------
    >>> list(registered("spend"))
    ['gamma-gamma']
    >>> "bgnbd" in registered("transactions")
    True
    >>> "bgbb" in registered("transactions", time_kind="continuous")
    False
    """
    _ensure_loaded()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r}; use one of {KINDS}.")
    if time_kind not in (None, "continuous", "discrete"):
        raise ValueError(f"time_kind={time_kind!r}; use 'continuous' or 'discrete'.")
    return {k: c for k, c in _REGISTRY.items()
            if (kind is None or c.kind == kind) and (time_kind is None or getattr(c, "time_kind", None) == time_kind)}


def model_class(name: Any, kind: str | None = None) -> type:
    """The model class for a key (``"pareto-nbd"``), a class name (``"ParetoNBD"``), a display
    name (``"Pareto/NBD"``), an estimator or an estimator class.

    Raises
    ------
    ValueError
        For an unknown model, or one of another ``kind``, listing the registered ones.

    Examples
    --------
    >>> model_class("bgnbd").__name__, model_class("BetaGeo").key, model_class("BG/NBD").key
    ('BetaGeo', 'bgnbd', 'bgnbd')
    >>> model_class("gamma-gamma", kind="transactions")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'gamma-gamma' is a spend model, not a transactions model; transactions models: ...
    """
    candidates = registered(kind)
    if isinstance(name, type):
        name = name.__name__
    elif not isinstance(name, str):
        name = type(name).__name__
    wanted = name.strip()
    for cls in _REGISTRY.values():
        if wanted.lower() in (cls.key, cls.__name__.lower(), str(cls.display_name).lower()):
            if kind is not None and cls.kind != kind:
                raise ValueError(
                    f"{name!r} is a {cls.kind} model, not a {kind} model; {kind} models: "
                    f"{', '.join(repr(k) for k in candidates)}."
                )
            return cls
    listed = ", ".join(f"{k!r} ({c.display_name})" for k, c in candidates.items())
    raise ValueError(f"unknown {kind + ' ' if kind else ''}model {name!r}; registered: {listed}.")


def model_key(model: Any) -> str:
    """The registry key of a model, its class or its name.

    Examples
    --------
    >>> model_key("GammaGamma")
    'gamma-gamma'
    """
    return model_class(model).key
