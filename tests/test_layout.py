"""Dataset layout: session paths, discovery, sessions.tsv, and bad datasets."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import make_session
from thalamocortex.data.errors import DataError
from thalamocortex.data.layout import (
    SESSION_COLUMNS,
    discover,
    parse_session_filename,
    session_path,
    write_sessions_table,
)
from thalamocortex.data.nwb import write_session


def test_session_path_and_parse(tmp_path):
    p = session_path(tmp_path, "MTh03", 12)
    assert p == tmp_path / "sub-MTh03" / "sub-MTh03_ses-12.nwb"
    assert parse_session_filename(p) == ("MTh03", 12)
    for bad in ("a_b", "a b", "", "a/b"):
        with pytest.raises(ValueError, match="mouse"):
            session_path(tmp_path, bad, 1)
    with pytest.raises(ValueError, match="session"):
        session_path(tmp_path, "A", -1)
    with pytest.raises(DataError, match=r"notes\.nwb.*sub-<mouse>_ses-<n>"):
        parse_session_filename("notes.nwb")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """3 sessions: mouse A sessions 1 (with light pulses) and 2 (without), mouse B session 14
    (inactivation, no imaging)."""
    root = tmp_path_factory.mktemp("dataset")
    sessions = [
        make_session(seed=1, mouse="A", session=1, n_rois=4, n_frames=120),
        make_session(
            seed=2,
            mouse="A",
            session=2,
            n_rois=5,
            n_frames=150,
            frame_rate=15.0,
            stimulation=False,
        ),
        make_session(
            seed=3, mouse="B", session=14, experiment="inactivation", imaging=False, n_trials=11
        ),
    ]
    for s in sessions[::-1]:  # written out of order: discover sorts
        write_session(s, session_path(root, s.info.mouse, s.info.session))
    return root


def test_discover_three_sessions(dataset):
    df = discover(dataset)
    assert list(df.columns) == list(SESSION_COLUMNS)
    assert df[["mouse", "session"]].values.tolist() == [["A", 1], ["A", 2], ["B", 14]]
    assert df["day"].tolist() == [2, 3, 15]
    assert df["experiment"].tolist() == ["all_optical", "all_optical", "inactivation"]
    assert df["region"].tolist() == ["M1", "M1", "M1"]
    assert df["n_rois"].tolist() == [4, 5, 0]
    assert df["n_frames"].tolist() == [120, 150, 0]
    assert df["n_trials"].tolist() == [8, 8, 11]
    np.testing.assert_allclose(df["frame_rate"].to_numpy()[:2], [30.0, 15.0], rtol=1e-12)
    assert np.isnan(df["frame_rate"].iloc[2])
    assert df["lever_rate"].tolist() == [1000.0, 1000.0, 1000.0]
    assert df["has_stimulation"].tolist() == [True, False, True]
    assert df["path"].iloc[2].endswith("sub-B/sub-B_ses-14.nwb")
    assert df["n_rois"].dtype == np.int64 and df["has_stimulation"].dtype == bool


def test_discover_fast_path_matches_full_read(dataset):
    fast = discover(dataset)
    slow = discover(dataset, fast=False)
    pd.testing.assert_frame_equal(fast, slow)


def test_write_sessions_table(dataset):
    out = write_sessions_table(dataset)
    assert out == dataset / "sessions.tsv"
    back = pd.read_csv(out, sep="\t", na_values="n/a")
    assert back["session_id"].tolist() == ["ses-1", "ses-2", "ses-14"]
    assert back["path"].tolist() == [
        "sub-A/sub-A_ses-1.nwb",
        "sub-A/sub-A_ses-2.nwb",
        "sub-B/sub-B_ses-14.nwb",
    ]
    assert out.read_text().splitlines()[3].split("\t")[SESSION_COLUMNS.index("frame_rate") + 1] == (
        "n/a"
    )
    assert back["n_frames"].tolist() == [120, 150, 0]
    assert not [p for p in dataset.iterdir() if p.name.startswith(".")]  # no temporary left


def test_not_a_dataset(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match=r"not a dataset: no sub-<mouse> folders.*readme\.txt"):
        discover(tmp_path)
    with pytest.raises(DataError, match="dataset folder not found"):
        discover(tmp_path / "missing")


def test_subject_folders_without_sessions(tmp_path):
    (tmp_path / "sub-A").mkdir()
    with pytest.raises(DataError, match=r"no session files.*sub-A"):
        discover(tmp_path)


def test_broken_file_is_named(dataset, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(dataset, root)
    bad = root / "sub-B" / "sub-B_ses-3.nwb"
    bad.write_text("not hdf5")
    with pytest.raises(DataError, match=r"sub-B_ses-3\.nwb: not an HDF5 file"):
        discover(root)
    data = (root / "sub-A" / "sub-A_ses-1.nwb").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"sub-B_ses-3\.nwb: .*truncated"):
        discover(root)


def test_mismatched_names(dataset, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(dataset, root)
    # a copy of session 1 saved as session 5: the file says session 1
    wrong = root / "sub-A" / "sub-A_ses-5.nwb"
    shutil.copy(root / "sub-A" / "sub-A_ses-1.nwb", wrong)
    with pytest.raises(DataError, match=r"sub-A_ses-5\.nwb: file name says mouse 'A' session 5"):
        discover(root)
    wrong.unlink()
    # mouse B's file in mouse A's folder
    moved = root / "sub-A" / "sub-B_ses-14.nwb"
    shutil.copy(root / "sub-B" / "sub-B_ses-14.nwb", moved)
    with pytest.raises(DataError, match=r"sub-B_ses-14\.nwb: file name says mouse 'B'.*sub-A"):
        discover(root)
    moved.unlink()
    odd = root / "sub-A" / "notes.nwb"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"notes\.nwb: file name is not sub-<mouse>_ses-<n>"):
        discover(root)
