"""Parameters of the preprocessing stage (ROIs, neuropil, dF/F, events, merging, tracking).

Where the paper's Methods are not public, defaults follow the published conventions of the
Komiyama lab (Peters, Chen & Komiyama 2014) and of suite2p (Pachitariu et al. 2017); each doc
line says which.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from thalamocortex.config import ParamGroup, param


class PreprocessParams(ParamGroup):
    # --- neuropil ------------------------------------------------------------------------------
    neuropil_mode: Literal["fixed", "fitted"] = param(
        "fixed",
        "",
        "neuropil coefficient of somata: 'fixed' (one r for all ROIs, field convention) or "
        "'fitted' per ROI by robust regression of F on Fneu over non-transient frames",
    )
    neuropil_mode_boutons: Literal["fixed", "fitted"] = param(
        "fixed",
        "",
        "neuropil coefficient of bouton/axon ROIs (needs the ROI types): 'fixed' "
        "(neuropil_coefficient_boutons) or 'fitted' per ROI. A fit is biased upward on boutons "
        "because their own activity reaches the neuropil mask (their axon's shaft, the "
        "population's share of the neuropil, movement-locked neuropil of tuned boutons): "
        "realistic simulated sessions, true median 1.01, fitted median 1.37-1.52 (+0.8 on "
        "movement-tuned boutons), so 'fixed' is the default",
    )
    neuropil_coefficient: float = param(
        0.7,
        "",
        "fixed neuropil coefficient r in F - r*Fneu of somata (field convention ~0.7: a soma "
        "displaces part of the in-focus neuropil; simulated truth median 0.73 [0.56-0.88])",
        ge=0,
        le=1.5,
    )
    neuropil_coefficient_boutons: float = param(
        1.0,
        "",
        "fixed neuropil coefficient of bouton/axon ROIs. A punctum is smaller than the "
        "microscope's focal volume and displaces no neuropil, so its pixels carry the "
        "neuropil of their surroundings: r ~ 1 (realistic simulated sessions: true median "
        "1.01 [5th-95th pct 0.83-1.17]). With the soma value 0.7, 30 % of the neuropil's "
        "movement-locked signal stays in every bouton (untuned boutons' correlation with "
        "movement +0.054 above their true activity's, +0.001 at 1.0; 30 Hz default session)",
        ge=0,
        le=1.5,
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
    detection_exclude_after_light_s: float = param(
        1.0,
        "s",
        "besides the artefact frames, frames up to this long after each light pulse ends are "
        "excluded from ROI detection (not from registration shifts or traces): the "
        "photostimulation-evoked responses are synchronous across the driven population and "
        "suite2p's detection then finds few cells (simulated expert all-optical session: 18 "
        "of 60 somata without, 59 with 1 s, about one indicator decay time)",
        ge=0,
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
    bouton_unit: Literal["axon", "bouton"] = param(
        "axon",
        "",
        "unit every later analysis counts in axon imaging: 'axon' (boutons merged into axons, "
        "one axon counted once) or 'bouton' (every bouton, so an axon with several boutons in "
        "the field counts several times); the paper's unit is not stated",
    )
    merge_correlation_threshold: float = param(
        0.6,
        "Pearson r",
        "boutons merge into one axon when their union-event-window correlation (of dF/F "
        "smoothed by merge_smooth_s) exceeds this (tree cut at 1 - r; field range 0.7-0.8 on "
        "unsmoothed traces; 0.6 after 0.3 s smoothing gave ARI >= 0.93 on simulated boutons)",
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
    merge_smooth_s: float = param(
        0.3,
        "s",
        "SD of a Gaussian smoothing of dF/F before the union-window correlation (0 = none, the "
        "field convention; 0.3 s helps noisy boutons: white noise shrinks, transients stay)",
        ge=0,
    )
    merge_neuropil_mode: Literal["fixed", "fitted"] = param(
        "fitted",
        "",
        "neuropil coefficient of the dF/F the bouton correlations are computed on (clustering "
        "only; merged traces use the analysis dF/F): 'fitted' removes each bouton's own "
        "neuropil share, which otherwise correlates boutons of different axons",
    )
    merge_weighting: Literal["inverse_noise", "equal"] = param(
        "inverse_noise",
        "",
        "weights of the merged axon trace: inverse noise variance (mirrored negative) or equal",
    )
    # --- suite2p (raw movies) ------------------------------------------------------------------
    suite2p_diameter_px: float = param(
        12.0, "px", "expected soma diameter for suite2p detection (suite2p 'diameter')", gt=0
    )
    suite2p_tau_s: float = param(
        1.0, "s", "indicator decay time for suite2p (GCaMP6s ~1-1.5 s, 7f/8m ~0.5 s)", gt=0
    )
    suite2p_nonrigid: bool = param(True, "", "suite2p piecewise non-rigid registration")
    suite2p_block_size_px: int = param(
        128,
        "px",
        "non-rigid block size; clipped to at most half the field of view (suite2p needs blocks "
        "smaller than the image)",
        ge=8,
    )
    suite2p_bouton_diameter_px: float = param(
        3.0,
        "px",
        "suite2p 'diameter' for bouton (axon-imaging) sessions; their detection also uses "
        "suite2p_bouton_threshold_scaling and no soma cropping",
        gt=0,
    )
    suite2p_bouton_threshold_scaling: float = param(
        0.5,
        "",
        "suite2p detection threshold scaling for bouton sessions. Low on purpose: suite2p only "
        "has to touch every active punctum, the refinement (suite2p_bouton_refine) removes what "
        "is not one (30 s simulated bouton movies, 5 sessions, IoU 0.3: suite2p alone P 0.81 / "
        "R 0.69 at 1.0, P 0.14 / R 0.89 at 0.5; refined P 1.00 with R 0.68-0.96 at 1.0, "
        "0.91-0.97 at 0.75, 0.94-0.98 at 0.5). At 0.5 suite2p's ROIs cover ~70 % of the "
        "field, so the activity gate is weak and the puncta threshold sets precision",
        gt=0,
    )
    suite2p_bouton_refine: bool = param(
        True,
        "",
        "bouton sessions: replace suite2p's ROIs by the puncta of the registered mean image "
        "that they contain (refine_bouton_rois: merged ROIs split, sprawling ROIs trimmed to "
        "a punctum, ROIs without a punctum dropped), then extract F/Fneu with suite2p again",
    )
    bouton_punctum_sigma_px: float = param(
        0.5,
        "px",
        "SD of the Gaussian smoothing of the mean image before puncta are found (below a "
        "punctum's own SD, so that puncta 2.5-3 px apart stay separate maxima; 0.9 merged "
        "them: recall 0.70-0.90 instead of 0.94-0.98 on simulated bouton movies)",
        gt=0,
        le=10,
    )
    bouton_background_sigma_px: float = param(
        3.0,
        "px",
        "SD of the Gaussian background subtracted from the smoothed mean image (difference of "
        "Gaussians; removes neuropil and axon-shaft haze wider than a bouton)",
        gt=0,
        le=50,
    )
    bouton_peak_min_sd: float = param(
        2.5,
        "robust SD",
        "a punctum is a local maximum of the difference-of-Gaussians image above this many "
        "robust SDs (1.4826 x MAD over the field) of that image. On the realistic simulator "
        "(dim axon fields, silent axons, non-bouton puncta; 4 tiny-preset sessions, IoU 0.3) "
        "4.0 gave P 0.89-1.00 / R 0.74-0.89 (F1 0.83-0.89), 2.5 P 0.86-0.92 / R 0.84-0.93 "
        "(F1 0.88-0.89), 2.0 P 0.83-0.92 / R 0.90-0.96; most false ROIs left are the "
        "non-bouton puncta, which no mean-image threshold tells from a silent axon's bouton",
        gt=0,
    )
    bouton_min_peak_distance_px: float = param(
        1.0,
        "px",
        "puncta closer than this are one punctum (half-width of the local-maximum window, "
        "rounded down: 1 = 3 x 3 px)",
        ge=1,
        le=20,
    )
    bouton_roi_radius_px: float = param(
        2.0,
        "px",
        "a refined bouton ROI holds the pixels within this distance of its punctum peak that "
        "are nearer to it than to any other punctum",
        gt=0,
        le=20,
    )
    bouton_mask_fraction: float = param(
        0.2,
        "",
        "and whose difference-of-Gaussians value is at least this fraction of the peak's "
        "(the punctum's visible extent; pixel weights are those values)",
        ge=0,
        lt=1,
    )
    bouton_min_pixels: int = param(
        3, "px", "refined bouton ROIs with fewer pixels are dropped", ge=1, le=1000
    )
    suite2p_center_reference: bool = param(
        True,
        "",
        "move the registered movie by the integer median of the estimated shifts, so that "
        "ROIs sit where the tissue is at its median position (suite2p's reference sits "
        "wherever its reference frames happened to be, up to a pixel or two off; that "
        "matters for few-pixel bouton ROIs)",
    )
    suite2p_maxregshift: float = param(
        0.1, "fraction of FOV", "largest rigid shift searched (suite2p maxregshift)", gt=0, le=0.5
    )
    suite2p_threshold_scaling: float = param(
        1.0,
        "",
        "suite2p detection threshold scaling of soma movies (suite2p's default 1.0; higher = "
        "fewer ROIs). With suite2p_min_cell_probability 0.5 the stage then keeps suite2p's own "
        "cells: on the real mouse movie (2000 x 128 x 128, 30 Hz) 54 of suite2p-alone's 54 "
        "cells, IoU 1.0; the earlier simulator-tuned 2.0 without a cell filter gave 125 ROIs "
        "including fragments and matched 41",
        gt=0,
    )
    suite2p_min_cell_probability: float = param(
        0.5,
        "",
        "soma movies keep the ROIs whose suite2p classifier probability is at least this "
        "(0.5 = suite2p's own iscell rule; 0 keeps every ROI detection found). Not applied to "
        "bouton movies: the built-in classifier is trained on somata, and the bouton refinement "
        "(suite2p_bouton_refine) decides there",
        ge=0,
        le=1,
    )
    suite2p_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "further suite2p settings as dotted keys into suite2p's nested default settings, "
            "e.g. {'detection.sparsery_settings.highpass_neuropil': 25}; unknown keys are errors"
        ),
        json_schema_extra={"unit": ""},
    )
    suite2p_min_bins: int = param(
        50,
        "bins",
        "detection bins at least this many time bins: suite2p's bin of tau x fs frames is "
        "shortened for short movies only (unless detection.bin_size is overridden); a movie "
        "of >= 50 x tau x fs frames keeps suite2p's own bin (2000 frames at 30 Hz: 30 frames; "
        "100 shortened it to 20 and changed which cells suite2p found on the real movie)",
        ge=10,
    )
    suite2p_reference_frames: int = param(
        400, "frames", "good (non-artefact) frames sampled for the registration reference", ge=10
    )
    # --- cross-session tracking ------------------------------------------------------------
    track_max_distance_px: float = param(
        6.0, "px", "candidate pairs have registered centroids at most this far apart", gt=0
    )
    track_min_probability: float = param(
        0.5,
        "",
        "tracking clusters merge while the mean same-cell probability over their cross-session "
        "pairs is at least this; a ROI whose mean probability to the rest of its cell is lower "
        "founds its own cell",
        ge=0,
        le=1,
    )
    track_min_footprint_corr: float = param(
        0.5,
        "Pearson r",
        "footprint correlation at which the fallback logistic rule gives probability 0.5 (used "
        "when too few candidate pairs exist to fit the same/different mixture)",
        ge=-1,
        le=1,
    )
    track_probability_model: Literal["gmm", "distance"] = param(
        "gmm",
        "",
        "same-cell probability of a pair: 'gmm' = 2-Gaussian mixture on (arctanh footprint "
        "correlation, centroid distance); 'distance' = CellReg's centroid-distance model "
        "(Rayleigh same-cell + linear-density different-cell, EM): no false matches in the "
        "tests but its Gaussian tail misses more true pairs at large day-to-day jitter",
    )
    track_min_pair_corr: float = param(
        0.1,
        "Pearson r",
        "'distance' model: pairs whose registered footprints correlate less than this are "
        "different cells (probability 0)",
        ge=-1,
        le=1,
    )
    track_em_iterations: int = param(
        200, "iterations", "most EM iterations of the 'distance' mixture fit", ge=1
    )
    track_fit_radius_factor: float = param(
        3.0,
        "x track_max_distance_px",
        "the same/different mixture is fitted on pairs up to this multiple of the candidate "
        "radius, so that the different-cell population is represented (CellReg fits its model "
        "on all neighbouring pairs)",
        ge=1,
        le=10,
    )
    track_min_fit_pairs: int = param(
        20, "pairs", "fewer candidate pairs than this use the fallback logistic rule", ge=5
    )
    track_min_separation: float = param(
        0.5,
        "arctanh(r)",
        "the fitted components must differ by this much in mean arctanh(footprint correlation) "
        "to be read as same/different cells (else the fallback logistic rule)",
        ge=0,
    )
    track_refine_iterations: int = param(
        2,
        "iterations",
        "ROI-based refinement of the registration: each session's shift is corrected by its "
        "fitted offset (tracked ROI centroid = cell position + session offset, alternating "
        "trimmed means), then ROIs are scored and clustered again (0 = mean-image "
        "registration only)",
        ge=0,
        le=10,
    )
    track_max_refine_px: float = param(
        2.0,
        "px",
        "largest correction one ROI-based refinement iteration may apply to a session's shift "
        "(larger ones mean the clusters are not trustworthy; that session's shift is kept)",
        gt=0,
    )
    track_refine_trim: float = param(
        0.2,
        "fraction",
        "proportion cut from each end of the displacements before averaging them in the "
        "ROI-based refinement (robust to the odd wrong match)",
        ge=0,
        lt=0.5,
    )
