"""Dataset summary: mice, sessions, ROIs, trials, regions."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from thalamocortex.report.figures import img_tag, missing, table_html

TITLE = "Dataset"


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
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for i, (mouse, g) in enumerate(s.groupby("mouse")):
        ax.scatter(g["session"], [i] * len(g), s=12 + g["n_trials"].fillna(0) / 5, label=mouse)
    ax.set_yticks(range(s["mouse"].nunique()))
    ax.set_yticklabels(sorted(s["mouse"].unique()), fontsize=7)
    ax.set_xlabel("session")
    ax.set_title("sessions per mouse (marker size ~ trials)")
    return (
        f"<p>{s['mouse'].nunique()} mice, {len(s)} sessions.</p>"
        + table_html(per)
        + img_tag(fig, "sessions per mouse")
    )
