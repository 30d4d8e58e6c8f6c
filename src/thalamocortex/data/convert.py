"""Bring your own data: a lab's recordings -> a DANDI-layout NWB dataset (``convert``).

A *sessions sheet* (CSV or TSV, one row per session) says what each session is and where its
files are; paths are relative to the sheet's folder. Columns (``*`` = required):

=====================  =========================================================================
column                 meaning
=====================  =========================================================================
``mouse`` *            subject label (no ``_``, ``/`` or spaces: DANDI ``sub-<mouse>``)
``session`` *          session number (1 = first training day)
``experiment`` *       ``axon_imaging``, ``all_optical``, ``inactivation`` or ``imaging`` (an
                       imaging session outside the study's experiments: no light stimulation,
                       lever optional)
``region`` *           source region of the imaged ROIs (``MTh``, ``M2``, ``M1``...)
``roi_type``           ``soma`` or ``bouton``; required for ``imaging`` sessions with a movie or a
                       suite2p folder (never guessed); axon imaging implies boutons and the
                       all-optical experiment somata
``day``                training day (default: ``session``)
``indicator``          e.g. ``GCaMP6s`` (default ``unknown``)
``opsin``              e.g. ``ChrimsonR`` (default ``none``)
``frame_rate``         imaging frame rate (Hz); needed for a movie unless its ScanImage header
                       says it
``movie``              raw movie: a file, a glob (``run1_*.tif``: a ScanImage series, files in
                       natural order) or a folder of TIFF files
``movie_format``       ``tiff`` (default for ``.tif``/``.tiff``), ``scanimage``, or another
                       neuroconv imaging interface (``sbx``, ``hdf5``, ``brukertiff``,
                       ``micromanagertiff``, ``thor``, ``femtonics``...; frames are then copied
                       into the NWB file)
``movie_t0``           session time of the first frame (s, default 0)
``suite2p``            a suite2p output folder (its cells become the session's ROIs)
``lever``              lever trace: ``.csv``/``.tsv`` (one column, or ``lever_key`` names it; a
                       ``time`` column gives the rate), ``.npy``, ``.mat`` or ``.h5``/``.hdf5``
                       (``lever_key`` = variable or dataset path)
``lever_key``          column / variable / dataset of the lever in its file
``lever_rate``         lever sampling rate (Hz), unless the file has a ``time`` column
``lever_unit``         unit of the lever values (``mm``, ``V``, ``deg``...), required with a lever
``lever_t0``           session time of the first lever sample (s, default 0)
``events``             trial events, ``.csv``/``.tsv``: either one row per event (``time``,
                       ``event`` in ``cue``/``reward``/``light``) or one row per trial
                       (``cue_time``, optional ``reward_time``, ``light``, ``outcome``,
                       ``start_time``, ``stop_time``)
``pulses``             light pulses, ``.csv``/``.tsv``: ``start_time``, ``duration`` (s),
                       optional ``power`` (mW), ``target``
``light_wavelength``   wavelength of the stimulation light (nm)
``light_target``       what was illuminated, when ``pulses`` has no ``target`` column
``session_start_time`` ISO-8601 time (default: a fixed placeholder date, UTC)
``description``        free text
=====================  =========================================================================

Times are seconds on one session clock. A trial built from events starts at its cue and
stops at the next cue (the last one at the end of the lever recording or 1 median inter-cue
interval later), as in the simulator; a reward or light event inside it marks it rewarded
(``outcome`` ``hit``/``miss``) or light-on.

Raw movies (``movie_mode``):

* ``external`` (default): TIFF files are placed inside the dataset beside the session file
  (hard link when the file system allows, else a streamed copy; frames are never read) and
  referenced from the NWB ``TwoPhotonSeries`` (``format="external"``, ``starting_frame`` per
  file) — the NWB convention for raw data kept in its acquisition format;
* ``reference``: TIFF files are referenced where they are (relative paths; the dataset then
  depends on them staying there);
* ``internal``: frames are copied into the NWB file by neuroconv's imaging interface in chunks
  (``iterator_type="v2"``, bounded memory). Formats other than plain TIFF always go this way.

neuroconv's interfaces read the formats (ScanImage headers, Bruker, sbx, HDF5...); this
module's own code only maps a lab's sheet, lever and event files onto the data model, which
no library does for this task.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.data.model import (
    EXPERIMENT_KINDS,
    KIND_ROI_TYPE,
    Imaging,
    Lever,
    RawMovie,
    Session,
    SessionInfo,
    Stimulation,
)

__all__ = [
    "MOVIE_MODES",
    "SHEET_COLUMNS",
    "convert",
    "convert_session",
    "read_events",
    "read_lever",
    "read_pulses",
    "read_sessions_sheet",
]

MOVIE_MODES: tuple[str, ...] = ("external", "reference", "internal")

#: every column the sessions sheet may have (others are an error: a typo must not be ignored)
SHEET_COLUMNS: tuple[str, ...] = (
    "mouse",
    "session",
    "experiment",
    "region",
    "roi_type",
    "day",
    "indicator",
    "opsin",
    "frame_rate",
    "movie",
    "movie_format",
    "movie_t0",
    "suite2p",
    "lever",
    "lever_key",
    "lever_rate",
    "lever_unit",
    "lever_t0",
    "events",
    "pulses",
    "light_wavelength",
    "light_target",
    "session_start_time",
    "description",
)
_REQUIRED = ("mouse", "session", "experiment", "region")

#: movie_format -> neuroconv imaging interface (frames copied into the NWB file)
NEUROCONV_IMAGING = {
    "tiff": "TiffImagingInterface",
    "scanimage": "ScanImageImagingInterface",
    "sbx": "SbxImagingInterface",
    "hdf5": "Hdf5ImagingInterface",
    "brukertiff": "BrukerTiffSinglePlaneImagingInterface",
    "micromanagertiff": "MicroManagerTiffImagingInterface",
    "thor": "ThorImagingInterface",
    "femtonics": "FemtonicsImagingInterface",
}

_EVENT_NAMES = {
    "cue": ("cue", "tone", "go", "go_cue", "cue_on", "cue_onset"),
    "reward": ("reward", "water", "reward_on", "valve"),
    "light": ("light", "laser", "opto", "stim", "light_on", "laser_on"),
}


# --- tables ------------------------------------------------------------------------------------


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """A CSV (``,``) or TSV (``.tsv``/``.tab``/``.txt``: tab) file with a header row."""
    if not path.is_file():
        raise DataError(f"{what} file not found", path)
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab", ".txt") else ","
    try:
        df = pd.read_csv(path, sep=sep, na_values=["n/a", "NA", ""], keep_default_na=True)
    except Exception as err:  # pandas raises several types on malformed text
        raise DataError(
            f"cannot read as a {what} table ({type(err).__name__}: {err})", path
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


@dataclasses.dataclass
class SheetRow:
    """One session of the sessions sheet, with paths resolved against the sheet's folder."""

    values: dict[str, Any]
    sheet: Path
    line: int

    def get(self, key: str, default: Any = None) -> Any:
        v = self.values.get(key)
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v):
            return default
        return v.strip() if isinstance(v, str) else v

    def number(self, key: str, default: float | None = None) -> float | None:
        v = self.get(key)
        if v is None:
            return default
        try:
            return float(v)
        except (TypeError, ValueError):
            raise self.error(key, f"expected a number, got {v!r}") from None

    def path(self, key: str) -> Path | None:
        v = self.get(key)
        if v is None:
            return None
        p = Path(str(v)).expanduser()
        return p if p.is_absolute() else self.sheet.parent / p

    def error(self, key: str, msg: str) -> DataError:
        return DataError(f"line {self.line}: {msg}", self.sheet, field=key)

    @property
    def label(self) -> str:
        return f"sub-{self.get('mouse')}_ses-{self.get('session')}"


def read_sessions_sheet(path: str | os.PathLike) -> list[SheetRow]:
    """The rows of a sessions sheet (CSV/TSV), checked for required and unknown columns.

    Raises
    ------
    DataError
        Missing file, unknown or missing columns, empty sheet, duplicate sessions.
    """
    path = Path(path)
    df = _read_table(path, "sessions sheet")
    unknown = [c for c in df.columns if c not in SHEET_COLUMNS]
    if unknown:
        raise DataError(
            f"unknown columns {unknown}; the sheet's columns are {list(SHEET_COLUMNS)}",
            path,
            field="columns",
        )
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"missing required columns {missing}", path, field="columns")
    if df.empty:
        raise DataError("the sheet has no sessions", path)
    df = df.astype(object).where(df.notna(), None)
    rows = [SheetRow(dict(r), path, i + 2) for i, r in enumerate(df.to_dict("records"))]
    seen: dict[tuple, int] = {}
    for r in rows:
        key = (str(r.get("mouse")), str(r.get("session")))
        if key in seen:
            raise r.error("session", f"{r.label} is also on line {seen[key]}")
        seen[key] = r.line
    return rows


# --- lever ------------------------------------------------------------------------------------


def read_lever(
    path: str | os.PathLike,
    rate: float | None,
    unit: str | None,
    key: str | None = None,
    t0: float = 0.0,
) -> Lever:
    """A lever trace from CSV/TSV, NPY, MAT or HDF5.

    Parameters
    ----------
    path : path-like
        ``.csv``/``.tsv`` (the only column, the column ``key``, or beside a ``time`` column in
        s), ``.npy`` (1-D, or 2-D with ``key`` the column index), ``.mat`` (variable ``key``;
        MATLAB v7.3 files are HDF5) or ``.h5``/``.hdf5`` (dataset path ``key``).
    rate : float or None
        Sampling rate (Hz); None only when the file has a regular ``time`` column.
    unit : str
        Unit of the values (``mm``, ``V``...).
    key : str, optional
    t0 : float
        Session time of the first sample (s); a ``time`` column overrides it.

    Returns
    -------
    Lever (float64 samples)
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("lever file not found", path, field="lever")
    if not unit:
        raise DataError("the lever's unit is not given (lever_unit)", path, field="lever_unit")
    suffix = path.suffix.lower()
    times = None
    if suffix in (".csv", ".tsv", ".tab", ".txt"):
        df = _read_table(path, "lever")
        if "time" in df.columns:
            times = pd.to_numeric(df.pop("time"), errors="coerce").to_numpy(np.float64)
        if key is not None:
            if key not in df.columns:
                raise DataError(f"no column {key!r}; has {list(df.columns)}", path, "lever_key")
            col = df[key]
        elif df.shape[1] == 1:
            col = df.iloc[:, 0]
        else:
            raise DataError(
                f"{df.shape[1]} columns {list(df.columns)}: name the lever's in lever_key",
                path,
                field="lever_key",
            )
        values = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
    elif suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        if arr.ndim == 2:
            if key is None:
                raise DataError(f"2-D array {arr.shape}: give the column in lever_key", path)
            arr = arr[:, int(key)]
        values = np.asarray(arr, np.float64)
    elif suffix == ".mat":
        values = _read_mat(path, key)
    elif suffix in (".h5", ".hdf5", ".hdf"):
        values = _read_h5(path, key)
    else:
        raise DataError(
            f"unsupported lever format {suffix!r}; expected .csv, .tsv, .npy, .mat, .h5", path
        )
    if values.ndim != 1:
        raise DataError(f"expected a 1-D lever trace, got shape {values.shape}", path, "lever")
    if times is not None:
        if len(times) < 2 or not np.all(np.diff(times) > 0):
            raise DataError("the time column is not increasing", path, field="time")
        dt = np.diff(times)
        if np.max(np.abs(dt - np.median(dt))) > 0.25 * np.median(dt):
            raise DataError(
                "the time column is irregular; resample the lever to a regular rate first",
                path,
                field="time",
            )
        measured = 1.0 / float(np.median(dt))
        if rate is not None and abs(measured - rate) > 0.01 * rate:
            raise DataError(
                f"lever_rate {rate} Hz disagrees with the time column ({measured:.3f} Hz)",
                path,
                field="lever_rate",
            )
        rate, t0 = (rate or measured), float(times[0])
    if rate is None:
        raise DataError("the lever's sampling rate is not given (lever_rate)", path, "lever_rate")
    return Lever(data=values, rate=float(rate), units=str(unit), t0=float(t0))


def _read_mat(path: Path, key: str | None) -> np.ndarray:
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, squeeze_me=True)
    except NotImplementedError:  # MATLAB v7.3: HDF5 inside
        return _read_h5(path, key)
    except Exception as err:
        raise DataError(f"cannot read as MATLAB ({type(err).__name__}: {err})", path) from None
    names = [k for k in mat if not k.startswith("__")]
    if key is None:
        if len(names) != 1:
            raise DataError(f"variables {names}: name the lever's in lever_key", path, "lever_key")
        key = names[0]
    if key not in mat:
        raise DataError(f"no variable {key!r}; the file has {names}", path, field="lever_key")
    return np.asarray(mat[key], np.float64).ravel()


def _read_h5(path: Path, key: str | None) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        found: list[str] = []
        f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
        if key is None:
            if len(found) != 1:
                raise DataError(
                    f"datasets {found[:20]}: name the lever's in lever_key", path, "lever_key"
                )
            key = found[0]
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise DataError(f"no dataset {key!r}; the file has {found[:20]}", path, "lever_key")
        return np.asarray(f[key][()], np.float64).squeeze()


# --- events and pulses --------------------------------------------------------------------------


def _event_kind(name: str) -> str | None:
    n = str(name).strip().lower()
    return next((k for k, names in _EVENT_NAMES.items() if n in names), None)


def read_events(path: str | os.PathLike, end_time: float | None = None) -> pd.DataFrame:
    """The trials table from a trial-events file.

    Parameters
    ----------
    path : path-like
        CSV/TSV with either ``time`` and ``event`` columns (one row per cue, reward or light
        event; other event names are an error) or one row per trial with ``cue_time``.
    end_time : float, optional
        Session time the last trial stops at (default: last cue + median inter-cue interval).

    Returns
    -------
    DataFrame with ``start_time``, ``stop_time``, ``cue_time``, ``reward_time`` (NaN when not
    rewarded), ``outcome`` (``hit``/``miss``), ``light`` (bool).
    """
    path = Path(path)
    df = _read_table(path, "events")
    if "cue_time" in df.columns:
        cues = pd.to_numeric(df["cue_time"], errors="coerce").to_numpy(np.float64)
        reward = (
            pd.to_numeric(df["reward_time"], errors="coerce").to_numpy(np.float64)
            if "reward_time" in df
            else np.full(len(df), np.nan)
        )
        light = df["light"].astype(bool).to_numpy() if "light" in df else np.zeros(len(df), bool)
        extra = df.drop(columns=[c for c in ("cue_time", "reward_time", "light") if c in df])
    elif {"time", "event"} <= set(df.columns):
        kinds = df["event"].map(_event_kind)
        bad = sorted(set(df.loc[kinds.isna(), "event"].astype(str)))
        if bad:
            raise DataError(
                f"unknown event names {bad}; expected cue, reward or light (or "
                f"{sorted(n for v in _EVENT_NAMES.values() for n in v)})",
                path,
                field="event",
            )
        t = pd.to_numeric(df["time"], errors="coerce").to_numpy(np.float64)
        if not np.all(np.isfinite(t)):
            raise DataError("non-numeric or missing event times", path, field="time")
        cues = np.sort(t[kinds.to_numpy() == "cue"])
        edges = np.append(cues, np.inf)
        reward = np.full(len(cues), np.nan)
        light = np.zeros(len(cues), bool)
        for kind in ("reward", "light"):
            times = np.sort(t[kinds.to_numpy() == kind])
            k = np.searchsorted(edges, times, side="right") - 1  # trial each event falls in
            ok = k >= 0
            if kind == "reward":
                for i, tt in zip(k[ok], times[ok]):
                    if np.isnan(reward[i]):
                        reward[i] = tt  # the first reward of a trial
            else:
                light[k[ok]] = True
        extra = pd.DataFrame(index=range(len(cues)))
    else:
        raise DataError(
            f"expected columns time + event (one row per event) or cue_time (one row per "
            f"trial); has {list(df.columns)}",
            path,
            field="columns",
        )
    if len(cues) == 0:
        raise DataError("no cue events", path, field="event")
    if not np.all(np.isfinite(cues)) or np.any(np.diff(cues) <= 0):
        raise DataError("cue times must be finite and increasing", path, field="cue_time")
    if "start_time" in extra and "stop_time" in extra:
        start = pd.to_numeric(extra.pop("start_time"), errors="coerce").to_numpy(np.float64)
        stop = pd.to_numeric(extra.pop("stop_time"), errors="coerce").to_numpy(np.float64)
    else:
        extra = extra.drop(columns=[c for c in ("start_time", "stop_time") if c in extra])
        gap = float(np.median(np.diff(cues))) if len(cues) > 1 else 10.0
        last = end_time if end_time is not None and end_time > cues[-1] else cues[-1] + gap
        start, stop = cues, np.append(cues[1:], last)
    trials = pd.DataFrame(
        {
            "start_time": start,
            "stop_time": stop,
            "cue_time": cues,
            "reward_time": reward,
            "light": light,
        }
    )
    if "outcome" not in extra:
        trials["outcome"] = np.where(np.isfinite(reward), "hit", "miss")
    return pd.concat([trials, extra.reset_index(drop=True)], axis=1)


def read_pulses(path: str | os.PathLike, target: str | None = None) -> pd.DataFrame:
    """Light pulses from CSV/TSV: ``start_time``, ``duration`` (s), optional ``power`` (mW),
    ``target`` (default ``target`` argument, else ``"unknown"``), extra columns kept."""
    path = Path(path)
    df = _read_table(path, "pulses")
    missing = [c for c in ("start_time", "duration") if c not in df]
    if missing:
        raise DataError(f"missing columns {missing}; has {list(df.columns)}", path, "columns")
    for c in ("start_time", "duration"):
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any() or (c == "duration" and (v < 0).any()):
            raise DataError(f"{c} must be numbers (durations >= 0)", path, field=c)
        df[c] = v.astype(np.float64)
    if "power" not in df:
        df["power"] = np.nan
    if "target" not in df:
        df["target"] = target or "unknown"
    return df


# --- movies -------------------------------------------------------------------------------------


def _movie_files(row: SheetRow) -> list[Path]:
    spec = row.get("movie")
    base = row.sheet.parent
    p = Path(str(spec)).expanduser()
    p = p if p.is_absolute() else base / p
    if p.is_dir() and str(row.get("movie_format", "")).lower() in _FOLDER_FORMATS:
        files = [p]  # the acquisition folder itself
    elif p.is_dir():
        files = [f for f in p.iterdir() if f.suffix.lower() in (".tif", ".tiff")]
    elif any(ch in p.name for ch in "*?["):
        files = list(p.parent.glob(p.name))
    else:
        files = [p] if p.exists() else []
    if not files:
        raise row.error("movie", f"no movie file matches {str(spec)!r} (relative to {base})")
    return sorted(files, key=_natural_key)


def _movie_format(row: SheetRow, files: list[Path]) -> str:
    fmt = str(row.get("movie_format", "") or "").lower()
    if not fmt:
        if all(f.suffix.lower() in (".tif", ".tiff") for f in files):
            return "tiff"
        raise row.error(
            "movie_format",
            f"cannot tell the format of {files[0].name}; set movie_format to one of "
            f"{sorted(NEUROCONV_IMAGING)}",
        )
    if fmt not in NEUROCONV_IMAGING:
        raise row.error("movie_format", f"{fmt!r} is not one of {sorted(NEUROCONV_IMAGING)}")
    return fmt


_FOLDER_FORMATS = ("brukertiff", "micromanagertiff")


def _neuroconv_interface(fmt: str, files: list[Path], rate: float | None):
    """The neuroconv imaging interface reading ``files`` (lazy; frames read when written)."""
    import neuroconv.datainterfaces as ndi

    cls = getattr(ndi, NEUROCONV_IMAGING[fmt])
    if fmt == "tiff":
        return cls(file_paths=files, sampling_frequency=rate)
    if fmt == "scanimage":
        return cls(file_paths=files) if len(files) > 1 else cls(file_path=files[0])
    if fmt in _FOLDER_FORMATS:
        return cls(folder_path=files[0] if files[0].is_dir() else files[0].parent)
    if fmt in ("sbx", "hdf5"):
        return cls(file_path=files[0], sampling_frequency=rate)
    return cls(file_path=files[0])  # thor, femtonics: the rate is in the file


def _place_movie(files: list[Path], folder: Path) -> list[Path]:
    """Hard-link (else stream-copy) movie files into ``folder``; never reads the frames."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        dest = folder / f.name
        if dest.exists():
            if dest.stat().st_size != f.stat().st_size:
                raise DataError(f"{dest} exists with a different size", f, field="movie")
        else:
            try:
                os.link(f, dest)
            except OSError:
                shutil.copyfile(f, dest)  # streamed in blocks
        out.append(dest)
    return out


# --- sessions -----------------------------------------------------------------------------------


def _info(row: SheetRow, frame_rate: float) -> SessionInfo:
    kind = row.get("experiment")
    if kind not in EXPERIMENT_KINDS:
        raise row.error("experiment", f"{kind!r} is not one of {list(EXPERIMENT_KINDS)}")
    try:
        session = int(float(row.get("session")))
        day = int(float(row.get("day"))) if row.get("day") is not None else None
    except (TypeError, ValueError):
        raise row.error("session", "session and day must be integers") from None
    roi_type = row.get("roi_type")
    implied = KIND_ROI_TYPE.get(kind)
    if roi_type is not None and implied is not None and roi_type != implied:
        raise row.error(
            "roi_type",
            f"roi_type {roi_type!r} contradicts experiment {kind!r}, which images "
            f"{implied}s; use experiment 'imaging' for other recordings",
        )
    kw: dict[str, Any] = {}
    if row.get("session_start_time"):
        kw["session_start_time"] = str(row.get("session_start_time"))
    try:
        return SessionInfo(
            mouse=str(row.get("mouse")),
            session=session,
            experiment=kind,
            region=str(row.get("region")),
            indicator=str(row.get("indicator", "unknown")),
            frame_rate=frame_rate,
            day=day,
            opsin=str(row.get("opsin", "none")),
            description=str(row.get("description", "")),
            roi_type=roi_type,
            **kw,
        )
    except ValueError as err:
        raise row.error("session", str(err)) from None


def build_session(row: SheetRow, out_file: Path, movie_mode: str = "external"):
    """The :class:`Session` of one sheet row and the NWB additions it needs.

    Returns
    -------
    session : Session
    additions : list of callables ``f(nwbfile)`` (a neuroconv interface adding frames)
    """
    if movie_mode not in MOVIE_MODES:
        raise DataError(f"movie mode {movie_mode!r} is not one of {list(MOVIE_MODES)}")
    kind = row.get("experiment")
    has_movie = row.get("movie") is not None
    has_s2p = row.get("suite2p") is not None
    if (has_movie or has_s2p) and row.get("roi_type") is None and KIND_ROI_TYPE.get(kind) is None:
        raise row.error(
            "roi_type",
            f"{row.label}: experiment {kind!r} implies no ROI type; declare roi_type soma or "
            f"bouton (somata and boutons are segmented differently, so it is not guessed)",
        )
    if kind == "imaging" and row.get("pulses") is not None:
        raise row.error(
            "pulses",
            "an 'imaging' session has no light stimulation; use all_optical or "
            "inactivation for sessions with pulses",
        )
    rate = row.number("frame_rate", None)
    movie, additions = None, []
    if has_movie:
        files = _movie_files(row)
        fmt = _movie_format(row, files)
        t0 = row.number("movie_t0", 0.0)
        if fmt != "tiff" and rate is None:  # the acquisition's own metadata knows it
            extractor = _neuroconv_interface(fmt, files, None).imaging_extractor
            rate = extractor.get_sampling_frequency()
            rate = float(rate) if rate else None
        if rate is None or not rate > 0:
            raise row.error("frame_rate", f"{row.label}: the movie's frame rate is not given")
        if fmt == "tiff" and movie_mode != "internal":
            if movie_mode == "external":
                files = _place_movie(files, out_file.parent / f"{out_file.stem}_movie")
            movie = RawMovie(rate=rate, starting_time=t0, files=files)
        else:
            additions.append((_neuroconv_interface(fmt, files, rate), rate, t0))
    info = _info(row, rate if rate is not None else float("nan"))
    additions = [_neuroconv_addition(*a, info) for a in additions]
    lever = None
    if row.get("lever") is not None:
        lever = read_lever(
            row.path("lever"),
            row.number("lever_rate"),
            row.get("lever_unit"),
            row.get("lever_key"),
            row.number("lever_t0", 0.0),
        )
    trials = None
    if row.get("events") is not None:
        end = lever.t0 + lever.duration if lever is not None else None
        trials = read_events(row.path("events"), end_time=end)
    elif kind != "imaging":
        raise row.error("events", f"{row.label}: a {kind!r} session needs trial events")
    if kind != "imaging" and lever is None:
        raise row.error("lever", f"{row.label}: a {kind!r} session needs its lever trace")
    stim = None
    if row.get("pulses") is not None:
        stim = Stimulation(
            pulses=read_pulses(row.path("pulses"), row.get("light_target")),
            wavelength_nm=row.number("light_wavelength", float("nan")),
            site_description=str(row.get("light_target", "")),
            device="light source",
        )
    imaging = None
    if has_s2p:
        imaging = _suite2p_imaging(row, info)
        if not np.isfinite(info.frame_rate):
            info.frame_rate = imaging.frame_rate
    session = Session(
        info=info, lever=lever, trials=trials, imaging=imaging, stimulation=stim, movie=movie
    )
    return session, additions


def _suite2p_imaging(row: SheetRow, info: SessionInfo) -> Imaging:
    from thalamocortex.preprocess.suite2p_io import read_suite2p

    folder = row.path("suite2p")
    rate = row.number("frame_rate")
    t0 = row.number("movie_t0", 0.0)
    im = read_suite2p(folder, roi_type=info.declared_roi_type(), region=info.region, t0=t0)
    if rate is not None:
        im.frame_times = t0 + np.arange(im.n_frames) / rate
    return im


def _neuroconv_addition(iface, rate: float, t0: float, info: SessionInfo) -> Callable:
    def add(nwbfile) -> None:
        from thalamocortex.data.nwb.names import NWBWriteParams
        from thalamocortex.data.nwb.write import _imaging_plane

        _imaging_plane(nwbfile, info, rate, NWBWriteParams())  # ours, with the indicator
        md = iface.get_metadata(use_new_metadata_format=False)
        ophys = md["Ophys"]
        # the session's own imaging plane and microscope (already in the file) are reused
        ophys["ImagingPlane"][0]["name"] = "ImagingPlane"
        ophys["ImagingPlane"][0]["device"] = "Microscope"
        ophys["Device"] = [{"name": "Microscope"}]
        series = ophys["TwoPhotonSeries"][0]
        series.update(name="TwoPhotonSeries", rate=float(rate), starting_time=float(t0))
        series["description"] = "raw two-photon frames (before registration)"
        with warnings.catch_warnings():
            # neuroconv 0.10 converts the list-based metadata itself (same file written)
            warnings.filterwarnings(
                "ignore", message=".*old list-based format", category=FutureWarning
            )
            iface.add_to_nwbfile(nwbfile, metadata=md, iterator_type="v2")
        # neuroconv adds the frames uncompressed; its default HDF5 backend configuration
        # chunks them (~10 MB chunks) and applies gzip, as DANDI recommends.
        from neuroconv.tools.nwb_helpers import (
            configure_backend,
            get_default_backend_configuration,
        )

        configure_backend(nwbfile, get_default_backend_configuration(nwbfile, backend="hdf5"))

    return add


def convert_session(
    row: SheetRow, out: str | os.PathLike, movie_mode: str = "external", overwrite: bool = False
) -> Path:
    """Write one session of the sheet to ``out/sub-<mouse>/sub-<mouse>_ses-<n>.nwb``."""
    from thalamocortex.data.layout import session_path
    from thalamocortex.data.nwb import write_session

    mouse, ses = str(row.get("mouse")), row.get("session")
    try:
        target = session_path(out, mouse, int(float(ses)))
    except (TypeError, ValueError) as err:
        raise row.error("mouse", str(err)) from None
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: exists; pass --overwrite to replace it")
    session, additions = build_session(row, target, movie_mode)
    return write_session(session, target, overwrite=overwrite, additions=additions)


def convert(
    sheet: str | os.PathLike,
    out: str | os.PathLike,
    movie_mode: str = "external",
    overwrite: bool = False,
) -> pd.DataFrame:
    """Convert every session of a sessions sheet into a DANDI-layout dataset.

    Parameters
    ----------
    sheet : path-like
        The sessions sheet (CSV/TSV; see the module docstring for its columns).
    out : path-like
        Dataset folder (created); ``sessions.tsv`` is written beside the ``sub-*`` folders.
    movie_mode : {"external", "reference", "internal"}
    overwrite : bool
        Replace existing session files.

    Returns
    -------
    The dataset's sessions table (:func:`thalamocortex.data.layout.discover`).
    """
    from thalamocortex.data.layout import discover, write_sessions_table

    rows = read_sessions_sheet(sheet)
    out = Path(out)
    for row in rows:
        convert_session(row, out, movie_mode, overwrite)
    write_sessions_table(out)
    return discover(out)
