"""Peri-movement activity: aligned tensors, response timing and trial-to-trial reliability.

Tensors are ``trials x time x ROIs`` (float32, NaN where the window leaves the recording or
frames were blanked). Events are aligned to the nearest imaging frame; sub-frame alignment is
not attempted (the frame period is the resolution of every timing estimate except the
interpolated onset latency).

Timing (a documented reconstruction; the paper's exact definition is unpublished):

- *peak time*: time of the maximum of the trial-averaged, baseline-subtracted response within
  ``timing_window_s`` of movement onset;
- *onset latency*: walking back from the peak, the time at which the response last crosses
  ``onset_fraction`` (default one half) of the peak, linearly interpolated between frames
  (half-maximum latency). Negative values lead the movement.

Confidence intervals come from a trial bootstrap done for all resamples and ROIs at once
(multinomial trial counts times the tensor).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import norm

from thalamocortex.data.errors import DataError


def frame_offsets(window_s: tuple[float, float], frame_rate: float) -> np.ndarray:
    """Integer frame offsets spanning ``window_s`` (s) at ``frame_rate`` (Hz)."""
    lo = int(np.round(window_s[0] * frame_rate))
    hi = int(np.round(window_s[1] * frame_rate))
    return np.arange(lo, hi + 1)


def peri_event_tensor(
    dff: np.ndarray,
    frame_times: np.ndarray,
    event_times: np.ndarray,
    window_s: tuple[float, float] = (-2.0, 3.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Activity aligned to events (movement onsets, cues).

    Parameters
    ----------
    dff : array (n_frames, n_rois)
    frame_times : array (n_frames,)
        Session time of each frame (s); the frame rate is taken from their median spacing.
    event_times : array (n_events,)
        Session times (s); NaN events give all-NaN trials.
    window_s : (float, float)
        Window relative to each event (s), e.g. ``(-2, 3)``.

    Returns
    -------
    tensor : array (n_events, n_time, n_rois) float32
    time_s : array (n_time,)
        Time of each sample relative to the event (s).
    """
    x = np.asarray(dff)
    t = np.asarray(frame_times, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(t):
        raise DataError(
            f"dff: expected ({len(t)} frames x ROIs) to match frame_times, got {x.shape}"
        )
    if window_s[1] <= window_s[0]:
        raise ValueError(f"window_s: end must follow start, got {window_s}")
    dt = float(np.median(np.diff(t)))
    offsets = frame_offsets(window_s, 1.0 / dt)
    ev = np.asarray(event_times, dtype=np.float64).ravel()
    ok_ev = np.isfinite(ev)
    centre = np.full(len(ev), -(10**9), dtype=np.int64)
    if ok_ev.any():
        i = np.clip(np.searchsorted(t, ev[ok_ev]), 1, len(t) - 1)
        i = np.where(np.abs(ev[ok_ev] - t[i - 1]) <= np.abs(t[i] - ev[ok_ev]), i - 1, i)
        centre[ok_ev] = i
    idx = centre[:, None] + offsets[None, :]
    inside = (idx >= 0) & (idx < len(t))
    tensor = x[np.clip(idx, 0, len(t) - 1)].astype(np.float32, copy=True)
    tensor[~inside] = np.nan
    return tensor, offsets * dt


def baseline_subtract(
    tensor: np.ndarray, time_s: np.ndarray, baseline_s: tuple[float, float]
) -> np.ndarray:
    """Subtract each trial's mean over ``baseline_s`` from that trial, per ROI."""
    sel = (time_s >= baseline_s[0]) & (time_s <= baseline_s[1])
    if not sel.any():
        raise ValueError(f"baseline_s {baseline_s} has no samples in the window {time_s[[0, -1]]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN baselines stay NaN
        base = np.nanmean(tensor[:, sel, :], axis=1, keepdims=True)
    return tensor - base


def trial_average(tensor: np.ndarray) -> np.ndarray:
    """NaN-aware mean over trials, (n_time, n_rois)."""
    valid = np.isfinite(tensor)
    n = valid.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, tensor, 0).sum(0) / n


def deconvolve_decay(average: np.ndarray, time_s: np.ndarray, decay_s: float) -> np.ndarray:
    """Undo the indicator's exponential decay: ``a(t) + decay_s * da/dt`` along the time axis.

    For a kernel ``exp(-t / decay_s)`` this returns the underlying rate change (up to scale);
    for the double-exponential kernel of GCaMP it leaves the rise-time smoothing only, which
    removes most of the delay the slow decay adds to calcium-based latencies.
    ``average`` has time on axis -2.
    """
    if decay_s <= 0:
        return average
    dt = float(time_s[1] - time_s[0])
    return average + decay_s * np.gradient(average, dt, axis=-2)


def _crossing(a: np.ndarray, thr: np.ndarray, k: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Interpolated time at which ``a`` (..., t) last rises through ``thr`` before index ``k``."""
    pos = np.arange(a.shape[-1])
    below = (a < thr[..., None]) & (pos <= k[..., None])
    j = np.where(below.any(-1), a.shape[-1] - 1 - np.argmax(below[..., ::-1], axis=-1), -1)
    j0 = np.maximum(j, 0)
    j1 = np.minimum(j + 1, a.shape[-1] - 1)
    aj = np.take_along_axis(a, j0[..., None], -1)[..., 0]
    aj1 = np.take_along_axis(a, j1[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((thr - aj) / (aj1 - aj), 0.0, 1.0)
    return np.where(j >= 0, ts[j0] + frac * (ts[1] - ts[0]), ts[0])


def response_timing(
    average: np.ndarray,
    time_s: np.ndarray,
    window_s: tuple[float, float] = (-1.0, 2.0),
    onset_fraction: float = 0.5,
    onset_method: str = "tangent",
    decay_s: float = 0.0,
) -> dict[str, np.ndarray]:
    """Peak time, peak amplitude and onset latency of trial-averaged responses.

    Parameters
    ----------
    average : array (..., n_time, n_rois)
        Trial-averaged, baseline-subtracted responses (leading axes, e.g. bootstrap
        replicates, are kept).
    time_s : array (n_time,)
    window_s : (float, float)
        Search window relative to the event (s).
    onset_fraction : float
        ``"fraction"`` method: onset = last rise through ``onset_fraction * peak`` before the
        peak (interpolated).
    onset_method : {"tangent", "fraction"}
        ``"tangent"``: the rising edge through 20 % and 80 % of the peak extrapolated back to
        the baseline (less biased by the response's rise time than a threshold crossing).
    decay_s : float
        Indicator decay time constant (s); > 0 applies :func:`deconvolve_decay` before the
        onset latency is measured (the peak time is always measured on the calcium signal).

    Returns
    -------
    dict of arrays (..., n_rois): ``peak_time``, ``peak`` (dF/F), ``onset_latency`` (s).
    """
    sel = np.flatnonzero((time_s >= window_s[0]) & (time_s <= window_s[1]))
    if len(sel) < 2:
        raise ValueError(f"timing window {window_s} has fewer than two samples")
    avg = np.asarray(average, dtype=np.float64)
    ts = time_s[sel]

    def peak_of(x):
        x = np.moveaxis(x[..., sel, :], -2, -1)  # (..., roi, t)
        k = np.argmax(np.where(np.isfinite(x), x, -np.inf), axis=-1)
        return x, k, np.take_along_axis(x, k[..., None], -1)[..., 0]

    a, k, peak = peak_of(avg)
    finite_any = np.isfinite(a).any(-1)
    d, kd, pd_ = peak_of(deconvolve_decay(avg, time_s, decay_s)) if decay_s > 0 else (a, k, peak)
    if onset_method == "fraction":
        onset = _crossing(d, onset_fraction * pd_, kd, ts)
    elif onset_method == "tangent":
        t20 = _crossing(d, 0.2 * pd_, kd, ts)
        t80 = _crossing(d, 0.8 * pd_, kd, ts)
        onset = t20 - (t80 - t20) / 3.0  # line through (t20, .2P), (t80, .8P) meets 0 here
    else:
        raise ValueError(f"onset_method must be 'tangent' or 'fraction', got {onset_method!r}")
    bad = ~finite_any | ~(peak > 0)
    return {
        "peak_time": np.where(bad, np.nan, ts[k]),
        "peak": np.where(finite_any, peak, np.nan),
        "onset_latency": np.where(bad | ~(pd_ > 0), np.nan, onset),
    }


def bootstrap_trial_averages(
    tensor: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Trial-bootstrap replicates of the trial average, (n_boot, n_time, n_rois).

    All replicates at once: multinomial trial counts (n_boot x n_trials) times the tensor.
    """
    n_trials = tensor.shape[0]
    counts = rng.multinomial(n_trials, np.full(n_trials, 1.0 / n_trials), size=n_boot).astype(
        np.float32
    )
    valid = np.isfinite(tensor).reshape(n_trials, -1)
    x0 = np.where(valid, tensor.reshape(n_trials, -1), 0.0).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = (counts @ x0) / (counts @ valid.astype(np.float32))
    return avg.reshape(n_boot, *tensor.shape[1:])


#: Level of the trial-bootstrap intervals of peak time and onset latency. The learning tests
#: read each session's sampling variance off this interval
#: (:func:`thalamocortex.encoding.learning.session_variance`).
TIMING_CI_LEVEL = 0.95
#: Half-width of that interval in standard errors (normal quantile).
TIMING_CI_Z = float(norm.ppf(0.5 + TIMING_CI_LEVEL / 2))


def timing_with_ci(
    tensor: np.ndarray,
    time_s: np.ndarray,
    window_s: tuple[float, float] = (-1.0, 2.0),
    onset_fraction: float = 0.5,
    onset_method: str = "tangent",
    decay_s: float = 0.0,
    n_boot: int = 500,
    ci_level: float = TIMING_CI_LEVEL,
    seed: int = 0,
    roi_chunk: int = 128,
) -> dict[str, np.ndarray]:
    """Peak time and onset latency per ROI with trial-bootstrap percentile CIs.

    Parameters
    ----------
    tensor : array (n_trials, n_time, n_rois)
        Baseline-subtracted movement-aligned activity.

    Returns
    -------
    dict of (n_rois,) arrays: ``peak_time``, ``peak``, ``onset_latency`` and
    ``<name>_ci_low`` / ``<name>_ci_high`` for peak time and onset latency (s).
    """
    kw = dict(onset_fraction=onset_fraction, onset_method=onset_method, decay_s=decay_s)
    est = response_timing(trial_average(tensor), time_s, window_s, **kw)
    rng = np.random.default_rng(seed)
    q = [(1 - ci_level) / 2, 1 - (1 - ci_level) / 2]
    n_rois = tensor.shape[2]
    out = dict(est)
    for name in ("peak_time", "onset_latency"):
        out[f"{name}_ci_low"] = np.full(n_rois, np.nan)
        out[f"{name}_ci_high"] = np.full(n_rois, np.nan)
    if tensor.shape[0] < 2:
        return out
    for lo in range(0, n_rois, roi_chunk):
        sl = slice(lo, min(lo + roi_chunk, n_rois))
        reps = bootstrap_trial_averages(tensor[:, :, sl], n_boot, rng)
        bt = response_timing(reps, time_s, window_s, **kw)
        for name in ("peak_time", "onset_latency"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN ROIs
                ci = np.nanquantile(bt[name], q, axis=0)
            out[f"{name}_ci_low"][sl] = ci[0]
            out[f"{name}_ci_high"][sl] = ci[1]
    return out


def trial_reliability(
    tensor: np.ndarray, time_s: np.ndarray, window_s: tuple[float, float] = (-0.5, 2.0)
) -> np.ndarray:
    """Trial-to-trial reliability: mean pairwise Pearson correlation across trials, per ROI.

    Each trial's movement-aligned trace within ``window_s`` is z-scored; the mean over all
    pairs ``i != j`` of their correlations is ``(|sum u_i|^2 - sum |u_i|^2) / (n (n - 1))``
    with ``u_i`` the unit-norm centred traces — all pairs without a loop. Trials with any NaN
    in the window are left out for that ROI; flat trials (zero variance) count as
    uncorrelated.

    Returns
    -------
    array (n_rois,) — NaN where fewer than two usable trials.
    """
    sel = (time_s >= window_s[0]) & (time_s <= window_s[1])
    x = np.asarray(tensor[:, sel, :], dtype=np.float64)
    usable = np.isfinite(x).all(axis=1)  # (trials, rois)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        xc = x - np.nanmean(np.where(usable[:, None, :], x, np.nan), axis=1, keepdims=True)
    norm = np.sqrt(np.nansum(xc**2, axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(usable[:, None, :] & (norm > 0), xc / norm, 0.0)
    s = u.sum(0)
    n = usable.sum(0).astype(np.float64)
    pair_sum = (s**2).sum(0) - (u**2).sum((0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = pair_sum / (n * (n - 1))
    return np.where(n >= 2, r, np.nan)
