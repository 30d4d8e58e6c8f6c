"""Stimulus-triggered responses: artefact blanking, windows, pseudo-pulses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.data.errors import DataError
from thalamocortex.opto.params import OptoParams
from thalamocortex.opto.responses import (
    artefact_mask,
    n_blank_frames,
    peristimulus_average,
    pseudo_pulses,
    response_windows,
    stimulus_responses,
)


def _pulses(starts, duration=1.0):
    starts = np.asarray(starts, dtype=float)
    return pd.DataFrame(
        {"start_time": starts, "duration": duration, "power": 5.0, "target": "MTh axons"}
    )


def test_blank_count_follows_ceil_duration_times_rate_plus_one():
    assert n_blank_frames(0.1, 30.0) == 4  # ceil(3.0) + 1, float noise must not make it 5
    assert n_blank_frames(1.0, 15.0) == 16
    assert n_blank_frames(0.25, 30.0) == 9  # ceil(7.5) + 1
    assert n_blank_frames(0.0, 30.0) == 1
    assert n_blank_frames(0.1, 30.0, extra=2) == 6
    with pytest.raises(DataError, match="frame rate"):
        n_blank_frames(0.1, 0.0)


def test_artefact_mask_covers_onset_frame_and_following_frames():
    rate = 10.0
    times = np.arange(200) / rate  # frames at 0.0, 0.1, ...
    pulses = _pulses([5.05, 12.0], duration=0.3)
    mask = artefact_mask(times, pulses, rate)
    # onset 5.05 lies in frame 50 (5.0-5.1); ceil(3)+1 = 4 frames: 50..53
    assert np.flatnonzero(mask[40:70]).tolist() == [10, 11, 12, 13]
    assert mask[120:124].all() and not mask[124] and not mask[119]
    assert mask.sum() == 8


def test_windows_equal_length_post_after_light_and_never_on_artefact():
    rate = 15.0
    times = np.arange(3000) / rate + 0.3
    starts = np.arange(10.0, 190.0, 12.0) + 0.013
    pulses = _pulses(starts, duration=1.0)
    p = OptoParams(window_s=1.0)
    win = response_windows(times, pulses, p, rate)
    mask = artefact_mask(times, pulses, rate)
    assert win.pre.shape == win.post.shape == (len(starts), 15)
    assert not mask[win.pre].any() and not mask[win.post].any()
    # post window starts after the light has ended, pre window ends before light onset
    assert np.all(times[win.post[:, 0]] >= starts + 1.0)
    assert np.all(times[win.pre[:, -1]] + 1 / rate <= starts + 1e-9)
    # a post delay shifts the post window
    win2 = response_windows(times, pulses, OptoParams(window_s=1.0, post_delay_s=0.5), rate)
    assert np.all(times[win2.post[:, 0]] >= starts + 1.5)


def test_windows_outside_recording_are_flagged_and_pulse_invalid():
    rate = 10.0
    times = np.arange(100) / rate
    pulses = _pulses([0.3, 5.0, 9.5], duration=0.2)
    dff = np.zeros((100, 3), dtype=np.float32)
    r = stimulus_responses(dff, times, pulses, OptoParams(window_s=1.0), rate)
    assert r.valid[:, 0].tolist() == [False, True, False]
    assert np.isnan(r.amplitude[0]).all() and np.isnan(r.amplitude[2]).all()


def test_huge_artefact_does_not_leak_into_responses():
    rate = 15.0
    times = np.arange(3000) / rate
    rng = np.random.default_rng(0)
    starts = np.arange(10.0, 190.0, 12.0)
    pulses = _pulses(starts, duration=1.0)
    dff = rng.normal(0, 0.05, (3000, 4)).astype(np.float32)
    artefact = artefact_mask(times, pulses, rate)
    # light only during the pulse, but the straddling frame and the +1 frame carry it too
    dff[artefact] += 1e4
    r = stimulus_responses(dff, times, pulses, OptoParams(window_s=1.0), rate)
    assert np.nanmax(np.abs(r.amplitude)) < 0.5
    assert np.all(np.isfinite(r.baseline_sd)) and np.all(r.baseline_sd < 0.1)


def test_blanked_frames_are_nan_not_zero_and_nan_frames_are_ignored():
    rate = 10.0
    times = np.arange(400) / rate
    pulses = _pulses([10.0, 20.0, 30.0], duration=0.2)
    dff = np.full((400, 1), 1.0, dtype=np.float32)
    post = response_windows(times, pulses, OptoParams(window_s=1.0), rate).post
    dff[post[:, :3], 0] = np.nan  # some post frames missing upstream
    dff[post[:, 3:], 0] = 2.0
    r = stimulus_responses(dff, times, pulses, OptoParams(window_s=1.0), rate)
    # a 0 fill would give (0*3 + 2*7)/10 = 1.4; NaN-aware mean is 2
    np.testing.assert_allclose(r.post[:, 0], 2.0)
    np.testing.assert_allclose(r.amplitude[:, 0], 1.0)
    # less than half the frames finite -> pulse invalid for the neuron
    dff[post[0, :6], 0] = np.nan
    r2 = stimulus_responses(dff, times, pulses, OptoParams(window_s=1.0), rate)
    assert r2.valid[:, 0].tolist() == [False, True, True]


def test_z_scored_response_uses_baseline_sd():
    rate = 10.0
    times = np.arange(4000) / rate
    rng = np.random.default_rng(3)
    starts = np.arange(10.0, 390.0, 10.0)
    pulses = _pulses(starts, duration=0.5)
    sd = np.array([0.05, 0.2])
    dff = (rng.standard_normal((4000, 2)) * sd).astype(np.float32)
    win = response_windows(times, pulses, OptoParams(window_s=1.0), rate)
    dff[win.post.ravel()] += np.array([0.1, 0.1], dtype=np.float32)
    r = stimulus_responses(dff, times, pulses, OptoParams(window_s=1.0), rate)
    np.testing.assert_allclose(r.baseline_sd, sd, rtol=0.1)
    np.testing.assert_allclose(np.nanmean(r.amplitude, axis=0), [0.1, 0.1], atol=0.03)
    np.testing.assert_allclose(np.nanmean(r.amplitude_z, axis=0), [2.0, 0.5], rtol=0.2)


def test_peristimulus_average_is_nan_on_artefact_lags():
    rate = 10.0
    times = np.arange(2000) / rate
    pulses = _pulses(np.arange(10.0, 190.0, 10.0), duration=0.3)
    dff = np.ones((2000, 2), dtype=np.float32)
    lags, avg = peristimulus_average(dff, times, pulses, OptoParams(), rate)
    assert avg.shape == (len(lags), 2)
    blank = np.isnan(avg[:, 0])
    assert lags[blank].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(avg[~blank], 0.0)


def test_pseudo_pulses_avoid_real_pulses_and_excluded_intervals():
    rng = np.random.default_rng(1)
    times = np.arange(6000) / 10.0
    real = _pulses(np.arange(50.0, 300.0, 25.0), duration=1.0)
    fake = pseudo_pulses(
        times,
        real,
        200,
        rng,
        exclusion_s=3.0,
        window_s=1.0,
        excluded_intervals=np.array([[400.0, 450.0]]),
    )
    assert len(fake) == 200 and (fake["power"] == 0).all()
    s = fake["start_time"].to_numpy()
    e = s + fake["duration"].to_numpy()
    for a, d in zip(real["start_time"], real["duration"], strict=True):
        # whole pseudo pulse + its post window at least 3 s from the real pulse
        assert np.all((s + 1.0 + 1.0 <= a - 3.0 + 1e-9) | (s >= a + d + 3.0 - 1e-9))
    assert not np.any((e + 1.0 > 400.0) & (s < 450.0))
    with pytest.raises(DataError, match="real pulse"):
        pseudo_pulses(times, real.iloc[:0], 5, rng, 3.0, 1.0)


def test_bad_input_raises_clear_errors():
    times = np.arange(100) / 10.0
    with pytest.raises(DataError, match="duration"):
        stimulus_responses(np.zeros((100, 2)), times, pd.DataFrame({"start_time": [1.0]}))
    with pytest.raises(DataError, match="n_frames=100"):
        stimulus_responses(np.zeros((90, 2)), times, _pulses([2.0]))
    bad = _pulses([2.0])
    bad.loc[0, "duration"] = -1.0
    with pytest.raises(DataError, match="duration"):
        stimulus_responses(np.zeros((100, 2)), times, bad)
