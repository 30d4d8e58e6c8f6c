"""Behaviour analysis against the in-silico experiment's ground truth.

- movement onsets vs the simulated movements at default noise;
- stereotypy rises from naive to expert in the default cohort, and shows no trend on the null
  cohort (per-mouse slopes, one-sample t-test across mice, alpha 0.05);
- success rate and reaction time follow the simulated ones.

Default runs use one seeded small cohort; multi-seed versions are marked slow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from thalamocortex.behavior.learning import learning_trend, stereotypy
from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import detect_movements
from thalamocortex.behavior.session import analyse_session
from thalamocortex.data.model import Lever
from thalamocortex.simulate.behavior import mouse_template, movement_table, simulate_behavior
from thalamocortex.simulate.cohort import simulate_session
from thalamocortex.simulate.params import SimulationConfig, preset

TOL_S = 0.020


def onset_accuracy(detected: pd.DataFrame, truth: pd.DataFrame, merge_gap_s: float) -> dict:
    """Match true onsets to the nearest detected onset.

    Returns the fraction of true movements with a detected onset within 20 ms (all movements,
    and the *separable* ones: starting at least ``merge_gap_s`` + 0.5 s after the previous
    movement ended, which the lab's merging rule can resolve), and the fraction of detected
    bouts that overlap no simulated movement (spurious).
    """
    on = np.sort(detected["onset"].to_numpy())
    t_on = truth["onset"].to_numpy()
    t_off = truth["offset"].to_numpy()
    j = np.searchsorted(on, t_on)
    err = np.full(len(t_on), np.inf)
    for k in (j - 1, j):
        ok = (k >= 0) & (k < len(on))
        err[ok] = np.minimum(err[ok], np.abs(on[k[ok]] - t_on[ok]))
    hit = err <= TOL_S
    prev_off = np.concatenate(([-np.inf], t_off[:-1]))
    separable = (t_on - prev_off) >= merge_gap_s + 0.5
    spurious = np.array(
        [
            not np.any((t_on <= b) & (t_off >= a))
            for a, b in zip(detected["onset"], detected["offset"])
        ]
    )
    cued = truth["kind"].to_numpy() == "cued"
    return {
        "recall_all": float(hit.mean()),
        "recall_separable": float(hit[separable].mean()),
        "recall_separable_cued": float(hit[separable & cued].mean()),
        "recall_separable_spontaneous": float(hit[separable & ~cued].mean()),
        "spurious": float(spurious.mean()) if len(spurious) else 0.0,
        "n_true": len(t_on),
        "n_separable": int(separable.sum()),
    }


def _accuracy(seeds, n_trials=60) -> dict:
    cfg = SimulationConfig()
    cfg.behavior.n_trials = n_trials
    p = BehaviorParams()
    det_all, truth_all, offset = [], [], 0.0
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        tpl = mouse_template(rng, cfg.behavior)
        for progress in (0.0, 1.0):
            res = simulate_behavior(rng, cfg, tpl, progress)
            lever = Lever(np.asarray(res.lever, np.float64), res.rate, "mm", t0=offset)
            det = detect_movements(lever, p)
            truth = movement_table(res.movements)
            truth[["onset", "offset"]] += offset
            rows.append(onset_accuracy(det, truth, p.merge_gap_s))
            det_all.append(det)
            truth_all.append(truth)
            offset += res.duration + 100.0
    return onset_accuracy(
        pd.concat(det_all, ignore_index=True),
        pd.concat(truth_all, ignore_index=True),
        p.merge_gap_s,
    )


def test_movement_onsets_match_simulated_movements():
    """Onsets within 20 ms of the simulated ones (seed 11, naive and expert session).

    Old target (smooth raised-cosine simulator): separable cued recall >= 0.95 (observed 0.995),
    all separable >= 0.90. On the realistic lever (minimum-jerk sub-movements leaving rest like
    t^3, naive presses of 0.4 s with log-SD 0.8, tremor) the lab's threshold rule alone gives
    0.78 / 0.60; the minimum-jerk back-extrapolation (``refine_fit``) gives 0.908 separable
    cued and 0.75 all separable. The remaining misses are slow presses (rise 0.7-1.4 s) whose
    first tens of ms move the lever by less than the tremor (0.03 mm): their onset is not
    identifiable to 20 ms. Small slow spontaneous movements are recovered at ~0.5. Targets
    are the measured figures with a margin for seeds.
    """
    acc = _accuracy(seeds=[11])
    # the task's movements (cued presses the parser can separate from earlier movements)
    assert acc["recall_separable_cued"] >= 0.88, acc
    assert acc["spurious"] <= 0.05, acc
    # all separable movements including small, slow spontaneous ones (observed 0.75)
    assert acc["recall_separable"] >= 0.70, acc


@pytest.mark.slow
def test_movement_onsets_match_simulated_movements_many_seeds():
    """Old targets (smooth simulator, 1454 movements: observed 0.995 / 0.954 / 0.88): separable
    cued >= 0.95, separable >= 0.95, all >= 0.85. Realistic lever with the minimum-jerk onset
    fit (1395 movements): separable cued 0.918, separable 0.813, all 0.739, spurious 0 (slow
    presses and small slow spontaneous movements start below the tremor, see
    test_movement_onsets_match_simulated_movements); targets are these with a margin."""
    acc = _accuracy(seeds=range(20, 30))
    assert acc["recall_separable_cued"] >= 0.90, acc
    assert acc["spurious"] <= 0.05, acc
    assert acc["recall_separable"] >= 0.78, acc
    assert acc["recall_all"] >= 0.70, acc


# ---------------------------------------------------------------------------------------------
def _cohort_sessions(cfg: SimulationConfig, sessions=(1, 7, 14)) -> tuple[pd.DataFrame, dict]:
    """Analyse every axon-imaging mouse x session of ``cfg`` in memory."""
    p = BehaviorParams()
    rows, truths = [], {}
    n_mice = len(cfg.axon_imaging.regions) * cfg.axon_imaging.mice_per_region
    for mi in range(n_mice):
        for s in sessions:
            session, truth = simulate_session(cfg, "axon_imaging", mi, s)
            sb = analyse_session(session, p)
            t = sb.trials
            sel = ((t["movement_kind"] == "rewarded") & t["usable_trace"]).to_numpy()
            tt = truth["trials"]
            rows.append(
                {
                    "mouse": session.info.mouse,
                    "session": s,
                    "stereotypy": stereotypy(sb.binned[sel], p.min_trials_stereotypy),
                    "success_rate": sb.summary["success_rate"],
                    "median_reaction_time": sb.summary["median_reaction_time"],
                    "true_success_rate": float((tt["outcome"] == "hit").mean()),
                    "true_median_reaction_time": float(
                        np.nanmedian(tt["reaction_time"][tt["engaged"]])
                    ),
                    "true_progress": float(truth["sessions"]["learning_progress"].iloc[0]),
                }
            )
            truths[(session.info.mouse, s)] = (sb.trials, tt)
    return pd.DataFrame(rows), truths


def _small_cohort(seed: int, null: bool) -> SimulationConfig:
    cfg = preset("tiny")
    cfg.seed = seed
    cfg.axon_imaging.mice_per_region = 3  # 2 regions -> 6 mice
    cfg.axon_imaging.n_axons = 5
    cfg.behavior.n_trials = 30
    return cfg.null() if null else cfg


@pytest.fixture(scope="module")
def default_cohort():
    return _cohort_sessions(_small_cohort(seed=5, null=False))


@pytest.fixture(scope="module")
def null_cohort():
    return _cohort_sessions(_small_cohort(seed=5, null=True))


def test_stereotypy_rises_with_learning(default_cohort):
    sess, _ = default_cohort
    tr = learning_trend(sess, "stereotypy")
    assert tr["n_mice"] == 6
    assert tr["mean_slope"] > 0 and tr["p"] < 0.05, tr
    piv = sess.pivot(index="mouse", columns="session", values="stereotypy")
    assert (piv[14] > piv[1]).mean() >= 5 / 6


def test_stereotypy_no_trend_on_null_cohort(null_cohort):
    sess, _ = null_cohort
    tr = learning_trend(sess, "stereotypy")
    assert tr["n_mice"] == 6
    assert tr["p"] >= 0.05, tr


def test_success_and_reaction_time_follow_the_simulation(default_cohort):
    """Success rate, median and per-trial reaction times against the simulation.

    Per-trial RTs within 20 ms: old target 0.9, measured 0.889 on the realistic lever with the
    minimum-jerk onset fit (0.69 with the threshold rule alone); target 0.85.
    """
    sess, truths = default_cohort
    # success is read off the same reward times: equal up to trials without a kept bout
    assert np.abs(sess["success_rate"] - sess["true_success_rate"]).max() <= 0.05
    # median reaction time of rewarded cued trials vs the simulated engaged trials
    ok = sess[["median_reaction_time", "true_median_reaction_time"]].dropna()
    r = stats.pearsonr(ok["median_reaction_time"], ok["true_median_reaction_time"])[0]
    assert r > 0.8, r
    assert np.median(np.abs(ok["median_reaction_time"] - ok["true_median_reaction_time"])) < 0.1
    # per-trial reaction times of rewarded trials with a simulated cued movement
    t_all = []
    for trials, tt in truths.values():
        m = trials.merge(tt[["trial", "reaction_time", "engaged"]], on="trial", suffixes=("", "_t"))
        m = m[(m["movement_kind"] == "rewarded") & m["engaged"] & m["cued"]]
        t_all.append(m[["reaction_time", "reaction_time_t"]])
    t_all = pd.concat(t_all)
    within = np.abs(t_all["reaction_time"] - t_all["reaction_time_t"]) <= TOL_S
    # old target 0.9 (smooth simulator); realistic lever: threshold rule 0.69, with the
    # minimum-jerk onset fit 0.889 (misses: slow naive presses whose start is below the tremor,
    # see test_movement_onsets_match_simulated_movements)
    assert within.mean() >= 0.85, within.mean()
    # learning curves: success rises, reaction time falls across mice
    assert learning_trend(sess, "success_rate")["mean_slope"] > 0
    assert learning_trend(sess, "median_reaction_time")["mean_slope"] < 0


@pytest.mark.slow
def test_null_cohort_false_positive_rate_many_seeds():
    """Across 20 null cohorts the stereotypy-trend test rejects at most ~alpha of the time."""
    rejections = []
    for seed in range(100, 120):
        sess, _ = _cohort_sessions(_small_cohort(seed=seed, null=True))
        rejections.append(learning_trend(sess, "stereotypy")["p"] < 0.05)
    # binomial(20, 0.05): P(X >= 4) ~ 0.016
    assert sum(rejections) <= 3, rejections


def _demo_cohort(seed: int) -> SimulationConfig:
    """The demo preset's axon-imaging design (4 regions x 4 mice on 7 days, 50 trials, 5 axons)."""
    cfg = preset("demo")
    cfg.seed = seed
    cfg.axon_imaging.n_axons = 5
    return cfg


@pytest.mark.slow
def test_stereotypy_rises_many_seeds():
    """Power of the across-mice stereotypy trend test in the demo-sized cohort."""
    hits = []
    for seed in range(200, 205):
        cfg = _demo_cohort(seed)
        sess, _ = _cohort_sessions(cfg, sessions=tuple(cfg.axon_imaging.sessions))
        tr = learning_trend(sess, "stereotypy")
        hits.append(tr["mean_slope"] > 0 and tr["p"] < 0.05)
    assert sum(hits) >= 4, hits
