"""Behaviour of the in-silico mouse: learning curve, task, motor process, lever.

Model (SCIENCE.md section 4; every constant is in :class:`~.params.BehaviorSimParams`):

* learning progress ``p(s)`` is a saturating exponential in the session number with a per-mouse
  time constant, normalised to 0 at session 1 and 1 at the last training day;
* movements come from the motor process of :mod:`.motor`: sub-movements of a low-dimensional
  latent read out into the lever. With learning the mouse's plan moves from the shared naive
  plan to its own learned plan (effect ``behavior.learned_plan``) and the trial-to-trial
  variability shrinks (``behavior.motor_variability``), so stereotypy rises;
* a cue every trial; the mouse engages with a probability, responds after a lognormal reaction
  time; outcome and reward time are read off the simulated lever (threshold crossing within the
  response window), never drawn separately;
* spontaneous movements between trials (Poisson, smaller, from the naive plan), some just
  before a cue;
* inactivation trials (light on): the movement is drawn from the same plan; the learned part
  of it (plan minus its naive twin) depends on M1, so the fraction of M1's representation of
  the movement the light removes moves the executed movement towards the naive one
  (``perturb``, the circuit of m1.py): the lever degrades by as much as the circuit says; the
  reaction time lengthens by ``rt_increase x`` the silenced fraction (phenomenological);
* the lever = movements + white sensor noise + slow OU drift of the resting position + mains
  pick-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.simulate.effects import MouseEffects
from thalamocortex.simulate.motor import (
    MotorPlan,
    MouseMotor,
    Movement,
    draw_movement,
    learned_plan,
    movement_from,
    naive_plan,
)
from thalamocortex.simulate.params import BehaviorSimParams, SimulationConfig


def learning_progress(session: int, n_days: int, tau_sessions: float) -> float:
    """Learning progress in [0, 1] of a training session (1-based).

    ``p(s) = (1 - exp(-(s - 1) / tau)) / (1 - exp(-(n_days - 1) / tau))``: 0 on day 1, 1 on
    the last day, fastest change early (a saturating learning curve).
    """
    s = float(np.clip(session, 1, n_days))
    return float(
        (1.0 - np.exp(-(s - 1.0) / tau_sessions)) / (1.0 - np.exp(-(n_days - 1.0) / tau_sessions))
    )


def stage_of(progress: float, cfg: SimulationConfig) -> str:
    """'naive', 'middle' or 'expert' from the progress thresholds in ``cfg.learning``."""
    if progress < cfg.learning.naive_max_progress:
        return "naive"
    if progress >= cfg.learning.expert_min_progress:
        return "expert"
    return "middle"


def mouse_template(
    rng: np.random.Generator, bp: BehaviorSimParams, population: MotorPlan | None = None
) -> MouseMotor:
    """The mouse's motor system: the naive plan shared by all mice and its own learned plan,
    the ``population`` plan made idiosyncratic (default: :func:`~.motor.population_plan` of
    seed 0)."""
    mp = bp.motor
    return MouseMotor(mp, naive_plan(mp), learned_plan(rng, mp, population))


@dataclass
class BehaviorResult:
    """Everything the behaviour simulation produced for one session."""

    lever: np.ndarray  # (n_samples,) float32, mm
    rate: float
    duration: float
    task_end: float
    trials: pd.DataFrame  # the NWB trials table (no hidden truth)
    truth_trials: pd.DataFrame
    movements: list[Movement] = field(default_factory=list)
    light_windows: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    summary: dict = field(default_factory=dict)


def inactivation_fraction(cfg: SimulationConfig) -> float:
    """Population fraction of the inactivated region's axons silenced at the light's power:
    ``efficacy x h(P) / h(efficacy_power_mw)``, ``h(P) = P / (P + power_half_mw)``."""
    ip = cfg.inactivation

    def h(p: float) -> float:
        return p / (p + ip.power_half_mw)

    return float(min(1.0, ip.efficacy * h(ip.power_mw) / h(ip.efficacy_power_mw)))


def behavior_state(
    cfg: SimulationConfig, progress: float, effects: MouseEffects | None = None
) -> dict[str, float]:
    """The learning-dependent behaviour parameters of a session at progress ``progress``.

    Returns ``plan_stage`` (0 = naive plan, 1 = the mouse's learned plan), ``variability``
    (trial-to-trial motor variability scale), ``rt_median_s``, ``p_engage``, ``spont_rate_hz``
    and ``inactivation_loss`` (fraction of the inactivated region's axons light silences;
    negative in a varied null, where light then strengthens them), with the mouse's multipliers
    ``effects`` (default: the population's).
    """
    bp = cfg.behavior
    mp = bp.motor
    fx = effects if effects is not None else MouseEffects.population(cfg)
    q = fx.value("behavior.learned_plan", 0.0, 1.0, progress)
    v = fx.value(
        "behavior.motor_variability", mp.variability_naive, mp.variability_expert, progress
    )
    log_rt = fx.value(
        "behavior.reaction_time",
        np.log(bp.rt_median_naive_s),
        np.log(bp.rt_median_expert_s),
        progress,
    )
    engage = fx.value("behavior.engagement", bp.p_engage_naive, bp.p_engage_expert, progress)
    spont = fx.value(
        "behavior.spontaneous_rate", bp.spont_rate_naive_hz, bp.spont_rate_expert_hz, progress
    )
    loss = fx.value("inactivation.efficacy", 0.0, inactivation_fraction(cfg), 1.0)
    return dict(
        plan_stage=float(np.clip(q, 0.0, 1.0)),
        variability=float(max(v, 0.0)),
        rt_median_s=float(np.exp(log_rt)),
        p_engage=float(np.clip(engage, 0.0, 1.0)),
        spont_rate_hz=float(max(0.0, spont)),
        inactivation_loss=float(np.clip(loss, -1.0, 1.0)),
    )


def simulate_behavior(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    motor: MouseMotor,
    progress: float,
    light_fraction: float = 0.0,
    extra_s: float = 0.0,
    effects: MouseEffects | None = None,
    perturb=None,
) -> BehaviorResult:
    """Simulate the lever and trials of one session.

    Parameters
    ----------
    rng : numpy Generator (the session's child generator)
    cfg : SimulationConfig
    motor : MouseMotor
        The mouse's motor system (:func:`mouse_template`).
    progress : float
        Learning progress p in [0, 1] of this session.
    light_fraction : float
        Fraction of trials with inactivation light (0 outside the inactivation cohort).
    extra_s : float
        Recording time (s) appended after the task (e.g. the photostimulation block); the lever
        keeps recording and spontaneous movements continue.
    effects : MouseEffects, optional
        The mouse's multipliers of the learning-related changes (default: the population's).
    perturb : callable, optional
        ``perturb(sub, naive_sub) -> (executed, m1_loss)`` for the movement of a light trial:
        its planned sub-movements and their naive twin (the same trial noise around the naive
        plan, at naive variability) give the executed sub-movements (None = as planned) and
        the fraction of M1's representation the light removed (m1.py). Without it light
        trials only lengthen the reaction time.

    Returns
    -------
    BehaviorResult
    """
    bp = cfg.behavior
    mp = bp.motor
    rate = bp.lever_rate_hz
    state = behavior_state(cfg, progress, effects)
    q, v = state["plan_stage"], state["variability"]
    rt_med, p_engage = state["rt_median_s"], state["p_engage"]
    spont_rate, loss = state["spont_rate_hz"], state["inactivation_loss"]
    inact = cfg.inactivation
    plan = motor.plan(q)
    naive, v_naive = motor.naive, mp.variability_naive

    n = bp.n_trials
    light = np.zeros(n, dtype=bool)
    n_light = int(round(light_fraction * n))
    if n_light:
        light[rng.choice(n, n_light, replace=False)] = True

    movements: list[Movement] = []
    rows = []
    busy_until = 0.0  # the lever is free after this time
    t_cue = bp.pre_session_s
    s_amp = bp.spont_amplitude_scale

    def spontaneous(t0: float) -> Movement:
        sub = draw_movement(rng, mp, naive, mp.variability_naive, s_amp)
        return movement_from(
            sub, "spontaneous", t0, rate, mp, rng, variability=mp.variability_naive, plan_stage=0.0
        )

    def add_spontaneous(lo: float, hi: float) -> None:
        """Poisson spontaneous movements fully inside [lo, hi] (non-overlapping)."""
        nonlocal busy_until
        if hi <= lo:
            return
        k = rng.poisson(spont_rate * (hi - lo))
        for t0 in np.sort(rng.uniform(lo, hi, k)):
            if t0 < busy_until + 0.3:
                continue
            mv = spontaneous(np.round(t0 * rate) / rate)
            if mv.offset > hi:
                continue
            movements.append(mv)
            busy_until = mv.offset

    for i in range(n):
        # spontaneous movements in the gap before this cue; sometimes one just before the cue
        add_spontaneous(busy_until + 0.3, t_cue - 0.3)
        if rng.random() < bp.p_precue_movement:
            t0 = np.round((t_cue - rng.uniform(0.1, 0.6)) * rate) / rate
            if t0 > busy_until + 0.3:
                mv = spontaneous(t0)
                movements.append(mv)
                busy_until = mv.offset
        engaged = bool(rng.random() < p_engage)
        rt = float(rt_med * np.exp(bp.rt_sigma * rng.standard_normal()))
        q_i, v_i, plan_i = q, v, plan
        if light[i]:
            rt *= max(1.0 + inact.rt_increase * loss, 0.1)
        onset = offset = np.nan
        n_sub = 0
        if engaged:
            onset = max(t_cue + rt, busy_until + 0.05)
            onset = np.round(onset * rate) / rate
            executed, m1_loss = None, np.nan
            if light[i] and perturb is not None:
                # the naive twin: the same trial noise around the naive plan at naive
                # variability, what the other pathways make of this movement (a copy of the
                # generator, so the session's stream is unchanged)
                twin = np.random.Generator(type(rng.bit_generator)())
                twin.bit_generator.state = rng.bit_generator.state
                sub = draw_movement(rng, mp, plan_i, v_i)
                executed, m1_loss = perturb(sub, draw_movement(twin, mp, naive, v_naive))
            else:
                sub = draw_movement(rng, mp, plan_i, v_i)
            mv = movement_from(
                sub,
                "cued",
                onset,
                rate,
                mp,
                rng,
                executed=executed,
                m1_loss=m1_loss,
                trial=i,
                variability=v_i,
                plan_stage=q_i,
                light=bool(light[i]),
            )
            movements.append(mv)
            offset = mv.offset
            busy_until = offset
            n_sub = len(sub)
        response_end = max(t_cue + bp.response_window_s, busy_until)
        rows.append(
            dict(
                trial=i,
                cue_time=t_cue,
                engaged=engaged,
                movement_onset=onset,
                movement_offset=offset,
                reaction_time=onset - t_cue if engaged else np.nan,
                plan_stage=q_i if engaged else np.nan,
                variability=v_i if engaged else np.nan,
                n_submovements=n_sub,
                light=bool(light[i]),
            )
        )
        t_next = response_end + rng.uniform(bp.iti_min_s, bp.iti_max_s)
        if i == n - 1:
            t_next = response_end + bp.post_session_s
        t_cue = t_next
    task_end = t_cue
    duration = task_end + extra_s
    add_spontaneous(busy_until + 0.3, duration - 0.3)
    movements.sort(key=lambda m: m.onset)

    # the lever: movements + white sensor noise + slow OU drift + mains pick-up
    n_samples = int(np.ceil(duration * rate))
    clean = np.zeros(n_samples)
    for mv in movements:
        i0 = int(round(mv.onset * rate))
        i1 = min(n_samples, i0 + len(mv.samples))
        clean[i0:i1] += mv.samples[: i1 - i0]
    t = np.arange(n_samples) / rate
    a = np.exp(-1.0 / (bp.drift_tau_s * rate))
    from scipy.signal import lfilter

    drift = lfilter(
        [bp.drift_sd_mm * np.sqrt(1 - a * a)], [1.0, -a], rng.standard_normal(n_samples)
    )
    lever = (
        clean
        + bp.rest_noise_mm * rng.standard_normal(n_samples)
        + drift
        + bp.line_noise_mm * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))
    )

    # outcome from the lever: first upward threshold crossing within the response window
    truth = pd.DataFrame(rows)
    above = lever >= bp.threshold_mm
    crossing = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    reward = np.full(n, np.nan)
    for i, cue in enumerate(truth["cue_time"].to_numpy()):
        lo, hi = int(np.ceil(cue * rate)), int(np.floor((cue + bp.response_window_s) * rate))
        j = np.searchsorted(crossing, lo)
        if j < len(crossing) and crossing[j] <= hi:
            reward[i] = crossing[j] / rate + bp.reward_delay_s
    outcome = np.where(np.isfinite(reward), "hit", "miss")
    truth["outcome"] = outcome
    truth["reward_time"] = reward
    cues = truth["cue_time"].to_numpy()
    stops = np.append(cues[1:], task_end)
    trials = pd.DataFrame(
        {
            "start_time": cues,
            "stop_time": stops,
            "cue_time": cues,
            "reward_time": reward,
            "outcome": outcome,
            "light": light,
        }
    )
    light_windows = np.stack(
        [cues[light] - inact.light_pre_s, cues[light] - inact.light_pre_s + inact.light_duration_s],
        axis=1,
    )
    summary = dict(
        plan_stage=q,
        variability=v,
        rt_median_param=rt_med,
        rt_median=float(np.nanmedian(truth["reaction_time"])) if truth["engaged"].any() else np.nan,
        p_engage=p_engage,
        spont_rate_hz=spont_rate,
        hit_rate=float(np.mean(outcome == "hit")),
        n_spontaneous=sum(m.kind == "spontaneous" for m in movements),
    )
    return BehaviorResult(
        lever=lever.astype(np.float32),
        rate=rate,
        duration=duration,
        task_end=task_end,
        trials=trials,
        truth_trials=truth,
        movements=movements,
        light_windows=light_windows,
        summary=summary,
    )


def movement_table(movements: list[Movement]) -> pd.DataFrame:
    """Ground-truth movements: ``movement`` (index in the session), kind, onset, offset, trial
    (-1 spontaneous), plan_stage, variability, light, n_submovements, peak (mm) and
    ``lever_deviation`` (RMS change of the executed lever latent from the plan, mm; 0 without
    a perturbation), ``m1_loss`` (light trials: fraction of M1's representation of the movement
    the light removed, m1.py; NaN otherwise)."""
    return pd.DataFrame(
        {
            "movement": np.arange(len(movements), dtype=np.int64),
            "kind": [m.kind for m in movements],
            "onset": [m.onset for m in movements],
            "offset": [m.offset for m in movements],
            "trial": np.array([m.trial for m in movements], dtype=np.int64),
            "plan_stage": [m.plan_stage for m in movements],
            "variability": [m.variability for m in movements],
            "light": np.array([m.light for m in movements], dtype=bool),
            "n_submovements": np.array([len(m.sub) for m in movements], dtype=np.int64),
            "peak": [float(np.max(m.samples)) for m in movements],
            "lever_deviation": [
                0.0 if m.deviation is None else float(np.sqrt(np.mean(m.deviation[:, 0] ** 2)))
                for m in movements
            ],
            "m1_loss": [m.m1_loss for m in movements],
        }
    )


def submovement_table(movements: list[Movement]) -> pd.DataFrame:
    """What every movement was made of: one row per sub-movement (``movement`` index,
    ``submovement`` index, kind, onset and duration in s after the movement's onset, lever step
    in mm, steps along latent dims 1.. as ``latent<d>_step``)."""
    if not movements:
        return pd.DataFrame()
    subs = [m.sub for m in movements]
    n = np.array([len(s) for s in subs])
    steps = np.vstack([s.steps for s in subs])
    out = {
        "movement": np.repeat(np.arange(len(subs)), n),
        "submovement": np.concatenate([np.arange(k) for k in n]),
        "kind": np.concatenate([s.kind for s in subs]).astype(str),
        "onset": np.concatenate([s.onset for s in subs]),
        "duration": np.concatenate([s.duration for s in subs]),
        "lever_step": steps[:, 0],
    }
    for d in range(1, steps.shape[1]):
        out[f"latent{d}_step"] = steps[:, d]
    return pd.DataFrame(out)


def moving_mask(movements: list[Movement], times: np.ndarray) -> np.ndarray:
    """Boolean (len(times),): True where any movement is under way."""
    mask = np.zeros(len(times), dtype=bool)
    for m in movements:
        i0 = np.searchsorted(times, m.onset, side="left")
        i1 = np.searchsorted(times, m.offset, side="right")
        mask[i0:i1] = True
    return mask
