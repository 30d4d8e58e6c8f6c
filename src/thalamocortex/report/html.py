"""The HTML report: one section per analysis, each rebuilt from the results tables alone."""

from __future__ import annotations

import html
import importlib
import traceback
from datetime import UTC, datetime
from pathlib import Path

from thalamocortex import __version__
from thalamocortex.pipeline.io import atomic_write

#: Report sections in order; each module has TITLE and render(results_dir, fig_dir) -> str.
SECTIONS: list[str] = [
    "thalamocortex.report.sections.dataset",
    "thalamocortex.report.sections.preprocess",
    "thalamocortex.report.sections.behavior",
    "thalamocortex.report.sections.encoding",
    "thalamocortex.report.sections.opto",
    "thalamocortex.report.sections.inactivation",
    "thalamocortex.report.sections.alignment",
    "thalamocortex.report.sections.stats",
]

_CSS = """
body{font-family:system-ui,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table.tbl{border-collapse:collapse;font-size:.85em;margin:.5em 0}
table.tbl td,table.tbl th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
.note{color:#666;font-size:.9em}.err{color:#a00;white-space:pre-wrap;font-size:.8em}
img{max-width:100%}nav a{margin-right:1em}
"""


def build_report(results_dir: str | Path, out: str | Path | None = None, title: str = "") -> Path:
    """Write ``report.html`` for a results folder and return its path.

    A section that fails to render shows its error instead of aborting the whole report.
    """
    results_dir = Path(results_dir)
    out = Path(out) if out else results_dir / "report.html"
    fig_dir = out.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    parts, nav = [], []
    for i, modname in enumerate(SECTIONS):
        mod = importlib.import_module(modname)
        anchor = f"s{i}"
        nav.append(f'<a href="#{anchor}">{html.escape(mod.TITLE)}</a>')
        try:
            body = mod.render(results_dir, fig_dir)
        except FileNotFoundError as err:
            body = f"<p class='note'>Not available: {html.escape(str(err))}</p>"
        except Exception:  # a broken section must not hide the others
            body = f"<pre class='err'>{html.escape(traceback.format_exc())}</pre>"
        parts.append(f'<section id="{anchor}"><h2>{html.escape(mod.TITLE)}</h2>{body}</section>')
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    heading = "thalamocortex report" + (f" — {html.escape(title)}" if title else "")
    doc = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{heading}</title>"
        f"<style>{_CSS}</style></head><body><h1>{heading}</h1>"
        f"<p class='note'>thalamocortex {__version__} · {stamp} · results: "
        f"{html.escape(str(results_dir.resolve()))}</p><nav>{''.join(nav)}</nav>"
        + "".join(parts)
        + "</body></html>"
    )
    atomic_write(out, lambda p: p.write_text(doc))
    return out
