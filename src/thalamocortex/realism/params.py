"""Parameters of the realism statistics (:mod:`thalamocortex.realism`).

The defaults reproduce the "real somata" column of issue 10 (suite2p 1.1.0 ROIs of the real
mouse movie, the package's ``compute_dff`` with a fixed neuropil coefficient of 0.7); each doc
line says which convention a value follows.
"""

from __future__ import annotations

from thalamocortex.config import ParamGroup, param


class RealismParams(ParamGroup):
    """How per-ROI trace statistics and movie statistics are measured."""

    # --- traces ----------------------------------------------------------------------------------
    neuropil_coefficient: float = param(
        0.7,
        "",
        "fixed neuropil coefficient r of dF/F = (F - r Fneu - F0) / F0 (field convention 0.7; "
        "the same for every recording so that statistics are comparable)",
        ge=0,
        le=1.5,
    )
    active_threshold_sd: float = param(
        2.0,
        "noise SD",
        "'fraction of time active' counts frames whose dF/F exceeds the ROI's median by this "
        "many noise SDs",
        gt=0,
    )
    event_onset_sd: float = param(
        3.0,
        "noise SD",
        "an event starts where dF/F exceeds the ROI's median by this many noise SDs "
        "(hysteresis upper threshold, lab convention 3x, Peters et al. 2014)",
        gt=0,
    )
    event_offset_sd: float = param(
        1.0,
        "noise SD",
        "an event lasts while dF/F stays above the median by this many noise SDs (lower "
        "threshold, lab convention 1x)",
        gt=0,
    )
    event_min_duration_s: float = param(
        0.1,
        "s",
        "events shorter than this (frames above the lower threshold; rounded to whole frames, "
        "at least one) are noise crossings, not calcium transients (3 frames at 30 Hz)",
        ge=0,
    )
    # --- ROIs of a raw movie (suite2p) -----------------------------------------------------------
    suite2p_threshold_scaling: float = param(
        1.0,
        "",
        "suite2p detection threshold scaling for a movie measured by the realism command "
        "(suite2p's default; the package's preprocessing uses 2.0, tuned on simulated movies)",
        gt=0,
    )
    suite2p_min_bins: int = param(
        50,
        "bins",
        "suite2p bins tau x fs frames for detection; shortened only when a movie has fewer "
        "than this many such bins (a 2000-frame movie at 30 Hz keeps suite2p's 30-frame bins)",
        ge=10,
    )
    # --- movie -----------------------------------------------------------------------------------
    photon_flat_quantile: float = param(
        0.5,
        "",
        "photon transfer: only pixels whose squared spatial gradient of the mean image is below "
        "this quantile enter the mean-variance fit (at edges, motion adds frame-to-frame "
        "variance that is not shot noise)",
        gt=0,
        le=1,
    )
    photon_border_px: int = param(
        4,
        "px",
        "photon transfer: pixels this close to the edge are left out (registration borders, "
        "line-scan edge effects)",
        ge=0,
    )
    motion_burst_threshold_px: float = param(
        2.0,
        "px",
        "a motion burst is a run of frames displaced from the median position by more than this",
        gt=0,
    )
    motion_burst_merge_s: float = param(
        0.2,
        "s",
        "motion bursts separated by less than this are one burst",
        ge=0,
    )
