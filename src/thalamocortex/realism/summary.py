"""Summaries of per-ROI statistics: median [10th-90th percentile] over ROIs."""

from __future__ import annotations

import numpy as np
import pandas as pd


def summarize(table: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Median and 10th/90th percentiles of each statistic over ROIs.

    Parameters
    ----------
    table : DataFrame
        One row per ROI (e.g. :func:`~thalamocortex.realism.traces.trace_statistics`).
    columns : sequence of str, optional
        Statistics to summarise (default: every numeric column).

    Returns
    -------
    DataFrame
        Index ``statistic``; columns ``median``, ``p10``, ``p90`` (linear-interpolation
        percentiles, NaN ROIs ignored) and ``n`` (ROIs with a finite value).
    """
    if columns is None:
        columns = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    rows = []
    for col in columns:
        if col not in table.columns:
            raise KeyError(f"summarize: no column {col!r}; has {list(table.columns)}")
        v = table[col].to_numpy(np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            med, p10, p90 = np.median(v), np.percentile(v, 10), np.percentile(v, 90)
        else:
            med = p10 = p90 = np.nan
        rows.append((col, med, p10, p90, int(v.size)))
    out = pd.DataFrame(rows, columns=["statistic", "median", "p10", "p90", "n"])
    return out.set_index("statistic")


def format_summary(summary: pd.DataFrame, digits: int = 2) -> pd.Series:
    """``median [p10-p90]`` strings, one per statistic (for tables printed side by side)."""
    f = f"{{:.{digits}f}}"
    return pd.Series(
        {
            k: (
                "n/a"
                if not np.isfinite(r["median"])
                else f"{f.format(r['median'])} [{f.format(r['p10'])}-{f.format(r['p90'])}]"
            )
            for k, r in summary.iterrows()
        },
        name="summary",
    )
