"""Issue 14, one test per item: no code from data files, no stale or silently contaminated
results, one bad session never sinks a run. (End-to-end damaged cohorts: test_robustness.py.)"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
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
        read_session(nwb, roots=(tmp_path / "data",))
    table, problems = scan(tmp_path / "data")  # discovery's fast path checks it too
    assert table.empty and field in problems[0]["reason"] and "x.tif" in problems[0]["reason"]
    # the parameter allows it explicitly
    names = NWBNames(allow_external_files_outside_dataset=True)
    with read_session(nwb, names, roots=(tmp_path / "data",)) as s:
        assert s.movie.paths()[0].resolve() == outside.resolve()
    # inside the dataset: fine
    inside = _with_external_movie(tmp_path / "b", tmp_path / "b" / "data" / "raw" / "x.tif")
    with read_session(inside, roots=(tmp_path / "b" / "data",)) as s:
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
    # inactivation declares opto.inactivation and stats (its mouse-level test's alpha/CI level)
    assert set(ctx.config.model_dump()) == {"data", "opto", "stats"}


# --- items 3-6: results that go stale or wrong without a word -----------------------------
def test_preprocess_outputs_are_keyed_by_parameters_and_inputs(tmp_path):
    """Neuropil 0.7 -> 0.3 changes every session's dF/F; an edited raw file is redone."""
    from thalamocortex.preprocess.stage import run

    data = tmp_path / "data"
    for ses in (1, 2):
        nwb = data / "sub-m1" / f"sub-m1_ses-{ses}.nwb"
        write_session(make_session(seed=ses, mouse="m1", session=ses, n_frames=300), nwb)
        plane, F, _ = write_fake_suite2p(
            nwb.parent / f"sub-m1_ses-{ses}_suite2p", n_frames=300, seed=ses
        )
        # neuropil not proportional to F, so that its coefficient matters to dF/F
        rng = np.random.default_rng(ses)
        np.save(plane / "Fneu.npy", (40 + 10 * rng.random(F.shape)).astype(np.float32))

    def dff_after(coef: float) -> dict[int, np.ndarray]:
        cfg = Config()
        cfg.preprocess.neuropil_coefficient = coef
        ctx = StageContext(data, tmp_path / "results", cfg, "preprocess")
        run(ctx)
        out = {}
        for ses in (1, 2):
            path = tmp_path / "results/preprocess/sessions/sub-m1" / f"sub-m1_ses-{ses}.nwb"
            with ctx.open(path) as s:
                out[ses] = np.asarray(s.imaging.dff_values)
        return out

    a = dff_after(0.7)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*.nwb")}
    again = dff_after(0.7)  # same key: kept, not rewritten
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    b = dff_after(0.3)
    for ses in (1, 2):
        np.testing.assert_array_equal(a[ses], again[ses])
        assert not np.allclose(a[ses], b[ses], equal_nan=True)
    # an edited raw input (F.npy of session 2) is processed again, session 1 is kept
    plane = data / "sub-m1" / "sub-m1_ses-2_suite2p" / "suite2p" / "plane0"
    np.save(plane / "F.npy", np.load(plane / "F.npy") * 2)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*.nwb")}
    dff_after(0.3)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*.nwb")}
    assert after["sub-m1_ses-1.nwb"] == before["sub-m1_ses-1.nwb"]
    assert after["sub-m1_ses-2.nwb"] != before["sub-m1_ses-2.nwb"]


def test_analysis_traces_are_keyed_by_parameters_and_inputs(tmp_path):
    """The preprocess stage's traces file is read only for the parameters, NWB names and
    session file it was made from; otherwise the traces are computed again."""
    import h5py

    from thalamocortex.preprocess.stage import key_file, run, session_traces, traces_path
    from thalamocortex.preprocess.traces import analysis_traces

    data, results = tmp_path / "data", tmp_path / "results"
    nwb = data / "sub-m1" / "sub-m1_ses-1.nwb"
    # F/Fneu only, neuropil not proportional to F: the coefficient changes dF/F
    s0 = make_session(mouse="m1", session=1, dff=False, events=False, stimulation=False)
    s0.imaging.Fneu[:] = 40 + 10 * np.random.default_rng(3).random(s0.imaging.Fneu.shape)
    write_session(s0, nwb)
    cfg = Config()
    cfg.preprocess.neuropil_coefficient = 0.7
    ctx = StageContext(data, results, cfg, "preprocess")
    run(ctx)
    saved = traces_path(results / "preprocess", "sub-m1_ses-1")
    assert saved.is_file() and key_file(saved).is_file()
    assert ".nwb" not in key_file(saved.with_suffix(".nwb")).name  # nwbinspector skips it
    with np.load(saved) as z:
        on_disk = z["dff"]
    other = cfg.preprocess.model_copy(update={"neuropil_coefficient": 0.3})
    with ctx.open(nwb) as s:
        same = session_traces(s, results, cfg.preprocess, cfg.data)
        np.testing.assert_array_equal(same.dff, on_disk)
        changed = session_traces(s, results, other, cfg.data)
        np.testing.assert_allclose(changed.dff, analysis_traces(s, other).dff)
        assert not np.allclose(changed.dff, on_disk, equal_nan=True)
    # the stage context reads through the same key (and needs preprocess declared)
    enc = StageContext(data, results, cfg, "encoding")
    with enc.open(nwb) as s:
        np.testing.assert_array_equal(enc.traces(s).dff, on_disk)
    # an edited session file: computed from the new content, not the stale file
    with h5py.File(nwb, "r+") as f:
        d = f["processing/ophys/Fluorescence/F/data"]
        d[...] = d[()] * 2.0
    with ctx.open(nwb) as s:
        np.testing.assert_allclose(
            session_traces(s, results, cfg.preprocess, cfg.data).dff,
            analysis_traces(s, cfg.preprocess).dff,
        )


def test_boutons_without_data_are_units_of_their_own_not_merged():
    """An all-NaN bouton would void every frame of the merging's correlations; it is left
    out of the merge (a unit without data, counted) and the axons are those of the session
    without it."""
    import dataclasses

    from thalamocortex.preprocess.traces import analysis_traces, nan_counts

    rng = np.random.default_rng(5)
    n_frames, n_rois = 900, 8
    s = make_session(
        mouse="m1",
        experiment="axon_imaging",
        n_rois=n_rois,
        n_frames=n_frames,
        dff=False,
        events=False,
        stimulation=False,
        footprints=False,
    )
    kernel = np.exp(-np.arange(60) / 20.0)
    spikes = (rng.random((n_frames, n_rois // 2)) < 0.02).astype(np.float64)
    calcium = np.stack([np.convolve(spikes[:, a], kernel)[:n_frames] for a in range(4)], 1)
    im = s.imaging
    im.F[:] = 100 * (1 + calcium[:, np.arange(n_rois) // 2]) + rng.normal(0, 3, im.F.shape)
    im.Fneu[:] = 50 + rng.normal(0, 2, im.Fneu.shape)
    keep = np.array([0, 1, 2, 4, 5, 7])
    sub = dataclasses.replace(
        s,
        imaging=dataclasses.replace(
            im,
            rois=im.rois.iloc[keep].reset_index(drop=True),
            F=im.F[:, keep].copy(),
            Fneu=im.Fneu[:, keep].copy(),
        ),
    )
    im.F[:, [3, 6]] = np.nan
    im.Fneu[:, [3, 6]] = np.nan
    full, ref = analysis_traces(s), analysis_traces(sub)
    assert nan_counts(full.dff) == (0, 2)
    alone = full.units[full.units["roi_type"] != "axon"]
    assert list(alone["roi_name"]) == ["m1-roi3", "m1-roi6"]
    assert np.isnan(full.dff[:, alone.index]).all()
    assert list(full.merge.labels[[3, 6]]) == [-1, -1]
    axons = (full.units["roi_type"] == "axon").to_numpy()
    pd.testing.assert_frame_equal(
        full.units[axons].reset_index(drop=True),
        ref.units.reset_index(drop=True),
        check_dtype=False,
    )
    np.testing.assert_array_equal(full.dff[:, axons], ref.dff)
    assert ref.merge.n_axons < len(keep)  # boutons of one axon were merged


@pytest.fixture(scope="module")
def one_mouse(tmp_path_factory):
    """The tiny cohort's MTh axon-imaging mouse alone (3 sessions)."""
    from thalamocortex.simulate.cohort import simulate_cohort
    from thalamocortex.simulate.params import preset

    root = tmp_path_factory.mktemp("one_mouse")
    simulate_cohort(preset("tiny").model_copy(update={"seed": 7}), root / "tiny", progress=False)
    data = root / "data"
    shutil.copytree(root / "tiny" / "sub-axMTh01", data / "sub-axMTh01")
    return data


def _tables(results: Path, stage: str) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted((results / stage).glob("*.parquet"))}


def _sync(**groups) -> Config:
    cfg = Config()
    cfg.pipeline.scheduler = "sync"
    for key, value in groups.items():
        group, name = key.split("__")
        setattr(getattr(cfg, group), name, value)
    return cfg


def test_only_the_stages_reading_a_parameter_rerun(one_mouse, tmp_path):
    from thalamocortex.pipeline.run import run_pipeline

    results = tmp_path / "results"
    first = run_pipeline(one_mouse, results, _sync(), stages=["encoding"], progress=False)
    assert all(t > 0 for t in first.values())
    n_folds = Config().encoding.n_folds
    cfg = _sync(encoding__n_folds=n_folds + 1)
    second = run_pipeline(one_mouse, results, cfg, stages=["encoding"], progress=False)
    assert {k for k, t in second.items() if t > 0} == {"encoding"}
    fresh = tmp_path / "fresh"
    run_pipeline(one_mouse, fresh, cfg, stages=["encoding"], progress=False)
    a, b = _tables(results, "encoding"), _tables(fresh, "encoding")
    assert a.keys() == b.keys() and len(a["rois"])
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    # behaviour parameters rerun behaviour and encoding, never preprocess or traces
    third = run_pipeline(
        one_mouse,
        results,
        _sync(encoding__n_folds=n_folds + 1, behavior__merge_gap_s=0.4),
        stages=["encoding"],
        progress=False,
    )
    assert {k for k, t in third.items() if t > 0} == {"behavior", "encoding"}


def test_an_in_place_edit_keeping_size_and_mtime_is_seen(one_mouse, tmp_path):
    import h5py

    from thalamocortex.pipeline.provenance import file_sha256
    from thalamocortex.pipeline.run import run_pipeline

    data = tmp_path / "data"
    shutil.copytree(one_mouse, data)
    results = tmp_path / "results"
    run_pipeline(data, results, _sync(), stages=["dataset"], progress=False)
    victim = sorted(data.glob("sub-*/*.nwb"))[0]
    st = victim.stat()
    with h5py.File(victim, "r+") as f:
        f["intervals/trials/start_time"][0] += 0.001
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (victim.stat().st_size, victim.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    again = run_pipeline(data, results, _sync(), stages=["dataset"], progress=False)
    assert again["dataset"] > 0  # not "up to date"
    prov = (results / "dataset" / "sessions.parquet.provenance.json").read_text()
    assert file_sha256(victim) in prov  # the provenance records the edited content
    assert run_pipeline(data, results, _sync(), stages=["dataset"], progress=False)["dataset"] == 0


def test_custom_nwb_names_reach_every_stage(one_mouse, tmp_path):
    """A renamed lever, declared once in config.data, is found by behaviour and encoding."""
    import h5py

    from thalamocortex.pipeline.run import run_pipeline

    data = tmp_path / "data"
    shutil.copytree(one_mouse, data)
    for p in data.glob("sub-*/*.nwb"):
        with h5py.File(p, "r+") as f:
            g = "processing/behavior/BehavioralTimeSeries"
            f.move(f"{g}/lever", f"{g}/joystick")
    cfg = _sync()
    cfg.data.lever_series = ["joystick"]
    run_pipeline(data, tmp_path / "results", cfg, stages=["encoding"], progress=False)
    enc = pd.read_parquet(tmp_path / "results" / "encoding" / "sessions.parquet")
    assert sorted(enc["session"]) == [1, 7, 14]
    excluded = pd.read_parquet(tmp_path / "results" / "dataset" / "excluded.parquet")
    assert excluded.empty


# --- item 15 ------------------------------------------------------------------------------
def test_stale_temporary_files_are_removed_at_stage_start(tmp_path):
    import time

    from thalamocortex.pipeline.run import clean_stale_tmp

    folder = tmp_path / "behavior"
    folder.mkdir()
    old = folder / ".trials.parquet.k3j2h1.tmp"
    nwb_tmp = folder / ".sub-a_ses-1.123.abcd1234.tmp.nwb"
    mine = folder / "notes.tmp"  # not our naming: kept
    for p in (old, nwb_tmp, mine):
        p.write_text("x")
        os.utime(p, (time.time() - 60, time.time() - 60))
    fresh = folder / ".sessions.parquet.zz.tmp"  # a concurrent writer's, newer than the run
    fresh.write_text("x")
    removed = clean_stale_tmp(folder, before=time.time() - 5)
    assert set(removed) == {old, nwb_tmp}
    assert mine.exists() and fresh.exists()


def test_report_of_a_missing_folder_is_an_error(tmp_path, capsys):
    from thalamocortex.cli import main

    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err and not (tmp_path / "nope").exists()
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2


# --- item 10: other tools' NWB files ------------------------------------------------------
def _foreign_session(path: Path, mouse: str, session: int, region: str | None, reward: str):
    """A session written by "another tool": every name differs from ours, the source region
    sits in an ROI-table column, an indicator name with a suffix."""
    import datetime as _dt

    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    rng = np.random.default_rng(session)
    nwb = NWBFile(
        session_description="foreign",
        identifier=f"{mouse}-{session}",
        session_start_time=_dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        session_id=f"ses-{session}",
        subject=Subject(subject_id=mouse, species="Mus musculus"),
        keywords=["axon_imaging"],
    )
    nwb.add_acquisition(
        TimeSeries(
            name="LeverPosition",
            data=rng.normal(0, 0.01, 20_000),
            unit="mm",
            rate=1000.0,
        )
    )
    nwb.add_trial_column("tone_onset", "cue")
    nwb.add_trial_column(reward, "reward")
    for i in range(4):
        nwb.add_trial(
            start_time=1.0 + 4 * i,
            stop_time=4.0 + 4 * i,
            tone_onset=1.5 + 4 * i,
            **{reward: 2.0 + 4 * i if i % 2 else np.nan},
        )
    plane = nwb.create_imaging_plane(
        name="plane0",
        optical_channel=OpticalChannel(name="ch", description="g", emission_lambda=510.0),
        device=nwb.create_device(name="scope"),
        excitation_lambda=920.0,
        indicator="GCaMP6s-axon",
        location="MOp",
    )
    mod = nwb.create_processing_module("ophys", "ophys")
    seg = ImageSegmentation()
    mod.add(seg)
    ps = seg.create_plane_segmentation(description="boutons", imaging_plane=plane)
    if region is not None:
        ps.add_column("brain_region", "source region of the axons")
    for i in range(3):
        m = np.zeros((8, 10))
        m[i, i + 1] = 1.0
        ps.add_roi(image_mask=m, **({"brain_region": region} if region else {}))
    fl = Fluorescence(name="Fluorescence")
    mod.add(fl)
    region_all = ps.create_roi_table_region("all", region=[0, 1, 2])
    for name in ("raw_F", "npil"):
        fl.add_roi_response_series(
            RoiResponseSeries(
                name=name,
                data=rng.random((300, 3)).astype(np.float32) + 1,
                rois=region_all,
                unit="a.u.",
                rate=15.0,
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


FOREIGN_NAMES = {
    "lever_series": ["LeverPosition"],
    "trial_columns": {"cue_time": ["tone_onset"]},
    "response_series": {"F": ["raw_F"], "Fneu": ["npil"]},
}


def test_config_names_extend_the_defaults():
    from thalamocortex.config import Config as C
    from thalamocortex.config import validate

    cfg = validate(C, {"data": FOREIGN_NAMES})
    assert cfg.data.lever_series[0] == "LeverPosition" and "lever" in cfg.data.lever_series
    # a partial dict keeps the other keys' defaults (events/dff were a KeyError before)
    assert cfg.data.response_series["F"][:2] == ["raw_F", "F"]
    assert cfg.data.response_series["events"] == NWBNames().response_series["events"]
    only = validate(C, {"data": {**FOREIGN_NAMES, "replace_default_names": True}})
    assert only.data.lever_series == ["LeverPosition"]


def test_foreign_files_region_reward_and_partial_names(tmp_path):
    names = NWBNames(**FOREIGN_NAMES)
    path = _foreign_session(tmp_path / "a.nwb", "f1", 3, "MTh", "water_delivery_time")
    with read_session(path, names) as s:
        assert s.info.region == "MTh"  # from the ROI table's column
        assert s.imaging.rois["region"].tolist() == ["MTh"] * 3
        assert s.imaging.fneu is not None and s.imaging.dff is None
        np.testing.assert_allclose(s.trials["reward_time"], [np.nan, 6.0, np.nan, 14.0])
    # a reward column under an unknown name is reported, not read as "never rewarded"
    bad = _foreign_session(tmp_path / "b.nwb", "f1", 4, "MTh", "juice_given")
    with pytest.raises(DataError, match=r"trials\.reward_time.*juice_given"):
        read_session(bad, names)
    with read_session(
        bad,
        NWBNames(
            **FOREIGN_NAMES
            | {"trial_columns": {"cue_time": ["tone_onset"], "reward_time": ["juice_given"]}}
        ),
    ) as s:
        assert np.isfinite(s.trials["reward_time"]).sum() == 2


def test_regions_from_a_sessions_sheet(tmp_path):
    from thalamocortex.data.layout import scan

    data = tmp_path / "data"
    for mouse in ("f1", "f2"):
        for ses in (1, 2):
            _foreign_session(
                data / f"sub-{mouse}" / f"sub-{mouse}_ses-{ses}.nwb", mouse, ses, None, "reward"
            )
    (data / "subjects.tsv").write_text("participant_id\tregion\nsub-f1\tMTh\nsub-f2\tM2\n")
    names = NWBNames(**FOREIGN_NAMES, sessions_sheet="subjects.tsv")
    table, problems = scan(data, names)
    assert not problems
    assert dict(zip(table["mouse"], table["region"])) == {"f1": "MTh", "f2": "M2"}
    ctx = StageContext(data, tmp_path / "r", Config(data=names), "behavior")
    with ctx.open(table["path"].iloc[-1]) as s:
        assert s.info.region == "M2" and set(s.imaging.rois["region"]) == {"M2"}
    # without the sheet (and no region column): the default, as before
    table, _ = scan(data, NWBNames(**FOREIGN_NAMES))
    assert set(table["region"]) == {"unknown"}


def test_indicator_names_match_robustly_and_a_fallback_warns(caplog):
    from thalamocortex.encoding.params import EncodingParams
    from thalamocortex.encoding.session import indicator_decay
    from thalamocortex.encoding.stage import _warn_decay_fallback

    table = EncodingParams().indicator_decay_s
    for name, want in [
        ("GCaMP6s", "GCaMP6s"),
        ("GCaMP6s-axon", "GCaMP6s"),
        ("axon-GCaMP6s", "GCaMP6s"),
        ("jGCaMP7f", "GCaMP7f"),
        ("AAV1-syn-jGCaMP8m", "GCaMP8m"),
        ("gcamp6f", "GCaMP6f"),
    ]:
        assert indicator_decay(name, table, 1.0) == (table[want], want)
    assert indicator_decay("RCaMP1", table, 1.0) == (1.0, None)
    out = [
        {
            "sessions": pd.DataFrame(
                [{"mouse": "m", "session": 1, "indicator": "RCaMP1", "indicator_matched": ""}]
            )
        }
    ]
    with caplog.at_level(logging.WARNING, logger="thalamocortex"):
        _warn_decay_fallback(out, EncodingParams())
    assert "RCaMP1" in caplog.text and "default_decay_s" in caplog.text


# --- item 11: lever parsing defaults ------------------------------------------------------
def test_parse_filter_is_the_labs_5_hz():
    """The lab's butter(4, 5/500) at 1 kHz is normalised to Nyquist: a 5 Hz cut-off."""
    from scipy import signal

    from thalamocortex.behavior.params import BehaviorParams

    p = BehaviorParams()
    assert p.lowpass_hz == 5.0 and p.resample_hz == 1000.0
    lab = signal.butter(4, 5 / 500, output="sos")  # MATLAB/scipy: Wn relative to Nyquist
    ours = signal.butter(p.filter_order, p.lowpass_hz, fs=p.resample_hz, output="sos")
    np.testing.assert_allclose(ours, lab)


def test_resting_velocity_estimate_does_not_drift_with_movement():
    """Estimated resting SD within 5 % of the truth in naive and expert sessions (the
    former envelope-quantile estimate was 1.6-2.9x, highest in experts)."""
    from thalamocortex.behavior.params import BehaviorParams
    from thalamocortex.behavior.parse import lowpass, parse_lever, resample, smoothed_velocity
    from thalamocortex.data.model import Lever
    from thalamocortex.simulate.behavior import mouse_template, simulate_behavior
    from thalamocortex.simulate.params import preset

    cfg, p = preset("demo"), BehaviorParams()
    for seed, progress in [(1, 0.0), (1, 1.0), (5, 1.0)]:
        rng = np.random.default_rng([seed, int(progress)])
        b = simulate_behavior(rng, cfg, mouse_template(rng, cfg.behavior), progress)
        clean = np.zeros(len(b.lever))
        for mv in b.movements:
            i0 = int(round(mv.onset * b.rate))
            i1 = min(len(clean), i0 + len(mv.samples))
            clean[i0:i1] += mv.samples[: i1 - i0]
        noise = resample(b.lever.astype(float) - clean, b.rate, p.resample_hz)
        v = smoothed_velocity(
            lowpass(noise, p.resample_hz, p.lowpass_hz, p.filter_order),
            p.resample_hz,
            p.velocity_smooth_samples,
        )
        truth = float(np.std(v[1000:-1000]))
        est = parse_lever(Lever(b.lever.astype(float), b.rate, "mm"), p).rest_velocity_sd
        assert est == pytest.approx(truth, rel=0.05), (seed, progress, est, truth)


# --- item 13: values validated at load, failures named at the stage boundary ------------
def test_bad_values_are_named_not_tracebacks(tmp_path, capsys):
    from thalamocortex.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("behavior:\n  lowpass_hz: 600\n")
    assert main(["behavior", str(tmp_path), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "behavior: lowpass_hz = 600.0 Hz must be below the Nyquist frequency" in err
    assert main(["behavior", str(tmp_path), "--scheduler", "lcoal"]) == 2
    err = capsys.readouterr().err
    assert "pipeline.scheduler: 'lcoal' is not 'local', 'sync' or a scheduler address" in err
    assert "Traceback" not in err


def test_an_unexpected_stage_failure_is_named(one_mouse, tmp_path, capsys, monkeypatch):
    from thalamocortex.cli import main
    from thalamocortex.pipeline import dataset_stage

    def boom(ctx):
        raise KeyError("a bug")

    monkeypatch.setattr(dataset_stage, "run", boom)
    out = tmp_path / "r"
    rc = main(["dataset", str(one_mouse), "--out", str(out), "--scheduler", "sync", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "stage dataset failed (KeyError: 'a bug')" in err and "pipeline.log" in err
    assert "Traceback" not in err
    assert "KeyError: 'a bug'" in (out / "pipeline.log").read_text()  # the traceback is there


# --- item 14: no loopback networking ------------------------------------------------------
def _abs(x):
    return abs(x)


def test_local_cluster_that_cannot_start_falls_back_to_sync(caplog):
    from thalamocortex.pipeline.runner import Executor

    with caplog.at_level(logging.WARNING, logger="thalamocortex"):
        with Executor("local", 2, progress=False, start_timeout_s=0.001) as ex:
            assert ex.map(_abs, [-1, -2, -3]) == [1, 2, 3]
            assert ex.scheduler == "sync"
    assert "not started within 0.001 s" in caplog.text


def test_run_without_loopback_networking_falls_back_quickly(one_mouse, tmp_path):
    """In a network namespace without loopback (a locked-down node) LocalCluster fails after
    ~60 s; the run notices at once and goes on in-process."""
    import subprocess

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode:
        pytest.skip("cannot create a network namespace here")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            "-m",
            "thalamocortex.cli",
            "preprocess",
            str(one_mouse),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # the instant loopback check decided (not the start timeout: its message says "not started
    # within"), so the run never waited for LocalCluster's ~60 s failure; no wall-clock bound
    # here: timings belong in benchmarks/, and a loaded machine makes them flaky
    assert "no loopback networking" in proc.stderr and "running in this process" in proc.stderr
    assert "not started within" not in proc.stderr


def test_inspect_takes_the_config(one_mouse, tmp_path, capsys):
    import h5py

    from thalamocortex.cli import main

    data = tmp_path / "data"
    shutil.copytree(one_mouse, data)
    for p in data.glob("sub-*/*.nwb"):
        with h5py.File(p, "r+") as f:
            g = "processing/behavior/BehavioralTimeSeries"
            f.move(f"{g}/lever", f"{g}/joystick")
    assert main(["inspect", str(data)]) == 2
    assert capsys.readouterr().err.count("no lever series") == 3
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  lever_series: [joystick]\n")
    assert main(["inspect", str(data), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "1 mice, 3 sessions" in out and "1,7,14" in out


# --- items 8, 9: lever gaps and units ------------------------------------------------------
def test_a_lever_gap_affects_only_its_own_frames():
    from thalamocortex.data.model import Lever, lever_to_frames

    x = np.sin(np.arange(100_000) / 300.0)
    bad = x.copy()
    bad[[5_000, 5_001, 40_000]] = np.nan
    bad[70_000] = np.inf
    frames = np.arange(3_000) / 30.0  # 30 Hz frames over the 100 s lever at 1 kHz
    a = lever_to_frames(Lever(x, 1000.0), frames)
    b = lever_to_frames(Lever(bad, 1000.0), frames)
    assert np.isfinite(b).all()  # every frame still has finite samples
    differ = np.flatnonzero(~np.isclose(a, b, rtol=0, atol=1e-3))
    assert set(differ) <= {150, 1200, 2100}  # the frames holding the bad samples
    gap = bad.copy()
    gap[10_000:10_200] = np.nan  # a 200 ms gap: its frames are NaN, no others
    c = lever_to_frames(Lever(gap, 1000.0), frames)
    assert set(np.flatnonzero(np.isnan(c))) == set(range(300, 306))


def test_lever_units_are_converted_or_refused(tmp_path):
    from thalamocortex.data.nwb.read import lever_unit

    assert lever_unit("cm") == ("mm", 10.0)
    assert lever_unit("meters") == ("mm", 1000.0)
    assert lever_unit("mV") == ("V", 1e-3)
    assert lever_unit("a.u.") is None and lever_unit("a.u.", "V") == ("V", 1.0)
    s = make_session(mouse="m1", session=1, stimulation=False)
    s.lever.units = "cm"
    path = write_session(s, tmp_path / "sub-m1" / "sub-m1_ses-1.nwb")
    with read_session(path) as back:
        assert back.lever.units == "mm"
        np.testing.assert_allclose(back.lever.values, s.lever.values * 10, rtol=1e-6)
    s.lever.units = "furlong"
    write_session(s, path, overwrite=True)
    with pytest.raises(DataError, match=r"field 'lever\.unit'.*'furlong'"):
        read_session(path)
    with read_session(path, NWBNames(lever_unit_fallback="mm")) as back:
        assert back.lever.units == "mm"
