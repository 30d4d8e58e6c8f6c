"""Behaviour section: learning curves, session x session stereotypy, naive vs expert traces.

Every figure is built from the ``behavior`` stage's tables alone.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import img_tag, missing, table_html

TITLE = "Lever behaviour and motor learning"

_CURVES = (
    ("success_rate", "success rate"),
    ("median_reaction_time", "median reaction time (s)"),
    ("stereotypy", "stereotypy (median r)"),
    ("intertrial_movement_rate", "inter-trial movements / min"),
)


def _learning_curves(sessions: pd.DataFrame) -> str:
    fig, axes = plt.subplots(1, len(_CURVES), figsize=(4 * len(_CURVES), 3.2))
    for ax, (col, label) in zip(axes, _CURVES):
        for _, g in sessions.groupby("mouse"):
            ax.plot(g["session"], g[col], color="0.75", lw=0.8, marker=".", ms=3)
        agg = sessions.groupby("session")[col].agg(["mean", "sem", "count"]).reset_index()
        ax.errorbar(
            agg["session"], agg["mean"], yerr=agg["sem"].fillna(0), color="k", lw=1.8, capsize=3
        )
        ax.set_xlabel("session")
        ax.set_title(label, fontsize=10)
    axes[0].set_ylim(0, 1.05)
    fig.suptitle("learning curves: mice (grey), mean ± s.e.m. across mice (black)", fontsize=10)
    fig.tight_layout()
    return img_tag(fig, "learning curves")


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
    ax.set_title(
        f"trial-to-trial lever correlation\n(mean over mice, up to {int(n_mice.max().max())})",
        fontsize=10,
    )
    fig.colorbar(im, ax=ax, label="median r")
    fig.tight_layout()
    return img_tag(fig, "session x session stereotypy matrix")


def _examples(ex: pd.DataFrame, max_mice: int = 4) -> str:
    mice = sorted(ex["mouse"].unique())[:max_mice]
    fig, axes = plt.subplots(
        2, len(mice), figsize=(3.2 * len(mice), 4.6), sharex=True, squeeze=False
    )
    for j, mouse in enumerate(mice):
        for i, stage in enumerate(("naive", "expert")):
            ax = axes[i, j]
            g = ex[(ex["mouse"] == mouse) & (ex["stage"] == stage)]
            for _, tr in g.groupby("trial"):
                ax.plot(tr["t"], tr["position"], lw=0.8, color="C0" if i == 0 else "C3", alpha=0.8)
            sess = ", ".join(str(s) for s in sorted(g["session"].unique()))
            ax.set_title(f"{mouse} {stage} (session {sess})", fontsize=9)
            ax.axvline(0, color="0.5", lw=0.6, ls=":")
            if j == 0:
                ax.set_ylabel("lever (re onset)")
    for ax in axes[-1]:
        ax.set_xlabel("time from movement onset (s)")
    fig.tight_layout()
    return img_tag(fig, "example naive and expert lever traces")


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
    if (d / "tests.parquet").is_file():
        te = pd.read_parquet(d / "tests.parquet")
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
    if (d / "trends.parquet").is_file():
        tr = pd.read_parquet(d / "trends.parquet")
        if len(tr):
            parts.append(
                "<p class='note'>Secondary: per-mouse least-squares slope over sessions (mice "
                "with at least min_sessions sessions), one-sample t-test of the slopes across "
                "mice:</p>" + table_html(tr)
            )
    if (d / "session_matrix.parquet").is_file():
        mat = pd.read_parquet(d / "session_matrix.parquet")
        if len(mat) and np.isfinite(mat["correlation"]).any():
            parts.append(_session_matrix(mat))
    if (d / "examples.parquet").is_file():
        ex = pd.read_parquet(d / "examples.parquet")
        if len(ex):
            parts.append(_examples(ex))
    parts.append(
        "<p class='note'>Stereotypy: median Pearson correlation of rewarded lever traces "
        "0–3 s after onset in 10 ms bins, self-pairs excluded. "
        f"Results: {html.escape(str(d))}</p>"
    )
    return "".join(parts)
