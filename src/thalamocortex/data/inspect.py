"""What a dataset holds, and what is wrong with it (``thalamocortex inspect``).

:func:`inspect_dataset` discovers the sessions the way a run does (:func:`~thalamocortex.data.
layout.scan`, with the run's NWB names and sessions sheet), so it reports the same unusable
files a run would exclude, and summarises the usable ones per mouse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.data.layout import scan
from thalamocortex.data.nwb import NWBNames

#: Columns of :attr:`DatasetInspection.mice`.
MOUSE_COLUMNS: tuple[str, ...] = (
    "mouse",
    "experiment",
    "region",
    "n_sessions",
    "sessions",
    "frame_rate_hz",
    "duration_min",
    "rois",
    "trials",
    "raw_data",
    "ground_truth",
)


@dataclass
class DatasetInspection:
    """Sessions, per-mouse summary and problems of a dataset.

    Attributes
    ----------
    sessions : DataFrame
        The usable sessions (:data:`~thalamocortex.data.layout.SESSION_COLUMNS`) plus
        ``raw_data`` (what raw data the preprocess stage would use: ``nwb_movie``, ``tiff``,
        ``suite2p`` or ``""``) and ``ground_truth`` (bool).
    mice : DataFrame
        One row per mouse, :data:`MOUSE_COLUMNS`: sessions (count and numbers), frame rate
        (Hz; several values joined by "/"), median session duration (min), median ROIs and
        trials per session, sessions with raw data ("2/3"), ground truth present.
    problems : list of dict
        Files a run would exclude: ``path``, ``reason`` (names the file and the field).
    ground_truth : bool
        The dataset has a ``ground_truth/`` folder (a simulated dataset).
    """

    root: Path
    sessions: pd.DataFrame
    mice: pd.DataFrame
    problems: list[dict] = field(default_factory=list)
    ground_truth: bool = False


def _truth_mice(root: Path) -> set[str] | None:
    """Mice in ``ground_truth/`` (None: no ground truth; every mouse when it has no table)."""
    gt = root / "ground_truth"
    if not gt.is_dir():
        return None
    table = gt / "sessions.parquet"
    if table.is_file():
        try:
            return set(pd.read_parquet(table, columns=["mouse"])["mouse"].astype(str))
        except (OSError, ValueError, KeyError):
            pass
    return {"*"}


def _join(values) -> str:
    vals = sorted({v for v in values if isinstance(v, str) and v})
    return "/".join(vals) if vals else ""


def inspect_dataset(root: str | os.PathLike, names: NWBNames | None = None) -> DatasetInspection:
    """Discover a dataset and summarise it per mouse (no trace is read).

    Raises
    ------
    DataError
        The folder is missing or not a dataset at all.
    """
    from thalamocortex.preprocess.stage import raw_sources

    root = Path(root)
    table, problems = scan(root, names)
    table = table.copy()
    table["raw_data"] = [next(iter(raw_sources(p)), "") for p in table["path"]]
    truth = _truth_mice(root)
    table["ground_truth"] = [
        truth is not None and ("*" in truth or m in truth) for m in table["mouse"]
    ]
    rows = []
    for mouse, g in table.groupby("mouse", sort=True):
        rates = sorted({round(float(r), 2) for r in g["frame_rate"] if np.isfinite(r)})
        rows.append(
            {
                "mouse": mouse,
                "experiment": _join(g["experiment"]),
                "region": _join(g["region"]),
                "n_sessions": len(g),
                "sessions": ",".join(str(s) for s in sorted(g["session"])),
                "frame_rate_hz": "/".join(f"{r:g}" for r in rates) if rates else "-",
                "duration_min": float(np.nanmedian(g["duration_s"])) / 60.0
                if np.isfinite(g["duration_s"]).any()
                else np.nan,
                "rois": float(np.median(g["n_rois"])),
                "trials": float(np.median(g["n_trials"])),
                "raw_data": f"{int((g['raw_data'] != '').sum())}/{len(g)}",
                "ground_truth": bool(g["ground_truth"].all()),
            }
        )
    mice = pd.DataFrame(rows, columns=list(MOUSE_COLUMNS))
    return DatasetInspection(root, table, mice, problems, truth is not None)


def format_inspection(ins: DatasetInspection, sessions: bool = False) -> str:
    """The text ``thalamocortex inspect`` prints (problems go to stderr separately)."""
    t = ins.sessions
    head = (
        f"dataset {ins.root}: {t['mouse'].nunique()} mice, {len(t)} sessions"
        + (f", {len(ins.problems)} unusable file(s) (below)" if ins.problems else "")
        + f"; ground truth: {'yes (ground_truth/)' if ins.ground_truth else 'no'}"
    )
    lines = [head]
    if len(t):
        by = (
            t.groupby(["experiment", "region"])
            .agg(mice=("mouse", "nunique"), sessions=("session", "count"))
            .reset_index()
        )
        lines += ["", by.to_string(index=False), ""]
        mice = ins.mice.copy()
        mice["duration_min"] = mice["duration_min"].map(lambda v: f"{v:.1f}")
        mice["rois"] = mice["rois"].map(lambda v: f"{v:g}")
        mice["trials"] = mice["trials"].map(lambda v: f"{v:g}")
        mice["ground_truth"] = mice["ground_truth"].map({True: "yes", False: "no"})
        mice = mice.drop(columns="n_sessions").rename(
            columns={
                "frame_rate_hz": "frame rate (Hz)",
                "duration_min": "duration (min)",
                "rois": "ROIs",
                "raw_data": "raw data",
                "ground_truth": "ground truth",
            }
        )
        lines.append(mice.to_string(index=False))
        if sessions:
            cols = [
                "mouse",
                "session",
                "day",
                "experiment",
                "region",
                "indicator",
                "frame_rate",
                "duration_s",
                "n_rois",
                "n_frames",
                "n_trials",
                "has_stimulation",
                "raw_data",
                "ground_truth",
            ]
            lines += ["", t[[c for c in cols if c in t]].to_string(index=False)]
        else:
            lines += ["", "(--sessions for one row per session)"]
    return "\n".join(lines)
