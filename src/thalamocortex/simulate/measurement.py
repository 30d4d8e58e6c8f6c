"""Two-photon measurement of simulated activity: spikes -> indicator -> F and Fneu.

* spike counts per frame are Poisson with mean ``rate / frame_rate``;
* the indicator response to one action potential is a double exponential
  ``A * (exp(-t / decay) - exp(-t / rise))`` normalised to a peak of ``amplitude_dff``,
  evaluated at the middle of each frame after the spike (spikes fall anywhere inside a frame),
  with mild saturation ``dff = c / (1 + c / saturation)``;
* ``F = bleach * drift * (F0 * (1 + dff) + r * Fneu_true)`` in photons per frame, with a per-ROI
  baseline ``F0`` (boutons dimmer than somata) and a true neuropil coefficient ``r``; the
  neuropil ``Fneu_true`` follows the smoothed mean population dF/F;
* shot noise (variance = photon count; Gaussian approximation by default, exact Poisson with
  ``shot_noise_exact``) and Gaussian read noise on F and Fneu, rounded to whole counts;
* frames overlapping stimulation light get ``artefact_photons`` added to F and Fneu.

The analysis sees F and Fneu only; the noise-free dF/F is ground truth.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter

from thalamocortex.simulate.params import IndicatorParams, MeasurementParams


def spike_counts(rng: np.random.Generator, rates_hz: np.ndarray, frame_rate: float) -> np.ndarray:
    """Poisson spike counts per frame, same shape as ``rates_hz`` (float32)."""
    return rng.poisson(np.maximum(rates_hz, 0.0) / frame_rate).astype(np.float32)


def indicator_kernel(ind: IndicatorParams, frame_rate: float, n_frames: int) -> np.ndarray:
    """The per-spike dF/F kernel sampled at frame centres, array (n_frames,)."""
    t = (np.arange(n_frames) + 0.5) / frame_rate
    h = np.exp(-t / ind.decay_s) - np.exp(-t / ind.rise_s)
    return ind.amplitude_dff * h / h.max()


def calcium_dff(counts: np.ndarray, ind: IndicatorParams, frame_rate: float) -> np.ndarray:
    """Noise-free dF/F from spike counts (frames x ROIs), by two recursive filters.

    ``h[j] = alpha_d * a_d**j - alpha_r * a_r**j`` is the double-exponential kernel sampled at
    frame centres; each term is a first-order IIR filter, so the cost is linear in frames.
    """
    dt = 1.0 / frame_rate
    a_d, a_r = np.exp(-dt / ind.decay_s), np.exp(-dt / ind.rise_s)
    al_d, al_r = np.exp(-0.5 * dt / ind.decay_s), np.exp(-0.5 * dt / ind.rise_s)
    j = np.arange(int(10 * ind.decay_s * frame_rate) + 2)
    peak = np.max(al_d * a_d**j - al_r * a_r**j)
    f32 = np.float32
    x = np.asarray(counts, dtype=f32)
    one = np.array([1.0], f32)
    c = lfilter(one, np.array([1.0, -a_d], f32), x, axis=0)
    c *= f32(al_d * ind.amplitude_dff / peak)
    c -= f32(al_r * ind.amplitude_dff / peak) * lfilter(one, np.array([1.0, -a_r], f32), x, axis=0)
    # mild saturation: c / (1 + c / saturation)
    return c / (f32(1.0) + c / f32(ind.saturation_dff))


def ou_process(
    rng: np.random.Generator, n: int, k: int, sd: float, tau_frames: float
) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck noise, array (n, k) float32, SD ``sd``, time constant in
    frames."""
    a = np.exp(-1.0 / max(tau_frames, 1e-9))
    x = rng.standard_normal((n, k), dtype=np.float32)
    x[0] /= np.float32(np.sqrt(1 - a * a))  # start in the stationary distribution
    x = lfilter(np.array([1.0], np.float32), np.array([1.0, -a], np.float32), x, axis=0)
    x *= np.float32(sd * np.sqrt(1 - a * a))
    return x


def artefact_frames(frame_times: np.ndarray, frame_rate: float, windows: np.ndarray) -> np.ndarray:
    """Boolean (n_frames,): frames whose exposure [t, t + 1/rate) overlaps any light window."""
    mask = np.zeros(len(frame_times), dtype=bool)
    for start, stop in np.asarray(windows).reshape(-1, 2):
        mask |= (frame_times < stop) & (frame_times + 1.0 / frame_rate > start)
    return mask


def measure(
    rng: np.random.Generator,
    dff_true: np.ndarray,
    frame_times: np.ndarray,
    mp: MeasurementParams,
    roi_kind: np.ndarray,
    light_windows: np.ndarray | None = None,
) -> dict:
    """Fluorescence of every ROI and its neuropil from noise-free dF/F.

    Parameters
    ----------
    dff_true : (n_frames, n_rois) noise-free dF/F
    frame_times : (n_frames,) s
    mp : MeasurementParams
    roi_kind : (n_rois,) str, 'soma' or 'bouton' (sets the baseline brightness)
    light_windows : (n_windows, 2) start/stop (s) of stimulation light, optional

    Returns
    -------
    dict with ``F``, ``Fneu`` (n_frames, n_rois) float32 photons/frame, ``F0`` (n_rois,),
    ``neuropil_coef`` (n_rois,), ``artefact`` (n_frames,) bool.
    """
    n_frames, n_rois = dff_true.shape
    f32 = np.float32
    fr = 1.0 / np.median(np.diff(frame_times)) if n_frames > 1 else mp.frame_rate_hz
    base = np.where(np.asarray(roi_kind) == "bouton", mp.f0_bouton_photons, mp.f0_soma_photons)
    f0 = base * np.exp(mp.f0_cv * rng.standard_normal(n_rois))
    coef = np.clip(
        mp.neuropil_coef_mean + mp.neuropil_coef_sd * rng.standard_normal(n_rois), 0.0, None
    )
    pop = gaussian_filter1d(
        np.asarray(dff_true, np.float64).mean(axis=1), mp.neuropil_smooth_s * fr
    )
    neu_true = (mp.neuropil_photons * (1.0 + mp.neuropil_gain * pop)).astype(f32)
    # each ROI's neuropil annulus: shared population signal + a slow local fluctuation
    neu_local = ou_process(rng, n_frames, n_rois, 0.05, fr * 2.0)
    neu_local += f32(1.0)
    neu_local *= neu_true[:, None]
    t_rel = (frame_times - frame_times[0]) / max(frame_times[-1] - frame_times[0], 1e-9)
    gain = ou_process(rng, n_frames, n_rois, mp.drift_sd, mp.drift_tau_s * fr)
    gain += f32(1.0)
    gain *= (1.0 - mp.bleach_fraction * t_rel).astype(f32)[:, None]  # bleaching x drift
    f_true = np.asarray(dff_true, f32) + f32(1.0)
    f_true *= f0.astype(f32)
    f_true += coef.astype(f32) * neu_local
    f_true *= gain
    fneu_true = neu_local
    fneu_true *= gain
    del gain
    art = np.zeros(n_frames, dtype=bool)
    if light_windows is not None and len(light_windows):
        art = artefact_frames(frame_times, fr, light_windows)
        f_true[art] += f32(mp.artefact_photons)
        fneu_true[art] += f32(mp.artefact_photons)
    read2 = f32(mp.read_noise_photons**2)
    out = []
    for x in (f_true, fneu_true):
        np.maximum(x, 0.0, out=x)
        if mp.shot_noise and mp.shot_noise_exact:
            y = rng.poisson(x).astype(f32)
            if read2 > 0:
                y += f32(mp.read_noise_photons) * rng.standard_normal(x.shape, dtype=f32)
        else:
            # shot noise (variance = mean photon count) and read noise in one Gaussian draw
            var = x + read2 if mp.shot_noise else np.full_like(x, read2)
            y = rng.standard_normal(x.shape, dtype=f32)
            y *= np.sqrt(var)
            y += x
        out.append(y)
    F, Fneu = out
    if mp.digitize:
        np.round(F, out=F)
        np.round(Fneu, out=Fneu)
    return dict(F=F, Fneu=Fneu, F0=f0, neuropil_coef=coef, artefact=art)
