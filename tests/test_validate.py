"""Calibration machinery: decisions, a small table-level validate, power curves, resume.

The default suite runs a small table-level calibration (20 null cohorts per kind: its
assertions are bounds a calibrated test meets with near certainty at that count, while a test
rejecting in 25 % of null cohorts fails them most of the time). The targets of issue 11 (>= 200
table-level and >= 40 whole-pipeline null cohorts per kind) are asserted by the ``slow`` test.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from thalamocortex.cli import main
from thalamocortex.stats.primary import as_test_table
from thalamocortex.validate.cohorts import TableDesign
from thalamocortex.validate.decisions import EXPECTED, cohort_decisions, detected
from thalamocortex.validate.power import EFFECT_TESTS, power_curves
from thalamocortex.validate.run import ValidationPlan, plan_tasks, run_validation
from thalamocortex.validate.summary import false_positive_rates

PRIMARY_CLAIMS = set(EXPECTED)


def _tests(named_rank1: bool, mth_reject: bool):
    rows = []
    for region, est in (("MTh", 0.3), ("M2", 0.01)):
        rows.append(
            {
                "claim": "learning:frac_movement",
                "role": "primary",
                "subject": region,
                "estimate": est,
                "p": 0.001 if region == "MTh" else 0.8,
                "p_adjusted": 0.002 if region == "MTh" else 0.8,
                "n_mice": 3,
                "reject": mth_reject and region == "MTh",
            }
        )
        rows.append(
            {
                "claim": "region_comparison:frac_movement",
                "role": "primary",
                "subject": region,
                "estimate": est,
                "p": 0.01,
                "p_adjusted": 0.03,
                "n_mice": 6,
                "reject": named_rank1 and region == "MTh",
                "named": named_rank1 and region == "MTh",
                "rank": 1 if region == "MTh" else 2,
            }
        )
    rows.append(
        {
            "claim": "inactivation:rewarded",
            "role": "secondary",
            "subject": "light on - off",
            "estimate": -0.3,
            "p": 0.001,
            "reject": True,
        }
    )
    return as_test_table(rows)


def test_decisions_flatten_primary_claims_and_score_detection():
    dec = cohort_decisions(_tests(named_rank1=True, mth_reject=True))
    assert set(dec["test"]) == {"learning:frac_movement", "region_comparison:frac_movement"}
    anyrow = dec[(dec["test"] == "learning:frac_movement") & (dec["subject"] == "any")].iloc[0]
    assert anyrow["reject"] and anyrow["p"] == pytest.approx(0.001)
    assert detected(dec, "learning:frac_movement") is True
    assert detected(dec, "region_comparison:frac_movement") is True
    assert detected(dec, "region_comparison:frac_movement", effect_region="M2") is False
    assert detected(dec, "opto:expert_enrichment") is None
    none = cohort_decisions(_tests(named_rank1=False, mth_reject=False))
    assert detected(none, "learning:frac_movement") is False
    assert (none.loc[none["test"].str.startswith("region"), "named"] == "").all()


def test_small_table_level_validation_and_resume(tmp_path):
    plan = ValidationPlan(
        table_cohorts=20, pipeline_cohorts=0, effect_cohorts=0, moved_cohorts=0, chunk=20
    )
    page = run_validation(tmp_path, plan, scheduler="sync", progress=False)
    assert page.is_file() and "Calibration of the primary tests" in page.read_text()
    fpr = pd.read_parquet(tmp_path / "false_positive_rates.parquet")
    assert set(fpr["test"]) == PRIMARY_CLAIMS
    assert set(fpr["kind"]) == {"zero", "varied"} and (fpr["n_cohorts"] == 20).all()
    # P(>= 5 of 20 | rate 0.05) = 0.003; a test rejecting in 25 % of nulls passes with p = 0.41
    assert (fpr["n_reject"] <= 4).all(), fpr[fpr["n_reject"] > 4]
    pw = pd.read_parquet(tmp_path / "power.parquet")
    eff = pw[pw["kind"] == "effect"].set_index("test")
    assert eff.loc["learning:frac_movement", "power"] >= 0.8
    assert eff.loc["behavior:learning", "power"] >= 0.8
    # the effect moved to M2: the comparison names M2 (and no longer MTh)
    moved = pw[pw["kind"] == "effect@M2"].set_index("test")
    assert moved.loc["region_comparison:frac_movement", "power"] >= 0.7
    named = pd.read_parquet(tmp_path / "named_regions.parquet")
    mth = named[(named["kind"] == "effect@M2") & (named["named"] == "MTh")]
    assert mth["share"].sum() <= 0.1
    assert (tmp_path / "calibration.md").read_text().startswith("| test |")
    meta = json.loads((tmp_path / "parameters.json").read_text())
    assert meta["analysis"]["stats"]["alpha"] == 0.05 and "package_version" in meta
    # resume: nothing left to do; other analysis parameters refuse to mix into the folder
    from thalamocortex.config import Config
    from thalamocortex.validate.run import calibration_design

    cfg = Config()
    assert plan_tasks(tmp_path, plan, TableDesign(), cfg.stats, calibration_design(), cfg) == []
    cfg.stats.alpha = 0.01
    with pytest.raises(FileExistsError, match="other analysis parameters"):
        run_validation(tmp_path, plan, config=cfg, scheduler="sync", progress=False)


def test_false_positive_rate_interval_and_target():
    rows = [
        {"level": "table", "test": "t", "kind": "zero", "seed": s, "subject": "any", "reject": r}
        for s, r in enumerate([True] * 10 + [False] * 190)
    ]
    fpr = false_positive_rates(pd.DataFrame(rows)).iloc[0]
    assert fpr["rate"] == 0.05 and fpr["ci_low"] < 0.05 < fpr["ci_high"] and fpr["passes"]
    rows = [dict(r, reject=i < 20) for i, r in enumerate(rows)]
    assert not false_positive_rates(pd.DataFrame(rows)).iloc[0]["passes"]  # 0.10


def test_power_curves_table_level(tmp_path):
    table = power_curves(
        "inactivation", [1.0], [3, 8], 12, tmp_path, scheduler="sync", progress=False
    )
    t = table.set_index("mice")
    assert (table["test"] == "inactivation:learned_movement").all()
    assert t.loc[8, "power"] >= t.loc[3, "power"] and t.loc[8, "power"] >= 0.5
    assert (tmp_path / "power_curves.png").is_file() and (tmp_path / "power.html").is_file()


def test_power_pipeline_level_runs_one_resumable_task_per_cohort(tmp_path, monkeypatch):
    """Pipeline-level power: one file per cohort (parallel tasks; a larger or interrupted run
    reuses the cohorts already written), each cohort simulated at the cell's design."""
    import thalamocortex.validate.power as power
    from thalamocortex.cli import _calibration_sim

    calls = []

    def fake_cohort(seed, kind, sim, config, workdir):
        calls.append((seed, sim.axon_imaging.mice_per_region, tuple(sim.experiments)))
        return cohort_decisions(_tests(True, seed % 2 == 0)), None

    monkeypatch.setattr(power, "pipeline_cohort", fake_cohort)
    demo = _calibration_sim(None, "demo")
    assert demo.axon_imaging.sessions == [1, 2, 3, 7, 12, 13, 14]
    run = partial(
        power_curves,
        "input_learning",
        [1.0],
        [4],
        level="pipeline",
        sim=demo,
        scheduler="sync",
        progress=False,
    )
    table = run(cohorts=2, out=tmp_path).set_index("test")
    assert calls == [(0, 4, ("axon_imaging",)), (1, 4, ("axon_imaging",))]
    assert len(list((tmp_path / "cells").glob("pipeline-*-s*.parquet"))) == 2
    assert table.loc["learning:frac_movement", "power"] == 0.5
    assert table.loc["region_comparison:frac_movement", "n_cohorts"] == 2
    table = run(cohorts=4, out=tmp_path).set_index("test")
    assert [c[0] for c in calls] == [0, 1, 2, 3]  # seeds 0 and 1 reused
    assert table.loc["learning:frac_movement", "n_cohorts"] == 4


def test_power_cli_rejects_an_effect_without_primary_test(tmp_path, capsys):
    assert main(["power", "--effect", "m1_encoding", "--out", str(tmp_path)]) == 2
    assert "expected one of" in capsys.readouterr().err


def test_validate_cli_rejects_an_unknown_moved_region(tmp_path, capsys):
    argv = ["validate", "--out", str(tmp_path / "v"), "--moved-region", "VL"]
    assert main(argv) == 2
    assert "moved_region 'VL'" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


@pytest.mark.slow
def test_calibration_targets_of_issue_11():
    """Issue 11's targets: >= 200 table-level and >= 40 whole-pipeline null cohorts per null kind
    (zero and varied; the whole pipeline on the reduced demo of ``calibration_design``): every
    primary test's false-positive rate is at most 0.07 and its 95 % Clopper-Pearson interval
    contains 0.05.

    Cost: 80 pipeline cohorts x ~50 s CPU plus ~1,000 table cohorts: ~45 min on 2 idle cores
    (hours on a loaded machine); set THALAMOCORTEX_VALIDATION_DIR to keep the cohorts and resume
    an interrupted run. Power is not asserted here (docs/statistics.md: banks at the demo size).
    """
    out = Path(os.environ.get("THALAMOCORTEX_VALIDATION_DIR", "validation_slow"))
    plan = ValidationPlan(
        table_cohorts=200, pipeline_cohorts=40, effect_cohorts=0, moved_region="", moved_cohorts=0
    )
    run_validation(out, plan, progress=False)
    fpr = pd.read_parquet(out / "false_positive_rates.parquet")
    assert set(fpr["kind"]) == {"zero", "varied"}
    assert set(fpr["test"]) == PRIMARY_CLAIMS
    assert set(fpr["level"]) == {"table", "pipeline"}
    assert (fpr.loc[fpr["level"] == "table", "n_cohorts"] >= 200).all()
    assert (fpr.loc[fpr["level"] == "pipeline", "n_cohorts"] >= 40).all()
    assert (fpr["rate"] <= 0.07).all(), fpr[fpr["rate"] > 0.07]
    bad = fpr[~fpr["passes"]]
    assert bad.empty, bad


@pytest.mark.slow
def test_demo_design_cohort_detects_every_input_learning_claim(tmp_path):
    """One seeded cohort of the demo's own axon-imaging design (4 mice per input region, days
    1, 2, 3, 7, 12, 13 and 14, 35 axons, 50 trials, 15 Hz) on the circuit, through the CLI's
    pipeline-level power route: each input-learning claim (movement fraction, reliability,
    timing shift, decoding) rejects for MTh with the right sign and the region comparison names
    MTh. Measured over independent cohorts of this design (docs/statistics.md, "Power at the
    demo size"): every claim detected in at least 0.9 of cohorts, so a failure here at seed 0
    is a regression, not bad luck. Cost ~3 CPU min.
    """
    argv = ["power", "--effect", "input_learning", "--level", "pipeline", "--design", "demo"]
    argv += ["--sizes", "1", "--mice", "4", "--cohorts", "1", "--scheduler", "sync"]
    assert main([*argv, "--quiet", "--out", str(tmp_path)]) == 0
    table = pd.read_parquet(tmp_path / "power_curves.parquet").set_index("test")
    assert set(table.index) == set(EFFECT_TESTS["input_learning"][0])
    assert (table["n_cohorts"] == 1).all()
    assert (table["power"] == 1.0).all(), table


def _synthetic_bank(mice: int = 5) -> dict:
    from thalamocortex.opto.inactivation import add_learned_similarity
    from thalamocortex.stats.synthetic import (
        BehaviorDesign,
        EncodingDesign,
        InactivationDesign,
        OptoDesign,
        behavior_sessions,
        encoding_sessions,
        inactivation_trials,
        opto_neurons,
    )

    rng = np.random.default_rng(0)
    trials, traj = inactivation_trials(rng, "effect", InactivationDesign(n_mice=mice))
    return {
        "encoding": encoding_sessions(rng, "effect", EncodingDesign(mice_per_region=mice)),
        "behavior": behavior_sessions(rng, "effect", BehaviorDesign()),
        "opto": opto_neurons(rng, "effect", OptoDesign(n_mice=mice)),
        "tracking": pd.DataFrame(),
        "inactivation": add_learned_similarity(trials, traj),
    }


def test_bank_subsets_recompute_every_primary_test():
    from thalamocortex.validate.bank import groups, subsample_decisions

    bank = _synthetic_bank()
    g = groups(bank)
    assert set(g) == {"region:MTh", "region:M2", "region:S1", "region:cM1", "opsin", "inactivation"}
    dec = subsample_decisions(bank, 3, 4, seed=1)
    assert set(dec["seed"]) == {0, 1, 2, 3} and (dec["mice"] == 3).all()
    one = dec[dec["seed"] == 0]
    assert set(one["test"]) == set(EXPECTED)
    fm = one[(one["test"] == "learning:frac_movement") & (one["subject"] == "MTh")].iloc[0]
    assert fm["n_mice"] == 3
    with pytest.raises(ValueError, match="fewer than 6 mice"):
        subsample_decisions(bank, 6, 1)


def test_disjoint_bank_cohorts_share_no_mouse():
    from thalamocortex.validate.bank import disjoint_decisions, subset_tests

    bank = _synthetic_bank(mice=6)
    dec = disjoint_decisions(bank, 3, seed=2)
    assert set(dec["seed"]) == {0, 1} and set(dec["test"]) == set(EXPECTED)
    # cohort 0 and cohort 1 together hold every inactivation mouse once: their per-claim
    # estimates are those of the two halves
    mice = sorted(bank["inactivation"]["mouse"].unique())
    halves = []
    for j in (0, 1):
        d = dec[(dec["seed"] == j) & (dec["test"] == "inactivation:learned_movement")]
        halves.append(d[d["subject"] != "any"]["estimate"].iloc[0])
    whole = subset_tests(bank, set(mice))
    whole = whole[
        (whole["claim"] == "inactivation:learned_movement") & (whole["role"] == "primary")
    ]
    assert np.mean(halves) == pytest.approx(whole["estimate"].iloc[0])
    with pytest.raises(ValueError, match="fewer than 8 mice"):
        disjoint_decisions(bank, 8)
    # a bank of one experiment: the other stages wrote empty tables without columns
    only_opto = {k: (v if k == "opto" else pd.DataFrame()) for k, v in bank.items()}
    one = disjoint_decisions(only_opto, 3)
    assert set(one["test"]) == {"opto:expert_enrichment", "opto:drive_refinement"}


def test_response_onset_is_the_first_bout_after_the_cue():
    from thalamocortex.opto.inactivation import response_onsets

    trials = pd.DataFrame(
        {
            "mouse": "m",
            "session": 1,
            "cue_time": [10.0, 20.0, 30.0],
            "movement_onset": [12.5, 20.4, np.nan],
        }
    )
    movements = pd.DataFrame({"mouse": "m", "session": 1, "onset": [9.0, 10.6, 12.5, 20.4]})
    out = response_onsets(trials, movements)
    # trial 0: the rewarded bout (12.5) follows a first bout at 10.6; the pre-cue bout is ignored
    assert out[0] == 10.6 and out[1] == 20.4 and np.isnan(out[2])
    np.testing.assert_array_equal(response_onsets(trials, None)[:2], [12.5, 20.4])
