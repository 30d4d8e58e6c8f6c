"""Preprocessing: sources, blanked artefact frames, boutons -> axons, motion, tracking."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from thalamocortex.report.figures import img_tag, missing, table_html

TITLE = "Preprocessing: ROIs, artefacts, boutons -> axons, tracking"


def render(results_dir: Path, fig_dir: Path) -> str:
    out = Path(results_dir) / "preprocess"
    path = out / "sessions.parquet"
    if not path.is_file():
        return missing("preprocess")
    s = pd.read_parquet(path)
    parts = []
    src = s.groupby("source").size().rename("sessions").reset_index()
    parts.append(
        f"<p>{len(s)} sessions; {int(s['n_blanked'].sum())} photostimulation artefact frames "
        "blanked (NaN) before any baseline or analysis.</p>" + table_html(src)
    )
    cols = [
        c
        for c in ("mouse", "session", "source", "n_rois", "n_frames", "n_blanked", "n_boutons")
        if c in s.columns
    ]
    raw = s[s["source"] != "nwb"] if "source" in s else s.iloc[:0]
    if len(raw):
        parts.append(
            "<p>Sessions extracted from raw data (ROIs found, frames, blanked frames):</p>"
            + table_html(raw[cols].head(40))
        )
    if (s["n_boutons"] > 0).any():
        b = s[s["n_boutons"] > 0]
        fig, ax = plt.subplots(1, 2, figsize=(9, 3))
        ax[0].scatter(b["n_boutons"], b["n_axons"], s=14)
        lim = [0, max(1, int(b["n_boutons"].max()) + 1)]
        ax[0].plot(lim, lim, "k:", lw=0.8)
        ax[0].set_xlabel("boutons per session")
        ax[0].set_ylabel("axons after merging")
        per = b.groupby("session")[["n_boutons", "n_axons"]].sum()
        ax[1].plot(per.index, per["n_boutons"], "o-", label="boutons")
        ax[1].plot(per.index, per["n_axons"], "s-", label="axons")
        ax[1].set_xlabel("session")
        ax[1].legend(frameon=False, fontsize=8)
        fig.tight_layout()
        tot = b[["n_boutons", "n_axons"]].sum()
        parts.append(
            f"<p>Boutons merged into axons: {int(tot['n_boutons'])} boutons -> "
            f"{int(tot['n_axons'])} axons ({tot['n_boutons'] / max(tot['n_axons'], 1):.2f} "
            "boutons per axon).</p>" + img_tag(fig, "boutons before and after merging")
        )
    mpath = out / "motion.parquet"
    if mpath.is_file():
        m = pd.read_parquet(mpath)
        fig, ax = plt.subplots(figsize=(9, 2.5))
        for (mouse, ses), g in list(m.groupby(["mouse", "session"]))[:6]:
            ax.plot(g["frame"], np.hypot(g["dy"], g["dx"]), lw=0.7, label=f"{mouse} s{ses}")
        ax.set_xlabel("frame")
        ax.set_ylabel("|shift| (px)")
        ax.legend(frameon=False, fontsize=7, ncol=3)
        fig.tight_layout()
        parts.append(img_tag(fig, "registration shifts"))
    tpath = out / "tracking.parquet"
    if tpath.is_file():
        t = pd.read_parquet(tpath)
        if len(t):
            found = t[t["roi"] >= 0]
            n_ses = found.groupby(["mouse", "cell"])["session"].nunique().rename("days")
            total = t.groupby("mouse")["session"].nunique()
            rows = []
            for mouse, days in n_ses.groupby(level=0):
                multi = found[found["mouse"] == mouse]
                rows.append(
                    {
                        "mouse": mouse,
                        "sessions": int(total[mouse]),
                        "cells": int(len(days)),
                        "in_every_session": int((days == total[mouse]).sum()),
                        "in_one_session_only": int((days == 1).sum()),
                        "median_match_probability": float(
                            multi.loc[
                                multi["cell"].isin(days[days > 1].index.get_level_values(1)),
                                "probability",
                            ].median()
                        ),
                    }
                )
            parts.append(
                "<p>Cross-session tracking (cells per mouse; the probability is each ROI's mean "
                "same-cell probability to its cell's other sessions):</p>"
                + table_html(pd.DataFrame(rows))
            )
    return "".join(parts)
