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
zero), the null cohorts on which no analysis may reject more often than its nominal alpha.

Where the paper does not pin a number down, the default is a documented reconstruction (see
SCIENCE.md section 4) and says so in its doc line.
"""

from __future__ import annotations

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
    """Independent on/off switches of every learning-related change."""

    behavior_learning: bool = param(
        True, "", "behaviour changes with learning (template weight, RT, engagement, spont. rate)"
    )
    input_learning: bool = param(
        True, "", "input-region properties (fraction, lag, reliability, encoding) change"
    )
    m1_encoding: bool = param(True, "", "M1 L2/3 movement encoding develops with learning")
    m1_refinement: bool = param(
        True, "", "thalamic weights onto M1 neurons refine (align to encoding, suppress others)"
    )
    inactivation: bool = param(True, "", "thalamic inactivation degrades the learned movement")


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
        "mean weight of the lever-trajectory copy in the response shape (0 = generic bump)",
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


class BehaviorSimParams(ParamGroup):
    """Lever, trials and movements."""

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
    # movement shape: a sum of raised-cosine bumps, exactly 0 at onset
    n_bumps: int = param(
        3, "", "typical raised-cosine bumps per trajectory (drawn from n-1..n+1)", ge=1, le=8
    )
    duration_min_s: float = param(0.8, "s", "shortest movement (onset to return to rest)", gt=0)
    duration_max_s: float = param(2.5, "s", "longest movement", gt=0)
    template_peak_mm: float = param(2.6, "mm", "median peak of the learned trajectory", gt=0)
    random_peak_mm: float = param(1.5, "mm", "median peak of trial-specific trajectories", gt=0)
    peak_sd: float = param(0.3, "log units", "SD of log peak amplitude of trajectories", ge=0)
    time_warp_sd: float = param(0.15, "log units", "per-trial SD of log time-scale", ge=0)
    amplitude_jitter_sd: float = param(0.15, "log units", "per-trial SD of log amplitude", ge=0)
    # learning-dependent behaviour
    template_weight_naive: float = param(0.2, "", "mean template weight w, naive", gt=0, lt=1)
    template_weight_expert: float = param(0.85, "", "mean template weight w, expert", gt=0, lt=1)
    template_weight_concentration: float = param(
        20.0, "", "Beta concentration (a+b) of the per-trial template weight", gt=0
    )
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
        0.5, "", "peak of spontaneous movements relative to trial-specific ones", gt=0
    )
    p_precue_movement: float = param(
        0.08, "", "per-trial probability of a spontaneous movement just before the cue", ge=0, le=1
    )

    @model_validator(mode="after")
    def _check(self) -> BehaviorSimParams:
        if self.iti_max_s < self.iti_min_s:
            raise ValueError("iti_max_s must be >= iti_min_s")
        if self.duration_max_s < self.duration_min_s:
            raise ValueError("duration_max_s must be >= duration_min_s")
        return self


class IndicatorParams(ParamGroup):
    """Calcium indicator: double-exponential kernel per action potential, mild saturation.

    Approximate literature values (1 AP, in vivo): GCaMP6s rise ~0.18 s, decay ~1.5 s, ~25 %
    dF/F (Chen et al. 2013); jGCaMP7f rise ~0.05 s, decay ~0.5 s (Dana et al. 2019); jGCaMP8m
    rise ~0.01 s, decay ~0.3 s (Zhang et al. 2023). :func:`indicator_preset` returns them.
    """

    name: str = param("GCaMP6s", "", "indicator name written to the session metadata")
    rise_s: float = param(0.18, "s", "rise time constant of the per-AP kernel", gt=0)
    decay_s: float = param(1.5, "s", "decay time constant of the per-AP kernel", gt=0)
    amplitude_dff: float = param(0.25, "dF/F", "peak dF/F of one action potential", gt=0)
    saturation_dff: float = param(
        8.0, "dF/F", "half-saturation of dF/F: dff = c / (1 + c / saturation)", gt=0
    )


def indicator_preset(name: str) -> IndicatorParams:
    """Indicator kernels: ``GCaMP6s`` (Chen 2013), ``GCaMP7f`` (Dana 2019), ``GCaMP8m``
    (Zhang 2023). Values are approximate and documented as a reconstruction."""
    table = {
        "GCaMP6s": dict(rise_s=0.18, decay_s=1.5, amplitude_dff=0.25),
        "GCaMP7f": dict(rise_s=0.05, decay_s=0.5, amplitude_dff=0.2),
        "GCaMP8m": dict(rise_s=0.01, decay_s=0.3, amplitude_dff=0.3),
    }
    if name not in table:
        raise ValueError(f"indicator_preset: unknown indicator {name!r}; known {sorted(table)}")
    return IndicatorParams(name=name, **table[name])


class MeasurementParams(ParamGroup):
    """Two-photon measurement: frame rate, brightness, neuropil, noise, drift, artefacts."""

    frame_rate_hz: float = param(30.0, "Hz", "imaging frame rate", gt=0)
    indicator: IndicatorParams = Field(default_factory=IndicatorParams)
    f0_soma_photons: float = param(
        300.0, "photons/frame", "median baseline brightness of a soma ROI", gt=0
    )
    f0_bouton_photons: float = param(
        80.0, "photons/frame", "median baseline brightness of a bouton ROI (dimmer)", gt=0
    )
    f0_cv: float = param(0.3, "log units", "SD of log baseline brightness across ROIs", ge=0)
    neuropil_photons: float = param(
        100.0, "photons/frame", "baseline brightness of the neuropil annulus", ge=0
    )
    neuropil_coef_mean: float = param(
        0.7, "", "mean true neuropil contamination coefficient of an ROI", ge=0, le=2
    )
    neuropil_coef_sd: float = param(0.1, "", "SD of the true contamination coefficient", ge=0)
    neuropil_gain: float = param(
        1.0, "", "dF/F of the neuropil per unit mean population dF/F", ge=0
    )
    neuropil_smooth_s: float = param(1.0, "s", "smoothing of the population neuropil signal", gt=0)
    read_noise_photons: float = param(3.0, "photons/frame", "SD of Gaussian read noise", ge=0)
    digitize: bool = param(
        True, "", "round F and Fneu to whole photon counts (ADC quantisation; compresses well)"
    )
    shot_noise: bool = param(True, "", "photon shot noise on F and Fneu")
    shot_noise_exact: bool = param(
        False,
        "",
        "draw exact Poisson counts; otherwise Gaussian with variance = mean (accurate above ~20 "
        "photons/frame, several times faster)",
    )
    bleach_fraction: float = param(
        0.05, "", "fractional brightness loss over a session (linear bleaching)", ge=0, lt=1
    )
    drift_sd: float = param(0.02, "", "SD of slow multiplicative baseline drift", ge=0)
    drift_tau_s: float = param(60.0, "s", "time constant of baseline drift", gt=0)
    artefact_photons: float = param(
        2000.0, "photons/frame", "added brightness of frames during stimulation light", ge=0
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
    baseline_rate_hz: float = param(0.5, "Hz", "median baseline firing rate of an axon", ge=0)
    response_rate_hz: float = param(12.0, "Hz", "median peak movement-locked rate", ge=0)
    response_width_s: float = param(0.6, "s", "width of the generic response bump", gt=0)
    lag_sd_s: float = param(0.15, "s", "SD of response lags across axons of a region", ge=0)
    reliability_sd: float = param(0.1, "", "SD of reliability across axons", ge=0)
    encoding_sd: float = param(0.1, "", "SD of encoding across axons", ge=0)
    amplitude_jitter_sd: float = param(0.3, "log units", "trial-to-trial response jitter", ge=0)
    quiescence_suppression: float = param(
        0.8, "", "fractional rate drop of quiescence-related axons during movement", ge=0, le=1
    )
    quiescence_rate_hz: float = param(3.0, "Hz", "resting rate of quiescence-related axons", ge=0)
    bouton_gain_sd: float = param(0.2, "log units", "SD of log per-bouton gain", ge=0)
    bouton_noise_dff: float = param(
        0.03, "dF/F", "independent per-bouton background fluctuation (SD)", ge=0
    )
    bouton_spike_fraction: float = param(
        0.05, "", "fraction of extra independent spikes per bouton (relative to its axon)", ge=0
    )


class M1Params(ParamGroup):
    """All-optical cohort: M1 L2/3 neurons, thalamic weights and photostimulation."""

    n_opsin_mice: int = param(1, "mice", "mice expressing the opsin in motor thalamus", ge=0)
    n_no_opsin_mice: int = param(1, "mice", "no-opsin control mice", ge=0)
    sessions: list[int] = Field(
        default_factory=lambda: [1, 14], description="imaged sessions (naive, expert)"
    )
    n_neurons: int = param(150, "neurons", "M1 L2/3 neurons (same neurons every session)", ge=1)
    encoding_fraction_naive: float = param(
        0.15, "", "fraction of movement-encoding neurons, naive", ge=0, le=1
    )
    encoding_fraction_expert: float = param(
        0.35, "", "fraction of movement-encoding neurons, expert", ge=0, le=1
    )
    encoding_overlap: float = param(
        0.3, "", "rank correlation of naive and expert encoding latents (overlap)", ge=-1, le=1
    )
    baseline_rate_hz: float = param(1.5, "Hz", "median baseline firing rate", ge=0)
    response_rate_hz: float = param(10.0, "Hz", "peak movement-locked rate at encoding 1", ge=0)
    lag_mean_s: float = param(0.0, "s", "mean response onset re movement onset", ge=-2, le=2)
    lag_sd_s: float = param(0.2, "s", "SD of response lags across neurons", ge=0)
    reliability: float = param(0.7, "", "probability of responding on a movement", ge=0, le=1)
    response_width_s: float = param(0.8, "s", "width of the generic response bump", gt=0)
    amplitude_jitter_sd: float = param(0.3, "log units", "trial-to-trial response jitter", ge=0)
    weight_naive_mean: float = param(0.5, "", "mean thalamic weight, naive (broad)")
    weight_naive_sd: float = param(0.3, "", "SD of thalamic weights, naive", ge=0)
    weight_expert_encoding_gain: float = param(
        1.2, "", "expert weight per unit encoding (encoding neurons strongly driven)"
    )
    weight_expert_offset: float = param(
        0.3, "", "expert weight of encoding neurons at zero strength"
    )
    weight_expert_unrelated: float = param(
        -0.35, "", "expert mean weight of non-encoding neurons (net feed-forward inhibition)"
    )
    weight_expert_sd: float = param(0.12, "", "SD of expert weights", ge=0)
    activated_threshold: float = param(
        0.4, "", "weights above this are expected 'activated' by photostimulation"
    )
    suppressed_threshold: float = param(-0.2, "", "weights below this are expected 'suppressed'")
    n_pulses: int = param(40, "pulses", "photostimulation pulses after the task", ge=0)
    pulse_duration_s: float = param(1.0, "s", "duration of one pulse", gt=0)
    isi_min_s: float = param(10.0, "s", "minimum inter-pulse interval", gt=0)
    isi_max_s: float = param(15.0, "s", "maximum inter-pulse interval", gt=0)
    power_mw: float = param(5.0, "mW", "light power of a pulse", ge=0)
    wavelength_nm: float = param(635.0, "nm", "photostimulation wavelength (red-shifted opsin)")
    opsin: str = param("ChrimsonR", "", "red-shifted opsin expressed in motor thalamus")
    gain_hz_per_mw: float = param(1.2, "Hz/mW", "rate change per mW per unit thalamic weight", ge=0)
    response_decay_s: float = param(0.5, "s", "decay of the rate change after the pulse", gt=0)
    pulse_jitter_sd: float = param(0.3, "", "pulse-to-pulse SD of the relative response", ge=0)
    gap_before_stim_s: float = param(10.0, "s", "pause between task and stimulation block", ge=0)


class InactivationParams(ParamGroup):
    """Expert mice with thalamic axons in M1 silenced on a random subset of trials."""

    n_mice: int = param(1, "mice", "mice of the inactivation cohort", ge=0)
    sessions: list[int] = Field(
        default_factory=lambda: [14], description="sessions with inactivation (experts)"
    )
    light_fraction: float = param(0.3, "", "fraction of trials with light on", ge=0, le=1)
    efficacy: float = param(0.8, "", "fraction of thalamic drive removed by light", ge=0, le=1)
    thalamic_dependence: float = param(
        0.7, "", "dependence of the learned component on thalamic drive", ge=0, le=1
    )
    rt_increase: float = param(
        0.5, "", "fractional RT increase at full loss of thalamic drive", ge=0
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
    effects: EffectSwitches = Field(default_factory=EffectSwitches)
    experiments: list[str] = Field(
        default_factory=lambda: list(SIM_EXPERIMENTS), description="experiments to simulate"
    )
    learning: LearningParams = Field(default_factory=LearningParams)
    behavior: BehaviorSimParams = Field(default_factory=BehaviorSimParams)
    measurement: MeasurementParams = Field(default_factory=MeasurementParams)
    axon_imaging: AxonImagingParams = Field(default_factory=AxonImagingParams)
    m1: M1Params = Field(default_factory=M1Params)
    inactivation: InactivationParams = Field(default_factory=InactivationParams)
    save_true_traces: bool = param(
        False, "", "also save noise-free dF/F and spike counts per session (ground_truth/traces)"
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
        return self

    def scale(self, effect: str) -> float:
        """Multiplier of naive->expert differences of ``effect`` (a switch name)."""
        return float(self.effect_scale) if getattr(self.effects, effect) else 0.0

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
    """A named configuration: ``tiny`` (unit tests, seconds), ``demo`` (full design at reduced
    size, ~2 min; 3 mice per input region, the fewest for which the mice-level bootstrap and
    mixed-model tests report p-values), ``paper`` (paper-like numbers)."""
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
        return SimulationConfig(
            behavior=BehaviorSimParams(
                lever_rate_hz=500.0, n_trials=50, iti_min_s=3.0, iti_max_s=6.0
            ),
            measurement=MeasurementParams(frame_rate_hz=15.0),
            axon_imaging=AxonImagingParams(mice_per_region=3, n_axons=35),
            m1=M1Params(n_opsin_mice=3, n_no_opsin_mice=1, n_neurons=150, n_pulses=40),
            inactivation=InactivationParams(n_mice=3, sessions=[13, 14]),
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
