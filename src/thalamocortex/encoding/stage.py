"""The ``encoding`` stage: movement encoding of inputs and M1 neurons across learning.

Per imaging session with behaviour (axon imaging, all-optical and plain imaging), in parallel:
movement-related classification, peri-movement timing and reliability, decoding of the lever
with a ROI count matched across every analysed session, and the relation of each trial's
decoding to its similarity to the learned movement. Then, across sessions: naive vs expert
contrasts and trends per region with mice as replicates, and the comparison of regions.

Tables written under ``results/encoding/``:

``rois``            one row per ROI and session (class, p-values, timing with CIs, reliability)
``sessions``        region x session summary (fractions, timing, reliability, decoding)
``peri``            trial-averaged movement- and cue-aligned dF/F per ROI (for heatmaps)
``trials``          per rewarded trial: decoding r, population-pattern and lever similarity
``learning``        per region x metric: naive, expert, change, CI, p (perm/boot), slope, q
``regions``         per metric: which region changes most, permutation test across regions
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

ANALYSED_EXPERIMENTS: tuple[str, ...] = ("axon_imaging", "all_optical", "imaging")


def matched_roi_count(n_rois: pd.Series, params) -> int:
    """ROIs per decoder: the configured count, else the smallest session's (capped)."""
    if params.n_rois_matched > 0:
        return int(params.n_rois_matched)
    n = pd.to_numeric(n_rois, errors="coerce").dropna()
    n = n[n >= params.min_rois]
    return int(min(n.min(), params.max_rois_matched)) if len(n) else 0


def _valid_roi_counts(results: Path, todo: pd.DataFrame) -> pd.Series | None:
    """ROIs with data per session: the traces stage's ROI count minus the ROIs it found
    without any finite dF/F (excluded from decoding); the sessions table's count otherwise."""
    if "n_rois" not in todo:
        return None
    n = pd.to_numeric(todo["n_rois"], errors="coerce").to_numpy(np.float64)
    path = Path(results) / "traces" / "traces_summary.parquet"
    if path.is_file():
        t = pd.read_parquet(path)
        if {"session_id", "n_rois", "n_rois_no_data"} <= set(t.columns):
            sid = "sub-" + todo["mouse"].astype(str) + "_ses-" + todo["session"].astype(str)
            valid = dict(zip(t["session_id"], t["n_rois"] - t["n_rois_no_data"]))
            got = sid.map(valid).to_numpy(np.float64)
            n = np.where(np.isfinite(got), got, n)
    return pd.Series(n, index=todo.index)


def _template_similarity(results: Path, mouse: str, session: int) -> pd.DataFrame | None:
    """Per-trial similarity to the learned template from the behaviour stage, if it ran."""
    path = results / "behavior" / "trials.parquet"
    if not path.is_file():
        return None
    t = pd.read_parquet(path)
    if "similarity_to_template" not in t.columns:
        return None
    t = t[(t["mouse"] == mouse) & (t["session"] == session)]
    return t if len(t) and t["similarity_to_template"].notna().any() else None


def _one_session(
    path: str, results: str, enc, beh, pre, n_rois_matched: int, seed: int, opener=None
) -> dict[str, pd.DataFrame] | None:
    from thalamocortex.behavior.session import analyse_session
    from thalamocortex.data.nwb import read_session
    from thalamocortex.encoding.session import encode_session
    from thalamocortex.preprocess.traces import session_dff

    with (opener or read_session)(path) as s:
        if s.imaging is None or s.lever is None or s.trials is None:
            return None
        cached = Path(results) / "traces" / f"{s.id}.npz"
        if cached.is_file():
            with np.load(cached) as z:
                dff = z["dff"]
        else:
            dff = session_dff(s, pre, with_events=False).dff
        s.load()
        sb = analyse_session(s, beh)
        tr = sb.trials
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
        ts = _template_similarity(Path(results), s.info.mouse, int(s.info.session))
        if ts is not None:
            sim = (
                onsets[["trial"]]
                .merge(ts[["trial", "similarity_to_template"]], on="trial", how="left")[
                    "similarity_to_template"
                ]
                .to_numpy(np.float64)
            )
        res = encode_session(
            s,
            dff,
            sb.movements,
            enc,
            n_rois_matched=n_rois_matched,
            seed=seed,
            template_similarity=sim,
            trial_onsets=onsets,
        )
        summary = pd.DataFrame(
            [res.summary | {"similarity": "template" if sim is not None else "within_session"}]
        )
        return {"rois": res.rois, "sessions": summary, "peri": res.peri, "trials": res.trials}


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
        learning_stage,
        region_comparison,
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
        for name in ("rois", "sessions", "peri", "trials", "learning", "regions"):
            ctx.write_table(pd.DataFrame(), name)
        return
    n_valid = _valid_roi_counts(ctx.results, todo)
    n_match = matched_roi_count(n_valid, cfg.encoding) if n_valid is not None else 0
    ctx.log(f"{len(todo)} sessions; decoding with {n_match} ROIs per decoder")
    func = partial(
        _one_session,
        results=str(ctx.results),
        enc=cfg.encoding,
        beh=cfg.behavior,
        pre=cfg.preprocess,
        n_rois_matched=n_match,
        seed=cfg.stats.seed,
        opener=ctx.opener,
    )
    out = [r for r in ctx.map(func, [str(p) for p in todo["path"]], desc="encoding") if r]
    _warn_decay_fallback(out, cfg.encoding)
    tables = {k: pd.concat([r[k] for r in out], ignore_index=True) for k in out[0]} if out else {}
    for name in ("rois", "sessions"):  # naive / expert / "" for the report and the tests
        if name in tables:
            tables[name]["stage"] = learning_stage(tables[name]["session"], cfg.encoding)
    for name in ("rois", "sessions", "peri", "trials"):
        ctx.write_table(tables.get(name, pd.DataFrame()), name)
    per_session = tables.get("sessions", pd.DataFrame())
    if per_session.empty:
        ctx.write_table(pd.DataFrame(), "learning")
        ctx.write_table(pd.DataFrame(), "regions")
        return
    ctx.write_table(learning_contrasts(per_session, cfg.encoding, cfg.stats), "learning")
    ctx.write_table(region_comparison(per_session, cfg.encoding, cfg.stats), "regions")
