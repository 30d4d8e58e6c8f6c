"""Benchmark: the demo's hottest per-session kernels against their direct reference algorithms.

Each kernel is timed (CPU seconds, best of 3) beside the straightforward algorithm it replaced,
measured in the same run on demo-sized seeded data, and the two outputs must be identical:

1. running 8th-percentile baseline (60 s window every 2 s, 15 Hz, 5760 frames x 80 ROIs,
   blanked frames): one ``np.partition`` per window on a transposed copy vs the frames x ROIs
   window partitioned along axis 0 (``preprocess.dff.percentile_baseline``);
2. resting mode of dF/F (histogram mode per ROI): one sort + ``searchsorted`` of the bin edges
   vs ``np.percentile`` + ``np.histogram`` per ROI (``preprocess.events.resting_mode``);
3. minimum-jerk onset fit of a lever press (1 kHz): power moments of the time axis vs the
   profile evaluated on the whole (onset, window fraction, sample) grid
   (``behavior.parse.min_jerk_onset``);
4. block-shuffle null operator (10,000 resamples): CSR built directly vs scipy's COO -> CSR
   conversion (``encoding.movement_related.block_shuffle_operator``).

Run: ``.venv/bin/python benchmarks/bench_kernels.py`` (or ``make bench``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse

import thalamocortex.config  # noqa: F401
from thalamocortex.behavior.parse import min_jerk, min_jerk_onset
from thalamocortex.encoding.movement_related import block_shuffle_operator, epochs_of_mask
from thalamocortex.preprocess.dff import percentile_baseline
from thalamocortex.preprocess.events import resting_mode

# the direct reference algorithms the tests assert equality with (one copy for both)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _references import min_jerk_onset_direct, resting_mode_histogram  # noqa: E402


def _cpu(func, repeats: int = 3) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        c = time.process_time()
        out = func()
        best = min(best, time.process_time() - c)
    return best, out


# --- references: the direct algorithms (the others are in tests/_references.py) -------------


def _percentile_baseline_ref(x, rate, window_s=60.0, q=8.0, step_s=2.0):
    n = x.shape[0]
    half, step = int(round(window_s * rate / 2)), int(round(step_s * rate))
    centres = np.arange(0, n, step)
    if centres[-1] != n - 1:
        centres = np.append(centres, n - 1)
    vals = np.empty((len(centres), x.shape[1]))
    for i, c in enumerate(centres):
        b = x[max(0, c - half) : min(n, c + half + 1)]
        b = b[np.isfinite(b).all(axis=1)]  # blanked frames only (whole rows)
        pos = q / 100.0 * (b.shape[0] - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, b.shape[0] - 1)
        part = np.partition(b, [lo, hi] if hi != lo else [lo], axis=0)
        vals[i] = part[lo] * (1 - (pos - lo)) + part[hi] * (pos - lo)
    t = np.arange(n)
    return np.stack([np.interp(t, centres, vals[:, j]) for j in range(x.shape[1])], axis=1)


def _block_shuffle_operator_ref(mask, n_resamples, rng):
    lengths, labels = epochs_of_mask(mask)
    order = np.empty((n_resamples, len(lengths)), dtype=np.int64)
    for lab in (True, False):
        slots = np.flatnonzero(labels == lab)
        order[:, slots] = slots[np.argsort(rng.random((n_resamples, len(slots))), axis=1)]
    plen = lengths[order]
    ends = np.cumsum(plen, axis=1)
    starts = ends - plen
    moving = np.broadcast_to(labels, order.shape)
    rows = np.broadcast_to(np.arange(n_resamples)[:, None], moving.shape)[moving]
    r = np.concatenate([rows, rows])
    c = np.concatenate([ends[moving], starts[moving]])
    d = np.concatenate([np.ones(moving.sum()), -np.ones(moving.sum())])
    return scipy.sparse.csr_matrix((d, (r, c)), shape=(n_resamples, len(mask) + 1))


# --- the comparisons ------------------------------------------------------------------------


def _report(name: str, new: float, ref: float) -> None:
    print(f"   {name:<34} {new * 1e3:8.1f} ms, reference {ref * 1e3:8.1f} ms: {new / ref:.2f}")


def main() -> None:
    rng = np.random.default_rng(0)
    rate, n, r = 15.0, 5760, 80
    fc = 100 + np.cumsum(rng.standard_normal((n, r)), axis=0) * 0.2 + rng.gamma(2, 3, (n, r))
    fc[rng.random(n) < 0.01] = np.nan  # blanked frames
    t_new, a = _cpu(lambda: percentile_baseline(fc, rate))
    t_ref, b = _cpu(lambda: _percentile_baseline_ref(fc, rate))
    assert np.array_equal(a, b), "percentile baseline differs from the reference"
    _report("percentile baseline", t_new, t_ref)

    dff = (rng.standard_normal((n, r)) ** 2).astype(np.float32)
    dff[fc[:, 0] != fc[:, 0]] = np.nan
    t_new, a = _cpu(lambda: resting_mode(dff))
    t_ref, b = _cpu(lambda: [resting_mode_histogram(dff[:, j]) for j in range(r)])
    assert np.array_equal(a, b), "resting mode differs from the reference"
    _report("resting mode", t_new, t_ref)

    t = np.arange(3000) / 1000.0
    presses = []
    for _ in range(40):
        rise = rng.uniform(0.1, 0.6)
        u = np.clip((t - 1.0) / rise, 0, 1)
        x = 0.3 + 2.0 * min_jerk(u) + rng.uniform(0.005, 0.05) * rng.standard_normal(len(t))
        on = int(np.argmax(np.abs(x - 0.3) > 0.2))
        presses.append((x, 0.3, on, on + 700, max(0, on - 200), 0.6))
    t_new, a = _cpu(lambda: [min_jerk_onset(*p) for p in presses])
    t_ref, b = _cpu(lambda: [min_jerk_onset_direct(*p) for p in presses])
    assert a == b, "min-jerk onsets differ from the reference"
    _report("min-jerk onset fit (40 presses)", t_new, t_ref)

    mask = np.repeat(rng.random(200) < 0.4, 29)
    t_new, a = _cpu(lambda: block_shuffle_operator(mask, 10_000, np.random.default_rng(1)))
    t_ref, b = _cpu(lambda: _block_shuffle_operator_ref(mask, 10_000, np.random.default_rng(1)))
    assert (a != b).nnz == 0 and np.array_equal(a.indices, b.indices), "operators differ"
    _report("block-shuffle operator (10,000)", t_new, t_ref)


if __name__ == "__main__":
    main()
