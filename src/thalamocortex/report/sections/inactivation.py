"""Inactivation section: light-on vs light-off behaviour per mouse, trajectories overlaid.

Every figure is built from the ``inactivation`` stage's tables alone.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import img_tag, missing, table_html

TITLE = "Inactivation of thalamic inputs to M1"


def _read(d: Path, name: str) -> pd.DataFrame:
    p = d / f"{name}.parquet"
    return pd.read_parquet(p) if p.is_file() else pd.DataFrame()


def _paired(per_mouse: pd.DataFrame, tests: pd.DataFrame) -> str:
    measures = list(dict.fromkeys(per_mouse["measure"]))
    fig, axes = plt.subplots(1, len(measures), figsize=(2.8 * len(measures), 3.2), squeeze=False)
    for ax, m in zip(axes[0], measures, strict=True):
        sub = per_mouse[per_mouse["measure"] == m]
        for _, r in sub.iterrows():
            ax.plot([0, 1], [r["mean_off"], r["mean_on"]], "-o", color="0.4", ms=4)
        ax.plot([0, 1], [sub["mean_off"].mean(), sub["mean_on"].mean()], "-o", color="k", lw=2.2)
        t = tests[tests["measure"] == m]
        p = t["p_adjusted"].iloc[0] if len(t) else np.nan
        role = t["role"].iloc[0] if len(t) else ""
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["light off", "light on"])
        ax.set_xlim(-0.4, 1.4)
        ax.set_title(f"{m.replace('_', ' ')} ({role})\np = {p:.3g}", fontsize=9)
    fig.suptitle(
        "per mouse (grey) and mean (black); t-test across mice, p Holm-adjusted within the "
        "secondary measures",
        fontsize=9,
    )
    fig.tight_layout()
    return img_tag(fig, "light-on vs light-off per mouse")


def _trajectories(traj: pd.DataFrame) -> str:
    mice = sorted(traj["mouse"].unique())
    fig, axes = plt.subplots(1, len(mice), figsize=(3.4 * len(mice), 3.0), squeeze=False)
    colours = {"light_off": "k", "light_on": "tab:green"}
    for ax, mouse in zip(axes[0], mice, strict=True):
        for cond, g in traj[traj["mouse"] == mouse].groupby("condition"):
            g = g.sort_values("t")
            n = int(g["n_trials"].iloc[0])
            ax.plot(g["t"], g["mean"], color=colours.get(cond, "0.5"), label=f"{cond} ({n})")
        ax.set_xlabel("time from movement onset (s)")
        ax.set_title(mouse, fontsize=9)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("lever (relative to onset)")
    fig.tight_layout()
    return img_tag(fig, "lever trajectories light on vs off")


def render(results_dir: Path, fig_dir: Path) -> str:
    d = Path(results_dir) / "inactivation"
    if not (d / "tests.parquet").is_file():
        return missing("inactivation")
    tests = _read(d, "tests")
    if tests.empty:
        return "<p class='note'>No inactivation sessions in this dataset.</p>"
    cols = [
        c
        for c in (
            "role",
            "measure",
            "estimate",
            "ci_low",
            "ci_high",
            "n_mice",
            "df",
            "p",
            "p_adjusted",
            "reject",
            "p_randomisation",
            "p_sign_flip",
            "mixed_p",
            "n_sessions",
        )
        if c in tests.columns
    ]
    parts = [
        f"<p>{int(tests['n_mice'].max())} mice, {int(tests['n_sessions'].max())} sessions. "
        "Primary: similarity to the learned movement (each trial against a template of the "
        "mouse's light-off rewarded trials that excludes it), per-mouse light-on − light-off "
        "difference, t-test across mice. Secondary measures: the same test, Holm-adjusted "
        "among themselves; p_randomisation (within-session permutation of light labels), "
        "p_sign_flip and mixed_p are statements about these trials / labelled extras. "
        f"{html.escape(str(tests['criterion'].iloc[0]))}.</p>",
        table_html(tests[cols]),
    ]
    per_mouse = _read(d, "per_mouse")
    if len(per_mouse):
        parts.append(_paired(per_mouse, tests))
    traj = _read(d, "trajectories")
    if len(traj):
        parts.append(_trajectories(traj))
    st = _read(d, "stereotypy")
    if len(st):
        parts.append(
            "<p class='note'>Stereotypy (median pairwise r of lever trajectories 0–3 s after "
            "onset, self-pairs excluded) within light-on and light-off trials; p from "
            "within-session permutation of light labels:</p>" + table_html(st)
        )
    sched = _read(d, "schedule")
    if len(sched):
        ok = int(sched["random_interleaved"].sum())
        parts.append(
            f"<p>Light schedule check: {ok} of {len(sched)} sessions consistent with random, "
            "interleaved light-on trials (runs test, longest light-on run and trend over the "
            "session against permutations of the sequence; Bonferroni over the three).</p>"
            + table_html(sched)
        )
    parts.append(f"<p class='note'>Results: {html.escape(str(d))}</p>")
    return "\n".join(parts)
