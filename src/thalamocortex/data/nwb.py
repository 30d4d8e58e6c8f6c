"""NWB read/write of :class:`~thalamocortex.data.model.Session` with standard NWB types only.

Where each part of a session lives in the file written by :func:`write_session`
-------------------------------------------------------------------------------

=====================  ====================================================================
session part           NWB location (all standard core / hdmf-common types)
=====================  ====================================================================
mouse                  ``subject.subject_id`` (species ``Mus musculus``, age/sex from
                       :class:`NWBWriteParams`: ``P90D`` / ``U`` = unknown by default)
session id             ``session_id`` = ``sub-<mouse>_ses-<n>``
start time             ``session_start_time`` (a naive ISO time is taken as UTC)
all SessionInfo        one-row ``DynamicTable`` ``processing["misc"]["session_info"]``
                       (mouse, session, day, experiment, region, indicator, opsin,
                       frame_rate, session_description, image_height, image_width). It is the
                       round-trippable copy; the same facts are *also* written into the
                       standard free-text fields ``experiment_description``, ``keywords``,
                       ``session_description`` for people browsing the file.
lever                  ``TimeSeries "lever"`` in ``processing["behavior"]`` inside a
                       ``BehavioralTimeSeries``; ``unit`` = ``Lever.units``, ``rate``,
                       ``starting_time`` = ``Lever.t0``. Stored as **float32** (files stay
                       small; round trip is exact to float32 precision, ~1e-7 relative).
trials                 ``nwbfile.trials``: ``start_time``, ``stop_time`` and every other
                       column of the trials table (numeric, bool or str). Missing string
                       values are written as ``""``. The DataFrame index is not stored; rows
                       get ids ``0..n-1``.
ROIs                   ``processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]``:
                       columns ``roi_name``, ``roi_type``, ``region`` + extra ROI columns,
                       and ``pixel_mask`` (NWB order ``x, y, weight`` = column, row, weight).
                       A mask column is mandatory in NWB; when the session has no
                       footprints every ROI gets an *empty* pixel mask (zero pixels), which
                       the reader turns back into ``footprints=None``.
F, Fneu                ``RoiResponseSeries "F"`` and ``"Fneu"`` in ``Fluorescence
                       "Fluorescence"``
dF/F                   ``RoiResponseSeries "dff"`` in ``DfOverF "DfOverF"`` (when present)
events                 ``RoiResponseSeries "events"`` in a second ``Fluorescence``
                       container named ``"Deconvolved"`` (the neuroconv / suite2p
                       convention for deconvolved activity)
frame times            ``starting_time`` + ``rate`` when frames are regular to within
                       ``NWBWriteParams.frame_time_tolerance``; otherwise ``timestamps`` on
                       ``F``, linked (not copied) by the other response series
mean image             ``Images "SummaryImages"`` / ``GrayscaleImage "mean"``
imaging metadata       ``Device "Microscope"``, ``OpticalChannel``, ``ImagingPlane`` with
                       indicator, excitation wavelength, imaging rate. ``location`` is the
                       *imaged* area as an Allen CCF term (``MOp2/3`` by default: M1 L2/3),
                       because nwbinspector requires CCF terms there; the *source* region of
                       the ROIs is in the ROI table and in ``session_info``.
stimulation            ``OptogeneticStimulusSite`` (device, wavelength, description,
                       location = the pulse targets) + ``OptogeneticSeries "light_power"``
                       in ``nwbfile.stimulus``: a *step series* of the light power in W
                       (value at each pulse start = its power, 0 at its stop; irregular
                       timestamps). The pulse table itself is the ``TimeIntervals``
                       ``nwbfile.intervals["light_pulses"]`` (start_time, stop_time, power
                       in mW, target, extra columns) — that is what the reader uses.
=====================  ====================================================================

Traces are written with HDF5 chunking along frames (chunks of whole frames x all ROIs of about
``NWBWriteParams.chunk_kib``) and gzip + shuffle compression through ``H5DataIO``.

Reading files written by other tools is configured by :class:`NWBNames` (lever series names,
trial / ROI column names, response series names, pulse table names). The reader keeps the
``NWBHDF5IO`` open and hands the ``h5py.Dataset`` objects to the :class:`Session` (lazy); the
session's ``close()`` (or ``with``) closes the file, ``Session.load()`` reads the arrays.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from thalamocortex.config import ParamGroup, param
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import (
    EXPERIMENT_KINDS,
    Imaging,
    Lever,
    RawMovie,
    Session,
    SessionInfo,
    Stimulation,
)
from thalamocortex.data.movie import tiff_layout

__all__ = ["NWBNames", "NWBWriteParams", "read_session", "write_session"]


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


class NWBNames(ParamGroup):
    """Where the reader looks for each part of a session in an NWB file.

    Every list is tried in order; the first name present wins. The defaults cover files written
    by :func:`write_session` and common conventions of other tools (neuroconv, suite2p's NWB
    export).
    """

    lever_series: list[str] = param(
        ["lever", "Lever", "lever_position", "LeverPosition", "lever_trace", "LeverTrace"],
        "",
        "names of the lever TimeSeries, searched in processing[behavior_module] (directly or "
        "inside any container such as BehavioralTimeSeries/Position) and then in acquisition",
    )
    lever_column: int = param(
        0, "", "column of a 2-D lever series (e.g. a SpatialSeries) holding the lever", ge=0
    )
    require_lever: bool = param(True, "", "raise DataError when no lever series is found")
    behavior_module: str = param("behavior", "", "processing module holding behaviour")
    ophys_module: str = param("ophys", "", "processing module holding ROIs and traces")
    metadata_table: str = param(
        "misc/session_info", "", "'<module>/<table>' one-row table of SessionInfo fields"
    )
    trial_columns: dict[str, list[str]] = param(
        {
            "cue_time": ["cue_time", "cue", "cue_onset", "tone_time", "go_cue_time", "cue_times"],
            "reward_time": ["reward_time", "reward", "reward_times", "water_time"],
            "outcome": ["outcome", "result", "trial_outcome"],
            "light": ["light", "laser", "opto", "stim", "light_on"],
        },
        "",
        "trial column -> candidate column names in nwbfile.trials (cue_time is required)",
    )
    roi_columns: dict[str, list[str]] = param(
        {
            "roi_name": ["roi_name", "name", "roi_id", "cell_id"],
            "roi_type": ["roi_type", "type", "cell_type"],
            "region": ["region", "source_region", "brain_region", "location"],
        },
        "",
        "ROI column -> candidate PlaneSegmentation column names",
    )
    response_series: dict[str, list[str]] = param(
        {
            "F": ["F", "RoiResponseSeries", "Fluorescence", "fluorescence"],
            "Fneu": ["Fneu", "Neuropil", "neuropil"],
            "dff": ["dff", "DfOverF", "RoiResponseSeries", "dF_F"],
            "events": ["events", "Deconvolved", "deconvolved", "spikes"],
        },
        "",
        "trace -> candidate RoiResponseSeries names (F/Fneu/events in Fluorescence containers, "
        "dff in DfOverF containers, searched in processing[ophys_module])",
    )
    movie_series: list[str] = param(
        ["TwoPhotonSeries", "raw", "movie", "TwoPhotonSeriesRaw"],
        "",
        "names of the raw-movie TwoPhotonSeries in acquisition (the only TwoPhotonSeries there "
        "is used when none of these names exists)",
    )
    pulse_tables: list[str] = param(
        ["light_pulses", "optogenetic_stimulation", "OptogeneticStimulation", "laser_pulses"],
        "",
        "names of the TimeIntervals pulse table in nwbfile.intervals",
    )
    pulse_columns: dict[str, list[str]] = param(
        {
            "power": ["power", "power_mW", "laser_power", "intensity"],
            "target": ["target", "location", "site"],
        },
        "",
        "pulse column -> candidate column names in the pulse table (power in mW)",
    )
    default_roi_type: str | None = param(
        None,
        "",
        "roi_type when the ROI table has none; None = 'bouton' for axon_imaging, else 'soma'",
    )
    default_experiment: str | None = param(
        None,
        "",
        "experiment kind when the file has no session_info table; None = infer (imaging + "
        "stimulation -> all_optical, stimulation only -> inactivation, else axon_imaging)",
    )
    default_region: str = param(
        "unknown", "", "source region when neither session_info nor the ROI table gives one"
    )
    default_indicator: str = param("unknown", "", "indicator when the file names none")


class NWBWriteParams(ParamGroup):
    """How :func:`write_session` writes a session (storage and fixed metadata)."""

    compression: str = param("gzip", "", "HDF5 compression filter of arrays (gzip is portable)")
    compression_level: int = param(4, "", "gzip level", ge=0, le=9)
    shuffle: bool = param(True, "", "HDF5 byte-shuffle filter before compression")
    chunk_kib: float = param(
        1024.0, "KiB", "target HDF5 chunk size; traces are chunked as whole frames x all ROIs", gt=0
    )
    frame_time_tolerance: float = param(
        1e-6,
        "s",
        "frame times within this of starting_time + i/rate are written as rate (else timestamps)",
        ge=0,
    )
    subject_age: str = param("P90D", "ISO 8601 duration", "subject age (unknown -> P90D)")
    subject_sex: str = param("U", "", "subject sex: M, F, U (unknown) or O")
    species: str = param("Mus musculus", "", "subject species (Latin binomial)")
    imaging_location: str = param(
        "MOp2/3", "", "Allen CCF term of the imaged area (ImagingPlane.location): M1 layer 2/3"
    )
    excitation_lambda: float = param(920.0, "nm", "two-photon excitation wavelength", gt=0)
    emission_lambda: float = param(510.0, "nm", "emission wavelength of the green channel", gt=0)
    microscope: str = param("two-photon microscope", "", "Device description of the microscope")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

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
_INFO_COLUMNS = (
    "mouse",
    "session",
    "day",
    "experiment",
    "region",
    "indicator",
    "opsin",
    "frame_rate",
    "session_description",
    "image_height",
    "image_width",
)


def _as_array(x: Any, dtype: Any = None) -> np.ndarray:
    """Materialise an array-like (numpy, h5py.Dataset, lazy wrapper) as numpy."""
    if isinstance(x, np.ndarray):
        arr = x
    elif hasattr(x, "shape") and hasattr(x, "__getitem__"):
        arr = np.asarray(x[()])
    else:
        arr = np.asarray(x)
    return arr if dtype is None else arr.astype(dtype, copy=False)


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


def _regular_rate(times: np.ndarray, tol: float) -> float | None:
    """The rate if ``times`` are ``t0 + i / rate`` within ``tol`` seconds, else None."""
    n = len(times)
    if n < 2 or not np.all(np.isfinite(times)):
        return None
    rate = (n - 1) / (times[-1] - times[0]) if times[-1] > times[0] else None
    if rate is None or not np.isfinite(rate) or rate <= 0:
        return None
    ideal = times[0] + np.arange(n) / rate
    return float(rate) if np.max(np.abs(ideal - times)) <= tol else None


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
    }
    meta_docs = {
        "frame_rate": "imaging frame rate (Hz); NaN without imaging",
        "session_description": "SessionInfo.description (may be empty)",
        "image_height": "imaging field height (pixels); -1 when unknown",
        "image_width": "imaging field width (pixels); -1 when unknown",
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
        folder = (path.parent if path is not None else Path.cwd()).resolve()
        rel = [os.path.relpath(Path(f).resolve(), folder) for f in files]
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
        series = TwoPhotonSeries(
            name="TwoPhotonSeries",
            imaging_plane=plane,
            data=_h5data(data, params),
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


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class _LazyTransformed:
    """Lazy view of a dataset: optional column of a 2-D array, then ``x * scale + offset``.

    Used when a foreign file stores a lever as a column of a 2-D series or with a
    ``conversion``/``offset`` other than 1/0, so the Session still sees physical units lazily.
    """

    def __init__(self, ds: Any, column: int | None, scale: float, offset: float):
        self.ds, self.column, self.scale, self.offset = ds, column, float(scale), float(offset)
        self.shape = tuple(ds.shape[:1]) if column is not None else tuple(ds.shape)
        self.dtype = np.dtype(np.float64)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if key is Ellipsis or (isinstance(key, tuple) and key == ()):
            key = slice(None)
        raw = self.ds[key, self.column] if self.column is not None else self.ds[key]
        return np.asarray(raw, dtype=np.float64) * self.scale + self.offset


def _physical(data: Any, ts: Any, column: int | None = None) -> Any:
    conv = float(getattr(ts, "conversion", 1.0) or 1.0)
    off = float(getattr(ts, "offset", 0.0) or 0.0)
    if column is None and conv == 1.0 and off == 0.0:
        return data
    return _LazyTransformed(data, column, conv, off)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError("file not found", path)
    if not path.is_file():
        raise DataError("not a file (expected an .nwb file)", path)
    if path.stat().st_size == 0 or not h5py.is_hdf5(path):
        raise DataError("not an HDF5 file, so not an NWB file (NWB files are HDF5)", path)
    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("nwb_version")
            groups = sorted(f.keys())
    except OSError as err:
        raise DataError(
            f"cannot open as HDF5, the file is truncated or corrupt ({err})", path
        ) from None
    if version is None:
        raise DataError(
            f"HDF5 file without the 'nwb_version' attribute, so not an NWB file; "
            f"top-level groups: {groups}",
            path,
        )


def _children(obj: Any) -> list[Any]:
    return list(getattr(obj, "children", []) or [])


def _contents(nwb: Any) -> str:
    def names(container: Any) -> list[str]:
        out = []
        for name, obj in container.items():
            kids = [c.name for c in _children(obj) if hasattr(c, "name")]
            out.append(f"{name}[{', '.join(kids)}]" if kids else name)
        return out

    acq = names(nwb.acquisition)
    proc = {m: names(mod.data_interfaces) for m, mod in nwb.processing.items()}
    return f"acquisition: {acq}, processing: {proc}"


def _find_series(container: Any, name: str) -> Any:
    """A TimeSeries named ``name`` in a dict of interfaces, directly or one level down."""
    from pynwb import TimeSeries

    obj = container.get(name)
    if isinstance(obj, TimeSeries):
        return obj
    for obj in container.values():
        for kid in _children(obj):
            if isinstance(kid, TimeSeries) and kid.name == name:
                return kid
    return None


def _series_times(ts: Any) -> tuple[float | None, float, Any]:
    """(rate or None, t0, timestamps dataset or None)."""
    if ts.timestamps is not None:
        stamps = ts.timestamps
        return None, float(stamps[0]) if len(stamps) else 0.0, stamps
    return float(ts.rate), float(ts.starting_time or 0.0), None


def _read_lever(nwb: Any, path: Path, names: NWBNames) -> Lever | None:
    mod = nwb.processing.get(names.behavior_module)
    places = [mod.data_interfaces] if mod is not None else []
    places.append(nwb.acquisition)
    ts = None
    for name in names.lever_series:
        for place in places:
            ts = _find_series(place, name)
            if ts is not None:
                break
        if ts is not None:
            break
    if ts is None:
        if not names.require_lever:
            return None
        raise DataError(
            f"no lever series: looked for {names.lever_series} in "
            f"processing[{names.behavior_module!r}] and acquisition; the file contains: "
            f"{_contents(nwb)}",
            path,
            field="lever",
        )
    data = ts.data
    column = None
    if len(data.shape) == 2:
        if names.lever_column >= data.shape[1]:
            raise DataError(
                f"lever series {ts.name!r} has {data.shape[1]} columns; lever_column="
                f"{names.lever_column} is out of range",
                path,
                field="lever",
            )
        column = names.lever_column
    elif len(data.shape) != 1:
        raise DataError(f"lever series {ts.name!r} has shape {data.shape}", path, field="lever")
    rate, t0, stamps = _series_times(ts)
    if stamps is not None:
        t = np.asarray(stamps[()], dtype=np.float64)
        rate = _regular_rate(t, tol=0.25 * np.median(np.diff(t)) if len(t) > 1 else 0.0)
        if rate is None:
            raise DataError(
                f"lever series {ts.name!r} has irregular timestamps; the Lever model needs a "
                f"regular sampling rate (resample it before writing)",
                path,
                field="lever",
            )
    return Lever(data=_physical(data, ts, column), rate=rate, units=ts.unit or "a.u.", t0=t0)


def _decode(arr: Any) -> Any:
    arr = np.asarray(arr)
    if arr.dtype.kind in "OS" and len(arr) and isinstance(arr.flat[0], bytes):
        return np.array([v.decode() for v in arr], dtype=object)
    return arr


def _scalar_columns(table: Any, skip: set[str]) -> dict[str, np.ndarray]:
    """1-D, non-ragged, non-reference columns of a DynamicTable as numpy arrays."""
    from hdmf.common import DynamicTableRegion, VectorIndex

    out = {}
    for name in table.colnames:
        if name in skip:
            continue
        col = table[name]
        if isinstance(col, VectorIndex | DynamicTableRegion) or not hasattr(col, "data"):
            continue
        data = col.data
        if hasattr(data, "shape") and len(data.shape) != 1:
            continue
        arr = _decode(data[()] if hasattr(data, "shape") else data)
        if arr.dtype.names is not None:  # compound columns are not scalar
            continue
        out[name] = arr
    return out


def _pick(columns: dict[str, Any], candidates: list[str]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _read_trials(nwb: Any, path: Path, names: NWBNames) -> pd.DataFrame | None:
    if nwb.trials is None:
        return None
    cols = _scalar_columns(nwb.trials, set())
    out: dict[str, Any] = {
        "start_time": cols.pop("start_time").astype(np.float64),
        "stop_time": cols.pop("stop_time").astype(np.float64),
    }
    for target, candidates in names.trial_columns.items():
        found = _pick(cols, candidates)
        if found is None:
            if target == "cue_time":
                raise DataError(
                    f"trials table has no cue time column: looked for {candidates}; the table "
                    f"has {list(nwb.trials.colnames)}",
                    path,
                    field="trials.cue_time",
                )
            continue
        out[target] = cols.pop(found)
    out.update(cols)
    df = pd.DataFrame(out)
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype(str)
    return df


def _read_info(nwb: Any, path: Path, names: NWBNames, has_imaging: bool, has_stim: bool) -> dict:
    mod_name, _, table_name = names.metadata_table.partition("/")
    mod = nwb.processing.get(mod_name)
    table = mod.data_interfaces.get(table_name) if mod is not None else None
    start = nwb.session_start_time.isoformat() if nwb.session_start_time else None
    if table is not None:
        cols = _scalar_columns(table, set())
        row = {k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in cols.items()}
        shape = (int(row.pop("image_height", -1)), int(row.pop("image_width", -1)))
        if "session_description" in row:
            row["description"] = row.pop("session_description")
        info = {k: row[k] for k in (*_INFO_COLUMNS, "description") if k in row}
        info["image_shape"] = shape if min(shape) > 0 else None
    else:
        info = {"image_shape": None}
        mouse = nwb.subject.subject_id if nwb.subject is not None else None
        m = re.match(r"^sub-(?P<mouse>[^_]+)_ses-(?P<session>\d+)", path.name)
        sid = re.search(r"ses-(\d+)", nwb.session_id or "") if nwb.session_id else None
        if mouse is None and m is not None:
            mouse = m["mouse"]
        if mouse is None:
            raise DataError(
                "no subject: the file has no subject.subject_id and its name is not "
                "sub-<mouse>_ses-<n>.nwb",
                path,
                field="subject",
            )
        if sid is not None:
            session = int(sid.group(1))
        elif m is not None:
            session = int(m["session"])
        elif nwb.session_id and nwb.session_id.isdigit():
            session = int(nwb.session_id)
        else:
            raise DataError(
                f"no session number: session_id {nwb.session_id!r} has no 'ses-<n>' and the "
                f"file name is not sub-<mouse>_ses-<n>.nwb",
                path,
                field="session_id",
            )
        experiment = names.default_experiment
        if experiment is None:
            raw = [] if nwb.keywords is None else _as_array(nwb.keywords).ravel().tolist()
            keywords = [k.decode() if isinstance(k, bytes) else str(k) for k in raw]
            experiment = next((k for k in keywords if k in EXPERIMENT_KINDS), None)
        if experiment is None:
            experiment = (
                "all_optical"
                if has_imaging and has_stim
                else "inactivation"
                if has_stim
                else "axon_imaging"
            )
        info.update(
            mouse=str(mouse).replace("_", "-"),
            session=session,
            experiment=experiment,
            region=names.default_region,
            indicator=names.default_indicator,
            description=nwb.session_description or "",
        )
        planes = list(nwb.imaging_planes.values())
        if planes and planes[0].indicator:
            info["indicator"] = planes[0].indicator
    if start is not None:
        info["session_start_time"] = start
    return info


def _read_imaging(nwb: Any, path: Path, names: NWBNames, info: dict) -> Imaging | None:
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation

    mod = nwb.processing.get(names.ophys_module)
    if mod is None:
        return None
    interfaces = mod.data_interfaces
    segs = [o for o in interfaces.values() if isinstance(o, ImageSegmentation)]
    planes = [ps for s in segs for ps in s.plane_segmentations.values()]
    fluo = sorted(
        (o for o in interfaces.values() if isinstance(o, Fluorescence)),
        key=lambda o: (o.name != "Fluorescence", o.name == "Deconvolved"),
    )
    dffs = [o for o in interfaces.values() if isinstance(o, DfOverF)]
    if not planes and not fluo and not dffs:
        return None

    def find(kind: str, containers: list[Any], exclude: set[int]) -> Any:
        for name in names.response_series[kind]:
            for c in containers:
                s = c.roi_response_series.get(name)
                if s is not None and id(s) not in exclude:
                    return s
        return None

    used: set[int] = set()
    found = {}
    for kind, containers in (
        ("F", [c for c in fluo if c.name != "Deconvolved"] or fluo),
        ("Fneu", fluo),
        ("events", sorted(fluo, key=lambda c: c.name != "Deconvolved")),
        ("dff", dffs),
    ):
        s = find(kind, containers, used)
        if s is not None:
            used.add(id(s))
        found[kind] = s
    if found["F"] is None:
        raise DataError(
            f"no raw fluorescence series: looked for {names.response_series['F']} in the "
            f"Fluorescence containers of processing[{names.ophys_module!r}]; the file contains: "
            f"{_contents(nwb)}",
            path,
            field="imaging.F",
        )
    F = found["F"]
    if len(F.data.shape) != 2:
        raise DataError(
            f"RoiResponseSeries {F.name!r} has shape {F.data.shape}; expected (frames, ROIs)",
            path,
            field="imaging.F",
        )
    n_frames, n_rois = F.data.shape
    ps = F.rois.table if F.rois is not None else (planes[0] if planes else None)
    rate, t0, stamps = _series_times(F)
    frame_times = stamps if stamps is not None else t0 + np.arange(n_frames) / rate

    # ROI table
    region_default = info.get("region") or names.default_region
    roi_type_default = names.default_roi_type or (
        "bouton" if info.get("experiment") == "axon_imaging" else "soma"
    )
    footprints, image_shape = None, info.get("image_shape")
    if ps is not None:
        cols = _scalar_columns(ps, {"image_mask"})
        ids = np.asarray(ps.id.data[()])
        if F.rois is not None:  # the series' own ROI selection, in its order
            sel = np.asarray(F.rois.data[()], dtype=np.int64)
            cols = {k: v[sel] for k, v in cols.items()}
            ids = ids[sel]
        else:
            sel = np.arange(len(ids))
        rois: dict[str, Any] = {}
        for target, candidates in names.roi_columns.items():
            found_col = _pick(cols, candidates)
            if found_col is not None:
                rois[target] = cols.pop(found_col).astype(str)
        rois.setdefault("roi_name", np.array([f"roi{i:04d}" for i in ids], dtype=object))
        rois.setdefault("roi_type", np.full(len(ids), roi_type_default, dtype=object))
        rois.setdefault("region", np.full(len(ids), region_default, dtype=object))
        rois.update(cols)
        roi_df = pd.DataFrame(rois)
        for c in roi_df.columns:
            if roi_df[c].dtype == object:
                roi_df[c] = roi_df[c].astype(str)
        footprints, shape_from_masks = _read_masks(ps, sel)
        image_shape = image_shape or shape_from_masks
    else:
        roi_df = pd.DataFrame(
            {
                "roi_name": [f"roi{i:04d}" for i in range(n_rois)],
                "roi_type": roi_type_default,
                "region": region_default,
            }
        )
    if len(roi_df) != n_rois:
        raise DataError(
            f"ROI table has {len(roi_df)} rows but {F.name!r} has {n_rois} columns",
            path,
            field="imaging.rois",
        )
    mean_image = None
    summary = interfaces.get("SummaryImages")
    if summary is not None and "mean" in getattr(summary, "images", {}):
        mean_image = np.asarray(summary.images["mean"].data[()], dtype=np.float32)
        image_shape = image_shape or tuple(mean_image.shape[:2])
    traces = {}
    for kind in ("Fneu", "dff", "events"):
        s = found[kind]
        if s is not None and tuple(s.data.shape) != (n_frames, n_rois):
            raise DataError(
                f"{kind} series {s.name!r} has shape {s.data.shape}; expected "
                f"{(n_frames, n_rois)} like {F.name!r}",
                path,
                field=f"imaging.{kind}",
            )
        traces[kind] = None if s is None else _physical(s.data, s)
    return Imaging(
        rois=roi_df,
        F=_physical(F.data, F),
        frame_times=frame_times,
        footprints=footprints,
        image_shape=image_shape,
        mean_image=mean_image,
        **traces,
    )


def _read_masks(ps: Any, sel: np.ndarray) -> tuple[list | None, tuple | None]:
    """Footprints [y, x, weight] per selected ROI from pixel_mask (or image_mask)."""
    from hdmf.common import VectorIndex

    if "pixel_mask" in ps.colnames:
        vi = ps["pixel_mask"]
        if isinstance(vi, VectorIndex):
            ends = np.asarray(vi.data[()], dtype=np.int64)
            values = vi.target.data[()] if len(vi.target.data) else np.zeros(0)
            if len(values) == 0:
                return None, None
            values = np.asarray(values)
            if values.dtype.names is not None:
                x, y, w = (values[f].astype(np.float64) for f in values.dtype.names[:3])
            else:
                x, y, w = (values[:, i].astype(np.float64) for i in range(3))
            yxw = np.column_stack([y, x, w])
            starts = np.concatenate([[0], ends[:-1]])
            return [yxw[starts[i] : ends[i]] for i in sel], None
    if "image_mask" in ps.colnames:
        masks = ps["image_mask"].data
        out = []
        for i in sel:
            m = np.asarray(masks[int(i)])
            yy, xx = np.nonzero(m)
            out.append(np.column_stack([yy, xx, m[yy, xx]]).astype(np.float64))
        return out, tuple(masks.shape[1:3])
    return None, None


def _read_stimulation(nwb: Any, path: Path, names: NWBNames) -> Stimulation | None:
    from pynwb.ogen import OptogeneticSeries

    sites = list(nwb.ogen_sites.values())
    site = sites[0] if sites else None
    table = next((nwb.intervals[n] for n in names.pulse_tables if n in nwb.intervals), None)
    default_target = site.location if site is not None else "unknown"
    if table is not None:
        cols = _scalar_columns(table, set())
        start = cols.pop("start_time").astype(np.float64)
        stop = cols.pop("stop_time").astype(np.float64)
        pulses: dict[str, Any] = {"start_time": start, "duration": stop - start}
        p = _pick(cols, names.pulse_columns["power"])
        pulses["power"] = (
            cols.pop(p).astype(np.float64) if p is not None else np.full(len(start), np.nan)
        )
        tcol = _pick(cols, names.pulse_columns["target"])
        pulses["target"] = (
            cols.pop(tcol).astype(str)
            if tcol is not None
            else np.full(len(start), default_target, dtype=object)
        )
        pulses.update(cols)
        df = pd.DataFrame(pulses)
    else:
        series = [
            s
            for place in (nwb.stimulus, nwb.acquisition)
            for s in place.values()
            if isinstance(s, OptogeneticSeries)
        ]
        if not series:
            return None
        s = series[0]
        site = s.site
        df = _pulses_from_series(s, site.location if site is not None else "unknown")
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype(str)
    return Stimulation(
        pulses=df,
        wavelength_nm=float(site.excitation_lambda) if site is not None else float("nan"),
        site_description=site.description if site is not None else "",
        device=site.device.name if site is not None and site.device is not None else "",
    )


def _pulses_from_series(s: Any, target: str) -> pd.DataFrame:
    """Pulses (power > 0 bouts) of an OptogeneticSeries in W, for files without a pulse table."""
    v = np.asarray(s.data[()], dtype=np.float64) * float(s.conversion or 1.0)
    if v.ndim == 2:
        v = v.max(axis=1)
    rate, t0, stamps = _series_times(s)
    t = np.asarray(stamps[()], np.float64) if stamps is not None else t0 + np.arange(len(v)) / rate
    on = v > 0
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    # a bout ends at the first sample that is off (or, for sampled series, one period later)
    end_t = np.array([t[j] if j < len(t) else t[-1] + (1.0 / rate if rate else 0.0) for j in stops])
    power = np.array([v[a:b].max() * 1000.0 for a, b in zip(starts, stops)])
    return pd.DataFrame(
        {
            "start_time": t[starts],
            "duration": end_t - t[starts],
            "power": power,
            "target": [target] * len(starts),
        }
    )


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _read_movie(nwb: Any, path: Path, names: NWBNames) -> RawMovie | None:
    """The raw movie: a TwoPhotonSeries in acquisition (external files or internal frames)."""
    from pynwb.ophys import TwoPhotonSeries

    found = [o for o in nwb.acquisition.values() if isinstance(o, TwoPhotonSeries)]
    if not found:
        return None
    by_name = {o.name: o for o in found}
    ts = next((by_name[n] for n in names.movie_series if n in by_name), None)
    if ts is None:
        if len(found) > 1:
            raise DataError(
                f"several TwoPhotonSeries in acquisition ({sorted(by_name)}) and none is named "
                f"{names.movie_series}; set data.movie_series",
                path,
                field="acquisition",
            )
        ts = found[0]
    rate, t0, stamps = _series_times(ts)
    rate = np.nan if rate is None else rate
    where = f"acquisition/{ts.name}"
    if stamps is not None:
        rate = 1.0 / float(np.median(np.diff(stamps[:]))) if len(stamps) > 1 else np.nan
    if not (np.isfinite(rate) and rate > 0):
        rate = float(getattr(ts.imaging_plane, "imaging_rate", np.nan) or np.nan)
    if not (np.isfinite(rate) and rate > 0):
        raise DataError("no frame rate (rate, timestamps or imaging_rate)", path, field=where)
    external = getattr(ts, "external_file", None)
    common = {"rate": float(rate), "starting_time": float(t0 or 0.0), "frame_times": stamps}
    try:
        if external is not None and len(external) > 0:
            files = [f.decode() if isinstance(f, bytes) else str(f) for f in external[:]]
            start = ts.starting_frame
            return RawMovie(
                files=files,
                starting_frame=None if start is None else [int(v) for v in start],
                n_frames=len(stamps) if stamps is not None else _opt_int(ts.num_samples),
                base=path.parent,
                **common,
            )
        if ts.data is None or len(ts.data.shape) != 3:
            raise DataError(
                "expected internal frames (frames x height x width) or external_file",
                path,
                field=where,
            )
        return RawMovie(data=ts.data, **common)
    except ValueError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(str(err), path, field=where) from None


def _session_from_nwbfile(nwb: Any, path: Path, names: NWBNames) -> Session:
    lever = _read_lever(nwb, path, names)
    trials = _read_trials(nwb, path, names)
    stim = _read_stimulation(nwb, path, names)
    movie = _read_movie(nwb, path, names)
    mod = nwb.processing.get(names.ophys_module)
    has_imaging = (mod is not None and len(mod.data_interfaces) > 0) or movie is not None
    info = _read_info(nwb, path, names, has_imaging, stim is not None)
    imaging = _read_imaging(nwb, path, names, info)
    image_shape = info.pop("image_shape", None)
    if imaging is not None and imaging.image_shape is None and image_shape is not None:
        imaging.image_shape = image_shape
    if not np.isfinite(info.get("frame_rate", np.nan)):
        # the ROI traces' frames, else the raw movie's (a file holding only raw frames)
        if imaging is not None:
            info["frame_rate"] = imaging.frame_rate
        elif movie is not None:
            info["frame_rate"] = movie.rate
    try:
        session_info = SessionInfo(**info)
    except (TypeError, ValueError) as err:
        raise DataError(f"invalid session metadata: {err}", path, field="session_info") from None
    try:
        return Session(
            info=session_info,
            lever=lever,
            trials=trials,
            imaging=imaging,
            stimulation=stim,
            source=str(path),
            movie=movie,
        )
    except ValueError as err:
        raise DataError(str(err), path) from None


def read_session(
    path: str | os.PathLike, names: NWBNames | None = None, lazy: bool = True
) -> Session:
    """Read one session from an NWB file.

    Parameters
    ----------
    path : path-like
        An NWB (HDF5) file, written by :func:`write_session` or by another tool.
    names : NWBNames, optional
        Where to look for each part in files written by other tools.
    lazy : bool
        True: traces and the lever stay ``h5py.Dataset`` objects and the file stays open until
        ``session.close()`` (use ``with read_session(p) as s:``); ``session.load()`` reads
        them. False: everything is read and the file is closed before returning.

    Returns
    -------
    Session

    Raises
    ------
    DataError
        Missing file, not HDF5/NWB, truncated or corrupt file, or a required part (the lever,
        the raw fluorescence of an imaging module, the trials' cue times) is missing; the
        message names the file, what was looked for and what the file contains.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    names = names or NWBNames()
    _check_file(path)
    try:
        io = NWBHDF5IO(str(path), "r")
    except Exception as err:
        raise DataError(f"cannot open as NWB ({type(err).__name__}: {err})", path) from None
    try:
        nwb = io.read()
        session = _session_from_nwbfile(nwb, path, names)
        if not lazy:
            session.load()
    except DataError:
        io.close()
        raise
    except Exception as err:
        io.close()
        raise DataError(
            f"cannot read as NWB, the file may be truncated or corrupt "
            f"({type(err).__name__}: {err})",
            path,
        ) from None
    if lazy:
        session._closer = io.close
    else:
        io.close()
    return session
