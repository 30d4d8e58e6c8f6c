"""The ``encoding`` stage: movement encoding of inputs and M1 neurons across learning.

Per imaging session with behaviour (axon imaging, all-optical and plain imaging), in parallel,
on the preprocess stage's analysis units (somata; boutons merged into axons, so one axon counts
once) and the behaviour stage's movements and trials: movement-related classification,
peri-movement timing and reliability, decoding of the lever
with a ROI count matched across every analysed session, and the relation of each trial's
decoding to its similarity to the learned movement. Then, across sessions: naive vs expert
contrasts and trends per region with mice as replicates, and the comparison of regions.

Tables written under ``results/encoding/``:

``rois``            one row per unit (soma / axon) and session (class, p-values, timing with
                    CIs, reliability)
``sessions``        region x session summary (fractions, timing, reliability, decoding)
``peri``            trial-averaged movement- and cue-aligned dF/F per unit: all, odd and even
                    trials (cross-validated heatmap order)
``trials``          per rewarded trial: decoding r, population-pattern and lever similarity
``rasters``         single-trial dF/F of each naive/expert session's most movement-related units
``examples``        lever and those units' dF/F over an example stretch of each such session
``per_mouse``       per mouse x metric: naive and expert means and the change (naive/expert
                    sessions chosen per mouse, :mod:`thalamocortex.stats.stages`)
``learning``        region x learning tests per region x metric (primary: two-stage t-test over
                    mice with pooled variance, Holm over regions; secondary: sign-flip,
                    bootstrap, random-slope trend), :mod:`thalamocortex.encoding.learning`
``regions``         which input region changes most, per metric and region (max-T permutation)
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

ANALYSED_EXPERIMENTS: tuple[str, ...] = ("axon_imaging", "all_optical", "imaging")
EMPTY_TABLES = (
    "rois",
    "sessions",
    "peri",
    "trials",
    "rasters",
    "examples",
    "per_mouse",
    "learning",
    "regions",
)


def matched_roi_count(n_rois: pd.Series, params) -> int:
    """ROIs per decoder: the configured count, else the smallest session's (capped)."""
    if params.n_rois_matched > 0:
        return int(params.n_rois_matched)
    n = pd.to_numeric(n_rois, errors="coerce").dropna()
    n = n[n >= params.min_rois]
    return int(min(n.min(), params.max_rois_matched)) if len(n) else 0


def _one_session(
    item, results: str, enc, pre, n_rois_matched: int, seed: int, opener=None, names=None
):
    """Worker: encoding of one session (top level, picklable).

    ``item`` = (path, trials, movements): the session file and the behaviour stage's rows of
    this session (trials with ``movement_kind``, ``movement_onset``,
    ``similarity_to_template``; every movement bout), so the lever is not parsed again.
    Activity comes from the preprocess stage's analysis traces (somata, merged axons).
    ``opener`` opens the session file (the run's session opener; default ``read_session``
    with ``names``).
    """
    from thalamocortex.data.nwb import read_session
    from thalamocortex.encoding.session import encode_session
    from thalamocortex.preprocess.stage import names_of, session_traces

    path, tr, movements = item
    with (opener or partial(read_session, names=names))(path) as s:
        if s.imaging is None or s.lever is None or tr is None or len(tr) == 0:
            return None
        # F/Fneu are not read when the preprocess stage's file is current
        traces = session_traces(s, results, pre, names_of(opener, names))
        rewarded = tr["movement_kind"].to_numpy() == "rewarded"
        onsets = pd.DataFrame(
            {
                "trial": tr["trial"].to_numpy(),
                "cue_time": tr["cue_time"].to_numpy(np.float64),
                "reward_time": tr["reward_time"].to_numpy(np.float64),
                "onset": np.where(rewarded, tr["movement_onset"].to_numpy(np.float64), np.nan),
            }
        )
        sim = None
        if "similarity_to_template" in tr and tr["similarity_to_template"].notna().any():
            sim = tr["similarity_to_template"].to_numpy(np.float64)
        res = encode_session(
            s,
            traces.dff,
            movements,
            enc,
            n_rois_matched=n_rois_matched,
            seed=seed,
            template_similarity=sim,
            trial_onsets=onsets,
            units=traces.units,
        )
        summary = pd.DataFrame(
            [res.summary | {"similarity": "template" if sim is not None else "within_session"}]
        )
        return {
            "rois": res.rois,
            "sessions": summary,
            "peri": res.peri,
            "trials": res.trials,
            "rasters": res.rasters,
            "examples": res.examples,
        }


def _behaviour(ctx, todo: pd.DataFrame) -> list[tuple]:
    """(path, trials, movements) of each session from the behaviour stage's tables."""
    trials = ctx.read_table("behavior", "trials")
    movements = ctx.read_table("behavior", "movements")
    by_t = dict(iter(trials.groupby(["mouse", "session"]))) if len(trials) else {}
    by_m = dict(iter(movements.groupby(["mouse", "session"]))) if len(movements) else {}
    empty = pd.DataFrame(columns=["onset", "offset"])
    items = []
    for _, r in todo.iterrows():
        key = (r["mouse"], int(r["session"]))
        t = by_t.get(key)
        items.append(
            (
                str(r["path"]),
                None if t is None else t.reset_index(drop=True),
                by_m.get(key, empty).reset_index(drop=True),
            )
        )
    return items


def _unit_counts(ctx, todo: pd.DataFrame) -> pd.Series:
    """Analysis units with data per session (merged axons, somata; minus the units without
    any finite dF/F, which are excluded from decoding) from the preprocess stage, else the
    dataset's ROI counts."""
    path = ctx.results / "preprocess" / "sessions.parquet"
    n = pd.to_numeric(todo.get("n_rois", pd.Series(0, index=todo.index)), errors="coerce")
    if path.is_file():
        pre = pd.read_parquet(path)
        if "n_units" in pre:
            pre = pre.assign(
                valid=pre["n_units"] - pre.get("n_rois_no_data", pd.Series(0, index=pre.index))
            )
            units = todo[["mouse", "session"]].merge(
                pre[["mouse", "session", "valid"]], on=["mouse", "session"], how="left"
            )["valid"]
            n = pd.Series(np.where(units.notna(), units, n), index=todo.index)
    return n


def _warn_decay_fallback(out: list[dict], enc) -> None:
    """One warning per indicator whose decay constant is not in the table (onset latencies
    then use default_decay_s, which shifts them)."""
    import logging

    missed: dict[str, list[str]] = {}
    for r in out:
        s = r["sessions"].iloc[0]
        if enc.deconvolve_latency and not s.get("indicator_matched", "x"):
            missed.setdefault(str(s.get("indicator", "?")), []).append(
                f"sub-{s['mouse']}_ses-{s['session']}"
            )
    for ind, sessions in missed.items():
        logging.getLogger("thalamocortex").warning(
            "[encoding] indicator %r is not in encoding.indicator_decay_s %s: onset latencies of "
            "%d session(s) (%s) use default_decay_s = %g s; add it to the table",
            ind,
            sorted(enc.indicator_decay_s),
            len(sessions),
            ", ".join(sessions[:5]),
            enc.default_decay_s,
        )


def run(ctx) -> None:
    from thalamocortex.encoding.learning import (
        learning_contrasts,
        per_mouse_changes,
        region_comparison,
        with_stages,
    )

    cfg = ctx.config
    sessions = ctx.sessions
    todo = sessions[sessions["experiment"].isin(ANALYSED_EXPERIMENTS)]
    if "n_rois" in todo.columns:
        todo = todo[pd.to_numeric(todo["n_rois"], errors="coerce").fillna(0) > 0]
    if "lever_rate" in todo.columns:
        # imaging sessions without behaviour have nothing to encode: said once, then skipped
        no_lever = pd.to_numeric(todo["lever_rate"], errors="coerce").isna()
        for path in todo.loc[no_lever, "path"]:
            ctx.exclude(path, "imaging session without a lever: nothing to encode", "skipped")
        todo = todo[~no_lever]
    if todo.empty:
        ctx.log("no imaging sessions of the axon-imaging or all-optical experiments")
        for name in EMPTY_TABLES:
            ctx.write_table(pd.DataFrame(), name)
        return
    n_match = matched_roi_count(_unit_counts(ctx, todo), cfg.encoding)
    ctx.log(f"{len(todo)} sessions; decoding with {n_match} units per decoder")
    func = partial(
        _one_session,
        results=str(ctx.results),
        enc=cfg.encoding,
        pre=cfg.preprocess,
        n_rois_matched=n_match,
        seed=cfg.stats.seed,
        opener=ctx.opener,
    )
    out = [r for r in ctx.map(func, _behaviour(ctx, todo), desc="encoding") if r]
    _warn_decay_fallback(out, cfg.encoding)
    tables = {k: pd.concat([r[k] for r in out], ignore_index=True) for k in out[0]} if out else {}
    per_session = tables.get("sessions", pd.DataFrame())
    if len(per_session):
        # naive / expert per mouse, from its training days (metadata) when known
        if "day" not in per_session.columns and "day" in sessions.columns:
            days = sessions[["mouse", "session", "day"]].drop_duplicates(["mouse", "session"])
            per_session = per_session.merge(days, on=["mouse", "session"], how="left")
        per_session = with_stages(per_session, cfg.stats)
        tables["sessions"] = per_session
        if "rois" in tables:
            stage = per_session.set_index(["mouse", "session"])["stage"]
            key = pd.MultiIndex.from_frame(tables["rois"][["mouse", "session"]])
            tables["rois"]["stage"] = stage.reindex(key).fillna("").to_numpy()
    for name in ("rasters", "examples"):  # the report shows naive and expert sessions only
        t = tables.get(name, pd.DataFrame())
        if len(t) and len(per_session):
            stages = per_session[["mouse", "session", "stage"]]
            t = t.merge(stages, on=["mouse", "session"])
            tables[name] = t[t["stage"].isin(["naive", "expert"])].reset_index(drop=True)
    for name in ("rois", "sessions", "peri", "trials", "rasters", "examples"):
        ctx.write_table(tables.get(name, pd.DataFrame()), name)
    if per_session.empty:
        for name in ("per_mouse", "learning", "regions"):
            ctx.write_table(pd.DataFrame(), name)
        return
    ctx.write_table(per_mouse_changes(per_session, cfg.stats), "per_mouse")
    ctx.write_table(learning_contrasts(per_session, cfg.stats), "learning")
    ctx.write_table(region_comparison(per_session, cfg.stats), "regions")
