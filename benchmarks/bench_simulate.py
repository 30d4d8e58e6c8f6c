"""Benchmark: simulation of one demo-size axon-imaging session, in memory.

Measures :func:`thalamocortex.simulate.cohort.simulate_session` (behaviour and motor process,
~35 axons with their boutons, bursty spikes, indicator, field-of-view scene, neuropil, shot
noise; preset ``demo``, expert session; the mouse's field of view is cached after the first
call, as in a cohort) as ROI-frames per second, against a reference measured in the same run:
the *RNG floor*, a single pass that only draws the random numbers the model draws per ROI and
frame (isolated spikes: 1 Poisson; burst onsets, bouton failures: 2 uniform-like; shot noise of
F and Fneu: 2 float32 Gaussian). The ratio says how far the whole model is from that floor.
"""

from __future__ import annotations

import time

import numpy as np

from thalamocortex.simulate import preset, simulate_session


def _best_of(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    cfg = preset("demo")
    sess, _ = simulate_session(cfg, "axon_imaging", 0, 14)  # warm-up, and the size
    n_frames, n_rois = sess.imaging.f.shape
    roi_frames = n_frames * n_rois

    t_sim = _best_of(lambda: simulate_session(cfg, "axon_imaging", 0, 14))

    def floor() -> None:
        rng = np.random.default_rng(0)
        shape = (n_frames, n_rois)
        rng.poisson(0.03, shape)  # isolated spikes (~0.5 Hz / 15 Hz)
        for _ in range(2):  # burst onsets, bouton failures
            rng.random(shape)
        for _ in range(2):  # shot noise of F and Fneu
            rng.standard_normal(shape, dtype=np.float32)

    t_floor = _best_of(floor)
    print(f"session: {n_frames} frames x {n_rois} ROIs, lever {sess.lever.n_samples} samples")
    print(f"simulate_session: {t_sim:.3f} s  ({roi_frames / t_sim / 1e6:.2f} M ROI-frames/s)")
    print(f"RNG floor:        {t_floor:.3f} s  ({roi_frames / t_floor / 1e6:.2f} M ROI-frames/s)")
    print(f"ratio simulate / floor: {t_sim / t_floor:.1f}x")


if __name__ == "__main__":
    main()
