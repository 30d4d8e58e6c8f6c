"""Dataset summary: mice, sessions, ROIs, trials, regions per experiment."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from thalamocortex.report.figures import figure, integer_sessions, missing, table_html

TITLE = "Dataset"

_COLOURS = {"axon_imaging": "C0", "all_optical": "C3", "inactivation": "C2", "imaging": "C4"}


def render(results_dir: Path, fig_dir: Path) -> str:
    path = Path(results_dir) / "dataset" / "sessions.parquet"
    if not path.is_file():
        return missing("dataset")
    s = pd.read_parquet(path)
    per = (
        s.groupby(["experiment", "region"])
        .agg(
            mice=("mouse", "nunique"),
            sessions=("session", "count"),
            rois_per_session=("n_rois", "mean"),
            trials_per_session=("n_trials", "mean"),
        )
        .reset_index()
    )
    mice = sorted(s["mouse"].unique())
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.16 * len(mice)))
    for i, mouse in enumerate(mice):
        g = s[s["mouse"] == mouse]
        ax.scatter(
            g["session"],
            [i] * len(g),
            s=10 + g["n_trials"].fillna(0).to_numpy(float) / 5,
            color=_COLOURS.get(str(g["experiment"].iloc[0]), "k"),
        )
    ax.set_yticks(range(len(mice)))
    ax.set_yticklabels(mice, fontsize=6)
    ax.set_ylim(len(mice) - 0.5, -0.5)
    integer_sessions(ax)
    ax.set_xlabel("session")
    fig.tight_layout()
    kinds = ", ".join(
        f"{k.replace('_', ' ')} ({c})" for k, c in _COLOURS.items() if k in set(s["experiment"])
    )
    cap = (
        f"<b>Sessions recorded per mouse</b> ({len(mice)} mice, {len(s)} sessions); colour = "
        f"experiment: {kinds}; marker area grows with the number of trials."
    )
    return (
        f"<p>{s['mouse'].nunique()} mice, {len(s)} sessions.</p>"
        + table_html(per, caption="Mice, sessions, ROIs and trials per experiment and region.")
        + figure(fig, "sessions_per_mouse", cap)
    )
