"""Raw movie simulation (no suite2p needed) and import hygiene of the preprocess package."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from thalamocortex.preprocess.roimatch import match_footprints
from thalamocortex.simulate.movies import MovieParams, read_tiff, simulate_movie, write_tiff
from thalamocortex.simulate.params import MeasurementParams

RATE = 30.0


def _dff(n_frames, n_rois, seed=0, axon_ids=None):
    rng = np.random.default_rng(seed)
    kernel = np.exp(-np.arange(90) / (0.7 * RATE))
    n_src = n_rois if axon_ids is None else int(np.max(axon_ids)) + 1
    spk = (rng.random((n_frames, n_src)) < 0.02) * rng.uniform(0.5, 1.5, (n_frames, n_src))
    src = np.stack([np.convolve(spk[:, j], kernel)[:n_frames] for j in range(n_src)], 1)
    return src if axon_ids is None else src[:, axon_ids]


def test_movie_geometry_motion_and_artefacts():
    n = 10
    dff = _dff(200, n)
    times = np.arange(200) / RATE
    m = simulate_movie(dff, ["soma"] * n, times, light_windows=np.array([[2.01, 2.2]]), seed=3)
    assert m.movie.shape == (200, 64, 64) and m.movie.dtype == np.float32
    # light from 2.01 s to 2.2 s: frames 60 (partly, lower lines) to 65
    assert np.flatnonzero(m.artefact).tolist() == [60, 61, 62, 63, 64, 65]
    top, bottom = m.movie[60, :5].mean(), m.movie[60, -5:].mean()
    assert bottom > top + 100  # the raster scan reached the light only in frame 60's lower part
    # somata stay inside the field and some edges overlap (min_soma_distance 0.85 diameters;
    # here 6.5 % of the footprint pixels above weight 0.2 are shared)
    masks = m.footprint_masks()
    assert 0 < (masks.sum(0) > 1).sum() < 0.1 * masks.any(0).sum()
    assert np.abs(m.shifts).max() <= MovieParams().motion_max_px
    # the motion-free reference correlates with the mean of the good frames
    good = m.movie[~m.artefact].mean(0)
    assert np.corrcoef(good.ravel(), m.mean_image.ravel())[0, 1] > 0.8
    # most somata are brighter than the background in the reference (brightness spreads over
    # a decade: the dimmest are darker than the neuropil around them, as in real fields)
    brighter = [
        m.mean_image[fp[:, 0].astype(int), fp[:, 1].astype(int)].mean() > np.median(m.mean_image)
        for fp in m.footprints
    ]
    assert np.mean(brighter) >= 0.6


def test_movie_noise_and_artefacts_are_the_measurements():
    """One setting per quantity: a movie's read noise, shot noise and light artefacts come from
    the same MeasurementParams as the trace-level F / Fneu (MovieParams has none of them)."""
    dup = {"shot_noise", "read_noise_photons", "artefact_photons_px", "drift_sd"}
    assert not dup & set(MovieParams.model_fields)
    dff, times = _dff(100, 6), np.arange(100) / RATE
    light = np.array([[1.0, 1.2]])

    def movie(**kw):
        mp = MeasurementParams(**{"shot_noise": False, "read_noise_photons": 0.0, **kw})
        return simulate_movie(dff, ["soma"] * 6, times, light_windows=light, seed=5, measurement=mp)

    clean, noisy, dark = movie(), movie(read_noise_photons=4.0), movie(artefact_photons_px=0.0)
    assert np.std(noisy.movie - clean.movie) == pytest.approx(4.0, rel=0.02)
    art = clean.artefact
    assert art.sum() >= 6
    lit = (clean.movie[art] - dark.movie[art]).max()
    assert lit == pytest.approx(MeasurementParams().artefact_photons_px, rel=1e-4)


def test_movie_motion_is_measurable_by_phase_correlation():
    # a frame shifted by the true (dy, dx) realigns onto the reference
    p = MovieParams(nonrigid_px=0, motion_jitter_sd_px=1.5)
    # a static, noise-free scene (no neuropil fluctuation, bleaching or drift): only the motion
    # differs between frames
    still = MeasurementParams(
        neuropil_slow_sd=0,
        neuropil_patch_sd=0,
        neuropil_movement_dff=0,
        shot_noise=False,
        read_noise_photons=0,
        bleach_per_min=0,
        drift_sd=0,
    )
    m = simulate_movie(
        np.zeros((20, 8)), ["soma"] * 8, np.arange(20) / RATE, params=p, seed=4, measurement=still
    )
    from scipy import ndimage

    for t in range(20):
        back = ndimage.shift(m.movie[t], -m.shifts[t], order=1, mode="nearest")
        inner = (slice(8, -8), slice(8, -8))
        err = np.abs(back[inner] - m.mean_image[inner] * 1.0).mean() / m.mean_image.mean()
        assert err < 0.05, (t, err)


def test_boutons_follow_axons_and_share_signals():
    axon = np.repeat(np.arange(5), 3)
    dff = _dff(100, len(axon), axon_ids=axon)
    m = simulate_movie(dff, ["bouton"] * len(axon), np.arange(100) / RATE, axon_ids=axon, seed=5)
    assert (m.rois["axon_id"].to_numpy() == axon).all()
    for fp in m.footprints:
        assert 5 <= len(fp) <= 40  # small puncta
    # boutons of one axon lie along a path: consecutive ones a few px apart
    c = m.rois[["centroid_y", "centroid_x"]].to_numpy()
    steps = [np.hypot(*(c[i + 1] - c[i])) for i in range(len(axon) - 1) if axon[i] == axon[i + 1]]
    assert 3.0 < np.median(steps) < 12.0


def test_tiff_round_trip(tmp_path):
    m = simulate_movie(_dff(30, 4), ["soma"] * 4, np.arange(30) / RATE, seed=6)
    path = write_tiff(tmp_path / "movie.tif", m.movie, RATE)
    import tifffile

    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 30  # one page per frame
    back = read_tiff(path)
    np.testing.assert_array_equal(back, np.clip(np.rint(m.movie), 0, 65535))


def test_match_footprints_identity_and_shift():
    m = simulate_movie(_dff(10, 6), ["soma"] * 6, np.arange(10) / RATE, seed=7)
    mt = match_footprints(m.footprints[::-1], m.footprints, m.image_shape)
    assert len(mt) == 6 and (mt["iou"] == 1).all()
    assert (mt["truth"].to_numpy() == 5 - mt["detected"].to_numpy()).all()
    moved = [fp + np.array([5.0, 0, 0], np.float32) for fp in m.footprints]  # 5 px: IoU < 0.5
    assert len(match_footprints(moved, m.footprints, m.image_shape)) == 0


def test_too_many_somata_is_a_clear_error():
    with pytest.raises(ValueError, match="non-overlapping"):
        simulate_movie(np.zeros((5, 200)), ["soma"] * 200, np.arange(5) / RATE)


def test_import_thalamocortex_needs_neither_torch_nor_network():
    code = (
        "import socket, sys\n"
        "def no_net(*a, **k):\n"
        "    raise RuntimeError('network access during import')\n"
        "socket.socket.connect = no_net\n"
        "socket.create_connection = no_net\n"
        "import thalamocortex, thalamocortex.config\n"
        "import thalamocortex.preprocess.dff, thalamocortex.preprocess.events\n"
        "import thalamocortex.preprocess.traces, thalamocortex.preprocess.merge\n"
        "import thalamocortex.preprocess.suite2p_io, thalamocortex.preprocess.suite2p_run\n"
        "import thalamocortex.preprocess.tracking, thalamocortex.simulate.movies\n"
        "bad = [m for m in ('torch', 'suite2p', 'torchvision', 'cellpose') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_session_movie_from_the_simulator():
    cohort = pytest.importorskip("thalamocortex.simulate.cohort")
    from thalamocortex.simulate.movies import session_movie
    from thalamocortex.simulate.params import preset

    s, truth = cohort.simulate_session(preset("tiny"), "axon_imaging", 0, 1, return_traces=True)
    m = session_movie(s, truth, MovieParams(height_px=96, width_px=96), frames=slice(0, 50))
    # the movie renders the session's own footprints (its NWB pixel masks), in its field
    assert m.movie.shape == (50, *s.imaging.image_shape)
    assert len(m.footprints) == len(truth["rois"])
    for fm, fs in zip(m.footprints, s.imaging.footprints):
        np.testing.assert_array_equal(fm, fs)
    np.testing.assert_array_equal(m.rois["axon_id"], truth["rois"]["axon_id"])
    np.testing.assert_allclose(m.dff, truth["traces"]["dff"][:50])


def test_deconvolution_finds_spikes():
    pytest.importorskip("oasis")
    from thalamocortex.preprocess.events import deconvolve

    rng = np.random.default_rng(0)
    n = 3000
    spikes = (rng.random((n, 3)) < 0.01).astype(float)
    kernel = np.exp(-np.arange(150) / 30.0)
    dff = np.stack([np.convolve(spikes[:, j], kernel)[:n] for j in range(3)], 1)
    dff = dff + rng.normal(0, 0.05, dff.shape)
    dff[500:510] = np.nan
    s = deconvolve(dff, RATE, tau_s=1.0)
    assert s.shape == dff.shape and np.isnan(s[500:510]).all()
    ok = np.isfinite(s[:, 0])
    r = [np.corrcoef(s[ok, j], spikes[ok, j])[0, 1] for j in range(3)]
    assert min(r) > 0.6, r


def test_write_cohort_movies(tmp_path):
    cohort = pytest.importorskip("thalamocortex.simulate.cohort")
    from thalamocortex.data.layout import session_path
    from thalamocortex.data.nwb import read_session, write_session
    from thalamocortex.simulate.cohort import write_cohort_movies
    from thalamocortex.simulate.params import preset

    cfg = preset("tiny")
    cfg.axon_imaging.sessions = [1]
    cfg.axon_imaging.regions = {"MTh": cfg.axon_imaging.regions["MTh"]}
    s, truth = cohort.simulate_session(cfg, "axon_imaging", 0, 1)
    nwb = write_session(s, session_path(tmp_path, s.info.mouse, 1))
    paths = write_cohort_movies(
        cfg,
        tmp_path,
        MovieParams(height_px=96, width_px=96),
        max_frames=40,
        experiments=("axon_imaging",),
    )
    assert len(paths) == 1 and paths[0].name.endswith("_ses-1.tif")
    gt = np.load(tmp_path / "ground_truth" / "movies" / (paths[0].stem + ".npz"))
    # the session file references the movie (external TwoPhotonSeries) with its frame times
    with read_session(nwb) as back:
        assert back.movie.paths() == [paths[0]] and back.movie.n_frames == 40
        np.testing.assert_array_equal(back.movie.times(), s.imaging.times[:40])
        np.testing.assert_array_equal(back.movie.read(), read_tiff(paths[0]))
        assert back.imaging.n_frames == s.imaging.n_frames  # the rest of the file is intact
    # the movie shows the session's own field (the footprints in its NWB file)
    assert read_tiff(paths[0]).shape == (40, *s.imaging.image_shape)
    assert gt["shifts"].shape == (40, 2) and len(gt["roi_name"]) == len(truth["rois"])
    assert set(np.unique(gt["footprints"][:, 0]).astype(int)) == set(range(len(truth["rois"])))
