"""The real mouse two-photon movie end to end, as a lab's own recording: convert -> preprocess,
compared with suite2p run alone on the same movie (footprint overlap and trace correlation);
the converted file and the stage's output pass nwbinspector.

The movie: 2000 x 128 x 128 uint16 frames of somata (2 % of pixels above 32,767), 30 Hz
assumed (tests/_realdata.py). Measured on it (suite2p 1.1.0): suite2p alone labels 54 of its
306 ROIs as cells; the stage with its soma defaults keeps 54 ROIs and matches all 54 at
IoU >= 0.5 (median IoU 1.0, median F correlation 1.0). With the former simulator-tuned defaults
(threshold scaling 2.0, no cell filter, detection bins shortened to 20 frames) it kept 125 ROIs
and matched 41 (median IoU 0.91).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.imaging]
pytest.importorskip("torch")
if importlib.util.find_spec("suite2p") is None:
    pytest.skip("suite2p not installed", allow_module_level=True)


def test_real_movie_convert_preprocess_matches_suite2p_alone(real_movie, tmp_path):
    import tifffile

    from thalamocortex.config import Config
    from thalamocortex.data.convert import convert
    from thalamocortex.data.nwb import read_session
    from thalamocortex.pipeline.run import run_pipeline
    from thalamocortex.preprocess.compare import compare_rois, suite2p_alone

    sheet = tmp_path / "sessions.csv"
    pd.DataFrame(
        [
            {
                "mouse": "real1",
                "session": 1,
                "experiment": "imaging",
                "region": "M1",
                "roi_type": "soma",
                "indicator": "unknown",
                "frame_rate": 30.0,
                "movie": str(real_movie),
            }
        ]
    ).to_csv(sheet, index=False)
    convert(sheet, tmp_path / "dataset")
    cfg = Config()
    cfg.pipeline.scheduler = "sync"
    run_pipeline(tmp_path / "dataset", tmp_path / "results", cfg, stages=["preprocess"])
    out = tmp_path / "results" / "preprocess" / "sessions" / "sub-real1" / "sub-real1_ses-1.nwb"
    with read_session(out) as s:
        s.load()
        im = s.imaging
        assert set(im.rois["roi_type"]) == {"soma"}
        ours, ours_F, shape = list(im.footprints), im.f, im.image_shape
        # native units: a uint16 movie's bright cells are above int16's range, not clipped
        assert np.nanmax(ours_F) > 32767

    # the converted real recording and the stage's output are clean NWB (nwbinspector)
    # (a whole folder, as a user would run it: the stage's key files are not taken for NWB)
    from nwbinspector import inspect_all

    bad = {"CRITICAL", "BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR"}
    for folder in (tmp_path / "dataset", out.parent.parent):
        messages = list(inspect_all(str(folder)))
        findings = [(m.importance.name, m.file_path, m.message) for m in messages]
        assert [f for f in findings if f[0] in bad] == [], findings
        assert {m.file_path for m in messages} <= {str(p) for p in folder.rglob("*.nwb")}

    movie = tifffile.imread(real_movie)
    alone = suite2p_alone(movie, 30.0)
    cells, cells_F = alone.cells()
    c = compare_rois(ours, ours_F, cells, cells_F, shape, iou_threshold=0.5)
    summary = {k: v for k, v in c.items() if k != "pairs"}
    print("\nreal movie, stage vs suite2p alone:", summary)
    assert 40 <= c["n_reference"] <= 70  # suite2p alone: 54 cells
    assert c["fraction_matched"] >= 0.9, summary  # was 40 of 54 with the old defaults
    assert c["n_ours"] <= 1.25 * c["n_reference"], summary  # no fragments (was 126 ROIs)
    assert c["median_iou"] >= 0.8 and c["median_trace_r"] >= 0.95, summary
