"""The preprocess stage's ROIs against suite2p run alone on the same movie.

A lab that already uses suite2p wants to know what the stage changes: which of suite2p's cells
it finds (footprint overlap) and whether their traces agree. :func:`suite2p_alone` runs
suite2p 1.x the way its own command line does on a TIFF (its default settings with the frame
rate set; uint16 halved into int16 as its TIFF reader does; its classifier's ``iscell``
labels), and :func:`compare_rois` matches two ROI sets one-to-one by intersection over union
(Hungarian assignment) and correlates the raw F of matched pairs.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass

import numpy as np

from thalamocortex.preprocess.roimatch import match_footprints


@dataclass
class Suite2pAlone:
    """suite2p's own result on a movie.

    Attributes
    ----------
    footprints : list of (k, 3) arrays [y, x, weight]
        Every ROI suite2p kept.
    F : array (n_frames, n_rois) float32
        Raw fluorescence (suite2p's int16 units: half the movie's for uint16 movies).
    iscell : array (n_rois,) bool
        suite2p's classifier label.
    probability : array (n_rois,)
        suite2p's classifier probability.
    """

    footprints: list
    F: np.ndarray
    iscell: np.ndarray
    probability: np.ndarray

    def cells(self) -> tuple[list, np.ndarray]:
        """Footprints and F of the ROIs suite2p labels as cells."""
        keep = np.flatnonzero(self.iscell)
        return [self.footprints[k] for k in keep], self.F[:, keep]


def suite2p_alone(movie: np.ndarray, frame_rate: float, settings: dict | None = None):
    """Run suite2p alone (registration, detection, extraction, classification) on a movie.

    Parameters
    ----------
    movie : array (n_frames, height, width)
        Raw frames; uint16 is halved into int16 as suite2p's TIFF reader does (``im // 2``),
        other types are cast.
    frame_rate : float (Hz)
    settings : dict, optional
        Nested suite2p settings to change (dotted keys), e.g. ``{"diameter": [12, 12]}``.
        Otherwise suite2p's defaults, except a non-rigid block size of half the field when
        the default (128 px) does not fit (suite2p 1.1 fails on a single block).

    Returns
    -------
    Suite2pAlone
    """
    import torch

    from thalamocortex.preprocess._torch_compat import import_suite2p
    from thalamocortex.preprocess.suite2p_run import _quiet, set_nested

    s2p = import_suite2p()
    s = copy.deepcopy(s2p.default_settings())
    m = np.asarray(movie)
    changes = {"fs": float(frame_rate), "torch_device": "cpu"}
    half = min(m.shape[1:]) // 2
    if min(s["registration"]["block_size"]) > half:
        # suite2p 1.1's non-rigid registration fails when one block covers the field
        changes["registration.block_size"] = (half, half)
    changes.update(settings or {})
    for key, value in changes.items():
        set_nested(s, key, value)
    frames = (m // 2).astype(np.int16) if m.dtype == np.uint16 else m.astype(np.int16)
    with tempfile.TemporaryDirectory(prefix="tc_s2p_alone_") as d, _quiet():
        out = s2p.pipeline(d, frames, run_registration=True, settings=s, device=torch.device("cpu"))
    stat, F, iscell = out[2], out[3], np.asarray(out[8])
    fps = [
        np.stack([np.asarray(st["ypix"]), np.asarray(st["xpix"]), np.asarray(st["lam"])], 1)
        for st in stat
    ]
    return Suite2pAlone(
        footprints=fps,
        F=np.ascontiguousarray(np.asarray(F).T, dtype=np.float32),
        iscell=iscell[:, 0].astype(bool),
        probability=iscell[:, 1],
    )


def compare_rois(
    ours: list,
    ours_F: np.ndarray,
    reference: list,
    reference_F: np.ndarray,
    image_shape: tuple[int, int],
    iou_threshold: float = 0.5,
) -> dict:
    """Match our ROIs to reference ROIs and correlate the traces of matched pairs.

    Parameters
    ----------
    ours, reference : list of (k, 3) arrays [y, x, weight]
    ours_F, reference_F : arrays (n_frames, n_rois)
        Raw fluorescence of each set (any units: Pearson correlation).
    image_shape : (height, width)
    iou_threshold : float
        Least intersection over union of a matched pair (binary masks).

    Returns
    -------
    dict with ``n_ours``, ``n_reference``, ``n_matched``, ``fraction_matched`` (of the
    reference), ``median_iou`` and ``median_trace_r`` (over matched pairs), ``pairs`` (DataFrame
    ``ours``, ``reference``, ``iou``, ``trace_r``).
    """
    pairs = match_footprints(ours, reference, image_shape, iou_threshold)
    pairs = pairs.rename(columns={"detected": "ours", "truth": "reference"})
    r = []
    for a, b in zip(pairs["ours"].astype(int), pairs["reference"].astype(int)):
        x, y = ours_F[:, a], reference_F[:, b]
        ok = np.isfinite(x) & np.isfinite(y)
        r.append(float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else np.nan)
    pairs["trace_r"] = r
    n_ref = len(reference)
    return {
        "n_ours": len(ours),
        "n_reference": n_ref,
        "n_matched": len(pairs),
        "fraction_matched": len(pairs) / n_ref if n_ref else float("nan"),
        "median_iou": float(pairs["iou"].median()) if len(pairs) else float("nan"),
        "median_trace_r": float(np.nanmedian(r)) if r else float("nan"),
        "pairs": pairs,
    }
