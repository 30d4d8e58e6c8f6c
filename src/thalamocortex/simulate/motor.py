"""The motor process: movements as sub-movements of a low-dimensional motor latent.

A movement is a sequence of *sub-movements*: a press, corrective sub-movements during the hold,
and a release back to rest. Each sub-movement ``j`` is a minimum-jerk step (Flash & Hogan 1985)
of the ``D``-dimensional motor latent,

    z(tau) = sum_j a_j * Phi((tau - t_j) / d_j),   Phi(s) = 10 s^3 - 15 s^4 + 6 s^5 on [0, 1],

starting at ``t_j`` (s after movement onset) with duration ``d_j`` and step ``a_j`` (a D-vector;
the steps sum to 0, so the latent starts and ends at rest). Latent dimension 0 is read out as
the lever position (mm); dimensions 1.. are motor dimensions the lever does not show (in mm of
press-equivalent). Overlapping sub-movements give the multi-peaked velocity profiles of real
presses; holds and releases vary from movement to movement.

**Plans and learning.** A :class:`MotorPlan` holds the mean sub-movement sequence (log durations,
log press amplitude, correction and latent steps). Naive mice share a generic plan (slower, smaller
press, longer hold, more corrections); every mouse has its own learned plan, the population plan
(:func:`population_plan`, one per cohort seed) made idiosyncratic: its timing by
``mouse_idiosyncrasy``, its path through the latent space by ``1 - shared_fraction`` (so the motor
latent of the learned movement is shared across mice up to that idiosyncrasy). At learning stage
``q`` the mouse's current plan interpolates the two (:func:`plan_at`); each movement draws its
parameters around that plan with a variability scale ``v`` that shrinks with learning (naive ~1,
expert ~0.3) and may add extra corrective sub-movements (Poisson, mean ``v x extra_submovements``).
Expert stereotypy therefore *emerges* from the variability of the motor process; nothing in the
simulation is a template weight.

Every movement keeps what it was made of (:attr:`Movement.submovements`: onset, duration, kind,
lever step and latent steps of each sub-movement) and its noise-free latent trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.simulate.params import MotorParams

#: sub-movement kinds, in the order a plan lists them
SUBMOVEMENT_KINDS = ("press", "correction", "release", "extra")
#: an executed (perturbed) movement has ended once its latent stays within this fraction of the
#: population press of rest (a blend's weakly weighted tail is no movement)
REST_TOLERANCE = 0.01


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile: 0 for s <= 0, 1 for s >= 1, smooth in between."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


@dataclass
class MotorPlan:
    """The mean sub-movement sequence of one mouse at one learning stage.

    Attributes
    ----------
    log_press_duration, log_hold, log_release_duration : float
        Natural logs of the press duration, the hold (press end to release start) and the
        release duration (s).
    log_press_peak : float
        Log of the press's lever displacement (mm).
    correction_steps : array (k,)
        Lever steps (mm) of the plan's corrective sub-movements during the hold (0 = none).
    correction_phase : array (k,)
        When each correction starts, as a fraction of the hold (0 = end of the press).
    latent_steps : array (k + 1, D - 1)
        Steps along latent dims 1.. of the press and of each correction (mm-equivalent); the
        release returns every dimension to 0.
    log_correction_duration : float
    """

    log_press_duration: float
    log_hold: float
    log_release_duration: float
    log_press_peak: float
    correction_steps: np.ndarray
    correction_phase: np.ndarray
    latent_steps: np.ndarray
    log_correction_duration: float

    @property
    def n_latents(self) -> int:
        return 1 + self.latent_steps.shape[1]


def _slots(mp: MotorParams) -> int:
    return max(mp.plan_corrections, mp.naive_corrections)


def naive_plan(mp: MotorParams) -> MotorPlan:
    """The generic plan shared by naive mice (no idiosyncrasy: naive mice are alike).

    Its corrections have no systematic lever step; its latent steps are zero, so naive
    movements are unstructured around the generic press.
    """
    k = _slots(mp)
    return MotorPlan(
        log_press_duration=float(np.log(mp.naive_press_duration_s)),
        log_hold=float(np.log(max(mp.naive_hold_s, 1e-3))),
        log_release_duration=float(np.log(mp.naive_release_duration_s)),
        log_press_peak=float(np.log(mp.naive_press_peak_mm)),
        correction_steps=np.zeros(k),
        correction_phase=(np.arange(k) + 0.5) / max(k, 1),
        latent_steps=np.zeros((k + 1, mp.n_latents - 1)),
        log_correction_duration=float(np.log(mp.correction_duration_s)),
    )


def _draw_steps(rng: np.random.Generator, mp: MotorParams) -> tuple[np.ndarray, np.ndarray]:
    """One draw of a plan's corrective lever steps (``(slots,)``, SD ``correction_mm`` in the
    first ``plan_corrections`` slots, mm) and latent steps (``(slots + 1, n_latents - 1)``, SD
    ``latent_step_sd x press_peak_mm`` for the press and each active correction, 0 elsewhere),
    in that order from ``rng``: the population's plan and each mouse's own part."""
    k = _slots(mp)
    n_c = min(mp.plan_corrections, k)
    corr = np.zeros(k)
    corr[:n_c] = mp.correction_mm * rng.standard_normal(n_c)
    lat = np.zeros((k + 1, mp.n_latents - 1))
    active = np.r_[True, np.arange(k) < n_c]
    lat[active] = (mp.latent_step_sd * mp.press_peak_mm) * rng.standard_normal(
        (int(active.sum()), mp.n_latents - 1)
    )
    return corr, lat


def population_plan(mp: MotorParams, seed: int = 0) -> MotorPlan:
    """The population's learned plan: the parameters' durations and press, corrective lever
    steps of SD ``correction_mm`` in the plan's correction slots, latent steps of SD
    ``latent_step_sd x press_peak_mm`` along dims 1.. for the press and each correction (the
    way through the latent space that mice share), drawn from ``seed`` (the cohort's seed)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7919, 1)))
    k = _slots(mp)
    corr, lat = _draw_steps(rng, mp)
    return MotorPlan(
        log_press_duration=float(np.log(mp.press_duration_s)),
        log_hold=float(np.log(max(mp.hold_s, 1e-3))),
        log_release_duration=float(np.log(mp.release_duration_s)),
        log_press_peak=float(np.log(mp.press_peak_mm)),
        correction_steps=corr,
        correction_phase=np.sort(rng.uniform(0.0, 1.0, k)),
        latent_steps=lat,
        log_correction_duration=float(np.log(mp.correction_duration_s)),
    )


def learned_plan(
    rng: np.random.Generator, mp: MotorParams, population: MotorPlan | None = None
) -> MotorPlan:
    """A mouse's learned plan: the population plan (:func:`population_plan`, default seed 0)
    made idiosyncratic.

    Durations and the press are log-normal around the population's (SD
    ``mouse_idiosyncrasy``); the corrective lever steps and the latent steps (the trajectory
    through the latent space) are ``sqrt(f) x`` the population's ``+ sqrt(1 - f) x`` the
    mouse's own draw of the same SD, ``f = shared_fraction``, scaled to the mouse's press;
    correction timings move by ``0.25 x sqrt(1 - f)`` of the hold (SD).
    """
    p = mp
    pop = population if population is not None else population_plan(mp)
    k = _slots(p)
    sd = p.mouse_idiosyncrasy
    f = p.shared_fraction
    a, b = np.sqrt(f), np.sqrt(1.0 - f)
    peak = p.press_peak_mm * np.exp(sd * 0.3 * rng.standard_normal())
    own_corr, lat_own = _draw_steps(rng, p)
    ratio = peak / p.press_peak_mm
    phase = np.clip(pop.correction_phase + 0.25 * b * rng.standard_normal(k), 0.0, 1.0)
    return MotorPlan(
        log_press_duration=float(pop.log_press_duration + sd * rng.standard_normal()),
        log_hold=float(pop.log_hold + sd * rng.standard_normal()),
        log_release_duration=float(pop.log_release_duration + sd * rng.standard_normal()),
        log_press_peak=float(np.log(peak)),
        correction_steps=a * pop.correction_steps + b * own_corr,
        correction_phase=np.sort(phase),
        latent_steps=ratio * (a * pop.latent_steps + b * lat_own),
        log_correction_duration=float(pop.log_correction_duration + sd * rng.standard_normal()),
    )


def plan_at(naive: MotorPlan, learned: MotorPlan, q: float) -> MotorPlan:
    """The plan at learning stage ``q`` (0 = naive, 1 = learned; linear in plan space)."""

    def mix(a, b):
        return (1.0 - q) * np.asarray(a, dtype=np.float64) + q * np.asarray(b, dtype=np.float64)

    return MotorPlan(
        log_press_duration=float(mix(naive.log_press_duration, learned.log_press_duration)),
        log_hold=float(mix(naive.log_hold, learned.log_hold)),
        log_release_duration=float(mix(naive.log_release_duration, learned.log_release_duration)),
        log_press_peak=float(mix(naive.log_press_peak, learned.log_press_peak)),
        correction_steps=mix(naive.correction_steps, learned.correction_steps),
        correction_phase=mix(naive.correction_phase, learned.correction_phase),
        latent_steps=mix(naive.latent_steps, learned.latent_steps),
        log_correction_duration=float(
            mix(naive.log_correction_duration, learned.log_correction_duration)
        ),
    )


@dataclass
class Submovements:
    """The sub-movements of one movement (arrays of equal length, in time order of onset).

    ``kind`` (str), ``onset`` (s after movement onset), ``duration`` (s), ``steps`` (n, D):
    latent steps, column 0 = lever step (mm).
    """

    kind: np.ndarray
    onset: np.ndarray
    duration: np.ndarray
    steps: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def end(self) -> float:
        return float(np.max(self.onset + self.duration)) if len(self) else 0.0

    def latent(self, tau: np.ndarray) -> np.ndarray:
        """Latent (len(tau), D) at ``tau`` s after movement onset (0 before, 0 after the end)."""
        tau = np.asarray(tau, dtype=np.float64)
        s = (tau[:, None] - self.onset[None, :]) / self.duration[None, :]
        return min_jerk(s) @ self.steps

    def table(self) -> pd.DataFrame:
        out = pd.DataFrame(
            {
                "index": np.arange(len(self)),
                "kind": self.kind.astype(str),
                "onset": self.onset,
                "duration": self.duration,
                "lever_step": self.steps[:, 0],
            }
        )
        for d in range(1, self.steps.shape[1]):
            out[f"latent{d}_step"] = self.steps[:, d]
        return out


def draw_movement(
    rng: np.random.Generator,
    mp: MotorParams,
    plan: MotorPlan,
    variability: float,
    amplitude_scale: float = 1.0,
) -> Submovements:
    """Draw one movement's sub-movements around ``plan`` with variability scale ``variability``.

    Parameters
    ----------
    rng : numpy Generator
    mp : MotorParams
    plan : the mouse's current plan (:func:`plan_at`)
    variability : float >= 0
        Scales every trial-to-trial SD of ``mp`` and the mean number of extra corrections.
    amplitude_scale : float
        Multiplies every step (spontaneous movements are smaller).

    Returns
    -------
    Submovements
        Press first, release last, each sub-movement at least 40 ms long; the lever level
        stays above 15 % of the press during the hold; the whole movement ends within
        ``max_duration_s`` (the hold is shortened if needed).
    """
    v = max(float(variability), 0.0)
    D = plan.n_latents
    k = len(plan.correction_steps)
    jit = v * mp.timing_sd
    d_press = np.exp(plan.log_press_duration + jit * rng.standard_normal())
    hold = np.exp(plan.log_hold + jit * rng.standard_normal())
    d_rel = np.exp(plan.log_release_duration + jit * rng.standard_normal())
    peak = amplitude_scale * np.exp(
        plan.log_press_peak + v * mp.amplitude_sd * rng.standard_normal()
    )
    d_min = 0.04
    d_press, d_rel = max(d_press, d_min), max(d_rel, d_min)
    hold = min(hold, mp.max_duration_s - d_press - d_rel)
    hold = max(hold, 0.0)
    # corrections: the plan's slots (dropped when negligible) plus Poisson extras
    lever_c = amplitude_scale * (
        plan.correction_steps * np.exp(v * mp.amplitude_sd * rng.standard_normal(k))
        + v * mp.correction_mm * rng.standard_normal(k)
    )
    lat_c = amplitude_scale * (
        plan.latent_steps[1:] + v * mp.latent_noise_sd * peak * rng.standard_normal((k, D - 1))
    )
    phase_c = np.clip(plan.correction_phase + 0.25 * v * rng.standard_normal(k), 0.0, 1.0)
    keep = np.abs(lever_c) + np.linalg.norm(lat_c, axis=1) > 0.05 * peak
    n_extra = int(rng.poisson(v * mp.extra_submovements))
    lever_x = amplitude_scale * v * mp.correction_mm * rng.standard_normal(n_extra)
    lat_x = amplitude_scale * v * mp.latent_noise_sd * peak * rng.standard_normal((n_extra, D - 1))
    c_lever = np.r_[lever_c[keep], lever_x]
    c_lat = np.vstack([lat_c[keep], lat_x])
    c_phase = np.r_[phase_c[keep], rng.uniform(0.0, 1.0, n_extra)]
    c_kind = np.array(["correction"] * int(keep.sum()) + ["extra"] * n_extra, dtype=object)
    n_c = len(c_lever)
    c_dur = np.maximum(np.exp(plan.log_correction_duration + jit * rng.standard_normal(n_c)), d_min)
    # corrections start during the hold (they may overlap the press's end and each other)
    press_end = d_press
    c_on = 0.8 * press_end + hold * c_phase
    order = np.argsort(c_on, kind="stable")
    c_on, c_dur, c_lever, c_lat, c_kind = (
        c_on[order],
        c_dur[order],
        c_lever[order],
        c_lat[order],
        c_kind[order],
    )
    # the lever stays pressed during the hold: level after each correction >= 15 % of peak
    level = peak
    for j in range(n_c):
        new = max(level + c_lever[j], 0.15 * peak)
        c_lever[j] = new - level
        level = new
    press_lat = amplitude_scale * (
        plan.latent_steps[0] + v * mp.latent_noise_sd * peak * rng.standard_normal(D - 1)
    )
    rel_on = max(press_end + hold, float(np.max(c_on + c_dur, initial=0.0)) - 0.5 * d_rel)
    rel_on = min(rel_on, mp.max_duration_s - d_rel)
    steps = np.zeros((n_c + 2, D))
    steps[0, 0], steps[0, 1:] = peak, press_lat
    steps[1 : n_c + 1, 0], steps[1 : n_c + 1, 1:] = c_lever, c_lat
    steps[-1] = -steps[:-1].sum(axis=0)  # the release brings every dimension back to rest
    onset = np.r_[0.0, np.minimum(c_on, rel_on), rel_on]
    duration = np.r_[
        d_press, np.minimum(c_dur, mp.max_duration_s - np.minimum(c_on, rel_on)), d_rel
    ]
    kind = np.r_[np.array(["press"], dtype=object), c_kind, np.array(["release"], dtype=object)]
    return Submovements(kind=kind, onset=onset, duration=duration, steps=steps)


@dataclass
class Movement:
    """One simulated movement, cued or spontaneous.

    ``samples`` is the lever displacement (mm) from ``onset`` at the lever rate (exactly 0 at
    onset and at the end); ``sub`` its sub-movements (the plan); ``deviation`` (n_samples, D),
    when set, the change of the executed motor latent from the plan on the same clock (an
    inactivation trial, m1.py) and ``m1_loss`` the fraction of M1's representation of the
    movement the light removed; ``variability`` and ``plan_stage`` the motor state it was
    drawn from.
    """

    kind: str
    onset: float
    samples: np.ndarray
    rate: float
    sub: Submovements
    trial: int = -1
    variability: float = np.nan
    plan_stage: float = np.nan
    light: bool = False
    deviation: np.ndarray | None = None
    m1_loss: float = np.nan

    @property
    def offset(self) -> float:
        return self.onset + (len(self.samples) - 1) / self.rate

    @property
    def duration(self) -> float:
        return (len(self.samples) - 1) / self.rate

    def position(self, tau: np.ndarray) -> np.ndarray:
        """Lever displacement (mm) at ``tau`` s after onset, 0 outside the movement."""
        t = np.arange(len(self.samples)) / self.rate
        return np.interp(tau, t, self.samples, left=0.0, right=0.0)

    def latent(self, tau: np.ndarray) -> np.ndarray:
        """Executed motor latent (len(tau), D) at ``tau`` s after onset (0 outside the
        movement): the plan's sub-movements plus ``deviation``."""
        tau = np.asarray(tau, dtype=np.float64)
        flat = tau.ravel()
        out = self.sub.latent(flat)
        if self.deviation is not None:
            t = np.arange(len(self.deviation)) / self.rate
            for d in range(out.shape[1]):
                out[:, d] += np.interp(flat, t, self.deviation[:, d], left=0.0, right=0.0)
        out[(flat < 0) | (flat > self.duration)] = 0.0
        return out.reshape(*tau.shape, -1)


def lever_readout(z0: np.ndarray, mp: MotorParams) -> np.ndarray:
    """Lever position (mm) from latent dimension 0: identity below ``saturation_knee_mm``, soft
    saturation towards ``max_displacement_mm`` above it (the lever's mechanical travel)."""
    knee, top = mp.saturation_knee_mm, mp.max_displacement_mm
    over = np.maximum(z0 - knee, 0.0)
    return np.where(z0 > knee, knee + (top - knee) * np.tanh(over / (top - knee)), z0)


def movement_from(
    sub: Submovements,
    kind: str,
    onset: float,
    rate: float,
    mp: MotorParams,
    rng: np.random.Generator | None = None,
    executed: Submovements | None = None,
    **info,
) -> Movement:
    """A :class:`Movement` sampling ``sub``'s lever readout at ``rate`` from ``onset``.

    ``executed`` (optional) are the sub-movements actually executed when they differ from the
    plan ``sub`` (an inactivation trial, m1.py): the lever reads out their latent, the movement
    lasts until the plan's end or, if later, until the executed latent last leaves
    ``REST_TOLERANCE x press_peak_mm`` of rest (a blend with a small weight on a longer naive
    twin is the plan up to a negligible tail: its length must not change the movement's
    duration, tremor taper and the session's later draws), and :attr:`Movement.deviation`
    keeps the change of the executed latent from the plan. With ``rng``, physiological tremor
    is added during the movement: OU noise (``tremor_tau_s``) of SD ``tremor_mm +
    tremor_fraction x position``, tapered to 0 at both ends (execution noise of the limb: part
    of the lever, not of the motor latent).
    """
    end = sub.end
    if executed is not None and executed.end > end:
        t = np.arange(int(np.floor(end * rate)), int(np.ceil(executed.end * rate)) + 1) / rate
        away = np.linalg.norm(executed.latent(t), axis=1) > REST_TOLERANCE * mp.press_peak_mm
        if away.any():
            end = max(end, float(t[np.flatnonzero(away)[-1]]))
    n = int(np.ceil(end * rate)) + 1
    tau = np.arange(n) / rate
    dev = None
    if executed is None:
        z0 = sub.latent(tau)[:, 0]
    else:
        z = executed.latent(tau)
        dev = z - sub.latent(tau)
        z0 = z[:, 0]
    x = lever_readout(z0, mp)
    if rng is not None and n > 2 and (mp.tremor_mm > 0 or mp.tremor_fraction > 0):
        from scipy.signal import lfilter

        a = np.exp(-1.0 / (mp.tremor_tau_s * rate))
        e = lfilter([np.sqrt(1 - a * a)], [1.0, -a], rng.standard_normal(n))
        taper = np.sqrt(np.abs(np.sin(np.pi * np.arange(n) / (n - 1))))
        x = x + e * (mp.tremor_mm + mp.tremor_fraction * np.abs(x)) * taper
    x[0] = 0.0
    x[-1] = 0.0
    return Movement(kind=kind, onset=onset, samples=x, rate=rate, sub=sub, deviation=dev, **info)


def blend(a: Submovements, b: Submovements, weight: float) -> Submovements:
    """Sub-movements whose latent is ``(1 - weight) a + weight b`` (both sets, steps scaled;
    in onset order). The latent is linear in the steps, so the blend starts and ends at rest."""
    w = float(weight)
    onset = np.r_[a.onset, b.onset]
    order = np.argsort(onset, kind="stable")
    return Submovements(
        kind=np.r_[a.kind, b.kind][order],
        onset=onset[order],
        duration=np.r_[a.duration, b.duration][order],
        steps=np.vstack([(1.0 - w) * a.steps, w * b.steps])[order],
    )


@dataclass
class MouseMotor:
    """A mouse's motor system: the naive and learned plans (fixed across sessions)."""

    params: MotorParams
    naive: MotorPlan
    learned: MotorPlan
    extra: dict = field(default_factory=dict)

    def plan(self, q: float) -> MotorPlan:
        return plan_at(self.naive, self.learned, float(np.clip(q, 0.0, 1.0)))

    def template(self, rate_hz: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
        """The learned movement without trial variability: times (s) and lever (mm)."""
        sub = draw_movement(np.random.default_rng(0), self.params, self.learned, 0.0)
        t = np.arange(int(np.ceil(sub.end * rate_hz)) + 1) / rate_hz
        return t, lever_readout(sub.latent(t)[:, 0], self.params)
