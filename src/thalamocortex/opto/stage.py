"""Pipeline stages ``opto`` (all-optical mapping) and ``inactivation``.

``opto`` writes under ``results/opto/``:

- ``neurons``: one row per neuron and session of the all-optical experiment — responses,
  signed-rank test, q-value, ``response_class``, ``criterion``, ``condition`` (``opsin``,
  ``no_opsin`` or ``sham`` when every pulse has zero power), ``stage`` (naive/expert);
- ``pseudo``: the same classification on pseudo-pulses from spontaneous periods (null);
- ``fractions``: per session and condition (real / pseudo) the fractions activated,
  suppressed and responsive, with the criterion;
- ``peri``: pulse-averaged dF/F around light onset per neuron (heatmaps), by integer ``frame``
  offset from the onset frame (``time_s`` = frame / frame rate);
- ``relation_neurons``: opsin neurons joined with the encoding stage's scores;
- ``tests``: the mouse-level tests (primary: expert enrichment, per-mouse Haldane log odds
  ratio; drive refinement of the same neurons; t-tests across opsin mice) and their secondary
  companions, :func:`thalamocortex.opto.relation.mouse_level_tests`;
- ``relation``: enrichment / suppression / correlation per stage pooled over neurons with
  within-population permutations (secondary: a statement about the recorded neurons);
- ``relation_per_session``: per-session statistics; ``naive_vs_expert``: paired contrasts
  across mice on tracked neurons (with the ``identity`` used and ``n_tracked``);
  ``naive_vs_expert_model``: the mixed model; ``naive_vs_expert_identity``: per mouse the
  identity used (``roi_name`` or the preprocess stage's ``tracking`` table, see
  ``OptoParams.identity``), why, and the neuron counts kept/dropped;
  ``naive_vs_expert_neurons``: one row per tracked neuron, naive and expert values.

``inactivation`` writes under ``results/inactivation/``: ``tests`` (one row per measure; the
primary test is the learned-movement similarity with a leave-one-out template, t-test across
mice, :mod:`thalamocortex.opto.inactivation`), ``per_mouse``, ``sessions`` (light-on vs
light-off), ``trials`` (the included trials with ``similarity_to_learned``), ``schedule``
(randomness of the light schedule), ``stereotypy`` and ``trajectories`` (mean lever trajectory
per mouse and condition).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.opto.classify import classify_session, pseudo_pulse_null, response_fractions
from thalamocortex.opto.params import InactivationParams, OptoParams
from thalamocortex.opto.relation import (
    learning_stage,
    merge_drive_encoding,
    mouse_level_tests,
    naive_vs_expert,
    per_population_summary,
    relation_summary,
)
from thalamocortex.opto.responses import peristimulus_average

# ---------------------------------------------------------------------------------------------
# opto
# ---------------------------------------------------------------------------------------------


def opto_session(
    path: str, results: str, params: OptoParams, pre, opener=None, names=None
) -> dict | None:
    """Worker: classify the neurons of one all-optical session (top level, picklable).

    ``opener`` opens the session file (the run's session opener; default ``read_session``
    with ``names``); activity is the preprocess stage's analysis traces. Returns None for
    sessions without imaging or pulses; otherwise a dict of DataFrames
    ``neurons``, ``pseudo``, ``fractions``, ``peri``.
    """
    from thalamocortex.data.nwb import read_session
    from thalamocortex.preprocess.stage import names_of, session_traces

    with (opener or partial(read_session, names=names))(path) as s:
        stim = s.stimulation
        if s.imaging is None or stim is None or len(stim.pulses) == 0:
            return None
        info = s.info
        traces = session_traces(s, results, pre, names_of(opener, names))
        dff = traces.dff
        times = s.imaging.times
        pulses = stim.pulses.reset_index(drop=True)
        rois = traces.units
        sham = "power" in pulses and bool(np.all(pulses["power"].to_numpy(np.float64) == 0))
        condition = "sham" if sham else ("no_opsin" if info.opsin in ("none", "") else "opsin")
        keys = {
            "mouse": info.mouse,
            "session": int(info.session),
            "day": int(info.day),
            "stage": str(learning_stage([info.day], params)[0]),
            "condition": condition,
            "opsin": info.opsin,
        }
        table, _ = classify_session(dff, times, pulses, params)
        table.insert(0, "roi_name", rois["roi_name"].to_numpy())
        table.insert(1, "roi_type", rois["roi_type"].to_numpy())
        for i, (k, v) in enumerate(keys.items()):
            table.insert(i, k, v)
        excluded = None
        if params.pseudo_avoid_trials and s.trials is not None and len(s.trials):
            # the task's trials are not spontaneous: keep pseudo-pulses out of them
            excluded = s.trials[["start_time", "stop_time"]].to_numpy(np.float64)
        try:
            pseudo = pseudo_pulse_null(dff, times, pulses, params, None, excluded)
            pseudo.insert(0, "roi_name", rois["roi_name"].to_numpy())
            for i, (k, v) in enumerate(keys.items()):
                pseudo.insert(i, k, v)
        except DataError as err:
            pseudo = pd.DataFrame({**keys, "note": [f"no pseudo-pulses: {err}"]})
        lags, avg = peristimulus_average(dff, times, pulses, params)
        rate = (len(times) - 1) / (times[-1] - times[0])
        # integer frame offsets: the key heatmaps pivot on (float lag times differ in the last
        # digits between sessions and would not line up)
        frame = np.rint(lags * rate).astype(np.int64)
        peri = pd.DataFrame(
            {
                **keys,
                "roi_name": np.tile(rois["roi_name"].to_numpy(), len(lags)),
                "frame": np.repeat(frame, len(rois)),
                "time_s": np.repeat(lags, len(rois)),
                "dff": avg.reshape(-1),
            }
        )
    frac_rows = []
    for kind, tab in (("pulses", table), ("pseudo", pseudo)):
        if "response_class" not in tab:
            continue
        frac_rows.append(
            {
                **keys,
                "null": kind,
                **response_fractions(tab),
                "n_pulses": len(pulses),
                "criterion": tab["criterion"].iloc[0] if len(tab) else "",
            }
        )
    return {
        "neurons": table,
        "pseudo": pseudo,
        "fractions": pd.DataFrame(frac_rows),
        "peri": peri,
    }


def run_opto(ctx) -> None:
    """Stage ``opto``: photostimulation classes and their relation to movement encoding."""
    params: OptoParams = ctx.config.opto
    sessions = ctx.sessions
    todo = sessions[sessions["experiment"] == "all_optical"]
    names = ("neurons", "pseudo", "fractions", "peri")
    relation_names = (
        "tests",
        "relation_neurons",
        "relation",
        "relation_per_session",
        "naive_vs_expert",
        "naive_vs_expert_model",
        "naive_vs_expert_identity",
        "naive_vs_expert_neurons",
    )
    if todo.empty:
        ctx.log("no all-optical sessions")
        for n in names + relation_names:
            ctx.write_table(pd.DataFrame(), n)
        return
    func = partial(
        opto_session,
        results=str(ctx.results),
        params=params,
        pre=ctx.config.preprocess,
        opener=ctx.opener,
    )
    out = [r for r in ctx.map(func, [str(p) for p in todo["path"]], desc="opto") if r]
    tables = {n: pd.concat([r[n] for r in out], ignore_index=True) for n in names} if out else {}
    for n in names:
        ctx.write_table(tables.get(n, pd.DataFrame()), n)
    neurons = tables.get("neurons", pd.DataFrame())
    fr = tables.get("fractions", pd.DataFrame())
    if len(fr):
        for _, r in fr.iterrows():
            ctx.log(
                f"{r['mouse']} ses-{r['session']} ({r['condition']}, {r['null']}): "
                f"{r['activated']:.0%} activated, {r['suppressed']:.0%} suppressed"
            )
    opsin = neurons[neurons["condition"] == "opsin"] if len(neurons) else neurons
    if opsin.empty:
        for n in relation_names:
            ctx.write_table(pd.DataFrame(), n)
        return
    encoding = ctx.read_table("encoding", "rois")
    if encoding.empty:
        raise DataError(
            "the encoding stage's rois table is empty: no movement-encoding scores for the "
            "all-optical neurons",
            path=ctx.results / "encoding" / "rois.parquet",
        )
    rel = merge_drive_encoding(opsin, encoding, params)
    ctx.write_table(rel, "relation_neurons")
    ctx.write_table(relation_summary(rel, params), "relation")
    ctx.write_table(per_population_summary(rel), "relation_per_session")
    tracking = _tracking_table(ctx)
    nve = naive_vs_expert(rel, params, tracking=tracking)
    ident = {"identity": nve["identity"], "n_tracked": nve["n_tracked"]}
    if nve["identity"] == "tracking":
        ident["min_track_probability"] = params.min_track_probability
    ctx.log(
        f"naive vs expert: identity {nve['identity']} ({nve['identity_reason']}); "
        f"{nve['n_tracked']} neurons in both stages"
    )
    ctx.write_table(nve["contrasts"].assign(**ident), "naive_vs_expert")
    mm = nve["mixed_model"]
    ctx.write_table(mm if isinstance(mm, pd.DataFrame) else pd.DataFrame(), "naive_vs_expert_model")
    counts = nve["identity_counts"].assign(
        identity=nve["identity"],
        reason=nve["identity_reason"],
        min_track_probability=(
            params.min_track_probability if nve["identity"] == "tracking" else np.nan
        ),
    )
    ctx.write_table(counts, "naive_vs_expert_identity")
    ctx.write_table(nve["paired_neurons"], "naive_vs_expert_neurons")
    ctx.write_table(mouse_level_tests(rel, nve, params, ctx.config.stats), "tests")


def _tracking_table(ctx) -> pd.DataFrame | None:
    """The preprocess stage's cross-session tracking table, or None when it was not written."""
    path = Path(ctx.results) / "preprocess" / "tracking.parquet"
    return pd.read_parquet(path) if path.is_file() else None


# ---------------------------------------------------------------------------------------------
# inactivation
# ---------------------------------------------------------------------------------------------


def _trajectories(
    path: str, onsets: pd.DataFrame, params: InactivationParams, opener=None
) -> dict | None:
    """Worker: lever trajectories after movement onset of one session (top level, picklable)."""
    from thalamocortex.data.nwb import read_session
    from thalamocortex.opto.inactivation import lever_trajectories

    with (opener or read_session)(path) as s:
        if s.lever is None:
            return None
        traj = lever_trajectories(
            s.lever,
            onsets["response_onset"].to_numpy(np.float64),
            params.stereotypy_window_s,
            params.stereotypy_bin_s,
        )
        return {"mouse": s.info.mouse, "session": int(s.info.session), "traj": traj}


def inactivation_trials(behaviour_trials: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Included trials of the inactivation sessions from the behaviour stage's trials table."""
    need = ["mouse", "session", "trial", "light"]
    missing = [c for c in need if c not in behaviour_trials.columns]
    if missing:
        raise DataError(
            f"missing columns {missing}; has {list(behaviour_trials.columns)}",
            field="behavior trials table",
        )
    keys = sessions.loc[sessions["experiment"] == "inactivation", ["mouse", "session"]]
    t = behaviour_trials.merge(keys.drop_duplicates(), on=["mouse", "session"], how="inner")
    if "included" in t.columns:
        t = t[t["included"].astype(bool)]
    t = t.copy()
    t["light"] = t["light"].astype(bool)
    for c in t.columns:
        if t[c].dtype == bool and c != "light":
            t[c] = t[c].astype(float)  # success-like flags become rates
    return t.reset_index(drop=True)


def _skip_short_sessions(ctx, inact, trials, moved, params: InactivationParams) -> None:
    """List every inactivation session that cannot enter the light-on vs light-off contrasts
    (``opto.inactivation.enough_trials``: ``min_trials_per_condition`` light-on and light-off
    trials) as skipped, with its counts, instead of dropping it silently. A session with enough
    trials but too few with a response movement is listed too: it enters the secondary measures
    (success, reaction time) but not the primary learned-movement similarity."""
    from thalamocortex.opto.inactivation import enough_trials

    k = params.min_trials_per_condition
    need = f"the inactivation contrasts need >= {k} per condition (opto.inactivation."
    need += "min_trials_per_condition)"
    for _, row in inact.iterrows():
        light, mlight = (
            t.loc[
                (t["mouse"] == row["mouse"]) & (t["session"] == row["session"]), "light"
            ].to_numpy(bool)
            for t in (trials, moved)
        )
        if enough_trials(mlight, params):
            continue
        on, off, mon, moff = light.sum(), (~light).sum(), mlight.sum(), (~mlight).sum()
        if not enough_trials(light, params):
            reason = f"{on} light-on and {off} light-off trials in the behaviour table; {need}"
        else:
            reason = (
                f"{mon} light-on and {moff} light-off trials with a response movement (of {on} "
                f"and {off}): left out of the learned-movement similarity (primary) only; {need}"
            )
        ctx.exclude(
            row["path"], reason, kind="skipped", mouse=row["mouse"], session=int(row["session"])
        )


def run_inactivation(ctx) -> None:
    """Stage ``inactivation``: light-on vs light-off behaviour in expert mice."""
    from thalamocortex.opto.inactivation import (
        LEARNED_SIMILARITY,
        add_learned_similarity,
        learned_similarity_randomisation,
        light_effects,
        light_schedule_table,
        response_onsets,
        stereotypy_effects,
    )

    params: InactivationParams = ctx.config.opto.inactivation
    names = ("tests", "per_mouse", "sessions", "trials", "schedule", "stereotypy", "trajectories")
    sessions = ctx.sessions
    if not (sessions["experiment"] == "inactivation").any():
        ctx.log("no inactivation sessions")
        for n in names:
            ctx.write_table(pd.DataFrame(), n)
        return
    trials = inactivation_trials(ctx.read_table("behavior", "trials"), sessions)
    if trials.empty:
        raise DataError(
            "no included trials of the inactivation sessions in the behaviour stage's table",
            path=ctx.results / "behavior" / "trials.parquet",
        )
    # lever trajectories from each trial's response onset (first bout after the cue)
    mv_path = ctx.results / "behavior" / "movements.parquet"
    movements = pd.read_parquet(mv_path) if mv_path.is_file() else None
    trials["response_onset"] = response_onsets(trials, movements)
    moved = trials[np.isfinite(trials["response_onset"].to_numpy(np.float64))]
    inact = sessions[sessions["experiment"] == "inactivation"]
    _skip_short_sessions(ctx, inact, trials, moved, params)
    items = []
    for _, row in inact.iterrows():
        sel = moved[(moved["mouse"] == row["mouse"]) & (moved["session"] == row["session"])]
        if len(sel):
            items.append((str(row["path"]), sel[["trial", "response_onset", "light"]]))
    func = partial(_trajectories_item, params=params, opener=ctx.opener)
    results = ctx.map(func, items, desc="inactivation")
    by_session = {}
    trajectories = {}
    for r, (_, sel) in zip(results, items, strict=True):
        if r is None:
            continue
        key = (r["mouse"], r["session"])
        by_session[key] = (r["traj"], sel["light"].to_numpy(bool))
        trajectories[key] = (sel["trial"].to_numpy(), r["traj"])
    # primary measure: similarity to the learned movement, never to a template holding the trial
    trials = add_learned_similarity(trials, trajectories, params)
    randomisation = {
        LEARNED_SIMILARITY: learned_similarity_randomisation(trials, trajectories, params)
    }
    stereo = stereotypy_effects(by_session, params)
    stereo_mouse = pd.DataFrame()
    per_session = stereo[stereo["mouse"] != "all"]
    if len(per_session):
        stereo_mouse = (
            per_session.groupby("mouse")[["stereotypy_on", "stereotypy_off", "difference"]]
            .mean()
            .rename(columns={"stereotypy_on": "mean_on", "stereotypy_off": "mean_off"})
            .reset_index()
            .assign(measure="stereotypy")
        )
        pooled = stereo[stereo["mouse"] == "all"].iloc[0]
        randomisation["stereotypy"] = {"p": pooled["p"], "n_sessions": len(per_session)}
    eff = light_effects(trials, params, ctx.config.stats, randomisation, stereo_mouse)
    if eff["missing_measures"]:
        ctx.log(f"measures not in the behaviour table (skipped): {eff['missing_measures']}")
    ctx.write_table(eff["tests"], "tests")
    ctx.write_table(eff["per_mouse"], "per_mouse")
    ctx.write_table(eff["sessions"], "sessions")
    ctx.write_table(trials, "trials")
    ctx.write_table(light_schedule_table(trials, params), "schedule")
    for _, r in eff["tests"].iterrows():
        ctx.log(
            f"{r['measure']} ({r['role']}): light on - off = {r['estimate']:.3g} "
            f"(t-test across {r['n_mice']} mice p = {r['p']:.3g})"
        )
    traj_rows = []
    t_bins = np.arange(int(round(params.stereotypy_window_s / params.stereotypy_bin_s))) + 0.5
    t_bins = t_bins * params.stereotypy_bin_s
    for (mouse, _), (traj, light) in by_session.items():
        for cond, m in (("light_on", light), ("light_off", ~light)):
            ok = m & np.all(np.isfinite(traj), axis=1)
            if not ok.any():
                continue
            x = traj[ok] - traj[ok][:, :1]  # relative to the position at onset
            traj_rows.append(
                pd.DataFrame(
                    {
                        "mouse": mouse,
                        "condition": cond,
                        "t": t_bins,
                        "mean": x.mean(axis=0),
                        "sem": x.std(axis=0, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan,
                        "n_trials": len(x),
                    }
                )
            )
    traj_table = pd.concat(traj_rows, ignore_index=True) if traj_rows else pd.DataFrame()
    if len(traj_table):
        # several sessions of a mouse: trial-weighted average
        traj_table["w"] = traj_table["n_trials"]
        traj_table["wm"] = traj_table["mean"] * traj_table["w"]
        g = traj_table.groupby(["mouse", "condition", "t"], observed=True)
        traj_table = (g["wm"].sum() / g["w"].sum()).rename("mean").reset_index()
        traj_table["n_trials"] = g["w"].sum().to_numpy()
    ctx.write_table(stereo, "stereotypy")
    ctx.write_table(traj_table, "trajectories")


def _trajectories_item(item, params: InactivationParams, opener=None) -> dict | None:
    path, onsets = item
    return _trajectories(path, onsets, params, opener)
