"""Reading recordings for the realism statistics, and writing their results (the file I/O).

Departure from DESIGN.md ("only data/, pipeline/ and report/ touch disk"): the realism command
is not a pipeline stage and reads four kinds of input, so its readers and writer live here,
in one module kept apart from the pure statistics (:mod:`.traces`, :mod:`.movie`,
:mod:`.compare`); they use the package's readers (``data.read_session``,
``preprocess.suite2p_io``, ``data.movie``) and suite2p wrapper (``preprocess.suite2p_run``).

A recording is:

* a **TIFF movie**: registered, segmented and extracted by suite2p through
  :func:`~thalamocortex.preprocess.suite2p_run.run_suite2p` with suite2p's *own* detection
  defaults (``threshold_scaling`` 1.0, time bins of ``tau x fs`` frames; see
  :func:`realism_suite2p_params`), and only the ROIs suite2p's classifier labels cells
  (``iscell``): fragments and neuropil patches would otherwise enter the statistics;
* a **suite2p output folder**: its cells (``iscell``), offsets (``yoff``/``xoff``) and, for the
  movie statistics, its raw binary (``data_raw.bin``, only if suite2p kept it: the registered
  ``data.bin`` is interpolated, which biases the photon count);
* an **NWB file** with F/Fneu (ours or another tool's), and its raw movie when it has one;
* a **dataset folder** (``sub-*/sub-*_ses-*.nwb``, e.g. a simulated one): a few representative
  sessions per ROI type (:func:`pick_sessions`), each read as an NWB file.

Raw movies of NWB files and datasets are registered with the same suite2p run to obtain the
motion offsets (``register=False`` skips it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.realism.compare import RecordingData
from thalamocortex.realism.params import RealismParams

log = logging.getLogger(__name__)


def realism_suite2p_params(params: RealismParams | None = None, base=None):
    """The preprocessing parameters suite2p runs with for the realism command.

    suite2p's own detection defaults rather than the package's simulator-tuned ones
    (``threshold_scaling`` 2.0 and time bins shortened to give >= 100 bins): on the real movie
    those give 38 cells whose skewness (1.71) and fraction active (0.10) differ by 16-25 % from
    what suite2p run alone gives (54 cells, 1.47 and 0.08), so the statistics would describe
    the package's preprocessing rather than the recording.
    """
    from thalamocortex.preprocess.params import PreprocessParams

    p = params or RealismParams()
    base = base or PreprocessParams()
    return base.model_copy(
        update={
            "suite2p_threshold_scaling": p.suite2p_threshold_scaling,
            "suite2p_min_bins": p.suite2p_min_bins,
            "suite2p_min_cell_probability": 0.0,
        }
    )


def tiff_frame_rate(path: str | Path) -> float | None:
    """Frame rate recorded in a TIFF (this package's ``frame_rate_hz`` or ScanImage's), or None."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            meta = tif.shaped_metadata
            if meta and isinstance(meta[0], dict) and "frame_rate_hz" in meta[0]:
                return float(meta[0]["frame_rate_hz"])
            si = tif.scanimage_metadata
            if si:
                fr = si.get("FrameData", {}).get("SI.hRoiManager.scanFrameRate")
                if fr:
                    return float(fr)
    except Exception:  # unreadable metadata: the caller asks for --frame-rate
        return None
    return None


def _register_and_segment(movie, frame_rate, params, badframes=None):
    from thalamocortex.preprocess.suite2p_run import run_suite2p

    return run_suite2p(movie, frame_rate, realism_suite2p_params(params), badframes=badframes)


def segmented_recording(
    label: str,
    movie: np.ndarray,
    frame_rate: float,
    params: RealismParams | None = None,
    roi_type: str = "soma",
    bad_frames=None,
    path=None,
) -> RecordingData:
    """A raw movie segmented by suite2p (:func:`realism_suite2p_params`), cells only."""
    r = _register_and_segment(movie, frame_rate, params, badframes=bad_frames)
    cells = np.asarray(r.iscell)[:, 0] > 0 if r.n_rois else np.zeros(0, bool)
    if not cells.any():
        raise DataError("suite2p found no cells (iscell) in the movie", path)
    footprints = [fp for fp, c in zip(r.footprints(), cells) if c]
    return RecordingData(
        label=label,
        roi_type=roi_type,
        frame_rate=float(frame_rate),
        F=r.F[:, cells],
        Fneu=r.Fneu[:, cells],
        footprints=footprints,
        image_shape=tuple(movie.shape[1:]),
        mean_image=r.mean_image,
        movie=movie,
        bad_frames=r.badframes,
        shifts=r.shifts,
    )


def load_tiff(
    path: str | Path, frame_rate: float | None = None, params: RealismParams | None = None
) -> RecordingData:
    """A raw movie: suite2p ROIs (cells only), traces, offsets and the movie itself.

    Parameters
    ----------
    path : path
        Multi-page TIFF (frames x height x width).
    frame_rate : float, optional
        Hz; default: the rate recorded in the file (a DataError when there is none).
    """
    from thalamocortex.data.movie import read_movie_file

    path = Path(path)
    fr = frame_rate or tiff_frame_rate(path)
    if not fr:
        raise DataError(
            "the TIFF records no frame rate; give it (thalamocortex realism ... --frame-rate HZ)",
            path,
            field="frame_rate",
        )
    return segmented_recording(path.name, read_movie_file(path), fr, params, path=path)


def _suite2p_binary(plane: Path, ops: dict):
    """The raw binary (``data_raw.bin``, kept with suite2p's ``keep_movie_raw``) as a memmap.

    The registered ``data.bin`` is not used: non-rigid registration interpolates, which
    smooths the shot noise and inflates the photon-transfer estimate (the real movie: 9.4
    photons/px/frame from ``data.bin`` vs 4.8 from the raw frames).
    """
    for name in ("data_raw.bin",):
        f = plane / name
        if f.is_file() and "Ly" in ops and "Lx" in ops:
            Ly, Lx = int(ops["Ly"]), int(ops["Lx"])
            n = f.stat().st_size // (2 * Ly * Lx)
            if n >= 3:
                return np.memmap(f, dtype=np.int16, mode="r", shape=(n, Ly, Lx))
    return None


def load_suite2p(
    folder: str | Path, frame_rate: float | None = None, roi_type: str = "soma"
) -> RecordingData:
    """A suite2p output folder: its cells, offsets and (if kept) its raw binary movie."""
    from thalamocortex.preprocess.suite2p_io import find_plane_folder, read_options, read_suite2p

    plane = find_plane_folder(folder)
    ops = read_options(plane)
    n_frames = int(np.load(plane / "F.npy", mmap_mode="r").shape[1])
    times = None if frame_rate is None else np.arange(n_frames) / float(frame_rate)
    im = read_suite2p(plane, frame_times=times, roi_type=roi_type, only_cells=True)
    shifts = None
    if "yoff" in ops and "xoff" in ops:
        shifts = np.stack([np.asarray(ops["yoff"]), np.asarray(ops["xoff"])], axis=1).astype(float)
    bad = ops.get("badframes")
    return RecordingData(
        label=Path(folder).name,
        roi_type=roi_type,
        frame_rate=float(frame_rate or ops["fs"]),
        F=im.f,
        Fneu=im.fneu,
        footprints=im.footprints,
        image_shape=im.image_shape,
        mean_image=im.mean_image,
        movie=_suite2p_binary(plane, ops),
        bad_frames=None if bad is None else np.asarray(bad, bool),
        shifts=shifts,
    )


def load_nwb(
    path: str | Path,
    params: RealismParams | None = None,
    register: bool = True,
    max_movie_frames: int | None = None,
) -> RecordingData:
    """An NWB session with F/Fneu; its raw movie (and offsets by registering it) if present.

    A session with a raw movie but no traces (``thalamocortex convert`` of a TIFF) is
    segmented like a TIFF (:func:`segmented_recording`, its declared ROI type).
    """
    from thalamocortex.data.nwb import read_session
    from thalamocortex.preprocess.dff import artefact_mask

    path = Path(path)
    with read_session(path) as s:
        im = s.imaging
        if im is None and s.movie is not None:
            # a raw movie only (e.g. from `thalamocortex convert`): segment it like a TIFF
            movie = s.movie.read()[: max_movie_frames or None]
            pulses = s.stimulation.pulses if s.stimulation is not None else None
            times = s.movie.times(movie.shape[0])[: movie.shape[0]]
            bad = artefact_mask(times, pulses, s.movie.rate) if pulses is not None else None
            roi_type = s.info.declared_roi_type()
            if roi_type is None:
                raise DataError("the session does not declare its ROI type (soma/bouton)", path)
            return segmented_recording(
                path.stem, movie, s.movie.rate, params, roi_type, bad_frames=bad, path=path
            )
        if im is None:
            raise DataError("no imaging (F/Fneu) and no raw movie in the file", path)
        fr = im.frame_rate
        if not np.isfinite(fr):
            fr = s.info.frame_rate
        pulses = s.stimulation.pulses if s.stimulation is not None else None
        blank = artefact_mask(im.times, pulses, fr) if pulses is not None else None
        roi_type = s.info.declared_roi_type() or str(im.rois["roi_type"].mode().iloc[0])
        rec = RecordingData(
            label=path.stem,
            roi_type=roi_type,
            frame_rate=float(fr),
            F=np.asarray(im.f),
            Fneu=None if im.fneu is None else np.asarray(im.fneu),
            footprints=im.footprints,
            image_shape=im.image_shape,
            mean_image=im.mean_image,
            blank_mask=blank,
        )
        if s.movie is not None:
            movie = s.movie.read()
            if max_movie_frames:
                movie = movie[:max_movie_frames]
            times = s.movie.times(movie.shape[0])[: movie.shape[0]]
            bad = artefact_mask(times, pulses, s.movie.rate) if pulses is not None else None
            rec.movie, rec.bad_frames = movie, bad
            if rec.image_shape is None:
                rec.image_shape = tuple(movie.shape[1:])
    if rec.movie is not None and register:
        r = _register_and_segment(rec.movie, s.movie.rate, params, badframes=rec.bad_frames)
        rec.shifts = r.shifts
        rec.bad_frames = r.badframes
    return rec


def pick_sessions(sessions: pd.DataFrame, per_type: int = 2) -> pd.DataFrame:
    """Representative imaging sessions of a dataset: up to ``per_type`` per experiment kind.

    Sessions with ROI traces (or of an imaging kind: a session converted from a raw movie has
    no traces yet and is segmented by suite2p), sorted by mouse and session; per experiment kind
    (which fixes the ROI type: somata for all-optical, boutons for axon imaging) the first
    session of each mouse, then the next ones, so that the picks spread over mice before they
    spread over days.
    """
    imaging = (sessions["n_rois"] > 0) | (sessions["experiment"] != "inactivation")
    s = sessions[imaging].sort_values(["mouse", "session"])
    picks = []
    for _, group in s.groupby("experiment", sort=True):
        group = group.assign(rank=group.groupby("mouse").cumcount())
        picks.append(group.sort_values(["rank", "mouse", "session"]).head(per_type))
    if not picks:
        return s.iloc[:0]
    return pd.concat(picks).drop(columns="rank")


def load_dataset(
    folder: str | Path,
    params: RealismParams | None = None,
    per_type: int = 2,
    register: bool = True,
    max_movie_frames: int | None = None,
) -> list[RecordingData]:
    """Representative sessions (:func:`pick_sessions`) of a dataset folder."""
    from thalamocortex.data.layout import discover

    picks = pick_sessions(discover(folder), per_type)
    if picks.empty:
        raise DataError("no session with imaging", folder)
    return [
        load_nwb(p, params, register=register, max_movie_frames=max_movie_frames)
        for p in picks["path"]
    ]


def load_recording(
    path: str | Path,
    frame_rate: float | None = None,
    params: RealismParams | None = None,
    per_type: int = 2,
    register: bool = True,
    max_movie_frames: int | None = None,
) -> list[RecordingData]:
    """Any recording the realism command takes (module docstring), as a list of planes."""
    from thalamocortex.data.movie import TIFF_SUFFIXES

    path = Path(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in TIFF_SUFFIXES:
            return [load_tiff(path, frame_rate, params)]
        if suffix == ".nwb":
            return [load_nwb(path, params, register, max_movie_frames)]
        raise DataError(
            f"unsupported file type {suffix!r}: expected a TIFF movie, an NWB file, a suite2p "
            "output folder or a dataset folder",
            path,
        )
    if path.is_dir():
        if any((path / sub / "stat.npy").is_file() for sub in (".", "plane0", "suite2p/plane0")):
            return [load_suite2p(path, frame_rate)]
        return load_dataset(path, params, per_type, register, max_movie_frames)
    raise DataError("no such file or folder", path)


def write_results(out: str | Path, text: pd.DataFrame, numbers: pd.DataFrame, figure=None) -> dict:
    """Write the comparison: ``realism.csv`` (text table), ``realism.parquet`` (numbers) and
    ``realism.png`` (figure); each written to a temporary name, then renamed.

    Returns
    -------
    dict
        Name -> path of the files written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    targets = [("csv", lambda f: text.to_csv(f)), ("parquet", lambda f: numbers.to_parquet(f))]
    if figure is not None:
        targets.append(("png", lambda f: figure.savefig(f, dpi=110, format="png")))
    for ext, write in targets:
        final = out / f"realism.{ext}"
        tmp = out / f".realism.{ext}.tmp"
        write(tmp)
        tmp.replace(final)
        paths[ext] = final
    return paths


def realism_report(
    recording: str | Path,
    against: str | Path | None = None,
    out: str | Path | None = None,
    frame_rate: float | None = None,
    params: RealismParams | None = None,
    per_type: int = 2,
    register: bool = True,
    max_movie_frames: int | None = None,
):
    """Measure a recording (and optionally another one) and write the comparison.

    Parameters
    ----------
    recording, against : path
        Anything :func:`load_recording` reads; ``against`` is typically a simulated dataset.
    out : path, optional
        Folder for ``realism.csv``, ``realism.parquet`` and ``realism.png`` (nothing written
        when None).
    frame_rate : float, optional
        Frame rate (Hz) of ``recording`` when its files do not record one.

    Returns
    -------
    text : DataFrame
        Statistic x measurement, ``median [p10-p90]`` strings.
    numbers : DataFrame
        Long-format numbers (:func:`~thalamocortex.realism.compare.side_by_side`).
    measurements : list of Measurement
    paths : dict
        Files written.
    """
    from thalamocortex.realism.compare import measure, side_by_side

    p = params or RealismParams()
    measurements = measure(
        load_recording(recording, frame_rate, p, per_type, register, max_movie_frames),
        Path(recording).name,
        p,
    )
    if against is not None:
        measurements += measure(
            load_recording(against, None, p, per_type, register, max_movie_frames),
            Path(against).name,
            p,
        )
    text, numbers = side_by_side(measurements)
    paths = {}
    if out is not None:
        from thalamocortex.realism.figure import realism_figure

        paths = write_results(out, text, numbers, realism_figure(measurements))
    return text, numbers, measurements, paths


def fit_recording(measurements, out=None, iterations: int = 8, params: RealismParams | None = None):
    """Fit the simulator to the first soma measurement (:func:`~.fit.fit_simulator`).

    Returns
    -------
    FitResult
    path : Path or None
        ``out/realism_fit.yaml`` when ``out`` is given.
    """
    from thalamocortex.realism.fit import FIT_MAP, fit_simulator

    somata = [m for m in measurements if m.roi_type == "soma"]
    if not somata:
        raise DataError("--fit needs somata (the simulator's photon budget is fitted on them)")
    m = somata[0]
    target = {k: float(np.nanmedian(m.rois[k])) for k in FIT_MAP if k in m.rois}
    frame_rate = float(np.median(list(m.frame_rates.values())))
    result = fit_simulator(target, frame_rate, iterations=iterations, params=params)
    path = None
    if out is not None:
        path = Path(out) / "realism_fit.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(".realism_fit.yaml.tmp")
        tmp.write_text(result.to_yaml())
        tmp.replace(path)
    return result, path
