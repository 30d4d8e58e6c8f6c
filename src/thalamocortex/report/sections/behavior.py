"""Behaviour section: learning curves, session x session stereotypy, naive vs expert traces.

Every figure is built from the ``behavior`` stage's tables alone.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import figure, missing, plot_over_sessions, table_html
from thalamocortex.report.results import read

TITLE = "Lever behaviour and motor learning"

_CURVES = (
    ("success_rate", "success rate (fraction of trials)"),
    ("median_reaction_time", "median reaction time (s)"),
    ("stereotypy", "stereotypy (median trial-to-trial r)"),
    ("intertrial_movement_rate", "inter-trial movements (per min)"),
)
_EXPERIMENT_NAMES = {
    "axon_imaging": "axon imaging",
    "all_optical": "all-optical",
    "inactivation": "inactivation",
    "imaging": "imaging",
}


def _learning_curves(sessions: pd.DataFrame) -> str:
    curves = [(c, lab) for c, lab in _CURVES if c in sessions]
    exps = sorted(sessions["experiment"].unique())
    fig, axes = plt.subplots(
        1, len(curves), figsize=(3.3 * len(curves), 3.0), squeeze=False, sharex=True
    )
    for ax, (col, label) in zip(axes[0], curves, strict=True):
        g = sessions.assign(cohort=sessions["experiment"].map(_EXPERIMENT_NAMES).fillna("?"))
        plot_over_sessions(ax, g, col, group="cohort", jitter=0.15)
        ax.set_ylabel(label)
    axes[0][0].set_ylim(0, 1.05)
    axes[0][-1].legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    n = sessions.groupby("experiment")["mouse"].nunique()
    counts = ", ".join(f"{_EXPERIMENT_NAMES.get(e, e)}: {k} mice" for e, k in n.items())
    cap = (
        "<b>Learning curves.</b> Per session: success rate (rewarded / included trials), "
        "median reaction time (movement onset − cue, rewarded cued trials), stereotypy "
        "(median Pearson correlation between the lever trajectories of every pair of "
        "rewarded light-off trials, 0–3 s after movement onset in 10 ms bins, self-pairs "
        "excluded) and the rate of movements between trials. Points: mice (joined only "
        "between consecutive recorded sessions); lines and error bars: mean across mice and "
        f"95 % t-interval (cut at the axis), one colour per cohort ({counts}; {len(exps)} "
        "cohorts). The across-mice trend tests are in the table below."
    )
    return figure(fig, "learning_curves", cap)


def _session_matrix(mat: pd.DataFrame) -> str:
    mean = mat.groupby(["session_a", "session_b"])["correlation"].mean().unstack()
    n_mice = mat.groupby(["session_a", "session_b"])["mouse"].nunique().unstack()
    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(mean.to_numpy(), cmap="viridis", origin="lower")
    ax.set_xticks(range(len(mean.columns)))
    ax.set_xticklabels(mean.columns)
    ax.set_yticks(range(len(mean.index)))
    ax.set_yticklabels(mean.index)
    ax.set_xlabel("session")
    ax.set_ylabel("session")
    fig.colorbar(im, ax=ax, label="median trial-to-trial r")
    fig.tight_layout()
    cap = (
        "<b>Session × session stereotypy.</b> For each mouse, the median correlation between "
        "rewarded lever trajectories of session <i>a</i> and session <i>b</i> (within-session "
        "pairs on the diagonal, self-pairs excluded), averaged over mice "
        f"(up to {int(np.nanmax(n_mice.to_numpy()))} mice per cell; only mice recorded in both "
        "sessions enter a cell)."
    )
    return figure(fig, "session_matrix", cap)


def _examples(ex: pd.DataFrame, unit: str, max_mice: int = 4) -> str:
    mice = sorted(ex["mouse"].unique())[:max_mice]
    fig, axes = plt.subplots(
        2, len(mice), figsize=(3.0 * len(mice), 4.4), sharex=True, sharey="row", squeeze=False
    )
    for j, mouse in enumerate(mice):
        for i, stage in enumerate(("naive", "expert")):
            ax = axes[i, j]
            g = ex[(ex["mouse"] == mouse) & (ex["stage"] == stage)]
            for _, tr in g.groupby("trial"):
                ax.plot(tr["t"], tr["position"], lw=0.8, color="C0" if i == 0 else "C3", alpha=0.8)
            sess = ", ".join(str(s) for s in sorted(g["session"].unique()))
            ax.set_title(f"{mouse} {stage} (session {sess})", fontsize=8)
            ax.axvline(0, color="0.5", lw=0.6, ls=":")
            if j == 0:
                ax.set_ylabel(f"lever position ({unit})" if unit else "lever position")
    for ax in axes[-1]:
        ax.set_xlabel("time from movement onset (s)")
    fig.tight_layout()
    cap = (
        "<b>Example lever trajectories.</b> Evenly spaced rewarded trials of the first (naive, "
        "blue) and last (expert, red) session of the first mice, aligned to movement onset "
        "(dotted line)."
    )
    return figure(fig, "example_trajectories", cap)


def render(results_dir: Path, fig_dir: Path) -> str:
    d = Path(results_dir) / "behavior"
    if not (d / "sessions.parquet").is_file():
        return missing("behavior")
    sessions = pd.read_parquet(d / "sessions.parquet")
    ok = sessions[sessions["status"] == "ok"]
    parts = [
        f"<p>{ok['mouse'].nunique()} mice, {len(ok)} sessions analysed, "
        f"{int(ok['n_trials'].sum())} trials ({int(ok['n_rewarded'].sum())} rewarded, "
        f"{int(ok['n_cued'].sum())} cued). Excluded: "
        f"{int((sessions['status'] != 'ok').sum())} sessions, "
        f"{int(ok['n_excluded_outside'].sum())} trials outside the lever recording, "
        f"{int(ok['n_excluded_nan'].sum())} trials on NaN lever, "
        f"{int(ok['n_bouts_dropped_edge'].sum() + ok['n_bouts_dropped_nan'].sum())} "
        "movement bouts at trace edges or NaN runs.</p>"
    ]
    bad = sessions[sessions["status"] != "ok"]
    if len(bad):
        parts.append(table_html(bad[["mouse", "session", "exclusion"]]))
    if len(ok):
        parts.append(_learning_curves(ok))
    te = read(results_dir, "behavior", "tests")
    if len(te):
        cols = [
            c
            for c in (
                "role",
                "measure",
                "naive",
                "expert",
                "estimate",
                "ci_low",
                "ci_high",
                "n_mice",
                "df",
                "p",
                "p_adjusted",
                "reject",
            )
            if c in te.columns
        ]
        parts.append(
            "<p class='note'>Learning, mice as units: each mouse's expert − naive change "
            "(its first and last sessions; mice never imaged naive are left out), one-sample "
            "t-test across mice; primary: stereotypy, the others Holm-adjusted among "
            "themselves:</p>" + table_html(te[cols])
        )
    tr = read(results_dir, "behavior", "trends")
    if len(tr):
        parts.append(
            "<p class='note'>Secondary: trend over sessions per metric, each mouse's "
            "least-squares slope (mice with at least min_sessions sessions, a column), then a "
            "one-sample t-test of the slopes across mice (the mouse is the replicate).</p>"
            + table_html(tr)
        )
    mat = read(results_dir, "behavior", "session_matrix")
    if len(mat) and np.isfinite(mat["correlation"]).any():
        parts.append(_session_matrix(mat))
    ex = read(results_dir, "behavior", "examples")
    if len(ex):
        units = ok["lever_units"].dropna() if "lever_units" in ok else pd.Series(dtype=str)
        parts.append(_examples(ex, str(units.iloc[0]) if len(units) else ""))
    parts.append(f"<p class='note'>Results: {html.escape(str(d))}</p>")
    return "".join(parts)
