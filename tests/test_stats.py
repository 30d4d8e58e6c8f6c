"""Mice-as-replicates statistics: bootstrap, permutation tests, mixed models, FDR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.data.errors import DataError
from thalamocortex.stats import (
    empirical_p,
    fdr_bh,
    hierarchical_bootstrap,
    hierarchical_weights,
    holm,
    mixed_model,
    permutation_test_groups,
    permutation_test_paired,
    unit_slopes,
)


def _nested(rng, n_mice=6, n_sessions=4, n_rois=10, mouse_sd=1.0, effect=0.0):
    rows = []
    for m in range(n_mice):
        mu = rng.normal(0, mouse_sd)
        for s in range(n_sessions):
            stage = "naive" if s < n_sessions // 2 else "expert"
            v = mu + (effect if stage == "expert" else 0) + rng.normal(0, 0.3, n_rois)
            rows.append(pd.DataFrame({"mouse": m, "session": s, "stage": stage, "v": v}))
    return pd.concat(rows, ignore_index=True)


def test_weights_preserve_totals_per_level():
    rng = np.random.default_rng(0)
    df = _nested(rng, n_mice=5, n_sessions=3, n_rois=4)
    w = hierarchical_weights(df, ("mouse", "session"), 200, np.random.default_rng(1))
    assert w.shape == (200, len(df))
    # every replicate draws 5 mice x 3 sessions x 4 rois = 60 rows
    np.testing.assert_array_equal(w.sum(1), 60)
    # a mouse drawn c times contributes 12 c rows (c independent copies of its 12 rows)
    per_mouse = w.reshape(200, 5, 12).sum(2)
    assert np.all(per_mouse % 12 == 0)


def test_bootstrap_ci_reflects_between_mouse_variance():
    rng = np.random.default_rng(2)
    df = _nested(rng, n_mice=8, mouse_sd=1.0)
    hier = hierarchical_bootstrap(df, "v", levels=("mouse", "session"), n_boot=2000, seed=0)
    flat = hierarchical_bootstrap(df.assign(unit=np.arange(len(df))), "v", ("unit",), seed=0)
    se_true = 1.0 / np.sqrt(8)
    # the hierarchical SE is near the between-mouse SE; the flat bootstrap is far too small
    assert 0.6 * se_true < hier.table()["se"].iloc[0] < 1.4 * se_true
    assert flat.table()["se"].iloc[0] < 0.4 * se_true


def test_bootstrap_contrast_detects_paired_effect():
    rng = np.random.default_rng(3)
    df = _nested(rng, n_mice=6, mouse_sd=2.0, effect=0.5)
    res = hierarchical_bootstrap(df, "v", ("mouse", "session"), by="stage", n_boot=2000, seed=0)
    c = res.contrast("expert", "naive")
    # paired top-level draw: the large between-mouse SD cancels in the contrast
    assert c["ci_low"] > 0.2 and c["ci_high"] < 0.8
    assert c["p"] < 0.01


def test_bootstrap_median_and_bad_input():
    df = pd.DataFrame({"mouse": [0, 0, 1, 1], "v": [1.0, 3.0, 5.0, np.nan]})
    res = hierarchical_bootstrap(df, "v", stat="median", n_boot=100)
    assert res.estimate[0] == 3.0
    with pytest.raises(DataError, match="missing columns"):
        hierarchical_bootstrap(df, "nope")


def test_sign_flip_exact_and_random():
    d = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    r = permutation_test_paired(d)
    assert r["exact"] and r["p"] == pytest.approx(2 / 32)  # all positive: 2 of 32 flips
    r = permutation_test_paired(np.r_[d, d, d], n_perm=999, seed=1)
    assert not r["exact"] and r["p"] == pytest.approx(1 / 1000)  # (0 + 1) / (999 + 1)
    assert permutation_test_paired(np.array([np.nan]))["n"] == 0


def test_null_calibration_sign_flip():
    """Over 400 null data sets of 8 mice, the sign-flip test rejects at about its nominal 5 %."""
    rng = np.random.default_rng(4)
    # per mouse: mean of 5 ROIs in an expert minus a naive session, mouse offsets cancel
    mouse = rng.normal(0, 1.0, (400, 8, 1))
    naive = (mouse + rng.normal(0, 0.3, (400, 8, 5))).mean(2)
    expert = (mouse + rng.normal(0, 0.3, (400, 8, 5))).mean(2)
    p_perm = [
        permutation_test_paired(e, n, seed=i)["p"] for i, (e, n) in enumerate(zip(expert, naive))
    ]
    rate = np.mean(np.array(p_perm) <= 0.05)
    assert 0.02 <= rate <= 0.08


@pytest.mark.slow
def test_null_calibration_bootstrap():
    """Hierarchical-bootstrap contrast p-values on 300 null data sets of 8 mice."""
    rng = np.random.default_rng(6)
    p_boot = []
    for _ in range(300):
        df = _nested(rng, n_mice=8, n_sessions=2, n_rois=5, mouse_sd=1.0)
        res = hierarchical_bootstrap(df, "v", ("mouse", "session"), by="stage", n_boot=400)
        p_boot.append(res.contrast("expert", "naive")["p"])
    # the percentile bootstrap with 8 mice is known to be somewhat liberal; bound it
    assert np.mean(np.array(p_boot) <= 0.05) <= 0.12


def test_group_permutation_and_empirical_p():
    v = np.r_[np.zeros(5), np.ones(5) * 3] + np.random.default_rng(0).normal(0, 0.1, 10)
    lab = np.repeat(["a", "b"], 5)
    assert permutation_test_groups(v, lab, n_perm=999)["p"] <= 0.01
    null = np.arange(99.0)
    assert empirical_p(null, 98.0, "greater") == pytest.approx(2 / 100)
    assert empirical_p(null, 200.0, "two-sided") == pytest.approx(2 / 100)


def test_fdr_and_holm_match_reference():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    rej, q = fdr_bh(p, 0.05)
    np.testing.assert_allclose(q[:4], [0.02, 0.04, 0.04, 0.02])
    assert rej[:4].all() and not rej[4] and np.isnan(q[4])
    rej, adj = holm(p[:4], 0.05)
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    assert rej.tolist() == [True, False, False, True]


def test_mixed_model_recovers_slope():
    rng = np.random.default_rng(5)
    rows = []
    for m in range(8):
        b0 = rng.normal(0, 1)
        for s in range(1, 11):
            rows.append({"mouse": m, "session": s, "y": b0 + 0.2 * s + rng.normal(0, 0.2)})
    df = pd.DataFrame(rows)
    fit = mixed_model(df, "y ~ session", groups="mouse").set_index("term")
    assert fit.loc["session", "coef"] == pytest.approx(0.2, abs=0.03)
    assert fit.loc["session", "p"] < 1e-6
    assert fit["n_groups"].iloc[0] == 8
    slopes = unit_slopes(df, "session", "y")
    assert len(slopes) == 8 and slopes["slope"].mean() == pytest.approx(0.2, abs=0.03)
    with pytest.raises(DataError, match="grouping column"):
        mixed_model(df, "y ~ session", groups="animal")
