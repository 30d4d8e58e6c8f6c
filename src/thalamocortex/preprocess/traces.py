"""dF/F and events of a session, from the file when present, otherwise computed.

Two entry points:

* :func:`session_dff` -- dF/F (and events) of every ROI of a session::

      dff, events = session_dff(session, config.preprocess)

* :func:`analysis_traces` -- the units the analyses count: somata as they are, boutons merged
  into axons (one axon counted once). The ``preprocess`` stage computes these once per session
  and every later stage reads them (``results/preprocess/traces/<session>.npz``).

Artefact frames (one block per stimulation pulse, see
:func:`~thalamocortex.preprocess.dff.artefact_mask`)
are NaN in both arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Session
from thalamocortex.preprocess.dff import artefact_mask, compute_dff
from thalamocortex.preprocess.events import detect_events
from thalamocortex.preprocess.params import PreprocessParams


class SessionTraces(NamedTuple):
    """dF/F and events of one session (a 2-tuple: unpacks as ``dff, events``).

    Attributes
    ----------
    dff : array (n_frames, n_rois) float32, NaN on blanked frames
    events : array (n_frames, n_rois) float32 or None
        Thresholded dF/F (0 outside events, NaN on blanked frames); None when
        ``with_events=False``.

    The blanked frames are ``np.isnan(dff).all(axis=1)``, or exactly
    :func:`session_artefact_mask`.
    """

    dff: np.ndarray
    events: np.ndarray | None


def session_frame_rate(session: Session) -> float:
    """Frame rate (Hz) from the session metadata, else from the frame times."""
    rate = float(session.info.frame_rate)
    if not (np.isfinite(rate) and rate > 0) and session.imaging is not None:
        rate = session.imaging.frame_rate
    if not (np.isfinite(rate) and rate > 0):
        raise DataError(
            "no valid frame rate (SessionInfo.frame_rate and frame times)",
            path=session.source,
            field="frame_rate",
        )
    return rate


def session_artefact_mask(session: Session, params: PreprocessParams | None = None) -> np.ndarray:
    """Frames blanked for the session's stimulation pulses (all False without pulses)."""
    p = params or PreprocessParams()
    if session.imaging is None:
        raise DataError("session has no imaging", path=session.source, field="imaging")
    times = session.imaging.times
    pulses = None if session.stimulation is None else session.stimulation.pulses
    if pulses is None or len(pulses) == 0:
        return np.zeros(len(times), dtype=bool)
    return artefact_mask(times, pulses, session_frame_rate(session), p.artefact_extra_frames)


def session_dff(
    session: Session, params: PreprocessParams | None = None, with_events: bool = True
) -> SessionTraces:
    """dF/F (and events) of a session.

    Returns the file's DfOverF when present (artefact frames additionally set to NaN when
    ``params.blank_existing_dff``), otherwise computes it from F/Fneu with
    :func:`~thalamocortex.preprocess.dff.compute_dff`, blanking the frames of every stimulation
    pulse. Events come from the file when present, otherwise from
    :func:`~thalamocortex.preprocess.events.detect_events`.

    Parameters
    ----------
    session : Session
    params : PreprocessParams, optional
    with_events : bool
        Skip event detection when False.

    Returns
    -------
    SessionTraces
        ``(dff, events)``.
    """
    p = params or PreprocessParams()
    im = session.imaging
    if im is None:
        raise DataError("session has no imaging", path=session.source, field="imaging")
    blanked = session_artefact_mask(session, p)
    if im.dff is not None:
        dff = np.array(im.dff_values, dtype=np.float32, copy=True)
        if p.blank_existing_dff:
            dff[blanked] = np.nan
        from_file = True
    else:
        if im.F is None:
            raise DataError("neither DfOverF nor F present", path=session.source, field="F")
        dff = compute_dff(
            im.f,
            im.fneu,
            session_frame_rate(session),
            p,
            blank_mask=blanked,
            roi_types=im.rois["roi_type"].to_numpy(),
        )
        from_file = False
    events = None
    if with_events:
        if im.events is not None and from_file:
            events = np.array(im.events_values, dtype=np.float32, copy=True)
            events[np.isnan(dff)] = np.nan
        else:
            events = detect_events(dff, p)
    return SessionTraces(dff, events)


def nan_counts(dff: np.ndarray) -> tuple[int, int]:
    """``(n_blanked, n_no_data)`` of a (frames x ROIs) dF/F.

    Blanked (artefact) frames are NaN in every ROI that has data at all; an ROI that is NaN on
    every frame has no data and is counted apart, so its NaN frames never pass for blanked
    photostimulation artefacts.
    """
    if not dff.size:
        return 0, 0
    nan = np.isnan(dff)
    empty = nan.all(axis=0)
    live = ~empty
    n_blanked = int(nan[:, live].all(axis=1).sum()) if live.any() else 0
    return n_blanked, int(empty.sum())


def session_axons(session: Session, params: PreprocessParams | None = None, traces=None):
    """Merge the session's bouton ROIs into axons (None when it has no boutons).

    Correlations are computed on dF/F with the neuropil mode ``merge_neuropil_mode`` (from
    F/Fneu, artefact frames blanked; the file's dF/F when F/Fneu are absent); the merged traces
    are weighted means of the analysis dF/F (``traces`` = :func:`session_dff` output, computed
    when None). Boutons without any finite dF/F are not merged (nothing says which axon they
    belong to, and their NaN frames would void every correlation): their ``labels`` are -1.

    Returns
    -------
    AxonMerge or None
        ``labels`` has one entry per bouton of the session (ROI order); ``boutons`` and
        ``corr`` cover the merged ones (``roi_index`` counts all boutons).
    """
    from thalamocortex.preprocess.merge import merge_boutons

    p = params or PreprocessParams()
    im = session.imaging
    if im is None:
        return None
    is_b = (im.rois["roi_type"] == "bouton").to_numpy()
    if not is_b.any():
        return None
    dff, events = traces if traces is not None else session_dff(session, p)
    has_data = ~np.isnan(dff).all(axis=0)
    use = is_b & has_data
    cluster = None
    if im.F is not None and im.Fneu is not None:
        blanked = session_artefact_mask(session, p)
        cp = p.model_copy(update={"neuropil_mode_boutons": p.merge_neuropil_mode})
        cluster = compute_dff(
            im.f[:, use],
            im.fneu[:, use],
            session_frame_rate(session),
            cp,
            blank_mask=blanked,
            roi_types=np.full(int(use.sum()), "bouton"),
        )
    m = merge_boutons(
        dff[:, use],
        session_frame_rate(session),
        p,
        # with clustering traces of their own, events are detected on those
        events=None if events is None or cluster is not None else events[:, use],
        roi_names=im.rois.loc[use, "roi_name"].astype(str).tolist(),
        cluster_dff=cluster,
    )
    if use.sum() < is_b.sum():
        merged = has_data[is_b]  # among the session's boutons
        labels = np.full(int(is_b.sum()), -1, dtype=np.int64)
        labels[merged] = m.labels
        m.labels = labels
        m.boutons["roi_index"] = np.flatnonzero(merged)
    return m


class AnalysisTraces(NamedTuple):
    """The analysis units of one session and their dF/F.

    Attributes
    ----------
    units : DataFrame, one row per unit (column of ``dff``)
        ``roi_name`` (the ROI's name, or ``axon:<first bouton's name>`` for a merged axon),
        ``roi_type``
        (``soma``/``bouton``/``axon``), ``n_boutons`` (boutons merged into an axon, 0 for other
        units).
    dff : array (n_frames, n_units) float32
        NaN on blanked frames.
    merge : AxonMerge or None
        The bouton merging (None without boutons or when boutons are kept as units).
    """

    units: pd.DataFrame
    dff: np.ndarray
    merge: object | None


def analysis_traces(session: Session, params: PreprocessParams | None = None) -> AnalysisTraces:
    """dF/F of the units a session's analyses count: boutons merged into axons.

    Boutons of one axon carry the same spikes; counting each of them would count one axon
    several times (pseudo-replication, and a fraction of movement-related "ROIs" weighted by
    how many boutons each axon happens to show). With ``params.bouton_unit == "axon"``
    (default) bouton ROIs are replaced by their merged axons (:func:`session_axons`), other
    ROIs pass through; ``"bouton"`` keeps every bouton.

    dF/F is computed once (:func:`session_dff`); events only where the merging needs them
    (files without F/Fneu, whose bouton correlations use the file's dF/F and events).
    """
    p = params or PreprocessParams()
    im = session.imaging
    if im is None:
        raise DataError("session has no imaging", path=session.source, field="imaging")
    rois = im.rois
    is_b = (rois["roi_type"] == "bouton").to_numpy()
    merging = bool(is_b.any()) and p.bouton_unit == "axon"
    need_events = merging and (im.F is None or im.Fneu is None)
    dff, events = session_dff(session, p, with_events=need_events)
    names = rois["roi_name"].astype(str).to_numpy()
    types = rois["roi_type"].astype(str).to_numpy()
    if not merging:
        units = pd.DataFrame({"roi_name": names, "roi_type": types, "n_boutons": 0})
        return AnalysisTraces(units, dff, None)
    m = session_axons(session, p, traces=(dff, events))
    # other ROIs, and boutons without any finite dF/F (not merged: units without data that the
    # analyses count as such), in ROI order, then the axons
    alone = ~is_b
    alone[np.flatnonzero(is_b)[m.labels < 0]] = True
    units = pd.concat(
        [
            pd.DataFrame({"roi_name": names[alone], "roi_type": types[alone], "n_boutons": 0}),
            pd.DataFrame(
                {
                    # named by its first bouton: unique within the session, and equal across
                    # sessions only for axons anchored on the same (tracked) bouton
                    "roi_name": [f"axon:{b.split(',')[0]}" for b in m.axons["boutons"]],
                    "roi_type": "axon",
                    "n_boutons": m.axons["n_boutons"].to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    )
    return AnalysisTraces(units, np.concatenate([dff[:, alone], m.dff], axis=1), m)
