"""Model files and atomic writes.

A fitted model is saved as

JSON (maximum likelihood and MAP fits)
    one object: the format name and version, the model's registry key (``"bgnbd"``; files of
    earlier versions name the class, ``"BetaGeo"``, and are still read) and display name, the
    fitting method, the package version, the settings, a summary of the data, the fitted state (parameters, both
    covariances, log-likelihood, convergence and optimiser diagnostics) and the weighted
    customer patterns the model was fitted on (so that a loaded model can still draw bootstrap
    parameters or rebuild its PyMC model). Floats are written with 17 significant digits, so
    a loaded model reproduces the saved one exactly.
NetCDF (NUTS and ADVI fits)
    the ArviZ ``InferenceData`` (``posterior``, ``sample_stats``, ``observed_data``,
    ``constant_data`` with the weighted patterns, and ``log_likelihood`` when it was stored),
    with the same metadata as a JSON string in the file's attribute ``clvmodels``.

Loading looks the model up in the registry (:mod:`clvmodels.models.registry`: an unknown model
is an error listing the registered ones), checks every value before use (parameters finite and
positive, covariances symmetric positive definite, finite patterns; a byte-order mark and
leading whitespace are fine, JSON nested deeper than Python can parse is a clear error) and sets
the fitted state through the model's ``_set_fitted``, the one place that writes it.

No pickle: a model file is data, never code. Writes go to a temporary file in the target's
folder, which is renamed over the target only when complete (``os.replace``), so a crash or a
full disk never leaves a partial file and a reader sees either the old or the new file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .models.base import Model

__all__ = ["FORMAT", "FORMAT_VERSION", "save_model", "load_model", "atomic_path"]

#: Name written into every model file.
FORMAT = "clvmodels-model"
#: Version of the layout of model files; files of a newer version are refused.
FORMAT_VERSION = 1

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_POSTERIOR_METHODS = ("nuts", "advi")


# -- atomic writes ----------------------------------------------------------------------------


def default_file_mode() -> int:
    """The mode a new file gets from ``open`` under the process's umask (``0o644`` under 022).

    Temporary files are created private (``0o600``); outputs renamed into place get this mode
    instead, so that whoever reads the outputs of a scheduled job can.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is synced and renamed to ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "out.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (folder / "out.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['out.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write(path: Path, write: Callable[[Any], Any], binary: bool = False) -> Path:
    """Write ``path`` atomically by calling ``write(handle)`` on a temporary file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb" if binary else "w", newline=None if binary else "") as handle:
            write(handle)
            handle.flush()
    return path


# -- saving -----------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """numpy and pandas values as plain JSON values (recursively)."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    return value


def _settings(model: Model) -> dict[str, Any]:
    settings = dict(model.get_params())
    if settings.get("priors") is not None:
        settings["priors"] = {k: (v.to_dict() if hasattr(v, "to_dict") else dict(v)) for k, v in settings["priors"].items()}
    return _json_value(settings)


def _data_summary(model: Model) -> dict[str, Any]:
    """A few numbers that describe the data the model was fitted on (no customer ids)."""
    patterns, w = model._patterns_, model._pattern_weights_
    own = getattr(type(model), "data_description", None)
    if own is not None:  # a model kind that describes its own data (retention models)
        return {**own(patterns, w), "time_unit": getattr(model, "time_unit_", None)}
    columns = dict(zip(type(model).columns, patterns))
    x = columns["frequency"]
    summary = {"n_customers": int(round(float(w.sum()))), "n_patterns": int(len(w)),
               "mean_frequency": float(np.average(x, weights=w)), "max_frequency": float(np.max(x))}
    if type(model).kind == "transactions":
        age = type(model).columns[2]  # T, or n_periods in discrete time
        summary.update({"share_repeat_buyers": float(w[x > 0].sum() / w.sum()), f"mean_{age}": float(np.average(columns[age], weights=w)),
                        f"max_{age}": float(np.max(columns[age])), "time_unit": getattr(model, "time_unit_", None)})
    else:
        summary.update(mean_monetary_value=float(np.average(columns["monetary_value"], weights=w)),
                       frequency_spend_corr=getattr(model, "frequency_spend_corr_", None))
    return summary


def _metadata(model: Model) -> dict[str, Any]:
    from . import __version__

    method = getattr(model, "method_", "mle")
    fitted: dict[str, Any] = {
        "params": model.params_.to_dict(),
        "covariance": model.covariance_.to_numpy(),
        "covariance_log": model.covariance_log_.to_numpy(),
        "loglik": model.loglik_,
        "converged": model.converged_,
        "n_customers": model.n_customers_,
        "n_patterns": model.n_patterns_,
        "time_unit": getattr(model, "time_unit_", None),
    }
    for attr in ("optimizer_", "sampler_", "frequency_spend_corr_", "restricted_loglik_"):
        if hasattr(model, attr):
            fitted[attr.rstrip("_")] = getattr(model, attr)
    if getattr(model, "covariates_", None) is not None:
        # the covariate coding (columns per process, standardisation, levels and references)
        fitted["covariates"] = model.covariates_.to_dict()
    if hasattr(model, "priors_"):
        fitted["priors"] = {k: v.to_dict() for k, v in model.priors_.items()}
    return _json_value({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": type(model).key,
        "model_name": type(model).display_name,
        "method": method,
        "clvmodels_version": __version__,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": _settings(model),
        "data_summary": _data_summary(model),
        "fitted": fitted,
    })


def save_model(model: Model, path: str | os.PathLike) -> Path:
    """Save a fitted model atomically: JSON for ``mle`` and ``map`` fits, NetCDF for posteriors.

    Parameters
    ----------
    model : TransactionModel or SpendModel
        A fitted model of any registered kind; the file records its registry ``key``
        (``"bgnbd"``, ``"gamma-gamma"``, ...).
    path : str or path
        Target file. Use a ``.json`` name for maximum-likelihood and MAP fits and ``.nc`` for
        posterior fits (other suffixes are accepted; the wrong one of these two is refused).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import clvmodels
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = clvmodels.calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                            time_unit="W")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "bgnbd.json"
    >>> _ = clvmodels.BetaGeo().fit(data).save(path)
    >>> clvmodels.load(path).params_.round(4).tolist()
    [0.2426, 4.4136, 0.7929, 2.4259]
    """
    model._check_fitted()
    path = Path(path)
    meta = _metadata(model)
    posterior = getattr(model, "idata_", None) is not None
    suffix = path.suffix.lower()
    if posterior and suffix == ".json":
        raise ValueError(f"{path}: a {meta['method']} fit holds posterior draws and is saved as NetCDF; use a .nc name.")
    if not posterior and suffix in (".nc", ".netcdf", ".h5"):
        raise ValueError(f"{path}: a {meta['method']} fit is saved as JSON; use a .json name.")
    if posterior:
        idata = model.idata_
        attrs = dict(idata.attrs)
        try:
            idata.attrs["clvmodels"] = json.dumps(meta)
            with atomic_path(path) as tmp:
                idata.to_netcdf(str(tmp))
        finally:
            idata.attrs.clear()
            idata.attrs.update(attrs)
        return path
    patterns = {
        **{col: arr for col, arr in zip(type(model).columns, model._patterns_)},
        "weights": model._pattern_weights_,
    }
    # readable metadata, then the patterns compactly (one line; 182,000 patterns take 15 MB)
    head = json.dumps(meta, indent=1)
    text = head[: head.rindex("}")].rstrip() + ',\n "patterns": ' + json.dumps(_json_value(patterns), separators=(",", ":")) + "\n}\n"
    return _atomic_write(path, lambda handle: handle.write(text))


# -- loading ----------------------------------------------------------------------------------


_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
#: the methods a model file may record, and the file kind that holds each
_METHODS = ("mle", "map", *_POSTERIOR_METHODS)


def _model_classes() -> dict[str, type]:
    """The registered model classes by key (:func:`clvmodels.models.registry.registered`)."""
    from .models.registry import registered

    return registered()


def _columns(name: str) -> tuple[str, ...]:
    """The summary columns of a model's patterns, by key or class name."""
    from .models.registry import model_class

    return tuple(model_class(name).columns)


def load_model(path: str | os.PathLike, expected: type | None = None) -> Model:
    """Load a model saved by :func:`save_model` (``model.save``).

    Parameters
    ----------
    path : str or path
        A JSON or NetCDF model file. A UTF-8 byte-order mark and leading whitespace before the
        JSON are accepted.
    expected : type, optional
        The model class the file must hold (``BetaGeo.load(path)`` passes its class; a base
        class such as ``TransactionModel`` accepts any of its kind).

    Returns
    -------
    Model
        An instance of the registered class the file names (by key, or by class name in files
        of earlier versions), fitted as when it was saved: the same parameters, covariances,
        draws and settings, so that forecasts with the same seed are identical. The fitted
        state is set in one place, :meth:`~clvmodels.models.base.Model._set_fitted`.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a clvmodels model file (or not a regular file), is damaged, was written
        by a newer format version, names a model that is not registered (the message lists the
        registered ones), holds another model than ``expected``, or holds values that no fit
        produces: a parameter that is not a finite positive number, a covariance that is not
        symmetric positive definite, patterns that are not finite, JSON nested too deeply.

    Examples
    --------
    >>> import tempfile
    >>> import clvmodels
    >>> from clvmodels.datasets import load_cdnow_sample
    >>> data = clvmodels.calibration_holdout_split(load_cdnow_sample(), calibration_end="1997-09-30",
    ...                                            time_unit="W", amount_col="amount")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = clvmodels.GammaGamma().fit(data).save(Path(tmp) / "spend.json")
    ...     model = load_model(path)
    >>> type(model).__name__, model.method_, round(model.mean_spend(), 2)
    ('GammaGamma', 'mle', 35.17)
    >>> load_model("no-such-model.json")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no-such-model.json: no such model file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file.")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file (a folder, device or pipe); give the path of a model file saved by model.save(path).")
    with open(path, "rb") as handle:
        head = handle.read(len(_HDF5_SIGNATURE))
        if head.startswith(_HDF5_SIGNATURE):
            return _load_netcdf(path, expected)
        first = _first_byte(handle, head)
    if first == b"{":
        return _load_json(path, expected)
    raise ValueError(f"{path} is not a clvmodels model file (neither JSON nor NetCDF); save models with model.save(path).")


def _first_byte(handle: Any, head: bytes) -> bytes:
    """The first byte of the file after a UTF-8 byte-order mark and whitespace (b"" if none)."""
    chunk = head[len(_BOM):] if head.startswith(_BOM) else head
    while True:
        chunk = chunk.lstrip(_WHITESPACE)
        if chunk:
            return chunk[:1]
        chunk = handle.read(1 << 16)
        if not chunk:
            return b""


def _parse_json(text: str | bytes, path: Path, what: str = "") -> Any:
    """``json.loads`` with a clear error for invalid or too deeply nested JSON."""
    try:
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: damaged model file, {what}not valid JSON ({exc}).") from None
    except RecursionError:
        raise ValueError(
            f"{path}: damaged model file, {what}nested too deeply to be a clvmodels model file "
            "(a model file is a flat object of settings, estimates and patterns)."
        ) from None


def _check_meta(meta: Any, path: Path, expected: type | None) -> type:
    """Check the file's header; return the registered model class it names."""
    from .models.registry import model_class

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a clvmodels model file (no '{FORMAT}' format tag).")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{path}: damaged model file (format_version {version!r}).")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by clvmodels {meta.get('clvmodels_version', '?')} in model-file format "
            f"version {version}; this clvmodels reads up to version {FORMAT_VERSION}. Upgrade clvmodels to load it."
        )
    name = meta.get("model")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{path}: damaged model file, it names no model (field 'model' is {name!r}).")
    try:
        cls = model_class(name)
    except ValueError as exc:
        raise ValueError(
            f"{path} holds a model that this clvmodels does not know: {exc} A newer clvmodels, or "
            "the package that registers that model, may read it."
        ) from None
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(
            f"{path} holds a {cls.__name__} model, not a {expected.__name__}; load it with clvmodels.load(path) "
            f"or {cls.__name__}.load(path)."
        )
    if meta.get("method") not in _METHODS:
        raise ValueError(f"{path}: damaged model file, unknown fitting method {meta.get('method')!r}; expected one of {_METHODS}.")
    return cls


def _number(value: Any) -> float:
    """A JSON number as a float (not a bool, a string or null)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _check_params(cls: type, fitted: dict[str, Any], path: Path, names: tuple[str, ...] | None = None) -> np.ndarray:
    """The parameters in the model's order: each a finite positive number, or a clear error.

    Every parameter of every model is positive; a negative, zero, NaN or infinite value is no
    fit's output, and would make the formulas return NaN or loop for minutes. Covariate
    coefficients (``names`` beyond the model's own) are finite real numbers.
    """
    params = fitted["params"]
    if not isinstance(params, dict):
        raise TypeError(f"'params' is {type(params).__name__}, not an object")
    names = tuple(cls.param_names) if names is None else names
    values = np.empty(len(names))
    for i, name in enumerate(names):
        value = _number(params[name])
        if i >= len(cls.param_names):
            if not np.isfinite(value):
                raise ValueError(f"{path}: covariate coefficient {name} = {params[name]!r} is not a finite number; refit and save the model.")
            values[i] = value
            continue
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"{path}: parameter {name} = {params[name]!r} is not a finite positive number; every "
                f"{cls.display_name} parameter ({', '.join(cls.param_names)}) is positive. The file is damaged "
                "or was edited: refit and save the model."
            )
        values[i] = value
    return values


def _check_covariance(value: Any, k: int, name: str, path: Path) -> np.ndarray:
    """A k x k covariance: symmetric positive definite, or all NaN (a fit without one)."""
    cov = np.array(value, dtype=np.float64)
    if cov.shape != (k, k):
        raise ValueError(f"{path}: damaged model file, '{name}' is {cov.shape}, not a {k} x {k} matrix.")
    if np.all(np.isnan(cov)):
        return cov  # a fit that did not converge has no covariance (sample_params says so)
    if not np.all(np.isfinite(cov)):
        raise ValueError(
            f"{path}: '{name}' holds NaN or infinite entries beside finite ones; a saved covariance "
            "is either finite or, for a fit that did not converge, all NaN. Refit and save the model."
        )
    scale = float(np.max(np.abs(cov))) or 1.0
    if np.max(np.abs(cov - cov.T)) > 1e-8 * scale:
        raise ValueError(f"{path}: '{name}' is not symmetric, so it is not a covariance matrix; refit and save the model.")
    sym = (cov + cov.T) / 2.0
    smallest = float(np.linalg.eigvalsh(sym).min())
    if smallest < -1e-10 * scale:
        raise ValueError(
            f"{path}: '{name}' is not positive semi-definite (smallest eigenvalue {smallest:.3g}), so it is "
            "not a covariance matrix; refit and save the model."
        )
    try:
        np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{path}: '{name}' is singular (positive semi-definite but not positive definite), so no "
            "parameter draws can be made from it; refit and save the model."
        ) from None
    return cov


def _check_patterns(cls: type, arrays: tuple[np.ndarray, ...], weights: np.ndarray, path: Path) -> None:
    """Finite, non-negative pattern columns of one length with positive weights."""
    columns = (*cls.columns, "weights")
    values = (*arrays, weights)
    if any(v.ndim != 1 for v in values) or len({len(v) for v in values}) != 1:
        raise ValueError(f"{path}: damaged model file, the pattern columns differ in length.")
    for col, v in zip(columns, values):
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"{path}: damaged model file, pattern column {col!r} holds negative, NaN or infinite values.")
    if not np.all(weights > 0):
        raise ValueError(f"{path}: damaged model file, pattern weights must be positive.")


def _fit_result(cls: type, meta: dict[str, Any], path: Path, patterns: tuple[np.ndarray, ...] | None,
                weights: np.ndarray | None, idata: Any = None) -> Any:
    """The :class:`~clvmodels.inference.result.FitResult` a file describes, every value checked."""
    from .inference.bayes import Prior
    from .inference.result import FitResult
    from .units import normalize_unit

    fitted = meta["fitted"]
    if not isinstance(fitted, dict):
        raise TypeError(f"'fitted' is {type(fitted).__name__}, not an object")
    spec = None
    if fitted.get("covariates") is not None:
        from .models.covariates import CovariateSpec

        spec = CovariateSpec.from_dict(fitted["covariates"])
    names = tuple(cls.param_names) + (tuple(spec.coefficient_names()) if spec is not None else ())
    k = len(names)
    params = _check_params(cls, fitted, path, names)
    covariance = _check_covariance(fitted["covariance"], k, "covariance", path)
    covariance_log = _check_covariance(fitted["covariance_log"], k, "covariance_log", path)
    loglik = _number(fitted["loglik"])
    converged = fitted["converged"]
    if not isinstance(converged, bool):
        raise TypeError(f"'converged' is {converged!r}, not true or false")
    n_customers, n_patterns = _number(fitted["n_customers"]), _number(fitted["n_patterns"])
    if not (n_customers >= 1 and n_patterns >= 1 and n_customers == int(n_customers) and n_patterns == int(n_patterns)):
        raise ValueError(f"{path}: damaged model file, n_customers and n_patterns must be whole numbers >= 1.")
    unit = fitted.get("time_unit")
    if unit is not None:
        try:
            unit = normalize_unit(unit)
        except ValueError as exc:
            raise ValueError(f"{path}: damaged model file, {exc}") from None
    extra: dict[str, Any] = {}
    if unit is None:
        extra["time_unit_"] = None  # fitted on data of unknown unit, as the saved model was
    if "frequency_spend_corr" in fitted:
        extra["frequency_spend_corr_"] = fitted["frequency_spend_corr"]
    if spec is not None:
        extra["covariates_"] = spec
    if "restricted_loglik" in fitted:
        extra["restricted_loglik_"] = _number(fitted["restricted_loglik"])
    priors = None
    if "priors" in fitted:
        priors = {k_: Prior.from_dict(v) for k_, v in fitted["priors"].items()}
    return FitResult(
        method=meta["method"],
        params=params,
        covariance=covariance,
        covariance_log=covariance_log,
        loglik=loglik,
        converged=converged,
        n_customers=int(n_customers),
        patterns=patterns,
        weights=weights,
        n_patterns=int(n_patterns),
        optimizer=fitted.get("optimizer"),
        idata=idata,
        sampler=fitted.get("sampler"),
        priors=priors,
        time_unit=unit,
        extra=extra,
    )


def _new_model(cls: type, meta: dict[str, Any]) -> Model:
    """An unfitted model with the file's settings (unknown settings are left out)."""
    from .inference.bayes import Prior

    settings = meta.get("settings", {})
    if not isinstance(settings, dict):
        raise TypeError(f"'settings' is {type(settings).__name__}, not an object")
    settings = dict(settings)
    if settings.get("priors") is not None:
        settings["priors"] = {k: Prior.from_dict(v) for k, v in settings["priors"].items()}
    known = set(cls().get_params())
    return cls(**{k: v for k, v in settings.items() if k in known})


_DAMAGE = (KeyError, TypeError, AttributeError)


def _load_json(path: Path, expected: type | None) -> Model:
    raw = path.read_bytes()
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    meta = _parse_json(raw, path)
    cls = _check_meta(meta, path, expected)
    if meta["method"] in _POSTERIOR_METHODS:
        raise ValueError(f"{path}: damaged model file, a {meta['method']} fit is saved as NetCDF, not JSON.")
    try:
        patterns = meta["patterns"]
        arrays = tuple(np.array(patterns[c], dtype=np.float64) for c in cls.columns)
        weights = np.array(patterns["weights"], dtype=np.float64)
        _check_patterns(cls, arrays, weights, path)
        model = _new_model(cls, meta)
        result = _fit_result(cls, meta, path, arrays, weights)
    except (*_DAMAGE, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: damaged model file, a field is missing or malformed ({exc!r}).") from None
    model._set_fitted(result)
    return model


def _load_netcdf(path: Path, expected: type | None) -> Model:
    import arviz as az

    try:
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(path))
    except Exception as exc:  # h5py / h5netcdf raise OSError, KeyError, ValueError on damage
        raise ValueError(f"{path}: damaged NetCDF model file ({type(exc).__name__}: {exc}).") from None
    text = idata.attrs.get("clvmodels")
    if text is None:
        raise ValueError(f"{path} is a NetCDF file but not a clvmodels model file (no 'clvmodels' attribute).")
    meta = _parse_json(text, path, "its metadata are ")
    cls = _check_meta(meta, path, expected)
    try:
        const = idata.constant_data
        arrays = tuple(np.asarray(const[c].values, dtype=np.float64) for c in cls.columns)
        weights = np.asarray(const["weights"].values, dtype=np.float64)
        missing = [n for n in cls.param_names if n not in idata.posterior]
        if missing:
            raise KeyError(f"posterior lacks {missing}")
        for name in cls.param_names:
            draws = np.asarray(idata.posterior[name].values, dtype=np.float64)
            if draws.size == 0 or not np.all(np.isfinite(draws)) or np.any(draws <= 0):
                raise ValueError(
                    f"{path}: the posterior draws of {name} are not all finite positive numbers; the file is "
                    "damaged or was edited: refit and save the model."
                )
        _check_patterns(cls, arrays, weights, path)
        model = _new_model(cls, meta)
        del idata.attrs["clvmodels"]
        result = _fit_result(cls, meta, path, arrays, weights, idata=idata)
    except (*_DAMAGE, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: damaged model file, a group or field is missing ({exc!r}).") from None
    model._set_fitted(result)
    return model
