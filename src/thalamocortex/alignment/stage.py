"""The ``alignment`` stage: shared, movement-relevant representations across mice per input
region and learning stage (SharedRepresentation; docs/alignment.md).

Per imaging session (axon imaging and all-optical), in parallel: the movement-aligned trial
tensors of dF/F and of the lever on the imaging frames, for the rewarded, light-off, included
trials of the ``behavior`` stage (trials with any missing frame are dropped). Per mouse and
learning stage (each mouse's first / last sessions, :mod:`thalamocortex.stats.stages`) the
sessions' trials are pooled when they image the same ROIs, else the session with most trials
is used. Then per region x stage, in parallel: :func:`thalamocortex.alignment.study.analyse_group`.

Tables written under ``results/alignment/``:

``mice``      one row per region x stage x mouse (held-out decoding R², shared and private
              variance fractions, held-out-mouse R², units, trials)
``groups``    one row per region x stage (mean held-out shared-space decoding R², its
              permutation null and p; shared variance and its null mean; dimensionalities)
``learning``  per region x metric: naive, expert, change, exact sign-flip p over mice
``regions``   per metric: which region's sharing rises most, label-permutation p
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from thalamocortex.encoding.stage import ANALYSED_EXPERIMENTS

_EMPTY = ("mice", "groups", "learning", "regions")


def session_tensors(
    path: str,
    results: str,
    window_s: tuple[float, float],
    pre,
    trials: pd.DataFrame,
    opener=None,
) -> dict | None:
    """Movement-aligned dF/F and lever tensors of one session (rewarded light-off trials).

    Activity is the preprocess stage's analysis traces (somata, merged axons); units without
    any finite dF/F are left out. ``opener`` opens the session file (the run's session opener;
    default ``read_session``).
    """

    from thalamocortex.data.model import lever_to_frames
    from thalamocortex.data.nwb import read_session
    from thalamocortex.encoding.peri import peri_event_tensor
    from thalamocortex.encoding.session import exclude_light_periods
    from thalamocortex.preprocess.stage import names_of, session_traces

    with (opener or read_session)(path) as s:
        if s.imaging is None or s.lever is None:
            return None
        traces = session_traces(s, results, pre, names_of(opener))  # somata / merged axons
        has_data = ~np.isnan(traces.dff).all(axis=0)
        dff = traces.dff[:, has_data]
        t = s.imaging.times
        dff = exclude_light_periods(dff, t, s, 0.0)
        onsets = trials["movement_onset"].to_numpy(np.float64)
        x, _ = peri_event_tensor(dff, t, onsets, window_s)
        lev, _ = peri_event_tensor(lever_to_frames(s.lever, t)[:, None], t, onsets, window_s)
        ok = np.isfinite(x).all(axis=(1, 2)) & np.isfinite(lev).all(axis=(1, 2))
        return {
            "mouse": s.info.mouse,
            "session": int(s.info.session),
            "region": s.info.region,
            "experiment": s.info.experiment,
            "frame_rate": float(1.0 / np.median(np.diff(t))),
            "rois": tuple(traces.units["roi_name"].astype(str)[has_data]),
            "X": x[ok],
            "y": lev[ok, :, 0].astype(np.float64),
        }


def _pool(items: list[dict], max_trials: int, seed: int) -> dict:
    """One mouse x stage: pool sessions imaging the same ROIs, else the one with most trials."""
    best = max(items, key=lambda d: len(d["X"]))
    same = [d for d in items if d["rois"] == best["rois"] and d["X"].shape[1] == best["X"].shape[1]]
    X = np.concatenate([d["X"] for d in same])
    y = np.concatenate([d["y"] for d in same])
    if max_trials and len(X) > max_trials:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), max_trials, replace=False))
        X, y = X[keep], y[keep]
    return best | {"X": X, "y": y, "sessions": [d["session"] for d in same]}


def run(ctx) -> None:
    from thalamocortex.alignment.study import learning_changes
    from thalamocortex.stats.stages import learning_stages

    cfg = ctx.config
    p = cfg.alignment
    sessions = ctx.sessions
    todo = sessions[sessions["experiment"].isin(ANALYSED_EXPERIMENTS)].copy()
    todo["stage"], _ = learning_stages(todo, cfg.stats, what="alignment: ")
    stage_of = {(m, int(s)): st for m, s, st in zip(todo["mouse"], todo["session"], todo["stage"])}
    todo = todo[todo["stage"] != ""]
    if todo.empty:
        ctx.log("no naive or expert imaging sessions")
        for name in _EMPTY:
            ctx.write_table(pd.DataFrame(), name)
        return
    trials = ctx.read_table("behavior", "trials")
    sel = (trials["movement_kind"] == "rewarded") & trials["included"].astype(bool)
    if "light" in trials:
        sel &= ~trials["light"].astype(bool)
    trials = trials[sel & np.isfinite(trials["movement_onset"].to_numpy(np.float64))]
    jobs = []
    for row in todo.itertuples():
        tr = trials[(trials["mouse"] == row.mouse) & (trials["session"] == int(row.session))]
        if len(tr) >= p.min_trials:
            jobs.append((str(row.path), tr[["movement_onset"]].reset_index(drop=True)))
    func = partial(
        _tensors_job,
        results=str(ctx.results),
        window_s=tuple(p.window_s),
        pre=cfg.preprocess,
        opener=ctx.opener,
    )
    got = [r for r in ctx.map(func, jobs, desc="alignment tensors") if r is not None]
    for r in got:
        r["stage"] = stage_of.get((r["mouse"], int(r["session"])), "")
    todo_groups = []
    keys = sorted({(r["region"], r["stage"]) for r in got})
    for region, stage in keys:
        by_mouse: dict[str, list] = {}
        for r in got:
            if (r["region"], r["stage"]) == (region, stage):
                by_mouse.setdefault(r["mouse"], []).append(r)
        pooled = [_pool(v, p.max_trials, cfg.stats.seed) for _, v in sorted(by_mouse.items())]
        pooled = [d for d in pooled if len(d["X"]) >= p.min_trials]
        n_time = {d["X"].shape[1] for d in pooled}
        if len(pooled) < p.min_mice or len(n_time) != 1:
            ctx.log(f"{region} {stage}: {len(pooled)} mice with usable trials; not aligned")
            continue
        todo_groups.append((region, stage, pooled))
    # one region x stage per worker: the groups are independent (each its own permutation null)
    func = partial(_group_job, params=p, seed=cfg.stats.seed)
    done = ctx.map(func, todo_groups, desc="alignment groups", per_session=False)
    per_mouse, groups = [], []
    for (region, stage, pooled), (per, group) in zip(todo_groups, done):
        per.insert(0, "stage", stage)
        per.insert(0, "region", region)
        per["experiment"] = pooled[0]["experiment"]
        per_mouse.append(per)
        groups.append({"region": region, "stage": stage, **group})
        ctx.log(
            f"{region} {stage}: {len(pooled)} mice, shared-space decoding R² "
            f"{group['decode_r2']:.3f} (null {group['decode_r2_null']:.3f}, "
            f"p = {group['p_shared']:.3g}), shared variance {group['shared_var']:.3f}"
        )
    mice = pd.concat(per_mouse, ignore_index=True) if per_mouse else pd.DataFrame()
    ctx.write_table(mice, "mice")
    ctx.write_table(pd.DataFrame(groups), "groups")
    if mice.empty:
        ctx.write_table(pd.DataFrame(), "learning")
        ctx.write_table(pd.DataFrame(), "regions")
        return
    inputs = (
        mice[mice["experiment"] == "axon_imaging"]
        if (mice["experiment"] == "axon_imaging").any()
        else mice
    )
    learn, regions = learning_changes(inputs, cfg.stats)
    if not learn.empty:  # the M1 somata (all-optical) are not an input region: own rows
        other = learning_changes(mice[~mice.index.isin(inputs.index)], cfg.stats)[0]
        learn = pd.concat([learn, other], ignore_index=True)
    ctx.write_table(learn, "learning")
    ctx.write_table(regions, "regions")


def _group_job(job, params, seed: int):
    """:func:`~thalamocortex.alignment.study.analyse_group` of one (region, stage, pooled mice)."""
    from thalamocortex.alignment.study import analyse_group

    _, _, pooled = job
    rate = float(np.median([d["frame_rate"] for d in pooled]))
    return analyse_group(
        [d["X"] for d in pooled],
        [d["y"] for d in pooled],
        [d["mouse"] for d in pooled],
        params,
        rate,
        seed,
    )


def _tensors_job(job, results, window_s, pre, opener=None):
    path, trials = job
    return session_tensors(path, results, window_s, pre, trials, opener)
