"""Relation of thalamic drive to movement encoding: enrichment, correlation, naive vs expert."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.data.errors import DataError
from thalamocortex.opto.params import OptoParams
from thalamocortex.opto.relation import (
    drive_encoding_correlation,
    enrichment,
    haldane_log_or,
    learning_stage,
    mantel_haenszel_or,
    merge_drive_encoding,
    naive_vs_expert,
    relation_summary,
    tracked_neurons,
)

FAST = OptoParams(n_permutations=500, n_bootstrap=200, encoding_score_column="encoding_score")


def cohort(seed=0, n_mice=3, n_neurons=120, refined=True, p_related=0.3):
    """Drive and encoding tables of tracked neurons, naive (day 1) and expert (day 14).

    Naive drive is broad and unrelated to encoding; expert drive (when ``refined``) grows with
    encoding for movement-related neurons and is negative for unrelated ones.
    """
    rng = np.random.default_rng(seed)
    drive_rows, enc_rows = [], []
    for m in range(n_mice):
        related = rng.random(n_neurons) < p_related
        score = np.where(related, rng.uniform(0.3, 1.0, n_neurons), rng.uniform(0, 0.2, n_neurons))
        for day in (1, 14):
            if day == 14 and refined:
                drive = np.where(related, 2.0 * score, -0.8) + rng.normal(0, 0.4, n_neurons)
            else:
                drive = rng.normal(0.6, 0.8, n_neurons)
            cls = np.where(
                drive > 0.5, "activated", np.where(drive < -0.5, "suppressed", "not_responsive")
            )
            for j in range(n_neurons):
                drive_rows.append(
                    {
                        "mouse": f"M{m}",
                        "session": day,
                        "day": day,
                        "roi_name": f"cell{j:03d}",
                        "drive": drive[j],
                        "response_class": cls[j],
                    }
                )
                enc_rows.append(
                    {
                        "mouse": f"M{m}",
                        "session": day,
                        "roi_name": f"cell{j:03d}",
                        "encoding_score": score[j],
                        "movement_related": bool(related[j]),
                    }
                )
    return pd.DataFrame(drive_rows), pd.DataFrame(enc_rows)


def test_mantel_haenszel_and_haldane_known_values():
    # one stratum: OR = (10*30)/(5*20) = 3
    assert float(mantel_haenszel_or([10], [5], [20], [30])) == pytest.approx(3.0)
    # two strata with OR 3 and 3 pool to 3
    assert float(mantel_haenszel_or([10, 2], [5, 1], [20, 4], [30, 6])) == pytest.approx(3.0)
    assert float(haldane_log_or(0, 5, 5, 5)) == pytest.approx(np.log(0.5 * 5.5 / (5.5 * 5.5)))


def test_learning_stage_from_day():
    assert learning_stage([1, 3, 7, 10, 14]).tolist() == [
        "naive",
        "naive",
        "intermediate",
        "expert",
        "expert",
    ]


def test_merge_requires_columns_and_drops_untested():
    drive, enc = cohort(n_mice=1, n_neurons=10)
    drive.loc[0, "response_class"] = "untested"
    t = merge_drive_encoding(drive, enc, FAST)
    assert len(t) == len(drive) - 1
    assert set(t["stage"]) == {"naive", "expert"}
    with pytest.raises(DataError, match="encoding_score"):
        merge_drive_encoding(drive, enc.drop(columns="encoding_score"), FAST)


def test_enrichment_in_expert_not_in_naive():
    t = merge_drive_encoding(*cohort(seed=1), params=FAST)
    s = relation_summary(t, FAST).set_index(["stage", "test"])
    e = s.loc[("expert", "enrichment_activated_related")]
    n = s.loc[("naive", "enrichment_activated_related")]
    assert e["estimate"] > 5 and e["p_perm"] < 0.01 and e["ci_low"] > 1
    assert n["p_perm"] > 0.05 and n["ci_low"] < 1 < n["ci_high"]
    assert s.loc[("expert", "spearman_drive_encoding"), "estimate"] > 0.5
    assert s.loc[("expert", "enrichment_suppressed_unrelated"), "p_perm"] < 0.01
    assert "Mantel-Haenszel" in e["criterion"]


def test_enrichment_permutation_p_is_calibrated_without_refinement():
    ps = []
    for seed in range(40):
        drive, enc = cohort(seed=100 + seed, n_mice=2, n_neurons=60, refined=False)
        t = merge_drive_encoding(drive, enc, FAST)
        res = enrichment(t[t["stage"] == "expert"], params=FAST, bootstrap=False)
        ps.append(res["p_perm"])
    assert np.mean(np.array(ps) <= 0.05) <= 0.1  # nominal 0.05, 40 seeds


def test_correlation_within_populations():
    t = merge_drive_encoding(*cohort(seed=2), params=FAST)
    r = drive_encoding_correlation(t[t["stage"] == "expert"], params=FAST)
    assert r["rho"] > 0.5 and r["p_perm"] < 0.01
    assert len(r["per_population"]) == 3
    rn = drive_encoding_correlation(t[t["stage"] == "naive"], params=FAST)
    assert abs(rn["rho"]) < 0.15


def test_naive_vs_expert_uses_only_tracked_neurons():
    drive, enc = cohort(seed=3, n_mice=4, n_neurons=80)
    # a neuron seen only in the expert session of one mouse is not tracked
    drop = (drive["mouse"] == "M0") & (drive["session"] == 1) & (drive["roi_name"] == "cell000")
    t = merge_drive_encoding(drive[~drop], enc, FAST)
    tr = tracked_neurons(t)
    assert not ((tr["mouse"] == "M0") & (tr["roi_name"] == "cell000")).any()
    res = naive_vs_expert(t, FAST)
    assert res["n_tracked"] == 4 * 80 - 1
    c = res["contrasts"].set_index("statistic")
    # all four mice change in the same direction: the exact sign-flip p is 2/16
    assert c.loc["log_or_activated", "estimate"] > 1
    assert c.loc["log_or_activated", "p_sign_flip"] == pytest.approx(0.125)
    assert c.loc["drive_unrelated", "estimate"] < 0
    mm = res["mixed_model"].set_index("term")
    assert mm.loc["movement_related:expert", "coef"] > 0.5
    # no mouse-to-mouse variation here: the random-intercept fit is singular, does not converge,
    # and therefore reports no p-value
    assert not mm["converged"].any() and mm["p"].isna().all()
