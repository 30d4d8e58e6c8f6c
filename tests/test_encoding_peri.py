"""Peri-movement tensors, timing (peak, onset latency with CIs) and reliability."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import thalamocortex.config  # noqa: F401
from thalamocortex.data.errors import DataError
from thalamocortex.encoding.peri import (
    baseline_subtract,
    peri_event_tensor,
    response_timing,
    timing_with_ci,
    trial_average,
    trial_reliability,
)

FR = 10.0


def test_tensor_alignment_and_edges():
    t = np.arange(50) / FR
    dff = np.tile(np.arange(50, dtype=np.float32)[:, None], (1, 2))
    dff[:, 1] *= -1
    tens, ts = peri_event_tensor(dff, t, [1.0, 0.1, 4.8, np.nan], (-0.3, 0.5))
    np.testing.assert_allclose(ts, np.arange(-3, 6) / FR)
    assert tens.shape == (4, 9, 2)
    np.testing.assert_array_equal(tens[0, :, 0], np.arange(7, 16))
    np.testing.assert_array_equal(tens[0, :, 1], -np.arange(7, 16))
    assert np.isnan(tens[1, :2, 0]).all() and tens[1, 2, 0] == 0  # before the recording
    assert np.isnan(tens[2, -4:, 0]).all()  # after it
    assert np.isnan(tens[3]).all()  # NaN event
    with pytest.raises(DataError, match="frame_times"):
        peri_event_tensor(dff[:-1], t, [1.0])


def test_baseline_and_nan_aware_average():
    tens = np.ones((3, 5, 1), np.float32)
    tens[0, :, 0] = [1, 1, 2, 3, 4]
    tens[1, 3, 0] = np.nan
    ts = np.arange(5) * 0.1 - 0.1
    b = baseline_subtract(tens, ts, (-0.1, 0.0))
    np.testing.assert_allclose(b[0, :, 0], [0, 0, 1, 2, 3])
    avg = trial_average(b)
    assert avg[3, 0] == pytest.approx(1.0)  # mean of 2 and 0, the NaN trial left out


def _bump_sessions(rng, lags, n_moves=80, width=0.6, noise=0.2, decay=1.5, rise=0.18):
    n_frames = int((n_moves * 7 + 20) * FR)
    t = np.arange(n_frames) / FR
    onsets = 10 + np.arange(n_moves) * 7 + rng.uniform(0, 1.5, n_moves)
    rate = np.zeros((n_frames, len(lags)))
    for o in onsets:
        tau = t[:, None] - o - lags[None, :]
        rate += np.where(
            (tau >= 0) & (tau <= width), 0.5 * (1 - np.cos(2 * np.pi * tau / width)), 0
        )
    kt = np.arange(0, 8, 1 / FR)
    kernel = np.exp(-kt / decay) - np.exp(-kt / rise)
    dff = scipy.signal.lfilter(kernel, [1.0], rate, axis=0) + rng.normal(0, noise, rate.shape)
    return t, onsets, dff.astype(np.float32)


def test_onset_latency_within_a_frame_of_the_true_lag():
    rng = np.random.default_rng(0)
    lags = rng.uniform(-0.4, 0.4, 30)
    t, onsets, dff = _bump_sessions(rng, lags)
    tens, ts = peri_event_tensor(dff, t, onsets, (-2, 3))
    tens = baseline_subtract(tens, ts, (-2, -1))
    res = timing_with_ci(tens, ts, (-1, 2), decay_s=1.5, n_boot=200)
    err = res["onset_latency"] - lags
    assert abs(np.median(err)) <= 1 / FR
    # relative lags are recovered much better than a frame
    assert np.corrcoef(res["onset_latency"], lags)[0, 1] > 0.95
    # bootstrap CIs bracket the estimate and cover the (bias-corrected) truth mostly
    assert np.all(res["onset_latency_ci_low"] <= res["onset_latency"] + 1e-9)
    assert np.all(res["onset_latency_ci_high"] >= res["onset_latency"] - 1e-9)
    covered = (res["onset_latency_ci_low"] - 0.1 <= lags) & (lags <= res["onset_latency_ci_high"])
    assert covered.mean() >= 0.8
    # without undoing the slow indicator decay the latency is biased late
    raw = timing_with_ci(tens, ts, (-1, 2), decay_s=0.0, n_boot=10)
    assert np.median(raw["onset_latency"] - lags) > np.median(err) + 0.1


def test_peak_time_and_fraction_method():
    ts = np.arange(-10, 21) / FR
    avg = np.exp(-0.5 * ((ts - 0.5) / 0.2) ** 2)[:, None] * [1.0, -1.0]
    r = response_timing(avg, ts, (-1, 2), onset_fraction=0.5, onset_method="fraction")
    assert r["peak_time"][0] == pytest.approx(0.5)
    # half maximum of a Gaussian at 0.5 - 0.2 * sqrt(2 ln 2)
    assert r["onset_latency"][0] == pytest.approx(0.5 - 0.2 * np.sqrt(2 * np.log(2)), abs=0.01)
    assert np.isnan(r["peak_time"][1])  # no positive response
    with pytest.raises(ValueError, match="onset_method"):
        response_timing(avg, ts, onset_method="guess")


def test_reliability_matches_pairwise_correlations():
    rng = np.random.default_rng(1)
    shape = np.sin(np.linspace(0, np.pi, 20))
    tens = shape[None, :, None] * [1.0, 0.2] + rng.normal(0, 0.5, (12, 20, 2))
    tens[3, 5, 1] = np.nan  # trial 3 unusable for ROI 1
    ts = np.linspace(-0.5, 2.0, 20)
    rel = trial_reliability(tens, ts, (-0.5, 2.0))
    for roi in range(2):
        x = tens[:, :, roi]
        x = x[np.isfinite(x).all(1)]
        c = np.corrcoef(x)
        ref = c[~np.eye(len(x), dtype=bool)].mean()
        assert rel[roi] == pytest.approx(ref, abs=1e-9)
    assert rel[0] > rel[1]
    assert np.isnan(trial_reliability(tens[:1], ts))[0]
