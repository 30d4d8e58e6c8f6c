"""Parameters of the behaviour stage (lever parsing, trials, learning metrics).

Defaults follow the Komiyama lab's published lever-parsing code (Peters, Chen & Komiyama 2014;
see SCIENCE.md §2) wherever it pins a value. Where it does not (or where a fixed voltage makes no
sense for a lever recorded in other units) the default is a documented, units-free choice.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from thalamocortex.config import ParamGroup, param


class BehaviorParams(ParamGroup):
    # --- lever movement parsing ------------------------------------------------------------
    resample_hz: float = param(
        1000.0, "Hz", "lever resampling rate before parsing (lab: 1 kHz)", gt=0
    )
    lowpass_hz: float = param(
        5.0,
        "Hz",
        "Butterworth low-pass cut-off, applied forward-backward. Lab: 5 Hz in effect — its "
        "butter(4, 5/500) at 1 kHz is normalised to the Nyquist frequency (500 Hz), so the "
        "cut-off is 5 Hz although the code's comment says 10 Hz",
        gt=0,
    )
    filter_order: int = param(4, "", "order of the Butterworth low-pass (lab: 4)", ge=1, le=10)
    velocity_smooth_samples: int = param(
        5, "samples", "moving-average length smoothing the lever velocity (lab: 5)", ge=1
    )
    speed_threshold_mode: Literal["noise", "absolute"] = param(
        "noise",
        "",
        "'noise': threshold = speed_threshold_k x resting speed scale estimated from the data "
        "(units-free); 'absolute': speed_threshold_abs in speed_threshold_units (lab)",
    )
    speed_threshold_k: float = param(
        40.0,
        "x rest SD",
        "moving threshold in multiples of the resting-velocity SD (mode 'noise'). Choice, "
        "calibrated on 16 simulated sessions (890 known movements): with the 5 Hz filter, "
        "bouts match movements 1:1 for 84 % at k = 40 (0.81 at 20, 0.83 at 30, 0.71 at 8, "
        "where the Hilbert envelope's tails merge neighbouring movements; higher k splits "
        "movements with long holds). In the simulator's mm this is 0.0012 mm/ms, the order of "
        "the lab's 0.0007 V/ms",
        gt=0,
    )
    rest_exclude_k: float = param(
        4.0,
        "x rest SD",
        "resting-velocity estimate: samples within rest_exclude_pad_s of a velocity beyond this "
        "many resting SDs are movement and left out, iteratively (choice; see parse.py)",
        gt=0,
    )
    rest_exclude_pad_s: float = param(
        0.25,
        "s",
        "resting-velocity estimate: padding around excluded movement samples (choice)",
        ge=0,
    )
    rest_estimate_iterations: int = param(
        20, "", "at most this many refinements of the resting-velocity estimate", ge=1
    )
    speed_threshold_abs: float = param(
        0.0007,
        "speed_threshold_units",
        "absolute speed threshold (mode 'absolute'; lab 0.0007)",
        gt=0,
    )
    speed_threshold_units: str = param(
        "V/ms",
        "",
        "units of speed_threshold_abs as '<lever unit>/<ms|s>'; the lever unit must match the "
        "lever's (SI prefixes of V and m are converted)",
    )
    pad_before_s: float = param(
        0.075, "s", "padding added before each supra-threshold bout (lab: 150 ms in total)", ge=0
    )
    pad_after_s: float = param(
        0.075, "s", "padding added after each supra-threshold bout (lab: 150 ms in total)", ge=0
    )
    merge_gap_s: float = param(
        0.5, "s", "bouts separated by a shorter gap are merged (lab: 500 ms)", ge=0
    )
    drop_edge_bouts: bool = param(
        True, "", "drop bouts touching the ends of the trace or an unrecoverable NaN run (lab)"
    )
    refine_onsets: bool = param(
        True, "", "refine onset/offset to where the lever leaves/returns to its resting value"
    )
    refine_lowpass_hz: float = param(
        40.0,
        "Hz",
        "low-pass of the copy used for onset/offset refinement (0 = the parse filter). The "
        "zero-phase parse filter spreads fast presses back in time (choice)",
        ge=0,
    )
    refine_noise_k: float = param(
        2.0,
        "x rest SD",
        "the lever has left rest when |lever - rest| > k x resting noise SD. Lab: 1 SD; default "
        "2 because the walk-back onset search would otherwise follow noise excursions that "
        "touch the press (simulator: cued onsets within 20 ms 98 % at 2 vs 94 % at 1)",
        gt=0,
    )
    refine_anchor_fraction: float = param(
        0.1,
        "",
        "refinement walks back from the first sustained deviation beyond this fraction of the "
        "bout's peak to the last sample within the resting band (choice, see parse.py)",
        gt=0,
        lt=1,
    )
    refine_consecutive_s: float = param(
        0.010, "s", "deviation must last this long to count as leaving rest (lab: 10 ms)", gt=0
    )
    refine_fit: Literal["min_jerk", "none"] = param(
        "min_jerk",
        "",
        "after the threshold rule, back-extrapolate the onset (offset) by fitting a "
        "minimum-jerk profile (Flash & Hogan 1985) to the lever's rise from rest (fall to rest), "
        "as Botzer & Karniel (2009) do for reaching onsets: a smooth press leaves rest with "
        "zero velocity and acceleration, so any noise threshold is crossed late (tens of ms for "
        "slow presses). 'none' = the lab's threshold rule only (choice)",
    )
    refine_fit_max_back_s: float = param(
        0.2,
        "s",
        "the fitted onset lies at most this far before the threshold onset; a fit reaching the "
        "bound is rejected and the threshold onset kept (choice)",
        ge=0,
    )
    refine_fit_top_fraction: float = param(
        0.3,
        "",
        "the fit uses the lever from before the threshold onset up to the first sample beyond "
        "this fraction of the bout's peak deviation, i.e. the first part of the press, before "
        "corrective sub-movements overlap it (choice, calibrated on simulated presses)",
        gt=0,
        le=1,
    )
    rest_window_s: float = param(
        0.2,
        "s",
        "quiet window before onset / after offset whose median is the resting value "
        "(choice: the lab code's window is not published)",
        gt=0,
    )
    rest_noise_piece_s: float = param(
        0.25,
        "s",
        "resting noise SD is measured around the median of quiet pieces this long, so slow "
        "drift of the resting position does not inflate it (choice)",
        gt=0,
    )
    nan_interp_max_s: float = param(
        0.05,
        "s",
        "NaN runs up to this long are linearly interpolated; longer runs are excluded spans "
        "(bouts and trials touching them are dropped and counted)",
        ge=0,
    )
    flat_rel_tol: float = param(
        1e-9,
        "",
        "a lever whose peak-to-peak range is below this fraction of its mean |value| (or "
        "exactly constant) is flat and raises DataError",
        ge=0,
    )
    # --- trials ----------------------------------------------------------------------------
    pre_cue_quiet_s: float = param(
        0.1, "s", "a trial is cued if no movement in this window before the cue (lab: 100 ms)", ge=0
    )
    response_window_s: float = param(
        3.0,
        "s",
        "for unrewarded trials, the first movement starting within this time after the cue is "
        "the trial's response movement (reported with rewarded=False)",
        gt=0,
    )
    reward_delay_s: float = param(
        0.0,
        "s",
        "rig delay from the lever's threshold crossing to the reward; time_to_threshold = "
        "reward_time - reward_delay_s - movement onset",
        ge=0,
    )
    max_trials_outside_fraction: float = param(
        0.2,
        "",
        "trials outside the lever recording are excluded and counted; more than this fraction "
        "raises DataError (lever shorter than the trials)",
        ge=0,
        le=1,
    )
    # --- learning metrics ------------------------------------------------------------------
    snippet_pre_s: float = param(0.4, "s", "lever snippet start before movement onset (lab)", ge=0)
    snippet_post_s: float = param(3.0, "s", "lever snippet end after movement onset (lab)", gt=0)
    stereotypy_window_s: float = param(
        3.0, "s", "stereotypy/template correlations use 0..this after onset (lab: 3 s)", gt=0
    )
    stereotypy_bin_s: float = param(
        0.01, "s", "bin width of lever traces for correlations (lab: 10 ms)", gt=0
    )
    min_trials_stereotypy: int = param(
        3, "trials", "sessions with fewer rewarded trials get NaN stereotypy", ge=2
    )
    template_expert_sessions: int = param(
        3,
        "sessions",
        "the learned template is the mean rewarded trajectory of the last N sessions",
        ge=1,
    )
    learning_light_off_only: bool = param(
        True,
        "",
        "stereotypy, the session matrix and the learned template use light-off trials only "
        "(inactivation trials perturb the movement); similarity is computed for every trial",
    )
    n_example_traces: int = param(
        8, "trials", "example lever snippets kept per mouse for naive and expert figures", ge=0
    )

    @model_validator(mode="after")
    def _below_nyquist(self) -> BehaviorParams:
        nyquist = self.resample_hz / 2
        if self.lowpass_hz >= nyquist:
            raise ValueError(
                f"lowpass_hz = {self.lowpass_hz} Hz must be below the Nyquist frequency "
                f"{nyquist:g} Hz of resample_hz = {self.resample_hz:g} Hz"
            )
        return self
