"""Encoding stage pieces: matched ROI count, learning tables, onsets, report section from tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import thalamocortex.config  # noqa: F401
from thalamocortex.behavior.parse import detect_movements
from thalamocortex.encoding.learning import learning_contrasts, region_comparison, with_stages
from thalamocortex.encoding.params import EncodingParams
from thalamocortex.encoding.session import encode_session, rewarded_movement_onsets
from thalamocortex.encoding.stage import matched_roi_count
from thalamocortex.preprocess.traces import session_dff
from thalamocortex.simulate.cohort import simulate_session
from thalamocortex.simulate.params import preset
from thalamocortex.stats.params import StatsParams


def test_matched_roi_count():
    p = EncodingParams(min_rois=5, max_rois_matched=40)
    assert matched_roi_count(pd.Series([120, 38, 3, 60]), p) == 38  # 3 is below min_rois
    assert matched_roi_count(pd.Series([120, 300]), p) == 40  # capped
    assert matched_roi_count(pd.Series([2]), p) == 0
    assert matched_roi_count(pd.Series([10]), p.model_copy(update={"n_rois_matched": 7})) == 7


def test_rewarded_onsets_from_reward_inside_bout():
    trials = pd.DataFrame(
        {
            "start_time": [0, 10, 20],
            "stop_time": [10, 20, 30],
            "cue_time": [1, 11, 21],
            "reward_time": [2.0, np.nan, 25.0],
        }
    )
    mv = pd.DataFrame({"onset": [1.5, 12.0, 22.0], "offset": [3.0, 13.0, 23.0]})
    out = rewarded_movement_onsets(trials, mv)
    assert out["onset"].tolist()[0] == 1.5
    assert np.isnan(out["onset"].iloc[1]) and np.isnan(out["onset"].iloc[2])  # 25 outside bout


def _synthetic_sessions():
    rng = np.random.default_rng(0)
    rows = []
    for region, eff in (("MTh", 0.3), ("M2", 0.0)):
        for m in range(7):
            for s in (1, 2, 13, 14):
                rows.append(
                    {
                        "region": region,
                        "mouse": f"{region}{m}",
                        "session": s,
                        "decode_r2": 0.1 + eff * (s > 10) + rng.normal(0, 0.03),
                    }
                )
    return pd.DataFrame(rows)


def test_learning_tables_find_the_changing_region():
    d = _synthetic_sessions()
    st = StatsParams(n_bootstrap=300, stage_sessions=2)
    staged = with_stages(d, st)
    assert staged.groupby("session")["stage"].first().to_dict() == {
        1: "naive",
        2: "naive",
        13: "expert",
        14: "expert",
    }
    learn = learning_contrasts(d, st, metrics=("decode_r2",)).set_index("region")
    mth = learn.loc["MTh"]
    assert mth["estimate"] == pytest.approx(0.3, abs=0.05)
    assert mth["role"] == "secondary"  # no experiment column: not the input-region family
    assert mth["p_sign_flip"] == pytest.approx(2 / 128)  # 7 mice, all increase: exact 2 / 2**7
    # pooled-variance t over 14 mice (df 12), Holm over 2 regions
    assert mth["df"] == 12 and mth["p_adjusted"] < 1e-6
    assert mth["reject"] and not learn.loc["M2", "reject"]
    assert mth["ci_low"] > 0.2 and mth["p_boot"] < 0.01
    reg = region_comparison(d, StatsParams(n_permutations=500), metrics=("decode_r2",))
    top = reg.set_index("region").loc["MTh"]
    assert top["named"] and top["rank"] == 1 and top["estimate"] == pytest.approx(0.3, abs=0.05)
    assert top["p_adjusted"] < 0.01


def test_report_section_renders_from_tables(tmp_path):
    from thalamocortex.encoding.learning import learning_contrasts as lc
    from thalamocortex.report.sections import encoding as section

    cfg = preset("tiny")
    cfg.behavior.n_trials = 30
    params = EncodingParams(
        n_shuffles=200,
        n_bootstrap_timing=10,
        n_subsamples=2,
        min_trials=5,
    )
    parts = {"rois": [], "sessions": [], "peri": [], "trials": []}
    for ses in (1, 14):
        s, _ = simulate_session(cfg, "axon_imaging", 0, ses)
        dff = session_dff(s, with_events=False).dff
        r = encode_session(s, dff, detect_movements(s.lever), params, n_rois_matched=10)
        parts["rois"].append(r.rois)
        parts["sessions"].append(pd.DataFrame([r.summary]))
        parts["peri"].append(r.peri)
        parts["trials"].append(r.trials)
    out = tmp_path / "encoding"
    out.mkdir()
    tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    st = StatsParams(n_bootstrap=100)
    tables["sessions"] = with_stages(tables["sessions"], st)
    tables["rois"]["stage"] = tables["rois"]["session"].map({1: "naive", 14: "expert"})
    tables["learning"] = lc(tables["sessions"], st)
    tables["regions"] = region_comparison(tables["sessions"], st)
    for k, v in tables.items():
        v.to_parquet(out / f"{k}.parquet")
    html = section.render(tmp_path, tmp_path / "fig")
    # fractions (movement, quiescence), heatmaps, onset latency, reliability, decoding: each
    # captioned; no examples/rasters tables here
    assert html.count("<img") == 6
    assert html.count("<figcaption>") == 6
    assert "odd-numbered trials" in html  # cross-validated heatmap order
    assert "Naive vs expert per region" in html and "MTh" in html
    assert "Movement encoding" in section.TITLE
    # a results folder without the stage says so instead of failing
    assert "No results" in section.render(tmp_path / "nothing", tmp_path / "fig")


def test_light_periods_are_left_out_of_encoding():
    import numpy as np
    import pandas as pd

    from thalamocortex.data.model import Session, SessionInfo, Stimulation
    from thalamocortex.encoding.session import exclude_light_periods

    t = np.arange(100) / 10.0  # 10 Hz, 10 s
    dff = np.ones((100, 2), np.float32)
    pulses = pd.DataFrame(
        {"start_time": [2.0, 6.0], "duration": [0.5, 0.5], "power": 5.0, "target": "MTh"}
    )
    info = SessionInfo(mouse="m", session=1, experiment="all_optical", region="M1")
    s = Session(info=info, stimulation=Stimulation(pulses))
    out = exclude_light_periods(dff, t, s, after_s=1.0)
    blanked = np.isnan(out[:, 0])
    # [2.0, 3.5) and [6.0, 7.5): 15 frames each
    assert blanked.sum() == 30
    assert blanked[20] and blanked[34] and not blanked[35] and not blanked[19]
    assert not np.isnan(dff).any()  # input untouched
    assert exclude_light_periods(dff, t, Session(info=info), 1.0) is dff
