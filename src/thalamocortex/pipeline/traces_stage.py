"""The ``traces`` stage: dF/F and events for every imaging session (F/Fneu -> dF/F).

Sessions whose NWB already holds a DfOverF series keep it; the others get dF/F computed from
F and Fneu with photostimulation artefact frames blanked (NaN). Results are cached per session
as ``results/traces/<session_id>.npz`` so later stages read them instead of recomputing.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.pipeline import io


def nan_counts(dff: np.ndarray) -> tuple[int, int]:
    """``(n_blanked, n_rois_no_data)`` of a (frames x ROIs) dF/F.

    Blanked (artefact) frames are NaN in every ROI that has data at all; an ROI that is NaN on
    every frame has no data and is counted apart, so its NaN frames never pass for blanked
    photostimulation artefacts.
    """
    if not dff.size:
        return 0, 0
    nan = np.isnan(dff)
    empty = nan.all(axis=0)
    live = ~empty
    n_blanked = int(nan[:, live].all(axis=1).sum()) if live.any() else 0
    return n_blanked, int(empty.sum())


def _one_session(path: str, out_dir: str, params, opener) -> dict:
    from thalamocortex.preprocess.traces import session_dff

    with opener(path) as s:
        if s.imaging is None:
            return {
                "session_id": s.id,
                "n_rois": 0,
                "n_frames": 0,
                "n_blanked": 0,
                "n_rois_no_data": 0,
            }
        dff, events = session_dff(s, params)
        arrays = {"dff": np.asarray(dff, np.float32)}
        if events is not None:
            arrays["events"] = np.asarray(events, np.float32)
        io.write_arrays(Path(out_dir) / f"{s.id}.npz", **arrays)
        n_blank, n_empty = nan_counts(dff)
        return {
            "session_id": s.id,
            "n_rois": int(dff.shape[1]),
            "n_frames": int(dff.shape[0]),
            "n_blanked": n_blank,
            "n_rois_no_data": n_empty,
        }


def run(ctx) -> None:
    paths = [str(p) for p in ctx.sessions["path"]]
    rows = ctx.map(
        partial(
            _one_session,
            out_dir=str(ctx.out_dir),
            params=ctx.config.preprocess,
            opener=ctx.opener,
        ),
        paths,
        desc="dF/F",
    )
    ctx.write_table(pd.DataFrame([r for r in rows if r is not None]), "traces_summary")
