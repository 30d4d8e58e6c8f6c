"""Issue 14, one test per item: no code from data files, no stale or silently contaminated
results, one bad session never sinks a run. (End-to-end damaged cohorts: test_robustness.py.)"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from thalamocortex.config import Config
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import RawMovie
from thalamocortex.data.nwb import NWBNames, read_session, write_session
from thalamocortex.pipeline.context import SkipSession, StageContext

sys.path.insert(0, str(Path(__file__).parent))
from conftest import make_session  # noqa: E402
from test_preprocess_suite2p_io import write_fake_suite2p  # noqa: E402


class _Evil:
    """Pickles to a call of os.system (what a crafted stat.npy does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# --- item 1: no code from a dataset -------------------------------------------------------
def test_crafted_stat_npy_is_refused_and_runs_nothing(tmp_path):
    from thalamocortex.preprocess.suite2p_io import read_suite2p

    plane, _, _ = write_fake_suite2p(tmp_path)
    marker = tmp_path / "pwned"
    np.save(plane / "stat.npy", np.array([_Evil(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"stat\.npy.*refused to load posix\.system"):
        read_suite2p(tmp_path)
    assert not marker.exists()
    # the same through ops.npy / settings.npy
    plane2, _, _ = write_fake_suite2p(tmp_path / "b")
    np.save(plane2 / "settings.npy", {"fs": 30.0, "x": _Evil(marker)}, allow_pickle=True)
    with pytest.raises(DataError, match=r"settings\.npy"):
        read_suite2p(plane2)
    assert not marker.exists()


def test_suite2p_files_with_real_object_types_still_load(tmp_path):
    """suite2p 1.1.0's pickles hold numpy scalars, nested dicts, tuples, None and the
    processing date with a time zone (measured on a real run_s2p folder)."""
    from thalamocortex.preprocess.suite2p_io import read_options, read_suite2p

    plane, F, stat = write_fake_suite2p(tmp_path)
    stat = [
        {**s, "med": [np.int64(s["med"][0]), np.int64(s["med"][1])], "radius": np.float64(2.5)}
        for s in stat
    ]
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    settings = {
        "fs": np.float64(30.0),
        "registration": {"nonrigid": True, "block_size": (32, 32), "smooth_sigma": 1.15},
        "detection": {"threshold_scaling": 1.0, "bin_size": None},
        "date_proc": dt.datetime(2025, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "iplane": np.int64(0),
        "rmin": np.int16(-3),
        "filelist": ["a.tif", "b.tif"],
        "objects": np.array([np.zeros(3), np.ones(2)], dtype=object),
        "flags": {1, 2},
    }
    np.save(plane / "settings.npy", settings, allow_pickle=True)
    im = read_suite2p(tmp_path)
    assert im.n_rois == 3 and im.frame_rate == pytest.approx(30.0)
    ops = read_options(plane)
    assert ops["date_proc"].utcoffset() == dt.timedelta(hours=1)
    assert ops["registration"]["block_size"] == (32, 32)


# --- item 2: paths leaving the dataset; symlinked sessions --------------------------------
def _with_external_movie(tmp_path: Path, movie_path: Path) -> Path:
    from thalamocortex.data.movie import write_tiff

    s = make_session(mouse="m1", session=1, n_frames=90, n_rois=3)
    write_tiff(movie_path, np.random.default_rng(0).random((90, 8, 8)) * 100, 30.0)
    s.movie = RawMovie(rate=30.0, frame_times=s.imaging.times, files=[movie_path])
    nwb = tmp_path / "data" / "sub-m1" / "sub-m1_ses-1.nwb"
    write_session(s, nwb)
    return nwb


def test_external_file_outside_the_dataset_is_refused(tmp_path):
    from thalamocortex.data.layout import scan

    outside = tmp_path / "outside" / "x.tif"
    nwb = _with_external_movie(tmp_path, outside)
    field = "acquisition/TwoPhotonSeries.external_file"
    with pytest.raises(DataError, match=rf"field '{field}'.*outside the dataset"):
        read_session(nwb)
    table, problems = scan(tmp_path / "data")  # discovery's fast path checks it too
    assert table.empty and field in problems[0]["reason"] and "x.tif" in problems[0]["reason"]
    # the parameter allows it explicitly
    names = NWBNames(allow_external_files_outside_dataset=True)
    with read_session(nwb, names) as s:
        assert s.movie.paths()[0].resolve() == outside.resolve()
    # inside the dataset: fine
    inside = _with_external_movie(tmp_path / "b", tmp_path / "b" / "data" / "raw" / "x.tif")
    with read_session(inside) as s:
        assert s.movie.read().shape == (90, 8, 8)


def test_symlinked_session_keeps_its_neighbours(tmp_path):
    """git-annex/DataLad datasets are symlinks: the raw data next to the link are used."""
    from thalamocortex.data.layout import discover, write_sessions_table
    from thalamocortex.preprocess.stage import raw_sources

    store = tmp_path / "annex" / "objects" / "ab12"
    store.mkdir(parents=True)
    target = store / "content.nwb"
    write_session(make_session(mouse="m1", session=2), target)
    link = tmp_path / "data" / "sub-m1" / "sub-m1_ses-2.nwb"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    write_fake_suite2p(link.parent / "sub-m1_ses-2_suite2p")
    table = discover(tmp_path / "data")
    assert table["path"].tolist() == [str(link)]  # the link, not its target
    assert set(raw_sources(table["path"].iloc[0])) == {"suite2p"}
    assert "sub-m1/sub-m1_ses-2.nwb" in (write_sessions_table(tmp_path / "data")).read_text()
    # a dangling link (annex content not fetched) is named as such
    target.unlink()
    with pytest.raises(DataError, match="broken symbolic link.*datalad get"):
        read_session(link)


# --- item 12: one bad session never sinks the run ----------------------------------------
def _work(path: str) -> str:
    name = Path(path).name
    if "bad" in name:
        raise DataError("lever all NaN", path, field="lever")
    if "skip" in name:
        raise SkipSession("no stimulation")
    if "bug" in name:
        raise ZeroDivisionError("oops")
    return name


def _ctx(tmp_path, strict=False) -> StageContext:
    cfg = Config()
    cfg.pipeline.strict = strict
    ctx = StageContext(tmp_path, tmp_path / "results", cfg, "behavior")
    ctx.__dict__["sessions"] = pd.DataFrame(
        {
            "mouse": ["a", "a", "b", "c"],
            "session": [1, 2, 1, 1],
            "path": ["/d/ok.nwb", "/d/bad.nwb", "/d/skip.nwb", "/d/bug.nwb"],
        }
    )
    return ctx


def test_map_turns_bad_sessions_into_exclusions(tmp_path, caplog):
    ctx = _ctx(tmp_path)
    with caplog.at_level(logging.INFO, logger="thalamocortex"):
        out = ctx.map(_work, list(ctx.sessions["path"]))
    assert out == ["ok.nwb", None, None, None]
    tab = ctx.exclusions.table().set_index("session_id")
    assert tab.loc["sub-a_ses-2", "kind"] == "error"
    assert "field 'lever'" in tab.loc["sub-a_ses-2", "reason"]
    assert tab.loc["sub-b_ses-1", "kind"] == "skipped"
    assert tab.loc["sub-c_ses-1", "reason"] == "ZeroDivisionError: oops"
    assert (tab["stage"] == "behavior").all()
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and "sub-a_ses-2" in warned[0].getMessage()
    # a skip is logged once at INFO, not as a warning
    assert any("skipped: no stimulation" in r.getMessage() for r in caplog.records)


def test_strict_makes_a_bad_session_fatal_and_all_failing_stage_fails(tmp_path):
    with pytest.raises(DataError, match="--strict.*lever all NaN"):
        _ctx(tmp_path, strict=True).map(_work, ["/d/ok.nwb", "/d/bad.nwb"])
    # a skip is not a bad session
    assert _ctx(tmp_path, strict=True).map(_work, ["/d/skip.nwb", "/d/ok.nwb"])[1] == "ok.nwb"
    with pytest.raises(DataError, match="failed on every session"):
        _ctx(tmp_path).map(_work, ["/d/bad.nwb", "/d/bug.nwb"])


def test_config_view_refuses_undeclared_groups(tmp_path):
    from thalamocortex.pipeline.context import UndeclaredParameterError

    ctx = StageContext(tmp_path, tmp_path / "r", Config(), "inactivation")
    assert ctx.config.opto.inactivation.stereotypy_bin_s > 0
    assert ctx.config.data.require_lever and ctx.config.pipeline.scheduler
    with pytest.raises(UndeclaredParameterError, match="'opto.alpha'"):
        ctx.config.opto.alpha  # noqa: B018
    with pytest.raises(UndeclaredParameterError, match="'encoding'"):
        ctx.config.encoding  # noqa: B018
    assert set(ctx.config.model_dump()) == {"data", "opto"}
