"""A damaged cohort end to end (issue 14): every bad session is excluded with its reason, every
healthy session finishes with the results it has in an undamaged cohort, and ``--strict``
stops without touching what was written.

The tiny simulated cohort is copied and damaged one session at a time, each in a different
way (tests/_damage.py); one ``thalamocortex run`` of the damaged copy then shows, per case,
the exit code, the message (file and field), which sessions finished and what was lost.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _damage as dmg  # noqa: E402
from thalamocortex.cli import main  # noqa: E402

#: session -> (stage that excludes it, words its reason must hold: file name and field)
EXPECTED_EXCLUDED: dict[str, tuple[str, tuple[str, ...]]] = {
    "sub-axMTh01_ses-7": ("dataset", ("sub-axMTh01_ses-7", "field 'session'", "2 files")),
    "sub-axM201_ses-1": ("dataset", ("sub-axM201_ses-1.nwb", "truncated")),
    "sub-axM201_ses-7": ("dataset", ("sub-axM201_ses-7.nwb", "imaging.F.timestamps")),
    "sub-axM201_ses-8": ("dataset", ("sub-axM201_ses-8.nwb", "imaging.F.timestamps")),
    "sub-aoCtrl01_ses-1": ("dataset", ("sub-aoCtrl01_ses-1.nwb", "external_file", "outside")),
    "sub-aoCtrl01_ses-14": ("preprocess", ("stat.npy", "refused to load posix.system")),
    "sub-inact01_ses-13": ("behavior", ("sub-inact01_ses-13.nwb", "lever.data", "NaN")),
    "sub-inact01_ses-12": ("dataset", ("sub-inact01_ses-12.nwb", "field 'lever'")),
    "sub-inact01_ses-11": ("dataset", ("sub-inact01_ses-11.nwb", "not an HDF5 file")),
    "sub-inact01_ses-10": ("dataset", ("sub-inact01_ses-10.nwb", "nwb_version")),
    "sub-inact01_ses-9": ("dataset", ("sub-inact01_ses-9.nwb", "lever.unit", "furlong")),
    "inact_session9": ("dataset", ("inact_session9.nwb", "sub-<mouse>_ses-<n>.nwb")),
}
#: sessions damaged in ways the analysis must absorb, and the healthy ones
FINISHING = {
    "sub-axMTh01_ses-1": "symlink into an annex, suite2p output next to the link",
    "sub-axMTh01_ses-14": "lever recorded in cm",
    "sub-axM201_ses-14": "3 all-NaN ROIs and NaN/inf lever samples",
    "sub-aoOpsin01_ses-1": "healthy",
    "sub-aoOpsin01_ses-14": "healthy",
    "sub-inact01_ses-14": "2 trials",
}


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    return subprocess.run(
        [sys.executable, "-m", "thalamocortex.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    data = root / "pristine"
    assert main(["simulate", "--preset", "tiny", "--out", str(data), "--seed", "7", "--quiet"]) == 0
    results = root / "results_pristine"
    assert main(["run", str(data), "--out", str(results), "--scheduler", "sync", "--quiet"]) == 0
    return data, results


def _damage(data: Path, outside: Path) -> dict:
    ax, ax2 = data / "sub-axMTh01", data / "sub-axM201"
    ao, inact = data / "sub-aoCtrl01", data / "sub-inact01"
    info = {}
    dmg.suite2p_neighbour(ax / "sub-axMTh01_ses-1.nwb")
    dmg.symlink_into_annex(ax / "sub-axMTh01_ses-1.nwb", outside / "annex")
    shutil.copy(ax / "sub-axMTh01_ses-7.nwb", ax / "sub-axMTh01_ses-07.nwb")
    dmg.lever_in_cm(ax / "sub-axMTh01_ses-14.nwb")
    dmg.truncate(ax2 / "sub-axM201_ses-1.nwb")
    # a frame clock 5 timestamps longer (session 7) and, on a copy of it, 5 shorter (session 8)
    dmg.rewrite(ax2 / "sub-axM201_ses-7.nwb", ax2 / "sub-axM201_ses-8.nwb")
    dmg.frame_clock(ax2 / "sub-axM201_ses-7.nwb", +5)
    dmg.frame_clock(ax2 / "sub-axM201_ses-8.nwb", -5)
    dmg.nan_rois(ax2 / "sub-axM201_ses-14.nwb", [0, 1, 2])
    info["n_bad_lever"] = dmg.lever_gaps(ax2 / "sub-axM201_ses-14.nwb")
    dmg.movie_outside(ao / "sub-aoCtrl01_ses-1.nwb", outside / "elsewhere" / "movie.tif")
    info["marker"] = outside / "pwned"
    dmg.suite2p_neighbour(ao / "sub-aoCtrl01_ses-14.nwb", evil_marker=info["marker"])
    src = inact / "sub-inact01_ses-14.nwb"
    from thalamocortex.data.nwb import read_session

    with read_session(src, lazy=False) as s:
        lever, trials = s.lever, s.trials
    nan_lever = type(lever)(np.full(lever.n_samples, np.nan), lever.rate, lever.units, lever.t0)
    dmg.rewrite(src, inact / "sub-inact01_ses-13.nwb", lever=nan_lever)
    dmg.rewrite(src, inact / "sub-inact01_ses-12.nwb", lever=None)
    dmg.zero_bytes(inact / "sub-inact01_ses-11.nwb")
    dmg.plain_hdf5(inact / "sub-inact01_ses-10.nwb")
    dmg.rewrite(src, inact / "sub-inact01_ses-9.nwb")
    dmg.lever_unit(inact / "sub-inact01_ses-9.nwb", "furlong")
    shutil.copy(src, inact / "inact_session9.nwb")
    dmg.rewrite(src, src, trials=trials.iloc[:2].reset_index(drop=True))
    info["stray"] = dmg.stray_files(data, inact)
    return info


@pytest.fixture(scope="module")
def damaged(pristine, tmp_path_factory):
    data0, _ = pristine
    root = tmp_path_factory.mktemp("damaged")
    data = root / "dataset"
    shutil.copytree(data0, data)
    info = _damage(data, root / "outside")
    results = root / "results"
    proc = _cli("run", str(data), "--out", str(results), "--scheduler", "sync", "--quiet")
    return {"data": data, "results": results, "proc": proc, **info}


def _table(results: Path, stage: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(results / stage / f"{name}.parquet")


def _sid(df: pd.DataFrame) -> set[str]:
    return set("sub-" + df["mouse"].astype(str) + "_ses-" + df["session"].astype(str))


def test_damaged_run_finishes_and_lists_every_bad_session(damaged):
    proc = damaged["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (damaged["results"] / "report.html").is_file()
    excl = pd.read_parquet(damaged["results"] / "dataset" / "excluded.parquet")
    errors = excl[excl["kind"] == "error"]
    got = {}
    for _, r in errors.iterrows():
        key = r["session_id"] if r["session_id"] in EXPECTED_EXCLUDED else Path(r["path"]).stem
        got.setdefault(key, []).append(r)
    # the duplicate: both files of axMTh01 session 7 are listed
    assert len(got["sub-axMTh01_ses-7"]) == 2
    assert set(got) == set(EXPECTED_EXCLUDED)
    for sid, (stage, words) in EXPECTED_EXCLUDED.items():
        for r in got[sid]:
            assert r["stage"] == stage, (sid, r["stage"], r["reason"])
            for w in words:
                assert w in r["reason"], (sid, w, r["reason"])
            # on the console too, as a warning
            assert f"WARNING: [{stage}] session {r['session_id']} excluded" in proc.stderr
    assert len(errors) == len(EXPECTED_EXCLUDED) + 1
    # stray files are ignored, not sessions
    assert not excl["path"].str.contains("notes.txt|README|DS_Store|.bak|sub-empty").any()
    log = (damaged["results"] / "pipeline.log").read_text()
    assert log.count("excluded: ") >= len(EXPECTED_EXCLUDED)
    # a session cut to 2 trials finishes behaviour and is listed as skipped by inactivation
    # (too few light-on / light-off trials), not dropped without a word
    short = excl[(excl["session_id"] == "sub-inact01_ses-14") & (excl["stage"] == "inactivation")]
    assert len(short) == 1 and short["kind"].iloc[0] == "skipped", short
    assert "min_trials_per_condition" in short["reason"].iloc[0]


def test_healthy_sessions_finish_every_stage(damaged):
    res = damaged["results"]
    beh = _table(res, "behavior", "sessions")
    ok = _sid(beh[beh["status"] == "ok"])
    assert set(FINISHING) | {"sub-aoCtrl01_ses-14"} <= ok  # the crafted pickle is preprocess's
    before = {k for k, (stage, _) in EXPECTED_EXCLUDED.items() if stage in ("dataset", "behavior")}
    assert not ok & before
    enc = _sid(_table(res, "encoding", "sessions"))
    assert enc == {
        "sub-axMTh01_ses-1",
        "sub-axMTh01_ses-14",
        "sub-axM201_ses-14",
        "sub-aoOpsin01_ses-1",
        "sub-aoOpsin01_ses-14",
    }
    assert _sid(_table(res, "opto", "fractions")) == {"sub-aoOpsin01_ses-1", "sub-aoOpsin01_ses-14"}
    pre = _table(res, "preprocess", "sessions").set_index("session_id")
    # the symlinked session's raw data were found next to the link
    assert pre.loc["sub-axMTh01_ses-1", "source"] == "suite2p"
    assert not damaged["marker"].exists()  # the crafted pickle ran nothing


def test_healthy_sessions_keep_their_results(damaged, pristine):
    """Nothing of a healthy session is lost or changed by its damaged neighbours."""
    res, res0 = damaged["results"], pristine[1]
    for sid in ("sub-aoOpsin01_ses-1", "sub-aoOpsin01_ses-14"):
        with (
            np.load(res / "preprocess" / "traces" / f"{sid}.npz") as a,
            np.load(res0 / "preprocess" / "traces" / f"{sid}.npz") as b,
        ):
            np.testing.assert_array_equal(a["dff"], b["dff"])
    cols = ["mouse", "session", "roi", "cls", "p_movement", "contrast"]
    a, b = (_table(r, "encoding", "rois") for r in (res, res0))
    a, b = (x[x["mouse"] == "aoOpsin01"][cols].reset_index(drop=True) for x in (a, b))
    pd.testing.assert_frame_equal(a, b)
    a, b = (_table(r, "opto", "neurons") for r in (res, res0))
    a, b = (x[x["mouse"] == "aoOpsin01"].reset_index(drop=True) for x in (a, b))
    pd.testing.assert_frame_equal(a, b)
    # the session recorded in cm: the same movements as in mm
    cols = ["trial", "movement_onset", "reaction_time", "peak_amplitude"]
    a, b = (_table(r, "behavior", "trials") for r in (res, res0))
    sel = lambda t: t[(t["mouse"] == "axMTh01") & (t["session"] == 14)][cols]  # noqa: E731
    pd.testing.assert_frame_equal(
        sel(a).reset_index(drop=True), sel(b).reset_index(drop=True), rtol=1e-5
    )


def test_absorbed_damage_is_counted_not_hidden(damaged):
    res = damaged["results"]
    rois = _table(res, "encoding", "rois")
    r = rois[(rois["mouse"] == "axM201") & (rois["session"] == 14)].set_index("roi")
    assert (r.loc[[0, 1, 2], "cls"] == "no_data").all()
    assert r.loc[[0, 1, 2], "p_movement"].isna().all()
    assert (r.drop(index=[0, 1, 2])["cls"] != "no_data").all()
    ses = _table(res, "encoding", "sessions").set_index(["mouse", "session"])
    row = ses.loc[("axM201", 14)]
    assert row["n_rois_no_data"] == 3
    valid = r["cls"] != "no_data"
    assert row["frac_movement"] == pytest.approx(r.loc[valid, "movement_related"].mean())
    # 0.07 % NaN/inf lever samples: the session is still decoded
    assert np.isfinite(row["decode_r"])
    tr = _table(res, "preprocess", "sessions").set_index("session_id")
    assert tr.loc["sub-axM201_ses-14", "n_rois_no_data"] == 3
    assert tr.loc["sub-axM201_ses-14", "n_blanked"] == 0  # no light, nothing blanked


def test_strict_stops_and_changes_nothing(damaged, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(damaged["results"], results)
    before = dmg.snapshot(results)
    proc = _cli(
        "run", str(damaged["data"]), "--out", str(results), "--scheduler", "sync", "--strict"
    )
    assert proc.returncode == 2
    assert "--strict" in proc.stderr and ".nwb" in proc.stderr and "field" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert dmg.snapshot(results) == before


def test_inspect_reports_the_same_problems(damaged):
    proc = _cli("inspect", str(damaged["data"]), "--sessions")
    assert proc.returncode == 2
    excl = pd.read_parquet(damaged["results"] / "dataset" / "excluded.parquet")
    found = excl[excl["stage"] == "dataset"]
    assert len(found) == 11
    for reason in found["reason"]:
        assert reason in proc.stderr
    out = proc.stdout
    assert "5 mice, 8 sessions, 11 unusable file(s)" in out and "ground truth: yes" in out
    for col in ("frame rate (Hz)", "duration (min)", "ROIs", "trials", "raw data", "ground truth"):
        assert col in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("axMTh01"))
    # sessions 1 and 14 usable (7 recorded twice); session 1 has raw suite2p output beside it
    assert row[:4] == ["axMTh01", "axon_imaging", "MTh", "1,14"] and "1/2" in row


# --- kill -9 and resume -------------------------------------------------------------------
def _kill_when(args: list[str], marker: Path, delay_s: float) -> int:
    """Start the CLI, SIGKILL its process group ``delay_s`` after ``marker`` appears."""
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "thalamocortex.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    t0 = time.monotonic()
    while not marker.exists() and proc.poll() is None and time.monotonic() - t0 < 600:
        time.sleep(0.05)
    time.sleep(delay_s)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def _same_tables(a: Path, b: Path, stages: tuple[str, ...]) -> None:
    for stage in stages:
        names = sorted(p.relative_to(b) for p in (b / stage).rglob("*.parquet"))
        assert names == sorted(p.relative_to(a) for p in (a / stage).rglob("*.parquet"))
        for rel in names:
            x, y = (pd.read_parquet(r / rel) for r in (a, b))
            # timings and the results folder's own path differ between two runs
            volatile = [c for c in x.columns if c.startswith("seconds") or c == "output"]
            pd.testing.assert_frame_equal(x.drop(columns=volatile), y.drop(columns=volatile))


def test_kill_during_preprocess_then_resume_is_exact(pristine, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(pristine[0], data)
    for nwb in sorted(data.glob("sub-ax*/*_ses-1.nwb")):
        dmg.suite2p_neighbour(nwb)  # per-session outputs to be written (and interrupted)
    args = ["preprocess", str(data), "--scheduler", "sync", "--quiet", "--out"]
    killed = tmp_path / "killed"
    rc = _kill_when([*args, str(killed)], killed / "preprocess", 1.0)
    assert rc == -9  # killed inside the stage, not finished
    assert not (killed / "preprocess" / "_done.json").exists()
    assert main([*args, str(killed)]) == 0
    assert not list(killed.rglob("*.tmp")) and not list(killed.rglob("*.tmp.nwb"))
    fresh = tmp_path / "fresh"
    assert main([*args, str(fresh)]) == 0
    _same_tables(killed, fresh, ("preprocess",))
    for sid in ("sub-axM201_ses-1", "sub-axMTh01_ses-1"):
        with (
            np.load(killed / "preprocess" / "traces" / f"{sid}.npz") as x,
            np.load(fresh / "preprocess" / "traces" / f"{sid}.npz") as y,
        ):
            np.testing.assert_array_equal(x["dff"], y["dff"])


def test_kill_during_report_then_rebuild(pristine, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(pristine[1], results)
    (results / "report.html").unlink()
    shutil.rmtree(results / "figures", ignore_errors=True)
    rc = _kill_when(["report", str(results)], results / "figures", 0.5)
    assert rc == -9
    assert not (results / "report.html").exists()  # never half-written
    assert main(["report", str(results)]) == 0
    html = (results / "report.html").read_text()
    assert html.rstrip().endswith("</html>") and "<img" in html
    assert not list(results.rglob("*.tmp"))
