"""Benchmark: movement-related classification and lever decoding.

Classification: 1,000 ROIs x 30,000 frames (50 min at 10 Hz; autocorrelated calcium-like
activity, 10 % movement-tuned) with 10,000 resamples of each null, computed for all ROIs at
once (block shuffle: one sparse (resamples x frames) operator times cumulative sums; circular
shift: FFT cross-correlation). Reference, same data, same run: a Python loop over resamples
that builds each shuffled movement mask and computes the movement-minus-quiescence contrast for
all ROIs with a matrix-vector product (vectorised over ROIs, looped over resamples — the
straightforward implementation). The reference runs ``REF_RESAMPLES`` resamples and its time is
scaled linearly to 10,000 (its cost is linear in the number of resamples); its null values are
checked against the vectorised ones on those resamples.

Decoding: ridge with time lags, trials as folds, all ridge strengths from one
eigendecomposition per fold, ``n_subsamples`` ROI subsets batched; throughput in fitted decoders
(subset x fold, every alpha) per second and in training samples x features per second.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import scipy.signal

import thalamocortex.config  # noqa: F401
from thalamocortex.encoding.decoding import decode_trajectory, lagged_trial_design
from thalamocortex.encoding.movement_related import (
    block_shuffle_null,
    block_shuffle_operator,
    circular_shift_null,
    classify_movement_related,
    movement_contrast,
    movement_mask,
    random_shifts,
)
from thalamocortex.encoding.params import EncodingParams

N_ROIS = 1000
N_FRAMES = 30_000
N_RESAMPLES = 10_000
REF_RESAMPLES = 100
FR = 10.0


def synthetic_session(seed: int = 0):
    """Frames x ROIs dF/F (float32), frame times and movement epochs."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_FRAMES) / FR
    n_moves = 400
    on = np.sort(rng.uniform(2, t[-1] - 5, n_moves))
    epochs = np.c_[on, on + rng.uniform(0.4, 2.5, n_moves)]
    mask = movement_mask(t, epochs)
    spikes = (rng.random((N_FRAMES, N_ROIS)) < 0.01).astype(np.float32)
    tuned = N_ROIS // 10
    spikes[:, :tuned] += (rng.random((N_FRAMES, tuned)) < 0.05) * mask[:, None]
    dff = scipy.signal.lfilter([1.0], [1.0, -0.9], spikes, axis=0).astype(np.float32)
    dff += rng.normal(0, 0.1, dff.shape).astype(np.float32)
    return dff, t, epochs, mask


@contextmanager
def timer(out: dict, key: str):
    """Wall and CPU (this process) seconds; CPU time is robust to other load on the machine."""
    w, c = time.perf_counter(), time.process_time()
    yield
    out[key] = (time.perf_counter() - w, time.process_time() - c)


def reference_block_null(dff, mask, n, rng):
    """Python loop over resamples: build each shuffled mask, then one contrast per resample."""
    w = block_shuffle_operator(mask, n, rng)  # same shuffles as the vectorised code
    out = np.empty((n, dff.shape[1]))
    for r in range(n):
        shuffled = -np.cumsum(w[r].toarray().ravel())[:-1] > 0.5
        out[r] = movement_contrast(dff, shuffled)
    return out


def reference_circular_null(dff, mask, shifts):
    out = np.empty((len(shifts), dff.shape[1]))
    for r, s in enumerate(shifts):
        out[r] = movement_contrast(dff, np.roll(mask, s))
    return out


def main() -> None:
    dff, t, epochs, mask = synthetic_session()
    print(f"   classification: {N_ROIS} ROIs x {N_FRAMES} frames, {N_RESAMPLES} resamples per null")
    p = EncodingParams(n_shuffles=N_RESAMPLES)
    tm: dict = {}
    with timer(tm, "block"):
        res = classify_movement_related(dff, t, epochs, p, seed=0, nulls=("block_shuffle",))
    with timer(tm, "circ"):
        classify_movement_related(
            dff,
            t,
            epochs,
            p.model_copy(update={"null": "circular_shift"}),
            nulls=("circular_shift",),
        )
    print("   times are wall / CPU seconds of this process (CPU is robust to a busy machine)")
    print(
        "   vectorised, block-shuffle null (lab): "
        f"{tm['block'][0]:.1f} / {tm['block'][1]:.1f} s (whole classification)"
    )
    print(
        "   vectorised, circular-shift null:      "
        f"{tm['circ'][0]:.1f} / {tm['circ'][1]:.1f} s (whole classification)"
    )
    print(f"   movement-related: {int(res['movement_related'].sum())} of {N_ROIS}")

    # reference on REF_RESAMPLES resamples, scaled linearly to N_RESAMPLES
    scale = N_RESAMPLES / REF_RESAMPLES
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    with timer(tm, "ref_block"):
        ref = reference_block_null(dff, mask, REF_RESAMPLES, rng_a)
    vec = block_shuffle_null(dff, mask, REF_RESAMPLES, rng_b)
    same_block = np.allclose(ref, vec, rtol=1e-6, atol=1e-9)
    shifts = random_shifts(N_FRAMES, REF_RESAMPLES, int(10 * FR), np.random.default_rng(6))
    with timer(tm, "ref_circ"):
        ref_c = reference_circular_null(dff, mask, shifts)
    same_circ = np.allclose(ref_c, circular_shift_null(dff, mask, shifts), rtol=1e-6, atol=1e-9)
    print(
        f"   Python loop over resamples (reference; ran {REF_RESAMPLES} resamples, time scaled "
        f"linearly to {N_RESAMPLES}):"
    )
    for key, name in (("block", "block shuffle: "), ("circ", "circular shift:")):
        rw, rc = (v * scale for v in tm[f"ref_{key}"])
        vw, vc = tm[key]
        print(
            f"     {name} {rw:.1f} / {rc:.1f} s -> speed-up {rw / vw:.1f}x wall, {rc / vc:.1f}x CPU"
        )
    print(f"   null values identical to the reference: block {same_block}, circular {same_circ}")

    # decoding throughput
    rng = np.random.default_rng(1)
    n_trials = 100
    onsets = 10 + np.arange(n_trials) * 25.0 + rng.uniform(0, 5, n_trials)
    lever = np.zeros(N_FRAMES)
    for o in onsets:
        tau = t - o
        lever += np.where((tau >= 0) & (tau < 1.5), np.sin(np.pi * tau / 1.5), 0)
    dec_dff = dff[:, :200] + 0.3 * np.roll(lever, -3)[:, None] * (np.arange(200) < 100)
    X, y, ts = lagged_trial_design(dec_dff, lever, t, onsets, (-0.5, 2.0), (-0.5, 0.5), 2)
    n_rois, n_sub, n_folds = 40, 20, 5
    alphas = tuple(EncodingParams().ridge_alphas)
    with timer(tm, "dec"):
        out = decode_trajectory(
            X, y, ts, n_rois, alphas, n_folds=n_folds, n_subsamples=n_sub, seed=0
        )
    t_dec = tm["dec"][1]  # CPU seconds
    n_feat = X.shape[2] * n_rois
    n_train = int(X.shape[0] * X.shape[1] * (n_folds - 1) / n_folds)
    fits = n_sub * n_folds
    print(
        f"   decoding: {n_trials} trials x {X.shape[1]} samples, {n_rois} ROIs x {X.shape[2]} "
        f"lags = {n_feat} features, {n_sub} ROI subsets x {n_folds} folds x {len(alphas)} alphas: "
        f"{tm['dec'][0]:.2f} / {t_dec:.2f} s (R2 {out.r2:.2f})"
    )
    print(
        f"   decoding throughput (CPU time): {fits / t_dec:.0f} decoders/s (all alphas each), "
        f"{fits * n_train * n_feat / t_dec / 1e6:.0f} M training sample-features/s"
    )


if __name__ == "__main__":
    main()
