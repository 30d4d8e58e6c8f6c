"""`thalamocortex convert`: a lab's files (TIFF movies, lever, events, pulses, suite2p folders,
a sessions sheet) -> a DANDI-layout NWB dataset that inspect, nwbinspector and the pipeline
accept."""

from __future__ import annotations

import importlib.util

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import tifffile

from thalamocortex.data.convert import convert, read_events, read_lever, read_pulses
from thalamocortex.data.errors import DataError
from thalamocortex.data.nwb import read_session

BAD_LEVELS = {"CRITICAL", "BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR"}
HAS_SUITE2P = importlib.util.find_spec("suite2p") is not None


def _inspector_findings(root) -> list:
    from nwbinspector import inspect_all

    return [
        (m.importance.name, m.check_function_name, m.file_path, m.message)
        for m in inspect_all(str(root))
        if m.importance.name in BAD_LEVELS
    ]


def _sheet(tmp_path, rows: list[dict], name="sessions.tsv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, sep="\t" if name.endswith(".tsv") else ",", index=False)
    return path


# --- the worked example of the docs, end to end --------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    from thalamocortex.data.example import write_example_recordings

    root = tmp_path_factory.mktemp("byod")
    sheet = write_example_recordings(root / "lab", n_frames=600)
    convert(sheet, root / "dataset")
    return root


def test_example_converts_to_a_clean_dataset(example, capsys):
    from thalamocortex.cli import main

    ds = example / "dataset"
    table = pd.read_csv(ds / "sessions.tsv", sep="\t")
    assert table["mouse"].tolist() == ["A", "B"]
    assert table["experiment"].tolist() == ["imaging", "imaging"]
    assert table["n_trials"].tolist() == [6, 0]
    assert main(["inspect", str(ds)]) == 0
    assert "2 mice, 2 sessions" in capsys.readouterr().out
    assert _inspector_findings(ds) == []
    with read_session(ds / "sub-A" / "sub-A_ses-1.nwb") as s:
        assert s.info.roi_type == "soma" and s.info.frame_rate == 30.0
        assert s.lever.rate == 1000.0 and s.lever.units == "mm"
        assert s.trials["outcome"].isin(["hit", "miss"]).all()
        # the movie is referenced (placed in the dataset), not copied into the file
        assert s.movie.files is not None and s.movie.data is None
        frames = s.movie.read()
        assert frames.shape == (600, 64, 64) and frames.max() > 32767
    with read_session(ds / "sub-B" / "sub-B_ses-1.nwb") as s:
        assert s.lever is None and s.trials is None and s.info.experiment == "imaging"


@pytest.mark.imaging
@pytest.mark.skipif(not HAS_SUITE2P, reason="suite2p not installed")
def test_example_dataset_runs_through_the_pipeline(example):
    from thalamocortex.config import Config
    from thalamocortex.pipeline.run import run_pipeline

    cfg = Config()
    cfg.pipeline.scheduler = "sync"
    out = example / "results"
    run_pipeline(example / "dataset", out, cfg, progress=False)
    pre = pd.read_parquet(out / "preprocess" / "sessions.parquet")
    assert (pre["source"] == "nwb_movie").all()
    assert (pre["n_rois"] >= 5).all(), pre[["mouse", "n_rois"]]  # 9 somata per movie
    assert (pre["n_boutons"] == 0).all() and (pre["n_axons"] == 0).all()  # never boutons
    with read_session(out / "preprocess" / "sessions" / "sub-A" / "sub-A_ses-1.nwb") as s:
        assert set(s.imaging.rois["roi_type"]) == {"soma"}
    beh = pd.read_parquet(out / "behavior" / "sessions.parquet").set_index("mouse")
    assert beh.loc["A", "status"] == "ok" and beh.loc["A", "n_rewarded"] >= 3
    assert beh.loc["B", "status"] == "excluded" and "lever" in beh.loc["B", "exclusion"]
    enc = pd.read_parquet(out / "encoding" / "sessions.parquet")
    assert enc["mouse"].tolist() == ["A"]  # B has no behaviour: skipped, not failed
    from thalamocortex.report.html import build_report

    assert build_report(out).is_file()  # imaging-only and task sessions side by side


# --- inputs ---------------------------------------------------------------------------------------


def test_lever_formats_agree(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    pd.DataFrame({"lever": x}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"time": 3.0 + np.arange(500) / 500.0, "pos": x}).to_csv(
        tmp_path / "b.tsv", sep="\t", index=False
    )
    np.save(tmp_path / "c.npy", np.column_stack([-x, x]))
    scipy.io.savemat(tmp_path / "d.mat", {"lever": x, "other": np.arange(3)})
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f["acq/lever"] = x
        f["acq/cue"] = np.arange(4)
    levers = [
        read_lever(tmp_path / "a.csv", 500.0, "V"),
        read_lever(tmp_path / "b.tsv", None, "V"),
        read_lever(tmp_path / "c.npy", 500.0, "V", key="1"),
        read_lever(tmp_path / "d.mat", 500.0, "V", key="lever"),
        read_lever(tmp_path / "e.h5", 500.0, "V", key="acq/lever"),
    ]
    for lv in levers:
        np.testing.assert_allclose(lv.values, x, rtol=1e-12, atol=1e-12)
        assert lv.rate == pytest.approx(500.0) and lv.units == "V"
    assert levers[1].t0 == 3.0 and levers[0].t0 == 0.0
    with pytest.raises(DataError, match=r"lever_unit"):
        read_lever(tmp_path / "a.csv", 500.0, None)
    with pytest.raises(DataError, match=r"b\.tsv.*lever_rate 1000.0 Hz disagrees.*500"):
        read_lever(tmp_path / "b.tsv", 1000.0, "V")
    with pytest.raises(DataError, match=r"d\.mat.*variables \['lever', 'other'\]"):
        read_lever(tmp_path / "d.mat", 500.0, "V")
    with pytest.raises(DataError, match=r"e\.h5.*no dataset 'lever'"):
        read_lever(tmp_path / "e.h5", 500.0, "V", key="lever")


def test_events_long_and_wide_formats(tmp_path):
    pd.DataFrame(
        {
            "time": [1.0, 1.5, 4.0, 7.0, 7.2, 7.9],
            "event": ["cue", "reward", "tone", "cue", "laser", "water"],
        }
    ).to_csv(tmp_path / "long.csv", index=False)
    tr = read_events(tmp_path / "long.csv", end_time=10.0)
    assert tr["cue_time"].tolist() == [1.0, 4.0, 7.0]
    np.testing.assert_array_equal(tr["reward_time"], [1.5, np.nan, 7.9])
    assert tr["outcome"].tolist() == ["hit", "miss", "hit"]
    assert tr["light"].tolist() == [False, False, True]
    assert tr["stop_time"].tolist() == [4.0, 7.0, 10.0]
    pd.DataFrame({"cue_time": [1.0, 4.0], "reward_time": [1.5, None], "light": [0, 1]}).to_csv(
        tmp_path / "wide.tsv", sep="\t", index=False
    )
    wide = read_events(tmp_path / "wide.tsv")
    assert wide["light"].tolist() == [False, True] and wide["stop_time"].tolist() == [4.0, 7.0]
    pd.DataFrame({"time": [1.0], "event": ["lick"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad\.csv.*unknown event names \['lick'\]"):
        read_events(tmp_path / "bad.csv")


def test_pulses(tmp_path):
    pd.DataFrame({"start_time": [1.0, 2.0], "duration": [0.2, 0.2], "power": [5, 6]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    p = read_pulses(tmp_path / "p.csv", target="MTh axons")
    assert p["target"].tolist() == ["MTh axons"] * 2 and p["power"].tolist() == [5, 6]
    pd.DataFrame({"start_time": [1.0]}).to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(DataError, match=r"q\.csv.*missing columns \['duration'\]"):
        read_pulses(tmp_path / "q.csv")


def _behaviour_files(tmp_path, duration=20.0):
    rng = np.random.default_rng(1)
    pd.DataFrame({"lever": rng.normal(0, 0.01, int(duration * 1000))}).to_csv(
        tmp_path / "lever.csv", index=False
    )
    pd.DataFrame({"time": [2.0, 6.0, 10.0], "event": ["cue"] * 3}).to_csv(
        tmp_path / "events.csv", index=False
    )


def test_all_optical_session_with_pulses_and_suite2p_folder(tmp_path):
    from test_preprocess_suite2p_io import write_fake_suite2p

    _behaviour_files(tmp_path)
    write_fake_suite2p(tmp_path / "s2p", n_frames=300, fs=15.0)
    pd.DataFrame({"start_time": [3.0, 8.0], "duration": [0.25, 0.25], "power": 4.0}).to_csv(
        tmp_path / "pulses.csv", index=False
    )
    row = {
        "mouse": "m1",
        "session": 2,
        "day": 5,
        "experiment": "all_optical",
        "region": "M1",
        "indicator": "GCaMP6s",
        "opsin": "ChrimsonR",
        "suite2p": "s2p",
        "lever": "lever.csv",
        "lever_rate": 1000,
        "lever_unit": "mm",
        "events": "events.csv",
        "pulses": "pulses.csv",
        "light_wavelength": 640,
        "light_target": "MTh axons in M1",
    }
    table = convert(_sheet(tmp_path, [row]), tmp_path / "ds")
    assert table["has_stimulation"].tolist() == [True] and table["n_rois"].tolist() == [3]
    with read_session(tmp_path / "ds" / "sub-m1" / "sub-m1_ses-2.nwb") as s:
        assert s.info.day == 5 and s.info.opsin == "ChrimsonR"
        assert s.stimulation.pulses["start_time"].tolist() == [3.0, 8.0]
        assert s.stimulation.wavelength_nm == 640.0
        assert set(s.imaging.rois["roi_type"]) == {"soma"}  # the all-optical kind: somata
        assert s.imaging.frame_rate == pytest.approx(15.0)
    assert _inspector_findings(tmp_path / "ds") == []


def test_internal_movie_through_neuroconv_keeps_uint16(tmp_path):
    pytest.importorskip("neuroconv")
    rng = np.random.default_rng(2)
    movie = rng.integers(30000, 65000, (40, 16, 20)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "mov.tif", movie, photometric="minisblack")
    row = {
        "mouse": "x",
        "session": 1,
        "experiment": "imaging",
        "region": "M1",
        "roi_type": "bouton",
        "frame_rate": 10.0,
        "movie": "mov.tif",
    }
    convert(_sheet(tmp_path, [row], "s.csv"), tmp_path / "ds", movie_mode="internal")
    with read_session(tmp_path / "ds" / "sub-x" / "sub-x_ses-1.nwb") as s:
        assert s.movie.files is None and s.movie.rate == 10.0
        assert s.movie.data.dtype == np.uint16  # native bit depth in the file
        np.testing.assert_array_equal(s.movie.read(), movie)
        assert s.info.roi_type == "bouton"
    with h5py.File(tmp_path / "ds" / "sub-x" / "sub-x_ses-1.nwb", "r") as f:
        data = f["acquisition/TwoPhotonSeries/data"]
        assert data.compression == "gzip" and data.chunks is not None
    assert _inspector_findings(tmp_path / "ds") == []


def test_sheet_errors_name_file_line_and_column(tmp_path):
    _behaviour_files(tmp_path)
    tifffile.imwrite(tmp_path / "m.tif", np.zeros((5, 8, 8), np.uint16))
    base = {"mouse": "a", "session": 1, "experiment": "imaging", "region": "M1"}
    cases = [
        ({**base, "movie": "m.tif", "frame_rate": 30}, r"'roi_type'.*line 2.*implies no ROI"),
        ({**base, "movie": "m.tif", "roi_type": "soma"}, r"'frame_rate'.*frame rate"),
        ({**base, "movie": "nope_*.tif", "roi_type": "soma"}, r"'movie'.*no movie file"),
        ({**base, "experiment": "axon", "region": "MTh"}, r"'experiment'.*'axon' is not one"),
        ({**base, "experiment": "axon_imaging", "roi_type": "soma"}, r"contradicts"),
        (
            {**base, "experiment": "axon_imaging", "lever": "lever.csv", "lever_rate": 1000}
            | {"lever_unit": "mm"},
            r"needs trial events",
        ),
        ({**base, "pulses": "p.csv"}, r"'pulses'.*no light stimulation"),
        ({**base, "mouse": "a_b"}, r"'mouse'"),
    ]
    for k, (row, pattern) in enumerate(cases):
        with pytest.raises(DataError, match=r"s\d+\.tsv.*" + pattern):
            convert(_sheet(tmp_path, [row], f"s{k}.tsv"), tmp_path / f"ds{k}")
    with pytest.raises(DataError, match=r"unknown columns \['frame_rte'\]"):
        convert(_sheet(tmp_path, [{**base, "frame_rte": 30}], "t.tsv"), tmp_path / "dsx")
    rows = [base, base]
    with pytest.raises(DataError, match=r"line 3.*also on line 2"):
        convert(_sheet(tmp_path, rows, "u.tsv"), tmp_path / "dsy")


def test_tiff_series_referenced_in_order_with_starting_frames(tmp_path):
    # a ScanImage-style acquisition split over files: natural order (file_2 before file_10)
    rng = np.random.default_rng(4)
    movie = rng.integers(0, 65535, (25, 12, 10)).astype(np.uint16)
    chunks = {
        "run_1.tif": movie[:10],
        "run_2.tif": movie[10:20],
        "run_10.tif": movie[20:],
    }
    for name, part in chunks.items():
        tifffile.imwrite(tmp_path / name, part, photometric="minisblack")
    row = {
        "mouse": "s",
        "session": 3,
        "experiment": "imaging",
        "region": "M1",
        "roi_type": "soma",
        "frame_rate": 15.0,
        "movie": "run_*.tif",
        "movie_t0": 1.5,
    }
    convert(_sheet(tmp_path, [row]), tmp_path / "ds")
    with read_session(tmp_path / "ds" / "sub-s" / "sub-s_ses-3.nwb") as s:
        assert [p.name for p in s.movie.files] == list(chunks)
        assert s.movie.starting_frame == [0, 10, 20] and s.movie.starting_time == 1.5
        np.testing.assert_array_equal(s.movie.read(), movie)
        assert all(p.is_file() and "sub-s_ses-3_movie" in str(p) for p in s.movie.paths())
    assert _inspector_findings(tmp_path / "ds") == []
