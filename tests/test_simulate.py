"""Tests of the in-silico experiment: reproducibility, learning effects and their null, the
all-optical and inactivation cohorts, and behavioural bookkeeping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from thalamocortex.simulate.behavior import (
    learning_progress,
    mouse_template,
    simulate_behavior,
    stage_of,
)
from thalamocortex.simulate.cohort import cohort_design, simulate_session
from thalamocortex.simulate.params import SimulationConfig, default_regions, preset


@pytest.fixture(scope="module")
def tiny() -> SimulationConfig:
    return preset("tiny")


def _stereotypy(lever: np.ndarray, rate: float, onsets: np.ndarray) -> float:
    """Median pairwise Pearson r of the lever 0-3 s after onset (10 ms bins, no self-pairs)."""
    n, b = int(3 * rate), int(0.01 * rate)
    snippets = np.array([lever[int(round(o * rate)) :][:n].reshape(-1, b).mean(1) for o in onsets])
    c = np.corrcoef(snippets)
    return float(np.median(c[np.triu_indices(len(onsets), 1)]))


def _session_stereotypy(cfg: SimulationConfig, progress: float, n_mice: int = 4) -> float:
    """Mean over mice (same templates) of the session stereotypy; each progress value gets its
    own behaviour generator, like a separate session."""
    out = []
    for k in range(n_mice):
        tpl = mouse_template(np.random.default_rng([cfg.seed, k]), cfg.behavior)
        rng = np.random.default_rng([cfg.seed, k, int(round(1000 * progress)) + 1])
        beh = simulate_behavior(rng, cfg, tpl, progress)
        on = beh.truth_trials.loc[beh.truth_trials["engaged"], "movement_onset"].to_numpy()
        out.append(_stereotypy(beh.lever.astype(np.float64), beh.rate, on))
    return float(np.mean(out))


def _movement_modulation(sess, truth) -> np.ndarray:
    """Per ROI: (mean F during movement - mean F at rest) / SD at rest, neuropil-corrected."""
    im = sess.imaging
    t = im.times
    moving = np.zeros(len(t), dtype=bool)
    for on, off in zip(truth["movements"]["onset"], truth["movements"]["offset"]):
        moving |= (t >= on) & (t <= off)
    f = im.f - 0.7 * im.fneu
    return (f[moving].mean(0) - f[~moving].mean(0)) / f[~moving].std(0)


# ----------------------------------------------------------------------------- config
def test_presets_and_null():
    for name in ("tiny", "demo", "paper"):
        cfg = preset(name)
        assert cfg.scale("behavior_learning") == 1.0
    null = preset("tiny").null()
    assert not any(null.effects.model_dump().values())
    assert all(null.scale(k) == 0.0 for k in null.effects.model_dump())
    with pytest.raises(ValueError, match="unknown name"):
        preset("huge")
    with pytest.raises(ValueError, match="sessions must lie"):
        SimulationConfig(m1={"sessions": [1, 20]})


def test_with_overrides_deep_merges_and_validates():
    cfg = preset("tiny").with_overrides(
        {
            "behavior": {"n_trials": 7},
            "axon_imaging": {"regions": {"MTh": {"expert": {"lag_s": -0.3}}}},
        }
    )
    assert cfg.behavior.n_trials == 7
    assert cfg.behavior.lever_rate_hz == preset("tiny").behavior.lever_rate_hz  # kept
    mth = cfg.axon_imaging.regions["MTh"]
    assert mth.expert.lag_s == -0.3 and mth.naive.lag_s == 0.1
    assert list(cfg.axon_imaging.regions) == ["MTh", "M2"]
    from thalamocortex.config import ConfigError

    with pytest.raises(ConfigError, match="behavior.n_trials"):
        preset("tiny").with_overrides({"behavior": {"n_trials": 0}})
    with pytest.raises(ConfigError, match="unknown key"):
        preset("tiny").with_overrides({"behaviour": {}})


def test_learning_progress_saturates():
    p = [learning_progress(s, 14, 4.0) for s in range(1, 15)]
    assert p[0] == 0.0 and p[-1] == pytest.approx(1.0)
    assert np.all(np.diff(p) > 0) and np.all(np.diff(np.diff(p)) < 0)  # concave
    cfg = SimulationConfig()
    assert stage_of(p[0], cfg) == "naive" and stage_of(p[-1], cfg) == "expert"
    assert stage_of(p[4], cfg) == "middle"


def test_effect_scale_scales_differences(tiny):
    half = tiny.model_copy(update={"effect_scale": 0.5})
    rng = np.random.default_rng(0)
    tpl = mouse_template(rng, half.behavior)
    beh = simulate_behavior(rng, half, tpl, 1.0)
    mp = half.behavior.motor
    expect = mp.variability_naive + 0.5 * (mp.variability_expert - mp.variability_naive)
    assert beh.summary["variability"] == pytest.approx(expect)
    assert beh.summary["plan_stage"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_identical_different_seed_differs(tiny):
    a, ta = simulate_session(tiny, "axon_imaging", 0, 7)
    b, tb = simulate_session(tiny, "axon_imaging", 0, 7)
    np.testing.assert_array_equal(a.imaging.f, b.imaging.f)
    np.testing.assert_array_equal(a.lever.values, b.lever.values)
    pd.testing.assert_frame_equal(ta["rois"], tb["rois"])
    c, _ = simulate_session(tiny.model_copy(update={"seed": 1}), "axon_imaging", 0, 7)
    assert c.lever.n_samples != a.lever.n_samples or not np.array_equal(
        c.lever.values, a.lever.values
    )


def test_session_independent_of_order_and_cohort(tiny):
    # a session is the same alone, after other sessions, and in a cohort with more mice
    alone, t_alone = simulate_session(tiny, "all_optical", 0, 14, return_traces=True)
    for s in (1, 14):
        simulate_session(tiny, "all_optical", 1, s)
    again, _ = simulate_session(tiny, "all_optical", 0, 14)
    np.testing.assert_array_equal(alone.imaging.f, again.imaging.f)
    bigger = tiny.model_copy(deep=True)
    bigger.m1.n_no_opsin_mice = 3
    bigger.axon_imaging.mice_per_region = 2
    inbig, _ = simulate_session(bigger, "all_optical", 0, 14)
    np.testing.assert_array_equal(alone.imaging.f, inbig.imaging.f)
    assert t_alone["traces"]["dff"].shape == alone.imaging.f.shape
    # the NWB-bound imaging never carries the true dF/F
    assert alone.imaging.dff is None


def test_cohort_design_tiny(tiny):
    mice = cohort_design(tiny)
    assert [m.mouse for m in mice] == ["axMTh01", "axM201", "aoOpsin01", "aoCtrl01", "inact01"]
    assert sum(len(m.sessions) for m in mice) == 3 + 3 + 2 + 2 + 1


# ----------------------------------------------------------------------------- behaviour
def test_stereotypy_rises_with_learning_and_not_in_null():
    # stereotypy emerges from the motor process (plans learned, variability shrinking); there is
    # no template weight. Observed over seeds 0-7 (6 mice x 80 trials): naive 0.37-0.47,
    # expert 0.74-0.78; the null "expert" minus naive difference has SD 0.042 across seeds
    cfg = SimulationConfig(behavior={"n_trials": 80, "lever_rate_hz": 500.0})
    naive, expert = _session_stereotypy(cfg, 0.0, 6), _session_stereotypy(cfg, 1.0, 6)
    assert expert - naive > 0.2, (naive, expert)
    assert 0.3 < naive < 0.55 and 0.65 < expert < 0.9, (naive, expert)
    n1 = _session_stereotypy(cfg.null(), 1.0, 6)  # null "expert" session vs the same naive
    assert abs(n1 - naive) < 0.13, (naive, n1)  # 3 SD of the null difference


def test_outcome_follows_lever_threshold(tiny):
    sess, truth = simulate_session(tiny, "axon_imaging", 0, 1)
    bp = tiny.behavior
    x, rate = sess.lever.values, sess.lever.rate
    for _, tr in sess.trials.iterrows():
        lo = int(np.ceil(tr.cue_time * rate))
        hi = int(np.floor((tr.cue_time + bp.response_window_s) * rate))
        seg = x[lo - 1 : hi + 1] >= bp.threshold_mm
        up = np.flatnonzero(seg[1:] & ~seg[:-1])
        if len(up):
            assert tr.outcome == "hit"
            assert tr.reward_time == pytest.approx((lo + up[0]) / rate + bp.reward_delay_s)
        else:
            assert tr.outcome == "miss" and np.isnan(tr.reward_time)
    # hidden truth is not in the NWB-bound trials table
    assert "template_weight" not in sess.trials and "movement_onset" not in sess.trials
    assert truth["movements"]["kind"].eq("spontaneous").any()
    assert (truth["trials"]["movement_onset"] > truth["trials"]["cue_time"]).all() or (
        truth["trials"]["movement_onset"].isna().any()
    )


def test_spontaneous_movements_some_just_before_cues():
    cfg = SimulationConfig(behavior={"n_trials": 100, "lever_rate_hz": 500.0})
    rng = np.random.default_rng(5)
    beh = simulate_behavior(rng, cfg, mouse_template(rng, cfg.behavior), 0.0)
    spont = np.array([m.onset for m in beh.movements if m.kind == "spontaneous"])
    cues = beh.truth_trials["cue_time"].to_numpy()
    gap = cues[None, :] - spont[:, None]
    precue = np.any((gap > 0) & (gap < 1.0), axis=1)
    assert 3 <= precue.sum() <= 20  # p_precue_movement = 0.08 of 100 trials
    # spontaneous movements are smaller than cued ones
    peak = {
        k: np.median([m.samples.max() for m in beh.movements if m.kind == k])
        for k in ("cued", "spontaneous")
    }
    assert peak["spontaneous"] < 0.8 * peak["cued"]
    # cued movements never start before their cue
    rt = beh.truth_trials["reaction_time"].dropna()
    assert (rt > 0).all()


def test_movement_starts_at_zero_and_crosses_threshold():
    cfg = SimulationConfig()
    mp = cfg.behavior.motor
    for seed in range(5):
        t, x = mouse_template(np.random.default_rng(seed), cfg.behavior).template(1000.0)
        assert x[0] == pytest.approx(0.0, abs=1e-12) and x[-1] == pytest.approx(0.0, abs=1e-9)
        assert x.max() > cfg.behavior.threshold_mm
        assert x.max() <= mp.max_displacement_mm
        assert 0.2 < t[-1] <= mp.max_duration_s + 1e-9


def _inactivation_cfg(**overrides) -> SimulationConfig:
    base = dict(
        experiments=["inactivation"],
        behavior={"n_trials": 100, "lever_rate_hz": 500.0},
        inactivation={"n_mice": 1, "sessions": [14], "light_fraction": 0.3},
        effect_mouse_sd=0.0,  # the population effect (one mouse; between-mouse spread below)
    )
    return SimulationConfig(**{**base, **overrides})


def _template_similarity(sess, truth) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r of the lever 0-2 s after each engaged cued onset with the mouse's noise-free
    learned movement, and whether the trial had light."""
    tpl = truth["templates"]
    rate = sess.lever.rate
    grid = np.arange(int(2 * rate)) / rate
    ref = np.interp(grid, tpl["t"], tpl["position"], right=0.0)
    tr = truth["trials"][truth["trials"]["engaged"]]
    r = np.array(
        [
            np.corrcoef(sess.lever.values[int(round(o * rate)) :][: len(grid)], ref)[0, 1]
            for o in tr["movement_onset"]
        ]
    )
    return r, tr["light"].to_numpy()


def test_inactivation_degrades_the_movement_through_the_circuit():
    """Light silences thalamic axons in M1; the learned part of the movement moves towards its
    naive twin by m1_motor_weight x the fraction of M1's readout of the movement the light
    removes (m1.py), not by a rewritten plan. Observed (seed 0, m1_motor_weight 1, balanced
    inhibition): template r 0.81 without light, 0.53 with it (0-2 s: the naive twin is slower
    and longer; light-trial r ranges -0.7..0.96, so the median moves with the session's draws:
    seeds 1-3 0.70 / 0.58, 0.81 / 0.78, 0.85 / 0.15); M1 loss 0.94 (0.73-1.0); RMS lever
    deviation 1.35 mm on light trials (0 without). Before the balanced inhibition: r -0.13,
    loss 0.92, 1.48 mm; with weight 0.7: r 0.34, deviation 0.92 mm."""
    cfg = _inactivation_cfg()
    sess, truth = simulate_session(cfg, "inactivation", 0, 14)
    tr = truth["trials"][truth["trials"]["engaged"]]
    # light no longer rewrites the plan: plan stage and variability are the session's
    assert tr["plan_stage"].nunique() == 1 and tr["variability"].nunique() == 1
    mv = truth["movements"]
    cued = mv[mv["kind"] == "cued"]
    assert (cued.loc[~cued["light"], "lever_deviation"] == 0).all()
    assert cued.loc[cued["light"], "lever_deviation"].min() > 0.3  # mm RMS
    assert cued.loc[cued["light"], "m1_loss"].mean() > 0.5
    assert cued.loc[~cued["light"], "m1_loss"].isna().all()
    # what each movement was made of is kept
    sub = truth["submovements"]
    assert set(sub["kind"]) >= {"press", "release"}
    assert (mv["n_submovements"] == sub.groupby("movement").size().to_numpy()).all()
    assert sess.trials["light"].sum() == 30
    assert len(sess.stimulation.pulses) == 30
    assert sess.stimulation.pulses["target"].str.contains("inactivation").all()
    # the circuit's readout of the motor latent from M1 is good in the expert
    assert truth["sessions"]["readout_r2"].iloc[0] > 0.6
    # light-on movements resemble the learned movement less
    r, light = _template_similarity(sess, truth)
    assert np.median(r[~light]) - np.median(r[light]) > 0.1, (r[~light], r[light])
    # null: the mouse never learned and light silences nothing
    _, t0 = simulate_session(cfg.null(), "inactivation", 0, 14)
    assert (t0["movements"]["lever_deviation"] == 0).all()
    assert t0["sessions"]["silenced_fraction"].iloc[0] == 0
    # M1 without a say in the motor command: light cannot change the lever
    _, t1 = simulate_session(
        _inactivation_cfg(circuit={"m1_motor_weight": 0.0}), "inactivation", 0, 14
    )
    assert (t1["movements"]["lever_deviation"] == 0).all()


def test_inactivating_a_region_without_movement_signal_leaves_the_lever():
    """Silencing a cortical input that carries no movement signal shifts M1 tonically (removed
    from the command) and barely changes the lever. Observed (m1_motor_weight 1, balanced
    cortical inhibition): M1 loss 0.02 (0-0.08) vs 0.85, RMS deviation 0.04 mm vs 1.16 mm for
    the thalamus (40 trials). Without the cortical inhibition (cortical_ffi 0) silencing the
    movement-free M2 pushed its strongly connected neurons below threshold (-kappa, up to -2)
    and removed their movement responses: loss 0.3-0.45, deviation 0.39-0.44 mm. Through the
    analysis on 8 mice: test_opto_groundtruth.py."""
    regions = {k: v.model_dump() for k, v in default_regions().items()}
    for stage in ("naive", "expert"):
        regions["M2"][stage]["movement_fraction"] = 0.0
    regions["M2"]["quiescence_fraction"] = 0.0
    dev, loss = {}, {}
    for region in ("MTh", "M2"):
        cfg = _inactivation_cfg(
            behavior={"n_trials": 40, "lever_rate_hz": 500.0},
            inactivation={"n_mice": 1, "sessions": [14], "light_fraction": 0.3, "region": region},
            axon_imaging={"regions": regions},
        )
        sess, truth = simulate_session(cfg, "inactivation", 0, 14)
        assert sess.stimulation.pulses["target"].str.startswith(region).all()
        mv = truth["movements"]
        dev[region] = mv.loc[mv["light"] & (mv["kind"] == "cued"), "lever_deviation"].mean()
        loss[region] = mv.loc[mv["light"] & (mv["kind"] == "cued"), "m1_loss"].mean()
    assert dev["M2"] < 0.15 * dev["MTh"], dev
    assert loss["M2"] < 0.15 and loss["MTh"] > 0.5, loss


# ----------------------------------------------------------------------------- inputs
def test_mth_movement_related_fraction_rises_only_with_effect():
    cfg = SimulationConfig(
        experiments=["axon_imaging"],
        behavior={"n_trials": 40, "lever_rate_hz": 500.0, "iti_min_s": 3.0, "iti_max_s": 5.0},
        measurement={"frame_rate_hz": 10.0},
        axon_imaging={
            "regions": {"MTh": preset("demo").axon_imaging.regions["MTh"]},
            "mice_per_region": 1,
            "sessions": [1, 14],
            "n_axons": 80,
        },
    )
    for c, truth_rise, measured in (
        (cfg, (0.2, 0.45), (0.15, 1.0)),
        (cfg.null(), (-0.01, 0.01), (-0.1, 0.1)),
    ):
        frac_truth, frac_measured = [], []
        for s in (1, 14):
            sess, truth = simulate_session(c, "axon_imaging", 0, s)
            frac_truth.append(truth["rois"]["movement_related"].mean())
            frac_measured.append(np.mean(_movement_modulation(sess, truth) > 0.3))
        assert truth_rise[0] < frac_truth[1] - frac_truth[0] < truth_rise[1], frac_truth
        assert measured[0] < frac_measured[1] - frac_measured[0] < measured[1], frac_measured


def test_any_region_can_carry_the_learning_effect():
    # give M2 the MTh pattern and MTh a flat one: the effect follows the configuration
    demo = preset("demo").axon_imaging.regions
    cfg = SimulationConfig(
        experiments=["axon_imaging"],
        behavior={"n_trials": 5, "lever_rate_hz": 500.0},
        measurement={"frame_rate_hz": 5.0},
        axon_imaging={
            "regions": {"MTh": demo["cM1"], "M2": demo["MTh"]},
            "mice_per_region": 1,
            "sessions": [1, 14],
            "n_axons": 200,
        },
    )
    frac = {}
    for mouse, region in ((0, "MTh"), (1, "M2")):
        for s in (1, 14):
            _, truth = simulate_session(cfg, "axon_imaging", mouse, s)
            assert (truth["rois"]["region"] == region).all()
            frac[region, s] = truth["sessions"]["axon_movement_fraction"].iloc[0]
    assert frac["M2", 14] - frac["M2", 1] > 0.2
    assert abs(frac["MTh", 14] - frac["MTh", 1]) < 0.08
    # effect_scale 2 doubles the change of the population fraction (clipped to [0, 1]); with
    # no between-mouse spread every mouse has exactly that change
    big = cfg.model_copy(update={"effect_scale": 2.0, "effect_mouse_sd": 0.0})
    _, t = simulate_session(big, "axon_imaging", 1, 14)
    naive, expert = demo["MTh"].naive.movement_fraction, demo["MTh"].expert.movement_fraction
    assert t["sessions"]["region_movement_fraction"].iloc[0] == pytest.approx(
        min(1.0, naive + 2 * (expert - naive))
    )


def test_boutons_of_one_axon_are_correlated(tiny):
    _, truth = simulate_session(tiny, "axon_imaging", 0, 14, return_traces=True)
    dff = truth["traces"]["dff"]
    axon = truth["rois"]["axon_id"].to_numpy()
    c = np.corrcoef(dff.T)
    same = axon[:, None] == axon[None, :]
    off = ~np.eye(len(axon), dtype=bool)
    assert np.nanmedian(c[same & off]) > 0.7
    assert np.nanmedian(c[~same]) < 0.3


def test_mth_leads_movement_in_experts(tiny):
    _, t1 = simulate_session(tiny, "axon_imaging", 0, 1)
    _, t14 = simulate_session(tiny, "axon_imaging", 0, 14)
    r1, r14 = t1["rois"], t14["rois"]
    assert r1.loc[r1.movement_related, "lag_s"].mean() > 0.0
    assert r14.loc[r14.movement_related, "lag_s"].mean() < 0.0
    assert r14.thalamic_weight.isna().all() and r14.expected_response.isna().all()


# ----------------------------------------------------------------------------- M1
def test_refinement_aligns_thalamic_drive_with_encoding_in_experts_only():
    """M1 encoding comes from the circuit: in experts the neurons the thalamus drives are the
    movement-encoding ones (the cortically gated covariance rule moved W onto them); in naive
    mice, the null, or with the rule off, W is broad. Observed (400 neurons, seed 0; balanced
    feed-forward inhibition, issue 12's rule-off item): Spearman rho(net thalamic weight,
    encoding) naive -0.10, expert 0.54, null -0.10, rule off 0.07; neurons with a negative net
    thalamic drive (a volley of the opsin axons suppresses them): naive 0.51 of all, unrelated
    neurons naive 0.51, expert 0.79; truth enrichment (movement-related fraction of
    expected-activated neurons minus the others') naive -0.02, expert 0.53, null 0.02, rule off
    0.04. Before the balanced inhibition (pooled inhibition 0.65 x the mean row sum): rho rule
    off 0.31, enrichment rule off 0.24, every naive neuron but 10 % net excited -- the common
    thalamic movement drive of better-innervated neurons made them movement-related without
    any rewiring. Issue 12's target: rule off removes the enrichment (asserted |.| < 0.12)."""
    cfg = SimulationConfig(
        experiments=["all_optical"],
        behavior={"n_trials": 5, "lever_rate_hz": 500.0},
        measurement={"frame_rate_hz": 10.0},
        m1={"n_opsin_mice": 1, "n_no_opsin_mice": 0, "n_neurons": 400, "n_pulses": 2},
    )
    off = cfg.model_copy(
        update={"effects": cfg.effects.model_copy(update={"m1_refinement": False})}
    )
    zero_rate = cfg.with_overrides({"circuit": {"refinement_rate": 0.0}})
    rho, unrelated_suppressed, w, enrichment, net_suppressed = {}, {}, {}, {}, {}
    for name, c, s in (
        ("naive", cfg, 1),
        ("expert", cfg, 14),
        ("null", cfg.null(), 14),
        ("off", off, 14),
        ("rate 0", zero_rate, 14),
    ):
        _, truth = simulate_session(c, "all_optical", 0, s)
        r = truth["rois"]
        rho[name] = spearmanr(r.thalamic_weight, r.encoding)[0]
        unrelated_suppressed[name] = (r.thalamic_weight[~r.movement_related] < 0).mean()
        net_suppressed[name] = (r.thalamic_weight < 0).mean()
        act = r.expected_response.eq("activated").to_numpy()
        rel = r.movement_related.to_numpy()
        enrichment[name] = rel[act].mean() - (rel[~act].mean() if (~act).any() else 0.0)
        w[name] = (truth["circuit"]["W"], truth["circuit"]["W_naive"])
        np.testing.assert_allclose(r.thalamic_input, truth["circuit"]["W"].sum(axis=1), rtol=1e-5)
    assert abs(rho["naive"]) < 0.3 and abs(rho["null"]) < 0.3, rho
    assert rho["expert"] > 0.4 and rho["expert"] > rho["off"] + 0.25, rho
    assert unrelated_suppressed["expert"] > unrelated_suppressed["naive"] + 0.15
    # truth enrichment: movement-related fraction of expected-activated minus the others'
    assert enrichment["expert"] > 0.4 and abs(enrichment["naive"]) < 0.15, enrichment
    assert enrichment["off"] < enrichment["expert"] - 0.3, enrichment
    assert abs(enrichment["off"]) < 0.12 and abs(enrichment["null"]) < 0.12, enrichment
    # broad naive influence: a thalamic volley excites some neurons and suppresses others
    assert 0.3 < net_suppressed["naive"] < 0.7, net_suppressed
    # no refinement without the rule: W stays naive (switch off, or rule strength 0, or null)
    for name in ("naive", "null", "off", "rate 0"):
        np.testing.assert_array_equal(*w[name])
    # the rule conserves every axon's total synaptic strength (presynaptic normalisation)
    np.testing.assert_allclose(w["expert"][0].sum(0), w["expert"][1].sum(0), rtol=1e-4)
    assert np.abs(w["expert"][0] - w["expert"][1]).sum() > 0.3 * w["expert"][1].sum()


def _pulse_response(sess, truth, kind):
    im = sess.imaging
    t, f = im.times, im.f - 0.7 * im.fneu
    fr = im.frame_rate
    n = int(round(fr))
    resp = []
    for start, dur in zip(sess.stimulation.pulses.start_time, sess.stimulation.pulses.duration):
        i0 = np.searchsorted(t, start)
        i1 = np.searchsorted(t, start + dur) + 1  # first clean frame after the light
        resp.append(f[i1 : i1 + n].mean(0) - f[i0 - n - 1 : i0 - 1].mean(0))
    resp = np.mean(resp, axis=0)
    sel = truth["rois"]["expected_response"].eq(kind).to_numpy()
    return resp[sel] / f.std(0)[sel]


def _pulse_spikes(sess, truth, kind):
    """Mean spikes per frame during the pulses minus before them, per ROI of ``kind``."""
    t, sp = sess.imaging.times, truth["traces"]["spikes"]
    on = np.zeros(len(t), bool)
    pre = np.zeros(len(t), bool)
    for start, dur in zip(sess.stimulation.pulses.start_time, sess.stimulation.pulses.duration):
        on |= (t >= start) & (t < start + dur)
        pre |= (t >= start - dur) & (t < start)
    sel = truth["rois"]["expected_response"].eq(kind).to_numpy()
    return sp[on][:, sel].mean(0) - sp[pre][:, sel].mean(0)


def test_photostimulation_responses_and_artefact(tiny):
    sess, truth = simulate_session(tiny, "all_optical", 0, 14, return_traces=True)
    assert np.mean(_pulse_response(sess, truth, "activated")) > 0.5
    # suppression silences the sparse background: fewer spikes, a small fluorescence drop
    # (a sparse cell has little activity to lose, so this is hard to see in F, as in vivo)
    assert np.mean(_pulse_spikes(sess, truth, "suppressed")) < 0
    assert np.mean(_pulse_response(sess, truth, "suppressed")) < 0.05
    im = sess.imaging
    t = im.times
    art = np.zeros(len(t), dtype=bool)
    for start, dur in zip(sess.stimulation.pulses.start_time, sess.stimulation.pulses.duration):
        art |= (t < start + dur) & (t + 1 / im.frame_rate > start)
    assert art.sum() == truth["sessions"]["n_artefact_frames"].iloc[0]
    light = tiny.measurement.artefact_photons_px  # photons per pixel: F is a pixel mean
    assert np.median(im.f[art]) > np.median(im.f[~art]) + 0.8 * light
    assert np.median(im.fneu[art]) > np.median(im.fneu[~art]) + 0.8 * light
    # no-opsin control: light gives artefacts but no neural response
    ctrl, ctruth = simulate_session(tiny, "all_optical", 1, 14)
    assert (ctruth["rois"]["expected_response"] == "none").all()
    ctruth["rois"]["expected_response"] = "none"
    assert abs(np.mean(_pulse_response(ctrl, ctruth, "none"))) < 0.15


# ----------------------------------------------------------------------------- writing
def test_simulate_cohort_writes_dataset_and_ground_truth(tmp_path, tiny):
    nwb = pytest.importorskip("thalamocortex.data.nwb")
    pytest.importorskip("thalamocortex.data.layout")
    from thalamocortex.simulate.cohort import simulate_cohort

    cfg = tiny.model_copy(update={"save_true_traces": True})
    out = simulate_cohort(
        cfg, tmp_path / "cohort", progress=False, experiments=["all_optical", "inactivation"]
    )
    gt = out / "ground_truth"
    for name in ("rois", "trials", "movements", "sessions", "templates", "mice"):
        assert (gt / f"{name}.parquet").is_file()
    mice = pd.read_parquet(gt / "mice.parquet")
    assert set(mice["mouse"]) == {"aoOpsin01", "aoCtrl01", "inact01"}
    assert {"effect", "z", "multiplier", "change_population", "change_mouse"} <= set(mice)
    meta = yaml.safe_load((gt / "cohort.yaml").read_text())
    assert SimulationConfig.model_validate(meta["config"]) == cfg
    assert meta["seed"] == cfg.seed
    rois = pd.read_parquet(gt / "rois.parquet")
    assert set(rois["mouse"]) == {"aoOpsin01", "aoCtrl01"}
    sessions = pd.read_parquet(gt / "sessions.parquet")
    assert len(sessions) == 5
    path = out / "sub-aoOpsin01" / "sub-aoOpsin01_ses-14.nwb"
    back = nwb.read_session(path).load()
    alone, _ = simulate_session(cfg, "all_optical", 0, 14)
    np.testing.assert_array_equal(back.imaging.f, alone.imaging.f)
    assert (gt / "traces" / "sub-aoOpsin01_ses-14.npz").is_file()
    assert not any(p.name.endswith(".tmp") for p in out.rglob("*"))
    # latents of every session, the circuit (W naive vs expert) of every circuit session
    from thalamocortex.simulate.cohort import load_circuit, load_latents

    for mouse, s in zip(sessions["mouse"], sessions["session"]):
        lat = load_latents(out, f"sub-{mouse}_ses-{s}")
        n = len(lat["times"])
        assert lat["shared"].shape == (n, cfg.behavior.motor.n_latents)
        assert lat["private"].shape == (n, cfg.latents.n_private)
        circ = load_circuit(out, f"sub-{mouse}_ses-{s}")
        shape = (cfg.m1.n_neurons, cfg.circuit.n_thalamic)
        assert circ["W"].shape == circ["W_naive"].shape == shape
        if s == 1:
            np.testing.assert_array_equal(circ["W"], circ["W_naive"])
        else:
            assert np.abs(circ["W"] - circ["W_naive"]).sum() > 0.1 * circ["W_naive"].sum()
    assert "readout" in load_circuit(out, "sub-inact01_ses-14")
    with pytest.raises(FileNotFoundError, match="no latents"):
        load_latents(out, "sub-nobody_ses-1")
    # every unit's loadings on the shared and private latents
    for d in range(cfg.behavior.motor.n_latents):
        assert rois[f"loading_shared{d}"].notna().all()
    for d in range(cfg.latents.n_private):
        assert rois[f"loading_private{d}"].notna().all()


def test_simulate_cohort_parallel_equals_serial(tmp_path, tiny):
    pytest.importorskip("thalamocortex.data.nwb")
    from thalamocortex.simulate.cohort import simulate_cohort

    cfg = tiny.model_copy(deep=True)
    cfg.inactivation.n_mice = 2
    a = simulate_cohort(cfg, tmp_path / "a", progress=False, experiments=["inactivation"])
    b = simulate_cohort(
        cfg, tmp_path / "b", progress=False, experiments=["inactivation"], n_workers=2
    )
    for name in ("trials", "movements", "sessions"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / "ground_truth" / f"{name}.parquet"),
            pd.read_parquet(b / "ground_truth" / f"{name}.parquet"),
        )
    assert sorted(p.name for p in b.rglob("*.nwb")) == [
        "sub-inact01_ses-14.nwb",
        "sub-inact02_ses-14.nwb",
    ]


def test_footprints_are_one_field_per_mouse_and_files_pass_nwbinspector(tmp_path, tiny):
    from nwbinspector import inspect_nwbfile

    from thalamocortex.data.nwb import read_session, write_session

    a, _ = simulate_session(tiny, "all_optical", 0, 1)
    b, _ = simulate_session(tiny, "all_optical", 0, 14)
    ax, truth = simulate_session(tiny, "axon_imaging", 0, 1)
    # the same cells sit in the same place every session (trackable); a few somata overlap
    assert a.imaging.image_shape == b.imaging.image_shape
    for fa, fb in zip(a.imaging.footprints, b.imaging.footprints):
        assert np.array_equal(fa, fb)
    h, w = a.imaging.image_shape
    occupancy = np.zeros((h, w))
    for fp in a.imaging.footprints:
        occupancy[fp[:, 0].astype(int), fp[:, 1].astype(int)] += fp[:, 2] > 0.5
    assert 1 < occupancy.max() <= 2 and (occupancy > 1).sum() < 0.05 * (occupancy > 0).sum()
    assert len(ax.imaging.footprints) == len(truth["rois"])
    for sess in (a, ax):
        path = write_session(sess, tmp_path / f"{sess.id}.nwb")
        levels = {m.importance.name for m in inspect_nwbfile(str(path))}
        assert not levels & {"CRITICAL", "BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR"}
        with read_session(path) as back:
            assert back.imaging.image_shape == sess.imaging.image_shape
            assert np.allclose(back.imaging.footprints[3], sess.imaging.footprints[3])


# ----------------------------------------------------------------------------- between mice
def _mice_cfg(n_mice: int = 40) -> SimulationConfig:
    return (
        preset("tiny")
        .model_copy(update={"experiments": ["axon_imaging", "all_optical", "inactivation"]})
        .with_overrides(
            {
                "axon_imaging": {"mice_per_region": n_mice},
                # circuit mice cost a plasticity simulation each (m1.refinement): fewer of them
                "m1": {"n_opsin_mice": max(n_mice // 8, 1), "n_no_opsin_mice": 0},
                "inactivation": {"n_mice": max(n_mice // 8, 1)},
            }
        )
    )


def _mice_table(cfg: SimulationConfig) -> pd.DataFrame:
    from thalamocortex.simulate.cohort import mouse_truth

    return pd.concat([mouse_truth(cfg, m) for m in cohort_design(cfg)], ignore_index=True)


def test_each_mouse_has_its_own_change_around_the_population_change():
    cfg = _mice_cfg()
    t = _mice_table(cfg)
    assert set(t["effect"]) >= {
        "behavior.learned_plan",
        "behavior.motor_variability",
        "input.movement_fraction",
        "input.lag",
        "m1.refinement",
        "inactivation.efficacy",
    }
    # multiplier = 1 + effect_mouse_sd * z; mice differ; realised change = multiplier x change
    np.testing.assert_allclose(t["multiplier"], 1.0 + cfg.effect_mouse_sd * t["z"])
    mth = t[
        (t.effect == "input.movement_fraction")
        & (t.region == "MTh")
        & (t.experiment == "axon_imaging")
    ]
    assert len(mth) == 40 and mth["change_mouse"].nunique() == 40
    np.testing.assert_allclose(mth["change_mouse"], mth["multiplier"] * 0.3, atol=1e-12)
    rel_sd = (mth["change_mouse"] / mth["change_population"]).std()
    assert 0.2 < rel_sd < 0.4, rel_sd  # effect_mouse_sd 0.3 over 40 mice
    # z differs between effects of one mouse and between mice (independent draws)
    wide = t.pivot_table(index="mouse", columns="effect", values="z")
    c = np.corrcoef(wide[["behavior.learned_plan", "behavior.reaction_time"]].dropna().T)
    assert abs(c[0, 1]) < 0.35
    # the session simulation uses the mouse's own value: expert session = p 1
    spec = cohort_design(cfg, ["axon_imaging"])[3]
    _, truth = simulate_session(cfg, "axon_imaging", spec.mouse_index, 14)
    row = t[(t.mouse == spec.mouse) & (t.effect == "input.movement_fraction")].iloc[0]
    assert truth["sessions"]["region_movement_fraction"].iloc[0] == pytest.approx(
        row["expert_mouse"]
    )
    # no spread: every mouse has the population change
    same = _mice_table(cfg.model_copy(update={"effect_mouse_sd": 0.0}))
    np.testing.assert_allclose(same["change_mouse"], same["change_population"])


def test_null_kinds_zero_and_varied():
    cfg = _mice_cfg()
    zero = _mice_table(cfg.null())
    assert (zero["change_population"] == 0).all() and (zero["change_mouse"] == 0).all()
    assert cfg.null().null_mouse_change_sd == 0.0
    varied_cfg = cfg.null(kind="varied")
    assert varied_cfg.null_mouse_change_sd == pytest.approx(0.5)
    assert not any(varied_cfg.effects.model_dump().values())
    v = _mice_table(varied_cfg)
    assert (v["change_population"] == 0).all()
    # each mouse changes around zero, SD = 0.5 x the default effect size
    mth = v[(v.effect == "input.movement_fraction") & (v.region == "MTh")]
    rel = mth["change_mouse"] / 0.3
    assert abs(rel.mean()) < 3 * 0.5 / np.sqrt(40), rel.mean()
    assert 0.35 < rel.std() < 0.65, rel.std()
    assert (rel > 0).sum() >= 10 and (rel < 0).sum() >= 10
    # the same mice (same z) as the effect cohort, only the centre and spread differ
    eff = _mice_table(cfg)
    np.testing.assert_array_equal(v["z"].to_numpy(), eff["z"].to_numpy())
    # inactivation: light changes the learned component in either direction per mouse
    inact = v[v.effect == "inactivation.efficacy"]["change_mouse"]
    assert (inact > 0).any() and (inact < 0).any()
    with pytest.raises(ValueError, match="unknown kind"):
        cfg.null(kind="random")
    assert cfg.null(kind="varied", mouse_change_sd=0.2).null_mouse_change_sd == 0.2


def test_varied_null_negative_change_runs_backwards():
    # a negative draw starts where the same positive draw ends and returns to naive, so a
    # bounded quantity (the plan stage, clipped at the naive plan) changes by -(the positive
    # change) instead of 0; "extrapolate" keeps the old one-signed behaviour
    from thalamocortex.simulate.behavior import behavior_state
    from thalamocortex.simulate.effects import MouseEffects

    cfg = _mice_cfg().null(kind="varied")
    e = "behavior.learned_plan"
    neg = MouseEffects({e: -0.4}, reversed=frozenset({e}))
    pos = MouseEffects({e: 0.4})
    assert neg.value(e, 0.0, 1.0, 0.0) == pytest.approx(pos.value(e, 0.0, 1.0, 1.0))
    assert neg.value(e, 0.0, 1.0, 1.0) == pytest.approx(pos.value(e, 0.0, 1.0, 0.0))
    assert neg.value(e, 0.0, 1.0, 0.25) == pytest.approx(0.3)
    fx = [MouseEffects.draw(cfg, 0, m) for m in range(40)]
    rev = [f for f in fx if f.reversed]
    assert rev and all(f.k[x] < 0 for f in rev for x in f.reversed)
    # only the behavioural effects run backwards; the inputs, the rule and the light extrapolate
    assert all(x.startswith("behavior.") for f in fx for x in f.reversed)
    changes = []
    for f in fx:
        full = MouseEffects({**MouseEffects.population(cfg).k, **f.k}, f.z, f.reversed)
        a, b = (behavior_state(cfg, p, full)["plan_stage"] for p in (0.0, 1.0))
        changes.append(b - a)
        assert b - a == pytest.approx(np.clip(f.k[e], -1, 1))
    assert min(changes) < -0.2 and max(changes) > 0.2
    ext = cfg.model_copy(update={"null_negative_change": "extrapolate"})
    assert not any(MouseEffects.draw(ext, 0, m).reversed for m in range(40))
    with pytest.raises(ValueError):
        cfg.with_overrides({"null_negative_change": "mirror"})


def test_varied_null_mice_differ_in_simulated_sessions():
    # expert minus naive movement fraction of MTh axons: 0 in every mouse in the zero null,
    # spread around 0 in the varied null
    base = _mice_cfg(8).with_overrides({"axon_imaging": {"n_axons": 200}})
    for kind, check in (("zero", lambda d: np.all(d == 0)), ("varied", lambda d: d.std() > 0.05)):
        cfg = base.null(kind=kind)
        diffs = []
        for spec in cohort_design(cfg, ["axon_imaging"])[:8]:
            frac = [
                simulate_session(cfg, "axon_imaging", spec.mouse_index, s)[1]["sessions"][
                    "region_movement_fraction"
                ].iloc[0]
                for s in (1, 14)
            ]
            diffs.append(frac[1] - frac[0])
        assert check(np.array(diffs)), (kind, diffs)


def test_varied_null_light_barely_changes_the_movement():
    """Issue 11 (session 5): in the varied null the light still changes the movement of a mouse
    whose plan moved towards its learned one and whose efficacy draw is positive (M1's loss is
    clipped at 0, so the effect cannot average out over mice); measured negligible: mean square
    change of the executed lever 0.0048 mm^2 (varied) vs 0.98 mm^2 (default effect) in 60 mice
    each, main fef7666; here 3 mice, session 14: 0.0011 vs 0.65 there, 0.00008 vs 0.92 with the
    balanced-inhibition circuit of e16ed98). The primary test's false-positive
    rate under this null: docs/statistics.md (0.045, 200 disjoint groups of 3)."""
    from thalamocortex.validate.run import calibration_design

    base = calibration_design().model_copy(update={"experiments": ["inactivation"]})

    def light_msd(cfg):
        dev = []
        for m in range(3):
            mv = simulate_session(cfg, "inactivation", m, 14)[1]["movements"]
            dev.append(mv.loc[mv["light"] & (mv["kind"] == "cued"), "lever_deviation"])
        return float(np.mean(np.concatenate(dev) ** 2))

    varied, effect = light_msd(base.null("varied")), light_msd(base)
    assert effect > 0.2, effect
    assert varied < 0.02 * effect, (varied, effect)


def test_cli_null_kind(tmp_path):
    from thalamocortex.cli import _simulation_config, build_parser

    args = build_parser().parse_args(
        ["simulate", "--preset", "tiny", "--out", str(tmp_path), "--null-kind", "varied"]
    )
    cfg = _simulation_config(args.preset, args.seed, args.null, args.config, args.null_kind)
    assert cfg.null_mouse_change_sd > 0 and not any(cfg.effects.model_dump().values())
    args = build_parser().parse_args(["demo", "--null"])
    cfg = _simulation_config(args.preset, args.seed, args.null, None, args.null_kind)
    assert cfg.null_mouse_change_sd == 0 and not any(cfg.effects.model_dump().values())
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--null-kind", "other"])


# ----------------------------------------------------------------------------- realism
def _m1_30hz(n_neurons: int = 100, n_trials: int = 30) -> SimulationConfig:
    """A demo-like all-optical session at 30 Hz (the reference movie's rate)."""
    return preset("demo").with_overrides(
        {
            "experiments": ["all_optical"],
            "measurement": {"frame_rate_hz": 30.0},
            "behavior": {"n_trials": n_trials},
            "m1": {"n_neurons": n_neurons, "n_pulses": 0},
        }
    )


def test_simulated_somata_look_like_the_reference_recording():
    """Issue 10 targets, measured with the realism instrument on trace-level F / Fneu at 30 Hz.

    Observed (demo preset at 30 Hz, 3 sessions, 450 somata): noise SD 0.27, skewness 1.9,
    fraction active 0.10, events/min 9.7, event peak 1.09, Fneu/F 0.85 (real movie: 0.35,
    1.47, 0.08, 7.2, 1.47, 0.85).
    """
    realism = pytest.importorskip("thalamocortex.realism")
    cfg = _m1_30hz()
    stats = []
    for mouse, session in ((0, 1), (1, 14)):
        sess, _ = simulate_session(cfg, "all_optical", mouse, session)
        stats.append(realism.trace_statistics(sess.imaging.f, sess.imaging.fneu, 30.0))
    med = realism.summarize(pd.concat(stats))["median"]
    targets = {
        "noise_sd": (0.15, 0.6),
        "skewness": (1.0, 2.5),
        "fraction_active": (0.04, 0.15),
        "events_per_min": (3.0, 15.0),
        "event_peak": (0.7, 2.5),
        "fneu_over_f": (0.6, 1.1),
    }
    for key, (lo, hi) in targets.items():
        assert lo <= med[key] <= hi, (key, med[key])


def test_movie_photons_match_the_reference_movie():
    """Photons per pixel and frame of a simulated movie (photon transfer on flat non-ROI
    pixels, the realism instrument's method) within 1.5 x of the reference movie's 4.8."""
    realism = pytest.importorskip("thalamocortex.realism")
    from thalamocortex.simulate.movies import MovieParams, session_movie

    cfg = _m1_30hz(n_neurons=60, n_trials=10)
    sess, truth = simulate_session(cfg, "all_optical", 0, 14, return_traces=True)
    m = session_movie(sess, truth, MovieParams(), frames=slice(0, 600), seed=2)
    st = realism.movie_statistics(m.movie, 30.0, exclude=m.footprint_masks(0.05).any(0))
    assert 4.8 / 1.5 <= st["photons_per_pixel_frame"] <= 4.8 * 1.5, st


def test_indicators_single_spike_nonlinearity_and_kinetics():
    from thalamocortex.simulate.activity import Indicator
    from thalamocortex.simulate.params import INDICATORS, indicator_preset

    fr = 1000.0
    peaks, halves = {}, {}
    for name in INDICATORS:
        ind = Indicator(indicator_preset(name))
        counts = np.zeros((4000, 4), np.float32)
        for j, k in enumerate((1, 2, 5, 100)):
            counts[100, j] = k
        dff = ind.dff(counts, fr)
        pk = dff.max(axis=0)
        # one action potential peaks at the published amplitude (1 ms sampling)
        assert pk[0] == pytest.approx(ind.params.amplitude_1ap_dff, rel=0.02)
        # cooperative binding: GCaMP6s (Hill 2.9) adds a few spikes supralinearly (jGCaMP8m,
        # Hill 1.9, is nearly linear, Zhang et al. 2023); many spikes saturate below max dF/F
        assert pk[1] > 1.8 * pk[0] and pk[2] > 4.0 * pk[0]
        if name == "GCaMP6s":
            assert pk[1] > 2.0 * pk[0] and pk[2] > 5.0 * pk[0]
        assert pk[3] < ind.max_dff and pk[3] < 0.8 * 20.0 * pk[2]
        peaks[name] = pk[0]
        after = dff[100:, 0]
        halves[name] = np.argmax(
            (after < 0.5 * after.max()) & (np.arange(len(after)) > after.argmax())
        )
    # decay: jGCaMP8m faster than jGCaMP7f faster than GCaMP6s
    assert halves["GCaMP8m"] < halves["GCaMP7f"] < halves["GCaMP6s"]
    with pytest.raises(ValueError, match="unknown indicator"):
        indicator_preset("GCaMP3")


def test_bursty_sparse_spiking():
    from thalamocortex.simulate.activity import draw_rates, spike_counts
    from thalamocortex.simulate.params import SpikingParams

    sp = SpikingParams(isolated_rate_hz=0.0, burst_rate_hz=0.2, rate_sd=0.0, silent_fraction=0.0)
    rng = np.random.default_rng(0)
    counts = spike_counts(rng, 0.0, np.full((60000, 20), 0.2), sp.burst_size_mean, sp, 30.0)
    # bursts spill over at most ~floor(33 ms / 10 ms) = 3 spikes per frame
    assert counts.max() <= int(np.floor((1 / 30) / sp.refractory_s))
    assert (counts > 0).sum() > 0
    rate = counts.sum() / (60000 / 30.0) / 20
    assert rate == pytest.approx(0.2 * sp.burst_size_mean, rel=0.1)  # bursts x spikes/burst
    # heterogeneous, correlated rates with a silent fraction
    r = draw_rates(np.random.default_rng(1), SpikingParams(), 2000)
    assert 0.1 < r["silent"].mean() < 0.2
    live = ~r["silent"]
    spread = np.percentile(r["isolated_hz"][live], 90) / np.percentile(r["isolated_hz"][live], 10)
    assert spread > 5
    assert spearmanr(r["isolated_hz"], r["burst_hz"])[0] > 0.4


def test_photon_budget_shared_by_traces_and_movies():
    from thalamocortex.simulate.movies import MovieParams, session_movie

    slow = _m1_30hz(n_neurons=40, n_trials=5)
    fast = slow.with_overrides({"measurement": {"frame_rate_hz": 15.0}})
    s30, t30 = simulate_session(slow, "all_optical", 0, 14, return_traces=True)
    s15, t15 = simulate_session(fast, "all_optical", 0, 14)
    # half the frame rate, twice the dwell, twice the photons of the same field
    ratio = t15["rois"]["F0"].to_numpy() / t30["rois"]["F0"].to_numpy()
    np.testing.assert_allclose(ratio, 2.0, rtol=0.05)
    assert np.median(s15.imaging.f) / np.median(s30.imaging.f) == pytest.approx(2.0, rel=0.1)
    # trace-level F is the ROI-weighted mean of the movie's pixels (no motion, no noise)
    p = MovieParams(motion_scale=0, nonrigid_px=0)
    m = session_movie(s30, t30, p, frames=slice(100, 400), noise=False)
    field = t30["scene"].field
    f_movie = (field.roi_weights @ m.movie.reshape(len(m.movie), -1).T).T
    f_trace = s30.imaging.f[100:400]
    rel = np.abs(f_movie - f_trace).mean() / f_trace.mean()
    assert rel < 0.1, rel  # shot noise of the traces only
    # no start-up ramp: the first seconds (before the first movement) are as bright as the
    # session's other quiet frames (no movement from 1 s before to 4 s after; the circuit's
    # M1 is strongly movement-modulated, so frames during the task are brighter)
    f, t = s30.imaging.fneu, s30.imaging.times
    quiet = np.ones(len(t), dtype=bool)
    for on, off in zip(t30["movements"]["onset"], t30["movements"]["offset"]):
        quiet &= (t < on - 1.0) | (t > off + 4.0)
    first = t < min(5.0, t30["movements"]["onset"].min() - 1.0)
    assert first.sum() > 60 and (quiet & ~first).sum() > 150
    # (a start-up ramp would be 30 % dimmer; the slow neuropil components leave ~3 %: observed
    # 3.3 % with the circuit's M1, 40 neurons, 5 trials)
    assert np.median(f[first]) == pytest.approx(np.median(f[quiet & ~first]), rel=0.06)


def test_boutons_dimmer_and_noisier_than_somata():
    realism = pytest.importorskip("thalamocortex.realism")
    cfg = _m1_30hz(n_neurons=80, n_trials=20).with_overrides(
        {"experiments": ["axon_imaging", "all_optical"], "axon_imaging": {"n_axons": 30}}
    )
    som, _ = simulate_session(cfg, "all_optical", 0, 14)
    bou, _ = simulate_session(cfg, "axon_imaging", 0, 14)
    s = realism.summarize(realism.trace_statistics(som.imaging.f, som.imaging.fneu, 30.0))
    b = realism.summarize(realism.trace_statistics(bou.imaging.f, bou.imaging.fneu, 30.0))
    assert b.loc["noise_sd", "median"] > s.loc["noise_sd", "median"]
    assert b.loc["f_median", "median"] < s.loc["f_median", "median"]


def test_field_of_view_structures():
    from thalamocortex.simulate.fov import draw_field

    f = draw_field(["soma"] * 80, params=preset("demo").field, seed=3)
    # ring-shaped label: the centre of a (not filled) soma is darker than its ring
    centre_dark = []
    for fp, filled in zip(f.footprints, f.filled):
        if filled:
            continue
        c = np.average(fp[:, :2], axis=0, weights=fp[:, 2])
        d = np.hypot(fp[:, 0] - c[0], fp[:, 1] - c[1])
        centre_dark.append(fp[d < 0.8, 2].mean() < fp[(d > 1.2) & (d < 2.2), 2].mean())
    assert np.mean(centre_dark) > 0.9
    # brightness spread over about a decade; out-of-focus cells; vessels and neurites
    b = f.roi_brightness[~f.filled]
    assert 5 < np.percentile(b, 98) / np.percentile(b, 2) < 30
    assert f.n_oof == 40
    vessels = [draw_field(["soma"] * 150, seed=k).vessel.min() < 0.5 for k in range(6)]
    assert 2 <= sum(vessels) <= 6  # ~1 vessel per 100 x 100 px (Poisson)
    assert f.neuropil_map.max() > 1.2 * np.percentile(f.neuropil_map, 50)
    # extraction masks: weights sum to 1; neuropil masks avoid every ROI pixel
    np.testing.assert_allclose(np.asarray(f.roi_weights.sum(axis=1)).ravel(), 1.0, rtol=1e-5)
    roi_px = np.asarray((f.footprint_matrix() > 0.05).sum(axis=0)).ravel() > 0
    assert not roi_px[f.neuropil_weights.indices].any()
    assert np.diff(f.neuropil_weights.indptr).min() >= 300


def test_motion_has_lever_locked_bursts():
    from thalamocortex.simulate.movies import MovieParams, rigid_shifts

    cfg = _m1_30hz(n_neurons=20, n_trials=20)
    sess, truth = simulate_session(cfg, "all_optical", 0, 14)
    times = sess.imaging.times
    lever = (sess.lever.times, sess.lever.values)
    sh = rigid_shifts(np.random.default_rng(0), times, MovieParams(), lever, truth["movements"])
    moving = np.zeros(len(times), bool)
    for on, off in zip(truth["movements"]["onset"], truth["movements"]["offset"]):
        moving |= (times >= on) & (times <= off)
    # displacement away from the slow drift (5 s running median) is larger during movements
    from scipy.ndimage import median_filter

    away = np.hypot(*(sh - median_filter(sh, size=(150, 1), mode="nearest")).T)
    assert away[moving].mean() > 2.0 * away[~moving].mean(), (away[moving].mean(), away.mean())
    assert np.abs(sh).max() <= MovieParams().motion_max_px
    still = rigid_shifts(
        np.random.default_rng(0), times, MovieParams(motion_scale=0.0), lever, truth["movements"]
    )
    assert np.abs(still).max() == 0.0


def test_motor_latent_and_what_movements_are_made_of():
    cfg = _m1_30hz(n_neurons=10, n_trials=15)
    sess, truth = simulate_session(cfg, "all_optical", 0, 1, return_traces=True)
    lat = truth["traces"]["latent"]
    assert lat.shape == (len(sess.imaging.times), cfg.behavior.motor.n_latents)
    # at rest the latent is 0; during movements latent dim 0 is the lever (below the knee)
    t = sess.imaging.times
    mv = truth["movements"]
    moving = np.zeros(len(t), bool)
    for on, off in zip(mv["onset"], mv["offset"]):
        moving |= (t >= on) & (t <= off)
    assert np.abs(lat[~moving]).max() == 0.0
    lever = np.interp(t, sess.lever.times, sess.lever.values)
    ok = moving & (lat[:, 0] < cfg.behavior.motor.saturation_knee_mm)
    assert np.corrcoef(lat[ok, 0], lever[ok])[0, 1] > 0.95
    sub = truth["submovements"]
    assert {"movement", "kind", "onset", "duration", "lever_step", "latent1_step"} <= set(sub)
    # every movement returns to rest: its lever and latent steps sum to 0
    sums = sub.groupby("movement")[["lever_step", "latent1_step", "latent2_step"]].sum()
    assert np.abs(sums.to_numpy()).max() < 1e-9
    # naive movements are made of more sub-movements than expert ones
    _, expert = simulate_session(cfg, "all_optical", 0, 14)
    cued = lambda m: m.loc[m["kind"] == "cued", "n_submovements"].mean()  # noqa: E731
    assert cued(mv) > cued(expert["movements"])


def test_same_seed_same_files(tmp_path, tiny):
    from thalamocortex.data.nwb import read_session
    from thalamocortex.simulate.cohort import simulate_cohort

    cfg = tiny.model_copy(update={"experiments": ["all_optical"]})
    cfg.m1.n_opsin_mice, cfg.m1.n_no_opsin_mice = 1, 0
    a = simulate_cohort(cfg, tmp_path / "a", progress=False)
    b = simulate_cohort(cfg, tmp_path / "b", progress=False)
    for name in ("rois", "trials", "movements", "submovements", "sessions", "mice"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / "ground_truth" / f"{name}.parquet"),
            pd.read_parquet(b / "ground_truth" / f"{name}.parquet"),
        )
    arrays = sorted((a / "ground_truth").rglob("*.npz"))
    assert {p.parent.name for p in arrays} == {"latents", "circuits"}
    for path in arrays:  # latents, W naive and expert
        with np.load(path) as x, np.load(b / path.relative_to(a)) as y:
            assert x.files == y.files
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k])
    for path in sorted(a.rglob("*.nwb")):
        with read_session(path) as x, read_session(b / path.relative_to(a)) as y:
            np.testing.assert_array_equal(x.imaging.f, y.imaging.f)
            np.testing.assert_array_equal(x.imaging.fneu, y.imaging.fneu)
            np.testing.assert_array_equal(x.lever.values, y.lever.values)


# ----------------------------------------------------------------------------- latents
def _lagged(x: np.ndarray, lags: list[int]) -> np.ndarray:
    return np.concatenate([np.roll(x, -k, axis=0) for k in lags], axis=1)


def _ridge_cv_r2(x: np.ndarray, z: np.ndarray, n_folds: int = 5) -> float:
    """Cross-validated R^2 (all latent dims pooled) of a ridge regression of ``z`` on ``x``:
    contiguous outer folds (frames are autocorrelated), ridge penalty chosen by contiguous
    inner folds of the training part."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    alphas = np.logspace(0, 5, 11)

    def fit_predict(xa, za, xb):  # predictions for every alpha, (n_alpha, len(xb), D)
        u, s, vt = np.linalg.svd(xa - xa.mean(0), full_matrices=False)
        uz = u.T @ (za - za.mean(0))
        return np.stack(
            [
                (xb - xa.mean(0)) @ vt.T @ ((s / (s**2 + a))[:, None] * uz) + za.mean(0)
                for a in alphas
            ]
        )

    def folds(n, k):
        edges = np.linspace(0, n, k + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            test = np.zeros(n, bool)
            test[a:b] = True
            yield ~test, test

    pred = np.zeros_like(z)
    for tr, te in folds(len(x), n_folds):
        xt, zt = x[tr], z[tr]
        err = np.zeros(len(alphas))
        for itr, ite in folds(len(xt), 4):
            err += ((fit_predict(xt[itr], zt[itr], xt[ite]) - zt[ite]) ** 2).sum(axis=(1, 2))
        pred[te] = fit_predict(xt, zt, x[te])[np.argmin(err)]
    return float(1 - ((z - pred) ** 2).sum() / ((z - z.mean(0)) ** 2).sum())


def _recovery(activity: np.ndarray, z: np.ndarray, frame_rate: float) -> float:
    """Pooled cross-validated R^2 of the latent ``z`` from ``activity`` (frames x units) at
    lags -0.4..0.8 s (every second frame): the within-mouse recovery regression."""
    lags = list(range(-int(0.4 * frame_rate), int(0.8 * frame_rate) + 1, 2))
    x = np.asarray(activity, dtype=np.float64)
    return _ridge_cv_r2(_lagged(x[:, x.std(axis=0) > 0], lags), z)


def test_shared_latent_recoverable_from_one_mouse_population(tiny):
    """Issue 12 asks that the shared latents be recoverable from any single mouse's population
    by regression with R^2 >= 0.8 at default noise: NOT MET (figures below; docs/circuit.md).
    Recovery regression: ridge of the executed motor latent (3 dims pooled) on the population
    at lags -0.4..0.8 s, cross-validated over contiguous blocks of the task period. The R^2
    budget, stage by stage (tiny preset: 20 trials, 10 Hz, mouse 0; seed 0 [seeds 0-4]):

    =========================  =========================  ======  ==========  ================
    expert population          noise-free input           spikes  true dF/F   measured dF/F
    =========================  =========================  ======  ==========  ================
    MTh boutons (38, 20 axons) axon drive 0.83 [0.26-0.83] 0.47    0.39        0.41 [0.03-0.47]
    M1 (60 neurons)            output 0.76                 0.37    --          0.32
    M1, output-Hebbian rule    output 0.69 [0.50-0.80]     0.40    0.32        0.32 [0.27-0.57]
    =========================  =========================  ======  ==========  ================

    Naive M1 measured -0.01 [-0.04-0.05]. The axons' drive averaged over the movements'
    response draws carries the latent (0.99, seed 0): what is lost before the spikes is each
    movement's all-or-none response draw of the few movement-related axons (6-18 of 20 across
    seeds, encoding 0.41-0.64, reliability 0.56-1.0); the rest is the sparse spiking of issue
    10's realism-calibrated regime. R^2 grows with the population and the trials (100 axons:
    drive 0.92, spikes 0.61, true dF/F 0.52; demo preset, 50 trials, 15 Hz, seed 0 mouse 0:
    boutons 0.58; M1 0.41 with the output-Hebbian rule). The analysis is not the limit:
    OASIS-denoised dF/F, 0.2-0.3 s boxcar bins, every lag or lags -0.8..1.2 s move the
    measured R^2 by <= 0.03.
    Expert M1's loadings: with the output-Hebbian rule nearly collinear (every movement neuron
    potentiated the same thalamic axons: mean |cos| 0.985, latent dim 2 not carried even by the
    circuit output); with the cortically gated rule 0.89 (output 0.76), but spiking keeps the
    measured level at 0.32. Asserted at seed 0's measured levels with margin."""
    r2 = {}
    for exp, s in (("all_optical", 14), ("axon_imaging", 14), ("all_optical", 1)):
        sess, truth = simulate_session(tiny, exp, 0, s, return_traces=True)
        im = sess.imaging
        fr = im.frame_rate
        task = im.times < truth["trials"]["movement_onset"].max() + 5.0  # not the pulses
        f = (im.f - 0.7 * im.fneu)[task]
        f0 = np.percentile(f, 10, axis=0)
        dff = (f - f0) / np.abs(f0)
        z = truth["latents"]["shared"][task].astype(np.float64)
        tr = truth["traces"]
        clean = tr["axon_drive"] if exp == "axon_imaging" else tr["circuit_output"]
        r2[exp, s] = _recovery(dff, z, fr)
        r2[exp, s, "noise-free"] = _recovery(clean[task], z, fr)
    print(r2)
    assert r2["axon_imaging", 14, "noise-free"] >= 0.75, r2
    assert r2["all_optical", 14, "noise-free"] >= 0.65, r2  # 0.69 with the old rule
    assert r2["all_optical", 14] > 0.25 and r2["axon_imaging", 14] > 0.3, r2
    assert r2["all_optical", 1] < 0.1 and r2["all_optical", 1] < r2["all_optical", 14] - 0.2, r2


def test_saved_loadings_are_what_the_units_carry(tiny):
    """``rois.loading_shared<d>`` of a bouton is the least-squares loading of its axon's
    noise-free drive on the latent: the realised drive's own least-squares loadings point the
    same way (cosine, movement-related axons). Before issue 12's recoverability item the saved
    loading was the generative ``A e r l / 2`` alone, which missed the latent-following part of
    the condition-invariant response (cosine median 0.52 with the expected drive's loadings)."""
    sess, truth = simulate_session(tiny, "axon_imaging", 0, 14, return_traces=True)
    lat = truth["latents"]
    z = lat["shared"].astype(np.float64) / tiny.behavior.motor.press_peak_mm
    moving = np.abs(z).sum(axis=1) > 0
    rois = truth["rois"]
    cols = [f"loading_shared{d}" for d in range(z.shape[1])]
    per_axon = rois.groupby("axon_id")[cols + ["movement_related"]].first()
    drive = truth["traces"]["axon_drive"][:, per_axon.index.to_numpy()].astype(np.float64)
    design = np.column_stack([z[moving], np.ones(int(moving.sum()))])
    fitted = np.linalg.lstsq(design, drive[moving], rcond=None)[0][:-1].T
    saved = per_axon[cols].to_numpy()
    mov = per_axon["movement_related"].to_numpy(bool)
    a, b = fitted[mov], saved[mov]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(np.round(cos, 2))  # observed (seed 0): median 0.99, min 0.92
    assert mov.sum() >= 5 and np.median(cos) >= 0.9, cos
    # units that do not follow movements carry (almost) nothing of the latent
    assert np.abs(saved[~mov]).max() < 0.5 * np.abs(saved[mov]).max()


def test_latents_shared_across_mice_and_private_latents_unrelated_to_the_lever():
    """Mice's mean expert latent trajectories (dims 1.., 0-1.5 s after onset) correlate as
    much as ``shared_fraction`` says. Observed (6 mice, tiny): median between-mouse r 0.80 at
    the default 0.85, 0.91 at 1, ~0 at 0. Private latents vs the lever (issue 12: uncorrelated):
    |r| mean 0.057, max 0.205 over 3 mice x sessions 1 and 14 x 2 latents (vs the shared latent
    dims: mean 0.066, max 0.198), chance correlations of independent slow processes (OU,
    2 s) over ~150 s sessions."""

    def trajectories(cfg):
        out, private_r = [], []
        for spec in cohort_design(cfg, ["axon_imaging"]):
            sess, truth = simulate_session(cfg, "axon_imaging", spec.mouse_index, 14)
            lat = truth["latents"]
            times, z = lat["times"], lat["shared"]
            n = int(1.5 / np.median(np.diff(times)))
            tr = truth["trials"][truth["trials"]["engaged"]]
            idx = np.searchsorted(times, tr["movement_onset"])
            out.append(np.mean([z[i : i + n, 1:] for i in idx if i + n <= len(z)], 0).ravel())
            lever = np.interp(times, sess.lever.times, sess.lever.values)
            private_r += [np.corrcoef(p, lever)[0, 1] for p in lat["private"].T]
        c = np.corrcoef(out)
        return np.median(c[np.triu_indices(len(out), 1)]), np.abs(private_r)

    base = preset("tiny").with_overrides({"axon_imaging": {"mice_per_region": 3}})
    shared, private_r = trajectories(base)
    own, _ = trajectories(base.with_overrides({"behavior": {"motor": {"shared_fraction": 0.0}}}))
    assert shared > 0.6 and own < 0.3 and shared > own + 0.4, (shared, own)
    assert private_r.mean() < 0.1 and private_r.max() < 0.25, private_r
