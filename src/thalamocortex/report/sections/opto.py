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

from thalamocortex.report.figures import figure, missing, table_html

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
        # pivot on integer frame offsets (float lag times of different sessions differ in the
        # last digits and would make a checkerboard of missing values); keep all-NaN
        # (blanked) lags: the time axis is linear
        col = "frame" if "frame" in p else "time_s"
        mat = p.set_index(["mouse", "session", "roi_name", "drive", col])["dff"].unstack(col)
        if col == "frame":
            full = np.arange(int(p["frame"].min()), int(p["frame"].max()) + 1)
            mat = mat.reindex(columns=full)
            moved = p[p["frame"] != 0]
            rate = float(np.median(moved["frame"] / moved["time_s"])) if len(moved) else 1.0
            mat.columns = full / rate
        else:
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
    fig.colorbar(im, ax=axes[0].tolist(), label="dF/F − pre-pulse mean", shrink=0.8)
    n_mice = op.groupby("stage")["mouse"].nunique()
    cap = (
        "<b>Responses to photostimulation of thalamic axons.</b> Each row is one M1 neuron of "
        "an opsin mouse, dF/F averaged over pulses and referenced to each pulse's pre-pulse "
        "window, by frame from light onset (frames during the light are blanked and left "
        "white); neurons sorted by their drive (response / baseline SD), strongest at the top. "
        + ", ".join(f"{k}: {v} mice" for k, v in n_mice.items())
        + "."
    )
    return figure(fig, "response_heatmaps", cap)


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
    n = f.groupby("stage")["mouse"].nunique()
    cap = (
        "<b>Fractions of activated and suppressed neurons</b> per stage: bars are means over "
        "sessions, dots single sessions; <i>opsin / pulses</i> is the experiment, "
        "<i>/ pseudo</i> the same classification at pseudo-pulse times drawn from spontaneous "
        "periods (the no-stimulus null), <i>no_opsin</i> and <i>sham</i> the controls. A "
        "neuron is activated (suppressed) when its post-minus-pre response is significant "
        "across pulses (paired signed-rank test, Benjamini–Hochberg FDR within the session) "
        "with the minimum effect size. " + ", ".join(f"{k}: {v} mice" for k, v in n.items()) + "."
    )
    return figure(fig, "fractions", cap)


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
    cap = (
        "<b>Thalamic drive against movement encoding</b> of the same neurons (opsin mice): "
        "drive = photostimulation response in units of the neuron's baseline SD; encoding "
        "score from the encoding stage; colour = response class, black ring = movement-related "
        f"in that session. {len(rel)} neuron-sessions, {rel['mouse'].nunique()} mice."
    )
    return figure(fig, "drive_vs_encoding", cap)


def _enrichment(relation: pd.DataFrame) -> str:
    """Odds ratios with their CIs on a log axis; infinite or undefined ones drawn as such."""
    tests = ("enrichment_activated_related", "enrichment_suppressed_unrelated")
    sub = relation[relation["test"].isin(tests)]
    stages = [s for s in _STAGES if (sub["stage"] == s).any()]
    if not stages:
        return ""
    lo_lim, hi_lim = 1e-2, 1e2
    fig, ax = plt.subplots(figsize=(5.8, 3.6))
    notes = []
    for j, test in enumerate(tests):
        colour = ("tab:red", "tab:blue")[j]
        for i, stage in enumerate(stages):
            r = sub[(sub["stage"] == stage) & (sub["test"] == test)]
            if r.empty:
                continue
            r = r.iloc[0]
            x = i + (j - 0.5) * 0.3
            label = test.replace("_", " ") if i == 0 else None
            est = float(r["estimate"])
            if not np.isfinite(est) and not np.isinf(est):
                # undefined (0/0): no point, say so on the axis
                ax.text(
                    x,
                    1,
                    "undefined",
                    rotation=90,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=colour,
                )
                notes.append(f"{stage} {test.replace('_', ' ')}: undefined")
                ax.plot([], [], "o", color=colour, label=label)
                continue
            if np.isinf(est):
                # infinite odds ratio (an empty cell): an arrow at the edge, labelled
                y = hi_lim if est > 0 else lo_lim
                ax.annotate(
                    "+∞" if est > 0 else "0",
                    xy=(x, y),
                    xytext=(x, y / 3 if est > 0 else y * 3),
                    ha="center",
                    fontsize=8,
                    color=colour,
                    arrowprops={"arrowstyle": "->", "color": colour},
                )
                ax.plot([], [], "o", color=colour, label=label)
                notes.append(f"{stage} {test.replace('_', ' ')}: {'+∞' if est > 0 else '0'}")
                continue
            lo = float(r["ci_low"]) if np.isfinite(r["ci_low"]) else np.nan
            hi = float(r["ci_high"]) if np.isfinite(r["ci_high"]) else np.nan
            ax.plot(x, np.clip(est, lo_lim, hi_lim), "o", color=colour, label=label)
            ax.plot(
                [x, x],
                [
                    np.clip(lo if np.isfinite(lo) else est, lo_lim, hi_lim),
                    np.clip(hi if np.isfinite(hi) else hi_lim, lo_lim, hi_lim),
                ],
                color=colour,
                lw=1.2,
            )
            if not np.isfinite(r["ci_high"]):
                notes.append(f"{stage} {test.replace('_', ' ')}: upper CI +∞")
    ax.axhline(1, color="k", lw=0.6)
    ax.set_yscale("log")
    ax.set_ylim(lo_lim / 1.5, hi_lim * 1.5)
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels(stages)
    ax.set_xlim(-0.6, len(stages) - 0.4)
    ax.set_ylabel("odds ratio (95 % CI)")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    cap = (
        "<b>Enrichment</b> of movement-related neurons among thalamus-activated neurons "
        "(red) and of movement-unrelated neurons among suppressed neurons (blue): "
        "Mantel–Haenszel odds ratio over the sessions of each stage with its 95 % CI "
        f"(log axis, drawn within [{lo_lim:g}, {hi_lim:g}]). Infinite odds ratios (a table "
        "with an empty cell) are arrows labelled +∞, never a finite point"
        + (f" ({'; '.join(notes)})" if notes else "")
        + ". The p-values in the table are from permuting labels across neurons within "
        "sessions: a statement about these neurons, not a test across mice."
    )
    return figure(fig, "enrichment", cap)


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
    cap = (
        "<b>The same neurons naive and expert.</b> Drive of each neuron found in both a naive "
        "and an expert session of its mouse (identity as stated above), coloured by whether "
        "it is movement-related in the expert session; diagonal = no change."
    )
    return figure(fig, "naive_vs_expert_neurons", cap)


def _mixed_model(mm: pd.DataFrame) -> str:
    """The mixed model's fixed effects; no p-value (or SE) from a fit that did not converge."""
    mm = mm.copy()
    converged = bool(mm["converged"].all()) if "converged" in mm else True
    note = "Mixed model drive ~ movement_related × expert + (1 | mouse), secondary."
    if not converged:
        for c in mm.columns:
            if c.startswith("p") or c in ("se", "z", "ci_low", "ci_high", "statistic"):
                mm[c] = np.nan
        note += (
            " <b>The fit did not converge</b>: its estimates are shown for completeness, its "
            "p-values are withheld (—)."
        )
    return f"<p class='note'>{note}</p>" + table_html(mm)


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
        cols = ["stage", "test", "estimate", "ci_low", "ci_high", "p_perm", "n_neurons", "n_mice"]
        parts.append(
            table_html(
                relation[[c for c in cols if c in relation]].rename(
                    columns={"p_perm": "p_perm (neurons, secondary)"}
                ),
                caption="Relation of drive and encoding per stage. +∞ = infinite odds ratio, "
                "— = undefined. p_perm permutes labels across neurons: secondary, not a "
                "mouse-level test.",
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
        parts.append(_mixed_model(mm))
    parts.append(f"<p class='note'>Results: {html.escape(str(d))}</p>")
    return "\n".join(p for p in parts if p)
