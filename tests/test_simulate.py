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
from thalamocortex.simulate.params import SimulationConfig, preset


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
    bp = half.behavior
    expect = bp.template_weight_naive + 0.5 * (bp.template_weight_expert - bp.template_weight_naive)
    assert beh.summary["template_weight_mean_param"] == pytest.approx(expect)


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
    # observed (seed 0, 6 mice x 80 trials): naive ~0.46, expert ~0.71; null diff ~0.01
    cfg = SimulationConfig(behavior={"n_trials": 80, "lever_rate_hz": 500.0})
    naive, expert = _session_stereotypy(cfg, 0.0, 6), _session_stereotypy(cfg, 1.0, 6)
    assert expert - naive > 0.15, (naive, expert)
    n1 = _session_stereotypy(cfg.null(), 1.0, 6)  # null "expert" session vs the same naive
    assert abs(n1 - naive) < 0.05, (naive, n1)


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
    rng = np.random.default_rng(3)
    tpl = mouse_template(rng, cfg.behavior)
    t = np.linspace(0, tpl.duration, 1000)
    x = tpl(t)
    assert tpl(np.array([0.0]))[0] == pytest.approx(0.0, abs=1e-12)
    assert x.max() > cfg.behavior.threshold_mm
    assert cfg.behavior.duration_min_s <= tpl.duration <= cfg.behavior.duration_max_s + 1e-9


def test_inactivation_lowers_template_weight_only_with_effect():
    cfg = SimulationConfig(
        experiments=["inactivation"],
        behavior={"n_trials": 100, "lever_rate_hz": 500.0},
        inactivation={"n_mice": 1, "sessions": [14], "light_fraction": 0.3},
        effect_mouse_sd=0.0,  # the population effect (one mouse; between-mouse spread tested below)
    )
    for c, lo, hi in ((cfg, 0.3, 1.0), (cfg.null(), -0.1, 0.1)):
        sess, truth = simulate_session(c, "inactivation", 0, 14)
        tr = truth["trials"][truth["trials"]["engaged"]]
        diff = (
            tr.loc[~tr.light, "template_weight"].mean() - tr.loc[tr.light, "template_weight"].mean()
        )
        assert lo < diff < hi, diff
        assert sess.trials["light"].sum() == 30
        assert len(sess.stimulation.pulses) == 30
        assert sess.stimulation.pulses["target"].str.contains("inactivation").all()
    # effect on: light-on trials succeed less often
    _, truth = simulate_session(cfg, "inactivation", 0, 14)
    tr = truth["trials"]
    hit = tr["outcome"].eq("hit")
    assert hit[~tr.light].mean() - hit[tr.light].mean() > 0.1


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
def test_weights_align_with_encoding_in_experts_only():
    cfg = SimulationConfig(
        experiments=["all_optical"],
        behavior={"n_trials": 5, "lever_rate_hz": 500.0},
        measurement={"frame_rate_hz": 10.0},
        m1={"n_opsin_mice": 1, "n_no_opsin_mice": 0, "n_neurons": 400, "n_pulses": 2},
    )
    _, naive = simulate_session(cfg, "all_optical", 0, 1)
    _, expert = simulate_session(cfg, "all_optical", 0, 14)
    rn, re = naive["rois"], expert["rois"]
    assert abs(spearmanr(rn.thalamic_weight, rn.encoding)[0]) < 0.2
    assert spearmanr(re.thalamic_weight, re.encoding)[0] > 0.5
    # experts: unrelated neurons net-suppressed
    unrelated = re.loc[~re.movement_related, "expected_response"]
    assert (unrelated == "suppressed").mean() > 0.7
    _, null = simulate_session(cfg.null(), "all_optical", 0, 14)
    rz = null["rois"]
    assert abs(spearmanr(rz.thalamic_weight, rz.encoding)[0]) < 0.2


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


def test_photostimulation_responses_and_artefact(tiny):
    sess, truth = simulate_session(tiny, "all_optical", 0, 14)
    assert np.mean(_pulse_response(sess, truth, "activated")) > 0.5
    assert np.mean(_pulse_response(sess, truth, "suppressed")) < -0.1
    im = sess.imaging
    t = im.times
    art = np.zeros(len(t), dtype=bool)
    for start, dur in zip(sess.stimulation.pulses.start_time, sess.stimulation.pulses.duration):
        art |= (t < start + dur) & (t + 1 / im.frame_rate > start)
    assert art.sum() == truth["sessions"]["n_artefact_frames"].iloc[0]
    assert np.median(im.f[art]) > np.median(im.f[~art]) + 1000
    assert np.median(im.fneu[art]) > np.median(im.fneu[~art]) + 1000
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
    # the same cells sit in the same place every session (trackable), somata never overlap
    assert a.imaging.image_shape == b.imaging.image_shape
    for fa, fb in zip(a.imaging.footprints, b.imaging.footprints):
        assert np.array_equal(fa, fb)
    h, w = a.imaging.image_shape
    occupancy = np.zeros((h, w))
    for fp in a.imaging.footprints:
        occupancy[fp[:, 0].astype(int), fp[:, 1].astype(int)] += fp[:, 2] > 0.5
    assert occupancy.max() == 1
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
                "m1": {"n_opsin_mice": n_mice // 4, "n_no_opsin_mice": 0},
                "inactivation": {"n_mice": n_mice},
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
        "behavior.template_weight",
        "input.movement_fraction",
        "input.lag",
        "m1.encoding",
        "m1.refinement",
        "inactivation.efficacy",
    }
    # multiplier = 1 + effect_mouse_sd * z; mice differ; realised change = multiplier x change
    np.testing.assert_allclose(t["multiplier"], 1.0 + cfg.effect_mouse_sd * t["z"])
    mth = t[(t.effect == "input.movement_fraction") & (t.region == "MTh")]
    assert len(mth) == 40 and mth["change_mouse"].nunique() == 40
    np.testing.assert_allclose(mth["change_mouse"], mth["multiplier"] * 0.3, atol=1e-12)
    rel_sd = (mth["change_mouse"] / mth["change_population"]).std()
    assert 0.2 < rel_sd < 0.4, rel_sd  # effect_mouse_sd 0.3 over 40 mice
    # z differs between effects of one mouse and between mice (independent draws)
    wide = t.pivot_table(index="mouse", columns="effect", values="z")
    c = np.corrcoef(wide[["behavior.template_weight", "behavior.reaction_time"]].dropna().T)
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
