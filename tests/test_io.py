"""Model files: JSON for maximum-likelihood and MAP fits, NetCDF for posteriors; clear errors;
atomic writes."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels import BetaGeo, GammaGamma, NotFittedError, Prior
from clvmodels.io import FORMAT_VERSION, _atomic_write, atomic_path

from .published import cdnow_summary

FORECAST = {"horizon": 52, "discount_rate": 0.15, "n_draws": 300, "random_seed": 9}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_summary()


@pytest.fixture(scope="module")
def mle_models(cdnow):
    return BetaGeo().fit(cdnow), GammaGamma().fit(cdnow)


@pytest.fixture(scope="module")
def posterior_models(cdnow):
    priors = {"q": Prior("Gamma", alpha=3.0, beta=1.0)}
    return BetaGeo(random_seed=1, draws=500).fit(cdnow, method="nuts"), GammaGamma(
        random_seed=2, draws=500, priors=priors).fit(cdnow, method="nuts")


def _same_fitted_state(a, b):
    assert type(a) is type(b) and a.get_params() == b.get_params()
    pd.testing.assert_series_equal(a.params_, b.params_)
    pd.testing.assert_frame_equal(a.covariance_, b.covariance_)
    pd.testing.assert_frame_equal(a.covariance_log_, b.covariance_log_)
    assert (a.loglik_, a.converged_, a.n_customers_, a.n_patterns_, a.method_) == (
        b.loglik_, b.converged_, b.n_customers_, b.n_patterns_, b.method_)
    for x, y in zip(a._patterns_, b._patterns_):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a._pattern_weights_, b._pattern_weights_)


def test_mle_json_round_trip_gives_identical_forecasts(mle_models, cdnow, tmp_path):
    bg, gg = mle_models
    bg.save(tmp_path / "bg.json")
    gg.save(tmp_path / "gg.json")
    bg2, gg2 = clvmodels.load(tmp_path / "bg.json"), GammaGamma.load(tmp_path / "gg.json")
    _same_fitted_state(bg, bg2)
    _same_fitted_state(gg, gg2)
    assert bg2.time_unit_ == "W" and gg2.frequency_spend_corr_ == gg.frequency_spend_corr_
    assert bg2.optimizer_["max_abs_gradient"] == bg.optimizer_["max_abs_gradient"]
    before = clvmodels.forecast(bg, gg, cdnow, **FORECAST).to_frame()
    after = clvmodels.forecast(bg2, gg2, cdnow, **FORECAST).to_frame()
    pd.testing.assert_frame_equal(before, after)
    # the patterns travel with the model, so the bootstrap still works after loading
    pd.testing.assert_frame_equal(gg.sample_params(20, method="bootstrap", random_seed=1, n_jobs=1),
                                  gg2.sample_params(20, method="bootstrap", random_seed=1, n_jobs=1))
    meta = json.loads((tmp_path / "bg.json").read_text())
    assert meta["format"] == "clvmodels-model" and meta["format_version"] == FORMAT_VERSION
    assert meta["model"] == "bgnbd" and meta["model_name"] == "BG/NBD" and meta["method"] == "mle" and meta["clvmodels_version"] == clvmodels.__version__
    assert meta["data_summary"]["n_customers"] == 2357 and meta["data_summary"]["time_unit"] == "W"
    assert meta["settings"]["penalty"] == 0.0


def test_posterior_netcdf_round_trip_gives_identical_forecasts(posterior_models, cdnow, tmp_path):
    bg, gg = posterior_models
    bg.save(tmp_path / "bg.nc")
    gg.save(tmp_path / "gg.nc")
    bg2, gg2 = BetaGeo.load(tmp_path / "bg.nc"), clvmodels.load(tmp_path / "gg.nc")
    _same_fitted_state(bg, bg2)
    _same_fitted_state(gg, gg2)
    assert gg2.priors == {"q": Prior("Gamma", alpha=3.0, beta=1.0)} and gg2.priors_ == gg.priors_
    assert gg2.sampler_["sampler"] == gg.sampler_["sampler"]
    assert set(bg2.idata_.groups()) == set(bg.idata_.groups())
    xr_equal = bg2.idata_.posterior.equals(bg.idata_.posterior)
    assert xr_equal and bg2.idata_.log_likelihood.equals(bg.idata_.log_likelihood)
    assert "clvmodels" not in bg.idata_.attrs and "clvmodels" not in bg2.idata_.attrs
    pd.testing.assert_frame_equal(bg.summary(), bg2.summary())
    before = clvmodels.forecast(bg, gg, cdnow, **FORECAST).to_frame()
    after = clvmodels.forecast(bg2, gg2, cdnow, **FORECAST).to_frame()
    pd.testing.assert_frame_equal(before, after)
    # the file is an ordinary ArviZ NetCDF file
    assert az.from_netcdf(tmp_path / "bg.nc").posterior["r"].shape == (4, 500)


def test_map_fit_is_saved_as_json(cdnow, tmp_path):
    model = GammaGamma().fit(cdnow, method="map")
    model.save(tmp_path / "map.json")
    loaded = clvmodels.load(tmp_path / "map.json")
    _same_fitted_state(model, loaded)
    assert {k: v.to_dict() for k, v in loaded.priors_.items()} == {k: v.to_dict() for k, v in model.priors_.items()}
    pd.testing.assert_frame_equal(model.sample_params(50, random_seed=1), loaded.sample_params(50, random_seed=1))


def test_wrong_model_type_is_refused(mle_models, tmp_path):
    mle_models[1].save(tmp_path / "gg.json")
    with pytest.raises(ValueError, match="holds a GammaGamma model, not a BetaGeo"):
        BetaGeo.load(tmp_path / "gg.json")


def test_damaged_and_foreign_files_are_refused(mle_models, posterior_models, tmp_path):
    mle_models[0].save(tmp_path / "ok.json")
    text = (tmp_path / "ok.json").read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="damaged model file, not valid JSON"):
        clvmodels.load(tmp_path / "cut.json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a clvmodels model file"):
        clvmodels.load(tmp_path / "other.json")
    meta = json.loads(text)
    del meta["fitted"]["params"]
    (tmp_path / "missing.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="a field is missing"):
        clvmodels.load(tmp_path / "missing.json")
    (tmp_path / "noise.bin").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ValueError, match="not a clvmodels model file"):
        clvmodels.load(tmp_path / "noise.bin")
    posterior_models[0].save(tmp_path / "ok.nc")
    data = (tmp_path / "ok.nc").read_bytes()
    (tmp_path / "cut.nc").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="damaged NetCDF model file"):
        clvmodels.load(tmp_path / "cut.nc")
    idata = az.from_netcdf(str(tmp_path / "ok.nc"))
    idata.posterior["r"][0, 3] = -1.0  # a draw no fit makes
    idata.to_netcdf(str(tmp_path / "negative.nc"))
    with pytest.raises(ValueError, match="posterior draws of r are not all finite positive"):
        clvmodels.load(tmp_path / "negative.nc")
    az.from_dict(posterior={"r": np.ones((2, 5))}).to_netcdf(str(tmp_path / "plain.nc"))
    with pytest.raises(ValueError, match="not a clvmodels model file"):
        clvmodels.load(tmp_path / "plain.nc")
    with pytest.raises(FileNotFoundError):
        clvmodels.load(tmp_path / "absent.json")


def test_a_newer_format_version_is_refused(mle_models, tmp_path):
    mle_models[0].save(tmp_path / "ok.json")
    meta = json.loads((tmp_path / "ok.json").read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    (tmp_path / "future.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="Upgrade clvmodels"):
        clvmodels.load(tmp_path / "future.json")


def test_format_follows_the_fit(mle_models, posterior_models, tmp_path):
    with pytest.raises(ValueError, match="use a .nc name"):
        posterior_models[0].save(tmp_path / "bg.json")
    with pytest.raises(ValueError, match="use a .json name"):
        mle_models[0].save(tmp_path / "bg.nc")
    with pytest.raises(NotFittedError):
        BetaGeo().save(tmp_path / "unfitted.json")


def test_writes_are_atomic(mle_models, tmp_path):
    target = tmp_path / "model.json"
    mle_models[0].save(target)
    before = target.read_bytes()

    def fail(handle):
        handle.write("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _atomic_write(target, fail)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # no temporary file left
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "new.nc") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    # a second save replaces the file whole
    mle_models[0].save(target)
    assert clvmodels.load(target).params_.equals(mle_models[0].params_)


# -- the registry and hostile model files (issue 11; issue 15 section 7) ----------------------------


@pytest.fixture()
def saved(mle_models, tmp_path):
    """The BG/NBD model file's path and its parsed JSON."""
    path = mle_models[0].save(tmp_path / "ok.json")
    return path, json.loads(path.read_text())


def _write(path, meta):
    path.write_text(json.dumps(meta))  # json writes NaN and Infinity literally
    return path


def test_files_naming_the_class_still_load(mle_models, saved, tmp_path):
    _, meta = saved
    for name in ("BetaGeo", "BG/NBD", "bgnbd"):
        meta["model"] = name
        loaded = clvmodels.load(_write(tmp_path / "old.json", meta))
        assert type(loaded) is BetaGeo
        pd.testing.assert_series_equal(loaded.params_, mle_models[0].params_)
    gg_meta = json.loads(mle_models[1].save(tmp_path / "gg.json").read_text())
    assert gg_meta["model"] == "gamma-gamma"
    gg_meta["model"] = "GammaGamma"
    assert type(GammaGamma.load(_write(tmp_path / "gg-old.json", gg_meta))) is GammaGamma


def test_an_unknown_model_is_a_clear_error_listing_the_registered_ones(saved, tmp_path):
    _, meta = saved
    meta["model"] = "weibull-nbd"
    with pytest.raises(ValueError, match="unknown model 'weibull-nbd'; registered: 'bgnbd' \\(BG/NBD\\).*'gamma-gamma'"):
        clvmodels.load(_write(tmp_path / "unknown.json", meta))
    meta["model"] = None
    with pytest.raises(ValueError, match="names no model"):
        clvmodels.load(_write(tmp_path / "none.json", meta))


def test_load_sets_the_fitted_state_only_through_set_fitted(saved, monkeypatch):
    from clvmodels.inference.result import FitResult
    from clvmodels.models.base import Model

    results = []
    monkeypatch.setattr(Model, "_set_fitted", lambda self, result: results.append(result))
    model = clvmodels.load(saved[0])
    assert len(results) == 1 and isinstance(results[0], FitResult)
    assert not model.is_fitted and not [k for k in vars(model) if k.endswith("_")]
    assert results[0].time_unit == "W" and results[0].n_customers == 2357


@pytest.mark.parametrize("value", [-0.5, 0.0, float("nan"), float("inf"), float("-inf"), "0.5", None, True])
def test_a_parameter_that_no_fit_gives_is_refused_at_once(saved, tmp_path, value):
    _, meta = saved
    meta["fitted"]["params"]["alpha"] = value
    path = _write(tmp_path / "bad.json", meta)
    expected = "parameter alpha = .* is not a finite positive number" if isinstance(value, float) else "malformed"
    with pytest.raises(ValueError, match=expected):
        clvmodels.load(path)


def test_a_covariance_that_is_not_one_is_a_clear_error(saved, tmp_path):
    _, meta = saved
    good = np.array(meta["fitted"]["covariance_log"])
    cases = {
        "not symmetric": good + np.triu(np.full((4, 4), 0.01), 1),
        "not positive semi-definite": good - 2 * np.eye(4) * np.abs(good).max(),
        "singular": np.outer([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]) * 1e-3,
        "NaN or infinite entries beside finite": np.where(np.eye(4) == 1, good, np.inf),
        "not a 4 x 4 matrix": good[:3, :3],
    }
    for message, cov in cases.items():
        for field in ("covariance", "covariance_log"):
            bad = json.loads(json.dumps(meta))
            bad["fitted"][field] = cov.tolist()
            with pytest.raises(ValueError, match=message):
                clvmodels.load(_write(tmp_path / "cov.json", bad))
    # a fit that did not converge has an all-NaN covariance: it loads, and says why no draws
    meta["fitted"]["covariance_log"] = np.full((4, 4), np.nan).tolist()
    meta["fitted"]["covariance"] = np.full((4, 4), np.nan).tolist()
    model = clvmodels.load(_write(tmp_path / "nan.json", meta))
    with pytest.raises(ValueError, match="no finite covariance"):
        model.sample_params(10)


def test_deeply_nested_json_is_a_clear_error(saved, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ValueError, match="nested too deeply"):
        clvmodels.load(path)
    _, meta = saved
    meta["settings"]["priors"] = {"r": json.loads("[" * 50 + "]" * 50)}
    with pytest.raises(ValueError, match="damaged model file"):
        clvmodels.load(_write(tmp_path / "priors.json", meta))


def test_a_byte_order_mark_or_leading_whitespace_is_read(mle_models, saved, tmp_path):
    path, _ = saved
    text = path.read_bytes()
    for prefix in (b"\xef\xbb\xbf", b" " * 70_000, b"\n\t\r\n  ", b"\xef\xbb\xbf\n\n  "):
        other = tmp_path / "prefixed.json"
        other.write_bytes(prefix + text)
        pd.testing.assert_series_equal(clvmodels.load(other).params_, mle_models[0].params_)
    (tmp_path / "blank.json").write_bytes(b"\xef\xbb\xbf" + b" " * 100)
    with pytest.raises(ValueError, match="not a clvmodels model file"):
        clvmodels.load(tmp_path / "blank.json")


def test_a_folder_or_a_pipe_is_refused_without_hanging(tmp_path):
    import os

    with pytest.raises(ValueError, match="not a regular file"):
        clvmodels.load(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.json")
        with pytest.raises(ValueError, match="not a regular file"):
            clvmodels.load(tmp_path / "pipe.json")


def test_damaged_patterns_are_refused(saved, tmp_path):
    _, meta = saved
    for column, value in (("recency", float("nan")), ("T", -1.0), ("weights", 0.0)):
        bad = json.loads(json.dumps(meta))
        bad["patterns"][column][0] = value
        with pytest.raises(ValueError, match=f"pattern (column '{column}'|weights)"):
            clvmodels.load(_write(tmp_path / "patterns.json", bad))
    bad = json.loads(json.dumps(meta))
    bad["patterns"]["T"] = bad["patterns"]["T"][:-1]
    with pytest.raises(ValueError, match="differ in length"):
        clvmodels.load(_write(tmp_path / "short.json", bad))
