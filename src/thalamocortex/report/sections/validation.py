"""Validation against ground truth, for simulated datasets (``<dataset>/ground_truth/``).

This is the only section that reads anything besides the results: the simulator's truth,
written beside the NWB files and never read by an analysis. It compares the results with it:
precision and recall of movement-related units, F1 of thalamus-driven neurons, error of the
movement onsets, consistency of cross-session tracking, and recovered against simulated
effect sizes. Units the truth cannot be matched to (ROIs extracted from raw movies get new
names) are counted and left out.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import figure, region_color, table_html
from thalamocortex.report.results import ground_truth_dir, read

TITLE = "Validation against the simulator's ground truth"

#: Simulated effect -> (stage, table, column, experiment) of the analysis that estimates it.
EFFECT_MEASURES = {
    "input.movement_fraction": ("encoding", "sessions", "frac_movement", "axon_imaging"),
    "input.lag": ("encoding", "sessions", "median_onset_latency", "axon_imaging"),
    "input.reliability": ("encoding", "sessions", "median_reliability", "axon_imaging"),
    "behavior.reaction_time": ("behavior", "sessions", "median_reaction_time", None),
}


def _prf(pred: np.ndarray, truth: np.ndarray) -> dict:
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    tn = int(np.sum(~pred & ~truth))
    return {
        "n_units": len(pred),
        "n_true": int(truth.sum()),
        "precision": tp / (tp + fp) if tp + fp else np.nan,
        "recall": tp / (tp + fn) if tp + fn else np.nan,
        "false_positive_rate": fp / (fp + tn) if fp + tn else np.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan,
    }


def _unit_truth(rois: pd.DataFrame, gt: pd.DataFrame) -> pd.DataFrame:
    """Truth of each analysis unit: somata by name; a merged axon through its first bouton
    (``axon:<bouton>``), whose simulated axon is movement-related when most of its boutons are."""
    keys = ["mouse", "session"]
    g = gt[[*keys, "roi_name", "axon_id", "movement_related"]].copy()
    g["movement_related"] = g["movement_related"].astype(bool)
    axon_truth = (
        g.dropna(subset=["axon_id"])
        .groupby([*keys, "axon_id"])["movement_related"]
        .mean()
        .ge(0.5)
        .rename("axon_truth")
        .reset_index()
    )
    g = g.merge(axon_truth, on=[*keys, "axon_id"], how="left")
    u = rois[[*keys, "region", "roi_name", "roi_type", "movement_related"]].copy()
    u["anchor"] = u["roi_name"].astype(str).str.replace(r"^axon:", "", regex=True)
    m = u.merge(
        g[[*keys, "roi_name", "movement_related", "axon_truth"]].rename(
            columns={"roi_name": "anchor", "movement_related": "truth_roi"}
        ),
        on=[*keys, "anchor"],
        how="left",
    )
    is_axon = m["roi_type"] == "axon"
    m["truth"] = np.where(is_axon, m["axon_truth"], m["truth_roi"])
    return m


def _movement_cells(results_dir: Path, gt_dir: Path) -> tuple[str, int]:
    rois = read(results_dir, "encoding", "rois")
    gt = pd.read_parquet(gt_dir / "rois.parquet")
    if rois.empty or "movement_related" not in gt:
        return "", 0
    m = _unit_truth(rois, gt)
    matched = m[m["truth"].notna()]
    rows = []
    for region, g in matched.groupby("region"):
        rows.append(
            {"region": region}
            | _prf(g["movement_related"].to_numpy(bool), g["truth"].to_numpy(bool))
        )
    if matched.empty:
        return (
            f"<p class='note'>Movement-related units: none of the {len(m)} analysed units "
            "could be matched to a simulated ROI (ROIs extracted from raw movies are "
            "renamed).</p>",
            0,
        )
    rows.append(
        {"region": "all"}
        | _prf(matched["movement_related"].to_numpy(bool), matched["truth"].to_numpy(bool))
    )
    n_out = len(m) - len(matched)
    return (
        table_html(
            pd.DataFrame(rows),
            caption="<b>Movement-related units</b> against the simulator's labels (axons: the "
            "label of the simulated axon holding the merged axon's first bouton). "
            + (f"{n_out} units without a simulated counterpart left out." if n_out else ""),
        ),
        len(matched),
    )


def _driven_cells(results_dir: Path, gt_dir: Path) -> str:
    neurons = read(results_dir, "opto", "neurons")
    gt = pd.read_parquet(gt_dir / "rois.parquet")
    if neurons.empty or "expected_response" not in gt:
        return ""
    keys = ["mouse", "session", "roi_name"]
    m = neurons.merge(gt[[*keys, "expected_response"]], on=keys, how="inner")
    if m.empty:
        return ""
    truth = np.where(m["expected_response"] == "none", "not_responsive", m["expected_response"])
    rows = []
    for stage, idx in m.groupby(m.get("stage", pd.Series("", index=m.index))).groups.items():
        sub = m.loc[idx]
        t = truth[m.index.get_indexer(idx)]
        for cls in ("activated", "suppressed"):
            r = _prf((sub["response_class"] == cls).to_numpy(), t == cls)
            rows.append({"stage": stage, "class": cls} | r)
    return table_html(
        pd.DataFrame(rows),
        caption="<b>Thalamus-driven M1 neurons</b>: the opto stage's classes against the "
        "circuit's expected response (every condition, controls included).",
    )


def _onsets(results_dir: Path, gt_dir: Path) -> str:
    trials = read(results_dir, "behavior", "trials")
    path = gt_dir / "trials.parquet"
    if trials.empty or not path.is_file():
        return ""
    gt = pd.read_parquet(path)
    if "movement_onset" not in gt:
        return ""
    keys = ["mouse", "session", "trial"]
    m = trials[[*keys, "movement_onset"]].merge(
        gt[[*keys, "movement_onset"]], on=keys, suffixes=("", "_true")
    )
    has_true = np.isfinite(m["movement_onset_true"].to_numpy(float))
    found = has_true & np.isfinite(m["movement_onset"].to_numpy(float))
    err = (m["movement_onset"] - m["movement_onset_true"]).to_numpy(float)[found] * 1000
    if len(err) == 0:
        return ""
    ae = np.abs(err)
    return (
        f"<p><b>Movement onsets</b> of the trials' movements: {found.sum()} of "
        f"{has_true.sum()} simulated trial movements found by the behaviour stage "
        f"({found.sum() / max(has_true.sum(), 1):.1%}); onset error median "
        f"{np.median(err):+.0f} ms (detected − true), |error| median {np.median(ae):.0f} ms, "
        f"95th percentile {np.percentile(ae, 95):.0f} ms.</p>"
    )


def _tracking(results_dir: Path) -> str:
    t = read(results_dir, "preprocess", "tracking")
    if t.empty:
        return (
            "<p class='note'>Tracking: not run on this dataset (its sessions have no raw "
            "movie or mean image to register), so there is no tracking accuracy to report; "
            "cross-session identities came from ROI names.</p>"
        )
    found = t[t["roi"] >= 0]
    names = found.groupby(["mouse", "cell"])["roi_name"].nunique()
    multi = found.groupby(["mouse", "cell"])["session"].nunique() > 1
    if found["roi_name"].astype(str).str.match(r"^roi\d+$").all():
        return (
            "<p class='note'>Tracking ran on ROIs extracted from raw movies; they carry new "
            "names, so their identity against the simulator is checked in the end-to-end "
            "test (tests/test_preprocess_endtoend.py), not here.</p>"
        )
    ok = (names[multi] == 1).sum()
    return (
        f"<p><b>Tracking</b>: {ok} of {int(multi.sum())} cells tracked over more than one "
        "session hold the same simulated ROI on every day "
        f"({ok / max(int(multi.sum()), 1):.1%}).</p>"
    )


def _per_mouse_changes(results_dir: Path, gt_dir: Path) -> tuple[str, str]:
    path = gt_dir / "mice.parquet"
    if not path.is_file():
        return "", ""
    mice = pd.read_parquet(path)
    rows = []
    for effect, (stage, table, col, experiment) in EFFECT_MEASURES.items():
        t = read(results_dir, stage, table)
        e = mice[mice["effect"] == effect]
        if t.empty or e.empty or col not in t:
            continue
        if experiment is not None and "experiment" in e:
            e = e[e["experiment"] == experiment]
        stages = read(results_dir, "encoding", "sessions")[["mouse", "session", "stage"]]
        t = t.merge(stages, on=["mouse", "session"], how="inner") if "stage" not in t else t
        for _, r in e.iterrows():
            g = t[t["mouse"] == r["mouse"]]
            naive = g.loc[g["stage"] == "naive", col].mean()
            expert = g.loc[g["stage"] == "expert", col].mean()
            rows.append(
                {
                    "effect": effect,
                    "mouse": r["mouse"],
                    "region": r.get("region", ""),
                    "true_change": float(r["change_mouse"]),
                    "measured_change": float(expert - naive),
                    "measure": col,
                }
            )
    if not rows:
        return "", ""
    d = pd.DataFrame(rows).dropna(subset=["true_change", "measured_change"])
    if d.empty:
        return "", ""
    summary = (
        d.groupby(["effect", "measure"])
        .apply(
            lambda g: pd.Series(
                {
                    "n_mice": len(g),
                    "true_mean": g["true_change"].mean(),
                    "measured_mean": g["measured_change"].mean(),
                    "r_across_mice": g[["true_change", "measured_change"]].corr().iloc[0, 1]
                    if len(g) > 2
                    else np.nan,
                }
            ),
            include_groups=False,
        )
        .reset_index()
    )
    effects = list(dict.fromkeys(d["effect"]))
    fig, axes = plt.subplots(1, len(effects), figsize=(3.0 * len(effects), 3.0), squeeze=False)
    for ax, eff in zip(axes[0], effects, strict=True):
        g = d[d["effect"] == eff]
        for i, (region, gr) in enumerate(g.groupby("region")):
            ax.scatter(
                gr["true_change"],
                gr["measured_change"],
                s=16,
                color=region_color(region, i),
                label=region,
            )
        lim = np.nanmax(np.abs(g[["true_change", "measured_change"]].to_numpy(float))) * 1.15
        lim = lim if np.isfinite(lim) and lim > 0 else 1.0
        ax.plot([-lim, lim], [-lim, lim], "k:", lw=0.8)
        ax.axhline(0, color="0.7", lw=0.5)
        ax.axvline(0, color="0.7", lw=0.5)
        ax.set_title(eff, fontsize=8)
        ax.set_xlabel("simulated change (expert − naive)")
        ax.legend(fontsize=6, frameon=False)
    axes[0][0].set_ylabel("measured change")
    fig.tight_layout()
    cap = (
        "<b>Recovered against simulated effect sizes, per mouse.</b> x: the change the "
        "simulator gave each mouse (its population change times its own multiplier); y: the "
        "change the analysis measured for that mouse (mean over its expert sessions minus mean "
        "over its naive sessions of the column named in the table). Dotted: identity. Lag vs "
        "onset latency and simulated reliability vs measured trial-to-trial correlation are "
        "different quantities of the same property: compare the sign and the ordering of "
        "their changes, not their size."
    )
    return figure(fig, "effects", cap), table_html(summary)


def _session_levels(results_dir: Path, gt_dir: Path) -> str:
    """Measured against true fraction of movement-related units per session."""
    s = read(results_dir, "encoding", "sessions")
    path = gt_dir / "sessions.parquet"
    if s.empty or not path.is_file():
        return ""
    gt = pd.read_parquet(path)
    true_col = next(
        (c for c in ("axon_movement_fraction", "fraction_encoding") if c in gt.columns), None
    )
    if true_col is None:
        return ""
    cols = [c for c in ("axon_movement_fraction", "fraction_encoding") if c in gt.columns]
    g = gt[["mouse", "session", *cols]].copy()
    g["true_fraction"] = g[cols].bfill(axis=1).iloc[:, 0]
    m = s.merge(g[["mouse", "session", "true_fraction"]], on=["mouse", "session"])
    m = m[np.isfinite(m["true_fraction"].to_numpy(float))]
    if m.empty:
        return ""
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    for i, (region, gr) in enumerate(m.groupby("region")):
        ax.scatter(
            gr["true_fraction"],
            gr["frac_movement"],
            s=10,
            color=region_color(region, i),
            label=region,
        )
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("simulated fraction of movement-related units")
    ax.set_ylabel("measured fraction")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    r = np.corrcoef(m["true_fraction"], m["frac_movement"])[0, 1] if len(m) > 2 else np.nan
    cap = (
        f"<b>Movement-related fraction per session</b>, measured against simulated "
        f"({len(m)} sessions, {m['mouse'].nunique()} mice; r = {r:.2f}); dotted: identity. "
        "Simulated fractions are the session's realised fractions of movement-related axons "
        "(axon imaging) or movement-encoding neurons (M1)."
    )
    return figure(fig, "session_fractions", cap)


def render(results_dir: Path, fig_dir: Path) -> str:
    gt_dir = ground_truth_dir(results_dir)
    if gt_dir is None:
        return ""  # not a simulated dataset: no section
    parts = [
        f"<p>This dataset is simulated; its truth ({html.escape(str(gt_dir))}) was never read "
        "by the analyses. Here, and only here, the results are compared with it.</p>"
    ]
    table, _ = _movement_cells(results_dir, gt_dir)
    parts.append(table)
    parts.append(_driven_cells(results_dir, gt_dir))
    parts.append(_onsets(results_dir, gt_dir))
    parts.append(_tracking(results_dir))
    parts.append(_session_levels(results_dir, gt_dir))
    fig, tab = _per_mouse_changes(results_dir, gt_dir)
    parts.append(fig)
    if tab:
        parts.append(
            "<p class='note'>Simulated vs measured change per effect, over mice "
            "(r across mice where at least 3 mice):</p>" + tab
        )
    return "".join(p for p in parts if p)
