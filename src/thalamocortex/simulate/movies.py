"""Raw two-photon movies rendered from the same scene as the traces.

A session's :class:`~.scene.Scene` (field of view + component time courses, built by
:func:`~.cohort.simulate_session`) gives the expected photons of every pixel and frame; a movie
adds what only raw frames have:

* **brain motion**: a rigid shift per frame = slow drift (OU, ``motion_drift_sd_px``,
  ``motion_drift_tau_s``) + lever-locked bursts (each movement displaces the field along a
  session-specific direction in proportion to the lever's position and velocity, with a
  per-movement gain: the brain moves when the mouse presses, as the reference movie's bursts
  of -7/+5 px show) + small frame-to-frame jitter; ``motion_scale`` scales all three, shifts
  are clipped to ``motion_max_px``; plus a small smooth non-rigid displacement per frame;
* **stimulation light** on the lines scanned while it is on (a raster scan takes one frame
  period from the top row to the bottom row, so partially exposed frames get bright bands);
* **photon noise**: Poisson counts of the expected photons, Gaussian read noise (the scene's
  ``measurement.shot_noise`` / ``read_noise_photons``: the session's
  :class:`~.params.MeasurementParams`, the same settings as its trace-level F / Fneu).

The trace-level F / Fneu of the same session are the weighted means of the *motion-free*
expected scene (a perfectly registered movie); movies and traces share footprints, brightness,
neuropil and photon budget. :func:`simulate_movie` renders a movie from noise-free dF/F alone
(it draws a field and a neuropil around the given ROIs), for tests and method development.

Ground truth returned: footprints (``[y, x, weight]`` per ROI, in the un-moved reference frame),
centroids, rigid shifts per frame (``dy, dx`` in pixels: the content of frame ``t`` is the
reference shifted by ``+dy, +dx``), the artefact frame mask and the noise-free dF/F. Movies are
written as multi-page TIFF (one page per frame) with :func:`write_tiff`.

This is a documented generative model of the measurement, not a reconstruction of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from thalamocortex.config import param
from thalamocortex.data.movie import read_movie_file, write_tiff  # noqa: F401 (re-exported)
from thalamocortex.simulate.fov import draw_field
from thalamocortex.simulate.params import FieldParams, MeasurementParams
from thalamocortex.simulate.scene import Scene, neuropil_signals, ou_process, session_gain


class MovieParams(FieldParams):
    """Raw movie of one plane: brain motion (plus, for movies rendered without a simulated
    session, the field geometry of :class:`~.params.FieldParams`).

    Photon noise, read noise, light artefacts, bleaching and drift are not here: they are the
    :class:`~.params.MeasurementParams` of the scene, so a movie and the traces of the same
    session share one setting for each (issue 10: one photon budget).
    """

    motion_scale: float = param(
        1.0, "", "multiplies every motion component (0 = no rigid motion)", ge=0
    )
    motion_jitter_sd_px: float = param(
        0.3, "px", "SD of independent frame-to-frame rigid jitter", ge=0
    )
    motion_drift_sd_px: float = param(0.7, "px", "SD of the slow rigid drift (OU)", ge=0)
    motion_drift_tau_s: float = param(40.0, "s", "time constant of the slow drift", gt=0)
    motion_burst_px: float = param(
        2.5,
        "px",
        "lever-locked displacement at the press amplitude of the population plan (median over "
        "movements; per-movement gain log-normal, SD 0.5)",
        ge=0,
    )
    motion_velocity_px: float = param(
        1.0, "px", "lever-velocity-locked transient (at 1 press amplitude per 0.1 s)", ge=0
    )
    motion_max_px: float = param(8.0, "px", "rigid shifts are clipped to +- this", ge=0)
    session_offset_sd_px: float = param(
        2.0,
        "px",
        "SD (per axis) of the rigid offset of a session's field from the mouse's first session "
        "(the field is found again each day; write_cohort_movies): cross-session tracking has "
        "to register the sessions",
        ge=0,
    )
    nonrigid_px: float = param(
        0.3, "px", "amplitude of the smooth non-rigid displacement field (per frame)", ge=0
    )


@dataclass
class SimulatedMovie:
    """A raw movie with its ground truth.

    Attributes
    ----------
    movie : array (n_frames, height, width) float32
        Photon counts (with noise, motion, artefacts).
    footprints : list of (k, 3) float32 arrays [y, x, weight]
        Per ROI, in the reference (un-moved) frame; weights peak at 1.
    rois : DataFrame
        ``roi_index``, ``roi_type``, ``axon_id``, ``centroid_y``, ``centroid_x``.
    shifts : array (n_frames, 2) float64
        Rigid shift (dy, dx) of every frame in pixels.
    artefact : array (n_frames,) bool
        Frames with at least one line scanned during stimulation light.
    dff : array (n_frames, n_rois) float32
        Noise-free dF/F of each ROI.
    frame_times : array (n_frames,)
    mean_image : array (height, width) float32
        Noise-free, motion-free resting scene (reference image), photons.
    scene : Scene
        The scene the movie renders.
    """

    movie: np.ndarray
    footprints: list
    rois: pd.DataFrame
    shifts: np.ndarray
    artefact: np.ndarray
    dff: np.ndarray
    frame_times: np.ndarray
    mean_image: np.ndarray
    scene: Scene | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.movie.shape[1]), int(self.movie.shape[2])

    def footprint_masks(self, threshold: float = 0.2) -> np.ndarray:
        """Boolean (n_rois, height, width) masks where the footprint exceeds ``threshold``."""
        h, w = self.image_shape
        out = np.zeros((len(self.footprints), h, w), dtype=bool)
        for k, fp in enumerate(self.footprints):
            sel = fp[:, 2] >= threshold
            out[k, fp[sel, 0].astype(int), fp[sel, 1].astype(int)] = True
        return out


def _line_artefacts(frame_times, frame_rate, height, light_windows) -> np.ndarray:
    """(n_frames, height) bool: rows scanned while the light is on."""
    out = np.zeros((len(frame_times), height), dtype=bool)
    if light_windows is None or len(light_windows) == 0:
        return out
    row_t = frame_times[:, None] + (np.arange(height)[None, :] + 0.5) / (height * frame_rate)
    for start, stop in np.asarray(light_windows, dtype=np.float64).reshape(-1, 2):
        lo = np.searchsorted(frame_times, start - 1.0 / frame_rate)
        hi = np.searchsorted(frame_times, stop + 1.0 / frame_rate)
        seg = row_t[lo:hi]
        out[lo:hi] |= (seg >= start) & (seg < stop)
    return out


def rigid_shifts(
    rng: np.random.Generator,
    frame_times: np.ndarray,
    p: MovieParams,
    lever: tuple[np.ndarray, np.ndarray] | None = None,
    movements: pd.DataFrame | None = None,
    press_mm: float = 2.4,
) -> np.ndarray:
    """(n_frames, 2) rigid shifts (dy, dx) px: drift + lever-locked bursts + jitter, clipped.

    Parameters
    ----------
    frame_times : (n_frames,) s
    lever : (times (s), position (mm)), optional
        The session's lever; bursts follow its position and velocity during ``movements``.
    movements : DataFrame with ``onset``, ``offset`` (s), optional
    press_mm : lever displacement that maps to ``motion_burst_px``
    """
    n = len(frame_times)
    fr = (n - 1) / (frame_times[-1] - frame_times[0]) if n > 1 else 30.0
    s = p.motion_scale
    drift = ou_process(rng, n, 2, p.motion_drift_sd_px, p.motion_drift_tau_s * fr).astype(
        np.float64
    )
    drift -= drift.mean(axis=0) if n else 0.0
    out = s * drift + s * p.motion_jitter_sd_px * rng.standard_normal((n, 2))
    if lever is not None and movements is not None and len(movements) and n > 1:
        lt, lx = lever
        pos = np.interp(frame_times, lt, lx)
        vel = np.gradient(ndimage.gaussian_filter1d(pos, max(0.03 * fr, 0.5)), 1.0 / fr)
        # the session's displacement directions (mostly along y, as on a head-fixed window)
        ang = rng.normal(0.0, 0.35, 2)
        d_pos = np.array([np.cos(ang[0]), np.sin(ang[0])]) * rng.choice([-1.0, 1.0])
        d_vel = np.array([np.cos(ang[1]), np.sin(ang[1])]) * rng.choice([-1.0, 1.0])
        burst = np.zeros((n, 2))
        for on, off in zip(movements["onset"], movements["offset"]):
            f0, f1 = np.searchsorted(frame_times, [on, off + 0.3])
            if f1 <= f0:
                continue
            g = np.exp(0.5 * rng.standard_normal())
            xh = pos[f0:f1] / press_mm
            vh = vel[f0:f1] * 0.1 / press_mm
            burst[f0:f1] += g * (
                p.motion_burst_px * xh[:, None] * d_pos + p.motion_velocity_px * vh[:, None] * d_vel
            )
        out += s * ndimage.gaussian_filter1d(burst, max(0.05 * fr, 0.5), axis=0)
    return np.clip(out, -p.motion_max_px, p.motion_max_px)


def render(
    rng: np.random.Generator,
    scene: Scene,
    p: MovieParams,
    shifts: np.ndarray,
    chunk: int = 256,
    noise: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``scene`` with rigid ``shifts``, non-rigid jitter, light and (``noise``) the
    scene's photon and read noise.

    Returns the movie (n_frames, height, width) float32 photons and the artefact frame mask.
    """
    H, W = scene.field.shape
    n = scene.n_frames
    mp = scene.measurement
    movie = np.empty((n, H, W), dtype=np.float32)
    light_rows = _line_artefacts(scene.frame_times, scene.frame_rate, H, scene.light_windows)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    for c0 in range(0, n, chunk):
        sub = scene.frames(slice(c0, c0 + chunk))
        frames = sub.expected_frames()
        for k in range(frames.shape[0]):
            t = c0 + k
            dy, dx = shifts[t]
            ny = nx = 0.0
            if p.nonrigid_px > 0:
                phase = rng.uniform(0, 2 * np.pi, 2)
                ny = p.nonrigid_px * np.sin(2 * np.pi * xx / W + phase[0])
                nx = p.nonrigid_px * np.sin(2 * np.pi * yy / H + phase[1])
            # content of frame t at pixel (y, x) is the reference at (y - dy, x - dx)
            frame = ndimage.map_coordinates(
                frames[k], [yy - dy - ny, xx - dx - nx], order=1, mode="reflect"
            )
            frame[light_rows[t]] += mp.artefact_photons_px
            movie[t] = frame
    if noise and mp.shot_noise:
        for c0 in range(0, n, chunk):
            movie[c0 : c0 + chunk] = rng.poisson(np.maximum(movie[c0 : c0 + chunk], 0))
    if noise and mp.read_noise_photons > 0:
        for c0 in range(0, n, chunk):
            block = movie[c0 : c0 + chunk]
            block += np.float32(mp.read_noise_photons) * rng.standard_normal(
                block.shape, dtype=np.float32
            )
    return movie, light_rows.any(axis=1)


def _movie_result(scene: Scene, movie, shifts, artefact) -> SimulatedMovie:
    f = scene.field
    rois = pd.DataFrame(
        {
            "roi_index": np.arange(f.n_rois),
            "roi_type": f.roi_kind.astype(str),
            "axon_id": f.roi_axon.astype(np.int64),
            "centroid_y": f.centroids[:, 0],
            "centroid_x": f.centroids[:, 1],
        }
    )
    return SimulatedMovie(
        movie=movie,
        footprints=list(f.footprints),
        rois=rois,
        shifts=shifts,
        artefact=artefact,
        dff=scene.roi_dff.astype(np.float32),
        frame_times=scene.frame_times,
        mean_image=scene.mean_image(),
        scene=scene,
    )


def plane_footprints(
    roi_types,
    axon_ids=None,
    params: FieldParams | None = None,
    seed: int | np.random.Generator = 0,
    fit_field: bool = True,
) -> tuple[list, FieldParams]:
    """Footprints of every ROI of one imaging plane, in the reference (un-moved) frame.

    A thin view of :func:`~.fov.draw_field` (the same placement rules): returns the ROI
    footprints (``(k, 3)`` float32 ``[y, x, weight]`` arrays, clipped to the field) and the
    params with the field size actually used.
    """
    p = params or MovieParams()
    f = draw_field(roi_types, axon_ids, p, seed, fit_field)
    h, w = f.shape
    return list(f.footprints), p.model_copy(update={"height_px": int(h), "width_px": int(w)})


def simulate_movie(
    dff,
    roi_types,
    frame_times,
    axon_ids=None,
    light_windows=None,
    params: MovieParams | None = None,
    seed: int | np.random.Generator = 0,
    footprints: list | None = None,
    field_offset=(0.0, 0.0),
    measurement: MeasurementParams | None = None,
) -> SimulatedMovie:
    """Render a raw movie from noise-free dF/F, drawing a field of view around the ROIs.

    Parameters
    ----------
    dff : array (n_frames, n_rois)
        Noise-free dF/F of every ROI (ground truth).
    roi_types : sequence of {"soma", "bouton"} (n_rois,)
    frame_times : array (n_frames,)
        Frame start times (s), regular.
    axon_ids : array (n_rois,), optional
        Axon of each bouton (its boutons lie along one path and its shaft carries their mean
        dF/F). Default: every bouton its own axon.
    light_windows : array (n_windows, 2), optional
        Start/stop (s) of stimulation light.
    params : MovieParams, optional (field geometry, motion)
    seed : int or Generator
    footprints : list of (k, 3) arrays, optional
        ROI footprints to render (e.g. from :func:`plane_footprints`); drawn when not given.
        Their field size must match ``params``.
    field_offset : (dy, dx) px added to every frame's shift
    measurement : MeasurementParams, optional
        Photon budget, noise, neuropil dynamics, bleaching, drift and light artefacts
        (defaults); brightness follows the frame rate.

    Returns
    -------
    SimulatedMovie
    """
    p = params or MovieParams()
    mp = measurement or MeasurementParams()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    dff = np.asarray(dff, dtype=np.float32)
    n_frames, n_rois = dff.shape
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if len(frame_times) != n_frames:
        raise ValueError(f"simulate_movie: {len(frame_times)} frame times for {n_frames} frames")
    roi_types = np.asarray(roi_types, dtype=object)
    if roi_types.shape != (n_rois,):
        raise ValueError(f"simulate_movie: {roi_types.shape} roi_types for {n_rois} ROIs")
    bad = set(roi_types) - {"soma", "bouton"}
    if bad:
        raise ValueError(f"simulate_movie: roi_types must be 'soma' or 'bouton', got {bad}")
    if footprints is not None and len(footprints) != n_rois:
        raise ValueError(f"simulate_movie: {len(footprints)} footprints for {n_rois} ROIs")
    frame_rate = (n_frames - 1) / (frame_times[-1] - frame_times[0]) if n_frames > 1 else 30.0
    field = draw_field(roi_types, axon_ids, p, rng, fit_field=False, footprints=footprints)
    # background activity: out-of-focus cells replay ROI traces at random delays; shafts carry
    # the mean of their boutons
    if n_rois and field.n_oof:
        cols = rng.integers(0, n_rois, field.n_oof)
        shifts_f = rng.integers(0, max(n_frames, 1), field.n_oof)
        oof = np.stack([np.roll(dff[:, c], s) for c, s in zip(cols, shifts_f)], axis=1)
    else:
        oof = np.zeros((n_frames, field.n_oof), dtype=np.float32)
    axons = pd.unique(field.roi_axon[field.roi_kind == "bouton"])
    shaft = (
        np.stack([dff[:, field.roi_axon == a].mean(axis=1) for a in axons], axis=1)
        if len(axons)
        else np.zeros((n_frames, 0), dtype=np.float32)
    )
    np_dff, patch_dff = neuropil_signals(
        rng, frame_times, np.zeros(n_frames, bool), dff, field.patch_maps.shape[0], mp
    )
    gain = session_gain(rng, frame_times, mp)
    scene = Scene(
        field=field,
        frame_times=frame_times,
        roi_dff=dff,
        oof_dff=oof.astype(np.float32),
        shaft_dff=shaft.astype(np.float32),
        neuropil_dff=np_dff,
        patch_dff=patch_dff,
        gain=gain,
        neuropil_photons=mp.neuropil_photons(frame_rate),
        light_windows=np.zeros((0, 2)) if light_windows is None else np.asarray(light_windows),
        measurement=mp,
    )
    shifts = rigid_shifts(rng, frame_times, p) + np.asarray(field_offset, dtype=np.float64)
    movie, artefact = render(rng, scene, p, shifts)
    return _movie_result(scene, movie, shifts, artefact)


def session_movie(
    session,
    truth: dict,
    params: MovieParams | None = None,
    frames: slice | None = None,
    seed: int = 0,
    field_offset=(0.0, 0.0),
    noise: bool = True,
) -> SimulatedMovie:
    """Movie of a simulated session (``simulate_session(..., return_traces=True)``).

    Renders the session's own scene (``truth["scene"]``: its field of view, whose footprints
    are the session's NWB pixel masks, its activity, neuropil, bleaching and photon budget),
    with motion locked to the session's lever and movements; ``frames`` selects a sub-range
    (tests and demos keep movies short). Only the motion knobs of ``params`` apply; the field,
    noise and light artefacts are the session's (``noise=False`` renders expected photons).
    """
    if "scene" not in truth:
        raise ValueError("session_movie: truth has no 'scene'; simulate with return_traces=True")
    p = params or MovieParams()
    rng = np.random.default_rng(seed)
    scene: Scene = truth["scene"]
    sl = frames or slice(None)
    sub = scene.frames(sl)
    mv = truth.get("movements")
    lever = (session.lever.times, np.asarray(session.lever.values, dtype=np.float64))
    press = float(truth.get("press_mm", 2.4))
    shifts = rigid_shifts(rng, sub.frame_times, p, lever, mv, press)
    shifts += np.asarray(field_offset, dtype=np.float64)
    movie, artefact = render(rng, sub, p, shifts, noise=noise)
    return _movie_result(sub, movie, shifts, artefact)


def read_tiff(path) -> np.ndarray:
    """Read a multi-page TIFF movie as (n_frames, height, width) float32."""
    return read_movie_file(path)
