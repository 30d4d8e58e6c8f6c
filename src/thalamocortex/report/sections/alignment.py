"""Shared representations across mice: how much of each region's activity lies in a shared,
movement-relevant space, naive vs expert. Built only from results/alignment/*.parquet."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import figure, missing, region_color, table_html

TITLE = "Shared representations across mice"


def _figure(mice: pd.DataFrame, groups: pd.DataFrame) -> str:
    regions = sorted(mice["region"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, metric, label in (
        (axes[0], "shared_var", "held-out variance in shared space"),
        (axes[1], "lomo_r2", "held-out-mouse lever decoding R²"),
    ):
        for i, region in enumerate(regions):
            c = region_color(region, i)
            g = mice[mice["region"] == region]
            for _, gm in g.groupby("mouse"):
                gm = gm.set_index("stage").reindex(["naive", "expert"])
                ax.plot(
                    [3 * i, 3 * i + 1], gm[metric].to_numpy(), "-o", color=c, alpha=0.5, ms=3, lw=1
                )
            means = g.groupby("stage")[metric].mean().reindex(["naive", "expert"])
            ax.plot([3 * i, 3 * i + 1], means.to_numpy(), "_", color=c, ms=18, mew=3)
            if metric == "shared_var":
                null = groups[groups["region"] == region].set_index("stage")["shared_var_null"]
                null = null.reindex(["naive", "expert"]).to_numpy()
                ax.plot(
                    [3 * i, 3 * i + 1],
                    null,
                    "x",
                    color="k",
                    ms=6,
                    label="perm. null" if i == 0 else None,
                )
        ax.set_xticks([3 * i + 0.5 for i in range(len(regions))], regions)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(label)
        ax.set_title(f"{label}: naive (left) → expert (right)", fontsize=9)
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    n = mice.groupby(["region", "stage"])["mouse"].nunique()
    counts = ", ".join(
        f"{html.escape(str(r))} {st} {k}" for (r, st), k in n.items() if st in ("naive", "expert")
    )
    n_perm = groups.get("n_permutations")
    perm = f"{int(n_perm.iloc[0])} " if n_perm is not None and n_perm.notna().all() else ""
    cap = (
        "<b>Shared, movement-relevant representation per region, naive → expert.</b> "
        "Left: fraction of held-out trials' activity variance explained by the shared latents "
        "(cross-validated over trials; × its mean under the null). Right: lever decoding R² "
        "of a mouse left out of the fit (only its encoder fitted, on its training trials). "
        "Lines: mice (different ROIs in every mouse); bars: means over mice. "
        f"Mice per region and stage: {counts}. The shared-structure test (table, p_shared) "
        f"compares the mean held-out decoding R² with {perm}permutations of the lever across "
        "trials within every mouse; learning changes use the exact sign-flip over mice."
    )
    return figure(fig, "sharing", cap)


def render(results_dir: Path, fig_dir: Path) -> str:
    d = Path(results_dir) / "alignment"
    if not (d / "groups.parquet").is_file():
        return missing("alignment")
    groups = pd.read_parquet(d / "groups.parquet")
    mice = pd.read_parquet(d / "mice.parquet")
    if groups.empty or mice.empty:
        return (
            "<p class='note'>No region had enough mice with usable naive or expert trials to "
            "align.</p>"
        )
    learn = pd.read_parquet(d / "learning.parquet")
    regions = pd.read_parquet(d / "regions.parquet")
    parts = [
        "<p>Per region and learning stage, the mice's activity (different ROIs in every mouse) "
        "is mapped into one behaviour-supervised shared space (SharedRepresentation, "
        "docs/alignment.md): per-mouse encoders of lagged activity whose latents predict the "
        "lever over a window around each bin through a basis common to all mice. "
        "<b>shared variance</b>: fraction of held-out trials' activity variance explained by "
        "the shared latents (cross-validated over trials; × marks its mean under the null). "
        "<b>decode_r2</b>: held-out-trial lever decoding R² through the shared space; "
        "p_shared tests its mean over mice against a null that repeats the whole procedure "
        "with the lever permuted across trials within every mouse. "
        "<b>held-out-mouse R²</b>: a mouse left out of the fit gets only its encoder "
        "(from its training trials) and its lever "
        "is decoded on test trials with the decoder of the other mice. Mice are the "
        "replicates.</p>",
        _figure(mice, groups),
    ]
    cols = [
        c
        for c in (
            "region",
            "stage",
            "n_mice",
            "decode_r2",
            "decode_r2_null",
            "p_shared",
            "shared_var",
            "shared_var_null",
            "private_var",
            "lomo_r2",
            "n_shared",
            "n_shared_cv",
        )
        if c in groups
    ]
    parts.append("<h3>Per region and stage</h3>")
    parts.append(table_html(groups[cols]))
    if not learn.empty:
        n = int(learn["n_mice"].min())
        parts.append(
            "<h3>Change with learning (expert − naive, per mouse)</h3><p class='note'>p_perm: "
            f"exact sign-flip over mice; with {n} mice the smallest two-sided p is "
            f"{2 / 2**n:.3g}.</p>"
        )
        parts.append(table_html(learn))
    if not regions.empty:
        parts.append("<h3>Which region's sharing changes most</h3>")
        parts.append(table_html(regions))
    if np.isfinite(groups["p_shared"]).any() and (groups["p_shared"] > 0.05).all():
        parts.append(
            "<p class='note'>No region x stage decodes the lever through the shared space "
            "better than its permutation null (p_shared > 0.05 everywhere).</p>"
        )
    return "".join(parts)
