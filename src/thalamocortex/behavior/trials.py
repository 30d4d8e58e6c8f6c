"""Trials of the cued lever-press task: cued flag, rewarded movement, reaction time and more.

Conventions (SCIENCE.md §2): a trial is *cued* when the lever did not move in the
``pre_cue_quiet_s`` before the cue; the *rewarded movement* is the movement bout containing the
reward time; reaction time = movement onset - cue; time to threshold = reward time -
``reward_delay_s`` - movement onset (the reward marks the threshold crossing). For unrewarded
trials the first movement starting within ``response_window_s`` after the cue is reported as
the trial's response movement
(``movement_kind == "response"``, ``rewarded == False``) so that failed presses (e.g. under
inactivation) still get a trajectory.

Exclusions are explicit: a trial outside the lever recording or whose window touches an
unrecoverable NaN run of the lever is kept in the table with ``included == False`` and its
``exclusion`` reason, and the session summary counts them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import LeverParse
from thalamocortex.data.errors import DataError

#: Columns of the per-trial table (one row per trial).
TRIAL_TABLE_COLUMNS: tuple[str, ...] = (
    "mouse",
    "session",
    "trial",
    "cue_time",
    "reward_time",
    "outcome",
    "light",
    "included",
    "exclusion",
    "cued",
    "rewarded",
    "movement_kind",
    "movement_onset",
    "movement_offset",
    "reaction_time",
    "movement_duration",
    "peak_amplitude",
    "time_to_threshold",
    "movement_index",
)


def _column(trials: pd.DataFrame, name: str, default, dtype=None) -> np.ndarray:
    if name in trials.columns:
        v = trials[name].to_numpy()
        return v.astype(dtype) if dtype is not None else v
    return np.full(len(trials), default, dtype=dtype)


def trial_table(
    parsed: LeverParse,
    trials: pd.DataFrame,
    params: BehaviorParams | None = None,
    *,
    mouse: str = "",
    session: int = 0,
    source: str = "",
) -> pd.DataFrame:
    """One row per trial with its movement measures.

    Parameters
    ----------
    parsed : LeverParse
        Output of :func:`~thalamocortex.behavior.parse.parse_lever` for the session.
    trials : DataFrame
        The session's trials (``cue_time`` required; ``reward_time``, ``outcome``, ``light``
        optional), times in s on the session clock.
    params : BehaviorParams, optional
    mouse, session : identifiers copied into the table
    source : str
        File name for error messages.

    Returns
    -------
    DataFrame with :data:`TRIAL_TABLE_COLUMNS` (times in s, amplitudes in lever units).
    ``movement_index`` is the row of ``parsed.movements`` (-1 if none).

    Raises
    ------
    DataError
        If ``cue_time`` is missing, or more than ``max_trials_outside_fraction`` of the trials
        lie outside the lever recording (the lever is shorter than the trials).
    """
    p = params or BehaviorParams()
    where = source or None
    if "cue_time" not in trials.columns:
        raise DataError(
            f"trials table has no 'cue_time' column; has {list(trials.columns)}",
            where,
            "trials.cue_time",
        )
    n = len(trials)
    cue = trials["cue_time"].to_numpy(np.float64)
    reward = _column(trials, "reward_time", np.nan, np.float64)
    outcome = _column(trials, "outcome", "", object)
    light = _column(trials, "light", False, bool)
    t_start = parsed.t0
    t_end = parsed.t0 + parsed.duration

    # --- exclusions --------------------------------------------------------------------------
    exclusion = np.full(n, "", dtype=object)
    outside = ~np.isfinite(cue) | (cue - p.pre_cue_quiet_s < t_start) | (cue >= t_end)
    outside |= np.isfinite(reward) & (reward >= t_end)
    exclusion[outside] = "outside_recording"
    n_out = int(outside.sum())
    if n and n_out > p.max_trials_outside_fraction * n:
        last = float(np.nanmax(np.where(np.isfinite(reward), reward, cue)))
        raise DataError(
            f"{n_out} of {n} trials lie outside the lever recording "
            f"[{t_start:.3f}, {t_end:.3f}] s (last trial event at {last:.3f} s): the lever is "
            f"shorter than the trials (allowed fraction outside: "
            f"{p.max_trials_outside_fraction})",
            where,
            "lever",
        )
    if not parsed.valid.all():
        # trial window: pre-cue quiet period to the end of the response window
        inval_c = np.concatenate(([0], np.cumsum(~parsed.valid)))
        lo = np.clip(parsed.sample_index(cue - p.pre_cue_quiet_s), 0, parsed.n_samples)
        hi_t = np.fmax(cue + p.response_window_s, np.where(np.isfinite(reward), reward, cue))
        hi = np.clip(parsed.sample_index(hi_t) + 1, 0, parsed.n_samples)
        nan_hit = (inval_c[hi] - inval_c[lo]) > 0
        exclusion[nan_hit & ~outside] = "lever_nan"
    included = exclusion == ""

    # --- movements ------------------------------------------------------------------------------
    mv = parsed.movements
    on = mv["onset"].to_numpy(np.float64)
    off = mv["offset"].to_numpy(np.float64)
    n_mv = len(on)
    k_pre = np.searchsorted(on, cue, side="left") - 1
    k_rew = np.searchsorted(on, np.nan_to_num(reward, nan=-np.inf), side="right") - 1
    has_reward = np.isfinite(reward) & included
    if n_mv:
        moving_pre = (k_pre >= 0) & (off[np.clip(k_pre, 0, n_mv - 1)] > cue - p.pre_cue_quiet_s)
        ok_rew = has_reward & (k_rew >= 0) & (off[np.clip(k_rew, 0, n_mv - 1)] > reward)
    else:
        moving_pre = np.zeros(n, dtype=bool)
        ok_rew = np.zeros(n, dtype=bool)
    cued = ~moving_pre & included
    k_resp = np.searchsorted(on, cue, side="left")
    ok_resp = ~has_reward & included & (k_resp < n_mv)
    if n_mv:
        ok_resp &= on[np.clip(k_resp, 0, n_mv - 1)] <= cue + p.response_window_s
    idx = np.full(n, -1, dtype=np.int64)
    idx[ok_rew] = k_rew[ok_rew]
    idx[ok_resp] = k_resp[ok_resp]
    kind = np.full(n, "none", dtype=object)
    kind[ok_rew] = "rewarded"
    kind[ok_resp] = "response"
    kind[has_reward & ~ok_rew] = "unmatched"  # reward but no kept bout around it (counted)

    def take(col: str) -> np.ndarray:
        v = mv[col].to_numpy(np.float64) if len(mv) else np.zeros(0)
        out = np.full(n, np.nan)
        sel = idx >= 0
        out[sel] = v[idx[sel]]
        return out

    onset, offset = take("onset"), take("offset")
    table = pd.DataFrame(
        {
            "mouse": mouse,
            "session": int(session),
            "trial": trials["trial"].to_numpy() if "trial" in trials.columns else np.arange(n),
            "cue_time": cue,
            "reward_time": reward,
            "outcome": outcome.astype(str),
            "light": light,
            "included": included,
            "exclusion": exclusion.astype(str),
            "cued": cued,
            "rewarded": has_reward,
            "movement_kind": kind.astype(str),
            "movement_onset": onset,
            "movement_offset": offset,
            "reaction_time": onset - cue,
            "movement_duration": offset - onset,
            "peak_amplitude": take("peak_amplitude"),
            "time_to_threshold": np.where(ok_rew, reward - p.reward_delay_s - onset, np.nan),
            "movement_index": idx,
        }
    )
    return table[list(TRIAL_TABLE_COLUMNS)]


def intertrial_movements(parsed: LeverParse, table: pd.DataFrame) -> np.ndarray:
    """Boolean (n_movements,): True for bouts that are no trial's rewarded/response movement."""
    used = np.zeros(len(parsed.movements), dtype=bool)
    idx = table["movement_index"].to_numpy()
    used[idx[idx >= 0]] = True
    return ~used


def session_summary(parsed: LeverParse, table: pd.DataFrame) -> dict:
    """Per-session behaviour numbers (without the learning metrics).

    Returns
    -------
    dict with ``n_trials``, ``n_included``, ``n_excluded_outside``, ``n_excluded_nan``,
    ``n_cued``, ``n_rewarded``, ``n_unmatched_reward``, ``success_rate`` (rewarded / included
    trials), ``success_rate_cued`` (rewarded cued / cued), ``median_reaction_time`` (s, rewarded
    cued trials), ``median_movement_duration`` (s), ``median_time_to_threshold`` (s),
    ``n_movements``, ``n_intertrial_movements``, ``intertrial_movement_rate`` (per minute of
    valid lever), ``fraction_time_moving``, and the parser's exclusion counts.
    """
    inc = table["included"].to_numpy(bool)
    rew = table["rewarded"].to_numpy(bool) & inc
    cued = table["cued"].to_numpy(bool)
    kind = table["movement_kind"].to_numpy()
    good = rew & (kind == "rewarded")
    valid_min = parsed.valid.sum() / parsed.rate / 60.0
    n_inter = int(intertrial_movements(parsed, table).sum())
    rc = good & cued
    out = {
        "n_trials": len(table),
        "n_included": int(inc.sum()),
        "n_excluded_outside": int((table["exclusion"] == "outside_recording").sum()),
        "n_excluded_nan": int((table["exclusion"] == "lever_nan").sum()),
        "n_cued": int(cued.sum()),
        "n_rewarded": int(rew.sum()),
        "n_unmatched_reward": int((kind == "unmatched").sum()),
        "success_rate": float(rew.sum() / inc.sum()) if inc.any() else np.nan,
        "success_rate_cued": float((rew & cued).sum() / cued.sum()) if cued.any() else np.nan,
        "median_reaction_time": float(np.median(table["reaction_time"][rc]))
        if rc.any()
        else np.nan,
        "median_movement_duration": float(np.median(table["movement_duration"][good]))
        if good.any()
        else np.nan,
        "median_time_to_threshold": float(np.median(table["time_to_threshold"][good]))
        if good.any()
        else np.nan,
        "n_movements": len(parsed.movements),
        "n_intertrial_movements": n_inter,
        "intertrial_movement_rate": n_inter / valid_min if valid_min > 0 else np.nan,
        "fraction_time_moving": float(parsed.moving[parsed.valid].mean())
        if parsed.valid.any()
        else np.nan,
        "speed_threshold": parsed.threshold,
        "rest_noise_sd": parsed.rest_noise_sd,
    }
    out.update({k: int(v) for k, v in parsed.counts.items()})
    return out
