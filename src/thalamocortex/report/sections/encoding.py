"""Movement encoding across learning: fractions, peri-movement heatmaps, timing, decoding.

Built only from the tables of the ``encoding`` stage (results/encoding/*.parquet).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import img_tag, missing, table_html

TITLE = "Movement encoding across learning"

_COLORS = {"MTh": "#c0392b", "M2": "#2471a3", "S1": "#229954", "cM1": "#7d3c98", "M1": "#555555"}


def _color(region: str, i: int) -> str:
    return _COLORS.get(region, plt.cm.tab10(i % 10))


def _over_sessions(s: pd.DataFrame, metric: str, ylabel: str, title: str, ax) -> None:
    for i, (region, g) in enumerate(s.groupby("region", sort=True)):
        c = _color(region, i)
        for _, gm in g.groupby("mouse"):
            gm = gm.sort_values("session")
            ax.plot(gm["session"], gm[metric], color=c, alpha=0.3, lw=0.8)
        mean = g.groupby("session")[metric].mean()
        ax.plot(mean.index, mean.to_numpy(), "o-", color=c, lw=2, ms=4, label=region)
    ax.set_xlabel("session")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False)


def _heatmaps(rois: pd.DataFrame, peri: pd.DataFrame) -> str:
    """Movement-aligned trial averages of movement-related ROIs, naive vs expert, per region."""
    mv = peri[peri["align"] == "movement"]
    keys = ["mouse", "session", "roi"]
    sel = rois[rois["movement_related"] & rois["stage"].isin(["naive", "expert"])]
    regions = sorted(sel["region"].unique())
    if not regions:
        return "<p class='note'>No movement-related ROIs in naive or expert sessions.</p>"
    fig, axes = plt.subplots(
        len(regions), 2, figsize=(7.5, 2.2 * len(regions)), squeeze=False, sharex=True
    )
    for r, region in enumerate(regions):
        for c, stage in enumerate(("naive", "expert")):
            ax = axes[r, c]
            sub = sel[(sel["region"] == region) & (sel["stage"] == stage)]
            if sub.empty:
                ax.set_axis_off()
                continue
            d = mv.merge(sub[keys], on=keys)
            mat = d.pivot_table(index=keys, columns="time_s", values="dff")
            order = sub.set_index(keys).loc[mat.index, "peak_time"].to_numpy()
            mat = mat.iloc[np.argsort(order, kind="stable")]
            m = mat.to_numpy()
            # each ROI scaled to its peak so timing, not amplitude, is what is seen
            peak = np.nanmax(np.abs(m), axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                m = m / peak
            t = mat.columns.to_numpy(float)
            ax.imshow(
                m,
                aspect="auto",
                cmap="magma",
                vmin=0,
                vmax=1,
                extent=(t[0], t[-1], len(m), 0),
                interpolation="nearest",
            )
            ax.axvline(0, color="w", lw=0.8, ls="--")
            ax.set_title(f"{region} {stage} ({len(m)} ROIs)", fontsize=9)
            if c == 0:
                ax.set_ylabel("ROI (by peak)")
    for ax in axes[-1]:
        ax.set_xlabel("time from movement onset (s)")
    fig.tight_layout()
    return img_tag(fig, "peri-movement heatmaps naive vs expert")


def render(results_dir: Path, fig_dir: Path) -> str:
    d = Path(results_dir) / "encoding"
    if not (d / "sessions.parquet").is_file():
        return missing("encoding")
    s = pd.read_parquet(d / "sessions.parquet")
    if s.empty:
        return "<p class='note'>No imaging sessions were analysed.</p>"
    rois = pd.read_parquet(d / "rois.parquet")
    peri = pd.read_parquet(d / "peri.parquet")
    learn = pd.read_parquet(d / "learning.parquet")
    regions = pd.read_parquet(d / "regions.parquet")
    parts = [
        f"<p>{s['mouse'].nunique()} mice, {len(s)} imaging sessions, "
        f"{len(rois)} ROI-sessions. Movement-related: activity in movement vs quiescence "
        "against a null that keeps the temporal structure (exact empirical p-values); "
        "mice are the unit of replication in every test.</p>"
    ]

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
    _over_sessions(s, "frac_movement", "fraction", "movement-related ROIs", ax[0])
    _over_sessions(s, "frac_quiescence", "fraction", "quiescence-related ROIs", ax[1])
    fig.tight_layout()
    parts.append("<h3>Fraction of movement-related ROIs over learning</h3>")
    parts.append(img_tag(fig, "fraction movement-related per region over sessions"))

    parts.append("<h3>Peri-movement activity, naive vs expert</h3>")
    parts.append(_heatmaps(rois, peri))

    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    _over_sessions(s, "median_onset_latency", "s", "onset latency (median ROI)", ax[0])
    _over_sessions(s, "median_peak_time", "s", "peak time (median ROI)", ax[1])
    _over_sessions(s, "median_reliability", "r", "trial-to-trial reliability", ax[2])
    for a in ax[:2]:
        a.axhline(0, color="k", lw=0.5)
    fig.tight_layout()
    parts.append("<h3>Timing relative to movement onset (negative = leads)</h3>")
    parts.append(img_tag(fig, "timing shift"))

    dec = s[s["n_rois_decoded"] > 0]
    if len(dec):
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
        n = int(dec["n_rois_decoded"].iloc[0])
        _over_sessions(dec, "decode_r2", "cross-validated R²", f"lever decoding ({n} ROIs)", ax[0])
        _over_sessions(
            dec,
            "decode_vs_similarity_rho",
            "Spearman ρ",
            "trial decoding vs similarity to learned movement",
            ax[1],
        )
        fig.tight_layout()
        parts.append("<h3>Decoding of the lever trajectory (ROI count matched)</h3>")
        parts.append(img_tag(fig, "decoding over learning"))
    else:
        parts.append("<p class='note'>No session had enough ROIs and trials to decode.</p>")

    if not learn.empty:
        cols = [
            c
            for c in (
                "role",
                "region",
                "metric",
                "n_mice",
                "naive",
                "expert",
                "estimate",
                "ci_low",
                "ci_high",
                "df",
                "p",
                "p_adjusted",
                "reject",
                "p_sign_flip",
                "p_boot",
                "slope",
                "p_slope",
            )
            if c in learn.columns
        ]
        parts.append(
            "<h3>Naive vs expert per region</h3><p class='note'>estimate = mean over mice of "
            "each mouse's expert − naive change (naive/expert: each mouse's first and last "
            "sessions); primary test: t-test of the per-mouse changes with the variance pooled "
            "over the regions of the experiment, CI from the same model, p_adjusted / reject: "
            "Holm over regions. Secondary, not deciding: p_sign_flip (exact sign-flip over mice; "
            "its smallest two-sided p is 2/2<sup>n</sup>), p_boot (hierarchical bootstrap, "
            "mice then sessions), slope / p_slope (mixed model with a random slope per mouse, "
            "no p when it did not converge).</p>"
        )
        parts.append(table_html(learn[cols], max_rows=60))
    if not regions.empty:
        cols = [
            c
            for c in (
                "role",
                "metric",
                "region",
                "change",
                "estimate",
                "ci_low",
                "ci_high",
                "statistic",
                "p_adjusted",
                "rank",
                "named",
            )
            if c in regions.columns
        ]
        parts.append(
            "<h3>Which region changes most</h3><p class='note'>estimate = the region's mean "
            "change minus the mean of the other regions' changes; statistic: pooled-variance t; "
            "p_adjusted: max-T permutation of region labels across mice (family-wise over "
            "regions); named: the region with the largest |t| when significant.</p>"
        )
        parts.append(table_html(regions[cols], max_rows=60))
    return "".join(parts)
