"""Pipeline stages ``opto`` (all-optical mapping) and ``inactivation``.

``opto`` writes under ``results/opto/``:

- ``neurons``: one row per neuron and session of the all-optical experiment — responses,
  signed-rank test, q-value, ``response_class``, ``criterion``, ``condition`` (``opsin``,
  ``no_opsin`` or ``sham`` when every pulse has zero power), ``stage`` (naive/expert);
- ``pseudo``: the same classification on pseudo-pulses from spontaneous periods (null);
- ``fractions``: per session and condition (real / pseudo) the fractions activated,
  suppressed and responsive, with the criterion;
- ``peri``: pulse-averaged dF/F around light onset per neuron (heatmaps);
- ``relation_neurons``: opsin neurons joined with the encoding stage's scores;
- ``relation``: enrichment / suppression / correlation tests per stage;
- ``relation_per_session``: per-session statistics; ``naive_vs_expert``: paired contrasts
  across mice on tracked neurons (with the ``identity`` used and ``n_tracked``);
  ``naive_vs_expert_model``: the mixed model; ``naive_vs_expert_identity``: per mouse the
  identity used (``roi_name`` or the preprocess stage's ``tracking`` table, see
  ``OptoParams.identity``), why, and the neuron counts kept/dropped;
  ``naive_vs_expert_neurons``: one row per tracked neuron, naive and expert values.

``inactivation`` writes under ``results/inactivation/``: ``tests``, ``per_mouse``,
``sessions`` (light-on vs light-off), ``schedule`` (randomness of the light schedule),
``stereotypy`` and ``trajectories`` (mean lever trajectory per mouse and condition).
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
    naive_vs_expert,
    per_population_summary,
    relation_summary,
)
from thalamocortex.opto.responses import peristimulus_average

# ---------------------------------------------------------------------------------------------
# opto
# ---------------------------------------------------------------------------------------------


def _session_dff(s, results: str, pre) -> np.ndarray:
    from thalamocortex.preprocess.traces import session_dff

    cached = Path(results) / "traces" / f"{s.id}.npz"
    if cached.is_file():
        with np.load(cached) as z:
            return z["dff"]
    return session_dff(s, pre, with_events=False).dff


def opto_session(path: str, results: str, params: OptoParams, pre, opener=None) -> dict | None:
    """Worker: classify the neurons of one all-optical session (top level, picklable).

    ``opener`` opens the session file (the run's session opener; default ``read_session``).
    Returns None for sessions without imaging or pulses; otherwise a dict of DataFrames
    ``neurons``, ``pseudo``, ``fractions``, ``peri``.
    """
    from thalamocortex.data.nwb import read_session

    with (opener or read_session)(path) as s:
        stim = s.stimulation
        if s.imaging is None or stim is None or len(stim.pulses) == 0:
            return None
        info = s.info
        dff = _session_dff(s, results, pre)
        times = s.imaging.times
        pulses = stim.pulses.reset_index(drop=True)
        rois = s.imaging.rois
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
        peri = pd.DataFrame(
            {
                **keys,
                "roi_name": np.tile(rois["roi_name"].to_numpy(), len(lags)),
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
            onsets["movement_onset"].to_numpy(np.float64),
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


def run_inactivation(ctx) -> None:
    """Stage ``inactivation``: light-on vs light-off behaviour in expert mice."""
    from thalamocortex.opto.inactivation import (
        light_effects,
        light_schedule_table,
        stereotypy_effects,
    )

    params: InactivationParams = ctx.config.opto.inactivation
    names = ("tests", "per_mouse", "sessions", "schedule", "stereotypy", "trajectories")
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
    eff = light_effects(trials, params)
    if eff["missing_measures"]:
        ctx.log(f"measures not in the behaviour table (skipped): {eff['missing_measures']}")
    ctx.write_table(eff["tests"], "tests")
    ctx.write_table(eff["per_mouse"], "per_mouse")
    ctx.write_table(eff["sessions"], "sessions")
    ctx.write_table(light_schedule_table(trials, params), "schedule")
    for _, r in eff["tests"].iterrows():
        ctx.log(
            f"{r['measure']}: light on - off = {r['effect']:.3g} "
            f"(randomisation p = {r['p_randomisation']:.3g}, {r['n_mice']} mice)"
        )
    # stereotypy and trajectories from the lever at the behaviour stage's movement onsets
    moved = trials[np.isfinite(trials["movement_onset"].to_numpy(np.float64))]
    inact = sessions[sessions["experiment"] == "inactivation"]
    items = []
    for _, row in inact.iterrows():
        sel = moved[(moved["mouse"] == row["mouse"]) & (moved["session"] == row["session"])]
        if len(sel):
            items.append((str(row["path"]), sel[["trial", "movement_onset", "light"]]))
    func = partial(_trajectories_item, params=params, opener=ctx.opener)
    results = ctx.map(func, items, desc="inactivation")
    by_session = {}
    traj_rows = []
    t_bins = np.arange(int(round(params.stereotypy_window_s / params.stereotypy_bin_s))) + 0.5
    t_bins = t_bins * params.stereotypy_bin_s
    for r, (_, sel) in zip(results, items, strict=True):
        if r is None:
            continue
        light = sel["light"].to_numpy(bool)
        by_session[(r["mouse"], r["session"])] = (r["traj"], light)
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
    ctx.write_table(stereotypy_effects(by_session, params), "stereotypy")
    ctx.write_table(traj_table, "trajectories")


def _trajectories_item(item, params: InactivationParams, opener=None) -> dict | None:
    path, onsets = item
    return _trajectories(path, onsets, params, opener)
