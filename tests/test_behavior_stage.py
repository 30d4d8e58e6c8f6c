"""The behaviour stage end to end on a tiny simulated dataset, and its report section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from thalamocortex.behavior import template_for
from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.stage import analyse_path, run, summarise
from thalamocortex.config import Config
from thalamocortex.pipeline.context import StageContext
from thalamocortex.report.sections import behavior as section
from thalamocortex.simulate.cohort import simulate_cohort
from thalamocortex.simulate.params import preset

TABLES = ("trials", "sessions", "movements", "session_matrix", "templates", "examples", "trends")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("beh")
    cfg = preset("tiny")
    cfg.axon_imaging.n_axons = 5
    data = simulate_cohort(cfg, root / "data", progress=False, experiments=["axon_imaging"])
    ctx = StageContext(data, root / "results", Config(), "behavior")
    run(ctx)
    return root / "results"


def test_stage_writes_tidy_tables(results):
    d = results / "behavior"
    for name in TABLES:
        assert (d / f"{name}.parquet").is_file(), name
        assert (d / f"{name}.parquet.provenance.json").is_file(), name
    sessions = pd.read_parquet(d / "sessions.parquet")
    trials = pd.read_parquet(d / "trials.parquet")
    # tiny: 2 axon-imaging mice x sessions 1, 7, 14, 20 trials each
    assert len(sessions) == 6 and (sessions["status"] == "ok").all()
    assert len(trials) == 120
    assert trials.groupby(["mouse", "session"]).size().eq(20).all()
    for col in (
        "cue_time",
        "cued",
        "movement_onset",
        "reaction_time",
        "movement_duration",
        "peak_amplitude",
        "time_to_threshold",
        "rewarded",
        "outcome",
        "light",
        "similarity_to_template",
    ):
        assert col in trials, col
    for col in (
        "success_rate",
        "median_reaction_time",
        "stereotypy",
        "n_trials",
        "n_cued",
        "n_intertrial_movements",
        "fraction_time_moving",
        "n_excluded_outside",
        "n_excluded_nan",
    ):
        assert col in sessions, col
    # the template is built from the last 3 sessions of each mouse (all 3 here)
    tpl = pd.read_parquet(d / "templates.parquet")
    assert set(tpl["sessions"]) == {"1,7,14"} and tpl.groupby("mouse").size().eq(300).all()
    mouse = trials["mouse"].iloc[0]
    assert template_for(tpl, mouse).shape == (300,)
    with pytest.raises(KeyError, match="nobody"):
        template_for(tpl, "nobody")
    # expert rewarded trials resemble the template more than naive ones
    rew = trials[trials["movement_kind"] == "rewarded"]
    by = rew.groupby("session")["similarity_to_template"].median()
    assert by[14] > by[1]
    mat = pd.read_parquet(d / "session_matrix.parquet")
    assert len(mat) == 2 * 9
    with np.load(d / "snippets.npz") as z:
        assert z["position"].shape == (120, 340)
        assert np.array_equal(z["trial"], trials["trial"].to_numpy())
        assert np.array_equal(z["mouse"], trials["mouse"].to_numpy(str))
    ex = pd.read_parquet(d / "examples.parquet")
    assert set(ex["stage"]) == {"naive", "expert"}
    assert ex["t"].min() == pytest.approx(-0.395) and ex["t"].max() == pytest.approx(2.995)


def test_report_section_renders_from_tables(results, tmp_path):
    html = section.render(results, tmp_path)
    assert html.count("<img") == 3
    assert "2 mice, 6 sessions analysed, 120 trials" in html
    assert "behavior" in section.TITLE.lower() or "behaviour" in section.TITLE.lower()
    assert "No results" in section.render(tmp_path / "nothing", tmp_path)


def _result(mouse, session, status="ok"):
    from test_behavior_trials import _session

    s = _session()
    s.info.mouse = mouse
    s.info.session = session
    if status != "ok":
        return {
            "mouse": mouse,
            "session": session,
            "day": session,
            "experiment": "inactivation",
            "region": "MTh",
            "status": "excluded",
            "exclusion": "sub-x: field 'lever.data': lever trace is flat",
        }
    from thalamocortex.behavior.learning import bin_traces
    from thalamocortex.behavior.session import analyse_session

    p = BehaviorParams()
    sb = analyse_session(s, p)
    return {
        "mouse": mouse,
        "session": session,
        "day": session,
        "experiment": "inactivation",
        "region": "MTh",
        "status": "ok",
        "exclusion": "",
        "trials": sb.trials,
        "movements": sb.movements,
        "summary": sb.summary,
        "binned": sb.binned,
        "plot_traces": bin_traces(sb.snippets, sb.snippet_times, -0.4, 3.0, 0.01),
    }


def test_excluded_sessions_are_counted_not_dropped():
    res = [_result("A", 1), _result("A", 2, status="bad"), _result("A", 3)]
    tables = summarise(res, BehaviorParams())
    s = tables["sessions"]
    assert s["status"].tolist() == ["ok", "excluded", "ok"]
    assert "flat" in s["exclusion"].iloc[1]
    assert len(tables["trials"]) == 10
    assert np.isfinite(tables["trials"]["similarity_to_template"]).sum() == 8
    # the template and stereotypy use rewarded light-off trials: trials 0 and 2 of 2 sessions
    assert tables["templates"]["n_trials"].iloc[0] == 4
    assert tables["sessions"]["n_stereotypy_trials"].tolist()[::2] == [2, 2]
    all_light = summarise(res, BehaviorParams(learning_light_off_only=False))
    assert all_light["templates"]["n_trials"].iloc[0] == 6


def test_worker_excludes_broken_file_with_its_name(tmp_path):
    from test_behavior_trials import _session
    from thalamocortex.data.nwb import write_session

    s = _session()
    s.lever.data[:] = 1.0  # flat lever
    path = tmp_path / "sub-A" / "sub-A_ses-2.nwb"
    path.parent.mkdir()
    write_session(s, path)
    out = analyse_path(str(path), BehaviorParams())
    assert out["status"] == "excluded"
    assert "sub-A_ses-2.nwb" in out["exclusion"] and "flat" in out["exclusion"]
