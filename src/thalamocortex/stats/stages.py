"""Naive and expert sessions of each mouse, relative to that mouse's own sessions.

The paper contrasts "naive" (first sessions) with "expert" (after two weeks) mice. Absolute
session numbers (e.g. 1-3 and 12-14) break on datasets numbered otherwise (a dataset of sessions
1-6 has no session 12), so by default the stages are defined per mouse:

* ``first_last`` (default): the mouse's sessions ordered by training day (the ``day`` column of
  the metadata; the session number when there is none); naive = its first ``k`` sessions,
  expert = its last ``k``, with ``k = min(stage_sessions, n_sessions // 2)`` so that the two
  never overlap. A mouse whose first session is later than ``naive_start_max_day`` was never
  imaged naive (e.g. an inactivation cohort trained before imaging, days 13-14) and contributes
  no contrast.
* ``day``: training days within ``naive_days`` and ``expert_days`` (the paper's absolute
  definition, for datasets whose day numbering is known).

Every mouse that ends up without a naive or an expert session is reported with a
:class:`StageWindowWarning` naming the mouse and why, instead of a silent NaN contrast.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.stats.params import StatsParams

NAIVE, EXPERT = "naive", "expert"


class StageWindowWarning(UserWarning):
    """A mouse (or a whole table) has no naive or no expert session."""


def _training_time(sessions: pd.DataFrame) -> pd.Series:
    if "day" in sessions.columns:
        day = pd.to_numeric(sessions["day"], errors="coerce")
        if day.notna().all():
            return day.astype(np.float64)
    return pd.to_numeric(sessions["session"], errors="coerce").astype(np.float64)


def learning_stages(
    sessions: pd.DataFrame,
    params: StatsParams | None = None,
    what: str = "",
    warn: bool = True,
) -> tuple[pd.Series, list[str]]:
    """'naive', 'expert' or '' for every row of a table keyed by mouse and session.

    Parameters
    ----------
    sessions : DataFrame
        Columns ``mouse`` and ``session`` (and ``day``, the training day, when known); any
        number of rows per session (e.g. one per ROI).
    params : StatsParams
        ``stage_method``, ``stage_sessions``, ``naive_start_max_day``, ``naive_days``,
        ``expert_days``.
    what : str
        Name of the table, used in warnings.
    warn : bool
        Issue each message as a :class:`StageWindowWarning` (they are returned either way).

    Returns
    -------
    stage : Series (index of ``sessions``) of str
    messages : list of str
        One per mouse without a naive or expert session (mice never imaged naive are listed
        together), and one when no mouse has both.
    """
    p = params or StatsParams()
    missing = [c for c in ("mouse", "session") if c not in sessions.columns]
    if missing:
        raise DataError(f"learning stages need columns {missing}; has {list(sessions.columns)}")
    stage = pd.Series("", index=sessions.index, dtype=object)
    messages: list[str] = []
    if sessions.empty:
        return stage, messages
    t = _training_time(sessions)
    label = "training day" if "day" in sessions.columns else "session"
    keyed = pd.DataFrame({"mouse": sessions["mouse"], "t": t}, index=sessions.index)
    n_both = 0
    late: list[str] = []  # mice first imaged after naive_start_max_day
    for mouse, idx in keyed.groupby("mouse", sort=True).groups.items():
        times = np.unique(keyed.loc[idx, "t"].dropna().to_numpy())
        if p.stage_method == "first_last":
            k = min(p.stage_sessions, len(times) // 2)
            if k == 0:
                messages.append(
                    f"{what}mouse {mouse}: one session ({label} {times[0]:g}), no naive-vs-expert "
                    "contrast"
                    if len(times)
                    else f"{what}mouse {mouse}: no session with a {label}"
                )
                continue
            if times[0] > p.naive_start_max_day:
                late.append(f"{mouse} ({label} {times[0]:g})")
                continue
            naive, expert = times[:k], times[-k:]
        else:
            lo_n, hi_n = p.naive_days
            lo_e, hi_e = p.expert_days
            naive = times[(times >= lo_n) & (times <= hi_n)]
            expert = times[(times >= lo_e) & (times <= hi_e)]
            if len(naive) == 0 or len(expert) == 0:
                empty = [n for n, w in ((NAIVE, naive), (EXPERT, expert)) if len(w) == 0]
                messages.append(
                    f"{what}mouse {mouse}: no {' and no '.join(empty)} session "
                    f"(naive_days {p.naive_days}, expert_days {p.expert_days}; its {label}s "
                    f"{times.min():g}..{times.max():g})"
                )
        rows = pd.Index(idx)
        tt = keyed.loc[rows, "t"].to_numpy()
        stage.loc[rows[np.isin(tt, naive)]] = NAIVE
        stage.loc[rows[np.isin(tt, expert)]] = EXPERT
        n_both += bool(len(naive) and len(expert))
    if late:
        messages.append(
            f"{what}{len(late)} mice first imaged after naive_start_max_day "
            f"{p.naive_start_max_day} (never imaged naive) are left out of naive-vs-expert "
            f"contrasts: {', '.join(late)}"
        )
    if n_both == 0:
        messages.append(f"{what}no mouse has both a naive and an expert session")
    if warn:
        for m in messages:
            warnings.warn(m, StageWindowWarning, stacklevel=2)
    return stage, messages
