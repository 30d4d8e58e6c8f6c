"""Neuropil subtraction, baseline (F0) estimation and dF/F.

The pipeline per ROI is::

    Fc  = F - r * Fneu                       (r fixed, or fitted per ROI)
    F0  = baseline(Fc)                       (running percentile or running maximin)
    dF/F = (Fc - F0) / max(F0, floor)
    (optionally F0 rescaled so that the resting, modal dF/F is 0)

Blanked frames (photostimulation artefacts, see :func:`artefact_mask`) are set to NaN *before*
anything is estimated, so they never enter the neuropil fit or the baseline, and they stay NaN in
the output (NaN, not 0: a zero would be a real value of dF/F).

Conventions: the fixed coefficient ~0.7 is the field default (Chen et al. 2013; Peters et al.
2014); maximin is suite2p's baseline (Pachitariu et al. 2017); the 8th running percentile follows
Dombeck et al. 2007. The paper's exact choices are unknown; every one is a parameter in
:class:`~thalamocortex.preprocess.params.PreprocessParams`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import ndimage

from thalamocortex.data.errors import DataError
from thalamocortex.preprocess.params import PreprocessParams


def as_frames_by_rois(x, name: str) -> np.ndarray:
    """``x`` as a float64 (n_frames, n_rois) array (a 1-D trace becomes one column); a
    :class:`~thalamocortex.data.errors.DataError` naming ``name`` for any other shape."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"expected a frames x ROIs array, got shape {arr.shape}", field=name)
    return arr


# ------------------------------------------------------------------------------------------------
# artefacts
# ------------------------------------------------------------------------------------------------


def artefact_mask(
    frame_times,
    pulses_df: pd.DataFrame | None,
    frame_rate: float,
    extra_frames: int = 1,
) -> np.ndarray:
    """Frames contaminated by stimulation light.

    A frame at time ``t`` is exposed during ``[t, t + 1/frame_rate)``. For each pulse, the frame
    whose exposure contains the light onset (the frame *at* the onset when they coincide) and the
    following ones are blanked: ``ceil(duration * frame_rate) + extra_frames`` frames in all (lab
    convention, extra_frames = 1: the ``+1`` covers the frame straddling onset or offset). Frames
    starting while the light is on are always blanked as well (irregular frame times). This is
    the same convention as :func:`thalamocortex.opto.responses.artefact_mask`.

    Parameters
    ----------
    frame_times : array (n_frames,)
        Session time (s) of each frame (start of its exposure), increasing.
    pulses_df : DataFrame or None
        Columns ``start_time`` (s) and ``duration`` (s); None or empty means no pulses.
    frame_rate : float
        Imaging frame rate (Hz).
    extra_frames : int
        Frames blanked beyond ``ceil(duration * frame_rate)``.

    Returns
    -------
    array (n_frames,) bool
        True on blanked frames.
    """
    frame_times = np.asarray(frame_times, dtype=np.float64)
    n = len(frame_times)
    mask = np.zeros(n, dtype=bool)
    if pulses_df is None or len(pulses_df) == 0:
        return mask
    for col in ("start_time", "duration"):
        if col not in pulses_df.columns:
            raise DataError(
                f"missing column {col!r}; has {list(pulses_df.columns)}", field="pulses"
            )
    if not (np.isfinite(frame_rate) and frame_rate > 0):
        raise DataError(
            f"expected a positive frame rate in Hz, got {frame_rate}", field="frame_rate"
        )
    onsets = pulses_df["start_time"].to_numpy(np.float64)
    durations = pulses_df["duration"].to_numpy(np.float64)
    if np.any(~np.isfinite(onsets)) or np.any(~np.isfinite(durations)) or np.any(durations < 0):
        raise DataError("pulse start_time/duration must be finite, durations >= 0", field="pulses")
    # a frame stamped a hair after the onset (float rounding) still counts as "at" the onset
    eps = 1e-6 / frame_rate
    first = np.searchsorted(frame_times, onsets + eps, side="right") - 1
    # a tiny tolerance on the product keeps e.g. 0.1 s x 30 Hz = 3.0000000004 at 3
    n_blank = np.array([math.ceil(d * frame_rate - 1e-9) for d in durations]) + int(extra_frames)
    # the frame containing the onset must lie within one frame period of it
    in_range = (first < n) & (first >= 0)
    late = np.zeros_like(in_range)
    late[in_range] = onsets[in_range] - frame_times[first[in_range]] >= 1.0 / frame_rate
    for f0, k, skip in zip(first, n_blank, late):
        if skip:  # onset falls in a gap of the frame times: blank from the next frame
            f0 = f0 + 1
            k = k - 1
        lo = max(0, f0)
        hi = min(n, f0 + k)
        if hi > lo:
            mask[lo:hi] = True
    # frames that start while the light is on, whatever the convention says
    lo = np.searchsorted(frame_times, onsets, side="left")
    hi = np.searchsorted(frame_times, onsets + durations, side="left")
    for a, b in zip(lo, hi):
        mask[a:b] = True
    return mask


# ------------------------------------------------------------------------------------------------
# neuropil
# ------------------------------------------------------------------------------------------------


def fit_neuropil_coefficients(F, Fneu, params: PreprocessParams | None = None) -> np.ndarray:
    """Per-ROI neuropil coefficient by iteratively re-weighted least squares.

    ``F = a + r * Fneu`` is fitted on frames without transients: after each fit, frames whose
    residual exceeds ``neuropil_fit_outlier_sd`` residual SDs (calcium transients of the ROI
    itself, which are not neuropil) are excluded and the fit is repeated. ``r`` is clipped to
    ``[neuropil_fit_min, neuropil_fit_max]``. NaN frames are ignored.

    This is a documented reconstruction (the paper's method is unknown); it follows the idea of
    fitting r on baseline periods (e.g. Kerlin et al. 2010; Allen Brain Observatory).

    Parameters
    ----------
    F, Fneu : array (n_frames, n_rois)

    Returns
    -------
    array (n_rois,) float64
    """
    p = params or PreprocessParams()
    F = as_frames_by_rois(F, "F")
    Fneu = as_frames_by_rois(Fneu, "Fneu")
    valid = np.isfinite(F) & np.isfinite(Fneu)
    use = valid.copy()
    r = np.full(F.shape[1], p.neuropil_coefficient)
    for _ in range(p.neuropil_fit_iterations):
        w = use.astype(np.float64)
        n = np.maximum(w.sum(0), 1.0)
        x = np.where(use, Fneu, 0.0)
        y = np.where(use, F, 0.0)
        mx = x.sum(0) / n
        my = y.sum(0) / n
        dx = np.where(use, Fneu - mx, 0.0)
        dy = np.where(use, F - my, 0.0)
        vx = (dx * dx).sum(0)
        ok = vx > 0
        r = np.where(ok, (dx * dy).sum(0) / np.where(ok, vx, 1.0), p.neuropil_coefficient)
        r = np.clip(r, p.neuropil_fit_min, p.neuropil_fit_max)
        resid = np.where(valid, F - (my + r * (Fneu - mx)), np.nan)
        # residual SD from the lower half (transients are positive outliers)
        sd = np.sqrt(np.nanmean(np.where(resid < 0, resid, np.nan) ** 2, axis=0))
        sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.inf)
        new_use = valid & (resid <= p.neuropil_fit_outlier_sd * sd)
        if np.array_equal(new_use, use):
            break
        use = new_use
    return r


def neuropil_corrected(
    F, Fneu, params: PreprocessParams | None = None, roi_types=None
) -> tuple[np.ndarray, np.ndarray]:
    """``F - r * Fneu`` and the coefficients used.

    Returns
    -------
    Fc : array (n_frames, n_rois) float64
    r : array (n_rois,) float64
    """
    p = params or PreprocessParams()
    F = as_frames_by_rois(F, "F")
    if Fneu is None:
        return F.copy(), np.zeros(F.shape[1])
    Fneu = as_frames_by_rois(Fneu, "Fneu")
    if Fneu.shape != F.shape:
        raise DataError(f"shape {Fneu.shape} does not match F {F.shape}", field="Fneu")
    r = np.full(F.shape[1], p.neuropil_coefficient)
    if roi_types is None:
        fitted = np.full(F.shape[1], p.neuropil_mode == "fitted")
    else:
        roi_types = np.asarray(roi_types).astype(str)
        if roi_types.shape != (F.shape[1],):
            raise DataError(f"{roi_types.shape} ROI types for {F.shape[1]} ROIs", field="roi_types")
        small = np.isin(roi_types, ("bouton", "axon"))
        r[small] = p.neuropil_coefficient_boutons
        fitted = np.where(small, p.neuropil_mode_boutons == "fitted", p.neuropil_mode == "fitted")
    if fitted.any():
        r[fitted] = fit_neuropil_coefficients(F[:, fitted], Fneu[:, fitted], p)
    return F - r[None, :] * Fneu, r


# ------------------------------------------------------------------------------------------------
# baselines
# ------------------------------------------------------------------------------------------------


def _nan_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 by normalised convolution (NaN frames carry no weight)."""
    if sigma <= 0:
        return x.copy()
    valid = np.isfinite(x)
    num = ndimage.gaussian_filter1d(np.where(valid, x, 0.0), sigma, axis=0, mode="nearest")
    den = ndimage.gaussian_filter1d(valid.astype(np.float64), sigma, axis=0, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[den < 1e-3] = np.nan
    out[~valid] = np.nan  # blanked frames stay unknown; the min/max filters skip them
    return out


def _fill_nan_by_interpolation(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN along axis 0 (constant beyond the ends)."""
    out = x.copy()
    t = np.arange(x.shape[0])
    for j in range(x.shape[1]):
        col = out[:, j]
        ok = np.isfinite(col)
        if ok.all() or not ok.any():
            continue
        col[~ok] = np.interp(t[~ok], t[ok], col[ok])
    return out


def maximin_baseline(x, frame_rate: float, window_s: float = 60.0, sigma_s: float = 0.5):
    """suite2p's maximin baseline, NaN-aware.

    Gaussian smoothing (SD ``sigma_s``), then a running minimum and a running maximum over
    ``window_s``. NaN frames are skipped by both filters (they neither pull the minimum down nor
    the maximum up); the baseline at a NaN frame is interpolated from its neighbours.

    Parameters
    ----------
    x : array (n_frames, n_rois)
    frame_rate : float (Hz)

    Returns
    -------
    array (n_frames, n_rois) float64; NaN only for an ROI with no valid frame.
    """
    x = as_frames_by_rois(x, "F")
    win = max(1, int(round(window_s * frame_rate)))
    s = _nan_gaussian(x, sigma_s * frame_rate)
    lo = ndimage.minimum_filter1d(np.where(np.isfinite(s), s, np.inf), win, axis=0, mode="nearest")
    lo[~np.isfinite(lo)] = np.nan
    hi = ndimage.maximum_filter1d(
        np.where(np.isfinite(lo), lo, -np.inf), win, axis=0, mode="nearest"
    )
    hi[~np.isfinite(hi)] = np.nan
    return _fill_nan_by_interpolation(hi)


def _window_percentiles(x: np.ndarray, bounds: np.ndarray, q: float) -> np.ndarray:
    """NaN-ignoring percentile (linear interpolation) of every column of ``x[a:b]`` for each
    window ``(a, b)`` of ``bounds``; equal to ``np.nanpercentile(x[a:b], q, axis=0)`` up to the
    last bit of the interpolation ``v_lo (1 - f) + v_hi f``.

    The selection runs on a transposed copy (one contiguous lane per ROI), with NaN bookkeeping
    done once: a window whose frames are each either all finite or all NaN (blanked frames) is
    reduced to its finite frames and the two order statistics are selected by one partition,
    O(window); other windows (NaN in some ROIs only) are sorted, NaN last, per ROI count.

    Parameters
    ----------
    x : array (n_frames, n_rois)
    bounds : int array (n_windows, 2)
        Half-open frame ranges.
    q : float
        Percentile (0-100).

    Returns
    -------
    array (n_windows, n_rois) float64; NaN for an ROI without a finite frame in the window.
    """
    xt = np.ascontiguousarray(x.T)
    finite = np.isfinite(x)
    whole = finite.all(axis=1)
    partial = ~whole & finite.any(axis=1)
    n_whole = np.concatenate(([0], np.cumsum(whole)))
    n_partial = np.concatenate(([0], np.cumsum(partial)))
    out = np.empty((len(bounds), x.shape[1]))
    frac_q = q / 100.0
    for i, (a, b) in enumerate(bounds):
        m = int(n_whole[b] - n_whole[a])
        if m > 0 and n_partial[b] == n_partial[a]:
            # NaN only on whole frames (blanked): drop them and select, O(window)
            block = xt[:, a:b] if m == b - a else xt[:, a:b][:, whole[a:b]]
            pos = frac_q * (m - 1)
            lo = int(np.floor(pos))
            frac = pos - lo
            part = np.partition(block, lo, axis=1)
            v_lo = part[:, lo]
            v_hi = part[:, lo + 1 :].min(axis=1) if lo + 1 < m else v_lo
            out[i] = v_lo * (1 - frac) + v_hi * frac
            continue
        srt = np.sort(xt[:, a:b], axis=1)  # NaN sort last
        n = finite[a:b].sum(axis=0)
        pos = frac_q * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        rows = np.arange(xt.shape[0])
        frac = pos - lo
        out[i] = srt[rows, lo] * (1 - frac) + srt[rows, hi] * frac
        out[i, n == 0] = np.nan
    return out


def percentile_baseline(
    x, frame_rate: float, window_s: float = 60.0, percentile: float = 8.0, step_s: float = 2.0
):
    """Running percentile baseline, NaN-aware.

    The percentile of the valid frames within a centred window of ``window_s`` is evaluated
    every ``step_s`` and linearly interpolated in between (baseline drift is slow; with
    ``step_s`` at most one frame period the result is the exact running percentile).

    Parameters
    ----------
    x : array (n_frames, n_rois)
    frame_rate : float (Hz)

    Returns
    -------
    array (n_frames, n_rois) float64
    """
    x = as_frames_by_rois(x, "F")
    n = x.shape[0]
    half = max(1, int(round(window_s * frame_rate / 2)))
    step = max(1, int(round(step_s * frame_rate)))
    centres = np.arange(0, n, step)
    if centres[-1] != n - 1:
        centres = np.append(centres, n - 1)
    bounds = np.stack([np.maximum(0, centres - half), np.minimum(n, centres + half + 1)], axis=1)
    vals = _fill_nan_by_interpolation(_window_percentiles(x, bounds, percentile))
    if step == 1:
        return vals
    t = np.arange(n)
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        out[:, j] = np.interp(t, centres, vals[:, j])
    return out


def baseline(x, frame_rate: float, params: PreprocessParams | None = None) -> np.ndarray:
    """F0 with the method chosen in ``params.baseline_method``."""
    p = params or PreprocessParams()
    if p.baseline_method == "maximin":
        return maximin_baseline(x, frame_rate, p.baseline_window_s, p.baseline_sigma_s)
    return percentile_baseline(
        x, frame_rate, p.baseline_window_s, p.baseline_percentile, p.baseline_step_s
    )


# ------------------------------------------------------------------------------------------------
# dF/F
# ------------------------------------------------------------------------------------------------


def compute_dff(
    F,
    Fneu,
    frame_rate: float,
    params: PreprocessParams | None = None,
    blank_mask=None,
    roi_types=None,
) -> np.ndarray:
    """dF/F from raw ROI and neuropil fluorescence.

    Parameters
    ----------
    F : array (n_frames, n_rois)
        Raw ROI fluorescence (a.u.).
    Fneu : array (n_frames, n_rois) or None
        Neuropil fluorescence (a.u.); None skips neuropil subtraction.
    frame_rate : float
        Frame rate (Hz).
    params : PreprocessParams, optional
    blank_mask : array (n_frames,) bool, optional
        Frames to exclude (photostimulation artefacts): they are NaN in the output and never
        enter the neuropil fit or the baseline. NaN frames already in ``F`` are treated alike.
    roi_types : sequence of str (n_rois,), optional
        ``soma``/``bouton``/``axon``: boutons and axons use ``neuropil_mode_boutons`` and
        ``neuropil_coefficient_boutons``, somata ``neuropil_mode`` and
        ``neuropil_coefficient``; without types every ROI is treated as a soma.

    Returns
    -------
    dff : array (n_frames, n_rois) float32
        NaN on blanked frames.
    """
    p = params or PreprocessParams()
    if not (np.isfinite(frame_rate) and frame_rate > 0):
        raise DataError(
            f"expected a positive frame rate in Hz, got {frame_rate}", field="frame_rate"
        )
    F = as_frames_by_rois(F, "F")
    if Fneu is not None:
        Fneu = as_frames_by_rois(Fneu, "Fneu").copy()
        if Fneu.shape != F.shape:
            raise DataError(f"shape {Fneu.shape} does not match F {F.shape}", field="Fneu")
    if blank_mask is not None:
        blank_mask = np.asarray(blank_mask, dtype=bool)
        if blank_mask.shape != (F.shape[0],):
            raise DataError(
                f"expected shape ({F.shape[0]},) (one flag per frame), got {blank_mask.shape}",
                field="blank_mask",
            )
        F = F.copy()
        F[blank_mask] = np.nan
        if Fneu is not None:
            Fneu[blank_mask] = np.nan
    Fc, _ = neuropil_corrected(F, Fneu, p, roi_types)
    F0 = baseline(Fc, frame_rate, p)
    with np.errstate(invalid="ignore", all="ignore"):
        floor = p.baseline_floor_fraction * np.abs(np.nanmedian(F, axis=0))
    floor = np.where(np.isfinite(floor), floor, 0.0)
    denom = np.maximum(F0, np.maximum(floor, np.finfo(np.float64).tiny)[None, :])
    dff = (Fc - F0) / denom
    if p.baseline_center_on_mode:
        # F0' = F0 (1 + m) puts the resting (modal) dF/F at 0: low-percentile and maximin
        # baselines sit below the centre of the noise by a roughly constant fraction
        from thalamocortex.preprocess.events import resting_mode

        m = resting_mode(dff)
        m = np.where(np.isfinite(m), m, 0.0)
        denom = denom * (1.0 + m)[None, :]
        dff = (Fc - denom) / denom
    return dff.astype(np.float32)
