"""Core data model: validation and the lever <-> frame clock conversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.data.model import Imaging, Lever, SessionInfo, lever_to_frames


def _imaging(n_frames=100, n_rois=3, rate=10.0, t0=2.0):
    rois = pd.DataFrame(
        {"roi_name": [f"r{i}" for i in range(n_rois)], "roi_type": "soma", "region": "M1"}
    )
    F = np.ones((n_frames, n_rois), np.float32)
    return Imaging(rois=rois, F=F, frame_times=t0 + np.arange(n_frames) / rate)


def test_lever_sample_index_and_times():
    lev = Lever(np.zeros(1000), rate=500.0, t0=1.0)
    assert lev.duration == pytest.approx(2.0)
    assert lev.sample_index([1.0, 1.002, 2.999]).tolist() == [0, 1, 999]
    assert lev.times[-1] == pytest.approx(1.0 + 999 / 500)


def test_frame_index_nearest_and_out_of_range():
    im = _imaging()
    assert im.frame_rate == pytest.approx(10.0)
    idx = im.frame_index([2.0, 2.04, 2.06, 11.9, 1.0, 20.0])
    assert idx.tolist() == [0, 0, 1, 99, -1, 100]


def test_lever_to_frames_mean_matches_block_average():
    rate, fr = 1000.0, 10.0
    x = np.arange(5000, dtype=float)  # a ramp: block means are exact
    lev = Lever(x, rate=rate, t0=0.0)
    ft = np.arange(50) / fr
    y = lever_to_frames(lev, ft, how="mean")
    assert np.allclose(y, np.arange(50) * 100 + 49.5)
    z = lever_to_frames(lev, ft + 0.5, how="nearest")
    assert z[0] == 500.0
    assert np.isnan(lever_to_frames(lev, np.array([10.0, 11.0]))).all()


def test_validation_messages_name_the_field():
    with pytest.raises(ValueError, match="experiment"):
        SessionInfo(mouse="m1", session=1, experiment="bogus", region="MTh")
    with pytest.raises(ValueError, match="mouse"):
        SessionInfo(mouse="m_1", session=1, experiment="axon_imaging", region="MTh")
    with pytest.raises(ValueError, match=r"Imaging.F: expected shape \(n_frames, 4\)"):
        rois = pd.DataFrame({"roi_name": list("abcd"), "roi_type": "soma", "region": "M1"})
        Imaging(rois=rois, F=np.zeros((5, 3), np.float32), frame_times=np.arange(5.0))
    with pytest.raises(ValueError, match="Lever.rate"):
        Lever(np.zeros(3), rate=0)
