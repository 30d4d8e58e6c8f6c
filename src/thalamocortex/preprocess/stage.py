"""The ``preprocess`` stage: raw movies / suite2p folders -> ROIs and traces; boutons -> axons;
cross-session tracking.

Per session (in parallel, resumable per session):

* **raw data** (:func:`raw_sources`, first found wins): the session file's own raw
  ``TwoPhotonSeries`` (frames inside the NWB file or external TIFFs it references), a
  multi-page TIFF movie ``sub-<m>/sub-<m>_ses-<n>.tif`` (or ``.tiff``) next to it — registered
  and segmented with suite2p (:func:`~thalamocortex.preprocess.suite2p_run.run_suite2p`;
  photostimulation artefact frames and the evoked responses just after each pulse are kept out
  of the reference and of detection) — or an existing suite2p output folder
  ``sub-<m>/sub-<m>_ses-<n>_suite2p/``, imported
  (:func:`~thalamocortex.preprocess.suite2p_io.read_suite2p`). dF/F and events are
  computed with artefact frames blanked and the session is written to
  ``results/preprocess/sessions/sub-<m>/sub-<m>_ses-<n>.nwb`` (ROIs with pixel masks, F, Fneu,
  dF/F, events, mean image). An existing output file is kept only when its ``.key`` (the
  parameters, NWB names and content of the session file and its raw files,
  :func:`artefact_key`) matches (resume), otherwise it is made again.
* **analysis traces** of every imaging session (from the new file or the dataset's): dF/F
  computed once, boutons merged into axons (``bouton_unit``; ROIs without any finite dF/F stay
  units of their own, counted in ``n_rois_no_data``), saved as
  ``results/preprocess/traces/<session>.npz`` (:func:`write_traces`) with a ``.key``
  (:func:`traces_key`) -- the traces every later stage reads (:func:`session_traces`, which
  recomputes them when the key does not match); per-axon table and counts before/after merging; the
  field of view (ROI label image, ROI kinds, axon of each bouton, mean image) as
  ``results/preprocess/fov/<session>.npz`` for the report. A dataset without raw data gets
  only this step.

Then per mouse, **tracking** across sessions whose ROIs have footprints and a mean image.

Tables: ``sessions`` (one row per session: source, ROI/frame counts, blanked frames, bouton,
axon and analysis-unit counts, timings), ``axons`` (mouse, session, axon, n_boutons, boutons,
mean_within_r), ``boutons`` (mouse, session, roi_name, axon), ``motion`` (per frame
registration shifts of movie sessions; ``bad`` = kept out of reference and detection,
``artefact`` = blanked), ``tracking`` (mouse, cell, session, roi, roi_name, probability).
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.preprocess.params import PreprocessParams


def _nwb_has_movie(path: Path) -> bool:
    """Whether the file's acquisition holds a TwoPhotonSeries (h5py: fast, no pynwb)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            acq = f.get("acquisition")
            if acq is None:
                return False
            for obj in acq.values():
                kind = obj.attrs.get("neurodata_type", b"")
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                if kind == "TwoPhotonSeries":
                    return True
    except OSError:
        return False  # not HDF5: read_session reports it with the file name
    return False


def raw_sources(nwb_path: str | Path) -> dict[str, Path]:
    """Raw inputs of a session file, in the order they are used:

    ``{"nwb_movie": path}`` when the file itself holds a raw ``TwoPhotonSeries`` (internal frames
    or external files it references), ``{"tiff": path}`` for a multi-page TIFF next to it with
    the same stem, ``{"suite2p": folder}`` for an existing suite2p output folder
    ``<stem>_suite2p/``.
    """
    p = Path(nwb_path)
    stem = p.with_suffix("")
    out: dict[str, Path] = {}
    if p.is_file() and _nwb_has_movie(p):
        out["nwb_movie"] = p
    for ext in (".tif", ".tiff"):
        if stem.with_suffix(ext).is_file():
            out["tiff"] = stem.with_suffix(ext)
            break
    s2p = stem.parent / f"{stem.name}_suite2p"
    if s2p.is_dir():
        out["suite2p"] = s2p
    return out


def raw_input_files(nwb_path: str | Path) -> list[Path]:
    """The raw files the ``preprocess`` stage reads for a session (the first source of
    :func:`raw_sources`): a raw movie's external files, the TIFF, or the suite2p folder's
    ``.npy`` files (not its registered binary). Their content keys the stage's outputs."""
    import os

    import h5py

    src = raw_sources(nwb_path)
    if "nwb_movie" in src:
        out: list[Path] = []
        try:
            with h5py.File(nwb_path, "r") as f:
                for obj in f["acquisition"].values():
                    ext = obj.get("external_file")
                    if ext is not None:
                        base = os.path.dirname(os.path.abspath(nwb_path))
                        for v in ext[()]:
                            v = v.decode() if isinstance(v, bytes) else str(v)
                            out.append(Path(os.path.normpath(os.path.join(base, v))))
        except (OSError, KeyError):
            pass  # reading the session reports what is wrong
        return out
    if "tiff" in src:
        return [src["tiff"]]
    if "suite2p" in src:
        return sorted(src["suite2p"].rglob("*.npy"))
    return []


def artefact_key(nwb_path: str | Path, params: PreprocessParams, names=None) -> str:
    """Digest of everything a session's preprocess outputs depend on: the parameters, the NWB
    names, the session file's content and its raw files' content (SHA-256)."""
    from thalamocortex.pipeline.provenance import params_digest, path_sha256

    files = [Path(nwb_path), *raw_input_files(nwb_path)]
    hashes = []
    for f in files:
        try:
            hashes.append(path_sha256(f))
        except OSError:
            hashes.append(f"missing:{f.name}")
    return params_digest(
        {
            "preprocess": params.model_dump(mode="json"),
            "names": None if names is None else names.model_dump(mode="json"),
            "inputs": hashes,
        }
    )


def key_file(target: Path) -> Path:
    """``<stem>_<ext>.key`` beside an output: a name without ``.nwb`` in it, so nwbinspector
    and DANDI tools, which take every ``*.nwb*`` path for an NWB file, skip it."""
    return target.with_name(f"{target.stem}_{target.suffix.lstrip('.')}.key")


def _current(target: Path, key: str) -> bool:
    """An existing output made from the same parameters and inputs (:func:`key_file`)."""
    kf = key_file(target)
    return bool(key) and target.is_file() and kf.is_file() and kf.read_text().strip() == key


def _frame_times(session, n_frames: int) -> np.ndarray:
    """Frame times of a raw movie: the session file's, when it has as many frames; otherwise
    regular at the session's frame rate from the file's first frame time (or 0 s)."""
    if session.imaging is not None and session.imaging.n_frames == n_frames:
        return session.imaging.times
    from thalamocortex.preprocess.traces import session_frame_rate

    t0 = float(session.imaging.times[0]) if session.imaging is not None else 0.0
    return t0 + np.arange(n_frames) / session_frame_rate(session)


def _roi_type(session) -> str:
    """What the session's raw movie images: declared, or implied by the experiment kind.

    Never guessed: soma and bouton movies take different detection routes, and a soma movie
    processed as boutons is silently wrong (ROIs cut into puncta, then merged into "axons").
    """
    kind = session.info.declared_roi_type()
    if kind is None:
        raise DataError(
            f"the ROI type of this {session.info.experiment!r} session is not declared, so the "
            f"movie cannot be segmented (somata and boutons take different routes); declare "
            f"roi_type: soma or bouton (sessions sheet of `thalamocortex convert`, or "
            f"SessionInfo.roi_type)",
            session.source,
            field="roi_type",
        )
    return kind


def _after_light(times: np.ndarray, pulses, seconds: float) -> np.ndarray:
    """Frames starting within ``seconds`` after the end of any light pulse."""
    out = np.zeros(len(times), bool)
    if pulses is None or len(pulses) == 0 or seconds <= 0:
        return out
    ends = (pulses["start_time"] + pulses["duration"]).to_numpy(np.float64)
    starts = pulses["start_time"].to_numpy(np.float64)
    for a, b in zip(starts, ends):
        out |= (times >= a) & (times < b + seconds)
    return out


def _imaging_from_movie(session, movie: np.ndarray, params: PreprocessParams, times=None):
    """suite2p on ``movie`` (frames x height x width); ``times`` = frame times (default: the
    session file's frames, see :func:`_frame_times`)."""
    from thalamocortex.data.model import Imaging
    from thalamocortex.preprocess.dff import artefact_mask, compute_dff
    from thalamocortex.preprocess.events import detect_events
    from thalamocortex.preprocess.suite2p_run import bouton_params, run_suite2p
    from thalamocortex.preprocess.traces import session_frame_rate

    rate = session_frame_rate(session)
    if times is None:
        times = _frame_times(session, movie.shape[0])
    elif len(times) != movie.shape[0]:
        raise DataError(
            f"{len(times)} frame times for {movie.shape[0]} movie frames",
            session.source,
            field="TwoPhotonSeries",
        )
    pulses = None if session.stimulation is None else session.stimulation.pulses
    blank = artefact_mask(times, pulses, rate, params.artefact_extra_frames)
    # frames kept out of the registration reference and of detection: the artefact frames and
    # the synchronous evoked responses just after each pulse (traces are extracted for all)
    exclude = blank | _after_light(times, pulses, params.detection_exclude_after_light_s)
    roi_type = _roi_type(session)
    boutons = roi_type == "bouton"
    # bouton movies: bouton detection settings, then ROIs refined to the puncta they contain
    p = bouton_params(params) if boutons else params
    res = run_suite2p(movie, rate, p, badframes=exclude, boutons=boutons)
    roi_types = np.full(res.n_rois, roi_type)
    dff = compute_dff(res.F, res.Fneu, rate, params, blank_mask=blank, roi_types=roi_types)
    fps = res.footprints()
    cy = [float(np.average(f[:, 0], weights=f[:, 2])) for f in fps]
    cx = [float(np.average(f[:, 1], weights=f[:, 2])) for f in fps]
    rois = pd.DataFrame(
        {
            "roi_name": [f"roi{k}" for k in range(res.n_rois)],
            "roi_type": roi_type,
            "region": session.info.region,
            "centroid_y": cy,
            "centroid_x": cx,
            "cell_probability": np.asarray(res.iscell)[:, 1] if res.n_rois else [],
        }
    )
    imaging = Imaging(
        rois=rois,
        F=res.F,
        Fneu=res.Fneu,
        frame_times=times,
        dff=dff,
        events=detect_events(dff, params),
        footprints=fps,
        image_shape=tuple(movie.shape[1:]),
        mean_image=res.mean_image,
    )
    motion = pd.DataFrame(
        {
            "frame": np.arange(movie.shape[0]),
            "dy": res.shifts[:, 0],
            "dx": res.shifts[:, 1],
            "bad": res.badframes,
            "artefact": blank,
        }
    )
    return imaging, motion, res.timings


def _imaging_from_suite2p(session, folder: Path, params: PreprocessParams):
    from thalamocortex.preprocess.dff import artefact_mask, compute_dff
    from thalamocortex.preprocess.events import detect_events
    from thalamocortex.preprocess.suite2p_io import read_suite2p
    from thalamocortex.preprocess.traces import session_frame_rate

    rate = session_frame_rate(session)
    im = read_suite2p(folder, roi_type=_roi_type(session), region=session.info.region)
    times = _frame_times(session, im.n_frames)
    im.frame_times = times
    pulses = None if session.stimulation is None else session.stimulation.pulses
    blank = artefact_mask(times, pulses, rate, params.artefact_extra_frames)
    types = im.rois["roi_type"].to_numpy()
    im.dff = compute_dff(im.f, im.fneu, rate, params, blank_mask=blank, roi_types=types)
    im.events = detect_events(im.dff, params)
    return im


def _movie_reference(session, src: dict, imaging):
    """What the output file says about the raw movie: a reference to external files (the
    source's own, or the TIFF that was processed); internal frames are not copied (they stay
    in the source file, the dataset's session file)."""
    from thalamocortex.data.model import RawMovie

    if session.movie is not None and session.movie.files is not None:
        return session.movie
    if "tiff" in src and "nwb_movie" not in src:
        return RawMovie(rate=imaging.frame_rate, frame_times=imaging.times, files=[src["tiff"]])
    return None


def process_session(
    path: str, out_dir: str, params: PreprocessParams, names=None, opener=None, key: str = ""
) -> dict:
    """One session: raw data -> new NWB (if any), then its analysis traces (dF/F once, boutons
    merged into axons) and field of view. Returns table rows.

    ``opener`` opens session files (the run's :class:`~thalamocortex.pipeline.context.
    SessionOpener`; default: ``read_session`` with ``names``). ``key`` (:func:`artefact_key`)
    identifies the parameters and inputs: an existing output is reused only when it was made
    with the same key (a ``.key`` file beside it), otherwise it is made again.
    """
    from functools import partial as _partial

    from thalamocortex.data.movie import read_movie_file
    from thalamocortex.data.nwb import read_session, write_session
    from thalamocortex.pipeline.io import atomic_write, write_table
    from thalamocortex.preprocess.traces import analysis_traces, nan_counts

    opener = opener or _partial(read_session, names=names)
    key = key or artefact_key(path, params, names)
    out: dict = {"session": {}, "axons": [], "boutons": [], "motion": None, "footprints": None}
    src = raw_sources(path)
    t0 = time.perf_counter()
    with opener(path) as s:
        keys = {"mouse": s.info.mouse, "session": int(s.info.session)}
        row = {**keys, "session_id": s.id, "source": "nwb", "output": ""}
        target = Path(out_dir) / "sessions" / f"sub-{s.info.mouse}" / f"{s.id}.nwb"
        # per-session motion, kept beside the outputs so that a resumed run still reports it
        motion_file = Path(out_dir) / "motion_sessions" / f"{s.id}.parquet"
        session = s
        written = None
        if src:
            row["source"] = next(iter(src))
            reuse = _current(target, key)
            if reuse and motion_file.is_file():
                out["motion"] = pd.read_parquet(motion_file)
            if not reuse:
                key_file(target).unlink(missing_ok=True)
                motion_file.unlink(missing_ok=True)
                if "nwb_movie" in src or "tiff" in src:
                    if "nwb_movie" in src:
                        frames = s.movie.read()
                        # the movie's own clock (it may be shorter than the session's frames)
                        times = s.movie.times(frames.shape[0])
                    else:
                        frames, times = read_movie_file(src["tiff"]), None
                    imaging, motion, timings = _imaging_from_movie(s, frames, params, times)
                    del frames
                    m = motion.assign(**keys)
                    write_table(m, motion_file)
                    out["motion"] = m
                    row.update({f"seconds_{k}": v for k, v in timings.items()})
                else:
                    imaging = _imaging_from_suite2p(s, src["suite2p"], params)
                new = dataclasses.replace(
                    s, imaging=imaging, movie=_movie_reference(s, src, imaging), _closer=None
                )
                write_session(new, target, overwrite=True)
                atomic_write(key_file(target), lambda p: p.write_text(key))
                written = new
            row["output"] = str(target)
        if written is not None:
            session = written  # just written: analyse the in-memory copy, not a re-read
        elif row["output"]:
            session = opener(target)
        try:
            im = session.imaging
            if im is None:
                row.update(
                    n_rois=0,
                    n_frames=0,
                    n_blanked=0,
                    n_rois_no_data=0,
                    n_boutons=0,
                    n_axons=0,
                    n_units=0,
                )
            else:
                tr = analysis_traces(session, params)
                # ROIs without any finite dF/F stay units of their own (never merged), so the
                # units without data are exactly the ROIs without data
                n_blank, n_empty = nan_counts(tr.dff)
                row.update(
                    n_rois=int(im.n_rois),
                    n_frames=int(im.n_frames),
                    n_blanked=n_blank,
                    n_rois_no_data=n_empty,
                    n_boutons=int((im.rois["roi_type"] == "bouton").sum()),
                    n_axons=int((tr.units["roi_type"] == "axon").sum()),
                    n_units=len(tr.units),
                )
                m = tr.merge
                if m is not None:
                    out["axons"] = m.axons.assign(**keys).to_dict("records")
                    out["boutons"] = (
                        m.boutons[["roi_name", "axon", "weight"]].assign(**keys).to_dict("records")
                    )
                # keyed by the file later stages open: the new file, else the dataset's
                tkey = traces_key(row["output"] or path, params, names_of(opener, names))
                write_traces(traces_path(out_dir, s.id), tr, im.times, key=tkey)
                write_field_of_view(Path(out_dir) / "fov" / f"{s.id}.npz", im, tr.merge)
            out["footprints"] = _footprints_of(session)
        finally:
            if session is not s:
                session.close()
    row["seconds_total"] = time.perf_counter() - t0
    out["session"] = row
    return out


def _process_item(item: tuple[str, str], out_dir: str, params: PreprocessParams, opener) -> dict:
    path, key = item
    return process_session(path, out_dir, params, opener=opener, key=key)


def field_of_view(imaging, merge=None) -> dict[str, np.ndarray] | None:
    """A session's field of view for figures: ROI label image and what each label is.

    Returns None without footprints or image shape. Otherwise ``labels`` (height x width
    int32: 1 + index of the ROI with the largest footprint weight at the pixel, 0 = none),
    ``roi_name``, ``roi_type`` (per ROI), ``axon`` (the merged axon of each bouton, -1 for
    other ROIs) and, when the session has one, ``mean_image`` (float32).
    """
    fps, shape = imaging.footprints, imaging.image_shape
    if not fps or shape is None:
        return None
    h, w = (int(v) for v in shape[:2])
    labels = np.zeros((h, w), np.int32)
    best = np.zeros((h, w), np.float32)
    for k, fp in enumerate(fps):
        fp = np.asarray(fp, dtype=np.float64).reshape(-1, 3)
        y, x = fp[:, 0].astype(np.int64), fp[:, 1].astype(np.int64)
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        y, x, wt = y[ok], x[ok], fp[ok, 2].astype(np.float32)
        win = wt > best[y, x]
        labels[y[win], x[win]] = k + 1
        best[y[win], x[win]] = wt[win]
    rois = imaging.rois
    axon = np.full(len(rois), -1, np.int64)
    if merge is not None:
        is_b = (rois["roi_type"] == "bouton").to_numpy()
        axon[np.flatnonzero(is_b)] = np.asarray(merge.labels, dtype=np.int64)
    out = {
        "labels": labels,
        "roi_name": np.asarray(rois["roi_name"].astype(str).tolist(), dtype=str),
        "roi_type": np.asarray(rois["roi_type"].astype(str).tolist(), dtype=str),
        "axon": axon,
    }
    if imaging.mean_image is not None:
        out["mean_image"] = np.asarray(imaging.mean_image, dtype=np.float32)
    return out


def write_field_of_view(path: Path, imaging, merge=None) -> None:
    """Save :func:`field_of_view` (nothing without footprints)."""
    from thalamocortex.pipeline.io import write_arrays

    fov = field_of_view(imaging, merge)
    if fov is not None:
        write_arrays(path, **fov)


def traces_path(out_dir: str | Path, session_id: str) -> Path:
    """Where the stage keeps a session's analysis traces (``out_dir`` = ``results/preprocess``)."""
    return Path(out_dir) / "traces" / f"{session_id}.npz"


def names_of(opener, names=None):
    """The NWB names a session was read with: the opener's (a :class:`SessionOpener`), else
    ``names``."""
    return getattr(opener, "names", None) or names


def traces_key(source: str | Path | None, params: PreprocessParams, names=None) -> str:
    """Digest of what a session's analysis traces depend on: the preprocess parameters, the NWB
    names and the content (SHA-256) of the session file they were computed from (the dataset's
    file, or the preprocess stage's new file for sessions with raw data). "" when the file is
    unknown (an in-memory session): such traces are never taken from disk."""
    from thalamocortex.pipeline.provenance import params_digest, path_sha256

    if not source or not Path(source).is_file():
        return ""
    return params_digest(
        {
            "preprocess": params.model_dump(mode="json"),
            "names": None if names is None else names.model_dump(mode="json"),
            "input": path_sha256(source),
        }
    )


def write_traces(path: Path, traces, frame_times: np.ndarray, key: str = "") -> None:
    """Save :class:`~thalamocortex.preprocess.traces.AnalysisTraces` (dF/F float32, the unit
    table as plain arrays, frame times) atomically, then its ``key`` (:func:`traces_key`) in
    ``<session>_npz.key`` (:func:`key_file`); read back with :func:`read_traces`."""
    from thalamocortex.pipeline.io import atomic_write, write_arrays

    key_file(path).unlink(missing_ok=True)  # never a new file beside an old key
    u = traces.units
    write_arrays(
        path,
        dff=np.asarray(traces.dff, np.float32),
        frame_times=np.asarray(frame_times, np.float64),
        roi_name=np.asarray(u["roi_name"].astype(str).tolist(), dtype=str),
        roi_type=np.asarray(u["roi_type"].astype(str).tolist(), dtype=str),
        n_boutons=u["n_boutons"].to_numpy(np.int64),
    )
    if key:
        atomic_write(key_file(path), lambda p: p.write_text(key))


def read_traces(path: str | Path, key: str | None = None):
    """The analysis traces saved by :func:`write_traces`, or None when the file is missing or,
    given a ``key``, was made from other parameters or inputs (its ``.key`` differs).

    Returns
    -------
    AnalysisTraces (``merge`` is None) or None
    """
    from thalamocortex.preprocess.traces import AnalysisTraces

    path = Path(path)
    if not path.is_file() or (key is not None and not _current(path, key)):
        return None
    with np.load(path, allow_pickle=False) as z:
        units = pd.DataFrame(
            {"roi_name": z["roi_name"], "roi_type": z["roi_type"], "n_boutons": z["n_boutons"]}
        )
        return AnalysisTraces(units, z["dff"], None)


def session_traces(session, results: str | Path | None, params: PreprocessParams, names=None):
    """A session's analysis traces: the preprocess stage's file when it was made from this
    session file with these parameters and NWB ``names`` (:func:`traces_key`), else computed.

    Parameters
    ----------
    session : Session
        Opened from its file (``session.source``) with ``names``.
    results : path or None
        The results folder (``results/preprocess/traces/<session>.npz``); None = compute.
    params : PreprocessParams
    names : NWBNames, optional

    Returns
    -------
    AnalysisTraces
        ``dff`` (n_frames x n_units), ``units``.
    """
    from thalamocortex.preprocess.traces import analysis_traces

    if results is not None:
        key = traces_key(session.source, params, names)
        path = traces_path(Path(results) / "preprocess", session.id)
        tr = read_traces(path, key) if key else None
        if tr is not None and tr.dff.shape[0] == session.imaging.n_frames:
            return tr
    return analysis_traces(session, params)


def _footprints_of(s):
    """What tracking needs of a session (None without footprints and a mean image)."""
    im = s.imaging
    if im is None or not im.footprints or im.mean_image is None or im.image_shape is None:
        return None
    return (
        s.info.mouse,
        int(s.info.session),
        list(im.footprints),
        tuple(im.image_shape),
        np.asarray(im.mean_image),
        im.rois["roi_name"].astype(str).tolist(),
    )


def track_mouse(items: list, params: PreprocessParams) -> pd.DataFrame:
    """Tracking table of one mouse from ``_footprints_of`` tuples sorted by session."""
    from thalamocortex.preprocess.tracking import track_sessions

    shapes = {it[3] for it in items}
    if len(shapes) != 1:
        return pd.DataFrame()
    res = track_sessions(
        [it[2] for it in items], items[0][3], [it[4] for it in items], params, reference=0
    )
    tab = res.table([it[1] for it in items])
    names = {it[1]: it[5] for it in items}
    tab["roi_name"] = [names[s][r] if r >= 0 else "" for s, r in zip(tab["session"], tab["roi"])]
    tab.insert(0, "mouse", items[0][0])
    return tab


def run(ctx) -> None:
    """Stage entry point (see the module docstring)."""
    params: PreprocessParams = ctx.config.preprocess
    names = ctx.config.data
    sessions = ctx.sessions
    has_raw = np.array([bool(raw_sources(p)) for p in sessions["path"]], dtype=bool)
    if "n_rois" in sessions:
        sessions = sessions[(sessions["n_rois"].to_numpy() > 0) | has_raw]
    # keys are hashed here, in the run's process, where the file-hash cache lives
    items = [(str(p), artefact_key(p, params, names)) for p in sessions["path"]]
    results = ctx.map(
        partial(_process_item, out_dir=str(ctx.out_dir), params=params, opener=ctx.opener),
        items,
        desc="preprocess",
    )
    results = [r for r in results if r is not None]
    table = pd.DataFrame([r["session"] for r in results])
    ctx.write_table(table, "sessions")
    axons = [a for r in results for a in r["axons"]]
    boutons = [b for r in results for b in r["boutons"]]
    ctx.write_table(
        pd.DataFrame(
            axons, columns=["axon", "n_boutons", "boutons", "mean_within_r", "mouse", "session"]
        ),
        "axons",
    )
    ctx.write_table(
        pd.DataFrame(boutons, columns=["roi_name", "axon", "weight", "mouse", "session"]),
        "boutons",
    )
    motion = [r["motion"] for r in results if r["motion"] is not None]
    if motion:
        ctx.write_table(pd.concat(motion, ignore_index=True), "motion")
    ctx.log(
        f"{len(table)} sessions; {int(table.get('n_boutons', pd.Series(dtype=int)).sum())} "
        f"boutons -> {int(table.get('n_axons', pd.Series(dtype=int)).sum())} axons"
    )

    # tracking: sessions whose ROIs have footprints (new files first, else the dataset's),
    # collected by process_session while each file was open
    items = [r["footprints"] for r in results if r["footprints"] is not None]
    tabs = []
    for mouse in sorted({it[0] for it in items}):
        mine = sorted([it for it in items if it[0] == mouse], key=lambda it: it[1])
        if len(mine) >= 2:
            tabs.append(track_mouse(mine, params))
    tracking = (
        pd.concat(tabs, ignore_index=True)
        if tabs
        else pd.DataFrame(columns=["mouse", "cell", "session", "roi", "probability", "roi_name"])
    )
    ctx.write_table(tracking, "tracking")
