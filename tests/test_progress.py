"""Progress reporting: log lines in batch jobs, nothing when turned off, a bar where watched."""

from __future__ import annotations

import logging

import numpy as np

from clvmodels import BetaGeo, forecast, progress


def test_batch_jobs_get_log_lines(monkeypatch, caplog, cdnow_calibration):
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    monkeypatch.setattr(progress, "watched", lambda: False)
    model = BetaGeo().fit(cdnow_calibration)
    with caplog.at_level(logging.INFO, logger="clvmodels"):
        forecast(model, None, cdnow_calibration, horizon=52, discount_rate=0.1, n_draws=20, random_seed=1,
                 memory_budget=1, n_jobs=1)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("forecast")]
    assert lines and lines[-1].startswith("forecast: done")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="clvmodels"):
        forecast(model, None, cdnow_calibration, horizon=52, discount_rate=0.1, n_draws=20, random_seed=1,
                 memory_budget=1, n_jobs=1, progress=False)
    assert not [r for r in caplog.records if r.getMessage().startswith("forecast")]


def test_a_watched_session_gets_a_bar(monkeypatch, capsys):
    monkeypatch.setattr(progress, "watched", lambda: True)
    with progress.progress(5, "refits", unit="refits") as bar:
        for _ in range(5):
            bar.update()
    from tqdm import tqdm

    assert isinstance(bar, tqdm) and bar.n == 5


def test_bootstrap_draws_do_not_depend_on_workers(cdnow_calibration):
    model = BetaGeo().fit(cdnow_calibration)
    one = model.sample_params(6, method="bootstrap", random_seed=4, n_jobs=1)
    two = model.sample_params(6, method="bootstrap", random_seed=4, n_jobs=2)
    np.testing.assert_array_equal(one.to_numpy(), two.to_numpy())
