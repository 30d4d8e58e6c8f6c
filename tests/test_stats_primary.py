"""Mouse-level primary tests: two-stage t-tests, region contrasts, stages, claims, headlines."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sps

from thalamocortex.behavior.learning import learning_tests
from thalamocortex.encoding.learning import learning_contrasts, region_comparison
from thalamocortex.opto.relation import mouse_level_tests, per_mouse_enrichment
from thalamocortex.stats.params import StatsParams
from thalamocortex.stats.primary import collect_tests, headlines
from thalamocortex.stats.stages import StageWindowWarning, learning_stages
from thalamocortex.stats.summary import (
    group_tests,
    label_permutations,
    mean_test,
    rate_ci,
    region_contrasts,
    weighted_group_tests,
)
from thalamocortex.stats.synthetic import (
    BehaviorDesign,
    EncodingDesign,
    OptoDesign,
    behavior_sessions,
    encoding_sessions,
    opto_neurons,
)

ST = StatsParams(n_bootstrap=100, n_permutations=500)


def _groups(seed=0, n=3, shift=2.0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=4 * n)
    v[:n] += shift
    return v, np.repeat(["A", "B", "C", "D"], n)


def test_pooled_group_tests_match_the_anova_model():
    v, g = _groups()
    res = group_tests(v, g, pooled=True)
    fit = smf.ols("v ~ C(g) - 1", pd.DataFrame({"v": v, "g": g})).fit()
    np.testing.assert_allclose(res["statistic"], fit.tvalues.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res["p"], fit.pvalues.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(res[["ci_low", "ci_high"]], fit.conf_int().to_numpy(), rtol=1e-8)
    assert (res["df"] == 8).all()
    per = group_tests(v, g, pooled=False)
    t = sps.ttest_1samp(v[:3], 0.0)
    assert per.loc["A", "p"] == pytest.approx(t.pvalue) and per.loc["A", "df"] == 2


def test_weighted_group_tests_reduce_to_the_pooled_t_and_scale_noisy_groups():
    v, g = _groups(seed=1)
    pooled = group_tests(v, g, pooled=True)
    equal = weighted_group_tests(v, np.full(len(v), 0.3), g)
    np.testing.assert_allclose(equal[list(pooled.columns)], pooled, rtol=1e-9)
    # group A's mice measured 100x worse: A's mean is unchanged, its SE grows, the others' shrink
    var = np.where(g == "A", 1.0, 0.01)
    res = weighted_group_tests(v, var, g)
    np.testing.assert_allclose(res["estimate"], pooled["estimate"], rtol=1e-12)
    assert res.loc["A", "se"] > 1.5 * pooled.loc["A", "se"]
    assert (res.drop("A")["se"] < pooled.drop("A")["se"]).all()
    assert res.loc["A", "df"] == 8 and res.loc["B", "n_mice"] == 3
    # a non-finite variance drops that mouse
    var[1] = np.nan
    assert weighted_group_tests(v, var, g).loc["A", "n_mice"] == 2


def test_weighted_group_tests_hold_alpha_where_the_pooled_t_does_not():
    """Null per-mouse changes whose sampling noise is 3x larger in one region (a region with
    few movement-related axons): the pooled-variance t rejects that region far above its share
    of alpha, the precision-weighted test (given the sampling variances) does not."""
    rng = np.random.default_rng(7)
    g = np.repeat(["A", "B", "C", "D"], 3)
    sd = np.where(g == "A", 0.6, 0.2)
    tau = 0.1  # between-mouse spread of the true change, common to the regions
    n, rej_pooled, rej_weighted = 2000, 0, 0
    for _ in range(n):
        v = rng.normal(0, np.sqrt(tau**2 + sd**2))
        rej_pooled += group_tests(v, g).loc["A", "p"] <= 0.05
        rej_weighted += weighted_group_tests(v, sd**2, g).loc["A", "p"] <= 0.05
    lo, hi = rate_ci(rej_weighted, n)
    assert lo <= 0.05 <= hi, rej_weighted / n
    assert rej_pooled / n > 0.12, rej_pooled / n


def test_mean_test_matches_scipy_and_needs_two_mice():
    r = mean_test([0.3, 0.5, 0.1, 0.4])
    t = sps.ttest_1samp([0.3, 0.5, 0.1, 0.4], 0)
    assert r["p"] == pytest.approx(t.pvalue) and r["df"] == 3 and r["n_mice"] == 4
    assert r["ci_low"] < 0.325 < r["ci_high"]
    one = mean_test([0.3, np.nan])
    assert one["n_mice"] == 1 and np.isnan(one["p"]) and one["estimate"] == 0.3


def test_region_contrasts_match_the_anova_contrast_and_control_fwer():
    v, g = _groups(seed=1)
    res = region_contrasts(v, g, n_perm=1000, seed=0)
    fit = smf.ols("v ~ C(g) - 1", pd.DataFrame({"v": v, "g": g})).fit()
    tt = fit.t_test(np.array([[1, -1 / 3, -1 / 3, -1 / 3]]))
    assert res.loc["A", "contrast"] == pytest.approx(float(tt.effect[0]))
    assert res.loc["A", "statistic"] == pytest.approx(float(tt.tvalue[0][0]))
    assert res.loc["A", "p_parametric"] == pytest.approx(float(tt.pvalue))
    assert res.loc["A", "p_maxt"] <= 0.05 and (res["p_maxt"] >= res["p_parametric"] - 1e-9).all()
    # complete null, normal data: the family-wise rate of the max-T test is at most alpha
    hits = []
    rng = np.random.default_rng(5)
    for _ in range(200):
        r = region_contrasts(rng.normal(size=12), g, n_perm=200, seed=int(rng.integers(1e9)))
        hits.append((r["p_maxt"] <= 0.05).any())
    rate = np.mean(hits)
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 200), rate


def test_label_permutations_enumerate_small_designs_exactly():
    codes = np.repeat([0, 1], 3)
    lab, exact = label_permutations(codes, 2000, np.random.default_rng(0))
    assert exact and lab.shape == (20, 6) and len({tuple(r) for r in lab}) == 20
    assert (lab[0] == codes).all() and (lab.sum(axis=1) == 3).all()
    res = region_contrasts([1, 1.1, 0.9, 0, 0.1, -0.1], ["a"] * 3 + ["b"] * 3)
    assert res["exact"].all() and res["p_maxt"].min() == pytest.approx(2 / 20)
    lab, exact = label_permutations(np.repeat([0, 1, 2, 3], 3), 500, np.random.default_rng(0))
    assert not exact and lab.shape == (501, 12)


def test_clopper_pearson_interval():
    lo, hi = rate_ci(0, 10)
    assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / 10))
    lo, hi = rate_ci(10, 200)
    assert lo < 0.05 < hi and hi < 0.1


def test_stages_are_relative_to_each_mouse():
    d = pd.DataFrame({"mouse": ["a"] * 6, "session": range(1, 7)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dataset numbered 1-6 is fine: no warning
        stage, msgs = learning_stages(d, StatsParams())
    assert stage.tolist() == ["naive"] * 3 + ["expert"] * 3 and msgs == []
    two = pd.DataFrame({"mouse": ["b", "b"], "session": [1, 14], "day": [1, 14]})
    assert learning_stages(two)[0].tolist() == ["naive", "expert"]
    late = pd.DataFrame({"mouse": ["c", "c"], "session": [13, 14], "day": [13, 14]})
    with pytest.warns(StageWindowWarning, match="never imaged naive"):
        stage, msgs = learning_stages(late)
    assert (stage == "").all() and len(msgs) == 2  # the mouse, then "no mouse has both"
    by_day = StatsParams(stage_method="day")
    with pytest.warns(StageWindowWarning, match="no expert"):
        stage, _ = learning_stages(d, by_day)
    assert stage.tolist() == ["naive"] * 3 + [""] * 3


def test_encoding_claims_are_primary_and_find_the_effect_region():
    d = encoding_sessions(np.random.default_rng(3), "effect", EncodingDesign(mice_per_region=4))
    learn = learning_contrasts(d, ST)
    fm = learn[learn["claim"] == "learning:frac_movement"].set_index("subject")
    assert (fm["role"] == "primary").all() and set(fm.index) == {"MTh", "M2", "S1", "cM1"}
    assert fm.loc["MTh", "reject"] and fm.loc["MTh", "estimate"] > 0.2
    assert (fm["df"] == 16 - 4).all() and fm["correction"].iloc[0] == "Holm over 4 tests"
    assert not fm.drop("MTh")["reject"].any()
    comp = region_comparison(d, ST)
    prim = comp[comp["role"] == "primary"]
    assert set(prim["metric"]) == {"frac_movement"}
    assert prim.set_index("subject").loc["MTh", "named"]
    moved = encoding_sessions(
        np.random.default_rng(4), "effect", EncodingDesign(mice_per_region=6, effect_region="S1")
    )
    comp = region_comparison(moved, ST, metrics=("frac_movement",))
    assert comp[comp["named"]]["subject"].tolist() == ["S1"]


def test_opto_mouse_level_tests_on_synthetic_neurons():
    eff = opto_neurons(np.random.default_rng(0), "effect", OptoDesign(n_mice=4))
    per = per_mouse_enrichment(eff)
    assert np.isfinite(per["log_or_activated"]).all() and set(per["stage"]) == {"naive", "expert"}
    tests = mouse_level_tests(eff, stats=ST).set_index("claim")
    assert tests.loc["opto:expert_enrichment", "role"] == "primary"
    assert tests.loc["opto:expert_enrichment", "reject"]
    assert tests.loc["opto:drive_refinement", "reject"]
    assert tests.loc["opto:drive_refinement", "n_mice"] == 4
    sec = tests[tests["role"] == "secondary"]
    assert sec["correction"].str.startswith("Holm").all() and len(sec) >= 10
    null = opto_neurons(np.random.default_rng(1), "zero", OptoDesign(n_mice=4))
    t0 = mouse_level_tests(null, stats=ST).set_index("claim")
    assert abs(t0.loc["opto:expert_enrichment", "estimate"]) < 0.6


def test_behaviour_learning_leaves_out_mice_never_imaged_naive():
    d = behavior_sessions(np.random.default_rng(0), "effect", BehaviorDesign())
    with pytest.warns(StageWindowWarning):
        tests, per_mouse = learning_tests(d, ST)
    t = tests.set_index("claim")
    assert t.loc["behavior:learning", "n_mice"] == 12 + 4  # not the 3 inactivation mice
    assert t.loc["behavior:learning", "reject"] and t.loc["behavior:learning", "estimate"] > 0.2
    assert not per_mouse["mouse"].str.startswith("inact").any()


def test_collect_and_headlines():
    d = encoding_sessions(np.random.default_rng(3), "effect", EncodingDesign(mice_per_region=4))
    b = behavior_sessions(np.random.default_rng(0), "effect", BehaviorDesign())
    with pytest.warns(StageWindowWarning):
        beh, _ = learning_tests(b, ST)
    tests = collect_tests(
        {
            ("encoding", "learning"): learning_contrasts(d, ST),
            ("encoding", "regions"): region_comparison(d, ST),
            ("behavior", "tests"): beh,
            ("opto", "tests"): None,
        }
    )
    assert set(tests["stage"]) == {"encoding", "behavior"}
    prim = tests[tests["role"] == "primary"]
    heads = headlines(prim).set_index("claim")
    assert "MTh" in heads.loc["learning:frac_movement", "decision"]
    assert heads.loc["region_comparison:frac_movement", "decision"] == "MTh"
    sentence = heads.loc["behavior:learning", "sentence"]
    assert "n = 16 mice" in sentence and "95% CI" in sentence and "significant" in sentence
