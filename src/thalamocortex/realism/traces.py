"""Per-ROI statistics of fluorescence traces: how a recording *looks*, for comparing recordings.

Every statistic is measured on dF/F from the package's own
:func:`~thalamocortex.preprocess.dff.compute_dff` with a **fixed** neuropil coefficient (0.7 by
default), so that a real recording and a simulated one are measured identically. Definitions
(per ROI; ``x`` is dF/F, NaN frames — blanked artefacts — ignored):

* **baseline level** ``b = median(x)``: the level the activity statistics are measured from.
  (dF/F's own zero, F0, is a low running percentile centred on the resting mode; the median
  sits slightly above it and is what a reader of a trace takes as "the baseline".)
* **noise SD** ``s = 1.4826 * median(|x[t+1] - x[t]|) / sqrt(2)``: the robust SD of the
  frame-to-frame differences, divided by sqrt(2) (the difference of two independent noise
  samples has twice the variance). Calcium transients are slow next to the frame period, so the
  differences are dominated by the frame-to-frame (shot) noise, and the median ignores the
  few frames where a transient rises. This is the usual robust noise level of a trace (cf.
  CASCADE's standardised noise level, Rupprecht et al. 2021, which uses the same median of
  absolute differences). The events module's mirrored-negative SD
  (:func:`~thalamocortex.preprocess.events.mirrored_negative_noise`) also counts slow baseline
  fluctuations as noise; it is the threshold for event *detection*, not the measure of noise
  used here (on the real movie it gives 0.33 vs 0.35 here).
* **skewness**: the sample skewness of ``x`` (``scipy.stats.skew``, biased estimator).
* **fraction of time active**: the fraction of frames with ``x - b > 2 s``.
* **events**: hysteresis on ``x - b``: an event starts above ``3 s`` and lasts while above
  ``1 s`` (Komiyama-lab thresholds, Peters et al. 2014; the same
  :func:`~thalamocortex.preprocess.events.event_mask`), and must last at least 0.1 s (3 frames
  at 30 Hz; shorter excursions are noise crossings, not calcium transients). **Events per
  minute** = number of events / (finite frames / frame rate / 60).
* **event peak**: the maximum of ``x - b`` within an event; per ROI the median over its events
  (NaN for an ROI without events).
* **Fneu / F**: ``median(Fneu) / median(F)`` (raw fluorescence, before any subtraction).
* **F median**: ``median(F)`` in the recording's units (brightness spread across ROIs).

With these definitions, suite2p 1.1.0's 54 cells (``iscell``) of the real mouse movie at 30 Hz
give the issue-10 column exactly: noise SD 0.35 [0.18-0.56], skewness 1.47 [0.39-3.19],
fraction active 0.08, events/min 7.2 [2.7-13.5], event peak 1.47 [0.71-2.51],
Fneu/F 0.85 [0.56-1.10] (median [10th-90th percentile] over ROIs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from thalamocortex.data.errors import DataError
from thalamocortex.preprocess.dff import as_frames_by_rois, compute_dff
from thalamocortex.preprocess.events import event_mask
from thalamocortex.preprocess.params import PreprocessParams
from thalamocortex.realism.params import RealismParams

#: columns of :func:`trace_statistics`, in order, with their meaning (used by reports and docs)
TRACE_COLUMNS: dict[str, str] = {
    "noise_sd": "noise SD of dF/F (robust SD of frame-to-frame differences / sqrt 2)",
    "skewness": "skewness of dF/F",
    "fraction_active": "fraction of time dF/F exceeds its median by 2 noise SD",
    "events_per_min": "events per minute (3/1 noise SD hysteresis, >= 0.1 s)",
    "event_peak": "median event peak dF/F (above the median)",
    "fneu_over_f": "median Fneu / median F",
    "f_median": "median raw F (recording units)",
    "n_events": "number of events",
    "duration_s": "duration of finite (not blanked) frames (s)",
}


def _check_rate(frame_rate: float) -> float:
    fr = float(frame_rate)
    if not (np.isfinite(fr) and fr > 0):
        raise DataError(
            f"expected a positive frame rate in Hz, got {frame_rate}", field="frame_rate"
        )
    return fr


def robust_noise_sd(dff) -> np.ndarray:
    """Noise SD of each trace from its frame-to-frame differences.

    ``1.4826 * median(|x[t+1] - x[t]|) / sqrt(2)``; differences involving a NaN frame are
    ignored.

    Parameters
    ----------
    dff : array (n_frames, n_rois)

    Returns
    -------
    array (n_rois,) float64; NaN for an ROI with fewer than two consecutive finite frames.
    """
    x = as_frames_by_rois(dff, "dff")
    d = np.abs(np.diff(x, axis=0))
    out = np.full(x.shape[1], np.nan)
    ok = np.isfinite(d).any(axis=0)
    if ok.any():
        out[ok] = 1.4826 * np.nanmedian(d[:, ok], axis=0) / np.sqrt(2.0)
    return out


def _event_peaks(excess: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """Per ROI, the maximum of ``excess`` within each run of ``mask`` (frames x ROIs)."""
    out = []
    for j in range(mask.shape[1]):
        labels, n = ndimage.label(mask[:, j])
        if n == 0:
            out.append(np.zeros(0))
            continue
        out.append(np.asarray(ndimage.maximum(excess[:, j], labels, np.arange(1, n + 1))))
    return out


def dff_statistics(dff, frame_rate: float, params: RealismParams | None = None) -> pd.DataFrame:
    """Per-ROI statistics of dF/F (everything of :func:`trace_statistics` but Fneu/F and F).

    Parameters
    ----------
    dff : array (n_frames, n_rois)
        dF/F; NaN frames (blanked artefacts) are ignored.
    frame_rate : float
        Frames per second (Hz).
    params : RealismParams, optional

    Returns
    -------
    DataFrame
        One row per ROI (index ``roi`` = column index in ``dff``), columns ``noise_sd``,
        ``skewness``, ``fraction_active``, ``events_per_min``, ``event_peak``, ``n_events``,
        ``duration_s`` (see the module docstring for the definitions).
    """
    p = params or RealismParams()
    fr = _check_rate(frame_rate)
    x = as_frames_by_rois(dff, "dff")
    finite = np.isfinite(x)
    n_finite = finite.sum(axis=0)
    with np.errstate(all="ignore"):
        base = np.where(n_finite > 0, np.nanmedian(np.where(finite, x, np.nan), axis=0), np.nan)
        noise = robust_noise_sd(x)
        excess = x - base[None, :]
        skew = np.asarray(stats.skew(x, axis=0, nan_policy="omit"), dtype=np.float64)
        active = np.where(n_finite > 0, (excess > p.active_threshold_sd * noise).sum(0), 0)
        fraction = np.where(n_finite > 0, active / np.maximum(n_finite, 1), np.nan)
    min_frames = max(1, int(round(p.event_min_duration_s * fr)))
    usable = np.isfinite(noise) & (noise > 0)
    mask = np.zeros_like(finite)
    if usable.any():
        mask[:, usable] = event_mask(
            x[:, usable],
            noise[usable],
            p.event_onset_sd,
            p.event_offset_sd,
            min_frames,
            center=base[usable],
        )
    peaks = _event_peaks(np.nan_to_num(excess, nan=-np.inf), mask)
    n_events = np.array([len(pk) for pk in peaks], dtype=np.int64)
    duration_s = n_finite / fr
    with np.errstate(all="ignore"):
        rate = np.where(duration_s > 0, n_events / (duration_s / 60.0), np.nan)
    peak = np.array([np.median(pk) if len(pk) else np.nan for pk in peaks])
    table = pd.DataFrame(
        {
            "noise_sd": noise,
            "skewness": skew,
            "fraction_active": fraction,
            "events_per_min": rate,
            "event_peak": peak,
            "n_events": n_events,
            "duration_s": duration_s,
        }
    )
    table.index.name = "roi"
    return table


def realism_dff(F, Fneu, frame_rate: float, neuropil_coef: float = 0.7, blank_mask=None):
    """dF/F as the realism statistics measure it (array (n_frames, n_rois) float32).

    :func:`~thalamocortex.preprocess.dff.compute_dff` with a fixed neuropil coefficient and
    the package's default baseline (running 8th percentile over 60 s, centred on the resting
    mode); NaN on ``blank_mask`` frames.
    """
    dff_params = PreprocessParams(neuropil_mode="fixed", neuropil_coefficient=float(neuropil_coef))
    return compute_dff(
        as_frames_by_rois(F, "F"), Fneu, _check_rate(frame_rate), dff_params, blank_mask=blank_mask
    )


def trace_statistics(
    F,
    Fneu,
    frame_rate: float,
    neuropil_coef: float | None = None,
    *,
    blank_mask=None,
    params: RealismParams | None = None,
    return_dff: bool = False,
):
    """Per-ROI realism statistics from raw ROI and neuropil fluorescence.

    dF/F is :func:`realism_dff`; the statistics are defined in the module docstring.

    Parameters
    ----------
    F, Fneu : array (n_frames, n_rois)
        Raw ROI and neuropil fluorescence (any units; Fneu may be None: no neuropil
        subtraction, and ``fneu_over_f`` is NaN).
    frame_rate : float
        Frames per second (Hz).
    neuropil_coef : float, optional
        Fixed neuropil coefficient (default ``params.neuropil_coefficient``, 0.7).
    blank_mask : array (n_frames,) bool, optional
        Frames to ignore (photostimulation artefacts).
    params : RealismParams, optional
    return_dff : bool
        Also return the dF/F the statistics were measured on.

    Returns
    -------
    DataFrame
        One row per ROI (index ``roi``), the columns of :data:`TRACE_COLUMNS`.
    dff : array (n_frames, n_rois) float32
        Only with ``return_dff``.
    """
    p = params or RealismParams()
    fr = _check_rate(frame_rate)
    F = as_frames_by_rois(F, "F")
    coef = p.neuropil_coefficient if neuropil_coef is None else float(neuropil_coef)
    dff = realism_dff(F, Fneu, fr, coef, blank_mask)
    table = dff_statistics(dff, fr, p)
    keep = np.ones(F.shape[0], bool) if blank_mask is None else ~np.asarray(blank_mask, bool)
    with np.errstate(all="ignore"):
        f_med = np.nanmedian(F[keep], axis=0)
        if Fneu is None:
            ratio = np.full(F.shape[1], np.nan)
        else:
            ratio = np.nanmedian(as_frames_by_rois(Fneu, "Fneu")[keep], axis=0) / f_med
    table.insert(5, "fneu_over_f", ratio)
    table.insert(6, "f_median", f_med)
    return (table, dff) if return_dff else table
