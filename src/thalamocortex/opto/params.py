"""Parameters of photostimulation mapping and inactivation analyses.

The paper's Methods are not public; defaults follow the field's all-optical conventions (see
SCIENCE.md §2 "Photostimulation responses") and each choice is documented on its field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from thalamocortex.config import ParamGroup, param


class InactivationParams(ParamGroup):
    """Parameters of the inactivation analysis (light-on vs light-off trials)."""

    measures: tuple[str, ...] = param(
        ("rewarded", "reaction_time", "peak_amplitude", "movement_duration"),
        "",
        "secondary per-trial behaviour measures contrasted light-on vs light-off (columns of the "
        "behaviour stage's trials table: success, reaction time, movement amplitude and "
        "duration; missing ones are skipped and reported). The primary measure, similarity to "
        "the learned movement with a leave-one-out template, is always computed; stereotypy is "
        "added as a secondary measure",
    )
    similarity: Literal["pearson", "concordance"] = param(
        "concordance",
        "",
        "similarity of a trial's lever trajectory to the learned template (the primary "
        "measure): 'concordance' = Lin's concordance correlation coefficient (Lin 1989; shape "
        "and size: a smaller or offset copy of the learned press counts as less similar), "
        "'pearson' = Pearson correlation (shape only, the field's stereotypy convention; blind "
        "to an inactivation that shrinks the press without changing its shape)",
    )
    n_permutations: int = param(
        2000,
        "resamples",
        "permutations of light labels within session (randomisation test of the light effect)",
        ge=100,
    )
    alpha: float = param(
        0.05, "", "significance level of the light-on vs light-off tests", gt=0, lt=1
    )
    min_trials_per_condition: int = param(
        5, "trials", "sessions with fewer light-on or light-off trials are skipped", ge=2
    )
    stereotypy_window_s: float = param(
        3.0, "s", "lever trajectory after movement onset used for stereotypy (lab: 0-3 s)", gt=0
    )
    stereotypy_bin_s: float = param(
        0.01, "s", "bin width of lever trajectories for stereotypy (lab: 10 ms)", gt=0
    )
    seed: int = param(0, "", "seed of the permutation tests", ge=0)


class OptoParams(ParamGroup):
    """Parameters of the all-optical mapping analysis (stage ``opto``) and, nested, of the
    inactivation analysis (stage ``inactivation``)."""

    # --- response windows --------------------------------------------------------------------
    window_s: float = param(
        1.0,
        "s",
        "length of the pre-stimulus and the post-stimulus response windows (equal; field 0.5-1 s)",
        gt=0,
        le=10,
    )
    post_delay_s: float = param(
        0.0,
        "s",
        "extra delay between the end of the blanked artefact frames and the post window start",
        ge=0,
        le=5,
    )
    pre_gap_s: float = param(
        0.0,
        "s",
        "gap between the end of the pre window and light onset (0: pre window ends at the frame "
        "before the one containing light onset)",
        ge=0,
        le=5,
    )
    extra_blank_frames: int = param(
        0,
        "frames",
        "frames blanked in addition to the convention ceil(duration x frame rate) + 1",
        ge=0,
        le=100,
    )
    min_window_coverage: float = param(
        0.5,
        "fraction",
        "a pulse is valid for a neuron when at least this fraction of frames of both windows is "
        "finite (not blanked, inside the recording)",
        gt=0,
        le=1,
    )
    trace_pre_s: float = param(
        2.0, "s", "peri-stimulus trace kept before light onset (heatmaps)", ge=0, le=30
    )
    trace_post_s: float = param(
        4.0, "s", "peri-stimulus trace kept after light onset (heatmaps)", gt=0, le=60
    )
    # --- classification ----------------------------------------------------------------------
    fdr_alpha: float = param(
        0.05,
        "",
        "Benjamini-Hochberg FDR level within each population (the neurons of one session)",
        gt=0,
        lt=1,
    )
    min_effect_z: float = param(
        0.5,
        "baseline SD",
        "minimum |mean response| in units of the neuron's pre-window SD to call a neuron driven "
        "or suppressed (effect-size criterion on top of the FDR test)",
        ge=0,
        le=10,
    )
    min_valid_pulses: int = param(
        10, "pulses", "minimum number of valid pulses per neuron to test it (field: >= 10)", ge=3
    )
    wilcoxon_exact_max_n: int = param(
        50,
        "pulses",
        "use the exact signed-rank null up to this many valid pulses (no ties), normal "
        "approximation with tie and continuity correction above",
        ge=0,
        le=400,
    )
    # --- pseudo-pulse null -------------------------------------------------------------------
    n_pseudo_pulses: int = param(
        0,
        "pulses",
        "pseudo-pulses per session drawn from spontaneous periods (0: as many as real pulses)",
        ge=0,
        le=100000,
    )
    pseudo_exclusion_s: float = param(
        3.0,
        "s",
        "pseudo-pulses keep at least this distance from any real pulse (start or end)",
        ge=0,
        le=120,
    )
    pseudo_avoid_trials: bool = param(
        False,
        "",
        "keep pseudo-pulses out of task trials (start_time..stop_time); off by default because "
        "trials usually tile the task period, leaving only the gaps of the stimulation block",
    )
    seed: int = param(0, "", "seed of pseudo-pulse draws and permutation tests", ge=0)
    # --- relation to movement encoding -------------------------------------------------------
    n_permutations: int = param(
        2000, "resamples", "permutations of the enrichment / correlation nulls", ge=100
    )
    n_bootstrap: int = param(
        1000,
        "resamples",
        "bootstrap resamples (mice, then neurons) for confidence intervals",
        ge=100,
    )
    ci_level: float = param(0.95, "", "confidence level of bootstrap intervals", gt=0.5, lt=1)
    encoding_score_column: str = param(
        "contrast",
        "",
        "column of the encoding stage's rois table used as movement-encoding score (default: "
        "movement minus quiescence dF/F contrast; only its within-session rank is used)",
    )
    encoding_class_column: str = param(
        "movement_related",
        "",
        "boolean column of the encoding table marking movement-encoding (movement-related) neurons",
    )
    naive_max_day: int = param(
        3, "day", "sessions on or before this training day count as 'naive'", ge=1
    )
    expert_min_day: int = param(
        10, "day", "sessions on or after this training day count as 'expert'", ge=1
    )
    # --- identity of neurons across sessions (naive vs expert) -------------------------------
    identity: Literal["auto", "roi_name", "tracking"] = param(
        "auto",
        "",
        "what makes two ROIs of different sessions 'the same neuron' in the naive-vs-expert "
        "comparison: 'tracking' = the cell index of the preprocess stage's cross-session "
        "tracking table (results/preprocess/tracking.parquet; required for real data and for "
        "sessions extracted from raw movies, whose ROI names are per-session), 'roi_name' = equal "
        "roi_name within a mouse (only valid for files whose names persist across sessions, e.g. "
        "the simulator's), 'auto' = tracking when that table is non-empty and covers every "
        "session of the mice with naive and expert sessions, else roi_name",
    )
    min_track_probability: float = param(
        0.5,
        "probability",
        "with tracking identity, a ROI counts as an observation of its tracked cell only when its "
        "match probability in the tracking table (the tracker's same-cell probability; analyses "
        "filter on it as with CellReg/ROICaT) is at least this; lower and untracked ROIs are left "
        "out (0.5 = the tracker's default acceptance, preprocess.track_min_probability)",
        ge=0,
        le=1,
    )
    # --- inactivation ------------------------------------------------------------------------
    inactivation: InactivationParams = Field(default_factory=InactivationParams)
