"""Ways to damage a session file of a simulated dataset (tests/test_robustness.py).

Each function changes one session the way real data go wrong: a truncated copy, a zero-byte
file, an HDF5 file that is not NWB, a session without its lever, frame timestamps that do not
match the frames, ROIs without data, a lever with gaps or in another unit, too few trials, a
session recorded twice, stray files, a symlinked session (git-annex), a raw movie referenced
outside the dataset, a crafted pickle in a suite2p folder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

F = "processing/ophys/Fluorescence/F"
FNEU = "processing/ophys/Fluorescence/Fneu"
LEVER = "processing/behavior/BehavioralTimeSeries/lever/data"


def truncate(path: Path, fraction: float = 1 / 3) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def plain_hdf5(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(10)


def rewrite(src: Path, dst: Path, **changes) -> Path:
    """Copy a session to ``dst`` (another session number) with fields replaced."""
    from thalamocortex.data.layout import parse_session_filename
    from thalamocortex.data.nwb import read_session, write_session

    mouse, session = parse_session_filename(dst)
    with read_session(src, lazy=False) as s:
        info = dataclasses.replace(s.info, session=session, day=session)
        new = dataclasses.replace(s, info=info, _closer=None, **changes)
    write_session(new, dst, overwrite=True)
    return dst


def frame_clock(path: Path, delta: int) -> None:
    """Frame timestamps with ``delta`` more (or fewer) entries than frames."""
    with h5py.File(path, "r+") as f:
        g = f[F]
        n = g["data"].shape[0]
        rate = float(g["starting_time"].attrs["rate"])
        t0 = float(g["starting_time"][()])
        del g["starting_time"]
        ts = g.create_dataset("timestamps", data=t0 + np.arange(n + delta) / rate)
        ts.attrs["interval"] = 1
        ts.attrs["unit"] = "seconds"


def nan_rois(path: Path, rois: list[int]) -> None:
    with h5py.File(path, "r+") as f:
        for name in (F, FNEU):
            d = f[f"{name}/data"]
            x = d[()]
            x[:, rois] = np.nan
            d[...] = x


def lever_gaps(path: Path, fraction: float = 0.0007, seed: int = 0) -> int:
    """Short NaN gaps (and one +inf sample) in the lever; returns the number of bad samples."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "r+") as f:
        d = f[LEVER]
        x = d[()].astype(np.float64)
        n_bad = max(2, int(len(x) * fraction))
        starts = rng.choice(np.arange(100, len(x) - 100), size=max(1, n_bad // 4), replace=False)
        bad = np.unique(np.concatenate([s + np.arange(4) for s in starts]))
        x[bad] = np.nan
        x[bad[0] - 50] = np.inf
        d[...] = x.astype(d.dtype)
        return len(bad) + 1


def lever_in_cm(path: Path) -> None:
    """The same lever recorded in cm (values / 10, unit 'cm')."""
    with h5py.File(path, "r+") as f:
        d = f[LEVER]
        d[...] = (d[()].astype(np.float64) / 10.0).astype(d.dtype)
        d.attrs["unit"] = "cm"


def lever_unit(path: Path, unit: str) -> None:
    with h5py.File(path, "r+") as f:
        f[LEVER].attrs["unit"] = unit


def stray_files(root: Path, mouse_dir: Path) -> list[Path]:
    made = [
        mouse_dir / "notes.txt",
        mouse_dir / ".DS_Store",
        root / "README.md",
        root / "sub-empty" / "placeholder.txt",
    ]
    for p in made:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("stray")
    bak = mouse_dir / (sorted(mouse_dir.glob("*.nwb"))[0].name + ".bak")
    bak.write_bytes(b"backup")
    made.append(bak)
    return made


def symlink_into_annex(path: Path, annex: Path) -> Path:
    """Move a session file into an annex folder outside the dataset; leave a link."""
    annex.mkdir(parents=True, exist_ok=True)
    target = annex / f"{path.name}.object"
    shutil.move(path, target)
    path.symlink_to(target)
    return target


def suite2p_neighbour(path: Path, evil_marker: Path | None = None) -> Path:
    """A suite2p output folder next to a session, made from the session's own traces; with
    ``evil_marker`` its stat.npy pickle calls ``os.system("touch <marker>")``."""
    from thalamocortex.data.nwb import read_session

    plane = path.parent / f"{path.stem}_suite2p" / "plane0"
    plane.mkdir(parents=True)
    with read_session(path, lazy=False) as s:
        im = s.imaging
        rate = s.info.frame_rate
        stat = []
        for k in range(im.n_rois):
            yy, xx = np.mgrid[k % 10 * 6 : k % 10 * 6 + 4, k // 10 * 6 : k // 10 * 6 + 4]
            stat.append({"ypix": yy.ravel(), "xpix": xx.ravel(), "lam": np.ones(16)})
        np.save(plane / "F.npy", np.ascontiguousarray(im.f.T))
        np.save(plane / "Fneu.npy", np.ascontiguousarray(im.fneu.T))
        np.save(plane / "iscell.npy", np.ones((im.n_rois, 2)))
        np.save(plane / "settings.npy", {"fs": np.float64(rate)}, allow_pickle=True)
    if evil_marker is not None:

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {evil_marker}",))

        stat[0] = Evil()
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    return plane


def movie_outside(path: Path, outside: Path) -> None:
    """Give the session a raw movie whose external file lies outside the dataset."""
    from thalamocortex.data.model import RawMovie
    from thalamocortex.data.movie import write_tiff
    from thalamocortex.data.nwb import read_session, write_session

    with read_session(path, lazy=False) as s:
        im = s.imaging
        write_tiff(outside, np.ones((im.n_frames, 4, 4)), s.info.frame_rate)
        new = dataclasses.replace(
            s,
            movie=RawMovie(rate=s.info.frame_rate, frame_times=im.times, files=[outside]),
            _closer=None,
        )
    write_session(new, path, overwrite=True)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file below ``folder``: to show nothing was rewritten."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
