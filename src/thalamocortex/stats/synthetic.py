"""Synthetic cohorts at the level of the tables the mouse-level tests consume.

Table-level Monte Carlo (``thalamocortex validate``) checks a test without simulating raw
traces: it draws the table the test reads (region x session summaries, neurons with their drive
and class, trials with lever trajectories, behaviour per session) for a whole cohort, runs the
package's own test functions on it, and records the decision. Thousands of cohorts take
seconds, so false-positive rates are measured to +-1.5 % — and the structure that breaks
within-mouse tests is built in on purpose:

* every mouse has its own baseline and its own learning rate (saturating learning curve, per-
  mouse time constant as in :class:`thalamocortex.simulate.params.LearningParams`);
* **null kinds**: ``"zero"`` — no mouse changes (expert = naive in every mouse); ``"varied"``
  — mice differ in their change around zero (per-mouse change ~ N(0, ``mouse_sd``)): no
  population effect, but a real change in each mouse, the case where tests that treat
  sessions, trials or neurons as replicates reject far too often; ``"effect"`` — the
  population change plus the same per-mouse spread;
* sampling noise of the right kind: binomial counts of movement-related ROIs, latency noise that
  grows as fewer ROIs respond, per-trial lever trajectories, per-neuron classification.

Effect sizes and baselines default to the simulator's (:func:`thalamocortex.simulate.params.
default_regions`, :class:`~thalamocortex.simulate.params.M1Params`, :class:`~thalamocortex.
simulate.params.InactivationParams`), so ``effect_scale = 1`` is the demo's effect. These
tables are a check of the *statistics* (validity under known structure, resolution, power as a
function of mice); the full-pipeline cohorts of ``validate`` check the whole chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.encoding.peri import TIMING_CI_Z

NULL_KINDS: tuple[str, ...] = ("zero", "varied")
KINDS: tuple[str, ...] = (*NULL_KINDS, "effect")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _progress(rng: np.random.Generator, days: np.ndarray, n_days: int = 14) -> np.ndarray:
    """Learning progress in [0, 1] per day for one mouse (per-mouse time constant)."""
    tau = 4.0 * np.exp(0.25 * rng.standard_normal())
    full = 1 - np.exp(-(n_days - 1) / tau)
    return np.clip((1 - np.exp(-(np.asarray(days, float) - 1) / tau)) / full, 0, 1)


def _mouse_change(rng, kind: str, effect: float, mouse_sd: float) -> float:
    if kind == "zero":
        return 0.0
    centre = effect if kind == "effect" else 0.0
    return float(centre + mouse_sd * rng.standard_normal())


# ---------------------------------------------------------------------------------------------
# encoding: region x session summaries
# ---------------------------------------------------------------------------------------------


@dataclass
class EncodingDesign:
    """A cohort of the axon-imaging experiment at the region x session level.

    Attributes
    ----------
    regions : tuple of str
        Input regions (their naive/expert states come from the simulator's defaults).
    effect_region : str or None
        Region that carries the simulator's motor-thalamus learning pattern (None: the
        simulator's own regions, i.e. MTh).
    mice_per_region : int
    sessions : tuple of int
        Imaged training days.
    n_rois : int
        Axons per field of view.
    effect_scale : float
        Multiplies every naive -> expert difference (kind ``"effect"``).
    mouse_sd : dict
        Per-mouse SD of the change of each metric (the ``varied`` null and effect cohorts).
    baseline_sd : dict
        Per-mouse SD of the naive value of each metric.
    """

    regions: tuple[str, ...] = ("MTh", "M2", "S1", "cM1")
    effect_region: str | None = None
    mice_per_region: int = 3
    sessions: tuple[int, ...] = tuple(range(1, 15))
    n_rois: int = 35
    effect_scale: float = 1.0
    mouse_sd: dict = field(
        default_factory=lambda: {
            "frac_movement": 0.06,
            "median_reliability": 0.06,
            "population_onset_latency": 0.05,
            "decode_r2": 0.06,
        }
    )
    baseline_sd: dict = field(
        default_factory=lambda: {
            "frac_movement": 0.05,
            "median_reliability": 0.05,
            "population_onset_latency": 0.05,
            "decode_r2": 0.05,
        }
    )


def _region_states(design: EncodingDesign) -> dict[str, tuple[dict, dict]]:
    """Naive and expert population states per region (the simulator's defaults).

    With ``effect_region`` set, that region gets motor thalamus's naive and expert states and
    every other region keeps its own naive state with a cortical input's small change.
    """
    from thalamocortex.simulate.params import default_regions

    base = default_regions()
    cortical = base["M2"]
    small = {
        k: cortical.expert.model_dump()[k] - cortical.naive.model_dump()[k]
        for k in cortical.naive.model_dump()
    }
    states = {}
    for r in design.regions:
        src = base.get(r, cortical)
        naive, expert = src.naive.model_dump(), src.expert.model_dump()
        if design.effect_region is not None:
            if r == design.effect_region:
                naive, expert = base["MTh"].naive.model_dump(), base["MTh"].expert.model_dump()
            else:
                expert = {k: naive[k] + small[k] for k in naive}
        states[r] = (naive, expert)
    return states


def _decode_r2(encoding: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    # cross-validated R2 grows with how many axons carry the lever trajectory and how strongly
    return 0.05 + 0.9 * fraction * encoding


def encoding_sessions(
    rng: np.random.Generator, kind: str, design: EncodingDesign | None = None
) -> pd.DataFrame:
    """Region x session summaries of one axon-imaging cohort.

    Returns
    -------
    DataFrame with ``mouse``, ``session``, ``day``, ``region``, ``experiment``
    (``"axon_imaging"``), ``n_rois``, ``frac_movement``, ``median_reliability``,
    ``population_onset_latency`` (s) and ``decode_r2``, and the true per-mouse changes
    ``true_change_<metric>`` (for recovery checks).
    """
    _check_kind(kind)
    d = design or EncodingDesign()
    states = _region_states(d)
    days = np.asarray(d.sessions)
    rows = []
    for region in d.regions:
        naive, expert = states[region]
        diff = {
            "frac_movement": expert["movement_fraction"] - naive["movement_fraction"],
            "median_reliability": expert["reliability"] - naive["reliability"],
            "population_onset_latency": expert["lag_s"] - naive["lag_s"],
        }
        enc_diff = expert["encoding"] - naive["encoding"]
        for k in range(d.mice_per_region):
            mouse = f"ax{region}{k + 1:02d}"
            prog = _progress(rng, days)
            base = {
                "frac_movement": naive["movement_fraction"],
                "median_reliability": naive["reliability"],
                "population_onset_latency": naive["lag_s"],
            }
            base = {m: v + d.baseline_sd[m] * rng.standard_normal() for m, v in base.items()}
            change = {
                m: _mouse_change(rng, kind, d.effect_scale * diff[m], d.mouse_sd[m]) for m in diff
            }
            enc0 = naive["encoding"]
            enc_change = _mouse_change(rng, kind, d.effect_scale * enc_diff, 0.0)
            r2_extra = _mouse_change(rng, kind, 0.0, d.mouse_sd["decode_r2"])
            r2_base = d.baseline_sd["decode_r2"] * rng.standard_normal()
            for i, day in enumerate(days):
                f_true = np.clip(base["frac_movement"] + prog[i] * change["frac_movement"], 0, 1)
                n_mr = rng.binomial(d.n_rois, f_true)
                rel = base["median_reliability"] + prog[i] * change["median_reliability"]
                rel += rng.normal(0, 0.25 / np.sqrt(max(n_mr, 1)))
                lat_sd = 0.15 / np.sqrt(max(n_mr, 1)) + 0.02  # sampling noise of the onset
                lat = (
                    base["population_onset_latency"]
                    + prog[i] * change["population_onset_latency"]
                    + rng.normal(0, lat_sd)
                )
                # the encoding stage's trial-bootstrap interval, here with the true noise
                lat_half = TIMING_CI_Z * lat_sd
                enc = np.clip(enc0 + prog[i] * enc_change, 0, 1)
                r2 = _decode_r2(enc, f_true) + r2_base + prog[i] * r2_extra
                r2 += rng.normal(0, 0.05)
                rows.append(
                    {
                        "mouse": mouse,
                        "session": int(day),
                        "day": int(day),
                        "region": region,
                        "experiment": "axon_imaging",
                        "n_rois": d.n_rois,
                        "frac_movement": n_mr / d.n_rois,
                        "median_reliability": rel,
                        "population_onset_latency": lat if n_mr >= 1 else np.nan,
                        "population_onset_latency_ci_low": lat - lat_half if n_mr else np.nan,
                        "population_onset_latency_ci_high": lat + lat_half if n_mr else np.nan,
                        "decode_r2": r2,
                        "true_change_frac_movement": change["frac_movement"],
                    }
                )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# all-optical: neurons, drive and classes, naive and expert
# ---------------------------------------------------------------------------------------------


@dataclass
class OptoDesign:
    """A cohort of the all-optical experiment at the neuron level (tracked neurons).

    Drive is in units of the neuron's baseline SD (as the opto stage reports it): a latent
    thalamic weight times ``gain`` plus unit measurement noise; a neuron is activated when its
    drive exceeds ``threshold`` and suppressed below ``-threshold``. Naive weights are broad
    (N(``weight_naive_mean``, ``weight_naive_sd``)); with learning (kind ``"effect"``) the
    expert weights of movement-related neurons rise by ``refinement`` and those of the others
    fall by ``refinement * unrelated_share`` (the simulator's refinement; mice differ in it by
    ``mouse_sd``).
    """

    n_mice: int = 3
    n_neurons: int = 150
    encoding_fraction_naive: float = 0.15
    encoding_fraction_expert: float = 0.35
    weight_naive_mean: float = 0.5
    weight_naive_sd: float = 0.3
    gain: float = 4.0
    threshold: float = 2.0
    refinement: float = 0.9
    unrelated_share: float = 0.9
    effect_scale: float = 1.0
    mouse_sd: float = 0.3
    sessions: tuple[int, int] = (1, 14)


def opto_neurons(
    rng: np.random.Generator, kind: str, design: OptoDesign | None = None
) -> pd.DataFrame:
    """Neurons of the opsin mice in the layout of :func:`thalamocortex.opto.relation.
    merge_drive_encoding` (both stages, the same ``roi_name`` across them)."""
    _check_kind(kind)
    d = design or OptoDesign()
    rows = []
    for m in range(d.n_mice):
        mouse = f"aoOpsin{m + 1:02d}"
        ref = _mouse_change(rng, kind, d.effect_scale * d.refinement, d.mouse_sd)
        # movement encoding: a latent per neuron, partly kept from naive to expert
        latent = rng.standard_normal(d.n_neurons)
        later = 0.3 * latent + np.sqrt(1 - 0.09) * rng.standard_normal(d.n_neurons)
        related = {
            "naive": latent > np.quantile(latent, 1 - d.encoding_fraction_naive),
            "expert": later > np.quantile(later, 1 - d.encoding_fraction_expert),
        }
        w_naive = rng.normal(d.weight_naive_mean, d.weight_naive_sd, d.n_neurons)
        rel_e = related["expert"].astype(float)
        w_expert = (
            w_naive
            + ref * rel_e
            - ref * d.unrelated_share * (1 - rel_e)
            + rng.normal(0, 0.1, d.n_neurons)
        )
        score_noise = rng.normal(0, 0.3, d.n_neurons)
        for stage, day, w in (
            ("naive", d.sessions[0], w_naive),
            ("expert", d.sessions[1], w_expert),
        ):
            drive = d.gain * w + rng.standard_normal(d.n_neurons)
            rel = related[stage]
            cls = np.where(
                drive > d.threshold,
                "activated",
                np.where(drive < -d.threshold, "suppressed", "not_responsive"),
            )
            rows.append(
                pd.DataFrame(
                    {
                        "mouse": mouse,
                        "session": day,
                        "day": day,
                        "stage": stage,
                        "roi_name": [f"cell{j:03d}" for j in range(d.n_neurons)],
                        "drive": drive,
                        "response_class": cls,
                        "encoding_score": rel.astype(float) + score_noise,
                        "movement_related": rel,
                        "activated": cls == "activated",
                        "suppressed": cls == "suppressed",
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# inactivation: trials with lever trajectories
# ---------------------------------------------------------------------------------------------


@dataclass
class InactivationDesign:
    """Expert mice with light on a random subset of trials (lever trajectories 0-3 s).

    A trajectory mixes the mouse's learned template (weight ``w``, Beta around
    ``template_weight``) with a trial-specific movement; light removes ``loss`` of the learned
    component (``efficacy * thalamic_dependence`` of the simulator, 0.56) and mice differ in that
    loss by ``mouse_sd``. Rewarded = the peak crosses ``threshold``.
    """

    n_mice: int = 3
    sessions: tuple[int, ...] = (13, 14)
    n_trials: int = 50
    light_fraction: float = 0.3
    template_weight: float = 0.85
    concentration: float = 20.0
    loss: float = 0.56
    effect_scale: float = 1.0
    mouse_sd: float = 0.15
    noise_mm: float = 0.05
    time_warp_sd: float = 0.15
    threshold: float = 1.5
    n_bins: int = 300


def _bump_params(rng: np.random.Generator) -> np.ndarray:
    """Centres, widths and heights (rows) of a sum of Gaussian bumps over 0-3 s."""
    k = int(rng.integers(2, 5))
    return np.stack(
        [rng.uniform(0.2, 1.6, k), rng.uniform(0.15, 0.5, k), rng.uniform(0.3, 1.0, k)], axis=1
    )


def _bumps(params: np.ndarray, t: np.ndarray, peak: float) -> np.ndarray:
    """Trajectories (rows of ``t``, seconds) of a bump sum scaled to ``peak`` on 0-3 s."""
    c, w, h = params[:, 0], params[:, 1], params[:, 2]
    x = (h * np.exp(-0.5 * ((t[..., None] - c) / w) ** 2)).sum(axis=-1)
    ref = (h * np.exp(-0.5 * ((np.linspace(0, 3, 300)[:, None] - c) / w) ** 2)).sum(-1).max()
    return peak * x / max(ref, 1e-9)


def inactivation_trials(
    rng: np.random.Generator, kind: str, design: InactivationDesign | None = None
) -> tuple[pd.DataFrame, dict]:
    """Trials and trajectories of an inactivation cohort.

    Returns
    -------
    trials : DataFrame with ``mouse``, ``session``, ``trial``, ``light``, ``movement_kind``,
        ``rewarded``, ``reaction_time``, ``peak_amplitude``, ``movement_duration``,
        ``movement_onset``, ``included``.
    trajectories : dict ``(mouse, session) -> (trial numbers, array (n_trials, n_bins))``.
    """
    _check_kind(kind)
    d = design or InactivationDesign()
    rows, traj = [], {}
    a = d.template_weight * d.concentration
    b = (1 - d.template_weight) * d.concentration
    t = np.linspace(0, 3, d.n_bins)
    for m in range(d.n_mice):
        mouse = f"inact{m + 1:02d}"
        template = _bump_params(rng)
        loss = float(np.clip(_mouse_change(rng, kind, d.effect_scale * d.loss, d.mouse_sd), -1, 1))
        rt_mouse = np.exp(rng.normal(np.log(0.35), 0.1))
        for session in d.sessions:
            light = rng.random(d.n_trials) < d.light_fraction
            w = rng.beta(a, b, d.n_trials)
            w = np.clip(np.where(light, w * (1 - loss), w), 0, 1)
            # per-trial time warp and amplitude jitter (simulator: 0.15 log units each)
            warp = np.exp(rng.normal(0, d.time_warp_sd, d.n_trials))
            amp = np.exp(rng.normal(0, 0.15, d.n_trials))
            learned = _bumps(template, t[None, :] * warp[:, None], 2.6)
            own = np.stack(
                [
                    _bumps(_bump_params(rng), t, np.exp(rng.normal(np.log(1.5), 0.3)))
                    for _ in range(d.n_trials)
                ]
            )
            x = amp[:, None] * (w[:, None] * learned + (1 - w[:, None]) * own)
            x += d.noise_mm * rng.standard_normal(x.shape).cumsum(axis=1) / np.sqrt(d.n_bins / 10)
            peak = x.max(axis=1)
            rewarded = peak > d.threshold
            rt = rt_mouse * np.exp(rng.normal(0, 0.4, d.n_trials))
            rt = rt * (1 + 0.5 * np.clip(loss, 0, 1) * light)
            traj[(mouse, session)] = (np.arange(d.n_trials), x)
            rows.append(
                pd.DataFrame(
                    {
                        "mouse": mouse,
                        "session": session,
                        "trial": np.arange(d.n_trials),
                        "light": light,
                        "movement_kind": np.where(rewarded, "rewarded", "response"),
                        "rewarded": rewarded.astype(float),
                        "reaction_time": rt,
                        "peak_amplitude": peak,
                        "movement_duration": 1.5 + 0.1 * rng.standard_normal(d.n_trials),
                        "movement_onset": np.arange(d.n_trials) * 8.0 + rt,
                        "included": True,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True), traj


# ---------------------------------------------------------------------------------------------
# behaviour: per-session learning metrics of every mouse of the study
# ---------------------------------------------------------------------------------------------


@dataclass
class BehaviorDesign:
    """Mice of the three experiments with their imaged sessions (demo preset by default):
    axon-imaging mice on days 1-14, all-optical mice on days 1 and 14, inactivation mice
    (trained before imaging) on days 13-14 only. Stereotypy rises by ``stereotypy_gain`` (the
    demo's change, ~0.3) with per-mouse spread ``mouse_sd``; session noise ``session_sd``."""

    n_axon: int = 12
    n_all_optical: int = 4
    n_inactivation: int = 3
    stereotypy_naive: float = 0.35
    stereotypy_gain: float = 0.3
    effect_scale: float = 1.0
    mouse_sd: float = 0.08
    session_sd: float = 0.06


def behavior_sessions(
    rng: np.random.Generator, kind: str, design: BehaviorDesign | None = None
) -> pd.DataFrame:
    """The behaviour stage's sessions table (``mouse``, ``session``, ``day``, ``experiment``,
    ``status``, ``stereotypy``, ``success_rate``, ``median_reaction_time``)."""
    _check_kind(kind)
    d = design or BehaviorDesign()
    groups = (
        ("axon_imaging", "ax", d.n_axon, tuple(range(1, 15))),
        ("all_optical", "ao", d.n_all_optical, (1, 14)),
        ("inactivation", "inact", d.n_inactivation, (13, 14)),
    )
    rows = []
    for experiment, prefix, n, days in groups:
        for k in range(n):
            mouse = f"{prefix}{k + 1:02d}"
            gain = _mouse_change(rng, kind, d.effect_scale * d.stereotypy_gain, d.mouse_sd)
            succ_gain = _mouse_change(rng, kind, d.effect_scale * 0.35, 0.1)
            rt_gain = _mouse_change(rng, kind, d.effect_scale * -0.6, 0.15)
            base = d.stereotypy_naive + 0.05 * rng.standard_normal()
            prog = _progress(rng, np.asarray(days))
            for i, day in enumerate(days):
                rows.append(
                    {
                        "mouse": mouse,
                        "session": day,
                        "day": day,
                        "experiment": experiment,
                        "status": "ok",
                        "stereotypy": base + prog[i] * gain + d.session_sd * rng.standard_normal(),
                        "success_rate": np.clip(
                            0.6 + prog[i] * succ_gain + 0.08 * rng.standard_normal(), 0, 1
                        ),
                        "median_reaction_time": np.exp(
                            np.log(1.0) + prog[i] * rt_gain + 0.15 * rng.standard_normal()
                        ),
                    }
                )
    return pd.DataFrame(rows)
