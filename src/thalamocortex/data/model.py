"""The core data model: one recording session and its parts.

Vocabulary follows NWB and pynapple. All times are seconds on one *session clock*; the lever
trace and the imaging frames each carry their own sampling description on that clock, and the
conversion between them is explicit (:meth:`Lever.sample_index`, :meth:`Imaging.frame_index`,
:func:`lever_to_frames`).

Arrays of traces are ``frames x ROIs`` and float32. Arrays may be *lazy* (an ``h5py.Dataset``
or anything with ``shape``/``dtype``/``__getitem__``) when a session was read from NWB; access
them through the properties, which load on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

ExperimentKind = Literal["axon_imaging", "all_optical", "inactivation", "imaging"]
#: The study's three experiments, plus ``imaging``: a lab's own imaging session that is none of
#: them (no light stimulation; behaviour optional; its ROI type must be declared).
EXPERIMENT_KINDS: tuple[str, ...] = ("axon_imaging", "all_optical", "inactivation", "imaging")
ROI_TYPES: tuple[str, ...] = ("soma", "bouton", "axon")
#: ROI type each experiment kind implies: axon imaging images input boutons, the all-optical
#: experiment M1 somata. ``imaging`` and ``inactivation`` imply none (declare ``roi_type``).
KIND_ROI_TYPE: dict[str, str] = {"axon_imaging": "bouton", "all_optical": "soma"}

#: Columns of the trials table. ``movement_onset`` etc. are optional (NaN when unknown); the
#: behaviour analysis derives them from the lever trace.
TRIAL_COLUMNS: tuple[str, ...] = (
    "start_time",
    "stop_time",
    "cue_time",
    "reward_time",
    "outcome",
    "light",
)
#: Columns of the pulse (stimulation) table.
PULSE_COLUMNS: tuple[str, ...] = ("start_time", "duration", "power", "target")


def _materialise(x: Any, dtype=np.float32) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return x.astype(dtype, copy=False)
    return np.asarray(x[()], dtype=dtype)


@dataclass
class SessionInfo:
    """Metadata of one session.

    Attributes
    ----------
    mouse : str
        Subject identifier (DANDI ``sub-<mouse>``; no ``_`` or spaces).
    session : int
        Session number within the mouse's training (1 = first training day).
    experiment : {"axon_imaging", "all_optical", "inactivation", "imaging"}
        The study's experiment the session belongs to, or ``imaging`` for an imaging session
        outside them (no light stimulation, lever optional).
    region : str
        Source region of the imaged ROIs: the input region whose axons are imaged
        (``MTh``, ``M2``, ``S1``, ``cM1``...) or ``M1`` for M1 somata.
    indicator : str
        Calcium indicator (``GCaMP6s``, ``GCaMP7f``, ``GCaMP8m``...).
    frame_rate : float
        Imaging frame rate in Hz (NaN when the session has no imaging).
    day : int
        Training day (defaults to ``session``).
    opsin : str
        Opsin expressed in the stimulated population (``"none"`` for controls).
    session_start_time : str
        ISO-8601 start time.
    roi_type : {"soma", "bouton"} or None
        What the imaged ROIs are, as declared by the experimenter. None = not declared: then
        the experiment kind decides (:data:`KIND_ROI_TYPE`), and for kinds that imply none
        :meth:`declared_roi_type` is None and raw movies are refused rather than guessed.
    """

    mouse: str
    session: int
    experiment: str
    region: str
    indicator: str = "GCaMP6s"
    frame_rate: float = float("nan")
    day: int | None = None
    opsin: str = "none"
    session_start_time: str = "2025-01-01T09:00:00+00:00"
    description: str = ""
    roi_type: str | None = None

    def __post_init__(self) -> None:
        if self.roi_type in ("", "n/a", "nan"):
            self.roi_type = None
        if self.roi_type is not None and self.roi_type not in ("soma", "bouton"):
            raise ValueError(
                f"SessionInfo.roi_type: {self.roi_type!r} is not 'soma' or 'bouton' (or None)"
            )
        if self.experiment not in EXPERIMENT_KINDS:
            raise ValueError(
                f"SessionInfo.experiment: {self.experiment!r} is not one of {EXPERIMENT_KINDS}"
            )
        if self.day is None:
            self.day = int(self.session)
        if not self.mouse or any(c in self.mouse for c in " _/"):
            raise ValueError(
                f"SessionInfo.mouse: {self.mouse!r} must be non-empty without spaces, '_' or '/'"
            )

    @property
    def session_id(self) -> str:
        return f"sub-{self.mouse}_ses-{self.session}"

    def declared_roi_type(self) -> str | None:
        """``roi_type`` if declared, else the one the experiment kind implies, else None."""
        return self.roi_type or KIND_ROI_TYPE.get(self.experiment)


@dataclass
class Lever:
    """Lever position sampled regularly on the session clock.

    Attributes
    ----------
    data : array (n_samples,)
        Lever position in ``units``.
    rate : float
        Sampling rate in Hz.
    units : str
        Physical units of ``data`` (e.g. ``"mm"`` or ``"V"``).
    t0 : float
        Session time (s) of the first sample.
    """

    data: Any
    rate: float
    units: str = "mm"
    t0: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.rate) and self.rate > 0):
            raise ValueError(
                f"Lever.rate: expected a positive sampling rate in Hz, got {self.rate}"
            )

    @property
    def values(self) -> np.ndarray:
        """The lever trace as a float64 array (loaded on first access)."""
        if not isinstance(self.data, np.ndarray):
            self.data = _materialise(self.data, np.float64)
        return np.asarray(self.data, dtype=np.float64)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration(self) -> float:
        return self.n_samples / self.rate

    @property
    def times(self) -> np.ndarray:
        """Session time (s) of every sample."""
        return self.t0 + np.arange(self.n_samples) / self.rate

    def sample_index(self, t: Any) -> np.ndarray:
        """Index of the sample at or just before session time(s) ``t`` (may be out of range)."""
        return np.floor((np.asarray(t, dtype=np.float64) - self.t0) * self.rate + 1e-9).astype(
            np.int64
        )


@dataclass
class Imaging:
    """Two-photon imaging of one plane.

    Attributes
    ----------
    rois : DataFrame
        One row per ROI: ``roi_name`` (stable across sessions for tracked cells), ``roi_type``
        (``soma``/``bouton``/``axon``), ``region`` (source region). Extra columns allowed.
    F, Fneu : array (n_frames, n_rois) float32
        Raw ROI and neuropil fluorescence.
    frame_times : array (n_frames,)
        Session time (s) of each frame.
    dff : array (n_frames, n_rois) float32, optional
        dF/F; NaN on blanked (artefact) frames.
    events : array (n_frames, n_rois) float32, optional
        Event amplitude per frame (0 where no event).
    footprints : list of (k, 3) arrays [y, x, weight], optional
        Pixel masks.
    image_shape : (height, width), optional
    """

    rois: pd.DataFrame
    F: Any
    frame_times: Any
    Fneu: Any = None
    dff: Any = None
    events: Any = None
    footprints: list | None = None
    image_shape: tuple[int, int] | None = None
    mean_image: np.ndarray | None = None

    def __post_init__(self) -> None:
        for col in ("roi_name", "roi_type", "region"):
            if col not in self.rois.columns:
                raise ValueError(f"Imaging.rois: missing column {col!r}; has {list(self.rois)}")
        n = len(self.rois)
        for name in ("F", "Fneu", "dff", "events"):
            arr = getattr(self, name)
            if arr is not None and (len(arr.shape) != 2 or arr.shape[1] != n):
                raise ValueError(
                    f"Imaging.{name}: expected shape (n_frames, {n}) to match the ROI table, "
                    f"got {tuple(arr.shape)}"
                )
        if self.F.shape[0] != len(self.frame_times):
            raise ValueError(
                f"Imaging.frame_times: {len(self.frame_times)} times for {self.F.shape[0]} frames"
            )

    # lazy accessors ------------------------------------------------------------------------
    def _get(self, name: str) -> np.ndarray | None:
        arr = getattr(self, name)
        if arr is not None and not isinstance(arr, np.ndarray):
            arr = _materialise(arr)
            setattr(self, name, arr)
        return arr

    @property
    def f(self) -> np.ndarray:
        return self._get("F")

    @property
    def fneu(self) -> np.ndarray | None:
        return self._get("Fneu")

    @property
    def dff_values(self) -> np.ndarray | None:
        return self._get("dff")

    @property
    def events_values(self) -> np.ndarray | None:
        return self._get("events")

    @property
    def times(self) -> np.ndarray:
        if not isinstance(self.frame_times, np.ndarray):
            self.frame_times = np.asarray(self.frame_times[()], dtype=np.float64)
        return np.asarray(self.frame_times, dtype=np.float64)

    @property
    def n_frames(self) -> int:
        return int(self.F.shape[0])

    @property
    def n_rois(self) -> int:
        return len(self.rois)

    @property
    def frame_rate(self) -> float:
        t = self.times
        return float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 else float("nan")

    def frame_index(self, t: Any) -> np.ndarray:
        """Index of the frame whose acquisition time is nearest to session time(s) ``t``.

        Works for irregular frame times. Out-of-range times map to -1 (before the first frame)
        or ``n_frames`` (after the last frame plus half a frame period).
        """
        times = self.times
        t = np.asarray(t, dtype=np.float64)
        idx = np.searchsorted(times, t)
        idx = np.clip(idx, 1, len(times) - 1)
        left = times[idx - 1]
        right = times[idx]
        idx = np.where(np.abs(t - left) <= np.abs(right - t), idx - 1, idx)
        half = 0.5 / self.frame_rate
        idx = np.where(t < times[0] - half, -1, idx)
        idx = np.where(t > times[-1] + half, len(times), idx)
        return idx.astype(np.int64)


@dataclass
class Stimulation:
    """Light pulses (photostimulation or inactivation).

    ``pulses`` has columns ``start_time`` (s), ``duration`` (s), ``power`` (mW), ``target``
    (what was illuminated, e.g. ``"MTh axons in M1"``); extra columns allowed.
    """

    pulses: pd.DataFrame
    wavelength_nm: float = float("nan")
    site_description: str = ""
    device: str = "light source"

    def __post_init__(self) -> None:
        missing = [c for c in PULSE_COLUMNS if c not in self.pulses.columns]
        if missing:
            raise ValueError(f"Stimulation.pulses: missing columns {missing}")

    @property
    def stop_times(self) -> np.ndarray:
        return (self.pulses["start_time"] + self.pulses["duration"]).to_numpy(np.float64)


@dataclass
class RawMovie:
    """Raw two-photon frames of one imaging plane (before registration and ROI extraction).

    The frames live either in external image files (multi-page TIFF, the NWB
    ``TwoPhotonSeries`` with ``format="external"`` convention) or in an array (an NWB
    ``TwoPhotonSeries`` with internal data, possibly a lazy ``h5py.Dataset``).

    Attributes
    ----------
    frame_times : array (n_frames,) or None
        Session time (s) of every frame; None = regular at ``rate`` from ``starting_time``.
    rate : float
        Frame rate (Hz).
    starting_time : float
        Session time of the first frame (s).
    files : list of Path, optional
        External files in frame order (absolute, or relative to ``base``).
    starting_frame : list of int, optional
        Index of the first frame of each external file (NWB ``starting_frame``).
    data : array-like (n_frames, height, width), optional
        Internal frames.
    n_frames : int, optional
        Number of frames when known without reading the files.
    base : Path, optional
        Folder that relative ``files`` are relative to (the NWB file's folder).
    frame_axes : {"yx", "xy"}
        Axis order of internal ``data`` after the frame axis: ``"yx"`` = height x width (rows x
        columns, as TIFF pages), ``"xy"`` = width x height (the NWB ``ImageSeries`` order
        ``[frame, x, y]``, as written by pynwb/neuroconv). :meth:`read` always returns
        frames x height x width.
    """

    rate: float
    starting_time: float = 0.0
    frame_times: Any = None
    files: list | None = None
    starting_frame: list | None = None
    data: Any = None
    n_frames: int | None = None
    base: Any = None
    frame_axes: str = "yx"

    def __post_init__(self) -> None:
        if self.frame_axes not in ("yx", "xy"):
            raise ValueError(f"RawMovie.frame_axes: {self.frame_axes!r} is not 'yx' or 'xy'")
        if (self.files is None) == (self.data is None):
            raise ValueError("RawMovie: give exactly one of files (external) or data (internal)")
        if not (np.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"RawMovie.rate: expected a positive frame rate, got {self.rate}")
        if self.files is not None:
            self.files = [Path(f) for f in self.files]
            if self.starting_frame is not None and len(self.starting_frame) != len(self.files):
                raise ValueError(
                    f"RawMovie.starting_frame: {len(self.starting_frame)} entries for "
                    f"{len(self.files)} files"
                )
        if self.data is not None and self.n_frames is None:
            self.n_frames = int(self.data.shape[0])

    def paths(self) -> list[Path]:
        """External files resolved against ``base``."""
        if self.files is None:
            return []
        base = Path(self.base) if self.base is not None else None
        return [f if f.is_absolute() or base is None else base / f for f in self.files]

    def read(self) -> np.ndarray:
        """All frames as (n_frames, height, width) float32 (reads the files or the array)."""
        if self.data is not None:
            arr = self.data if isinstance(self.data, np.ndarray) else self.data[()]
            movie = np.asarray(arr, dtype=np.float32)
            if self.frame_axes == "xy" and movie.ndim == 3:
                movie = np.ascontiguousarray(movie.transpose(0, 2, 1))
        else:
            from thalamocortex.data.movie import read_movie_files

            movie = read_movie_files(self.paths(), self.starting_frame)
        if movie.ndim != 3:
            raise ValueError(f"RawMovie: expected frames x height x width, got shape {movie.shape}")
        return movie

    def times(self, n_frames: int | None = None) -> np.ndarray:
        """Session time (s) of each frame (``n_frames`` when the count is not yet known)."""
        if self.frame_times is not None:
            return np.asarray(
                self.frame_times
                if isinstance(self.frame_times, np.ndarray)
                else self.frame_times[()],
                dtype=np.float64,
            )
        n = n_frames if n_frames is not None else self.n_frames
        if n is None:
            raise ValueError("RawMovie.times: the number of frames is unknown; read() first")
        return self.starting_time + np.arange(n) / self.rate


@dataclass
class Session:
    """One session: metadata, behaviour, imaging and stimulation on one clock."""

    info: SessionInfo
    lever: Lever | None = None
    trials: pd.DataFrame | None = None
    imaging: Imaging | None = None
    stimulation: Stimulation | None = None
    source: str | None = None
    movie: RawMovie | None = None
    _closer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.trials is not None:
            missing = [c for c in ("start_time", "stop_time", "cue_time") if c not in self.trials]
            if missing:
                raise ValueError(
                    f"Session.trials ({self.source or self.info.session_id}): missing columns "
                    f"{missing}; has {list(self.trials.columns)}"
                )

    @property
    def id(self) -> str:
        return self.info.session_id

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def load(self) -> Session:
        """Read every lazy array into memory (after which the file may be closed)."""
        if self.lever is not None:
            self.lever.values  # noqa: B018
        if self.imaging is not None:
            im = self.imaging
            im.times  # noqa: B018
            for name in ("F", "Fneu", "dff", "events"):
                im._get(name)
        return self


def lever_to_frames(lever: Lever, frame_times: np.ndarray, how: str = "mean") -> np.ndarray:
    """Resample the lever onto imaging frames.

    Parameters
    ----------
    lever : Lever
    frame_times : array (n_frames,)
        Session times of frames (s); each frame is taken to span from its time to the next.
    how : {"mean", "nearest"}
        ``mean`` averages the finite lever samples within each frame interval (anti-aliased);
        ``nearest`` takes the sample at the frame time.

    Returns
    -------
    array (n_frames,) float64, NaN where the frame lies outside the lever recording or holds
    no finite sample. A NaN or infinite sample affects only its own frame (it is left out of
    that frame's mean), never the frames after it.
    """
    frame_times = np.asarray(frame_times, dtype=np.float64)
    x = lever.values
    n = len(x)
    if how == "nearest":
        idx = np.round((frame_times - lever.t0) * lever.rate).astype(np.int64)
        out = np.full(len(frame_times), np.nan)
        ok = (idx >= 0) & (idx < n)
        out[ok] = x[idx[ok]]
        out[~np.isfinite(out)] = np.nan
        return out
    if how != "mean":
        raise ValueError(f"lever_to_frames: how must be 'mean' or 'nearest', got {how!r}")
    edges_t = np.append(frame_times, frame_times[-1] + np.median(np.diff(frame_times)))
    edges = np.round((edges_t - lever.t0) * lever.rate).astype(np.int64)
    finite = np.isfinite(x)
    # running sums of the finite samples only: a NaN inside a running sum would make every
    # later frame NaN (0.07 % NaN samples once blanked 87 % of a session's frames)
    csum = np.concatenate([[0.0], np.cumsum(np.where(finite, x, 0.0))])
    ccnt = np.concatenate([[0], np.cumsum(finite, dtype=np.int64)])
    lo = np.clip(edges[:-1], 0, n)
    hi = np.clip(edges[1:], 0, n)
    cnt = ccnt[hi] - ccnt[lo]
    out = np.full(len(frame_times), np.nan)
    ok = cnt > 0
    out[ok] = (csum[hi[ok]] - csum[lo[ok]]) / cnt[ok]
    return out
