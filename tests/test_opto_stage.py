"""The opto / inactivation stage workers on simulated NWB files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.data.errors import DataError
from thalamocortex.data.nwb import write_session
from thalamocortex.opto.params import OptoParams
from thalamocortex.opto.stage import inactivation_trials, opto_session
from thalamocortex.preprocess.params import PreprocessParams
from thalamocortex.simulate.cohort import simulate_session
from thalamocortex.simulate.params import preset


@pytest.fixture(scope="module")
def expert_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("opto")
    sess, truth = simulate_session(preset("tiny"), "all_optical", 0, 14)
    path = d / f"{sess.id}.nwb"
    write_session(sess, path)
    return path, truth


def test_opto_session_worker_tables(expert_file, tmp_path):
    path, truth = expert_file
    params = OptoParams(n_permutations=200, n_bootstrap=100)
    out = opto_session(str(path), str(tmp_path), params, PreprocessParams())
    neurons = out["neurons"]
    assert len(neurons) == len(truth["rois"])
    assert (neurons["condition"] == "opsin").all() and (neurons["stage"] == "expert").all()
    assert neurons["roi_name"].tolist() == truth["rois"]["roi_name"].tolist()
    fr = out["fractions"].set_index("null")
    # real pulses drive most neurons in the expert; the pseudo-pulse null stays near alpha
    assert fr.loc["pulses", "responsive"] > 0.5
    assert fr.loc["pseudo", "responsive"] <= params.fdr_alpha
    peri = out["peri"]
    blank = peri.groupby("time_s")["dff"].apply(lambda x: x.isna().all())
    # light onset and the blanked frames after it are NaN for every neuron
    assert blank.loc[0.0] and blank.sum() == 11  # 1 s at 10 Hz: ceil(10) + 1
    assert not blank.loc[blank.index < 0].any()


def test_inactivation_trials_from_behaviour_table():
    beh = pd.DataFrame(
        {
            "mouse": ["a", "a", "a", "b"],
            "session": [14, 14, 14, 3],
            "trial": [0, 1, 2, 0],
            "light": [True, False, True, False],
            "included": [True, True, False, True],
            "rewarded": [True, False, True, True],
            "similarity_to_template": [0.5, 0.9, 0.1, 0.7],
        }
    )
    sessions = pd.DataFrame(
        {"mouse": ["a", "b"], "session": [14, 3], "experiment": ["inactivation", "all_optical"]}
    )
    t = inactivation_trials(beh, sessions)
    assert t["trial"].tolist() == [0, 1]
    assert t["rewarded"].tolist() == [1.0, 0.0] and t["light"].dtype == bool
    with pytest.raises(DataError, match="light"):
        inactivation_trials(beh.drop(columns="light"), sessions)
    assert np.isfinite(t["similarity_to_template"]).all()
