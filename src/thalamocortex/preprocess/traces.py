"""dF/F and events of a session, from the file when present, otherwise computed.

This is the single entry point analysis stages use for activity::

    dff, events = session_dff(session, config.preprocess)

Artefact frames (one block per stimulation pulse, see
:func:`~thalamocortex.preprocess.dff.artefact_mask`)
are NaN in both arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

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


def session_axons(session: Session, params: PreprocessParams | None = None, traces=None):
    """Merge the session's bouton ROIs into axons (None when it has no boutons).

    Correlations are computed on dF/F with the neuropil mode ``merge_neuropil_mode`` (from
    F/Fneu, artefact frames blanked; the file's dF/F when F/Fneu are absent); the merged traces
    are weighted means of the analysis dF/F (``traces`` = :func:`session_dff` output, computed
    when None).

    Returns
    -------
    AxonMerge or None
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
    cluster = None
    if im.F is not None and im.Fneu is not None:
        blanked = session_artefact_mask(session, p)
        cp = p.model_copy(update={"neuropil_mode_boutons": p.merge_neuropil_mode})
        cluster = compute_dff(
            im.f[:, is_b],
            im.fneu[:, is_b],
            session_frame_rate(session),
            cp,
            blank_mask=blanked,
            roi_types=np.full(int(is_b.sum()), "bouton"),
        )
    return merge_boutons(
        dff[:, is_b],
        session_frame_rate(session),
        p,
        # with clustering traces of their own, events are detected on those
        events=None if events is None or cluster is not None else events[:, is_b],
        roi_names=im.rois.loc[is_b, "roi_name"].astype(str).tolist(),
        cluster_dff=cluster,
    )
