"""Inactivation of thalamic inputs: light-on vs light-off behaviour, schedule checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.behavior.learning import template_similarity as similarity_with_self
from thalamocortex.data.model import Lever
from thalamocortex.opto.inactivation import (
    LEARNED_SIMILARITY,
    add_learned_similarity,
    learned_similarity_randomisation,
    lever_trajectories,
    light_effects,
    light_schedule_check,
    light_schedule_table,
    loo_similarity,
    randomisation_test,
    stereotypy_effects,
    template_similarity,
)
from thalamocortex.opto.params import InactivationParams
from thalamocortex.stats.synthetic import InactivationDesign, inactivation_trials

FAST = InactivationParams(n_permutations=300)


def trials_table(seed=0, effect=0.15, n_mice=3, n_sessions=2, n_trials=60, p_light=0.3):
    """Per-trial measures; light-on trials lose ``effect`` template similarity and success
    and gain 50 x effect % reaction time."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_mice):
        base = rng.normal(0.7, 0.05)
        for s in range(n_sessions):
            light = rng.random(n_trials) < p_light
            sim = base + rng.normal(0, 0.15, n_trials) - effect * light
            success = (rng.random(n_trials) < 0.85 - effect * light).astype(float)
            rt = rng.gamma(4, 0.08, n_trials) * (1 + 0.5 * effect / 0.15 * light * (effect > 0))
            for i in range(n_trials):
                rows.append(
                    {
                        "mouse": f"I{m}",
                        "session": 13 + s,
                        "trial": i,
                        "light": bool(light[i]),
                        "similarity_to_template": sim[i],
                        "rewarded": success[i],
                        "reaction_time": rt[i],
                    }
                )
    return pd.DataFrame(rows)


def test_effect_detected_when_simulated():
    res = light_effects(trials_table(seed=1, effect=0.15), FAST)
    t = res["tests"].set_index("measure")
    assert t.loc["reaction_time", "estimate"] > 0 and t.loc["reaction_time", "p"] < 0.05
    assert t.loc["rewarded", "estimate"] == pytest.approx(-0.15, abs=0.08)
    assert t.loc["reaction_time", "p_randomisation"] < 0.01
    assert (t["role"] == "secondary").all()  # no learned-similarity column: no primary row
    assert t["correction"].iloc[0] == "Holm over 2 tests"
    assert (t["p_adjusted"] >= t["p"]).all()
    assert set(res["missing_measures"]) == {
        LEARNED_SIMILARITY,
        "peak_amplitude",
        "movement_duration",
    }
    assert len(res["per_mouse"]) == 3 * 2 and len(res["sessions"]) == 3 * 2 * 2


def _learned(
    seed: int, kind: str, params: InactivationParams | None = None, **design
) -> tuple[pd.DataFrame, dict]:
    trials, traj = inactivation_trials(
        np.random.default_rng(seed), kind, InactivationDesign(**design)
    )
    return add_learned_similarity(trials, traj, params), traj


def _concordance(a, b):
    """Lin's concordance correlation of a (referenced to its onset value) with template b."""
    a = a - a[0]
    return (
        2
        * np.mean((a - a.mean()) * (b - b.mean()))
        / (a.var() + b.var() + (a.mean() - b.mean()) ** 2)
    )


@pytest.mark.parametrize("measure", ["pearson", "concordance"])
def test_leave_one_out_similarity_matches_direct_computation(measure):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((12, 40)).cumsum(axis=1)
    light = np.zeros(12, bool)
    light[[1, 5, 8]] = True
    rewarded = np.ones(12, bool)
    rewarded[3] = False
    sim = loo_similarity(x, light, rewarded, measure)
    members = np.flatnonzero(~light & rewarded)
    x0 = x - x[:, :1]  # the concordance template is built from onset-referenced trajectories

    def corr(a, b):
        return np.corrcoef(a, b)[0, 1] if measure == "pearson" else _concordance(a, b)

    templates = x if measure == "pearson" else x0

    for i in range(12):
        if i in members:
            expected = corr(x[i], templates[members[members != i]].mean(axis=0))
        else:
            expected = np.mean(
                [corr(x[i], templates[members[members != k]].mean(axis=0)) for k in members]
            )
        assert sim[i] == pytest.approx(expected, abs=1e-10)


def test_concordance_sees_a_smaller_copy_of_the_learned_movement():
    """A light-on press with the learned shape at 60 % of its size: Pearson calls it the learned
    movement, the concordance correlation does not."""
    rng = np.random.default_rng(3)
    t = np.linspace(0, 3, 300)
    press = 2.5 * np.exp(-0.5 * ((t - 0.6) / 0.25) ** 2)
    x = press + 0.05 * rng.standard_normal((30, 300))
    light = np.zeros(30, bool)
    light[::3] = True
    x[light] *= 0.6
    rewarded = np.ones(30, bool)
    sims = {m: loo_similarity(x, light, rewarded, m) for m in ("pearson", "concordance")}
    assert abs(sims["pearson"][light].mean() - sims["pearson"][~light].mean()) < 0.01
    drop = sims["concordance"][~light].mean() - sims["concordance"][light].mean()
    assert drop > 0.1  # 1 - 2 * 0.6 / (1 + 0.36) = 0.12 for a noiseless copy


def test_leave_one_out_removes_the_double_dipping_bias():
    """With no light effect, light-on minus light-off similarity is centred on 0 with the
    leave-one-out template and negative (each light-off trial inside its own template) without
    (Pearson: the measure of the template-with-self comparison)."""
    loo, with_self = [], []
    pearson = InactivationParams(similarity="pearson")
    for seed in range(30):
        trials, traj = _learned(seed, "zero", pearson, n_mice=1, sessions=(14,), n_trials=40)
        x = traj[("inact01", 14)][1]
        light = trials["light"].to_numpy(bool)
        rew = trials["movement_kind"].eq("rewarded").to_numpy()
        sim = trials[LEARNED_SIMILARITY].to_numpy()
        loo.append(sim[light].mean() - sim[~light].mean())
        biased = similarity_with_self(x, x[~light & rew].mean(axis=0))
        with_self.append(biased[light].mean() - biased[~light].mean())
    loo, with_self = np.array(loo), np.array(with_self)
    se = loo.std(ddof=1) / np.sqrt(len(loo))
    assert abs(loo.mean()) < 2.5 * se
    # the same cohorts with the trial inside its template: shifted down in every cohort
    bias = with_self - loo
    assert (bias < 0).all() and bias.mean() < -5 * bias.std(ddof=1) / np.sqrt(len(bias))


def test_learned_movement_is_the_primary_test_and_detects_inactivation():
    trials, traj = _learned(3, "effect", n_mice=4, mouse_sd=0.05)
    rand = {LEARNED_SIMILARITY: learned_similarity_randomisation(trials, traj, FAST)}
    res = light_effects(trials, FAST, randomisation=rand)
    t = res["tests"].set_index("measure")
    prim = t.loc[LEARNED_SIMILARITY]
    assert prim["role"] == "primary" and prim["claim"] == "inactivation:learned_movement"
    assert prim["estimate"] < -0.03 and prim["p"] < 0.05 and prim["reject"]
    assert prim["n_mice"] == 4 and prim["df"] == 3
    assert prim["p_randomisation"] < 0.01
    assert "significant" not in res["tests"].columns


def test_randomisation_of_learned_similarity_is_calibrated():
    ps = []
    for seed in range(20):
        trials, traj = _learned(100 + seed, "zero", n_mice=1, sessions=(14,), n_trials=40)
        ps.append(
            learned_similarity_randomisation(trials, traj, InactivationParams(n_permutations=200))[
                "p"
            ]
        )
    ps = np.array(ps)
    assert 0.3 < ps.mean() < 0.7 and (ps <= 0.05).mean() <= 0.15


def test_false_positive_rate_at_most_nominal_without_effect():
    rejections = []
    for seed in range(40):
        tr = trials_table(seed=200 + seed, effect=0.0, n_mice=2, n_sessions=1, n_trials=40)
        rejections.append(randomisation_test(tr, "rewarded", FAST)["p"] <= 0.05)
    assert np.mean(rejections) <= 0.1  # nominal 0.05 with 40 seeds


def test_sessions_with_too_few_light_trials_are_skipped():
    tr = trials_table(seed=2, n_mice=1, n_sessions=1, n_trials=20, p_light=0.1)
    n_light = int(tr["light"].sum())
    res = randomisation_test(
        tr,
        "rewarded",
        InactivationParams(n_permutations=100, min_trials_per_condition=n_light + 1),
    )
    assert res["n_sessions"] == 0 and np.isnan(res["p"])


def test_light_schedule_random_interleaved_vs_blocked():
    rng = np.random.default_rng(3)
    ok = light_schedule_check(rng.random(80) < 0.3, FAST)
    assert ok["random_interleaved"] and 0.15 < ok["light_fraction"] < 0.45
    blocked = np.r_[np.zeros(50), np.ones(20), np.zeros(10)].astype(bool)
    bad = light_schedule_check(blocked, FAST)
    assert not bad["random_interleaved"]
    assert bad["n_runs"] == 3 and bad["longest_light_run"] == 20 and bad["p_runs"] < 0.01
    alternating = np.arange(60) % 2 == 0
    assert light_schedule_check(alternating, FAST)["p_runs"] < 0.01
    table = light_schedule_table(trials_table(seed=4, effect=0.0), FAST)
    assert len(table) == 6 and table["random_interleaved"].mean() >= 0.8


def test_template_similarity_and_trajectories():
    rate = 500.0
    t = np.arange(0, 20, 1 / rate)
    bump = np.exp(-0.5 * ((t % 5 - 1.0) / 0.3) ** 2)
    lever = Lever(data=bump, rate=rate, units="mm", t0=0.0)
    traj = lever_trajectories(lever, np.array([0.0, 5.0, 10.0, 18.5, np.nan]), 3.0, 0.01)
    assert traj.shape == (5, 300)
    np.testing.assert_allclose(traj[0], traj[1], atol=1e-9)
    assert np.isnan(traj[3]).all() and np.isnan(traj[4]).all()  # leaves the recording / NaN
    sim = template_similarity(traj[:3], traj[0])
    np.testing.assert_allclose(sim, 1.0)
    assert template_similarity(-traj[:1], traj[0])[0] == pytest.approx(-1.0)


def test_stereotypy_lower_on_light_trials():
    rng = np.random.default_rng(5)
    template = np.sin(np.linspace(0, np.pi, 300))
    light = rng.random(60) < 0.35
    noise = np.where(light[:, None], 1.0, 0.3)
    traj = template[None, :] + noise * rng.standard_normal((60, 300)).cumsum(axis=1) / 10
    res = stereotypy_effects({("I0", 14): (traj, light)}, FAST).set_index("mouse")
    assert res.loc["I0", "stereotypy_on"] < res.loc["I0", "stereotypy_off"]
    assert res.loc["all", "p"] < 0.01
