"""Figure helpers shared by report sections (matplotlib, Agg backend)."""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def img_tag(fig, alt: str = "") -> str:
    """Embed a matplotlib figure as a PNG ``<img>`` tag and close the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>'


def table_html(df: pd.DataFrame, max_rows: int = 40, floatfmt: str = "{:.3g}") -> str:
    """A compact HTML table (first ``max_rows`` rows)."""
    shown = df.head(max_rows)
    out = shown.to_html(
        index=False, border=0, classes="tbl", float_format=lambda x: floatfmt.format(x)
    )
    if len(df) > max_rows:
        out += f"<p class='note'>… {len(df) - max_rows} more rows in the table file.</p>"
    return out


def missing(stage: str) -> str:
    return f"<p class='note'>No results for stage <code>{html.escape(stage)}</code>.</p>"
