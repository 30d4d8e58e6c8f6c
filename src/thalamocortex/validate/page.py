"""The calibration page: tables and figures of ``thalamocortex validate``, stamped.

Rebuilt from ``OUT/cohorts`` alone. Writes ``OUT/false_positive_rates.parquet``,
``OUT/power.parquet``, ``OUT/calibration.parquet`` (and ``calibration.md``),
``OUT/named_regions.parquet``, ``OUT/recovery.parquet``, ``OUT/figures/*.png`` and
``OUT/validation.html``.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from thalamocortex.pipeline.io import atomic_write  # noqa: E402
from thalamocortex.stats.synthetic import NULL_KINDS  # noqa: E402
from thalamocortex.validate.summary import (  # noqa: E402
    calibration_table,
    false_positive_rates,
    named_regions,
    power,
)

_CSS = """
body{font-family:system-ui,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
.note{color:#666;font-size:.9em}img{max-width:100%}pre{font-size:.75em;max-height:30em;
overflow:auto;background:#f7f7f7;padding:.5em}
"""


def _save(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return f"<img src='figures/{html.escape(path.name)}' alt='{html.escape(path.stem)}'/>"


def _fpr_figure(fpr: pd.DataFrame, alpha: float, path: Path) -> str:
    tests = sorted(fpr["test"].unique())
    combos = sorted({(lv, k) for lv, k in zip(fpr["level"], fpr["kind"], strict=True)})
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(tests) + 1.5))
    offs = np.linspace(-0.3, 0.3, max(len(combos), 1))
    for j, (lv, k) in enumerate(combos):
        sub = fpr[(fpr["level"] == lv) & (fpr["kind"] == k)].set_index("test")
        y = [tests.index(t) + offs[j] for t in sub.index]
        ax.errorbar(
            sub["rate"],
            y,
            xerr=[sub["rate"] - sub["ci_low"], sub["ci_high"] - sub["rate"]],
            fmt="o" if lv == "pipeline" else "s",
            ms=4,
            capsize=2,
            label=f"{lv}, {k} null",
        )
    ax.axvline(alpha, color="k", lw=0.8)
    ax.axvline(0.07, color="r", lw=0.8, ls="--")
    ax.set_yticks(range(len(tests)))
    ax.set_yticklabels(tests, fontsize=8)
    ax.set_xlabel("false-positive rate (95 % Clopper-Pearson CI); black: alpha, red: 0.07")
    ax.legend(fontsize=7, loc="lower right")
    ax.invert_yaxis()
    return _save(fig, path)


def _p_figure(dec: pd.DataFrame, path: Path) -> str:
    d = dec[(dec["subject"] != "any") & dec["kind"].isin(NULL_KINDS) & dec["p"].notna()]
    tests = sorted(d["test"].unique())
    if not tests:
        return ""
    n = len(tests)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False)
    for ax, t in zip(axes.flat, tests, strict=False):
        for (lv, k), g in d[d["test"] == t].groupby(["level", "kind"]):
            p = np.sort(g["p"].to_numpy())
            ax.plot((np.arange(1, len(p) + 1) - 0.5) / len(p), p, lw=1.2, label=f"{lv}, {k}")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_title(t, fontsize=8)
        ax.set_xlabel("uniform quantile", fontsize=7)
        ax.set_ylabel("unadjusted p", fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


def _power_figure(pw: pd.DataFrame, path: Path) -> str:
    if pw.empty:
        return ""
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(pw) + 1.2))
    labels = [
        f"{t} ({lv}, {k})" for t, lv, k in zip(pw["test"], pw["level"], pw["kind"], strict=True)
    ]
    y = np.arange(len(pw))
    ax.errorbar(
        pw["power"],
        y,
        xerr=[pw["power"] - pw["ci_low"], pw["ci_high"] - pw["power"]],
        fmt="o",
        capsize=2,
    )
    ax.axvline(0.8, color="r", ls="--", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("power (share of effect cohorts finding the effect; red: 0.8)")
    ax.invert_yaxis()
    return _save(fig, path)


def _recovery_figure(rec: pd.DataFrame, path: Path) -> str:
    if rec.empty:
        return ""
    effects = sorted(rec["effect"].unique())
    fig, axes = plt.subplots(1, len(effects), figsize=(3.2 * len(effects), 3.0), squeeze=False)
    for ax, e in zip(axes[0], effects, strict=True):
        for kind, g in rec[rec["effect"] == e].groupby("kind"):
            ax.plot(g["true_change"], g["estimate"], ".", ms=3, alpha=0.6, label=kind)
        g = rec[rec["effect"] == e]
        ok = np.isfinite(g["true_change"]) & np.isfinite(g["estimate"])
        r = np.corrcoef(g["true_change"][ok], g["estimate"][ok])[0, 1] if ok.sum() > 2 else np.nan
        ax.set_title(f"{e}\n(r = {r:.2f}, {ok.sum()} mice)", fontsize=8)
        ax.set_xlabel("simulated change of the mouse", fontsize=7)
        ax.set_ylabel(f"estimated ({g['metric'].iloc[0]})", fontsize=7)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, float_format=lambda x: f"{x:.3g}")


def write_page(out: str | Path, stats, plan=None) -> Path:
    """Summarise ``out/cohorts`` into tables, figures and ``out/validation.html``."""
    from thalamocortex.validate.run import load_cohorts

    out = Path(out)
    dec, rec = load_cohorts(out)
    alpha = stats.alpha
    fpr = false_positive_rates(dec, alpha) if len(dec) else pd.DataFrame()
    pw = power(dec) if len(dec) else pd.DataFrame()
    cal = calibration_table(fpr, pw) if len(fpr) else pd.DataFrame()
    named = named_regions(dec) if len(dec) else pd.DataFrame()
    for name, df in (
        ("false_positive_rates", fpr),
        ("power", pw),
        ("calibration", cal),
        ("named_regions", named),
        ("recovery", rec),
    ):
        atomic_write(out / f"{name}.parquet", partial(df.to_parquet, index=False))
    if len(cal):
        md = "| test | level | null kind | false-positive rate [95 % CI] | n cohorts | passes | "
        md += "power at the design |\n|---|---|---|---|---|---|---|\n"
        md += "".join(
            f"| {r.test} | {r.level} | {r.kind} | {r.false_positive_rate} | {r.n_cohorts} | "
            f"{'yes' if r.passes else 'no'} | {r.power} |\n"
            for r in cal.itertuples()
        )
        atomic_write(out / "calibration.md", lambda p: p.write_text(md))
    meta = out / "parameters.json"
    params = json.loads(meta.read_text()) if meta.is_file() else {}
    fig_dir = out / "figures"
    parts = [
        f"<h1>Calibration of the primary tests</h1><p class='note'>thalamocortex "
        f"{html.escape(str(params.get('package_version', '')))}; page built "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; cohorts in "
        f"{html.escape(str(out / 'cohorts'))}.</p>",
        "<p>False-positive rate: share of null cohorts in which a claim's primary test (its whole "
        "family, e.g. any input region) rejected at alpha "
        f"{alpha:g}; 95 % Clopper-Pearson interval. <b>passes</b>: the interval contains alpha "
        "and the rate is at most 0.07. Null kinds: <i>zero</i> (no mouse changes) and "
        "<i>varied</i> (mice change around zero; a negative behavioural change runs "
        "backwards in time). Levels: <i>table</i> (synthetic tables the "
        "tests read, many cohorts) and <i>pipeline</i> (simulated raw data through every stage). "
        "Power: share of effect cohorts in which the claim found the simulated effect (right "
        "region and sign); kind effect@REGION: the input-learning effect moved from the motor "
        "thalamus to REGION (the comparison must name REGION).</p>",
    ]
    if len(cal):
        parts.append(_table(cal))
        parts.append(_fpr_figure(fpr, alpha, fig_dir / "false_positive_rates.png"))
        parts.append("<h2>p-values on null cohorts (uniform when calibrated)</h2>")
        parts.append(_p_figure(dec, fig_dir / "null_p_values.png"))
    else:
        parts.append("<p>No cohorts yet.</p>")
    if len(pw):
        parts.append("<h2>Power at the design</h2>" + _table(pw))
        parts.append(_power_figure(pw, fig_dir / "power.png"))
    if len(named):
        parts.append(
            "<h2>Which region the region comparison named</h2>"
            + _table(named.pivot_table(index=["level", "kind"], columns="named", values="share"))
        )
    if len(rec):
        parts.append("<h2>Ground-truth recovery (whole-pipeline cohorts)</h2>")
        parts.append(
            "<p class='note'>Each mouse's estimated change (expert − naive over its first / last "
            "sessions, or light-on − light-off) against the change the simulator gave it "
            "(ground_truth/mice.parquet; at learning progress 0 → 1, so the estimate is smaller "
            "by the progress already made in the first sessions).</p>"
        )
        parts.append(_recovery_figure(rec, fig_dir / "recovery.png"))
    parts.append(
        "<h2>Parameters</h2><pre>" + html.escape(json.dumps(params, indent=1)[:200000]) + "</pre>"
    )
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'><title>thalamocortex calibration"
        f"</title><style>{_CSS}</style></head><body>" + "".join(parts) + "</body></html>"
    )
    page = out / "validation.html"
    atomic_write(page, lambda p: p.write_text(doc))
    return page
