"""Small example recordings in the formats labs have, for the bring-your-own-data walk-through.

:func:`write_example_recordings` writes what a lab's acquisition computers leave behind — a
multi-page uint16 TIFF movie per imaging session (digitiser values above 32,767, as real
movies have), a lever trace as CSV (one column, 1 kHz, mm), trial events as CSV (one row per
cue / reward event) and a sessions sheet — so that ``thalamocortex convert`` can be shown and
tested end to end in seconds. The signals are simple on purpose (disc-shaped somata with
calcium transients on a flat background, lever presses as raised-cosine pushes after the
cue); they exercise the formats and the pipeline, not the analyses' accuracy, which the
in-silico experiment (:mod:`thalamocortex.simulate`) validates.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_example_recordings"]


def _movie(rng, n_frames: int, size: int, rate: float, n_cells: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    side = int(np.ceil(np.sqrt(n_cells)))
    step = size / side
    kernel = np.exp(-np.arange(int(3 * rate)) / (0.6 * rate))
    movie = np.full((n_frames, size, size), 9000.0)
    for k in range(n_cells):
        cy = step * (k // side + 0.5) + rng.uniform(-1, 1)
        cx = step * (k % side + 0.5) + rng.uniform(-1, 1)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 12).astype(float)
        spikes = (rng.random(n_frames) < 0.02) * rng.uniform(0.5, 1.5, n_frames)
        trace = np.convolve(spikes, kernel)[:n_frames]
        movie += disc[None] * (6000.0 + 25000.0 * trace)[:, None, None]
    movie += rng.normal(0, 500.0, movie.shape)
    return np.clip(np.rint(movie), 0, 65535).astype(np.uint16)


def _lever(rng, duration: float, rate: float, cues: np.ndarray):
    """Lever (mm) with one press after most cues; returns (trace, reward times)."""
    t = np.arange(int(duration * rate)) / rate
    x = rng.normal(0, 0.005, len(t))
    rewards = []
    for cue in cues:
        if rng.random() < 0.2:
            continue  # a miss
        onset = cue + rng.uniform(0.2, 0.6)
        length = rng.uniform(0.6, 1.0)
        inside = (t >= onset) & (t < onset + length)
        x[inside] += 2.0 * np.sin(np.pi * (t[inside] - onset) / length) ** 2
        rewards.append(onset + 0.35 * length)  # threshold crossing -> reward
    return x, np.array(rewards)


def write_example_recordings(
    folder: str | os.PathLike, seed: int = 0, n_frames: int = 900, size: int = 64
) -> Path:
    """Write example raw recordings of two mice and their sessions sheet.

    * mouse ``A``, session 1: somata imaged during the cued lever task (movie, lever, events);
    * mouse ``B``, session 1: somata imaged without behaviour (movie only).

    Parameters
    ----------
    folder : path-like
        Created if needed; files go into ``raw/`` and the sheet is ``sessions.csv``.
    seed : int
    n_frames : int
        Frames per movie (30 Hz).
    size : int
        Field of view (px, square).

    Returns
    -------
    Path of the sessions sheet.
    """
    import tifffile

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rate, lever_rate = 30.0, 1000.0
    duration = n_frames / rate
    for mouse in ("A", "B"):
        tifffile.imwrite(
            raw / f"{mouse}_day1_00001.tif",
            _movie(rng, n_frames, size, rate, n_cells=9),
            photometric="minisblack",
        )
    cues = np.arange(2.0, duration - 2.0, 3.0)
    lever, rewards = _lever(rng, duration, lever_rate, cues)
    pd.DataFrame({"lever_mm": lever.round(5)}).to_csv(raw / "A_day1_lever.csv", index=False)
    events = pd.concat(
        [
            pd.DataFrame({"time": cues.round(4), "event": "cue"}),
            pd.DataFrame({"time": rewards.round(4), "event": "reward"}),
        ]
    ).sort_values("time")
    events.to_csv(raw / "A_day1_events.csv", index=False)
    sheet = pd.DataFrame(
        {
            "mouse": ["A", "B"],
            "session": [1, 1],
            "experiment": ["imaging", "imaging"],
            "region": ["M1", "M1"],
            "roi_type": ["soma", "soma"],
            "indicator": ["GCaMP6s", "GCaMP6s"],
            "frame_rate": [rate, rate],
            "movie": ["raw/A_day1_*.tif", "raw/B_day1_*.tif"],
            "lever": ["raw/A_day1_lever.csv", ""],
            "lever_rate": [lever_rate, np.nan],
            "lever_unit": ["mm", ""],
            "events": ["raw/A_day1_events.csv", ""],
        }
    )
    path = folder / "sessions.csv"
    sheet.to_csv(path, index=False)
    return path
