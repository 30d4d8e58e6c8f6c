"""The ``behavior`` pipeline stage: lever parsing, trials and learning metrics for a dataset.

Writes under ``results/behavior/``:

- ``trials``: one row per trial (all sessions; see :mod:`thalamocortex.behavior.trials`) with
  ``similarity_to_template``;
- ``sessions``: one row per mouse x session (success, reaction time, stereotypy, inter-trial
  movements, exclusion counts; sessions that could not be analysed are kept with ``status``
  ``"excluded"`` and the reason);
- ``movements``: every movement bout (``kind`` trial / intertrial);
- ``session_matrix``: per mouse, session x session median trial-to-trial correlation;
- ``templates``: per mouse, the learned template (mean expert rewarded trajectory);
- ``examples``: example naive (first session) and expert (last session) rewarded lever traces;
- ``tests``: behavioural learning, mice as units — each mouse's expert - naive change (first /
  last sessions, :mod:`thalamocortex.stats.stages`), one-sample t-test across mice (primary:
  stereotypy; the other metrics secondary, corrected), :func:`~thalamocortex.behavior.learning.
  learning_tests`; ``per_mouse``: the per-mouse changes;
- ``trends``: secondary across-mice tests of per-mouse slopes over sessions (mice with at least
  ``min_trend_sessions`` sessions);
- ``snippets.npz``: every trial's lever snippet in 10 ms bins (row-aligned with ``trials``).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from thalamocortex.behavior.learning import (
    bin_traces,
    expert_sessions,
    learning_tests,
    learning_trend,
    movement_template,
    session_matrix,
    stereotypy,
    template_similarity,
)
from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.data.errors import DataError

#: Metrics whose across-mice trend over sessions the stage tests.
TREND_METRICS: tuple[str, ...] = (
    "stereotypy",
    "success_rate",
    "median_reaction_time",
    "intertrial_movement_rate",
)


def learning_trials(trials: pd.DataFrame, params: BehaviorParams) -> np.ndarray:
    """Boolean mask of the trials entering stereotypy, the session matrix and the template.

    Rewarded, included trials with a usable lever trace; light-on (inactivation) trials are
    left out when ``params.learning_light_off_only`` so that the learned template and the
    learning curves describe the unperturbed movement.
    """
    sel = (
        (trials["movement_kind"] == "rewarded") & trials["included"] & trials["usable_trace"]
    ).to_numpy(bool, copy=True)
    if params.learning_light_off_only and "light" in trials:
        sel = sel & ~trials["light"].to_numpy(bool)
    return sel


def analyse_path(path: str, params: BehaviorParams, names=None, opener=None) -> dict:
    """Worker: analyse one NWB session file (top level so Dask can pickle it).

    ``opener`` opens the file (the run's session opener, carrying the configured NWB names);
    without it ``read_session`` is called with ``names``.

    Returns
    -------
    dict with ``mouse``, ``session``, ``status`` (``ok``/``excluded``), ``exclusion`` (the
    error message when excluded), ``trials``, ``movements`` (DataFrames), ``summary`` (dict),
    ``binned`` (n_trials, n_bins) and ``plot_traces`` (n_trials, n_plot_bins) float32 arrays.
    """
    from thalamocortex.behavior.session import analyse_session
    from thalamocortex.data.nwb import read_session

    with opener(path) if opener is not None else read_session(path, names=names) as s:
        base = {
            "mouse": s.info.mouse,
            "session": int(s.info.session),
            "day": int(s.info.day),
            "experiment": s.info.experiment,
            "region": s.info.region,
            "lever_units": s.lever.units if s.lever is not None else "",
        }
        if s.lever is None:  # an imaging session without behaviour: not a bad session
            return {
                **base,
                "status": "excluded",
                "exclusion": "no lever: an imaging session without behaviour",
                "kind": "skipped",
            }
        try:
            sb = analyse_session(s, params)
        except DataError as err:
            return {**base, "status": "excluded", "exclusion": str(err)}
        sb.summary["lever_units"] = str(getattr(s.lever, "units", "") or "")
    plot = bin_traces(
        sb.snippets,
        sb.snippet_times,
        -params.snippet_pre_s,
        params.snippet_post_s,
        params.stereotypy_bin_s,
    ).astype(np.float32)
    return {
        **base,
        "status": "ok",
        "exclusion": "",
        "trials": sb.trials,
        "movements": sb.movements,
        "summary": sb.summary,
        "binned": sb.binned.astype(np.float32),
        "plot_traces": plot,
    }


#: Fewest sessions of a mouse for its slope to enter the (secondary) trend tests.
MIN_TREND_SESSIONS = 4


def summarise(results: list[dict], params: BehaviorParams, stats=None) -> dict[str, pd.DataFrame]:
    """Combine per-session results into the stage's tables (pure; no I/O)."""
    ok = [r for r in results if r["status"] == "ok"]
    trials = pd.concat([r["trials"] for r in ok], ignore_index=True) if ok else pd.DataFrame()
    movements = pd.concat([r["movements"] for r in ok], ignore_index=True) if ok else pd.DataFrame()
    sess_rows = []
    matrices, templates, examples = [], [], []
    sims: dict[tuple[str, int], np.ndarray] = {}
    by_mouse: dict[str, list[dict]] = {}
    for r in ok:
        by_mouse.setdefault(r["mouse"], []).append(r)
    n_bins = int(round(params.stereotypy_window_s / params.stereotypy_bin_s))
    t_bins = (np.arange(n_bins) + 0.5) * params.stereotypy_bin_s
    for mouse, rs in sorted(by_mouse.items()):
        rs = sorted(rs, key=lambda r: r["session"])
        traces = {}
        for r in rs:
            sel = learning_trials(r["trials"], params)
            traces[r["session"]] = r["binned"][sel]
        mat = session_matrix(traces, params.min_trials_stereotypy)
        mat.insert(0, "mouse", mouse)
        matrices.append(mat)
        expert = expert_sessions(traces, params.template_expert_sessions)
        template, n_tpl = movement_template(traces, expert)
        templates.append(
            pd.DataFrame(
                {
                    "mouse": mouse,
                    "t": t_bins,
                    "position": template,
                    "n_trials": n_tpl,
                    "sessions": ",".join(str(s) for s in expert),
                }
            )
        )
        for r in rs:
            sims[(mouse, r["session"])] = template_similarity(r["binned"], template)
        # examples: first session = naive, last session = expert
        plot_t = (np.arange(rs[0]["plot_traces"].shape[1]) + 0.5) * params.stereotypy_bin_s
        plot_t -= params.snippet_pre_s
        for stage, r in (("naive", rs[0]), ("expert", rs[-1])):
            if len(rs) < 2 and stage == "expert":
                continue
            t = r["trials"]
            sel = np.flatnonzero(learning_trials(t, params))
            if len(sel) == 0 or params.n_example_traces == 0:
                continue
            k = np.unique(np.linspace(0, len(sel) - 1, params.n_example_traces).round())
            pick = sel[k.astype(np.int64)]
            for i in pick:
                examples.append(
                    pd.DataFrame(
                        {
                            "mouse": mouse,
                            "session": r["session"],
                            "stage": stage,
                            "trial": int(t["trial"].iloc[i]),
                            "t": plot_t,
                            "position": r["plot_traces"][i],
                        }
                    )
                )
        for r in rs:
            s = dict(r["summary"])
            x = traces[r["session"]]
            sim = sims[(mouse, r["session"])]
            rew = learning_trials(r["trials"], params)
            sess_rows.append(
                {
                    "mouse": mouse,
                    "session": r["session"],
                    "day": r["day"],
                    "experiment": r["experiment"],
                    "region": r["region"],
                    "status": "ok",
                    "exclusion": "",
                    **s,
                    "stereotypy": stereotypy(x, params.min_trials_stereotypy),
                    "n_stereotypy_trials": len(x),
                    "median_similarity_to_template": float(np.nanmedian(sim[rew]))
                    if np.isfinite(sim[rew]).any()
                    else np.nan,
                    "expert_template_session": r["session"] in expert,
                }
            )
    for r in results:
        if r["status"] != "ok":
            sess_rows.append(
                {k: r[k] for k in ("mouse", "session", "day", "experiment", "region")}
                | {"status": "excluded", "exclusion": r["exclusion"]}
            )
    sessions = pd.DataFrame(sess_rows)
    if len(sessions):
        sessions = sessions.sort_values(["mouse", "session"]).reset_index(drop=True)
    if len(trials):
        trials["similarity_to_template"] = np.concatenate(
            [sims[(r["mouse"], r["session"])] for r in ok]
        )
    trend_rows = []
    done = sessions[sessions["status"] == "ok"] if len(sessions) else sessions
    for metric in TREND_METRICS:
        if len(done) and metric in done:
            tr = learning_trend(done, metric, min_sessions=MIN_TREND_SESSIONS)
            trend_rows.append(
                {
                    "metric": metric,
                    "role": "secondary",
                    "mean_slope_per_session": tr["mean_slope"],
                    "t": tr["t"],
                    "p": tr["p"],
                    "n_mice": tr["n_mice"],
                    "min_sessions": MIN_TREND_SESSIONS,
                }
            )
    if len(done):
        tests, per_mouse = learning_tests(done, stats)
    else:
        tests, per_mouse = pd.DataFrame(), pd.DataFrame()
    return {
        "trials": trials,
        "sessions": sessions,
        "movements": movements,
        "session_matrix": pd.concat(matrices, ignore_index=True) if matrices else pd.DataFrame(),
        "templates": pd.concat(templates, ignore_index=True) if templates else pd.DataFrame(),
        "examples": pd.concat(examples, ignore_index=True) if examples else pd.DataFrame(),
        "trends": pd.DataFrame(trend_rows),
        "tests": tests,
        "per_mouse": per_mouse,
    }


def _exclude_mixed_units(ctx, paths: list[str], results: list[dict | None]) -> None:
    """A mouse's sessions share one learned template: sessions whose lever measures another
    quantity (V beside mm) than the mouse's majority are excluded, with the reason."""
    by_mouse: dict[str, list[int]] = {}
    for i, r in enumerate(results):
        if r is not None and r["status"] == "ok":
            by_mouse.setdefault(r["mouse"], []).append(i)
    for mouse, idx in by_mouse.items():
        units = pd.Series([results[i]["lever_units"] for i in idx])
        if units.nunique() < 2:
            continue
        keep = units.value_counts().index[0]
        for i in idx:
            if results[i]["lever_units"] != keep:
                ctx.exclude(
                    paths[i],
                    f"lever in {results[i]['lever_units']!r} while mouse {mouse}'s other "
                    f"sessions are in {keep!r}: one learned template cannot mix them",
                )
                results[i]["status"] = "mixed_units"


def run(ctx) -> None:
    """Run the behaviour analysis on every session of the dataset and write the tables."""
    params: BehaviorParams = ctx.config.behavior
    paths = [str(p) for p in ctx.sessions["path"]]
    results = ctx.map(
        partial(analyse_path, params=params, opener=ctx.opener), paths, desc="behaviour"
    )
    for path, r in zip(paths, results, strict=True):
        if r is not None and r["status"] != "ok":
            # listed; an error also leaves the session out of the stages after
            ctx.exclude(path, r["exclusion"], r.get("kind", "error"))
    _exclude_mixed_units(ctx, paths, results)
    results = [r for r in results if r is not None and r["status"] != "mixed_units"]
    tables = summarise(results, params, ctx.config.stats)
    for name, df in tables.items():
        ctx.write_table(df, name)
    ok = [r for r in results if r["status"] == "ok"]
    if ok:
        # every trial's lever snippet (10 ms bins, -pre..+post s around its movement onset;
        # NaN rows for trials without a movement), row-aligned with the trials table
        n_plot = ok[0]["plot_traces"].shape[1]
        ctx.write_array(
            "snippets",
            position=np.concatenate([r["plot_traces"] for r in ok]),
            t=(np.arange(n_plot) + 0.5) * params.stereotypy_bin_s - params.snippet_pre_s,
            mouse=np.concatenate([r["trials"]["mouse"].to_numpy(str) for r in ok]),
            session=np.concatenate([r["trials"]["session"].to_numpy(np.int64) for r in ok]),
            trial=np.concatenate([r["trials"]["trial"].to_numpy(np.int64) for r in ok]),
        )
    ctx.log(
        f"{len(tables['trials'])} trials, {len(tables['movements'])} movements in "
        f"{len(results)} sessions"
    )
