"""Which ROIs of different sessions are the same neuron: the identity used across days.

The naive-vs-expert comparison (:func:`thalamocortex.opto.relation.naive_vs_expert`) needs a key
that names one neuron in every session of a mouse. Two choices (``OptoParams.identity``):

* ``"roi_name"`` — equal ``roi_name`` within a mouse. Right for files whose names persist
  across sessions (the simulator's NWB files, a lab's curated multi-day ROI sets); wrong for
  sessions segmented one at a time (suite2p names ROIs ``roi0..roiN`` per session, so equal
  names across days are unrelated cells).
* ``"tracking"`` — the cell index of the preprocess stage's cross-session tracking table
  (``results/preprocess/tracking.parquet``: ``mouse``, ``cell``, ``session``, ``roi``,
  ``roi_name``, ``probability``; ``roi`` -1, ``roi_name`` "" and ``probability`` NaN where the
  cell is absent). A ROI becomes an observation of cell ``k`` (key ``cell<k>``) when its match
  probability (the tracker's same-cell probability of that observation; 1 for a cell seen in
  one session only) is at least ``min_track_probability``; ROIs below it and ROIs the table does not
  list are left out (the convention of CellReg, Sheintuch et al. 2017, and ROICaT: analyses
  filter on the match score).
* ``"auto"`` resolves to ``"tracking"`` when the table is non-empty and lists every session of
  the mice that have both naive and expert sessions, else to ``"roi_name"``.

Pure functions over DataFrames; the stage reads the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError

#: Name of the identity column added to the relation table.
IDENTITY = "identity"

#: Columns a tracking table must have.
TRACKING_COLUMNS: tuple[str, ...] = ("mouse", "cell", "session", "roi_name", "probability")


def tracking_observations(tracking: pd.DataFrame) -> pd.DataFrame:
    """The present ROIs of a tracking table, one row per (mouse, session, roi_name).

    Parameters
    ----------
    tracking : DataFrame
        The preprocess stage's table: ``mouse``, ``cell``, ``session``, ``roi_name``,
        ``probability`` (and ``roi``); absent cells have ``roi`` -1 / ``roi_name`` "".

    Returns
    -------
    DataFrame with ``mouse`` (str), ``session`` (int64), ``roi_name`` (str), ``cell`` (int64),
    ``probability`` (float64, NaN read as 0) for the present ROIs only.

    Raises
    ------
    DataError
        Missing columns; a ROI listed under two cells; a cell holding two ROIs of one session.
    """
    missing = [c for c in TRACKING_COLUMNS if c not in tracking.columns]
    if missing:
        raise DataError(
            f"missing columns {missing}; has {list(tracking.columns)}", field="tracking table"
        )
    t = tracking
    names = t["roi_name"].fillna("").astype(str)
    present = names.ne("").to_numpy().copy()
    if "roi" in t.columns:
        present &= pd.to_numeric(t["roi"], errors="coerce").fillna(-1).to_numpy() >= 0
    out = pd.DataFrame(
        {
            "mouse": t["mouse"].astype(str).to_numpy()[present],
            "session": t["session"].to_numpy(np.int64)[present],
            "roi_name": names.to_numpy()[present],
            "cell": t["cell"].to_numpy(np.int64)[present],
            "probability": np.nan_to_num(t["probability"].to_numpy(np.float64)[present], nan=0.0),
        }
    )
    dup = out.duplicated(["mouse", "session", "roi_name"], keep=False)
    if dup.any():
        r = out[dup].iloc[0]
        raise DataError(
            f"ROI {r['roi_name']!r} of mouse {r['mouse']} session {r['session']} belongs to "
            f"{int(dup.sum())} tracked cells; expected exactly one",
            field="tracking table",
        )
    dup = out.duplicated(["mouse", "session", "cell"], keep=False)
    if dup.any():
        r = out[dup].iloc[0]
        raise DataError(
            f"cell {r['cell']} of mouse {r['mouse']} holds several ROIs of session "
            f"{r['session']}; expected at most one",
            field="tracking table",
        )
    return out


def sessions_to_identify(table: pd.DataFrame, stages=("naive", "expert")) -> pd.DataFrame:
    """(mouse, session) pairs of the mice that have a session in every one of ``stages``.

    Only these sessions enter the naive-vs-expert comparison, so only they need an identity.
    """
    for c in ("mouse", "session", "stage"):
        if c not in table.columns:
            raise DataError(f"missing column {c!r}", field="relation table")
    sub = table[table["stage"].isin(stages)]
    n_stages = sub.groupby("mouse", observed=True)["stage"].nunique()
    mice = n_stages[n_stages == len(stages)].index
    keys = sub.loc[sub["mouse"].isin(mice), ["mouse", "session"]].drop_duplicates()
    keys = keys.astype({"mouse": str, "session": np.int64})
    return keys.sort_values(["mouse", "session"]).reset_index(drop=True)


def tracking_coverage(table: pd.DataFrame, tracking: pd.DataFrame | None) -> pd.DataFrame:
    """For each session to identify: whether the tracking table lists ROIs of it.

    Returns
    -------
    DataFrame with ``mouse``, ``session``, ``covered`` (bool).
    """
    keys = sessions_to_identify(table)
    if tracking is None or len(tracking) == 0:
        return keys.assign(covered=False)
    obs = tracking_observations(tracking)
    have = obs[["mouse", "session"]].drop_duplicates().assign(covered=True)
    out = keys.merge(have, on=["mouse", "session"], how="left")
    out["covered"] = out["covered"].fillna(False).astype(bool)
    return out


def resolve_identity(
    requested: str, table: pd.DataFrame, tracking: pd.DataFrame | None
) -> tuple[str, str]:
    """The identity to use (``"roi_name"`` or ``"tracking"``) and why.

    Parameters
    ----------
    requested : {"auto", "roi_name", "tracking"}
        ``OptoParams.identity``.
    table : DataFrame
        Relation table (``mouse``, ``session``, ``stage``).
    tracking : DataFrame or None
        The preprocess stage's tracking table (None when it was not written).

    Raises
    ------
    DataError
        ``requested == "tracking"`` without a non-empty tracking table.
    """
    if requested not in ("auto", "roi_name", "tracking"):
        raise DataError(
            f"identity {requested!r}; expected 'auto', 'roi_name' or 'tracking'",
            field="opto.identity",
        )
    if requested == "roi_name":
        return "roi_name", "requested (opto.identity = roi_name)"
    if tracking is None or len(tracking) == 0:
        if requested == "tracking":
            raise DataError(
                "opto.identity = 'tracking' but the preprocess stage wrote no (or an empty) "
                "tracking table; tracking needs >= 2 sessions per mouse with footprints and a "
                "mean image",
                field="tracking table",
            )
        return "roi_name", "no cross-session tracking table"
    cov = tracking_coverage(table, tracking)
    n, k = len(cov), int(cov["covered"].sum())
    if requested == "tracking":
        note = "" if k == n else f"; {n - k} sessions are not in the table (their ROIs untracked)"
        return "tracking", f"requested (opto.identity = tracking){note}"
    if n == 0:
        return "roi_name", "no mouse has both naive and expert sessions"
    if k < n:
        miss = cov[~cov["covered"]].head(3)
        eg = ", ".join(f"{m} ses-{s}" for m, s in zip(miss["mouse"], miss["session"]))
        return "roi_name", f"tracking table lacks {n - k} of {n} naive/expert sessions ({eg})"
    return "tracking", f"tracking table covers all {n} naive/expert sessions"


def assign_identity(
    table: pd.DataFrame,
    method: str,
    tracking: pd.DataFrame | None = None,
    min_probability: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the cross-session ``identity`` key to a relation table.

    Parameters
    ----------
    table : DataFrame
        One row per neuron and session: ``mouse``, ``session``, ``roi_name`` (+ anything).
    method : {"roi_name", "tracking"}
        Resolved identity (:func:`resolve_identity`).
    tracking : DataFrame, optional
        Tracking table (required for ``"tracking"``).
    min_probability : float
        ROIs whose match probability is below this are dropped (``"tracking"`` only).

    Returns
    -------
    table : DataFrame
        The kept rows with a string column ``identity`` (``roi_name``, or ``cell<k>`` with
        ``k`` the tracking table's cell index) and, with tracking, ``track_cell`` (int) and
        ``track_probability``.
    counts : DataFrame
        Per mouse: ``n_rows`` (neuron-sessions in), ``n_untracked`` (not in the tracking
        table), ``n_low_probability`` (below ``min_probability``), ``n_kept``.
    """
    for c in ("mouse", "session", "roi_name"):
        if c not in table.columns:
            raise DataError(f"missing column {c!r}", field="relation table")
    t = table.drop(
        columns=[c for c in (IDENTITY, "track_cell", "track_probability") if c in table.columns]
    ).reset_index(drop=True)
    mice = t["mouse"].astype(str)
    if method == "roi_name":
        t[IDENTITY] = t["roi_name"].astype(str)
        untracked = np.zeros(len(t), bool)
        low = np.zeros(len(t), bool)
    elif method == "tracking":
        if tracking is None:
            raise DataError("identity 'tracking' needs a tracking table", field="tracking table")
        obs = tracking_observations(tracking).rename(
            columns={"cell": "track_cell", "probability": "track_probability"}
        )
        keyed = pd.DataFrame(
            {
                "mouse": mice.to_numpy(),
                "session": t["session"].to_numpy(np.int64),
                "roi_name": t["roi_name"].astype(str).to_numpy(),
            }
        )
        m = keyed.merge(obs, on=["mouse", "session", "roi_name"], how="left")
        untracked = m["track_cell"].isna().to_numpy()
        prob = m["track_probability"].to_numpy(np.float64)
        low = ~untracked & ~(prob >= min_probability)
        t["track_cell"] = m["track_cell"].fillna(-1).to_numpy(np.int64)
        t["track_probability"] = prob
        t[IDENTITY] = ["cell" + str(c) for c in t["track_cell"]]
    else:
        raise DataError(
            f"identity {method!r}; expected 'roi_name' or 'tracking'", field="opto.identity"
        )
    keep = ~untracked & ~low
    counts = (
        pd.DataFrame({"mouse": mice, "u": untracked, "lo": low, "k": keep})
        .groupby("mouse", sort=True)
        .agg(
            n_rows=("k", "size"),
            n_untracked=("u", "sum"),
            n_low_probability=("lo", "sum"),
            n_kept=("k", "sum"),
        )
        .reset_index()
    )
    return t[keep].reset_index(drop=True), counts
