"""End-to-end tests of the command line on the smallest cohort, and its errors on bad input."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from thalamocortex.cli import main


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny"
    assert main(["simulate", "--preset", "tiny", "--out", str(out), "--seed", "7", "--quiet"]) == 0
    return out


def test_simulate_writes_dataset_and_separate_ground_truth(tiny_dataset):
    nwbs = sorted(tiny_dataset.glob("sub-*/sub-*_ses-*.nwb"))
    assert len(nwbs) >= 5
    gt = tiny_dataset / "ground_truth"
    for name in ("rois", "trials", "movements", "sessions", "templates"):
        assert (gt / f"{name}.parquet").is_file()
    # the truth never sits inside the data the analyses read
    assert not list(tiny_dataset.glob("sub-*/*.parquet"))


def test_simulate_refuses_to_overwrite(tiny_dataset, capsys):
    rc = main(["simulate", "--preset", "tiny", "--out", str(tiny_dataset), "--quiet"])
    assert rc == 2
    assert "--overwrite" in capsys.readouterr().err


def test_inspect_counts(tiny_dataset, capsys):
    assert main(["inspect", str(tiny_dataset)]) == 0
    out = capsys.readouterr().out
    truth = pd.read_parquet(tiny_dataset / "ground_truth" / "sessions.parquet")
    assert f"{truth['mouse'].nunique()} mice, {len(truth)} sessions" in out


def test_run_writes_tables_report_and_resumes(tiny_dataset, tmp_path, capsys):
    results = tmp_path / "results"
    args = ["run", str(tiny_dataset), "--out", str(results), "--scheduler", "sync", "--quiet"]
    assert main(args) == 0
    report = results / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000
    sessions = pd.read_parquet(results / "dataset" / "sessions.parquet")
    assert len(sessions) == len(list(tiny_dataset.glob("sub-*/*.nwb")))
    prov = json.loads((results / "dataset" / "sessions.parquet.provenance.json").read_text())
    assert prov["inputs"] and all(len(h) == 64 for h in prov["inputs"].values())
    capsys.readouterr()
    # a second run with the same inputs and parameters skips every stage
    assert main(args) == 0
    assert "skipped (up to date)" in capsys.readouterr().out


def test_errors_on_bad_datasets(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err

    broken = tmp_path / "broken"
    (broken / "sub-m1").mkdir(parents=True)
    (broken / "sub-m1" / "sub-m1_ses-1.nwb").write_text("not an NWB file")
    results = tmp_path / "results"
    rc = main(["run", str(broken), "--out", str(results), "--scheduler", "sync", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "sub-m1_ses-1.nwb" in err
    assert not results.exists()  # nothing written


def test_truncated_file_in_dataset_is_named(tiny_dataset, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    victim = sorted(copy.glob("sub-*/*.nwb"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    assert main(["inspect", str(copy)]) == 2
    assert victim.name in capsys.readouterr().err


def test_params_lists_the_spec(capsys):
    assert main(["params", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| `stats.alpha` | `0.05` |" in out


def test_params_yaml_is_read_back_by_config(tmp_path, capsys):
    from thalamocortex.config import Config, load_config

    assert main(["params", "--yaml"]) == 0
    text = capsys.readouterr().out
    assert text.count("# ") > 100  # a comment (doc, unit, range) above every key
    path = tmp_path / "all.yaml"
    path.write_text(text)
    assert load_config(path) == Config()  # every default, read back unchanged
    # one value changed in the generated file is the one value that changes
    path.write_text(text.replace("  alpha: 0.05\n", "  alpha: 0.01\n", 1))
    changed = load_config(path)
    assert changed != Config()


def test_every_subcommand_has_a_description_and_defaults():
    import argparse

    from thalamocortex.cli import build_parser

    ap = build_parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        assert p.description and len(p.description) > 30, name
    help_text = " ".join(sub.choices["demo"].format_help().split())
    assert "(default: demo_out)" in help_text and "(default: demo)" in help_text


def test_closed_pipe_gives_no_traceback():
    import subprocess
    import sys

    code = "import sys; from thalamocortex.cli import main; sys.exit(main(['params']))"
    res = subprocess.run(
        f'"{sys.executable}" -c "{code}" | head -n 1',
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.stdout.count("\n") == 1
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr
