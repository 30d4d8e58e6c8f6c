"""Primary tests: one sentence per claim, the primary tests table, and the calibration link.

Built only from the ``stats`` stage's tables (results/stats/*.parquet) and, when present, the
output of ``thalamocortex validate`` (``validation/`` beside or inside the results folder).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import figure, missing, table_html
from thalamocortex.report.results import provenance
from thalamocortex.stats.primary import TEST_COLUMNS

TITLE = "Primary tests (mice as the unit)"

#: the primary tests' columns shown (the table's own layout, without its bookkeeping columns)
_COLUMNS = tuple(c for c in TEST_COLUMNS if c not in ("role", "family", "measure"))


def _calibration(results_dir: Path) -> str:
    """Link to the calibration page of ``thalamocortex validate``, if one is found."""
    candidates = [
        results_dir / "validation" / "validation.html",
        results_dir.parent / "validation" / "validation.html",
    ]
    page = next((p for p in candidates if p.is_file()), None)
    if page is None:
        return (
            "<p class='note'>No calibration run found beside these results. "
            "<code>thalamocortex validate --out VALIDATION_DIR</code> measures each primary "
            "test's false-positive rate on simulated null cohorts and its power; "
            "<code>docs/statistics.md</code> lists the rates measured for the default "
            "parameters.</p>"
        )
    note = ""
    meta = page.parent / "parameters.json"
    prov = results_dir / "stats" / "primary_tests.parquet.provenance.json"
    if meta.is_file() and prov.is_file():
        try:
            used = json.loads(prov.read_text()).get("parameters", {}).get("stats")
            calibrated = json.loads(meta.read_text()).get("analysis", {}).get("stats")
            if used is not None and calibrated is not None:
                note = (
                    " (calibrated with the same statistics parameters as these results)"
                    if used == calibrated
                    else " (<b>calibrated with other statistics parameters</b> than these results)"
                )
        except (OSError, ValueError):
            note = ""
    return (
        f"<p>Calibration of these tests (false-positive rates on null cohorts, power): "
        f"<a href='{html.escape(page.resolve().as_uri())}'>{html.escape(str(page))}</a>"
        f"{note}.</p>"
    )


def _forest(primary: pd.DataFrame, ci_level: str) -> str:
    """Estimates and CIs of the primary tests, one panel per claim (scales differ by claim)."""
    rows = primary[np.isfinite(primary["estimate"].to_numpy(np.float64))]
    if rows.empty:
        return ""
    claims = list(dict.fromkeys(rows["claim"]))
    heights = [max(1, (rows["claim"] == c).sum()) for c in claims]
    fig, axes = plt.subplots(
        len(claims),
        1,
        figsize=(6.4, 0.9 + 0.32 * sum(heights) + 0.35 * len(claims)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, claim in zip(axes[:, 0], claims, strict=True):
        g = rows[rows["claim"] == claim].reset_index(drop=True)
        y = np.arange(len(g))[::-1]
        est = g["estimate"].to_numpy(np.float64)
        lo = np.where(np.isfinite(g["ci_low"]), est - g["ci_low"], 0.0)
        hi = np.where(np.isfinite(g["ci_high"]), g["ci_high"] - est, 0.0)
        ax.errorbar(est, y, xerr=[lo, hi], fmt="none", ecolor="0.3", capsize=2, lw=1)
        rej = g["reject"].to_numpy(bool)
        ax.plot(est[rej], y[rej], "o", color="k", ms=5)
        ax.plot(est[~rej], y[~rej], "o", mfc="white", mec="k", ms=5)
        ax.axvline(0, color="0.6", lw=0.8, ls="--")
        ax.set_yticks(y)
        ax.set_yticklabels([f"{sub} (n={n})" for sub, n in zip(g["subject"], g["n_mice"])])
        ax.tick_params(labelsize=8)
        ax.set_title(claim, fontsize=9, loc="left")
    fig.tight_layout()
    n = int(primary["n_mice"].max()) if len(primary) else 0
    cap = (
        f"<b>Primary tests: estimate and {html.escape(ci_level)} CI per claim.</b> One panel "
        "per claim (units differ: change of a fraction, seconds, log odds ratio, similarity); "
        "one row per family member (an input region, a measure) with its number of mice "
        f"(up to {n}). Filled: rejected at the claim's family-wise level (the test and "
        "correction of each row are in the table below); open: not rejected. Dashed: no "
        "change."
    )
    return figure(fig, "primary_tests", cap)


def _ci_level(results_dir: Path) -> str:
    """The CI level the stats stage used (its provenance), as text."""
    try:
        level = provenance(results_dir, "stats", "primary_tests")["parameters"]["stats"]
        return f"{100 * float(level['ci_level']):g} %"
    except (KeyError, TypeError, ValueError):
        return "95 %"


def render(results_dir: Path, fig_dir: Path) -> str:
    results_dir = Path(results_dir)
    d = results_dir / "stats"
    if not (d / "primary_tests.parquet").is_file():
        return missing("stats")
    primary = pd.read_parquet(d / "primary_tests.parquet")
    heads = (
        pd.read_parquet(d / "headlines.parquet")
        if (d / "headlines.parquet").is_file()
        else pd.DataFrame()
    )
    parts = [
        "<p class='note'>One declared primary test per claim. Each mouse is reduced to one "
        "number (its expert − naive change, its log odds ratio, its light-on − light-off "
        "difference) and those numbers are tested across mice; families (the input regions of "
        "one metric) are corrected together. Secondary analyses are in each stage's section and "
        "in <code>stats/tests.parquet</code>; they do not decide.</p>"
    ]
    if len(heads):
        items = "".join(f"<li>{html.escape(s)}</li>" for s in heads["sentence"])
        parts.append(f"<ul>{items}</ul>")
    if len(primary):
        parts.append(_forest(primary, _ci_level(results_dir)))
        cols = [c for c in _COLUMNS if c in primary.columns]
        parts.append(table_html(primary[cols], max_rows=80))
    else:
        parts.append("<p class='note'>No primary test could be computed on this dataset.</p>")
    parts.append(_calibration(results_dir))
    return "".join(parts)
