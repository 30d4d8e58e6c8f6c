"""Alignment validated on the in-silico experiment's mechanistic circuit (issue 13 on issue 12).

The simulator's cohorts carry a motor latent shared across mice (up to each mouse's
idiosyncrasy) and private latents per mouse; its ground truth saves them per session. These
tests run the alignment methods on the landed dF/F and behaviour analyses of simulated
sessions (``validation.simulated_cohort``) and check them against that truth. They skip while
the simulator saves no shared latents (before issue 12 lands).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import thalamocortex.config  # noqa: F401
from thalamocortex.alignment.params import AlignmentParams
from thalamocortex.alignment.study import (
    cross_validated_sharing,
    learning_changes,
    make_estimator,
)
from thalamocortex.alignment.validation import (
    default_methods,
    simulated_cohort,
    summarize,
    validate_alignment,
)
from thalamocortex.simulate import cohort as sim_cohort
from thalamocortex.simulate.params import default_regions, preset
from thalamocortex.stats.params import StatsParams

pytestmark = pytest.mark.skipif(
    not hasattr(sim_cohort, "load_latents"),
    reason="the simulator saves no shared motor latents yet (issue 12)",
)


def _methods(rate: float, n_time: int) -> dict:
    """The compared methods; SharedRepresentation with the study's lags (seconds -> frames)
    and the common decoder of the other methods."""
    methods = default_methods()
    methods["SharedRepresentation"] = lambda s: make_estimator(
        AlignmentParams(), rate, n_time, s, n_shared="cv", decoder_lags=(-2, 0, 2)
    )
    return methods


@pytest.fixture(scope="module")
def expert_mth():
    cfg = preset("tiny")
    cfg.behavior.n_trials = 60
    cfg.axon_imaging.mice_per_region = 4
    return simulated_cohort(cfg, "axon_imaging", 14, "MTh")


def test_simulated_cohort_matches_the_truths_frames(expert_mth):
    co = expert_mth
    assert len(co["X"]) == 4 and co["frame_rate"] == pytest.approx(10.0, rel=0.01)
    for x, y, z in zip(co["X"], co["y"], co["shared"]):
        assert x.shape[:2] == y.shape == z.shape[:2] and z.shape[2] == 3
        assert len(x) >= 40 and np.isfinite(x).all()
        # latent dimension 0 is the lever's readout: it follows the measured lever
        assert np.corrcoef(z[..., 0].ravel(), y.ravel())[0, 1] > 0.9


def test_held_out_mouse_decoding_and_recovery_on_expert_thalamic_boutons(expert_mth):
    """Expert MTh boutons (tiny preset, 4 mice x 51-60 rewarded trials x 38-51 boutons, 10 Hz,
    seed 0): SharedRepresentation decodes a held-out mouse's lever better than CCA and SRM.
    Measured: held-out-mouse R² 0.351 (CCA 0.206, SRM 0.265); recovery (mean of 3 canonical
    correlations with the true motor latent) 0.27 (CCA 0.44, SRM 0.45).

    The issue's recovery target (>= 0.9) holds on the latent generator (test_alignment.py), not
    here, and no method could meet it: the motor latent is weakly present in the boutons
    (within-mouse cross-validated ridge R² per latent dimension 0.39 / 0.22 / 0.02), and only
    dimension 0 is the lever's. SharedRepresentation's first canonical correlation is the
    highest (0.63 vs 0.58 CCA, 0.60 SRM); the behaviour-unrelated latent dimensions 1-2 are
    found better by the unsupervised methods (second correlation 0.42-0.46 vs 0.18), which is
    what a behaviour-supervised method gives up by design."""
    co = expert_mth
    tab = validate_alignment(
        co["X"],
        co["y"],
        co["shared"],
        _methods(co["frame_rate"], co["X"][0].shape[1]),
        seeds=(0,),
    )
    s = summarize(tab).set_index("method")
    print(s.round(3).to_string())
    shared = s.loc["SharedRepresentation"]
    assert shared["lomo_r2_mean"] >= 0.25
    assert shared["lomo_r2_mean"] >= s.loc["CCAAlignment", "lomo_r2_mean"] + 0.1
    assert shared["lomo_r2_mean"] >= s.loc["SRM", "lomo_r2_mean"]


def _region_changes(cfg, seed: int) -> pd.DataFrame:
    """Per region: expert - naive mean over mice of the held-out lever decoding R² through the
    shared space and of the shared variance fraction (the study's procedure: cross-validation
    over trials, mice as replicates; ``learning_changes``' ``regions`` table)."""
    p = AlignmentParams()
    rows = []
    for region in cfg.axon_imaging.regions:
        for stage, session in (("naive", 1), ("expert", 14)):
            co = simulated_cohort(cfg, "axon_imaging", session, region, p.window_s)
            per = cross_validated_sharing(co["X"], co["y"], p, co["frame_rate"], seed)
            per.insert(0, "mouse", co["mouse"])
            per.insert(0, "stage", stage)
            per.insert(0, "region", region)
            rows.append(per)
    _, regions = learning_changes(
        pd.concat(rows, ignore_index=True),
        StatsParams(n_permutations=200),
        ("decode_r2", "shared_var"),
    )
    return regions.set_index("metric")


def _demo(seed: int, regions=None):
    cfg = preset("demo")
    cfg.seed = seed
    if regions is not None:
        cfg.axon_imaging.regions = regions
    return cfg


def test_mth_shows_the_largest_rise_in_shared_movement_relevant_structure():
    """Default demo cohort (4 input regions x 3 mice, sessions 1 and 14, seed 0): MTh's shared,
    movement-relevant structure rises most with learning. Measured change expert - naive,
    MTh / M2 / S1 / cM1: decoding R² 0.46 / 0.20 / 0.14 / -0.10, shared variance 0.057 /
    0.001 / -0.008 / 0.016; MTh also largest at seeds 1 and 2 (both metrics). Issue-12 branch
    b45ddd0; at b8b23e4: 0.40 / 0.08 / 0.01 / 0.13 and 0.071 / -0.019 / 0.001 / 0.004."""
    reg = _region_changes(_demo(0), 0)
    print(reg.round(3).to_string())
    assert reg.loc["decode_r2", "largest_increase"] == "MTh"
    assert reg.loc["shared_var", "largest_increase"] == "MTh"


def test_moving_the_effect_to_another_region_moves_the_finding():
    """MTh's and M2's learning-related properties swapped (seed 0): M2 rises most. Measured,
    MTh / M2 / S1 / cM1: decoding R² 0.06 / 0.32 / 0.14 / -0.10, shared variance -0.003 /
    0.043 / -0.008 / 0.016 (b45ddd0); at b8b23e4: 0.03 / 0.45 / 0.01 / 0.13 and 0.009 / 0.022 /
    0.001 / 0.004."""
    r = default_regions()
    moved = {"MTh": r["M2"], "M2": r["MTh"], "S1": r["S1"], "cM1": r["cM1"]}
    reg = _region_changes(_demo(0, moved), 0)
    print(reg.round(3).to_string())
    assert reg.loc["decode_r2", "largest_increase"] == "M2"
    assert reg.loc["shared_var", "largest_increase"] == "M2"
