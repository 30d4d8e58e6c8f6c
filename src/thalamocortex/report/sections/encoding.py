"""Movement encoding across learning: fractions, peri-movement heatmaps, example traces, single
trials, timing, decoding.

Built only from the tables of the ``encoding`` stage (results/encoding/*.parquet) and, for the
movement epochs under the example traces, the behaviour stage's ``movements``.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from thalamocortex.report.figures import (
    figure,
    missing,
    plot_over_sessions,
    region_color,
    table_html,
)
from thalamocortex.report.results import read

TITLE = "Movement encoding across learning"

_UNIT_WORDS = {"axon": "axons", "soma": "somata", "bouton": "boutons"}


def _units_text(rois: pd.DataFrame) -> str:
    kinds = rois.groupby("roi_type").size()
    return ", ".join(f"{n} {_UNIT_WORDS.get(k, k)}" for k, n in kinds.items())


def stage_definitions(sessions: pd.DataFrame) -> str:
    """Which sessions are 'naive' and 'expert', read from the results (per mouse or fixed)."""
    if "stage" not in sessions:
        return ""
    parts = []
    for stage in ("naive", "expert"):
        sel = sessions[sessions["stage"] == stage]
        if sel.empty:
            parts.append(f"<dt>{stage}</dt><dd>no session in this dataset</dd>")
            continue
        per_mouse = sel.groupby("mouse")["session"].apply(lambda s: tuple(sorted(s)))
        common = per_mouse.value_counts()
        desc = "; ".join(f"sessions {', '.join(map(str, k))} ({v} mice)" for k, v in common.items())
        parts.append(f"<dt>{stage}</dt><dd>{html.escape(desc)}</dd>")
    return (
        "<p>Learning stages used by every naive-vs-expert comparison below (as recorded in the "
        "results; the rule is in the methods section):</p><dl class='defs'>"
        + "".join(parts)
        + "</dl>"
    )


def _per_region(s: pd.DataFrame, metric: str, ylabel: str, name: str, caption: str, hline=None):
    regions = sorted(s["region"].unique())
    fig, axes = plt.subplots(
        1, len(regions), figsize=(2.6 * len(regions) + 0.6, 2.7), sharey=True, squeeze=False
    )
    for i, (ax, region) in enumerate(zip(axes[0], regions, strict=True)):
        g = s[s["region"] == region]
        n = plot_over_sessions(ax, g.assign(_g=region), metric, group="_g")
        ax.set_title(f"{region} ({n.get(region, 0)} mice)", color=region_color(region, i))
        if hline is not None:
            ax.axhline(hline, color="k", lw=0.5)
    axes[0][0].set_ylabel(ylabel)
    fig.tight_layout()
    return figure(fig, name, caption + " Intervals reaching beyond the axis are cut at it.")


def _heatmaps(rois: pd.DataFrame, peri: pd.DataFrame) -> str:
    """Movement-aligned averages of movement-related units, naive vs expert, per region; units
    ordered by their peak time in the odd trials, the even trials plotted."""
    mv = peri[peri["align"] == "movement"]
    keys = ["mouse", "session", "roi"]
    sel = rois[rois["movement_related"].astype(bool) & rois["stage"].isin(["naive", "expert"])]
    regions = sorted(sel["region"].unique())
    if not regions:
        return "<p class='note'>No movement-related units in naive or expert sessions.</p>"
    cross_validated = {"dff_odd", "dff_even"} <= set(mv.columns)
    fig, axes = plt.subplots(
        len(regions),
        2,
        figsize=(7.8, 2.1 * len(regions) + 0.4),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    im = None
    for r, region in enumerate(regions):
        for c, stage in enumerate(("naive", "expert")):
            ax = axes[r, c]
            sub = sel[(sel["region"] == region) & (sel["stage"] == stage)]
            if sub.empty:
                ax.set_axis_off()
                ax.set_title(f"{region} {stage}: none", fontsize=8)
                continue
            d = mv.merge(sub[keys], on=keys)
            shown = "dff_even" if cross_validated else "dff"
            order_by = "dff_odd" if cross_validated else "dff"
            # unstack (not pivot_table(dropna=False), which builds the product of the keys)
            wide = d.set_index([*keys, "time_s"])[[shown, order_by]].unstack("time_s")
            plot, sort = wide[shown], wide[order_by]
            t = plot.columns.to_numpy(float)
            # order: time of the peak of the odd-trial average (-inf for all-NaN rows)
            sv = sort.to_numpy(float)
            peak = np.full(len(sv), np.inf)
            ok = np.isfinite(sv).any(axis=1)
            peak[ok] = t[np.nanargmax(np.where(np.isfinite(sv[ok]), sv[ok], -np.inf), axis=1)]
            m = plot.to_numpy(float)[np.argsort(peak, kind="stable")]
            # each unit scaled to its peak |dF/F| so timing, not amplitude, is what is seen
            scale = np.nanmax(np.abs(m), axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                m = m / scale
            im = ax.imshow(
                m,
                aspect="auto",
                cmap="RdBu_r",
                vmin=-1,
                vmax=1,
                extent=(t[0], t[-1], len(m), 0),
                interpolation="nearest",
            )
            ax.axvline(0, color="k", lw=0.6, ls="--")
            ax.set_title(
                f"{region} {stage}: {len(m)} units, {sub['mouse'].nunique()} mice", fontsize=8
            )
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if c == 0:
                ax.set_ylabel("unit")
    for ax in axes[-1]:
        ax.set_xlabel("time from movement onset (s)")
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="dF/F / unit's peak |dF/F|")
    how = (
        "ordered by the time of their peak in the average of the odd-numbered trials and drawn "
        "from the average of the even-numbered trials (so the order is not fitted to the noise "
        "it displays)"
        if cross_validated
        else "ordered by peak time (on the same trials: results made before cross-validated "
        "sorting)"
    )
    cap = (
        "<b>Peri-movement activity of movement-related units.</b> Each row is one unit "
        "(movement-related in that session), trial-averaged dF/F around the onset of rewarded "
        f"movements, baseline-subtracted and scaled to the unit's peak |dF/F|; units are {how}. "
        "Naive vs expert sessions as defined above; counts in the panel titles."
    )
    return figure(fig, "heatmaps", cap)


def _examples(ex: pd.DataFrame, movements: pd.DataFrame, sessions: pd.DataFrame) -> str:
    """Lever and the top units' dF/F over one example stretch per region (expert session)."""
    picks = []
    for region, g in ex.groupby("region"):
        for stage in ("expert", "naive"):
            gs = g[g["stage"] == stage]
            if len(gs):
                # the session whose best unit is most movement-related: first listed
                key = gs[["mouse", "session"]].drop_duplicates().iloc[0]
                picks.append((region, stage, key["mouse"], int(key["session"])))
                break
    if not picks:
        return ""
    units = "" if sessions.empty or "lever_units" not in sessions else sessions["lever_units"]
    unit = str(units.dropna().iloc[0]) if len(units) else ""
    fig, axes = plt.subplots(
        2, len(picks), figsize=(3.6 * len(picks), 4.4), squeeze=False, sharex="col"
    )
    for j, (region, stage, mouse, ses) in enumerate(picks):
        g = ex[(ex["mouse"] == mouse) & (ex["session"] == ses)]
        lever = g[g["kind"] == "lever"]
        t0 = float(g["time_s"].min())
        ax = axes[0, j]
        ax.plot(lever["time_s"] - t0, lever["value"], color="k", lw=0.8)
        ax.set_title(f"{region}, {mouse} session {ses} ({stage})", fontsize=8)
        if j == 0:
            ax.set_ylabel(f"lever position ({unit})" if unit else "lever position")
        mv = movements[(movements["mouse"] == mouse) & (movements["session"] == ses)]
        t1 = float(g["time_s"].max())
        mv = mv[(mv["offset"] > t0) & (mv["onset"] < t1)]
        ax2 = axes[1, j]
        for a in (ax, ax2):
            for _, m in mv.iterrows():
                a.axvspan(max(m["onset"], t0) - t0, min(m["offset"], t1) - t0, color="0.9", lw=0)
        offset = 0.0
        for k, (name, u) in enumerate(g[g["kind"] == "unit"].groupby("series", sort=False)):
            v = u["value"].to_numpy(float)
            span = np.nanpercentile(v, 99) - np.nanpercentile(v, 1) if np.isfinite(v).any() else 1
            ax2.plot(u["time_s"] - t0, v + offset, lw=0.7, color=plt.cm.tab10(k), label=name)
            ax2.text(0, offset, name, fontsize=6, va="bottom")
            offset += 1.1 * max(span, 1e-3)
        ax2.set_xlabel("time (s)")
        if j == 0:
            ax2.set_ylabel("dF/F (stacked)")
    fig.tight_layout()
    cap = (
        "<b>Example activity under the lever.</b> Top: lever position over a stretch of one "
        "session per region (expert where available; the stretch with the most rewarded "
        "movements); bottom: dF/F of that session's most movement-related units (smallest "
        "p of the movement test, then largest movement-minus-quiescence contrast), offset "
        "vertically. Grey bands: movement bouts detected by the behaviour stage."
    )
    return figure(fig, "example_traces", cap)


def _rasters(rasters: pd.DataFrame, rois: pd.DataFrame, k: int = 3) -> str:
    """Single-trial dF/F of the top units per region (expert sessions; naive if none)."""
    picks = []
    ranked = rasters.drop_duplicates(["mouse", "session", "roi"]).merge(
        rois[["mouse", "session", "roi", "p_movement", "contrast"]],
        on=["mouse", "session", "roi"],
    )
    for region, g in ranked.groupby("region"):
        stage = "expert" if (g["stage"] == "expert").any() else "naive"
        g = g[g["stage"] == stage].sort_values(["p_movement", "contrast"], ascending=[True, False])
        for _, r in g.head(k).iterrows():
            picks.append((region, stage, r["mouse"], int(r["session"]), int(r["roi"])))
    if not picks:
        return ""
    regions = sorted({p[0] for p in picks})
    fig, axes = plt.subplots(
        len(regions),
        k,
        figsize=(2.8 * k + 0.8, 2.5 * len(regions) + 0.3),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    vmax = 0.0
    for _, _, mouse, ses, roi in picks:
        v = rasters[
            (rasters["mouse"] == mouse) & (rasters["session"] == ses) & (rasters["roi"] == roi)
        ]["dff"].to_numpy(float)
        if np.isfinite(v).any():
            vmax = max(vmax, float(np.nanpercentile(np.abs(v), 99)))
    vmax = vmax or 1.0
    im = None
    col = dict.fromkeys(regions, 0)
    for region, stage, mouse, ses, roi in picks:
        r = regions.index(region)
        ax = axes[r, col[region]]
        col[region] += 1
        g = rasters[
            (rasters["mouse"] == mouse) & (rasters["session"] == ses) & (rasters["roi"] == roi)
        ]
        mat = g.set_index(["trial", "time_s"])["dff"].unstack("time_s")
        t = mat.columns.to_numpy(float)
        ax.set_axis_on()
        im = ax.imshow(
            mat.to_numpy(float),
            aspect="auto",
            cmap="RdBu_r",
            vmin=-vmax,
            vmax=vmax,
            extent=(t[0], t[-1], len(mat), 0),
            interpolation="nearest",
        )
        ax.axvline(0, color="k", lw=0.6, ls="--")
        name = str(g["roi_name"].iloc[0])
        ax.set_title(f"{region} {mouse} s{ses} ({stage})\n{name}", fontsize=7)
        ax.set_xlabel("time from movement onset (s)", fontsize=7)
        ax.set_ylabel("rewarded trial", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="dF/F − pre-movement baseline")
    cap = (
        f"<b>Single trials of the most movement-related units.</b> For each region, the {k} "
        "units with the smallest movement-test p (then largest contrast) among expert "
        "sessions (naive when a region has no expert session): every rewarded trial's "
        "dF/F around movement onset, baseline-subtracted (same baseline as the heatmaps), one "
        "row per trial in session order."
    )
    return figure(fig, "rasters", cap)


def _learning_table(learn: pd.DataFrame) -> str:
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
    return (
        "<h3>Naive vs expert per region</h3><p class='note'>One row per region and metric. "
        "<i>estimate</i>: mean over mice of each mouse's expert − naive change (naive/expert: "
        "each mouse's first and last sessions, see above; mice are the replicates); primary "
        "test: t-test of the per-mouse changes with the variance pooled over the regions of "
        "the experiment (for the population onset latency, each region's variance adds its "
        "mean trial-bootstrap sampling variance, a random-effects model), CI from the "
        "same model; <i>p_adjusted</i> / <i>reject</i>: Holm over "
        "regions — <i>reject</i> is this mouse-level decision and nothing else. Secondary, "
        "deciding nothing: <i>p_sign_flip</i> (exact sign-flip over mice; its smallest "
        "two-sided p is 2/2<sup>n</sup>), <i>p_boot</i> (hierarchical bootstrap, mice then "
        "sessions), <i>slope/p_slope</i> (mixed model with a random slope per mouse; no p when "
        "it did not converge).</p>" + table_html(learn[cols], max_rows=60)
    )


def render(results_dir: Path, fig_dir: Path) -> str:
    d = Path(results_dir) / "encoding"
    if not (d / "sessions.parquet").is_file():
        return missing("encoding")
    s = read(results_dir, "encoding", "sessions")
    if s.empty:
        return "<p class='note'>No imaging sessions were analysed.</p>"
    rois = read(results_dir, "encoding", "rois")
    peri = read(results_dir, "encoding", "peri")
    learn = read(results_dir, "encoding", "learning")
    regions = read(results_dir, "encoding", "regions")
    n_mice = s.groupby("region")["mouse"].nunique()
    parts = [
        f"<p>{s['mouse'].nunique()} mice ({', '.join(f'{r}: {n}' for r, n in n_mice.items())}),"
        f" {len(s)} imaging sessions, {len(rois)} unit-sessions ({_units_text(rois)}). In axon "
        "imaging the unit is the axon (boutons merged by correlation, one axon counted "
        "once); in M1 it is the soma. A unit is movement-related when its mean dF/F during "
        "movement exceeds that during quiescence beyond a null that shuffles movement and "
        "quiescence epochs (exact empirical p-values, at least the configured number of "
        "calcium events). Mice are the unit of replication in every test.</p>",
        stage_definitions(s),
    ]
    parts.append("<h3>Fraction of movement-related units over learning</h3>")
    parts.append(
        _per_region(
            s,
            "frac_movement",
            "fraction movement-related",
            "fraction_movement",
            "<b>Fraction of movement-related units per session.</b> Points: individual mice "
            "(joined only between consecutive recorded sessions); line and error bars: mean "
            "across mice and its 95 % t-interval (mice as replicates; no interval where fewer "
            "than two mice were recorded). The naive-vs-expert test is in the table below.",
        )
    )
    parts.append(
        _per_region(
            s,
            "frac_quiescence",
            "fraction quiescence-related",
            "fraction_quiescence",
            "<b>Fraction of quiescence-related units</b> (activity higher in quiescence than in "
            "movement beyond the same null), per session; as above.",
        )
    )
    parts.append("<h3>Peri-movement activity, naive vs expert</h3>")
    parts.append(_heatmaps(rois, peri))
    ex = read(results_dir, "encoding", "examples")
    movements = read(results_dir, "behavior", "movements")
    if len(ex) and len(movements):
        parts.append("<h3>Example activity and single trials</h3>")
        parts.append(_examples(ex, movements, s))
    ras = read(results_dir, "encoding", "rasters")
    if len(ras):
        parts.append(_rasters(ras, rois))
    parts.append("<h3>Timing relative to movement onset (negative = leads the movement)</h3>")
    parts.append(
        _per_region(
            s,
            "median_onset_latency",
            "onset latency (s)",
            "onset_latency",
            "<b>Onset latency</b> of the movement-related units' trial-averaged response "
            "(median over the session's movement-related units; the indicator's decay is "
            "undone before the onset is measured), per session; negative values lead the "
            "movement. Points: mice; mean and 95 % t-interval across mice.",
            hline=0.0,
        )
    )
    parts.append(
        _per_region(
            s,
            "median_reliability",
            "trial-to-trial reliability (r)",
            "reliability",
            "<b>Trial-to-trial reliability</b> of movement-aligned activity (median over the "
            "session's movement-related units of the mean correlation between single trials); "
            "points: mice; mean and 95 % t-interval across mice.",
        )
    )
    dec = s[s["n_rois_decoded"] > 0]
    parts.append("<h3>Decoding of the lever trajectory (unit count matched)</h3>")
    if len(dec):
        n = int(dec["n_rois_decoded"].iloc[0])
        parts.append(
            _per_region(
                dec,
                "decode_r2",
                "cross-validated R²",
                "decoding",
                f"<b>Lever decoding.</b> Cross-validated R² (folds over trials) of the lever "
                f"trajectory decoded by ridge regression from {n} randomly drawn units (the "
                "same number in every session and region, averaged over draws). Points: mice; "
                "mean and 95 % t-interval across mice.",
            )
        )
    not_decoded = s[s["n_rois_decoded"] <= 0]
    if len(not_decoded):
        cols = [c for c in ("region", "mouse", "session", "n_rois", "decode_note") if c in s]
        parts.append(
            f"<p class='note'>{len(not_decoded)} of {len(s)} sessions were not decoded "
            f"({', '.join(f'{r}: {n}' for r, n in not_decoded.groupby('region').size().items())})"
            ", so their mice are missing from the decoding panels:</p>"
            + table_html(not_decoded[cols], max_rows=20)
        )
    if not learn.empty:
        parts.append(_learning_table(learn))
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
            + table_html(regions[cols], max_rows=60)
        )
    return "".join(parts)
