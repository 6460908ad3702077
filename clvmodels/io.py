"""Model files and atomic writes.

A fitted model is saved as

JSON (maximum likelihood and MAP fits)
    one object: the format name and version, the model name, the fitting method, the
    package version, the settings, a summary of the data, the fitted state (parameters, both
    covariances, log-likelihood, convergence and optimiser diagnostics) and the weighted
    customer patterns the model was fitted on (so that a loaded model can still draw bootstrap
    parameters or rebuild its PyMC model). Floats are written with 17 significant digits, so
    a loaded model reproduces the saved one exactly.
NetCDF (NUTS and ADVI fits)
    the ArviZ ``InferenceData`` (``posterior``, ``sample_stats``, ``observed_data``,
    ``constant_data`` with the weighted patterns, and ``log_likelihood`` when it was stored),
    with the same metadata as a JSON string in the file's attribute ``clvmodels``.

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
import pandas as pd

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
    x = patterns[0]
    summary = {"n_customers": int(round(float(w.sum()))), "n_patterns": int(len(w)),
               "mean_frequency": float(np.average(x, weights=w)), "max_frequency": float(np.max(x))}
    if type(model).__name__ == "BetaGeo":
        summary.update(share_repeat_buyers=float(w[x > 0].sum() / w.sum()), mean_T=float(np.average(patterns[2], weights=w)),
                       max_T=float(np.max(patterns[2])), time_unit=getattr(model, "time_unit_", None))
    else:
        summary.update(mean_monetary_value=float(np.average(patterns[1], weights=w)),
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
    for attr in ("optimizer_", "sampler_", "frequency_spend_corr_"):
        if hasattr(model, attr):
            fitted[attr.rstrip("_")] = getattr(model, attr)
    if hasattr(model, "priors_"):
        fitted["priors"] = {k: v.to_dict() for k, v in model.priors_.items()}
    return _json_value({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": type(model).__name__,
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
    model : BetaGeo or GammaGamma
        A fitted model.
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
        **{col: arr for col, arr in zip(_columns(meta["model"]), model._patterns_)},
        "weights": model._pattern_weights_,
    }
    # readable metadata, then the patterns compactly (one line; 182,000 patterns take 15 MB)
    head = json.dumps(meta, indent=1)
    text = head[: head.rindex("}")].rstrip() + ',\n "patterns": ' + json.dumps(_json_value(patterns), separators=(",", ":")) + "\n}\n"
    return _atomic_write(path, lambda handle: handle.write(text))


def _columns(name: str) -> tuple[str, ...]:
    return ("frequency", "recency", "T") if name == "BetaGeo" else ("frequency", "monetary_value")


# -- loading ----------------------------------------------------------------------------------


def _model_classes() -> dict[str, type]:
    from .models.beta_geo import BetaGeo
    from .models.gamma_gamma import GammaGamma

    return {"BetaGeo": BetaGeo, "GammaGamma": GammaGamma}


def load_model(path: str | os.PathLike, expected: type | None = None) -> Model:
    """Load a model saved by :func:`save_model` (``model.save``).

    Parameters
    ----------
    path : str or path
        A JSON or NetCDF model file.
    expected : type, optional
        The model class the file must hold (``BetaGeo.load(path)`` passes its class).

    Returns
    -------
    BetaGeo or GammaGamma
        Fitted as when it was saved: the same parameters, covariances, draws and settings, so
        that forecasts with the same seed are identical.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a clvmodels model file, is damaged, was written by a newer format
        version, or holds another model than ``expected``.

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
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file.")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(_HDF5_SIGNATURE):
        return _load_netcdf(path, expected)
    if head.lstrip()[:1] == b"{":
        return _load_json(path, expected)
    raise ValueError(f"{path} is not a clvmodels model file (neither JSON nor NetCDF); save models with model.save(path).")


def _check_meta(meta: Any, path: Path, expected: type | None) -> dict[str, Any]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a clvmodels model file (no '{FORMAT}' format tag).")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: damaged model file (format_version {version!r}).")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by clvmodels {meta.get('clvmodels_version', '?')} in model-file format "
            f"version {version}; this clvmodels reads up to version {FORMAT_VERSION}. Upgrade clvmodels to load it."
        )
    name = meta.get("model")
    classes = _model_classes()
    if name not in classes:
        raise ValueError(f"{path} holds an unknown model {name!r}; known: {sorted(classes)}.")
    if expected is not None and name != expected.__name__:
        raise ValueError(
            f"{path} holds a {name} model, not a {expected.__name__}; load it with clvmodels.load(path) "
            f"or {name}.load(path)."
        )
    return meta


def _new_model(meta: dict[str, Any]) -> Model:
    from .inference.bayes import Prior

    cls = _model_classes()[meta["model"]]
    settings = dict(meta.get("settings", {}))
    if settings.get("priors") is not None:
        settings["priors"] = {k: Prior.from_dict(v) for k, v in settings["priors"].items()}
    known = set(cls().get_params())
    model = cls(**{k: v for k, v in settings.items() if k in known})
    fitted = meta["fitted"]
    names = list(cls.param_names)
    model.method_ = meta["method"]
    model.params_ = pd.Series([float(fitted["params"][n]) for n in names], index=names, name="estimate")
    model.covariance_ = pd.DataFrame(np.array(fitted["covariance"], dtype=np.float64), index=names, columns=names)
    model.covariance_log_ = pd.DataFrame(np.array(fitted["covariance_log"], dtype=np.float64), index=names, columns=names)
    model.loglik_ = float(fitted["loglik"])
    model.converged_ = bool(fitted["converged"])
    model.n_customers_ = int(fitted["n_customers"])
    model.n_patterns_ = int(fitted["n_patterns"])
    model.time_unit_ = fitted.get("time_unit")
    for key in ("optimizer", "sampler"):
        if key in fitted:
            setattr(model, f"{key}_", fitted[key])
    if "frequency_spend_corr" in fitted:
        model.frequency_spend_corr_ = fitted["frequency_spend_corr"]
    if "priors" in fitted:
        model.priors_ = {k: Prior.from_dict(v) for k, v in fitted["priors"].items()}
    return model


def _load_json(path: Path, expected: type | None) -> Model:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: damaged model file, not valid JSON ({exc}).") from None
    meta = _check_meta(meta, path, expected)
    try:
        model = _new_model(meta)
        columns = _columns(meta["model"])
        patterns = meta["patterns"]
        model._patterns_ = tuple(np.array(patterns[c], dtype=np.float64) for c in columns)
        model._pattern_weights_ = np.array(patterns["weights"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: damaged model file, a field is missing or malformed ({exc!r}).") from None
    if len({len(p) for p in (*model._patterns_, model._pattern_weights_)}) != 1:
        raise ValueError(f"{path}: damaged model file, the pattern columns differ in length.")
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
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: damaged model file, its metadata are not valid JSON ({exc}).") from None
    meta = _check_meta(meta, path, expected)
    try:
        model = _new_model(meta)
        columns = _columns(meta["model"])
        const = idata.constant_data
        model._patterns_ = tuple(np.asarray(const[c].values, dtype=np.float64) for c in columns)
        model._pattern_weights_ = np.asarray(const["weights"].values, dtype=np.float64)
        missing = [n for n in model.param_names if n not in idata.posterior]
        if missing:
            raise KeyError(f"posterior lacks {missing}")
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: damaged model file, a group or field is missing ({exc!r}).") from None
    del idata.attrs["clvmodels"]
    model.idata_ = idata
    return model
