"""Behaviour of the in-silico mouse: learning curve, learned trajectory, trials, lever.

Model (SCIENCE.md section 4; every constant is in :class:`~.params.BehaviorSimParams`):

* learning progress ``p(s)`` is a saturating exponential in the session number with a per-mouse
  time constant, normalised to 0 at session 1 and 1 at the last training day;
* every movement is a sum of raised-cosine bumps (exactly 0 at onset, smooth, back to rest
  after its duration). Each mouse has one idiosyncratic *learned trajectory* (template); a cued
  movement is ``w * template + (1 - w) * trial-specific trajectory`` with a small time warp and
  amplitude jitter, ``w ~ Beta`` around a session mean that rises with learning, so trial-to-trial
  correlation (stereotypy) rises;
* a cue every trial; the mouse engages with a probability, responds after a lognormal reaction
  time; outcome and reward time are read off the simulated lever (threshold crossing within the
  response window), never drawn separately;
* spontaneous movements between trials (Poisson, smaller), some just before a cue;
* inactivation trials (light on) scale the template weight by ``1 - dependence * efficacy`` and
  lengthen the reaction time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.simulate.effects import MouseEffects
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


@dataclass
class Trajectory:
    """A movement shape: a sum of raised-cosine bumps in time since onset.

    Attributes
    ----------
    centers, half_widths, amplitudes : arrays (n_bumps,)
        Bump centres and half widths (s) and amplitudes (mm).
    """

    centers: np.ndarray
    half_widths: np.ndarray
    amplitudes: np.ndarray

    @property
    def duration(self) -> float:
        return float(np.max(self.centers + self.half_widths))

    def __call__(self, tau: np.ndarray) -> np.ndarray:
        """Position (mm) at times ``tau`` (s since onset); 0 outside the movement."""
        tau = np.asarray(tau, dtype=np.float64)[..., None]
        x = (tau - self.centers) / self.half_widths
        inside = np.abs(x) < 1.0
        return np.sum(np.where(inside, 0.5 * (1.0 + np.cos(np.pi * x)), 0.0) * self.amplitudes, -1)


def draw_trajectory(rng: np.random.Generator, bp: BehaviorSimParams, peak_mm: float) -> Trajectory:
    """A random press: a first bump starting exactly at onset plus later pushes/holds.

    The number of bumps is drawn from ``n_bumps - 1 .. n_bumps + 2`` (at least 2); later bumps
    are centred anywhere in the movement. Peak position is normalised to ``peak_mm``; duration
    is uniform in [``duration_min_s``, ``duration_max_s``].
    """
    duration = rng.uniform(bp.duration_min_s, bp.duration_max_s)
    k = int(rng.integers(max(2, bp.n_bumps - 1), bp.n_bumps + 3))
    # first bump: the press itself, from onset to its peak at 5-30 % of the movement
    c0 = duration * rng.uniform(0.05, 0.3)
    centers = [c0]
    half = [c0]
    amps = [rng.uniform(0.3, 1.0)]
    for j in range(k - 1):
        if j == k - 2:  # the last bump ends the movement exactly at its duration
            c = rng.uniform(0.55, 0.9) * duration
            h = duration - c
        else:
            c = rng.uniform(0.1, 0.9) * duration
            h = max(min(c, duration - c) * rng.uniform(0.15, 0.6), 0.05)
        centers.append(c)
        half.append(h)
        amps.append(rng.uniform(0.2, 1.0))
    traj = Trajectory(np.array(centers), np.array(half), np.array(amps))
    grid = np.linspace(0.0, traj.duration, 400)
    traj.amplitudes = traj.amplitudes * (peak_mm / np.max(traj(grid)))
    return traj


def mouse_template(rng: np.random.Generator, bp: BehaviorSimParams) -> Trajectory:
    """The mouse's idiosyncratic learned trajectory."""
    peak = bp.template_peak_mm * np.exp(0.1 * rng.standard_normal())
    return draw_trajectory(rng, bp, peak)


@dataclass
class Movement:
    """One simulated movement, cued or spontaneous.

    ``samples`` is the noise-free lever displacement (mm) from ``onset`` at the lever rate.
    """

    kind: str
    onset: float
    samples: np.ndarray
    rate: float
    trial: int = -1
    template_weight: float = 0.0

    @property
    def offset(self) -> float:
        return self.onset + (len(self.samples) - 1) / self.rate

    def position(self, tau: np.ndarray) -> np.ndarray:
        """Displacement (mm) at ``tau`` seconds after onset, 0 outside the movement."""
        t = np.arange(len(self.samples)) / self.rate
        return np.interp(tau, t, self.samples, left=0.0, right=0.0)


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


def movement_samples(
    rng: np.random.Generator,
    bp: BehaviorSimParams,
    template: Trajectory,
    weight: float,
    rate: float,
    peak_mm: float,
) -> np.ndarray:
    """Samples (mm) of ``w * template + (1 - w) * random`` with time warp and amplitude jitter."""
    other = draw_trajectory(rng, bp, peak_mm * np.exp(bp.peak_sd * rng.standard_normal()))
    warp = np.exp(bp.time_warp_sd * rng.standard_normal())
    gain = np.exp(bp.amplitude_jitter_sd * rng.standard_normal())
    dur = max(template.duration if weight > 0 else 0.0, other.duration) * warp
    tau = np.arange(int(np.ceil(dur * rate)) + 1) / rate
    x = gain * (weight * template(tau / warp) + (1.0 - weight) * other(tau / warp))
    x[0] = 0.0
    return x


def behavior_state(
    cfg: SimulationConfig, progress: float, effects: MouseEffects | None = None
) -> dict[str, float]:
    """The learning-dependent behaviour parameters of a session at progress ``progress``.

    Returns ``template_weight`` (session mean), ``rt_median_s``, ``p_engage``,
    ``spont_rate_hz`` and ``inactivation_loss`` (fraction of thalamic drive light removes;
    negative in a varied null, where light then strengthens the learned component), with the
    mouse's multipliers ``effects`` (default: the population's).
    """
    bp = cfg.behavior
    fx = effects if effects is not None else MouseEffects.population(cfg)
    w = fx.value(
        "behavior.template_weight", bp.template_weight_naive, bp.template_weight_expert, progress
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
    loss = fx.value("inactivation.efficacy", 0.0, cfg.inactivation.efficacy, 1.0)
    return dict(
        template_weight=float(np.clip(w, 1e-3, 1 - 1e-3)),
        rt_median_s=float(np.exp(log_rt)),
        p_engage=float(np.clip(engage, 0.0, 1.0)),
        spont_rate_hz=float(max(0.0, spont)),
        inactivation_loss=float(np.clip(loss, -1.0, 1.0)),
    )


def simulate_behavior(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    template: Trajectory,
    progress: float,
    light_fraction: float = 0.0,
    extra_s: float = 0.0,
    effects: MouseEffects | None = None,
) -> BehaviorResult:
    """Simulate the lever and trials of one session.

    Parameters
    ----------
    rng : numpy Generator (the session's child generator)
    cfg : SimulationConfig
    template : Trajectory
        The mouse's learned trajectory.
    progress : float
        Learning progress p in [0, 1] of this session.
    light_fraction : float
        Fraction of trials with inactivation light (0 outside the inactivation cohort).
    extra_s : float
        Recording time (s) appended after the task (e.g. the photostimulation block); the lever
        keeps recording and spontaneous movements continue.
    effects : MouseEffects, optional
        The mouse's multipliers of the learning-related changes (default: the population's).

    Returns
    -------
    BehaviorResult
    """
    bp = cfg.behavior
    rate = bp.lever_rate_hz
    state = behavior_state(cfg, progress, effects)
    w_mean, rt_med = state["template_weight"], state["rt_median_s"]
    p_engage, spont_rate = state["p_engage"], state["spont_rate_hz"]
    inact = cfg.inactivation
    loss = state["inactivation_loss"]
    conc = bp.template_weight_concentration

    n = bp.n_trials
    light = np.zeros(n, dtype=bool)
    n_light = int(round(light_fraction * n))
    if n_light:
        light[rng.choice(n, n_light, replace=False)] = True

    movements: list[Movement] = []
    rows = []
    busy_until = 0.0  # the lever is free after this time
    t_cue = bp.pre_session_s
    spont_peak = bp.random_peak_mm * bp.spont_amplitude_scale

    def add_spontaneous(lo: float, hi: float) -> None:
        """Poisson spontaneous movements fully inside [lo, hi] (non-overlapping)."""
        nonlocal busy_until
        if hi <= lo:
            return
        k = rng.poisson(spont_rate * (hi - lo))
        for t0 in np.sort(rng.uniform(lo, hi, k)):
            if t0 < busy_until + 0.3:
                continue
            x = movement_samples(rng, bp, template, 0.0, rate, spont_peak)
            onset = np.round(t0 * rate) / rate
            if onset + len(x) / rate > hi:
                continue
            movements.append(Movement("spontaneous", onset, x, rate))
            busy_until = onset + len(x) / rate

    for i in range(n):
        # spontaneous movements in the gap before this cue; sometimes one just before the cue
        add_spontaneous(busy_until + 0.3, t_cue - 0.3)
        if rng.random() < bp.p_precue_movement:
            t0 = np.round((t_cue - rng.uniform(0.1, 0.6)) * rate) / rate
            if t0 > busy_until + 0.3:
                x = movement_samples(rng, bp, template, 0.0, rate, spont_peak)
                movements.append(Movement("spontaneous", t0, x, rate))
                busy_until = t0 + len(x) / rate
        engaged = bool(rng.random() < p_engage)
        w = float(rng.beta(w_mean * conc, (1.0 - w_mean) * conc))
        rt = float(rt_med * np.exp(bp.rt_sigma * rng.standard_normal()))
        if light[i]:
            w = min(w * (1.0 - inact.thalamic_dependence * loss), 1.0 - 1e-3)
            rt *= max(1.0 + inact.rt_increase * loss, 0.1)
        onset = offset = np.nan
        if engaged:
            onset = max(t_cue + rt, busy_until + 0.05)
            onset = np.round(onset * rate) / rate
            x = movement_samples(rng, bp, template, w, rate, bp.random_peak_mm)
            mv = Movement("cued", onset, x, rate, trial=i, template_weight=w)
            movements.append(mv)
            offset = mv.offset
            busy_until = offset
        response_end = max(t_cue + bp.response_window_s, busy_until)
        rows.append(
            dict(
                trial=i,
                cue_time=t_cue,
                engaged=engaged,
                movement_onset=onset,
                movement_offset=offset,
                reaction_time=onset - t_cue if engaged else np.nan,
                template_weight=w if engaged else np.nan,
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
    engaged_w = truth.loc[truth["engaged"], "template_weight"]
    summary = dict(
        template_weight_mean_param=w_mean,
        template_weight_mean=float(engaged_w.mean()) if len(engaged_w) else np.nan,
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
    """Ground-truth movements: kind, onset, offset, trial (-1 spontaneous), template_weight."""
    return pd.DataFrame(
        {
            "kind": [m.kind for m in movements],
            "onset": [m.onset for m in movements],
            "offset": [m.offset for m in movements],
            "trial": np.array([m.trial for m in movements], dtype=np.int64),
            "template_weight": [m.template_weight for m in movements],
        }
    )


def moving_mask(movements: list[Movement], times: np.ndarray) -> np.ndarray:
    """Boolean (len(times),): True where any movement is under way."""
    mask = np.zeros(len(times), dtype=bool)
    for m in movements:
        mask |= (times >= m.onset) & (times <= m.offset)
    return mask
