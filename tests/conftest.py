"""Shared fixtures: small seeded in-memory sessions (no simulator needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.data.model import Imaging, Lever, Session, SessionInfo, Stimulation


def make_session(
    seed: int = 0,
    mouse: str = "M1",
    session: int = 1,
    experiment: str = "all_optical",
    n_rois: int = 6,
    n_frames: int = 300,
    frame_rate: float = 30.0,
    lever_rate: float = 1000.0,
    n_trials: int = 8,
    footprints: bool = True,
    dff: bool = True,
    events: bool = True,
    stimulation: bool = True,
    imaging: bool = True,
    irregular_frames: bool = False,
) -> Session:
    """A small, fully populated, seeded Session.

    Frames are regular at ``frame_rate`` (or jittered by up to 1 ms when ``irregular_frames``);
    the lever covers the imaging period; trials are 1 s long, every ``duration / n_trials`` s.
    """
    rng = np.random.default_rng(seed)
    duration = n_frames / frame_rate
    info = SessionInfo(
        mouse=mouse,
        session=session,
        experiment=experiment,
        region="MTh" if experiment == "axon_imaging" else "M1",
        indicator="GCaMP6s",
        frame_rate=frame_rate if imaging else float("nan"),
        day=session + 1,
        opsin="ChrimsonR" if stimulation else "none",
        session_start_time="2025-03-04T09:30:00+00:00",
        description=f"test session {session} of {mouse}",
    )
    n_lever = int(duration * lever_rate)
    lever = Lever(
        data=np.cumsum(rng.normal(0, 0.01, n_lever)),
        rate=lever_rate,
        units="mm",
        t0=0.25,
    )
    period = duration / n_trials
    starts = np.arange(n_trials) * period + 0.1
    rewarded = rng.random(n_trials) < 0.6
    trials = pd.DataFrame(
        {
            "start_time": starts,
            "stop_time": starts + 1.0,
            "cue_time": starts + 0.2,
            "reward_time": np.where(rewarded, starts + 0.6, np.nan),
            "outcome": np.where(rewarded, "rewarded", "miss"),
            "light": rng.random(n_trials) < 0.3,
            "movement_onset": starts + rng.uniform(0.25, 0.5, n_trials),
            "n_presses": rng.integers(0, 4, n_trials),
        }
    )
    im = None
    if imaging:
        times = np.arange(n_frames) / frame_rate + 0.5
        if irregular_frames:
            times = times + rng.uniform(0, 1e-3, n_frames)
        F = (100 + 10 * rng.standard_normal((n_frames, n_rois))).astype(np.float32)
        Fneu = (50 + 5 * rng.standard_normal((n_frames, n_rois))).astype(np.float32)
        d = (F - 0.7 * Fneu) / 65.0 - 1.0
        d[:3] = np.nan  # blanked artefact frames
        ev = np.where(rng.random((n_frames, n_rois)) < 0.02, rng.random((n_frames, n_rois)), 0)
        rois = pd.DataFrame(
            {
                "roi_name": [f"{mouse}-roi{i}" for i in range(n_rois)],
                "roi_type": ["bouton" if experiment == "axon_imaging" else "soma"] * n_rois,
                "region": [info.region] * n_rois,
                "axon_id": np.arange(n_rois) // 2,
                "snr": rng.uniform(1, 5, n_rois),
            }
        )
        fps = None
        if footprints:
            fps = []
            for _ in range(n_rois):
                k = int(rng.integers(3, 12))
                fps.append(
                    np.column_stack(
                        [rng.integers(0, 64, k), rng.integers(0, 80, k), rng.random(k)]
                    ).astype(np.float64)
                )
        im = Imaging(
            rois=rois,
            F=F,
            Fneu=Fneu,
            frame_times=times,
            dff=d.astype(np.float32) if dff else None,
            events=ev.astype(np.float32) if events else None,
            footprints=fps,
            image_shape=(64, 80),
            mean_image=rng.random((64, 80)).astype(np.float32) if footprints else None,
        )
    stim = None
    if stimulation:
        n_p = 5
        stim = Stimulation(
            pulses=pd.DataFrame(
                {
                    "start_time": np.sort(rng.uniform(1, duration - 1, n_p)).round(3),
                    "duration": np.full(n_p, 0.25),
                    "power": rng.uniform(1, 10, n_p),
                    "target": ["MTh axons in M1"] * n_p,
                    "pattern": [f"p{i % 2}" for i in range(n_p)],
                }
            ),
            wavelength_nm=640.0,
            site_description="MTh axons in the imaged M1 field",
            device="laser",
        )
    return Session(info=info, lever=lever, trials=trials, imaging=im, stimulation=stim)


def spontaneous_dff(
    n_frames: int, n_cells: int, frame_rate: float, seed: int = 0, extra_spikes=None
) -> np.ndarray:
    """Noise-free dF/F (n_frames, n_cells) of somata in the simulator's default regime.

    Sparse bursty spiking with heterogeneous rates and some nearly silent cells
    (``SpikingParams`` defaults), GCaMP6s with per-cell amplitude and decay
    (``IndicatorParams`` defaults), no behaviour: what a standalone test movie of somata
    should show (the realistic regime of issue 10, not tonic 1-spike bumps).
    ``extra_spikes`` (n_frames, n_cells), optional: spike counts added to the spontaneous
    ones (e.g. photostimulation-evoked spikes).
    """
    from thalamocortex.simulate.activity import Indicator, burn_in_frames
    from thalamocortex.simulate.circuits import background_spikes
    from thalamocortex.simulate.params import IndicatorParams, SpikingParams

    rng = np.random.default_rng(seed)
    ip = IndicatorParams()
    burn = burn_in_frames(ip, frame_rate, 2.0)
    times = np.arange(n_frames) / frame_rate
    counts = background_spikes(
        rng, SpikingParams(), n_cells, times, [], frame_rate, related_fraction=0.0, burn_in=burn
    )
    if extra_spikes is not None:
        counts = counts.copy()
        counts[burn:] += np.asarray(extra_spikes, dtype=counts.dtype)
    ind = Indicator(ip)
    amp, dec = ind.cell_factors(rng, n_cells)
    return ind.dff(counts, frame_rate, amp, dec)[burn:]


@pytest.fixture
def small_session() -> Session:
    """An all-optical session: 6 ROIs x 300 frames, 1 kHz lever, 8 trials, 5 pulses."""
    return make_session()


@pytest.fixture
def session_factory():
    """The :func:`make_session` builder, for tests that need variants."""
    return make_session


@pytest.fixture(scope="session")
def real_movie():
    """Path of the real mouse two-photon movie (``tests/_realdata.py``), downloaded on first use.

    Without network access the test is skipped, unless ``THALAMOCORTEX_REQUIRE_REALDATA`` is set
    (CI sets it), in which case it fails.
    """
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _realdata import real_movie_path

    try:
        return real_movie_path()
    except Exception as err:  # no network, no pip: say so
        if os.environ.get("THALAMOCORTEX_REQUIRE_REALDATA"):
            pytest.fail(f"real movie unavailable: {err}")
        pytest.skip(f"real movie unavailable: {err}")
