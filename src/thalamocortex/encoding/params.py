"""Parameters of the movement-encoding stage.

Defaults follow the Komiyama lab's published conventions (Peters, Chen & Komiyama 2014) where
they exist; the rest are documented reconstructions (see each module's docstring).
"""

from __future__ import annotations

from typing import Literal

from thalamocortex.config import ParamGroup, param


class EncodingParams(ParamGroup):
    # --- movement-related ROIs ------------------------------------------------------------
    n_shuffles: int = param(
        10000, "resamples", "resamples of the movement-related null (lab: 10,000)", ge=100
    )
    null: str = param(
        "block_shuffle",
        "",
        "null deciding the class: 'block_shuffle' (lab: shuffle movement/quiescence epochs) "
        "or 'circular_shift'; both are computed and reported",
        pattern="^(block_shuffle|circular_shift)$",
    )
    alpha: float = param(
        0.05,
        "",
        "two-sided level of the movement-related test (lab: above the 97.5th / below the "
        "2.5th percentile of the null)",
        gt=0,
        lt=1,
    )
    min_events: int = param(5, "events", "minimum calcium events to classify an ROI (lab: 5)", ge=0)
    event_low_sd: float = param(
        1.0, "noise SD", "lower hysteresis threshold of event detection (lab: 1x)", gt=0
    )
    event_high_sd: float = param(
        3.0, "noise SD", "upper hysteresis threshold of event detection (lab: 3x)", gt=0
    )
    min_shift_s: float = param(
        10.0, "s", "smallest circular shift of the circular-shift null", ge=0
    )
    roi_chunk: int = param(256, "ROIs", "ROIs per vectorised batch (bounds memory)", ge=1)
    # --- peri-movement activity -----------------------------------------------------------
    window_pre_s: float = param(2.0, "s", "peri-event window before the event", ge=0)
    window_post_s: float = param(3.0, "s", "peri-event window after the event", gt=0)
    baseline_s: tuple[float, float] = param(
        (-2.0, -1.0),
        "s",
        "baseline window relative to movement onset subtracted from each trial (pre-movement)",
    )
    timing_window_s: tuple[float, float] = param(
        (-1.0, 2.0), "s", "window searched for each ROI's peak and onset latency"
    )
    onset_fraction: float = param(
        0.5,
        "",
        "'fraction' method: onset = last rise through this fraction of the peak before the "
        "peak (half-maximum latency by default)",
        gt=0,
        lt=1,
    )
    onset_method: str = param(
        "tangent",
        "",
        "onset latency: 'tangent' (20-80 % rising edge extrapolated to baseline) or "
        "'fraction' (last crossing of onset_fraction of the peak)",
        pattern="^(tangent|fraction)$",
    )
    deconvolve_latency: bool = param(
        True,
        "",
        "undo the indicator decay (a + tau da/dt) before measuring onset latency, so slow "
        "indicators do not delay it",
    )
    indicator_decay_s: dict[str, float] = param(
        {"GCaMP6s": 1.5, "GCaMP6f": 0.4, "GCaMP7f": 0.5, "GCaMP8m": 0.3, "GCaMP8f": 0.2},
        "s",
        "decay time constant per indicator (Chen et al. 2013; Dana et al. 2019; Zhang et al. "
        "2023); unknown indicators use default_decay_s",
    )
    default_decay_s: float = param(1.0, "s", "decay of indicators not listed above", ge=0)
    n_bootstrap_timing: int = param(
        200, "resamples", "trial bootstrap resamples of peak time / onset latency CIs", ge=10
    )
    reliability_window_s: tuple[float, float] = param(
        (-0.5, 2.0), "s", "movement-aligned window of the trial-to-trial reliability"
    )
    # --- decoding -------------------------------------------------------------------------
    decode_window_s: tuple[float, float] = param(
        (-0.5, 2.0), "s", "movement-aligned window of the lever trajectory to decode"
    )
    decode_lags_s: tuple[float, float] = param(
        (-0.5, 0.5),
        "s",
        "activity lags used as features (negative = activity before the decoded lever sample)",
    )
    decode_lag_step_s: float = param(
        0.2,
        "s",
        "step between feature lags (rounded to whole frames, >= 1 frame); keeps the decoder's "
        "size, hence its cost, independent of the frame rate",
        gt=0,
    )
    ridge_alphas: tuple[float, ...] = param(
        (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6),
        "",
        "ridge strengths on standardised features, all solved from one eigendecomposition per "
        "fold; chosen by alpha_selection",
    )
    alpha_selection: Literal["trial_cv", "gcv"] = param(
        "trial_cv",
        "",
        "ridge strength of a held-out fold: 'trial_cv' = smallest out-of-fold error over the "
        "other folds (trials held out); 'gcv' = generalised cross-validation on the training "
        "frames (treats autocorrelated frames as independent: under-regularises)",
    )
    n_folds: int = param(5, "folds", "cross-validation folds over trials", ge=2)
    n_rois_matched: int = param(
        0,
        "ROIs",
        "ROIs per decoder, matched across regions and sessions (0 = smallest session's count, "
        "capped at max_rois_matched)",
        ge=0,
    )
    max_rois_matched: int = param(40, "ROIs", "cap of the automatic matched ROI count", ge=1)
    min_rois: int = param(5, "ROIs", "sessions with fewer ROIs are not decoded", ge=1)
    n_subsamples: int = param(
        10, "draws", "repeated random ROI subsets per session (averaged)", ge=1
    )
    min_trials: int = param(10, "trials", "sessions with fewer rewarded trials are skipped", ge=2)
    exclude_after_light_s: float = param(
        5.0,
        "s",
        "frames from each light pulse's onset to its end plus this are left out of every encoding "
        "analysis (photostimulation responses or inactivated trials are not movement encoding; "
        "otherwise an all-optical session's stimulation block counts as 'quiescence')",
        ge=0,
    )
    # --- examples for the report ----------------------------------------------------------
    n_example_units: int = param(
        3,
        "units",
        "most movement-related units per session (smallest p, largest contrast) whose single "
        "trials and example dF/F the report shows (naive and expert sessions only)",
        ge=0,
        le=20,
    )
    example_window_s: float = param(
        40.0, "s", "length of the example stretch of lever and dF/F per session", ge=0
    )
