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


def _one_session(path: str, out_dir: str, params, names) -> dict:
    from thalamocortex.data.nwb import read_session
    from thalamocortex.preprocess.traces import session_dff

    with read_session(path, names=names) as s:
        if s.imaging is None:
            return {"session_id": s.id, "n_rois": 0, "n_frames": 0, "n_blanked": 0}
        dff, events = session_dff(s, params)
        arrays = {"dff": np.asarray(dff, np.float32)}
        if events is not None:
            arrays["events"] = np.asarray(events, np.float32)
        io.write_arrays(Path(out_dir) / f"{s.id}.npz", **arrays)
        n_blank = int(np.isnan(dff).all(axis=1).sum()) if dff.size else 0
        return {
            "session_id": s.id,
            "n_rois": int(dff.shape[1]),
            "n_frames": int(dff.shape[0]),
            "n_blanked": n_blank,
        }


def run(ctx) -> None:
    paths = [str(p) for p in ctx.sessions["path"]]
    rows = ctx.map(
        partial(
            _one_session,
            out_dir=str(ctx.out_dir),
            params=ctx.config.preprocess,
            names=ctx.config.data,
        ),
        paths,
        desc="dF/F",
    )
    ctx.write_table(pd.DataFrame(rows), "traces_summary")
