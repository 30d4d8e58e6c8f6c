"""NWB write + read of one session vs plain h5py on the same arrays (same run, same filters).

Session: 200 ROIs x 20,000 frames (F and Fneu, float32; ~33 min at 10 Hz) and a 1 h lever at
1 kHz (3.6 M samples, float32 on disk). The reference writes the same arrays with h5py alone,
with the same chunk shapes, gzip level and shuffle filter as ``write_session``, and reads them
back in full; the ratio NWB / h5py is the overhead of pynwb (object tree, validation, metadata)
on top of the unavoidable compression and disk work.

Run: ``.venv/bin/python benchmarks/bench_nwb.py`` (or ``make bench``); takes < 1 min.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from thalamocortex.data.model import Imaging, Lever, Session, SessionInfo
from thalamocortex.data.nwb import NWBWriteParams, read_session, write_session

N_ROIS = 200
N_FRAMES = 20_000
FRAME_RATE = 10.0
LEVER_RATE = 1000.0
LEVER_SECONDS = 3600


def _session(seed: int = 0) -> Session:
    """Realistic-looking (compressible like real traces) seeded arrays."""
    rng = np.random.default_rng(seed)
    # calcium-like: baseline + decaying transients + shot noise, rounded like a 16-bit digitiser
    spikes = (rng.random((N_FRAMES, N_ROIS)) < 0.01).astype(np.float32)
    kernel = np.exp(-np.arange(30) / 10.0).astype(np.float32)
    trans = np.apply_along_axis(lambda x: np.convolve(x, kernel)[:N_FRAMES], 0, spikes)
    F = np.round(200 + 80 * trans + 8 * rng.standard_normal((N_FRAMES, N_ROIS))).astype(np.float32)
    Fneu = np.round(120 + 5 * rng.standard_normal((N_FRAMES, N_ROIS))).astype(np.float32)
    n_lever = int(LEVER_SECONDS * LEVER_RATE)
    lever = np.cumsum(rng.normal(0, 0.002, n_lever)).astype(np.float32).astype(np.float64)
    rois = pd.DataFrame(
        {
            "roi_name": [f"roi{i}" for i in range(N_ROIS)],
            "roi_type": "soma",
            "region": "M1",
        }
    )
    starts = np.arange(0, N_FRAMES / FRAME_RATE - 10, 10.0)
    trials = pd.DataFrame(
        {
            "start_time": starts,
            "stop_time": starts + 5,
            "cue_time": starts + 1,
            "reward_time": starts + 2,
            "outcome": "rewarded",
            "light": False,
        }
    )
    return Session(
        info=SessionInfo(mouse="bench", session=1, experiment="axon_imaging", region="M1"),
        lever=Lever(lever, LEVER_RATE, "mm"),
        trials=trials,
        imaging=Imaging(rois=rois, F=F, Fneu=Fneu, frame_times=np.arange(N_FRAMES) / FRAME_RATE),
    )


def _h5py_write(path: Path, s: Session, params: NWBWriteParams) -> None:
    def opts(arr: np.ndarray) -> dict:
        row_bytes = int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize
        rows = int(max(1, min(arr.shape[0], params.chunk_kib * 1024 // row_bytes)))
        return {
            "chunks": (rows, *arr.shape[1:]),
            "compression": "gzip",
            "compression_opts": params.compression_level,
            "shuffle": params.shuffle,
        }

    lever = s.lever.values.astype(np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset("F", data=s.imaging.F, **opts(s.imaging.F))
        f.create_dataset("Fneu", data=s.imaging.Fneu, **opts(s.imaging.Fneu))
        f.create_dataset("lever", data=lever, **opts(lever))
        f.create_dataset("frame_times", data=s.imaging.times)


def _h5py_read(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in ("F", "Fneu", "lever", "frame_times")}


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(repeat: int = 1) -> dict:
    """Time NWB and h5py write + read; print one line each and the ratios; return the numbers."""
    params = NWBWriteParams()
    s = _session()
    raw_mb = (s.imaging.F.nbytes + s.imaging.Fneu.nbytes + s.lever.n_samples * 4) / 1e6
    with tempfile.TemporaryDirectory(prefix="bench_nwb_") as tmp:
        nwb_path = Path(tmp) / "s.nwb"
        h5_path = Path(tmp) / "s.h5"

        def nwb_read():
            with read_session(nwb_path, lazy=False) as back:
                assert back.imaging.F.shape == (N_FRAMES, N_ROIS)

        t_nwb_w = _best(lambda: write_session(s, nwb_path, overwrite=True, params=params), repeat)
        t_nwb_r = _best(nwb_read, repeat)
        t_h5_w = _best(lambda: _h5py_write(h5_path, s, params), repeat)
        t_h5_r = _best(lambda: _h5py_read(h5_path), repeat)
        nwb_mb = nwb_path.stat().st_size / 1e6
        h5_mb = h5_path.stat().st_size / 1e6
    out = {
        "nwb_write_s": t_nwb_w,
        "nwb_read_s": t_nwb_r,
        "h5py_write_s": t_h5_w,
        "h5py_read_s": t_h5_r,
        "nwb_mb": nwb_mb,
        "h5py_mb": h5_mb,
        "ratio_write": t_nwb_w / t_h5_w,
        "ratio_read": t_nwb_r / t_h5_r,
        "ratio_total": (t_nwb_w + t_nwb_r) / (t_h5_w + t_h5_r),
    }
    print(
        f"   session: {N_ROIS} ROIs x {N_FRAMES} frames (F+Fneu) + {LEVER_SECONDS} s lever at "
        f"{LEVER_RATE:.0f} Hz = {raw_mb:.0f} MB raw; gzip {params.compression_level} + shuffle"
    )
    print(f"   NWB  (pynwb): write {t_nwb_w:6.2f} s  read {t_nwb_r:6.2f} s  file {nwb_mb:6.1f} MB")
    print(f"   h5py (plain): write {t_h5_w:6.2f} s  read {t_h5_r:6.2f} s  file {h5_mb:6.1f} MB")
    print(
        f"   ratio NWB/h5py: write {out['ratio_write']:.2f}x  read {out['ratio_read']:.2f}x  "
        f"write+read {out['ratio_total']:.2f}x"
    )
    return out


if __name__ == "__main__":
    main()
