"""Figure and table helpers shared by report sections (matplotlib, Agg backend).

Every figure of the report is written to the report's ``figures/`` folder as PNG and SVG and
referenced from the HTML by a relative path; :func:`figure` adds a caption under it. Sections
call ``figure(fig, "name", "caption")``; :func:`img_tag` (no caption) is kept for sections
written before captions existed. The folder and the section prefix of the file names are set
by :func:`thalamocortex.report.html.build_report` through :func:`section_context`.
"""

from __future__ import annotations

import html
import re
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

#: Colours of the input regions (and M1), used by every section.
REGION_COLORS = {
    "MTh": "#c0392b",
    "M2": "#2471a3",
    "S1": "#229954",
    "cM1": "#7d3c98",
    "M1": "#555555",
}
#: Colours of the ROI kinds in field-of-view figures.
ROI_COLORS = {"soma": "#f1c40f", "bouton": "#00bcd4", "axon": "#e91e63"}

_state: dict = {"dir": None, "prefix": "fig", "names": set()}


def region_color(region: str, i: int = 0):
    return REGION_COLORS.get(region, plt.cm.tab10(i % 10))


@contextmanager
def section_context(fig_dir: str | Path, prefix: str):
    """Figures made inside go to ``fig_dir`` with file names starting with ``prefix``."""
    old = dict(_state)
    _state.update(dir=Path(fig_dir), prefix=prefix)
    Path(fig_dir).mkdir(parents=True, exist_ok=True)
    try:
        yield
    finally:
        _state.update(dir=old["dir"], prefix=old["prefix"])


def reset_names() -> None:
    _state["names"] = set()


def _file_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{_state['prefix']}_{name}").strip("_")
    base, k = stem, 2
    while stem in _state["names"]:
        stem = f"{base}_{k}"
        k += 1
    _state["names"].add(stem)
    return stem


def save_figure(fig, name: str) -> str:
    """Write ``fig`` as PNG and SVG into the current figure folder; return the PNG's relative
    path (``figures/<stem>.png``) and close the figure.

    Outside :func:`section_context` (a section rendered on its own) the PNG is returned inline
    as a ``data:`` URI instead.
    """
    d = _state["dir"]
    if d is None:
        import base64
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    stem = _file_stem(name)
    fig.savefig(d / f"{stem}.png", format="png", dpi=110, bbox_inches="tight")
    fig.set_layout_engine("none")  # laid out by the first save: do not solve it again
    fig.savefig(d / f"{stem}.svg", format="svg", bbox_inches="tight")
    plt.close(fig)
    return f"{d.name}/{stem}.png"


def figure(fig, name: str, caption: str, alt: str = "") -> str:
    """A captioned figure: ``<figure><img/><figcaption>caption</figcaption></figure>``.

    ``caption`` is HTML (escape data-derived text with :func:`html.escape`); it should say what
    is plotted, the n (mice, ROIs) and the test.
    """
    src = save_figure(fig, name)
    alt = alt or re.sub(r"<[^>]+>", "", caption)[:150]
    return (
        f'<figure><img alt="{html.escape(alt)}" src="{html.escape(src)}"/>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def img_tag(fig, alt: str = "") -> str:
    """A figure without caption (saved like :func:`figure`); prefer :func:`figure`."""
    src = save_figure(fig, alt or "figure")
    return f'<img alt="{html.escape(alt)}" src="{html.escape(src)}"/>'


def fmt_value(x, floatfmt: str = "{:.3g}") -> str:
    """A number for a table: infinities as ±∞, NaN as an em dash (undefined)."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if np.isnan(x):
            return "—"
        if np.isinf(x):
            return "+∞" if x > 0 else "−∞"
        return floatfmt.format(x)
    return html.escape(str(x))


def table_html(
    df: pd.DataFrame, max_rows: int = 40, floatfmt: str = "{:.3g}", caption: str = ""
) -> str:
    """A compact HTML table (first ``max_rows`` rows); ∞ and undefined values shown as such."""
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt_value(v, floatfmt)}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    cap = f"<caption>{caption}</caption>" if caption else ""
    out = f'<table class="tbl">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    if len(df) > max_rows:
        out += f"<p class='note'>… {len(df) - max_rows} more rows in the table file.</p>"
    return out


def missing(stage: str) -> str:
    return f"<p class='note'>No results for stage <code>{html.escape(stage)}</code>.</p>"


def integer_sessions(ax) -> None:
    """Session axes tick at whole sessions only."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and t-based confidence interval across mice (NaN CI with fewer than 2 mice)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, np.nan, np.nan, n
    h = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h, n


def plot_over_sessions(
    ax,
    table: pd.DataFrame,
    metric: str,
    group: str | None = "region",
    session_col: str = "session",
    jitter: float = 0.12,
) -> dict[str, int]:
    """Per-mouse points and the mean across mice with its 95 % CI, per group, over sessions.

    A mouse's points are joined only between consecutive sessions it was recorded in (no line
    across missing sessions); the group mean is drawn with a t-based 95 % CI across mice at every
    session with at least two mice, and its line is broken where a session has no mice. The y
    axis spans the mice's values (a CI reaching beyond is cut at the axis).

    Returns
    -------
    dict group -> number of mice plotted.
    """
    groups = [(None, table)] if group is None else list(table.groupby(group, sort=True))
    n_mice = {}
    seen: list[float] = []
    offsets = np.linspace(-jitter, jitter, max(len(groups), 1)) if len(groups) > 1 else [0.0]
    for i, (name, g) in enumerate(groups):
        c = region_color(str(name), i) if name is not None else "k"
        dx = offsets[i]
        g = g[np.isfinite(pd.to_numeric(g[metric], errors="coerce"))]
        n_mice[str(name)] = int(g["mouse"].nunique())
        for _, gm in g.groupby("mouse"):
            gm = gm.sort_values(session_col)
            x = gm[session_col].to_numpy(float)
            y = gm[metric].to_numpy(float)
            seen.extend(y)
            ax.scatter(x + dx, y, s=7, color=c, alpha=0.45, lw=0, zorder=2)
            # join only consecutive sessions of this mouse
            for k in range(len(x) - 1):
                if x[k + 1] - x[k] == 1:
                    ax.plot(x[k : k + 2] + dx, y[k : k + 2], color=c, alpha=0.2, lw=0.6)
        rows = []
        for s, gs in g.groupby(session_col):
            m, lo, hi, n = mean_ci(gs[metric])
            rows.append((s, m, lo, hi, n))
        if not rows:
            continue
        agg = pd.DataFrame(rows, columns=["s", "m", "lo", "hi", "n"]).sort_values("s")
        x = agg["s"].to_numpy(float)
        # break the mean line at sessions no mouse of the group was recorded in
        full = np.arange(x.min(), x.max() + 1)
        m = pd.Series(agg["m"].to_numpy(), index=x).reindex(full)
        label = f"{name} ({n_mice[str(name)]} mice)" if name is not None else None
        ax.plot(full + dx, m.to_numpy(), "-", color=c, lw=1.8, label=label, zorder=3)
        ax.plot(x + dx, agg["m"], "o", color=c, ms=3.5, zorder=4)
        ok = agg["n"] >= 2
        ax.errorbar(
            x[ok] + dx,
            agg["m"][ok],
            yerr=[agg["m"][ok] - agg["lo"][ok], agg["hi"][ok] - agg["m"][ok]],
            fmt="none",
            ecolor=c,
            elinewidth=1.0,
            capsize=2,
            zorder=3,
        )
    if seen:
        # the axis spans the mice, not the CIs: with 2-3 mice a t-interval can be many times
        # wider than the data (an interval running off the axis is cut there)
        lo, hi = float(np.min(seen)), float(np.max(seen))
        pad = 0.15 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
        ax.set_ylim(lo - pad, hi + pad)
    integer_sessions(ax)
    ax.set_xlabel("session")
    return n_mice
