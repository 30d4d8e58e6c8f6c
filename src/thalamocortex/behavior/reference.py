"""A straightforward per-sample reference of the lever parser, for validation and benchmarks.

Same algorithm as :func:`thalamocortex.behavior.parse.parse_lever` (same filtering, speed
envelope and threshold), but the bout logic (thresholding, padding, merging, edge/NaN drops)
and the onset/offset refinement walk the samples one by one in Python, the way the lab's
MATLAB code reads. It is slow by design; tests check that both give the same movements and
``benchmarks/bench_behavior.py`` reports the speed ratio.
"""

from __future__ import annotations

import numpy as np

from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import (
    absolute_threshold,
    fill_nan_runs,
    lever_speed,
    lowpass,
    min_jerk_onset,
    resample,
    rest_velocity_sd,
    smoothed_velocity,
)
from thalamocortex.data.model import Lever


def _median(values: list[float]) -> float:
    return float(np.median(np.asarray(values))) if values else float("nan")


def reference_movements(lever: Lever, params: BehaviorParams | None = None) -> np.ndarray:
    """Movement bouts as an array (n_bouts, 2) of [onset_sample, offset_sample).

    Indices are at ``params.resample_hz``. Raises nothing beyond the NumPy/SciPy errors: input
    checks are the production parser's job.
    """
    p = params or BehaviorParams()
    raw = lever.values
    filled, valid_raw, _ = fill_nan_runs(raw, int(round(p.nan_interp_max_s * lever.rate)))
    rate = p.resample_hz
    x = resample(filled, lever.rate, rate)
    n = len(x)
    valid = [True] * n
    if not valid_raw.all():
        for i in range(n):
            j = min(max(int(round(i * lever.rate / rate)), 0), len(raw) - 1)
            valid[i] = bool(valid_raw[j])
    position = lowpass(x, rate, p.lowpass_hz, p.filter_order)
    speed = lever_speed(position, rate, p.velocity_smooth_samples)
    if p.speed_threshold_mode == "absolute":
        threshold = absolute_threshold(p, lever.units)
    else:
        velocity = smoothed_velocity(position, rate, p.velocity_smooth_samples)
        threshold = p.speed_threshold_k * rest_velocity_sd(velocity, np.asarray(valid), rate, p)

    # threshold crossings, one sample at a time
    bouts = []
    start = None
    for i in range(n):
        above = speed[i] > threshold and valid[i]
        if above and start is None:
            start = i
        elif not above and start is not None:
            bouts.append([start, i])
            start = None
    if start is not None:
        bouts.append([start, n])
    pad_b = int(round(p.pad_before_s * rate))
    pad_a = int(round(p.pad_after_s * rate))
    bouts = [[max(a - pad_b, 0), min(b + pad_a, n)] for a, b in bouts]
    merged = []
    gap_n = int(round(p.merge_gap_s * rate))
    for a, b in bouts:
        if merged and a - merged[-1][1] < gap_n:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    kept = []
    for a, b in merged:
        if p.drop_edge_bouts and (a <= 0 or b >= n):
            continue
        touches = False
        for i in range(max(a - 1, 0), min(b + 1, n)):
            if not valid[i]:
                touches = True
                break
        if touches:
            continue
        kept.append([a, b])

    ref = position
    if 0 < p.refine_lowpass_hz < rate / 2:
        ref = lowpass(x, rate, p.refine_lowpass_hz, p.filter_order)
    # resting noise: residuals around the median of quiet pieces
    in_bout = [False] * n
    for a, b in kept:
        for i in range(a, b):
            in_bout[i] = True
    piece = max(2, int(round(p.rest_noise_piece_s * rate)))
    resid = []
    current: list[float] = []
    current_key = None
    run_id = 0
    prev_quiet = False
    for i in range(n):
        quiet = (not in_bout[i]) and valid[i]
        if quiet and not prev_quiet:
            run_id += 1
        prev_quiet = quiet
        if not quiet:
            continue
        key = (run_id, i // piece)
        if key != current_key and current:
            med = _median(current)
            resid.extend(abs(v - med) for v in current)
            current = []
        current_key = key
        current.append(float(ref[i]))
    if current:
        med = _median(current)
        resid.extend(abs(v - med) for v in current)
    noise_sd = 1.4826 * _median(resid)

    band = p.refine_noise_k * noise_sd
    m = max(1, int(round(p.refine_consecutive_s * rate)))
    w = max(1, int(round(p.rest_window_s * rate)))
    back = int(round(p.refine_fit_max_back_s * rate)) if p.refine_fit == "min_jerk" else 0
    out = []
    for k, (a, b) in enumerate(kept):
        prev_stop = kept[k - 1][1] if k > 0 else 0
        next_start = kept[k + 1][0] if k + 1 < len(kept) else n
        for i in range(a - 1, prev_stop - 1, -1):  # NaN spans are barriers
            if not valid[i]:
                prev_stop = i + 1
                break
        for i in range(b, next_start):
            if not valid[i]:
                next_start = i
                break
        lo = max(prev_stop, a - w)
        hi = min(next_start, b + w)
        rest_pre = _median(list(position[lo:a])) if a > lo else float(position[a])
        pk, best = 0, -1.0
        for i in range(a, b):
            d = abs(position[i] - rest_pre)
            if d > best:
                best, pk = d, i - a
        if not p.refine_onsets:
            out.append([a, b])
            continue
        big = p.refine_anchor_fraction * best
        top = p.refine_fit_top_fraction * best
        on = _walk(ref, a, lo, prev_stop, pk, band, m, w, big, back, top, +1)
        off = _walk(
            ref, b - 1, hi - 1, next_start - 1, b - 1 - (a + pk), band, m, w, big, back, top, -1
        )
        out.append([a + on, b - off])
    for k in range(1, len(out)):
        out[k][0] = max(out[k][0], out[k - 1][1])
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def _walk(x, a, lo, floor, pk, band, m, w, big, back, top, step) -> int:
    """Sample-by-sample version of ``parse._walk_to_rest`` (``step`` -1 = time-reversed)."""

    def at(j):  # j samples from the bout's first sample in the walking direction
        return float(x[a + step * j])

    n_quiet = abs(a - lo)
    rest = _median([at(-j) for j in range(1, n_quiet + 1)]) if n_quiet else at(0)
    floor_j = -abs(a - floor)
    on = 0
    anchor = pk
    for _ in range(2):
        anchor, run = -1, 0
        for j in range(pk + 1):
            run = run + 1 if abs(at(j) - rest) > big else 0
            if run == m:
                anchor = j - m + 1
                break
        if anchor < 0:
            anchor = pk
        on = floor_j
        for j in range(anchor - 1, floor_j - 1, -1):
            if abs(at(j) - rest) <= band:
                on = j + 1
                break
        lo2 = max(floor_j, on - w)
        if on - lo2 < m:
            break
        rest = _median([at(j) for j in range(lo2, on)])
    if back > 0:
        # the minimum-jerk back-extrapolation is shared with the parser (a fit, not bout logic),
        # on the trace oriented in the walking direction
        if step > 0:
            y = np.asarray(x[a + floor_j :])
            i0 = -floor_j
        else:
            y = np.asarray(x[: a - floor_j + 1][::-1])
            i0 = -floor_j
        t0 = min_jerk_onset(y, rest, i0 + on, i0 + pk + 1, max(0, i0 + on - back), top, 0)
        on = t0 - i0
    return on
