"""Registration, ROI detection and extraction of a raw movie with suite2p, from our parameters.

Settings start from suite2p's full nested defaults (``suite2p.default_settings()``) and change
individual nested keys (suite2p itself only merges top-level keys, so a partial nested dict
would silently drop every other default). ``PreprocessParams.suite2p_*`` set the common keys;
``suite2p_overrides`` sets any other one by dotted path.

Photostimulation (bad) frames, in the mode used here (suite2p 1.1 on an in-memory array):

* *registration reference*: suite2p's ``compute_reference`` samples frames evenly and does **not**
  skip bad frames (only its optional two-step mode does), so the reference is computed here from
  good frames only and passed in;
* *detection*: ``pipeline`` passes the bad frames to ``detection_wrapper``, whose ``bin_movie``
  drops them before binning (verified by ``tests/test_preprocess_suite2p.py``, which fails if an
  artefact confined to bad frames produces an ROI);
* *mean image*: suite2p's ``meanImg`` averages all frames; :class:`Suite2pResult` carries a mean
  image of the registered good frames instead;
* *traces*: F/Fneu on bad frames are whatever the artefact made them; dF/F blanks them
  (:func:`~thalamocortex.preprocess.dff.compute_dff` with ``blank_mask``).

Bouton (axon-imaging) movies (``run_suite2p(..., boutons=True)`` with :func:`bouton_params`):
suite2p's sparse detection, tuned for somata, merges neighbouring puncta, lets ROIs sprawl and
keeps fragments (on 30 s simulated bouton movies: precision 0.81 / recall 0.69 at IoU 0.3 with
threshold_scaling 1.0; lowering it to 0.5 gives recall 0.89 but precision 0.14; a smaller
high-pass, max_overlap 0.5, more bins, PCA denoising or sourcery did not reach 0.85 for both).
Its ``diameter`` is not used by sparsery at all (only by sourcery, soma cropping and ROI
statistics), and ``spatial_scale``, which sets sparsery's threshold, is clamped to 1-4 (6-48 px
squares), never the 3 px of a punctum. So suite2p runs permissively
(threshold_scaling 0.5) and :func:`refine_bouton_rois` replaces its ROIs by the mean-image
puncta they contain; F/Fneu are then extracted with suite2p's own extraction (precision 1.00 /
recall 0.94-0.98 on the same movies of the former simulator; on the realistic one, with dim axon
fields, silent axons and non-bouton puncta, P 0.86-0.92 / R 0.84-0.93 on four tiny-preset
sessions, see ``bouton_peak_min_sd``).

The registered movie is moved by the integer median of the estimated shifts
(``suite2p_center_reference``) so that ROIs sit where the tissue is at its median position.

suite2p and torch are imported lazily (with :mod:`._torch_compat`), so the rest of the
package never needs them.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thalamocortex.data.errors import DataError
from thalamocortex.preprocess.params import PreprocessParams


def set_nested(settings: dict, dotted: str, value: Any) -> None:
    """Set ``settings[a][b][c] = value`` for ``dotted = "a.b.c"``; unknown keys raise KeyError."""
    parts = dotted.split(".")
    node = settings
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"suite2p setting {'.'.join(parts[: i + 1])!r} does not exist")
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise KeyError(f"suite2p setting {dotted!r} does not exist")
    node[parts[-1]] = value


def suite2p_settings(
    params: PreprocessParams, frame_rate: float, image_shape: tuple[int, int]
) -> dict[str, Any]:
    """suite2p's full default settings with our nested changes applied.

    Parameters
    ----------
    params : PreprocessParams
    frame_rate : float (Hz)
    image_shape : (height, width) px

    Returns
    -------
    dict
        A complete suite2p 1.x settings dictionary.
    """
    from thalamocortex.preprocess._torch_compat import import_suite2p

    s2p = import_suite2p()
    s = copy.deepcopy(s2p.default_settings())
    block = int(min(params.suite2p_block_size_px, min(image_shape) // 2))
    changes: dict[str, Any] = {
        "fs": float(frame_rate),
        "tau": float(params.suite2p_tau_s),
        "diameter": [float(params.suite2p_diameter_px)] * 2,
        "torch_device": "cpu",
        "registration.nonrigid": bool(params.suite2p_nonrigid),
        "registration.block_size": (block, block),
        "registration.maxregshift": float(params.suite2p_maxregshift),
        "registration.nimg_init": int(params.suite2p_reference_frames),
        "detection.threshold_scaling": float(params.suite2p_threshold_scaling),
        # block_size of detection also has to fit the field
        "detection.block_size": (min(64, block * 2), min(64, block * 2)),
        "extraction.neuropil_coefficient": float(params.neuropil_coefficient),
        # dF/F, events and deconvolution are ours; registration metrics cost time
        "run.do_deconvolution": False,
        "run.do_regmetrics": False,
    }
    changes.update(params.suite2p_overrides)
    for key, value in changes.items():
        set_nested(s, key, value)
    return s


@dataclass
class Suite2pResult:
    """Outputs of :func:`run_suite2p`.

    Attributes
    ----------
    shifts : array (n_frames, 2) float64
        Estimated rigid motion (dy, dx) in px of each frame relative to the reference, in the
        convention of :mod:`thalamocortex.simulate.movies` (content moved by +dy, +dx).
    stat : array of dict
        suite2p ROI statistics (``ypix``, ``xpix``, ``lam``, ``med``...).
    F, Fneu : array (n_frames, n_rois) float32
    iscell : array (n_rois, 2)
    mean_image : array (height, width) float32
        Mean of the registered good frames.
    badframes : array (n_frames,) bool
        Frames excluded (ours plus those suite2p flagged for outlier shifts).
    settings : dict
        The suite2p settings used.
    reg_outputs : dict
    timings : dict
        Seconds per step.
    """

    shifts: np.ndarray
    stat: Any
    F: np.ndarray
    Fneu: np.ndarray
    iscell: np.ndarray
    mean_image: np.ndarray
    badframes: np.ndarray
    settings: dict
    reg_outputs: dict = field(repr=False, default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def n_rois(self) -> int:
        return len(self.stat)

    def footprints(self) -> list[np.ndarray]:
        """ROI pixel masks as (k, 3) float32 arrays [y, x, weight]."""
        return [
            np.stack(
                [np.asarray(s["ypix"]), np.asarray(s["xpix"]), np.asarray(s["lam"])], axis=1
            ).astype(np.float32)
            for s in self.stat
        ]


@contextlib.contextmanager
def _quiet():
    """Silence messages that say nothing about the data: torch's beta-status warnings for the
    sparse tensors suite2p's extraction builds, and suite2p's notice that deconvolution is off
    (we deconvolve, optionally, with OASIS). suite2p's own data warnings still show."""
    log = logging.getLogger("suite2p.pipeline_s2p")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse invariant checks")
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            yield
    finally:
        log.setLevel(level)


def _int16_movie(movie: np.ndarray) -> tuple[np.ndarray, float]:
    """The movie as the int16 frames suite2p works on, and the factor it was divided by.

    A movie within int16's range is only rounded (factor 1). Beyond it (a uint16 movie above
    32,767, or larger float values) values are divided by the smallest power of two that
    brings them into range, as suite2p's own readers halve uint16 data, instead of being
    clipped; :func:`run_suite2p` multiplies F, Fneu and the mean image back, so traces stay in
    the movie's native units.

    Returns
    -------
    frames : array (n_frames, height, width) int16 (a copy)
    scale : float
        Native value = int16 value x ``scale``.
    """
    m = np.asarray(movie)
    if m.dtype == np.int16:
        return m.copy(), 1.0
    lo, hi = float(np.min(m)), float(np.max(m))
    scale = 1.0
    while hi / scale > 32767.5 or lo / scale < -32768.5:
        scale *= 2.0
    if scale != 1.0:
        m = np.multiply(m, 1.0 / scale, dtype=np.float32)
    return np.clip(np.rint(m), -32768, 32767).astype(np.int16), scale


def run_suite2p(
    movie,
    frame_rate: float,
    params: PreprocessParams | None = None,
    badframes=None,
    save_dir: str | Path | None = None,
    honour_badframes: bool = True,
    boutons: bool = False,
) -> Suite2pResult:
    """Register a movie, detect ROIs and extract F/Fneu with suite2p.

    Parameters
    ----------
    movie : array (n_frames, height, width)
        Raw frames at their native bit depth (photon counts or digitiser values; converted to
        int16 as suite2p expects, divided by a power of two when beyond int16's range, see
        :func:`_int16_movie`; F, Fneu and the mean image are returned in the movie's units).
    frame_rate : float (Hz)
    params : PreprocessParams, optional
    badframes : array (n_frames,) bool, optional
        Photostimulation artefact frames (and whatever else must not shape ROIs): excluded from
        the registration reference, from detection (removed from the movie suite2p detects on)
        and from the mean image; registered and extracted like every other frame.
    save_dir : path, optional
        Where suite2p writes its plane files (a temporary folder, deleted afterwards, if None).
    honour_badframes : bool
        Only for tests: False hands *no* bad frames to suite2p, to demonstrate what they guard.
    boutons : bool
        Bouton (axon-imaging) movie: with ``params.suite2p_bouton_refine`` suite2p's ROIs are
        replaced by the puncta they contain (:func:`refine_bouton_rois`) and F/Fneu are
        extracted again (suite2p's own extraction) for the refined ROIs. The caller sets the
        bouton detection settings (:func:`bouton_params`).

    Returns
    -------
    Suite2pResult
    """
    import time

    from thalamocortex.preprocess._torch_compat import import_suite2p

    p = params or PreprocessParams()
    mov = np.asarray(movie)
    if mov.ndim != 3:
        raise DataError(f"expected (n_frames, height, width), got shape {mov.shape}", field="movie")
    n_frames, Ly, Lx = mov.shape
    bad = np.zeros(n_frames, bool) if badframes is None else np.asarray(badframes, bool).copy()
    if bad.shape != (n_frames,):
        raise DataError(f"expected ({n_frames},) flags, got {bad.shape}", field="badframes")
    if bad.all():
        raise DataError("every frame is a bad frame", field="badframes")
    s2p = import_suite2p()
    import torch
    from suite2p.registration.register import compute_reference, registration_wrapper

    settings = suite2p_settings(p, frame_rate, (Ly, Lx))
    if settings["detection"]["bin_size"] is None:
        # suite2p bins tau * fs frames; short movies need >= min_bins bins to detect anything
        default_bin = max(1, int(round(settings["tau"] * settings["fs"])))
        n_good = int((~bad).sum())
        settings["detection"]["bin_size"] = int(
            max(1, min(default_bin, n_good // p.suite2p_min_bins))
        )
    device = torch.device("cpu")
    timings: dict[str, float] = {}
    f_reg, scale = _int16_movie(mov)
    use_bad = bad if honour_badframes else np.zeros(n_frames, bool)

    t0 = time.perf_counter()
    good = np.flatnonzero(~use_bad)
    n_ref = min(settings["registration"]["nimg_init"], len(good))
    pick = good[np.linspace(0, len(good), n_ref, endpoint=False).astype(int)]
    ref = compute_reference(f_reg[pick].copy(), settings=settings["registration"], device=device)
    reg = registration_wrapper(
        f_reg,
        refImg=ref,
        badframes=use_bad.copy(),
        settings=settings["registration"],
        device=device,
    )
    if p.suite2p_center_reference:
        _center_registered(f_reg, reg, use_bad)
    timings["registration"] = time.perf_counter() - t0

    tmp = None
    if save_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tc_suite2p_")
        save_dir = tmp.name
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    try:
        np.save(save_dir / "reg_outputs.npy", reg, allow_pickle=True)
        t0 = time.perf_counter()
        # Detection sees the good frames only. suite2p's own bad-frame handling is not enough:
        # its binning (detection.detect.bin_movie, 1.1.0) drops a batch's bad frames only when
        # more than half of that batch is good, so bad frames enter detection wherever they are
        # dense (frequent pulses, or the post-pulse frames the stage adds) and swamp it.
        # Traces are extracted for every frame afterwards (suite2p's extraction).
        detect_on = f_reg[~use_bad] if use_bad.any() else f_reg
        try:
            with _quiet():
                out = s2p.pipeline(
                    str(save_dir),
                    detect_on,
                    run_registration=False,
                    settings=copy.deepcopy(settings),
                    badframes=None,
                    device=device,
                )
        except ValueError as err:
            if "no ROIs were found" not in str(err):
                raise
            # suite2p raises when detection finds nothing; an empty field is a valid result
            out = (reg, None, None, None, None, None, None, None, None)
        if use_bad.any() and out[2] is not None and len(out[2]):
            from suite2p.extraction import extraction_wrapper

            with _quiet():
                F_all, Fneu_all, _, _ = extraction_wrapper(
                    out[2], f_reg, settings=settings["extraction"], device=device
                )
            out = (*out[:3], F_all, Fneu_all, *out[5:])
        timings["detection_extraction"] = time.perf_counter() - t0
    finally:
        if tmp is not None:
            tmp.cleanup()
    reg_outputs, _detect, stat, F, Fneu, *_rest = out
    iscell = out[8]
    if stat is None or len(stat) == 0 or F is None:
        stat = np.array([], dtype=object)
        F = np.zeros((0, n_frames), np.float32)
        Fneu = np.zeros((0, n_frames), np.float32)
        iscell = np.zeros((0, 2))
    flagged = np.asarray(reg_outputs.get("badframes", use_bad), bool) | use_bad
    # (with honour_badframes=False the test-only control also lets them into the mean image,
    # which the bouton refinement finds puncta in)
    good_reg = ~flagged
    mean_image = f_reg[good_reg].astype(np.float32).mean(axis=0)
    if boutons and p.suite2p_bouton_refine and len(stat):
        t0 = time.perf_counter()
        valid = (tuple(reg["yrange"]), tuple(reg["xrange"]))
        refined = refine_bouton_rois(stat, mean_image, p, valid=valid)
        stat, F, Fneu, iscell = _extract(refined, f_reg, settings, device)
        timings["bouton_refinement"] = time.perf_counter() - t0
    # suite2p's yoff/xoff are the (integer) rigid motion of each frame's content
    shifts = np.stack([np.asarray(reg["yoff"]), np.asarray(reg["xoff"])], axis=1).astype(float)
    if settings["registration"]["nonrigid"] and reg.get("yoff1") is not None:
        # add the mean non-rigid block offset (sub-pixel refinement of the rigid shift)
        shifts += np.stack(
            [np.asarray(reg["yoff1"]).mean(axis=1), np.asarray(reg["xoff1"]).mean(axis=1)], 1
        )
    keep = np.ones(len(stat), bool)
    if p.suite2p_min_cell_probability > 0 and len(stat) and not boutons:
        keep = np.asarray(iscell)[:, 1] >= p.suite2p_min_cell_probability
    return Suite2pResult(
        shifts=shifts,
        stat=np.asarray(stat, dtype=object)[keep],
        F=np.ascontiguousarray(np.asarray(F)[keep].T * scale, dtype=np.float32),
        Fneu=np.ascontiguousarray(np.asarray(Fneu)[keep].T * scale, dtype=np.float32),
        iscell=np.asarray(iscell)[keep],
        mean_image=(mean_image * scale).astype(np.float32),
        badframes=flagged | bad,
        settings=settings,
        reg_outputs=reg,
        timings=timings,
    )


def bouton_params(params: PreprocessParams) -> PreprocessParams:
    """The parameters suite2p runs with on a bouton (axon-imaging) movie.

    ``suite2p_bouton_diameter_px`` and ``suite2p_bouton_threshold_scaling`` replace the soma
    values and soma cropping is off (a punctum has no dendrites to crop); ``suite2p_overrides``
    still apply on top.
    """
    return params.model_copy(
        update={
            "suite2p_diameter_px": params.suite2p_bouton_diameter_px,
            "suite2p_threshold_scaling": params.suite2p_bouton_threshold_scaling,
            "suite2p_overrides": {"detection.soma_crop": False, **params.suite2p_overrides},
        }
    )


def _center_registered(f_reg: np.ndarray, reg: dict, bad: np.ndarray) -> None:
    """Move the registered movie (in place) by the integer median shift of the good frames.

    suite2p aligns every frame to its reference image, which sits wherever the frames it was
    built from happened to be. Rolling the registered frames by ``round(median(yoff, xoff))``
    puts the tissue at its median position instead; ``yoff``/``xoff`` and the crop ranges
    follow (the rolled-in border lies inside the enlarged crop).
    """
    good = ~np.asarray(bad, bool)
    yoff, xoff = np.asarray(reg["yoff"]), np.asarray(reg["xoff"])
    dy = int(np.rint(np.median(yoff[good])))
    dx = int(np.rint(np.median(xoff[good])))
    if dy == 0 and dx == 0:
        return
    f_reg[:] = np.roll(f_reg, (dy, dx), axis=(1, 2))
    reg["yoff"], reg["xoff"] = yoff - dy, xoff - dx
    Ly, Lx = f_reg.shape[1:]
    for key, d, n, off in (("yrange", dy, Ly, reg["yoff"]), ("xrange", dx, Lx, reg["xoff"])):
        m = int(max(np.ceil(np.abs(off[good]).max()), abs(d), reg[key][0] + abs(d)))
        m = min(m, n // 2 - 1)
        reg[key] = [m, n - m]


def punctum_image(mean_image: np.ndarray, params: PreprocessParams | None = None) -> np.ndarray:
    """Difference-of-Gaussians image of a mean image: puncta stand out, haze does not.

    Parameters
    ----------
    mean_image : array (height, width)
    params : PreprocessParams, optional
        ``bouton_punctum_sigma_px`` and ``bouton_background_sigma_px``.

    Returns
    -------
    array (height, width) float64 (photons, like the mean image)
    """
    from scipy import ndimage

    p = params or PreprocessParams()
    img = np.asarray(mean_image, dtype=np.float64)
    fine = ndimage.gaussian_filter(img, p.bouton_punctum_sigma_px, mode="nearest")
    coarse = ndimage.gaussian_filter(img, p.bouton_background_sigma_px, mode="nearest")
    return fine - coarse


def find_puncta(
    mean_image: np.ndarray, params: PreprocessParams | None = None, valid=None
) -> tuple[np.ndarray, np.ndarray]:
    """Puncta of a mean image: local maxima of :func:`punctum_image` above threshold.

    Parameters
    ----------
    mean_image : array (height, width)
    params : PreprocessParams, optional
        ``bouton_min_peak_distance_px`` (local-maximum window half-width) and
        ``bouton_peak_min_sd`` (threshold in robust SDs of the DoG image).
    valid : ((y0, y1), (x0, x1)), optional
        Region where peaks may lie (e.g. suite2p's crop after registration).

    Returns
    -------
    peaks : array (n_puncta, 2) int
        (y, x) of each punctum, brightest first.
    dog : array (height, width)
        The difference-of-Gaussians image.
    """
    from scipy import ndimage

    p = params or PreprocessParams()
    dog = punctum_image(mean_image, p)
    sel = np.ones(dog.shape, bool)
    if valid is not None:
        (y0, y1), (x0, x1) = valid
        sel[:] = False
        sel[int(y0) : int(y1), int(x0) : int(x1)] = True
    vals = dog[sel]
    noise = 1.4826 * np.median(np.abs(vals - np.median(vals))) if vals.size else 0.0
    size = 2 * int(np.floor(p.bouton_min_peak_distance_px)) + 1
    is_max = (dog >= ndimage.maximum_filter(dog, size=size, mode="nearest")) & sel
    is_max &= dog > p.bouton_peak_min_sd * max(noise, 1e-12)
    ys, xs = np.nonzero(is_max)
    order = np.argsort(-dog[ys, xs], kind="stable")
    return np.stack([ys[order], xs[order]], axis=1).astype(np.int64), dog


def refine_bouton_rois(
    stat, mean_image: np.ndarray, params: PreprocessParams | None = None, valid=None
) -> list[dict]:
    """Bouton ROIs from suite2p's ROIs and the puncta of the mean image.

    suite2p's sparse detection finds active pixels well but on bouton movies it merges
    neighbouring puncta into one ROI, lets ROIs sprawl beyond a punctum and keeps fragments
    without one. Boutons are puncta, so each suite2p ROI is replaced by the puncta it contains
    (functional evidence from suite2p, shape from the anatomy, as in suite2p's own anatomical
    mode):

    1. puncta = local maxima of the difference-of-Gaussians mean image (:func:`find_puncta`);
    2. a suite2p ROI claims the puncta whose peak pixel it contains (if none, the punctum
       nearest its brightest-weight pixel within ``bouton_roi_radius_px``); ROIs claiming no
       punctum are dropped (not punctate);
    3. each claimed punctum (once, however many ROIs claim it) becomes one ROI: the pixels
       within ``bouton_roi_radius_px`` of its peak that are nearer to it than to any other
       punctum and whose DoG value is at least ``bouton_mask_fraction`` of the peak's,
       weighted by that value; ROIs under ``bouton_min_pixels`` pixels are dropped.

    Parameters
    ----------
    stat : sequence of dict
        suite2p ROIs (``ypix``, ``xpix``, ``lam``).
    mean_image : array (height, width)
        Registered mean image of the good frames.
    params : PreprocessParams, optional
    valid : ((y0, y1), (x0, x1)), optional
        Region where puncta may lie.

    Returns
    -------
    list of dict
        ``ypix``, ``xpix``, ``lam``, ``med`` per refined ROI (suite2p's stat layout), in the
        order of their first claiming suite2p ROI.
    """
    from scipy import ndimage

    p = params or PreprocessParams()
    img = np.asarray(mean_image)
    h, w = img.shape
    peaks, dog = find_puncta(img, p, valid=valid)
    if len(peaks) == 0:
        return []
    # nearest punctum of every pixel (and its distance)
    seeds = np.ones((h, w), bool)
    seeds[peaks[:, 0], peaks[:, 1]] = False
    dist, (iy, ix) = ndimage.distance_transform_edt(seeds, return_indices=True)
    peak_id = np.full((h, w), -1, np.int64)
    peak_id[peaks[:, 0], peaks[:, 1]] = np.arange(len(peaks))
    owner = peak_id[iy, ix]
    r = p.bouton_roi_radius_px
    claimed: list[int] = []
    for st in stat:
        y = np.asarray(st["ypix"], np.int64)
        x = np.asarray(st["xpix"], np.int64)
        lam = np.asarray(st["lam"], np.float64)
        if y.size == 0:
            continue
        ids = np.unique(peak_id[y, x])
        ids = ids[ids >= 0]
        if ids.size == 0:
            k = int(np.argmax(lam))
            if dist[y[k], x[k]] <= r:
                ids = np.array([owner[y[k], x[k]]])
        for i in ids:
            if int(i) not in claimed:
                claimed.append(int(i))
    out = []
    yy, xx = np.mgrid[0:h, 0:w]
    for i in claimed:
        py, px = peaks[i]
        y0, y1 = max(0, int(py - np.ceil(r))), min(h, int(py + np.ceil(r)) + 1)
        x0, x1 = max(0, int(px - np.ceil(r))), min(w, int(px + np.ceil(r)) + 1)
        sub = (slice(y0, y1), slice(x0, x1))
        keep = (
            (owner[sub] == i)
            & ((yy[sub] - py) ** 2 + (xx[sub] - px) ** 2 <= r * r)
            & (dog[sub] >= p.bouton_mask_fraction * dog[py, px])
        )
        if keep.sum() < p.bouton_min_pixels:
            continue
        out.append(
            {
                "ypix": yy[sub][keep].astype(int),
                "xpix": xx[sub][keep].astype(int),
                "lam": dog[sub][keep].astype(np.float32),
                "med": [int(py), int(px)],
            }
        )
    return out


def _extract(stat_list: list[dict], f_reg: np.ndarray, settings: dict, device):
    """suite2p's ROI statistics, extraction (F, Fneu) and classifier for given ROIs.

    Mirrors ``suite2p.pipeline`` after detection (its ``stat=`` entry point is broken in
    1.1.0: it returns an undefined ``detect_outputs``).
    """
    from scipy.stats import skew
    from suite2p import classification
    from suite2p.detection.stats import assign_overlaps, roi_stats
    from suite2p.extraction import extraction_wrapper

    n_frames, Ly, Lx = f_reg.shape
    if not stat_list:
        empty = np.zeros((0, n_frames), np.float32)
        return np.array([], dtype=object), empty, empty.copy(), np.zeros((0, 2))
    stat = roi_stats(
        np.array(stat_list, dtype=object),
        Ly,
        Lx,
        diameter=list(settings["diameter"]),
        max_overlap=None,
        do_soma_crop=False,
        npix_norm_min=-1,
        npix_norm_max=np.inf,
    )
    stat = assign_overlaps(stat, Ly, Lx)  # refined ROIs do not overlap (nearest punctum)
    with _quiet():
        F, Fneu, _, _ = extraction_wrapper(
            stat, f_reg, settings=settings["extraction"], device=device
        )
    dF = F - settings["extraction"]["neuropil_coefficient"] * Fneu
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = 1 - 0.5 * np.diff(dF, axis=1).var(axis=1) / dF.var(axis=1)
    sk, sd = skew(dF, axis=1), np.std(dF, axis=1)
    for k, st in enumerate(stat):
        st["snr"], st["skew"], st["std"] = snr[k], sk[k], sd[k]
    iscell = classification.classify(stat=stat, classfile=classification.builtin_classfile)
    return stat, F, Fneu, iscell
