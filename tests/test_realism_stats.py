"""The realism statistics (thalamocortex.realism): seeded synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from thalamocortex.data.errors import DataError
from thalamocortex.realism import (
    RealismParams,
    dff_statistics,
    motion_statistics,
    movie_statistics,
    photon_transfer,
    robust_noise_sd,
    roi_shape_statistics,
    summarize,
    trace_statistics,
)

FR = 30.0


def _transient_traces(seed=0, n_frames=3600, n_rois=5, noise=0.1, amp=1.0, n_events=12):
    """White noise plus ``n_events`` well-separated 0.5 s plateaus of ``amp`` per ROI.

    (A plateau ends abruptly: an exponential tail, wandering through the thresholds in the
    noise, could be counted twice.)
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, noise, (n_frames, n_rois))
    onsets = np.linspace(100, n_frames - 200, n_events).astype(int)
    for j in range(n_rois):
        for t in onsets + j:
            x[t : t + 15, j] += amp
    return x, onsets


def test_robust_noise_sd_of_white_noise_ignores_transients_and_nan():
    x, _ = _transient_traces(noise=0.1)
    sd = robust_noise_sd(x)
    assert sd.shape == (5,)
    np.testing.assert_allclose(sd, 0.1, rtol=0.05)
    x[::7, 0] = np.nan  # blanked frames drop out of the differences
    assert abs(robust_noise_sd(x)[0] - 0.1) < 0.006
    assert np.isnan(robust_noise_sd(np.full((10, 1), np.nan))[0])


def test_dff_statistics_count_the_planted_events():
    x, onsets = _transient_traces(noise=0.1, amp=1.0, n_events=12)
    t = dff_statistics(x, FR)
    assert list(t.columns[:5]) == [
        "noise_sd",
        "skewness",
        "fraction_active",
        "events_per_min",
        "event_peak",
    ]
    # the 12 plateaus, and here and there a crossing of the white noise (0.18 per minute at
    # 30 Hz with a 0.1 s minimum: 0.36 expected in 2 min)
    assert t["n_events"].between(12, 13).all() and t["n_events"].sum() <= 12 * 5 + 2
    np.testing.assert_allclose(t["events_per_min"], t["n_events"] / (3600 / FR / 60))
    # peak above the median (~0.01 here): the plateau plus the largest of 15 noise samples
    assert t["event_peak"].between(1.05, 1.35).all()
    assert (t["skewness"] > 3).all()
    # 12 x 15 frames of plateau are above 2 SD, and 2.3 % of the other frames (noise alone)
    frac = (12 * 15 + 0.023 * (3600 - 12 * 15)) / 3600
    np.testing.assert_allclose(t["fraction_active"], frac, atol=0.01)


def test_events_need_their_minimum_duration():
    # alternating +-0.1: noise SD 1.4826 x 0.2 / sqrt 2 = 0.21, never above 3 SD on its own
    x = 0.1 * (-1.0) ** np.arange(3000)[:, None]
    x[1000:1002, 0] += 2.0  # 2 frames: a noise crossing at 30 Hz (min 0.1 s = 3 frames) ...
    x[2000:2030, 0] += 2.0  # ... a 1 s transient is an event
    t = dff_statistics(x, 30.0)
    assert t["noise_sd"].iloc[0] == pytest.approx(1.4826 * 0.2 / np.sqrt(2))
    assert t["n_events"].iloc[0] == 1
    assert dff_statistics(x, 30.0, RealismParams(event_min_duration_s=0.0))["n_events"].iloc[0] == 2
    # at 10 Hz 0.1 s is one frame
    assert dff_statistics(x, 10.0)["n_events"].iloc[0] == 2


def test_blanked_frames_shorten_the_duration_not_the_rate():
    x, _ = _transient_traces(n_rois=1)
    x[:600] = np.nan  # first 20 s blanked: the events there are lost, the duration too
    t = dff_statistics(x, FR)
    assert t["duration_s"].iloc[0] == pytest.approx((3600 - 600) / FR)
    n = t["n_events"].iloc[0]
    assert n in (10, 11)  # 2 of the 12 plateaus lie in the blanked 20 s
    assert t["events_per_min"].iloc[0] == pytest.approx(n / ((3600 - 600) / FR / 60))


def test_trace_statistics_from_raw_fluorescence():
    rng = np.random.default_rng(2)
    dff, _ = _transient_traces(noise=0.05, n_rois=3)
    f0 = np.array([500.0, 1000.0, 2000.0])
    neu = f0 * np.array([0.5, 0.8, 1.0])  # Fneu/F of the raw traces ~ neu / (F0 + 0.7 neu)
    Fneu = neu[None, :] * (1 + 0.01 * rng.normal(size=dff.shape))
    F = f0[None, :] * (1 + dff) + 0.7 * Fneu
    t = trace_statistics(F, Fneu, FR)
    ratio = np.median(Fneu, 0) / np.median(F, 0)
    np.testing.assert_allclose(t["fneu_over_f"], ratio)
    np.testing.assert_allclose(t["fneu_over_f"], [0.5 / 1.35, 0.8 / 1.56, 1.0 / 1.7], rtol=0.02)
    np.testing.assert_allclose(t["f_median"], np.median(F, 0))
    assert t["n_events"].between(12, 13).all()
    # dF/F noise ~ 0.05 (neuropil noise of 1 % x r x Fneu / F0 adds a little)
    assert t["noise_sd"].between(0.048, 0.06).all()
    assert t["event_peak"].between(1.0, 1.3).all()
    # a wrong neuropil coefficient leaves neuropil in dF/F: lower relative peaks
    t0 = trace_statistics(F, Fneu, FR, neuropil_coef=0.0)
    assert (t0["event_peak"] < t["event_peak"]).all()
    with pytest.raises(DataError, match="Fneu"):
        trace_statistics(F, Fneu[:, :2], FR)
    with pytest.raises(DataError, match="frame_rate"):
        trace_statistics(F, Fneu, 0.0)


def test_summarize_median_and_percentiles():
    table = pd.DataFrame({"a": np.arange(11, dtype=float), "b": [np.nan] * 10 + [3.0]})
    s = summarize(table)
    assert s.loc["a", "median"] == 5 and s.loc["a", "p10"] == 1 and s.loc["a", "p90"] == 9
    assert s.loc["b", "n"] == 1 and s.loc["b", "median"] == 3
    with pytest.raises(KeyError, match="nope"):
        summarize(table, ["nope"])


def synthetic_movie(seed=0, n=600, size=64, gain=2000.0, zero=300.0, motion_px=0.0, read_sd=0.0):
    """Poisson movie of a smooth background and 8 active discs, in digitiser units.

    Returns the movie, its true mean photons per pixel per frame and the discs' pixel mask.
    """
    rng = np.random.default_rng(seed)
    bg = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 6)
    bg = 1 + 7 * (bg - bg.min()) / (bg.max() - bg.min())  # 1-8 photons, like neuropil and vessels
    yy, xx = np.mgrid[:size, :size]
    cells = np.zeros((8, size, size))
    for k in range(8):
        cy, cx = rng.uniform(8, size - 8, 2)
        cells[k] = ((yy - cy) ** 2 + (xx - cx) ** 2 < 16) * 6.0
    spikes = (rng.random((n, 8)) < 0.01).astype(float)
    kern = 1.5 * np.exp(-np.arange(60) / 15.0)
    dff = np.stack([np.convolve(spikes[:, k], kern)[:n] for k in range(8)], axis=1)
    scene = bg[None] + np.einsum("tk,kyx->tyx", 1 + dff, cells)
    if motion_px > 0:
        shifts = rng.normal(0, motion_px, (n, 2))
        scene = np.stack(
            [ndimage.shift(f, s, order=1, mode="nearest") for f, s in zip(scene, shifts)]
        )
    counts = rng.poisson(scene).astype(np.float64)
    movie = gain * counts + zero + rng.normal(0, read_sd, counts.shape)
    return movie, float(scene.mean()), cells.any(axis=0)


@pytest.mark.parametrize("motion_px", [0.0, 1.0])
def test_photon_transfer_recovers_gain_and_photons(motion_px):
    movie, photons, cells = synthetic_movie(motion_px=motion_px, gain=1000.0)
    assert movie.max() < 65535
    r = photon_transfer(movie.astype(np.uint16), exclude=cells)
    assert r.gain == pytest.approx(1000, rel=0.02)
    assert r.photons_per_pixel_frame == pytest.approx(photons, rel=0.04)
    assert abs(r.zero_level - 300) < 100  # 0.1 photon
    assert r.photon_image.shape == (64, 64)
    # with the active somata in the fit their transients add variance: gain up to +4 %
    r = photon_transfer(movie.astype(np.uint16))
    assert r.gain == pytest.approx(1000, rel=0.05)


def test_photon_transfer_of_a_photon_unit_movie_has_unit_gain():
    movie, photons, cells = synthetic_movie(seed=3, gain=1.0, zero=0.0)
    r = photon_transfer(movie.astype(np.float32), exclude=cells)
    assert r.gain == pytest.approx(1.0, rel=0.02)
    assert r.photons_per_pixel_frame == pytest.approx(photons, rel=0.04)
    assert abs(r.zero_level) < 0.1


def test_photon_transfer_ignores_bad_frames_and_rejects_bad_input():
    movie, photons, cells = synthetic_movie(seed=4)
    bad = np.zeros(len(movie), bool)
    bad[100:110] = True
    movie[100:110] += 50_000  # stimulation artefact: bright frames
    r = photon_transfer(movie, bad_frames=bad, exclude=cells)
    assert r.photons_per_pixel_frame == pytest.approx(photons, rel=0.04)
    with pytest.raises(DataError, match="exclude"):
        photon_transfer(movie, exclude=cells[:10])
    with pytest.raises(DataError, match="movie"):
        photon_transfer(np.zeros((10, 8)))
    with pytest.raises(DataError, match="shot-noise"):
        photon_transfer(
            np.full((20, 32, 32), 7.0) + np.random.default_rng(0).normal(0, 1, (20, 32, 32))
        )


def test_movie_statistics_brightness_and_motion_keys():
    movie, photons, cells = synthetic_movie(seed=5)
    shifts = np.zeros((len(movie), 2))
    m = movie_statistics(movie, FR, shifts=shifts, exclude=cells)
    assert m["photons_per_pixel_frame"] == pytest.approx(photons, rel=0.04)
    truth = np.percentile(movie.mean(axis=0), [50, 99])
    truth = (truth - 300) / 2000
    assert m["brightness_median"] == pytest.approx(truth[0], rel=0.04)
    assert m["brightness_p99"] == pytest.approx(truth[1], rel=0.04)
    assert m["motion_max_px"] == 0 and m["motion_bursts_per_min"] == 0


def test_motion_statistics_bursts():
    rng = np.random.default_rng(6)
    n = 1800  # 1 min at 30 Hz
    s = rng.normal(0, 0.3, (n, 2))
    s[300:315, 0] += 6.0  # a 0.5 s burst of 6 px
    s[900:903, 1] -= 4.0  # a 0.1 s burst of 4 px ...
    s[906:909, 1] -= 4.0  # ... and a second one 0.1 s later: merged (0.2 s)
    m = motion_statistics(s, FR)
    assert m["motion_bursts_per_min"] == pytest.approx(2.0)
    assert m["motion_burst_duration_s"] == pytest.approx((15 + 9) / 2 / FR)
    assert 5.0 < m["motion_burst_peak_px"] < 7.0
    assert 5.5 < m["motion_max_px"] < 7.5
    assert m["motion_jitter_px"] == pytest.approx(0.3 * np.sqrt(2), rel=0.1)
    with pytest.raises(DataError, match="shifts"):
        motion_statistics(np.zeros((10, 3)), FR)


def test_roi_shape_statistics_disc_and_ellipse():
    yy, xx = np.mgrid[-10:11, -10:11]
    disc = (yy**2 + xx**2) <= 25
    ellipse = (yy / 3.0) ** 2 + (xx / 6.0) ** 2 <= 1
    fps = [np.c_[yy[m] + 20, xx[m] + 20, np.ones(m.sum())] for m in (disc, ellipse)] + [
        np.zeros((0, 3))
    ]
    t = roi_shape_statistics(fps)
    assert t.loc[0, "area_px"] == disc.sum()
    assert t.loc[0, "eccentricity"] < 0.1
    assert t.loc[1, "eccentricity"] == pytest.approx(np.sqrt(1 - 0.25), abs=0.03)
    assert t.loc[1, "major_axis_px"] == pytest.approx(12.0, rel=0.1)
    assert np.isnan(t.loc[2, "eccentricity"])
