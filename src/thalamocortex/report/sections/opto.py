"""All-optical mapping section: thalamus-driven and suppressed M1 neurons, naive vs expert,
and their relation to movement encoding.

Every figure is built from the ``opto`` stage's tables alone.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import img_tag, missing, table_html

TITLE = "Thalamic influence on M1 (all-optical mapping)"

_STAGES = ("naive", "expert")


def _read(d: Path, name: str) -> pd.DataFrame:
    p = d / f"{name}.parquet"
    return pd.read_parquet(p) if p.is_file() else pd.DataFrame()


def _heatmaps(peri: pd.DataFrame, neurons: pd.DataFrame) -> str:
    """Pulse-averaged responses per neuron sorted by drive, naive vs expert (opsin mice)."""
    op = neurons[neurons["condition"] == "opsin"]
    stages = [s for s in _STAGES if (op["stage"] == s).any()]
    if not stages:
        return ""
    fig, axes = plt.subplots(1, len(stages), figsize=(4.2 * len(stages), 4.2), squeeze=False)
    vmax = None
    for ax, stage in zip(axes[0], stages, strict=True):
        sub = op[op["stage"] == stage][["mouse", "session", "roi_name", "drive"]]
        p = peri.merge(sub, on=["mouse", "session", "roi_name"])
        if p.empty:
            ax.set_axis_off()
            continue
        mat = p.pivot_table(
            index=["mouse", "session", "roi_name", "drive"], columns="time_s", values="dff"
        )
        # pivot_table drops the all-NaN (blanked) lags: put them back, the time axis is linear
        mat = mat.reindex(columns=np.sort(p["time_s"].unique()))
        mat = mat.sort_index(level="drive", ascending=False)
        vals = mat.to_numpy()
        if vmax is None:
            finite = vals[np.isfinite(vals)]
            vmax = float(np.quantile(np.abs(finite), 0.98)) if len(finite) else 1.0
        t = mat.columns.to_numpy(dtype=float)
        im = ax.imshow(
            vals,
            aspect="auto",
            cmap="RdBu_r",
            vmin=-vmax,
            vmax=vmax,
            extent=(t[0], t[-1], len(vals), 0),
            interpolation="nearest",
        )
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlabel("time from light onset (s)")
        ax.set_ylabel("neurons, sorted by drive")
        ax.set_title(f"{stage}: {len(vals)} neurons, {sub['mouse'].nunique()} mice", fontsize=10)
    fig.colorbar(im, ax=axes[0].tolist(), label="ΔF/F − pre-pulse", shrink=0.8)
    return img_tag(fig, "photostimulation response heatmaps")


def _fractions(fractions: pd.DataFrame) -> str:
    f = fractions.copy()
    f["group"] = f["condition"] + " / " + f["null"]
    agg = f.groupby(["stage", "group"], observed=True)[["activated", "suppressed"]].mean()
    agg = agg.reset_index()
    groups = sorted(agg["group"].unique())
    stages = [s for s in (*_STAGES, "intermediate") if (agg["stage"] == s).any()]
    fig, axes = plt.subplots(1, len(stages), figsize=(4.2 * len(stages), 3.2), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        a = agg[agg["stage"] == stage].set_index("group").reindex(groups)
        x = np.arange(len(groups))
        ax.bar(x - 0.2, a["activated"], 0.4, color="tab:red", label="activated")
        ax.bar(x + 0.2, a["suppressed"], 0.4, color="tab:blue", label="suppressed")
        for _, r in f[f["stage"] == stage].iterrows():
            i = groups.index(r["group"])
            ax.plot(i - 0.2, r["activated"], "k.", ms=3)
            ax.plot(i + 0.2, r["suppressed"], "k.", ms=3)
        ax.set_xticks(x)
        ax.set_xticklabels(groups, rotation=20, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(stage, fontsize=10)
        ax.set_ylabel("fraction of tested neurons")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return img_tag(fig, "fractions of activated and suppressed neurons")


def _scatter(rel: pd.DataFrame) -> str:
    stages = [s for s in _STAGES if (rel["stage"] == s).any()]
    if not stages:
        return ""
    fig, axes = plt.subplots(1, len(stages), figsize=(4.2 * len(stages), 3.6), squeeze=False)
    colours = {"activated": "tab:red", "suppressed": "tab:blue", "not_responsive": "0.6"}
    for ax, stage in zip(axes[0], stages, strict=True):
        sub = rel[rel["stage"] == stage]
        for cls, g in sub.groupby("response_class"):
            ax.scatter(g["encoding_score"], g["drive"], s=8, color=colours.get(cls, "k"), label=cls)
        mr = sub["movement_related"].astype(bool)
        ax.scatter(
            sub.loc[mr, "encoding_score"],
            sub.loc[mr, "drive"],
            s=22,
            facecolors="none",
            edgecolors="k",
            lw=0.5,
            label="movement-related",
        )
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("movement-encoding score")
        ax.set_ylabel("thalamic drive (baseline SD)")
        ax.set_title(stage, fontsize=10)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return img_tag(fig, "drive vs encoding")


def _enrichment(relation: pd.DataFrame) -> str:
    tests = ("enrichment_activated_related", "enrichment_suppressed_unrelated")
    sub = relation[relation["test"].isin(tests)]
    stages = [s for s in _STAGES if (sub["stage"] == s).any()]
    if not stages:
        return ""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for j, test in enumerate(tests):
        for i, stage in enumerate(stages):
            r = sub[(sub["stage"] == stage) & (sub["test"] == test)]
            if r.empty:
                continue
            r = r.iloc[0]
            x = i + (j - 0.5) * 0.3
            est = np.clip(r["estimate"], 1e-2, 1e3)
            lo = np.clip(r["ci_low"], 1e-2, 1e3) if np.isfinite(r["ci_low"]) else est
            hi = np.clip(r["ci_high"], 1e-2, 1e3) if np.isfinite(r["ci_high"]) else est
            ax.errorbar(
                x,
                est,
                yerr=[[est - lo], [hi - est]],
                fmt="o",
                color=("tab:red", "tab:blue")[j],
                capsize=3,
                label=test.replace("_", " ") if i == 0 else None,
            )
            ax.text(x, hi * 1.15, f"p={r['p_perm']:.3g}", ha="center", fontsize=7)
    ax.axhline(1, color="k", lw=0.6)
    ax.set_yscale("log")
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels(stages)
    ax.set_ylabel("odds ratio (95% CI)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return img_tag(fig, "enrichment")


def _identity(ident: pd.DataFrame) -> str:
    """Which cross-session identity the naive-vs-expert comparison used, and its counts."""
    method = str(ident["identity"].iloc[0])
    what = {
        "tracking": "the preprocess stage's cross-session tracking (ROIs matched with "
        f"probability ≥ {float(ident['min_track_probability'].iloc[0]):g})",
        "roi_name": "equal roi_name within a mouse (valid only where ROI names persist across "
        "sessions)",
    }.get(method, method)
    cols = [
        c
        for c in ("mouse", "n_rows", "n_untracked", "n_low_probability", "n_kept", "n_tracked")
        if c in ident.columns
    ]
    return (
        f"<p>Same neuron across sessions: <b>{html.escape(method)}</b>, "
        f"{html.escape(what)}; reason: {html.escape(str(ident['reason'].iloc[0]))}. "
        f"{int(ident['n_tracked'].sum())} neurons seen in both naive and expert sessions.</p>"
        + table_html(ident[cols])
    )


def _paired_scatter(paired: pd.DataFrame) -> str:
    """Naive vs expert drive of the same neurons, by their expert movement-related class."""
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    rel = paired["related_expert"].astype(bool)
    for m, colour, label in ((~rel, "0.6", "unrelated in expert"), (rel, "tab:red", "related")):
        ax.scatter(
            paired.loc[m, "drive_naive"],
            paired.loc[m, "drive_expert"],
            s=8,
            color=colour,
            label=label,
        )
    lim = np.nanmax(np.abs(paired[["drive_naive", "drive_expert"]].to_numpy(float)))
    lim = float(lim) if np.isfinite(lim) and lim > 0 else 1.0
    ax.plot([-lim, lim], [-lim, lim], color="k", lw=0.5)
    ax.axhline(0, color="k", lw=0.3)
    ax.axvline(0, color="k", lw=0.3)
    ax.set_xlabel("naive drive (baseline SD)")
    ax.set_ylabel("expert drive (baseline SD)")
    ax.set_title(f"{len(paired)} tracked neurons, {paired['mouse'].nunique()} mice", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return img_tag(fig, "naive vs expert drive of the same neurons")


def render(results_dir: Path, fig_dir: Path) -> str:
    d = Path(results_dir) / "opto"
    if not (d / "neurons.parquet").is_file():
        return missing("opto")
    neurons = _read(d, "neurons")
    if neurons.empty:
        return "<p class='note'>No all-optical sessions in this dataset.</p>"
    parts = [
        f"<p>{neurons['mouse'].nunique()} mice, "
        f"{neurons.groupby(['mouse', 'session']).ngroups} sessions, {len(neurons)} neuron-"
        f"sessions. Criterion: {html.escape(str(neurons['criterion'].iloc[0]))}. "
        "Artefact frames (ceil(duration × frame rate) + 1 per pulse) are blanked (NaN); the "
        "post window starts after the light ends.</p>"
    ]
    fractions = _read(d, "fractions")
    if len(fractions):
        parts.append(_fractions(fractions))
        cols = [
            "mouse",
            "session",
            "stage",
            "condition",
            "null",
            "n_tested",
            "activated",
            "suppressed",
            "responsive",
            "n_pulses",
        ]
        parts.append(
            "<p class='note'>Fractions per session: real pulses and the pseudo-pulse null "
            "(no-light times from spontaneous periods, processed identically); no-opsin and "
            "sham sessions are controls.</p>" + table_html(fractions[cols])
        )
    peri = _read(d, "peri")
    if len(peri):
        parts.append(_heatmaps(peri, neurons))
    rel = _read(d, "relation_neurons")
    if len(rel):
        parts.append(_scatter(rel))
    relation = _read(d, "relation")
    if len(relation):
        parts.append(_enrichment(relation))
        parts.append(
            table_html(
                relation[
                    [
                        "stage",
                        "test",
                        "estimate",
                        "ci_low",
                        "ci_high",
                        "p_perm",
                        "n_neurons",
                        "n_mice",
                    ]
                ]
            )
        )
    ident = _read(d, "naive_vs_expert_identity")
    if len(ident):
        parts.append(_identity(ident))
    nve = _read(d, "naive_vs_expert")
    if len(nve):
        parts.append(
            "<p class='note'>Naive vs expert on the neurons seen in both stages. "
            "<i>population</i>: per-session statistic on those neurons, expert − naive per "
            "mouse; <i>paired</i>: per-mouse statistic of the same neurons' naive and expert "
            "values. Sign-flip test of the per-mouse values across mice:</p>" + table_html(nve)
        )
    paired = _read(d, "naive_vs_expert_neurons")
    if len(paired):
        parts.append(_paired_scatter(paired))
    mm = _read(d, "naive_vs_expert_model")
    if len(mm):
        parts.append(
            "<p class='note'>Mixed model drive ~ movement_related × expert + (1 | mouse):</p>"
            + table_html(mm)
        )
    parts.append(f"<p class='note'>Results: {html.escape(str(d))}</p>")
    return "\n".join(p for p in parts if p)
