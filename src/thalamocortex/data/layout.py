"""Dataset layout: DANDI-style ``sub-<mouse>/sub-<mouse>_ses-<n>.nwb`` folders.

A *dataset* is a folder with one ``sub-<mouse>`` folder per mouse, each holding that mouse's
session files ``sub-<mouse>_ses-<n>.nwb`` (``n`` = session number). :func:`discover` opens every
file lazily (no trace is read) and returns the sessions table the pipeline iterates over;
:func:`write_sessions_table` saves it as ``sessions.tsv`` next to the ``sub-*`` folders
(tab-separated, ``n/a`` for missing values, paths relative to the dataset folder, as in
DANDI/BIDS tables).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.data.nwb import NWBNames, read_session
from thalamocortex.data.nwb.read import _check_file, check_external_files, check_lever_unit

__all__ = [
    "SESSION_COLUMNS",
    "discover",
    "parse_session_filename",
    "scan",
    "session_path",
    "write_sessions_table",
]

#: Columns of the sessions table returned by :func:`discover`, in order.
SESSION_COLUMNS: tuple[str, ...] = (
    "mouse",
    "session",
    "day",
    "experiment",
    "region",
    "indicator",
    "n_rois",
    "n_frames",
    "n_trials",
    "frame_rate",
    "lever_rate",
    "has_stimulation",
    "duration_s",
    "path",
)

_FILE_RE = re.compile(r"^sub-(?P<mouse>[^_/\s]+)_ses-(?P<session>\d+)\.nwb$")


def session_path(root: str | os.PathLike, mouse: str, session: int) -> Path:
    """Path of a session file: ``root/sub-<mouse>/sub-<mouse>_ses-<session>.nwb``.

    Raises
    ------
    ValueError
        ``mouse`` is empty or holds ``_``, ``/`` or whitespace (not allowed in DANDI labels),
        or ``session`` is not a non-negative integer.
    """
    if not mouse or re.search(r"[_/\s]", str(mouse)):
        raise ValueError(f"mouse {mouse!r}: must be non-empty without '_', '/' or whitespace")
    if isinstance(session, bool) or int(session) != session or int(session) < 0:
        raise ValueError(f"session {session!r}: expected a non-negative integer")
    return Path(root) / f"sub-{mouse}" / f"sub-{mouse}_ses-{int(session)}.nwb"


def parse_session_filename(path: str | os.PathLike) -> tuple[str, int]:
    """(mouse, session) from a ``sub-<mouse>_ses-<n>.nwb`` file name.

    Raises
    ------
    DataError
        The name does not follow the pattern.
    """
    m = _FILE_RE.match(Path(path).name)
    if m is None:
        raise DataError("file name is not sub-<mouse>_ses-<n>.nwb", path)
    return m["mouse"], int(m["session"])


def _session_files(root: Path) -> tuple[list[tuple[Path, str]], list[dict]]:
    """Candidate session files ``(path, folder mouse)`` and misplaced ones (problems)."""
    if not root.exists():
        raise DataError("dataset folder not found", root)
    if not root.is_dir():
        raise DataError("not a folder (expected a dataset folder with sub-<mouse> folders)", root)
    subjects = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("sub-"))
    if not subjects:
        found = sorted(p.name for p in root.iterdir())[:20]
        raise DataError(
            f"not a dataset: no sub-<mouse> folders (expected sub-<mouse>/sub-<mouse>_ses-<n>"
            f".nwb); the folder contains {found}",
            root,
        )
    files, problems = [], []
    for sub in subjects:
        mouse = sub.name[len("sub-") :]
        for f in sorted(sub.glob("*.nwb")):
            if f.name.startswith("."):  # temporary files of an interrupted write
                continue
            files.append((f, mouse))
    for f in sorted(root.glob("*.nwb")):
        if not f.name.startswith("."):
            problems.append(
                {
                    "path": os.path.abspath(f),
                    "reason": "session file outside a sub-<mouse> folder; move it into "
                    "sub-<mouse>/ (ignored)",
                }
            )
    if not files:
        raise DataError(
            f"no session files: none of {[s.name for s in subjects]} holds a "
            f"sub-<mouse>_ses-<n>.nwb file",
            root,
        )
    return files, problems


_INFO = "processing/misc/session_info"
_LEVER_TASKS = ("axon_imaging", "all_optical", "inactivation")
_LEVER = "processing/behavior/BehavioralTimeSeries/lever"
_F = "processing/ophys/Fluorescence/F"


def _fast_row(path: Path) -> dict | None:
    """The sessions-table row read with h5py alone, for files laid out by ``write_session``.

    pynwb needs ~0.5 s per file to build its object tree; this reads the one-row
    ``session_info`` table, dataset shapes and rate attributes directly (milliseconds), so
    discovery of hundreds of sessions stays fast. Returns None when the file does not have
    that layout (then the full reader is used).
    """
    with h5py.File(path, "r") as f:
        if _INFO not in f or f"{_LEVER}/starting_time" not in f:
            return None
        g = f[_INFO]

        def val(name: str):
            v = g[name][0]
            return v.decode() if isinstance(v, bytes) else v.item()

        try:
            row = {k: val(k) for k in ("mouse", "session", "day", "experiment", "region")}
            if row["experiment"] in _LEVER_TASKS and "intervals/trials" in f:
                rewards = NWBNames().trial_columns["reward_time"]
                if not set(rewards) & set(f["intervals/trials"].keys()):
                    raise DataError(
                        f"trials table has no reward column: looked for {rewards}; the table "
                        f"has {sorted(f['intervals/trials'].keys())}",
                        path,
                        field="trials.reward_time",
                    )
            row["indicator"] = val("indicator")
            frame_rate = float(val("frame_rate"))
        except KeyError:
            return None
        acq = f.get("acquisition")
        for name, obj in acq.items() if acq is not None else []:
            ext = obj.get("external_file") if isinstance(obj, h5py.Group) else None
            if ext is not None:
                files = [v.decode() if isinstance(v, bytes) else str(v) for v in ext[()]]
                root = os.path.normpath(os.path.abspath(path.parent.parent))
                check_external_files(
                    files, path.parent, (root,), path, f"acquisition/{name}.external_file"
                )
        unit = f[f"{_LEVER}/data"].attrs.get("unit") if f"{_LEVER}/data" in f else None
        if unit is not None:
            unit = unit.decode() if isinstance(unit, bytes) else str(unit)
            check_lever_unit(unit, NWBNames(), path, "lever")
        has_imaging = f"{_F}/data" in f
        n_frames, n_rois = f[f"{_F}/data"].shape if has_imaging else (0, 0)
        stamps = f.get(f"{_F}/timestamps")
        if has_imaging and stamps is not None and stamps.shape[0] != n_frames:
            raise DataError(
                f"{stamps.shape[0]} frame timestamps for {n_frames} frames of F",
                path,
                field="imaging.F.timestamps",
            )
        if has_imaging and not np.isfinite(frame_rate):
            return None  # the full reader derives it from the frame times
        lever_rate = float(f[f"{_LEVER}/starting_time"].attrs["rate"])
        n_lever = f[f"{_LEVER}/data"].shape[0] if f"{_LEVER}/data" in f else 0
        row.update(
            n_rois=int(n_rois),
            n_frames=int(n_frames),
            n_trials=int(f["intervals/trials/id"].shape[0]) if "intervals/trials/id" in f else 0,
            frame_rate=frame_rate if has_imaging else float("nan"),
            lever_rate=lever_rate,
            has_stimulation="intervals/light_pulses" in f,
            duration_s=n_frames / frame_rate if has_imaging else n_lever / lever_rate,
            path=os.path.abspath(path),
        )
        return row


def _check_names(path: Path, file_mouse: str, file_session: int, mouse: str, session: int):
    if mouse != file_mouse or session != file_session:
        raise DataError(
            f"file name says mouse {file_mouse!r} session {file_session} but the file's "
            f"subject_id/session_id say mouse {mouse!r} session {session}",
            path,
        )


def _row(
    path: Path, folder_mouse: str, names: NWBNames, fast: bool, sheet: pd.DataFrame | None = None
) -> dict:
    file_mouse, file_session = parse_session_filename(path)
    meta = sheet_metadata(sheet, file_mouse, file_session)
    if file_mouse != folder_mouse:
        raise DataError(
            f"file name says mouse {file_mouse!r} but it is in folder sub-{folder_mouse}", path
        )
    if fast:
        _check_file(path)  # missing / not HDF5 / truncated / not NWB: named errors
        try:
            row = _fast_row(path)
        except DataError:
            raise
        except (OSError, KeyError, ValueError, IndexError):
            row = None  # let the full reader explain what is wrong
        if row is not None:
            _check_names(path, file_mouse, file_session, row["mouse"], int(row["session"]))
            row.update({k: v for k, v in meta.items() if k in row})
            return row
    try:
        session = read_session(
            path, names=names, lazy=True, roots=(path.parent.parent,), metadata=meta
        )
    except DataError:
        raise
    except Exception as err:  # anything else from a broken file: name it
        raise DataError(f"cannot read session ({type(err).__name__}: {err})", path) from None
    with session:
        info = session.info
        _check_names(path, file_mouse, file_session, info.mouse, info.session)
        im = session.imaging
        frame_rate = float(info.frame_rate)
        if im is not None and not np.isfinite(frame_rate):
            frame_rate = im.frame_rate
        return {
            "mouse": info.mouse,
            "session": int(info.session),
            "day": int(info.day),
            "experiment": info.experiment,
            "region": info.region,
            "indicator": info.indicator,
            "n_rois": im.n_rois if im is not None else 0,
            "n_frames": im.n_frames if im is not None else 0,
            "n_trials": len(session.trials) if session.trials is not None else 0,
            "frame_rate": frame_rate if im is not None else float("nan"),
            "lever_rate": float(session.lever.rate) if session.lever is not None else np.nan,
            "has_stimulation": session.stimulation is not None,
            "duration_s": (
                im.n_frames / frame_rate
                if im is not None
                else session.lever.duration
                if session.lever is not None
                else float("nan")
            ),
            "path": os.path.abspath(path),
        }


#: Column names a sessions sheet may use for the mouse and the session.
_SHEET_MOUSE = ("mouse", "subject", "subject_id", "participant_id", "sub")
_SHEET_SESSION = ("session", "session_id", "ses")


def read_sessions_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """A sessions sheet: per-mouse (or per-session) metadata that override the files'.

    A TSV or CSV table with a mouse column (``mouse``, ``subject_id``, ``participant_id``...;
    a ``sub-`` prefix is dropped), optionally a session column (``session``/``session_id``,
    ``ses-`` dropped; empty or ``n/a`` = every session of the mouse), and any of
    :data:`~thalamocortex.data.nwb.read.SHEET_FIELDS` (region, experiment, indicator, opsin,
    day, roi_type). The use case: files written by other tools that lack or misstate the
    source region (per-mouse in the study: one input region per mouse).

    Returns
    -------
    DataFrame with ``mouse`` (str), ``session`` (Int64, NA = all sessions) and the given
    fields.

    Raises
    ------
    DataError
        Missing file, no mouse column, or no known field.
    """
    from thalamocortex.data.nwb.read import SHEET_FIELDS

    path = Path(path)
    if not path.is_file():
        raise DataError("sessions sheet not found", path, field="data.sessions_sheet")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    df = pd.read_csv(path, sep=sep, dtype=str, na_values=["n/a", "NA", ""], keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    mouse = next((c for c in _SHEET_MOUSE if c in df.columns), None)
    if mouse is None:
        raise DataError(
            f"no mouse column (one of {_SHEET_MOUSE}); columns: {list(df.columns)}", path
        )
    fields = [c for c in SHEET_FIELDS if c in df.columns]
    if not fields:
        raise DataError(
            f"no metadata column (any of {SHEET_FIELDS}); columns: {list(df.columns)}", path
        )
    out = pd.DataFrame({"mouse": df[mouse].str.strip().str.removeprefix("sub-")})
    ses = next((c for c in _SHEET_SESSION if c in df.columns), None)
    raw = df[ses].str.strip().str.removeprefix("ses-") if ses else pd.Series(pd.NA, df.index)
    try:
        out["session"] = pd.array(pd.to_numeric(raw), dtype="Int64")
    except (ValueError, TypeError):
        raise DataError(f"column {ses!r}: expected session numbers", path) from None
    for c in fields:
        out[c] = df[c].str.strip()
    if "day" in out:
        out["day"] = pd.array(pd.to_numeric(out["day"]), dtype="Int64")
    return out


def sheet_metadata(sheet: pd.DataFrame | None, mouse: str, session: int) -> dict:
    """The sheet's fields for one session: its mouse's rows, then its own row on top."""
    if sheet is None or sheet.empty:
        return {}
    mine = sheet[sheet["mouse"] == mouse]
    out: dict = {}
    for rows in (mine[mine["session"].isna()], mine[mine["session"] == session]):
        for _, r in rows.iterrows():
            for k, v in r.drop(["mouse", "session"]).items():
                if not pd.isna(v):
                    out[k] = int(v) if k == "day" else str(v)
    return out


def load_sheet(root: str | os.PathLike, names: NWBNames | None) -> pd.DataFrame | None:
    """The dataset's sessions sheet (``names.sessions_sheet``, relative to ``root``), if any."""
    sheet = getattr(names, "sessions_sheet", None) if names is not None else None
    return read_sessions_sheet(Path(root) / sheet) if sheet else None


def scan(
    root: str | os.PathLike, names: NWBNames | None = None, fast: bool = True
) -> tuple[pd.DataFrame, list[dict]]:
    """The sessions table of a dataset folder, and the session files it cannot use.

    Like :func:`discover`, but a session file that is broken, misnamed, inconsistent with
    its folder or recorded twice is listed as a problem instead of raising, so that the
    healthy sessions can still be analysed.

    Returns
    -------
    table : DataFrame
        :data:`SESSION_COLUMNS`, the usable sessions.
    problems : list of dict
        One per unusable file: ``path``, ``reason`` (names the file and the field), and
        ``mouse``/``session`` when the file name gives them.

    Raises
    ------
    DataError
        The folder itself is missing or not a dataset (no ``sub-*`` folders or no session
        files).
    """
    root = Path(root)
    names = names or NWBNames()
    sheet = load_sheet(root, names)
    # default names (a sheet aside): the fast h5py path
    fast = fast and names.model_copy(update={"sessions_sheet": None}) == NWBNames()
    files, problems = _session_files(root)
    rows = []
    for path, mouse in files:
        try:
            rows.append(_row(path, mouse, names, fast, sheet))
        except Exception as err:
            reason = (
                str(err)
                if isinstance(err, DataError)
                else (f"{os.path.abspath(path)}: cannot read session ({type(err).__name__}: {err})")
            )
            problem = {"path": os.path.abspath(path), "reason": reason}
            m = _FILE_RE.match(path.name)
            if m is not None:
                problem.update(mouse=m["mouse"], session=int(m["session"]))
            problems.append(problem)
    df = pd.DataFrame(rows, columns=list(SESSION_COLUMNS))
    dup = df.duplicated(["mouse", "session"], keep=False)
    for _, r in df[dup].iterrows():
        others = df.loc[
            dup & (df["mouse"] == r["mouse"]) & (df["session"] == r["session"]), "path"
        ].tolist()
        problems.append(
            {
                "path": r["path"],
                "mouse": r["mouse"],
                "session": int(r["session"]),
                "reason": DataError(
                    f"mouse {r['mouse']!r} session {r['session']} is recorded in "
                    f"{len(others)} files ({others}); none is used until one remains",
                    r["path"],
                    field="session",
                ).args[0],
            }
        )
    df = df[~dup]
    df = df.sort_values(["mouse", "session"], kind="stable").reset_index(drop=True)
    table = df.astype(
        {
            "session": np.int64,
            "day": np.int64,
            "n_rois": np.int64,
            "n_frames": np.int64,
            "n_trials": np.int64,
            "frame_rate": np.float64,
            "lever_rate": np.float64,
            "has_stimulation": bool,
            "duration_s": np.float64,
        }
    )
    return table, problems


def discover(
    root: str | os.PathLike, names: NWBNames | None = None, fast: bool = True
) -> pd.DataFrame:
    """The sessions table of a dataset folder.

    Every ``sub-*/*.nwb`` file is opened lazily (metadata and array shapes only).

    Parameters
    ----------
    root : path-like
        Dataset folder holding ``sub-<mouse>`` folders.
    names : NWBNames, optional
        Passed to :func:`~thalamocortex.data.nwb.read_session`.
    fast : bool
        Read files laid out by :func:`~thalamocortex.data.nwb.write_session` with h5py alone
        (same table, ~100x faster than building the pynwb tree); other files, or any file when
        non-default ``names`` are given or ``fast`` is False, go through ``read_session``.

    Returns
    -------
    DataFrame with :data:`SESSION_COLUMNS`, one row per session, sorted by mouse and session.
    ``n_rois``/``n_frames`` are 0 and ``frame_rate`` NaN for sessions without imaging;
    ``path`` is absolute, with symbolic links kept (not resolved): the link's folder is where
    the session's raw data are looked for.

    Raises
    ------
    DataError
        The folder is missing or not a dataset (no ``sub-*`` folders, or no session files), a
        file is broken (the message names it), a file name does not follow
        ``sub-<mouse>_ses-<n>.nwb``, or it disagrees with its folder or with the subject /
        session recorded inside the file, or a session is recorded twice. :func:`scan` lists
        such files instead of raising.
    """
    table, problems = scan(root, names, fast)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise DataError(problems[0]["reason"] + more)
    return table


def write_sessions_table(root: str | os.PathLike, names: NWBNames | None = None) -> Path:
    """Write ``root/sessions.tsv`` (the :func:`discover` table) atomically.

    Paths are written relative to ``root`` (POSIX separators) so the dataset can move; a
    ``session_id`` column (``ses-<n>``) follows the DANDI/BIDS sessions-table convention.
    Missing values are ``n/a``.

    Returns
    -------
    Path of ``sessions.tsv``.
    """
    root = Path(root)
    df = discover(root, names)
    df.insert(2, "session_id", [f"ses-{s}" for s in df["session"]])
    base = os.path.abspath(root)
    df["path"] = [Path(os.path.relpath(p, base)).as_posix() for p in df["path"]]
    out = root / "sessions.tsv"
    tmp = root / f".sessions.tsv.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        df.to_csv(tmp, sep="\t", index=False, na_rep="n/a")
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out
