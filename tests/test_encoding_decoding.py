"""Lever decoding: ridge with lags, all alphas at once, GCV, trials as folds, ROI matching."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import thalamocortex.config  # noqa: F401
from thalamocortex.data.errors import DataError
from thalamocortex.encoding.decoding import (
    decode_trajectory,
    lagged_trial_design,
    ridge_gcv_predict,
    trial_folds,
    trial_pattern_similarity,
)

FR = 10.0


def _lever_session(rng, n_rois=40, n_enc=20, gain=1.0, n_trials=60, lead_frames=3):
    n_frames = int((n_trials * 8 + 20) * FR)
    t = np.arange(n_frames) / FR
    onsets = 10 + np.arange(n_trials) * 8 + rng.uniform(0, 2, n_trials)
    lever = np.zeros(n_frames)
    for o in onsets:
        tau = t - o
        lever += np.where((tau >= 0) & (tau < 1.5), np.sin(np.pi * tau / 1.5), 0) * rng.uniform(
            0.5, 1.5
        )
    w = np.zeros(n_rois)
    w[:n_enc] = gain * rng.uniform(0.5, 1.5, n_enc)
    # encoding ROIs lead the lever by lead_frames
    dff = np.roll(lever, -lead_frames)[:, None] * w + rng.normal(0, 1.0, (n_frames, n_rois))
    return t, onsets, lever, dff


def test_ridge_matches_sklearn_for_every_alpha():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1, 150, 8))
    y = X[0] @ rng.normal(size=8) + rng.normal(size=150) + 3.0
    Xt = rng.normal(size=(1, 40, 8))
    for a in (0.01, 5.0, 500.0):
        pred, chosen = ridge_gcv_predict(X, y, Xt, np.array([a]))
        ref = make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(X[0], y).predict(Xt[0])
        np.testing.assert_allclose(pred[0], ref, rtol=1e-8)
        assert chosen[0] == a


def test_gcv_prefers_strong_ridge_on_noise_and_weak_on_signal():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 300, 30))
    y_sig = X[0] @ rng.normal(size=30)
    alphas = np.array([1e-2, 1e6])
    _, a = ridge_gcv_predict(X[:1], y_sig, X[:1, :10], alphas)
    assert a[0] == 1e-2
    _, a = ridge_gcv_predict(X[1:], rng.normal(size=300), X[1:, :10], alphas)
    assert a[0] == 1e6


def test_design_shapes_and_lags():
    rng = np.random.default_rng(2)
    t, onsets, lever, dff = _lever_session(rng, n_rois=3, n_enc=2, n_trials=5)
    X, y, ts = lagged_trial_design(dff, lever, t, onsets, (-0.5, 2.0), (-0.4, 0.4), 2)
    assert X.shape == (5, 26, 5, 3) and y.shape == (5, 26)
    i0 = np.searchsorted(t, onsets[0])
    # lag -0.4 s = 4 frames before the decoded sample
    assert X[0, 5, 0, 1] == pytest.approx(dff[i0 + 0 - 4, 1])
    np.testing.assert_allclose(y[0], lever[i0 - 5 : i0 + 21])
    with pytest.raises(DataError, match="same number of frames"):
        lagged_trial_design(dff[:-1], lever, t, onsets, (-0.5, 2.0), (0, 0))


def test_decoding_grows_with_encoding_and_is_null_without():
    rng = np.random.default_rng(3)
    scores = []
    for gain in (0.0, 0.3, 1.0):
        t, onsets, lever, dff = _lever_session(rng, gain=gain)
        X, y, ts = lagged_trial_design(dff, lever, t, onsets, (-0.5, 2.0), (-0.5, 0.5), 2)
        res = decode_trajectory(X, y, ts, n_rois=20, n_subsamples=8, seed=0)
        scores.append(res)
    assert scores[0].r2 < 0.02 and abs(scores[0].r) < 0.15
    assert scores[0].r2 < scores[1].r2 < scores[2].r2
    assert scores[2].r2 > 0.5
    assert np.nanmedian(scores[2].trial_r) > 0.7
    assert scores[2].r2_subsets.shape == (8,) and scores[2].alpha.shape == (8, 5)


def test_matched_roi_count_equalises_regions():
    """Two regions with equal per-ROI encoding but 4x different ROI counts decode alike."""
    rng = np.random.default_rng(4)
    t, onsets, lever, big = _lever_session(rng, n_rois=80, n_enc=40, gain=0.4)
    # the small region sees the same lever with its own ROIs
    w = np.r_[0.4 * rng.uniform(0.5, 1.5, 10), np.zeros(10)]
    small = np.roll(lever, -3)[:, None] * w + rng.normal(0, 1.0, (len(t), 20))
    r = {}
    for name, d in (("big", big), ("small", small)):
        X, y, ts = lagged_trial_design(d, lever, t, onsets, (-0.5, 2.0), (-0.5, 0.5), 2)
        r[name] = decode_trajectory(X, y, ts, n_rois=20, n_subsamples=10, seed=1).r2
        all_rois = decode_trajectory(X, y, ts, n_rois=X.shape[3], n_subsamples=1, seed=1).r2
        r[name + "_all"] = all_rois
    assert abs(r["big"] - r["small"]) < 0.1
    assert r["big_all"] > r["small_all"] + 0.1  # unmatched counts would favour the big one
    with pytest.raises(DataError, match="ROIs requested"):
        decode_trajectory(X, y, ts, n_rois=50)


def test_folds_and_pattern_similarity():
    folds = trial_folds(23, 5, np.random.default_rng(0))
    assert np.bincount(folds).tolist() == [5, 5, 5, 4, 4]
    rng = np.random.default_rng(6)
    pattern = rng.normal(size=(10, 4))
    tens = pattern[None] + rng.normal(0, 0.5, (30, 10, 4))
    tens[0] = rng.normal(size=(10, 4))  # an off-pattern trial
    sim = trial_pattern_similarity(tens)
    assert sim[0] < 0.4 and np.median(sim[1:]) > 0.8
