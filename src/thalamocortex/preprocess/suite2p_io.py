"""Import existing suite2p output folders into the data model.

A suite2p plane folder holds ``stat.npy`` (one dict per ROI: ``ypix``, ``xpix``, ``lam``,
``med``...), ``F.npy`` and ``Fneu.npy`` (ROIs x frames), ``iscell.npy`` (ROIs x 2: label,
probability) and the run's options: ``ops.npy`` (suite2p < 1.0 and 1.x's combined file) or
``settings.npy`` + ``reg_outputs.npy`` (suite2p 1.x). Traces are transposed to the package's
frames x ROIs float32; footprints become ``(k, 3)`` arrays ``[y, x, weight]`` which
:func:`thalamocortex.data.nwb.write_session` stores as a PlaneSegmentation pixel mask.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Imaging

REQUIRED_FILES = ("stat.npy", "F.npy", "Fneu.npy", "iscell.npy")

#: The only callables a suite2p ``.npy`` pickle may name. A suite2p 1.1.0 run (run_s2p on a
#: real movie) writes object arrays whose pickles reference exactly: numpy's array
#: reconstruction (``_reconstruct``, ``ndarray``, ``dtype``), numpy scalars (``scalar``: the
#: float64/int64 values inside stat and ops) and, in ``ops.npy``, the processing date
#: (``datetime.datetime`` with a ``timezone``/``timedelta``). numpy < 2 names the same functions
#: under ``numpy.core``. Everything else (``os.system``, ``builtins.eval``, ``subprocess``...) is
#: refused: none of these can run code or touch files.
_SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        (mod, name)
        for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    }
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {("datetime", n) for n in ("datetime", "date", "time", "timedelta", "timezone")}
    # protocol <= 3 pickles of sets and of bytes written under Python 2
    | {("builtins", "set"), ("builtins", "frozenset"), ("_codecs", "encode")}
)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler admitting only numpy arrays/scalars, containers, strings, numbers and dates.

    The pattern of the Python documentation's "Restricting Globals"; numpy's own loader offers
    only all (``allow_pickle=True``) or nothing, and suite2p's folders need object arrays.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def load_npy(path: str | Path) -> Any:
    """Read a ``.npy`` file without running code from it.

    Numeric arrays are read with ``allow_pickle=False``; object arrays (suite2p's ``stat.npy``,
    ``ops.npy``, ``settings.npy``...) through :class:`_RestrictedUnpickler`.

    Raises
    ------
    DataError
        Not a ``.npy`` file, truncated, or a pickle naming anything but numpy arrays, dicts,
        lists, tuples, strings, numbers and dates (the message names the file and what was
        refused).
    """
    from numpy.lib import format as npy_format

    path = Path(path)
    try:
        with open(path, "rb") as f:
            version = npy_format.read_magic(f)
            read_header = (
                npy_format.read_array_header_1_0
                if version == (1, 0)
                else npy_format.read_array_header_2_0
            )
            _, _, dtype = read_header(f)
            if not dtype.hasobject:
                f.seek(0)
                return npy_format.read_array(f, allow_pickle=False)
            obj = _RestrictedUnpickler(f).load()
    except pickle.UnpicklingError as err:
        raise DataError(
            f"unsafe or corrupt pickle: {err}; only numpy arrays, dicts, lists, tuples, strings, "
            "numbers and dates are read from suite2p files",
            path,
        ) from None
    except (OSError, ValueError, EOFError, TypeError, AttributeError) as err:
        raise DataError(f"cannot read as .npy ({type(err).__name__}: {err})", path) from None
    if not isinstance(obj, np.ndarray):
        raise DataError(f"expected a numpy array, the pickle holds {type(obj).__name__}", path)
    return obj


def find_plane_folder(folder: str | Path, plane: int = 0) -> Path:
    """The suite2p plane folder under ``folder`` (itself, ``plane<k>`` or ``suite2p/plane<k>``)."""
    folder = Path(folder)
    for cand in (folder, folder / f"plane{plane}", folder / "suite2p" / f"plane{plane}"):
        if (cand / "stat.npy").is_file():
            return cand
    raise DataError(
        f"no suite2p output (stat.npy) in the folder, plane{plane}/ or suite2p/plane{plane}/",
        path=folder,
    )


def _load_dict(path: Path) -> dict[str, Any]:
    obj = load_npy(path)
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise DataError(f"expected a pickled dict, got {type(obj).__name__}", path=path)
    return obj


def read_options(plane: Path) -> dict[str, Any]:
    """Merged suite2p options of a plane folder (ops.npy, else settings/db/reg_outputs)."""
    ops: dict[str, Any] = {}
    for name in ("settings.npy", "db.npy", "reg_outputs.npy", "detect_outputs.npy", "ops.npy"):
        p = plane / name
        if p.is_file():
            ops.update(_load_dict(p))
    return ops


def _traces(path: Path, n_rois: int) -> np.ndarray:
    arr = load_npy(path)
    if arr.dtype.hasobject or arr.ndim != 2 or arr.shape[0] != n_rois:
        raise DataError(
            f"expected shape ({n_rois}, n_frames) to match stat.npy, got {arr.shape}", path=path
        )
    return np.ascontiguousarray(arr.T, dtype=np.float32)


def read_suite2p(
    folder: str | Path,
    *,
    plane: int = 0,
    frame_times=None,
    t0: float = 0.0,
    roi_type: str = "soma",
    region: str = "M1",
    only_cells: bool = True,
    min_cell_probability: float | None = None,
) -> Imaging:
    """Read one suite2p plane folder into an :class:`~thalamocortex.data.model.Imaging`.

    Parameters
    ----------
    folder : path
        The plane folder, or a folder containing ``plane<k>/`` or ``suite2p/plane<k>/``.
    plane : int
        Plane index when ``folder`` holds several.
    frame_times : array (n_frames,), optional
        Session times of the frames (s). Default ``t0 + arange(n_frames) / fs`` with ``fs``
        from the options (a DataError if absent).
    roi_type, region : str
        ``roi_type`` (``soma``/``bouton``) and source ``region`` of every ROI.
    only_cells : bool
        Keep only ROIs labelled as cells in ``iscell.npy``.
    min_cell_probability : float, optional
        Keep only ROIs whose classifier probability is at least this (overrides the label).

    Returns
    -------
    Imaging
        ``rois`` has ``roi_name`` (``roi<suite2p index>``), ``roi_type``, ``region``,
        ``suite2p_index``, ``iscell``, ``cell_probability``, ``centroid_y``, ``centroid_x``
        (pixels), ``npix``; ``footprints``, ``image_shape`` and ``mean_image`` are filled.
    """
    pf = find_plane_folder(folder, plane)
    for name in REQUIRED_FILES:
        if not (pf / name).is_file():
            raise DataError(f"missing {name} (a suite2p plane folder needs {REQUIRED_FILES})", pf)
    stat = load_npy(pf / "stat.npy")
    n = len(stat)
    for k, s in enumerate(stat):
        if not isinstance(s, dict) or not {"ypix", "xpix"} <= set(s):
            raise DataError(f"ROI {k} is not a dict with 'ypix' and 'xpix'", pf / "stat.npy")
    iscell = load_npy(pf / "iscell.npy")
    iscell = iscell.reshape(n, -1) if iscell.size else np.zeros((n, 2))
    if iscell.shape[0] != n:
        raise DataError(f"{iscell.shape[0]} rows for {n} ROIs in stat.npy", pf / "iscell.npy")
    F = _traces(pf / "F.npy", n)
    Fneu = _traces(pf / "Fneu.npy", n)
    ops = read_options(pf)
    n_frames = F.shape[0]
    if frame_times is None:
        fs = ops.get("fs")
        if fs is None or not np.isfinite(float(fs)) or float(fs) <= 0:
            raise DataError("no frame rate 'fs' in ops.npy/settings.npy; pass frame_times", path=pf)
        frame_times = float(t0) + np.arange(n_frames) / float(fs)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if len(frame_times) != n_frames:
        raise DataError(f"{len(frame_times)} frame times for {n_frames} frames", pf / "F.npy")

    label = iscell[:, 0] > 0.5
    prob = iscell[:, 1] if iscell.shape[1] > 1 else label.astype(float)
    if min_cell_probability is not None:
        keep = prob >= min_cell_probability
    elif only_cells:
        keep = label
    else:
        keep = np.ones(n, dtype=bool)
    idx = np.flatnonzero(keep)

    mean_image = ops.get("meanImg")
    Ly = ops.get("Ly", None if mean_image is None else np.asarray(mean_image).shape[0])
    Lx = ops.get("Lx", None if mean_image is None else np.asarray(mean_image).shape[1])
    footprints = []
    cy, cx, npix = [], [], []
    for k in idx:
        s = stat[k]
        y = np.asarray(s["ypix"], dtype=np.float64)
        x = np.asarray(s["xpix"], dtype=np.float64)
        lam = np.asarray(s.get("lam", np.ones_like(y)), dtype=np.float64)
        footprints.append(np.stack([y, x, lam], axis=1).astype(np.float32))
        w = lam / lam.sum() if lam.sum() > 0 else np.full_like(y, 1 / max(len(y), 1))
        cy.append(float((w * y).sum()))
        cx.append(float((w * x).sum()))
        npix.append(len(y))
    rois = pd.DataFrame(
        {
            "roi_name": [f"roi{k}" for k in idx],
            "roi_type": roi_type,
            "region": region,
            "suite2p_index": idx.astype(np.int64),
            "iscell": label[idx],
            "cell_probability": prob[idx].astype(np.float64),
            "centroid_y": np.asarray(cy, dtype=np.float64),
            "centroid_x": np.asarray(cx, dtype=np.float64),
            "npix": np.asarray(npix, dtype=np.int64),
        }
    )
    return Imaging(
        rois=rois,
        F=F[:, idx],
        Fneu=Fneu[:, idx],
        frame_times=frame_times,
        footprints=footprints,
        image_shape=None if Ly is None or Lx is None else (int(Ly), int(Lx)),
        mean_image=None if mean_image is None else np.asarray(mean_image, dtype=np.float32),
    )


def footprint_image(footprint: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Dense (height, width) float32 image of one ``[y, x, weight]`` footprint."""
    img = np.zeros(image_shape, dtype=np.float32)
    y = footprint[:, 0].astype(np.int64)
    x = footprint[:, 1].astype(np.int64)
    ok = (y >= 0) & (y < image_shape[0]) & (x >= 0) & (x < image_shape[1])
    np.add.at(img, (y[ok], x[ok]), footprint[ok, 2])
    return img
