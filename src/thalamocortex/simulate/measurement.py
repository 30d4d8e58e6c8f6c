"""Trace-level two-photon measurement: the scene's F and Fneu with shot and read noise.

For ROI ``i`` with extraction weights ``lambda_i`` (rows of ``Field.roi_weights``, summing to 1)
and neuropil mask ``nu_i``, the expected traces are the weighted pixel means of the scene
(:mod:`.scene`), in photons per pixel per frame (suite2p's convention)::

    E[F_i(t)]    = sum_p lambda_i(p) pixel(p, t)
    E[Fneu_i(t)] = sum_p nu_i(p) pixel(p, t)

Their noise is the shot noise of the pixels averaged, ``Var F_i = sum_p lambda_i(p)^2
pixel(p, t)`` (exact when the ROI's pixels are equally bright; Gaussian with that variance by
default, exact Poisson with ``shot_noise_exact``), plus read noise. Frames overlapping
stimulation light get ``artefact_photons_px`` added. The analysis sees F and Fneu only; the
noise-free dF/F, the ROI's own baseline ``F0`` and the true neuropil coefficient (the ratio of
neuropil light in the ROI's weights to that in its neuropil mask) are ground truth.
"""

from __future__ import annotations

import numpy as np

from thalamocortex.simulate.params import MeasurementParams
from thalamocortex.simulate.scene import Scene, ou_process  # noqa: F401 (re-exported)


def artefact_frames(frame_times: np.ndarray, frame_rate: float, windows: np.ndarray) -> np.ndarray:
    """Boolean (n_frames,): frames whose exposure [t, t + 1/rate) overlaps any light window."""
    mask = np.zeros(len(frame_times), dtype=bool)
    for start, stop in np.asarray(windows).reshape(-1, 2):
        mask |= (frame_times < stop) & (frame_times + 1.0 / frame_rate > start)
    return mask


def _noisy(rng, x: np.ndarray, sum_w2: np.ndarray, mp: MeasurementParams) -> np.ndarray:
    """Weighted means ``x`` (frames x ROIs, photons/px) with shot and read noise."""
    f32 = np.float32
    w2 = sum_w2.astype(f32)[None, :]
    np.maximum(x, 0.0, out=x)
    if mp.shot_noise and mp.shot_noise_exact:
        # the weighted mean of Poisson pixels, approximated by Poisson counts of the effective
        # number of pixels 1 / sum(w^2)
        n_eff = 1.0 / w2
        y = (rng.poisson(x * n_eff) / n_eff).astype(f32)
    else:
        var = x * w2 if mp.shot_noise else np.zeros_like(x)
        y = rng.standard_normal(x.shape, dtype=f32)
        y *= np.sqrt(var)
        y += x
    if mp.read_noise_photons > 0:
        y += f32(mp.read_noise_photons) * np.sqrt(w2) * rng.standard_normal(x.shape, dtype=f32)
    if mp.digitize_step_photons > 0:
        step = f32(mp.digitize_step_photons)
        np.round(y / step, out=y)
        y *= step
    return y


def measure_traces(rng: np.random.Generator, scene: Scene) -> dict:
    """F and Fneu of every ROI of ``scene`` (see the module docstring), with the noise of
    ``scene.measurement``.

    Returns
    -------
    dict with ``F``, ``Fneu`` (n_frames, n_rois) float32 photons/px/frame, ``F0`` (n_rois,)
    (the ROI's own label, photons/px/frame at the start), ``neuropil_coef`` (n_rois,) (true
    contamination coefficient), ``Fneu0`` (n_rois,) (resting neuropil, photons/px/frame) and
    ``artefact`` (n_frames,) bool.
    """
    f = scene.field
    F = scene.weighted(f.roi_weights)
    Fneu = scene.weighted(f.neuropil_weights)
    art = np.zeros(scene.n_frames, dtype=bool)
    if scene.light_windows is not None and len(scene.light_windows):
        art = artefact_frames(scene.frame_times, scene.frame_rate, scene.light_windows)
        F[art] += np.float32(scene.measurement.artefact_photons_px)
        Fneu[art] += np.float32(scene.measurement.artefact_photons_px)
    w2_roi = np.asarray(f.roi_weights.multiply(f.roi_weights).sum(axis=1)).ravel()
    w2_neu = np.asarray(f.neuropil_weights.multiply(f.neuropil_weights).sum(axis=1)).ravel()
    # ground truth: own label and neuropil light in the ROI's weights and in its mask
    sp, dense = scene.components()
    own = np.asarray(f.roi_weights.multiply(sp[: f.n_rois]).sum(axis=1)).ravel()
    neu_roi = np.asarray(f.roi_weights @ dense[0])
    neu_mask = np.asarray(f.neuropil_weights @ dense[0])
    g0 = float(scene.gain[0]) if scene.n_frames else 1.0
    out = dict(
        F=_noisy(rng, F, w2_roi, scene.measurement),
        Fneu=_noisy(rng, Fneu, w2_neu, scene.measurement),
        F0=scene.neuropil_photons * g0 * own,
        Fneu0=scene.neuropil_photons * g0 * neu_mask,
        neuropil_coef=neu_roi / np.maximum(neu_mask, 1e-12),
        artefact=art,
    )
    return out
