"""Cross-session identity of neurons in the naive-vs-expert comparison (roi_name vs tracking)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from thalamocortex.data.errors import DataError
from thalamocortex.opto.identity import (
    assign_identity,
    resolve_identity,
    tracking_coverage,
    tracking_observations,
)
from thalamocortex.opto.params import OptoParams
from thalamocortex.opto.relation import PAIRED_STATISTICS, merge_drive_encoding, naive_vs_expert

FAST = OptoParams(
    n_permutations=500,
    n_bootstrap=200,
    encoding_score_column="encoding_score",
    min_track_probability=0.7,
)


def permuted_cohort(seed=0, n_mice=4, n_cells=100, n_lost=10, n_low=5, instructive=0.8):
    """One naive (day 1) and one expert (day 14) session per mouse, ROIs named per session.

    Cells ``0..n_cells-1`` of each mouse: the first ``n_lost`` are seen only in the naive
    session, the last ``n_lost`` only in the expert one. Each session names its ROIs
    ``roi0..roiK`` in its own random order, as per-session segmentation does, so equal names
    across sessions are unrelated cells. Drive has a persistent per-neuron component (SD 0.6);
    naive drive is ``instructive`` higher for the neurons that will be movement-related in the
    expert (30 %); expert drive is refined (+1.5 related, -0.6 others). The tracking table (cell
    labels shuffled) matches the shared cells with probability 0.75-1, except ``n_low`` matched
    with 0.6 (below ``FAST.min_track_probability``).

    Returns
    -------
    drive, encoding, tracking : DataFrames (relation inputs and the preprocess tracking table)
    truth : DataFrame, one row per (mouse, cell): ``dn``, ``de``, ``related``, ``related_naive``,
        ``kept`` (shared and matched with probability >= 0.7)
    """
    rng = np.random.default_rng(seed)
    drive_rows, enc_rows, track_rows, truth_rows = [], [], [], []
    for m in range(n_mice):
        mouse = f"M{m}"
        related = rng.random(n_cells) < 0.3
        a = rng.normal(0, 0.6, n_cells)
        dn = 0.4 + a + instructive * related + rng.normal(0, 0.3, n_cells)
        de = a + np.where(related, 1.5, -0.6) + rng.normal(0, 0.3, n_cells)
        score_e = np.where(related, rng.uniform(0.3, 1, n_cells), rng.uniform(0, 0.2, n_cells))
        score_n = rng.uniform(0, 0.4, n_cells)
        present = {1: np.arange(n_cells - n_lost), 14: np.arange(n_lost, n_cells)}
        shared = np.arange(n_lost, n_cells - n_lost)
        low = rng.choice(shared, n_low, replace=False)
        names = {}  # (day, cell) -> roi index in that session
        for day, cells in present.items():
            order = rng.permutation(cells)
            for j, i in enumerate(order):
                names[(day, i)] = j
                d = (dn if day == 1 else de)[i]
                sc = (score_n if day == 1 else score_e)[i]
                cls = "activated" if d > 0.5 else ("suppressed" if d < -0.5 else "not_responsive")
                drive_rows.append(
                    {
                        "mouse": mouse,
                        "session": day,
                        "day": day,
                        "roi_name": f"roi{j}",
                        "drive": d,
                        "response_class": cls,
                    }
                )
                enc_rows.append(
                    {
                        "mouse": mouse,
                        "session": day,
                        "roi_name": f"roi{j}",
                        "encoding_score": sc,
                        "movement_related": bool(related[i]) if day == 14 else bool(sc > 0.3),
                    }
                )
        label = rng.permutation(n_cells)  # the tracker's cell numbers are arbitrary
        for i in range(n_cells):
            for day in (1, 14):
                j = names.get((day, i), -1)
                if j < 0:
                    p = np.nan
                elif day == 1 or i not in shared:
                    p = 1.0  # founding ROI of the cell
                else:
                    p = 0.6 if i in low else rng.uniform(0.75, 1.0)
                track_rows.append(
                    {
                        "mouse": mouse,
                        "cell": int(label[i]),
                        "session": day,
                        "roi": j,
                        "probability": p,
                        "roi_name": f"roi{j}" if j >= 0 else "",
                    }
                )
            truth_rows.append(
                {
                    "mouse": mouse,
                    "cell": i,
                    "dn": dn[i],
                    "de": de[i],
                    "related": bool(related[i]),
                    "related_naive": bool(score_n[i] > 0.3),
                    "kept": bool(i in shared and i not in low),
                }
            )
    return (
        pd.DataFrame(drive_rows),
        pd.DataFrame(enc_rows),
        pd.DataFrame(track_rows),
        pd.DataFrame(truth_rows),
    )


def truth_paired(truth: pd.DataFrame) -> pd.DataFrame:
    """Per mouse the paired statistics computed from the generating arrays (kept cells)."""
    rows = []
    for mouse, t in truth[truth["kept"]].groupby("mouse"):
        r = t["related"].to_numpy()
        ch = (t["de"] - t["dn"]).to_numpy()
        rows.append(
            {
                "mouse": mouse,
                "n_paired": len(t),
                "paired_rho_drive": spearmanr(t["dn"], t["de"])[0],
                "paired_drive_change_related": ch[r].mean(),
                "paired_drive_change_unrelated": ch[~r].mean(),
                "paired_naive_drive_related_minus_unrelated": t["dn"][r].mean()
                - t["dn"][~r].mean(),
                "paired_drive_refinement": ch[r].mean() - ch[~r].mean(),
                # population statistic: per-session mean drive of that session's unrelated
                "drive_unrelated": t["de"][~r].mean() - t["dn"][~t["related_naive"]].mean(),
            }
        )
    return pd.DataFrame(rows).set_index("mouse")


@pytest.fixture(scope="module")
def cohort():
    drive, enc, tracking, truth = permuted_cohort()
    return merge_drive_encoding(drive, enc, FAST), tracking, truth


def test_tracking_recovers_the_ground_truth_contrast(cohort):
    rel, tracking, truth = cohort
    res = naive_vs_expert(rel, FAST, tracking=tracking)
    assert res["identity"] == "tracking"
    assert "covers all 8" in res["identity_reason"]
    # 100 cells - 10 naive-only - 10 expert-only - 5 matched below 0.7 = 75 per mouse
    assert res["n_tracked"] == 4 * 75
    counts = res["identity_counts"].set_index("mouse")
    assert counts["n_rows"].tolist() == [180] * 4  # 90 ROIs per session
    assert counts["n_low_probability"].tolist() == [5] * 4
    assert counts["n_untracked"].tolist() == [0] * 4
    assert counts["n_tracked"].tolist() == [75] * 4
    want = truth_paired(truth)
    got = res["paired_per_mouse"].set_index("mouse")
    assert got["n_paired"].tolist() == want["n_paired"].tolist()
    for c in PAIRED_STATISTICS:
        np.testing.assert_allclose(got[c], want[c], rtol=1e-12, err_msg=c)
    c = res["contrasts"].set_index("statistic")
    for s in PAIRED_STATISTICS:
        assert c.loc[s, "kind"] == "paired"
        assert c.loc[s, "estimate"] == pytest.approx(want[s].mean(), rel=1e-12)
    assert c.loc["drive_unrelated", "kind"] == "population"
    assert c.loc["drive_unrelated", "estimate"] == pytest.approx(
        want["drive_unrelated"].mean(), rel=1e-12
    )
    # the generating values: naive drive 0.8 higher for future movement-related neurons
    # (observed 0.98: ~22 related neurons per mouse, SE ~0.09 over 4 mice); persistent drive
    # plus the shared related/refined component -> naive/expert rank correlation (observed
    # 0.81); all four mice positive -> exact two-sided sign-flip p = 2/16
    assert c.loc["paired_naive_drive_related_minus_unrelated", "estimate"] == pytest.approx(
        0.8, abs=0.3
    )
    assert 0.65 < c.loc["paired_rho_drive", "estimate"] < 0.95
    assert c.loc["paired_rho_drive", "p_sign_flip"] == pytest.approx(0.125)
    assert c.loc["paired_rho_drive", "exact"]


def test_roi_name_pairs_the_wrong_neurons(cohort):
    rel, tracking, truth = cohort
    by_name = naive_vs_expert(rel, FAST.model_copy(update={"identity": "roi_name"}), tracking)
    assert by_name["identity"] == "roi_name"
    assert by_name["n_tracked"] == 4 * 90  # roi0..roi89 exist in both sessions of every mouse
    c = by_name["contrasts"].set_index("statistic")
    want = truth_paired(truth).mean()
    # equal names are unrelated cells: the same-neuron structure is gone and the change of
    # the related neurons absorbs the population's naive drive. observed by name vs truth:
    # rho 0.01 vs 0.81, naive related - unrelated 0.18 vs 0.98, change related 0.75 vs 0.28
    assert abs(c.loc["paired_rho_drive", "estimate"]) < 0.12
    assert want["paired_rho_drive"] > 0.65
    assert abs(c.loc["paired_naive_drive_related_minus_unrelated", "estimate"]) < 0.3
    assert want["paired_naive_drive_related_minus_unrelated"] > 0.6
    err = c.loc["paired_drive_change_related", "estimate"] - want["paired_drive_change_related"]
    assert err > 0.3
    # auto without a tracking table falls back to roi_name
    auto = naive_vs_expert(rel, FAST)
    assert auto["identity"] == "roi_name" and auto["n_tracked"] == 4 * 90
    assert auto["identity_reason"] == "no cross-session tracking table"


def test_threshold_and_auto_coverage(cohort):
    rel, tracking, _ = cohort
    loose = naive_vs_expert(rel, FAST.model_copy(update={"min_track_probability": 0.5}), tracking)
    assert loose["n_tracked"] == 4 * 80  # the 0.6 matches count now
    # a tracking table without M3's expert session: auto falls back, explicit tracking keeps
    # the table and leaves M3's expert ROIs untracked
    partial = tracking[~((tracking["mouse"] == "M3") & (tracking["session"] == 14))]
    cov = tracking_coverage(rel, partial)
    assert cov["covered"].sum() == 7 and len(cov) == 8
    method, why = resolve_identity("auto", rel, partial)
    assert method == "roi_name" and "lacks 1 of 8" in why and "M3 ses-14" in why
    res = naive_vs_expert(rel, FAST.model_copy(update={"identity": "tracking"}), partial)
    assert (
        res["identity"] == "tracking"
        and "1 sessions are not in the table" in (res["identity_reason"])
    )
    counts = res["identity_counts"].set_index("mouse")
    assert counts.loc["M3", "n_untracked"] == 90 and counts.loc["M3", "n_tracked"] == 0
    assert res["n_tracked"] == 3 * 75
    with pytest.raises(DataError, match="no \\(or an empty\\) tracking table"):
        resolve_identity("tracking", rel, None)
    with pytest.raises(DataError, match="no \\(or an empty\\) tracking table"):
        resolve_identity("tracking", rel, tracking.iloc[:0])
    assert resolve_identity("roi_name", rel, tracking)[0] == "roi_name"


def test_assign_identity_and_table_checks(cohort):
    rel, tracking, _ = cohort
    keyed, counts = assign_identity(rel, "tracking", tracking, 0.7)
    assert len(keyed) == 4 * (180 - 5) and counts["n_kept"].sum() == len(keyed)
    assert keyed["identity"].str.match(r"^cell\d+$").all()
    assert (keyed["track_probability"] >= 0.7).all()
    # a naive ROI and the expert ROI of the same cell share the key; names need not
    pairs = keyed.pivot_table(
        index=["mouse", "identity"], columns="session", values="roi_name", aggfunc="first"
    ).dropna()
    assert len(pairs) == 4 * 75 and (pairs[1] != pairs[14]).mean() > 0.9  # observed 0.99
    obs = tracking_observations(tracking)
    assert len(obs) == 4 * 180 and obs["probability"].between(0.6, 1).all()
    dup = pd.concat([tracking, tracking.iloc[[0]].assign(cell=999)])
    with pytest.raises(DataError, match="belongs to 2 tracked cells"):
        tracking_observations(dup)
    with pytest.raises(DataError, match="missing columns"):
        tracking_observations(tracking.drop(columns="probability"))
