"""Preprocessing: fields of view with ROI outlines, tracked cells across days, sources, blanked
artefact frames, boutons -> axons, motion, tracking.

Built from the ``preprocess`` stage's tables and its ``fov/<session>.npz`` arrays (label image
of the ROIs, their kinds, the axon of each bouton, the mean image).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from thalamocortex.report.figures import ROI_COLORS, figure, missing, table_html

TITLE = "Preprocessing: fields of view, artefacts, boutons -> axons, tracking"

_PLURAL = {"soma": "somata", "bouton": "boutons", "axon": "axons"}


def _load_fov(out: Path, mouse: str, session: int) -> dict | None:
    path = out / "fov" / f"sub-{mouse}_ses-{session}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels of a ROI that touch another label (its outline), bool image."""
    edge = np.zeros(labels.shape, bool)
    lab = labels
    edge[:-1] |= lab[:-1] != lab[1:]
    edge[1:] |= lab[1:] != lab[:-1]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    return edge & (lab > 0)


def _background(fov: dict) -> tuple[np.ndarray, str]:
    if "mean_image" in fov:
        img = fov["mean_image"].astype(float)
        lo, hi = np.nanpercentile(img, [1, 99.5])
        return np.clip((img - lo) / max(hi - lo, 1e-9), 0, 1), "mean image"
    return (fov["labels"] > 0).astype(float) * 0.25, "ROI footprints"


def _draw_fov(ax, fov: dict, colours: np.ndarray) -> None:
    """Background plus each ROI's outline in ``colours[label - 1]`` (RGBA rows)."""
    bg, _ = _background(fov)
    ax.imshow(bg, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    lab = fov["labels"]
    edge = _boundaries(lab)
    over = np.zeros((*lab.shape, 4))
    idx = lab[edge] - 1
    over[edge] = colours[idx]
    ax.imshow(over, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _kind_colours(fov: dict) -> np.ndarray:
    """Somata yellow; boutons in their axon's colour (shared by the boutons of one axon)."""
    types = fov["roi_type"]
    axon = fov["axon"]
    cols = np.array([to_rgba(ROI_COLORS.get(t, "w")) for t in types])
    b = (types == "bouton") & (axon >= 0)
    if b.any():
        cmap = plt.get_cmap("tab20")
        cols[b] = np.array([cmap(a % 20) for a in axon[b]])
    return cols


def _fov_figure(out: Path, sessions: pd.DataFrame, dataset: pd.DataFrame) -> str:
    """First and last session of one mouse per experiment and region."""
    if not (out / "fov").is_dir():
        return ""
    picks = []
    meta = dataset[["mouse", "experiment", "region"]].drop_duplicates("mouse")
    s = sessions.merge(meta, on="mouse", how="left")
    opsin = (
        dataset.loc[dataset["opsin"].astype(str).str.lower().isin(["none", "", "false"]), "mouse"]
        if "opsin" in dataset
        else pd.Series(dtype=str)
    )
    for (_, region), g in s.groupby(["experiment", "region"], dropna=False):
        # prefer a mouse with an opsin (an all-optical control shows no stimulation effect)
        mice = sorted(g["mouse"].unique(), key=lambda m: (m in set(opsin), m))
        mouse = mice[0]
        ses = sorted(g.loc[g["mouse"] == mouse, "session"].astype(int).unique())
        chosen = [ses[0], ses[-1]] if len(ses) > 1 else ses
        fovs = [(x, _load_fov(out, mouse, x)) for x in chosen]
        fovs = [(x, f) for x, f in fovs if f is not None]
        if fovs:
            picks.append((region, mouse, fovs))
    if not picks:
        return ""
    n_col = max(len(f) for _, _, f in picks)
    fig, axes = plt.subplots(
        len(picks), n_col, figsize=(2.7 * n_col, 2.7 * len(picks)), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    bgs = set()
    for i, (region, mouse, fovs) in enumerate(picks):
        for j, (ses, fov) in enumerate(fovs):
            ax = axes[i, j]
            ax.set_axis_on()
            _draw_fov(ax, fov, _kind_colours(fov))
            bgs.add(_background(fov)[1])
            kinds = pd.Series(fov["roi_type"]).value_counts()
            n_axons = len(set(fov["axon"][fov["axon"] >= 0].tolist()))
            what = ", ".join(f"{v} {_PLURAL.get(k, k)}" for k, v in kinds.items())
            if n_axons:
                what += f" → {n_axons} axons"
            ax.set_title(f"{region} {mouse} session {ses}\n{what}", fontsize=7)
    fig.tight_layout()
    cap = (
        "<b>Fields of view.</b> First and last session of one mouse per experiment and region, "
        f"on the {' / '.join(sorted(bgs))}; each ROI's outline is drawn in its kind's colour: "
        "somata yellow, boutons in the colour of the axon they were merged into (boutons "
        "of one axon share a colour; colours repeat after 20 axons)."
    )
    return figure(fig, "fields_of_view", cap)


def _identity_table(out: Path, sessions: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Cross-session identity: the tracking table when it has rows, else persistent names."""
    tpath = out / "tracking.parquet"
    if tpath.is_file():
        t = pd.read_parquet(tpath)
        if len(t) and "roi_name" in t:
            found = t[t["roi"] >= 0]
            return found[["mouse", "cell", "session", "roi_name"]], "tracking"
    return pd.DataFrame(), ""


def _tracking_figure(out: Path, sessions: pd.DataFrame, dataset: pd.DataFrame) -> str:
    """One mouse's sessions with every cell in the colour of its cross-day identity."""
    ident, how = _identity_table(out, sessions)
    somata = dataset[dataset["experiment"].isin(["all_optical", "imaging"])]
    if ident.empty:
        # no tracking run (no mean images): ROI names, where they persist across days
        mice = sorted(somata["mouse"].unique()) or sorted(sessions["mouse"].unique())
        how = "roi_name"
    else:
        mice = sorted(ident["mouse"].unique())
    for mouse in mice:
        ses = sorted(sessions.loc[sessions["mouse"] == mouse, "session"].astype(int).unique())
        if len(ses) < 2:
            continue
        shown = (
            ses if len(ses) <= 4 else [ses[0], ses[len(ses) // 3], ses[2 * len(ses) // 3], ses[-1]]
        )
        fovs = [(x, _load_fov(out, mouse, x)) for x in shown]
        fovs = [(x, f) for x, f in fovs if f is not None]
        if len(fovs) < 2:
            continue
        if how == "tracking":
            m = ident[ident["mouse"] == mouse]
            cell_of = {(int(r.session), str(r.roi_name)): int(r.cell) for r in m.itertuples()}
        else:
            cell_of = {(x, str(n)): str(n) for x, f in fovs for n in f["roi_name"]}
        ids = [{cell_of.get((x, str(n))) for n in f["roi_name"]} - {None} for x, f in fovs]
        common = sorted(set.intersection(*ids), key=str)
        if not common:
            continue
        colour_of = {c: plt.get_cmap("hsv")(k / max(len(common), 1)) for k, c in enumerate(common)}
        fig, axes = plt.subplots(1, len(fovs), figsize=(2.8 * len(fovs), 3.0), squeeze=False)
        for ax, (x, f) in zip(axes[0], fovs, strict=True):
            cols = np.array(
                [
                    colour_of.get(cell_of.get((x, str(n))), (0.6, 0.6, 0.6, 0.6))
                    for n in f["roi_name"]
                ]
            )
            _draw_fov(ax, f, cols)
            ax.set_title(f"{mouse} session {x}", fontsize=8)
        fig.tight_layout()
        source = (
            "the preprocess stage's cross-session tracking (registration of the mean images and "
            "joint clustering of the footprints)"
            if how == "tracking"
            else "equal ROI names across sessions (no tracking was run: the sessions have no "
            "raw movie or mean image; valid where the dataset keeps ROI identities in names, "
            "as the simulated dataset does)"
        )
        cap = (
            f"<b>The same cells across days.</b> Mouse {mouse}, {len(fovs)} sessions: the "
            f"{len(common)} cells found in every session shown are drawn in one colour each "
            f"(the same colour on every day), the others grey. Identity from {source}."
        )
        return figure(fig, "tracked_cells", cap)
    return ""


def _tracking_table(t: pd.DataFrame) -> str:
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
    return table_html(
        pd.DataFrame(rows),
        caption="Cross-session tracking: cells per mouse; the probability is each ROI's mean "
        "same-cell probability to its cell's other sessions.",
    )


def render(results_dir: Path, fig_dir: Path) -> str:
    out = Path(results_dir) / "preprocess"
    path = out / "sessions.parquet"
    if not path.is_file():
        return missing("preprocess")
    s = pd.read_parquet(path)
    dpath = Path(results_dir) / "dataset" / "sessions.parquet"
    dataset = pd.read_parquet(dpath) if dpath.is_file() else s.assign(experiment="", region="")
    parts = []
    src = s.groupby("source").size().rename("sessions").reset_index()
    n_units = int(s["n_units"].sum()) if "n_units" in s else None
    parts.append(
        f"<p>{len(s)} imaging sessions; {int(s['n_blanked'].sum())} photostimulation artefact "
        "frames blanked (NaN) before any baseline or analysis; dF/F computed once per session"
        + (f" for {n_units} analysis units (somata and merged axons)" if n_units else "")
        + (
            f"; {int(s['n_rois_no_data'].sum())} ROIs without any finite dF/F, excluded from "
            "every analysis and counted as no data"
            if "n_rois_no_data" in s and s["n_rois_no_data"].sum() > 0
            else ""
        )
        + ".</p>"
        + table_html(
            src,
            caption="Where each session's ROIs came from (nwb = the dataset's own "
            "ROI traces; otherwise the raw data the stage extracted them from).",
        )
    )
    parts.append(_fov_figure(out, s, dataset))
    parts.append(_tracking_figure(out, s, dataset))
    cols = [
        c
        for c in (
            "mouse",
            "session",
            "source",
            "n_rois",
            "n_frames",
            "n_blanked",
            "n_rois_no_data",
            "n_boutons",
        )
        if c in s.columns
    ]
    raw = s[s["source"] != "nwb"] if "source" in s else s.iloc[:0]
    if len(raw):
        parts.append(
            table_html(
                raw[cols],
                caption="Sessions extracted from raw data (ROIs found, frames, blanked frames).",
            )
        )
    if (s["n_boutons"] > 0).any():
        b = s[s["n_boutons"] > 0]
        fig, ax = plt.subplots(1, 2, figsize=(8.5, 2.9))
        ax[0].scatter(b["n_boutons"], b["n_axons"], s=10)
        lim = [0, max(1, int(b["n_boutons"].max()) + 1)]
        ax[0].plot(lim, lim, "k:", lw=0.8)
        ax[0].set_xlabel("boutons per session")
        ax[0].set_ylabel("axons after merging")
        per = b.groupby("session")[["n_boutons", "n_axons"]].sum()
        ax[1].plot(per.index, per["n_boutons"], "o-", label="boutons")
        ax[1].plot(per.index, per["n_axons"], "s-", label="axons")
        ax[1].set_xlabel("session")
        ax[1].set_ylabel("count (all mice)")
        ax[1].legend(frameon=False, fontsize=8)
        fig.tight_layout()
        tot = b[["n_boutons", "n_axons"]].sum()
        parts.append(
            figure(
                fig,
                "boutons_to_axons",
                f"<b>Boutons merged into axons.</b> {int(tot['n_boutons'])} boutons → "
                f"{int(tot['n_axons'])} axons ({tot['n_boutons'] / max(tot['n_axons'], 1):.2f} "
                f"boutons per axon) over {len(b)} sessions of {b['mouse'].nunique()} mice. "
                "Left: per session (dotted: no merging); right: totals per session number. "
                "Boutons merge when their dF/F correlation over the union of their event "
                "windows exceeds the threshold (hierarchical clustering); the axon is the unit "
                "of every later analysis.",
            )
        )
    mpath = out / "motion.parquet"
    if mpath.is_file():
        m = pd.read_parquet(mpath)
        fig, ax = plt.subplots(figsize=(8.5, 2.4))
        shown = list(m.groupby(["mouse", "session"]))[:6]
        for (mouse, ses), g in shown:
            ax.plot(g["frame"], np.hypot(g["dy"], g["dx"]), lw=0.7, label=f"{mouse} s{ses}")
        ax.set_xlabel("frame")
        ax.set_ylabel("|shift| (px)")
        ax.legend(frameon=False, fontsize=7, ncol=3)
        fig.tight_layout()
        parts.append(
            figure(
                fig,
                "motion",
                f"<b>Registration shifts</b> (rigid, suite2p) of the first {len(shown)} "
                "sessions extracted from raw movies.",
            )
        )
    tpath = out / "tracking.parquet"
    if tpath.is_file():
        t = pd.read_parquet(tpath)
        if len(t):
            parts.append(_tracking_table(t))
    return "".join(p for p in parts if p)
