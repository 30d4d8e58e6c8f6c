"""Trials table: cued flag, rewarded movement, reaction time, exclusions (synthetic lever)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_behavior_parse import synthetic_lever
from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import parse_lever
from thalamocortex.behavior.session import analyse_session, rewarded_movement_onsets
from thalamocortex.behavior.trials import session_summary, trial_table
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Session, SessionInfo

# presses at these onsets (0.7 s long, threshold crossed ~0.15 s after onset)
PRESSES = [3.3, 8.1, 12.2, 15.0, 19.5]
CUES = [3.0, 7.5, 12.25, 18.0, 24.0]
REWARDS = [3.5, 8.3, 12.4, np.nan, np.nan]


def _trials(cues=CUES, rewards=REWARDS) -> pd.DataFrame:
    cues = np.asarray(cues, float)
    return pd.DataFrame(
        {
            "start_time": cues,
            "stop_time": cues + 3.0,
            "cue_time": cues,
            "reward_time": np.asarray(rewards, float),
            "outcome": np.where(np.isfinite(rewards), "hit", "miss"),
            "light": [False, True, False, True, False],
        }
    )


def _parsed(**kw):
    return parse_lever(synthetic_lever(PRESSES, duration=30.0, **kw))


def test_trial_measures_follow_the_presses():
    t = trial_table(_parsed(), _trials(), mouse="A", session=3)
    assert list(t["trial"]) == [0, 1, 2, 3, 4]
    assert (t["mouse"] == "A").all() and (t["session"] == 3).all()
    assert list(t["movement_kind"]) == ["rewarded", "rewarded", "rewarded", "response", "none"]
    # trial 2: the lever is already moving at the cue (press from 12.2 s) -> not cued
    assert list(t["cued"]) == [True, True, False, True, True]
    assert list(t["rewarded"]) == [True, True, True, False, False]
    onset = t["movement_onset"].to_numpy()
    assert np.allclose(onset[:4], [3.3, 8.1, 12.2, 19.5], atol=0.01)
    assert np.isnan(onset[4])
    assert t["reaction_time"][3] == pytest.approx(1.5, abs=0.01)
    assert np.allclose(t["reaction_time"][[0, 1]], [0.3, 0.6], atol=0.01)
    assert t["reaction_time"][2] == pytest.approx(-0.05, abs=0.01)
    assert np.allclose(t["movement_duration"][[0, 1]], 0.7, atol=0.03)
    # the 5 Hz zero-phase Butterworth overshoots a 0.2 s rise by ~3 %
    assert np.allclose(t["peak_amplitude"][[0, 1, 2]], 2.0, atol=0.07)
    assert np.allclose(t["time_to_threshold"][[0, 1]], [0.2, 0.2], atol=0.01)
    assert t["light"].tolist() == [False, True, False, True, False]


def test_session_summary_counts():
    parsed = _parsed()
    t = trial_table(parsed, _trials())
    s = session_summary(parsed, t)
    assert s["n_trials"] == 5 and s["n_included"] == 5
    assert s["n_rewarded"] == 3 and s["success_rate"] == pytest.approx(0.6)
    assert s["n_cued"] == 4 and s["success_rate_cued"] == pytest.approx(0.5)
    # press at 15.0 s is nobody's movement
    assert s["n_movements"] == 5 and s["n_intertrial_movements"] == 1
    assert s["median_reaction_time"] == pytest.approx(0.45, abs=0.01)  # rewarded cued: 0.3, 0.6
    assert s["fraction_time_moving"] == pytest.approx(5 * 0.7 / 30.0, abs=0.01)


def test_trials_outside_recording_are_excluded_and_counted():
    cues = [3.0, 7.5, 12.25, 18.0, 31.0]  # the last cue is after the 30 s lever
    t = trial_table(_parsed(), _trials(cues=cues))
    assert t["exclusion"].tolist()[-1] == "outside_recording"
    assert not t["included"].iloc[-1] and not t["cued"].iloc[-1]
    s = session_summary(_parsed(), t)
    assert s["n_excluded_outside"] == 1 and s["n_included"] == 4


def test_lever_shorter_than_trials_is_a_data_error():
    cues = [3.0, 37.5, 42.0, 48.0, 54.0]
    with pytest.raises(DataError, match=r"sub-A_ses-2.nwb: field 'lever'.*4 of 5 trials"):
        trial_table(_parsed(), _trials(cues=cues), source="sub-A_ses-2.nwb")


def test_trials_on_nan_lever_are_excluded_and_counted():
    lever = synthetic_lever(PRESSES, duration=30.0)
    lever.data[17500:19000] = np.nan  # around the cue of trial 3
    parsed = parse_lever(lever)
    t = trial_table(parsed, _trials())
    assert t["exclusion"].tolist() == ["", "", "", "lever_nan", ""]
    assert session_summary(parsed, t)["n_excluded_nan"] == 1


def test_missing_cue_column_is_named():
    with pytest.raises(DataError, match="trials.cue_time"):
        trial_table(_parsed(), pd.DataFrame({"start_time": [1.0]}), source="x.nwb")


def _session(lever=None, trials=None) -> Session:
    info = SessionInfo(mouse="A", session=2, experiment="inactivation", region="MTh")
    return Session(
        info=info,
        lever=lever if lever is not None else synthetic_lever(PRESSES, duration=30.0),
        trials=trials if trials is not None else _trials(),
        source="sub-A_ses-2.nwb",
    )


def test_session_api_and_onsets_for_other_analyses():
    sb = analyse_session(_session())
    assert sb.snippets.shape == (5, int(3.4 * 1000))
    assert sb.binned.shape == (5, 300)
    assert sb.trials["usable_trace"].tolist() == [True, True, True, True, False]
    assert sb.movements["kind"].tolist().count("intertrial") == 1
    assert sb.movements.loc[sb.movements["kind"] == "trial", "trial"].tolist() == [0, 1, 2, 3]
    on = rewarded_movement_onsets(_session())
    assert {"trial", "movement_onset", "cued", "rewarded", "light"} <= set(on.columns)
    assert np.allclose(on["movement_onset"][:3], [3.3, 8.1, 12.2], atol=0.01)
    # similarity to a template equal to the mean trace is high for identical presses
    tpl = np.nanmean(sb.binned[:3], axis=0)
    sb2 = analyse_session(_session(), template=tpl)
    assert (sb2.trials["similarity_to_template"][:3] > 0.95).all()
    assert np.isnan(sb2.trials["similarity_to_template"][4])


def test_flat_lever_session_raises_naming_file():
    flat = synthetic_lever([], duration=30.0, noise=0.0)
    with pytest.raises(DataError, match="sub-A_ses-2.nwb.*flat"):
        analyse_session(_session(lever=flat))


def test_response_window_is_a_parameter():
    t = trial_table(_parsed(), _trials(), BehaviorParams(response_window_s=1.0))
    assert t["movement_kind"].iloc[3] == "none"  # press 1.5 s after the cue


_PARSED = None


def _parsed_once():
    global _PARSED
    if _PARSED is None:
        _PARSED = _parsed()
    return _PARSED


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-5.0, 35.0), st.one_of(st.just(np.nan), st.floats(0.0, 3.0))),
        min_size=1,
        max_size=12,
    )
)
def test_trial_table_exclusions_always_add_up(events):
    cues = np.array([c for c, _ in events])
    rewards = np.array([c + r for c, r in events])
    trials = pd.DataFrame(
        {"start_time": cues, "stop_time": cues + 3, "cue_time": cues, "reward_time": rewards}
    )
    parsed = _parsed_once()
    try:
        t = trial_table(parsed, trials)
    except DataError as err:
        # only for too many trials outside the 30 s recording, and it says so
        assert "outside the lever recording" in str(err)
        return
    s = session_summary(parsed, t)
    assert s["n_included"] + s["n_excluded_outside"] + s["n_excluded_nan"] == len(events)
    inc = t["included"].to_numpy()
    assert not t.loc[~inc, "cued"].any() and not t.loc[~inc, "rewarded"].any()
    has = t["movement_index"].to_numpy() >= 0
    assert np.isfinite(t.loc[has, "movement_onset"]).all()
    assert np.isnan(t.loc[~has, "movement_onset"]).all()
    assert (t.loc[has, "movement_duration"] > 0).all()


def test_lever_without_movements_gives_empty_but_valid_tables():
    parsed = parse_lever(synthetic_lever([], duration=30.0))
    assert len(parsed.movements) == 0 and not parsed.moving.any()
    t = trial_table(parsed, _trials())
    assert (t["movement_kind"].isin(["none", "unmatched"])).all()
    assert t["cued"].all() and np.isnan(t["movement_onset"]).all()
    s = session_summary(parsed, t)
    assert s["n_unmatched_reward"] == 3 and s["fraction_time_moving"] == 0.0
