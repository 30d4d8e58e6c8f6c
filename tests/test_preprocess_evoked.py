"""All-optical movies: photostimulation-evoked responses are synchronous across the driven
population; ROI detection must still find the cells (ground truth)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from conftest import make_session, spontaneous_dff
from thalamocortex.preprocess.params import PreprocessParams
from thalamocortex.preprocess.roimatch import detection_scores, match_footprints
from thalamocortex.preprocess.stage import _imaging_from_movie
from thalamocortex.simulate.movies import MovieParams, simulate_movie

pytestmark = pytest.mark.imaging
pytest.importorskip("torch")
if importlib.util.find_spec("suite2p") is None:
    pytest.skip("suite2p not installed", allow_module_level=True)

# 120 s at 15 Hz: with a pulse every 3 s and 1 s kept out after each, detection sees 60 s.
# The former 30 s at 30 Hz (15 s left for detection) was too short for functional detection at
# realistic photon counts (see test_preprocess_suite2p: 90 s find 8 of 12 somata).
RATE = 15.0
N_FRAMES = 1800
N_SOMATA = 16


@pytest.fixture(scope="module")
def all_optical():
    """120 s at 15 Hz; a 0.5 s light pulse every 3 s; half of the somata respond to every pulse
    with a burst (Poisson, mean 5 spikes) on top of the simulator's sparse bursty spontaneous
    activity (conftest.spontaneous_dff)."""
    rng = np.random.default_rng(3)
    s = make_session(seed=3, n_frames=N_FRAMES, n_rois=2, frame_rate=RATE)
    times = s.imaging.times
    starts = np.arange(2.0, times[-1] - 1.0, 3.0)
    s.stimulation.pulses = pd.DataFrame(
        {
            "start_time": starts,
            "duration": 0.5,
            "power": 5.0,
            "target": "MTh axons in M1",
            "pattern": "p0",
        }
    )
    driven = np.arange(N_SOMATA) % 2 == 0
    evoked = np.zeros((N_FRAMES, N_SOMATA))
    for st in starts:
        k = np.searchsorted(times, st + 0.25)
        evoked[k, driven] += rng.poisson(5.0, driven.sum())
    dff = spontaneous_dff(N_FRAMES, N_SOMATA, RATE, seed=3, extra_spikes=evoked)
    light = np.stack([starts, starts + 0.5], 1)
    m = simulate_movie(
        dff,
        ["soma"] * N_SOMATA,
        times,
        light_windows=light,
        params=MovieParams(height_px=80, width_px=80),
        seed=4,
    )
    return s, m


def _recall(s, m, params):
    imaging, motion, _ = _imaging_from_movie(s, m.movie, params, s.imaging.times)
    mt = match_footprints(imaging.footprints, m.footprints, m.image_shape, 0.5)
    return detection_scores(imaging.n_rois, N_SOMATA, len(mt)), motion


def test_evoked_responses_are_kept_out_of_detection(all_optical):
    """The artefact frames and the second after each pulse are kept out of detection.

    Old target P, R >= 0.9 (old simulator: P 1.0 / R 1.0 on tonic 1-spike bumps with dF/F-3
    evoked transients, and 0.875 recall without the post-pulse exclusion). On the realistic
    regime observed: 17 ROIs, P 0.59 / R 0.62 (10 of 16 somata; the extra ROIs are out-of-focus
    cells and fragments that suite2p's classifier keeps); with the movie's bleaching and drift
    taken from MeasurementParams (one setting for traces and movies) the same seed gives P 0.53
    / R 0.50 (8 of 16: one soma is 0.06 of recall, so realisations differ by that much);
    asserted at the measured level with that margin.

    Whether the post-pulse exclusion (``detection_exclude_after_light_s`` 1.0) still pays off
    is no longer clear-cut, so it is not asserted: on this movie detection without it finds
    more (P 0.65 / R 0.81: at sparse spontaneous rates the evoked bursts are the driven
    cells' main activity), on two realistic tiny-preset all-optical session movies it costs
    P/R 0.80/0.80 -> 0.76/0.73 (mouse 0 session 1) and helps 0.81/0.78 -> 0.87/0.80 (mouse 1
    session 14).
    """
    s, m = all_optical
    p = PreprocessParams(suite2p_diameter_px=8)
    sc, motion = _recall(s, m, p)
    assert sc["precision"] >= 0.45 and sc["recall"] >= 0.45, sc
    # the artefact frames are a subset of the frames kept out of detection; here half of all
    # frames are kept out, where suite2p's own bad-frame binning would let them back in
    assert (motion["bad"] | ~motion["artefact"]).all()
    assert motion["bad"].mean() >= 0.5 and motion["artefact"].sum() == 360
