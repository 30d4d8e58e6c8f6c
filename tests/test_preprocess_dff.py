"""dF/F, neuropil, baselines, artefact blanking, events and session_dff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from _references import resting_mode_histogram
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Imaging, Session, SessionInfo, Stimulation
from thalamocortex.preprocess.dff import (
    artefact_mask,
    compute_dff,
    fit_neuropil_coefficients,
    maximin_baseline,
    percentile_baseline,
)
from thalamocortex.preprocess.events import (
    detect_events,
    event_counts,
    event_table,
    mirrored_negative_noise,
)
from thalamocortex.preprocess.params import PreprocessParams
from thalamocortex.preprocess.traces import session_artefact_mask, session_dff

RATE = 30.0


def _pulses(starts, duration=0.1):
    return pd.DataFrame(
        {
            "start_time": np.asarray(starts, float),
            "duration": duration,
            "power": 5.0,
            "target": "MTh axons",
        }
    )


def _synthetic(n_frames=6000, n_rois=8, r_true=0.7, seed=0, rate=RATE, spike_prob=0.003):
    """True dF/F (exponential transients), F and Fneu with neuropil contamination and drift."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / rate
    kernel = np.exp(-np.arange(int(4 * rate)) / (1.0 * rate))
    amp = rng.uniform(0.5, 2.0, (n_frames, n_rois))
    spikes = (rng.random((n_frames, n_rois)) < spike_prob) * amp
    true_dff = np.stack(
        [np.convolve(spikes[:, j], kernel)[:n_frames] for j in range(n_rois)], axis=1
    )
    f0 = rng.uniform(200, 400, n_rois) * (1 + 0.1 * np.sin(2 * np.pi * t / 200))[:, None]
    # neuropil: slow population fluctuations (smoothed noise) shared in part across ROIs
    common = ndimage.gaussian_filter1d(rng.normal(0, 1, n_frames), rate / 2)
    own = ndimage.gaussian_filter1d(rng.normal(0, 1, (n_frames, n_rois)), rate / 2, axis=0)
    neu = 150 + 20 * (common[:, None] + own) / np.std(common) + rng.normal(0, 3, (n_frames, n_rois))
    r = np.broadcast_to(np.asarray(r_true, float), (n_rois,))
    F = f0 * (1 + true_dff) + r * neu + rng.normal(0, 6, (n_frames, n_rois))
    return true_dff, F.astype(np.float32), neu.astype(np.float32)


# --- artefact mask ------------------------------------------------------------------------------


def test_artefact_mask_counts_ceil_duration_times_rate_plus_one():
    times = np.arange(300) / RATE
    m = artefact_mask(times, _pulses([1.0, 5.01], duration=0.1), RATE)
    # 0.1 s x 30 Hz = 3 -> 4 frames, from the frame at the onset (30) ...
    assert np.flatnonzero(m[:100]).tolist() == [30, 31, 32, 33]
    # ... or from the frame whose exposure contains a mid-frame onset (5.01 s -> frame 150)
    assert np.flatnonzero(m[100:]).tolist() == [50, 51, 52, 53]
    m2 = artefact_mask(times, _pulses([2.0], duration=0.11), RATE)
    assert m2.sum() == 5  # ceil(3.3) + 1


def test_artefact_mask_covers_every_exposed_frame():
    # any frame whose exposure [t, t + 1/rate) overlaps the light is blanked
    rng = np.random.default_rng(0)
    times = np.arange(600) / RATE
    starts = np.sort(rng.uniform(0.5, 19.0, 20))
    durs = rng.uniform(0.01, 0.5, 20)
    m = artefact_mask(times, _pulses(starts, duration=durs), RATE)
    exposed = np.zeros(600, bool)
    for s, d in zip(starts, durs):
        exposed |= (times < s + d) & (times + 1 / RATE > s)
    assert (m | ~exposed).all()
    assert m.sum() <= exposed.sum() + 20  # at most one frame beyond the light per pulse


def test_artefact_mask_matches_opto_convention():
    opto = pytest.importorskip("thalamocortex.opto.responses")
    rng = np.random.default_rng(1)
    times = np.arange(900) / RATE
    pulses = _pulses(np.sort(rng.uniform(-0.5, 29.0, 30)), duration=rng.uniform(0.0, 1.0, 30))
    np.testing.assert_array_equal(
        artefact_mask(times, pulses, RATE), opto.artefact_mask(times, pulses, RATE, 0)
    )


def test_artefact_mask_edge_cases():
    times = np.arange(100) / RATE
    assert not artefact_mask(times, None, RATE).any()
    assert not artefact_mask(times, _pulses([]), RATE).any()
    m = artefact_mask(times, _pulses([99 / RATE], duration=0.2), RATE)
    assert np.flatnonzero(m).tolist() == [99]  # truncated at the end of the recording
    assert not artefact_mask(times, _pulses([10.0]), RATE).any()  # after the last frame
    m = artefact_mask(times, _pulses([-0.05], duration=0.1), RATE)  # before the first frame
    assert np.flatnonzero(m).tolist() == [0, 1, 2]
    with pytest.raises(DataError, match="duration"):
        artefact_mask(times, pd.DataFrame({"start_time": [1.0]}), RATE)


# --- baselines ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["one_roi", "whole_frames"])
def test_percentile_baseline_matches_brute_force_with_nans(pattern):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (400, 3))
    if pattern == "one_roi":
        x[50:80, 1] = np.nan  # general path (sort)
    else:
        x[50:80] = np.nan  # blanked frames (partition path)
    got = percentile_baseline(x, RATE, window_s=2.0, percentile=10, step_s=1 / RATE)
    half = 30
    want = np.array(
        [np.nanpercentile(x[max(0, i - half) : i + half + 1], 10, axis=0) for i in range(400)]
    )
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["maximin", "percentile"])
def test_baseline_ignores_transients_and_blanked_frames(method):
    n = 3000
    x = np.full((n, 1), 100.0)
    x[1000:1030] += 80.0  # a transient: above baseline, must not lift it
    y = x.copy()
    y[500:504] = -1e6  # garbage on blanked frames: would drag the baseline if used
    y[2000:2004] = 1e6
    y[500:504] = np.nan
    y[2000:2004] = np.nan
    if method == "maximin":
        b = maximin_baseline(y, RATE, window_s=20, sigma_s=0.3)
    else:
        b = percentile_baseline(y, RATE, window_s=20, percentile=8, step_s=1.0)
    np.testing.assert_allclose(b, 100.0, atol=1e-9)


@pytest.mark.parametrize("method", ["maximin", "percentile"])
def test_artefact_frames_never_enter_dff(method):
    true_dff, F, Fneu = _synthetic(n_frames=3000, n_rois=4)
    p = PreprocessParams(baseline_method=method)
    times = np.arange(len(F)) / RATE
    blank = artefact_mask(times, _pulses(np.arange(5, 95, 10.0), duration=0.25), RATE)
    assert blank.sum() == 9 * 9
    a = F.copy()
    b = F.copy()
    a[blank] = 1e7  # bright stimulation bleed-through
    b[blank] = -1e7
    da = compute_dff(a, Fneu, RATE, p, blank_mask=blank)
    db = compute_dff(b, Fneu, RATE, p, blank_mask=blank)
    assert da.dtype == np.float32 and da.shape == F.shape
    assert np.isnan(da[blank]).all() and np.isfinite(da[~blank]).all()
    np.testing.assert_array_equal(da, db)  # what was on blanked frames cannot matter
    # and the un-blanked result is corrupted, proving the test would catch leakage
    assert not np.allclose(compute_dff(a, Fneu, RATE, p)[~blank], da[~blank], equal_nan=True)


# --- neuropil and dF/F --------------------------------------------------------------------------


def test_fitted_neuropil_coefficient_recovers_truth():
    r_true = np.array([0.3, 0.5, 0.7, 0.9, 1.1, 0.0])
    _, F, Fneu = _synthetic(n_frames=6000, n_rois=6, r_true=r_true, seed=3)
    r = fit_neuropil_coefficients(F, Fneu, PreprocessParams())
    np.testing.assert_allclose(r, r_true, atol=0.08)


@pytest.mark.parametrize("mode", ["fixed", "fitted"])
def test_dff_correlates_with_truth(mode):
    true_dff, F, Fneu = _synthetic(n_frames=6000, n_rois=8, r_true=0.7, seed=2)
    dff = compute_dff(F, Fneu, RATE, PreprocessParams(neuropil_mode=mode))
    corr = [np.corrcoef(dff[:, j], true_dff[:, j])[0, 1] for j in range(8)]
    assert min(corr) >= 0.95, corr
    # scale: dF/F relative to the true baseline within 15 %
    slope = [np.polyfit(true_dff[:, j], dff[:, j], 1)[0] for j in range(8)]
    np.testing.assert_allclose(slope, 1.0, atol=0.15)
    assert abs(float(np.median(dff))) < 0.05


def test_wrong_neuropil_coefficient_degrades_dff():
    # a tiny ROI with r = 1.1 (bouton-like): the fitted coefficient beats the fixed 0.7
    true_dff, F, Fneu = _synthetic(n_frames=6000, n_rois=4, r_true=1.1, seed=4)
    err = {}
    for mode in ("fixed", "fitted"):
        d = compute_dff(F, Fneu, RATE, PreprocessParams(neuropil_mode=mode))
        # relative RMS error: a wrong r leaks neuropil into dF/F and mis-scales it
        err[mode] = np.sqrt(np.mean((d - true_dff) ** 2) / np.mean(true_dff**2))
    assert err["fitted"] < 0.2 and err["fixed"] > 2 * err["fitted"], err


def test_roi_types_choose_the_neuropil_mode():
    true_dff, F, Fneu = _synthetic(n_frames=6000, n_rois=4, r_true=1.1, seed=4)
    p = PreprocessParams(neuropil_mode="fixed", neuropil_mode_boutons="fitted")
    types = ["soma", "soma", "bouton", "axon"]
    mixed = compute_dff(F, Fneu, RATE, p, roi_types=types)
    fixed = compute_dff(F, Fneu, RATE, p)
    fitted = compute_dff(F, Fneu, RATE, PreprocessParams(neuropil_mode="fitted"))
    np.testing.assert_array_equal(mixed[:, :2], fixed[:, :2])
    np.testing.assert_array_equal(mixed[:, 2:], fitted[:, 2:])
    with pytest.raises(DataError, match="ROI types"):
        compute_dff(F, Fneu, RATE, p, roi_types=["soma"])


def test_compute_dff_bad_input():
    with pytest.raises(DataError, match="Fneu"):
        compute_dff(np.ones((10, 2)), np.ones((10, 3)), RATE)
    with pytest.raises(DataError, match="blank_mask"):
        compute_dff(np.ones((10, 2)), None, RATE, blank_mask=np.zeros(9, bool))
    with pytest.raises(DataError, match="frame rate"):
        compute_dff(np.ones((10, 2)), None, 0.0)


# --- events -------------------------------------------------------------------------------------


def test_mirrored_negative_noise_estimates_sd_despite_transients():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.2, (20000, 2))
    x[::50, 1] += 3.0  # positive transients do not inflate the estimate
    x[100:200, 0] = np.nan
    np.testing.assert_allclose(mirrored_negative_noise(x), 0.2, rtol=0.03)
    assert np.std(np.nan_to_num(x[:, 1])) > 0.3


def test_hysteresis_thresholds():
    noise = 0.1
    x = np.tile(np.array([-noise, noise], dtype=np.float32), 100)[:, None].copy()  # noise = 0.1
    x[20:25, 0] = [0.15, 0.25, 0.35, 0.25, 0.15]  # crosses 3x: event from 20 to 24
    x[27, 0] = 0.05  # below 1x: ends the event run (27 is a "-" slot anyway)
    x[60:64, 0] = [0.15, 0.25, 0.28, 0.15]  # never crosses 3x: no event
    x[100, 0] = np.nan
    ev = detect_events(x, PreprocessParams(event_noise_center="zero"))
    assert np.flatnonzero(ev[:, 0] > 0).tolist() == [20, 21, 22, 23, 24]
    np.testing.assert_array_equal(ev[20:25, 0], x[20:25, 0])
    assert np.isnan(ev[100, 0]) and (ev[np.isfinite(x[:, 0]) & (ev[:, 0] <= 0), 0] == 0).all()
    assert event_counts(ev).tolist() == [1]
    tab = event_table(ev, np.arange(200) / RATE)
    assert tab[["onset_frame", "offset_frame", "peak_frame"]].iloc[0].tolist() == [20, 25, 22]
    assert tab["amplitude"].iloc[0] == pytest.approx(0.35)


def test_events_recover_true_transients():
    true_dff, F, Fneu = _synthetic(n_frames=6000, n_rois=8, seed=6)
    dff = compute_dff(F, Fneu, RATE, PreprocessParams())
    ev = detect_events(dff, PreprocessParams())
    true_on = true_dff > 0.3
    hit = ((ev > 0) & true_on).sum() / true_on.sum()
    false = ((ev > 0) & (true_dff < 0.01)).sum() / (true_dff < 0.01).sum()
    assert hit > 0.8 and false < 0.01, (hit, false)


# --- session_dff --------------------------------------------------------------------------------


def _session(with_dff: bool, n_frames=3000):
    true_dff, F, Fneu = _synthetic(n_frames=n_frames, n_rois=3, seed=7)
    times = np.arange(n_frames) / RATE
    rois = pd.DataFrame({"roi_name": ["a", "b", "c"], "roi_type": "soma", "region": "M1"})
    dff = true_dff.astype(np.float32) if with_dff else None
    im = Imaging(rois=rois, F=F, Fneu=Fneu, frame_times=times, dff=dff)
    info = SessionInfo(
        mouse="m1", session=1, experiment="all_optical", region="M1", frame_rate=RATE
    )
    stim = Stimulation(pulses=_pulses([10.0, 20.0, 30.0], duration=0.2))
    return Session(info=info, imaging=im, stimulation=stim), true_dff


def test_session_dff_computes_and_blanks():
    s, true_dff = _session(with_dff=False)
    dff, events = session_dff(s, PreprocessParams())
    blank = session_artefact_mask(s)
    assert blank.sum() == 3 * 7  # ceil(0.2 * 30) + 1
    assert np.isnan(dff[blank]).all() and np.isfinite(dff[~blank]).all()
    assert np.isnan(events[blank]).all()
    ok = ~blank
    assert min(np.corrcoef(dff[ok, j], true_dff[ok, j])[0, 1] for j in range(3)) > 0.95


def test_session_dff_prefers_file_dff():
    s, true_dff = _session(with_dff=True)
    out = session_dff(s, PreprocessParams(), with_events=False)
    assert out.events is None
    blank = session_artefact_mask(s)
    np.testing.assert_array_equal(out.dff[~blank], true_dff[~blank].astype(np.float32))
    assert np.isnan(out.dff[blank]).all()
    # the session's own array is not modified
    assert np.isfinite(s.imaging.dff).all()


@pytest.mark.parametrize("seed", range(4))
def test_resting_mode_equals_histogram_definition(seed):
    """Sorted values + searchsorted counts give exactly np.histogram's mode, whatever the NaN
    pattern (blanked frames, ROIs without data, partly missing ROIs), ties or dtype."""
    from thalamocortex.preprocess.events import resting_mode

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2000, 9)) ** 2).astype(np.float32)
    x[rng.random(2000) < 0.05] = np.nan  # blanked frames
    x[:, 1] = np.nan  # no data
    x[rng.random(2000) < 0.1, 2] = np.nan  # partly missing
    x[:, 3] = 0.5  # flat
    x[:, 4] = np.round(x[:, 4], 1)  # ties on bin edges
    for arr in (x, x.astype(np.float64), np.asfortranarray(x), x[:, :1]):
        before = arr.copy()
        got = resting_mode(arr)
        want = [resting_mode_histogram(arr[:, j]) for j in range(arr.shape[1])]
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(arr, before)  # the input is left as it was
