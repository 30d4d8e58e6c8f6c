"""Primary tests: one sentence per claim, the primary tests table, and the calibration link.

Built only from the ``stats`` stage's tables (results/stats/*.parquet) and, when present, the
output of ``thalamocortex validate`` (``validation/`` beside or inside the results folder).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from thalamocortex.report.figures import missing, table_html

TITLE = "Primary tests (mice as the unit)"

_COLUMNS = (
    "claim",
    "subject",
    "estimate",
    "ci_low",
    "ci_high",
    "n_mice",
    "test",
    "statistic",
    "df",
    "p",
    "p_adjusted",
    "correction",
    "reject",
)


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
        cols = [c for c in _COLUMNS if c in primary.columns]
        parts.append(table_html(primary[cols], max_rows=80))
    else:
        parts.append("<p class='note'>No primary test could be computed on this dataset.</p>")
    parts.append(_calibration(results_dir))
    return "".join(parts)
