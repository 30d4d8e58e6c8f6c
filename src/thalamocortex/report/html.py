"""The HTML report: one section per analysis, each rebuilt from the results tables alone.

``results/report.html`` references its figures in ``results/figures/`` (PNG, with an SVG copy
of each for papers and slides). Sections are modules with ``TITLE`` and
``render(results_dir, fig_dir) -> str``; a section that returns an empty string is left out
(e.g. the ground-truth validation on a dataset without ``ground_truth/``), and a section whose
module is not installed is skipped, so a section can be registered here before it exists.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import traceback
from datetime import UTC, datetime
from pathlib import Path

from thalamocortex import __version__
from thalamocortex.pipeline.io import atomic_write

#: Report sections in order; each module has TITLE and render(results_dir, fig_dir) -> str.
SECTIONS: list[str] = [
    "thalamocortex.report.sections.dataset",
    "thalamocortex.report.sections.excluded",
    "thalamocortex.report.sections.preprocess",
    "thalamocortex.report.sections.behavior",
    "thalamocortex.report.sections.encoding",
    "thalamocortex.report.sections.opto",
    "thalamocortex.report.sections.inactivation",
    "thalamocortex.report.sections.alignment",
    "thalamocortex.report.sections.stats",
    "thalamocortex.report.sections.validation",
    "thalamocortex.report.sections.methods",
]

_CSS = """
body{font-family:system-ui,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;color:#222;
line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}
table.tbl{border-collapse:collapse;font-size:.85em;margin:.5em 0}
table.tbl td,table.tbl th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
table.tbl caption{text-align:left;font-size:.95em;color:#444;padding-bottom:.3em}
.note{color:#666;font-size:.9em}.err{color:#a00;white-space:pre-wrap;font-size:.8em}
figure{margin:1.2em 0}figure img{max-width:100%}
figcaption{font-size:.88em;color:#333;max-width:60em;margin-top:.3em}
img{max-width:100%}nav a{margin-right:1em}
.headline{background:#f6f8fa;border-left:3px solid #2471a3;padding:.4em .8em}
dl.defs dt{font-weight:600}dl.defs dd{margin:0 0 .4em 1.2em}
"""


def _render_section(mod, results_dir: Path, fig_dir: Path) -> str:
    from thalamocortex.report.figures import section_context

    prefix = mod.__name__.rsplit(".", 1)[-1]
    try:
        with section_context(fig_dir, prefix):
            return mod.render(results_dir, fig_dir)
    except FileNotFoundError as err:
        return f"<p class='note'>Not available: {html.escape(str(err))}</p>"
    except Exception:  # a broken section must not hide the others
        return f"<pre class='err'>{html.escape(traceback.format_exc())}</pre>"


def build_report(results_dir: str | Path, out: str | Path | None = None, title: str = "") -> Path:
    """Write ``report.html`` (and its ``figures/``) for a results folder; return its path.

    A section that fails to render shows its error instead of aborting the whole report.
    """
    import matplotlib.pyplot as plt

    from thalamocortex.report.figures import reset_names

    results_dir = Path(results_dir)
    out = Path(out) if out else results_dir / "report.html"
    fig_dir = out.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in list(fig_dir.glob("*.png")) + list(fig_dir.glob("*.svg")):
        old.unlink()  # figures of an earlier build would otherwise linger
    reset_names()
    parts, nav = [], []
    with plt.rc_context({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False}):
        for modname in SECTIONS:
            if importlib.util.find_spec(modname) is None:
                continue
            mod = importlib.import_module(modname)
            body = _render_section(mod, results_dir, fig_dir)
            if not body:
                continue
            anchor = modname.rsplit(".", 1)[-1]
            nav.append(f'<a href="#{anchor}">{html.escape(mod.TITLE)}</a>')
            parts.append(
                f'<section id="{anchor}"><h2>{html.escape(mod.TITLE)}</h2>{body}</section>'
            )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    heading = "thalamocortex report" + (f" — {html.escape(title)}" if title else "")
    doc = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{heading}</title>"
        f"<style>{_CSS}</style></head><body><h1>{heading}</h1>"
        f"<p class='note'>thalamocortex {__version__} · {stamp} · results: "
        f"{html.escape(str(results_dir.resolve()))} · every figure is also in "
        f"<code>{html.escape(fig_dir.name)}/</code> as PNG and SVG</p><nav>{''.join(nav)}</nav>"
        + "".join(parts)
        + "</body></html>"
    )
    atomic_write(out, lambda p: p.write_text(doc))
    return out
