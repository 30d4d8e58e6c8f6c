"""Parameters of the in-silico experiment (:class:`SimulationConfig`) and its presets.

Every constant of the generative model is a parameter with a unit, a range and a doc line.
Learning-related quantities come as *naive* and *expert* values; the value used in a session of
mouse ``m`` is

    value(p) = naive + k[m, e] * p * (expert - naive),

where ``p`` in [0, 1] is the mouse's learning progress in that session and ``k[m, e]`` the
mouse's multiplier of effect ``e`` (:mod:`thalamocortex.simulate.effects`): ``effect_scale x
(1 + effect_mouse_sd x z[m, e])`` when the effect's switch in :class:`EffectSwitches` is on,
``null_mouse_change_sd x z[m, e]`` when it is off. :meth:`SimulationConfig.null` turns every
switch off: kind ``"zero"`` (every change exactly 0) and kind ``"varied"`` (mice change around
zero; a negative behavioural change runs backwards in time, ``null_negative_change``), the
null cohorts on which no analysis may reject more often than its nominal alpha.

Where the paper does not pin a number down, the default is a documented reconstruction (see
SCIENCE.md section 4) and says so in its doc line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from thalamocortex.config import ParamGroup, param

#: Experiments simulated by :func:`thalamocortex.simulate.cohort.simulate_cohort`, in the fixed
#: order used to derive random seeds.
SIM_EXPERIMENTS: tuple[str, ...] = ("axon_imaging", "all_optical", "inactivation")

#: Kinds of null cohort (:meth:`SimulationConfig.null`).
NULL_KINDS: tuple[str, ...] = ("zero", "varied")

#: Default spread of the varied null: each mouse's change has SD 0.5 x the default effect size,
#: larger than the spread of the effect cohorts (``effect_mouse_sd`` 0.3), so that the null
#: probes tests that ignore between-mouse variation hard (reconstruction; a parameter).
VARIED_NULL_MOUSE_CHANGE_SD = 0.5


class EffectSwitches(ParamGroup):
    """Independent on/off switches of every learning-related change (each one's size is
    ``effect_scale x effect_scales[switch]``)."""

    behavior_learning: bool = param(
        True,
        "",
        "behaviour changes with learning (motor plan, variability, RT, engagement, spont. rate)",
    )
    input_learning: bool = param(
        True, "", "input-region properties (movement fraction, reliability, encoding) change"
    )
    input_lead_shift: bool = param(
        True, "", "input regions' response lag shifts with learning (MTh: lagging -> leading)"
    )
    m1_refinement: bool = param(
        True,
        "",
        "the reward-gated covariance rule refines the thalamic weights W onto M1 neurons "
        "(circuit.refinement_rate x the mouse's multiplier; off = W stays naive)",
    )
    inactivation: bool = param(
        True, "", "light removes thalamic (or circuit.inactivation region) input to M1"
    )


class RegionState(ParamGroup):
    """Population properties of one input region at one learning stage."""

    movement_fraction: float = param(
        0.3, "", "fraction of axons whose activity is locked to movements", ge=0, le=1
    )
    lag_s: float = param(
        0.0, "s", "mean response onset of movement-related axons re movement onset (<0 leads)"
    )
    reliability: float = param(
        0.5, "", "probability that a movement-related axon responds on a given movement", ge=0, le=1
    )
    encoding: float = param(
        0.3,
        "",
        "weight e of the motor-latent-following part of a movement-related unit's drive, "
        "(1 - e) B(t) + e (|z| + l.z) / 2s: cosine tuning to the motor latent (0 = only the "
        "condition-invariant movement burst B; circuits.py)",
        ge=0,
        le=1,
    )


class RegionEffect(ParamGroup):
    """An input region's properties in naive and expert mice (interpolated with progress)."""

    naive: RegionState = Field(default_factory=RegionState)
    expert: RegionState = Field(default_factory=RegionState)
    quiescence_fraction: float = param(
        0.05, "", "fraction of axons that fire less during movement", ge=0, le=1
    )


def _mth() -> RegionEffect:
    # The paper's pattern for motor thalamus: more movement-related, more reliable, stronger
    # encoding of the learned trajectory and earlier (from lagging to leading the movement).
    return RegionEffect(
        naive=RegionState(movement_fraction=0.2, lag_s=0.1, reliability=0.35, encoding=0.15),
        expert=RegionState(movement_fraction=0.5, lag_s=-0.1, reliability=0.75, encoding=0.7),
        quiescence_fraction=0.05,
    )


def _cortical(name: str) -> RegionEffect:
    # Cortical inputs: little change (reconstruction; the paper reports no MTh-like refinement).
    base = {
        "M2": RegionState(movement_fraction=0.3, lag_s=-0.05, reliability=0.5, encoding=0.3),
        "S1": RegionState(movement_fraction=0.3, lag_s=0.15, reliability=0.5, encoding=0.25),
        "cM1": RegionState(movement_fraction=0.25, lag_s=0.05, reliability=0.45, encoding=0.2),
    }[name]
    expert = base.model_copy(
        update={
            "movement_fraction": base.movement_fraction + 0.03,
            "reliability": base.reliability + 0.03,
        }
    )
    return RegionEffect(naive=base, expert=expert, quiescence_fraction=0.08)


def default_regions() -> dict[str, RegionEffect]:
    return {"MTh": _mth(), "M2": _cortical("M2"), "S1": _cortical("S1"), "cM1": _cortical("cM1")}


class LearningParams(ParamGroup):
    """Learning progress p(s) of a mouse across training sessions."""

    n_days: int = param(
        14, "sessions", "length of training; p reaches 1 at this session", ge=2, le=100
    )
    tau_sessions: float = param(
        4.0, "sessions", "time constant of the saturating-exponential learning curve", gt=0
    )
    tau_jitter_sd: float = param(
        0.25, "log units", "per-mouse SD of log(tau): individual learning rates", ge=0
    )
    naive_max_progress: float = param(
        0.25, "", "sessions with p below this are labelled 'naive'", ge=0, le=1
    )
    expert_min_progress: float = param(
        0.92, "", "sessions with p at or above this are labelled 'expert'", ge=0, le=1
    )


class MotorParams(ParamGroup):
    """The motor process: sub-movements in a low-dimensional motor latent, read out into the lever.

    A movement is a sequence of minimum-jerk sub-movements (Flash & Hogan 1985): a press, some
    corrective sub-movements during the hold, and a release back to rest. Each sub-movement is a
    smooth step of the ``n_latents``-dimensional motor latent; latent dimension 0 is read out as
    the lever position (mm), the others are motor dimensions the lever does not show. Every
    mouse has a *learned plan* (the population plan perturbed by ``mouse_idiosyncrasy``); naive
    mice start from a shared generic plan (slower, smaller press, longer hold, more corrections)
    and their trial-to-trial variability is large. Learning moves the plan to the mouse's own
    and shrinks the variability (``variability_naive`` -> ``variability_expert``), so the lever
    of experts is stereotyped without any template weight being written in.

    Task-level numbers follow the Komiyama-lab cued lever press (Peters, Chen & Komiyama 2014;
    Peters et al. 2017): a forelimb press past a threshold within a response window, movements
    of a few hundred ms to ~2 s, faster and more stereotyped in experts. The exact kinematic
    constants are a documented reconstruction (parameters).
    """

    n_latents: int = param(3, "", "dimensions of the motor latent (dim 0 = lever readout)", ge=1)
    press_peak_mm: float = param(
        2.4, "mm", "lever displacement of the press in the population's learned plan", gt=0
    )
    press_duration_s: float = param(
        0.2, "s", "duration of the press sub-movement in the learned plan", gt=0
    )
    hold_s: float = param(0.5, "s", "hold between press and release in the learned plan", ge=0)
    release_duration_s: float = param(
        0.25, "s", "duration of the release sub-movement in the learned plan", gt=0
    )
    plan_corrections: int = param(
        1, "", "corrective sub-movements during the hold in the learned plan", ge=0, le=6
    )
    naive_press_peak_mm: float = param(
        1.5, "mm", "press displacement of the generic naive plan (shared by naive mice)", gt=0
    )
    naive_press_duration_s: float = param(0.4, "s", "press duration, naive plan", gt=0)
    naive_hold_s: float = param(1.0, "s", "hold, naive plan", ge=0)
    naive_release_duration_s: float = param(0.45, "s", "release duration, naive plan", gt=0)
    naive_corrections: int = param(2, "", "corrective sub-movements, naive plan", ge=0, le=6)
    correction_mm: float = param(
        0.9, "mm", "SD of the lever step of a corrective sub-movement at variability 1", ge=0
    )
    correction_duration_s: float = param(
        0.15, "s", "median duration of a corrective sub-movement", gt=0
    )
    latent_step_sd: float = param(
        0.8,
        "",
        "SD of a sub-movement's step along latent dims 1.., relative to the press peak",
        ge=0,
    )
    mouse_idiosyncrasy: float = param(
        0.35,
        "",
        "SD of a mouse's learned plan around the population plan (log units for durations and "
        "amplitude; relative to correction_mm for the plan's corrective lever steps)",
        ge=0,
    )
    shared_fraction: float = param(
        0.85,
        "",
        "shared-latent fraction: a mouse's learned latent steps (dims 1..) are sqrt(f) x the "
        "population's + sqrt(1 - f) x its own (same SD), so the motor latent trajectory of the "
        "learned movement is shared across mice up to this idiosyncrasy (1 = identical plans, "
        "0 = every mouse its own latent path)",
        ge=0,
        le=1,
    )
    variability_naive: float = param(
        1.0, "", "trial-to-trial variability scale in naive mice (multiplies the SDs below)", ge=0
    )
    variability_expert: float = param(0.6, "", "trial-to-trial variability scale in experts", ge=0)
    amplitude_sd: float = param(
        0.35, "log units", "per-movement SD of sub-movement amplitudes at variability 1", ge=0
    )
    timing_sd: float = param(
        0.8, "log units", "per-movement SD of durations and hold at variability 1", ge=0
    )
    latent_noise_sd: float = param(
        0.8, "", "per-movement SD of latent steps (dims 1..) at variability 1", ge=0
    )
    extra_submovements: float = param(
        2.5, "", "mean number of extra corrective sub-movements at variability 1", ge=0
    )
    tremor_mm: float = param(
        0.03, "mm", "SD of the physiological tremor of the lever during a movement", ge=0
    )
    tremor_fraction: float = param(
        0.015, "", "tremor SD growing with the displacement (fraction of the position)", ge=0
    )
    tremor_tau_s: float = param(0.05, "s", "correlation time of the tremor (OU)", gt=0)
    max_displacement_mm: float = param(
        4.5, "mm", "mechanical end of the lever's travel (soft saturation above the knee)", gt=0
    )
    saturation_knee_mm: float = param(
        3.0, "mm", "displacements above this are compressed towards max_displacement_mm", gt=0
    )
    max_duration_s: float = param(3.0, "s", "movements are cut to end within this time", gt=0)

    @model_validator(mode="after")
    def _check(self) -> MotorParams:
        shortest = self.press_duration_s + self.release_duration_s
        if shortest >= self.max_duration_s:
            raise ValueError("max_duration_s must exceed press_duration_s + release_duration_s")
        if self.saturation_knee_mm >= self.max_displacement_mm:
            raise ValueError("saturation_knee_mm must be below max_displacement_mm")
        return self


class BehaviorSimParams(ParamGroup):
    """Task (cues, responses, rewards), lever sensor and the motor process.

    The Komiyama-lab cued lever press (Peters, Chen & Komiyama 2014; Peters et al. 2017): a
    tone cue, a forelimb press of the lever past a threshold within a response window, a water
    reward; movements between trials are spontaneous. Threshold, window and inter-trial
    intervals here are a reconstruction at the task papers' scale (parameters)."""

    lever_rate_hz: float = param(1000.0, "Hz", "lever sampling rate", ge=500)
    n_trials: int = param(60, "trials", "cued trials per session", ge=1)
    pre_session_s: float = param(5.0, "s", "time before the first cue", ge=0)
    post_session_s: float = param(5.0, "s", "time after the last trial ends", ge=0)
    iti_min_s: float = param(4.0, "s", "minimum inter-trial interval after the response", ge=0)
    iti_max_s: float = param(8.0, "s", "maximum inter-trial interval after the response", ge=0)
    response_window_s: float = param(3.0, "s", "time after the cue to cross the threshold", gt=0)
    threshold_mm: float = param(1.5, "mm", "reward threshold of the lever position", gt=0)
    reward_delay_s: float = param(0.05, "s", "delay from threshold crossing to reward", ge=0)
    rest_noise_mm: float = param(0.01, "mm", "SD of white sensor noise at rest", ge=0)
    drift_sd_mm: float = param(0.02, "mm", "SD of the slow resting-position drift", ge=0)
    drift_tau_s: float = param(20.0, "s", "time constant of the resting drift (OU)", gt=0)
    line_noise_mm: float = param(0.003, "mm", "amplitude of 50 Hz mains pick-up", ge=0)
    motor: MotorParams = Field(default_factory=MotorParams)
    # learning-dependent task behaviour
    rt_median_naive_s: float = param(1.0, "s", "median reaction time, naive", gt=0)
    rt_median_expert_s: float = param(0.35, "s", "median reaction time, expert", gt=0)
    rt_sigma: float = param(0.4, "log units", "SD of log reaction time", ge=0)
    p_engage_naive: float = param(0.6, "", "probability of responding to a cue, naive", ge=0, le=1)
    p_engage_expert: float = param(
        0.95, "", "probability of responding to a cue, expert", ge=0, le=1
    )
    spont_rate_naive_hz: float = param(
        0.08, "Hz", "rate of spontaneous inter-trial movements, naive", ge=0
    )
    spont_rate_expert_hz: float = param(0.03, "Hz", "spontaneous movement rate, expert", ge=0)
    spont_amplitude_scale: float = param(
        0.5, "", "amplitude of spontaneous movements relative to cued ones", gt=0
    )
    p_precue_movement: float = param(
        0.08, "", "per-trial probability of a spontaneous movement just before the cue", ge=0, le=1
    )

    @model_validator(mode="after")
    def _check(self) -> BehaviorSimParams:
        if self.iti_max_s < self.iti_min_s:
            raise ValueError("iti_max_s must be >= iti_min_s")
        return self


class IndicatorParams(ParamGroup):
    """Calcium indicator: per-spike calcium transient and the indicator's Hill nonlinearity.

    Calcium per spike: a double exponential (``rise_s``, ``decay_s``) of unit peak. Fluorescence:
    a Hill function of total calcium with resting level ``resting_ca_nm``, dissociation constant
    ``kd_nm``, coefficient ``hill`` and dynamic range ``dynamic_range`` (F_max / F_min)::

        dF/F(c) = (h(c0 + c) - h(c0)) / (h(c0) + 1 / (R - 1)),  h(x) = x^n / (x^n + Kd^n)

    The calcium step of one spike is calibrated so that one isolated action potential peaks at
    ``amplitude_1ap_dff``; several spikes then add supralinearly (cooperative binding) and
    saturate towards ``(1 - h(c0)) / (h(c0) + 1 / (R - 1))``. Cells differ in their response
    (expression level, cell size): log-normal spread of the per-spike calcium step
    (``cell_amplitude_sd``) and of the decay (``cell_decay_sd``), as the spike-fluorescence
    ground truth shows (Rupprecht et al. 2021; Huang et al. 2021).

    Defaults (GCaMP6s): Kd 144 nM, Hill 2.9, dynamic range ~63 in vitro (Chen et al. 2013,
    Table 1); one action potential ~0.2 dF/F in vivo with a time to peak of ~0.15-0.2 s
    (Chen et al. 2013, Fig. 3; transgenic lines are dimmer, Huang et al. 2021); decay time
    constant ~1.2-1.5 s (suite2p's documented ``tau`` for GCaMP6s). :func:`indicator_preset`
    gives jGCaMP7f (Dana et al. 2019) and jGCaMP8m (Zhang et al. 2023). Values are rounded from
    the papers' summary figures: a reconstruction, check them against your indicator.
    """

    name: str = param("GCaMP6s", "", "indicator name written to the session metadata")
    rise_s: float = param(0.07, "s", "rise time constant of the per-spike calcium transient", gt=0)
    decay_s: float = param(1.5, "s", "decay time constant of the per-spike transient", gt=0)
    amplitude_1ap_dff: float = param(
        0.2, "dF/F", "peak dF/F of one isolated action potential (median cell)", gt=0
    )
    kd_nm: float = param(144.0, "nM", "apparent dissociation constant", gt=0)
    hill: float = param(2.9, "", "Hill coefficient (cooperativity)", gt=0)
    dynamic_range: float = param(63.0, "", "F_max / F_min of the indicator", gt=1)
    resting_ca_nm: float = param(50.0, "nM", "resting free calcium", gt=0)
    cell_amplitude_sd: float = param(
        0.35, "log units", "spread across cells of the per-spike calcium step", ge=0
    )
    cell_decay_sd: float = param(
        0.2, "log units", "spread across cells of the decay time constant", ge=0
    )


#: indicator presets (see IndicatorParams); rounded literature values, a reconstruction
INDICATORS: dict[str, dict] = {
    # Chen et al. 2013 (Nature 499:295): GCaMP6s
    "GCaMP6s": dict(
        rise_s=0.07, decay_s=1.5, amplitude_1ap_dff=0.2, kd_nm=144.0, hill=2.9, dynamic_range=63.0
    ),
    # Dana et al. 2019 (Nat Methods 16:649): jGCaMP7f, faster decay (~0.3 s half-decay)
    "GCaMP7f": dict(
        rise_s=0.03, decay_s=0.45, amplitude_1ap_dff=0.25, kd_nm=174.0, hill=2.3, dynamic_range=30.0
    ),
    # Zhang et al. 2023 (Nature 615:884): jGCaMP8m, half-rise ~2 ms, large 1-AP response
    "GCaMP8m": dict(
        rise_s=0.008, decay_s=0.3, amplitude_1ap_dff=0.35, kd_nm=108.0, hill=1.9, dynamic_range=40.0
    ),
}


def indicator_preset(name: str) -> IndicatorParams:
    """Indicator model ``GCaMP6s`` (Chen 2013), ``GCaMP7f`` (Dana 2019) or ``GCaMP8m``
    (Zhang 2023); see :class:`IndicatorParams` for what the numbers mean and where they come
    from."""
    if name not in INDICATORS:
        raise ValueError(
            f"indicator_preset: unknown indicator {name!r}; known {sorted(INDICATORS)}"
        )
    return IndicatorParams(name=name, **INDICATORS[name])


class SpikingParams(ParamGroup):
    """Sparse, bursty, heterogeneous spiking of one population (somata or axons).

    Each unit fires isolated spikes (Poisson, rate ``isolated_rate_hz``) and bursts (Poisson
    onsets, rate ``burst_rate_hz``; 1 + negative-binomial spikes, mean ``burst_size_mean``,
    ``burst_isi_s`` apart) with log-normal rates across units (correlated), a fraction of
    nearly silent units, and an absolute refractory period (no more than one spike per
    ``refractory_s``). Movement modulation (circuits.py) raises the burst probability, the
    burst size and the isolated rate of movement-related units; it does not add a smooth bump.
    """

    isolated_rate_hz: float = param(0.3, "Hz", "median rate of isolated spikes", ge=0)
    burst_rate_hz: float = param(0.05, "Hz", "median rate of spontaneous bursts", ge=0)
    rate_sd: float = param(0.8, "log units", "spread of both rates across units", ge=0)
    rate_burst_correlation: float = param(
        0.6, "", "correlation of log isolated and log burst rates across units", ge=-1, le=1
    )
    burst_size_mean: float = param(6.0, "spikes", "mean spikes per burst", ge=1)
    burst_size_dispersion: float = param(
        3.0, "", "negative-binomial shape of the burst size (smaller = heavier tail)", gt=0
    )
    burst_isi_s: float = param(0.01, "s", "interval between spikes within a burst", gt=0)
    refractory_s: float = param(0.0025, "s", "absolute refractory period", gt=0)
    silent_fraction: float = param(
        0.15, "", "fraction of nearly silent units (rates x silent_scale)", ge=0, le=1
    )
    silent_scale: float = param(0.1, "", "rate multiplier of silent units", ge=0, le=1)


def _axon_spiking() -> SpikingParams:
    # thalamic and cortical axons fire more than L2/3 somata; smaller bursts (reconstruction)
    return SpikingParams(
        isolated_rate_hz=0.8, burst_rate_hz=0.12, burst_size_mean=3.0, silent_fraction=0.1
    )


class MeasurementParams(ParamGroup):
    """Two-photon measurement: frame rate, indicator, photon budget, neuropil, noise, bleaching.

    **Photon budget** (shared by traces and movies). A pixel's dwell time is
    ``fill_fraction / (frame_rate x scan_lines x scan_pixels_per_line)``; the neuropil gives
    ``neuropil_photon_rate`` detected photons per microsecond of dwell, so it yields
    ``rate x dwell`` photons per pixel per frame (~5.5 at 30 Hz on a 128 x 128 scan, as in the
    real reference movie): halving the frame rate doubles the photons per frame. Every other
    structure's brightness is relative to the neuropil (:class:`FieldParams`). Trace-level F and
    Fneu are the weighted pixel means of that scene over each ROI's mask and neuropil mask
    (suite2p's convention, photons per pixel per frame), so they follow from the same footprints
    and brightness the movies render; their noise is the shot noise of the pixels they average
    (plus read noise).
    """

    frame_rate_hz: float = param(30.0, "Hz", "imaging frame rate", gt=0)
    indicator: IndicatorParams = Field(default_factory=IndicatorParams)
    scan_lines: int = param(128, "lines", "lines per frame of the scan", ge=8)
    scan_pixels_per_line: int = param(128, "px", "pixels per line of the scan", ge=8)
    fill_fraction: float = param(
        0.7, "", "fraction of the frame time spent acquiring pixels (resonant scan)", gt=0, le=1
    )
    neuropil_photon_rate: float = param(
        2.2,
        "photons/us",
        "detected photons per microsecond of pixel dwell from the mean neuropil (labelling x "
        "laser power x collection); 2.2 gives ~3.1 photons/px/frame at 30 Hz on 128 x 128 px "
        "(~4 in neuropil masks, which avoid vessels and somata): the reference movie has ~4.8 "
        "by photon transfer on flat pixels",
        gt=0,
    )
    axon_field_photon_scale: float = param(
        0.4,
        "",
        "photon rate of an axon-imaging field's neuropil relative to a somatic field's (only the "
        "imaged region's axons carry the indicator: a dark field with bright puncta, so boutons "
        "end up dimmer and noisier than somata)",
        gt=0,
    )
    read_noise_photons: float = param(
        0.3, "photons/px/frame", "SD of Gaussian read noise per pixel", ge=0
    )
    shot_noise: bool = param(True, "", "photon shot noise")
    shot_noise_exact: bool = param(
        False,
        "",
        "trace-level: draw exact Poisson counts of the pixel sum; otherwise Gaussian with "
        "variance = mean (accurate above ~20 photons per ROI and frame, faster)",
    )
    digitize_step_photons: float = param(
        1.0 / 64.0,
        "photons/px/frame",
        "F and Fneu are stored rounded to this step (far below the shot noise; compresses); 0 = "
        "no rounding",
        ge=0,
    )
    neuropil_slow_sd: float = param(
        0.05, "dF/F", "SD of the slow, field-wide neuropil fluctuation", ge=0
    )
    neuropil_slow_tau_s: float = param(15.0, "s", "time constant of the slow neuropil", gt=0)
    neuropil_movement_dff: float = param(
        0.12, "dF/F", "neuropil dF/F locked to movement (peak, field-wide)", ge=0
    )
    neuropil_population_gain: float = param(
        0.3, "", "neuropil dF/F per unit mean dF/F of the imaged units", ge=0
    )
    neuropil_patch_sd: float = param(
        0.05, "dF/F", "SD of the local fluctuation of each neuropil patch", ge=0
    )
    neuropil_patch_tau_s: float = param(4.0, "s", "time constant of the local neuropil", gt=0)
    bleach_per_min: float = param(
        0.005, "1/min", "bleaching rate: brightness x exp(-rate x t), from 1 at the start", ge=0
    )
    drift_sd: float = param(0.02, "", "SD of slow multiplicative baseline drift", ge=0)
    drift_tau_s: float = param(60.0, "s", "time constant of baseline drift", gt=0)
    artefact_photons_px: float = param(
        200.0,
        "photons/px/frame",
        "added brightness of pixels scanned during stimulation light",
        ge=0,
    )

    def dwell_us(self, frame_rate_hz: float | None = None) -> float:
        """Pixel dwell time (microseconds) at ``frame_rate_hz`` (default: this frame rate)."""
        fr = self.frame_rate_hz if frame_rate_hz is None else frame_rate_hz
        return 1e6 * self.fill_fraction / (fr * self.scan_lines * self.scan_pixels_per_line)

    def neuropil_photons(self, frame_rate_hz: float | None = None) -> float:
        """Neuropil photons per pixel per frame at ``frame_rate_hz``."""
        return self.neuropil_photon_rate * self.dwell_us(frame_rate_hz)


class FieldParams(ParamGroup):
    """Field of view: geometry and brightness (relative to the neuropil) of every structure.

    Somata: ring-shaped cytosolic label with a darker nucleus, sizes and ellipticity drawn per
    cell, brightness spread over about a decade (log-normal), some nuclear-filled cells, some
    overlapping neighbours; out-of-focus cells (blurred, dimmer, active); neurites and vessel
    shadows in the neuropil. Boutons: Gaussian puncta along visible axon segments (the shaft is
    dim), plus puncta that are no bouton of the imaged axons. A soma pixel keeps
    ``neuropil_contamination`` of the in-focus neuropil (the rest is displaced by the soma); the
    out-of-focus light of the neuropil reaches it fully, so Fneu / F of somata is ~0.6-1.1 as in
    real recordings.
    """

    height_px: int = param(
        64, "px", "minimum field height (enlarged to fit the ROIs)", ge=16, le=4096
    )
    width_px: int = param(
        64, "px", "minimum field width (enlarged to fit the ROIs)", ge=16, le=4096
    )
    margin_px: int = param(6, "px", "ROIs keep this distance (+ radius) from the edge", ge=0)
    soma_diameter_px: float = param(
        5.0,
        "px",
        "median soma diameter (the reference movie's scale: suite2p ROIs of ~35 px, radius ~2.6)",
        gt=1,
    )
    soma_diameter_sd: float = param(0.12, "log units", "spread of soma diameters", ge=0)
    soma_ellipticity_sd: float = param(
        0.3, "log units", "spread of the soma aspect ratio (0 = round)", ge=0
    )
    nucleus_fraction: float = param(
        0.55, "", "nucleus diameter relative to the soma diameter", ge=0, lt=1
    )
    nucleus_brightness: float = param(
        0.3, "", "brightness of the nucleus relative to the cytoplasm", ge=0, le=1
    )
    filled_fraction: float = param(
        0.08,
        "",
        "fraction of nuclear-filled somata (uniformly bright, x2.5, unhealthy: they fire half as "
        "much)",
        ge=0,
        le=1,
    )
    min_soma_distance: float = param(
        0.85, "diameters", "minimum centre distance between somata (< 1: some overlap)", gt=0
    )
    soma_brightness: float = param(
        0.38,
        "",
        "median brightness of a soma's own label per pixel, relative to the neuropil",
        gt=0,
    )
    soma_brightness_sd: float = param(
        0.55,
        "log units",
        "spread of soma brightness (0.55: ~a decade between 2nd and 98th pct)",
        ge=0,
    )
    neuropil_contamination: float = param(
        0.6,
        "",
        "mean fraction of the in-focus neuropil's light kept inside a soma's body; with the soft "
        "soma edges the contamination an extraction sees is ~0.8 (ground truth neuropil_coef)",
        ge=0,
        le=1,
    )
    neuropil_contamination_sd: float = param(0.1, "", "spread of it across somata", ge=0)
    out_of_focus_per_soma: float = param(
        0.5, "", "out-of-focus cells per in-focus soma (blurred, active, not ROIs)", ge=0
    )
    out_of_focus_blur_px: float = param(2.5, "px", "Gaussian blur of out-of-focus cells", ge=0)
    out_of_focus_brightness: float = param(
        0.35, "", "peak brightness of an out-of-focus cell relative to the neuropil", ge=0
    )
    neuropil_spatial_cv: float = param(
        0.15, "", "spatial coefficient of variation of the neuropil brightness", ge=0
    )
    neuropil_patches: int = param(
        6, "", "neuropil patches per 100 x 100 px with their own local fluctuation", ge=0
    )
    neuropil_patch_sigma_px: float = param(15.0, "px", "size (SD) of a neuropil patch", gt=0)
    neurites_per_10k_px: float = param(15.0, "", "neurite segments per 100 x 100 px of field", ge=0)
    neurite_brightness: float = param(
        0.35, "", "extra brightness along a neurite, relative to the neuropil", ge=0
    )
    vessels_per_10k_px: float = param(1.0, "", "vessels crossing a 100 x 100 px field", ge=0)
    vessel_width_px: float = param(6.0, "px", "median vessel width", gt=0)
    vessel_transmission: float = param(
        0.25, "", "brightness left inside a vessel shadow", ge=0, le=1
    )
    bouton_sigma_px: float = param(0.9, "px", "SD of a bouton's Gaussian punctum", gt=0)
    bouton_spacing_px: float = param(
        7.0, "px", "mean spacing of boutons along an axon's path", gt=0
    )
    bouton_min_distance_px: float = param(
        2.5,
        "px",
        "boutons keep at least this centre distance from every other bouton (about one punctum "
        "FWHM plus a margin); a crowded field keeps the last in-field candidate after 50 tries",
        ge=0,
    )
    bouton_area_px2: float = param(
        70.0,
        "px^2",
        "field area (inside the margins) per bouton when the field is fitted to the ROIs "
        "(~16 punctum FWHM^2 per bouton)",
        gt=0,
    )
    bouton_brightness: float = param(
        1.2, "", "median peak brightness of a bouton, relative to the neuropil", gt=0
    )
    bouton_brightness_sd: float = param(0.4, "log units", "spread of bouton brightness", ge=0)
    axon_shaft_brightness: float = param(
        0.25, "", "brightness of the axon shaft between boutons, relative to the neuropil", ge=0
    )
    stray_puncta_per_10k_px: float = param(
        25.0,
        "",
        "puncta that are no ROI (boutons of other axons, lipofuscin) per 100 x 100 px",
        ge=0,
    )
    stray_punctum_brightness: float = param(
        1.5, "", "median peak brightness of a stray punctum, relative to the neuropil", ge=0
    )


class AxonImagingParams(ParamGroup):
    """Longitudinal axonal imaging of input regions in M1 L2/3 (one region per mouse)."""

    regions: dict[str, RegionEffect] = Field(
        default_factory=default_regions,
        description="input region -> naive/expert population properties",
    )
    mice_per_region: int = param(2, "mice", "mice imaged per input region", ge=0)
    sessions: list[int] = Field(
        default_factory=lambda: list(range(1, 15)), description="imaged session numbers"
    )
    n_axons: int = param(40, "axons", "axons in the field of view (same axons every session)", ge=1)
    boutons_per_axon_mean: float = param(
        2.5, "boutons", "mean boutons per axon (1 + geometric)", ge=1
    )
    max_boutons_per_axon: int = param(8, "boutons", "cap on boutons per axon", ge=1)
    spiking: SpikingParams = Field(default_factory=_axon_spiking)
    response_bursts: float = param(
        1.5, "bursts", "expected bursts of a responding axon per movement at full drive", ge=0
    )
    response_size_gain: float = param(
        0.5, "", "relative increase of the burst size at full movement drive", ge=0
    )
    response_rate_gain: float = param(
        3.0, "", "relative increase of the isolated-spike rate at full movement drive", ge=0
    )
    response_width_s: float = param(0.6, "s", "width of the generic movement response", gt=0)
    lag_sd_s: float = param(0.15, "s", "SD of response lags across axons of a region", ge=0)
    reliability_sd: float = param(0.1, "", "SD of reliability across axons", ge=0)
    encoding_sd: float = param(0.1, "", "SD of encoding across axons", ge=0)
    amplitude_jitter_sd: float = param(
        0.3, "log units", "movement-to-movement jitter of an axon's drive", ge=0
    )
    quiescence_suppression: float = param(
        0.8, "", "fractional rate drop of quiescence-related axons during movement", ge=0, le=1
    )
    quiescence_rate_gain: float = param(
        3.0, "", "resting rates of quiescence-related axons relative to the others", ge=1
    )
    bouton_gain_sd: float = param(
        0.3, "log units", "SD of the per-bouton calcium step (bouton size, expression)", ge=0
    )
    bouton_failure: float = param(
        0.05, "", "probability that a bouton's calcium misses an axon spike", ge=0, le=1
    )
    bouton_extra_rate_hz: float = param(
        0.05, "Hz", "rate of spikes seen by one bouton only (local events, crosstalk)", ge=0
    )


class LatentParams(ParamGroup):
    """Private latents: each mouse's own, behaviour-unrelated state (circuits.py).

    Every mouse has ``n_private`` latents ``zeta(t)``, independent stationary OU processes (unit
    variance, time constant ``private_tau_s``) that run through the whole session independently
    of the task. Every unit ``j`` of the mouse (input axons, thalamic and cortical inputs of the
    circuit, M1 neurons) has a random loading ``q_j ~ N(0, I / n_private)`` on them and its
    rates are gain-modulated, ``rate x exp(private_sd q_j.zeta(t) - private_sd^2 |q_j|^2 / 2)``
    (a log-rate latent, as in latent-variable models of population activity, with the mean
    rate unchanged). ``private_sd = 0`` switches them off.
    """

    n_private: int = param(2, "", "private latent dimensions per mouse", ge=1, le=16)
    private_sd: float = param(
        0.5, "log units", "SD of the private latents' log-rate modulation of every unit", ge=0
    )
    private_tau_s: float = param(2.0, "s", "time constant of the private latents (OU)", gt=0)


class M1Params(ParamGroup):
    """All-optical cohort: M1 L2/3 neurons imaged during the task, then photostimulation of the
    thalamic axons in the field. The neurons' activity comes from the circuit
    (:class:`CircuitParams`, m1.py); these parameters set the cohort, the spiking regime, the
    light and the ground-truth labels."""

    n_opsin_mice: int = param(1, "mice", "mice expressing the opsin in motor thalamus", ge=0)
    n_no_opsin_mice: int = param(1, "mice", "no-opsin control mice", ge=0)
    sessions: list[int] = Field(
        default_factory=lambda: [1, 14], description="imaged sessions (naive, expert)"
    )
    n_neurons: int = param(150, "neurons", "M1 L2/3 neurons (same neurons every session)", ge=1)
    spiking: SpikingParams = Field(default_factory=SpikingParams)
    response_bursts: float = param(
        0.7,
        "bursts",
        "bursts added per movement-long drive of 1 (burst rate + drive x 2 x response_bursts / "
        "response_width_s)",
        ge=0,
    )
    response_size_gain: float = param(
        0.5, "", "relative increase of the burst size per unit of positive drive", ge=0
    )
    response_rate_gain: float = param(
        2.0, "", "relative increase of the isolated-spike rate per unit of positive drive", ge=0
    )
    response_width_s: float = param(
        0.8, "s", "time scale converting drive into added bursts (see response_bursts)", gt=0
    )
    n_pulses: int = param(40, "pulses", "photostimulation pulses after the task", ge=0)
    pulse_duration_s: float = param(1.0, "s", "duration of one pulse", gt=0)
    isi_min_s: float = param(10.0, "s", "minimum inter-pulse interval", gt=0)
    isi_max_s: float = param(15.0, "s", "maximum inter-pulse interval", gt=0)
    power_mw: float = param(5.0, "mW", "light power of a pulse", ge=0)
    wavelength_nm: float = param(635.0, "nm", "photostimulation wavelength (red-shifted opsin)")
    opsin: str = param("ChrimsonR", "", "red-shifted opsin expressed in motor thalamus")
    opsin_fraction: float = param(
        0.8, "", "fraction of the thalamic axons in the field that express the opsin", ge=0, le=1
    )
    stim_drive: float = param(
        2.0,
        "",
        "drive added to a recruited thalamic axon during a pulse (relative rate increase; "
        "circuits' drive units)",
        ge=0,
    )
    recruit_max: float = param(
        0.9,
        "",
        "probability that an opsin axon is recruited by a pulse at saturating power",
        ge=0,
        le=1,
    )
    recruit_half_mw: float = param(
        2.0,
        "mW",
        "power recruiting half of recruit_max: P(recruited) = recruit_max x P / (P + this); the "
        "rest are failures, drawn per axon and pulse",
        gt=0,
    )
    response_decay_s: float = param(0.5, "s", "decay of the thalamic drive after the pulse", gt=0)
    gap_before_stim_s: float = param(10.0, "s", "pause between task and stimulation block", ge=0)
    expected_effect_z: float = param(
        0.5,
        "noise SD",
        "ground truth: a neuron is 'expected activated' ('suppressed') when the circuit's "
        "expected pulse response (mean dF/F in the window after the pulse minus the window "
        "before) is >= this (<= -this) x the neuron's frame noise SD (spiking + shot/read "
        "noise); the same scale as the opto analysis' min_effect_z",
        gt=0,
    )
    truth_pulses: int = param(
        100,
        "pulses",
        "virtual pulses simulated (own random stream) to estimate each neuron's expected "
        "response for the ground truth",
        ge=10,
    )
    truth_window_s: float = param(
        1.0, "s", "pre- and post-pulse windows of the ground-truth response", gt=0
    )
    encoding_threshold: float = param(
        0.1,
        "",
        "ground truth: a neuron is movement-related when its noise-free circuit output averaged "
        "0-1.5 s after the session's cued movement onsets is >= this (drive units; <= -this: "
        "quiescence-related)",
        gt=0,
    )


class CircuitParams(ParamGroup):
    """The M1 L2/3 circuit of all-optical and inactivation mice (m1.py).

    M1 neuron ``i``'s net input (drive units, 0 = rest) is

        x_i(t) = sum_j W_ij a_j(t) - iota_i g_I mean_j a_j(t)
                 + sum_r kappa_ir (c_ir(t) - cortical_ffi mean_units c_r(t))

    with ``a_j`` the drives of ``n_thalamic`` thalamic axons (the ``thalamic_region``'s
    population model at the mouse's learning stage), balanced feed-forward inhibition driven by
    the pooled thalamic activity (``g_I = ffi_ratio x weight_mean``, ``iota_i`` in proportion
    to the neuron's naive row sum: a thalamic volley excites or suppresses a neuron by how its
    weights fall on the active axons) and one input unit ``c_ir`` of every other region ``r``
    of ``axon_imaging.regions``, with its own balanced inhibition. The output is rectified and
    saturating, ``y_i = max(x_i, -1)`` below 0 (-1 = silent), ``output_max tanh(x_i /
    output_max)`` above, and sets the neuron's sparse bursty spiking. Learning refines ``W`` by
    a reward-gated covariance rule gated by the neuron's cortical drive, with presynaptic
    normalisation (see m1.py). The learned part of the movement depends on M1
    (``m1_motor_weight``), so inactivation degrades it (m1.py).
    """

    thalamic_region: str = param(
        "MTh", "", "the region of axon_imaging.regions whose population drives M1 through W"
    )
    n_thalamic: int = param(80, "axons", "thalamic axons converging on the M1 field", ge=1)
    weight_mean: float = param(
        1.6, "", "mean total thalamic weight onto an M1 neuron (row sum of naive W)", gt=0
    )
    weight_row_sd: float = param(
        0.25,
        "log units",
        "spread of naive row sums across M1 neurons (thalamic innervation; broad, unrelated to "
        "movement)",
        ge=0,
    )
    weight_synapse_sd: float = param(
        0.8, "log units", "spread of individual naive weights within a row", ge=0
    )
    ffi_ratio: float = param(
        1.0,
        "",
        "feed-forward inhibition per unit pooled thalamic drive, relative to the neuron's "
        "excitation (g_I = ffi_ratio x weight_mean; with ffi_balance 1 a neuron whose W still "
        "has its naive row sum gets as much inhibition as excitation from a uniform thalamic "
        "volley). 1 (balanced): thalamic activation excites or suppresses a naive neuron by "
        "how its weights fall on the active axons, not by its overall innervation (E/I ratios "
        "equalised across neurons, Xue et al. 2014 Nature; thalamus drives PV interneurons "
        "that inhibit the same cells, Gabernet et al. 2005 Neuron, Cruikshank et al. 2007 "
        "Nat Neurosci). < 1 lets the common thalamic drive excite every neuron in proportion "
        "to its innervation (0.65 before issue 12's rule-off finding)",
        ge=0,
    )
    ffi_sd: float = param(
        0.1,
        "log units",
        "spread of the feed-forward inhibition (the E/I ratio) across M1 neurons; a spread "
        "lets neurons with weaker inhibition get more of both the movement and the "
        "photostimulation drive (0.15 gave a rule-off truth enrichment of 0.06, 0.1: 0.01)",
        ge=0,
    )
    ffi_balance: float = param(
        1.0,
        "",
        "how the feed-forward inhibition onto neuron i follows its own thalamic innervation: "
        "iota_i = exp(ffi_sd z_i) x (R0_i / weight_mean)^ffi_balance, R0_i = sum_j W_naive_ij, "
        "its structural innervation, which the refinement of W does not change (0 = the same "
        "pooled inhibition for every neuron, the circuit before issue 12's rule-off finding; "
        "1 = balanced: inhibition in proportion to the neuron's naive thalamic excitation)",
        ge=0,
    )
    cortical_ffi: float = param(
        1.0,
        "",
        "feed-forward inhibition of the cortical inputs: neuron i gets kappa_ir (c_ir - "
        "cortical_ffi x mean_units c_r(t)), the region's pooled activity through interneurons, "
        "in proportion to its own weight from the region. 1 (balanced, like the thalamic "
        "input; long-range cortical inputs to L2/3 recruit feed-forward inhibition too, e.g. "
        "Mao et al. 2011 Neuron, Kinnischtzke et al. 2014 Cereb Cortex): silencing a region "
        "shifts its target neurons by kappa x (fraction silenced - own unit silenced) instead "
        "of -kappa, so a region without movement signal does not push M1 neurons below "
        "threshold (without it, silencing a movement-free M2 removed 0.3-0.45 of M1's readout "
        "of the movement). 0 = no cortical inhibition",
        ge=0,
    )
    cortical_connection: float = param(
        0.35,
        "",
        "probability that an M1 neuron receives a strong input from a given cortical region",
        ge=0,
        le=1,
    )
    cortical_weight: float = param(
        0.9, "", "median weight kappa of a strong cortical input (log-normal)", ge=0
    )
    cortical_weight_sd: float = param(0.5, "log units", "spread of cortical weights", ge=0)
    cortical_weak_weight: float = param(
        0.1, "", "weight of the cortical inputs that are not strong", ge=0
    )
    output_max: float = param(
        1.5,
        "",
        "saturation of an M1 neuron's output: y = output_max x tanh(x / output_max) for x > 0 "
        "(rates and bursts saturate; an unbounded output lets refined neurons fire at GCaMP "
        "saturation for whole movements)",
        gt=0,
    )
    refinement_rate: float = param(
        6.0,
        "",
        "strength eta of the reward-gated covariance rule (x the mouse's multiplier of "
        "m1.refinement; 0 = no refinement): per training day W += eta x (weight_mean / "
        "n_thalamic) x Cov_rewarded(y_i, a_j) / 0.01",
        ge=0,
    )
    rule_cortical_weight: float = param(
        1.0,
        "",
        "postsynaptic factor of the covariance rule: (1 - this) x the neuron's output y_i + "
        "this x its cortical drive sum_r kappa_ir (c_ir - cortical_ffi x mean c_r). 1 "
        "(reconstruction): thalamic synapses are potentiated when they coincide with the "
        "neuron's cortical (dendritic) drive, as in plateau-gated potentiation of L2/3 inputs "
        "(Gambino et al. 2014 Nature; Williams & Holtmaat 2019 Neuron); each neuron's "
        "thalamic weights then follow its own cortical tuning. 0 = the output-Hebbian rule "
        "(before issue 12's diversity item): it converges every neuron onto the leading "
        "component of the thalamic activity (Oja 1982), expert loadings collinear "
        "(|cos| 0.99)",
        ge=0,
        le=1,
    )
    weight_max: float = param(
        12.0,
        "",
        "cap on one synapse, relative to the mean naive synapse weight_mean / n_thalamic",
        gt=1,
    )
    train_movements: int = param(
        24,
        "movements",
        "cued movements per training day in the plasticity computation (the expected drives of "
        "each, on a 20 Hz grid from -0.5 to 3 s around onset)",
        ge=2,
    )
    m1_motor_weight: float = param(
        1.0,
        "",
        "share of the learned part of the movement (plan minus its naive twin) that depends on "
        "M1 (the other pathways make the naive twin): a light trial that removes the fraction "
        "phi of M1's readout of the movement executes plan - m1_motor_weight x phi x (plan - "
        "naive twin); 0 = inactivation cannot change the lever. 1 (reconstruction, the study's "
        "hypothesis): the learned refinement is M1's, as when silencing M1 or its thalamic "
        "input stops a learned skilled forelimb movement in mice (Guo et al. 2015 eLife; "
        "Sauerbrei et al. 2020 Nature); < 1 models a learned part kept by subcortical "
        "pathways (rats' learned lever timing survives motor-cortex lesions, Kawai et al. "
        "2015 Neuron). How much of M1's readout the light removes (phi) stays the circuit's",
        ge=0,
        le=1,
    )
    readout_ridge: float = param(
        0.05,
        "",
        "ridge penalty of the readout D, relative to the mean eigenvalue of the M1 activity "
        "covariance",
        gt=0,
    )


class InactivationParams(ParamGroup):
    """Expert mice whose thalamic axons in M1 (or ``region``'s) are silenced on a random subset
    of trials; the light's effect on the lever follows from the circuit (m1.py)."""

    n_mice: int = param(1, "mice", "mice of the inactivation cohort", ge=0)
    sessions: list[int] = Field(
        default_factory=lambda: [14], description="sessions with inactivation (experts)"
    )
    region: str = param(
        "",
        "",
        "region whose input to M1 is silenced (default '': circuit.thalamic_region); another "
        "region of axon_imaging.regions silences that region's cortical input",
    )
    light_fraction: float = param(0.3, "", "fraction of trials with light on", ge=0, le=1)
    efficacy: float = param(
        0.8,
        "",
        "fraction of the region's axons silenced at efficacy_power_mw (each axon silenced with "
        "the fraction at power_mw as probability, per light trial)",
        ge=0,
        le=1,
    )
    efficacy_power_mw: float = param(10.0, "mW", "light power at which efficacy holds", gt=0)
    power_half_mw: float = param(
        2.5,
        "mW",
        "power dependence: the silenced fraction at power P is min(1, efficacy x h(P) / "
        "h(efficacy_power_mw)), h(P) = P / (P + power_half_mw)",
        gt=0,
    )
    rt_increase: float = param(
        0.5,
        "",
        "fractional RT increase at full loss of the input (phenomenological: the circuit has no "
        "cue pathway)",
        ge=0,
    )
    light_pre_s: float = param(0.5, "s", "light starts this long before the cue", ge=0)
    light_duration_s: float = param(4.0, "s", "light duration", gt=0)
    power_mw: float = param(10.0, "mW", "inactivation light power", ge=0)
    wavelength_nm: float = param(532.0, "nm", "inactivation light wavelength")
    opsin: str = param("ArchT", "", "inhibitory opsin in motor thalamus (axon terminals in M1)")


class SimulationConfig(ParamGroup):
    """Everything the in-silico experiment needs; see the module docstring."""

    seed: int = param(0, "", "root seed; each (experiment, mouse, session) gets a child", ge=0)
    effect_scale: float = param(
        1.0, "", "multiplies every naive->expert difference (0 = null, >1 = larger)", ge=0
    )
    effect_mouse_sd: float = param(
        0.3,
        "",
        "per-mouse spread of every learning-related change: mouse m's change of effect e is the "
        "population change x (1 + effect_mouse_sd x z[m, e]), z ~ N(0, 1) seeded per mouse and "
        "effect (simulate/effects.py). 0.3 (reconstruction): the learning changes of these "
        "studies keep their sign in every mouse (a reversal needs z < -1/0.3, P = 0.04 %) while "
        "the largest of 5 mice changes about twice as much as the smallest",
        ge=0,
    )
    null_mouse_change_sd: float = param(
        0.0,
        "",
        "for switched-off effects: per-mouse change drawn around zero, SD relative to the "
        "configured (default) effect size; 0 = every change exactly 0 (the 'zero' null), "
        "> 0 = the 'varied' null (SimulationConfig.null(kind='varied'))",
        ge=0,
    )
    null_negative_change: Literal["reverse", "extrapolate"] = param(
        "reverse",
        "",
        "how a varied null realises a mouse's negative draw of a behavioural learning change: "
        "'reverse' (default) runs the mouse's change backwards in time -- it starts at the "
        "value a positive draw of the same size ends at and returns to the naive value, so "
        "every naive -> expert change, however nonlinear or bounded, is the exact negative of "
        "a positive draw's change; 'extrapolate' continues the line below the naive value "
        "(the rule up to session 7: bounded quantities such as "
        "the plan stage are clipped there and nonlinear ones such as stereotypy bend, so the "
        "mean measured change of that null is not 0; docs/statistics.md). Only the behavioural "
        "effects are reversed; the input effects, the inactivation efficacy and the plasticity "
        "rule's strength always extrapolate (simulate/effects.py)",
    )
    effects: EffectSwitches = Field(default_factory=EffectSwitches)
    effect_scales: dict[str, float] = Field(
        default_factory=dict,
        description="per-switch multiplier of the effect size (switch name -> factor, default 1): "
        "the change of a switched-on effect is effect_scale x effect_scales[switch]",
    )
    experiments: list[str] = Field(
        default_factory=lambda: list(SIM_EXPERIMENTS), description="experiments to simulate"
    )
    learning: LearningParams = Field(default_factory=LearningParams)
    behavior: BehaviorSimParams = Field(default_factory=BehaviorSimParams)
    measurement: MeasurementParams = Field(default_factory=MeasurementParams)
    field: FieldParams = Field(default_factory=FieldParams)
    axon_imaging: AxonImagingParams = Field(default_factory=AxonImagingParams)
    m1: M1Params = Field(default_factory=M1Params)
    inactivation: InactivationParams = Field(default_factory=InactivationParams)
    latents: LatentParams = Field(default_factory=LatentParams)
    circuit: CircuitParams = Field(default_factory=CircuitParams)
    save_true_traces: bool = param(
        False,
        "",
        "also save noise-free dF/F, spike counts and motor latents per session "
        "(ground_truth/traces)",
    )

    @model_validator(mode="after")
    def _check(self) -> SimulationConfig:
        bad = [e for e in self.experiments if e not in SIM_EXPERIMENTS]
        if bad:
            raise ValueError(f"experiments: unknown {bad}; expected a subset of {SIM_EXPERIMENTS}")
        for name, sessions in (
            ("axon_imaging.sessions", self.axon_imaging.sessions),
            ("m1.sessions", self.m1.sessions),
            ("inactivation.sessions", self.inactivation.sessions),
        ):
            if any(s < 1 or s > self.learning.n_days for s in sessions):
                raise ValueError(f"{name}: sessions must lie in 1..learning.n_days, got {sessions}")
        unknown = sorted(set(self.effect_scales) - set(EffectSwitches.model_fields))
        if unknown:
            raise ValueError(
                f"effect_scales: unknown switch {unknown}; expected "
                f"{sorted(EffectSwitches.model_fields)}"
            )
        if any(v < 0 for v in self.effect_scales.values()):
            raise ValueError("effect_scales: factors must be >= 0")
        if {"all_optical", "inactivation"} & set(self.experiments):
            regions = self.axon_imaging.regions
            if self.circuit.thalamic_region not in regions:
                raise ValueError(
                    f"circuit.thalamic_region {self.circuit.thalamic_region!r} is not in "
                    f"axon_imaging.regions {sorted(regions)}"
                )
            if self.inactivation.region and self.inactivation.region not in regions:
                raise ValueError(
                    f"inactivation.region {self.inactivation.region!r} is not in "
                    f"axon_imaging.regions {sorted(regions)}"
                )
        return self

    def scale(self, effect: str) -> float:
        """Multiplier of naive->expert differences of ``effect`` (a switch name):
        ``effect_scale x effect_scales.get(effect, 1)`` when the switch is on, else 0."""
        if not getattr(self.effects, effect):
            return 0.0
        return float(self.effect_scale) * float(self.effect_scales.get(effect, 1.0))

    def with_overrides(self, overrides: dict, source: str = "<overrides>") -> SimulationConfig:
        """A validated copy with ``overrides`` (a nested dict, e.g. from YAML) deep-merged in.

        Unlike ``model_copy(update=...)``, nested groups are merged key by key and the result
        is validated (errors name the key; see :func:`thalamocortex.config.validate`).
        """
        from thalamocortex.config import validate

        def merge(base: dict, new: dict) -> dict:
            out = dict(base)
            for k, v in new.items():
                out[k] = (
                    merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
                )
            return out

        return validate(SimulationConfig, merge(self.model_dump(), overrides or {}), source)

    def null(self, kind: str = "zero", mouse_change_sd: float | None = None) -> SimulationConfig:
        """A copy with every learning-related population change switched off.

        Parameters
        ----------
        kind : {"zero", "varied"}
            ``"zero"``: every mouse's change is exactly 0 (expert = naive). ``"varied"``: no
            population change, but each mouse's change of each effect is drawn around zero with
            SD ``mouse_change_sd`` x the configured effect size (``null_mouse_change_sd``): the
            null in which tests that ignore between-mouse variation reject too often.
        mouse_change_sd : float, optional
            Spread of the varied null (default :data:`VARIED_NULL_MOUSE_CHANGE_SD`, or this
            config's ``null_mouse_change_sd`` when it is already > 0).
        """
        if kind not in NULL_KINDS:
            raise ValueError(f"null: unknown kind {kind!r}; expected one of {NULL_KINDS}")
        cfg = self.model_copy(deep=True)
        cfg.effects = EffectSwitches(**{k: False for k in EffectSwitches.model_fields})
        if kind == "zero":
            if mouse_change_sd not in (None, 0, 0.0):
                raise ValueError("null: mouse_change_sd applies to kind='varied' only")
            cfg.null_mouse_change_sd = 0.0
        else:
            sd = mouse_change_sd
            if sd is None:
                sd = self.null_mouse_change_sd or VARIED_NULL_MOUSE_CHANGE_SD
            if not sd > 0:
                raise ValueError(f"null: kind='varied' needs mouse_change_sd > 0, got {sd}")
            cfg.null_mouse_change_sd = float(sd)
        return cfg


def preset(name: str) -> SimulationConfig:
    """A named configuration: ``tiny`` (unit tests, seconds), ``demo`` (the full design at the
    smallest size whose primary tests have power >= 0.8 for the default effects: 4 mice per
    input region on 7 days, 5 opsin + 1 control mice, 10 inactivation mice), ``paper``
    (paper-like numbers)."""
    if name == "tiny":
        regions = default_regions()
        return SimulationConfig(
            learning=LearningParams(),
            behavior=BehaviorSimParams(
                lever_rate_hz=500.0, n_trials=20, iti_min_s=3.0, iti_max_s=5.0
            ),
            measurement=MeasurementParams(frame_rate_hz=10.0),
            axon_imaging=AxonImagingParams(
                regions={"MTh": regions["MTh"], "M2": regions["M2"]},
                mice_per_region=1,
                sessions=[1, 7, 14],
                n_axons=20,
            ),
            m1=M1Params(
                n_opsin_mice=1,
                n_no_opsin_mice=1,
                n_neurons=60,
                n_pulses=20,
                isi_min_s=6.0,
                isi_max_s=8.0,
            ),
            inactivation=InactivationParams(n_mice=1, sessions=[14]),
        )
    if name == "demo":
        # Sized for power >= 0.8 of the primary tests at the default effects (issue 11,
        # docs/statistics.md "Demo size"): 4 mice per input region (3 gave 0.67 for the timing
        # shift, 0.73 for the region comparison), imaged on 7 days — the tests use each mouse's
        # first and last 3 sessions, day 7 draws the learning curve — so that 16 mice cost fewer
        # imaged sessions (112) than 12 mice x 14 days (168); 5 opsin mice (3: 0.72 for the
        # expert enrichment); 10 inactivation mice (lever-only banks of 40 circuit mice, seeds
        # 0 and 1: power 0.88 / 0.93 at 10 mice, 0.47 / 0.47 at 6; docs/circuit.md).
        return SimulationConfig(
            behavior=BehaviorSimParams(
                lever_rate_hz=500.0, n_trials=50, iti_min_s=3.0, iti_max_s=6.0
            ),
            measurement=MeasurementParams(frame_rate_hz=15.0),
            axon_imaging=AxonImagingParams(
                mice_per_region=4, sessions=[1, 2, 3, 7, 12, 13, 14], n_axons=35
            ),
            m1=M1Params(n_opsin_mice=5, n_no_opsin_mice=1, n_neurons=150, n_pulses=40),
            inactivation=InactivationParams(n_mice=10, sessions=[13, 14]),
        )
    if name == "paper":
        return SimulationConfig(
            behavior=BehaviorSimParams(lever_rate_hz=1000.0, n_trials=100),
            measurement=MeasurementParams(frame_rate_hz=30.0),
            axon_imaging=AxonImagingParams(mice_per_region=5, n_axons=100),
            m1=M1Params(n_opsin_mice=6, n_no_opsin_mice=2, n_neurons=300, n_pulses=60),
            inactivation=InactivationParams(n_mice=6, sessions=[13, 14]),
        )
    raise ValueError(f"preset: unknown name {name!r}; expected 'tiny', 'demo' or 'paper'")
