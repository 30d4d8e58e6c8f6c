"""Regenerate the damaged-dataset table of ``docs/robustness.md`` from actual runs (issue 14).

The tiny simulated cohort (seed 7) is run once undamaged, then copied and damaged one session
at a time, each in a different way, with the damage of ``tests/test_robustness.py`` (the same
functions, imported from it, so the table and the test cannot drift apart). ``thalamocortex
run`` of the damaged copy, ``run --strict`` on a copy of its results and ``inspect`` then
give, per case, the exit code, the message, what the damaged session finished and what was
lost against the undamaged run. About 1 CPU minute; run from the repository root:

    python docs/robustness_table.py [--work DIR]

and paste the printed Markdown into docs/robustness.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import _damage as dmg  # noqa: E402
from test_robustness import EXPECTED_EXCLUDED, FINISHING, _damage  # noqa: E402

#: session id -> the damage, in the table's order (keys must cover the test's cases)
CASES = {
    "sub-axM201_ses-1": "truncated file (first third kept)",
    "sub-inact01_ses-11": "zero-byte file",
    "sub-inact01_ses-10": "HDF5 file that is not NWB",
    "sub-inact01_ses-12": "no lever series",
    "sub-inact01_ses-13": "lever entirely NaN",
    "sub-axM201_ses-7": "frame clock longer than the frames (+5 timestamps)",
    "sub-axM201_ses-8": "frame clock shorter than the frames (−5 timestamps)",
    "sub-axM201_ses-14": "3 all-NaN ROIs, and NaN/inf lever samples (0.07 %)",
    "sub-inact01_ses-14": "2 trials",
    "sub-axMTh01_ses-14": "lever recorded in cm (the others in mm)",
    "sub-inact01_ses-9": "lever in an unknown unit ('furlong')",
    "sub-axMTh01_ses-7": "duplicate session (`ses-7` and `ses-07`)",
    "inact_session9": "file not named `sub-<mouse>_ses-<n>.nwb`",
    "sub-axMTh01_ses-1": "symlinked session (git-annex), suite2p output next to the link",
    "sub-aoCtrl01_ses-1": "raw movie referenced outside the dataset",
    "sub-aoCtrl01_ses-14": "crafted pickle in the suite2p `stat.npy`",
    "sub-aoOpsin01_ses-1": "healthy",
    "sub-aoOpsin01_ses-14": "healthy",
}
STRAY = "stray files (`notes.txt`, `.DS_Store`, `README.md`, `*.nwb.bak`, an empty `sub-empty/`)"
#: per-session tables compared with the undamaged run: (stage, table)
TABLES = [
    ("preprocess", "sessions"),
    ("behavior", "trials"),
    ("encoding", "rois"),
    ("opto", "neurons"),
    ("inactivation", "sessions"),
]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "thalamocortex.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def rows_of(results: Path, stage: str, name: str, mouse: str, session: int) -> pd.DataFrame:
    path = results / stage / f"{name}.parquet"
    if not path.is_file():
        return pd.DataFrame()
    t = pd.read_parquet(path)
    return t[(t["mouse"].astype(str) == mouse) & (t["session"] == session)]


def abridge(reason: str, data: Path) -> str:
    text = reason.replace(str(data.parent) + "/", "").replace(str(data) + "/", "")
    text = text.replace("dataset/", "").replace("|", "\\|")
    return text if len(text) <= 200 else text[:197] + "…"


def traces_changes(results: Path, res0: Path, sid: str) -> list[str]:
    """The analysis units (dF/F columns) of a session that differ from the undamaged run."""
    a = results / "preprocess" / "traces" / f"{sid}.npz"
    b = res0 / "preprocess" / "traces" / f"{sid}.npz"
    if not (a.is_file() and b.is_file()):
        return []
    with np.load(a) as x, np.load(b) as y:
        na, nb = list(x["roi_name"]), list(y["roi_name"])
        same = sum(
            np.array_equal(x["dff"][:, na.index(n)], y["dff"][:, nb.index(n)], equal_nan=True)
            for n in nb
            if n in na
        )
    if same == len(nb) == len(na):
        return []
    return [f"dF/F: {same} of the undamaged run's {len(nb)} units unchanged, {len(na)} units now"]


def lever_nan_frames(path: Path) -> int:
    from thalamocortex.data.model import lever_to_frames
    from thalamocortex.data.nwb import read_session

    with read_session(path) as s:
        return int(np.isnan(lever_to_frames(s.lever, s.imaging.times)).sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temp)")
    args = ap.parse_args(argv)
    assert set(EXPECTED_EXCLUDED) | set(FINISHING) <= set(CASES), "a test case has no row"
    work = args.work or Path(tempfile.mkdtemp(prefix="robustness_"))
    work.mkdir(parents=True, exist_ok=True)
    pristine, res0 = work / "pristine", work / "results_pristine"
    for p in (pristine, res0, work / "dataset", work / "outside", work / "results"):
        shutil.rmtree(p, ignore_errors=True)
    assert (
        cli("simulate", "--preset", "tiny", "--out", str(pristine), "--seed", "7").returncode == 0
    )
    ok = cli("run", str(pristine), "--out", str(res0), "--scheduler", "sync", "--quiet")
    assert ok.returncode == 0, ok.stderr[-2000:]

    data = work / "dataset"
    shutil.copytree(pristine, data)
    info = _damage(data, work / "outside")
    results = work / "results"
    run = cli("run", str(data), "--out", str(results), "--scheduler", "sync", "--quiet")
    strict_dir = work / "results_strict"
    shutil.rmtree(strict_dir, ignore_errors=True)
    shutil.copytree(results, strict_dir)
    before = dmg.snapshot(strict_dir)
    strict = cli("run", str(data), "--out", str(strict_dir), "--scheduler", "sync", "--strict")
    unchanged = dmg.snapshot(strict_dir) == before
    inspect = cli("inspect", str(data), "--sessions")

    excl = pd.read_parquet(results / "dataset" / "excluded.parquet")
    errors = excl[excl["kind"] == "error"]
    strict_msg = [ln for ln in strict.stderr.splitlines() if ln.strip()][-1]
    lines = [
        f"One `thalamocortex run` of the damaged dataset: exit code {run.returncode}; "
        f"`run --strict` on a copy of its results: exit code {strict.returncode}, results "
        f"{'unchanged' if unchanged else 'CHANGED'}, message: "
        f"`{abridge(strict_msg, data)}`; `inspect --sessions`: exit code "
        f"{inspect.returncode}. Traceback on the console: "
        f"{'yes' if 'Traceback' in run.stderr + strict.stderr else 'none'}.",
        "",
        "| case | session | exit code (run / `--strict`) | message (abridged) "
        "| this session finished | data lost against the undamaged run |",
        "|---|---|---|---|---|---|",
    ]
    for sid, case in CASES.items():
        err = errors[(errors["session_id"] == sid) | (errors["path"].str.contains(f"/{sid}.nwb"))]
        m = re.match(r"sub-(.+)_ses-(\d+)$", sid)
        mouse, session = (m.group(1), int(m.group(2))) if m else (None, None)
        finished, lost = [], []
        for stage, name in TABLES:
            if mouse is None:
                continue
            got = rows_of(results, stage, name, mouse, session)
            want = rows_of(res0, stage, name, mouse, session)
            if len(got):
                finished.append(stage)
            if len(want) and len(got) < len(want):
                lost.append(f"{stage} {name}: {len(got)} of {len(want)} rows")
            if stage == "encoding" and len(got) and "cls" in got:
                nd = int((got["cls"] == "no_data").sum())
                if nd:
                    lost.append(f"{nd} of {len(got)} ROIs `no_data`")
        if sid == "sub-axM201_ses-14":
            n = lever_nan_frames(data / "sub-axM201" / f"{sid}.nwb")
            lost.append(f"{info['n_bad_lever']} lever samples → {n} NaN frames")
        if mouse is not None and not len(err):
            src = rows_of(results, "preprocess", "sessions", mouse, session)
            src0 = rows_of(res0, "preprocess", "sessions", mouse, session)
            if len(src) and len(src0) and src["source"].iloc[0] != src0["source"].iloc[0]:
                lost.append(
                    f"ROIs from the `{src['source'].iloc[0]}` source found beside it "
                    f"(undamaged run: `{src0['source'].iloc[0]}`)"
                )
            else:
                lost += traces_changes(results, res0, sid)
        if len(err):
            stage = err["stage"].iloc[0]
            code = f"{run.returncode} / {strict.returncode}"
            msg = abridge(err["reason"].iloc[0], data)
            if len(err) > 1:
                msg += f" (each of its {len(err)} files listed)"
            lost = [f"the session from `{stage}` on"] + lost
        else:
            code = f"{run.returncode} / {run.returncode}"
            msg = "— (not an error)"
            skips = excl[(excl["kind"] == "skipped") & (excl["session_id"] == sid)]
            for _, s in skips.iterrows():
                msg += f"; skipped by `{s['stage']}`: {abridge(s['reason'], data)}"
        lines.append(
            f"| {case} | `{sid}` | {code} | {msg} | {', '.join(finished) or 'nothing'} "
            f"| {'; '.join(lost) or 'none'} |"
        )
    stray_listed = excl["path"].str.contains("notes.txt|README|DS_Store|.bak|sub-empty").any()
    lines.append(
        f"| {STRAY} | — | {run.returncode} / {run.returncode} | "
        f"{'listed' if stray_listed else '— (ignored, not sessions)'} | — | none |"
    )
    print("\n".join(lines))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
