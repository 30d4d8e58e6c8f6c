"""The preprocess stage on tiny datasets: bouton merging from NWB traces (fast) and the raw-movie
route (TIFF -> suite2p -> NWB -> tracking; needs the imaging extra)."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from conftest import make_session, spontaneous_dff
from thalamocortex.config import Config
from thalamocortex.data.model import Imaging, RawMovie
from thalamocortex.data.nwb import write_session
from thalamocortex.pipeline.context import StageContext
from thalamocortex.preprocess.dff import artefact_mask
from thalamocortex.preprocess.stage import run

RATE = 30.0


def _bouton_session(session: int, seed: int):
    rng = np.random.default_rng(seed)
    n_frames = 3000
    base = make_session(
        seed=seed,
        mouse="A1",
        session=session,
        experiment="axon_imaging",
        n_frames=n_frames,
        n_rois=2,
        stimulation=True,
    )
    axon = np.repeat(np.arange(6), [1, 2, 3, 4, 2, 3])
    kernel = np.exp(-np.arange(90) / (0.7 * RATE))
    spikes = (rng.random((n_frames, 6)) < 0.05 / RATE * 30) * rng.uniform(0.8, 2, (n_frames, 6))
    sig = np.stack([np.convolve(spikes[:, a], kernel)[:n_frames] for a in range(6)], 1)
    dff = sig[:, axon] + rng.normal(0, 0.1, (n_frames, len(axon)))
    fneu = 50 + rng.normal(0, 3, dff.shape)
    F = (80 * (1 + dff) + 0.7 * fneu).astype(np.float32)
    rois = pd.DataFrame(
        {"roi_name": [f"b{k}" for k in range(len(axon))], "roi_type": "bouton", "region": "MTh"}
    )
    im = Imaging(rois=rois, F=F, Fneu=fneu.astype(np.float32), frame_times=base.imaging.times)
    return dataclasses.replace(base, imaging=im), axon


def test_stage_merges_boutons_from_nwb(tmp_path):
    data = tmp_path / "data"
    truth = {}
    for ses in (1, 2):
        s, axon = _bouton_session(ses, seed=ses)
        write_session(s, data / "sub-A1" / f"sub-A1_ses-{ses}.nwb")
        truth[ses] = axon
    cfg = Config()
    cfg.pipeline.scheduler = "sync"
    ctx = StageContext(data, tmp_path / "results", cfg, "preprocess")
    run(ctx)
    tab = pd.read_parquet(tmp_path / "results" / "preprocess" / "sessions.parquet")
    assert tab["n_boutons"].tolist() == [15, 15] and (tab["source"] == "nwb").all()
    assert (tab["n_blanked"] > 0).all()  # the session's pulses were blanked
    b = pd.read_parquet(tmp_path / "results" / "preprocess" / "boutons.parquet")
    for ses in (1, 2):
        got = b[b["session"] == ses].sort_values("roi_name", key=lambda s: s.str[1:].astype(int))
        assert adjusted_rand_score(truth[ses], got["axon"]) >= 0.9
    ax = pd.read_parquet(tmp_path / "results" / "preprocess" / "axons.parquet")
    assert ax.groupby("session")["n_boutons"].sum().tolist() == [15, 15]
    assert (tmp_path / "results" / "preprocess" / "tracking.parquet").is_file()
    from thalamocortex.report.sections.preprocess import render

    html = render(tmp_path / "results", tmp_path / "figs")
    assert "boutons →" in html and "<figcaption>" in html
    # the analysis traces every later stage reads: one column per merged axon, dF/F once
    from thalamocortex.preprocess.stage import read_traces, traces_path

    for ses in (1, 2):
        tr = read_traces(traces_path(tmp_path / "results" / "preprocess", f"sub-A1_ses-{ses}"))
        assert (tr.units["roi_type"] == "axon").all()
        assert len(tr.units) == (ax["session"] == ses).sum() == tr.dff.shape[1]
        assert tr.units["n_boutons"].sum() == 15
    assert "<img" in html


@pytest.mark.imaging
@pytest.mark.skipif(importlib.util.find_spec("suite2p") is None, reason="needs suite2p")
def test_stage_raw_movies_to_nwb_and_tracking(tmp_path):
    from thalamocortex.simulate.movies import simulate_movie, write_tiff

    data = tmp_path / "data"
    # 90 s at 15 Hz per day in the simulator's default regime (sparse bursty firing, realistic
    # photon counts); the former 10-s movies of tonic 1-spike bumps are too short for
    # functional detection at realistic SNR
    rate, n_frames, n_cells = 15.0, 1350, 12
    # the three ways a raw movie reaches the stage: a TIFF next to the session file, frames
    # inside the NWB file, external TIFF files referenced by the NWB file
    routes = {1: ("tiff", (0, 0)), 2: ("nwb_movie", (3, -2)), 3: ("nwb_movie", (-2, 1))}
    for ses, (_route, shift) in routes.items():
        s = make_session(
            seed=ses, mouse="B2", session=ses, n_frames=n_frames, n_rois=2, frame_rate=rate
        )
        dff = spontaneous_dff(n_frames, n_cells, rate, seed=ses)
        times = 0.5 + np.arange(n_frames) / rate
        pu = s.stimulation.pulses
        light = np.stack([pu["start_time"], pu["start_time"] + pu["duration"]], 1)
        # same cells every day (same seed for the scene), the field moved between days
        m = simulate_movie(dff, ["soma"] * n_cells, times, light_windows=light, seed=7)
        movie = np.roll(m.movie, shift, axis=(1, 2))
        nwb = data / "sub-B2" / f"sub-B2_ses-{ses}.nwb"
        if ses == 1:
            write_tiff(nwb.with_suffix(".tif"), movie, rate)
        elif ses == 2:
            raw = np.clip(np.rint(movie), 0, 65535).astype(np.uint16)  # as a digitiser
            s.movie = RawMovie(rate=rate, starting_time=times[0], data=raw)
        else:
            tif = write_tiff(data / "sub-B2" / "raw" / "day3.tif", movie, rate)
            s.movie = RawMovie(rate=rate, frame_times=times, files=[tif])
        # the file's imaging supplies the frame times; its ROIs are replaced by the movie's
        write_session(s, nwb)
    cfg = Config()
    cfg.pipeline.scheduler = "sync"  # the stage's detection defaults (suite2p's own soma route)
    ctx = StageContext(data, tmp_path / "results", cfg, "preprocess")
    run(ctx)
    out = tmp_path / "results" / "preprocess"
    tab = pd.read_parquet(out / "sessions.parquet")
    assert tab["source"].tolist() == [r for r, _ in routes.values()]
    # old target >= 9 ROIs of 10 somata per day on the 10-s movies; on these realistic movies
    # suite2p's soma route (with its classifier) keeps 14, 12 and 8 ROIs of 12 somata (out-of-
    # focus cells add ROIs, dim or silent somata are missed; see test_preprocess_suite2p)
    assert (tab["n_rois"] >= 7).all(), tab["n_rois"].tolist()
    # outputs reference raw files in the dataset: open them with the run's opener, which
    # knows the dataset folder (external files elsewhere are refused)
    with ctx.open(tab["output"].iloc[0]) as back:
        back.load()
        assert back.imaging.footprints is not None and back.imaging.dff is not None
        blank = np.isnan(back.imaging.dff).all(axis=1)
        want = artefact_mask(back.imaging.times, back.stimulation.pulses, rate)
        assert want.sum() >= 20 and np.array_equal(blank, want)
    motion = pd.read_parquet(out / "motion.parquet")
    assert len(motion) == 3 * n_frames
    tr = pd.read_parquet(out / "tracking.parquet")
    days = tr[tr["roi"] >= 0].groupby("cell")["session"].nunique()
    # the cells are found again on days 2 and 3 (old target >= 9 of 10; observed 6 cells on
    # all three days: each day's detection misses different quiet cells)
    assert (days == 3).sum() >= 5, days.tolist()
    # the outputs keep a reference to external raw files, never a copy of internal frames
    for ses, path in zip(tab["session"], tab["output"]):
        with ctx.open(path) as back:
            if ses == 2:
                assert back.movie is None
            else:
                assert back.movie.files is not None and back.movie.paths()[0].is_file()
    # resume: a second run keeps the session files
    mtime = [p.stat().st_mtime for p in sorted((out / "sessions").rglob("*.nwb"))]
    run(StageContext(data, tmp_path / "results", cfg, "preprocess"))
    assert mtime == [p.stat().st_mtime for p in sorted((out / "sessions").rglob("*.nwb"))]
    # ... and still reports every session's motion
    pd.testing.assert_frame_equal(pd.read_parquet(out / "motion.parquet"), motion)
