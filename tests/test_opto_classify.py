"""Neuron classification: vectorised signed-rank test, FDR, criteria, nulls, artefacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from thalamocortex.opto.classify import (
    classify_responses,
    classify_session,
    pseudo_pulse_null,
    response_fractions,
    signed_rank_test,
)
from thalamocortex.opto.params import OptoParams
from thalamocortex.opto.responses import artefact_mask


def synthetic_all_optical(
    seed: int = 0,
    n_neurons: int = 120,
    n_pulses: int = 30,
    frame_rate: float = 15.0,
    pulse_s: float = 1.0,
    isi_s: float = 12.0,
    fraction_activated: float = 0.25,
    fraction_suppressed: float = 0.15,
    amplitude: float = 0.3,
    noise_sd: float = 0.1,
    artefact: float = 2.0,
    opsin: bool = True,
):
    """dF/F of M1 neurons with photostimulation responses, light artefact and AR(1) noise.

    Responses follow light onset with a GCaMP-like decay (tau 1.5 s) from the end of the light;
    activated neurons rise by ``amplitude`` x U(0.7, 1.3), suppressed ones fall by half that.
    Returns dff (frames x neurons), frame_times, pulses, truth classes.
    """
    rng = np.random.default_rng(seed)
    starts = 8.0 + np.arange(n_pulses) * isi_s + rng.uniform(0, 2, n_pulses)
    n_frames = int((starts[-1] + 20.0) * frame_rate)
    times = np.arange(n_frames) / frame_rate
    truth = np.full(n_neurons, "not_responsive", dtype=object)
    k_a = int(round(fraction_activated * n_neurons))
    k_s = int(round(fraction_suppressed * n_neurons))
    order = rng.permutation(n_neurons)
    truth[order[:k_a]] = "activated"
    truth[order[k_a : k_a + k_s]] = "suppressed"
    gain = np.zeros(n_neurons)
    gain[truth == "activated"] = amplitude * rng.uniform(0.7, 1.3, k_a)
    gain[truth == "suppressed"] = -0.5 * amplitude * rng.uniform(0.7, 1.3, k_s)
    if not opsin:
        gain[:] = 0.0
    # AR(1) noise (slow calcium fluctuations)
    eps = rng.normal(0, noise_sd * np.sqrt(1 - 0.8**2), (n_frames, n_neurons))
    noise = np.empty_like(eps)
    noise[0] = eps[0]
    for t in range(1, n_frames):
        noise[t] = 0.8 * noise[t - 1] + eps[t]
    kernel = np.zeros(n_frames)
    for s in starts:
        dt = times - s
        on = (dt >= 0) & (dt < pulse_s)
        after = dt >= pulse_s
        kernel[on] += dt[on] / pulse_s
        kernel[after] += np.exp(-(dt[after] - pulse_s) / 1.5)
    jitter = 1 + 0.3 * rng.standard_normal(n_neurons)
    dff = noise + kernel[:, None] * gain[None, :] * jitter[None, :]
    pulses = pd.DataFrame(
        {"start_time": starts, "duration": pulse_s, "power": 5.0, "target": "MTh axons"}
    )
    # light bleed-through on every frame acquired while the light is on (+ straddling frame)
    dff[artefact_mask(times, pulses, frame_rate)] += artefact
    return dff.astype(np.float32), times, pulses, truth


def _f1(pred, truth, cls):
    tp = np.sum((pred == cls) & (truth == cls))
    fp = np.sum((pred == cls) & (truth != cls))
    fn = np.sum((pred != cls) & (truth == cls))
    return 2 * tp / max(1, 2 * tp + fp + fn)


# --- the vectorised signed-rank test ---------------------------------------------------------


def test_signed_rank_matches_scipy_exact_with_missing_pulses():
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1, (30, 60))
    d[:7, :20] = np.nan
    w, n, p = signed_rank_test(d)
    for j in range(60):
        x = d[np.isfinite(d[:, j]), j]
        ref = stats.wilcoxon(x, method="exact")
        assert p[j] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
        assert w[j] == pytest.approx(np.sum(stats.rankdata(np.abs(x))[x > 0]))
    assert n[:20].tolist() == [23] * 20 and n[20:].tolist() == [30] * 40


def test_signed_rank_matches_scipy_normal_approximation_with_ties_and_zeros():
    rng = np.random.default_rng(1)
    d = np.round(rng.normal(0.2, 1, (80, 40)), 1)  # many ties and some zeros
    assert (d == 0).any()
    _, n, p = signed_rank_test(d)
    for j in range(40):
        ref = stats.wilcoxon(d[:, j], method="approx", correction=True, zero_method="wilcox")
        assert p[j] == pytest.approx(ref.pvalue, rel=1e-9)
    assert np.all(n == (d != 0).sum(axis=0))


def test_signed_rank_is_calibrated_under_the_null():
    rng = np.random.default_rng(2)
    _, _, p = signed_rank_test(rng.standard_normal((20, 4000)))
    assert np.mean(p <= 0.05) == pytest.approx(0.05, abs=0.012)


# --- classification --------------------------------------------------------------------------


def test_classification_recovers_truth_f1_at_least_0_9():
    dff, times, pulses, truth = synthetic_all_optical(seed=0)
    table, resp = classify_session(dff, times, pulses, OptoParams())
    pred = table["response_class"].to_numpy()
    f1_a = _f1(pred, truth, "activated")
    f1_s = _f1(pred, truth, "suppressed")
    assert f1_a >= 0.9 and f1_s >= 0.9, (f1_a, f1_s)
    assert (table["n_valid_pulses"] == 30).all()
    assert table["criterion"].iloc[0].startswith("Wilcoxon signed-rank")
    # drive of activated neurons is positive, of suppressed negative
    assert table.loc[truth == "activated", "drive"].min() > 0
    assert table.loc[truth == "suppressed", "drive"].max() < 0


def test_huge_artefact_still_gives_correct_classes():
    small = synthetic_all_optical(seed=4, artefact=2.0)
    huge = synthetic_all_optical(seed=4, artefact=1e6)
    t_small, _ = classify_session(*small[:3], OptoParams())
    t_huge, _ = classify_session(*huge[:3], OptoParams())
    assert (t_small["response_class"] == t_huge["response_class"]).all()
    np.testing.assert_allclose(t_small["drive"], t_huge["drive"], rtol=1e-4, atol=1e-5)
    assert _f1(t_huge["response_class"].to_numpy(), huge[3], "activated") >= 0.9


def test_no_opsin_control_fraction_responsive_at_most_alpha():
    fractions = []
    for seed in range(3):
        dff, times, pulses, _ = synthetic_all_optical(seed=10 + seed, opsin=False, artefact=50.0)
        table, _ = classify_session(dff, times, pulses, OptoParams(fdr_alpha=0.05))
        fractions.append(response_fractions(table)["responsive"])
    assert np.mean(fractions) <= 0.05, fractions


def test_pseudo_pulse_null_fraction_responsive_at_most_alpha():
    dff, times, pulses, truth = synthetic_all_optical(seed=5, n_pulses=25, isi_s=16.0)
    null = pseudo_pulse_null(dff, times, pulses, OptoParams(pseudo_exclusion_s=4.0))
    assert (null["null"] == "pseudo_pulses").all()
    assert response_fractions(null)["responsive"] <= 0.05


def test_min_valid_pulses_and_min_effect_criteria():
    rng = np.random.default_rng(7)
    amp = rng.normal(0.02, 0.01, (12, 3))  # tiny but consistent response
    amp_z = amp / 0.1  # mean 0.2 baseline SD, below min_effect_z 0.25
    t = classify_responses(amp, amp_z, OptoParams(min_effect_z=0.25, min_valid_pulses=10))
    assert (t["p_value"] < 0.01).all()
    assert (t["response_class"] == "not_responsive").all()
    t2 = classify_responses(amp, amp_z, OptoParams(min_effect_z=0.1, min_valid_pulses=10))
    assert (t2["response_class"] == "activated").all()
    t3 = classify_responses(amp, amp_z, OptoParams(min_effect_z=0.1, min_valid_pulses=13))
    assert (t3["response_class"] == "untested").all() and t3["p_value"].isna().all()
    assert "13 valid pulses" in t3["criterion"].iloc[0]


def test_fdr_is_applied_within_the_population():
    rng = np.random.default_rng(8)
    amp = rng.standard_normal((15, 200))
    amp[:, 0] = np.abs(amp[:, 0]) + 0.5  # one real responder among 200
    t = classify_responses(amp, amp, OptoParams(min_effect_z=0.0))
    assert t.loc[0, "response_class"] == "activated"
    raw_hits = (t["p_value"] <= 0.05).sum()
    assert raw_hits > 3  # uncorrected tests would call several null neurons
    assert (t["response_class"] != "not_responsive").sum() <= 2
    assert np.all(t["q_value"] >= t["p_value"] - 1e-15)
