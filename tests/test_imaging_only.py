"""Sessions without behaviour or stimulation, and a declared ROI type (never guessed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import make_session
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import SessionInfo
from thalamocortex.data.nwb import read_session, write_session


def test_roi_type_declared_or_implied_by_kind():
    kw = {"mouse": "m1", "session": 1, "region": "M1"}
    assert SessionInfo(experiment="imaging", roi_type="soma", **kw).declared_roi_type() == "soma"
    assert SessionInfo(experiment="imaging", **kw).declared_roi_type() is None
    assert SessionInfo(experiment="axon_imaging", **kw).declared_roi_type() == "bouton"
    assert SessionInfo(experiment="all_optical", **kw).declared_roi_type() == "soma"
    # a declaration wins over the kind
    info = SessionInfo(experiment="axon_imaging", roi_type="soma", **kw)
    assert info.declared_roi_type() == "soma"
    assert SessionInfo(experiment="imaging", roi_type="", **kw).roi_type is None
    with pytest.raises(ValueError, match="roi_type.*'dendrite'"):
        SessionInfo(experiment="imaging", roi_type="dendrite", **kw)


def _imaging_only(roi_type):
    s = make_session(experiment="all_optical", stimulation=False)
    info = dataclasses.replace(s.info, experiment="imaging", roi_type=roi_type)
    return dataclasses.replace(s, info=info, lever=None, trials=None)


def test_imaging_only_session_round_trips_without_lever(tmp_path):
    path = write_session(_imaging_only("soma"), tmp_path / "sub-M1_ses-1.nwb")
    with read_session(path) as back:  # no lever, no trials: no error, no require_lever needed
        assert back.lever is None and back.trials is None and back.stimulation is None
        assert back.info.experiment == "imaging" and back.info.roi_type == "soma"
        assert back.imaging.n_rois == 6


def test_task_session_without_lever_is_still_refused(tmp_path):
    s = make_session()
    s.lever = None
    path = write_session(s, tmp_path / "sub-M1_ses-1.nwb")
    with pytest.raises(DataError, match="no lever series"):
        read_session(path)


def test_preprocess_refuses_to_guess_the_roi_type(tmp_path):
    from thalamocortex.preprocess.stage import _roi_type

    path = write_session(_imaging_only(None), tmp_path / "sub-M1_ses-1.nwb")
    with read_session(path) as s:
        assert s.info.roi_type is None
        with pytest.raises(DataError, match=r"sub-M1_ses-1\.nwb.*roi_type.*not declared"):
            _roi_type(s)
    for declared in ("soma", "bouton"):
        s = _imaging_only(declared)
        assert _roi_type(s) == declared
    # a soma session is never processed as boutons, whatever its kind says
    s = make_session(experiment="axon_imaging", stimulation=False)
    s.info.roi_type = "soma"
    assert _roi_type(s) == "soma"


def test_sessions_table_of_an_imaging_only_dataset(tmp_path):
    from thalamocortex.data.layout import discover

    write_session(_imaging_only("soma"), tmp_path / "sub-M1" / "sub-M1_ses-1.nwb")
    table = discover(tmp_path)
    assert table["experiment"].tolist() == ["imaging"]
    assert np.isnan(table["lever_rate"].iloc[0]) and table["n_trials"].iloc[0] == 0
