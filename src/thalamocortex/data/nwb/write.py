"""Writing a :class:`~thalamocortex.data.model.Session` to NWB (:func:`write_session`)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.data.model import (
    Session,
    SessionInfo,
    Stimulation,
)
from thalamocortex.data.movie import tiff_layout
from thalamocortex.data.nwb.names import (
    NWBWriteParams,
    _as_array,
    _regular_rate,
)

__all__ = ["write_session"]


_TRIAL_DOCS = {
    "start_time": "trial start (s, session clock)",
    "stop_time": "trial stop (s, session clock)",
    "cue_time": "cue (tone) onset (s, session clock)",
    "reward_time": "reward delivery (s, session clock); NaN when not rewarded",
    "outcome": "trial outcome",
    "light": "light (inactivation / stimulation) on this trial",
    "movement_onset": "movement onset (s, session clock); NaN when unknown",
    "movement_offset": "movement offset (s, session clock); NaN when unknown",
    "reaction_time": "cue to movement onset (s)",
}


_ROI_DOCS = {
    "roi_name": "ROI name, stable across sessions for tracked ROIs",
    "roi_type": "ROI type: soma, bouton or axon",
    "region": "source region of the imaged ROI (e.g. MTh, M2, S1, cM1, M1)",
}


_PULSE_DOCS = {
    "start_time": "pulse start (s, session clock)",
    "stop_time": "pulse stop (s, session clock)",
    "power": "peak light power (mW)",
    "target": "what was illuminated",
}


#: TimeIntervals columns with a fixed NWB meaning (ragged tags, TimeSeries references)
_INTERVAL_RESERVED = ("id", "tags", "timeseries")


def _h5data(arr: np.ndarray, params: NWBWriteParams, link: bool = False) -> Any:
    """Wrap an array for chunked, compressed HDF5 storage (chunks = whole rows along axis 0)."""
    from hdmf.backends.hdf5 import H5DataIO

    if arr.size == 0:
        return arr
    row_bytes = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize)
    rows = int(max(1, min(arr.shape[0], params.chunk_kib * 1024 // row_bytes)))
    return H5DataIO(
        arr,
        chunks=(rows, *arr.shape[1:]),
        compression=params.compression,
        compression_opts=params.compression_level if params.compression == "gzip" else None,
        shuffle=params.shuffle,
    )


def _column_values(values: pd.Series, where: str) -> tuple[Any, str]:
    """Convert one DataFrame column to data hdmf can store; returns (data, kind)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(str)
        dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        if values.isna().any():
            raise DataError(f"bool column has missing values; cannot store {where}", field=where)
        return values.to_numpy(dtype=bool), "bool"
    if pd.api.types.is_integer_dtype(dtype):
        if values.isna().any():  # nullable integers with NA: store as float with NaN
            return values.to_numpy(dtype=np.float64, na_value=np.nan), "float"
        return values.to_numpy(dtype=np.int64), "int"
    if pd.api.types.is_float_dtype(dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan), "float"
    if pd.api.types.is_string_dtype(dtype) or dtype is np.dtype(object):
        out = []
        for v in values.tolist():
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                out.append("")
            elif isinstance(v, str):
                out.append(v)
            elif isinstance(v, bytes):
                out.append(v.decode())
            else:
                raise DataError(
                    f"column holds {type(v).__name__} values; only numeric, bool or str "
                    f"columns can be stored in NWB",
                    field=where,
                )
        # hdmf cannot infer the dtype of an empty list: give it an (empty) unicode array
        return (out if out else np.array([], dtype=str)), "str"
    raise DataError(
        f"column has dtype {dtype}; only numeric, bool or str columns can be stored in NWB",
        field=where,
    )


def _vector_columns(
    df: pd.DataFrame,
    skip: tuple[str, ...],
    docs: dict[str, str],
    where: str,
    reserved: tuple[str, ...] = ("id",),
) -> list[Any]:
    from hdmf.common import VectorData

    cols = []
    for name in df.columns:
        if name in skip:
            continue
        if not isinstance(name, str):
            raise DataError(f"column names must be str, got {name!r}", field=where)
        if name in reserved:
            raise DataError(
                f"column name {name!r} is reserved by NWB ({list(reserved)}); rename it",
                field=f"{where}.{name}",
            )
        data, _ = _column_values(df[name], f"{where}.{name}")
        cols.append(
            VectorData(
                name=name,
                description=docs.get(name, f"{name} (column of the session's {where} table)"),
                data=data,
            )
        )
    return cols


def _start_datetime(text: str) -> _dt.datetime:
    try:
        t = _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError) as err:
        raise DataError(
            f"session_start_time {text!r} is not an ISO-8601 time ({err})",
            field="SessionInfo.session_start_time",
        ) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.UTC)


def _build_nwbfile(session: Session, params: NWBWriteParams, path: Path | None = None) -> Any:
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    info = session.info
    im = session.imaging
    image_shape = None
    if im is not None:
        if im.image_shape is not None:
            image_shape = tuple(int(v) for v in im.image_shape)
        elif im.mean_image is not None:
            image_shape = tuple(np.shape(im.mean_image)[:2])
    keywords = [
        "motor learning",
        "lever press",
        info.experiment,
        f"region {info.region}",
        f"indicator {info.indicator}",
        f"opsin {info.opsin}",
    ]
    nwb = NWBFile(
        session_description=info.description
        or f"{info.experiment} session {info.session} (training day {info.day}) of mouse "
        f"{info.mouse}; source region {info.region}",
        identifier=str(uuid.uuid4()),
        session_start_time=_start_datetime(info.session_start_time),
        session_id=info.session_id,
        experiment_description=(
            f"experiment kind: {info.experiment}; source region: {info.region}; indicator: "
            f"{info.indicator}; opsin: {info.opsin}; training day: {info.day}"
        ),
        keywords=keywords,
        subject=Subject(
            subject_id=info.mouse,
            species=params.species,
            age=params.subject_age,
            sex=params.subject_sex,
            description=f"mouse {info.mouse}",
        ),
    )

    # SessionInfo, round-trippable -------------------------------------------------------------
    meta_values = {
        "mouse": [info.mouse],
        "session": np.array([int(info.session)], dtype=np.int64),
        "day": np.array([int(info.day)], dtype=np.int64),
        "experiment": [info.experiment],
        "region": [info.region],
        "indicator": [info.indicator],
        "opsin": [info.opsin],
        "frame_rate": np.array([float(info.frame_rate)], dtype=np.float64),
        "session_description": [info.description],
        "image_height": np.array([image_shape[0] if image_shape else -1], dtype=np.int64),
        "image_width": np.array([image_shape[1] if image_shape else -1], dtype=np.int64),
        "roi_type": [info.roi_type or ""],
    }
    meta_docs = {
        "frame_rate": "imaging frame rate (Hz); NaN without imaging",
        "session_description": "SessionInfo.description (may be empty)",
        "image_height": "imaging field height (pixels); -1 when unknown",
        "image_width": "imaging field width (pixels); -1 when unknown",
        "roi_type": "declared ROI type of the imaging (soma or bouton); empty = not declared",
    }
    meta = DynamicTable(
        name="session_info",
        description="SessionInfo of thalamocortex (one row)",
        columns=[
            VectorData(name=k, description=meta_docs.get(k, f"session {k}"), data=v)
            for k, v in meta_values.items()
        ],
    )
    nwb.create_processing_module(name="misc", description="session metadata (SessionInfo)").add(
        meta
    )

    # lever --------------------------------------------------------------------------------------
    if session.lever is not None:
        lever = session.lever
        data = _as_array(lever.data, np.float32)
        if data.ndim != 1:
            raise DataError(f"expected 1-D lever data, got shape {data.shape}", field="lever")
        bts = BehavioralTimeSeries(name="BehavioralTimeSeries")
        bts.add_timeseries(
            TimeSeries(
                name="lever",
                data=_h5data(data, params),
                unit=lever.units,
                rate=float(lever.rate),
                starting_time=float(lever.t0),
                description="lever position (float32)",
            )
        )
        nwb.create_processing_module(
            name="behavior", description="lever position during the cued lever-press task"
        ).add(bts)

    # trials -------------------------------------------------------------------------------------
    if session.trials is not None:
        trials = session.trials.reset_index(drop=True)
        cols = [
            VectorData(
                name=c,
                description=_TRIAL_DOCS[c],
                data=trials[c].to_numpy(dtype=np.float64, na_value=np.nan),
            )
            for c in ("start_time", "stop_time")
        ]
        cols += _vector_columns(
            trials, ("start_time", "stop_time"), _TRIAL_DOCS, "trials", _INTERVAL_RESERVED
        )
        nwb.trials = TimeIntervals(
            name="trials", description="cued lever-press trials", columns=cols
        )

    if im is not None:
        with warnings.catch_warnings():
            # each series' ROI region gets a common ancestor with the PlaneSegmentation only
            # once the series is added to its container; hdmf warns before that
            warnings.filterwarnings("ignore", message="The linked table for DynamicTableRegion")
            _add_imaging(nwb, session, image_shape, params)
    if session.movie is not None:
        _add_movie(nwb, session, path, params)
    if session.stimulation is not None:
        _add_stimulation(nwb, session.stimulation, params)
    return nwb


def _imaging_plane(nwb: Any, info: SessionInfo, rate: float, params: NWBWriteParams) -> Any:
    """The session's one ImagingPlane (created on first use; shared by ROIs and the movie)."""
    from pynwb.ophys import OpticalChannel

    if "ImagingPlane" in nwb.imaging_planes:
        return nwb.imaging_planes["ImagingPlane"]
    device = nwb.create_device(name="Microscope", description=params.microscope)
    return nwb.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=OpticalChannel(
            name="OpticalChannel",
            description="green emission channel",
            emission_lambda=params.emission_lambda,
        ),
        description=f"M1 layer 2/3; imaged ROIs from {info.region}",
        device=device,
        excitation_lambda=params.excitation_lambda,
        imaging_rate=float(rate),
        indicator=info.indicator,
        location=params.imaging_location,
    )


def _add_movie(nwb: Any, session: Session, path: Path | None, params: NWBWriteParams) -> None:
    """The raw movie as ``acquisition["TwoPhotonSeries"]``: external files (paths relative to
    the NWB file, ``starting_frame`` per file) or internal chunked, compressed frames."""
    from pynwb.ophys import TwoPhotonSeries

    mv = session.movie
    assert mv is not None
    plane = _imaging_plane(nwb, session.info, mv.rate, params)
    kw: dict[str, Any] = {}
    if mv.frame_times is not None:
        kw["timestamps"] = _as_array(mv.frame_times, np.float64)
    else:
        kw.update(rate=float(mv.rate), starting_time=float(mv.starting_time))
    doc = "raw two-photon frames (before registration)"
    if mv.files is not None:
        files = mv.paths()
        # absolute paths with symbolic links kept: a reference to a link in a git-annex /
        # DataLad dataset stays a reference to the link, and stays inside the dataset
        folder = os.path.abspath(path.parent if path is not None else Path.cwd())
        rel = [os.path.relpath(os.path.abspath(f), folder) for f in files]
        start, n_frames, (height, width) = tiff_layout(files)
        if mv.starting_frame is not None and [int(v) for v in mv.starting_frame] != start:
            raise DataError(
                f"starting_frame {list(mv.starting_frame)} disagrees with the files' frame "
                f"counts (first frames {start})",
                files[0],
                field="starting_frame",
            )
        series = TwoPhotonSeries(
            name="TwoPhotonSeries",
            imaging_plane=plane,
            external_file=rel,
            format="external",
            starting_frame=start,
            num_samples=n_frames,
            dimension=[width, height],
            unit="a.u.",
            description=doc + f"; kept in {len(rel)} external file(s) relative to this file",
            **kw,
        )
    else:
        data = _as_array(mv.data)
        if data.ndim != 3:
            raise DataError(
                f"expected movie frames x height x width, got shape {data.shape}", field="movie"
            )
        if mv.frame_axes == "yx":  # NWB ImageSeries data are [frame, x, y]
            data = np.ascontiguousarray(data.transpose(0, 2, 1))
        series = TwoPhotonSeries(
            name="TwoPhotonSeries",
            imaging_plane=plane,
            data=_h5data(data, params),
            dimension=[int(data.shape[1]), int(data.shape[2])],
            unit="a.u.",
            description=doc,
            **kw,
        )
    nwb.add_acquisition(series)


def _add_imaging(nwb: Any, session: Session, image_shape: Any, params: NWBWriteParams) -> None:
    from hdmf.common import VectorData, VectorIndex
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import (
        DfOverF,
        Fluorescence,
        ImageSegmentation,
        PlaneSegmentation,
        RoiResponseSeries,
    )

    info, im = session.info, session.imaging
    assert im is not None
    times = _as_array(im.frame_times, np.float64)
    rate = _regular_rate(times, params.frame_time_tolerance)
    mean_rate = im.frame_rate if len(times) > 1 else float(info.frame_rate)
    if not np.isfinite(mean_rate) or mean_rate <= 0:
        raise DataError(
            f"cannot determine the frame rate from {len(times)} frame times", field="frame_times"
        )
    plane = _imaging_plane(nwb, info, float(rate if rate is not None else mean_rate), params)
    ophys = nwb.create_processing_module(name="ophys", description="ROIs and their fluorescence")

    rois = im.rois.reset_index(drop=True)
    n = len(rois)
    for reserved in ("id", "pixel_mask", "image_mask", "voxel_mask"):
        if reserved in rois.columns:
            raise DataError(f"ROI column name {reserved!r} is reserved by NWB", field="rois")
    # pixel masks, NWB order (x = column, y = row, weight); empty when no footprints
    fps = im.footprints
    if fps is not None and len(fps) != n:
        raise DataError(f"{len(fps)} footprints for {n} ROIs", field="Imaging.footprints")
    mask_dtype = np.dtype([("x", np.uint32), ("y", np.uint32), ("weight", np.float32)])
    parts, ends = [], []
    total = 0
    for i in range(n):
        fp = np.zeros((0, 3)) if fps is None else np.asarray(fps[i], dtype=np.float64)
        if fp.ndim != 2 or fp.shape[1] != 3:
            raise DataError(
                f"footprint {i} has shape {fp.shape}; expected (k, 3) [y, x, weight]",
                field="Imaging.footprints",
            )
        rec = np.empty(len(fp), dtype=mask_dtype)
        rec["x"], rec["y"], rec["weight"] = fp[:, 1], fp[:, 0], fp[:, 2]
        parts.append(rec)
        total += len(fp)
        ends.append(total)
    mask_data = VectorData(
        name="pixel_mask",
        description="pixel masks (x = column, y = row, weight); empty = footprint not known",
        data=[tuple(r) for r in np.concatenate(parts)] if total else [],
    )
    mask_index = VectorIndex(name="pixel_mask_index", data=ends, target=mask_data)
    columns = _vector_columns(rois, (), _ROI_DOCS, "rois") + [mask_data, mask_index]
    seg = ImageSegmentation(name="ImageSegmentation")
    ps = PlaneSegmentation(
        name="PlaneSegmentation",
        description=f"ROIs ({', '.join(sorted(set(rois['roi_type'].astype(str))))})",
        imaging_plane=plane,
        columns=columns,
        id=list(range(n)),
    )
    seg.add_plane_segmentation(ps)
    ophys.add(seg)

    time_kw: dict[str, Any]
    if rate is not None:
        time_kw = {"rate": rate, "starting_time": float(times[0])}
    else:
        time_kw = {"timestamps": _h5data(times, params)}

    def series(name: str, arr: Any, unit: str, doc: str) -> Any:
        data = _as_array(arr, np.float32)
        s = RoiResponseSeries(
            name=name,
            data=_h5data(data, params),
            rois=ps.create_roi_table_region(region=list(range(n)), description="all ROIs"),
            unit=unit,
            description=doc,
            **time_kw,
        )
        if "timestamps" in time_kw:  # later series link to the first one's timestamps
            time_kw["timestamps"] = s
        return s

    fl = Fluorescence(name="Fluorescence")
    fl.add_roi_response_series(series("F", im.F, "a.u.", "raw ROI fluorescence"))
    if im.Fneu is not None:
        fl.add_roi_response_series(series("Fneu", im.Fneu, "a.u.", "neuropil fluorescence"))
    ophys.add(fl)
    if im.dff is not None:
        ophys.add(
            DfOverF(
                name="DfOverF",
                roi_response_series=series(
                    "dff", im.dff, "n.a.", "dF/F (fraction); NaN on blanked frames"
                ),
            )
        )
    if im.events is not None:
        ophys.add(
            Fluorescence(
                name="Deconvolved",
                roi_response_series=series(
                    "events", im.events, "a.u.", "event amplitude per frame (0 = no event)"
                ),
            )
        )
    if im.mean_image is not None:
        ophys.add(
            Images(
                name="SummaryImages",
                description="summary images of the imaging field",
                images=[
                    GrayscaleImage(
                        name="mean",
                        data=np.asarray(im.mean_image, dtype=np.float32),
                        description="mean image",
                    )
                ],
            )
        )


def _add_stimulation(nwb: Any, stim: Stimulation, params: NWBWriteParams) -> None:
    from pynwb.epoch import TimeIntervals
    from pynwb.ogen import OptogeneticSeries

    pulses = stim.pulses.reset_index(drop=True)
    start = pulses["start_time"].to_numpy(np.float64)
    stop = start + pulses["duration"].to_numpy(np.float64)
    power_mw = pulses["power"].to_numpy(np.float64)
    device = nwb.devices.get(stim.device) or nwb.create_device(
        name=stim.device or "light source", description="light source for stimulation"
    )
    targets = sorted({str(t) for t in pulses["target"]}) if len(pulses) else []
    site = nwb.create_ogen_site(
        name="OptogeneticStimulusSite",
        device=device,
        description=stim.site_description or "light delivery site",
        excitation_lambda=float(stim.wavelength_nm),
        location="; ".join(targets) or "unknown",
    )
    # power step series (W): the power at each pulse start, 0 at each stop. At equal times a
    # start wins over a stop (back-to-back pulses); zero-length pulses are left out.
    keep = stop > start
    t = np.concatenate([stop[keep], start[keep]])
    v = np.concatenate([np.zeros(keep.sum()), power_mw[keep] / 1000.0])
    is_start = np.concatenate([np.zeros(keep.sum(), bool), np.ones(keep.sum(), bool)])
    order = np.lexsort((is_start, t))
    t, v = t[order], v[order]
    last = np.append(t[1:] != t[:-1], True) if len(t) else np.zeros(0, bool)
    t, v = t[last], v[last]
    if len(t):
        nwb.add_stimulus(
            OptogeneticSeries(
                name="light_power",
                data=_h5data(v.astype(np.float64), params),
                timestamps=_h5data(t, params),
                site=site,
                description="light power (W) as a step function: value holds until the next "
                "timestamp",
            )
        )
    cols = [
        *_vector_columns(
            pd.DataFrame({"start_time": start, "stop_time": stop}), (), _PULSE_DOCS, "pulses"
        ),
        # a stop_time column would duplicate start_time + duration: not stored twice
        *_vector_columns(
            pulses,
            ("start_time", "duration", "stop_time"),
            _PULSE_DOCS,
            "pulses",
            _INTERVAL_RESERVED,
        ),
    ]
    nwb.add_time_intervals(
        TimeIntervals(name="light_pulses", description="light pulses", columns=cols)
    )


def write_session(
    session: Session,
    path: str | os.PathLike,
    overwrite: bool = False,
    params: NWBWriteParams | None = None,
    additions: list | None = None,
) -> Path:
    """Write a session to an NWB file, atomically.

    The file is written under a temporary name in the same folder, flushed to disk and then
    renamed, so ``path`` is either absent, the old file, or the complete new file.

    Parameters
    ----------
    session : Session
        Lazy arrays are read as needed.
    path : path-like
        Destination ``.nwb`` file; parent folders are created.
    overwrite : bool
        Replace an existing file. Without it an existing ``path`` raises ``FileExistsError``
        and is left untouched.
    params : NWBWriteParams, optional
    additions : list of callables, optional
        Each is called with the built ``pynwb.NWBFile`` before it is written (e.g. a neuroconv
        imaging interface adding raw frames with its iterative, bounded-memory writer).

    Returns
    -------
    Path of the written file.
    """
    from pynwb import NWBHDF5IO

    params = params or NWBWriteParams()
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    nwb = _build_nwbfile(session, params, path)
    for add in additions or ():
        add(nwb)
    # hidden, same folder (same file system for the rename), ends in .nwb as pynwb expects
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.nwb")
    try:
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:  # link fails if path appeared meanwhile: never clobber without overwrite
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(
                    f"{path}: exists; pass overwrite=True to replace it"
                ) from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise FileExistsError(
                        f"{path}: exists; pass overwrite=True to replace it"
                    ) from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path
