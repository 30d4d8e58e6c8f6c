"""Raw two-photon movies from the same ground truth as the traces.

The scene of one imaging plane is a sum of sources, each a fixed spatial footprint times a
fluorescence time course:

* **somata** (M1 neurons): soft-edged discs of ``soma_diameter_px``, baseline
  ``soma_photons_px`` photons per pixel and frame at the centre, scaled by ``1 + dF/F``;
* **boutons** (input axons): small Gaussian puncta (SD ``bouton_sigma_px``) spaced along a
  smooth random path per axon, all boutons of an axon sharing its dF/F, no two boutons closer
  than ``bouton_min_distance_px``; :func:`plane_footprints` gives a bouton field
  ``bouton_area_px2`` per bouton (see *Bouton scale* below);
* **neuropil**: a spatially smooth background field whose brightness follows the smoothed
  population dF/F (``neuropil_gain``).

Per frame the scene is multiplied by a slow baseline drift and bleaching, moved by a rigid
shift (a slow random walk plus frame-to-frame jitter, sub-pixel) and a small smooth non-rigid
displacement field, and sampled with Poisson shot noise and Gaussian read noise. Lines scanned
while stimulation light is on get ``artefact_photons_px`` added (a raster scan takes one frame
period from the top row to the bottom row, so partially exposed frames get bright bands).

Ground truth returned: footprints (``[y, x, weight]`` per ROI, in the un-moved reference frame),
centroids, rigid shifts per frame (``dy, dx`` in pixels: the content of frame ``t`` is the
reference shifted by ``+dy, +dx``), the artefact frame mask and the noise-free dF/F.
Movies are written as multi-page TIFF (one page per frame) with :func:`write_tiff`.

**Bouton scale.** Somata are 8 px (12 um at 1.5 um/px); axon imaging is done at higher zoom,
so a bouton punctum of SD 0.9 px (FWHM 2.1 px) reads as a 1-2 um varicosity blurred by the
two-photon PSF at ~0.75 um/px. Boutons are bright per pixel (``bouton_photons_px`` 30 vs 25 for
a soma centre: GCaMP concentrates in varicosities) but carry ~8x fewer photons per ROI than a
soma (~150 vs ~1250 photons/frame), so per-ROI SNR is ~3x lower, as in real axon imaging.
Earlier versions placed every bouton at random in a 64 px field whatever their number: ~90
boutons gave a median nearest-neighbour distance of 2.5 px and 20-27 % of boutons within
1.5 px of another (one unresolvable blob); no detector can separate those, and real fields
are not that crowded relative to the punctum size (rough figure: ~200-500 boutons in a
512 x 512 px, 0.25 um/px field, ~16-20 punctum FWHM^2 per bouton). Now the field is sized at
``bouton_area_px2`` (70 px^2, ~16 FWHM^2) per bouton and boutons keep
``bouton_min_distance_px`` (2.5 px, ~1.2 FWHM: still often only partly resolved) apart: a
median nearest-neighbour distance of ~4.5-5 px, 25-30 % of boutons within 3.5 px of another.
Not modelled (documented limits): the dim axon shaft between boutons, out-of-focus boutons,
and inactive puncta of unlabelled structures (every punctum here is a true bouton).

This is a documented generative model of the measurement, not a reconstruction of the paper.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from thalamocortex.config import ParamGroup, param
from thalamocortex.data.movie import read_movie_file, write_tiff  # noqa: F401 (re-exported)


class MovieParams(ParamGroup):
    """Raw movie of one plane: geometry, brightness, noise, motion, artefacts."""

    height_px: int = param(64, "px", "movie height", ge=16, le=4096)
    width_px: int = param(64, "px", "movie width", ge=16, le=4096)
    soma_diameter_px: float = param(8.0, "px", "soma diameter (12 um at 1.5 um/px)", gt=1)
    min_soma_distance: float = param(
        1.15, "diameters", "minimum centre distance between somata (no overlap)", gt=0
    )
    soma_photons_px: float = param(
        25.0, "photons/px/frame", "baseline soma brightness at its centre", gt=0
    )
    bouton_sigma_px: float = param(0.9, "px", "SD of a bouton's Gaussian punctum", gt=0)
    bouton_spacing_px: float = param(
        7.0, "px", "mean spacing of boutons along an axon's path", gt=0
    )
    bouton_photons_px: float = param(
        30.0, "photons/px/frame", "baseline bouton brightness at its centre", gt=0
    )
    bouton_min_distance_px: float = param(
        2.5,
        "px",
        "boutons keep at least this centre distance from every other bouton (about one punctum "
        "FWHM, 2.355 x bouton_sigma_px, plus a margin: two 1-2 um varicosities cannot occupy "
        "the same volume, and puncta closer than this would be one unresolvable blob); "
        "a crowded field keeps the last in-field candidate after 50 tries",
        ge=0,
    )
    bouton_area_px2: float = param(
        70.0,
        "px^2",
        "field area (inside the margins) per bouton when plane_footprints fits the field to "
        "the ROIs: ~16 punctum FWHM^2 per bouton, i.e. a mean nearest-neighbour distance of "
        "~4 px (random placement would otherwise crowd ~90 boutons into a 64 px field, half "
        "of them overlapping a neighbour)",
        gt=0,
    )
    neuropil_photons_px: float = param(
        6.0, "photons/px/frame", "mean neuropil background brightness", ge=0
    )
    neuropil_spatial_cv: float = param(
        0.3, "", "spatial coefficient of variation of the neuropil field", ge=0
    )
    neuropil_gain: float = param(
        1.0, "", "neuropil dF/F per unit of the smoothed population dF/F", ge=0
    )
    neuropil_smooth_s: float = param(1.0, "s", "temporal smoothing of the neuropil signal", gt=0)
    read_noise_photons: float = param(2.0, "photons/px/frame", "Gaussian read noise SD", ge=0)
    shot_noise: bool = param(True, "", "Poisson photon-count noise")
    bleach_fraction: float = param(0.05, "", "linear brightness loss over the movie", ge=0, lt=1)
    drift_sd: float = param(0.02, "", "SD of slow multiplicative brightness drift", ge=0)
    motion_walk_sd_px: float = param(
        0.05, "px/frame", "SD of the per-frame step of the slow rigid random walk", ge=0
    )
    motion_jitter_sd_px: float = param(
        0.5, "px", "SD of independent frame-to-frame rigid jitter", ge=0
    )
    motion_max_px: float = param(4.0, "px", "rigid shifts are clipped to +- this", ge=0)
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
    artefact_photons_px: float = param(
        200.0, "photons/px/frame", "added brightness of lines scanned during stimulation", ge=0
    )
    margin_px: int = param(
        6, "px", "somata/boutons keep this distance (+ radius) from the edge", ge=0
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
        Noise-free, motion-free mean scene (reference image).
    """

    movie: np.ndarray
    footprints: list
    rois: pd.DataFrame
    shifts: np.ndarray
    artefact: np.ndarray
    dff: np.ndarray
    frame_times: np.ndarray
    mean_image: np.ndarray

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


def _soma_centres(rng, n, p: MovieParams) -> np.ndarray:
    r = p.soma_diameter_px / 2
    lo = p.margin_px + r
    hi_y, hi_x = p.height_px - lo, p.width_px - lo
    dmin = p.min_soma_distance * p.soma_diameter_px
    centres: list[tuple[float, float]] = []
    for _ in range(200 * max(n, 1)):
        if len(centres) == n:
            break
        c = (rng.uniform(lo, hi_y), rng.uniform(lo, hi_x))
        if all((c[0] - a) ** 2 + (c[1] - b) ** 2 >= dmin**2 for a, b in centres):
            centres.append(c)
    if len(centres) < n:
        raise ValueError(
            f"MovieParams: cannot place {n} non-overlapping somata of {p.soma_diameter_px} px "
            f"in {p.height_px}x{p.width_px} px; enlarge the field or reduce the ROIs"
        )
    return np.array(centres)


def _soma_footprint(cy, cx, p: MovieParams) -> np.ndarray:
    r = p.soma_diameter_px / 2
    y0, y1 = int(np.floor(cy - r - 1)), int(np.ceil(cy + r + 1))
    x0, x1 = int(np.floor(cx - r - 1)), int(np.ceil(cx + r + 1))
    yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    d = np.hypot(yy - cy, xx - cx)
    # soft-edged disc, slightly dimmer nucleus-free ring profile kept simple: logistic edge
    w = 1.0 / (1.0 + np.exp((d - r) / 0.5))
    keep = w > 0.05
    return np.stack([yy[keep], xx[keep], w[keep]], axis=1).astype(np.float32)


def _bouton_centres(rng, n_boutons: int, p: MovieParams, taken=None) -> np.ndarray:
    """Centres of one axon's boutons along a smooth random path through the field.

    Each bouton is a step of ``bouton_spacing_px`` (x 0.7-1.3) from the previous one with a
    small turn; a candidate closer than ``bouton_min_distance_px`` to an already placed bouton
    (``taken``, (k, 2) px, of the other axons; and this axon's own) is redrawn, up to 50 tries
    (then the last in-field candidate is kept).
    """
    lo = p.margin_px + 2 * p.bouton_sigma_px
    hi = np.array([p.height_px - lo, p.width_px - lo])
    placed = np.zeros((0, 2)) if taken is None else np.asarray(taken, dtype=np.float64)
    dmin2 = p.bouton_min_distance_px**2

    def free(c) -> bool:
        return not len(placed) or bool(((placed - c) ** 2).sum(axis=1).min() >= dmin2)

    for _try in range(50):
        start = np.array([rng.uniform(lo, hi[0]), rng.uniform(lo, hi[1])])
        if free(start):
            break
    angle = rng.uniform(0, 2 * np.pi)
    pts = [start]
    placed = np.vstack([placed, start])
    for _ in range(n_boutons - 1):
        nxt = None
        for _try in range(50):
            angle_try = angle + rng.normal(0, 0.4)
            step = p.bouton_spacing_px * rng.uniform(0.7, 1.3)
            cand = pts[-1] + step * np.array([np.sin(angle_try), np.cos(angle_try)])
            if lo <= cand[0] <= hi[0] and lo <= cand[1] <= hi[1]:
                nxt = cand
                if free(cand):
                    angle = angle_try
                    break
            else:
                angle = angle + np.pi / 2  # turn away from the edge
        if nxt is None:
            nxt = np.clip(cand, lo, hi)
        pts.append(nxt)
        placed = np.vstack([placed, nxt])
    return np.array(pts)


def _bouton_footprint(cy, cx, p: MovieParams) -> np.ndarray:
    s = p.bouton_sigma_px
    k = int(np.ceil(3 * s))
    yy, xx = np.mgrid[int(cy) - k : int(cy) + k + 2, int(cx) - k : int(cx) + k + 2]
    w = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    keep = w > 0.05
    return np.stack([yy[keep], xx[keep], w[keep]], axis=1).astype(np.float32)


def _smooth_field(rng, shape, sigma, cv) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    f = f / (f.std() + 1e-12)
    return np.clip(1.0 + cv * f, 0.2, None)


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


def rigid_shifts(rng, n_frames: int, p: MovieParams) -> np.ndarray:
    """(n_frames, 2) rigid shifts: slow random walk + jitter, clipped to ``motion_max_px``."""
    walk = np.cumsum(rng.normal(0, p.motion_walk_sd_px, (n_frames, 2)), axis=0)
    walk -= walk.mean(axis=0)
    jit = rng.normal(0, p.motion_jitter_sd_px, (n_frames, 2))
    return np.clip(walk + jit, -p.motion_max_px, p.motion_max_px)


def plane_footprints(
    roi_types,
    axon_ids=None,
    params: MovieParams | None = None,
    seed: int | np.random.Generator = 0,
    fit_field: bool = True,
) -> tuple[list, MovieParams]:
    """Footprints of every ROI of one imaging plane, in the reference (un-moved) frame.

    Somata are soft-edged discs placed without overlap; the boutons of one axon are Gaussian
    puncta along one smooth path, at least ``bouton_min_distance_px`` from every other bouton.
    The simulator draws them once per mouse (the same field every session, so cells can be
    tracked) and writes them to NWB as pixel masks; raw movies render the same footprints.

    Parameters
    ----------
    roi_types : sequence of {"soma", "bouton"} (n_rois,)
    axon_ids : array (n_rois,), optional
        Axon of each bouton (default: every bouton its own axon).
    params : MovieParams, optional
    seed : int or Generator
    fit_field : bool
        Enlarge the field when the somata would not fit at ``min_soma_distance``, or when the
        boutons would have less than ``bouton_area_px2`` each inside the margins (the returned
        params carry the size used).

    Returns
    -------
    footprints : list of (k, 3) float32 arrays [y, x, weight], clipped to the field
    params : MovieParams (with the field size actually used)
    """
    p = params or MovieParams()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    roi_types = np.asarray(roi_types, dtype=object)
    n_rois = len(roi_types)
    is_soma = roi_types == "soma"
    if fit_field:
        # random sequential packing reaches ~half the hexagonal density: keep 2.5x the area
        d = p.min_soma_distance * p.soma_diameter_px
        side = int(np.ceil(np.sqrt(2.5 * is_soma.sum() * d * d) + 2 * (p.margin_px + d)))
        n_boutons = int((~is_soma).sum())
        if n_boutons:
            # boutons: bouton_area_px2 of field per bouton inside the margins
            lo_b = p.margin_px + 2 * p.bouton_sigma_px
            side = max(side, int(np.ceil(np.sqrt(n_boutons * p.bouton_area_px2) + 2 * lo_b)))
        if side > min(p.height_px, p.width_px):
            p = p.model_copy(
                update={"height_px": max(side, p.height_px), "width_px": max(side, p.width_px)}
            )
    footprints: list = [None] * n_rois
    somata = np.flatnonzero(is_soma)
    for k, (cy, cx) in zip(somata, _soma_centres(rng, len(somata), p)):
        footprints[k] = _soma_footprint(cy, cx, p)
    boutons = np.flatnonzero(~is_soma)
    axon_ids = np.arange(n_rois) if axon_ids is None else np.asarray(axon_ids)
    taken = np.zeros((0, 2))
    for a in pd.unique(axon_ids[boutons]):
        members = boutons[axon_ids[boutons] == a]
        centres = _bouton_centres(rng, len(members), p, taken)
        taken = np.vstack([taken, centres])
        for k, (cy, cx) in zip(members, centres):
            footprints[k] = _bouton_footprint(cy, cx, p)
    for k, fp in enumerate(footprints):
        y, x = fp[:, 0], fp[:, 1]
        footprints[k] = fp[(y >= 0) & (y < p.height_px) & (x >= 0) & (x < p.width_px)]
    return footprints, p


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
) -> SimulatedMovie:
    """Render a raw movie from noise-free dF/F.

    Parameters
    ----------
    dff : array (n_frames, n_rois)
        Noise-free dF/F of every ROI (ground truth).
    roi_types : sequence of {"soma", "bouton"} (n_rois,)
    frame_times : array (n_frames,)
        Frame start times (s), regular.
    axon_ids : array (n_rois,), optional
        Axon of each bouton (boutons of one axon are placed along one path; they should share
        their dF/F up to noise). Somata ignore it. Default: every bouton its own axon.
    light_windows : array (n_windows, 2), optional
        Start/stop (s) of stimulation light.
    params : MovieParams, optional
    seed : int or Generator
    footprints : list of (k, 3) arrays, optional
        Footprints to render (e.g. the session's, from :func:`plane_footprints`); drawn here
        when not given. Their field size must match ``params``.

    Returns
    -------
    SimulatedMovie
    """
    p = params or MovieParams()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    dff = np.asarray(dff, dtype=np.float64)
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
    frame_rate = (n_frames - 1) / (frame_times[-1] - frame_times[0]) if n_frames > 1 else 30.0
    H, W = p.height_px, p.width_px

    # --- footprints ------------------------------------------------------------------------
    is_soma = roi_types == "soma"
    if footprints is None:
        footprints, _ = plane_footprints(roi_types, axon_ids, p, rng, fit_field=False)
    elif len(footprints) != n_rois:
        raise ValueError(f"simulate_movie: {len(footprints)} footprints for {n_rois} ROIs")
    footprints = list(footprints)
    axon_ids = np.arange(n_rois) if axon_ids is None else np.asarray(axon_ids)
    brightness = np.where(is_soma, p.soma_photons_px, p.bouton_photons_px)

    # spatial matrix (n_rois, H*W) in the reference frame
    A = np.zeros((n_rois, H * W), dtype=np.float64)
    centroids = np.zeros((n_rois, 2))
    for k, fp in enumerate(footprints):
        y, x, w = fp[:, 0].astype(int), fp[:, 1].astype(int), fp[:, 2].astype(np.float64)
        ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
        footprints[k] = fp[ok]
        A[k, y[ok] * W + x[ok]] = w[ok]
        centroids[k] = (np.average(y[ok], weights=w[ok]), np.average(x[ok], weights=w[ok]))
    # overlapping sources add; make A carry photons
    A *= brightness[:, None]

    # --- neuropil ----------------------------------------------------------------------------
    field = _smooth_field(rng, (H, W), sigma=max(H, W) / 8, cv=p.neuropil_spatial_cv).ravel()
    pop = ndimage.gaussian_filter1d(dff.mean(axis=1), p.neuropil_smooth_s * frame_rate)
    neu_t = p.neuropil_photons_px * (1.0 + p.neuropil_gain * pop)

    # --- scene, drift, motion ----------------------------------------------------------------
    t_rel = (frame_times - frame_times[0]) / max(frame_times[-1] - frame_times[0], 1e-9)
    a = np.exp(-1.0 / max(60.0 * frame_rate, 1.0))
    drift = 1.0 + p.drift_sd * np.sqrt(1 - a * a) * _ar1(rng.standard_normal(n_frames), a)
    gain = (1.0 - p.bleach_fraction * t_rel) * drift
    # within-session motion around the session's field offset (the day's repositioning)
    shifts = rigid_shifts(rng, n_frames, p) + np.asarray(field_offset, dtype=np.float64)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    movie = np.empty((n_frames, H, W), dtype=np.float32)
    light_rows = _line_artefacts(frame_times, frame_rate, H, light_windows)
    base = A.sum(axis=0)  # the resting scene's sources
    for t in range(n_frames):
        scene = (base + (dff[t] @ A) + neu_t[t] * field).reshape(H, W) * gain[t]
        dy, dx = shifts[t]
        ny = nx = 0.0
        if p.nonrigid_px > 0:
            phase = rng.uniform(0, 2 * np.pi, 2)
            ny = p.nonrigid_px * np.sin(2 * np.pi * xx / W + phase[0])
            nx = p.nonrigid_px * np.sin(2 * np.pi * yy / H + phase[1])
        # content of frame t at pixel (y, x) is the reference at (y - dy, x - dx)
        frame = ndimage.map_coordinates(
            scene, [yy - dy - ny, xx - dx - nx], order=1, mode="reflect"
        )
        frame[light_rows[t]] += p.artefact_photons_px
        movie[t] = frame
    if p.shot_noise:
        movie = rng.poisson(np.maximum(movie, 0)).astype(np.float32)
    if p.read_noise_photons > 0:
        movie += rng.normal(0, p.read_noise_photons, movie.shape).astype(np.float32)
    mean_image = (A.sum(0) + p.neuropil_photons_px * field).reshape(H, W).astype(np.float32)
    rois = pd.DataFrame(
        {
            "roi_index": np.arange(n_rois),
            "roi_type": roi_types.astype(str),
            "axon_id": np.where(is_soma, -1, axon_ids).astype(np.int64),
            "centroid_y": centroids[:, 0],
            "centroid_x": centroids[:, 1],
        }
    )
    return SimulatedMovie(
        movie=movie,
        footprints=footprints,
        rois=rois,
        shifts=shifts,
        artefact=light_rows.any(axis=1),
        dff=dff.astype(np.float32),
        frame_times=frame_times,
        mean_image=mean_image,
    )


def _ar1(x: np.ndarray, a: float) -> np.ndarray:
    from scipy.signal import lfilter

    x = x.copy()
    x[0] /= np.sqrt(1 - a * a)
    return lfilter([1.0], [1.0, -a], x)


def session_movie(
    session,
    truth: dict,
    params: MovieParams | None = None,
    frames: slice | None = None,
    seed: int = 0,
    field_offset=(0.0, 0.0),
) -> SimulatedMovie:
    """Movie of a simulated session (``simulate_session(..., return_traces=True)``).

    Uses the session's noise-free dF/F (``truth["traces"]["dff"]``), ROI types and axon ids
    (``truth["rois"]``), stimulation pulses and, when the session has them, its footprints (the
    pixel masks written to its NWB file: the movie then shows exactly those ROIs, in a field of
    the session's ``image_shape``); ``frames`` selects a sub-range (tests and demos keep movies
    short).
    """
    if "traces" not in truth:
        raise ValueError("session_movie: truth has no 'traces'; simulate with return_traces=True")
    dff = np.asarray(truth["traces"]["dff"])
    times = session.imaging.times
    sl = frames or slice(None)
    rois = truth["rois"]
    axon = rois["axon_id"].to_numpy() if "axon_id" in rois else None
    light = None
    if session.stimulation is not None and len(session.stimulation.pulses):
        pu = session.stimulation.pulses
        light = np.stack([pu["start_time"], pu["start_time"] + pu["duration"]], axis=1)
    footprints = session.imaging.footprints
    p = params or MovieParams()
    if footprints is not None and session.imaging.image_shape is not None:
        h, w = session.imaging.image_shape
        p = p.model_copy(update={"height_px": int(h), "width_px": int(w)})
    return simulate_movie(
        dff[sl],
        rois["roi_type"].to_numpy(),
        times[sl],
        axon_ids=axon,
        light_windows=light,
        params=p,
        seed=seed,
        footprints=footprints,
        field_offset=field_offset,
    )


def read_tiff(path: str | Path) -> np.ndarray:
    """Read a multi-page TIFF movie as (n_frames, height, width) float32."""
    return read_movie_file(path)


def _reference_movie(nwb_path: Path, tiff: Path, frame_times: np.ndarray) -> None:
    """Reference ``tiff`` from the session's NWB file as an external ``TwoPhotonSeries`` (the
    file is rewritten atomically with the reference added)."""
    from thalamocortex.data.model import RawMovie
    from thalamocortex.data.nwb import read_session, write_session

    s = read_session(nwb_path, lazy=False)
    rate = (len(frame_times) - 1) / (frame_times[-1] - frame_times[0])
    s.movie = RawMovie(rate=float(rate), frame_times=np.asarray(frame_times), files=[tiff])
    write_session(s, nwb_path, overwrite=True)


def write_cohort_movies(
    cfg,
    dataset_dir: str | Path,
    params: MovieParams | None = None,
    max_frames: int | None = None,
    experiments: tuple[str, ...] = ("all_optical", "axon_imaging"),
    seed: int = 0,
) -> list[Path]:
    """Raw movies for the imaging sessions of a simulated cohort, next to their NWB files.

    Each session is re-simulated from ``cfg`` (exactly reproducible from its seeds) and its
    movie written as ``sub-<m>/sub-<m>_ses-<n>.tif`` and referenced from the session's NWB file
    as an external ``TwoPhotonSeries`` (so that ``thalamocortex preprocess`` takes the raw-movie
    route, with the movie's own frame times); the ground truth of the movie (footprints as
    ``[roi, y, x, weight]`` rows and centroids in the mouse's first-session coordinates, rigid
    shifts per frame including the session's ``field_offset`` (``session_offset_sd_px``),
    artefact frames) goes to ``ground_truth/movies/sub-<m>_ses-<n>.npz``. Every session has
    its own noise and motion (seeded from ``seed``, the mouse and the session).

    Parameters
    ----------
    cfg : SimulationConfig
        The configuration the dataset was simulated with.
    dataset_dir : path
        The dataset folder (written by ``simulate_cohort``).
    params : MovieParams, optional
        The field must hold all somata of a session (e.g. 128 x 128 px for 60 neurons).
    max_frames : int or None
        Only the first ``max_frames`` frames (None = the whole session, the default).
    experiments : experiments whose sessions get movies.

    Returns
    -------
    list of written TIFF paths.
    """
    from thalamocortex.data.layout import session_path
    from thalamocortex.simulate.cohort import cohort_design, simulate_session

    dataset_dir = Path(dataset_dir)
    gt = dataset_dir / "ground_truth" / "movies"
    gt.mkdir(parents=True, exist_ok=True)
    written = []
    p = params or MovieParams()
    for spec in cohort_design(cfg, list(experiments)):
        for ses in spec.sessions:
            sess, truth = simulate_session(
                cfg, spec.experiment, spec.mouse_index, ses, return_traces=True
            )
            if sess.imaging is None:
                continue
            frames = slice(0, max_frames)
            # each session its own noise and motion; the first session of a mouse defines the
            # field's reference position, later ones are offset (the field is found again)
            rng = np.random.default_rng([seed, zlib.crc32(spec.mouse.encode()), int(ses)])
            offset = np.zeros(2)
            if ses != min(spec.sessions):
                offset = rng.normal(0.0, p.session_offset_sd_px, 2)
            m = session_movie(
                sess, truth, p, frames=frames, seed=int(rng.integers(2**31)), field_offset=offset
            )
            nwb = session_path(dataset_dir, spec.mouse, ses)
            tif = write_tiff(nwb.with_suffix(".tif"), m.movie, sess.info.frame_rate)
            written.append(tif)
            if nwb.is_file():  # a dataset written by simulate_cohort (else: TIFF only)
                _reference_movie(nwb, tif, sess.imaging.times[: m.movie.shape[0]])
            rows = np.concatenate(
                [
                    np.column_stack([np.full(len(fp), k), fp]).astype(np.float32)
                    for k, fp in enumerate(m.footprints)
                ]
            )
            np.savez_compressed(
                gt / f"{sess.id}.npz",
                footprints=rows,
                centroids=m.rois[["centroid_y", "centroid_x"]].to_numpy(),
                shifts=m.shifts,
                field_offset=offset,
                artefact=m.artefact,
                roi_name=truth["rois"]["roi_name"].to_numpy().astype("U"),
            )
    return written
