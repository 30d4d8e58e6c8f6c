"""Direct reference algorithms of the package's fast kernels: the definitions the kernels must
reproduce exactly (the tests assert equality; benchmarks/bench_kernels.py times the kernels
against the same functions). One copy, so the test and the benchmark cannot drift apart.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from thalamocortex.behavior.parse import min_jerk


def min_jerk_onset_direct(x, rest, on, stop, earliest, top, first=0, pre=20):
    """The grid search of ``behavior.parse.min_jerk_onset`` with the profile evaluated at every
    (t0, window-end fraction, sample): the definition its moment form must reproduce. The fitted
    window starts at ``max(earliest - pre, first, 0)`` (``first``: the first sample after the
    previous movement, so that a fit never reaches into it)."""
    dev = x[on:stop] - rest
    sign = 1.0 if dev[int(np.argmax(np.abs(dev)))] > 0 else -1.0
    over = np.flatnonzero(sign * dev >= top)
    end = on + (int(over[0]) if len(over) else len(dev))
    lo = max(earliest - pre, first, 0)

    def best(t0s, frac, step):
        idx = np.arange(lo, end, step)
        y = sign * (x[idx] - rest)
        d = (end - t0s)[:, None] / frac[None, :]
        prof = min_jerk((idx[None, None, :] - t0s[:, None, None]) / d[:, :, None])
        py = prof @ y
        gain = np.where(py > 0, py * py / np.einsum("ijk,ijk->ij", prof, prof), -np.inf)
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        return gain[i, j], int(t0s[i]), frac[j]

    fraction = np.linspace(0.1, 0.8, 15)
    g, t0, f = best(np.arange(on, earliest - 1, -4)[::-1], fraction, 2)
    if not np.isfinite(g):
        return on
    df = fraction[1] - fraction[0]
    t0s = np.arange(max(earliest, t0 - 4), min(on, t0 + 4) + 1)
    g, t0, _ = best(t0s, np.linspace(max(f - df, 0.05), min(f + df, 1.0), 9), 1)
    return on if not np.isfinite(g) or t0 <= earliest else t0


def resting_mode_histogram(v: np.ndarray, n_bins: int = 200) -> float:
    """The definition of ``preprocess.events.resting_mode`` for one ROI: ``np.histogram`` over
    the 1-99th percentile range, smoothed by a 2-bin Gaussian, centre of the highest bin."""
    v = v[np.isfinite(v)].astype(np.float64)
    if v.size == 0:
        return np.nan
    lo, hi = np.percentile(v, [1, 99])
    if not hi > lo:
        return float(np.median(v))
    counts, edges = np.histogram(v, bins=n_bins, range=(lo, hi))
    k = int(np.argmax(ndimage.gaussian_filter1d(counts.astype(float), 2.0, mode="constant")))
    return 0.5 * (edges[k] + edges[k + 1])
