"""Raw two-photon movies on disk: multi-page TIFF files (tifffile).

A session's raw frames are described by :class:`~thalamocortex.data.model.RawMovie`; in NWB
they are a ``TwoPhotonSeries`` whose frames are either inside the file or in external files
(``format="external"``, ``external_file`` paths relative to the NWB file, ``starting_frame``
giving the first frame of each file — the NWB best practice for raw data kept in its
acquisition format, e.g. ScanImage TIFFs split over many files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thalamocortex.data.errors import DataError

#: file name suffixes read as multi-page TIFF
TIFF_SUFFIXES: tuple[str, ...] = (".tif", ".tiff")


def read_movie_file(path: str | Path) -> np.ndarray:
    """One multi-page TIFF as (n_frames, height, width) float32.

    Raises
    ------
    DataError
        Missing file, not a TIFF, or not a stack of 2-D frames.
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise DataError("movie file not found", path, field="external_file")
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise DataError(
            f"unsupported movie format {path.suffix!r}; expected a multi-page TIFF "
            f"({', '.join(TIFF_SUFFIXES)})",
            path,
            field="external_file",
        )
    try:
        arr = tifffile.imread(path)
    except Exception as err:  # tifffile raises several types for corrupt files
        raise DataError(
            f"cannot read as TIFF ({type(err).__name__}: {err})", path, field="external_file"
        ) from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise DataError(
            f"expected a stack of 2-D frames (frames x height x width), got shape {arr.shape}",
            path,
            field="external_file",
        )
    return arr.astype(np.float32, copy=False)


def read_movie_files(paths: list[Path], starting_frame: list[int] | None = None) -> np.ndarray:
    """Frames of several files concatenated in order, checked against ``starting_frame``.

    Parameters
    ----------
    paths : list of Path
    starting_frame : list of int, optional
        First frame index of each file (NWB ``TwoPhotonSeries.starting_frame``); a file whose
        frame count disagrees with it is an error (a missing or truncated file would otherwise
        shift every later frame in time).

    Returns
    -------
    array (n_frames, height, width) float32
    """
    if not paths:
        raise DataError("no movie files", field="external_file")
    parts, n = [], 0
    for k, p in enumerate(paths):
        if starting_frame is not None and int(starting_frame[k]) != n:
            raise DataError(
                f"file {k} should start at frame {int(starting_frame[k])} (starting_frame) but "
                f"the files before it hold {n} frames",
                p,
                field="starting_frame",
            )
        arr = read_movie_file(p)
        if parts and arr.shape[1:] != parts[0].shape[1:]:
            raise DataError(
                f"frame size {arr.shape[1:]} differs from the first file's {parts[0].shape[1:]}",
                p,
                field="external_file",
            )
        parts.append(arr)
        n += arr.shape[0]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def tiff_layout(files: list[Path]) -> tuple[list[int], int, tuple[int, int]]:
    """First frame of each TIFF file, the total frame count and the frame size (height, width),
    from the page headers (no pixels are read)."""
    import tifffile

    starts, n, shape = [], 0, None
    for f in files:
        starts.append(n)
        try:
            with tifffile.TiffFile(f) as tf:
                n += len(tf.pages)
                shape = shape or tuple(int(v) for v in tf.pages[0].shape[-2:])
        except Exception as err:
            raise DataError(
                f"cannot read as TIFF ({type(err).__name__}: {err})", f, field="external_file"
            ) from None
    return starts, n, shape


def write_tiff(path: str | Path, movie: np.ndarray, frame_rate: float | None = None) -> Path:
    """Write a movie as a multi-page TIFF (one page per frame, uint16; atomic rename).

    Values are rounded and clipped to 0..65535 (photon counts / raw digitiser values).
    """
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = np.clip(np.rint(movie), 0, 65535).astype(np.uint16)
    meta = {"axes": "TYX"}
    if frame_rate:
        meta["frame_rate_hz"] = float(frame_rate)
    tifffile.imwrite(tmp, data, photometric="minisblack", metadata=meta)
    tmp.replace(path)
    return path
