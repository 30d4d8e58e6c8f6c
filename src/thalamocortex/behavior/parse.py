"""Lever movement parsing with the Komiyama lab's conventions (SCIENCE.md §2).

Pipeline (every constant is a field of :class:`~thalamocortex.behavior.params.BehaviorParams`):

1. resample the lever to ``resample_hz`` (polyphase, anti-aliased); short NaN runs are
   interpolated, longer ones become *excluded spans*;
2. Butterworth low-pass (``filter_order``, ``lowpass_hz``) applied forward-backward;
3. velocity = first difference (lever units per ms), smoothed by a ``velocity_smooth_samples``
   moving average; speed = Hilbert envelope of the velocity;
4. "moving" where speed > threshold. The threshold is either units-free (``speed_threshold_k``
   x the resting velocity SD estimated from the data, :func:`rest_velocity_sd`) or the lab's
   absolute value with units;
5. bouts padded (``pad_before_s``/``pad_after_s``), gaps shorter than ``merge_gap_s`` merged,
   bouts touching the trace ends or an excluded span dropped (and counted);
6. onset/offset refined to where the lever leaves / returns to its resting value by more than
   ``refine_noise_k`` resting-noise SDs for ``refine_consecutive_s``.

The filter, against the lab's code. The lab's parser (``AP_parseLeverMovement_updated.m`` in
github.com/petersaj/AP_scripts_komiyamalab, Peters, Chen & Komiyama 2014) resamples to 1 kHz
and calls ``butter(4, 5/500)`` with the comment "cutoff = 10 Hz". MATLAB normalises ``Wn`` to
the Nyquist frequency (500 Hz at 1 kHz), so the cut-off is 5 Hz; the comment (and SCIENCE.md,
which follows it) is wrong. The default ``lowpass_hz`` is therefore 5 Hz. The lab's moving
threshold is absolute (0.0007 V/ms on its rig); a threshold in other units cannot be
transferred without the rig's noise level, so the default is relative to the resting
velocity SD measured in each session (the absolute mode remains available).

Bout logic is vectorised over samples; the refinement loops over bouts only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import signal
from scipy.fft import next_fast_len

from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Lever

#: Columns of the movements (bouts) table returned by :func:`detect_movements`.
MOVEMENT_COLUMNS: tuple[str, ...] = (
    "onset",
    "offset",
    "duration",
    "onset_sample",
    "offset_sample",
    "rest_position",
    "peak_amplitude",
    "peak_time",
)

_PREFIX = {"": 1.0, "k": 1e3, "c": 1e-2, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9}


@dataclass
class LeverParse:
    """Everything the parser derived from one lever trace.

    Attributes
    ----------
    position : array (n,) float64
        Low-pass filtered lever position (lever units) at ``rate``.
    rate : float
        Sampling rate of the parsed arrays (Hz).
    t0 : float
        Session time (s) of sample 0.
    speed : array (n,)
        Hilbert envelope of the smoothed velocity (lever units per ms).
    moving : array (n,) bool
        True inside a kept movement bout (after padding, merging and refinement).
    valid : array (n,) bool
        False inside excluded spans (NaN runs longer than ``nan_interp_max_s``).
    threshold : float
        Speed threshold used (lever units per ms).
    rest_velocity_sd : float
        Estimated resting velocity SD (lever units per ms).
    rest_noise_sd : float
        Robust SD of the filtered lever position at rest (lever units).
    movements : DataFrame
        One row per kept bout, columns :data:`MOVEMENT_COLUMNS` (times in s).
    counts : dict
        Counted exclusions: ``n_bouts_dropped_edge``, ``n_bouts_dropped_nan``,
        ``n_nan_samples_interpolated``, ``n_samples_excluded``.
    units : str
        Lever units.
    """

    position: np.ndarray
    rate: float
    t0: float
    speed: np.ndarray
    moving: np.ndarray
    valid: np.ndarray
    threshold: float
    rest_velocity_sd: float
    rest_noise_sd: float
    movements: pd.DataFrame
    counts: dict = field(default_factory=dict)
    units: str = ""

    @property
    def n_samples(self) -> int:
        return len(self.position)

    @property
    def duration(self) -> float:
        return self.n_samples / self.rate

    def sample_index(self, t) -> np.ndarray:
        """Sample at or just before session time(s) ``t`` (may be out of range)."""
        return np.floor((np.asarray(t, dtype=np.float64) - self.t0) * self.rate + 1e-9).astype(
            np.int64
        )


# ------------------------------------------------------------------------------------------
# building blocks
# ------------------------------------------------------------------------------------------
def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and stop (exclusive) indices of the True runs of a boolean array."""
    m = np.asarray(mask, dtype=np.int8)
    d = np.diff(np.concatenate(([0], m, [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def fill_nan_runs(x: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Linearly interpolate NaN runs of at most ``max_len`` samples.

    Returns
    -------
    filled : array (n,)
        All NaNs replaced (long runs too, so filters run; they are marked invalid).
    valid : array (n,) bool
        False on NaN runs longer than ``max_len``.
    n_interpolated : int
        Number of samples in short (interpolated) runs.
    """
    bad = ~np.isfinite(x)
    valid = np.ones(len(x), dtype=bool)
    if not bad.any():
        return x, valid, 0
    good = np.flatnonzero(~bad)
    filled = x.copy()
    filled[bad] = np.interp(np.flatnonzero(bad), good, x[good])
    starts, stops = runs(bad)
    long = (stops - starts) > max_len
    for a, b in zip(starts[long], stops[long]):
        valid[a:b] = False
    n_interp = int(np.sum((stops - starts)[~long]))
    return filled, valid, n_interp


def resample(x: np.ndarray, rate: float, new_rate: float) -> np.ndarray:
    """Polyphase (anti-aliased) resampling of a NaN-free trace from ``rate`` to ``new_rate``."""
    if np.isclose(rate, new_rate, rtol=1e-9):
        return x
    frac = Fraction(new_rate / rate).limit_denominator(1000)
    if abs(float(frac) - new_rate / rate) > 1e-6 * new_rate / rate:
        # irrational ratio: linear interpolation on the new grid (the low-pass follows)
        n_new = int(np.floor(len(x) * new_rate / rate))
        return np.interp(np.arange(n_new) / new_rate, np.arange(len(x)) / rate, x)
    # padtype='line' avoids edge transients of a lever resting away from zero
    return signal.resample_poly(x, frac.numerator, frac.denominator, padtype="line")


def lowpass(x: np.ndarray, rate: float, cutoff_hz: float, order: int) -> np.ndarray:
    """Zero-phase Butterworth low-pass (second-order sections, forward-backward)."""
    if cutoff_hz >= rate / 2:
        raise ValueError(
            f"BehaviorParams.lowpass_hz: {cutoff_hz} Hz must be below the Nyquist frequency "
            f"{rate / 2} Hz of the resampled lever"
        )
    sos = signal.butter(order, cutoff_hz, btype="low", fs=rate, output="sos")
    return signal.sosfiltfilt(sos, x)


def smoothed_velocity(position: np.ndarray, rate: float, smooth_samples: int) -> np.ndarray:
    """First difference of the filtered lever in lever units per ms, moving-averaged over
    ``smooth_samples`` (the lab's ``smooth(diff(lever), 5)``)."""
    velocity = np.diff(position, prepend=position[0]) * (rate / 1000.0)
    if smooth_samples > 1:
        velocity = np.convolve(velocity, np.ones(smooth_samples) / smooth_samples, mode="same")
    return velocity


def lever_speed(position: np.ndarray, rate: float, smooth_samples: int) -> np.ndarray:
    """Hilbert envelope of the smoothed velocity, in lever units per ms.

    Parameters
    ----------
    position : array (n,)
        Filtered lever position.
    rate : float
        Sampling rate (Hz).
    smooth_samples : int
        Moving-average length of the velocity (samples).
    """
    velocity = smoothed_velocity(position, rate, smooth_samples)
    n = len(velocity)
    # zero-pad to a fast FFT length: hilbert() of an awkward prime-ish length is very slow
    return np.abs(signal.hilbert(velocity, N=next_fast_len(n))[:n])


def _dilate(mask: np.ndarray, before: int, after: int) -> np.ndarray:
    """``mask`` grown by ``before`` samples before and ``after`` after every True run."""
    starts, stops = runs(mask)
    d = np.zeros(len(mask) + 1, dtype=np.int64)
    np.add.at(d, np.clip(starts - before, 0, len(mask)), 1)
    np.add.at(d, np.clip(stops + after, 0, len(mask)), -1)
    return np.cumsum(d[:-1]) > 0


def rest_velocity_sd(
    velocity: np.ndarray, valid: np.ndarray, rate: float, params: BehaviorParams
) -> float:
    """Robust SD of the smoothed lever velocity at rest (lever units per ms).

    The estimate is made on the velocity itself, not on its Hilbert envelope: the envelope of
    a press decays only like 1/t^2 around it (seconds for a 2 mm press), so any low quantile
    of the envelope is inflated by movement tails, and more so the more the mouse moves (the
    former estimate was 1.6-2.9x the true resting SD on simulated sessions, highest in
    experts). The velocity is local: ``1.4826 x MAD`` of the velocity, recomputed after
    leaving out every sample within ``rest_exclude_pad_s`` of a velocity beyond
    ``rest_exclude_k`` x the current estimate, until it changes by less than 0.1 % (at most
    ``rest_estimate_iterations`` times). For Gaussian noise of SD sigma the speed envelope is
    Rayleigh with scale sigma, so the threshold ``speed_threshold_k x sigma`` keeps its
    meaning.
    """
    v = velocity[valid]
    if len(v) == 0:
        return float("nan")
    sigma = 1.4826 * float(np.median(np.abs(v - np.median(v))))
    pad = int(round(params.rest_exclude_pad_s * rate))
    min_rest = max(10, int(0.05 * len(v)))
    for _ in range(params.rest_estimate_iterations):
        if not sigma > 0:
            break
        moving = _dilate(np.abs(velocity) > params.rest_exclude_k * sigma, pad, pad)
        rest = velocity[valid & ~moving]
        if len(rest) < min_rest:
            break
        new = 1.4826 * float(np.median(np.abs(rest - np.median(rest))))
        converged = abs(new - sigma) <= 1e-3 * sigma
        sigma = new
        if converged:
            break
    return sigma


def _unit_scale(unit: str) -> tuple[str, float]:
    unit = unit.strip()
    m = re.fullmatch(r"([kcmuµn]?)(V|m)", unit)
    if m:
        return m.group(2), _PREFIX[m.group(1)]
    return unit, 1.0


def absolute_threshold(params: BehaviorParams, lever_units: str) -> float:
    """The absolute speed threshold converted to the lever's units per ms.

    Raises
    ------
    DataError
        When ``speed_threshold_units`` is not '<unit>/<ms|s>' or its unit is not convertible to
        the lever's units (e.g. a voltage threshold for a lever in mm).
    """
    spec = params.speed_threshold_units
    m = re.fullmatch(r"\s*([^/\s]+)\s*/\s*(ms|s)\s*", spec)
    if not m:
        raise DataError(
            f"speed_threshold_units {spec!r}: expected '<lever unit>/ms' or '<lever unit>/s'",
            field="behavior.speed_threshold_units",
        )
    num, per = m.group(1), m.group(2)
    base_t, scale_t = _unit_scale(num)
    base_l, scale_l = _unit_scale(lever_units)
    if base_t != base_l:
        raise DataError(
            f"absolute speed threshold is in {num}/{per} but the lever is in {lever_units!r}; "
            "use speed_threshold_mode='noise' or give the threshold in the lever's units",
            field="lever.units",
        )
    value = params.speed_threshold_abs * scale_t / scale_l
    return value / 1000.0 if per == "s" else value


def _first_run_start(mask: np.ndarray, min_len: int) -> int:
    """Index of the first True run of at least ``min_len`` samples (-1 if none)."""
    if len(mask) < min_len:
        return -1
    c = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    full = (c[min_len:] - c[:-min_len]) == min_len
    i = np.flatnonzero(full)
    return int(i[0]) if len(i) else -1


# ------------------------------------------------------------------------------------------
# the parser
# ------------------------------------------------------------------------------------------
def parse_lever(lever: Lever, params: BehaviorParams | None = None, source: str = "") -> LeverParse:
    """Parse a lever trace into movement bouts (see the module docstring for the steps).

    Parameters
    ----------
    lever : Lever
        Lever position, any units.
    params : BehaviorParams, optional
    source : str
        File name used in error messages.

    Returns
    -------
    LeverParse

    Raises
    ------
    DataError
        If the lever is empty, all NaN, flat, or too short to filter.
    """
    p = params or BehaviorParams()
    raw = lever.values
    where = source or None
    if raw.ndim != 1 or raw.size == 0:
        raise DataError(f"expected a 1-D lever trace, got shape {raw.shape}", where, "lever.data")
    finite = np.isfinite(raw)
    if not finite.any():
        raise DataError("lever trace is entirely NaN", where, "lever.data")
    ptp = float(np.ptp(raw[finite]))
    if ptp == 0 or ptp <= p.flat_rel_tol * float(np.mean(np.abs(raw[finite]))):
        raise DataError(
            f"lever trace is flat (peak-to-peak {ptp:g} {lever.units}); a disconnected sensor?",
            where,
            "lever.data",
        )
    filled, valid_raw, n_interp = fill_nan_runs(raw, int(round(p.nan_interp_max_s * lever.rate)))
    rate = p.resample_hz
    x = resample(filled, lever.rate, rate)
    n = len(x)
    if valid_raw.all():
        valid = np.ones(n, dtype=bool)
    else:
        # an output sample is valid if its nearest input sample is
        idx = np.clip(np.round(np.arange(n) * lever.rate / rate).astype(np.int64), 0, len(raw) - 1)
        valid = valid_raw[idx]
    min_n = 3 * (2 * p.filter_order + 1) * 2
    if n < max(min_n, int(2 * rate / p.lowpass_hz)):
        raise DataError(
            f"lever trace too short to parse ({n} samples at {rate:g} Hz)", where, "lever.data"
        )
    position = lowpass(x, rate, p.lowpass_hz, p.filter_order)
    speed = lever_speed(position, rate, p.velocity_smooth_samples)
    velocity = smoothed_velocity(position, rate, p.velocity_smooth_samples)
    rest_vel_sd = rest_velocity_sd(velocity, valid, rate, p)
    if p.speed_threshold_mode == "absolute":
        threshold = absolute_threshold(p, lever.units)
    else:
        if not rest_vel_sd > 0:
            raise DataError(
                "resting lever velocity is exactly zero (flat lever)", where, "lever.data"
            )
        threshold = p.speed_threshold_k * rest_vel_sd

    above = (speed > threshold) & valid
    starts, stops = runs(above)
    pad_b = int(round(p.pad_before_s * rate))
    pad_a = int(round(p.pad_after_s * rate))
    starts = np.clip(starts - pad_b, 0, n)
    stops = np.clip(stops + pad_a, 0, n)
    if len(starts):
        # merge: a bout continues when the next one starts less than merge_gap after it stops
        gap = starts[1:] - stops[:-1]
        new = np.concatenate(([True], gap >= int(round(p.merge_gap_s * rate))))
        stops = np.maximum.reduceat(stops, np.flatnonzero(new))
        starts = starts[new]
    counts = {
        "n_nan_samples_interpolated": n_interp,
        "n_samples_excluded": int((~valid).sum()),
        "n_bouts_dropped_edge": 0,
        "n_bouts_dropped_nan": 0,
    }
    if len(starts) and p.drop_edge_bouts:
        edge = (starts <= 0) | (stops >= n)
        counts["n_bouts_dropped_edge"] = int(edge.sum())
        starts, stops = starts[~edge], stops[~edge]
    if len(starts) and not valid.all():
        # a bout touching an excluded span (or its padding) cannot be timed
        inval_c = np.concatenate(([0], np.cumsum(~valid)))
        lo = np.clip(starts - 1, 0, n)
        hi = np.clip(stops + 1, 0, n)
        touch = (inval_c[hi] - inval_c[lo]) > 0
        counts["n_bouts_dropped_nan"] = int(touch.sum())
        starts, stops = starts[~touch], stops[~touch]

    # onsets are refined on a less smoothed copy: the parse filter (5 Hz, zero-phase) spreads a fast
    # press ~50 ms back in time, which would bias refined onsets early
    if p.refine_lowpass_hz > 0 and p.refine_lowpass_hz < rate / 2:
        ref = lowpass(x, rate, p.refine_lowpass_hz, p.filter_order)
    else:
        ref = position
    rest_noise_sd = _rest_noise_sd(
        ref, valid, starts, stops, max(2, int(round(p.rest_noise_piece_s * rate)))
    )
    movements = _refine(position, ref, rate, starts, stops, rest_noise_sd, p, valid)
    movements["onset"] = lever.t0 + movements["onset_sample"] / rate
    movements["offset"] = lever.t0 + movements["offset_sample"] / rate
    movements["duration"] = movements["offset"] - movements["onset"]
    movements["peak_time"] = lever.t0 + movements["peak_time"] / rate
    movements = movements[list(MOVEMENT_COLUMNS)]
    moving = np.zeros(n, dtype=bool)
    if len(movements):
        d = np.zeros(n + 1, dtype=np.int64)
        np.add.at(d, movements["onset_sample"].to_numpy(), 1)
        np.add.at(d, movements["offset_sample"].to_numpy(), -1)
        moving = np.cumsum(d[:-1]) > 0
    return LeverParse(
        position=position,
        rate=rate,
        t0=lever.t0,
        speed=speed,
        moving=moving,
        valid=valid,
        threshold=float(threshold),
        rest_velocity_sd=rest_vel_sd,
        rest_noise_sd=rest_noise_sd,
        movements=movements.reset_index(drop=True),
        counts=counts,
        units=lever.units,
    )


def _rest_noise_sd(
    position: np.ndarray, valid: np.ndarray, starts: np.ndarray, stops: np.ndarray, piece: int
) -> float:
    """Robust SD of the filtered lever around its local resting value.

    Each quiet period (between bouts) is centred on its own median, because the resting
    position drifts slowly; the SD is 1.4826 x the median absolute deviation of the residuals.
    """
    n = len(position)
    d = np.zeros(n + 1, dtype=np.int64)
    np.add.at(d, starts, 1)
    np.add.at(d, stops, -1)
    quiet = (np.cumsum(d[:-1]) == 0) & valid
    if quiet.sum() < 10:
        quiet = valid
    # label quiet periods; cut long ones into short pieces so slow drift does not inflate the SD
    q_starts, _ = runs(quiet)
    is_start = np.zeros(n, dtype=np.int64)
    is_start[q_starts] = 1
    label = np.cumsum(is_start) * 1_000_000 + np.arange(n) // piece
    vals = position[quiet]
    lab = label[quiet]
    if len(vals) == 0:
        return float("nan")
    # pieces are contiguous: full-length ones are medianed as rows of a 2-D view, the few
    # shorter ones (at the ends of quiet periods) one by one
    st = np.flatnonzero(np.concatenate(([True], lab[1:] != lab[:-1])))
    ln = np.diff(np.append(st, len(lab)))
    med = np.empty(len(st))
    full = ln == piece
    if full.any():
        med[full] = np.median(vals[st[full, None] + np.arange(piece)], axis=1)
    for g in np.flatnonzero(~full):
        med[g] = np.median(vals[st[g] : st[g] + ln[g]])
    mad = float(np.median(np.abs(vals - np.repeat(med, ln))))
    return 1.4826 * mad


def _walk_to_rest(
    x: np.ndarray,
    a: int,
    b: int,
    lo: int,
    floor: int,
    pk: int,
    band: float,
    m: int,
    w: int,
    big: float,
    fit_back: int = 0,
    fit_top: float = np.inf,
) -> int:
    """Onset of the excursion leading to the bout's peak, as an offset from ``a`` (may be < 0).

    ``x[a:b]`` is the bout, ``x[lo:a]`` the quiet stretch whose median is the first resting
    value, ``floor`` (<= lo) the earliest sample the onset may take (the previous bout's end)
    and ``pk`` the peak (from ``a``). The anchor is the first run of >= ``m`` samples deviating
    more than ``big`` from rest; the onset is the sample after the last one within ``band`` of
    rest before the anchor, so the lever stays out of the resting band from onset to anchor.
    Walking back (rather than searching forward from the padded start) ignores earlier noise
    excursions that return to rest. The resting value is re-estimated once just before the
    first estimate, because the resting position drifts.

    With ``fit_back > 0`` the threshold onset is then moved back (by at most ``fit_back``
    samples) to the start of the minimum-jerk profile best fitting the lever from rest up to
    its first deviation beyond ``fit_top`` (:func:`min_jerk_onset`).
    """
    rest = float(np.median(x[lo:a])) if a > lo else float(x[a])
    seg = x[a:b]
    on = 0
    anchor = pk
    for _ in range(2):
        anchor = _first_run_start(np.abs(seg[: pk + 1] - rest) > big, m)
        if anchor < 0:
            anchor = pk
        inside = np.flatnonzero(np.abs(x[floor : a + anchor] - rest) <= band)
        on = (floor + int(inside[-1]) + 1 if len(inside) else floor) - a
        lo2 = max(floor, a + on - w)
        if a + on - lo2 < m:
            break
        rest = float(np.median(x[lo2 : a + on]))
    if fit_back > 0:
        earliest = max(floor, a + on - fit_back)
        on = min_jerk_onset(x, rest, a + on, a + pk + 1, earliest, fit_top, floor) - a
    return on


#: Powers of s in the minimum-jerk profile phi(s) = 10 s^3 - 15 s^4 + 6 s^5 (3..5) and in
#: phi(s)^2 = 100 s^6 - 300 s^7 + 345 s^8 - 180 s^9 + 36 s^10 (6..10), with their coefficients.
_MJ_POWERS = np.arange(3, 11)
_MJ_PHI = np.array([10.0, -15.0, 6.0])
_MJ_PHI2 = np.array([100.0, -300.0, 345.0, -180.0, 36.0])


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile (Flash & Hogan 1985): 0 for s <= 0, 1 for s >= 1."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


def min_jerk_onset(
    x: np.ndarray,
    rest: float,
    on: int,
    stop: int,
    earliest: int,
    top: float,
    first: int = 0,
    pre: int = 20,
) -> int:
    """Back-extrapolated start of a smooth departure from rest.

    A press that starts from rest with zero velocity and acceleration (a minimum-jerk profile,
    ``x(t) = rest + A phi((t - t0) / d)``, ``phi(s) = 10 s^3 - 15 s^4 + 6 s^5``) deviates from
    rest like ``(t - t0)^3``, so a noise threshold is crossed late. Following Botzer & Karniel
    (2009, Front. Neurosci., onset of bell-shaped speed profiles by fitting the minimum-jerk
    model) the profile is least-squares fitted to ``x[max(earliest - pre, first) : end]``
    (``first``: the first sample not belonging to an earlier movement), where ``end`` is
    the first sample after ``on`` deviating more than ``top`` from ``rest`` (the first part of
    the press, before corrective sub-movements overlap it) and at most ``stop``. ``rest`` is
    held fixed, ``A`` is solved in closed form for every (``t0``, ``d``) of a grid (``t0`` in
    ``[earliest, on]``, coarse then 1-sample fine; ``d`` such that the window ends at 0.1-0.8
    of the profile).

    Returns the fitted ``t0`` (a sample index), or ``on`` when the window is too short, the
    fit has no positive amplitude or ``t0`` reaches ``earliest`` (the bound: the rise is not
    one smooth profile there).

    The profile is an assumption: a press that leaves rest like ``(t - t0)^2`` (a raised
    cosine) gets an onset ~5 % of its rise time early (10 ms for a 0.2 s rise), and choosing
    the profile by residual does not help (over the first part of a press, minimum jerk with
    free ``d`` and ``A`` fits a raised cosine almost as well). Limits, measured on the
    simulator's presses with tremor: when only the first third of a
    slow press (> ~0.7 s) is fitted, ``t0``, ``d`` and ``A`` trade off against each other and
    the error grows to tens of ms; with ``d`` and ``A`` known the same data give ``t0`` within
    ~10 ms. Longer windows do not help on real presses, whose corrective sub-movements
    overlap the end of the press.

    Written here because no maintained library fits movement onsets; the fit is a small
    vectorised grid search rather than a general optimiser, which is slower per bout and
    needs starting values.
    """
    if on - earliest < 2:
        return on
    dev = x[on:stop] - rest
    if len(dev) < 5:
        return on
    sign = 1.0 if dev[int(np.argmax(np.abs(dev)))] > 0 else -1.0
    over = np.flatnonzero(sign * dev >= top)
    end = on + (int(over[0]) if len(over) else len(dev))
    if end - on < 5:
        return on
    lo = max(earliest - pre, first, 0)

    def best(t0s: np.ndarray, frac: np.ndarray, step: int) -> tuple[float, int, float]:
        """Best (gain, t0, window-end fraction) of the grid; gain -inf when no fit rises.
        The gain ``(p.y)^2 / (p.p)`` is the drop of the residual sum of squares.

        With ``s = v f`` (``v = (t - t0) / (end - t0)`` in [0, 1) after t0, 0 before; ``f`` the
        window-end fraction) the profile is a polynomial in ``s`` below 1, so
        ``p.y = sum_k c_k f^k (v^k . y)`` and ``p.p = sum_k e_k f^k sum(v^k)``: the moments
        of ``v`` are computed once per ``t0`` and combined for every ``f`` (instead of the
        profile at every (t0, f, t))."""
        idx = np.arange(lo, end, step)
        y = sign * (x[idx] - rest)
        v = np.maximum(idx[None, :] - t0s[:, None], 0) / (end - t0s)[:, None]
        powers = np.empty((len(_MJ_POWERS), *v.shape))  # v^3 .. v^10
        np.multiply(v * v, v, out=powers[0])
        for k in range(1, len(_MJ_POWERS)):
            np.multiply(powers[k - 1], v, out=powers[k])
        fk = frac[:, None] ** _MJ_POWERS  # (f, 3..10)
        py = (_MJ_PHI * fk[:, :3]) @ (powers[:3] @ y)  # (f, t0)
        pp = (_MJ_PHI2 * fk[:, 3:]) @ powers[3:].sum(axis=2)
        py, pp = py.T, pp.T
        gain = np.where(py > 0, py * py / np.maximum(pp, 1e-300), -np.inf)
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        return float(gain[i, j]), int(t0s[i]), float(frac[j])

    coarse = 4
    fraction = np.linspace(0.1, 0.8, 15)  # where the window ends on the profile
    g, t0, f = best(np.arange(on, earliest - 1, -coarse)[::-1], fraction, 2)
    if not np.isfinite(g):
        return on
    df = fraction[1] - fraction[0]
    t0s = np.arange(max(earliest, t0 - coarse), min(on, t0 + coarse) + 1)
    g, t0, _ = best(t0s, np.linspace(max(f - df, 0.05), min(f + df, 1.0), 9), 1)
    if not np.isfinite(g) or t0 <= earliest:
        return on
    return t0


def _refine(
    position: np.ndarray,
    ref: np.ndarray,
    rate: float,
    starts: np.ndarray,
    stops: np.ndarray,
    noise_sd: float,
    p: BehaviorParams,
    valid: np.ndarray | None = None,
) -> pd.DataFrame:
    """Onset/offset refinement and per-bout measures (loops over bouts, not samples).

    ``position`` (parse filter) gives rest and peak amplitude; ``ref`` (refinement filter,
    resting noise SD ``noise_sd``) gives the onset and offset.
    """
    n = len(position)
    k = len(starts)
    out = {
        "onset_sample": np.asarray(starts, dtype=np.int64).copy(),
        "offset_sample": np.asarray(stops, dtype=np.int64).copy(),
        "rest_position": np.full(k, np.nan),
        "peak_amplitude": np.full(k, np.nan),
        "peak_time": np.full(k, np.nan),
    }
    w = max(1, int(round(p.rest_window_s * rate)))
    m = max(1, int(round(p.refine_consecutive_s * rate)))
    band = p.refine_noise_k * noise_sd
    back = int(round(p.refine_fit_max_back_s * rate)) if p.refine_fit == "min_jerk" else 0
    prev_stop = np.concatenate(([0], stops[:-1]))
    next_start = np.concatenate((starts[1:], [n]))
    if valid is not None and not valid.all() and k:
        # excluded (NaN) spans are barriers for rest windows and the onset/offset search
        idx = np.arange(n)
        last_bad = np.maximum.accumulate(np.where(valid, -1, idx))
        next_bad = np.minimum.accumulate(np.where(valid, n, idx)[::-1])[::-1]
        prev_stop = np.maximum(prev_stop, last_bad[np.maximum(starts - 1, 0)] + 1)
        next_start = np.minimum(next_start, next_bad[np.minimum(stops, n - 1)])
    for i in range(k):
        a, b = int(starts[i]), int(stops[i])
        lo = max(int(prev_stop[i]), a - w)
        hi = min(int(next_start[i]), b + w)
        rest_pre = float(np.median(position[lo:a])) if a > lo else float(position[a])
        seg = position[a:b]
        pk = int(np.argmax(np.abs(seg - rest_pre)))
        out["peak_time"][i] = a + pk
        if p.refine_onsets:
            peak_dev = abs(float(seg[pk] - rest_pre))
            top = p.refine_fit_top_fraction * peak_dev
            on = _walk_to_rest(
                ref,
                a,
                b,
                lo,
                int(prev_stop[i]),
                pk,
                band,
                m,
                w,
                p.refine_anchor_fraction * peak_dev,
                back,
                top,
            )
            # offset: the same search on the time-reversed bout, resting value after the bout
            rev = ref[::-1]
            n_ = len(ref)
            off_rev = _walk_to_rest(
                rev,
                n_ - b,
                n_ - a,
                n_ - hi,
                n_ - int(next_start[i]),
                b - 1 - (a + pk),
                band,
                m,
                w,
                p.refine_anchor_fraction * peak_dev,
                back,
                top,
            )
            out["onset_sample"][i] = a + on
            out["offset_sample"][i] = b - off_rev
            lo_r = max(int(prev_stop[i]), a + on - w)
            if a + on > lo_r:
                rest_pre = float(np.median(position[lo_r : a + on]))
        out["rest_position"][i] = rest_pre
        out["peak_amplitude"][i] = float(seg[pk] - rest_pre)
    # refined bouts may reach into the gap between padded bouts: keep them disjoint
    if k > 1:
        out["onset_sample"][1:] = np.maximum(out["onset_sample"][1:], out["offset_sample"][:-1])
    return pd.DataFrame(out)


def detect_movements(
    lever: Lever, params: BehaviorParams | None = None, source: str = ""
) -> pd.DataFrame:
    """Movement bouts of a lever trace.

    Parameters
    ----------
    lever : Lever
    params : BehaviorParams, optional
    source : str
        File name for error messages.

    Returns
    -------
    DataFrame, one row per movement: ``onset``, ``offset`` (session time, s), ``duration`` (s),
    ``onset_sample``, ``offset_sample`` (indices at ``params.resample_hz``), ``rest_position``
    (lever units), ``peak_amplitude`` (signed peak deviation from rest, lever units),
    ``peak_time`` (s). Counted exclusions are in ``df.attrs["counts"]``.
    """
    parsed = parse_lever(lever, params, source)
    df = parsed.movements.copy()
    df.attrs["counts"] = dict(parsed.counts)
    df.attrs["threshold"] = parsed.threshold
    return df
