"""The scene of one imaging session: a field's spatial components with their time courses.

Expected photons at pixel ``p`` and frame ``t``::

    pixel(p, t) = N x gain(t) x sum_c S[c, p] X[t, c]      (+ stimulation light)

with ``N`` the neuropil's photons per pixel per frame at this frame rate (the photon budget,
:meth:`~.params.MeasurementParams.neuropil_photons`), ``gain`` bleaching x slow drift, and the
components ``c`` of :class:`~.fov.Field`:

=============  ===============================================  ============================
component      S (relative to the mean neuropil)                X (time course)
=============  ===============================================  ============================
ROI i          brightness_i x footprint_i                       1 + dF/F_i
out-of-focus   blurred disc x brightness                        1 + dF/F of that cell
axon shaft     the axon's visible segment x shaft brightness    1 + dF/F of the axon
neuropil       neuropil map (vessels, neurites, occlusion)      1 + neuropil dF/F (global)
patch k        neuropil map x patch k                           local neuropil dF/F of k
static         stray puncta                                     1
=============  ===============================================  ============================

Both measurements read this one scene: trace-level F / Fneu are its weighted means over each
ROI's extraction weights and neuropil mask (:mod:`.measurement`), movies render it pixel by
pixel (:mod:`.movies`). The neuropil dF/F has a slow field-wide fluctuation, a movement-locked
component (filtered by the indicator's decay) and a share of the imaged units' mean activity;
each patch adds its own slow fluctuation and its own movement weight.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.signal import lfilter

from thalamocortex.simulate.activity import ou_process  # noqa: F401 (re-exported)
from thalamocortex.simulate.fov import Field
from thalamocortex.simulate.params import MeasurementParams


@dataclass
class Scene:
    """A field and the time courses of its components (see the module docstring).

    Attributes
    ----------
    field : Field
    frame_times : (n_frames,) s
    roi_dff, oof_dff, shaft_dff : (n_frames, n) float32 noise-free dF/F
    neuropil_dff : (n_frames,) float32
    patch_dff : (n_frames, n_patches) float32
    gain : (n_frames,) float32, bleaching x drift (1 at the start, no ramp)
    neuropil_photons : float, photons per pixel per frame of the mean neuropil
    light_windows : (n_windows, 2) s, stimulation light (start, stop)
    measurement : MeasurementParams
        The session's measurement settings, the one carrier of its noise (``shot_noise``,
        ``read_noise_photons``) and light artefact (``artefact_photons_px``): trace-level F /
        Fneu (:mod:`.measurement`) and rendered movies (:mod:`.movies`) read them here alike.
    """

    field: Field
    frame_times: np.ndarray
    roi_dff: np.ndarray
    oof_dff: np.ndarray
    shaft_dff: np.ndarray
    neuropil_dff: np.ndarray
    patch_dff: np.ndarray
    gain: np.ndarray
    neuropil_photons: float
    light_windows: np.ndarray
    measurement: MeasurementParams

    @property
    def n_frames(self) -> int:
        return len(self.frame_times)

    @property
    def frame_rate(self) -> float:
        t = self.frame_times
        return float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 else 30.0

    def frames(self, sl: slice) -> Scene:
        """The scene restricted to frames ``sl``."""
        return replace(
            self,
            frame_times=self.frame_times[sl],
            roi_dff=self.roi_dff[sl],
            oof_dff=self.oof_dff[sl],
            shaft_dff=self.shaft_dff[sl],
            neuropil_dff=self.neuropil_dff[sl],
            patch_dff=self.patch_dff[sl],
            gain=self.gain[sl],
        )

    # -- components -------------------------------------------------------------------------
    def components(self) -> tuple[sparse.csr_matrix, np.ndarray]:
        """Sparse (n_sparse, n_px) components (ROIs, out-of-focus, shafts, static) and dense
        (n_dense, n_px) ones (neuropil, patches), relative to the mean neuropil (cached on the
        field: they do not change between sessions)."""
        f = self.field
        if f._components is None:
            f._components = self._build_components()
        return f._components

    def _build_components(self) -> tuple[sparse.csr_matrix, np.ndarray]:
        f = self.field
        rois = sparse.diags(f.roi_brightness.astype(np.float32)) @ f.footprint_matrix()
        static = sparse.csr_matrix(f.static[None, :])
        sp = sparse.vstack([rois, f.oof, f.shafts, static], format="csr").astype(np.float32)
        dense = np.vstack([f.neuropil_map[None, :], f.neuropil_map[None, :] * f.patch_maps])
        return sp, dense.astype(np.float32)

    def signals(self) -> tuple[np.ndarray, np.ndarray]:
        """Time courses (n_frames, n_sparse) and (n_frames, n_dense) matching
        :meth:`components`."""
        one = np.ones((self.n_frames, 1), dtype=np.float32)
        xs = np.hstack([1.0 + self.roi_dff, 1.0 + self.oof_dff, 1.0 + self.shaft_dff, one])
        xd = np.hstack([1.0 + self.neuropil_dff[:, None], self.patch_dff])
        return xs.astype(np.float32), xd.astype(np.float32)

    def expected_frames(self) -> np.ndarray:
        """Expected photons (n_frames, height, width), without light, motion or noise."""
        sp, dense = self.components()
        xs, xd = self.signals()
        out = np.asarray((sp.T @ xs.T).T, dtype=np.float32)
        out += xd @ dense
        out *= (self.neuropil_photons * self.gain).astype(np.float32)[:, None]
        return out.reshape(self.n_frames, *self.field.shape)

    def mean_image(self) -> np.ndarray:
        """Expected photons of the resting scene (height, width): the reference image."""
        sp, dense = self.components()
        img = np.asarray(sp.sum(axis=0)).ravel() + dense[0]
        return (self.neuropil_photons * img).reshape(self.field.shape).astype(np.float32)

    def weighted(self, weights: sparse.csr_matrix) -> np.ndarray:
        """Expected photons of the weighted means ``weights`` (n, n_px) over the pixels, array
        (n_frames, n) float32 (no light)."""
        sp, dense = self.components()
        xs, xd = self.signals()
        cs = np.asarray((weights @ sp.T).todense(), dtype=np.float32)  # (n, n_sparse)
        cd = np.asarray(weights @ dense.T, dtype=np.float32)  # (n, n_dense)
        out = xs @ cs.T + xd @ cd.T
        out *= (self.neuropil_photons * self.gain).astype(np.float32)[:, None]
        return out


def session_gain(rng: np.random.Generator, times: np.ndarray, mp: MeasurementParams) -> np.ndarray:
    """Bleaching x slow multiplicative drift (n_frames,) float32: exactly 1 x drift at t = 0."""
    fr = 1.0 / np.median(np.diff(times)) if len(times) > 1 else mp.frame_rate_hz
    t = times - (times[0] if len(times) else 0.0)
    drift = ou_process(rng, len(times), 1, mp.drift_sd, mp.drift_tau_s * fr)[:, 0]
    return (np.exp(-mp.bleach_per_min * t / 60.0) * (1.0 + drift)).astype(np.float32)


def movement_envelope(moving: np.ndarray, frame_rate: float, tau_s: float) -> np.ndarray:
    """A 0..1 signal rising while ``moving`` and decaying with ``tau_s`` afterwards."""
    a = np.exp(-1.0 / max(tau_s * frame_rate, 1e-9))
    return lfilter([1.0 - a], [1.0, -a], moving.astype(np.float64)).astype(np.float32)


def neuropil_signals(
    rng: np.random.Generator,
    times: np.ndarray,
    moving: np.ndarray,
    unit_dff: np.ndarray,
    n_patches: int,
    mp: MeasurementParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Neuropil dF/F: field-wide (n_frames,) and per patch (n_frames, n_patches).

    Field-wide: slow OU (``neuropil_slow_sd``, ``neuropil_slow_tau_s``) + movement-locked
    (``neuropil_movement_dff`` x the movement envelope, decaying with the indicator) +
    ``neuropil_population_gain`` x the units' mean dF/F (centred). Each patch: its own OU
    (``neuropil_patch_sd``, ``neuropil_patch_tau_s``) and a movement weight in [-0.5, 0.5] of
    the field-wide movement component.
    """
    n = len(times)
    fr = 1.0 / np.median(np.diff(times)) if n > 1 else mp.frame_rate_hz
    env = movement_envelope(moving, fr, mp.indicator.decay_s)
    g = ou_process(rng, n, 1, mp.neuropil_slow_sd, mp.neuropil_slow_tau_s * fr)[:, 0]
    g += np.float32(mp.neuropil_movement_dff) * env
    if unit_dff.size:
        pop = unit_dff.mean(axis=1)
        g += np.float32(mp.neuropil_population_gain) * (pop - pop.mean()).astype(np.float32)
    patches = ou_process(rng, n, n_patches, mp.neuropil_patch_sd, mp.neuropil_patch_tau_s * fr)
    if n_patches:
        w = rng.uniform(-0.5, 0.5, n_patches).astype(np.float32)
        patches += np.float32(mp.neuropil_movement_dff) * env[:, None] * w[None, :]
    return g.astype(np.float32), patches.astype(np.float32)
