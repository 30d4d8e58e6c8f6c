"""Pipeline plumbing: atomic writes, provenance, executor, stage ordering."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from thalamocortex import __version__
from thalamocortex.config import Config
from thalamocortex.pipeline import io
from thalamocortex.pipeline.provenance import file_sha256, make_provenance, params_digest
from thalamocortex.pipeline.runner import Executor
from thalamocortex.pipeline.stages import STAGES, StageSpec, ordered


def _square(x):
    return x * x


def test_write_table_is_atomic_and_carries_provenance(tmp_path):
    inp = tmp_path / "in.bin"
    inp.write_bytes(b"abc")
    prov = make_provenance(Config(), [inp], stage="x")
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = io.write_table(df, tmp_path / "out" / "t.parquet", prov)
    assert io.read_table(path).equals(df)
    side = json.loads(io.provenance_path(path).read_text())
    assert side["version"] == __version__
    assert side["parameters"]["stats"]["alpha"] == 0.05
    # sha256("abc")
    assert side["inputs"][str(inp)].startswith("ba7816bf8f01cfea")
    assert file_sha256(inp) == side["inputs"][str(inp)]


def test_failed_write_leaves_previous_file_untouched(tmp_path):
    path = tmp_path / "t.parquet"
    io.write_table(pd.DataFrame({"a": [1]}), path)

    def boom(p):
        p.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.atomic_write(path, boom)
    assert io.read_table(path)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_params_digest_changes_with_parameters():
    a, b = Config(), Config()
    assert params_digest(a) == params_digest(b)
    b.stats.alpha = 0.01
    assert params_digest(a) != params_digest(b)


@pytest.mark.parametrize("scheduler", ["sync", "local"])
def test_executor_preserves_order(scheduler):
    with Executor(scheduler, n_workers=2, progress=False) as ex:
        assert ex.map(_square, range(7)) == [0, 1, 4, 9, 16, 25, 36]


def test_stage_order_respects_requirements(monkeypatch):
    monkeypatch.setitem(STAGES, "_b", StageSpec("x:y", requires=("_a",)))
    monkeypatch.setitem(STAGES, "_a", StageSpec("x:y", requires=("dataset",)))
    order = ordered(["_b"])
    assert order == ["dataset", "_a", "_b"]
    with pytest.raises(KeyError, match="unknown stage"):
        ordered(["nope"])


def test_write_arrays_round_trip(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = io.write_arrays(tmp_path / "a.npz", x=x)
    with np.load(p) as z:
        assert np.array_equal(z["x"], x)


def test_later_stages_use_preprocessed_sessions(tmp_path):
    from thalamocortex.pipeline.run import use_preprocessed

    data = tmp_path / "data"
    results = tmp_path / "results"
    paths = [data / "sub-a" / "sub-a_ses-1.nwb", data / "sub-a" / "sub-a_ses-2.nwb"]
    sessions = pd.DataFrame({"mouse": ["a", "a"], "session": [1, 2], "path": map(str, paths)})
    assert use_preprocessed(sessions, results)["path"].tolist() == [str(p) for p in paths]
    made = results / "preprocess" / "sessions" / "sub-a" / "sub-a_ses-2.nwb"
    made.parent.mkdir(parents=True)
    made.write_bytes(b"")
    # a file left in the folder is not enough: the preprocess stage's table says what it made
    assert use_preprocessed(sessions, results)["path"].tolist() == [str(p) for p in paths]
    io.write_table(
        pd.DataFrame({"session_id": ["sub-a_ses-2"], "output": [str(made)]}),
        results / "preprocess" / "sessions.parquet",
    )
    out = use_preprocessed(sessions, results)
    assert out["path"].tolist() == [str(paths[0]), str(made)]
    assert sessions["path"].tolist() == [str(p) for p in paths]  # input untouched
