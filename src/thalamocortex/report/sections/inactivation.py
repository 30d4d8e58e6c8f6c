"""Inactivation section: light-on vs light-off behaviour per mouse, trajectories overlaid.

Every figure is built from the ``inactivation`` stage's tables alone.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import figure, missing, table_html

TITLE = "Inactivation of thalamic inputs to M1"

#: Axis label (with unit) of each per-trial measure; {lever} is the lever's unit.
_MEASURES = {
    "similarity_to_template": "similarity to learned movement (r)",
    "rewarded": "success (fraction of trials)",
    "reaction_time": "reaction time (s)",
    "peak_amplitude": "peak lever amplitude ({lever})",
    "movement_duration": "movement duration (s)",
    "time_to_threshold": "time to threshold (s)",
}


def _read(d: Path, name: str) -> pd.DataFrame:
    p = d / f"{name}.parquet"
    return pd.read_parquet(p) if p.is_file() else pd.DataFrame()


def _paired(per_mouse: pd.DataFrame, lever_unit: str) -> str:
    measures = list(dict.fromkeys(per_mouse["measure"]))
    fig, axes = plt.subplots(1, len(measures), figsize=(2.6 * len(measures), 3.0), squeeze=False)
    for ax, m in zip(axes[0], measures, strict=True):
        sub = per_mouse[per_mouse["measure"] == m]
        for _, r in sub.iterrows():
            ax.plot([0, 1], [r["mean_off"], r["mean_on"]], "-o", color="0.55", ms=4, lw=0.8)
        ax.plot([0, 1], [sub["mean_off"].mean(), sub["mean_on"].mean()], "-o", color="k", lw=2.2)
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["light off", "light on"])
        ax.set_xlim(-0.4, 1.4)
        label = _MEASURES.get(m, m.replace("_", " ")).format(lever=lever_unit or "lever units")
        ax.set_ylabel(label, fontsize=8)
    fig.tight_layout()
    cap = (
        "<b>Light-on vs light-off trials per mouse.</b> Each grey line is one mouse's mean "
        "over its light-off and light-on trials (inactivation sessions), black the mean over "
        f"mice ({per_mouse['mouse'].nunique()} mice). The tests are in the table above."
    )
    return figure(fig, "per_mouse", cap)


def _trajectories(traj: pd.DataFrame, lever_unit: str) -> str:
    mice = sorted(traj["mouse"].unique())
    fig, axes = plt.subplots(
        1, len(mice), figsize=(3.2 * len(mice), 2.9), squeeze=False, sharey=True
    )
    colours = {"light_off": "k", "light_on": "tab:green"}
    for ax, mouse in zip(axes[0], mice, strict=True):
        for cond, g in traj[traj["mouse"] == mouse].groupby("condition"):
            g = g.sort_values("t")
            n = int(g["n_trials"].iloc[0])
            ax.plot(g["t"], g["mean"], color=colours.get(cond, "0.5"), label=f"{cond} ({n})")
        ax.set_xlabel("time from movement onset (s)")
        ax.set_title(mouse, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    unit = f" ({lever_unit})" if lever_unit else ""
    axes[0][0].set_ylabel(f"lever position re onset{unit}")
    fig.tight_layout()
    cap = (
        "<b>Mean lever trajectory</b> after movement onset on light-off (black) and light-on "
        "(green) trials per mouse, relative to the position at onset; trial counts in the "
        "legends."
    )
    return figure(fig, "trajectories", cap)


def _tests_table(tests: pd.DataFrame) -> str:
    """The tests, with trial-level p-values labelled as such and no trial-level decision."""
    order = (
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
        "mixed_converged",
        "n_sessions",
    )
    t = tests[[c for c in order if c in tests]].copy()
    if "mixed_converged" in t:
        bad = ~t["mixed_converged"].astype(bool)
        for c in ("mixed_p", "p_mixed"):
            if c in t:
                t.loc[bad, c] = np.nan
    rename = {
        "p_randomisation": "p_randomisation (trials, secondary)",
        "mixed_p": "mixed_p (trials in mice, secondary)",
        "p_sign_flip": "p_sign_flip (across mice)",
    }
    return table_html(
        t.rename(columns=rename),
        caption="Light on − light off per measure. Columns marked <i>trials</i> are "
        "trial-level tests (secondary: trials of one mouse are not independent replicates); "
        "mouse-level tests are those across mice. No p-value is shown for a mixed model that "
        "did not converge (—).",
    )


def render(results_dir: Path, fig_dir: Path) -> str:
    d = Path(results_dir) / "inactivation"
    if not (d / "tests.parquet").is_file():
        return missing("inactivation")
    tests = _read(d, "tests")
    if tests.empty:
        return "<p class='note'>No inactivation sessions in this dataset.</p>"
    crit = str(tests["criterion"].iloc[0]) if "criterion" in tests else ""
    parts = [
        f"<p>{int(tests['n_mice'].max())} mice, {int(tests['n_sessions'].max())} sessions. "
        + "Primary: similarity to the learned movement (each trial against a template of the "
        "mouse's light-off rewarded trials that excludes it; Lin's concordance correlation by "
        "default, which sees a smaller press as well as a different shape, see the table's test "
        "column), per-mouse light-on − light-off "
        "difference, t-test across mice. Secondary measures: the same test, Holm-adjusted "
        "among themselves. " + (f"{html.escape(crit)}." if crit else "") + "</p>",
        _tests_table(tests),
    ]
    beh = _read(Path(results_dir) / "behavior", "sessions")
    units = beh["lever_units"].dropna() if "lever_units" in beh else pd.Series(dtype=str)
    lever_unit = str(units.iloc[0]) if len(units) else ""
    per_mouse = _read(d, "per_mouse")
    if len(per_mouse):
        parts.append(_paired(per_mouse, lever_unit))
    traj = _read(d, "trajectories")
    if len(traj):
        parts.append(_trajectories(traj, lever_unit))
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
