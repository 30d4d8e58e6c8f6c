"""Behaviour of one session from the data model: parse, trials, snippets (no file I/O).

This is the entry point other analyses call for movement timing::

    from thalamocortex.behavior import rewarded_movement_onsets
    onsets = rewarded_movement_onsets(session, config.behavior)

or, with a mouse's learned template (from the behaviour stage's ``templates`` table), for the
per-trial similarity to the learned movement::

    sb = analyse_session(session, config.behavior, template=template_position)
    sb.trials["similarity_to_template"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from thalamocortex.behavior.learning import binned_for_correlation, lever_snippets
from thalamocortex.behavior.learning import template_similarity as _similarity
from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import LeverParse, parse_lever
from thalamocortex.behavior.trials import intertrial_movements, session_summary, trial_table
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Session


@dataclass
class SessionBehavior:
    """Behaviour of one session.

    Attributes
    ----------
    trials : DataFrame
        One row per trial (:data:`~thalamocortex.behavior.trials.TRIAL_TABLE_COLUMNS` plus
        ``similarity_to_template`` and ``usable_trace``).
    movements : DataFrame
        One row per movement bout with ``trial`` (-1 for inter-trial movements) and ``kind``
        (``"trial"``/``"intertrial"``).
    summary : dict
        :func:`~thalamocortex.behavior.trials.session_summary`.
    parsed : LeverParse
    snippets : array (n_trials, n_samples) float32
        Lever -pre..+post s around each trial's movement onset (NaN rows without movement).
    snippet_times : array (n_samples,)
    binned : array (n_trials, n_bins)
        0..``stereotypy_window_s`` in ``stereotypy_bin_s`` bins (for stereotypy/template).
    """

    trials: pd.DataFrame
    movements: pd.DataFrame
    summary: dict
    parsed: LeverParse
    snippets: np.ndarray
    snippet_times: np.ndarray
    binned: np.ndarray


def analyse_session(
    session: Session,
    params: BehaviorParams | None = None,
    template: np.ndarray | None = None,
) -> SessionBehavior:
    """Parse the lever and build the trials table of one session.

    Parameters
    ----------
    session : Session
        Needs ``lever`` and ``trials``.
    params : BehaviorParams, optional
    template : array (n_bins,), optional
        The mouse's learned template (binned like :func:`binned_for_correlation`); fills
        ``similarity_to_template``.

    Raises
    ------
    DataError
        Missing lever/trials, flat or all-NaN lever, lever shorter than the trials.
    """
    p = params or BehaviorParams()
    source = session.source or session.id
    if session.lever is None:
        raise DataError("session has no lever trace", source, "lever")
    if session.trials is None:
        raise DataError("session has no trials table", source, "trials")
    parsed = parse_lever(session.lever, p, source)
    table = trial_table(
        parsed,
        session.trials,
        p,
        mouse=session.info.mouse,
        session=session.info.session,
        source=source,
    )
    snippets, times = lever_snippets(
        parsed, table["movement_onset"].to_numpy(), p.snippet_pre_s, p.snippet_post_s
    )
    binned = binned_for_correlation(snippets, times, p)
    table["usable_trace"] = np.isfinite(binned).all(axis=1) & (np.std(binned, axis=1) > 0)
    table["similarity_to_template"] = (
        _similarity(binned, template) if template is not None else np.nan
    )
    mv = parsed.movements.copy()
    inter = intertrial_movements(parsed, table)
    trial_of = np.full(len(mv), -1, dtype=np.int64)
    idx = table["movement_index"].to_numpy()
    sel = idx >= 0
    trial_of[idx[sel]] = table["trial"].to_numpy()[sel]
    mv.insert(0, "session", int(session.info.session))
    mv.insert(0, "mouse", session.info.mouse)
    mv["trial"] = trial_of
    mv["kind"] = np.where(inter, "intertrial", "trial")
    summary = session_summary(parsed, table)
    summary["n_unusable_traces"] = int(
        ((table["movement_kind"] == "rewarded") & ~table["usable_trace"]).sum()
    )
    return SessionBehavior(table, mv, summary, parsed, snippets, times, binned)


def rewarded_movement_onsets(
    session: Session, params: BehaviorParams | None = None
) -> pd.DataFrame:
    """Per-trial movement timing for the encoding / opto analyses.

    Returns
    -------
    DataFrame, one row per trial: ``trial``, ``cue_time``, ``reward_time``, ``included``,
    ``cued``, ``rewarded``, ``movement_kind`` (``rewarded``: bout containing the reward;
    ``response``: first movement within the response window of an unrewarded trial; ``none``;
    ``unmatched``), ``movement_onset``, ``movement_offset``, ``reaction_time`` (s), ``light``.
    """
    sb = analyse_session(session, params)
    cols = [
        "trial",
        "cue_time",
        "reward_time",
        "included",
        "cued",
        "rewarded",
        "movement_kind",
        "movement_onset",
        "movement_offset",
        "reaction_time",
        "light",
    ]
    return sb.trials[cols].copy()
