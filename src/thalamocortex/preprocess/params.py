"""Parameters of the preprocessing stage (ROIs, neuropil, dF/F, events, merging, tracking).

Where the paper's Methods are not public, defaults follow the published conventions of the
Komiyama lab (Peters, Chen & Komiyama 2014) and of suite2p (Pachitariu et al. 2017); each doc
line says which.
"""

from __future__ import annotations

from typing import Literal

from thalamocortex.config import ParamGroup, param


class PreprocessParams(ParamGroup):
    # --- neuropil ------------------------------------------------------------------------------
    neuropil_mode: Literal["fixed", "fitted"] = param(
        "fixed",
        "",
        "neuropil coefficient: 'fixed' (one r for all ROIs) or 'fitted' per ROI by robust "
        "regression of F on Fneu over non-transient frames (tiny ROIs such as boutons)",
    )
    neuropil_coefficient: float = param(
        0.7, "", "fixed neuropil coefficient r in F - r*Fneu (field convention ~0.7)", ge=0, le=1.5
    )
    neuropil_fit_min: float = param(
        0.0, "", "lower clip of a fitted per-ROI neuropil coefficient", ge=0, le=1.5
    )
    neuropil_fit_max: float = param(
        1.2, "", "upper clip of a fitted per-ROI neuropil coefficient", ge=0, le=2.0
    )
    neuropil_fit_iterations: int = param(
        5, "", "robust-fit iterations (refit after excluding transient frames)", ge=1, le=50
    )
    neuropil_fit_outlier_sd: float = param(
        2.0,
        "SD",
        "frames whose fit residual exceeds this many residual SDs are treated as transients "
        "and excluded from the next fit iteration",
        gt=0,
    )
    # --- baseline and dF/F ---------------------------------------------------------------------
    baseline_method: Literal["maximin", "percentile"] = param(
        "percentile",
        "",
        "F0 estimator: 'percentile' (running percentile, smooth in time) or 'maximin' (Gaussian "
        "smoothing, running min then max; suite2p, piecewise flat under drift); both ignore "
        "NaN/blanked frames",
    )
    baseline_window_s: float = param(
        60.0, "s", "length of the running baseline window (suite2p win_baseline = 60 s)", gt=0
    )
    baseline_sigma_s: float = param(
        0.5,
        "s",
        "SD of the Gaussian smoothing applied before the maximin filter (suite2p sig_baseline)",
        ge=0,
    )
    baseline_percentile: float = param(
        8.0,
        "%",
        "percentile of the running-percentile baseline (Dombeck et al. 2007: 8th)",
        gt=0,
        lt=100,
    )
    baseline_step_s: float = param(
        2.0,
        "s",
        "running percentile evaluated every this many seconds and linearly interpolated "
        "(exact when <= one frame period; coarser is faster, baseline drifts are slow)",
        gt=0,
    )
    baseline_floor_fraction: float = param(
        0.05,
        "",
        "F0 is floored at this fraction of the ROI's median raw F so that a near-zero "
        "neuropil-corrected baseline cannot blow dF/F up",
        ge=0,
        le=1,
    )
    baseline_center_on_mode: bool = param(
        True,
        "",
        "rescale F0 per ROI so that the resting (modal) dF/F is 0 (low percentiles and maximin "
        "sit below the noise centre; False keeps the raw estimator)",
    )
    # --- photostimulation artefacts ------------------------------------------------------------
    artefact_extra_frames: int = param(
        1,
        "frames",
        "frames blanked after a pulse beyond ceil(duration x frame rate) (lab convention: +1)",
        ge=0,
        le=100,
    )
    blank_existing_dff: bool = param(
        True,
        "",
        "also set artefact frames to NaN in a dF/F read from the file (idempotent when it "
        "was blanked already)",
    )
    # --- events --------------------------------------------------------------------------------
    event_onset_sd: float = param(
        3.0, "noise SD", "hysteresis upper threshold: an event starts above this (lab: 3x)", gt=0
    )
    event_offset_sd: float = param(
        1.0,
        "noise SD",
        "hysteresis lower threshold: an event lasts while above this (lab: 1x)",
        gt=0,
    )
    event_min_frames: int = param(
        1,
        "frames",
        "events shorter than this many frames (above the lower threshold) dropped",
        ge=1,
    )
    event_noise_center: Literal["mode", "zero"] = param(
        "mode",
        "",
        "level the negative dF/F is mirrored around and thresholds are measured from: 'zero' "
        "(lab convention, exact when F0 is centred on the noise) or each ROI's resting 'mode' "
        "(robust to low-percentile/maximin baselines, which sit below the noise centre)",
    )
    deconvolve: bool = param(
        False, "", "also estimate spikes by OASIS deconvolution (AR(1), needs oasis-deconv)"
    )
    # --- boutons -> axons -----------------------------------------------------------------------
    merge_correlation_threshold: float = param(
        0.7,
        "Pearson r",
        "boutons merge into one axon when their union-event-window correlation exceeds this "
        "(cut of the hierarchical tree at 1 - r; field range 0.7-0.8)",
        gt=0,
        lt=1,
    )
    merge_linkage: Literal["average", "complete", "single", "weighted"] = param(
        "average", "", "linkage of the hierarchical clustering of boutons (scipy)"
    )
    merge_event_pad_s: float = param(
        0.5, "s", "event windows are padded by this on both sides before taking their union", ge=0
    )
    merge_min_union_frames: int = param(
        10,
        "frames",
        "pairs with fewer frames in their union window get r = 0 (never merged)",
        ge=2,
    )
    merge_weighting: Literal["inverse_noise", "equal"] = param(
        "inverse_noise",
        "",
        "weights of the merged axon trace: inverse noise variance (mirrored negative) or equal",
    )
