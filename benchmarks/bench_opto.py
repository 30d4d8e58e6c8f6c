"""Benchmark: photostimulation response classification, 2,000 neurons x 200 pulses.

Measures, on one seeded synthetic session (15 Hz, 1 s pulses every ~6 s, AR(1) noise, light
artefact), the vectorised path of :mod:`thalamocortex.opto` — artefact blanking, response
windows, per-pulse responses, signed-rank tests, BH FDR, classes — against a per-neuron Python
loop reference on the same data in the same run (per neuron: window means with NumPy, then
``scipy.stats.wilcoxon``, then BH), and checks that both give the same classes.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import signal, stats

from thalamocortex.opto.classify import classify_responses, classify_session
from thalamocortex.opto.params import OptoParams
from thalamocortex.opto.responses import artefact_mask, response_windows
from thalamocortex.stats import fdr_bh

N_NEURONS = 2000
N_PULSES = 200
FRAME_RATE = 15.0


def synthetic_session(seed: int = 0):
    """dF/F (frames x neurons float32), frame times, pulse table."""
    rng = np.random.default_rng(seed)
    starts = 5.0 + np.arange(N_PULSES) * 6.0 + rng.uniform(0, 1, N_PULSES)
    n_frames = int((starts[-1] + 10) * FRAME_RATE)
    times = np.arange(n_frames) / FRAME_RATE
    noise = rng.standard_normal((n_frames, N_NEURONS)).astype(np.float32) * np.float32(0.06)
    noise = signal.lfilter([1.0], [1.0, -0.8], noise, axis=0).astype(np.float32)
    gain = np.where(rng.random(N_NEURONS) < 0.2, 0.3, 0.0) - np.where(
        rng.random(N_NEURONS) < 0.1, 0.15, 0.0
    )
    kernel = np.zeros(n_frames, dtype=np.float32)
    for s in starts:
        dt = times - s
        after = (dt >= 1.0) & (dt < 6.0)
        kernel[after] += np.exp(-(dt[after] - 1.0) / 1.5).astype(np.float32)
    dff = noise + kernel[:, None] * gain[None, :].astype(np.float32)
    pulses = pd.DataFrame(
        {"start_time": starts, "duration": 1.0, "power": 5.0, "target": "MTh axons"}
    )
    dff[artefact_mask(times, pulses, FRAME_RATE)] += 50.0
    return dff, times, pulses


def loop_reference(dff, times, pulses, params: OptoParams) -> np.ndarray:
    """Per-neuron Python loop: window means, scipy's Wilcoxon, BH; returns classes."""
    win = response_windows(times, pulses, params, FRAME_RATE)
    mask = artefact_mask(times, pulses, FRAME_RATE)
    need = int(np.ceil(params.min_window_coverage * win.n_window - 1e-9))
    n = dff.shape[1]
    p = np.full(n, np.nan)
    drive = np.full(n, np.nan)
    for j in range(n):
        x = dff[:, j].astype(np.float64)
        x[mask] = np.nan
        amp, amp_z, pre_frames = [], [], []
        for k in range(len(pulses)):
            pre_idx = win.pre[k][win.pre[k] >= 0]
            post_idx = win.post[k][win.post[k] >= 0]
            pre, post = x[pre_idx], x[post_idx]
            pre, post = pre[np.isfinite(pre)], post[np.isfinite(post)]
            pre_frames.append(pre)
            if len(pre) >= need and len(post) >= need:
                amp.append(post.mean() - pre.mean())
        sd = np.std(np.concatenate(pre_frames), ddof=1)
        amp = np.asarray(amp)
        amp_z = amp / sd
        if len(amp) >= params.min_valid_pulses:
            nz = amp[amp != 0]
            method = "exact" if len(nz) <= params.wilcoxon_exact_max_n else "approx"
            p[j] = stats.wilcoxon(nz, method=method, correction=True).pvalue
        drive[j] = amp_z.mean() if len(amp) else np.nan
        del amp_z
    _, q = fdr_bh(p, params.fdr_alpha)
    sig = q <= params.fdr_alpha
    return np.where(
        sig & (drive >= params.min_effect_z),
        "activated",
        np.where(sig & (drive <= -params.min_effect_z), "suppressed", "not_responsive"),
    )


def main() -> None:
    params = OptoParams()
    t = time.perf_counter()
    dff, times, pulses = synthetic_session()
    print(
        f"   data: {dff.shape[1]} neurons x {len(pulses)} pulses, {dff.shape[0]} frames "
        f"({time.perf_counter() - t:.1f} s to simulate)"
    )

    t = time.perf_counter()
    table, resp = classify_session(dff, times, pulses, params, FRAME_RATE)
    t_vec = time.perf_counter() - t

    t = time.perf_counter()
    classify_responses(resp.amplitude, resp.amplitude_z, params)
    t_test = time.perf_counter() - t

    t = time.perf_counter()
    ref = loop_reference(dff, times, pulses, params)
    t_loop = time.perf_counter() - t

    t = time.perf_counter()
    for j in range(resp.amplitude.shape[1]):
        a = resp.amplitude[:, j]
        a = a[np.isfinite(a) & (a != 0)]
        stats.wilcoxon(a, method="approx", correction=True)
    t_loop_test = time.perf_counter() - t

    agree = float(np.mean(ref == table["response_class"].to_numpy()))
    counts = table["response_class"].value_counts().to_dict()
    print(f"   vectorised responses + classification: {t_vec:.2f} s")
    print(
        f"   per-neuron Python loop reference:      {t_loop:.2f} s  "
        f"(ratio loop/vectorised = {t_loop / t_vec:.1f}x)"
    )
    print(
        f"   signed-rank + FDR + classes only:      {t_test:.3f} s vs scipy loop "
        f"{t_loop_test:.2f} s (ratio {t_loop_test / t_test:.1f}x)"
    )
    print(f"   classes agree with the reference on {agree:.1%} of neurons; {counts}")


if __name__ == "__main__":
    main()
