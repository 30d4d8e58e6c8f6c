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

suite2p and torch are imported lazily (with :mod:`._torch_compat`), so the rest of the
package never needs them.
"""

from __future__ import annotations

import copy
import tempfile
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


def _int16_movie(movie: np.ndarray) -> np.ndarray:
    m = np.asarray(movie)
    if m.dtype == np.int16:
        return m.copy()
    return np.clip(np.rint(m), -32768, 32767).astype(np.int16)


def run_suite2p(
    movie,
    frame_rate: float,
    params: PreprocessParams | None = None,
    badframes=None,
    save_dir: str | Path | None = None,
    honour_badframes: bool = True,
) -> Suite2pResult:
    """Register a movie, detect ROIs and extract F/Fneu with suite2p.

    Parameters
    ----------
    movie : array (n_frames, height, width)
        Raw frames (photon counts; converted to int16 as suite2p expects).
    frame_rate : float (Hz)
    params : PreprocessParams, optional
    badframes : array (n_frames,) bool, optional
        Photostimulation artefact frames: excluded from the reference, from detection and from
        the mean image.
    save_dir : path, optional
        Where suite2p writes its plane files (a temporary folder, deleted afterwards, if None).
    honour_badframes : bool
        Only for tests: False hands *no* bad frames to suite2p, to demonstrate what they guard.

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
    f_reg = _int16_movie(mov)
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
        try:
            out = s2p.pipeline(
                str(save_dir),
                f_reg,
                run_registration=False,
                settings=copy.deepcopy(settings),
                badframes=use_bad.copy() if use_bad.any() else None,
                device=device,
            )
        except ValueError as err:
            if "no ROIs were found" not in str(err):
                raise
            # suite2p raises when detection finds nothing; an empty field is a valid result
            out = (reg, None, None, None, None, None, None, None, None)
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
    good_reg = ~(flagged | bad)
    mean_image = f_reg[good_reg].astype(np.float32).mean(axis=0)
    # suite2p's yoff/xoff are the (integer) rigid motion of each frame's content
    shifts = np.stack([np.asarray(reg["yoff"]), np.asarray(reg["xoff"])], axis=1).astype(float)
    if settings["registration"]["nonrigid"] and reg.get("yoff1") is not None:
        # add the mean non-rigid block offset (sub-pixel refinement of the rigid shift)
        shifts += np.stack(
            [np.asarray(reg["yoff1"]).mean(axis=1), np.asarray(reg["xoff1"]).mean(axis=1)], 1
        )
    keep = np.ones(len(stat), bool)
    if p.suite2p_min_cell_probability > 0 and len(stat):
        keep = np.asarray(iscell)[:, 1] >= p.suite2p_min_cell_probability
    return Suite2pResult(
        shifts=shifts,
        stat=np.asarray(stat, dtype=object)[keep],
        F=np.ascontiguousarray(np.asarray(F)[keep].T, dtype=np.float32),
        Fneu=np.ascontiguousarray(np.asarray(Fneu)[keep].T, dtype=np.float32),
        iscell=np.asarray(iscell)[keep],
        mean_image=mean_image,
        badframes=flagged | bad,
        settings=settings,
        reg_outputs=reg,
        timings=timings,
    )
