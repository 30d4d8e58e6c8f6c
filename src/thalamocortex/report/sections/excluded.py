"""Sessions excluded or skipped by the run, and why (``results/dataset/excluded.parquet``).

The pipeline finishes every healthy session and records each session a stage could not use:
``kind`` is ``error`` (bad data: the session is left out of that stage and its dependants) or
``skipped`` (nothing to do, e.g. an imaging session without a lever in the encoding stage).
The section is left out when nothing was excluded.
"""

from __future__ import annotations

from pathlib import Path

from thalamocortex.report.figures import table_html
from thalamocortex.report.results import read

TITLE = "Sessions excluded"


def render(results_dir: Path, fig_dir: Path) -> str:
    ex = read(results_dir, "dataset", "excluded")
    if ex.empty:
        return ""
    kinds = ex["kind"].value_counts() if "kind" in ex else None
    n_err = int(kinds.get("error", 0)) if kinds is not None else len(ex)
    n_skip = int(kinds.get("skipped", 0)) if kinds is not None else 0
    n_ses = ex["session_id"].nunique() if "session_id" in ex else len(ex)
    cols = [c for c in ("session_id", "stage", "kind", "reason") if c in ex.columns]
    order = [c for c in ("kind", "session_id", "stage") if c in ex.columns]
    return (
        f"<p>{n_ses} sessions were not used by at least one stage: {n_err} exclusions for bad "
        f"data (left out of that stage and of the stages depending on it; the other sessions "
        f"were analysed) and {n_skip} skips (nothing for the stage to do). Every figure and "
        "test below is computed without them.</p>"
        + table_html(
            ex.sort_values(order)[cols] if order else ex[cols],
            max_rows=100,
            caption="One row per session and stage (<code>dataset/excluded.parquet</code>).",
        )
    )
