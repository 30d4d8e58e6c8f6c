"""Stimulus-triggered responses of imaged neurons to light pulses, with artefact blanking.

The stimulation light bleeds into the imaging channel, so the frames acquired while the light is
on are unusable. Following the field's all-optical convention (SCIENCE.md §2), the frame that
contains light onset and the next ``ceil(duration x frame_rate)`` frames — ``ceil(duration x
frame_rate) + 1`` frames in all, the ``+1`` covering a frame that straddles the light offset —
are set to NaN (never 0, which would bias means). The post-stimulus window starts after both
the blanked frames and the end of the light; the pre-stimulus window of equal length ends before
the frame containing light onset.

Response of neuron ``j`` to pulse ``k``: mean dF/F over the post window minus mean dF/F over the
pre window (NaN frames ignored), in raw dF/F and in units of the neuron's baseline SD (the SD of
dF/F over all its pre-window frames; a documented choice, the paper's normalisation is unknown).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.opto.params import OptoParams


def n_blank_frames(duration_s: float, frame_rate: float, extra: int = 0) -> int:
    """Number of artefact frames blanked per pulse: ``ceil(duration x frame_rate) + 1 + extra``.

    Parameters
    ----------
    duration_s : float
        Light pulse duration (s).
    frame_rate : float
        Imaging frame rate (Hz).
    extra : int
        Additional frames (parameter ``extra_blank_frames``).
    """
    if not (np.isfinite(frame_rate) and frame_rate > 0):
        raise DataError(
            f"expected a positive frame rate in Hz, got {frame_rate}", field="frame_rate"
        )
    if not (np.isfinite(duration_s) and duration_s >= 0):
        raise DataError(
            f"expected a non-negative duration in s, got {duration_s}", field="duration"
        )
    # a tiny tolerance so that e.g. 0.1 s x 30 Hz = 3.0000000000000004 counts as 3 frames
    return int(math.ceil(duration_s * frame_rate - 1e-9)) + 1 + int(extra)


def _check_pulses(pulses: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    for col in ("start_time", "duration"):
        if col not in pulses.columns:
            raise DataError(
                f"missing column {col!r}; has {list(pulses.columns)}", field="stimulation.pulses"
            )
    starts = pulses["start_time"].to_numpy(np.float64)
    durations = pulses["duration"].to_numpy(np.float64)
    if not np.all(np.isfinite(starts)):
        raise DataError("start_time must be finite", field="stimulation.pulses.start_time")
    if np.any(~np.isfinite(durations) | (durations < 0)):
        raise DataError("duration must be finite and >= 0", field="stimulation.pulses.duration")
    return starts, durations


def _onset_frames(frame_times: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Index of the frame during which each light onset happens (last frame starting <= onset)."""
    return np.searchsorted(frame_times, starts, side="right") - 1


def artefact_mask(
    frame_times: np.ndarray,
    pulses: pd.DataFrame,
    frame_rate: float | None = None,
    extra_blank_frames: int = 0,
) -> np.ndarray:
    """Boolean mask of frames contaminated by the stimulation light.

    Parameters
    ----------
    frame_times : array (n_frames,)
        Session time of each frame (s), increasing.
    pulses : DataFrame
        Pulse table with ``start_time`` and ``duration`` (s).
    frame_rate : float, optional
        Frame rate (Hz); estimated from ``frame_times`` when omitted.
    extra_blank_frames : int
        Frames blanked in addition to the convention.

    Returns
    -------
    array (n_frames,) bool, True on artefact frames.
    """
    frame_times = np.asarray(frame_times, dtype=np.float64)
    n_frames = len(frame_times)
    if frame_rate is None:
        frame_rate = (n_frames - 1) / (frame_times[-1] - frame_times[0])
    _check_pulses(pulses)
    # one implementation of the blanking convention for the whole package: preprocess's dF/F
    # blanks exactly these frames, so responses never see a frame the dF/F did not blank
    from thalamocortex.preprocess.dff import artefact_mask as blank_frames

    return blank_frames(frame_times, pulses, frame_rate, extra_frames=1 + extra_blank_frames)


@dataclass
class WindowIndex:
    """Frame indices of the response windows of every pulse.

    Attributes
    ----------
    pre, post : array (n_pulses, n_window) int64
        Frame indices of the pre- and post-stimulus windows; ``-1`` where the window leaves the
        recording.
    onset_frame : array (n_pulses,) int64
        Frame containing light onset.
    first_post_frame : array (n_pulses,) int64
        First frame of the post window (after the blanked frames and the light offset).
    n_window : int
        Frames per window.
    """

    pre: np.ndarray
    post: np.ndarray
    onset_frame: np.ndarray
    first_post_frame: np.ndarray
    n_window: int


def response_windows(
    frame_times: np.ndarray,
    pulses: pd.DataFrame,
    params: OptoParams | None = None,
    frame_rate: float | None = None,
) -> WindowIndex:
    """Pre- and post-stimulus windows of equal length for every pulse.

    The post window starts at the first frame that is (a) after the blanked artefact frames and
    (b) acquired at or after the light offset plus ``post_delay_s``. The pre window ends at the
    frame before the one containing light onset (minus ``pre_gap_s``).

    Parameters
    ----------
    frame_times : array (n_frames,)
        Session time (s) of each frame.
    pulses : DataFrame
        Pulse table (``start_time``, ``duration`` in s).
    params : OptoParams
    frame_rate : float, optional
        Frame rate (Hz); estimated from ``frame_times`` when omitted.

    Returns
    -------
    WindowIndex
    """
    params = params or OptoParams()
    frame_times = np.asarray(frame_times, dtype=np.float64)
    n_frames = len(frame_times)
    if n_frames < 2:
        raise DataError(f"need at least 2 frames, got {n_frames}", field="frame_times")
    if frame_rate is None:
        frame_rate = (n_frames - 1) / (frame_times[-1] - frame_times[0])
    starts, durations = _check_pulses(pulses)
    n_window = max(1, int(round(params.window_s * frame_rate)))
    onset = _onset_frames(frame_times, starts)
    n_blank = np.array(
        [n_blank_frames(d, frame_rate, params.extra_blank_frames) for d in durations],
        dtype=np.int64,
    )
    after_blank = onset + n_blank
    after_light = np.searchsorted(
        frame_times, starts + durations + params.post_delay_s - 1e-9, side="left"
    )
    first_post = np.maximum(after_blank, after_light)
    gap = int(math.ceil(params.pre_gap_s * frame_rate - 1e-9))
    last_pre = onset - 1 - gap
    k = np.arange(n_window)
    pre = last_pre[:, None] - (n_window - 1) + k[None, :]
    post = first_post[:, None] + k[None, :]
    pre = np.where((pre >= 0) & (pre < n_frames), pre, -1)
    post = np.where((post >= 0) & (post < n_frames), post, -1)
    return WindowIndex(pre, post, onset.astype(np.int64), first_post.astype(np.int64), n_window)


@dataclass
class StimulusResponses:
    """Responses of every neuron to every pulse.

    Attributes
    ----------
    pre, post : array (n_pulses, n_rois) float64
        Mean dF/F in the pre / post window (NaN when the pulse is not valid for the neuron).
    amplitude : array (n_pulses, n_rois) float64
        ``post - pre`` in dF/F.
    amplitude_z : array (n_pulses, n_rois) float64
        ``amplitude`` divided by the neuron's baseline SD.
    baseline_sd : array (n_rois,) float64
        SD of dF/F over all pre-window frames of the neuron.
    valid : array (n_pulses, n_rois) bool
        Both windows have at least ``min_window_coverage`` finite frames.
    windows : WindowIndex
    """

    pre: np.ndarray
    post: np.ndarray
    amplitude: np.ndarray
    amplitude_z: np.ndarray
    baseline_sd: np.ndarray
    valid: np.ndarray
    windows: WindowIndex

    @property
    def n_valid(self) -> np.ndarray:
        """Valid pulses per neuron, (n_rois,)."""
        return self.valid.sum(axis=0)


def _window_means(dff_padded: np.ndarray, idx: np.ndarray, min_coverage: float):
    """Mean over frames of each window, ignoring NaN; NaN when coverage is too low.

    ``dff_padded`` has an extra all-NaN last row so that index -1 gathers NaN.
    Returns means (n_pulses, n_rois), frame sums of squares and counts for the baseline SD.
    """
    block = dff_padded[idx]  # (n_pulses, n_window, n_rois)
    finite = np.isfinite(block)
    count = finite.sum(axis=1)
    filled = np.where(finite, block, 0.0)
    total = filled.sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    enough = count >= max(1, math.ceil(min_coverage * idx.shape[1] - 1e-9))
    mean = np.where(enough, mean, np.nan)
    return mean, enough, filled, finite


def stimulus_responses(
    dff: np.ndarray,
    frame_times: np.ndarray,
    pulses: pd.DataFrame,
    params: OptoParams | None = None,
    frame_rate: float | None = None,
    blank: bool = True,
) -> StimulusResponses:
    """Per-neuron, per-pulse responses with artefact frames blanked.

    Parameters
    ----------
    dff : array (n_frames, n_rois)
        dF/F (NaN allowed on frames already blanked upstream).
    frame_times : array (n_frames,)
        Session time of each frame (s).
    pulses : DataFrame
        Pulse table (``start_time``, ``duration`` in s).
    params : OptoParams
    frame_rate : float, optional
        Frame rate (Hz); estimated from ``frame_times`` when omitted.
    blank : bool
        Blank the artefact frames here (idempotent if they are already NaN). Pseudo-pulses are
        blanked identically so that the null path matches the real one.

    Returns
    -------
    StimulusResponses
    """
    params = params or OptoParams()
    dff = np.asarray(dff)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if dff.ndim != 2 or dff.shape[0] != len(frame_times):
        raise DataError(
            f"expected dF/F of shape (n_frames={len(frame_times)}, n_rois), got {dff.shape}",
            field="dff",
        )
    if frame_rate is None:
        frame_rate = (len(frame_times) - 1) / (frame_times[-1] - frame_times[0])
    win = response_windows(frame_times, pulses, params, frame_rate)
    padded = np.empty((dff.shape[0] + 1, dff.shape[1]), dtype=np.float32)
    padded[:-1] = dff
    padded[-1] = np.nan
    if blank:
        mask = artefact_mask(frame_times, pulses, frame_rate, params.extra_blank_frames)
        padded[:-1][mask] = np.nan
    pre, pre_ok, pre_filled, pre_finite = _window_means(padded, win.pre, params.min_window_coverage)
    post, post_ok, _, _ = _window_means(padded, win.post, params.min_window_coverage)
    valid = pre_ok & post_ok
    amplitude = np.where(valid, post - pre, np.nan)
    # baseline SD over all pre-window frames (frames counted once per pulse they belong to)
    n = pre_finite.sum(axis=(0, 1)).astype(np.float64)
    s1 = pre_filled.sum(axis=(0, 1), dtype=np.float64)
    s2 = np.einsum("pwr,pwr->r", pre_filled, pre_filled, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1 * s1 / n) / (n - 1)
        baseline_sd = np.sqrt(np.maximum(var, 0.0))
        baseline_sd = np.where(baseline_sd > 0, baseline_sd, np.nan)
        amplitude_z = amplitude / baseline_sd[None, :]
    return StimulusResponses(
        pre=np.where(valid, pre, np.nan),
        post=np.where(valid, post, np.nan),
        amplitude=amplitude,
        amplitude_z=amplitude_z,
        baseline_sd=baseline_sd,
        valid=valid,
        windows=win,
    )


def peristimulus_average(
    dff: np.ndarray,
    frame_times: np.ndarray,
    pulses: pd.DataFrame,
    params: OptoParams | None = None,
    frame_rate: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pulse-averaged dF/F around light onset, artefact frames blanked (for heatmaps).

    Parameters
    ----------
    dff : array (n_frames, n_rois)
    frame_times : array (n_frames,)
    pulses : DataFrame
    params : OptoParams
    frame_rate : float, optional

    Returns
    -------
    lags : array (n_lags,)
        Time of each lag relative to light onset (s).
    average : array (n_lags, n_rois) float32
        Mean over pulses of dF/F minus each pulse's pre-window mean; NaN where every pulse is
        blanked (the artefact frames).
    """
    params = params or OptoParams()
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if frame_rate is None:
        frame_rate = (len(frame_times) - 1) / (frame_times[-1] - frame_times[0])
    starts, _ = _check_pulses(pulses)
    n_pre = int(round(params.trace_pre_s * frame_rate))
    n_post = int(round(params.trace_post_s * frame_rate))
    lags = np.arange(-n_pre, n_post)
    onset = _onset_frames(frame_times, starts)
    idx = onset[:, None] + lags[None, :]
    idx = np.where((idx >= 0) & (idx < len(frame_times)), idx, -1)
    padded = np.empty((dff.shape[0] + 1, dff.shape[1]), dtype=np.float32)
    padded[:-1] = dff
    padded[-1] = np.nan
    padded[:-1][artefact_mask(frame_times, pulses, frame_rate, params.extra_blank_frames)] = np.nan
    win = response_windows(frame_times, pulses, params, frame_rate)
    pre, _, _, _ = _window_means(padded, win.pre, params.min_window_coverage)
    block = padded[idx] - pre[:, None, :].astype(np.float32)
    with warnings.catch_warnings():
        # all-NaN lags (the artefact frames) are expected: no 'Mean of empty slice' warning
        warnings.simplefilter("ignore", category=RuntimeWarning)
        average = np.nanmean(block, axis=0).astype(np.float32)
    return lags / frame_rate, average


def pseudo_pulses(
    frame_times: np.ndarray,
    pulses: pd.DataFrame,
    n: int,
    rng: np.random.Generator,
    exclusion_s: float,
    window_s: float,
    excluded_intervals: np.ndarray | None = None,
) -> pd.DataFrame:
    """Pseudo-pulses drawn from spontaneous periods, for the no-stimulus null.

    Pseudo-pulse onsets are drawn uniformly among times at least ``exclusion_s`` away from
    every real pulse (and outside ``excluded_intervals``, e.g. cued movements), with room for
    both response windows inside the recording. Durations are resampled from the real pulses
    so that blanking is identical.

    Parameters
    ----------
    frame_times : array (n_frames,)
    pulses : DataFrame
        Real pulses (``start_time``, ``duration``); at least one, to copy durations from.
    n : int
        Number of pseudo-pulses.
    rng : numpy Generator
    exclusion_s : float
        Minimum distance (s) to the start or end of any real pulse.
    window_s : float
        Response window length (s), to keep the windows inside the recording.
    excluded_intervals : array (k, 2), optional
        Further [start, stop) intervals (s) to avoid.

    Returns
    -------
    DataFrame with ``start_time``, ``duration``, ``power`` (0), ``target`` ("pseudo").
    """
    starts, durations = _check_pulses(pulses)
    if len(durations) == 0:
        raise DataError("pseudo-pulses need at least one real pulse to copy its duration")
    frame_times = np.asarray(frame_times, dtype=np.float64)
    t0, t1 = frame_times[0], frame_times[-1]
    dmax = float(durations.max())
    lo, hi = t0 + window_s + 1e-3, t1 - window_s - 2 * dmax - 0.1
    if hi <= lo:
        raise DataError("recording too short for pseudo-pulses", field="frame_times")
    grid = np.arange(lo, hi, 0.01)
    ok = np.ones(len(grid), dtype=bool)
    bad = [
        np.column_stack([starts - exclusion_s - dmax - window_s, starts + durations + exclusion_s])
    ]
    if excluded_intervals is not None and len(excluded_intervals):
        ex = np.asarray(excluded_intervals, dtype=np.float64).reshape(-1, 2)
        bad.append(np.column_stack([ex[:, 0] - dmax - window_s, ex[:, 1]]))
    for a, b in np.concatenate(bad):
        ok[(grid >= a) & (grid < b)] = False
    candidates = grid[ok]
    if len(candidates) == 0:
        raise DataError(
            "no spontaneous period far enough from the real pulses for pseudo-pulses "
            f"(exclusion {exclusion_s} s)",
            field="stimulation.pulses",
        )
    chosen = np.sort(rng.choice(candidates, size=n, replace=len(candidates) < n))
    return pd.DataFrame(
        {
            "start_time": chosen,
            "duration": rng.choice(durations, size=n, replace=True),
            "power": 0.0,
            "target": "pseudo",
        }
    )
